/* tls.h - TLS over memory BIOs (private). No I/O: conn.c moves the
 * ciphertext between these BIOs and the driver. */
#ifndef MW_TLS_H
#define MW_TLS_H

#include "internal.h"

#include <openssl/ssl.h>

struct mw_tls {
  SSL_CTX *ctx;
  SSL *ssl;
  BIO *net_in;    /* ciphertext from the server, written by conn.c */
  BIO *net_out;   /* ciphertext to the server, read by conn.c */
  char name[256]; /* the name checked against the certificate */
  /* Its SSLInfo (SSL_get_app_data(ssl) is this mw_tls), and tls_session.c's
   * key for its session: "peer|name". */
  mw_sslinfo *info;
  char session_key[320];
  struct mw_rev_check *rev; /* revocation.c: this connection's check */
  /* tls_session.c: a session handed out before the checks after the
   * handshake passed waits here (it must not be resumed if they fail). */
  SSL_SESSION *held_session;
  int checks_passed;
  /* The certificate the chain check refused (tls_peer.c's verify
   * callback): its depth, the verify error, a reference to it, and
   * whether it is the trust anchor (the chain's last). */
  X509 *failed_cert;
  int failed_depth;
  int failed_anchor;
  long failed_error;
};

/* Build the context and connection from the SSLInfo; the name checked is
 * ssl->server_name, else host. */
int mw_tls_new(mw_tls **out, mw_sslinfo *info, const char *host,
               mw_errorinfo *err);
void mw_tls_free(mw_tls *t);
/* Map a failed handshake to eexSSLCertName, eexSSLCertificate or
 * eexSSLProtocol, with a sentence saying what to check. */
int mw_tls_handshake_error(mw_tls *t, int ssl_error, mw_errorinfo *err);
/* The last OpenSSL error as text, and clear the queue. */
unsigned long mw_tls_take_error(char *buf, size_t len);
/* number, or eexNoMemory when code (from mw_tls_take_error) says an
 * allocation failed. */
int mw_tls_number(unsigned long code, int number);
/* After a completed handshake: fill the connection's outputs (*out), copy
 * them to the SSLInfo's "most recent" view, and log them. */
void mw_tls_fill_outputs(mw_tls *t, mw_sslinfo *info, mw_tls_outputs *out,
                         mw_loghandler *log);
/* After a refused handshake: keep its revocation outcome in *out (the
 * other outputs stay empty), and in the SSLInfo's view. t may be NULL. */
void mw_tls_keep_outcome(mw_tls *t, mw_tls_outputs *out);

/* tls_policy.c: SSLConnectionProtocolIn/CipherIn, Min/MaxCipherStrength
 * on the context (eexSSLConfig when no suite is left), and the checks
 * after a successful handshake (SSLConfidentiality). */
int mw_policy_apply(SSL_CTX *ctx, const mw_sslinfo *info, mw_errorinfo *err);
/* A sentence to add to a failed handshake's text when the SSLInfo's
 * protocol or cipher restrictions may be why, else "". */
const char *mw_policy_failure_hint(const mw_sslinfo *info);
int mw_tls_after_handshake(mw_tls *t, mw_sslinfo *info, mw_errorinfo *err);
/* tls_peer.c: SSLPinnedPublicKey after the handshake (eexSSLCertificate);
 * the caller's verification callback; the chain outputs (32..39). */
int mw_pin_verify(SSL *ssl, const mw_sslinfo *info, mw_errorinfo *err);
/* The verify callback: records which certificate failed (t->failed_*) and
 * runs the caller's callback, if any. */
void mw_verify_callback_attach(mw_tls *t);
void mw_peer_fill_outputs(SSL *ssl, mw_tls_outputs *out);
/* tls_session.c: offer the SSLInfo's cached session to the same peer and
 * name (peer is "address:port"), and keep new ones. */
void mw_session_cache_prepare(mw_tls *t, mw_sslinfo *info, const char *peer);
/* After the checks that follow the handshake (revocation, pin...) passed:
 * cache the session held since the handshake, and any later one. */
void mw_session_cache_release(mw_tls *t);
/* tls_clientcert.c: present the loaded client certificate, if any. */
int mw_clientcert_apply(SSL_CTX *ctx, const mw_sslinfo *ssl,
                        mw_errorinfo *err);

#endif
