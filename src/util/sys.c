/*
 * sys.c: the clock, a thread's CPU priority and the cryptographic primitives
 * (randomness, SHA-256, HMAC-SHA256, constant-time comparison, all on
 * OpenSSL's libcrypto). util/ is the only layer that reads the clock or the
 * random source; core/ gets their values passed in so that it stays
 * deterministic.
 */
#include <pthread.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "dlq/error.h"
#include "dlq/util.h"

int64_t dlq_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t dlq_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Each thread draws its random bytes from its own pool, refilled from
 * OpenSSL's generator 512 bytes at a time: one RAND_bytes call costs about
 * as much as the rest of an ingest's id and time handling, and the ids of a
 * busy server need only 10 bytes each. The pool remembers the process that
 * filled it, so a forked child never repeats its parent's bytes. */
#define RAND_POOL 512
static _Thread_local unsigned char rand_pool[RAND_POOL];
static _Thread_local size_t rand_left;
static _Thread_local pid_t rand_pid;

int dlq_thread_background(void)
{
    /* On Linux a thread id given to setpriority names that thread alone. */
    return setpriority(PRIO_PROCESS, (id_t)gettid(), 10) == 0 ? 0 : -1;
}

int dlq_random(void *buf, size_t n)
{
    if (n > (size_t)INT32_MAX)
        return DLQ_E_INTERNAL;
    if (n > RAND_POOL / 4)
        return RAND_bytes(buf, (int)n) == 1 ? DLQ_OK : DLQ_E_INTERNAL;
    pid_t pid = getpid();
    if (rand_left < n || rand_pid != pid) {
        if (RAND_bytes(rand_pool, RAND_POOL) != 1)
            return DLQ_E_INTERNAL;
        rand_left = RAND_POOL;
        rand_pid = pid;
    }
    /* Take from the end, and wipe what was handed out. */
    rand_left -= n;
    memcpy(buf, rand_pool + rand_left, n);
    memset(rand_pool + rand_left, 0, n);
    return DLQ_OK;
}

static void to_hex(const unsigned char *d, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[d[i] >> 4];
        out[2 * i + 1] = hex[d[i] & 0xF];
    }
    out[2 * n] = '\0';
}

/* SHA-256 runs on every ingested entry (its fingerprint). EVP_Digest costs
 * a context allocation and an implicit algorithm fetch per call, about a
 * third of hashing a short text; instead each thread keeps one context
 * (freed when the thread exits) and every call reuses the algorithm fetched
 * once. */
static pthread_once_t sha_once = PTHREAD_ONCE_INIT;
static pthread_key_t sha_key;
static int sha_key_ok;
static const EVP_MD *sha_md;

static void sha_ctx_free(void *p)
{
    EVP_MD_CTX_free(p);
}

static void sha_init(void)
{
    EVP_MD *md = EVP_MD_fetch(NULL, "SHA256", NULL);
    sha_md = md ? md : EVP_sha256();
    sha_key_ok = pthread_key_create(&sha_key, sha_ctx_free) == 0;
}

/* sha_ctx returns the calling thread's digest context, or NULL when it
 * cannot have one (then the caller falls back to EVP_Digest). */
static EVP_MD_CTX *sha_ctx(void)
{
    pthread_once(&sha_once, sha_init);
    if (!sha_key_ok)
        return NULL;
    EVP_MD_CTX *ctx = pthread_getspecific(sha_key);
    if (ctx == NULL && (ctx = EVP_MD_CTX_new()) != NULL && pthread_setspecific(sha_key, ctx) != 0) {
        EVP_MD_CTX_free(ctx);
        ctx = NULL;
    }
    return ctx;
}

void dlq_sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_MD_CTX *ctx = sha_ctx();
    int ok;
    if (ctx)
        ok = EVP_DigestInit_ex(ctx, sha_md, NULL) == 1 && EVP_DigestUpdate(ctx, data, len) == 1 &&
             EVP_DigestFinal_ex(ctx, md, &mdlen) == 1;
    else
        ok = EVP_Digest(data, len, md, &mdlen, sha_md, NULL) == 1;
    /* These only fail on allocation failure inside OpenSSL; an empty string
     * then is safer than stale bytes. */
    if (!ok || mdlen != 32) {
        out[0] = '\0';
        return;
    }
    to_hex(md, 32, out);
}

void dlq_hmac_sha256_hex(const void *key, size_t klen, const void *data, size_t len, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (klen > (size_t)INT32_MAX ||
        HMAC(EVP_sha256(), key, (int)klen, data, len, md, &mdlen) == NULL || mdlen != 32) {
        out[0] = '\0';
        return;
    }
    to_hex(md, 32, out);
}

int dlq_ct_equal(const void *a, const void *b, size_t n)
{
    return CRYPTO_memcmp(a, b, n) == 0;
}
