-- certmatrix_spec.lua - the certificate matrix (tests/certmatrix/cases.txt)
-- from Lua: each case's client connects to its server
-- (tests/certmatrix/server.py) and the outcome is checked: base code,
-- extended number, verify result, a text fragment, and from the server's
-- record what went on the wire. The C and Python runners read the same
-- cases.
local H = _G.mwtest
local mailwire = require "mailwire"

local matrix = H.root .. "/tests/certmatrix"
local fields = {"name", "chain", "ca", "host", "server_name", "options",
  "code", "number", "verify", "sni", "text"}

local function read_cases()
  local cases = {}
  for line in io.lines(matrix .. "/cases.txt") do
    line = line:match("^%s*(.-)%s*$")
    if line ~= "" and line:sub(1, 1) ~= "#" then
      local c, i = {}, 0
      for v in (line .. "|"):gmatch("([^|]*)|") do
        i = i + 1
        c[fields[i]] = v:match("^%s*(.-)%s*$")
      end
      assert(i == #fields, "bad case line: " .. line)
      cases[#cases + 1] = c
    end
  end
  return cases
end

local function value(name)
  if name == "0" or name == "MW_OK" then return 0 end
  return assert(mailwire[name], "no constant " .. name)
end

-- The server's record of the connections since the last probe.
local function probe(port)
  local p = io.popen("bash -c " .. H.q(
    "exec 3<>/dev/tcp/127.0.0.1/" .. port .. " && printf 'PROBE\\n' >&3 " ..
    "&& timeout 20 cat <&3"))
  local line = p:read("*a")
  p:close()
  local r = {}
  for k, v in line:gmatch("(%w+)=(%S*)") do r[k] = v end
  return r, line
end

local function unhex(s)
  return (s:gsub("%x%x", function(h) return string.char(tonumber(h, 16)) end))
end

describe("certificate matrix", function()
  local dir, ports

  setup(function()
    local p = io.popen("mktemp -d /tmp/mw-lua-certmatrix.XXXXXX")
    dir = p:read("*l") .. "/m"
    p:close()
    assert(H.run("env -u LD_PRELOAD -u ASAN_OPTIONS -u UBSAN_OPTIONS " ..
      H.q(matrix .. "/start.sh") .. " " .. H.q(dir) .. " >/dev/null"),
      "tests/certmatrix/start.sh failed")
    ports = {}
    for line in io.lines(dir .. "/ports") do
      local n, port = line:match("^(%S+) (%d+)$")
      ports[n] = tonumber(port)
    end
  end)

  teardown(function()
    if dir then
      H.run(H.q(matrix .. "/stop.sh") .. " " .. H.q(dir))
      H.run("rm -rf " .. H.q(dir:gsub("/m$", "")))
    end
  end)

  for _, case in ipairs(read_cases()) do
    it(case.name, function()
      local port = assert(ports[case.name], "no server for " .. case.name)
      local ssl = mailwire.SSLInfo{mode = mailwire.MODE_CHANNEL}
      ssl.option[mailwire.SSLCAFile] = dir .. "/" .. case.ca
      if case.server_name ~= "-" then
        ssl.option[mailwire.SSLServerName] = case.server_name
      end
      for name in case.options:gmatch("%S+") do
        if name ~= "-" then
          ssl.option[assert(mailwire[name], "no option " .. name)] = true
        end
      end
      local c = mailwire.SMTPClient{
        server = case.host == "-" and "127.0.0.1" or case.host,
        port = port, timeout = 20, ssl = ssl}
      local code, number = value(case.code), value(case.number)
      if code == 0 then
        c:connect()
        assert.is_true(c:is_secure())
        c:quit()
      else
        local e = H.raises(mailwire, code, number, c.connect, c)
        assert.are.equal(tonumber(case.verify), e.verify_result)
        assert.truthy(e.text:find(case.text, 1, true), e.text)
        assert.is_false(c:is_connected())
      end
      c:close()
      local r, line = probe(port)
      if code == mailwire.errInvalidArgument then -- refused before connecting
        assert.are.equal("0", r.connections, line)
        return
      end
      assert.are.equal("1", r.connections, line)
      assert.are.equal(code == 0 and "ok" or "failed", r.handshake, line)
      assert.are.equal(case.sni, r.sni, line)
      local received = unhex(r.received or "")
      if code == 0 then
        assert.truthy(received:find("EHLO ", 1, true), line)
        assert.truthy(received:find("QUIT\r\n", 1, true), line)
      else
        assert.are.equal("", received, line) -- nothing but the handshake
      end
    end)
  end
end)
