"""One behaviour in Python and Lua (#18 items 11-17, 19-21): the shared API
cases of tests/api-cases (run from busted too, by tests/lua/api_spec.lua),
and what needs the real servers: leaving ``with`` by an error, a client
certificate with its password, the TLS outputs read through the option
getters."""

import builtins
import glob
import json
import os
import re
import subprocess
import tempfile
import time
import warnings

import pytest

import mailwire
from conftest import marker
from test_hostile import SERVER, unescape
from test_real import deliver, find, pop3

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CASES = os.path.join(ROOT, "tests", "api-cases")
FILTER = os.environ.get("MW_API_FILTER", "")


class ApiCase:
    """A case file: steps, expectations and the optional server script."""

    def __init__(self, path):
        self.path = path
        self.name = os.path.relpath(path, CASES)[:-len(".case")]
        self.steps, self.sent, self.never, self.logged = [], [], [], []
        self.expect, self.text, self.python = "ok", [], None
        self.returns = self.results = self.extended = None
        self.only, self.script = "", None
        with open(path, encoding="utf-8") as f:
            lines = f.read().split("\n")
        for i, line in enumerate(lines):
            if not line or line.startswith("#"):
                continue
            key, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if key == "script":
                self.script = "\n".join(lines[i + 1:])
                break
            if key in ("new", "call", "option", "read"):
                self.steps.append((key, value))
            elif key == "expect":
                self.expect = value
            elif key == "text":
                self.text.append(value)
            elif key == "python":
                self.python = value
            elif key in ("returns", "results", "extended"):
                setattr(self, key, value)
            elif key == "sent":
                self.sent.append(unescape(value))
            elif key == "never":
                self.never.append(unescape(value))
            elif key == "logged":
                self.logged.append(value)
            elif key == "only":
                self.only = value
            else:
                raise ValueError("%s: unknown header %r" % (path, key))


ALL = sorted(glob.glob(os.path.join(CASES, "**", "*.case"), recursive=True))
APPLY = [p for p in ALL if "python" in (ApiCase(p).only or "python")
         and FILTER in ApiCase(p).name]


class Server:
    """hostile_server playing a case's script; port, then what was sent."""

    def __init__(self, case, env_file):
        self.dir = tempfile.mkdtemp(prefix="mw-api-")
        script = os.path.join(self.dir, "script.case")
        with open(script, "w", encoding="utf-8") as f:
            f.write("client: smtp\ndo: connect\nexpect: ok\nscript:\n" + case.script)
        self.files = [os.path.join(self.dir, n) for n in ("port", "record", "result")]
        self.proc = subprocess.Popen([SERVER, script] + self.files,
                                     stdin=subprocess.PIPE,
                                     env=dict(os.environ, MW_TEST_ENV=env_file))
        deadline = time.monotonic() + 10
        while not os.path.exists(self.files[0]):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("hostile_server did not start for %s" % case.name)
            time.sleep(0.01)
        with open(self.files[0]) as f:
            self.port = int(f.read())

    def finish(self, connected):
        self.proc.communicate(b"wait\n" if connected else b"stop\n", timeout=40)
        with open(self.files[1], "rb") as f:
            received = f.read()
        with open(self.files[2]) as f:
            result = f.read()
        for name in os.listdir(self.dir):
            os.unlink(os.path.join(self.dir, name))
        os.rmdir(self.dir)
        return received, result


def substitute(value, ctx):
    """The case's "$..." strings, in a decoded JSON value."""
    if isinstance(value, list):
        return [substitute(v, ctx) for v in value]
    if isinstance(value, dict):
        return {k: substitute(v, ctx) for k, v in value.items()}
    if isinstance(value, str) and value.startswith("$"):
        word = value[1:]
        if word == "HOST":
            return "127.0.0.1"
        if word == "PORT":
            return ctx["port"]
        if word == "log":
            return lambda severity, facility, message: ctx["log"].append(message)
        if word.startswith("env:"):
            return ctx["env"][word[4:]]
        return getattr(mailwire, word)
    return value


def as_plain(got):
    """Named tuples and ErrorInfo as dicts, tuples as lists, bytes as str."""
    if hasattr(got, "_asdict"):
        return {k: as_plain(v) for k, v in got._asdict().items()}
    if isinstance(got, mailwire.ErrorInfo):
        return {k: getattr(got, k) for k in ErrorInfo_FIELDS}
    if isinstance(got, (list, tuple)):
        return [as_plain(v) for v in got]
    if isinstance(got, bytes):
        return got.decode("utf-8", "surrogateescape")
    return got


ErrorInfo_FIELDS = ("code", "number", "name", "text", "os_error",
                    "reply_code", "enhanced_status", "server_text",
                    "verify_result")


def matches(got, want):
    got = as_plain(got)
    if isinstance(want, dict):
        return isinstance(got, dict) and all(
            k in got and matches(got[k], v) for k, v in want.items())
    if isinstance(want, list):
        return isinstance(got, list) and len(got) == len(want) and all(
            matches(g, w) for g, w in zip(got, want))
    return got == want


CLASSES = {"SMTPClient", "POP3Client", "SSLInfo", "ProxyInfo",
           "SOCK4ProxyInfo", "SOCK5ProxyInfo", "SOCKS4ProxyInfo",
           "SOCKS5ProxyInfo", "HTTPProxyInfo", "POP3ProxyInfo", "SMTPProxyInfo",
           "LogHandler"}


def run_steps(case, ctx):
    """Run the steps; returns (object, last result, error or None,
    whether a connect was tried)."""
    obj, result, connected = None, None, False
    try:
        for kind, value in case.steps:
            if kind == "new":
                cls, _, args = value.partition(" ")
                assert cls in CLASSES, "%s: unknown class %s" % (case.name, cls)
                obj = None
                obj = getattr(mailwire, cls)(**substitute(json.loads(args or "{}"), ctx))
                result = obj
            elif kind == "call":
                method, _, args = value.partition(" ")
                args = substitute(json.loads(args or "[]"), ctx)
                if method == "connect":
                    connected = True
                result = getattr(obj, method)(*args)
            elif kind == "option":
                name, _, v = value.partition(" ")
                obj.option[getattr(mailwire, name)] = substitute(json.loads(v), ctx)
            elif kind == "read":
                name, _, v = value.partition(" ")
                result = obj.option[getattr(mailwire, name)]
                want = substitute(json.loads(v), ctx)
                assert matches(result, want), "%s: option %s is %r, expected %r" % (
                    case.name, name, result, want)
    except mailwire.Error as e:
        return obj, result, e, connected
    return obj, result, None, connected


@pytest.mark.parametrize("path", APPLY, ids=lambda p: os.path.relpath(p, CASES)[:-5])
def test_api_case(path, env):
    case = ApiCase(path)
    server = Server(case, env.path) if case.script is not None else None
    ctx = {"port": server.port if server else 0, "log": [], "env": env}
    obj = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            obj, result, err, connected = run_steps(case, ctx)
    finally:
        if obj is not None and hasattr(obj, "close"):
            extended = None
            if isinstance(obj, (mailwire.SMTPClient, mailwire.POP3Client)):
                try:
                    extended = obj.extended_error
                except mailwire.Error:
                    pass
            obj.close()
        else:
            extended = None
        received, outcome = server.finish(connected) if server else (b"", "ok")
    name = case.name
    if case.expect == "ok":
        assert err is None, "%s: failed with %s" % (name, err)
    elif case.expect != "any":
        want = tuple(getattr(mailwire, n) for n in case.expect.split())
        assert err is not None, "%s: succeeded, expected %s" % (name, case.expect)
        assert (err.code, err.number) == want, "%s: %s, expected %s" % (
            name, err, case.expect)
    for part in case.text:
        assert err is not None and part in err.text, \
            "%s: the error text %r does not hold %r" % (name, err and err.text, part)
        if extended is not None:
            assert part in extended.text, "%s: extended_error says %r" % (
                name, extended.text)
    if case.python:
        assert isinstance(err, getattr(builtins, case.python)), \
            "%s: %r is not a %s" % (name, err, case.python)
    if case.returns is not None:
        want = substitute(json.loads(case.returns), ctx)
        assert matches(result, want), "%s: returned %r, expected %r" % (
            name, as_plain(result), want)
    if case.results is not None:
        want = substitute(json.loads(case.results), ctx)
        assert err is not None and matches(err.results, want), \
            "%s: results %r, expected %r" % (name, err and as_plain(err.results), want)
    if case.extended is not None:
        want = substitute(json.loads(case.extended), ctx)
        assert extended is not None and matches(extended, want), \
            "%s: extended_error %r, expected %r" % (name, as_plain(extended), want)
    for part in case.logged:
        assert any(part in line for line in ctx["log"]), \
            "%s: no log line holds %r: %r" % (name, part, ctx["log"])
    if server:
        if connected:
            assert outcome == "ok", "%s: server script: %s" % (name, outcome)
        else:
            assert received == b"", "%s: refused before connecting, yet sent %r" % (
                name, received)
    for needle in case.never:
        assert needle not in received, "%s: the client sent %r" % (name, needle)
    for needle in case.sent:
        assert needle in received, "%s: the client did not send %r in %r" % (
            name, needle, received)


def test_every_api_case_is_found():
    assert len(ALL) >= 25, "only %d case files under %s" % (len(ALL), CASES)


# ---- 11: leaving ``with`` normally commits, leaving it by an error does not ----

class ApplicationFailed(Exception):
    pass


def test_with_left_by_an_error_keeps_pop3_deletions(env):
    mark = marker("exit-error")
    deliver(env, "USER2", mark)
    lines = []
    with pytest.raises(ApplicationFailed):
        with pop3(env, "channel", "USER2", "PASS2",
                  log_handler=lambda s, f, m: lines.append(m)) as p:
            p.dele(find(p, mark))
            raise ApplicationFailed()
    assert any(line.startswith("C: DELE") for line in lines), lines
    assert not any(line.startswith("C: QUIT") for line in lines), lines
    with pop3(env, "channel", "USER2", "PASS2") as p:
        assert find(p, mark) is not None, "deleted although with left by an error"


def test_with_left_normally_commits_pop3_deletions(env):
    mark = marker("exit-normal")
    deliver(env, "USER2", mark)
    lines = []
    with pop3(env, "channel", "USER2", "PASS2",
              log_handler=lambda s, f, m: lines.append(m)) as p:
        p.dele(find(p, mark))
    assert any(line.startswith("C: QUIT") for line in lines), lines
    with pop3(env, "channel", "USER2", "PASS2") as p:
        assert find(p, mark) is None, "not deleted although with left normally"


def test_with_left_by_an_error_sends_no_quit_smtp(env):
    lines = []
    with pytest.raises(ApplicationFailed):
        with mailwire.SMTPClient("127.0.0.1", env.port("SMTP_PORT"), timeout=15,
                                 helo_name="api.test",
                                 log_handler=lambda s, f, m: lines.append(m)):
            raise ApplicationFailed()
    assert any(line.startswith("C: EHLO") for line in lines), lines
    assert not any(line.startswith("C: QUIT") for line in lines), lines


# ---- 13: a client certificate with its password, against Postfix ----

@pytest.mark.parametrize("order", ["name-first", "password-first"])
def test_client_certificate_with_password_connects(env, order):
    names = ["client_certificate_name", "client_certificate_password"]
    values = {"client_certificate_name": env["CLIENT_P12_FILE"],
              "client_certificate_password": env["CLIENT_P12_PASS"]}
    if order == "password-first":
        names.reverse()
    ssl = mailwire.SSLInfo(mailwire.MODE_CHANNEL, ca_file=env["CA_FILE"],
                           **{n: values[n] for n in names})
    with mailwire.SMTPClient("127.0.0.1", env.port("SMTPS_CCERT_PORT"), ssl=ssl,
                             timeout=15, helo_name="api.test") as c:
        c.noop()


# ---- 19: peer_sans ----

def test_peer_sans_name_and_its_deprecated_alias():
    assert mailwire.SSL_OPTIONS["peer_sans"] == mailwire.SSLPeerSANs
    assert "peer_sa_ns" not in mailwire.SSL_OPTIONS
    with pytest.warns(DeprecationWarning, match="peer_sans"):
        with pytest.raises(mailwire.InvalidArgumentError):  # an output
            mailwire.SSLInfo(peer_sa_ns="x")


# ---- 21: the TLS outputs through the option getters, after a real handshake ----

SUITE_HASH = {"SHA256": ("SSL_SHA256", 256), "SHA384": ("SSL_SHA384", 384)}


def check_outputs(ssl):
    o = ssl.option
    name = o[mailwire.SSLConnectionCipherName]
    hash_name, bits = SUITE_HASH[name.rsplit("_" if name.startswith("TLS_") else "-", 1)[1]]
    assert o[mailwire.SSLHash] == getattr(mailwire, hash_name), name
    assert o[mailwire.SSLHashStrength] == bits, name
    group = o[mailwire.SSLExchangeGroupName].lower()
    if group == "x25519":
        assert o[mailwire.SSLExchange] == mailwire.SSL_X25519
        assert o[mailwire.SSLExchangeStrength] == 253
    else:
        assert o[mailwire.SSLExchange] in (mailwire.SSL_ECDHE, mailwire.SSL_DH,
                                           mailwire.SSL_X448), group
        assert o[mailwire.SSLExchangeStrength] >= 224, group
    assert "DNS:localhost" in o[mailwire.SSL_OPTIONS["peer_sans"]]


@pytest.mark.parametrize("protocols", [None, "SSL_TLS1_2"])
@pytest.mark.parametrize("cls,port_key", [(mailwire.SMTPClient, "SMTPS_PORT"),
                                          (mailwire.POP3Client, "POP3S_PORT")])
def test_tls_outputs_through_option_getters(env, cls, port_key, protocols):
    options = {"ca_file": env["CA_FILE"]}
    if protocols:
        options["connection_protocol_in"] = [getattr(mailwire, protocols)]
    ssl = mailwire.SSLInfo(mailwire.MODE_CHANNEL, **options)
    kw = {}
    if cls is mailwire.POP3Client:
        kw = {"user": env["USER"], "password": env["PASS"]}
    with cls("127.0.0.1", env.port(port_key), ssl=ssl, timeout=15, **kw):
        check_outputs(ssl)
        if protocols:
            assert ssl.option[mailwire.SSLConnectionProtocolOut] == mailwire.SSL_TLS1_2
            assert ssl.option[mailwire.SSLConnectionProtocolIn] == [mailwire.SSL_TLS1_2]
