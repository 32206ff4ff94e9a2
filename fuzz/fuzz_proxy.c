/* fuzz_proxy.c - the SOCKS4/4a, SOCKS5 and HTTP CONNECT negotiations
 * against fuzzer-chosen proxy replies. Checks: no crash; a failure always
 * carries errProxy (or errInvalidArgument for a local refusal) and an
 * extended number; the negotiation never reads past what it asked for. */
#include "fuzz_common.h"
#include "internal.h"
#include "proxy.h"

#include <string.h>

static const char *const HOSTS[] = {"mail.example.org", "127.0.0.1", "::1"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fz_input fin;
  fz_init(&fin, data, size);
  uint8_t cfg = fz_byte(&fin);
  int kind = (int[]){MW_PROXY_SOCKS4, MW_PROXY_SOCKS4A, MW_PROXY_SOCKS5,
                     MW_PROXY_HTTP}[cfg & 3];
  const char *host = HOSTS[((cfg >> 2) & 3) % 3];
  int creds = (cfg >> 4) & 1;
  int remote = (cfg >> 5) & 1;

  mw_errorinfo err;
  mw_error_init(&err);
  mw_proxy_neg n;
  mw_proxy_init(&n, kind, creds ? "user" : NULL, creds ? "pass" : NULL, host,
                25, &err, NULL);
  if (mw_proxy_needs_local_address(kind, remote, host)) {
    int fam = mw_proxy_literal(host, n.addr);
    if (fam == 0) { /* a name: as if it resolved to 127.0.0.1 */
      static const unsigned char lo[4] = {127, 0, 0, 1};
      memcpy(n.addr, lo, 4);
      fam = 4;
    }
    n.addr_family = fam;
  }
  mw_proxy_state st = mw_proxy_start(&n);
  for (int i = 0; i < 100000 && st != MW_PXS_DONE && st != MW_PXS_FAILED;
       i++) {
    size_t want = mw_proxy_want(&n);
    FZ_ASSERT(want >= 1);
    const uint8_t *p;
    size_t got = fz_piece(&fin, &p);
    if (got == 0) {
      st = mw_proxy_eof(&n);
      FZ_ASSERT(st == MW_PXS_FAILED);
      break;
    }
    if (got > want) { /* the driver never reads more than asked */
      fin.pos -= got - want;
      got = want;
    }
    mw_buf_reset(&n.out);
    st = mw_proxy_feed(&n, p, got);
  }
  if (st == MW_PXS_FAILED)
    FZ_ASSERT(err.code != MW_OK && err.number != 0);
  if (st == MW_PXS_DONE)
    FZ_ASSERT(err.code == MW_OK);
  mw_proxy_free(&n);
  mw_error_clear(&err);
  return 0;
}
