/*
 * job_int.h: the jansson helpers the job decoders of core/ share
 * (job_decode.c, job_decode_calls.c). Each reports a bad value through the
 * error sink with the field's path and leaves the output untouched.
 */
#ifndef DLQ_JOB_INT_H
#define DLQ_JOB_INT_H

#include "core_int.h"
#include "dlq/job_codec.h"

/* dlq_jd_unknown_keys reports every key of obj not in allowed (NULL-ended). */
void dlq_jd_unknown_keys(struct dlq_errsink *s, json_t *obj, const char *const *allowed);
/* dlq_jd_get returns obj[key], or NULL when absent or null. */
json_t *dlq_jd_get(json_t *obj, const char *key);
/* dlq_jd_int reads an integer in [min, max]: 1 set, 0 absent, -1 bad. */
int dlq_jd_int(struct dlq_errsink *s, json_t *obj, const char *key, int64_t min, int64_t max,
               int64_t *out);
/* dlq_jd_str returns a string of min..max bytes without NULs (borrowed from
 * obj), or NULL when absent or bad (reported). */
const char *dlq_jd_str(struct dlq_errsink *s, json_t *obj, const char *key, size_t min, size_t max);
/* dlq_jd_bool reads a boolean: 1 set, 0 absent, -1 bad. */
int dlq_jd_bool(struct dlq_errsink *s, json_t *obj, const char *key, int *out);

#endif
