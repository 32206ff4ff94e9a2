-- SMTPClient against the real Postfix started by tests/servers/start.sh:
-- every TLS mode, every AUTH mechanism offered, errors by number,
-- streaming, callbacks that fail, objects collected mid-connection.
local H = mwtest
local mailwire = require "mailwire"

local function address(user)
  return (user or H.get("USER")) .. "@" .. H.get("MAIL_DOMAIN")
end

-- A client for 127.0.0.1:port; mode nil means no SSLInfo.
local function client(port, mode, extra)
  local opts = {server = "127.0.0.1", port = port, timeout = 15,
    helo = "lua.mailwire.test"}
  if mode then
    opts.ssl = mailwire.SSLInfo{mode = mode, ca_file = H.get("CA_FILE")}
  end
  for k, v in pairs(extra or {}) do opts[k] = v end
  local lh, lines = H.collector(mailwire)
  opts.log = lh
  return mailwire.SMTPClient(opts), lines, opts.ssl
end

local body = "Hello from Lua.\r\n.a line starting with a dot\r\n..two dots\r\n"
  .. ".\r\nafter a lone dot\r\n"

local function message(marker, to)
  return "From: <" .. to .. ">\r\nTo: <" .. to .. ">\r\nSubject: " .. marker
    .. "\r\n\r\n" .. body .. marker .. "\r\n"
end

local function send_and_check(c, what)
  local marker = H.marker(what)
  local to = address()
  c:send(to, {to}, message(marker, to))
  local r = c:recipients({to})
  assert.are.equal(1, #r)
  assert.are.equal(250, r[1].code)
  assert.are.equal(to, r[1].address)
  assert.are.equal(250, c:last_reply_code())
  local got = H.wait_delivery(H.get("USER"), marker, 30)
  assert.is_truthy(got, "no delivery of " .. marker)
  local lf = body:gsub("\r\n", "\n")
  assert.is_truthy(got:find(body, 1, true) or got:find(lf, 1, true),
    "delivered body differs")
end

local function no_secret(lines)
  local pass = H.get("PASS")
  for _, l in ipairs(lines) do
    assert.is_falsy(l:find(pass, 1, true), "password logged: " .. l)
  end
end

local function auth_and_send(port, mode, mech)
  local c, lines, ssl = client(port, mode, {user = H.get("USER"),
    password = H.get("PASS"), auth_mechanism = mech,
    allow_plaintext_auth = mode == nil})
  c:connect()
  assert.is_true(c:is_connected())
  assert.are.equal(mode ~= nil, c:is_secure())
  assert.are.equal(mech or c:auth_mechanism_used(), c:auth_mechanism_used())
  assert.is_string(c:auth_mechanism_used())
  assert.is_true(c:has_extension("AUTH"))
  if mode == mailwire.MODE_STARTTLS then
    assert.is_false(c:has_extension("STARTTLS")) -- EHLO again after TLS
  end
  if ssl then
    local proto = ssl.option[mailwire.SSLConnectionProtocolOut]
    assert.is_true(proto == mailwire.SSL_TLS1_2 or
      proto == mailwire.SSL_TLS1_3)
    assert.truthy(ssl.option[mailwire.SSLConnectionProtocolName]:find("TLS"))
  end
  send_and_check(c, mech or "auto")
  c:noop()
  c:rset()
  c:quit()
  assert.are.equal(221, c:last_reply_code())
  assert.is_false(c:is_connected())
  H.raises(mailwire, mailwire.errNotConnected, mailwire.eexNotConnected,
    c.quit, c)
  c:close()
  no_secret(lines)
end

local function offered_mechanisms(port)
  local c = client(port, nil)
  c:connect()
  local params = c:extension_params("AUTH") or ""
  c:quit()
  c:close()
  return params
end

describe("SMTP against Postfix", function()
  it("authenticates with every offered mechanism in plaintext", function()
    local port = H.port("SMTP_PORT")
    local offered = offered_mechanisms(port)
    assert.truthy(offered:find("PLAIN"), offered)
    assert.truthy(offered:find("LOGIN"), offered)
    for _, mech in ipairs({"PLAIN", "LOGIN", "CRAM-MD5"}) do
      if offered:find(mech, 1, true) then
        auth_and_send(port, nil, mech)
      else
        print("NOTE: Postfix does not offer " .. mech .. " here")
      end
    end
    auth_and_send(port, nil, nil)
  end)

  it("uses STARTTLS", function()
    local port = H.port("SMTP_PORT")
    auth_and_send(port, mailwire.MODE_STARTTLS, "PLAIN")
    auth_and_send(port, mailwire.MODE_STARTTLS, "LOGIN")
    auth_and_send(port, mailwire.MODE_STARTTLS, nil)
  end)

  it("uses implicit TLS (SMTPS)", function()
    local port = H.port("SMTPS_PORT")
    auth_and_send(port, mailwire.MODE_CHANNEL, "PLAIN")
    auth_and_send(port, mailwire.MODE_CHANNEL, "LOGIN")
    auth_and_send(port, mailwire.MODE_CHANNEL, nil)
  end)

  it("streams a message from a source function", function()
    local c = client(H.port("SMTP_PORT"), mailwire.MODE_STARTTLS,
      {user = H.get("USER"), password = H.get("PASS")})
    c:connect()
    local marker = H.marker("stream")
    local to = address()
    local n, lines = 0, 20000
    local header = "Subject: " .. marker .. "\r\n\r\n" .. marker .. "\r\n"
    local sent_header = false
    local source = function()
      if not sent_header then
        sent_header = true
        return header
      end
      if n >= lines then return nil end
      n = n + 1
      if n % 97 == 0 then return ".dot line " .. n .. "\r\n" end
      return string.format("line %08d the quick brown fox\r\n", n)
    end
    c:send(to, to, source, {size = 700000})
    c:quit()
    c:close()
    local got = H.wait_delivery(H.get("USER"), marker, 60)
    assert.is_truthy(got)
    assert.truthy(got:find("line 00019999 the quick brown fox", 1, true))
    assert.truthy(got:find("\n.dot line 97\r?\n"))
  end)

  it("aborts a send when the source raises or returns false", function()
    local c = client(H.port("SMTP_PORT"), mailwire.MODE_STARTTLS,
      {user = H.get("USER"), password = H.get("PASS")})
    c:connect()
    local to = address()
    local mine = {reason = "source failed"}
    local calls = 0
    local ok, e = pcall(c.send, c, to, to, function()
      calls = calls + 1
      if calls == 1 then return "Subject: x\r\n\r\nfirst\r\n" end
      error(mine)
    end)
    assert.is_false(ok)
    assert.are.equal(mine, e)
    assert.are.equal(mailwire.eexAborted, c:extended_error().number)
    if not c:is_connected() then c:connect() end
    H.raises(mailwire, mailwire.errAborted, mailwire.eexAborted, c.send, c,
      to, to, function() return false end)
    if not c:is_connected() then c:connect() end
    H.raises(mailwire, mailwire.errAborted, mailwire.eexAborted, c.send, c,
      to, to, function() return nil, "no more data" end)
    if not c:is_connected() then c:connect() end
    local okb, eb = pcall(c.send, c, to, to, function() return 42 end)
    assert.is_false(okb)
    assert.truthy(tostring(eb):find("source returned a number"), tostring(eb))
    c:close()
  end)

  it("refuses CR, LF and NUL in addresses before anything is sent",
    function()
      local c, lines = client(H.port("SMTP_PORT"), nil)
      c:connect()
      local to = address()
      for _, bad in ipairs({"x@example.org\r\nRCPT TO:<evil@example.org>",
        "x@example.org\nDATA", "x@example.org\rQUIT",
        "x@example.org\0evil"}) do
        local before = #H.client_lines(lines)
        H.raises(mailwire, mailwire.errInvalidArgument,
          mailwire.eexInvalidArgument, c.send, c, to, {to, bad}, "x\r\n")
        H.raises(mailwire, mailwire.errInvalidArgument,
          mailwire.eexInvalidArgument, c.send, c, bad, to, "x\r\n")
        H.raises(mailwire, mailwire.errInvalidArgument,
          mailwire.eexInvalidArgument, c.send, c, bad, to,
          mailwire.string_source("x\r\n"))
        assert.are.same({}, {select(before + 1,
          table.unpack(H.client_lines(lines)))}, "something was sent")
      end
      -- The session is intact: a valid transaction goes through.
      send_and_check(c, "after-refusal")
      c:quit()
      c:close()
    end)

  it("reports server refusals and local failures by number", function()
    local port = H.port("SMTP_PORT")
    -- wrong password
    local c, lines = client(port, mailwire.MODE_STARTTLS, {user = H.get("USER"),
      password = "definitely-wrong-password", auth_mechanism = "PLAIN"})
    local e = H.raises(mailwire, mailwire.errAuth, mailwire.eexSmtpServer,
      c.connect, c)
    assert.are.equal(535, e.reply_code)
    assert.is_true(#e.server_text > 0)
    assert.truthy(tostring(e):find("535", 1, true))
    assert.is_false(c:is_connected())
    for _, l in ipairs(lines) do
      assert.is_falsy(l:find("definitely-wrong-password", 1, true))
    end
    c:close()
    -- credentials over plaintext are refused by default
    c = client(port, nil, {user = H.get("USER"), password = H.get("PASS")})
    H.raises(mailwire, mailwire.errAuth, mailwire.eexAuthPlaintext,
      c.connect, c)
    c:close()
    -- unknown host, closed port
    c = mailwire.SMTPClient{server = "no-such-host.invalid", port = 25,
      timeout = 10}
    H.raises(mailwire, mailwire.errConnect, mailwire.eexDNS, c.connect, c)
    c:close()
    c = client(H.port("CLOSED_PORT"), nil)
    e = H.raises(mailwire, mailwire.errConnect, mailwire.eexTCPConnect,
      c.connect, c)
    assert.is_true(e.os_error ~= 0)
    assert.are.equal("errno 111 (Connection refused)", e.os_error_text)
    c:close()
    -- implicit TLS to a plaintext port
    c = client(port, mailwire.MODE_CHANNEL)
    H.raises(mailwire, mailwire.errConnect, mailwire.eexSSLProtocol,
      c.connect, c)
    c:close()
    -- STARTTLS asked, not offered: no fallback to plaintext
    c = client(H.port("SMTP_NOTLS_PORT"), mailwire.MODE_STARTTLS,
      {user = H.get("USER"), password = H.get("PASS")})
    H.raises(mailwire, mailwire.errTLS, mailwire.eexSSLStartTLSUnavailable,
      c.connect, c)
    assert.is_false(c:is_connected())
    c:close()
  end)

  it("verifies certificates unless told otherwise by name", function()
    local port = H.port("SMTPS_PORT")
    local function with_ssl(set)
      local ssl = mailwire.SSLInfo{mode = mailwire.MODE_CHANNEL}
      set(ssl)
      return mailwire.SMTPClient{server = "127.0.0.1", port = port,
        timeout = 10, ssl = ssl}
    end
    local c = with_ssl(function(s)
      s.option[mailwire.SSLCAFile] = H.get("OTHER_CA_FILE")
    end)
    local e = H.raises(mailwire, mailwire.errConnect,
      mailwire.eexSSLCertificate, c.connect, c)
    assert.is_true(e.verify_result ~= 0)
    -- an OpenSSL code, labelled as one (not "os error 167772294")
    assert.are.equal("OpenSSL error 0A000086 (",
      e.os_error_text:sub(1, #"OpenSSL error 0A000086 ("))
    assert.truthy(tostring(e):find("certificate verify failed", 1, true))
    assert.falsy(tostring(e):find("os error", 1, true))
    c:close()
    c = with_ssl(function(s)
      s.option[mailwire.SSLCAFile] = H.get("CA_FILE")
      s.option[mailwire.SSLServerName] = "wrong.example.org"
    end)
    H.raises(mailwire, mailwire.errConnect, mailwire.eexSSLCertName,
      c.connect, c)
    c:close()
    c = with_ssl(function(s)
      s.option[mailwire.SSLCAFile] = H.get("CA_FILE")
      s.option[mailwire.SSLServerName] = "wrong.example.org"
      s.option[mailwire.SSLNoServerNameCheck] = true
    end)
    c:connect()
    assert.is_true(c:is_secure())
    c:quit()
    c:close()
    c = with_ssl(function(s)
      s.option[mailwire.SSLCAFile] = H.get("OTHER_CA_FILE")
      s.option[mailwire.SSLNoServerCertificateValidation] = true
    end)
    c:connect()
    c:quit()
    c:close()
  end)
end)

describe("SMTP callbacks", function()
  it("a LogHandler error aborts the operation and reaches the caller",
    function()
      local c = client(H.port("SMTP_PORT"), mailwire.MODE_STARTTLS,
        {user = H.get("USER"), password = H.get("PASS")})
      local reg = H.registry_size()
      local mine = {reason = "stop"}
      local armed, calls = "S: 220", 0
      c:set_advanced_handler(mailwire.LogHandler(function(_, _, msg)
        if armed and msg:find(armed, 1, true) then
          calls = calls + 1
          error(mine)
        end
      end))
      local ok, e = pcall(c.connect, c)
      assert.is_false(ok)
      assert.are.equal(mine, e)
      assert.are.equal(1, calls)
      assert.is_false(c:is_connected())
      -- The client is usable again: no stale abort.
      armed = nil
      c:connect()
      assert.is_true(c:is_connected())
      -- Abort in the middle of a send: after RCPT.
      armed = "C: RCPT TO"
      local to = address()
      ok, e = pcall(c.send, c, to, to, "Subject: aborted\r\n\r\nx\r\n")
      assert.is_false(ok)
      assert.are.equal(mine, e)
      assert.is_false(c:is_connected())
      armed = nil
      c:connect()
      c:noop()
      c:quit()
      c:close()
      assert.is_true(H.registry_size() - reg <= 2)
    end)

  it("refuses re-entry from a callback", function()
    local c
    local inner
    c = client(H.port("SMTP_PORT"), nil)
    c:set_advanced_handler(mailwire.LogHandler(function()
      if not inner then
        inner = {pcall(c.noop, c)}
      end
    end))
    c:connect()
    assert.is_false(inner[1])
    assert.are.equal(mailwire.eexState, inner[2].number)
    c:quit()
    c:close()
  end)

  it("handlers stay usable after the script drops them", function()
    local got = {}
    local c = mailwire.SMTPClient{server = "127.0.0.1",
      port = H.port("SMTP_PORT"), timeout = 10}
    do
      local lh = mailwire.LogHandler(function(_, _, m) got[#got + 1] = m end)
      c:set_advanced_handler(lh)
      c:set_advanced_handler(mailwire.SSLInfo{mode = mailwire.MODE_STARTTLS,
        ca_file = H.get("CA_FILE")})
    end
    collectgarbage()
    collectgarbage()
    c:connect()
    assert.is_true(c:is_secure())
    assert.is_true(#got > 0)
    c:quit()
    c:close()
  end)

  it("closing a client from its own callback is deferred, not a crash",
    function()
      local c
      c = client(H.port("SMTP_PORT"), nil)
      c:set_advanced_handler(mailwire.LogHandler(function(_, _, msg)
        if msg:find("S: 220", 1, true) then c:close() end
      end))
      local ok, e = pcall(c.connect, c)
      assert.is_false(ok)
      assert.are.equal(mailwire.eexAborted, e.number)
      assert.is_true(c:is_closed())
    end)
end)

describe("SMTP lifetimes", function()
  it("collects objects mid-connection", function()
    local port = H.port("SMTP_PORT")
    for _ = 1, 20 do
      local c = client(port, mailwire.MODE_STARTTLS)
      c:connect()
      c:noop()
      -- dropped while connected, with its SSLInfo and LogHandler
    end
    collectgarbage()
    collectgarbage()
    local c = client(port, nil)
    c:connect()
    c:quit()
    c:close()
  end)
end)
