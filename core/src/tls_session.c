/* tls_session.c - TLS session resumption across the connections made with
 * one SSLInfo: the session (or TLS 1.3 ticket) of the last successful
 * connection is offered again to the same server (same address and port,
 * same name checked). Any change to the SSLInfo's options, mode or
 * verification callback forgets it, so a session is never resumed under
 * different security settings; a connection that fails a check after the
 * handshake forgets it too. SSLSessionResumed tells whether it was used. */
#include "tls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void mw_session_cache_forget(mw_sslinfo *ssl) {
  SSL_SESSION_free(ssl->cached_session);
  ssl->cached_session = NULL;
  free(ssl->cached_session_key);
  ssl->cached_session_key = NULL;
}

/* OpenSSL calls this when the server hands out a session: at the end of a
 * TLS 1.2 handshake, or when a TLS 1.3 ticket arrives after it. We keep
 * the newest and take ownership (return 1). */
static int new_session(SSL *s, SSL_SESSION *sess) {
  mw_tls *t = SSL_get_app_data(s);
  if (!t || !t->info || !SSL_SESSION_is_resumable(sess))
    return 0;
  mw_sslinfo *info = t->info;
  char *copy = mw_strdup(t->session_key);
  if (!copy)
    return 0;
  mw_session_cache_forget(info);
  info->cached_session = sess;
  info->cached_session_key = copy;
  return 1;
}

/* key is "peer|name": the address connected to and the name checked. */
void mw_session_cache_prepare(mw_tls *t, mw_sslinfo *info, const char *peer) {
  snprintf(t->session_key, sizeof t->session_key, "%s|%s", peer, t->name);
  const char *key = t->session_key;
  SSL_CTX_set_session_cache_mode(t->ctx, SSL_SESS_CACHE_CLIENT |
                                             SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(t->ctx, new_session);
  if (!info->cached_session)
    return;
  if (!info->cached_session_key || strcmp(info->cached_session_key, key) != 0)
    mw_session_cache_forget(info); /* another server: start afresh */
  else if (SSL_set_session(t->ssl, info->cached_session) != 1)
    mw_session_cache_forget(info);
}
