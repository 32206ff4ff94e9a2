/* fuzz_driver.h - runs an engine the way mw_session_pump does, with the
 * fuzzer's bytes as the server: FLUSH takes what was queued, READ feeds
 * the next piece, TLS is taken as done when nothing was sent ahead of it
 * (the pump's injection rule), ERROR must leave nothing queued. */
#ifndef MW_FUZZ_DRIVER_H
#define MW_FUZZ_DRIVER_H

#include "fuzz_common.h"
#include "internal.h"

/* What the engine queued, kept for targets that check it. */
typedef void (*fz_sent_cb)(void *ud, const char *data, size_t len);

static inline mw_step fz_run(mw_step (*step)(void *), void *engine,
                             mw_buf *out, mw_reader *in, fz_input *fin,
                             fz_sent_cb sent, void *ud) {
  for (int i = 0; i < 1000000; i++) {
    mw_step st = step(engine);
    if (st == MW_STEP_ERROR) {
      FZ_ASSERT(out->len == 0);
      return st;
    }
    if (out->len && sent)
      sent(ud, out->data, out->len);
    mw_buf_reset(out);
    switch (st) {
    case MW_STEP_FLUSH:
      continue;
    case MW_STEP_TLS:
      if (mw_reader_pending(in) != 0)
        return MW_STEP_ERROR; /* the pump refuses: eexSSLInjection */
      continue;
    case MW_STEP_READ: {
      const uint8_t *p;
      size_t n = fz_piece(fin, &p);
      if (n == 0)
        return MW_STEP_READ; /* the server went quiet: a timeout */
      if (mw_reader_feed(in, p, n) != 0)
        return MW_STEP_ERROR;
      continue;
    }
    default:
      return st;
    }
  }
  FZ_ASSERT(!"the engine never stopped");
  return MW_STEP_ERROR;
}

#endif
