/*
 * swig/lua/mailwire.i - the Lua entry of the SWIG interface.
 *
 * Builds the raw module "mailwire.core" (luaopen_mailwire_core): the flat C
 * API and every constant of mailwire.h, plus the hand-written glue of
 * bindings/lua/mwlua_glue.c (handles, lifetimes, callbacks). The idiomatic
 * API is bindings/lua/mailwire.lua; scripts never use this module directly.
 *
 * Handles are passed to the flat functions as light userdata obtained from
 * the glue (SWIG accepts them for any pointer type), so the glue alone owns
 * and frees them.
 */
%module mailwire_core

%{
#include <stdlib.h>
#include <string.h>
#include "mwlua_glue.h"
%}

/* ---- the named typemaps that ../mailwire.i asks for ---- */

/* Bytes in: any byte, NUL included; the length comes from Lua. */
%typemap(in) (const char *MW_BYTES_IN, size_t MW_BYTES_IN_LEN) {
  if (lua_type(L, $input) != LUA_TSTRING)
    SWIG_fail_arg("$symname", $argnum, "string");
  $1 = ($1_ltype)lua_tolstring(L, $input, &$2);
}

/* A list of text strings: a sequence of strings without NUL. The strings
 * stay alive because the table holding them is an argument of the call. */
%typemap(in) (const char *const *MW_STRLIST, size_t MW_STRLIST_LEN)
    (const char **mwlist = NULL) {
  if (!lua_istable(L, $input))
    SWIG_fail_arg("$symname", $argnum, "table of strings");
  $2 = (size_t)lua_rawlen(L, $input);
  mwlist = (const char **)calloc($2 ? $2 : 1, sizeof(*mwlist));
  if (!mwlist) {
    SWIG_Lua_pusherrstring(L, "mailwire: out of memory");
    SWIG_fail;
  }
  for (size_t i = 0; i < $2; i++) {
    size_t n = 0;
    lua_rawgeti(L, $input, (lua_Integer)(i + 1));
    const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &n)
                                                   : NULL;
    lua_pop(L, 1);
    if (!s || strlen(s) != n) {
      SWIG_Lua_pusherrstring(L, "mailwire: a list item is not a string or "
                                "holds a NUL byte");
      SWIG_fail;
    }
    mwlist[i] = s;
  }
  $1 = ($1_ltype)mwlist;
}
%typemap(freearg) (const char *const *MW_STRLIST, size_t MW_STRLIST_LEN) {
  free((void *)mwlist$argnum);
}

/* A list of integers. */
%typemap(in) (const long *MW_LONGLIST, size_t MW_LONGLIST_LEN)
    (long *mwlongs = NULL) {
  if (!lua_istable(L, $input))
    SWIG_fail_arg("$symname", $argnum, "table of integers");
  $2 = (size_t)lua_rawlen(L, $input);
  mwlongs = (long *)calloc($2 ? $2 : 1, sizeof(*mwlongs));
  if (!mwlongs) {
    SWIG_Lua_pusherrstring(L, "mailwire: out of memory");
    SWIG_fail;
  }
  for (size_t i = 0; i < $2; i++) {
    lua_rawgeti(L, $input, (lua_Integer)(i + 1));
    int ok = lua_type(L, -1) == LUA_TNUMBER;
    mwlongs[i] = ok ? (long)lua_tonumber(L, -1) : 0;
    lua_pop(L, 1);
    if (!ok) {
      SWIG_Lua_pusherrstring(L, "mailwire: a list item is not a number");
      SWIG_fail;
    }
  }
  $1 = mwlongs;
}
%typemap(freearg) (const long *MW_LONGLIST, size_t MW_LONGLIST_LEN) {
  free(mwlongs$argnum);
}

/* A list of integers out: the values read back, as a sequence. */
%typemap(in, numinputs=0) (long *MW_LONGLIST_OUT, size_t MW_LONGLIST_OUT_CAP,
                           size_t *MW_LONGLIST_OUT_LEN)
    (long mwvals[MW_LONGLIST_OUT_MAX], size_t mwcount = 0) {
  $1 = mwvals;
  $2 = MW_LONGLIST_OUT_MAX;
  $3 = &mwcount;
}
%typemap(argout) (long *MW_LONGLIST_OUT, size_t MW_LONGLIST_OUT_CAP,
                  size_t *MW_LONGLIST_OUT_LEN) {
  size_t mwk = *$3 < $2 ? *$3 : $2;
  lua_createtable(L, (int)mwk, 0);
  for (size_t i = 0; i < mwk; i++) {
    lua_pushinteger(L, (lua_Integer)$1[i]);
    lua_rawseti(L, -2, (lua_Integer)(i + 1));
  }
  SWIG_arg++;
}

/* A list of message numbers: whole numbers in 0 .. 2^32-1 (the core
 * refuses 0 with errInvalidArgument). */
%typemap(in) (const unsigned long *MW_ULONGLIST, size_t MW_ULONGLIST_LEN)
    (unsigned long *mwulongs = NULL) {
  if (!lua_istable(L, $input))
    SWIG_fail_arg("$symname", $argnum, "table of message numbers");
  $2 = (size_t)lua_rawlen(L, $input);
  mwulongs = (unsigned long *)calloc($2 ? $2 : 1, sizeof(*mwulongs));
  if (!mwulongs) {
    SWIG_Lua_pusherrstring(L, "mailwire: out of memory");
    SWIG_fail;
  }
  for (size_t i = 0; i < $2; i++) {
    lua_rawgeti(L, $input, (lua_Integer)(i + 1));
    lua_Number v = lua_tonumber(L, -1);
    int ok = lua_type(L, -1) == LUA_TNUMBER && v >= 0 && v <= 4294967295.0 &&
             v == (lua_Number)(unsigned long)v;
    mwulongs[i] = ok ? (unsigned long)v : 0;
    lua_pop(L, 1);
    if (!ok) {
      SWIG_Lua_pusherrstring(L, "mailwire: a message number is not a whole "
                                "number");
      SWIG_fail;
    }
  }
  $1 = mwulongs;
}
%typemap(freearg) (const unsigned long *MW_ULONGLIST, size_t MW_ULONGLIST_LEN) {
  free(mwulongs$argnum);
}

/* A list of messages: a sequence of {sender, {recipients...}, data}. The
 * strings stay alive because the table holding them is an argument of the
 * call; the Lua layer builds these triples from its named form. */
%typemap(in) (const mw_smtp_message *MW_MSGLIST, size_t MW_MSGLIST_LEN)
    (mw_smtp_message *mwmsgs = NULL, const char **mwrcpts = NULL) {
  if (!lua_istable(L, $input))
    SWIG_fail_arg("$symname", $argnum, "table of messages");
  $2 = (size_t)lua_rawlen(L, $input);
  size_t mwtotal = 0;
  const char *mwbad = NULL;
  /* Pass 1: shapes and the number of recipients. */
  for (size_t i = 0; i < $2 && !mwbad; i++) {
    lua_rawgeti(L, $input, (lua_Integer)(i + 1));
    if (!lua_istable(L, -1)) {
      mwbad = "a message is not a {sender, recipients, data} table";
    } else {
      lua_rawgeti(L, -1, 1);
      lua_rawgeti(L, -2, 2);
      lua_rawgeti(L, -3, 3);
      if (lua_type(L, -3) != LUA_TSTRING || !lua_istable(L, -2) ||
          lua_type(L, -1) != LUA_TSTRING)
        mwbad = "a message is not a {sender, recipients, data} table";
      else
        mwtotal += (size_t)lua_rawlen(L, -2);
      lua_pop(L, 3);
    }
    lua_pop(L, 1);
  }
  if (!mwbad) {
    mwmsgs = (mw_smtp_message *)calloc($2 ? $2 : 1, sizeof(*mwmsgs));
    mwrcpts = (const char **)calloc(mwtotal ? mwtotal : 1, sizeof(*mwrcpts));
    if (!mwmsgs || !mwrcpts)
      mwbad = "mailwire: out of memory";
  }
  /* Pass 2: point the structs into the strings. */
  const char **mwnext = mwrcpts;
  for (size_t i = 0; i < $2 && !mwbad; i++) {
    mw_smtp_message *m = &mwmsgs[i];
    size_t len = 0;
    lua_rawgeti(L, $input, (lua_Integer)(i + 1));
    lua_rawgeti(L, -1, 1);
    m->from = lua_tolstring(L, -1, &len);
    if (strlen(m->from) != len)
      mwbad = "mailwire: a NUL byte inside a sender is refused";
    lua_pop(L, 1);
    lua_rawgeti(L, -1, 3);
    m->data = lua_tolstring(L, -1, &m->len);
    lua_pop(L, 1);
    lua_rawgeti(L, -1, 2);
    m->rcpts = mwnext;
    m->nrcpts = (size_t)lua_rawlen(L, -1);
    for (size_t j = 0; j < m->nrcpts && !mwbad; j++) {
      lua_rawgeti(L, -1, (lua_Integer)(j + 1));
      const char *s = lua_type(L, -1) == LUA_TSTRING
                          ? lua_tolstring(L, -1, &len) : NULL;
      if (!s || strlen(s) != len)
        mwbad = "mailwire: a recipient is not a string or holds a NUL byte";
      *mwnext++ = s;
      lua_pop(L, 1);
    }
    lua_pop(L, 2);
  }
  if (mwbad) {
    SWIG_Lua_pusherrstring(L, mwbad);
    SWIG_fail;
  }
  $1 = mwmsgs;
}
%typemap(freearg) (const mw_smtp_message *MW_MSGLIST, size_t MW_MSGLIST_LEN) {
  free(mwmsgs$argnum);
  free((void *)mwrcpts$argnum);
}

/* Bytes out, allocated by the library: becomes a Lua string (or nil). */
%typemap(in, numinputs=0) (char **MW_BYTES_OUT, size_t *MW_BYTES_OUT_LEN)
    (char *mwbuf = NULL, size_t mwbuflen = 0) {
  $1 = &mwbuf;
  $2 = &mwbuflen;
}
%typemap(argout) (char **MW_BYTES_OUT, size_t *MW_BYTES_OUT_LEN) {
  if (mwbuf$argnum)
    lua_pushlstring(L, mwbuf$argnum, mwbuflen$argnum);
  else
    lua_pushnil(L);
  SWIG_arg++;
}
%typemap(freearg) (char **MW_BYTES_OUT, size_t *MW_BYTES_OUT_LEN) {
  mw_free(mwbuf$argnum);
}

/* A string out, owned by the handle: copied into a Lua string (or nil). */
%typemap(in, numinputs=0) const char **MW_STR_OUT (const char *mwstr = NULL) {
  $1 = ($1_ltype)&mwstr;
}
%typemap(argout) const char **MW_STR_OUT {
  lua_pushstring(L, *$1);
  SWIG_arg++;
}

/* Integer results stay Lua integers (5.3+), not floats. */
%typemap(out) int, long, unsigned, unsigned long, size_t, uint64_t, mw_err,
    mw_eex {
  lua_pushinteger(L, (lua_Integer)$1);
  SWIG_arg++;
}

/* Plain text arguments (host, address, user ...): nil passes NULL; a NUL
 * byte inside is refused, never silently cut (the Lua layer refuses it
 * first with a proper error object; this is the safety net). */
%typemap(in, checkfn="SWIG_lua_isnilstring", fragment="SWIG_lua_isnilstring")
    const char * {
  size_t mwlen = 0;
  $1 = ($1_ltype)lua_tolstring(L, $input, &mwlen);
  if ($1 && strlen($1) != mwlen) {
    SWIG_Lua_pusherrstring(L, "mailwire: a NUL byte inside a text argument "
                              "is refused");
    SWIG_fail;
  }
}

%include "../mailwire.i"

/* ---- the hand-written glue (bindings/lua/mwlua_glue.c) ---- */
%native(handle_new) int mwlua_handle_new(lua_State *L);
%native(loghandler_new) int mwlua_loghandler_new(lua_State *L);
%native(loghandler_set_function) int mwlua_loghandler_set_function(lua_State *L);
%native(loghandler_log) int mwlua_loghandler_log(lua_State *L);
%native(handle_ptr) int mwlua_handle_ptr(lua_State *L);
%native(handle_kind) int mwlua_handle_kind(lua_State *L);
%native(handle_close) int mwlua_handle_close(lua_State *L);
%native(handle_invoke) int mwlua_handle_invoke(lua_State *L);
%native(client_set_handler) int mwlua_client_set_handler(lua_State *L);
%native(client_clear_handlers) int mwlua_client_clear_handlers(lua_State *L);
%native(smtp_send_stream) int mwlua_smtp_send_stream(lua_State *L);
%native(pop3_retr_stream) int mwlua_pop3_retr_stream(lua_State *L);
%native(pop3_retr_batch) int mwlua_pop3_retr_batch(lua_State *L);
