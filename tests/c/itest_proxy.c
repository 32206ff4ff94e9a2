/* itest_proxy.c - SMTP and POP3 through real proxies on loopback
 * (microsocks, dante, tinyproxy; started by tests/servers/proxies.sh): send
 * with Postfix and read back with Dovecot, in plain, implicit TLS and
 * STARTTLS/STLS, the certificate checked against the mail server's name.
 * A scripted hostile proxy covers each eexProxy error and bad reply. Only
 * loopback is contacted. */
#include "testlib.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char log_text[1 << 16];
static size_t log_len;

static void collect_log(void *userdata, int severity, int facility,
                        const char *message) {
  (void)userdata;
  (void)severity;
  size_t n = strlen(message);
  if (log_len + n + 16 < sizeof log_text) {
    log_len += (size_t)snprintf(log_text + log_len, sizeof log_text - log_len,
                                "[%d] %s\n", facility, message);
  }
}

static void log_reset(void) {
  log_len = 0;
  log_text[0] = '\0';
}

/* ---- the proxies ---- */

struct proxy {
  const char *name;
  int kind;
  const char *port_key;
  int auth; /* needs PROXY_USER/PROXY_PASS */
};

static const struct proxy proxies[] = {
    {"microsocks SOCKS5 user/password", MW_PROXY_SOCKS5, "MICROSOCKS_PORT", 1},
    {"dante SOCKS5", MW_PROXY_SOCKS5, "DANTE_PORT", 0},
    {"dante SOCKS5 user/password", MW_PROXY_SOCKS5, "DANTE_AUTH_PORT", 1},
    {"dante SOCKS4", MW_PROXY_SOCKS4, "DANTE_PORT", 0},
    {"dante SOCKS4a", MW_PROXY_SOCKS4A, "DANTE_PORT", 0},
    {"tinyproxy HTTP CONNECT Basic", MW_PROXY_HTTP, "TINYPROXY_PORT", 1},
};

/* The proxy is named "localhost", the mail server "127.0.0.1": the TLS
 * log must show the mail server's name being checked. */
static mw_proxyinfo *make_proxy(int kind, unsigned port, const char *user,
                                const char *pass) {
  mw_proxyinfo *p = mw_proxyinfo_new(kind);
  CHECK(p != NULL);
  CHECK_INT(mw_proxyinfo_set_server(p, "localhost", port), MW_OK);
  if (user)
    CHECK_INT(mw_proxyinfo_set_credentials(p, user, pass), MW_OK);
  return p;
}

static mw_proxyinfo *proxy_for(const struct proxy *px) {
  return make_proxy(px->kind, tl_env_port(px->port_key),
                    px->auth ? tl_env("PROXY_USER") : NULL,
                    px->auth ? tl_env("PROXY_PASS") : NULL);
}

static mw_sslinfo *sslinfo(int mode) {
  if (mode < 0)
    return NULL;
  mw_sslinfo *ssl = mw_sslinfo_new();
  CHECK_INT(mw_sslinfo_set_mode(ssl, mode), MW_OK);
  CHECK_INT(mw_sslinfo_set_option_str(ssl, SSLCAFile, tl_env("CA_FILE")),
            MW_OK);
  return ssl;
}

static mw_smtp *smtp_client(const char *host, unsigned port, int mode,
                            mw_proxyinfo *p, int timeout_ms) {
  mw_smtp *c = mw_smtp_new();
  CHECK_INT(mw_smtp_set_server(c, host, port), MW_OK);
  CHECK_INT(mw_smtp_set_timeout(c, timeout_ms), MW_OK);
  CHECK_INT(mw_smtp_set_helo_name(c, "itest.mailwire.test"), MW_OK);
  mw_sslinfo *ssl = sslinfo(mode);
  if (ssl)
    CHECK_INT(mw_smtp_set_handler(c, ssl), MW_OK);
  mw_sslinfo_free(ssl);
  mw_loghandler *lh = mw_loghandler_new(collect_log, NULL);
  CHECK_INT(mw_smtp_set_handler(c, lh), MW_OK);
  mw_loghandler_free(lh);
  if (p)
    CHECK_INT(mw_smtp_set_handler(c, p), MW_OK);
  return c;
}

static mw_pop3 *pop3_client(unsigned port, int mode, mw_proxyinfo *p) {
  mw_pop3 *c = mw_pop3_new();
  CHECK_INT(mw_pop3_set_server(c, "127.0.0.1", port), MW_OK);
  CHECK_INT(mw_pop3_set_timeout(c, 10000), MW_OK);
  CHECK_INT(mw_pop3_set_credentials(c, tl_env("USER"), tl_env("PASS")), MW_OK);
  CHECK_INT(mw_pop3_set_allow_plaintext_auth(c, 1), MW_OK);
  mw_sslinfo *ssl = sslinfo(mode);
  if (ssl)
    CHECK_INT(mw_pop3_set_handler(c, ssl), MW_OK);
  mw_sslinfo_free(ssl);
  mw_loghandler *lh = mw_loghandler_new(collect_log, NULL);
  CHECK_INT(mw_pop3_set_handler(c, lh), MW_OK);
  mw_loghandler_free(lh);
  CHECK_INT(mw_pop3_set_handler(c, p), MW_OK);
  return c;
}

static void check_tls_name_is_the_mail_servers(int mode) {
  if (mode < 0)
    return;
  CHECK(tl_contains(log_text, log_len, "checking the name '127.0.0.1'"));
  CHECK(!tl_contains(log_text, log_len, "checking the name 'localhost'"));
}

static void check_no_secret_logged(void) {
  CHECK(!tl_contains(log_text, log_len, tl_env("PROXY_PASS")));
  CHECK(!tl_contains(log_text, log_len, tl_env("PASS")));
}

/* Send a message with a fresh marker through the proxy; 1 on success. */
static int send_through(const struct proxy *px, int mode, char *marker,
                        size_t cap) {
  static int counter;
  snprintf(marker, cap, "mw-proxy-%ld-%d-%d", (long)time(NULL), (int)getpid(),
           ++counter);
  unsigned port =
      tl_env_port(mode == MODE_CHANNEL ? "SMTPS_PORT" : "SMTP_PORT");
  mw_proxyinfo *p = proxy_for(px);
  log_reset();
  mw_smtp *c = smtp_client("127.0.0.1", port, mode, p, 10000);
  mw_proxyinfo_free(p);
  char to[256], msg[1024];
  snprintf(to, sizeof to, "%s@%s", tl_env("USER"), tl_env("MAIL_DOMAIN"));
  snprintf(msg, sizeof msg,
           "From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\n\r\nthrough %s\r\n", to,
           to, marker, px->name);
  const char *rcpts[] = {to};
  int rc = mw_smtp_connect(c);
  CHECK_ERR(rc, mw_smtp_extended_error(c), MW_OK, 0);
  CHECK_INT(mw_smtp_is_secure(c), mode >= 0);
  if (rc == MW_OK)
    rc = mw_smtp_send(c, to, rcpts, 1, msg, strlen(msg));
  CHECK_ERR(rc, mw_smtp_extended_error(c), MW_OK, 0);
  CHECK_INT(mw_smtp_quit(c), MW_OK);
  CHECK(tl_contains(log_text, log_len, "proxy connected to 127.0.0.1"));
  check_tls_name_is_the_mail_servers(mode);
  check_no_secret_logged();
  mw_smtp_free(c);
  return rc == MW_OK;
}

/* Find the message with the marker over POP3 through the proxy. */
static void retrieve_through(const struct proxy *px, int mode,
                             const char *marker) {
  unsigned port =
      tl_env_port(mode == MODE_CHANNEL ? "POP3S_PORT" : "POP3_PORT");
  mw_proxyinfo *p = proxy_for(px);
  log_reset();
  mw_pop3 *c = pop3_client(port, mode, p);
  mw_proxyinfo_free(p);
  int rc = mw_pop3_connect(c);
  CHECK_ERR(rc, mw_pop3_extended_error(c), MW_OK, 0);
  CHECK_INT(mw_pop3_is_secure(c), mode >= 0);
  unsigned long count = 0;
  uint64_t octets = 0;
  if (rc == MW_OK)
    CHECK_INT(mw_pop3_stat(c, &count, &octets), MW_OK);
  int found = 0;
  for (unsigned long i = count; i >= 1 && i + 500 > count && !found; i--) {
    char *top = NULL;
    size_t len = 0;
    if (mw_pop3_top(c, i, 0, &top, &len) != MW_OK)
      break;
    found = tl_contains(top, len, marker);
    mw_free(top);
  }
  if (!found)
    tl_fail(__FILE__, __LINE__, "message %s not found over POP3 via %s",
            marker, px->name);
  CHECK_INT(mw_pop3_quit(c), MW_OK);
  CHECK(tl_contains(log_text, log_len, "proxy connected to 127.0.0.1"));
  check_tls_name_is_the_mail_servers(mode);
  check_no_secret_logged();
  mw_pop3_free(c);
}

static void through_each_proxy(int mode) {
  for (size_t i = 0; i < sizeof proxies / sizeof proxies[0]; i++) {
    char marker[128];
    printf("  via %s\n", proxies[i].name);
    if (!send_through(&proxies[i], mode, marker, sizeof marker))
      continue;
    size_t len = 0;
    char *got = tl_wait_delivery(tl_env("USER"), marker, 30000, &len);
    CHECK(got != NULL);
    free(got);
    retrieve_through(&proxies[i], mode, marker);
  }
}

static void test_plain_through_each_proxy(void) {
  through_each_proxy(-1);
}

static void test_implicit_tls_through_each_proxy(void) {
  through_each_proxy(MODE_CHANNEL);
}

static void test_starttls_through_each_proxy(void) {
  through_each_proxy(MODE_STARTTLS);
}

/* ---- real proxies refusing ---- */

static int smtp_error_via(mw_proxyinfo *p, const char *host, unsigned port,
                          const mw_errorinfo **ei, mw_smtp **out) {
  log_reset();
  mw_smtp *c = smtp_client(host, port, -1, p, 5000);
  mw_proxyinfo_free(p);
  int rc = mw_smtp_connect(c);
  *ei = mw_smtp_extended_error(c);
  CHECK(!mw_smtp_is_connected(c));
  *out = c;
  return rc;
}

#define EXPECT_VIA(p, host, port, code, number)                               \
  do {                                                                        \
    const mw_errorinfo *ei_;                                                  \
    mw_smtp *c_;                                                              \
    int rc_ = smtp_error_via((p), (host), (port), &ei_, &c_);                 \
    CHECK_ERR(rc_, ei_, (code), (number));                                    \
    mw_smtp_free(c_);                                                         \
  } while (0)

static void test_real_proxies_refuse_credentials(void) {
  unsigned smtp = tl_env_port("SMTP_PORT");
  const char *user = tl_env("PROXY_USER");
  EXPECT_VIA(
      make_proxy(MW_PROXY_SOCKS5, tl_env_port("MICROSOCKS_PORT"), NULL, NULL),
      "127.0.0.1", smtp, errProxy, eexProxyAuthrequired);
  EXPECT_VIA(make_proxy(MW_PROXY_SOCKS5, tl_env_port("MICROSOCKS_PORT"), user,
                        "wrong-password"),
             "127.0.0.1", smtp, errProxy, eexProxyAuthfailed);
  CHECK(!tl_contains(log_text, log_len, "wrong-password"));
  EXPECT_VIA(
      make_proxy(MW_PROXY_SOCKS5, tl_env_port("DANTE_AUTH_PORT"), NULL, NULL),
      "127.0.0.1", smtp, errProxy, eexProxyAuthrequired);
  EXPECT_VIA(make_proxy(MW_PROXY_SOCKS5, tl_env_port("DANTE_AUTH_PORT"), user,
                        "wrong-password"),
             "127.0.0.1", smtp, errProxy, eexProxyAuthfailed);
  EXPECT_VIA(
      make_proxy(MW_PROXY_HTTP, tl_env_port("TINYPROXY_PORT"), NULL, NULL),
      "127.0.0.1", smtp, errProxy, eexProxyAuthrequired);
  EXPECT_VIA(make_proxy(MW_PROXY_HTTP, tl_env_port("TINYPROXY_PORT"), user,
                        "wrong-password"),
             "127.0.0.1", smtp, errProxy, eexProxyAuthfailed);
}

static void test_real_proxies_refuse_requests(void) {
  const char *user = tl_env("PROXY_USER"), *pass = tl_env("PROXY_PASS");
  unsigned closed = tl_env_port("CLOSED_PORT");
  /* Nothing listens behind the proxy. */
  EXPECT_VIA(
      make_proxy(MW_PROXY_SOCKS5, tl_env_port("DANTE_PORT"), NULL, NULL),
      "127.0.0.1", closed, errProxy, eexProxyRequestfailed);
  CHECK(tl_contains(log_text, log_len, "SOCKS5 proxy could not connect"));
  EXPECT_VIA(
      make_proxy(MW_PROXY_SOCKS4, tl_env_port("DANTE_PORT"), NULL, NULL),
      "127.0.0.1", closed, errProxy, eexProxyRequestfailed);
  EXPECT_VIA(
      make_proxy(MW_PROXY_SOCKS5, tl_env_port("MICROSOCKS_PORT"), user, pass),
      "127.0.0.1", closed, errProxy, eexProxyRequestfailed);
  /* tinyproxy allows CONNECT to the listed ports only: 403. */
  EXPECT_VIA(
      make_proxy(MW_PROXY_HTTP, tl_env_port("TINYPROXY_PORT"), user, pass),
      "127.0.0.1", tl_env_port("SMTP_NOTLS_PORT"), errProxy,
      eexProxyRequestfailed);
  CHECK(tl_contains(log_text, log_len, "403"));
  /* The proxy itself is not there. */
  EXPECT_VIA(make_proxy(MW_PROXY_SOCKS5, closed, NULL, NULL), "127.0.0.1",
             tl_env_port("SMTP_PORT"), errProxy, eexProxyNoconn);
  /* A name the proxy cannot resolve: no local lookup, the proxy says. */
  EXPECT_VIA(
      make_proxy(MW_PROXY_SOCKS5, tl_env_port("DANTE_PORT"), NULL, NULL),
      "no-such-host.invalid", tl_env_port("SMTP_PORT"), errProxy,
      eexProxyRequestfailed);
  CHECK(!tl_contains(log_text, log_len, "resolving no-such-host.invalid"));
  /* Asked to resolve locally, the lookup fails here, before any request. */
  mw_proxyinfo *p =
      make_proxy(MW_PROXY_SOCKS5, tl_env_port("DANTE_PORT"), NULL, NULL);
  CHECK_INT(mw_proxyinfo_set_remote_dns(p, 0), MW_OK);
  EXPECT_VIA(p, "no-such-host.invalid", tl_env_port("SMTP_PORT"), errConnect,
             eexDNS);
}

/* ---- the scripted hostile proxy ---- */

/* SOCKS5 no-auth greeting and a request for 127.0.0.1:25, as escapes. */
#define GREET_NOAUTH "CRAW: \\x05\\x01\\x00\n"
#define GREET_AUTH "CRAW: \\x05\\x02\\x00\\x02\n"
#define REQUEST_25 "CRAW: \\x05\\x01\\x00\\x01\\x7f\\x00\\x00\\x01\\x00\\x19\n"
#define REPLY_OK "\\x05\\x00\\x00\\x01\\x7f\\x00\\x00\\x01\\x00\\x19"

struct hostile {
  tl_server *srv;
  mw_smtp *c;
  int rc;
};

/* Run client against a scripted proxy; the mail server is 127.0.0.1:25
 * (never contacted: the script plays it when needed). */
static void hostile_run(struct hostile *h, const char *script, int kind,
                        const char *user, const char *pass, int timeout_ms) {
  h->srv = tl_server_start(script);
  CHECK(h->srv != NULL);
  mw_proxyinfo *p = mw_proxyinfo_new(kind);
  CHECK_INT(mw_proxyinfo_set_server(p, "127.0.0.1",
                                    h->srv ? tl_server_port(h->srv) : 1),
            MW_OK);
  if (user)
    CHECK_INT(mw_proxyinfo_set_credentials(p, user, pass), MW_OK);
  log_reset();
  h->c = smtp_client("127.0.0.1", 25, -1, p, timeout_ms);
  mw_proxyinfo_free(p);
  h->rc = mw_smtp_connect(h->c);
}

/* The script must have run to its end; returns what the client sent. */
static const char *hostile_end(struct hostile *h, size_t *len) {
  mw_smtp_free(h->c);
  h->c = NULL;
  if (tl_server_wait(h->srv, 15000) != 0)
    tl_fail(__FILE__, __LINE__, "script failed: %s", tl_server_error(h->srv));
  return tl_server_received(h->srv, len);
}

static void hostile_expect(const char *script, int kind, const char *user,
                           const char *pass, int number,
                           const char *text_has) {
  struct hostile h;
  hostile_run(&h, script, kind, user, pass, number == eexTimeout ? 500 : 5000);
  const mw_errorinfo *ei = mw_smtp_extended_error(h.c);
  CHECK_ERR(h.rc, ei, number == eexTimeout ? errTimeout : errProxy, number);
  const char *text = mw_errorinfo_text(ei);
  if (text_has && !tl_contains(text, strlen(text), text_has))
    tl_fail(__FILE__, __LINE__, "error text \"%s\" lacks \"%s\"", text,
            text_has);
  CHECK(!mw_smtp_is_connected(h.c));
  size_t len = 0;
  const char *sent = hostile_end(&h, &len);
  /* Nothing of SMTP (EHLO) ever went to a failed proxy, nor the secret. */
  CHECK(!tl_contains(sent, len, "EHLO"));
  if (pass && number != eexProxyAuthfailed)
    CHECK(!tl_contains(sent, len, pass));
  tl_server_free(h.srv);
}

static void test_hostile_socks5_method_and_auth_errors(void) {
  hostile_expect(GREET_NOAUTH "SRAW: \\x04\\x00\nEXPECT_CLOSE\n",
                 MW_PROXY_SOCKS5, NULL, NULL, eexProxyUnexpecteddefault,
                 "version is not 5");
  hostile_expect(GREET_AUTH "SRAW: \\x05\\xff\nEXPECT_CLOSE\n",
                 MW_PROXY_SOCKS5, "u", "p-secret", eexProxyAuthtypeunknown,
                 NULL);
  hostile_expect(GREET_NOAUTH "SRAW: \\x05\\xff\nEXPECT_CLOSE\n",
                 MW_PROXY_SOCKS5, NULL, NULL, eexProxyAuthrequired, NULL);
  hostile_expect(GREET_AUTH "SRAW: \\x05\\x02\n"
                            "CRAW: \\x01\\x01u\\x08p-secret\n"
                            "SRAW: \\x01\\x01\nEXPECT_CLOSE\n",
                 MW_PROXY_SOCKS5, "u", "p-secret", eexProxyAuthfailed, "'u'");
}

static void test_hostile_socks5_reply_errors(void) {
  hostile_expect(GREET_NOAUTH "SRAW: \\x05\\x00\n" REQUEST_25
                              "SRAW: \\x05\\x05\\x00\\x01\\x00\\x00\\x00"
                              "\\x00\\x00\\x00\nEXPECT_CLOSE\n",
                 MW_PROXY_SOCKS5, NULL, NULL, eexProxyRequestfailed,
                 "connection refused");
  hostile_expect(GREET_NOAUTH "SRAW: \\x05\\x00\n" REQUEST_25 "CLOSE\n",
                 MW_PROXY_SOCKS5, NULL, NULL, eexProxyServerclosedport, NULL);
  hostile_expect(GREET_NOAUTH "CLOSE\n", MW_PROXY_SOCKS5, NULL, NULL,
                 eexProxyServerclosedport, NULL);
  hostile_expect(GREET_NOAUTH "SRAW: \\x05\\x00\n" REQUEST_25
                              "SRAW: \\x05\\x00\\x00\nCLOSE\n",
                 MW_PROXY_SOCKS5, NULL, NULL, eexProxyUnexpecteddefault,
                 "truncated");
  hostile_expect(GREET_NOAUTH "SRAW: \\x05\\x00\n" REQUEST_25
                              "SRAW: \\x05\\x00\\x00\\x09\\x00\\x00\\x00\n"
                              "EXPECT_CLOSE\n",
                 MW_PROXY_SOCKS5, NULL, NULL, eexProxyUnexpecteddefault,
                 "unknown address type");
  /* A proxy that never answers. */
  hostile_expect(GREET_NOAUTH "SLEEP 3000\n", MW_PROXY_SOCKS5, NULL, NULL,
                 eexTimeout, "did not answer");
}

static void test_hostile_socks4_and_http_errors(void) {
  hostile_expect("CRAW: \\x04\\x01\\x00\\x19\\x7f\\x00\\x00\\x01\\x00\n"
                 "SRAW: \\x00\\x5b\\x00\\x00\\x00\\x00\\x00\\x00\n"
                 "EXPECT_CLOSE\n",
                 MW_PROXY_SOCKS4, NULL, NULL, eexProxyRequestfailed,
                 "rejected");
  hostile_expect("CRAW: \\x04\\x01\\x00\\x19\\x7f\\x00\\x00\\x01\\x00\n"
                 "SRAW: \\x05\\x00\nEXPECT_CLOSE\n",
                 MW_PROXY_SOCKS4, NULL, NULL, eexProxyUnexpecteddefault, NULL);
  hostile_expect("C: CONNECT 127.0.0.1:25 HTTP/1.1\nC: Host: 127.0.0.1:25\n"
                 "C: \nS: HTTP/1.1 407 Proxy Authentication Required\n"
                 "S: \nEXPECT_CLOSE\n",
                 MW_PROXY_HTTP, NULL, NULL, eexProxyAuthrequired, NULL);
  hostile_expect("C: CONNECT 127.0.0.1:25 HTTP/1.1\nC: Host: 127.0.0.1:25\n"
                 "C: Proxy-Authorization: Basic dTpw\nC: \n"
                 "S: HTTP/1.1 407 Proxy Authentication Required\n"
                 "S: \nEXPECT_CLOSE\n",
                 MW_PROXY_HTTP, "u", "p", eexProxyAuthfailed, NULL);
  hostile_expect("C: CONNECT 127.0.0.1:25 HTTP/1.1\nC: Host: 127.0.0.1:25\n"
                 "C: \nS: HTTP/1.1 502 Bad Gateway\nS: \nEXPECT_CLOSE\n",
                 MW_PROXY_HTTP, NULL, NULL, eexProxyRequestfailed,
                 "502 Bad Gateway");
  hostile_expect("C: CONNECT 127.0.0.1:25 HTTP/1.1\nC: Host: 127.0.0.1:25\n"
                 "C: \nS: SSH-2.0-OpenSSH_9.2\nCLOSE\n",
                 MW_PROXY_HTTP, NULL, NULL, eexProxyUnexpecteddefault, NULL);
}

/* The proxy's reply split over many reads, and the mail server's greeting
 * in the same segment as the end of the proxy's reply: none of it may be
 * lost or taken as the proxy's. */
static void test_hostile_split_reply_then_smtp(void) {
  struct hostile h;
  hostile_run(&h,
              GREET_AUTH "SRAW: \\x05\nSLEEP 30\nSRAW: \\x02\n"
                         "CRAW: \\x01\\x01u\\x01p\n"
                         "SRAW: \\x01\nSLEEP 30\nSRAW: \\x00\n" REQUEST_25
                         "SRAW: \\x05\\x00\nSLEEP 30\n"
                         "SRAW: \\x00\\x03\\x05\nSLEEP 30\n"
                         "SRAW: proxy\\x00\\x19220 scripted ESMTP\\r\\n\n"
                         "C: EHLO itest.mailwire.test\n"
                         "S: 250 scripted\nC: QUIT\nS: 221 bye\n",
              MW_PROXY_SOCKS5, "u", "p", 5000);
  CHECK_ERR(h.rc, mw_smtp_extended_error(h.c), MW_OK, 0);
  CHECK_INT(mw_smtp_quit(h.c), MW_OK);
  size_t len;
  hostile_end(&h, &len);
  tl_server_free(h.srv);

  hostile_run(&h,
              "C: CONNECT 127.0.0.1:25 HTTP/1.1\nC: Host: 127.0.0.1:25\nC: \n"
              "SRAW: HTTP/1.1 200 Connection established\\r\n"
              "SLEEP 30\nSRAW: \\nProxy-agent: x\\r\\n\\r\nSLEEP 30\n"
              "SRAW: \\n220 scripted ESMTP\\r\\n\n"
              "C: EHLO itest.mailwire.test\n"
              "S: 250 scripted\nC: QUIT\nS: 221 bye\n",
              MW_PROXY_HTTP, NULL, NULL, 5000);
  CHECK_ERR(h.rc, mw_smtp_extended_error(h.c), MW_OK, 0);
  CHECK_INT(mw_smtp_quit(h.c), MW_OK);
  hostile_end(&h, &len);
  tl_server_free(h.srv);
}

/* A proxy that resets the connection (RST: SO_LINGER 0) right after
 * accepting it: the client's next send or receive fails with a socket
 * error, not an orderly close. */
struct resetter {
  int lfd;
  unsigned port;
  pthread_t thread;
};

static void *reset_one(void *arg) {
  struct resetter *r = arg;
  int fd = accept(r->lfd, NULL, NULL);
  if (fd >= 0) {
    struct linger lg = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(fd);
  }
  return NULL;
}

static int resetter_start(struct resetter *r) {
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t alen = sizeof a;
  r->lfd = socket(AF_INET, SOCK_STREAM, 0);
  if (r->lfd < 0 || bind(r->lfd, (struct sockaddr *)&a, sizeof a) != 0 ||
      listen(r->lfd, 1) != 0 ||
      getsockname(r->lfd, (struct sockaddr *)&a, &alen) != 0)
    return -1;
  r->port = ntohs(a.sin_port);
  return pthread_create(&r->thread, NULL, reset_one, r);
}

static void test_proxy_resetting_the_connection_is_a_socket_error(void) {
  struct resetter r;
  CHECK_INT(resetter_start(&r), 0);
  mw_proxyinfo *p = mw_proxyinfo_new(MW_PROXY_SOCKS5);
  CHECK_INT(mw_proxyinfo_set_server(p, "127.0.0.1", r.port), MW_OK);
  /* The reset hits the greeting being sent or the wait for its answer. */
  EXPECT_VIA(p, "127.0.0.1", 25, errProxy, eexProxySocketerror);
  pthread_join(r.thread, NULL);
  close(r.lfd);
}

/* ---- POP3 and SMTP application proxies ---- */

struct pop3_hostile {
  tl_server *srv;
  mw_pop3 *c;
  int rc;
};

/* A POP3 client for mail.example.org (never resolved nor contacted) via a
 * scripted POP3 proxy at "localhost". */
static void pop3_proxy_run(struct pop3_hostile *h, const char *script,
                           unsigned server_port, int mode) {
  h->srv = tl_server_start(script);
  CHECK(h->srv != NULL);
  mw_proxyinfo *p = mw_proxyinfo_new(MW_PROXY_POP3);
  CHECK_INT(mw_proxyinfo_set_server(p, "localhost",
                                    h->srv ? tl_server_port(h->srv) : 1),
            MW_OK);
  log_reset();
  h->c = mw_pop3_new();
  CHECK_INT(mw_pop3_set_server(h->c, "mail.example.org", server_port), MW_OK);
  CHECK_INT(mw_pop3_set_timeout(h->c, 5000), MW_OK);
  CHECK_INT(mw_pop3_set_credentials(h->c, "alice", "pop-secret"), MW_OK);
  CHECK_INT(mw_pop3_set_allow_plaintext_auth(h->c, 1), MW_OK);
  mw_sslinfo *ssl = sslinfo(mode);
  if (ssl)
    CHECK_INT(mw_pop3_set_handler(h->c, ssl), MW_OK);
  mw_sslinfo_free(ssl);
  mw_loghandler *lh = mw_loghandler_new(collect_log, NULL);
  CHECK_INT(mw_pop3_set_handler(h->c, lh), MW_OK);
  mw_loghandler_free(lh);
  CHECK_INT(mw_pop3_set_handler(h->c, p), MW_OK);
  mw_proxyinfo_free(p);
  h->rc = mw_pop3_connect(h->c);
}

static void pop3_proxy_end(struct pop3_hostile *h) {
  mw_pop3_free(h->c);
  if (tl_server_wait(h->srv, 15000) != 0)
    tl_fail(__FILE__, __LINE__, "script failed: %s", tl_server_error(h->srv));
  tl_server_free(h->srv);
}

static void test_pop3_proxy_login_convention(void) {
  struct pop3_hostile h;
  /* Port 110 (default): user@server. */
  pop3_proxy_run(&h,
                 "S: +OK POP3 proxy ready\nC: CAPA\nS: +OK\nS: USER\nS: .\n"
                 "C: USER alice@mail.example.org\nS: +OK\n"
                 "C: PASS pop-secret\nS: +OK logged in\n"
                 "C: QUIT\nS: +OK bye\n",
                 0, -1);
  CHECK_ERR(h.rc, mw_pop3_extended_error(h.c), MW_OK, 0);
  CHECK(tl_contains(log_text, log_len, "as 'alice@mail.example.org'"));
  CHECK_INT(mw_pop3_quit(h.c), MW_OK);
  pop3_proxy_end(&h);
  /* Another port: user@server:port. */
  pop3_proxy_run(&h,
                 "S: +OK POP3 proxy ready\nC: CAPA\nS: +OK\nS: USER\nS: .\n"
                 "C: USER alice@mail.example.org:1110\nS: +OK\n"
                 "C: PASS pop-secret\nS: -ERR [AUTH] no such server\n"
                 "EXPECT_CLOSE\n",
                 1110, -1);
  CHECK_ERR(h.rc, mw_pop3_extended_error(h.c), errAuth, eexPopServer);
  pop3_proxy_end(&h);
}

/* TLS ends at the proxy: its certificate (localhost) is checked against
 * the proxy's name; the mail server's name would not match. */
static void test_pop3_proxy_tls_checks_the_proxys_name(void) {
  struct pop3_hostile h;
  pop3_proxy_run(&h,
                 "S: +OK POP3 proxy ready\nC: CAPA\nS: +OK\nS: STLS\n"
                 "S: USER\nS: .\nC: STLS\nS: +OK begin TLS\nTLS\n"
                 "C: CAPA\nS: +OK\nS: USER\nS: .\n"
                 "C: USER alice@mail.example.org\nS: +OK\n"
                 "C: PASS pop-secret\nS: +OK logged in\n"
                 "C: QUIT\nS: +OK bye\n",
                 0, MODE_STARTTLS);
  CHECK_ERR(h.rc, mw_pop3_extended_error(h.c), MW_OK, 0);
  CHECK(mw_pop3_is_secure(h.c));
  CHECK(tl_contains(log_text, log_len, "checking the name 'localhost'"));
  CHECK_INT(mw_pop3_quit(h.c), MW_OK);
  pop3_proxy_end(&h);
  pop3_proxy_run(&h,
                 "TLS\nS: +OK POP3 proxy ready\nC: CAPA\nS: +OK\nS: USER\n"
                 "S: .\nC: USER alice@mail.example.org:995\nS: +OK\n"
                 "C: PASS pop-secret\nS: +OK logged in\n"
                 "C: QUIT\nS: +OK bye\n",
                 995, MODE_CHANNEL);
  CHECK_ERR(h.rc, mw_pop3_extended_error(h.c), MW_OK, 0);
  CHECK(mw_pop3_is_secure(h.c));
  CHECK_INT(mw_pop3_quit(h.c), MW_OK);
  pop3_proxy_end(&h);
}

static void test_pop3_proxy_unreachable(void) {
  mw_proxyinfo *p =
      make_proxy(MW_PROXY_POP3, tl_env_port("CLOSED_PORT"), NULL, NULL);
  mw_pop3 *c = pop3_client(110, -1, p);
  mw_proxyinfo_free(p);
  CHECK_ERR(mw_pop3_connect(c), mw_pop3_extended_error(c), errProxy,
            eexProxyNoconn);
  mw_pop3_free(c);
}

/* Postfix as the SMTP relay: the client names a mail server that does not
 * exist, and the mail still arrives through the relay; with STARTTLS the
 * relay's certificate is checked against the relay's name. */
static void test_smtp_proxy_relays_through_postfix(void) {
  int modes[] = {-1, MODE_STARTTLS, MODE_CHANNEL};
  for (size_t i = 0; i < 3; i++) {
    char marker[128], to[256], msg[1024];
    snprintf(marker, sizeof marker, "mw-relay-%ld-%d-%zu", (long)time(NULL),
             (int)getpid(), i);
    mw_proxyinfo *p = mw_proxyinfo_new(MW_PROXY_SMTP);
    CHECK_INT(mw_proxyinfo_set_server(p, "localhost",
                                      tl_env_port(modes[i] == MODE_CHANNEL
                                                      ? "SMTPS_PORT"
                                                      : "SMTP_PORT")),
              MW_OK);
    log_reset();
    mw_smtp *c = smtp_client("mail.invalid", 0, modes[i], p, 10000);
    mw_proxyinfo_free(p);
    snprintf(to, sizeof to, "%s@%s", tl_env("USER"), tl_env("MAIL_DOMAIN"));
    snprintf(msg, sizeof msg, "Subject: %s\r\n\r\nrelayed\r\n", marker);
    const char *rcpts[] = {to};
    int rc = mw_smtp_connect(c);
    CHECK_ERR(rc, mw_smtp_extended_error(c), MW_OK, 0);
    if (rc == MW_OK)
      CHECK_ERR(mw_smtp_send(c, to, rcpts, 1, msg, strlen(msg)),
                mw_smtp_extended_error(c), MW_OK, 0);
    CHECK_INT(mw_smtp_is_secure(c), modes[i] >= 0);
    if (modes[i] >= 0)
      CHECK(tl_contains(log_text, log_len, "checking the name 'localhost'"));
    CHECK(!tl_contains(log_text, log_len, "mail.invalid' cannot"));
    mw_smtp_quit(c);
    mw_smtp_free(c);
    size_t len = 0;
    char *got = tl_wait_delivery(tl_env("USER"), marker, 30000, &len);
    CHECK(got != NULL);
    free(got);
  }
}

int main(void) {
  setvbuf(stdout, NULL, _IONBF, 0);
  RUN(test_hostile_socks5_method_and_auth_errors);
  RUN(test_hostile_socks5_reply_errors);
  RUN(test_hostile_socks4_and_http_errors);
  RUN(test_hostile_split_reply_then_smtp);
  RUN(test_proxy_resetting_the_connection_is_a_socket_error);
  RUN(test_pop3_proxy_login_convention);
  RUN(test_pop3_proxy_tls_checks_the_proxys_name);
  RUN(test_pop3_proxy_unreachable);
  RUN(test_smtp_proxy_relays_through_postfix);
  RUN(test_real_proxies_refuse_credentials);
  RUN(test_real_proxies_refuse_requests);
  RUN(test_plain_through_each_proxy);
  RUN(test_implicit_tls_through_each_proxy);
  RUN(test_starttls_through_each_proxy);
  return tl_finish();
}
