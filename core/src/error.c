/* error.c - base codes, extended numbers and the ErrorInfo record. */
#include "internal.h"

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

int mw_error_vset(mw_errorinfo *e, int number, long os_error, const char *fmt,
                  va_list ap) {
  mw_error_clear(e);
  e->number = number;
  e->code = mw_eex_base(number);
  e->os_error = os_error;
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

long mw_errorinfo_verify_result(const mw_errorinfo *e) {
  return e ? e->verify : 0;
}
