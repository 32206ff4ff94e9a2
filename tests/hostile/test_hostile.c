/*
 * test_hostile.c - runs every case in tests/hostile/cases against the
 * scripted server of testlib, in C. tests/python/test_hostile.py and
 * tests/lua/hostile_spec.lua run the same files through the bindings.
 *
 *   test_hostile [CASES_DIR] [name-substring]
 *
 * With MW_NB_DRIVER=1 every call runs through the caller-driven session
 * (mailwire.h, "Without blocking") driven by tests/c/nbdriver.c: the
 * server's bytes arrive in random pieces, writes are accepted in part,
 * bodies come in random pieces; the same assertions hold. MW_NB_SEED
 * repeats a run (the seed is printed).
 */
#define _DEFAULT_SOURCE
#include "hcase.h"
#include "nbdriver.h"
#include "testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef MW_HOSTILE_CASES
#define MW_HOSTILE_CASES "cases"
#endif

typedef struct run {
  const hc_case *hc;
  unsigned port;
  mw_smtp *smtp;
  mw_pop3 *pop3;
  mw_sslinfo *ssl;
  mw_proxyinfo *proxy;
  int code, number;
  int reply_code;
  char text[1024];
  int before_connect; /* the failure came from a setting */
  char *got;
  size_t got_len;
} run;

static const char *setting(const run *r, const char *key) {
  const hc_bytes *b = hc_get(r->hc, key);
  return b ? b->data : NULL;
}

static int setting_int(const run *r, const char *key, int dflt) {
  const char *v = setting(r, key);
  return v ? atoi(v) : dflt;
}

static const mw_errorinfo *client_error(const run *r) {
  return r->smtp ? mw_smtp_extended_error(r->smtp)
                 : mw_pop3_extended_error(r->pop3);
}

/* Record the first failure: rc and the number left on ei. */
static int note(run *r, int rc, const mw_errorinfo *ei) {
  if (rc != MW_OK && r->code == MW_OK) {
    r->code = rc;
    r->number = ei ? mw_errorinfo_number(ei) : -1;
    r->reply_code = ei ? mw_errorinfo_reply_code(ei) : 0;
    snprintf(r->text, sizeof r->text, "%s", ei ? mw_errorinfo_text(ei) : "");
  }
  return rc;
}

static int note_client(run *r, int rc) {
  return note(r, rc, client_error(r));
}

static int setup_tls(run *r) {
  const char *mode = setting(r, "tls");
  if (!mode || strcmp(mode, "none") == 0)
    return MW_OK;
  r->ssl = mw_sslinfo_new();
  int rc = mw_sslinfo_set_mode(
      r->ssl, strcmp(mode, "implicit") == 0 ? MODE_CHANNEL : MODE_STARTTLS);
  if (rc == MW_OK)
    rc = mw_sslinfo_set_option_str(r->ssl, SSLCAFile, tl_env("CA_FILE"));
  if (rc == MW_OK)
    rc = r->smtp ? mw_smtp_set_handler(r->smtp, r->ssl)
                 : mw_pop3_set_handler(r->pop3, r->ssl);
  return note_client(r, rc);
}

static int proxy_kind(const char *name) {
  static const struct {
    const char *name;
    int kind;
  } kinds[] = {{"socks4", MW_PROXY_SOCKS4}, {"socks4a", MW_PROXY_SOCKS4A},
               {"socks5", MW_PROXY_SOCKS5}, {"http", MW_PROXY_HTTP},
               {"pop3", MW_PROXY_POP3},     {"smtp", MW_PROXY_SMTP}};
  for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
    if (strcmp(kinds[i].name, name) == 0)
      return kinds[i].kind;
  return -1;
}

/* With a proxy, the scripted server is the proxy and the client's server
 * is the target the proxy is asked for. */
static int setup_server(run *r) {
  const char *kind = setting(r, "proxy");
  const char *host = "127.0.0.1";
  unsigned port = r->port;
  if (kind) {
    r->proxy = mw_proxyinfo_new(proxy_kind(kind));
    if (!r->proxy)
      return note(r, errInvalidArgument, NULL);
    int rc = mw_proxyinfo_set_server(r->proxy, "127.0.0.1", r->port);
    if (rc == MW_OK && setting(r, "proxy_user"))
      rc = mw_proxyinfo_set_credentials(r->proxy, setting(r, "proxy_user"),
                                        setting(r, "proxy_pass"));
    if (rc == MW_OK && setting(r, "remote_dns"))
      rc = mw_proxyinfo_set_remote_dns(r->proxy,
                                       setting_int(r, "remote_dns", 1));
    if (note(r, rc, mw_proxyinfo_extended_error(r->proxy)) != MW_OK)
      return rc;
    rc = r->smtp ? mw_smtp_set_handler(r->smtp, r->proxy)
                 : mw_pop3_set_handler(r->pop3, r->proxy);
    if (note_client(r, rc) != MW_OK)
      return rc;
    host = setting(r, "target") ? setting(r, "target") : "mail.test";
    port = (unsigned)setting_int(r, "target_port", 25);
  }
  return note_client(r, r->smtp ? mw_smtp_set_server(r->smtp, host, port)
                                : mw_pop3_set_server(r->pop3, host, port));
}

static int setup_smtp(run *r) {
  mw_smtp *c = r->smtp;
  int rc = mw_smtp_set_timeout(c, setting_int(r, "timeout", 5000));
  if (rc == MW_OK && setting(r, "reply_timeout"))
    rc = mw_smtp_set_reply_timeout(c, setting_int(r, "reply_timeout", 0));
  if (rc == MW_OK && setting(r, "operation_timeout"))
    rc = mw_smtp_set_operation_timeout(c,
                                       setting_int(r, "operation_timeout", 0));
  if (rc == MW_OK && setting(r, "low_speed_limit"))
    rc = mw_smtp_set_low_speed_limit(c, setting_int(r, "low_speed_limit", 0));
  if (rc == MW_OK && setting(r, "helo"))
    rc = mw_smtp_set_helo_name(c, setting(r, "helo"));
  if (rc == MW_OK && setting(r, "user"))
    rc = mw_smtp_set_credentials(c, setting(r, "user"), setting(r, "pass"));
  if (rc == MW_OK && setting(r, "mech"))
    rc = mw_smtp_set_auth_mechanism(c, setting(r, "mech"));
  if (rc == MW_OK && setting(r, "plaintext_auth"))
    rc = mw_smtp_set_allow_plaintext_auth(c,
                                          setting_int(r, "plaintext_auth", 0));
  if (rc == MW_OK && setting(r, "partial"))
    rc = mw_smtp_set_allow_partial(c, setting_int(r, "partial", 0));
  if (rc == MW_OK && setting(r, "pipelining"))
    rc = mw_smtp_set_pipelining(c, setting_int(r, "pipelining", 1));
  if (rc == MW_OK && setting(r, "chunking"))
    rc = mw_smtp_set_chunking(c, setting_int(r, "chunking", 1));
  return note_client(r, rc);
}

static int setup_pop3(run *r) {
  mw_pop3 *c = r->pop3;
  int rc = mw_pop3_set_timeout(c, setting_int(r, "timeout", 5000));
  if (rc == MW_OK && setting(r, "reply_timeout"))
    rc = mw_pop3_set_reply_timeout(c, setting_int(r, "reply_timeout", 0));
  if (rc == MW_OK && setting(r, "operation_timeout"))
    rc = mw_pop3_set_operation_timeout(c,
                                       setting_int(r, "operation_timeout", 0));
  if (rc == MW_OK && setting(r, "low_speed_limit"))
    rc = mw_pop3_set_low_speed_limit(c, setting_int(r, "low_speed_limit", 0));
  if (rc == MW_OK && setting(r, "user"))
    rc = mw_pop3_set_credentials(c, setting(r, "user"), setting(r, "pass"));
  if (rc == MW_OK && setting(r, "mech"))
    rc = mw_pop3_set_auth_mechanism(c, setting(r, "mech"));
  if (rc == MW_OK && setting(r, "plaintext_auth"))
    rc = mw_pop3_set_allow_plaintext_auth(c,
                                          setting_int(r, "plaintext_auth", 0));
  if (rc == MW_OK && setting(r, "max_size"))
    rc = mw_pop3_set_max_message_size(c,
                                      (uint64_t)setting_int(r, "max_size", 0));
  if (rc == MW_OK && setting(r, "pipelining"))
    rc = mw_pop3_set_pipelining(c, setting_int(r, "pipelining", 1));
  return note_client(r, rc);
}

/* "a@x,b@y" into an array of strings (modified in place). */
static size_t split_rcpts(char *list, const char **out, size_t max) {
  size_t n = 0;
  for (char *p = list; p && n < max;) {
    out[n++] = p;
    p = strchr(p, ',');
    if (p)
      *p++ = '\0';
  }
  return n;
}

/* send_batch n: n copies of the message of `send`. */
static int smtp_send_batch(run *r, size_t n) {
  char *to = strdup(setting(r, "to") ? setting(r, "to") : "rcpt@test");
  const char *rcpts[HC_MAX_ITEMS];
  size_t nr = split_rcpts(to, rcpts, HC_MAX_ITEMS);
  const hc_bytes *body = hc_get(r->hc, "body");
  const char *dflt = "Subject: hostile\r\n\r\nHello.\r\n";
  mw_smtp_message m[HC_MAX_ITEMS];
  for (size_t i = 0; i < n && i < HC_MAX_ITEMS; i++)
    m[i] = (mw_smtp_message){
        setting(r, "from") ? setting(r, "from") : "sender@test", rcpts, nr,
        body ? body->data : dflt, body ? body->len : strlen(dflt)};
  int rc = mw_smtp_send_batch(r->smtp, m, n < HC_MAX_ITEMS ? n : HC_MAX_ITEMS);
  free(to);
  return note_client(r, rc);
}

static int smtp_action(run *r, const char *a) {
  mw_smtp *c = r->smtp;
  if (strcmp(a, "connect") == 0)
    return note_client(r, mw_smtp_connect(c));
  if (strcmp(a, "noop") == 0)
    return note_client(r, mw_smtp_noop(c));
  if (strcmp(a, "rset") == 0)
    return note_client(r, mw_smtp_rset(c));
  if (strcmp(a, "quit") == 0)
    return note_client(r, mw_smtp_quit(c));
  if (strcmp(a, "send") == 0) {
    char *to = strdup(setting(r, "to") ? setting(r, "to") : "rcpt@test");
    const char *rcpts[HC_MAX_ITEMS];
    size_t n = split_rcpts(to, rcpts, HC_MAX_ITEMS);
    const hc_bytes *body = hc_get(r->hc, "body");
    const char *dflt = "Subject: hostile\r\n\r\nHello.\r\n";
    int rc = mw_smtp_send(
        c, setting(r, "from") ? setting(r, "from") : "sender@test", rcpts, n,
        body ? body->data : dflt, body ? body->len : strlen(dflt));
    free(to);
    return note_client(r, rc);
  }
  if (strncmp(a, "send_batch ", 11) == 0)
    return smtp_send_batch(r, (size_t)atoi(a + 11));
  tl_fail(__FILE__, __LINE__, "%s: unknown SMTP action \"%s\"", r->hc->name,
          a);
  return errInvalidArgument;
}

static int pop3_action(run *r, const char *a) {
  mw_pop3 *c = r->pop3;
  unsigned long n = 0, lines = 0, count;
  uint64_t size;
  char word[16];
  int args = sscanf(a, "%15s %lu %lu", word, &n, &lines);
  if (strcmp(word, "connect") == 0)
    return note_client(r, mw_pop3_connect(c));
  if (strcmp(word, "stat") == 0)
    return note_client(r, mw_pop3_stat(c, &count, &size));
  if (strcmp(word, "list") == 0)
    return note_client(r, args >= 2 ? mw_pop3_list_one(c, n, &size)
                                    : mw_pop3_list(c));
  if (strcmp(word, "uidl") == 0) {
    const char *uid;
    return note_client(r, args >= 2 ? mw_pop3_uidl_one(c, n, &uid)
                                    : mw_pop3_uidl(c));
  }
  if (strcmp(word, "retr") == 0 || strcmp(word, "top") == 0) {
    free(r->got);
    r->got = NULL;
    int rc = word[0] == 'r' ? mw_pop3_retr(c, n, &r->got, &r->got_len)
                            : mw_pop3_top(c, n, lines, &r->got, &r->got_len);
    return note_client(r, rc);
  }
  if (strcmp(word, "dele") == 0)
    return note_client(r, mw_pop3_dele(c, n));
  if (strcmp(word, "noop") == 0)
    return note_client(r, mw_pop3_noop(c));
  if (strcmp(word, "rset") == 0)
    return note_client(r, mw_pop3_rset(c));
  if (strcmp(word, "quit") == 0)
    return note_client(r, mw_pop3_quit(c));
  tl_fail(__FILE__, __LINE__, "%s: unknown POP3 action \"%s\"", r->hc->name,
          a);
  return errInvalidArgument;
}

static void run_client(run *r) {
  int is_smtp = strcmp(r->hc->client, "smtp") == 0;
  if (is_smtp)
    r->smtp = mw_smtp_new();
  else
    r->pop3 = mw_pop3_new();
  if (setup_server(r) != MW_OK || setup_tls(r) != MW_OK ||
      (is_smtp ? setup_smtp(r) : setup_pop3(r)) != MW_OK) {
    r->before_connect = 1;
    return;
  }
  for (size_t i = 0; i < r->hc->nactions; i++)
    if ((is_smtp ? smtp_action(r, r->hc->actions[i])
                 : pop3_action(r, r->hc->actions[i])) != MW_OK)
      break;
}

static void free_client(run *r) {
  mw_smtp_free(r->smtp);
  mw_pop3_free(r->pop3);
  mw_sslinfo_free(r->ssl);
  mw_proxyinfo_free(r->proxy);
}

static void check_wire(const hc_case *hc, const char *rec, size_t len) {
  for (size_t i = 0; i < hc->nnever; i++)
    if (tl_contains_bytes(rec, len, hc->never[i].data, hc->never[i].len))
      tl_fail(__FILE__, __LINE__, "%s: the client sent \"%s\" (never:)",
              hc->name, hc->never[i].data);
  for (size_t i = 0; i < hc->nsent; i++)
    if (!tl_contains_bytes(rec, len, hc->sent[i].data, hc->sent[i].len))
      tl_fail(__FILE__, __LINE__, "%s: the client did not send \"%s\" (sent:)",
              hc->name, hc->sent[i].data);
}

static void check_result(const run *r) {
  const hc_case *hc = r->hc;
  if (r->code != hc->expect_code || r->number != hc->expect_number)
    tl_fail(__FILE__, __LINE__,
            "%s: ended with %s/%s (%d), expected %s/%s (%d)", hc->name,
            mw_err_name(r->code), mw_eex_name(r->number), r->number,
            mw_err_name(hc->expect_code), mw_eex_name(hc->expect_number),
            hc->expect_number);
  for (size_t i = 0; i < hc->ntexts; i++)
    if (!strstr(r->text, hc->texts[i]))
      tl_fail(__FILE__, __LINE__, "%s: the error \"%s\" does not say \"%s\"",
              hc->name, r->text, hc->texts[i]);
  if (hc->reply_code != -2 && r->reply_code != hc->reply_code)
    tl_fail(__FILE__, __LINE__, "%s: reply code %d, expected %d", hc->name,
            r->reply_code, hc->reply_code);
  if (hc->got.data && (!r->got || r->got_len != hc->got.len ||
                       memcmp(r->got, hc->got.data, hc->got.len) != 0))
    tl_fail(__FILE__, __LINE__,
            "%s: retrieved %zu bytes \"%.200s\", expected "
            "\"%s\"",
            hc->name, r->got_len, r->got ? r->got : "(nothing)", hc->got.data);
}

static const hc_case *current;

/* The cases whose check depends on what one read brings: bytes queued
 * behind a reply (a desynchronised or unsolicited reply, plaintext
 * injected before TLS) are only seen when they arrive with it. Split into
 * pieces they look like a later, legitimate read, under any driver; so
 * the random-piece driver reads these as the blocking one does (found by
 * MW_NB_MAX_PIECE=1: every other case holds with one-byte reads). */
static int needs_whole_reads(const char *name) {
  static const char *const names[] = {"pop3/reply/desync-extra-greeting",
                                      "pop3/reply/desync-extra-user-reply",
                                      "pop3/reply/unsolicited-err-before-noop",
                                      "pop3/stls/inject-before-stls",
                                      "pop3/stls/inject-same-read",
                                      "smtp/reply/desync-extra-greeting-line",
                                      "smtp/reply/desync-extra-mail-reply",
                                      "smtp/reply/desync-extra-rcpt-reply",
                                      "smtp/reply/unsolicited-421",
                                      "smtp/starttls/inject-before-reply",
                                      "smtp/starttls/inject-multiline-220",
                                      "smtp/starttls/inject-one-byte",
                                      "smtp/starttls/inject-same-read"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (strcmp(name, names[i]) == 0)
      return 1;
  return 0;
}

static void run_current(void) {
  const hc_case *hc = current;
  tl_server *s = tl_server_start(hc->script);
  if (!s)
    return;
  run r = {.hc = hc, .port = tl_server_port(s)};
  nb_whole_reads(needs_whole_reads(hc->name));
  run_client(&r);
  free_client(&r);
  if (r.before_connect) {
    /* Refused by a setting: the client must not even have connected. */
    tl_server_free(s);
    s = NULL;
  } else if (tl_server_wait(s, 20000) != 0) {
    tl_fail(__FILE__, __LINE__, "%s: server script: %s", hc->name,
            tl_server_error(s));
  }
  size_t len = 0;
  const char *rec = s ? tl_server_received(s, &len) : "";
  check_wire(hc, rec, len);
  check_result(&r);
  free(r.got);
  tl_server_free(s);
}

int main(int argc, char **argv) {
  const char *dir = argc > 1 ? argv[1] : MW_HOSTILE_CASES;
  const char *filter = argc > 2 ? argv[2] : NULL;
  int nb = getenv("MW_NB_DRIVER") && atoi(getenv("MW_NB_DRIVER"));
  if (nb)
    nb_install();
  char **paths;
  size_t n = hc_list(dir, &paths), skipped = 0;
  if (n == 0)
    tl_fail(__FILE__, __LINE__, "no case files under %s", dir);
  for (size_t i = 0; i < n; i++) {
    char why[512];
    hc_case *hc = hc_load(paths[i], dir, why, sizeof why);
    if (!hc) {
      tl_fail(__FILE__, __LINE__, "%s: %s", paths[i], why);
    } else if (!filter || strstr(hc->name, filter)) {
      if (!hc_runs_in(hc, "c")) {
        printf("[ N/A  ] %s (only: %s)\n", hc->name, hc->only);
        skipped++;
      } else {
        current = hc;
        tl_run(hc->name, run_current);
      }
    }
    hc_free(hc);
    free(paths[i]);
  }
  free(paths);
  printf("%zu cases do not apply to C (NUL inside a string argument)\n",
         skipped);
  if (nb)
    printf("nbdriver: seed %u (MW_NB_SEED=%u repeats this run)\n", nb_seed(),
           nb_seed());
  return tl_finish();
}
