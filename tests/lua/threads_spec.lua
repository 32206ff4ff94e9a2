-- Shared handlers in one Lua state (issue #14). A Lua state is never used
-- by two threads, so this is the Lua side of sharing: many clients, driven
-- by coroutines and connected at the same time, sharing two SSLInfos and
-- one LogHandler. Each client's tls_option describes its own connection,
-- an SSLInfo refuses changes while any of its clients is connected and
-- accepts them once all are gone, and the log counts are exact.
local H = mwtest
local mailwire = require "mailwire"

describe("one state, many clients sharing SSLInfo and LogHandler", function()
  it("keeps each connection's results its own", function()
    local established, quits = 0, 0
    local log = mailwire.LogHandler(function(_, _, message)
      if message:find("^TLS established") then established = established + 1 end
      if message == "C: QUIT" then quits = quits + 1 end
    end)
    local function shared(mode, version)
      local ssl = mailwire.SSLInfo{mode = mode, ca_file = H.get("CA_FILE")}
      ssl.option[mailwire.SSLConnectionProtocolIn] = {version}
      return ssl
    end
    local starttls = shared(mailwire.MODE_STARTTLS, mailwire.SSL_TLS1_2)
    local channel = shared(mailwire.MODE_CHANNEL, mailwire.SSL_TLS1_3)
    -- (SSLInfo, version name, client kind, port)
    local kinds = {
      {starttls, "TLSv1.2", mailwire.SMTPClient, "SMTP_PORT"},
      {starttls, "TLSv1.2", mailwire.POP3Client, "POP3_PORT"},
      {channel, "TLSv1.3", mailwire.SMTPClient, "SMTPS_PORT"},
      {channel, "TLSv1.3", mailwire.POP3Client, "POP3S_PORT"},
    }
    local rounds, per_round = 3, 8

    -- One session in steps; the scheduler resumes every coroutine once per
    -- step, so all the clients of a round are connected together.
    local function session(k)
      local ssl, version, Client, port_key = table.unpack(kinds[k])
      local opts = {server = "localhost", port = H.port(port_key), ssl = ssl,
        log = log, timeout = 20}
      if Client == mailwire.POP3Client then
        opts.user, opts.password = H.get("USER"), H.get("PASS")
      end
      local c = Client(opts)
      c:connect()
      coroutine.yield()
      assert.are.equal(version,
        c.tls_option[mailwire.SSLConnectionProtocolName])
      assert.is_truthy(c.tls_option[mailwire.SSLPeerSubject]:find("localhost"))
      assert.are.equal(version, ssl.option[mailwire.SSLConnectionProtocolName])
      H.raises(mailwire, mailwire.errState, mailwire.eexSSLConnected,
        function() ssl.option[mailwire.SSLNoServerNameCheck] = false end)
      coroutine.yield()
      c:noop()
      coroutine.yield()
      c:quit()
      -- The results outlive the connection; an input index is no result.
      assert.are.equal(version,
        c.tls_option[mailwire.SSLConnectionProtocolName])
      H.raises(mailwire, mailwire.errInvalidArgument,
        mailwire.eexInvalidArgument, function() return c.tls_option[1] end)
      c:close()
    end

    for round = 1, rounds do
      local cos = {}
      for i = 1, per_round do
        cos[i] = coroutine.create(session)
        local ok, err = coroutine.resume(cos[i], (i + round) % #kinds + 1)
        assert(ok, err)
      end
      local alive = true
      while alive do
        alive = false
        for i = 1, per_round do
          if coroutine.status(cos[i]) ~= "dead" then
            local ok, err = coroutine.resume(cos[i])
            assert(ok, err)
            alive = true
          end
        end
      end
      -- Every client has quit: the SSLInfos may change again.
      starttls.option[mailwire.SSLNoServerNameCheck] = false
      channel.option[mailwire.SSLNoServerNameCheck] = false
    end
    assert.are.equal(rounds * per_round, established)
    assert.are.equal(rounds * per_round, quits)
  end)

  it("reads nothing from a client before its handshake", function()
    local c = mailwire.SMTPClient{server = "localhost",
      port = H.port("SMTP_PORT"), timeout = 20}
    H.raises(mailwire, mailwire.errState, mailwire.eexSSLNocontext,
      function() return c.tls_option[mailwire.SSLConnectionProtocolOut] end)
    assert.has_error(function() c.tls_option[20] = 1 end)
    c:close()
  end)
end)
