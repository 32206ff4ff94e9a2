/* smtp.c - SMTPClient: the public mw_smtp_* calls. Each call clears the
 * ErrorInfo and starts an operation on the engine (mw_smtp_begin_*); the
 * blocking calls then run it with the blocking driver (blocking.c) over
 * the session state machine (io.c). */
#include "smtp_engine.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MW_SMTP_PORT 25
#define MW_SMTPS_PORT 465
#define MW_MAX_HOST 255
#define MW_MAX_CREDENTIAL 4096

struct mw_smtp {
  mw_session s;
  mw_smtp_engine e;
};

mw_smtp *mw_smtp_new(void) {
  mw_smtp *c = calloc(1, sizeof *c);
  if (!c)
    return NULL;
  mw_session_init(&c->s);
  mw_smtp_engine_init(&c->e, &c->s);
  mw_engine_io eng;
  mw_smtp_engine_io(&c->e, &eng);
  c->s.io.eng = eng;
  return c;
}

void mw_smtp_free(mw_smtp *c) {
  if (!c)
    return;
  mw_smtp_engine_free(&c->e);
  mw_session_free(&c->s);
  free(c);
}

const mw_errorinfo *mw_smtp_extended_error(const mw_smtp *c) {
  return c ? &c->s.err : NULL;
}

/* A copy made by fork() is not connected in this process: the connection
 * is the parent's. */
static int ours(const mw_smtp *c) {
  return c->s.pid == getpid();
}

int mw_smtp_is_connected(const mw_smtp *c) {
  return c && ours(c) && c->e.ready && mw_conn_is_open(&c->s.conn);
}

int mw_smtp_is_secure(const mw_smtp *c) {
  return c && ours(c) && mw_conn_is_secure(&c->s.conn);
}

/* ---- the frame of every operation ---- */

/* A call from inside a callback of a running call (the read callback, the
 * log callback) is refused. It leaves the ErrorInfo alone: that belongs
 * to the running call, whose result it would otherwise change. */
static int enter(mw_smtp *c) {
  if (c->s.busy)
    return errState;
  mw_error_clear(&c->s.err);
  mw_session_begin_op(&c->s);
  return mw_session_check_process(&c->s); /* refused after fork() */
}

/* The connection may have been closed by the pump (transport errors,
 * protocol errors, aborts): keep the engine in step. */
static void sync_connection(mw_smtp *c) {
  if (!mw_conn_is_open(&c->s.conn))
    mw_smtp_engine_disconnected(&c->e);
}

static int refuse_while_connected(mw_smtp *c, const char *what) {
  if (!mw_conn_is_open(&c->s.conn))
    return MW_OK;
  return mw_error_set(&c->s.err, eexState, 0,
                      "The %s cannot change while connected; disconnect "
                      "first.",
                      what);
}

static int check_handle(const mw_smtp *c) {
  return c ? MW_OK : errInvalidArgument;
}

/* ---- settings ---- */

int mw_smtp_set_server(mw_smtp *c, const char *host, unsigned port) {
  int rc = check_handle(c);
  if (rc != MW_OK || (rc = enter(c)) != MW_OK)
    return rc;
  if ((rc = refuse_while_connected(c, "server")) != MW_OK)
    return rc;
  if ((rc = mw_check_arg(&c->s.err, "server name", host, 0, MW_MAX_HOST)) !=
      MW_OK)
    return rc;
  if (port > 65535)
    return mw_error_set(&c->s.err, eexInvalidArgument, 0,
                        "The port %u is not a TCP port (1-65535, or 0 for "
                        "the default).",
                        port);
  char *copy = mw_strdup(host);
  if (!copy)
    return mw_error_set(&c->s.err, eexNoMemory, 0, NULL);
  free(c->s.host);
  c->s.host = copy;
  c->s.port = port;
  return MW_OK;
}

int mw_smtp_set_timeout(mw_smtp *c, int ms) {
  int rc = check_handle(c);
  if (rc != MW_OK || (rc = enter(c)) != MW_OK)
    return rc;
  if (ms <= 0)
    return mw_error_set(&c->s.err, eexInvalidArgument, 0,
                        "The timeout must be a positive number of "
                        "milliseconds, not %d.",
                        ms);
  c->s.timeout_ms = ms;
  c->s.conn.timeout_ms = ms; /* takes effect on an open connection too */
  return MW_OK;
}

/* The deadlines (mailwire.h): 0 turns one off. */
static int set_limit(mw_smtp *c, const char *what, long value, long max) {
  int rc = check_handle(c);
  if (rc != MW_OK || (rc = enter(c)) != MW_OK)
    return rc;
  if (value < 0 || value > max)
    return mw_error_set(&c->s.err, eexInvalidArgument, 0,
                        "The %s must be between 0 (none) and %ld, not %ld.",
                        what, max, value);
  return MW_OK;
}

int mw_smtp_set_reply_timeout(mw_smtp *c, int ms) {
  int rc = set_limit(c, "reply timeout (ms)", ms, INT_MAX);
  if (rc == MW_OK)
    c->s.reply_timeout_ms = ms;
  return rc;
}

int mw_smtp_set_operation_timeout(mw_smtp *c, int ms) {
  int rc = set_limit(c, "operation timeout (ms)", ms, INT_MAX);
  if (rc == MW_OK)
    c->s.op_timeout_ms = ms;
  return rc;
}

int mw_smtp_set_low_speed_limit(mw_smtp *c, long bytes_per_s) {
  int rc = set_limit(c, "low-speed limit (bytes/s)", bytes_per_s, LONG_MAX);
  if (rc == MW_OK)
    c->s.low_speed_limit = bytes_per_s;
  return rc;
}

int mw_smtp_set_helo_name(mw_smtp *c, const char *name) {
  int rc = check_handle(c);
  if (rc != MW_OK || (rc = enter(c)) != MW_OK)
    return rc;
  if (name && (rc = mw_check_arg(&c->s.err, "HELO name", name, 0,
                                 MW_MAX_HOST)) != MW_OK)
    return rc;
  if (name && strchr(name, ' '))
    return mw_error_set(&c->s.err, eexInvalidArgument, 0,
                        "The HELO name \"%s\" contains a space; use a domain "
                        "name or an address literal.",
                        name);
  return mw_smtp_engine_set_helo_name(&c->e, name);
}

int mw_smtp_set_credentials(mw_smtp *c, const char *user,
                            const char *password) {
  int rc = check_handle(c);
  if (rc != MW_OK || (rc = enter(c)) != MW_OK)
    return rc;
  if ((rc = refuse_while_connected(c, "credentials")) != MW_OK)
    return rc;
  if (user && !password) /* would send AUTH bound to fail: say so now */
    return mw_error_set(&c->s.err, eexInvalidArgument, 0,
                        "The user name '%.64s' has no password (for "
                        "XOAUTH2: no access token); set one, or no user "
                        "for no authentication.",
                        user);
  if (user) {
    rc = mw_check_arg(&c->s.err, "user name", user, 0, MW_MAX_CREDENTIAL);
    if (rc == MW_OK)
      rc = mw_check_arg(&c->s.err, "password", password, 1, MW_MAX_CREDENTIAL);
    if (rc != MW_OK)
      return rc;
  }
  char *u = mw_strdup(user);
  char *p = user ? mw_strdup(password) : NULL;
  if (user && (!u || !p)) {
    free(u);
    mw_free_secret(p);
    return mw_error_set(&c->s.err, eexNoMemory, 0, NULL);
  }
  free(c->s.user);
  mw_free_secret(c->s.pass);
  c->s.user = u;
  c->s.pass = p;
  return MW_OK;
}

int mw_smtp_set_auth_mechanism(mw_smtp *c, const char *mech) {
  static const char *const known[] = {"PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2"};
  int rc = check_handle(c);
  if (rc != MW_OK || (rc = enter(c)) != MW_OK)
    return rc;
  const char *found = NULL;
  for (size_t i = 0; mech && i < sizeof known / sizeof known[0]; i++)
    if (mw_strcaseeq(mech, known[i]))
      found = known[i];
  if (mech && !found)
    return mw_error_set(&c->s.err, eexInvalidArgument, 0,
                        "Unknown SMTP authentication mechanism \"%.64s\"; "
                        "use PLAIN, LOGIN, CRAM-MD5, XOAUTH2 or NULL for "
                        "the strongest both sides offer.",
                        mech);
  char *copy = NULL;
  if (found && !(copy = mw_strdup(found)))
    return mw_error_set(&c->s.err, eexNoMemory, 0, NULL);
  free(c->s.mech);
  c->s.mech = copy;
  return MW_OK;
}

int mw_smtp_set_allow_plaintext_auth(mw_smtp *c, int allow) {
  int rc = check_handle(c);
  if (rc != MW_OK || (rc = enter(c)) != MW_OK)
    return rc;
  c->s.allow_plain_auth = allow != 0;
  return MW_OK;
}

int mw_smtp_set_allow_partial(mw_smtp *c, int allow) {
  int rc = check_handle(c);
  if (rc != MW_OK || (rc = enter(c)) != MW_OK)
    return rc;
  c->e.allow_partial = allow != 0;
  return MW_OK;
}

int mw_smtp_set_pipelining(mw_smtp *c, int on) {
  int rc = check_handle(c);
  if (rc != MW_OK || (rc = enter(c)) != MW_OK)
    return rc;
  c->e.pipelining_on = on != 0;
  return MW_OK;
}

int mw_smtp_set_chunking(mw_smtp *c, int on) {
  int rc = check_handle(c);
  if (rc != MW_OK || (rc = enter(c)) != MW_OK)
    return rc;
  c->e.chunking_on = on != 0;
  return MW_OK;
}

int mw_smtp_set_handler(mw_smtp *c, void *handler) {
  int rc = check_handle(c);
  if (rc != MW_OK || (rc = enter(c)) != MW_OK)
    return rc;
  return mw_session_set_handler(&c->s, handler);
}

int mw_smtp_set_sslinfo(mw_smtp *c, mw_sslinfo *ssl) {
  return mw_smtp_set_handler(c, ssl);
}

int mw_smtp_set_loghandler(mw_smtp *c, mw_loghandler *lh) {
  return mw_smtp_set_handler(c, lh);
}

void mw_smtp_clear_handlers(mw_smtp *c) {
  if (!c || enter(c) != MW_OK)
    return;
  if (refuse_while_connected(c, "advanced handlers") != MW_OK)
    return;
  mw_session_clear_handlers(&c->s);
}

/* ---- capabilities and results ---- */

int mw_smtp_has_extension(const mw_smtp *c, const char *keyword) {
  return c && mw_smtp_engine_has_extension(&c->e, keyword);
}

const char *mw_smtp_extension_params(const mw_smtp *c, const char *keyword) {
  return c ? mw_smtp_engine_extension_params(&c->e, keyword) : NULL;
}

const char *mw_smtp_capabilities(const mw_smtp *c) {
  if (!c || !c->e.capabilities.data)
    return "";
  return c->e.capabilities.data;
}

const char *mw_smtp_auth_mechanism_used(const mw_smtp *c) {
  return c ? c->e.auth_used : NULL;
}

size_t mw_smtp_rcpt_count(const mw_smtp *c) {
  return c ? c->e.nresults : 0;
}

static const mw_smtp_rcpt_result *rcpt_result(const mw_smtp *c, size_t i) {
  return c && i < c->e.nresults ? &c->e.results[i] : NULL;
}

int mw_smtp_rcpt_code(const mw_smtp *c, size_t i) {
  const mw_smtp_rcpt_result *r = rcpt_result(c, i);
  return r ? r->code : 0;
}

const char *mw_smtp_rcpt_enhanced_status(const mw_smtp *c, size_t i) {
  const mw_smtp_rcpt_result *r = rcpt_result(c, i);
  return r ? r->enhanced : NULL;
}

const char *mw_smtp_rcpt_text(const mw_smtp *c, size_t i) {
  const mw_smtp_rcpt_result *r = rcpt_result(c, i);
  return r ? (r->text ? r->text : "") : NULL;
}

int mw_smtp_last_reply_code(const mw_smtp *c) {
  return c ? c->e.last_code : 0;
}

const char *mw_smtp_last_reply_text(const mw_smtp *c) {
  if (!c || !c->e.last_text.data)
    return "";
  return c->e.last_text.data;
}

/* ---- this client's TLS results ---- */

int mw_smtp_tls_option_int(mw_smtp *c, int index, long *value) {
  if (value)
    *value = 0;
  int rc = check_handle(c);
  if (rc != MW_OK || !value)
    return errInvalidArgument;
  if ((rc = enter(c)) != MW_OK)
    return rc;
  return mw_session_tls_option_int(&c->s, index, value);
}

int mw_smtp_tls_option_str(mw_smtp *c, int index, const char **value) {
  if (value)
    *value = NULL;
  int rc = check_handle(c);
  if (rc != MW_OK || !value)
    return errInvalidArgument;
  if ((rc = enter(c)) != MW_OK)
    return rc;
  return mw_session_tls_option_str(&c->s, index, value);
}

/* ---- operations: begin (the caller-driven session, io.c), and the
 * blocking calls, which are begin + the blocking driver (mw_io_run) ---- */

mw_io *mw_smtp_io(mw_smtp *c) {
  return c ? &c->s.io : NULL;
}

/* When an operation ends (any driver): a session stopped mid-operation
 * (transport error) no longer matches the server's state. */
static int finish_op(void *owner, int rc) {
  mw_smtp *c = owner;
  if (rc != MW_OK && c->e.state != MW_SMTP_IDLE)
    mw_conn_close(&c->s.conn);
  sync_connection(c);
  return rc;
}

/* A half-made session (refused greeting, failed AUTH ...) is of no use:
 * close it without sending anything more. */
static int finish_connect(void *owner, int rc) {
  mw_smtp *c = owner;
  rc = finish_op(owner, rc);
  if (rc != MW_OK) {
    mw_conn_close(&c->s.conn);
    mw_smtp_engine_disconnected(&c->e);
  }
  return rc;
}

/* QUIT closes whatever the server answered. */
static int finish_quit(void *owner, int rc) {
  mw_smtp *c = owner;
  rc = finish_op(owner, rc);
  if (rc != errNotConnected) {
    mw_conn_close(&c->s.conn);
    mw_smtp_engine_disconnected(&c->e);
  }
  return rc;
}

static int drive(mw_smtp *c, int rc) {
  return rc == MW_OK ? mw_io_run(&c->s.io) : rc;
}

int mw_smtp_begin_connect(mw_smtp *c) {
  int rc = check_handle(c);
  if (rc != MW_OK || (rc = enter(c)) != MW_OK)
    return rc;
  if (mw_conn_is_open(&c->s.conn))
    return mw_error_set(&c->s.err, eexState, 0,
                        "Already connected; quit or disconnect first.");
  rc = mw_smtp_engine_begin_connect(&c->e);
  if (rc == MW_OK)
    rc = mw_io_start_connect(&c->s.io, MW_SMTP_PORT, MW_SMTPS_PORT,
                             finish_connect, c);
  if (rc != MW_OK) {
    mw_conn_close(&c->s.conn);
    mw_smtp_engine_disconnected(&c->e);
  }
  return rc;
}

int mw_smtp_connect(mw_smtp *c) {
  return drive(c, mw_smtp_begin_connect(c));
}

/* The engine's begin_* checks the arguments first, so an invalid
 * argument is reported as such even when not connected. */
static int start(mw_smtp *c, int begin_rc, int (*fin)(void *owner, int rc)) {
  if (begin_rc == MW_OK)
    begin_rc = mw_io_start(&c->s.io, fin, c);
  if (begin_rc == MW_OK)
    return MW_OK;
  /* A begin that found the session out of step, or the server gone (a
   * 421 already buffered), closes it as the pump would. */
  if (c->s.drop || begin_rc == errProtocol) {
    mw_conn_close(&c->s.conn);
    c->s.drop = 0;
    sync_connection(c);
  }
  return begin_rc;
}

/* enter() and keep the engine in step with the connection. */
static int enter_op(mw_smtp *c) {
  int rc = check_handle(c);
  if (rc != MW_OK || (rc = enter(c)) != MW_OK)
    return rc;
  sync_connection(c);
  return MW_OK;
}

int mw_smtp_begin_send(mw_smtp *c, const char *from, const char *const *rcpts,
                       size_t nrcpts, const char *msg, size_t len) {
  int rc = enter_op(c);
  if (rc != MW_OK)
    return rc;
  return start(c,
               mw_smtp_engine_begin_send(&c->e, from, rcpts, nrcpts, msg, len),
               finish_op);
}

int mw_smtp_send(mw_smtp *c, const char *from, const char *const *rcpts,
                 size_t nrcpts, const char *msg, size_t len) {
  return drive(c, mw_smtp_begin_send(c, from, rcpts, nrcpts, msg, len));
}

int mw_smtp_begin_send_stream(mw_smtp *c, const char *from,
                              const char *const *rcpts, size_t nrcpts,
                              uint64_t size_hint, int flags) {
  int rc = enter_op(c);
  if (rc != MW_OK)
    return rc;
  c->s.io.body_cb = NULL; /* the body comes through MW_IO_BODY */
  return start(c,
               mw_smtp_engine_begin_send_stream(&c->e, from, rcpts, nrcpts,
                                                size_hint, flags,
                                                mw_io__source, &c->s.io),
               finish_op);
}

/* The blocking driver answers MW_IO_BODY with the callback. */
int mw_smtp_send_stream(mw_smtp *c, const char *from, const char *const *rcpts,
                        size_t nrcpts, uint64_t size_hint, int flags,
                        mw_read_cb read, void *userdata) {
  int rc = enter_op(c);
  if (rc != MW_OK)
    return rc;
  if (!read) /* the engine's own check and words */
    return start(c,
                 mw_smtp_engine_begin_send_stream(
                     &c->e, from, rcpts, nrcpts, size_hint, flags, NULL, NULL),
                 finish_op);
  rc = start(c,
             mw_smtp_engine_begin_send_stream(&c->e, from, rcpts, nrcpts,
                                              size_hint, flags, mw_io__source,
                                              &c->s.io),
             finish_op);
  if (rc != MW_OK)
    return rc;
  c->s.io.body_cb = read;
  c->s.io.body_ud = userdata;
  rc = mw_io_run(&c->s.io);
  c->s.io.body_cb = NULL;
  c->s.io.body_ud = NULL;
  return rc;
}

int mw_smtp_begin_send_batch(mw_smtp *c, const mw_smtp_message *msgs,
                             size_t n) {
  int rc = enter_op(c);
  if (rc != MW_OK)
    return rc;
  return start(c, mw_smtp_engine_begin_batch(&c->e, msgs, n), finish_op);
}

int mw_smtp_send_batch(mw_smtp *c, const mw_smtp_message *msgs, size_t n) {
  return drive(c, mw_smtp_begin_send_batch(c, msgs, n));
}

size_t mw_smtp_batch_count(const mw_smtp *c) {
  return c ? mw_smtp_engine_batch_count(&c->e) : 0;
}

int mw_smtp_batch_code(const mw_smtp *c, size_t i) {
  return c ? mw_smtp_engine_batch_code(&c->e, i) : 0;
}

const char *mw_smtp_batch_enhanced_status(const mw_smtp *c, size_t i) {
  return c ? mw_smtp_engine_batch_enhanced(&c->e, i) : "";
}

const char *mw_smtp_batch_text(const mw_smtp *c, size_t i) {
  return c ? mw_smtp_engine_batch_text(&c->e, i) : "";
}

size_t mw_smtp_batch_rcpt_count(const mw_smtp *c, size_t i) {
  size_t n = 0;
  if (c)
    mw_smtp_engine_batch_rcpt(&c->e, i, 0, &n);
  return n;
}

int mw_smtp_batch_rcpt_code(const mw_smtp *c, size_t i, size_t j) {
  const mw_smtp_rcpt_result *r =
      c ? mw_smtp_engine_batch_rcpt(&c->e, i, j, NULL) : NULL;
  return r ? r->code : 0;
}

const char *mw_smtp_batch_rcpt_text(const mw_smtp *c, size_t i, size_t j) {
  const mw_smtp_rcpt_result *r =
      c ? mw_smtp_engine_batch_rcpt(&c->e, i, j, NULL) : NULL;
  return r && r->text ? r->text : "";
}

const char *mw_smtp_batch_rcpt_enhanced_status(const mw_smtp *c, size_t i,
                                               size_t j) {
  const mw_smtp_rcpt_result *r =
      c ? mw_smtp_engine_batch_rcpt(&c->e, i, j, NULL) : NULL;
  return r ? r->enhanced : "";
}

int mw_smtp_begin_noop(mw_smtp *c) {
  int rc = enter_op(c);
  return rc != MW_OK ? rc
                     : start(c, mw_smtp_engine_begin_noop(&c->e), finish_op);
}

int mw_smtp_noop(mw_smtp *c) {
  return drive(c, mw_smtp_begin_noop(c));
}

int mw_smtp_begin_rset(mw_smtp *c) {
  int rc = enter_op(c);
  return rc != MW_OK ? rc
                     : start(c, mw_smtp_engine_begin_rset(&c->e), finish_op);
}

int mw_smtp_rset(mw_smtp *c) {
  return drive(c, mw_smtp_begin_rset(c));
}

int mw_smtp_begin_quit(mw_smtp *c) {
  int rc = enter_op(c);
  if (rc != MW_OK)
    return rc;
  rc = start(c, mw_smtp_engine_begin_quit(&c->e), finish_quit);
  if (rc != MW_OK && rc != errNotConnected) {
    mw_conn_close(&c->s.conn);
    mw_smtp_engine_disconnected(&c->e);
  }
  return rc;
}

int mw_smtp_quit(mw_smtp *c) {
  return drive(c, mw_smtp_begin_quit(c));
}

void mw_smtp_disconnect(mw_smtp *c) {
  if (!c || c->s.busy)
    return;
  mw_conn_close(&c->s.conn);
  mw_smtp_engine_disconnected(&c->e);
}

void mw_smtp_cancel(mw_smtp *c) {
  if (c)
    mw_session_cancel(&c->s);
}

mw_session *mw_smtp_session(mw_smtp *c) {
  return &c->s;
}
