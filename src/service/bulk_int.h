/*
 * bulk_int.h: what the bulk files of src/service/ share (bulk.c decodes and
 * starts, ops.c runs): the decoded form of a bulk request and the runner's
 * queue. An operation stores its filter and parameters as JSON text and is
 * decoded again by the same code when it resumes after a restart.
 */
#ifndef DLQ_BULK_INT_H
#define DLQ_BULK_INT_H

#include <jansson.h>

#include "service_int.h"

/* A decoded bulk request. The filter's strings point into root (kept alive
 * until dlq_bulk_spec_clear). */
struct dlq_bulk_spec {
    json_t *root;
    struct dlq_filter f;
    int nothing; /* the filter names another tenant than the principal's */
    int has_filter;
    json_t *ids; /* resolve/discard by ids: the array, or NULL */
    int64_t max_tasks;
    int dry_run;
    int rate_per_second;
    int batch_size;
    double stop_failure_rate;
    int min_samples;
    int outcome_timeout_s;
    const char *note;       /* replay/discard: audit text */
    const char *ticket_url; /* replay: audit ticket */
    const char *notes;      /* resolve: resolution_notes */
};

enum dlq_bulk_kind { DLQ_BULK_REPLAY, DLQ_BULK_RESOLVE, DLQ_BULK_DISCARD };

/* dlq_bulk_spec_parse decodes body for kind; tenant (may be NULL) is the
 * principal's, forced into the filter. DLQ_OK or DLQ_E_INVAL with errs. */
int dlq_bulk_spec_parse(const char *body, size_t len, enum dlq_bulk_kind kind, const char *tenant,
                        struct dlq_bulk_spec *sp, struct dlq_errors *errs);
void dlq_bulk_spec_clear(struct dlq_bulk_spec *sp);
/* dlq_bulk_filter_json returns the filter part of sp as JSON text (malloc'd). */
char *dlq_bulk_filter_json(const struct dlq_bulk_spec *sp);
/* dlq_bulk_params_json returns the replay parameters of sp as JSON text. */
char *dlq_bulk_params_json(const struct dlq_bulk_spec *sp);
/* dlq_bulk_spec_from_op decodes a stored op's filter and params. */
int dlq_bulk_spec_from_op(const struct dlq_op *op, struct dlq_bulk_spec *sp, char *err,
                          size_t errlen);
/* dlq_bulk_make_id writes "<prefix>_<ULID>" for now. */
void dlq_bulk_make_id(const char *prefix, char out[40]);

/* dlq_ops_adopt_soon asks the runner to look for running ops nobody runs
 * (their server died) and take them over (issue 7; any thread). */
void dlq_ops_adopt_soon(struct dlq_service *svc);
/* dlq_ops_enqueue hands a running op to the runner. */
int dlq_ops_enqueue(struct dlq_service *svc, const char *id, char *err, size_t errlen);

#endif
