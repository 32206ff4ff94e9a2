/* revocation_crl.c - what a set of CRLs says about one certificate.
 *
 * The CRLs come from SSLCRLFile, the cache of fetched CRLs and a
 * distribution point, all judged together so that the order in which they
 * were given or fetched never matters:
 *   - only CRLs of the certificate's issuer whose signature verifies with
 *     the issuer's key count;
 *   - the IssuingDistributionPoint scope is honoured: a CRL that covers
 *     only CA certificates says nothing about a leaf (and the reverse);
 *     one that covers only some reasons can revoke but never clear; an
 *     indirect CRL (entries of other issuers) is not supported and
 *     ignored, with the reason in the detail;
 *   - a delta CRL can revoke (its listing) but never clear: without its
 *     base we cannot tell what it leaves out;
 *   - a listing is a revocation whatever the CRL's age: a revocation cannot
 *     be undone, and an out-of-date CRL only fails to say what happened
 *     since. The exception is certificateHold, which a newer CRL may lift;
 *   - otherwise the newest complete CRL decides (the higher CRL number,
 *     then the later thisUpdate): good if it is current and does not list
 *     the certificate, no information if it is out of date. */
#include "revocation_int.h"

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void mw_verdict(rev_verdict *v, int state, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(v->how, sizeof v->how, fmt, ap);
  va_end(ap);
  v->state = state;
}

/* "CRL number 5", or "a CRL" when it has none. */
static void crl_name(X509_CRL *crl, char *buf, size_t n) {
  ASN1_INTEGER *num = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL, NULL);
  BIGNUM *bn = num ? ASN1_INTEGER_to_BN(num, NULL) : NULL;
  char *dec = bn ? BN_bn2dec(bn) : NULL;
  if (dec)
    snprintf(buf, n, "CRL number %.40s", dec);
  else
    snprintf(buf, n, "a CRL");
  OPENSSL_free(dec);
  BN_free(bn);
  ASN1_INTEGER_free(num);
}

/* Is a newer than b? The CRL number says; without numbers, thisUpdate. */
static int newer(X509_CRL *a, X509_CRL *b) {
  ASN1_INTEGER *na = X509_CRL_get_ext_d2i(a, NID_crl_number, NULL, NULL);
  ASN1_INTEGER *nb = X509_CRL_get_ext_d2i(b, NID_crl_number, NULL, NULL);
  int cmp = na && nb ? ASN1_INTEGER_cmp(na, nb) : 0;
  ASN1_INTEGER_free(na);
  ASN1_INTEGER_free(nb);
  if (cmp == 0)
    cmp = ASN1_TIME_compare(X509_CRL_get0_lastUpdate(a),
                            X509_CRL_get0_lastUpdate(b));
  return cmp > 0;
}

/* Why crl's IssuingDistributionPoint leaves cert out (NULL: it covers
 * cert); *partial when it covers only some reasons. */
static const char *scope_refusal(X509_CRL *crl, X509 *cert, int *partial) {
  ISSUING_DIST_POINT *idp =
      X509_CRL_get_ext_d2i(crl, NID_issuing_distribution_point, NULL, NULL);
  const char *why = NULL;
  *partial = 0;
  if (!idp)
    return NULL;
  int ca = X509_check_ca(cert) != 0;
  if (idp->indirectCRL)
    why = "is an indirect CRL, not supported";
  else if (idp->onlyattr)
    why = "covers only attribute certificates";
  else if (idp->onlyCA && !ca)
    why = "covers only CA certificates";
  else if (idp->onlyuser && ca)
    why = "covers only end-entity certificates";
  *partial = idp->onlysomereasons != NULL;
  ISSUING_DIST_POINT_free(idp);
  return why;
}

static int is_delta(X509_CRL *crl) {
  return X509_CRL_get_ext_by_NID(crl, NID_delta_crl, -1) >= 0;
}

enum { NOT_LISTED, LISTED, ON_HOLD };

/* Does crl list cert, and for good (not a certificateHold)? */
static int listing(X509_CRL *crl, X509 *cert) {
  X509_REVOKED *entry = NULL;
  if (X509_CRL_get0_by_cert(crl, &entry, cert) != 1) /* 2: removeFromCRL */
    return NOT_LISTED;
  ASN1_ENUMERATED *reason =
      X509_REVOKED_get_ext_d2i(entry, NID_crl_reason, NULL, NULL);
  long code = reason ? ASN1_ENUMERATED_get(reason) : -1;
  ASN1_ENUMERATED_free(reason);
  return code == CRL_REASON_CERTIFICATE_HOLD ? ON_HOLD : LISTED;
}

/* 0 when crl is current, else why not. */
static const char *out_of_date(X509_CRL *crl) {
  const ASN1_TIME *next = X509_CRL_get0_nextUpdate(crl);
  if (next && X509_cmp_current_time(next) < 0)
    return "is out of date (its nextUpdate has passed)";
  if (X509_cmp_current_time(X509_CRL_get0_lastUpdate(crl)) > 0)
    return "is not valid yet (its thisUpdate is in the future)";
  return NULL;
}

static void say_revoked(const crl_source *s, int hold, rev_verdict *out) {
  char name[64];
  crl_name(s->crl, name, sizeof name);
  mw_verdict(out, ST_REVOKED, "revoked%s (%s, %s%s%s)",
             hold ? ", on hold" : "", s->label,
             is_delta(s->crl) ? "delta " : "",
             out_of_date(s->crl) ? "out of date " : "", name);
}

/* The first reason a CRL of the issuer was left aside, for the detail. */
static void note(char *buf, size_t n, const crl_source *s, const char *why) {
  if (buf[0])
    return;
  char name[64];
  crl_name(s->crl, name, sizeof name);
  snprintf(buf, n, "%s %s (%s)", name, why, s->label);
}

/* Does crl apply to cert at all (issuer, signature, scope)? A listing
 * in a partial or delta CRL is reported in *revoked_by. */
static int applies(const crl_source *s, X509 *cert, X509 *issuer, char *why,
                   size_t n, const crl_source **revoked_by) {
  EVP_PKEY *key = X509_get0_pubkey(issuer);
  if (!key || X509_CRL_verify(s->crl, key) != 1) {
    ERR_clear_error();
    note(why, n, s, "has a signature that does not verify");
    return 0;
  }
  int partial;
  const char *refused = scope_refusal(s->crl, cert, &partial);
  if (refused) {
    note(why, n, s, refused);
    return 0;
  }
  int delta = is_delta(s->crl);
  if (!delta && !partial)
    return 1;
  if (listing(s->crl, cert) != NOT_LISTED && !*revoked_by)
    *revoked_by = s;
  note(why, n, s,
       delta ? "is a delta CRL (only its listings count)"
             : "covers only some revocation reasons (only its listings "
               "count)");
  return 0;
}

void mw_crls_judge(const crl_source *crls, int n, X509 *cert, X509 *issuer,
                   rev_verdict *out) {
  const crl_source *newest = NULL, *revoked_by = NULL;
  char why[MW_REV_HOW / 2] = "";
  out->state = ST_NONE;
  out->how[0] = '\0';
  for (int i = 0; i < n; i++) {
    const crl_source *s = &crls[i];
    if (X509_NAME_cmp(X509_CRL_get_issuer(s->crl),
                      X509_get_issuer_name(cert)) != 0 ||
        !applies(s, cert, issuer, why, sizeof why, &revoked_by))
      continue;
    if (listing(s->crl, cert) == LISTED && !revoked_by)
      revoked_by = s; /* whatever its age: a revocation is final */
    if (!newest || newer(s->crl, newest->crl))
      newest = s;
  }
  ERR_clear_error();
  if (revoked_by) {
    say_revoked(revoked_by, 0, out);
  } else if (newest && listing(newest->crl, cert) == ON_HOLD) {
    say_revoked(newest, 1, out);
  } else if (newest) {
    char name[64];
    const char *stale = out_of_date(newest->crl);
    crl_name(newest->crl, name, sizeof name);
    if (stale)
      mw_verdict(out, ST_UNKNOWN,
                 "no usable information: the newest CRL of its issuer, %s, "
                 "%s (%s)",
                 name, stale, newest->label);
    else
      mw_verdict(out, ST_GOOD, "good (%s, %s)", newest->label, name);
  } else if (why[0]) {
    mw_verdict(out, ST_UNKNOWN,
               "no usable information: no CRL of its issuer applies: %s", why);
  }
}
