/*
 * cmd_export.c: `dlq export --format json|ndjson|csv --output FILE` (seed
 * 001). GET /api/v1/dlq/export streams every matching entry; the CLI writes
 * each piece to the file as it arrives, so an export of a million entries
 * takes no more memory than one of ten. The file appears only when the
 * export is complete: the data goes to a temporary file beside it that is
 * renamed at the end, or removed when the export fails or is interrupted
 * (an existing FILE is left as it was). Entries are counted as they pass
 * (a small scanner per format), for the progress line shown on a terminal
 * and the closing "exported N entries to FILE".
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli_int.h"
#include "dlq/core.h"

#define PROGRESS_NS 100000000LL /* redraw the progress line at most every 0.1 s */

enum { OPT_FORMAT = DLQ_CLI_OPT_FIRST, OPT_OUTPUT };

static const struct option options[] = {
    {"format", required_argument, NULL, OPT_FORMAT},
    {"output", required_argument, NULL, OPT_OUTPUT},
    DLQ_CLI_FILTER_OPTIONS,
    DLQ_CLI_GLOBAL_OPTIONS,
    {NULL, 0, NULL, 0},
};

static const char *const format_names[] = {
    [DLQ_CLI_FORMAT_JSON] = "json",
    [DLQ_CLI_FORMAT_NDJSON] = "ndjson",
    [DLQ_CLI_FORMAT_CSV] = "csv",
};

void dlq_cli_rows_init(struct dlq_cli_rows *r, enum dlq_cli_format format)
{
    memset(r, 0, sizeof(*r));
    r->format = format;
}

void dlq_cli_rows_feed(struct dlq_cli_rows *r, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char ch = p[i];
        if (r->format == DLQ_CLI_FORMAT_JSON) {
            /* An entry is an object directly inside the top-level array. */
            if (r->in_string) {
                if (r->escaped)
                    r->escaped = 0;
                else if (ch == '\\')
                    r->escaped = 1;
                else if (ch == '"')
                    r->in_string = 0;
            } else if (ch == '"') {
                r->in_string = 1;
            } else if (ch == '[' || ch == '{') {
                r->depth++;
            } else if (ch == ']' || ch == '}') {
                if (ch == '}' && r->depth == 2)
                    r->records++;
                r->depth--;
            }
        } else {
            /* NDJSON escapes newlines inside strings; CSV quotes them. */
            if (r->format == DLQ_CLI_FORMAT_CSV && ch == '"')
                r->in_string = !r->in_string;
            if (ch == '\n' && !r->in_string) {
                r->records += r->has_data;
                r->has_data = 0;
            } else if (ch != '\r' && ch != ' ' && ch != '\t' && ch != '\n') {
                r->has_data = 1;
            }
        }
    }
}

uint64_t dlq_cli_rows_count(const struct dlq_cli_rows *r)
{
    uint64_t n = r->records + (r->format != DLQ_CLI_FORMAT_JSON && r->has_data);
    if (r->format == DLQ_CLI_FORMAT_CSV)
        n = n > 0 ? n - 1 : 0; /* the header row */
    return n;
}

/* Where the export goes and how far it got. */
struct target {
    const char *name; /* FILE as given, or NULL for stdout */
    char *tmp;        /* the temporary file renamed to name at the end; NULL: direct */
    FILE *f;
    uint64_t bytes;
    struct dlq_cli_rows rows;
    int existed;  /* name was there before: a failure leaves it unchanged */
    int progress; /* draw the progress line on stderr */
    int64_t last_draw;
    size_t drawn; /* columns of the line on screen */
};

static void draw(struct target *t, int final)
{
    char size[32], line[256];
    if (final) {
        if (t->drawn)
            fprintf(stderr, "\r%*s\r", (int)t->drawn, "");
        t->drawn = 0;
        return;
    }
    int64_t now = dlq_mono_ns();
    if (t->drawn && now - t->last_draw < PROGRESS_NS)
        return;
    t->last_draw = now;
    dlq_cli_human_bytes(t->bytes, size, sizeof(size));
    int n = snprintf(line, sizeof(line), "exporting: %llu entries, %s",
                     (unsigned long long)dlq_cli_rows_count(&t->rows), size);
    size_t w = n > 0 ? (size_t)n : 0;
    fprintf(stderr, "\r%s%*s", line, t->drawn > w ? (int)(t->drawn - w) : 0, "");
    t->drawn = w;
}

/* clear_line takes the progress line off the terminal before a message. */
static void clear_line(void *ud)
{
    struct target *t = ud;
    if (t->progress)
        draw(t, 1);
}

static int write_piece(void *ud, const char *p, size_t n)
{
    struct target *t = ud;
    if (fwrite(p, 1, n, t->f) != n) {
        if (t->progress)
            draw(t, 1);
        fprintf(stderr, "dlq: cannot write %s: %s\n", t->name ? t->name : "the output",
                strerror(errno));
        return DLQ_E_IO;
    }
    t->bytes += n;
    dlq_cli_rows_feed(&t->rows, p, n);
    if (t->progress)
        draw(t, 0);
    return 0;
}

/* open_target opens where the export goes. A regular file (or a new one) is
 * written through a temporary file beside it; anything else (a device, a
 * pipe, a symbolic link) is written directly, since renaming over it would
 * replace it. Returns 0, or -1 after printing why. */
static int open_target(struct target *t)
{
    struct stat st;
    if (t->name == NULL) {
        t->f = stdout;
        return 0;
    }
    if (lstat(t->name, &st) == 0 && S_ISDIR(st.st_mode)) {
        fprintf(stderr, "dlq: cannot write %s: it is a directory\n", t->name);
        return -1;
    }
    t->existed = lstat(t->name, &st) == 0;
    if (t->existed && !S_ISREG(st.st_mode)) {
        t->f = fopen(t->name, "w");
    } else {
        size_t n = strlen(t->name);
        t->tmp = malloc(n + 8);
        if (t->tmp == NULL) {
            fprintf(stderr, "dlq: out of memory\n");
            return -1;
        }
        memcpy(t->tmp, t->name, n);
        memcpy(t->tmp + n, ".XXXXXX", 8);
        int fd = mkstemp(t->tmp);
        if (fd >= 0) {
            /* mkstemp makes it 0600; give it the mode fopen would. */
            mode_t mask = umask(0);
            umask(mask);
            fchmod(fd, 0666 & ~mask);
            t->f = fdopen(fd, "w");
            if (t->f == NULL)
                close(fd);
        }
        if (t->f == NULL) {
            int e = errno;
            free(t->tmp);
            t->tmp = NULL;
            errno = e;
        }
    }
    if (t->f == NULL) {
        fprintf(stderr, "dlq: cannot write %s: %s\n", t->name, strerror(errno));
        return -1;
    }
    return 0;
}

/* close_target finishes the file: on success flushes it to disk and gives
 * it its name, otherwise removes the temporary file. Returns the exit
 * status. */
static int close_target(struct target *t, int ok)
{
    if (t->f == stdout) {
        if (fflush(stdout) != 0 && ok) {
            fprintf(stderr, "dlq: cannot write the output: %s\n", strerror(errno));
            return DLQ_EXIT_ERROR;
        }
        return ok ? DLQ_EXIT_OK : DLQ_EXIT_ERROR;
    }
    int failed = fflush(t->f) != 0 || (t->tmp && fsync(fileno(t->f)) != 0);
    int e = errno;
    failed |= fclose(t->f) != 0;
    t->f = NULL;
    if (ok && !failed && t->tmp && rename(t->tmp, t->name) != 0) {
        failed = 1;
        e = errno;
    }
    if (ok && failed)
        fprintf(stderr, "dlq: cannot write %s: %s\n", t->name, strerror(e));
    if (t->tmp && (!ok || failed))
        unlink(t->tmp);
    return ok && !failed ? DLQ_EXIT_OK : DLQ_EXIT_ERROR;
}

/* format_of guesses the format from FILE's extension; -1 when it says
 * nothing. */
static int format_of(const char *file)
{
    const char *dot = file ? strrchr(file, '.') : NULL;
    if (dot == NULL)
        return -1;
    if (strcmp(dot, ".json") == 0)
        return DLQ_CLI_FORMAT_JSON;
    if (strcmp(dot, ".ndjson") == 0 || strcmp(dot, ".jsonl") == 0)
        return DLQ_CLI_FORMAT_NDJSON;
    if (strcmp(dot, ".csv") == 0)
        return DLQ_CLI_FORMAT_CSV;
    return -1;
}

int dlq_cli_export_run(int argc, char **argv)
{
    struct dlq_cli_conn conn;
    struct dlq_cli_filter filter;
    struct target t;
    struct dlq_buf path = {0};
    struct dlq_cli_reply r = {0};
    int format = -1, c, rc = DLQ_EXIT_USAGE;
    memset(&filter, 0, sizeof(filter));
    memset(&t, 0, sizeof(t));
    dlq_cli_conn_init(&conn);
    optind = 0; /* glibc: start afresh; argv[0] is the command name */
    opterr = 0;
    int64_t now = dlq_now_ms();
    while ((c = getopt_long(argc, argv, ":", options, NULL)) != -1) {
        if (c == '?' || c == ':') {
            rc = dlq_cli_getopt_error("export", argc, argv, c);
            goto done;
        }
        if (c == OPT_FORMAT) {
            for (format = 0; format < 3 && strcmp(optarg, format_names[format]) != 0; format++)
                ;
            if (format == 3) {
                dlq_cli_usage_error("export", "--format must be json, ndjson or csv (got '%s')",
                                    optarg);
                goto done;
            }
        } else if (c == OPT_OUTPUT) {
            if (optarg[0] == '\0') {
                dlq_cli_usage_error("export", "--output needs a file name (or - for stdout)");
                goto done;
            }
            t.name = strcmp(optarg, "-") == 0 ? NULL : optarg;
        } else if (c >= DLQ_CLI_OPT_FILTER && c < DLQ_CLI_OPT_FILTER + DLQ_CLI_F_COUNT) {
            if (dlq_cli_filter_set(&filter, "export", c - DLQ_CLI_OPT_FILTER, optarg, now) != 0)
                goto done;
        } else if (dlq_cli_conn_option(&conn, "export", c, optarg) != 1) {
            goto done;
        }
    }
    if (optind < argc) {
        dlq_cli_usage_error("export", "unexpected argument '%s' (the file goes after --output)",
                            argv[optind]);
        goto done;
    }
    if (format < 0)
        format = format_of(t.name);
    if (format < 0)
        format = DLQ_CLI_FORMAT_JSON;
    if (dlq_cli_conn_check(&conn, "export") != 0)
        goto done;

    rc = DLQ_EXIT_ERROR;
    dlq_buf_puts(&path, "/api/v1/dlq/export");
    dlq_cli_query_add(&path, "format", format_names[format]);
    if (dlq_cli_filter_query(&filter, &path) != DLQ_OK) {
        fprintf(stderr, "dlq: out of memory\n");
        goto done;
    }
    dlq_cli_rows_init(&t.rows, (enum dlq_cli_format)format);
    /* The line goes to stderr; not while the data itself fills the terminal. */
    t.progress = isatty(STDERR_FILENO) && (t.name != NULL || !isatty(STDOUT_FILENO));
    if (open_target(&t) != 0)
        goto done;
    conn.interrupt = dlq_cli_interrupt_catch();
    struct dlq_cli_sink sink = {write_piece, clear_line, &t};
    int ok = dlq_cli_call_stream(&conn, path.data, &sink, &r) == DLQ_EXIT_OK;
    if (t.progress)
        draw(&t, 1);
    rc = close_target(&t, ok);
    dlq_cli_interrupt_release();
    if (rc == DLQ_EXIT_OK) {
        uint64_t n = dlq_cli_rows_count(&t.rows);
        struct dlq_buf msg = {0};
        dlq_buf_printf(&msg, "exported %llu %s to ", (unsigned long long)n,
                       n == 1 ? "entry" : "entries");
        dlq_cli_sanitize(&msg, t.name ? t.name : "standard output", 0);
        if (!msg.oom)
            fprintf(stderr, "%s\n", msg.data);
        dlq_buf_free(&msg);
    } else if (t.tmp) {
        fprintf(stderr, "dlq: %s %s\n", t.name, t.existed ? "is unchanged" : "was not created");
    }
done:
    free(t.tmp);
    dlq_cli_reply_free(&r);
    dlq_buf_free(&path);
    dlq_cli_filter_free(&filter);
    return rc;
}
