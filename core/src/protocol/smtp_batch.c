/* smtp_batch.c - several messages over one connection (mw_smtp_send_batch).
 * No I/O, like the engine it extends: commands go to e->out, replies come
 * from e->in.
 *
 * With PIPELINING the commands of message k+1 go out while the replies of
 * message k are still coming (RFC 2920): a producer queues commands and
 * records, in a FIFO, which reply each one expects; a consumer takes the
 * replies in order. The FIFO is bounded (MW_BATCH_WINDOW commands), so the
 * replies the server may have to hold back while the client writes stay
 * far below any socket buffer: neither side can block the other. With
 * CHUNKING a whole message (MAIL, RCPTs, BDAT chunks, the last one LAST)
 * goes out without waiting; without it the body waits for DATA's 354.
 * Without PIPELINING the window is one command.
 *
 * Partial delivery per message: a message goes to the recipients the
 * server accepted (its refused ones are in the per-recipient results). */
#include "address.h"
#include "smtp_engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MW_BATCH_WINDOW 100    /* commands in flight with PIPELINING */
#define MW_BATCH_GATHER 131072 /* bytes gathered before a write */

enum { K_MAIL, K_RCPT, K_DATA, K_DOT, K_BDAT, K_BDAT_LAST, K_RSET };

/* Where the producer is in the current message. */
enum { P_MAIL, P_RCPT, P_BODYCMD, P_BDAT, P_WAIT354, P_BODY, P_DONE };

typedef struct expect {
  unsigned char kind;
  size_t msg, rcpt;
} expect;

typedef struct batch_result {
  int code; /* 0 until the final reply (or a refusal) arrived */
  char enhanced[16];
  char *text;
  size_t nrcpts;
  mw_smtp_rcpt_result *rcpts;
  size_t accepted;
  int failed; /* a refusal was recorded in code/text */
} batch_result;

struct mw_smtp_batch {
  const mw_smtp_message *msgs;
  size_t n;
  batch_result *res;
  expect q[MW_BATCH_WINDOW];
  size_t qhead, qlen, window;
  size_t pm;    /* message being produced */
  int phase;    /* P_* */
  size_t pr;    /* next recipient of pm */
  size_t pos;   /* body bytes of pm already queued */
  int chunking; /* BDAT for this batch */
  int size_ext; /* SIZE offered */
  int eightbit; /* 8BITMIME offered */
  int smtputf8; /* SMTPUTF8 offered */
};

/* ---- lifetime ---- */

static void free_results(struct mw_smtp_batch *b) {
  for (size_t i = 0; b->res && i < b->n; i++) {
    for (size_t j = 0; j < b->res[i].nrcpts; j++)
      free(b->res[i].rcpts[j].text);
    free(b->res[i].rcpts);
    free(b->res[i].text);
  }
  free(b->res);
  b->res = NULL;
}

void mw_smtp_batch_free(mw_smtp_engine *e) {
  if (!e->batch)
    return;
  free_results(e->batch);
  free(e->batch);
  e->batch = NULL;
}

/* ---- the FIFO of expected replies ---- */

static void expect_push(struct mw_smtp_batch *b, int kind, size_t msg,
                        size_t rcpt) {
  expect *x = &b->q[(b->qhead + b->qlen) % MW_BATCH_WINDOW];
  x->kind = (unsigned char)kind;
  x->msg = msg;
  x->rcpt = rcpt;
  b->qlen++;
}

static expect expect_pop(struct mw_smtp_batch *b) {
  expect x = b->q[b->qhead];
  b->qhead = (b->qhead + 1) % MW_BATCH_WINDOW;
  b->qlen--;
  return x;
}

/* ---- recording replies ---- */

static const char *reply_text(const mw_smtp_engine *e) {
  return e->last_text.data ? e->last_text.data : "";
}

static int record(mw_smtp_engine *e, int *code, char enh[16], char **text) {
  char *t = mw_strdup(reply_text(e));
  if (!t)
    return -1;
  *code = e->last_code;
  memcpy(enh, e->last_enhanced, 16);
  free(*text);
  *text = t;
  return 0;
}

/* The first refusal of a message is its result. */
static int refuse(mw_smtp_engine *e, batch_result *r) {
  if (r->failed)
    return 0;
  r->failed = 1;
  return record(e, &r->code, r->enhanced, &r->text);
}

static int no_memory(mw_smtp_engine *e) {
  return mw_smtpe_fail_set(e, eexNoMemory,
                           "Out of memory while sending a batch.");
}

/* ---- the producer ---- */

/* Is an address of m (what goes inside <...>, not a display name) not
 * ASCII? */
static int addresses_8bit(const mw_smtp_message *m) {
  size_t n;
  const char *a = mw_address_path(m->from, &n);
  int u = mw_has_8bit(a, n);
  for (size_t j = 0; j < m->nrcpts; j++) {
    a = mw_address_path(m->rcpts[j], &n);
    u |= mw_has_8bit(a, n);
  }
  return u;
}

static int queue_mail(mw_smtp_engine *e, struct mw_smtp_batch *b) {
  const mw_smtp_message *m = &b->msgs[b->pm];
  mw_buf line;
  mw_buf_init(&line);
  size_t n;
  const char *from = mw_address_path(m->from, &n);
  int bad = mw_buf_appendf(&line, "MAIL FROM:<%.*s>", (int)n, from);
  if (b->size_ext && m->len)
    bad |= mw_buf_appendf(&line, " SIZE=%zu", m->len);
  if (b->eightbit && mw_has_8bit(m->data, m->len))
    bad |= mw_buf_append_str(&line, " BODY=8BITMIME");
  int utf8 = addresses_8bit(m);
  /* UTF-8 headers: SMTPUTF8 when offered (RFC 6531 3.4), as send. */
  if (!utf8 && b->smtputf8 && mw_headers_8bit(m->data, m->len))
    utf8 = 1;
  if (utf8)
    bad |= mw_buf_append_str(&line, " SMTPUTF8");
  bad = bad || mw_smtpe_send_line(e, line.data) != 0;
  mw_buf_free(&line);
  if (bad)
    return -1;
  expect_push(b, K_MAIL, b->pm, 0);
  b->phase = P_RCPT;
  b->pr = 0;
  return 0;
}

static int queue_rcpt(mw_smtp_engine *e, struct mw_smtp_batch *b) {
  mw_buf line;
  mw_buf_init(&line);
  size_t n;
  const char *to = mw_address_path(b->msgs[b->pm].rcpts[b->pr], &n);
  int bad = mw_buf_appendf(&line, "RCPT TO:<%.*s>", (int)n, to) ||
            mw_smtpe_send_line(e, line.data) != 0;
  mw_buf_free(&line);
  if (bad)
    return -1;
  expect_push(b, K_RCPT, b->pm, b->pr);
  if (++b->pr == b->msgs[b->pm].nrcpts)
    b->phase = P_BODYCMD;
  return 0;
}

static void next_message(struct mw_smtp_batch *b) {
  b->pm++;
  b->pos = 0;
  b->phase = b->pm < b->n ? P_MAIL : P_DONE;
}

/* One BDAT chunk of at most MW_SMTP_CHUNK message bytes, CRLF normalised
 * (no dot-stuffing); the last one LAST. */
static int queue_bdat(mw_smtp_engine *e, struct mw_smtp_batch *b) {
  const mw_smtp_message *m = &b->msgs[b->pm];
  if (b->pos == 0) {
    e->at_line_start = 1;
    e->cr_pending = 0;
  }
  size_t n = m->len - b->pos;
  if (n > MW_SMTP_CHUNK)
    n = MW_SMTP_CHUNK;
  mw_buf_reset(&e->bdat);
  if (n && mw_smtpe_normalise(e, &e->bdat, m->data + b->pos, n, 0) != 0)
    return -1;
  b->pos += n;
  int last = b->pos == m->len;
  if (last && (e->cr_pending || !e->at_line_start) &&
      mw_buf_append(&e->bdat, "\r\n", 2) != 0)
    return -1;
  char line[64];
  snprintf(line, sizeof line, "BDAT %zu%s", e->bdat.len, last ? " LAST" : "");
  if (mw_smtpe_send_line(e, line) != 0 ||
      mw_buf_append(&e->out, e->bdat.data ? e->bdat.data : "", e->bdat.len))
    return -1;
  expect_push(b, last ? K_BDAT_LAST : K_BDAT, b->pm, 0);
  if (last)
    next_message(b);
  return 0;
}

/* After DATA's 354: the body, dot-stuffed, a piece at a time. */
static int queue_body(mw_smtp_engine *e, struct mw_smtp_batch *b) {
  const mw_smtp_message *m = &b->msgs[b->pm];
  size_t n = m->len - b->pos;
  if (n > MW_SMTP_CHUNK)
    n = MW_SMTP_CHUNK;
  if (n && mw_smtpe_normalise(e, &e->out, m->data + b->pos, n, 1) != 0)
    return -1;
  b->pos += n;
  if (b->pos < m->len)
    return 0;
  int bad = 0;
  if (e->cr_pending || !e->at_line_start)
    bad |= mw_buf_append(&e->out, "\r\n", 2);
  bad |= mw_buf_append(&e->out, ".\r\n", 3);
  if (bad)
    return -1;
  mw_log(e->s->log, LOG_S_INFORMATION, LOG_F_PROTOCOL,
         "C: <message %zu body, %zu bytes>", b->pm + 1, m->len);
  mw_log_line(e->s->log, 'C', ".", 1);
  expect_push(b, K_DOT, b->pm, 0);
  next_message(b);
  return 0;
}

/* A message no recipient accepted: its result is the first recipient's
 * refusal (the 550), as mw_smtp_send reports it, not what the server says
 * to a DATA nothing can follow. */
static int refuse_by_recipients(batch_result *r) {
  if (r->failed || r->accepted)
    return 0;
  for (size_t j = 0; j < r->nrcpts; j++) {
    mw_smtp_rcpt_result *rr = &r->rcpts[j];
    if (rr->code / 100 == 2)
      continue;
    char *t = mw_strdup(rr->text ? rr->text : "");
    if (!t)
      return -1;
    r->failed = 1;
    r->code = rr->code;
    memcpy(r->enhanced, rr->enhanced, sizeof r->enhanced);
    free(r->text);
    r->text = t;
    return 0;
  }
  return 0;
}

/* Lockstep (no PIPELINING): every reply of the message is in. When MAIL
 * was refused or no recipient accepted, RSET ends the transaction, as
 * mw_smtp_send does; DATA would only be refused (503). */
static int abandon_message(mw_smtp_engine *e, struct mw_smtp_batch *b) {
  if (refuse_by_recipients(&b->res[b->pm]) != 0 ||
      mw_smtpe_send_line(e, "RSET") != 0)
    return -1;
  expect_push(b, K_RSET, b->pm, 0);
  next_message(b);
  return 0;
}

static int lost_cause(const struct mw_smtp_batch *b) {
  const batch_result *r = &b->res[b->pm];
  return b->window == 1 &&
         (r->failed || (b->phase == P_BODYCMD && r->accepted == 0));
}

static int produce_one(mw_smtp_engine *e, struct mw_smtp_batch *b) {
  if ((b->phase == P_RCPT || b->phase == P_BODYCMD) && lost_cause(b))
    return abandon_message(e, b);
  switch (b->phase) {
  case P_MAIL:
    return queue_mail(e, b);
  case P_RCPT:
    return queue_rcpt(e, b);
  case P_BODYCMD:
    if (b->chunking) {
      b->phase = P_BDAT;
      return 0;
    }
    if (mw_smtpe_send_line(e, "DATA") != 0)
      return -1;
    expect_push(b, K_DATA, b->pm, 0);
    b->phase = P_WAIT354;
    return 0;
  case P_BDAT:
    return queue_bdat(e, b);
  case P_BODY:
    return queue_body(e, b);
  default:
    return 0;
  }
}

/* Queue commands while the window has room; the pump writes what was
 * gathered and reads replies in between. */
static int produce(mw_smtp_engine *e, struct mw_smtp_batch *b) {
  while (b->phase != P_DONE && b->phase != P_WAIT354) {
    if (b->qlen >= b->window)
      break;
    if (e->out.len >= MW_BATCH_GATHER)
      return MW_STEP_FLUSH;
    if (produce_one(e, b) != 0)
      return no_memory(e);
  }
  if (e->out.len)
    return MW_STEP_FLUSH;
  if (b->qlen == 0 && b->phase == P_DONE)
    return MW_STEP_DONE;
  return MW_STEP_READ;
}

/* ---- the consumer ---- */

static int take_data_reply(mw_smtp_engine *e, struct mw_smtp_batch *b,
                           batch_result *r, size_t msg) {
  if (e->last_code == 354 && r->accepted && !r->failed) {
    b->phase = P_BODY; /* the producer waits on this message */
    b->pos = 0;
    e->at_line_start = 1;
    e->cr_pending = 0;
    return 0;
  }
  if (e->last_code == 354)
    return mw_smtpe_fail_set(e, eexMalformedReply,
                             "The SMTP server accepted DATA for a message it "
                             "had refused; the connection was closed so that "
                             "nothing is delivered.");
  if (refuse_by_recipients(r) != 0 || refuse(e, r) != 0)
    return no_memory(e);
  /* What is left of the transaction goes; then the next message. */
  (void)msg;
  if (mw_smtpe_send_line(e, "RSET") != 0)
    return no_memory(e);
  expect_push(b, K_RSET, msg, 0);
  next_message(b);
  return 0;
}

static int consume(mw_smtp_engine *e, struct mw_smtp_batch *b) {
  expect x = expect_pop(b);
  batch_result *r = &b->res[x.msg];
  int ok = e->last_code / 100 == 2;
  int bad = 0;
  switch (x.kind) {
  case K_MAIL:
    if (!ok)
      bad = refuse(e, r);
    break;
  case K_RCPT: {
    mw_smtp_rcpt_result *rr = &r->rcpts[x.rcpt];
    bad = record(e, &rr->code, rr->enhanced, &rr->text);
    if (ok)
      r->accepted++;
    break;
  }
  case K_DATA:
    return take_data_reply(e, b, r, x.msg);
  case K_BDAT:
    if (!ok)
      bad = refuse(e, r);
    break;
  case K_DOT:
  case K_BDAT_LAST:
    if (!ok || r->failed)
      bad = refuse(e, r);
    else
      bad = record(e, &r->code, r->enhanced, &r->text);
    break;
  default: /* K_RSET: nothing to keep */
    break;
  }
  return bad ? no_memory(e) : 0;
}

/* The first refused message (or recipient) becomes the error. */
static void set_outcome(mw_smtp_engine *e, struct mw_smtp_batch *b) {
  size_t refused = 0, first = b->n;
  for (size_t i = 0; i < b->n; i++) {
    batch_result *r = &b->res[i];
    int bad = r->code / 100 != 2 || r->accepted < r->nrcpts;
    if (bad && refused++ == 0)
      first = i;
  }
  if (!refused)
    return;
  batch_result *r = &b->res[first];
  if (r->code / 100 == 2) { /* delivered, but not to every recipient */
    for (size_t j = 0; j < r->nrcpts; j++)
      if (r->rcpts[j].code / 100 != 2) {
        mw_error_server(&e->s->err, eexSmtpServer, r->rcpts[j].code,
                        r->rcpts[j].enhanced, r->rcpts[j].text,
                        "The SMTP server refused recipient <%s> of message "
                        "%zu: %d %s (%zu of %zu messages not accepted by "
                        "every recipient; see the batch results).",
                        b->msgs[first].rcpts[j], first + 1, r->rcpts[j].code,
                        r->rcpts[j].text ? r->rcpts[j].text : "", refused,
                        b->n);
        return;
      }
  }
  mw_error_server(&e->s->err, eexSmtpServer, r->code, r->enhanced, r->text,
                  "The SMTP server refused message %zu: %d %s (%zu of %zu "
                  "messages not accepted by every recipient; see the batch "
                  "results).",
                  first + 1, r->code, r->text ? r->text : "", refused, b->n);
}

int mw_smtp_batch_step(mw_smtp_engine *e) {
  struct mw_smtp_batch *b = e->batch;
  while (b->qlen) {
    int got = mw_smtpe_read_reply(e);
    if (got < 0)
      return mw_smtpe_fail(e);
    if (got == 0)
      break;
    if (consume(e, b) != 0)
      return MW_STEP_ERROR;
  }
  int st = produce(e, b);
  if (st == MW_STEP_DONE) {
    set_outcome(e, b);
    mw_smtpe_set_state(e, MW_SMTP_IDLE);
  }
  return st;
}

/* ---- starting ---- */

static int check_messages(mw_smtp_engine *e, const mw_smtp_message *msgs,
                          size_t n, int *utf8) {
  if (!msgs && n)
    return mw_error_set(&e->s->err, eexInvalidArgument, 0,
                        "The message list is NULL; nothing was sent.");
  for (size_t i = 0; i < n; i++) {
    const mw_smtp_message *m = &msgs[i];
    int rc = mw_smtpe_check_addresses(e, m->from, m->rcpts, m->nrcpts);
    if (rc != MW_OK)
      return rc;
    if (!m->data && m->len)
      return mw_error_set(&e->s->err, eexInvalidArgument, 0,
                          "Message %zu is NULL but its length is %zu; "
                          "nothing was sent.",
                          i + 1, m->len);
    *utf8 |= addresses_8bit(m);
  }
  if (*utf8 && !mw_smtp_engine_has_extension(e, "SMTPUTF8"))
    return mw_error_set(&e->s->err, eexUTF8Unsupported, 0,
                        "An address is not ASCII and the SMTP server does "
                        "not offer SMTPUTF8; nothing was sent.");
  return MW_OK;
}

static int alloc_results(struct mw_smtp_batch *b) {
  if (!b->n)
    return 0;
  b->res = calloc(b->n, sizeof *b->res);
  if (!b->res)
    return -1;
  for (size_t i = 0; i < b->n; i++) {
    b->res[i].rcpts = calloc(b->msgs[i].nrcpts, sizeof *b->res[i].rcpts);
    if (!b->res[i].rcpts)
      return -1;
    b->res[i].nrcpts = b->msgs[i].nrcpts;
  }
  return 0;
}

int mw_smtp_engine_begin_batch(mw_smtp_engine *e, const mw_smtp_message *msgs,
                               size_t n) {
  int utf8 = 0;
  /* The last batch's results go first: a refused batch leaves none. */
  mw_smtp_batch_free(e);
  int rc = check_messages(e, msgs, n, &utf8);
  if (rc == MW_OK)
    rc = mw_smtpe_begin(e);
  if (rc != MW_OK)
    return rc;
  struct mw_smtp_batch *b = calloc(1, sizeof *b);
  if (!b)
    return mw_error_set(&e->s->err, eexNoMemory, 0, NULL);
  e->batch = b;
  b->msgs = msgs;
  b->n = n;
  if (alloc_results(b) != 0) {
    b->n = n; /* free what was allocated */
    mw_smtp_batch_free(e);
    return mw_error_set(&e->s->err, eexNoMemory, 0, NULL);
  }
  int pipe = e->pipelining_on && mw_smtp_engine_has_extension(e, "PIPELINING");
  b->window = pipe ? MW_BATCH_WINDOW : 1;
  b->chunking = e->chunking_on && mw_smtp_engine_has_extension(e, "CHUNKING");
  b->size_ext = mw_smtp_engine_has_extension(e, "SIZE");
  b->eightbit = mw_smtp_engine_has_extension(e, "8BITMIME");
  b->smtputf8 = mw_smtp_engine_has_extension(e, "SMTPUTF8");
  b->phase = n ? P_MAIL : P_DONE;
  if (!e->chunk && !(e->chunk = malloc(MW_SMTP_CHUNK)))
    return mw_error_set(&e->s->err, eexNoMemory, 0, NULL);
  mw_smtpe_set_state(e, MW_SMTP_BATCH);
  return MW_OK;
}

/* ---- results ---- */

static const batch_result *result(const mw_smtp_engine *e, size_t i) {
  return e->batch && i < e->batch->n ? &e->batch->res[i] : NULL;
}

size_t mw_smtp_engine_batch_count(const mw_smtp_engine *e) {
  return e->batch ? e->batch->n : 0;
}

int mw_smtp_engine_batch_code(const mw_smtp_engine *e, size_t i) {
  const batch_result *r = result(e, i);
  return r ? r->code : 0;
}

const char *mw_smtp_engine_batch_enhanced(const mw_smtp_engine *e, size_t i) {
  const batch_result *r = result(e, i);
  return r ? r->enhanced : "";
}

const char *mw_smtp_engine_batch_text(const mw_smtp_engine *e, size_t i) {
  const batch_result *r = result(e, i);
  return r && r->text ? r->text : "";
}

const mw_smtp_rcpt_result *mw_smtp_engine_batch_rcpt(const mw_smtp_engine *e,
                                                     size_t i, size_t j,
                                                     size_t *count) {
  const batch_result *r = result(e, i);
  if (count)
    *count = r ? r->nrcpts : 0;
  return r && j < r->nrcpts ? &r->rcpts[j] : NULL;
}
