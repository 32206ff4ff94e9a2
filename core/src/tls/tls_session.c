/* tls_session.c - TLS session resumption across the connections made with
 * one SSLInfo: the session (or TLS 1.3 ticket) of the last successful
 * connection is offered again to the same server (same address and port,
 * same name checked). Any change to the SSLInfo's options, mode or
 * verification callback forgets it, so a session is never resumed under
 * different security settings; a connection that fails a check after the
 * handshake forgets it too. SSLSessionResumed tells whether it was used.
 *
 * Clients on several threads share the cache: it is read and replaced only
 * under the SSLInfo's lock, and each user takes its own reference to the
 * SSL_SESSION (OpenSSL's counts are atomic), so the cache may drop or
 * replace the session while a handshake still offers it. */
#include "tls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* With the lock held. */
static void forget_locked(mw_sslinfo *ssl) {
  SSL_SESSION_free(ssl->cached_session);
  ssl->cached_session = NULL;
  free(ssl->cached_session_key);
  ssl->cached_session_key = NULL;
}

void mw_session_cache_forget(mw_sslinfo *ssl) {
  mw_sslinfo_lock(ssl);
  forget_locked(ssl);
  mw_sslinfo_unlock(ssl);
}

/* Make sess (our reference) the SSLInfo's cached session. */
static void publish(mw_tls *t, SSL_SESSION *sess) {
  mw_sslinfo *info = t->info;
  char *copy = mw_strdup(t->session_key);
  if (!copy) {
    SSL_SESSION_free(sess);
    return;
  }
  mw_sslinfo_lock(info);
  forget_locked(info);
  info->cached_session = sess;
  info->cached_session_key = copy;
  mw_sslinfo_unlock(info);
}

/* OpenSSL calls this when the server hands out a session: at the end of a
 * TLS 1.2 handshake, or when a TLS 1.3 ticket arrives after it. The newest
 * wins; we take ownership of OpenSSL's reference (return 1). Until the
 * checks after the handshake passed (revocation may still be fetching),
 * it is held on the connection: another connection must not resume a
 * session whose certificate turns out to be revoked. */
static int new_session(SSL *s, SSL_SESSION *sess) {
  mw_tls *t = SSL_get_app_data(s);
  if (!t || !t->info || !SSL_SESSION_is_resumable(sess))
    return 0;
  if (t->checks_passed) {
    publish(t, sess);
    return 1;
  }
  SSL_SESSION_free(t->held_session);
  t->held_session = sess;
  return 1;
}

void mw_session_cache_release(mw_tls *t) {
  t->checks_passed = 1;
  SSL_SESSION *sess = t->held_session;
  t->held_session = NULL;
  if (sess && t->info)
    publish(t, sess);
}

/* The cached session for key with a reference of the caller's own, or
 * NULL. A session cached for another server is dropped: start afresh. */
static SSL_SESSION *take_cached(mw_sslinfo *info, const char *key) {
  SSL_SESSION *sess = NULL;
  mw_sslinfo_lock(info);
  if (info->cached_session && info->cached_session_key &&
      strcmp(info->cached_session_key, key) == 0) {
    if (SSL_SESSION_up_ref(info->cached_session) == 1)
      sess = info->cached_session;
  } else if (info->cached_session) {
    forget_locked(info);
  }
  mw_sslinfo_unlock(info);
  return sess;
}

/* key is "peer|name": the address connected to and the name checked. */
void mw_session_cache_prepare(mw_tls *t, mw_sslinfo *info, const char *peer) {
  snprintf(t->session_key, sizeof t->session_key, "%s|%s", peer, t->name);
  SSL_CTX_set_session_cache_mode(t->ctx, SSL_SESS_CACHE_CLIENT |
                                             SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(t->ctx, new_session);
  SSL_SESSION *sess = take_cached(info, t->session_key);
  if (!sess)
    return;
  if (SSL_set_session(t->ssl, sess) != 1) /* it keeps a reference if set */
    mw_session_cache_forget(info);
  SSL_SESSION_free(sess);
}
