/* io.c - the caller-driven session (mailwire.h, "Without blocking").
 * Stub definitions: the state machine lands in the following commits. */
#include "internal.h"

#pragma GCC diagnostic ignored "-Wunused-parameter"

#define STUB_INT(name, args)                                                  \
  int name args {                                                             \
    return errUnsupported;                                                    \
  }

mw_io *mw_smtp_io(mw_smtp *c) {
  (void)c;
  return NULL;
}
mw_io *mw_pop3_io(mw_pop3 *c) {
  (void)c;
  return NULL;
}
mw_io_want mw_io_next(mw_io *io) {
  (void)io;
  return MW_IO_DONE;
}
int mw_io_timeout_ms(const mw_io *io) {
  (void)io;
  return -1;
}
int mw_io_result(const mw_io *io) {
  (void)io;
  return errUnsupported;
}
void mw_io_cancel(mw_io *io) {
  (void)io;
}
int mw_io_closed(const mw_io *io) {
  (void)io;
  return 1;
}
const char *mw_io_host(const mw_io *io) {
  (void)io;
  return "";
}
unsigned mw_io_port(const mw_io *io) {
  (void)io;
  return 0;
}
#define U (void)
int mw_io_connected(mw_io *io, const char *peer) {
  U io, U peer;
  return errUnsupported;
}
int mw_io_connect_failed(mw_io *io, int e, int eex) {
  U io, U e, U eex;
  return errUnsupported;
}
const void *mw_io_output(mw_io *io, size_t *len) {
  U io;
  if (len)
    *len = 0;
  return NULL;
}
int mw_io_written(mw_io *io, size_t n) {
  U io, U n;
  return errUnsupported;
}
int mw_io_feed(mw_io *io, const void *d, size_t n) {
  U io, U d, U n;
  return errUnsupported;
}
int mw_io_failed(mw_io *io, int e, int eex) {
  U io, U e, U eex;
  return errUnsupported;
}
int mw_io_body(mw_io *io, const void *d, size_t n) {
  U io, U d, U n;
  return errUnsupported;
}
int mw_io_piece(mw_io *io, size_t *i, unsigned long *m, const char **d,
                size_t *n, int *end) {
  U io, U i, U m, U d, U n, U end;
  return errUnsupported;
}
int mw_io_delivered(mw_io *io) {
  U io;
  return errUnsupported;
}
int mw_io_fetch_request(mw_io *io, const char **url, const unsigned char **b,
                        size_t *n) {
  U io, U url, U b, U n;
  return errUnsupported;
}
int mw_io_fetched(mw_io *io, int st, const void *b, size_t n) {
  U io, U st, U b, U n;
  return errUnsupported;
}
int mw_io_fetch_failed(mw_io *io, const char *r) {
  U io, U r;
  return errUnsupported;
}
int mw_smtp_begin_connect(mw_smtp *c) {
  U c;
  return errUnsupported;
}
int mw_smtp_begin_send(mw_smtp *c, const char *f, const char *const *r,
                       size_t n, const char *m, size_t l) {
  U c, U f, U r, U n, U m, U l;
  return errUnsupported;
}
int mw_smtp_begin_send_stream(mw_smtp *c, const char *f, const char *const *r,
                              size_t n, uint64_t h, int fl) {
  U c, U f, U r, U n, U h, U fl;
  return errUnsupported;
}
int mw_smtp_begin_send_batch(mw_smtp *c, const mw_smtp_message *m, size_t n) {
  U c, U m, U n;
  return errUnsupported;
}
STUB_INT(mw_smtp_begin_noop, (mw_smtp * c))
STUB_INT(mw_smtp_begin_rset, (mw_smtp * c))
STUB_INT(mw_smtp_begin_quit, (mw_smtp * c))
STUB_INT(mw_pop3_begin_connect, (mw_pop3 * c))
STUB_INT(mw_pop3_begin_stat, (mw_pop3 * c))
STUB_INT(mw_pop3_begin_list, (mw_pop3 * c))
STUB_INT(mw_pop3_begin_uidl, (mw_pop3 * c))
STUB_INT(mw_pop3_begin_noop, (mw_pop3 * c))
STUB_INT(mw_pop3_begin_rset, (mw_pop3 * c))
STUB_INT(mw_pop3_begin_quit, (mw_pop3 * c))
int mw_pop3_stat_result(const mw_pop3 *c, unsigned long *count,
                        uint64_t *octets) {
  return errUnsupported;
}
STUB_INT(mw_pop3_begin_list_one, (mw_pop3 * c, unsigned long m))
STUB_INT(mw_pop3_begin_uidl_one, (mw_pop3 * c, unsigned long m))
uint64_t mw_pop3_one_size(const mw_pop3 *c) {
  return 0;
}
const char *mw_pop3_one_uid(const mw_pop3 *c) {
  return "";
}
STUB_INT(mw_pop3_begin_dele, (mw_pop3 * c, unsigned long m))
STUB_INT(mw_pop3_begin_retr, (mw_pop3 * c, unsigned long m))
STUB_INT(mw_pop3_begin_top, (mw_pop3 * c, unsigned long m, unsigned long l))
STUB_INT(mw_pop3_begin_retr_batch,
         (mw_pop3 * c, const unsigned long *m, size_t n))
STUB_INT(mw_pop3_begin_top_batch,
         (mw_pop3 * c, const unsigned long *m, size_t n, unsigned long l))
STUB_INT(mw_pop3_begin_dele_batch,
         (mw_pop3 * c, const unsigned long *m, size_t n))
STUB_INT(mw_pop3_begin_list_batch,
         (mw_pop3 * c, const unsigned long *m, size_t n))
STUB_INT(mw_pop3_begin_uidl_batch,
         (mw_pop3 * c, const unsigned long *m, size_t n))
