/*
 * cli_int.h: what the files of the operator CLI share: the connection
 * options every client command takes (--url, --token, --timeout), the one
 * function that makes an HTTP request, and the output helpers (tables,
 * relative times, problem+json lines). Nothing here is seen outside src/cli/.
 */
#ifndef DLQ_CLI_INT_H
#define DLQ_CLI_INT_H

#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "dlq/cli.h"
#include "dlq/core.h"
#include "dlq/util.h"

#define DLQ_CLI_DEFAULT_URL     "http://127.0.0.1:8480"
#define DLQ_CLI_DEFAULT_TIMEOUT 30
#define DLQ_CLI_URL_MAX         2048

/* ---- connection options (opts.c) ---- */

/* Where and how a client command talks to the server. Strings are borrowed
 * from argv or the environment, except url which is copied (a scheme may be
 * added). */
struct dlq_cli_conn {
    char url[DLQ_CLI_URL_MAX]; /* base URL without a trailing '/' */
    const char *token;         /* NULL: send no Authorization header */
    long timeout_s;
    int url_given; /* 1 when --url was on the command line */
    /* When set (see dlq_cli_interrupt_catch), a request gives up as soon as
     * *interrupt becomes non-zero. NULL: requests run to their end. */
    const volatile sig_atomic_t *interrupt;
};

/* getopt_long values of the global options; commands number theirs from
 * DLQ_CLI_OPT_FIRST so the two never collide. */
enum {
    DLQ_CLI_OPT_URL = 0x100,
    DLQ_CLI_OPT_TOKEN,
    DLQ_CLI_OPT_TIMEOUT,
    DLQ_CLI_OPT_JSON,
    DLQ_CLI_OPT_FIRST,
};

/* The rows every command puts in its `struct option` table. */
#define DLQ_CLI_GLOBAL_OPTIONS                                                                     \
    {"url", required_argument, NULL, DLQ_CLI_OPT_URL},                                             \
        {"token", required_argument, NULL, DLQ_CLI_OPT_TOKEN},                                     \
    {                                                                                              \
        "timeout", required_argument, NULL, DLQ_CLI_OPT_TIMEOUT                                    \
    }

/* The usage lines of the global options, appended to every command's usage. */
#define DLQ_CLI_GLOBAL_USAGE                                                                       \
    "\nglobal options:\n"                                                                          \
    "  --url URL         the server (default $DLQ_URL, else " DLQ_CLI_DEFAULT_URL ")\n"            \
    "  --token T         API token (default $DLQ_TOKEN)\n"                                         \
    "  --timeout S       seconds to wait for an answer (default 30)\n"

/* dlq_cli_conn_init fills c from DLQ_URL and DLQ_TOKEN (an empty variable
 * counts as unset) and the defaults. */
void dlq_cli_conn_init(struct dlq_cli_conn *c);

/* dlq_cli_conn_option applies global option opt with value arg. Returns 1
 * when it was one, 0 when opt is not a global option, and -1 after printing
 * a usage line for a bad value. */
int dlq_cli_conn_option(struct dlq_cli_conn *c, const char *cmd, int opt, const char *arg);

/* dlq_cli_conn_check validates the final url and token (whatever their
 * source) and returns 0, or -1 after printing a usage line. */
int dlq_cli_conn_check(struct dlq_cli_conn *c, const char *cmd);

/* dlq_cli_getopt_error prints the one usage line for getopt_long's '?' or ':'
 * answer (opterr must be 0) and returns DLQ_EXIT_USAGE. */
int dlq_cli_getopt_error(const char *cmd, int argc, char **argv, int c);

/* dlq_cli_one_id parses the arguments of a command that takes exactly one ID
 * and only the global options and --json (options: its getopt table): conn
 * is set up and checked, *json set, *id points into argv. Returns -1 when
 * all is well, else the exit code after printing one usage line ("which
 * <what>? (usage: dlq CMD ID)"). */
int dlq_cli_one_id(const char *cmd, const char *what, int argc, char **argv,
                   const struct option *options, struct dlq_cli_conn *conn, int *json,
                   const char **id);

/* dlq_cli_usage_error prints "dlq CMD: <message>" to stderr and returns
 * DLQ_EXIT_USAGE. */
int dlq_cli_usage_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* dlq_cli_parse_long parses a whole decimal integer within [min, max] into
 * *out. Returns 0, or -1 (nothing written) for anything else. */
int dlq_cli_parse_long(const char *s, long min, long max, long *out);

/* dlq_cli_parse_duration parses "45s", "30m", "2h", "7d" or "1w" into
 * milliseconds. Returns 0, or -1 for anything else. */
int dlq_cli_parse_duration(const char *s, int64_t *ms);

/* dlq_cli_parse_time parses a --after/--before value: RFC 3339, a date
 * "YYYY-MM-DD" (midnight UTC), or a duration meaning that long before now_ms.
 * Writes RFC 3339 into out and returns 0, or -1 for anything else. */
int dlq_cli_parse_time(const char *s, int64_t now_ms, char *out, size_t outlen);

/* dlq_cli_parse_number parses a plain decimal number ("20", "0.5"; no sign,
 * exponent, hex, inf or nan) within [min, max] into *out. Returns 0, or -1
 * (nothing written) for anything else. */
int dlq_cli_parse_number(const char *s, double min, double max, double *out);

/* dlq_cli_check_statuses checks that each comma-separated word of list is an
 * entry status. Returns 0, or -1 after printing a usage line naming option. */
int dlq_cli_check_statuses(const char *cmd, const char *option, const char *list);

/* dlq_cli_check_text checks that s is UTF-8 (a JSON string can carry it) of
 * at most max bytes. Returns 0, or -1 after printing a usage line. */
int dlq_cli_check_text(const char *cmd, const char *option, const char *s, size_t max);

/* The entry filter options shared by commands that pick entries (bulk
 * replay, resolve and delete, export): the list API's filters. */
enum {
    DLQ_CLI_F_FILTER, /* --filter TEXT: q, full-text search */
    DLQ_CLI_F_TASK,
    DLQ_CLI_F_QUEUE,
    DLQ_CLI_F_EXCEPTION,
    DLQ_CLI_F_REASON,
    DLQ_CLI_F_STATUS,
    DLQ_CLI_F_TENANT,
    DLQ_CLI_F_FINGERPRINT,
    DLQ_CLI_F_AFTER,
    DLQ_CLI_F_BEFORE,
    DLQ_CLI_F_COUNT,
};

/* getopt_long value of filter option k is DLQ_CLI_OPT_FILTER + k: far above
 * DLQ_CLI_OPT_FIRST so a command's own options never reach it. */
#define DLQ_CLI_OPT_FILTER 0x180

#define DLQ_CLI_FILTER_OPT(k, name)                                                                \
    {                                                                                              \
        name, required_argument, NULL, DLQ_CLI_OPT_FILTER + (k)                                    \
    }

/* The rows of the filter options in a `struct option` table. */
#define DLQ_CLI_FILTER_OPTIONS                                                                     \
    DLQ_CLI_FILTER_OPT(DLQ_CLI_F_FILTER, "filter"), DLQ_CLI_FILTER_OPT(DLQ_CLI_F_TASK, "task"),    \
        DLQ_CLI_FILTER_OPT(DLQ_CLI_F_QUEUE, "queue"),                                              \
        DLQ_CLI_FILTER_OPT(DLQ_CLI_F_EXCEPTION, "exception"),                                      \
        DLQ_CLI_FILTER_OPT(DLQ_CLI_F_REASON, "reason"),                                            \
        DLQ_CLI_FILTER_OPT(DLQ_CLI_F_STATUS, "status"),                                            \
        DLQ_CLI_FILTER_OPT(DLQ_CLI_F_TENANT, "tenant"),                                            \
        DLQ_CLI_FILTER_OPT(DLQ_CLI_F_FINGERPRINT, "fingerprint"),                                  \
        DLQ_CLI_FILTER_OPT(DLQ_CLI_F_AFTER, "after"),                                              \
        DLQ_CLI_FILTER_OPT(DLQ_CLI_F_BEFORE, "before")

/* The usage lines of the filter options. */
#define DLQ_CLI_FILTER_USAGE                                                                       \
    "  --filter TEXT     full-text search over task names, exception types, messages\n"            \
    "                    and tracebacks\n"                                                         \
    "  --task NAME       task name\n"                                                              \
    "  --queue Q         queue\n"                                                                  \
    "  --exception TYPE  exception type, e.g. ConnectionError\n"                                   \
    "  --reason R        max_retries_exceeded, permanent_failure, job_not_found,\n"                \
    "                    invalid_arguments, timeout or external\n"                                 \
    "  --status S        pending_review, requires_review, retried, resolved,\n"                    \
    "                    discarded, expired or archived; repeat or use commas\n"                   \
    "  --tenant T        tenant id\n"                                                              \
    "  --fingerprint FP  failure group (see 'dlq groups')\n"                                       \
    "  --after TIME      failed at or after TIME: RFC 3339 (2026-01-25T10:30:00Z),\n"              \
    "                    a date (2026-01-25) or an age (30m, 2h, 7d: that long ago)\n"             \
    "  --before TIME     failed before TIME (same forms)\n"

/* The filter options given so far. Zero-initialise; free with
 * dlq_cli_filter_free. Values are borrowed from argv except status (the
 * --status words, comma-joined, owned) and the times (normalised here). */
struct dlq_cli_filter {
    const char *value[DLQ_CLI_F_COUNT]; /* as sent; NULL: not given */
    struct dlq_buf status;
    char after[DLQ_TIME_MAX], before[DLQ_TIME_MAX];
    int n; /* how many different filters were given */
};

/* dlq_cli_filter_option returns the option name ("task") of filter key k. */
const char *dlq_cli_filter_option(int key);

/* dlq_cli_filter_set checks and records filter key (a DLQ_CLI_F_*) with
 * value arg; --status accumulates, --after/--before are read relative to
 * now_ms. Returns 0, or -1 after printing a usage line for cmd. */
int dlq_cli_filter_set(struct dlq_cli_filter *f, const char *cmd, int key, const char *arg,
                       int64_t now_ms);

/* dlq_cli_filter_query appends the filters to path as query parameters of
 * the list API. Returns DLQ_OK or DLQ_E_NOMEM. */
int dlq_cli_filter_query(const struct dlq_cli_filter *f, struct dlq_buf *path);

/* dlq_cli_filter_json sets the filters as top-level fields of obj (a bulk
 * request body), status as an array. Returns 0, or -1 when a value is not
 * UTF-8 or memory ran out. */
int dlq_cli_filter_json(const struct dlq_cli_filter *f, json_t *obj);

/* dlq_cli_filter_describe appends " --task NAME --status S ..." (the
 * options as given, quoted for a shell) to b, for hints that repeat a
 * command. Returns DLQ_OK or DLQ_E_NOMEM. */
int dlq_cli_filter_describe(const struct dlq_cli_filter *f, struct dlq_buf *b);

void dlq_cli_filter_free(struct dlq_cli_filter *f);

/* ---- HTTP (client.c) ---- */

/* An answer from the server. body is owned: dlq_cli_reply_free releases it. */
struct dlq_cli_reply {
    long status;         /* HTTP status */
    struct dlq_buf body; /* NUL-terminated after any append; data may be NULL if empty */
};
void dlq_cli_reply_free(struct dlq_cli_reply *r);

/* dlq_cli_request sends method to c->url + path (path starts with '/' and
 * carries an escaped query already), with json_body (NULL: none). On DLQ_OK
 * r holds whatever status the server answered. Otherwise r is empty and err
 * holds one line: DLQ_E_CONNECT when no answer came ("cannot reach URL:
 * connection refused ..."), DLQ_E_TOOBIG for an answer over the size cap,
 * DLQ_E_IO ("interrupted") when c->interrupt was set, DLQ_E_NOMEM,
 * DLQ_E_INTERNAL. */
int dlq_cli_request(const struct dlq_cli_conn *c, const char *method, const char *path,
                    const char *json_body, struct dlq_cli_reply *r, char *err, size_t errlen);

/* dlq_cli_call is dlq_cli_request for commands: it returns DLQ_EXIT_OK with r
 * holding a 2xx answer, or prints the failure (one line, plus one per field
 * error of a problem+json answer) to stderr, empties r and returns
 * DLQ_EXIT_ERROR. */
int dlq_cli_call(const struct dlq_cli_conn *c, const char *method, const char *path,
                 const char *json_body, struct dlq_cli_reply *r);

/* Where the body of a 2xx answer goes as it arrives: write gets each piece
 * and returns 0, or a negative dlq code to abort the transfer (after
 * printing why: the request reports nothing more for it). */
struct dlq_cli_sink {
    int (*write)(void *ud, const char *p, size_t n);
    void (*before_error)(void *ud); /* optional: called before an error is printed */
    void *ud;
};

/* dlq_cli_request_stream is dlq_cli_request for a GET whose answer may be
 * too large to hold: a 2xx body goes to out piece by piece (r->body stays
 * empty), an error body is kept in r (its first 64 KiB). --timeout bounds
 * connecting and any stall, not the whole transfer. On failure the error is
 * as for dlq_cli_request, or the code out->write returned. */
int dlq_cli_request_stream(const struct dlq_cli_conn *c, const char *path,
                           const struct dlq_cli_sink *out, struct dlq_cli_reply *r, char *err,
                           size_t errlen);

/* dlq_cli_call_stream is dlq_cli_call for dlq_cli_request_stream: DLQ_EXIT_OK
 * after a 2xx answer went to out, else DLQ_EXIT_ERROR with the failure
 * printed (nothing more when out refused: it printed why). */
int dlq_cli_call_stream(const struct dlq_cli_conn *c, const char *path,
                        const struct dlq_cli_sink *out, struct dlq_cli_reply *r);

/* dlq_cli_interrupt_catch makes SIGINT and SIGTERM set a flag instead of
 * ending the process (a second one ends it as usual) and returns the flag,
 * to be put in dlq_cli_conn.interrupt so a request stops early too.
 * dlq_cli_interrupt_release restores the default handling. */
const volatile sig_atomic_t *dlq_cli_interrupt_catch(void);
void dlq_cli_interrupt_release(void);

/* dlq_cli_escape appends s percent-encoded (RFC 3986 unreserved kept) to b. */
int dlq_cli_escape(struct dlq_buf *b, const char *s);

/* dlq_cli_query_add appends "?key=value" (or "&key=value" when b already has
 * a query) to b, the value escaped. A NULL value appends nothing. */
int dlq_cli_query_add(struct dlq_buf *b, const char *key, const char *value);

/* dlq_cli_print_json writes the answer's body to stdout as received, ending
 * with a newline. Returns DLQ_EXIT_OK, or DLQ_EXIT_ERROR (with a line on
 * stderr) when the body is not JSON. */
int dlq_cli_print_json(const struct dlq_cli_reply *r);

/* A renderer of a 2xx answer for people: gets the parsed object (borrowed)
 * and arg, returns the exit status. */
typedef int dlq_cli_render_fn(json_t *doc, void *arg);

/* dlq_cli_fetch is the usual end of a command: dlq_cli_call, then with json
 * the body as received (dlq_cli_print_json), else the parsed object handed
 * to render. Returns the exit status; failures are printed. */
int dlq_cli_fetch(const struct dlq_cli_conn *c, const char *method, const char *path,
                  const char *json_body, int json, dlq_cli_render_fn *render, void *arg);

/* dlq_cli_reply_object parses a 2xx answer's body as a JSON object. Returns
 * a new reference (caller json_decref's it), or NULL after printing a line
 * saying the answer is not what the CLI expected. */
json_t *dlq_cli_reply_object(const struct dlq_cli_reply *r);

/* dlq_cli_jstr returns the string member key of obj (borrowed), or NULL when
 * obj is not an object or the member is missing, null or not a string. */
const char *dlq_cli_jstr(const json_t *obj, const char *key);

/* dlq_cli_jint returns the number member key of obj (a real truncated), or
 * dflt when it is missing or not a number. */
long long dlq_cli_jint(const json_t *obj, const char *key, long long dflt);
/* dlq_cli_jcount writes the counter member key of obj into out (n bytes) as
 * a decimal, or missing when it is absent or negative; returns out. */
const char *dlq_cli_jcount(const json_t *obj, const char *key, const char *missing, char *out,
                           size_t n);

/* ---- output (output.c): pure helpers, unit-tested ---- */

/* dlq_cli_reltime writes "12s ago", "5m ago", "3h ago", "2d ago" (or "in 5m"
 * for a time after now_ms) into out. Units are floored. */
void dlq_cli_reltime(int64_t then_ms, int64_t now_ms, char *out, size_t outlen);

/* dlq_cli_sanitize appends s to b with what could break a line or drive a
 * terminal replaced: control characters, C1 controls, bidi overrides and
 * invalid UTF-8 become '?'; tabs become a space; with keep_newlines, '\n' and
 * '\t' are kept, otherwise '\n' becomes a space. NULL appends nothing. */
int dlq_cli_sanitize(struct dlq_buf *b, const char *s, int keep_newlines);

/* dlq_cli_width returns the display width of UTF-8 s in columns (one per
 * code point: wide characters are not told apart). */
size_t dlq_cli_width(const char *s);

/* dlq_cli_truncate appends s to b cut to at most width columns, ending in
 * "…" when cut (or, with cut_start, starting with "…" and keeping the end). */
int dlq_cli_truncate(struct dlq_buf *b, const char *s, size_t width, int cut_start);

/* How one column may be cut: never (max 0), or to at most max columns and,
 * to fit a terminal, down to min (never below the header). cut_start keeps
 * the end of a cell ("…send_welcome_email"): the informative part of a
 * dotted task name. */
struct dlq_cli_col {
    size_t min, max;
    int cut_start;
};

/* A table of text cells laid out in aligned columns. Cells are copied
 * (sanitized) when added. */
struct dlq_cli_table {
    size_t ncols;
    const char *const *headers; /* borrowed */
    struct dlq_cli_col *cols;   /* per column; all zero: never cut */
    char **cells;               /* row-major, nrows * ncols, owned */
    size_t nrows, cap;
};

/* dlq_cli_table_init prepares t for ncols columns named by headers (borrowed,
 * must outlive t). Returns DLQ_OK or DLQ_E_NOMEM; free t with
 * dlq_cli_table_free either way. */
int dlq_cli_table_init(struct dlq_cli_table *t, size_t ncols, const char *const *headers);
/* dlq_cli_table_set_col sets how column col may be cut (see dlq_cli_col). */
void dlq_cli_table_set_col(struct dlq_cli_table *t, size_t col, size_t min, size_t max,
                           int cut_start);
/* dlq_cli_table_add adds a row of ncols cells (NULL cells print as "-"). */
int dlq_cli_table_add(struct dlq_cli_table *t, const char *const *cells);
/* dlq_cli_table_render appends the header and rows to out, columns two
 * spaces apart, no trailing blanks. When line_max > 0 and the lines would be
 * wider, the widest cuttable columns shrink (not below their min or header)
 * until they fit; past that the lines stay long, since a cell cut to a few
 * letters says nothing. Returns DLQ_OK or DLQ_E_NOMEM. */
int dlq_cli_table_render(const struct dlq_cli_table *t, size_t line_max, struct dlq_buf *out);
void dlq_cli_table_free(struct dlq_cli_table *t);

/* dlq_cli_status_text returns the lower-case reason phrase of an HTTP status
 * ("not found"), or NULL for one it does not know. */
const char *dlq_cli_status_text(long status);

/* dlq_cli_format_problem appends the error lines for a non-2xx answer to
 * out: "dlq: 404 not found: <detail>" and "  field: detail" per field error
 * of a problem+json body (any other body gives only the first line). With
 * no_token and a 401 a hint to set a token is added. */
int dlq_cli_format_problem(struct dlq_buf *out, long status, const char *body, size_t len,
                           int no_token);

/* dlq_cli_shell_word appends s to b quoted for a POSIX shell when it needs
 * it. */
int dlq_cli_shell_word(struct dlq_buf *b, const char *s);

/* dlq_cli_term_width returns the width of the terminal on stdout, or 0 when
 * stdout is not a terminal. */
size_t dlq_cli_term_width(void);

/* Labels of "label: value" blocks are padded to this many columns. */
#define DLQ_CLI_LABEL_WIDTH 17

/* dlq_cli_field appends "label:<padding>value\n" to b, value sanitized on
 * one line (NULL prints as "-"). */
void dlq_cli_field(struct dlq_buf *b, const char *label, const char *value);

/* dlq_cli_human_bytes writes n as "512 B", "12.3 KiB", "4.0 MiB" ... */
void dlq_cli_human_bytes(uint64_t n, char *out, size_t outlen);

/* dlq_cli_counts_render appends a two-column table (header, COUNT) of a
 * JSON object of counts ({"app.tasks.x": 12, ...}, non-integers ignored),
 * biggest first and, with max_rows > 0, the rows past max_rows summed into
 * one "(k more)" row. An empty object appends nothing. Returns DLQ_OK or
 * DLQ_E_NOMEM. */
int dlq_cli_counts_render(struct dlq_buf *out, const char *header, const json_t *counts,
                          size_t max_rows, size_t line_max);

/* dlq_cli_table_print renders t to stdout at the terminal's width and frees
 * it. Returns DLQ_EXIT_OK, or DLQ_EXIT_ERROR after saying it ran out of
 * memory. */
int dlq_cli_table_print(struct dlq_cli_table *t);

/* dlq_cli_print_buf writes b to stdout (or says it ran out of memory) and
 * frees it. Returns DLQ_EXIT_OK or DLQ_EXIT_ERROR. */
int dlq_cli_print_buf(struct dlq_buf *b);

/* ---- commands ---- */
int dlq_cli_list_run(int argc, char **argv);
int dlq_cli_show_run(int argc, char **argv);
int dlq_cli_token_run(int argc, char **argv);
int dlq_cli_replay_run(int argc, char **argv);
int dlq_cli_resolve_run(int argc, char **argv);
int dlq_cli_delete_run(int argc, char **argv);
int dlq_cli_cleanup_run(int argc, char **argv);
int dlq_cli_export_run(int argc, char **argv);
int dlq_cli_stats_run(int argc, char **argv);
int dlq_cli_groups_run(int argc, char **argv);
int dlq_cli_alerts_run(int argc, char **argv);
int dlq_cli_audit_run(int argc, char **argv);
int dlq_cli_ops_run(int argc, char **argv);
/* the native job queue (issue 4) */
int dlq_cli_enqueue_run(int argc, char **argv);
int dlq_cli_queues_run(int argc, char **argv);
int dlq_cli_queue_run(int argc, char **argv);
int dlq_cli_job_run(int argc, char **argv);
int dlq_cli_worker_run(int argc, char **argv);
int dlq_cli_demo_run(int argc, char **argv);

/* dlq_cli_status_summary appends "resolved 10, discarded 2" for a JSON
 * object of counts by status: statuses in lifecycle order, zeros left out,
 * unknown names after. Returns DLQ_OK or DLQ_E_NOMEM. (cmd_cleanup.c) */
int dlq_cli_status_summary(struct dlq_buf *out, const json_t *by_status);

/* ---- export (cmd_export.c) ---- */

enum dlq_cli_format { DLQ_CLI_FORMAT_JSON, DLQ_CLI_FORMAT_NDJSON, DLQ_CLI_FORMAT_CSV };

/* Counts the entries of an export as its bytes pass, in any pieces: objects
 * directly inside the top-level JSON array, non-empty NDJSON lines, CSV
 * records (newlines inside quoted fields do not end one) after the header. */
struct dlq_cli_rows {
    enum dlq_cli_format format;
    uint64_t records;
    int depth, in_string, escaped, has_data;
};
void dlq_cli_rows_init(struct dlq_cli_rows *r, enum dlq_cli_format format);
void dlq_cli_rows_feed(struct dlq_cli_rows *r, const char *p, size_t n);
/* dlq_cli_rows_count returns the entries seen so far, a last line without
 * its newline included. */
uint64_t dlq_cli_rows_count(const struct dlq_cli_rows *r);

/* ---- bulk operations (cmd_ops.c) ---- */

/* dlq_cli_op_progress appends the one-line progress of an operation object
 * (GET /api/v1/dlq/operations/ID) to out: "op_X running 340/1000 processed,
 * 320 ok, 12 failed, 8 skipped" (sanitized; missing numbers print as "?").
 * Returns DLQ_OK or DLQ_E_NOMEM. */
int dlq_cli_op_progress(struct dlq_buf *out, const json_t *op);

/* dlq_cli_op_wait polls operation id every half second until it is no
 * longer running, showing its progress: one line rewritten in place on a
 * terminal, one line per change otherwise (with json, only the final
 * operation object, as JSON). Ctrl-C stops the waiting, not the operation,
 * and says how to cancel it. Returns DLQ_EXIT_OK when the operation ended
 * "done", else DLQ_EXIT_ERROR. */
int dlq_cli_op_wait(struct dlq_cli_conn *c, const char *id, int json);

/* dlq_cli_time_cell writes the relative form of an RFC 3339 time (NULL or
 * unparsable: "-", or the text itself when it does not parse) into out. */
void dlq_cli_time_cell(const char *rfc3339, int64_t now_ms, char *out, size_t outlen);

/* dlq_cli_time_long writes "2026-01-25T10:30:00Z (5m ago)" for an RFC 3339
 * time ("-" for NULL, the text itself when it does not parse) into out. */
void dlq_cli_time_long(const char *rfc3339, int64_t now_ms, char *out, size_t outlen);

#endif
