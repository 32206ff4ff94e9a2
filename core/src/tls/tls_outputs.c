/* tls_outputs.c - what one TLS handshake produced: the output options of
 * SSLInfo (20..39, SSLRevocationStatus, SSLRevocationDetail) as a value
 * that belongs to one connection. tls.c fills a client's own copy; the
 * SSLInfo keeps a copy of the most recent one (sslinfo.c). Reading goes
 * through here for both, so a client and an SSLInfo answer alike. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

/* The malloc'd strings of o, in one list for clear and copy. */
#define MW_OUT_STRINGS(o)                                                     \
  {                                                                           \
    &(o)->peer_subject, &(o)->peer_issuer, &(o)->peer_serial,                 \
        &(o)->peer_not_before, &(o)->peer_not_after, &(o)->peer_sans,         \
        &(o)->peer_sha256, &(o)->peer_pem, &(o)->peer_chain_pem,              \
        &(o)->rev_detail                                                      \
  }
#define MW_OUT_NSTRINGS 10

void mw_tls_outputs_clear(mw_tls_outputs *o) {
  char **all[] = MW_OUT_STRINGS(o);
  for (size_t i = 0; i < MW_OUT_NSTRINGS; i++)
    free(*all[i]);
  memset(o, 0, sizeof *o);
}

int mw_tls_outputs_copy(mw_tls_outputs *dst, const mw_tls_outputs *src) {
  mw_tls_outputs_clear(dst);
  *dst = *src; /* the numbers and fixed arrays; strings replaced below */
  char **to[] = MW_OUT_STRINGS(dst);
  char *const *from[] = MW_OUT_STRINGS(src);
  int failed = 0;
  for (size_t i = 0; i < MW_OUT_NSTRINGS; i++) {
    *to[i] = mw_strdup(*from[i]);
    if (*from[i] && !*to[i])
      failed = 1;
  }
  if (failed)
    mw_tls_outputs_clear(dst);
  return failed ? -1 : 0;
}

static int is_revocation_output(int index) {
  return index == SSLRevocationStatus || index == SSLRevocationDetail;
}

int mw_tls_outputs_is_output(int index) {
  return (index >= SSLConnectionProtocolOut && index <= SSLPeerChainPEM) ||
         is_revocation_output(index);
}

/* The checks both readers share: an output index of the right type that
 * o has a value for. */
static int check_readable(const mw_tls_outputs *o, int index, int want_str,
                          mw_errorinfo *err) {
  if (!mw_tls_outputs_is_output(index))
    return mw_error_set(err, eexInvalidArgument, 0,
                        "%d is not a TLS output option (20..39, 52, 53).",
                        index);
  int is_str = mw_sslinfo_option_type(index) == 's';
  if (is_str != want_str)
    return mw_error_set(err, eexInvalidArgument, 0, "Option %d is a %s value.",
                        index, is_str ? "string" : "boolean or number");
  /* The revocation outcome is kept also when the handshake was refused. */
  int have = is_revocation_output(index) ? o->have_rev : o->have;
  if (!have)
    return mw_error_set(err, eexSSLNocontext, 0,
                        "No TLS connection has been established yet, so "
                        "option %d has no value.",
                        index);
  return MW_OK;
}

int mw_tls_outputs_int(const mw_tls_outputs *o, int index, long *value,
                       mw_errorinfo *err) {
  *value = 0;
  int rc = check_readable(o, index, 0, err);
  if (rc != MW_OK)
    return rc;
  switch (index) {
  case SSLConnectionProtocolOut:
    *value = o->protocol_out;
    break;
  case SSLConnectionCipherOut:
    *value = o->cipher_out;
    break;
  case SSLCipherStrength:
    *value = o->cipher_strength;
    break;
  case SSLHash:
    *value = o->hash;
    break;
  case SSLHashStrength:
    *value = o->hash_strength;
    break;
  case SSLExchange:
    *value = o->exchange;
    break;
  case SSLExchangeStrength:
    *value = o->exchange_strength;
    break;
  case SSLSessionResumed:
    *value = o->session_resumed;
    break;
  case SSLRevocationStatus:
    *value = o->rev_status;
    break;
  default:
    break;
  }
  return MW_OK;
}

static const char *string_output(const mw_tls_outputs *o, int index) {
  switch (index) {
  case SSLConnectionProtocolName:
    return o->protocol_name;
  case SSLConnectionCipherName:
    return o->cipher_name;
  case SSLExchangeGroupName:
    return o->group_name;
  case SSLPeerSubject:
    return o->peer_subject;
  case SSLPeerIssuer:
    return o->peer_issuer;
  case SSLPeerSerial:
    return o->peer_serial;
  case SSLPeerNotBefore:
    return o->peer_not_before;
  case SSLPeerNotAfter:
    return o->peer_not_after;
  case SSLPeerSANs:
    return o->peer_sans;
  case SSLPeerFingerprintSHA256:
    return o->peer_sha256;
  case SSLPeerCertificatePEM:
    return o->peer_pem;
  case SSLPeerChainPEM:
    return o->peer_chain_pem;
  case SSLRevocationDetail:
    return o->rev_detail;
  default:
    return NULL;
  }
}

int mw_tls_outputs_str(const mw_tls_outputs *o, int index, const char **value,
                       mw_errorinfo *err) {
  *value = NULL;
  int rc = check_readable(o, index, 1, err);
  if (rc != MW_OK)
    return rc;
  const char *v = string_output(o, index);
  *value = v ? v : "";
  return MW_OK;
}
