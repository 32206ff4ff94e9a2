/* revocation_ocsp.c - what one OCSP answer says about one certificate.
 *
 *   - An answer that is not OCSP, or an unsuccessful one saying tryLater or
 *     internalError, means the responder is not working: OFFLINE. The other
 *     unsuccessful statuses (malformedRequest, sigRequired, unauthorized)
 *     mean it has nothing for us: UNKNOWN.
 *   - An answer whose signature does not verify, that is signed by a key
 *     the issuer did not authorise (neither the issuer nor a certificate
 *     of the issuer with the OCSPSigning extended key usage), that speaks
 *     only of other certificates, or that carries another request's nonce
 *     may be forged or replayed: INVALID, never "no information".
 *   - Every single response is read (one answer may hold several for the
 *     same certificate): an authentic "revoked" wins, whatever its age or
 *     nonce, since a revocation is final.
 *   - "good" and "unknown" count only while fresh: nextUpdate not passed,
 *     or without nextUpdate a thisUpdate at most OCSP_MAX_AGE_NO_NEXT old;
 *     a thisUpdate in the future (beyond the clock skew) is "not valid
 *     yet", a clock problem, not an old answer.
 *   - Nonce: when the responder echoes one it must be ours. Many responders
 *     pre-sign their answers (RFC 5019) and send none; such an answer is
 *     accepted on its freshness alone. */
#include "revocation_int.h"

#include <openssl/err.h>
#include <stdio.h>
#include <string.h>

static const char *response_status_name(int status) {
  switch (status) {
  case OCSP_RESPONSE_STATUS_MALFORMEDREQUEST:
    return "malformedRequest";
  case OCSP_RESPONSE_STATUS_INTERNALERROR:
    return "internalError";
  case OCSP_RESPONSE_STATUS_TRYLATER:
    return "tryLater";
  case OCSP_RESPONSE_STATUS_SIGREQUIRED:
    return "sigRequired";
  case OCSP_RESPONSE_STATUS_UNAUTHORIZED:
    return "unauthorized";
  default:
    return "an unknown status";
  }
}

/* The basic response of a DER OCSPResponse, or NULL with out set. */
static OCSP_BASICRESP *basic_of(const unsigned char *der, long len,
                                const ocsp_query_ctx *q, rev_verdict *out) {
  const unsigned char *p = der;
  OCSP_RESPONSE *resp = d2i_OCSP_RESPONSE(NULL, &p, len);
  OCSP_BASICRESP *bs = NULL;
  int status = resp ? OCSP_response_status(resp) : -1;
  if (status == OCSP_RESPONSE_STATUS_SUCCESSFUL)
    bs = OCSP_response_get1_basic(resp);
  OCSP_RESPONSE_free(resp);
  ERR_clear_error();
  if (bs)
    return bs;
  if (status == OCSP_RESPONSE_STATUS_SUCCESSFUL || status < 0)
    mw_verdict(out, q->req ? ST_OFFLINE : ST_UNKNOWN,
               "%s: it answered something that is not OCSP (%s)",
               q->req ? "OCSP responder offline" : "no usable information",
               q->source);
  else if (status == OCSP_RESPONSE_STATUS_TRYLATER ||
           status == OCSP_RESPONSE_STATUS_INTERNALERROR)
    mw_verdict(out, ST_OFFLINE, "OCSP responder offline: it answered %s (%s)",
               response_status_name(status), q->source);
  else
    mw_verdict(out, ST_UNKNOWN, "no usable information: it answered %s (%s)",
               response_status_name(status), q->source);
  return NULL;
}

/* Why OCSP_basic_verify refused, from OpenSSL's error queue (buf holds
 * the reason the signer's certificate failed, when that was it). */
static const char *verify_refusal(char *buf, size_t n) {
  const char *why = "it is signed by a key not authorised by the issuer";
  const char *data = NULL;
  int flags = 0;
  unsigned long e;
  while ((e = ERR_get_error_all(NULL, NULL, NULL, &data, &flags)) != 0) {
    if (ERR_GET_LIB(e) != ERR_LIB_OCSP)
      continue;
    if (ERR_GET_REASON(e) == OCSP_R_MISSING_OCSPSIGNING_USAGE) {
      ERR_clear_error();
      return "its delegated signer lacks the OCSPSigning extended key usage "
             "(not authorised by the issuer)";
    }
    if (ERR_GET_REASON(e) == OCSP_R_SIGNATURE_FAILURE)
      why = "its signature does not verify";
    if (ERR_GET_REASON(e) == OCSP_R_CERTIFICATE_VERIFY_ERROR) {
      const char *text = data && (flags & ERR_TXT_STRING) ? data : "";
      if (strncmp(text, "Verify error:", 13) == 0)
        text += 13 + strspn(text + 13, " ");
      snprintf(buf, n, "its signer's certificate does not verify (%s)",
               text[0] ? text : "no reason given");
      why = buf;
    }
  }
  return why;
}

/* Is single about q->cert? Compared with the hash the answer used. */
static int about_cert(OCSP_SINGLERESP *single, const ocsp_query_ctx *q) {
  const OCSP_CERTID *id = OCSP_SINGLERESP_get0_id(single);
  ASN1_OBJECT *md_oid = NULL;
  if (!id || !OCSP_id_get0_info(NULL, &md_oid, NULL, NULL, (OCSP_CERTID *)id))
    return 0;
  const EVP_MD *md = EVP_get_digestbyobj(md_oid);
  OCSP_CERTID *mine =
      md ? OCSP_cert_id_new(md, X509_get_subject_name(q->issuer),
                            X509_get0_pubkey_bitstr(q->issuer),
                            X509_get0_serialNumber(q->cert))
         : NULL;
  int same = mine && OCSP_id_cmp(mine, id) == 0;
  OCSP_CERTID_free(mine);
  return same;
}

/* Why a good/unknown answer is not fresh, or NULL. */
static const char *stale(ASN1_GENERALIZEDTIME *thisupd,
                         ASN1_GENERALIZEDTIME *nextupd, char *buf, size_t n) {
  int days = 0, secs = 0;
  if (!thisupd || !ASN1_TIME_diff(&days, &secs, thisupd, NULL))
    return "it has no readable thisUpdate";
  long age = (long)days * 86400 + secs; /* negative: in the future */
  if (age < -OCSP_CLOCK_SKEW)
    return "it is not valid yet: its thisUpdate is in the future, so this "
           "machine's clock or the responder's is wrong";
  if (nextupd) {
    if (X509_cmp_time(nextupd, NULL) < 0 &&
        ASN1_TIME_diff(&days, &secs, nextupd, NULL) &&
        (long)days * 86400 + secs > OCSP_CLOCK_SKEW)
      return "it is out of date: its nextUpdate has passed";
    return NULL;
  }
  if (age <= OCSP_MAX_AGE_NO_NEXT + OCSP_CLOCK_SKEW)
    return NULL;
  snprintf(buf, n,
           "it is %ld days old and has no nextUpdate: too old to trust (at "
           "most %d hours)",
           age / 86400, OCSP_MAX_AGE_NO_NEXT / 3600);
  return buf;
}

/* Walk every single response; a revocation of q->cert wins. */
static void read_answers(OCSP_BASICRESP *bs, const ocsp_query_ctx *q,
                         int nonce_ok, rev_verdict *out) {
  int found = 0, best = ST_NONE;
  char why[160] = "", buf[160];
  for (int i = 0; i < OCSP_resp_count(bs); i++) {
    OCSP_SINGLERESP *single = OCSP_resp_get0(bs, i);
    if (!about_cert(single, q))
      continue;
    found = 1;
    int reason;
    ASN1_GENERALIZEDTIME *rev, *thisupd, *nextupd;
    int st =
        OCSP_single_get0_status(single, &reason, &rev, &thisupd, &nextupd);
    if (st == V_OCSP_CERTSTATUS_REVOKED) {
      mw_verdict(out, ST_REVOKED, "revoked (%s)", q->source);
      return;
    }
    const char *old = stale(thisupd, nextupd, buf, sizeof buf);
    if (old && !why[0])
      snprintf(why, sizeof why, "%s", old);
    if (!old && best != ST_GOOD)
      best = st == V_OCSP_CERTSTATUS_GOOD ? ST_GOOD : ST_UNKNOWN;
  }
  if (!found)
    mw_verdict(out, ST_INVALID,
               "refused answer: it answers only for other certificates (%s)",
               q->source);
  else if (!nonce_ok)
    mw_verdict(out, ST_INVALID,
               "refused answer: it carries the nonce of another request, a "
               "replay (%s)",
               q->source);
  else if (best == ST_GOOD)
    mw_verdict(out, ST_GOOD, "good (%s)", q->source);
  else if (best == ST_UNKNOWN)
    mw_verdict(out, ST_UNKNOWN, "unknown to the responder (%s)", q->source);
  else
    mw_verdict(out, ST_UNKNOWN, "no usable information: %s (%s)", why,
               q->source);
}

void mw_ocsp_judge(const unsigned char *der, long len, const ocsp_query_ctx *q,
                   rev_verdict *out) {
  out->state = ST_NONE;
  out->how[0] = '\0';
  OCSP_BASICRESP *bs = basic_of(der, len, q, out);
  if (!bs)
    return;
  ERR_clear_error();
  if (OCSP_basic_verify(bs, q->chain, q->store, 0) <= 0) {
    char buf[160];
    mw_verdict(out, ST_INVALID, "refused answer: %s (%s)",
               verify_refusal(buf, sizeof buf), q->source);
  } else {
    /* 0: both carry a nonce and they differ. 3 (ours only) is an answer
     * signed in advance: accepted on freshness. */
    int nonce_ok = !q->req || OCSP_check_nonce(q->req, bs) != 0;
    read_answers(bs, q, nonce_ok, out);
  }
  OCSP_BASICRESP_free(bs);
  ERR_clear_error();
}
