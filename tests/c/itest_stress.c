/* itest_stress.c - many threads, shared handlers (issue #14).
 *
 * THREADS threads run SESSIONS TLS sessions in all against the real
 * Postfix, Dovecot and microsocks, each session with its own client but
 * every client sharing five SSLInfos, one LogHandler and one ProxyInfo:
 *   P0  implicit TLS, TLS 1.3 only, no CRL file       SMTPS, POP3S
 *   P1  STARTTLS/STLS, TLS 1.2 only, SSLCRLFile        SMTP, POP3
 *   P2  implicit TLS, TLS 1.2 only, SSLCRLFile, SOCKS5 POP3S
 *   P3  STARTTLS, TLS 1.3 only, no CRL file, SOCKS5    SMTP
 *   P4  implicit TLS, SSLCRLFile, SNI REVOKED_NAME      POP3S (refused:
 *       the certificate Dovecot serves for that name is revoked)
 * Every output a client reads after its connection must be that
 * connection's (its SSLInfo's protocol, the server's certificate, the
 * revocation outcome its SSLInfo asks for; after a refused handshake only
 * its revocation outcome), also while other threads connect with the same
 * SSLInfo; the SSLInfo's own "most recent" view must
 * always describe a handshake made with it; a setter must be refused while
 * the caller's own client is connected; the log callback must see exactly
 * one "TLS established" per handshake, on the client's thread. Meanwhile
 * the main thread reads the SSLInfos and rewrites the ProxyInfo.
 *
 * MW_STRESS_SESSIONS overrides the number of sessions (default 320). Run
 * under ThreadSanitizer by scripts/test.sh (build-tsan) and under ASan
 * (build-asan) as well as in the normal build. */
#include "testlib.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define THREADS 8
#define TIMEOUT_MS 30000
#define NPROFILES 5

typedef struct profile {
  const char *name;
  int mode;
  long version; /* SSL_TLS1_2 or SSL_TLS1_3 */
  int crl;      /* SSLCRLFile set: the outcome must be GOOD */
  int proxy;    /* through the SOCKS5 ProxyInfo */
  int refused;  /* asks for the revoked certificate: every handshake fails */
  mw_sslinfo *ssl;
  /* What the first (single-threaded) connection saw: every later one must
   * see the same certificate and revocation outcome. */
  char *subject, *fingerprint, *chain;
  long rev_status;
  atomic_long sessions, resumed;
} profile;

static profile profiles[NPROFILES] = {
    {.name = "P0 implicit TLS 1.3", MODE_CHANNEL, SSL_TLS1_3, 0, 0},
    {.name = "P1 STARTTLS TLS 1.2 CRL", MODE_STARTTLS, SSL_TLS1_2, 1, 0},
    {.name = "P2 implicit TLS 1.2 CRL SOCKS5", MODE_CHANNEL, SSL_TLS1_2, 1, 1},
    {.name = "P3 STARTTLS TLS 1.3 SOCKS5", MODE_STARTTLS, SSL_TLS1_3, 0, 1},
    {.name = "P4 implicit TLS revoked", MODE_CHANNEL, SSL_TLS1_3, 1, 0, 1},
};

/* The session kinds, taken in turn: (profile, POP3?). */
static const struct {
  int profile, pop3;
} kinds[] = {{0, 0}, {0, 1}, {1, 0}, {1, 1}, {2, 1}, {3, 0}, {4, 1}};
#define NKINDS (sizeof kinds / sizeof kinds[0])

static mw_loghandler *shared_log;
static mw_proxyinfo *shared_proxy;
static unsigned smtp_port, smtps_port, pop3_port, pop3s_port, socks_port;
static const char *user, *pass;
static atomic_long log_messages;
static atomic_int running;

/* Each handshake logs "TLS established" once, on its client's thread. */
static _Thread_local long established_here;

static void count_log(void *ud, int severity, int facility, const char *msg) {
  (void)ud;
  (void)severity;
  (void)facility;
  atomic_fetch_add(&log_messages, 1);
  if (strncmp(msg, "TLS established", 15) == 0)
    established_here++;
}

static const char *version_name(long v) {
  return v == SSL_TLS1_3 ? "TLSv1.3" : "TLSv1.2";
}

/* ---- one session ---- */

typedef struct session {
  int pop3;
  mw_smtp *smtp;
  mw_pop3 *pop;
} session;

static int sess_int(session *s, int index, long *v) {
  return s->pop3 ? mw_pop3_tls_option_int(s->pop, index, v)
                 : mw_smtp_tls_option_int(s->smtp, index, v);
}

static const char *sess_str(session *s, int index) {
  const char *v = NULL;
  int rc = s->pop3 ? mw_pop3_tls_option_str(s->pop, index, &v)
                   : mw_smtp_tls_option_str(s->smtp, index, &v);
  CHECK_INT(rc, MW_OK);
  return rc == MW_OK ? v : "";
}

static const mw_errorinfo *sess_err(session *s) {
  return s->pop3 ? mw_pop3_extended_error(s->pop)
                 : mw_smtp_extended_error(s->smtp);
}

static unsigned port_for(const profile *p, int pop3) {
  if (pop3)
    return p->mode == MODE_CHANNEL ? pop3s_port : pop3_port;
  return p->mode == MODE_CHANNEL ? smtps_port : smtp_port;
}

static int sess_connect(session *s, profile *p) {
  unsigned port = port_for(p, s->pop3);
  if (s->pop3) {
    s->pop = mw_pop3_new();
    mw_pop3_set_server(s->pop, "localhost", port);
    mw_pop3_set_timeout(s->pop, TIMEOUT_MS);
    mw_pop3_set_credentials(s->pop, user, pass);
    mw_pop3_set_handler(s->pop, p->ssl);
    mw_pop3_set_handler(s->pop, shared_log);
    if (p->proxy)
      mw_pop3_set_handler(s->pop, shared_proxy);
    return mw_pop3_connect(s->pop);
  }
  s->smtp = mw_smtp_new();
  mw_smtp_set_server(s->smtp, "localhost", port);
  mw_smtp_set_timeout(s->smtp, TIMEOUT_MS);
  mw_smtp_set_handler(s->smtp, p->ssl);
  mw_smtp_set_handler(s->smtp, shared_log);
  if (p->proxy)
    mw_smtp_set_handler(s->smtp, shared_proxy);
  return mw_smtp_connect(s->smtp);
}

/* Some work on the session, then goodbye. */
static void sess_finish(session *s) {
  if (s->pop3) {
    unsigned long count = 0;
    uint64_t octets = 0;
    CHECK_INT(mw_pop3_stat(s->pop, &count, &octets), MW_OK);
    CHECK_INT(mw_pop3_quit(s->pop), MW_OK);
    mw_pop3_free(s->pop);
  } else {
    CHECK_INT(mw_smtp_noop(s->smtp), MW_OK);
    CHECK_INT(mw_smtp_quit(s->smtp), MW_OK);
    mw_smtp_free(s->smtp);
  }
}

/* The client's outputs describe its own connection. */
static void check_outputs(session *s, profile *p) {
  long v = 0;
  CHECK_INT(sess_int(s, SSLConnectionProtocolOut, &v), MW_OK);
  CHECK_INT(v, p->version);
  CHECK_STR(sess_str(s, SSLConnectionProtocolName), version_name(p->version));
  const char *cipher = sess_str(s, SSLConnectionCipherName);
  CHECK_INT(strncmp(cipher, "TLS_", 4) == 0, p->version == SSL_TLS1_3);
  CHECK_STR(sess_str(s, SSLPeerSubject), p->subject);
  CHECK_STR(sess_str(s, SSLPeerFingerprintSHA256), p->fingerprint);
  CHECK_STR(sess_str(s, SSLPeerChainPEM), p->chain);
  long resumed = 0;
  CHECK_INT(sess_int(s, SSLSessionResumed, &resumed), MW_OK);
  CHECK(resumed == 0 || resumed == 1);
  /* A resumed session brings no certificate to check: its own outcome is
   * "not checked", whatever the full handshakes around it found. */
  CHECK_INT(sess_int(s, SSLRevocationStatus, &v), MW_OK);
  CHECK_INT(v, resumed ? SSL_REVOCATION_NOT_CHECKED : p->rev_status);
  v = resumed;
  atomic_fetch_add(&p->resumed, v);
  atomic_fetch_add(&p->sessions, 1);
}

/* The SSLInfo's own view: a handshake made with it, or none yet. */
static void check_shared_view(profile *p) {
  const char *name = NULL;
  int rc = mw_sslinfo_get_option_str(p->ssl, SSLConnectionProtocolName, &name);
  if (rc == MW_OK)
    CHECK_STR(name, version_name(p->version));
  else
    CHECK_INT(mw_errorinfo_number(mw_sslinfo_extended_error(p->ssl)),
              eexSSLNocontext);
}

/* A refused handshake leaves its own revocation outcome on the client,
 * and nothing else, whatever the other threads' handshakes did. */
static void check_refused(session *s, profile *p, int rc) {
  const mw_errorinfo *e = sess_err(s);
  CHECK_ERR(rc, e, errConnect, eexSSLCertificate);
  long v = 0;
  CHECK_INT(sess_int(s, SSLRevocationStatus, &v), MW_OK);
  CHECK_INT(v, SSL_REVOCATION_REVOKED);
  CHECK(strstr(sess_str(s, SSLRevocationDetail), "revoked") != NULL);
  CHECK_ERR(sess_int(s, SSLConnectionProtocolOut, &v), e, errState,
            eexSSLNocontext);
  atomic_fetch_add(&p->sessions, 1);
}

/* 1 when the connection (and so its handshake) was made. */
static int one_session(int kind) {
  profile *p = &profiles[kinds[kind].profile];
  session s = {kinds[kind].pop3, NULL, NULL};
  int rc = sess_connect(&s, p);
  if (p->refused) {
    check_refused(&s, p, rc);
    mw_pop3_free(s.pop);
    return 0;
  }
  if (rc != MW_OK) {
    tl_fail(__FILE__, __LINE__, "%s %s: connect failed: %s", p->name,
            s.pop3 ? "POP3" : "SMTP", mw_errorinfo_text(sess_err(&s)));
    mw_pop3_free(s.pop);
    mw_smtp_free(s.smtp);
    return 0;
  }
  check_outputs(&s, p);
  /* This thread's own client is connected: the settings are frozen. */
  CHECK_ERR(mw_sslinfo_set_option_int(p->ssl, SSLNoServerNameCheck, 0),
            mw_sslinfo_extended_error(p->ssl), errState, eexSSLConnected);
  check_shared_view(p);
  sess_finish(&s);
  return 1;
}

typedef struct worker {
  int index, sessions;
  long handshakes, established;
} worker;

static void *work(void *arg) {
  worker *w = arg;
  for (int i = 0; i < w->sessions; i++)
    w->handshakes += one_session((w->index + i) % (int)NKINDS);
  w->established = established_here;
  return NULL;
}

/* ---- setup ---- */

static void make_profile(profile *p) {
  p->ssl = mw_sslinfo_new();
  CHECK_INT(mw_sslinfo_set_mode(p->ssl, p->mode), MW_OK);
  CHECK_INT(mw_sslinfo_set_option_str(p->ssl, SSLCAFile, tl_env("CA_FILE")),
            MW_OK);
  CHECK_INT(mw_sslinfo_set_option_array(p->ssl, SSLConnectionProtocolIn,
                                        &p->version, 1),
            MW_OK);
  if (p->crl)
    CHECK_INT(
        mw_sslinfo_set_option_str(p->ssl, SSLCRLFile, tl_env("CA_CRL_FILE")),
        MW_OK);
  if (p->refused)
    CHECK_INT(mw_sslinfo_set_option_str(p->ssl, SSLServerName,
                                        tl_env("REVOKED_NAME")),
              MW_OK);
}

/* The first connection of each profile, alone: the reference values. */
static void learn_profile(int kind) {
  profile *p = &profiles[kinds[kind].profile];
  if (p->refused)
    return; /* nothing to learn: checked against fixed values */
  session s = {kinds[kind].pop3, NULL, NULL};
  if (sess_connect(&s, p) != MW_OK) {
    tl_fail(__FILE__, __LINE__, "%s: first connect failed: %s", p->name,
            mw_errorinfo_text(sess_err(&s)));
    return;
  }
  p->subject = strdup(sess_str(&s, SSLPeerSubject));
  p->fingerprint = strdup(sess_str(&s, SSLPeerFingerprintSHA256));
  p->chain = strdup(sess_str(&s, SSLPeerChainPEM));
  CHECK_INT(sess_int(&s, SSLRevocationStatus, &p->rev_status), MW_OK);
  if (p->crl)
    CHECK_INT(p->rev_status, SSL_REVOCATION_GOOD);
  CHECK(strstr(p->subject, "localhost") != NULL);
  sess_finish(&s);
}

static void setup(void) {
  smtp_port = tl_env_port("SMTP_PORT");
  smtps_port = tl_env_port("SMTPS_PORT");
  pop3_port = tl_env_port("POP3_PORT");
  pop3s_port = tl_env_port("POP3S_PORT");
  socks_port = tl_env_port("MICROSOCKS_PORT");
  user = tl_env("USER");
  pass = tl_env("PASS");
  shared_log = mw_loghandler_new(count_log, NULL);
  shared_proxy = mw_proxyinfo_new(MW_PROXY_SOCKS5);
  CHECK_INT(mw_proxyinfo_set_server(shared_proxy, "127.0.0.1", socks_port),
            MW_OK);
  CHECK_INT(mw_proxyinfo_set_credentials(shared_proxy, tl_env("PROXY_USER"),
                                         tl_env("PROXY_PASS")),
            MW_OK);
  for (int i = 0; i < NPROFILES; i++)
    make_profile(&profiles[i]);
  int learned[NPROFILES] = {0};
  for (size_t k = 0; k < NKINDS; k++)
    if (!learned[kinds[k].profile]++)
      learn_profile((int)k);
}

static void teardown(void) {
  for (int i = 0; i < NPROFILES; i++) {
    mw_sslinfo_free(profiles[i].ssl);
    free(profiles[i].subject);
    free(profiles[i].fingerprint);
    free(profiles[i].chain);
  }
  mw_loghandler_free(shared_log);
  mw_proxyinfo_free(shared_proxy);
}

/* While the workers run: read every SSLInfo's view and rewrite the
 * ProxyInfo (same values), so both race with the connecting clients. */
static void meddle(void) {
  while (atomic_load(&running)) {
    for (int i = 0; i < NPROFILES; i++)
      check_shared_view(&profiles[i]);
    CHECK_INT(mw_proxyinfo_set_server(shared_proxy, "127.0.0.1", socks_port),
              MW_OK);
    struct timespec ts = {0, 2000000};
    nanosleep(&ts, NULL);
  }
}

typedef struct join_arg {
  pthread_t *tid;
} join_arg;

static void *join_workers(void *arg) {
  join_arg *ja = arg;
  for (int i = 0; i < THREADS; i++)
    pthread_join(ja->tid[i], NULL);
  atomic_store(&running, 0);
  return NULL;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_shared_handlers(void) {
  setup();
  if (tl_checks_failed)
    return;
  const char *env = getenv("MW_STRESS_SESSIONS");
  int total = env && atoi(env) > 0 ? atoi(env) : 320;
  worker w[THREADS];
  pthread_t tid[THREADS];
  long before = atomic_load(&log_messages);
  double t0 = now_s();
  atomic_store(&running, 1);
  for (int i = 0; i < THREADS; i++) {
    w[i] = (worker){i, total / THREADS + (i < total % THREADS), 0, 0};
    CHECK_INT(pthread_create(&tid[i], NULL, work, &w[i]), 0);
  }
  pthread_t joiner;
  join_arg ja = {tid};
  CHECK_INT(pthread_create(&joiner, NULL, join_workers, &ja), 0);
  meddle(); /* until the joiner says every worker is done */
  pthread_join(joiner, NULL);
  double secs = now_s() - t0;
  long sessions = 0, resumed = 0, handshakes = 0;
  for (int i = 0; i < THREADS; i++) {
    /* exactly one "TLS established" per handshake, on its own thread */
    CHECK_INT(w[i].established, w[i].handshakes);
    handshakes += w[i].handshakes;
  }
  for (int i = 0; i < NPROFILES; i++) {
    sessions += atomic_load(&profiles[i].sessions);
    resumed += atomic_load(&profiles[i].resumed);
    CHECK(atomic_load(&profiles[i].sessions) > 0);
  }
  CHECK_INT(sessions, total);
  CHECK_INT(handshakes, total - atomic_load(&profiles[4].sessions));
  CHECK(resumed > 0); /* the shared session cache is used */
  printf("stress: %ld sessions (%ld resumed) on %d threads in %.1f s, %ld "
         "log messages\n",
         sessions, resumed, THREADS, secs,
         atomic_load(&log_messages) - before);
  teardown();
}

int main(void) {
  RUN(test_shared_handlers);
  return tl_finish();
}
