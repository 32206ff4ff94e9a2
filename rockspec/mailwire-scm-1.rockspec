-- Build and install from a clone, offline:
--   luarocks --lua-version 5.4 make rockspec/mailwire-scm-1.rockspec
-- (add --tree DIR for a private tree). Needs a C compiler, SWIG 4 and the
-- OpenSSL 3 headers; SWIG runs at build time (bindings/lua/Makefile).
rockspec_format = "3.0"
package = "mailwire"
version = "scm-1"
source = {
  url = "git+file://.",
}
description = {
  summary = "Send mail over SMTP and retrieve it over POP3, with TLS",
  detailed = [[
mailwire is a C library with precise errors and diagnostic logging; this is
its Lua module (SWIG wrapper plus hand-written glue): require "mailwire".
]],
  license = "MIT",
}
dependencies = {
  "lua >= 5.1",
}
build = {
  type = "make",
  makefile = "bindings/lua/Makefile",
  build_variables = {
    CFLAGS = "$(CFLAGS)",
    LIBFLAG = "$(LIBFLAG)",
    LUA_INCDIR = "$(LUA_INCDIR)",
    BUILD_DIR = "build/lua-rock",
  },
  install_variables = {
    INST_LIBDIR = "$(LIBDIR)",
    INST_LUADIR = "$(LUADIR)",
    BUILD_DIR = "build/lua-rock",
  },
}
