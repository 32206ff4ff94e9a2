/* evloop.c - the C event-loop driver: the library owns a non-blocking
 * socket, the caller owns the waiting (libpq's PQconnectPoll and
 * curl_multi_socket_action serve their users this way).
 *
 * Each client gets a small mw_ev (made at the first socket_action, freed
 * with the client). mw_X_socket_action() answers the session's wants
 * (mw_io_next) until one would block, then records the descriptor and the
 * events to wait for and returns MW_AGAIN. There is no protocol here:
 * everything the session decides goes through its mw_io. What is ours:
 *   - CONNECT: name resolution on a detached thread whose completion is
 *     signalled through a pipe (the fd to wait on meanwhile; numeric
 *     addresses skip it), then a non-blocking connect to each address in
 *     turn;
 *   - WRITE / READ: send / recv on the non-blocking socket;
 *   - BODY / DELIVER: the callbacks given with the _cb begin variants;
 *   - FETCH: a small HTTP/1.0 exchange on a socket of its own (the fd to
 *     wait on meanwhile), for revocation (OCSP POST, CRL GET).
 * Deadlines are the session's: mw_io_next() ends the operation with
 * errTimeout once one passes, so the caller only has to call
 * socket_action when mw_X_wait_ms() runs out. */
#define _DEFAULT_SOURCE /* MSG_NOSIGNAL, SOCK_CLOEXEC, pipe2 */
#define _GNU_SOURCE
#include "evloop.h"
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define EV_READ_CHUNK 16384 /* on the stack: an idle session holds none */
#define EV_BODY_CHUNK 16384 /* the same for message bodies */
/* Revocation answers: the body limit (MW_HTTP_MAX) and a byte more, to
 * show it was passed, with room for the headers: as the blocking path. */
#define EV_FETCH_MAX (MW_HTTP_MAX + 1 + 16384)

/* ---- name resolution off the loop's thread ----
 * getaddrinfo blocks, so it runs on a detached thread. Its completion is
 * one byte on a pipe the loop waits on. The job is shared by the loop and
 * the thread, freed by the last of the two (a loop that gives up, on a
 * deadline or a cancel, leaves it to the thread); the pipe belongs to the
 * job, so the thread never writes to a closed pipe. */
typedef struct ev_gai {
  pthread_mutex_t lock;
  int refs;
  int done, rc;
  int pipe[2];
  struct addrinfo *res;
  char *host;
  char service[16];
} ev_gai;

static void gai_release(ev_gai *j) {
  pthread_mutex_lock(&j->lock);
  int last = --j->refs == 0;
  pthread_mutex_unlock(&j->lock);
  if (!last)
    return;
  if (j->res)
    freeaddrinfo(j->res);
  close(j->pipe[0]);
  close(j->pipe[1]);
  pthread_mutex_destroy(&j->lock);
  free(j->host);
  free(j);
}

static void gai_hints(struct addrinfo *h, int numeric) {
  memset(h, 0, sizeof *h);
  h->ai_family = AF_UNSPEC;
  h->ai_socktype = SOCK_STREAM;
  h->ai_flags = AI_NUMERICSERV | (numeric ? AI_NUMERICHOST : 0);
}

static void *gai_thread(void *arg) {
  ev_gai *j = arg;
  struct addrinfo hints, *res = NULL;
  gai_hints(&hints, 0);
  int rc = getaddrinfo(j->host, j->service, &hints, &res);
  pthread_mutex_lock(&j->lock);
  j->rc = rc;
  j->res = rc == 0 ? res : NULL;
  j->done = 1;
  pthread_mutex_unlock(&j->lock);
  ssize_t w;
  do
    w = write(j->pipe[1], "", 1);
  while (w < 0 && errno == EINTR);
  gai_release(j);
  return NULL;
}

/* Start resolving host:port; NULL when no thread or pipe could be had
 * (errno set). The thread takes no signals (the application's handlers
 * keep running on its own threads). */
static ev_gai *gai_start(const char *host, unsigned port) {
  ev_gai *j = calloc(1, sizeof *j);
  if (!j)
    return NULL;
  j->host = strdup(host);
  if (!j->host || pipe2(j->pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
    free(j->host);
    free(j);
    return NULL;
  }
  pthread_mutex_init(&j->lock, NULL);
  j->refs = 2;
  snprintf(j->service, sizeof j->service, "%u", port);
  sigset_t all, old;
  sigfillset(&all);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pthread_t t;
  int e = pthread_create(&t, &attr, gai_thread, j);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  pthread_attr_destroy(&attr);
  if (e != 0) {
    j->refs = 1;
    gai_release(j);
    errno = e;
    return NULL;
  }
  return j;
}

/* 1 and the result (owned by the caller now) when the thread is done. */
static int gai_take(ev_gai *j, int *rc, struct addrinfo **res) {
  pthread_mutex_lock(&j->lock);
  int done = j->done;
  if (done) {
    *rc = j->rc;
    *res = j->res;
    j->res = NULL;
  }
  pthread_mutex_unlock(&j->lock);
  return done;
}

/* ---- a non-blocking TCP connection to host:port, each address in turn;
 * used for the session's CONNECT and for revocation fetches. ---- */
typedef struct ev_tcp {
  ev_gai *gai;            /* resolving */
  struct addrinfo *addrs; /* resolved */
  struct addrinfo *next;  /* the next address to try */
  int fd;                 /* connecting or connected, else -1 */
  int connected;
  int last_errno; /* of the last address tried */
  int gai_rc;     /* getaddrinfo's failure, 0 */
  char peer[64];  /* "127.0.0.1:25" */
} ev_tcp;

enum { TCP_AGAIN = 0, TCP_DONE = 1, TCP_FAILED = -1 };

static void tcp_init(ev_tcp *t) {
  memset(t, 0, sizeof *t);
  t->fd = -1;
}

static void tcp_reset(ev_tcp *t) {
  if (t->gai)
    gai_release(t->gai);
  if (t->addrs)
    freeaddrinfo(t->addrs);
  if (t->fd >= 0)
    close(t->fd);
  tcp_init(t);
}

static void describe(const struct sockaddr *sa, char *out, size_t len) {
  char ip[INET6_ADDRSTRLEN] = "?";
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *in = (const void *)sa;
    inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip);
    snprintf(out, len, "%s:%u", ip, ntohs(in->sin_port));
  } else {
    const struct sockaddr_in6 *in6 = (const void *)sa;
    inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip);
    snprintf(out, len, "[%s]:%u", ip, ntohs(in6->sin6_port));
  }
}

/* Start the connect to t->next; on an immediate failure, the next one. */
static int tcp_try_next(ev_tcp *t) {
  while (t->next) {
    const struct addrinfo *ai = t->next;
    t->next = ai->ai_next;
    int fd =
        socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
               ai->ai_protocol);
    if (fd < 0) {
      t->last_errno = errno;
      continue;
    }
    /* Small commands and replies go out at once, as the blocking path. */
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    describe(ai->ai_addr, t->peer, sizeof t->peer);
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 ||
        errno == EINPROGRESS) {
      t->fd = fd;
      return TCP_AGAIN;
    }
    t->last_errno = errno;
    close(fd);
  }
  return TCP_FAILED;
}

/* Begin connecting; numeric addresses need no thread. */
static int tcp_start(ev_tcp *t, const char *host, unsigned port) {
  tcp_reset(t);
  struct addrinfo hints;
  gai_hints(&hints, 1);
  char service[16];
  snprintf(service, sizeof service, "%u", port);
  if (getaddrinfo(host, service, &hints, &t->addrs) == 0) {
    t->next = t->addrs;
    return tcp_try_next(t);
  }
  t->addrs = NULL;
  t->gai = gai_start(host, port);
  if (!t->gai) {
    t->last_errno = errno;
    return TCP_FAILED;
  }
  return TCP_AGAIN;
}

/* Has the connect on t->fd finished? poll with no wait tells, whatever
 * the caller's revents said. */
static int tcp_connect_result(ev_tcp *t) {
  struct pollfd p = {.fd = t->fd, .events = POLLOUT, .revents = 0};
  if (poll(&p, 1, 0) <= 0)
    return TCP_AGAIN;
  int e = 0;
  socklen_t len = sizeof e;
  if (getsockopt(t->fd, SOL_SOCKET, SO_ERROR, &e, &len) != 0)
    e = errno;
  if (e == 0) {
    t->connected = 1;
    return TCP_DONE;
  }
  t->last_errno = e;
  close(t->fd);
  t->fd = -1;
  return tcp_try_next(t) == TCP_AGAIN ? TCP_AGAIN : TCP_FAILED;
}

/* Advance a connection; TCP_AGAIN with the fd and events to wait for. */
static int tcp_step(ev_tcp *t, int *wait_fd, int *wait_ev) {
  if (t->connected)
    return TCP_DONE;
  if (t->gai) {
    int rc;
    struct addrinfo *res;
    if (!gai_take(t->gai, &rc, &res)) {
      *wait_fd = t->gai->pipe[0];
      *wait_ev = MW_WAIT_READ;
      return TCP_AGAIN;
    }
    gai_release(t->gai);
    t->gai = NULL;
    if (rc != 0) {
      t->gai_rc = rc;
      return TCP_FAILED;
    }
    t->addrs = t->next = res;
    if (tcp_try_next(t) == TCP_FAILED)
      return TCP_FAILED;
  }
  if (t->fd < 0)
    return TCP_FAILED;
  int r = tcp_connect_result(t);
  if (r == TCP_AGAIN && t->fd >= 0) {
    *wait_fd = t->fd;
    *wait_ev = MW_WAIT_WRITE;
  }
  return r;
}

/* Hand the connected socket over (t forgets it). */
static int tcp_take_fd(ev_tcp *t) {
  int fd = t->fd;
  t->fd = -1;
  tcp_reset(t);
  return fd;
}

/* ---- revocation fetches: HTTP/1.0 over an ev_tcp ----
 * Only http:// URLs reach us (the session checks). One request, the
 * answer read to the end of the stream (HTTP/1.0: the server closes). */
typedef struct ev_fetch {
  int active;
  const char *url; /* the session's, for the fetch being made */
  char where[300]; /* "host:port", for the reasons given */
  ev_tcp tcp;
  char *req; /* the request, headers and body */
  size_t req_len, req_sent;
  char *resp;
  size_t resp_len;
} ev_fetch;

static void fetch_reset(ev_fetch *f) {
  tcp_reset(&f->tcp);
  free(f->req);
  free(f->resp);
  memset(f, 0, sizeof *f);
  tcp_init(&f->tcp);
}

/* Build the request: POST with a body (OCSP), else GET (CRL). */
static int fetch_build(ev_fetch *f, const mw_http_url *u,
                       const unsigned char *body, size_t blen) {
  char head[1536];
  size_t n = mw_http_request_head(head, sizeof head, u, body != NULL, blen);
  f->req = n ? malloc(n + blen) : NULL;
  if (!f->req)
    return -1;
  memcpy(f->req, head, n);
  if (blen)
    memcpy(f->req + n, body, blen);
  f->req_len = n + blen;
  return 0;
}

/* ---- the per-client driver state ---- */
struct mw_ev {
  int fd;               /* the session's connection, -1 when none */
  int wait_fd, wait_ev; /* what the last MW_AGAIN waits for */
  ev_tcp connect;       /* the session's CONNECT in progress */
  ev_fetch fetch;       /* a revocation fetch in progress */
  mw_read_cb body;      /* BODY: the message source */
  void *body_ud;
  mw_msg_write_cb deliver; /* DELIVER: where retrieved messages go */
  void *deliver_ud;
};

mw_ev *mw_ev_new(void) {
  mw_ev *ev = calloc(1, sizeof *ev);
  if (!ev)
    return NULL;
  ev->fd = ev->wait_fd = -1;
  tcp_init(&ev->connect);
  tcp_init(&ev->fetch.tcp);
  return ev;
}

/* Drop what belongs to an operation (not the callbacks, which are set
 * before its begin call). */
static void ev_drop_op(mw_ev *ev) {
  tcp_reset(&ev->connect);
  fetch_reset(&ev->fetch);
  ev->wait_fd = -1;
  ev->wait_ev = 0;
}

void mw_ev_close(mw_ev *ev) {
  if (!ev)
    return;
  ev_drop_op(ev);
  if (ev->fd >= 0)
    close(ev->fd);
  ev->fd = -1;
}

void mw_ev_free(mw_ev *ev) {
  mw_ev_close(ev);
  free(ev);
}

void mw_ev_set_body(mw_ev *ev, mw_read_cb cb, void *ud) {
  ev->body = cb;
  ev->body_ud = ud;
}

void mw_ev_set_deliver(mw_ev *ev, mw_msg_write_cb cb, void *ud) {
  ev->deliver = cb;
  ev->deliver_ud = ud;
}

int mw_ev_socket(const mw_ev *ev) {
  return ev ? ev->wait_fd : -1;
}
int mw_ev_wait_events(const mw_ev *ev) {
  return ev ? ev->wait_ev : 0;
}

/* Wait for fd/events, and tell the caller to come back. */
static int again(mw_ev *ev, int fd, int events) {
  ev->wait_fd = fd;
  ev->wait_ev = events;
  return MW_AGAIN;
}

/* CONNECT: a name, a port, a non-blocking connect. */
static int answer_connect(mw_ev *ev, mw_io *io) {
  ev_tcp *t = &ev->connect;
  int fd = -1, events = 0;
  if (!t->gai && !t->addrs && t->fd < 0 && !t->last_errno)
    tcp_start(t, mw_io_host(io), mw_io_port(io)); /* failure: below */
  if (ev->fd >= 0) { /* a proxy hop or a retry: the old one is done */
    close(ev->fd);
    ev->fd = -1;
  }
  int r = tcp_step(t, &fd, &events);
  if (r == TCP_AGAIN)
    return again(ev, fd, events);
  if (r == TCP_DONE) {
    char peer[sizeof t->peer];
    memcpy(peer, t->peer, sizeof peer);
    ev->fd = tcp_take_fd(t);
    mw_io_connected(io, peer);
    return 0;
  }
  if (t->gai_rc)
    mw_io_connect_failed(io, t->gai_rc, eexDNS);
  else
    mw_io_connect_failed(io, t->last_errno ? t->last_errno : ECONNREFUSED,
                         eexTCPConnect);
  tcp_reset(t);
  return 0;
}

/* WRITE: as much as the socket takes now. */
static int answer_write(mw_ev *ev, mw_io *io) {
  size_t len = 0;
  const void *out = mw_io_output(io, &len);
  ssize_t n = send(ev->fd, out, len, MSG_NOSIGNAL);
  if (n >= 0) {
    mw_io_written(io, (size_t)n);
    return 0;
  }
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
    return again(ev, ev->fd, MW_WAIT_WRITE);
  mw_io_failed(io, errno, eexSocketTx);
  return 0;
}

/* READ: what has arrived; 0 bytes is the end of the stream. */
static int answer_read(mw_ev *ev, mw_io *io) {
  char buf[EV_READ_CHUNK];
  ssize_t n = recv(ev->fd, buf, sizeof buf, 0);
  if (n >= 0) {
    mw_io_feed(io, buf, (size_t)n);
    return 0;
  }
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
    return again(ev, ev->fd, MW_WAIT_READ);
  mw_io_failed(io, errno, eexSocketRx);
  return 0;
}

/* BODY: the next piece from the message source; a negative return from
 * it (or no source) aborts, as the blocking send_stream does. */
static int answer_body(mw_ev *ev, mw_io *io) {
  char buf[EV_BODY_CHUNK];
  long n = ev->body ? ev->body(ev->body_ud, buf, sizeof buf) : -1;
  if (n < 0 || (size_t)n > sizeof buf)
    mw_io_cancel(io);
  else
    mw_io_body(io, buf, (size_t)n);
  return 0;
}

/* DELIVER: a piece of a retrieved message to the callback; non-zero from
 * it aborts (errAborted, the connection closed). */
static int answer_deliver(mw_ev *ev, mw_io *io) {
  size_t index = 0, n = 0;
  unsigned long msg = 0;
  const char *data = NULL;
  int end = 0;
  mw_io_piece(io, &index, &msg, &data, &n, &end);
  if (!ev->deliver || ev->deliver(ev->deliver_ud, index, msg, data, n, end))
    mw_io_cancel(io);
  else
    mw_io_delivered(io);
  return 0;
}

/* A fetch that got no HTTP answer, in the blocking driver's words
 * (http.c): what is shown in SSLRevocationDetail is the same. */
static void fetch_fail(const ev_fetch *f, mw_io *io, const char *fmt) {
  char why[400];
  snprintf(why, sizeof why, fmt, f->where);
  mw_io_fetch_failed(io, why);
}

/* FETCH, first call: parse, build, start connecting. */
static int fetch_begin(ev_fetch *f, mw_io *io) {
  const char *url = NULL;
  const unsigned char *body = NULL;
  size_t blen = 0;
  mw_http_url u;
  mw_io_fetch_request(io, &url, &body, &blen);
  f->active = 1;
  if (mw_http_parse_url(url, &u) != 0) {
    mw_io_fetch_failed(io, "not an http:// URL");
    return -1;
  }
  snprintf(f->where, sizeof f->where, "%.64s:%u", u.host, u.port);
  if (fetch_build(f, &u, body, blen) != 0) {
    mw_io_fetch_failed(io, "out of memory");
    return -1;
  }
  if (tcp_start(&f->tcp, u.host, u.port) == TCP_FAILED) {
    fetch_fail(f, io, "cannot connect to %s (eexTCPConnect)");
    return -1;
  }
  return 0;
}

/* FETCH, reading: to the end of the stream, at most EV_FETCH_MAX; an
 * answer cut there is passed on as it is (its body over MW_HTTP_MAX:
 * revocation.c takes it as too large, as from the blocking driver). */
static int fetch_read(ev_fetch *f, mw_io *io) {
  char buf[EV_READ_CHUNK];
  for (;;) {
    ssize_t n = recv(f->tcp.fd, buf, sizeof buf, 0);
    if (n < 0)
      return errno == EAGAIN || errno == EINTR ? 1 : -1;
    if (n == 0)
      break;
    if (f->resp_len + (size_t)n > EV_FETCH_MAX)
      n = (ssize_t)(EV_FETCH_MAX - f->resp_len);
    if (n == 0)
      break;
    char *grown = realloc(f->resp, f->resp_len + (size_t)n);
    if (!grown) {
      mw_io_fetch_failed(io, "out of memory");
      return -2;
    }
    f->resp = grown;
    memcpy(f->resp + f->resp_len, buf, (size_t)n);
    f->resp_len += (size_t)n;
  }
  int status = 0;
  size_t at = 0;
  if (mw_http_answer_head((const unsigned char *)f->resp, f->resp_len, &status,
                          &at) != 0)
    fetch_fail(f, io, "%s did not answer in HTTP");
  else
    mw_io_fetched(io, status, f->resp + at, f->resp_len - at);
  return 0;
}

/* FETCH: connect, send the request, read the answer, on f's own socket.
 * A fetch whose time ran out was given up by the session (it asks the
 * next URL, or something else): then ours is dropped. */
static int answer_fetch(mw_ev *ev, mw_io *io) {
  ev_fetch *f = &ev->fetch;
  int fd = -1, events = 0;
  const char *url = NULL;
  const unsigned char *post = NULL;
  size_t post_len = 0;
  mw_io_fetch_request(io, &url, &post, &post_len);
  if (f->active && f->url != url)
    fetch_reset(f);
  f->url = url;
  if (!f->active && fetch_begin(f, io) != 0) {
    fetch_reset(f);
    return 0;
  }
  int r = tcp_step(&f->tcp, &fd, &events);
  if (r == TCP_AGAIN)
    return again(ev, fd, events);
  if (r == TCP_FAILED) {
    fetch_fail(f, io,
               f->tcp.gai_rc ? "cannot connect to %s (eexDNS)"
                             : "cannot connect to %s (eexTCPConnect)");
    fetch_reset(f);
    return 0;
  }
  while (f->req_sent < f->req_len) {
    ssize_t n = send(f->tcp.fd, f->req + f->req_sent, f->req_len - f->req_sent,
                     MSG_NOSIGNAL);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
      return again(ev, f->tcp.fd, MW_WAIT_WRITE);
    if (n < 0) {
      fetch_fail(f, io, "sending to %s failed");
      fetch_reset(f);
      return 0;
    }
    f->req_sent += (size_t)n;
  }
  r = fetch_read(f, io);
  if (r == 1)
    return again(ev, f->tcp.fd, MW_WAIT_READ);
  if (r == -1)
    fetch_fail(f, io, "reading from %s failed");
  fetch_reset(f);
  return 0;
}

/* The operation is over: drop our connection when the session dropped
 * its own, and give its result. */
static int finish(mw_ev *ev, mw_io *io) {
  ev_drop_op(ev);
  if (mw_io_closed(io) && ev->fd >= 0) {
    close(ev->fd);
    ev->fd = -1;
  }
  ev->wait_fd = -1;
  ev->wait_ev = 0;
  return mw_io_result(io);
}

/* Answer wants until one would block (MW_AGAIN) or the operation ends
 * (its base code). revents is only a hint: every step tries its
 * non-blocking call, so a spurious or missed wake-up costs nothing. */
int mw_ev_action(mw_ev *ev, mw_io *io, int revents) {
  (void)revents;
  for (;;) {
    int r = 0;
    mw_io_want w = mw_io_next(io);
    if (w != MW_IO_FETCH && ev->fetch.active)
      fetch_reset(&ev->fetch); /* the session gave up waiting for it */
    switch (w) {
    case MW_IO_DONE:
      return finish(ev, io);
    case MW_IO_CONNECT:
      r = answer_connect(ev, io);
      break;
    case MW_IO_WRITE:
      r = answer_write(ev, io);
      break;
    case MW_IO_READ:
      r = answer_read(ev, io);
      break;
    case MW_IO_BODY:
      r = answer_body(ev, io);
      break;
    case MW_IO_DELIVER:
      r = answer_deliver(ev, io);
      break;
    case MW_IO_FETCH:
      r = answer_fetch(ev, io);
      break;
    default:
      mw_io_cancel(io);
      break;
    }
    if (r == MW_AGAIN)
      return MW_AGAIN;
  }
}

int mw_ev_wait_ms(const mw_ev *ev, mw_io *io) {
  (void)ev;
  return mw_io_timeout_ms(io);
}

/* ---- the public calls (mailwire.h, "The C event-loop driver") ---- */

/* The client's driver state, made on first use. */
static mw_ev *ev_of(mw_session *s) {
  if (!s->ev)
    s->ev = mw_ev_new();
  return s->ev;
}

static int no_ev(mw_session *s) {
  return mw_error_set(&s->err, eexNoMemory, ENOMEM,
                      "Out of memory for the event-loop driver's state.");
}

static int action(mw_session *s, mw_io *io, int revents) {
  mw_ev *ev = ev_of(s);
  return ev ? mw_ev_action(ev, io, revents) : no_ev(s);
}

int mw_smtp_socket_action(mw_smtp *c, int revents) {
  if (!c)
    return errInvalidArgument;
  return action(mw_smtp_session(c), mw_smtp_io(c), revents);
}

int mw_pop3_socket_action(mw_pop3 *c, int revents) {
  if (!c)
    return errInvalidArgument;
  return action(mw_pop3_session(c), mw_pop3_io(c), revents);
}

int mw_smtp_socket(mw_smtp *c) {
  return c ? mw_ev_socket(mw_smtp_session(c)->ev) : -1;
}

int mw_pop3_socket(mw_pop3 *c) {
  return c ? mw_ev_socket(mw_pop3_session(c)->ev) : -1;
}

int mw_smtp_wait_events(mw_smtp *c) {
  return c ? mw_ev_wait_events(mw_smtp_session(c)->ev) : 0;
}

int mw_pop3_wait_events(mw_pop3 *c) {
  return c ? mw_ev_wait_events(mw_pop3_session(c)->ev) : 0;
}

int mw_smtp_wait_ms(mw_smtp *c) {
  return c ? mw_ev_wait_ms(mw_smtp_session(c)->ev, mw_smtp_io(c)) : -1;
}

int mw_pop3_wait_ms(mw_pop3 *c) {
  return c ? mw_ev_wait_ms(mw_pop3_session(c)->ev, mw_pop3_io(c)) : -1;
}

/* The _cb begin variants: the callback is kept for the BODY / DELIVER
 * wants of this operation, then the session's begin call runs. */
int mw_smtp_begin_send_stream_cb(mw_smtp *c, const char *from,
                                 const char *const *rcpts, size_t nrcpts,
                                 uint64_t size_hint, int flags,
                                 mw_read_cb read, void *userdata) {
  if (!c)
    return errInvalidArgument;
  mw_session *s = mw_smtp_session(c);
  if (!read)
    return mw_error_set(&s->err, eexInvalidArgument, 0,
                        "The message source (read callback) is NULL.");
  if (!ev_of(s))
    return no_ev(s);
  mw_ev_set_body(s->ev, read, userdata);
  return mw_smtp_begin_send_stream(c, from, rcpts, nrcpts, size_hint, flags);
}

/* The POP3 variants share this: keep write, then begin. */
static int pop3_deliver_to(mw_pop3 *c, mw_msg_write_cb write, void *ud) {
  if (!c)
    return errInvalidArgument;
  mw_session *s = mw_pop3_session(c);
  if (!write)
    return mw_error_set(&s->err, eexInvalidArgument, 0,
                        "The message sink (write callback) is NULL.");
  if (!ev_of(s))
    return no_ev(s);
  mw_ev_set_deliver(s->ev, write, ud);
  return MW_OK;
}

int mw_pop3_begin_retr_cb(mw_pop3 *c, unsigned long msg, mw_msg_write_cb write,
                          void *userdata) {
  int rc = pop3_deliver_to(c, write, userdata);
  return rc != MW_OK ? rc : mw_pop3_begin_retr(c, msg);
}

int mw_pop3_begin_top_cb(mw_pop3 *c, unsigned long msg, unsigned long lines,
                         mw_msg_write_cb write, void *userdata) {
  int rc = pop3_deliver_to(c, write, userdata);
  return rc != MW_OK ? rc : mw_pop3_begin_top(c, msg, lines);
}

int mw_pop3_begin_retr_batch_cb(mw_pop3 *c, const unsigned long *msgs,
                                size_t n, mw_msg_write_cb write,
                                void *userdata) {
  int rc = pop3_deliver_to(c, write, userdata);
  return rc != MW_OK ? rc : mw_pop3_begin_retr_batch(c, msgs, n);
}

int mw_pop3_begin_top_batch_cb(mw_pop3 *c, const unsigned long *msgs, size_t n,
                               unsigned long lines, mw_msg_write_cb write,
                               void *userdata) {
  int rc = pop3_deliver_to(c, write, userdata);
  return rc != MW_OK ? rc : mw_pop3_begin_top_batch(c, msgs, n, lines);
}
