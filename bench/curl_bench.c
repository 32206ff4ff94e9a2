/* curl_bench.c - the libcurl peer: one easy handle reused for every
 * message, as a careful libcurl user would write it.
 *   curl_bench smtp URL COUNT SIZE NRCPT [CAFILE [starttls]]
 *     (smtps://... for implicit TLS; "starttls" with smtp://... requires it)
 *   curl_bench pop3 URL COUNT [CAFILE]     (URL without the message number)
 *   curl_bench tls  URL COUNT CAFILE [resume|fresh] */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct src {
  const char *data;
  size_t len, pos;
};

static size_t read_cb(char *buf, size_t size, size_t n, void *ud) {
  struct src *s = ud;
  size_t want = size * n, left = s->len - s->pos;
  if (want > left)
    want = left;
  memcpy(buf, s->data + s->pos, want);
  s->pos += want;
  return want;
}

static size_t sink_cb(char *p, size_t size, size_t n, void *ud) {
  (void)p;
  *(unsigned long long *)ud += size * n;
  return size * n;
}

static char *make_message(size_t size) {
  char *m = malloc(size + 1);
  static const char head[] = "From: <bench@example.org>\r\nTo: "
                             "<sink@example.org>\r\nSubject: bench\r\n\r\n";
  size_t n = strlen(head);
  memcpy(m, head, n);
  while (n < size) {
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

static int check(CURLcode rc, const char *what) {
  if (rc != CURLE_OK) {
    fprintf(stderr, "curl_bench: %s: %s\n", what, curl_easy_strerror(rc));
    exit(1);
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 4)
    return 2;
  curl_global_init(CURL_GLOBAL_DEFAULT);
  CURL *h = curl_easy_init();
  long count = atol(argv[3]);
  if (!strcmp(argv[1], "smtp")) {
    size_t size = (size_t)atol(argv[4]);
    long nrcpt = atol(argv[5]);
    char *msg = make_message(size);
    struct curl_slist *rcpts = NULL;
    for (long i = 0; i < nrcpt; i++) {
      char a[48];
      snprintf(a, sizeof a, "<sink%ld@example.org>", i);
      rcpts = curl_slist_append(rcpts, a);
    }
    curl_easy_setopt(h, CURLOPT_URL, argv[2]);
    curl_easy_setopt(h, CURLOPT_MAIL_FROM, "<bench@example.org>");
    curl_easy_setopt(h, CURLOPT_MAIL_RCPT, rcpts);
    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, read_cb);
    if (argc > 6)
      curl_easy_setopt(h, CURLOPT_CAINFO, argv[6]);
    if (argc > 7 && !strcmp(argv[7], "starttls"))
      curl_easy_setopt(h, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
    for (long i = 0; i < count; i++) {
      struct src s = {msg, size, 0};
      curl_easy_setopt(h, CURLOPT_READDATA, &s);
      check(curl_easy_perform(h), "smtp");
    }
    curl_slist_free_all(rcpts);
    free(msg);
  } else if (!strcmp(argv[1], "pop3")) {
    unsigned long long got = 0;
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink_cb);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &got);
    if (argc > 4)
      curl_easy_setopt(h, CURLOPT_CAINFO, argv[4]);
    for (long i = 1; i <= count; i++) {
      char url[512];
      snprintf(url, sizeof url, "%s/%ld", argv[2], i);
      curl_easy_setopt(h, CURLOPT_URL, url);
      check(curl_easy_perform(h), "pop3");
    }
    fprintf(stderr, "curl_bench pop3: %llu bytes\n", got);
  } else if (!strcmp(argv[1], "tls")) {
    int resume = argc > 5 && !strcmp(argv[5], "resume");
    curl_easy_setopt(h, CURLOPT_CAINFO, argv[4]);
    curl_easy_setopt(h, CURLOPT_URL, argv[2]);
    curl_easy_setopt(h, CURLOPT_FORBID_REUSE, 1L); /* a new connection each */
    curl_easy_setopt(h, CURLOPT_SSL_SESSIONID_CACHE, resume ? 1L : 0L);
    curl_easy_setopt(h, CURLOPT_CONNECT_ONLY, 1L); /* TCP + TLS, greeting */
    for (long i = 0; i < count; i++)
      check(curl_easy_perform(h), "tls");
  }
  curl_easy_cleanup(h);
  curl_global_cleanup();
  return 0;
}
