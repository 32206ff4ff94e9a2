/*
 * itest_tls.c - the transport's TLS against the real servers (Postfix and
 * Dovecot started by tests/servers/start.sh): implicit TLS, the checks of
 * the certificate and the name, and STARTTLS/STLS mid-stream. Uses the conn
 * layer directly; the SMTP/POP3 clients have their own tests.
 */
#define _DEFAULT_SOURCE /* popen */
#include "internal.h"
#include "testlib.h"

#include <openssl/err.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TIMEOUT_MS 10000

typedef struct tls_opts {
  const char *host;        /* what we connect to */
  const char *server_name; /* ssl->server_name, or NULL */
  const char *ca_file;     /* NULL: the system store */
  int no_verify, no_name_check;
} tls_opts;

static mw_sslinfo *make_ssl(const tls_opts *o) {
  mw_sslinfo *ssl = mw_sslinfo_new();
  ssl->ca_file = mw_strdup(o->ca_file);
  ssl->server_name = mw_strdup(o->server_name);
  ssl->no_verify = o->no_verify;
  ssl->no_name_check = o->no_name_check;
  return ssl;
}

/* Is the reply in buf complete? SMTP: a line "NNN text" ends it; POP3: the
 * first line does. */
static int reply_complete(const char *buf, size_t len, int smtp) {
  if (len < 2 || buf[len - 2] != '\r' || buf[len - 1] != '\n')
    return 0;
  if (!smtp)
    return 1;
  size_t start = len - 2;
  while (start > 0 && buf[start - 1] != '\n')
    start--;
  return len - start >= 4 && buf[start + 3] == ' ';
}

/* Read one reply (bounded in size and in reads); returns the conn's rc. */
static int read_reply(mw_conn *c, char *buf, size_t cap, int smtp) {
  size_t have = 0;
  buf[0] = '\0';
  for (int i = 0; i < 100 && have + 1 < cap; i++) {
    size_t got = 0;
    int rc = mw_conn_read(c, buf + have, cap - have - 1, &got);
    if (rc != MW_OK)
      return rc;
    have += got;
    buf[have] = '\0';
    if (reply_complete(buf, have, smtp))
      return MW_OK;
  }
  tl_fail(__FILE__, __LINE__, "no complete reply: \"%s\"", buf);
  return errProtocol;
}

/* Implicit TLS to port: returns the rc of open + handshake and a short
 * encrypted exchange, leaves e filled and ssl's outputs. */
static int implicit_tls(unsigned port, const tls_opts *o, int smtp,
                        mw_errorinfo *e, mw_sslinfo *ssl) {
  mw_conn c;
  mw_conn_init(&c, e, NULL, TIMEOUT_MS);
  int rc = mw_conn_open(&c, o->host, port);
  if (rc == MW_OK)
    rc = mw_conn_start_tls(&c, ssl, o->host);
  if (rc == MW_OK) { /* the greeting arrives over TLS */
    char buf[2048];
    rc = read_reply(&c, buf, sizeof buf, smtp);
    CHECK(rc == MW_OK && strncmp(buf, smtp ? "220" : "+OK", 3) == 0);
    if (rc == MW_OK)
      rc = mw_conn_write(&c, "QUIT\r\n", 6);
    if (rc == MW_OK)
      rc = read_reply(&c, buf, sizeof buf, smtp);
    CHECK(rc == MW_OK && strncmp(buf, smtp ? "221" : "+OK", 3) == 0);
  }
  mw_conn_close(&c);
  mw_conn_close(&c); /* idempotent */
  CHECK(!mw_conn_is_open(&c));
  CHECK_INT(ERR_peek_error(), 0); /* nothing left on OpenSSL's queue */
  return rc;
}

/* What `openssl s_client` negotiates with the same server. */
typedef struct s_client_view {
  char protocol[32];
  char cipher[96];
} s_client_view;

static int s_client(unsigned port, s_client_view *v) {
  char cmd[1024];
  snprintf(cmd, sizeof cmd,
           "echo | timeout 20 openssl s_client -connect 127.0.0.1:%u "
           "-servername localhost -CAfile '%s' -brief 2>&1",
           port, tl_env("CA_FILE"));
  memset(v, 0, sizeof *v);
  FILE *f = popen(cmd, "r");
  if (!f)
    return -1;
  char line[512];
  for (int i = 0; i < 200 && fgets(line, sizeof line, f); i++) {
    line[strcspn(line, "\r\n")] = '\0';
    if (strncmp(line, "Protocol version: ", 18) == 0)
      snprintf(v->protocol, sizeof v->protocol, "%.31s", line + 18);
    else if (strncmp(line, "Ciphersuite: ", 13) == 0)
      snprintf(v->cipher, sizeof v->cipher, "%.95s", line + 13);
  }
  pclose(f);
  return v->protocol[0] && v->cipher[0] ? 0 : -1;
}

static void check_outputs(const mw_sslinfo *ssl, unsigned port) {
  CHECK(ssl->last.have);
  CHECK(ssl->last.protocol_out == SSL_TLS1_3 ||
        ssl->last.protocol_out == SSL_TLS1_2);
  CHECK(ssl->last.cipher_out != SSL_NONE);
  CHECK(ssl->last.cipher_strength >= 128);
  CHECK(ssl->last.hash == SSL_SHA256 || ssl->last.hash == SSL_SHA384);
  CHECK(ssl->last.hash_strength >= 256);
  CHECK(ssl->last.exchange == SSL_X25519 || ssl->last.exchange == SSL_ECDHE ||
        ssl->last.exchange == SSL_DH);
  CHECK(ssl->last.exchange_strength > 0);
  CHECK(ssl->last.protocol_name[0] && ssl->last.cipher_name[0] &&
        ssl->last.group_name[0]);
  CHECK(ssl->last.peer_subject &&
        strstr(ssl->last.peer_subject, "CN=localhost"));
  CHECK(ssl->last.peer_issuer &&
        strstr(ssl->last.peer_issuer, "CN=mailwire test CA"));
  s_client_view v;
  CHECK(s_client(port, &v) == 0);
  CHECK_STR(ssl->last.protocol_name, v.protocol);
  CHECK_STR(ssl->last.cipher_name, v.cipher);
  CHECK_INT(ssl->last.protocol_out,
            strcmp(v.protocol, "TLSv1.3") == 0 ? SSL_TLS1_3 : SSL_TLS1_2);
  if (ssl->last.exchange == SSL_X25519) {
    CHECK_INT(ssl->last.exchange_strength, 253);
    CHECK_STR(ssl->last.group_name, "x25519");
  }
  if (strcmp(ssl->last.cipher_name, "TLS_AES_256_GCM_SHA384") == 0) {
    CHECK_INT(ssl->last.cipher_out, SSL_AES_256_GCM);
    CHECK_INT(ssl->last.cipher_strength, 256);
    CHECK_INT(ssl->last.hash, SSL_SHA384);
  }
}

static void test_implicit_tls_pop3s(void) {
  tls_opts o = {"localhost", NULL, tl_env("CA_FILE"), 0, 0};
  mw_errorinfo e;
  mw_error_init(&e);
  mw_sslinfo *ssl = make_ssl(&o);
  unsigned port = tl_env_port("POP3S_PORT");
  CHECK_INT(implicit_tls(port, &o, 0, &e, ssl), MW_OK);
  check_outputs(ssl, port);
  mw_sslinfo_free(ssl);
  mw_error_clear(&e);
}

static void test_implicit_tls_smtps(void) {
  tls_opts o = {"localhost", NULL, tl_env("CA_FILE"), 0, 0};
  mw_errorinfo e;
  mw_error_init(&e);
  mw_sslinfo *ssl = make_ssl(&o);
  unsigned port = tl_env_port("SMTPS_PORT");
  CHECK_INT(implicit_tls(port, &o, 1, &e, ssl), MW_OK);
  check_outputs(ssl, port);
  mw_sslinfo_free(ssl);
  mw_error_clear(&e);
}

/* Connecting by IP: the certificate's IP SAN is checked, no SNI. */
static void test_implicit_tls_by_ip(void) {
  tls_opts o = {"127.0.0.1", NULL, tl_env("CA_FILE"), 0, 0};
  mw_errorinfo e;
  mw_error_init(&e);
  mw_sslinfo *ssl = make_ssl(&o);
  CHECK_INT(implicit_tls(tl_env_port("SMTPS_PORT"), &o, 1, &e, ssl), MW_OK);
  CHECK(ssl->last.have);
  mw_sslinfo_free(ssl);
  mw_error_clear(&e);
}

static void test_untrusted_ca(void) {
  tls_opts o = {"localhost", NULL, tl_env("OTHER_CA_FILE"), 0, 0};
  unsigned ports[2] = {tl_env_port("POP3S_PORT"), tl_env_port("SMTPS_PORT")};
  for (int i = 0; i < 2; i++) {
    mw_errorinfo e;
    mw_error_init(&e);
    mw_sslinfo *ssl = make_ssl(&o);
    int rc = implicit_tls(ports[i], &o, i == 1, &e, ssl);
    CHECK_ERR(rc, &e, errConnect, eexSSLCertificate);
    CHECK(e.verify == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
          e.verify == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT);
    CHECK(tl_contains(e.text, strlen(e.text),
                      X509_verify_cert_error_string(e.verify)));
    CHECK(e.os_error != 0);
    CHECK(!ssl->last.have);
    mw_sslinfo_free(ssl);
    mw_error_clear(&e);
  }
}

/* The system store does not know the test CA either. */
static void test_system_store_rejects_test_ca(void) {
  tls_opts o = {"localhost", NULL, NULL, 0, 0};
  mw_errorinfo e;
  mw_error_init(&e);
  mw_sslinfo *ssl = make_ssl(&o);
  int rc = implicit_tls(tl_env_port("SMTPS_PORT"), &o, 1, &e, ssl);
  CHECK_ERR(rc, &e, errConnect, eexSSLCertificate);
  CHECK(e.verify != X509_V_OK);
  mw_sslinfo_free(ssl);
  mw_error_clear(&e);
}

static void test_no_verify_accepts_untrusted(void) {
  tls_opts o = {"localhost", NULL, tl_env("OTHER_CA_FILE"), 1, 0};
  mw_errorinfo e;
  mw_error_init(&e);
  mw_sslinfo *ssl = make_ssl(&o);
  CHECK_INT(implicit_tls(tl_env_port("POP3S_PORT"), &o, 0, &e, ssl), MW_OK);
  CHECK(ssl->last.have);
  CHECK(ssl->last.peer_subject &&
        strstr(ssl->last.peer_subject, "CN=localhost"));
  mw_sslinfo_free(ssl);
  mw_error_clear(&e);
}

static void test_wrong_name(void) {
  tls_opts o = {"localhost", "wrong.example", tl_env("CA_FILE"), 0, 0};
  mw_errorinfo e;
  mw_error_init(&e);
  mw_sslinfo *ssl = make_ssl(&o);
  int rc = implicit_tls(tl_env_port("SMTPS_PORT"), &o, 1, &e, ssl);
  CHECK_ERR(rc, &e, errConnect, eexSSLCertName);
  CHECK_INT(e.verify, X509_V_ERR_HOSTNAME_MISMATCH);
  CHECK(tl_contains(e.text, strlen(e.text), "'wrong.example'"));
  CHECK(tl_contains(e.text, strlen(e.text), "SSLNoServerNameCheck"));
  CHECK(!ssl->last.have);
  mw_sslinfo_free(ssl);

  /* no_name_check lets the same connection through; the chain is still
   * verified (a wrong CA still fails). */
  o.no_name_check = 1;
  ssl = make_ssl(&o);
  CHECK_INT(implicit_tls(tl_env_port("SMTPS_PORT"), &o, 1, &e, ssl), MW_OK);
  CHECK(ssl->last.have);
  mw_sslinfo_free(ssl);
  o.ca_file = tl_env("OTHER_CA_FILE");
  ssl = make_ssl(&o);
  CHECK_ERR(implicit_tls(tl_env_port("SMTPS_PORT"), &o, 1, &e, ssl), &e,
            errConnect, eexSSLCertificate);
  mw_sslinfo_free(ssl);
  mw_error_clear(&e);
}

/* An IP the certificate does not list, checked as an IP. */
static void test_wrong_ip(void) {
  tls_opts o = {"127.0.0.1", "127.0.0.9", tl_env("CA_FILE"), 0, 0};
  mw_errorinfo e;
  mw_error_init(&e);
  mw_sslinfo *ssl = make_ssl(&o);
  int rc = implicit_tls(tl_env_port("POP3S_PORT"), &o, 0, &e, ssl);
  CHECK_ERR(rc, &e, errConnect, eexSSLCertName);
  CHECK_INT(e.verify, X509_V_ERR_IP_ADDRESS_MISMATCH);
  CHECK(tl_contains(e.text, strlen(e.text), "127.0.0.9"));
  mw_sslinfo_free(ssl);
  mw_error_clear(&e);
}

/* TLS to a plaintext port: the server's greeting is not TLS. */
static void test_tls_to_plaintext_port(void) {
  tls_opts o = {"localhost", NULL, tl_env("CA_FILE"), 0, 0};
  const char *keys[2] = {"SMTP_PORT", "POP3_PORT"};
  for (int i = 0; i < 2; i++) {
    mw_errorinfo e;
    mw_error_init(&e);
    mw_sslinfo *ssl = make_ssl(&o);
    int rc = implicit_tls(tl_env_port(keys[i]), &o, i == 0, &e, ssl);
    CHECK_ERR(rc, &e, errConnect, eexSSLProtocol);
    CHECK(tl_contains(e.text, strlen(e.text), "465"));
    CHECK(tl_contains(e.text, strlen(e.text), "995"));
    CHECK(!ssl->last.have);
    mw_sslinfo_free(ssl);
    mw_error_clear(&e);
  }
}

static void test_bad_ca_file(void) {
  tls_opts o = {"localhost", NULL, "/nonexistent/ca.pem", 0, 0};
  mw_errorinfo e;
  mw_error_init(&e);
  mw_sslinfo *ssl = make_ssl(&o);
  int rc = implicit_tls(tl_env_port("SMTPS_PORT"), &o, 1, &e, ssl);
  CHECK_ERR(rc, &e, errInvalidArgument, eexSSLConfig);
  CHECK(tl_contains(e.text, strlen(e.text), "/nonexistent/ca.pem"));
  mw_sslinfo_free(ssl);
  mw_error_clear(&e);
}

/* STARTTLS (Postfix) and STLS (Dovecot) through one conn: plaintext
 * reads and writes, the handshake mid-stream, then encrypted commands. */
static void test_starttls_postfix(void) {
  tls_opts o = {"localhost", NULL, tl_env("CA_FILE"), 0, 0};
  mw_errorinfo e;
  mw_error_init(&e);
  mw_sslinfo *ssl = make_ssl(&o);
  mw_conn c;
  mw_conn_init(&c, &e, NULL, TIMEOUT_MS);
  char buf[4096];
  CHECK_INT(mw_conn_open(&c, "localhost", tl_env_port("SMTP_PORT")), MW_OK);
  CHECK_INT(read_reply(&c, buf, sizeof buf, 1), MW_OK);
  CHECK(strncmp(buf, "220", 3) == 0);
  CHECK_INT(mw_conn_write(&c, "EHLO client.example\r\n", 21), MW_OK);
  CHECK_INT(read_reply(&c, buf, sizeof buf, 1), MW_OK);
  CHECK(tl_contains(buf, strlen(buf), "STARTTLS"));
  CHECK_INT(mw_conn_write(&c, "STARTTLS\r\n", 10), MW_OK);
  CHECK_INT(read_reply(&c, buf, sizeof buf, 1), MW_OK);
  CHECK(strncmp(buf, "220", 3) == 0);
  CHECK_INT(mw_conn_start_tls(&c, ssl, "localhost"), MW_OK);
  CHECK(mw_conn_is_secure(&c));
  CHECK_INT(mw_conn_write(&c, "EHLO client.example\r\n", 21), MW_OK);
  CHECK_INT(read_reply(&c, buf, sizeof buf, 1), MW_OK);
  CHECK(strncmp(buf, "250", 3) == 0);
  CHECK(!tl_contains(buf, strlen(buf), "STARTTLS")); /* already secure */
  CHECK_INT(mw_conn_write(&c, "QUIT\r\n", 6), MW_OK);
  CHECK_INT(read_reply(&c, buf, sizeof buf, 1), MW_OK);
  CHECK(strncmp(buf, "221", 3) == 0);
  CHECK(ssl->last.have);
  CHECK(ssl->last.protocol_out == SSL_TLS1_3 ||
        ssl->last.protocol_out == SSL_TLS1_2);
  mw_conn_close(&c);
  mw_sslinfo_free(ssl);
  mw_error_clear(&e);
}

static void test_stls_dovecot(void) {
  tls_opts o = {"127.0.0.1", NULL, tl_env("CA_FILE"), 0, 0};
  mw_errorinfo e;
  mw_error_init(&e);
  mw_sslinfo *ssl = make_ssl(&o);
  mw_conn c;
  mw_conn_init(&c, &e, NULL, TIMEOUT_MS);
  char buf[4096];
  CHECK_INT(mw_conn_open(&c, "127.0.0.1", tl_env_port("POP3_PORT")), MW_OK);
  CHECK_INT(read_reply(&c, buf, sizeof buf, 0), MW_OK);
  CHECK(strncmp(buf, "+OK", 3) == 0);
  CHECK_INT(mw_conn_write(&c, "STLS\r\n", 6), MW_OK);
  CHECK_INT(read_reply(&c, buf, sizeof buf, 0), MW_OK);
  CHECK(strncmp(buf, "+OK", 3) == 0);
  CHECK_INT(mw_conn_start_tls(&c, ssl, "127.0.0.1"), MW_OK);
  char user[128];
  int n = snprintf(user, sizeof user, "USER %s\r\n", tl_env("USER"));
  CHECK_INT(mw_conn_write(&c, user, (size_t)n), MW_OK);
  CHECK_INT(read_reply(&c, buf, sizeof buf, 0), MW_OK);
  CHECK(strncmp(buf, "+OK", 3) == 0);
  CHECK_INT(mw_conn_write(&c, "QUIT\r\n", 6), MW_OK);
  CHECK_INT(read_reply(&c, buf, sizeof buf, 0), MW_OK);
  /* After QUIT the server closes: a read now reports it. */
  size_t got = 0;
  CHECK_ERR(mw_conn_read(&c, buf, sizeof buf, &got), &e, errNetwork,
            eexServerClosed);
  mw_conn_close(&c);
  mw_sslinfo_free(ssl);
  mw_error_clear(&e);
}

/* A STARTTLS handshake that fails (untrusted CA) leaves no usable
 * connection: nothing more can go out in plaintext. */
static void test_starttls_failure_closes(void) {
  tls_opts o = {"localhost", NULL, tl_env("OTHER_CA_FILE"), 0, 0};
  mw_errorinfo e;
  mw_error_init(&e);
  mw_sslinfo *ssl = make_ssl(&o);
  mw_conn c;
  mw_conn_init(&c, &e, NULL, TIMEOUT_MS);
  char buf[4096];
  CHECK_INT(mw_conn_open(&c, "localhost", tl_env_port("POP3_PORT")), MW_OK);
  CHECK_INT(read_reply(&c, buf, sizeof buf, 0), MW_OK);
  CHECK_INT(mw_conn_write(&c, "STLS\r\n", 6), MW_OK);
  CHECK_INT(read_reply(&c, buf, sizeof buf, 0), MW_OK);
  CHECK_ERR(mw_conn_start_tls(&c, ssl, "localhost"), &e, errConnect,
            eexSSLCertificate);
  CHECK(!mw_conn_is_open(&c));
  CHECK_ERR(mw_conn_write(&c, "USER x\r\n", 8), &e, errNotConnected,
            eexNotConnected);
  mw_conn_close(&c);
  mw_sslinfo_free(ssl);
  mw_error_clear(&e);
}

int main(void) {
  RUN(test_implicit_tls_pop3s);
  RUN(test_implicit_tls_smtps);
  RUN(test_implicit_tls_by_ip);
  RUN(test_untrusted_ca);
  RUN(test_system_store_rejects_test_ca);
  RUN(test_no_verify_accepts_untrusted);
  RUN(test_wrong_name);
  RUN(test_wrong_ip);
  RUN(test_tls_to_plaintext_port);
  RUN(test_bad_ca_file);
  RUN(test_starttls_postfix);
  RUN(test_stls_dovecot);
  RUN(test_starttls_failure_closes);
  return tl_finish();
}
