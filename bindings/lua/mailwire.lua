--- mailwire: send mail over SMTP and retrieve it over POP3, with TLS,
-- precise errors and logging. The idiomatic layer over the raw module
-- mailwire.core (SWIG wrapper of mailwire.h plus hand-written glue).
--
--   local mailwire = require "mailwire"
--   local ssl = mailwire.SSLInfo{mode = mailwire.MODE_STARTTLS}
--   local smtp = mailwire.SMTPClient{server = "mail.example.org", port = 587,
--                                    ssl = ssl, user = "me", password = "pw"}
--   smtp:connect()
--   smtp:send("me@example.org", {"you@example.org"}, message)
--   smtp:quit()
--
-- Every failure raises an error object (see mailwire.Error); catch it with
-- pcall. Nothing about the protocols lives here: this layer converts
-- arguments and results and calls the C library.
local core = require "mailwire.core"

local M = {}
M._VERSION = core.mw_version()
M.VERSION = M._VERSION

local unpack = table.unpack or unpack
local toint = math.tointeger or function(x) return x end
local pack = table.pack or function(...)
  return {n = select("#", ...), ...}
end

-- Every constant of mailwire.h: MODE_*, SSL*, LOG_*, eex*, err*, MW_*.
for k, v in pairs(core) do
  if type(v) == "number" and type(k) == "string" then
    M[k] = toint(v) or v
  end
end

local errInvalidArgument, eexInvalidArgument =
  M.errInvalidArgument, M.eexInvalidArgument
local errState, eexState = M.errState, M.eexState

---------------------------------------------------------------------------
-- Errors
---------------------------------------------------------------------------

--- The metatable of every error object mailwire raises. Fields:
-- number (extended, eex*), name ("eexDNS"), code (base, err*),
-- code_name ("errConnect"), text (a sentence), os_error, verify_result,
-- reply_code, enhanced_status, server_text, operation ("connect" ...).
local Error = {}
Error.__index = Error
Error.__name = "mailwire.Error"
M.Error = Error

function Error.__tostring(e)
  local s = string.format("mailwire: %s (%s %d): %s", e.code_name,
    e.name, e.number, e.text)
  if e.operation then
    s = s .. " [in " .. e.operation .. "]"
  end
  if e.reply_code and e.reply_code ~= 0 and e.server_text ~= "" then
    local code = e.reply_code > 0 and tostring(e.reply_code) or "-ERR"
    local enh = ""
    if e.enhanced_status ~= "" and
        e.server_text:sub(1, #e.enhanced_status) ~= e.enhanced_status then
      enh = " " .. e.enhanced_status
    end
    s = s .. string.format(" (server: %s%s %s)", code, enh, e.server_text)
  end
  if e.os_error and e.os_error ~= 0 then
    s = s .. " (os error " .. tostring(e.os_error) .. ")"
  end
  return s
end

--- Is v an error object raised by mailwire?
function M.is_error(v)
  return getmetatable(v) == Error
end

local function num(v)
  return v and (toint(v) or v)
end

-- SSLInfo option names as scripts give them: SSLCAFile -> ca_file (the
-- same names as Python's SSL_OPTIONS). Every SSLXxx constant the library
-- knows a type for.
local SNAKE_EXCEPTIONS = {SSLPeerSANs = "peer_sans"}
local SSL_OPTIONS, OPTION_NAME = {}, {}
for k, v in pairs(core) do
  if type(k) == "string" and k:match("^SSL%u[%w]*$") and type(v) == "number"
      and core.mw_sslinfo_option_type(v) ~= 0 then
    local name = SNAKE_EXCEPTIONS[k] or k:sub(4)
      :gsub("([%l%d])(%u)", "%1_%2"):gsub("(%u)(%u%l)", "%1_%2"):lower()
    SSL_OPTIONS[name] = num(v)
    OPTION_NAME[k] = name
  end
end
M.SSL_OPTIONS = SSL_OPTIONS

-- Error texts of the library name options by their constants (SSLCAFile);
-- say at the end which name scripts give them: "... (By name: SSLCAFile is
-- ca_file=.)", as Python does. The library's text stays whole, as from C.
local function option_names(text)
  if not text:find("SSL", 1, true) then return text end
  local seen, parts = {}, {}
  for at, word in text:gmatch("()(SSL%u[%w]*)") do
    local before = at > 1 and text:sub(at - 1, at - 1) or ""
    local name = OPTION_NAME[word]
    if name and not seen[word] and not before:match("[%w_]") then
      seen[word] = true
      parts[#parts + 1] = word .. " is " .. name .. "="
    end
  end
  if #parts == 0 then return text end
  return text .. " (By name: " .. table.concat(parts, ", ") .. ".)"
end

--- A value as the bindings' messages show it: strings in double quotes,
-- else the value itself (the same words from Python and Lua).
local function describe(v)
  local t = type(v)
  if t == "string" then return '"' .. v .. '"' end
  if t == "nil" then return "nothing" end
  if t == "number" or t == "boolean" then return tostring(v) end
  return "a " .. t
end

-- An error object from a C ErrorInfo (light userdata).
local function error_from_info(ei, operation)
  local number = num(core.mw_errorinfo_number(ei))
  local code = num(core.mw_errorinfo_code(ei))
  return setmetatable({
    number = number,
    name = core.mw_eex_name(number),
    code = code,
    code_name = core.mw_err_name(code),
    text = option_names(core.mw_errorinfo_text(ei) or ""),
    os_error = num(core.mw_errorinfo_os_error(ei)),
    verify_result = num(core.mw_errorinfo_verify_result(ei)),
    reply_code = num(core.mw_errorinfo_reply_code(ei)),
    enhanced_status = core.mw_errorinfo_enhanced_status(ei) or "",
    server_text = core.mw_errorinfo_server_text(ei) or "",
    operation = operation,
  }, Error)
end

-- An error object made by this layer (bad arguments, closed objects);
-- binding marks it for extended_error.
local function new_error(code, number, text, operation)
  return setmetatable({
    number = number, name = core.mw_eex_name(number),
    code = code, code_name = core.mw_err_name(code),
    text = text, os_error = 0, verify_result = 0, reply_code = 0,
    enhanced_status = "", server_text = "", operation = operation,
    binding = true,
  }, Error)
end

--- ErrorInfo: what extended_error() returns, a snapshot of the last call's
-- outcome (Python's mailwire.ErrorInfo): code, number, name, code_name,
-- text, os_error, verify_result, reply_code, enhanced_status, server_text;
-- number eexNone after a success. e:exception() is the error object it
-- raises (mailwire.Error).
local ErrorInfo = {}
ErrorInfo.__index = ErrorInfo
ErrorInfo.__name = "mailwire.ErrorInfo"
M.ErrorInfo = ErrorInfo
local errorinfo_fields = {"number", "name", "code", "code_name", "text",
  "os_error", "verify_result", "reply_code", "enhanced_status", "server_text"}

local function errorinfo_of(e)
  local info = {}
  for _, k in ipairs(errorinfo_fields) do info[k] = e[k] end
  return setmetatable(info, ErrorInfo)
end

function ErrorInfo.exception(info)
  local e = {}
  for _, k in ipairs(errorinfo_fields) do e[k] = info[k] end
  return setmetatable(e, Error)
end

function ErrorInfo.__tostring(info)
  return string.format("mailwire.ErrorInfo(%s %d, %s)", info.name,
    info.number, info.text)
end

--- Is v an ErrorInfo (from extended_error())?
function M.is_errorinfo(v)
  return getmetatable(v) == ErrorInfo
end

local function raise(e)
  error(e, 0)
end

local function invalid(what, operation)
  raise(new_error(errInvalidArgument, eexInvalidArgument, what, operation))
end

-- A text argument: a string (a number is refused, as in Python), never
-- with NUL: C strings end at NUL, so the C checks could not see the rest
-- of it. CR and LF are refused by the C library before anything is sent.
local function text_arg(v, what, operation, optional)
  if v == nil and optional then
    return nil
  end
  if v == nil then
    invalid(string.format("The %s is missing.", what), operation)
  end
  if type(v) ~= "string" then
    invalid(string.format("The %s must be a string, not %s.", what,
      describe(v)), operation)
  end
  if v:find("\0", 1, true) then
    invalid(string.format("The %s contains a NUL byte; remove it (NUL, CR "
      .. "and LF are not allowed in protocol arguments).", what), operation)
  end
  return v
end

local function bool_arg(v, what, operation)
  if type(v) == "boolean" then
    return v and 1 or 0
  end
  if type(v) == "number" then
    return v ~= 0 and 1 or 0
  end
  invalid(string.format("The %s must be a boolean, not %s.", what,
    describe(v)), operation)
end

-- A TCP port: the same refusal, with the same words, as Python.
local function port_arg(v, operation)
  if type(v) ~= "number" or v ~= math.floor(v) or v < 0 or v > 65535 then
    invalid("The port must be a whole number from 0 to 65535 (0: the "
      .. "usual port), not " .. describe(v) .. ".", operation)
  end
  return toint(v) or v
end

local function number_arg(v, what, operation, min)
  if type(v) ~= "number" or v ~= v or (min and v < min) or v ~= math.floor(v)
  then
    invalid(string.format("The %s must be a whole number%s, not %s.", what,
      min and (" >= " .. min) or "", describe(v)), operation)
  end
  return v
end

---------------------------------------------------------------------------
-- The frame of every call on a handle
---------------------------------------------------------------------------

local kind_names = {smtp = "SMTPClient", pop3 = "POP3Client",
  ssl = "SSLInfo", log = "LogHandler", proxy = "ProxyInfo"}

local function closed_error(h, operation)
  local kind = core.handle_kind(h)
  return new_error(errState, eexState, string.format(
    "This %s was closed; create a new one.", kind_names[kind]), operation)
end

local function busy_error(h, operation)
  local kind = core.handle_kind(h)
  return new_error(errState, eexState, string.format(
    "This %s is running a call; it cannot be used from inside one of that "
    .. "call's callbacks.", kind_names[kind]), operation)
end

local extended_error_fn = {
  smtp = core.mw_smtp_extended_error,
  pop3 = core.mw_pop3_extended_error,
  ssl = core.mw_sslinfo_extended_error,
  proxy = core.mw_proxyinfo_extended_error,
}

local function after_invoke(h, operation, r)
  if not r[1] then
    local why = r[2]
    if why == "closed" then
      raise(closed_error(h, operation))
    elseif why == "busy" then
      raise(busy_error(h, operation))
    end
    error(r[3], 0) -- what a callback or the call itself raised
  end
  if r[2] ~= 0 then
    raise(r[3]) -- the error object made inside the call
  end
  return unpack(r, 4, r.n)
end

-- The binding's own refusal of a client's last call, by handle (weak):
-- extended_error() gives it until the next call reaches the library.
local binding_errors = setmetatable({}, {__mode = "k"})

-- Run fn(ptr, ...) on the handle inside the glue's frame; fn returns the
-- base code first. A failure raises the handle's ErrorInfo as an error
-- object; success returns fn's other results.
local function call(h, operation, fn, ...)
  binding_errors[h] = nil
  local kind = core.handle_kind(h)
  local exterr = extended_error_fn[kind]
  local r = pack(core.handle_invoke(h, function(p, ...)
    local res = pack(fn(p, ...))
    local rc = res[1]
    if rc ~= 0 then
      return rc, error_from_info(exterr(p), operation)
    end
    return rc, nil, unpack(res, 2, res.n)
  end, ...))
  return after_invoke(h, operation, r)
end

-- A getter: no I/O, no callbacks; only needs the handle to be open.
local function ptr(h, operation)
  local p = core.handle_ptr(h)
  if not p then
    raise(closed_error(h, operation))
  end
  return p
end

local function snapshot_error(h)
  local kind = core.handle_kind(h)
  local p = ptr(h, "extended_error") -- a closed object raises errState
  local e = binding_errors[h] or error_from_info(extended_error_fn[kind](p))
  return errorinfo_of(e)
end

-- Wrap the methods of a client so that the binding's own refusals (a
-- wrong type, a closed client ...) reach extended_error(), as the
-- library's do (Python does the same).
local function recording(f)
  return function(self, ...)
    local r = pack(pcall(f, self, ...))
    if not r[1] then
      local e = r[2]
      if getmetatable(e) == Error and e.binding and type(self) == "table"
          and rawget(self, "_h") then
        binding_errors[rawget(self, "_h")] = e
      end
      error(e, 0)
    end
    return unpack(r, 2, r.n)
  end
end

---------------------------------------------------------------------------
-- SSLInfo
---------------------------------------------------------------------------

local SSLInfo = {}
M.SSLInfo = SSLInfo
local ssl_methods = {}

local OPT_BOOL, OPT_INT, OPT_STR, OPT_ARRAY = 98, 105, 115, 97 -- b i s a

local OPTION_BY_INDEX = {}
for name, index in pairs(SSL_OPTIONS) do OPTION_BY_INDEX[index] = name end

local function option_index(index, op)
  if type(index) ~= "number" or index ~= math.floor(index) then
    invalid("An SSLInfo option index must be a number (such as "
      .. "mailwire.SSLCAFile), not " .. describe(index) .. ".", op)
  end
  return toint(index) or index
end

-- "option 40 (ca_file=)", as Python's messages say it.
local function option_label(index)
  local name = OPTION_BY_INDEX[index]
  if not name then return "option " .. tostring(index) end
  return string.format("option %d (%s=)", index, name)
end

local function ssl_get_option(self, index)
  local op = "SSLInfo.option[" .. tostring(index) .. "]"
  index = option_index(index, op)
  local t = core.mw_sslinfo_option_type(index)
  if t == OPT_STR then
    return call(self._h, op, core.mw_sslinfo_get_option_str, index)
  elseif t == OPT_ARRAY then
    return call(self._h, op, core.mw_sslinfo_get_option_array, index)
  end
  local v = call(self._h, op, core.mw_sslinfo_get_option_int, index)
  v = num(v)
  if t == OPT_BOOL then
    return v ~= 0
  end
  return v
end

local function ssl_set_option(self, index, value)
  local op = "SSLInfo.option[" .. tostring(index) .. "]"
  index = option_index(index, op)
  local t = core.mw_sslinfo_option_type(index)
  local what = "value of " .. option_label(index)
  if t == OPT_BOOL then
    call(self._h, op, core.mw_sslinfo_set_option_int, index,
      bool_arg(value, what, op))
  elseif t == OPT_STR then
    call(self._h, op, core.mw_sslinfo_set_option_str, index,
      text_arg(value, what, op, true))
  elseif t == OPT_ARRAY then
    local ok = type(value) == "table"
    for i = 1, ok and #value or 0 do
      ok = ok and type(value[i]) == "number" and
        value[i] == math.floor(value[i])
    end
    if not ok then
      invalid("The " .. what .. " must be a list of numbers" ..
        (type(value) == "table" and "." or (", not " .. describe(value) ..
        ".")), op)
    end
    call(self._h, op, core.mw_sslinfo_set_option_array, index, value)
  else
    -- Numbers, and unknown indexes: the library says what is wrong.
    call(self._h, op, core.mw_sslinfo_set_option_int, index,
      number_arg(value, what, op))
  end
end

local option_mt = {
  __index = function(proxy, index)
    return ssl_get_option(proxy._ssl, index)
  end,
  __newindex = function(proxy, index, value)
    ssl_set_option(proxy._ssl, index, value)
  end,
}

--- The order options given together are applied in, the same in every
-- binding: by index, except that the client certificate is loaded last,
-- after its password and directory (it is loaded when set). pairs() order
-- is undefined, so a table of options is never applied in it.
local function option_order(indexes)
  table.sort(indexes, function(a, b)
    local ca, cb = a == M.SSLClientCertificateName,
      b == M.SSLClientCertificateName
    if ca ~= cb then return cb end
    return a < b
  end)
  return indexes
end

local function known_names()
  local names = {}
  for name in pairs(SSL_OPTIONS) do names[#names + 1] = name end
  table.sort(names)
  return table.concat(names, ", ")
end

--- SSLInfo{mode = mailwire.MODE_STARTTLS, options = {[index] = value},
-- and any option by name: ca_file = ..., server_name = ...,
-- client_certificate_name = ... (the names of mailwire.SSL_OPTIONS, as in
-- Python). All are applied in one defined order (see option_order).
function SSLInfo.new(opts)
  opts = opts or {}
  local op = "SSLInfo"
  local self = setmetatable({_h = core.handle_new("ssl")}, SSLInfo)
  rawset(self, "option", setmetatable({_ssl = self}, option_mt))
  local given, indexes = {}, {}
  local function add(index, value, name)
    if given[index] ~= nil then
      invalid(string.format("SSLInfo option %d is given twice (%s).", index,
        name), op)
    end
    given[index] = value
    indexes[#indexes + 1] = index
  end
  for k, v in pairs(opts) do
    if k == "options" then
      if type(v) ~= "table" then
        invalid("SSLInfo options must be a table {[index] = value}, not "
          .. describe(v) .. ".", op)
      end
      for index, value in pairs(v) do
        number_arg(index, "option index", op)
        add(index, value, "options[" .. tostring(index) .. "]")
      end
    elseif k ~= "mode" then
      local index = SSL_OPTIONS[k]
      if not index then
        invalid("SSLInfo has no setting '" .. tostring(k) .. "' (known: "
          .. known_names() .. ").", op)
      end
      add(index, v, k)
    end
  end
  if opts.mode ~= nil then
    self.mode = opts.mode
  end
  for _, index in ipairs(option_order(indexes)) do
    self.option[index] = given[index]
  end
  return self
end

function SSLInfo.__index(self, k)
  if k == "mode" then
    return num(core.mw_sslinfo_mode(ptr(self._h, "SSLInfo.mode")))
  end
  return ssl_methods[k]
end

function SSLInfo.__newindex(self, k, v)
  if k == "mode" then
    call(self._h, "SSLInfo.mode", core.mw_sslinfo_set_mode,
      number_arg(v, "mode", "SSLInfo.mode"))
    return
  end
  invalid("SSLInfo has no property '" .. tostring(k) .. "'.", "SSLInfo")
end

function SSLInfo.__tostring(self)
  return "mailwire.SSLInfo" .. (core.handle_ptr(self._h) and "" or " (closed)")
end

function SSLInfo.__close(self)
  self:close()
end

function ssl_methods.extended_error(self)
  return snapshot_error(self._h)
end

function ssl_methods.close(self)
  core.handle_close(self._h)
end

setmetatable(SSLInfo, {__call = function(_, opts) return SSLInfo.new(opts) end})

---------------------------------------------------------------------------
-- LogHandler
---------------------------------------------------------------------------

local LogHandler = {}
M.LogHandler = LogHandler
local log_methods = {}

--- LogHandler(function(severity, facility, message) end), or
-- LogHandler{fn, level = ..., facility_flags = ...}. The function runs
-- during the calls of the clients the handler is attached to; an error it
-- raises aborts the running operation and reaches the caller of that call.
function LogHandler.new(fn)
  local opts = {}
  if type(fn) == "table" then
    opts, fn = fn, fn[1] or fn.fn
  end
  if type(fn) ~= "function" then
    invalid("LogHandler needs a function(severity, facility, message).",
      "LogHandler")
  end
  local self = setmetatable({_h = core.loghandler_new(fn)}, LogHandler)
  if opts.level then self.level = opts.level end
  if opts.facility_flags then self.facility_flags = opts.facility_flags end
  return self
end

function LogHandler.__index(self, k)
  if k == "level" then
    return num(core.mw_loghandler_level(ptr(self._h, "LogHandler.level")))
  elseif k == "facility_flags" then
    return num(core.mw_loghandler_facility_flags(
      ptr(self._h, "LogHandler.facility_flags")))
  end
  return log_methods[k]
end

local function log_setter(name, fn)
  return function(self, v)
    local op = "LogHandler." .. name
    local p = ptr(self._h, op)
    if fn(p, number_arg(v, name, op)) ~= 0 then
      invalid("The " .. name .. " " .. tostring(v) .. " is not valid.", op)
    end
  end
end

local log_setters = {
  level = log_setter("level", core.mw_loghandler_set_level),
  facility_flags = log_setter("facility_flags",
    core.mw_loghandler_set_facility_flags),
}

function LogHandler.__newindex(self, k, v)
  local set = log_setters[k]
  if not set then
    invalid("LogHandler has no property '" .. tostring(k) .. "'.",
      "LogHandler")
  end
  set(self, v)
end

function LogHandler.__tostring(self)
  return "mailwire.LogHandler" ..
    (core.handle_ptr(self._h) and "" or " (closed)")
end

function LogHandler.__close(self)
  self:close()
end

--- Replace the function (the old one is released).
function log_methods.set_function(self, fn)
  if type(fn) ~= "function" then
    invalid("set_function needs a function.", "LogHandler.set_function")
  end
  if not core.loghandler_set_function(self._h, fn) then
    raise(closed_error(self._h, "LogHandler.set_function"))
  end
end

--- A LOG_F_USER message from the application, through the same function.
function log_methods.log(self, severity, message)
  local op = "LogHandler.log"
  number_arg(severity, "severity", op)
  message = text_arg(message, "message", op)
  local ok, why, err = core.loghandler_log(self._h, severity, message)
  if not ok then
    if why == "closed" then raise(closed_error(self._h, op)) end
    if why == "busy" then raise(busy_error(self._h, op)) end
    error(err, 0)
  end
end

function log_methods.close(self)
  core.handle_close(self._h)
end

setmetatable(LogHandler, {__call = function(_, fn) return LogHandler.new(fn) end})

---------------------------------------------------------------------------
-- ProxyInfo: SOCK4ProxyInfo, SOCK5ProxyInfo, HTTPProxyInfo, POP3ProxyInfo,
-- SMTPProxyInfo are constructors of it with their kind set.
---------------------------------------------------------------------------

local ProxyInfo = {}
M.ProxyInfo = ProxyInfo
local proxy_methods = {}
local proxy_keys = {kind = true, server = true, port = true, user = true,
  password = true, remote_dns = true, socks4a = true}

--- ProxyInfo{kind = mailwire.MW_PROXY_SOCKS5, server =, port = (0: the
-- kind's usual port), user =, password =, remote_dns = (SOCKS5, default
-- true)}
function ProxyInfo.new(opts)
  opts = opts or {}
  local op = "ProxyInfo"
  for k in pairs(opts) do
    if not proxy_keys[k] then
      invalid("ProxyInfo has no setting '" .. tostring(k) .. "'.", op)
    end
  end
  local kind = opts.kind
  if kind == M.MW_PROXY_SOCKS4 and (opts.socks4a or opts.remote_dns) then
    kind = M.MW_PROXY_SOCKS4A
  end
  local h = type(kind) == "number" and core.handle_new("proxy", kind) or nil
  if not h then
    invalid("Unknown proxy kind " .. tostring(opts.kind) ..
      "; use one of the MW_PROXY_* constants.", op)
  end
  local self = setmetatable({_h = h}, ProxyInfo)
  if opts.server ~= nil then self:set_server(opts.server, opts.port) end
  if opts.user ~= nil then self:set_credentials(opts.user, opts.password) end
  if opts.remote_dns ~= nil and kind == M.MW_PROXY_SOCKS5 then
    self.remote_dns = opts.remote_dns
  end
  return self
end

function proxy_methods.set_server(self, host, port)
  local op = "ProxyInfo.set_server"
  call(self._h, op, core.mw_proxyinfo_set_server, text_arg(host, "proxy server", op),
    number_arg(port or 0, "port", op, 0))
end

function proxy_methods.set_credentials(self, user, password)
  local op = "ProxyInfo.set_credentials"
  call(self._h, op, core.mw_proxyinfo_set_credentials,
    text_arg(user, "proxy user name", op, true),
    text_arg(password, "proxy password", op, true))
end

function proxy_methods.extended_error(self)
  return snapshot_error(self._h)
end

function proxy_methods.close(self)
  core.handle_close(self._h)
end

function ProxyInfo.__index(self, k)
  local p = function() return ptr(self._h, "ProxyInfo." .. k) end
  if k == "kind" then return num(core.mw_proxyinfo_kind(p())) end
  if k == "server" then return core.mw_proxyinfo_server(p()) end
  if k == "port" then return num(core.mw_proxyinfo_port(p())) end
  if k == "remote_dns" then return core.mw_proxyinfo_remote_dns(p()) ~= 0 end
  return proxy_methods[k]
end

function ProxyInfo.__newindex(self, k, v)
  local op = "ProxyInfo." .. tostring(k)
  if k == "remote_dns" then
    call(self._h, op, core.mw_proxyinfo_set_remote_dns,
      bool_arg(v, "remote_dns", op))
  elseif k == "server" then
    self:set_server(v, self.port)
  elseif k == "port" then
    self:set_server(self.server, v)
  else
    invalid("ProxyInfo has no property '" .. tostring(k) .. "'.", "ProxyInfo")
  end
end

function ProxyInfo.__tostring(self)
  if not core.handle_ptr(self._h) then return "mailwire.ProxyInfo (closed)" end
  return string.format("mailwire.ProxyInfo %s:%d", tostring(self.server),
    self.port)
end

function ProxyInfo.__close(self)
  self:close()
end

setmetatable(ProxyInfo, {__call = function(_, opts) return ProxyInfo.new(opts) end})

-- The reference's names: constructors with the kind given.
local function proxy_kind_ctor(kind)
  return setmetatable({}, {__call = function(_, opts)
    local o = {}
    for k, v in pairs(opts or {}) do o[k] = v end
    o.kind = kind
    return ProxyInfo.new(o)
  end})
end
M.SOCK4ProxyInfo = proxy_kind_ctor(core.MW_PROXY_SOCKS4)
M.SOCK5ProxyInfo = proxy_kind_ctor(core.MW_PROXY_SOCKS5)
M.HTTPProxyInfo = proxy_kind_ctor(core.MW_PROXY_HTTP)
M.POP3ProxyInfo = proxy_kind_ctor(core.MW_PROXY_POP3)
M.SMTPProxyInfo = proxy_kind_ctor(core.MW_PROXY_SMTP)
M.SOCKS4ProxyInfo = M.SOCK4ProxyInfo
M.SOCKS5ProxyInfo = M.SOCK5ProxyInfo

---------------------------------------------------------------------------
-- What both clients share
---------------------------------------------------------------------------

-- The handle of an advanced handler; a plain function becomes a
-- LogHandler (as in Python). what names the setting in the message.
local function handler_of(obj, operation, what)
  if type(obj) == "function" then
    obj = LogHandler.new(obj)
  end
  local mt = getmetatable(obj)
  if mt ~= SSLInfo and mt ~= LogHandler and mt ~= ProxyInfo then
    invalid((what or "set_advanced_handler") .. " takes an SSLInfo, a "
      .. "ProxyInfo, a LogHandler or a function(severity, facility, "
      .. "message), not " .. describe(obj) .. ".", operation)
  end
  return obj._h
end

-- client.tls_option[i]: the TLS results of this client's connection (the
-- SSLInfo output indexes), read-only; with several clients sharing an
-- SSLInfo, ssl.option[i] shows the most recent handshake of any of them.
local function tls_option_reader(client, prefix)
  local get_str = core["mw_" .. prefix .. "_tls_option_str"]
  local get_int = core["mw_" .. prefix .. "_tls_option_int"]
  return setmetatable({}, {
    __index = function(_, index)
      local op = "tls_option[" .. tostring(index) .. "]"
      number_arg(index, "option index", op)
      local t = core.mw_sslinfo_option_type(index)
      if t == OPT_STR then
        return call(client._h, op, get_str, index)
      end
      local v = num(call(client._h, op, get_int, index))
      if t == OPT_BOOL then
        return v ~= 0
      end
      return v
    end,
    __newindex = function(_, index)
      invalid("tls_option is read-only: the results of the connection.",
        "tls_option[" .. tostring(index) .. "]")
    end,
  })
end

local function make_client(kind, prefix, C)
  local methods = {}
  C.__index = methods
  C.methods = methods
  local fn = function(name) return core["mw_" .. prefix .. "_" .. name] end

  function C.__tostring(self)
    return "mailwire." .. kind_names[kind] ..
      (core.handle_ptr(self._h) and "" or " (closed)")
  end

  --- A to-be-closed variable: leaving its block normally sends QUIT
  -- (POP3: deletions are committed) and closes; leaving it by an error
  -- closes without QUIT (POP3: nothing is deleted), as Python's with.
  function C.__close(self, err)
    local p = core.handle_ptr(self._h)
    if err == nil and p and fn("is_connected")(p) ~= 0 then
      local ok, e = pcall(self.quit, self)
      self:close()
      if not ok then error(e, 0) end
      return
    end
    self:close()
  end

  function methods.set_server(self, host, port)
    local op = "set_server"
    host = text_arg(host, "server name", op)
    port = port_arg(port or 0, op)
    call(self._h, op, fn("set_server"), host, port)
  end

  function methods.set_timeout(self, seconds)
    local op = "set_timeout"
    if type(seconds) ~= "number" or not (seconds > 0) then
      invalid("The timeout is a number of seconds > 0, not " ..
        describe(seconds) .. ".", op)
    end
    call(self._h, op, fn("set_timeout"), math.floor(seconds * 1000 + 0.5))
  end

  function methods.set_credentials(self, user, password)
    local op = "set_credentials"
    user = text_arg(user, "user name", op, true)
    password = text_arg(password, "password", op, true)
    call(self._h, op, fn("set_credentials"), user, password)
  end

  function methods.set_auth_mechanism(self, mech)
    local op = "set_auth_mechanism"
    call(self._h, op, fn("set_auth_mechanism"),
      text_arg(mech, "mechanism", op, true))
  end

  function methods.set_allow_plaintext_auth(self, allow)
    local op = "set_allow_plaintext_auth"
    call(self._h, op, fn("set_allow_plaintext_auth"), bool_arg(allow, op, op))
  end

  --- SetAdvancedHandler: an SSLInfo, a LogHandler (or a plain function,
  -- made a LogHandler) or a ProxyInfo.
  function methods.set_advanced_handler(self, obj, op, what)
    op = op or "set_advanced_handler"
    local r = pack(core.client_set_handler(self._h, handler_of(obj, op, what)))
    if r[1] == false then
      if r[2] == "busy" then raise(busy_error(self._h, op)) end
      if core.handle_ptr(self._h) then
        raise(closed_error(obj._h, op))
      end
      raise(closed_error(self._h, op))
    end
    if r[1] ~= 0 then
      raise(error_from_info(fn("extended_error")(ptr(self._h, op)), op))
    end
  end

  function methods.clear_handlers(self)
    local ok, why = core.client_clear_handlers(self._h)
    if not ok then
      if why == "busy" then raise(busy_error(self._h, "clear_handlers")) end
      raise(closed_error(self._h, "clear_handlers"))
    end
  end

  --- ExtendedError: a mailwire.ErrorInfo of the last call (number eexNone
  -- after a success; the binding's own refusals too); not raised.
  function methods.extended_error(self)
    return snapshot_error(self._h)
  end

  function methods.connect(self)
    call(self._h, "connect", fn("connect"))
  end

  function methods.is_connected(self)
    return fn("is_connected")(ptr(self._h, "is_connected")) ~= 0
  end

  function methods.is_secure(self)
    return fn("is_secure")(ptr(self._h, "is_secure")) ~= 0
  end

  function methods.capabilities(self)
    local text = fn("capabilities")(ptr(self._h, "capabilities")) or ""
    local list = {}
    for line in text:gmatch("[^\n]+") do
      list[#list + 1] = line
    end
    return list, text
  end

  function methods.auth_mechanism_used(self)
    return fn("auth_mechanism_used")(ptr(self._h, "auth_mechanism_used"))
  end

  function methods.noop(self)
    call(self._h, "noop", fn("noop"))
  end

  function methods.rset(self)
    call(self._h, "rset", fn("rset"))
  end

  function methods.quit(self)
    call(self._h, "quit", fn("quit"))
  end

  function methods.disconnect(self)
    local p = core.handle_ptr(self._h)
    if p then
      fn("disconnect")(p)
    end
  end

  --- Make the running call fail with errAborted (from a callback).
  function methods.cancel(self)
    local p = core.handle_ptr(self._h)
    if p then
      fn("cancel")(p)
    end
  end

  function methods.last_reply_text(self)
    return fn("last_reply_text")(ptr(self._h, "last_reply_text"))
  end

  --- Close the connection (without QUIT) and free the client. Idempotent;
  -- also what __gc and __close do. Later calls raise errState.
  function methods.close(self)
    core.handle_close(self._h)
  end

  function methods.is_closed(self)
    return core.handle_ptr(self._h) == nil
  end

  return methods
end

local client_common_keys = {server = true, port = true, timeout = true,
  ssl = true, log_handler = true, log = true, proxy = true, user = true,
  password = true, auth_mechanism = true, allow_plaintext_auth = true}

-- The deprecated names of settings (Lua's before they became Python's).
local function alias(opts, name, old, op)
  if opts[old] ~= nil then
    if opts[name] ~= nil then
      invalid(string.format("Give %s or %s (its old name), not both.", name,
        old), op)
    end
    return opts[old]
  end
  return opts[name]
end

local function configure(self, opts, extra_keys, name)
  for k in pairs(opts) do
    if not client_common_keys[k] and not extra_keys[k] then
      invalid(name .. " has no setting '" .. tostring(k) .. "'.", name)
    end
  end
  if opts.server ~= nil then
    self:set_server(opts.server, opts.port)
  elseif opts.port ~= nil then
    -- A port without a server is checked, not taken for localhost:
    -- connect says no server is set (as in Python).
    port_arg(opts.port, name)
  end
  if opts.timeout ~= nil then self:set_timeout(opts.timeout) end
  if opts.ssl ~= nil then
    local ssl = opts.ssl
    if type(ssl) == "number" then -- a mode, as in Python
      ssl = SSLInfo.new{mode = ssl}
    end
    self:set_advanced_handler(ssl, name, "ssl")
  end
  local log = alias(opts, "log_handler", "log", name)
  if log ~= nil then self:set_advanced_handler(log, name, "log_handler") end
  if opts.proxy ~= nil then
    self:set_advanced_handler(opts.proxy, name, "proxy")
  end
  if opts.user ~= nil or opts.password ~= nil then
    self:set_credentials(opts.user, opts.password)
  end
  if opts.auth_mechanism ~= nil then
    self:set_auth_mechanism(opts.auth_mechanism)
  end
  if opts.allow_plaintext_auth ~= nil then
    self:set_allow_plaintext_auth(opts.allow_plaintext_auth)
  end
end

---------------------------------------------------------------------------
-- SMTPClient
---------------------------------------------------------------------------

local SMTPClient = {}
M.SMTPClient = SMTPClient
local smtp = make_client("smtp", "smtp", SMTPClient)

--- SMTPClient{server=, port=, timeout= (seconds), ssl= (SSLInfo),
-- log_handler= (LogHandler or function), user=, password=,
-- auth_mechanism=, allow_plaintext_auth=, helo_name=, allow_partial=,
-- pipelining=, chunking=}. log= and helo= are the deprecated old names of
-- log_handler= and helo_name=.
function SMTPClient.new(opts)
  opts = opts or {}
  local self = setmetatable({_h = core.handle_new("smtp")}, SMTPClient)
  rawset(self, "tls_option", tls_option_reader(self, "smtp"))
  configure(self, opts, {helo_name = true, helo = true, allow_partial = true,
    pipelining = true, chunking = true}, "SMTPClient")
  local helo = alias(opts, "helo_name", "helo", "SMTPClient")
  if helo ~= nil then self:set_helo_name(helo) end
  if opts.allow_partial ~= nil then self:set_allow_partial(opts.allow_partial) end
  if opts.pipelining ~= nil then self:set_pipelining(opts.pipelining) end
  if opts.chunking ~= nil then self:set_chunking(opts.chunking) end
  return self
end
setmetatable(SMTPClient, {__call = function(_, o) return SMTPClient.new(o) end})

function smtp.set_helo_name(self, name)
  local op = "set_helo_name"
  call(self._h, op, core.mw_smtp_set_helo_name, text_arg(name, "HELO name", op))
end

function smtp.set_allow_partial(self, allow)
  local op = "set_allow_partial"
  call(self._h, op, core.mw_smtp_set_allow_partial, bool_arg(allow, op, op))
end

--- PIPELINING (RFC 2920) when the server offers it (default true): MAIL
-- and the RCPTs in one flight, and send_batch ahead across messages.
function smtp.set_pipelining(self, on)
  local op = "set_pipelining"
  call(self._h, op, core.mw_smtp_set_pipelining, bool_arg(on, op, op))
end

--- CHUNKING/BDAT (RFC 3030) when the server offers it (default true).
function smtp.set_chunking(self, on)
  local op = "set_chunking"
  call(self._h, op, core.mw_smtp_set_chunking, bool_arg(on, op, op))
end

function smtp.has_extension(self, keyword)
  local op = "has_extension"
  return core.mw_smtp_has_extension(ptr(self._h, op),
    text_arg(keyword, "keyword", op)) ~= 0
end

function smtp.extension_params(self, keyword)
  local op = "extension_params"
  return core.mw_smtp_extension_params(ptr(self._h, op),
    text_arg(keyword, "keyword", op))
end

function smtp.last_reply_code(self)
  return num(core.mw_smtp_last_reply_code(ptr(self._h, "last_reply_code")))
end

local function recipient_list(to, op)
  if type(to) == "string" then
    to = {to}
  end
  if type(to) ~= "table" then
    invalid("The recipients must be an address or a list of addresses, not "
      .. describe(to) .. ".", op)
  end
  local list = {}
  for i = 1, #to do
    list[i] = text_arg(to[i], "recipient address", op)
  end
  return list
end

--- send(from, to, message [, opts]): one mail transaction.
-- to: an address or a list of them. message: a string, or a source
-- function (LTN12 style: returns the next chunk, nil at the end; false or
-- nil plus an error aborts with errAborted; an error it raises aborts and
-- reaches the caller). opts: {size = bytes hint for SIZE, flags = MW_SEND_*}.
-- Returns the per-recipient results (as :recipients(), and as Python's
-- send); an error raised by the send carries them as e.results.
function smtp.send(self, from, to, message, opts)
  local op = "send"
  from = text_arg(from, "sender address", op)
  local rcpts = recipient_list(to, op)
  opts = opts or {}
  local run
  if type(message) == "string" then
    run = function() call(self._h, op, core.mw_smtp_send, from, rcpts,
      message) end
  elseif type(message) == "function" then
    local hint = opts.size and number_arg(opts.size, "size", op, 0) or 0
    local flags = opts.flags and number_arg(opts.flags, "flags", op, 0) or 0
    run = function() call(self._h, op, function(p)
      local rc, extra = core.smtp_send_stream(p, from, rcpts, hint, flags,
        message)
      if extra ~= nil then
        error(extra, 0) -- the source raised (or returned nonsense)
      end
      return rc
    end) end
  else
    invalid("The message must be a string or a source function, not "
      .. describe(message) .. ".", op)
  end
  rawset(self, "_rcpts", rcpts)
  local ok, err = pcall(run)
  local results = core.handle_ptr(self._h) and self:recipients() or {}
  if not ok then
    if M.is_error(err) then err.results = results end
    error(err, 0)
  end
  return results
end

--- The results of the last send, one per recipient in the order given:
-- {address = ..., code = 250, enhanced_status = "2.1.5", text = "Ok"}.
function smtp.recipients(self, to)
  to = to or rawget(self, "_rcpts")
  local p = ptr(self._h, "recipients")
  local list = {}
  for i = 0, num(core.mw_smtp_rcpt_count(p)) - 1 do
    list[#list + 1] = {
      code = num(core.mw_smtp_rcpt_code(p, i)),
      enhanced_status = core.mw_smtp_rcpt_enhanced_status(p, i) or "",
      text = core.mw_smtp_rcpt_text(p, i) or "",
      address = to and to[i + 1] or nil,
    }
  end
  return list
end

-- A batch call: body() checks the arguments, then runs the C call through
-- call(); results(started) reads the per-message results (none when the
-- call never reached the core: they would be the last batch's). Errors get
-- the results as e.results; the results are kept for :batch_results().
local function run_batch(self, body, results)
  local started = false
  local ok, err = pcall(body, function() started = true end)
  local list = started and results() or {}
  rawset(self, "_batch_results", list)
  if not ok then
    if M.is_error(err) then
      err.results = list
    end
    error(err, 0)
  end
  return list
end

local function copy_list(list)
  local out = {}
  for i = 1, #list do out[i] = list[i] end
  return out
end

-- A message of send_batch as the {from, rcpts, data} triple of the core.
local function batch_message(m, i, op)
  if type(m) ~= "table" then
    invalid(string.format("Message %d of the batch must be a table "
      .. "{from = ..., to = ..., data = ...}.", i), op)
  end
  local from, to, data = m.from, m.to, m.data
  if from == nil and to == nil and data == nil then
    from, to, data = m[1], m[2], m[3]
  end
  from = text_arg(from, "sender address", op)
  local rcpts = recipient_list(to, op)
  if type(data) == "function" then -- a source: read it whole, as send does
    local parts, empty = {}, 0
    while true do
      local chunk, err = data()
      if chunk == nil and err == nil then break end
      if chunk == false or chunk == nil then
        raise(new_error(M.errAborted, M.eexAborted, string.format(
          "The source of message %d aborted%s; nothing was sent.", i,
          err ~= nil and (": " .. tostring(err)) or ""), op))
      end
      if type(chunk) ~= "string" then
        invalid(string.format("The source of message %d returned a %s.", i,
          type(chunk)), op)
      end
      empty = #chunk == 0 and empty + 1 or 0
      if empty > 1000000 then
        invalid(string.format("The source of message %d returns empty "
          .. "strings forever.", i), op)
      end
      parts[#parts + 1] = chunk
    end
    data = table.concat(parts)
  end
  if type(data) ~= "string" then
    invalid(string.format("The data of message %d must be a string or a "
      .. "source function.", i), op)
  end
  return {from, rcpts, data}
end

--- send_batch{{from = ..., to = {...}, data = ...}, ...}: several messages
-- over the connection, pipelined across messages when the server offers
-- PIPELINING (BDAT with CHUNKING). A message may also be {from, to, data};
-- to is an address or a list; data a string or a source function (read
-- whole first). Every address is checked before anything is sent. Each
-- message goes to the recipients the server accepted. Returns a result per
-- message when all were accepted by every recipient:
--   {code = 250, enhanced_status = "2.0.0", text = "...", ok = true,
--    recipients = {{address =, code =, enhanced_status =, text =}, ...}}
-- (code 0: not acknowledged). Otherwise raises: errServer when a message or
-- recipient was refused (the others were sent; the error describes the
-- first refusal), or the error that ended the batch; the error object's
-- results field holds the results (empty if nothing was started), as does
-- :batch_results().
function smtp.send_batch(self, messages)
  local op = "send_batch"
  local list
  local results = run_batch(self, function(started)
    if type(messages) ~= "table" then
      invalid("send_batch takes a table of messages.", op)
    end
    list = {}
    for i = 1, #messages do
      list[i] = batch_message(messages[i], i, op)
    end
    call(self._h, op, function(p)
      started()
      return core.mw_smtp_send_batch(p, list)
    end)
  end, function()
    local p = core.handle_ptr(self._h)
    local out = {}
    if not p then return out end
    for i = 0, num(core.mw_smtp_batch_count(p)) - 1 do
      local r = {
        code = num(core.mw_smtp_batch_code(p, i)),
        enhanced_status = core.mw_smtp_batch_enhanced_status(p, i) or "",
        text = core.mw_smtp_batch_text(p, i) or "",
        recipients = {},
      }
      local all = math.floor(r.code / 100) == 2
      local to = list[i + 1] and list[i + 1][2] or {}
      for j = 0, num(core.mw_smtp_batch_rcpt_count(p, i)) - 1 do
        local code = num(core.mw_smtp_batch_rcpt_code(p, i, j))
        r.recipients[j + 1] = {
          address = to[j + 1],
          code = code,
          enhanced_status = core.mw_smtp_batch_rcpt_enhanced_status(p, i, j)
            or "",
          text = core.mw_smtp_batch_rcpt_text(p, i, j) or "",
        }
        all = all and math.floor(code / 100) == 2
      end
      r.ok = all
      out[i + 1] = r
    end
    return out
  end)
  return copy_list(results)
end

--- The results of the last batch call (as send_batch returns them).
function smtp.batch_results(self)
  return copy_list(rawget(self, "_batch_results") or {})
end

---------------------------------------------------------------------------
-- POP3Client
---------------------------------------------------------------------------

local POP3Client = {}
M.POP3Client = POP3Client
local pop3 = make_client("pop3", "pop3", POP3Client)

--- POP3Client{server=, port=, timeout=, ssl=, log_handler=, user=, password=,
-- auth_mechanism= ("USER", "APOP", "PLAIN" ...), allow_plaintext_auth=,
-- max_message_size=, pipelining=}
function POP3Client.new(opts)
  opts = opts or {}
  local self = setmetatable({_h = core.handle_new("pop3")}, POP3Client)
  rawset(self, "tls_option", tls_option_reader(self, "pop3"))
  configure(self, opts, {max_message_size = true, pipelining = true},
    "POP3Client")
  if opts.max_message_size ~= nil then
    self:set_max_message_size(opts.max_message_size)
  end
  if opts.pipelining ~= nil then self:set_pipelining(opts.pipelining) end
  return self
end
setmetatable(POP3Client, {__call = function(_, o) return POP3Client.new(o) end})

function pop3.set_max_message_size(self, bytes)
  local op = "set_max_message_size"
  call(self._h, op, core.mw_pop3_set_max_message_size,
    number_arg(bytes, "size", op, 0))
  rawset(self, "_max_message_size", bytes)
end

--- Pipeline the batch calls when the server offers PIPELINING (default
-- true); false sends one command at a time.
function pop3.set_pipelining(self, on)
  local op = "set_pipelining"
  call(self._h, op, core.mw_pop3_set_pipelining, bool_arg(on, op, op))
end

function pop3.has_capability(self, keyword)
  local op = "has_capability"
  return core.mw_pop3_has_capability(ptr(self._h, op),
    text_arg(keyword, "keyword", op)) ~= 0
end

function pop3.capability_params(self, keyword)
  local op = "capability_params"
  return core.mw_pop3_capability_params(ptr(self._h, op),
    text_arg(keyword, "keyword", op))
end

local function msg_arg(n, op)
  return number_arg(n, "message number", op, 1)
end

--- stat() -> count, octets
function pop3.stat(self)
  local count, octets = call(self._h, "stat", core.mw_pop3_stat)
  return num(count), num(octets)
end

--- list() -> {{number = n, size = bytes}, ...}; list(n) -> size
function pop3.list(self, n)
  if n ~= nil then
    return num(call(self._h, "list", core.mw_pop3_list_one,
      msg_arg(n, "list")))
  end
  return call(self._h, "list", function(p)
    local rc = core.mw_pop3_list(p)
    if rc ~= 0 then return rc end
    local list = {}
    for i = 0, num(core.mw_pop3_entry_count(p)) - 1 do
      list[#list + 1] = {number = num(core.mw_pop3_entry_number(p, i)),
        size = num(core.mw_pop3_entry_size(p, i))}
    end
    return rc, list
  end)
end

--- uidl() -> {{number = n, uid = "..."}, ...}; uidl(n) -> uid
function pop3.uidl(self, n)
  if n ~= nil then
    return call(self._h, "uidl", core.mw_pop3_uidl_one, msg_arg(n, "uidl"))
  end
  return call(self._h, "uidl", function(p)
    local rc = core.mw_pop3_uidl(p)
    if rc ~= 0 then return rc end
    local list = {}
    for i = 0, num(core.mw_pop3_entry_count(p)) - 1 do
      list[#list + 1] = {number = num(core.mw_pop3_entry_number(p, i)),
        uid = core.mw_pop3_entry_uid(p, i)}
    end
    return rc, list
  end)
end

-- RETR (lines == nil) or TOP, into a string or a sink.
local function retrieve(self, op, n, lines, sink)
  n = msg_arg(n, op)
  if sink == nil then
    if lines == nil then
      return call(self._h, op, core.mw_pop3_retr, n)
    end
    return call(self._h, op, core.mw_pop3_top, n, lines)
  end
  if type(sink) ~= "function" then
    invalid("The sink must be a function(chunk).", op)
  end
  call(self._h, op, function(p)
    local rc, raised = core.pop3_retr_stream(p, n, lines or -1, sink)
    if raised ~= nil then
      error(raised, 0)
    end
    return rc
  end)
  sink(nil) -- LTN12: the end of the data
  return true
end

--- retr(n) -> the message as a string (lines end with CRLF);
-- retr(n, sink): streams it in constant memory to sink(chunk), then calls
-- sink(nil). The sink aborts with false, or nil plus an error (errAborted);
-- an error it raises aborts and reaches the caller.
function pop3.retr(self, n, sink)
  return retrieve(self, "retr", n, nil, sink)
end

--- top(n, lines [, sink]): the headers and the first lines of the body.
function pop3.top(self, n, lines, sink)
  return retrieve(self, "top", n,
    number_arg(lines, "number of lines", "top", 0), sink)
end

function pop3.dele(self, n)
  call(self._h, "dele", core.mw_pop3_dele, msg_arg(n, "dele"))
end

-- The library's default max_message_size (mailwire.h): retr_batch and
-- top_batch hold no more than this per message in memory.
local DEFAULT_MAX_MESSAGE = 256 * 1024 * 1024

-- A POP3 batch: run(p, nums) makes the C call; value(p, i) reads entry i's
-- value (nil: none). Returns the values in the order given.
local function pop3_batch(self, op, numbers, run, value)
  local nums = {}
  local results = run_batch(self, function(started)
    if type(numbers) ~= "table" then
      invalid("The message numbers must be a table of numbers.", op)
    end
    for i = 1, #numbers do
      nums[i] = msg_arg(numbers[i], op)
    end
    call(self._h, op, function(p)
      started()
      return run(p, nums)
    end)
  end, function()
    local p = core.handle_ptr(self._h)
    local out = {}
    if not p then return out end
    for i = 0, num(core.mw_pop3_batch_count(p)) - 1 do
      local status = num(core.mw_pop3_batch_status(p, i))
      out[i + 1] = {
        number = nums[i + 1],
        status = status,
        text = core.mw_pop3_batch_text(p, i) or "",
        ok = status == 0,
        value = status == 0 and value and value(p, i) or nil,
      }
    end
    return out
  end)
  local values = {}
  for i, r in ipairs(results) do values[i] = r.value end
  return values
end

-- RETR (lines nil) or TOP for several messages, into strings or a sink.
local function retrieve_batch(self, op, numbers, lines, sink)
  local writer, done
  if sink ~= nil then
    if type(sink) ~= "function" then
      invalid("The sink must be a function(number, chunk).", op)
    end
    writer = function(_, number, chunk) return sink(number, chunk) end
  else
    local limit = rawget(self, "_max_message_size") or DEFAULT_MAX_MESSAGE
    local parts, sizes = {}, {}
    done = {}
    writer = function(i, number, chunk)
      if chunk == nil then
        done[i] = table.concat(parts[i] or {})
        parts[i] = nil
        return true
      end
      sizes[i] = (sizes[i] or 0) + #chunk
      if sizes[i] > limit then
        parts[i] = nil
        raise(new_error(num(core.mw_eex_base(M.eexMessageTooLarge)),
          M.eexMessageTooLarge, string.format("Message %d is larger than "
          .. "max_message_size (%d bytes); give a sink to stream it.",
          number, limit), op))
      end
      local t = parts[i]
      if not t then t = {}; parts[i] = t end
      t[#t + 1] = chunk
      return true
    end
  end
  local values = pop3_batch(self, op, numbers, function(p, nums)
    local rc, raised = core.pop3_retr_batch(p, nums, lines or -1, writer)
    if raised ~= nil then
      error(raised, 0) -- the sink raised
    end
    return rc
  end, done and function(_, i) return done[i + 1] end)
  if sink ~= nil then
    return true
  end
  return values
end

--- retr_batch{n1, n2, ...}: RETR several messages, pipelined when the
-- server offers PIPELINING; returns a table of strings in the order given
-- (each at most max_message_size bytes). retr_batch(numbers, sink):
-- streams them in constant memory to sink(number, chunk), chunk nil after
-- each message's last piece; the sink aborts with false (or nil plus an
-- error), and an error it raises ends the batch and reaches the caller.
-- -ERR for some messages raises errServer (the others were retrieved); an
-- error that ends the batch closes the connection. The error object's
-- results field holds a result per message:
--   {number =, status = mailwire.MW_OK | errServer | errNotConnected
--    (not answered) | errAborted, text = "...", ok =, value = (the string)}
-- as does :batch_results().
function pop3.retr_batch(self, numbers, sink)
  return retrieve_batch(self, "retr_batch", numbers, nil, sink)
end

--- top_batch(numbers, lines [, sink]): TOP for several messages, as
-- retr_batch.
function pop3.top_batch(self, numbers, lines, sink)
  return retrieve_batch(self, "top_batch", numbers,
    number_arg(lines, "number of lines", "top_batch", 0), sink)
end

--- dele_batch{...}: mark several messages for deletion (QUIT deletes).
function pop3.dele_batch(self, numbers)
  pop3_batch(self, "dele_batch", numbers, core.mw_pop3_dele_batch)
end

--- list_batch{...} -> their sizes; uidl_batch{...} -> their UIDs.
function pop3.list_batch(self, numbers)
  return pop3_batch(self, "list_batch", numbers, core.mw_pop3_list_batch,
    function(p, i) return num(core.mw_pop3_batch_size(p, i)) end)
end

function pop3.uidl_batch(self, numbers)
  return pop3_batch(self, "uidl_batch", numbers, core.mw_pop3_uidl_batch,
    core.mw_pop3_batch_uid)
end

--- The results of the last batch call.
function pop3.batch_results(self)
  return copy_list(rawget(self, "_batch_results") or {})
end

-- The binding's own refusals reach extended_error() (see recording).
for _, methods in ipairs({smtp, pop3}) do
  local names = {}
  for name in pairs(methods) do
    if name ~= "extended_error" and name ~= "close" and name ~= "is_closed"
    then
      names[#names + 1] = name
    end
  end
  for _, name in ipairs(names) do methods[name] = recording(methods[name]) end
end

---------------------------------------------------------------------------
-- Helpers
---------------------------------------------------------------------------

--- Name ("eexDNS") of an extended number, and of a base code ("errAuth").
function M.error_name(number)
  return core.mw_eex_name(number)
end

function M.code_name(code)
  return core.mw_err_name(code)
end

--- An LTN12-style source over a string, in chunks (for tests and for
-- streaming a string without copying it whole).
function M.string_source(s, chunk)
  chunk = chunk or 8192
  local pos = 1
  return function()
    if pos > #s then
      return nil
    end
    local piece = s:sub(pos, pos + chunk - 1)
    pos = pos + chunk
    return piece
  end
end

return M
