/* itest_fork.c - clients across fork() (issue #14), against the real
 * Postfix and Dovecot: a client connected before fork() is refused in the
 * child (errState, eexForked) and freeing it there writes nothing to the
 * connection (the parent's TLS session goes on: a close_notify or QUIT from
 * the child would end it); an SSLInfo copied into the child works for a
 * new client there, its settings not frozen by the parent's connection. */
#include "testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#define TIMEOUT_MS 20000

static mw_sslinfo *trusting(int mode) {
  mw_sslinfo *ssl = mw_sslinfo_new();
  CHECK_INT(mw_sslinfo_set_mode(ssl, mode), MW_OK);
  CHECK_INT(mw_sslinfo_set_option_str(ssl, SSLCAFile, tl_env("CA_FILE")),
            MW_OK);
  return ssl;
}

static mw_smtp *smtp_client(mw_sslinfo *ssl) {
  mw_smtp *c = mw_smtp_new();
  CHECK_INT(mw_smtp_set_server(c, "localhost", tl_env_port("SMTP_PORT")),
            MW_OK);
  CHECK_INT(mw_smtp_set_timeout(c, TIMEOUT_MS), MW_OK);
  CHECK_INT(mw_smtp_set_handler(c, ssl), MW_OK);
  return c;
}

static mw_pop3 *pop3_client(mw_sslinfo *ssl) {
  mw_pop3 *c = mw_pop3_new();
  CHECK_INT(mw_pop3_set_server(c, "localhost", tl_env_port("POP3S_PORT")),
            MW_OK);
  CHECK_INT(mw_pop3_set_timeout(c, TIMEOUT_MS), MW_OK);
  CHECK_INT(mw_pop3_set_credentials(c, tl_env("USER"), tl_env("PASS")), MW_OK);
  CHECK_INT(mw_pop3_set_handler(c, ssl), MW_OK);
  return c;
}

/* Run child() in a child process; its checks count there, so the exit
 * status carries them back. */
static void in_child(void (*child)(void *), void *arg) {
  fflush(NULL);
  int failed_before = tl_checks_failed; /* the child inherits the count */
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    child(arg);
    _exit(tl_checks_failed != failed_before ? 1 : 0);
  }
  int status = 0;
  CHECK_INT(waitpid(pid, &status, 0), pid);
  CHECK(WIFEXITED(status));
  CHECK_INT(WEXITSTATUS(status), 0);
}

/* ---- SMTP over STARTTLS ---- */

typedef struct smtp_case {
  mw_smtp *inherited;
  mw_sslinfo *ssl;
} smtp_case;

static void smtp_child(void *arg) {
  smtp_case *k = arg;
  CHECK_ERR(mw_smtp_noop(k->inherited), mw_smtp_extended_error(k->inherited),
            errState, eexForked);
  CHECK_ERR(mw_smtp_quit(k->inherited), mw_smtp_extended_error(k->inherited),
            errState, eexForked);
  long v = 0;
  CHECK_ERR(mw_smtp_tls_option_int(k->inherited, SSLConnectionProtocolOut, &v),
            mw_smtp_extended_error(k->inherited), errState, eexForked);
  CHECK_INT(mw_smtp_is_connected(k->inherited), 0);
  mw_smtp_disconnect(k->inherited);
  mw_smtp_free(k->inherited); /* the parent's session must survive this */
  /* The SSLInfo is the child's own now: not frozen by the parent's
   * connection, and good for a new client. */
  CHECK_INT(mw_sslinfo_set_option_int(k->ssl, SSLNoServerNameCheck, 0), MW_OK);
  mw_smtp *c = smtp_client(k->ssl);
  CHECK_INT(mw_smtp_connect(c), MW_OK);
  CHECK_INT(mw_smtp_is_secure(c), 1);
  CHECK_INT(mw_smtp_quit(c), MW_OK);
  mw_smtp_free(c);
}

static void test_smtp_across_fork(void) {
  mw_sslinfo *ssl = trusting(MODE_STARTTLS);
  mw_smtp *c = smtp_client(ssl);
  CHECK_INT(mw_smtp_connect(c), MW_OK);
  smtp_case k = {c, ssl};
  in_child(smtp_child, &k);
  /* Nothing reached the server from the child: TLS and SMTP go on. */
  CHECK_INT(mw_smtp_noop(c), MW_OK);
  CHECK_INT(mw_smtp_last_reply_code(c), 250);
  CHECK_INT(mw_smtp_quit(c), MW_OK);
  mw_smtp_free(c);
  mw_sslinfo_free(ssl);
}

/* ---- POP3 over implicit TLS ---- */

static void pop3_child(void *arg) {
  mw_pop3 *inherited = arg;
  unsigned long n = 0;
  uint64_t octets = 0;
  CHECK_ERR(mw_pop3_stat(inherited, &n, &octets),
            mw_pop3_extended_error(inherited), errState, eexForked);
  CHECK_ERR(mw_pop3_quit(inherited), mw_pop3_extended_error(inherited),
            errState, eexForked);
  CHECK_INT(mw_pop3_is_connected(inherited), 0);
  mw_pop3_free(inherited);
}

static void test_pop3_across_fork(void) {
  mw_sslinfo *ssl = trusting(MODE_CHANNEL);
  mw_pop3 *c = pop3_client(ssl);
  CHECK_INT(mw_pop3_connect(c), MW_OK);
  in_child(pop3_child, c);
  unsigned long n = 0;
  uint64_t octets = 0;
  CHECK_INT(mw_pop3_stat(c, &n, &octets), MW_OK);
  CHECK_INT(mw_pop3_quit(c), MW_OK);
  mw_pop3_free(c);
  mw_sslinfo_free(ssl);
}

int main(void) {
  RUN(test_smtp_across_fork);
  RUN(test_pop3_across_fork);
  return tl_finish();
}
