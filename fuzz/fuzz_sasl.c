/* fuzz_sasl.c - the SASL helpers on fuzzer bytes: base64 decoding (a
 * decoded value re-encodes to an equivalent string and encode/decode
 * round-trips exactly), CRAM-MD5 answers to any challenge, APOP digests of
 * any timestamp, and mechanism choice from any offered list. */
#include "fuzz_common.h"
#include "internal.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* encode then decode gives the bytes back */
  char *b64 = mw_base64_encode(data, size);
  FZ_ASSERT(b64);
  char *raw = NULL;
  size_t rawlen = 0;
  FZ_ASSERT(mw_base64_decode(b64, strlen(b64), &raw, &rawlen) == 0);
  FZ_ASSERT(rawlen == size && (size == 0 || memcmp(raw, data, size) == 0));
  mw_free_secret(raw);
  mw_free_secret(b64);

  /* decoding arbitrary text: either refused or canonical on re-encoding */
  raw = NULL;
  if (mw_base64_decode((const char *)data, size, &raw, &rawlen) == 0) {
    char *again = mw_base64_encode(raw, rawlen);
    FZ_ASSERT(again);
    char *back = NULL;
    size_t backlen = 0;
    FZ_ASSERT(mw_base64_decode(again, strlen(again), &back, &backlen) == 0);
    FZ_ASSERT(backlen == rawlen &&
              (rawlen == 0 || !memcmp(back, raw, rawlen)));
    mw_free_secret(back);
    mw_free_secret(again);
    mw_free_secret(raw);
  }

  char *cram = mw_sasl_cram_md5("user", "pass", (const char *)data, size);
  mw_free_secret(cram);

  char digest[33];
  if (mw_apop_digest((const char *)data, size, "pass", digest) == 0)
    FZ_ASSERT(strlen(digest) == 32);

  char *offered = malloc(size + 1);
  FZ_ASSERT(offered);
  memcpy(offered, data, size);
  offered[size] = 0;
  const char *m = mw_sasl_choose(offered, NULL);
  FZ_ASSERT(!m || strstr("CRAM-MD5 PLAIN LOGIN XOAUTH2", m));
  m = mw_sasl_choose(offered, "PLAIN");
  FZ_ASSERT(!m || !strcmp(m, "PLAIN"));
  free(offered);
  return 0;
}
