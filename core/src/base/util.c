/* util.c - byte buffers and the checks every caller-supplied argument
 * passes before it can reach the wire. */
#include "internal.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

void mw_buf_init(mw_buf *b) {
  b->data = NULL;
  b->len = b->cap = 0;
}

void mw_buf_free(mw_buf *b) {
  free(b->data);
  mw_buf_init(b);
}

void mw_buf_reset(mw_buf *b) {
  b->len = 0;
  if (b->data)
    b->data[0] = '\0';
}

int mw_buf_reserve(mw_buf *b, size_t extra) {
  if (extra > SIZE_MAX - b->len - 1)
    return -1;
  size_t need = b->len + extra + 1;
  if (need <= b->cap)
    return 0;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < need)
    cap = cap > SIZE_MAX / 2 ? need : cap * 2;
  char *p = realloc(b->data, cap);
  if (!p)
    return -1;
  b->data = p;
  b->cap = cap;
  return 0;
}

int mw_buf_append(mw_buf *b, const void *data, size_t len) {
  if (mw_buf_reserve(b, len) != 0)
    return -1;
  if (len)
    memcpy(b->data + b->len, data, len);
  b->len += len;
  b->data[b->len] = '\0';
  return 0;
}

int mw_buf_append_str(mw_buf *b, const char *s) {
  return mw_buf_append(b, s, strlen(s));
}

int mw_buf_appendf(mw_buf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0 || mw_buf_reserve(b, (size_t)n) != 0)
    return -1;
  va_start(ap, fmt);
  vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
  return 0;
}

void mw_buf_consume(mw_buf *b, size_t n) {
  if (n >= b->len) {
    mw_buf_reset(b);
    return;
  }
  memmove(b->data, b->data + n, b->len - n);
  b->len -= n;
  b->data[b->len] = '\0';
}

/* ---- argument checks ---- */

static int refuse_arg(mw_errorinfo *e, const char *what, const char *why) {
  return mw_error_set(e, eexInvalidArgument, 0,
                      "The %s %s; nothing was sent to the server.", what, why);
}

int mw_check_arg_n(mw_errorinfo *e, const char *what, const char *s,
                   size_t len, size_t max) {
  if (!s)
    return refuse_arg(e, what, "is missing");
  if (len > max) {
    char why[64];
    snprintf(why, sizeof why, "is longer than %zu bytes", max);
    return refuse_arg(e, what, why);
  }
  for (size_t i = 0; i < len; i++) {
    if (s[i] == '\r' || s[i] == '\n')
      return refuse_arg(e, what,
                        "contains a line break (CR or LF), which could "
                        "inject a command");
    if (s[i] == '\0')
      return refuse_arg(e, what, "contains a NUL byte");
  }
  return MW_OK;
}

int mw_check_arg(mw_errorinfo *e, const char *what, const char *s,
                 int allow_empty, size_t max) {
  if (!s)
    return refuse_arg(e, what, "is missing");
  if (!allow_empty && !*s)
    return refuse_arg(e, what, "is empty");
  return mw_check_arg_n(e, what, s, strlen(s), max);
}

char *mw_strdup(const char *s) {
  if (!s)
    return NULL;
  size_t n = strlen(s) + 1;
  char *p = malloc(n);
  if (p)
    memcpy(p, s, n);
  return p;
}

static int lower(int c) {
  return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

int mw_strcaseeq(const char *a, const char *b) {
  if (!a || !b)
    return 0;
  while (*a && lower((unsigned char)*a) == lower((unsigned char)*b))
    a++, b++;
  return *a == '\0' && *b == '\0';
}

int mw_has_8bit(const char *s, size_t len) {
  size_t i = 0;
  /* Eight bytes at a time: any high bit in the word. */
  for (; i + 8 <= len; i += 8) {
    uint64_t w;
    memcpy(&w, s + i, 8);
    if (w & 0x8080808080808080ull)
      return 1;
  }
  for (; i < len; i++)
    if ((unsigned char)s[i] >= 0x80)
      return 1;
  return 0;
}

void mw_free_secret(char *s) {
  if (!s)
    return;
  OPENSSL_cleanse(s, strlen(s)); /* a plain memset may be optimised out */
  free(s);
}

void mw_free(void *p) {
  free(p);
}

int mw_headers_8bit(const char *msg, size_t len) {
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)msg[i];
    if (c >= 0x80)
      return 1;
    /* An empty line (LF LF, or LF CR LF) ends the header section. */
    if (c == '\n' && i + 1 < len &&
        (msg[i + 1] == '\n' ||
         (msg[i + 1] == '\r' && i + 2 < len && msg[i + 2] == '\n')))
      return 0;
  }
  return 0;
}

/* ---- the handler header's reference count ---- */

void mw_hdr_init(mw_handler_hdr *h, uint32_t magic) {
  h->magic = magic;
  atomic_init(&h->refs, 1);
}

void mw_hdr_ref(mw_handler_hdr *h) {
  atomic_fetch_add_explicit(&h->refs, 1, memory_order_relaxed);
}

/* Release order on the way down and acquire on the last one, so the
 * thread that frees sees every write the other holders made. */
int mw_hdr_unref(mw_handler_hdr *h) {
  if (atomic_fetch_sub_explicit(&h->refs, 1, memory_order_release) != 1)
    return 0;
  atomic_thread_fence(memory_order_acquire);
  return 1;
}
