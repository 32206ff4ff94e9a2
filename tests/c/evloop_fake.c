/* evloop_fake.c - the event-loop driver (core/src/session/evloop.c)
 * alone, against a fake session: this program defines the mw_io calls the
 * driver uses, each want taken from a script, and checks every answer the
 * driver gives (what it connected to, wrote, read, fed as body, delivered,
 * fetched). Built from evloop.c itself, without the library, so the driver is
 * tested whatever state the session is in. Local servers only (threads of this
 * program on 127.0.0.1). */
#define _DEFAULT_SOURCE
#include "evloop.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int failures;
#define CHECK(c)                                                              \
  do {                                                                        \
    if (!(c)) {                                                               \
      fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #c);   \
      failures++;                                                             \
    }                                                                         \
  } while (0)

/* ---- the fake session: one want after the other ---- */
struct want {
  mw_io_want w;
  const char *host; /* CONNECT */
  unsigned port;
  const char *data; /* WRITE: to write; READ: to read (then the next);
                       BODY: expected; DELIVER: pieces; FETCH: URL */
  size_t len;
  const char *post; /* FETCH: POST body or NULL */
};

struct fake_io {
  const struct want *script;
  size_t at, n;
  size_t off;        /* within the current want's data */
  char got[1 << 16]; /* READ/BODY: what came so far, FETCH: the answer */
  size_t got_len;
  int result;
  int closed;
  int connect_errno, connect_eex; /* from mw_io_connect_failed */
  char peer[64];
  int fetch_status;
  char fetch_reason[128];
  int cancelled;
  int delivered_end;
};

static struct fake_io fake;
static mw_session fake_session;

static const struct want *cur(struct fake_io *io) {
  return io->at < io->n ? &io->script[io->at] : NULL;
}
static void next(struct fake_io *io) {
  io->at++;
  io->off = 0;
  io->got_len = 0;
}
static void done(struct fake_io *io, int rc) {
  io->result = rc;
  io->at = io->n;
}

mw_io_want mw_io_next(mw_io *io_) {
  struct fake_io *io = (struct fake_io *)io_;
  const struct want *w = cur(io);
  return w ? w->w : MW_IO_DONE;
}
int mw_io_timeout_ms(const mw_io *io_) {
  const struct fake_io *io = (const struct fake_io *)io_;
  (void)io;
  return 5000;
}
int mw_io_result(const mw_io *io_) {
  const struct fake_io *io = (const struct fake_io *)io_;
  return io->result;
}
void mw_io_cancel(mw_io *io_) {
  struct fake_io *io = (struct fake_io *)io_;
  io->cancelled = 1;
  io->closed = 1;
  done(io, errAborted);
}
int mw_io_closed(const mw_io *io_) {
  const struct fake_io *io = (const struct fake_io *)io_;
  return io->closed;
}
const char *mw_io_host(const mw_io *io_) {
  const struct fake_io *io = (const struct fake_io *)io_;
  return cur((struct fake_io *)io)->host;
}
unsigned mw_io_port(const mw_io *io_) {
  const struct fake_io *io = (const struct fake_io *)io_;
  return cur((struct fake_io *)io)->port;
}
int mw_io_connected(mw_io *io_, const char *peer) {
  struct fake_io *io = (struct fake_io *)io_;
  snprintf(io->peer, sizeof io->peer, "%s", peer);
  next(io);
  return MW_OK;
}
int mw_io_connect_failed(mw_io *io_, int e, int eex) {
  struct fake_io *io = (struct fake_io *)io_;
  io->connect_errno = e;
  io->connect_eex = eex;
  io->closed = 1;
  done(io, errConnect);
  return MW_OK;
}
const void *mw_io_output(mw_io *io_, size_t *len) {
  struct fake_io *io = (struct fake_io *)io_;
  *len = cur(io)->len - io->off;
  return cur(io)->data + io->off;
}
int mw_io_written(mw_io *io_, size_t n) {
  struct fake_io *io = (struct fake_io *)io_;
  io->off += n;
  if (io->off == cur(io)->len)
    next(io);
  return MW_OK;
}
int mw_io_feed(mw_io *io_, const void *d, size_t n) {
  struct fake_io *io = (struct fake_io *)io_;
  const struct want *w = cur(io);
  if (n == 0) { /* the end of the stream: what we expected must be there */
    CHECK(w->len == 0);
    io->closed = 1;
    done(io, io->got_len == w->len ? MW_OK : errNetwork);
    return MW_OK;
  }
  CHECK(io->got_len + n <= w->len);
  memcpy(io->got + io->got_len, d, n);
  io->got_len += n;
  if (io->got_len == w->len) {
    CHECK(memcmp(io->got, w->data, w->len) == 0);
    next(io);
  }
  return MW_OK;
}
int mw_io_failed(mw_io *io_, int e, int eex) {
  struct fake_io *io = (struct fake_io *)io_;
  io->connect_errno = e;
  io->connect_eex = eex;
  io->closed = 1;
  done(io, errNetwork);
  return MW_OK;
}
int mw_io_body(mw_io *io_, const void *d, size_t n) {
  struct fake_io *io = (struct fake_io *)io_;
  const struct want *w = cur(io);
  if (n == 0) {
    CHECK(io->got_len == w->len && !memcmp(io->got, w->data, w->len));
    next(io);
    return MW_OK;
  }
  memcpy(io->got + io->got_len, d, n);
  io->got_len += n;
  return MW_OK;
}
/* DELIVER: the want's data, in pieces of 3 bytes, then the end. */
int mw_io_piece(mw_io *io_, size_t *index, unsigned long *msg,
                const char **data, size_t *n, int *end) {
  struct fake_io *io = (struct fake_io *)io_;
  const struct want *w = cur(io);
  *index = 2;
  *msg = 7;
  *data = w->data + io->off;
  *n = w->len - io->off < 3 ? w->len - io->off : 3;
  *end = *n == 0;
  return MW_OK;
}
int mw_io_delivered(mw_io *io_) {
  struct fake_io *io = (struct fake_io *)io_;
  const struct want *w = cur(io);
  size_t n = w->len - io->off < 3 ? w->len - io->off : 3;
  if (n == 0) {
    io->delivered_end = 1;
    next(io);
  }
  io->off += n;
  return MW_OK;
}
int mw_io_fetch_request(mw_io *io_, const char **url,
                        const unsigned char **post, size_t *len) {
  struct fake_io *io = (struct fake_io *)io_;
  *url = cur(io)->data;
  *post = (const unsigned char *)cur(io)->post;
  *len = cur(io)->post ? strlen(cur(io)->post) : 0;
  return MW_OK;
}
int mw_io_fetched(mw_io *io_, int status, const void *body, size_t n) {
  struct fake_io *io = (struct fake_io *)io_;
  io->fetch_status = status;
  memcpy(io->got, body, n < sizeof io->got ? n : sizeof io->got);
  io->got_len = n;
  io->at++;
  return MW_OK;
}
int mw_io_fetch_failed(mw_io *io_, const char *reason) {
  struct fake_io *io = (struct fake_io *)io_;
  snprintf(io->fetch_reason, sizeof io->fetch_reason, "%s", reason);
  io->at++;
  return MW_OK;
}

/* What evloop.c needs from the rest of the library. */
mw_session *mw_smtp_session(mw_smtp *c) {
  (void)c;
  return &fake_session;
}
mw_session *mw_pop3_session(mw_pop3 *c) {
  (void)c;
  return &fake_session;
}
mw_io *mw_smtp_io(mw_smtp *c) {
  (void)c;
  return (mw_io *)&fake;
}
mw_io *mw_pop3_io(mw_pop3 *c) {
  (void)c;
  return (mw_io *)&fake;
}
int mw_error_set(mw_errorinfo *e, int number, long os, const char *fmt, ...) {
  (void)e, (void)os, (void)fmt;
  return number == eexNoMemory ? errNoMemory : errInvalidArgument;
}
int mw_smtp_begin_send_stream(mw_smtp *c, const char *f, const char *const *r,
                              size_t n, uint64_t h, int fl) {
  (void)c, (void)f, (void)r, (void)n, (void)h, (void)fl;
  return MW_OK;
}
int mw_pop3_begin_retr(mw_pop3 *c, unsigned long m) {
  (void)c, (void)m;
  return MW_OK;
}
int mw_pop3_begin_top(mw_pop3 *c, unsigned long m, unsigned long l) {
  (void)c, (void)m, (void)l;
  return MW_OK;
}
int mw_pop3_begin_retr_batch(mw_pop3 *c, const unsigned long *m, size_t n) {
  (void)c, (void)m, (void)n;
  return MW_OK;
}
int mw_pop3_begin_top_batch(mw_pop3 *c, const unsigned long *m, size_t n,
                            unsigned long l) {
  (void)c, (void)m, (void)n, (void)l;
  return MW_OK;
}

/* ---- a local server: accept one connection, read until it has `expect`
 * bytes (slowly when asked), write `answer`, close ---- */
struct server {
  int ls;
  unsigned port;
  size_t expect;
  const char *answer;
  int slow; /* sleep before reading: the client's writes must wait; the
               bytes are then checked against the test pattern */
  size_t bad;
  char got[1 << 16];
  size_t got_len;
  pthread_t t;
};

static void *serve(void *arg) {
  struct server *s = arg;
  int fd = accept(s->ls, NULL, NULL);
  if (fd < 0)
    return NULL;
  if (s->slow)
    usleep(300 * 1000);
  while (s->got_len < s->expect) {
    size_t at = s->got_len < sizeof s->got ? s->got_len : 0;
    ssize_t n = recv(fd, s->got + at, sizeof s->got - at, 0);
    if (n <= 0)
      break;
    for (ssize_t i = 0; s->slow && i < n; i++) /* the pattern, in order */
      s->bad += s->got[at + i] != (char)('a' + (s->got_len + i) % 23);
    s->got_len += (size_t)n;
  }
  if (s->answer)
    send(fd, s->answer, strlen(s->answer), MSG_NOSIGNAL);
  close(fd);
  return NULL;
}

static void server_start(struct server *s, size_t expect, const char *answer,
                         int slow) {
  memset(s, 0, sizeof *s);
  s->expect = expect;
  s->answer = answer;
  s->slow = slow;
  s->ls = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  bind(s->ls, (struct sockaddr *)&a, sizeof a);
  listen(s->ls, 4);
  getsockname(s->ls, (struct sockaddr *)&a, &len);
  s->port = ntohs(a.sin_port);
  pthread_create(&s->t, NULL, serve, s);
}

static void server_stop(struct server *s) {
  pthread_join(s->t, NULL);
  close(s->ls);
}

/* A port nothing listens on. */
static unsigned closed_port(void) {
  struct server s;
  memset(&s, 0, sizeof s);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  bind(fd, (struct sockaddr *)&a, sizeof a);
  getsockname(fd, (struct sockaddr *)&a, &len);
  close(fd);
  return ntohs(a.sin_port);
}

/* ---- the loop, as a program would write it ---- */
static int drive(mw_smtp *c, int *agains, int *fds_seen) {
  int rc = mw_smtp_socket_action(c, 0);
  int last_fd = -1;
  while (rc == MW_AGAIN) {
    (*agains)++;
    int fd = mw_smtp_socket(c), w = mw_smtp_wait_events(c);
    CHECK(fd >= 0 && w != 0);
    if (fd != last_fd)
      (*fds_seen)++;
    last_fd = fd;
    struct pollfd p = {fd,
                       (short)((w & MW_WAIT_READ ? POLLIN : 0) |
                               (w & MW_WAIT_WRITE ? POLLOUT : 0)),
                       0};
    CHECK(poll(&p, 1, 5000) == 1);
    rc = mw_smtp_socket_action(c, p.revents ? w : 0);
  }
  CHECK(mw_smtp_socket(c) == -1);
  return rc;
}

static void reset(const struct want *script, size_t n) {
  memset(&fake, 0, sizeof fake);
  fake.script = script;
  fake.n = n;
}

#define N(a) (sizeof(a) / sizeof(a)[0])
static mw_smtp *const C = (mw_smtp *)&fake; /* any non-NULL client */

/* Connect by name (the resolver thread and its pipe), write, read the
 * answer, read the end of the stream. */
static void test_connect_by_name_write_read(void) {
  struct server s;
  server_start(&s, 6, "250 ok\r\n", 0);
  struct want script[] = {{MW_IO_CONNECT, "localhost", s.port, 0, 0, 0},
                          {MW_IO_WRITE, 0, 0, "EHLO\r\n", 6, 0},
                          {MW_IO_READ, 0, 0, "250 ok\r\n", 8, 0},
                          {MW_IO_READ, 0, 0, "", 0, 0}};
  reset(script, N(script));
  int agains = 0, fds = 0;
  CHECK(drive(C, &agains, &fds) == MW_OK);
  CHECK(!strncmp(fake.peer, "127.0.0.1:", 10) ||
        !strncmp(fake.peer, "[::1]:", 6));
  CHECK(s.got_len == 6 && !memcmp(s.got, "EHLO\r\n", 6));
  server_stop(&s);
  mw_ev_free(fake_session.ev);
  fake_session.ev = NULL;
}

/* A refused connection: ECONNREFUSED and eexTCPConnect reach the session. */
static void test_refused(void) {
  struct want script[] = {
      {MW_IO_CONNECT, "127.0.0.1", closed_port(), 0, 0, 0}};
  reset(script, N(script));
  int agains = 0, fds = 0;
  CHECK(drive(C, &agains, &fds) == errConnect);
  CHECK(fake.connect_errno == ECONNREFUSED);
  CHECK(fake.connect_eex == eexTCPConnect);
  mw_ev_free(fake_session.ev);
  fake_session.ev = NULL;
}

/* 16 MiB to a server that reads late: the write waits (MW_AGAIN with
 * MW_WAIT_WRITE) and every byte arrives in order. */
static void test_large_write(void) {
  static char big[16 << 20]; /* more than the socket buffers take */
  for (size_t i = 0; i < sizeof big; i++)
    big[i] = (char)('a' + i % 23);
  struct server s;
  server_start(&s, sizeof big, "", 1);
  struct want script[] = {{MW_IO_CONNECT, "127.0.0.1", s.port, 0, 0, 0},
                          {MW_IO_WRITE, 0, 0, big, sizeof big, 0},
                          {MW_IO_READ, 0, 0, "", 0, 0}};
  reset(script, N(script));
  int agains = 0, fds = 0;
  CHECK(drive(C, &agains, &fds) == MW_OK);
  CHECK(agains > 1);
  CHECK(s.got_len == sizeof big && s.bad == 0);
  server_stop(&s);
  mw_ev_free(fake_session.ev);
  fake_session.ev = NULL;
}

/* BODY from the read callback, in its pieces, to the end. */
struct src {
  const char *p;
  size_t left;
};
static long read_two(void *ud, char *buf, size_t cap) {
  struct src *s = ud;
  size_t n = s->left < 2 ? s->left : 2;
  CHECK(cap >= 2);
  memcpy(buf, s->p, n);
  s->p += n;
  s->left -= n;
  return (long)n;
}
static long read_fails(void *ud, char *buf, size_t cap) {
  (void)ud, (void)buf, (void)cap;
  return -1;
}

static void test_body(void) {
  struct want script[] = {
      {MW_IO_BODY, 0, 0, "Subject: x\r\n\r\nhi\r\n", 18, 0}};
  reset(script, N(script));
  struct src src = {"Subject: x\r\n\r\nhi\r\n", 18};
  CHECK(mw_smtp_begin_send_stream_cb(C, "a@b", NULL, 0, 0, 0, read_two,
                                     &src) == MW_OK);
  int agains = 0, fds = 0;
  CHECK(drive(C, &agains, &fds) == MW_OK);
  CHECK(fake.at == 1 && !fake.cancelled);
  /* A source that fails aborts the operation. */
  reset(script, N(script));
  CHECK(mw_smtp_begin_send_stream_cb(C, "a@b", NULL, 0, 0, 0, read_fails,
                                     NULL) == MW_OK);
  CHECK(drive(C, &agains, &fds) == errAborted);
  CHECK(fake.cancelled);
  CHECK(mw_smtp_begin_send_stream_cb(C, "a@b", NULL, 0, 0, 0, NULL, NULL) ==
        errInvalidArgument);
  mw_ev_free(fake_session.ev);
  fake_session.ev = NULL;
}

/* DELIVER to the write callback; a non-zero return cancels. */
static char delivered[64];
static size_t delivered_len;
static int ends;
static int take(void *ud, size_t i, unsigned long msg, const char *data,
                size_t len, int end) {
  CHECK(i == 2 && msg == 7);
  memcpy(delivered + delivered_len, data, len);
  delivered_len += len;
  ends += end;
  return ud != NULL; /* ud set: stop */
}

static void test_deliver(void) {
  struct want script[] = {{MW_IO_DELIVER, 0, 0, "Hello, world\r\n", 14, 0}};
  reset(script, N(script));
  delivered_len = 0;
  ends = 0;
  CHECK(mw_pop3_begin_retr_batch_cb((mw_pop3 *)C, NULL, 0, take, NULL) ==
        MW_OK);
  int agains = 0, fds = 0;
  CHECK(drive(C, &agains, &fds) == MW_OK);
  CHECK(delivered_len == 14 && !memcmp(delivered, "Hello, world\r\n", 14));
  CHECK(ends == 1 && fake.delivered_end);
  reset(script, N(script));
  CHECK(mw_pop3_begin_retr_cb((mw_pop3 *)C, 1, take, (void *)1) == MW_OK);
  CHECK(drive(C, &agains, &fds) == errAborted);
  CHECK(fake.cancelled);
  mw_ev_free(fake_session.ev);
  fake_session.ev = NULL;
}

/* FETCH: an OCSP-style POST and a CRL-style GET on a socket of its own;
 * a refused one is a fetch failure, not the operation's. */
static void test_fetch(void) {
  struct server s;
  const char *answer = "HTTP/1.0 200 OK\r\nContent-Type: x\r\n\r\n\x30\x03OK";
  server_start(&s, 10, answer, 0);
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%u/ocsp", s.port);
  struct want script[] = {{MW_IO_FETCH, 0, 0, url, 0, "\x30\x01Q"}};
  reset(script, N(script));
  int agains = 0, fds = 0;
  CHECK(drive(C, &agains, &fds) == MW_OK);
  CHECK(fake.fetch_status == 200);
  CHECK(fake.got_len == 4 && !memcmp(fake.got, "\x30\x03OK", 4));
  server_stop(&s);
  CHECK(strstr(s.got, "POST /ocsp HTTP/1.0\r\n") == s.got);
  CHECK(strstr(s.got, "Content-Length: 3\r\n") != NULL);

  server_start(&s, 4, "HTTP/1.0 404 Not Found\r\n\r\n", 0);
  snprintf(url, sizeof url, "http://localhost:%u/x.crl", s.port);
  struct want get[] = {{MW_IO_FETCH, 0, 0, url, 0, NULL}};
  reset(get, N(get));
  CHECK(drive(C, &agains, &fds) == MW_OK);
  CHECK(fake.fetch_status == 404 && fake.got_len == 0);
  server_stop(&s);
  CHECK(strstr(s.got, "GET /x.crl HTTP/1.0\r\n") == s.got);

  snprintf(url, sizeof url, "http://127.0.0.1:%u/", closed_port());
  struct want refused[] = {{MW_IO_FETCH, 0, 0, url, 0, NULL}};
  reset(refused, N(refused));
  CHECK(drive(C, &agains, &fds) == MW_OK);
  CHECK(fake.fetch_status == 0 && fake.fetch_reason[0] != '\0');
  struct want bad[] = {{MW_IO_FETCH, 0, 0, "https://x/", 0, NULL}};
  reset(bad, N(bad));
  CHECK(drive(C, &agains, &fds) == MW_OK);
  CHECK(strstr(fake.fetch_reason, "http://") != NULL);
  mw_ev_free(fake_session.ev);
  fake_session.ev = NULL;
}

int main(void) {
  test_connect_by_name_write_read();
  test_refused();
  test_large_write();
  test_body();
  test_deliver();
  test_fetch();
  printf("%s: %d failed checks\n", failures ? "FAIL" : "OK", failures);
  return failures != 0;
}
