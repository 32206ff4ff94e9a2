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
#include <openssl/x509_vfy.h>
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
  CHECK(strstr(e.text, "restricts the TLS versions") != NULL);
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
  CHECK_STR(ssl->last.protocol_name, "TLSv1.2");
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
  CHECK_STR(ssl->last.cipher_name, expect_suite);
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
  CHECK_STR(ssl->last.cipher_name, "TLS_AES_128_GCM_SHA256");
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
  CHECK_STR(ssl->last.cipher_name, "ECDHE-RSA-AES256-GCM-SHA384");
  s_server_stop(&s);
  mw_error_clear(&e);
  mw_sslinfo_free(ssl);
}

/* Does `openssl s_client` with these options get through to port? Shows
 * that a refusal below is our client's doing, not a broken server. */
static int s_client_connects(unsigned port, const char *opts,
                             const char *expect) {
  char cmd[512];
  snprintf(cmd, sizeof cmd,
           "echo | timeout 10 openssl s_client -connect 127.0.0.1:%u %s "
           "-brief 2>&1 | grep -q '%s'",
           port, opts, expect);
  return system(cmd) == 0;
}

/* SSLConfidentiality: a server that only has NULL (unencrypted) suites is
 * refused; we never offer them. */
static void test_null_cipher_server_refused(void) {
  const char *args[] = {"-tls1_2", "-cipher", "NULL-SHA256:@SECLEVEL=0", NULL};
  s_server s;
  if (s_server_start(&s, args) != 0)
    return;
  CHECK(s_client_connects(s.port, "-cipher NULL-SHA256:@SECLEVEL=0",
                          "Ciphersuite: NULL-SHA256"));
  mw_sslinfo *ssl = trusting_ssl();
  mw_errorinfo e;
  mw_error_init(&e);
  char page[65536];
  CHECK_ERR(fetch_page(s.port, ssl, &e, page, sizeof page), &e, errConnect,
            eexSSLProtocol);
  CHECK_ERR(mw_sslinfo_set_option_int(ssl, SSLConfidentiality, 0),
            mw_sslinfo_extended_error(ssl), errUnsupported, eexSSLInsecure);
  s_server_stop(&s);
  mw_error_clear(&e);
  mw_sslinfo_free(ssl);
}

/* TLS 1.0 may be listed, but OpenSSL 3 at its default security level
 * does not negotiate it (documented). */
static void test_tls10_server_refused(void) {
  const char *args[] = {"-tls1", "-cipher", "DEFAULT:@SECLEVEL=0", NULL};
  s_server s;
  if (s_server_start(&s, args) != 0)
    return;
  CHECK(s_client_connects(s.port, "-tls1 -cipher DEFAULT:@SECLEVEL=0",
                          "Protocol version: TLSv1$"));
  mw_sslinfo *ssl = trusting_ssl();
  long wide[] = {SSL_TLS1, SSL_TLS1_1, SSL_TLS1_2};
  CHECK_INT(mw_sslinfo_set_option_array(ssl, SSLConnectionProtocolIn, wide, 3),
            MW_OK);
  mw_errorinfo e;
  mw_error_init(&e);
  char page[65536];
  CHECK_ERR(fetch_page(s.port, ssl, &e, page, sizeof page), &e, errConnect,
            eexSSLProtocol);
  CHECK(strstr(e.text, "default security level") != NULL);
  s_server_stop(&s);
  mw_error_clear(&e);
  mw_sslinfo_free(ssl);
}

/* ---- the certificate outputs, against the openssl command line ---- */

/* The first line of a command's output, without the prefix up to '='
 * when strip_key. */
static void command_line(const char *cmd, int strip_key, char *out,
                         size_t cap) {
  out[0] = '\0';
  FILE *f = popen(cmd, "r");
  if (!f)
    return;
  char line[1024] = "";
  if (fgets(line, sizeof line, f)) {
    line[strcspn(line, "\r\n")] = '\0';
    const char *v =
        strip_key && strchr(line, '=') ? strchr(line, '=') + 1 : line;
    snprintf(out, cap, "%s", v);
  }
  pclose(f);
}

static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  char *buf = calloc(1, 65536);
  size_t n = buf ? fread(buf, 1, 65535, f) : 0;
  (void)n;
  fclose(f);
  return buf;
}

static const char *out_str(mw_sslinfo *ssl, int index) {
  const char *v = NULL;
  CHECK_INT(mw_sslinfo_get_option_str(ssl, index, &v), MW_OK);
  return v ? v : "(null)";
}

static void check_peer_outputs(mw_sslinfo *ssl, const char *cert) {
  char cmd[1024], want[1024];
  snprintf(cmd, sizeof cmd, "openssl x509 -in '%s' -noout -serial", cert);
  command_line(cmd, 1, want, sizeof want);
  CHECK_STR(out_str(ssl, SSLPeerSerial), want);
  snprintf(cmd, sizeof cmd,
           "openssl x509 -in '%s' -noout -fingerprint -sha256", cert);
  command_line(cmd, 1, want, sizeof want);
  CHECK_STR(out_str(ssl, SSLPeerFingerprintSHA256), want);
  /* "notBefore=2026-11-28 13:54:00Z" against "2026-11-28T13:54:00Z". */
  const char *opts[] = {"-startdate", "-enddate"};
  int index[] = {SSLPeerNotBefore, SSLPeerNotAfter};
  for (int i = 0; i < 2; i++) {
    snprintf(cmd, sizeof cmd,
             "openssl x509 -in '%s' -noout %s -dateopt iso_8601", cert,
             opts[i]);
    command_line(cmd, 1, want, sizeof want);
    char *sp = strchr(want, ' ');
    if (sp)
      *sp = 'T';
    CHECK_STR(out_str(ssl, index[i]), want);
  }
  snprintf(cmd, sizeof cmd,
           "openssl x509 -in '%s' -noout -ext subjectAltName | sed -n 2p | "
           "sed 's/^ *//'",
           cert);
  command_line(cmd, 0, want, sizeof want);
  CHECK(want[0] != '\0');
  CHECK_STR(out_str(ssl, SSLPeerSANs), want);
  char *pem = slurp(cert);
  CHECK_STR(out_str(ssl, SSLPeerCertificatePEM), pem);
  free(pem);
}

static void test_peer_outputs_pop3s(void) {
  mw_sslinfo *ssl = trusting_ssl();
  const char *v;
  CHECK_ERR(mw_sslinfo_get_option_str(ssl, SSLPeerSerial, &v),
            mw_sslinfo_extended_error(ssl), errState, eexSSLNocontext);
  CHECK_ERR(mw_sslinfo_get_option_int(ssl, SSLSessionResumed, &(long){0}),
            mw_sslinfo_extended_error(ssl), errState, eexSSLNocontext);
  mw_pop3 *c = mw_pop3_new();
  mw_pop3_set_handler(c, ssl);
  mw_pop3_set_timeout(c, TIMEOUT_MS);
  mw_pop3_set_server(c, "localhost", tl_env_port("POP3S_PORT"));
  CHECK_INT(mw_pop3_connect(c), MW_OK);
  CHECK_INT(mw_pop3_quit(c), MW_OK);
  /* Still readable after the disconnect. */
  check_peer_outputs(ssl, tl_env("CERT_FILE"));
  /* Dovecot sends the leaf only. */
  CHECK_STR(out_str(ssl, SSLPeerChainPEM),
            out_str(ssl, SSLPeerCertificatePEM));
  CHECK_INT(out_int(ssl, SSLSessionResumed), 0);
  mw_pop3_free(c);
  mw_sslinfo_free(ssl);
}

static void test_peer_chain_s_server(void) {
  const char *args[] = {"-cert_chain", tl_env("CA_FILE"), NULL};
  s_server s;
  if (s_server_start(&s, args) != 0)
    return;
  mw_sslinfo *ssl = trusting_ssl();
  mw_errorinfo e;
  mw_error_init(&e);
  char page[65536];
  CHECK_INT(fetch_page(s.port, ssl, &e, page, sizeof page), MW_OK);
  check_peer_outputs(ssl, tl_env("CERT_FILE"));
  char *leaf = slurp(tl_env("CERT_FILE")), *ca = slurp(tl_env("CA_FILE"));
  char both[131072];
  snprintf(both, sizeof both, "%s%s", leaf ? leaf : "", ca ? ca : "");
  CHECK_STR(out_str(ssl, SSLPeerChainPEM), both);
  free(leaf);
  free(ca);
  s_server_stop(&s);
  mw_error_clear(&e);
  mw_sslinfo_free(ssl);
}

/* ---- pinning ---- */

static void pin_of(const char *cert, char *out, size_t cap) {
  char cmd[1024];
  snprintf(cmd, sizeof cmd,
           "openssl x509 -in '%s' -pubkey -noout | openssl pkey -pubin "
           "-outform der | openssl dgst -sha256 -binary | base64",
           cert);
  char b64[128];
  command_line(cmd, 0, b64, sizeof b64);
  snprintf(out, cap, "sha256//%.60s", b64); /* 44 characters */
}

static int pop3s_connect(mw_sslinfo *ssl, mw_pop3 **out) {
  mw_pop3 *c = mw_pop3_new();
  mw_pop3_set_credentials(c, tl_env("USER"), tl_env("PASS"));
  mw_pop3_set_handler(c, ssl);
  mw_pop3_set_timeout(c, TIMEOUT_MS);
  mw_pop3_set_server(c, "localhost", tl_env_port("POP3S_PORT"));
  *out = c;
  return mw_pop3_connect(c);
}

static void test_pinned_public_key(void) {
  char good[128], other[128], both[300];
  pin_of(tl_env("CERT_FILE"), good, sizeof good);
  pin_of(tl_env("CA_FILE"), other, sizeof other);
  snprintf(both, sizeof both, "%s;%s", other, good);
  mw_sslinfo *ssl = trusting_ssl();
  const char *bad[] = {"sha256//", "md5//AAAA", "sha256//not base64!",
                       "sha256//AAAA"};
  for (int i = 0; i < 4; i++)
    CHECK_ERR(mw_sslinfo_set_option_str(ssl, SSLPinnedPublicKey, bad[i]),
              mw_sslinfo_extended_error(ssl), errInvalidArgument,
              eexInvalidArgument);
  CHECK_STR(out_str(ssl, SSLPinnedPublicKey), "");

  mw_pop3 *c;
  int rc;
  CHECK_INT(mw_sslinfo_set_option_str(ssl, SSLPinnedPublicKey, both), MW_OK);
  CHECK_INT(pop3s_connect(ssl, &c), MW_OK);
  mw_pop3_quit(c);
  mw_pop3_free(c);

  CHECK_INT(mw_sslinfo_set_option_str(ssl, SSLPinnedPublicKey, other), MW_OK);
  rc = pop3s_connect(ssl, &c);
  CHECK_ERR(rc, mw_pop3_extended_error(c), errConnect, eexSSLCertificate);
  CHECK(strstr(mw_errorinfo_text(mw_pop3_extended_error(c)), good) != NULL);
  CHECK(!mw_pop3_is_connected(c));
  mw_pop3_free(c);

  /* Also when validation is off. */
  CHECK_INT(
      mw_sslinfo_set_option_int(ssl, SSLNoServerCertificateValidation, 1),
      MW_OK);
  rc = pop3s_connect(ssl, &c);
  CHECK_ERR(rc, mw_pop3_extended_error(c), errConnect, eexSSLCertificate);
  mw_pop3_free(c);
  mw_sslinfo_free(ssl);
}

/* A pin mismatch sends nothing over the TLS connection. */
static void test_pin_mismatch_sends_nothing(void) {
  char other[128];
  pin_of(tl_env("CA_FILE"), other, sizeof other);
  /* The client hangs up without close_notify, which the harness's
   * EXPECT_CLOSE counts as a read error: wait, then record until closed. */
  tl_server *srv = tl_server_start("TLS\nSLEEP 1000\n");
  mw_sslinfo *ssl = trusting_ssl();
  CHECK_INT(mw_sslinfo_set_option_str(ssl, SSLPinnedPublicKey, other), MW_OK);
  mw_pop3 *c = mw_pop3_new();
  mw_pop3_set_handler(c, ssl);
  mw_pop3_set_timeout(c, TIMEOUT_MS);
  mw_pop3_set_server(c, "localhost", tl_server_port(srv));
  mw_pop3_set_credentials(c, "alice", "secret");
  CHECK_ERR(mw_pop3_connect(c), mw_pop3_extended_error(c), errConnect,
            eexSSLCertificate);
  CHECK_INT(tl_server_wait(srv, 10000), 0);
  size_t len = 99;
  tl_server_received(srv, &len);
  CHECK_INT(len, 0);
  tl_server_free(srv);
  mw_pop3_free(c);
  mw_sslinfo_free(ssl);
}

/* ---- session resumption ---- */

static void test_session_resumption(void) {
  s_server s;
  if (s_server_start(&s, NULL) != 0)
    return;
  mw_sslinfo *ssl = trusting_ssl();
  mw_errorinfo e;
  mw_error_init(&e);
  char page[65536];
  CHECK_INT(fetch_page(s.port, ssl, &e, page, sizeof page), MW_OK);
  CHECK(strstr(page, "\nNew, TLSv1.3") != NULL);
  CHECK_INT(out_int(ssl, SSLSessionResumed), 0);
  CHECK_INT(fetch_page(s.port, ssl, &e, page, sizeof page), MW_OK);
  CHECK(strstr(page, "\nReused, TLSv1.3") != NULL);
  CHECK_INT(out_int(ssl, SSLSessionResumed), 1);
  check_peer_outputs(ssl, tl_env("CERT_FILE")); /* from the session */
  /* Any setting changed: a full handshake. */
  CHECK_INT(mw_sslinfo_set_option_int(ssl, SSLMinCipherStrength, 0), MW_OK);
  CHECK_INT(fetch_page(s.port, ssl, &e, page, sizeof page), MW_OK);
  CHECK(strstr(page, "\nNew, TLSv1.3") != NULL);
  CHECK_INT(out_int(ssl, SSLSessionResumed), 0);
  /* Another name checked (same server): a full handshake. */
  CHECK_INT(fetch_page(s.port, ssl, &e, page, sizeof page), MW_OK);
  CHECK_INT(out_int(ssl, SSLSessionResumed), 1);
  mw_conn c;
  mw_conn_init(&c, &e, NULL, TIMEOUT_MS);
  CHECK_INT(mw_conn_open(&c, "127.0.0.1", s.port), MW_OK);
  CHECK_INT(mw_conn_start_tls(&c, ssl, "127.0.0.1"), MW_OK);
  CHECK_INT(out_int(ssl, SSLSessionResumed), 0);
  mw_conn_close(&c);
  s_server_stop(&s);

  /* TLS 1.2 sessions too. */
  const char *v12[] = {"-tls1_2", NULL};
  if (s_server_start(&s, v12) != 0)
    return;
  CHECK_INT(fetch_page(s.port, ssl, &e, page, sizeof page), MW_OK);
  CHECK(strstr(page, "\nNew, TLSv1.2") != NULL);
  CHECK_INT(fetch_page(s.port, ssl, &e, page, sizeof page), MW_OK);
  CHECK(strstr(page, "\nReused, TLSv1.2") != NULL);
  CHECK_INT(out_int(ssl, SSLSessionResumed), 1);
  s_server_stop(&s);
  mw_error_clear(&e);
  mw_sslinfo_free(ssl);
}

/* Real Postfix resumes (Dovecot's login processes do not). */
static void test_session_resumption_smtps(void) {
  mw_sslinfo *ssl = trusting_ssl();
  long resumed[3] = {-1, -1, -1};
  for (int i = 0; i < 3; i++) {
    if (i == 2) /* a setting changed in between: not resumed */
      CHECK_INT(mw_sslinfo_set_option_str(ssl, SSLCAFile, tl_env("CA_FILE")),
                MW_OK);
    mw_smtp *c = mw_smtp_new();
    mw_smtp_set_handler(c, ssl);
    mw_smtp_set_timeout(c, TIMEOUT_MS);
    mw_smtp_set_server(c, "localhost", tl_env_port("SMTPS_PORT"));
    CHECK_INT(mw_smtp_connect(c), MW_OK);
    CHECK_INT(mw_smtp_noop(c), MW_OK);
    resumed[i] = out_int(ssl, SSLSessionResumed);
    CHECK_INT(mw_smtp_quit(c), MW_OK);
    mw_smtp_free(c);
  }
  CHECK_INT(resumed[0], 0);
  CHECK_INT(resumed[1], 1);
  CHECK_INT(resumed[2], 0);
  mw_sslinfo_free(ssl);
}

/* ---- the verification callback ---- */

typedef struct verify_log {
  int calls;
  int accept;      /* 1: accept all, 0: refuse all, -1: OpenSSL's verdict */
  long last_error; /* the last non-zero error seen */
  char leaf[512];  /* the subject of the last certificate */
} verify_log;

static int record_verify(void *ud, int preverify_ok, long verify_error,
                         const char *subject) {
  verify_log *v = ud;
  v->calls++;
  if (verify_error)
    v->last_error = verify_error;
  snprintf(v->leaf, sizeof v->leaf, "%s", subject);
  return v->accept < 0 ? preverify_ok : v->accept;
}

static void test_verify_callback(void) {
  verify_log v = {0};
  mw_sslinfo *ssl = trusting_ssl();
  mw_pop3 *c;
  int rc;
  /* OpenSSL's verdict: the same as without a callback. */
  v.accept = -1;
  CHECK_INT(mw_sslinfo_set_verify_callback(ssl, record_verify, &v), MW_OK);
  CHECK_INT(pop3s_connect(ssl, &c), MW_OK);
  CHECK_INT(v.calls, 2); /* CA, then leaf */
  CHECK_STR(v.leaf, "/O=mailwire tests/CN=localhost");
  mw_pop3_free(c);
  /* Refusing a good chain fails as a certificate error. */
  v = (verify_log){.accept = 0};
  CHECK_INT(mw_sslinfo_set_option_str(ssl, SSLServerName, ""), MW_OK);
  rc = pop3s_connect(ssl, &c);
  CHECK_ERR(rc, mw_pop3_extended_error(c), errConnect, eexSSLCertificate);
  CHECK_INT(mw_errorinfo_verify_result(mw_pop3_extended_error(c)),
            X509_V_ERR_APPLICATION_VERIFICATION);
  mw_pop3_free(c);
  /* A wrong name: strict by default ... */
  CHECK_INT(mw_sslinfo_set_option_str(ssl, SSLServerName, "wrong.example"),
            MW_OK);
  v = (verify_log){.accept = -1};
  rc = pop3s_connect(ssl, &c);
  CHECK_ERR(rc, mw_pop3_extended_error(c), errConnect, eexSSLCertName);
  CHECK_INT(v.last_error, X509_V_ERR_HOSTNAME_MISMATCH);
  mw_pop3_free(c);
  /* ... accepted when the callback says so. */
  v = (verify_log){.accept = 1};
  CHECK_INT(pop3s_connect(ssl, &c), MW_OK);
  CHECK_INT(v.last_error, X509_V_ERR_HOSTNAME_MISMATCH);
  /* Not changed while connected; outputs cannot be set. */
  CHECK_ERR(mw_sslinfo_set_verify_callback(ssl, NULL, NULL),
            mw_sslinfo_extended_error(ssl), errState, eexSSLConnected);
  CHECK_ERR(mw_sslinfo_set_option_int(ssl, SSLSessionResumed, 1),
            mw_sslinfo_extended_error(ssl), errInvalidArgument,
            eexInvalidArgument);
  CHECK_ERR(mw_sslinfo_set_option_str(ssl, SSLPeerChainPEM, "x"),
            mw_sslinfo_extended_error(ssl), errInvalidArgument,
            eexInvalidArgument);
  mw_pop3_quit(c);
  mw_pop3_free(c);
  /* Removed: strict again. */
  CHECK_INT(mw_sslinfo_set_verify_callback(ssl, NULL, NULL), MW_OK);
  v.calls = 0;
  rc = pop3s_connect(ssl, &c);
  CHECK_ERR(rc, mw_pop3_extended_error(c), errConnect, eexSSLCertName);
  CHECK_INT(v.calls, 0);
  mw_pop3_free(c);
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
  RUN(test_null_cipher_server_refused);
  RUN(test_tls10_server_refused);
  RUN(test_peer_outputs_pop3s);
  RUN(test_peer_chain_s_server);
  RUN(test_pinned_public_key);
  RUN(test_pin_mismatch_sends_nothing);
  RUN(test_session_resumption);
  RUN(test_session_resumption_smtps);
  RUN(test_verify_callback);
  return tl_finish();
}
