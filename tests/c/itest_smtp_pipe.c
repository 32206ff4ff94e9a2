/* itest_smtp_pipe.c - PIPELINING, CHUNKING/BDAT and batches against the
 * real Postfix of the servers fixture (it offers both; delivery checked in
 * the Dovecot maildir) and against the scripted server for refusals and
 * lost connections mid-pipeline. Only loopback is contacted. */
#include "testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char log_text[1 << 20];
static size_t log_len;

static void collect_log(void *userdata, int severity, int facility,
                        const char *message) {
  (void)userdata;
  (void)severity;
  (void)facility;
  size_t n = strlen(message);
  if (log_len + n + 2 < sizeof log_text) {
    memcpy(log_text + log_len, message, n);
    log_text[log_len + n] = '\n';
    log_len += n + 1;
    log_text[log_len] = '\0';
  }
}

static void log_reset(void) {
  log_len = 0;
  log_text[0] = '\0';
}

static mw_smtp *client(unsigned port, int timeout_ms) {
  mw_smtp *c = mw_smtp_new();
  CHECK(c != NULL);
  CHECK_INT(mw_smtp_set_server(c, "127.0.0.1", port), MW_OK);
  CHECK_INT(mw_smtp_set_timeout(c, timeout_ms), MW_OK);
  CHECK_INT(mw_smtp_set_helo_name(c, "itest.mailwire.test"), MW_OK);
  mw_loghandler *lh = mw_loghandler_new(collect_log, NULL);
  CHECK_INT(mw_smtp_set_loghandler(c, lh), MW_OK);
  mw_loghandler_free(lh);
  return c;
}

static void unique_marker(char *buf, size_t cap, const char *what) {
  static int counter;
  snprintf(buf, cap, "mw-pipe-%s-%ld-%d-%d-end", what, (long)time(NULL),
           (int)getpid(), ++counter);
}

static const char *rcpt_address(char *buf, size_t cap) {
  snprintf(buf, cap, "%s@%s", tl_env("USER"), tl_env("MAIL_DOMAIN"));
  return buf;
}

/* The delivered file holds the body (LF line ends in the maildir). */
static void check_delivered(const char *marker, const char *lf_body) {
  size_t len = 0;
  char *got = tl_wait_delivery(tl_env("USER"), marker, 30000, &len);
  CHECK(got != NULL);
  if (got && !tl_contains(got, len, lf_body))
    tl_fail(__FILE__, __LINE__, "delivered message lacks the body: %.200s",
            got);
  free(got);
}

/* ---- real Postfix: one send per setting ---- */

static void postfix_send(int pipelining, int chunking) {
  mw_smtp *c = client(tl_env_port("SMTP_NOTLS_PORT"), 15000);
  CHECK_INT(mw_smtp_set_pipelining(c, pipelining), MW_OK);
  CHECK_INT(mw_smtp_set_chunking(c, chunking), MW_OK);
  CHECK_ERR(mw_smtp_connect(c), mw_smtp_extended_error(c), MW_OK, eexNone);
  CHECK(mw_smtp_has_extension(c, "PIPELINING"));
  CHECK(mw_smtp_has_extension(c, "CHUNKING"));
  char marker[128], to[256], msg[1024];
  unique_marker(marker, sizeof marker, chunking ? "bdat" : "data");
  const char *rcpts[] = {rcpt_address(to, sizeof to), to};
  snprintf(msg, sizeof msg,
           "Subject: %s\n\n.starts with a dot\nbare LF line\r\n%s\n", marker,
           marker);
  log_reset();
  int rc = mw_smtp_send(c, to, rcpts, 2, msg, strlen(msg));
  CHECK_ERR(rc, mw_smtp_extended_error(c), MW_OK, eexNone);
  CHECK_INT(mw_smtp_rcpt_count(c), 2);
  CHECK_INT(mw_smtp_rcpt_code(c, 0), 250);
  CHECK_INT(mw_smtp_rcpt_code(c, 1), 250);
  CHECK_INT(mw_smtp_last_reply_code(c), 250);
  CHECK_INT(tl_contains(log_text, log_len, "C: BDAT "), chunking);
  CHECK_INT(tl_contains(log_text, log_len, "C: DATA"), !chunking);
  if (rc == MW_OK)
    check_delivered(marker, "\n.starts with a dot\nbare LF line\n");
  CHECK_INT(mw_smtp_quit(c), MW_OK);
  mw_smtp_free(c);
}

static void postfix_pipelined_sends(void) {
  postfix_send(1, 1);
  postfix_send(1, 0);
  postfix_send(0, 1);
  postfix_send(0, 0);
}

/* Postfix offers CHUNKING but not BINARYMIME: refused before anything is
 * sent, and the connection stays usable. */
static long one_x(void *userdata, char *buf, size_t cap) {
  int *done = userdata;
  if (*done || cap == 0)
    return 0;
  buf[0] = 'x';
  *done = 1;
  return 1;
}

static void postfix_binarymime_unsupported(void) {
  mw_smtp *c = client(tl_env_port("SMTP_NOTLS_PORT"), 15000);
  CHECK_INT(mw_smtp_connect(c), MW_OK);
  CHECK(!mw_smtp_has_extension(c, "BINARYMIME"));
  char to[256];
  const char *rcpts[] = {rcpt_address(to, sizeof to)};
  int done = 0;
  log_reset();
  int rc = mw_smtp_send_stream(c, to, rcpts, 1, 0, MW_SEND_BINARYMIME, one_x,
                               &done);
  CHECK_ERR(rc, mw_smtp_extended_error(c), errUnsupported,
            eexBinaryMIMEUnsupported);
  CHECK(!tl_contains(log_text, log_len, "MAIL FROM"));
  CHECK_INT(done, 0);
  CHECK_INT(mw_smtp_noop(c), MW_OK);
  CHECK_INT(mw_smtp_quit(c), MW_OK);
  mw_smtp_free(c);
}

/* ---- the scripted server ---- */

struct scripted {
  tl_server *srv;
  mw_smtp *c;
};

static void scripted_start(struct scripted *t, const char *script) {
  t->srv = tl_server_start(script);
  CHECK(t->srv != NULL);
  t->c = client(t->srv ? tl_server_port(t->srv) : 1, 5000);
}

static const char *scripted_end(struct scripted *t, size_t *len) {
  mw_smtp_free(t->c);
  t->c = NULL;
  if (tl_server_wait(t->srv, 15000) != 0)
    tl_fail(__FILE__, __LINE__, "script failed: %s", tl_server_error(t->srv));
  return tl_server_received(t->srv, len);
}

#define GREET_EHLO "S: 220 scripted ESMTP\nC: EHLO itest.mailwire.test\n"
#define EHLO_PIPE GREET_EHLO "S: 250-scripted\nS: 250 PIPELINING\n"
#define EHLO_PIPE_CHUNK                                                       \
  GREET_EHLO "S: 250-scripted\nS: 250-PIPELINING\nS: 250 CHUNKING\n"

static const char *const RCPTS3[] = {"r1@example.org", "r2@example.org",
                                     "r3@example.org"};

/* The whole flight is read before any reply is given: the client did not
 * wait. The refused recipient's result is exact; the others got the
 * message (allow_partial). */
static void partial_refusal_mid_pipeline(void) {
  struct scripted t;
  scripted_start(&t, EHLO_PIPE "C: MAIL FROM:<a@example.org>\n"
                               "C: RCPT TO:<r1@example.org>\n"
                               "C: RCPT TO:<r2@example.org>\n"
                               "C: RCPT TO:<r3@example.org>\n"
                               "C: DATA\n"
                               "S: 250 2.1.0 ok\n"
                               "S: 250 2.1.5 ok\n"
                               "S: 450 4.2.1 r2 busy\n"
                               "S: 250 2.1.5 ok r3\n"
                               "S: 354 go\n"
                               "DATA\n"
                               "S: 250 2.0.0 queued\n"
                               "C: QUIT\nS: 221 bye\n");
  CHECK_INT(mw_smtp_set_allow_partial(t.c, 1), MW_OK);
  CHECK_INT(mw_smtp_connect(t.c), MW_OK);
  CHECK_ERR(mw_smtp_send(t.c, "a@example.org", RCPTS3, 3, "hi\r\n", 4),
            mw_smtp_extended_error(t.c), MW_OK, eexNone);
  CHECK_INT(mw_smtp_rcpt_count(t.c), 3);
  CHECK_INT(mw_smtp_rcpt_code(t.c, 0), 250);
  CHECK_INT(mw_smtp_rcpt_code(t.c, 1), 450);
  CHECK_STR(mw_smtp_rcpt_enhanced_status(t.c, 1), "4.2.1");
  CHECK_STR(mw_smtp_rcpt_text(t.c, 1), "4.2.1 r2 busy");
  CHECK_INT(mw_smtp_rcpt_code(t.c, 2), 250);
  CHECK_STR(mw_smtp_rcpt_text(t.c, 2), "2.1.5 ok r3");
  CHECK_INT(mw_smtp_quit(t.c), MW_OK);
  size_t len;
  const char *rx = scripted_end(&t, &len);
  CHECK(tl_contains(rx, len, "DATA\r\nhi\r\n.\r\nQUIT\r\n"));
  tl_server_free(t.srv);
}

/* allow_partial off: no DATA until every RCPT reply is in (QUIET proves
 * it), then RSET instead. */
static void refusal_mid_pipeline_no_data(void) {
  struct scripted t;
  scripted_start(&t, EHLO_PIPE "C: MAIL FROM:<a@example.org>\n"
                               "C: RCPT TO:<r1@example.org>\n"
                               "C: RCPT TO:<r2@example.org>\n"
                               "C: RCPT TO:<r3@example.org>\n"
                               "QUIET 300\n"
                               "S: 250 2.1.0 ok\n"
                               "S: 550 5.1.1 r1 unknown\n"
                               "S: 250 2.1.5 ok\n"
                               "S: 250 2.1.5 ok\n"
                               "C: RSET\nS: 250 ok\n"
                               "C: QUIT\nS: 221 bye\n");
  CHECK_INT(mw_smtp_connect(t.c), MW_OK);
  const mw_errorinfo *ei = mw_smtp_extended_error(t.c);
  CHECK_ERR(mw_smtp_send(t.c, "a@example.org", RCPTS3, 3, "hi\r\n", 4), ei,
            errServer, eexSmtpServer);
  CHECK_INT(mw_errorinfo_reply_code(ei), 550);
  CHECK_STR(mw_errorinfo_enhanced_status(ei), "5.1.1");
  CHECK_INT(mw_smtp_rcpt_code(t.c, 0), 550);
  CHECK_INT(mw_smtp_rcpt_code(t.c, 1), 250);
  CHECK_INT(mw_smtp_rcpt_code(t.c, 2), 250);
  CHECK_INT(mw_smtp_quit(t.c), MW_OK);
  size_t len;
  const char *rx = scripted_end(&t, &len);
  CHECK(!tl_contains(rx, len, "DATA"));
  tl_server_free(t.srv);
}

/* The server goes away after two of the replies: error, the unanswered
 * recipients have code 0, and the message is not reported sent. */
static void connection_lost_mid_pipeline(void) {
  struct scripted t;
  scripted_start(&t, EHLO_PIPE "C: MAIL FROM:<a@example.org>\n"
                               "C: RCPT TO:<r1@example.org>\n"
                               "C: RCPT TO:<r2@example.org>\n"
                               "C: RCPT TO:<r3@example.org>\n"
                               "C: DATA\n"
                               "S: 250 2.1.0 ok\n"
                               "S: 250 2.1.5 ok\n"
                               "CLOSE\n");
  CHECK_INT(mw_smtp_set_allow_partial(t.c, 1), MW_OK);
  CHECK_INT(mw_smtp_connect(t.c), MW_OK);
  int rc = mw_smtp_send(t.c, "a@example.org", RCPTS3, 3, "hi\r\n", 4);
  CHECK_ERR(rc, mw_smtp_extended_error(t.c), errNetwork, eexServerClosed);
  CHECK(!mw_smtp_is_connected(t.c));
  CHECK_INT(mw_smtp_rcpt_code(t.c, 0), 250);
  CHECK_INT(mw_smtp_rcpt_code(t.c, 1), 0);
  CHECK_INT(mw_smtp_rcpt_code(t.c, 2), 0);
  CHECK(mw_smtp_last_reply_code(t.c) != 250 ||
        strcmp(mw_smtp_last_reply_text(t.c), "2.1.5 ok") == 0);
  size_t len;
  const char *rx = scripted_end(&t, &len);
  CHECK(!tl_contains(rx, len, "hi\r\n"));
  tl_server_free(t.srv);
}

/* BDAT refused: RSET follows, no further chunk, the refusal is the
 * error. */
static void bdat_refused_scripted(void) {
  struct scripted t;
  scripted_start(&t, EHLO_PIPE_CHUNK "C: MAIL FROM:<a@example.org>\n"
                                     "C: RCPT TO:<r1@example.org>\n"
                                     "S: 250 2.1.0 ok\n"
                                     "S: 250 2.1.5 ok\n"
                                     "C: BDAT 6 LAST\n"
                                     "C: body\n"
                                     "S: 554 5.6.0 content refused\n"
                                     "C: RSET\nS: 250 ok\n"
                                     "C: QUIT\nS: 221 bye\n");
  CHECK_INT(mw_smtp_connect(t.c), MW_OK);
  const mw_errorinfo *ei = mw_smtp_extended_error(t.c);
  CHECK_ERR(mw_smtp_send(t.c, "a@example.org", RCPTS3, 1, "body", 4), ei,
            errServer, eexSmtpServer);
  CHECK_INT(mw_errorinfo_reply_code(ei), 554);
  CHECK_STR(mw_errorinfo_enhanced_status(ei), "5.6.0");
  CHECK(mw_smtp_is_connected(t.c));
  CHECK_INT(mw_smtp_quit(t.c), MW_OK);
  size_t len;
  const char *rx = scripted_end(&t, &len);
  CHECK(tl_contains(rx, len, "\r\nBDAT 6 LAST\r\nbody\r\nRSET\r\nQUIT\r\n"));
  tl_server_free(t.srv);
}

/* Lost while BDAT's reply is awaited: not reported as sent. */
static void connection_lost_after_bdat(void) {
  struct scripted t;
  scripted_start(&t, EHLO_PIPE_CHUNK "C: MAIL FROM:<a@example.org>\n"
                                     "C: RCPT TO:<r1@example.org>\n"
                                     "S: 250 2.1.0 ok\n"
                                     "S: 250 2.1.5 ok\n"
                                     "C: BDAT 6 LAST\n"
                                     "C: body\n"
                                     "CLOSE\n");
  CHECK_INT(mw_smtp_connect(t.c), MW_OK);
  int rc = mw_smtp_send(t.c, "a@example.org", RCPTS3, 1, "body", 4);
  CHECK_ERR(rc, mw_smtp_extended_error(t.c), errNetwork, eexServerClosed);
  CHECK(!mw_smtp_is_connected(t.c));
  size_t len;
  scripted_end(&t, &len);
  tl_server_free(t.srv);
}

/* ---- batches ---- */

static const char *const ONE_R1[] = {"r1@example.org"};
static const mw_smtp_message BATCH3[] = {
    {"a@example.org", ONE_R1, 1, "m1\r\n", 4},
    {"a@example.org", RCPTS3 + 1, 1, "m2\r\n", 4},
    {"a@example.org", RCPTS3 + 2, 1, "m3\r\n", 4}};

#define BATCH3_WIRE                                                           \
  "C: MAIL FROM:<a@example.org>\nC: RCPT TO:<r1@example.org>\n"               \
  "C: BDAT 4 LAST\nC: m1\n"                                                   \
  "C: MAIL FROM:<a@example.org>\nC: RCPT TO:<r2@example.org>\n"               \
  "C: BDAT 4 LAST\nC: m2\n"                                                   \
  "C: MAIL FROM:<a@example.org>\nC: RCPT TO:<r3@example.org>\n"               \
  "C: BDAT 4 LAST\nC: m3\n"

/* The whole batch arrives before any reply; the second message's only
 * recipient is refused: it alone fails, with exact results. */
static void batch_refusal_mid_pipeline(void) {
  struct scripted t;
  scripted_start(&t, EHLO_PIPE_CHUNK BATCH3_WIRE
                 "S: 250 2.1.0 ok\nS: 250 2.1.5 ok\nS: 250 2.0.0 q1\n"
                 "S: 250 2.1.0 ok\nS: 550 5.1.1 r2 unknown\n"
                 "S: 554 5.5.1 no valid recipients\n"
                 "S: 250 2.1.0 ok\nS: 250 2.1.5 ok\nS: 250 2.0.0 q3\n"
                 "C: QUIT\nS: 221 bye\n");
  CHECK_INT(mw_smtp_connect(t.c), MW_OK);
  const mw_errorinfo *ei = mw_smtp_extended_error(t.c);
  CHECK_ERR(mw_smtp_send_batch(t.c, BATCH3, 3), ei, errServer, eexSmtpServer);
  CHECK_INT(mw_errorinfo_reply_code(ei), 554);
  CHECK_INT(mw_smtp_batch_count(t.c), 3);
  CHECK_INT(mw_smtp_batch_code(t.c, 0), 250);
  CHECK_STR(mw_smtp_batch_text(t.c, 0), "2.0.0 q1");
  CHECK_INT(mw_smtp_batch_code(t.c, 1), 554);
  CHECK_STR(mw_smtp_batch_enhanced_status(t.c, 1), "5.5.1");
  CHECK_INT(mw_smtp_batch_rcpt_count(t.c, 1), 1);
  CHECK_INT(mw_smtp_batch_rcpt_code(t.c, 1, 0), 550);
  CHECK_STR(mw_smtp_batch_rcpt_text(t.c, 1, 0), "5.1.1 r2 unknown");
  CHECK_STR(mw_smtp_batch_rcpt_enhanced_status(t.c, 1, 0), "5.1.1");
  CHECK_STR(mw_smtp_batch_rcpt_enhanced_status(t.c, 0, 0), "2.1.5");
  CHECK_STR(mw_smtp_batch_rcpt_enhanced_status(t.c, 0, 1), "");
  CHECK_STR(mw_smtp_batch_rcpt_enhanced_status(t.c, 3, 0), "");
  CHECK_INT(mw_smtp_batch_code(t.c, 2), 250);
  CHECK_INT(mw_smtp_batch_rcpt_code(t.c, 2, 0), 250);
  CHECK(mw_smtp_is_connected(t.c));
  /* A batch refused before it starts leaves no results of the last one. */
  static const char *const BAD_R[] = {"r1@example.org\r\nRSET"};
  static const mw_smtp_message BAD[] = {{"a@example.org", BAD_R, 1, "x", 1}};
  CHECK_ERR(mw_smtp_send_batch(t.c, BAD, 1), ei, errInvalidArgument,
            eexInvalidArgument);
  CHECK_INT(mw_smtp_batch_count(t.c), 0);
  CHECK_INT(mw_smtp_batch_code(t.c, 0), 0);
  CHECK_INT(mw_smtp_quit(t.c), MW_OK);
  size_t len;
  scripted_end(&t, &len);
  tl_server_free(t.srv);
}

/* Lost after the first message's replies and the second's MAIL reply:
 * only the first is reported accepted; the rest have code 0. */
static void batch_connection_lost_mid_pipeline(void) {
  struct scripted t;
  scripted_start(&t, EHLO_PIPE_CHUNK BATCH3_WIRE
                 "S: 250 2.1.0 ok\nS: 250 2.1.5 ok\nS: 250 2.0.0 q1\n"
                 "S: 250 2.1.0 ok\nS: 250 2.1.5 ok\nCLOSE\n");
  CHECK_INT(mw_smtp_connect(t.c), MW_OK);
  int rc = mw_smtp_send_batch(t.c, BATCH3, 3);
  CHECK_ERR(rc, mw_smtp_extended_error(t.c), errNetwork, eexServerClosed);
  CHECK(!mw_smtp_is_connected(t.c));
  CHECK_INT(mw_smtp_batch_count(t.c), 3);
  CHECK_INT(mw_smtp_batch_code(t.c, 0), 250);
  CHECK_INT(mw_smtp_batch_code(t.c, 1), 0);
  CHECK_INT(mw_smtp_batch_rcpt_code(t.c, 1, 0), 250);
  CHECK_INT(mw_smtp_batch_code(t.c, 2), 0);
  CHECK_INT(mw_smtp_batch_rcpt_code(t.c, 2, 0), 0);
  size_t len;
  scripted_end(&t, &len);
  tl_server_free(t.srv);
}

/* Postfix: 50 messages over one connection, with and without CHUNKING;
 * every one accepted and delivered. */
static void postfix_batch(int chunking) {
  enum { N = 50 };
  mw_smtp *c = client(tl_env_port("SMTP_NOTLS_PORT"), 30000);
  CHECK_INT(mw_smtp_set_chunking(c, chunking), MW_OK);
  CHECK_INT(mw_smtp_connect(c), MW_OK);
  static char to[256], markers[N][128], bodies[N][512];
  const char *rcpts[] = {rcpt_address(to, sizeof to)};
  mw_smtp_message msgs[N];
  for (int i = 0; i < N; i++) {
    unique_marker(markers[i], sizeof markers[i], chunking ? "bb" : "bd");
    snprintf(bodies[i], sizeof bodies[i],
             "Subject: %.120s\r\n\r\n.line %d\r\nbody of %.120s\r\n",
             markers[i], i, markers[i]);
    msgs[i] = (mw_smtp_message){to, rcpts, 1, bodies[i], strlen(bodies[i])};
  }
  log_reset();
  int rc = mw_smtp_send_batch(c, msgs, N);
  CHECK_ERR(rc, mw_smtp_extended_error(c), MW_OK, eexNone);
  CHECK_INT(mw_smtp_batch_count(c), N);
  for (int i = 0; i < N; i++) {
    CHECK_INT(mw_smtp_batch_code(c, i), 250);
    CHECK_INT(mw_smtp_batch_rcpt_code(c, i, 0), 250);
  }
  CHECK_INT(tl_contains(log_text, log_len, "C: BDAT "), chunking);
  CHECK_INT(mw_smtp_quit(c), MW_OK);
  mw_smtp_free(c);
  char want[300];
  for (int i = 0; i < N; i += N - 1) {
    snprintf(want, sizeof want, "\n.line %d\nbody of %.120s\n", i, markers[i]);
    check_delivered(markers[i], want);
  }
}

static void postfix_batches(void) {
  postfix_batch(1);
  postfix_batch(0);
}

int main(void) {
  RUN(postfix_pipelined_sends);
  RUN(postfix_binarymime_unsupported);
  RUN(partial_refusal_mid_pipeline);
  RUN(refusal_mid_pipeline_no_data);
  RUN(connection_lost_mid_pipeline);
  RUN(bdat_refused_scripted);
  RUN(connection_lost_after_bdat);
  RUN(batch_refusal_mid_pipeline);
  RUN(batch_connection_lost_mid_pipeline);
  RUN(postfix_batches);
  return tl_finish();
}
