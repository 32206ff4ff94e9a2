/* pop3_engine.c - the POP3 client state machine: bytes in, bytes out.
 *
 * Shaped like curl's pop3.c: an enum of states with a names table, one
 * function that changes state (set_state), a perform_<cmd> that sends a
 * command and a state_<cmd>_resp that handles its reply, and one switch
 * (dispatch). The engine never touches the network: mw_session_pump sends
 * `out`, feeds `in`, and starts TLS when asked. */
#include "pop3_engine.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A handler's "keep going with the buffered input" result, besides the
 * mw_step values. */
#define P3_NEXT (-1)
#define P3_WINDOW 64 /* commands of a batch in flight with PIPELINING */
#define P3_MAX_BATCH 1000000
#define P3_PRESIZE_MAX ((uint64_t)64 * 1024 * 1024)
#define P3_MAX_AUTH_ROUNDS 10
#define P3_MAX_USER 512
#define P3_MAX_PASS 8192

static const char *const state_names[] = {
#define MW_X_(sym) #sym,
    MW_POP3_STATE_MAP(MW_X_)
#undef MW_X_
};

const char *mw_pop3_state_name(int state) {
  if (state < 0 || state >= MW_P3_LAST)
    return "MW_P3_UNKNOWN";
  return state_names[state];
}

/* The one place the state changes, so a trace shows every transition. */
static void set_state(mw_pop3_engine *e, mw_pop3_state next) {
#ifdef MW_POP3_TRACE
  if (e->state != next)
    mw_log(e->s->log, LOG_S_INFORMATION, LOG_F_PROTOCOL, "POP3 %s -> %s",
           mw_pop3_state_name(e->state), mw_pop3_state_name(next));
#endif
  e->state = next;
}

/* ---- life cycle ---- */

void mw_pop3_engine_init(mw_pop3_engine *e, mw_session *s) {
  memset(e, 0, sizeof *e);
  e->s = s;
  mw_buf_init(&e->out);
  mw_reader_init(&e->in);
  mw_buf_init(&e->caps);
  mw_buf_init(&e->caps_z);
  mw_buf_init(&e->last_text);
  mw_buf_init(&e->uids);
  mw_buf_init(&e->body);
  mw_buf_init(&e->batch_texts);
  e->pipelining = 1;
  e->state = MW_P3_STOP;
}

static void forget_caps(mw_pop3_engine *e) {
  mw_buf_reset(&e->caps);
  mw_buf_reset(&e->caps_z);
  e->ncaps = 0;
  e->have_capa = 0;
}

static void forget_entries(mw_pop3_engine *e) {
  e->nentries = 0;
  mw_buf_reset(&e->uids);
}

void mw_pop3_engine_reset(mw_pop3_engine *e) {
  mw_buf_reset(&e->out);
  mw_reader_clear(&e->in);
  forget_caps(e);
  forget_entries(e);
  mw_buf_reset(&e->last_text);
  mw_buf_free(&e->body);
  free(e->timestamp);
  e->timestamp = NULL;
  e->tls_active = 0;
  e->mech_used = NULL;
  e->sink = NULL;
  e->state = MW_P3_STOP;
}

void mw_pop3_engine_free(mw_pop3_engine *e) {
  mw_pop3_engine_reset(e);
  mw_buf_free(&e->out);
  mw_reader_free(&e->in);
  mw_buf_free(&e->caps);
  mw_buf_free(&e->caps_z);
  mw_buf_free(&e->last_text);
  mw_buf_free(&e->uids);
  free(e->entries);
  e->entries = NULL;
  e->entries_cap = 0;
  free(e->batch);
  e->batch = NULL;
  e->bcount = e->bcap = 0;
  mw_buf_free(&e->batch_texts);
}

/* ---- errors ---- */

static int fail_memory(mw_pop3_engine *e) {
  mw_error_set(&e->s->err, eexNoMemory, 0,
               "Out of memory while talking to the POP3 server.");
  return MW_STEP_ERROR;
}

static int fail_malformed(mw_pop3_engine *e, const char *what) {
  mw_error_set(&e->s->err, eexMalformedReply, 0,
               "The POP3 server sent %s in reply to %s; it does not follow "
               "RFC 1939. The connection was closed; check that the port "
               "belongs to a POP3 server.",
               what, e->cmd[0] ? e->cmd : "the connection");
  return MW_STEP_ERROR;
}

/* A -ERR's response code (RFC 2449 section 8, RFC 3206): "[SYS/TEMP]
 * text" gives "SYS/TEMP", else "". POP3 replies have no number: the
 * ErrorInfo's reply_code stays 0 and this goes to enhanced_status. */
static const char *resp_code(const char *text, char out[16]) {
  out[0] = '\0';
  if (text[0] != '[')
    return out;
  size_t n = strcspn(text + 1, "] ");
  if (text[1 + n] == ']' && n > 0 && n < 16)
    snprintf(out, 16, "%.*s", (int)n, text + 1);
  return out;
}

/* A -ERR as the ErrorInfo (number, code, text; see resp_code). */
static void pop3_refusal(mw_pop3_engine *e, int number, const char *text,
                         const char *sentence) {
  char code[16];
  mw_error_server(&e->s->err, number, 0, resp_code(text, code), text, "%s",
                  sentence);
}

/* What a refused command usually means: UIDL and TOP are optional (RFC
 * 1939), so a server whose CAPA does not list them may not have them;
 * otherwise the message number. */
static const char *refusal_hint(const mw_pop3_engine *e) {
  int optional = strncmp(e->cmd, "UIDL", 4) == 0  ? 1
                 : strncmp(e->cmd, "TOP", 3) == 0 ? 2
                                                  : 0;
  if (optional && !mw_pop3_engine_has_cap(e, optional == 1 ? "UIDL" : "TOP"))
    return optional == 1
               ? "UIDL is optional (RFC 1939) and the server does not list "
                 "it in CAPA: it may not implement it"
               : "TOP is optional (RFC 1939) and the server does not list "
                 "it in CAPA: it may not implement it";
  if (e->msg)
    return "check the message number (it may not exist, or be marked as "
           "deleted)";
  return "the server did not say why beyond its text";
}

/* A -ERR to an ordinary command: the session goes on. */
static int fail_refused(mw_pop3_engine *e, const char *text) {
  char sentence[600];
  snprintf(sentence, sizeof sentence,
           "The POP3 server refused %s: \"%.300s\". The connection is still "
           "open; %s.",
           e->cmd, text, refusal_hint(e));
  pop3_refusal(e, eexPopServer, text, sentence);
  return MW_STEP_ERROR;
}

/* RFC 3206 (and 2449's LOGIN-DELAY): the login failed for a reason that
 * is not the credentials, and may pass later. */
static int temporary_login_failure(const char *code) {
  return strcmp(code, "SYS/TEMP") == 0 || strcmp(code, "IN-USE") == 0 ||
         strcmp(code, "LOGIN-DELAY") == 0;
}

/* A -ERR during login: a server refusal (text kept) that is an auth
 * failure (errAuth), unless its response code says the failure is
 * temporary: errServer then, as SMTP's 4xx to AUTH. */
static int fail_login(mw_pop3_engine *e, const char *text) {
  char rcode[16];
  resp_code(text, rcode);
  int temporary = temporary_login_failure(rcode);
  mw_error_server(&e->s->err, eexPopServer, 0, rcode, text,
                  "The POP3 server refused the login of user \"%s\" with "
                  "%s: \"%s\". %s",
                  mw_session_login_user(e->s),
                  e->mech_used ? e->mech_used : "?", text,
                  temporary ? "This is a temporary failure on the server's "
                              "side (RFC 3206), not a refusal of the "
                              "credentials; try again later."
                            : "Check the user name and password, and the "
                              "authentication mechanism.");
  if (!temporary)
    mw_error_set_code(&e->s->err, errAuth);
  return MW_STEP_ERROR;
}

/* ---- sending ---- */

static int is_secure(const mw_pop3_engine *e) {
  /* The pump steps us again after MW_STEP_TLS only once TLS is up. */
  return e->tls_active || mw_conn_is_secure(&e->s->conn);
}

/* Queue a command line (without CRLF) and log it. keep < 0: log it all;
 * else log only the first keep bytes, then "<redacted>". */
static int send_line(mw_pop3_engine *e, const char *line, long keep) {
  size_t start = e->out.len;
  if (mw_buf_append_str(&e->out, line) != 0 ||
      mw_buf_append(&e->out, "\r\n", 2) != 0) {
    e->out.len = start;
    return -1;
  }
  if (keep < 0)
    mw_log_line(e->s->log, 'C', line, strlen(line));
  else
    mw_log_line_redacted(e->s->log, 'C', line, (size_t)keep);
  return 0;
}

/* Before a command that waits for its answer nothing may be buffered:
 * those bytes answer nothing we asked, and taking them as the answer
 * would put every later one out of step (a forged +OK to PASS or DELE).
 * begin() makes the same check when an operation starts; this one covers
 * the commands an operation sends after an answer (CAPA, STLS, USER,
 * PASS). 0, or -1 with the error. */
static int check_nothing_unsolicited(mw_pop3_engine *e, const char *cmd) {
  size_t n = mw_reader_pending(&e->in);
  if (n == 0)
    return 0;
  char verb[8];
  snprintf(verb, sizeof verb, "%.*s", (int)strcspn(cmd, " "), cmd);
  mw_error_set(&e->s->err, eexMalformedReply, 0,
               "The POP3 server sent %zu bytes before the client's %s "
               "command (an answer nobody asked for); the answers would be "
               "out of step, so %s was not sent and the connection was "
               "closed.",
               n, verb, verb);
  return -1;
}

/* Send an ordinary command (remembered for messages) and wait in `next`. */
static int send_command(mw_pop3_engine *e, const char *cmd,
                        mw_pop3_state next) {
  if (check_nothing_unsolicited(e, cmd) != 0)
    return MW_STEP_ERROR;
  snprintf(e->cmd, sizeof e->cmd, "%s", cmd);
  if (send_line(e, cmd, -1) != 0)
    return fail_memory(e);
  set_state(e, next);
  return P3_NEXT;
}

/* ---- parsing ---- */

static int is_digit(char c) {
  return c >= '0' && c <= '9';
}

/* Digits only, at most max; advances *p. 0, or -1 (none, overflow). */
static int parse_number(const char **p, uint64_t max, uint64_t *out) {
  const char *s = *p;
  uint64_t v = 0;
  if (!is_digit(*s))
    return -1;
  for (; is_digit(*s); s++) {
    uint64_t d = (uint64_t)(*s - '0');
    if (v > (max - d) / 10)
      return -1;
    v = v * 10 + d;
  }
  *p = s;
  *out = v;
  return 0;
}

/* A number followed by the end or a space (RFC 1939 lets servers add
 * text after the numbers of STAT and LIST). */
static int parse_field(const char **p, uint64_t max, uint64_t *out) {
  if (parse_number(p, max, out) != 0)
    return -1;
  if (**p != '\0' && **p != ' ')
    return -1;
  while (**p == ' ')
    (*p)++;
  return 0;
}

#define P3_MAX_SIZE ((uint64_t)INT64_MAX)

/* "+OK text" / "-ERR text": 1 for +OK, 0 for -ERR, -1 otherwise. Keeps
 * the text as the last reply. */
static int parse_status(mw_pop3_engine *e, const char *line, size_t len,
                        const char **text) {
  int ok;
  size_t skip;
  if (len >= 3 && memcmp(line, "+OK", 3) == 0)
    ok = 1, skip = 3;
  else if (len >= 4 && memcmp(line, "-ERR", 4) == 0)
    ok = 0, skip = 4;
  else
    return -1;
  if (line[skip] != '\0' && line[skip] != ' ')
    return -1;
  if (memchr(line, '\0', len))
    return -1;
  while (line[skip] == ' ')
    skip++;
  mw_buf_reset(&e->last_text);
  if (mw_buf_append_str(&e->last_text, line + skip) != 0)
    return -2; /* out of memory, not a malformed line */
  *text = e->last_text.data;
  return ok;
}

/* A body line: 1 for the terminating ".", else 0 after removing the
 * stuffed dot (RFC 1939 section 3). */
static int unstuff(const char **line, size_t *len) {
  if (*len == 0 || (*line)[0] != '.')
    return 0;
  if (*len == 1)
    return 1;
  (*line)++;
  (*len)--;
  return 0;
}

/* ---- capabilities ---- */

static const char *find_cap(const mw_pop3_engine *e, const char *keyword) {
  if (!keyword || !e->caps_z.data)
    return NULL;
  size_t kw = strlen(keyword);
  const char *p = e->caps_z.data, *end = p + e->caps_z.len;
  for (; p < end; p += strlen(p) + 1) {
    size_t w = strcspn(p, " ");
    if (w != kw)
      continue;
    size_t i = 0;
    while (i < kw && (p[i] | 0x20) == (keyword[i] | 0x20))
      i++;
    if (i == kw)
      return p;
  }
  return NULL;
}

int mw_pop3_engine_has_cap(const mw_pop3_engine *e, const char *keyword) {
  return find_cap(e, keyword) != NULL;
}

const char *mw_pop3_engine_cap_params(const mw_pop3_engine *e,
                                      const char *keyword) {
  const char *p = find_cap(e, keyword);
  if (!p)
    return NULL;
  p += strcspn(p, " ");
  while (*p == ' ')
    p++;
  return p;
}

static int add_cap(mw_pop3_engine *e, const char *line, size_t len) {
  if (e->ncaps > 0 && mw_buf_append(&e->caps, "\n", 1) != 0)
    return -1;
  if (mw_buf_append(&e->caps, line, len) != 0 ||
      mw_buf_append(&e->caps_z, line, len) != 0 ||
      mw_buf_append(&e->caps_z, "", 1) != 0)
    return -1;
  e->ncaps++;
  return 0;
}

/* The APOP timestamp of the greeting: "<...@...>" (RFC 1939 section 7). */
static void keep_timestamp(mw_pop3_engine *e, const char *text) {
  free(e->timestamp);
  e->timestamp = NULL;
  const char *lt = strchr(text, '<');
  const char *gt = lt ? strchr(lt, '>') : NULL;
  if (!gt || !memchr(lt, '@', (size_t)(gt - lt)))
    return;
  size_t n = (size_t)(gt - lt) + 1;
  e->timestamp = malloc(n + 1);
  if (!e->timestamp)
    return; /* APOP is then simply not offered */
  memcpy(e->timestamp, lt, n);
  e->timestamp[n] = '\0';
}

/* ---- connect: greeting, CAPA, STLS ---- */

static int perform_capa(mw_pop3_engine *e) {
  forget_caps(e);
  return send_command(e, "CAPA", MW_P3_CAPA);
}

static int perform_stls(mw_pop3_engine *e) {
  return send_command(e, "STLS", MW_P3_STLS);
}

static int perform_login(mw_pop3_engine *e);

static int state_greeting_resp(mw_pop3_engine *e, int ok, const char *text) {
  if (!ok) {
    char rcode[16];
    mw_error_server(&e->s->err, eexPopServer, 0, resp_code(text, rcode), text,
                    "The POP3 server greeted with an error: \"%s\". It does "
                    "not accept connections now; try again later or ask its "
                    "administrator.",
                    text);
    return MW_STEP_ERROR;
  }
  keep_timestamp(e, text);
  return perform_capa(e);
}

static int wants_stls(const mw_pop3_engine *e) {
  return e->s->ssl && e->s->ssl->mode == MODE_STARTTLS && !is_secure(e);
}

static int after_capa(mw_pop3_engine *e) {
  if (wants_stls(e)) {
    if (!mw_pop3_engine_has_cap(e, "STLS")) {
      mw_error_set(&e->s->err, eexSSLStartTLSUnavailable, 0,
                   "The POP3 server does not offer STLS, and the SSLInfo asks "
                   "for MODE_STARTTLS. Nothing more was sent and the "
                   "connection was closed; use MODE_CHANNEL on the POP3S "
                   "port, or a server that offers STLS.");
      return MW_STEP_ERROR;
    }
    if (mw_reader_pending(&e->in)) {
      /* Bytes nobody asked for: a forged +OK waiting for our STLS. */
      mw_error_set(&e->s->err, eexSSLInjection, 0,
                   "The POP3 server sent %zu bytes nobody asked for before "
                   "STLS; they may have been injected. STLS was not sent and "
                   "the connection was closed.",
                   mw_reader_pending(&e->in));
      return MW_STEP_ERROR;
    }
    return perform_stls(e);
  }
  return perform_login(e);
}

static int state_capa_resp(mw_pop3_engine *e, int ok, const char *text) {
  (void)text;
  if (!ok) /* CAPA is optional (RFC 2449): no capabilities */
    return after_capa(e);
  e->have_capa = 1;
  set_state(e, MW_P3_CAPA_BODY);
  return P3_NEXT;
}

static int state_capa_body(mw_pop3_engine *e, const char *line, size_t len) {
  if (unstuff(&line, &len))
    return after_capa(e);
  mw_log_line(e->s->log, 'S', line, len);
  if (e->ncaps >= MW_MAX_REPLY_LINES) {
    mw_error_set(&e->s->err, eexLineTooLong, 0,
                 "The POP3 server's CAPA reply has more than %d lines; the "
                 "connection was closed.",
                 MW_MAX_REPLY_LINES);
    return MW_STEP_ERROR;
  }
  if (memchr(line, '\0', len))
    return fail_malformed(e, "a NUL byte in a capability");
  if (add_cap(e, line, len) != 0)
    return fail_memory(e);
  return P3_NEXT;
}

static int state_stls_resp(mw_pop3_engine *e, int ok, const char *text) {
  if (!ok) {
    char rcode[16];
    mw_error_server(&e->s->err, eexSSLStartTLSRefused, 0,
                    resp_code(text, rcode), text,
                    "The POP3 server refused STLS: \"%s\". The connection "
                    "was closed without sending credentials; check the "
                    "server's TLS configuration or use MODE_CHANNEL.",
                    text);
    return MW_STEP_ERROR;
  }
  /* RFC 2595: what was learnt before TLS cannot be trusted. */
  forget_caps(e);
  e->tls_active = 1;
  set_state(e, MW_P3_STARTTLS);
  return MW_STEP_TLS;
}

/* ---- login ---- */

static int refuse_mechanism(mw_pop3_engine *e, const char *why) {
  const char *offered = mw_pop3_engine_cap_params(e, "SASL");
  mw_error_set(&e->s->err, eexAuthNoMechanism, 0,
               "%s (the server offers SASL: \"%s\"%s). Nothing was sent; "
               "choose another mechanism with mw_pop3_set_auth_mechanism, "
               "or none to pick the strongest offered.",
               why, offered ? offered : "", e->timestamp ? ", and APOP" : "");
  return MW_STEP_ERROR;
}

/* No SASL: over TLS, USER/PASS when CAPA lists USER (as safe as APOP
 * there, and it works where the server keeps no APOP secrets, as GNU
 * Mailutils without its APOP database); APOP when the greeting has a
 * timestamp (and, over TLS, USER is not listed); else USER. */
static const char *choose_user_or_apop(mw_pop3_engine *e) {
  if (e->timestamp && !(is_secure(e) && mw_pop3_engine_has_cap(e, "USER"))) {
    e->apop_auto = 1;
    return "APOP";
  }
  return "USER";
}

/* The caller's mechanism, or the strongest offered: SASL, then (see
 * choose_user_or_apop) USER or APOP. */
static const char *choose_mechanism(mw_pop3_engine *e, int *rc) {
  const char *wanted = e->s->mech;
  const char *offered = mw_pop3_engine_cap_params(e, "SASL");
  *rc = P3_NEXT;
  if (wanted && mw_strcaseeq(wanted, "USER"))
    return "USER";
  if (wanted && mw_strcaseeq(wanted, "APOP")) {
    if (e->timestamp)
      return "APOP";
    *rc = refuse_mechanism(e, "APOP was asked for, but the server's greeting "
                              "has no APOP timestamp");
    return NULL;
  }
  if (wanted) {
    const char *m = mw_sasl_choose(offered ? offered : "", wanted);
    if (!m)
      *rc = refuse_mechanism(e, "The SASL mechanism asked for is not offered "
                                "by the POP3 server");
    return m;
  }
  const char *m = offered ? mw_sasl_choose(offered, NULL) : NULL;
  if (m)
    return m;
  return choose_user_or_apop(e);
}

static int perform_user(mw_pop3_engine *e) {
  if (mw_check_arg(&e->s->err, "password", e->s->pass, 1, P3_MAX_PASS) !=
      MW_OK)
    return MW_STEP_ERROR;
  if (check_nothing_unsolicited(e, "USER") != 0)
    return MW_STEP_ERROR;
  mw_buf line;
  mw_buf_init(&line);
  int bad = mw_buf_appendf(&line, "USER %s", mw_session_login_user(e->s));
  if (!bad)
    bad = send_line(e, line.data, -1);
  mw_buf_free(&line);
  if (bad)
    return fail_memory(e);
  snprintf(e->cmd, sizeof e->cmd, "USER");
  set_state(e, MW_P3_USER);
  return P3_NEXT;
}

/* Queue a line holding a secret, logging only its first keep bytes, and
 * wipe the temporary copy. */
static int send_secret(mw_pop3_engine *e, const char *prefix,
                       const char *secret, size_t keep) {
  size_t n = strlen(prefix) + strlen(secret) + 1;
  char *line = malloc(n);
  if (!line)
    return -1;
  snprintf(line, n, "%s%s", prefix, secret);
  int rc = send_line(e, line, (long)keep);
  mw_free_secret(line);
  return rc;
}

static int state_user_resp(mw_pop3_engine *e, int ok, const char *text) {
  if (!ok)
    return fail_login(e, text);
  if (check_nothing_unsolicited(e, "PASS") != 0)
    return MW_STEP_ERROR;
  if (send_secret(e, "PASS ", e->s->pass, 5) != 0)
    return fail_memory(e);
  snprintf(e->cmd, sizeof e->cmd, "PASS");
  set_state(e, MW_P3_PASS);
  return P3_NEXT;
}

static int logged_in(mw_pop3_engine *e, int ok, const char *text) {
  if (!ok)
    return fail_login(e, text);
  set_state(e, MW_P3_STOP);
  return MW_STEP_DONE;
}

static int perform_apop(mw_pop3_engine *e) {
  char digest[33];
  const char *pass = e->s->pass ? e->s->pass : "";
  if (mw_apop_digest(e->timestamp, strlen(e->timestamp), pass, digest) != 0)
    return fail_memory(e);
  size_t n = strlen(mw_session_login_user(e->s)) + 7;
  char *prefix = malloc(n);
  if (!prefix)
    return fail_memory(e);
  snprintf(prefix, n, "APOP %s ", mw_session_login_user(e->s));
  /* The digest can be replayed against the same timestamp: never logged. */
  int bad = send_secret(e, prefix, digest, n - 1);
  free(prefix);
  memset(digest, 0, sizeof digest);
  if (bad)
    return fail_memory(e);
  snprintf(e->cmd, sizeof e->cmd, "APOP");
  set_state(e, MW_P3_APOP);
  return P3_NEXT;
}

/* An APOP we chose, refused over TLS where USER may work (listed by CAPA,
 * or no CAPA to say): USER/PASS once. Asked-for APOP is never replaced. */
static int state_apop_resp(mw_pop3_engine *e, int ok, const char *text) {
  int user_possible = !e->have_capa || mw_pop3_engine_has_cap(e, "USER");
  if (ok || !e->apop_auto || !is_secure(e) || !user_possible)
    return logged_in(e, ok, text);
  e->apop_auto = 0;
  mw_log(e->s->log, LOG_S_WARNING, LOG_F_PROTOCOL,
         "APOP was refused (\"%s\"); trying USER/PASS over TLS instead", text);
  e->mech_used = "USER";
  return perform_user(e);
}

static int perform_auth(mw_pop3_engine *e, const char *mech) {
  char cmd[48];
  snprintf(cmd, sizeof cmd, "AUTH %s", mech);
  e->auth_round = 0;
  return send_command(e, cmd, MW_P3_AUTH);
}

static int perform_login(mw_pop3_engine *e) {
  mw_session *s = e->s;
  if (!s->user) {
    set_state(e, MW_P3_STOP);
    return MW_STEP_DONE;
  }
  if (!is_secure(e) && !s->allow_plain_auth) {
    mw_error_set(&s->err, eexAuthPlaintext, 0,
                 "The connection to the POP3 server is not encrypted, so the "
                 "credentials were not sent. Use an SSLInfo (MODE_CHANNEL or "
                 "MODE_STARTTLS), or allow plaintext authentication with "
                 "mw_pop3_set_allow_plaintext_auth.");
    return MW_STEP_ERROR;
  }
  if (mw_check_arg(&s->err, "user name", mw_session_login_user(s), 0,
                   P3_MAX_USER) != MW_OK)
    return MW_STEP_ERROR;
  if (!s->pass) {
    mw_error_set(&s->err, eexInvalidArgument, 0,
                 "No password is set; set the credentials again.");
    return MW_STEP_ERROR;
  }
  int rc;
  e->apop_auto = 0;
  const char *mech = choose_mechanism(e, &rc);
  if (!mech)
    return rc;
  e->mech_used = mech;
  if (strcmp(mech, "USER") == 0)
    return perform_user(e);
  if (strcmp(mech, "APOP") == 0)
    return perform_apop(e);
  return perform_auth(e, mech);
}

/* The answer to SASL challenge number e->auth_round (from 1), base64
 * encoded, malloc'd; "*" cancels (RFC 5034). */
static char *auth_response(mw_pop3_engine *e, const char *challenge,
                           int *malformed) {
  const char *m = e->mech_used, *u = mw_session_login_user(e->s),
             *p = e->s->pass;
  int r = e->auth_round;
  *malformed = 0;
  if (strcmp(m, "PLAIN") == 0 && r == 1)
    return mw_sasl_plain(u, p);
  if (strcmp(m, "XOAUTH2") == 0)
    /* A second challenge carries the error; it wants an empty answer. */
    return r == 1 ? mw_sasl_xoauth2(u, p) : mw_strdup("");
  if (strcmp(m, "LOGIN") == 0 && r <= 2) {
    const char *v = r == 1 ? u : p;
    return mw_base64_encode(v, strlen(v));
  }
  if (strcmp(m, "CRAM-MD5") == 0 && r == 1) {
    char *ans = mw_sasl_cram_md5(u, p, challenge, strlen(challenge));
    if (!ans)
      *malformed = 1;
    return ans;
  }
  return mw_strdup("*");
}

static int state_auth_challenge(mw_pop3_engine *e, const char *line,
                                size_t len) {
  mw_log_line(e->s->log, 'S', line, len);
  if (++e->auth_round > P3_MAX_AUTH_ROUNDS)
    return fail_malformed(e, "more than 10 SASL challenges");
  const char *challenge = len > 2 ? line + 2 : "";
  int malformed;
  char *ans = auth_response(e, challenge, &malformed);
  if (malformed)
    return fail_malformed(e, "a CRAM-MD5 challenge that is not base64");
  if (!ans)
    return fail_memory(e);
  int bad = send_line(e, ans, 0);
  mw_free_secret(ans);
  return bad ? fail_memory(e) : P3_NEXT;
}

/* ---- transaction commands ---- */

static int state_stat_resp(mw_pop3_engine *e, int ok, const char *text) {
  if (!ok)
    return fail_refused(e, text);
  uint64_t n, size;
  const char *p = text;
  if (parse_field(&p, ULONG_MAX, &n) != 0 ||
      parse_field(&p, P3_MAX_SIZE, &size) != 0)
    return fail_malformed(e, "a STAT reply without a valid count and size");
  e->stat_count = (unsigned long)n;
  e->stat_octets = size;
  set_state(e, MW_P3_STOP);
  return MW_STEP_DONE;
}

static int add_entry(mw_pop3_engine *e, unsigned long number, uint64_t size,
                     const char *uid, size_t uidlen) {
  if (e->nentries == e->entries_cap) {
    size_t cap = e->entries_cap ? e->entries_cap * 2 : 64;
    mw_pop3_entry *p = realloc(e->entries, cap * sizeof *p);
    if (!p)
      return -1;
    e->entries = p;
    e->entries_cap = cap;
  }
  mw_pop3_entry *en = &e->entries[e->nentries];
  en->number = number;
  en->size = size;
  en->uid_off = SIZE_MAX;
  if (uid) {
    en->uid_off = e->uids.len;
    if (mw_buf_append(&e->uids, uid, uidlen) != 0 ||
        mw_buf_append(&e->uids, "", 1) != 0)
      return -1;
  }
  e->nentries++;
  return 0;
}

static int valid_uid(const char *uid, size_t len) {
  if (len < 1 || len > MW_POP3_MAX_UID)
    return 0;
  for (size_t i = 0; i < len; i++)
    if ((unsigned char)uid[i] < 0x21 || (unsigned char)uid[i] > 0x7e)
      return 0;
  return 1;
}

/* "n size ..." (LIST) */
static int parse_scan(const char *p, unsigned long *n, uint64_t *size) {
  uint64_t num;
  if (parse_field(&p, ULONG_MAX, &num) != 0 || num == 0 ||
      parse_field(&p, P3_MAX_SIZE, size) != 0)
    return -1;
  *n = (unsigned long)num;
  return 0;
}

/* "n uid" (UIDL) */
static int parse_uid(const char *p, unsigned long *n, const char **uid,
                     size_t *uidlen) {
  uint64_t num;
  if (parse_number(&p, ULONG_MAX, &num) != 0 || num == 0 || *p != ' ')
    return -1;
  while (*p == ' ')
    p++;
  size_t len = strlen(p);
  while (len > 0 && p[len - 1] == ' ')
    len--;
  if (!valid_uid(p, len))
    return -1;
  *n = (unsigned long)num;
  *uid = p;
  *uidlen = len;
  return 0;
}

static int listing_done(mw_pop3_engine *e) {
  char msg[64];
  snprintf(msg, sizeof msg, "<listing: %zu entries>", e->nentries);
  mw_log_line(e->s->log, 'S', msg, strlen(msg));
  set_state(e, MW_P3_STOP);
  return MW_STEP_DONE;
}

static int listing_full(mw_pop3_engine *e) {
  if (e->nentries < MW_MAX_LIST_ENTRIES)
    return 0;
  mw_error_set(&e->s->err, eexLineTooLong, 0,
               "The POP3 server's %s reply has more than %d entries; the "
               "connection was closed.",
               e->cmd, MW_MAX_LIST_ENTRIES);
  return 1;
}

static int state_list_resp(mw_pop3_engine *e, int ok, const char *text) {
  if (!ok)
    return fail_refused(e, text);
  set_state(e, e->state == MW_P3_LIST ? MW_P3_LIST_BODY : MW_P3_UIDL_BODY);
  return P3_NEXT;
}

static int state_list_body(mw_pop3_engine *e, const char *line, size_t len) {
  if (unstuff(&line, &len))
    return listing_done(e);
  unsigned long n;
  uint64_t size;
  if (memchr(line, '\0', len) || parse_scan(line, &n, &size) != 0)
    return fail_malformed(e, "a LIST line that is not \"number size\"");
  if (listing_full(e))
    return MW_STEP_ERROR;
  return add_entry(e, n, size, NULL, 0) ? fail_memory(e) : P3_NEXT;
}

static int state_uidl_body(mw_pop3_engine *e, const char *line, size_t len) {
  if (unstuff(&line, &len))
    return listing_done(e);
  unsigned long n;
  const char *uid;
  size_t uidlen;
  if (memchr(line, '\0', len) || parse_uid(line, &n, &uid, &uidlen) != 0)
    return fail_malformed(e, "a UIDL line that is not \"number uid\" with a "
                             "UID of 1 to 70 printable characters");
  if (listing_full(e))
    return MW_STEP_ERROR;
  return add_entry(e, n, 0, uid, uidlen) ? fail_memory(e) : P3_NEXT;
}

static int state_list_one_resp(mw_pop3_engine *e, int ok, const char *text) {
  if (!ok)
    return fail_refused(e, text);
  unsigned long n;
  if (parse_scan(text, &n, &e->one_size) != 0 || n != e->msg)
    return fail_malformed(e, "a reply that is not \"+OK number size\" for "
                             "the message asked for");
  set_state(e, MW_P3_STOP);
  return MW_STEP_DONE;
}

static int state_uidl_one_resp(mw_pop3_engine *e, int ok, const char *text) {
  if (!ok)
    return fail_refused(e, text);
  unsigned long n;
  const char *uid;
  size_t len;
  if (parse_uid(text, &n, &uid, &len) != 0 || n != e->msg)
    return fail_malformed(e, "a reply that is not \"+OK number uid\" for the "
                             "message asked for");
  memcpy(e->one_uid, uid, len);
  e->one_uid[len] = '\0';
  set_state(e, MW_P3_STOP);
  return MW_STEP_DONE;
}

/* ---- RETR / TOP bodies ---- */

static int fail_aborted(mw_pop3_engine *e, int rc) {
  mw_error_set(&e->s->err, eexAborted, 0,
               "The write callback returned %d and aborted %s; the "
               "connection was closed because the rest of the message was "
               "still on its way.",
               rc, e->cmd);
  return MW_STEP_ERROR;
}

static int batch_set_text(mw_pop3_engine *e, size_t i, const char *text);

/* The message passed the limit: read to its end (ended) and discarded,
 * or still coming at twice the limit, and the connection dropped. */
static int too_large(mw_pop3_engine *e, int endless) {
  mw_error_set(&e->s->err, eexMessageTooLarge, 0,
               "%s returned %s%llu bytes, more than the limit of %llu set "
               "with mw_pop3_set_max_message_size; %s Raise the limit, or "
               "use the streaming call.",
               e->cmd, endless ? "over " : "", (unsigned long long)e->body_len,
               (unsigned long long)e->max_size,
               endless ? "the connection was closed rather than read on."
                       : "it was read to the end and discarded.");
  if (endless)
    e->s->drop = 1;
  return -1;
}

/* Hand over n bytes of the message: to the caller's callback straight from
 * the reader's buffer, or into e->body. 0, or -1 with the error set. */
static int deliver(mw_pop3_engine *e, const char *p, size_t n) {
  if (n == 0)
    return 0;
  e->body_len += n;
  int rc;
  if (e->state == MW_P3_BATCH_BODY) {
    rc = e->bsink(e->bsink_ud, e->bdone, e->batch[e->bdone].msg, p, n, 0);
  } else if (e->sink) {
    rc = e->sink(e->sink_ud, p, n);
  } else {
    if (e->max_size && e->body_len > e->max_size && !e->too_large) {
      e->too_large = 1;
      mw_buf_free(&e->body);
    }
    /* Read to the end so the session stays usable, but not forever: past
     * twice the limit (an endless message) the connection is dropped. */
    if (e->too_large && e->body_len - n >= e->max_size * 2)
      return too_large(e, 1);
    if (e->too_large)
      return 0;
    return mw_buf_append(&e->body, p, n) != 0 ? (fail_memory(e), -1) : 0;
  }
  if (rc == 0)
    return 0;
  if (e->state == MW_P3_BATCH_BODY) {
    e->batch[e->bdone].status = errAborted;
    batch_set_text(e, e->bdone, "aborted by the callback");
  }
  fail_aborted(e, rc);
  return -1;
}

/* A body line [p, lf] that starts with a dot or ends in a bare LF: 1 for
 * the terminating ".", else 0 once handed over unstuffed with CRLF (RFC
 * 1939 section 3), or -1. */
static int special_line(mw_pop3_engine *e, const char *p, const char *lf) {
  const char *end = lf;
  int crlf = end > p && end[-1] == '\r';
  if (crlf)
    end--;
  if (*p == '.') {
    if (end == p + 1)
      return 1;
    p++;
  }
  if (crlf)
    return deliver(e, p, (size_t)(lf + 1 - p));
  if (deliver(e, p, (size_t)(lf - p)) != 0)
    return -1;
  return deliver(e, "\r\n", 2);
}

static int line_too_long(mw_pop3_engine *e) {
  mw_error_set(&e->s->err, eexLineTooLong, 0,
               "The POP3 server sent a line longer than %d bytes in reply "
               "to %s; the connection was closed.",
               MW_MAX_BODY_LINE, e->cmd);
  return MW_STEP_ERROR;
}

static int body_done(mw_pop3_engine *e);

/* Frame and unstuff the buffered part of a message in one linear pass:
 * runs of ordinary lines (CRLF, no leading dot) go out as one piece
 * straight from the reader's buffer; only an incomplete last line stays
 * buffered (at most MW_MAX_BODY_LINE), and its bytes are not searched
 * again. */
static int scan_body(mw_pop3_engine *e) {
  const char *buf;
  size_t avail = mw_reader_peek(&e->in, &buf);
  size_t run = 0, i = 0, skip = e->tail_scanned;
  for (;;) {
    if (i + skip >= avail)
      break;
    const char *lf = memchr(buf + i + skip, '\n', avail - i - skip);
    skip = 0;
    if (!lf)
      break;
    size_t end = (size_t)(lf - buf);
    if (end + 1 - i > MW_MAX_BODY_LINE)
      return line_too_long(e);
    if (buf[i] != '.' && end > i && buf[end - 1] == '\r') {
      i = end + 1;
      continue;
    }
    if (deliver(e, buf + run, i - run) != 0)
      return MW_STEP_ERROR;
    int t = special_line(e, buf + i, lf);
    run = i = end + 1;
    if (t < 0)
      return MW_STEP_ERROR;
    if (t == 1) {
      mw_reader_skip(&e->in, i);
      return body_done(e);
    }
  }
  if (deliver(e, buf + run, i - run) != 0)
    return MW_STEP_ERROR;
  mw_reader_skip(&e->in, i);
  e->tail_scanned = avail - i;
  if (avail - i > MW_MAX_BODY_LINE)
    return line_too_long(e);
  return MW_STEP_READ;
}

static void log_body(mw_pop3_engine *e) {
  char msg[64];
  snprintf(msg, sizeof msg, "<body: %llu bytes>",
           (unsigned long long)e->body_len);
  mw_log_line(e->s->log, 'S', msg, strlen(msg));
}

static int retrieval_done(mw_pop3_engine *e) {
  log_body(e);
  if (e->too_large) {
    too_large(e, 0);
    return MW_STEP_ERROR;
  }
  set_state(e, MW_P3_STOP);
  return MW_STEP_DONE;
}

/* The size in "+OK 20480 octets", to size e->body once instead of
 * doubling; trusted only up to a bound (a server may lie). */
static void presize_body(mw_pop3_engine *e, const char *text) {
  uint64_t n;
  const char *p = text;
  if (e->sink || parse_number(&p, P3_MAX_SIZE, &n) != 0)
    return;
  if (e->max_size && n > e->max_size)
    n = e->max_size;
  if (n > P3_PRESIZE_MAX)
    n = P3_PRESIZE_MAX;
  (void)mw_buf_reserve(&e->body, (size_t)n); /* a hint only */
}

static int start_body(mw_pop3_engine *e, mw_pop3_state st) {
  e->body_len = 0;
  e->tail_scanned = 0;
  set_state(e, st);
  return P3_NEXT;
}

static int state_retr_resp(mw_pop3_engine *e, int ok, const char *text) {
  if (!ok)
    return fail_refused(e, text);
  presize_body(e, text);
  return start_body(e, MW_P3_RETR_BODY);
}

/* ---- batches ---- */

static int batch_set_text(mw_pop3_engine *e, size_t i, const char *text) {
  size_t off = e->batch_texts.len;
  if (mw_buf_append(&e->batch_texts, text, strlen(text) + 1) != 0)
    return -1;
  e->batch[i].text_off = off;
  return 0;
}

static int batch_format(const mw_pop3_engine *e, size_t i, char *cmd,
                        size_t cap) {
  unsigned long m = e->batch[i].msg;
  switch (e->bkind) {
  case MW_P3B_TOP:
    return snprintf(cmd, cap, "TOP %lu %lld", m, e->btop);
  case MW_P3B_DELE:
    return snprintf(cmd, cap, "DELE %lu", m);
  case MW_P3B_LIST:
    return snprintf(cmd, cap, "LIST %lu", m);
  case MW_P3B_UIDL:
    return snprintf(cmd, cap, "UIDL %lu", m);
  default:
    return snprintf(cmd, cap, "RETR %lu", m);
  }
}

/* Queue commands up to the window once at most half of it is
 * outstanding, so the commands go out gathered, a few writes per window
 * instead of one per message. The window bounds what is in flight (a
 * command is at most 40 bytes, so at most P3_WINDOW * 40 bytes: far less
 * than any socket buffer, so writing them never waits for the server to
 * read, and the server never waits for us while we write). */
static int batch_fill(mw_pop3_engine *e) {
  if (e->bsent - e->bdone > e->window / 2)
    return 0;
  while (e->bsent < e->bcount && e->bsent - e->bdone < e->window) {
    char cmd[48];
    batch_format(e, e->bsent, cmd, sizeof cmd);
    if (send_line(e, cmd, -1) != 0)
      return -1;
    e->bsent++;
  }
  return 0;
}

static int batch_end(mw_pop3_engine *e) {
  set_state(e, MW_P3_STOP);
  if (e->brefused == 0)
    return MW_STEP_DONE;
  size_t i = e->bfirst_refused;
  const char *text = mw_pop3_engine_batch_text(e, i);
  batch_format(e, i, e->cmd, sizeof e->cmd);
  char rcode[16];
  mw_error_server(&e->s->err, eexPopServer, 0, resp_code(text, rcode), text,
                  "The POP3 server refused %zu of the %zu commands of the "
                  "batch; the first was %s: \"%s\". The others were done "
                  "(see the batch results); the connection is still open.",
                  e->brefused, e->bcount, e->cmd, text);
  return MW_STEP_ERROR;
}

/* Answer e->bdone is complete: on to the next, topping up the window. */
static int batch_next(mw_pop3_engine *e) {
  e->bdone++;
  if (e->bdone == e->bcount)
    return batch_end(e);
  batch_format(e, e->bdone, e->cmd, sizeof e->cmd);
  if (batch_fill(e) != 0)
    return fail_memory(e);
  set_state(e, MW_P3_BATCH);
  return P3_NEXT;
}

/* "+OK n size" / "+OK n uid" for the message asked for, as LIST n and
 * UIDL n answer one by one. */
static int batch_scan_listing(mw_pop3_engine *e, size_t i, const char *text) {
  unsigned long n;
  if (e->bkind == MW_P3B_LIST) {
    if (parse_scan(text, &n, &e->batch[i].size) != 0 || n != e->batch[i].msg)
      return fail_malformed(e, "a reply that is not \"+OK number size\" "
                               "for the message asked for");
    return P3_NEXT;
  }
  const char *uid;
  size_t len;
  if (parse_uid(text, &n, &uid, &len) != 0 || n != e->batch[i].msg)
    return fail_malformed(e, "a reply that is not \"+OK number uid\" for "
                             "the message asked for");
  size_t off = e->batch_texts.len;
  if (mw_buf_append(&e->batch_texts, uid, len) != 0 ||
      mw_buf_append(&e->batch_texts, "", 1) != 0)
    return fail_memory(e);
  e->batch[i].uid_off = off;
  return P3_NEXT;
}

static int state_batch_resp(mw_pop3_engine *e, int ok, const char *text) {
  size_t i = e->bdone;
  if (!ok) {
    if (batch_set_text(e, i, text) != 0)
      return fail_memory(e);
    e->batch[i].status = errServer;
    if (e->brefused++ == 0)
      e->bfirst_refused = i;
    return batch_next(e);
  }
  if (e->bkind == MW_P3B_RETR || e->bkind == MW_P3B_TOP)
    return start_body(e, MW_P3_BATCH_BODY);
  if (e->bkind == MW_P3B_LIST || e->bkind == MW_P3B_UIDL) {
    int rc = batch_scan_listing(e, i, text);
    if (rc != P3_NEXT)
      return rc;
  }
  if (batch_set_text(e, i, text) != 0)
    return fail_memory(e);
  e->batch[i].status = MW_OK;
  return batch_next(e);
}

/* The terminator of the current message: the end call, then the result
 * (the +OK text is still the last status line read). */
static int batch_body_done(mw_pop3_engine *e) {
  size_t i = e->bdone;
  log_body(e);
  int rc = e->bsink(e->bsink_ud, i, e->batch[i].msg, "", 0, 1);
  if (rc != 0) {
    e->batch[i].status = errAborted;
    batch_set_text(e, i, "aborted by the callback");
    return fail_aborted(e, rc);
  }
  if (batch_set_text(e, i, e->last_text.data ? e->last_text.data : "") != 0)
    return fail_memory(e);
  e->batch[i].status = MW_OK;
  return batch_next(e);
}

static int body_done(mw_pop3_engine *e) {
  return e->state == MW_P3_BATCH_BODY ? batch_body_done(e) : retrieval_done(e);
}

const char *mw_pop3_engine_batch_uid(const mw_pop3_engine *e, size_t i) {
  if (i >= e->bcount || e->batch[i].uid_off == SIZE_MAX)
    return "";
  return e->batch_texts.data + e->batch[i].uid_off;
}

const char *mw_pop3_engine_batch_text(const mw_pop3_engine *e, size_t i) {
  if (i >= e->bcount)
    return "";
  if (e->batch[i].text_off == SIZE_MAX)
    return e->batch[i].status == errNotConnected ? "not answered" : "";
  return e->batch_texts.data + e->batch[i].text_off;
}

static int state_simple_resp(mw_pop3_engine *e, int ok, const char *text) {
  if (!ok)
    return fail_refused(e, text);
  set_state(e, MW_P3_STOP);
  return MW_STEP_DONE;
}

/* ---- the one switch ---- */

static int is_body_state(mw_pop3_state st) {
  return st == MW_P3_CAPA_BODY || st == MW_P3_LIST_BODY ||
         st == MW_P3_UIDL_BODY;
}

/* Read status lines as such (and log them); body lines go to their state
 * raw. Then the one switch. */
static int dispatch(mw_pop3_engine *e, const char *line, size_t len) {
  const char *text = NULL;
  int ok = 0;
  if (!is_body_state(e->state)) {
    if (e->state == MW_P3_AUTH && len >= 1 && line[0] == '+' &&
        (len == 1 || line[1] == ' '))
      return state_auth_challenge(e, line, len);
    mw_log_line(e->s->log, 'S', line, len);
    ok = parse_status(e, line, len, &text);
    if (ok == -2)
      return fail_memory(e);
    if (ok < 0)
      return fail_malformed(e, "a line that is neither +OK nor -ERR");
  }
  switch (e->state) {
  case MW_P3_GREETING:
    return state_greeting_resp(e, ok, text);
  case MW_P3_CAPA:
    return state_capa_resp(e, ok, text);
  case MW_P3_CAPA_BODY:
    return state_capa_body(e, line, len);
  case MW_P3_STLS:
    return state_stls_resp(e, ok, text);
  case MW_P3_USER:
    return state_user_resp(e, ok, text);
  case MW_P3_APOP:
    return state_apop_resp(e, ok, text);
  case MW_P3_PASS:
  case MW_P3_AUTH:
    return logged_in(e, ok, text);
  case MW_P3_STAT:
    return state_stat_resp(e, ok, text);
  case MW_P3_LIST:
  case MW_P3_UIDL:
    return state_list_resp(e, ok, text);
  case MW_P3_LIST_BODY:
    return state_list_body(e, line, len);
  case MW_P3_UIDL_BODY:
    return state_uidl_body(e, line, len);
  case MW_P3_LIST_ONE:
    return state_list_one_resp(e, ok, text);
  case MW_P3_UIDL_ONE:
    return state_uidl_one_resp(e, ok, text);
  case MW_P3_RETR:
    return state_retr_resp(e, ok, text);
  case MW_P3_BATCH:
    return state_batch_resp(e, ok, text);
  case MW_P3_DELE:
  case MW_P3_RSET:
  case MW_P3_NOOP:
  case MW_P3_QUIT:
    return state_simple_resp(e, ok, text);
  case MW_P3_STOP:
  case MW_P3_STARTTLS:
  case MW_P3_RETR_BODY: /* scan_body's */
  case MW_P3_BATCH_BODY:
  case MW_P3_LAST:
    break;
  }
  return fail_malformed(e, "a line while no reply was expected");
}

mw_step mw_pop3_engine_step(void *engine) {
  mw_pop3_engine *e = engine;
  for (;;) {
    if (e->state == MW_P3_STOP)
      return MW_STEP_DONE;
    int r;
    if (e->state == MW_P3_STARTTLS) {
      r = perform_capa(e); /* TLS is up: ask again (RFC 2595) */
    } else if (e->state == MW_P3_RETR_BODY || e->state == MW_P3_BATCH_BODY) {
      r = scan_body(e);
    } else {
      const char *line;
      size_t len;
      int got = mw_reader_line(&e->in, MW_MAX_LINE, &line, &len);
      if (got == 0)
        return MW_STEP_READ;
      if (got < 0) {
        mw_error_set(&e->s->err, eexLineTooLong, 0,
                     "The POP3 server sent a line longer than %d bytes in "
                     "reply to %s; the connection was closed.",
                     MW_MAX_LINE, e->cmd[0] ? e->cmd : "the connection");
        r = MW_STEP_ERROR;
      } else {
        r = dispatch(e, line, len);
      }
    }
    if (r == MW_STEP_ERROR) {
      /* The pump sends nothing after an error: drop what was queued. */
      mw_buf_reset(&e->out);
      set_state(e, MW_P3_STOP);
    }
    if (r != P3_NEXT)
      return (mw_step)r;
  }
}

/* ---- starting operations ---- */

/* Before a command: no operation running and nothing unasked-for
 * buffered (a stray line would be taken as the next reply). */
static int begin(mw_pop3_engine *e) {
  mw_buf_reset(&e->out);
  e->cmd[0] = '\0';
  if (mw_reader_pending(&e->in) > 0)
    return mw_error_set(&e->s->err, eexMalformedReply, 0,
                        "The POP3 server sent %zu bytes nobody asked for; "
                        "the session is out of step and was closed.",
                        mw_reader_pending(&e->in));
  return MW_OK;
}

static int check_msg(mw_pop3_engine *e, unsigned long msg) {
  if (msg >= 1)
    return MW_OK;
  return mw_error_set(&e->s->err, eexInvalidArgument, 0,
                      "Message numbers start at 1 (got %lu); nothing was "
                      "sent to the server.",
                      msg);
}

/* Queue "<verb>[ msg]" and wait in next; returns MW_OK or a code. */
static int begin_command(mw_pop3_engine *e, const char *verb,
                         unsigned long msg, mw_pop3_state next) {
  int rc = begin(e);
  if (rc != MW_OK)
    return rc;
  char cmd[48];
  if (msg)
    snprintf(cmd, sizeof cmd, "%s %lu", verb, msg);
  else
    snprintf(cmd, sizeof cmd, "%s", verb);
  e->msg = msg;
  if (send_command(e, cmd, next) != P3_NEXT)
    return e->s->err.code;
  return MW_OK;
}

/* For timeout messages (mw_engine_io.waiting_for). */
static void waiting_for(void *engine, char *buf, size_t len) {
  const mw_pop3_engine *e = engine;
  if (e->state == MW_P3_GREETING)
    snprintf(buf, len, "the greeting");
  else if (e->state == MW_P3_RETR_BODY || e->state == MW_P3_BATCH_BODY)
    snprintf(buf, len, "the message of %s", e->cmd);
  else if (e->cmd[0])
    snprintf(buf, len, "the reply to %s", e->cmd);
}

/* Message content flows: the low-speed limit bounds it, not the reply
 * deadline (a large message on a slow link is no hostile reply). */
static int receiving_message(void *engine) {
  const mw_pop3_engine *e = engine;
  return e->state == MW_P3_RETR_BODY || e->state == MW_P3_BATCH_BODY;
}

void mw_pop3_engine_io(mw_pop3_engine *e, mw_engine_io *io) {
  *io = (mw_engine_io){e,           mw_pop3_engine_step, &e->out, &e->in,
                       waiting_for, receiving_message,   NULL};
}

int mw_pop3_engine_begin_connect(mw_pop3_engine *e) {
  mw_pop3_engine_reset(e);
  snprintf(e->cmd, sizeof e->cmd, "the connection (greeting)");
  set_state(e, MW_P3_GREETING);
  return MW_OK;
}

int mw_pop3_engine_begin_stat(mw_pop3_engine *e) {
  return begin_command(e, "STAT", 0, MW_P3_STAT);
}

int mw_pop3_engine_begin_list(mw_pop3_engine *e) {
  forget_entries(e);
  return begin_command(e, "LIST", 0, MW_P3_LIST);
}

int mw_pop3_engine_begin_uidl(mw_pop3_engine *e) {
  forget_entries(e);
  return begin_command(e, "UIDL", 0, MW_P3_UIDL);
}

int mw_pop3_engine_begin_list_one(mw_pop3_engine *e, unsigned long msg) {
  int rc = check_msg(e, msg);
  return rc ? rc : begin_command(e, "LIST", msg, MW_P3_LIST_ONE);
}

int mw_pop3_engine_begin_uidl_one(mw_pop3_engine *e, unsigned long msg) {
  int rc = check_msg(e, msg);
  return rc ? rc : begin_command(e, "UIDL", msg, MW_P3_UIDL_ONE);
}

int mw_pop3_engine_begin_retr(mw_pop3_engine *e, unsigned long msg,
                              long long top_lines, mw_write_cb sink, void *ud,
                              uint64_t max_size) {
  int rc = check_msg(e, msg);
  if (rc == MW_OK)
    rc = begin(e);
  if (rc != MW_OK)
    return rc;
  mw_buf_free(&e->body);
  e->sink = sink;
  e->sink_ud = ud;
  e->body_len = 0;
  e->max_size = sink ? 0 : max_size;
  e->too_large = 0;
  e->msg = msg;
  char cmd[48];
  if (top_lines < 0)
    snprintf(cmd, sizeof cmd, "RETR %lu", msg);
  else
    snprintf(cmd, sizeof cmd, "TOP %lu %lld", msg, top_lines);
  if (send_command(e, cmd, MW_P3_RETR) != P3_NEXT)
    return e->s->err.code;
  return MW_OK;
}

int mw_pop3_engine_begin_dele(mw_pop3_engine *e, unsigned long msg) {
  int rc = check_msg(e, msg);
  return rc ? rc : begin_command(e, "DELE", msg, MW_P3_DELE);
}

int mw_pop3_engine_begin_rset(mw_pop3_engine *e) {
  return begin_command(e, "RSET", 0, MW_P3_RSET);
}

int mw_pop3_engine_begin_noop(mw_pop3_engine *e) {
  return begin_command(e, "NOOP", 0, MW_P3_NOOP);
}

int mw_pop3_engine_begin_quit(mw_pop3_engine *e) {
  return begin_command(e, "QUIT", 0, MW_P3_QUIT);
}

/* Every argument before anything is queued: a batch is sent whole or not
 * at all. */
static int check_batch(mw_pop3_engine *e, mw_pop3_batch_kind kind,
                       const unsigned long *msgs, size_t n,
                       mw_msg_write_cb write) {
  if (n > 0 && !msgs)
    return mw_error_set(&e->s->err, eexInvalidArgument, 0,
                        "The list of message numbers is NULL; nothing was "
                        "sent to the server.");
  if ((kind == MW_P3B_RETR || kind == MW_P3B_TOP) && !write)
    return mw_error_set(&e->s->err, eexInvalidArgument, 0,
                        "The write callback is NULL; nothing was sent to "
                        "the server.");
  if (n > P3_MAX_BATCH)
    return mw_error_set(&e->s->err, eexInvalidArgument, 0,
                        "A batch takes at most %d messages (got %zu); "
                        "nothing was sent to the server.",
                        P3_MAX_BATCH, n);
  for (size_t i = 0; i < n; i++)
    if (msgs[i] == 0)
      return mw_error_set(&e->s->err, eexInvalidArgument, 0,
                          "Message numbers start at 1 (entry %zu is 0); "
                          "nothing was sent to the server.",
                          i);
  return MW_OK;
}

static int batch_reserve(mw_pop3_engine *e, size_t n) {
  if (n <= e->bcap)
    return 0;
  mw_pop3_bentry *p = realloc(e->batch, n * sizeof *p);
  if (!p)
    return -1;
  e->batch = p;
  e->bcap = n;
  return 0;
}

int mw_pop3_engine_begin_batch(mw_pop3_engine *e, mw_pop3_batch_kind kind,
                               const unsigned long *msgs, size_t n,
                               long long top_lines, mw_msg_write_cb write,
                               void *ud) {
  e->bcount = e->bsent = e->bdone = e->brefused = 0;
  mw_buf_reset(&e->batch_texts);
  int rc = check_batch(e, kind, msgs, n, write);
  if (rc == MW_OK)
    rc = begin(e);
  if (rc != MW_OK)
    return rc;
  if (batch_reserve(e, n) != 0)
    return mw_error_set(&e->s->err, eexNoMemory, 0, NULL);
  for (size_t i = 0; i < n; i++)
    e->batch[i] =
        (mw_pop3_bentry){msgs[i], errNotConnected, SIZE_MAX, 0, SIZE_MAX};
  e->bcount = n;
  e->bkind = kind;
  e->btop = top_lines;
  e->bsink = write;
  e->bsink_ud = ud;
  e->sink = NULL;
  e->window =
      e->pipelining && mw_pop3_engine_has_cap(e, "PIPELINING") ? P3_WINDOW : 1;
  if (n == 0) {
    set_state(e, MW_P3_STOP);
    return MW_OK;
  }
  batch_format(e, 0, e->cmd, sizeof e->cmd);
  if (batch_fill(e) != 0) {
    mw_buf_reset(&e->out);
    e->bsent = 0;
    return mw_error_set(&e->s->err, eexNoMemory, 0, NULL);
  }
  set_state(e, MW_P3_BATCH);
  return MW_OK;
}
