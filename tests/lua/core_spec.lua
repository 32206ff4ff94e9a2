-- The module without servers: constants, error objects, arguments,
-- lifetimes, LogHandler callbacks, registry and heap bounds.
local H = mwtest
local mailwire = require "mailwire"

-- Names and values of mailwire.h's constants, read from the header itself.
local function header_constants()
  local f = assert(io.open(H.root .. "/core/include/mailwire.h"))
  local text = f:read("*a")
  f:close()
  local consts = {}
  -- X(name, number, ...) rows of the error maps.
  for name, value in text:gmatch("X%((%w+),%s*(%d+),") do
    consts[name] = tonumber(value)
  end
  -- enum members "NAME = value".
  for name, value in text:gmatch("([%w_]+)%s*=%s*(0?x?%x+)[,%s\n}]") do
    if name:match("^MODE_") or name:match("^SSL") or name:match("^LOG_")
        or name:match("^MW_SEND_") then
      consts[name] = tonumber(value)
    end
  end
  return consts
end

describe("constants", function()
  it("exports every constant of mailwire.h with its value", function()
    local consts = header_constants()
    local n = 0
    for name, value in pairs(consts) do
      n = n + 1
      assert.are.equal(value, mailwire[name], name)
    end
    assert.is_true(n > 100, "parsed only " .. n .. " constants")
    assert.are.equal(1001, mailwire.eexProxyNoconn)
    assert.are.equal(1407, mailwire.eexSSLCertificate)
    assert.are.equal(0, mailwire.MODE_CHANNEL)
    assert.are.equal(1, mailwire.MODE_STARTTLS)
    assert.are.equal(1, mailwire.SSLNoServerNameCheck)
    assert.are.equal(5, mailwire.errTimeout)
    assert.are.equal(0x2000, mailwire.SSL_TLS1_3)
    assert.are.equal(0xf, mailwire.LOG_F_ALL)
  end)

  it("has a version and names for numbers", function()
    assert.are.equal("0.1.0", mailwire._VERSION)
    assert.are.equal("eexDNS", mailwire.error_name(mailwire.eexDNS))
    assert.are.equal("errAuth", mailwire.code_name(mailwire.errAuth))
  end)
end)

describe("error objects", function()
  it("carry every field and read well", function()
    local c = mailwire.SMTPClient()
    local e = H.raises(mailwire, mailwire.errInvalidArgument,
      mailwire.eexInvalidArgument, c.set_server, c, "host\r\nevil", 25)
    assert.are.equal("eexInvalidArgument", e.name)
    assert.are.equal("errInvalidArgument", e.code_name)
    assert.are.equal("set_server", e.operation)
    assert.are.equal(0, e.os_error)
    assert.are.equal(0, e.reply_code)
    assert.are.equal("", e.enhanced_status)
    assert.are.equal("", e.server_text)
    assert.is_string(e.text)
    assert.is_true(#e.text > 10)
    local s = tostring(e)
    assert.truthy(s:find("errInvalidArgument (eexInvalidArgument 1111)", 1,
      true), s)
    assert.truthy(s:find(e.text, 1, true))
    assert.are.equal(mailwire.Error, getmetatable(e))
    -- extended_error() gives the same record without raising.
    local x = c:extended_error()
    assert.are.equal(mailwire.eexInvalidArgument, x.number)
    c:close()
  end)

  it("are eexNone after a success", function()
    local c = mailwire.SMTPClient{server = "127.0.0.1", port = 25}
    local x = c:extended_error()
    assert.are.equal(mailwire.eexNone, x.number)
    assert.are.equal(mailwire.MW_OK, x.code)
    c:close()
  end)
end)

describe("arguments", function()
  it("refuses NUL, CR and LF in text arguments before anything is sent",
    function()
      local c = mailwire.SMTPClient()
      for _, bad in ipairs({"a\0b", "a\rb", "a\nb", "a\r\nMAIL FROM:<x>"}) do
        H.raises(mailwire, mailwire.errInvalidArgument,
          mailwire.eexInvalidArgument, c.set_server, c, bad, 25)
        H.raises(mailwire, mailwire.errInvalidArgument,
          mailwire.eexInvalidArgument, c.set_helo_name, c, bad)
        H.raises(mailwire, mailwire.errInvalidArgument,
          mailwire.eexInvalidArgument, c.set_credentials, c, bad, "pw")
      end
      local p = mailwire.POP3Client()
      H.raises(mailwire, mailwire.errInvalidArgument,
        mailwire.eexInvalidArgument, p.set_credentials, p, "u\0ser", "pw")
      p:close()
      c:close()
    end)

  it("refuses wrong types and unknown settings", function()
    H.raises(mailwire, mailwire.errInvalidArgument,
      mailwire.eexInvalidArgument, mailwire.SMTPClient, {sever = "typo"})
    H.raises(mailwire, mailwire.errInvalidArgument,
      mailwire.eexInvalidArgument, mailwire.SMTPClient, {port = "x"})
    H.raises(mailwire, mailwire.errInvalidArgument,
      mailwire.eexInvalidArgument, mailwire.SMTPClient, {timeout = -1})
    H.raises(mailwire, mailwire.errInvalidArgument,
      mailwire.eexInvalidArgument, mailwire.LogHandler, "not a function")
    local c = mailwire.SMTPClient()
    H.raises(mailwire, mailwire.errInvalidArgument,
      mailwire.eexInvalidArgument, c.set_advanced_handler, c, {})
    H.raises(mailwire, mailwire.errInvalidArgument,
      mailwire.eexInvalidArgument, c.set_server, c, "localhost", 70000)
    H.raises(mailwire, mailwire.errInvalidArgument,
      mailwire.eexInvalidArgument, c.set_auth_mechanism, c, "GSSAPI")
  end)

  it("raises errNotConnected for calls that need a connection", function()
    local c = mailwire.SMTPClient()
    H.raises(mailwire, mailwire.errNotConnected, mailwire.eexNotConnected,
      c.noop, c)
    H.raises(mailwire, mailwire.errNotConnected, mailwire.eexNotConnected,
      c.send, c, "a@example.org", "b@example.org", "x")
    H.raises(mailwire, mailwire.errNotConnected, mailwire.eexNotConnected,
      c.send, c, "a@example.org", {"b@example.org"},
      mailwire.string_source("x"))
    H.raises(mailwire, mailwire.errNotConnected, mailwire.eexNotConnected,
      c.quit, c)
  end)
end)

describe("lifetimes", function()
  it("close is idempotent and later use is a clear error", function()
    for _, make in ipairs({mailwire.SMTPClient, mailwire.POP3Client}) do
      local c = make{server = "127.0.0.1", port = 1}
      assert.is_false(c:is_closed())
      c:close()
      c:close()
      assert.is_true(c:is_closed())
      local e = H.raises(mailwire, mailwire.errState, mailwire.eexState,
        c.connect, c)
      assert.truthy(e.text:find("was closed"), e.text)
      H.raises(mailwire, mailwire.errState, mailwire.eexState,
        c.is_connected, c)
      H.raises(mailwire, mailwire.errState, mailwire.eexState,
        c.set_server, c, "localhost", 25)
      H.raises(mailwire, mailwire.errState, mailwire.eexState,
        c.extended_error, c)
      c:disconnect() -- harmless on a closed client
      assert.truthy(tostring(c):find("closed"))
    end
    local ssl = mailwire.SSLInfo()
    ssl:close()
    H.raises(mailwire, mailwire.errState, mailwire.eexState,
      function() return ssl.mode end)
    H.raises(mailwire, mailwire.errState, mailwire.eexState,
      function() ssl.option[mailwire.SSLNoServerNameCheck] = true end)
    local lh = mailwire.LogHandler(function() end)
    lh:close()
    H.raises(mailwire, mailwire.errState, mailwire.eexState,
      lh.log, lh, mailwire.LOG_S_INFORMATION, "x")
  end)

  it("closes to-be-closed variables", function()
    local seen
    local chunk = assert(load([[
      local mailwire = ...
      local c <close> = mailwire.SMTPClient()
      local s <close> = mailwire.SSLInfo()
      local l <close> = mailwire.LogHandler(function() end)
      return c, s, l
    ]]))
    local c, s, l = chunk(mailwire)
    assert.is_true(c:is_closed())
    seen = pcall(function() return s.mode end)
    assert.is_false(seen)
    H.raises(mailwire, mailwire.errState, mailwire.eexState, l.log, l, 3, "x")
  end)

end)

describe("SSLInfo", function()
  it("has mode and typed options", function()
    local ssl = mailwire.SSLInfo{mode = mailwire.MODE_STARTTLS}
    assert.are.equal(mailwire.MODE_STARTTLS, ssl.mode)
    ssl.mode = mailwire.MODE_CHANNEL
    assert.are.equal(mailwire.MODE_CHANNEL, ssl.mode)
    assert.is_false(ssl.option[mailwire.SSLNoServerNameCheck])
    ssl.option[mailwire.SSLNoServerNameCheck] = true
    assert.is_true(ssl.option[mailwire.SSLNoServerNameCheck])
    ssl.option[mailwire.SSLServerName] = "mail.example.org"
    assert.are.equal("mail.example.org", ssl.option[mailwire.SSLServerName])
    H.raises(mailwire, mailwire.errState, mailwire.eexSSLNocontext,
      function() return ssl.option[mailwire.SSLConnectionProtocolOut] end)
    H.raises(mailwire, mailwire.errInvalidArgument,
      mailwire.eexInvalidArgument, function() ssl.mode = 7 end)
    H.raises(mailwire, mailwire.errInvalidArgument,
      mailwire.eexInvalidArgument, function() ssl.option[999] = 1 end)
    H.raises(mailwire, mailwire.errInvalidArgument,
      mailwire.eexInvalidArgument,
      function() ssl.option[mailwire.SSLServerName] = "a\0b" end)
    H.raises(mailwire, mailwire.errInvalidArgument,
      mailwire.eexInvalidArgument, function() ssl.nosuch = 1 end)
    ssl:close()
  end)
end)

describe("LogHandler", function()
  it("has level and facility flags and logs user messages", function()
    local got = {}
    local lh = mailwire.LogHandler(function(sev, fac, msg)
      got[#got + 1] = {sev, fac, msg}
    end)
    assert.are.equal(mailwire.LOG_S_INFORMATION, lh.level)
    assert.are.equal(mailwire.LOG_F_ALL, lh.facility_flags)
    lh:log(mailwire.LOG_S_WARNING, "hello")
    assert.are.same({mailwire.LOG_S_WARNING, mailwire.LOG_F_USER, "hello"},
      got[1])
    lh.level = mailwire.LOG_S_FATAL
    lh:log(mailwire.LOG_S_WARNING, "filtered")
    assert.are.equal(1, #got)
    lh.facility_flags = mailwire.LOG_F_PROTOCOL
    assert.are.equal(mailwire.LOG_F_PROTOCOL, lh.facility_flags)
    H.raises(mailwire, mailwire.errInvalidArgument,
      mailwire.eexInvalidArgument, function() lh.level = 99 end)
    lh:close()
  end)

  it("hands an error raised in the function to the caller", function()
    local mine = setmetatable({}, {__tostring = function() return "mine" end})
    local lh = mailwire.LogHandler(function() error(mine) end)
    local ok, e = pcall(lh.log, lh, mailwire.LOG_S_WARNING, "x")
    assert.is_false(ok)
    assert.are.equal(mine, e)
    lh:set_function(function() error("plain string") end)
    ok, e = pcall(lh.log, lh, mailwire.LOG_S_WARNING, "x")
    assert.is_false(ok)
    assert.truthy(tostring(e):find("plain string"))
    lh:close()
  end)

  it("leaks no registry reference", function()
    local before = H.registry_size()
    for i = 1, 2000 do
      local lh = mailwire.LogHandler(function() error("x") end)
      lh:set_function(function() end)
      lh:set_function(function() error("y") end)
      pcall(lh.log, lh, 3, "m")
      if i % 2 == 0 then lh:close() end
      local c = mailwire.POP3Client()
      c:set_advanced_handler(lh.log and mailwire.LogHandler(function() end))
      if i % 3 == 0 then c:close() end
    end
    local after = H.registry_size()
    assert.is_true(after - before <= 4, "registry grew by " ..
      (after - before))
  end)

end)

describe("a loop of 10,000 calls", function()
  it("keeps the Lua heap bounded", function()
    local c = mailwire.SMTPClient()
    local ssl = mailwire.SSLInfo()
    local lh = mailwire.LogHandler(function() end)
    c:set_advanced_handler(lh)
    local function round()
      for i = 1, 10000 do
        c:set_server("127.0.0.1", 25)
        ssl.option[mailwire.SSLServerName] = "localhost"
        local _ = ssl.mode
        pcall(c.noop, c) -- errNotConnected: an error object each time
        pcall(c.set_server, c, "a\r\nb", 25)
        if i % 100 == 0 then lh:log(3, "x") end
      end
    end
    round() -- warm up
    collectgarbage()
    collectgarbage()
    local before = collectgarbage("count")
    local reg = H.registry_size()
    round()
    collectgarbage()
    collectgarbage()
    local after = collectgarbage("count")
    assert.is_true(after - before < 64, string.format(
      "heap grew from %.0f KB to %.0f KB", before, after))
    assert.is_true(H.registry_size() - reg <= 2)
    c:close()
  end)
end)
