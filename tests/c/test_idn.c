/*
 * test_idn.c - internationalised server names (core/src/idn.c): converted
 * to their A-label for name resolution (seen on the wire through a
 * scripted SOCKS5 proxy that resolves remotely), refused before any
 * connection when they cannot be converted. The TLS side (SNI and the
 * certificate check) is in the certificate matrix (tests/certmatrix).
 */
#include "internal.h"
#include "testlib.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

static void test_conversion(void) {
  mw_errorinfo e;
  mw_error_init(&e);
  char *out = (char *)"untouched";
  /* ASCII names and IP literals are used as they are */
  CHECK_INT(mw_idn_to_ascii("mail.example.test", "server name", &out, &e),
            MW_OK);
  CHECK(out == NULL);
  CHECK_INT(mw_idn_to_ascii("::1", "server name", &out, &e), MW_OK);
  CHECK(out == NULL);
  CHECK_INT(mw_idn_to_ascii("b\xc3\xbc"
                            "cher.example",
                            "server name", &out, &e),
            MW_OK);
  CHECK_STR(out, "xn--bcher-kva.example");
  free(out);
  /* UTS #46 mapping: upper case folds */
  CHECK_INT(mw_idn_to_ascii("B\xc3\x9c"
                            "CHER.Example",
                            "server name", &out, &e),
            MW_OK);
  CHECK_STR(out, "xn--bcher-kva.example");
  free(out);
  /* Latin-1 is not UTF-8: refused, and the text stays valid UTF-8 */
  CHECK_INT(mw_idn_to_ascii("b\xfcr.example", "SSLServerName", &out, &e),
            errInvalidArgument);
  CHECK(out == NULL);
  CHECK_INT(e.number, eexInvalidArgument);
  CHECK(strstr(e.text, "The SSLServerName 'b\\xFCr.example'") != NULL);
  CHECK(strstr(e.text, "must be UTF-8") != NULL);
  mw_error_clear(&e);
}

/* A listening socket nobody serves: whether the client connected shows
 * as a pending connection. */
static int listener(unsigned *port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  CHECK_INT(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  CHECK_INT(listen(fd, 4), 0);
  CHECK_INT(getsockname(fd, (struct sockaddr *)&a, &len), 0);
  *port = ntohs(a.sin_port);
  fcntl(fd, F_SETFL, O_NONBLOCK);
  return fd;
}

/* Not convertible, as the server name or as SSLServerName, in every TLS
 * mode: refused with errInvalidArgument, and no connection was made. */
static void test_unconvertible_refused_before_connecting(void) {
  const char *bad[] = {"b\xfcr.example", "\xe2\x98\x83.example"};
  int modes[] = {-1, MODE_STARTTLS, MODE_CHANNEL}; /* -1: no SSLInfo */
  for (size_t i = 0; i < 2; i++)
    for (size_t m = 0; m < 3; m++)
      for (int as_sni = 0; as_sni < 2; as_sni++) {
        if (as_sni && modes[m] < 0)
          continue;
        unsigned port = 0;
        int fd = listener(&port);
        mw_sslinfo *ssl = mw_sslinfo_new();
        CHECK_INT(mw_sslinfo_set_mode(ssl, modes[m] < 0 ? 0 : modes[m]),
                  MW_OK);
        if (as_sni)
          CHECK_INT(mw_sslinfo_set_option_str(ssl, SSLServerName, bad[i]),
                    MW_OK);
        mw_pop3 *c = mw_pop3_new();
        CHECK_INT(mw_pop3_set_server(c, as_sni ? "127.0.0.1" : bad[i], port),
                  MW_OK);
        if (modes[m] >= 0)
          CHECK_INT(mw_pop3_set_sslinfo(c, ssl), MW_OK);
        int rc = mw_pop3_connect(c);
        const mw_errorinfo *e = mw_pop3_extended_error(c);
        CHECK_ERR(rc, e, errInvalidArgument, eexInvalidArgument);
        CHECK(strstr(mw_errorinfo_text(e),
                     as_sni ? "The SSLServerName '" : "The server name '"));
        CHECK(!mw_pop3_is_connected(c));
        CHECK(accept(fd, NULL, NULL) < 0); /* nobody came */
        mw_pop3_free(c);
        mw_sslinfo_free(ssl);
        close(fd);
      }
}

/* Through a SOCKS5 proxy that resolves names (the default), the name in
 * the CONNECT request is the A-label, and the Unicode form never goes
 * out. */
static void test_socks5_request_carries_the_a_label(void) {
  tl_server *srv = tl_server_start(
      "CRAW: \\x05\\x01\\x00\n"
      "SRAW: \\x05\\x00\n"
      "CRAW: \\x05\\x01\\x00\\x03\\x15xn--bcher-kva.example\\x00\\x19\n"
      "SRAW: \\x05\\x00\\x00\\x01\\x7f\\x00\\x00\\x01\\x00\\x19\n"
      "S: 220 proxied ESMTP\n"
      "C: EHLO *\n"
      "S: 250 proxied\n"
      "C: QUIT\n"
      "S: 221 bye\n");
  CHECK(srv != NULL);
  mw_proxyinfo *p = mw_proxyinfo_new(MW_PROXY_SOCKS5);
  CHECK_INT(mw_proxyinfo_set_server(p, "127.0.0.1", tl_server_port(srv)),
            MW_OK);
  mw_smtp *c = mw_smtp_new();
  CHECK_INT(mw_smtp_set_server(c,
                               "b\xc3\xbc"
                               "cher.example",
                               25),
            MW_OK);
  CHECK_INT(mw_smtp_set_timeout(c, 10000), MW_OK);
  CHECK_INT(mw_smtp_set_handler(c, p), MW_OK);
  mw_proxyinfo_free(p);
  int rc = mw_smtp_connect(c);
  CHECK_ERR(rc, mw_smtp_extended_error(c), MW_OK, eexNone);
  if (rc == MW_OK)
    CHECK_INT(mw_smtp_quit(c), MW_OK);
  mw_smtp_free(c);
  if (tl_server_wait(srv, 15000) != 0)
    tl_fail(__FILE__, __LINE__, "script failed: %s", tl_server_error(srv));
  size_t len = 0;
  const char *sent = tl_server_received(srv, &len);
  CHECK(tl_contains(sent, len, "xn--bcher-kva.example"));
  CHECK(!tl_contains(sent, len, "b\xc3\xbc"));
  tl_server_free(srv);
}

int main(void) {
  RUN(test_conversion);
  RUN(test_unconvertible_refused_before_connecting);
  RUN(test_socks5_request_carries_the_a_label);
  return tl_finish();
}
