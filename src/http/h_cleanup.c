/*
 * h_cleanup.c: POST /api/v1/dlq/cleanup (admin): delete entries that failed
 * more than older_than_days ago, of the listed statuses (by default the
 * closed ones: resolved, discarded, expired, archived; pending ones only when
 * listed), or with dry_run only count them. Every field problem of the body
 * is reported at once.
 */
#include <string.h>

#include "http_int.h"

#define DEFAULT_STATUSES                                                                           \
    ((1u << DLQ_STATUS_RESOLVED) | (1u << DLQ_STATUS_DISCARDED) | (1u << DLQ_STATUS_EXPIRED) |     \
     (1u << DLQ_STATUS_ARCHIVED))
#define MAX_DAYS 36500

/* parse_statuses reads the statuses array into *mask. */
static void parse_statuses(json_t *v, unsigned *mask, struct dlq_errors *errs)
{
    if (!json_is_array(v) || json_array_size(v) == 0) {
        dlq_errors_add(errs, "statuses", "must be a non-empty array of status names");
        return;
    }
    *mask = 0;
    size_t i;
    json_t *it;
    json_array_foreach(v, i, it)
    {
        enum dlq_status st =
            json_is_string(it) ? dlq_status_parse(json_string_value(it)) : DLQ_STATUS_NONE;
        if (st == DLQ_STATUS_NONE) {
            dlq_errors_add(errs, "statuses", "item %zu is not a status name", i);
            return;
        }
        *mask |= 1u << st;
    }
}

/* parse_body decodes the request body; DLQ_OK or DLQ_E_INVAL with errs. */
static int parse_body(struct dlq_req *r, int *days, unsigned *mask, int *dry_run)
{
    json_error_t jerr;
    json_t *doc =
        r->body.len ? json_loadb(r->body.data, r->body.len, JSON_REJECT_DUPLICATES, &jerr) : NULL;
    if (!doc) {
        dlq_errors_add(&r->errs, "body", "must be a JSON object with older_than_days");
        return DLQ_E_INVAL;
    }
    if (!json_is_object(doc)) {
        json_decref(doc);
        dlq_errors_add(&r->errs, "body", "must be a JSON object");
        return DLQ_E_INVAL;
    }
    const char *key;
    json_t *v;
    int have_days = 0;
    json_object_foreach(doc, key, v)
    {
        if (strcmp(key, "older_than_days") == 0) {
            have_days = 1;
            if (!json_is_integer(v) || json_integer_value(v) < 0 ||
                json_integer_value(v) > MAX_DAYS)
                dlq_errors_add(&r->errs, key, "must be an integer from 0 to %d", MAX_DAYS);
            else
                *days = (int)json_integer_value(v);
        } else if (strcmp(key, "statuses") == 0) {
            parse_statuses(v, mask, &r->errs);
        } else if (strcmp(key, "dry_run") == 0) {
            if (!json_is_boolean(v))
                dlq_errors_add(&r->errs, key, "must be true or false");
            else
                *dry_run = json_is_true(v);
        } else {
            dlq_errors_add(&r->errs, key, "unknown field");
        }
    }
    json_decref(doc);
    if (!have_days)
        dlq_errors_add(&r->errs, "older_than_days", "is required");
    return r->errs.n || r->errs.dropped ? DLQ_E_INVAL : DLQ_OK;
}

int dlq_h_cleanup(struct dlq_req *r)
{
    int days = 0, dry_run = 0;
    unsigned mask = DEFAULT_STATUSES;
    int rc = parse_body(r, &days, &mask, &dry_run);
    if (rc != DLQ_OK)
        return dlq_http_fail_fields(r, rc, "invalid cleanup request");
    struct dlq_cleanup_result res;
    rc = dlq_service_cleanup(r->h->svc, &r->who, days, mask, dry_run, &res, r->detail,
                             sizeof(r->detail));
    if (rc != DLQ_OK)
        return rc;
    struct dlq_buf b = {0};
    dlq_buf_printf(&b, "{\"dry_run\":%s,\"matched\":%lld,\"deleted\":%lld,\"by_status\":{",
                   dry_run ? "true" : "false", (long long)res.matched, (long long)res.deleted);
    int n = 0;
    for (int st = 1; st < DLQ_STATUS_COUNT; st++)
        if (mask & (1u << st))
            dlq_buf_printf(&b, "%s\"%s\":%lld", n++ ? "," : "",
                           dlq_status_name((enum dlq_status)st), (long long)res.by_status[st]);
    dlq_buf_puts(&b, "}}");
    return dlq_http_reply_buf(r, MHD_HTTP_OK, &b, NULL);
}
