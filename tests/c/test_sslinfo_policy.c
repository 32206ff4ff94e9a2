/*
 * test_sslinfo_policy.c - SSLConnectionProtocolIn, SSLConnectionCipherIn,
 * SSLMin/MaxCipherStrength and SSLConfidentiality without servers: what
 * the setters accept and refuse (base code, extended number, nothing
 * changed), what they do to an OpenSSL context, and that a configuration
 * that leaves no cipher suite fails before anything is sent.
 */
#include "internal.h"
#include "testlib.h"
#include "tls.h"

#include <openssl/err.h>
#include <stdio.h>
#include <string.h>

#define EI(ssl) mw_sslinfo_extended_error(ssl)

static void test_protocols_accepted(void) {
  mw_sslinfo *ssl = mw_sslinfo_new();
  long both[] = {SSL_TLS1_3, SSL_TLS1_2};
  CHECK_INT(mw_sslinfo_set_option_array(ssl, SSLConnectionProtocolIn, both, 2),
            MW_OK);
  CHECK_INT(ssl->protocols_in, SSL_TLS1_2 | SSL_TLS1_3);
  /* TLS 1.0/1.1 may widen the range (OpenSSL still refuses them at its
   * default security level). */
  long wide[] = {SSL_TLS1, SSL_TLS1_1, SSL_TLS1_2};
  CHECK_INT(mw_sslinfo_set_option_array(ssl, SSLConnectionProtocolIn, wide, 3),
            MW_OK);
  CHECK_INT(ssl->protocols_in, SSL_TLS1 | SSL_TLS1_1 | SSL_TLS1_2);
  /* Empty: the library chooses again. */
  CHECK_INT(mw_sslinfo_set_option_array(ssl, SSLConnectionProtocolIn, NULL, 0),
            MW_OK);
  CHECK_INT(ssl->protocols_in, 0);
  mw_sslinfo_free(ssl);
}

static void test_protocols_refused(void) {
  mw_sslinfo *ssl = mw_sslinfo_new();
  long ok[] = {SSL_TLS1_3};
  CHECK_INT(mw_sslinfo_set_option_array(ssl, SSLConnectionProtocolIn, ok, 1),
            MW_OK);
  long broken[][2] = {{SSL_TLS1_2, SSL_SSL3}, {SSL_SSL2, 0}, {SSL_PCT1, 0}};
  const char *names[] = {"SSL 3.0", "SSL 2.0", "PCT 1.0"};
  for (int i = 0; i < 3; i++) {
    CHECK_ERR(mw_sslinfo_set_option_array(ssl, SSLConnectionProtocolIn,
                                          broken[i], i == 0 ? 2 : 1),
              EI(ssl), errUnsupported, eexSSLInsecure);
    CHECK(strstr(mw_errorinfo_text(EI(ssl)), names[i]) != NULL);
    CHECK_INT(ssl->protocols_in, SSL_TLS1_3); /* nothing changed */
  }
  long only_old[] = {SSL_TLS1, SSL_TLS1_1};
  CHECK_ERR(
      mw_sslinfo_set_option_array(ssl, SSLConnectionProtocolIn, only_old, 2),
      EI(ssl), errUnsupported, eexSSLInsecure);
  CHECK(strstr(mw_errorinfo_text(EI(ssl)), "security level") != NULL);
  long gap[] = {SSL_TLS1_1, SSL_TLS1_3};
  CHECK_ERR(mw_sslinfo_set_option_array(ssl, SSLConnectionProtocolIn, gap, 2),
            EI(ssl), errInvalidArgument, eexInvalidArgument);
  CHECK(strstr(mw_errorinfo_text(EI(ssl)), "range") != NULL);
  long unknown[] = {SSL_AES_128};
  CHECK_ERR(
      mw_sslinfo_set_option_array(ssl, SSLConnectionProtocolIn, unknown, 1),
      EI(ssl), errInvalidArgument, eexInvalidArgument);
  CHECK_ERR(mw_sslinfo_set_option_array(ssl, SSLConnectionProtocolIn, NULL, 2),
            EI(ssl), errInvalidArgument, eexInvalidArgument);
  CHECK_ERR(mw_sslinfo_set_option_int(ssl, SSLConnectionProtocolIn, 1),
            EI(ssl), errInvalidArgument, eexInvalidArgument);
  CHECK_INT(ssl->protocols_in, SSL_TLS1_3);
  mw_sslinfo_free(ssl);
}

static void test_ciphers(void) {
  mw_sslinfo *ssl = mw_sslinfo_new();
  long gcm[] = {SSL_AES_128_GCM, SSL_CHACHA20};
  CHECK_INT(mw_sslinfo_set_option_array(ssl, SSLConnectionCipherIn, gcm, 2),
            MW_OK);
  CHECK_INT(ssl->ciphers_in, MW_CIPHER_AES128_GCM | MW_CIPHER_CHACHA20);
  long aes[] = {SSL_AES};
  CHECK_INT(mw_sslinfo_set_option_array(ssl, SSLConnectionCipherIn, aes, 1),
            MW_OK);
  CHECK_INT(ssl->ciphers_in, MW_CIPHER_AES128_GCM | MW_CIPHER_AES128_CBC |
                                 MW_CIPHER_AES256_GCM | MW_CIPHER_AES256_CBC);
  long bad[] = {SSL_RC2, SSL_RC4, SSL_DES, SSL_3DES, SSL_NONE};
  const char *why[] = {"RC2", "RC4", "DES", "Sweet32", "SSLConfidentiality"};
  for (int i = 0; i < 5; i++) {
    long v[] = {SSL_AES_256, bad[i]};
    CHECK_ERR(mw_sslinfo_set_option_array(ssl, SSLConnectionCipherIn, v, 2),
              EI(ssl), errUnsupported, eexSSLInsecure);
    CHECK(strstr(mw_errorinfo_text(EI(ssl)), why[i]) != NULL);
  }
  long hash[] = {SSL_SHA256};
  CHECK_ERR(mw_sslinfo_set_option_array(ssl, SSLConnectionCipherIn, hash, 1),
            EI(ssl), errInvalidArgument, eexInvalidArgument);
  CHECK_INT(ssl->ciphers_in, MW_CIPHER_AES128_GCM | MW_CIPHER_AES128_CBC |
                                 MW_CIPHER_AES256_GCM | MW_CIPHER_AES256_CBC);
  mw_sslinfo_free(ssl);
}

static void test_strength_and_confidentiality(void) {
  mw_sslinfo *ssl = mw_sslinfo_new();
  long v = -1;
  CHECK_INT(mw_sslinfo_get_option_int(ssl, SSLMinCipherStrength, &v), MW_OK);
  CHECK_INT(v, 0);
  CHECK_INT(mw_sslinfo_set_option_int(ssl, SSLMinCipherStrength, 256), MW_OK);
  CHECK_INT(mw_sslinfo_get_option_int(ssl, SSLMinCipherStrength, &v), MW_OK);
  CHECK_INT(v, 256);
  CHECK_INT(mw_sslinfo_set_option_int(ssl, SSLMaxCipherStrength, 128), MW_OK);
  CHECK_INT(mw_sslinfo_get_option_int(ssl, SSLMaxCipherStrength, &v), MW_OK);
  CHECK_INT(v, 128);
  CHECK_ERR(mw_sslinfo_set_option_int(ssl, SSLMaxCipherStrength, -5), EI(ssl),
            errInvalidArgument, eexInvalidArgument);
  CHECK_INT(ssl->max_strength, 128);
  CHECK_INT(mw_sslinfo_get_option_int(ssl, SSLConfidentiality, &v), MW_OK);
  CHECK_INT(v, 1); /* always enforced */
  CHECK_INT(mw_sslinfo_set_option_int(ssl, SSLConfidentiality, 1), MW_OK);
  CHECK_ERR(mw_sslinfo_set_option_int(ssl, SSLConfidentiality, 0), EI(ssl),
            errUnsupported, eexSSLInsecure);
  CHECK_INT(mw_sslinfo_get_option_int(ssl, SSLConfidentiality, &v), MW_OK);
  CHECK_INT(v, 1);
  mw_sslinfo_free(ssl);
}

/* The suites a context built for ssl offers, ':'-joined into buf. */
static int offered(mw_sslinfo *ssl, char *buf, size_t cap, int *lo, int *hi) {
  mw_errorinfo e;
  mw_error_init(&e);
  SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
  int rc = mw_policy_apply(ctx, ssl, &e);
  buf[0] = '\0';
  if (rc == MW_OK) {
    STACK_OF(SSL_CIPHER) *all = SSL_CTX_get_ciphers(ctx);
    for (int i = 0; i < sk_SSL_CIPHER_num(all); i++) {
      size_t n = strlen(buf);
      snprintf(buf + n, cap - n, "%s%s", n ? ":" : "",
               SSL_CIPHER_get_name(sk_SSL_CIPHER_value(all, i)));
    }
    *lo = (int)SSL_CTX_get_min_proto_version(ctx);
    *hi = (int)SSL_CTX_get_max_proto_version(ctx);
  }
  SSL_CTX_free(ctx);
  mw_error_clear(&e);
  return rc;
}

/* Every ':'-separated name in list contains needle, ignoring '-' and '_'
 * ("TLS_AES_128_GCM_SHA256" and "SRP-AES-128-CBC-SHA" contain "AES128"). */
static int all_contain(const char *list, const char *needle) {
  char copy[8192];
  snprintf(copy, sizeof copy, "%s", list);
  int count = 0;
  for (char *save = NULL, *t = strtok_r(copy, ":", &save); t;
       t = strtok_r(NULL, ":", &save), count++) {
    char flat[128];
    size_t n = 0;
    for (const char *p = t; *p && n + 1 < sizeof flat; p++)
      if (*p != '-' && *p != '_')
        flat[n++] = *p;
    flat[n] = '\0';
    if (!strstr(flat, needle))
      return 0;
  }
  return count > 0;
}

static void test_context(void) {
  mw_sslinfo *ssl = mw_sslinfo_new();
  char list[8192];
  int lo = 0, hi = 0;
  CHECK_INT(offered(ssl, list, sizeof list, &lo, &hi), MW_OK);
  CHECK_INT(lo, TLS1_2_VERSION); /* the default range */
  CHECK_INT(hi, TLS1_3_VERSION);
  CHECK(strstr(list, "TLS_AES_256_GCM_SHA384") && strstr(list, "AES128-SHA"));

  long gcm128[] = {SSL_AES_128_GCM};
  mw_sslinfo_set_option_array(ssl, SSLConnectionCipherIn, gcm128, 1);
  CHECK_INT(offered(ssl, list, sizeof list, &lo, &hi), MW_OK);
  CHECK(all_contain(list, "AES128GCM"));
  CHECK(strstr(list, "TLS_AES_128_GCM_SHA256") != NULL);

  long chacha[] = {SSL_CHACHA20};
  mw_sslinfo_set_option_array(ssl, SSLConnectionCipherIn, chacha, 1);
  CHECK_INT(offered(ssl, list, sizeof list, &lo, &hi), MW_OK);
  CHECK(all_contain(list, "CHACHA20"));

  long cbc[] = {SSL_AES_256}; /* AES-256 in CBC and GCM */
  mw_sslinfo_set_option_array(ssl, SSLConnectionCipherIn, cbc, 1);
  CHECK_INT(offered(ssl, list, sizeof list, &lo, &hi), MW_OK);
  CHECK(all_contain(list, "AES256"));
  CHECK(strstr(list, "ECDHE-RSA-AES256-SHA") != NULL);

  /* Strength alone: 128 bits at most keeps only AES-128. */
  mw_sslinfo_set_option_array(ssl, SSLConnectionCipherIn, NULL, 0);
  mw_sslinfo_set_option_int(ssl, SSLMaxCipherStrength, 128);
  CHECK_INT(offered(ssl, list, sizeof list, &lo, &hi), MW_OK);
  CHECK(all_contain(list, "AES128"));
  mw_sslinfo_set_option_int(ssl, SSLMaxCipherStrength, 0);
  mw_sslinfo_set_option_int(ssl, SSLMinCipherStrength, 256);
  CHECK_INT(offered(ssl, list, sizeof list, &lo, &hi), MW_OK);
  CHECK(!strstr(list, "AES128") && !strstr(list, "AES_128"));
  CHECK(strstr(list, "TLS_CHACHA20_POLY1305_SHA256") != NULL);

  /* TLS 1.3 only: the range is [1.3, 1.3]. */
  long v13[] = {SSL_TLS1_3};
  mw_sslinfo_set_option_array(ssl, SSLConnectionProtocolIn, v13, 1);
  CHECK_INT(offered(ssl, list, sizeof list, &lo, &hi), MW_OK);
  CHECK_INT(lo, TLS1_3_VERSION);
  CHECK_INT(hi, TLS1_3_VERSION);

  mw_sslinfo_set_option_int(ssl, SSLMinCipherStrength, 0);
  /* AES-256 with at most 128 bits: nothing left. */
  mw_sslinfo_set_option_array(ssl, SSLConnectionProtocolIn, NULL, 0);
  long aes256[] = {SSL_AES_256};
  mw_sslinfo_set_option_array(ssl, SSLConnectionCipherIn, aes256, 1);
  mw_sslinfo_set_option_int(ssl, SSLMaxCipherStrength, 128);
  CHECK_INT(offered(ssl, list, sizeof list, &lo, &hi), errInvalidArgument);
  long cbc128[] = {SSL_AES_128};
  mw_sslinfo_set_option_array(ssl, SSLConnectionCipherIn, cbc128, 1);
  CHECK_INT(offered(ssl, list, sizeof list, &lo, &hi), MW_OK);
  CHECK(all_contain(list, "AES128"));
  CHECK_INT(hi, TLS1_3_VERSION); /* TLS_AES_128_GCM_SHA256 remains */
  mw_sslinfo_free(ssl);
}

static void test_no_suite_left(void) {
  mw_sslinfo *ssl = mw_sslinfo_new();
  long gcm128[] = {SSL_AES_128_GCM};
  mw_sslinfo_set_option_array(ssl, SSLConnectionCipherIn, gcm128, 1);
  mw_sslinfo_set_option_int(ssl, SSLMinCipherStrength, 256);
  mw_errorinfo e;
  mw_error_init(&e);
  SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
  CHECK_ERR(mw_policy_apply(ctx, ssl, &e), &e, errInvalidArgument,
            eexSSLConfig);
  CHECK(strstr(e.text, "SSLMinCipherStrength (256)") != NULL);
  SSL_CTX_free(ctx);

  /* Through the transport: refused before the handshake, nothing sent. */
  tl_server *srv = tl_server_start("EXPECT_CLOSE\n");
  mw_conn c;
  mw_conn_init(&c, &e, NULL, 5000);
  CHECK_INT(mw_conn_open(&c, "127.0.0.1", tl_server_port(srv)), MW_OK);
  CHECK_ERR(mw_conn_start_tls(&c, ssl, "localhost"), &e, errInvalidArgument,
            eexSSLConfig);
  CHECK(!mw_conn_is_open(&c));
  CHECK_INT(tl_server_wait(srv, 5000), 0);
  size_t len = 99;
  tl_server_received(srv, &len);
  CHECK_INT(len, 0); /* not even a ClientHello */
  tl_server_free(srv);
  mw_error_clear(&e);
  CHECK_INT(ERR_peek_error(), 0);
  mw_sslinfo_free(ssl);
}

/* SSLConnectionProtocolIn and SSLConnectionCipherIn read back (#18 item
 * 17): the values in effect, in a fixed order; the other getters say it
 * is an array. */
static void test_arrays_read_back(void) {
  mw_sslinfo *s = mw_sslinfo_new();
  long v[8];
  size_t n = 99;
  CHECK_INT(mw_sslinfo_get_option_array(s, SSLConnectionProtocolIn, v, 8, &n),
            MW_OK);
  CHECK_INT(n, 0); /* the library's choice */
  long protos[] = {SSL_TLS1_3, SSL_TLS1_2};
  CHECK_INT(mw_sslinfo_set_option_array(s, SSLConnectionProtocolIn, protos, 2),
            MW_OK);
  CHECK_INT(mw_sslinfo_get_option_array(s, SSLConnectionProtocolIn, v, 8, &n),
            MW_OK);
  CHECK_INT(n, 2);
  CHECK_INT(v[0], SSL_TLS1_2);
  CHECK_INT(v[1], SSL_TLS1_3);
  /* Too little room: the number is still told. */
  CHECK_INT(mw_sslinfo_get_option_array(s, SSLConnectionProtocolIn, v, 1, &n),
            MW_OK);
  CHECK_INT(n, 2);
  long ciphers[] = {SSL_CHACHA20, SSL_AES_256_GCM, SSL_AES_128};
  CHECK_INT(mw_sslinfo_set_option_array(s, SSLConnectionCipherIn, ciphers, 3),
            MW_OK);
  CHECK_INT(mw_sslinfo_get_option_array(s, SSLConnectionCipherIn, v, 8, &n),
            MW_OK);
  CHECK_INT(n, 3);
  CHECK_INT(v[0], SSL_AES_128);
  CHECK_INT(v[1], SSL_AES_256_GCM);
  CHECK_INT(v[2], SSL_CHACHA20);
  long both[] = {SSL_AES_128, SSL_AES_256};
  CHECK_INT(mw_sslinfo_set_option_array(s, SSLConnectionCipherIn, both, 2),
            MW_OK);
  CHECK_INT(mw_sslinfo_get_option_array(s, SSLConnectionCipherIn, v, 8, &n),
            MW_OK);
  CHECK_INT(n, 1);
  CHECK_INT(v[0], SSL_AES);
  /* Read as a number: the error says it is an array. */
  long x;
  CHECK_ERR(mw_sslinfo_get_option_int(s, SSLConnectionCipherIn, &x),
            mw_sslinfo_extended_error(s), errInvalidArgument,
            eexInvalidArgument);
  CHECK(strstr(mw_errorinfo_text(mw_sslinfo_extended_error(s)), "array"));
  /* Not an array option. */
  CHECK_ERR(mw_sslinfo_get_option_array(s, SSLCAFile, v, 8, &n),
            mw_sslinfo_extended_error(s), errInvalidArgument,
            eexInvalidArgument);
  CHECK_INT(n, 0);
  CHECK_INT(mw_sslinfo_get_option_array(NULL, SSLConnectionCipherIn, v, 8, &n),
            errInvalidArgument);
  mw_sslinfo_free(s);
}

int main(void) {
  RUN(test_arrays_read_back);
  RUN(test_protocols_accepted);
  RUN(test_protocols_refused);
  RUN(test_ciphers);
  RUN(test_strength_and_confidentiality);
  RUN(test_context);
  RUN(test_no_suite_left);
  return tl_finish();
}
