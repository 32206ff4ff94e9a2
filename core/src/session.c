/* session.c - what SMTPClient and POP3Client share: configuration, the
 * advanced handlers, opening the transport, and the pump that runs a
 * protocol engine through the connection (the blocking driver). */
#include "internal.h"
#include "proxy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MW_READ_CHUNK 65536 /* large reads: fewer calls per message */

void mw_session_init(mw_session *s) {
  memset(s, 0, sizeof *s);
  mw_error_init(&s->err);
  s->timeout_ms = MW_DEFAULT_TIMEOUT_MS;
  s->pid = getpid();
  s->reply_timeout_ms = MW_DEFAULT_REPLY_TIMEOUT_MS;
  s->low_speed_limit = MW_DEFAULT_LOW_SPEED_LIMIT;
  mw_conn_init(&s->conn, &s->err, NULL, s->timeout_ms);
  s->conn.out = &s->tls_out;
}

int mw_session_check_process(mw_session *s) {
  if (s->pid == getpid())
    return MW_OK;
  return mw_error_set(&s->err, eexForked, 0,
                      "This client was made in process %ld, and this is "
                      "process %ld, a child made by fork(): its connection "
                      "belongs to the parent, so it cannot be used here. "
                      "Make a new client in this process (freeing this one "
                      "leaves the parent's connection alone).",
                      (long)s->pid, (long)getpid());
}

/* A closed connection may still hold the SSLInfo live (closed by a failed
 * handshake, not by mw_conn_close): drop that before the SSLInfo goes. */
static void release_ssl(mw_session *s) {
  if (!s->ssl)
    return;
  if (s->conn.live_ssl == s->ssl) {
    mw_sslinfo_release(s->ssl, s->conn.pid);
    s->conn.live_ssl = NULL;
  }
  mw_sslinfo_free(s->ssl);
  s->ssl = NULL;
}

/* The ProxyInfo as it was when the connection was made. */
static void drop_proxy_snapshot(mw_session *s) {
  if (!s->conn_proxy)
    return;
  mw_proxyinfo_snapshot_free(s->conn_proxy);
  free(s->conn_proxy);
  s->conn_proxy = NULL;
}

void mw_session_clear_handlers(mw_session *s) {
  release_ssl(s);
  mw_proxyinfo_free(s->proxy);
  s->proxy = NULL;
  mw_loghandler_free(s->log);
  s->log = NULL;
  s->conn.log = NULL;
}

void mw_session_free(mw_session *s) {
  mw_ev_free(s->ev);
  mw_conn_close(&s->conn);
  mw_session_clear_handlers(s);
  free(s->host);
  free(s->user);
  free(s->login_user);
  mw_free_secret(s->pass);
  free(s->mech);
  drop_proxy_snapshot(s);
  mw_tls_outputs_clear(&s->tls_out);
  mw_error_clear(&s->err);
  memset(s, 0, sizeof *s);
}

/* SetAdvancedHandler: every handler starts with an mw_handler_hdr. */
int mw_session_set_handler(mw_session *s, void *handler) {
  mw_error_clear(&s->err);
  if (!handler)
    return mw_error_set(&s->err, eexInvalidArgument, 0,
                        "SetAdvancedHandler needs an SSLInfo, LogHandler or "
                        "ProxyInfo object, not NULL.");
  if (mw_conn_is_open(&s->conn))
    return mw_error_set(&s->err, eexState, 0,
                        "Advanced handlers cannot change while connected; "
                        "disconnect first.");
  const mw_handler_hdr *hdr = handler;
  switch (hdr->magic) {
  case MW_MAGIC_SSLINFO:
    mw_sslinfo_ref(handler);
    release_ssl(s);
    s->ssl = handler;
    return MW_OK;
  case MW_MAGIC_LOG:
    mw_loghandler_ref(handler);
    mw_loghandler_free(s->log);
    s->log = handler;
    s->conn.log = s->log;
    return MW_OK;
  case MW_MAGIC_PROXY:
    mw_proxyinfo_ref(handler);
    mw_proxyinfo_free(s->proxy);
    s->proxy = handler;
    return MW_OK;
  default:
    return mw_error_set(&s->err, eexInvalidArgument, 0,
                        "SetAdvancedHandler was given an object that is not "
                        "a mailwire advanced handler.");
  }
}

int mw_session_tls_option_int(mw_session *s, int index, long *value) {
  return mw_tls_outputs_int(&s->tls_out, index, value, &s->err);
}

int mw_session_tls_option_str(mw_session *s, int index, const char **value) {
  return mw_tls_outputs_str(&s->tls_out, index, value, &s->err);
}

void mw_session_cancel(mw_session *s) {
  atomic_store(&s->cancelled, 1);
}

static int cancelled(mw_session *s) {
  if (!atomic_exchange(&s->cancelled, 0))
    return 0;
  mw_error_set(&s->err, eexAborted, 0,
               "The operation was cancelled by the application; the "
               "connection was closed.");
  return 1;
}

#define MW_POP3_PLAIN_PORT 110 /* also tells a POP3 session (see below) */

const char *mw_session_login_user(const mw_session *s) {
  return s->login_user ? s->login_user : s->user;
}

/* The POP3 proxy convention: log in to the proxy as user@server, with
 * ":port" when the caller set a port other than 110. */
static int make_pop3_proxy_login(mw_session *s, const char *host) {
  if (!s->user)
    return MW_OK;
  mw_buf b;
  mw_buf_init(&b);
  int bad = s->port && s->port != MW_POP3_PLAIN_PORT
                ? mw_buf_appendf(&b, "%s@%s:%u", s->user, host, s->port)
                : mw_buf_appendf(&b, "%s@%s", s->user, host);
  if (bad)
    return mw_error_set(&s->err, eexNoMemory, 0, NULL);
  s->login_user = b.data;
  mw_log(s->log, LOG_S_INFORMATION, LOG_F_PROXY,
         "POP3 proxy: logging in to the proxy as '%s'", s->login_user);
  return MW_OK;
}

/* A POP3 proxy serves POP3 clients only, an SMTP proxy SMTP clients. */
static int check_app_proxy(mw_session *s, const char *host, int pop3) {
  int kind = s->conn_proxy->kind;
  if (kind == (pop3 ? MW_PROXY_POP3 : MW_PROXY_SMTP))
    return pop3 ? make_pop3_proxy_login(s, host) : MW_OK;
  return mw_error_set(&s->err, eexInvalidArgument, 0,
                      "A %s cannot carry %s; use a SOCKS or HTTP proxy, or a "
                      "%s proxy.",
                      mw_proxy_kind_name(kind), pop3 ? "POP3" : "SMTP",
                      pop3 ? "POP3" : "SMTP");
}

/* TCP to the server (host: its name in ASCII); or to the proxy and
 * through its tunnel; or to a POP3/SMTP proxy, which is then spoken to as
 * the server. */
static int connect_to(mw_session *s, const char *host, unsigned port,
                      int pop3) {
  if (!s->conn_proxy)
    return mw_conn_open(&s->conn, host, port);
  if (!mw_proxy_is_tunnel(s->conn_proxy->kind)) {
    int rc = check_app_proxy(s, host, pop3);
    if (rc != MW_OK)
      return rc;
  }
  return mw_conn_open_proxy(&s->conn, s->conn_proxy, host, port);
}

/* An internationalised server name goes to DNS, the proxy and TLS as its
 * A-label; one that cannot be converted, or an SSLServerName that cannot,
 * is refused before anything is sent. */
static int open_transport(mw_session *s, unsigned port, int pop3) {
  free(s->login_user);
  s->login_user = NULL;
  char *ace = NULL, *sni = NULL;
  int rc = mw_idn_to_ascii(s->host, "server name", &ace, &s->err);
  if (rc == MW_OK && s->ssl && s->ssl->server_name)
    rc = mw_idn_to_ascii(s->ssl->server_name, "SSLServerName", &sni, &s->err);
  if (rc == MW_OK)
    rc = connect_to(s, ace ? ace : s->host, port, pop3);
  free(ace);
  free(sni);
  return rc;
}

/* Another thread may change the shared ProxyInfo at any time: this
 * connection works from a copy taken now. */
static int snapshot_proxy(mw_session *s) {
  drop_proxy_snapshot(s);
  if (!s->proxy)
    return MW_OK;
  s->conn_proxy = malloc(sizeof *s->conn_proxy);
  if (s->conn_proxy && mw_proxyinfo_snapshot(s->proxy, s->conn_proxy) == 0)
    return MW_OK;
  free(s->conn_proxy);
  s->conn_proxy = NULL;
  return mw_error_set(&s->err, eexNoMemory, 0, NULL);
}

/* The name the certificate must carry: the mail server's, except through
 * a POP3/SMTP proxy, where TLS ends at the proxy. */
static const char *tls_peer_name(const mw_session *s) {
  if (s->conn_proxy && !mw_proxy_is_tunnel(s->conn_proxy->kind))
    return s->conn_proxy->host;
  return s->host;
}

void mw_session_begin_op(mw_session *s) {
  s->op_deadline = s->op_timeout_ms > 0 ? mw_now_ms() + s->op_timeout_ms : 0;
}

/* The earlier of two deadlines, 0 meaning none. */
static long long earliest(long long a, long long b) {
  if (!a || !b)
    return a ? a : b;
  return a < b ? a : b;
}

static long long reply_deadline(const mw_session *s, long long start) {
  return s->reply_timeout_ms > 0 ? start + s->reply_timeout_ms : 0;
}

/* "30 s" or "400 ms", for sentences. */
static void say_ms(char *buf, size_t len, long long ms) {
  if (ms >= 1000 && ms % 1000 == 0)
    snprintf(buf, len, "%lld s", ms / 1000);
  else
    snprintf(buf, len, "%lld ms", ms);
}

/* The ports where a server waits for a TLS ClientHello, not greeting. */
static int implicit_tls_port(unsigned port) {
  return port == 465 || port == 995;
}

/* What a timeout while waiting for `what` usually means. */
static void timeout_hint(const mw_session *s, const char *what, char *hint,
                         size_t len) {
  int channel = s->ssl && s->ssl->mode == MODE_CHANNEL;
  if (strcmp(what, "the greeting") == 0 && !channel &&
      implicit_tls_port(s->cur_port))
    snprintf(hint, len,
             "Is port %u an implicit-TLS port? Use an SSLInfo in "
             "MODE_CHANNEL.",
             s->cur_port);
  else if (strcmp(what, "the greeting") == 0)
    snprintf(hint, len,
             "Check that the port is a mail server's, or raise the "
             "timeout.");
  else if (strcmp(what, "the TLS handshake") == 0)
    snprintf(hint, len,
             "Check that the port speaks TLS (implicit TLS: usually 465 or "
             "995), or raise the timeout.");
  else if (strstr(what, "AUTH") || strstr(what, "PASS") ||
           strstr(what, "APOP"))
    snprintf(hint, len,
             "Servers often delay their answer to wrong credentials: check "
             "them, or raise the timeout.");
  else
    snprintf(hint, len,
             "The server is slow or stalled: try again later, or raise the "
             "timeout.");
}

/* Rewrite a timeout from the transport into a sentence that says which
 * step was waiting, which limit ran out, and what that usually means. */
static void explain_timeout(mw_session *s, const char *what,
                            long long reply_dl) {
  long long now = mw_now_ms();
  char span[32], limit[160];
  if (s->op_deadline && now >= s->op_deadline) {
    say_ms(span, sizeof span, s->op_timeout_ms);
    snprintf(limit, sizeof limit, "the operation timeout (%s) ran out", span);
  } else if (reply_dl && now >= reply_dl) {
    say_ms(span, sizeof span, s->reply_timeout_ms);
    snprintf(limit, sizeof limit,
             "it was not complete within the reply timeout (%s)", span);
  } else {
    say_ms(span, sizeof span, s->conn.timeout_ms);
    snprintf(limit, sizeof limit, "nothing arrived for %s", span);
  }
  char hint[200];
  timeout_hint(s, what, hint, sizeof hint);
  long os = s->err.os_error;
  mw_error_set(&s->err, eexTimeout, os,
               "Timed out waiting for %s from %s: %s; the connection was "
               "closed. %s",
               what, s->conn.peer[0] ? s->conn.peer : "the server", limit,
               hint);
}

int mw_session_open(mw_session *s, unsigned default_port,
                    unsigned default_tls_port) {
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
  unsigned port =
      s->port ? s->port : (channel ? default_tls_port : default_port);
  s->cur_port = port;
  /* The connect and the TLS handshake count as one reply. */
  long long reply_dl = reply_deadline(s, mw_now_ms());
  s->conn.deadline = earliest(s->op_deadline, reply_dl);
  int rc = snapshot_proxy(s);
  if (rc == MW_OK)
    rc = open_transport(s, port, default_port == MW_POP3_PLAIN_PORT);
  if (rc == MW_OK && channel) {
    rc = mw_conn_start_tls(&s->conn, s->ssl, tls_peer_name(s));
    if (rc == errTimeout)
      explain_timeout(s, "the TLS handshake", reply_dl);
  }
  if (rc == MW_OK && cancelled(s))
    rc = s->err.code;
  if (rc != MW_OK)
    mw_conn_close(&s->conn);
  return rc;
}

/* After these the connection's state is unknown or unusable. */
static int closes_connection(int code) {
  switch (code) {
  case errConnect:
  case errProtocol:
  case errTimeout:
  case errTLS:
  case errNetwork:
  case errNoMemory:
  case errAborted:
  case errProxy:
    return 1;
  default:
    return 0;
  }
}

static int fail(mw_session *s) {
  if (s->err.code == MW_OK) /* an engine bug must not look like success */
    mw_error_set(&s->err, eexMalformedReply, 0,
                 "Internal error: the protocol engine failed without a "
                 "reason.");
  if (closes_connection(s->err.code) || s->drop)
    mw_conn_close(&s->conn);
  s->drop = 0;
  return s->err.code;
}

/* The pump's view of time: when the reply being waited for was asked
 * for, and, while message content flows, the low-speed window. */
typedef struct pump_clock {
  long long reply_start;
  int bulk;
  long long window_start;
  uint64_t window_bytes;
  int explained; /* the error already says which limit ran out */
} pump_clock;

static int engine_bulk(const mw_engine_io *io) {
  return io->bulk && io->bulk(io->engine);
}

/* Before each read or write: the reply deadline, unless message content
 * is flowing (the low-speed limit bounds that), and the operation's. */
static void arm_deadline(mw_session *s, mw_engine_io *io, pump_clock *k) {
  int bulk = engine_bulk(io);
  long long now = mw_now_ms();
  if (bulk && !k->bulk) {
    k->window_start = now;
    k->window_bytes = 0;
  } else if (!bulk && k->bulk) {
    k->reply_start = now; /* the next reply's time starts after the data */
  }
  k->bulk = bulk;
  s->conn.deadline =
      earliest(s->op_deadline, bulk ? 0 : reply_deadline(s, k->reply_start));
}

/* Message content slower than low_speed_limit bytes/s over a whole
 * reply-timeout window: a drip that each wait alone would never stop. */
static int check_low_speed(mw_session *s, mw_engine_io *io, pump_clock *k,
                           size_t got) {
  if (!k->bulk || s->low_speed_limit <= 0 || s->reply_timeout_ms <= 0)
    return MW_OK;
  k->window_bytes += got;
  long long span = mw_now_ms() - k->window_start;
  if (span < s->reply_timeout_ms)
    return MW_OK;
  uint64_t wanted = (uint64_t)s->low_speed_limit * (uint64_t)span / 1000;
  if (k->window_bytes >= wanted) {
    k->window_start = mw_now_ms();
    k->window_bytes = 0;
    return MW_OK;
  }
  char what[160] = "the message";
  if (io->waiting_for)
    io->waiting_for(io->engine, what, sizeof what);
  k->explained = 1;
  return mw_error_set(&s->err, eexTimeout, ETIMEDOUT,
                      "Timed out receiving %s from %s: %llu bytes in %lld "
                      "ms, below the low-speed limit of %ld bytes/s; the "
                      "connection was closed.",
                      what, s->conn.peer, (unsigned long long)k->window_bytes,
                      span, s->low_speed_limit);
}

static int flush(mw_session *s, mw_engine_io *io, pump_clock *k) {
  mw_buf *out = io->out;
  if (out->len == 0)
    return MW_OK;
  /* Each write has its own reply-timeout window: time the application's
   * source took to produce the bytes is not the server's. */
  k->reply_start = mw_now_ms();
  arm_deadline(s, io, k);
  int rc = mw_conn_write(&s->conn, out->data, out->len);
  mw_buf_reset(out);
  k->reply_start = mw_now_ms(); /* a command went out: its reply's time */
  return rc;
}

/* Straight into the reader's buffer: no copy through the stack. */
static int read_more(mw_session *s, mw_engine_io *io, pump_clock *k) {
  char *space = mw_reader_space(io->in, MW_READ_CHUNK);
  if (!space)
    return mw_error_set(&s->err, eexNoMemory, 0, NULL);
  arm_deadline(s, io, k);
  size_t got = 0;
  int rc = mw_conn_read(&s->conn, space, MW_READ_CHUNK, &got);
  if (rc != MW_OK)
    return rc;
  mw_reader_commit(io->in, got);
  return check_low_speed(s, io, k, got);
}

/* STARTTLS/STLS: anything already buffered arrived in plaintext after the
 * server's go-ahead, and would be taken as if it came over TLS
 * (CVE-2011-0411, CVE-2021-22947). */
static int start_tls_midstream(mw_session *s, mw_engine_io *io,
                               pump_clock *k) {
  size_t extra = mw_reader_pending(io->in);
  if (extra)
    return mw_error_set(&s->err, eexSSLInjection, 0,
                        "The server sent %zu unexpected bytes after agreeing "
                        "to start TLS; they may have been injected by an "
                        "attacker. The connection was closed before the "
                        "handshake.",
                        extra);
  if (!s->ssl)
    return mw_error_set(&s->err, eexSSLNocontext, 0,
                        "Internal error: TLS requested without an SSLInfo.");
  k->reply_start = mw_now_ms(); /* the handshake counts as one reply */
  arm_deadline(s, io, k);
  /* Handshake failures stay errConnect, as Appendix A of the reference
   * tables them for both modes: connect() is what failed. */
  return mw_conn_start_tls(&s->conn, s->ssl, tls_peer_name(s));
}

/* A timeout from the transport, told in the engine's terms. */
static int timed_out(mw_session *s, mw_engine_io *io, const pump_clock *k,
                     mw_step st) {
  char what[160] = "the server's reply";
  if (st == MW_STEP_TLS)
    snprintf(what, sizeof what, "the TLS handshake");
  else if (io->waiting_for)
    io->waiting_for(io->engine, what, sizeof what);
  explain_timeout(s, what, k->bulk ? 0 : reply_deadline(s, k->reply_start));
  return s->err.code;
}

static int pump_io(mw_session *s, mw_engine_io *io, pump_clock *k,
                   mw_step st) {
  switch (st) {
  case MW_STEP_FLUSH:
    return MW_OK;
  case MW_STEP_READ:
    return read_more(s, io, k);
  case MW_STEP_TLS:
    return start_tls_midstream(s, io, k);
  default:
    return mw_error_set(&s->err, eexMalformedReply, 0,
                        "Internal error: unknown engine step %d.", (int)st);
  }
}

int mw_session_pump(mw_session *s, mw_engine_io *io) {
  if (!mw_conn_is_open(&s->conn))
    return mw_error_set(&s->err, eexNotConnected, 0,
                        "Not connected to the server; connect first.");
  pump_clock k = {.reply_start = mw_now_ms()};
  for (;;) {
    if (cancelled(s))
      return fail(s);
    mw_step st = io->step(io->engine);
    if (st == MW_STEP_ERROR)
      return fail(s);
    int rc = flush(s, io, &k);
    if (rc == MW_OK && st == MW_STEP_DONE) {
      /* A callback may have cancelled while the last reply was logged. */
      if (cancelled(s))
        return fail(s);
      return s->err.code;
    }
    if (rc == MW_OK)
      rc = pump_io(s, io, &k, st);
    if (rc != MW_OK) {
      if (s->err.number == eexTimeout && !k.explained)
        timed_out(s, io, &k, st);
      return fail(s);
    }
  }
}
