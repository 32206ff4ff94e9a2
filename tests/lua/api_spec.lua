-- One behaviour in Lua and Python (#18 items 11-17, 19-21): the shared
-- API cases of tests/api-cases (run from pytest too, by
-- tests/python/test_api.py; see tests/api-cases/README.md), and what
-- needs the real servers: leaving a <close> variable by an error, a client
-- certificate with its password, the TLS outputs through the option
-- getters.
local H = mwtest
local mailwire = require "mailwire"
local json = require "dkjson"

local CASES = H.root .. "/tests/api-cases"
local SERVER = os.getenv("MW_HOSTILE_SERVER") or
  (H.root .. "/build/tests/hostile/hostile_server")
local FILTER = os.getenv("MW_API_FILTER") or ""

local function read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

-- The case files' C escapes (\r \n \t \0 \xNN) into bytes.
local function unescape(s)
  local simple = {r = "\r", n = "\n", t = "\t", ["0"] = "\0"}
  return (s:gsub("\\(x%x%x)", function(h)
    return string.char(tonumber(h:sub(2), 16))
  end):gsub("\\(.)", function(c) return simple[c] or c end))
end

local function load_case(path)
  local c = {path = path, name = path:sub(#CASES + 2, -6), steps = {},
    sent = {}, never = {}, logged = {}, text = {}, expect = "ok", only = ""}
  local text = read_file(path)
  local lines = {}
  for line in (text .. "\n"):gmatch("(.-)\n") do lines[#lines + 1] = line end
  for i, line in ipairs(lines) do
    if line ~= "" and line:sub(1, 1) ~= "#" then
      local key, value = line:match("^([%w-]+):%s?(.*)$")
      assert(key, c.name .. ": bad line " .. line)
      if key == "script" then
        c.script = table.concat(lines, "\n", i + 1)
        break
      elseif key == "new" or key == "call" or key == "option" or
          key == "read" then
        c.steps[#c.steps + 1] = {key, value}
      elseif key == "expect" or key == "python" or key == "returns" or
          key == "results" or key == "extended" or key == "only" then
        c[key] = value
      elseif key == "text" or key == "logged" then
        table.insert(c[key], value)
      elseif key == "sent" or key == "never" then
        table.insert(c[key], unescape(value))
      else
        error(c.name .. ": unknown header " .. key)
      end
    end
  end
  return c
end

local function list_cases()
  local p = io.popen("find " .. H.q(CASES) .. " -name '*.case' | sort")
  local out = {}
  for path in p:lines() do out[#out + 1] = path end
  p:close()
  return out
end

-- The script's server (hostile_server): port, then what the client sent.
local function start_server(case)
  local p = io.popen("mktemp -d /tmp/mw-api-lua.XXXXXX")
  local dir = p:read("l")
  p:close()
  local script = dir .. "/script.case"
  local f = assert(io.open(script, "wb"))
  f:write("client: smtp\ndo: connect\nexpect: ok\nscript:\n", case.script)
  f:close()
  local files = {dir .. "/port", dir .. "/record", dir .. "/result"}
  local proc = io.popen(table.concat({"MW_TEST_ENV=" .. H.q(H.env_file()),
    H.q(SERVER), H.q(script), H.q(files[1]), H.q(files[2]), H.q(files[3])},
    " "), "w")
  local port
  for _ = 1, 500 do
    port = tonumber(read_file(files[1]) or "")
    if port then break end
    H.sleep(0.02)
  end
  assert(port, case.name .. ": hostile_server did not start")
  return {
    port = port,
    finish = function(connected)
      proc:write(connected and "wait\n" or "stop\n")
      proc:close()
      local received = read_file(files[2]) or ""
      local result = read_file(files[3]) or "(none)"
      H.run("rm -rf " .. H.q(dir))
      return received, result
    end,
  }
end

local function from_json(text, ctx)
  local v, _, err = json.decode(text, 1, json.null)
  assert(err == nil, "bad JSON " .. text .. ": " .. tostring(err))
  local function sub(x)
    if x == json.null then return nil end
    if type(x) == "table" then
      local out, n = {}, 0
      for k, y in pairs(x) do
        out[k] = sub(y)
        if type(k) == "number" and k > n then n = k end
      end
      return out, n
    end
    if type(x) == "string" and x:sub(1, 1) == "$" then
      local word = x:sub(2)
      if word == "HOST" then return "127.0.0.1" end
      if word == "PORT" then return ctx.port end
      if word == "log" then
        return function(_, _, message) ctx.log[#ctx.log + 1] = message end
      end
      if word:sub(1, 4) == "env:" then return H.get(word:sub(5)) end
      local c = mailwire[word]
      assert(c ~= nil, "no constant " .. word)
      return c
    end
    return x
  end
  return sub(v)
end

-- The length of a decoded JSON array, counting trailing nulls.
local function json_len(text)
  local v = json.decode(text, 1, json.null)
  return #v
end

local function matches(got, want)
  if type(want) == "table" then
    if type(got) ~= "table" then return false end
    if #want > 0 or next(want) == nil then -- an array (or empty)
      if next(want) == nil and next(got) ~= nil and #got == 0 then
        return false
      end
      if #got ~= #want then return false end
    end
    for k, v in pairs(want) do
      if not matches(got[k], v) then return false end
    end
    return true
  end
  return got == want
end

local function show(v)
  if type(v) == "table" then
    local ok, s = pcall(json.encode, v)
    if ok then return s end
  end
  return tostring(v)
end

local function run_steps(case, ctx)
  local st = {connected = false}
  local ok, err = pcall(function()
    for _, step in ipairs(case.steps) do
      local kind, value = step[1], step[2]
      if kind == "new" then
        local cls, args = value:match("^(%S+)%s*(.*)$")
        assert(mailwire[cls], case.name .. ": unknown class " .. cls)
        st.obj = nil
        st.obj = mailwire[cls](from_json(args ~= "" and args or "{}", ctx))
        st.result = st.obj
      elseif kind == "call" then
        local method, args = value:match("^(%S+)%s*(.*)$")
        args = args ~= "" and args or "[]"
        local list = from_json(args, ctx)
        if method == "connect" then st.connected = true end
        local f = st.obj[method]
        assert(type(f) == "function", case.name .. ": no method " .. method)
        st.result = f(st.obj, table.unpack(list, 1, json_len(args)))
      elseif kind == "option" then
        local name, v = value:match("^(%S+)%s+(.*)$")
        st.obj.option[mailwire[name]] = from_json(v, ctx)
      elseif kind == "read" then
        local name, v = value:match("^(%S+)%s+(.*)$")
        st.result = st.obj.option[mailwire[name]]
        local want = from_json(v, ctx)
        assert(matches(st.result, want), string.format(
          "%s: option %s is %s, expected %s", case.name, name,
          show(st.result), show(want)))
      end
    end
  end)
  if not ok then
    if not mailwire.is_error(err) then error(err, 0) end
    st.err = err
  end
  return st
end

local function run_case(case)
  local server = case.script and start_server(case)
  local ctx = {port = server and server.port or 0, log = {}}
  local st = {}
  local ok, e = pcall(function() st = run_steps(case, ctx) end)
  local extended
  local obj = st.obj
  if obj and (getmetatable(obj) == mailwire.SMTPClient or
      getmetatable(obj) == mailwire.POP3Client) then
    local ok2, x = pcall(obj.extended_error, obj)
    if ok2 then extended = x end
  end
  if obj and obj.close then obj:close() end
  local received, outcome = "", "ok"
  if server then received, outcome = server.finish(st.connected) end
  if not ok then error(e, 0) end
  local name, err = case.name, st.err
  if case.expect == "ok" then
    assert(err == nil, name .. ": failed with " .. tostring(err))
  elseif case.expect ~= "any" then
    local code, number = case.expect:match("^(%S+)%s+(%S+)$")
    assert(err, name .. ": succeeded, expected " .. case.expect)
    assert(err.code == mailwire[code] and err.number == mailwire[number],
      name .. ": " .. tostring(err) .. ", expected " .. case.expect)
  end
  for _, part in ipairs(case.text) do
    assert(err and err.text:find(part, 1, true), string.format(
      "%s: the error text %q does not hold %q", name,
      err and err.text or "(none)", part))
    if extended then
      assert(extended.text:find(part, 1, true), string.format(
        "%s: extended_error says %q", name, extended.text))
    end
  end
  if case.returns then
    local want = from_json(case.returns, ctx)
    assert(matches(st.result, want), string.format(
      "%s: returned %s, expected %s", name, show(st.result), show(want)))
  end
  if case.results then
    local want = from_json(case.results, ctx)
    assert(err and matches(err.results, want), string.format(
      "%s: results %s, expected %s", name, show(err and err.results),
      show(want)))
  end
  if case.extended then
    local want = from_json(case.extended, ctx)
    assert(extended and mailwire.is_errorinfo(extended), name ..
      ": extended_error is not a mailwire.ErrorInfo")
    assert(matches(extended, want), string.format(
      "%s: extended_error %s, expected %s", name, show(extended),
      show(want)))
  end
  for _, part in ipairs(case.logged) do
    local seen = false
    for _, line in ipairs(ctx.log) do
      if line:find(part, 1, true) then seen = true end
    end
    assert(seen, name .. ": no log line holds " .. part .. ": " ..
      table.concat(ctx.log, " | "))
  end
  if server then
    if st.connected then
      assert(outcome == "ok", name .. ": server script: " .. outcome)
    else
      assert(received == "", name .. ": refused before connecting, yet sent "
        .. received)
    end
  end
  for _, needle in ipairs(case.never) do
    assert(not received:find(needle, 1, true), name .. ": the client sent "
      .. needle)
  end
  for _, needle in ipairs(case.sent) do
    assert(received:find(needle, 1, true), name .. ": the client did not send "
      .. needle .. " in " .. received)
  end
end

describe("the shared API cases (tests/api-cases)", function()
  local all = list_cases()
  it("are found", function()
    assert.is_true(#all >= 25, "only " .. #all .. " case files")
  end)
  for _, path in ipairs(all) do
    local case = load_case(path)
    if (case.only == "" or case.only:find("lua", 1, true)) and
        case.name:find(FILTER, 1, true) then
      it(case.name, function() run_case(case) end)
    end
  end
end)

-- ---- against the real servers ----

local function pop3_client(lines)
  return mailwire.POP3Client{server = "127.0.0.1", port = H.port("POP3S_PORT"),
    timeout = 15, user = H.get("USER2"), password = H.get("PASS2"),
    ssl = mailwire.SSLInfo{ca_file = H.get("CA_FILE")},
    log_handler = function(_, _, m) if lines then lines[#lines + 1] = m end end}
end

local function deliver(mark)
  local to = H.get("USER2") .. "@" .. H.get("MAIL_DOMAIN")
  local s <close> = mailwire.SMTPClient{server = "127.0.0.1",
    port = H.port("SMTP_PORT"), timeout = 15, helo_name = "api.test"}
  s:connect()
  s:send(to, to, "Subject: " .. mark .. "\r\n\r\n" .. mark .. "\r\n")
  assert.is_truthy(H.wait_delivery(H.get("USER2"), mark, 30), mark)
end

local function find(p, mark)
  for _, m in ipairs(p:list()) do
    if p:top(m.number, 0):find(mark, 1, true) then return m.number end
  end
end

local function sent(lines, command)
  for _, l in ipairs(lines) do
    if l:sub(1, 3 + #command) == "C: " .. command then return true end
  end
  return false
end

describe("a <close> client (#18 item 11)", function()
  it("left by an error closes without QUIT: POP3 deletions are kept",
    function()
    local mark = H.marker("exit-error")
    deliver(mark)
    local lines = {}
    local ok, e = pcall(function()
      local p <close> = pop3_client(lines)
      p:connect()
      p:dele(find(p, mark))
      error("application failed", 0)
    end)
    assert.is_false(ok)
    assert.are.equal("application failed", e)
    assert.is_true(sent(lines, "DELE"))
    assert.is_false(sent(lines, "QUIT"))
    local p <close> = pop3_client()
    p:connect()
    assert.is_truthy(find(p, mark), "deleted although left by an error")
  end)

  it("left normally sends QUIT: POP3 deletions are committed", function()
    local mark = H.marker("exit-normal")
    deliver(mark)
    local lines = {}
    do
      local p <close> = pop3_client(lines)
      p:connect()
      p:dele(find(p, mark))
    end
    assert.is_true(sent(lines, "QUIT"))
    local p <close> = pop3_client()
    p:connect()
    assert.is_nil(find(p, mark), "kept although left normally")
  end)

  it("left by an error sends no QUIT to SMTP either", function()
    local lines = {}
    pcall(function()
      local s <close> = mailwire.SMTPClient{server = "127.0.0.1",
        port = H.port("SMTP_PORT"), timeout = 15, helo_name = "api.test",
        log_handler = function(_, _, m) lines[#lines + 1] = m end}
      s:connect()
      error("application failed", 0)
    end)
    assert.is_true(sent(lines, "EHLO"))
    assert.is_false(sent(lines, "QUIT"))
  end)
end)

describe("SSLInfo options given together (#18 item 13)", function()
  it("load a client certificate with its password in every table order",
    function()
    local name, pass = H.get("CLIENT_P12_FILE"), H.get("CLIENT_P12_PASS")
    -- Tables built in different orders: pairs() would visit them
    -- differently; the options are applied in one order whatever it is.
    for round = 1, 4 do
      local opts = {}
      if round % 2 == 0 then
        opts[mailwire.SSLClientCertificatePassword] = pass
        opts[mailwire.SSLClientCertificateName] = name
      else
        opts[mailwire.SSLClientCertificateName] = name
        opts[mailwire.SSLClientCertificatePassword] = pass
      end
      local ssl = mailwire.SSLInfo{options = opts, ca_file = H.get("CA_FILE")}
      assert.are.equal(name, ssl.option[mailwire.SSLClientCertificateName])
      ssl:close()
    end
    local ssl = mailwire.SSLInfo{client_certificate_name = name,
      client_certificate_password = pass, ca_file = H.get("CA_FILE")}
    local c <close> = mailwire.SMTPClient{server = "127.0.0.1",
      port = H.port("SMTPS_CCERT_PORT"), ssl = ssl, timeout = 15,
      helo_name = "api.test"}
    c:connect()
    c:noop()
  end)
end)

describe("the TLS outputs through the option getters (#18 item 21)", function()
  local suite_hash = {SHA256 = {"SSL_SHA256", 256},
    SHA384 = {"SSL_SHA384", 384}}
  for _, proto in ipairs({false, "SSL_TLS1_2"}) do
    for _, kind in ipairs({"smtp", "pop3"}) do
      it(kind .. (proto and " over " .. proto or ""), function()
        local ssl = mailwire.SSLInfo{ca_file = H.get("CA_FILE"),
          connection_protocol_in = proto and {mailwire[proto]} or nil}
        local c
        if kind == "smtp" then
          c = mailwire.SMTPClient{server = "127.0.0.1",
            port = H.port("SMTPS_PORT"), ssl = ssl, timeout = 15,
            helo_name = "api.test"}
        else
          c = mailwire.POP3Client{server = "127.0.0.1",
            port = H.port("POP3S_PORT"), ssl = ssl, timeout = 15,
            user = H.get("USER"), password = H.get("PASS")}
        end
        c:connect()
        local o = ssl.option
        local name = o[mailwire.SSLConnectionCipherName]
        local h = suite_hash[name:match("[_-](SHA%d+)$")]
        assert.is_truthy(h, name)
        assert.are.equal(mailwire[h[1]], o[mailwire.SSLHash])
        assert.are.equal(h[2], o[mailwire.SSLHashStrength])
        local group = o[mailwire.SSLExchangeGroupName]:lower()
        if group == "x25519" then
          assert.are.equal(mailwire.SSL_X25519, o[mailwire.SSLExchange])
          assert.are.equal(253, o[mailwire.SSLExchangeStrength])
        else
          local x = o[mailwire.SSLExchange]
          assert.is_true(x == mailwire.SSL_ECDHE or x == mailwire.SSL_DH or
            x == mailwire.SSL_X448, group)
          assert.is_true(o[mailwire.SSLExchangeStrength] >= 224, group)
        end
        assert.truthy(o[mailwire.SSL_OPTIONS.peer_sans]:find("DNS:localhost",
          1, true))
        if proto then
          assert.are.equal(mailwire.SSL_TLS1_2,
            o[mailwire.SSLConnectionProtocolOut])
          assert.are.same({mailwire.SSL_TLS1_2},
            o[mailwire.SSLConnectionProtocolIn])
        end
        c:quit()
        c:close()
      end)
    end
  end
end)
