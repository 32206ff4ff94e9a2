/* itest_evloop.c - the event-loop driver (mw_X_socket_action) against the
 * real servers: many SMTP and POP3 sessions at once from this one thread
 * with poll, to Postfix and Dovecot directly and through each proxy
 * (microsocks, dante, tinyproxy), in plaintext, STARTTLS/STLS and implicit
 * TLS, while some of them fail (a refused connection, a certificate from
 * another CA, a server that never greets, one that stalls mid-dialogue):
 * each outcome is asserted (base code, extended number), the sent messages
 * are looked for in the mailbox, and the retrieved ones are compared with
 * what the blocking API retrieves. Then the two example programs run
 * against the same servers. Only loopback is contacted. */
#define _POSIX_C_SOURCE 200809L
#include "testlib.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/x509_vfy.h>
#include <signal.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- one session of the loop: a client and the steps it runs ---- */
enum { MAX_MSGS = 3, RETR_MAX = 5 };

struct task {
  const char *name;
  mw_smtp *smtp;
  mw_pop3 *pop3;
  int step, nsteps; /* SMTP: connect, batch, quit; POP3: + stat, retr */
  int rc;           /* MW_AGAIN while running, then the last result */
  int failed_step;  /* the step that failed, -1 */
  int eex;          /* its extended number */
  int finished;     /* the order in which the tasks ended, from 1 */
  long long deadline;
  /* SMTP */
  mw_smtp_message msgs[MAX_MSGS];
  size_t nmsgs;
  char markers[MAX_MSGS][96];
  char bodies[MAX_MSGS][512];
  const char *rcpt[1];
  char to[128];
  /* POP3 */
  unsigned long count, nums[RETR_MAX];
  size_t nnums;
  char *got[RETR_MAX]; /* each retrieved message, as delivered */
  size_t got_len[RETR_MAX];
  int ends;
};

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int deliver(void *ud, size_t i, unsigned long msg, const char *data,
                   size_t len, int end) {
  struct task *t = ud;
  CHECK(i < t->nnums && msg == t->nums[i]);
  if (i >= t->nnums)
    return 1;
  char *grown = realloc(t->got[i], t->got_len[i] + len + 1);
  CHECK(grown != NULL);
  t->got[i] = grown;
  memcpy(grown + t->got_len[i], data, len);
  t->got_len[i] += len;
  grown[t->got_len[i]] = '\0';
  t->ends += end;
  return 0;
}

/* The last RETR_MAX messages of the mailbox (STAT said how many). */
static int begin_retr(struct task *t) {
  uint64_t octets = 0;
  CHECK_INT(mw_pop3_stat_result(t->pop3, &t->count, &octets), MW_OK);
  t->nnums = 0;
  for (unsigned long m = t->count; m >= 1 && t->nnums < RETR_MAX; m--)
    t->nums[t->nnums++] = m;
  return mw_pop3_begin_retr_batch_cb(t->pop3, t->nums, t->nnums, deliver, t);
}

static int begin(struct task *t) {
  int last = t->step == t->nsteps - 1;
  if (t->smtp) {
    if (t->step == 0)
      return mw_smtp_begin_connect(t->smtp);
    return last ? mw_smtp_begin_quit(t->smtp)
                : mw_smtp_begin_send_batch(t->smtp, t->msgs, t->nmsgs);
  }
  if (t->step == 0)
    return mw_pop3_begin_connect(t->pop3);
  if (last)
    return mw_pop3_begin_quit(t->pop3);
  return t->step == 1 ? mw_pop3_begin_stat(t->pop3) : begin_retr(t);
}

static int act(struct task *t, int rev) {
  return t->smtp ? mw_smtp_socket_action(t->smtp, rev)
                 : mw_pop3_socket_action(t->pop3, rev);
}

static void advance(struct task *t, int rc) {
  while (rc != MW_AGAIN && t->step < t->nsteps) {
    if (rc != MW_OK) {
      const mw_errorinfo *e = t->smtp ? mw_smtp_extended_error(t->smtp)
                                      : mw_pop3_extended_error(t->pop3);
      t->failed_step = t->step;
      t->eex = mw_errorinfo_number(e);
      t->step = t->nsteps;
      break;
    }
    if (++t->step < t->nsteps) {
      rc = begin(t);
      if (rc == MW_OK)
        rc = act(t, 0);
    }
  }
  t->rc = rc;
  static int ended;
  if (t->step >= t->nsteps && !t->finished)
    t->finished = ++ended;
  if (rc == MW_AGAIN) {
    int fd = t->smtp ? mw_smtp_socket(t->smtp) : mw_pop3_socket(t->pop3);
    CHECK(fd >= 0); /* MW_AGAIN always names a descriptor */
  }
  int w = t->smtp ? mw_smtp_wait_ms(t->smtp) : mw_pop3_wait_ms(t->pop3);
  t->deadline = w < 0 ? -1 : now_ms() + w;
}

/* Run every task to its end from this thread; at most limit_ms. */
static void run_all(struct task *ts, size_t n, int limit_ms) {
  struct pollfd pfd[64];
  size_t idx[64];
  for (size_t i = 0; i < n; i++) {
    ts[i].failed_step = -1;
    int rc = begin(&ts[i]);
    advance(&ts[i], rc == MW_OK ? act(&ts[i], 0) : rc);
  }
  long long stop = now_ms() + limit_ms;
  for (;;) {
    size_t k = 0;
    long long next = stop;
    for (size_t i = 0; i < n; i++) {
      struct task *t = &ts[i];
      if (t->step >= t->nsteps)
        continue;
      int w = t->smtp ? mw_smtp_wait_events(t->smtp)
                      : mw_pop3_wait_events(t->pop3);
      pfd[k].fd = t->smtp ? mw_smtp_socket(t->smtp) : mw_pop3_socket(t->pop3);
      pfd[k].events = (short)((w & MW_WAIT_READ ? POLLIN : 0) |
                              (w & MW_WAIT_WRITE ? POLLOUT : 0));
      pfd[k].revents = 0;
      idx[k++] = i;
      if (t->deadline >= 0 && t->deadline < next)
        next = t->deadline;
    }
    if (k == 0 || now_ms() > stop)
      break;
    long long wait = next - now_ms();
    poll(pfd, k, wait < 0 ? 0 : (int)wait);
    long long now = now_ms();
    for (size_t j = 0; j < k; j++) {
      struct task *t = &ts[idx[j]];
      short re = pfd[j].revents;
      if (re || (t->deadline >= 0 && now >= t->deadline))
        advance(t,
                act(t, (re & (POLLIN | POLLHUP | POLLERR) ? MW_WAIT_READ : 0) |
                           (re & POLLOUT ? MW_WAIT_WRITE : 0)));
    }
  }
  for (size_t i = 0; i < n; i++)
    if (ts[i].step < ts[i].nsteps)
      tl_fail(__FILE__, __LINE__, "%s did not finish", ts[i].name);
}

/* ---- making the sessions ---- */
static mw_sslinfo *tls(int mode, const char *ca) {
  mw_sslinfo *ssl = mw_sslinfo_new();
  CHECK_INT(mw_sslinfo_set_mode(ssl, mode), MW_OK);
  CHECK_INT(mw_sslinfo_set_option_str(ssl, SSLCAFile, ca), MW_OK);
  return ssl;
}

static mw_proxyinfo *proxy(int kind, const char *port_key, int auth) {
  mw_proxyinfo *p = mw_proxyinfo_new(kind);
  CHECK_INT(mw_proxyinfo_set_server(p, "localhost", tl_env_port(port_key)),
            MW_OK);
  if (auth)
    CHECK_INT(mw_proxyinfo_set_credentials(p, tl_env("PROXY_USER"),
                                           tl_env("PROXY_PASS")),
              MW_OK);
  return p;
}

/* An SMTP session sending nmsgs marked messages to USER (mode -1:
 * plaintext); ssl and px may be NULL and are released here. */
static void smtp_task(struct task *t, const char *name, const char *host,
                      unsigned port, mw_sslinfo *ssl, mw_proxyinfo *px,
                      size_t nmsgs, int timeout_ms) {
  static int serial;
  memset(t, 0, sizeof *t);
  t->name = name;
  t->nsteps = 3;
  t->smtp = mw_smtp_new();
  CHECK_INT(mw_smtp_set_server(t->smtp, host, port), MW_OK);
  CHECK_INT(mw_smtp_set_timeout(t->smtp, timeout_ms), MW_OK);
  CHECK_INT(mw_smtp_set_helo_name(t->smtp, "itest.mailwire.test"), MW_OK);
  if (ssl)
    CHECK_INT(mw_smtp_set_sslinfo(t->smtp, ssl), MW_OK);
  if (px)
    CHECK_INT(mw_smtp_set_handler(t->smtp, px), MW_OK);
  mw_sslinfo_free(ssl);
  mw_proxyinfo_free(px);
  snprintf(t->to, sizeof t->to, "%s@%s", tl_env("USER"),
           tl_env("MAIL_DOMAIN"));
  t->rcpt[0] = t->to;
  t->nmsgs = nmsgs;
  for (size_t i = 0; i < nmsgs; i++) {
    snprintf(t->markers[i], sizeof t->markers[i], "mw-evloop-%ld-%d-n%04d",
             (long)time(NULL), (int)getpid(), ++serial);
    int len = snprintf(t->bodies[i], sizeof t->bodies[i],
                       "From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\n\r\n"
                       "sent by the event loop, session %s\r\n",
                       t->to, t->to, t->markers[i], name);
    t->msgs[i] =
        (mw_smtp_message){t->to, t->rcpt, 1, t->bodies[i], (size_t)len};
  }
}

static void pop3_task(struct task *t, const char *name, unsigned port,
                      mw_sslinfo *ssl, mw_proxyinfo *px, const char *user,
                      const char *pass) {
  memset(t, 0, sizeof *t);
  t->name = name;
  t->nsteps = 4;
  t->pop3 = mw_pop3_new();
  CHECK_INT(mw_pop3_set_server(t->pop3, "127.0.0.1", port), MW_OK);
  CHECK_INT(mw_pop3_set_timeout(t->pop3, 15000), MW_OK);
  CHECK_INT(mw_pop3_set_credentials(t->pop3, user, pass), MW_OK);
  if (ssl)
    CHECK_INT(mw_pop3_set_sslinfo(t->pop3, ssl), MW_OK);
  else
    CHECK_INT(mw_pop3_set_allow_plaintext_auth(t->pop3, 1), MW_OK);
  if (px)
    CHECK_INT(mw_pop3_set_handler(t->pop3, px), MW_OK);
  mw_sslinfo_free(ssl);
  mw_proxyinfo_free(px);
}

static void free_task(struct task *t) {
  mw_smtp_free(t->smtp);
  mw_pop3_free(t->pop3);
  for (size_t i = 0; i < RETR_MAX; i++)
    free(t->got[i]);
}

/* A listening socket that never accepts: the kernel completes the TCP
 * handshake, and the greeting never comes. */
static int silent_listener(unsigned *port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  CHECK(bind(fd, (struct sockaddr *)&a, sizeof a) == 0);
  CHECK(listen(fd, 8) == 0);
  getsockname(fd, (struct sockaddr *)&a, &len);
  *port = ntohs(a.sin_port);
  return fd;
}

static void check_ok(const struct task *t) {
  if (t->failed_step >= 0)
    tl_fail(__FILE__, __LINE__, "%s failed at step %d: %d", t->name,
            t->failed_step, t->eex);
}

static void check_failed(const struct task *t, int step, int code, int eex) {
  if (t->failed_step != step || t->rc != code || t->eex != eex)
    tl_fail(__FILE__, __LINE__,
            "%s: step %d, code %d, number %d; expected step %d, code %d, "
            "number %d",
            t->name, t->failed_step, t->rc, t->eex, step, code, eex);
}

/* ---- the tests ---- */

/* Seventeen SMTP sessions at once: Postfix in STARTTLS, implicit TLS and
 * plaintext, through each proxy, and five that fail in five ways (the
 * name that does not resolve goes through the resolver thread). The
 * others' messages all reach the mailbox. */
static void test_smtp_sessions_at_once(void) {
  const char *ca = tl_env("CA_FILE");
  unsigned smtp = tl_env_port("SMTP_PORT"), smtps = tl_env_port("SMTPS_PORT");
  unsigned notls = tl_env_port("SMTP_NOTLS_PORT");
  unsigned silent_port = 0;
  int silent = silent_listener(&silent_port);
  tl_server *stall = tl_server_start("S: 220 stalls after EHLO\n"
                                     "C: EHLO *\n"
                                     "SLEEP 4000\n");
  struct task ts[17];
  size_t n = 0;
  smtp_task(&ts[n++], "starttls 1", "127.0.0.1", smtp, tls(MODE_STARTTLS, ca),
            NULL, 3, 15000);
  smtp_task(&ts[n++], "starttls 2", "localhost", smtp, tls(MODE_STARTTLS, ca),
            NULL, 2, 15000);
  smtp_task(&ts[n++], "smtps 1", "127.0.0.1", smtps, tls(MODE_CHANNEL, ca),
            NULL, 2, 15000);
  smtp_task(&ts[n++], "smtps 2", "localhost", smtps, tls(MODE_CHANNEL, ca),
            NULL, 1, 15000);
  smtp_task(&ts[n++], "plain 1", "127.0.0.1", notls, NULL, NULL, 2, 15000);
  smtp_task(&ts[n++], "plain 2", "127.0.0.1", notls, NULL, NULL, 1, 15000);
  smtp_task(&ts[n++], "microsocks starttls", "127.0.0.1", smtp,
            tls(MODE_STARTTLS, ca),
            proxy(MW_PROXY_SOCKS5, "MICROSOCKS_PORT", 1), 1, 15000);
  smtp_task(&ts[n++], "dante socks5 smtps", "127.0.0.1", smtps,
            tls(MODE_CHANNEL, ca), proxy(MW_PROXY_SOCKS5, "DANTE_PORT", 0), 1,
            15000);
  smtp_task(&ts[n++], "dante socks5 auth", "127.0.0.1", smtp, NULL,
            proxy(MW_PROXY_SOCKS5, "DANTE_AUTH_PORT", 1), 1, 15000);
  smtp_task(&ts[n++], "dante socks4", "127.0.0.1", smtp, NULL,
            proxy(MW_PROXY_SOCKS4, "DANTE_PORT", 0), 1, 15000);
  smtp_task(&ts[n++], "dante socks4a starttls", "127.0.0.1", smtp,
            tls(MODE_STARTTLS, ca), proxy(MW_PROXY_SOCKS4A, "DANTE_PORT", 0),
            1, 15000);
  smtp_task(&ts[n++], "tinyproxy smtps", "127.0.0.1", smtps,
            tls(MODE_CHANNEL, ca), proxy(MW_PROXY_HTTP, "TINYPROXY_PORT", 1),
            1, 15000);
  size_t first_failing = n;
  smtp_task(&ts[n++], "refused", "127.0.0.1", tl_env_port("CLOSED_PORT"), NULL,
            NULL, 1, 15000);
  smtp_task(&ts[n++], "bad certificate", "127.0.0.1", smtps,
            tls(MODE_CHANNEL, tl_env("OTHER_CA_FILE")), NULL, 1, 15000);
  smtp_task(&ts[n++], "never greets", "127.0.0.1", silent_port, NULL, NULL, 1,
            1500);
  smtp_task(&ts[n++], "stalls after EHLO", "127.0.0.1", tl_server_port(stall),
            NULL, NULL, 1, 1500);
  smtp_task(&ts[n++], "no such name", "no-such-host.invalid", smtp, NULL, NULL,
            1, 15000);
  CHECK_INT(n, sizeof ts / sizeof ts[0]);
  run_all(ts, n, 60000);

  for (size_t i = 0; i < first_failing; i++)
    check_ok(&ts[i]);
  check_failed(&ts[first_failing], 0, errConnect, eexTCPConnect);
  check_failed(&ts[first_failing + 1], 0, errConnect, eexSSLCertificate);
  check_failed(&ts[first_failing + 2], 0, errTimeout, eexTimeout);
  check_failed(&ts[first_failing + 3], 0, errTimeout, eexTimeout);
  check_failed(&ts[first_failing + 4], 0, errConnect, eexDNS);
  CHECK_INT(mw_errorinfo_os_error_kind(
                mw_smtp_extended_error(ts[first_failing + 4].smtp)),
            MW_OS_ERROR_RESOLVER);
  CHECK(mw_errorinfo_verify_result(
            mw_smtp_extended_error(ts[first_failing + 1].smtp)) != 0);
  /* Nothing was sent to the server that stalled but EHLO. */
  tl_server_wait(stall, 10000);
  size_t rlen = 0;
  const char *rx = tl_server_received(stall, &rlen);
  CHECK(tl_contains(rx, rlen, "EHLO"));
  CHECK(!tl_contains(rx, rlen, "MAIL FROM"));
  tl_server_free(stall);
  close(silent);

  for (size_t i = 0; i < first_failing; i++)
    for (size_t m = 0; m < ts[i].nmsgs; m++) {
      size_t len = 0;
      char *got =
          tl_wait_delivery(tl_env("USER"), ts[i].markers[m], 30000, &len);
      if (!got)
        tl_fail(__FILE__, __LINE__, "%s: message %zu (%s) not delivered",
                ts[i].name, m, ts[i].markers[m]);
      else if (!tl_contains(got, len, ts[i].name))
        tl_fail(__FILE__, __LINE__, "%s: message %zu: not its body: %.*s",
                ts[i].name, m, (int)len, got);
      free(got);
    }
  for (size_t i = 0; i < n; i++)
    free_task(&ts[i]);
}

/* What the blocking API retrieves for message m of user. */
static char *blocking_retr(const char *user, const char *pass, unsigned long m,
                           size_t *len) {
  mw_pop3 *c = mw_pop3_new();
  mw_pop3_set_server(c, "127.0.0.1", tl_env_port("POP3S_PORT"));
  mw_sslinfo *ssl = tls(MODE_CHANNEL, tl_env("CA_FILE"));
  mw_pop3_set_sslinfo(c, ssl);
  mw_sslinfo_free(ssl);
  mw_pop3_set_credentials(c, user, pass);
  char *out = NULL;
  *len = 0;
  CHECK_INT(mw_pop3_connect(c), MW_OK);
  CHECK_INT(mw_pop3_retr(c, m, &out, len), MW_OK);
  mw_pop3_quit(c);
  mw_pop3_free(c);
  return out;
}

/* Nine POP3 sessions at once (POP3S, STLS, through three proxies; two
 * users, under Dovecot's per-user limit of 10) and two that fail. Each
 * retrieves the last messages of its mailbox as one batch; they match
 * what the blocking API retrieves. */
static void test_pop3_sessions_at_once(void) {
  const char *ca = tl_env("CA_FILE");
  const char *u1 = tl_env("USER"), *p1 = tl_env("PASS");
  const char *u2 = tl_env("USER2"), *p2 = tl_env("PASS2");
  unsigned pop3 = tl_env_port("POP3_PORT"), pop3s = tl_env_port("POP3S_PORT");
  struct task ts[11];
  size_t n = 0;
  pop3_task(&ts[n++], "pop3s alice 1", pop3s, tls(MODE_CHANNEL, ca), NULL, u1,
            p1);
  pop3_task(&ts[n++], "pop3s alice 2", pop3s, tls(MODE_CHANNEL, ca), NULL, u1,
            p1);
  pop3_task(&ts[n++], "stls alice", pop3, tls(MODE_STARTTLS, ca), NULL, u1,
            p1);
  pop3_task(&ts[n++], "pop3s bob 1", pop3s, tls(MODE_CHANNEL, ca), NULL, u2,
            p2);
  pop3_task(&ts[n++], "stls bob", pop3, tls(MODE_STARTTLS, ca), NULL, u2, p2);
  pop3_task(&ts[n++], "plain bob", pop3, NULL, NULL, u2, p2);
  pop3_task(&ts[n++], "microsocks pop3s", pop3s, tls(MODE_CHANNEL, ca),
            proxy(MW_PROXY_SOCKS5, "MICROSOCKS_PORT", 1), u1, p1);
  pop3_task(&ts[n++], "dante socks4 stls", pop3, tls(MODE_STARTTLS, ca),
            proxy(MW_PROXY_SOCKS4, "DANTE_PORT", 0), u1, p1);
  pop3_task(&ts[n++], "tinyproxy pop3s", pop3s, tls(MODE_CHANNEL, ca),
            proxy(MW_PROXY_HTTP, "TINYPROXY_PORT", 1), u1, p1);
  size_t first_failing = n;
  pop3_task(&ts[n++], "refused", tl_env_port("CLOSED_PORT"), NULL, NULL, u1,
            p1);
  pop3_task(&ts[n++], "bad certificate", pop3s,
            tls(MODE_CHANNEL, tl_env("OTHER_CA_FILE")), NULL, u1, p1);
  CHECK_INT(n, sizeof ts / sizeof ts[0]);
  run_all(ts, n, 60000);

  for (size_t i = 0; i < first_failing; i++) {
    check_ok(&ts[i]);
    CHECK(ts[i].count > 0); /* the tests before delivered to both */
    CHECK_INT(ts[i].ends, (long long)ts[i].nnums);
  }
  check_failed(&ts[first_failing], 0, errConnect, eexTCPConnect);
  check_failed(&ts[first_failing + 1], 0, errConnect, eexSSLCertificate);
  /* The newest message of each user, as the blocking API gets it. */
  for (size_t i = 0; i < first_failing; i++) {
    if (ts[i].nnums == 0 || ts[i].failed_step >= 0)
      continue;
    int bob = strstr(ts[i].name, "bob") != NULL;
    size_t len = 0;
    char *ref =
        blocking_retr(bob ? u2 : u1, bob ? p2 : p1, ts[i].nums[0], &len);
    CHECK(ref != NULL && len == ts[i].got_len[0] &&
          memcmp(ref, ts[i].got[0], len) == 0);
    mw_free(ref);
  }
  for (size_t i = 0; i < n; i++)
    free_task(&ts[i]);
}

/* Give bob mail first (the POP3 test reads both mailboxes). */
static void test_deliver_to_bob(void) {
  mw_smtp *c = mw_smtp_new();
  mw_smtp_set_server(c, "127.0.0.1", tl_env_port("SMTP_NOTLS_PORT"));
  char to[128];
  snprintf(to, sizeof to, "%s@%s", tl_env("USER2"), tl_env("MAIL_DOMAIN"));
  const char *rcpts[] = {to};
  static const char msg[] = "Subject: for bob (evloop)\r\n\r\nhello\r\n";
  CHECK_INT(mw_smtp_connect(c), MW_OK);
  CHECK_INT(mw_smtp_send(c, to, rcpts, 1, msg, sizeof msg - 1), MW_OK);
  mw_smtp_quit(c);
  mw_smtp_free(c);
  char *got =
      tl_wait_delivery(tl_env("USER2"), "for bob (evloop)", 30000, NULL);
  CHECK(got != NULL);
  free(got);
}

/* Descriptors open in this process. */
/* ---- revocation through the loop ----
 * The PKI of tests/servers/revocation-pki.sh, its OCSP responder
 * (openssl ocsp), and one openssl s_server per certificate. */
static char pki[256];
static unsigned ocsp_port, slow_port;
static pid_t ocsp_pid = -1;

/* Start argv in the PKI dir, its output to log there. */
static pid_t spawn_in_pki(char *const argv[], const char *log) {
  pid_t pid = fork();
  if (pid == 0) {
    int fd = chdir(pki) == 0 ? open(log, O_WRONLY | O_CREAT, 0644) : -1;
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    execvp(argv[0], argv);
    _exit(127);
  }
  return pid;
}

static void stop_child(pid_t *pid) {
  if (*pid > 0) {
    kill(*pid, SIGTERM);
    waitpid(*pid, NULL, 0);
  }
  *pid = -1;
}

/* Poll (at most 10 s) until pred(arg) holds. */
static int wait_until(int (*pred)(const void *), const void *arg) {
  for (int i = 0; i < 200; i++) {
    if (pred(arg))
      return 1;
    poll(NULL, 0, 50);
  }
  return 0;
}

static int accepts(const void *arg) {
  unsigned port = *(const unsigned *)arg;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
  if (fd >= 0)
    close(fd);
  return ok;
}

/* openssl ocsp takes one connection at a time and hangs on a probe that
 * sends nothing: its log says when it is ready. */
static int ocsp_ready(const void *arg) {
  (void)arg;
  char path[300], buf[512];
  snprintf(path, sizeof path, "%s/ocsp.log", pki);
  FILE *f = fopen(path, "r");
  size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
  if (f)
    fclose(f);
  buf[n] = '\0';
  return strstr(buf, "waiting for OCSP client connections") != NULL;
}

static unsigned unused_port(void) {
  unsigned port = 0;
  close(silent_listener(&port));
  return port;
}

static int pki_setup(int *slow_fd) {
  snprintf(pki, sizeof pki, "/tmp/mw-evloop-rev-XXXXXX");
  CHECK(mkdtemp(pki) != NULL);
  *slow_fd = silent_listener(&slow_port); /* a responder that hangs */
  ocsp_port = unused_port();
  char cmd[1024];
  snprintf(cmd, sizeof cmd,
           "%s/../servers/revocation-pki.sh %s %u %u %u %u >%s/pki.log 2>&1",
           MW_TESTS_C_DIR, pki, ocsp_port, unused_port(), unused_port(),
           slow_port, pki);
  if (system(cmd) != 0)
    return -1;
  char port[16];
  snprintf(port, sizeof port, "%u", ocsp_port);
  char *argv[] = {"openssl", "ocsp",    "-index",   "int-index.txt",
                  "-port",   port,      "-rsigner", "int.pem",
                  "-rkey",   "int.key", "-CA",      "int.pem",
                  "-ndays",  "7",       NULL};
  ocsp_pid = spawn_in_pki(argv, "ocsp.log");
  return wait_until(ocsp_ready, NULL) ? 0 : -1;
}

/* A TLS server with the PKI's certificate name (no protocol after the
 * handshake: enough for the check). */
static pid_t serve_leaf(const char *name, unsigned *port) {
  *port = unused_port();
  char accept[32], cert[64], key[64];
  snprintf(accept, sizeof accept, "127.0.0.1:%u", *port);
  snprintf(cert, sizeof cert, "%s.pem", name);
  snprintf(key, sizeof key, "%s.key", name);
  char *argv[] = {"openssl", "s_server",    "-accept", accept,
                  "-cert",   cert,          "-key",    key,
                  "-quiet",  "-cert_chain", "int.pem", NULL};
  pid_t pid = spawn_in_pki(argv, "s_server.log");
  CHECK(wait_until(accepts, port)); /* the probe is the first accept */
  return pid;
}

/* Implicit TLS to the server of leaf, the PKI's root trusted; revocation
 * options strict about offline servers, within timeout_ms. */
static void rev_task(struct task *t, const char *name, unsigned port,
                     long timeout_ms) {
  char ca[300];
  snprintf(ca, sizeof ca, "%s/root.pem", pki);
  mw_sslinfo *ssl = tls(MODE_CHANNEL, ca);
  CHECK_INT(mw_sslinfo_set_option_int(ssl, SSLRevocationCheckEnd, 1), MW_OK);
  CHECK_INT(mw_sslinfo_set_option_int(ssl, SSLRevocationIgnoreRO, 0), MW_OK);
  CHECK_INT(mw_sslinfo_set_option_int(ssl, SSLRevocationTimeout, timeout_ms),
            MW_OK);
  smtp_task(t, name, "127.0.0.1", port, ssl, NULL, 0, 15000);
  t->nsteps = 1; /* connect only: it is refused after the handshake */
}

static const char *rev_detail(const struct task *t) {
  const char *d = NULL; /* the connection's own outputs */
  CHECK_INT(mw_smtp_tls_option_str(t->smtp, SSLRevocationDetail, &d), MW_OK);
  return d ? d : "";
}

/* Revocation fetches go through the loop, not around it: a session whose
 * OCSP responder hangs (refused when its SSLRevocationTimeout runs out,
 * as "offline") while a session to Postfix completes and a third one is
 * refused by the real responder's "revoked", and one whose responder is
 * down. The Postfix session ends first: the hanging responder did not
 * block the loop. */
static void test_revocation_through_the_loop(void) {
  int slow_fd = -1;
  if (pki_setup(&slow_fd) != 0) {
    tl_fail(__FILE__, __LINE__, "revocation PKI not ready, see %s", pki);
    return;
  }
  unsigned slow_srv = 0, rev_srv = 0, down_srv = 0;
  pid_t slow_pid = serve_leaf("ocspslow", &slow_srv);
  pid_t rev_pid = serve_leaf("ocsprev", &rev_srv);
  pid_t down_pid = serve_leaf("ocspdown", &down_srv);
  struct task ts[4];
  rev_task(&ts[0], "responder hangs", slow_srv, 4000);
  rev_task(&ts[1], "responder says revoked", rev_srv, 10000);
  smtp_task(&ts[2], "postfix meanwhile", "127.0.0.1",
            tl_env_port("SMTP_NOTLS_PORT"), NULL, NULL, 1, 15000);
  rev_task(&ts[3], "responder down", down_srv, 10000);
  run_all(ts, 4, 60000);

  check_failed(&ts[0], 0, errConnect, eexSSLCertificate);
  CHECK_INT(mw_errorinfo_verify_result(mw_smtp_extended_error(ts[0].smtp)),
            X509_V_ERR_OCSP_VERIFY_NEEDED);
  CHECK(strstr(rev_detail(&ts[0]), "within the time limit") != NULL);
  check_failed(&ts[1], 0, errConnect, eexSSLCertificate);
  CHECK_INT(mw_errorinfo_verify_result(mw_smtp_extended_error(ts[1].smtp)),
            X509_V_ERR_CERT_REVOKED);
  CHECK(strstr(rev_detail(&ts[1]), "revoked (OCSP responder") != NULL);
  check_ok(&ts[2]);
  CHECK(ts[2].finished < ts[0].finished);
  /* in the blocking driver's words (the matrix's ocsp-down) */
  check_failed(&ts[3], 0, errConnect, eexSSLCertificate);
  CHECK(strstr(rev_detail(&ts[3]), "OCSP responder offline: cannot connect "
                                   "to 127.0.0.1:") != NULL);
  for (size_t i = 0; i < 4; i++)
    free_task(&ts[i]);
  stop_child(&slow_pid);
  stop_child(&rev_pid);
  stop_child(&down_pid);
  stop_child(&ocsp_pid);
  close(slow_fd);
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf %s", pki);
  if (system(cmd) != 0)
    fprintf(stderr, "could not remove %s\n", pki);
}

static int open_fds(void) {
  int n = 0;
  for (int fd = 0; fd < 4096; fd++)
    n += fcntl(fd, F_GETFD) != -1;
  return n;
}

/* Freeing a client in the middle of an operation (its name being
 * resolved, its connection waiting for the greeting, a POP3 client
 * between operations) closes the driver's descriptors and frees its state
 * (ASan checks the memory); the resolver thread finishes on its own. */
static void test_free_mid_operation(void) {
  unsigned port = 0;
  int silent = silent_listener(&port);
  int before = open_fds();
  for (int i = 0; i < 2; i++) {
    mw_smtp *c = mw_smtp_new();
    CHECK_INT(mw_smtp_set_server(c, i ? "127.0.0.1" : "localhost", port),
              MW_OK);
    CHECK_INT(mw_smtp_begin_connect(c), MW_OK);
    int rc = mw_smtp_socket_action(c, 0);
    for (int k = 0; k < 50 && rc == MW_AGAIN && i == 1; k++) {
      struct pollfd p = {mw_smtp_socket(c), POLLIN, 0};
      poll(&p, 1, 10); /* until connected and waiting for the greeting */
      rc = mw_smtp_socket_action(c, 0);
    }
    CHECK_INT(rc, MW_AGAIN);
    CHECK(mw_smtp_socket(c) >= 0);
    mw_smtp_free(c);
  }
  mw_pop3 *p = mw_pop3_new();
  CHECK_INT(mw_pop3_set_server(p, "127.0.0.1", tl_env_port("POP3S_PORT")),
            MW_OK);
  mw_sslinfo *ssl = tls(MODE_CHANNEL, tl_env("CA_FILE"));
  CHECK_INT(mw_pop3_set_sslinfo(p, ssl), MW_OK);
  mw_sslinfo_free(ssl);
  CHECK_INT(mw_pop3_begin_connect(p), MW_OK);
  int rc = mw_pop3_socket_action(p, 0);
  while (rc == MW_AGAIN) {
    struct pollfd pf = {
        mw_pop3_socket(p),
        (short)(mw_pop3_wait_events(p) & MW_WAIT_WRITE ? POLLOUT : POLLIN), 0};
    poll(&pf, 1, mw_pop3_wait_ms(p));
    rc = mw_pop3_socket_action(p, 0);
  }
  CHECK_INT(rc, MW_OK);
  CHECK_INT(mw_pop3_socket(p), -1);  /* nothing awaited between operations */
  CHECK_INT(open_fds(), before + 1); /* its connection */
  mw_pop3_free(p);
  CHECK_INT(open_fds(), before);
  close(silent);
}

/* The example programs, run as a user would run them. */
static int run_example(const char *cmd) {
  int st = system(cmd);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_examples(void) {
  char cmd[2048], to[128];
  snprintf(to, sizeof to, "%s@%s", tl_env("USER"), tl_env("MAIL_DOMAIN"));
  snprintf(cmd, sizeof cmd,
           "%s/evloop_send 127.0.0.1 %u 8 3 %s %s starttls %s >/dev/null",
           MW_EXAMPLES_DIR, tl_env_port("SMTP_PORT"), to, to,
           tl_env("CA_FILE"));
  CHECK_INT(run_example(cmd), 0);
  snprintf(cmd, sizeof cmd,
           "%s/evloop_send 127.0.0.1 %u 2 1 %s %s plain >/dev/null",
           MW_EXAMPLES_DIR, tl_env_port("CLOSED_PORT"), to, to);
  CHECK_INT(run_example(cmd), 1); /* refused: the exit status says so */
  snprintf(cmd, sizeof cmd,
           "%s/evloop_fetch 127.0.0.1 %u 6 %s %s '%s' %s '%s' >/dev/null",
           MW_EXAMPLES_DIR, tl_env_port("POP3S_PORT"), tl_env("CA_FILE"),
           tl_env("USER"), tl_env("PASS"), tl_env("USER2"), tl_env("PASS2"));
  CHECK_INT(run_example(cmd), 0);
}

int main(void) {
  RUN(test_smtp_sessions_at_once);
  RUN(test_deliver_to_bob);
  RUN(test_pop3_sessions_at_once);
  RUN(test_free_mid_operation);
  RUN(test_revocation_through_the_loop);
  RUN(test_examples);
  return tl_finish();
}
