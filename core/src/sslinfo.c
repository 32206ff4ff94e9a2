/* sslinfo.c - SSLInfo: Mode, the Option indexer, and the outputs that
 * tls.c fills after a handshake. */
#include "internal.h"
#include "revocation.h"

#include <stdlib.h>
#include <string.h>

mw_sslinfo *mw_sslinfo_new(void) {
  mw_sslinfo *ssl = calloc(1, sizeof *ssl);
  if (!ssl)
    return NULL;
  ssl->hdr.magic = MW_MAGIC_SSLINFO;
  ssl->hdr.refs = 1;
  ssl->mode = MODE_CHANNEL;
  ssl->rev = mw_revocation_new();
  if (!ssl->rev) {
    free(ssl);
    return NULL;
  }
  mw_error_init(&ssl->err);
  return ssl;
}

void mw_sslinfo_ref(mw_sslinfo *ssl) {
  if (ssl)
    ssl->hdr.refs++;
}

void mw_sslinfo_reset_outputs(mw_sslinfo *ssl) {
  free(ssl->peer_subject);
  free(ssl->peer_issuer);
  ssl->peer_subject = ssl->peer_issuer = NULL;
  mw_peer_outputs_clear(ssl);
  ssl->have_outputs = 0;
  ssl->protocol_out = ssl->cipher_out = ssl->cipher_strength = 0;
  ssl->hash = ssl->hash_strength = 0;
  ssl->exchange = ssl->exchange_strength = 0;
  ssl->protocol_name[0] = ssl->cipher_name[0] = ssl->group_name[0] = '\0';
}

void mw_sslinfo_free(mw_sslinfo *ssl) {
  if (!ssl || --ssl->hdr.refs > 0)
    return;
  mw_sslinfo_reset_outputs(ssl);
  free(ssl->ca_file);
  free(ssl->ca_path);
  free(ssl->server_name);
  mw_clientcert_clear(ssl);
  mw_session_cache_forget(ssl);
  free(ssl->pinned_key);
  mw_revocation_free(ssl->rev);
  mw_error_clear(&ssl->err);
  ssl->hdr.magic = 0;
  free(ssl);
}

const mw_errorinfo *mw_sslinfo_extended_error(const mw_sslinfo *ssl) {
  return ssl ? &ssl->err : NULL;
}

int mw_sslinfo_option_type(int index) {
  switch (index) {
  case SSLNoServerNameCheck:
  case SSLNoServerCertificateValidation:
  case SSLRevocationCheckAll:
  case SSLRevocationCheckEnd:
  case SSLRevocationExcludeRoot:
  case SSLRevocationIgnoreNRC:
  case SSLRevocationIgnoreRO:
  case SSLConfidentiality:
  case SSLSessionResumed:
    return 'b';
  case SSLMinCipherStrength:
  case SSLMaxCipherStrength:
  case SSLConnectionProtocolOut:
  case SSLConnectionCipherOut:
  case SSLCipherStrength:
  case SSLHash:
  case SSLHashStrength:
  case SSLExchange:
  case SSLExchangeStrength:
    return 'i';
  case SSLConnectionProtocolIn:
  case SSLConnectionCipherIn:
    return 'a';
  case SSLClientCertificateName:
  case SSLConnectionProtocolName:
  case SSLConnectionCipherName:
  case SSLExchangeGroupName:
  case SSLPeerSubject:
  case SSLPeerIssuer:
  case SSLCAFile:
  case SSLCAPath:
  case SSLServerName:
  case SSLClientCertificatePassword:
  case SSLClientCertificateDir:
  case SSLPinnedPublicKey:
  case SSLPeerSerial:
  case SSLPeerNotBefore:
  case SSLPeerNotAfter:
  case SSLPeerSANs:
  case SSLPeerFingerprintSHA256:
  case SSLPeerCertificatePEM:
  case SSLPeerChainPEM:
    return 's';
  default:
    return mw_revocation_option_type(index);
  }
}

static int is_output(int index) {
  return (index >= SSLConnectionProtocolOut && index <= SSLPeerChainPEM) ||
         mw_revocation_is_output(index);
}

/* Inputs the reference names that a later release implements. */
static int is_not_implemented(int index) {
  if (mw_policy_owns(index) || mw_clientcert_owns(index))
    return 0;
  return index >= SSLMinCipherStrength && index <= SSLClientCertificateName;
}

static int is_live(const mw_sslinfo *ssl) {
  return ssl->live_conn && mw_conn_is_open(ssl->live_conn);
}

/* The checks every setter shares; MW_OK when index may be set as type. */
static int check_settable(mw_sslinfo *ssl, int index, int type) {
  mw_error_clear(&ssl->err);
  int actual = mw_sslinfo_option_type(index);
  if (!actual)
    return mw_error_set(&ssl->err, eexInvalidArgument, 0,
                        "%d is not an SSLInfo option index.", index);
  if (is_output(index))
    return mw_error_set(&ssl->err, eexInvalidArgument, 0,
                        "Option %d is an output attribute of the "
                        "connection and cannot be set.",
                        index);
  if (is_not_implemented(index))
    return mw_error_set(&ssl->err, eexNotImplemented, 0,
                        "Option %d (revocation, cipher, protocol and client "
                        "certificate control) is not implemented in this "
                        "version of mailwire; nothing was changed.",
                        index);
  if (is_live(ssl))
    return mw_error_set(&ssl->err, eexSSLConnected, 0,
                        "The SSLInfo is in use by a live connection; "
                        "disconnect before changing its options.");
  if (actual != type && !(actual == 'b' && type == 'i'))
    return mw_error_set(&ssl->err, eexInvalidArgument, 0,
                        "Option %d takes a %s value.", index,
                        actual == 's' ? "string" : "boolean or number");
  mw_session_cache_forget(ssl); /* never resume under other settings */
  return MW_OK;
}

int mw_sslinfo_set_mode(mw_sslinfo *ssl, int mode) {
  if (!ssl)
    return errInvalidArgument;
  mw_error_clear(&ssl->err);
  if (mode != MODE_CHANNEL && mode != MODE_STARTTLS)
    return mw_error_set(&ssl->err, eexInvalidArgument, 0,
                        "Mode must be MODE_CHANNEL (0) or MODE_STARTTLS "
                        "(1), not %d.",
                        mode);
  if (is_live(ssl))
    return mw_error_set(&ssl->err, eexSSLConnected, 0,
                        "The SSLInfo is in use by a live connection; "
                        "disconnect before changing its mode.");
  ssl->mode = mode;
  mw_session_cache_forget(ssl);
  return MW_OK;
}

int mw_sslinfo_mode(const mw_sslinfo *ssl) {
  return ssl ? ssl->mode : MODE_CHANNEL;
}

int mw_sslinfo_set_option_int(mw_sslinfo *ssl, int index, long value) {
  if (!ssl)
    return errInvalidArgument;
  int rc = check_settable(ssl, index, 'i');
  if (rc != MW_OK)
    return rc;
  if (mw_policy_owns(index))
    return mw_policy_set_int(ssl, index, value);
  if (mw_revocation_owns(index))
    return mw_revocation_set_int(ssl->rev, index, value, &ssl->err);
  if (index == SSLNoServerNameCheck)
    ssl->no_name_check = value != 0;
  else if (index == SSLNoServerCertificateValidation)
    ssl->no_verify = value != 0;
  return MW_OK;
}

static char **string_slot(mw_sslinfo *ssl, int index) {
  switch (index) {
  case SSLCAFile:
    return &ssl->ca_file;
  case SSLCAPath:
    return &ssl->ca_path;
  case SSLServerName:
    return &ssl->server_name;
  default:
    return NULL;
  }
}

int mw_sslinfo_set_option_str(mw_sslinfo *ssl, int index, const char *value) {
  if (!ssl)
    return errInvalidArgument;
  int rc = check_settable(ssl, index, 's');
  if (rc != MW_OK)
    return rc;
  if (value && *value) {
    rc = mw_check_arg(&ssl->err, "option value", value, 0, 4096);
    if (rc != MW_OK)
      return rc;
  }
  if (mw_clientcert_owns(index))
    return mw_clientcert_set_str(ssl, index, value);
  if (index == SSLPinnedPublicKey)
    return mw_pin_set(ssl, value);
  if (mw_revocation_owns(index))
    return mw_revocation_set_str(ssl->rev, index, value, &ssl->err);
  char **slot = string_slot(ssl, index);
  char *copy = value && *value ? mw_strdup(value) : NULL;
  if (value && *value && !copy)
    return mw_error_set(&ssl->err, eexNoMemory, 0, NULL);
  free(*slot);
  *slot = copy; /* "" or NULL restores the default */
  return MW_OK;
}

int mw_sslinfo_set_option_array(mw_sslinfo *ssl, int index, const long *values,
                                size_t n) {
  if (!ssl)
    return errInvalidArgument;
  int rc = check_settable(ssl, index, 'a');
  if (rc != MW_OK)
    return rc;
  return mw_policy_set_array(ssl, index, values, n);
}

static int check_gettable(mw_sslinfo *ssl, int index, int type) {
  mw_error_clear(&ssl->err);
  int actual = mw_sslinfo_option_type(index);
  if (!actual)
    return mw_error_set(&ssl->err, eexInvalidArgument, 0,
                        "%d is not an SSLInfo option index.", index);
  if (is_not_implemented(index))
    return mw_error_set(&ssl->err, eexNotImplemented, 0,
                        "Option %d is not implemented in this version of "
                        "mailwire.",
                        index);
  if (actual != type && !(actual == 'b' && type == 'i'))
    return mw_error_set(&ssl->err, eexInvalidArgument, 0, "Option %d is %s.",
                        index,
                        actual == 's'   ? "a string value"
                        : actual == 'a' ? "an array of values (read it "
                                          "with the array getter)"
                                        : "a boolean or number value");
  /* The revocation outcome is kept also when the handshake was refused. */
  int have = mw_revocation_is_output(index)
                 ? mw_revocation_has_outcome(ssl->rev)
                 : ssl->have_outputs;
  if (is_output(index) && !have)
    return mw_error_set(&ssl->err, eexSSLNocontext, 0,
                        "No TLS connection has been established with this "
                        "SSLInfo yet, so option %d has no value.",
                        index);
  return MW_OK;
}

int mw_sslinfo_get_option_int(mw_sslinfo *ssl, int index, long *value) {
  if (value)
    *value = 0; /* defined on failure too: bindings read it */
  if (!ssl || !value)
    return errInvalidArgument;
  int rc = check_gettable(ssl, index, 'i');
  if (rc != MW_OK)
    return rc;
  if (mw_policy_owns(index))
    return mw_policy_get_int(ssl, index, value);
  if (index == SSLSessionResumed) {
    *value = ssl->session_resumed;
    return MW_OK;
  }
  switch (index) {
  case SSLNoServerNameCheck:
    *value = ssl->no_name_check;
    break;
  case SSLNoServerCertificateValidation:
    *value = ssl->no_verify;
    break;
  case SSLConnectionProtocolOut:
    *value = ssl->protocol_out;
    break;
  case SSLConnectionCipherOut:
    *value = ssl->cipher_out;
    break;
  case SSLCipherStrength:
    *value = ssl->cipher_strength;
    break;
  case SSLHash:
    *value = ssl->hash;
    break;
  case SSLHashStrength:
    *value = ssl->hash_strength;
    break;
  case SSLExchange:
    *value = ssl->exchange;
    break;
  case SSLExchangeStrength:
    *value = ssl->exchange_strength;
    break;
  default:
    *value =
        mw_revocation_owns(index) ? mw_revocation_get_int(ssl->rev, index) : 0;
  }
  return MW_OK;
}

int mw_sslinfo_get_option_str(mw_sslinfo *ssl, int index, const char **value) {
  if (value)
    *value = NULL;
  if (!ssl || !value)
    return errInvalidArgument;
  int rc = check_gettable(ssl, index, 's');
  if (rc != MW_OK)
    return rc;
  if (mw_clientcert_owns(index)) {
    *value = mw_clientcert_get_str(ssl, index);
    return MW_OK;
  }
  if (mw_peer_owns_output(index) || index == SSLPinnedPublicKey) {
    *value = index == SSLPinnedPublicKey
                 ? (ssl->pinned_key ? ssl->pinned_key : "")
                 : mw_peer_output_str(ssl, index);
    return MW_OK;
  }
  switch (index) {
  case SSLConnectionProtocolName:
    *value = ssl->protocol_name;
    break;
  case SSLConnectionCipherName:
    *value = ssl->cipher_name;
    break;
  case SSLExchangeGroupName:
    *value = ssl->group_name;
    break;
  case SSLPeerSubject:
    *value = ssl->peer_subject ? ssl->peer_subject : "";
    break;
  case SSLPeerIssuer:
    *value = ssl->peer_issuer ? ssl->peer_issuer : "";
    break;
  default: {
    if (mw_revocation_owns(index)) {
      *value = mw_revocation_get_str(ssl->rev, index);
      break;
    }
    char **slot = string_slot(ssl, index);
    *value = slot && *slot ? *slot : "";
  }
  }
  return MW_OK;
}

int mw_sslinfo_get_option_array(mw_sslinfo *ssl, int index, long *values,
                                size_t cap, size_t *n) {
  if (n)
    *n = 0;
  if (!ssl || !n || (cap && !values))
    return errInvalidArgument;
  int rc = check_gettable(ssl, index, 'a');
  if (rc != MW_OK)
    return rc;
  *n = mw_policy_get_array(ssl, index, values, cap);
  return MW_OK;
}
