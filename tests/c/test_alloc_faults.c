/* test_alloc_faults.c - every allocation the library makes during a
 * reference SMTP session and a reference POP3 session fails in turn
 * (this binary is linked with --wrap=malloc,calloc,realloc). Each run
 * must end with a clean errNoMemory / eexNoMemory (or a NULL handle from
 * _new), never a crash, and, under ASan, never a leak. Only the test's
 * own thread is affected: the scripted server runs in another.
 * OpenSSL's allocations go through the same counter
 * (CRYPTO_set_mem_functions), for a reference session over implicit TLS:
 * there the failure may surface as a TLS error, but it must still be a
 * clean error, with no crash and no leak. */
#include "testlib.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);

static _Thread_local long fail_at; /* 0: off; else fail call number N */
static _Thread_local long calls;
static _Thread_local int failed;

static int should_fail(void) {
  if (fail_at == 0)
    return 0;
  if (++calls == fail_at) {
    failed = 1;
    return 1;
  }
  return 0;
}

void *__wrap_malloc(size_t n) {
  return should_fail() ? NULL : __real_malloc(n);
}
void *__wrap_calloc(size_t n, size_t size) {
  return should_fail() ? NULL : __real_calloc(n, size);
}
void *__wrap_realloc(void *p, size_t n) {
  return should_fail() ? NULL : __real_realloc(p, n);
}

/* OpenSSL's allocator, counted with ours. */
static void *crypto_malloc(size_t n, const char *file, int line) {
  (void)file;
  (void)line;
  return should_fail() ? NULL : __real_malloc(n);
}
static void *crypto_realloc(void *p, size_t n, const char *file, int line) {
  (void)file;
  (void)line;
  return should_fail() ? NULL : __real_realloc(p, n);
}
static void crypto_free(void *p, const char *file, int line) {
  (void)file;
  (void)line;
  free(p);
}

static void arm(long n) {
  fail_at = n;
  calls = 0;
  failed = 0;
}

/* A failed step must say why: out of memory. */
static void check_nomem(int rc, const mw_errorinfo *ei, long n) {
  if (rc == errNoMemory && mw_errorinfo_number(ei) == eexNoMemory)
    return;
  tl_fail(__FILE__, __LINE__,
          "allocation %ld failed: rc %d, number %d (\"%s\"), expected "
          "errNoMemory/eexNoMemory",
          n, rc, mw_errorinfo_number(ei), mw_errorinfo_text(ei));
}

/* A client that failed before connecting leaves the scripted server in
 * accept(): a connection that closes at once ends its script. */
static void finish_server(tl_server *srv, unsigned port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd >= 0) {
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    (void)connect(fd, (struct sockaddr *)&a, sizeof a);
    close(fd);
  }
  tl_server_wait(srv, 5000);
  tl_server_free(srv);
}

/* ---- SMTP ---- */

static const char SMTP_SCRIPT[] = "S: 220 mx.example ESMTP\n"
                                  "C: EHLO *\n"
                                  "S: 250-mx.example\n"
                                  "S: 250-AUTH PLAIN LOGIN\n"
                                  "S: 250 8BITMIME\n"
                                  "C: AUTH PLAIN *\n"
                                  "S: 235 2.7.0 ok\n"
                                  "C: MAIL FROM:<me@example.org>*\n"
                                  "S: 250 2.1.0 ok\n"
                                  "C: RCPT TO:<a@example.org>*\n"
                                  "S: 250 2.1.5 ok\n"
                                  "C: DATA\n"
                                  "S: 354 go\n"
                                  "DATA\n"
                                  "S: 250 2.0.0 queued\n"
                                  "C: QUIT\n"
                                  "S: 221 bye\n";

/* One session with allocation n failing; returns 1 when nothing failed
 * (n is past the last allocation). */
static int smtp_session(long n) {
  tl_server *srv = tl_server_start(SMTP_SCRIPT);
  CHECK(srv != NULL);
  if (!srv)
    return 1;
  unsigned port = tl_server_port(srv);
  static const char msg[] = "Subject: x\r\n\r\n.dot\r\nbody\n";
  const char *const rcpts[] = {"a@example.org"};

  arm(n);
  mw_smtp *c = mw_smtp_new();
  int rc = MW_OK;
  if (c) {
    const mw_errorinfo *ei = mw_smtp_extended_error(c);
    if ((rc = mw_smtp_set_server(c, "127.0.0.1", port)) == MW_OK &&
        (rc = mw_smtp_set_helo_name(c, "client.example")) == MW_OK &&
        (rc = mw_smtp_set_credentials(c, "user", "secret")) == MW_OK &&
        (rc = mw_smtp_set_allow_plaintext_auth(c, 1)) == MW_OK &&
        (rc = mw_smtp_connect(c)) == MW_OK &&
        (rc = mw_smtp_send(c, "me@example.org", rcpts, 1, msg,
                           sizeof msg - 1)) == MW_OK)
      rc = mw_smtp_quit(c);
    if (failed)
      check_nomem(rc, ei, n);
    else
      CHECK_INT(rc, MW_OK);
  } else {
    CHECK(failed);
  }
  int done = !failed;
  arm(0);
  mw_smtp_free(c);
  finish_server(srv, port);
  return done;
}

static void smtp_every_allocation_fails_in_turn(void) {
  int before = tl_checks_failed;
  long n = 1;
  while (n < 5000 && tl_checks_failed - before < 5 && !smtp_session(n))
    n++;
  CHECK(n > 1 && n < 5000); /* the session allocates, and finished */
}

/* ---- POP3 ---- */

static const char POP3_SCRIPT[] = "S: +OK ready\n"
                                  "C: CAPA\n"
                                  "S: +OK\n"
                                  "S: USER\n"
                                  "S: UIDL\n"
                                  "S: .\n"
                                  "C: USER user\n"
                                  "S: +OK\n"
                                  "C: PASS secret\n"
                                  "S: +OK in\n"
                                  "C: UIDL\n"
                                  "S: +OK\n"
                                  "S: 1 uid-one\n"
                                  "S: .\n"
                                  "C: RETR 1\n"
                                  "S: +OK\n"
                                  "S: Subject: one\n"
                                  "S: \n"
                                  "S: ..dot\n"
                                  "S: .\n"
                                  "C: DELE 1\n"
                                  "S: +OK\n"
                                  "C: QUIT\n"
                                  "S: +OK bye\n";

static int pop3_session(long n) {
  tl_server *srv = tl_server_start(POP3_SCRIPT);
  CHECK(srv != NULL);
  if (!srv)
    return 1;
  unsigned port = tl_server_port(srv);
  char *body = NULL;
  size_t len = 0;

  arm(n);
  mw_pop3 *c = mw_pop3_new();
  int rc = MW_OK;
  if (c) {
    const mw_errorinfo *ei = mw_pop3_extended_error(c);
    if ((rc = mw_pop3_set_server(c, "127.0.0.1", port)) == MW_OK &&
        (rc = mw_pop3_set_credentials(c, "user", "secret")) == MW_OK &&
        (rc = mw_pop3_set_auth_mechanism(c, "USER")) == MW_OK &&
        (rc = mw_pop3_set_allow_plaintext_auth(c, 1)) == MW_OK &&
        (rc = mw_pop3_connect(c)) == MW_OK &&
        (rc = mw_pop3_uidl(c)) == MW_OK &&
        (rc = mw_pop3_retr(c, 1, &body, &len)) == MW_OK &&
        (rc = mw_pop3_dele(c, 1)) == MW_OK)
      rc = mw_pop3_quit(c);
    if (failed)
      check_nomem(rc, ei, n);
    else
      CHECK_INT(rc, MW_OK);
  } else {
    CHECK(failed);
  }
  int done = !failed;
  arm(0);
  mw_free(body);
  mw_pop3_free(c);
  finish_server(srv, port);
  return done;
}

static void pop3_every_allocation_fails_in_turn(void) {
  int before = tl_checks_failed;
  long n = 1;
  while (n < 5000 && tl_checks_failed - before < 5 && !pop3_session(n))
    n++;
  CHECK(n > 1 && n < 5000);
}

/* ---- SMTP over implicit TLS, OpenSSL's allocations included ---- */

static long tls_rc_counts[16];

/* One session over TLS with allocation n failing (stride: how many
 * allocations each run skips ahead); 1 when nothing failed. */
static int tls_session(long n) {
  size_t slen = strlen(SMTP_SCRIPT) + 16;
  char *script = malloc(slen);
  /* NODELAY: 4,650 sessions without a 40 ms stall per multi-line reply. */
  snprintf(script, slen, "NODELAY\nTLS\n%s", SMTP_SCRIPT);
  tl_server *srv = tl_server_start(script);
  free(script);
  CHECK(srv != NULL);
  if (!srv)
    return 1;
  unsigned port = tl_server_port(srv);
  static const char msg[] = "Subject: x\r\n\r\nbody\r\n";
  const char *const rcpts[] = {"a@example.org"};
  const char *ca = tl_env("CA_FILE");

  arm(n);
  mw_smtp *c = mw_smtp_new();
  mw_sslinfo *ssl = mw_sslinfo_new();
  int rc = MW_OK;
  if (c && ssl) {
    /* The SSLInfo's own calls leave their error on the SSLInfo. */
    const mw_errorinfo *ei = mw_sslinfo_extended_error(ssl);
    if ((rc = mw_sslinfo_set_mode(ssl, MODE_CHANNEL)) == MW_OK &&
        (rc = mw_sslinfo_set_option_str(ssl, SSLCAFile, ca)) == MW_OK &&
        (ei = mw_smtp_extended_error(c)) != NULL &&
        (rc = mw_smtp_set_sslinfo(c, ssl)) == MW_OK &&
        (rc = mw_smtp_set_server(c, "localhost", port)) == MW_OK &&
        (rc = mw_smtp_set_credentials(c, "user", "secret")) == MW_OK &&
        (rc = mw_smtp_connect(c)) == MW_OK &&
        (rc = mw_smtp_send(c, "me@example.org", rcpts, 1, msg,
                           sizeof msg - 1)) == MW_OK)
      rc = mw_smtp_quit(c);
    if (failed) {
      /* Any clean failure: OpenSSL reports its own as TLS errors, and
       * recovers from some (a cache it fills later): then the session
       * simply succeeds. */
      if (rc != MW_OK &&
          (mw_errorinfo_number(ei) == 0 || mw_errorinfo_code(ei) != rc ||
           !*mw_errorinfo_text(ei)))
        tl_fail(__FILE__, __LINE__,
                "allocation %ld failed: rc %d with no extended error", n, rc);
      tls_rc_counts[rc & 15]++;
    } else {
      CHECK_INT(rc, MW_OK);
    }
  } else {
    CHECK(failed);
  }
  int done = !failed;
  arm(0);
  mw_sslinfo_free(ssl);
  mw_smtp_free(c);
  finish_server(srv, port);
  return done;
}

static void tls_every_allocation_fails_in_turn(void) {
  CHECK(tls_session(0)); /* OpenSSL's one-time setup, and the script works */
  int before = tl_checks_failed;
  long n = 1;
  while (n < 100000 && tl_checks_failed - before < 5 && !tls_session(n))
    n++;
  CHECK(n > 1 && n < 100000);
  /* OpenSSL's own allocation failures are told as such. */
  CHECK(tls_rc_counts[errNoMemory] > 0);
  printf("TLS session: %ld allocations failed in turn; failures ended with",
         n - 1);
  for (int i = 0; i < 16; i++)
    if (tls_rc_counts[i])
      printf(" %s x%ld", mw_err_name(i), tls_rc_counts[i]);
  printf("\n");
}

int main(void) {
  /* Before OpenSSL allocates anything. */
  if (!CRYPTO_set_mem_functions(crypto_malloc, crypto_realloc, crypto_free))
    tl_fail(__FILE__, __LINE__, "CRYPTO_set_mem_functions refused");
  RUN(tls_every_allocation_fails_in_turn);
  RUN(smtp_every_allocation_fails_in_turn);
  RUN(pop3_every_allocation_fails_in_turn);
  return tl_finish();
}
