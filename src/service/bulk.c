/*
 * bulk.c: the bulk use cases. replay-bulk previews (dry run) or creates a
 * replay operation and hands it to the runner (ops.c); resolve-bulk and
 * discard-bulk run synchronously, in commits of 500 entries, by ids or by
 * filter. Tenant-bound principals act on their tenant only: the filter is
 * forced to it and the store refuses another tenant's ids as not found.
 * Each bulk call writes one audit record (with its first commit).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bulk_int.h"

#define ACT_BATCH 500

void dlq_bulk_answer_clear(struct dlq_bulk_answer *a)
{
    dlq_bulk_preview_clear(&a->preview);
    memset(a, 0, sizeof *a);
}

/* audit_init fills an audit record of action by p (borrowed strings). */
static void audit_init(struct dlq_audit *au, const struct dlq_principal *p, const char *action)
{
    memset(au, 0, sizeof *au);
    dlq_bulk_make_id("aud", au->id);
    au->at = dlq_now_ms();
    au->actor = (char *)p->name;
    au->tenant_id = (char *)dlq_service_tenant(p);
    au->action = (char *)action;
}

int dlq_service_replay_bulk(struct dlq_service *svc, const struct dlq_principal *p,
                            const char *body, size_t len, struct dlq_bulk_answer *out,
                            struct dlq_errors *errs, char *err, size_t errlen)
{
    struct dlq_bulk_spec sp;
    memset(out, 0, sizeof *out);
    int code = dlq_bulk_spec_parse(body, len, DLQ_BULK_REPLAY, dlq_service_tenant(p), &sp, errs);
    if (code != DLQ_OK) {
        dlq_bulk_spec_clear(&sp);
        return dlq_errf(err, errlen, code, "invalid bulk replay request");
    }
    out->dry_run = sp.dry_run;
    if (!sp.nothing) {
        code = dlq_store_bulk_preview(svc->store, &sp.f, sp.max_tasks, &out->preview, err, errlen);
        if (code != DLQ_OK)
            goto done;
    }
    out->matched = out->preview.matched;
    if (sp.dry_run)
        goto done;
    if (svc->ops == NULL) {
        code = dlq_errf(err, errlen, DLQ_E_UNAVAILABLE, "the bulk operation runner is not running");
        goto done;
    }
    struct dlq_op op;
    memset(&op, 0, sizeof op);
    dlq_bulk_make_id("op", op.id);
    snprintf(op.kind, sizeof op.kind, "replay");
    snprintf(op.state, sizeof op.state, "running");
    snprintf(op.tenant_id, sizeof op.tenant_id, "%s", p->tenant_id);
    snprintf(op.actor, sizeof op.actor, "%s", p->name);
    op.filter = dlq_bulk_filter_json(&sp);
    op.params = dlq_bulk_params_json(&sp);
    op.matched = out->matched;
    op.created_at = op.updated_at = dlq_now_ms();
    if (sp.nothing) {
        /* Another tenant's filter: an op that has nothing to do. */
        snprintf(op.state, sizeof op.state, "done");
        op.finished_at = op.created_at;
    }
    char details[160];
    snprintf(details, sizeof details, "{\"operation_id\":\"%s\",\"matched\":%lld}", op.id,
             (long long)op.matched);
    struct dlq_audit au;
    audit_init(&au, p, "replay_bulk");
    au.filter = op.filter;
    au.reason = (char *)sp.note;
    au.ticket_url = (char *)sp.ticket_url;
    au.details = details;
    if (op.filter == NULL || op.params == NULL)
        code = dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
    if (code == DLQ_OK)
        code = dlq_store_op_save(svc->store, &op, err, errlen);
    if (code == DLQ_OK)
        code = dlq_store_audit_append(svc->store, &au, err, errlen);
    if (code == DLQ_OK && !sp.nothing)
        code = dlq_ops_enqueue(svc, op.id, err, errlen);
    if (code != DLQ_OK && op.created_at)
        dlq_store_op_finish(svc->store, op.id, NULL, "interrupted", err && err[0] ? err : NULL,
                            dlq_now_ms(), NULL, 0);
    if (code == DLQ_OK) {
        memcpy(out->op_id, op.id, sizeof out->op_id);
        memcpy(out->state, op.state, sizeof out->state);
    }
    dlq_op_clear(&op);
done:
    dlq_bulk_spec_clear(&sp);
    if (code != DLQ_OK)
        dlq_bulk_answer_clear(out);
    return code;
}

/* note_result counts one id's outcome into out. */
static void note_result(struct dlq_bulk_result *out, const char *id, int code, const char *detail)
{
    if (code == DLQ_OK) {
        out->succeeded++;
        return;
    }
    out->skipped++;
    if (out->nskipped_ids < DLQ_BULK_SKIPPED_MAX) {
        snprintf(out->skipped_ids[out->nskipped_ids].dlq_id, 40, "%s", id);
        snprintf(out->skipped_ids[out->nskipped_ids].detail, 200, "%s",
                 detail && *detail ? detail : dlq_strerror(code));
        out->nskipped_ids++;
    }
}

/* dry_ids predicts, entry by entry, what a real run by ids would do. */
static int dry_ids(struct dlq_service *svc, const struct dlq_principal *p, enum dlq_action action,
                   json_t *ids, struct dlq_bulk_result *out, char *err, size_t errlen)
{
    size_t i;
    json_t *it;
    json_array_foreach(ids, i, it)
    {
        const char *id = json_string_value(it);
        struct dlq_entry e;
        char why[200] = "";
        memset(&e, 0, sizeof e);
        int code =
            dlq_store_get(svc->store, id, dlq_service_tenant(p), &e, NULL, NULL, why, sizeof why);
        if (code == DLQ_OK) {
            struct dlq_state_input in = {e.status, e.retry_count, e.max_replays};
            enum dlq_status to;
            const char *rule = NULL;
            code = dlq_state_next(&in, action, &to, &rule);
            if (code != DLQ_OK)
                snprintf(why, sizeof why, "entry %s is %s: %s", id, dlq_status_name(e.status),
                         rule ? rule : "refused");
            dlq_entry_clear(&e);
        } else if (code != DLQ_E_NOTFOUND) {
            return dlq_errf(err, errlen, code, "%s", why);
        }
        if (code == DLQ_OK)
            out->matched++;
        note_result(out, id, code, why);
    }
    out->succeeded = 0;
    return DLQ_OK;
}

/* act_batch applies a to n ids in one commit, the audit record with the
 * first commit. */
static int act_batch(struct dlq_service *svc, const char *const *ids, size_t n,
                     const struct dlq_act *a, struct dlq_audit *au, int *audited,
                     struct dlq_bulk_result *out, char *err, size_t errlen)
{
    struct dlq_act_result *res = calloc(n, sizeof *res);
    if (res == NULL)
        return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
    int code =
        dlq_store_act_many(svc->store, ids, n, a, NULL, *audited ? NULL : au, res, err, errlen);
    if (code == DLQ_OK) {
        *audited = 1;
        for (size_t i = 0; i < n; i++)
            note_result(out, ids[i], res[i].code, res[i].detail);
    }
    free(res);
    return code;
}

/* ids_json returns the first <= 1000 ids of the array as JSON text. */
static char *ids_json(json_t *ids)
{
    if (json_array_size(ids) <= 1000)
        return json_dumps(ids, JSON_COMPACT);
    json_t *a = json_array();
    for (size_t i = 0; i < 1000; i++)
        json_array_append(a, json_array_get(ids, i));
    char *s = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    return s;
}

static int run_ids(struct dlq_service *svc, const struct dlq_act *a, json_t *ids,
                   struct dlq_audit *au, int *audited, struct dlq_bulk_result *out, char *err,
                   size_t errlen)
{
    const char *batch[ACT_BATCH];
    size_t n = json_array_size(ids);
    out->matched = (int64_t)n;
    for (size_t i = 0; i < n; i += ACT_BATCH) {
        size_t k = n - i < ACT_BATCH ? n - i : ACT_BATCH;
        for (size_t j = 0; j < k; j++)
            batch[j] = json_string_value(json_array_get(ids, i + j));
        int code = act_batch(svc, batch, k, a, au, audited, out, err, errlen);
        if (code != DLQ_OK)
            return code;
    }
    return DLQ_OK;
}

static int run_filter(struct dlq_service *svc, const struct dlq_act *a,
                      const struct dlq_bulk_spec *sp, struct dlq_audit *au, int *audited,
                      struct dlq_bulk_result *out, char *err, size_t errlen)
{
    char ids[ACT_BATCH][40];
    const char *batch[ACT_BATCH];
    char pos[128] = "";
    while (out->matched < sp->max_tasks) {
        size_t want = (size_t)(sp->max_tasks - out->matched), n = 0;
        if (want > ACT_BATCH)
            want = ACT_BATCH;
        int code =
            dlq_store_bulk_select(svc->store, &sp->f, pos, NULL, want, ids, &n, pos, err, errlen);
        if (code != DLQ_OK)
            return code;
        if (n == 0)
            break;
        for (size_t j = 0; j < n; j++)
            batch[j] = ids[j];
        out->matched += (int64_t)n;
        if ((code = act_batch(svc, batch, n, a, au, audited, out, err, errlen)) != DLQ_OK)
            return code;
        if (n < want)
            break;
    }
    return DLQ_OK;
}

int dlq_service_act_bulk(struct dlq_service *svc, const struct dlq_principal *p,
                         enum dlq_action action, const char *body, size_t len,
                         struct dlq_bulk_result *out, struct dlq_errors *errs, char *err,
                         size_t errlen)
{
    struct dlq_bulk_spec sp;
    enum dlq_bulk_kind kind = action == DLQ_ACTION_RESOLVE ? DLQ_BULK_RESOLVE : DLQ_BULK_DISCARD;
    memset(out, 0, sizeof *out);
    int code = dlq_bulk_spec_parse(body, len, kind, dlq_service_tenant(p), &sp, errs);
    if (code == DLQ_OK && sp.ids == NULL && !sp.has_filter)
        code = dlq_errors_add(errs, "ids", "give ids or at least one filter field");
    if (code != DLQ_OK) {
        dlq_bulk_spec_clear(&sp);
        return dlq_errf(err, errlen, code, "invalid bulk request");
    }
    out->dry_run = sp.dry_run;
    if (sp.dry_run) {
        if (sp.ids) {
            code = dry_ids(svc, p, action, sp.ids, out, err, errlen);
        } else if (!sp.nothing) {
            struct dlq_bulk_preview pv;
            code = dlq_store_bulk_preview(svc->store, &sp.f, sp.max_tasks, &pv, err, errlen);
            out->matched = pv.matched;
            dlq_bulk_preview_clear(&pv);
        }
        dlq_bulk_spec_clear(&sp);
        return code;
    }
    struct dlq_act a = {.action = action,
                        .now = dlq_now_ms(),
                        .actor = p->name,
                        .tenant = dlq_service_tenant(p),
                        .reason = sp.note,
                        .notes = sp.notes,
                        .resolution_type = "manual"};
    struct dlq_audit au;
    audit_init(&au, p, action == DLQ_ACTION_RESOLVE ? "resolve_bulk" : "discard_bulk");
    char *targets = sp.ids ? ids_json(sp.ids) : NULL;
    char *filter = sp.ids ? NULL : dlq_bulk_filter_json(&sp);
    char details[64];
    snprintf(details, sizeof details, "{\"count\":%zu}", sp.ids ? json_array_size(sp.ids) : 0);
    au.target_ids = targets;
    au.filter = filter;
    au.reason = (char *)(sp.note ? sp.note : sp.notes);
    au.details = sp.ids ? details : NULL;
    int audited = 0;
    if (sp.ids)
        code = run_ids(svc, &a, sp.ids, &au, &audited, out, err, errlen);
    else if (!sp.nothing)
        code = run_filter(svc, &a, &sp, &au, &audited, out, err, errlen);
    if (code == DLQ_OK && !audited)
        code = dlq_store_audit_append(svc->store, &au, err, errlen);
    free(targets);
    free(filter);
    dlq_bulk_spec_clear(&sp);
    return code;
}
