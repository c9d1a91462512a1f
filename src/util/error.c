/*
 * error.c: the functions generated from DLQ_ERRNO_MAP (names, messages and
 * HTTP statuses of dlq error codes) and the two helpers that carry detail
 * text: dlq_errf() for a single caller-owned buffer and dlq_errors_add() for
 * the bounded list of field problems a request can have.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "dlq/error.h"

const char *dlq_strerror(int code)
{
    switch (code) {
    case DLQ_OK:
        return "ok";
#define DLQ_ERR_MSG(name, c, status, msg)                                                          \
    case c:                                                                                        \
        return msg;
        DLQ_ERRNO_MAP(DLQ_ERR_MSG)
#undef DLQ_ERR_MSG
    default:
        return "unknown error";
    }
}

const char *dlq_err_name(int code)
{
    switch (code) {
    case DLQ_OK:
        return "OK";
#define DLQ_ERR_NAME(name, c, status, msg)                                                         \
    case c:                                                                                        \
        return #name;
        DLQ_ERRNO_MAP(DLQ_ERR_NAME)
#undef DLQ_ERR_NAME
    default:
        return "UNKNOWN";
    }
}

int dlq_err_http_status(int code)
{
    switch (code) {
    case DLQ_OK:
        return 200;
#define DLQ_ERR_STATUS(name, c, status, msg)                                                       \
    case c:                                                                                        \
        return status;
        DLQ_ERRNO_MAP(DLQ_ERR_STATUS)
#undef DLQ_ERR_STATUS
    default:
        return 500;
    }
}

int dlq_errf(char *buf, size_t len, int code, const char *fmt, ...)
{
    if (buf != NULL && len > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, len, fmt, ap);
        va_end(ap);
    }
    return code;
}

int dlq_errors_add(struct dlq_errors *errs, const char *field, const char *fmt, ...)
{
    if (errs == NULL)
        return DLQ_E_INVAL;
    if (errs->n >= DLQ_MAX_FIELD_ERRORS) {
        errs->dropped++;
        return DLQ_E_INVAL;
    }
    struct dlq_field_error *fe = &errs->items[errs->n++];
    snprintf(fe->field, sizeof fe->field, "%s", field != NULL ? field : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(fe->detail, sizeof fe->detail, fmt, ap);
    va_end(ap);
    return DLQ_E_INVAL;
}
