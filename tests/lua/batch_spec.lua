-- Batches: SMTPClient:send_batch against the real Postfix (PIPELINING and
-- CHUNKING offered on every listener), the POP3Client batch calls against
-- the real Dovecot (PIPELINING offered). What the client sent is read from
-- its log (every line it writes is logged as "C: ...").
local H = mwtest
local mailwire = require "mailwire"

local function address(user)
  return (user or H.get("USER")) .. "@" .. H.get("MAIL_DOMAIN")
end

local function smtp_client(extra)
  local opts = {server = "127.0.0.1", port = H.port("SMTP_PORT"),
    timeout = 15, helo = "lua.mailwire.test",
    ssl = mailwire.SSLInfo{mode = mailwire.MODE_STARTTLS,
      ca_file = H.get("CA_FILE")},
    user = H.get("USER"), password = H.get("PASS")}
  for k, v in pairs(extra or {}) do opts[k] = v end
  local lh, lines = H.collector(mailwire)
  opts.log = lh
  return mailwire.SMTPClient(opts), lines
end

local function pop3_client(extra)
  local opts = {server = "127.0.0.1", port = H.port("POP3S_PORT"),
    timeout = 15, user = H.get("USER2"), password = H.get("PASS2"),
    ssl = mailwire.SSLInfo{mode = mailwire.MODE_CHANNEL,
      ca_file = H.get("CA_FILE")}}
  for k, v in pairs(extra or {}) do opts[k] = v end
  local lh, lines = H.collector(mailwire)
  opts.log = lh
  return mailwire.POP3Client(opts), lines
end

local function body(marker, text)
  return "Subject: " .. marker .. "\r\nX-Marker: " .. marker .. "\r\n\r\n"
    .. text .. "\r\n..dot\r\n" .. marker .. "\r\n"
end

-- One message per marker to USER2, in one batch; waits for delivery.
local function batch_deliver(markers)
  local to = address(H.get("USER2"))
  local c = smtp_client()
  c:connect()
  local msgs = {}
  for i, m in ipairs(markers) do msgs[i] = {from = to, to = to, data = body(m, "batch " .. i)} end
  local r = c:send_batch(msgs)
  for i = 1, #markers do assert.are.equal(250, r[i].code) end
  c:quit()
  c:close()
  for _, m in ipairs(markers) do
    assert.is_truthy(H.wait_delivery(H.get("USER2"), m, 30), m)
  end
end

-- The numbers of the marked messages, in the order of markers.
local function numbers_of(c, markers)
  local found = {}
  for _, e in ipairs(c:list()) do
    local head = c:top(e.number, 0)
    for i, m in ipairs(markers) do
      if head:find(m, 1, true) then found[i] = e.number end
    end
  end
  for i, m in ipairs(markers) do assert.is_truthy(found[i], m) end
  return found
end

local function first_server_line(lines, from)
  for i = from or 1, #lines do
    if lines[i]:match("^S: ") then return i end
  end
end

local function index_of(lines, text)
  for i, l in ipairs(lines) do if l == text then return i end end
end

describe("SMTP batches against Postfix", function()
  for _, chunking in ipairs({true, false}) do
    it("sends 3 messages to several recipients in one flight (chunking "
      .. tostring(chunking) .. ")", function()
      local markers = {H.marker("b1"), H.marker("b2"), H.marker("b3")}
      local to = {address(), address(H.get("USER2"))}
      local c, lines = smtp_client{chunking = chunking, pipelining = true}
      c:connect()
      assert.is_true(c:has_extension("PIPELINING"))
      assert.is_true(c:has_extension("CHUNKING"))
      local from = #lines + 1
      local r = c:send_batch{
        {from = to[1], to = to, data = body(markers[1], "named")},
        {to[1], to, body(markers[2], "positional")},
        {from = to[2], to = to,
         data = mailwire.string_source(body(markers[3], "source"), 7)},
      }
      local sent = H.client_lines(lines, from)
      assert.are.equal(3, #r)
      for i = 1, 3 do
        assert.are.equal(250, r[i].code)
        assert.are.equal("2.0.0", r[i].enhanced_status)
        assert.is_true(r[i].ok)
        assert.are.equal(2, #r[i].recipients)
        for j = 1, 2 do
          assert.are.equal(to[j], r[i].recipients[j].address)
          assert.are.equal(250, r[i].recipients[j].code)
          assert.are.equal("2.1.5", r[i].recipients[j].enhanced_status)
        end
      end
      assert.are.same(r, c:batch_results())
      local bdat, data = 0, 0
      for _, l in ipairs(sent) do
        if l:match("^C: BDAT ") then bdat = bdat + 1 end
        if l == "C: DATA" then data = data + 1 end
      end
      assert.are.equal(chunking and 3 or 0, bdat)
      assert.are.equal(chunking and 0 or 3, data)
      -- Pipelined: MAIL and both RCPTs before the first reply.
      assert.truthy(sent[1]:find("^C: MAIL FROM:<" .. to[1] .. ">"))
      assert.are.equal("C: RCPT TO:<" .. to[2] .. ">", sent[3])
      assert.is_true(index_of(lines, sent[3]) < first_server_line(lines, from))
      c:quit()
      c:close()
      for _, user in ipairs({H.get("USER"), H.get("USER2")}) do
        for i, what in ipairs({"named", "positional", "source"}) do
          local got = H.wait_delivery(user, markers[i], 30)
          assert.is_truthy(got, user .. " " .. markers[i])
          assert.truthy(got:gsub("\r\n", "\n"):find("\n" .. what .. "\n..dot\n",
            1, true), what)
        end
      end
    end)
  end

  it("reports a refused recipient with exact per-recipient results",
    function()
      local markers = {H.marker("r1"), H.marker("r2"), H.marker("r3")}
      local good, good2 = address(), address(H.get("USER2"))
      local unknown = "no-such-user-" .. math.random(1, 1e9) .. "@"
        .. H.get("MAIL_DOMAIN")
      local c = smtp_client()
      c:connect()
      local e = H.raises(mailwire, mailwire.errServer, mailwire.eexSmtpServer,
        c.send_batch, c, {
          {from = good, to = {good2}, data = body(markers[1], "one")},
          {from = good, to = {unknown, good2}, data = body(markers[2], "two")},
          {from = good, to = {unknown}, data = body(markers[3], "three")},
        })
      assert.are.equal(550, e.reply_code)
      assert.are.equal("5.1.1", e.enhanced_status)
      assert.truthy(e.text:find("message 2", 1, true))
      assert.truthy(e.text:find(unknown, 1, true))
      local r = e.results
      assert.are.equal(3, #r)
      assert.are.same(r, c:batch_results())
      assert.is_true(r[1].ok)
      assert.are.equal(250, r[1].code)
      assert.are.same({{address = good2, code = 250, enhanced_status = "2.1.5",
        text = "2.1.5 Ok"}}, r[1].recipients)
      -- Message 2 went to the accepted recipient only.
      assert.are.equal(250, r[2].code)
      assert.is_false(r[2].ok)
      assert.are.equal(unknown, r[2].recipients[1].address)
      assert.are.equal(550, r[2].recipients[1].code)
      assert.are.equal("5.1.1", r[2].recipients[1].enhanced_status)
      assert.truthy(r[2].recipients[1].text:find("User unknown", 1, true))
      assert.are.same({address = good2, code = 250, enhanced_status = "2.1.5",
        text = "2.1.5 Ok"}, r[2].recipients[2])
      -- Message 3 had no valid recipient: its body was refused.
      assert.are.equal(554, r[3].code)
      assert.are.equal("5.5.1", r[3].enhanced_status)
      assert.are.equal("5.5.1 Error: no valid recipients", r[3].text)
      assert.are.equal(550, r[3].recipients[1].code)
      -- The session goes on.
      assert.is_true(c:is_connected())
      assert.is_true(c:send_batch{{good, good2, body(H.marker("after"), "x")}}[1].ok)
      c:quit()
      c:close()
      assert.is_truthy(H.wait_delivery(H.get("USER2"), markers[1], 30))
      assert.is_truthy(H.wait_delivery(H.get("USER2"), markers[2], 30))
      assert.is_nil(H.wait_delivery(H.get("USER2"), markers[3], 2))
    end)

  it("refuses NUL, CR and LF inside a batch before anything is sent",
    function()
      local c, lines = smtp_client()
      c:connect()
      local to = address()
      local good = {from = to, to = {to}, data = "Subject: x\r\n\r\nx\r\n"}
      for _, bad in ipairs({"x@example.org\r\nRCPT TO:<evil@example.org>",
        "x@example.org\nDATA", "x@example.org\rQUIT", "x@example.org\0evil"}) do
        local before = #H.client_lines(lines)
        for _, m in ipairs({{from = bad, to = {to}, data = "x"},
          {from = to, to = {bad}, data = "x"},
          {from = to, to = {to, bad}, data = "x"}}) do
          local e = H.raises(mailwire, mailwire.errInvalidArgument,
            mailwire.eexInvalidArgument, c.send_batch, c, {good, good, m})
          assert.are.same({}, e.results)
          assert.are.same({}, c:batch_results())
        end
        assert.are.same({}, {select(before + 1,
          table.unpack(H.client_lines(lines)))}, "something was sent")
      end
      local before = #H.client_lines(lines)
      H.raises(mailwire, mailwire.errAborted, mailwire.eexAborted,
        c.send_batch, c, {good, {from = to, to = to,
          data = function() return nil, "disk on fire" end}})
      for _, wrong in ipairs({"not a table", {"not a message"},
        {{from = to, data = "x"}}, {{from = to, to = {to}, data = 42}}}) do
        H.raises(mailwire, mailwire.errInvalidArgument,
          mailwire.eexInvalidArgument, c.send_batch, c, wrong)
      end
      assert.are.same({}, {select(before + 1,
        table.unpack(H.client_lines(lines)))}, "something was sent")
      assert.is_true(c:is_connected())
      c:quit()
      c:close()
    end)
end)

describe("POP3 batches against Dovecot", function()
  it("retr/top/list/uidl batches equal the single calls byte for byte",
    function()
      local markers = {H.marker("p1"), H.marker("p2"), H.marker("p3")}
      batch_deliver(markers)
      local c, lines = pop3_client()
      c:connect()
      assert.is_true(c:has_capability("PIPELINING"))
      local nums = numbers_of(c, markers)
      nums[#nums + 1] = nums[1]
      local single, tops, sizes, uids = {}, {}, {}, {}
      for i, n in ipairs(nums) do
        single[i] = c:retr(n)
        tops[i] = c:top(n, 1)
        sizes[i] = c:list(n)
        uids[i] = c:uidl(n)
      end
      local from = #lines + 1
      assert.are.same(single, c:retr_batch(nums))
      local sent = H.client_lines(lines, from)
      for i, n in ipairs(nums) do
        assert.are.equal("C: RETR " .. n, sent[i])
      end
      assert.are.equal(#nums, #sent)
      -- Pipelined: every command before the first reply.
      assert.is_true(index_of(lines, sent[#sent]) < first_server_line(lines, from))
      for i, r in ipairs(c:batch_results()) do
        assert.are.equal(nums[i], r.number)
        assert.are.equal(mailwire.MW_OK, r.status)
        assert.is_true(r.ok)
      end
      assert.are.same(tops, c:top_batch(nums, 1))
      assert.are.same(sizes, c:list_batch(nums))
      assert.are.same(uids, c:uidl_batch(nums))
      -- Into a sink: chunk nil after each message.
      local got, ended = {}, {}
      assert.is_true(c:retr_batch({nums[1], nums[2], nums[3]},
        function(n, chunk)
          if chunk == nil then
            ended[#ended + 1] = n
          else
            got[n] = (got[n] or "") .. chunk
          end
        end))
      assert.are.same({nums[1], nums[2], nums[3]}, ended)
      for i = 1, 3 do assert.are.equal(single[i], got[nums[i]]) end
      -- One command at a time without pipelining.
      c:set_pipelining(false)
      from = #lines + 1
      assert.are.same({single[1], single[2]}, c:retr_batch{nums[1], nums[2]})
      local kinds = {}
      for i = from, #lines do
        local k = lines[i]:match("^([CS]): ")
        if k then kinds[#kinds + 1] = k end
      end
      assert.are.same({"C", "S", "S", "C"}, {kinds[1], kinds[2], kinds[3], kinds[4]})
      c:quit()
      c:close()
    end)

  it("reports -ERR for a message that does not exist, per message",
    function()
      local markers = {H.marker("e1"), H.marker("e2")}
      batch_deliver(markers)
      local c = pop3_client()
      c:connect()
      local nums = numbers_of(c, markers)
      local missing = c:stat() + 1000
      local a, b = c:retr(nums[1]), c:retr(nums[2])
      local e = H.raises(mailwire, mailwire.errServer, mailwire.eexPopServer,
        c.retr_batch, c, {nums[1], missing, nums[2]})
      assert.are.equal(0, e.reply_code)
      assert.truthy(e.server_text:find(tostring(missing), 1, true))
      local r = e.results
      assert.are.equal(3, #r)
      assert.are.same({nums[1], mailwire.MW_OK, a},
        {r[1].number, r[1].status, r[1].value})
      assert.are.same({missing, mailwire.errServer, false},
        {r[2].number, r[2].status, r[2].ok})
      assert.is_nil(r[2].value)
      assert.truthy(r[2].text:find(tostring(missing), 1, true))
      assert.are.same({nums[2], mailwire.MW_OK, b},
        {r[3].number, r[3].status, r[3].value})
      e = H.raises(mailwire, mailwire.errServer, mailwire.eexPopServer,
        c.list_batch, c, {missing, nums[1]})
      assert.are.equal(#a, e.results[2].value)
      assert.is_true(c:is_connected())
      c:noop()
      c:quit()
      c:close()
    end)

  it("dele_batch then quit deletes the messages", function()
    local markers = {H.marker("d1"), H.marker("d2"), H.marker("d3")}
    batch_deliver(markers)
    local c = pop3_client()
    c:connect()
    local count = c:stat()
    local nums = numbers_of(c, markers)
    local e = H.raises(mailwire, mailwire.errServer, mailwire.eexPopServer,
      c.dele_batch, c, {nums[1], nums[2], count + 1000})
    assert.are.same({mailwire.MW_OK, mailwire.MW_OK, mailwire.errServer},
      {e.results[1].status, e.results[2].status, e.results[3].status})
    c:dele_batch{nums[3]}
    assert.is_true(c:batch_results()[1].ok)
    c:quit()
    c:close()
    c = pop3_client()
    c:connect()
    assert.are.equal(count - 3, c:stat())
    for _, entry in ipairs(c:list()) do
      local head = c:top(entry.number, 0)
      for _, m in ipairs(markers) do
        assert.is_falsy(head:find(m, 1, true), m)
      end
    end
    c:quit()
    c:close()
  end)

  it("a sink that raises mid-batch ends it cleanly", function()
    local markers = {H.marker("s1"), H.marker("s2"), H.marker("s3")}
    batch_deliver(markers)
    local c = pop3_client()
    c:connect()
    local nums = numbers_of(c, markers)
    local boom = setmetatable({}, {__tostring = function() return "boom" end})
    local seen = {}
    local ok, e = pcall(c.retr_batch, c, nums, function(n, chunk)
      if n == nums[2] then error(boom) end
      seen[#seen + 1] = chunk == nil and "end" or "data"
    end)
    assert.is_false(ok)
    assert.are.equal(boom, e) -- the sink's own error, unchanged
    assert.are.equal("end", seen[#seen])
    assert.is_false(c:is_connected())
    local st = {}
    for i, r in ipairs(c:batch_results()) do st[i] = r.status end
    assert.are.same({mailwire.MW_OK, mailwire.errAborted,
      mailwire.errNotConnected}, st)
    -- A sink returning false aborts with errAborted.
    c:connect()
    H.raises(mailwire, mailwire.errAborted, mailwire.eexAborted,
      c.retr_batch, c, nums, function() return false end)
    assert.is_false(c:is_connected())
    -- The client connects again; nothing was lost.
    c:connect()
    local all = c:retr_batch(nums)
    assert.are.equal(c:retr(nums[2]), all[2])
    c:quit()
    c:close()
  end)

  it("holds at most max_message_size per message in memory", function()
    local marker = H.marker("big")
    batch_deliver({marker})
    local c = pop3_client()
    c:connect()
    local n = numbers_of(c, {marker})[1]
    c:set_max_message_size(c:list(n) - 1)
    local e = H.raises(mailwire, mailwire.errServer,
      mailwire.eexMessageTooLarge, c.retr_batch, c, {n})
    assert.are.equal(mailwire.errAborted, e.results[1].status)
    assert.is_false(c:is_connected())
    c:close()
  end)

  it("refuses bad message numbers before anything is sent", function()
    local c, lines = pop3_client()
    c:connect()
    local before = #H.client_lines(lines)
    for _, call in ipairs({
      function() return c:retr_batch{1, 0} end,
      function() return c:dele_batch{2, -1} end,
      function() return c:top_batch({1.5}, 0) end,
      function() return c:list_batch{"x"} end,
      function() return c:uidl_batch(7) end,
      function() return c:retr_batch({1}, "not a function") end,
    }) do
      local e = H.raises(mailwire, mailwire.errInvalidArgument,
        mailwire.eexInvalidArgument, call)
      assert.are.same({}, e.results or {})
    end
    assert.are.same({}, {select(before + 1,
      table.unpack(H.client_lines(lines)))}, "something was sent")
    c:quit()
    c:close()
  end)
end)
