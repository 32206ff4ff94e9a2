/* curl_multi.c - the libcurl peer of the concurrency scenario: SESSIONS
 * easy handles in one curl_multi, driven from one thread with
 * curl_multi_perform + curl_multi_poll, as libcurl's own examples do.
 * Each handle runs its COUNT transfers one after the other; between two,
 * it goes back into the multi and its connection is reused from the
 * multi's pool (CURLMOPT_MAXCONNECTS is raised to SESSIONS so that none
 * is closed early).
 *   curl_multi smtp URL SESSIONS COUNT SIZE [CAFILE [starttls]]
 *   curl_multi pop3 URL SESSIONS COUNT CAFILE   (URL without the number;
 *     session i retrieves messages 1..COUNT)
 *   curl_multi idle URL SESSIONS CAFILE   (CONNECT_ONLY: SESSIONS
 *     connected sessions; prints the RSS with them all open)
 * Exits 0 when every transfer succeeded; a one-line summary on stderr. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct job {
  CURL *h;
  long left; /* transfers still to start after the running one */
  long next; /* POP3: the next message number */
  const char *msg;
  size_t len, pos;
  char url[512];
};

static const char *base_url;
static unsigned long long got_bytes;

static size_t read_cb(char *buf, size_t size, size_t n, void *ud) {
  struct job *j = ud;
  size_t want = size * n, left = j->len - j->pos;
  if (want > left)
    want = left;
  memcpy(buf, j->msg + j->pos, want);
  j->pos += want;
  return want;
}

static size_t sink_cb(char *p, size_t size, size_t n, void *ud) {
  (void)p;
  (void)ud;
  got_bytes += size * n;
  return size * n;
}

/* The same message as curl_bench.c and mw_bench.c: 76-character lines,
 * one starting with a dot now and then. */
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

/* Ready job j for its next transfer (a new message, or the next number). */
static void arm(struct job *j, int pop3) {
  if (pop3) {
    snprintf(j->url, sizeof j->url, "%s/%ld", base_url, j->next++);
    curl_easy_setopt(j->h, CURLOPT_URL, j->url);
  }
  j->pos = 0;
}

static long rss_kb(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long kb = -1;
  while (f && fgets(line, sizeof line, f))
    if (!strncmp(line, "VmRSS:", 6))
      kb = atol(line + 6);
  if (f)
    fclose(f);
  return kb;
}

/* Run the multi until every job has done all its transfers. */
static int run(CURLM *m, int pop3, int idle) {
  int running = 1, failed = 0;
  while (running) {
    curl_multi_perform(m, &running);
    CURLMsg *msg;
    int q;
    while ((msg = curl_multi_info_read(m, &q))) {
      if (msg->msg != CURLMSG_DONE)
        continue;
      struct job *j;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&j);
      CURLcode rc = msg->data.result;
      if (!idle) /* CONNECT_ONLY: keep the connection for the count */
        curl_multi_remove_handle(m, j->h);
      if (rc != CURLE_OK) {
        fprintf(stderr, "curl_multi: %s: %s\n", j->url,
                curl_easy_strerror(rc));
        failed = 1;
      } else if (j->left > 0) {
        j->left--;
        arm(j, pop3);
        curl_multi_add_handle(m, j->h);
        running = 1;
      }
    }
    if (running)
      curl_multi_poll(m, NULL, 0, 1000, NULL);
  }
  return failed;
}

static void setup(struct job *j, const char *kind, int argc, char **argv,
                  struct curl_slist *rcpts) {
  CURL *h = j->h = curl_easy_init();
  curl_easy_setopt(h, CURLOPT_PRIVATE, j);
  snprintf(j->url, sizeof j->url, "%s", base_url);
  curl_easy_setopt(h, CURLOPT_URL, base_url);
  if (!strcmp(kind, "smtp")) {
    curl_easy_setopt(h, CURLOPT_MAIL_FROM, "<bench@example.org>");
    curl_easy_setopt(h, CURLOPT_MAIL_RCPT, rcpts);
    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, read_cb);
    curl_easy_setopt(h, CURLOPT_READDATA, j);
    if (argc > 6)
      curl_easy_setopt(h, CURLOPT_CAINFO, argv[6]);
    if (argc > 7 && !strcmp(argv[7], "starttls"))
      curl_easy_setopt(h, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
  } else {
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink_cb);
    curl_easy_setopt(h, CURLOPT_CAINFO, argv[!strcmp(kind, "idle") ? 4 : 5]);
    if (!strcmp(kind, "idle"))
      curl_easy_setopt(h, CURLOPT_CONNECT_ONLY, 1L);
  }
}

int main(int argc, char **argv) {
  if (argc < 5)
    return 2;
  const char *kind = argv[1];
  int pop3 = !strcmp(kind, "pop3"), idle = !strcmp(kind, "idle");
  if ((pop3 && argc < 6) || (!pop3 && !idle && argc < 6))
    return 2;
  base_url = argv[2];
  long sessions = atol(argv[3]), count = idle ? 1 : atol(argv[4]);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  long base_kb = rss_kb();
  CURLM *m = curl_multi_init();
  curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, sessions);
  struct curl_slist *rcpts = curl_slist_append(NULL, "<sink0@example.org>");
  size_t size = !pop3 && !idle ? (size_t)atol(argv[5]) : 0;
  char *msg = size ? make_message(size) : NULL;
  struct job *jobs = calloc((size_t)sessions, sizeof *jobs);
  for (long i = 0; i < sessions; i++) {
    struct job *j = &jobs[i];
    setup(j, kind, argc, argv, rcpts);
    j->msg = msg;
    j->len = size;
    j->left = count - 1;
    j->next = 1;
    arm(j, pop3);
    curl_multi_add_handle(m, j->h);
  }
  int failed = run(m, pop3, idle);
  if (idle)
    fprintf(stderr, "IDLE %ld %ld %ld\n", sessions, base_kb, rss_kb());
  for (long i = 0; i < sessions; i++) {
    curl_multi_remove_handle(m, jobs[i].h);
    curl_easy_cleanup(jobs[i].h);
  }
  curl_multi_cleanup(m);
  fprintf(stderr, "curl_multi %s: %ld sessions x %ld, %llu bytes in%s\n", kind,
          sessions, count, got_bytes, failed ? ", FAILED" : "");
  free(jobs);
  free(msg);
  curl_slist_free_all(rcpts);
  curl_global_cleanup();
  return failed;
}
