/*
 * mwlua_glue.h - the hand-written part of the Lua module: handles that own
 * the C objects (one idempotent destroy for __gc and __close), LogHandler
 * and streaming trampolines, and the frame around every blocking call that
 * turns an error raised in a callback into an abort plus a re-raise.
 * Registered into the SWIG module with %native (swig/lua/mailwire.i).
 */
#ifndef MWLUA_GLUE_H
#define MWLUA_GLUE_H

#include "mailwire.h"

#include <lauxlib.h>
#include <lua.h>

int mwlua_handle_new(lua_State *L);
int mwlua_loghandler_new(lua_State *L);
int mwlua_loghandler_set_function(lua_State *L);
int mwlua_loghandler_log(lua_State *L);
int mwlua_handle_ptr(lua_State *L);
int mwlua_handle_kind(lua_State *L);
int mwlua_handle_close(lua_State *L);
int mwlua_handle_invoke(lua_State *L);
int mwlua_client_set_handler(lua_State *L);
int mwlua_client_clear_handlers(lua_State *L);
int mwlua_smtp_send_stream(lua_State *L);
int mwlua_pop3_retr_stream(lua_State *L);
int mwlua_pop3_retr_batch(lua_State *L);

#endif
