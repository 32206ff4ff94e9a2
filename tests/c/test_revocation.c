/*
 * test_revocation.c - certificate revocation: the SSLRevocation* options,
 * SSLCRLFile, OCSP (stapled and queried), CRL distribution points, and
 * their outcome. Everything runs on loopback and is started here: a PKI
 * from tests/servers/revocation-pki.sh, `openssl ocsp` as the responder,
 * python3 -m http.server for the CRLs, and one `openssl s_server` per case
 * serving the leaf under test. The client is the transport (mw_conn) with
 * an SSLInfo configured through the public API.
 */
#include "testlib.h"

#include "tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/x509_vfy.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char pki[256];
static unsigned ocsp_port, http_port, dead_port, slow_port;
static pid_t ocsp_pid = -1, http_pid = -1;
static int slow_fd = -1; /* listens, never accepts: a server that hangs */

static long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void pause_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
  nanosleep(&ts, NULL);
}

static int listen_loopback(unsigned *port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
      listen(fd, 8) != 0 || getsockname(fd, (struct sockaddr *)&a, &len)) {
    if (fd >= 0)
      close(fd);
    return -1;
  }
  *port = ntohs(a.sin_port);
  return fd;
}

/* A port nothing listens on (bound, then released). */
static unsigned free_port(void) {
  unsigned port = 0;
  int fd = listen_loopback(&port);
  if (fd >= 0)
    close(fd);
  return port;
}

static int port_answers(unsigned port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
  if (fd >= 0)
    close(fd);
  return ok;
}

/* Wait (at most 10 s) until something listens on port. */
static int wait_port(unsigned port) {
  for (int i = 0; i < 200; i++) {
    if (port_answers(port))
      return 1;
    pause_ms(50);
  }
  return 0;
}

/* Start argv in the PKI dir, output to log there; returns the pid. */
static pid_t spawn(char *const argv[], const char *log) {
  pid_t pid = fork();
  if (pid == 0) {
    if (chdir(pki) != 0)
      _exit(126);
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    execvp(argv[0], argv);
    _exit(127);
  }
  return pid;
}

/* Stop a child we started (by its pid) and reap it, bounded. */
static void stop(pid_t *pid) {
  if (*pid <= 0)
    return;
  kill(*pid, SIGTERM);
  for (int i = 0; i < 100 && waitpid(*pid, NULL, WNOHANG) == 0; i++)
    pause_ms(20);
  if (waitpid(*pid, NULL, WNOHANG) == 0) {
    kill(*pid, SIGKILL);
    waitpid(*pid, NULL, 0);
  }
  *pid = -1;
}

/* openssl ocsp serves one connection at a time and hangs on a probe that
 * sends nothing, so its readiness is read from its log. */
static int wait_ocsp_ready(void) {
  char path[300], buf[512];
  snprintf(path, sizeof path, "%s/ocsp.log", pki);
  for (int i = 0; i < 200; i++) {
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f)
      fclose(f);
    buf[n] = '\0';
    if (strstr(buf, "waiting for OCSP client connections"))
      return 1;
    pause_ms(50);
  }
  return 0;
}

static void start_ocsp(void) {
  char port[16];
  snprintf(port, sizeof port, "%u", ocsp_port);
  char *argv[] = {"openssl", "ocsp",    "-index",   "int-index.txt",
                  "-port",   port,      "-rsigner", "int.pem",
                  "-rkey",   "int.key", "-CA",      "int.pem",
                  "-ndays",  "7",       NULL};
  char log[300];
  snprintf(log, sizeof log, "%s/ocsp.log", pki);
  unlink(log);
  ocsp_pid = spawn(argv, "ocsp.log");
}

static void start_http(void) {
  char port[16];
  snprintf(port, sizeof port, "%u", http_port);
  char *argv[] = {"/usr/bin/python3", "-m", "http.server", "--bind",
                  "127.0.0.1",        port, NULL};
  http_pid = spawn(argv, "http.log");
}

static int setup(void) {
  snprintf(pki, sizeof pki, "/tmp/mw-revocation-XXXXXX");
  if (!mkdtemp(pki))
    return -1;
  slow_fd = listen_loopback(&slow_port);
  ocsp_port = free_port();
  http_port = free_port();
  dead_port = free_port();
  /* The script sits in tests/servers next to this file's tests/c. */
  char src[512];
  snprintf(src, sizeof src, "%s", __FILE__);
  char *cut = strstr(src, "/tests/c/");
  if (cut)
    *cut = '\0';
  char cmd[2048];
  snprintf(cmd, sizeof cmd,
           "%s/tests/servers/revocation-pki.sh %s %u %u %u %u >%s/pki.log "
           "2>&1",
           cut ? src : ".", pki, ocsp_port, http_port, dead_port, slow_port,
           pki);
  if (system(cmd) != 0) {
    tl_fail(__FILE__, __LINE__, "revocation-pki.sh failed, see %s/pki.log",
            pki);
    return -1;
  }
  start_ocsp();
  start_http();
  if (!wait_ocsp_ready() || !wait_port(http_port)) {
    tl_fail(__FILE__, __LINE__, "OCSP responder or HTTP server not up");
    return -1;
  }
  return 0;
}

static void teardown(void) {
  stop(&ocsp_pid);
  stop(&http_pid);
  if (slow_fd >= 0)
    close(slow_fd);
  char cmd[512];
  snprintf(cmd, sizeof cmd, "rm -rf %s", pki);
  if (pki[0] && system(cmd) != 0)
    fprintf(stderr, "could not remove %s\n", pki);
}

/* ---- one TLS server per case ---- */

/* TLS 1.2 sends the stapled response after the certificate, TLS 1.3 with
 * it: both orders are tested. */
static int serve_tls12;

/* openssl s_server with leaf NAME (and its chain), optionally stapling
 * staple-STAPLE.der. */
static pid_t serve(const char *name, const char *staple, unsigned *port) {
  *port = free_port();
  char accept[32], cert[64], key[64], status[64];
  snprintf(accept, sizeof accept, "127.0.0.1:%u", *port);
  snprintf(cert, sizeof cert, "%s.pem", name);
  snprintf(key, sizeof key, "%s.key", name);
  snprintf(status, sizeof status, "staple-%s.der", staple ? staple : "");
  char *chain = strcmp(name, "int2leaf") == 0 ? "int2.pem" : "int.pem";
  /* No -naccept: wait_port's probe is a connection too. */
  char *argv[] = {"openssl",
                  "s_server",
                  "-accept",
                  accept,
                  "-cert",
                  cert,
                  "-key",
                  key,
                  "-cert_chain",
                  chain,
                  "-quiet",
                  serve_tls12 ? "-tls1_2" : "-tls1_3",
                  staple ? "-status_file" : NULL,
                  status,
                  NULL};
  pid_t pid = spawn(argv, "s_server.log");
  if (!wait_port(*port))
    tl_fail(__FILE__, __LINE__, "s_server for %s did not start", name);
  return pid;
}

typedef struct opts {
  long check_all, check_end, exclude_root, ignore_nrc, ignore_ro;
  const char *crl_files; /* names in the PKI dir, ':'-separated */
  long timeout_ms;
} opts;

/* The documented defaults. */
static opts defaults(void) {
  opts o = {.check_all = 1, .ignore_nrc = 1, .ignore_ro = 1};
  return o;
}

static mw_sslinfo *make_ssl(const opts *o) {
  mw_sslinfo *ssl = mw_sslinfo_new();
  char ca[300];
  snprintf(ca, sizeof ca, "%s/root.pem", pki);
  CHECK_INT(mw_sslinfo_set_option_str(ssl, SSLCAFile, ca), MW_OK);
  CHECK_INT(
      mw_sslinfo_set_option_int(ssl, SSLRevocationCheckAll, o->check_all),
      MW_OK);
  CHECK_INT(
      mw_sslinfo_set_option_int(ssl, SSLRevocationCheckEnd, o->check_end),
      MW_OK);
  CHECK_INT(mw_sslinfo_set_option_int(ssl, SSLRevocationExcludeRoot,
                                      o->exclude_root),
            MW_OK);
  CHECK_INT(
      mw_sslinfo_set_option_int(ssl, SSLRevocationIgnoreNRC, o->ignore_nrc),
      MW_OK);
  CHECK_INT(
      mw_sslinfo_set_option_int(ssl, SSLRevocationIgnoreRO, o->ignore_ro),
      MW_OK);
  if (o->timeout_ms)
    CHECK_INT(
        mw_sslinfo_set_option_int(ssl, SSLRevocationTimeout, o->timeout_ms),
        MW_OK);
  if (o->crl_files) {
    char list[1024] = "", *p = list;
    char copy[256];
    snprintf(copy, sizeof copy, "%s", o->crl_files);
    char *save = NULL;
    for (char *f = strtok_r(copy, ":", &save); f;
         f = strtok_r(NULL, ":", &save))
      p += snprintf(p, sizeof list - (size_t)(p - list), "%s%s/%s",
                    p == list ? "" : ":", pki, f);
    CHECK_INT(mw_sslinfo_set_option_str(ssl, SSLCRLFile, list), MW_OK);
  }
  return ssl;
}

/* Handshake with the server for leaf NAME; e gets the failure. */
static int handshake(mw_sslinfo *ssl, const char *name, const char *staple,
                     mw_errorinfo *e) {
  unsigned port;
  pid_t pid = serve(name, staple, &port);
  mw_conn c;
  mw_conn_init(&c, e, NULL, 15000);
  int rc = mw_conn_open(&c, "localhost", port);
  if (rc == MW_OK)
    rc = mw_conn_start_tls(&c, ssl, "localhost");
  mw_conn_close(&c);
  stop(&pid);
  CHECK_INT(ERR_peek_error(), 0);
  return rc;
}

static long status_of(mw_sslinfo *ssl) {
  long v = -1;
  CHECK_INT(mw_sslinfo_get_option_int(ssl, SSLRevocationStatus, &v), MW_OK);
  return v;
}

static const char *detail_of(mw_sslinfo *ssl) {
  const char *d = NULL;
  CHECK_INT(mw_sslinfo_get_option_str(ssl, SSLRevocationDetail, &d), MW_OK);
  return d ? d : "";
}

/* One case: leaf, options, expected base code, extended number, verify
 * result, status, and a piece of the detail. */
static void expect(const char *leaf, const char *staple, const opts *o,
                   int code, int number, long verify, long status,
                   const char *detail_part, const char *text_part) {
  mw_sslinfo *ssl = make_ssl(o);
  mw_errorinfo e;
  mw_error_init(&e);
  int rc = handshake(ssl, leaf, staple, &e);
  CHECK_ERR(rc, &e, code, number);
  CHECK_INT(mw_errorinfo_verify_result(&e), verify);
  const char *d = detail_of(ssl);
  long got = status_of(ssl);
  if (got != status)
    tl_fail(__FILE__, __LINE__, "%s: status %ld, expected %ld (%s)", leaf, got,
            status, d);
  if (detail_part && !strstr(d, detail_part))
    tl_fail(__FILE__, __LINE__, "%s: detail \"%s\" lacks \"%s\"", leaf, d,
            detail_part);
  if (text_part && !strstr(mw_errorinfo_text(&e), text_part))
    tl_fail(__FILE__, __LINE__, "%s: text \"%s\" lacks \"%s\"", leaf,
            mw_errorinfo_text(&e), text_part);
  mw_error_clear(&e);
  mw_sslinfo_free(ssl);
}

#define OK_CASE(leaf, staple, o, status, part)                                \
  expect(leaf, staple, o, MW_OK, eexNone, X509_V_OK, status, part, NULL)
#define FAIL_CASE(leaf, staple, o, verify, status, part, text)                \
  expect(leaf, staple, o, errConnect, eexSSLCertificate, verify, status,      \
         part, text)

/* ---- options API ---- */

static void test_option_defaults_and_types(void) {
  mw_sslinfo *ssl = mw_sslinfo_new();
  long v = -1;
  const long want[][2] = {
      {SSLRevocationCheckAll, 1},    {SSLRevocationCheckEnd, 0},
      {SSLRevocationExcludeRoot, 0}, {SSLRevocationIgnoreNRC, 1},
      {SSLRevocationIgnoreRO, 1},    {SSLRevocationTimeout, 5000}};
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    CHECK_INT(mw_sslinfo_get_option_int(ssl, (int)want[i][0], &v), MW_OK);
    CHECK_INT(v, want[i][1]);
  }
  CHECK_INT(mw_sslinfo_option_type(SSLRevocationIgnoreRO), 'b');
  CHECK_INT(mw_sslinfo_option_type(SSLCRLFile), 's');
  CHECK_INT(mw_sslinfo_option_type(SSLRevocationTimeout), 'i');
  CHECK_INT(mw_sslinfo_option_type(SSLRevocationStatus), 'i');
  CHECK_INT(mw_sslinfo_option_type(SSLRevocationDetail), 's');
  /* set, read back, restore */
  CHECK_INT(mw_sslinfo_set_option_int(ssl, SSLRevocationIgnoreNRC, 0), MW_OK);
  CHECK_INT(mw_sslinfo_get_option_int(ssl, SSLRevocationIgnoreNRC, &v), MW_OK);
  CHECK_INT(v, 0);
  CHECK_INT(mw_sslinfo_set_option_str(ssl, SSLCRLFile, "/x.pem"), MW_OK);
  const char *s = NULL;
  CHECK_INT(mw_sslinfo_get_option_str(ssl, SSLCRLFile, &s), MW_OK);
  CHECK_STR(s, "/x.pem");
  CHECK_INT(mw_sslinfo_set_option_str(ssl, SSLCRLFile, ""), MW_OK);
  CHECK_INT(mw_sslinfo_get_option_str(ssl, SSLCRLFile, &s), MW_OK);
  CHECK_STR(s, "");
  /* outputs before any connection: eexSSLNocontext */
  int rc = mw_sslinfo_get_option_int(ssl, SSLRevocationStatus, &v);
  CHECK_ERR(rc, mw_sslinfo_extended_error(ssl), errState, eexSSLNocontext);
  rc = mw_sslinfo_get_option_str(ssl, SSLRevocationDetail, &s);
  CHECK_ERR(rc, mw_sslinfo_extended_error(ssl), errState, eexSSLNocontext);
  /* outputs cannot be set; wrong types and ranges are refused */
  rc = mw_sslinfo_set_option_int(ssl, SSLRevocationStatus, 1);
  CHECK_ERR(rc, mw_sslinfo_extended_error(ssl), errInvalidArgument,
            eexInvalidArgument);
  rc = mw_sslinfo_set_option_int(ssl, SSLCRLFile, 1);
  CHECK_ERR(rc, mw_sslinfo_extended_error(ssl), errInvalidArgument,
            eexInvalidArgument);
  rc = mw_sslinfo_set_option_int(ssl, SSLRevocationTimeout, 0);
  CHECK_ERR(rc, mw_sslinfo_extended_error(ssl), errInvalidArgument,
            eexInvalidArgument);
  CHECK_INT(mw_sslinfo_get_option_int(ssl, SSLRevocationTimeout, &v), MW_OK);
  CHECK_INT(v, 5000); /* unchanged */
  mw_sslinfo_free(ssl);
}

/* A CRL file that holds no CRL is a configuration error before any byte
 * is sent. */
static void test_bad_crl_file(void) {
  opts o = defaults();
  o.crl_files = "plain.pem";
  mw_sslinfo *ssl = make_ssl(&o);
  mw_errorinfo e;
  mw_error_init(&e);
  int rc = mw_tls_new(&(mw_tls *){NULL}, ssl, "localhost", &e);
  CHECK_ERR(rc, &e, errInvalidArgument, eexSSLConfig);
  CHECK(strstr(mw_errorinfo_text(&e), "SSLCRLFile") != NULL);
  mw_error_clear(&e);
  mw_sslinfo_free(ssl);
}

/* ---- CRL files ---- */

static void test_crl_file_cases(void) {
  /* No information anywhere: by default not a failure (NRC ignored). */
  opts o = defaults();
  OK_CASE("plain", NULL, &o, SSL_REVOCATION_UNKNOWN,
          "no revocation information");
  o.ignore_nrc = 0;
  FAIL_CASE("plain", NULL, &o, X509_V_ERR_UNABLE_TO_GET_CRL,
            SSL_REVOCATION_UNKNOWN, "no revocation information",
            "No usable revocation information");
  /* Both CRLs: every certificate is good, even with NRC fatal. */
  o.crl_files = "int-crl.pem:root-crl.pem";
  OK_CASE("plain", NULL, &o, SSL_REVOCATION_GOOD,
          "good (CRL file, CRL number 1)");
  /* The leaf's CRL only and the CRL server down: the intermediate is
   * offline (ignored); the root, a trust anchor no source speaks for, is
   * good, even with NRC fatal ... */
  stop(&http_pid);
  o.crl_files = "int-crl.pem";
  OK_CASE("plain", NULL, &o, SSL_REVOCATION_OFFLINE,
          "'revocation root': good (trust anchor: it has no revocation "
          "source");
  /* ... and with the root excluded it is not in the detail. */
  o.exclude_root = 1;
  OK_CASE("plain", NULL, &o, SSL_REVOCATION_OFFLINE,
          "'revocation intermediate': CRL server offline");
  start_http();
  CHECK(wait_port(http_port));
  /* With it up, the intermediate is good by its distribution point. */
  OK_CASE("plain", NULL, &o, SSL_REVOCATION_GOOD,
          "'revocation intermediate': good (CRL from http://");
  /* A revoked leaf fails, whatever Ignore* say. */
  opts r = defaults();
  r.crl_files = "int-crl.pem";
  FAIL_CASE("crlrev", NULL, &r, X509_V_ERR_CERT_REVOKED,
            SSL_REVOCATION_REVOKED, "revoked (CRL file, CRL number",
            "revoked");
  r.check_end = 1;
  FAIL_CASE("crlrev", NULL, &r, X509_V_ERR_CERT_REVOKED,
            SSL_REVOCATION_REVOKED, "revoked (CRL file, CRL number",
            "revoked");
  /* Checking switched off: not checked, connects. */
  r.check_all = r.check_end = 0;
  OK_CASE("crlrev", NULL, &r, SSL_REVOCATION_NOT_CHECKED, "not checked");
}

static void test_revoked_intermediate(void) {
  opts o = defaults();
  o.crl_files = "root-crl.pem";
  FAIL_CASE("int2leaf", NULL, &o, X509_V_ERR_CERT_REVOKED,
            SSL_REVOCATION_REVOKED, "'revoked intermediate': revoked",
            "revoked");
  /* Only the leaf checked: the revoked intermediate goes unnoticed. */
  o.check_end = 1;
  OK_CASE("int2leaf", NULL, &o, SSL_REVOCATION_UNKNOWN, "depth 0");
}

/* ---- OCSP ---- */

static void test_ocsp_responder(void) {
  opts o = defaults();
  o.check_end = 1;
  OK_CASE("ocspgood", NULL, &o, SSL_REVOCATION_GOOD, "good (OCSP responder");
  FAIL_CASE("ocsprev", NULL, &o, X509_V_ERR_CERT_REVOKED,
            SSL_REVOCATION_REVOKED, "revoked (OCSP responder", "revoked");
  OK_CASE("ocspunknown", NULL, &o, SSL_REVOCATION_UNKNOWN,
          "unknown to the responder");
  o.ignore_nrc = 0;
  FAIL_CASE("ocspunknown", NULL, &o, X509_V_ERR_UNABLE_TO_GET_CRL,
            SSL_REVOCATION_UNKNOWN, "unknown to the responder",
            "not a revocation");
  /* Whole chain, nothing given: the intermediate is good by the CRL at
   * its distribution point, the root by that same CRL, now cached. */
  opts all = defaults();
  all.ignore_nrc = 0;
  OK_CASE("ocspgood", NULL, &all, SSL_REVOCATION_GOOD,
          "'revocation root': good (cached CRL, CRL number");
}

static void test_ocsp_stapled(void) {
  /* The responder is down: only the staple can answer. */
  stop(&ocsp_pid);
  opts o = defaults();
  o.check_end = 1;
  o.ignore_nrc = 0;
  o.ignore_ro = 0;
  OK_CASE("ocspgood", "good", &o, SSL_REVOCATION_GOOD, "good (stapled OCSP)");
  FAIL_CASE("ocsprev", "rev", &o, X509_V_ERR_CERT_REVOKED,
            SSL_REVOCATION_REVOKED, "revoked (stapled OCSP)", "revoked");
  /* A staple for another certificate is refused, and with the responder
   * offline nothing else speaks: refused whatever IgnoreRO says. */
  o.ignore_ro = 1;
  FAIL_CASE("ocspgood", "rev", &o, X509_V_ERR_OCSP_VERIFY_FAILED,
            SSL_REVOCATION_INVALID,
            "answers only for other certificates (stapled OCSP)",
            "may be forged");
  start_ocsp();
  CHECK(wait_ocsp_ready());
}

/* A staple signed by a key that may not speak for the issuer is refused
 * (perhaps forged) even under the defaults; an HTTP 5xx from a responder
 * is "offline". */
static void test_ocsp_bad_answers(void) {
  opts o = defaults();
  o.check_end = 1;
  FAIL_CASE("plain", "forged", &o, X509_V_ERR_OCSP_VERIFY_FAILED,
            SSL_REVOCATION_INVALID,
            "not authorised by the issuer (stapled OCSP)", "may be forged");
  o.ignore_nrc = 1;
  OK_CASE("ocsp5xx", NULL, &o, SSL_REVOCATION_OFFLINE, "HTTP status 501");
  o.ignore_ro = 0;
  FAIL_CASE("ocsp5xx", NULL, &o, X509_V_ERR_OCSP_VERIFY_NEEDED,
            SSL_REVOCATION_OFFLINE, "OCSP responder offline", "offline");
}

static void test_ocsp_responder_down(void) {
  opts o = defaults();
  o.check_end = 1;
  OK_CASE("ocspdown", NULL, &o, SSL_REVOCATION_OFFLINE,
          "OCSP responder offline");
  o.ignore_nrc = 0; /* offline is not "no information" */
  OK_CASE("ocspdown", NULL, &o, SSL_REVOCATION_OFFLINE,
          "OCSP responder offline");
  o.ignore_ro = 0;
  FAIL_CASE("ocspdown", NULL, &o, X509_V_ERR_OCSP_VERIFY_NEEDED,
            SSL_REVOCATION_OFFLINE, "cannot connect", "offline");
}

/* A responder that accepts and never answers costs SSLRevocationTimeout,
 * not the connection's timeout. */
static void test_ocsp_responder_hangs(void) {
  opts o = defaults();
  o.check_end = 1;
  o.ignore_ro = 0;
  o.timeout_ms = 300;
  long t0 = now_ms();
  FAIL_CASE("ocspslow", NULL, &o, X509_V_ERR_OCSP_VERIFY_NEEDED,
            SSL_REVOCATION_OFFLINE, "within the time limit", "offline");
  long spent = now_ms() - t0;
  if (spent > 3000)
    tl_fail(__FILE__, __LINE__, "hanging responder took %ld ms", spent);
}

/* ---- CRL distribution points ---- */

static void test_distribution_points(void) {
  opts o = defaults();
  o.ignore_nrc = 0;
  o.exclude_root = 1;
  mw_sslinfo *ssl = make_ssl(&o);
  mw_errorinfo e;
  mw_error_init(&e);
  CHECK_INT(handshake(ssl, "cdpgood", NULL, &e), MW_OK);
  CHECK_INT(status_of(ssl), SSL_REVOCATION_GOOD);
  CHECK(strstr(detail_of(ssl), "good (CRL from http://127.0.0.1") != NULL);
  /* Cached on the SSLInfo until nextUpdate: works with the server gone. */
  stop(&http_pid);
  CHECK_INT(handshake(ssl, "cdpgood", NULL, &e), MW_OK);
  CHECK_INT(status_of(ssl), SSL_REVOCATION_GOOD);
  CHECK(strstr(detail_of(ssl), "good (cached CRL, CRL number") != NULL);
  mw_error_clear(&e);
  mw_sslinfo_free(ssl);
  /* A fresh SSLInfo has no cache: the CRL server is offline. */
  OK_CASE("cdpgood", NULL, &o, SSL_REVOCATION_OFFLINE, "CRL server offline");
  start_http();
  CHECK(wait_port(http_port));
  FAIL_CASE("cdprev", NULL, &o, X509_V_ERR_CERT_REVOKED,
            SSL_REVOCATION_REVOKED, "revoked (CRL from http://", "revoked");
}

/* A CRL past its nextUpdate still revokes what it lists (a revocation is
 * final), whatever IgnoreNRC says. */
static void test_expired_crl_file(void) {
  opts o = defaults();
  o.check_end = 1;
  o.crl_files = "int-expired-crl.pem";
  FAIL_CASE("crlrev", NULL, &o, X509_V_ERR_CERT_REVOKED,
            SSL_REVOCATION_REVOKED, "revoked (CRL file, out of date CRL",
            "revoked");
}

/* The CRL files and the cached CRLs are judged together: an older CRL
 * file that does not list the leaf loses to a newer cached CRL that does,
 * and the detail names the one that decided. */
static void test_file_and_cached_crls(void) {
  opts o = defaults();
  o.check_end = 1;
  mw_sslinfo *ssl = make_ssl(&o);
  mw_errorinfo e;
  mw_error_init(&e);
  /* cdpgood's distribution point fills the cache with int.crl */
  CHECK_INT(handshake(ssl, "cdpgood", NULL, &e), MW_OK);
  CHECK(strstr(detail_of(ssl), "good (CRL from http://") != NULL);
  char early[300];
  snprintf(early, sizeof early, "%s/int-early-crl.pem", pki);
  CHECK_INT(mw_sslinfo_set_option_str(ssl, SSLCRLFile, early), MW_OK);
  int rc = handshake(ssl, "crlrev", NULL, &e);
  CHECK_ERR(rc, &e, errConnect, eexSSLCertificate);
  CHECK_INT(mw_errorinfo_verify_result(&e), X509_V_ERR_CERT_REVOKED);
  CHECK(strstr(detail_of(ssl), "revoked (cached CRL, CRL number 2)") != NULL);
  /* the early file alone says good: it is current and lists nothing */
  mw_error_clear(&e);
  mw_sslinfo_free(ssl);
  o.crl_files = "int-early-crl.pem";
  o.ignore_nrc = 0;
  OK_CASE("crlrev", NULL, &o, SSL_REVOCATION_GOOD,
          "good (CRL file, CRL number 1)");
}

/* A distribution point that answers 404 has no information (not offline);
 * one that sends more than 1 MiB is cut off, and that is no information
 * either. */
static void test_distribution_point_answers(void) {
  opts o = defaults();
  o.check_end = 1;
  o.ignore_nrc = 0;
  FAIL_CASE("cdp404", NULL, &o, X509_V_ERR_UNABLE_TO_GET_CRL,
            SSL_REVOCATION_UNKNOWN, "HTTP status 404", "not a revocation");
  FAIL_CASE("cdpbig", NULL, &o, X509_V_ERR_UNABLE_TO_GET_CRL,
            SSL_REVOCATION_UNKNOWN, "larger than 1048576 bytes",
            "not a revocation");
  o.ignore_nrc = 1;
  o.ignore_ro = 0; /* neither is "offline" */
  OK_CASE("cdp404", NULL, &o, SSL_REVOCATION_UNKNOWN, "HTTP status 404");
}

static void test_crl_server_down(void) {
  opts o = defaults();
  o.check_end = 1;
  OK_CASE("cdpdown", NULL, &o, SSL_REVOCATION_OFFLINE, "CRL server offline");
  o.ignore_ro = 0;
  FAIL_CASE("cdpdown", NULL, &o, X509_V_ERR_OCSP_VERIFY_NEEDED,
            SSL_REVOCATION_OFFLINE, "CRL server offline", "offline");
}

/* The same verdicts over TLS 1.2, where the staple arrives in its own
 * message after the certificate was verified. */
static void test_tls12(void) {
  serve_tls12 = 1;
  opts o = defaults();
  o.crl_files = "int-crl.pem";
  FAIL_CASE("crlrev", NULL, &o, X509_V_ERR_CERT_REVOKED,
            SSL_REVOCATION_REVOKED, "revoked (CRL file, CRL number",
            "revoked");
  o.crl_files = NULL;
  o.check_end = 1;
  OK_CASE("ocspgood", "good", &o, SSL_REVOCATION_GOOD, "good (stapled OCSP)");
  FAIL_CASE("ocsprev", "rev", &o, X509_V_ERR_CERT_REVOKED,
            SSL_REVOCATION_REVOKED, "revoked (stapled OCSP)", "revoked");
  FAIL_CASE("cdprev", NULL, &o, X509_V_ERR_CERT_REVOKED,
            SSL_REVOCATION_REVOKED, "revoked (CRL from http://", "revoked");
  serve_tls12 = 0;
}

/* A resumed session sends no certificate: not checked, and the detail
 * says why (the session was made by a checked handshake). */
static void test_resumed_session(void) {
  opts o = defaults();
  o.check_end = 1;
  mw_sslinfo *ssl = make_ssl(&o);
  unsigned port;
  pid_t pid = serve("ocspgood", NULL, &port);
  long resumed = -1;
  for (int i = 0; i < 2; i++) {
    mw_errorinfo e;
    mw_error_init(&e);
    mw_conn c;
    mw_conn_init(&c, &e, NULL, 15000);
    int rc = mw_conn_open(&c, "localhost", port);
    if (rc == MW_OK)
      rc = mw_conn_start_tls(&c, ssl, "localhost");
    CHECK_INT(rc, MW_OK);
    /* TLS 1.3 tickets arrive after the handshake: read a little */
    char buf[16];
    size_t got = 0;
    if (rc == MW_OK && i == 0) {
      mw_conn_write(&c, "x\n", 2);
      c.timeout_ms = 300;
      mw_conn_read(&c, buf, sizeof buf, &got);
    }
    mw_conn_close(&c);
    mw_error_clear(&e);
    ERR_clear_error();
    CHECK_INT(mw_sslinfo_get_option_int(ssl, SSLSessionResumed, &resumed),
              MW_OK);
    CHECK_INT(resumed, i);
    CHECK_INT(status_of(ssl),
              i ? SSL_REVOCATION_NOT_CHECKED : SSL_REVOCATION_GOOD);
    CHECK(strstr(detail_of(ssl),
                 i ? "session was resumed" : "good (OCSP responder") != NULL);
  }
  stop(&pid);
  mw_sslinfo_free(ssl);
}

/* Without certificate validation nothing is checked. */
static void test_no_validation_no_check(void) {
  opts o = defaults();
  o.crl_files = "int-crl.pem";
  mw_sslinfo *ssl = make_ssl(&o);
  CHECK_INT(
      mw_sslinfo_set_option_int(ssl, SSLNoServerCertificateValidation, 1),
      MW_OK);
  mw_errorinfo e;
  mw_error_init(&e);
  CHECK_INT(handshake(ssl, "crlrev", NULL, &e), MW_OK);
  CHECK_INT(status_of(ssl), SSL_REVOCATION_NOT_CHECKED);
  mw_error_clear(&e);
  mw_sslinfo_free(ssl);
}

/* ---- the responder's name never resolves (the "resolver" mode) ----
 * Run inside private mount and network namespaces where resolv.conf names
 * 127.0.0.1, by the wrapper of the deadline tests (resolver-timeout.sh):
 * a DNS server there receives every query and never answers. */

typedef struct dns_sink {
  int fd;
  atomic_int asked; /* a query for the responder's name came */
  atomic_int stop;
} dns_sink;

static void *dns_sink_main(void *arg) {
  dns_sink *d = arg;
  while (!atomic_load(&d->stop)) {
    struct pollfd p = {.fd = d->fd, .events = POLLIN};
    char q[512];
    ssize_t n = poll(&p, 1, 100) > 0 ? recv(d->fd, q, sizeof q, 0) : 0;
    if (n > 0 && tl_contains_bytes(q, (size_t)n, "\x0emailwire-never", 15))
      atomic_store(&d->asked, 1);
  }
  return NULL;
}

/* SSLRevocationTimeout bounds the name resolution too: the responder is
 * offline for want of an address (eexTimeout), not for a DNS failure that
 * comes when the resolver gives up, seconds later (eexDNS). */
static void test_responder_name_never_resolves(void) {
  dns_sink d = {.fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)};
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(53)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  CHECK_INT(bind(d.fd, (struct sockaddr *)&a, sizeof a), 0);
  pthread_t t;
  pthread_create(&t, NULL, dns_sink_main, &d);
  opts o = defaults();
  o.check_end = 1;
  o.ignore_ro = 0;
  o.timeout_ms = 700;
  char want[128];
  snprintf(want, sizeof want,
           "OCSP responder offline: cannot connect to "
           "mailwire-never.example:%u (eexTimeout)",
           ocsp_port);
  FAIL_CASE("ocspnodns", NULL, &o, X509_V_ERR_OCSP_VERIFY_NEEDED,
            SSL_REVOCATION_OFFLINE, want, "offline");
  CHECK(atomic_load(&d.asked)); /* the query did go out */
  atomic_store(&d.stop, 1);
  pthread_join(t, NULL);
  close(d.fd);
}

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN);
  if (argc > 1 && strcmp(argv[1], "resolver") == 0) {
    if (setup() == 0)
      RUN(test_responder_name_never_resolves);
    teardown();
    return tl_finish();
  }
  RUN(test_option_defaults_and_types);
  if (setup() == 0) {
    RUN(test_bad_crl_file);
    RUN(test_crl_file_cases);
    RUN(test_revoked_intermediate);
    RUN(test_ocsp_responder);
    RUN(test_ocsp_stapled);
    RUN(test_ocsp_bad_answers);
    RUN(test_ocsp_responder_down);
    RUN(test_ocsp_responder_hangs);
    RUN(test_distribution_points);
    RUN(test_crl_server_down);
    RUN(test_expired_crl_file);
    RUN(test_file_and_cached_crls);
    RUN(test_distribution_point_answers);
    RUN(test_no_validation_no_check);
    RUN(test_tls12);
    RUN(test_resumed_session);
  }
  teardown();
  return tl_finish();
}
