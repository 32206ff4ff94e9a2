/* itest_pop3_batch.c - the POP3 batch calls (mw_pop3_retr_batch,
 * mw_pop3_top_batch, mw_pop3_dele_batch) against the real Dovecot of the
 * servers fixture (it offers PIPELINING), with messages put straight into
 * the maildir and compared byte for byte; and against the scripted server
 * for what Dovecot never does (a connection lost mid-batch, a server that
 * stops answering). Uses USER2's mailbox, emptied first. */
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

/* ---- the maildir (as itest_pop3.c fills it) ---- */

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

/* tmp/, then rename into new/, as an MDA does. */
static void put_message(const char *data, size_t len, char *name, size_t cap) {
  static int counter;
  char tmp[2048], dst[2048], dir[1024];
  snprintf(name, cap, "%ld.M%dP%d.mwbatch", (long)time(NULL), ++counter,
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

static void pause_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* ---- the messages: k = 0..NMSG-1, each with its index in a header,
 * sizes from 200 bytes to ~60 KB, some lines starting with a dot ---- */

#define NMSG 50

struct box {
  char *data[NMSG];
  size_t len[NMSG];
  char name[NMSG][256];
  size_t header_len[NMSG]; /* headers and the blank line */
};

static void make_message(struct box *b, int k) {
  size_t cap = 70000, o = 0;
  char *m = malloc(cap);
  o += (size_t)snprintf(m + o, cap - o,
                        "From: <a@example.org>\r\nX-Index: %d\r\n"
                        "Subject: batch message %d\r\n\r\n",
                        k, k);
  b->header_len[k] = o;
  size_t want = 200 + (size_t)k * 1200;
  for (int i = 0; o < want; i++)
    o += (size_t)snprintf(m + o, cap - o, "%sline %d of message %d .\r\n",
                          i % 7 == 0 ? "." : "", i, k);
  b->data[k] = m;
  b->len[k] = o;
}

static void fill_box(struct box *b) {
  empty_mailbox();
  for (int k = 0; k < NMSG; k++) {
    make_message(b, k);
    put_message(b->data[k], b->len[k], b->name[k], sizeof b->name[k]);
  }
}

static void free_box(struct box *b) {
  for (int k = 0; k < NMSG; k++)
    free(b->data[k]);
}

/* The index k in a retrieved message ("X-Index: k"), or -1. */
static int index_of(const char *data, size_t len) {
  for (size_t i = 0; i + 9 < len && i < 200; i++)
    if (memcmp(data + i, "X-Index: ", 9) == 0)
      return atoi(data + i + 9);
  return -1;
}

/* ---- what the callback got: one buffer per message ---- */

struct got {
  char *data[NMSG + 2];
  size_t len[NMSG + 2], cap[NMSG + 2];
  int ends[NMSG + 2];
  size_t calls, max_piece;
  int bad; /* a call out of order or out of range */
};

static int collect(void *ud, size_t i, unsigned long msg, const char *data,
                   size_t len, int end) {
  struct got *g = ud;
  g->calls++;
  if (i >= NMSG + 2 || msg == 0 || g->ends[i]) {
    g->bad = 1;
    return 0;
  }
  if (end) {
    g->ends[i]++;
    return 0;
  }
  if (len > g->max_piece)
    g->max_piece = len;
  if (g->len[i] + len > g->cap[i]) {
    g->cap[i] = (g->len[i] + len) * 2;
    g->data[i] = realloc(g->data[i], g->cap[i]);
  }
  memcpy(g->data[i] + g->len[i], data, len);
  g->len[i] += len;
  return 0;
}

static void free_got(struct got *g) {
  for (int i = 0; i < NMSG + 2; i++)
    free(g->data[i]);
  memset(g, 0, sizeof *g);
}

/* ---- clients ---- */

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
  return c;
}

static mw_pop3 *login(int pop3s) {
  mw_pop3 *c = pop3s ? client(tl_env_port("POP3S_PORT"), MODE_CHANNEL, 15000)
                     : client(tl_env_port("POP3_PORT"), -1, 15000);
  CHECK_INT(mw_pop3_set_allow_plaintext_auth(c, 1), MW_OK);
  CHECK_INT(mw_pop3_set_credentials(c, tl_env("USER2"), tl_env("PASS2")),
            MW_OK);
  int rc = mw_pop3_connect(c);
  CHECK_ERR(rc, mw_pop3_extended_error(c), MW_OK, eexNone);
  if (rc != MW_OK) {
    mw_pop3_free(c);
    return NULL;
  }
  return c;
}

/* Retrieve all NMSG messages with one batch and compare each with what
 * was delivered; the number of each message (by its X-Index) goes to
 * number[k]. */
static void retr_all(mw_pop3 *c, struct box *b, unsigned long *number) {
  unsigned long msgs[NMSG];
  for (int i = 0; i < NMSG; i++)
    msgs[i] = (unsigned long)i + 1;
  struct got g;
  memset(&g, 0, sizeof g);
  CHECK_ERR(mw_pop3_retr_batch(c, msgs, NMSG, collect, &g),
            mw_pop3_extended_error(c), MW_OK, eexNone);
  CHECK_INT(mw_pop3_batch_count(c), NMSG);
  CHECK(!g.bad);
  int seen[NMSG] = {0};
  for (int i = 0; i < NMSG; i++) {
    CHECK_INT(mw_pop3_batch_status(c, (size_t)i), MW_OK);
    CHECK_INT(g.ends[i], 1);
    int k = g.data[i] ? index_of(g.data[i], g.len[i]) : -1;
    CHECK(k >= 0 && k < NMSG);
    if (k < 0 || k >= NMSG)
      continue;
    seen[k]++;
    number[k] = msgs[i];
    CHECK_INT(g.len[i], b->len[k]);
    CHECK(g.len[i] == b->len[k] &&
          memcmp(g.data[i], b->data[k], b->len[k]) == 0);
    /* Dovecot's "+OK <size> octets" is kept as the entry's text. */
    char want[64];
    snprintf(want, sizeof want, "%zu octets", b->len[k]);
    CHECK_STR(mw_pop3_batch_text(c, (size_t)i), want);
  }
  for (int k = 0; k < NMSG; k++)
    CHECK_INT(seen[k], 1);
  free_got(&g);
}

/* ---- real Dovecot ---- */

static void dovecot_retr_batch(int pop3s, int pipelining) {
  struct box b;
  fill_box(&b);
  mw_pop3 *c = login(pop3s);
  if (!c) {
    free_box(&b);
    return;
  }
  CHECK(mw_pop3_has_capability(c, "PIPELINING"));
  CHECK_INT(mw_pop3_set_pipelining(c, pipelining), MW_OK);
  unsigned long number[NMSG];
  retr_all(c, &b, number);
  /* The session is in step afterwards. */
  unsigned long count = 0;
  CHECK_INT(mw_pop3_stat(c, &count, NULL), MW_OK);
  CHECK_INT(count, NMSG);
  CHECK_INT(mw_pop3_quit(c), MW_OK);
  mw_pop3_free(c);
  free_box(&b);
}

static void dovecot_retr_batch_pop3s(void) {
  dovecot_retr_batch(1, 1);
}

static void dovecot_retr_batch_plain(void) {
  dovecot_retr_batch(0, 1);
}

static void dovecot_retr_batch_not_pipelined(void) {
  dovecot_retr_batch(1, 0);
}

/* TOP n 0: the headers and the blank line, for every message. */
static void dovecot_top_batch(void) {
  struct box b;
  fill_box(&b);
  mw_pop3 *c = login(1);
  if (!c) {
    free_box(&b);
    return;
  }
  unsigned long msgs[NMSG];
  for (int i = 0; i < NMSG; i++)
    msgs[i] = (unsigned long)(NMSG - i); /* any order */
  struct got g;
  memset(&g, 0, sizeof g);
  CHECK_ERR(mw_pop3_top_batch(c, msgs, NMSG, 0, collect, &g),
            mw_pop3_extended_error(c), MW_OK, eexNone);
  CHECK(!g.bad);
  int seen[NMSG] = {0};
  for (int i = 0; i < NMSG; i++) {
    CHECK_INT(g.ends[i], 1);
    int k = g.data[i] ? index_of(g.data[i], g.len[i]) : -1;
    CHECK(k >= 0 && k < NMSG);
    if (k < 0 || k >= NMSG)
      continue;
    seen[k]++;
    CHECK_INT(g.len[i], b.header_len[k]);
    CHECK(g.len[i] == b.header_len[k] &&
          memcmp(g.data[i], b.data[k], g.len[i]) == 0);
  }
  for (int k = 0; k < NMSG; k++)
    CHECK_INT(seen[k], 1);
  CHECK_INT(mw_pop3_quit(c), MW_OK);
  free_got(&g);
  mw_pop3_free(c);
  free_box(&b);
}

/* LIST n / UIDL n batches give what LIST and UIDL give for all. */
static void dovecot_list_uidl_batches(void) {
  struct box b;
  fill_box(&b);
  mw_pop3 *c = login(1);
  if (!c) {
    free_box(&b);
    return;
  }
  unsigned long msgs[NMSG + 1];
  for (int i = 0; i < NMSG; i++)
    msgs[i] = (unsigned long)(NMSG - i);
  msgs[NMSG] = NMSG + 1; /* past the end: -ERR */
  CHECK_ERR(mw_pop3_list_batch(c, msgs, NMSG + 1), mw_pop3_extended_error(c),
            errServer, eexPopServer);
  uint64_t size[NMSG + 1];
  for (int i = 0; i < NMSG; i++) {
    CHECK_INT(mw_pop3_batch_status(c, (size_t)i), MW_OK);
    size[msgs[i]] = mw_pop3_batch_size(c, (size_t)i);
  }
  CHECK_INT(mw_pop3_batch_status(c, NMSG), errServer);
  CHECK_INT(mw_pop3_batch_size(c, NMSG), 0);
  CHECK_INT(mw_pop3_list(c), MW_OK);
  CHECK_INT(mw_pop3_entry_count(c), NMSG);
  for (size_t i = 0; i < mw_pop3_entry_count(c); i++)
    CHECK_INT(size[mw_pop3_entry_number(c, i)], mw_pop3_entry_size(c, i));
  CHECK_ERR(mw_pop3_uidl_batch(c, msgs, NMSG), mw_pop3_extended_error(c),
            MW_OK, eexNone);
  char uid[NMSG + 1][80];
  for (int i = 0; i < NMSG; i++)
    snprintf(uid[msgs[i]], sizeof uid[0], "%s",
             mw_pop3_batch_uid(c, (size_t)i));
  CHECK_INT(mw_pop3_uidl(c), MW_OK);
  CHECK_INT(mw_pop3_entry_count(c), NMSG);
  for (size_t i = 0; i < mw_pop3_entry_count(c); i++)
    CHECK_STR(uid[mw_pop3_entry_number(c, i)], mw_pop3_entry_uid(c, i));
  CHECK_INT(mw_pop3_quit(c), MW_OK);
  mw_pop3_free(c);
  free_box(&b);
}

/* A number past the end in the middle: -ERR for it alone, the others are
 * retrieved, the session goes on. */
static void dovecot_batch_with_missing_message(void) {
  struct box b;
  fill_box(&b);
  mw_pop3 *c = login(1);
  if (!c) {
    free_box(&b);
    return;
  }
  unsigned long msgs[3] = {1, NMSG + 7, 2};
  struct got g;
  memset(&g, 0, sizeof g);
  CHECK_ERR(mw_pop3_retr_batch(c, msgs, 3, collect, &g),
            mw_pop3_extended_error(c), errServer, eexPopServer);
  CHECK_INT(mw_pop3_batch_count(c), 3);
  CHECK_INT(mw_pop3_batch_status(c, 0), MW_OK);
  CHECK_INT(mw_pop3_batch_status(c, 1), errServer);
  CHECK_INT(mw_pop3_batch_status(c, 2), MW_OK);
  CHECK(strlen(mw_pop3_batch_text(c, 1)) > 0);
  CHECK_STR(mw_errorinfo_server_text(mw_pop3_extended_error(c)),
            mw_pop3_batch_text(c, 1));
  CHECK_INT(mw_pop3_batch_status(c, 3), errInvalidArgument);
  CHECK_STR(mw_pop3_batch_text(c, 3), "");
  CHECK_INT(g.ends[0], 1);
  CHECK_INT(g.ends[1], 0);
  CHECK_INT(g.len[1], 0); /* a refused message gets no callback */
  CHECK_INT(g.ends[2], 1);
  CHECK(mw_pop3_is_connected(c));
  CHECK_INT(mw_pop3_noop(c), MW_OK);
  CHECK_INT(mw_pop3_quit(c), MW_OK);
  free_got(&g);
  mw_pop3_free(c);
  free_box(&b);
}

/* Two 3 MB messages in one batch: they arrive in pieces of at most one
 * read (64 KB and a partial line), never whole. */
static void dovecot_batch_streams_big_messages(void) {
  empty_mailbox();
  size_t big = 3 * 1024 * 1024;
  char *m[2];
  size_t len[2];
  char name[2][256];
  for (int k = 0; k < 2; k++) {
    m[k] = malloc(big + 256);
    size_t o = (size_t)sprintf(m[k], "X-Index: %d\r\nSubject: big\r\n\r\n", k);
    for (unsigned i = 0; o < big; i++)
      o += (size_t)sprintf(m[k] + o, "%sline %07u of a big message %d\r\n",
                           i % 9 == 0 ? "." : "", i, k);
    len[k] = o;
    put_message(m[k], len[k], name[k], sizeof name[k]);
  }
  mw_pop3 *c = login(1);
  if (c) {
    unsigned long msgs[2] = {1, 2};
    struct got g;
    memset(&g, 0, sizeof g);
    CHECK_ERR(mw_pop3_retr_batch(c, msgs, 2, collect, &g),
              mw_pop3_extended_error(c), MW_OK, eexNone);
    for (int i = 0; i < 2; i++) {
      int k = g.data[i] ? index_of(g.data[i], g.len[i]) : -1;
      CHECK(k == 0 || k == 1);
      if (k != 0 && k != 1)
        continue;
      CHECK_INT(g.len[i], len[k]);
      CHECK(g.len[i] == len[k] && memcmp(g.data[i], m[k], len[k]) == 0);
      CHECK_INT(g.ends[i], 1);
    }
    CHECK(g.max_piece <= 65536 + 1024);
    CHECK(g.calls > 2 * big / 65536);
    CHECK_INT(mw_pop3_quit(c), MW_OK);
    free_got(&g);
    mw_pop3_free(c);
  }
  free(m[0]);
  free(m[1]);
}

static int count_messages(void) {
  mw_pop3 *c = login(1);
  if (!c)
    return -1;
  unsigned long count = 0;
  CHECK_INT(mw_pop3_stat(c, &count, NULL), MW_OK);
  CHECK_INT(mw_pop3_quit(c), MW_OK);
  mw_pop3_free(c);
  return (int)count;
}

/* DELE for the even-indexed messages: without QUIT nothing goes; after
 * QUIT exactly those are gone. */
static void dovecot_dele_batch(void) {
  struct box b;
  fill_box(&b);
  mw_pop3 *c = login(1);
  if (!c) {
    free_box(&b);
    return;
  }
  unsigned long number[NMSG], dele[NMSG / 2];
  retr_all(c, &b, number);
  for (int k = 0; k < NMSG; k += 2)
    dele[k / 2] = number[k];
  CHECK_ERR(mw_pop3_dele_batch(c, dele, NMSG / 2), mw_pop3_extended_error(c),
            MW_OK, eexNone);
  for (int i = 0; i < NMSG / 2; i++)
    CHECK_INT(mw_pop3_batch_status(c, (size_t)i), MW_OK);
  mw_pop3_disconnect(c); /* no QUIT: nothing is deleted */
  pause_ms(200);
  CHECK_INT(count_messages(), NMSG);
  CHECK_INT(mw_pop3_connect(c), MW_OK);
  CHECK_ERR(mw_pop3_dele_batch(c, dele, NMSG / 2), mw_pop3_extended_error(c),
            MW_OK, eexNone);
  /* Marked twice is -ERR for each, and nothing else changes. */
  CHECK_ERR(mw_pop3_dele_batch(c, dele, 2), mw_pop3_extended_error(c),
            errServer, eexPopServer);
  CHECK_INT(mw_pop3_batch_status(c, 0), errServer);
  CHECK_INT(mw_pop3_batch_status(c, 1), errServer);
  CHECK_INT(mw_pop3_quit(c), MW_OK);
  mw_pop3_free(c);
  CHECK_INT(count_messages(), NMSG / 2);
  for (int k = 0; k < NMSG; k++)
    CHECK_INT(message_exists(b.name[k]), k % 2);
  free_box(&b);
}

/* ---- arguments, no server ---- */

static void arguments_without_server(void) {
  unsigned long msgs[2] = {1, 2};
  struct got g;
  memset(&g, 0, sizeof g);
  CHECK_INT(mw_pop3_retr_batch(NULL, msgs, 2, collect, &g),
            errInvalidArgument);
  CHECK_INT(mw_pop3_set_pipelining(NULL, 1), errInvalidArgument);
  CHECK_INT(mw_pop3_batch_count(NULL), 0);
  CHECK_INT(mw_pop3_batch_status(NULL, 0), errInvalidArgument);
  CHECK_STR(mw_pop3_batch_text(NULL, 0), "");
  mw_pop3 *c = mw_pop3_new();
  const mw_errorinfo *ei = mw_pop3_extended_error(c);
  CHECK_ERR(mw_pop3_retr_batch(c, msgs, 2, collect, &g), ei, errNotConnected,
            eexNotConnected);
  CHECK_ERR(mw_pop3_top_batch(c, msgs, 2, 1, collect, &g), ei, errNotConnected,
            eexNotConnected);
  CHECK_ERR(mw_pop3_dele_batch(c, msgs, 2), ei, errNotConnected,
            eexNotConnected);
  CHECK_INT(mw_pop3_batch_count(c), 0);
  CHECK_INT(mw_pop3_set_pipelining(c, 0), MW_OK);
  CHECK_INT(g.calls, 0);
  mw_pop3_free(c);
}

/* ---- the scripted server ---- */

struct scripted {
  tl_server *srv;
  mw_pop3 *c;
};

#define GREET_CAPA_PIPE                                                       \
  "S: +OK scripted ready\nC: CAPA\nS: +OK\nS: USER\nS: PIPELINING\nS: .\n"

static void scripted_start(struct scripted *t, const char *script,
                           int timeout_ms) {
  t->srv = tl_server_start(script);
  CHECK(t->srv != NULL);
  t->c = client(t->srv ? tl_server_port(t->srv) : 1, -1, timeout_ms);
  CHECK_INT(mw_pop3_connect(t->c), MW_OK);
}

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

/* The connection drops in the middle of the second message: the first is
 * done, the second (started) and the third are not reported done. */
static void connection_lost_mid_retr_batch(void) {
  struct scripted t;
  scripted_start(&t,
                 GREET_CAPA_PIPE "C: RETR 1\nC: RETR 2\nC: RETR 3\n"
                                 "S: +OK\nS: one\nS: .\n"
                                 "S: +OK\nS: half of two\nCLOSE\n",
                 5000);
  unsigned long msgs[3] = {1, 2, 3};
  struct got g;
  memset(&g, 0, sizeof g);
  CHECK_ERR(mw_pop3_retr_batch(t.c, msgs, 3, collect, &g),
            mw_pop3_extended_error(t.c), errNetwork, eexServerClosed);
  CHECK(!mw_pop3_is_connected(t.c));
  CHECK_INT(mw_pop3_batch_count(t.c), 3);
  CHECK_INT(mw_pop3_batch_status(t.c, 0), MW_OK);
  CHECK_INT(mw_pop3_batch_status(t.c, 1), errNotConnected);
  CHECK_INT(mw_pop3_batch_status(t.c, 2), errNotConnected);
  CHECK_STR(mw_pop3_batch_text(t.c, 1), "not answered");
  CHECK_STR(mw_pop3_batch_text(t.c, 2), "not answered");
  CHECK_INT(g.ends[0], 1);
  CHECK_INT(g.ends[1], 0); /* never reported complete */
  CHECK_INT(g.ends[2], 0);
  CHECK(g.len[0] == 5 && memcmp(g.data[0], "one\r\n", 5) == 0);
  CHECK_INT(g.len[2], 0);
  size_t len;
  const char *rx = scripted_end(&t, &len);
  expect_received(rx, len, "CAPA\r\nRETR 1\r\nRETR 2\r\nRETR 3\r\n");
  free_got(&g);
  tl_server_free(t.srv);
}

/* DELE confirmed for one message, then the connection drops: the second
 * is not reported marked, and no QUIT completed, so nothing is deleted;
 * QUIT afterwards is refused locally (nothing sent). */
static void connection_lost_mid_dele_batch(void) {
  struct scripted t;
  scripted_start(&t,
                 GREET_CAPA_PIPE "C: DELE 4\nC: DELE 5\nS: +OK marked\n"
                                 "CLOSE\n",
                 5000);
  unsigned long msgs[2] = {4, 5};
  CHECK_ERR(mw_pop3_dele_batch(t.c, msgs, 2), mw_pop3_extended_error(t.c),
            errNetwork, eexServerClosed);
  CHECK_INT(mw_pop3_batch_status(t.c, 0), MW_OK);
  CHECK_STR(mw_pop3_batch_text(t.c, 0), "marked");
  CHECK_INT(mw_pop3_batch_status(t.c, 1), errNotConnected);
  CHECK_ERR(mw_pop3_quit(t.c), mw_pop3_extended_error(t.c), errNotConnected,
            eexNotConnected);
  size_t len;
  const char *rx = scripted_end(&t, &len);
  expect_received(rx, len, "CAPA\r\nDELE 4\r\nDELE 5\r\n");
  tl_server_free(t.srv);
}

/* All DELEs confirmed, but the server drops the connection instead of
 * answering QUIT: the QUIT did not complete, and the call says so. */
static void quit_not_completed_after_dele_batch(void) {
  struct scripted t;
  scripted_start(&t,
                 GREET_CAPA_PIPE "C: DELE 1\nC: DELE 2\nS: +OK\nS: +OK\n"
                                 "C: QUIT\nCLOSE\n",
                 5000);
  unsigned long msgs[2] = {1, 2};
  CHECK_ERR(mw_pop3_dele_batch(t.c, msgs, 2), mw_pop3_extended_error(t.c),
            MW_OK, eexNone);
  CHECK_ERR(mw_pop3_quit(t.c), mw_pop3_extended_error(t.c), errNetwork,
            eexServerClosed);
  CHECK(!mw_pop3_is_connected(t.c));
  size_t len;
  const char *rx = scripted_end(&t, &len);
  expect_received(rx, len, "CAPA\r\nDELE 1\r\nDELE 2\r\nQUIT\r\n");
  tl_server_free(t.srv);
}

static int aborting(void *ud, size_t i, unsigned long msg, const char *data,
                    size_t len, int end) {
  (void)msg;
  (void)data;
  (void)len;
  (void)end;
  int *calls = ud;
  (*calls)++;
  return i == 1 ? -1 : 0;
}

/* The callback aborts on the second message: errAborted, the connection
 * is closed, nothing more is sent. */
static void callback_aborts_batch(void) {
  struct scripted t;
  scripted_start(&t,
                 GREET_CAPA_PIPE "C: RETR 1\nC: RETR 2\nC: RETR 3\n"
                                 "S: +OK\nS: one\nS: .\nS: +OK\nS: two\n"
                                 "EXPECT_CLOSE\n",
                 5000);
  unsigned long msgs[3] = {1, 2, 3};
  int calls = 0;
  CHECK_ERR(mw_pop3_retr_batch(t.c, msgs, 3, aborting, &calls),
            mw_pop3_extended_error(t.c), errAborted, eexAborted);
  CHECK(!mw_pop3_is_connected(t.c));
  CHECK_INT(calls, 3); /* piece and end of 1, first piece of 2 */
  CHECK_INT(mw_pop3_batch_status(t.c, 0), MW_OK);
  CHECK_INT(mw_pop3_batch_status(t.c, 1), errAborted);
  CHECK_INT(mw_pop3_batch_status(t.c, 2), errNotConnected);
  size_t len;
  const char *rx = scripted_end(&t, &len);
  expect_received(rx, len, "CAPA\r\nRETR 1\r\nRETR 2\r\nRETR 3\r\n");
  tl_server_free(t.srv);
}

/* The server answers the first TOP and then goes quiet: errTimeout, the
 * connection is closed, the rest are not answered. */
static void server_stops_answering_mid_batch(void) {
  struct scripted t;
  scripted_start(&t,
                 GREET_CAPA_PIPE "C: TOP 1 0\nC: TOP 2 0\n"
                                 "S: +OK\nS: A: b\nS: \nS: .\nSLEEP 3000\n",
                 700);
  unsigned long msgs[2] = {1, 2};
  struct got g;
  memset(&g, 0, sizeof g);
  CHECK_ERR(mw_pop3_top_batch(t.c, msgs, 2, 0, collect, &g),
            mw_pop3_extended_error(t.c), errTimeout, eexTimeout);
  CHECK(!mw_pop3_is_connected(t.c));
  CHECK_INT(mw_pop3_batch_status(t.c, 0), MW_OK);
  CHECK_INT(mw_pop3_batch_status(t.c, 1), errNotConnected);
  CHECK_INT(g.ends[0], 1);
  CHECK(g.len[0] == 8 && memcmp(g.data[0], "A: b\r\n\r\n", 8) == 0);
  CHECK_INT(g.ends[1], 0);
  size_t len;
  const char *rx = scripted_end(&t, &len);
  expect_received(rx, len, "CAPA\r\nTOP 1 0\r\nTOP 2 0\r\n");
  free_got(&g);
  tl_server_free(t.srv);
}

/* Without PIPELINING in CAPA, the second command goes out only after the
 * first answer: the script checks that nothing follows RETR 1 until it
 * was answered. */
static void no_pipelining_scripted(void) {
  struct scripted t;
  scripted_start(&t,
                 "S: +OK ready\nC: CAPA\nS: +OK\nS: USER\nS: .\n"
                 "C: RETR 1\nQUIET 300\n"
                 "S: +OK\nS: one\nS: .\nC: RETR 2\nS: +OK\nS: two\nS: .\n"
                 "C: QUIT\nS: +OK bye\n",
                 5000);
  unsigned long msgs[2] = {1, 2};
  struct got g;
  memset(&g, 0, sizeof g);
  CHECK_ERR(mw_pop3_retr_batch(t.c, msgs, 2, collect, &g),
            mw_pop3_extended_error(t.c), MW_OK, eexNone);
  CHECK_INT(g.ends[0], 1);
  CHECK_INT(g.ends[1], 1);
  CHECK_INT(mw_pop3_quit(t.c), MW_OK);
  size_t len;
  const char *rx = scripted_end(&t, &len);
  expect_received(rx, len, "CAPA\r\nRETR 1\r\nRETR 2\r\nQUIT\r\n");
  free_got(&g);
  tl_server_free(t.srv);
}

int main(void) {
  RUN(arguments_without_server);
  RUN(dovecot_retr_batch_pop3s);
  RUN(dovecot_retr_batch_plain);
  RUN(dovecot_retr_batch_not_pipelined);
  RUN(dovecot_top_batch);
  RUN(dovecot_batch_with_missing_message);
  RUN(dovecot_list_uidl_batches);
  RUN(dovecot_dele_batch);
  RUN(dovecot_batch_streams_big_messages);
  RUN(connection_lost_mid_retr_batch);
  RUN(connection_lost_mid_dele_batch);
  RUN(quit_not_completed_after_dele_batch);
  RUN(callback_aborts_batch);
  RUN(server_stops_answering_mid_batch);
  RUN(no_pipelining_scripted);
  return tl_finish();
}
