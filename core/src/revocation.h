/* revocation.h - certificate revocation checking (private): the
 * SSLRevocation* options, CRL files, CRLs from distribution points, OCSP
 * stapling and OCSP queries, and the outcome (SSLRevocationStatus). */
#ifndef MW_REVOCATION_H
#define MW_REVOCATION_H

#include "internal.h"

#include <openssl/ssl.h>

typedef struct mw_revocation mw_revocation;

mw_revocation *mw_revocation_new(void);
void mw_revocation_free(mw_revocation *r);

/* Is index one of the options this file owns (3..7, 50..53)? */
int mw_revocation_owns(int index);
/* 'b', 'i' or 's' for an owned index, else 0. */
int mw_revocation_option_type(int index);
/* Outputs (SSLRevocationStatus, SSLRevocationDetail) cannot be set. */
int mw_revocation_is_output(int index);
/* Was a handshake checked since the SSLInfo was made? Outputs stay readable
 * after a refused handshake, unlike the other outputs. */
int mw_revocation_has_outcome(const mw_revocation *r);
int mw_revocation_set_int(mw_revocation *r, int index, long value,
                          mw_errorinfo *err);
int mw_revocation_set_str(mw_revocation *r, int index, const char *value,
                          mw_errorinfo *err);
long mw_revocation_get_int(const mw_revocation *r, int index);
const char *mw_revocation_get_str(const mw_revocation *r, int index);

/* tls.c: make the context check revocation for info (loads the CRL files
 * now, so a bad file is a configuration error: eexSSLConfig). */
int mw_revocation_attach(SSL_CTX *ctx, mw_sslinfo *info, mw_errorinfo *err);
/* tls.c: if the handshake was refused for revocation, fill err (errConnect,
 * eexSSLCertificate, verify set) and return 1; else 0. */
int mw_revocation_error(SSL *ssl, mw_errorinfo *err);
/* tls.c: log the outcome of the last check on LOG_F_SSL. */
void mw_revocation_log(const mw_sslinfo *info, mw_loghandler *log);

#endif
