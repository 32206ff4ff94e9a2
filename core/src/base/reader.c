/* reader.c - line framing over received bytes, bounded, linear time even
 * when a long line arrives one byte at a time. */
#include "internal.h"

#include <string.h>

void mw_reader_init(mw_reader *r) {
  mw_buf_init(&r->in);
  r->pos = r->scanned = 0;
}

void mw_reader_free(mw_reader *r) {
  mw_buf_free(&r->in);
  r->pos = r->scanned = 0;
}

void mw_reader_clear(mw_reader *r) {
  mw_buf_reset(&r->in);
  r->pos = r->scanned = 0;
}

/* Drop consumed bytes once they are the larger part of the buffer, so
 * memory stays bounded by the longest line plus one read. */
static void compact(mw_reader *r) {
  if (r->pos == 0)
    return;
  if (r->pos == r->in.len) {
    mw_buf_reset(&r->in);
    r->pos = 0;
    return;
  }
  if (r->pos >= r->in.len / 2) {
    mw_buf_consume(&r->in, r->pos);
    r->pos = 0;
  }
}

int mw_reader_feed(mw_reader *r, const void *data, size_t len) {
  compact(r);
  return mw_buf_append(&r->in, data, len);
}

int mw_reader_line(mw_reader *r, size_t max, const char **line, size_t *len) {
  compact(r);
  char *start = r->in.data ? r->in.data + r->pos : NULL;
  size_t avail = r->in.len - r->pos;
  if (!start || avail == 0)
    return 0;
  char *lf = memchr(start + r->scanned, '\n', avail - r->scanned);
  if (!lf) {
    r->scanned = avail;
    return avail > max ? -1 : 0;
  }
  size_t end = (size_t)(lf - start); /* index of LF */
  if (end + 1 > max)
    return -1;
  size_t n = end;
  if (n > 0 && start[n - 1] == '\r')
    n--;
  start[n] = '\0';
  *line = start;
  *len = n;
  r->pos += end + 1;
  r->scanned = 0;
  return 1;
}

size_t mw_reader_pending(const mw_reader *r) {
  return r->in.len - r->pos;
}

size_t mw_reader_peek(mw_reader *r, const char **data) {
  compact(r);
  *data = r->in.data ? r->in.data + r->pos : "";
  return r->in.len - r->pos;
}

void mw_reader_skip(mw_reader *r, size_t n) {
  size_t avail = r->in.len - r->pos;
  r->pos += n < avail ? n : avail;
  r->scanned = 0;
}

char *mw_reader_space(mw_reader *r, size_t want) {
  compact(r);
  if (mw_buf_reserve(&r->in, want) != 0)
    return NULL;
  return r->in.data + r->in.len;
}

void mw_reader_commit(mw_reader *r, size_t n) {
  r->in.len += n;
  r->in.data[r->in.len] = '\0';
}
