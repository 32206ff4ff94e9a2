/* session.c - what SMTPClient and POP3Client share: configuration, the
 * advanced handlers, the proxy snapshot and the timeout sentences. The
 * state machine that runs a connection and an engine is io.c; the
 * blocking driver over it is blocking.c. */
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
  s->reply_timeout_ms = MW_DEFAULT_REPLY_TIMEOUT_MS;
  s->low_speed_limit = MW_DEFAULT_LOW_SPEED_LIMIT;
  s->pid = getpid();
  mw_conn_init(&s->conn, &s->err, NULL, s->timeout_ms);
  s->conn.out = &s->tls_out;
  mw_io_init(&s->io, s, NULL);
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
  mw_io_free(&s->io);
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

int mw_session_take_cancel(mw_session *s) {
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
int mw_session_check_app_proxy(mw_session *s, const char *host, int pop3) {
  int kind = s->conn_proxy->kind;
  if (kind == (pop3 ? MW_PROXY_POP3 : MW_PROXY_SMTP))
    return pop3 ? make_pop3_proxy_login(s, host) : MW_OK;
  return mw_error_set(&s->err, eexInvalidArgument, 0,
                      "A %s cannot carry %s; use a SOCKS or HTTP proxy, or a "
                      "%s proxy.",
                      mw_proxy_kind_name(kind), pop3 ? "POP3" : "SMTP",
                      pop3 ? "POP3" : "SMTP");
}

/* Another thread may change the shared ProxyInfo at any time: this
 * connection works from a copy taken now. */
int mw_session_snapshot_proxy(mw_session *s) {
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
const char *mw_session_tls_peer_name(const mw_session *s) {
  if (s->conn_proxy && !mw_proxy_is_tunnel(s->conn_proxy->kind))
    return s->conn_proxy->host;
  return s->host;
}

void mw_session_begin_op(mw_session *s) {
  s->op_deadline =
      s->op_timeout_ms > 0 ? mw_io__now(&s->io) + s->op_timeout_ms : 0;
}

/* The earlier of two deadlines, 0 meaning none. */
long long mw_earliest(long long a, long long b) {
  if (!a || !b)
    return a ? a : b;
  return a < b ? a : b;
}

long long mw_session_reply_deadline(const mw_session *s, long long start) {
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
void mw_session_explain_timeout(mw_session *s, const char *what,
                                long long reply_dl) {
  long long now = mw_io__now(&s->io);
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

/* After these the connection's state is unknown or unusable. */
int mw_closes_connection(int code) {
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

static int pump_finish(void *owner, int rc) {
  (void)owner;
  return rc;
}

/* An engine over a connection the caller made (the engine tests): the
 * same state machine and blocking driver as the clients. */
int mw_session_pump(mw_session *s, mw_engine_io *eng) {
  mw_engine_io saved = s->io.eng;
  s->io.eng = *eng;
  int rc = mw_io_start(&s->io, pump_finish, NULL);
  if (rc == MW_OK)
    rc = mw_io_run(&s->io);
  s->io.eng = saved;
  return rc;
}
