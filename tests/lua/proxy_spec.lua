-- ProxyInfo from Lua, against the real proxies tests/servers starts
-- (microsocks, dante, tinyproxy): mail sent and retrieved through each, in
-- every TLS mode, and each refusal raised with its number.
local H = mwtest
local mailwire = require "mailwire"

local function address()
  return H.get("USER") .. "@" .. H.get("MAIL_DOMAIN")
end

-- name, constructor, extra settings, port key, needs credentials
local proxies = {
  {"microsocks SOCKS5 auth", "SOCK5ProxyInfo", {}, "MICROSOCKS_PORT", true},
  {"dante SOCKS5", "SOCK5ProxyInfo", {}, "DANTE_PORT", false},
  {"dante SOCKS5 auth", "SOCK5ProxyInfo", {}, "DANTE_AUTH_PORT", true},
  {"dante SOCKS4", "SOCK4ProxyInfo", {}, "DANTE_PORT", false},
  {"dante SOCKS4a", "SOCK4ProxyInfo", {socks4a = true}, "DANTE_PORT", false},
  {"tinyproxy HTTP", "HTTPProxyInfo", {}, "TINYPROXY_PORT", true},
}

-- The proxy is "localhost", the mail server "127.0.0.1": TLS checks the
-- mail server's name, never the proxy's.
local function make_proxy(p)
  local opts = {server = "localhost", port = H.port(p[4])}
  for k, v in pairs(p[3]) do opts[k] = v end
  if p[5] then
    opts.user, opts.password = H.get("PROXY_USER"), H.get("PROXY_PASS")
  end
  return mailwire[p[2]](opts)
end

local function ssl(mode)
  return mode and mailwire.SSLInfo{mode = mode, ca_file = H.get("CA_FILE")}
end

local function through(p, how)
  local mode = how == "starttls" and mailwire.MODE_STARTTLS
    or how == "channel" and mailwire.MODE_CHANNEL or nil
  local marker = H.marker("proxy")
  local to = address()
  local lh, lines = H.collector(mailwire)
  local c = mailwire.SMTPClient{server = "127.0.0.1",
    port = H.port(how == "channel" and "SMTPS_PORT" or "SMTP_PORT"),
    timeout = 15, helo = "lua.mailwire.test", ssl = ssl(mode),
    proxy = make_proxy(p), log = lh}
  c:connect()
  assert.are.equal(mode ~= nil, c:is_secure())
  c:send(to, {to}, "Subject: " .. marker .. "\r\n\r\nvia " .. p[1] .. "\r\n")
  c:quit()
  c:close()
  assert.is_truthy(H.wait_delivery(H.get("USER"), marker, 30), p[1])
  for _, l in ipairs(lines) do
    assert.is_falsy(l:find(H.get("PROXY_PASS"), 1, true), "logged: " .. l)
  end
  local pop = mailwire.POP3Client{server = "127.0.0.1",
    port = H.port(how == "channel" and "POP3S_PORT" or "POP3_PORT"),
    timeout = 15, ssl = ssl(mode), proxy = make_proxy(p),
    user = H.get("USER"), password = H.get("PASS"),
    allow_plaintext_auth = mode == nil}
  pop:connect()
  local found
  for _, e in ipairs(pop:list()) do
    if pop:top(e.number, 0):find(marker, 1, true) then found = e.number end
  end
  assert.is_truthy(found, "not retrieved through " .. p[1])
  assert.truthy(pop:retr(found):find("via " .. p[1], 1, true))
  pop:dele(found)
  pop:quit()
  pop:close()
end

local function connect_via(px, port)
  local c = mailwire.SMTPClient{server = "127.0.0.1", port = port,
    timeout = 5, proxy = px}
  return c, function() c:connect() end
end

describe("ProxyInfo", function()
  for _, how in ipairs({"plain", "starttls", "channel"}) do
    it("sends and retrieves through each real proxy (" .. how .. ")",
      function()
        for _, p in ipairs(proxies) do through(p, how) end
      end)
  end

  it("raises the proxies' refusals with their numbers", function()
    local smtp = H.port("SMTP_PORT")
    local closed = H.port("CLOSED_PORT")
    for _, key in ipairs({"MICROSOCKS_PORT", "DANTE_AUTH_PORT"}) do
      local _, f = connect_via(mailwire.SOCK5ProxyInfo{server = "localhost",
        port = H.port(key)}, smtp)
      H.raises(mailwire, mailwire.errProxy, mailwire.eexProxyAuthrequired, f)
      _, f = connect_via(mailwire.SOCK5ProxyInfo{server = "localhost",
        port = H.port(key), user = H.get("PROXY_USER"),
        password = "wrong-password"}, smtp)
      local e = H.raises(mailwire, mailwire.errProxy,
        mailwire.eexProxyAuthfailed, f)
      assert.is_falsy(tostring(e):find("wrong-password", 1, true))
    end
    local _, f = connect_via(mailwire.HTTPProxyInfo{server = "localhost",
      port = H.port("TINYPROXY_PORT")}, smtp)
    H.raises(mailwire, mailwire.errProxy, mailwire.eexProxyAuthrequired, f)
    _, f = connect_via(mailwire.SOCK5ProxyInfo{server = "localhost",
      port = H.port("DANTE_PORT")}, closed)
    H.raises(mailwire, mailwire.errProxy, mailwire.eexProxyRequestfailed, f)
    _, f = connect_via(mailwire.SOCK5ProxyInfo{server = "localhost",
      port = closed}, smtp)
    H.raises(mailwire, mailwire.errProxy, mailwire.eexProxyNoconn, f)
    local c
    c, f = connect_via(mailwire.SOCK5ProxyInfo{server = "localhost",
      port = H.port("MICROSOCKS_PORT")}, smtp)
    pcall(f)
    H.raises(mailwire, mailwire.errNotConnected, mailwire.eexNotConnected,
      c.send, c, address(), {address()}, "Subject: x\r\n\r\nnot sent\r\n")
  end)

  it("checks its arguments and its lifetime", function()
    local p = mailwire.SOCK5ProxyInfo{server = "localhost"}
    assert.are.equal(mailwire.MW_PROXY_SOCKS5, p.kind)
    assert.are.equal(1080, p.port)
    assert.are.equal("localhost", p.server)
    assert.is_true(p.remote_dns)
    p.remote_dns = false
    assert.is_false(p.remote_dns)
    assert.are.equal(8080, mailwire.HTTPProxyInfo{server = "h"}.port)
    assert.are.equal(mailwire.MW_PROXY_SOCKS4A,
      mailwire.SOCK4ProxyInfo{server = "h", socks4a = true}.kind)
    H.raises(mailwire, mailwire.errInvalidArgument,
      mailwire.eexInvalidArgument, mailwire.ProxyInfo, {kind = 99})
    H.raises(mailwire, mailwire.errInvalidArgument,
      mailwire.eexInvalidArgument, mailwire.SOCK5ProxyInfo,
      {server = "local\0host"})
    H.raises(mailwire, mailwire.errInvalidArgument,
      mailwire.eexInvalidArgument, p.set_credentials, p, "a\r\nb", "pw")
    H.raises(mailwire, mailwire.errInvalidArgument,
      mailwire.eexInvalidArgument, mailwire.SOCK5ProxyInfo,
      {server = "h", bogus = 1})
    -- A POP3 proxy on an SMTP client: refused at connect, before any I/O.
    local c, f = connect_via(mailwire.POP3ProxyInfo{server = "localhost",
      port = H.port("CLOSED_PORT")}, H.port("SMTP_PORT"))
    H.raises(mailwire, mailwire.errInvalidArgument,
      mailwire.eexInvalidArgument, f)
    c:close()
    -- Closed: a clear error, never a crash; a client keeps its own reference.
    local q = mailwire.SOCK5ProxyInfo{server = "localhost",
      port = H.port("DANTE_PORT")}
    local c2 = mailwire.SMTPClient{server = "127.0.0.1",
      port = H.port("SMTP_PORT"), timeout = 15, proxy = q}
    q:close()
    H.raises(mailwire, mailwire.errState, mailwire.eexState,
      q.set_server, q, "x", 1)
    H.raises(mailwire, mailwire.errState, mailwire.eexState,
      mailwire.SMTPClient{}.set_advanced_handler, mailwire.SMTPClient{}, q)
    collectgarbage()
    c2:connect() -- still through dante
    c2:quit()
    c2:close()
    do
      local r <close> = mailwire.SOCK5ProxyInfo{server = "localhost"}
    end
  end)
end)
