/* io.c - the caller-driven session (mailwire.h, "Without blocking").
 *
 * One state machine per client runs a whole operation: the TCP connection
 * the driver makes for it, the proxy negotiation (proxy.c), the TLS
 * handshake over memory BIOs (tls.c), then the protocol engine
 * (smtp_engine.c, pop3_engine.c). It never touches a socket and never
 * blocks: it says what it wants (mw_io_next) and takes the answers. Every
 * driver runs this same code (blocking.c is the poll() one), so behaviour,
 * errors and logs are the same under each.
 *
 * Model: nghttp2's mem_recv/mem_send (the session owns no transport) and
 * libpq's PQconnectPoll (the caller owns the waiting). */
#include "driver.h"
#include "proxy.h"
#include "revocation.h"
#include "tls.h"

#include <errno.h>
#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define IO_TLS_CHUNK 16384 /* plaintext decrypted per SSL_read */
#define IO_NONE (-1)       /* no want asked and unanswered */

int (*mw_io_test_driver)(struct mw_io *io) = NULL;

/* ---- clock ---- */

long long mw_io__now(const mw_io *io) {
  return io->now_override ? io->now_override : mw_now_ms();
}

void mw_io__set_clock(mw_io *io, long long now_ms) {
  io->now_override = now_ms;
}

/* ---- life ---- */

void mw_io_init(mw_io *io, mw_session *s, const mw_engine_io *eng) {
  memset(io, 0, sizeof *io);
  io->s = s;
  io->want = IO_NONE;
  if (eng)
    io->eng = *eng;
  mw_buf_init(&io->wire);
  mw_buf_init(&io->pending_in);
  mw_buf_init(&io->body);
  mw_buf_init(&io->dbytes);
}

static void drop_neg(mw_io *io) {
  if (!io->neg)
    return;
  mw_proxy_free(io->neg);
  free(io->neg);
  io->neg = NULL;
}

/* What one operation holds; the buffers keep their memory. */
static void reset_op(mw_io *io) {
  drop_neg(io);
  mw_buf_reset(&io->wire);
  io->wire_pos = 0;
  mw_buf_reset(&io->pending_in);
  io->in_error = 0;
  mw_buf_reset(&io->body);
  io->body_pos = 0;
  io->body_end = io->body_raw_set = 0;
  mw_buf_reset(&io->dbytes);
  io->npieces = io->piece_head = 0;
  io->need_step = 0;
  io->want = IO_NONE;
  io->bulk = 0;
  io->retr_single = 0;
}

void mw_io_free(mw_io *io) {
  reset_op(io);
  mw_buf_free(&io->wire);
  mw_buf_free(&io->pending_in);
  mw_buf_free(&io->body);
  mw_buf_free(&io->dbytes);
  free(io->pieces);
  free(io->connect_host);
  free(io->target_host);
  io->pieces = NULL;
  io->connect_host = io->target_host = NULL;
}

static int running(const mw_io *io) {
  return io->phase != MW_IOP_IDLE && io->phase != MW_IOP_DONE;
}

/* ---- ending an operation ---- */

/* The end of every operation: the client's finish keeps its engine in
 * step with the connection, then calls may come again. */
#define IO_KEEP_IDLE 16384 /* buffer memory an idle session keeps */

/* An idle session holds little: buffers grown by a large operation are
 * given back (thousands of idle sessions in one event loop). */
static void trim(mw_buf *b) {
  if (b->cap > IO_KEEP_IDLE)
    mw_buf_free(b);
}

static void finish(mw_io *io, int rc) {
  mw_session *s = io->s;
  reset_op(io);
  trim(&io->wire);
  trim(&io->pending_in);
  trim(&io->body);
  trim(&io->dbytes);
  io->phase = MW_IOP_DONE;
  if (io->finish)
    rc = io->finish(io->owner, rc);
  io->result = rc;
  s->busy = 0;
}

/* A failure already in s->err (as the pump's fail()): the connection is
 * closed when its state is unknown. */
static void fail(mw_io *io) {
  mw_session *s = io->s;
  if (s->err.code == MW_OK) /* an engine bug must not look like success */
    mw_error_set(&s->err, eexMalformedReply, 0,
                 "Internal error: the protocol engine failed without a "
                 "reason.");
  if (mw_closes_connection(s->err.code) || s->drop)
    mw_conn_close(&s->conn);
  s->drop = 0;
  finish(io, s->err.code);
}

/* ---- the deadline of the current want ---- */

static long long reply_dl(const mw_io *io) {
  return io->bulk ? 0 : mw_session_reply_deadline(io->s, io->reply_start);
}

/* The deadline that bounds the want being asked: the per-wait timeout,
 * the reply deadline (not while message content flows: the low-speed
 * limit bounds that) and the operation's. 0: none. */
static long long deadline(const mw_io *io) {
  const mw_session *s = io->s;
  long long wait = io->wait_start + s->conn.timeout_ms;
  switch (io->want) {
  case MW_IO_BODY:
  case MW_IO_DELIVER: /* the application's own time: only the whole call */
    return s->op_deadline;
  case MW_IO_CONNECT:
  case MW_IO_READ:
  case MW_IO_WRITE:
    return mw_earliest(wait, mw_earliest(s->op_deadline, reply_dl(io)));
  case MW_IO_FETCH: /* SSLRevocationTimeout bounds all fetches together */
    return mw_rev_check_deadline(s->conn.tls->rev);
  default:
    return 0;
  }
}

int mw_io_timeout_ms(const mw_io *io) {
  if (!io || !running(io) || io->want == IO_NONE)
    return -1;
  long long dl = deadline(io);
  if (!dl)
    return -1;
  long long left = dl - mw_io__now(io);
  if (left <= 0)
    return 0;
  return left > 0x7fffffff ? 0x7fffffff : (int)left;
}

/* ---- timeouts told in the step's terms ---- */

static void proxy_timeout_text(mw_io *io) {
  mw_session *s = io->s;
  const char *kind = mw_proxy_kind_name(s->conn_proxy->kind);
  mw_error_set(&s->err, eexTimeout, s->err.os_error,
               "The %s proxy did not answer within %d ms. Check that the "
               "port is a %s proxy's, or raise the timeout.",
               kind, s->conn.timeout_ms, kind);
}

static void engine_timeout_text(mw_io *io) {
  char what[160] = "the server's reply";
  if (io->eng.waiting_for)
    io->eng.waiting_for(io->eng.engine, what, sizeof what);
  mw_session_explain_timeout(io->s, what, reply_dl(io));
}

static void proxy_unreachable(mw_io *io);

/* The driver's words for a connect that timed out. */
static void connect_timeout_text(mw_io *io) {
  long long waited = mw_io__now(io) - io->wait_start;
  mw_error_set(&io->s->err, eexTimeout, ETIMEDOUT,
               "Connecting to %s port %u timed out after %lld ms. Check the "
               "server name, the port and any firewall.",
               io->connect_host, io->connect_port, waited);
}

/* A timeout (the driver's, or a deadline mw_io_next saw pass) in the
 * words the blocking pump always used for that step. */
static void timed_out(mw_io *io) {
  mw_session *s = io->s;
  switch (io->phase) {
  case MW_IOP_CONNECT:
    if (s->conn_proxy)
      proxy_unreachable(io);
    return;
  case MW_IOP_PROXY:
    proxy_timeout_text(io);
    return;
  case MW_IOP_TLS:
  case MW_IOP_TLS_CHECK:
    mw_session_explain_timeout(s, "the TLS handshake", reply_dl(io));
    return;
  default:
    engine_timeout_text(io);
  }
}

/* ---- failures of the transport, per phase ---- */

static void tls_failed(mw_io *io);

static void proxy_unreachable(mw_io *io) {
  mw_session *s = io->s;
  const mw_proxyinfo *p = s->conn_proxy;
  if (s->err.number == eexDNS) {
    mw_error_set(&s->err, eexDNS, s->err.os_error,
                 "The proxy name '%s' cannot be resolved. Check the proxy "
                 "server name.",
                 p->host);
  } else {
    char why[sizeof s->err.text];
    memcpy(why, s->err.text, sizeof why);
    mw_error_set(&s->err, eexProxyNoconn, s->err.os_error,
                 "Cannot connect to the %s proxy %s port %u. Check the "
                 "proxy address and port, and that the proxy runs. (%s)",
                 mw_proxy_kind_name(p->kind), p->host, p->port, why);
  }
}

/* A transport failure during the negotiation, in the proxy's terms. */
static void proxy_io_failed(mw_io *io) {
  mw_session *s = io->s;
  switch (s->err.number) {
  case eexServerClosed:
    mw_proxy_eof(io->neg);
    return;
  case eexSocketRx:
  case eexSocketTx:
    mw_error_set(&s->err, eexProxySocketerror, s->err.os_error,
                 "A socket error occurred while talking to the %s proxy: "
                 "%s. Check the proxy and the network.",
                 mw_proxy_kind_name(io->neg->kind),
                 strerror((int)s->err.os_error));
    return;
  case eexTimeout:
    proxy_timeout_text(io);
    return;
  default:
    return;
  }
}

static void log_proxy_failure(mw_io *io) {
  mw_log(io->s->log, LOG_S_FATAL, LOG_F_PROXY, "%s", io->s->err.text);
}

/* A peer that hangs up during the handshake usually does not speak TLS on
 * this port; the socket error stays in os_error. */
static void handshake_closed(mw_io *io) {
  mw_session *s = io->s;
  mw_error_set(&s->err, eexSSLProtocol, s->err.os_error,
               "The server %s closed the connection during the TLS "
               "handshake. The port may not speak TLS directly (implicit "
               "TLS is usually port 465 for SMTP and 995 for POP3; 25, 587 "
               "and 110 need MODE_STARTTLS), or the server refused our TLS "
               "versions or ciphers.",
               s->conn.peer);
}

static size_t decrypt(mw_io *io);

/* After a failed write or read: what the server sent before the failure
 * may say why (SMTP 421): the engine looks at what is buffered. */
static void salvage_reason(mw_io *io) {
  mw_session *s = io->s;
  int number = s->err.number;
  if (!io->eng.salvage || !mw_conn_is_open(&s->conn) ||
      (number != eexSocketTx && number != eexSocketRx &&
       number != eexServerClosed))
    return;
  if (s->conn.tls) {
    mw_errorinfo saved;
    mw_error_init(&saved);
    mw_error_copy(&saved, &s->err);
    decrypt(io);
    mw_error_copy(&s->err, &saved);
    mw_error_clear(&saved);
  }
  if (io->eng.salvage(io->eng.engine))
    mw_log(s->log, LOG_S_WARNING, LOG_F_PROTOCOL,
           "The server sent 421 before the connection failed (%s)",
           mw_eex_name(number));
}

/* Bytes the driver could still read without waiting after a failed write
 * or read: buffered for salvage_reason, never stepped on. */
void mw_io__take_late(mw_io *io, const void *data, size_t n) {
  mw_session *s = io->s;
  if (!running(io) || io->phase != MW_IOP_ENGINE || n == 0)
    return;
  if (s->conn.tls)
    BIO_write(s->conn.tls->net_in, data, (int)n);
  else
    mw_reader_feed(io->eng.in, data, n);
}

/* The transport failed with s->err filled (driver.c's words): the same
 * rewording per step as before the session was a state machine. */
int mw_io__fail(mw_io *io) {
  if (!running(io))
    return errState;
  mw_session *s = io->s;
  int timeout = s->err.number == eexTimeout;
  switch (io->phase) {
  case MW_IOP_CONNECT:
    if (timeout)
      timed_out(io);
    else if (s->conn_proxy)
      proxy_unreachable(io);
    if (s->conn_proxy)
      log_proxy_failure(io);
    break;
  case MW_IOP_PROXY:
    proxy_io_failed(io);
    log_proxy_failure(io);
    break;
  case MW_IOP_TLS:
  case MW_IOP_TLS_CHECK:
    if (timeout)
      timed_out(io);
    else if (s->err.code == errNetwork)
      handshake_closed(io);
    tls_failed(io);
    return io->result;
  default:
    if (timeout)
      timed_out(io);
    salvage_reason(io);
  }
  fail(io);
  return io->result;
}

/* ---- moving bytes ---- */

static int wire_pending(const mw_io *io) {
  return io->wire.len > io->wire_pos;
}

static int no_memory(mw_io *io) {
  return mw_error_set(&io->s->err, eexNoMemory, 0, NULL);
}

/* What the TLS filter produced goes to the wire. */
static int move_ciphertext(mw_io *io) {
  mw_tls *t = io->s->conn.tls;
  size_t pending;
  while ((pending = BIO_ctrl_pending(t->net_out)) > 0) {
    if (mw_buf_reserve(&io->wire, pending) != 0)
      return no_memory(io);
    int n = BIO_read(t->net_out, io->wire.data + io->wire.len, (int)pending);
    if (n <= 0)
      break;
    io->wire.len += (size_t)n;
    io->wire.data[io->wire.len] = '\0';
  }
  return MW_OK;
}

/* The engine's output, encrypted once TLS is up. */
static int queue_output(mw_io *io, mw_buf *out) {
  mw_session *s = io->s;
  int rc = MW_OK;
  if (out->len == 0)
    return MW_OK;
  if (!s->conn.tls) {
    rc = mw_buf_append(&io->wire, out->data, out->len) ? no_memory(io) : MW_OK;
    mw_buf_reset(out);
    return rc;
  }
  const char *p = out->data;
  size_t len = out->len;
  while (len > 0 && rc == MW_OK) {
    int chunk = len > IO_TLS_CHUNK ? IO_TLS_CHUNK : (int)len;
    int n = SSL_write(s->conn.tls->ssl, p, chunk);
    if (n <= 0) {
      char why[256];
      unsigned long code = mw_tls_take_error(why, sizeof why);
      rc = mw_error_set(&s->err, mw_tls_number(code, eexSSLW32), (long)code,
                        "Encrypting data for the server failed: %s.", why);
      break;
    }
    p += n;
    len -= (size_t)n;
    rc = move_ciphertext(io);
  }
  mw_buf_reset(out);
  return rc;
}

/* Decrypt what the TLS filter holds into the engine's reader. The end of
 * the stream or an error is kept until the engine needs more (bytes
 * before it are the engine's first). Returns the plaintext bytes. */
static size_t decrypt(mw_io *io) {
  mw_session *s = io->s;
  size_t total = 0;
  while (!io->in_error) {
    char *space = mw_reader_space(io->eng.in, IO_TLS_CHUNK);
    if (!space) {
      io->in_error = eexNoMemory;
      snprintf(io->in_error_text, sizeof io->in_error_text, "%s",
               mw_eex_text(eexNoMemory));
      break;
    }
    int n = SSL_read(s->conn.tls->ssl, space, IO_TLS_CHUNK);
    if (n > 0) {
      mw_reader_commit(io->eng.in, (size_t)n);
      total += (size_t)n;
      continue;
    }
    int e = SSL_get_error(s->conn.tls->ssl, n);
    if (e == SSL_ERROR_WANT_READ)
      break;
    if (e == SSL_ERROR_ZERO_RETURN) {
      io->in_error = eexServerClosed;
      io->in_error_os = 0;
      snprintf(io->in_error_text, sizeof io->in_error_text,
               "The server closed the TLS connection.");
      break;
    }
    char why[200];
    unsigned long code = mw_tls_take_error(why, sizeof why);
    io->in_error = mw_tls_number(code, eexSSLW32);
    io->in_error_os = (long)code;
    snprintf(io->in_error_text, sizeof io->in_error_text,
             "Decrypting data from the server failed: %s.", why);
  }
  if (move_ciphertext(io) != MW_OK && !io->in_error) /* key updates */
    io->in_error = eexNoMemory;
  return total;
}

/* Message content slower than low_speed_limit bytes/s over a whole
 * reply-timeout window: a drip that each wait alone would never stop. */
static int check_low_speed(mw_io *io, size_t got) {
  mw_session *s = io->s;
  if (!io->bulk || s->low_speed_limit <= 0 || s->reply_timeout_ms <= 0)
    return MW_OK;
  io->window_bytes += got;
  long long now = mw_io__now(io);
  long long span = now - io->window_start;
  if (span < s->reply_timeout_ms)
    return MW_OK;
  uint64_t wanted = (uint64_t)s->low_speed_limit * (uint64_t)span / 1000;
  if (io->window_bytes >= wanted) {
    io->window_start = now;
    io->window_bytes = 0;
    return MW_OK;
  }
  char what[160] = "the message";
  if (io->eng.waiting_for)
    io->eng.waiting_for(io->eng.engine, what, sizeof what);
  return mw_error_set(&s->err, eexTimeout, ETIMEDOUT,
                      "Timed out receiving %s from %s: %llu bytes in %lld "
                      "ms, below the low-speed limit of %ld bytes/s; the "
                      "connection was closed.",
                      what, s->conn.peer, (unsigned long long)io->window_bytes,
                      span, s->low_speed_limit);
}

/* ---- phases ---- */

static void enter_engine(mw_io *io);
static void take_input(mw_io *io, const char *data, size_t n);

/* Bytes that arrived for the layer that comes next (after the proxy's
 * last reply byte) go to it now. */
static void replay_pending(mw_io *io) {
  if (io->pending_in.len == 0)
    return;
  mw_buf held = io->pending_in;
  mw_buf_init(&io->pending_in);
  take_input(io, held.data, held.len);
  mw_buf_free(&held);
}

static void tls_failed(mw_io *io) {
  mw_session *s = io->s;
  mw_log(s->log, LOG_S_FATAL, LOG_F_SSL, "%s", s->err.text);
  mw_tls_keep_outcome(s->conn.tls, s->conn.out); /* readable after a
                                                    refusal too */
  mw_tls_free(s->conn.tls);
  s->conn.tls = NULL;
  ERR_clear_error();
  /* A connection whose handshake failed is not usable, and must never
   * carry plaintext afterwards. */
  mw_conn_close(&s->conn);
  fail(io);
}

static void start_tls(mw_io *io) {
  mw_session *s = io->s;
  mw_sslinfo *ssl = s->ssl;
  if (s->conn.tls) {
    mw_error_set(&s->err, eexState, 0, "TLS is already active.");
    tls_failed(io);
    return;
  }
  if (mw_tls_new(&s->conn.tls, ssl, mw_session_tls_peer_name(s), &s->err) !=
      MW_OK) {
    tls_failed(io);
    return;
  }
  mw_session_cache_prepare(s->conn.tls, ssl, s->conn.peer);
  mw_log(s->log, LOG_S_INFORMATION, LOG_F_SSL,
         "Starting TLS handshake with %s, checking the name '%s'%s%s",
         s->conn.peer, s->conn.tls->name,
         ssl->no_name_check ? " (name check disabled)" : "",
         ssl->no_verify ? " (certificate validation disabled)" : "");
  io->phase = MW_IOP_TLS;
  io->need_step = 1;
  replay_pending(io);
}

/* STARTTLS/STLS: anything already buffered arrived in plaintext after the
 * server's go-ahead, and would be taken as if it came over TLS
 * (CVE-2011-0411, CVE-2021-22947). */
static void start_tls_midstream(mw_io *io) {
  mw_session *s = io->s;
  size_t extra = mw_reader_pending(io->eng.in) + io->pending_in.len;
  if (extra) {
    mw_error_set(&s->err, eexSSLInjection, 0,
                 "The server sent %zu unexpected bytes after agreeing to "
                 "start TLS; they may have been injected by an attacker. The "
                 "connection was closed before the handshake.",
                 extra);
    fail(io);
    return;
  }
  if (!s->ssl) {
    mw_error_set(&s->err, eexSSLNocontext, 0,
                 "Internal error: TLS requested without an SSLInfo.");
    fail(io);
    return;
  }
  io->reply_start = mw_io__now(io); /* the handshake counts as one reply */
  io->bulk = 0;
  start_tls(io);
}

/* The handshake: records out, records in, until OpenSSL says done. */
static int tls_advance(mw_io *io) {
  mw_session *s = io->s;
  if (wire_pending(io))
    return MW_IO_WRITE;
  if (!io->need_step) {
    if (!io->in_error)
      return MW_IO_READ;
    mw_error_set(&s->err, io->in_error, io->in_error_os, "%s",
                 io->in_error_text);
    mw_io__fail(io);
    return MW_IO_DONE;
  }
  io->need_step = 0;
  int r = SSL_do_handshake(s->conn.tls->ssl);
  if (move_ciphertext(io) != MW_OK) {
    tls_failed(io);
    return MW_IO_DONE;
  }
  if (r == 1) {
    io->phase = MW_IOP_TLS_CHECK;
    return IO_NONE;
  }
  int e = SSL_get_error(s->conn.tls->ssl, r);
  if (e != SSL_ERROR_WANT_READ) {
    mw_tls_handshake_error(s->conn.tls, e, &s->err);
    tls_failed(io);
    return MW_IO_DONE;
  }
  return wire_pending(io) ? MW_IO_WRITE : MW_IO_READ;
}

/* The revocation check (revocation.c), resumed after each fetch the
 * driver makes for it: IO_NONE when it passed. A refusal closes the
 * connection before any application byte moved. */
static int revocation_check(mw_io *io) {
  mw_tls *t = io->s->conn.tls;
  switch (mw_rev_check_run(t->rev, t->ssl, mw_io__now(io))) {
  case MW_REV_FETCH:
    return MW_IO_FETCH;
  case MW_REV_FAILED:
    mw_revocation_error(t->rev, &io->s->err);
    tls_failed(io);
    return MW_IO_DONE;
  default:
    return IO_NONE;
  }
}

/* Between "handshake done" and "TLS up": the checks on the negotiated
 * session, before any application byte is read or written. */
static int tls_check(mw_io *io) {
  mw_session *s = io->s;
  if (wire_pending(io)) /* our last handshake flight (Finished) first */
    return MW_IO_WRITE;
  int w = revocation_check(io);
  if (w != IO_NONE)
    return w;
  if (mw_tls_after_handshake(s->conn.tls, s->ssl, &s->err) != MW_OK) {
    tls_failed(io);
    return MW_IO_DONE;
  }
  /* Only a session that passed every check may be resumed later. */
  mw_session_cache_release(s->conn.tls);
  mw_tls_fill_outputs(s->conn.tls, s->ssl, s->conn.out, s->log);
  if (io->implicit_tls) {
    io->implicit_tls = 0;
    enter_engine(io);
  } else {
    io->phase = MW_IOP_ENGINE;
    io->need_step = 1;
  }
  /* Records that came with the last handshake flight may already hold
   * application data. */
  decrypt(io);
  return IO_NONE;
}

/* The tunnel through the proxy (proxy.c decides what to send). */
static int proxy_advance(mw_io *io) {
  mw_session *s = io->s;
  mw_proxy_neg *n = io->neg;
  if (n->out.len) {
    int bad = mw_buf_append(&io->wire, n->out.data, n->out.len);
    memset(n->out.data, 0, n->out.len); /* may hold the password */
    mw_buf_reset(&n->out);
    if (bad) {
      no_memory(io);
      fail(io);
      return MW_IO_DONE;
    }
  }
  if (wire_pending(io))
    return MW_IO_WRITE;
  if (n->state == MW_PXS_FAILED) {
    log_proxy_failure(io);
    fail(io);
    return MW_IO_DONE;
  }
  if (n->state != MW_PXS_DONE)
    return MW_IO_READ;
  snprintf(s->conn.peer, sizeof s->conn.peer, "%.40s:%u via proxy",
           io->target_host, io->target_port);
  drop_neg(io);
  if (io->implicit_tls)
    start_tls(io);
  else
    enter_engine(io);
  return IO_NONE;
}

static void enter_engine(mw_io *io) {
  io->phase = MW_IOP_ENGINE;
  io->need_step = 1;
  io->reply_start = mw_io__now(io); /* the greeting's time starts now */
  io->bulk = 0;
  replay_pending(io);
}

static int queue_piece(mw_io *io, size_t i, unsigned long msg,
                       const char *data, size_t len, int end);

/* A want of the engine's step, once its output is written. */
static int engine_wait(mw_io *io) {
  mw_session *s = io->s;
  switch (io->st) {
  case MW_STEP_DONE:
    if (io->retr_single && s->err.code == MW_OK) {
      /* mw_pop3_begin_retr/top: the end piece, as a batch's */
      io->retr_single = 0;
      if (queue_piece(io, 0, io->retr_msg, "", 0, 1) != 0) {
        no_memory(io);
        fail(io);
        return MW_IO_DONE;
      }
      return IO_NONE;
    }
    /* A callback may have cancelled while the last reply was logged. */
    if (mw_session_take_cancel(s))
      fail(io);
    else
      finish(io, s->err.code);
    return MW_IO_DONE;
  case MW_STEP_FLUSH:
    io->need_step = 1;
    return IO_NONE;
  case MW_STEP_READ:
    if (!io->in_error)
      return MW_IO_READ;
    mw_error_set(&s->err, io->in_error, io->in_error_os, "%s",
                 io->in_error_text);
    io->in_error = 0;
    mw_io__fail(io);
    return MW_IO_DONE;
  case MW_STEP_TLS:
    start_tls_midstream(io);
    return running(io) ? IO_NONE : MW_IO_DONE;
  case MW_STEP_BODY:
    return MW_IO_BODY;
  default:
    mw_error_set(&s->err, eexMalformedReply, 0,
                 "Internal error: unknown engine step %d.", (int)io->st);
    fail(io);
    return MW_IO_DONE;
  }
}

static int pieces_pending(const mw_io *io) {
  return io->piece_head < io->npieces;
}

static int engine_advance(mw_io *io) {
  mw_session *s = io->s;
  if (wire_pending(io))
    return MW_IO_WRITE;
  if (pieces_pending(io))
    return MW_IO_DELIVER;
  if (!io->need_step)
    return engine_wait(io);
  if (mw_session_take_cancel(s)) {
    fail(io);
    return MW_IO_DONE;
  }
  io->need_step = 0;
  io->st = io->eng.step(io->eng.engine);
  if (io->st == MW_STEP_ERROR) {
    fail(io);
    return MW_IO_DONE;
  }
  if (queue_output(io, io->eng.out) != MW_OK) {
    mw_io__fail(io);
    return MW_IO_DONE;
  }
  return IO_NONE;
}

/* One move of the state machine: a want for the driver, IO_NONE to go on,
 * or MW_IO_DONE. */
static int advance_once(mw_io *io) {
  switch (io->phase) {
  case MW_IOP_CONNECT:
    return MW_IO_CONNECT;
  case MW_IOP_PROXY:
    return proxy_advance(io);
  case MW_IOP_TLS:
    return tls_advance(io);
  case MW_IOP_TLS_CHECK:
    return tls_check(io);
  case MW_IOP_ENGINE:
    return engine_advance(io);
  default:
    return MW_IO_DONE;
  }
}

/* Message content is bounded by the low-speed limit, the rest by the
 * reply deadline: switching between them starts the new one's clock. */
static void update_bulk(mw_io *io) {
  if (io->phase != MW_IOP_ENGINE)
    return;
  int bulk = io->eng.bulk && io->eng.bulk(io->eng.engine);
  long long now = mw_io__now(io);
  if (bulk && !io->bulk) {
    io->window_start = now;
    io->window_bytes = 0;
  } else if (!bulk && io->bulk) {
    io->reply_start = now; /* the next reply's time starts after the data */
  }
  io->bulk = bulk;
}

static int expired(const mw_io *io) {
  long long dl = deadline(io);
  return dl && mw_io__now(io) >= dl;
}

static mw_io_want expire(mw_io *io) {
  mw_session *s = io->s;
  if (io->want == MW_IO_FETCH) {
    /* The check's time is up, not the connection's: the server counts as
     * offline, and the check goes on without asking any more. */
    mw_rev_check_expired(s->conn.tls->rev);
    io->want = IO_NONE;
    return mw_io_next(io);
  }
  if (io->phase == MW_IOP_CONNECT)
    connect_timeout_text(io);
  else
    mw_error_set(&s->err, eexTimeout, ETIMEDOUT,
                 "The deadline passed; the connection was closed.");
  mw_io__fail(io);
  return MW_IO_DONE;
}

/* A session copied by fork() runs nothing: its connection is the
 * parent's (eexForked), and is left alone. */
static mw_io_want forked(mw_io *io) {
  reset_op(io);
  io->phase = MW_IOP_DONE;
  io->result = mw_session_check_process(io->s);
  io->s->busy = 0;
  return MW_IO_DONE;
}

mw_io_want mw_io_next(mw_io *io) {
  if (!io || !running(io))
    return MW_IO_DONE;
  if (io->s->pid != getpid())
    return forked(io);
  if (io->want == IO_NONE) {
    int w = IO_NONE;
    for (int guard = 0; w == IO_NONE && guard < 100000; guard++)
      w = advance_once(io);
    if (w == IO_NONE) { /* a state machine that never settles is a bug */
      mw_error_set(&io->s->err, eexMalformedReply, 0,
                   "Internal error: the session did not settle on a want.");
      mw_io__fail(io);
    }
    if (w == MW_IO_DONE || !running(io))
      return MW_IO_DONE;
    io->want = w;
    io->wait_start = mw_io__now(io);
    if (w == MW_IO_READ || w == MW_IO_WRITE)
      update_bulk(io);
  }
  if (atomic_load(&io->s->cancelled) && io->phase == MW_IOP_ENGINE) {
    mw_session_take_cancel(io->s);
    fail(io);
    return MW_IO_DONE;
  }
  if (expired(io))
    return expire(io);
  return (mw_io_want)io->want;
}

/* ---- answers ---- */

/* An answer to a want that is not asked is refused and changes nothing;
 * the ErrorInfo belongs to the running operation, so it is left alone. */
static int answering(mw_io *io, int want) {
  if (!io || !running(io) || io->want != want || io->s->pid != getpid())
    return errState;
  io->want = IO_NONE;
  return MW_OK;
}

static int io_result(const mw_io *io) {
  return running(io) ? MW_OK : io->result;
}

/* Bytes from the peer, to whichever layer reads now. */
static void take_input(mw_io *io, const char *data, size_t n) {
  mw_session *s = io->s;
  if (io->phase == MW_IOP_PROXY && io->neg) {
    while (n > 0 && io->neg->state != MW_PXS_DONE &&
           io->neg->state != MW_PXS_FAILED) {
      size_t k = mw_proxy_want(io->neg);
      k = k < n ? k : n;
      mw_proxy_feed(io->neg, data, k);
      data += k;
      n -= k;
    }
    if (n && mw_buf_append(&io->pending_in, data, n) != 0)
      io->in_error = eexNoMemory;
    return;
  }
  if (io->phase != MW_IOP_ENGINE && io->phase != MW_IOP_TLS &&
      io->phase != MW_IOP_TLS_CHECK) {
    if (mw_buf_append(&io->pending_in, data, n) != 0)
      io->in_error = eexNoMemory;
    return;
  }
  if (s->conn.tls) {
    if (BIO_write(s->conn.tls->net_in, data, (int)n) != (int)n) {
      io->in_error = eexNoMemory;
      return;
    }
    io->need_step = 1;
    if (io->phase == MW_IOP_ENGINE) {
      size_t got = decrypt(io);
      io->need_step = got > 0;
      if (got && check_low_speed(io, got) != MW_OK)
        fail(io);
    }
    return;
  }
  if (mw_reader_feed(io->eng.in, data, n) != 0) {
    io->in_error = eexNoMemory;
    return;
  }
  io->need_step = 1;
  if (check_low_speed(io, n) != MW_OK)
    fail(io);
}

int mw_io_feed(mw_io *io, const void *data, size_t n) {
  if (answering(io, MW_IO_READ) != MW_OK)
    return errState;
  mw_session *s = io->s;
  if (n == 0) {
    mw_error_set(&s->err, eexServerClosed, 0,
                 "The server closed the connection unexpectedly.");
    return mw_io__fail(io);
  }
  take_input(io, data, n);
  if (running(io) && io->in_error == eexNoMemory) {
    no_memory(io);
    fail(io);
  }
  return io_result(io);
}

/* The blocking driver receives plaintext straight into the engine's
 * reader (no copy), as the pump did. NULL when the bytes go elsewhere
 * (proxy, TLS) or no memory: then it reads into its own buffer. */
int mw_io__read_space(mw_io *io, size_t want, char **space) {
  *space = NULL;
  if (!running(io) || io->phase != MW_IOP_ENGINE || io->s->conn.tls ||
      io->want != MW_IO_READ)
    return MW_OK;
  *space = mw_reader_space(io->eng.in, want);
  return *space ? MW_OK : mw_io__no_memory(io);
}

int mw_io__read_commit(mw_io *io, size_t n) {
  if (n == 0)
    return mw_io_feed(io, NULL, 0);
  if (answering(io, MW_IO_READ) != MW_OK)
    return errState;
  mw_reader_commit(io->eng.in, n);
  io->need_step = 1;
  if (check_low_speed(io, n) != MW_OK)
    fail(io);
  return io_result(io);
}

int mw_io__no_memory(mw_io *io) {
  if (!running(io))
    return errState;
  io->want = IO_NONE;
  no_memory(io);
  return mw_io__fail(io);
}

int mw_io_failed(mw_io *io, int os_errno, int eex) {
  if (!io || !running(io) ||
      (io->want != MW_IO_READ && io->want != MW_IO_WRITE))
    return errState;
  int reading = io->want == MW_IO_READ;
  io->want = IO_NONE;
  mw_session *s = io->s;
  if (eex == eexTimeout)
    mw_error_set(&s->err, eexTimeout, ETIMEDOUT,
                 "The server did not answer within %d ms; the connection "
                 "was closed.",
                 s->conn.timeout_ms);
  else if (reading)
    mw_error_set(&s->err, eexSocketRx, os_errno,
                 "Receiving from the server failed: %s.", strerror(os_errno));
  else
    mw_error_set(&s->err, eexSocketTx, os_errno,
                 "Sending to the server failed: %s.", strerror(os_errno));
  return mw_io__fail(io);
}

const void *mw_io_output(mw_io *io, size_t *len) {
  if (!io || !running(io) || io->want != MW_IO_WRITE) {
    if (len)
      *len = 0;
    return NULL;
  }
  if (len)
    *len = io->wire.len - io->wire_pos;
  return io->wire.data + io->wire_pos;
}

int mw_io_written(mw_io *io, size_t n) {
  if (!io || !running(io) || io->want != MW_IO_WRITE)
    return errState;
  if (n > io->wire.len - io->wire_pos)
    return errInvalidArgument;
  io->want = IO_NONE;
  io->wire_pos += n;
  if (io->wire_pos == io->wire.len) {
    mw_buf_reset(&io->wire);
    io->wire_pos = 0;
    if (io->phase == MW_IOP_ENGINE) /* a command went out: its reply's time */
      io->reply_start = mw_io__now(io);
  }
  return MW_OK;
}

/* ---- connecting ---- */

const char *mw_io_host(const mw_io *io) {
  return io && io->connect_host ? io->connect_host : "";
}

unsigned mw_io_port(const mw_io *io) {
  return io ? io->connect_port : 0;
}

static void start_proxy(mw_io *io) {
  mw_session *s = io->s;
  const mw_proxyinfo *p = s->conn_proxy;
  io->neg = calloc(1, sizeof *io->neg);
  if (!io->neg) {
    no_memory(io);
    fail(io);
    return;
  }
  mw_proxy_init(io->neg, p->kind, p->user, p->pass, io->target_host,
                io->target_port, &s->err, s->log);
  io->phase = MW_IOP_PROXY;
  int rc = MW_OK;
  if (mw_proxy_needs_local_address(p->kind, p->remote_dns, io->target_host)) {
    /* The one lookup the session still makes itself (bounded by the
     * resolver's timeout): the target's address for SOCKS4, or SOCKS5
     * without remote DNS. */
    mw_log(s->log, LOG_S_INFORMATION, LOG_F_PROXY, "%s: resolving %s locally",
           mw_proxy_kind_name(p->kind), io->target_host);
    rc = mw_driver_resolve(io->target_host, p->kind == MW_PROXY_SOCKS4,
                           s->conn.timeout_ms, io->neg->addr,
                           &io->neg->addr_family, &s->err);
  }
  if (rc == MW_OK && mw_proxy_start(io->neg) == MW_PXS_FAILED)
    rc = s->err.code;
  if (rc != MW_OK) {
    log_proxy_failure(io);
    fail(io);
  }
}

static int on_connected(mw_io *io, const char *peer) {
  mw_session *s = io->s;
  s->conn.open = 1;
  io->sock_live = 1;
  if (peer)
    snprintf(s->conn.peer, sizeof s->conn.peer, "%s", peer);
  else
    snprintf(s->conn.peer, sizeof s->conn.peer, "%.50s:%u", io->connect_host,
             io->connect_port);
  if (s->conn_proxy && mw_proxy_is_tunnel(s->conn_proxy->kind))
    start_proxy(io);
  else if (io->implicit_tls)
    start_tls(io);
  else
    enter_engine(io);
  return io_result(io);
}

int mw_io_connected(mw_io *io, const char *peer) {
  if (answering(io, MW_IO_CONNECT) != MW_OK)
    return errState;
  return on_connected(io, peer);
}

int mw_io__connected_fd(mw_io *io, int fd, const char *peer) {
  if (answering(io, MW_IO_CONNECT) != MW_OK)
    return errState;
  io->s->conn.fd = fd;
  return on_connected(io, peer);
}

int mw_io_connect_failed(mw_io *io, int os_errno, int eex) {
  if (answering(io, MW_IO_CONNECT) != MW_OK)
    return errState;
  mw_session *s = io->s;
  if (eex == eexDNS)
    mw_error_set(&s->err, eexDNS, os_errno,
                 "The server name '%s' cannot be resolved. Check the server "
                 "name.",
                 io->connect_host);
  else if (eex == eexTimeout)
    connect_timeout_text(io);
  else
    mw_error_set(&s->err, eexTCPConnect, os_errno,
                 "Cannot connect to %s port %u: %s. Check the port: SMTP "
                 "uses 25 or 587 (STARTTLS) and 465 (implicit TLS); POP3 "
                 "uses 110 (STLS) and 995 (implicit TLS).",
                 io->connect_host, io->connect_port,
                 os_errno ? strerror(os_errno) : "refused");
  return mw_io__fail(io);
}

/* The server name as DNS, the proxy and TLS take it; where to connect
 * (the proxy when one is set). */
static int plan_connection(mw_io *io, int pop3) {
  mw_session *s = io->s;
  free(s->login_user);
  s->login_user = NULL;
  char *ace = NULL, *sni = NULL;
  int rc = mw_idn_to_ascii(s->host, "server name", &ace, &s->err);
  if (rc == MW_OK && s->ssl && s->ssl->server_name)
    rc = mw_idn_to_ascii(s->ssl->server_name, "SSLServerName", &sni, &s->err);
  free(sni);
  if (rc != MW_OK) {
    free(ace);
    return rc;
  }
  free(io->target_host);
  io->target_host = ace ? ace : mw_strdup(s->host);
  free(io->connect_host);
  io->connect_host = NULL;
  if (!io->target_host)
    return no_memory(io);
  const mw_proxyinfo *p = s->conn_proxy;
  if (!p) {
    io->connect_host = mw_strdup(io->target_host);
    io->connect_port = io->target_port;
    return io->connect_host ? MW_OK : no_memory(io);
  }
  if (!mw_proxy_is_tunnel(p->kind) &&
      (rc = mw_session_check_app_proxy(s, io->target_host, pop3)) != MW_OK)
    return rc;
  if (!p->host)
    return mw_error_set(&s->err, eexInvalidArgument, 0,
                        "The ProxyInfo has no proxy server; set it with "
                        "mw_proxyinfo_set_server.");
  mw_log(s->log, LOG_S_INFORMATION, LOG_F_PROXY,
         "Connecting to the %s proxy %s port %u to reach %s port %u",
         mw_proxy_kind_name(p->kind), p->host, p->port, io->target_host,
         io->target_port);
  io->connect_host = mw_strdup(p->host);
  io->connect_port = p->port;
  return io->connect_host ? MW_OK : no_memory(io);
}

static void start_op(mw_io *io, mw_io_phase phase,
                     int (*fin)(void *owner, int rc), void *owner) {
  reset_op(io);
  io->phase = phase;
  io->finish = fin;
  io->owner = owner;
  io->result = MW_OK;
  io->reply_start = io->wait_start = mw_io__now(io);
  io->s->busy = 1;
}

int mw_io_start_connect(mw_io *io, unsigned default_port,
                        unsigned default_tls_port,
                        int (*fin)(void *owner, int rc), void *owner) {
  mw_session *s = io->s;
  if (mw_conn_is_open(&s->conn))
    return mw_error_set(&s->err, eexState, 0,
                        "Already connected; disconnect or quit first.");
  if (!s->host)
    return mw_error_set(&s->err, eexInvalidArgument, 0,
                        "No server is set; set the server name first.");
  atomic_store(&s->cancelled, 0); /* a stale cancel never hits a new
                                     connection */
  mw_conn_close(&s->conn); /* drops a live hold a failed handshake left */
  mw_conn_init(&s->conn, &s->err, s->log, s->timeout_ms);
  s->conn.out = &s->tls_out;
  mw_tls_outputs_clear(&s->tls_out);
  if (s->ssl) { /* from here its settings are frozen: read them safely */
    mw_sslinfo_hold(s->ssl);
    s->conn.live_ssl = s->ssl;
  }
  int channel = s->ssl && s->ssl->mode == MODE_CHANNEL;
  io->target_port =
      s->port ? s->port : (channel ? default_tls_port : default_port);
  s->cur_port = io->target_port;
  io->implicit_tls = channel;
  io->sock_live = 0;
  int rc = mw_session_snapshot_proxy(s);
  if (rc == MW_OK)
    rc = plan_connection(io, default_port == 110);
  if (rc != MW_OK) {
    mw_conn_close(&s->conn);
    return rc;
  }
  start_op(io, MW_IOP_CONNECT, fin, owner);
  return MW_OK;
}

int mw_io_start(mw_io *io, int (*fin)(void *owner, int rc), void *owner) {
  mw_session *s = io->s;
  if (!mw_conn_is_open(&s->conn))
    return mw_error_set(&s->err, eexNotConnected, 0,
                        "Not connected to the server; connect first.");
  start_op(io, MW_IOP_ENGINE, fin, owner);
  io->need_step = 1;
  return MW_OK;
}

/* ---- the rest of the public calls ---- */

int mw_io_result(const mw_io *io) {
  if (!io)
    return errInvalidArgument;
  return running(io) ? errState : io->result;
}

void mw_io_cancel(mw_io *io) {
  if (!io || !running(io))
    return;
  io->want = IO_NONE;
  mw_error_set(&io->s->err, eexAborted, 0,
               "The operation was cancelled by the application; the "
               "connection was closed.");
  if (io->phase == MW_IOP_TLS || io->phase == MW_IOP_TLS_CHECK)
    tls_failed(io);
  else
    fail(io);
}

int mw_io_closed(const mw_io *io) {
  return io && io->sock_live && !mw_conn_is_open(&io->s->conn);
}

/* ---- MW_IO_BODY ---- */

long mw_io__source(void *ud, char *buf, size_t cap) {
  mw_io *io = ud;
  if (io->body_raw_set) { /* the blocking driver's callback said */
    io->body_raw_set = 0;
    if (io->body_raw < 0 || (size_t)io->body_raw > cap)
      return io->body_raw;
  }
  size_t left = io->body.len - io->body_pos;
  if (left) {
    size_t k = left < cap ? left : cap;
    memcpy(buf, io->body.data + io->body_pos, k);
    io->body_pos += k;
    if (io->body_pos == io->body.len) {
      mw_buf_reset(&io->body);
      io->body_pos = 0;
    }
    return (long)k;
  }
  if (io->body_end)
    return 0;
  io->body_cap = cap;
  return MW_SOURCE_WAIT;
}

int mw_io_body(mw_io *io, const void *data, size_t n) {
  if (answering(io, MW_IO_BODY) != MW_OK)
    return errState;
  if (n == 0)
    io->body_end = 1;
  else if (mw_buf_append(&io->body, data, n) != 0) {
    no_memory(io);
    fail(io);
    return io->result;
  }
  io->need_step = 1;
  return MW_OK;
}

char *mw_io__body_space(mw_io *io, size_t *cap) {
  *cap = io->body_cap;
  mw_buf_reset(&io->body);
  io->body_pos = 0;
  if (mw_buf_reserve(&io->body, io->body_cap) != 0)
    return NULL;
  return io->body.data;
}

int mw_io__body_result(mw_io *io, long n) {
  if (answering(io, MW_IO_BODY) != MW_OK)
    return errState;
  io->need_step = 1;
  if (n == 0) {
    io->body_end = 1;
    return MW_OK;
  }
  if (n < 0 || (size_t)n > io->body_cap) {
    io->body_raw_set = 1;
    io->body_raw = n;
    return MW_OK;
  }
  io->body.len = (size_t)n;
  return MW_OK;
}

/* ---- MW_IO_DELIVER ---- */

static int queue_piece(mw_io *io, size_t i, unsigned long msg,
                       const char *data, size_t len, int end) {
  if (io->npieces == io->pieces_cap) {
    size_t cap = io->pieces_cap ? io->pieces_cap * 2 : 8;
    mw_io_piece_rec *p = realloc(io->pieces, cap * sizeof *p);
    if (!p)
      return -1;
    io->pieces = p;
    io->pieces_cap = cap;
  }
  size_t off = io->dbytes.len;
  if (len && mw_buf_append(&io->dbytes, data, len) != 0)
    return -1;
  io->pieces[io->npieces++] = (mw_io_piece_rec){i, msg, off, len, end};
  return 0;
}

int mw_io__sink(void *ud, const char *data, size_t len) {
  mw_io *io = ud;
  return queue_piece(io, 0, io->retr_msg, data, len, 0);
}

int mw_io__msg_sink(void *ud, size_t i, unsigned long msg, const char *data,
                    size_t len, int end) {
  return queue_piece(ud, i, msg, data, len, end);
}

int mw_io_piece(mw_io *io, size_t *index, unsigned long *msg,
                const char **data, size_t *n, int *end) {
  if (!io || !running(io) || io->want != MW_IO_DELIVER)
    return errState;
  const mw_io_piece_rec *p = &io->pieces[io->piece_head];
  if (index)
    *index = p->index;
  if (msg)
    *msg = p->msg;
  if (data)
    *data = io->dbytes.data ? io->dbytes.data + p->off : "";
  if (n)
    *n = p->len;
  if (end)
    *end = p->end;
  return MW_OK;
}

int mw_io_delivered(mw_io *io) {
  if (answering(io, MW_IO_DELIVER) != MW_OK)
    return errState;
  if (++io->piece_head == io->npieces) {
    io->piece_head = io->npieces = 0;
    mw_buf_reset(&io->dbytes);
  }
  return MW_OK;
}

/* ---- MW_IO_FETCH: the revocation check's HTTP requests ---- */

int mw_io_fetch_request(mw_io *io, const char **url,
                        const unsigned char **post_body, size_t *post_len) {
  const char *u = NULL;
  const unsigned char *b = NULL;
  size_t n = 0;
  int ok = io && running(io) && io->want == MW_IO_FETCH;
  if (ok)
    mw_rev_check_request(io->s->conn.tls->rev, &u, &b, &n);
  if (url)
    *url = u;
  if (post_body)
    *post_body = b;
  if (post_len)
    *post_len = n;
  return ok ? MW_OK : errState;
}

int mw_io_fetched(mw_io *io, int http_status, const void *body, size_t n) {
  if (answering(io, MW_IO_FETCH) != MW_OK)
    return errState;
  mw_rev_check_answer(io->s->conn.tls->rev, http_status, body, body ? n : 0);
  return MW_OK;
}

int mw_io_fetch_failed(mw_io *io, const char *reason) {
  if (answering(io, MW_IO_FETCH) != MW_OK)
    return errState;
  mw_rev_check_unreachable(io->s->conn.tls->rev, reason);
  return MW_OK;
}
