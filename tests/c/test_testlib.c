/* test_testlib.c - the harness itself: the scripted server driven by a
 * client made of plain sockets (and OpenSSL for the TLS step), the checks,
 * tl_env and tl_wait_delivery. */
#include "internal.h"
#include "testlib.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- a minimal client ---- */
static int client_connect(unsigned port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons((unsigned short)port);
  if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    tl_fail(__FILE__, __LINE__, "connect to port %u: %s", port,
            strerror(errno));
    if (fd >= 0)
      close(fd);
    return -1;
  }
  return fd;
}

static void client_send(int fd, const char *text) {
  size_t n = strlen(text);
  CHECK_INT(send(fd, text, n, MSG_NOSIGNAL), (long long)n);
}

/* Read until the buffer holds a LF or the peer closes (at most 5 s);
 * returns the bytes read (NUL-terminated), "" at EOF. */
static const char *client_line(int fd, char *buf, size_t cap) {
  size_t n = 0;
  buf[0] = '\0';
  for (int rounds = 0; rounds < 50 && n + 1 < cap; rounds++) {
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0)
      continue;
    ssize_t r = recv(fd, buf + n, 1, 0);
    if (r <= 0)
      break;
    n += (size_t)r;
    buf[n] = '\0';
    if (buf[n - 1] == '\n')
      break;
  }
  return buf;
}

/* 1 when the peer closed within 5 s. */
static int client_sees_eof(int fd) {
  char c;
  for (int rounds = 0; rounds < 50; rounds++) {
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0)
      continue;
    ssize_t r = recv(fd, &c, 1, 0);
    if (r == 0)
      return 1;
    if (r < 0)
      return errno == ECONNRESET;
  }
  return 0;
}

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- tests ---- */
static void send_expect_and_record(void) {
  tl_server *s = tl_server_start("S: 220 hello\n"
                                 "C: EHLO *\n"
                                 "S: 250 ok\n"
                                 "C: QUIT\n"
                                 "S: 221 bye\n");
  CHECK(s != NULL);
  if (!s)
    return;
  CHECK(tl_server_port(s) > 0);
  int fd = client_connect(tl_server_port(s));
  char buf[256];
  CHECK_STR(client_line(fd, buf, sizeof buf), "220 hello\r\n");
  client_send(fd, "EHLO client.example\r\n");
  CHECK_STR(client_line(fd, buf, sizeof buf), "250 ok\r\n");
  client_send(fd, "QUIT\r\n");
  CHECK_STR(client_line(fd, buf, sizeof buf), "221 bye\r\n");
  CHECK(client_sees_eof(fd));
  close(fd);
  CHECK_INT(tl_server_wait(s, 5000), 0);
  CHECK_STR(tl_server_error(s), "");
  size_t len = 0;
  const char *rec = tl_server_received(s, &len);
  CHECK_INT(len, strlen("EHLO client.example\r\nQUIT\r\n"));
  CHECK_STR(rec, "EHLO client.example\r\nQUIT\r\n");
  tl_server_free(s);
}

/* QUIET passes when the client waits for the answer, and fails when the
 * next command came early (a pipelining client where none is allowed). */
static void quiet_step(int early) {
  tl_server *s = tl_server_start("C: ONE\nQUIET 300\nS: +OK\nC: TWO\n");
  CHECK(s != NULL);
  if (!s)
    return;
  int fd = client_connect(tl_server_port(s));
  char buf[256];
  client_send(fd, early ? "ONE\r\nTWO\r\n" : "ONE\r\n");
  if (!early) {
    CHECK_STR(client_line(fd, buf, sizeof buf), "+OK\r\n");
    client_send(fd, "TWO\r\n");
  }
  CHECK(client_sees_eof(fd));
  close(fd);
  CHECK_INT(tl_server_wait(s, 5000), early ? -1 : 0);
  const char *err = tl_server_error(s);
  CHECK_INT(tl_contains(err, strlen(err), "QUIET"), early);
  CHECK_STR(tl_server_received(s, NULL), "ONE\r\nTWO\r\n");
  tl_server_free(s);
}

static void quiet_passes_and_fails(void) {
  quiet_step(0);
  quiet_step(1);
}

static void mismatch_fails_the_script(void) {
  tl_server *s = tl_server_start("S: 220 hello\nC: HELO *\nS: 250 never\n");
  CHECK(s != NULL);
  if (!s)
    return;
  int fd = client_connect(tl_server_port(s));
  char buf[256];
  CHECK_STR(client_line(fd, buf, sizeof buf), "220 hello\r\n");
  client_send(fd, "EHLO x\r\n");
  /* The script stops at the mismatch: the 250 never comes, only EOF. */
  CHECK(client_sees_eof(fd));
  close(fd);
  CHECK_INT(tl_server_wait(s, 5000), -1);
  const char *err = tl_server_error(s);
  CHECK(tl_contains(err, strlen(err), "EHLO x"));
  CHECK(tl_contains(err, strlen(err), "HELO *"));
  CHECK_STR(tl_server_received(s, NULL), "EHLO x\r\n");
  tl_server_free(s);
}

static void glob_patterns(void) {
  tl_server *s = tl_server_start("C: MAIL FROM:<a@[127.0.0.1]>\n"
                                 "C: RCPT TO:<?@*>\n"
                                 "C: A*B*C\n"
                                 "C: *\n"
                                 "C?\n");
  CHECK(s != NULL);
  if (!s)
    return;
  int fd = client_connect(tl_server_port(s));
  client_send(fd, "MAIL FROM:<a@[127.0.0.1]>\r\n"
                  "RCPT TO:<b@c.example>\r\n"
                  "AxxBCyyC\r\n"
                  "\r\n"
                  "anything at all\n");
  CHECK_INT(tl_server_wait(s, 5000), 0);
  CHECK_STR(tl_server_error(s), "");
  close(fd);
  tl_server_free(s);

  s = tl_server_start("C: RCPT TO:<?@*>\n");
  fd = client_connect(tl_server_port(s));
  client_send(fd, "RCPT TO:<bb@c>\r\n");
  CHECK_INT(tl_server_wait(s, 5000), -1);
  close(fd);
  tl_server_free(s);
}

static void data_reads_to_the_dot(void) {
  tl_server *s = tl_server_start("C: DATA\nS: 354 go\nDATA\nS: 250 queued\n"
                                 "C: QUIT\n");
  CHECK(s != NULL);
  if (!s)
    return;
  int fd = client_connect(tl_server_port(s));
  char buf[256];
  client_send(fd, "DATA\r\n");
  CHECK_STR(client_line(fd, buf, sizeof buf), "354 go\r\n");
  client_send(fd, "Subject: x\r\n\r\n..dot\r\n.\r\n");
  CHECK_STR(client_line(fd, buf, sizeof buf), "250 queued\r\n");
  client_send(fd, "QUIT\r\n");
  CHECK_INT(tl_server_wait(s, 5000), 0);
  CHECK_STR(tl_server_received(s, NULL),
            "DATA\r\nSubject: x\r\n\r\n..dot\r\n.\r\nQUIT\r\n");
  close(fd);
  tl_server_free(s);
}

static void sraw_escapes(void) {
  tl_server *s = tl_server_start("SRAW: a\\r\\nb\\x41\\\\\\n\nCLOSE\n");
  CHECK(s != NULL);
  if (!s)
    return;
  int fd = client_connect(tl_server_port(s));
  char buf[256];
  CHECK_STR(client_line(fd, buf, sizeof buf), "a\r\n");
  CHECK_STR(client_line(fd, buf, sizeof buf), "bA\\\n");
  CHECK(client_sees_eof(fd));
  CHECK_INT(tl_server_wait(s, 5000), 0);
  close(fd);
  tl_server_free(s);
}

static void close_ends_the_script(void) {
  tl_server *s = tl_server_start("S: 421 go away\nCLOSE\nS: 250 never\n");
  CHECK(s != NULL);
  if (!s)
    return;
  int fd = client_connect(tl_server_port(s));
  char buf[256];
  CHECK_STR(client_line(fd, buf, sizeof buf), "421 go away\r\n");
  CHECK(client_sees_eof(fd));
  CHECK_INT(tl_server_wait(s, 5000), 0);
  close(fd);
  tl_server_free(s);
}

static void expect_close_records_until_eof(void) {
  tl_server *s = tl_server_start("S: 220 hi\nEXPECT_CLOSE\n");
  CHECK(s != NULL);
  if (!s)
    return;
  int fd = client_connect(tl_server_port(s));
  char buf[256];
  CHECK_STR(client_line(fd, buf, sizeof buf), "220 hi\r\n");
  client_send(fd, "QUIT\r\n");
  close(fd);
  CHECK_INT(tl_server_wait(s, 5000), 0);
  CHECK_STR(tl_server_received(s, NULL), "QUIT\r\n");
  tl_server_free(s);
}

static void client_closing_early_fails_a_read(void) {
  tl_server *s = tl_server_start("S: 220 hi\nC: EHLO *\n");
  int fd = client_connect(tl_server_port(s));
  close(fd);
  CHECK_INT(tl_server_wait(s, 5000), -1);
  const char *err = tl_server_error(s);
  CHECK(tl_contains(err, strlen(err), "closed"));
  tl_server_free(s);
}

static void wait_timeout_and_prompt_free(void) {
  tl_server *s = tl_server_start("S: 220 hi\nSLEEP 8000\n");
  CHECK(s != NULL);
  if (!s)
    return;
  int fd = client_connect(tl_server_port(s));
  long long t0 = now_ms();
  CHECK_INT(tl_server_wait(s, 200), -1);
  const char *err = tl_server_error(s);
  CHECK(tl_contains(err, strlen(err), "did not finish"));
  tl_server_free(s); /* interrupts the SLEEP */
  CHECK(now_ms() - t0 < 2000);
  close(fd);

  /* Nobody connects: free returns promptly too. */
  s = tl_server_start("S: 220 hi\n");
  t0 = now_ms();
  tl_server_free(s);
  CHECK(now_ms() - t0 < 1000);
}

static void unknown_step_is_refused(void) {
  int before = tl_checks_failed;
  fprintf(stderr, "(one FAILED line is expected next)\n");
  tl_server *s = tl_server_start("S: 220 hi\nBOGUS step\n");
  CHECK(s == NULL);
  CHECK_INT(tl_checks_failed, before + 1); /* the refusal counted */
  tl_checks_failed = before;               /* expected: not this test's */
  tl_server_free(s);
}

/* The checks detect what they must: each failing check counts one. */
static void checks_count_failures(void) {
  int before = tl_checks_failed;
  fprintf(stderr, "(seven FAILED lines are expected next)\n");
  CHECK(1 == 2);
  CHECK_INT(3, 4);
  CHECK_STR("a", "b");
  CHECK_STR(NULL, "b");
  mw_errorinfo e;
  mw_error_init(&e);
  mw_error_set(&e, eexDNS, 0, "cannot resolve");
  CHECK_ERR(errConnect, &e, errConnect, eexTCPConnect);
  CHECK_ERR(errTimeout, &e, errConnect, eexDNS);
  CHECK_ERR(errConnect, NULL, errConnect, eexDNS);
  int failed = tl_checks_failed - before;
  tl_checks_failed = before;
  CHECK_INT(failed, 7);
  /* ... and the passing forms count nothing. */
  CHECK_ERR(errConnect, &e, errConnect, eexDNS);
  CHECK_STR("same", "same");
  CHECK_INT(tl_checks_failed, before);
  CHECK(tl_contains("abc\0def", 7, "def"));
  CHECK(!tl_contains("abcdef", 6, "xyz"));
  CHECK(!tl_contains("abc", 3, "abcd"));
  mw_error_clear(&e);
}

static char tmpdir[256];

static void write_file(const char *path, const char *text) {
  FILE *fp = fopen(path, "w");
  CHECK(fp != NULL);
  if (fp) {
    fputs(text, fp);
    fclose(fp);
  }
}

static void env_file_values_and_failures(void) {
  char path[512];
  snprintf(path, sizeof path, "%s/servers.env", tmpdir);
  write_file(path, "# comment\nSMTP_PORT=2525\nUSER=alice\nBAD_PORT=x\n");
  setenv("MW_TEST_ENV", path, 1);
  CHECK_STR(tl_env("USER"), "alice");
  CHECK_INT(tl_env_port("SMTP_PORT"), 2525);
  int before = tl_checks_failed;
  fprintf(stderr, "(three FAILED lines are expected next)\n");
  CHECK_STR(tl_env("NOPE"), "");
  CHECK_INT(tl_env_port("BAD_PORT"), 0);
  setenv("MW_TEST_ENV", "/nonexistent/servers.env", 1);
  CHECK_STR(tl_env("USER"), "");
  int failed = tl_checks_failed - before;
  tl_checks_failed = before;
  CHECK_INT(failed, 3);
}

static void wait_delivery_finds_the_file(void) {
  char path[512], env[512];
  snprintf(env, sizeof env, "%s/delivery.env", tmpdir);
  char text[600];
  snprintf(text, sizeof text, "MAILDIR_ROOT=%s/mail\n", tmpdir);
  write_file(env, text);
  setenv("MW_TEST_ENV", env, 1);
  snprintf(path, sizeof path, "%s/mail", tmpdir);
  mkdir(path, 0700);
  snprintf(path, sizeof path, "%s/mail/bob", tmpdir);
  mkdir(path, 0700);
  snprintf(path, sizeof path, "%s/mail/bob/Maildir", tmpdir);
  mkdir(path, 0700);
  snprintf(path, sizeof path, "%s/mail/bob/Maildir/cur", tmpdir);
  mkdir(path, 0700);
  snprintf(path, sizeof path, "%s/mail/bob/Maildir/new", tmpdir);
  mkdir(path, 0700);
  snprintf(path, sizeof path, "%s/mail/bob/Maildir/new/1.x", tmpdir);
  write_file(path, "Subject: other\r\n\r\nbody\r\n");
  snprintf(path, sizeof path, "%s/mail/bob/Maildir/cur/2.x:2,", tmpdir);
  write_file(path, "Subject: token-42\r\n\r\nbody\r\n");
  size_t len = 0;
  char *m = tl_wait_delivery("bob", "token-42", 2000, &len);
  CHECK(m != NULL);
  CHECK_INT(len, strlen("Subject: token-42\r\n\r\nbody\r\n"));
  free(m);
  long long t0 = now_ms();
  m = tl_wait_delivery("bob", "never-there", 300, &len);
  CHECK(m == NULL);
  CHECK(now_ms() - t0 >= 300);
  CHECK(now_ms() - t0 < 2000);
}

/* TLS step: a throwaway certificate made with the openssl command line. */
static void tls_step_records_plaintext(void) {
  char cmd[2048], env[512], cert[512], key[512];
  snprintf(cert, sizeof cert, "%s/cert.pem", tmpdir);
  snprintf(key, sizeof key, "%s/key.pem", tmpdir);
  snprintf(cmd, sizeof cmd,
           "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
           "-nodes -subj /CN=localhost -days 1 -keyout %s -out %s "
           ">/dev/null 2>&1",
           key, cert);
  CHECK_INT(system(cmd), 0);
  snprintf(env, sizeof env, "%s/tls.env", tmpdir);
  char text[1200];
  snprintf(text, sizeof text, "CERT_FILE=%s\nKEY_FILE=%s\n", cert, key);
  write_file(env, text);
  setenv("MW_TEST_ENV", env, 1);

  tl_server *s = tl_server_start("S: 220 hi\nC: STARTTLS\nS: 220 go\nTLS\n"
                                 "C: EHLO secret\nS: 250 ok\nEXPECT_CLOSE\n");
  CHECK(s != NULL);
  if (!s)
    return;
  int fd = client_connect(tl_server_port(s));
  char buf[256];
  CHECK_STR(client_line(fd, buf, sizeof buf), "220 hi\r\n");
  client_send(fd, "STARTTLS\r\n");
  CHECK_STR(client_line(fd, buf, sizeof buf), "220 go\r\n");
  SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
  SSL *ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd);
  CHECK_INT(SSL_connect(ssl), 1);
  CHECK_INT(SSL_write(ssl, "EHLO secret\r\n", 13), 13);
  int n = SSL_read(ssl, buf, sizeof buf - 1);
  CHECK_INT(n, 8);
  if (n > 0) {
    buf[n] = '\0';
    CHECK_STR(buf, "250 ok\r\n");
  }
  SSL_shutdown(ssl);
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  close(fd);
  CHECK_INT(tl_server_wait(s, 5000), 0);
  CHECK_STR(tl_server_error(s), "");
  CHECK_STR(tl_server_received(s, NULL), "STARTTLS\r\nEHLO secret\r\n");
  tl_server_free(s);
}

static void tls_step_without_env_fails_clearly(void) {
  setenv("MW_TEST_ENV", "/nonexistent/servers.env", 1);
  tl_server *s = tl_server_start("TLS\n");
  int fd = client_connect(tl_server_port(s));
  CHECK_INT(tl_server_wait(s, 5000), -1);
  const char *err = tl_server_error(s);
  CHECK(tl_contains(err, strlen(err), "/nonexistent/servers.env"));
  CHECK(tl_contains(err, strlen(err), "CERT_FILE"));
  close(fd);
  tl_server_free(s);
}

int main(void) {
  snprintf(tmpdir, sizeof tmpdir, "/tmp/mw-testlib-XXXXXX");
  if (!mkdtemp(tmpdir)) {
    perror("mkdtemp");
    return 1;
  }
  RUN(send_expect_and_record);
  RUN(mismatch_fails_the_script);
  RUN(quiet_passes_and_fails);
  RUN(glob_patterns);
  RUN(data_reads_to_the_dot);
  RUN(sraw_escapes);
  RUN(close_ends_the_script);
  RUN(expect_close_records_until_eof);
  RUN(client_closing_early_fails_a_read);
  RUN(wait_timeout_and_prompt_free);
  RUN(unknown_step_is_refused);
  RUN(checks_count_failures);
  RUN(env_file_values_and_failures);
  RUN(wait_delivery_finds_the_file);
  RUN(tls_step_records_plaintext);
  RUN(tls_step_without_env_fails_clearly);
  char cmd[512];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  if (system(cmd) != 0)
    fprintf(stderr, "could not remove %s\n", tmpdir);
  return tl_finish();
}
