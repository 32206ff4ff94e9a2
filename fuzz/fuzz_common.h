/* fuzz_common.h - shared by the libFuzzer targets: the fuzzer's input is
 * split into a few configuration bytes and the bytes a server (or proxy)
 * sends, which are delivered in pieces whose sizes the input also picks,
 * so every split of a reply is reached. */
#ifndef MW_FUZZ_COMMON_H
#define MW_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct fz_input {
  const uint8_t *data;
  size_t len, pos;
  uint32_t rng; /* picks piece sizes */
  int lines;    /* pieces never run past a line end (a polite server) */
} fz_input;

static inline void fz_init(fz_input *in, const uint8_t *data, size_t len) {
  in->data = data;
  in->len = len;
  in->pos = 0;
  in->rng = 2166136261u;
  in->lines = 0;
}

/* A configuration byte (0 when the input is exhausted). */
static inline uint8_t fz_byte(fz_input *in) {
  if (in->pos >= in->len)
    return 0;
  uint8_t b = in->data[in->pos++];
  in->rng = (in->rng ^ b) * 16777619u;
  return b;
}

/* The next piece of server bytes, sizes from the rng so that one-byte
 * pieces, one line and everything at once all happen (the engines refuse
 * bytes that arrive ahead of their command, so whole lines keep sessions
 * going). With `lines` set a piece never runs past a line end. Returns 0
 * at the end. */
static inline size_t fz_piece(fz_input *in, const uint8_t **piece) {
  size_t left = in->len - in->pos;
  if (left == 0)
    return 0;
  in->rng = in->rng * 1103515245u + 12345u;
  uint32_t r = in->rng >> 16;
  size_t n;
  switch (r & 3) {
  case 0:
    n = 1;
    break;
  case 1:
    n = 1 + (r >> 2) % 16;
    break;
  default: /* the rest; for 3, only up to the line end (below) */
    n = left;
    break;
  }
  if (n > left)
    n = left;
  if (in->lines || (r & 3) == 3) {
    const uint8_t *lf = memchr(in->data + in->pos, '\n', n);
    if (lf)
      n = (size_t)(lf - (in->data + in->pos)) + 1;
  }
  *piece = in->data + in->pos;
  in->pos += n;
  return n;
}

/* A failed check is a finding: abort so libFuzzer reports it. */
#define FZ_ASSERT(cond)                                                       \
  do {                                                                        \
    if (!(cond))                                                              \
      abort();                                                                \
  } while (0)

#endif
