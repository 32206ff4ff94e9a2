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

/* One connection's check and its outcome: made with the connection's
 * SSL_CTX, freed with it. The SSLInfo's mw_revocation is shared by every
 * connection made with it (options, fetched-CRL cache behind a mutex). */
typedef struct mw_rev_check mw_rev_check;

/* tls.c: make the context check revocation with info's options as they are
 * now; *out is the connection's check (NULL for an SSLInfo without
 * revocation state). Loads the CRL files now, so a bad file is a
 * configuration error (eexSSLConfig). */
int mw_revocation_attach(SSL_CTX *ctx, mw_sslinfo *info, mw_rev_check **out,
                         mw_errorinfo *err);
void mw_rev_check_free(mw_rev_check *c);
/* The outcome of c (status SSL_REVOCATION_*, detail valid while c lives);
 * 0 when c is NULL. */
int mw_rev_check_outcome(const mw_rev_check *c, int *status,
                         const char **detail);
/* Make c's outcome the one the SSLInfo reports (SSLRevocationStatus and
 * Detail read on the SSLInfo: the last handshake made with it). */
void mw_revocation_publish(mw_revocation *shared, const mw_rev_check *c);
/* The check, run after the handshake completed (io.c), before any
 * application byte. It needs no I/O of its own: MW_REV_FETCH asks for one
 * HTTP request (mw_rev_check_request), to make before
 * mw_rev_check_deadline, and answered with mw_rev_check_answer or
 * mw_rev_check_unreachable; then run again. MW_REV_FAILED: refused
 * (mw_revocation_error says why). now_ms is the session's clock. */
enum { MW_REV_DONE, MW_REV_FETCH, MW_REV_FAILED };
int mw_rev_check_run(mw_rev_check *c, SSL *ssl, long long now_ms);
/* The check's overall deadline (SSLRevocationTimeout from its first run)
 * while a fetch is asked, else 0. */
long long mw_rev_check_deadline(const mw_rev_check *c);
/* The request: GET url, or POST body (an OCSP request) when body is set. */
void mw_rev_check_request(const mw_rev_check *c, const char **url,
                          const unsigned char **body, size_t *len);
/* The server's answer: any status, the body (a body longer than
 * MW_HTTP_MAX is taken as too large: a driver may stop reading there). */
void mw_rev_check_answer(mw_rev_check *c, int http_status,
                         const unsigned char *body, size_t len);
/* No answer (the server could not be reached, or did not speak HTTP):
 * "offline", with why in the detail. */
void mw_rev_check_unreachable(mw_rev_check *c, const char *why);
/* The deadline passed while the fetch was asked: offline, as a fetch that
 * gave no complete answer in time. */
void mw_rev_check_expired(mw_rev_check *c);
/* tls.c: if the handshake was refused for revocation, fill err (errConnect,
 * eexSSLCertificate, verify set) and return 1; else 0. */
int mw_revocation_error(const mw_rev_check *c, mw_errorinfo *err);
/* tls.c: log the outcome of the check on LOG_F_SSL. */
void mw_revocation_log(const mw_rev_check *c, mw_loghandler *log);

#endif
