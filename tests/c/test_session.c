/* test_session.c - the pump that runs an engine through a connection:
 * flushing, reading, the STARTTLS injection check, cancellation, and which
 * failures close the connection. A toy engine over a socketpair. */
#include "internal.h"
#include "testlib.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* A toy engine: sends "HELLO", waits for a line, then does what `plan`
 * says: DONE, ERROR with a server refusal, or TLS. */
enum plan { PLAN_DONE, PLAN_REFUSE, PLAN_TLS, PLAN_CANCEL_IN_STEP };

struct toy {
  mw_session *s;
  mw_buf out;
  mw_reader in;
  enum plan plan;
  int sent;
  int steps;
  char line[64];
};

static mw_step toy_step(void *engine) {
  struct toy *t = engine;
  t->steps++;
  if (!t->sent) {
    mw_buf_append_str(&t->out, "HELLO\r\n");
    t->sent = 1;
    return MW_STEP_READ;
  }
  const char *line;
  size_t len;
  int r = mw_reader_line(&t->in, MW_MAX_LINE, &line, &len);
  if (r == 0)
    return MW_STEP_READ;
  if (r < 0) {
    mw_error_set(&t->s->err, eexLineTooLong, 0, "too long");
    return MW_STEP_ERROR;
  }
  snprintf(t->line, sizeof t->line, "%s", line);
  switch (t->plan) {
  case PLAN_REFUSE:
    mw_error_server(&t->s->err, eexSmtpServer, 550, "5.1.1", line, "no");
    return MW_STEP_ERROR;
  case PLAN_TLS:
    return MW_STEP_TLS;
  case PLAN_CANCEL_IN_STEP:
    mw_session_cancel(t->s);
    return MW_STEP_FLUSH;
  default:
    return MW_STEP_DONE;
  }
}

struct rig {
  mw_session s;
  struct toy toy;
  mw_engine_io io;
  int peer;
};

static void rig_up(struct rig *r, enum plan plan) {
  int sv[2];
  CHECK_INT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  mw_session_init(&r->s);
  mw_conn_init(&r->s.conn, &r->s.err, NULL, 2000);
  fcntl(sv[0], F_SETFL, O_NONBLOCK); /* as the driver's own sockets are */
  r->s.conn.fd = sv[0];
  r->peer = sv[1];
  memset(&r->toy, 0, sizeof r->toy);
  r->toy.s = &r->s;
  r->toy.plan = plan;
  mw_buf_init(&r->toy.out);
  mw_reader_init(&r->toy.in);
  r->io = (mw_engine_io){&r->toy, toy_step, &r->toy.out, &r->toy.in,
                         NULL,    NULL,     NULL};
}

static void rig_down(struct rig *r) {
  mw_buf_free(&r->toy.out);
  mw_reader_free(&r->toy.in);
  mw_session_free(&r->s);
  close(r->peer);
}

static void peer_expect(struct rig *r, const char *want) {
  char buf[64] = {0};
  ssize_t n = read(r->peer, buf, strlen(want));
  CHECK_INT(n, (long long)strlen(want));
  CHECK_STR(buf, want);
}

static void done_after_reply(void) {
  struct rig r;
  rig_up(&r, PLAN_DONE);
  CHECK(write(r.peer, "220 hi\r\n", 8) == 8);
  CHECK_INT(mw_session_pump(&r.s, &r.io), MW_OK);
  peer_expect(&r, "HELLO\r\n");
  CHECK_STR(r.toy.line, "220 hi");
  CHECK(mw_conn_is_open(&r.s.conn));
  rig_down(&r);
}

static void refusal_keeps_connection(void) {
  struct rig r;
  rig_up(&r, PLAN_REFUSE);
  CHECK(write(r.peer, "550 no such user\r\n", 18) == 18);
  CHECK_ERR(mw_session_pump(&r.s, &r.io), &r.s.err, errServer, eexSmtpServer);
  CHECK(mw_conn_is_open(&r.s.conn));
  rig_down(&r);
}

static void protocol_error_closes(void) {
  struct rig r;
  rig_up(&r, PLAN_DONE);
  char big[MW_MAX_LINE + 10];
  memset(big, 'x', sizeof big);
  CHECK(write(r.peer, big, sizeof big) == (ssize_t)sizeof big);
  CHECK_ERR(mw_session_pump(&r.s, &r.io), &r.s.err, errProtocol,
            eexLineTooLong);
  CHECK(!mw_conn_is_open(&r.s.conn));
  rig_down(&r);
}

static void injection_before_tls_refused(void) {
  struct rig r;
  rig_up(&r, PLAN_TLS);
  r.s.ssl = mw_sslinfo_new();
  const char *wire = "220 go ahead\r\n250 injected\r\n";
  CHECK(write(r.peer, wire, strlen(wire)) == (ssize_t)strlen(wire));
  CHECK_ERR(mw_session_pump(&r.s, &r.io), &r.s.err, errTLS, eexSSLInjection);
  CHECK(!mw_conn_is_open(&r.s.conn));
  rig_down(&r);
}

static void peer_closes(void) {
  struct rig r;
  rig_up(&r, PLAN_DONE);
  CHECK(write(r.peer, "220-half", 8) == 8);
  shutdown(r.peer, SHUT_WR);
  CHECK_ERR(mw_session_pump(&r.s, &r.io), &r.s.err, errNetwork,
            eexServerClosed);
  CHECK(!mw_conn_is_open(&r.s.conn));
  rig_down(&r);
}

static void silent_peer_times_out(void) {
  struct rig r;
  rig_up(&r, PLAN_DONE);
  r.s.conn.timeout_ms = 300;
  CHECK_ERR(mw_session_pump(&r.s, &r.io), &r.s.err, errTimeout, eexTimeout);
  CHECK(!mw_conn_is_open(&r.s.conn));
  rig_down(&r);
}

static void cancel_aborts(void) {
  struct rig r;
  rig_up(&r, PLAN_CANCEL_IN_STEP);
  CHECK(write(r.peer, "220 hi\r\n", 8) == 8);
  CHECK_ERR(mw_session_pump(&r.s, &r.io), &r.s.err, errAborted, eexAborted);
  CHECK(!mw_conn_is_open(&r.s.conn));
  rig_down(&r);
}

static void pump_needs_connection(void) {
  struct rig r;
  rig_up(&r, PLAN_DONE);
  mw_conn_close(&r.s.conn);
  CHECK_ERR(mw_session_pump(&r.s, &r.io), &r.s.err, errNotConnected,
            eexNotConnected);
  CHECK_INT(r.toy.steps, 0);
  rig_down(&r);
}

int main(void) {
  RUN(done_after_reply);
  RUN(refusal_keeps_connection);
  RUN(protocol_error_closes);
  RUN(injection_before_tls_refused);
  RUN(peer_closes);
  RUN(silent_peer_times_out);
  RUN(cancel_aborts);
  RUN(pump_needs_connection);
  return tl_finish();
}
