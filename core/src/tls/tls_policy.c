/* tls_policy.c - protocol and cipher control for SSLInfo:
 * SSLConnectionProtocolIn, SSLConnectionCipherIn, SSLMinCipherStrength,
 * SSLMaxCipherStrength and SSLConfidentiality. sslinfo.c validates the
 * values when they are set; tls.c applies them to the SSL_CTX before the
 * handshake and checks the negotiated suite after it. */
#include "tls.h"

#include <openssl/err.h>
#include <stdio.h>
#include <string.h>

/* ---- validation (sslinfo.c, when the option is set) ---- */

static const char *insecure_protocol_name(long p) {
  switch (p) {
  case SSL_PCT1:
    return "PCT 1.0";
  case SSL_SSL2:
    return "SSL 2.0";
  case SSL_SSL3:
    return "SSL 3.0";
  default:
    return NULL;
  }
}

static int known_protocol(long p) {
  return p == SSL_TLS1 || p == SSL_TLS1_1 || p == SSL_TLS1_2 ||
         p == SSL_TLS1_3;
}

/* The allowed versions as a bit mask, lowest first: TLS 1.0 .. 1.3. */
static const long protocol_order[] = {SSL_TLS1, SSL_TLS1_1, SSL_TLS1_2,
                                      SSL_TLS1_3};

/* OpenSSL negotiates a range of versions, not an arbitrary set. */
static int is_contiguous(unsigned mask) {
  int seen = 0, ended = 0;
  for (size_t i = 0; i < 4; i++) {
    int in = (mask & (unsigned)protocol_order[i]) != 0;
    if (in && ended)
      return 0;
    if (!in && seen)
      ended = 1;
    seen |= in;
  }
  return 1;
}

int mw_policy_check_protocols(const long *values, size_t n, unsigned *mask,
                              mw_errorinfo *err) {
  unsigned m = 0;
  for (size_t i = 0; i < n; i++) {
    const char *bad = insecure_protocol_name(values[i]);
    if (bad)
      return mw_error_set(err, eexSSLInsecure, 0,
                          "%s is broken and no longer supported by OpenSSL "
                          "or by servers; use SSL_TLS1_2 and SSL_TLS1_3 in "
                          "SSLConnectionProtocolIn (or an empty array for "
                          "the library's choice).",
                          bad);
    if (!known_protocol(values[i]))
      return mw_error_set(
          err, eexInvalidArgument, 0,
          "0x%lx is not a protocol for SSLConnectionProtocolIn; "
          "use SSL_TLS1, SSL_TLS1_1, SSL_TLS1_2 or SSL_TLS1_3.",
          values[i]);
    m |= (unsigned)values[i];
  }
  if (!is_contiguous(m))
    return mw_error_set(err, eexInvalidArgument, 0,
                        "SSLConnectionProtocolIn must name a range of "
                        "consecutive TLS versions (for example SSL_TLS1_2 "
                        "and SSL_TLS1_3), because OpenSSL negotiates a "
                        "version range.");
  if (m && !(m & (SSL_TLS1_2 | SSL_TLS1_3)))
    return mw_error_set(err, eexSSLInsecure, 0,
                        "TLS 1.0 and 1.1 alone cannot be used: OpenSSL 3 "
                        "refuses them at its default security level (they "
                        "rely on SHA-1 and MD5). Allow SSL_TLS1_2 or "
                        "SSL_TLS1_3 too.");
  *mask = m;
  return MW_OK;
}

/* The bits of mw_sslinfo.ciphers_in that an SSL_* cipher value selects. */
static unsigned cipher_bits(long v) {
  switch (v) {
  case SSL_AES_128:
    return MW_CIPHER_AES128_GCM | MW_CIPHER_AES128_CBC;
  case SSL_AES_256:
    return MW_CIPHER_AES256_GCM | MW_CIPHER_AES256_CBC;
  case SSL_AES:
    return MW_CIPHER_AES128_GCM | MW_CIPHER_AES128_CBC | MW_CIPHER_AES256_GCM |
           MW_CIPHER_AES256_CBC;
  case SSL_AES_128_GCM:
    return MW_CIPHER_AES128_GCM;
  case SSL_AES_256_GCM:
    return MW_CIPHER_AES256_GCM;
  case SSL_CHACHA20:
    return MW_CIPHER_CHACHA20;
  default:
    return 0;
  }
}

static const char *insecure_cipher_name(long v) {
  switch (v) {
  case SSL_RC2:
    return "RC2 (40 to 128-bit export-era block cipher, broken)";
  case SSL_RC4:
    return "RC4 (biased key stream, prohibited for TLS by RFC 7465)";
  case SSL_DES:
    return "DES (56-bit key, brute-forced in hours)";
  case SSL_3DES:
    return "3DES (64-bit blocks, broken by Sweet32)";
  case SSL_SKIPJACK:
    return "Skipjack (80-bit key, never in TLS)";
  case SSL_NONE:
    return "SSL_NONE (no encryption, see SSLConfidentiality)";
  default:
    return NULL;
  }
}

int mw_policy_check_ciphers(const long *values, size_t n, unsigned *mask,
                            mw_errorinfo *err) {
  unsigned m = 0;
  for (size_t i = 0; i < n; i++) {
    const char *bad = insecure_cipher_name(values[i]);
    if (bad)
      return mw_error_set(err, eexSSLInsecure, 0,
                          "%s is refused: it does not keep mail "
                          "confidential. Use SSL_AES_128_GCM, "
                          "SSL_AES_256_GCM, SSL_CHACHA20, SSL_AES_128, "
                          "SSL_AES_256 or SSL_AES in SSLConnectionCipherIn.",
                          bad);
    unsigned bits = cipher_bits(values[i]);
    if (!bits)
      return mw_error_set(err, eexInvalidArgument, 0,
                          "0x%lx is not a cipher for SSLConnectionCipherIn; "
                          "use SSL_AES_128_GCM, SSL_AES_256_GCM, "
                          "SSL_CHACHA20, SSL_AES_128, SSL_AES_256 or SSL_AES.",
                          values[i]);
    m |= bits;
  }
  *mask = m;
  return MW_OK;
}

/* The values in effect, back from the masks: an SSL_* value for each
 * group of bits it selects, so that setting them again gives the same
 * masks. */
size_t mw_policy_get_array(const mw_sslinfo *ssl, int index, long *out,
                           size_t cap) {
  long v[8];
  size_t n = 0;
  if (index == SSLConnectionProtocolIn) {
    static const long order[] = {SSL_TLS1, SSL_TLS1_1, SSL_TLS1_2, SSL_TLS1_3};
    for (size_t i = 0; i < sizeof order / sizeof *order; i++)
      if (ssl->protocols_in & (unsigned)order[i])
        v[n++] = order[i];
  } else {
    unsigned m = ssl->ciphers_in;
    unsigned all = (unsigned)cipher_bits(SSL_AES);
    unsigned a128 = (unsigned)cipher_bits(SSL_AES_128);
    unsigned a256 = (unsigned)cipher_bits(SSL_AES_256);
    if ((m & all) == all) {
      v[n++] = SSL_AES;
    } else {
      if ((m & a128) == a128)
        v[n++] = SSL_AES_128;
      else if (m & MW_CIPHER_AES128_GCM)
        v[n++] = SSL_AES_128_GCM;
      if ((m & a256) == a256)
        v[n++] = SSL_AES_256;
      else if (m & MW_CIPHER_AES256_GCM)
        v[n++] = SSL_AES_256_GCM;
    }
    if (m & MW_CIPHER_CHACHA20)
      v[n++] = SSL_CHACHA20;
  }
  for (size_t i = 0; i < n && i < cap && out; i++)
    out[i] = v[i];
  return n;
}

/* ---- the context (tls.c, before the handshake) ---- */

static unsigned suite_bit(const SSL_CIPHER *c) {
  switch (SSL_CIPHER_get_cipher_nid(c)) {
  case NID_aes_128_gcm:
    return MW_CIPHER_AES128_GCM;
  case NID_aes_256_gcm:
    return MW_CIPHER_AES256_GCM;
  case NID_aes_128_cbc:
    return MW_CIPHER_AES128_CBC;
  case NID_aes_256_cbc:
    return MW_CIPHER_AES256_CBC;
  case NID_chacha20_poly1305:
    return MW_CIPHER_CHACHA20;
  default:
    return 0;
  }
}

/* Does the suite pass SSLConnectionCipherIn and the strength bounds? */
static int suite_allowed(const SSL_CIPHER *c, const mw_sslinfo *info) {
  int bits = SSL_CIPHER_get_bits(c, NULL);
  if (bits <= 0) /* SSLConfidentiality: never a NULL cipher */
    return 0;
  if (info->min_strength > 0 && bits < info->min_strength)
    return 0;
  if (info->max_strength > 0 && bits > info->max_strength)
    return 0;
  return !info->ciphers_in || (suite_bit(c) & info->ciphers_in);
}

static int version_of(long p) {
  switch (p) {
  case SSL_TLS1:
    return TLS1_VERSION;
  case SSL_TLS1_1:
    return TLS1_1_VERSION;
  case SSL_TLS1_2:
    return TLS1_2_VERSION;
  default:
    return TLS1_3_VERSION;
  }
}

/* The version range: SSLConnectionProtocolIn, or TLS 1.2 and later. */
static void version_range(const mw_sslinfo *info, int *lo, int *hi) {
  *lo = TLS1_2_VERSION;
  *hi = TLS1_3_VERSION;
  if (!info->protocols_in)
    return;
  int first = 1;
  for (size_t i = 0; i < 4; i++) {
    if (!(info->protocols_in & (unsigned)protocol_order[i]))
      continue;
    if (first)
      *lo = version_of(protocol_order[i]);
    *hi = version_of(protocol_order[i]);
    first = 0;
  }
}

typedef struct suite_lists {
  mw_buf tls12; /* OpenSSL names, ':'-separated, for set_cipher_list */
  mw_buf tls13; /* IANA names for set_ciphersuites */
} suite_lists;

/* Keep the default suites that the options allow. */
static int filter_suites(SSL_CTX *ctx, const mw_sslinfo *info,
                         suite_lists *l) {
  STACK_OF(SSL_CIPHER) *all = SSL_CTX_get_ciphers(ctx);
  for (int i = 0; i < sk_SSL_CIPHER_num(all); i++) {
    const SSL_CIPHER *c = sk_SSL_CIPHER_value(all, i);
    if (!suite_allowed(c, info))
      continue;
    int tls13 = strcmp(SSL_CIPHER_get_version(c), "TLSv1.3") == 0;
    mw_buf *b = tls13 ? &l->tls13 : &l->tls12;
    if ((b->len && mw_buf_append_str(b, ":") != 0) ||
        mw_buf_append_str(b, SSL_CIPHER_get_name(c)) != 0)
      return -1;
  }
  return 0;
}

static int restricts_suites(const mw_sslinfo *info) {
  return info->ciphers_in || info->min_strength > 0 || info->max_strength > 0;
}

static int no_suite_left(const mw_sslinfo *info, mw_errorinfo *err) {
  return mw_error_set(err, eexSSLConfig, 0,
                      "No cipher suite satisfies SSLConnectionCipherIn, "
                      "SSLMinCipherStrength (%ld) and SSLMaxCipherStrength "
                      "(%ld) for the allowed TLS versions; suites have 128 "
                      "or 256-bit keys. Relax one of these options.",
                      info->min_strength, info->max_strength);
}

/* Apply the suites; narrows [lo, hi] to versions that still have one. */
static int apply_suites(SSL_CTX *ctx, const mw_sslinfo *info, int *lo, int *hi,
                        mw_errorinfo *err) {
  suite_lists l;
  mw_buf_init(&l.tls12);
  mw_buf_init(&l.tls13);
  int rc = MW_OK;
  if (filter_suites(ctx, info, &l) != 0)
    rc = mw_error_set(err, eexNoMemory, 0, NULL);
  if (rc == MW_OK && !l.tls13.len && *hi >= TLS1_3_VERSION)
    *hi = TLS1_2_VERSION;
  if (rc == MW_OK && !l.tls12.len && *lo <= TLS1_2_VERSION)
    *lo = TLS1_3_VERSION;
  if (rc == MW_OK && *lo > *hi)
    rc = no_suite_left(info, err);
  if (rc == MW_OK &&
      (SSL_CTX_set_ciphersuites(ctx, l.tls13.len ? l.tls13.data : "") != 1 ||
       (l.tls12.len && SSL_CTX_set_cipher_list(ctx, l.tls12.data) != 1))) {
    char why[256];
    unsigned long code = mw_tls_take_error(why, sizeof why);
    rc = mw_error_set(err, mw_tls_number(code, eexSSLConfig), (long)code,
                      "Restricting the cipher suites failed: %s.", why);
  }
  mw_buf_free(&l.tls12);
  mw_buf_free(&l.tls13);
  return rc;
}

int mw_policy_apply(SSL_CTX *ctx, const mw_sslinfo *info, mw_errorinfo *err) {
  int lo, hi;
  version_range(info, &lo, &hi);
  if (restricts_suites(info)) {
    int rc = apply_suites(ctx, info, &lo, &hi, err);
    if (rc != MW_OK)
      return rc;
  }
  if (SSL_CTX_set_min_proto_version(ctx, lo) != 1 ||
      SSL_CTX_set_max_proto_version(ctx, hi) != 1) {
    char why[256];
    unsigned long code = mw_tls_take_error(why, sizeof why);
    return mw_error_set(err, mw_tls_number(code, eexSSLConfig), (long)code,
                        "Setting the TLS version range failed: %s.", why);
  }
  return MW_OK;
}

const char *mw_policy_failure_hint(const mw_sslinfo *info) {
  if (!info)
    return "";
  if (info->protocols_in & (SSL_TLS1 | SSL_TLS1_1))
    return " SSLConnectionProtocolIn lists TLS 1.0/1.1, which OpenSSL 3 "
           "refuses at its default security level: a server that offers "
           "nothing newer cannot be reached.";
  if (info->protocols_in || restricts_suites(info))
    return " The SSLInfo restricts the TLS versions or cipher suites "
           "(SSLConnectionProtocolIn, SSLConnectionCipherIn, "
           "SSLMin/MaxCipherStrength); the server may support none of "
           "those allowed.";
  return "";
}

/* ---- after the handshake ---- */

static int check_confidential(mw_tls *t, mw_errorinfo *err) {
  const SSL_CIPHER *c = SSL_get_current_cipher(t->ssl);
  if (c && SSL_CIPHER_get_bits(c, NULL) > 0)
    return MW_OK;
  /* SSLConfidentiality: unreachable with our suite lists, but never
   * carry mail over a connection that does not encrypt. */
  return mw_error_set(err, eexSSLProtocol, 0,
                      "The server chose the cipher suite %s, which does not "
                      "encrypt; mailwire refuses unencrypted TLS "
                      "(SSLConfidentiality).",
                      c ? SSL_CIPHER_get_name(c) : "(none)");
}

int mw_tls_after_handshake(mw_tls *t, mw_sslinfo *info, mw_errorinfo *err) {
  int rc = check_confidential(t, err);
  if (rc == MW_OK) /* tls_peer.c */
    rc = mw_pin_verify(t->ssl, info, err);
  if (rc != MW_OK) /* never resume a session that failed a check */
    mw_session_cache_forget(info);
  return rc;
}

/* ---- the options (sslinfo.c dispatches to these) ---- */

int mw_policy_owns(int index) {
  return index == SSLMinCipherStrength || index == SSLMaxCipherStrength ||
         index == SSLConnectionProtocolIn || index == SSLConnectionCipherIn ||
         index == SSLConfidentiality;
}

int mw_policy_set_int(mw_sslinfo *ssl, int index, long value) {
  if (index == SSLConfidentiality) {
    if (!value)
      return mw_error_set(&ssl->err, eexSSLInsecure, 0,
                          "SSLConfidentiality cannot be turned off: mailwire "
                          "never accepts a TLS connection that does not "
                          "encrypt (NULL or export cipher suites). For a "
                          "plaintext connection, use no SSLInfo.");
    return MW_OK;
  }
  if (value < 0 || value > 4096)
    return mw_error_set(&ssl->err, eexInvalidArgument, 0,
                        "%s must be 0 (the library chooses) or a number of "
                        "key bits such as 128 or 256, not %ld.",
                        index == SSLMinCipherStrength ? "SSLMinCipherStrength"
                                                      : "SSLMaxCipherStrength",
                        value);
  if (index == SSLMinCipherStrength)
    ssl->min_strength = value;
  else
    ssl->max_strength = value;
  return MW_OK;
}

int mw_policy_get_int(const mw_sslinfo *ssl, int index, long *value) {
  switch (index) {
  case SSLMinCipherStrength:
    *value = ssl->min_strength;
    return MW_OK;
  case SSLMaxCipherStrength:
    *value = ssl->max_strength;
    return MW_OK;
  case SSLConfidentiality:
    *value = 1; /* always enforced */
    return MW_OK;
  default:
    return mw_error_set((mw_errorinfo *)&ssl->err, eexInvalidArgument, 0,
                        "Option %d is an array; it cannot be read back as a "
                        "number.",
                        index);
  }
}

int mw_policy_set_array(mw_sslinfo *ssl, int index, const long *values,
                        size_t n) {
  unsigned mask = 0;
  if (n && !values)
    return mw_error_set(&ssl->err, eexInvalidArgument, 0,
                        "The array of option %d is NULL.", index);
  int rc = index == SSLConnectionProtocolIn
               ? mw_policy_check_protocols(values, n, &mask, &ssl->err)
               : mw_policy_check_ciphers(values, n, &mask, &ssl->err);
  if (rc != MW_OK)
    return rc; /* nothing changed */
  if (index == SSLConnectionProtocolIn)
    ssl->protocols_in = mask;
  else
    ssl->ciphers_in = mask;
  return MW_OK;
}
