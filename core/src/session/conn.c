/* conn.c - the transport stack the clients use: the driver, with the TLS
 * filter on top once it starts. Moves ciphertext between the filter's
 * memory BIOs and the socket. */
#include "driver.h"
#include "http.h"
#include "proxy.h"
#include "revocation.h"
#include "tls.h"

#include <errno.h>
#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MW_TLS_IO_CHUNK 16384

void mw_conn_init(mw_conn *c, mw_errorinfo *err, mw_loghandler *log,
                  int timeout_ms) {
  c->fd = -1;
  c->open = 0;
  c->tls = NULL;
  c->timeout_ms = timeout_ms;
  c->deadline = 0;
  c->err = err;
  c->log = log;
  c->peer[0] = '\0';
  c->pid = getpid();
  c->live_ssl = NULL;
  c->out = NULL;
}

/* The wait allowed now: the per-wait timeout, cut short by the
 * deadline. */
static int wait_ms(const mw_conn *c) {
  if (!c->deadline)
    return c->timeout_ms;
  long long left = c->deadline - mw_now_ms();
  if (left <= 0)
    return 0;
  return left < c->timeout_ms ? (int)left : c->timeout_ms;
}

/* Checked before every read and write: a server that always has a byte
 * ready would otherwise never meet a wait that times out. The session
 * says which deadline it was (session.c). */
static int past_deadline(mw_conn *c) {
  if (!c->deadline || mw_now_ms() < c->deadline)
    return MW_OK;
  return mw_error_set(c->err, eexTimeout, ETIMEDOUT,
                      "The deadline passed; the connection was closed.");
}

static int conn_send(mw_conn *c, const void *data, size_t len) {
  int rc = past_deadline(c);
  if (rc == MW_OK)
    rc = mw_driver_send(c->fd, data, len, wait_ms(c), c->err);
  return rc;
}

static int conn_recv(mw_conn *c, void *buf, size_t cap, size_t *got) {
  int rc = past_deadline(c);
  if (rc == MW_OK)
    rc = mw_driver_recv(c->fd, buf, cap, wait_ms(c), got, c->err);
  return rc;
}

int mw_conn_open(mw_conn *c, const char *host, unsigned port) {
  if (c->fd >= 0)
    return mw_error_set(c->err, eexState, 0, "Already connected.");
  return mw_driver_connect(host, port, wait_ms(c), c->err, c->log, &c->fd,
                           c->peer, sizeof c->peer);
}

/* ---- through a proxy: the negotiation engine (proxy.c) driven over the
 * driver. ---- */

static int proxy_unreachable(mw_conn *c, const mw_proxyinfo *p) {
  if (c->err->number == eexDNS)
    return mw_error_set(c->err, eexDNS, c->err->os_error,
                        "The proxy name '%s' cannot be resolved. Check the "
                        "proxy server name.",
                        p->host);
  char why[sizeof c->err->text];
  memcpy(why, c->err->text, sizeof why);
  return mw_error_set(c->err, eexProxyNoconn, c->err->os_error,
                      "Cannot connect to the %s proxy %s port %u. Check the "
                      "proxy address and port, and that the proxy runs. (%s)",
                      mw_proxy_kind_name(p->kind), p->host, p->port, why);
}

/* A transport failure during the negotiation, in the proxy's terms. */
static int proxy_io_failed(mw_conn *c, mw_proxy_neg *n) {
  switch (c->err->number) {
  case eexServerClosed:
    mw_proxy_eof(n);
    return c->err->code;
  case eexSocketRx:
  case eexSocketTx:
    return mw_error_set(c->err, eexProxySocketerror, c->err->os_error,
                        "A socket error occurred while talking to the %s "
                        "proxy: %s. Check the proxy and the network.",
                        mw_proxy_kind_name(n->kind),
                        strerror((int)c->err->os_error));
  case eexTimeout:
    return mw_error_set(c->err, eexTimeout, c->err->os_error,
                        "The %s proxy did not answer within %d ms. Check "
                        "that the port is a %s proxy's, or raise the "
                        "timeout.",
                        mw_proxy_kind_name(n->kind), c->timeout_ms,
                        mw_proxy_kind_name(n->kind));
  default:
    return c->err->code;
  }
}

/* Send what the engine produced, read no more than it wants, feed it. */
static int negotiate(mw_conn *c, mw_proxy_neg *n) {
  /* HTTP reads at least one byte per round: bounded by the header limit. */
  for (int rounds = 0; rounds < MW_PROXY_MAX_HTTP + 64; rounds++) {
    if (n->out.len) {
      int rc = conn_send(c, n->out.data, n->out.len);
      memset(n->out.data, 0, n->out.len); /* may hold the password */
      mw_buf_reset(&n->out);
      if (rc != MW_OK)
        return proxy_io_failed(c, n);
    }
    if (n->state == MW_PXS_DONE)
      return MW_OK;
    if (n->state == MW_PXS_FAILED)
      return c->err->code;
    unsigned char buf[512];
    size_t want = mw_proxy_want(n), got = 0;
    int rc = conn_recv(c, buf, want < sizeof buf ? want : sizeof buf, &got);
    if (rc != MW_OK)
      return proxy_io_failed(c, n);
    mw_proxy_feed(n, buf, got);
  }
  return mw_error_set(c->err, eexProxyException, 0,
                      "Internal error: the proxy negotiation did not end.");
}

static int tunnel(mw_conn *c, const mw_proxyinfo *p, const char *host,
                  unsigned port) {
  mw_proxy_neg n;
  mw_proxy_init(&n, p->kind, p->user, p->pass, host, port, c->err, c->log);
  int rc = MW_OK;
  if (mw_proxy_needs_local_address(p->kind, p->remote_dns, host)) {
    mw_log(c->log, LOG_S_INFORMATION, LOG_F_PROXY, "%s: resolving %s locally",
           mw_proxy_kind_name(p->kind), host);
    rc = mw_driver_resolve(host, p->kind == MW_PROXY_SOCKS4, wait_ms(c),
                           n.addr, &n.addr_family, c->err);
  }
  if (rc == MW_OK && mw_proxy_start(&n) == MW_PXS_FAILED)
    rc = c->err->code;
  if (rc == MW_OK)
    rc = negotiate(c, &n);
  mw_proxy_free(&n);
  return rc;
}

int mw_conn_open_proxy(mw_conn *c, const mw_proxyinfo *p, const char *host,
                       unsigned port) {
  if (c->fd >= 0)
    return mw_error_set(c->err, eexState, 0, "Already connected.");
  if (!p->host)
    return mw_error_set(c->err, eexInvalidArgument, 0,
                        "The ProxyInfo has no proxy server; set it with "
                        "mw_proxyinfo_set_server.");
  mw_log(c->log, LOG_S_INFORMATION, LOG_F_PROXY,
         "Connecting to the %s proxy %s port %u to reach %s port %u",
         mw_proxy_kind_name(p->kind), p->host, p->port, host, port);
  int rc = mw_driver_connect(p->host, p->port, wait_ms(c), c->err, c->log,
                             &c->fd, c->peer, sizeof c->peer);
  if (rc != MW_OK)
    rc = proxy_unreachable(c, p);
  else if (!mw_proxy_is_tunnel(p->kind))
    return MW_OK; /* POP3/SMTP proxies speak the mail protocol themselves */
  else
    rc = tunnel(c, p, host, port);
  if (rc != MW_OK) {
    mw_log(c->log, LOG_S_FATAL, LOG_F_PROXY, "%s", c->err->text);
    if (c->fd >= 0)
      close(c->fd);
    c->fd = -1;
    return rc;
  }
  snprintf(c->peer, sizeof c->peer, "%.40s:%u via proxy", host, port);
  return MW_OK;
}

int mw_conn_is_open(const mw_conn *c) {
  return c && (c->fd >= 0 || c->open);
}

int mw_conn_is_secure(const mw_conn *c) {
  return mw_conn_is_open(c) && c->tls != NULL;
}

/* Send whatever the TLS filter has produced. */
static int flush_ciphertext(mw_conn *c) {
  char buf[MW_TLS_IO_CHUNK];
  while (BIO_ctrl_pending(c->tls->net_out) > 0) {
    int n = BIO_read(c->tls->net_out, buf, sizeof buf);
    if (n <= 0)
      break;
    int rc = conn_send(c, buf, (size_t)n);
    if (rc != MW_OK)
      return rc;
  }
  return MW_OK;
}

/* Give the TLS filter more ciphertext from the socket. */
static int feed_ciphertext(mw_conn *c) {
  char buf[MW_TLS_IO_CHUNK];
  size_t got = 0;
  int rc = conn_recv(c, buf, sizeof buf, &got);
  if (rc != MW_OK)
    return rc;
  if (BIO_write(c->tls->net_in, buf, (int)got) != (int)got)
    return mw_error_set(c->err, eexNoMemory, 0, NULL);
  return MW_OK;
}

/* A peer that hangs up during the handshake usually does not speak TLS on
 * this port; the socket error stays in os_error. */
static int handshake_closed(mw_conn *c) {
  return mw_error_set(c->err, eexSSLProtocol, c->err->os_error,
                      "The server %s closed the connection during the TLS "
                      "handshake. The port may not speak TLS directly "
                      "(implicit TLS is usually port 465 for SMTP and 995 for "
                      "POP3; 25, 587 and 110 need MODE_STARTTLS), or the "
                      "server refused our TLS versions or ciphers.",
                      c->peer);
}

static int handshake(mw_conn *c) {
  for (int rounds = 0; rounds < 1000; rounds++) {
    int r = SSL_do_handshake(c->tls->ssl);
    int rc = flush_ciphertext(c);
    if (rc == errNetwork)
      return handshake_closed(c);
    if (rc != MW_OK)
      return rc;
    if (r == 1)
      return MW_OK;
    int e = SSL_get_error(c->tls->ssl, r);
    if (e != SSL_ERROR_WANT_READ)
      return mw_tls_handshake_error(c->tls, e, c->err);
    rc = feed_ciphertext(c);
    if (rc == errNetwork)
      return handshake_closed(c);
    if (rc != MW_OK)
      return rc;
  }
  return mw_error_set(c->err, eexSSLProtocol, 0,
                      "The TLS handshake with %s did not finish.", c->peer);
}

/* A connection whose handshake failed is not usable, and must never carry
 * plaintext afterwards: close it. */
static int start_tls_failed(mw_conn *c, int rc) {
  mw_log(c->log, LOG_S_FATAL, LOG_F_SSL, "%s", c->err->text);
  mw_tls_keep_outcome(c->tls, c->out); /* readable after a refusal too */
  mw_tls_free(c->tls);
  c->tls = NULL;
  ERR_clear_error();
  if (c->fd >= 0) {
    close(c->fd);
    c->fd = -1;
  }
  return rc;
}

/* The revocation check after the handshake, its fetches made here with
 * the blocking HTTP client (this connection blocks anyway). */
static int check_revocation(mw_conn *c) {
  mw_rev_check *rev = c->tls->rev;
  for (;;) {
    int r = mw_rev_check_run(rev, c->tls->ssl, mw_now_ms());
    if (r == MW_REV_DONE)
      return MW_OK;
    if (r == MW_REV_FAILED) {
      mw_revocation_error(rev, c->err);
      return c->err->code;
    }
    const char *url;
    const unsigned char *post;
    size_t n;
    mw_rev_check_request(rev, &url, &post, &n);
    long long left = mw_rev_check_deadline(rev) - mw_now_ms();
    mw_http_answer a;
    if (left <= 0)
      mw_rev_check_expired(rev);
    else if (mw_http_fetch(url, post, n, (int)left, &a) != 0)
      mw_rev_check_unreachable(rev, a.why);
    else
      mw_rev_check_answer(rev, a.status, a.body, a.len);
    if (left > 0)
      free(a.body);
  }
}

int mw_conn_start_tls(mw_conn *c, mw_sslinfo *ssl, const char *host) {
  if (c->fd < 0)
    return mw_error_set(c->err, eexNotConnected, 0,
                        "Not connected to the server.");
  if (c->tls)
    return mw_error_set(c->err, eexState, 0, "TLS is already active.");
  int rc = mw_tls_new(&c->tls, ssl, host, c->err);
  if (rc != MW_OK)
    return start_tls_failed(c, rc);
  mw_session_cache_prepare(c->tls, ssl, c->peer);
  mw_log(c->log, LOG_S_INFORMATION, LOG_F_SSL,
         "Starting TLS handshake with %s, checking the name '%s'%s%s", c->peer,
         c->tls->name, ssl->no_name_check ? " (name check disabled)" : "",
         ssl->no_verify ? " (certificate validation disabled)" : "");
  rc = handshake(c);
  if (rc == MW_OK)
    rc = check_revocation(c);
  if (rc == MW_OK) /* checks on the negotiated session (tls_policy.c) */
    rc = mw_tls_after_handshake(c->tls, ssl, c->err);
  if (rc != MW_OK)
    return start_tls_failed(c, rc);
  mw_session_cache_release(c->tls);
  mw_tls_fill_outputs(c->tls, ssl, c->out, c->log);
  return MW_OK;
}

static int tls_write(mw_conn *c, const char *p, size_t len) {
  while (len > 0) {
    int chunk = len > MW_TLS_IO_CHUNK ? MW_TLS_IO_CHUNK : (int)len;
    int n = SSL_write(c->tls->ssl, p, chunk);
    if (n <= 0) {
      char why[256];
      unsigned long code = mw_tls_take_error(why, sizeof why);
      return mw_error_set(c->err, mw_tls_number(code, eexSSLW32), (long)code,
                          "Encrypting data for the server failed: %s.", why);
    }
    p += n;
    len -= (size_t)n;
    int rc = flush_ciphertext(c);
    if (rc != MW_OK)
      return rc;
  }
  return MW_OK;
}

int mw_conn_write(mw_conn *c, const void *data, size_t len) {
  if (c->fd < 0)
    return mw_error_set(c->err, eexNotConnected, 0,
                        "Not connected to the server.");
  if (c->tls)
    return tls_write(c, data, len);
  return conn_send(c, data, len);
}

static int tls_read(mw_conn *c, void *buf, size_t cap, size_t *got) {
  int want = cap > 0x40000000 ? 0x40000000 : (int)cap;
  for (;;) {
    int n = SSL_read(c->tls->ssl, buf, want);
    if (n > 0) {
      *got = (size_t)n;
      return MW_OK;
    }
    int e = SSL_get_error(c->tls->ssl, n);
    int rc = flush_ciphertext(c); /* key updates, alerts */
    if (rc != MW_OK)
      return rc;
    if (e == SSL_ERROR_WANT_READ) {
      rc = feed_ciphertext(c);
      if (rc != MW_OK)
        return rc;
      continue;
    }
    if (e == SSL_ERROR_ZERO_RETURN)
      return mw_error_set(c->err, eexServerClosed, 0,
                          "The server closed the TLS connection.");
    char why[256];
    unsigned long code = mw_tls_take_error(why, sizeof why);
    return mw_error_set(c->err, mw_tls_number(code, eexSSLW32), (long)code,
                        "Decrypting data from the server failed: %s.", why);
  }
}

int mw_conn_read(mw_conn *c, void *buf, size_t cap, size_t *got) {
  *got = 0;
  if (c->fd < 0)
    return mw_error_set(c->err, eexNotConnected, 0,
                        "Not connected to the server.");
  if (c->tls)
    return tls_read(c, buf, cap, got);
  return conn_recv(c, buf, cap, got);
}

void mw_conn_close(mw_conn *c) {
  if (!c)
    return;
  if (c->live_ssl) {
    mw_sslinfo_release(c->live_ssl, c->pid);
    c->live_ssl = NULL;
  }
  /* A connection copied by fork() still carries the parent's TLS session:
   * a close_notify from here would end the parent's connection. */
  if (c->tls && c->fd >= 0 && c->pid == getpid()) {
    /* close_notify, best effort: one send, no waiting for the reply. */
    SSL_shutdown(c->tls->ssl);
    char buf[512];
    int n = BIO_read(c->tls->net_out, buf, sizeof buf);
    if (n > 0)
      (void)!send(c->fd, buf, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
  }
  mw_tls_free(c->tls);
  c->tls = NULL;
  ERR_clear_error();
  c->open = 0;
  if (c->fd >= 0) {
    close(c->fd);
    c->fd = -1;
  }
}
