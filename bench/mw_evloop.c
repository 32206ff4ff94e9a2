/* mw_evloop.c - the mailwire client of the concurrency scenario: SESSIONS
 * sessions from one thread, with poll and the event-loop driver
 * (mw_X_socket_action), the peer of curl_multi.c.
 *   mw_evloop smtp HOST PORT SESSIONS COUNT SIZE [batch|loop] [tls|starttls
 * CAFILE] each session: connect, COUNT messages of SIZE bytes (one batch, or
 *     one send after the other), QUIT
 *   mw_evloop pop3 HOST PORT SESSIONS COUNT USER PASS CAFILE
 *     each session: connect (POP3S), RETR 1..COUNT as one batch, QUIT
 *   mw_evloop idle HOST PORT SESSIONS smtp|pop3 [tls CAFILE [USER PASS]]
 *     SESSIONS connected sessions, then prints
 *     "IDLE sessions baseline_kb rss_kb per_session_bytes"; the baseline is
 *     the RSS before the clients were made (library and SSLInfo ready).
 * With MW_EVLOOP_EPOLL set in the environment the loop waits with epoll
 * (registrations kept in step with mw_X_socket / mw_X_wait_events)
 * instead of one poll over every session per round.
 * Exits 0 when every session did everything; a summary on stderr. */
#define _POSIX_C_SOURCE 200809L
#include "mailwire.h"

#include <poll.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* One session: a client of either kind and the steps still to run. */
struct job {
  mw_smtp *smtp;
  mw_pop3 *pop3;
  int step, nsteps;
  int failed;
  long long deadline;
  int reg_fd, reg_ev; /* epoll: what is registered for this session */
};

static struct {
  mw_smtp_message *msgs; /* SMTP: the messages of a session */
  size_t count;
  int loop;            /* one send after the other, not a batch */
  unsigned long *nums; /* POP3: 1..count */
  unsigned long long got, done;
  int epfd;           /* epoll mode: the epoll instance, else -1 */
  struct job **owner; /* epoll: fd -> the session that registered it */
  size_t owners;
} cfg = {.epfd = -1};

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int discard(void *ud, size_t i, unsigned long msg, const char *data,
                   size_t len, int end) {
  (void)ud;
  (void)i;
  (void)msg;
  (void)data;
  cfg.got += len;
  cfg.done += end != 0;
  return 0;
}

/* Step k of a session: 0 connect, then the work, then QUIT. */
static int begin(struct job *j) {
  int last = j->step == j->nsteps - 1;
  if (j->smtp) {
    if (j->step == 0)
      return mw_smtp_begin_connect(j->smtp);
    if (last)
      return mw_smtp_begin_quit(j->smtp);
    if (cfg.loop) {
      const mw_smtp_message *m = &cfg.msgs[j->step - 1];
      return mw_smtp_begin_send(j->smtp, m->from, m->rcpts, m->nrcpts, m->data,
                                m->len);
    }
    return mw_smtp_begin_send_batch(j->smtp, cfg.msgs, cfg.count);
  }
  if (j->step == 0)
    return mw_pop3_begin_connect(j->pop3);
  if (last)
    return mw_pop3_begin_quit(j->pop3);
  return mw_pop3_begin_retr_batch_cb(j->pop3, cfg.nums, cfg.count, discard,
                                     NULL);
}

static int act(struct job *j, int rev) {
  return j->smtp ? mw_smtp_socket_action(j->smtp, rev)
                 : mw_pop3_socket_action(j->pop3, rev);
}

static void watch(struct job *j);

static void advance(struct job *j, int rc) {
  while (rc != MW_AGAIN && j->step < j->nsteps) {
    if (rc != MW_OK) {
      const mw_errorinfo *e = j->smtp ? mw_smtp_extended_error(j->smtp)
                                      : mw_pop3_extended_error(j->pop3);
      if (!j->failed)
        fprintf(stderr, "mw_evloop: step %d: %d %s\n", j->step,
                mw_errorinfo_number(e), mw_errorinfo_text(e));
      j->failed = 1;
      j->step = j->nsteps;
      break;
    }
    if (++j->step < j->nsteps) {
      rc = begin(j);
      if (rc == MW_OK)
        rc = act(j, 0);
    }
  }
  int w = j->smtp ? mw_smtp_wait_ms(j->smtp) : mw_pop3_wait_ms(j->pop3);
  j->deadline = w < 0 ? -1 : now_ms() + w;
  if (cfg.epfd >= 0)
    watch(j);
}

/* epoll mode: keep the registration in step with what the session
 * waits for. The driver may have closed the old descriptor (closing
 * removes it from the set) and another session may now own that number,
 * so only its owner removes it. */
static void watch(struct job *j) {
  int done = j->step >= j->nsteps;
  int fd = done      ? -1
           : j->smtp ? mw_smtp_socket(j->smtp)
                     : mw_pop3_socket(j->pop3);
  int w = done      ? 0
          : j->smtp ? mw_smtp_wait_events(j->smtp)
                    : mw_pop3_wait_events(j->pop3);
  struct epoll_event e = {.events = (w & MW_WAIT_READ ? EPOLLIN : 0u) |
                                    (w & MW_WAIT_WRITE ? EPOLLOUT : 0u),
                          .data.ptr = j};
  if (fd == j->reg_fd && w == j->reg_ev)
    return;
  if (j->reg_fd >= 0 && fd != j->reg_fd && (size_t)j->reg_fd < cfg.owners &&
      cfg.owner[j->reg_fd] == j) {
    epoll_ctl(cfg.epfd, EPOLL_CTL_DEL, j->reg_fd, NULL);
    cfg.owner[j->reg_fd] = NULL;
  }
  if (fd >= 0 && (size_t)fd < cfg.owners) {
    int op =
        fd == j->reg_fd && cfg.owner[fd] == j ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (epoll_ctl(cfg.epfd, op, fd, &e) != 0 && op == EPOLL_CTL_ADD)
      epoll_ctl(cfg.epfd, EPOLL_CTL_MOD, fd, &e);
    cfg.owner[fd] = j;
  }
  j->reg_fd = fd;
  j->reg_ev = w;
}

/* One epoll round: wait until the nearest deadline, act on the ready
 * sessions, then on the expired ones. The number still running. */
static size_t round_epoll(struct job *jobs, size_t n) {
  size_t running = 0;
  long long next = -1;
  for (size_t i = 0; i < n; i++)
    if (jobs[i].step < jobs[i].nsteps) {
      running++;
      if (jobs[i].deadline >= 0 && (next < 0 || jobs[i].deadline < next))
        next = jobs[i].deadline;
    }
  if (running == 0)
    return 0;
  struct epoll_event ev[256];
  long long wait = next < 0 ? -1 : next - now_ms();
  int k = epoll_wait(cfg.epfd, ev, 256,
                     next < 0   ? -1
                     : wait < 0 ? 0
                                : (int)wait);
  for (int m = 0; m < k; m++) {
    struct job *j = ev[m].data.ptr;
    if (j->step >= j->nsteps)
      continue;
    unsigned re = ev[m].events;
    advance(j,
            act(j, (re & (EPOLLIN | EPOLLHUP | EPOLLERR) ? MW_WAIT_READ : 0) |
                       (re & EPOLLOUT ? MW_WAIT_WRITE : 0)));
  }
  long long t = now_ms();
  for (size_t i = 0; i < n && next >= 0 && t >= next; i++)
    if (jobs[i].step < jobs[i].nsteps && jobs[i].deadline >= 0 &&
        t >= jobs[i].deadline)
      advance(&jobs[i], act(&jobs[i], 0));
  return running;
}

/* Poll every running session once and act on the ready or expired ones;
 * the number still running. */
static size_t round_of(struct job *jobs, size_t n, struct pollfd *pfd,
                       size_t *idx) {
  size_t k = 0;
  long long next = -1;
  for (size_t i = 0; i < n; i++) {
    struct job *j = &jobs[i];
    if (j->step >= j->nsteps)
      continue;
    int fd = j->smtp ? mw_smtp_socket(j->smtp) : mw_pop3_socket(j->pop3);
    int w =
        j->smtp ? mw_smtp_wait_events(j->smtp) : mw_pop3_wait_events(j->pop3);
    pfd[k] = (struct pollfd){fd,
                             (short)((w & MW_WAIT_READ ? POLLIN : 0) |
                                     (w & MW_WAIT_WRITE ? POLLOUT : 0)),
                             0};
    idx[k++] = i;
    if (j->deadline >= 0 && (next < 0 || j->deadline < next))
      next = j->deadline;
  }
  if (k == 0)
    return 0;
  long long wait = next < 0 ? -1 : next - now_ms();
  poll(pfd, k, next < 0 ? -1 : wait < 0 ? 0 : (int)wait);
  long long t = now_ms();
  for (size_t m = 0; m < k; m++) {
    struct job *j = &jobs[idx[m]];
    short re = pfd[m].revents;
    if (re || (j->deadline >= 0 && t >= j->deadline))
      advance(j,
              act(j, (re & (POLLIN | POLLHUP | POLLERR) ? MW_WAIT_READ : 0) |
                         (re & POLLOUT ? MW_WAIT_WRITE : 0)));
  }
  return k;
}

static int run(struct job *jobs, size_t n) {
  struct pollfd *pfd = calloc(n, sizeof *pfd);
  size_t *idx = calloc(n, sizeof *idx);
  for (size_t i = 0; i < n; i++) {
    jobs[i].reg_fd = -1;
    int rc = begin(&jobs[i]);
    advance(&jobs[i], rc == MW_OK ? act(&jobs[i], 0) : rc);
  }
  if (cfg.epfd >= 0)
    while (round_epoll(jobs, n) > 0)
      ;
  else
    while (round_of(jobs, n, pfd, idx) > 0)
      ;
  int failed = 0;
  for (size_t i = 0; i < n; i++)
    failed += jobs[i].failed;
  free(pfd);
  free(idx);
  return failed;
}

/* The same message as mw_bench.c and curl_multi.c. */
static char *make_message(size_t size) {
  char *m = malloc(size + 1);
  static const char head[] = "From: <bench@example.org>\r\nTo: "
                             "<sink@example.org>\r\nSubject: bench\r\n\r\n";
  size_t n = strlen(head);
  memcpy(m, head, n);
  while (n < size) {
    size_t line = size - n < 78 ? size - n : 78;
    for (size_t i = 0; i < line; i++)
      m[n + i] = (char)('a' + (n + i) % 26);
    if (line >= 2) {
      m[n + line - 2] = '\r';
      m[n + line - 1] = '\n';
    }
    if (n % 1000 < 78)
      m[n] = '.';
    n += line;
  }
  m[size] = 0;
  return m;
}

static long rss_kb(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long kb = -1;
  while (f && fgets(line, sizeof line, f))
    if (!strncmp(line, "VmRSS:", 6))
      kb = atol(line + 6);
  if (f)
    fclose(f);
  return kb;
}

static mw_sslinfo *tls(const char *mode, const char *ca) {
  if (!mode)
    return NULL;
  mw_sslinfo *s = mw_sslinfo_new();
  mw_sslinfo_set_mode(s,
                      strcmp(mode, "starttls") ? MODE_CHANNEL : MODE_STARTTLS);
  mw_sslinfo_set_option_str(s, SSLCAFile, ca);
  return s;
}

/* Make n clients of the kind, connected to host:port, each with nsteps. */
static struct job *make_jobs(size_t n, int pop3, const char *host,
                             unsigned port, mw_sslinfo *ssl, const char *user,
                             const char *pass, int nsteps) {
  struct job *jobs = calloc(n, sizeof *jobs);
  for (size_t i = 0; i < n; i++) {
    struct job *j = &jobs[i];
    j->nsteps = nsteps;
    if (pop3) {
      j->pop3 = mw_pop3_new();
      mw_pop3_set_server(j->pop3, host, port);
      if (ssl)
        mw_pop3_set_sslinfo(j->pop3, ssl);
      if (user)
        mw_pop3_set_credentials(j->pop3, user, pass);
    } else {
      j->smtp = mw_smtp_new();
      mw_smtp_set_server(j->smtp, host, port);
      mw_smtp_set_helo_name(j->smtp, "bench.example.org");
      if (ssl)
        mw_smtp_set_sslinfo(j->smtp, ssl);
    }
  }
  return jobs;
}

static void free_jobs(struct job *jobs, size_t n) {
  for (size_t i = 0; i < n; i++) {
    mw_smtp_free(jobs[i].smtp);
    mw_pop3_free(jobs[i].pop3);
  }
  free(jobs);
}

static int bench_smtp(int argc, char **argv, size_t n) {
  size_t count = (size_t)atol(argv[5]), size = (size_t)atol(argv[6]);
  cfg.loop = argc > 7 && !strcmp(argv[7], "loop");
  mw_sslinfo *ssl = argc > 9 ? tls(argv[8], argv[9]) : NULL;
  char *msg = make_message(size);
  static const char *rcpt[] = {"sink0@example.org"};
  cfg.count = count;
  cfg.msgs = calloc(count, sizeof *cfg.msgs);
  for (size_t i = 0; i < count; i++)
    cfg.msgs[i] = (mw_smtp_message){"bench@example.org", rcpt, 1, msg, size};
  struct job *jobs = make_jobs(n, 0, argv[2], (unsigned)atoi(argv[3]), ssl,
                               NULL, NULL, cfg.loop ? (int)count + 2 : 3);
  int failed = run(jobs, n);
  free_jobs(jobs, n);
  mw_sslinfo_free(ssl);
  free(cfg.msgs);
  free(msg);
  fprintf(stderr, "mw_evloop smtp: %zu sessions x %zu messages%s\n", n, count,
          failed ? ", FAILED" : "");
  return failed != 0;
}

static int bench_pop3(char **argv, size_t n) {
  cfg.count = (size_t)atol(argv[5]);
  cfg.nums = calloc(cfg.count, sizeof *cfg.nums);
  for (size_t i = 0; i < cfg.count; i++)
    cfg.nums[i] = i + 1;
  mw_sslinfo *ssl = tls("tls", argv[8]);
  struct job *jobs = make_jobs(n, 1, argv[2], (unsigned)atoi(argv[3]), ssl,
                               argv[6], argv[7], 3);
  int failed = run(jobs, n);
  free_jobs(jobs, n);
  mw_sslinfo_free(ssl);
  free(cfg.nums);
  fprintf(stderr,
          "mw_evloop pop3: %zu sessions, %llu messages, %llu bytes%s\n", n,
          cfg.done, cfg.got, failed ? ", FAILED" : "");
  return failed != 0 || cfg.done != n * cfg.count;
}

/* Connect them all (one step each), measure, then free. */
static int bench_idle(int argc, char **argv, size_t n) {
  int pop3 = !strcmp(argv[5], "pop3");
  mw_sslinfo *ssl = argc > 7 ? tls(argv[6], argv[7]) : NULL;
  long base = rss_kb();
  struct job *jobs =
      make_jobs(n, pop3, argv[2], (unsigned)atoi(argv[3]), ssl,
                argc > 9 ? argv[8] : NULL, argc > 9 ? argv[9] : NULL, 1);
  int failed = run(jobs, n);
  long kb = rss_kb();
  printf("IDLE %zu %ld %ld %ld\n", n, base, kb,
         (long)((kb - base) * 1024 / (long)n));
  fflush(stdout);
  free_jobs(jobs, n);
  mw_sslinfo_free(ssl);
  return failed != 0;
}

int main(int argc, char **argv) {
  if (argc < 6) {
    fprintf(stderr, "usage: see the top of mw_evloop.c\n");
    return 2;
  }
  size_t n = (size_t)atol(argv[4]);
  if (getenv("MW_EVLOOP_EPOLL")) { /* epoll instead of poll */
    cfg.epfd = epoll_create1(EPOLL_CLOEXEC);
    cfg.owners = 65536;
    cfg.owner = calloc(cfg.owners, sizeof *cfg.owner);
  }
  if (!strcmp(argv[1], "smtp") && argc >= 7)
    return bench_smtp(argc, argv, n);
  if (!strcmp(argv[1], "pop3") && argc >= 9)
    return bench_pop3(argv, n);
  if (!strcmp(argv[1], "idle"))
    return bench_idle(argc, argv, n);
  fprintf(stderr, "usage: see the top of mw_evloop.c\n");
  return 2;
}
