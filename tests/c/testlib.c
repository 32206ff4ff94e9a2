/* testlib.c - checks, the real-server environment, and the scripted
 * server (see testlib.h). */
#define _DEFAULT_SOURCE
#include "testlib.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int tl_checks_failed;
static int tests_run, tests_failed;

void tl_fail(const char *file, int line, const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "%s:%d: FAILED: ", file, line);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  tl_checks_failed++;
}

void tl_check_err(const char *file, int line, int rc, const mw_errorinfo *ei,
                  int code, int number) {
  int got_number = mw_errorinfo_number(ei);
  if (rc == code && got_number == number && mw_errorinfo_code(ei) == code)
    return;
  tl_fail(file, line,
          "returned %s (%d), ErrorInfo code %s, number %s (%d): \"%s\"; "
          "expected %s, %s (%d)",
          mw_err_name(rc), rc, mw_err_name(mw_errorinfo_code(ei)),
          mw_eex_name(got_number), got_number, mw_errorinfo_text(ei),
          mw_err_name(code), mw_eex_name(number), number);
}

int tl_contains(const char *hay, size_t len, const char *needle) {
  size_t n = strlen(needle);
  if (!hay || n > len)
    return 0;
  for (size_t i = 0; i + n <= len; i++)
    if (memcmp(hay + i, needle, n) == 0)
      return 1;
  return 0;
}

void tl_run(const char *name, void (*fn)(void)) {
  int before = tl_checks_failed;
  printf("[ RUN  ] %s\n", name);
  fflush(stdout);
  fn();
  tests_run++;
  if (tl_checks_failed != before) {
    tests_failed++;
    printf("[ FAIL ] %s\n", name);
  } else {
    printf("[  OK  ] %s\n", name);
  }
  fflush(stdout);
}

int tl_finish(void) {
  printf("%d passed, %d failed\n", tests_run - tests_failed, tests_failed);
  return tests_failed == 0 && tests_run > 0 ? 0 : 1;
}

/* ---- environment ---- */

const char *tl_env(const char *key) {
  static char value[64][512];
  static int used;
  const char *file = getenv("MW_TEST_ENV");
  FILE *f = file ? fopen(file, "r") : NULL;
  if (!f) {
    fprintf(stderr,
            "testlib: cannot read the server environment file '%s' (set "
            "MW_TEST_ENV; tests/servers/start.sh writes it)\n",
            file ? file : "(MW_TEST_ENV unset)");
    exit(2);
  }
  char line[1024];
  size_t klen = strlen(key);
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, key, klen) == 0 && line[klen] == '=') {
      fclose(f);
      line[strcspn(line, "\r\n")] = '\0';
      char *slot = value[used++ % 64];
      snprintf(slot, 512, "%s", line + klen + 1);
      return slot;
    }
  }
  fclose(f);
  fprintf(stderr, "testlib: key %s missing from %s\n", key, file);
  exit(2);
}

unsigned tl_env_port(const char *key) {
  return (unsigned)strtoul(tl_env(key), NULL, 10);
}

static char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  size_t cap = 65536, n = 0;
  char *buf = malloc(cap + 1);
  size_t r;
  while (buf && (r = fread(buf + n, 1, cap - n, f)) > 0) {
    n += r;
    if (n == cap) {
      char *p = realloc(buf, cap * 2 + 1);
      if (!p) {
        free(buf);
        buf = NULL;
        break;
      }
      buf = p;
      cap *= 2;
    }
  }
  fclose(f);
  if (buf) {
    buf[n] = '\0';
    *len = n;
  }
  return buf;
}

static char *find_in_dir(const char *dir, const char *needle, size_t *len) {
  DIR *d = opendir(dir);
  if (!d)
    return NULL;
  struct dirent *ent;
  char *found = NULL;
  while (!found && (ent = readdir(d))) {
    if (ent->d_name[0] == '.')
      continue;
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, ent->d_name);
    size_t n = 0;
    char *content = read_file(path, &n);
    if (content && tl_contains(content, n, needle)) {
      found = content;
      *len = n;
    } else {
      free(content);
    }
  }
  closedir(d);
  return found;
}

char *tl_wait_delivery(const char *user, const char *needle, int timeout_ms,
                       size_t *len) {
  const char *root = tl_env("MAILDIR_ROOT");
  size_t dummy;
  if (!len)
    len = &dummy;
  for (int waited = 0; waited <= timeout_ms; waited += 50) {
    const char *sub[] = {"new", "cur"};
    for (int i = 0; i < 2; i++) {
      char dir[1024];
      snprintf(dir, sizeof dir, "%s/%s/Maildir/%s", root, user, sub[i]);
      char *hit = find_in_dir(dir, needle, len);
      if (hit)
        return hit;
    }
    usleep(50 * 1000);
  }
  return NULL;
}

/* ---- scripted server ---- */

struct tl_server {
  int listen_fd;
  int fd;
  unsigned port;
  char *script;
  SSL_CTX *ctx;
  SSL *ssl;
  pthread_t thread;
  pthread_mutex_t lock;
  pthread_cond_t cond;
  int done;
  int failed;
  char error[512];
  char *received;
  size_t received_len, received_cap;
  char inbuf[65536];
  size_t inlen;
};

static void server_fail(tl_server *s, const char *fmt, ...) {
  if (s->failed)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(s->error, sizeof s->error, fmt, ap);
  va_end(ap);
  s->failed = 1;
}

static void record(tl_server *s, const char *data, size_t n) {
  pthread_mutex_lock(&s->lock);
  if (s->received_len + n + 1 > s->received_cap) {
    size_t cap = (s->received_len + n + 1) * 2;
    char *p = realloc(s->received, cap);
    if (p) {
      s->received = p;
      s->received_cap = cap;
    }
  }
  if (s->received_len + n + 1 <= s->received_cap) {
    memcpy(s->received + s->received_len, data, n);
    s->received_len += n;
    s->received[s->received_len] = '\0';
  }
  pthread_mutex_unlock(&s->lock);
}

/* Wait up to ms for the socket to be readable (or TLS to hold data). */
static int readable(tl_server *s, int ms) {
  if (s->ssl && SSL_pending(s->ssl) > 0)
    return 1;
  struct pollfd p = {.fd = s->fd, .events = POLLIN, .revents = 0};
  return poll(&p, 1, ms) > 0;
}

static long raw_read(tl_server *s, char *buf, size_t cap) {
  if (!readable(s, 10000))
    return -2; /* timed out */
  if (s->ssl) {
    int n = SSL_read(s->ssl, buf, (int)cap);
    return n > 0 ? n : -1;
  }
  ssize_t n = recv(s->fd, buf, cap, 0);
  return n > 0 ? n : -1;
}

static int raw_write(tl_server *s, const char *data, size_t n) {
  if (s->ssl)
    return SSL_write(s->ssl, data, (int)n) == (int)n ? 0 : -1;
  while (n > 0) {
    ssize_t w = send(s->fd, data, n, MSG_NOSIGNAL);
    if (w <= 0)
      return -1;
    data += w;
    n -= (size_t)w;
  }
  return 0;
}

/* One line from the client, CRLF stripped; -1 on EOF/timeout. */
static int read_line(tl_server *s, char *line, size_t cap) {
  for (;;) {
    char *lf = memchr(s->inbuf, '\n', s->inlen);
    if (lf) {
      size_t n = (size_t)(lf - s->inbuf);
      size_t keep = n > 0 && s->inbuf[n - 1] == '\r' ? n - 1 : n;
      if (keep >= cap)
        keep = cap - 1;
      memcpy(line, s->inbuf, keep);
      line[keep] = '\0';
      memmove(s->inbuf, lf + 1, s->inlen - n - 1);
      s->inlen -= n + 1;
      return 0;
    }
    if (s->inlen == sizeof s->inbuf)
      s->inlen = 0; /* an endless line: drop, keep reading */
    long r = raw_read(s, s->inbuf + s->inlen, sizeof s->inbuf - s->inlen);
    if (r < 0)
      return (int)r;
    record(s, s->inbuf + s->inlen, (size_t)r);
    s->inlen += (size_t)r;
  }
}

static size_t unescape(const char *in, char *out) {
  size_t o = 0;
  for (size_t i = 0; in[i]; i++) {
    if (in[i] != '\\' || !in[i + 1]) {
      out[o++] = in[i];
      continue;
    }
    char c = in[++i];
    if (c == 'r')
      out[o++] = '\r';
    else if (c == 'n')
      out[o++] = '\n';
    else if (c == 't')
      out[o++] = '\t';
    else if (c == '0')
      out[o++] = '\0';
    else if (c == 'x' && in[i + 1] && in[i + 2]) {
      char hex[3] = {in[i + 1], in[i + 2], 0};
      out[o++] = (char)strtol(hex, NULL, 16);
      i += 2;
    } else
      out[o++] = c;
  }
  return o;
}

static int start_server_tls(tl_server *s) {
  s->ctx = SSL_CTX_new(TLS_server_method());
  if (!s->ctx ||
      SSL_CTX_use_certificate_chain_file(s->ctx, tl_env("CERT_FILE")) != 1 ||
      SSL_CTX_use_PrivateKey_file(s->ctx, tl_env("KEY_FILE"),
                                  SSL_FILETYPE_PEM) != 1) {
    server_fail(s, "TLS: cannot load CERT_FILE/KEY_FILE");
    return -1;
  }
  s->ssl = SSL_new(s->ctx);
  SSL_set_fd(s->ssl, s->fd);
  /* Whatever the client already sent in plaintext stays unread by TLS. */
  if (SSL_accept(s->ssl) != 1) {
    server_fail(s, "TLS: handshake with the client failed");
    return -1;
  }
  return 0;
}

static int expect_close(tl_server *s) {
  char buf[4096];
  for (int i = 0; i < 1000; i++) {
    long r = raw_read(s, buf, sizeof buf);
    if (r == -1)
      return 0;
    if (r == -2)
      break;
    record(s, buf, (size_t)r);
  }
  server_fail(s, "EXPECT_CLOSE: the client did not close");
  return -1;
}

/* Run one script step; 1 to stop (CLOSE), -1 failed, 0 go on. */
static int run_step(tl_server *s, char *step) {
  char line[65536];
  if (strncmp(step, "S: ", 3) == 0 || strcmp(step, "S:") == 0) {
    size_t n = strlen(step + 3 > step + strlen(step) ? "" : step + 3);
    char *out = malloc(n + 3);
    memcpy(out, step + 3, n);
    memcpy(out + n, "\r\n", 2);
    int rc = raw_write(s, out, n + 2);
    free(out);
    return rc == 0 ? 0 : (server_fail(s, "send failed: %s", step), -1);
  }
  if (strncmp(step, "SRAW: ", 6) == 0) {
    char *out = malloc(strlen(step) + 1);
    size_t n = unescape(step + 6, out);
    int rc = raw_write(s, out, n);
    free(out);
    return rc == 0 ? 0 : (server_fail(s, "send failed: %s", step), -1);
  }
  if (strncmp(step, "C: ", 3) == 0 || strcmp(step, "C?") == 0) {
    if (read_line(s, line, sizeof line) != 0) {
      server_fail(s, "expected '%s' but the client sent nothing more", step);
      return -1;
    }
    if (step[1] == ':' && fnmatch(step + 3, line, 0) != 0) {
      server_fail(s, "expected '%s', got '%.200s'", step + 3, line);
      return -1;
    }
    return 0;
  }
  if (strcmp(step, "DATA") == 0) {
    for (int i = 0; i < 10000000; i++) {
      if (read_line(s, line, sizeof line) != 0) {
        server_fail(s, "DATA: the client stopped before '.'");
        return -1;
      }
      if (strcmp(line, ".") == 0)
        return 0;
    }
    return -1;
  }
  if (strcmp(step, "TLS") == 0)
    return start_server_tls(s);
  if (strncmp(step, "SLEEP ", 6) == 0) {
    usleep((useconds_t)atoi(step + 6) * 1000);
    return 0;
  }
  if (strcmp(step, "CLOSE") == 0)
    return 1;
  if (strcmp(step, "EXPECT_CLOSE") == 0)
    return expect_close(s) == 0 ? 1 : -1;
  server_fail(s, "unknown script step '%s'", step);
  return -1;
}

static int accept_client(tl_server *s) {
  struct pollfd p = {.fd = s->listen_fd, .events = POLLIN, .revents = 0};
  if (poll(&p, 1, 10000) <= 0) {
    server_fail(s, "no client connected within 10 s");
    return -1;
  }
  s->fd = accept(s->listen_fd, NULL, NULL);
  if (s->fd < 0) {
    server_fail(s, "accept failed");
    return -1;
  }
  return 0;
}

static void *server_main(void *arg) {
  tl_server *s = arg;
  if (accept_client(s) == 0) {
    char *save = NULL;
    for (char *step = strtok_r(s->script, "\n", &save); step;
         step = strtok_r(NULL, "\n", &save)) {
      while (*step == ' ' || *step == '\t')
        step++;
      if (!*step)
        continue;
      if (run_step(s, step) != 0)
        break;
    }
  }
  if (s->ssl)
    SSL_shutdown(s->ssl);
  if (s->fd >= 0)
    shutdown(s->fd, SHUT_RDWR);
  pthread_mutex_lock(&s->lock);
  s->done = 1;
  pthread_cond_signal(&s->cond);
  pthread_mutex_unlock(&s->lock);
  return NULL;
}

tl_server *tl_server_start(const char *script) {
  tl_server *s = calloc(1, sizeof *s);
  s->fd = -1;
  s->script = strdup(script);
  pthread_mutex_init(&s->lock, NULL);
  pthread_cond_init(&s->cond, NULL);
  s->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t alen = sizeof a;
  if (bind(s->listen_fd, (struct sockaddr *)&a, sizeof a) != 0 ||
      listen(s->listen_fd, 4) != 0 ||
      getsockname(s->listen_fd, (struct sockaddr *)&a, &alen) != 0) {
    fprintf(stderr, "testlib: cannot listen on loopback\n");
    exit(2);
  }
  s->port = ntohs(a.sin_port);
  pthread_create(&s->thread, NULL, server_main, s);
  return s;
}

unsigned tl_server_port(const tl_server *s) {
  return s->port;
}

int tl_server_wait(tl_server *s, int timeout_ms) {
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += timeout_ms / 1000;
  until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
  if (until.tv_nsec >= 1000000000L) {
    until.tv_sec++;
    until.tv_nsec -= 1000000000L;
  }
  pthread_mutex_lock(&s->lock);
  while (!s->done)
    if (pthread_cond_timedwait(&s->cond, &s->lock, &until) == ETIMEDOUT)
      break;
  int done = s->done;
  pthread_mutex_unlock(&s->lock);
  if (!done) {
    server_fail(s, "the script did not finish within %d ms", timeout_ms);
    return -1;
  }
  return s->failed ? -1 : 0;
}

const char *tl_server_error(const tl_server *s) {
  return s->failed ? s->error : "";
}

const char *tl_server_received(const tl_server *s, size_t *len) {
  if (len)
    *len = s->received_len;
  return s->received ? s->received : "";
}

void tl_server_free(tl_server *s) {
  if (!s)
    return;
  /* Unblock the thread if it still waits, then join it. */
  shutdown(s->listen_fd, SHUT_RDWR);
  if (s->fd >= 0)
    shutdown(s->fd, SHUT_RDWR);
  pthread_join(s->thread, NULL);
  if (s->ssl)
    SSL_free(s->ssl);
  if (s->ctx)
    SSL_CTX_free(s->ctx);
  if (s->fd >= 0)
    close(s->fd);
  close(s->listen_fd);
  pthread_mutex_destroy(&s->lock);
  pthread_cond_destroy(&s->cond);
  free(s->script);
  free(s->received);
  free(s);
}
