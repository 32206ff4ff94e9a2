/* pop3_engine.h - the POP3 state machine (RFC 1939, 2449, 2595, 5034).
 * No I/O: commands go to `out`, replies are read from `in`, and
 * mw_session_pump moves the bytes. Private to the library and its tests. */
#ifndef MW_POP3_ENGINE_H
#define MW_POP3_ENGINE_H

#include "internal.h"

/* Every state, in the order of a session. mw_pop3_state_name() names them
 * for tracing. */
#define MW_POP3_STATE_MAP(X)                                                  \
  X(MW_P3_STOP)      /* idle: the operation is over */                        \
  X(MW_P3_GREETING)  /* waiting for the greeting */                           \
  X(MW_P3_CAPA)      /* CAPA sent */                                          \
  X(MW_P3_CAPA_BODY) /* reading capability lines */                           \
  X(MW_P3_STLS)      /* STLS sent */                                          \
  X(MW_P3_STARTTLS)  /* the pump is doing the handshake */                    \
  X(MW_P3_USER)      /* USER sent */                                          \
  X(MW_P3_PASS)      /* PASS sent */                                          \
  X(MW_P3_APOP)      /* APOP sent */                                          \
  X(MW_P3_AUTH)      /* AUTH sent, challenges or the result */                \
  X(MW_P3_STAT)                                                               \
  X(MW_P3_LIST)                                                               \
  X(MW_P3_LIST_BODY)                                                          \
  X(MW_P3_UIDL)                                                               \
  X(MW_P3_UIDL_BODY)                                                          \
  X(MW_P3_LIST_ONE)                                                           \
  X(MW_P3_UIDL_ONE)                                                           \
  X(MW_P3_RETR)      /* RETR or TOP sent */                                   \
  X(MW_P3_RETR_BODY) /* reading the message */                                \
  X(MW_P3_DELE)                                                               \
  X(MW_P3_RSET)                                                               \
  X(MW_P3_NOOP)                                                               \
  X(MW_P3_QUIT)                                                               \
  X(MW_P3_BATCH)      /* a batch: the status line of the next answer */       \
  X(MW_P3_BATCH_BODY) /* a batch: the message of the current answer */

typedef enum mw_pop3_state {
#define MW_X_(sym) sym,
  MW_POP3_STATE_MAP(MW_X_)
#undef MW_X_
      MW_P3_LAST
} mw_pop3_state;

#define MW_POP3_MAX_UID 70 /* RFC 1939: 1 to 70 characters 0x21..0x7E */

typedef struct mw_pop3_entry {
  unsigned long number;
  uint64_t size;  /* LIST; 0 after UIDL */
  size_t uid_off; /* offset in uids (UIDL), or SIZE_MAX */
} mw_pop3_entry;

/* The batch calls (RETR, TOP, DELE over a pipelined window). */
typedef enum mw_pop3_batch_kind {
  MW_P3B_RETR,
  MW_P3B_TOP,
  MW_P3B_DELE,
  MW_P3B_LIST, /* LIST n: one line, "+OK n size" */
  MW_P3B_UIDL  /* UIDL n: one line, "+OK n uid" */
} mw_pop3_batch_kind;

/* One message of a batch: its result once answered. */
typedef struct mw_pop3_bentry {
  unsigned long msg;
  int status;      /* MW_OK, errServer, else not answered (see pop3.c) */
  size_t text_off; /* its status text in batch_texts, or SIZE_MAX */
  uint64_t size;   /* LIST n */
  size_t uid_off;  /* UIDL n: the UID in batch_texts, or SIZE_MAX */
} mw_pop3_bentry;

typedef struct mw_pop3_engine {
  mw_session *s; /* configuration, credentials, log, ErrorInfo */
  mw_buf out;    /* to send */
  mw_reader in;  /* received */
  mw_pop3_state state;
  int tls_active; /* STLS handshake done by the pump */

  /* What the server told us. */
  char *timestamp; /* APOP timestamp from the greeting, "<...>" */
  mw_buf caps;     /* capability lines, joined by '\n' */
  mw_buf caps_z;   /* the same lines, each NUL-terminated */
  size_t ncaps;
  mw_buf last_text; /* text of the last +OK / -ERR line */
  const char *mech_used;
  int auth_round;
  int have_capa; /* CAPA was answered (+OK): its list can be trusted */
  int apop_auto; /* APOP was chosen, not asked for: USER may follow */

  /* Results. */
  unsigned long stat_count;
  uint64_t stat_octets;
  mw_pop3_entry *entries;
  size_t nentries, entries_cap;
  mw_buf uids;
  uint64_t one_size;
  char one_uid[MW_POP3_MAX_UID + 1];

  /* The running command. */
  char cmd[48];      /* "RETR 5", for messages (never secrets) */
  unsigned long msg; /* its message number */

  /* RETR/TOP: into body (sink NULL, bounded by max_size), or straight
   * from the reader's buffer to sink (or to the batch's bsink). */
  mw_write_cb sink;
  void *sink_ud;
  mw_buf body;
  uint64_t body_len, max_size;
  int too_large;

  /* Batches: answers are read in order, commands go out over a window of
   * at most `window` outstanding ones (1 without PIPELINING). */
  int pipelining; /* the caller's setting (default on) */
  mw_pop3_batch_kind bkind;
  long long btop;
  mw_msg_write_cb bsink;
  void *bsink_ud;
  mw_pop3_bentry *batch;
  size_t bcount, bcap;
  size_t bsent, bdone; /* commands queued; answers completed */
  size_t window;
  size_t brefused, bfirst_refused;
  size_t tail_scanned; /* bytes of the buffered partial body line searched */
  mw_buf batch_texts;
} mw_pop3_engine;

void mw_pop3_engine_init(mw_pop3_engine *e, mw_session *s);
void mw_pop3_engine_free(mw_pop3_engine *e);
/* Forget the connection: buffers, capabilities, timestamp, state. */
void mw_pop3_engine_reset(mw_pop3_engine *e);
const char *mw_pop3_state_name(int state);

/* Start an operation; mw_pop3_engine_step (through the pump) runs it.
 * They return MW_OK, or a base code with s->err filled and nothing in
 * out. */
int mw_pop3_engine_begin_connect(mw_pop3_engine *e);
int mw_pop3_engine_begin_stat(mw_pop3_engine *e);
int mw_pop3_engine_begin_list(mw_pop3_engine *e);
int mw_pop3_engine_begin_uidl(mw_pop3_engine *e);
int mw_pop3_engine_begin_list_one(mw_pop3_engine *e, unsigned long msg);
int mw_pop3_engine_begin_uidl_one(mw_pop3_engine *e, unsigned long msg);
/* top_lines < 0: RETR, else TOP msg top_lines. sink NULL: into e->body,
 * at most max_size bytes (0: no limit). */
int mw_pop3_engine_begin_retr(mw_pop3_engine *e, unsigned long msg,
                              long long top_lines, mw_write_cb sink, void *ud,
                              uint64_t max_size);
int mw_pop3_engine_begin_dele(mw_pop3_engine *e, unsigned long msg);
/* A batch of n messages (top_lines for MW_P3B_TOP; write for RETR/TOP).
 * Every argument is checked before anything is queued. Results stay in
 * e->batch until the next batch. Done: MW_OK, or errServer (eexPopServer)
 * when some got -ERR. */
int mw_pop3_engine_begin_batch(mw_pop3_engine *e, mw_pop3_batch_kind kind,
                               const unsigned long *msgs, size_t n,
                               long long top_lines, mw_msg_write_cb write,
                               void *ud);
/* The status text of batch entry i ("" when none). */
const char *mw_pop3_engine_batch_text(const mw_pop3_engine *e, size_t i);
/* The UID of entry i of a UIDL batch ("" when none). */
const char *mw_pop3_engine_batch_uid(const mw_pop3_engine *e, size_t i);
int mw_pop3_engine_begin_rset(mw_pop3_engine *e);
int mw_pop3_engine_begin_noop(mw_pop3_engine *e);
int mw_pop3_engine_begin_quit(mw_pop3_engine *e);

mw_step mw_pop3_engine_step(void *engine);
/* Fill io so mw_session_pump can run this engine. */
void mw_pop3_engine_io(mw_pop3_engine *e, mw_engine_io *io);

/* Capabilities (from the last CAPA). */
int mw_pop3_engine_has_cap(const mw_pop3_engine *e, const char *keyword);
const char *mw_pop3_engine_cap_params(const mw_pop3_engine *e,
                                      const char *keyword);

#endif /* MW_POP3_ENGINE_H */
