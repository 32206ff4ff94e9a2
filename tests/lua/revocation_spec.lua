-- The revocation matrix from Lua: every case of
-- tests/servers/revocation-cases.txt (one SMTP connection over implicit TLS
-- each) against the servers of tests/servers/revocation-matrix.py, with the
-- same assertions as the C runner (tests/c/test_revocation_matrix.c) and
-- the Python one (tests/python/test_revocation_matrix.py): base code,
-- extended number, verify result, SSLRevocationStatus, pieces of
-- SSLRevocationDetail and of the text. It starts its own servers, not the
-- real ones of tests/servers/start.sh.
local H = mwtest
local mailwire = require "mailwire"

local script = H.root .. "/tests/servers/revocation-matrix.py"
local columns = {"id", "leaf", "port", "staple", "tls", "options", "crl",
  "code", "eex", "verify", "status", "detail", "text"}

local function split(s, sep)
  local out, pos = {}, 1
  while true do
    local a, b = s:find(sep, pos, true)
    if not a then
      out[#out + 1] = s:sub(pos)
      return out
    end
    out[#out + 1] = s:sub(pos, a - 1)
    pos = b + 1
  end
end

-- The case ids, from the source list (known before the servers start);
-- MW_REVOCATION_FILTER (a piece of an id) keeps only some:
-- scripts/valgrind-bindings.sh runs a few, since the binding adds nothing
-- of its own to revocation.
local function case_ids()
  local ids, only = {}, os.getenv("MW_REVOCATION_FILTER") or ""
  for line in io.lines(H.root .. "/tests/servers/revocation-cases.txt") do
    if line:match("%S") and not line:match("^%s*#") then
      local id = split(line, " | ")[1]:match("^%s*(.-)%s*$")
      if id:find(only, 1, true) then ids[#ids + 1] = id end
    end
  end
  return ids
end

local dir, cases

local function start()
  local p = io.popen("mktemp -d /tmp/mw-revmatrix-lua.XXXXXX")
  dir = p:read("*l")
  p:close()
  assert(H.run(H.q(script) .. " start " .. H.q(dir) .. " >" ..
    H.q(dir .. "/start.log") .. " 2>&1"), script .. " failed; see " .. dir ..
    "/start.log")
  cases = {}
  for line in io.lines(dir .. "/cases.tsv") do
    local row = {}
    for i, v in ipairs(split(line, "\t")) do row[columns[i]] = v end
    cases[row.id] = row
  end
end

local function make_ssl(case)
  local ssl = mailwire.SSLInfo{mode = mailwire.MODE_CHANNEL}
  ssl.option[mailwire.SSLCAFile] = dir .. "/root.pem"
  if case.crl ~= "-" then ssl.option[mailwire.SSLCRLFile] = case.crl end
  if case.options == "-" then return ssl end
  for _, opt in ipairs(split(case.options, ",")) do
    if opt == "end" then
      ssl.option[mailwire.SSLRevocationCheckEnd] = true
    elseif opt == "noall" then
      ssl.option[mailwire.SSLRevocationCheckAll] = false
    elseif opt == "root" then
      ssl.option[mailwire.SSLRevocationExcludeRoot] = true
    elseif opt:match("^timeout=") then
      ssl.option[mailwire.SSLRevocationTimeout] = tonumber(opt:sub(9))
    else
      assert(opt == "nrc" or opt == "ro" or opt == "strict",
        "unknown option " .. opt)
    end
    if opt == "nrc" or opt == "strict" then
      ssl.option[mailwire.SSLRevocationIgnoreNRC] = false
    end
    if opt == "ro" or opt == "strict" then
      ssl.option[mailwire.SSLRevocationIgnoreRO] = false
    end
  end
  return ssl
end

local function check_pieces(what, got, want)
  if want == "-" then return end
  for _, piece in ipairs(split(want, " && ")) do
    if piece:sub(1, 1) == "!" then
      assert(not got:find(piece:sub(2), 1, true),
        string.format("%s %q holds %q", what, got, piece:sub(2)))
    else
      assert(got:find(piece, 1, true),
        string.format("%s %q lacks %q", what, got, piece))
    end
  end
end

local function run_case(case)
  local ssl = make_ssl(case)
  local c = mailwire.SMTPClient{server = "127.0.0.1",
    port = tonumber(case.port), timeout = 20, ssl = ssl}
  local ok, e = pcall(c.connect, c)
  if case.code == "ok" then
    assert(ok, tostring(e))
    c:quit()
  else
    assert(not ok, "connected")
    assert(mailwire.is_error(e), tostring(e))
    assert.are.equal(mailwire[case.code], e.code)
    assert.are.equal(mailwire[case.eex], e.number)
    assert.are.equal(tonumber(case.verify), e.verify_result)
    check_pieces("text", e.text, case.text)
  end
  c:close()
  local detail = ssl.option[mailwire.SSLRevocationDetail]
  assert.are.equal(mailwire["SSL_REVOCATION_" .. case.status],
    ssl.option[mailwire.SSLRevocationStatus], detail)
  check_pieces("detail", detail, case.detail)
end

describe("revocation matrix", function()
  setup(start)
  teardown(function()
    if dir then H.run(H.q(script) .. " clean " .. H.q(dir)) end
  end)
  for _, id in ipairs(case_ids()) do
    it(id, function() run_case(cases[id]) end)
  end
end)
