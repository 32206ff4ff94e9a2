/*
 * itest_sslinfo.c - SSLInfo's protocol and cipher options against a real
 * peer: `openssl s_server -www` started here on a free loopback port with
 * the test PKI of tests/servers/start.sh. With -www the server answers
 * "GET /" with what it negotiated ("Protocol  : TLSv1.2", "Cipher    :
 * ..."), so each output is checked against the server's own view of the
 * same handshake.
 */
#define _DEFAULT_SOURCE
#include "internal.h"
#include "testlib.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define TIMEOUT_MS 10000

static unsigned free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  unsigned port = 0;
  if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
      getsockname(fd, (struct sockaddr *)&a, &len) == 0)
    port = ntohs(a.sin_port);
  close(fd);
  return port;
}

static int port_answers(unsigned port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
  close(fd);
  return ok;
}

typedef struct s_server {
  pid_t pid;
  unsigned port;
} s_server;

/* openssl s_server -www with extra arguments (NULL-terminated). */
static int s_server_start(s_server *s, const char *const *extra) {
  char accept[32];
  s->port = free_port();
  snprintf(accept, sizeof accept, "127.0.0.1:%u", s->port);
  const char *argv[32] = {
      "openssl",           "s_server", "-accept",          accept, "-cert",
      tl_env("CERT_FILE"), "-key",     tl_env("KEY_FILE"), "-www", "-quiet"};
  size_t n = 10;
  for (size_t i = 0; extra && extra[i] && n < 31; i++)
    argv[n++] = extra[i];
  argv[n] = NULL;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  int rc = posix_spawnp(&s->pid, "openssl", &fa, NULL, (char *const *)argv,
                        environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    tl_fail(__FILE__, __LINE__, "cannot start openssl s_server");
    return -1;
  }
  for (int i = 0; i < 250; i++) { /* up to 5 s */
    if (port_answers(s->port))
      return 0;
    struct timespec ts = {0, 20 * 1000000};
    nanosleep(&ts, NULL);
  }
  tl_fail(__FILE__, __LINE__, "openssl s_server does not listen on %u",
          s->port);
  return -1;
}

static void s_server_stop(s_server *s) {
  if (s->pid <= 0)
    return;
  kill(s->pid, SIGTERM);
  int status;
  for (int i = 0; i < 250 && waitpid(s->pid, &status, WNOHANG) == 0; i++) {
    struct timespec ts = {0, 20 * 1000000};
    nanosleep(&ts, NULL);
  }
  s->pid = 0;
}

static mw_sslinfo *trusting_ssl(void) {
  mw_sslinfo *ssl = mw_sslinfo_new();
  CHECK_INT(mw_sslinfo_set_option_str(ssl, SSLCAFile, tl_env("CA_FILE")),
            MW_OK);
  return ssl;
}

/* Handshake, "GET /", and the server's page into page (NUL-terminated).
 * Returns the rc of the handshake; e holds the error. */
static int fetch_page(unsigned port, mw_sslinfo *ssl, mw_errorinfo *e,
                      char *page, size_t cap) {
  mw_conn c;
  mw_conn_init(&c, e, NULL, TIMEOUT_MS);
  page[0] = '\0';
  int rc = mw_conn_open(&c, "localhost", port);
  if (rc == MW_OK)
    rc = mw_conn_start_tls(&c, ssl, "localhost");
  if (rc == MW_OK) {
    const char *get = "GET / HTTP/1.0\r\n\r\n";
    int wrc = mw_conn_write(&c, get, strlen(get));
    CHECK_INT(wrc, MW_OK);
    size_t have = 0;
    for (int i = 0; wrc == MW_OK && i < 1000 && have + 1 < cap; i++) {
      size_t got = 0;
      if (mw_conn_read(&c, page + have, cap - have - 1, &got) != MW_OK)
        break; /* the server closes after the page */
      have += got;
    }
    page[have] = '\0';
    CHECK(strstr(page, "HTTP/1.0 200") != NULL);
  }
  mw_conn_close(&c);
  ERR_clear_error();
  return rc;
}

/* The value after "key" on a line of the page, e.g. "Protocol  : ". */
static const char *page_value(const char *page, const char *key, char *out,
                              size_t cap) {
  out[0] = '\0';
  const char *p = strstr(page, key);
  if (!p)
    return out;
  p += strlen(key);
  size_t n = strcspn(p, "\r\n");
  snprintf(out, cap, "%.*s", (int)(n < cap ? n : cap - 1), p);
  return out;
}

/* Our outputs against the server's view of the same handshake. */
static void check_against_server(mw_sslinfo *ssl, const char *page) {
  char proto[64], cipher[128];
  page_value(page, "Protocol  : ", proto, sizeof proto);
  page_value(page, "Cipher    : ", cipher, sizeof cipher);
  const char *v = NULL;
  CHECK_INT(mw_sslinfo_get_option_str(ssl, SSLConnectionProtocolName, &v),
            MW_OK);
  CHECK_STR(v, proto);
  CHECK_INT(mw_sslinfo_get_option_str(ssl, SSLConnectionCipherName, &v),
            MW_OK);
  CHECK_STR(v, cipher);
  long out = 0;
  CHECK_INT(mw_sslinfo_get_option_int(ssl, SSLConnectionProtocolOut, &out),
            MW_OK);
  CHECK_INT(out, strcmp(proto, "TLSv1.3") == 0 ? SSL_TLS1_3 : SSL_TLS1_2);
}

static long out_int(mw_sslinfo *ssl, int index) {
  long v = -1;
  CHECK_INT(mw_sslinfo_get_option_int(ssl, index, &v), MW_OK);
  return v;
}

static void test_defaults_match_server(void) {
  s_server s;
  if (s_server_start(&s, NULL) != 0)
    return;
  mw_sslinfo *ssl = trusting_ssl();
  mw_errorinfo e;
  mw_error_init(&e);
  char page[65536];
  CHECK_INT(fetch_page(s.port, ssl, &e, page, sizeof page), MW_OK);
  check_against_server(ssl, page);
  CHECK_INT(out_int(ssl, SSLConnectionProtocolOut), SSL_TLS1_3);
  s_server_stop(&s);
  mw_error_clear(&e);
  mw_sslinfo_free(ssl);
}

static void test_tls12_server_vs_tls13_client(void) {
  const char *args[] = {"-tls1_2", NULL};
  s_server s;
  if (s_server_start(&s, args) != 0)
    return;
  mw_sslinfo *ssl = trusting_ssl();
  long v13[] = {SSL_TLS1_3};
  CHECK_INT(mw_sslinfo_set_option_array(ssl, SSLConnectionProtocolIn, v13, 1),
            MW_OK);
  mw_errorinfo e;
  mw_error_init(&e);
  char page[65536];
  CHECK_ERR(fetch_page(s.port, ssl, &e, page, sizeof page), &e, errConnect,
            eexSSLProtocol);
  CHECK_INT(e.verify, 0); /* not a certificate problem */
  long out;
  CHECK_ERR(mw_sslinfo_get_option_int(ssl, SSLConnectionProtocolOut, &out),
            mw_sslinfo_extended_error(ssl), errState, eexSSLNocontext);

  /* The same client allowed TLS 1.2 as well gets TLS 1.2. */
  long both[] = {SSL_TLS1_2, SSL_TLS1_3};
  CHECK_INT(mw_sslinfo_set_option_array(ssl, SSLConnectionProtocolIn, both, 2),
            MW_OK);
  CHECK_INT(fetch_page(s.port, ssl, &e, page, sizeof page), MW_OK);
  check_against_server(ssl, page);
  CHECK_INT(out_int(ssl, SSLConnectionProtocolOut), SSL_TLS1_2);
  s_server_stop(&s);
  mw_error_clear(&e);
  mw_sslinfo_free(ssl);
}

static void test_tls12_client_vs_default_server(void) {
  s_server s;
  if (s_server_start(&s, NULL) != 0)
    return;
  mw_sslinfo *ssl = trusting_ssl();
  long v12[] = {SSL_TLS1_2};
  CHECK_INT(mw_sslinfo_set_option_array(ssl, SSLConnectionProtocolIn, v12, 1),
            MW_OK);
  mw_errorinfo e;
  mw_error_init(&e);
  char page[65536];
  CHECK_INT(fetch_page(s.port, ssl, &e, page, sizeof page), MW_OK);
  check_against_server(ssl, page);
  CHECK_STR(ssl->protocol_name, "TLSv1.2");
  s_server_stop(&s);
  mw_error_clear(&e);
  mw_sslinfo_free(ssl);
}

/* One cipher restriction against a server; the negotiated suite is
 * expected (the server prefers the client's order among common suites). */
static void cipher_case(const char *server_version, long cipher_in,
                        const char *expect_suite, long expect_out,
                        long expect_bits) {
  const char *args[] = {server_version, NULL};
  s_server s;
  if (s_server_start(&s, args) != 0)
    return;
  mw_sslinfo *ssl = trusting_ssl();
  CHECK_INT(
      mw_sslinfo_set_option_array(ssl, SSLConnectionCipherIn, &cipher_in, 1),
      MW_OK);
  mw_errorinfo e;
  mw_error_init(&e);
  char page[65536];
  CHECK_INT(fetch_page(s.port, ssl, &e, page, sizeof page), MW_OK);
  check_against_server(ssl, page);
  CHECK_STR(ssl->cipher_name, expect_suite);
  CHECK_INT(out_int(ssl, SSLConnectionCipherOut), expect_out);
  CHECK_INT(out_int(ssl, SSLCipherStrength), expect_bits);
  s_server_stop(&s);
  mw_error_clear(&e);
  mw_sslinfo_free(ssl);
}

static void test_cipher_restrictions_change_the_suite(void) {
  /* Unrestricted, both prefer AES-256-GCM: each restriction moves off it. */
  cipher_case("-tls1_2", SSL_AES_128_GCM, "ECDHE-RSA-AES128-GCM-SHA256",
              SSL_AES_128_GCM, 128);
  cipher_case("-tls1_2", SSL_CHACHA20, "ECDHE-RSA-CHACHA20-POLY1305",
              SSL_CHACHA20, 256);
  cipher_case("-tls1_3", SSL_AES_128_GCM, "TLS_AES_128_GCM_SHA256",
              SSL_AES_128_GCM, 128);
  cipher_case("-tls1_3", SSL_CHACHA20, "TLS_CHACHA20_POLY1305_SHA256",
              SSL_CHACHA20, 256);
}

static void test_strength_changes_the_suite(void) {
  s_server s;
  if (s_server_start(&s, NULL) != 0)
    return;
  mw_sslinfo *ssl = trusting_ssl();
  mw_errorinfo e;
  mw_error_init(&e);
  char page[65536];
  CHECK_INT(mw_sslinfo_set_option_int(ssl, SSLMaxCipherStrength, 128), MW_OK);
  CHECK_INT(fetch_page(s.port, ssl, &e, page, sizeof page), MW_OK);
  check_against_server(ssl, page);
  CHECK_STR(ssl->cipher_name, "TLS_AES_128_GCM_SHA256");
  CHECK_INT(out_int(ssl, SSLCipherStrength), 128);
  /* The server saw only 128-bit suites offered. */
  const char *common = strstr(page, "Ciphers common between both SSL end");
  CHECK(common && !strstr(common, "AES256") && !strstr(common, "AES_256") &&
        !strstr(common, "CHACHA"));
  CHECK_INT(mw_sslinfo_set_option_int(ssl, SSLMaxCipherStrength, 0), MW_OK);
  CHECK_INT(mw_sslinfo_set_option_int(ssl, SSLMinCipherStrength, 256), MW_OK);
  CHECK_INT(fetch_page(s.port, ssl, &e, page, sizeof page), MW_OK);
  check_against_server(ssl, page);
  CHECK_INT(out_int(ssl, SSLCipherStrength), 256);
  s_server_stop(&s);
  mw_error_clear(&e);
  mw_sslinfo_free(ssl);
}

static void test_no_common_cipher(void) {
  const char *args[] = {"-tls1_2", "-cipher", "ECDHE-RSA-AES256-GCM-SHA384",
                        NULL};
  s_server s;
  if (s_server_start(&s, args) != 0)
    return;
  mw_sslinfo *ssl = trusting_ssl();
  long aes128[] = {SSL_AES_128};
  CHECK_INT(mw_sslinfo_set_option_array(ssl, SSLConnectionCipherIn, aes128, 1),
            MW_OK);
  mw_errorinfo e;
  mw_error_init(&e);
  char page[65536];
  CHECK_ERR(fetch_page(s.port, ssl, &e, page, sizeof page), &e, errConnect,
            eexSSLProtocol);
  /* Allowing AES-256 too makes it work, with the server's only suite. */
  long aes[] = {SSL_AES};
  CHECK_INT(mw_sslinfo_set_option_array(ssl, SSLConnectionCipherIn, aes, 1),
            MW_OK);
  CHECK_INT(fetch_page(s.port, ssl, &e, page, sizeof page), MW_OK);
  check_against_server(ssl, page);
  CHECK_STR(ssl->cipher_name, "ECDHE-RSA-AES256-GCM-SHA384");
  s_server_stop(&s);
  mw_error_clear(&e);
  mw_sslinfo_free(ssl);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  RUN(test_defaults_match_server);
  RUN(test_tls12_server_vs_tls13_client);
  RUN(test_tls12_client_vs_default_server);
  RUN(test_cipher_restrictions_change_the_suite);
  RUN(test_strength_changes_the_suite);
  RUN(test_no_common_cipher);
  return tl_finish();
}
