/* fuzz_pop3.c - a whole POP3 client session (greeting, CAPA, optional
 * STLS, login, STAT, LIST, UIDL, RETR, TOP, a pipelined RETR batch, DELE,
 * QUIT) against fuzzer-chosen server bytes. Checks: no crash, an error
 * never leaves bytes queued, a message kept in memory never exceeds the
 * limit, batch results are complete or marked unanswered. */
#include "fuzz_driver.h"
#include "pop3_engine.h"

#include <string.h>

static const char *const MECHS[] = {NULL,    "USER",     "APOP",   "PLAIN",
                                    "LOGIN", "CRAM-MD5", "XOAUTH2"};

static int sink(void *ud, size_t i, unsigned long msg, const char *data,
                size_t len, int end) {
  (void)i;
  (void)msg;
  (void)data;
  FZ_ASSERT(!end || len == 0);
  *(size_t *)ud += len;
  return 0;
}

static mw_step run(mw_pop3_engine *e, fz_input *fin) {
  return fz_run(mw_pop3_engine_step, e, &e->out, &e->in, fin, NULL, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fz_input fin;
  fz_init(&fin, data, size);
  uint8_t cfg = fz_byte(&fin);

  mw_session s;
  mw_pop3_engine e;
  mw_session_init(&s);
  mw_pop3_engine_init(&e, &s);
  mw_sslinfo *ssl = NULL;
  if (cfg & 0x80) {
    ssl = mw_sslinfo_new();
    mw_sslinfo_set_mode(ssl, MODE_STARTTLS);
    mw_session_set_handler(&s, ssl);
  }
  if (cfg & 1) {
    s.user = mw_strdup("user");
    s.pass = mw_strdup("secret");
    const char *m = MECHS[((cfg >> 1) & 7) % 7];
    s.mech = m ? mw_strdup(m) : NULL;
  }
  s.allow_plain_auth = (cfg >> 4) & 1;
  e.pipelining = (cfg >> 5) & 1;

  mw_step st = MW_STEP_ERROR;
  if (mw_pop3_engine_begin_connect(&e) == MW_OK)
    st = run(&e, &fin);
  /* Each command in turn, as long as the connection lives. */
  for (int op = 0; op < 8 && st == MW_STEP_DONE; op++) {
    int r = MW_OK;
    static const unsigned long batch[] = {1, 2, 3, 2};
    size_t got = 0;
    switch (op) {
    case 0:
      r = mw_pop3_engine_begin_stat(&e);
      break;
    case 1:
      r = mw_pop3_engine_begin_list(&e);
      break;
    case 2:
      r = mw_pop3_engine_begin_uidl(&e);
      break;
    case 3:
      r = mw_pop3_engine_begin_retr(&e, 1, -1, NULL, NULL, 4096);
      break;
    case 4:
      r = mw_pop3_engine_begin_retr(&e, 2, 3, NULL, NULL, 0);
      break;
    case 5:
      r = mw_pop3_engine_begin_batch(&e, MW_P3B_RETR, batch, 4, -1, sink,
                                     &got);
      break;
    case 6:
      r = mw_pop3_engine_begin_dele(&e, 1);
      break;
    default:
      r = mw_pop3_engine_begin_quit(&e);
      break;
    }
    if (r != MW_OK)
      break;
    st = run(&e, &fin);
    if (op == 3 && st == MW_STEP_DONE && !e.too_large)
      FZ_ASSERT(e.body.len <= 4096);
  }

  mw_pop3_engine_free(&e);
  mw_session_free(&s);
  mw_sslinfo_free(ssl);
  return 0;
}
