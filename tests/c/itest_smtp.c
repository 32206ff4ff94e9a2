/* itest_smtp.c - SMTPClient against the real Postfix of the servers
 * fixture (plain, STARTTLS, SMTPS; AUTH through Dovecot; delivery checked
 * in the maildir), and against the scripted server for what Postfix never
 * does (hostile or broken replies). Only loopback is contacted. */
#include "testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- helpers ---- */

static char log_text[1 << 16];
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

/* A client for 127.0.0.1:port; ssl_mode < 0 means no SSLInfo. */
static mw_smtp *client(unsigned port, int ssl_mode, int timeout_ms) {
  mw_smtp *c = mw_smtp_new();
  CHECK(c != NULL);
  CHECK_INT(mw_smtp_set_server(c, "127.0.0.1", port), MW_OK);
  CHECK_INT(mw_smtp_set_timeout(c, timeout_ms), MW_OK);
  CHECK_INT(mw_smtp_set_helo_name(c, "itest.mailwire.test"), MW_OK);
  if (ssl_mode >= 0) {
    mw_sslinfo *ssl = mw_sslinfo_new();
    CHECK_INT(mw_sslinfo_set_mode(ssl, ssl_mode), MW_OK);
    CHECK_INT(mw_sslinfo_set_option_str(ssl, SSLCAFile, tl_env("CA_FILE")),
              MW_OK);
    CHECK_INT(mw_smtp_set_sslinfo(c, ssl), MW_OK);
    mw_sslinfo_free(ssl);
  }
  mw_loghandler *lh = mw_loghandler_new(collect_log, NULL);
  CHECK_INT(mw_smtp_set_loghandler(c, lh), MW_OK);
  mw_loghandler_free(lh);
  return c;
}

static void set_user(mw_smtp *c, const char *pass, const char *mech) {
  CHECK_INT(mw_smtp_set_credentials(c, tl_env("USER"), pass), MW_OK);
  CHECK_INT(mw_smtp_set_auth_mechanism(c, mech), MW_OK);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void unique_marker(char *buf, size_t cap, const char *what) {
  static int counter;
  snprintf(buf, cap, "mw-itest-%s-%ld-%d-%d", what, (long)time(NULL),
           (int)getpid(), ++counter);
}

static const char *rcpt_address(char *buf, size_t cap) {
  snprintf(buf, cap, "%s@%s", tl_env("USER"), tl_env("MAIL_DOMAIN"));
  return buf;
}

/* s with every CRLF turned into LF, as a maildir stores it. */
static char *to_lf(const char *s, size_t len, size_t *outlen) {
  char *o = malloc(len + 1);
  size_t n = 0;
  for (size_t i = 0; i < len; i++)
    if (!(s[i] == '\r' && i + 1 < len && s[i + 1] == '\n'))
      o[n++] = s[i];
  o[n] = '\0';
  *outlen = n;
  return o;
}

static const char *find_bytes(const char *hay, size_t hlen, const char *ndl,
                              size_t nlen) {
  for (size_t i = 0; nlen && i + nlen <= hlen; i++)
    if (hay[i] == ndl[0] && memcmp(hay + i, ndl, nlen) == 0)
      return hay + i;
  return NULL;
}

/* The body as sent must be in the delivered file (CRLF or LF endings),
 * with the dot-stuffed lines un-stuffed by the server. */
static void check_delivered(const char *marker, const char *body,
                            size_t blen) {
  size_t len = 0;
  char *got = tl_wait_delivery(tl_env("USER"), marker, 30000, &len);
  CHECK(got != NULL);
  if (!got)
    return;
  size_t lflen;
  char *lf = to_lf(body, blen, &lflen);
  int found = find_bytes(got, len, body, blen) != NULL ||
              find_bytes(got, len, lf, lflen) != NULL;
  if (!found)
    tl_fail(__FILE__, __LINE__,
            "delivered message (%zu bytes) does not "
            "contain the body sent (%zu bytes)",
            len, blen);
  free(lf);
  free(got);
}

static void send_and_check(mw_smtp *c, const char *what) {
  char marker[128], to[256], msg[1024];
  unique_marker(marker, sizeof marker, what);
  const char *rcpts[] = {rcpt_address(to, sizeof to)};
  /* The body has lines that need stuffing and a bare LF. */
  const char *body = "Hello from mailwire.\r\n"
                     ".a line starting with a dot\r\n"
                     "..two dots\r\n"
                     ".\r\n"
                     "after a lone dot\r\n";
  snprintf(msg, sizeof msg,
           "From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\n\r\n%s%s\r\n", rcpts[0],
           rcpts[0], marker, body, marker);
  int rc = mw_smtp_send(c, rcpts[0], rcpts, 1, msg, strlen(msg));
  CHECK_ERR(rc, mw_smtp_extended_error(c), MW_OK, eexNone);
  CHECK_INT(mw_smtp_rcpt_count(c), 1);
  CHECK_INT(mw_smtp_rcpt_code(c, 0), 250);
  CHECK_INT(mw_smtp_last_reply_code(c), 250);
  if (rc == MW_OK)
    check_delivered(marker, body, strlen(body));
}

static void check_no_secret_logged(void) {
  CHECK(!tl_contains(log_text, log_len, tl_env("PASS")));
}

/* ---- real Postfix ---- */

static void auth_and_send(unsigned port, int ssl_mode, const char *mech) {
  mw_smtp *c = client(port, ssl_mode, 15000);
  set_user(c, tl_env("PASS"), mech);
  if (ssl_mode < 0)
    CHECK_INT(mw_smtp_set_allow_plaintext_auth(c, 1), MW_OK);
  int rc = mw_smtp_connect(c);
  CHECK_ERR(rc, mw_smtp_extended_error(c), MW_OK, eexNone);
  CHECK(mw_smtp_is_connected(c));
  CHECK_INT(mw_smtp_is_secure(c), ssl_mode >= 0);
  if (mech)
    CHECK_STR(mw_smtp_auth_mechanism_used(c), mech);
  else
    CHECK(mw_smtp_auth_mechanism_used(c) != NULL);
  CHECK(mw_smtp_has_extension(c, "AUTH"));
  if (ssl_mode == MODE_STARTTLS)
    CHECK(!mw_smtp_has_extension(c, "STARTTLS")); /* EHLO after TLS */
  if (rc == MW_OK) {
    send_and_check(c, mech ? mech : "auto");
    CHECK_INT(mw_smtp_noop(c), MW_OK);
    CHECK_INT(mw_smtp_rset(c), MW_OK);
    CHECK_INT(mw_smtp_quit(c), MW_OK);
    CHECK_INT(mw_smtp_last_reply_code(c), 221);
  }
  CHECK(!mw_smtp_is_connected(c));
  CHECK_ERR(mw_smtp_quit(c), mw_smtp_extended_error(c), errNotConnected,
            eexNotConnected);
  mw_smtp_free(c);
  check_no_secret_logged();
}

/* Does Postfix (through Dovecot) offer CRAM-MD5 here? */
static int cram_md5_offered(unsigned port) {
  mw_smtp *c = client(port, -1, 15000);
  int offered = 0;
  if (mw_smtp_connect(c) == MW_OK) {
    const char *auth = mw_smtp_extension_params(c, "AUTH");
    offered = auth && strstr(auth, "CRAM-MD5") != NULL;
    mw_smtp_quit(c);
  }
  mw_smtp_free(c);
  return offered;
}

static void postfix_plain_each_mechanism(void) {
  unsigned port = tl_env_port("SMTP_PORT");
  auth_and_send(port, -1, "PLAIN");
  auth_and_send(port, -1, "LOGIN");
  if (cram_md5_offered(port))
    auth_and_send(port, -1, "CRAM-MD5");
  else
    printf("NOTE: Postfix does not offer CRAM-MD5 here; not exercised\n");
  auth_and_send(port, -1, NULL);
}

static void postfix_starttls(void) {
  unsigned port = tl_env_port("SMTP_PORT");
  auth_and_send(port, MODE_STARTTLS, "PLAIN");
  auth_and_send(port, MODE_STARTTLS, "LOGIN");
  auth_and_send(port, MODE_STARTTLS, NULL);
}

static void postfix_smtps(void) {
  unsigned port = tl_env_port("SMTPS_PORT");
  auth_and_send(port, MODE_CHANNEL, "PLAIN");
  auth_and_send(port, MODE_CHANNEL, "LOGIN");
  auth_and_send(port, MODE_CHANNEL, NULL);
}

/* ~5 MB generated line by line, with dot lines, in constant memory. */
struct gen {
  size_t total, pos;
  char line[128];
  size_t line_len, line_pos;
  unsigned long n;
  const char *marker;
};

static void gen_next_line(struct gen *g) {
  g->n++;
  if (g->n % 97 == 0)
    g->line_len =
        (size_t)snprintf(g->line, sizeof g->line, ".dot line %lu\r\n", g->n);
  else if (g->n == 1)
    g->line_len =
        (size_t)snprintf(g->line, sizeof g->line, "%s\r\n", g->marker);
  else
    g->line_len = (size_t)snprintf(
        g->line, sizeof g->line,
        "line %08lu the quick brown fox jumps over the lazy dog\r\n", g->n);
  g->line_pos = 0;
}

static long gen_read(void *userdata, char *buf, size_t cap) {
  struct gen *g = userdata;
  size_t o = 0;
  while (o < cap && g->pos < g->total) {
    if (g->line_pos == g->line_len)
      gen_next_line(g);
    size_t n = g->line_len - g->line_pos;
    if (n > cap - o)
      n = cap - o;
    memcpy(buf + o, g->line + g->line_pos, n);
    g->line_pos += n;
    o += n;
    if (g->line_pos == g->line_len)
      g->pos++;
  }
  return (long)o;
}

static void postfix_streaming_5mb(void) {
  char marker[128], to[256];
  unique_marker(marker, sizeof marker, "stream");
  const char *rcpts[] = {rcpt_address(to, sizeof to)};
  mw_smtp *c = client(tl_env_port("SMTP_PORT"), MODE_STARTTLS, 30000);
  set_user(c, tl_env("PASS"), NULL);
  CHECK_ERR(mw_smtp_connect(c), mw_smtp_extended_error(c), MW_OK, eexNone);
  struct gen g = {0};
  g.total = 90000; /* lines of about 59 bytes: 5.3 MB */
  g.marker = marker;
  double t0 = now_s();
  int rc = mw_smtp_send_stream(c, rcpts[0], rcpts, 1, 0, 0, gen_read, &g);
  CHECK_ERR(rc, mw_smtp_extended_error(c), MW_OK, eexNone);
  printf("streamed %lu lines in %.2f s\n", g.n, now_s() - t0);
  mw_smtp_quit(c);
  mw_smtp_free(c);
  if (rc != MW_OK)
    return;
  /* Regenerate the body and compare with the delivered file (LF form). */
  size_t len = 0;
  char *got = tl_wait_delivery(tl_env("USER"), marker, 60000, &len);
  CHECK(got != NULL);
  if (!got)
    return;
  CHECK(len > 5u * 1000 * 1000);
  const char *start = find_bytes(got, len, marker, strlen(marker));
  /* The marker is in the first body line; the line before is empty. */
  int all_match = start != NULL;
  struct gen r = {0};
  r.total = g.total;
  r.marker = marker;
  size_t off = start ? (size_t)(start - got) : 0;
  char chunk[4096];
  long n;
  /* The maildir may keep CRLF or store LF. */
  int crlf =
      start && off + strlen(marker) < len && got[off + strlen(marker)] == '\r';
  while (all_match && (n = gen_read(&r, chunk, sizeof chunk)) > 0) {
    size_t lflen = (size_t)n;
    char *lf = crlf ? NULL : to_lf(chunk, (size_t)n, &lflen);
    const char *want = crlf ? chunk : lf;
    /* A chunk may end between CR and LF: to_lf keeps that CR; drop it. */
    if (!crlf && lflen && lf[lflen - 1] == '\r')
      lflen--;
    if (off + lflen > len || memcmp(got + off, want, lflen) != 0)
      all_match = 0;
    off += lflen;
    free(lf);
  }
  CHECK(all_match);
  free(got);
}

static void postfix_wrong_password(void) {
  mw_smtp *c = client(tl_env_port("SMTP_PORT"), MODE_STARTTLS, 15000);
  set_user(c, "definitely-wrong-password", "PLAIN");
  int rc = mw_smtp_connect(c);
  const mw_errorinfo *ei = mw_smtp_extended_error(c);
  CHECK_ERR(rc, ei, errAuth, eexSmtpServer);
  CHECK_INT(mw_errorinfo_reply_code(ei), 535);
  CHECK(mw_errorinfo_server_text(ei)[0] != '\0');
  CHECK(!mw_smtp_is_connected(c));
  CHECK(!tl_contains(log_text, log_len, "definitely-wrong-password"));
  mw_smtp_free(c);
}

static void postfix_plaintext_auth_refused(void) {
  mw_smtp *c = client(tl_env_port("SMTP_PORT"), -1, 15000);
  set_user(c, tl_env("PASS"), NULL);
  CHECK_ERR(mw_smtp_connect(c), mw_smtp_extended_error(c), errAuth,
            eexAuthPlaintext);
  CHECK(!mw_smtp_is_connected(c));
  mw_smtp_free(c);
}

static void unknown_host(void) {
  mw_smtp *c = client(25, -1, 5000);
  CHECK_INT(mw_smtp_set_server(c, "no-such-host.invalid", 25), MW_OK);
  CHECK_ERR(mw_smtp_connect(c), mw_smtp_extended_error(c), errConnect, eexDNS);
  mw_smtp_free(c);
}

static void closed_port(void) {
  mw_smtp *c = client(tl_env_port("CLOSED_PORT"), -1, 5000);
  CHECK_ERR(mw_smtp_connect(c), mw_smtp_extended_error(c), errConnect,
            eexTCPConnect);
  CHECK(!mw_smtp_is_connected(c));
  mw_smtp_free(c);
}

static void channel_tls_to_plain_port(void) {
  mw_smtp *c = client(tl_env_port("SMTP_PORT"), MODE_CHANNEL, 5000);
  CHECK_ERR(mw_smtp_connect(c), mw_smtp_extended_error(c), errConnect,
            eexSSLProtocol);
  mw_smtp_free(c);
}

static void starttls_unavailable_postfix(void) {
  mw_smtp *c = client(tl_env_port("SMTP_NOTLS_PORT"), MODE_STARTTLS, 5000);
  set_user(c, tl_env("PASS"), NULL);
  CHECK_ERR(mw_smtp_connect(c), mw_smtp_extended_error(c), errTLS,
            eexSSLStartTLSUnavailable);
  CHECK(!mw_smtp_is_connected(c));
  mw_smtp_free(c);
}

static void argument_errors_need_no_server(void) {
  mw_smtp *c = mw_smtp_new();
  CHECK_ERR(mw_smtp_set_server(c, "host\r\nevil", 25),
            mw_smtp_extended_error(c), errInvalidArgument, eexInvalidArgument);
  CHECK_ERR(mw_smtp_set_server(c, "localhost", 70000),
            mw_smtp_extended_error(c), errInvalidArgument, eexInvalidArgument);
  CHECK_ERR(mw_smtp_set_auth_mechanism(c, "GSSAPI"), mw_smtp_extended_error(c),
            errInvalidArgument, eexInvalidArgument);
  CHECK_ERR(mw_smtp_set_timeout(c, 0), mw_smtp_extended_error(c),
            errInvalidArgument, eexInvalidArgument);
  const char *rcpts[] = {"b@example.org"};
  CHECK_ERR(mw_smtp_send(c, "a@example.org", rcpts, 1, "x", 1),
            mw_smtp_extended_error(c), errNotConnected, eexNotConnected);
  CHECK_ERR(mw_smtp_noop(c), mw_smtp_extended_error(c), errNotConnected,
            eexNotConnected);
  CHECK_ERR(mw_smtp_quit(c), mw_smtp_extended_error(c), errNotConnected,
            eexNotConnected);
  CHECK_INT(mw_smtp_set_server(c, "127.0.0.1", 0), MW_OK);
  CHECK_INT(mw_errorinfo_code(mw_smtp_extended_error(c)), MW_OK);
  mw_smtp_free(c);
}

/* ---- the scripted server ---- */

struct scripted {
  tl_server *srv;
  mw_smtp *c;
};

static void scripted_start(struct scripted *t, const char *script,
                           int ssl_mode, int timeout_ms) {
  t->srv = tl_server_start(script);
  CHECK(t->srv != NULL);
  t->c = client(t->srv ? tl_server_port(t->srv) : 1, ssl_mode, timeout_ms);
}

/* Wait for the script, check it ran, and return what the client sent. */
static const char *scripted_end(struct scripted *t, size_t *len) {
  mw_smtp_free(t->c);
  t->c = NULL;
  if (tl_server_wait(t->srv, 15000) != 0)
    tl_fail(__FILE__, __LINE__, "script failed: %s", tl_server_error(t->srv));
  return tl_server_received(t->srv, len);
}

#define GREET_EHLO "S: 220 scripted ESMTP\nC: EHLO itest.mailwire.test\n"

static void plaintext_auth_sends_nothing_after_ehlo(void) {
  struct scripted t;
  scripted_start(&t,
                 GREET_EHLO "S: 250-scripted\nS: 250 AUTH PLAIN LOGIN\n"
                            "EXPECT_CLOSE\n",
                 -1, 5000);
  set_user(t.c, "secret-pw", NULL);
  CHECK_ERR(mw_smtp_connect(t.c), mw_smtp_extended_error(t.c), errAuth,
            eexAuthPlaintext);
  size_t len;
  const char *rx = scripted_end(&t, &len);
  CHECK_INT(len, strlen("EHLO itest.mailwire.test\r\n"));
  CHECK(!tl_contains(rx, len, "AUTH"));
  tl_server_free(t.srv);
}

/* A 421 ends the session: the connection is closed at once, whether the
 * 421 answers a command or was already buffered before one. */
static void closing_421_closes_the_connection(void) {
  struct scripted t;
  scripted_start(&t,
                 GREET_EHLO "S: 250-scripted\nS: 250 PIPELINING\n"
                            "C: MAIL FROM:<a@example.org>\n"
                            "C: RCPT TO:<b@example.org>\n"
                            "S: 421 4.3.2 shutting down\nEXPECT_CLOSE\n",
                 -1, 5000);
  const char *to[] = {"b@example.org"};
  CHECK_INT(mw_smtp_connect(t.c), MW_OK);
  const char *msg = "Subject: x\r\n\r\nbody\r\n";
  const mw_errorinfo *ei = mw_smtp_extended_error(t.c);
  CHECK_ERR(mw_smtp_send(t.c, "a@example.org", to, 1, msg, strlen(msg)), ei,
            errServer, eexSmtpServer);
  CHECK_INT(mw_errorinfo_reply_code(ei), 421);
  CHECK_INT(mw_smtp_is_connected(t.c), 0); /* before the client is freed */
  size_t len;
  const char *rx = scripted_end(&t, &len);
  CHECK(!tl_contains(rx, len, "RSET"));
  CHECK(!tl_contains(rx, len, "QUIT"));
  tl_server_free(t.srv);

  scripted_start(&t,
                 GREET_EHLO "SRAW: 250 scripted\\r\\n421 4.4.2 idle\\r\\n\n"
                            "EXPECT_CLOSE\n",
                 -1, 5000);
  CHECK_INT(mw_smtp_connect(t.c), MW_OK);
  ei = mw_smtp_extended_error(t.c);
  CHECK_ERR(mw_smtp_send(t.c, "a@example.org", to, 1, msg, strlen(msg)), ei,
            errServer, eexSmtpServer);
  CHECK_INT(mw_errorinfo_reply_code(ei), 421);
  CHECK_INT(mw_smtp_is_connected(t.c), 0);
  rx = scripted_end(&t, &len);
  CHECK(!tl_contains(rx, len, "MAIL"));
  tl_server_free(t.srv);
}

/* The server answers 354, then 421 and closes while the body is still
 * going out: the write fails (reset), and the 421 it sent is the reason
 * reported, not the reset. */
static void closing_421_during_the_body(void) {
  struct scripted t;
  scripted_start(&t,
                 GREET_EHLO "S: 250 scripted\nC: MAIL FROM:<a@example.org>\n"
                            "S: 250 ok\nC: RCPT TO:<b@example.org>\n"
                            "S: 250 ok\nC: DATA\nS: 354 go\nSLEEP 100\n"
                            "S: 421 4.3.0 shutting down now\nRESET\n",
                 -1, 5000);
  size_t big = 16u << 20; /* far more than the socket buffers hold */
  char *msg = malloc(big);
  CHECK(msg != NULL);
  if (!msg)
    return;
  memset(msg, 'x', big);
  for (size_t i = 76; i < big; i += 78)
    msg[i] = '\r', msg[i + 1] = '\n';
  const char *to[] = {"b@example.org"};
  CHECK_INT(mw_smtp_connect(t.c), MW_OK);
  const mw_errorinfo *ei = mw_smtp_extended_error(t.c);
  CHECK_ERR(mw_smtp_send(t.c, "a@example.org", to, 1, msg, big), ei, errServer,
            eexSmtpServer);
  CHECK_INT(mw_errorinfo_reply_code(ei), 421);
  CHECK(strstr(mw_errorinfo_text(ei), "421 4.3.0 shutting down now"));
  CHECK_INT(mw_smtp_is_connected(t.c), 0);
  free(msg);
  size_t len;
  scripted_end(&t, &len);
  tl_server_free(t.srv);
}

static void starttls_unavailable_scripted(void) {
  struct scripted t;
  scripted_start(&t,
                 GREET_EHLO "S: 250-scripted\nS: 250 AUTH PLAIN LOGIN\n"
                            "EXPECT_CLOSE\n",
                 MODE_STARTTLS, 5000);
  set_user(t.c, "secret-pw", NULL);
  CHECK_ERR(mw_smtp_connect(t.c), mw_smtp_extended_error(t.c), errTLS,
            eexSSLStartTLSUnavailable);
  size_t len;
  const char *rx = scripted_end(&t, &len);
  CHECK_INT(len, strlen("EHLO itest.mailwire.test\r\n"));
  CHECK(!tl_contains(rx, len, "MAIL"));
  CHECK(!tl_contains(rx, len, "AUTH"));
  tl_server_free(t.srv);
}

static void starttls_refused_scripted(void) {
  struct scripted t;
  scripted_start(&t,
                 GREET_EHLO "S: 250-scripted\nS: 250 STARTTLS\n"
                            "C: STARTTLS\n"
                            "S: 454 4.7.0 TLS not available\n"
                            "EXPECT_CLOSE\n",
                 MODE_STARTTLS, 5000);
  const mw_errorinfo *ei = mw_smtp_extended_error(t.c);
  CHECK_ERR(mw_smtp_connect(t.c), ei, errTLS, eexSSLStartTLSRefused);
  CHECK_INT(mw_errorinfo_reply_code(ei), 454);
  CHECK_STR(mw_errorinfo_enhanced_status(ei), "4.7.0");
  size_t len;
  const char *rx = scripted_end(&t, &len);
  CHECK(!tl_contains(rx, len, "MAIL"));
  tl_server_free(t.srv);
}

static void starttls_injection(void) {
  struct scripted t;
  scripted_start(&t,
                 GREET_EHLO "S: 250-scripted\nS: 250 STARTTLS\n"
                            "C: STARTTLS\n"
                            "SRAW: 220 go\\r\\n250 injected\\r\\n\n"
                            "EXPECT_CLOSE\n",
                 MODE_STARTTLS, 5000);
  CHECK_ERR(mw_smtp_connect(t.c), mw_smtp_extended_error(t.c), errTLS,
            eexSSLInjection);
  size_t len;
  const char *rx = scripted_end(&t, &len);
  const char *want = "EHLO itest.mailwire.test\r\nSTARTTLS\r\n";
  CHECK_INT(len, strlen(want));
  CHECK(len == strlen(want) && memcmp(rx, want, len) == 0);
  tl_server_free(t.srv);
}

static void starttls_scripted_full(void) {
  /* STARTTLS through the scripted server's TLS: EHLO again afterwards,
   * and the capabilities seen are the ones after TLS. */
  struct scripted t;
  scripted_start(&t,
                 GREET_EHLO "S: 250-scripted\nS: 250-STARTTLS\n"
                            "S: 250 X-BEFORE-TLS\n"
                            "C: STARTTLS\nS: 220 go ahead\nTLS\n"
                            "C: EHLO itest.mailwire.test\n"
                            "S: 250-scripted\nS: 250 X-AFTER-TLS\n"
                            "C: QUIT\nS: 221 bye\n",
                 MODE_STARTTLS, 5000);
  CHECK_ERR(mw_smtp_connect(t.c), mw_smtp_extended_error(t.c), MW_OK, eexNone);
  CHECK(mw_smtp_is_secure(t.c));
  CHECK(mw_smtp_has_extension(t.c, "X-AFTER-TLS"));
  CHECK(!mw_smtp_has_extension(t.c, "X-BEFORE-TLS"));
  CHECK_INT(mw_smtp_quit(t.c), MW_OK);
  size_t len;
  scripted_end(&t, &len);
  tl_server_free(t.srv);
}

static void server_stops_answering(void) {
  struct scripted t;
  scripted_start(&t, GREET_EHLO "SLEEP 4000\n", -1, 500);
  double t0 = now_s();
  CHECK_ERR(mw_smtp_connect(t.c), mw_smtp_extended_error(t.c), errTimeout,
            eexTimeout);
  double took = now_s() - t0;
  CHECK(took < 2.5);
  CHECK(took >= 0.4);
  CHECK(!mw_smtp_is_connected(t.c));
  size_t len;
  scripted_end(&t, &len);
  tl_server_free(t.srv);
}

static void server_closes_mid_reply(void) {
  struct scripted t;
  scripted_start(&t, GREET_EHLO "SRAW: 250-first\\r\\n\nCLOSE\n", -1, 5000);
  CHECK_ERR(mw_smtp_connect(t.c), mw_smtp_extended_error(t.c), errNetwork,
            eexServerClosed);
  CHECK(!mw_smtp_is_connected(t.c));
  size_t len;
  scripted_end(&t, &len);
  tl_server_free(t.srv);
}

static void greeting_554(void) {
  struct scripted t;
  scripted_start(&t, "S: 554 5.3.2 go away\nEXPECT_CLOSE\n", -1, 5000);
  const mw_errorinfo *ei = mw_smtp_extended_error(t.c);
  CHECK_ERR(mw_smtp_connect(t.c), ei, errServer, eexSmtpServer);
  CHECK_INT(mw_errorinfo_reply_code(ei), 554);
  CHECK_STR(mw_errorinfo_server_text(ei), "5.3.2 go away");
  size_t len;
  scripted_end(&t, &len);
  CHECK_INT(len, 0);
  tl_server_free(t.srv);
}

static void crlf_in_address_sends_no_mail(void) {
  struct scripted t;
  scripted_start(&t, GREET_EHLO "S: 250 scripted\nC: QUIT\nS: 221 bye\n", -1,
                 5000);
  CHECK_INT(mw_smtp_connect(t.c), MW_OK);
  const char *rcpts[] = {"b@example.org>\r\nRCPT TO:<evil@example.org"};
  CHECK_ERR(mw_smtp_send(t.c, "a@example.org", rcpts, 1, "x", 1),
            mw_smtp_extended_error(t.c), errInvalidArgument,
            eexInvalidArgument);
  const char *ok[] = {"b@example.org"};
  CHECK_ERR(mw_smtp_send(t.c, "a@example.org\nDATA", ok, 1, "x", 1),
            mw_smtp_extended_error(t.c), errInvalidArgument,
            eexInvalidArgument);
  CHECK(mw_smtp_is_connected(t.c));
  CHECK_INT(mw_smtp_quit(t.c), MW_OK);
  size_t len;
  const char *rx = scripted_end(&t, &len);
  CHECK(!tl_contains(rx, len, "MAIL"));
  CHECK(!tl_contains(rx, len, "RCPT"));
  tl_server_free(t.srv);
}

static void over_long_reply_line(void) {
  char script[8192];
  size_t o =
      (size_t)snprintf(script, sizeof script, "%s", GREET_EHLO "SRAW: 250 ");
  for (int i = 0; i < 5000; i++)
    script[o++] = 'x';
  o += (size_t)snprintf(script + o, sizeof script - o,
                        "\\r\\n\nEXPECT_CLOSE\n");
  struct scripted t;
  scripted_start(&t, script, -1, 5000);
  CHECK_ERR(mw_smtp_connect(t.c), mw_smtp_extended_error(t.c), errProtocol,
            eexLineTooLong);
  size_t len;
  scripted_end(&t, &len);
  tl_server_free(t.srv);
}

static void recipient_refused(void) {
  struct scripted t;
  scripted_start(&t,
                 GREET_EHLO "S: 250-scripted\nS: 250 ENHANCEDSTATUSCODES\n"
                            "C: MAIL FROM:<a@example.org>\n"
                            "S: 250 2.1.0 ok\n"
                            "C: RCPT TO:<good@example.org>\n"
                            "S: 250 2.1.5 ok\n"
                            "C: RCPT TO:<bad@example.org>\n"
                            "S: 550 5.1.1 <bad@example.org>: no such user\n"
                            "C: RSET\nS: 250 2.0.0 ok\n"
                            "C: QUIT\nS: 221 bye\n",
                 -1, 5000);
  CHECK_INT(mw_smtp_connect(t.c), MW_OK);
  const char *rcpts[] = {"good@example.org", "bad@example.org"};
  const mw_errorinfo *ei = mw_smtp_extended_error(t.c);
  CHECK_ERR(mw_smtp_send(t.c, "a@example.org", rcpts, 2, "body\r\n", 6), ei,
            errServer, eexSmtpServer);
  CHECK_INT(mw_errorinfo_reply_code(ei), 550);
  CHECK_STR(mw_errorinfo_enhanced_status(ei), "5.1.1");
  CHECK_INT(mw_smtp_rcpt_count(t.c), 2);
  CHECK_INT(mw_smtp_rcpt_code(t.c, 0), 250);
  CHECK_STR(mw_smtp_rcpt_enhanced_status(t.c, 0), "2.1.5");
  CHECK_INT(mw_smtp_rcpt_code(t.c, 1), 550);
  CHECK_STR(mw_smtp_rcpt_enhanced_status(t.c, 1), "5.1.1");
  CHECK_STR(mw_smtp_rcpt_text(t.c, 1),
            "5.1.1 <bad@example.org>: no such user");
  CHECK(mw_smtp_is_connected(t.c));
  CHECK_INT(mw_smtp_quit(t.c), MW_OK);
  size_t len;
  const char *rx = scripted_end(&t, &len);
  CHECK(!tl_contains(rx, len, "DATA"));
  CHECK(tl_contains(rx, len, "RSET\r\n"));
  tl_server_free(t.srv);
}

static long abort_after_one(void *userdata, char *buf, size_t cap) {
  int *calls = userdata;
  if ((*calls)++ > 0)
    return -1;
  const char *part = "first part of the body\r\n";
  size_t n = strlen(part) < cap ? strlen(part) : cap;
  memcpy(buf, part, n);
  return (long)n;
}

static void stream_abort_closes_without_dot(void) {
  struct scripted t;
  scripted_start(&t,
                 GREET_EHLO "S: 250 scripted\n"
                            "C: MAIL FROM:<a@example.org>\nS: 250 ok\n"
                            "C: RCPT TO:<b@example.org>\nS: 250 ok\n"
                            "C: DATA\nS: 354 go\n"
                            "EXPECT_CLOSE\n",
                 -1, 5000);
  CHECK_INT(mw_smtp_connect(t.c), MW_OK);
  const char *rcpts[] = {"b@example.org"};
  int calls = 0;
  CHECK_ERR(mw_smtp_send_stream(t.c, "a@example.org", rcpts, 1, 0, 0,
                                abort_after_one, &calls),
            mw_smtp_extended_error(t.c), errAborted, eexAborted);
  CHECK(!mw_smtp_is_connected(t.c));
  size_t len;
  const char *rx = scripted_end(&t, &len);
  CHECK(tl_contains(rx, len, "first part of the body\r\n"));
  CHECK(!tl_contains(rx, len, "\r\n.\r\n"));
  tl_server_free(t.srv);
}

static int reentry_rc = -1;
static mw_smtp *reentry_client;

static long reentering_read(void *userdata, char *buf, size_t cap) {
  int *calls = userdata;
  if ((*calls)++ > 0)
    return 0;
  reentry_rc = mw_smtp_noop(reentry_client);
  (void)cap;
  memcpy(buf, "hi\r\n", 4);
  return 4;
}

static void reentry_from_callback_refused(void) {
  struct scripted t;
  scripted_start(&t,
                 GREET_EHLO "S: 250 scripted\n"
                            "C: MAIL FROM:<a@example.org>\nS: 250 ok\n"
                            "C: RCPT TO:<b@example.org>\nS: 250 ok\n"
                            "C: DATA\nS: 354 go\nDATA\nS: 250 queued\n"
                            "C: QUIT\nS: 221 bye\n",
                 -1, 5000);
  CHECK_INT(mw_smtp_connect(t.c), MW_OK);
  const char *rcpts[] = {"b@example.org"};
  int calls = 0;
  reentry_client = t.c;
  CHECK_ERR(mw_smtp_send_stream(t.c, "a@example.org", rcpts, 1, 0, 0,
                                reentering_read, &calls),
            mw_smtp_extended_error(t.c), MW_OK, eexNone);
  CHECK_INT(reentry_rc, errState);
  CHECK_INT(mw_smtp_quit(t.c), MW_OK);
  size_t len;
  const char *rx = scripted_end(&t, &len);
  CHECK(!tl_contains(rx, len, "NOOP"));
  tl_server_free(t.srv);
}

int main(void) {
  RUN(argument_errors_need_no_server);
  RUN(postfix_plain_each_mechanism);
  RUN(postfix_starttls);
  RUN(postfix_smtps);
  RUN(postfix_streaming_5mb);
  RUN(postfix_wrong_password);
  RUN(postfix_plaintext_auth_refused);
  RUN(unknown_host);
  RUN(closed_port);
  RUN(channel_tls_to_plain_port);
  RUN(starttls_unavailable_postfix);
  RUN(plaintext_auth_sends_nothing_after_ehlo);
  RUN(starttls_unavailable_scripted);
  RUN(starttls_refused_scripted);
  RUN(starttls_injection);
  RUN(starttls_scripted_full);
  RUN(server_stops_answering);
  RUN(server_closes_mid_reply);
  RUN(greeting_554);
  RUN(crlf_in_address_sends_no_mail);
  RUN(closing_421_closes_the_connection);
  RUN(closing_421_during_the_body);
  RUN(over_long_reply_line);
  RUN(recipient_refused);
  RUN(stream_abort_closes_without_dot);
  RUN(reentry_from_callback_refused);
  return tl_finish();
}
