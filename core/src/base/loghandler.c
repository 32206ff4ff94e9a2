/* loghandler.c - LogHandler: level and facility filters over a callback.
 * Protocol lines are escaped and cut, and secrets are cut before they can
 * reach the callback. One LogHandler may serve clients on several threads:
 * the callback is then called from those threads at once (each message is
 * formatted in the caller's stack), the filters are atomic, and nothing
 * here holds a lock while the callback runs. */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MW_LOG_LINE_MAX 512

mw_loghandler *mw_loghandler_new(mw_log_cb cb, void *userdata) {
  mw_loghandler *lh = calloc(1, sizeof *lh);
  if (!lh)
    return NULL;
  mw_hdr_init(&lh->hdr, MW_MAGIC_LOG);
  lh->cb = cb;
  lh->userdata = userdata;
  atomic_init(&lh->level, LOG_S_INFORMATION);
  atomic_init(&lh->facilities, LOG_F_ALL);
  return lh;
}

void mw_loghandler_ref(mw_loghandler *lh) {
  if (lh)
    mw_hdr_ref(&lh->hdr);
}

void mw_loghandler_free(mw_loghandler *lh) {
  if (!lh || !mw_hdr_unref(&lh->hdr))
    return;
  if (lh->release_ud)
    lh->release_ud(lh->userdata);
  lh->hdr.magic = 0;
  free(lh);
}

int mw_loghandler_set_level(mw_loghandler *lh, int level) {
  if (!lh || level < LOG_S_FATAL || level > LOG_S_INFORMATION)
    return errInvalidArgument;
  atomic_store(&lh->level, level);
  return MW_OK;
}

int mw_loghandler_level(const mw_loghandler *lh) {
  return lh ? atomic_load(&lh->level) : 0;
}

int mw_loghandler_set_facility_flags(mw_loghandler *lh, int flags) {
  if (!lh || (flags & ~LOG_F_ALL))
    return errInvalidArgument;
  atomic_store(&lh->facilities, flags);
  return MW_OK;
}

int mw_loghandler_facility_flags(const mw_loghandler *lh) {
  return lh ? atomic_load(&lh->facilities) : 0;
}

int mw_log_enabled(const mw_loghandler *lh, int severity, int facility) {
  return lh && lh->cb && severity <= atomic_load(&lh->level) &&
         (atomic_load(&lh->facilities) & facility) != 0;
}

static void deliver(mw_loghandler *lh, int severity, int facility,
                    const char *msg) {
  lh->cb(lh->userdata, severity, facility, msg);
}

void mw_log(mw_loghandler *lh, int severity, int facility, const char *fmt,
            ...) {
  if (!mw_log_enabled(lh, severity, facility))
    return;
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  deliver(lh, severity, facility, msg);
}

void mw_loghandler_log(mw_loghandler *lh, int severity, const char *message) {
  if (message && mw_log_enabled(lh, severity, LOG_F_USER))
    deliver(lh, severity, LOG_F_USER, message);
}

/* Escape control bytes so a hostile server cannot forge log lines. */
static size_t escape_into(char *dst, size_t cap, const char *src, size_t len) {
  static const char hex[] = "0123456789abcdef";
  size_t o = 0;
  for (size_t i = 0; i < len && o + 5 < cap; i++) {
    unsigned char c = (unsigned char)src[i];
    if (c >= 0x20 && c != 0x7f) {
      dst[o++] = (char)c;
    } else {
      dst[o++] = '\\';
      dst[o++] = 'x';
      dst[o++] = hex[c >> 4];
      dst[o++] = hex[c & 15];
    }
  }
  dst[o] = '\0';
  return o;
}

/* "C: <escaped line, at most MW_LOG_LINE_MAX bytes>"; returns its length. */
static size_t format_line(char *msg, size_t cap, char dir, const char *line,
                          size_t len) {
  msg[0] = dir;
  msg[1] = ':';
  msg[2] = ' ';
  size_t shown = len > MW_LOG_LINE_MAX ? MW_LOG_LINE_MAX : len;
  return 3 + escape_into(msg + 3, cap - 3, line, shown);
}

void mw_log_line(mw_loghandler *lh, char dir, const char *line, size_t len) {
  if (!mw_log_enabled(lh, LOG_S_INFORMATION, LOG_F_PROTOCOL))
    return;
  char msg[MW_LOG_LINE_MAX * 4 + 32];
  size_t o = format_line(msg, sizeof msg, dir, line, len);
  if (len > MW_LOG_LINE_MAX)
    snprintf(msg + o, sizeof msg - o, "... (%zu bytes)", len);
  deliver(lh, LOG_S_INFORMATION, LOG_F_PROTOCOL, msg);
}

void mw_log_line_redacted(mw_loghandler *lh, char dir, const char *line,
                          size_t keep) {
  if (!mw_log_enabled(lh, LOG_S_INFORMATION, LOG_F_PROTOCOL))
    return;
  size_t len = strlen(line);
  char msg[MW_LOG_LINE_MAX * 4 + 32];
  size_t o = format_line(msg, sizeof msg, dir, line, keep < len ? keep : len);
  snprintf(msg + o, sizeof msg - o, "%s<redacted>",
           o > 3 && msg[o - 1] != ' ' ? " " : "");
  deliver(lh, LOG_S_INFORMATION, LOG_F_PROTOCOL, msg);
}
