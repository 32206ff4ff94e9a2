/* test_nb.c - the caller-driven session's want protocol (mailwire.h,
 * "Without blocking"), through the public calls only: a wrong answer is
 * errState and changes nothing, DONE and its result, cancel, a deadline
 * seen by mw_io_next (fake clock), BODY pieces and DELIVER pieces taken at
 * random moments. Against the scripted server of testlib. */
#define _DEFAULT_SOURCE
#include "internal.h"
#include "nbdriver.h"
#include "testlib.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define GREET                                                                 \
  "S: 220 nb.test ESMTP\nC: EHLO *\nS: 250-nb.test\nS: 250 8BITMIME\n"

static unsigned long long rng = 1;
static unsigned rnd(unsigned n) {
  rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
  return (unsigned)(rng >> 33) % n;
}

/* A small driver on the public calls only: its own socket, the server's
 * bytes in pieces of 1..7, writes accepted in part. */
typedef struct drv {
  int fd;
  mw_buf got; /* DELIVER pieces, concatenated */
  size_t pieces, ends;
  const char *body; /* BODY: the message, given in pieces */
  size_t body_pos;
} drv;

static void d_connect(mw_io *io, drv *d) {
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)mw_io_port(io));
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  d->fd = socket(AF_INET, SOCK_STREAM, 0);
  if (connect(d->fd, (struct sockaddr *)&a, sizeof a) != 0) {
    CHECK_INT(mw_io_connect_failed(io, errno, eexTCPConnect), errConnect);
    return;
  }
  CHECK_INT(mw_io_connected(io, NULL), MW_OK);
}

static int d_step(mw_io *io, drv *d, mw_io_want w) {
  char buf[8];
  size_t len;
  switch (w) {
  case MW_IO_CONNECT:
    d_connect(io, d);
    return 1;
  case MW_IO_WRITE: {
    const char *p = mw_io_output(io, &len);
    size_t n = 1 + rnd(len < 9 ? (unsigned)len : 9);
    ssize_t k = send(d->fd, p, n, MSG_NOSIGNAL);
    CHECK(k > 0);
    return mw_io_written(io, (size_t)k) == MW_OK;
  }
  case MW_IO_READ: {
    struct pollfd pf = {.fd = d->fd, .events = POLLIN};
    int ms = mw_io_timeout_ms(io);
    if (poll(&pf, 1, ms) == 0)
      return 1;
    ssize_t k = recv(d->fd, buf, 1 + rnd(7), 0);
    if (k < 0)
      return mw_io_failed(io, errno, eexSocketRx), 1;
    mw_io_feed(io, buf, (size_t)k);
    return 1;
  }
  case MW_IO_BODY: {
    size_t left = strlen(d->body) - d->body_pos;
    size_t n = left ? 1 + rnd(left < 11 ? (unsigned)left : 11) : 0;
    mw_io_body(io, d->body + d->body_pos, n);
    d->body_pos += n;
    return 1;
  }
  case MW_IO_DELIVER: {
    /* Not always at once: the want stays until it is answered. */
    if (rnd(3) == 0)
      return 1;
    size_t i;
    unsigned long msg;
    const char *data;
    size_t n;
    int end;
    CHECK_INT(mw_io_piece(io, &i, &msg, &data, &n, &end), MW_OK);
    mw_buf_append(&d->got, data, n);
    d->pieces++;
    d->ends += end != 0;
    return mw_io_delivered(io) == MW_OK;
  }
  default:
    return 0;
  }
}

static int d_run(mw_io *io, drv *d) {
  mw_io_want w;
  while ((w = mw_io_next(io)) != MW_IO_DONE)
    if (!d_step(io, d, w))
      mw_io_cancel(io);
  return mw_io_result(io);
}

static void d_init(drv *d) {
  memset(d, 0, sizeof *d);
  d->fd = -1;
  mw_buf_init(&d->got);
}

static void d_free(drv *d) {
  if (d->fd >= 0)
    close(d->fd);
  mw_buf_free(&d->got);
}

static mw_smtp *smtp_to(tl_server *srv) {
  mw_smtp *c = mw_smtp_new();
  CHECK_INT(mw_smtp_set_server(c, "127.0.0.1", tl_server_port(srv)), MW_OK);
  CHECK_INT(mw_smtp_set_helo_name(c, "client.test"), MW_OK);
  return c;
}

/* A wrong answer is errState and changes nothing; so is any answer when
 * nothing runs. */
static void wrong_answer_is_state(void) {
  tl_server *srv = tl_server_start(GREET "C: QUIT\nS: 221 bye\n");
  mw_smtp *c = smtp_to(srv);
  mw_io *io = mw_smtp_io(c);
  CHECK_INT(mw_io_next(io), MW_IO_DONE); /* nothing runs */
  CHECK_INT(mw_io_feed(io, "x", 1), errState);
  CHECK_INT(mw_smtp_begin_connect(c), MW_OK);
  CHECK_INT(mw_io_next(io), MW_IO_CONNECT);
  CHECK_INT(mw_io_next(io), MW_IO_CONNECT); /* idempotent */
  CHECK_STR(mw_io_host(io), "127.0.0.1");
  CHECK_INT(mw_io_port(io), tl_server_port(srv));
  CHECK_INT(mw_io_feed(io, "220 x\r\n", 7), errState);
  CHECK_INT(mw_io_written(io, 1), errState);
  CHECK_INT(mw_io_body(io, "x", 1), errState);
  CHECK_INT(mw_io_delivered(io), errState);
  CHECK_INT(mw_io_fetched(io, 200, "", 0), errState);
  CHECK_INT(mw_io_result(io), errState); /* not done yet */
  CHECK_INT(mw_smtp_noop(c), errState);  /* busy: the session runs */
  CHECK_INT(mw_smtp_begin_noop(c), errState);
  CHECK_INT(mw_io_next(io), MW_IO_CONNECT);
  drv d;
  d_init(&d);
  CHECK_INT(d_run(io, &d), MW_OK);
  CHECK(mw_smtp_is_connected(c));
  CHECK_INT(mw_io_next(io), MW_IO_DONE);
  CHECK_INT(mw_io_result(io), MW_OK);
  CHECK_INT(mw_smtp_begin_quit(c), MW_OK);
  CHECK_INT(d_run(io, &d), MW_OK);
  CHECK(!mw_smtp_is_connected(c));
  CHECK(mw_io_closed(io));
  CHECK_INT(tl_server_wait(srv, 5000), 0);
  d_free(&d);
  mw_smtp_free(c);
  tl_server_free(srv);
}

/* A refused command: DONE with errServer, the connection kept. */
static void done_with_refusal(void) {
  tl_server *srv = tl_server_start(GREET "C: NOOP\nS: 500 no\n");
  mw_smtp *c = smtp_to(srv);
  mw_io *io = mw_smtp_io(c);
  drv d;
  d_init(&d);
  CHECK_INT(mw_smtp_begin_connect(c), MW_OK);
  CHECK_INT(d_run(io, &d), MW_OK);
  CHECK_INT(mw_smtp_begin_noop(c), MW_OK);
  CHECK_ERR(d_run(io, &d), mw_smtp_extended_error(c), errServer,
            eexSmtpServer);
  CHECK_INT(mw_smtp_last_reply_code(c), 500);
  CHECK(!mw_io_closed(io));
  d_free(&d);
  mw_smtp_free(c);
  tl_server_free(srv);
}

/* Cancel ends the operation: errAborted, the connection dropped, nothing
 * more sent. */
static void cancel_drops(void) {
  tl_server *srv = tl_server_start(GREET "EXPECT_CLOSE\n");
  mw_smtp *c = smtp_to(srv);
  mw_io *io = mw_smtp_io(c);
  drv d;
  d_init(&d);
  CHECK_INT(mw_smtp_begin_connect(c), MW_OK);
  CHECK_INT(d_run(io, &d), MW_OK);
  CHECK_INT(mw_smtp_begin_noop(c), MW_OK);
  CHECK_INT(mw_io_next(io), MW_IO_WRITE);
  mw_io_cancel(io);
  CHECK_INT(mw_io_next(io), MW_IO_DONE);
  CHECK_ERR(mw_io_result(io), mw_smtp_extended_error(c), errAborted,
            eexAborted);
  CHECK(mw_io_closed(io));
  CHECK(!mw_smtp_is_connected(c));
  close(d.fd);
  d.fd = -1;
  CHECK_INT(tl_server_wait(srv, 5000), 0);
  size_t len;
  const char *rec = tl_server_received(srv, &len);
  CHECK(!tl_contains(rec, len, "NOOP"));
  d_free(&d);
  mw_smtp_free(c);
  tl_server_free(srv);
}

/* A deadline seen by mw_io_next (the session's clock, here a fake one):
 * errTimeout/eexTimeout naming what was awaited. */
static void deadline_by_fake_clock(void) {
  tl_server *srv = tl_server_start("SLEEP 2000\n");
  mw_smtp *c = smtp_to(srv);
  mw_io *io = mw_smtp_io(c);
  CHECK_INT(mw_smtp_set_timeout(c, 30000), MW_OK);
  CHECK_INT(mw_smtp_set_reply_timeout(c, 1000), MW_OK);
  mw_io__set_clock(io, 1000000);
  drv d;
  d_init(&d);
  CHECK_INT(mw_smtp_begin_connect(c), MW_OK);
  CHECK_INT(mw_io_next(io), MW_IO_CONNECT);
  d_connect(io, &d);
  CHECK_INT(mw_io_next(io), MW_IO_READ);
  CHECK_INT(mw_io_timeout_ms(io), 1000);
  mw_io__set_clock(io, 1000600);
  CHECK_INT(mw_io_timeout_ms(io), 400);
  CHECK_INT(mw_io_next(io), MW_IO_READ);
  mw_io__set_clock(io, 1001000);
  CHECK_INT(mw_io_timeout_ms(io), 0);
  CHECK_INT(mw_io_next(io), MW_IO_DONE);
  CHECK_ERR(mw_io_result(io), mw_smtp_extended_error(c), errTimeout,
            eexTimeout);
  const char *text = mw_errorinfo_text(mw_smtp_extended_error(c));
  CHECK(strstr(text, "the greeting") != NULL);
  CHECK(strstr(text, "reply timeout (1 s)") != NULL);
  CHECK(mw_io_closed(io));
  CHECK_INT(mw_io_timeout_ms(io), -1);
  d_free(&d);
  mw_smtp_free(c);
  tl_server_free(srv);
}

/* send_stream: the body through MW_IO_BODY, in pieces. */
static void body_in_pieces(void) {
  tl_server *srv =
      tl_server_start(GREET "C: MAIL FROM:<a@test>*\nS: 250 ok\n"
                            "C: RCPT TO:<b@test>\nS: 250 ok\nC: DATA\n"
                            "S: 354 go\nDATA\nS: 250 queued\n");
  mw_smtp *c = smtp_to(srv);
  mw_io *io = mw_smtp_io(c);
  drv d;
  d_init(&d);
  d.body = "Subject: nb\r\n\r\n.leading dot\nbare LF line\r\nend\r\n";
  CHECK_INT(mw_smtp_begin_connect(c), MW_OK);
  CHECK_INT(d_run(io, &d), MW_OK);
  const char *rcpt[] = {"b@test"};
  CHECK_INT(mw_smtp_begin_send_stream(c, "a@test", rcpt, 1, 0, 0), MW_OK);
  CHECK_INT(d_run(io, &d), MW_OK);
  CHECK_INT(tl_server_wait(srv, 5000), 0);
  size_t len;
  const char *rec = tl_server_received(srv, &len);
  CHECK(tl_contains(rec, len,
                    "\r\n..leading dot\r\nbare LF line\r\nend\r\n"
                    ".\r\n"));
  d_free(&d);
  mw_smtp_free(c);
  tl_server_free(srv);
}

#define P3_GREET "S: +OK ready\nC: CAPA\nS: -ERR no\n"

/* RETR and a RETR batch: the content through MW_IO_DELIVER, taken at
 * random moments; index, message and end as documented. */
static void deliver_pieces(void) {
  tl_server *srv = tl_server_start(
      P3_GREET "C: RETR 3\nS: +OK\nSRAW: line one\\r\\n..dot\\r\\n.\\r\\n\n"
               "C: RETR 1\nS: +OK\nSRAW: a\\r\\n.\\r\\n\n"
               "C: RETR 2\nS: +OK\nSRAW: bb\\r\\n.\\r\\n\n");
  mw_pop3 *c = mw_pop3_new();
  CHECK_INT(mw_pop3_set_server(c, "127.0.0.1", tl_server_port(srv)), MW_OK);
  mw_io *io = mw_pop3_io(c);
  drv d;
  d_init(&d);
  CHECK_INT(mw_pop3_begin_connect(c), MW_OK);
  CHECK_INT(d_run(io, &d), MW_OK);
  CHECK_INT(mw_pop3_begin_retr(c, 3), MW_OK);
  CHECK_INT(d_run(io, &d), MW_OK);
  CHECK_INT(d.ends, 1);
  CHECK_INT(d.got.len, 16);
  CHECK(d.got.data && memcmp(d.got.data, "line one\r\n.dot\r\n", 16) == 0);
  mw_buf_reset(&d.got);
  d.ends = 0;
  unsigned long msgs[] = {1, 2};
  CHECK_INT(mw_pop3_set_pipelining(c, 0), MW_OK);
  CHECK_INT(mw_pop3_begin_retr_batch(c, msgs, 2), MW_OK);
  CHECK_INT(d_run(io, &d), MW_OK);
  CHECK_INT(d.ends, 2);
  CHECK_INT(d.got.len, 7);
  CHECK(d.got.data && memcmp(d.got.data, "a\r\nbb\r\n", 7) == 0);
  CHECK_INT(mw_pop3_batch_status(c, 1), MW_OK);
  d_free(&d);
  mw_pop3_free(c);
  tl_server_free(srv);
}

/* Argument errors come back from begin at once; nothing runs. */
static void begin_checks_arguments(void) {
  mw_smtp *c = mw_smtp_new();
  CHECK_ERR(mw_smtp_begin_connect(c), mw_smtp_extended_error(c),
            errInvalidArgument, eexInvalidArgument);
  CHECK_INT(mw_io_next(mw_smtp_io(c)), MW_IO_DONE);
  const char *rcpt[] = {"b@test"};
  CHECK_ERR(mw_smtp_begin_send(c, "a\r\n@test", rcpt, 1, "x", 1),
            mw_smtp_extended_error(c), errInvalidArgument, eexInvalidArgument);
  mw_smtp_free(c);
  mw_pop3 *p = mw_pop3_new();
  CHECK_ERR(mw_pop3_begin_retr(p, 1), mw_pop3_extended_error(p),
            errNotConnected, eexNotConnected);
  CHECK_INT(mw_io_next(mw_pop3_io(p)), MW_IO_DONE);
  mw_pop3_free(p);
}

/* The driver's failures, in the driver's words. */
static void driver_failures(void) {
  mw_smtp *c = mw_smtp_new();
  mw_io *io = mw_smtp_io(c);
  CHECK_INT(mw_smtp_set_server(c, "mail.test", 2525), MW_OK);
  CHECK_INT(mw_smtp_begin_connect(c), MW_OK);
  CHECK_INT(mw_io_next(io), MW_IO_CONNECT);
  CHECK_STR(mw_io_host(io), "mail.test");
  CHECK_ERR(mw_io_connect_failed(io, ECONNREFUSED, eexTCPConnect),
            mw_smtp_extended_error(c), errConnect, eexTCPConnect);
  CHECK(strstr(mw_errorinfo_text(mw_smtp_extended_error(c)),
               "Cannot connect to mail.test port 2525") != NULL);
  CHECK_INT(mw_io_next(io), MW_IO_DONE);
  CHECK_INT(mw_smtp_begin_connect(c), MW_OK);
  CHECK_INT(mw_io_connect_failed(io, 0, eexDNS), errState); /* not asked */
  CHECK_INT(mw_io_next(io), MW_IO_CONNECT);
  CHECK_ERR(mw_io_connect_failed(io, 0, eexDNS), mw_smtp_extended_error(c),
            errConnect, eexDNS);
  CHECK_INT(mw_smtp_begin_connect(c), MW_OK);
  CHECK_INT(mw_io_next(io), MW_IO_CONNECT);
  CHECK_ERR(mw_io_connect_failed(io, 0, eexTimeout), mw_smtp_extended_error(c),
            errTimeout, eexTimeout);
  /* Connected, then the read fails; a write reported too long is
   * refused. */
  CHECK_INT(mw_smtp_begin_connect(c), MW_OK);
  CHECK_INT(mw_io_next(io), MW_IO_CONNECT);
  CHECK_INT(mw_io_connected(io, "192.0.2.1:2525"), MW_OK);
  CHECK_INT(mw_io_next(io), MW_IO_READ);
  CHECK_INT(mw_io_feed(io, "220 hi\r\n", 8), MW_OK);
  CHECK_INT(mw_io_next(io), MW_IO_WRITE);
  size_t len = 0;
  CHECK(mw_io_output(io, &len) != NULL);
  CHECK_INT(mw_io_written(io, len + 1), errInvalidArgument);
  CHECK_INT(mw_io_written(io, len), MW_OK);
  CHECK_INT(mw_io_next(io), MW_IO_READ);
  CHECK_ERR(mw_io_failed(io, ECONNRESET, eexSocketRx),
            mw_smtp_extended_error(c), errNetwork, eexSocketRx);
  CHECK(mw_io_closed(io));
  CHECK(!mw_smtp_is_connected(c));
  /* The end of the stream. */
  CHECK_INT(mw_smtp_begin_connect(c), MW_OK);
  CHECK_INT(mw_io_next(io), MW_IO_CONNECT);
  CHECK_INT(mw_io_connected(io, NULL), MW_OK);
  CHECK_INT(mw_io_next(io), MW_IO_READ);
  CHECK_ERR(mw_io_feed(io, NULL, 0), mw_smtp_extended_error(c), errNetwork,
            eexServerClosed);
  mw_smtp_free(c);
}

/* A session copied by fork() runs nothing in the child (eexForked). */
static void forked_child_refused(void) {
  mw_smtp *c = mw_smtp_new();
  mw_io *io = mw_smtp_io(c);
  CHECK_INT(mw_smtp_set_server(c, "mail.test", 25), MW_OK);
  CHECK_INT(mw_smtp_begin_connect(c), MW_OK);
  pid_t pid = fork();
  if (pid == 0) {
    int ok = mw_io_connected(io, NULL) == errState &&
             mw_io_next(io) == MW_IO_DONE && mw_io_result(io) == errState &&
             mw_errorinfo_number(mw_smtp_extended_error(c)) == eexForked;
    _exit(ok ? 0 : 1);
  }
  int status = -1;
  waitpid(pid, &status, 0);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  CHECK_INT(mw_io_next(io), MW_IO_CONNECT); /* the parent's goes on */
  mw_io_cancel(io);
  CHECK_INT(mw_io_result(io), errAborted);
  mw_smtp_free(c);
}

int main(void) {
  const char *env = getenv("MW_NB_SEED");
  rng = env ? strtoull(env, NULL, 10)
            : (unsigned long long)time(NULL) ^ (unsigned long long)getpid();
  printf("test_nb: seed %llu (MW_NB_SEED repeats)\n", rng);
  tl_run("wrong_answer_is_state", wrong_answer_is_state);
  tl_run("done_with_refusal", done_with_refusal);
  tl_run("cancel_drops", cancel_drops);
  tl_run("deadline_by_fake_clock", deadline_by_fake_clock);
  tl_run("body_in_pieces", body_in_pieces);
  tl_run("deliver_pieces", deliver_pieces);
  tl_run("begin_checks_arguments", begin_checks_arguments);
  tl_run("driver_failures", driver_failures);
  tl_run("forked_child_refused", forked_child_refused);
  return tl_finish();
}
