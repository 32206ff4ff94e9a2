/* fuzz_dotstuff.c - differential: the fuzzer's bytes are a message body.
 * The SMTP engine sends it (read in fuzzer-sized pieces, so every split of
 * CR LF and of a leading dot is reached); what goes out after DATA must
 * equal a plain reference: line endings made CRLF, a dot doubled at the
 * start of a line, a final CRLF if missing, then ".". Then that wire form
 * is given to the POP3 engine as a RETR answer, and what it delivers must
 * be the normalised body again. */
#include "fuzz_driver.h"
#include "pop3_engine.h"
#include "smtp_engine.h"

#include <string.h>

/* ---- the reference ---- */

static void ref_normalise(const uint8_t *p, size_t n, mw_buf *out) {
  for (size_t i = 0; i < n; i++) {
    if (p[i] == '\r') {
      mw_buf_append(out, "\r\n", 2);
      if (i + 1 < n && p[i + 1] == '\n')
        i++;
    } else if (p[i] == '\n') {
      mw_buf_append(out, "\r\n", 2);
    } else {
      mw_buf_append(out, &p[i], 1);
    }
  }
  if (out->len &&
      (out->len < 2 || memcmp(out->data + out->len - 2, "\r\n", 2)))
    mw_buf_append(out, "\r\n", 2);
}

static void ref_stuff(const mw_buf *norm, mw_buf *out) {
  int bol = 1;
  for (size_t i = 0; i < norm->len; i++) {
    if (bol && norm->data[i] == '.')
      mw_buf_append(out, ".", 1);
    mw_buf_append(out, &norm->data[i], 1);
    bol = norm->data[i] == '\n';
  }
  mw_buf_append(out, ".\r\n", 3);
}

/* ---- the engines ---- */

struct source {
  fz_input *fin;
  const uint8_t *body;
  size_t len, pos;
};

static long read_piece(void *ud, char *buf, size_t cap) {
  struct source *src = ud;
  size_t left = src->len - src->pos;
  size_t n = 1 + (fz_byte(src->fin) % 64);
  if (n > left)
    n = left;
  if (n > cap)
    n = cap;
  memcpy(buf, src->body + src->pos, n);
  src->pos += n;
  return (long)n;
}

static void collect(void *ud, const char *data, size_t len) {
  mw_buf_append(ud, data, len);
}

static int collect_msg(void *ud, const char *data, size_t len) {
  return mw_buf_append(ud, data, len);
}

static void smtp_wire(const uint8_t *body, size_t len, fz_input *sizes,
                      mw_buf *wire) {
  static const char greet[] = "220 mx\r\n250 mx\r\n";
  static const char send[] = "250 ok\r\n250 ok\r\n354 go\r\n250 queued\r\n";
  fz_input script;
  fz_init(&script, (const uint8_t *)greet, sizeof greet - 1);
  script.lines = 1;
  mw_session s;
  mw_smtp_engine e;
  mw_session_init(&s);
  mw_smtp_engine_init(&e, &s);
  mw_smtp_engine_set_helo_name(&e, "c");
  FZ_ASSERT(mw_smtp_engine_begin_connect(&e) == MW_OK);
  FZ_ASSERT(fz_run(mw_smtp_engine_step, &e, &e.out, &e.in, &script, NULL,
                   NULL) == MW_STEP_DONE);
  static const char *const rcpt[] = {"b@example.org"};
  struct source src = {sizes, body, len, 0};
  fz_init(&script, (const uint8_t *)send, sizeof send - 1);
  script.lines = 1;
  mw_buf sent;
  mw_buf_init(&sent);
  FZ_ASSERT(mw_smtp_engine_begin_send_stream(&e, "a@example.org", rcpt, 1, 0,
                                             0, read_piece, &src) == MW_OK);
  FZ_ASSERT(fz_run(mw_smtp_engine_step, &e, &e.out, &e.in, &script, collect,
                   &sent) == MW_STEP_DONE);
  FZ_ASSERT(e.last_code == 250);
  const char *data = sent.data ? strstr(sent.data, "DATA\r\n") : NULL;
  FZ_ASSERT(data);
  data += 6;
  mw_buf_append(wire, data, sent.len - (size_t)(data - sent.data));
  mw_buf_free(&sent);
  mw_smtp_engine_free(&e);
  mw_session_free(&s);
}

static void pop3_retrieve(const mw_buf *wire, mw_buf *msg) {
  static const char login[] = "+OK ready\r\n-ERR no CAPA\r\n+OK user\r\n"
                              "+OK pass\r\n";
  mw_buf answer;
  mw_buf_init(&answer);
  mw_buf_append_str(&answer, "+OK message\r\n");
  mw_buf_append(&answer, wire->data, wire->len);
  fz_input script;
  fz_init(&script, (const uint8_t *)login, sizeof login - 1);
  script.lines = 1;
  mw_session s;
  mw_pop3_engine e;
  mw_session_init(&s);
  mw_pop3_engine_init(&e, &s);
  s.user = mw_strdup("u");
  s.pass = mw_strdup("p");
  s.mech = mw_strdup("USER");
  s.allow_plain_auth = 1;
  FZ_ASSERT(mw_pop3_engine_begin_connect(&e) == MW_OK);
  FZ_ASSERT(fz_run(mw_pop3_engine_step, &e, &e.out, &e.in, &script, NULL,
                   NULL) == MW_STEP_DONE);
  fz_init(&script, (const uint8_t *)answer.data, answer.len);
  script.lines = 1;
  FZ_ASSERT(mw_pop3_engine_begin_retr(&e, 1, -1, collect_msg, msg, 0) ==
            MW_OK);
  FZ_ASSERT(fz_run(mw_pop3_engine_step, &e, &e.out, &e.in, &script, NULL,
                   NULL) == MW_STEP_DONE);
  FZ_ASSERT(s.err.code == MW_OK);
  mw_pop3_engine_free(&e);
  mw_session_free(&s);
  mw_buf_free(&answer);
}

static int same(const mw_buf *a, const mw_buf *b) {
  return a->len == b->len &&
         (a->len == 0 || !memcmp(a->data, b->data, a->len));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 1 << 16)
    return 0;
  fz_input sizes; /* piece sizes come from the body bytes themselves */
  fz_init(&sizes, data, size);
  mw_buf norm, want, wire, got;
  mw_buf_init(&norm);
  mw_buf_init(&want);
  mw_buf_init(&wire);
  mw_buf_init(&got);
  ref_normalise(data, size, &norm);
  ref_stuff(&norm, &want);
  smtp_wire(data, size, &sizes, &wire);
  FZ_ASSERT(same(&wire, &want));
  pop3_retrieve(&wire, &got);
  FZ_ASSERT(same(&got, &norm));
  mw_buf_free(&norm);
  mw_buf_free(&want);
  mw_buf_free(&wire);
  mw_buf_free(&got);
  return 0;
}
