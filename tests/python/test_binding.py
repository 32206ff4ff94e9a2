"""The binding without servers: constants, the error table, SSLInfo,
LogHandler, argument checks, lifetime, leaks."""

import gc
import logging
import os
import re
import sys
import tracemalloc

import pytest

import mailwire
from mailwire import _mailwire as raw

HEADER = os.path.join(os.path.dirname(__file__), "..", "..", "core", "include",
                      "mailwire.h")


def test_version_matches_header():
    text = open(HEADER).read()
    assert '"%s"' % mailwire.__version__ in text


def test_reference_constants_have_the_reference_values():
    # Values tabled by the reference manual (appendix and SSLInfo chapter).
    assert mailwire.MODE_CHANNEL == 0 and mailwire.MODE_STARTTLS == 1
    assert mailwire.eexProxyNoconn == 1001
    assert mailwire.eexDNS == 1102
    assert mailwire.eexPopServer == 1201
    assert mailwire.eexSmtpServer == 1301
    assert mailwire.eexSSLCertificate == 1407
    assert mailwire.LOG_S_FATAL == 1 and mailwire.LOG_F_ALL == 0xF
    assert mailwire.SSLNoServerNameCheck == 1
    assert mailwire.SSL_TLS1_3 == 0x2000


def test_every_header_constant_is_exported():
    text = open(HEADER).read()
    names = set(re.findall(r"\b((?:eex|err)[A-Z][A-Za-z0-9]*|SSL[A-Z_][A-Za-z0-9_]*"
                           r"|LOG_[SF]_[A-Z]+|MODE_[A-Z]+)\b\s*[=,]", text))
    names.discard("errUnknown")
    missing = sorted(n for n in names if not hasattr(mailwire, n))
    assert not missing
    assert mailwire.eexSSLLibrary == mailwire.eexSSLW32


def test_error_table_comes_from_the_header():
    from mailwire import _errors
    assert len(_errors.EXTENDED_ERRORS) >= 40
    for name, number, base, text in _errors.EXTENDED_ERRORS:
        assert getattr(mailwire, name) == number
        assert raw.mw_eex_base(number) == base
        assert raw.mw_eex_name(number) == name
        assert text
    for name, code, text in _errors.BASE_ERRORS:
        assert getattr(mailwire, name) == code
        assert raw.mw_err_name(code) == name


@pytest.mark.parametrize("code_name, cls", [
    ("errConnect", mailwire.ConnectError), ("errAuth", mailwire.AuthError),
    ("errServer", mailwire.ServerError), ("errProtocol", mailwire.ProtocolError),
    ("errTimeout", mailwire.MailTimeoutError),
    ("errNotConnected", mailwire.NotConnectedError),
    ("errInvalidArgument", mailwire.InvalidArgumentError),
    ("errTLS", mailwire.TLSError), ("errProxy", mailwire.ProxyError),
    ("errNetwork", mailwire.NetworkError), ("errNoMemory", mailwire.NoMemoryError),
    ("errAborted", mailwire.AbortedError), ("errState", mailwire.StateError),
    ("errUnsupported", mailwire.UnsupportedError),
])
def test_each_base_code_has_its_class(code_name, cls):
    code = getattr(mailwire, code_name)
    assert mailwire.error_class(code, 0) is cls


def test_every_base_code_of_the_header_is_mapped():
    from mailwire import _errors
    for name, code, _ in _errors.BASE_ERRORS:
        if code != mailwire.MW_OK:
            assert mailwire.error_class(code, 0) is not mailwire.Error, name


def test_classes_by_meaning_and_builtin_bases():
    ec = mailwire.error_class
    assert ec(mailwire.errConnect, mailwire.eexDNS) is mailwire.DNSError
    assert ec(mailwire.errConnect, mailwire.eexSSLCertName) is mailwire.CertificateNameError
    assert ec(mailwire.errConnect, mailwire.eexSSLCertificate) is mailwire.CertificateError
    assert ec(mailwire.errConnect, mailwire.eexSSLProtocol) is mailwire.TLSHandshakeError
    assert ec(mailwire.errTLS, mailwire.eexSSLStartTLSRefused) is mailwire.TLSError
    assert issubclass(mailwire.ConnectError, ConnectionError)
    assert issubclass(mailwire.DNSError, ConnectionError)
    assert issubclass(mailwire.MailTimeoutError, TimeoutError)
    assert issubclass(mailwire.InvalidArgumentError, ValueError)
    assert issubclass(mailwire.CertificateNameError, mailwire.TLSError)
    assert issubclass(mailwire.CertificateNameError, mailwire.ConnectError)
    for cls in (mailwire.ConnectError, mailwire.AuthError, mailwire.ProxyError):
        assert issubclass(cls, mailwire.Error)


def test_error_attributes_and_text():
    e = mailwire.ServerError(mailwire.eexSmtpServer, "The server refused MAIL FROM.",
                             0, mailwire.errServer, "5.7.1", "relay denied", 550)
    assert (e.number, e.code, e.reply_code) == (1301, mailwire.errServer, 550)
    assert e.enhanced_status == "5.7.1" and e.server_text == "relay denied"
    assert e.name == "eexSmtpServer"
    assert "relay denied" in str(e) and "1301" in str(e)
    t = mailwire.MailTimeoutError(mailwire.eexTimeout, "no answer", 110)
    assert t.errno == 110 and t.code == mailwire.errTimeout


# ---- SSLInfo ----

def test_sslinfo_mode_and_options():
    ssl = mailwire.SSLInfo()
    assert ssl.mode == mailwire.MODE_CHANNEL
    ssl.mode = mailwire.MODE_STARTTLS
    assert ssl.mode == mailwire.MODE_STARTTLS
    assert ssl.option[mailwire.SSLNoServerNameCheck] is False
    ssl.option[mailwire.SSLNoServerNameCheck] = True
    assert ssl.option[mailwire.SSLNoServerNameCheck] is True
    ssl.option[mailwire.SSLCAFile] = "/etc/ssl/certs/ca-certificates.crt"
    assert ssl.option[mailwire.SSLCAFile] == "/etc/ssl/certs/ca-certificates.crt"
    kw = mailwire.SSLInfo(mailwire.MODE_STARTTLS, server_name="mail.example",
                          no_server_name_check=True)
    assert kw.option[mailwire.SSLServerName] == "mail.example"
    assert kw.option[mailwire.SSLNoServerNameCheck] is True


def test_sslinfo_errors():
    ssl = mailwire.SSLInfo()
    with pytest.raises(mailwire.Error) as ei:
        ssl.mode = 7
    assert ei.value.number == mailwire.eexInvalidArgument
    with pytest.raises(mailwire.StateError) as ei:
        ssl.option[mailwire.SSLConnectionProtocolOut]
    assert ei.value.number == mailwire.eexSSLNocontext
    with pytest.raises(mailwire.Error) as ei:
        ssl.option[mailwire.SSLConnectionProtocolOut] = 5  # an output
    assert ei.value.code in (mailwire.errInvalidArgument, mailwire.errState)
    with pytest.raises(mailwire.Error) as ei:
        ssl.option[999] = 1
    assert ei.value.code == mailwire.errInvalidArgument
    assert ssl.extended_error.number == ei.value.number
    with pytest.raises(mailwire.InvalidArgumentError) as ei:
        ssl.option[mailwire.SSLCAFile] = "a\0b"
    assert ei.value.number == mailwire.eexInvalidArgument
    with pytest.raises(TypeError):
        mailwire.SSLInfo(no_such_option=1)


# ---- LogHandler ----

def test_loghandler_properties_and_user_messages():
    got = []
    lh = mailwire.LogHandler(lambda *a: got.append(a))
    assert lh.level == mailwire.LOG_S_INFORMATION
    assert lh.facility_flags == mailwire.LOG_F_ALL
    lh.log(mailwire.LOG_S_WARNING, "hello")
    assert got == [(mailwire.LOG_S_WARNING, mailwire.LOG_F_USER, "hello")]
    lh.level = mailwire.LOG_S_FATAL
    lh.log(mailwire.LOG_S_WARNING, "filtered")
    assert len(got) == 1
    with pytest.raises(mailwire.InvalidArgumentError):
        lh.level = 42
    lh.close()
    lh.close()


def test_loghandler_subclass_and_raising_user_message():
    class Boom(mailwire.LogHandler):
        def on_log_message(self, severity, facility, message):
            raise KeyError(message)
    lh = Boom()
    with pytest.raises(KeyError, match="bad"):
        lh.log(mailwire.LOG_S_FATAL, "bad")


def test_logging_bridge(caplog):
    lh = mailwire.LoggingHandler()
    with caplog.at_level(logging.DEBUG, logger="mailwire"):
        lh.log(mailwire.LOG_S_FATAL, "disk on fire")
    rec = [r for r in caplog.records if r.getMessage() == "disk on fire"]
    assert rec and rec[0].name == "mailwire.user" and rec[0].levelno == logging.ERROR


# ---- clients without a server ----

def test_keyword_construction_and_properties():
    ssl = mailwire.SSLInfo(mailwire.MODE_STARTTLS)
    c = mailwire.SMTPClient(server="127.0.0.1", port=2525, timeout=2.5, ssl=ssl,
                            helo_name="me.test", user="u", password="p",
                            auth_mechanism="PLAIN")
    assert (c.server, c.port, c.timeout, c.helo_name) == ("127.0.0.1", 2525, 2.5, "me.test")
    assert c.ssl is ssl and c.user == "u" and c.auth_mechanism == "PLAIN"
    assert not c.is_connected and not c.is_secure
    assert c.extended_error.number == mailwire.eexNone
    c.close()
    p = mailwire.POP3Client(server="127.0.0.1", ssl=mailwire.MODE_CHANNEL)
    assert p.ssl.mode == mailwire.MODE_CHANNEL
    p.close()


def test_not_connected_errors():
    c = mailwire.SMTPClient(server="127.0.0.1")
    with pytest.raises(mailwire.NotConnectedError) as ei:
        c.noop()
    assert ei.value.number == mailwire.eexNotConnected
    assert c.extended_error.number == mailwire.eexNotConnected
    p = mailwire.POP3Client(server="127.0.0.1")
    with pytest.raises(mailwire.NotConnectedError) as ei:
        p.stat()
    assert ei.value.number == mailwire.eexNotConnected


@pytest.mark.parametrize("bad", ["a\0b", "a\rb", "a\nb", "a\r\nMAIL FROM:<x>"])
def test_control_characters_in_settings_refused(bad):
    c = mailwire.SMTPClient()
    for action in (lambda: c.set_server(bad, 25), lambda: setattr(c, "helo_name", bad),
                   lambda: c.set_credentials(bad, "pw"),
                   lambda: setattr(c, "auth_mechanism", bad)):
        with pytest.raises(mailwire.InvalidArgumentError) as ei:
            action()
        assert ei.value.number == mailwire.eexInvalidArgument


def test_closed_client_refuses_calls_and_close_is_idempotent():
    c = mailwire.SMTPClient(server="127.0.0.1")
    c.close()
    c.close()
    with pytest.raises(mailwire.StateError):
        c.connect()
    assert not c.is_connected
    assert "closed" in repr(c)


def test_set_advanced_handler_types():
    c = mailwire.POP3Client()
    assert isinstance(c.set_advanced_handler(print), mailwire.LogHandler)
    assert isinstance(c.set_advanced_handler(logging.getLogger("x")), mailwire.LoggingHandler)
    ssl = mailwire.SSLInfo()
    assert c.set_advanced_handler(ssl) is ssl and c.ssl is ssl
    with pytest.raises(TypeError):
        c.set_advanced_handler(42)
    with pytest.raises(TypeError):
        c.ssl = True
    c.clear_handlers()
    assert c.ssl is None and c.log_handler is None


def test_handlers_outlive_their_python_objects():
    # The client keeps the C handlers; dropping every Python reference to
    # them and collecting must not crash the client.
    c = mailwire.SMTPClient(server="127.0.0.1", port=1, timeout=1)
    c.set_advanced_handler(mailwire.SSLInfo(mailwire.MODE_STARTTLS))
    c.set_advanced_handler(mailwire.LogHandler(lambda *a: None))
    gc.collect()
    with pytest.raises(mailwire.ConnectError):
        c.connect()
    del c
    gc.collect()


def test_stubs_and_docstrings():
    here = os.path.dirname(mailwire.__file__)
    assert os.path.exists(os.path.join(here, "__init__.pyi"))
    assert os.path.exists(os.path.join(here, "py.typed"))
    stub = open(os.path.join(here, "__init__.pyi")).read()
    for name in mailwire.__all__:
        assert re.search(r"\b%s\b" % re.escape(name), stub), name
    for obj in (mailwire.SMTPClient, mailwire.SMTPClient.send, mailwire.POP3Client.retr,
                mailwire.SSLInfo, mailwire.LogHandler, mailwire.Error):
        assert obj.__doc__ and len(obj.__doc__) > 20


# ---- leaks ----

def _rss_kb():
    """Resident memory; constant under ASan, whose quarantine holds freed
    memory on purpose (the tracemalloc and refcount checks still apply)."""
    with open("/proc/self/maps") as f:
        if "libasan" in f.read():
            return 0
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def test_no_reference_or_memory_leak_after_10000_calls():
    ssl = mailwire.SSLInfo()
    client = mailwire.SMTPClient(server="127.0.0.1")
    path = "/tmp/ca-%d.pem" % os.getpid()  # a fresh str object
    flag = mailwire.SSLNoServerNameCheck

    def cheap_calls():
        ssl.option[flag] = True
        assert ssl.option[flag] is True
        ssl.option[mailwire.SSLCAFile] = path
        assert ssl.option[mailwire.SSLCAFile] == path
        try:
            ssl.option[mailwire.SSLConnectionProtocolOut]
        except mailwire.StateError:
            pass
        try:
            client.noop()
        except mailwire.NotConnectedError:
            pass
        assert client.extended_error.number == mailwire.eexNotConnected
        raw.mwpy_errorinfo(raw.mw_smtp_extended_error(client._h))

    for _ in range(1000):  # warm caches and free lists
        cheap_calls()
    gc.collect()
    refs = (sys.getrefcount(ssl), sys.getrefcount(client), sys.getrefcount(path),
            sys.getrefcount(flag))
    rss = _rss_kb()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for _ in range(10000):
        cheap_calls()
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert (sys.getrefcount(ssl), sys.getrefcount(client), sys.getrefcount(path),
            sys.getrefcount(flag)) == refs
    assert after - before < 32 * 1024, "Python memory grew by %d bytes" % (after - before)
    assert _rss_kb() - rss < 4096, "RSS grew by %d KiB" % (_rss_kb() - rss)
    client.close()


def test_no_leak_creating_and_dropping_objects():
    def churn():
        c = mailwire.SMTPClient(server="127.0.0.1", ssl=mailwire.SSLInfo())
        c.set_advanced_handler(mailwire.LogHandler(lambda *a: None))
        p = mailwire.POP3Client(server="127.0.0.1")
        del c, p
    for _ in range(500):
        churn()
    gc.collect()
    rss = _rss_kb()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for _ in range(10000):
        churn()
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert after - before < 32 * 1024
    assert _rss_kb() - rss < 4096


def test_loghandler_closed_inside_its_own_callback():
    class Closer(mailwire.LogHandler):
        def on_log_message(self, severity, facility, message):
            self.close()
    lh = Closer()
    lh.log(mailwire.LOG_S_FATAL, "bye")
    lh.log(mailwire.LOG_S_FATAL, "dropped")  # closed: nothing happens
    gc.collect()


def test_sslinfo_array_option_goes_through_the_array_setter():
    ssl = mailwire.SSLInfo()
    try:
        ssl.option[mailwire.SSLConnectionProtocolIn] = [mailwire.SSL_TLS1_2,
                                                        mailwire.SSL_TLS1_3]
    except mailwire.Error as e:  # an input the library does not implement yet
        assert isinstance(e, mailwire.UnsupportedError)
        assert e.number == mailwire.eexNotImplemented
    with pytest.raises(TypeError):
        ssl.option[mailwire.SSLConnectionProtocolIn] = 5  # not a list
    with pytest.raises(TypeError):
        ssl.option[mailwire.SSLConnectionProtocolIn] = ["x"]
