/* evloop_fetch.c - retrieve every message of many POP3S mailboxes at once,
 * from one thread, with poll and mailwire's event-loop driver.
 *
 *   evloop_fetch HOST PORT SESSIONS CAFILE USER PASS [USER PASS ...]
 *
 * Session i logs in as the (i mod number of users)-th user over implicit
 * TLS, asks STAT, retrieves all the messages as one pipelined batch
 * (streamed to a callback: constant memory however large they are), then
 * says QUIT (nothing is deleted). It prints, per session, the messages and
 * bytes it received, and exits 0 when every session got all of its
 * mailbox.
 *
 * The same pattern as evloop_send.c: begin an operation, then call
 * mw_pop3_socket_action when its descriptor is ready or its wait time has
 * passed, until the result is something other than MW_AGAIN. */
#define _POSIX_C_SOURCE 200809L
#include <mailwire.h>

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum step { CONNECT, STAT, RETR, QUIT, FINISHED };

struct session {
  mw_pop3 *c;
  enum step step;
  int rc;
  long long deadline;
  int failed;
  unsigned long count; /* from STAT */
  unsigned long *msgs; /* 1..count */
  unsigned long got;   /* messages received to their end */
  unsigned long long bytes;
};

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Each piece of each message; a real program would write it somewhere. */
static int take(void *ud, size_t i, unsigned long msg, const char *data,
                size_t len, int end) {
  struct session *s = ud;
  (void)i;
  (void)msg;
  (void)data;
  s->bytes += len;
  s->got += end ? 1 : 0;
  return 0;
}

/* What STAT said decides the batch. */
static int begin_retr(struct session *s) {
  uint64_t octets = 0;
  mw_pop3_stat_result(s->c, &s->count, &octets);
  if (s->count == 0)
    return MW_OK;
  s->msgs = calloc(s->count, sizeof *s->msgs);
  for (unsigned long i = 0; i < s->count; i++)
    s->msgs[i] = i + 1;
  return mw_pop3_begin_retr_batch_cb(s->c, s->msgs, s->count, take, s);
}

static int begin(struct session *s) {
  switch (s->step) {
  case CONNECT:
    return mw_pop3_begin_connect(s->c);
  case STAT:
    return mw_pop3_begin_stat(s->c);
  case RETR:
    return begin_retr(s);
  case QUIT:
    return mw_pop3_begin_quit(s->c);
  default:
    return MW_OK;
  }
}

/* An empty mailbox has no batch to run: RETR is then done at once. */
static int start(struct session *s) {
  int rc = begin(s);
  if (rc != MW_OK || (s->step == RETR && s->count == 0))
    return rc;
  return mw_pop3_socket_action(s->c, 0);
}

static void advance(struct session *s, int rc) {
  while (rc != MW_AGAIN && s->step != FINISHED) {
    if (rc != MW_OK) {
      s->failed = rc;
      s->step = FINISHED;
      break;
    }
    s->step++;
    if (s->step != FINISHED)
      rc = start(s);
  }
  s->rc = rc;
  int wait = mw_pop3_wait_ms(s->c);
  s->deadline = wait < 0 ? -1 : now_ms() + wait;
}

static short poll_events(mw_pop3 *c) {
  int w = mw_pop3_wait_events(c);
  return (short)((w & MW_WAIT_READ ? POLLIN : 0) |
                 (w & MW_WAIT_WRITE ? POLLOUT : 0));
}

static int revents_to_wait(short re) {
  return (re & (POLLIN | POLLHUP | POLLERR) ? MW_WAIT_READ : 0) |
         (re & (POLLOUT | POLLERR) ? MW_WAIT_WRITE : 0);
}

static size_t round_of(struct session *ss, size_t n, struct pollfd *pfd,
                       size_t *idx) {
  size_t k = 0;
  long long next = -1;
  for (size_t i = 0; i < n; i++) {
    if (ss[i].step == FINISHED)
      continue;
    pfd[k] = (struct pollfd){mw_pop3_socket(ss[i].c), poll_events(ss[i].c), 0};
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
      advance(s, mw_pop3_socket_action(s->c, revents_to_wait(pfd[j].revents)));
  }
  return k;
}

int main(int argc, char **argv) {
  if (argc < 7 || (argc - 5) % 2) {
    fprintf(stderr,
            "usage: %s HOST PORT SESSIONS CAFILE USER PASS "
            "[USER PASS ...]\n",
            argv[0]);
    return 2;
  }
  size_t n = (size_t)atol(argv[3]), users = (size_t)(argc - 5) / 2;
  mw_sslinfo *ssl = mw_sslinfo_new();
  mw_sslinfo_set_mode(ssl, MODE_CHANNEL);
  mw_sslinfo_set_option_str(ssl, SSLCAFile, argv[4]);
  struct session *ss = calloc(n, sizeof *ss);
  struct pollfd *pfd = calloc(n, sizeof *pfd);
  size_t *idx = calloc(n, sizeof *idx);
  for (size_t i = 0; i < n; i++) {
    ss[i].c = mw_pop3_new();
    mw_pop3_set_server(ss[i].c, argv[1], (unsigned)atoi(argv[2]));
    mw_pop3_set_sslinfo(ss[i].c, ssl);
    mw_pop3_set_credentials(ss[i].c, argv[5 + 2 * (i % users)],
                            argv[6 + 2 * (i % users)]);
    ss[i].step = CONNECT;
    advance(&ss[i], start(&ss[i]));
  }
  while (round_of(ss, n, pfd, idx) > 0)
    ;
  int bad = 0;
  for (size_t i = 0; i < n; i++) {
    const mw_errorinfo *e = mw_pop3_extended_error(ss[i].c);
    if (ss[i].failed)
      printf("session %zu: %s (%d): %s\n", i, mw_err_name(ss[i].failed),
             mw_errorinfo_number(e), mw_errorinfo_text(e));
    else
      printf("session %zu: %lu of %lu messages, %llu bytes\n", i, ss[i].got,
             ss[i].count, ss[i].bytes);
    bad |= ss[i].failed != 0 || ss[i].got != ss[i].count;
    mw_pop3_free(ss[i].c);
    free(ss[i].msgs);
  }
  mw_sslinfo_free(ssl);
  free(ss);
  free(pfd);
  free(idx);
  return bad;
}
