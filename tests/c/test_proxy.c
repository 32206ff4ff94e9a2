/* test_proxy.c - the proxy negotiation engine (proxy.c) fed transcripts:
 * the exact bytes of each request, every error reply, replies split byte
 * by byte; the ProxyInfo object; SetAdvancedHandler with a ProxyInfo. No
 * network. */
#include "proxy.h"
#include "testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static mw_errorinfo err;
static mw_proxy_neg n;
static char log_text[1 << 15];
static size_t log_len;

static void collect_log(void *userdata, int severity, int facility,
                        const char *message) {
  (void)userdata;
  (void)severity;
  CHECK_INT(facility, LOG_F_PROXY);
  size_t len = strlen(message);
  if (log_len + len + 2 < sizeof log_text) {
    memcpy(log_text + log_len, message, len);
    log_len += len;
    log_text[log_len++] = '\n';
    log_text[log_len] = '\0';
  }
}

static mw_loghandler *lh;

static mw_proxy_state begin(int kind, const char *user, const char *pass,
                            const char *host, unsigned port) {
  mw_proxy_free(&n);
  mw_error_clear(&err);
  mw_error_init(&err);
  log_len = 0;
  log_text[0] = '\0';
  mw_proxy_init(&n, kind, user, pass, host, port, &err, lh);
  return mw_proxy_start(&n);
}

/* n.out holds exactly these bytes; then it is emptied. */
#define OUT_IS(lit) out_is(__LINE__, lit, sizeof lit - 1)
static void out_is(int line, const char *want, size_t len) {
  if (n.out.len != len || memcmp(n.out.data, want, len) != 0) {
    char shown[512] = "";
    size_t pos = 0;
    for (size_t i = 0; i < n.out.len && pos + 5 < sizeof shown; i++)
      pos += (size_t)snprintf(shown + pos, sizeof shown - pos, "%02x ",
                              (unsigned char)n.out.data[i]);
    tl_fail(__FILE__, line, "sent %zu bytes [%s], expected %zu", n.out.len,
            shown, len);
  }
  mw_buf_reset(&n.out);
}

#define FEED(lit) mw_proxy_feed(&n, lit, sizeof lit - 1)

/* Feed one byte at a time as the driver would: each read asks for at most
 * mw_proxy_want bytes, which must never reach past the reply. */
#define FEED_BYTEWISE(lit) feed_bytewise(__LINE__, lit, sizeof lit - 1)
static mw_proxy_state feed_bytewise(int line, const char *p, size_t len) {
  mw_proxy_state st = n.state;
  for (size_t i = 0; i < len; i++) {
    size_t want = mw_proxy_want(&n);
    if (want < 1 || want > len - i)
      tl_fail(__FILE__, line, "want %zu at byte %zu of %zu", want, i, len);
    st = mw_proxy_feed(&n, p + i, 1);
    if (st == MW_PXS_DONE || st == MW_PXS_FAILED) {
      if (i + 1 != len)
        tl_fail(__FILE__, line, "ended at byte %zu of %zu", i + 1, len);
      return st;
    }
  }
  return st;
}

#define EXPECT_FAIL(st, number)                                               \
  do {                                                                        \
    CHECK_INT((st), MW_PXS_FAILED);                                           \
    CHECK_ERR(err.code, &err, errProxy, number);                              \
  } while (0)

/* ---- SOCKS5 ---- */

static const char s5_name_request[] =
    "\x05\x01\x00\x03\x10mail.example.org\x00\x19";
static const char s5_reply_v4[] = "\x05\x00\x00\x01\x7f\x00\x00\x01\x9c\x40";

static void test_socks5_no_auth_name_resolved_by_proxy(void) {
  CHECK_INT(begin(MW_PROXY_SOCKS5, NULL, NULL, "mail.example.org", 25),
            MW_PXS_GREETING);
  OUT_IS("\x05\x01\x00");
  CHECK_INT(mw_proxy_want(&n), 2);
  CHECK_INT(FEED("\x05\x00"), MW_PXS_REPLY);
  out_is(__LINE__, s5_name_request, sizeof s5_name_request - 1);
  CHECK_INT(mw_proxy_want(&n), 5);
  CHECK_INT(FEED("\x05\x00\x00\x01\x7f"), MW_PXS_REPLY);
  CHECK_INT(mw_proxy_want(&n), 5);
  CHECK_INT(FEED("\x00\x00\x01\x9c\x40"), MW_PXS_DONE);
  CHECK_INT(err.code, MW_OK);
  CHECK(tl_contains(log_text, log_len, "name resolved by the proxy"));
}

static void test_socks5_user_password_exact_bytes(void) {
  CHECK_INT(begin(MW_PROXY_SOCKS5, "user", "secret", "mail.example.org", 25),
            MW_PXS_GREETING);
  OUT_IS("\x05\x02\x00\x02");
  CHECK_INT(FEED("\x05\x02"), MW_PXS_AUTH);
  OUT_IS("\x01\x04user\x06secret");
  CHECK_INT(FEED("\x01\x00"), MW_PXS_REPLY);
  out_is(__LINE__, s5_name_request, sizeof s5_name_request - 1);
  /* A bound address given as a name, then as IPv6. */
  CHECK_INT(FEED("\x05\x00\x00\x03\x05proxy\x04\x38"), MW_PXS_DONE);
  CHECK(tl_contains(log_text, log_len, "'user'"));
  CHECK(tl_contains(log_text, log_len, "<redacted>"));
  CHECK(!tl_contains(log_text, log_len, "secret"));
}

static void test_socks5_proxy_may_choose_no_auth_when_offered_both(void) {
  begin(MW_PROXY_SOCKS5, "user", "secret", "mail.example.org", 25);
  OUT_IS("\x05\x02\x00\x02");
  CHECK_INT(FEED("\x05\x00"), MW_PXS_REPLY);
  out_is(__LINE__, s5_name_request, sizeof s5_name_request - 1);
  CHECK_INT(FEED("\x05\x00\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
                 "\x00\x00\x00\x00\x00\x01\x00\x19"),
            MW_PXS_DONE);
}

static void test_socks5_address_targets(void) {
  begin(MW_PROXY_SOCKS5, NULL, NULL, "127.0.0.1", 465);
  OUT_IS("\x05\x01\x00");
  FEED("\x05\x00");
  OUT_IS("\x05\x01\x00\x01\x7f\x00\x00\x01\x01\xd1");
  begin(MW_PROXY_SOCKS5, NULL, NULL, "::1", 995);
  OUT_IS("\x05\x01\x00");
  FEED("\x05\x00");
  OUT_IS("\x05\x01\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
         "\x00\x00\x00\x01\x03\xe3");
  /* Resolved locally: conn.c fills the address before starting. */
  CHECK(mw_proxy_needs_local_address(MW_PROXY_SOCKS5, 0, "mail.example"));
  CHECK(!mw_proxy_needs_local_address(MW_PROXY_SOCKS5, 1, "mail.example"));
  CHECK(!mw_proxy_needs_local_address(MW_PROXY_SOCKS5, 0, "10.0.0.1"));
  CHECK(mw_proxy_needs_local_address(MW_PROXY_SOCKS4, 1, "mail.example"));
  CHECK(!mw_proxy_needs_local_address(MW_PROXY_SOCKS4A, 0, "mail.example"));
  CHECK(!mw_proxy_needs_local_address(MW_PROXY_HTTP, 0, "mail.example"));
  mw_proxy_free(&n);
  mw_proxy_init(&n, MW_PROXY_SOCKS5, NULL, NULL, "mail.example", 25, &err,
                NULL);
  n.addr_family = 4;
  memcpy(n.addr, "\x0a\x00\x00\x07", 4);
  mw_proxy_start(&n);
  mw_buf_reset(&n.out);
  FEED("\x05\x00");
  OUT_IS("\x05\x01\x00\x01\x0a\x00\x00\x07\x00\x19");
}

static void test_socks5_split_byte_by_byte(void) {
  begin(MW_PROXY_SOCKS5, "user", "secret", "mail.example.org", 25);
  mw_buf_reset(&n.out);
  CHECK_INT(FEED_BYTEWISE("\x05\x02"), MW_PXS_AUTH);
  mw_buf_reset(&n.out);
  CHECK_INT(FEED_BYTEWISE("\x01\x00"), MW_PXS_REPLY);
  mw_buf_reset(&n.out);
  CHECK_INT(FEED_BYTEWISE("\x05\x00\x00\x03\x0bproxy.local\x04\x38"),
            MW_PXS_DONE);
  begin(MW_PROXY_SOCKS5, NULL, NULL, "mail.example.org", 25);
  FEED_BYTEWISE("\x05\x00");
  CHECK_INT(feed_bytewise(__LINE__, s5_reply_v4, sizeof s5_reply_v4 - 1),
            MW_PXS_DONE);
  begin(MW_PROXY_SOCKS5, NULL, NULL, "mail.example.org", 25);
  FEED_BYTEWISE("\x05\x00");
  CHECK_INT(FEED_BYTEWISE("\x05\x00\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00"
                          "\x00\x00\x00\x00\x00\x00\x00\x01\x00\x19"),
            MW_PXS_DONE);
}

static void test_socks5_method_errors(void) {
  begin(MW_PROXY_SOCKS5, NULL, NULL, "mail.example.org", 25);
  EXPECT_FAIL(FEED("\x04\x00"), eexProxyUnexpecteddefault);
  /* No credentials, and the proxy wants some. */
  begin(MW_PROXY_SOCKS5, NULL, NULL, "mail.example.org", 25);
  EXPECT_FAIL(FEED("\x05\xff"), eexProxyAuthrequired);
  CHECK(tl_contains(err.text, strlen(err.text), "set a user name"));
  begin(MW_PROXY_SOCKS5, NULL, NULL, "mail.example.org", 25);
  EXPECT_FAIL(FEED("\x05\x02"), eexProxyAuthrequired);
  /* Credentials offered; neither method suits the proxy. */
  begin(MW_PROXY_SOCKS5, "user", "secret", "mail.example.org", 25);
  mw_buf_reset(&n.out);
  EXPECT_FAIL(FEED("\x05\xff"), eexProxyAuthtypeunknown);
  CHECK_INT(n.out.len, 0); /* the password was never sent */
  begin(MW_PROXY_SOCKS5, "user", "secret", "mail.example.org", 25);
  mw_buf_reset(&n.out);
  EXPECT_FAIL(FEED("\x05\x01"), eexProxyAuthtypeunknown); /* GSSAPI */
  CHECK(tl_contains(err.text, strlen(err.text), "0x01"));
}

static void test_socks5_auth_errors(void) {
  begin(MW_PROXY_SOCKS5, "user", "secret", "mail.example.org", 25);
  FEED("\x05\x02");
  mw_buf_reset(&n.out);
  EXPECT_FAIL(FEED("\x01\x01"), eexProxyAuthfailed);
  CHECK(tl_contains(err.text, strlen(err.text), "'user'"));
  CHECK(!tl_contains(err.text, strlen(err.text), "secret"));
  CHECK_INT(n.out.len, 0); /* no connect request after a refusal */
  CHECK(!tl_contains(log_text, log_len, "secret"));
  begin(MW_PROXY_SOCKS5, "user", "secret", "mail.example.org", 25);
  FEED("\x05\x02");
  EXPECT_FAIL(FEED("\x05\x00"), eexProxyUnexpecteddefault);
}

static void test_socks5_every_refusal_carries_the_reason(void) {
  static const char *const reasons[] = {NULL,
                                        "general SOCKS server failure",
                                        "connection not allowed by ruleset",
                                        "network unreachable",
                                        "host unreachable",
                                        "connection refused",
                                        "TTL expired",
                                        "command not supported",
                                        "address type not supported",
                                        "unknown reason"};
  for (unsigned code = 1; code <= 9; code++) {
    begin(MW_PROXY_SOCKS5, NULL, NULL, "mail.example.org", 25);
    FEED("\x05\x00");
    mw_buf_reset(&n.out);
    char reply[10] = {5, (char)code, 0, 1, 127, 0, 0, 1, 0, 25};
    EXPECT_FAIL(mw_proxy_feed(&n, reply, sizeof reply), eexProxyRequestfailed);
    CHECK(tl_contains(err.text, strlen(err.text), reasons[code]));
    CHECK(tl_contains(err.text, strlen(err.text), "mail.example.org port 25"));
    CHECK_INT(n.out.len, 0);
  }
}

static void test_socks5_bad_replies(void) {
  begin(MW_PROXY_SOCKS5, NULL, NULL, "mail.example.org", 25);
  FEED("\x05\x00");
  EXPECT_FAIL(FEED("\x04\x00\x00\x01\x7f\x00\x00\x01\x00\x19"),
              eexProxyUnexpecteddefault);
  begin(MW_PROXY_SOCKS5, NULL, NULL, "mail.example.org", 25);
  FEED("\x05\x00");
  EXPECT_FAIL(FEED("\x05\x00\x00\x07\x7f"), eexProxyUnexpecteddefault);
  CHECK(tl_contains(err.text, strlen(err.text), "unknown address type"));
  /* Truncated: part of a reply, then EOF. */
  begin(MW_PROXY_SOCKS5, NULL, NULL, "mail.example.org", 25);
  FEED("\x05\x00");
  CHECK_INT(FEED("\x05\x00\x00\x01\x7f"), MW_PXS_REPLY);
  EXPECT_FAIL(mw_proxy_eof(&n), eexProxyUnexpecteddefault);
  CHECK(tl_contains(err.text, strlen(err.text), "truncated"));
  /* EOF where a reply should start. */
  begin(MW_PROXY_SOCKS5, NULL, NULL, "mail.example.org", 25);
  EXPECT_FAIL(mw_proxy_eof(&n), eexProxyServerclosedport);
  begin(MW_PROXY_SOCKS5, NULL, NULL, "mail.example.org", 25);
  FEED("\x05\x00");
  EXPECT_FAIL(mw_proxy_eof(&n), eexProxyServerclosedport);
}

static void test_bounds_are_refused_before_sending(void) {
  char big[300];
  memset(big, 'a', 256);
  big[256] = '\0';
  CHECK_INT(begin(MW_PROXY_SOCKS5, big, "pw", "mail.example.org", 25),
            MW_PXS_FAILED);
  CHECK_ERR(err.code, &err, errInvalidArgument, eexInvalidArgument);
  CHECK_INT(n.out.len, 0);
  CHECK_INT(begin(MW_PROXY_SOCKS5, "u", big, "mail.example.org", 25),
            MW_PXS_FAILED);
  CHECK_ERR(err.code, &err, errInvalidArgument, eexInvalidArgument);
  CHECK(!tl_contains(err.text, strlen(err.text), big));
  CHECK_INT(begin(MW_PROXY_SOCKS5, NULL, NULL, big, 25), MW_PXS_FAILED);
  CHECK_ERR(err.code, &err, errInvalidArgument, eexInvalidArgument);
  CHECK_INT(begin(MW_PROXY_HTTP, NULL, NULL, "a\r\nX: y", 25), MW_PXS_FAILED);
  CHECK_ERR(err.code, &err, errInvalidArgument, eexInvalidArgument);
  CHECK_INT(n.out.len, 0);
  /* 255 is the limit, and fits the length byte. */
  big[255] = '\0';
  CHECK_INT(begin(MW_PROXY_SOCKS5, big, big, big, 25), MW_PXS_GREETING);
  mw_buf_reset(&n.out);
  FEED("\x05\x02");
  CHECK_INT(n.out.len, 1 + 1 + 255 + 1 + 255);
  CHECK_INT((unsigned char)n.out.data[1], 255);
}

/* ---- SOCKS4 / SOCKS4a ---- */

static void test_socks4_exact_bytes_and_reply(void) {
  CHECK_INT(begin(MW_PROXY_SOCKS4, "alice", NULL, "127.0.0.1", 25),
            MW_PXS_REPLY);
  OUT_IS("\x04\x01\x00\x19\x7f\x00\x00\x01"
         "alice\x00");
  CHECK_INT(mw_proxy_want(&n), 8);
  CHECK_INT(FEED("\x00\x5a\x00\x00\x00\x00\x00\x00"), MW_PXS_DONE);
  begin(MW_PROXY_SOCKS4, NULL, NULL, "10.1.2.3", 110);
  OUT_IS("\x04\x01\x00\x6e\x0a\x01\x02\x03\x00");
  CHECK_INT(FEED_BYTEWISE("\x00\x5a\x00\x6e\x0a\x01\x02\x03"), MW_PXS_DONE);
}

static void test_socks4a_sends_the_name(void) {
  CHECK_INT(begin(MW_PROXY_SOCKS4A, NULL, NULL, "mail.example.org", 25),
            MW_PXS_REPLY);
  OUT_IS("\x04\x01\x00\x19\x00\x00\x00\x01\x00mail.example.org\x00");
  CHECK_INT(FEED_BYTEWISE("\x00\x5a\x00\x00\x00\x00\x00\x00"), MW_PXS_DONE);
  CHECK(tl_contains(log_text, log_len, "name resolved by the proxy"));
  /* A literal IPv4 goes as an address. */
  begin(MW_PROXY_SOCKS4A, "bob", NULL, "127.0.0.1", 25);
  OUT_IS("\x04\x01\x00\x19\x7f\x00\x00\x01"
         "bob\x00");
}

static void test_socks4_errors(void) {
  /* SOCKS4 without a local IPv4 address, and IPv6 targets. */
  mw_proxy_free(&n);
  mw_proxy_init(&n, MW_PROXY_SOCKS4, NULL, NULL, "mail.example.org", 25, &err,
                NULL);
  CHECK_INT(mw_proxy_start(&n), MW_PXS_FAILED);
  CHECK_ERR(err.code, &err, errInvalidArgument, eexInvalidArgument);
  CHECK_INT(begin(MW_PROXY_SOCKS4A, NULL, NULL, "::1", 25), MW_PXS_FAILED);
  CHECK_ERR(err.code, &err, errInvalidArgument, eexInvalidArgument);
  CHECK_INT(n.out.len, 0);
  begin(MW_PROXY_SOCKS4, NULL, NULL, "127.0.0.1", 25);
  EXPECT_FAIL(FEED("\x00\x5b\x00\x00\x00\x00\x00\x00"), eexProxyRequestfailed);
  CHECK(tl_contains(err.text, strlen(err.text), "rejected or failed"));
  begin(MW_PROXY_SOCKS4, NULL, NULL, "127.0.0.1", 25);
  EXPECT_FAIL(FEED("\x00\x5c"), eexProxyRequestfailed);
  CHECK(tl_contains(err.text, strlen(err.text), "identd"));
  begin(MW_PROXY_SOCKS4, "alice", NULL, "127.0.0.1", 25);
  EXPECT_FAIL(FEED("\x00\x5d"), eexProxyAuthfailed);
  begin(MW_PROXY_SOCKS4, NULL, NULL, "127.0.0.1", 25);
  EXPECT_FAIL(FEED("\x04\x5a\x00\x00\x00\x00\x00\x00"),
              eexProxyUnexpecteddefault); /* version 4 (a SOCKS5 server?) */
  begin(MW_PROXY_SOCKS4, NULL, NULL, "127.0.0.1", 25);
  EXPECT_FAIL(FEED("\x00\x10"), eexProxyUnexpecteddefault);
  begin(MW_PROXY_SOCKS4, NULL, NULL, "127.0.0.1", 25);
  FEED("\x00\x5a\x00");
  EXPECT_FAIL(mw_proxy_eof(&n), eexProxyUnexpecteddefault);
  begin(MW_PROXY_SOCKS4A, NULL, NULL, "mail.example.org", 25);
  EXPECT_FAIL(mw_proxy_eof(&n), eexProxyServerclosedport);
}

/* ---- HTTP CONNECT ---- */

static void test_http_connect_exact_bytes(void) {
  CHECK_INT(begin(MW_PROXY_HTTP, NULL, NULL, "mail.example.org", 587),
            MW_PXS_REPLY);
  OUT_IS("CONNECT mail.example.org:587 HTTP/1.1\r\n"
         "Host: mail.example.org:587\r\n\r\n");
  CHECK_INT(mw_proxy_want(&n), 4);
  CHECK_INT(FEED("HTTP/1.1 200 Connection established\r\n"), MW_PXS_REPLY);
  CHECK_INT(mw_proxy_want(&n), 2);
  CHECK_INT(FEED("Proxy-agent: tinyproxy/1.11.1\r\n\r"), MW_PXS_REPLY);
  CHECK_INT(mw_proxy_want(&n), 1);
  CHECK_INT(FEED("\n"), MW_PXS_DONE);
  CHECK(tl_contains(log_text, log_len, "200 Connection established"));
}

static void test_http_connect_basic_auth_and_ipv6(void) {
  begin(MW_PROXY_HTTP, "user", "secret", "::1", 25);
  /* base64("user:secret") */
  OUT_IS("CONNECT [::1]:25 HTTP/1.1\r\nHost: [::1]:25\r\n"
         "Proxy-Authorization: Basic dXNlcjpzZWNyZXQ=\r\n\r\n");
  CHECK_INT(FEED_BYTEWISE("HTTP/1.0 200 OK\r\n\r\n"), MW_PXS_DONE);
  CHECK(tl_contains(log_text, log_len, "Basic <redacted>"));
  CHECK(!tl_contains(log_text, log_len, "dXNlcjpzZWNyZXQ="));
  CHECK(!tl_contains(log_text, log_len, "secret"));
}

static void test_http_connect_errors(void) {
  begin(MW_PROXY_HTTP, NULL, NULL, "mail.example.org", 25);
  EXPECT_FAIL(FEED("HTTP/1.1 407 Proxy Authentication Required\r\n"
                   "Proxy-Authenticate: Basic realm=\"x\"\r\n\r\n"),
              eexProxyAuthrequired);
  begin(MW_PROXY_HTTP, "user", "wrong", "mail.example.org", 25);
  EXPECT_FAIL(FEED("HTTP/1.1 407 Proxy Authentication Required\r\n\r\n"),
              eexProxyAuthfailed);
  begin(MW_PROXY_HTTP, "user", "wrong", "mail.example.org", 25);
  EXPECT_FAIL(FEED("HTTP/1.0 401 Unauthorized\r\n\r\n"), eexProxyAuthfailed);
  CHECK(tl_contains(err.text, strlen(err.text), "401 Unauthorized"));
  begin(MW_PROXY_HTTP, NULL, NULL, "mail.example.org", 25);
  EXPECT_FAIL(FEED_BYTEWISE("HTTP/1.1 403 Access violation\r\n\r\n"),
              eexProxyRequestfailed);
  CHECK(tl_contains(err.text, strlen(err.text), "403 Access violation"));
  begin(MW_PROXY_HTTP, NULL, NULL, "mail.example.org", 25);
  EXPECT_FAIL(FEED("HTTP/1.1 502 Bad Gateway\r\n\r\n"), eexProxyRequestfailed);
  begin(MW_PROXY_HTTP, NULL, NULL, "mail.example.org", 25);
  EXPECT_FAIL(FEED("220 mail ESMTP ready\r\n\r\n"), eexProxyUnexpecteddefault);
  begin(MW_PROXY_HTTP, NULL, NULL, "mail.example.org", 25);
  EXPECT_FAIL(FEED("HTTP/1.1 2x0 OK\r\n\r\n"), eexProxyUnexpecteddefault);
  begin(MW_PROXY_HTTP, NULL, NULL, "mail.example.org", 25);
  EXPECT_FAIL(FEED("HTTP/1.1 200 OK\0\r\n\r\n"), eexProxyUnexpecteddefault);
  begin(MW_PROXY_HTTP, NULL, NULL, "mail.example.org", 25);
  FEED("HTTP/1.1 200 OK\r\n");
  EXPECT_FAIL(mw_proxy_eof(&n), eexProxyUnexpecteddefault);
  begin(MW_PROXY_HTTP, NULL, NULL, "mail.example.org", 25);
  EXPECT_FAIL(mw_proxy_eof(&n), eexProxyServerclosedport);
  /* Endless headers are cut at the limit. */
  begin(MW_PROXY_HTTP, NULL, NULL, "mail.example.org", 25);
  FEED("HTTP/1.1 200 OK\r\n");
  mw_proxy_state st = MW_PXS_REPLY;
  for (int i = 0; i < 2000 && st == MW_PXS_REPLY; i++)
    st = FEED("X-Pad: 0123456789\r\n");
  EXPECT_FAIL(st, eexProxyUnexpecteddefault);
  CHECK(tl_contains(err.text, strlen(err.text), "8192"));
}

/* ---- ProxyInfo and SetAdvancedHandler ---- */

static void test_proxyinfo_object(void) {
  CHECK(mw_proxyinfo_new(-1) == NULL);
  CHECK(mw_proxyinfo_new(MW_PROXY_SMTP + 1) == NULL);
  CHECK_INT(MW_PROXY_SOCK4, MW_PROXY_SOCKS4);
  CHECK_INT(MW_PROXY_SOCK5, MW_PROXY_SOCKS5);
  mw_proxyinfo *p = mw_proxyinfo_new(MW_PROXY_SOCKS5);
  CHECK_INT(mw_proxyinfo_kind(p), MW_PROXY_SOCKS5);
  CHECK_INT(mw_proxyinfo_remote_dns(p), 1);
  CHECK_INT(mw_proxyinfo_set_server(p, "127.0.0.1", 0), MW_OK);
  CHECK_INT(mw_proxyinfo_port(p), 1080);
  CHECK_STR(mw_proxyinfo_server(p), "127.0.0.1");
  CHECK_ERR(mw_proxyinfo_set_server(p, "", 1), mw_proxyinfo_extended_error(p),
            errInvalidArgument, eexInvalidArgument);
  CHECK_ERR(mw_proxyinfo_set_server(p, "h", 70000),
            mw_proxyinfo_extended_error(p), errInvalidArgument,
            eexInvalidArgument);
  char big[300];
  memset(big, 'b', 256);
  big[256] = '\0';
  CHECK_ERR(mw_proxyinfo_set_server(p, big, 1), mw_proxyinfo_extended_error(p),
            errInvalidArgument, eexInvalidArgument);
  CHECK_ERR(mw_proxyinfo_set_credentials(p, big, "x"),
            mw_proxyinfo_extended_error(p), errInvalidArgument,
            eexInvalidArgument);
  CHECK_ERR(mw_proxyinfo_set_credentials(p, "u", big),
            mw_proxyinfo_extended_error(p), errInvalidArgument,
            eexInvalidArgument);
  CHECK_ERR(mw_proxyinfo_set_credentials(p, "u\r\n", "x"),
            mw_proxyinfo_extended_error(p), errInvalidArgument,
            eexInvalidArgument);
  CHECK_STR(mw_proxyinfo_server(p), "127.0.0.1"); /* unchanged */
  big[255] = '\0';
  CHECK_INT(mw_proxyinfo_set_credentials(p, big, big), MW_OK);
  CHECK_INT(mw_proxyinfo_set_credentials(p, NULL, NULL), MW_OK);
  CHECK_INT(mw_proxyinfo_set_remote_dns(p, 0), MW_OK);
  CHECK_INT(mw_proxyinfo_remote_dns(p), 0);
  /* POP3/SMTP proxies: the client's own credentials go through them. */
  for (int kind = MW_PROXY_POP3; kind <= MW_PROXY_SMTP; kind++) {
    mw_proxyinfo *a = mw_proxyinfo_new(kind);
    CHECK_ERR(mw_proxyinfo_set_credentials(a, "u", "p"),
              mw_proxyinfo_extended_error(a), errInvalidArgument,
              eexInvalidArgument);
    CHECK_INT(mw_proxyinfo_set_credentials(a, NULL, NULL), MW_OK);
    mw_proxyinfo_free(a);
  }
  mw_proxyinfo *h = mw_proxyinfo_new(MW_PROXY_HTTP);
  CHECK_INT(mw_proxyinfo_set_server(h, "localhost", 0), MW_OK);
  CHECK_INT(mw_proxyinfo_port(h), 8080);
  mw_proxyinfo_free(h);
  mw_proxyinfo_free(p);
  mw_proxyinfo_free(NULL);
}

static void test_set_handler_keeps_a_reference(void) {
  mw_smtp *c = mw_smtp_new();
  mw_pop3 *pc = mw_pop3_new();
  mw_proxyinfo *p = mw_proxyinfo_new(MW_PROXY_SOCKS5);
  mw_proxyinfo_set_server(p, "127.0.0.1", 1);
  CHECK_INT(mw_smtp_set_handler(c, p), MW_OK);
  CHECK_INT(mw_pop3_set_handler(pc, p), MW_OK);
  CHECK_INT(p->hdr.refs, 3);
  mw_proxyinfo_free(p); /* the clients keep it alive (ASan checks) */
  mw_smtp_clear_handlers(c);
  mw_pop3_free(pc);
  mw_smtp_free(c);
}

/* A POP3 proxy cannot carry SMTP, nor an SMTP relay POP3: refused before
 * any connection (the proxy port is never contacted). */
static void test_application_proxy_of_the_wrong_protocol(void) {
  mw_pop3 *c = mw_pop3_new();
  mw_pop3_set_server(c, "127.0.0.1", 110);
  mw_proxyinfo *p = mw_proxyinfo_new(MW_PROXY_SMTP);
  mw_proxyinfo_set_server(p, "127.0.0.1", 1);
  CHECK_INT(mw_pop3_set_handler(c, p), MW_OK);
  CHECK_ERR(mw_pop3_connect(c), mw_pop3_extended_error(c), errInvalidArgument,
            eexInvalidArgument);
  CHECK(!mw_pop3_is_connected(c));
  mw_proxyinfo_free(p);
  mw_pop3_free(c);
  mw_smtp *s = mw_smtp_new();
  mw_smtp_set_server(s, "127.0.0.1", 25);
  p = mw_proxyinfo_new(MW_PROXY_POP3);
  mw_proxyinfo_set_server(p, "127.0.0.1", 1);
  CHECK_INT(mw_smtp_set_handler(s, p), MW_OK);
  CHECK_ERR(mw_smtp_connect(s), mw_smtp_extended_error(s), errInvalidArgument,
            eexInvalidArgument);
  mw_proxyinfo_free(p);
  mw_smtp_free(s);
}

static void test_proxyinfo_without_a_server_is_refused(void) {
  mw_smtp *c = mw_smtp_new();
  mw_smtp_set_server(c, "127.0.0.1", 25);
  mw_proxyinfo *p = mw_proxyinfo_new(MW_PROXY_HTTP);
  CHECK_INT(mw_smtp_set_handler(c, p), MW_OK);
  CHECK_ERR(mw_smtp_connect(c), mw_smtp_extended_error(c), errInvalidArgument,
            eexInvalidArgument);
  CHECK(!mw_smtp_is_connected(c));
  mw_proxyinfo_free(p);
  mw_smtp_free(c);
}

int main(void) {
  mw_error_init(&err);
  mw_proxy_init(&n, MW_PROXY_SOCKS5, NULL, NULL, "x", 1, &err, NULL);
  lh = mw_loghandler_new(collect_log, NULL);
  RUN(test_socks5_no_auth_name_resolved_by_proxy);
  RUN(test_socks5_user_password_exact_bytes);
  RUN(test_socks5_proxy_may_choose_no_auth_when_offered_both);
  RUN(test_socks5_address_targets);
  RUN(test_socks5_split_byte_by_byte);
  RUN(test_socks5_method_errors);
  RUN(test_socks5_auth_errors);
  RUN(test_socks5_every_refusal_carries_the_reason);
  RUN(test_socks5_bad_replies);
  RUN(test_bounds_are_refused_before_sending);
  RUN(test_socks4_exact_bytes_and_reply);
  RUN(test_socks4a_sends_the_name);
  RUN(test_socks4_errors);
  RUN(test_http_connect_exact_bytes);
  RUN(test_http_connect_basic_auth_and_ipv6);
  RUN(test_http_connect_errors);
  RUN(test_proxyinfo_object);
  RUN(test_set_handler_keeps_a_reference);
  RUN(test_application_proxy_of_the_wrong_protocol);
  RUN(test_proxyinfo_without_a_server_is_refused);
  mw_proxy_free(&n);
  mw_error_clear(&err);
  mw_loghandler_free(lh);
  return tl_finish();
}
