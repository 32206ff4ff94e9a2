/* test_smtp_engine.c - the SMTP state machine without a network: server
 * bytes go into the engine's reader, the test steps it, and the exact
 * bytes the engine queued in `out` are compared with the transcript. */
#include "smtp_engine.h"
#include "testlib.h"

#include <stdlib.h>
#include <string.h>

/* ---- the rig: a session that is never connected, an engine, a log ---- */

struct rig {
  mw_session s;
  mw_smtp_engine e;
  mw_loghandler *lh;
  mw_buf log;  /* every log message, one per line */
  mw_buf sent; /* what the last drive() saw the engine queue */
};

static void collect_log(void *userdata, int severity, int facility,
                        const char *message) {
  (void)severity;
  (void)facility;
  mw_buf *log = userdata;
  mw_buf_append_str(log, message);
  mw_buf_append(log, "\n", 1);
}

static void rig_init(struct rig *r) {
  memset(r, 0, sizeof *r);
  mw_session_init(&r->s);
  mw_smtp_engine_init(&r->e, &r->s);
  mw_smtp_engine_set_helo_name(&r->e, "client.example");
  /* The older tests script one command at a time; the pipelined ones
   * turn it back on. */
  r->e.pipelining_on = 0;
  mw_buf_init(&r->log);
  mw_buf_init(&r->sent);
  r->lh = mw_loghandler_new(collect_log, &r->log);
  CHECK_INT(mw_session_set_handler(&r->s, r->lh), MW_OK);
}

static void rig_free(struct rig *r) {
  mw_smtp_engine_free(&r->e);
  mw_session_free(&r->s);
  mw_loghandler_free(r->lh);
  mw_buf_free(&r->log);
  mw_buf_free(&r->sent);
}

static void set_credentials(struct rig *r, const char *user, const char *pass,
                            const char *mech) {
  r->s.user = mw_strdup(user);
  r->s.pass = mw_strdup(pass);
  r->s.mech = mw_strdup(mech);
}

static const char *sent(struct rig *r) {
  return r->sent.data ? r->sent.data : "";
}

/* Take what the engine queued (as the pump's flush would). */
static void take_out(struct rig *r) {
  if (r->e.out.len)
    mw_buf_append(&r->sent, r->e.out.data, r->e.out.len);
  mw_buf_reset(&r->e.out);
}

/* Feed the server's bytes, then step until the engine waits for more
 * input, finishes, fails or asks for TLS. r->sent gets everything the
 * engine queued meanwhile, starting with what a begin_* call queued. */
static mw_step drive(struct rig *r, const char *server) {
  mw_buf_reset(&r->sent);
  take_out(r);
  if (server && *server)
    mw_reader_feed(&r->e.in, server, strlen(server));
  for (int i = 0; i < 100000; i++) {
    mw_step st = mw_smtp_engine_step(&r->e);
    if (st == MW_STEP_ERROR) {
      /* The pump never sends `out` after an error; the engine must not
       * leave anything in it either. */
      CHECK_INT(r->e.out.len, 0);
      return st;
    }
    take_out(r);
    if (st != MW_STEP_FLUSH)
      return st;
  }
  CHECK(!"the engine never stopped");
  return MW_STEP_ERROR;
}

/* Only the bytes queued by begin_*. */
static const char *queued(struct rig *r) {
  mw_buf_reset(&r->sent);
  take_out(r);
  return sent(r);
}

static const char EHLO_FULL[] = "250-mx.example greets you\r\n"
                                "250-PIPELINING\r\n"
                                "250-SIZE 10240000\r\n"
                                "250-auth PLAIN LOGIN CRAM-MD5\r\n"
                                "250-ENHANCEDSTATUSCODES\r\n"
                                "250-8BITMIME\r\n"
                                "250 SMTPUTF8\r\n";

/* Greeting and EHLO, no AUTH: the engine is ready. */
static void connect_plain(struct rig *r, const char *ehlo) {
  CHECK_INT(mw_smtp_engine_begin_connect(&r->e), MW_OK);
  CHECK_INT(drive(r, "220 mx.example ESMTP\r\n"), MW_STEP_READ);
  CHECK_STR(sent(r), "EHLO client.example\r\n");
  CHECK_INT(drive(r, ehlo), MW_STEP_DONE);
  CHECK_STR(sent(r), "");
  CHECK(r->e.ready);
}

/* ---- a whole session, byte for byte ---- */

static void full_session_exact_bytes(void) {
  struct rig r;
  rig_init(&r);
  set_credentials(&r, "user", "secret-pw", "PLAIN");
  r.s.allow_plain_auth = 1;
  CHECK_INT(mw_smtp_engine_begin_connect(&r.e), MW_OK);
  CHECK_STR(queued(&r), "");
  CHECK_INT(drive(&r, "220 mx.example ESMTP\r\n"), MW_STEP_READ);
  CHECK_STR(sent(&r), "EHLO client.example\r\n");
  CHECK_INT(drive(&r, EHLO_FULL), MW_STEP_READ);
  CHECK_STR(sent(&r), "AUTH PLAIN AHVzZXIAc2VjcmV0LXB3\r\n");
  CHECK_INT(drive(&r, "235 2.7.0 Authentication successful\r\n"),
            MW_STEP_DONE);
  CHECK_STR(r.e.auth_used, "PLAIN");
  CHECK(mw_smtp_engine_has_extension(&r.e, "AUTH"));
  CHECK(mw_smtp_engine_has_extension(&r.e, "size"));
  CHECK_STR(mw_smtp_engine_extension_params(&r.e, "AUTH"),
            "PLAIN LOGIN CRAM-MD5");
  CHECK_STR(mw_smtp_engine_extension_params(&r.e, "PIPELINING"), "");
  CHECK(!mw_smtp_engine_has_extension(&r.e, "STARTTLS"));
  CHECK_STR(r.e.capabilities.data,
            "PIPELINING\nSIZE 10240000\nauth PLAIN LOGIN "
            "CRAM-MD5\nENHANCEDSTATUSCODES\n8BITMIME\nSMTPUTF8");

  const char *rcpts[] = {"bob@example.org"};
  const char msg[] = "Subject: hi\r\n\r\nHello\r\n.hidden\r\n";
  CHECK_INT(mw_smtp_engine_begin_send(&r.e, "alice@example.com", rcpts, 1, msg,
                                      strlen(msg)),
            MW_OK);
  CHECK_STR(queued(&r), "MAIL FROM:<alice@example.com> SIZE=31\r\n");
  CHECK_INT(drive(&r, "250 2.1.0 Ok\r\n"), MW_STEP_READ);
  CHECK_STR(sent(&r), "RCPT TO:<bob@example.org>\r\n");
  CHECK_INT(drive(&r, "250 2.1.5 Ok\r\n"), MW_STEP_READ);
  CHECK_STR(sent(&r), "DATA\r\n");
  CHECK_INT(drive(&r, "354 End data with <CR><LF>.<CR><LF>\r\n"),
            MW_STEP_READ);
  CHECK_STR(sent(&r), "Subject: hi\r\n\r\nHello\r\n..hidden\r\n.\r\n");
  CHECK_INT(drive(&r, "250 2.0.0 Ok: queued as ABC\r\n"), MW_STEP_DONE);
  CHECK_INT(r.s.err.code, MW_OK);
  CHECK_INT(r.e.nresults, 1);
  CHECK_INT(r.e.results[0].code, 250);
  CHECK_STR(r.e.results[0].enhanced, "2.1.5");
  CHECK_STR(r.e.results[0].text, "2.1.5 Ok");
  CHECK_INT(r.e.last_code, 250);
  CHECK_STR(r.e.last_text.data, "2.0.0 Ok: queued as ABC");

  CHECK_INT(mw_smtp_engine_begin_quit(&r.e), MW_OK);
  CHECK_STR(queued(&r), "QUIT\r\n");
  CHECK_INT(drive(&r, "221 2.0.0 Bye\r\n"), MW_STEP_DONE);
  CHECK_INT(r.s.err.code, MW_OK);
  CHECK(!r.e.ready);

  /* The log shows the dialogue, never the secret. */
  const char *log = r.log.data ? r.log.data : "";
  CHECK(tl_contains(log, r.log.len, "C: EHLO client.example"));
  CHECK(tl_contains(log, r.log.len, "S: 250-8BITMIME"));
  CHECK(tl_contains(log, r.log.len, "C: AUTH PLAIN <redacted>"));
  CHECK(tl_contains(log, r.log.len, "C: MAIL FROM:<alice@example.com>"));
  CHECK(!tl_contains(log, r.log.len, "AHVzZXIAc2VjcmV0LXB3"));
  CHECK(!tl_contains(log, r.log.len, "secret-pw"));
  rig_free(&r);
}

static void ehlo_refused_falls_back_to_helo(void) {
  struct rig r;
  rig_init(&r);
  CHECK_INT(mw_smtp_engine_begin_connect(&r.e), MW_OK);
  CHECK_INT(drive(&r, "220 old.example SMTP\r\n"), MW_STEP_READ);
  CHECK_INT(drive(&r, "502 5.5.2 Error: command not recognized\r\n"),
            MW_STEP_READ);
  CHECK_STR(sent(&r), "HELO client.example\r\n");
  CHECK_INT(drive(&r, "250 old.example\r\n"), MW_STEP_DONE);
  CHECK(r.e.ready);
  CHECK(!mw_smtp_engine_has_extension(&r.e, "SIZE"));
  CHECK_INT(r.s.err.code, MW_OK);
  rig_free(&r);
}

static void ehlo_refused_with_starttls_asked_is_tls_error(void) {
  struct rig r;
  rig_init(&r);
  mw_sslinfo *ssl = mw_sslinfo_new();
  mw_sslinfo_set_mode(ssl, MODE_STARTTLS);
  CHECK_INT(mw_session_set_handler(&r.s, ssl), MW_OK);
  mw_sslinfo_free(ssl);
  CHECK_INT(mw_smtp_engine_begin_connect(&r.e), MW_OK);
  CHECK_INT(drive(&r, "220 mx\r\n"), MW_STEP_READ);
  CHECK_INT(drive(&r, "502 5.5.2 no EHLO\r\n"), MW_STEP_ERROR);
  CHECK_STR(sent(&r), ""); /* no HELO: that would strip STARTTLS */
  CHECK_ERR(r.s.err.code, &r.s.err, errTLS, eexSSLStartTLSUnavailable);
  CHECK_INT(r.s.err.reply_code, 502);
  rig_free(&r);
}

static void greeting_refused(void) {
  struct rig r;
  rig_init(&r);
  CHECK_INT(mw_smtp_engine_begin_connect(&r.e), MW_OK);
  CHECK_INT(drive(&r, "554 5.3.2 no service for you\r\n"), MW_STEP_ERROR);
  CHECK_STR(sent(&r), "");
  CHECK_ERR(r.s.err.code, &r.s.err, errServer, eexSmtpServer);
  CHECK_INT(r.s.err.reply_code, 554);
  CHECK_STR(r.s.err.enhanced, "5.3.2");
  CHECK_STR(r.s.err.server_text, "5.3.2 no service for you");
  CHECK(!r.e.ready);
  rig_free(&r);
}

/* ---- reply framing ---- */

static void multi_line_replies_any_split(void) {
  /* The same dialogue fed one byte at a time. */
  const char *server = "220-mx.example\r\n220-second line\r\n220 last\r\n";
  struct rig r;
  rig_init(&r);
  CHECK_INT(mw_smtp_engine_begin_connect(&r.e), MW_OK);
  mw_step st = MW_STEP_READ;
  for (size_t i = 0; server[i]; i++) {
    char one[2] = {server[i], 0};
    st = drive(&r, one);
    if (server[i + 1])
      CHECK_INT(st, MW_STEP_READ);
  }
  CHECK_STR(sent(&r), "EHLO client.example\r\n");
  CHECK_INT(r.e.last_code, 220);
  CHECK_STR(r.e.last_text.data, "mx.example\nsecond line\nlast");
  /* A bare "250" ends a reply too, and LF-only endings are accepted. */
  CHECK_INT(drive(&r, "250-mx\n250"), MW_STEP_READ);
  CHECK_INT(drive(&r, "\r\n"), MW_STEP_DONE);
  rig_free(&r);
}

static void malformed_reply(const char *greeting, int number) {
  struct rig r;
  rig_init(&r);
  CHECK_INT(mw_smtp_engine_begin_connect(&r.e), MW_OK);
  CHECK_INT(drive(&r, greeting), MW_STEP_ERROR);
  CHECK_STR(sent(&r), "");
  CHECK_ERR(r.s.err.code, &r.s.err, errProtocol, number);
  rig_free(&r);
}

static void malformed_replies(void) {
  malformed_reply("220-a\r\n250 b\r\n", eexMalformedReply); /* mixed codes */
  malformed_reply("2x0 hello\r\n", eexMalformedReply);
  malformed_reply("22\r\n", eexMalformedReply);
  malformed_reply("220+hello\r\n", eexMalformedReply);
  malformed_reply("HTTP/1.1 400 Bad Request\r\n", eexMalformedReply);
  /* first digits outside 2-5 (found by fuzz_smtp: "188" to a RCPT) */
  malformed_reply("188 go\r\n", eexMalformedReply);
  malformed_reply("099 hello\r\n", eexMalformedReply);
  malformed_reply("600 hello\r\n", eexMalformedReply);
  /* One line over MW_MAX_LINE, even before its end arrives. */
  char *longline = malloc(MW_MAX_LINE + 16);
  memset(longline, 'x', MW_MAX_LINE + 8);
  memcpy(longline, "220 ", 4);
  longline[MW_MAX_LINE + 8] = '\0';
  malformed_reply(longline, eexLineTooLong);
  free(longline);
  /* Too many lines in one reply. */
  mw_buf many;
  mw_buf_init(&many);
  for (int i = 0; i < MW_MAX_REPLY_LINES + 5; i++)
    mw_buf_append_str(&many, "220-more\r\n");
  malformed_reply(many.data, eexLineTooLong);
  mw_buf_free(&many);
}

static void line_of_exactly_the_limit_is_accepted(void) {
  struct rig r;
  rig_init(&r);
  char *line = malloc(MW_MAX_LINE + 1);
  memset(line, 'y', MW_MAX_LINE);
  memcpy(line, "220 ", 4);
  memcpy(line + MW_MAX_LINE - 2, "\r\n", 2);
  line[MW_MAX_LINE] = '\0';
  CHECK_INT(mw_smtp_engine_begin_connect(&r.e), MW_OK);
  CHECK_INT(drive(&r, line), MW_STEP_READ);
  CHECK_STR(sent(&r), "EHLO client.example\r\n");
  free(line);
  rig_free(&r);
}

/* ---- the body: CRLF normalisation and dot-stuffing ---- */

/* The reference: the whole body at once, the simplest way. */
static void reference_body(const char *in, size_t n, mw_buf *out) {
  int bol = 1;
  for (size_t i = 0; i < n; i++) {
    if (in[i] == '\r' || in[i] == '\n') {
      if (in[i] == '\r' && i + 1 < n && in[i + 1] == '\n')
        i++;
      mw_buf_append(out, "\r\n", 2);
      bol = 1;
      continue;
    }
    if (bol && in[i] == '.')
      mw_buf_append(out, ".", 1);
    mw_buf_append(out, &in[i], 1);
    bol = 0;
  }
  if (!bol)
    mw_buf_append(out, "\r\n", 2);
  mw_buf_append(out, ".\r\n", 3);
}

struct feeder {
  const char *data;
  size_t len, pos, step;
  int abort_at; /* abort when pos reaches this (or -1) */
};

static long feed_cb(void *userdata, char *buf, size_t cap) {
  struct feeder *f = userdata;
  if (f->abort_at >= 0 && f->pos >= (size_t)f->abort_at)
    return -1;
  size_t n = f->len - f->pos;
  if (n > f->step)
    n = f->step;
  if (n > cap)
    n = cap;
  memcpy(buf, f->data + f->pos, n);
  f->pos += n;
  return (long)n;
}

/* Run one streamed send up to the body and return what went out as the
 * body (DATA's content and the final dot). */
static int stream_body(const char *body, size_t len, size_t step,
                       mw_buf *got) {
  struct rig r;
  rig_init(&r);
  connect_plain(&r, "250 mx\r\n");
  const char *rcpts[] = {"b@example.org"};
  struct feeder f = {body, len, 0, step, -1};
  int ok = mw_smtp_engine_begin_send_stream(&r.e, "a@example.com", rcpts, 1, 0,
                                            0, feed_cb, &f) == MW_OK;
  ok = ok && drive(&r, "250 ok\r\n") == MW_STEP_READ;
  ok = ok && drive(&r, "250 ok\r\n") == MW_STEP_READ;
  ok = ok && drive(&r, "354 go\r\n") == MW_STEP_READ;
  if (ok)
    mw_buf_append(got, r.sent.data, r.sent.len);
  ok = ok && drive(&r, "250 queued\r\n") == MW_STEP_DONE;
  rig_free(&r);
  return ok;
}

static void check_body(const char *body, size_t len, size_t step) {
  mw_buf want, got;
  mw_buf_init(&want);
  mw_buf_init(&got);
  reference_body(body, len, &want);
  CHECK(stream_body(body, len, step, &got));
  CHECK_INT(got.len, want.len);
  if (got.len == want.len && got.len)
    CHECK(memcmp(got.data, want.data, got.len) == 0);
  mw_buf_free(&want);
  mw_buf_free(&got);
}

static void dot_stuffing_and_crlf_fixed_cases(void) {
  static const struct {
    const char *in, *out;
  } cases[] = {
      {"", ".\r\n"},
      {"a", "a\r\n.\r\n"},
      {"a\r\n", "a\r\n.\r\n"},
      {"a\nb\n", "a\r\nb\r\n.\r\n"},
      {"a\rb\r", "a\r\nb\r\n.\r\n"},
      {"a\r\r\nb", "a\r\n\r\nb\r\n.\r\n"},
      {"\n\r", "\r\n\r\n.\r\n"},
      {".", "..\r\n.\r\n"},
      {".\r\n", "..\r\n.\r\n"},
      {"x\r\n.\r\ny", "x\r\n..\r\ny\r\n.\r\n"},
      {"x\n..y\n", "x\r\n...y\r\n.\r\n"},
      {"x.y\r\n", "x.y\r\n.\r\n"},
      {"a\r\n\r\n", "a\r\n\r\n.\r\n"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    for (size_t step = 1; step <= 3; step += 2) {
      mw_buf got;
      mw_buf_init(&got);
      CHECK(stream_body(cases[i].in, strlen(cases[i].in), step, &got));
      CHECK_STR(got.data ? got.data : "", cases[i].out);
      mw_buf_free(&got);
    }
  }
}

static void dot_stuffing_random_one_byte_chunks(void) {
  /* Bodies made of the bytes that matter, fed 1, 2 or 7 bytes at a time
   * and also whole; compared with the reference. Bounded count. */
  static const char alphabet[] = {'\r', '\n', '.', 'a', '\r', '\n', '.'};
  unsigned seed = 12345;
  char body[300];
  for (int round = 0; round < 300; round++) {
    seed = seed * 1103515245u + 12345u;
    size_t len = (seed >> 8) % sizeof body;
    for (size_t i = 0; i < len; i++) {
      seed = seed * 1103515245u + 12345u;
      body[i] = alphabet[(seed >> 16) % sizeof alphabet];
    }
    size_t steps[] = {1, 2, 7, sizeof body};
    check_body(body, len, steps[round % 4]);
  }
}

static void chunk_boundary_across_engine_chunks(void) {
  /* A CR at the very end of one 64 KiB engine chunk, its LF at the start
   * of the next, then a dot that starts the next chunk's line. */
  size_t len = MW_SMTP_CHUNK * 2 + 10;
  char *body = malloc(len);
  memset(body, 'q', len);
  body[MW_SMTP_CHUNK - 1] = '\r';
  body[MW_SMTP_CHUNK] = '\n';
  body[MW_SMTP_CHUNK + 1] = '.';
  body[2 * MW_SMTP_CHUNK - 1] = '\n';
  body[2 * MW_SMTP_CHUNK] = '.';
  check_body(body, len, MW_SMTP_CHUNK);
  check_body(body, len, MW_SMTP_CHUNK - 1);
  free(body);
}

static void read_callback_abort_never_completes(void) {
  struct rig r;
  rig_init(&r);
  connect_plain(&r, "250 mx\r\n");
  const char *rcpts[] = {"b@example.org"};
  size_t len = MW_SMTP_CHUNK * 3;
  char *body = malloc(len);
  memset(body, 'z', len);
  struct feeder f = {body, len, 0, MW_SMTP_CHUNK, MW_SMTP_CHUNK};
  CHECK_INT(mw_smtp_engine_begin_send_stream(&r.e, "a@example.com", rcpts, 1,
                                             0, 0, feed_cb, &f),
            MW_OK);
  CHECK_INT(drive(&r, "250 ok\r\n"), MW_STEP_READ);
  CHECK_INT(drive(&r, "250 ok\r\n"), MW_STEP_READ);
  CHECK_INT(drive(&r, "354 go\r\n"), MW_STEP_ERROR);
  CHECK_ERR(r.s.err.code, &r.s.err, errAborted, eexAborted);
  /* One chunk went out; the final dot never did. */
  CHECK_INT(r.sent.len, MW_SMTP_CHUNK);
  CHECK(!tl_contains(sent(&r), r.sent.len, "\r\n.\r\n"));
  free(body);
  rig_free(&r);
}

/* ---- MAIL parameters ---- */

static void mail_parameters(void) {
  const char *rcpts[] = {"b@example.org"};
  struct rig r;
  rig_init(&r);
  connect_plain(&r, EHLO_FULL);
  const char msg8[] = "Subject: caf\xc3\xa9\r\n\r\nna\xc3\xafve\r\n";
  CHECK_INT(mw_smtp_engine_begin_send(&r.e, "a@example.com", rcpts, 1, msg8,
                                      strlen(msg8)),
            MW_OK);
  /* A UTF-8 header asks for SMTPUTF8 when offered (RFC 6531 3.4). */
  CHECK_STR(queued(&r),
            "MAIL FROM:<a@example.com> SIZE=26 BODY=8BITMIME SMTPUTF8\r\n");
  CHECK_INT(drive(&r, "250 ok\r\n"), MW_STEP_READ);
  CHECK_INT(drive(&r, "250 ok\r\n"), MW_STEP_READ);
  CHECK_INT(drive(&r, "354 go\r\n"), MW_STEP_READ);
  CHECK_INT(drive(&r, "250 ok\r\n"), MW_STEP_DONE);

  /* A non-ASCII address asks for SMTPUTF8. */
  const char *u8[] = {"j\xc3\xb6rg@example.org"};
  CHECK_INT(mw_smtp_engine_begin_send_stream(&r.e, "a@example.com", u8, 1, 0,
                                             0, feed_cb, NULL),
            MW_OK);
  CHECK_STR(queued(&r), "MAIL FROM:<a@example.com> SMTPUTF8\r\n");
  CHECK_INT(drive(&r, "550 no\r\n"), MW_STEP_DONE);
  CHECK_ERR(r.s.err.code, &r.s.err, errServer, eexSmtpServer);
  CHECK_INT(r.s.err.reply_code, 550);
  mw_error_clear(&r.s.err);

  /* Larger than SIZE: refused locally. */
  CHECK_INT(mw_smtp_engine_begin_send_stream(&r.e, "a@example.com", rcpts, 1,
                                             10240001, 0, feed_cb, NULL),
            errServer);
  CHECK_ERR(r.s.err.code, &r.s.err, errServer, eexMessageTooLarge);
  CHECK_STR(queued(&r), "");
  rig_free(&r);

  /* No SMTPUTF8 offered: refused before sending; no 8BITMIME: no BODY. */
  rig_init(&r);
  connect_plain(&r, "250-mx\r\n250 SIZE\r\n");
  CHECK_INT(mw_smtp_engine_begin_send_stream(&r.e, "a@example.com", u8, 1,
                                             99999999, 0, feed_cb, NULL),
            errUnsupported);
  CHECK_ERR(r.s.err.code, &r.s.err, errUnsupported, eexUTF8Unsupported);
  CHECK_STR(queued(&r), "");
  CHECK_INT(mw_smtp_engine_begin_send(&r.e, "", rcpts, 1, msg8, strlen(msg8)),
            MW_OK);
  CHECK_STR(queued(&r), "MAIL FROM:<> SIZE=26\r\n");
  rig_free(&r);
}

/* ---- recipients ---- */

static void partial_refusal_sends_rset_not_data(void) {
  const char *rcpts[] = {"ok@example.org", "nobody@example.org",
                         "ok2@example.org"};
  struct rig r;
  rig_init(&r);
  connect_plain(&r, EHLO_FULL);
  CHECK_INT(mw_smtp_engine_begin_send(&r.e, "a@example.com", rcpts, 3, "x", 1),
            MW_OK);
  CHECK_STR(queued(&r), "MAIL FROM:<a@example.com> SIZE=1\r\n");
  CHECK_INT(drive(&r, "250 2.1.0 ok\r\n"), MW_STEP_READ);
  CHECK_STR(sent(&r), "RCPT TO:<ok@example.org>\r\n");
  CHECK_INT(drive(&r, "250 2.1.5 ok\r\n"), MW_STEP_READ);
  CHECK_STR(sent(&r), "RCPT TO:<nobody@example.org>\r\n");
  CHECK_INT(drive(&r, "550 5.1.1 <nobody@example.org>: unknown\r\n"),
            MW_STEP_READ);
  CHECK_STR(sent(&r), "RCPT TO:<ok2@example.org>\r\n");
  CHECK_INT(drive(&r, "250 2.1.5 ok\r\n"), MW_STEP_READ);
  CHECK_STR(sent(&r), "RSET\r\n");
  CHECK_INT(drive(&r, "250 2.0.0 ok\r\n"), MW_STEP_DONE);
  CHECK_ERR(r.s.err.code, &r.s.err, errServer, eexSmtpServer);
  CHECK_INT(r.s.err.reply_code, 550);
  CHECK_STR(r.s.err.enhanced, "5.1.1");
  CHECK_STR(r.s.err.server_text, "5.1.1 <nobody@example.org>: unknown");
  CHECK(tl_contains(r.s.err.text, strlen(r.s.err.text), "nobody@example"));
  CHECK_INT(r.e.nresults, 3);
  CHECK_INT(r.e.results[0].code, 250);
  CHECK_INT(r.e.results[1].code, 550);
  CHECK_STR(r.e.results[1].enhanced, "5.1.1");
  CHECK_INT(r.e.results[2].code, 250);
  mw_error_clear(&r.s.err);

  /* allow_partial: the accepted ones get the message. */
  r.e.allow_partial = 1;
  CHECK_INT(mw_smtp_engine_begin_send(&r.e, "a@example.com", rcpts, 3, "x", 1),
            MW_OK);
  CHECK_INT(drive(&r, "250 ok\r\n"), MW_STEP_READ);
  CHECK_INT(drive(&r, "250 ok\r\n"), MW_STEP_READ);
  CHECK_INT(drive(&r, "550 5.1.1 unknown\r\n"), MW_STEP_READ);
  CHECK_INT(drive(&r, "250 ok\r\n"), MW_STEP_READ);
  CHECK_STR(sent(&r), "DATA\r\n");
  CHECK_INT(drive(&r, "354 go\r\n"), MW_STEP_READ);
  CHECK_STR(sent(&r), "x\r\n.\r\n");
  CHECK_INT(drive(&r, "250 ok\r\n"), MW_STEP_DONE);
  CHECK_INT(r.s.err.code, MW_OK);

  /* ... but not when every recipient is refused. */
  const char *bad[] = {"nobody@example.org"};
  CHECK_INT(mw_smtp_engine_begin_send(&r.e, "a@example.com", bad, 1, "x", 1),
            MW_OK);
  CHECK_INT(drive(&r, "250 ok\r\n"), MW_STEP_READ);
  CHECK_INT(drive(&r, "450 4.2.0 greylisted\r\n"), MW_STEP_READ);
  CHECK_STR(sent(&r), "RSET\r\n");
  CHECK_INT(drive(&r, "250 ok\r\n"), MW_STEP_DONE);
  CHECK_ERR(r.s.err.code, &r.s.err, errServer, eexSmtpServer);
  CHECK_INT(r.s.err.reply_code, 450);
  rig_free(&r);
}

static void data_refusals(void) {
  const char *rcpts[] = {"b@example.org"};
  struct rig r;
  rig_init(&r);
  connect_plain(&r, EHLO_FULL);
  CHECK_INT(mw_smtp_engine_begin_send(&r.e, "a@example.com", rcpts, 1, "x", 1),
            MW_OK);
  CHECK_INT(drive(&r, "250 ok\r\n"), MW_STEP_READ);
  CHECK_INT(drive(&r, "250 ok\r\n"), MW_STEP_READ);
  CHECK_INT(drive(&r, "554 5.5.1 no valid recipients\r\n"), MW_STEP_READ);
  CHECK_STR(sent(&r), "RSET\r\n");
  CHECK_INT(drive(&r, "250 ok\r\n"), MW_STEP_DONE);
  CHECK_ERR(r.s.err.code, &r.s.err, errServer, eexSmtpServer);
  CHECK_INT(r.s.err.reply_code, 554);
  mw_error_clear(&r.s.err);

  CHECK_INT(mw_smtp_engine_begin_send(&r.e, "a@example.com", rcpts, 1, "x", 1),
            MW_OK);
  CHECK_INT(drive(&r, "250 ok\r\n"), MW_STEP_READ);
  CHECK_INT(drive(&r, "250 ok\r\n"), MW_STEP_READ);
  CHECK_INT(drive(&r, "354 go\r\n"), MW_STEP_READ);
  CHECK_INT(drive(&r, "552 5.3.4 message too big\r\n"), MW_STEP_DONE);
  CHECK_STR(sent(&r), "");
  CHECK_ERR(r.s.err.code, &r.s.err, errServer, eexSmtpServer);
  CHECK_INT(r.s.err.reply_code, 552);
  CHECK_STR(r.s.err.enhanced, "5.3.4");
  rig_free(&r);
}

static void bad_arguments_send_nothing(void) {
  struct rig r;
  rig_init(&r);
  connect_plain(&r, EHLO_FULL);
  const char *good[] = {"b@example.org"};
  const char *inject[] = {"b@example.org>\r\nRCPT TO:<evil@example.org"};
  const char *lf[] = {"ok@example.org", "b@x\nDATA"};
  CHECK_ERR(
      mw_smtp_engine_begin_send(&r.e, "a@example.com", inject, 1, "x", 1),
      &r.s.err, errInvalidArgument, eexInvalidArgument);
  CHECK_STR(queued(&r), "");
  CHECK_ERR(mw_smtp_engine_begin_send(&r.e, "a@example.com", lf, 2, "x", 1),
            &r.s.err, errInvalidArgument, eexInvalidArgument);
  CHECK_STR(queued(&r), "");
  CHECK_ERR(mw_smtp_engine_begin_send(&r.e, "a@x\r>", good, 1, "x", 1),
            &r.s.err, errInvalidArgument, eexInvalidArgument);
  CHECK_STR(queued(&r), "");
  CHECK_ERR(mw_smtp_engine_begin_send(&r.e, NULL, good, 1, "x", 1), &r.s.err,
            errInvalidArgument, eexInvalidArgument);
  CHECK_ERR(mw_smtp_engine_begin_send(&r.e, "a@x", good, 0, "x", 1), &r.s.err,
            errInvalidArgument, eexInvalidArgument);
  CHECK_ERR(mw_smtp_engine_begin_send(&r.e, "a@x", good, 1, NULL, 5), &r.s.err,
            errInvalidArgument, eexInvalidArgument);
  CHECK_ERR(
      mw_smtp_engine_begin_send_stream(&r.e, "a@x", good, 1, 0, 0, NULL, NULL),
      &r.s.err, errInvalidArgument, eexInvalidArgument);
  CHECK_STR(queued(&r), "");
  CHECK_INT(r.e.state, MW_SMTP_IDLE);
  rig_free(&r);

  /* Not connected. */
  rig_init(&r);
  CHECK_ERR(mw_smtp_engine_begin_send(&r.e, "a@x", good, 1, "x", 1), &r.s.err,
            errNotConnected, eexNotConnected);
  CHECK_ERR(mw_smtp_engine_begin_quit(&r.e), &r.s.err, errNotConnected,
            eexNotConnected);
  CHECK_ERR(mw_smtp_engine_begin_noop(&r.e), &r.s.err, errNotConnected,
            eexNotConnected);
  CHECK_STR(queued(&r), "");
  rig_free(&r);
}

static void noop_and_rset(void) {
  struct rig r;
  rig_init(&r);
  connect_plain(&r, EHLO_FULL);
  CHECK_INT(mw_smtp_engine_begin_noop(&r.e), MW_OK);
  CHECK_STR(queued(&r), "NOOP\r\n");
  CHECK_INT(drive(&r, "250 2.0.0 Ok\r\n"), MW_STEP_DONE);
  CHECK_INT(r.s.err.code, MW_OK);
  CHECK_INT(mw_smtp_engine_begin_rset(&r.e), MW_OK);
  CHECK_STR(queued(&r), "RSET\r\n");
  /* 421: the server leaves; the session is dropped, not kept (drop). */
  CHECK_INT(drive(&r, "421 4.4.2 shutting down\r\n"), MW_STEP_ERROR);
  CHECK_ERR(r.s.err.code, &r.s.err, errServer, eexSmtpServer);
  CHECK_INT(r.s.err.reply_code, 421);
  CHECK_INT(r.s.drop, 1);
  CHECK_STR(queued(&r), "");
  rig_free(&r);
}

/* ---- AUTH ---- */

static void auth_login_exchange(void) {
  struct rig r;
  rig_init(&r);
  set_credentials(&r, "user", "secret-pw", "LOGIN");
  r.s.allow_plain_auth = 1;
  CHECK_INT(mw_smtp_engine_begin_connect(&r.e), MW_OK);
  CHECK_INT(drive(&r, "220 mx\r\n"), MW_STEP_READ);
  CHECK_INT(drive(&r, EHLO_FULL), MW_STEP_READ);
  CHECK_STR(sent(&r), "AUTH LOGIN\r\n");
  CHECK_INT(drive(&r, "334 VXNlcm5hbWU6\r\n"), MW_STEP_READ);
  CHECK_STR(sent(&r), "dXNlcg==\r\n");
  CHECK_INT(drive(&r, "334 UGFzc3dvcmQ6\r\n"), MW_STEP_READ);
  CHECK_STR(sent(&r), "c2VjcmV0LXB3\r\n");
  CHECK_INT(drive(&r, "235 2.7.0 ok\r\n"), MW_STEP_DONE);
  CHECK_STR(r.e.auth_used, "LOGIN");
  CHECK(!tl_contains(r.log.data, r.log.len, "c2VjcmV0LXB3"));
  CHECK(!tl_contains(r.log.data, r.log.len, "secret-pw"));
  CHECK(!tl_contains(r.log.data, r.log.len, "dXNlcg=="));
  rig_free(&r);
}

static void auth_cram_md5_rfc2195(void) {
  struct rig r;
  rig_init(&r);
  /* No mechanism asked: CRAM-MD5 is the strongest offered. */
  set_credentials(&r, "tim", "tanstaaftanstaaf", NULL);
  r.s.allow_plain_auth = 1;
  CHECK_INT(mw_smtp_engine_begin_connect(&r.e), MW_OK);
  CHECK_INT(drive(&r, "220 mx\r\n"), MW_STEP_READ);
  CHECK_INT(drive(&r, EHLO_FULL), MW_STEP_READ);
  CHECK_STR(sent(&r), "AUTH CRAM-MD5\r\n");
  CHECK_INT(
      drive(&r, "334 PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+"
                "\r\n"),
      MW_STEP_READ);
  /* base64("tim b913a602c7eda7a495b4e6e7334d3890") */
  CHECK_STR(sent(&r), "dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw\r\n");
  CHECK_INT(drive(&r, "235 ok\r\n"), MW_STEP_DONE);
  CHECK_STR(r.e.auth_used, "CRAM-MD5");
  CHECK(!tl_contains(r.log.data, r.log.len, "dGltIGI5MTNh"));
  rig_free(&r);

  /* A challenge that is not base64. */
  rig_init(&r);
  set_credentials(&r, "tim", "tanstaaftanstaaf", "CRAM-MD5");
  r.s.allow_plain_auth = 1;
  CHECK_INT(mw_smtp_engine_begin_connect(&r.e), MW_OK);
  CHECK_INT(drive(&r, "220 mx\r\n"), MW_STEP_READ);
  CHECK_INT(drive(&r, EHLO_FULL), MW_STEP_READ);
  CHECK_INT(drive(&r, "334 !!not base64!!\r\n"), MW_STEP_ERROR);
  CHECK_ERR(r.s.err.code, &r.s.err, errProtocol, eexMalformedReply);
  rig_free(&r);
}

static void auth_xoauth2_error_challenge(void) {
  struct rig r;
  rig_init(&r);
  set_credentials(&r, "user", "tok-123", "XOAUTH2");
  r.s.allow_plain_auth = 1;
  CHECK_INT(mw_smtp_engine_begin_connect(&r.e), MW_OK);
  CHECK_INT(drive(&r, "220 mx\r\n"), MW_STEP_READ);
  CHECK_INT(drive(&r, "250-mx\r\n250 AUTH PLAIN XOAUTH2\r\n"), MW_STEP_READ);
  CHECK_STR(sent(&r), "AUTH XOAUTH2 "
                      "dXNlcj11c2VyAWF1dGg9QmVhcmVyIHRvay0xMjMBAQ==\r\n");
  CHECK_INT(drive(&r, "334 eyJzdGF0dXMiOiI0MDEifQ==\r\n"), MW_STEP_READ);
  CHECK_STR(sent(&r), "\r\n");
  CHECK_INT(drive(&r, "535 5.7.8 Username and Password not accepted\r\n"),
            MW_STEP_ERROR);
  CHECK_ERR(r.s.err.code, &r.s.err, errAuth, eexSmtpServer);
  CHECK_INT(r.s.err.reply_code, 535);
  CHECK_STR(r.s.err.enhanced, "5.7.8");
  CHECK(!tl_contains(r.log.data, r.log.len, "tok-123"));
  CHECK(!tl_contains(r.log.data, r.log.len, "dXNlcj11c2Vy"));
  rig_free(&r);
}

static void auth_failures(void) {
  struct rig r;
  /* Wrong password. */
  rig_init(&r);
  set_credentials(&r, "user", "wrong", "PLAIN");
  r.s.allow_plain_auth = 1;
  CHECK_INT(mw_smtp_engine_begin_connect(&r.e), MW_OK);
  CHECK_INT(drive(&r, "220 mx\r\n"), MW_STEP_READ);
  CHECK_INT(drive(&r, EHLO_FULL), MW_STEP_READ);
  CHECK_INT(drive(&r, "535 5.7.8 Error: authentication failed\r\n"),
            MW_STEP_ERROR);
  CHECK_ERR(r.s.err.code, &r.s.err, errAuth, eexSmtpServer);
  CHECK_INT(r.s.err.reply_code, 535);
  CHECK_STR(r.s.err.server_text, "5.7.8 Error: authentication failed");
  CHECK(!r.e.ready);
  rig_free(&r);

  /* Plaintext without permission: nothing after EHLO. */
  rig_init(&r);
  set_credentials(&r, "user", "secret-pw", NULL);
  CHECK_INT(mw_smtp_engine_begin_connect(&r.e), MW_OK);
  CHECK_INT(drive(&r, "220 mx\r\n"), MW_STEP_READ);
  CHECK_INT(drive(&r, EHLO_FULL), MW_STEP_ERROR);
  CHECK_STR(sent(&r), "");
  CHECK_ERR(r.s.err.code, &r.s.err, errAuth, eexAuthPlaintext);
  rig_free(&r);

  /* No common mechanism. */
  rig_init(&r);
  set_credentials(&r, "user", "secret-pw", "CRAM-MD5");
  r.s.allow_plain_auth = 1;
  CHECK_INT(mw_smtp_engine_begin_connect(&r.e), MW_OK);
  CHECK_INT(drive(&r, "220 mx\r\n"), MW_STEP_READ);
  CHECK_INT(drive(&r, "250-mx\r\n250 AUTH PLAIN LOGIN\r\n"), MW_STEP_ERROR);
  CHECK_STR(sent(&r), "");
  CHECK_ERR(r.s.err.code, &r.s.err, errAuth, eexAuthNoMechanism);
  rig_free(&r);

  /* No AUTH at all. */
  rig_init(&r);
  set_credentials(&r, "user", "secret-pw", NULL);
  r.s.allow_plain_auth = 1;
  CHECK_INT(mw_smtp_engine_begin_connect(&r.e), MW_OK);
  CHECK_INT(drive(&r, "220 mx\r\n"), MW_STEP_READ);
  CHECK_INT(drive(&r, "250-mx\r\n250 SIZE\r\n"), MW_STEP_ERROR);
  CHECK_ERR(r.s.err.code, &r.s.err, errAuth, eexAuthNoMechanism);
  rig_free(&r);

  /* Endless challenges are cut off. */
  rig_init(&r);
  set_credentials(&r, "user", "secret-pw", "LOGIN");
  r.s.allow_plain_auth = 1;
  CHECK_INT(mw_smtp_engine_begin_connect(&r.e), MW_OK);
  CHECK_INT(drive(&r, "220 mx\r\n"), MW_STEP_READ);
  CHECK_INT(drive(&r, EHLO_FULL), MW_STEP_READ);
  mw_step st = MW_STEP_READ;
  int rounds = 0;
  while (st == MW_STEP_READ && rounds < 50) {
    st = drive(&r, "334 UGFzc3dvcmQ6\r\n");
    rounds++;
  }
  CHECK_INT(st, MW_STEP_ERROR);
  CHECK_INT(rounds, MW_SMTP_MAX_AUTH_ROUNDS + 1);
  CHECK_ERR(r.s.err.code, &r.s.err, errProtocol, eexMalformedReply);
  rig_free(&r);
}

/* ---- STARTTLS ---- */

static void rig_starttls(struct rig *r) {
  rig_init(r);
  mw_sslinfo *ssl = mw_sslinfo_new();
  mw_sslinfo_set_mode(ssl, MODE_STARTTLS);
  CHECK_INT(mw_session_set_handler(&r->s, ssl), MW_OK);
  mw_sslinfo_free(ssl);
}

static void starttls_not_offered(void) {
  struct rig r;
  rig_starttls(&r);
  set_credentials(&r, "user", "secret-pw", NULL);
  CHECK_INT(mw_smtp_engine_begin_connect(&r.e), MW_OK);
  CHECK_INT(drive(&r, "220 mx\r\n"), MW_STEP_READ);
  CHECK_INT(drive(&r, "250-mx\r\n250 AUTH PLAIN\r\n"), MW_STEP_ERROR);
  CHECK_STR(sent(&r), "");
  CHECK_ERR(r.s.err.code, &r.s.err, errTLS, eexSSLStartTLSUnavailable);
  rig_free(&r);
}

static void starttls_refused(void) {
  struct rig r;
  rig_starttls(&r);
  CHECK_INT(mw_smtp_engine_begin_connect(&r.e), MW_OK);
  CHECK_INT(drive(&r, "220 mx\r\n"), MW_STEP_READ);
  CHECK_INT(drive(&r, "250-mx\r\n250 STARTTLS\r\n"), MW_STEP_READ);
  CHECK_STR(sent(&r), "STARTTLS\r\n");
  CHECK_INT(drive(&r, "454 4.7.0 TLS not available due to temporary "
                      "reason\r\n"),
            MW_STEP_ERROR);
  CHECK_STR(sent(&r), "");
  CHECK_ERR(r.s.err.code, &r.s.err, errTLS, eexSSLStartTLSRefused);
  CHECK_INT(r.s.err.reply_code, 454);
  CHECK_STR(r.s.err.enhanced, "4.7.0");
  rig_free(&r);
}

static void starttls_then_ehlo_again_then_auth(void) {
  struct rig r;
  rig_starttls(&r);
  set_credentials(&r, "user", "secret-pw", "PLAIN");
  CHECK_INT(mw_smtp_engine_begin_connect(&r.e), MW_OK);
  CHECK_INT(drive(&r, "220 mx\r\n"), MW_STEP_READ);
  /* Before TLS: AUTH offered too, but credentials wait for TLS. */
  CHECK_INT(drive(&r, "250-mx\r\n250-AUTH LOGIN\r\n250 STARTTLS\r\n"),
            MW_STEP_READ);
  CHECK_STR(sent(&r), "STARTTLS\r\n");
  CHECK_INT(drive(&r, "220 2.0.0 Ready to start TLS\r\n"), MW_STEP_TLS);
  CHECK_STR(sent(&r), "");
  CHECK_INT(mw_reader_pending(&r.e.in), 0);
  /* What was said before TLS is forgotten once the handshake is done. */
  CHECK_INT(drive(&r, ""), MW_STEP_READ);
  CHECK_STR(sent(&r), "EHLO client.example\r\n");
  CHECK(!mw_smtp_engine_has_extension(&r.e, "STARTTLS"));
  CHECK(!mw_smtp_engine_has_extension(&r.e, "AUTH"));
  CHECK_INT(drive(&r, "250-mx\r\n250 AUTH PLAIN\r\n"), MW_STEP_READ);
  CHECK_STR(sent(&r), "AUTH PLAIN AHVzZXIAc2VjcmV0LXB3\r\n");
  CHECK_INT(drive(&r, "235 ok\r\n"), MW_STEP_DONE);
  CHECK(r.e.ready);
  CHECK_INT(r.s.err.code, MW_OK);
  rig_free(&r);
}

static void starttls_reply_with_trailing_bytes_leaves_them(void) {
  /* The engine takes the 220 and no more: the pump sees the rest and
   * refuses the handshake (eexSSLInjection). */
  struct rig r;
  rig_starttls(&r);
  CHECK_INT(mw_smtp_engine_begin_connect(&r.e), MW_OK);
  CHECK_INT(drive(&r, "220 mx\r\n"), MW_STEP_READ);
  CHECK_INT(drive(&r, "250-mx\r\n250 STARTTLS\r\n"), MW_STEP_READ);
  CHECK_INT(drive(&r, "220 go\r\n250 injected\r\n"), MW_STEP_TLS);
  CHECK_INT(mw_reader_pending(&r.e.in), strlen("250 injected\r\n"));
  rig_free(&r);
}

/* ---- PIPELINING (RFC 2920) and CHUNKING/BDAT (RFC 3030) ---- */

static const char EHLO_PIPE[] = "250-mx\r\n250 PIPELINING\r\n";
static const char EHLO_PIPE_CHUNK[] =
    "250-mx\r\n250-PIPELINING\r\n250-CHUNKING\r\n250 BINARYMIME\r\n";

static void rig_pipe(struct rig *r, const char *ehlo) {
  rig_init(r);
  r->e.pipelining_on = 1;
  connect_plain(r, ehlo);
}

/* MAIL and every RCPT in one flight; DATA only after every RCPT reply,
 * and not at all when one is refused (allow_partial off). */
static void pipelined_flight_exact_bytes(void) {
  const char *rcpts[] = {"b@example.org", "c@example.org"};
  struct rig r;
  rig_pipe(&r, EHLO_PIPE);
  CHECK_INT(
      mw_smtp_engine_begin_send(&r.e, "a@example.com", rcpts, 2, "Hi\n", 3),
      MW_OK);
  CHECK_STR(queued(&r), "MAIL FROM:<a@example.com>\r\n"
                        "RCPT TO:<b@example.org>\r\n"
                        "RCPT TO:<c@example.org>\r\n");
  CHECK_INT(drive(&r, "250 2.1.0 ok\r\n"), MW_STEP_READ);
  CHECK_STR(sent(&r), "");
  CHECK_INT(drive(&r, "250 2.1.5 b ok\r\n"), MW_STEP_READ);
  CHECK_STR(sent(&r), "");
  CHECK_INT(drive(&r, "250 2.1.5 c ok\r\n"), MW_STEP_READ);
  CHECK_STR(sent(&r), "DATA\r\n");
  CHECK_INT(drive(&r, "354 go\r\n"), MW_STEP_READ);
  CHECK_STR(sent(&r), "Hi\r\n.\r\n");
  CHECK_INT(drive(&r, "250 2.0.0 queued\r\n"), MW_STEP_DONE);
  CHECK_INT(r.s.err.code, MW_OK);
  CHECK_INT(r.e.results[1].code, 250);
  CHECK_STR(r.e.results[1].text, "2.1.5 c ok");

  /* The second recipient refused mid-pipeline: no DATA, RSET. */
  CHECK_INT(
      mw_smtp_engine_begin_send(&r.e, "a@example.com", rcpts, 2, "Hi\n", 3),
      MW_OK);
  queued(&r);
  CHECK_INT(drive(&r, "250 ok\r\n250 2.1.5 b ok\r\n550 5.1.1 c unknown\r\n"),
            MW_STEP_READ);
  CHECK_STR(sent(&r), "RSET\r\n");
  CHECK_INT(drive(&r, "250 ok\r\n"), MW_STEP_DONE);
  CHECK_ERR(r.s.err.code, &r.s.err, errServer, eexSmtpServer);
  CHECK_INT(r.s.err.reply_code, 550);
  CHECK_STR(r.s.err.enhanced, "5.1.1");
  CHECK_INT(r.e.results[0].code, 250);
  CHECK_INT(r.e.results[1].code, 550);
  CHECK_STR(r.e.results[1].enhanced, "5.1.1");
  CHECK_STR(r.e.results[1].text, "5.1.1 c unknown");
  rig_free(&r);
}

/* allow_partial: DATA goes in the same flight; the refused recipient is
 * reported exactly and the others get the message. */
static void pipelined_partial_flight_includes_data(void) {
  const char *rcpts[] = {"b@example.org", "x@example.org", "c@example.org"};
  struct rig r;
  rig_pipe(&r, EHLO_PIPE);
  r.e.allow_partial = 1;
  CHECK_INT(
      mw_smtp_engine_begin_send(&r.e, "a@example.com", rcpts, 3, ".x", 2),
      MW_OK);
  CHECK_STR(queued(&r), "MAIL FROM:<a@example.com>\r\n"
                        "RCPT TO:<b@example.org>\r\n"
                        "RCPT TO:<x@example.org>\r\n"
                        "RCPT TO:<c@example.org>\r\n"
                        "DATA\r\n");
  CHECK_INT(drive(&r, "250 ok\r\n250 ok\r\n550 5.1.1 x unknown\r\n250 ok\r\n"
                      "354 go\r\n"),
            MW_STEP_READ);
  CHECK_STR(sent(&r), "..x\r\n.\r\n");
  CHECK_INT(drive(&r, "250 queued\r\n"), MW_STEP_DONE);
  CHECK_INT(r.s.err.code, MW_OK);
  CHECK_INT(r.e.results[0].code, 250);
  CHECK_INT(r.e.results[1].code, 550);
  CHECK_INT(r.e.results[2].code, 250);

  /* The sender refused: the RCPT and DATA replies are drained, nothing
   * more is sent, and the MAIL refusal is the error. */
  CHECK_INT(mw_smtp_engine_begin_send(&r.e, "a@example.com", rcpts, 1, "x", 1),
            MW_OK);
  queued(&r);
  CHECK_INT(drive(&r, "550 5.7.1 sender refused\r\n503 5.5.1 need MAIL\r\n"),
            MW_STEP_READ);
  CHECK_STR(sent(&r), "");
  CHECK_INT(drive(&r, "503 5.5.1 need RCPT\r\n"), MW_STEP_DONE);
  CHECK_STR(sent(&r), "");
  CHECK_ERR(r.s.err.code, &r.s.err, errServer, eexSmtpServer);
  CHECK_INT(r.s.err.reply_code, 550);
  CHECK_INT(r.e.results[0].code, 503);
  mw_error_clear(&r.s.err);

  /* Every recipient refused but DATA answered 354: closing is the only
   * way out; no body goes on the wire (drive checks out is empty). */
  CHECK_INT(mw_smtp_engine_begin_send(&r.e, "a@example.com", rcpts, 1, "x", 1),
            MW_OK);
  queued(&r);
  CHECK_INT(drive(&r, "250 ok\r\n550 no\r\n354 go\r\n"), MW_STEP_ERROR);
  CHECK_STR(sent(&r), "");
  CHECK_ERR(r.s.err.code, &r.s.err, errProtocol, eexMalformedReply);
  rig_free(&r);
}

/* Not offered, or turned off: one command at a time. */
static void no_pipelining_when_not_offered_or_off(void) {
  const char *rcpts[] = {"b@example.org", "c@example.org"};
  struct rig r;
  rig_pipe(&r, "250-mx\r\n250 CHUNKINGX\r\n");
  CHECK_INT(mw_smtp_engine_begin_send(&r.e, "a@example.com", rcpts, 2, "x", 1),
            MW_OK);
  CHECK_STR(queued(&r), "MAIL FROM:<a@example.com>\r\n");
  CHECK_INT(drive(&r, "250 ok\r\n"), MW_STEP_READ);
  CHECK_STR(sent(&r), "RCPT TO:<b@example.org>\r\n");
  rig_free(&r);

  rig_pipe(&r, EHLO_PIPE_CHUNK);
  r.e.pipelining_on = 0;
  r.e.chunking_on = 0;
  CHECK_INT(mw_smtp_engine_begin_send(&r.e, "a@example.com", rcpts, 2, "x", 1),
            MW_OK);
  CHECK_STR(queued(&r), "MAIL FROM:<a@example.com>\r\n");
  CHECK_INT(drive(&r, "250 ok\r\n"), MW_STEP_READ);
  CHECK_STR(sent(&r), "RCPT TO:<b@example.org>\r\n");
  CHECK_INT(drive(&r, "250 ok\r\n"), MW_STEP_READ);
  CHECK_STR(sent(&r), "RCPT TO:<c@example.org>\r\n");
  CHECK_INT(drive(&r, "250 ok\r\n"), MW_STEP_READ);
  CHECK_STR(sent(&r), "DATA\r\n"); /* chunking off: no BDAT */
  rig_free(&r);
}

/* BDAT: CRLF normalised, no dot-stuffing, a final CRLF added as for DATA,
 * the last chunk marked LAST. */
static void bdat_framing_small(void) {
  const char *rcpts[] = {"b@example.org"};
  struct rig r;
  rig_pipe(&r, EHLO_PIPE_CHUNK);
  const char msg[] = ".dot\nline\r\nend";
  CHECK_INT(mw_smtp_engine_begin_send(&r.e, "a@example.com", rcpts, 1, msg,
                                      strlen(msg)),
            MW_OK);
  CHECK_STR(queued(&r), "MAIL FROM:<a@example.com>\r\n"
                        "RCPT TO:<b@example.org>\r\n");
  CHECK_INT(drive(&r, "250 ok\r\n250 ok\r\n"), MW_STEP_READ);
  CHECK_STR(sent(&r), "BDAT 17 LAST\r\n.dot\r\nline\r\nend\r\n");
  CHECK_INT(drive(&r, "250 2.0.0 queued\r\n"), MW_STEP_DONE);
  CHECK_INT(r.s.err.code, MW_OK);
  CHECK_INT(r.e.last_code, 250);
  rig_free(&r);
}

static char *filled(size_t n, char c) {
  char *p = malloc(n);
  memset(p, c, n);
  return p;
}

/* 150,000 bytes: two full chunks and a LAST one, all in flight at once
 * with PIPELINING; one at a time without. */
static void bdat_framing_chunks(void) {
  const char *rcpts[] = {"b@example.org"};
  size_t n = 150000;
  char *body = filled(n, 'x');
  for (int pipe = 1; pipe >= 0; pipe--) {
    struct rig r;
    rig_pipe(&r, EHLO_PIPE_CHUNK);
    r.e.pipelining_on = pipe;
    struct feeder f = {body, n, 0, 65536, -1};
    CHECK_INT(mw_smtp_engine_begin_send_stream(&r.e, "a@example.com", rcpts, 1,
                                               0, 0, feed_cb, &f),
              MW_OK);
    queued(&r);
    if (!pipe)
      CHECK_INT(drive(&r, "250 ok\r\n"), MW_STEP_READ);
    CHECK_INT(drive(&r, pipe ? "250 ok\r\n250 ok\r\n" : "250 ok\r\n"),
              MW_STEP_READ);
    mw_buf all;
    mw_buf_init(&all);
    mw_buf_append(&all, r.sent.data, r.sent.len);
    if (!pipe) {
      CHECK_INT(r.sent.len, strlen("BDAT 65536\r\n") + 65536);
      CHECK_INT(drive(&r, "250 2.0.0 chunk\r\n"), MW_STEP_READ);
      mw_buf_append(&all, r.sent.data, r.sent.len);
      CHECK_INT(drive(&r, "250 2.0.0 chunk\r\n"), MW_STEP_READ);
      mw_buf_append(&all, r.sent.data, r.sent.len);
    }
    size_t head = strlen("BDAT 65536\r\n");
    CHECK_INT(all.len, 3 * head + 5 + n + 2); /* "BDAT 18930 LAST" */
    CHECK(memcmp(all.data, "BDAT 65536\r\n", head) == 0);
    CHECK(memcmp(all.data + head + 65536, "BDAT 65536\r\n", head) == 0);
    CHECK(memcmp(all.data + 2 * (head + 65536), "BDAT 18930 LAST\r\n",
                 head + 5) == 0);
    CHECK(memcmp(all.data + all.len - 2, "\r\n", 2) == 0);
    mw_buf_free(&all);
    CHECK_INT(drive(&r, pipe ? "250 a\r\n250 b\r\n250 2.0.0 queued\r\n"
                             : "250 2.0.0 queued\r\n"),
              MW_STEP_DONE);
    CHECK_INT(r.s.err.code, MW_OK);
    CHECK_STR(r.e.last_text.data, "2.0.0 queued");
    rig_free(&r);
  }
  free(body);
}

/* A refused chunk: no more chunks, the pipelined ones' replies drained,
 * then RSET; the refusal is the error. */
static void bdat_refused(void) {
  const char *rcpts[] = {"b@example.org"};
  size_t n = 150000;
  char *body = filled(n, 'y');
  struct rig r;
  rig_pipe(&r, EHLO_PIPE_CHUNK);
  struct feeder f = {body, n, 0, 65536, -1};
  CHECK_INT(mw_smtp_engine_begin_send_stream(&r.e, "a@example.com", rcpts, 1,
                                             0, 0, feed_cb, &f),
            MW_OK);
  queued(&r);
  CHECK_INT(drive(&r, "250 ok\r\n250 ok\r\n"), MW_STEP_READ);
  CHECK(tl_contains(sent(&r), r.sent.len, "BDAT 18930 LAST\r\n"));
  CHECK_INT(drive(&r, "552 5.3.4 too big\r\n"), MW_STEP_READ);
  CHECK_STR(sent(&r), "");
  CHECK_INT(drive(&r, "503 5.5.1 no\r\n503 5.5.1 no\r\n"), MW_STEP_READ);
  CHECK_STR(sent(&r), "RSET\r\n");
  CHECK_INT(drive(&r, "250 ok\r\n"), MW_STEP_DONE);
  CHECK_ERR(r.s.err.code, &r.s.err, errServer, eexSmtpServer);
  CHECK_INT(r.s.err.reply_code, 552);
  CHECK_STR(r.s.err.enhanced, "5.3.4");
  rig_free(&r);

  /* Without PIPELINING the refusal stops the body at once. */
  rig_pipe(&r, EHLO_PIPE_CHUNK);
  r.e.pipelining_on = 0;
  f.pos = 0;
  CHECK_INT(mw_smtp_engine_begin_send_stream(&r.e, "a@example.com", rcpts, 1,
                                             0, 0, feed_cb, &f),
            MW_OK);
  queued(&r);
  CHECK_INT(drive(&r, "250 ok\r\n"), MW_STEP_READ);
  CHECK_INT(drive(&r, "250 ok\r\n"), MW_STEP_READ);
  CHECK_INT(r.sent.len, strlen("BDAT 65536\r\n") + 65536);
  CHECK_INT(drive(&r, "554 5.6.0 refused\r\n"), MW_STEP_READ);
  CHECK_STR(sent(&r), "RSET\r\n");
  CHECK_INT(drive(&r, "250 ok\r\n"), MW_STEP_DONE);
  CHECK_ERR(r.s.err.code, &r.s.err, errServer, eexSmtpServer);
  CHECK_INT(r.s.err.reply_code, 554);
  rig_free(&r);
  free(body);
}

/* BINARYMIME: the bytes go unchanged (bare CR/LF, NUL, leading dot). */
static void binarymime_bytes_unchanged(void) {
  const char *rcpts[] = {"b@example.org"};
  const char body[] = {'.', 'a', '\n', 'b', '\r', '\0', 'c'};
  struct rig r;
  rig_init(&r);
  connect_plain(&r, "250-mx\r\n250-CHUNKING\r\n250 BINARYMIME\r\n");
  struct feeder f = {body, sizeof body, 0, 1, -1};
  CHECK_INT(mw_smtp_engine_begin_send_stream(&r.e, "a@example.com", rcpts, 1,
                                             0, MW_SEND_BINARYMIME, feed_cb,
                                             &f),
            MW_OK);
  CHECK_STR(queued(&r), "MAIL FROM:<a@example.com> BODY=BINARYMIME\r\n");
  CHECK_INT(drive(&r, "250 ok\r\n"), MW_STEP_READ);
  CHECK_INT(drive(&r, "250 ok\r\n"), MW_STEP_READ);
  /* One byte per read: six plain chunks, then the LAST one. */
  mw_buf want;
  mw_buf_init(&want);
  for (size_t i = 0; i + 1 < sizeof body; i++) {
    mw_buf_append_str(&want, "BDAT 1\r\n");
    mw_buf_append(&want, &body[i], 1);
    CHECK_INT(r.sent.len, want.len);
    CHECK(memcmp(r.sent.data, want.data, want.len) == 0);
    CHECK_INT(drive(&r, "250 ok\r\n"), MW_STEP_READ);
    mw_buf_reset(&want);
  }
  mw_buf_append_str(&want, "BDAT 1 LAST\r\nc");
  CHECK_INT(r.sent.len, want.len);
  CHECK(memcmp(r.sent.data, want.data, want.len) == 0);
  CHECK_INT(drive(&r, "250 queued\r\n"), MW_STEP_DONE);
  CHECK_INT(r.s.err.code, MW_OK);
  mw_buf_free(&want);
  rig_free(&r);
}

static void binarymime_unsupported_sends_nothing(void) {
  const char *rcpts[] = {"b@example.org"};
  struct feeder f = {"x", 1, 0, 1, -1};
  const char *ehlos[] = {"250-mx\r\n250 CHUNKING\r\n",
                         "250-mx\r\n250 BINARYMIME\r\n", EHLO_PIPE_CHUNK};
  for (int i = 0; i < 3; i++) {
    struct rig r;
    rig_pipe(&r, ehlos[i]);
    r.e.chunking_on = i < 2; /* the third: offered but turned off */
    int rc = mw_smtp_engine_begin_send_stream(
        &r.e, "a@example.com", rcpts, 1, 0, MW_SEND_BINARYMIME, feed_cb, &f);
    CHECK_ERR(rc, &r.s.err, errUnsupported, eexBinaryMIMEUnsupported);
    CHECK_STR(queued(&r), "");
    CHECK_INT(r.e.state, MW_SMTP_IDLE);
    rig_free(&r);
  }
}

/* ---- batches: several messages, pipelined across messages ---- */

static const char *const B_R1[] = {"b@example.org"};
static const char *const B_R2[] = {"b@example.org", "c@example.org"};
static const mw_smtp_message BATCH2[] = {
    {"a@example.com", B_R1, 1, "one\n", 4},
    {"a@example.com", B_R2, 2, "two", 3}};

/* With CHUNKING: both whole messages go before any reply is read. */
static void batch_chunking_exact_bytes(void) {
  struct rig r;
  rig_pipe(&r, EHLO_PIPE_CHUNK);
  CHECK_INT(mw_smtp_engine_begin_batch(&r.e, BATCH2, 2), MW_OK);
  CHECK_INT(drive(&r, ""), MW_STEP_READ);
  CHECK_STR(sent(&r), "MAIL FROM:<a@example.com>\r\n"
                      "RCPT TO:<b@example.org>\r\n"
                      "BDAT 5 LAST\r\none\r\n"
                      "MAIL FROM:<a@example.com>\r\n"
                      "RCPT TO:<b@example.org>\r\n"
                      "RCPT TO:<c@example.org>\r\n"
                      "BDAT 5 LAST\r\ntwo\r\n");
  CHECK_INT(drive(&r, "250 ok\r\n250 ok\r\n250 2.0.0 q1\r\n250 ok\r\n"),
            MW_STEP_READ);
  CHECK_INT(mw_smtp_engine_batch_code(&r.e, 0), 250);
  CHECK_INT(mw_smtp_engine_batch_code(&r.e, 1), 0); /* not yet answered */
  CHECK_INT(drive(&r, "250 ok\r\n550 5.1.1 c unknown\r\n250 2.0.0 q2\r\n"),
            MW_STEP_DONE);
  CHECK_STR(sent(&r), "");
  CHECK_ERR(r.s.err.code, &r.s.err, errServer, eexSmtpServer);
  CHECK_INT(r.s.err.reply_code, 550);
  CHECK_INT(mw_smtp_engine_batch_count(&r.e), 2);
  CHECK_STR(mw_smtp_engine_batch_text(&r.e, 0), "2.0.0 q1");
  CHECK_STR(mw_smtp_engine_batch_enhanced(&r.e, 1), "2.0.0");
  size_t n = 0;
  const mw_smtp_rcpt_result *rr = mw_smtp_engine_batch_rcpt(&r.e, 1, 1, &n);
  CHECK_INT(n, 2);
  CHECK(rr != NULL);
  if (rr) {
    CHECK_INT(rr->code, 550);
    CHECK_STR(rr->text, "5.1.1 c unknown");
  }
  CHECK_INT(r.e.state, MW_SMTP_IDLE);
  rig_free(&r);
}

/* Without CHUNKING: the body waits for 354; the next message's commands
 * follow the final dot in the same flight. */
static void batch_data_exact_bytes(void) {
  struct rig r;
  rig_pipe(&r, EHLO_PIPE);
  CHECK_INT(mw_smtp_engine_begin_batch(&r.e, BATCH2, 2), MW_OK);
  CHECK_INT(drive(&r, ""), MW_STEP_READ);
  CHECK_STR(sent(&r), "MAIL FROM:<a@example.com>\r\n"
                      "RCPT TO:<b@example.org>\r\nDATA\r\n");
  CHECK_INT(drive(&r, "250 ok\r\n250 ok\r\n354 go\r\n"), MW_STEP_READ);
  CHECK_STR(sent(&r), "one\r\n.\r\n"
                      "MAIL FROM:<a@example.com>\r\n"
                      "RCPT TO:<b@example.org>\r\n"
                      "RCPT TO:<c@example.org>\r\nDATA\r\n");
  CHECK_INT(drive(&r, "250 q1\r\n250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n"),
            MW_STEP_READ);
  CHECK_STR(sent(&r), "two\r\n.\r\n");
  CHECK_INT(drive(&r, "250 q2\r\n"), MW_STEP_DONE);
  CHECK_INT(r.s.err.code, MW_OK);
  CHECK_INT(mw_smtp_engine_batch_code(&r.e, 0), 250);
  CHECK_INT(mw_smtp_engine_batch_code(&r.e, 1), 250);

  /* The first message's sender refused: DATA's refusal, RSET, and the
   * second goes on. */
  CHECK_INT(mw_smtp_engine_begin_batch(&r.e, BATCH2, 2), MW_OK);
  CHECK_INT(drive(&r, ""), MW_STEP_READ);
  CHECK_INT(drive(&r, "550 5.7.1 no\r\n503 5.5.1 no\r\n503 5.5.1 no data\r\n"),
            MW_STEP_READ);
  CHECK_STR(sent(&r), "RSET\r\n"
                      "MAIL FROM:<a@example.com>\r\n"
                      "RCPT TO:<b@example.org>\r\n"
                      "RCPT TO:<c@example.org>\r\nDATA\r\n");
  CHECK_INT(drive(&r, "250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n"),
            MW_STEP_READ);
  CHECK_STR(sent(&r), "two\r\n.\r\n");
  CHECK_INT(drive(&r, "250 q2\r\n"), MW_STEP_DONE);
  CHECK_ERR(r.s.err.code, &r.s.err, errServer, eexSmtpServer);
  CHECK_INT(r.s.err.reply_code, 550);
  CHECK_INT(mw_smtp_engine_batch_code(&r.e, 0), 550);
  CHECK_STR(mw_smtp_engine_batch_text(&r.e, 0), "5.7.1 no");
  CHECK_INT(mw_smtp_engine_batch_code(&r.e, 1), 250);
  rig_free(&r);
}

/* No PIPELINING (or turned off): one command, its reply, the next. */
static void batch_without_pipelining(void) {
  struct rig r;
  rig_pipe(&r, EHLO_PIPE_CHUNK);
  r.e.pipelining_on = 0;
  CHECK_INT(mw_smtp_engine_begin_batch(&r.e, BATCH2, 2), MW_OK);
  CHECK_INT(drive(&r, ""), MW_STEP_READ);
  CHECK_STR(sent(&r), "MAIL FROM:<a@example.com>\r\n");
  CHECK_INT(drive(&r, "250 ok\r\n"), MW_STEP_READ);
  CHECK_STR(sent(&r), "RCPT TO:<b@example.org>\r\n");
  CHECK_INT(drive(&r, "250 ok\r\n"), MW_STEP_READ);
  CHECK_STR(sent(&r), "BDAT 5 LAST\r\none\r\n");
  CHECK_INT(drive(&r, "250 ok\r\n"), MW_STEP_READ);
  CHECK_STR(sent(&r), "MAIL FROM:<a@example.com>\r\n");
  rig_free(&r);
}

/* A bad message anywhere: refused before anything is sent. */
static void batch_bad_arguments_send_nothing(void) {
  struct rig r;
  rig_pipe(&r, EHLO_PIPE_CHUNK);
  mw_smtp_message bad[] = {BATCH2[0], BATCH2[1]};
  bad[1].nrcpts = 0;
  CHECK_ERR(mw_smtp_engine_begin_batch(&r.e, bad, 2), &r.s.err,
            errInvalidArgument, eexInvalidArgument);
  bad[1] = BATCH2[1];
  bad[1].data = NULL;
  CHECK_ERR(mw_smtp_engine_begin_batch(&r.e, bad, 2), &r.s.err,
            errInvalidArgument, eexInvalidArgument);
  const char *const u8[] = {"j\xc3\xb6rg@example.org"};
  bad[1] = BATCH2[1];
  bad[1].rcpts = u8;
  bad[1].nrcpts = 1;
  CHECK_ERR(mw_smtp_engine_begin_batch(&r.e, bad, 2), &r.s.err, errUnsupported,
            eexUTF8Unsupported);
  CHECK_STR(queued(&r), "");
  CHECK_INT(r.e.state, MW_SMTP_IDLE);
  rig_free(&r);
}

static size_t count_of(const char *hay, const char *needle) {
  size_t n = 0;
  for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
    n++;
  return n;
}

/* The window: at most 100 commands unanswered; each reply lets one more
 * go. A 150,000-byte message goes in bounded BDAT chunks. */
static void batch_window_is_bounded(void) {
  enum { N = 60 };
  mw_smtp_message msgs[N];
  for (int i = 0; i < N; i++)
    msgs[i] = (mw_smtp_message){"a@example.com", B_R1, 1, "x", 1};
  struct rig r;
  rig_pipe(&r, EHLO_PIPE_CHUNK);
  CHECK_INT(mw_smtp_engine_begin_batch(&r.e, msgs, N), MW_OK);
  CHECK_INT(drive(&r, ""), MW_STEP_READ);
  /* 33 whole messages (3 commands each) and the 34th's MAIL. */
  CHECK_INT(count_of(sent(&r), "MAIL FROM"), 34);
  CHECK_INT(count_of(sent(&r), "BDAT 3 LAST"), 33);
  CHECK_INT(drive(&r, "250 ok\r\n"), MW_STEP_READ);
  CHECK_STR(sent(&r), "RCPT TO:<b@example.org>\r\n");
  CHECK_INT(drive(&r, "250 ok\r\n250 ok\r\n"), MW_STEP_READ);
  CHECK_STR(sent(&r), "BDAT 3 LAST\r\nx\r\nMAIL FROM:<a@example.com>\r\n");
  CHECK_INT(mw_smtp_engine_batch_code(&r.e, 0), 250);
  CHECK_INT(mw_smtp_engine_batch_code(&r.e, 1), 0);
  rig_free(&r);

  size_t big = 150000;
  char *body = filled(big, 'z');
  mw_smtp_message one = {"a@example.com", B_R1, 1, body, big};
  rig_pipe(&r, EHLO_PIPE_CHUNK);
  CHECK_INT(mw_smtp_engine_begin_batch(&r.e, &one, 1), MW_OK);
  CHECK_INT(drive(&r, ""), MW_STEP_READ);
  CHECK_INT(count_of(sent(&r), "BDAT 65536\r\n"), 2);
  CHECK_INT(count_of(sent(&r), "BDAT 18930 LAST\r\n"), 1);
  CHECK_INT(r.sent.len, strlen("MAIL FROM:<a@example.com>\r\n"
                               "RCPT TO:<b@example.org>\r\n") +
                            2 * 12 + 17 + big + 2);
  CHECK_INT(drive(&r, "250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n250 done\r\n"),
            MW_STEP_DONE);
  CHECK_INT(r.s.err.code, MW_OK);
  CHECK_INT(mw_smtp_engine_batch_code(&r.e, 0), 250);
  CHECK_STR(mw_smtp_engine_batch_text(&r.e, 0), "done");
  rig_free(&r);
  free(body);
}

int main(void) {
  RUN(full_session_exact_bytes);
  RUN(ehlo_refused_falls_back_to_helo);
  RUN(ehlo_refused_with_starttls_asked_is_tls_error);
  RUN(greeting_refused);
  RUN(multi_line_replies_any_split);
  RUN(malformed_replies);
  RUN(line_of_exactly_the_limit_is_accepted);
  RUN(dot_stuffing_and_crlf_fixed_cases);
  RUN(dot_stuffing_random_one_byte_chunks);
  RUN(chunk_boundary_across_engine_chunks);
  RUN(read_callback_abort_never_completes);
  RUN(mail_parameters);
  RUN(partial_refusal_sends_rset_not_data);
  RUN(data_refusals);
  RUN(bad_arguments_send_nothing);
  RUN(noop_and_rset);
  RUN(auth_login_exchange);
  RUN(auth_cram_md5_rfc2195);
  RUN(auth_xoauth2_error_challenge);
  RUN(auth_failures);
  RUN(starttls_not_offered);
  RUN(starttls_refused);
  RUN(starttls_then_ehlo_again_then_auth);
  RUN(starttls_reply_with_trailing_bytes_leaves_them);
  RUN(pipelined_flight_exact_bytes);
  RUN(pipelined_partial_flight_includes_data);
  RUN(no_pipelining_when_not_offered_or_off);
  RUN(bdat_framing_small);
  RUN(bdat_framing_chunks);
  RUN(bdat_refused);
  RUN(binarymime_bytes_unchanged);
  RUN(binarymime_unsupported_sends_nothing);
  RUN(batch_chunking_exact_bytes);
  RUN(batch_data_exact_bytes);
  RUN(batch_without_pipelining);
  RUN(batch_bad_arguments_send_nothing);
  RUN(batch_window_is_bounded);
  return tl_finish();
}
