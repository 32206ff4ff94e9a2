/* error.c - base codes, extended numbers and the ErrorInfo record. */
#include "internal.h"

#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *mw_version(void) {
  return MW_VERSION_STRING;
}

struct base_entry {
  int code;
  const char *name;
  const char *text;
};

static const struct base_entry base_table[] = {
#define MW_X_(sym, num, name, text) {num, #sym, text},
    MW_BASE_ERROR_MAP(MW_X_)
#undef MW_X_
};

struct eex_entry {
  int number;
  int base;
  const char *name;
  const char *text;
};

static const struct eex_entry eex_table[] = {
#define MW_X_(sym, num, base, text) {num, base, #sym, text},
    MW_EXTENDED_ERROR_MAP(MW_X_)
#undef MW_X_
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const struct base_entry *find_base(int code) {
  for (size_t i = 0; i < COUNT(base_table); i++)
    if (base_table[i].code == code)
      return &base_table[i];
  return NULL;
}

static const struct eex_entry *find_eex(int number) {
  for (size_t i = 0; i < COUNT(eex_table); i++)
    if (eex_table[i].number == number)
      return &eex_table[i];
  return NULL;
}

const char *mw_err_name(int code) {
  const struct base_entry *b = find_base(code);
  return b ? b->name : "errUnknown";
}

const char *mw_err_text(int code) {
  const struct base_entry *b = find_base(code);
  return b ? b->text : "unknown error code";
}

const char *mw_eex_name(int number) {
  const struct eex_entry *x = find_eex(number);
  return x ? x->name : "eexUnknown";
}

const char *mw_eex_text(int number) {
  const struct eex_entry *x = find_eex(number);
  return x ? x->text : "Unknown extended error number";
}

int mw_eex_base(int number) {
  const struct eex_entry *x = find_eex(number);
  return x ? x->base : errProtocol;
}

/* ---- the record ---- */

void mw_error_init(mw_errorinfo *e) {
  memset(e, 0, sizeof *e);
}

void mw_error_clear(mw_errorinfo *e) {
  free(e->server_text);
  mw_error_init(e);
}

/* What os_error holds: getaddrinfo's code with eexDNS; an OpenSSL packed
 * code (library << 23 | reason, or the system flag) at or above 1 << 23,
 * far above any errno; else errno. */
static int os_kind(int number, long os_error) {
  if (os_error == 0)
    return MW_OS_ERROR_NONE;
  if (number == eexDNS)
    return MW_OS_ERROR_RESOLVER;
  if (os_error >= (1L << 23))
    return MW_OS_ERROR_OPENSSL;
  return MW_OS_ERROR_ERRNO;
}

/* "error:0A000086:SSL routines::certificate verify failed": what follows
 * the code. */
static const char *openssl_reason(long code, char *buf, size_t len) {
  /* The reason strings (once; thread-safe), else "reason(134)". */
  OPENSSL_init_ssl(
      OPENSSL_INIT_LOAD_SSL_STRINGS | OPENSSL_INIT_LOAD_CRYPTO_STRINGS, NULL);
  ERR_error_string_n((unsigned long)code, buf, len);
  const char *p = strchr(buf, ':');
  p = p ? strchr(p + 1, ':') : NULL;
  return p ? p + 1 : buf;
}

static void label_os_error(mw_errorinfo *e) {
  e->os_kind = os_kind(e->number, e->os_error);
  char why[200];
  switch (e->os_kind) {
  case MW_OS_ERROR_OPENSSL:
    snprintf(e->os_text, sizeof e->os_text, "OpenSSL error %08lX (%s)",
             (unsigned long)e->os_error,
             openssl_reason(e->os_error, why, sizeof why));
    break;
  case MW_OS_ERROR_RESOLVER:
    snprintf(e->os_text, sizeof e->os_text, "resolver error %ld (%s)",
             e->os_error, gai_strerror((int)e->os_error));
    break;
  case MW_OS_ERROR_ERRNO:
    snprintf(e->os_text, sizeof e->os_text, "errno %ld (%s)", e->os_error,
             strerror((int)e->os_error));
    break;
  default:
    e->os_text[0] = '\0';
  }
}

int mw_error_vset(mw_errorinfo *e, int number, long os_error, const char *fmt,
                  va_list ap) {
  mw_error_clear(e);
  e->number = number;
  e->code = mw_eex_base(number);
  e->os_error = os_error;
  label_os_error(e);
  if (fmt)
    vsnprintf(e->text, sizeof e->text, fmt, ap);
  else
    snprintf(e->text, sizeof e->text, "%s", mw_eex_text(number));
  return e->code;
}

int mw_error_set(mw_errorinfo *e, int number, long os_error, const char *fmt,
                 ...) {
  va_list ap;
  va_start(ap, fmt);
  int rc = mw_error_vset(e, number, os_error, fmt, ap);
  va_end(ap);
  return rc;
}

int mw_error_server(mw_errorinfo *e, int number, int reply_code,
                    const char *enhanced, const char *server_text,
                    const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  mw_error_vset(e, number, 0, fmt, ap);
  va_end(ap);
  e->reply_code = reply_code;
  snprintf(e->enhanced, sizeof e->enhanced, "%s", enhanced ? enhanced : "");
  e->server_text = mw_strdup(server_text ? server_text : "");
  return e->code;
}

void mw_error_set_code(mw_errorinfo *e, int code) {
  e->code = code;
}

void mw_error_copy(mw_errorinfo *dst, const mw_errorinfo *src) {
  if (dst == src)
    return;
  mw_error_clear(dst);
  *dst = *src;
  dst->server_text = mw_strdup(src->server_text);
}

/* ---- accessors ---- */

int mw_errorinfo_code(const mw_errorinfo *e) {
  return e ? e->code : errInvalidArgument;
}

int mw_errorinfo_number(const mw_errorinfo *e) {
  return e ? e->number : eexInvalidArgument;
}

const char *mw_errorinfo_text(const mw_errorinfo *e) {
  if (!e)
    return "no ErrorInfo (NULL handle)";
  return e->text;
}

long mw_errorinfo_os_error(const mw_errorinfo *e) {
  return e ? e->os_error : 0;
}

int mw_errorinfo_reply_code(const mw_errorinfo *e) {
  return e ? e->reply_code : 0;
}

const char *mw_errorinfo_enhanced_status(const mw_errorinfo *e) {
  return e ? e->enhanced : "";
}

const char *mw_errorinfo_server_text(const mw_errorinfo *e) {
  return e && e->server_text ? e->server_text : "";
}

int mw_errorinfo_os_error_kind(const mw_errorinfo *e) {
  return e ? e->os_kind : MW_OS_ERROR_NONE;
}

const char *mw_errorinfo_os_error_text(const mw_errorinfo *e) {
  return e ? e->os_text : "";
}

long mw_errorinfo_verify_result(const mw_errorinfo *e) {
  return e ? e->verify : 0;
}
