/* test_faults.c - fault injection: a reference SMTP session and a
 * reference POP3 session are replayed by a scripted server that closes
 * the connection after N bytes of its answers, for every N. Whatever N,
 * the client ends with a clean error, never reports a mail as sent
 * unless the whole final reply to the data arrived, and never reports
 * messages deleted unless the whole +OK to QUIT arrived. */
#include "testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One step of a reference session: what the client sends (a glob for the
 * scripted server, NULL for the greeting, "DATA" for a message body),
 * and the server's whole answer. */
struct exchange {
  const char *client;
  const char *answer;
};

static const struct exchange SMTP_SESSION[] = {
    {NULL, "220 mx.example ESMTP\r\n"},
    {"EHLO *", "250-mx.example\r\n250-AUTH PLAIN\r\n250 8BITMIME\r\n"},
    {"AUTH PLAIN *", "235 2.7.0 Authenticated\r\n"},
    {"MAIL FROM:<me@example.org>*", "250 2.1.0 Ok\r\n"},
    {"RCPT TO:<a@example.org>*", "250 2.1.5 Ok\r\n"},
    {"RCPT TO:<b@example.org>*", "250 2.1.5 Ok\r\n"},
    {"DATA", "354 End data with <CR><LF>.<CR><LF>\r\n"},
    {"", "250 2.0.0 Ok: queued as 1234\r\n"}, /* after the body */
    {"QUIT", "221 2.0.0 Bye\r\n"},
};

static const struct exchange POP3_SESSION[] = {
    {NULL, "+OK POP3 ready\r\n"},
    {"CAPA", "+OK\r\nUSER\r\nUIDL\r\n.\r\n"},
    {"USER user", "+OK\r\n"},
    {"PASS secret", "+OK Logged in.\r\n"},
    {"STAT", "+OK 2 320\r\n"},
    {"RETR 1", "+OK 120 octets\r\nSubject: one\r\n\r\n..dotted\r\nbody\r\n"
               ".\r\n"},
    {"DELE 1", "+OK Marked to be deleted.\r\n"},
    {"QUIT", "+OK Logging out, messages deleted.\r\n"},
};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static size_t total_bytes(const struct exchange *x, size_t n) {
  size_t t = 0;
  for (size_t i = 0; i < n; i++)
    t += strlen(x[i].answer);
  return t;
}

/* Where answer i ends in the server's byte stream. */
static size_t end_of(const struct exchange *x, size_t i) {
  return total_bytes(x, i + 1);
}

static void append_escaped(char *out, size_t cap, const char *p, size_t n) {
  size_t o = strlen(out);
  for (size_t i = 0; i < n && o + 5 < cap; i++) {
    unsigned char c = (unsigned char)p[i];
    if (c == '\r' || c == '\n' || c == '\\' || c < 0x20)
      o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
    else
      out[o++] = (char)c;
  }
  out[o] = '\0';
}

/* The script that plays the session and closes after `cut` bytes. */
static char *script_cut(const struct exchange *x, size_t n, size_t cut) {
  size_t cap = 16384;
  char *s = calloc(1, cap);
  size_t sent = 0;
  for (size_t i = 0; i < n; i++) {
    if (x[i].client) {
      size_t o = strlen(s);
      if (*x[i].client)
        snprintf(s + o, cap - o, "C: %s\n", x[i].client);
      else
        snprintf(s + o, cap - o, "DATA\n"); /* the message body */
    }
    size_t len = strlen(x[i].answer);
    size_t take = cut - sent < len ? cut - sent : len;
    if (take) {
      strcat(s, "SRAW: ");
      append_escaped(s, cap, x[i].answer, take);
      strcat(s, "\n");
    }
    sent += take;
    if (sent == cut) {
      strcat(s, "CLOSE\n");
      break;
    }
  }
  return s;
}

/* ---- SMTP ---- */

static const char MESSAGE[] = "Subject: faults\r\n\r\n.a dot\r\nbody\r\n";

static void smtp_cut_at(size_t cut, size_t total) {
  char *script = script_cut(SMTP_SESSION, N_OF(SMTP_SESSION), cut);
  tl_server *srv = tl_server_start(script);
  CHECK(srv != NULL);
  mw_smtp *c = mw_smtp_new();
  mw_smtp_set_server(c, "127.0.0.1", srv ? tl_server_port(srv) : 1);
  mw_smtp_set_timeout(c, 5000);
  mw_smtp_set_helo_name(c, "client.example");
  mw_smtp_set_credentials(c, "user", "secret");
  mw_smtp_set_allow_plaintext_auth(c, 1);

  size_t auth_end = end_of(SMTP_SESSION, 2);
  size_t queued_end = end_of(SMTP_SESSION, 7);
  const char *const rcpts[] = {"a@example.org", "b@example.org"};
  int rc = mw_smtp_connect(c);
  const mw_errorinfo *ei = mw_smtp_extended_error(c);
  if (cut < auth_end) {
    if (rc == MW_OK)
      tl_fail(__FILE__, __LINE__, "cut %zu: connect succeeded", cut);
    else
      CHECK_ERR(rc, ei, errNetwork, eexServerClosed);
    CHECK(!mw_smtp_is_connected(c));
  } else {
    CHECK_INT(rc, MW_OK);
    rc = mw_smtp_send(c, "me@example.org", rcpts, 2, MESSAGE,
                      sizeof MESSAGE - 1);
    if (cut < queued_end) {
      /* The final 250 did not arrive whole: never "sent". */
      if (rc == MW_OK)
        tl_fail(__FILE__, __LINE__, "cut %zu: reported sent", cut);
      else
        CHECK_ERR(rc, ei, errNetwork, eexServerClosed);
      CHECK(!mw_smtp_is_connected(c));
    } else {
      CHECK_INT(rc, MW_OK);
      rc = mw_smtp_quit(c);
      if (cut < total)
        CHECK_ERR(rc, ei, errNetwork, eexServerClosed);
      else
        CHECK_INT(rc, MW_OK);
    }
  }
  mw_smtp_free(c);
  if (srv) {
    tl_server_wait(srv, 5000);
    size_t len;
    const char *wire = tl_server_received(srv, &len);
    /* The body goes out only after a whole 354. */
    if (cut < end_of(SMTP_SESSION, 6))
      CHECK(!tl_contains(wire, len, "Subject: faults"));
    tl_server_free(srv);
  }
  free(script);
}

static void smtp_session_cut_at_every_byte(void) {
  size_t total = total_bytes(SMTP_SESSION, N_OF(SMTP_SESSION));
  int before = tl_checks_failed;
  for (size_t cut = 0; cut <= total && tl_checks_failed - before < 5; cut++)
    smtp_cut_at(cut, total);
}

/* ---- POP3 ---- */

static void pop3_cut_at(size_t cut, size_t total) {
  char *script = script_cut(POP3_SESSION, N_OF(POP3_SESSION), cut);
  tl_server *srv = tl_server_start(script);
  CHECK(srv != NULL);
  mw_pop3 *c = mw_pop3_new();
  mw_pop3_set_server(c, "127.0.0.1", srv ? tl_server_port(srv) : 1);
  mw_pop3_set_timeout(c, 5000);
  mw_pop3_set_credentials(c, "user", "secret");
  mw_pop3_set_auth_mechanism(c, "USER");
  mw_pop3_set_allow_plaintext_auth(c, 1);
  const mw_errorinfo *ei = mw_pop3_extended_error(c);

  /* Each step in turn; `steps` counts those that succeeded. */
  int steps = 0, rc = mw_pop3_connect(c);
  unsigned long count = 0;
  uint64_t octets = 0;
  char *msg = NULL;
  size_t len = 0;
  if (rc == MW_OK && ++steps)
    rc = mw_pop3_stat(c, &count, &octets);
  if (rc == MW_OK && ++steps)
    rc = mw_pop3_retr(c, 1, &msg, &len);
  if (rc == MW_OK && ++steps)
    rc = mw_pop3_dele(c, 1);
  if (rc == MW_OK && ++steps)
    rc = mw_pop3_quit(c);
  if (rc == MW_OK)
    steps++;

  /* The last step that can have succeeded is the one whose answer ended
   * within the cut (connect needs the +OK to PASS). */
  static const size_t last_answer[] = {3, 4, 5, 6, 7};
  int want = 0;
  while (want < 5 && end_of(POP3_SESSION, last_answer[want]) <= cut)
    want++;
  CHECK_INT(steps, want);
  if (steps < 5) {
    CHECK_ERR(rc, ei, errNetwork, eexServerClosed);
    CHECK(!mw_pop3_is_connected(c));
  }
  if (steps >= 3) /* the message came whole, unstuffed */
    CHECK(msg && len == 31 &&
          !memcmp(msg, "Subject: one\r\n\r\n.dotted\r\nbody\r\n", 31));
  mw_free(msg);
  mw_pop3_free(c);
  if (srv) {
    tl_server_wait(srv, 5000);
    tl_server_free(srv);
  }
  free(script);
  (void)total;
}

static void pop3_session_cut_at_every_byte(void) {
  size_t total = total_bytes(POP3_SESSION, N_OF(POP3_SESSION));
  int before = tl_checks_failed;
  for (size_t cut = 0; cut <= total && tl_checks_failed - before < 5; cut++)
    pop3_cut_at(cut, total);
}

int main(void) {
  RUN(smtp_session_cut_at_every_byte);
  RUN(pop3_session_cut_at_every_byte);
  return tl_finish();
}
