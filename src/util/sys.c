/*
 * sys.c: the clock and the cryptographic primitives (randomness, SHA-256,
 * HMAC-SHA256, constant-time comparison), all on OpenSSL's libcrypto. util/
 * is the only layer that reads the clock or the random source; core/ gets
 * their values passed in so that it stays deterministic.
 */
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

int dlq_random(void *buf, size_t n)
{
    if (n > (size_t)INT32_MAX)
        return DLQ_E_INTERNAL;
    return RAND_bytes(buf, (int)n) == 1 ? DLQ_OK : DLQ_E_INTERNAL;
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

void dlq_sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    /* EVP_Digest only fails on allocation failure inside OpenSSL; an empty
     * string then is safer than stale bytes. */
    if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32) {
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
