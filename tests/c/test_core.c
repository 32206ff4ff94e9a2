/* test_core.c - the shared layers without a network: the error tables
 * against the reference, SASL vectors from the RFCs, line framing, the
 * LogHandler's filters and redaction, SSLInfo's option rules. */
#include "internal.h"
#include "testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <pthread.h>
#include <unistd.h>

/* Every row of the reference's ErrorInfo.Number table, name and value. */
static void reference_extended_numbers(void) {
  static const struct {
    int value;
    const char *name;
  } rows[] = {
      {1001, "eexProxyNoconn"},
      {1002, "eexProxySocketerror"},
      {1003, "eexProxyServerclosedport"},
      {1004, "eexProxyException"},
      {1005, "eexProxyUnexpecteddefault"},
      {1006, "eexProxyRequestfailed"},
      {1007, "eexProxyAuthrequired"},
      {1008, "eexProxyAuthtypeunknown"},
      {1009, "eexProxyAuthfailed"},
      {1010, "eexProxyAuthnologon"},
      {1101, "eexNoExtended"},
      {1102, "eexDNS"},
      {1103, "eexTCPConnect"},
      {1201, "eexPopServer"},
      {1104, "eexSocketTx"},
      {1105, "eexSocketRx"},
      {1106, "eexSocket"},
      {1107, "eexNotConnected"},
      {1301, "eexSmtpServer"},
      {1401, "eexSSLW32"},
      {1403, "eexSSLConnected"},
      {1404, "eexSSLNocontext"},
      {1405, "eexSSLCertName"},
      {1406, "eexSSLProtocol"},
      {1407, "eexSSLCertificate"},
      {1130, "eexForked"},
  };
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
    CHECK_STR(mw_eex_name(rows[i].value), rows[i].name);
    CHECK(strlen(mw_eex_text(rows[i].value)) > 0);
  }
  CHECK_INT(eexProxyNoconn, 0x03e9);
  CHECK_INT(eexSSLCertificate, 0x057f);
  CHECK_INT(eexPopServer, 0x04b1);
  CHECK_INT(mw_eex_base(eexDNS), errConnect);
  CHECK_INT(mw_eex_base(eexSSLCertName), errConnect);
  CHECK_INT(mw_eex_base(eexSmtpServer), errServer);
  CHECK_INT(mw_eex_base(eexTimeout), errTimeout);
  CHECK_INT(mw_eex_base(eexForked), errState);
  CHECK_STR(mw_err_name(errTimeout), "errTimeout");
  CHECK_STR(mw_eex_name(4242), "eexUnknown");
}

static void errorinfo_record(void) {
  mw_errorinfo e;
  mw_error_init(&e);
  CHECK_INT(mw_errorinfo_code(&e), MW_OK);
  CHECK_INT(mw_error_set(&e, eexDNS, 0, "cannot resolve %s", "x.invalid"),
            errConnect);
  CHECK_INT(mw_errorinfo_number(&e), eexDNS);
  CHECK_STR(mw_errorinfo_text(&e), "cannot resolve x.invalid");
  CHECK_INT(
      mw_error_server(&e, eexSmtpServer, 535, "5.7.8", "bad creds", "refused"),
      errServer);
  mw_error_set_code(&e, errAuth);
  CHECK_INT(mw_errorinfo_code(&e), errAuth);
  CHECK_INT(mw_errorinfo_reply_code(&e), 535);
  CHECK_STR(mw_errorinfo_enhanced_status(&e), "5.7.8");
  CHECK_STR(mw_errorinfo_server_text(&e), "bad creds");
  mw_errorinfo copy;
  mw_error_init(&copy);
  mw_error_copy(&copy, &e);
  mw_error_clear(&e);
  CHECK_STR(mw_errorinfo_server_text(&copy), "bad creds");
  CHECK_STR(mw_errorinfo_server_text(&e), "");
  mw_error_clear(&copy);
}

static void argument_checks(void) {
  mw_errorinfo e;
  mw_error_init(&e);
  CHECK_INT(mw_check_arg(&e, "address", "a@b.test", 0, 256), MW_OK);
  CHECK_ERR(mw_check_arg(&e, "address", "a@b\r\nRCPT TO:<x>", 0, 256), &e,
            errInvalidArgument, eexInvalidArgument);
  CHECK(tl_contains(e.text, strlen(e.text), "address"));
  CHECK_ERR(mw_check_arg(&e, "address", "a\nb", 0, 256), &e,
            errInvalidArgument, eexInvalidArgument);
  CHECK_ERR(mw_check_arg(&e, "address", "", 0, 256), &e, errInvalidArgument,
            eexInvalidArgument);
  CHECK_INT(mw_check_arg(&e, "address", "", 1, 256), MW_OK);
  CHECK_ERR(mw_check_arg(&e, "address", NULL, 1, 256), &e, errInvalidArgument,
            eexInvalidArgument);
  CHECK_ERR(mw_check_arg_n(&e, "user", "ab\0c", 4, 256), &e,
            errInvalidArgument, eexInvalidArgument);
  CHECK_ERR(mw_check_arg(&e, "user", "abcdef", 0, 5), &e, errInvalidArgument,
            eexInvalidArgument);
  mw_error_clear(&e);
}

static void base64_and_sasl(void) {
  char *s = mw_base64_encode("foobar", 6);
  CHECK_STR(s, "Zm9vYmFy");
  free(s);
  char *out;
  size_t n;
  CHECK_INT(mw_base64_decode("Zm9vYg==", 8, &out, &n), 0);
  CHECK_INT(n, 4);
  CHECK_STR(out, "foob");
  free(out);
  CHECK_INT(mw_base64_decode("Zm9v!g==", 8, &out, &n), -1);
  CHECK_INT(mw_base64_decode("Zm9", 3, &out, &n), -1);
  CHECK_INT(mw_base64_decode("", 0, &out, &n), 0);
  CHECK_INT(n, 0);
  free(out);

  s = mw_sasl_plain("tim", "tanstaaf");
  CHECK_STR(s, "AHRpbQB0YW5zdGFhZg=="); /* "\0tim\0tanstaaf" */
  mw_free_secret(s);
  /* RFC 2195 section 2. */
  const char *ch = "PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+";
  s = mw_sasl_cram_md5("tim", "tanstaaftanstaaf", ch, strlen(ch));
  CHECK_STR(s, "dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw");
  mw_free_secret(s);
  CHECK(mw_sasl_cram_md5("tim", "x", "%%%%", 4) == NULL);
  /* RFC 1939 section 7. */
  char digest[33];
  const char *ts = "<1896.697170952@dbc.mtview.ca.us>";
  CHECK_INT(mw_apop_digest(ts, strlen(ts), "tanstaaf", digest), 0);
  CHECK_STR(digest, "c4c9334bac560ecc979e58001b3e22fb");
  s = mw_sasl_xoauth2("someuser@example.com",
                      "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg");
  CHECK_STR(s,
            "dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRm"
            "dDRxbVRjMk52YjNSbGNrQmhkSFJoZG1semRHRXVZMjl0Q2cBAQ==");
  mw_free_secret(s);

  CHECK_STR(mw_sasl_choose("PLAIN LOGIN CRAM-MD5", NULL), "CRAM-MD5");
  CHECK_STR(mw_sasl_choose("login plain", NULL), "PLAIN");
  CHECK_STR(mw_sasl_choose("LOGIN", NULL), "LOGIN");
  CHECK(mw_sasl_choose("XOAUTH2", NULL) == NULL);
  CHECK_STR(mw_sasl_choose("PLAIN XOAUTH2", "xoauth2"), "XOAUTH2");
  CHECK(mw_sasl_choose("PLAIN", "LOGIN") == NULL);
  CHECK(mw_sasl_choose("PLAINX", "PLAIN") == NULL);
  CHECK(mw_sasl_choose("GSSAPI", NULL) == NULL);
}

static void reader_framing(void) {
  mw_reader r;
  mw_reader_init(&r);
  const char *line;
  size_t len;
  CHECK_INT(mw_reader_line(&r, 100, &line, &len), 0);
  const char *wire = "250-one\r\n250 two\nbare\rcr\r\npartial";
  /* One byte at a time: same lines as all at once. */
  const char *expect[] = {"250-one", "250 two", "bare\rcr"};
  size_t got = 0;
  for (size_t i = 0; wire[i]; i++) {
    mw_reader_feed(&r, wire + i, 1);
    while (mw_reader_line(&r, 100, &line, &len) == 1) {
      CHECK(got < 3);
      if (got < 3) {
        CHECK_STR(line, expect[got]);
        CHECK_INT(len, strlen(expect[got]));
      }
      got++;
    }
  }
  CHECK_INT(got, 3);
  CHECK_INT(mw_reader_pending(&r), strlen("partial"));
  /* Over the limit, with and without a line end yet. */
  mw_reader_clear(&r);
  char big[300];
  memset(big, 'x', sizeof big);
  mw_reader_feed(&r, big, sizeof big);
  CHECK_INT(mw_reader_line(&r, 200, &line, &len), -1);
  mw_reader_feed(&r, "\r\n", 2);
  CHECK_INT(mw_reader_line(&r, 200, &line, &len), -1);
  CHECK_INT(mw_reader_line(&r, 400, &line, &len), 1);
  CHECK_INT(len, 300);
  mw_reader_free(&r);
}

struct log_capture {
  int count;
  char all[8192];
};

static void capture(void *ud, int severity, int facility, const char *msg) {
  struct log_capture *c = ud;
  c->count++;
  size_t used = strlen(c->all);
  snprintf(c->all + used, sizeof c->all - used, "%d/%d %s\n", severity,
           facility, msg);
}

static void loghandler_filters(void) {
  struct log_capture cap = {0, ""};
  mw_loghandler *lh = mw_loghandler_new(capture, &cap);
  mw_log(lh, LOG_S_INFORMATION, LOG_F_SSL, "hello %d", 1);
  CHECK_INT(cap.count, 1);
  CHECK(strstr(cap.all, "3/2 hello 1") != NULL);
  CHECK_INT(mw_loghandler_set_level(lh, LOG_S_WARNING), MW_OK);
  mw_log(lh, LOG_S_INFORMATION, LOG_F_SSL, "dropped");
  mw_log(lh, LOG_S_WARNING, LOG_F_SSL, "kept");
  CHECK_INT(cap.count, 2);
  CHECK_INT(mw_loghandler_set_facility_flags(lh, LOG_F_PROXY), MW_OK);
  mw_log(lh, LOG_S_FATAL, LOG_F_SSL, "dropped too");
  CHECK_INT(cap.count, 2);
  CHECK_INT(mw_loghandler_set_level(lh, 9), errInvalidArgument);
  CHECK_INT(mw_loghandler_set_facility_flags(lh, 0x100), errInvalidArgument);

  mw_loghandler_set_level(lh, LOG_S_INFORMATION);
  mw_loghandler_set_facility_flags(lh, LOG_F_ALL);
  mw_log_line(lh, 'S', "250 ok\x1b[2J", 10);
  CHECK(strstr(cap.all, "S: 250 ok\\x1b[2J") != NULL);
  mw_log_line_redacted(lh, 'C', "AUTH PLAIN AHRpbQB0YW5zdGFhZg==", 10);
  CHECK(strstr(cap.all, "C: AUTH PLAIN <redacted>") != NULL);
  CHECK(strstr(cap.all, "AHRpbQ") == NULL);
  mw_loghandler_log(lh, LOG_S_WARNING, "from the app");
  CHECK(strstr(cap.all, "2/8 from the app") != NULL);
  mw_loghandler_free(lh);
}

static void sslinfo_options(void) {
  mw_sslinfo *ssl = mw_sslinfo_new();
  long v = -1;
  CHECK_INT(mw_sslinfo_mode(ssl), MODE_CHANNEL);
  CHECK_INT(mw_sslinfo_set_mode(ssl, MODE_STARTTLS), MW_OK);
  CHECK_ERR(mw_sslinfo_set_mode(ssl, 7), mw_sslinfo_extended_error(ssl),
            errInvalidArgument, eexInvalidArgument);
  CHECK_INT(mw_sslinfo_mode(ssl), MODE_STARTTLS);

  CHECK_INT(mw_sslinfo_get_option_int(ssl, SSLNoServerNameCheck, &v), MW_OK);
  CHECK_INT(v, 0);
  CHECK_INT(mw_sslinfo_set_option_int(ssl, SSLNoServerNameCheck, 1), MW_OK);
  CHECK_INT(mw_sslinfo_get_option_int(ssl, SSLNoServerNameCheck, &v), MW_OK);
  CHECK_INT(v, 1);
  CHECK_INT(
      mw_sslinfo_set_option_int(ssl, SSLNoServerCertificateValidation, 1),
      MW_OK);
  CHECK_INT(ssl->no_verify, 1);

  /* Revocation options are implemented (test_revocation.c). */
  CHECK_INT(mw_sslinfo_set_option_int(ssl, SSLRevocationCheckAll, 0), MW_OK);
  CHECK_INT(mw_sslinfo_get_option_int(ssl, SSLRevocationCheckAll, &v), MW_OK);
  CHECK_INT(v, 0);
  /* Not implemented yet: a clear error and nothing changed. */
  long protos[] = {SSL_TLS1_2}; /* implemented: test_sslinfo_policy.c */
  CHECK_INT(
      mw_sslinfo_set_option_array(ssl, SSLConnectionProtocolIn, protos, 1),
      MW_OK);
  /* Implemented (itest_sslinfo_ccert.c): a missing file fails when set. */
  CHECK_ERR(mw_sslinfo_set_option_str(ssl, SSLClientCertificateName, "me"),
            mw_sslinfo_extended_error(ssl), errInvalidArgument, eexSSLConfig);
  /* Outputs: read-only, and empty before a handshake. */
  CHECK_ERR(mw_sslinfo_set_option_int(ssl, SSLCipherStrength, 128),
            mw_sslinfo_extended_error(ssl), errInvalidArgument,
            eexInvalidArgument);
  CHECK_ERR(mw_sslinfo_get_option_int(ssl, SSLConnectionProtocolOut, &v),
            mw_sslinfo_extended_error(ssl), errState, eexSSLNocontext);
  const char *str = NULL;
  CHECK_ERR(mw_sslinfo_get_option_str(ssl, SSLConnectionCipherName, &str),
            mw_sslinfo_extended_error(ssl), errState, eexSSLNocontext);
  /* Types and unknown indexes. */
  CHECK_ERR(mw_sslinfo_set_option_str(ssl, SSLNoServerNameCheck, "yes"),
            mw_sslinfo_extended_error(ssl), errInvalidArgument,
            eexInvalidArgument);
  CHECK_ERR(mw_sslinfo_set_option_int(ssl, 999, 1),
            mw_sslinfo_extended_error(ssl), errInvalidArgument,
            eexInvalidArgument);
  CHECK_ERR(mw_sslinfo_set_option_str(ssl, SSLCAFile, "/x\n/y"),
            mw_sslinfo_extended_error(ssl), errInvalidArgument,
            eexInvalidArgument);
  CHECK_INT(mw_sslinfo_set_option_str(ssl, SSLCAFile, "/tmp/ca.pem"), MW_OK);
  CHECK_INT(mw_sslinfo_get_option_str(ssl, SSLCAFile, &str), MW_OK);
  CHECK_STR(str, "/tmp/ca.pem");
  CHECK_INT(mw_sslinfo_option_type(SSLConnectionProtocolIn), 'a');
  CHECK_INT(mw_sslinfo_option_type(SSLServerName), 's');

  /* Any live connection freezes the inputs (eexSSLConnected): two clients
   * hold it; it thaws only when both released. */
  mw_sslinfo_hold(ssl);
  mw_sslinfo_hold(ssl);
  CHECK_ERR(mw_sslinfo_set_option_int(ssl, SSLNoServerNameCheck, 0),
            mw_sslinfo_extended_error(ssl), errState, eexSSLConnected);
  CHECK_ERR(mw_sslinfo_set_mode(ssl, MODE_CHANNEL),
            mw_sslinfo_extended_error(ssl), errState, eexSSLConnected);
  CHECK_INT(ssl->no_name_check, 1);
  mw_sslinfo_release(ssl, getpid());
  CHECK_ERR(mw_sslinfo_set_option_int(ssl, SSLNoServerNameCheck, 0),
            mw_sslinfo_extended_error(ssl), errState, eexSSLConnected);
  /* A hold taken by another process (a parent before fork()) neither
   * counts nor is released here. */
  mw_sslinfo_release(ssl, getpid() + 1);
  CHECK_INT(ssl->live, 1);
  mw_sslinfo_release(ssl, getpid());
  CHECK_INT(mw_sslinfo_set_option_int(ssl, SSLNoServerNameCheck, 0), MW_OK);
  mw_sslinfo_hold(ssl);
  ssl->live_pid = getpid() + 1; /* as if copied from the parent */
  CHECK_INT(mw_sslinfo_set_option_int(ssl, SSLNoServerNameCheck, 1), MW_OK);
  mw_sslinfo_hold(ssl); /* the first hold here starts the child's count */
  CHECK_INT(ssl->live, 1);
  mw_sslinfo_release(ssl, getpid());
  CHECK_INT(mw_sslinfo_set_option_int(ssl, SSLNoServerNameCheck, 0), MW_OK);

  /* Reference counting: a holder keeps it alive. */
  mw_sslinfo_ref(ssl);
  mw_sslinfo_free(ssl);
  CHECK_INT(ssl->hdr.magic, MW_MAGIC_SSLINFO);
  mw_sslinfo_free(ssl);
}

/* A client's own TLS results: none before a handshake, only output
 * indexes, each with its type; the SSLInfo's view answers alike. */
static void client_tls_options(void) {
  mw_smtp *c = mw_smtp_new();
  mw_pop3 *p = mw_pop3_new();
  long v = 7;
  const char *str = "x";
  CHECK_ERR(mw_smtp_tls_option_int(c, SSLConnectionProtocolOut, &v),
            mw_smtp_extended_error(c), errState, eexSSLNocontext);
  CHECK_INT(v, 0);
  CHECK_ERR(mw_pop3_tls_option_str(p, SSLPeerSubject, &str),
            mw_pop3_extended_error(p), errState, eexSSLNocontext);
  CHECK(str == NULL);
  CHECK_ERR(mw_pop3_tls_option_int(p, SSLRevocationStatus, &v),
            mw_pop3_extended_error(p), errState, eexSSLNocontext);
  /* Inputs are not results; a string output is not read as a number. */
  CHECK_ERR(mw_smtp_tls_option_int(c, SSLNoServerNameCheck, &v),
            mw_smtp_extended_error(c), errInvalidArgument, eexInvalidArgument);
  CHECK_ERR(mw_smtp_tls_option_str(c, SSLCAFile, &str),
            mw_smtp_extended_error(c), errInvalidArgument, eexInvalidArgument);
  CHECK_ERR(mw_pop3_tls_option_int(p, SSLPeerSubject, &v),
            mw_pop3_extended_error(p), errInvalidArgument, eexInvalidArgument);
  CHECK_ERR(mw_pop3_tls_option_str(p, 999, &str), mw_pop3_extended_error(p),
            errInvalidArgument, eexInvalidArgument);
  CHECK_INT(mw_smtp_tls_option_int(NULL, SSLHash, &v), errInvalidArgument);
  CHECK_INT(mw_pop3_tls_option_str(p, SSLPeerSubject, NULL),
            errInvalidArgument);
  mw_smtp_free(c);
  mw_pop3_free(p);
}

/* Each thread has its own record of its SSLInfo calls. */
static void *fail_on_other_thread(void *ssl) {
  CHECK_ERR(mw_sslinfo_set_mode(ssl, 7), mw_sslinfo_extended_error(ssl),
            errInvalidArgument, eexInvalidArgument);
  return NULL;
}

static void sslinfo_error_per_thread(void) {
  mw_sslinfo *ssl = mw_sslinfo_new();
  CHECK_ERR(mw_sslinfo_set_option_int(ssl, 999, 1),
            mw_sslinfo_extended_error(ssl), errInvalidArgument,
            eexInvalidArgument);
  CHECK(strstr(mw_errorinfo_text(mw_sslinfo_extended_error(ssl)), "999"));
  pthread_t t;
  CHECK_INT(pthread_create(&t, NULL, fail_on_other_thread, ssl), 0);
  pthread_join(t, NULL);
  /* Still this thread's own failure, not the other thread's. */
  CHECK(strstr(mw_errorinfo_text(mw_sslinfo_extended_error(ssl)), "999"));
  CHECK_INT(mw_sslinfo_set_mode(ssl, MODE_STARTTLS), MW_OK);
  CHECK_INT(mw_errorinfo_number(mw_sslinfo_extended_error(ssl)), eexNone);
  mw_sslinfo_free(ssl);
}

static void set_handler_types(void) {
  mw_smtp *c = mw_smtp_new();
  mw_sslinfo *ssl = mw_sslinfo_new();
  mw_loghandler *lh = mw_loghandler_new(capture, NULL);
  CHECK_INT(mw_smtp_set_handler(c, ssl), MW_OK);
  CHECK_INT(mw_smtp_set_handler(c, lh), MW_OK);
  int not_a_handler = 42;
  CHECK_ERR(mw_smtp_set_handler(c, &not_a_handler), mw_smtp_extended_error(c),
            errInvalidArgument, eexInvalidArgument);
  CHECK_ERR(mw_smtp_set_handler(c, NULL), mw_smtp_extended_error(c),
            errInvalidArgument, eexInvalidArgument);
  /* The client holds its own references. */
  mw_sslinfo_free(ssl);
  mw_loghandler_free(lh);
  mw_smtp_free(c);
}

/* Outputs are defined after a failed call too (valgrind found the Lua
 * binding reading STAT's outputs after an error). */
static void outputs_set_on_failure(void) {
  mw_pop3 *c = mw_pop3_new();
  unsigned long count = 12345;
  uint64_t octets = 678, size = 9;
  const char *uid = "stale";
  CHECK_ERR(mw_pop3_stat(c, &count, &octets), mw_pop3_extended_error(c),
            errNotConnected, eexNotConnected);
  CHECK_INT(count, 0);
  CHECK_INT(octets, 0);
  CHECK_ERR(mw_pop3_list_one(c, 1, &size), mw_pop3_extended_error(c),
            errNotConnected, eexNotConnected);
  CHECK_INT(size, 0);
  CHECK_ERR(mw_pop3_uidl_one(c, 1, &uid), mw_pop3_extended_error(c),
            errNotConnected, eexNotConnected);
  CHECK(uid == NULL);
  mw_pop3_free(c);

  mw_sslinfo *ssl = mw_sslinfo_new();
  long v = 77;
  const char *str = "stale";
  CHECK(mw_sslinfo_get_option_int(ssl, 9999, &v) != MW_OK);
  CHECK_INT(v, 0);
  CHECK(mw_sslinfo_get_option_str(ssl, 9999, &str) != MW_OK);
  CHECK(str == NULL);
  mw_sslinfo_free(ssl);
}

int main(void) {
  RUN(outputs_set_on_failure);
  RUN(reference_extended_numbers);
  RUN(errorinfo_record);
  RUN(argument_checks);
  RUN(base64_and_sasl);
  RUN(reader_framing);
  RUN(loghandler_filters);
  RUN(sslinfo_options);
  RUN(set_handler_types);
  RUN(client_tls_options);
  RUN(sslinfo_error_per_thread);
  return tl_finish();
}
