/* revocation.c - is any certificate of the server's chain revoked?
 *
 * Runs once per handshake, after it completed and before any application
 * byte moves (io.c's TLS_CHECK step): the chain was verified, and a
 * stapled OCSP response (if any) arrived with it. The check never does
 * I/O: when it needs a URL fetched it returns MW_REV_FETCH, the session
 * asks its driver (MW_IO_FETCH), and the answer resumes the check. For
 * each certificate the options select, the sources are asked in this
 * order until one gives a
 * definite answer (good or revoked):
 *   1. the CRLs held: the CRL files the caller gave (SSLCRLFile) and CRLs
 *      fetched earlier and still valid (cached on the SSLInfo), judged
 *      together by revocation_crl.c;
 *   2. for the leaf, the stapled OCSP response;
 *   3. the OCSP responder in the certificate's AIA (http:// only);
 *   4. the CRL at the certificate's distribution point (http:// only),
 *      judged with the CRLs held.
 * revocation_ocsp.c judges OCSP answers. A certificate's outcome is, in
 * this order: revoked if any source says so, good if one says so, refused
 * (an answer that may be forged or replayed), offline (a server could not
 * be reached or could not answer), no information. Revoked and refused
 * always fail; offline and no information fail only without
 * SSLRevocationIgnoreRO/IgnoreNRC. */
#include "revocation.h"

#include "revocation_int.h"

#include "http.h"

#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define MAX_CACHED_CRLS 16
#define MAX_CHAIN 10

typedef struct cached_crl {
  char *url;
  X509_CRL *crl;
} cached_crl;

/* The options; the same five flags and timeout are copied into each
 * check, so a connection keeps the settings it started with. */
typedef struct rev_options {
  int check_all, check_end, exclude_root, ignore_nrc, ignore_ro;
  long timeout_ms;
} rev_options;

/* On the SSLInfo, shared by every connection made with it: the options,
 * the CRLs fetched from distribution points, and the outcome of the last
 * check (what SSLRevocationStatus/Detail read on the SSLInfo). */
struct mw_revocation {
  rev_options opt;
  char *crl_file;
  pthread_mutex_t lock; /* guards cache and the published outcome */
  cached_crl cache[MAX_CACHED_CRLS];
  int have_outcome;
  int status; /* SSL_REVOCATION_* */
  char detail[1536];
};

/* One fetch the check asked the driver for, and what came of it. The
 * check is run again from the start after each answer (it is cheap next
 * to a fetch), and finds the answer here by URL: so the walk over the
 * chain stays straight-line code, and an OCSP answer is judged against
 * the request (its nonce) that was sent. */
typedef struct rev_fetch {
  char *url;
  int is_crl;
  OCSP_REQUEST *req; /* OCSP: the request sent (DER in der) */
  unsigned char *der;
  int der_len;
  unsigned char *body; /* a 200 answer not judged yet */
  size_t len;
  int judged;    /* v holds what the fetch said */
  rev_verdict v; /* a failure, or the OCSP answer's verdict */
  X509_CRL *crl; /* CRL: the one fetched */
  int depth;     /* of the certificate that asked */
} rev_fetch;

enum { RUN_IDLE, RUN_ACTIVE, RUN_DONE };

/* One connection's check: made with its SSL_CTX, freed with it. */
struct mw_rev_check {
  mw_revocation *shared; /* the SSLInfo's; it outlives the connection */
  rev_options opt;
  int no_verify;
  STACK_OF(X509_CRL) * file_crls;
  int run;            /* RUN_*: RUN_IDLE when nothing is to be checked */
  long long now;      /* the session's clock for this run */
  long long deadline; /* for all fetches of one handshake, 0 unset */
  rev_fetch *fetches; /* asked so far */
  int nfetch, capfetch;
  int asking;  /* the fetch the driver has to make, or -1 */
  int depth;   /* the certificate being checked */
  int status;  /* SSL_REVOCATION_* */
  int failed;  /* the handshake was refused because of it */
  long verify; /* X509_V_* for the refusal */
  char detail[1536];
};

mw_revocation *mw_revocation_new(void) {
  mw_revocation *r = calloc(1, sizeof *r);
  if (!r)
    return NULL;
  if (pthread_mutex_init(&r->lock, NULL) != 0) {
    free(r);
    return NULL;
  }
  r->opt.check_all = 1;
  r->opt.ignore_nrc = 1;
  r->opt.ignore_ro = 1;
  r->opt.timeout_ms = 5000;
  r->status = SSL_REVOCATION_NOT_CHECKED;
  return r;
}

static void clear_cache(mw_revocation *r) {
  for (int i = 0; i < MAX_CACHED_CRLS; i++) {
    free(r->cache[i].url);
    X509_CRL_free(r->cache[i].crl);
    r->cache[i].url = NULL;
    r->cache[i].crl = NULL;
  }
}

void mw_revocation_free(mw_revocation *r) {
  if (!r)
    return;
  free(r->crl_file);
  clear_cache(r);
  pthread_mutex_destroy(&r->lock);
  free(r);
}

/* ---- options ---- */

int mw_revocation_owns(int index) {
  return (index >= SSLRevocationCheckAll && index <= SSLRevocationIgnoreRO) ||
         (index >= SSLCRLFile && index <= SSLRevocationDetail);
}

int mw_revocation_option_type(int index) {
  if (index >= SSLRevocationCheckAll && index <= SSLRevocationIgnoreRO)
    return 'b';
  if (index == SSLRevocationTimeout || index == SSLRevocationStatus)
    return 'i';
  if (index == SSLCRLFile || index == SSLRevocationDetail)
    return 's';
  return 0;
}

int mw_revocation_is_output(int index) {
  return index == SSLRevocationStatus || index == SSLRevocationDetail;
}

int mw_revocation_has_outcome(const mw_revocation *r) {
  return r && r->have_outcome;
}

static int *flag_slot(mw_revocation *r, int index) {
  switch (index) {
  case SSLRevocationCheckAll:
    return &r->opt.check_all;
  case SSLRevocationCheckEnd:
    return &r->opt.check_end;
  case SSLRevocationExcludeRoot:
    return &r->opt.exclude_root;
  case SSLRevocationIgnoreNRC:
    return &r->opt.ignore_nrc;
  case SSLRevocationIgnoreRO:
    return &r->opt.ignore_ro;
  default:
    return NULL;
  }
}

int mw_revocation_set_int(mw_revocation *r, int index, long value,
                          mw_errorinfo *err) {
  if (index == SSLRevocationTimeout) {
    if (value < 1 || value > 600000)
      return mw_error_set(err, eexInvalidArgument, 0,
                          "SSLRevocationTimeout is in milliseconds, from 1 "
                          "to 600000; %ld is out of range.",
                          value);
    r->opt.timeout_ms = value;
    return MW_OK;
  }
  int *slot = flag_slot(r, index);
  if (slot)
    *slot = value != 0;
  return MW_OK;
}

int mw_revocation_set_str(mw_revocation *r, int index, const char *value,
                          mw_errorinfo *err) {
  (void)index; /* SSLCRLFile is the only settable string */
  char *copy = NULL;
  if (value && *value) {
    copy = mw_strdup(value);
    if (!copy)
      return mw_error_set(err, eexNoMemory, 0, NULL);
  }
  free(r->crl_file);
  r->crl_file = copy; /* "" or NULL: no CRL files */
  return MW_OK;
}

long mw_revocation_get_int(const mw_revocation *r, int index) {
  if (index == SSLRevocationTimeout)
    return r->opt.timeout_ms;
  if (index == SSLRevocationStatus)
    return r->status;
  int *slot = flag_slot((mw_revocation *)r, index);
  return slot ? *slot : 0;
}

const char *mw_revocation_get_str(const mw_revocation *r, int index) {
  if (index == SSLCRLFile)
    return r->crl_file ? r->crl_file : "";
  return r->detail;
}

/* ---- CRL files ---- */

/* SSLCRLFile: one or more PEM files separated by ':' or ';', each with one
 * or more CRLs. */
static int load_crl_files(mw_rev_check *r, const char *crl_file,
                          mw_errorinfo *err) {
  r->file_crls = sk_X509_CRL_new_null();
  if (!r->file_crls)
    return mw_error_set(err, eexNoMemory, 0, NULL);
  if (!crl_file)
    return MW_OK;
  char *list = mw_strdup(crl_file), *save = NULL;
  if (!list)
    return mw_error_set(err, eexNoMemory, 0, NULL);
  int rc = MW_OK;
  for (char *path = strtok_r(list, ":;", &save); path && rc == MW_OK;
       path = strtok_r(NULL, ":;", &save)) {
    BIO *in = BIO_new_file(path, "r");
    int n = 0;
    X509_CRL *crl;
    while (in && (crl = PEM_read_bio_X509_CRL(in, NULL, NULL, NULL))) {
      if (!sk_X509_CRL_push(r->file_crls, crl))
        X509_CRL_free(crl);
      n++;
    }
    BIO_free(in);
    ERR_clear_error(); /* the read past the last CRL always "fails" */
    if (n == 0)
      rc = mw_error_set(err, eexSSLConfig, 0,
                        "The CRL file '%s' cannot be read or holds no PEM "
                        "CRL (-----BEGIN X509 CRL-----). Check the "
                        "SSLCRLFile option.",
                        path);
  }
  free(list);
  return rc;
}

/* ---- CRLs ---- */

static int crl_still_valid(X509_CRL *crl) {
  const ASN1_TIME *next = X509_CRL_get0_nextUpdate(crl);
  return !next || X509_cmp_current_time(next) > 0;
}

/* The cached CRL of url, with a reference the caller frees: another
 * connection may replace the cache slot meanwhile. */
static X509_CRL *cached(mw_revocation *r, const char *url) {
  X509_CRL *found = NULL;
  pthread_mutex_lock(&r->lock);
  for (int i = 0; i < MAX_CACHED_CRLS && !found; i++)
    if (r->cache[i].url && strcmp(r->cache[i].url, url) == 0 &&
        crl_still_valid(r->cache[i].crl) && X509_CRL_up_ref(r->cache[i].crl))
      found = r->cache[i].crl;
  pthread_mutex_unlock(&r->lock);
  return found;
}

/* Did c fetch url for the certificate being checked or a later one? */
static int fetched_later(const mw_rev_check *c, const char *url);

/* Every valid cached CRL, each with a reference (pop_free the stack).
 * Those c fetched for this certificate or a later one are left out: c
 * runs again after each fetch, and must see what it saw the first time
 * (such a CRL is judged as "CRL from <url>" when its turn comes). */
static STACK_OF(X509_CRL) *
    cached_all(mw_revocation *r, const mw_rev_check *c) {
  STACK_OF(X509_CRL) *all = sk_X509_CRL_new_null();
  pthread_mutex_lock(&r->lock);
  for (int i = 0; all && i < MAX_CACHED_CRLS; i++) {
    X509_CRL *crl = r->cache[i].crl;
    if (crl && !fetched_later(c, r->cache[i].url) && crl_still_valid(crl) &&
        X509_CRL_up_ref(crl) && !sk_X509_CRL_push(all, crl))
      X509_CRL_free(crl);
  }
  pthread_mutex_unlock(&r->lock);
  return all;
}

/* Keep a fetched CRL until its nextUpdate; replaces the same URL, else a
 * free or expired slot, else the oldest (slot order). */
static void cache_put_locked(mw_revocation *r, const char *url,
                             X509_CRL *crl) {
  int slot = -1;
  for (int i = 0; i < MAX_CACHED_CRLS && slot < 0; i++)
    if (!r->cache[i].url || strcmp(r->cache[i].url, url) == 0 ||
        !crl_still_valid(r->cache[i].crl))
      slot = i;
  if (slot < 0) {
    slot = MAX_CACHED_CRLS - 1;
    free(r->cache[0].url);
    X509_CRL_free(r->cache[0].crl);
    memmove(r->cache, r->cache + 1, sizeof r->cache[0] * slot);
    r->cache[slot].url = NULL;
    r->cache[slot].crl = NULL;
  }
  char *copy = mw_strdup(url);
  if (!copy) {
    X509_CRL_free(crl);
    return;
  }
  free(r->cache[slot].url);
  X509_CRL_free(r->cache[slot].crl);
  r->cache[slot].url = copy;
  r->cache[slot].crl = crl;
}

/* Keep a reference to crl in the shared cache. */
static void cache_put(mw_revocation *r, const char *url, X509_CRL *crl) {
  if (!X509_CRL_up_ref(crl))
    return;
  pthread_mutex_lock(&r->lock);
  cache_put_locked(r, url, crl);
  pthread_mutex_unlock(&r->lock);
}

/* ---- what the sources say about one certificate ---- */

/* The first verdict of each kind a certificate's sources gave. */
typedef struct cert_result {
  int seen[ST_COUNT];
  char text[ST_COUNT][MW_REV_HOW];
  int state;                    /* the outcome, once concluded */
  char how[2 * MW_REV_HOW + 8]; /* what the detail says about it */
} cert_result;

static void record(cert_result *res, const rev_verdict *v) {
  if (v->state == ST_NONE)
    return;
  res->seen[v->state] = 1;
  if (!res->text[v->state][0])
    snprintf(res->text[v->state], sizeof res->text[v->state], "%s", v->how);
}

static int definite(const cert_result *res) {
  return res->seen[ST_GOOD] || res->seen[ST_REVOKED];
}

/* Every CRL we hold (extra: one just fetched, then the files', then the
 * cache's) judged together: the newest applicable one decides. */
static void judge_crls(mw_rev_check *r, X509 *cert, X509 *issuer,
                       X509_CRL *extra, const char *extra_label,
                       cert_result *res) {
  STACK_OF(X509_CRL) *cache = cached_all(r->shared, r);
  int nf = sk_X509_CRL_num(r->file_crls), nc = sk_X509_CRL_num(cache);
  crl_source *all = calloc(
      (size_t)(nf > 0 ? nf : 0) + (size_t)(nc > 0 ? nc : 0) + 1, sizeof *all);
  int n = 0;
  if (all && extra)
    all[n++] = (crl_source){extra, extra_label};
  for (int i = 0; all && i < nf; i++)
    all[n++] = (crl_source){sk_X509_CRL_value(r->file_crls, i), "CRL file"};
  for (int i = 0; all && i < nc; i++)
    all[n++] = (crl_source){sk_X509_CRL_value(cache, i), "cached CRL"};
  rev_verdict v;
  mw_crls_judge(all, n, cert, issuer, &v);
  record(res, &v);
  free(all);
  sk_X509_CRL_pop_free(cache, X509_CRL_free);
}

/* ---- fetches: asked of the driver, found again by URL ---- */

static rev_fetch *find_fetch(mw_rev_check *r, const char *url, int is_crl) {
  for (int i = 0; i < r->nfetch; i++)
    if (r->fetches[i].is_crl == is_crl && strcmp(r->fetches[i].url, url) == 0)
      return &r->fetches[i];
  return NULL;
}

static void fetch_clear(rev_fetch *f) {
  free(f->url);
  OCSP_REQUEST_free(f->req);
  OPENSSL_free(f->der);
  free(f->body);
  X509_CRL_free(f->crl);
  memset(f, 0, sizeof *f);
}

static void fetches_free(mw_rev_check *r) {
  for (int i = 0; i < r->nfetch; i++)
    fetch_clear(&r->fetches[i]);
  free(r->fetches);
  r->fetches = NULL;
  r->nfetch = r->capfetch = 0;
  r->asking = -1;
}

static int fetched_later(const mw_rev_check *c, const char *url) {
  for (int i = 0; i < c->nfetch; i++)
    if (c->fetches[i].is_crl && c->fetches[i].depth >= c->depth &&
        strcmp(c->fetches[i].url, url) == 0)
      return 1;
  return 0;
}

/* A new fetch for the driver to make; NULL when out of memory. */
static rev_fetch *ask(mw_rev_check *r, const char *url, int is_crl) {
  if (r->nfetch == r->capfetch) {
    int cap = r->capfetch ? r->capfetch * 2 : 4;
    rev_fetch *more = realloc(r->fetches, (size_t)cap * sizeof *more);
    if (!more)
      return NULL;
    r->fetches = more;
    r->capfetch = cap;
  }
  rev_fetch *f = &r->fetches[r->nfetch];
  memset(f, 0, sizeof *f);
  f->url = mw_strdup(url);
  if (!f->url)
    return NULL;
  f->is_crl = is_crl;
  f->depth = r->depth;
  r->asking = r->nfetch++;
  return f;
}

/* The words of a source that gave nothing: "CRL server offline: ...". */
static const char *failure_label(int is_crl, int state) {
  if (state == ST_OFFLINE)
    return is_crl ? "CRL server offline" : "OCSP responder offline";
  return is_crl ? "no CRL" : "no OCSP answer";
}

/* What may be asked now: an http:// URL while the time lasts. Otherwise
 * the verdict says why not, as the fetch itself would have. */
static int askable(const mw_rev_check *r, const char *url, int is_crl,
                   rev_verdict *v) {
  mw_http_url u;
  if (mw_http_parse_url(url, &u) != 0) {
    mw_verdict(v, ST_UNKNOWN, "%s: '%.100s' is not an http:// URL",
               failure_label(is_crl, ST_UNKNOWN), url);
    return 0;
  }
  if (r->now >= r->deadline) {
    mw_verdict(v, ST_OFFLINE,
               "%s: SSLRevocationTimeout (%ld ms) used up before asking "
               "%.64s:%u",
               failure_label(is_crl, ST_OFFLINE), r->opt.timeout_ms, u.host,
               u.port);
    return 0;
  }
  return 1;
}

/* ---- CRLs from distribution points ---- */

/* The fetched body as a CRL, PEM or DER; kept in the shared cache. */
static void take_crl(mw_rev_check *r, rev_fetch *f) {
  const unsigned char *p = f->body;
  X509_CRL *crl = d2i_X509_CRL(NULL, &p, (long)f->len);
  if (!crl) {
    BIO *b = BIO_new_mem_buf(f->body, (int)f->len);
    crl = b ? PEM_read_bio_X509_CRL(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
  }
  ERR_clear_error();
  free(f->body);
  f->body = NULL;
  f->judged = 1;
  if (!crl) {
    mw_verdict(&f->v, ST_UNKNOWN, "no CRL: %.100s holds no CRL", f->url);
    return;
  }
  cache_put(r->shared, f->url, crl);
  f->crl = crl;
}

/* The CRL at url, with a reference the caller frees: from this check's
 * fetches, the cache, or NULL (then res says why, or a fetch is asked). */
static X509_CRL *fetch_crl(mw_rev_check *r, const char *url,
                           cert_result *res) {
  rev_fetch *f = find_fetch(r, url, 1);
  if (f && !f->judged && f->body)
    take_crl(r, f);
  if (f && f->crl && X509_CRL_up_ref(f->crl))
    return f->crl;
  if (f) {
    record(res, &f->v);
    return NULL;
  }
  X509_CRL *crl = cached(r->shared, url);
  if (crl)
    return crl;
  rev_verdict v;
  if (!askable(r, url, 1, &v)) {
    record(res, &v);
    return NULL;
  }
  if (!ask(r, url, 1)) {
    mw_verdict(&v, ST_UNKNOWN, "no CRL: out of memory");
    record(res, &v);
  }
  return NULL;
}

static int waiting(const mw_rev_check *r) {
  return r->asking >= 0;
}

/* The http:// URIs of cert's CRL distribution points, until one gives a
 * CRL; it is judged with the CRLs already held. */
static void distribution_points(mw_rev_check *r, X509 *cert, X509 *issuer,
                                cert_result *res) {
  STACK_OF(DIST_POINT) *dps =
      X509_get_ext_d2i(cert, NID_crl_distribution_points, NULL, NULL);
  for (int i = 0; i < sk_DIST_POINT_num(dps) && !definite(res) && !waiting(r);
       i++) {
    DIST_POINT *dp = sk_DIST_POINT_value(dps, i);
    if (!dp->distpoint || dp->distpoint->type != 0)
      continue;
    GENERAL_NAMES *names = dp->distpoint->name.fullname;
    for (int j = 0; j < sk_GENERAL_NAME_num(names) && !waiting(r); j++) {
      GENERAL_NAME *gn = sk_GENERAL_NAME_value(names, j);
      if (gn->type != GEN_URI)
        continue;
      const char *url =
          (const char *)ASN1_STRING_get0_data(gn->d.uniformResourceIdentifier);
      X509_CRL *crl = fetch_crl(r, url, res);
      if (!crl)
        continue;
      char source[160];
      snprintf(source, sizeof source, "CRL from %.120s", url);
      judge_crls(r, cert, issuer, crl, source, res);
      X509_CRL_free(crl);
      break;
    }
  }
  CRL_DIST_POINTS_free(dps);
}

/* ---- OCSP ---- */

static void stapled(SSL *ssl, ocsp_query_ctx *q, cert_result *res) {
  const unsigned char *der = NULL;
  long len = SSL_get_tlsext_status_ocsp_resp(ssl, &der);
  if (!der || len <= 0)
    return;
  q->req = NULL; /* a staple never carries our nonce */
  q->source = "stapled OCSP";
  rev_verdict v;
  mw_ocsp_judge(der, len, q, &v);
  record(res, &v);
}

/* Our request for q->cert, with a nonce, into f (DER in f->der). */
static int ocsp_request(const ocsp_query_ctx *q, rev_fetch *f) {
  OCSP_REQUEST *req = OCSP_REQUEST_new();
  OCSP_CERTID *id = OCSP_cert_to_id(NULL, q->cert, q->issuer);
  f->der = NULL;
  f->der_len = -1;
  if (req && id && OCSP_request_add0_id(req, id)) {
    id = NULL; /* owned by req now */
    if (OCSP_request_add1_nonce(req, NULL, -1))
      f->der_len = i2d_OCSP_REQUEST(req, &f->der);
  }
  OCSP_CERTID_free(id);
  ERR_clear_error();
  f->req = req;
  return f->der_len > 0 ? 0 : -1;
}

/* The answer of f judged against our request, once. */
static void judge_ocsp(rev_fetch *f, ocsp_query_ctx *q) {
  char source[160];
  snprintf(source, sizeof source, "OCSP responder %.120s", f->url);
  q->req = f->req;
  q->source = source;
  mw_ocsp_judge(f->body, (long)f->len, q, &f->v);
  free(f->body);
  f->body = NULL;
  f->judged = 1;
  ERR_clear_error();
}

/* Ask the responder at url, or take its answer when it came. */
static void ocsp_query(mw_rev_check *r, const char *url, ocsp_query_ctx *q,
                       cert_result *res) {
  rev_fetch *f = find_fetch(r, url, 0);
  if (f) {
    if (!f->judged && f->body)
      judge_ocsp(f, q);
    record(res, &f->v);
    return;
  }
  rev_verdict v;
  if (!askable(r, url, 0, &v)) {
    record(res, &v);
    return;
  }
  f = ask(r, url, 0);
  if (f && ocsp_request(q, f) == 0)
    return;
  if (f) { /* no request could be made: as before, nothing to say */
    f->judged = 1;
    r->asking = -1;
  }
}

/* The http:// OCSP responders of the certificate's AIA, asked in turn. */
static void aia_ocsp(mw_rev_check *r, ocsp_query_ctx *q, cert_result *res) {
  STACK_OF(OPENSSL_STRING) *urls = X509_get1_ocsp(q->cert);
  for (int i = 0;
       i < sk_OPENSSL_STRING_num(urls) && !definite(res) && !waiting(r); i++)
    ocsp_query(r, sk_OPENSSL_STRING_value(urls, i), q, res);
  X509_email_free(urls);
}

/* ---- one certificate, the chain, the verdict ---- */

/* The certificate's outcome from what its sources said: a revocation
 * wins, then a good answer, then a refused (perhaps forged) answer, then
 * an offline server, then no information. A trust anchor that no source
 * speaks for is good: it is trusted because the caller's configuration
 * says so (RFC 5280 checks revocation only below it), so the absence of a
 * source is no gap. One that has a source is judged like any other. */
static void conclude(cert_result *res, int anchor) {
  static const int order[] = {ST_REVOKED, ST_GOOD, ST_INVALID, ST_OFFLINE,
                              ST_UNKNOWN};
  res->state = ST_NONE;
  for (size_t i = 0; i < sizeof order / sizeof order[0] && !res->state; i++)
    if (res->seen[order[i]])
      res->state = order[i];
  if (res->state == ST_NONE) {
    res->state = anchor ? ST_GOOD : ST_UNKNOWN;
    snprintf(res->how, sizeof res->how, "%s",
             anchor ? "good (trust anchor: it has no revocation source and "
                      "is trusted as configured)"
                    : "no revocation information (no CRL, no OCSP, no "
                      "distribution point)");
    return;
  }
  int note = res->state == ST_GOOD && res->seen[ST_INVALID];
  snprintf(res->how, sizeof res->how, "%s%s%s", res->text[res->state],
           note ? "; also " : "", note ? res->text[ST_INVALID] : "");
}

static void check_cert(mw_rev_check *r, SSL *ssl, STACK_OF(X509) * chain,
                       int depth, cert_result *res) {
  X509 *cert = sk_X509_value(chain, depth);
  int anchor = depth + 1 >= sk_X509_num(chain);
  X509 *issuer = anchor ? cert : sk_X509_value(chain, depth + 1);
  ocsp_query_ctx q = {cert,  issuer,
                      chain, SSL_CTX_get_cert_store(SSL_get_SSL_CTX(ssl)),
                      NULL,  NULL};
  memset(res, 0, sizeof *res);
  judge_crls(r, cert, issuer, NULL, NULL, res);
  if (!definite(res) && depth == 0)
    stapled(ssl, &q, res);
  if (!definite(res))
    aia_ocsp(r, &q, res);
  if (!definite(res) && !waiting(r))
    distribution_points(r, cert, issuer, res);
  if (waiting(r)) /* run again once the driver answered */
    return;
  conclude(res, anchor);
  ERR_clear_error();
}

/* Which depths the options select: CheckEnd wins over CheckAll;
 * ExcludeRoot skips a self-issued last certificate. */
static int depth_range(const mw_rev_check *r, STACK_OF(X509) * chain,
                       int *last) {
  int n = sk_X509_num(chain);
  if (n > MAX_CHAIN)
    n = MAX_CHAIN;
  *last = r->opt.check_end ? 0 : n - 1;
  if (!r->opt.check_end && r->opt.exclude_root && n > 0 &&
      (X509_get_extension_flags(sk_X509_value(chain, n - 1)) & EXFLAG_SI))
    *last = n - 2;
  return *last >= 0;
}

static void append_detail(mw_rev_check *r, X509 *cert, int depth,
                          const cert_result *res) {
  char cn[128] = "?";
  X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn,
                            sizeof cn);
  size_t used = strlen(r->detail);
  snprintf(r->detail + used, sizeof r->detail - used, "%sdepth %d '%s': %s",
           used ? "; " : "", depth, cn, res->how);
}

/* REVOKED > INVALID > OFFLINE > UNKNOWN > GOOD */
static int worse(int a, int b) {
  static const int rank[] = {
      [ST_NONE] = 0,    [ST_GOOD] = 1,    [ST_UNKNOWN] = 2,
      [ST_OFFLINE] = 3, [ST_INVALID] = 4, [ST_REVOKED] = 5};
  return rank[a] >= rank[b] ? a : b;
}

static int public_status(int st) {
  switch (st) {
  case ST_GOOD:
    return SSL_REVOCATION_GOOD;
  case ST_REVOKED:
    return SSL_REVOCATION_REVOKED;
  case ST_OFFLINE:
    return SSL_REVOCATION_OFFLINE;
  case ST_UNKNOWN:
    return SSL_REVOCATION_UNKNOWN;
  case ST_INVALID:
    return SSL_REVOCATION_INVALID;
  default:
    return SSL_REVOCATION_NOT_CHECKED;
  }
}

/* The refusal, if any: each kind on its own, so that an ignored offline
 * server does not hide a certificate without information when NRC is
 * fatal. A refused answer is refused whatever the Ignore options say: it
 * may be an attack, not a gap. */
static long refusal(const mw_rev_check *r, const int seen[ST_COUNT]) {
  if (seen[ST_REVOKED])
    return X509_V_ERR_CERT_REVOKED;
  if (seen[ST_INVALID])
    return X509_V_ERR_OCSP_VERIFY_FAILED;
  if (seen[ST_OFFLINE] && !r->opt.ignore_ro)
    return X509_V_ERR_OCSP_VERIFY_NEEDED;
  if (seen[ST_UNKNOWN] && !r->opt.ignore_nrc)
    return X509_V_ERR_UNABLE_TO_GET_CRL;
  return X509_V_OK;
}

/* Nothing to check on this connection: say why, and be done. */
static int not_checked(mw_rev_check *r, const char *why) {
  snprintf(r->detail, sizeof r->detail, "not checked: %s", why);
  r->run = RUN_DONE;
  return MW_REV_DONE;
}

/* The outcome once every selected certificate was judged. */
static int conclude_check(mw_rev_check *r, SSL *ssl, int overall,
                          const int seen[ST_COUNT]) {
  r->status = public_status(overall);
  r->verify = refusal(r, seen);
  r->failed = r->verify != X509_V_OK;
  if (r->failed) /* what the verify result of a refused handshake says */
    SSL_set_verify_result(ssl, r->verify);
  r->run = RUN_DONE;
  fetches_free(r); /* the bodies and requests are not needed any more */
  return r->failed ? MW_REV_FAILED : MW_REV_DONE;
}

/* While a fetch is out, the detail says so: it is what a connection
 * dropped meanwhile (cancelled, freed) reports. */
static int asking_now(mw_rev_check *r) {
  snprintf(r->detail, sizeof r->detail,
           "not checked: the connection ended while asking %.200s",
           r->fetches[r->asking].url);
  return MW_REV_FETCH;
}

int mw_rev_check_run(mw_rev_check *r, SSL *ssl, long long now_ms) {
  if (!r || r->run == RUN_IDLE)
    return MW_REV_DONE;
  if (r->run == RUN_DONE)
    return r->failed ? MW_REV_FAILED : MW_REV_DONE;
  if (waiting(r)) /* asked and not answered: ask again */
    return MW_REV_FETCH;
  STACK_OF(X509) *chain = SSL_get0_verified_chain(ssl);
  int last;
  if (SSL_session_reused(ssl) == 1) /* no certificate was sent */
    return not_checked(r, "the TLS session was resumed; its certificate "
                          "was checked when the session was made");
  if (!chain || !depth_range(r, chain, &last))
    return not_checked(r, chain ? "the options select no certificate"
                                : "no verified chain");
  r->now = now_ms;
  if (!r->deadline)
    r->deadline = now_ms + r->opt.timeout_ms;
  r->detail[0] = '\0';
  int overall = ST_NONE, seen[ST_COUNT] = {0};
  for (int depth = 0; depth <= last; depth++) {
    cert_result res;
    r->depth = depth;
    check_cert(r, ssl, chain, depth, &res);
    if (waiting(r))
      return asking_now(r);
    append_detail(r, sk_X509_value(chain, depth), depth, &res);
    overall = worse(overall, res.state);
    seen[res.state] = 1;
  }
  return conclude_check(r, ssl, overall, seen);
}

long long mw_rev_check_deadline(const mw_rev_check *r) {
  return r && waiting(r) ? r->deadline : 0;
}

void mw_rev_check_request(const mw_rev_check *r, const char **url,
                          const unsigned char **body, size_t *len) {
  const rev_fetch *f = r && waiting(r) ? &r->fetches[r->asking] : NULL;
  *url = f ? f->url : NULL;
  *body = f && !f->is_crl ? f->der : NULL;
  *len = f && !f->is_crl ? (size_t)f->der_len : 0;
}

/* The fetch being asked, now answered. */
static rev_fetch *answered(mw_rev_check *r) {
  if (!r || !waiting(r))
    return NULL;
  rev_fetch *f = &r->fetches[r->asking];
  r->asking = -1;
  return f;
}

/* A fetch that gave nothing to judge: offline or no information. */
static void fetch_gave_nothing(rev_fetch *f, int state, const char *why) {
  mw_verdict(&f->v, state, "%s: %s", failure_label(f->is_crl, state), why);
  f->judged = 1;
}

void mw_rev_check_answer(mw_rev_check *r, int http_status,
                         const unsigned char *body, size_t len) {
  rev_fetch *f = answered(r);
  if (!f)
    return;
  mw_http_url u;
  char why[200];
  if (mw_http_parse_url(f->url, &u) != 0) /* asked only when it parses */
    snprintf(u.host, sizeof u.host, "?");
  if (http_status != 200) {
    /* 5xx: the service is down; 4xx: it has nothing for us */
    snprintf(why, sizeof why, "%.64s:%u answered HTTP status %d", u.host,
             u.port, http_status);
    fetch_gave_nothing(f, http_status >= 500 ? ST_OFFLINE : ST_UNKNOWN, why);
  } else if (len > MW_HTTP_MAX) {
    snprintf(why, sizeof why,
             "the answer from %.64s:%u is larger than %d "
             "bytes",
             u.host, u.port, MW_HTTP_MAX);
    fetch_gave_nothing(f, ST_UNKNOWN, why);
  } else if (!(f->body = malloc(len ? len : 1))) {
    fetch_gave_nothing(f, ST_UNKNOWN, "out of memory");
  } else {
    memcpy(f->body, body, len);
    f->len = len; /* judged on the next run, where its context is */
  }
}

void mw_rev_check_unreachable(mw_rev_check *r, const char *why) {
  rev_fetch *f = answered(r);
  if (f)
    fetch_gave_nothing(f, ST_OFFLINE, why && *why ? why : "unreachable");
}

void mw_rev_check_expired(mw_rev_check *r) {
  if (!r || !waiting(r))
    return;
  mw_http_url u;
  char why[200] = "no complete answer within the time limit";
  if (mw_http_parse_url(r->fetches[r->asking].url, &u) == 0)
    snprintf(why, sizeof why,
             "no complete answer from %.64s:%u within the time limit", u.host,
             u.port);
  mw_rev_check_unreachable(r, why);
}

static mw_rev_check *check_new(mw_sslinfo *info) {
  mw_rev_check *r = calloc(1, sizeof *r);
  if (!r)
    return NULL;
  r->shared = info->rev;
  r->opt = info->rev->opt;
  r->no_verify = info->no_verify;
  r->status = SSL_REVOCATION_NOT_CHECKED;
  r->verify = X509_V_OK;
  r->asking = -1;
  return r;
}

int mw_revocation_attach(SSL_CTX *ctx, mw_sslinfo *info, mw_rev_check **out,
                         mw_errorinfo *err) {
  *out = NULL;
  if (!info->rev) /* an SSLInfo not made by mw_sslinfo_new (internal tests) */
    return MW_OK;
  mw_rev_check *r = check_new(info);
  if (!r)
    return mw_error_set(err, eexNoMemory, 0, NULL);
  if (r->no_verify || (!r->opt.check_all && !r->opt.check_end)) {
    snprintf(r->detail, sizeof r->detail, "not checked: %s",
             r->no_verify ? "SSLNoServerCertificateValidation is set"
                          : "SSLRevocationCheckAll and "
                            "SSLRevocationCheckEnd are both false");
    *out = r;
    return MW_OK;
  }
  snprintf(r->detail, sizeof r->detail,
           "not checked: the handshake ended before the check");
  int rc = load_crl_files(r, info->rev->crl_file, err);
  if (rc != MW_OK) {
    mw_rev_check_free(r);
    return rc;
  }
  /* Ask for a stapled response; OpenSSL keeps it for the check, which
   * runs after the handshake (mw_rev_check_run): a callback inside the
   * handshake could not wait for a fetch without blocking. */
  SSL_CTX_set_tlsext_status_type(ctx, TLSEXT_STATUSTYPE_ocsp);
  r->run = RUN_ACTIVE;
  *out = r;
  return MW_OK;
}

void mw_rev_check_free(mw_rev_check *r) {
  if (!r)
    return;
  sk_X509_CRL_pop_free(r->file_crls, X509_CRL_free);
  fetches_free(r);
  free(r);
}

int mw_rev_check_outcome(const mw_rev_check *r, int *status,
                         const char **detail) {
  if (!r)
    return 0;
  *status = r->status;
  *detail = r->detail;
  return 1;
}

void mw_revocation_publish(mw_revocation *shared, const mw_rev_check *r) {
  if (!shared || !r)
    return;
  pthread_mutex_lock(&shared->lock);
  shared->have_outcome = 1;
  shared->status = r->status;
  memcpy(shared->detail, r->detail, sizeof shared->detail);
  pthread_mutex_unlock(&shared->lock);
}

/* The sentence for "no information": what to do depends on whether CRL
 * files were given (then they are out of date or do not cover it). */
static void no_information_error(const mw_rev_check *r, mw_errorinfo *err) {
  if (sk_X509_CRL_num(r->file_crls) > 0)
    mw_error_set(err, eexSSLCertificate, 0,
                 "No usable revocation information is available for the "
                 "server's certificate; this is not a revocation (%s). The "
                 "CRLs given with SSLCRLFile do not settle it (out of date, "
                 "or not covering this certificate): give current ones, or "
                 "set SSLRevocationIgnoreNRC to accept this.",
                 r->detail);
  else
    mw_error_set(err, eexSSLCertificate, 0,
                 "No usable revocation information is available for the "
                 "server's certificate; this is not a revocation (%s). Give "
                 "a CRL with SSLCRLFile, or set SSLRevocationIgnoreNRC to "
                 "accept this.",
                 r->detail);
}

int mw_revocation_error(const mw_rev_check *r, mw_errorinfo *err) {
  if (!r || !r->failed)
    return 0;
  if (r->verify == X509_V_ERR_CERT_REVOKED)
    mw_error_set(err, eexSSLCertificate, 0,
                 "The server's certificate chain is revoked: its issuer "
                 "withdrew it, so the server must not be trusted (%s). "
                 "Ask the server's administrator for a new certificate.",
                 r->detail);
  else if (r->verify == X509_V_ERR_OCSP_VERIFY_FAILED)
    mw_error_set(err, eexSSLCertificate, 0,
                 "An OCSP answer about the server's certificate failed its "
                 "checks and may be forged or replayed, so the server is not "
                 "trusted (%s). The SSLRevocationIgnore* options do not "
                 "cover this; the server's administrator should check its "
                 "OCSP responder and stapling.",
                 r->detail);
  else if (r->verify == X509_V_ERR_OCSP_VERIFY_NEEDED)
    mw_error_set(err, eexSSLCertificate, 0,
                 "The revocation server was offline or unreachable, so the "
                 "certificate's revocation status is unknown; this is not "
                 "a revocation (%s). Retry later, or set "
                 "SSLRevocationIgnoreRO to accept this.",
                 r->detail);
  else
    no_information_error(r, err);
  err->verify = r->verify;
  return 1;
}

void mw_revocation_log(const mw_rev_check *r, mw_loghandler *log) {
  static const char *const names[] = {"not checked",    "good",
                                      "REVOKED",        "no information",
                                      "server offline", "REFUSED OCSP ANSWER"};
  if (!r)
    return;
  int st =
      r->status >= 0 && r->status <= SSL_REVOCATION_INVALID ? r->status : 0;
  mw_log(log,
         st == SSL_REVOCATION_GOOD || st == SSL_REVOCATION_NOT_CHECKED
             ? LOG_S_INFORMATION
             : LOG_S_WARNING,
         LOG_F_SSL, "Revocation: %s (%s)", names[st], r->detail);
}
