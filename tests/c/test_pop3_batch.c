/* test_pop3_batch.c - the POP3 batch calls (RETR/TOP/DELE over a
 * pipelined window) in the engine, without a network: server bytes go
 * into the engine's reader, and the exact bytes the engine queues are
 * compared with what a pipelining client must send (RFC 2449). */
#include "pop3_engine.h"
#include "testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the rig: a session that is never connected, an engine ---- */

struct rig {
  mw_session s;
  mw_pop3_engine e;
  mw_buf sent; /* what the last drive() saw the engine queue */
};

static void rig_init(struct rig *r) {
  memset(r, 0, sizeof *r);
  mw_session_init(&r->s);
  mw_pop3_engine_init(&r->e, &r->s);
  mw_buf_init(&r->sent);
}

static void rig_free(struct rig *r) {
  mw_pop3_engine_free(&r->e);
  mw_session_free(&r->s);
  mw_buf_free(&r->sent);
}

static const char *sent(struct rig *r) {
  return r->sent.data ? r->sent.data : "";
}

static void take_out(struct rig *r) {
  if (r->e.out.len)
    mw_buf_append(&r->sent, r->e.out.data, r->e.out.len);
  mw_buf_reset(&r->e.out);
}

static mw_step step_all(struct rig *r) {
  for (int i = 0; i < 100000; i++) {
    mw_step st = mw_pop3_engine_step(&r->e);
    if (st == MW_STEP_ERROR) {
      CHECK_INT(r->e.out.len, 0); /* the pump never sends after an error */
      return st;
    }
    take_out(r);
    if (st != MW_STEP_FLUSH)
      return st;
  }
  CHECK(!"the engine never stopped");
  return MW_STEP_ERROR;
}

/* Feed len bytes of the server, then step; r->sent gets what was queued
 * (including what a begin_* call queued). */
static mw_step drive_n(struct rig *r, const char *server, size_t len) {
  mw_buf_reset(&r->sent);
  take_out(r);
  if (len)
    mw_reader_feed(&r->e.in, server, len);
  return step_all(r);
}

static mw_step drive(struct rig *r, const char *server) {
  return drive_n(r, server, strlen(server));
}

static const char CAPA_PIPE[] = "+OK\r\nUSER\r\nTOP\r\nPIPELINING\r\n.\r\n";
static const char CAPA_NOPIPE[] = "+OK\r\nUSER\r\nTOP\r\n.\r\n";

static void connect_with(struct rig *r, const char *capa) {
  CHECK_INT(mw_pop3_engine_begin_connect(&r->e), MW_OK);
  CHECK_INT(drive(r, "+OK ready\r\n"), MW_STEP_READ);
  CHECK_STR(sent(r), "CAPA\r\n");
  CHECK_INT(drive(r, capa), MW_STEP_DONE);
}

/* ---- what the callback saw ---- */

#define MAXMSG 200

struct got {
  mw_buf body[MAXMSG];
  int ends[MAXMSG];
  int calls;
  int order_ok;      /* pieces and ends came for i in order */
  size_t last_i;     /* the message of the last call */
  int abort_at_call; /* 0: never */
  int abort_rc;
};

static void got_init(struct got *g) {
  memset(g, 0, sizeof *g);
  for (int i = 0; i < MAXMSG; i++)
    mw_buf_init(&g->body[i]);
  g->order_ok = 1;
  g->abort_rc = 7;
}

static void got_free(struct got *g) {
  for (int i = 0; i < MAXMSG; i++)
    mw_buf_free(&g->body[i]);
}

static const char *body_of(struct got *g, size_t i) {
  return g->body[i].data ? g->body[i].data : "";
}

static int collect(void *ud, size_t i, unsigned long msg, const char *data,
                   size_t len, int end) {
  struct got *g = ud;
  g->calls++;
  if (i >= MAXMSG || msg == 0 || (g->calls > 1 && i < g->last_i) ||
      g->ends[i] || (end && len != 0) || (!end && len == 0))
    g->order_ok = 0;
  g->last_i = i;
  if (g->abort_at_call && g->calls >= g->abort_at_call)
    return g->abort_rc;
  if (i < MAXMSG) {
    if (end)
      g->ends[i]++;
    else
      mw_buf_append(&g->body[i], data, len);
  }
  return 0;
}

/* ---- messages: body k and its wire form (stuffed) ---- */

static void body_k(mw_buf *b, unsigned k) {
  mw_buf_reset(b);
  mw_buf_appendf(b, "Subject: message %u\r\n\r\n", k);
  for (unsigned j = 0; j < k % 5 + 1; j++)
    mw_buf_appendf(b, "%sline %u of %u\r\n", j % 2 ? "." : "", j, k);
  mw_buf_append_str(b, "end.\r\n");
}

static void wire_k(mw_buf *w, unsigned k) {
  mw_buf b;
  mw_buf_init(&b);
  body_k(&b, k);
  mw_buf_appendf(w, "+OK %zu octets\r\n", b.len);
  const char *p = b.data;
  while (*p) {
    if (*p == '.')
      mw_buf_append(w, ".", 1);
    const char *nl = strchr(p, '\n');
    mw_buf_append(w, p, (size_t)(nl + 1 - p));
    p = nl + 1;
  }
  mw_buf_append_str(w, ".\r\n");
  mw_buf_free(&b);
}

static void check_body(struct got *g, size_t i, unsigned k) {
  mw_buf b;
  mw_buf_init(&b);
  body_k(&b, k);
  CHECK_STR(body_of(g, i), b.data);
  CHECK_INT(g->ends[i], 1);
  mw_buf_free(&b);
}

static void expect_commands(struct rig *r, const char *verb, unsigned from,
                            unsigned to) {
  mw_buf want;
  mw_buf_init(&want);
  for (unsigned k = from; k <= to; k++)
    mw_buf_appendf(&want, "%s %u\r\n", verb, k);
  CHECK_STR(sent(r), want.data ? want.data : "");
  mw_buf_free(&want);
}

/* ---- tests ---- */

/* 100 RETRs with PIPELINING: 64 go out at once; the window is topped up
 * (gathered in one write) once half of it is answered. */
static void pipelined_window_exact_bytes(void) {
  struct rig r;
  rig_init(&r);
  connect_with(&r, CAPA_PIPE);
  unsigned long msgs[100];
  for (unsigned k = 0; k < 100; k++)
    msgs[k] = k + 1;
  struct got g;
  got_init(&g);
  CHECK_INT(mw_pop3_engine_begin_batch(&r.e, MW_P3B_RETR, msgs, 100, -1,
                                       collect, &g),
            MW_OK);
  mw_buf w;
  mw_buf_init(&w);
  /* Answers 1..31: 33 still outstanding, nothing more is sent. */
  for (unsigned k = 1; k <= 31; k++)
    wire_k(&w, k);
  CHECK_INT(drive_n(&r, w.data, w.len), MW_STEP_READ);
  expect_commands(&r, "RETR", 1, 64); /* all the begin queued */
  CHECK_INT(r.e.bdone, 31);
  /* Answer 32: 32 outstanding, the window is filled to 64 again. */
  mw_buf_reset(&w);
  wire_k(&w, 32);
  CHECK_INT(drive_n(&r, w.data, w.len), MW_STEP_READ);
  expect_commands(&r, "RETR", 65, 96);
  /* The rest in one go: 97..100 go out after answer 64. */
  mw_buf_reset(&w);
  for (unsigned k = 33; k <= 100; k++)
    wire_k(&w, k);
  CHECK_INT(drive_n(&r, w.data, w.len), MW_STEP_DONE);
  expect_commands(&r, "RETR", 97, 100);
  CHECK_INT(r.s.err.code, MW_OK);
  CHECK_INT(r.e.bcount, 100);
  CHECK(g.order_ok);
  for (unsigned k = 0; k < 100; k++) {
    check_body(&g, k, k + 1);
    CHECK_INT(r.e.batch[k].status, MW_OK);
    CHECK_INT(r.e.batch[k].msg, k + 1);
  }
  mw_buf b;
  mw_buf_init(&b);
  body_k(&b, 7);
  char want[64];
  snprintf(want, sizeof want, "%zu octets", b.len);
  CHECK_STR(mw_pop3_engine_batch_text(&r.e, 6), want);
  CHECK_INT(r.e.state, MW_P3_STOP);
  CHECK_INT(mw_reader_pending(&r.e.in), 0);
  mw_buf_free(&b);
  mw_buf_free(&w);
  got_free(&g);
  rig_free(&r);
}

/* Three answers, the middle one -ERR, fed split at every byte (and byte
 * by byte, and all at once): the same results every time. */
static const char MIXED[] = "+OK 20 octets\r\n"
                            "Subject: a\r\n"
                            "\r\n"
                            "..x\r\n"
                            ".\r\n"
                            "-ERR [SYS/TEMP] no such message\r\n"
                            "+OK\r\n"
                            "...\r\n"
                            "..\r\n"
                            "last\r\n"
                            ".\r\n";

static void run_mixed(size_t split, int bytewise) {
  struct rig r;
  rig_init(&r);
  connect_with(&r, CAPA_PIPE);
  unsigned long msgs[3] = {4, 9, 5};
  struct got g;
  got_init(&g);
  CHECK_INT(
      mw_pop3_engine_begin_batch(&r.e, MW_P3B_RETR, msgs, 3, -1, collect, &g),
      MW_OK);
  size_t n = strlen(MIXED);
  mw_step st = MW_STEP_READ;
  if (bytewise) {
    for (size_t i = 0; i < n && st == MW_STEP_READ; i++)
      st = drive_n(&r, MIXED + i, 1);
  } else {
    st = drive_n(&r, MIXED, split);
    if (st == MW_STEP_READ)
      st = drive_n(&r, MIXED + split, n - split);
  }
  /* One -ERR: the batch ends as a server refusal (the session goes on). */
  CHECK_INT(st, MW_STEP_ERROR);
  CHECK_INT(r.s.err.code, errServer);
  CHECK_INT(r.s.err.number, eexPopServer);
  CHECK_STR(mw_errorinfo_server_text(&r.s.err), "[SYS/TEMP] no such message");
  CHECK(strstr(r.s.err.text, "RETR 9") != NULL);
  CHECK_STR(body_of(&g, 0), "Subject: a\r\n\r\n.x\r\n");
  CHECK_INT(g.ends[0], 1);
  CHECK_STR(body_of(&g, 1), ""); /* a refused message gets no callback */
  CHECK_INT(g.ends[1], 0);
  CHECK_STR(body_of(&g, 2), "..\r\n.\r\nlast\r\n");
  CHECK_INT(g.ends[2], 1);
  CHECK(g.order_ok);
  CHECK_INT(r.e.batch[0].status, MW_OK);
  CHECK_INT(r.e.batch[1].status, errServer);
  CHECK_INT(r.e.batch[2].status, MW_OK);
  CHECK_STR(mw_pop3_engine_batch_text(&r.e, 0), "20 octets");
  CHECK_STR(mw_pop3_engine_batch_text(&r.e, 1), "[SYS/TEMP] no such message");
  CHECK_STR(mw_pop3_engine_batch_text(&r.e, 2), "");
  CHECK_INT(r.e.state, MW_P3_STOP);
  CHECK_INT(mw_reader_pending(&r.e.in), 0);
  if (r.s.err.code != errServer || !g.order_ok)
    fprintf(stderr, "  split at %zu, bytewise %d\n", split, bytewise);
  got_free(&g);
  rig_free(&r);
}

static void err_in_the_middle_at_every_split(void) {
  run_mixed(0, 1);
  for (size_t split = 0; split <= strlen(MIXED); split++)
    run_mixed(split, 0);
}

/* No PIPELINING offered (or turned off): one command, its answer, the
 * next command. */
static void one_at_a_time(const char *capa, int pipelining) {
  struct rig r;
  rig_init(&r);
  r.e.pipelining = pipelining;
  connect_with(&r, capa);
  unsigned long msgs[3] = {2, 3, 1};
  struct got g;
  got_init(&g);
  CHECK_INT(
      mw_pop3_engine_begin_batch(&r.e, MW_P3B_TOP, msgs, 3, 0, collect, &g),
      MW_OK);
  CHECK_INT(drive(&r, ""), MW_STEP_READ);
  CHECK_STR(sent(&r), "TOP 2 0\r\n");
  CHECK_INT(drive(&r, "+OK\r\nSubject: two\r\n\r\n"), MW_STEP_READ);
  CHECK_STR(sent(&r), ""); /* the answer is not complete yet */
  CHECK_INT(drive(&r, ".\r\n"), MW_STEP_READ);
  CHECK_STR(sent(&r), "TOP 3 0\r\n");
  CHECK_INT(drive(&r, "-ERR gone\r\n"), MW_STEP_READ);
  CHECK_STR(sent(&r), "TOP 1 0\r\n");
  CHECK_INT(drive(&r, "+OK\r\nSubject: one\r\n\r\n.\r\n"), MW_STEP_ERROR);
  CHECK_INT(r.s.err.code, errServer);
  CHECK_INT(r.s.err.number, eexPopServer);
  CHECK_STR(body_of(&g, 0), "Subject: two\r\n\r\n");
  CHECK_STR(body_of(&g, 2), "Subject: one\r\n\r\n");
  CHECK_INT(r.e.batch[1].status, errServer);
  CHECK_STR(mw_pop3_engine_batch_text(&r.e, 1), "gone");
  got_free(&g);
  rig_free(&r);
}

static void without_pipelining_one_command_at_a_time(void) {
  one_at_a_time(CAPA_NOPIPE, 1);
  one_at_a_time(CAPA_PIPE, 0);
}

static void dele_batch_exact_bytes(void) {
  struct rig r;
  rig_init(&r);
  connect_with(&r, CAPA_PIPE);
  unsigned long msgs[4] = {3, 1, 4, 2};
  CHECK_INT(
      mw_pop3_engine_begin_batch(&r.e, MW_P3B_DELE, msgs, 4, -1, NULL, NULL),
      MW_OK);
  CHECK_INT(drive(&r, "+OK 3 deleted\r\n+OK 1 deleted\r\n"), MW_STEP_READ);
  CHECK_STR(sent(&r), "DELE 3\r\nDELE 1\r\nDELE 4\r\nDELE 2\r\n");
  CHECK_INT(drive(&r, "+OK 4 deleted\r\n+OK 2 deleted\r\n"), MW_STEP_DONE);
  CHECK_STR(sent(&r), "");
  CHECK_INT(r.s.err.code, MW_OK);
  for (int i = 0; i < 4; i++)
    CHECK_INT(r.e.batch[i].status, MW_OK);
  CHECK_STR(mw_pop3_engine_batch_text(&r.e, 2), "4 deleted");
  rig_free(&r);
}

static void top_batch_exact_bytes(void) {
  struct rig r;
  rig_init(&r);
  connect_with(&r, CAPA_PIPE);
  unsigned long msgs[2] = {7, 8};
  struct got g;
  got_init(&g);
  CHECK_INT(
      mw_pop3_engine_begin_batch(&r.e, MW_P3B_TOP, msgs, 2, 3, collect, &g),
      MW_OK);
  CHECK_INT(
      drive(&r, "+OK\r\nA: 1\r\n\r\nb1\r\n.\r\n+OK\r\nA: 2\r\n\r\n.\r\n"),
      MW_STEP_DONE);
  CHECK_STR(sent(&r), "TOP 7 3\r\nTOP 8 3\r\n");
  CHECK_STR(body_of(&g, 0), "A: 1\r\n\r\nb1\r\n");
  CHECK_STR(body_of(&g, 1), "A: 2\r\n\r\n");
  CHECK_INT(r.s.err.code, MW_OK);
  got_free(&g);
  rig_free(&r);
}

/* LIST n and UIDL n: one line each, checked against the number asked
 * for; -ERR for one does not stop the others. */
static void list_and_uidl_batches(void) {
  struct rig r;
  rig_init(&r);
  connect_with(&r, CAPA_PIPE);
  unsigned long msgs[3] = {2, 9, 1};
  CHECK_INT(
      mw_pop3_engine_begin_batch(&r.e, MW_P3B_LIST, msgs, 3, -1, NULL, NULL),
      MW_OK);
  CHECK_INT(drive(&r, "+OK 2 1200\r\n-ERR no such message\r\n+OK 1 7 "
                      "extra\r\n"),
            MW_STEP_ERROR);
  CHECK_STR(sent(&r), "LIST 2\r\nLIST 9\r\nLIST 1\r\n");
  CHECK_INT(r.s.err.code, errServer);
  CHECK_INT(r.s.err.number, eexPopServer);
  CHECK_INT(r.e.batch[0].status, MW_OK);
  CHECK_INT(r.e.batch[0].size, 1200);
  CHECK_INT(r.e.batch[1].status, errServer);
  CHECK_INT(r.e.batch[2].size, 7);
  CHECK_STR(mw_pop3_engine_batch_text(&r.e, 2), "1 7 extra");

  r.s.err.code = MW_OK;
  CHECK_INT(
      mw_pop3_engine_begin_batch(&r.e, MW_P3B_UIDL, msgs, 2, -1, NULL, NULL),
      MW_OK);
  CHECK_INT(drive(&r, "+OK 2 QhdPYR:00WBw1Ph7x7\r\n+OK 9 a-b \r\n"),
            MW_STEP_DONE);
  CHECK_STR(sent(&r), "UIDL 2\r\nUIDL 9\r\n");
  CHECK_STR(mw_pop3_engine_batch_uid(&r.e, 0), "QhdPYR:00WBw1Ph7x7");
  CHECK_STR(mw_pop3_engine_batch_uid(&r.e, 1), "a-b");
  CHECK_STR(mw_pop3_engine_batch_uid(&r.e, 2), "");

  /* An answer for another message than asked: out of step, a protocol
   * error; nothing after it is reported. */
  CHECK_INT(
      mw_pop3_engine_begin_batch(&r.e, MW_P3B_UIDL, msgs, 2, -1, NULL, NULL),
      MW_OK);
  CHECK_INT(drive(&r, "+OK 3 abc\r\n"), MW_STEP_ERROR);
  CHECK_INT(r.s.err.code, errProtocol);
  CHECK_INT(r.s.err.number, eexMalformedReply);
  CHECK(strstr(r.s.err.text, "UIDL 2") != NULL);
  CHECK_INT(r.e.batch[0].status, errNotConnected);
  CHECK_STR(mw_pop3_engine_batch_uid(&r.e, 0), "");
  rig_free(&r);
  rig_init(&r);
  connect_with(&r, CAPA_PIPE);
  CHECK_INT(
      mw_pop3_engine_begin_batch(&r.e, MW_P3B_LIST, msgs, 1, -1, NULL, NULL),
      MW_OK);
  CHECK_INT(drive(&r, "+OK 2\r\n"), MW_STEP_ERROR); /* no size */
  CHECK_INT(r.s.err.number, eexMalformedReply);
  rig_free(&r);
}

/* Bad arguments: nothing queued, no result from an earlier batch kept. */
static void bad_arguments_queue_nothing(void) {
  struct rig r;
  rig_init(&r);
  connect_with(&r, CAPA_PIPE);
  unsigned long one[1] = {1};
  CHECK_INT(
      mw_pop3_engine_begin_batch(&r.e, MW_P3B_DELE, one, 1, -1, NULL, NULL),
      MW_OK);
  CHECK_INT(drive(&r, "+OK\r\n"), MW_STEP_DONE);
  CHECK_INT(r.e.bcount, 1);
  unsigned long msgs[3] = {1, 0, 2};
  struct got g;
  got_init(&g);
  CHECK_INT(
      mw_pop3_engine_begin_batch(&r.e, MW_P3B_RETR, msgs, 3, -1, collect, &g),
      errInvalidArgument);
  CHECK_INT(r.s.err.number, eexInvalidArgument);
  CHECK(strstr(r.s.err.text, "entry 1 is 0") != NULL);
  CHECK_INT(r.e.out.len, 0);
  CHECK_INT(r.e.bcount, 0);
  CHECK_INT(
      mw_pop3_engine_begin_batch(&r.e, MW_P3B_RETR, one, 1, -1, NULL, NULL),
      errInvalidArgument);
  CHECK_INT(r.s.err.number, eexInvalidArgument);
  CHECK_INT(r.e.out.len, 0);
  CHECK_INT(
      mw_pop3_engine_begin_batch(&r.e, MW_P3B_DELE, NULL, 2, -1, NULL, NULL),
      errInvalidArgument);
  CHECK_INT(r.e.out.len, 0);
  /* An empty batch sends nothing and succeeds. */
  CHECK_INT(
      mw_pop3_engine_begin_batch(&r.e, MW_P3B_RETR, NULL, 0, -1, collect, &g),
      MW_OK);
  CHECK_INT(drive(&r, ""), MW_STEP_DONE);
  CHECK_STR(sent(&r), "");
  CHECK_INT(g.calls, 0);
  got_free(&g);
  rig_free(&r);
}

/* The callback aborts in the middle of the second message: errAborted;
 * the first keeps its result, the second is the aborted one, the third
 * was never answered. */
static void callback_abort(void) {
  struct rig r;
  rig_init(&r);
  connect_with(&r, CAPA_PIPE);
  unsigned long msgs[3] = {1, 2, 3};
  struct got g;
  got_init(&g);
  g.abort_at_call = 3; /* piece of 1, end of 1, piece of 2 */
  CHECK_INT(
      mw_pop3_engine_begin_batch(&r.e, MW_P3B_RETR, msgs, 3, -1, collect, &g),
      MW_OK);
  CHECK_INT(drive(&r, "+OK\r\none\r\n.\r\n+OK\r\ntwo\r\n"), MW_STEP_ERROR);
  CHECK_INT(r.s.err.code, errAborted);
  CHECK_INT(r.s.err.number, eexAborted);
  CHECK(strstr(r.s.err.text, "RETR 2") != NULL);
  CHECK_INT(r.e.batch[0].status, MW_OK);
  CHECK_INT(r.e.batch[1].status, errAborted);
  CHECK_INT(r.e.batch[2].status, errNotConnected);
  CHECK_STR(mw_pop3_engine_batch_text(&r.e, 2), "not answered");
  CHECK_STR(body_of(&g, 0), "one\r\n");
  CHECK_INT(g.ends[1], 0);
  /* An abort from the end call. */
  rig_free(&r);
  rig_init(&r);
  connect_with(&r, CAPA_PIPE);
  got_free(&g);
  got_init(&g);
  g.abort_at_call = 2;
  CHECK_INT(
      mw_pop3_engine_begin_batch(&r.e, MW_P3B_RETR, msgs, 2, -1, collect, &g),
      MW_OK);
  CHECK_INT(drive(&r, "+OK\r\none\r\n.\r\n+OK\r\n"), MW_STEP_ERROR);
  CHECK_INT(r.s.err.number, eexAborted);
  CHECK_INT(r.e.batch[0].status, errAborted);
  CHECK_INT(r.e.batch[1].status, errNotConnected);
  got_free(&g);
  rig_free(&r);
}

/* A reply that is neither +OK nor -ERR in the middle: a protocol error;
 * what was answered keeps its result, nothing after it is reported. */
static void malformed_answer_mid_batch(void) {
  struct rig r;
  rig_init(&r);
  connect_with(&r, CAPA_PIPE);
  unsigned long msgs[3] = {1, 2, 3};
  CHECK_INT(
      mw_pop3_engine_begin_batch(&r.e, MW_P3B_DELE, msgs, 3, -1, NULL, NULL),
      MW_OK);
  CHECK_INT(drive(&r, "+OK\r\n* 2 deleted\r\n+OK\r\n"), MW_STEP_ERROR);
  CHECK_INT(r.s.err.code, errProtocol);
  CHECK_INT(r.s.err.number, eexMalformedReply);
  CHECK(strstr(r.s.err.text, "DELE 2") != NULL);
  CHECK_INT(r.e.batch[0].status, MW_OK);
  CHECK_INT(r.e.batch[1].status, errNotConnected);
  CHECK_INT(r.e.batch[2].status, errNotConnected);
  rig_free(&r);
}

static void over_long_body_line(void) {
  struct rig r;
  rig_init(&r);
  connect_with(&r, CAPA_PIPE);
  unsigned long msgs[1] = {1};
  struct got g;
  got_init(&g);
  CHECK_INT(
      mw_pop3_engine_begin_batch(&r.e, MW_P3B_RETR, msgs, 1, -1, collect, &g),
      MW_OK);
  CHECK_INT(drive(&r, "+OK\r\n"), MW_STEP_READ);
  char *chunk = malloc(65536);
  memset(chunk, 'x', 65536);
  mw_step st = MW_STEP_READ;
  int rounds = 0;
  while (st == MW_STEP_READ && rounds++ < 64) /* no LF in 4 MB */
    st = drive_n(&r, chunk, 65536);
  CHECK_INT(st, MW_STEP_ERROR);
  CHECK_INT(r.s.err.code, errProtocol);
  CHECK_INT(r.s.err.number, eexLineTooLong);
  CHECK(rounds <= MW_MAX_BODY_LINE / 65536 + 1);
  CHECK_INT(r.e.batch[0].status, errNotConnected);
  free(chunk);
  got_free(&g);
  rig_free(&r);
}

/* 20 MB in 64 KB feeds: pieces go out as they come, the reader holds at
 * most one feed plus a partial line, and a bare LF ends a line as CRLF. */
static void constant_memory_and_bare_lf(void) {
  struct rig r;
  rig_init(&r);
  connect_with(&r, CAPA_PIPE);
  unsigned long msgs[2] = {1, 2};
  struct got g;
  got_init(&g);
  CHECK_INT(
      mw_pop3_engine_begin_batch(&r.e, MW_P3B_RETR, msgs, 2, -1, collect, &g),
      MW_OK);
  CHECK_INT(drive(&r, "+OK\r\n"), MW_STEP_READ);
  char chunk[65536];
  for (size_t i = 0; i < sizeof chunk; i++)
    chunk[i] = i % 100 == 98 ? '\r' : i % 100 == 99 ? '\n' : 'a';
  /* Every 100-byte line but the last of the feed is complete. */
  uint64_t total = 0;
  size_t max_cap = 0;
  for (int i = 0; i < 320; i++) {
    CHECK_INT(drive_n(&r, chunk, sizeof chunk), MW_STEP_READ);
    total += sizeof chunk;
    if (r.e.in.in.cap > max_cap)
      max_cap = r.e.in.in.cap;
    mw_buf_reset(&g.body[0]); /* keep the test's own memory small */
  }
  CHECK(max_cap <= 4 * sizeof chunk);
  CHECK(r.e.body_len + mw_reader_pending(&r.e.in) == total);
  CHECK(r.e.body.cap == 0);
  CHECK_INT(drive(&r, "\r\n.\r\n+OK\r\nbare\nlf\n..dot\n.\n"), MW_STEP_DONE);
  CHECK_STR(body_of(&g, 1), "bare\r\nlf\r\n.dot\r\n");
  CHECK_INT(g.ends[0], 1);
  CHECK_INT(g.ends[1], 1);
  CHECK(g.order_ok);
  got_free(&g);
  rig_free(&r);
}

int main(void) {
  RUN(pipelined_window_exact_bytes);
  RUN(err_in_the_middle_at_every_split);
  RUN(without_pipelining_one_command_at_a_time);
  RUN(dele_batch_exact_bytes);
  RUN(top_batch_exact_bytes);
  RUN(list_and_uidl_batches);
  RUN(bad_arguments_queue_nothing);
  RUN(callback_abort);
  RUN(malformed_answer_mid_batch);
  RUN(over_long_body_line);
  RUN(constant_memory_and_bare_lf);
  return tl_finish();
}
