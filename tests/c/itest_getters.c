/* itest_getters.c - after a real TLS handshake with Postfix and Dovecot,
 * the outputs SSLHash, SSLHashStrength, SSLExchange and SSLExchangeStrength
 * read through the public getter (mw_sslinfo_get_option_int), as scripts
 * read them (#18 item 21; the same checks run from Python and Lua in
 * tests/python/test_api.py and tests/lua/api_spec.lua); and port 0 picks
 * the default-port table (SMTP 25, or 465 with MODE_CHANNEL; POP3 110 or
 * 995). */
#include "testlib.h"

#include <stdio.h>
#include <string.h>

static long out(mw_sslinfo *ssl, int index) {
  long v = -1;
  CHECK_INT(mw_sslinfo_get_option_int(ssl, index, &v), MW_OK);
  return v;
}

static const char *out_str(mw_sslinfo *ssl, int index) {
  const char *v = NULL;
  CHECK_INT(mw_sslinfo_get_option_str(ssl, index, &v), MW_OK);
  return v ? v : "";
}

/* The four outputs agree with the suite and group names. */
static void check_outputs(mw_sslinfo *ssl) {
  const char *suite = out_str(ssl, SSLConnectionCipherName);
  size_t n = strlen(suite);
  if (n > 6 && strcmp(suite + n - 6, "SHA384") == 0) {
    CHECK_INT(out(ssl, SSLHash), SSL_SHA384);
    CHECK_INT(out(ssl, SSLHashStrength), 384);
  } else {
    CHECK(n > 6 && strcmp(suite + n - 6, "SHA256") == 0);
    CHECK_INT(out(ssl, SSLHash), SSL_SHA256);
    CHECK_INT(out(ssl, SSLHashStrength), 256);
  }
  const char *group = out_str(ssl, SSLExchangeGroupName);
  if (strcmp(group, "x25519") == 0) {
    CHECK_INT(out(ssl, SSLExchange), SSL_X25519);
    CHECK_INT(out(ssl, SSLExchangeStrength), 253);
  } else {
    long x = out(ssl, SSLExchange);
    CHECK(x == SSL_ECDHE || x == SSL_DH || x == SSL_X448);
    CHECK(out(ssl, SSLExchangeStrength) >= 224);
  }
}

static mw_sslinfo *ssl_for(long protocol) {
  mw_sslinfo *ssl = mw_sslinfo_new();
  CHECK_INT(mw_sslinfo_set_option_str(ssl, SSLCAFile, tl_env("CA_FILE")),
            MW_OK);
  if (protocol)
    CHECK_INT(mw_sslinfo_set_option_array(ssl, SSLConnectionProtocolIn,
                                          &protocol, 1),
              MW_OK);
  return ssl;
}

static void outputs_smtps_and_pop3s(long protocol) {
  mw_sslinfo *ssl = ssl_for(protocol);
  mw_smtp *s = mw_smtp_new();
  CHECK_INT(mw_smtp_set_handler(s, ssl), MW_OK);
  CHECK_INT(mw_smtp_set_server(s, "127.0.0.1", tl_env_port("SMTPS_PORT")),
            MW_OK);
  CHECK_INT(mw_smtp_connect(s), MW_OK);
  check_outputs(ssl);
  if (protocol)
    CHECK_INT(out(ssl, SSLConnectionProtocolOut), protocol);
  CHECK_INT(mw_smtp_quit(s), MW_OK);
  mw_smtp_free(s);
  mw_sslinfo_free(ssl);

  ssl = ssl_for(protocol);
  mw_pop3 *p = mw_pop3_new();
  CHECK_INT(mw_pop3_set_handler(p, ssl), MW_OK);
  CHECK_INT(mw_pop3_set_server(p, "127.0.0.1", tl_env_port("POP3S_PORT")),
            MW_OK);
  CHECK_INT(mw_pop3_set_credentials(p, tl_env("USER"), tl_env("PASS")), MW_OK);
  CHECK_INT(mw_pop3_connect(p), MW_OK);
  check_outputs(ssl);
  CHECK_INT(mw_pop3_quit(p), MW_OK);
  mw_pop3_free(p);
  mw_sslinfo_free(ssl);
}

static void test_outputs_default(void) {
  outputs_smtps_and_pop3s(0);
}

static void test_outputs_tls12(void) {
  outputs_smtps_and_pop3s(SSL_TLS1_2);
}

/* ---- port 0 ---- */

struct seen {
  char where[4096];
};

static void keep(void *ud, int severity, int facility, const char *message) {
  (void)severity;
  (void)facility;
  struct seen *s = ud;
  if (strncmp(message, "Connecting to", 13) == 0)
    snprintf(s->where + strlen(s->where), sizeof s->where - strlen(s->where),
             "%s\n", message);
}

/* Connect with port 0 (3 s bound: nothing need listen there) and return
 * the connection lines of the log. */
static void port_zero(int pop3, int mode, unsigned want) {
  struct seen seen = {""};
  mw_loghandler *log = mw_loghandler_new(keep, &seen);
  mw_sslinfo *ssl = mode >= 0 ? mw_sslinfo_new() : NULL;
  if (ssl)
    CHECK_INT(mw_sslinfo_set_mode(ssl, mode), MW_OK);
  if (pop3) {
    mw_pop3 *c = mw_pop3_new();
    CHECK_INT(mw_pop3_set_server(c, "127.0.0.1", 0), MW_OK);
    CHECK_INT(mw_pop3_set_timeout(c, 3000), MW_OK);
    CHECK_INT(mw_pop3_set_handler(c, log), MW_OK);
    if (ssl)
      CHECK_INT(mw_pop3_set_handler(c, ssl), MW_OK);
    (void)mw_pop3_connect(c); /* refused, or whatever listens there */
    mw_pop3_free(c);
  } else {
    mw_smtp *c = mw_smtp_new();
    CHECK_INT(mw_smtp_set_server(c, "127.0.0.1", 0), MW_OK);
    CHECK_INT(mw_smtp_set_timeout(c, 3000), MW_OK);
    CHECK_INT(mw_smtp_set_handler(c, log), MW_OK);
    if (ssl)
      CHECK_INT(mw_smtp_set_handler(c, ssl), MW_OK);
    (void)mw_smtp_connect(c);
    mw_smtp_free(c);
  }
  char expect[64];
  snprintf(expect, sizeof expect, "(127.0.0.1:%u)", want);
  if (!strstr(seen.where, expect))
    tl_fail(__FILE__, __LINE__, "port 0 (%s, mode %d): no \"%s\" in: %s",
            pop3 ? "POP3" : "SMTP", mode, expect, seen.where);
  mw_sslinfo_free(ssl);
  mw_loghandler_free(log);
}

static void test_port_zero_table(void) {
  port_zero(0, -1, 25);
  port_zero(0, MODE_STARTTLS, 25);
  port_zero(0, MODE_CHANNEL, 465);
  port_zero(1, -1, 110);
  port_zero(1, MODE_STARTTLS, 110);
  port_zero(1, MODE_CHANNEL, 995);
}

int main(void) {
  RUN(test_outputs_default);
  RUN(test_outputs_tls12);
  RUN(test_port_zero_table);
  return tl_finish();
}
