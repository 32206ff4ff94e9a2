/*
 * testlib.h - the small harness the C tests share: checks, the real-server
 * environment, and a scripted (hostile) server for what real servers never
 * do.
 */
#ifndef MW_TESTLIB_H
#define MW_TESTLIB_H

#include "mailwire.h"

#include <stddef.h>
#include <string.h>

/* ---- checks: a failed check prints file:line and the values, counts a
 * failure, and the test goes on. ---- */
extern int tl_checks_failed;
void tl_fail(const char *file, int line, const char *fmt, ...);

#define CHECK(cond)                                                           \
  do {                                                                        \
    if (!(cond))                                                              \
      tl_fail(__FILE__, __LINE__, "CHECK(%s)", #cond);                        \
  } while (0)
#define CHECK_INT(a, b)                                                       \
  do {                                                                        \
    long long tl_a_ = (long long)(a), tl_b_ = (long long)(b);                 \
    if (tl_a_ != tl_b_)                                                       \
      tl_fail(__FILE__, __LINE__, "%s == %lld, expected %s == %lld", #a,      \
              tl_a_, #b, tl_b_);                                              \
  } while (0)
#define CHECK_STR(a, b)                                                       \
  do {                                                                        \
    const char *tl_a_ = (a), *tl_b_ = (b);                                    \
    if (!tl_a_ || !tl_b_ || strcmp(tl_a_, tl_b_) != 0)                        \
      tl_fail(__FILE__, __LINE__, "%s == \"%s\", expected \"%s\"", #a,        \
              tl_a_ ? tl_a_ : "(null)", tl_b_ ? tl_b_ : "(null)");            \
  } while (0)
/* A call's base code and the extended number left on the handle's
 * ErrorInfo: CHECK_ERR(rc, mw_smtp_extended_error(c), errConnect, eexDNS).
 * On mismatch prints the ErrorInfo text. */
#define CHECK_ERR(rc, ei, code, number)                                       \
  tl_check_err(__FILE__, __LINE__, (rc), (ei), (code), (number))
void tl_check_err(const char *file, int line, int rc, const mw_errorinfo *ei,
                  int code, int number);
/* Does hay (len bytes) contain needle? */
int tl_contains(const char *hay, size_t len, const char *needle);
/* The same for a needle of n bytes (it may hold NULs). */
int tl_contains_bytes(const char *hay, size_t len, const char *needle,
                      size_t n);

/* Decode C escapes (\r \n \t \0 \xNN \\) in place; returns the decoded
 * length (the text may then hold NULs). */
size_t tl_unescape(char *t);

/* Run one test function: prints "[ RUN ] name" and "[ OK ]"/"[FAIL]". */
#define RUN(fn) tl_run(#fn, fn)
void tl_run(const char *name, void (*fn)(void));
/* Prints "N passed, N failed" and returns the process exit code. */
int tl_finish(void);

/* ---- real servers (tests/servers/start.sh writes $MW_TEST_ENV) ----
 * Keys: SMTP_PORT (Postfix, STARTTLS offered, AUTH offered in plaintext
 * too), SMTPS_PORT (implicit TLS), SMTP_NOTLS_PORT (no STARTTLS), POP3_PORT
 * (STLS offered), POP3S_PORT, CA_FILE (the test CA), OTHER_CA_FILE (a CA
 * that signed nothing here), CERT_FILE/KEY_FILE (server certificate for
 * "localhost" and 127.0.0.1), USER, PASS, USER2, PASS2, MAIL_DOMAIN (the
 * domain Postfix delivers to Dovecot), MAILDIR_ROOT (DIR such that the
 * mail of user U is in DIR/U/Maildir/new), CLOSED_PORT (nothing listens),
 * SMTPS_CCERT_PORT (Postfix SMTPS requiring a client certificate from
 * CA_FILE), CLIENT_CERT_FILE/CLIENT_KEY_FILE (such a certificate and its
 * key), CLIENT_PEM_FILE (both in one file), CLIENT_P12_FILE and
 * CLIENT_P12_PASS (as PKCS#12), STRANGER_PEM_FILE (a client certificate
 * and key from OTHER_CA_FILE).
 * A missing file or key fails the test with a message, never a skip. */
const char *tl_env(const char *key);
unsigned tl_env_port(const char *key);
/* Wait (bounded, up to timeout_ms) until a new file appears in the maildir
 * of user that contains needle; returns its malloc'd content or NULL. */
char *tl_wait_delivery(const char *user, const char *needle, int timeout_ms,
                       size_t *len);

/* ---- scripted server: one connection, one script ----
 * The script is text, one step per line:
 *   S: text        send "text\r\n"
 *   SRAW: text     send text with C escapes (\r \n \\ \xNN), no CRLF added
 *   C: pattern     read one line from the client (CRLF stripped) and check
 *                  it matches the glob pattern (* and ?); a mismatch fails
 *                  the script
 *   C?             read one line, whatever it is
 *   CRAW: bytes    read exactly these bytes (C escapes as SRAW) and check
 *                  them (binary protocols: SOCKS)
 *   DATA           read lines until a line "." (the DATA body)
 *   TLS            server-side TLS handshake (CERT_FILE/KEY_FILE from the
 *                  environment); later steps go through TLS
 *   SLEEP ms       wait
 *   QUIET ms       wait, and fail if the client sends anything meanwhile
 *   CLOSE          close the connection and end
 *   NODELAY        TCP_NODELAY from now on (each step goes out at once;
 *                  off by default, as Nagle keeps a reply's lines together)
 *   CUT            close it without a TLS close_notify (a truncation) and
 *                  end
 *   RESET          close it at once with a TCP reset (SO_LINGER 0), even
 *                  while the client is still sending, and end
 *   FLOOD: text    send text (C escapes) over and over until the client
 *                  closes; fails if it still reads after 16 MiB
 *   DRIP ms: text  send text (C escapes) one byte every ms, over and over,
 *                  until the client closes; fails if it still reads after
 *                  30 s (a client whose deadlines do not hold)
 *   EXPECT_CLOSE   wait (up to 10 s) until the client closes
 * The script ends by closing the connection. Everything the client sent
 * is recorded, plaintext and decrypted alike, in order. */
typedef struct tl_server tl_server;
tl_server *tl_server_start(const char *script);
unsigned tl_server_port(const tl_server *s);
/* Wait for the script to end (at most timeout_ms); returns 0 when every
 * step succeeded, else -1 with the reason in tl_server_error. */
int tl_server_wait(tl_server *s, int timeout_ms);
const char *tl_server_error(const tl_server *s);
/* All bytes the client sent; valid until tl_server_free. */
const char *tl_server_received(const tl_server *s, size_t *len);
void tl_server_free(tl_server *s);

#endif
