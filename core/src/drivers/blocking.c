/* blocking.c - the blocking driver: every blocking call (mw_smtp_send,
 * mw_pop3_retr ...) is its begin_* followed by this loop, which answers the
 * session's wants (io.c) with poll()-bounded socket I/O (driver.c), the
 * connect of driver.c, the application's message callback, and revocation
 * fetches with the blocking HTTP client (http.c). The waits
 * are bounded by mw_io_timeout_ms, so the session's deadlines hold. */
#include "driver.h"
#include "http.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MW_READ_CHUNK 65536 /* large reads: fewer calls per message */

/* The longest wait now: the session's next deadline (never "none": the
 * per-wait timeout always bounds a wait). */
static int wait_ms(const mw_io *io) {
  int ms = mw_io_timeout_ms(io);
  return ms < 0 ? io->s->conn.timeout_ms : ms;
}

static int answer_connect(mw_io *io) {
  mw_session *s = io->s;
  int fd = -1;
  char peer[sizeof s->conn.peer];
  int rc = mw_driver_connect(mw_io_host(io), mw_io_port(io), wait_ms(io),
                             &s->err, s->log, &fd, peer, sizeof peer);
  if (rc != MW_OK)
    return mw_io__fail(io);
  return mw_io__connected_fd(io, fd, peer);
}

/* A write or read failed: what the server sent before may say why (SMTP
 * 421); Linux keeps received bytes readable after a reset. Read it
 * without waiting, then report the failure. */
static int failed(mw_io *io) {
  mw_session *s = io->s;
  int number = s->err.number;
  if (number == eexSocketTx || number == eexSocketRx) {
    char buf[4096];
    ssize_t n = recv(s->conn.fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0)
      mw_io__take_late(io, buf, (size_t)n);
  }
  return mw_io__fail(io);
}

static int answer_write(mw_io *io) {
  mw_session *s = io->s;
  size_t len = 0;
  const void *data = mw_io_output(io, &len);
  if (mw_driver_send(s->conn.fd, data, len, wait_ms(io), &s->err) != MW_OK)
    return failed(io);
  return mw_io_written(io, len);
}

/* Plaintext straight into the engine's reader; anything else (proxy
 * replies, TLS records) through the driver's buffer. */
static int answer_read(mw_io *io, char **buf) {
  mw_session *s = io->s;
  size_t got = 0;
  char *direct = NULL;
  if (mw_io__read_space(io, MW_READ_CHUNK, &direct) != MW_OK)
    return io->result;
  if (!direct && !*buf && !(*buf = malloc(MW_READ_CHUNK)))
    return mw_io__no_memory(io);
  if (mw_driver_recv(s->conn.fd, direct ? direct : *buf, MW_READ_CHUNK,
                     wait_ms(io), &got, &s->err) != MW_OK)
    return failed(io);
  return direct ? mw_io__read_commit(io, got) : mw_io_feed(io, *buf, got);
}

/* The application's message source, straight into the session's chunk. */
static int answer_body(mw_io *io) {
  size_t cap = 0;
  char *space = mw_io__body_space(io, &cap);
  if (!space)
    return mw_io__no_memory(io);
  long n = io->body_cb ? io->body_cb(io->body_ud, space, cap) : -1;
  return mw_io__body_result(io, n);
}

/* A piece of a retrieved message with no callback to take it: the
 * blocking calls give their callbacks to the engine, so this is only a
 * safety net. */
static int answer_deliver(mw_io *io) {
  return mw_io_delivered(io);
}

/* A revocation fetch within the check's time (mw_io_timeout_ms). */
static int answer_fetch(mw_io *io) {
  const char *url = NULL;
  const unsigned char *post = NULL;
  size_t n = 0;
  mw_io_fetch_request(io, &url, &post, &n);
  mw_http_answer a;
  if (mw_http_fetch(url, post, n, mw_io_timeout_ms(io), &a) != 0)
    return mw_io_fetch_failed(io, a.why);
  int rc = mw_io_fetched(io, a.status, a.body, a.len);
  free(a.body);
  return rc;
}

int mw_io_run(mw_io *io) {
  if (mw_io_test_driver)
    return mw_io_test_driver(io);
  char *buf = NULL;
  for (;;) {
    mw_io_want w = mw_io_next(io);
    if (w == MW_IO_DONE)
      break;
    switch (w) {
    case MW_IO_CONNECT:
      answer_connect(io);
      break;
    case MW_IO_WRITE:
      answer_write(io);
      break;
    case MW_IO_READ:
      answer_read(io, &buf);
      break;
    case MW_IO_BODY:
      answer_body(io);
      break;
    case MW_IO_DELIVER:
      answer_deliver(io);
      break;
    case MW_IO_FETCH:
      answer_fetch(io);
      break;
    default: /* a want this driver does not know */
      mw_io_cancel(io);
    }
  }
  free(buf);
  return mw_io_result(io);
}
