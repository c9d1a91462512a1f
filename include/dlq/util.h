/*
 * util.h: small shared helpers: a growable byte buffer, logging, the clock,
 * randomness and hashing. The only layer that may read the clock or the
 * random source; core/ gets time and random bytes passed in.
 */
#ifndef DLQ_UTIL_H
#define DLQ_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* A growable byte buffer, always NUL-terminated after the first append.
 * Zero-initialise it ({0}); dlq_buf_free releases it and leaves it empty. */
struct dlq_buf {
    char *data;
    size_t len;
    size_t cap;
    int oom; /* set once an allocation failed; later appends are no-ops */
};
int dlq_buf_reserve(struct dlq_buf *b, size_t extra);
int dlq_buf_append(struct dlq_buf *b, const void *p, size_t n);
int dlq_buf_puts(struct dlq_buf *b, const char *s);
int dlq_buf_putc(struct dlq_buf *b, char c);
int dlq_buf_printf(struct dlq_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* dlq_buf_json_string appends s (len bytes) as a quoted, escaped JSON string;
 * s == NULL appends null. Invalid UTF-8 is replaced by U+FFFD. */
int dlq_buf_json_string(struct dlq_buf *b, const char *s, size_t len);
void dlq_buf_reset(struct dlq_buf *b); /* len = 0, keeps the memory */
void dlq_buf_free(struct dlq_buf *b);
/* dlq_buf_steal returns the data (caller frees with free()) and empties b. */
char *dlq_buf_steal(struct dlq_buf *b);

/* Logging to stderr, one line per call, with an ISO time and level. */
enum dlq_log_level { DLQ_LOG_DEBUG, DLQ_LOG_INFO, DLQ_LOG_WARN, DLQ_LOG_ERROR };
void dlq_log_set_level(enum dlq_log_level lvl);
void dlq_log(enum dlq_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* dlq_now_ms returns wall-clock milliseconds since the epoch. */
int64_t dlq_now_ms(void);
/* dlq_mono_ns returns a monotonic clock in nanoseconds (for durations). */
int64_t dlq_mono_ns(void);

/* dlq_thread_background lowers the calling thread's CPU priority (nice 10) for
 * work nobody waits on, so that when the cores are busy requests get them
 * first; 0, or -1 when the system refused (the thread runs on unchanged). */
int dlq_thread_background(void);

/* dlq_random fills buf with n cryptographically random bytes; 0 or DLQ_E_INTERNAL. */
int dlq_random(void *buf, size_t n);

/* dlq_sha256_hex writes the lowercase hex SHA-256 of data into out (65 bytes). */
void dlq_sha256_hex(const void *data, size_t len, char out[65]);
/* dlq_hmac_sha256_hex writes the hex HMAC-SHA256 of data under key into out (65 bytes). */
void dlq_hmac_sha256_hex(const void *key, size_t klen, const void *data, size_t len, char out[65]);
/* dlq_ct_equal compares two byte strings in time independent of their contents. */
int dlq_ct_equal(const void *a, const void *b, size_t n);

/* dlq_strdup / dlq_strndup: strdup that accepts NULL (returns NULL). */
char *dlq_strdup(const char *s);
char *dlq_strndup(const char *s, size_t n);

#endif
