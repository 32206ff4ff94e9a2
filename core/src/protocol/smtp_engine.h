/*
 * smtp_engine.h - the SMTP protocol state machine (private). No I/O: it
 * appends what to send to `out`, takes what the server sent from `in`, and
 * tells mw_session_pump (or a test) what to do next through
 * mw_smtp_engine_step. Configuration, credentials, the LogHandler and the
 * ErrorInfo come from the mw_session it was given.
 */
#ifndef MW_SMTP_ENGINE_H
#define MW_SMTP_ENGINE_H

#include "internal.h"

/* The states; a state named after a command waits for that command's
 * reply. */
typedef enum mw_smtp_state {
  MW_SMTP_IDLE,      /* no operation running */
  MW_SMTP_GREETING,  /* waiting for the 220 greeting */
  MW_SMTP_EHLO,      /* EHLO sent */
  MW_SMTP_HELO,      /* HELO sent (EHLO refused on plaintext) */
  MW_SMTP_STARTTLS,  /* STARTTLS sent */
  MW_SMTP_TLS,       /* asked the pump to start TLS; next: EHLO again */
  MW_SMTP_AUTH,      /* AUTH or an AUTH response sent */
  MW_SMTP_MAIL,      /* MAIL FROM sent */
  MW_SMTP_RCPT,      /* one RCPT TO sent */
  MW_SMTP_DATA,      /* DATA sent */
  MW_SMTP_BODY,      /* streaming the body; no reply expected */
  MW_SMTP_DATA_END,  /* final "." sent */
  MW_SMTP_RSET,      /* RSET sent (by the caller, or after a refusal) */
  MW_SMTP_NOOP,      /* NOOP sent */
  MW_SMTP_QUIT,      /* QUIT sent */
  MW_SMTP_BDAT,      /* sending BDAT chunks, reading their replies */
  MW_SMTP_BATCH,     /* running a batch (smtp_batch.c) */
  MW_SMTP_STATE_LAST /* not a state: the count */
} mw_smtp_state;

typedef struct mw_smtp_rcpt_result {
  int code;          /* reply to RCPT TO, 0 if not sent */
  char enhanced[16]; /* "2.1.5" or "" */
  char *text;        /* malloc'd reply text, or NULL */
} mw_smtp_rcpt_result;

/* Where the body comes from: a caller callback or the engine's memory
 * cursor (mw_smtp_send). */
typedef struct mw_smtp_source {
  mw_read_cb read;
  void *userdata;
  const char *mem; /* for the memory cursor */
  size_t mem_len;
  size_t mem_pos;
} mw_smtp_source;

typedef struct mw_smtp_engine {
  mw_session *s;
  mw_buf out;
  mw_reader in;
  mw_smtp_state state;
  int ready;       /* greeting, EHLO, TLS and AUTH done: mail may go */
  int tls_started; /* STARTTLS went through: the session is secure */
  char *helo_name; /* NULL: the local host name */
  int allow_partial;
  int pipelining_on; /* use PIPELINING when offered (default 1) */
  int chunking_on;   /* use CHUNKING/BDAT when offered (default 1) */

  /* EHLO capabilities. */
  int esmtp; /* EHLO accepted (HELO fallback leaves it 0) */
  char **ext_keyword;
  char **ext_params;
  size_t n_ext;
  mw_buf capabilities;

  /* The reply being read, and the last complete one. */
  int cur_code;
  size_t cur_lines;
  mw_buf cur_text;
  int last_code;
  char last_enhanced[16];
  mw_buf last_text;

  /* AUTH. */
  const char *auth_mech; /* being tried */
  const char *auth_used; /* succeeded */
  int auth_round;        /* 334 challenges answered */

  /* The mail transaction. */
  char *from;
  char **rcpts;
  size_t nrcpts;
  size_t rcpt_next; /* next recipient to send RCPT TO for */
  mw_smtp_rcpt_result *results;
  size_t nresults;
  uint64_t size; /* announced with SIZE; 0 unknown */
  int flags;     /* MW_SEND_* */
  mw_smtp_source src;
  char *chunk; /* body chunk buffer, MW_SMTP_CHUNK bytes */
  uint64_t body_bytes;
  int at_line_start; /* dot-stuffing: next byte starts a line */
  int cr_pending;    /* a CR was read; a following LF joins it */

  /* PIPELINING and BDAT within one transaction. */
  int pipelined;       /* this send pipelines (offered and on) */
  int chunked;         /* this send uses BDAT */
  size_t rcpt_sent;    /* RCPT TOs already in flight */
  int data_sent;       /* DATA went in the flight with the RCPTs */
  int mail_failed;     /* MAIL refused: replies in flight are drained */
  int abandon;         /* DATA in flight must not be followed by a body */
  size_t bdat_pending; /* BDAT replies not yet read */
  int bdat_last_sent;
  int bdat_failed;
  int bdat_eof; /* the source is exhausted */
  mw_buf bdat;  /* next chunk, normalised, waiting for its BDAT line */
  struct mw_smtp_batch *batch; /* results of the last batch */
} mw_smtp_engine;

/* An internal send flag beside the public MW_SEND_*: the headers hold
 * 8-bit bytes (mw_smtp_send scans them). */
#define MW_SEND_UTF8_HEADERS 0x100

/* Size of one body chunk pulled from the source. */
#define MW_SMTP_CHUNK 65536
/* BDAT chunks in flight with PIPELINING (1 without). */
#define MW_SMTP_BDAT_WINDOW 8
/* Most 334 challenges one AUTH exchange may send. */
#define MW_SMTP_MAX_AUTH_ROUNDS 10

void mw_smtp_engine_init(mw_smtp_engine *e, mw_session *s);
void mw_smtp_engine_free(mw_smtp_engine *e);
/* Fill io so mw_session_pump can run this engine. */
void mw_smtp_engine_io(mw_smtp_engine *e, mw_engine_io *io);
mw_step mw_smtp_engine_step(void *engine);
/* The connection is gone: forget the session state (capabilities stay
 * readable until the next connect). */
void mw_smtp_engine_disconnected(mw_smtp_engine *e);

int mw_smtp_engine_set_helo_name(mw_smtp_engine *e, const char *name);
const char *mw_smtp_engine_state_name(mw_smtp_state st);

/* Start an operation; each returns MW_OK, or a base code with s->err set
 * and nothing queued. Then step the engine (mw_session_pump). */
int mw_smtp_engine_begin_connect(mw_smtp_engine *e);
int mw_smtp_engine_begin_send(mw_smtp_engine *e, const char *from,
                              const char *const *rcpts, size_t nrcpts,
                              const char *msg, size_t len);
int mw_smtp_engine_begin_send_stream(mw_smtp_engine *e, const char *from,
                                     const char *const *rcpts, size_t nrcpts,
                                     uint64_t size_hint, int flags,
                                     mw_read_cb read, void *userdata);
int mw_smtp_engine_begin_noop(mw_smtp_engine *e);
int mw_smtp_engine_begin_rset(mw_smtp_engine *e);
int mw_smtp_engine_begin_quit(mw_smtp_engine *e);

/* Capabilities of the last EHLO. */
int mw_smtp_engine_has_extension(const mw_smtp_engine *e, const char *kw);
const char *mw_smtp_engine_extension_params(const mw_smtp_engine *e,
                                            const char *kw);

/* Shared with smtp_batch.c (see there). */
int mw_smtpe_send_line(mw_smtp_engine *e, const char *line);
int mw_smtpe_read_reply(mw_smtp_engine *e);
int mw_smtpe_normalise(mw_smtp_engine *e, mw_buf *dst, const char *p, size_t n,
                       int stuff);
int mw_smtpe_check_addresses(mw_smtp_engine *e, const char *from,
                             const char *const *rcpts, size_t nrcpts);
int mw_smtpe_begin(mw_smtp_engine *e);
void mw_smtpe_set_state(mw_smtp_engine *e, mw_smtp_state st);
int mw_smtpe_fail(mw_smtp_engine *e);
int mw_smtpe_fail_set(mw_smtp_engine *e, int number, const char *msg);

/* The batch (smtp_batch.c). */
int mw_smtp_engine_begin_batch(mw_smtp_engine *e, const mw_smtp_message *msgs,
                               size_t n);
int mw_smtp_batch_step(mw_smtp_engine *e);
void mw_smtp_batch_free(mw_smtp_engine *e);
size_t mw_smtp_engine_batch_count(const mw_smtp_engine *e);
int mw_smtp_engine_batch_code(const mw_smtp_engine *e, size_t i);
const char *mw_smtp_engine_batch_enhanced(const mw_smtp_engine *e, size_t i);
const char *mw_smtp_engine_batch_text(const mw_smtp_engine *e, size_t i);
/* Recipient j of message i (NULL if out of range); *count gets the
 * message's recipient count. */
const mw_smtp_rcpt_result *mw_smtp_engine_batch_rcpt(const mw_smtp_engine *e,
                                                     size_t i, size_t j,
                                                     size_t *count);

#endif /* MW_SMTP_ENGINE_H */
