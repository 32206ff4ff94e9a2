-- hostile_spec.lua - the hostile-server cases of tests/hostile/cases, run
-- through the Lua binding: the same files, the same scripted server (the
-- hostile_server program, built with the C tests) and the same
-- expectations as tests/hostile/test_hostile.c (format: tests/hostile/
-- README.md).
local H = mwtest
local mailwire = require "mailwire"

local CASES = H.root .. "/tests/hostile/cases"
local SERVER = os.getenv("MW_HOSTILE_SERVER") or
  (H.root .. "/build/tests/hostile/hostile_server")

-- MW_HOSTILE_FILTER: only the cases whose name holds it (the valgrind run
-- takes the TLS groups only).
local FILTER = os.getenv("MW_HOSTILE_FILTER") or ""

local simple = {r = "\r", n = "\n", t = "\t", ["0"] = "\0"}

--- The case files' C escapes (\r \n \t \0 \xNN) into bytes.
local function unescape(s)
  return (s:gsub("\\(x%x%x)", function(h)
    return string.char(tonumber(h:sub(2), 16))
  end):gsub("\\(.)", function(c) return simple[c] or c end))
end

local function read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local data = f:read("a")
  f:close()
  return data
end

local function parse_case(path)
  local c = {path = path, settings = {}, actions = {}, never = {}, sent = {},
    texts = {}, only = ""}
  c.name = path:sub(#CASES + 2, -6)
  for line in io.lines(path) do
    if line ~= "" and line:sub(1, 1) ~= "#" then
      local key, value = line:match("^([%w_]+):%s?(.*)$")
      assert(key, path .. ": not a header: " .. line)
      if key == "script" then break end
      if key == "set" then
        local k, v = value:match("^([%w_]+)=(.*)$")
        c.settings[k] = unescape(v)
      elseif key == "do" then c.actions[#c.actions + 1] = value
      elseif key == "never" then c.never[#c.never + 1] = unescape(value)
      elseif key == "sent" then c.sent[#c.sent + 1] = unescape(value)
      elseif key == "got" then c.got = unescape(value)
      elseif key == "expect" then c.expect = value
      elseif key == "client" then c.client = value
      elseif key == "only" then c.only = value
      elseif key == "text" then c.texts[#c.texts + 1] = value
      elseif key == "reply_code" then c.reply_code = tonumber(value)
      else error(path .. ": unknown header " .. key) end
    end
  end
  return c
end

local function list_cases()
  local p = io.popen("find " .. H.q(CASES) .. " -name '*.case' | sort")
  local paths = {}
  for line in p:lines() do paths[#paths + 1] = line end
  p:close()
  return paths
end

--- hostile_server for one case; finish() gives what the client sent and
-- the script's outcome.
local function start_server(c)
  local f = io.open(SERVER)
  assert(f, SERVER .. " is missing: build the C tests first " ..
    "(scripts/test.sh does) or set MW_HOSTILE_SERVER")
  f:close()
  local dir = io.popen("mktemp -d /tmp/mw-hostile.XXXXXX"):read("l")
  local port_f, rec_f, res_f = dir .. "/port", dir .. "/record",
    dir .. "/result"
  -- The server's certificate comes from the servers.env whose CA the
  -- client trusts.
  local proc = io.popen(table.concat({"MW_TEST_ENV=" .. H.q(H.env_file()),
    H.q(SERVER), H.q(c.path), H.q(port_f),
    H.q(rec_f), H.q(res_f)}, " "), "w")
  local port
  for _ = 1, 500 do
    port = tonumber(read_file(port_f) or "")
    if port then break end
    H.sleep(0.02)
  end
  assert(port, c.name .. ": hostile_server did not start")
  local s = {port = port}
  function s.finish(stop)
    proc:write(stop and "stop\n" or "wait\n")
    proc:close()
    local received = read_file(rec_f) or ""
    local outcome = read_file(res_f) or "(no result)"
    os.remove(port_f); os.remove(rec_f); os.remove(res_f); os.remove(dir)
    return received, outcome
  end
  return s
end

local proxy_kinds = {socks4 = mailwire.MW_PROXY_SOCKS4,
  socks4a = mailwire.MW_PROXY_SOCKS4A, socks5 = mailwire.MW_PROXY_SOCKS5,
  http = mailwire.MW_PROXY_HTTP}

--- The client the case sets up; settings refused here raise.
local function make_client(c, port)
  local s = c.settings
  local opts = {timeout = (tonumber(s.timeout) or 5000) / 1000,
    server = "127.0.0.1", port = port}
  for _, key in ipairs{"reply_timeout", "operation_timeout"} do
    if s[key] then opts[key] = tonumber(s[key]) / 1000 end
  end
  opts.low_speed_limit = tonumber(s.low_speed_limit)
  if s.proxy then
    opts.proxy = mailwire.ProxyInfo{kind = proxy_kinds[s.proxy],
      server = "127.0.0.1", port = port, user = s.proxy_user,
      password = s.proxy_pass}
    opts.server = s.target or "mail.test"
    opts.port = tonumber(s.target_port) or 25
  end
  if s.tls and s.tls ~= "none" then
    local ssl = mailwire.SSLInfo{mode = s.tls == "implicit" and
      mailwire.MODE_CHANNEL or mailwire.MODE_STARTTLS}
    ssl.option[mailwire.SSLCAFile] = H.get("CA_FILE")
    opts.ssl = ssl
  end
  opts.user, opts.password = s.user, s.pass
  opts.auth_mechanism = s.mech
  opts.allow_plaintext_auth = s.plaintext_auth == "1"
  if c.client == "smtp" then
    opts.helo = s.helo
    opts.allow_partial = s.partial == "1"
    opts.pipelining = s.pipelining ~= "0"
    opts.chunking = s.chunking ~= "0"
    return mailwire.SMTPClient(opts)
  end
  opts.max_message_size = tonumber(s.max_size)
  return mailwire.POP3Client(opts)
end

local function run_actions(c, client)
  local got
  for _, action in ipairs(c.actions) do
    local word, a, b = action:match("^([%a_]+)%s*(%d*)%s*(%d*)$")
    a, b = tonumber(a), tonumber(b)
    if word == "send" then
      local to = {}
      for addr in ((c.settings.to or "rcpt@test") .. ","):gmatch("(.-),") do
        to[#to + 1] = addr
      end
      client:send(c.settings.from or "sender@test", to,
        c.settings.body or "Subject: hostile\r\n\r\nHello.\r\n")
    elseif word == "send_batch" then -- a copies of the message
      local to, list = {}, {}
      for addr in ((c.settings.to or "rcpt@test") .. ","):gmatch("(.-),") do
        to[#to + 1] = addr
      end
      for i = 1, a do
        list[i] = {from = c.settings.from or "sender@test", to = to,
          data = c.settings.body or "Subject: hostile\r\n\r\nHello.\r\n"}
      end
      client:send_batch(list)
    elseif word == "retr" then got = client:retr(a)
    elseif word == "top" then got = client:top(a, b)
    elseif word == "list" or word == "uidl" or word == "dele" then
      client[word](client, a)
    else
      assert(client[word], c.name .. ": unknown action " .. action)
      client[word](client)
    end
  end
  return got
end

local function contains(hay, needle)
  return hay:find(needle, 1, true) ~= nil
end

describe("hostile cases", function()
  local paths = list_cases()

  it("finds every case file", function()
    assert.is_true(#paths >= 150, "only " .. #paths .. " case files")
  end)

  for _, path in ipairs(paths) do
    local c = parse_case(path)
    if (c.only == "" or c.only:find("lua", 1, true)) and
        c.name:find(FILTER, 1, true) then
      it(c.name, function()
        local server = start_server(c)
        local client, got, err
        local ok, e = pcall(make_client, c, server.port)
        local before_connect = not ok
        if ok then
          client = e
          ok, e = pcall(run_actions, c, client)
          if ok then got = e end
          client:close()
        end
        if not ok then err = e end
        local received, outcome = server.finish(before_connect)
        if err and not mailwire.is_error(err) then error(err, 0) end
        local code, number = 0, 0
        if err then code, number = err.code, err.number end
        local want_code, want_number = 0, 0
        if c.expect ~= "ok" then
          local cn, nn = c.expect:match("^(%S+)%s+(%S+)$")
          want_code, want_number = mailwire[cn], mailwire[nn]
        end
        assert(code == want_code and number == want_number, string.format(
          "%s: ended with %s, expected %s", c.name,
          err and tostring(err) or "success", c.expect))
        for _, part in ipairs(c.texts) do
          assert(err and err.text:find(part, 1, true), string.format(
            "%s: the error %s does not say %q", c.name, tostring(err), part))
        end
        if c.reply_code then
          assert.are.equal(c.reply_code, err and err.reply_code)
        end
        if before_connect then
          assert(received == "", c.name .. ": refused by a setting, yet sent "
            .. string.format("%q", received))
        else
          assert(outcome == "ok", c.name .. ": server script: " .. outcome)
        end
        for _, n in ipairs(c.never) do
          assert(not contains(received, n), c.name .. ": the client sent " ..
            string.format("%q", n))
        end
        for _, n in ipairs(c.sent) do
          assert(contains(received, n), c.name ..
            ": the client did not send " .. string.format("%q", n))
        end
        if c.got then assert.are.equal(c.got, got) end
      end)
    end
  end
end)
