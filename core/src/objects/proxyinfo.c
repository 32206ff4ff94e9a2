/* proxyinfo.c - the ProxyInfo object (the reference's SOCK4ProxyInfo,
 * SOCK5ProxyInfo, POP3ProxyInfo and SMTPProxyInfo are kinds of it). */
#include "proxy.h"

#include <stdlib.h>
#include <string.h>

static int valid_kind(int kind) {
  return kind >= MW_PROXY_SOCKS4 && kind <= MW_PROXY_SMTP;
}

mw_proxyinfo *mw_proxyinfo_new(int kind) {
  if (!valid_kind(kind))
    return NULL;
  mw_proxyinfo *p = calloc(1, sizeof *p);
  if (!p)
    return NULL;
  if (pthread_mutex_init(&p->lock, NULL) != 0) {
    free(p);
    return NULL;
  }
  mw_hdr_init(&p->hdr, MW_MAGIC_PROXY);
  p->kind = kind;
  p->remote_dns = 1;
  mw_error_init(&p->err);
  return p;
}

void mw_proxyinfo_ref(mw_proxyinfo *p) {
  mw_hdr_ref(&p->hdr);
}

void mw_proxyinfo_free(mw_proxyinfo *p) {
  if (!p || !mw_hdr_unref(&p->hdr))
    return;
  free(p->host);
  free(p->user);
  mw_free_secret(p->pass);
  mw_error_clear(&p->err);
  pthread_mutex_destroy(&p->lock);
  p->hdr.magic = 0;
  free(p);
}

int mw_proxyinfo_snapshot(mw_proxyinfo *p, mw_proxyinfo *copy) {
  memset(copy, 0, sizeof *copy);
  pthread_mutex_lock(&p->lock);
  copy->kind = p->kind;
  copy->port = p->port;
  copy->remote_dns = p->remote_dns;
  copy->host = mw_strdup(p->host);
  copy->user = mw_strdup(p->user);
  copy->pass = mw_strdup(p->pass);
  int failed = (p->host && !copy->host) || (p->user && !copy->user) ||
               (p->pass && !copy->pass);
  pthread_mutex_unlock(&p->lock);
  if (failed)
    mw_proxyinfo_snapshot_free(copy);
  return failed ? -1 : 0;
}

void mw_proxyinfo_snapshot_free(mw_proxyinfo *copy) {
  free(copy->host);
  free(copy->user);
  mw_free_secret(copy->pass);
  memset(copy, 0, sizeof *copy);
}

int mw_proxyinfo_kind(const mw_proxyinfo *p) {
  return p ? p->kind : -1;
}

static unsigned default_port(int kind) {
  switch (kind) {
  case MW_PROXY_HTTP:
    return 8080;
  case MW_PROXY_POP3:
    return 110;
  case MW_PROXY_SMTP:
    return 25;
  default:
    return 1080;
  }
}

int mw_proxyinfo_set_server(mw_proxyinfo *p, const char *host, unsigned port) {
  if (!p)
    return errInvalidArgument;
  mw_error_clear(&p->err);
  int rc =
      mw_check_arg(&p->err, "proxy server name", host, 0, MW_PROXY_MAX_FIELD);
  if (rc != MW_OK)
    return rc;
  if (port > 65535)
    return mw_error_set(&p->err, eexInvalidArgument, 0,
                        "The proxy port %u is not a TCP port (1-65535, or 0 "
                        "for the default).",
                        port);
  char *copy = mw_strdup(host);
  if (!copy)
    return mw_error_set(&p->err, eexNoMemory, 0, NULL);
  pthread_mutex_lock(&p->lock);
  free(p->host);
  p->host = copy;
  p->port = port ? port : default_port(p->kind);
  pthread_mutex_unlock(&p->lock);
  return MW_OK;
}

const char *mw_proxyinfo_server(const mw_proxyinfo *p) {
  return p && p->host ? p->host : "";
}

unsigned mw_proxyinfo_port(const mw_proxyinfo *p) {
  return p && p->host ? p->port : 0;
}

int mw_proxyinfo_set_credentials(mw_proxyinfo *p, const char *user,
                                 const char *password) {
  if (!p)
    return errInvalidArgument;
  mw_error_clear(&p->err);
  if (!user) { /* no credentials */
    pthread_mutex_lock(&p->lock);
    free(p->user);
    mw_free_secret(p->pass);
    p->user = p->pass = NULL;
    pthread_mutex_unlock(&p->lock);
    return MW_OK;
  }
  /* The application-level proxies take the mail credentials (POP3:
   * user@server); a proxy login of their own would be silently unused. */
  if (p->kind == MW_PROXY_POP3 || p->kind == MW_PROXY_SMTP)
    return mw_error_set(&p->err, eexInvalidArgument, 0,
                        "A%s proxy takes no user name or password of its "
                        "own: the client's credentials go to the mail "
                        "server through it.",
                        p->kind == MW_PROXY_POP3 ? " POP3" : "n SMTP");
  /* RFC 1929 gives each one length byte. */
  int rc =
      mw_check_arg(&p->err, "proxy user name", user, 0, MW_PROXY_MAX_FIELD);
  if (rc == MW_OK)
    rc = mw_check_arg(&p->err, "proxy password", password ? password : "", 1,
                      MW_PROXY_MAX_FIELD);
  if (rc != MW_OK)
    return rc;
  char *u = mw_strdup(user), *pw = mw_strdup(password ? password : "");
  if (!u || !pw) {
    free(u);
    mw_free_secret(pw);
    return mw_error_set(&p->err, eexNoMemory, 0, NULL);
  }
  pthread_mutex_lock(&p->lock);
  free(p->user);
  mw_free_secret(p->pass);
  p->user = u;
  p->pass = pw;
  pthread_mutex_unlock(&p->lock);
  return MW_OK;
}

int mw_proxyinfo_set_remote_dns(mw_proxyinfo *p, int remote) {
  if (!p)
    return errInvalidArgument;
  mw_error_clear(&p->err);
  pthread_mutex_lock(&p->lock);
  p->remote_dns = remote != 0;
  pthread_mutex_unlock(&p->lock);
  return MW_OK;
}

int mw_proxyinfo_remote_dns(const mw_proxyinfo *p) {
  return p ? p->remote_dns : 0;
}

const mw_errorinfo *mw_proxyinfo_extended_error(const mw_proxyinfo *p) {
  return p ? &p->err : NULL;
}
