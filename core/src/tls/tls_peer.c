/* tls_peer.c - the server's certificate beyond the reference: public key
 * pinning (SSLPinnedPublicKey), the certificate chain outputs
 * (SSLPeerSerial ... SSLPeerChainPEM) and the caller's verification
 * callback (mw_sslinfo_set_verify_callback). */
#include "tls.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- pinning ---- */

#define MW_PIN_PREFIX "sha256//"
#define MW_MAX_PINS 16

/* "sha256//BASE64[;sha256//BASE64...]": each decodes to 32 bytes. */
static int mw_pin_check_syntax(const char *value, mw_errorinfo *err) {
  const char *p = value;
  for (int n = 0; *p; n++) {
    size_t len = strcspn(p, ";");
    char *raw = NULL;
    size_t rawlen = 0;
    int ok =
        n < MW_MAX_PINS && len > strlen(MW_PIN_PREFIX) &&
        strncmp(p, MW_PIN_PREFIX, strlen(MW_PIN_PREFIX)) == 0 &&
        mw_base64_decode(p + strlen(MW_PIN_PREFIX),
                         len - strlen(MW_PIN_PREFIX), &raw, &rawlen) == 0 &&
        rawlen == 32;
    free(raw);
    if (!ok)
      return mw_error_set(err, eexInvalidArgument, 0,
                          "SSLPinnedPublicKey must be \"sha256//\" followed "
                          "by the base64 SHA-256 of the server's public key "
                          "(SubjectPublicKeyInfo), up to %d separated by "
                          "';', as curl's --pinnedpubkey; got '%.*s'.",
                          MW_MAX_PINS, (int)len, p);
    p += len;
    if (*p == ';')
      p++;
  }
  return MW_OK;
}

/* "sha256//..." of the certificate's SubjectPublicKeyInfo, malloc'd. */
static char *spki_pin(X509 *cert) {
  unsigned char *der = NULL;
  int len = i2d_PUBKEY(X509_get0_pubkey(cert), &der);
  if (len <= 0)
    return NULL;
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  int ok = EVP_Digest(der, (size_t)len, md, &mdlen, EVP_sha256(), NULL);
  OPENSSL_free(der);
  char *b64 = ok ? mw_base64_encode(md, mdlen) : NULL;
  if (!b64)
    return NULL;
  size_t n = strlen(MW_PIN_PREFIX) + strlen(b64) + 1;
  char *pin = malloc(n);
  if (pin)
    snprintf(pin, n, "%s%s", MW_PIN_PREFIX, b64);
  free(b64);
  return pin;
}

static int pin_listed(const char *pins, const char *pin) {
  size_t plen = strlen(pin);
  for (const char *p = pins; *p;) {
    size_t len = strcspn(p, ";");
    if (len == plen && memcmp(p, pin, len) == 0)
      return 1;
    p += len;
    if (*p == ';')
      p++;
  }
  return 0;
}

int mw_pin_verify(SSL *ssl, const mw_sslinfo *info, mw_errorinfo *err) {
  if (!info->pinned_key)
    return MW_OK;
  X509 *peer = SSL_get0_peer_certificate(ssl);
  char *pin = peer ? spki_pin(peer) : NULL;
  int rc = MW_OK;
  if (!pin)
    rc = mw_error_set(err, eexSSLCertificate, 0,
                      "The server sent no certificate whose public key "
                      "could be compared with SSLPinnedPublicKey.");
  else if (!pin_listed(info->pinned_key, pin))
    rc = mw_error_set(err, eexSSLCertificate, 0,
                      "The server's public key is not the pinned one: it is "
                      "%s, SSLPinnedPublicKey expects %s. The server's key "
                      "changed, or this is not the server you pinned; check "
                      "with its operator before updating the pin.",
                      pin, info->pinned_key);
  free(pin);
  return rc;
}

int mw_pin_set(mw_sslinfo *ssl, const char *value) {
  if (value && *value) {
    int rc = mw_pin_check_syntax(value, &ssl->err);
    if (rc != MW_OK)
      return rc;
  }
  char *copy = value && *value ? mw_strdup(value) : NULL;
  if (value && *value && !copy)
    return mw_error_set(&ssl->err, eexNoMemory, 0, NULL);
  free(ssl->pinned_key);
  ssl->pinned_key = copy;
  return MW_OK;
}

/* ---- the verification callback ---- */

/* Keep the refused certificate, so the error can say which one failed
 * (mw_tls_handshake_error). The verify result is the last refusal's, so
 * the last one is kept. */
static void note_failure(mw_tls *t, X509_STORE_CTX *store) {
  X509 *cert = X509_STORE_CTX_get_current_cert(store);
  int depth = X509_STORE_CTX_get_error_depth(store);
  X509_free(t->failed_cert);
  t->failed_cert = cert && X509_up_ref(cert) == 1 ? cert : NULL;
  t->failed_depth = depth;
  t->failed_error = X509_STORE_CTX_get_error(store);
  /* Past the certificates the server sent, it came from the trust store. */
  t->failed_anchor =
      depth > 0 && depth >= X509_STORE_CTX_get_num_untrusted(store);
}

static int verify_trampoline(int preverify_ok, X509_STORE_CTX *store) {
  SSL *ssl =
      X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx());
  mw_tls *t = ssl ? SSL_get_app_data(ssl) : NULL;
  mw_sslinfo *info = t ? t->info : NULL;
  int ok = preverify_ok;
  if (info && info->verify_cb) {
    X509 *cert = X509_STORE_CTX_get_current_cert(store);
    char subject[512] = "";
    if (cert)
      X509_NAME_oneline(X509_get_subject_name(cert), subject, sizeof subject);
    long error = X509_STORE_CTX_get_error(store);
    /* An accepted error stays the verify result, so the log still shows
     * it; a refusal of what OpenSSL accepted needs an error of its own. */
    ok =
        info->verify_cb(info->verify_ud, preverify_ok, error, subject) ? 1 : 0;
    if (!ok && preverify_ok)
      X509_STORE_CTX_set_error(store, X509_V_ERR_APPLICATION_VERIFICATION);
  }
  if (!ok && t)
    note_failure(t, store);
  return ok;
}

void mw_verify_callback_attach(mw_tls *t) {
  if (!t->info->no_verify)
    SSL_set_verify(t->ssl, SSL_VERIFY_PEER, verify_trampoline);
}

int mw_sslinfo_set_verify_callback(mw_sslinfo *ssl, mw_verify_cb cb,
                                   void *ud) {
  if (!ssl)
    return errInvalidArgument;
  mw_sslinfo_lock(ssl);
  mw_error_clear(&ssl->err);
  int rc = MW_OK;
  if (mw_sslinfo_is_live(ssl)) {
    rc = mw_error_set(&ssl->err, eexSSLConnected, 0,
                      "The SSLInfo is in use by a live connection; "
                      "disconnect every client using it before changing "
                      "its verification callback.");
  } else {
    ssl->verify_cb = cb;
    ssl->verify_ud = cb ? ud : NULL;
    mw_session_cache_forget(ssl);
  }
  return mw_sslinfo_return(ssl, rc);
}

/* ---- the chain outputs ---- */

static char *bio_string(BIO *b) {
  char *data = NULL;
  long n = b ? BIO_get_mem_data(b, &data) : 0;
  char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
  if (s) {
    if (n)
      memcpy(s, data, (size_t)n);
    s[n] = '\0';
  }
  BIO_free(b);
  return s;
}

static char *serial_hex(X509 *cert) {
  BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
  char *hex = bn ? BN_bn2hex(bn) : NULL;
  BN_free(bn);
  char *s = mw_strdup(hex);
  OPENSSL_free(hex);
  return s;
}

/* "2026-11-28T14:00:00Z" */
static char *iso_time(const ASN1_TIME *t) {
  struct tm tm;
  if (!t || ASN1_TIME_to_tm(t, &tm) != 1)
    return NULL;
  char buf[32];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return mw_strdup(buf);
}

/* "DNS:localhost, IP Address:127.0.0.1", as openssl x509 -text prints. */
static char *sans(X509 *cert) {
  GENERAL_NAMES *names =
      X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
  if (!names)
    return mw_strdup("");
  BIO *b = BIO_new(BIO_s_mem());
  for (int i = 0; b && i < sk_GENERAL_NAME_num(names); i++) {
    if (i)
      BIO_puts(b, ", ");
    GENERAL_NAME_print(b, sk_GENERAL_NAME_value(names, i));
  }
  GENERAL_NAMES_free(names);
  return bio_string(b);
}

/* "AB:CD:..." as openssl x509 -fingerprint -sha256 prints. */
static char *fingerprint(X509 *cert) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (X509_digest(cert, EVP_sha256(), md, &n) != 1)
    return NULL;
  char *s = malloc(n * 3 + 1);
  for (unsigned i = 0; s && i < n; i++)
    snprintf(s + i * 3, 4, "%02X%s", md[i], i + 1 < n ? ":" : "");
  return s;
}

static char *pem_of(STACK_OF(X509) * chain, int all) {
  BIO *b = BIO_new(BIO_s_mem());
  int n = all ? sk_X509_num(chain) : 1;
  for (int i = 0; b && i < n && i < sk_X509_num(chain); i++)
    PEM_write_bio_X509(b, sk_X509_value(chain, i));
  return bio_string(b);
}

void mw_peer_fill_outputs(SSL *ssl, mw_tls_outputs *out) {
  out->session_resumed = SSL_session_reused(ssl) == 1;
  X509 *leaf = SSL_get0_peer_certificate(ssl);
  STACK_OF(X509) *chain = SSL_get_peer_cert_chain(ssl); /* leaf first */
  if (!leaf)
    return;
  out->peer_serial = serial_hex(leaf);
  out->peer_not_before = iso_time(X509_get0_notBefore(leaf));
  out->peer_not_after = iso_time(X509_get0_notAfter(leaf));
  out->peer_sans = sans(leaf);
  out->peer_sha256 = fingerprint(leaf);
  if (chain && sk_X509_num(chain) > 0) {
    out->peer_pem = pem_of(chain, 0);
    out->peer_chain_pem = pem_of(chain, 1);
  }
  ERR_clear_error();
}
