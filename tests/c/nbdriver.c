/* nbdriver.c - the random-piece test driver (nbdriver.h). It answers the
 * session's wants with real sockets, as the blocking driver does, but
 * never more than a random piece at a time: the session must come to the
 * same outcome and put the same bytes on the wire whatever the pieces. */
#define _DEFAULT_SOURCE
#include "nbdriver.h"
#include "driver.h"
#include "http.h"
#include "internal.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static unsigned seed_used;
static unsigned long long rng_state;

static unsigned next_rand(void) {
  rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
  return (unsigned)(rng_state >> 33);
}

static size_t max_piece = (size_t)-1; /* MW_NB_MAX_PIECE */
static int whole_reads;               /* nb_whole_reads */

/* A piece size: mostly tiny (every boundary gets hit), sometimes large. */
static size_t piece(size_t max) {
  static const size_t caps[] = {1, 2, 5, 17, 300, 70000};
  size_t cap = caps[next_rand() % (sizeof caps / sizeof caps[0])];
  size_t n = 1 + next_rand() % cap;
  n = n < max_piece ? n : max_piece;
  return n < max ? n : max;
}

void nb_whole_reads(int on) {
  whole_reads = on;
}

unsigned nb_seed(void) {
  return seed_used;
}

static void seed_once(void) {
  if (rng_state)
    return;
  const char *env = getenv("MW_NB_SEED");
  seed_used = env ? (unsigned)strtoul(env, NULL, 10)
                  : (unsigned)time(NULL) ^ (unsigned)getpid();
  rng_state = seed_used ? seed_used : 1;
  const char *cap = getenv("MW_NB_MAX_PIECE");
  if (cap && atoi(cap) > 0)
    max_piece = (size_t)atoi(cap);
  printf("nbdriver: seed %u (set MW_NB_SEED=%u to repeat)\n", seed_used,
         seed_used);
  fflush(stdout);
}

static int wait_for(int fd, short events, mw_io *io) {
  int ms = mw_io_timeout_ms(io);
  struct pollfd p = {.fd = fd, .events = events};
  int r = poll(&p, 1, ms < 0 ? 60000 : ms);
  return r; /* 0: time is up, mw_io_next says which deadline */
}

static void do_connect(mw_io *io, int *fd) {
  mw_session *s = io->s;
  char peer[64];
  int ms = mw_io_timeout_ms(io);
  if (mw_driver_connect(mw_io_host(io), mw_io_port(io), ms < 0 ? 30000 : ms,
                        &s->err, s->log, fd, peer, sizeof peer) != MW_OK) {
    *fd = -1;
    mw_io__fail(io);
    return;
  }
  /* The session owns the socket, as under the blocking driver: closing the
   * client closes it. */
  mw_io__connected_fd(io, *fd, peer);
}

/* A write or read failed: what the server sent before it may say why
 * (SMTP 421), as the blocking driver reads it. */
static void failed(mw_io *io, int fd, int err, int eex) {
  char buf[4096];
  ssize_t n;
  while ((n = recv(fd, buf, sizeof buf, MSG_DONTWAIT)) > 0)
    mw_io__take_late(io, buf, (size_t)n);
  mw_io_failed(io, err, eex);
}

static void do_write(mw_io *io, int fd) {
  size_t len = 0;
  const char *data = mw_io_output(io, &len);
  size_t n = piece(len);
  if (wait_for(fd, POLLOUT, io) == 0)
    return;
  ssize_t w = send(fd, data, n, MSG_NOSIGNAL | MSG_DONTWAIT);
  if (w > 0)
    mw_io_written(io, (size_t)w);
  else if (w < 0 && errno != EAGAIN && errno != EINTR)
    failed(io, fd, errno, eexSocketTx);
  else
    mw_io_written(io, 0); /* nothing went: a partial write of 0 */
}

static void do_read(mw_io *io, int fd) {
  char buf[70000];
  if (wait_for(fd, POLLIN, io) == 0)
    return;
  size_t want = whole_reads ? sizeof buf : piece(sizeof buf);
  ssize_t r = recv(fd, buf, want, MSG_DONTWAIT);
  if (r >= 0)
    mw_io_feed(io, buf, (size_t)r);
  else if (errno != EAGAIN && errno != EINTR)
    failed(io, fd, errno, eexSocketRx);
}

/* The blocking call's callback, in random pieces: what it returns beyond
 * the piece given is kept for the next BODY. */
typedef struct body_left {
  char buf[65536];
  size_t pos, len;
  int ended;
} body_left;

static void do_body(mw_io *io, body_left *b) {
  if (b->pos == b->len && !b->ended) {
    size_t cap = 0;
    char *space = mw_io__body_space(io, &cap);
    long n = io->body_cb ? io->body_cb(io->body_ud, space, cap) : -1;
    if (n < 0 || (size_t)n > cap || (size_t)n > sizeof b->buf) {
      mw_io__body_result(io, n); /* the session's words for it */
      return;
    }
    memcpy(b->buf, space, (size_t)n);
    b->pos = 0;
    b->len = (size_t)n;
    b->ended = n == 0;
  }
  if (b->pos == b->len) {
    mw_io_body(io, "", 0);
    return;
  }
  size_t n = piece(b->len - b->pos);
  mw_io_body(io, b->buf + b->pos, n);
  b->pos += n;
}

/* A revocation fetch, with the blocking driver's HTTP client: the pieces
 * that matter are the TLS records around it, the answer goes whole. */
static void do_fetch(mw_io *io) {
  const char *url = NULL;
  const unsigned char *post = NULL;
  size_t n = 0;
  mw_io_fetch_request(io, &url, &post, &n);
  mw_http_answer a;
  if (mw_http_fetch(url, post, n, mw_io_timeout_ms(io), &a) != 0)
    mw_io_fetch_failed(io, a.why);
  else
    mw_io_fetched(io, a.status, a.body, a.len);
  free(a.body);
}

/* Pieces of retrieved messages go nowhere here (the blocking calls give
 * their callbacks to the engine); taken at random moments by a caller's
 * own loop (test_nb.c). */
int nb_drive(mw_io *io, int *fd) {
  seed_once();
  body_left *b = calloc(1, sizeof *b);
  for (;;) {
    mw_io_want w = mw_io_next(io);
    if (w == MW_IO_DONE)
      break;
    switch (w) {
    case MW_IO_CONNECT:
      do_connect(io, fd);
      break;
    case MW_IO_WRITE:
      do_write(io, *fd);
      break;
    case MW_IO_READ:
      do_read(io, *fd);
      break;
    case MW_IO_BODY:
      do_body(io, b);
      break;
    case MW_IO_DELIVER:
      mw_io_delivered(io);
      break;
    case MW_IO_FETCH:
      do_fetch(io);
      break;
    default:
      mw_io_cancel(io);
    }
  }
  free(b);
  *fd = io->s->conn.fd; /* -1 once the session closed it */
  return mw_io_result(io);
}

/* The blocking calls' hook: the socket belongs to the session (closed
 * by disconnect, free or a failure), as with the poll() driver. */
static int hook(mw_io *io) {
  int fd = io->s->conn.fd;
  int rc = nb_drive(io, &fd);
  return rc;
}

unsigned nb_install(void) {
  seed_once();
  mw_io_test_driver = hook;
  return seed_used;
}
