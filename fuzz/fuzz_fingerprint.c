/*
 * fuzz_fingerprint.c: the failure-group normaliser and key. Properties: the
 * normalised message has no ASCII digit left (every number is masked), is
 * valid UTF-8 whenever the message was (masks never cut a character), and
 * the key is always 16 lowercase hex characters, the same for the same
 * input.
 */
#include "dlq/core.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *msg = fuzz_cstr(data, size);
    size_t len = strlen(msg);
    char *norm = dlq_fingerprint_normalize(msg);
    FUZZ_CHECK(norm != NULL);
    size_t nlen = strlen(norm);
    for (size_t i = 0; i < nlen; i++)
        FUZZ_CHECK(norm[i] < '0' || norm[i] > '9');
    if (fuzz_utf8_ok(msg, len))
        FUZZ_CHECK(fuzz_utf8_ok(norm, nlen));
    free(norm);

    char a[17], b[17];
    dlq_fingerprint("app.tasks.x", "ValueError", msg, a);
    dlq_fingerprint("app.tasks.x", "ValueError", msg, b);
    FUZZ_CHECK(strlen(a) == 16 && strcmp(a, b) == 0);
    for (int i = 0; i < 16; i++)
        FUZZ_CHECK((a[i] >= '0' && a[i] <= '9') || (a[i] >= 'a' && a[i] <= 'f'));
    free(msg);
    return 0;
}
