/*
 * itest_revocation.c - revocation through the public POP3 API against the
 * real Dovecot of tests/servers/start.sh: asked (by SNI) for REVOKED_NAME
 * it serves a certificate that the test CA revoked in CA_CRL_FILE. The
 * other revocation cases (OCSP, distribution points, offline servers) run
 * against openssl s_server in test_revocation.c.
 */
#include "testlib.h"

#include <openssl/x509_vfy.h>
#include <stdio.h>
#include <stdlib.h>

static char log_text[65536];
static size_t log_len;

static void collect_log(void *ctx, int severity, int facility,
                        const char *message) {
  (void)ctx;
  (void)severity;
  (void)facility;
  int n =
      snprintf(log_text + log_len, sizeof log_text - log_len, "%s\n", message);
  if (n > 0 && (size_t)n < sizeof log_text - log_len)
    log_len += (size_t)n;
}

/* A POP3S client for Dovecot asking for REVOKED_NAME by SNI; crl says
 * whether the CA's CRL is given. */
static mw_pop3 *client(mw_sslinfo *ssl, int crl) {
  mw_pop3 *c = mw_pop3_new();
  CHECK_INT(mw_pop3_set_server(c, "127.0.0.1", tl_env_port("POP3S_PORT")),
            MW_OK);
  CHECK_INT(mw_pop3_set_timeout(c, 15000), MW_OK);
  CHECK_INT(mw_pop3_set_credentials(c, tl_env("USER2"), tl_env("PASS2")),
            MW_OK);
  CHECK_INT(mw_sslinfo_set_mode(ssl, MODE_CHANNEL), MW_OK);
  CHECK_INT(mw_sslinfo_set_option_str(ssl, SSLCAFile, tl_env("CA_FILE")),
            MW_OK);
  CHECK_INT(
      mw_sslinfo_set_option_str(ssl, SSLServerName, tl_env("REVOKED_NAME")),
      MW_OK);
  if (crl)
    CHECK_INT(
        mw_sslinfo_set_option_str(ssl, SSLCRLFile, tl_env("CA_CRL_FILE")),
        MW_OK);
  CHECK_INT(mw_pop3_set_sslinfo(c, ssl), MW_OK);
  mw_loghandler *lh = mw_loghandler_new(collect_log, NULL);
  CHECK_INT(mw_pop3_set_loghandler(c, lh), MW_OK);
  mw_loghandler_free(lh);
  log_len = 0;
  log_text[0] = '\0';
  return c;
}

static long status_of(mw_sslinfo *ssl) {
  long v = -1;
  CHECK_INT(mw_sslinfo_get_option_int(ssl, SSLRevocationStatus, &v), MW_OK);
  return v;
}

/* The CA's CRL revokes the certificate: refused before USER/PASS. */
static void test_dovecot_revoked_leaf(void) {
  mw_sslinfo *ssl = mw_sslinfo_new();
  mw_pop3 *c = client(ssl, 1);
  int rc = mw_pop3_connect(c);
  const mw_errorinfo *e = mw_pop3_extended_error(c);
  CHECK_ERR(rc, e, errConnect, eexSSLCertificate);
  CHECK_INT(mw_errorinfo_verify_result(e), X509_V_ERR_CERT_REVOKED);
  CHECK(strstr(mw_errorinfo_text(e), "revoked") != NULL);
  CHECK_INT(status_of(ssl), SSL_REVOCATION_REVOKED);
  const char *d = NULL;
  CHECK_INT(mw_sslinfo_get_option_str(ssl, SSLRevocationDetail, &d), MW_OK);
  CHECK(d && strstr(d, "'revoked.localhost': revoked (CRL file"));
  CHECK(!mw_pop3_is_connected(c));
  /* nothing of the session went out: no command, no password */
  CHECK(!tl_contains(log_text, log_len, "USER "));
  CHECK(!tl_contains(log_text, log_len, tl_env("PASS2")));
  mw_pop3_free(c);
  mw_sslinfo_free(ssl);
}

/* The same over STLS: the check runs mid-stream too, and no command
 * follows the refused handshake. */
static void test_dovecot_revoked_leaf_stls(void) {
  mw_sslinfo *ssl = mw_sslinfo_new();
  mw_pop3 *c = client(ssl, 1);
  CHECK_INT(mw_pop3_set_server(c, "127.0.0.1", tl_env_port("POP3_PORT")),
            MW_OK);
  CHECK_INT(mw_sslinfo_set_mode(ssl, MODE_STARTTLS), MW_OK);
  int rc = mw_pop3_connect(c);
  const mw_errorinfo *e = mw_pop3_extended_error(c);
  CHECK_ERR(rc, e, errConnect, eexSSLCertificate);
  CHECK_INT(mw_errorinfo_verify_result(e), X509_V_ERR_CERT_REVOKED);
  CHECK_INT(status_of(ssl), SSL_REVOCATION_REVOKED);
  CHECK(tl_contains(log_text, log_len, "STLS"));
  CHECK(!tl_contains(log_text, log_len, "USER "));
  CHECK(!tl_contains(log_text, log_len, tl_env("PASS2")));
  CHECK(!mw_pop3_is_connected(c));
  mw_pop3_free(c);
  mw_sslinfo_free(ssl);
}

/* The same server without the CRL: no information, which the defaults
 * accept (SSLRevocationIgnoreNRC) and a strict caller refuses. */
static void test_dovecot_without_crl(void) {
  mw_sslinfo *ssl = mw_sslinfo_new();
  mw_pop3 *c = client(ssl, 0);
  CHECK_INT(mw_pop3_connect(c), MW_OK);
  CHECK_INT(status_of(ssl), SSL_REVOCATION_UNKNOWN);
  const char *subject = NULL;
  CHECK_INT(mw_sslinfo_get_option_str(ssl, SSLPeerSubject, &subject), MW_OK);
  CHECK(subject && strstr(subject, "CN=revoked.localhost"));
  /* the outcome is logged on LOG_F_SSL, as a warning */
  CHECK(tl_contains(log_text, log_len, "Revocation: no information"));
  mw_pop3_free(c);

  c = client(ssl, 0);
  CHECK_INT(mw_sslinfo_set_option_int(ssl, SSLRevocationIgnoreNRC, 0), MW_OK);
  int rc = mw_pop3_connect(c);
  const mw_errorinfo *e = mw_pop3_extended_error(c);
  CHECK_ERR(rc, e, errConnect, eexSSLCertificate);
  CHECK_INT(mw_errorinfo_verify_result(e), X509_V_ERR_UNABLE_TO_GET_CRL);
  CHECK(strstr(mw_errorinfo_text(e), "No usable revocation information") !=
        NULL);
  CHECK(strstr(mw_errorinfo_text(e), "not a revocation") != NULL);
  CHECK_INT(status_of(ssl), SSL_REVOCATION_UNKNOWN);
  CHECK(!tl_contains(log_text, log_len, tl_env("PASS2")));
  mw_pop3_free(c);
  mw_sslinfo_free(ssl);
}

/* The usual certificate (SNI "localhost") is not in the CRL: good. */
static void test_dovecot_good_leaf(void) {
  mw_sslinfo *ssl = mw_sslinfo_new();
  mw_pop3 *c = client(ssl, 1);
  CHECK_INT(mw_sslinfo_set_option_str(ssl, SSLServerName, "localhost"), MW_OK);
  CHECK_INT(mw_sslinfo_set_option_int(ssl, SSLRevocationCheckEnd, 1), MW_OK);
  CHECK_INT(mw_sslinfo_set_option_int(ssl, SSLRevocationIgnoreNRC, 0), MW_OK);
  CHECK_INT(mw_pop3_connect(c), MW_OK);
  CHECK_INT(status_of(ssl), SSL_REVOCATION_GOOD);
  CHECK(tl_contains(log_text, log_len, "Revocation: good (depth 0"));
  mw_pop3_free(c);
  mw_sslinfo_free(ssl);
}

int main(void) {
  RUN(test_dovecot_revoked_leaf);
  RUN(test_dovecot_revoked_leaf_stls);
  RUN(test_dovecot_without_crl);
  RUN(test_dovecot_good_leaf);
  return tl_finish();
}
