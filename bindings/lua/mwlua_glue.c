/*
 * mwlua_glue.c - the hand-written part of the Lua module (see mwlua_glue.h).
 *
 * Rules kept here (notes/style-anchors.md 2.8 and 3):
 * - One userdata type owns every C handle; one idempotent destroy serves
 *   close(), __gc and __close. A handle closed during its own blocking call
 *   is freed when that call returns.
 * - Lua is never entered unprotected while the C core is on the C stack:
 *   every callback runs under lua_pcall; an error is stashed, the core is
 *   told to stop (cancel, or -1 from a stream callback), and the error is
 *   handed back to the Lua layer after the core returned.
 * - LogHandler functions live in the registry (luaL_ref), released on
 *   replacement and on destroy, and run on the main thread (Lua 5.2+).
 */
#include "mwlua_glue.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- Lua 5.1 / LuaJIT compatibility ---- */
#ifndef LUA_OK
#define LUA_OK 0
#endif
#if LUA_VERSION_NUM >= 504
#define mwlua_newud(L, sz) lua_newuserdatauv((L), (sz), 1)
#define mwlua_setuv(L, idx) lua_setiuservalue((L), (idx), 1)
#define mwlua_getuv(L, idx) ((void)lua_getiuservalue((L), (idx), 1))
#elif LUA_VERSION_NUM >= 502
#define mwlua_newud(L, sz) lua_newuserdata((L), (sz))
#define mwlua_setuv(L, idx) lua_setuservalue((L), (idx))
#define mwlua_getuv(L, idx) ((void)lua_getuservalue((L), (idx)))
#else
#define mwlua_newud(L, sz) lua_newuserdata((L), (sz))
#define mwlua_setuv(L, idx) lua_setfenv((L), (idx))
#define mwlua_getuv(L, idx) lua_getfenv((L), (idx))
#define lua_rawlen(L, idx) lua_objlen((L), (idx))
#endif

#define MWLUA_HANDLE_MT "mailwire.core.handle"

enum { MWLUA_SMTP = 1, MWLUA_POP3, MWLUA_SSL, MWLUA_LOG, MWLUA_PROXY };
static const char *const mwlua_kind_names[] = {"smtp", "pop3",  "ssl",
                                               "log",  "proxy", NULL};

typedef struct mwlua_handle mwlua_handle;
struct mwlua_handle {
  int kind;
  void *h;           /* the C handle; NULL once closed */
  int busy;          /* a blocking call (or a log call) runs on it */
  int close_pending; /* close() was asked during that call */
  /* LogHandler only */
  int fnref;             /* the Lua function */
  int active;            /* calls running that may deliver messages */
  lua_State *cb_L;       /* where the function runs while active */
  mwlua_handle *running; /* the client whose call runs: cancelled on error */
  int in_callback;       /* no re-entry while the function runs */
  int failed;            /* the function raised during this call */
  int errref;            /* what it raised, or LUA_NOREF */
};

/* ---- small helpers ---- */

static mwlua_handle *mwlua_check(lua_State *L, int idx) {
  return (mwlua_handle *)luaL_checkudata(L, idx, MWLUA_HANDLE_MT);
}

static mwlua_handle *mwlua_check_kind(lua_State *L, int idx, int kind) {
  mwlua_handle *h = mwlua_check(L, idx);
  if (h->kind != kind)
    luaL_argerror(L, idx, "wrong kind of mailwire handle");
  return h;
}

static int mwlua_is_client(const mwlua_handle *h) {
  return h->kind == MWLUA_SMTP || h->kind == MWLUA_POP3;
}

static void mwlua_cancel(mwlua_handle *c) {
  if (!c->h)
    return;
  if (c->kind == MWLUA_SMTP)
    mw_smtp_cancel((mw_smtp *)c->h);
  else if (c->kind == MWLUA_POP3)
    mw_pop3_cancel((mw_pop3 *)c->h);
}

/* The thread LogHandler functions run on. Lua 5.2+: the main thread, which
 * lives as long as the state (a coroutine may be collected). Lua 5.1 has no
 * portable way to reach it: use the thread running the call, which is
 * alive for as long as the callback can happen. */
static lua_State *mwlua_callback_thread(lua_State *L) {
#if LUA_VERSION_NUM >= 502
  lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
  lua_State *main = lua_tothread(L, -1);
  lua_pop(L, 1);
  return main;
#else
  return L;
#endif
}

/* The handler anchored in a client's uservalue under key, or NULL. */
static mwlua_handle *mwlua_anchored(lua_State *L, int idx, const char *key) {
  mwlua_handle *h = NULL;
  mwlua_getuv(L, idx);
  if (lua_istable(L, -1)) {
    lua_getfield(L, -1, key);
    h = (mwlua_handle *)lua_touserdata(L, -1);
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  return h;
}

static void mwlua_unref(lua_State *L, int *ref) {
  if (*ref != LUA_NOREF && *ref != LUA_REFNIL)
    luaL_unref(L, LUA_REGISTRYINDEX, *ref);
  *ref = LUA_NOREF;
}

/* ---- destroy: one idempotent path for close(), __gc and __close ---- */

static void mwlua_free_c_handle(mwlua_handle *h) {
  switch (h->kind) {
  case MWLUA_SMTP:
    mw_smtp_free((mw_smtp *)h->h);
    break;
  case MWLUA_POP3:
    mw_pop3_free((mw_pop3 *)h->h);
    break;
  case MWLUA_SSL:
    mw_sslinfo_free((mw_sslinfo *)h->h);
    break;
  case MWLUA_LOG:
    mw_loghandler_free((mw_loghandler *)h->h);
    break;
  case MWLUA_PROXY:
    mw_proxyinfo_free((mw_proxyinfo *)h->h);
    break;
  }
  h->h = NULL;
}

/* idx is the userdata's stack index (for its uservalue). */
static void mwlua_destroy(lua_State *L, mwlua_handle *h, int idx) {
  if (h->h && (h->busy || h->in_callback)) {
    /* Freeing now would pull the handle from under the running call. */
    h->close_pending = 1;
    mwlua_cancel(h);
    return;
  }
  if (h->h) {
    mwlua_free_c_handle(h);
    /* The C client released its handlers: drop the anchors too. */
    lua_newtable(L);
    mwlua_setuv(L, idx);
  }
  /* A LogHandler freed by a deferred close still holds its function. */
  if (h->kind == MWLUA_LOG) {
    mwlua_unref(L, &h->fnref);
    mwlua_unref(L, &h->errref);
  }
}

static int mwlua_gc(lua_State *L) {
  mwlua_destroy(L, mwlua_check(L, 1), 1);
  return 0;
}

int mwlua_handle_close(lua_State *L) {
  mwlua_handle *h = mwlua_check(L, 1);
  mwlua_destroy(L, h, 1);
  lua_pushboolean(L, h->h == NULL);
  return 1;
}

static int mwlua_tostring(lua_State *L) {
  mwlua_handle *h = mwlua_check(L, 1);
  lua_pushfstring(L, "mailwire.core.handle(%s%s): %p",
                  mwlua_kind_names[h->kind - 1], h->h ? "" : ", closed",
                  (void *)h);
  return 1;
}

/* ---- creation ---- */

static mwlua_handle *mwlua_push_handle(lua_State *L, int kind) {
  mwlua_handle *h = (mwlua_handle *)mwlua_newud(L, sizeof *h);
  memset(h, 0, sizeof *h);
  h->kind = kind;
  h->fnref = LUA_NOREF;
  h->errref = LUA_NOREF;
  if (luaL_newmetatable(L, MWLUA_HANDLE_MT)) {
    lua_pushcfunction(L, mwlua_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, mwlua_gc);
    lua_setfield(L, -2, "__close");
    lua_pushcfunction(L, mwlua_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushliteral(L, "mailwire.core.handle");
    lua_setfield(L, -2, "__metatable");
  }
  lua_setmetatable(L, -2);
  lua_newtable(L);
  mwlua_setuv(L, -2);
  return h;
}

/* handle_new("smtp" | "pop3" | "ssl") -> handle;
 * handle_new("proxy", MW_PROXY_*) -> handle, or nil for an unknown kind */
int mwlua_handle_new(lua_State *L) {
  int kind = luaL_checkoption(L, 1, NULL, mwlua_kind_names) + 1;
  if (kind == MWLUA_LOG)
    return luaL_argerror(L, 1, "use loghandler_new");
  int proxy_kind = kind == MWLUA_PROXY ? (int)luaL_checkinteger(L, 2) : 0;
  mwlua_handle *h = mwlua_push_handle(L, kind);
  if (kind == MWLUA_SMTP)
    h->h = mw_smtp_new();
  else if (kind == MWLUA_POP3)
    h->h = mw_pop3_new();
  else if (kind == MWLUA_PROXY)
    h->h = mw_proxyinfo_new(proxy_kind);
  else
    h->h = mw_sslinfo_new();
  if (!h->h && kind == MWLUA_PROXY) {
    lua_pushnil(L); /* unknown kind: the Lua layer says so */
    return 1;
  }
  if (!h->h)
    return luaL_error(L, "mailwire: out of memory");
  return 1;
}

/* ---- LogHandler ---- */

typedef struct mwlua_log_args {
  mwlua_handle *lg;
  int severity, facility;
  const char *message;
} mwlua_log_args;

/* Runs protected: everything that may allocate or raise is in here. */
static int mwlua_log_call(lua_State *L) {
  mwlua_log_args *a = (mwlua_log_args *)lua_touserdata(L, 1);
  lua_rawgeti(L, LUA_REGISTRYINDEX, a->lg->fnref);
  lua_pushinteger(L, a->severity);
  lua_pushinteger(L, a->facility);
  lua_pushstring(L, a->message);
  lua_call(L, 3, 0);
  return 0;
}

/* Runs protected: keeps the raised value (argument 1) in the registry. */
static int mwlua_log_keep_error(lua_State *L) {
  mwlua_handle *lg = (mwlua_handle *)lua_touserdata(L, 2);
  lua_settop(L, 1);
  lg->errref = luaL_ref(L, LUA_REGISTRYINDEX);
  return 0;
}

/* Call the C function f protected, with the top n values as arguments. */
static int mwlua_pcall_c(lua_State *L, lua_CFunction f, int n) {
  lua_pushcfunction(L, f);
  lua_insert(L, -(n + 1));
  return lua_pcall(L, n, 0, 0);
}

static void mwlua_log_trampoline(void *userdata, int severity, int facility,
                                 const char *message) {
  mwlua_handle *lg = (mwlua_handle *)userdata;
  lua_State *L = lg->cb_L;
  /* Messages outside a Lua call (a handle freed by the collector) and after
   * the function failed once in this call are dropped. */
  if (!L || !lg->active || !lg->h || lg->fnref == LUA_NOREF ||
      lg->in_callback || lg->failed || !lua_checkstack(L, 8))
    return;
  int top = lua_gettop(L);
  mwlua_log_args a = {lg, severity, facility, message ? message : ""};
  lg->in_callback = 1;
  lua_pushlightuserdata(L, &a);
  int st = mwlua_pcall_c(L, mwlua_log_call, 1);
  lg->in_callback = 0;
  if (st != LUA_OK) {
    lg->failed = 1;
    lua_pushlightuserdata(L, lg);
    if (mwlua_pcall_c(L, mwlua_log_keep_error, 2) != LUA_OK)
      lg->errref = LUA_NOREF; /* out of memory: reported generically */
    if (lg->running)
      mwlua_cancel(lg->running);
  }
  lua_settop(L, top);
  if (lg->close_pending && !lg->busy) {
    lg->close_pending = 0;
    mwlua_free_c_handle(lg);
    /* The function and anchors are released when the userdata is closed
     * or collected again (destroy is idempotent on fnref). */
  }
}

static void mwlua_set_function(lua_State *L, mwlua_handle *lg, int idx) {
  luaL_checktype(L, idx, LUA_TFUNCTION);
  lua_pushvalue(L, idx);
  int ref = luaL_ref(L, LUA_REGISTRYINDEX);
  mwlua_unref(L, &lg->fnref);
  lg->fnref = ref;
}

/* loghandler_new(function) -> handle */
int mwlua_loghandler_new(lua_State *L) {
  luaL_checktype(L, 1, LUA_TFUNCTION);
  mwlua_handle *lg = mwlua_push_handle(L, MWLUA_LOG);
  lg->h = mw_loghandler_new(mwlua_log_trampoline, lg);
  if (!lg->h)
    return luaL_error(L, "mailwire: out of memory");
  mwlua_set_function(L, lg, 1);
  return 1;
}

/* loghandler_set_function(handle, function) -> ok */
int mwlua_loghandler_set_function(lua_State *L) {
  mwlua_handle *lg = mwlua_check_kind(L, 1, MWLUA_LOG);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  if (!lg->h) {
    lua_pushboolean(L, 0);
    return 1;
  }
  mwlua_set_function(L, lg, 2);
  lua_pushboolean(L, 1);
  return 1;
}

/* The frame around any call that may deliver log messages. Saved values
 * restore a surrounding call (a callback that uses another client). */
typedef struct mwlua_log_frame {
  mwlua_handle *lg;
  lua_State *cb_L;
  mwlua_handle *running;
  int failed, errref;
} mwlua_log_frame;

static void mwlua_log_begin(lua_State *L, mwlua_log_frame *f, mwlua_handle *lg,
                            mwlua_handle *client) {
  f->lg = lg;
  if (!lg)
    return;
  f->cb_L = lg->cb_L;
  f->running = lg->running;
  f->failed = lg->failed;
  f->errref = lg->errref;
  lg->cb_L = mwlua_callback_thread(L);
  lg->running = client;
  lg->failed = 0;
  lg->errref = LUA_NOREF;
  lg->active++;
}

/* Ends the frame; returns 1 and pushes what the function raised if it
 * failed during the frame. */
static int mwlua_log_end(lua_State *L, mwlua_log_frame *f) {
  mwlua_handle *lg = f->lg;
  if (!lg)
    return 0;
  int failed = lg->failed;
  if (failed) {
    if (lg->errref != LUA_NOREF)
      lua_rawgeti(L, LUA_REGISTRYINDEX, lg->errref);
    else
      lua_pushliteral(L, "mailwire: a LogHandler function failed (out of "
                         "memory)");
    mwlua_unref(L, &lg->errref);
  }
  lg->active--;
  lg->cb_L = f->cb_L;
  lg->running = f->running;
  lg->failed = f->failed;
  lg->errref = f->errref;
  return failed;
}

/* loghandler_log(handle, severity, message) -> true | false, why, err */
int mwlua_loghandler_log(lua_State *L) {
  mwlua_handle *lg = mwlua_check_kind(L, 1, MWLUA_LOG);
  int severity = (int)luaL_checkinteger(L, 2);
  size_t len = 0;
  const char *msg = luaL_checklstring(L, 3, &len);
  if (!lg->h || lg->busy) {
    lua_pushboolean(L, 0);
    lua_pushstring(L, lg->h ? "busy" : "closed");
    return 2;
  }
  mwlua_log_frame f;
  lg->busy = 1;
  mwlua_log_begin(L, &f, lg, NULL);
  mw_loghandler_log((mw_loghandler *)lg->h, severity, msg);
  int failed = mwlua_log_end(L, &f);
  lg->busy = 0;
  if (lg->close_pending) {
    lg->close_pending = 0;
    mwlua_destroy(L, lg, 1);
  }
  if (failed) {
    lua_pushboolean(L, 0);
    lua_pushliteral(L, "callback");
    lua_pushvalue(L, -3);
    return 3;
  }
  lua_pushboolean(L, 1);
  return 1;
}

/* ---- handles: pointers, kinds, handlers ---- */

/* handle_ptr(handle) -> light userdata, or nil once closed */
int mwlua_handle_ptr(lua_State *L) {
  mwlua_handle *h = mwlua_check(L, 1);
  if (h->h)
    lua_pushlightuserdata(L, h->h);
  else
    lua_pushnil(L);
  return 1;
}

/* handle_kind(handle) -> "smtp" | "pop3" | "ssl" | "log", is_open */
int mwlua_handle_kind(lua_State *L) {
  mwlua_handle *h = mwlua_check(L, 1);
  lua_pushstring(L, mwlua_kind_names[h->kind - 1]);
  lua_pushboolean(L, h->h != NULL);
  return 2;
}

/* client_set_handler(client, handler) -> rc | false, why. On success the
 * client anchors the handler's userdata, so the Lua function and the
 * memory the C trampoline uses live as long as the C client holds it. */
int mwlua_client_set_handler(lua_State *L) {
  mwlua_handle *c = mwlua_check(L, 1);
  mwlua_handle *hd = mwlua_check(L, 2);
  if (!mwlua_is_client(c))
    return luaL_argerror(L, 1, "not a client");
  if (hd->kind != MWLUA_SSL && hd->kind != MWLUA_LOG &&
      hd->kind != MWLUA_PROXY)
    return luaL_argerror(L, 2, "not an SSLInfo, LogHandler or ProxyInfo");
  if (!c->h || !hd->h || c->busy) {
    lua_pushboolean(L, 0);
    lua_pushstring(L, c->busy ? "busy" : "closed");
    return 2;
  }
  int rc = c->kind == MWLUA_SMTP ? mw_smtp_set_handler((mw_smtp *)c->h, hd->h)
                                 : mw_pop3_set_handler((mw_pop3 *)c->h, hd->h);
  if (rc == MW_OK) {
    mwlua_getuv(L, 1);
    lua_pushvalue(L, 2);
    lua_setfield(L, -2,
                 hd->kind == MWLUA_SSL     ? "ssl"
                 : hd->kind == MWLUA_PROXY ? "proxy"
                                           : "log");
    lua_pop(L, 1);
  }
  lua_pushinteger(L, rc);
  return 1;
}

/* client_clear_handlers(client) -> true | false, why */
int mwlua_client_clear_handlers(lua_State *L) {
  mwlua_handle *c = mwlua_check(L, 1);
  if (!mwlua_is_client(c))
    return luaL_argerror(L, 1, "not a client");
  if (!c->h || c->busy) {
    lua_pushboolean(L, 0);
    lua_pushstring(L, c->busy ? "busy" : "closed");
    return 2;
  }
  if (c->kind == MWLUA_SMTP)
    mw_smtp_clear_handlers((mw_smtp *)c->h);
  else
    mw_pop3_clear_handlers((mw_pop3 *)c->h);
  lua_newtable(L);
  mwlua_setuv(L, 1);
  lua_pushboolean(L, 1);
  return 1;
}

/* ---- invoke: the frame around every call into the core ---- */

/* After a LogHandler error the operation must end with the connection
 * closed. If the core finished before it saw the cancel, a NOOP consumes
 * the pending cancel: the pump stops before sending anything and closes. */
static void mwlua_finish_abort(mwlua_handle *c) {
  if (!c->h)
    return;
  if (c->kind == MWLUA_SMTP && mw_smtp_is_connected((mw_smtp *)c->h))
    (void)mw_smtp_noop((mw_smtp *)c->h);
  else if (c->kind == MWLUA_POP3 && mw_pop3_is_connected((mw_pop3 *)c->h))
    (void)mw_pop3_noop((mw_pop3 *)c->h);
}

/* handle_invoke(handle, fn, ...) calls fn(ptr, ...) where ptr is the C
 * handle as light userdata, and returns
 *   true, results...          fn returned
 *   false, "closed"|"busy"    fn was not called
 *   false, "error", err       fn raised err
 *   false, "callback", err    a LogHandler function raised err; the
 *                             operation was aborted */
int mwlua_handle_invoke(lua_State *L) {
  mwlua_handle *c = mwlua_check(L, 1);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  int nargs = lua_gettop(L) - 2;
  if (!c->h || c->busy) {
    lua_pushboolean(L, 0);
    lua_pushstring(L, c->busy ? "busy" : "closed");
    return 2;
  }
  luaL_checkstack(L, nargs + 8, "mailwire: too many arguments");
  mwlua_handle *lg = mwlua_is_client(c) ? mwlua_anchored(L, 1, "log") : NULL;
  int base = lua_gettop(L);
  lua_pushvalue(L, 2);
  lua_pushlightuserdata(L, c->h);
  for (int i = 3; i <= 2 + nargs; i++)
    lua_pushvalue(L, i);

  mwlua_log_frame f;
  c->busy = 1;
  mwlua_log_begin(L, &f, lg, c);
  int st = lua_pcall(L, nargs + 1, LUA_MULTRET, 0);
  int failed = mwlua_log_end(L, &f);
  c->busy = 0;
  if (failed) {
    mwlua_finish_abort(c);
  }
  if (c->close_pending) {
    c->close_pending = 0;
    mwlua_destroy(L, c, 1);
  }
  if (failed) {
    lua_pushboolean(L, 0);
    lua_pushliteral(L, "callback");
    lua_pushvalue(L, -3);
    return 3;
  }
  if (st != LUA_OK) {
    lua_pushboolean(L, 0);
    lua_pushliteral(L, "error");
    lua_pushvalue(L, -3);
    return 3;
  }
  int nres = lua_gettop(L) - base;
  lua_pushboolean(L, 1);
  lua_insert(L, base + 1);
  return nres + 1;
}

/* ---- streaming ---- */

/* Reads a sequence of strings at idx into a malloc'd array (the strings
 * stay anchored by the table, an argument of the running call). */
static const char **mwlua_string_list(lua_State *L, int idx, size_t *n) {
  luaL_checktype(L, idx, LUA_TTABLE);
  *n = (size_t)lua_rawlen(L, idx);
  const char **v = (const char **)calloc(*n ? *n : 1, sizeof *v);
  if (!v)
    luaL_error(L, "mailwire: out of memory");
  for (size_t i = 0; i < *n; i++) {
    size_t len = 0;
    lua_rawgeti(L, idx, (int)(i + 1));
    const char *s =
        lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &len) : NULL;
    lua_pop(L, 1);
    if (!s || strlen(s) != len) {
      free((void *)v);
      luaL_argerror(L, idx, "recipients must be strings without NUL");
    }
    v[i] = s;
  }
  return v;
}

/* The source of smtp_send_stream. The trampoline runs inside
 * mwlua_smtp_send_stream's frame, so its stack slots are reachable. */
typedef struct mwlua_source {
  lua_State *L;
  int fn;    /* slot of the source function */
  int chunk; /* slot keeping the current chunk alive */
  int err;   /* slot for what the source raised */
  const char *data;
  size_t len, off;
  int raised;        /* the source raised: value in slot err */
  int bad_type;      /* the source returned something else (a type) */
  long long emptied; /* consecutive empty chunks, bounded */
} mwlua_source;

/* 1 when a chunk is ready, 0 at the end, -1 to abort. */
static int mwlua_source_next(mwlua_source *s) {
  lua_State *L = s->L;
  for (;;) {
    int top = lua_gettop(L);
    lua_pushvalue(L, s->fn);
    if (lua_pcall(L, 0, 2, 0) != LUA_OK) {
      lua_replace(L, s->err);
      lua_settop(L, top);
      s->raised = 1;
      return -1;
    }
    int t1 = lua_type(L, -2), t2 = lua_type(L, -1);
    if (t1 == LUA_TSTRING) {
      s->data = lua_tolstring(L, -2, &s->len);
      s->off = 0;
      lua_pushvalue(L, -2);
      lua_replace(L, s->chunk);
      lua_settop(L, top);
      if (s->len > 0)
        return 1;
      if (++s->emptied > 1000000) {
        s->bad_type = LUA_TSTRING;
        return -1;
      }
      continue;
    }
    lua_settop(L, top);
    if (t1 == LUA_TNIL && t2 == LUA_TNIL)
      return 0; /* the end */
    if (t1 == LUA_TBOOLEAN || t1 == LUA_TNIL)
      return -1; /* false, or nil plus an error: abort */
    s->bad_type = t1;
    return -1;
  }
}

static long mwlua_source_read(void *userdata, char *buf, size_t cap) {
  mwlua_source *s = (mwlua_source *)userdata;
  if (s->off >= s->len) {
    int r = mwlua_source_next(s);
    if (r <= 0)
      return r;
    s->emptied = 0;
  }
  size_t n = s->len - s->off;
  if (n > cap)
    n = cap;
  if (n > (size_t)LONG_MAX)
    n = (size_t)LONG_MAX;
  memcpy(buf, s->data + s->off, n);
  s->off += n;
  return (long)n;
}

/* Pushes the results of a stream call: rc [, raised value | message]. */
static int mwlua_stream_result(lua_State *L, int rc, int raised, int err_slot,
                               int bad_type, const char *what) {
  lua_pushinteger(L, rc);
  if (raised) {
    lua_pushvalue(L, err_slot);
    return 2;
  }
  if (bad_type) {
    lua_pushfstring(L, "mailwire: the %s returned a %s; it must return %s",
                    what, lua_typename(L, bad_type),
                    what[1] == 'o' ? "a string, nil at the end, or false to "
                                     "abort (and not empty strings forever)"
                                   : "true, or false to abort");
    return 2;
  }
  return 1;
}

/* smtp_send_stream(ptr, from, rcpts, size_hint, flags, source)
 *   -> rc [, what the source raised | a message] */
int mwlua_smtp_send_stream(lua_State *L) {
  mw_smtp *c = (mw_smtp *)lua_touserdata(L, 1);
  luaL_argcheck(L, c != NULL, 1, "SMTP handle expected");
  size_t fromlen = 0;
  const char *from = luaL_checklstring(L, 2, &fromlen);
  luaL_argcheck(L, strlen(from) == fromlen, 2, "NUL inside the sender");
  double hint = luaL_optnumber(L, 4, 0);
  int flags = (int)luaL_optinteger(L, 5, 0);
  luaL_checktype(L, 6, LUA_TFUNCTION);
  lua_settop(L, 6);
  luaL_checkstack(L, 16, "mailwire: stack");
  size_t n = 0;
  const char **rcpts = mwlua_string_list(L, 3, &n);
  lua_pushnil(L); /* 7: chunk */
  lua_pushnil(L); /* 8: error */
  mwlua_source s;
  memset(&s, 0, sizeof s);
  s.L = L;
  s.fn = 6;
  s.chunk = 7;
  s.err = 8;
  uint64_t size_hint = hint > 0 ? (uint64_t)hint : 0;
  int rc = mw_smtp_send_stream(c, from, rcpts, n, size_hint, flags,
                               mwlua_source_read, &s);
  free((void *)rcpts);
  return mwlua_stream_result(L, rc, s.raised, 8, s.bad_type, "source");
}

/* The sink of pop3_retr_stream: a closure over the sink function, made
 * before the core runs, so calling it allocates only inside lua_pcall. */
typedef struct mwlua_sink {
  lua_State *L;
  int closure; /* slot of the closure */
  int err;     /* slot for what the sink raised */
  const char *data;
  size_t len;
  int raised;
} mwlua_sink;

static int mwlua_sink_call(lua_State *L) {
  mwlua_sink *s = (mwlua_sink *)lua_touserdata(L, 1);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_pushlstring(L, s->data, s->len);
  lua_call(L, 1, 2);
  return 2;
}

/* Run a sink's closure (stack slot closure) on its state ud: 1 to abort,
 * on an error (kept in slot err, *raised set), an explicit false, or nil
 * plus an error (LTN12); else 0. */
static int mwlua_run_sink(lua_State *L, int closure, void *ud, int err,
                          int *raised) {
  int top = lua_gettop(L);
  lua_pushvalue(L, closure);
  lua_pushlightuserdata(L, ud);
  if (lua_pcall(L, 1, 2, 0) != LUA_OK) {
    lua_replace(L, err);
    lua_settop(L, top);
    *raised = 1;
    return 1;
  }
  int t1 = lua_type(L, -2), t2 = lua_type(L, -1);
  int abort = (t1 == LUA_TBOOLEAN && !lua_toboolean(L, -2)) ||
              (t1 == LUA_TNIL && t2 != LUA_TNIL);
  lua_settop(L, top);
  return abort;
}

static int mwlua_sink_write(void *userdata, const char *data, size_t len) {
  mwlua_sink *s = (mwlua_sink *)userdata;
  s->data = data;
  s->len = len;
  return mwlua_run_sink(s->L, s->closure, s, s->err, &s->raised);
}

/* pop3_retr_stream(ptr, msg, lines, sink): lines < 0 means RETR, else TOP
 *   -> rc [, what the sink raised] */
int mwlua_pop3_retr_stream(lua_State *L) {
  mw_pop3 *c = (mw_pop3 *)lua_touserdata(L, 1);
  luaL_argcheck(L, c != NULL, 1, "POP3 handle expected");
  lua_Number msg = luaL_checknumber(L, 2);
  lua_Number lines = luaL_checknumber(L, 3);
  luaL_checktype(L, 4, LUA_TFUNCTION);
  luaL_argcheck(L, msg >= 1 && msg <= 4294967295.0, 2,
                "message numbers start at 1");
  lua_settop(L, 4);
  luaL_checkstack(L, 16, "mailwire: stack");
  lua_pushvalue(L, 4);
  lua_pushcclosure(L, mwlua_sink_call, 1); /* 5: closure */
  lua_pushnil(L);                          /* 6: error */
  mwlua_sink s;
  memset(&s, 0, sizeof s);
  s.L = L;
  s.closure = 5;
  s.err = 6;
  int rc =
      lines < 0
          ? mw_pop3_retr_stream(c, (unsigned long)msg, mwlua_sink_write, &s)
          : mw_pop3_top_stream(c, (unsigned long)msg, (unsigned long)lines,
                               mwlua_sink_write, &s);
  return mwlua_stream_result(L, rc, s.raised, 6, 0, "sink");
}

/* ---- POP3 batches that stream ---- */

/* The sink of pop3_retr_batch: sink(index, number, chunk), chunk nil after
 * the last piece of a message; a closure made before the core runs, as
 * for pop3_retr_stream. */
typedef struct mwlua_bsink {
  lua_State *L;
  int closure; /* slot of the closure */
  int err;     /* slot for what the sink raised */
  size_t i;
  unsigned long msg;
  const char *data;
  size_t len;
  int end;
  int raised;
} mwlua_bsink;

static int mwlua_bsink_call(lua_State *L) {
  mwlua_bsink *s = (mwlua_bsink *)lua_touserdata(L, 1);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_pushinteger(L, (lua_Integer)s->i + 1);
  lua_pushinteger(L, (lua_Integer)s->msg);
  if (s->end)
    lua_pushnil(L);
  else
    lua_pushlstring(L, s->data, s->len);
  lua_call(L, 3, 2);
  return 2;
}

static int mwlua_bsink_write(void *userdata, size_t i, unsigned long msg,
                             const char *data, size_t len, int end) {
  mwlua_bsink *s = (mwlua_bsink *)userdata;
  s->i = i;
  s->msg = msg;
  s->data = data;
  s->len = len;
  s->end = end;
  return mwlua_run_sink(s->L, s->closure, s, s->err, &s->raised);
}

/* pop3_retr_batch(ptr, numbers, lines, sink): lines < 0 means RETR, else
 * TOP; numbers is a sequence of whole numbers in 0 .. 2^32-1 (the core
 * refuses 0) -> rc [, what the sink raised] */
int mwlua_pop3_retr_batch(lua_State *L) {
  mw_pop3 *c = (mw_pop3 *)lua_touserdata(L, 1);
  luaL_argcheck(L, c != NULL, 1, "POP3 handle expected");
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_Number lines = luaL_checknumber(L, 3);
  luaL_checktype(L, 4, LUA_TFUNCTION);
  lua_settop(L, 4);
  luaL_checkstack(L, 16, "mailwire: stack");
  size_t n = (size_t)lua_rawlen(L, 2);
  /* Check every entry before allocating: an error raised here leaks
   * nothing. */
  for (size_t i = 0; i < n; i++) {
    lua_rawgeti(L, 2, (int)(i + 1));
    lua_Number v = lua_tonumber(L, -1);
    int ok = lua_type(L, -1) == LUA_TNUMBER && v >= 0 && v <= 4294967295.0 &&
             v == (lua_Number)(unsigned long)v;
    lua_pop(L, 1);
    if (!ok)
      return luaL_argerror(L, 2, "message numbers must be whole numbers");
  }
  unsigned long *msgs = (unsigned long *)calloc(n ? n : 1, sizeof *msgs);
  if (!msgs)
    return luaL_error(L, "mailwire: out of memory");
  for (size_t i = 0; i < n; i++) {
    lua_rawgeti(L, 2, (int)(i + 1));
    msgs[i] = (unsigned long)lua_tonumber(L, -1);
    lua_pop(L, 1);
  }
  lua_pushvalue(L, 4);
  lua_pushcclosure(L, mwlua_bsink_call, 1); /* 5: closure */
  lua_pushnil(L);                           /* 6: error */
  mwlua_bsink s;
  memset(&s, 0, sizeof s);
  s.L = L;
  s.closure = 5;
  s.err = 6;
  int rc = lines < 0 ? mw_pop3_retr_batch(c, msgs, n, mwlua_bsink_write, &s)
                     : mw_pop3_top_batch(c, msgs, n, (unsigned long)lines,
                                         mwlua_bsink_write, &s);
  free(msgs);
  return mwlua_stream_result(L, rc, s.raised, 6, 0, "sink");
}
