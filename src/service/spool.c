/*
 * spool.c: the spool file, where ingests wait when the store cannot take
 * them. One record per line: "S1 <len> <sum> <json>\n", where len is the
 * byte length of the JSON and sum the first 16 hex digits of its SHA-256, so
 * a record cut short by a crash (the torn tail of an append that was never
 * acknowledged) or damaged on disk is recognised and never half-applied. The
 * JSON holds the actor and every field of the stamped entry, dlq_id and
 * idempotency key included, so draining it later is the very capture the
 * store could not take. Appends are one write() and one fdatasync() under
 * the spool's mutex; the file is truncated once everything in it is drained.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spool_int.h"

#define REC_MAGIC "S1 "

static const struct {
    const char *key;
    size_t off;
} str_fields[] = {
#define S(f)                                                                                       \
    {                                                                                              \
#f, offsetof(struct dlq_entry, f)                                                          \
    }
    S(dlq_id),      S(original_task_id), S(task_name),        S(task_args),
    S(task_kwargs), S(exc_type),         S(exc_message),      S(exc_traceback),
    S(tenant_id),   S(retry_task_id),    S(resolution_notes), S(queue),
    S(error_code),  S(fingerprint),      S(resolution_type),  S(resolved_by),
    S(metadata),    S(context),          S(idempotency_key),  S(replay_of),
#undef S
};

static const struct {
    const char *key;
    size_t off;
} i64_fields[] = {
#define I(f)                                                                                       \
    {                                                                                              \
#f, offsetof(struct dlq_entry, f)                                                          \
    }
    I(failed_at), I(processed_at), I(last_retry_at), I(resolved_at), I(expires_at), I(updated_at),
#undef I
};

static const struct {
    const char *key;
    size_t off;
} int_fields[] = {
#define N(f)                                                                                       \
    {                                                                                              \
#f, offsetof(struct dlq_entry, f)                                                          \
    }
    N(retries_attempted),
    N(retry_count),
    N(priority),
    N(max_replays),
#undef N
};

/* encode returns the record's JSON text (malloc'd) or NULL when out of memory. */
static char *encode(const char *actor, const struct dlq_entry *e)
{
    json_t *o = json_object();
    json_t *je = json_object();
    if (!o || !je)
        goto fail;
    for (size_t i = 0; i < sizeof(str_fields) / sizeof(str_fields[0]); i++) {
        const char *v = *(char *const *)((const char *)e + str_fields[i].off);
        if (v && json_object_set_new(je, str_fields[i].key, json_string(v)) != 0)
            goto fail;
    }
    for (size_t i = 0; i < sizeof(i64_fields) / sizeof(i64_fields[0]); i++) {
        int64_t v = *(const int64_t *)((const char *)e + i64_fields[i].off);
        if (json_object_set_new(je, i64_fields[i].key, json_integer(v)) != 0)
            goto fail;
    }
    for (size_t i = 0; i < sizeof(int_fields) / sizeof(int_fields[0]); i++) {
        int v = *(const int *)((const char *)e + int_fields[i].off);
        if (json_object_set_new(je, int_fields[i].key, json_integer(v)) != 0)
            goto fail;
    }
    if (json_object_set_new(je, "status", json_integer(e->status)) != 0 ||
        json_object_set_new(je, "reason", json_integer(e->reason)) != 0 ||
        json_object_set_new(o, "actor", json_string(actor ? actor : "")) != 0 ||
        json_object_set_new(o, "entry", je) != 0)
        goto fail_o;
    /* Compact JSON escapes every control character: the text has no '\n'. */
    char *text = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(o);
    return text;
fail:
    json_decref(je);
fail_o:
    json_decref(o);
    return NULL;
}

/* decode fills r from a record's JSON text; DLQ_OK or DLQ_E_INVAL. */
static int decode(const char *text, size_t len, struct spool_rec *r)
{
    json_error_t jerr;
    json_t *o = json_loadb(text, len, 0, &jerr);
    json_t *je = o ? json_object_get(o, "entry") : NULL;
    const char *actor = o ? json_string_value(json_object_get(o, "actor")) : NULL;
    if (!json_is_object(je) || !actor) {
        json_decref(o);
        return DLQ_E_INVAL;
    }
    int rc = DLQ_OK;
    struct dlq_entry *e = &r->e;
    for (size_t i = 0; i < sizeof(str_fields) / sizeof(str_fields[0]) && rc == DLQ_OK; i++) {
        json_t *v = json_object_get(je, str_fields[i].key);
        if (!v)
            continue;
        char **slot = (char **)((char *)e + str_fields[i].off);
        if (!json_is_string(v) || !(*slot = dlq_strdup(json_string_value(v))))
            rc = DLQ_E_INVAL;
    }
    for (size_t i = 0; i < sizeof(i64_fields) / sizeof(i64_fields[0]); i++)
        *(int64_t *)((char *)e + i64_fields[i].off) =
            json_integer_value(json_object_get(je, i64_fields[i].key));
    for (size_t i = 0; i < sizeof(int_fields) / sizeof(int_fields[0]); i++)
        *(int *)((char *)e + int_fields[i].off) =
            (int)json_integer_value(json_object_get(je, int_fields[i].key));
    e->status = (enum dlq_status)json_integer_value(json_object_get(je, "status"));
    e->reason = (enum dlq_reason)json_integer_value(json_object_get(je, "reason"));
    if (rc == DLQ_OK && (!e->dlq_id || !(r->actor = dlq_strdup(actor))))
        rc = DLQ_E_INVAL;
    json_decref(o);
    if (rc != DLQ_OK) {
        dlq_entry_clear(e);
        free(r->actor);
        r->actor = NULL;
    }
    return rc;
}

static unsigned hash_key(const char *tenant, const char *key)
{
    unsigned h = 2166136261u; /* FNV-1a over tenant, a separator, key */
    for (const char *p = tenant ? tenant : ""; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    h = (h ^ 0x1f) * 16777619u;
    for (const char *p = key; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    return h;
}

static int same_tenant(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

const char *dlq_spool_find_locked(struct dlq_spool *sp, const char *tenant, const char *key)
{
    if (!key || sp->pending == 0)
        return NULL;
    unsigned h = hash_key(tenant, key);
    for (struct spool_rec *r = sp->index[h % SPOOL_BUCKETS]; r; r = r->hnext)
        if (r->hash == h && strcmp(r->e.idempotency_key, key) == 0 &&
            same_tenant(r->e.tenant_id, tenant))
            return r->e.dlq_id;
    return NULL;
}

/* enqueue adds r at the tail and to the index. sp->mu held (or not yet shared). */
static void enqueue(struct dlq_spool *sp, struct spool_rec *r)
{
    if (sp->tail)
        sp->tail->next = r;
    else
        sp->head = r;
    sp->tail = r;
    sp->pending++;
    if (r->e.idempotency_key) {
        r->hash = hash_key(r->e.tenant_id, r->e.idempotency_key);
        struct spool_rec **b = &sp->index[r->hash % SPOOL_BUCKETS];
        r->hnext = *b;
        *b = r;
    }
}

static void rec_free(struct spool_rec *r)
{
    dlq_entry_clear(&r->e);
    free(r->actor);
    free(r);
}

void dlq_spool_pop_locked(struct dlq_spool *sp, size_t n)
{
    for (size_t i = 0; i < n && sp->head; i++) {
        struct spool_rec *r = sp->head;
        sp->head = r->next;
        if (!sp->head)
            sp->tail = NULL;
        sp->pending--;
        if (r->e.idempotency_key) {
            struct spool_rec **pp = &sp->index[r->hash % SPOOL_BUCKETS];
            while (*pp && *pp != r)
                pp = &(*pp)->hnext;
            if (*pp)
                *pp = r->hnext;
        }
        rec_free(r);
    }
    if (sp->pending == 0 && sp->bytes > 0) {
        /* Everything in the file is in the store now. Until this truncate a
         * restart would load the records again and drain would find them
         * stored (by dlq_id) and skip them. */
        if (ftruncate(sp->fd, 0) != 0 || fdatasync(sp->fd) != 0)
            dlq_log(DLQ_LOG_WARN,
                    "spool: cannot truncate %s: %s (its records are drained and "
                    "will be skipped at the next start)",
                    sp->path, strerror(errno));
        else
            sp->bytes = 0;
    }
}

/* format_line writes one whole record line for json into b. */
static int format_line(struct dlq_buf *b, const char *json)
{
    size_t len = strlen(json);
    char sum[65];
    dlq_sha256_hex(json, len, sum);
    dlq_buf_printf(b, REC_MAGIC "%zu %.16s ", len, sum);
    dlq_buf_append(b, json, len);
    dlq_buf_putc(b, '\n');
    return b->oom ? DLQ_E_NOMEM : DLQ_OK;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int dlq_spool_append_locked(struct dlq_spool *sp, const char *actor, struct dlq_entry *e, size_t n,
                            const unsigned char *skip, char *err, size_t errlen)
{
    struct dlq_buf b = {0};
    struct spool_rec **recs = calloc(n ? n : 1, sizeof(*recs));
    int rc = recs ? DLQ_OK : DLQ_E_NOMEM;
    for (size_t i = 0; i < n && rc == DLQ_OK; i++) {
        if (skip && skip[i])
            continue;
        char *json = encode(actor, &e[i]);
        if (!json || format_line(&b, json) != DLQ_OK) {
            free(json);
            rc = DLQ_E_NOMEM;
            break;
        }
        /* The queued record is decoded from the very text written, so what
         * drains later after a restart and what drains now are the same. */
        recs[i] = calloc(1, sizeof(*recs[i]));
        if (!recs[i] || decode(json, strlen(json), recs[i]) != DLQ_OK)
            rc = DLQ_E_NOMEM;
        free(json);
    }
    if (rc == DLQ_OK && sp->bytes + (int64_t)b.len > sp->max_bytes)
        rc = dlq_errf(err, errlen, DLQ_E_BUSY,
                      "the store is unavailable and the spool is full (%lld bytes); retry later",
                      (long long)sp->max_bytes);
    if (rc == DLQ_OK && (write_all(sp->fd, b.data, b.len) != 0 || fdatasync(sp->fd) != 0)) {
        int e2 = errno;
        /* Cut back whatever part landed: it was never acknowledged. */
        if (ftruncate(sp->fd, sp->bytes) != 0)
            dlq_log(DLQ_LOG_ERROR, "spool: cannot cut back %s: %s", sp->path, strerror(errno));
        rc = dlq_errf(err, errlen, DLQ_E_UNAVAILABLE,
                      "the store is unavailable and the spool cannot be written: %s", strerror(e2));
    }
    if (rc == DLQ_E_NOMEM)
        dlq_errf(err, errlen, rc, "out of memory while spooling");
    for (size_t i = 0; i < n && recs; i++) {
        if (!recs[i])
            continue;
        if (rc == DLQ_OK)
            enqueue(sp, recs[i]);
        else
            rec_free(recs[i]);
    }
    if (rc == DLQ_OK) {
        sp->bytes += (int64_t)b.len;
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
            k += !(skip && skip[i]);
        sp->spooled += (int64_t)k;
    }
    free(recs);
    dlq_buf_free(&b);
    return rc;
}

void dlq_spool_reject(struct dlq_spool *sp, const struct spool_rec *r, const char *why)
{
    dlq_log(DLQ_LOG_ERROR, "spool: the store refused spooled entry %s (%s); kept in %s",
            r->e.dlq_id, why, sp->rejected_path);
    char *json = encode(r->actor, &r->e);
    struct dlq_buf b = {0};
    int fd = open(sp->rejected_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (json && fd >= 0 && format_line(&b, json) == DLQ_OK && write_all(fd, b.data, b.len) == 0 &&
        fdatasync(fd) == 0) {
        /* kept */
    } else {
        dlq_log(DLQ_LOG_ERROR, "spool: cannot write %s: entry %s is only in this log: %s",
                sp->rejected_path, r->e.dlq_id, json ? json : "(out of memory)");
    }
    if (fd >= 0)
        close(fd);
    free(json);
    dlq_buf_free(&b);
}

/* keep_raw appends the bytes of a damaged record to the rejected file, for
 * an operator to look at (best effort). */
static void keep_raw(struct dlq_spool *sp, const char *p, size_t n)
{
    int fd = open(sp->rejected_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0 || write_all(fd, p, n) != 0 || fdatasync(fd) != 0)
        dlq_log(DLQ_LOG_ERROR, "spool: cannot write %s: %s", sp->rejected_path, strerror(errno));
    if (fd >= 0)
        close(fd);
}

/* parse_line checks one record at p (avail bytes). Returns its whole length
 * with json and jlen set, 0 when the record is incomplete (a torn tail), or -1
 * when it is damaged (its line is then skipped). */
static long parse_line(const char *p, size_t avail, const char **json, size_t *jlen)
{
    const char *nl = memchr(p, '\n', avail);
    if (!nl)
        return 0;
    size_t line = (size_t)(nl - p);
    char *end;
    if (line < 3 + 1 + 1 + 16 + 1 || memcmp(p, REC_MAGIC, 3) != 0)
        return -1;
    errno = 0;
    unsigned long long len = strtoull(p + 3, &end, 10);
    if (errno || end == p + 3 || *end != ' ')
        return -1;
    const char *sum = end + 1;
    const char *js = sum + 17;
    if (js > nl || sum[16] != ' ' || len != (unsigned long long)(nl - js))
        return -1;
    char want[65];
    dlq_sha256_hex(js, (size_t)len, want);
    if (memcmp(want, sum, 16) != 0)
        return -1;
    *json = js;
    *jlen = (size_t)len;
    return (long)(line + 1);
}

/* load reads the whole file into the queue. */
static int load(struct dlq_spool *sp, char *err, size_t errlen)
{
    struct stat st;
    if (fstat(sp->fd, &st) != 0)
        return dlq_errf(err, errlen, DLQ_E_IO, "spool %s: %s", sp->path, strerror(errno));
    size_t size = (size_t)st.st_size;
    char *data = malloc(size + 1);
    if (!data)
        return dlq_errf(err, errlen, DLQ_E_NOMEM, "spool %s: out of memory", sp->path);
    size_t got = 0;
    while (got < size) {
        ssize_t r = pread(sp->fd, data + got, size - got, (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    size_t off = 0;
    while (off < got) {
        const char *json;
        size_t jlen;
        long n = parse_line(data + off, got - off, &json, &jlen);
        if (n == 0) {
            dlq_log(DLQ_LOG_WARN,
                    "spool: dropping a torn record of %zu bytes at the end of %s "
                    "(an append cut short by a crash; it was never acknowledged)",
                    got - off, sp->path);
            sp->torn++;
            if (ftruncate(sp->fd, (off_t)off) != 0 || fdatasync(sp->fd) != 0) {
                free(data);
                return dlq_errf(err, errlen, DLQ_E_IO, "spool %s: cannot cut the torn tail: %s",
                                sp->path, strerror(errno));
            }
            break;
        }
        struct spool_rec *r = n > 0 ? calloc(1, sizeof(*r)) : NULL;
        if (n < 0 || !r || decode(json, jlen, r) != DLQ_OK) {
            const char *nl = memchr(data + off, '\n', got - off);
            size_t line = (size_t)(nl - (data + off)) + 1;
            dlq_log(DLQ_LOG_ERROR,
                    "spool: damaged record of %zu bytes at offset %zu of %s "
                    "skipped; its bytes are kept in %s",
                    line, off, sp->path, sp->rejected_path);
            keep_raw(sp, data + off, line);
            sp->torn++;
            free(r);
            off += line;
            continue;
        }
        enqueue(sp, r);
        off += (size_t)n;
    }
    free(data);
    struct stat st2;
    sp->bytes = fstat(sp->fd, &st2) == 0 ? (int64_t)st2.st_size : (int64_t)off;
    return DLQ_OK;
}

/* sync_dir fsyncs the directory holding path, so that a spool file just
 * created is still there after a power loss (best effort). */
static void sync_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char dir[4096];
    if (!slash)
        snprintf(dir, sizeof(dir), ".");
    else if (slash == path)
        snprintf(dir, sizeof(dir), "/");
    else
        snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

int dlq_spool_open(struct dlq_store *store, const char *path, int64_t max_bytes,
                   struct dlq_spool **out, char *err, size_t errlen)
{
    *out = NULL;
    struct dlq_spool *sp = calloc(1, sizeof(*sp));
    if (!sp)
        return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
    sp->fd = -1;
    sp->store = store;
    pthread_mutex_init(&sp->mu, NULL);
    pthread_cond_init(&sp->cv, NULL);
    sp->max_bytes = max_bytes > 0 ? max_bytes : SPOOL_DEFAULT_MAX_BYTES;
    size_t plen = strlen(path);
    sp->path = dlq_strdup(path);
    sp->rejected_path = malloc(plen + sizeof(".rejected"));
    if (!sp->path || !sp->rejected_path) {
        dlq_spool_free(sp);
        return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
    }
    memcpy(sp->rejected_path, path, plen);
    memcpy(sp->rejected_path + plen, ".rejected", sizeof(".rejected"));
    sp->fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (sp->fd < 0) {
        int rc =
            dlq_errf(err, errlen, DLQ_E_IO, "cannot open the spool %s: %s", path, strerror(errno));
        dlq_spool_free(sp);
        return rc;
    }
    sync_dir(path);
    int rc = load(sp, err, errlen);
    if (rc != DLQ_OK) {
        dlq_spool_free(sp);
        return rc;
    }
    *out = sp;
    return DLQ_OK;
}

void dlq_spool_free(struct dlq_spool *sp)
{
    if (!sp)
        return;
    while (sp->head) {
        struct spool_rec *r = sp->head;
        sp->head = r->next;
        rec_free(r);
    }
    if (sp->fd >= 0)
        close(sp->fd);
    pthread_mutex_destroy(&sp->mu);
    pthread_cond_destroy(&sp->cv);
    free(sp->path);
    free(sp->rejected_path);
    free(sp);
}
