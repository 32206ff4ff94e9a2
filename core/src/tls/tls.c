/* tls.c - the TLS filter: OpenSSL over memory BIOs, so it can start
 * mid-stream after STARTTLS/STLS; builds its SSL_CTX from an SSLInfo and
 * fills the connection's outputs (and the SSLInfo's copy of the most
 * recent ones). */
#include "tls.h"

#include "revocation.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The last error, unless an allocation failed on the way: then that one,
 * so the caller can say "out of memory" (mw_tls_number). */
unsigned long mw_tls_take_error(char *buf, size_t len) {
  unsigned long code = ERR_peek_last_error();
  unsigned long e;
  for (int i = 0; i < 64 && (e = ERR_get_error()) != 0; i++)
    if (ERR_GET_REASON(e) == ERR_R_MALLOC_FAILURE) {
      code = e;
      break;
    }
  if (code)
    ERR_error_string_n(code, buf, len);
  else
    snprintf(buf, len, "no further detail");
  ERR_clear_error();
  return code;
}

int mw_tls_number(unsigned long code, int number) {
  return code && ERR_GET_REASON(code) == ERR_R_MALLOC_FAILURE ? eexNoMemory
                                                              : number;
}

static int is_ip_literal(const char *name) {
  unsigned char addr[16];
  return inet_pton(AF_INET, name, addr) == 1 ||
         inet_pton(AF_INET6, name, addr) == 1;
}

static int load_trust(SSL_CTX *ctx, const mw_sslinfo *info,
                      mw_errorinfo *err) {
  if (!info->ca_file && !info->ca_path) {
    SSL_CTX_set_default_verify_paths(ctx);
    return MW_OK;
  }
  /* OpenSSL accepts any directory name and fails only at verify time. */
  struct stat st;
  if (info->ca_path && (stat(info->ca_path, &st) != 0 || !S_ISDIR(st.st_mode)))
    return mw_error_set(err, eexSSLConfig, 0,
                        "The trusted CA directory '%s' does not exist or is "
                        "not a directory. Check the SSLCAPath option.",
                        info->ca_path);
  if (SSL_CTX_load_verify_locations(ctx, info->ca_file, info->ca_path) == 1)
    return MW_OK;
  char why[256];
  unsigned long code = mw_tls_take_error(why, sizeof why);
  return mw_error_set(err, mw_tls_number(code, eexSSLConfig), (long)code,
                      "The trusted CA %s '%s' cannot be loaded (%s). Check "
                      "the SSLCAFile/SSLCAPath option.",
                      info->ca_file ? "file" : "directory",
                      info->ca_file ? info->ca_file : info->ca_path, why);
}

/* Name checks and SNI: DNS names get both, IP literals only the check
 * (against the certificate's IP SANs). Names are checked against the DNS
 * SANs only, never the subject's CN, and a wildcard must be a whole label
 * ("*.example.test", not "f*.example.test"): RFC 6125 and the CA/Browser
 * Forum rules. */
static int set_peer_name(mw_tls *t, const mw_sslinfo *info) {
  int ip = is_ip_literal(t->name);
  if (!ip && SSL_set_tlsext_host_name(t->ssl, t->name) != 1)
    return -1;
  if (info->no_name_check || info->no_verify)
    return 0;
  if (ip)
    return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), t->name) == 1
               ? 0
               : -1;
  SSL_set_hostflags(t->ssl, X509_CHECK_FLAG_NEVER_CHECK_SUBJECT |
                                X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  return SSL_set1_host(t->ssl, t->name) == 1 ? 0 : -1;
}

static int tls_fail(mw_tls *t, mw_errorinfo *err, const char *what) {
  char why[256];
  unsigned long code = mw_tls_take_error(why, sizeof why);
  mw_tls_free(t);
  return mw_error_set(err, mw_tls_number(code, eexSSLW32), (long)code,
                      "%s failed: %s.", what, why);
}

int mw_tls_new(mw_tls **out, mw_sslinfo *info, const char *host,
               mw_errorinfo *err) {
  *out = NULL;
  mw_tls *t = calloc(1, sizeof *t);
  if (!t)
    return mw_error_set(err, eexNoMemory, 0, NULL);
  /* An internationalised name is checked, and sent in SNI, as its
   * A-label (xn--...). */
  char *ace = NULL;
  int idn = mw_idn_to_ascii(
      info->server_name ? info->server_name : host,
      info->server_name ? "SSLServerName" : "server name", &ace, err);
  if (idn != MW_OK) {
    free(t);
    return idn;
  }
  snprintf(t->name, sizeof t->name, "%s",
           ace                 ? ace
           : info->server_name ? info->server_name
                               : host);
  free(ace);
  t->ctx = SSL_CTX_new(TLS_client_method());
  if (!t->ctx)
    return tls_fail(t, err, "Creating the TLS context");
  int rc = mw_policy_apply(t->ctx, info, err);
  if (rc == MW_OK)
    rc = mw_clientcert_apply(t->ctx, info, err);
  if (rc != MW_OK) {
    mw_tls_free(t);
    return rc;
  }
  SSL_CTX_set_verify(
      t->ctx, info->no_verify ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, NULL);
  rc = load_trust(t->ctx, info, err);
  if (rc == MW_OK)
    rc = mw_revocation_attach(t->ctx, info, &t->rev, err);
  if (rc != MW_OK) {
    mw_tls_free(t);
    return rc;
  }
  t->ssl = SSL_new(t->ctx);
  t->info = info;
  if (t->ssl) /* tls_peer.c and tls_session.c find t, and info, here */
    SSL_set_app_data(t->ssl, t);
  t->net_in = BIO_new(BIO_s_mem());
  t->net_out = BIO_new(BIO_s_mem());
  if (!t->ssl || !t->net_in || !t->net_out) {
    BIO_free(t->net_in);
    BIO_free(t->net_out);
    t->net_in = t->net_out = NULL;
    return tls_fail(t, err, "Creating the TLS connection");
  }
  /* An empty memory BIO means "wait for more", not end of file. */
  BIO_set_mem_eof_return(t->net_in, -1);
  SSL_set_bio(t->ssl, t->net_in, t->net_out);
  SSL_set_connect_state(t->ssl);
  if (set_peer_name(t, info) != 0)
    return tls_fail(t, err, "Setting the server name to check");
  mw_verify_callback_attach(t);
  *out = t;
  return MW_OK;
}

void mw_tls_free(mw_tls *t) {
  if (!t)
    return;
  SSL_free(t->ssl); /* frees both BIOs */
  SSL_CTX_free(t->ctx);
  mw_rev_check_free(t->rev);
  SSL_SESSION_free(t->held_session); /* its checks never passed */
  X509_free(t->failed_cert);
  free(t);
}

static char *name_line(const X509_NAME *name);

/* "2026-11-28 14:00:00 UTC" */
static void time_text(const ASN1_TIME *at, char *buf, size_t len) {
  struct tm tm;
  if (!at || ASN1_TIME_to_tm(at, &tm) != 1 ||
      strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
    snprintf(buf, len, "?");
}

/* What is wrong with the refused certificate, after its name. */
static void failure_text(const mw_tls *t, char *buf, size_t len) {
  X509 *c = t->failed_cert;
  char when[64];
  EVP_PKEY *pk = X509_get0_pubkey(c);
  switch (t->failed_error) {
  case X509_V_ERR_CERT_HAS_EXPIRED:
    time_text(X509_get0_notAfter(c), when, sizeof when);
    snprintf(buf, len, "has expired (valid until %s)", when);
    break;
  case X509_V_ERR_CERT_NOT_YET_VALID:
    time_text(X509_get0_notBefore(c), when, sizeof when);
    snprintf(buf, len, "is not valid yet (valid from %s)", when);
    break;
  case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
  case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT: {
    char *issuer = name_line(X509_get_issuer_name(c));
    snprintf(buf, len,
             "was issued by '%s', which is not a trusted CA and whose "
             "certificate the server did not send (an untrusted issuer, or "
             "a missing intermediate certificate)",
             issuer ? issuer : "?");
    free(issuer);
    break;
  }
  case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
  case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    snprintf(buf, len, "is self-signed and not a trusted CA");
    break;
  case X509_V_ERR_EE_KEY_TOO_SMALL:
  case X509_V_ERR_CA_KEY_TOO_SMALL:
    snprintf(buf, len,
             "has a %d-bit key, too weak for the security level in force",
             pk ? EVP_PKEY_get_bits(pk) : 0);
    break;
  case X509_V_ERR_CA_MD_TOO_WEAK:
    snprintf(buf, len, "is signed with a weak digest (%s)",
             OBJ_nid2ln(X509_get_signature_nid(c)));
    break;
  case X509_V_ERR_INVALID_PURPOSE:
    snprintf(buf, len,
             t->failed_depth == 0
                 ? "is not for TLS servers (its extended key usage does not "
                   "include serverAuth)"
                 : "may not issue TLS server certificates (its key usage or "
                   "extended key usage)");
    break;
  case X509_V_ERR_PATH_LENGTH_EXCEEDED:
    snprintf(buf, len,
             "has a path length constraint (pathlen) that the chain below "
             "it exceeds");
    break;
  case X509_V_ERR_PERMITTED_VIOLATION:
  case X509_V_ERR_EXCLUDED_VIOLATION:
    snprintf(buf, len,
             "has a name that its issuer's name constraints do not allow");
    break;
  case X509_V_ERR_APPLICATION_VERIFICATION:
    snprintf(buf, len, "was refused by the verification callback");
    break;
  default:
    snprintf(buf, len, "fails: %s",
             X509_verify_cert_error_string(t->failed_error));
  }
}

/* "the trusted root 'CN=Test Root' (depth 2) has expired (...)", from what
 * the verify callback kept; "" when it kept nothing for this error. */
static void which_certificate(const mw_tls *t, long verify, char *buf,
                              size_t len) {
  buf[0] = '\0';
  if (!t->failed_cert || t->failed_error != verify)
    return;
  const char *who = "the intermediate CA certificate";
  if (t->failed_depth == 0)
    who = "the server's own certificate";
  else if (t->failed_anchor)
    who = X509_get_extension_flags(t->failed_cert) & EXFLAG_SS
              ? "the trusted root"
              : "the trusted CA certificate";
  char *subject = name_line(X509_get_subject_name(t->failed_cert));
  char what[384];
  failure_text(t, what, sizeof what);
  snprintf(buf, len, "%s '%s' (depth %d) %s", who, subject ? subject : "?",
           t->failed_depth, what);
  free(subject);
}

int mw_tls_handshake_error(mw_tls *t, int ssl_error, mw_errorinfo *err) {
  /* Without SSL_VERIFY_PEER a bad chain is not what failed. */
  long verify = (SSL_get_verify_mode(t->ssl) & SSL_VERIFY_PEER)
                    ? SSL_get_verify_result(t->ssl)
                    : X509_V_OK;
  char why[256];
  unsigned long code = mw_tls_take_error(why, sizeof why);
  if (mw_revocation_error(t->rev, err))
    return err->code;
  int rc;
  if (verify == X509_V_ERR_HOSTNAME_MISMATCH ||
      verify == X509_V_ERR_IP_ADDRESS_MISMATCH) {
    rc = mw_error_set(err, mw_tls_number(code, eexSSLCertName), (long)code,
                      "The server's certificate is not valid for the name "
                      "'%s'. Check that you connect by the name on the "
                      "certificate (not an IP address or alias) and that "
                      "the certificate is correct: names are matched "
                      "against its subject alternative names only (not "
                      "its subject's CN), and a wildcard must be a whole "
                      "label of one level (*.example.com, not "
                      "f*.example.com). For debugging only (never in "
                      "production), SSLNoServerNameCheck skips this check.",
                      t->name);
  } else if (verify != X509_V_OK) {
    char which[1024];
    which_certificate(t, verify, which, sizeof which);
    rc = mw_error_set(err, mw_tls_number(code, eexSSLCertificate), (long)code,
                      "The server's certificate %s%s (verify error %ld: "
                      "%s). Check the certificate and the trusted CAs "
                      "(SSLCAFile/SSLCAPath). For debugging only (never in "
                      "production), SSLNoServerCertificateValidation skips "
                      "this check.",
                      which[0] ? "chain is invalid: " : "is invalid", which,
                      verify, X509_verify_cert_error_string(verify));
  } else {
    rc = mw_error_set(err, mw_tls_number(code, eexSSLProtocol), (long)code,
                      "The TLS handshake failed (%s; SSL error %d). Check "
                      "that the server supports TLS on this port: it "
                      "may not speak TLS directly; implicit TLS is usually "
                      "port 465 (SMTP) or 995 (POP3); ports 25, 587 and 110 "
                      "need MODE_STARTTLS.%s",
                      why, ssl_error, mw_policy_failure_hint(t->info));
  }
  err->verify = verify;
  return rc;
}

/* ---- outputs ---- */

static long protocol_value(int version) {
  switch (version) {
  case TLS1_VERSION:
    return SSL_TLS1;
  case TLS1_1_VERSION:
    return SSL_TLS1_1;
  case TLS1_2_VERSION:
    return SSL_TLS1_2;
  case TLS1_3_VERSION:
    return SSL_TLS1_3;
  default:
    return 0;
  }
}

static long cipher_value(int nid) {
  switch (nid) {
  case NID_aes_128_gcm:
    return SSL_AES_128_GCM;
  case NID_aes_256_gcm:
    return SSL_AES_256_GCM;
  case NID_chacha20_poly1305:
    return SSL_CHACHA20;
  case NID_aes_128_cbc:
    return SSL_AES_128;
  case NID_aes_256_cbc:
    return SSL_AES_256;
  case NID_des_ede3_cbc:
    return SSL_3DES;
  default:
    return SSL_NONE;
  }
}

static void hash_value(const SSL_CIPHER *c, long *hash, long *bits) {
  int nid = SSL_CIPHER_get_digest_nid(c);
  if (nid == NID_undef) { /* AEAD: integrity from the cipher, PRF hash */
    const EVP_MD *md = SSL_CIPHER_get_handshake_digest(c);
    nid = md ? EVP_MD_get_type(md) : NID_undef;
  }
  switch (nid) {
  case NID_md5:
    *hash = SSL_MD5, *bits = 128;
    break;
  case NID_sha1:
    *hash = SSL_SHA, *bits = 160;
    break;
  case NID_sha256:
    *hash = SSL_SHA256, *bits = 256;
    break;
  case NID_sha384:
    *hash = SSL_SHA384, *bits = 384;
    break;
  default:
    *hash = SSL_AEAD, *bits = 0;
  }
}

/* Bits of the server certificate's key (RSA key exchange has no
 * ephemeral key). */
static long peer_key_bits(mw_tls *t) {
  X509 *peer = SSL_get0_peer_certificate(t->ssl);
  EVP_PKEY *pk = peer ? X509_get0_pubkey(peer) : NULL;
  return pk ? EVP_PKEY_get_bits(pk) : 0;
}

/* Key exchange from the server's ephemeral key: the same for TLS 1.2 and
 * 1.3. */
static void exchange_value(mw_tls *t, const SSL_CIPHER *c,
                           mw_tls_outputs *out) {
  EVP_PKEY *tmp = NULL;
  if (SSL_CIPHER_get_kx_nid(c) == NID_kx_rsa) {
    out->exchange = SSL_RSA;
    out->exchange_strength = peer_key_bits(t);
  }
  if (SSL_get_peer_tmp_key(t->ssl, &tmp) == 1 && tmp) {
    switch (EVP_PKEY_get_id(tmp)) {
    case EVP_PKEY_X25519:
      out->exchange = SSL_X25519;
      break;
    case EVP_PKEY_X448:
      out->exchange = SSL_X448;
      break;
    case EVP_PKEY_DH:
      out->exchange = SSL_DH;
      break;
    default:
      out->exchange = SSL_ECDHE;
    }
    out->exchange_strength = EVP_PKEY_get_bits(tmp);
    EVP_PKEY_free(tmp);
  }
  int group = SSL_get_negotiated_group(t->ssl);
  const char *gname = group ? SSL_group_to_name(t->ssl, group) : NULL;
  if (!gname && out->exchange == SSL_RSA)
    gname = "RSA";
  snprintf(out->group_name, sizeof out->group_name, "%s", gname ? gname : "");
}

static char *name_line(const X509_NAME *name) {
  BIO *b = BIO_new(BIO_s_mem());
  if (!b)
    return NULL;
  char *data = NULL;
  long n = X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253) >= 0
               ? BIO_get_mem_data(b, &data)
               : 0;
  if (!data || n < 0) /* printing failed (no memory): an empty name */
    n = 0;
  char *s = malloc((size_t)n + 1);
  if (s) {
    if (n)
      memcpy(s, data, (size_t)n);
    s[n] = '\0';
  }
  BIO_free(b);
  return s;
}

/* Copy the revocation outcome of t's handshake into out (nothing when no
 * check ran). */
static void mw_rev_outcome(mw_tls *t, mw_tls_outputs *out) {
  int status = 0;
  const char *detail = NULL;
  if (!mw_rev_check_outcome(t->rev, &status, &detail))
    return;
  out->have_rev = 1;
  out->rev_status = status;
  free(out->rev_detail);
  out->rev_detail = mw_strdup(detail);
}

void mw_tls_keep_outcome(mw_tls *t, mw_tls_outputs *out) {
  if (!t)
    return;
  mw_tls_outputs scratch;
  memset(&scratch, 0, sizeof scratch);
  mw_tls_outputs *o = out ? out : &scratch;
  mw_rev_outcome(t, o);
  if (o->have_rev)
    mw_sslinfo_publish(t->info, o);
  mw_tls_outputs_clear(&scratch);
}

/* The connection's own outputs, then the SSLInfo's copy: the copy is made
 * under the SSLInfo's lock, so a thread reading it sees one handshake. */
static void fill_outputs(mw_tls *t, mw_sslinfo *info, mw_tls_outputs *out,
                         mw_loghandler *log) {
  mw_tls_outputs_clear(out);
  const SSL_CIPHER *c = SSL_get_current_cipher(t->ssl);
  out->protocol_out = protocol_value(SSL_version(t->ssl));
  snprintf(out->protocol_name, sizeof out->protocol_name, "%s",
           SSL_get_version(t->ssl));
  if (c) {
    out->cipher_out = cipher_value(SSL_CIPHER_get_cipher_nid(c));
    out->cipher_strength = SSL_CIPHER_get_bits(c, NULL);
    snprintf(out->cipher_name, sizeof out->cipher_name, "%s",
             SSL_CIPHER_get_name(c));
    hash_value(c, &out->hash, &out->hash_strength);
    exchange_value(t, c, out);
  }
  X509 *peer = SSL_get0_peer_certificate(t->ssl);
  if (peer) {
    out->peer_subject = name_line(X509_get_subject_name(peer));
    out->peer_issuer = name_line(X509_get_issuer_name(peer));
  }
  out->have = 1;
  mw_peer_fill_outputs(t->ssl, out);
  mw_rev_outcome(t, out);
  mw_sslinfo_publish(info, out);
  mw_log(log, LOG_S_INFORMATION, LOG_F_SSL,
         "Server certificate: subject '%s', issuer '%s', verification: %s",
         out->peer_subject ? out->peer_subject : "(none)",
         out->peer_issuer ? out->peer_issuer : "(none)",
         info->no_verify
             ? "skipped (SSLNoServerCertificateValidation)"
             : X509_verify_cert_error_string(SSL_get_verify_result(t->ssl)));
  mw_log(log, LOG_S_INFORMATION, LOG_F_SSL,
         "TLS established: %s, cipher %s (%ld bits), hash %ld bits, key "
         "exchange %s (%ld bits)",
         out->protocol_name, out->cipher_name, out->cipher_strength,
         out->hash_strength, out->group_name[0] ? out->group_name : "?",
         out->exchange_strength);
  mw_revocation_log(t->rev, log);
}

void mw_tls_fill_outputs(mw_tls *t, mw_sslinfo *info, mw_tls_outputs *out,
                         mw_loghandler *log) {
  mw_tls_outputs scratch; /* a bare mw_conn (tests) keeps none of its own */
  memset(&scratch, 0, sizeof scratch);
  fill_outputs(t, info, out ? out : &scratch, log);
  mw_tls_outputs_clear(&scratch);
}
