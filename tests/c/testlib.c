/*
 * testlib.c - checks, the real-server environment, and the scripted server
 * described in testlib.h.
 */
#include "testlib.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* ======================================================================
 * Checks and test runs
 * ====================================================================== */
int tl_checks_failed = 0;
static int tl_tests_run = 0;
static int tl_tests_failed = 0;
static pthread_mutex_t tl_fail_lock = PTHREAD_MUTEX_INITIALIZER;

void tl_fail(const char *file, int line, const char *fmt, ...) {
  va_list ap;
  pthread_mutex_lock(&tl_fail_lock);
  fprintf(stderr, "%s:%d: FAILED: ", file, line);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  fflush(stderr);
  tl_checks_failed++;
  pthread_mutex_unlock(&tl_fail_lock);
}

void tl_check_err(const char *file, int line, int rc, const mw_errorinfo *ei,
                  int code, int number) {
  if (!ei) {
    tl_fail(file, line, "returned %s (%d), and no ErrorInfo (NULL)",
            mw_err_name(rc), rc);
    return;
  }
  int got_number = mw_errorinfo_number(ei);
  int got_code = mw_errorinfo_code(ei);
  if (rc == code && got_number == number && got_code == code)
    return;
  tl_fail(file, line,
          "returned %s (%d), ErrorInfo code %s, number %s (%d): \"%s\"; "
          "expected %s, %s (%d)",
          mw_err_name(rc), rc, mw_err_name(got_code), mw_eex_name(got_number),
          got_number, mw_errorinfo_text(ei), mw_err_name(code),
          mw_eex_name(number), number);
}

int tl_contains(const char *hay, size_t len, const char *needle) {
  return tl_contains_bytes(hay, len, needle, strlen(needle));
}

int tl_contains_bytes(const char *hay, size_t len, const char *needle,
                      size_t n) {
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
  tl_tests_run++;
  if (tl_checks_failed == before) {
    printf("[  OK  ] %s\n", name);
  } else {
    tl_tests_failed++;
    printf("[ FAIL ] %s (%d failed checks)\n", name,
           tl_checks_failed - before);
  }
  fflush(stdout);
}

int tl_finish(void) {
  printf("%d passed, %d failed\n", tl_tests_run - tl_tests_failed,
         tl_tests_failed);
  fflush(stdout);
  if (tl_tests_run == 0) {
    fprintf(stderr, "no test ran: that is a failure, not a pass\n");
    return 1;
  }
  /* A check that failed outside any RUN still fails the program. */
  return (tl_tests_failed == 0 && tl_checks_failed == 0) ? 0 : 1;
}

/* ======================================================================
 * Real-server environment: KEY=VALUE lines in the file $MW_TEST_ENV.
 * Loaded files are kept for the life of the process so returned strings
 * stay valid.
 * ====================================================================== */
typedef struct tl_envfile {
  char *path;
  char **keys, **values;
  size_t n;
  int missing; /* the file could not be read */
  struct tl_envfile *next;
} tl_envfile;

static tl_envfile *tl_envfiles = NULL;
static pthread_mutex_t tl_env_lock = PTHREAD_MUTEX_INITIALIZER;

static void tl_env_add(tl_envfile *f, const char *key, const char *value) {
  char **k = realloc(f->keys, (f->n + 1) * sizeof *k);
  if (!k)
    abort();
  f->keys = k;
  char **v = realloc(f->values, (f->n + 1) * sizeof *v);
  if (!v)
    abort();
  f->values = v;
  f->keys[f->n] = strdup(key);
  f->values[f->n] = strdup(value);
  if (!f->keys[f->n] || !f->values[f->n])
    abort();
  f->n++;
}

static void tl_env_parse_line(tl_envfile *f, char *line) {
  line[strcspn(line, "\r\n")] = '\0';
  if (line[0] == '#' || line[0] == '\0')
    return;
  char *eq = strchr(line, '=');
  if (!eq)
    return;
  *eq = '\0';
  tl_env_add(f, line, eq + 1);
}

static tl_envfile *tl_env_load(const char *path) {
  tl_envfile *f = calloc(1, sizeof *f);
  if (!f || !(f->path = strdup(path)))
    abort();
  FILE *fp = fopen(path, "r");
  if (!fp) {
    f->missing = 1;
    return f;
  }
  char line[4096];
  while (fgets(line, sizeof line, fp))
    tl_env_parse_line(f, line);
  fclose(fp);
  return f;
}

/* The value, or NULL with a reason in why (no failure counted). */
static const char *tl_env_lookup(const char *key, char *why, size_t whylen) {
  const char *path = getenv("MW_TEST_ENV");
  if (!path || !*path) {
    snprintf(why, whylen,
             "MW_TEST_ENV is not set: it must name the servers.env file "
             "that tests/servers/start.sh writes (needed for key %s)",
             key);
    return NULL;
  }
  pthread_mutex_lock(&tl_env_lock);
  tl_envfile *f = tl_envfiles;
  while (f && (strcmp(f->path, path) != 0 || f->missing))
    f = f->next;
  if (!f) {
    /* Not loaded yet, or unreadable before: the servers may have been
     * started since. */
    f = tl_env_load(path);
    f->next = tl_envfiles;
    tl_envfiles = f;
  }
  const char *value = NULL;
  for (size_t i = 0; !f->missing && i < f->n; i++)
    if (strcmp(f->keys[i], key) == 0)
      value = f->values[i];
  int missing = f->missing;
  pthread_mutex_unlock(&tl_env_lock);
  if (missing)
    snprintf(why, whylen,
             "cannot read the test environment file %s (MW_TEST_ENV), "
             "needed for key %s: are the servers started "
             "(tests/servers/start.sh)?",
             path, key);
  else if (!value)
    snprintf(why, whylen,
             "key %s is missing from the test environment file %s "
             "(MW_TEST_ENV)",
             key, path);
  return value;
}

/* A missing file or key counts a failure and returns "" (port 0), so the
 * test goes on and fails; it is never a skip. */
const char *tl_env(const char *key) {
  char why[1024];
  const char *v = tl_env_lookup(key, why, sizeof why);
  if (!v) {
    tl_fail(__FILE__, __LINE__, "%s", why);
    return "";
  }
  return v;
}

unsigned tl_env_port(const char *key) {
  const char *v = tl_env(key);
  if (!*v)
    return 0;
  char *end;
  unsigned long p = strtoul(v, &end, 10);
  if (*end || p == 0 || p > 65535) {
    tl_fail(__FILE__, __LINE__, "%s=%s in the test environment is not a port",
            key, v);
    return 0;
  }
  return (unsigned)p;
}

/* ======================================================================
 * Time helpers
 * ====================================================================== */
static long long tl_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void tl_sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
    ;
}

/* ======================================================================
 * Maildir delivery
 * ====================================================================== */
static char *tl_read_file(const char *path, size_t *len) {
  FILE *fp = fopen(path, "rb");
  if (!fp)
    return NULL;
  size_t cap = 65536, n = 0;
  char *buf = malloc(cap + 1);
  size_t got;
  while (buf && (got = fread(buf + n, 1, cap - n, fp)) > 0) {
    n += got;
    if (n == cap) {
      char *nb = realloc(buf, cap * 2 + 1);
      if (!nb) {
        free(buf);
        buf = NULL;
        break;
      }
      buf = nb;
      cap *= 2;
    }
  }
  fclose(fp);
  if (!buf)
    return NULL;
  buf[n] = '\0';
  *len = n;
  return buf;
}

/* The content of the first file in dir that contains needle, or NULL. */
static char *tl_find_in_dir(const char *dir, const char *needle, size_t *len) {
  DIR *d = opendir(dir);
  if (!d)
    return NULL;
  struct dirent *de;
  char *found = NULL;
  while (!found && (de = readdir(d)) != NULL) {
    if (de->d_name[0] == '.')
      continue;
    size_t plen = strlen(dir) + strlen(de->d_name) + 2;
    char *path = malloc(plen);
    if (!path)
      break;
    snprintf(path, plen, "%s/%s", dir, de->d_name);
    size_t n = 0;
    char *content = tl_read_file(path, &n);
    free(path);
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
  if (!*root)
    return NULL;
  static const char *const sub[] = {"new", "cur"};
  long long deadline = tl_now_ms() + timeout_ms;
  for (;;) {
    for (int i = 0; i < 2; i++) {
      size_t dlen = strlen(root) + strlen(user) + 32;
      char *dir = malloc(dlen);
      if (!dir)
        return NULL;
      snprintf(dir, dlen, "%s/%s/Maildir/%s", root, user, sub[i]);
      char *c = tl_find_in_dir(dir, needle, len);
      free(dir);
      if (c)
        return c;
    }
    if (tl_now_ms() >= deadline)
      return NULL;
    tl_sleep_ms(50);
  }
}

/* ======================================================================
 * Scripted server
 * ====================================================================== */
#define TL_STEP_TIMEOUT_MS 10000
#define TL_MAX_LINE (4 * 1024 * 1024)

struct tl_server {
  int lfd, fd;
  unsigned port;
  char *script;
  pthread_t thread;
  int thread_started;
  atomic_int stop;

  SSL_CTX *ctx;
  SSL *ssl;

  /* bytes read but not yet consumed by a step */
  char *rbuf;
  size_t rlen, rcap;
  int eof;

  /* everything the client sent */
  char *rec;
  size_t rec_len, rec_cap;
  int cut;   /* CUT: close without TLS close_notify */
  int reset; /* RESET: close at once with a TCP reset */

  pthread_mutex_t lock;
  pthread_cond_t cond;
  int done;
  int result;
  char error[1024];
  char wait_error[256];
};

static void tl_srv_error(tl_server *s, const char *fmt, ...) {
  if (s->error[0])
    return; /* keep the first reason */
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(s->error, sizeof s->error, fmt, ap);
  va_end(ap);
}

static int tl_grow(char **buf, size_t *cap, size_t need) {
  if (need + 1 <= *cap)
    return 0;
  size_t nc = *cap ? *cap : 4096;
  while (nc < need + 1)
    nc *= 2;
  char *nb = realloc(*buf, nc);
  if (!nb)
    return -1;
  *buf = nb;
  *cap = nc;
  return 0;
}

static int tl_record(tl_server *s, const char *data, size_t n) {
  pthread_mutex_lock(&s->lock);
  int rc = tl_grow(&s->rec, &s->rec_cap, s->rec_len + n);
  if (rc == 0) {
    memcpy(s->rec + s->rec_len, data, n);
    s->rec_len += n;
    s->rec[s->rec_len] = '\0';
  }
  pthread_mutex_unlock(&s->lock);
  return rc;
}

/* Wait until fd is readable, in slices so tl_server_free can stop us.
 * 1 readable, 0 timed out or stopped. */
static int tl_wait_readable(tl_server *s, int fd, long long deadline) {
  for (;;) {
    if (atomic_load(&s->stop))
      return 0;
    long long left = deadline - tl_now_ms();
    if (left <= 0)
      return 0;
    struct pollfd p = {fd, POLLIN, 0};
    int r = poll(&p, 1, left < 100 ? (int)left : 100);
    if (r > 0)
      return 1;
    if (r < 0 && errno != EINTR)
      return 1; /* let the read report the error */
  }
}

/* Read one chunk from the client into rbuf (and the record).
 * 1 got bytes, 0 the client closed, -1 timeout/error (error set). */
static int tl_read_chunk(tl_server *s, long long deadline) {
  char chunk[16384];
  ssize_t n;
  if (!(s->ssl && SSL_pending(s->ssl) > 0) &&
      !tl_wait_readable(s, s->fd, deadline)) {
    tl_srv_error(s, atomic_load(&s->stop)
                        ? "the server was stopped while waiting for the client"
                        : "timed out waiting for the client to send");
    return -1;
  }
  if (s->ssl) {
    int r = SSL_read(s->ssl, chunk, sizeof chunk);
    if (r <= 0) {
      int e = SSL_get_error(s->ssl, r);
      if (e == SSL_ERROR_ZERO_RETURN || e == SSL_ERROR_SYSCALL) {
        s->eof = 1;
        return 0;
      }
      unsigned long le = ERR_peek_last_error();
      tl_srv_error(s, "TLS read failed (SSL error %d, %s)", e,
                   le ? ERR_reason_error_string(le) : "no OpenSSL reason");
      return -1;
    }
    n = r;
  } else {
    do
      n = recv(s->fd, chunk, sizeof chunk, 0);
    while (n < 0 && errno == EINTR);
    if (n == 0 || (n < 0 && errno == ECONNRESET)) {
      s->eof = 1;
      return 0;
    }
    if (n < 0) {
      tl_srv_error(s, "recv failed: %s", strerror(errno));
      return -1;
    }
  }
  if (tl_grow(&s->rbuf, &s->rcap, s->rlen + (size_t)n) != 0 ||
      tl_record(s, chunk, (size_t)n) != 0) {
    tl_srv_error(s, "out of memory");
    return -1;
  }
  memcpy(s->rbuf + s->rlen, chunk, (size_t)n);
  s->rlen += (size_t)n;
  return 1;
}

/* One line (LF-terminated; a CR before it stripped) into a malloc'd
 * string, or NULL (error set). */
static char *tl_read_line(tl_server *s) {
  long long deadline = tl_now_ms() + TL_STEP_TIMEOUT_MS;
  for (;;) {
    char *lf = s->rlen ? memchr(s->rbuf, '\n', s->rlen) : NULL;
    if (lf) {
      size_t used = (size_t)(lf - s->rbuf) + 1;
      size_t len = used - 1;
      if (len > 0 && s->rbuf[len - 1] == '\r')
        len--;
      char *line = malloc(len + 1);
      if (!line) {
        tl_srv_error(s, "out of memory");
        return NULL;
      }
      memcpy(line, s->rbuf, len);
      line[len] = '\0';
      memmove(s->rbuf, s->rbuf + used, s->rlen - used);
      s->rlen -= used;
      return line;
    }
    if (s->rlen > TL_MAX_LINE) {
      tl_srv_error(s, "the client sent a line longer than %d bytes",
                   TL_MAX_LINE);
      return NULL;
    }
    int r = tl_read_chunk(s, deadline);
    if (r == 0) {
      tl_srv_error(s, "the client closed the connection while a line was "
                      "expected");
      return NULL;
    }
    if (r < 0)
      return NULL;
  }
}

static int tl_send(tl_server *s, const char *data, size_t len) {
  size_t off = 0;
  while (off < len) {
    if (s->ssl) {
      int r = SSL_write(s->ssl, data + off, (int)(len - off));
      if (r <= 0) {
        tl_srv_error(s, "TLS write failed (SSL error %d)",
                     SSL_get_error(s->ssl, r));
        return -1;
      }
      off += (size_t)r;
    } else {
      ssize_t r = send(s->fd, data + off, len - off, MSG_NOSIGNAL);
      if (r < 0 && errno == EINTR)
        continue;
      if (r <= 0) {
        tl_srv_error(s, "send failed: %s", strerror(errno));
        return -1;
      }
      off += (size_t)r;
    }
  }
  return 0;
}

/* Glob with * and ? only: no brackets, since address literals such as
 * [127.0.0.1] must match themselves. */
static int tl_glob(const char *p, const char *s) {
  const char *star = NULL, *retry = NULL;
  while (*s) {
    if (*p == '*') {
      star = p++;
      retry = s;
    } else if (*p == '?' || *p == *s) {
      p++;
      s++;
    } else if (star) {
      p = star + 1;
      s = ++retry;
    } else {
      return 0;
    }
  }
  while (*p == '*')
    p++;
  return *p == '\0';
}

static int tl_hexval(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

size_t tl_unescape(char *t) {
  char *out = t;
  for (const char *in = t; *in; in++) {
    if (*in != '\\' || !in[1]) {
      *out++ = *in;
      continue;
    }
    in++;
    switch (*in) {
    case 'r':
      *out++ = '\r';
      break;
    case 'n':
      *out++ = '\n';
      break;
    case 't':
      *out++ = '\t';
      break;
    case '0':
      *out++ = '\0';
      break;
    case 'x':
      if (tl_hexval(in[1]) >= 0 && tl_hexval(in[2]) >= 0) {
        *out++ = (char)(tl_hexval(in[1]) * 16 + tl_hexval(in[2]));
        in += 2;
      } else {
        *out++ = 'x';
      }
      break;
    default:
      *out++ = *in;
    }
  }
  return (size_t)(out - t);
}

static int tl_step_tls(tl_server *s) {
  char why[1024];
  const char *cert = tl_env_lookup("CERT_FILE", why, sizeof why);
  const char *key = cert ? tl_env_lookup("KEY_FILE", why, sizeof why) : NULL;
  if (!cert || !key) {
    tl_srv_error(s, "TLS step: %s", why);
    return -1;
  }
  if (s->rlen > 0) {
    tl_srv_error(s,
                 "TLS step: the client sent %zu bytes after its command "
                 "and before the TLS handshake",
                 s->rlen);
    return -1;
  }
  s->ctx = SSL_CTX_new(TLS_server_method());
  if (!s->ctx || SSL_CTX_use_certificate_chain_file(s->ctx, cert) != 1 ||
      SSL_CTX_use_PrivateKey_file(s->ctx, key, SSL_FILETYPE_PEM) != 1) {
    tl_srv_error(s, "TLS step: cannot load %s / %s", cert, key);
    return -1;
  }
  s->ssl = SSL_new(s->ctx);
  if (!s->ssl || SSL_set_fd(s->ssl, s->fd) != 1) {
    tl_srv_error(s, "TLS step: SSL_new failed");
    return -1;
  }
  int r = SSL_accept(s->ssl);
  if (r != 1) {
    unsigned long e = ERR_peek_last_error();
    tl_srv_error(s, "TLS step: handshake failed (SSL error %d, %s)",
                 SSL_get_error(s->ssl, r),
                 e ? ERR_reason_error_string(e) : "no OpenSSL reason");
    SSL_free(s->ssl);
    s->ssl = NULL;
    return -1;
  }
  return 0;
}

static int tl_step_data(tl_server *s) {
  for (int lines = 0; lines < 10000000; lines++) {
    char *line = tl_read_line(s);
    if (!line) {
      char inner[sizeof s->error];
      memcpy(inner, s->error, sizeof inner);
      s->error[0] = '\0';
      tl_srv_error(s, "DATA: no line \".\": %s", inner);
      return -1;
    }
    int end = strcmp(line, ".") == 0;
    free(line);
    if (end)
      return 0;
  }
  tl_srv_error(s, "DATA: too many lines");
  return -1;
}

static int tl_step_expect_close(tl_server *s) {
  long long deadline = tl_now_ms() + TL_STEP_TIMEOUT_MS;
  while (!s->eof) {
    s->rlen = 0; /* recorded already; no step wants these bytes */
    if (tl_read_chunk(s, deadline) < 0) {
      s->error[0] = '\0';
      tl_srv_error(s, "EXPECT_CLOSE: the client did not close the "
                      "connection within 10 s");
      return -1;
    }
  }
  return 0;
}

/* Record what the client sends until it closes, at most ms; so a test
 * also sees what a client wrongly sends after the server went away, and
 * the kernel does not answer unread data with a reset. */
static void tl_drain(tl_server *s, int ms) {
  long long deadline = tl_now_ms() + ms;
  char saved[sizeof s->error];
  memcpy(saved, s->error, sizeof saved);
  while (!s->eof && tl_now_ms() < deadline) {
    s->rlen = 0;
    if (tl_read_chunk(s, deadline) < 0)
      break;
  }
  memcpy(s->error, saved, sizeof saved); /* draining never fails a script */
}

static void tl_close_conn(tl_server *s) {
  if (s->fd < 0)
    return;
  if (s->reset) { /* SO_LINGER 0: a reset, whatever the client still sends */
    struct linger l = {.l_onoff = 1, .l_linger = 0};
    setsockopt(s->fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    if (s->ssl) {
      SSL_free(s->ssl);
      s->ssl = NULL;
    }
    close(s->fd);
    s->fd = -1;
    return;
  }
  if (s->ssl && !s->eof && !s->cut)
    SSL_shutdown(s->ssl);
  shutdown(s->fd, SHUT_WR);
  tl_drain(s, 200);
  if (s->ssl) {
    SSL_free(s->ssl);
    s->ssl = NULL;
  }
  close(s->fd);
  s->fd = -1;
}

static int tl_accept(tl_server *s) {
  long long deadline = tl_now_ms() + TL_STEP_TIMEOUT_MS;
  if (!tl_wait_readable(s, s->lfd, deadline)) {
    tl_srv_error(s, atomic_load(&s->stop)
                        ? "no client connected before the server was freed"
                        : "no client connected within 10 s");
    return -1;
  }
  s->fd = accept(s->lfd, NULL, NULL);
  if (s->fd < 0) {
    tl_srv_error(s, "accept failed: %s", strerror(errno));
    return -1;
  }
  /* Backstop for blocking TLS calls that poll() cannot bound. */
  struct timeval tv = {TL_STEP_TIMEOUT_MS / 1000, 0};
  setsockopt(s->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(s->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  return 0;
}

static void tl_interruptible_sleep(tl_server *s, int ms) {
  long long deadline = tl_now_ms() + ms;
  while (!atomic_load(&s->stop) && tl_now_ms() < deadline) {
    long long left = deadline - tl_now_ms();
    tl_sleep_ms(left < 50 ? (int)left : 50);
  }
}

static int tl_starts(const char *line, const char *prefix) {
  return strncmp(line, prefix, strlen(prefix)) == 0;
}

/* The text after "X:" and one optional space. */
static char *tl_arg(char *line, size_t prefix_len) {
  char *a = line + prefix_len;
  return *a == ' ' ? a + 1 : a;
}

static int tl_step_send_line(tl_server *s, const char *t) {
  size_t n = strlen(t);
  char *buf = malloc(n + 3);
  if (!buf)
    return -1;
  memcpy(buf, t, n);
  memcpy(buf + n, "\r\n", 3);
  int rc = tl_send(s, buf, n + 2);
  free(buf);
  return rc;
}

static int tl_step_expect_line(tl_server *s, const char *pattern, int lineno) {
  char *got = tl_read_line(s);
  if (!got) {
    char inner[sizeof s->error];
    memcpy(inner, s->error, sizeof inner);
    s->error[0] = '\0';
    tl_srv_error(s, "step %d (C: %s): %s", lineno, pattern ? pattern : "?",
                 inner);
    return -1;
  }
  int ok = !pattern || tl_glob(pattern, got);
  if (!ok)
    tl_srv_error(s, "step %d: client sent \"%.300s\", expected \"%s\"", lineno,
                 got, pattern);
  free(got);
  return ok ? 0 : -1;
}

/* CRAW: read exactly these bytes (C escapes) and compare: binary
 * protocols such as SOCKS have no lines. */
static int tl_step_expect_raw(tl_server *s, char *want, int lineno) {
  size_t len = tl_unescape(want);
  long long deadline = tl_now_ms() + TL_STEP_TIMEOUT_MS;
  while (s->rlen < len) {
    int r = tl_read_chunk(s, deadline);
    if (r <= 0) {
      if (r == 0)
        tl_srv_error(s,
                     "step %d (CRAW): the client closed after %zu of %zu "
                     "bytes",
                     lineno, s->rlen, len);
      return -1;
    }
  }
  if (memcmp(s->rbuf, want, len) != 0) {
    tl_srv_error(s, "step %d (CRAW): the client sent other bytes", lineno);
    return -1;
  }
  memmove(s->rbuf, s->rbuf + len, s->rlen - len);
  s->rlen -= len;
  return 0;
}

/* FLOOD: text - send text (C escapes) again and again until the client
 * closes (success) or 16 MiB went out (failure: the client should have
 * given up on an endless reply long before). */
static int tl_step_flood(tl_server *s, char *text, int lineno) {
  size_t len = tl_unescape(text);
  const size_t limit = 16u * 1024 * 1024;
  if (len == 0) {
    tl_srv_error(s, "step %d (FLOOD): nothing to send", lineno);
    return -1;
  }
  char *block = malloc(65536 + len);
  if (!block)
    return -1;
  size_t blen = 0;
  while (blen < 65536) {
    memcpy(block + blen, text, len);
    blen += len;
  }
  size_t sent = 0;
  int rc = -1;
  while (sent < limit && !atomic_load(&s->stop)) {
    errno = 0;
    if (tl_send(s, block, blen) != 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        break; /* stopped reading but kept the connection: a failure */
      s->error[0] = '\0'; /* the client hung up: what we wanted */
      rc = 0;
      break;
    }
    sent += blen;
  }
  free(block);
  if (rc != 0)
    tl_srv_error(s,
                 "step %d (FLOOD): the client was still reading after "
                 "%zu bytes",
                 lineno, sent);
  s->eof = 1; /* whatever the client sent meanwhile is of no interest */
  return rc;
}

/* DRIP ms: text - send text (C escapes) one byte every ms, over and over,
 * until the client closes (success); fails if it still reads after 30 s
 * (its deadlines should have ended the wait long before). */
static int tl_step_drip(tl_server *s, char *arg, int lineno) {
  int ms = atoi(arg);
  char *text = strchr(arg, ':');
  size_t len = text ? tl_unescape(++text) : 0;
  if (ms <= 0 || len == 0) {
    tl_srv_error(s, "step %d (DRIP): want \"DRIP ms: text\"", lineno);
    return -1;
  }
  int one = 1; /* each byte its own segment */
  setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  long long until = tl_now_ms() + 30000;
  for (size_t i = 0; tl_now_ms() < until && !atomic_load(&s->stop); i++) {
    errno = 0;
    if (tl_send(s, text + i % len, 1) != 0) {
      s->error[0] = '\0'; /* the client hung up: what we wanted */
      s->eof = 1;
      return 0;
    }
    tl_interruptible_sleep(s, ms);
  }
  tl_srv_error(s, "step %d (DRIP): the client was still reading after 30 s",
               lineno);
  return -1;
}

/* QUIET ms: the client sends nothing more for ms (a client that must wait
 * for an answer before its next command). */
static int tl_step_quiet(tl_server *s, int ms, int lineno) {
  long long deadline = tl_now_ms() + ms;
  char saved[sizeof s->error];
  memcpy(saved, s->error, sizeof saved);
  while (s->rlen == 0 && !s->eof && tl_now_ms() < deadline)
    if (tl_read_chunk(s, deadline) < 0)
      break;
  memcpy(s->error, saved, sizeof saved); /* the wait timing out is success */
  if (s->rlen == 0)
    return 0;
  tl_srv_error(s, "step %d (QUIET): the client sent %zu bytes too early",
               lineno, s->rlen);
  return -1;
}

/* 1 to go on, 0 the script ends here, -1 failed. */
static int tl_do_step(tl_server *s, char *line, int lineno) {
  int rc;
  if (tl_starts(line, "SRAW:")) {
    char *t = tl_arg(line, 5);
    rc = tl_send(s, t, tl_unescape(t));
  } else if (tl_starts(line, "S:")) {
    rc = tl_step_send_line(s, tl_arg(line, 2));
  } else if (tl_starts(line, "CRAW:")) {
    rc = tl_step_expect_raw(s, tl_arg(line, 5), lineno);
  } else if (tl_starts(line, "C:")) {
    rc = tl_step_expect_line(s, tl_arg(line, 2), lineno);
  } else if (strcmp(line, "C?") == 0) {
    rc = tl_step_expect_line(s, NULL, lineno);
  } else if (strcmp(line, "DATA") == 0) {
    rc = tl_step_data(s);
  } else if (strcmp(line, "TLS") == 0) {
    rc = tl_step_tls(s);
  } else if (tl_starts(line, "QUIET")) {
    rc = tl_step_quiet(s, atoi(line + 5), lineno);
  } else if (tl_starts(line, "SLEEP")) {
    tl_interruptible_sleep(s, atoi(line + 5));
    rc = 0;
  } else if (strcmp(line, "CLOSE") == 0) {
    return 0;
  } else if (strcmp(line, "NODELAY") == 0) {
    /* Each step goes out at once instead of waiting for the client's
     * delayed ACK (40 ms per multi-line reply). Off by default: with it, a
     * client that hangs up mid-reply can make a later send fail. */
    int one = 1;
    rc = setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  } else if (strcmp(line, "CUT") == 0) {
    s->cut = 1;
    return 0;
  } else if (strcmp(line, "RESET") == 0) {
    s->reset = 1;
    return 0;
  } else if (tl_starts(line, "FLOOD:")) {
    rc = tl_step_flood(s, tl_arg(line, 6), lineno);
  } else if (tl_starts(line, "DRIP")) {
    rc = tl_step_drip(s, line + 4, lineno);
  } else if (strcmp(line, "EXPECT_CLOSE") == 0) {
    rc = tl_step_expect_close(s);
  } else {
    tl_srv_error(s, "step %d: unknown step \"%s\"", lineno, line);
    return -1;
  }
  return rc == 0 ? 1 : -1;
}

/* Next script line: leading blanks and a trailing CR removed; NULL at the
 * end. Blank lines and # comments are skipped. */
static char *tl_next_line(char **cursor) {
  while (**cursor) {
    char *line = *cursor;
    char *nl = strchr(line, '\n');
    if (nl) {
      *nl = '\0';
      *cursor = nl + 1;
    } else {
      *cursor = line + strlen(line);
    }
    while (*line == ' ' || *line == '\t')
      line++;
    size_t len = strlen(line);
    if (len > 0 && line[len - 1] == '\r')
      line[len - 1] = '\0';
    if (*line && *line != '#')
      return line;
  }
  return NULL;
}

static int tl_run_script(tl_server *s) {
  char *cursor = s->script;
  char *line;
  int lineno = 0;
  while ((line = tl_next_line(&cursor)) != NULL) {
    lineno++;
    if (atomic_load(&s->stop)) {
      tl_srv_error(s, "stopped before step %d", lineno);
      return -1;
    }
    int r = tl_do_step(s, line, lineno);
    if (r <= 0)
      return r;
  }
  return 0;
}

static void *tl_server_main(void *arg) {
  tl_server *s = arg;
  int rc = tl_accept(s);
  if (rc == 0)
    rc = tl_run_script(s);
  tl_close_conn(s);
  pthread_mutex_lock(&s->lock);
  s->result = rc < 0 ? -1 : 0;
  s->done = 1;
  pthread_cond_broadcast(&s->cond);
  pthread_mutex_unlock(&s->lock);
  return NULL;
}

static int tl_listen(tl_server *s) {
  s->lfd = socket(AF_INET, SOCK_STREAM, 0);
  if (s->lfd < 0)
    return -1;
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t alen = sizeof a;
  if (bind(s->lfd, (struct sockaddr *)&a, sizeof a) != 0 ||
      listen(s->lfd, 4) != 0 ||
      getsockname(s->lfd, (struct sockaddr *)&a, &alen) != 0)
    return -1;
  s->port = ntohs(a.sin_port);
  return 0;
}

/* Every step must be known before the client connects, so a typo fails
 * at once, not after a 10 s wait. */
static int tl_script_valid(const char *script) {
  static const char *const steps[] = {
      "S:",     "SRAW:",   "C:",           "C?",    "DATA",  "TLS",
      "SLEEP",  "CLOSE",   "EXPECT_CLOSE", "CRAW:", "QUIET", "CUT",
      "FLOOD:", "NODELAY", "DRIP",         "RESET"};
  char *copy = strdup(script);
  if (!copy)
    return 0;
  char *cursor = copy, *line;
  int ok = 1;
  while (ok && (line = tl_next_line(&cursor)) != NULL) {
    int known = 0;
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++)
      if (tl_starts(line, steps[i]))
        known = 1;
    if (!known) {
      tl_fail(__FILE__, __LINE__, "scripted server: unknown step \"%s\"",
              line);
      ok = 0;
    }
  }
  free(copy);
  return ok;
}

tl_server *tl_server_start(const char *script) {
  signal(SIGPIPE, SIG_IGN);
  if (!script || !tl_script_valid(script))
    return NULL;
  tl_server *s = calloc(1, sizeof *s);
  if (!s)
    return NULL;
  s->fd = -1;
  s->lfd = -1;
  pthread_mutex_init(&s->lock, NULL);
  pthread_cond_init(&s->cond, NULL);
  atomic_init(&s->stop, 0);
  s->script = strdup(script);
  if (!s->script || tl_listen(s) != 0) {
    tl_fail(__FILE__, __LINE__, "scripted server: cannot listen: %s",
            strerror(errno));
    tl_server_free(s);
    return NULL;
  }
  if (pthread_create(&s->thread, NULL, tl_server_main, s) != 0) {
    tl_fail(__FILE__, __LINE__, "scripted server: no thread");
    tl_server_free(s);
    return NULL;
  }
  s->thread_started = 1;
  return s;
}

unsigned tl_server_port(const tl_server *s) {
  return s ? s->port : 0;
}

int tl_server_wait(tl_server *s, int timeout_ms) {
  if (!s)
    return -1;
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
  int rc = s->done ? s->result : -1;
  if (!s->done)
    snprintf(s->wait_error, sizeof s->wait_error,
             "the script did not finish within %d ms", timeout_ms);
  pthread_mutex_unlock(&s->lock);
  return rc;
}

const char *tl_server_error(const tl_server *s) {
  if (!s)
    return "no server (tl_server_start failed)";
  tl_server *m = (tl_server *)s;
  pthread_mutex_lock(&m->lock);
  const char *e = m->done ? m->error : m->wait_error;
  pthread_mutex_unlock(&m->lock);
  return e;
}

const char *tl_server_received(const tl_server *s, size_t *len) {
  if (!s) {
    if (len)
      *len = 0;
    return "";
  }
  tl_server *m = (tl_server *)s;
  pthread_mutex_lock(&m->lock);
  if (len)
    *len = m->rec_len;
  const char *r = m->rec ? m->rec : "";
  pthread_mutex_unlock(&m->lock);
  return r;
}

void tl_server_free(tl_server *s) {
  if (!s)
    return;
  atomic_store(&s->stop, 1);
  if (s->thread_started)
    pthread_join(s->thread, NULL);
  if (s->ssl)
    SSL_free(s->ssl);
  if (s->ctx)
    SSL_CTX_free(s->ctx);
  if (s->fd >= 0)
    close(s->fd);
  if (s->lfd >= 0)
    close(s->lfd);
  pthread_mutex_destroy(&s->lock);
  pthread_cond_destroy(&s->cond);
  free(s->rbuf);
  free(s->rec);
  free(s->script);
  free(s);
}
