/* mw_bench.c - the mailwire C client of the benchmark.
 *   mw_bench smtp HOST PORT COUNT SIZE NRCPT [starttls|channel CAFILE]
 *   mw_bench pop3 HOST PORT USER PASS CAFILE [batch|loop|stream] [MAX]
 *   mw_bench tls  HOST PORT CAFILE COUNT [resume|fresh]
 * Exits 0 when every message went (or came) through; prints a one-line
 * summary on stderr. */
#include "mailwire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void die(const char *what, const mw_errorinfo *ei) {
  fprintf(stderr, "mw_bench: %s: %d %s\n", what, mw_errorinfo_number(ei),
          mw_errorinfo_text(ei));
  exit(1);
}

static char *make_message(size_t size) {
  char *m = malloc(size + 1);
  static const char head[] = "From: <bench@example.org>\r\nTo: "
                             "<sink@example.org>\r\nSubject: bench\r\n\r\n";
  size_t n = strlen(head);
  memcpy(m, head, n);
  while (n <
         size) { /* 76-character lines, one starting with a dot now and then */
    size_t line = size - n < 78 ? size - n : 78;
    for (size_t i = 0; i < line; i++)
      m[n + i] = (char)('a' + (n + i) % 26);
    if (line >= 2) {
      m[n + line - 2] = '\r';
      m[n + line - 1] = '\n';
    }
    if (n % 1000 < 78)
      m[n] = '.';
    n += line;
  }
  m[size] = 0;
  return m;
}

static mw_sslinfo *ssl_for(const char *mode, const char *ca) {
  if (!mode)
    return NULL;
  mw_sslinfo *ssl = mw_sslinfo_new();
  mw_sslinfo_set_mode(ssl,
                      strcmp(mode, "starttls") ? MODE_CHANNEL : MODE_STARTTLS);
  mw_sslinfo_set_option_str(ssl, SSLCAFile, ca);
  return ssl;
}

static int bench_smtp(int argc, char **argv) {
  const char *host = argv[2];
  unsigned port = (unsigned)atoi(argv[3]);
  size_t count = (size_t)atol(argv[4]), size = (size_t)atol(argv[5]);
  size_t nrcpt = (size_t)atol(argv[6]);
  mw_smtp *c = mw_smtp_new();
  mw_smtp_set_server(c, host, port);
  mw_smtp_set_helo_name(c, "bench.example.org");
  mw_smtp_set_allow_partial(c, 1); /* as smtplib's sendmail */
  mw_sslinfo *ssl = argc > 8 ? ssl_for(argv[7], argv[8]) : NULL;
  if (ssl)
    mw_smtp_set_handler(c, ssl);
  if (mw_smtp_connect(c) != MW_OK)
    die("connect", mw_smtp_extended_error(c));
  char *msg = make_message(size);
  const char **rcpts = calloc(nrcpt, sizeof *rcpts);
  char(*names)[40] = calloc(nrcpt, sizeof *names);
  for (size_t i = 0; i < nrcpt; i++) {
    snprintf(names[i], sizeof names[i], "sink%zu@example.org", i);
    rcpts[i] = names[i];
  }
#ifdef MW_BENCH_BATCH
  mw_smtp_message *batch = calloc(count, sizeof *batch);
  for (size_t i = 0; i < count; i++)
    batch[i] = (mw_smtp_message){"bench@example.org", rcpts, nrcpt, msg, size};
  if (mw_smtp_send_batch(c, batch, count) != MW_OK)
    die("send_batch", mw_smtp_extended_error(c));
  free(batch);
#else
  for (size_t i = 0; i < count; i++)
    if (mw_smtp_send(c, "bench@example.org", rcpts, nrcpt, msg, size) != MW_OK)
      die("send", mw_smtp_extended_error(c));
#endif
  mw_smtp_quit(c);
  mw_smtp_free(c);
  mw_sslinfo_free(ssl);
  free(msg);
  free(rcpts);
  free(names);
  fprintf(stderr, "mw_bench smtp: %zu messages of %zu bytes\n", count, size);
  return 0;
}

static int discard(void *ud, size_t i, unsigned long msg, const char *data,
                   size_t len, int end) {
  (void)i;
  (void)msg;
  (void)data;
  (void)end;
  *(unsigned long long *)ud += len;
  return 0;
}

static int discard_one(void *ud, const char *data, size_t len) {
  (void)data;
  *(unsigned long long *)ud += len;
  return 0;
}

static int bench_pop3(int argc, char **argv) {
  const char *how = argc > 7 ? argv[7] : "batch";
  mw_pop3 *c = mw_pop3_new();
  mw_pop3_set_server(c, argv[2], (unsigned)atoi(argv[3]));
  mw_pop3_set_credentials(c, argv[4], argv[5]);
  mw_sslinfo *ssl = ssl_for("channel", argv[6]);
  mw_pop3_set_handler(c, ssl);
  if (mw_pop3_connect(c) != MW_OK)
    die("connect", mw_pop3_extended_error(c));
  unsigned long count = 0;
  uint64_t octets = 0;
  if (mw_pop3_stat(c, &count, &octets) != MW_OK)
    die("stat", mw_pop3_extended_error(c));
  if (argc > 8 && strtoul(argv[8], NULL, 10) < count) {
    octets = octets / count * strtoul(argv[8], NULL, 10);
    count = strtoul(argv[8], NULL, 10);
  }
  unsigned long long got = 0;
  if (!strcmp(how, "batch")) {
    unsigned long *nums = calloc(count, sizeof *nums);
    for (unsigned long i = 0; i < count; i++)
      nums[i] = i + 1;
    if (mw_pop3_retr_batch(c, nums, count, discard, &got) != MW_OK)
      die("retr_batch", mw_pop3_extended_error(c));
    free(nums);
  } else {
    for (unsigned long i = 1; i <= count; i++) {
      if (!strcmp(how, "stream")) {
        if (mw_pop3_retr_stream(c, i, discard_one, &got) != MW_OK)
          die("retr_stream", mw_pop3_extended_error(c));
      } else {
        char *m = NULL;
        size_t len = 0;
        if (mw_pop3_retr(c, i, &m, &len) != MW_OK)
          die("retr", mw_pop3_extended_error(c));
        got += len;
        mw_free(m);
      }
    }
  }
  mw_pop3_quit(c);
  mw_pop3_free(c);
  mw_sslinfo_free(ssl);
  fprintf(stderr, "mw_bench pop3: %lu messages, %llu bytes\n", count, got);
  return got >= octets / 2 ? 0 : 1;
}

static int bench_tls(int argc, char **argv) {
  (void)argc;
  int count = atoi(argv[5]);
  int resume = argc > 6 && !strcmp(argv[6], "resume");
  mw_sslinfo *ssl = ssl_for("channel", argv[4]);
  int resumed = 0;
  for (int i = 0; i < count; i++) {
    mw_sslinfo *s = resume ? ssl : ssl_for("channel", argv[4]);
    mw_pop3 *c = mw_pop3_new();
    mw_pop3_set_server(c, argv[2], (unsigned)atoi(argv[3]));
    mw_pop3_set_handler(c, s);
    if (mw_pop3_connect(c) != MW_OK)
      die("connect", mw_pop3_extended_error(c));
    long r = 0;
    mw_sslinfo_get_option_int(s, SSLSessionResumed, &r);
    resumed += r != 0;
    mw_pop3_quit(c);
    mw_pop3_free(c);
    if (!resume)
      mw_sslinfo_free(s);
  }
  mw_sslinfo_free(ssl);
  fprintf(stderr, "mw_bench tls: %d connections, %d resumed\n", count,
          resumed);
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 7 && !strcmp(argv[1], "smtp"))
    return bench_smtp(argc, argv);
  if (argc >= 7 && !strcmp(argv[1], "pop3"))
    return bench_pop3(argc, argv);
  if (argc >= 6 && !strcmp(argv[1], "tls"))
    return bench_tls(argc, argv);
  fprintf(stderr, "usage: see the top of mw_bench.c\n");
  return 2;
}
