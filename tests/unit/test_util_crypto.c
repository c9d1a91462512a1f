/*
 * test_util_crypto.c: hashing against published vectors (FIPS 180-2 for
 * SHA-256, RFC 4231 for HMAC-SHA256), the constant-time comparison, the
 * random source and the clocks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "dlq/error.h"
#include "dlq/util.h"

static void test_sha256_vectors(void **state)
{
    (void)state;
    char out[65];
    dlq_sha256_hex("abc", 3, out);
    assert_string_equal(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    dlq_sha256_hex("", 0, out);
    assert_string_equal(out, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    dlq_sha256_hex(m, strlen(m), out);
    assert_string_equal(out, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

static void test_hmac_rfc4231(void **state)
{
    (void)state;
    char out[65];
    /* Test case 1: key = 20 bytes of 0x0b. */
    uint8_t key1[20];
    memset(key1, 0x0b, sizeof key1);
    dlq_hmac_sha256_hex(key1, sizeof key1, "Hi There", 8, out);
    assert_string_equal(out, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    /* Test case 2: key shorter than the block. */
    const char *d2 = "what do ya want for nothing?";
    dlq_hmac_sha256_hex("Jefe", 4, d2, strlen(d2), out);
    assert_string_equal(out, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    /* Test case 6: key longer than the block (131 bytes of 0xaa). */
    uint8_t key6[131];
    memset(key6, 0xaa, sizeof key6);
    const char *d6 = "Test Using Larger Than Block-Size Key - Hash Key First";
    dlq_hmac_sha256_hex(key6, sizeof key6, d6, strlen(d6), out);
    assert_string_equal(out, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

static void test_ct_equal(void **state)
{
    (void)state;
    assert_true(dlq_ct_equal("abcdef", "abcdef", 6));
    assert_false(dlq_ct_equal("abcdef", "abcdeg", 6));
    assert_false(dlq_ct_equal("xbcdef", "abcdef", 6));
    assert_true(dlq_ct_equal("abc", "abd", 2));
}

static void test_random(void **state)
{
    (void)state;
    uint8_t a[32], b[32], zero[32] = {0};
    assert_int_equal(dlq_random(a, sizeof a), DLQ_OK);
    assert_int_equal(dlq_random(b, sizeof b), DLQ_OK);
    /* 2^-256 odds of a false failure. */
    assert_memory_not_equal(a, b, sizeof a);
    assert_memory_not_equal(a, zero, sizeof a);
}

/* The per-thread pool: many small draws never repeat (10-byte ids), and a
 * forked child does not hand out its parent's next bytes. */
static void test_random_pool(void **state)
{
    (void)state;
    enum { N = 400 };
    static unsigned char ids[N][10];
    for (int i = 0; i < N; i++) {
        assert_int_equal(dlq_random(ids[i], sizeof ids[i]), DLQ_OK);
        for (int j = 0; j < i; j++)
            assert_memory_not_equal(ids[i], ids[j], sizeof ids[i]);
    }
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        unsigned char c[10];
        int ok = dlq_random(c, sizeof c) == DLQ_OK && write(fds[1], c, sizeof c) == sizeof c;
        _exit(ok ? 0 : 1);
    }
    unsigned char child[10], mine[10];
    assert_int_equal(read(fds[0], child, sizeof child), (ssize_t)sizeof child);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(dlq_random(mine, sizeof mine), DLQ_OK);
    assert_memory_not_equal(child, mine, sizeof mine);
    close(fds[0]);
    close(fds[1]);
}

static void test_clocks(void **state)
{
    (void)state;
    int64_t now = dlq_now_ms();
    assert_true(now > 1700000000000LL); /* after Nov 2023 */
    assert_true(now < 4102444800000LL); /* before 2100 */
    int64_t m1 = dlq_mono_ns();
    int64_t m2 = dlq_mono_ns();
    assert_true(m1 > 0);
    assert_true(m2 >= m1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256_vectors), cmocka_unit_test(test_hmac_rfc4231),
        cmocka_unit_test(test_ct_equal),       cmocka_unit_test(test_random),
        cmocka_unit_test(test_random_pool),    cmocka_unit_test(test_clocks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
