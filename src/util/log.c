/*
 * log.c: one-line log records on stderr ("<ISO time> <LEVEL> <message>").
 * The line is formatted into a stack buffer and written with one write(2)
 * so lines from concurrent threads do not interleave. The level is the one
 * process-wide setting, kept atomic because server threads read it.
 */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dlq/util.h"

static atomic_int log_level = DLQ_LOG_INFO;

void dlq_log_set_level(enum dlq_log_level lvl)
{
    atomic_store(&log_level, (int)lvl);
}

static const char *level_name(enum dlq_log_level lvl)
{
    switch (lvl) {
    case DLQ_LOG_DEBUG:
        return "DEBUG";
    case DLQ_LOG_INFO:
        return "INFO";
    case DLQ_LOG_WARN:
        return "WARN";
    case DLQ_LOG_ERROR:
        return "ERROR";
    }
    return "?";
}

void dlq_log(enum dlq_log_level lvl, const char *fmt, ...)
{
    if ((int)lvl < atomic_load(&log_level))
        return;
    char line[2048];
    int64_t ms = dlq_now_ms();
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     (int)(ms % 1000), level_name(lvl));
    if (n < 0 || (size_t)n >= sizeof line)
        return;
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    if (m < 0)
        return;
    size_t len = (size_t)n + (size_t)m;
    if (len > sizeof line - 2)
        len = sizeof line - 2; /* truncated: keep the newline */
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w; /* nothing sensible to do if stderr is gone */
}
