/* test_nb_revocation.c - revocation as a want (MW_IO_FETCH) through the
 * caller-driven session: this driver answers every fetch itself with
 * canned HTTP answers (a current CRL that says good or revoked, garbage,
 * an HTTP error, a server that cannot be reached, no answer before the
 * deadline) and the outcome, verify code, SSLRevocationStatus/Detail and
 * what reached the server are asserted. The certificates come from
 * tests/servers/revocation-pki.sh; the TLS server is testlib's scripted
 * one. No network but loopback, no HTTP server: the answers are canned. */
#define _DEFAULT_SOURCE
#include "internal.h"
#include "testlib.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/x509_vfy.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define HTTP_PORT 9 /* in the certificates' URLs; never contacted */

static char pki[256];
static char crl[65536]; /* int.crl (DER): revokes cdprev, not cdpgood */
static size_t crl_len;

/* What the driver answers to a fetch. */
typedef struct canned {
  int status;       /* HTTP status for mw_io_fetched */
  const char *body; /* its body (crl when NULL) */
  size_t len;
  const char *fail; /* answer mw_io_fetch_failed(reason) instead */
  int no_answer;    /* answer nothing: move the clock past the deadline */
  int cancel;       /* end the operation instead (mw_io_cancel) */
} canned;

typedef struct drv {
  int fd;
  const canned *answer;
  int fetches;
  char url[256];
  int post;       /* the request had a body */
  int timeout_ms; /* mw_io_timeout_ms while the fetch was asked */
} drv;

static void d_connect(mw_io *io, drv *d) {
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)mw_io_port(io));
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  d->fd = socket(AF_INET, SOCK_STREAM, 0);
  if (connect(d->fd, (struct sockaddr *)&a, sizeof a) != 0)
    mw_io_connect_failed(io, errno, eexTCPConnect);
  else
    mw_io_connected(io, NULL);
}

static void d_fetch(mw_io *io, drv *d) {
  const char *url = NULL;
  const unsigned char *post = NULL;
  size_t n = 0;
  CHECK_INT(mw_io_fetch_request(io, &url, &post, &n), MW_OK);
  snprintf(d->url, sizeof d->url, "%s", url ? url : "");
  d->post = post != NULL;
  d->timeout_ms = mw_io_timeout_ms(io);
  d->fetches++;
  const canned *a = d->answer;
  if (a->cancel)
    mw_io_cancel(io);
  else if (a->no_answer) /* the session's clock passes the check's deadline */
    mw_io__set_clock(io, mw_now_ms() + 3600 * 1000);
  else if (a->fail)
    CHECK_INT(mw_io_fetch_failed(io, a->fail), MW_OK);
  else
    CHECK_INT(mw_io_fetched(io, a->status, a->body ? a->body : crl,
                            a->body ? a->len : crl_len),
              MW_OK);
}

static void d_step(mw_io *io, drv *d, mw_io_want w) {
  char buf[4096];
  size_t len;
  switch (w) {
  case MW_IO_CONNECT:
    d_connect(io, d);
    break;
  case MW_IO_WRITE: {
    const char *p = mw_io_output(io, &len);
    ssize_t k = send(d->fd, p, len, MSG_NOSIGNAL);
    CHECK(k > 0);
    mw_io_written(io, k > 0 ? (size_t)k : 0);
    break;
  }
  case MW_IO_READ: {
    struct pollfd pf = {.fd = d->fd, .events = POLLIN};
    if (poll(&pf, 1, mw_io_timeout_ms(io)) == 0)
      break;
    ssize_t k = recv(d->fd, buf, 1 + (size_t)(rand() % (int)sizeof buf), 0);
    if (k < 0)
      mw_io_failed(io, errno, eexSocketRx);
    else
      mw_io_feed(io, buf, (size_t)k);
    break;
  }
  case MW_IO_FETCH:
    d_fetch(io, d);
    break;
  default:
    mw_io_cancel(io);
  }
}

/* ---- the PKI ---- */

static int load_crl(void) {
  char path[300];
  snprintf(path, sizeof path, "%s/int.crl", pki);
  FILE *f = fopen(path, "rb");
  if (!f)
    return -1;
  crl_len = fread(crl, 1, sizeof crl, f);
  fclose(f);
  return crl_len > 0 ? 0 : -1;
}

static int setup(void) {
  snprintf(pki, sizeof pki, "/tmp/mw-nbrev-XXXXXX");
  if (!mkdtemp(pki))
    return -1;
  char src[512];
  snprintf(src, sizeof src, "%s", __FILE__);
  char *cut = strstr(src, "/tests/c/");
  if (cut)
    *cut = '\0';
  char cmd[2048];
  snprintf(cmd, sizeof cmd,
           "%s/tests/servers/revocation-pki.sh %s %d %d %d %d >%s/pki.log "
           "2>&1",
           cut ? src : ".", pki, HTTP_PORT, HTTP_PORT, HTTP_PORT, HTTP_PORT,
           pki);
  if (system(cmd) != 0 || load_crl() != 0) {
    tl_fail(__FILE__, __LINE__, "revocation-pki.sh failed, see %s", pki);
    return -1;
  }
  return 0;
}

static void teardown(void) {
  char cmd[512];
  snprintf(cmd, sizeof cmd, "rm -rf %s", pki);
  if (pki[0] && system(cmd) != 0)
    fprintf(stderr, "could not remove %s\n", pki);
}

/* testlib's TLS step serves CERT_FILE/KEY_FILE of the MW_TEST_ENV file:
 * one such file per certificate. */
static void serve_leaf(const char *leaf) {
  static char env[300];
  snprintf(env, sizeof env, "%s/%s.env", pki, leaf);
  FILE *f = fopen(env, "w");
  CHECK(f != NULL);
  if (!f)
    return;
  fprintf(f, "CERT_FILE=%s/%s-chain.pem\nKEY_FILE=%s/%s.key\n", pki, leaf, pki,
          leaf);
  fclose(f);
  setenv("MW_TEST_ENV", env, 1);
}

/* ---- one case ---- */

typedef struct outcome {
  int rc, eex;
  char text[1024]; /* the error's, read before the getters reset it */
  long verify, status;
  const char *detail;
  int ehlo; /* the server received EHLO */
  drv d;
} outcome;

/* Implicit TLS trusting the PKI's root, checking the leaf only; strict:
 * offline and no information are refused. */
static mw_sslinfo *make_ssl(int strict) {
  mw_sslinfo *ssl = mw_sslinfo_new();
  char ca[300];
  snprintf(ca, sizeof ca, "%s/root.pem", pki);
  CHECK_INT(mw_sslinfo_set_mode(ssl, MODE_CHANNEL), MW_OK);
  CHECK_INT(mw_sslinfo_set_option_str(ssl, SSLCAFile, ca), MW_OK);
  CHECK_INT(mw_sslinfo_set_option_int(ssl, SSLRevocationCheckEnd, 1), MW_OK);
  CHECK_INT(mw_sslinfo_set_option_int(ssl, SSLRevocationTimeout, 2000), MW_OK);
  CHECK_INT(mw_sslinfo_set_option_int(ssl, SSLRevocationIgnoreRO, !strict),
            MW_OK);
  CHECK_INT(mw_sslinfo_set_option_int(ssl, SSLRevocationIgnoreNRC, !strict),
            MW_OK);
  return ssl;
}

/* Connect to port with ssl, this file's driver answering every want. */
static mw_smtp *connect_with(unsigned port, mw_sslinfo *ssl,
                             const canned *answer, outcome *out) {
  memset(out, 0, sizeof *out);
  mw_smtp *c = mw_smtp_new();
  CHECK_INT(mw_smtp_set_server(c, "127.0.0.1", port), MW_OK);
  CHECK_INT(mw_smtp_set_helo_name(c, "client.test"), MW_OK);
  CHECK_INT(mw_smtp_set_timeout(c, 5000), MW_OK);
  CHECK_INT(mw_smtp_set_sslinfo(c, ssl), MW_OK);
  mw_io *io = mw_smtp_io(c);
  out->d.fd = -1;
  out->d.answer = answer;
  CHECK_INT(mw_smtp_begin_connect(c), MW_OK);
  mw_io_want w;
  while ((w = mw_io_next(io)) != MW_IO_DONE)
    d_step(io, &out->d, w);
  out->rc = mw_io_result(io);
  const mw_errorinfo *e = mw_smtp_extended_error(c);
  out->verify = mw_errorinfo_verify_result(e);
  out->eex = mw_errorinfo_number(e);
  snprintf(out->text, sizeof out->text, "%s", mw_errorinfo_text(e));
  CHECK_INT(mw_smtp_tls_option_int(c, SSLRevocationStatus, &out->status),
            MW_OK);
  CHECK_INT(mw_smtp_tls_option_str(c, SSLRevocationDetail, &out->detail),
            MW_OK);
  if (out->rc != MW_OK) /* nothing after the refused handshake */
    CHECK(mw_io_closed(io));
  if (out->d.fd >= 0)
    close(out->d.fd);
  return c; /* the detail lives as long as the client */
}

/* An implicit-TLS SMTP connect to a scripted server with leaf's
 * certificate. */
static void run_case(const char *leaf, const canned *answer, int strict,
                     outcome *out, mw_smtp **client) {
  serve_leaf(leaf);
  tl_server *srv = tl_server_start("TLS\nS: 220 nb.test ESMTP\nC: EHLO *\n"
                                   "S: 250 nb.test\n");
  mw_sslinfo *ssl = make_ssl(strict);
  *client = connect_with(tl_server_port(srv), ssl, answer, out);
  mw_sslinfo_free(ssl);
  tl_server_wait(srv, 5000);
  size_t len = 0;
  const char *rx = tl_server_received(srv, &len);
  out->ehlo = tl_contains(rx, len, "EHLO");
  tl_server_free(srv);
}

static void expect_refused(const outcome *o) {
  CHECK_INT(o->rc, errConnect);
  CHECK_INT(o->eex, eexSSLCertificate);
}

static void expect_detail(const outcome *o, const char *piece) {
  if (!o->detail || !strstr(o->detail, piece))
    tl_fail(__FILE__, __LINE__, "detail \"%s\" lacks \"%s\"",
            o->detail ? o->detail : "(null)", piece);
}

/* The fetch asked: a GET of the certificate's distribution point, within
 * SSLRevocationTimeout. */
static void expect_crl_fetch(const outcome *o) {
  CHECK_INT(o->d.fetches, 1);
  char want[64];
  snprintf(want, sizeof want, "http://127.0.0.1:%d/int.crl", HTTP_PORT);
  CHECK(strcmp(o->d.url, want) == 0);
  CHECK(!o->d.post);
  CHECK(o->d.timeout_ms > 0 && o->d.timeout_ms <= 2000);
}

static void good_crl(void) {
  canned a = {.status = 200};
  outcome o;
  mw_smtp *c;
  run_case("cdpgood", &a, 1, &o, &c);
  CHECK_INT(o.rc, MW_OK);
  expect_crl_fetch(&o);
  CHECK_INT(o.status, SSL_REVOCATION_GOOD);
  expect_detail(&o, "good (CRL from http://127.0.0.1:9/int.crl, CRL number");
  CHECK(o.ehlo);
  mw_smtp_free(c);
}

static void revoked_crl(void) {
  canned a = {.status = 200};
  outcome o;
  mw_smtp *c;
  run_case("cdprev", &a, 0, &o, &c);
  expect_refused(&o);
  CHECK_INT(o.verify, X509_V_ERR_CERT_REVOKED);
  CHECK_INT(o.status, SSL_REVOCATION_REVOKED);
  expect_detail(&o, "revoked (CRL from http://127.0.0.1:9/int.crl");
  CHECK(strstr(o.text, "revoked"));
  CHECK(!o.ehlo); /* refused before any application byte */
  mw_smtp_free(c);
}

static void garbage_answer(void) {
  canned a = {.status = 200, .body = "<html>hello</html>", .len = 18};
  outcome o;
  mw_smtp *c;
  run_case("cdpgood", &a, 1, &o, &c);
  expect_refused(&o);
  CHECK_INT(o.verify, X509_V_ERR_UNABLE_TO_GET_CRL);
  CHECK_INT(o.status, SSL_REVOCATION_UNKNOWN);
  expect_detail(&o, "no CRL: http://127.0.0.1:9/int.crl holds no CRL");
  CHECK(!o.ehlo);
  mw_smtp_free(c);
  /* The defaults accept "no information". */
  run_case("cdpgood", &a, 0, &o, &c);
  CHECK_INT(o.rc, MW_OK);
  CHECK_INT(o.status, SSL_REVOCATION_UNKNOWN);
  CHECK(o.ehlo);
  mw_smtp_free(c);
}

static void http_errors(void) {
  canned down = {.status = 503, .body = "", .len = 0};
  canned missing = {.status = 404, .body = "gone", .len = 4};
  outcome o;
  mw_smtp *c;
  run_case("cdpgood", &down, 1, &o, &c);
  CHECK_INT(o.verify, X509_V_ERR_OCSP_VERIFY_NEEDED);
  CHECK_INT(o.status, SSL_REVOCATION_OFFLINE);
  expect_detail(&o, "CRL server offline: 127.0.0.1:9 answered HTTP status "
                    "503");
  mw_smtp_free(c);
  run_case("cdpgood", &missing, 1, &o, &c);
  CHECK_INT(o.verify, X509_V_ERR_UNABLE_TO_GET_CRL);
  CHECK_INT(o.status, SSL_REVOCATION_UNKNOWN);
  expect_detail(&o, "no CRL: 127.0.0.1:9 answered HTTP status 404");
  mw_smtp_free(c);
}

static void unreachable(void) {
  canned a = {.fail = "cannot connect to 127.0.0.1:9 (eexTCPConnect)"};
  outcome o;
  mw_smtp *c;
  run_case("cdpgood", &a, 1, &o, &c);
  expect_refused(&o);
  CHECK_INT(o.verify, X509_V_ERR_OCSP_VERIFY_NEEDED);
  CHECK_INT(o.status, SSL_REVOCATION_OFFLINE);
  expect_detail(&o, "CRL server offline: cannot connect to 127.0.0.1:9");
  CHECK(strstr(o.text, "SSLRevocationIgnoreRO"));
  CHECK(!o.ehlo);
  mw_smtp_free(c);
  /* The defaults ignore an offline server. */
  run_case("cdpgood", &a, 0, &o, &c);
  CHECK_INT(o.rc, MW_OK);
  CHECK_INT(o.status, SSL_REVOCATION_OFFLINE);
  mw_smtp_free(c);
}

/* No answer before SSLRevocationTimeout: mw_io_next takes the server as
 * offline, in the words of a fetch that timed out, and goes on. */
static void no_answer_in_time(void) {
  canned a = {.no_answer = 1};
  outcome o;
  mw_smtp *c;
  run_case("cdpgood", &a, 1, &o, &c);
  expect_refused(&o);
  CHECK_INT(o.verify, X509_V_ERR_OCSP_VERIFY_NEEDED);
  expect_detail(&o, "CRL server offline: no complete answer from "
                    "127.0.0.1:9 within the time limit");
  CHECK(!o.ehlo);
  mw_smtp_free(c);
}

/* Cancelled while the fetch is out: aborted, closed, nothing sent, and
 * the detail says where the check stopped. */
static void cancel_while_fetching(void) {
  canned a = {.cancel = 1};
  outcome o;
  mw_smtp *c;
  run_case("cdpgood", &a, 1, &o, &c);
  CHECK_INT(o.rc, errAborted);
  CHECK_INT(o.status, SSL_REVOCATION_NOT_CHECKED);
  expect_detail(&o, "not checked: the connection ended while asking "
                    "http://127.0.0.1:9/int.crl");
  CHECK(!o.ehlo);
  mw_smtp_free(c);
}

/* An OCSP responder: the request is a POST of an OCSP request. */
static void ocsp_request_posted(void) {
  canned a = {.fail = "refused"};
  outcome o;
  mw_smtp *c;
  run_case("ocspgood", &a, 1, &o, &c);
  CHECK_INT(o.d.fetches, 1);
  CHECK(o.d.post);
  CHECK(strncmp(o.d.url, "http://127.0.0.1:9", 18) == 0);
  CHECK_INT(o.verify, X509_V_ERR_OCSP_VERIFY_NEEDED);
  expect_detail(&o, "OCSP responder offline: refused");
  mw_smtp_free(c);
}

/* openssl s_server speaking TLS 1.2 (a session handed out at the end of
 * the handshake, before the check) with leaf's certificate. */
static pid_t s_server_tls12(const char *leaf, unsigned *port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t alen = sizeof a;
  CHECK(bind(fd, (struct sockaddr *)&a, sizeof a) == 0);
  getsockname(fd, (struct sockaddr *)&a, &alen);
  *port = ntohs(a.sin_port);
  close(fd);
  char accept[32], cert[300], key[300], chain[300];
  snprintf(accept, sizeof accept, "127.0.0.1:%u", *port);
  snprintf(cert, sizeof cert, "%s/%s.pem", pki, leaf);
  snprintf(key, sizeof key, "%s/%s.key", pki, leaf);
  snprintf(chain, sizeof chain, "%s/int.pem", pki);
  pid_t pid = fork();
  if (pid == 0) {
    int null = open("/dev/null", O_WRONLY);
    dup2(null, 1);
    dup2(null, 2);
    execlp("openssl", "openssl", "s_server", "-accept", accept, "-cert", cert,
           "-key", key, "-cert_chain", chain, "-quiet", "-tls1_2",
           (char *)NULL);
    _exit(127);
  }
  for (int i = 0; i < 200; i++) { /* until it listens */
    int probe = socket(AF_INET, SOCK_STREAM, 0);
    a.sin_port = htons((uint16_t)*port);
    int up = connect(probe, (struct sockaddr *)&a, sizeof a) == 0;
    close(probe);
    if (up)
      break;
    poll(NULL, 0, 50);
  }
  return pid;
}

/* A revoked server's TLS 1.2 session is handed out before the check runs:
 * it must not be cached, or the next connection with the same SSLInfo
 * would resume it and skip the check. Both are refused. */
static void refused_session_not_resumed(void) {
  unsigned port = 0;
  pid_t pid = s_server_tls12("cdprev", &port);
  canned a = {.status = 200};
  mw_sslinfo *ssl = make_ssl(0);
  for (int i = 0; i < 2; i++) {
    outcome o;
    mw_smtp *c = connect_with(port, ssl, &a, &o);
    expect_refused(&o);
    CHECK_INT(o.verify, X509_V_ERR_CERT_REVOKED);
    /* the second finds the CRL the first fetched in the SSLInfo's cache;
     * a resumed session would say "not checked" */
    CHECK_INT(o.d.fetches, i ? 0 : 1);
    expect_detail(&o, i ? "revoked (cached CRL"
                        : "revoked (CRL from http://127.0.0.1:9/int.crl");
    mw_smtp_free(c);
  }
  mw_sslinfo_free(ssl);
  kill(pid, SIGTERM);
  waitpid(pid, NULL, 0);
}

/* A TLS 1.2 server (python3's ssl) taking connections side by side, with
 * a session cache: the port is written on its stdout. */
static const char threaded_server[] =
    "import socket, ssl, sys, threading\n"
    "ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n"
    "ctx.maximum_version = ssl.TLSVersion.TLSv1_2\n"
    "ctx.load_cert_chain(sys.argv[1], sys.argv[2])\n"
    "srv = socket.socket()\n"
    "srv.bind(('127.0.0.1', 0))\n"
    "srv.listen(8)\n"
    "print(srv.getsockname()[1], flush=True)\n"
    "def serve(c):\n"
    "    try:\n"
    "        s = ctx.wrap_socket(c, server_side=True)\n"
    "        while s.recv(1024):\n"
    "            pass\n"
    "    except Exception:\n"
    "        pass\n"
    "    c.close()\n"
    "while True:\n"
    "    c, _ = srv.accept()\n"
    "    threading.Thread(target=serve, args=(c,), daemon=True).start()\n";

static pid_t start_threaded_server(const char *leaf, unsigned *port) {
  char chain[300], key[300];
  snprintf(chain, sizeof chain, "%s/%s-chain.pem", pki, leaf);
  snprintf(key, sizeof key, "%s/%s.key", pki, leaf);
  int out[2];
  CHECK(pipe(out) == 0);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(out[1], 1);
    close(out[0]);
    execlp("python3", "python3", "-c", threaded_server, chain, key,
           (char *)NULL);
    _exit(127);
  }
  close(out[1]);
  char line[32] = "";
  FILE *f = fdopen(out[0], "r");
  CHECK(f && fgets(line, sizeof line, f));
  if (f)
    fclose(f);
  *port = (unsigned)strtoul(line, NULL, 10);
  CHECK(*port > 0);
  return pid;
}

/* While one connection's check waits for its fetch, another connection
 * with the same SSLInfo to the same server must not resume the session
 * the first handshake handed out: the check of the first has not passed.
 * The second makes its own handshake and check, and is refused. */
static void no_resumption_while_checking(void) {
  unsigned port = 0;
  pid_t pid = start_threaded_server("cdprev", &port);
  canned a = {.status = 200};
  mw_sslinfo *ssl = make_ssl(0);
  mw_smtp *first = mw_smtp_new();
  CHECK_INT(mw_smtp_set_server(first, "127.0.0.1", port), MW_OK);
  CHECK_INT(mw_smtp_set_sslinfo(first, ssl), MW_OK);
  mw_io *io = mw_smtp_io(first);
  drv d = {.fd = -1, .answer = &a};
  CHECK_INT(mw_smtp_begin_connect(first), MW_OK);
  mw_io_want w;
  while ((w = mw_io_next(io)) != MW_IO_FETCH && w != MW_IO_DONE)
    d_step(io, &d, w);
  CHECK_INT(w, MW_IO_FETCH);

  outcome o;
  mw_smtp *second = connect_with(port, ssl, &a, &o);
  expect_refused(&o);
  CHECK_INT(o.verify, X509_V_ERR_CERT_REVOKED);
  CHECK_INT(o.d.fetches, 1);
  expect_detail(&o, "revoked (CRL from http://127.0.0.1:9/int.crl");
  mw_smtp_free(second);

  while ((w = mw_io_next(io)) != MW_IO_DONE) /* the first goes on */
    d_step(io, &d, w);
  CHECK_INT(mw_io_result(io), errConnect);
  CHECK_INT(mw_errorinfo_verify_result(mw_smtp_extended_error(first)),
            X509_V_ERR_CERT_REVOKED);
  if (d.fd >= 0)
    close(d.fd);
  mw_smtp_free(first);
  mw_sslinfo_free(ssl);
  kill(pid, SIGTERM);
  waitpid(pid, NULL, 0);
}

/* A FETCH answer when none is asked is errState. */
static void fetch_answer_unasked(void) {
  mw_smtp *c = mw_smtp_new();
  mw_io *io = mw_smtp_io(c);
  const char *url = "x";
  CHECK_INT(mw_io_fetch_request(io, &url, NULL, NULL), errState);
  CHECK(url == NULL);
  CHECK_INT(mw_io_fetched(io, 200, "x", 1), errState);
  CHECK_INT(mw_io_fetch_failed(io, "x"), errState);
  mw_smtp_free(c);
}

int main(void) {
  srand(1);
  if (setup() == 0) {
    RUN(good_crl);
    RUN(revoked_crl);
    RUN(garbage_answer);
    RUN(http_errors);
    RUN(unreachable);
    RUN(no_answer_in_time);
    RUN(cancel_while_fetching);
    RUN(ocsp_request_posted);
    RUN(refused_session_not_resumed);
    RUN(no_resumption_while_checking);
  }
  RUN(fetch_answer_unasked);
  teardown();
  return tl_finish();
}
