/* http.c - the blocking driver's HTTP/1.0 client for revocation fetches
 * (MW_IO_FETCH): one request per connection, over driver.c's bounded
 * sockets. The whole exchange (resolve, connect, send, read) fits in one
 * deadline, and at most MW_HTTP_MAX + 1 body bytes are kept: revocation.c
 * judges a longer answer, so the limit means the same in every driver. */
#include "http.h"

#include "driver.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* Room for the status line and headers on top of the body limit. */
#define HEAD_ROOM 16384
#define READ_CAP (MW_HTTP_MAX + 1 + HEAD_ROOM)

/* The time left until deadline (CLOCK_MONOTONIC ms), at least 0. */
static int left_ms(long long deadline) {
  long long left = deadline - mw_now_ms();
  return left > 0 ? (int)left : 0;
}

/* Offset of the body (after the blank line), or 0 while incomplete. */
static size_t body_start(const unsigned char *buf, size_t len) {
  for (size_t i = 0; i + 3 < len; i++)
    if (memcmp(buf + i, "\r\n\r\n", 4) == 0)
      return i + 4;
  return 0;
}

/* Has the whole answer arrived, by its Content-Length? Without one the
 * body ends at EOF. */
static int complete(const unsigned char *buf, size_t len) {
  size_t start = body_start(buf, len);
  if (!start)
    return 0;
  const char *key = "\r\ncontent-length:";
  size_t klen = strlen(key);
  for (size_t i = 0; i + klen < start; i++)
    if (strncasecmp((const char *)buf + i, key, klen) == 0) {
      unsigned long n = strtoul((const char *)buf + i + klen, NULL, 10);
      return len - start >= n;
    }
  return 0;
}

static int failed(mw_http_answer *out, const mw_http_url *u,
                  const char *what) {
  snprintf(out->why, sizeof out->why, what, u->host, u->port);
  return -1;
}

/* Status line and body of the answer in buf (taken); a body cut at the
 * read limit is passed on cut, one byte over MW_HTTP_MAX. */
static int parse(unsigned char *buf, size_t len, const mw_http_url *u,
                 mw_http_answer *out) {
  size_t start = 0;
  int code = 0;
  if (mw_http_answer_head(buf, len, &code, &start) != 0) {
    free(buf);
    return failed(out, u, "%.64s:%u did not answer in HTTP");
  }
  out->status = code;
  out->len = len - start;
  if (out->len > MW_HTTP_MAX)
    out->len = MW_HTTP_MAX + 1;
  memmove(buf, buf + start, out->len);
  out->body = buf;
  return 0;
}

/* Read the answer until the server closes, the Content-Length is reached
 * or READ_CAP bytes came. */
static int read_answer(int fd, const mw_http_url *u, long long deadline,
                       mw_http_answer *out) {
  size_t cap = 65536, len = 0;
  unsigned char *buf = malloc(cap);
  mw_errorinfo e;
  mw_error_init(&e);
  int no_memory = !buf;
  while (!no_memory && len < READ_CAP) {
    if (len == cap) {
      size_t more = cap * 2 < READ_CAP ? cap * 2 : READ_CAP;
      unsigned char *bigger = realloc(buf, more);
      no_memory = !bigger;
      if (no_memory)
        break;
      buf = bigger;
      cap = more;
    }
    size_t got = 0;
    if (mw_driver_recv(fd, buf + len, cap - len, left_ms(deadline), &got,
                       &e) != MW_OK) {
      if (e.number == eexServerClosed)
        break; /* HTTP/1.0: the body ends at EOF */
      free(buf);
      mw_error_clear(&e);
      return failed(out, u,
                    "no complete answer from %.64s:%u within the time limit");
    }
    len += got;
    if (complete(buf, len))
      break; /* a server that keeps the connection open after the body */
  }
  mw_error_clear(&e);
  if (no_memory) {
    free(buf);
    snprintf(out->why, sizeof out->why, "out of memory");
    return -1;
  }
  return parse(buf, len, u, out);
}

static int exchange(int fd, const mw_http_url *u, const unsigned char *post,
                    size_t post_len, long long deadline, mw_http_answer *out) {
  char head[1536];
  if (!mw_http_request_head(head, sizeof head, u, post != NULL, post_len))
    return failed(out, u, "the request to %.64s:%u is too long");
  mw_errorinfo e;
  mw_error_init(&e);
  int bad =
      mw_driver_send(fd, head, strlen(head), left_ms(deadline), &e) != MW_OK ||
      (post_len &&
       mw_driver_send(fd, post, post_len, left_ms(deadline), &e) != MW_OK);
  mw_error_clear(&e);
  if (bad)
    return failed(out, u, "sending to %.64s:%u failed");
  return read_answer(fd, u, deadline, out);
}

int mw_http_fetch(const char *url, const unsigned char *post, size_t post_len,
                  int timeout_ms, mw_http_answer *out) {
  memset(out, 0, sizeof *out);
  mw_http_url u;
  if (mw_http_parse_url(url, &u) != 0) {
    snprintf(out->why, sizeof out->why, "'%.100s' is not an http:// URL",
             url ? url : "");
    return -1;
  }
  long long deadline = mw_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
  mw_errorinfo e;
  mw_error_init(&e);
  int fd = -1;
  char peer[64];
  if (mw_driver_connect(u.host, u.port, left_ms(deadline), &e, NULL, &fd, peer,
                        sizeof peer) != MW_OK) {
    snprintf(out->why, sizeof out->why, "cannot connect to %.64s:%u (%s)",
             u.host, u.port, mw_eex_name(e.number));
    mw_error_clear(&e);
    return -1;
  }
  int rc = exchange(fd, &u, post, post_len, deadline, out);
  close(fd);
  return rc;
}
