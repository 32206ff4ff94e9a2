/* itest_pop3.c - POP3Client against the real Dovecot of the servers
 * fixture (plain, STLS, POP3S; USER/PASS, APOP, SASL), with messages put
 * straight into the maildir and compared byte for byte, and against the
 * scripted server for what Dovecot never does. Only loopback is
 * contacted. The tests use USER2's mailbox, which the SMTP tests leave
 * alone, and empty it first. */
#include "testlib.h"

#include <dirent.h>
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- helpers ---- */

static char log_text[1 << 16];
static size_t log_len;

static void collect_log(void *userdata, int severity, int facility,
                        const char *message) {
  (void)userdata;
  (void)severity;
  (void)facility;
  size_t n = strlen(message);
  if (log_len + n + 2 < sizeof log_text) {
    memcpy(log_text + log_len, message, n);
    log_text[log_len + n] = '\n';
    log_len += n + 1;
    log_text[log_len] = '\0';
  }
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void pause_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* A client for 127.0.0.1:port; ssl_mode < 0 means no SSLInfo. */
static mw_pop3 *client(unsigned port, int ssl_mode, int timeout_ms) {
  mw_pop3 *c = mw_pop3_new();
  CHECK(c != NULL);
  CHECK_INT(mw_pop3_set_server(c, "127.0.0.1", port), MW_OK);
  CHECK_INT(mw_pop3_set_timeout(c, timeout_ms), MW_OK);
  if (ssl_mode >= 0) {
    mw_sslinfo *ssl = mw_sslinfo_new();
    CHECK_INT(mw_sslinfo_set_mode(ssl, ssl_mode), MW_OK);
    CHECK_INT(mw_sslinfo_set_option_str(ssl, SSLCAFile, tl_env("CA_FILE")),
              MW_OK);
    CHECK_INT(mw_pop3_set_sslinfo(c, ssl), MW_OK);
    mw_sslinfo_free(ssl);
  }
  mw_loghandler *lh = mw_loghandler_new(collect_log, NULL);
  CHECK_INT(mw_pop3_set_loghandler(c, lh), MW_OK);
  mw_loghandler_free(lh);
  return c;
}

static void set_user(mw_pop3 *c, const char *pass, const char *mech) {
  CHECK_INT(mw_pop3_set_credentials(c, tl_env("USER2"), pass), MW_OK);
  CHECK_INT(mw_pop3_set_auth_mechanism(c, mech), MW_OK);
}

static void check_no_secret_logged(void) {
  CHECK(!tl_contains(log_text, log_len, tl_env("PASS2")));
}

/* The transports Dovecot serves. */
enum transport { T_PLAIN, T_STLS, T_POP3S };
static const char *const transport_names[] = {"plain", "STLS", "POP3S"};

static mw_pop3 *dovecot(enum transport t) {
  switch (t) {
  case T_STLS:
    return client(tl_env_port("POP3_PORT"), MODE_STARTTLS, 15000);
  case T_POP3S:
    return client(tl_env_port("POP3S_PORT"), MODE_CHANNEL, 15000);
  default: {
    mw_pop3 *c = client(tl_env_port("POP3_PORT"), -1, 15000);
    CHECK_INT(mw_pop3_set_allow_plaintext_auth(c, 1), MW_OK);
    return c;
  }
  }
}

/* Connected and logged in as USER2, or NULL (the failure is counted). */
static mw_pop3 *login(enum transport t, const char *mech) {
  mw_pop3 *c = dovecot(t);
  set_user(c, tl_env("PASS2"), mech);
  int rc = mw_pop3_connect(c);
  CHECK_ERR(rc, mw_pop3_extended_error(c), MW_OK, eexNone);
  if (rc != MW_OK) {
    fprintf(stderr, "  (%s, %s)\n", transport_names[t], mech ? mech : "auto");
    mw_pop3_free(c);
    return NULL;
  }
  return c;
}

/* ---- the maildir ---- */

static void maildir_path(char *buf, size_t cap, const char *sub) {
  snprintf(buf, cap, "%s/%s/Maildir%s%s", tl_env("MAILDIR_ROOT"),
           tl_env("USER2"), sub ? "/" : "", sub ? sub : "");
}

static void owned_by_dovecot(const char *path) {
  struct passwd *pw = getpwnam("dovecot");
  if (!pw) {
    tl_fail(__FILE__, __LINE__, "no dovecot user on this system");
    return;
  }
  if (chown(path, pw->pw_uid, pw->pw_gid) != 0)
    tl_fail(__FILE__, __LINE__, "chown %s: %s", path, strerror(errno));
}

static void make_dir(const char *path) {
  if (mkdir(path, 0700) != 0 && errno != EEXIST)
    tl_fail(__FILE__, __LINE__, "mkdir %s: %s", path, strerror(errno));
  else
    owned_by_dovecot(path);
}

/* Remove every message of USER2 (new/ and cur/). */
static void empty_mailbox(void) {
  char dir[1024], path[2048];
  snprintf(dir, sizeof dir, "%s/%s", tl_env("MAILDIR_ROOT"), tl_env("USER2"));
  make_dir(dir);
  maildir_path(dir, sizeof dir, NULL);
  make_dir(dir);
  static const char *const subs[] = {"new", "cur", "tmp"};
  for (size_t i = 0; i < 3; i++) {
    maildir_path(dir, sizeof dir, subs[i]);
    make_dir(dir);
    DIR *d = opendir(dir);
    if (!d)
      continue;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
      if (de->d_name[0] == '.')
        continue;
      snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
      unlink(path);
    }
    closedir(d);
  }
}

/* Deliver a message the way an MDA does (tmp/, then rename into new/);
 * the base name goes to name. No ",S=" in the name: Dovecot trusts it. */
static void put_message(const char *data, size_t len, char *name, size_t cap) {
  static int counter;
  char tmp[2048], dst[2048], dir[1024];
  snprintf(name, cap, "%ld.M%dP%d.mwtest", (long)time(NULL), ++counter,
           (int)getpid());
  maildir_path(dir, sizeof dir, "tmp");
  snprintf(tmp, sizeof tmp, "%s/%s", dir, name);
  maildir_path(dir, sizeof dir, "new");
  snprintf(dst, sizeof dst, "%s/%s", dir, name);
  FILE *f = fopen(tmp, "wb");
  if (!f) {
    tl_fail(__FILE__, __LINE__, "cannot write %s: %s", tmp, strerror(errno));
    return;
  }
  CHECK_INT(fwrite(data, 1, len, f), len);
  CHECK_INT(fclose(f), 0);
  chmod(tmp, 0600);
  owned_by_dovecot(tmp);
  CHECK_INT(rename(tmp, dst), 0);
}

/* Is the message still in the maildir (new/, or cur/ with flags)? */
static int message_exists(const char *name) {
  static const char *const subs[] = {"new", "cur"};
  size_t n = strlen(name);
  for (size_t i = 0; i < 2; i++) {
    char dir[1024];
    maildir_path(dir, sizeof dir, subs[i]);
    DIR *d = opendir(dir);
    if (!d)
      continue;
    struct dirent *de;
    int found = 0;
    while (!found && (de = readdir(d)) != NULL)
      found = strncmp(de->d_name, name, n) == 0 &&
              (de->d_name[n] == '\0' || de->d_name[n] == ':');
    closedir(d);
    if (found)
      return 1;
  }
  return 0;
}

/* ---- the messages ---- */

static const char MSG_SMALL[] = "From: <a@example.org>\r\n"
                                "To: <b@example.org>\r\n"
                                "Subject: small\r\n"
                                "\r\n"
                                "Hello from the maildir.\r\n";
static const char MSG_SMALL_HEADERS[] = "From: <a@example.org>\r\n"
                                        "To: <b@example.org>\r\n"
                                        "Subject: small\r\n"
                                        "\r\n";
static const char MSG_DOTS[] = "From: <a@example.org>\r\n"
                               "Subject: dots, a longer subject line\r\n"
                               "\r\n"
                               ".\r\n"
                               "..\r\n"
                               ".leading dot\r\n"
                               "..two dots\r\n"
                               "...\r\n"
                               "end. of message\r\n";

#define BIG_SIZE (5 * 1024 * 1024)
static char *big_msg;
static size_t big_len;

static void make_big(void) {
  if (big_msg)
    return;
  big_msg = malloc(BIG_SIZE + 256);
  size_t o = (size_t)sprintf(big_msg, "From: <a@example.org>\r\n"
                                      "Subject: five megabytes\r\n\r\n");
  for (unsigned i = 0; o < BIG_SIZE; i++) {
    /* Every 50th line starts with a dot, to be stuffed by the server. */
    o += (size_t)sprintf(big_msg + o,
                         "%sline %07u abcdefghijklmnopqrstuvwxyz0123456789"
                         "ABCDEFGHIJKLMNOPQRSTUVWXYZ\r\n",
                         i % 50 == 0 ? "." : "", i);
  }
  big_len = o;
}

struct mailbox {
  char small[256], dots[256], big[256];
};

static void fill_mailbox(struct mailbox *m, int with_big) {
  empty_mailbox();
  put_message(MSG_SMALL, strlen(MSG_SMALL), m->small, sizeof m->small);
  put_message(MSG_DOTS, strlen(MSG_DOTS), m->dots, sizeof m->dots);
  m->big[0] = '\0';
  if (with_big) {
    make_big();
    put_message(big_msg, big_len, m->big, sizeof m->big);
  }
}

/* The message number LIST gives to a message of this size, or 0. */
static unsigned long number_of_size(mw_pop3 *c, size_t size) {
  CHECK_INT(mw_pop3_list(c), MW_OK);
  for (size_t i = 0; i < mw_pop3_entry_count(c); i++)
    if (mw_pop3_entry_size(c, i) == size)
      return mw_pop3_entry_number(c, i);
  tl_fail(__FILE__, __LINE__, "no message of %zu bytes in LIST", size);
  return 0;
}

static void check_retr(mw_pop3 *c, const char *want, size_t wlen) {
  unsigned long n = number_of_size(c, wlen);
  char *got = NULL;
  size_t len = 0;
  int rc = mw_pop3_retr(c, n, &got, &len);
  CHECK_ERR(rc, mw_pop3_extended_error(c), MW_OK, eexNone);
  CHECK_INT(len, wlen);
  CHECK(got && len == wlen && memcmp(got, want, wlen) == 0);
  mw_free(got);
}

/* ---- real Dovecot ---- */

static void stat_list_uidl_retr_top(enum transport t) {
  struct mailbox m;
  fill_mailbox(&m, 0);
  mw_pop3 *c = login(t, NULL);
  if (!c)
    return;
  CHECK_INT(mw_pop3_is_secure(c), t != T_PLAIN);
  if (t == T_STLS)
    CHECK(!mw_pop3_has_capability(c, "STLS")); /* CAPA after TLS */
  CHECK(mw_pop3_has_capability(c, "UIDL"));
  unsigned long count = 0;
  uint64_t octets = 0;
  CHECK_INT(mw_pop3_stat(c, &count, &octets), MW_OK);
  CHECK_INT(count, 2);
  CHECK_INT(octets, strlen(MSG_SMALL) + strlen(MSG_DOTS));
  CHECK_INT(mw_pop3_list(c), MW_OK);
  CHECK_INT(mw_pop3_entry_count(c), 2);
  CHECK_INT(mw_pop3_entry_number(c, 0), 1);
  CHECK_INT(mw_pop3_entry_number(c, 1), 2);
  CHECK(mw_pop3_entry_uid(c, 0) == NULL);
  CHECK_INT(mw_pop3_uidl(c), MW_OK);
  CHECK_INT(mw_pop3_entry_count(c), 2);
  const char *uid1 = mw_pop3_entry_uid(c, 0);
  CHECK(uid1 != NULL && strlen(uid1) >= 1);
  char uid_copy[80];
  snprintf(uid_copy, sizeof uid_copy, "%s", uid1 ? uid1 : "");
  const char *uid = NULL;
  CHECK_INT(mw_pop3_uidl_one(c, 1, &uid), MW_OK);
  CHECK_STR(uid, uid_copy);
  uint64_t size = 0;
  CHECK_INT(mw_pop3_list_one(c, 2, &size), MW_OK);
  CHECK(size == strlen(MSG_SMALL) || size == strlen(MSG_DOTS));
  check_retr(c, MSG_SMALL, strlen(MSG_SMALL));
  check_retr(c, MSG_DOTS, strlen(MSG_DOTS));
  unsigned long n = number_of_size(c, strlen(MSG_SMALL));
  char *top = NULL;
  size_t len = 0;
  CHECK_INT(mw_pop3_top(c, n, 0, &top, &len), MW_OK);
  CHECK_INT(len, strlen(MSG_SMALL_HEADERS));
  CHECK(top && memcmp(top, MSG_SMALL_HEADERS, len) == 0);
  mw_free(top);
  CHECK_INT(mw_pop3_noop(c), MW_OK);
  CHECK_INT(mw_pop3_quit(c), MW_OK);
  CHECK(!mw_pop3_is_connected(c));
  CHECK_ERR(mw_pop3_stat(c, &count, &octets), mw_pop3_extended_error(c),
            errNotConnected, eexNotConnected);
  mw_pop3_free(c);
  check_no_secret_logged();
}

static void dovecot_plain_commands(void) {
  stat_list_uidl_retr_top(T_PLAIN);
}

static void dovecot_stls_commands(void) {
  stat_list_uidl_retr_top(T_STLS);
}

static void dovecot_pop3s_commands(void) {
  stat_list_uidl_retr_top(T_POP3S);
}

/* Each mechanism over each transport: log in, STAT, QUIT. */
static void login_with(enum transport t, const char *mech) {
  mw_pop3 *c = login(t, mech);
  if (!c)
    return;
  CHECK_STR(mw_pop3_auth_mechanism_used(c), mech ? mech : "CRAM-MD5");
  CHECK_INT(mw_pop3_is_secure(c), t != T_PLAIN);
  unsigned long count = 0;
  CHECK_INT(mw_pop3_stat(c, &count, NULL), MW_OK);
  CHECK_INT(count, 2);
  CHECK_INT(mw_pop3_quit(c), MW_OK);
  mw_pop3_free(c);
}

/* Does Dovecot offer APOP here (a timestamp in its greeting)? */
static int apop_offered(void) {
  mw_pop3 *c = dovecot(T_PLAIN);
  set_user(c, tl_env("PASS2"), "APOP");
  int rc = mw_pop3_connect(c);
  int offered =
      rc == MW_OK ||
      mw_errorinfo_number(mw_pop3_extended_error(c)) != eexAuthNoMechanism;
  mw_pop3_free(c);
  return offered;
}

static void dovecot_each_mechanism(void) {
  struct mailbox m;
  fill_mailbox(&m, 0);
  static const char *const mechs[] = {"USER", "PLAIN", "LOGIN", "CRAM-MD5",
                                      NULL};
  int apop = apop_offered();
  if (!apop)
    printf("NOTE: this Dovecot has no APOP timestamp in its greeting; APOP "
           "is exercised against the scripted server only "
           "(apop_scripted)\n");
  for (int t = T_PLAIN; t <= T_POP3S; t++) {
    for (size_t i = 0; i < sizeof mechs / sizeof mechs[0]; i++)
      login_with((enum transport)t, mechs[i]);
    if (apop)
      login_with((enum transport)t, "APOP");
  }
  check_no_secret_logged();
}

/* The streaming callback compares with the expected bytes as they come,
 * and remembers the largest chunk (the library's memory, not ours). */
struct stream_check {
  const char *want;
  size_t wlen, off, calls, max_chunk;
  int mismatch;
};

static int stream_compare(void *ud, const char *data, size_t len) {
  struct stream_check *s = ud;
  s->calls++;
  if (len > s->max_chunk)
    s->max_chunk = len;
  if (s->off + len > s->wlen || memcmp(s->want + s->off, data, len) != 0)
    s->mismatch = 1;
  s->off += len;
  return 0;
}

static void dovecot_streaming_5mb(void) {
  struct mailbox m;
  fill_mailbox(&m, 1);
  mw_pop3 *c = login(T_POP3S, NULL);
  if (!c)
    return;
  unsigned long n = number_of_size(c, big_len);
  struct stream_check s = {big_msg, big_len, 0, 0, 0, 0};
  double t0 = now_s();
  CHECK_ERR(mw_pop3_retr_stream(c, n, stream_compare, &s),
            mw_pop3_extended_error(c), MW_OK, eexNone);
  printf("5 MB streamed in %.2f s, %zu callbacks, largest %zu bytes\n",
         now_s() - t0, s.calls, s.max_chunk);
  CHECK_INT(s.off, big_len);
  CHECK(!s.mismatch);
  CHECK(s.calls > 10);
  CHECK(s.max_chunk <= 65536 + 1024);
  /* TOP streams too: the headers and the first 3 lines. */
  const char *body = strstr(big_msg, "\r\n\r\n") + 4;
  const char *p = body;
  for (int i = 0; i < 3; i++)
    p = strstr(p, "\r\n") + 2;
  struct stream_check top = {big_msg, (size_t)(p - big_msg), 0, 0, 0, 0};
  CHECK_INT(mw_pop3_top_stream(c, n, 3, stream_compare, &top), MW_OK);
  CHECK_INT(top.off, (size_t)(p - big_msg));
  CHECK(!top.mismatch);
  /* Into memory it is too large for a 3 MB limit; under twice the limit
   * it is read to the end and discarded, so the session goes on. */
  CHECK_INT(mw_pop3_set_max_message_size(c, 3 * 1024 * 1024), MW_OK);
  char *out = NULL;
  size_t len = 0;
  CHECK_ERR(mw_pop3_retr(c, n, &out, &len), mw_pop3_extended_error(c),
            errServer, eexMessageTooLarge);
  CHECK(out == NULL);
  CHECK(mw_pop3_is_connected(c));
  CHECK_INT(mw_pop3_noop(c), MW_OK);
  CHECK_INT(mw_pop3_quit(c), MW_OK);
  mw_pop3_free(c);
}

static int count_messages(void) {
  mw_pop3 *c = login(T_POP3S, NULL);
  if (!c)
    return -1;
  unsigned long count = 0;
  CHECK_INT(mw_pop3_stat(c, &count, NULL), MW_OK);
  CHECK_INT(mw_pop3_quit(c), MW_OK);
  mw_pop3_free(c);
  return (int)count;
}

static void dovecot_dele_rset_keeps(void) {
  struct mailbox m;
  fill_mailbox(&m, 0);
  mw_pop3 *c = login(T_POP3S, NULL);
  if (!c)
    return;
  CHECK_INT(mw_pop3_dele(c, 1), MW_OK);
  unsigned long count = 0;
  CHECK_INT(mw_pop3_stat(c, &count, NULL), MW_OK);
  CHECK_INT(count, 1); /* marked */
  CHECK_INT(mw_pop3_rset(c), MW_OK);
  CHECK_INT(mw_pop3_quit(c), MW_OK);
  mw_pop3_free(c);
  CHECK_INT(count_messages(), 2);
  CHECK(message_exists(m.small));
  CHECK(message_exists(m.dots));
}

static void dovecot_dele_disconnect_keeps(void) {
  struct mailbox m;
  fill_mailbox(&m, 0);
  mw_pop3 *c = login(T_POP3S, NULL);
  if (!c)
    return;
  CHECK_INT(mw_pop3_dele(c, 1), MW_OK);
  CHECK_INT(mw_pop3_dele(c, 2), MW_OK);
  mw_pop3_disconnect(c); /* no QUIT */
  CHECK(!mw_pop3_is_connected(c));
  mw_pop3_free(c);
  pause_ms(200); /* let Dovecot notice the close */
  CHECK_INT(count_messages(), 2);
  CHECK(message_exists(m.small));
  CHECK(message_exists(m.dots));
  /* mw_pop3_free while connected does not QUIT either. */
  c = login(T_POP3S, NULL);
  if (!c)
    return;
  CHECK_INT(mw_pop3_dele(c, 1), MW_OK);
  mw_pop3_free(c);
  pause_ms(200);
  CHECK_INT(count_messages(), 2);
}

static void dovecot_dele_quit_deletes(void) {
  struct mailbox m;
  fill_mailbox(&m, 0);
  mw_pop3 *c = login(T_POP3S, NULL);
  if (!c)
    return;
  unsigned long n = number_of_size(c, strlen(MSG_SMALL));
  CHECK_INT(mw_pop3_dele(c, n), MW_OK);
  CHECK_INT(mw_pop3_quit(c), MW_OK);
  mw_pop3_free(c);
  CHECK_INT(count_messages(), 1);
  CHECK(!message_exists(m.small));
  CHECK(message_exists(m.dots));
}

static void dovecot_retr_missing_message(void) {
  struct mailbox m;
  fill_mailbox(&m, 0);
  mw_pop3 *c = login(T_PLAIN, NULL);
  if (!c)
    return;
  char *out = NULL;
  size_t len = 0;
  const mw_errorinfo *ei = mw_pop3_extended_error(c);
  CHECK_ERR(mw_pop3_retr(c, 999, &out, &len), ei, errServer, eexPopServer);
  CHECK(strlen(mw_errorinfo_server_text(ei)) > 0);
  CHECK_STR(mw_pop3_last_reply_text(c), mw_errorinfo_server_text(ei));
  CHECK(out == NULL);
  CHECK(mw_pop3_is_connected(c));
  CHECK_ERR(mw_pop3_dele(c, 999), ei, errServer, eexPopServer);
  CHECK_ERR(mw_pop3_dele(c, 0), ei, errInvalidArgument, eexInvalidArgument);
  CHECK_ERR(mw_pop3_uidl_one(c, 0, NULL), ei, errInvalidArgument,
            eexInvalidArgument);
  CHECK_INT(mw_pop3_noop(c), MW_OK);
  CHECK_INT(mw_errorinfo_code(ei), MW_OK);
  CHECK_INT(mw_pop3_quit(c), MW_OK);
  mw_pop3_free(c);
}

static void dovecot_wrong_password(void) {
  mw_pop3 *c = dovecot(T_POP3S);
  set_user(c, "not-the-password", "PLAIN");
  const mw_errorinfo *ei = mw_pop3_extended_error(c);
  CHECK_ERR(mw_pop3_connect(c), ei, errAuth, eexPopServer);
  CHECK(strlen(mw_errorinfo_server_text(ei)) > 0);
  CHECK(!mw_pop3_is_connected(c));
  mw_pop3_free(c);
  CHECK(!tl_contains(log_text, log_len, "not-the-password"));
}

static void dovecot_plaintext_refused_without_allow(void) {
  mw_pop3 *c = client(tl_env_port("POP3_PORT"), -1, 15000);
  set_user(c, tl_env("PASS2"), NULL);
  CHECK_ERR(mw_pop3_connect(c), mw_pop3_extended_error(c), errAuth,
            eexAuthPlaintext);
  CHECK(!mw_pop3_is_connected(c));
  mw_pop3_free(c);
}

static void unknown_host(void) {
  mw_pop3 *c = client(110, -1, 5000);
  CHECK_INT(mw_pop3_set_server(c, "no-such-host.invalid", 110), MW_OK);
  CHECK_ERR(mw_pop3_connect(c), mw_pop3_extended_error(c), errConnect, eexDNS);
  mw_pop3_free(c);
}

static void closed_port(void) {
  mw_pop3 *c = client(tl_env_port("CLOSED_PORT"), -1, 5000);
  CHECK_ERR(mw_pop3_connect(c), mw_pop3_extended_error(c), errConnect,
            eexTCPConnect);
  CHECK(!mw_pop3_is_connected(c));
  mw_pop3_free(c);
}

static void channel_tls_to_plain_port(void) {
  mw_pop3 *c = client(tl_env_port("POP3_PORT"), MODE_CHANNEL, 5000);
  CHECK_ERR(mw_pop3_connect(c), mw_pop3_extended_error(c), errConnect,
            eexSSLProtocol);
  CHECK(!mw_pop3_is_connected(c));
  mw_pop3_free(c);
}

static void argument_errors_need_no_server(void) {
  mw_pop3 *c = mw_pop3_new();
  const mw_errorinfo *ei = mw_pop3_extended_error(c);
  CHECK_ERR(mw_pop3_set_server(c, "host\r\nevil", 110), ei, errInvalidArgument,
            eexInvalidArgument);
  CHECK_ERR(mw_pop3_set_server(c, "localhost", 70000), ei, errInvalidArgument,
            eexInvalidArgument);
  CHECK_ERR(mw_pop3_set_credentials(c, "bob\r\nDELE 1", "pw"), ei,
            errInvalidArgument, eexInvalidArgument);
  CHECK_ERR(mw_pop3_set_credentials(c, "bob", "pw\nDELE 1"), ei,
            errInvalidArgument, eexInvalidArgument);
  CHECK_ERR(mw_pop3_set_auth_mechanism(c, "GSSAPI"), ei, errInvalidArgument,
            eexInvalidArgument);
  CHECK_ERR(mw_pop3_set_timeout(c, 0), ei, errInvalidArgument,
            eexInvalidArgument);
  CHECK_ERR(mw_pop3_set_handler(c, NULL), ei, errInvalidArgument,
            eexInvalidArgument);
  CHECK_ERR(mw_pop3_connect(c), ei, errInvalidArgument, eexInvalidArgument);
  unsigned long n;
  CHECK_ERR(mw_pop3_stat(c, &n, NULL), ei, errNotConnected, eexNotConnected);
  CHECK_ERR(mw_pop3_retr(c, 1, NULL, NULL), ei, errNotConnected,
            eexNotConnected);
  CHECK_ERR(mw_pop3_dele(c, 1), ei, errNotConnected, eexNotConnected);
  CHECK_ERR(mw_pop3_quit(c), ei, errNotConnected, eexNotConnected);
  CHECK_INT(mw_pop3_set_server(c, "127.0.0.1", 0), MW_OK);
  CHECK_INT(mw_errorinfo_code(ei), MW_OK);
  CHECK_INT(mw_pop3_set_auth_mechanism(c, "cram-md5"), MW_OK);
  CHECK_INT(mw_pop3_set_auth_mechanism(c, NULL), MW_OK);
  mw_pop3_free(c);
  mw_pop3_free(NULL);
}

/* ---- the scripted server ---- */

struct scripted {
  tl_server *srv;
  mw_pop3 *c;
};

static void scripted_start(struct scripted *t, const char *script,
                           int ssl_mode, int timeout_ms) {
  t->srv = tl_server_start(script);
  CHECK(t->srv != NULL);
  t->c = client(t->srv ? tl_server_port(t->srv) : 1, ssl_mode, timeout_ms);
}

/* Wait for the script, check it ran, and return what the client sent. */
static const char *scripted_end(struct scripted *t, size_t *len) {
  mw_pop3_free(t->c);
  t->c = NULL;
  if (tl_server_wait(t->srv, 15000) != 0)
    tl_fail(__FILE__, __LINE__, "script failed: %s", tl_server_error(t->srv));
  return tl_server_received(t->srv, len);
}

static void expect_received(const char *rx, size_t len, const char *want) {
  CHECK_INT(len, strlen(want));
  if (len != strlen(want) || memcmp(rx, want, len) != 0)
    tl_fail(__FILE__, __LINE__, "client sent \"%.*s\", expected \"%s\"",
            (int)len, rx, want);
}

#define GREET_CAPA "S: +OK scripted ready\nC: CAPA\n"

static void plaintext_auth_sends_nothing_after_capa(void) {
  struct scripted t;
  scripted_start(&t,
                 GREET_CAPA "S: +OK\nS: USER\nS: SASL PLAIN\nS: .\n"
                            "EXPECT_CLOSE\n",
                 -1, 5000);
  CHECK_INT(mw_pop3_set_credentials(t.c, "user", "secret-pw"), MW_OK);
  CHECK_ERR(mw_pop3_connect(t.c), mw_pop3_extended_error(t.c), errAuth,
            eexAuthPlaintext);
  CHECK(!mw_pop3_is_connected(t.c));
  size_t len;
  const char *rx = scripted_end(&t, &len);
  expect_received(rx, len, "CAPA\r\n");
  tl_server_free(t.srv);
}

static void stls_unavailable_scripted(void) {
  struct scripted t;
  scripted_start(&t,
                 GREET_CAPA "S: +OK\nS: USER\nS: SASL PLAIN\nS: .\n"
                            "EXPECT_CLOSE\n",
                 MODE_STARTTLS, 5000);
  CHECK_INT(mw_pop3_set_credentials(t.c, "user", "secret-pw"), MW_OK);
  CHECK_ERR(mw_pop3_connect(t.c), mw_pop3_extended_error(t.c), errTLS,
            eexSSLStartTLSUnavailable);
  CHECK(!mw_pop3_is_connected(t.c));
  size_t len;
  const char *rx = scripted_end(&t, &len);
  expect_received(rx, len, "CAPA\r\n");
  tl_server_free(t.srv);
}

static void stls_refused_scripted(void) {
  struct scripted t;
  scripted_start(&t,
                 GREET_CAPA "S: +OK\nS: STLS\nS: USER\nS: .\n"
                            "C: STLS\nS: -ERR [SYS/TEMP] TLS unavailable\n"
                            "EXPECT_CLOSE\n",
                 MODE_STARTTLS, 5000);
  CHECK_INT(mw_pop3_set_credentials(t.c, "user", "secret-pw"), MW_OK);
  const mw_errorinfo *ei = mw_pop3_extended_error(t.c);
  CHECK_ERR(mw_pop3_connect(t.c), ei, errTLS, eexSSLStartTLSRefused);
  CHECK_STR(mw_errorinfo_server_text(ei), "[SYS/TEMP] TLS unavailable");
  CHECK(!mw_pop3_is_connected(t.c));
  size_t len;
  const char *rx = scripted_end(&t, &len);
  expect_received(rx, len, "CAPA\r\nSTLS\r\n");
  tl_server_free(t.srv);
}

static void stls_injection(void) {
  struct scripted t;
  scripted_start(&t,
                 GREET_CAPA "S: +OK\nS: STLS\nS: .\nC: STLS\n"
                            "SRAW: +OK go\\r\\n+OK injected\\r\\n\n"
                            "EXPECT_CLOSE\n",
                 MODE_STARTTLS, 5000);
  CHECK_INT(mw_pop3_set_credentials(t.c, "user", "secret-pw"), MW_OK);
  CHECK_ERR(mw_pop3_connect(t.c), mw_pop3_extended_error(t.c), errTLS,
            eexSSLInjection);
  CHECK(!mw_pop3_is_connected(t.c));
  size_t len;
  const char *rx = scripted_end(&t, &len);
  expect_received(rx, len, "CAPA\r\nSTLS\r\n");
  tl_server_free(t.srv);
}

static void stls_scripted_full(void) {
  struct scripted t;
  scripted_start(&t,
                 GREET_CAPA "S: +OK\nS: STLS\nS: X-BEFORE-TLS\nS: .\n"
                            "C: STLS\nS: +OK begin\nTLS\n"
                            "C: CAPA\nS: +OK\nS: USER\nS: X-AFTER-TLS\nS: .\n"
                            "C: USER user\nS: +OK\nC: PASS secret-pw\n"
                            "S: +OK logged in\nC: QUIT\nS: +OK bye\n",
                 MODE_STARTTLS, 5000);
  CHECK_INT(mw_pop3_set_credentials(t.c, "user", "secret-pw"), MW_OK);
  CHECK_ERR(mw_pop3_connect(t.c), mw_pop3_extended_error(t.c), MW_OK, eexNone);
  CHECK(mw_pop3_is_secure(t.c));
  CHECK(mw_pop3_has_capability(t.c, "X-AFTER-TLS"));
  CHECK(!mw_pop3_has_capability(t.c, "X-BEFORE-TLS"));
  CHECK_STR(mw_pop3_auth_mechanism_used(t.c), "USER");
  CHECK_INT(mw_pop3_quit(t.c), MW_OK);
  size_t len;
  scripted_end(&t, &len);
  tl_server_free(t.srv);
}

/* RFC 1939's APOP example through the whole client. */
static void apop_scripted(void) {
  struct scripted t;
  scripted_start(&t,
                 "S: +OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>\n"
                 "C: CAPA\nS: -ERR unknown command\n"
                 "C: APOP mrose c4c9334bac560ecc979e58001b3e22fb\n"
                 "S: +OK maildrop has 1 message\nC: QUIT\nS: +OK bye\n",
                 -1, 5000);
  CHECK_INT(mw_pop3_set_credentials(t.c, "mrose", "tanstaaf"), MW_OK);
  CHECK_INT(mw_pop3_set_allow_plaintext_auth(t.c, 1), MW_OK);
  CHECK_ERR(mw_pop3_connect(t.c), mw_pop3_extended_error(t.c), MW_OK, eexNone);
  CHECK_STR(mw_pop3_auth_mechanism_used(t.c), "APOP");
  CHECK_STR(mw_pop3_capabilities(t.c), "");
  CHECK_INT(mw_pop3_quit(t.c), MW_OK);
  size_t len;
  scripted_end(&t, &len);
  tl_server_free(t.srv);
  CHECK(!tl_contains(log_text, log_len, "c4c9334bac560ecc979e58001b3e22fb"));
}

static void server_stops_answering(void) {
  struct scripted t;
  scripted_start(&t, GREET_CAPA "SLEEP 4000\n", -1, 500);
  double t0 = now_s();
  CHECK_ERR(mw_pop3_connect(t.c), mw_pop3_extended_error(t.c), errTimeout,
            eexTimeout);
  double took = now_s() - t0;
  CHECK(took < 2.5);
  CHECK(took >= 0.4);
  CHECK(!mw_pop3_is_connected(t.c));
  size_t len;
  scripted_end(&t, &len);
  tl_server_free(t.srv);
}

static void server_closes_mid_listing(void) {
  struct scripted t;
  scripted_start(&t,
                 GREET_CAPA "S: +OK\nS: USER\nS: .\nC: LIST\n"
                            "S: +OK 2 messages\nS: 1 100\nCLOSE\n",
                 -1, 5000);
  CHECK_INT(mw_pop3_connect(t.c), MW_OK);
  CHECK_ERR(mw_pop3_list(t.c), mw_pop3_extended_error(t.c), errNetwork,
            eexServerClosed);
  CHECK(!mw_pop3_is_connected(t.c));
  size_t len;
  scripted_end(&t, &len);
  tl_server_free(t.srv);
}

static void server_closes_mid_message(void) {
  struct scripted t;
  scripted_start(&t,
                 GREET_CAPA "S: +OK\nS: .\nC: RETR 1\n"
                            "S: +OK\nS: Subject: cut\nS: \nS: half\nCLOSE\n",
                 -1, 5000);
  CHECK_INT(mw_pop3_connect(t.c), MW_OK);
  char *out = NULL;
  size_t len = 0;
  CHECK_ERR(mw_pop3_retr(t.c, 1, &out, &len), mw_pop3_extended_error(t.c),
            errNetwork, eexServerClosed);
  CHECK(out == NULL);
  scripted_end(&t, &len);
  tl_server_free(t.srv);
}

static void over_long_status_line(void) {
  char script[8192];
  size_t o = (size_t)snprintf(script, sizeof script, "SRAW: +OK ");
  for (int i = 0; i < 5000; i++)
    script[o++] = 'x';
  snprintf(script + o, sizeof script - o, "\\r\\n\nEXPECT_CLOSE\n");
  struct scripted t;
  scripted_start(&t, script, -1, 5000);
  CHECK_ERR(mw_pop3_connect(t.c), mw_pop3_extended_error(t.c), errProtocol,
            eexLineTooLong);
  CHECK(!mw_pop3_is_connected(t.c));
  size_t len;
  const char *rx = scripted_end(&t, &len);
  expect_received(rx, len, "");
  tl_server_free(t.srv);
}

static void greeting_err(void) {
  struct scripted t;
  scripted_start(&t, "S: -ERR [SYS/TEMP] too busy\nEXPECT_CLOSE\n", -1, 5000);
  const mw_errorinfo *ei = mw_pop3_extended_error(t.c);
  CHECK_ERR(mw_pop3_connect(t.c), ei, errServer, eexPopServer);
  CHECK_STR(mw_errorinfo_server_text(ei), "[SYS/TEMP] too busy");
  CHECK_INT(mw_errorinfo_reply_code(ei), 0);
  CHECK_STR(mw_errorinfo_enhanced_status(ei), "SYS/TEMP");
  CHECK(!mw_pop3_is_connected(t.c));
  size_t len;
  const char *rx = scripted_end(&t, &len);
  expect_received(rx, len, "");
  tl_server_free(t.srv);
}

static void bad_arguments_send_nothing(void) {
  struct scripted t;
  scripted_start(&t, GREET_CAPA "S: +OK\nS: UIDL\nS: .\nC: QUIT\nS: +OK bye\n",
                 -1, 5000);
  CHECK_INT(mw_pop3_connect(t.c), MW_OK);
  const mw_errorinfo *ei = mw_pop3_extended_error(t.c);
  const char *uid = NULL;
  CHECK_ERR(mw_pop3_uidl_one(t.c, 0, &uid), ei, errInvalidArgument,
            eexInvalidArgument);
  CHECK_ERR(mw_pop3_retr(t.c, 0, NULL, NULL), ei, errInvalidArgument,
            eexInvalidArgument);
  CHECK_ERR(mw_pop3_retr_stream(t.c, 1, NULL, NULL), ei, errInvalidArgument,
            eexInvalidArgument);
  /* Credentials cannot change while connected, bad or not. */
  CHECK_ERR(mw_pop3_set_credentials(t.c, "bob\r\nDELE 1", "pw"), ei, errState,
            eexState);
  CHECK(mw_pop3_is_connected(t.c));
  CHECK_INT(mw_pop3_quit(t.c), MW_OK);
  size_t len;
  const char *rx = scripted_end(&t, &len);
  expect_received(rx, len, "CAPA\r\nQUIT\r\n");
  tl_server_free(t.srv);
}

static void malformed_reply_closes(void) {
  struct scripted t;
  scripted_start(&t,
                 GREET_CAPA "S: +OK\nS: .\nC: STAT\nS: +OK lots\n"
                            "EXPECT_CLOSE\n",
                 -1, 5000);
  CHECK_INT(mw_pop3_connect(t.c), MW_OK);
  unsigned long n = 0;
  CHECK_ERR(mw_pop3_stat(t.c, &n, NULL), mw_pop3_extended_error(t.c),
            errProtocol, eexMalformedReply);
  CHECK(!mw_pop3_is_connected(t.c));
  size_t len;
  scripted_end(&t, &len);
  tl_server_free(t.srv);
}

/* A callback that aborts: the connection closes with the rest of the
 * message still in flight. */
static int abort_sink(void *ud, const char *data, size_t len) {
  (void)data;
  (void)len;
  (*(int *)ud)++;
  return 1;
}

static void stream_abort_closes(void) {
  struct scripted t;
  scripted_start(&t,
                 GREET_CAPA "S: +OK\nS: .\nC: RETR 1\n"
                            "S: +OK\nS: Subject: x\nS: \nS: body\n"
                            "EXPECT_CLOSE\n",
                 -1, 5000);
  CHECK_INT(mw_pop3_connect(t.c), MW_OK);
  int calls = 0;
  CHECK_ERR(mw_pop3_retr_stream(t.c, 1, abort_sink, &calls),
            mw_pop3_extended_error(t.c), errAborted, eexAborted);
  CHECK(calls >= 1);
  CHECK(!mw_pop3_is_connected(t.c));
  size_t len;
  scripted_end(&t, &len);
  tl_server_free(t.srv);
}

static mw_pop3 *reentry_client;
static int reentry_rc = -1;

static int reentering_sink(void *ud, const char *data, size_t len) {
  (void)ud;
  (void)data;
  (void)len;
  reentry_rc = mw_pop3_noop(reentry_client);
  return 0;
}

static void reentry_from_callback_refused(void) {
  struct scripted t;
  scripted_start(&t,
                 GREET_CAPA "S: +OK\nS: .\nC: RETR 1\n"
                            "S: +OK\nS: Subject: x\nS: \nS: body\nS: .\n"
                            "C: QUIT\nS: +OK\n",
                 -1, 5000);
  CHECK_INT(mw_pop3_connect(t.c), MW_OK);
  reentry_client = t.c;
  CHECK_ERR(mw_pop3_retr_stream(t.c, 1, reentering_sink, NULL),
            mw_pop3_extended_error(t.c), MW_OK, eexNone);
  CHECK_INT(reentry_rc, errState);
  CHECK_INT(mw_pop3_quit(t.c), MW_OK);
  size_t len;
  const char *rx = scripted_end(&t, &len);
  CHECK(!tl_contains(rx, len, "NOOP"));
  tl_server_free(t.srv);
}

/* mw_pop3_cancel from a LogHandler in the middle of RETR: the call fails
 * with errAborted and the connection is closed. */
static mw_pop3 *cancel_client;

static void cancelling_log(void *userdata, int severity, int facility,
                           const char *message) {
  (void)userdata;
  (void)severity;
  (void)facility;
  if (strcmp(message, "S: +OK message follows") == 0)
    mw_pop3_cancel(cancel_client);
}

static void cancel_from_log_handler(void) {
  tl_server *srv = tl_server_start(
      GREET_CAPA "S: +OK\nS: .\nC: RETR 1\nS: +OK message follows\n"
                 "SLEEP 300\nS: Subject: x\nEXPECT_CLOSE\n");
  CHECK(srv != NULL);
  mw_pop3 *c = mw_pop3_new();
  cancel_client = c;
  CHECK_INT(mw_pop3_set_server(c, "127.0.0.1", srv ? tl_server_port(srv) : 1),
            MW_OK);
  mw_loghandler *lh = mw_loghandler_new(cancelling_log, NULL);
  CHECK_INT(mw_pop3_set_loghandler(c, lh), MW_OK);
  mw_loghandler_free(lh);
  CHECK_INT(mw_pop3_connect(c), MW_OK);
  char *out = NULL;
  size_t len = 0;
  CHECK_ERR(mw_pop3_retr(c, 1, &out, &len), mw_pop3_extended_error(c),
            errAborted, eexAborted);
  CHECK(out == NULL);
  CHECK(!mw_pop3_is_connected(c));
  mw_pop3_free(c);
  if (tl_server_wait(srv, 15000) != 0)
    tl_fail(__FILE__, __LINE__, "script failed: %s", tl_server_error(srv));
  tl_server_free(srv);
}

int main(void) {
  RUN(argument_errors_need_no_server);
  RUN(dovecot_plain_commands);
  RUN(dovecot_stls_commands);
  RUN(dovecot_pop3s_commands);
  RUN(dovecot_each_mechanism);
  RUN(dovecot_streaming_5mb);
  RUN(dovecot_dele_rset_keeps);
  RUN(dovecot_dele_disconnect_keeps);
  RUN(dovecot_dele_quit_deletes);
  RUN(dovecot_retr_missing_message);
  RUN(dovecot_wrong_password);
  RUN(dovecot_plaintext_refused_without_allow);
  RUN(unknown_host);
  RUN(closed_port);
  RUN(channel_tls_to_plain_port);
  RUN(plaintext_auth_sends_nothing_after_capa);
  RUN(stls_unavailable_scripted);
  RUN(stls_refused_scripted);
  RUN(stls_injection);
  RUN(stls_scripted_full);
  RUN(apop_scripted);
  RUN(server_stops_answering);
  RUN(server_closes_mid_listing);
  RUN(server_closes_mid_message);
  RUN(over_long_status_line);
  RUN(greeting_err);
  RUN(bad_arguments_send_nothing);
  RUN(malformed_reply_closes);
  RUN(stream_abort_closes);
  RUN(reentry_from_callback_refused);
  RUN(cancel_from_log_handler);
  free(big_msg);
  return tl_finish();
}
