/*
 * test_util_log.c: log lines on stderr: one line per call, ISO time, level
 * name, and the level filter. stderr is pointed at a temporary file for the
 * test and read back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "dlq/util.h"

static void test_log_lines(void **state)
{
    (void)state;
    FILE *tmp = tmpfile();
    assert_non_null(tmp);
    int saved = dup(STDERR_FILENO);
    assert_true(saved >= 0);
    assert_true(dup2(fileno(tmp), STDERR_FILENO) >= 0);

    dlq_log_set_level(DLQ_LOG_INFO);
    dlq_log(DLQ_LOG_DEBUG, "hidden %d", 1);
    dlq_log(DLQ_LOG_INFO, "started on %s", "127.0.0.1:8480");
    dlq_log(DLQ_LOG_ERROR, "disk %s", "full");
    dlq_log_set_level(DLQ_LOG_DEBUG);
    dlq_log(DLQ_LOG_DEBUG, "now shown");

    dup2(saved, STDERR_FILENO);
    close(saved);
    rewind(tmp);
    char lines[4][256];
    int n = 0;
    while (n < 4 && fgets(lines[n], sizeof lines[n], tmp) != NULL)
        n++;
    fclose(tmp);

    assert_int_equal(n, 3);
    /* "2026-01-25T10:30:00.123Z INFO started on ..." */
    int y, mo, d, h, mi, s, ms;
    char lvl[8], rest[64];
    assert_int_equal(sscanf(lines[0], "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ %7s %63[^\n]", &y, &mo, &d, &h,
                            &mi, &s, &ms, lvl, rest),
                     9);
    assert_true(y >= 2023);
    assert_string_equal(lvl, "INFO");
    assert_string_equal(rest, "started on 127.0.0.1:8480");
    assert_non_null(strstr(lines[1], " ERROR disk full\n"));
    assert_non_null(strstr(lines[2], " DEBUG now shown\n"));
    assert_null(strstr(lines[0], "hidden"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_log_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
