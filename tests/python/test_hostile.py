"""The hostile-server cases of tests/hostile/cases, run through the Python
binding: the same files, the same scripted server (the hostile_server
program, built with the C tests) and the same expectations as the C runner
tests/hostile/test_hostile.c. See tests/hostile/README.md for the format."""

import glob
import os
import re
import subprocess
import tempfile
import time

import pytest

import mailwire

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CASES = os.path.join(ROOT, "tests", "hostile", "cases")
SERVER = os.environ.get("MW_HOSTILE_SERVER") or os.path.join(
    ROOT, "build", "tests", "hostile", "hostile_server")


_ESCAPE = re.compile(rb"\\(x[0-9a-fA-F]{2}|.)", re.S)
_SIMPLE = {b"r": b"\r", b"n": b"\n", b"t": b"\t", b"0": b"\0"}


def unescape(text):
    """The case files' C escapes (\\r \\n \\t \\0 \\xNN) into bytes."""
    def one(m):
        e = m.group(1)
        if len(e) == 3:
            return bytes([int(e[1:], 16)])
        return _SIMPLE.get(e, e)
    return _ESCAPE.sub(one, text.encode("utf-8"))


class Case:
    def __init__(self, path):
        self.path = path
        self.name = os.path.relpath(path, CASES)[:-len(".case")]
        self.settings, self.actions = {}, []
        self.never, self.sent = [], []
        self.got = self.expect = None
        self.texts, self.reply_code = [], None
        self.only = ""
        with open(path, encoding="utf-8") as f:
            for line in f:
                line = line.rstrip("\n")
                if not line or line.startswith("#"):
                    continue
                key, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                if key == "script":
                    break
                if key == "set":
                    k, _, v = value.partition("=")
                    self.settings[k] = unescape(v)
                elif key == "do":
                    self.actions.append(value)
                elif key == "expect":
                    self.expect = value
                elif key == "never":
                    self.never.append(unescape(value))
                elif key == "sent":
                    self.sent.append(unescape(value))
                elif key == "got":
                    self.got = unescape(value)
                elif key == "client":
                    self.client = value
                elif key == "text":
                    self.texts.append(value)
                elif key == "reply_code":
                    self.reply_code = int(value)
                elif key == "only":
                    self.only = value
                else:
                    raise ValueError("%s: unknown header %r" % (path, key))

    def text(self, key, default=None):
        v = self.settings.get(key)
        return default if v is None else v.decode("utf-8", "surrogateescape")

    def number(self, key, default):
        v = self.settings.get(key)
        return default if v is None else int(v)


ALL = sorted(glob.glob(os.path.join(CASES, "**", "*.case"), recursive=True))
# MW_HOSTILE_FILTER: only the cases whose name holds it (the valgrind run
# takes the TLS groups only).
FILTER = os.environ.get("MW_HOSTILE_FILTER", "")
APPLY = [p for p in ALL if "python" in (Case(p).only or "python")
         and FILTER in Case(p).name]


def test_every_case_file_is_found():
    # The suite must not pass by finding nothing.
    assert len(ALL) >= 150, "only %d case files under %s" % (len(ALL), CASES)


class HostileServer:
    """hostile_server for one case: port, then what the client sent."""

    def __init__(self, case, env_file):
        if not os.access(SERVER, os.X_OK):
            pytest.fail("%s is missing: build the C tests first "
                        "(scripts/test.sh does) or set MW_HOSTILE_SERVER" % SERVER)
        self.dir = tempfile.mkdtemp(prefix="mw-hostile-")
        self.files = [os.path.join(self.dir, n) for n in ("port", "record", "result")]
        # The server's certificate comes from the same servers.env as the CA
        # the client trusts.
        self.proc = subprocess.Popen([SERVER, case.path] + self.files,
                                     stdin=subprocess.PIPE,
                                     env=dict(os.environ, MW_TEST_ENV=env_file))
        deadline = time.monotonic() + 10
        while not os.path.exists(self.files[0]):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("hostile_server did not start for %s" % case.name)
            time.sleep(0.01)
        with open(self.files[0]) as f:
            self.port = int(f.read())

    def finish(self, stop):
        self.proc.communicate(b"stop\n" if stop else b"wait\n", timeout=40)
        with open(self.files[1], "rb") as f:
            received = f.read()
        with open(self.files[2]) as f:
            result = f.read()
        for name in self.files:
            os.unlink(name)
        os.rmdir(self.dir)
        return received, result


def make_client(case, port, ca_file):
    """The client the case sets up; settings refused here raise."""
    kw = {"timeout": case.number("timeout", 5000) / 1000.0}
    for key in ("reply_timeout", "operation_timeout"):
        if key in case.settings:
            kw[key] = case.number(key, 0) / 1000.0
    if "low_speed_limit" in case.settings:
        kw["low_speed_limit"] = case.number("low_speed_limit", 0)
    host, cport = "127.0.0.1", port
    if "proxy" in case.settings:
        kinds = {"socks4": mailwire.MW_PROXY_SOCKS4, "socks4a": mailwire.MW_PROXY_SOCKS4A,
                 "socks5": mailwire.MW_PROXY_SOCKS5, "http": mailwire.MW_PROXY_HTTP}
        proxy = mailwire.ProxyInfo(kinds[case.text("proxy")], "127.0.0.1", port)
        if "proxy_user" in case.settings:
            proxy.set_credentials(case.text("proxy_user"), case.text("proxy_pass"))
        kw["proxy"] = proxy
        host, cport = case.text("target", "mail.test"), case.number("target_port", 25)
    tls = case.text("tls", "none")
    if tls != "none":
        ssl = mailwire.SSLInfo(mailwire.MODE_CHANNEL if tls == "implicit"
                               else mailwire.MODE_STARTTLS)
        ssl.option[mailwire.SSLCAFile] = ca_file
        kw["ssl"] = ssl
    if "user" in case.settings:
        kw["user"], kw["password"] = case.text("user"), case.text("pass")
    if "mech" in case.settings:
        kw["auth_mechanism"] = case.text("mech")
    kw["allow_plaintext_auth"] = bool(case.number("plaintext_auth", 0))
    if case.client == "smtp":
        if "helo" in case.settings:
            kw["helo_name"] = case.text("helo")
        kw["allow_partial"] = bool(case.number("partial", 0))
        kw["pipelining"] = bool(case.number("pipelining", 1))
        kw["chunking"] = bool(case.number("chunking", 1))
        c = mailwire.SMTPClient(**kw)
    else:
        if "max_size" in case.settings:
            kw["max_message_size"] = case.number("max_size", 0)
        c = mailwire.POP3Client(**kw)
    c.set_server(host, cport)
    return c


def run_actions(case, c):
    got = None
    for action in case.actions:
        word, *args = action.split()
        args = [int(a) for a in args]
        if word == "connect":
            c.connect()
        elif word == "send":
            to = case.text("to", "rcpt@test").split(",")
            body = case.settings.get("body", b"Subject: hostile\r\n\r\nHello.\r\n")
            c.send(case.text("from", "sender@test"), to, body)
        elif word == "send_batch":  # args[0] copies of the message
            to = case.text("to", "rcpt@test").split(",")
            body = case.settings.get("body", b"Subject: hostile\r\n\r\nHello.\r\n")
            c.send_batch([(case.text("from", "sender@test"), to, body)] * args[0])
        elif word in ("noop", "rset", "quit", "stat", "dele"):
            getattr(c, word)(*args)
        elif word in ("list", "uidl"):
            getattr(c, word)(*args)
        elif word in ("retr", "top"):
            got = getattr(c, word)(*args)
        else:
            pytest.fail("%s: unknown action %r" % (case.name, action))
    return got


@pytest.mark.parametrize("path", APPLY, ids=lambda p: os.path.relpath(p, CASES)[:-5])
def test_case(path, env):
    case = Case(path)
    server = HostileServer(case, env.path)
    before_connect = False
    result = (0, 0)
    error = None
    got = None
    c = None
    try:
        try:
            c = make_client(case, server.port, env["CA_FILE"])
        except mailwire.Error as e:
            before_connect = True
            raise
        got = run_actions(case, c)
    except mailwire.Error as e:
        result = (e.code, e.number)
        error = e
    finally:
        if c is not None:
            c.close()
        received, outcome = server.finish(stop=before_connect)
    want = (0, 0) if case.expect == "ok" else \
        tuple(getattr(mailwire, name) for name in case.expect.split())
    assert result == want, "%s: ended with %s, expected %s %s" % (
        case.name, result, case.expect, want)
    for part in case.texts:
        assert part in error.text, "%s: the error %r does not say %r" % (
            case.name, error.text, part)
    if case.reply_code is not None:
        assert error.reply_code == case.reply_code
    if before_connect:
        assert received == b"", "%s: refused by a setting, yet sent %r" % (case.name, received)
    else:
        assert outcome == "ok", "%s: server script: %s" % (case.name, outcome)
    for needle in case.never:
        assert needle not in received, "%s: the client sent %r" % (case.name, needle)
    for needle in case.sent:
        assert needle in received, "%s: the client did not send %r" % (case.name, needle)
    if case.got is not None:
        assert got == case.got
