/*
 * itest_sslinfo_ccert.c - client certificates (SSLClientCertificateName,
 * SSLClientCertificatePassword, SSLClientCertificateDir): loading errors
 * at configuration time, and real Postfix on SMTPS_CCERT_PORT (which
 * requires a certificate from the test CA) accepting us with one and
 * refusing us without.
 */
#define _DEFAULT_SOURCE /* mkdtemp */
#include "internal.h"
#include "testlib.h"

#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EI(ssl) mw_sslinfo_extended_error(ssl)

static char g_dir[64]; /* files made by this test */

static void write_concat(const char *out, const char *a, const char *b) {
  FILE *o = fopen(out, "wb");
  const char *in[] = {a, b};
  for (int i = 0; o && i < 2; i++) {
    FILE *f = fopen(in[i], "rb");
    char buf[4096];
    size_t n;
    while (f && (n = fread(buf, 1, sizeof buf, f)) > 0)
      fwrite(buf, 1, n, o);
    if (f)
      fclose(f);
  }
  if (o)
    fclose(o);
}

static const char *tmp_path(const char *name) {
  static char path[4][256];
  static int next;
  char *p = path[next++ % 4];
  snprintf(p, sizeof path[0], "%s/%s", g_dir, name);
  return p;
}

static const char *get_str(mw_sslinfo *ssl, int index) {
  const char *v = NULL;
  CHECK_INT(mw_sslinfo_get_option_str(ssl, index, &v), MW_OK);
  return v ? v : "(null)";
}

static void test_pem_and_p12_load(void) {
  mw_sslinfo *ssl = mw_sslinfo_new();
  CHECK_INT(mw_sslinfo_set_option_str(ssl, SSLClientCertificateName,
                                      tl_env("CLIENT_PEM_FILE")),
            MW_OK);
  CHECK(ssl->cc_cert && ssl->cc_key);
  CHECK_STR(get_str(ssl, SSLClientCertificateName), tl_env("CLIENT_PEM_FILE"));
  CHECK_INT(mw_sslinfo_set_option_str(ssl, SSLClientCertificatePassword,
                                      tl_env("CLIENT_P12_PASS")),
            MW_OK);
  CHECK_STR(get_str(ssl, SSLClientCertificatePassword), "********");
  CHECK_INT(mw_sslinfo_set_option_str(ssl, SSLClientCertificateName,
                                      tl_env("CLIENT_P12_FILE")),
            MW_OK);
  CHECK(ssl->cc_cert && ssl->cc_key);
  /* Unset: no certificate. */
  CHECK_INT(mw_sslinfo_set_option_str(ssl, SSLClientCertificateName, ""),
            MW_OK);
  CHECK(!ssl->cc_cert && !ssl->cc_key);
  CHECK_STR(get_str(ssl, SSLClientCertificateName), "");
  mw_sslinfo_free(ssl);
}

static void test_load_errors(void) {
  mw_sslinfo *ssl = mw_sslinfo_new();
  CHECK_INT(mw_sslinfo_set_option_str(ssl, SSLClientCertificateName,
                                      tl_env("CLIENT_PEM_FILE")),
            MW_OK);
  X509 *before = ssl->cc_cert;

  /* Missing file. */
  CHECK_ERR(mw_sslinfo_set_option_str(ssl, SSLClientCertificateName,
                                      "/nonexistent/client.pem"),
            EI(ssl), errInvalidArgument, eexSSLConfig);
  CHECK(strstr(mw_errorinfo_text(EI(ssl)), "/nonexistent/client.pem"));
  /* PKCS#12 without and with a wrong password. */
  CHECK_ERR(mw_sslinfo_set_option_str(ssl, SSLClientCertificateName,
                                      tl_env("CLIENT_P12_FILE")),
            EI(ssl), errInvalidArgument, eexSSLConfig);
  CHECK(strstr(mw_errorinfo_text(EI(ssl)), "protected by a password"));
  CHECK_INT(mw_sslinfo_set_option_str(ssl, SSLClientCertificateName, NULL),
            MW_OK);
  CHECK_INT(mw_sslinfo_set_option_str(ssl, SSLClientCertificatePassword,
                                      "not-the-password"),
            MW_OK);
  CHECK_ERR(mw_sslinfo_set_option_str(ssl, SSLClientCertificateName,
                                      tl_env("CLIENT_P12_FILE")),
            EI(ssl), errInvalidArgument, eexSSLConfig);
  CHECK(strstr(mw_errorinfo_text(EI(ssl)), "is wrong for the PKCS#12"));
  CHECK(!ssl->cc_cert);
  CHECK_STR(get_str(ssl, SSLClientCertificateName), ""); /* unchanged */

  /* With the right password set, changing it to a wrong one is refused. */
  CHECK_INT(mw_sslinfo_set_option_str(ssl, SSLClientCertificatePassword,
                                      tl_env("CLIENT_P12_PASS")),
            MW_OK);
  CHECK_INT(mw_sslinfo_set_option_str(ssl, SSLClientCertificateName,
                                      tl_env("CLIENT_P12_FILE")),
            MW_OK);
  before = ssl->cc_cert;
  CHECK_ERR(
      mw_sslinfo_set_option_str(ssl, SSLClientCertificatePassword, "wrong"),
      EI(ssl), errInvalidArgument, eexSSLConfig);
  CHECK(ssl->cc_cert == before); /* nothing changed */

  /* A key that belongs to another certificate. */
  const char *mismatch = tmp_path("mismatch.pem");
  write_concat(mismatch, tl_env("CLIENT_CERT_FILE"), tl_env("KEY_FILE"));
  CHECK_ERR(mw_sslinfo_set_option_str(ssl, SSLClientCertificateName, mismatch),
            EI(ssl), errInvalidArgument, eexSSLConfig);
  CHECK(strstr(mw_errorinfo_text(EI(ssl)), "does not belong"));
  CHECK(ssl->cc_cert == before);

  /* A certificate without a key. */
  CHECK_ERR(mw_sslinfo_set_option_str(ssl, SSLClientCertificateName,
                                      tl_env("CLIENT_CERT_FILE")),
            EI(ssl), errInvalidArgument, eexSSLConfig);
  CHECK(strstr(mw_errorinfo_text(EI(ssl)), "no private key"));
  /* Not a certificate at all. */
  const char *junk = tmp_path("junk.pem");
  FILE *f = fopen(junk, "w");
  if (f) {
    fputs("hello\n", f);
    fclose(f);
  }
  CHECK_ERR(mw_sslinfo_set_option_str(ssl, SSLClientCertificateName, junk),
            EI(ssl), errInvalidArgument, eexSSLConfig);
  CHECK(ssl->cc_cert == before);
  mw_sslinfo_free(ssl);
}

static void test_encrypted_pem(void) {
  char cmd[1024];
  const char *enc = tmp_path("enc.pem");
  snprintf(cmd, sizeof cmd,
           "openssl pkey -in '%s' -aes256 -passout pass:pem-pw >'%s.key' && "
           "cat '%s' '%s.key' >'%s'",
           tl_env("CLIENT_KEY_FILE"), enc, tl_env("CLIENT_CERT_FILE"), enc,
           enc);
  CHECK_INT(system(cmd), 0);
  mw_sslinfo *ssl = mw_sslinfo_new();
  CHECK_ERR(mw_sslinfo_set_option_str(ssl, SSLClientCertificateName, enc),
            EI(ssl), errInvalidArgument, eexSSLConfig);
  CHECK(strstr(mw_errorinfo_text(EI(ssl)), "is encrypted"));
  CHECK_INT(
      mw_sslinfo_set_option_str(ssl, SSLClientCertificatePassword, "nope"),
      MW_OK);
  CHECK_ERR(mw_sslinfo_set_option_str(ssl, SSLClientCertificateName, enc),
            EI(ssl), errInvalidArgument, eexSSLConfig);
  CHECK(strstr(mw_errorinfo_text(EI(ssl)), "wrong"));
  CHECK_INT(
      mw_sslinfo_set_option_str(ssl, SSLClientCertificatePassword, "pem-pw"),
      MW_OK);
  CHECK_INT(mw_sslinfo_set_option_str(ssl, SSLClientCertificateName, enc),
            MW_OK);
  CHECK(ssl->cc_key != NULL);
  mw_sslinfo_free(ssl);
}

static void test_directory_lookup(void) {
  write_concat(tmp_path("alice.pem"), tl_env("CLIENT_PEM_FILE"), "/dev/null");
  mw_sslinfo *ssl = mw_sslinfo_new();
  /* Without the directory, a bare name is a relative path: not found. */
  CHECK_ERR(mw_sslinfo_set_option_str(ssl, SSLClientCertificateName, "alice"),
            EI(ssl), errInvalidArgument, eexSSLConfig);
  CHECK_INT(mw_sslinfo_set_option_str(ssl, SSLClientCertificateDir, g_dir),
            MW_OK);
  CHECK_STR(get_str(ssl, SSLClientCertificateDir), g_dir);
  CHECK_INT(mw_sslinfo_set_option_str(ssl, SSLClientCertificateName, "alice"),
            MW_OK);
  CHECK(ssl->cc_cert != NULL);
  CHECK_ERR(mw_sslinfo_set_option_str(ssl, SSLClientCertificateName, "bob"),
            EI(ssl), errInvalidArgument, eexSSLConfig);
  CHECK(strstr(mw_errorinfo_text(EI(ssl)), "bob.p12"));
  /* Moving the directory away from alice is refused too. */
  CHECK_ERR(mw_sslinfo_set_option_str(ssl, SSLClientCertificateDir, "/tmp"),
            EI(ssl), errInvalidArgument, eexSSLConfig);
  CHECK_STR(get_str(ssl, SSLClientCertificateDir), g_dir);
  mw_sslinfo_free(ssl);
}

/* Connect to the SMTPS listener that requires a client certificate. */
static int ccert_connect(mw_sslinfo *ssl, mw_smtp **out) {
  mw_smtp *c = mw_smtp_new();
  CHECK_INT(mw_sslinfo_set_option_str(ssl, SSLCAFile, tl_env("CA_FILE")),
            MW_OK);
  mw_sslinfo_set_mode(ssl, MODE_CHANNEL);
  mw_smtp_set_handler(c, ssl);
  mw_smtp_set_timeout(c, 10000);
  mw_smtp_set_server(c, "localhost", tl_env_port("SMTPS_CCERT_PORT"));
  int rc = mw_smtp_connect(c);
  *out = c;
  return rc;
}

static void test_postfix_requires_certificate(void) {
  /* Without a certificate: the handshake completes, then Postfix says 421
   * instead of its greeting. */
  mw_sslinfo *ssl = mw_sslinfo_new();
  mw_smtp *c = NULL;
  int rc = ccert_connect(ssl, &c);
  CHECK_ERR(rc, mw_smtp_extended_error(c), errServer, eexSmtpServer);
  CHECK_INT(mw_errorinfo_reply_code(mw_smtp_extended_error(c)), 421);
  CHECK(strstr(mw_errorinfo_server_text(mw_smtp_extended_error(c)),
               "No client certificate presented"));
  mw_smtp_free(c);

  /* With a certificate from another CA: refused the same way. */
  CHECK_INT(mw_sslinfo_set_option_str(ssl, SSLClientCertificateName,
                                      tl_env("STRANGER_PEM_FILE")),
            MW_OK);
  rc = ccert_connect(ssl, &c);
  CHECK_ERR(rc, mw_smtp_extended_error(c), errServer, eexSmtpServer);
  CHECK(strstr(mw_errorinfo_server_text(mw_smtp_extended_error(c)),
               "not trusted"));
  mw_smtp_free(c);

  /* With ours, as PEM and as PKCS#12: accepted, and a NOOP works. */
  const char *files[] = {tl_env("CLIENT_PEM_FILE"), tl_env("CLIENT_P12_FILE")};
  CHECK_INT(mw_sslinfo_set_option_str(ssl, SSLClientCertificatePassword,
                                      tl_env("CLIENT_P12_PASS")),
            MW_OK);
  for (int i = 0; i < 2; i++) {
    CHECK_INT(
        mw_sslinfo_set_option_str(ssl, SSLClientCertificateName, files[i]),
        MW_OK);
    rc = ccert_connect(ssl, &c);
    CHECK_INT(rc, MW_OK);
    if (rc != MW_OK)
      fprintf(stderr, "%s\n", mw_errorinfo_text(mw_smtp_extended_error(c)));
    CHECK_INT(mw_smtp_last_reply_code(c), 250);
    CHECK_INT(mw_smtp_noop(c), MW_OK);
    /* Inputs are frozen while connected. */
    CHECK_ERR(mw_sslinfo_set_option_str(ssl, SSLClientCertificateName, ""),
              EI(ssl), errState, eexSSLConnected);
    CHECK_INT(mw_smtp_quit(c), MW_OK);
    mw_smtp_free(c);
  }
  mw_sslinfo_free(ssl);
}

int main(void) {
  snprintf(g_dir, sizeof g_dir, "/tmp/mw-ccert-XXXXXX");
  if (!mkdtemp(g_dir)) {
    perror("mkdtemp");
    return 1;
  }
  RUN(test_pem_and_p12_load);
  RUN(test_load_errors);
  RUN(test_encrypted_pem);
  RUN(test_directory_lookup);
  RUN(test_postfix_requires_certificate);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
  if (system(cmd) != 0)
    fprintf(stderr, "could not remove %s\n", g_dir);
  return tl_finish();
}
