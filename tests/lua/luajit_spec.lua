-- The module also builds for LuaJIT 2.1 (OpenResty's Lua): build it with
-- luajit2's headers (libluajit2-5.1-dev, the LuaJIT nginx runs) and load it under luajit.
local H = mwtest

local function capture(cmd)
  local p = io.popen(cmd .. " 2>&1")
  local out = p:read("*a")
  p:close()
  return out
end

describe("LuaJIT", function()
  it("builds, loads and raises error objects", function()
    local dir = H.root .. "/build/lua-jit"
    local build = "cd " .. H.q(H.root) .. " && make -s -f bindings/lua/Makefile"
      .. " LUA_INCDIR=/usr/include/luajit-2.1 BUILD_DIR=build/lua-jit"
      .. " INST_LIBDIR=build/lua-jit/lib INST_LUADIR=build/lua-jit/share"
      .. " install"
    local out = capture(build .. " && echo BUILD-OK")
    assert.truthy(out:find("BUILD-OK", 1, true), out)
    local script = os.tmpname()
    local f = assert(io.open(script, "w"))
    f:write([[
      local dir, port = arg[1], tonumber(arg[2])
      package.cpath = dir .. "/lib/?.so;" .. package.cpath
      package.path = dir .. "/share/?.lua;" .. package.path
      local m = require "mailwire"
      assert(m.eexDNS == 1102 and m.SSLNoServerNameCheck == 1)
      local ssl = m.SSLInfo{mode = m.MODE_STARTTLS}
      ssl.option[m.SSLNoServerNameCheck] = true
      assert(ssl.option[m.SSLNoServerNameCheck] == true)
      local c = m.SMTPClient{server = "127.0.0.1", port = port, timeout = 5}
      local ok, e = pcall(c.connect, c)
      assert(not ok and m.is_error(e), tostring(e))
      assert(e.number == m.eexTCPConnect, tostring(e))
      local lh = m.LogHandler(function() error({x = 1}) end)
      local ok2, e2 = pcall(lh.log, lh, 3, "m")
      assert(not ok2 and type(e2) == "table" and e2.x == 1)
      c:close()
      local ok3, e3 = pcall(c.connect, c)
      assert(not ok3 and e3.number == m.eexState)
      collectgarbage()
      print("LUAJIT-OK " .. m._VERSION .. " " .. jit.version)
    ]])
    f:close()
    out = capture("luajit " .. H.q(script) .. " " .. H.q(dir) .. " " ..
      H.port("CLOSED_PORT"))
    os.remove(script)
    assert.truthy(out:find("LUAJIT-OK", 1, true), out)
  end)
end)
