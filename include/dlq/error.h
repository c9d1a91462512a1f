/*
 * error.h: the one table of dlq error codes. Every code is defined once here
 * with its name, HTTP status and message; the enum, dlq_strerror() and
 * dlq_err_http_status() are generated from it (libuv's UV_ERRNO_MAP).
 * 0 is success and every error is negative. Detail text travels in a buffer
 * the caller owns; there is no global "last error".
 */
#ifndef DLQ_ERROR_H
#define DLQ_ERROR_H

#include <stddef.h>

/* X(name, code, http status, message) */
#define DLQ_ERRNO_MAP(X)                                                                           \
    X(INVAL, -1, 400, "invalid request")                                                           \
    X(UNAUTHORIZED, -2, 401, "unauthorized")                                                       \
    X(FORBIDDEN, -3, 403, "forbidden")                                                             \
    X(NOTFOUND, -4, 404, "not found")                                                              \
    X(METHOD, -5, 405, "method not allowed")                                                       \
    X(CONFLICT, -6, 409, "state conflict")                                                         \
    X(TOOBIG, -7, 413, "payload too large")                                                        \
    X(MEDIATYPE, -8, 415, "unsupported media type")                                                \
    X(UNPROCESSABLE, -9, 422, "unprocessable content")                                             \
    X(BUSY, -10, 503, "server busy")                                                               \
    X(UNAVAILABLE, -11, 503, "storage unavailable")                                                \
    X(STORE, -12, 500, "storage error")                                                            \
    X(NOMEM, -13, 500, "out of memory")                                                            \
    X(IO, -14, 500, "i/o error")                                                                   \
    X(INTERNAL, -15, 500, "internal error")                                                        \
    X(CONNECT, -16, 502, "cannot reach the server")

enum dlq_errno {
    DLQ_OK = 0,
#define DLQ_ERR_ENUM(name, code, status, msg) DLQ_E_##name = (code),
    DLQ_ERRNO_MAP(DLQ_ERR_ENUM)
#undef DLQ_ERR_ENUM
};

/* dlq_strerror returns the static message of a code ("unknown error" for none). */
const char *dlq_strerror(int code);
/* dlq_err_name returns the static symbolic name of a code, e.g. "NOTFOUND". */
const char *dlq_err_name(int code);
/* dlq_err_http_status returns the HTTP status a code maps to (500 if unknown). */
int dlq_err_http_status(int code);

/* dlq_errf writes a printf-style detail into buf (if not NULL) and returns code,
 * so a failing path reads `return dlq_errf(err, errlen, DLQ_E_INVAL, "...")`. */
int dlq_errf(char *buf, size_t len, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Field-level problems of a request, reported together (RFC 9457 "errors").
 * Caller-allocated and bounded: past DLQ_MAX_FIELD_ERRORS further problems are
 * counted in `dropped` but not kept. */
#define DLQ_MAX_FIELD_ERRORS 16
struct dlq_field_error {
    char field[96]; /* where: "task_name", "entries[3].exception.type", "limit" */
    char detail[160];
};
struct dlq_errors {
    struct dlq_field_error items[DLQ_MAX_FIELD_ERRORS];
    int n;
    int dropped;
};

/* dlq_errors_add records one field problem; always returns DLQ_E_INVAL. */
int dlq_errors_add(struct dlq_errors *errs, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
