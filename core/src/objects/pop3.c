/* pop3.c - POP3Client: the public mw_pop3_* calls. Each call checks its
 * arguments and starts an operation in the engine (pop3_engine.c,
 * mw_pop3_begin_*); the blocking calls then run it with the blocking
 * driver (blocking.c) over the session state machine (io.c). */
#include "pop3_engine.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define P3_DEFAULT_PORT 110
#define P3_DEFAULT_TLS_PORT 995
#define P3_DEFAULT_MAX_MESSAGE ((uint64_t)256 * 1024 * 1024)
#define P3_MAX_HOST 255
#define P3_MAX_USER 512
#define P3_MAX_PASS 8192

struct mw_pop3 {
  mw_session s;
  mw_pop3_engine eng;
  uint64_t max_message;
};

mw_pop3 *mw_pop3_new(void) {
  mw_pop3 *c = calloc(1, sizeof *c);
  if (!c)
    return NULL;
  mw_session_init(&c->s);
  mw_pop3_engine_init(&c->eng, &c->s);
  mw_engine_io eng;
  mw_pop3_engine_io(&c->eng, &eng);
  c->s.io.eng = eng;
  c->max_message = P3_DEFAULT_MAX_MESSAGE;
  return c;
}

void mw_pop3_free(mw_pop3 *c) {
  if (!c)
    return;
  mw_conn_close(&c->s.conn); /* no QUIT: nothing marked is deleted */
  mw_pop3_engine_free(&c->eng);
  mw_session_free(&c->s);
  free(c);
}

/* ---- call framing ---- */

/* Every call starts with a clean ErrorInfo and refuses re-entry from a
 * callback (the engine is in the middle of a reply then). A refused call
 * leaves the ErrorInfo alone: it belongs to the running call. */
static int enter(mw_pop3 *c) {
  if (c->s.busy)
    return errState;
  mw_error_clear(&c->s.err);
  int rc = mw_session_check_process(&c->s); /* refused after fork() */
  if (rc != MW_OK)
    return rc;
  mw_session_begin_op(&c->s);
  c->s.busy = 1;
  return MW_OK;
}

static int leave(mw_pop3 *c, int rc) {
  c->s.busy = 0;
  return rc;
}

static int connected(const mw_pop3 *c) {
  return mw_conn_is_open(&c->s.conn);
}

static int require_connected(mw_pop3 *c) {
  if (connected(c))
    return MW_OK;
  return mw_error_set(&c->s.err, eexNotConnected, 0,
                      "Not connected to the POP3 server; call "
                      "mw_pop3_connect first.");
}

static int refuse_while_connected(mw_pop3 *c, const char *what) {
  return mw_error_set(&c->s.err, eexState, 0,
                      "The %s cannot change while connected; disconnect or "
                      "quit first.",
                      what);
}

/* When an operation ends, whichever driver ran it. */
static int finish_op(void *owner, int rc) {
  (void)owner;
  return rc;
}

/* connect gives a logged-in session or nothing half-open */
static int finish_connect(void *owner, int rc) {
  mw_pop3 *c = owner;
  if (rc != MW_OK && connected(c) && c->s.err.number != eexState)
    mw_conn_close(&c->s.conn);
  return rc;
}

/* QUIT ends the session whatever the answer. */
static int finish_quit(void *owner, int rc) {
  mw_pop3 *c = owner;
  mw_conn_close(&c->s.conn);
  return rc;
}

/* Start what the engine's begin (begin_rc) set up: the session runs it
 * (the call stays busy until it ends). A begin that fails because the
 * session is out of step (a protocol error) closes it as a failed
 * operation would. */
static int start(mw_pop3 *c, int begin_rc, int (*fin)(void *, int)) {
  if (begin_rc == MW_OK)
    begin_rc = mw_io_start(&c->s.io, fin, c);
  if (begin_rc == MW_OK)
    return MW_OK;
  if (begin_rc == errProtocol)
    mw_conn_close(&c->s.conn);
  return leave(c, begin_rc);
}

/* The blocking calls: begin, then the blocking driver. */
static int drive(mw_pop3 *c, int rc) {
  return rc == MW_OK ? mw_io_run(&c->s.io) : rc;
}

mw_io *mw_pop3_io(mw_pop3 *c) {
  return c ? &c->s.io : NULL;
}

/* ---- setters ---- */

static int setter_enter(mw_pop3 *c, const char *what) {
  if (!c)
    return errInvalidArgument;
  int rc = enter(c);
  if (rc == MW_OK && connected(c))
    rc = leave(c, refuse_while_connected(c, what));
  return rc;
}

int mw_pop3_set_server(mw_pop3 *c, const char *host, unsigned port) {
  int rc = setter_enter(c, "server");
  if (rc != MW_OK)
    return rc;
  rc = mw_check_arg(&c->s.err, "server name", host, 0, P3_MAX_HOST);
  if (rc == MW_OK && port > 65535)
    rc = mw_error_set(&c->s.err, eexInvalidArgument, 0,
                      "The port %u is not a TCP port (1..65535, or 0 for "
                      "the default).",
                      port);
  char *copy = rc == MW_OK ? mw_strdup(host) : NULL;
  if (rc == MW_OK && !copy)
    rc = mw_error_set(&c->s.err, eexNoMemory, 0, NULL);
  if (rc == MW_OK) {
    free(c->s.host);
    c->s.host = copy;
    c->s.port = port;
  }
  return leave(c, rc);
}

int mw_pop3_set_timeout(mw_pop3 *c, int ms) {
  int rc = setter_enter(c, "timeout");
  if (rc != MW_OK)
    return rc;
  if (ms <= 0)
    rc = mw_error_set(&c->s.err, eexInvalidArgument, 0,
                      "The timeout must be a positive number of "
                      "milliseconds (got %d).",
                      ms);
  else
    c->s.timeout_ms = ms;
  return leave(c, rc);
}

/* The deadlines (mailwire.h): 0 turns one off. Unlike the other settings
 * they may change while connected: they take effect at the next call. */
static int set_limit(mw_pop3 *c, const char *what, long value, long max) {
  if (!c)
    return errInvalidArgument;
  int rc = enter(c);
  if (rc == MW_OK && (value < 0 || value > max))
    rc = mw_error_set(&c->s.err, eexInvalidArgument, 0,
                      "The %s must be between 0 (none) and %ld, not %ld.",
                      what, max, value);
  return leave(c, rc);
}

int mw_pop3_set_reply_timeout(mw_pop3 *c, int ms) {
  int rc = set_limit(c, "reply timeout (ms)", ms, INT_MAX);
  if (rc == MW_OK)
    c->s.reply_timeout_ms = ms;
  return rc;
}

int mw_pop3_set_operation_timeout(mw_pop3 *c, int ms) {
  int rc = set_limit(c, "operation timeout (ms)", ms, INT_MAX);
  if (rc == MW_OK)
    c->s.op_timeout_ms = ms;
  return rc;
}

int mw_pop3_set_low_speed_limit(mw_pop3 *c, long bytes_per_s) {
  int rc = set_limit(c, "low-speed limit (bytes/s)", bytes_per_s, LONG_MAX);
  if (rc == MW_OK)
    c->s.low_speed_limit = bytes_per_s;
  return rc;
}

int mw_pop3_set_credentials(mw_pop3 *c, const char *user,
                            const char *password) {
  int rc = setter_enter(c, "credentials");
  if (rc != MW_OK)
    return rc;
  char *u = NULL, *p = NULL;
  if (user && !password) /* would send PASS bound to fail: say so now */
    rc = mw_error_set(&c->s.err, eexInvalidArgument, 0,
                      "The user name '%.64s' has no password (for XOAUTH2: "
                      "no access token); set one, or no user for no "
                      "login.",
                      user);
  else if (user) {
    rc = mw_check_arg(&c->s.err, "user name", user, 0, P3_MAX_USER);
    if (rc == MW_OK)
      rc = mw_check_arg(&c->s.err, "password", password, 1, P3_MAX_PASS);
    if (rc == MW_OK) {
      u = mw_strdup(user);
      p = mw_strdup(password);
      if (!u || !p)
        rc = mw_error_set(&c->s.err, eexNoMemory, 0, NULL);
    }
  }
  if (rc != MW_OK) {
    free(u);
    mw_free_secret(p);
    return leave(c, rc);
  }
  free(c->s.user);
  mw_free_secret(c->s.pass);
  c->s.user = u;
  c->s.pass = p;
  return leave(c, MW_OK);
}

static int known_mechanism(const char *mech) {
  static const char *const names[] = {"USER",  "APOP",    "PLAIN",
                                      "LOGIN", "XOAUTH2", "CRAM-MD5"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (mw_strcaseeq(mech, names[i]))
      return 1;
  return 0;
}

int mw_pop3_set_auth_mechanism(mw_pop3 *c, const char *mech) {
  int rc = setter_enter(c, "authentication mechanism");
  if (rc != MW_OK)
    return rc;
  char *copy = NULL;
  if (mech && !known_mechanism(mech))
    rc = mw_error_set(&c->s.err, eexInvalidArgument, 0,
                      "Unknown POP3 authentication mechanism \"%.64s\"; use "
                      "USER, APOP, PLAIN, LOGIN, CRAM-MD5, XOAUTH2, or NULL "
                      "for the strongest offered.",
                      mech);
  else if (mech && !(copy = mw_strdup(mech)))
    rc = mw_error_set(&c->s.err, eexNoMemory, 0, NULL);
  if (rc == MW_OK) {
    free(c->s.mech);
    c->s.mech = copy;
  }
  return leave(c, rc);
}

int mw_pop3_set_allow_plaintext_auth(mw_pop3 *c, int allow) {
  int rc = setter_enter(c, "plaintext authentication setting");
  if (rc != MW_OK)
    return rc;
  c->s.allow_plain_auth = allow != 0;
  return leave(c, MW_OK);
}

int mw_pop3_set_max_message_size(mw_pop3 *c, uint64_t bytes) {
  if (!c)
    return errInvalidArgument;
  int rc = enter(c);
  if (rc != MW_OK)
    return rc;
  if (bytes == 0)
    rc = mw_error_set(&c->s.err, eexInvalidArgument, 0,
                      "The largest message size must be at least 1 byte.");
  else
    c->max_message = bytes;
  return leave(c, rc);
}

/* ---- handlers ---- */

int mw_pop3_set_handler(mw_pop3 *c, void *handler) {
  if (!c)
    return errInvalidArgument;
  int rc = enter(c);
  if (rc != MW_OK)
    return rc;
  return leave(c, mw_session_set_handler(&c->s, handler));
}

int mw_pop3_set_sslinfo(mw_pop3 *c, mw_sslinfo *ssl) {
  return mw_pop3_set_handler(c, ssl);
}

int mw_pop3_set_loghandler(mw_pop3 *c, mw_loghandler *lh) {
  return mw_pop3_set_handler(c, lh);
}

void mw_pop3_clear_handlers(mw_pop3 *c) {
  if (c && !c->s.busy && !connected(c))
    mw_session_clear_handlers(&c->s);
}

const mw_errorinfo *mw_pop3_extended_error(const mw_pop3 *c) {
  return c ? &c->s.err : NULL;
}

/* ---- connection ---- */

int mw_pop3_begin_connect(mw_pop3 *c) {
  if (!c)
    return errInvalidArgument;
  int rc = enter(c);
  if (rc != MW_OK)
    return rc;
  rc = mw_pop3_engine_begin_connect(&c->eng);
  if (rc == MW_OK)
    rc = mw_io_start_connect(&c->s.io, P3_DEFAULT_PORT, P3_DEFAULT_TLS_PORT,
                             finish_connect, c);
  if (rc == MW_OK)
    return MW_OK;
  return leave(c, finish_connect(c, rc));
}

int mw_pop3_connect(mw_pop3 *c) {
  return drive(c, mw_pop3_begin_connect(c));
}

/* A copy made by fork() is not connected in this process: the connection
 * is the parent's. */
static int ours(const mw_pop3 *c) {
  return c->s.pid == getpid();
}

int mw_pop3_is_connected(const mw_pop3 *c) {
  return c && ours(c) && connected(c);
}

int mw_pop3_is_secure(const mw_pop3 *c) {
  return c && ours(c) && connected(c) && mw_conn_is_secure(&c->s.conn);
}

/* ---- this client's TLS results ---- */

int mw_pop3_tls_option_int(mw_pop3 *c, int index, long *value) {
  if (value)
    *value = 0;
  if (!c || !value)
    return errInvalidArgument;
  int rc = enter(c);
  if (rc != MW_OK)
    return rc;
  return leave(c, mw_session_tls_option_int(&c->s, index, value));
}

int mw_pop3_tls_option_str(mw_pop3 *c, int index, const char **value) {
  if (value)
    *value = NULL;
  if (!c || !value)
    return errInvalidArgument;
  int rc = enter(c);
  if (rc != MW_OK)
    return rc;
  return leave(c, mw_session_tls_option_str(&c->s, index, value));
}

int mw_pop3_has_capability(const mw_pop3 *c, const char *keyword) {
  return c && mw_pop3_engine_has_cap(&c->eng, keyword);
}

const char *mw_pop3_capability_params(const mw_pop3 *c, const char *keyword) {
  return c ? mw_pop3_engine_cap_params(&c->eng, keyword) : NULL;
}

const char *mw_pop3_capabilities(const mw_pop3 *c) {
  if (!c || !c->eng.caps.data)
    return "";
  return c->eng.caps.data;
}

const char *mw_pop3_auth_mechanism_used(const mw_pop3 *c) {
  return c ? c->eng.mech_used : NULL;
}

/* ---- commands ---- */

/* Shared frame of the begin calls: enter, connected, begin, start. */
#define P3_BEGIN(c, begin_expr, fin)                                          \
  do {                                                                        \
    if (!(c))                                                                 \
      return errInvalidArgument;                                              \
    int rc_ = enter(c);                                                       \
    if (rc_ != MW_OK)                                                         \
      return rc_;                                                             \
    rc_ = require_connected(c);                                               \
    if (rc_ != MW_OK)                                                         \
      return leave((c), rc_);                                                 \
    return start((c), (begin_expr), (fin));                                   \
  } while (0)

/* And of the blocking ones: begin, then the blocking driver. */
#define P3_CALL(c, begin_call) call_rc = drive((c), (begin_call))

/* ---- begin: start a command for any driver ---- */

int mw_pop3_begin_stat(mw_pop3 *c) {
  P3_BEGIN(c, mw_pop3_engine_begin_stat(&c->eng), finish_op);
}

int mw_pop3_stat_result(const mw_pop3 *c, unsigned long *count,
                        uint64_t *octets) {
  if (count)
    *count = c ? c->eng.stat_count : 0;
  if (octets)
    *octets = c ? c->eng.stat_octets : 0;
  return c ? MW_OK : errInvalidArgument;
}

int mw_pop3_begin_list(mw_pop3 *c) {
  P3_BEGIN(c, mw_pop3_engine_begin_list(&c->eng), finish_op);
}

int mw_pop3_begin_uidl(mw_pop3 *c) {
  P3_BEGIN(c, mw_pop3_engine_begin_uidl(&c->eng), finish_op);
}

int mw_pop3_begin_list_one(mw_pop3 *c, unsigned long msg) {
  P3_BEGIN(c, mw_pop3_engine_begin_list_one(&c->eng, msg), finish_op);
}

int mw_pop3_begin_uidl_one(mw_pop3 *c, unsigned long msg) {
  P3_BEGIN(c, mw_pop3_engine_begin_uidl_one(&c->eng, msg), finish_op);
}

uint64_t mw_pop3_one_size(const mw_pop3 *c) {
  return c ? c->eng.one_size : 0;
}

const char *mw_pop3_one_uid(const mw_pop3 *c) {
  return c ? c->eng.one_uid : "";
}

int mw_pop3_begin_dele(mw_pop3 *c, unsigned long msg) {
  P3_BEGIN(c, mw_pop3_engine_begin_dele(&c->eng, msg), finish_op);
}

int mw_pop3_begin_rset(mw_pop3 *c) {
  P3_BEGIN(c, mw_pop3_engine_begin_rset(&c->eng), finish_op);
}

int mw_pop3_begin_noop(mw_pop3 *c) {
  P3_BEGIN(c, mw_pop3_engine_begin_noop(&c->eng), finish_op);
}

int mw_pop3_begin_quit(mw_pop3 *c) {
  if (!c)
    return errInvalidArgument;
  int rc = enter(c);
  if (rc != MW_OK)
    return rc;
  rc = require_connected(c);
  if (rc == MW_OK)
    rc = start(c, mw_pop3_engine_begin_quit(&c->eng), finish_quit);
  else
    rc = leave(c, rc);
  if (rc != MW_OK)
    mw_conn_close(&c->s.conn); /* QUIT ends the session whatever happens */
  return rc;
}

/* Markers for begin_retr: into memory (the engine's own buffer), and a
 * NULL callback (refused with the words the blocking call always used). */
static int mem_sink(void *ud, const char *data, size_t len) {
  (void)ud, (void)data, (void)len;
  return 0;
}

static int null_sink(void *ud, const char *data, size_t len) {
  (void)ud, (void)data, (void)len;
  return 0;
}

static long long top_arg(unsigned long lines);

/* RETR/TOP: sink is the blocking call's callback (the engine calls it as
 * content arrives), mw_io__sink (MW_IO_DELIVER), mem_sink (into memory)
 * or NULL/null_sink for a missing output. */
static int begin_retr(mw_pop3 *c, unsigned long msg, long long top,
                      mw_write_cb sink, void *ud) {
  int bad_out = sink == NULL, bad_cb = sink == null_sink;
  int mem = sink == mem_sink;
  P3_BEGIN(c,
           bad_out  ? mw_error_set(&c->s.err, eexInvalidArgument, 0,
                                   "The output pointer is NULL; nothing was "
                                    "sent to the server.")
           : bad_cb ? mw_error_set(&c->s.err, eexInvalidArgument, 0,
                                   "The write callback is NULL; nothing was "
                                   "sent to the server.")
                    : mw_pop3_engine_begin_retr(&c->eng, msg, top,
                                                mem ? NULL : sink, ud,
                                                mem ? c->max_message : 0),
           finish_op);
}

/* The content through MW_IO_DELIVER, then an end piece. */
static int begin_retr_io(mw_pop3 *c, unsigned long msg, long long top) {
  if (!c)
    return errInvalidArgument;
  int rc = begin_retr(c, msg, top, mw_io__sink, &c->s.io);
  if (rc == MW_OK) {
    c->s.io.retr_msg = msg;
    c->s.io.retr_single = 1;
  }
  return rc;
}

int mw_pop3_begin_retr(mw_pop3 *c, unsigned long msg) {
  return begin_retr_io(c, msg, -1);
}

int mw_pop3_begin_top(mw_pop3 *c, unsigned long msg, unsigned long lines) {
  return begin_retr_io(c, msg, top_arg(lines));
}

static int begin_batch(mw_pop3 *c, mw_pop3_batch_kind kind,
                       const unsigned long *msgs, size_t n, long long top,
                       mw_msg_write_cb write, void *userdata) {
  P3_BEGIN(
      c,
      mw_pop3_engine_begin_batch(&c->eng, kind, msgs, n, top, write, userdata),
      finish_op);
}

int mw_pop3_begin_retr_batch(mw_pop3 *c, const unsigned long *msgs, size_t n) {
  return begin_batch(c, MW_P3B_RETR, msgs, n, -1, mw_io__msg_sink,
                     c ? &c->s.io : NULL);
}

int mw_pop3_begin_top_batch(mw_pop3 *c, const unsigned long *msgs, size_t n,
                            unsigned long lines) {
  return begin_batch(c, MW_P3B_TOP, msgs, n, top_arg(lines), mw_io__msg_sink,
                     c ? &c->s.io : NULL);
}

int mw_pop3_begin_dele_batch(mw_pop3 *c, const unsigned long *msgs, size_t n) {
  return begin_batch(c, MW_P3B_DELE, msgs, n, -1, NULL, NULL);
}

int mw_pop3_begin_list_batch(mw_pop3 *c, const unsigned long *msgs, size_t n) {
  return begin_batch(c, MW_P3B_LIST, msgs, n, -1, NULL, NULL);
}

int mw_pop3_begin_uidl_batch(mw_pop3 *c, const unsigned long *msgs, size_t n) {
  return begin_batch(c, MW_P3B_UIDL, msgs, n, -1, NULL, NULL);
}

/* ---- the blocking calls ---- */

/* Outputs are set on every path (0 / NULL on failure), so bindings that
 * read them after an error never see uninitialised memory. */
int mw_pop3_stat(mw_pop3 *c, unsigned long *count, uint64_t *octets) {
  if (count)
    *count = 0;
  if (octets)
    *octets = 0;
  int call_rc;
  P3_CALL(c, mw_pop3_begin_stat(c));
  if (call_rc == MW_OK) {
    if (count)
      *count = c->eng.stat_count;
    if (octets)
      *octets = c->eng.stat_octets;
  }
  return call_rc;
}

int mw_pop3_list(mw_pop3 *c) {
  int call_rc;
  P3_CALL(c, mw_pop3_begin_list(c));
  return call_rc;
}

int mw_pop3_uidl(mw_pop3 *c) {
  int call_rc;
  P3_CALL(c, mw_pop3_begin_uidl(c));
  return call_rc;
}

size_t mw_pop3_entry_count(const mw_pop3 *c) {
  return c ? c->eng.nentries : 0;
}

unsigned long mw_pop3_entry_number(const mw_pop3 *c, size_t i) {
  return c && i < c->eng.nentries ? c->eng.entries[i].number : 0;
}

uint64_t mw_pop3_entry_size(const mw_pop3 *c, size_t i) {
  return c && i < c->eng.nentries ? c->eng.entries[i].size : 0;
}

const char *mw_pop3_entry_uid(const mw_pop3 *c, size_t i) {
  if (!c || i >= c->eng.nentries || c->eng.entries[i].uid_off == SIZE_MAX)
    return NULL;
  return c->eng.uids.data + c->eng.entries[i].uid_off;
}

int mw_pop3_list_one(mw_pop3 *c, unsigned long msg, uint64_t *octets) {
  if (octets)
    *octets = 0;
  int call_rc;
  P3_CALL(c, mw_pop3_begin_list_one(c, msg));
  if (call_rc == MW_OK && octets)
    *octets = c->eng.one_size;
  return call_rc;
}

int mw_pop3_uidl_one(mw_pop3 *c, unsigned long msg, const char **uid) {
  if (uid)
    *uid = NULL;
  int call_rc;
  P3_CALL(c, mw_pop3_begin_uidl_one(c, msg));
  if (call_rc == MW_OK && uid)
    *uid = c->eng.one_uid;
  return call_rc;
}

static long long top_arg(unsigned long lines) {
  return lines > (unsigned long)LLONG_MAX ? LLONG_MAX : (long long)lines;
}

/* Hand the engine's body to the caller (an empty message is ""). */
static int take_body(mw_pop3 *c, char **out, size_t *len) {
  mw_buf *b = &c->eng.body;
  if (!b->data && mw_buf_reserve(b, 0) != 0)
    return mw_error_set(&c->s.err, eexNoMemory, 0, NULL);
  b->data[b->len] = '\0';
  *out = b->data;
  if (len)
    *len = b->len;
  mw_buf_init(b);
  return MW_OK;
}

static int retr_into_memory(mw_pop3 *c, unsigned long msg, long long top,
                            char **out, size_t *len) {
  if (!c)
    return errInvalidArgument;
  if (out)
    *out = NULL;
  if (len)
    *len = 0;
  int call_rc;
  P3_CALL(c, begin_retr(c, msg, top, out ? mem_sink : NULL, NULL));
  if (call_rc == MW_OK)
    call_rc = take_body(c, out, len);
  return call_rc;
}

int mw_pop3_retr(mw_pop3 *c, unsigned long msg, char **out, size_t *len) {
  return retr_into_memory(c, msg, -1, out, len);
}

int mw_pop3_top(mw_pop3 *c, unsigned long msg, unsigned long lines, char **out,
                size_t *len) {
  return retr_into_memory(c, msg, top_arg(lines), out, len);
}

static int retr_stream(mw_pop3 *c, unsigned long msg, long long top,
                       mw_write_cb write, void *userdata) {
  int call_rc;
  P3_CALL(c, begin_retr(c, msg, top, write ? write : null_sink, userdata));
  return call_rc;
}

int mw_pop3_retr_stream(mw_pop3 *c, unsigned long msg, mw_write_cb write,
                        void *userdata) {
  return retr_stream(c, msg, -1, write, userdata);
}

int mw_pop3_top_stream(mw_pop3 *c, unsigned long msg, unsigned long lines,
                       mw_write_cb write, void *userdata) {
  return retr_stream(c, msg, top_arg(lines), write, userdata);
}

int mw_pop3_dele(mw_pop3 *c, unsigned long msg) {
  int call_rc;
  P3_CALL(c, mw_pop3_begin_dele(c, msg));
  return call_rc;
}

int mw_pop3_rset(mw_pop3 *c) {
  int call_rc;
  P3_CALL(c, mw_pop3_begin_rset(c));
  return call_rc;
}

int mw_pop3_noop(mw_pop3 *c) {
  int call_rc;
  P3_CALL(c, mw_pop3_begin_noop(c));
  return call_rc;
}

int mw_pop3_quit(mw_pop3 *c) {
  int call_rc;
  P3_CALL(c, mw_pop3_begin_quit(c));
  return call_rc;
}

void mw_pop3_disconnect(mw_pop3 *c) {
  if (!c || c->s.busy)
    return;
  mw_conn_close(&c->s.conn);
  mw_pop3_engine_reset(&c->eng);
}

void mw_pop3_cancel(mw_pop3 *c) {
  if (c)
    mw_session_cancel(&c->s);
}

const char *mw_pop3_last_reply_text(const mw_pop3 *c) {
  if (!c || !c->eng.last_text.data)
    return "";
  return c->eng.last_text.data;
}

/* ---- batches (pipelined when the server offers PIPELINING) ---- */

int mw_pop3_set_pipelining(mw_pop3 *c, int on) {
  if (!c)
    return errInvalidArgument;
  int rc = enter(c);
  if (rc != MW_OK)
    return rc;
  c->eng.pipelining = on != 0;
  return leave(c, MW_OK);
}

static int batch(mw_pop3 *c, mw_pop3_batch_kind kind,
                 const unsigned long *msgs, size_t n, long long top,
                 mw_msg_write_cb write, void *userdata) {
  int call_rc;
  P3_CALL(c, begin_batch(c, kind, msgs, n, top, write, userdata));
  return call_rc;
}

int mw_pop3_retr_batch(mw_pop3 *c, const unsigned long *msgs, size_t n,
                       mw_msg_write_cb write, void *userdata) {
  return batch(c, MW_P3B_RETR, msgs, n, -1, write, userdata);
}

int mw_pop3_top_batch(mw_pop3 *c, const unsigned long *msgs, size_t n,
                      unsigned long lines, mw_msg_write_cb write,
                      void *userdata) {
  return batch(c, MW_P3B_TOP, msgs, n, top_arg(lines), write, userdata);
}

int mw_pop3_dele_batch(mw_pop3 *c, const unsigned long *msgs, size_t n) {
  return batch(c, MW_P3B_DELE, msgs, n, -1, NULL, NULL);
}

int mw_pop3_list_batch(mw_pop3 *c, const unsigned long *msgs, size_t n) {
  return batch(c, MW_P3B_LIST, msgs, n, -1, NULL, NULL);
}

int mw_pop3_uidl_batch(mw_pop3 *c, const unsigned long *msgs, size_t n) {
  return batch(c, MW_P3B_UIDL, msgs, n, -1, NULL, NULL);
}

uint64_t mw_pop3_batch_size(const mw_pop3 *c, size_t i) {
  if (!c || i >= c->eng.bcount || c->eng.batch[i].status != MW_OK)
    return 0;
  return c->eng.batch[i].size;
}

const char *mw_pop3_batch_uid(const mw_pop3 *c, size_t i) {
  return c ? mw_pop3_engine_batch_uid(&c->eng, i) : "";
}

size_t mw_pop3_batch_count(const mw_pop3 *c) {
  return c ? c->eng.bcount : 0;
}

int mw_pop3_batch_status(const mw_pop3 *c, size_t i) {
  if (!c || i >= c->eng.bcount)
    return errInvalidArgument;
  return c->eng.batch[i].status;
}

const char *mw_pop3_batch_text(const mw_pop3 *c, size_t i) {
  return c ? mw_pop3_engine_batch_text(&c->eng, i) : "";
}

mw_session *mw_pop3_session(mw_pop3 *c) {
  return &c->s;
}
