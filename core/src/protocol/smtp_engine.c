/* smtp_engine.c - the SMTP client state machine (RFC 5321, 3207, 4954,
 * 1870, 6152, 6531, 3463). No I/O: commands go to e->out, replies come
 * from e->in, and mw_smtp_engine_step tells the pump what to do next.
 *
 * Shape (as in curl's smtp.c): an enum of states with a names table, ONE
 * function that changes state (set_state), a perform_<cmd> that sends a
 * command and enters the state waiting for its reply, a state_<cmd>_resp
 * that handles that reply, and one switch (handle_reply) between them. */
#include "address.h"
#include "smtp_engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Longest address accepted in MAIL FROM / RCPT TO (RFC 5321 allows 256
 * for a path; be lenient, but keep command lines well under 1000). */
#define MW_SMTP_MAX_ADDR 900

/* What a state handler returns: a pump step, or AGAIN to keep stepping
 * (a new command was queued and its reply may already be buffered). */
enum { AGAIN = -1 };

static const char *const state_names[MW_SMTP_STATE_LAST] = {
    "IDLE", "GREETING", "EHLO", "HELO", "STARTTLS", "TLS",
    "AUTH", "MAIL",     "RCPT", "DATA", "BODY",     "DATA_END",
    "RSET", "NOOP",     "QUIT", "BDAT", "BATCH"};

const char *mw_smtp_engine_state_name(mw_smtp_state st) {
  return st < MW_SMTP_STATE_LAST ? state_names[st] : "?";
}

/* The only place the state changes. */
static void set_state(mw_smtp_engine *e, mw_smtp_state st) {
#ifdef MW_SMTP_TRACE
  if (e->state != st)
    mw_log(e->s->log, LOG_S_INFORMATION, LOG_F_PROTOCOL, "SMTP state %s -> %s",
           state_names[e->state], state_names[st]);
#endif
  e->state = st;
}

/* ---------------------------------------------------------------------
 * Lifetime.
 * ------------------------------------------------------------------- */

void mw_smtp_engine_init(mw_smtp_engine *e, mw_session *s) {
  memset(e, 0, sizeof *e);
  e->s = s;
  mw_buf_init(&e->out);
  mw_reader_init(&e->in);
  mw_buf_init(&e->capabilities);
  mw_buf_init(&e->cur_text);
  mw_buf_init(&e->last_text);
  mw_buf_init(&e->bdat);
  e->state = MW_SMTP_IDLE;
  e->pipelining_on = 1;
  e->chunking_on = 1;
}

static void forget_extensions(mw_smtp_engine *e) {
  for (size_t i = 0; i < e->n_ext; i++) {
    free(e->ext_keyword[i]);
    free(e->ext_params[i]);
  }
  free(e->ext_keyword);
  free(e->ext_params);
  e->ext_keyword = e->ext_params = NULL;
  e->n_ext = 0;
  e->esmtp = 0;
  mw_buf_reset(&e->capabilities);
}

static void free_results(mw_smtp_engine *e) {
  for (size_t i = 0; i < e->nresults; i++)
    free(e->results[i].text);
  free(e->results);
  e->results = NULL;
  e->nresults = 0;
}

static void free_transaction(mw_smtp_engine *e) {
  free(e->from);
  e->from = NULL;
  for (size_t i = 0; i < e->nrcpts; i++)
    free(e->rcpts[i]);
  free(e->rcpts);
  e->rcpts = NULL;
  e->nrcpts = 0;
  e->rcpt_next = 0;
  e->rcpt_sent = 0;
  e->data_sent = e->mail_failed = e->abandon = 0;
  mw_buf_reset(&e->bdat);
  memset(&e->src, 0, sizeof e->src);
}

void mw_smtp_engine_free(mw_smtp_engine *e) {
  forget_extensions(e);
  free_results(e);
  free_transaction(e);
  free(e->chunk);
  free(e->helo_name);
  mw_buf_free(&e->out);
  mw_reader_free(&e->in);
  mw_buf_free(&e->capabilities);
  mw_buf_free(&e->cur_text);
  mw_buf_free(&e->last_text);
  mw_buf_free(&e->bdat);
  mw_smtp_batch_free(e);
  memset(e, 0, sizeof *e);
}

/* What the reply of a state answers, for timeout messages. */
static const char *awaited_command(const mw_smtp_engine *e) {
  switch (e->state) {
  case MW_SMTP_EHLO:
    return "EHLO";
  case MW_SMTP_HELO:
    return "HELO";
  case MW_SMTP_STARTTLS:
    return "STARTTLS";
  case MW_SMTP_MAIL:
    return "MAIL FROM";
  case MW_SMTP_RCPT:
    return "RCPT TO";
  case MW_SMTP_DATA:
    return "DATA";
  case MW_SMTP_DATA_END:
    return "the end of the message data";
  case MW_SMTP_BODY:
    return "the message data";
  case MW_SMTP_RSET:
    return "RSET";
  case MW_SMTP_NOOP:
    return "NOOP";
  case MW_SMTP_QUIT:
    return "QUIT";
  case MW_SMTP_BDAT:
    return "BDAT";
  case MW_SMTP_BATCH:
    return "the batch's commands";
  default:
    return NULL;
  }
}

static void waiting_for(void *engine, char *buf, size_t len) {
  const mw_smtp_engine *e = engine;
  const char *cmd = awaited_command(e);
  if (e->state == MW_SMTP_GREETING)
    snprintf(buf, len, "the greeting");
  else if (e->state == MW_SMTP_AUTH)
    snprintf(buf, len, "the reply to AUTH %s",
             e->auth_mech ? e->auth_mech : "");
  else if (cmd)
    snprintf(buf, len, "the reply to %s", cmd);
}

static int read_reply(mw_smtp_engine *e);
static int fail(mw_smtp_engine *e);

/* A write failed (the server reset the connection while the body went
 * out): a 421 it sent before leaving is the reason, not the reset. */
static int salvage_421(void *engine) {
  mw_smtp_engine *e = engine;
  const char *buf;
  size_t n = mw_reader_peek(&e->in, &buf);
  if (n < 3 || memcmp(buf, "421", 3) != 0 || !memchr(buf, '\n', n))
    return 0;
  if (read_reply(e) >= 0 || e->s->err.reply_code != 421)
    return 0;
  fail(e);
  return 1;
}

void mw_smtp_engine_io(mw_smtp_engine *e, mw_engine_io *io) {
  *io = (mw_engine_io){e,    mw_smtp_engine_step, &e->out, &e->in, waiting_for,
                       NULL, salvage_421};
}

void mw_smtp_engine_disconnected(mw_smtp_engine *e) {
  e->ready = 0;
  e->tls_started = 0;
  free_transaction(e);
  mw_buf_reset(&e->out);
  mw_reader_clear(&e->in);
  set_state(e, MW_SMTP_IDLE);
}

int mw_smtp_engine_set_helo_name(mw_smtp_engine *e, const char *name) {
  char *copy = NULL;
  if (name) {
    copy = mw_strdup(name);
    if (!copy)
      return mw_error_set(&e->s->err, eexNoMemory, 0, NULL);
  }
  free(e->helo_name);
  e->helo_name = copy;
  return MW_OK;
}

/* ---------------------------------------------------------------------
 * Capabilities.
 * ------------------------------------------------------------------- */

static const char *find_extension(const mw_smtp_engine *e, const char *kw) {
  if (!kw)
    return NULL;
  for (size_t i = 0; i < e->n_ext; i++)
    if (mw_strcaseeq(e->ext_keyword[i], kw))
      return e->ext_params[i];
  return NULL;
}

int mw_smtp_engine_has_extension(const mw_smtp_engine *e, const char *kw) {
  return find_extension(e, kw) != NULL;
}

const char *mw_smtp_engine_extension_params(const mw_smtp_engine *e,
                                            const char *kw) {
  return find_extension(e, kw);
}

static int add_extension(mw_smtp_engine *e, const char *line, size_t len) {
  size_t kwlen = 0;
  while (kwlen < len && line[kwlen] != ' ')
    kwlen++;
  if (kwlen == 0)
    return 0;
  size_t p = kwlen;
  while (p < len && line[p] == ' ')
    p++;
  char **kws = realloc(e->ext_keyword, (e->n_ext + 1) * sizeof *kws);
  if (!kws)
    return -1;
  e->ext_keyword = kws;
  char **params = realloc(e->ext_params, (e->n_ext + 1) * sizeof *params);
  if (!params)
    return -1;
  e->ext_params = params;
  char *kw = malloc(kwlen + 1);
  char *pa = malloc(len - p + 1);
  if (!kw || !pa) {
    free(kw);
    free(pa);
    return -1;
  }
  for (size_t i = 0; i < kwlen; i++)
    kw[i] = (char)(line[i] >= 'a' && line[i] <= 'z' ? line[i] - 32 : line[i]);
  kw[kwlen] = '\0';
  memcpy(pa, line + p, len - p);
  pa[len - p] = '\0';
  e->ext_keyword[e->n_ext] = kw;
  e->ext_params[e->n_ext] = pa;
  e->n_ext++;
  return 0;
}

/* The EHLO reply's lines after the first are "KEYWORD params". */
static int parse_capabilities(mw_smtp_engine *e) {
  forget_extensions(e);
  e->esmtp = 1;
  const char *text = e->last_text.data ? e->last_text.data : "";
  const char *nl = strchr(text, '\n');
  if (!nl)
    return 0;
  const char *caps = nl + 1;
  if (mw_buf_append_str(&e->capabilities, caps) != 0)
    return -1;
  for (const char *p = caps; *p;) {
    size_t len = strcspn(p, "\n");
    if (add_extension(e, p, len) != 0)
      return -1;
    p += len;
    if (*p == '\n')
      p++;
  }
  return 0;
}

/* ---------------------------------------------------------------------
 * Errors and sending.
 * ------------------------------------------------------------------- */

/* Every failure drops what was queued but not sent: the pump never sends
 * `out` after an error, and the next operation must start clean. */
static int fail(mw_smtp_engine *e) {
  mw_buf_reset(&e->out);
  set_state(e, MW_SMTP_IDLE);
  return MW_STEP_ERROR;
}

static int fail_set(mw_smtp_engine *e, int number, const char *msg) {
  mw_error_set(&e->s->err, number, 0, "%s", msg);
  return fail(e);
}

static int no_memory(mw_smtp_engine *e) {
  return fail_set(e, eexNoMemory,
                  "Out of memory while talking to the SMTP "
                  "server.");
}

/* The reply just read as a server refusal, with code, enhanced status
 * and text kept in the ErrorInfo. */
static int server_error(mw_smtp_engine *e, int number, const char *what) {
  const char *text = e->last_text.data ? e->last_text.data : "";
  return mw_error_server(&e->s->err, number, e->last_code, e->last_enhanced,
                         text, "The SMTP server refused %s: %d %s", what,
                         e->last_code, text);
}

/* Queue one command line and log it. */
static int send_line(mw_smtp_engine *e, const char *line) {
  mw_log_line(e->s->log, 'C', line, strlen(line));
  if (mw_buf_append_str(&e->out, line) != 0 ||
      mw_buf_append(&e->out, "\r\n", 2) != 0)
    return -1;
  return 0;
}

/* The same for a line holding a secret: only its first `keep` bytes
 * ("AUTH PLAIN") reach the log. */
static int send_secret_line(mw_smtp_engine *e, const char *line, size_t keep) {
  mw_log_line_redacted(e->s->log, 'C', line, keep);
  if (mw_buf_append_str(&e->out, line) != 0 ||
      mw_buf_append(&e->out, "\r\n", 2) != 0)
    return -1;
  return 0;
}

/* ---------------------------------------------------------------------
 * Replies.
 * ------------------------------------------------------------------- */

static int is_digit(char c) {
  return c >= '0' && c <= '9';
}

/* RFC 3463 "class.subject.detail" at the start of text, class 2, 4 or 5,
 * followed by a space or the end. */
static void parse_enhanced(const char *text, char out[16]) {
  out[0] = '\0';
  if (!(text[0] == '2' || text[0] == '4' || text[0] == '5') || text[1] != '.')
    return;
  size_t i = 2;
  for (int part = 0; part < 2; part++) {
    size_t start = i;
    while (is_digit(text[i]) && i - start < 3)
      i++;
    if (i == start)
      return;
    if (part == 0 && text[i++] != '.')
      return;
  }
  if (text[i] != '\0' && text[i] != ' ')
    return;
  memcpy(out, text, i);
  out[i] = '\0';
}

/* 0, or -2 when out of memory (the reply text could not be kept). */
static int finish_reply(mw_smtp_engine *e) {
  e->last_code = e->cur_code;
  mw_buf_reset(&e->last_text);
  if (mw_buf_append(&e->last_text, e->cur_text.data ? e->cur_text.data : "",
                    e->cur_text.len) != 0 ||
      !e->last_text.data)
    return -2;
  parse_enhanced(e->last_text.data, e->last_enhanced);
  mw_buf_reset(&e->cur_text);
  e->cur_code = 0;
  e->cur_lines = 0;
  return 0;
}

static int malformed(mw_smtp_engine *e, const char *line, size_t len) {
  mw_error_set(&e->s->err, eexMalformedReply, 0,
               "The SMTP server sent a malformed reply line \"%.*s\" (a "
               "reply needs the same 3-digit code on every line); check "
               "that the port is an SMTP port.",
               (int)(len > 80 ? 80 : len), line);
  return -1;
}

/* One line of a reply: "250-text" continues, "250 text" or "250" ends.
 * The first digit must be 2-5 (RFC 5321 4.2.1: no SMTP command has a 1yz
 * reply), so a stray "188" is never taken as a recipient's result. */
static int take_reply_line(mw_smtp_engine *e, const char *line, size_t len) {
  if (len < 3 || line[0] < '2' || line[0] > '5' || !is_digit(line[1]) ||
      !is_digit(line[2]) || (len > 3 && line[3] != ' ' && line[3] != '-'))
    return malformed(e, line, len);
  int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
  if (e->cur_lines > 0 && code != e->cur_code)
    return malformed(e, line, len);
  if (++e->cur_lines > MW_MAX_REPLY_LINES) {
    mw_error_set(&e->s->err, eexLineTooLong, 0,
                 "The SMTP server sent a reply of more than %d lines; the "
                 "server is misbehaving.",
                 MW_MAX_REPLY_LINES);
    return -1;
  }
  e->cur_code = code;
  if (e->cur_lines > 1 && mw_buf_append(&e->cur_text, "\n", 1) != 0)
    return -2;
  if (len > 4 && mw_buf_append(&e->cur_text, line + 4, len - 4) != 0)
    return -2;
  return len > 3 && line[3] == '-' ? 0 : 1;
}

static void waiting_for(void *engine, char *buf, size_t len);

/* 421 (RFC 5321 3.8): the server is closing the transmission channel,
 * whatever command it answers. The session ends here with the 421 as the
 * reason: nothing more is sent (not even QUIT or RSET), and the pump
 * closes the connection although errServer normally keeps it. */
static int server_leaving(mw_smtp_engine *e) {
  char what[160] = "no command (it came unasked)";
  if (e->state == MW_SMTP_GREETING)
    snprintf(what, sizeof what, "the connection (its greeting)");
  else
    waiting_for(e, what, sizeof what);
  const char *text = e->last_text.data ? e->last_text.data : "";
  mw_error_server(&e->s->err, eexSmtpServer, 421, e->last_enhanced, text,
                  "The SMTP server is closing the session (421 %s), "
                  "answering %s; nothing more was sent and the connection "
                  "was closed. Try again later.",
                  text, what);
  e->s->drop = 1;
  return -1;
}

/* Read one complete reply from `in`: 1 done, 0 need more bytes, -1 error
 * (s->err set; a 421 is one, see server_leaving). */
static int read_reply(mw_smtp_engine *e) {
  for (;;) {
    const char *line;
    size_t len;
    int r = mw_reader_line(&e->in, MW_MAX_LINE, &line, &len);
    if (r == 0)
      return 0;
    if (r < 0) {
      mw_error_set(&e->s->err, eexLineTooLong, 0,
                   "The SMTP server sent a line longer than %d bytes; the "
                   "server is misbehaving or this is not an SMTP port.",
                   MW_MAX_LINE);
      return -1;
    }
    mw_log_line(e->s->log, 'S', line, len);
    int t = take_reply_line(e, line, len);
    if (t == 1)
      t = finish_reply(e) == 0 ? 1 : -2;
    if (t == -2) {
      mw_error_set(&e->s->err, eexNoMemory, 0, NULL);
      return -1;
    }
    if (t < 0)
      return -1;
    if (t == 1)
      return e->last_code == 421 && e->state != MW_SMTP_QUIT
                 ? server_leaving(e)
                 : 1;
  }
}

/* ---------------------------------------------------------------------
 * Connect: greeting, EHLO/HELO, STARTTLS, AUTH.
 * ------------------------------------------------------------------- */

/* The name for EHLO/HELO: the one set, else the local host name when it
 * is a plausible domain, else "localhost". */
static const char *helo_name(const mw_smtp_engine *e, char *buf, size_t cap) {
  if (e->helo_name)
    return e->helo_name;
  if (gethostname(buf, cap - 1) != 0 || !buf[0])
    return "localhost";
  buf[cap - 1] = '\0';
  for (const char *p = buf; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
          is_digit(*p) || *p == '-' || *p == '.'))
      return "localhost";
  return buf;
}

static int starttls_wanted(const mw_smtp_engine *e) {
  return e->s->ssl && e->s->ssl->mode == MODE_STARTTLS && !e->tls_started;
}

static int session_secure(const mw_smtp_engine *e) {
  return e->tls_started || mw_conn_is_secure(&e->s->conn);
}

/* Before a command that waits for its reply, nothing may be buffered:
 * bytes already here answer nothing we asked, and taking them as the
 * reply would put every later reply out of step (a forged 354 or 250).
 * An unsolicited 421 is the exception: the server says why it leaves. */
static int check_nothing_unsolicited(mw_smtp_engine *e, const char *cmd) {
  const char *buf;
  size_t n = mw_reader_peek(&e->in, &buf);
  if (n >= 3 && memcmp(buf, "421", 3) == 0 && memchr(buf, '\n', n))
    return read_reply(e) < 0 ? -1 : 0; /* the server already left */
  if (n == 0 || (n >= 3 && memcmp(buf, "421", 3) == 0))
    return 0;
  char verb[16];
  snprintf(verb, sizeof verb, "%.*s", (int)strcspn(cmd, " "), cmd);
  mw_error_set(&e->s->err, eexMalformedReply, 0,
               "The SMTP server sent %zu bytes before the client's %s "
               "command (a reply nobody asked for); the replies would be "
               "out of step, so %s was not sent and the connection was "
               "closed.",
               n, verb, verb);
  return -1;
}

/* The commands whose reply decides what goes next on the wire. */
static int is_lockstep(mw_smtp_state st) {
  return st == MW_SMTP_EHLO || st == MW_SMTP_HELO || st == MW_SMTP_AUTH ||
         st == MW_SMTP_MAIL || st == MW_SMTP_RCPT || st == MW_SMTP_DATA;
}

static int perform_command(mw_smtp_engine *e, const char *cmd,
                           mw_smtp_state st) {
  if (is_lockstep(st) && check_nothing_unsolicited(e, cmd) != 0)
    return fail(e);
  if (send_line(e, cmd) != 0)
    return no_memory(e);
  set_state(e, st);
  return AGAIN;
}

static int perform_hello(mw_smtp_engine *e, const char *verb,
                         mw_smtp_state st) {
  char host[256], line[512];
  snprintf(line, sizeof line, "%s %s", verb, helo_name(e, host, sizeof host));
  return perform_command(e, line, st);
}

static int finish_connect(mw_smtp_engine *e) {
  e->ready = 1;
  set_state(e, MW_SMTP_IDLE);
  return MW_STEP_DONE;
}

static int perform_auth(mw_smtp_engine *e);

static int after_hello(mw_smtp_engine *e) {
  if (starttls_wanted(e)) {
    if (!mw_smtp_engine_has_extension(e, "STARTTLS")) {
      mw_error_set(&e->s->err, eexSSLStartTLSUnavailable, 0,
                   "The SMTP server does not offer STARTTLS, and the "
                   "SSLInfo asks for it; nothing was sent in plaintext. Use "
                   "the server's STARTTLS port, or MODE_CHANNEL with its "
                   "implicit-TLS port (465).");
      return fail(e);
    }
    if (mw_reader_pending(&e->in)) {
      /* Bytes that came before we asked: a forged go-ahead waiting for
       * our STARTTLS (the reply would not be the server's answer). */
      mw_error_set(&e->s->err, eexSSLInjection, 0,
                   "The SMTP server sent %zu bytes nobody asked for before "
                   "STARTTLS; they may have been injected. STARTTLS was not "
                   "sent and the connection was closed.",
                   mw_reader_pending(&e->in));
      return fail(e);
    }
    return perform_command(e, "STARTTLS", MW_SMTP_STARTTLS);
  }
  if (e->s->user)
    return perform_auth(e);
  return finish_connect(e);
}

static int state_greeting_resp(mw_smtp_engine *e) {
  if (e->last_code != 220) {
    server_error(e, eexSmtpServer, "the connection (greeting)");
    return fail(e);
  }
  return perform_hello(e, "EHLO", MW_SMTP_EHLO);
}

static int state_ehlo_resp(mw_smtp_engine *e) {
  if (e->last_code == 250) {
    if (parse_capabilities(e) != 0)
      return no_memory(e);
    return after_hello(e);
  }
  if (e->last_code / 100 == 5 && !e->s->ssl && !session_secure(e)) {
    /* An old server: HELO, no extensions. Only where no TLS was asked,
     * so a refused EHLO can never strip STARTTLS. */
    forget_extensions(e);
    return perform_hello(e, "HELO", MW_SMTP_HELO);
  }
  if (starttls_wanted(e)) {
    server_error(e, eexSSLStartTLSUnavailable, "EHLO");
    snprintf(e->s->err.text, sizeof e->s->err.text,
             "The SMTP server refused EHLO (%d %s), so STARTTLS cannot be "
             "used, and the SSLInfo asks for it; nothing was sent in "
             "plaintext.",
             e->last_code, e->last_text.data);
    return fail(e);
  }
  server_error(e, eexSmtpServer, "EHLO");
  return fail(e);
}

static int state_helo_resp(mw_smtp_engine *e) {
  if (e->last_code != 250) {
    server_error(e, eexSmtpServer, "HELO");
    return fail(e);
  }
  forget_extensions(e);
  return after_hello(e);
}

static int state_starttls_resp(mw_smtp_engine *e) {
  if (e->last_code != 220) {
    server_error(e, eexSSLStartTLSRefused, "STARTTLS");
    return fail(e);
  }
  e->tls_started = 1;
  set_state(e, MW_SMTP_TLS);
  return MW_STEP_TLS;
}

/* Back from the handshake: what the server said before TLS may have been
 * forged, so forget it and ask again (RFC 3207 section 4.2). */
static int state_tls_done(mw_smtp_engine *e) {
  forget_extensions(e);
  return perform_hello(e, "EHLO", MW_SMTP_EHLO);
}

/* ---- AUTH ---- */

static int auth_failed_locally(mw_smtp_engine *e, int number,
                               const char *msg) {
  mw_error_set(&e->s->err, number, 0, "%s", msg);
  return fail(e);
}

static int send_auth_secret(mw_smtp_engine *e, const char *prefix, char *b64) {
  if (!b64)
    return no_memory(e);
  mw_buf line;
  mw_buf_init(&line);
  int rc = mw_buf_append_str(&line, prefix) == 0 &&
                   mw_buf_append_str(&line, b64) == 0
               ? send_secret_line(e, line.data, strlen(prefix))
               : -1;
  mw_free_secret(b64);
  mw_free_secret(line.data);
  if (rc != 0)
    return no_memory(e);
  set_state(e, MW_SMTP_AUTH);
  return AGAIN;
}

static int perform_auth(mw_smtp_engine *e) {
  if (!session_secure(e) && !e->s->allow_plain_auth)
    return auth_failed_locally(
        e, eexAuthPlaintext,
        "Credentials would be sent over an unencrypted connection, so "
        "AUTH was not attempted. Use an SSLInfo (STARTTLS or implicit "
        "TLS), or allow plaintext authentication explicitly.");
  const char *offered = mw_smtp_engine_extension_params(e, "AUTH");
  const char *mech = mw_sasl_choose(offered, e->s->mech);
  if (!mech) {
    char msg[700];
    snprintf(msg, sizeof msg,
             "The SMTP server offers no usable authentication mechanism "
             "(it offers: %s; asked for: %s). Check the server's SASL "
             "setup or the mechanism set on the client.",
             offered ? (*offered ? offered : "an empty list")
                     : "none, AUTH is not advertised",
             e->s->mech ? e->s->mech : "any");
    return auth_failed_locally(e, eexAuthNoMechanism, msg);
  }
  e->auth_mech = mech;
  e->auth_round = 0;
  const char *pass = e->s->pass ? e->s->pass : "";
  if (strcmp(mech, "PLAIN") == 0)
    return send_auth_secret(e, "AUTH PLAIN ", mw_sasl_plain(e->s->user, pass));
  if (strcmp(mech, "XOAUTH2") == 0)
    return send_auth_secret(e, "AUTH XOAUTH2 ",
                            mw_sasl_xoauth2(e->s->user, pass));
  char line[32];
  snprintf(line, sizeof line, "AUTH %s", mech);
  return perform_command(e, line, MW_SMTP_AUTH);
}

/* Answer one 334 challenge of the mechanism being tried. */
static int auth_challenge(mw_smtp_engine *e) {
  if (++e->auth_round > MW_SMTP_MAX_AUTH_ROUNDS)
    return fail_set(e, eexMalformedReply,
                    "The SMTP server sent too many AUTH challenges; the "
                    "server is misbehaving.");
  const char *mech = e->auth_mech;
  const char *text = e->last_text.data ? e->last_text.data : "";
  const char *pass = e->s->pass ? e->s->pass : "";
  if (strcmp(mech, "LOGIN") == 0 && e->auth_round <= 2) {
    const char *v = e->auth_round == 1 ? e->s->user : pass;
    return send_auth_secret(e, "", mw_base64_encode(v, strlen(v)));
  }
  if (strcmp(mech, "CRAM-MD5") == 0 && e->auth_round == 1) {
    char *answer = mw_sasl_cram_md5(e->s->user, pass, text, strlen(text));
    if (!answer)
      return fail_set(e, eexMalformedReply,
                      "The SMTP server sent a CRAM-MD5 challenge that is "
                      "not valid base64; the server is misbehaving.");
    return send_auth_secret(e, "", answer);
  }
  /* XOAUTH2 sends its error as a challenge: an empty line asks for the
   * final 535. Any other unexpected challenge is cancelled ("*"). */
  const char *reply = strcmp(mech, "XOAUTH2") == 0 ? "" : "*";
  if (send_secret_line(e, reply, 0) != 0)
    return no_memory(e);
  return AGAIN;
}

/* A 4xx to AUTH (454 4.7.0, 432 ...) says nothing about the credentials:
 * the server cannot check them now (RFC 4954 6). A server refusal that
 * may pass later, errServer, not errAuth; the reply is kept. */
static int auth_temporary_failure(mw_smtp_engine *e) {
  const char *text = e->last_text.data ? e->last_text.data : "";
  mw_error_server(&e->s->err, eexSmtpServer, e->last_code, e->last_enhanced,
                  text,
                  "The SMTP server could not authenticate now (AUTH %s): "
                  "%d %s. This is a temporary failure on the server's side, "
                  "not a refusal of the credentials; try again later.",
                  e->auth_mech, e->last_code, text);
  return fail(e);
}

static int state_auth_resp(mw_smtp_engine *e) {
  if (e->last_code == 235) {
    e->auth_used = e->auth_mech;
    return finish_connect(e);
  }
  if (e->last_code == 334)
    return auth_challenge(e);
  if (e->last_code / 100 == 4)
    return auth_temporary_failure(e);
  char what[64];
  snprintf(what, sizeof what, "the credentials (AUTH %s)", e->auth_mech);
  server_error(e, eexSmtpServer, what);
  mw_error_set_code(&e->s->err, errAuth);
  return fail(e);
}

/* ---------------------------------------------------------------------
 * The mail transaction.
 * ------------------------------------------------------------------- */

static int address_is_8bit(const char *a) {
  return mw_has_8bit(a, strlen(a));
}

static int needs_smtputf8(const mw_smtp_engine *e) {
  if (e->flags & MW_SEND_SMTPUTF8)
    return 1;
  if (address_is_8bit(e->from))
    return 1;
  for (size_t i = 0; i < e->nrcpts; i++)
    if (address_is_8bit(e->rcpts[i]))
      return 1;
  return 0;
}

/* Queue RCPT TO for recipient i. */
static int queue_rcpt(mw_smtp_engine *e, size_t i) {
  mw_buf line;
  mw_buf_init(&line);
  int bad = mw_buf_appendf(&line, "RCPT TO:<%s>", e->rcpts[i]) != 0 ||
            send_line(e, line.data) != 0;
  mw_buf_free(&line);
  if (!bad)
    e->rcpt_sent = i + 1;
  return bad ? -1 : 0;
}

static int perform_rcpt(mw_smtp_engine *e) {
  if (check_nothing_unsolicited(e, "RCPT") != 0)
    return fail(e);
  if (queue_rcpt(e, e->rcpt_next) != 0)
    return no_memory(e);
  set_state(e, MW_SMTP_RCPT);
  return AGAIN;
}

/* PIPELINING: every RCPT after MAIL in the same flight; DATA too when a
 * partial delivery is acceptable anyway (RFC 2920 section 3.1). With BDAT
 * the body waits for the recipients' answers. */
static int queue_flight(mw_smtp_engine *e) {
  for (size_t i = 0; i < e->nrcpts; i++)
    if (queue_rcpt(e, i) != 0)
      return no_memory(e);
  if (e->allow_partial && !e->chunked) {
    if (send_line(e, "DATA") != 0)
      return no_memory(e);
    e->data_sent = 1;
  }
  return AGAIN;
}

static int perform_mail(mw_smtp_engine *e) {
  mw_buf line;
  mw_buf_init(&line);
  int bad = mw_buf_appendf(&line, "MAIL FROM:<%s>", e->from);
  if (e->size && mw_smtp_engine_has_extension(e, "SIZE"))
    bad |= mw_buf_appendf(&line, " SIZE=%llu", (unsigned long long)e->size);
  if (e->flags & MW_SEND_BINARYMIME)
    bad |= mw_buf_append_str(&line, " BODY=BINARYMIME");
  else if ((e->flags & MW_SEND_8BIT) &&
           mw_smtp_engine_has_extension(e, "8BITMIME"))
    bad |= mw_buf_append_str(&line, " BODY=8BITMIME");
  if (e->flags & MW_SEND_SMTPUTF8)
    bad |= mw_buf_append_str(&line, " SMTPUTF8");
  int rc = bad ? no_memory(e) : perform_command(e, line.data, MW_SMTP_MAIL);
  mw_buf_free(&line);
  if (rc == AGAIN && e->pipelined)
    rc = queue_flight(e);
  return rc;
}

static int state_mail_resp(mw_smtp_engine *e) {
  if (e->last_code / 100 != 2) {
    char what[MW_SMTP_MAX_ADDR + 32];
    snprintf(what, sizeof what, "the sender <%s> (MAIL FROM)", e->from);
    server_error(e, eexSmtpServer, what);
    if (e->rcpt_sent) { /* pipelined: their replies are on the way */
      e->mail_failed = 1;
      set_state(e, MW_SMTP_RCPT);
      return AGAIN;
    }
    set_state(e, MW_SMTP_IDLE);
    return MW_STEP_DONE; /* no transaction was opened */
  }
  if (e->rcpt_sent) {
    set_state(e, MW_SMTP_RCPT);
    return AGAIN;
  }
  return perform_rcpt(e);
}

static int record_rcpt_result(mw_smtp_engine *e, size_t i) {
  mw_smtp_rcpt_result *r = &e->results[i];
  r->code = e->last_code;
  memcpy(r->enhanced, e->last_enhanced, sizeof r->enhanced);
  free(r->text);
  r->text = mw_strdup(e->last_text.data ? e->last_text.data : "");
  return r->text ? 0 : -1;
}

/* The first refused recipient's reply becomes the error. */
static void refuse_transaction(mw_smtp_engine *e, size_t refused) {
  for (size_t i = 0; i < e->nresults; i++) {
    mw_smtp_rcpt_result *r = &e->results[i];
    if (r->code / 100 == 2)
      continue;
    mw_error_server(&e->s->err, eexSmtpServer, r->code, r->enhanced, r->text,
                    "The SMTP server refused recipient <%s>: %d %s (%zu of "
                    "%zu recipients refused; nothing was sent%s).",
                    e->rcpts[i], r->code, r->text ? r->text : "", refused,
                    e->nrcpts,
                    refused < e->nrcpts ? ", allow partial delivery to send "
                                          "to the others"
                                        : "");
    return;
  }
}

static int perform_data(mw_smtp_engine *e) {
  return perform_command(e, "DATA", MW_SMTP_DATA);
}

static int start_bdat(mw_smtp_engine *e);

/* No body will follow: a pipelined DATA still has its reply to come. */
static int give_up_transaction(mw_smtp_engine *e) {
  if (e->data_sent) {
    e->abandon = 1;
    set_state(e, MW_SMTP_DATA);
    return AGAIN;
  }
  if (e->mail_failed) {
    set_state(e, MW_SMTP_IDLE);
    return MW_STEP_DONE;
  }
  return perform_command(e, "RSET", MW_SMTP_RSET);
}

static int state_rcpt_resp(mw_smtp_engine *e) {
  if (record_rcpt_result(e, e->rcpt_next) != 0)
    return no_memory(e);
  e->rcpt_next++;
  if (e->rcpt_next < e->nrcpts)
    return e->rcpt_next < e->rcpt_sent ? AGAIN : perform_rcpt(e);
  if (e->mail_failed)
    return give_up_transaction(e);
  size_t refused = 0;
  for (size_t i = 0; i < e->nresults; i++)
    if (e->results[i].code / 100 != 2)
      refused++;
  if (refused == e->nrcpts || (refused && !e->allow_partial)) {
    refuse_transaction(e, refused);
    return give_up_transaction(e);
  }
  if (e->data_sent) {
    set_state(e, MW_SMTP_DATA);
    return AGAIN;
  }
  return e->chunked ? start_bdat(e) : perform_data(e);
}

static int state_data_resp(mw_smtp_engine *e) {
  if (e->abandon) {
    /* A body would go to no recipient (or to fewer than asked): a server
     * that still says 354 can only be left by closing. */
    if (e->last_code == 354)
      return fail_set(e, eexMalformedReply,
                      "The SMTP server accepted DATA although the "
                      "transaction had failed; the connection was closed so "
                      "that no message is delivered.");
    if (e->mail_failed) {
      set_state(e, MW_SMTP_IDLE);
      return MW_STEP_DONE;
    }
    return perform_command(e, "RSET", MW_SMTP_RSET);
  }
  if (e->last_code != 354) {
    server_error(e, eexSmtpServer, "DATA");
    return perform_command(e, "RSET", MW_SMTP_RSET);
  }
  if (!e->chunk && !(e->chunk = malloc(MW_SMTP_CHUNK)))
    return no_memory(e);
  e->at_line_start = 1;
  e->cr_pending = 0;
  e->body_bytes = 0;
  set_state(e, MW_SMTP_BODY);
  return AGAIN;
}

/* ---- the body: CRLF normalisation and dot-stuffing, chunk by chunk ---- */

/* Normalise n bytes into out. The state (start of line, a CR waiting
 * for its LF) carries over to the next chunk, so a CRLF split across two
 * chunks is one line ending and a dot starting a chunk is stuffed. */
static int normalise_into(mw_smtp_engine *e, mw_buf *dst, const char *p,
                          size_t n, int stuff) {
  if (n > (SIZE_MAX - 8) / 2 || mw_buf_reserve(dst, 2 * n + 8) != 0)
    return -1;
  char *o = dst->data + dst->len;
  int bol = e->at_line_start, cr = e->cr_pending;
  for (size_t i = 0; i < n; i++) {
    if (!cr && p[i] != '\r' && p[i] != '\n') {
      /* The run up to the next CR or LF goes as it is (memchr scans it
       * word-wise): only line ends and a leading dot need work. */
      const char *nl = memchr(p + i, '\n', n - i);
      size_t end = nl ? (size_t)(nl - p) : n;
      const char *crp = memchr(p + i, '\r', end - i);
      size_t stop = crp ? (size_t)(crp - p) : end;
      if (bol && p[i] == '.' && stuff)
        *o++ = '.';
      memcpy(o, p + i, stop - i);
      o += stop - i;
      bol = 0;
      i = stop - 1;
      continue;
    }
    char c = p[i];
    if (cr) {
      *o++ = '\r';
      *o++ = '\n';
      cr = 0;
      bol = 1;
      if (c == '\n')
        continue;
    }
    if (c == '\r') {
      cr = 1;
    } else if (c == '\n') {
      *o++ = '\r';
      *o++ = '\n';
      bol = 1;
    } else {
      if (bol && c == '.' && stuff)
        *o++ = '.';
      *o++ = c;
      bol = 0;
    }
  }
  dst->len = (size_t)(o - dst->data);
  dst->data[dst->len] = '\0';
  e->at_line_start = bol;
  e->cr_pending = cr;
  return 0;
}

static int end_body(mw_smtp_engine *e) {
  int bad = 0;
  if (e->cr_pending || !e->at_line_start)
    bad |= mw_buf_append(&e->out, "\r\n", 2);
  bad |= mw_buf_append(&e->out, ".\r\n", 3);
  if (bad)
    return no_memory(e);
  mw_log(e->s->log, LOG_S_INFORMATION, LOG_F_PROTOCOL,
         "C: <message body, %llu bytes>", (unsigned long long)e->body_bytes);
  mw_log_line(e->s->log, 'C', ".", 1);
  set_state(e, MW_SMTP_DATA_END);
  return AGAIN;
}

static long read_memory(void *userdata, char *buf, size_t cap) {
  mw_smtp_source *src = userdata;
  size_t n = src->mem_len - src->mem_pos;
  if (n > cap)
    n = cap;
  if (n)
    memcpy(buf, src->mem + src->mem_pos, n);
  src->mem_pos += n;
  return (long)n;
}

/* The caller-driven session's source has no piece yet (io.c): stop here,
 * nothing consumed, and read again when the application gave one. Only
 * that source may wait: a callback's negative return is an abort. */
static int source_waits(const mw_smtp_engine *e, long n) {
  return n == MW_SOURCE_WAIT && e->src.read == mw_io__source;
}

/* A callback abort (n < 0) or a callback returning too much. */
static int source_failed(mw_smtp_engine *e, long n) {
  /* Closing is the only way not to complete the transaction: inside
   * DATA every byte is message text (RSET would be too), and the final
   * dot would deliver a truncated message. The pump closes the
   * connection on errAborted, and the server then discards the mail. */
  mw_error_set(&e->s->err, eexAborted, 0,
               n < 0 ? "The message callback aborted the send; the "
                       "connection was closed so that no partial message "
                       "is delivered."
                     : "The message callback returned more bytes than "
                       "asked; the send was aborted and the connection "
                       "closed so that no partial message is delivered.");
  return fail(e);
}

/* Pull one chunk and queue it; the pump sends it before the next, so
 * memory stays constant whatever the message size. */
static int state_body(mw_smtp_engine *e) {
  long n = e->src.read(e->src.userdata, e->chunk, MW_SMTP_CHUNK);
  if (source_waits(e, n))
    return MW_STEP_BODY;
  if (n < 0 || n > MW_SMTP_CHUNK)
    return source_failed(e, n);
  if (n == 0)
    return end_body(e);
  e->body_bytes += (uint64_t)n;
  if (normalise_into(e, &e->out, e->chunk, (size_t)n, 1) != 0)
    return no_memory(e);
  return MW_STEP_FLUSH;
}

static int state_data_end_resp(mw_smtp_engine *e) {
  free_transaction(e);
  if (e->last_code / 100 != 2)
    server_error(e, eexSmtpServer, "the message (after DATA)");
  set_state(e, MW_SMTP_IDLE);
  return MW_STEP_DONE;
}

/* ---- BDAT (RFC 3030): the body in chunks framed by their size ---- */

static int start_bdat(mw_smtp_engine *e) {
  if (!e->chunk && !(e->chunk = malloc(MW_SMTP_CHUNK)))
    return no_memory(e);
  e->at_line_start = 1;
  e->cr_pending = 0;
  e->body_bytes = 0;
  e->bdat_pending = 0;
  e->bdat_last_sent = e->bdat_failed = e->bdat_eof = 0;
  mw_buf_reset(&e->bdat);
  set_state(e, MW_SMTP_BDAT);
  return AGAIN;
}

/* The chunk waiting in e->bdat goes out behind its BDAT line. */
static int queue_bdat(mw_smtp_engine *e, int last) {
  char line[64];
  snprintf(line, sizeof line, "BDAT %zu%s", e->bdat.len, last ? " LAST" : "");
  if (send_line(e, line) != 0 ||
      mw_buf_append(&e->out, e->bdat.data ? e->bdat.data : "", e->bdat.len))
    return -1;
  mw_buf_reset(&e->bdat);
  e->bdat_pending++;
  e->bdat_last_sent = last;
  return 0;
}

/* One chunk kept back: a chunk is sent once the next read says whether
 * it is the last, so the last one carries LAST and no empty BDAT is
 * needed. */
static int bdat_next(mw_smtp_engine *e) {
  long n = e->src.read(e->src.userdata, e->chunk, MW_SMTP_CHUNK);
  if (source_waits(e, n))
    return MW_STEP_BODY;
  if (n < 0 || n > MW_SMTP_CHUNK)
    return source_failed(e, n);
  int binary = (e->flags & MW_SEND_BINARYMIME) != 0;
  if (n == 0) {
    if (!binary && (e->cr_pending || !e->at_line_start) &&
        mw_buf_append(&e->bdat, "\r\n", 2) != 0)
      return no_memory(e);
    mw_log(e->s->log, LOG_S_INFORMATION, LOG_F_PROTOCOL,
           "C: <message body, %llu bytes, in BDAT chunks>",
           (unsigned long long)e->body_bytes);
    return queue_bdat(e, 1) == 0 ? MW_STEP_FLUSH : no_memory(e);
  }
  int sent = 0;
  if (e->bdat.len) {
    if (queue_bdat(e, 0) != 0)
      return no_memory(e);
    sent = 1;
  }
  e->body_bytes += (uint64_t)n;
  int bad = binary ? mw_buf_append(&e->bdat, e->chunk, (size_t)n)
                   : normalise_into(e, &e->bdat, e->chunk, (size_t)n, 0);
  if (bad)
    return no_memory(e);
  return sent ? MW_STEP_FLUSH : AGAIN;
}

/* Every chunk has its reply; after a refused chunk no more are sent
 * (RFC 3030 section 2) and RSET ends what is left of the transaction. */
static int bdat_finished(mw_smtp_engine *e) {
  if (e->bdat_failed)
    return perform_command(e, "RSET", MW_SMTP_RSET);
  free_transaction(e);
  set_state(e, MW_SMTP_IDLE);
  return MW_STEP_DONE;
}

/* Read the replies already here, then send the next chunk if the window
 * (1 without PIPELINING) has room. */
static int state_bdat(mw_smtp_engine *e) {
  while (e->bdat_pending) {
    int got = read_reply(e);
    if (got < 0)
      return fail(e);
    if (got == 0)
      break;
    e->bdat_pending--;
    if (e->last_code / 100 != 2 && !e->bdat_failed) {
      e->bdat_failed = 1;
      server_error(e, eexSmtpServer, "the message (BDAT)");
    }
  }
  if (e->bdat_failed || e->bdat_last_sent)
    return e->bdat_pending ? MW_STEP_READ : bdat_finished(e);
  size_t window = e->pipelined ? MW_SMTP_BDAT_WINDOW : 1;
  if (e->bdat_pending >= window)
    return MW_STEP_READ;
  return bdat_next(e);
}

/* ---- RSET, NOOP, QUIT ---- */

static int state_simple_resp(mw_smtp_engine *e, const char *what, int ok) {
  if (e->last_code != ok && e->s->err.code == MW_OK)
    server_error(e, eexSmtpServer, what);
  set_state(e, MW_SMTP_IDLE);
  return MW_STEP_DONE;
}

static int state_quit_resp(mw_smtp_engine *e) {
  e->ready = 0;
  return state_simple_resp(e, "QUIT", 221);
}

/* ---------------------------------------------------------------------
 * The step function: one switch from state to reply handler.
 * ------------------------------------------------------------------- */

static int handle_reply(mw_smtp_engine *e) {
  switch (e->state) {
  case MW_SMTP_GREETING:
    return state_greeting_resp(e);
  case MW_SMTP_EHLO:
    return state_ehlo_resp(e);
  case MW_SMTP_HELO:
    return state_helo_resp(e);
  case MW_SMTP_STARTTLS:
    return state_starttls_resp(e);
  case MW_SMTP_AUTH:
    return state_auth_resp(e);
  case MW_SMTP_MAIL:
    return state_mail_resp(e);
  case MW_SMTP_RCPT:
    return state_rcpt_resp(e);
  case MW_SMTP_DATA:
    return state_data_resp(e);
  case MW_SMTP_DATA_END:
    return state_data_end_resp(e);
  case MW_SMTP_RSET:
    /* After a refusal the refusal stays the error; RSET's reply is kept
     * as the last reply only. */
    return state_simple_resp(e, "RSET", 250);
  case MW_SMTP_NOOP:
    return state_simple_resp(e, "NOOP", 250);
  case MW_SMTP_QUIT:
    return state_quit_resp(e);
  default:
    return fail_set(e, eexMalformedReply,
                    "Internal error: SMTP reply in an unexpected state.");
  }
}

mw_step mw_smtp_engine_step(void *engine) {
  mw_smtp_engine *e = engine;
  /* Each pass queues a command or consumes a reply, and a connect or a
   * send has a bounded number of them; the bound only guards bugs. */
  for (int pass = 0; pass < 100000; pass++) {
    int r;
    switch (e->state) {
    case MW_SMTP_IDLE:
      return MW_STEP_DONE;
    case MW_SMTP_TLS:
      r = state_tls_done(e);
      break;
    case MW_SMTP_BODY:
      r = state_body(e);
      break;
    case MW_SMTP_BDAT:
      r = state_bdat(e);
      break;
    case MW_SMTP_BATCH:
      r = mw_smtp_batch_step(e);
      break;
    default: {
      int got = read_reply(e);
      if (got == 0)
        return MW_STEP_READ;
      if (got < 0)
        return (mw_step)fail(e);
      r = handle_reply(e);
    }
    }
    if (r != AGAIN)
      return (mw_step)r;
  }
  return (mw_step)fail_set(
      e, eexMalformedReply,
      "Internal error: the SMTP engine did not progress.");
}

/* ---------------------------------------------------------------------
 * Starting operations.
 * ------------------------------------------------------------------- */

static int not_connected(mw_smtp_engine *e) {
  return mw_error_set(&e->s->err, eexNotConnected, 0,
                      "Not connected to the SMTP server; connect first.");
}

static int busy_state(mw_smtp_engine *e) {
  return mw_error_set(&e->s->err, eexState, 0,
                      "Another SMTP operation is still in progress (state "
                      "%s).",
                      state_names[e->state]);
}

static int begin(mw_smtp_engine *e, int need_ready) {
  if (e->state != MW_SMTP_IDLE)
    return busy_state(e);
  if (need_ready && !e->ready)
    return not_connected(e);
  mw_buf_reset(&e->out);
  return MW_OK;
}

int mw_smtp_engine_begin_connect(mw_smtp_engine *e) {
  if (e->state != MW_SMTP_IDLE)
    return busy_state(e);
  mw_smtp_engine_disconnected(e);
  forget_extensions(e);
  e->auth_used = e->auth_mech = NULL;
  e->last_code = 0;
  e->last_enhanced[0] = '\0';
  mw_buf_reset(&e->last_text);
  set_state(e, MW_SMTP_GREETING);
  return MW_OK;
}

int mw_smtp_engine_begin_noop(mw_smtp_engine *e) {
  int rc = begin(e, 1);
  if (rc == MW_OK && perform_command(e, "NOOP", MW_SMTP_NOOP) != AGAIN)
    rc = e->s->err.code;
  return rc;
}

int mw_smtp_engine_begin_rset(mw_smtp_engine *e) {
  int rc = begin(e, 1);
  if (rc == MW_OK && perform_command(e, "RSET", MW_SMTP_RSET) != AGAIN)
    rc = e->s->err.code;
  return rc;
}

int mw_smtp_engine_begin_quit(mw_smtp_engine *e) {
  int rc = begin(e, 1);
  if (rc == MW_OK && perform_command(e, "QUIT", MW_SMTP_QUIT) != AGAIN)
    rc = e->s->err.code;
  return rc;
}

/* A path is sent inside <...>: an angle bracket or a control character
 * in it would end the path early and smuggle parameters or commands.
 * "Name <addr>" gives its address (address.c). */
static int check_path(mw_errorinfo *err, const char *what, const char *a,
                      int allow_empty) {
  const char *addr;
  size_t len;
  return mw_address_extract(err, what, a, allow_empty, MW_SMTP_MAX_ADDR, &addr,
                            &len);
}

/* A copy of the address to send for a, which check_path accepted. */
static char *path_copy(const char *a) {
  size_t len;
  const char *addr = mw_address_path(a, &len);
  char *copy = malloc(len + 1);
  if (copy) {
    memcpy(copy, addr, len);
    copy[len] = '\0';
  }
  return copy;
}

static int check_addresses(mw_smtp_engine *e, const char *from,
                           const char *const *rcpts, size_t nrcpts) {
  mw_errorinfo *err = &e->s->err;
  int rc = check_path(err, "sender address", from, 1);
  if (rc != MW_OK)
    return rc;
  if (nrcpts == 0 || !rcpts)
    return mw_error_set(err, eexInvalidArgument, 0,
                        "At least one recipient is needed; nothing was sent "
                        "to the server.");
  for (size_t i = 0; i < nrcpts; i++) {
    char what[64];
    snprintf(what, sizeof what, "recipient address #%zu", i + 1);
    rc = check_path(err, what, rcpts[i], 0);
    if (rc != MW_OK)
      return rc;
  }
  return MW_OK;
}

static int copy_addresses(mw_smtp_engine *e, const char *from,
                          const char *const *rcpts, size_t nrcpts) {
  e->from = path_copy(from);
  e->rcpts = calloc(nrcpts, sizeof *e->rcpts);
  e->results = calloc(nrcpts, sizeof *e->results);
  if (!e->from || !e->rcpts || !e->results)
    return -1;
  e->nrcpts = e->nresults = nrcpts;
  for (size_t i = 0; i < nrcpts; i++)
    if (!(e->rcpts[i] = path_copy(rcpts[i])))
      return -1;
  return 0;
}

/* What the server's extensions say about this message, before anything
 * is sent. */
static int check_against_extensions(mw_smtp_engine *e) {
  /* UTF-8 headers with an ASCII envelope: SMTPUTF8 when offered (RFC 6531
   * 3.4); without it the message goes as before, with BODY=8BITMIME. */
  if ((e->flags & MW_SEND_UTF8_HEADERS) &&
      mw_smtp_engine_has_extension(e, "SMTPUTF8"))
    e->flags |= MW_SEND_SMTPUTF8;
  if (needs_smtputf8(e)) {
    if (!mw_smtp_engine_has_extension(e, "SMTPUTF8"))
      return mw_error_set(&e->s->err, eexUTF8Unsupported, 0,
                          "An address is not ASCII and the SMTP server does "
                          "not offer SMTPUTF8; nothing was sent. Use an "
                          "ASCII address or another server.");
    e->flags |= MW_SEND_SMTPUTF8;
  }
  if ((e->flags & MW_SEND_BINARYMIME) &&
      !(e->chunking_on && mw_smtp_engine_has_extension(e, "CHUNKING") &&
        mw_smtp_engine_has_extension(e, "BINARYMIME")))
    return mw_error_set(&e->s->err, eexBinaryMIMEUnsupported, 0,
                        "A binary message needs CHUNKING and BINARYMIME, and "
                        "the SMTP server does not offer both (or chunking "
                        "is turned off); nothing was sent.");
  const char *size = mw_smtp_engine_extension_params(e, "SIZE");
  unsigned long long limit = size ? strtoull(size, NULL, 10) : 0;
  if (e->size && limit && e->size > limit)
    return mw_error_set(&e->s->err, eexMessageTooLarge, 0,
                        "The message (%llu bytes) is larger than the SMTP "
                        "server accepts (SIZE %llu); nothing was sent.",
                        (unsigned long long)e->size, limit);
  return MW_OK;
}

static int begin_transaction(mw_smtp_engine *e, const char *from,
                             const char *const *rcpts, size_t nrcpts,
                             uint64_t size, int flags) {
  int rc = check_addresses(e, from, rcpts, nrcpts);
  if (rc == MW_OK)
    rc = begin(e, 1);
  if (rc != MW_OK)
    return rc;
  free_transaction(e);
  free_results(e);
  if (copy_addresses(e, from, rcpts, nrcpts) != 0) {
    free_transaction(e);
    return mw_error_set(&e->s->err, eexNoMemory, 0, NULL);
  }
  e->size = size;
  e->flags = flags;
  e->pipelined =
      e->pipelining_on && mw_smtp_engine_has_extension(e, "PIPELINING");
  e->chunked =
      (e->chunking_on && mw_smtp_engine_has_extension(e, "CHUNKING")) ||
      (flags & MW_SEND_BINARYMIME);
  rc = check_against_extensions(e);
  if (rc == MW_OK && perform_mail(e) != AGAIN)
    rc = e->s->err.code;
  if (rc != MW_OK) {
    free_transaction(e);
    free_results(e);
  }
  return rc;
}

int mw_smtp_engine_begin_send(mw_smtp_engine *e, const char *from,
                              const char *const *rcpts, size_t nrcpts,
                              const char *msg, size_t len) {
  if (!msg && len)
    return mw_error_set(&e->s->err, eexInvalidArgument, 0,
                        "The message is NULL but its length is %zu; nothing "
                        "was sent.",
                        len);
  int flags = msg && mw_has_8bit(msg, len) ? MW_SEND_8BIT : 0;
  if (flags && mw_headers_8bit(msg, len))
    flags |= MW_SEND_UTF8_HEADERS;
  int rc = begin_transaction(e, from, rcpts, nrcpts, len, flags);
  if (rc != MW_OK)
    return rc;
  e->src.read = read_memory;
  e->src.userdata = &e->src;
  e->src.mem = msg ? msg : "";
  e->src.mem_len = len;
  e->src.mem_pos = 0;
  return MW_OK;
}

int mw_smtp_engine_begin_send_stream(mw_smtp_engine *e, const char *from,
                                     const char *const *rcpts, size_t nrcpts,
                                     uint64_t size_hint, int flags,
                                     mw_read_cb read, void *userdata) {
  if (!read)
    return mw_error_set(&e->s->err, eexInvalidArgument, 0,
                        "No message callback was given; nothing was sent.");
  int rc = begin_transaction(
      e, from, rcpts, nrcpts, size_hint,
      flags & (MW_SEND_8BIT | MW_SEND_SMTPUTF8 | MW_SEND_BINARYMIME));
  if (rc != MW_OK)
    return rc;
  e->src.read = read;
  e->src.userdata = userdata;
  return MW_OK;
}

/* ---------------------------------------------------------------------
 * For the batch (smtp_batch.c): the same framing, replies and errors.
 * ------------------------------------------------------------------- */

int mw_smtpe_send_line(mw_smtp_engine *e, const char *line) {
  return send_line(e, line);
}

int mw_smtpe_read_reply(mw_smtp_engine *e) {
  return read_reply(e);
}

int mw_smtpe_normalise(mw_smtp_engine *e, mw_buf *dst, const char *p, size_t n,
                       int stuff) {
  return normalise_into(e, dst, p, n, stuff);
}

int mw_smtpe_check_addresses(mw_smtp_engine *e, const char *from,
                             const char *const *rcpts, size_t nrcpts) {
  return check_addresses(e, from, rcpts, nrcpts);
}

int mw_smtpe_begin(mw_smtp_engine *e) {
  return begin(e, 1);
}

void mw_smtpe_set_state(mw_smtp_engine *e, mw_smtp_state st) {
  set_state(e, st);
}

int mw_smtpe_fail(mw_smtp_engine *e) {
  return fail(e);
}

int mw_smtpe_fail_set(mw_smtp_engine *e, int number, const char *msg) {
  return fail_set(e, number, msg);
}
