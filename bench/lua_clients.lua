-- The Lua client of the benchmark (mailwire from Lua 5.4), one per process:
--   lua5.4 lua_clients.lua TREE smtp HOST PORT COUNT SIZE NRCPT [plain|tls|starttls CAFILE]
--   lua5.4 lua_clients.lua TREE pop3 HOST PORT USER PASS CAFILE [MAX] [batch|stream]
-- TREE is the luarocks tree the rock was installed into (build/lua-tree).
-- The message is the same bytes mw_bench.c and py_clients.py send. Prints
-- "PATH batch" or "PATH loop" (or "PATH stream") on stderr: whether the
-- module had send_batch / retr_batch or the one-by-one calls were used.

local tree, what = arg[1], arg[2]
local ver = _VERSION:match("%d+%.%d+")
package.path = tree .. "/share/lua/" .. ver .. "/?.lua;" .. package.path
package.cpath = tree .. "/lib/lua/" .. ver .. "/?.so;" .. package.cpath
local mailwire = require "mailwire"

local function make_message(size)
  local head = "From: <bench@example.org>\r\nTo: <sink@example.org>\r\n" ..
               "Subject: bench\r\n\r\n"
  local out, n = { head }, #head
  while n < size do
    local line = math.min(78, size - n)
    local b = {}
    for i = 0, line - 1 do b[i + 1] = 97 + (n + i) % 26 end
    if line >= 2 then b[line - 1], b[line] = 13, 10 end
    if n % 1000 < 78 then b[1] = 46 end
    out[#out + 1] = string.char(table.unpack(b))
    n = n + line
  end
  return table.concat(out)
end

local function path(p) io.stderr:write("PATH ", p, "\n") end

local function ssl_for(tls, cafile)
  if tls == "plain" then return nil end
  local mode = tls == "tls" and mailwire.MODE_CHANNEL or mailwire.MODE_STARTTLS
  return mailwire.SSLInfo{ mode = mode, ca_file = cafile }
end

local function smtp(host, port, count, size, nrcpt, tls, cafile)
  local msg = make_message(size)
  local rcpts = {}
  for i = 0, nrcpt - 1 do rcpts[#rcpts + 1] = ("sink%d@example.org"):format(i) end
  local c <close> = mailwire.SMTPClient{ server = host, port = port,
    helo = "bench.example.org", allow_partial = true, ssl = ssl_for(tls, cafile) }
  c:connect()
  if c.send_batch then
    path("batch")
    local batch = {}
    for i = 1, count do batch[i] = { "bench@example.org", rcpts, msg } end
    c:send_batch(batch)
  else
    path("loop")
    for _ = 1, count do c:send("bench@example.org", rcpts, msg) end
  end
  c:quit()
end

local function pop3(host, port, user, password, cafile, limit, how)
  local p <close> = mailwire.POP3Client{ server = host, port = port,
    ssl = mailwire.SSLInfo{ mode = mailwire.MODE_CHANNEL, ca_file = cafile },
    user = user, password = password }
  p:connect()
  local count = p:stat()
  count = math.min(count, limit)
  local got = 0
  local function sink(...)
    for i = 1, select("#", ...) do
      local v = select(i, ...)
      if type(v) == "string" then got = got + #v end
    end
    return true
  end
  if how == "stream" then
    path("stream")
    for i = 1, count do p:retr(i, sink) end
  elseif p.retr_batch then
    path("batch")
    local nums = {}
    for i = 1, count do nums[i] = i end
    local r = p:retr_batch(nums, sink)
    if type(r) == "table" then
      for _, d in ipairs(r) do if type(d) == "string" then got = got + #d end end
    end
  else
    path("loop")
    for i = 1, count do got = got + #p:retr(i) end
  end
  p:quit()
  io.stderr:write(("lua pop3: %d messages, %d bytes\n"):format(count, got))
  if got <= 0 then os.exit(1) end
end

if what == "smtp" then
  smtp(arg[3], tonumber(arg[4]), tonumber(arg[5]), tonumber(arg[6]), tonumber(arg[7]),
       arg[8] or "plain", arg[9])
elseif what == "pop3" then
  pop3(arg[3], tonumber(arg[4]), arg[5], arg[6], arg[7], tonumber(arg[8] or "1000000000"),
       arg[9] or "batch")
else
  io.stderr:write("usage: see the top of lua_clients.lua\n")
  os.exit(2)
end
