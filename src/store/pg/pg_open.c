/*
 * pg_open.c: opening and closing the PostgreSQL backend, its methods table,
 * and the small methods that belong to the store as a whole (migrate,
 * ping, the commit histogram).
 *
 * The store is named by a libpq URL (postgres://user:pw@host:port/db?...).
 * One parameter is dlq's own and is taken out before libpq sees the URL:
 * schema=NAME puts every table in that schema (created when missing), so
 * several dlq deployments, or test runs, can share one database.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../store_int.h"
#include "dlq/error.h"
#include "pg_int.h"

#define POOL_DEFAULT 8
#define POOL_MAX     256

static void pg_close(struct dlq_store *base);
static int pg_migrate(struct dlq_store *base, int *from, int *to, char *err, size_t errlen);
static int pg_ping(struct dlq_store *base, char *err, size_t errlen);
static void pg_commit_histogram(struct dlq_store *base, struct dlq_hist *out);

static const struct dlq_store_methods pg_methods = {
    .version = 1,
    .name = "postgres",
    .close = pg_close,
    .migrate = pg_migrate,
    .capture = dlq_pg_capture,
    .get = dlq_pg_get,
    .list = dlq_pg_list,
    .token_create = dlq_pg_token_create,
    .token_by_hash = dlq_pg_token_by_hash,
    .token_list = dlq_pg_token_list,
    .token_revoke = dlq_pg_token_revoke,
    .token_touch = dlq_pg_token_touch,
    .ping = pg_ping,
    .act = dlq_pg_act,
    .act_many = dlq_pg_act_many,
    .audit_append = dlq_pg_audit_append,
    .audit_list = dlq_pg_audit_list,
    .bulk_select = dlq_pg_bulk_select,
    .bulk_preview = dlq_pg_bulk_preview,
    .op_save = dlq_pg_op_save,
    .op_finish = dlq_pg_op_finish,
    .op_get = dlq_pg_op_get,
    .op_list = dlq_pg_op_list,
    .maint_step = dlq_pg_maint_step,
    .cleanup = dlq_pg_cleanup,
    .export_page = dlq_pg_export_page,
    .count_entries = dlq_pg_count_entries,
    .stats = dlq_pg_stats,
    .groups = dlq_pg_groups,
    .replay_window = dlq_pg_replay_window,
    .alert_load = dlq_pg_alert_load,
    .alert_save = dlq_pg_alert_save,
    .metrics = dlq_pg_metrics,
    .commit_histogram = pg_commit_histogram,
    .job_enqueue = dlq_pg_job_enqueue,
    .job_reserve = dlq_pg_job_reserve,
    .job_ack = dlq_pg_job_ack,
    .job_fail = dlq_pg_job_fail,
    .job_heartbeat = dlq_pg_job_heartbeat,
    .job_cancel = dlq_pg_job_cancel,
    .job_get = dlq_pg_job_get,
    .job_dispatched = dlq_pg_job_dispatched,
    .job_tick = dlq_pg_job_tick,
    .job_purge = dlq_pg_job_purge,
    .queue_list = dlq_pg_queue_list,
    .queue_settings_get = dlq_pg_queue_settings_get,
    .queue_settings_put = dlq_pg_queue_settings_put,
    .lock_try = dlq_pg_lock_try,
    .lock_release = dlq_pg_lock_release,
    .watch = dlq_pg_watch,
};

/* unescape decodes %XX in place. */
static void unescape(char *s)
{
    char *w = s;
    for (const char *r = s; *r; r++) {
        if (r[0] == '%' && isxdigit((unsigned char)r[1]) && isxdigit((unsigned char)r[2])) {
            char hex[3] = {r[1], r[2], 0};
            *w++ = (char)strtol(hex, NULL, 16);
            r += 2;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
}

/* split_url copies url into s->conninfo without dlq's schema= parameter,
 * which goes to s->schema. */
static int split_url(struct pg_store *s, const char *url, char *err, size_t errlen)
{
    size_t len = strlen(url);
    s->conninfo = malloc(len + 1);
    if (s->conninfo == NULL)
        return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
    const char *q = strchr(url, '?');
    if (q == NULL) {
        memcpy(s->conninfo, url, len + 1);
        return DLQ_OK;
    }
    memcpy(s->conninfo, url, (size_t)(q - url));
    char *w = s->conninfo + (q - url);
    char sep = '?';
    for (const char *p = q + 1; *p;) {
        size_t n = strcspn(p, "&");
        if (n > 7 && strncmp(p, "schema=", 7) == 0) {
            free(s->schema);
            s->schema = strndup(p + 7, n - 7);
            if (s->schema == NULL)
                return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
            unescape(s->schema);
        } else if (n > 0) {
            *w++ = sep;
            memcpy(w, p, n);
            w += n;
            sep = '&';
        }
        p += n;
        if (*p == '&')
            p++;
    }
    *w = '\0';
    if (s->schema && (s->schema[0] == '\0' || strlen(s->schema) > 63))
        return dlq_errf(err, errlen, DLQ_E_INVAL, "schema= must name a schema of 1 to 63 bytes");
    return DLQ_OK;
}

/* ensure_schema creates the schema= schema when it is missing. */
static int ensure_schema(struct pg_store *s, char *err, size_t errlen)
{
    if (s->schema == NULL)
        return DLQ_OK;
    char *saved = s->schema;
    s->schema = NULL; /* connect without a search_path into a schema that may not exist */
    struct pg_conn *c = dlq_pg_connect(s, err, errlen);
    s->schema = saved;
    if (c == NULL)
        return DLQ_E_UNAVAILABLE;
    char *ident = PQescapeIdentifier(c->pc, s->schema, strlen(s->schema));
    int code = DLQ_E_NOMEM;
    if (ident) {
        char sql[200];
        snprintf(sql, sizeof sql, "CREATE SCHEMA IF NOT EXISTS %s", ident);
        PQfreemem(ident);
        code = dlq_pg_exec_simple(c, sql, "create the schema", err, errlen);
        if (code == DLQ_E_CONFLICT) /* two nodes creating it at once */
            code = DLQ_OK;
    } else {
        dlq_errf(err, errlen, code, "out of memory");
    }
    dlq_pg_disconnect(c);
    return code;
}

int dlq_postgres_open(const struct dlq_store_config *cfg, struct dlq_store **out, char *err,
                      size_t errlen)
{
    *out = NULL;
    struct pg_store *s = calloc(1, sizeof *s);
    if (s == NULL)
        return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
    s->base.m = &pg_methods;
    s->opened_from = -1;
    s->lock_timeout_ms = cfg->busy_timeout_ms > 0 ? cfg->busy_timeout_ms : 5000;
    s->durability = cfg->durability;
    s->pool_max = cfg->pool_size > 0 ? cfg->pool_size : POOL_DEFAULT;
    if (s->pool_max > POOL_MAX)
        s->pool_max = POOL_MAX;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    pthread_mutex_init(&s->lock_mu, NULL);
    pthread_mutex_init(&s->hist_mu, NULL);
    int code = split_url(s, cfg->path, err, errlen);
    if (code == DLQ_OK) {
        s->idle = calloc((size_t)s->pool_max, sizeof *s->idle);
        if (s->idle == NULL)
            code = dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
    }
    if (code == DLQ_OK)
        code = ensure_schema(s, err, errlen);
    if (code == DLQ_OK && cfg->migrate) {
        int from, to;
        code = dlq_pg_migrate(s, &from, &to, err, errlen);
        s->opened_from = from;
    } else if (code == DLQ_OK) {
        code = dlq_pg_schema_check(s, err, errlen);
    }
    if (code != DLQ_OK) {
        pg_close(&s->base);
        return code;
    }
    *out = &s->base;
    return DLQ_OK;
}

static void pg_close(struct dlq_store *base)
{
    struct pg_store *s = PG(base);
    dlq_pg_listen_stop(s);
    dlq_pg_locks_close(s);
    pthread_mutex_lock(&s->mu);
    s->closing = 1;
    for (size_t i = 0; i < s->nidle; i++)
        dlq_pg_disconnect(s->idle[i]);
    s->nidle = 0;
    pthread_mutex_unlock(&s->mu);
    free(s->idle);
    free(s->conninfo);
    free(s->schema);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->lock_mu);
    pthread_mutex_destroy(&s->hist_mu);
    free(s);
}

static int pg_migrate(struct dlq_store *base, int *from, int *to, char *err, size_t errlen)
{
    return dlq_pg_migrate(PG(base), from, to, err, errlen);
}

static int ping_body(struct pg_conn *c, void *ctx, char *err, size_t errlen)
{
    (void)ctx;
    return dlq_pg_exec(c, "SELECT 1 FROM schema_version", NULL, NULL, "ping", err, errlen);
}

static int pg_ping(struct dlq_store *base, char *err, size_t errlen)
{
    return dlq_pg_read(PG(base), ping_body, NULL, err, errlen);
}

static void pg_commit_histogram(struct dlq_store *base, struct dlq_hist *out)
{
    struct pg_store *s = PG(base);
    pthread_mutex_lock(&s->hist_mu);
    *out = s->hist;
    pthread_mutex_unlock(&s->hist_mu);
}
