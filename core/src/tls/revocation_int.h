/* revocation_int.h - what revocation.c shares with revocation_crl.c and
 * revocation_ocsp.c (private): the verdict of one source about one
 * certificate. */
#ifndef MW_REVOCATION_INT_H
#define MW_REVOCATION_INT_H

#include <openssl/ocsp.h>
#include <openssl/x509.h>
#include <stddef.h>

/* A source's verdict, from the worst: REVOKED, INVALID (an answer that
 * failed its checks: perhaps forged or replayed), OFFLINE (a server could
 * not be reached or could not answer), UNKNOWN (no usable information),
 * GOOD; NONE: the source had nothing to say. */
enum { ST_NONE, ST_GOOD, ST_REVOKED, ST_UNKNOWN, ST_OFFLINE, ST_INVALID };
#define ST_COUNT (ST_INVALID + 1)

#define MW_REV_HOW 400
typedef struct rev_verdict {
  int state;
  char how[MW_REV_HOW]; /* "revoked (CRL file, CRL number 2)" ... */
} rev_verdict;

/* A CRL and where it came from ("CRL file", "CRL from http://...").
 * label outlives the call. */
typedef struct crl_source {
  X509_CRL *crl;
  const char *label;
} crl_source;

/* What the n CRLs say about cert, whose issuer is issuer: the newest
 * applicable complete CRL decides (CRL number, then thisUpdate), and a
 * listing in any applicable CRL (even out of date, partial or delta) is a
 * revocation, except a certificateHold that a newer CRL lifted. */
void mw_crls_judge(const crl_source *crls, int n, X509 *cert, X509 *issuer,
                   rev_verdict *out);

/* What one OCSP answer says about cert. */
typedef struct ocsp_query_ctx {
  X509 *cert, *issuer;
  STACK_OF(X509) * chain; /* the verified chain: may hold the signer */
  X509_STORE *store;      /* the trusted store */
  OCSP_REQUEST *req;      /* our request (its nonce), NULL for a staple */
  const char *source;     /* "stapled OCSP", "OCSP responder URL" */
} ocsp_query_ctx;

/* The longest an answer without nextUpdate is used after its thisUpdate:
 * such an answer says newer information is always available (RFC 6960
 * 4.2.2.1), so it must be recent; a day also bounds how long one can be
 * replayed when the responder sends no nonce. */
#define OCSP_MAX_AGE_NO_NEXT (24 * 3600)
#define OCSP_CLOCK_SKEW 300 /* seconds of leeway on thisUpdate/nextUpdate */

void mw_ocsp_judge(const unsigned char *der, long len, const ocsp_query_ctx *q,
                   rev_verdict *out);

/* printf into a verdict. */
void mw_verdict(rev_verdict *v, int state, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

#endif
