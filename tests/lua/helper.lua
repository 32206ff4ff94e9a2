-- helper.lua - loaded by busted before the specs (see .busted).
--
-- Finds the module (build/lua-tree, made by scripts/test.sh with luarocks,
-- unless MW_LUA_TREE says otherwise), starts the real servers once with
-- tests/servers/start.sh (unless MW_TEST_ENV already points at a running
-- set) and stops them when the suite ends.
local H = {}
_G.mwtest = H

local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
local function abspath(p)
  if p:sub(1, 1) == "/" then return p end
  local pipe = io.popen("cd '" .. p .. "' && pwd")
  local out = pipe:read("*l")
  pipe:close()
  return out
end
H.root = abspath(here .. "/../..")

local tree = os.getenv("MW_LUA_TREE") or (H.root .. "/build/lua-tree")
local ver = _VERSION:match("%d+%.%d+")
package.path = tree .. "/share/lua/" .. ver .. "/?.lua;" .. package.path
package.cpath = tree .. "/lib/lua/" .. ver .. "/?.so;" .. package.cpath
H.tree = tree

local busted = require "busted"

local function shell_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end
H.q = shell_quote

local function run(cmd)
  local ok, how, code = os.execute(cmd)
  if type(ok) == "number" then return ok == 0 end -- Lua 5.1
  return ok == true and how == "exit" and code == 0
end
H.run = run

local function read_env(file)
  local f = io.open(file)
  if not f then return nil end
  local env = {}
  for line in f:lines() do
    local k, v = line:match("^%s*([%w_]+)%s*=%s*(.-)%s*$")
    if k then
      v = v:gsub('^"(.*)"$', "%1"):gsub("^'(.*)'$", "%1")
      env[k] = v
    end
  end
  f:close()
  return env
end

local env, env_error, started_dir

--- The servers' environment (servers.env). Starts them on first use;
-- a failure raises (the test fails, never skips).
function H.env()
  if env then return env end
  if env_error then error(env_error, 2) end
  local file = os.getenv("MW_TEST_ENV")
  if not file or file == "" then
    local p = io.popen("mktemp -d /tmp/mw-lua-servers.XXXXXX")
    started_dir = p:read("*l")
    p:close()
    local start = H.root .. "/tests/servers/start.sh"
    if not run(shell_quote(start) .. " " .. shell_quote(started_dir) ..
        " >" .. shell_quote(started_dir .. "/start.log") .. " 2>&1") then
      env_error = "tests/servers/start.sh failed; see " .. started_dir ..
        "/start.log"
      error(env_error, 2)
    end
    file = started_dir .. "/servers.env"
  end
  env = read_env(file)
  if not env then
    env_error = "cannot read the servers environment " .. file
    error(env_error, 2)
  end
  return env
end

--- The path of servers.env (the servers are started if need be).
function H.env_file()
  H.env()
  return os.getenv("MW_TEST_ENV") ~= "" and os.getenv("MW_TEST_ENV") or
    started_dir .. "/servers.env"
end

function H.port(key)
  local v = tonumber(H.env()[key])
  if not v then error("servers.env has no " .. key, 2) end
  return v
end

function H.get(key)
  local v = H.env()[key]
  if not v or v == "" then error("servers.env has no " .. key, 2) end
  return v
end

busted.subscribe({"suite", "end"}, function()
  if started_dir then
    run(shell_quote(H.root .. "/tests/servers/stop.sh") .. " " ..
      shell_quote(started_dir) .. " >/dev/null 2>&1")
    run("rm -rf " .. shell_quote(started_dir))
    started_dir = nil
  end
  return nil, true
end)

local function sleep(s)
  run("sleep " .. s)
end
H.sleep = sleep

local counter = 0
function H.marker(what)
  counter = counter + 1
  return string.format("mw-lua-%s-%d-%d-%d", what, os.time(),
    math.random(1, 1e9), counter)
end

--- Wait (bounded) for a delivered message holding needle in the maildir
-- of user; returns its content or nil.
function H.wait_delivery(user, needle, timeout_s)
  local dir = H.get("MAILDIR_ROOT") .. "/" .. user .. "/Maildir/new"
  local deadline = os.time() + (timeout_s or 30)
  repeat
    local p = io.popen("grep -rlF -- " .. shell_quote(needle) .. " " ..
      shell_quote(dir) .. " 2>/dev/null")
    local file = p:read("*l")
    p:close()
    if file then
      local f = io.open(file, "rb")
      if f then
        local data = f:read("*a")
        f:close()
        return data
      end
    end
    sleep(0.2)
  until os.time() > deadline
  return nil
end

--- A log collector: returns the LogHandler and the list of messages.
function H.collector(mailwire)
  local lines = {}
  local lh = mailwire.LogHandler(function(severity, facility, message)
    lines[#lines + 1] = message
  end)
  return lh, lines
end

--- Lines the client sent ("C: ...") in a log.
function H.client_lines(lines, from)
  local out = {}
  for i = from or 1, #lines do
    if lines[i]:match("^C: ") then out[#out + 1] = lines[i] end
  end
  return out
end

--- Number of live references in the Lua registry (to spot leaks). Freed
-- luaL_ref slots hold integers (the free list), so only other values count.
function H.registry_size()
  collectgarbage()
  collectgarbage()
  local n = 0
  for k, v in pairs(debug.getregistry()) do
    if type(k) == "number" and type(v) ~= "number" then n = n + 1 end
  end
  return n
end

--- Assert that f raises a mailwire error with this base code and number;
-- returns the error object.
function H.raises(mailwire, code, number, f, ...)
  local ok, e = pcall(f, ...)
  assert(not ok, "expected an error, the call succeeded")
  assert(mailwire.is_error(e), "expected a mailwire error object, got " ..
    tostring(e))
  assert(e.code == code and e.number == number, string.format(
    "expected %s/%s, got %s", mailwire.code_name(code),
    mailwire.error_name(number), tostring(e)))
  return e
end

return H
