/* evloop_send.c - send a batch of messages over many SMTP sessions at once,
 * from one thread, with poll and mailwire's event-loop driver.
 *
 *   evloop_send HOST PORT SESSIONS COUNT FROM TO [plain|starttls|tls CAFILE]
 *
 * Each session connects, sends COUNT small messages from FROM to TO as one
 * batch (pipelined when the server offers it), then says QUIT. The
 * program prints one line per session and exits 0 when every message of
 * every session was accepted.
 *
 * The pattern: start an operation with a mw_smtp_begin_* call, then call
 * mw_smtp_socket_action whenever the session's descriptor is ready (or its
 * wait time has passed) until it returns something other than MW_AGAIN:
 * the operation's result. */
#define _POSIX_C_SOURCE 200809L
#include <mailwire.h>

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum step { CONNECT, SEND, QUIT, FINISHED };

struct session {
  mw_smtp *c;
  enum step step;
  int rc;             /* MW_AGAIN while an operation runs */
  long long deadline; /* when to call socket_action even if not ready */
  int failed;         /* the base code of the step that failed, else 0 */
};

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static mw_smtp_message *messages;
static size_t count;

/* Start the session's next step: connect, the batch, QUIT. */
static int begin(struct session *s) {
  switch (s->step) {
  case CONNECT:
    return mw_smtp_begin_connect(s->c);
  case SEND:
    return mw_smtp_begin_send_batch(s->c, messages, count);
  case QUIT:
    return mw_smtp_begin_quit(s->c);
  default:
    return MW_OK;
  }
}

/* After socket_action: remember what to wait for, or go to the next step
 * (or stop at a failure). */
static void advance(struct session *s, int rc) {
  while (rc != MW_AGAIN && s->step != FINISHED) {
    if (rc != MW_OK) {
      s->failed = rc;
      s->step = FINISHED;
      break;
    }
    s->step++;
    if (s->step == FINISHED)
      break;
    rc = begin(s);
    if (rc == MW_OK)
      rc = mw_smtp_socket_action(s->c, 0);
  }
  s->rc = rc;
  int wait = mw_smtp_wait_ms(s->c);
  s->deadline = wait < 0 ? -1 : now_ms() + wait;
}

static short poll_events(mw_smtp *c) {
  int w = mw_smtp_wait_events(c);
  return (short)((w & MW_WAIT_READ ? POLLIN : 0) |
                 (w & MW_WAIT_WRITE ? POLLOUT : 0));
}

static int revents_to_wait(short re) {
  return (re & (POLLIN | POLLHUP | POLLERR) ? MW_WAIT_READ : 0) |
         (re & (POLLOUT | POLLERR) ? MW_WAIT_WRITE : 0);
}

/* One round: poll every running session's descriptor, then act on those
 * that are ready or whose wait time passed. Returns how many still run. */
static size_t round_of(struct session *ss, size_t n, struct pollfd *pfd,
                       size_t *idx) {
  size_t k = 0;
  long long next = -1;
  for (size_t i = 0; i < n; i++) {
    if (ss[i].step == FINISHED)
      continue;
    pfd[k] = (struct pollfd){mw_smtp_socket(ss[i].c), poll_events(ss[i].c), 0};
    idx[k++] = i;
    if (ss[i].deadline >= 0 && (next < 0 || ss[i].deadline < next))
      next = ss[i].deadline;
  }
  if (k == 0)
    return 0;
  long long wait = next < 0 ? -1 : next - now_ms();
  poll(pfd, k, wait < 0 ? (next < 0 ? -1 : 0) : (int)wait);
  long long t = now_ms();
  for (size_t j = 0; j < k; j++) {
    struct session *s = &ss[idx[j]];
    if (pfd[j].revents || (s->deadline >= 0 && t >= s->deadline))
      advance(s, mw_smtp_socket_action(s->c, revents_to_wait(pfd[j].revents)));
  }
  return k;
}

static mw_sslinfo *tls_for(const char *mode, const char *ca) {
  if (!mode || !strcmp(mode, "plain"))
    return NULL;
  mw_sslinfo *ssl = mw_sslinfo_new();
  mw_sslinfo_set_mode(ssl, strcmp(mode, "tls") ? MODE_STARTTLS : MODE_CHANNEL);
  if (ca)
    mw_sslinfo_set_option_str(ssl, SSLCAFile, ca);
  return ssl;
}

int main(int argc, char **argv) {
  if (argc < 7) {
    fprintf(stderr,
            "usage: %s HOST PORT SESSIONS COUNT FROM TO "
            "[plain|starttls|tls CAFILE]\n",
            argv[0]);
    return 2;
  }
  size_t n = (size_t)atol(argv[3]);
  count = (size_t)atol(argv[4]);
  const char *rcpts[] = {argv[6]};
  static const char body[] = "Subject: evloop_send\r\n\r\nHello from one "
                             "thread among many sessions.\r\n";
  messages = calloc(count, sizeof *messages);
  for (size_t i = 0; i < count; i++)
    messages[i] = (mw_smtp_message){argv[5], rcpts, 1, body, sizeof body - 1};
  mw_sslinfo *ssl =
      tls_for(argc > 7 ? argv[7] : NULL, argc > 8 ? argv[8] : NULL);
  struct session *ss = calloc(n, sizeof *ss);
  struct pollfd *pfd = calloc(n, sizeof *pfd);
  size_t *idx = calloc(n, sizeof *idx);
  for (size_t i = 0; i < n; i++) {
    ss[i].c = mw_smtp_new();
    mw_smtp_set_server(ss[i].c, argv[1], (unsigned)atoi(argv[2]));
    if (ssl)
      mw_smtp_set_sslinfo(ss[i].c, ssl);
    ss[i].step = CONNECT;
    int rc = begin(&ss[i]);
    advance(&ss[i], rc == MW_OK ? mw_smtp_socket_action(ss[i].c, 0) : rc);
  }
  while (round_of(ss, n, pfd, idx) > 0)
    ;
  int bad = 0;
  for (size_t i = 0; i < n; i++) {
    const mw_errorinfo *e = mw_smtp_extended_error(ss[i].c);
    if (ss[i].failed)
      printf("session %zu: %s (%d): %s\n", i, mw_err_name(ss[i].failed),
             mw_errorinfo_number(e), mw_errorinfo_text(e));
    else
      printf("session %zu: %zu messages sent\n", i, count);
    bad |= ss[i].failed != 0;
    mw_smtp_free(ss[i].c);
  }
  mw_sslinfo_free(ssl);
  free(ss);
  free(pfd);
  free(idx);
  free(messages);
  return bad;
}
