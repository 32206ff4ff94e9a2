"""Against the real Postfix and Dovecot of tests/servers: every TLS mode,
every auth mechanism, every error class by type and number, streaming in
constant memory, and 8 threads sending and retrieving at once."""

import io
import logging
import os
import tempfile
import threading
import time
import tracemalloc

import pytest

import mailwire
from conftest import marker, wait_delivery

TLS_MODES = ["plain", "starttls", "channel"]


def ssl_info(env, mode, **options):
    return mailwire.SSLInfo(mode, ca_file=env["CA_FILE"], **options)


def smtp(env, how, **kw):
    """An SMTPClient to Postfix: how is plain, starttls or channel."""
    kw.setdefault("timeout", 15)
    kw.setdefault("helo_name", "pytest.mailwire.test")
    if how == "plain":
        return mailwire.SMTPClient(server="127.0.0.1", port=env.port("SMTP_PORT"), **kw)
    if how == "starttls":
        return mailwire.SMTPClient(server="127.0.0.1", port=env.port("SMTP_PORT"),
                                   ssl=ssl_info(env, mailwire.MODE_STARTTLS), **kw)
    return mailwire.SMTPClient(server="127.0.0.1", port=env.port("SMTPS_PORT"),
                               ssl=ssl_info(env, mailwire.MODE_CHANNEL), **kw)


def pop3(env, how, user_key="USER", pass_key="PASS", **kw):
    kw.setdefault("timeout", 15)
    kw.setdefault("user", env[user_key])
    kw.setdefault("password", env[pass_key])
    if how == "plain":
        kw.setdefault("allow_plaintext_auth", True)
        return mailwire.POP3Client(server="127.0.0.1", port=env.port("POP3_PORT"), **kw)
    if how == "starttls":
        return mailwire.POP3Client(server="127.0.0.1", port=env.port("POP3_PORT"),
                                   ssl=ssl_info(env, mailwire.MODE_STARTTLS), **kw)
    return mailwire.POP3Client(server="127.0.0.1", port=env.port("POP3S_PORT"),
                               ssl=ssl_info(env, mailwire.MODE_CHANNEL), **kw)


def message(env, user_key, mark, body="Hello from the Python binding.\r\n"):
    to = env.address(user_key)
    return to, ("From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\n\r\n%s%s\r\n"
                % (to, to, mark, body, mark)).encode()


def deliver(env, user_key, mark, body="Hello.\r\n"):
    to, data = message(env, user_key, mark, body)
    with smtp(env, "starttls", user=env["USER"], password=env["PASS"]) as c:
        c.send(to, [to], data)
    assert wait_delivery(env, user_key, mark) is not None, "not delivered"


def find(pop, mark):
    """The number of the message whose headers contain mark, or None."""
    for msg in pop:
        if mark.encode() in pop.top(msg.number, 0):
            return msg.number
    return None


# ---- SMTP: TLS modes and mechanisms ----

@pytest.mark.parametrize("how", TLS_MODES)
def test_smtp_each_tls_mode_sends_and_delivers(env, how):
    mark = marker("smtp-" + how)
    to, data = message(env, "USER", mark, "..stuffed line\r\n.\r\nafter dot\r\n")
    logged = []
    kw = dict(user=env["USER"], password=env["PASS"], log_handler=lambda *a: logged.append(a))
    if how == "plain":
        kw["allow_plaintext_auth"] = True
    with smtp(env, how, **kw) as c:
        assert c.is_connected
        assert c.is_secure == (how != "plain")
        assert c.auth_mechanism_used
        assert c.has_extension("AUTH")
        results = c.send(to, [to], data)
        assert results[0].code == 250 and results[0].address == to
        c.noop()
        c.rset()
        if how != "plain":
            ssl = c.ssl
            assert ssl.option[mailwire.SSLConnectionProtocolOut] in (
                mailwire.SSL_TLS1_2, mailwire.SSL_TLS1_3)
            assert ssl.protocol_name.startswith("TLSv1.")
            assert ssl.cipher_name
            assert ssl.option[mailwire.SSLCipherStrength] >= 128
        if how == "starttls":
            assert not c.has_extension("STARTTLS")  # capabilities read again
        c.quit()
        assert c.last_reply_code == 221
        assert not c.is_connected
    assert not c.is_connected  # closed by the with block
    got = wait_delivery(env, "USER", mark)
    assert got is not None
    assert b".stuffed line" in got and b"after dot" in got
    assert logged and not any(env["PASS"] in m for _, _, m in logged)


def offered_smtp_mechanisms(env):
    with smtp(env, "starttls") as c:
        return (c.extension_params("AUTH") or "").upper().split()


@pytest.mark.parametrize("mech", ["PLAIN", "LOGIN", "CRAM-MD5"])
def test_smtp_each_auth_mechanism(env, mech):
    if mech not in offered_smtp_mechanisms(env):
        pytest.fail("Postfix does not offer %s here" % mech)
    mark = marker("smtp-" + mech)
    to, data = message(env, "USER", mark)
    with smtp(env, "starttls", user=env["USER"], password=env["PASS"],
              auth_mechanism=mech) as c:
        assert c.auth_mechanism_used == mech
        c.send(to, to, data)
    assert wait_delivery(env, "USER", mark) is not None


def test_smtp_send_message_object(env):
    import email.message
    mark = marker("smtp-message")
    msg = email.message.EmailMessage()
    msg["From"] = env.address("USER")
    msg["To"] = env.address("USER")
    msg["Bcc"] = env.address("USER2")
    msg["Subject"] = mark
    msg.set_content("Grüße aus Python\n")
    with smtp(env, "channel", user=env["USER"], password=env["PASS"]) as c:
        results = c.send_message(msg)
        assert len(results) == 2
    got = wait_delivery(env, "USER2", mark)
    assert got is not None and b"Bcc" not in got


# ---- POP3: TLS modes and mechanisms ----

@pytest.mark.parametrize("how", TLS_MODES)
def test_pop3_each_tls_mode_retrieves(env, how):
    mark = marker("pop3-" + how)
    deliver(env, "USER2", mark, "..dotted\r\nplain\r\n")
    with pop3(env, how, "USER2", "PASS2") as p:
        assert p.is_secure == (how != "plain")
        count, octets = p.stat()
        assert count >= 1 and octets > 0
        assert len(p) == count
        n = find(p, mark)
        assert n is not None
        size = p.list(n)
        data = p.retr(n)
        assert len(data) == size
        assert b"\r\n..dotted\r\nplain\r\n" in data  # as sent: stuffed, unstuffed
        uid = p.uidl(n)
        assert uid and dict(p.uidl())[n] == uid
        assert [m for m in p if m.number == n][0].uid == uid
        head = p.top(n, 0)
        assert mark.encode() in head and b"\r\nplain\r\n" not in head
        p.noop()


def offered_pop3_mechanisms(env):
    with pop3(env, "starttls", user=None, password=None) as p:
        return (p.capability_params("SASL") or "").upper().split()


@pytest.mark.parametrize("mech", ["USER", "APOP", "PLAIN", "LOGIN", "CRAM-MD5"])
def test_pop3_each_auth_mechanism(env, mech):
    if mech not in ("USER", "APOP") and mech not in offered_pop3_mechanisms(env):
        pytest.fail("Dovecot does not offer %s here" % mech)
    p = pop3(env, "starttls", auth_mechanism=mech)
    try:
        p.connect()
    except mailwire.AuthError as e:
        # APOP needs a timestamp in the greeting, which Dovecot only sends
        # when configured for it: then the refusal must say so precisely.
        assert mech == "APOP", e
        assert e.number == mailwire.eexAuthNoMechanism
        assert "APOP" in e.text
        return
    with p:
        assert p.auth_mechanism_used == mech
        p.stat()


def test_pop3_dele_rset_and_quit_deletes(env):
    mark = marker("pop3-dele")
    deliver(env, "USER2", mark)
    with pop3(env, "channel", "USER2", "PASS2") as p:
        n = find(p, mark)
        p.dele(n)
        p.rset()  # undone
    with pop3(env, "channel", "USER2", "PASS2") as p:
        n = find(p, mark)
        assert n is not None
        p.dele(n)
    with pop3(env, "channel", "USER2", "PASS2") as p:
        assert find(p, mark) is None


def test_pop3_dropped_connection_deletes_nothing(env):
    mark = marker("pop3-drop")
    deliver(env, "USER2", mark)
    p = pop3(env, "channel", "USER2", "PASS2").connect()
    p.dele(find(p, mark))
    del p  # closed without QUIT
    with pop3(env, "channel", "USER2", "PASS2") as p:
        assert find(p, mark) is not None


# ---- streaming in constant memory ----

def test_stream_5mb_from_file_and_into_file_in_constant_memory(env):
    mark = marker("stream")
    line = b"0123456789" * 7 + b"\r\n"
    with tempfile.TemporaryFile() as f:
        to = env.address("USER2")
        f.write(b"From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\n\r\n"
                % (to.encode(), to.encode(), mark.encode()))
        while f.tell() < 5 * 1024 * 1024:
            f.write(line)
        size = f.tell()
        f.seek(0)
        with smtp(env, "starttls", user=env["USER"], password=env["PASS"]) as c:
            tracemalloc.start()
            c.send(to, [to], f, size_hint=size)
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        assert peak < 1024 * 1024, "sending used %d bytes of Python memory" % peak
    assert wait_delivery(env, "USER2", mark, timeout=60) is not None
    with pop3(env, "channel", "USER2", "PASS2") as p, tempfile.TemporaryFile() as out:
        n = find(p, mark)
        tracemalloc.start()
        p.retr(n, into=out)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak < 1024 * 1024, "retrieving used %d bytes of Python memory" % peak
        assert out.tell() >= 5 * 1024 * 1024
        out.seek(0)
        assert mark.encode() in out.read(4096)


# ---- errors, by class and number ----

def test_wrong_password_smtp(env):
    logged = []
    c = smtp(env, "starttls", user=env["USER"], password="definitely-wrong",
             auth_mechanism="PLAIN", log_handler=lambda *a: logged.append(a[2]))
    with pytest.raises(mailwire.AuthError) as ei:
        c.connect()
    e = ei.value
    assert e.number == mailwire.eexSmtpServer and e.code == mailwire.errAuth
    assert e.reply_code == 535 and e.server_text
    assert not c.is_connected
    assert not any("definitely-wrong" in m for m in logged)


def test_wrong_password_pop3(env):
    p = pop3(env, "channel", password="definitely-wrong")
    with pytest.raises(mailwire.AuthError) as ei:
        p.connect()
    assert ei.value.number == mailwire.eexPopServer
    assert ei.value.code == mailwire.errAuth


@pytest.mark.parametrize("client", ["smtp", "pop3"])
def test_plaintext_auth_refused(env, client):
    if client == "smtp":
        c = smtp(env, "plain", user=env["USER"], password=env["PASS"])
    else:
        c = pop3(env, "plain", allow_plaintext_auth=False)
    with pytest.raises(mailwire.AuthError) as ei:
        c.connect()
    assert ei.value.number == mailwire.eexAuthPlaintext
    assert not c.is_connected


def test_unknown_host_is_dns_error():
    c = mailwire.SMTPClient(server="no-such-host.invalid", port=25, timeout=10)
    with pytest.raises(mailwire.DNSError) as ei:
        c.connect()
    assert ei.value.number == mailwire.eexDNS
    assert isinstance(ei.value, ConnectionError)


@pytest.mark.parametrize("cls", [mailwire.SMTPClient, mailwire.POP3Client])
def test_closed_port_is_connect_error(env, cls):
    c = cls(server="127.0.0.1", port=env.port("CLOSED_PORT"), timeout=5)
    with pytest.raises(ConnectionError) as ei:
        c.connect()
    assert type(ei.value) is mailwire.ConnectError
    assert ei.value.number == mailwire.eexTCPConnect
    assert ei.value.os_error != 0
    assert ei.value.os_error_text == "errno 111 (Connection refused)"
    assert ei.value.errno == 111


@pytest.mark.parametrize("port_key", ["SMTP_PORT", "POP3_PORT"])
def test_implicit_tls_to_plain_port_is_handshake_error(env, port_key):
    cls = mailwire.SMTPClient if port_key.startswith("SMTP") else mailwire.POP3Client
    c = cls(server="127.0.0.1", port=env.port(port_key), timeout=5,
            ssl=ssl_info(env, mailwire.MODE_CHANNEL))
    with pytest.raises(mailwire.TLSHandshakeError) as ei:
        c.connect()
    assert ei.value.number == mailwire.eexSSLProtocol
    assert isinstance(ei.value, ConnectionError)


@pytest.mark.parametrize("how", ["starttls", "channel"])
def test_untrusted_certificate(env, how):
    mode = mailwire.MODE_STARTTLS if how == "starttls" else mailwire.MODE_CHANNEL
    port = env.port("SMTP_PORT" if how == "starttls" else "SMTPS_PORT")
    c = mailwire.SMTPClient(server="127.0.0.1", port=port, timeout=5,
                            ssl=mailwire.SSLInfo(mode, ca_file=env["OTHER_CA_FILE"]),
                            user=env["USER"], password=env["PASS"])
    with pytest.raises(mailwire.CertificateError) as ei:
        c.connect()
    assert ei.value.number == mailwire.eexSSLCertificate
    assert ei.value.verify_result != 0
    # An OpenSSL code, labelled as one (not "os error 167772294"), and no
    # errno made of it.
    assert ei.value.os_error_text.startswith("OpenSSL error 0A000086 (")
    assert "certificate verify failed" in str(ei.value)
    assert ei.value.errno is None


def test_certificate_name_mismatch_and_the_option_that_allows_it(env):
    ssl = ssl_info(env, mailwire.MODE_CHANNEL, server_name="not-this-host.test")
    c = mailwire.POP3Client(server="127.0.0.1", port=env.port("POP3S_PORT"),
                            timeout=5, ssl=ssl)
    with pytest.raises(mailwire.CertificateNameError) as ei:
        c.connect()
    assert ei.value.number == mailwire.eexSSLCertName
    ssl.option[mailwire.SSLNoServerNameCheck] = True
    c.connect()
    assert c.is_secure
    c.quit()


def test_no_certificate_validation_option(env):
    ssl = mailwire.SSLInfo(mailwire.MODE_CHANNEL, ca_file=env["OTHER_CA_FILE"])
    ssl.option[mailwire.SSLNoServerCertificateValidation] = True
    with mailwire.SMTPClient(server="127.0.0.1", port=env.port("SMTPS_PORT"),
                             timeout=5, ssl=ssl) as c:
        assert c.is_secure


def test_starttls_unavailable(env):
    c = mailwire.SMTPClient(server="127.0.0.1", port=env.port("SMTP_NOTLS_PORT"),
                            timeout=5, ssl=ssl_info(env, mailwire.MODE_STARTTLS),
                            user=env["USER"], password=env["PASS"])
    with pytest.raises(mailwire.TLSError) as ei:
        c.connect()
    assert ei.value.number == mailwire.eexSSLStartTLSUnavailable
    assert not c.is_connected


def test_sslinfo_frozen_while_connected(env):
    ssl = ssl_info(env, mailwire.MODE_CHANNEL)
    with mailwire.SMTPClient(server="127.0.0.1", port=env.port("SMTPS_PORT"),
                             timeout=5, ssl=ssl):
        with pytest.raises(mailwire.StateError) as ei:
            ssl.option[mailwire.SSLNoServerNameCheck] = True
        assert ei.value.number == mailwire.eexSSLConnected


def test_logging_bridge_with_real_server(env, caplog):
    with caplog.at_level(logging.DEBUG, logger="mailwire"):
        with smtp(env, "starttls", user=env["USER"], password=env["PASS"],
                  log_handler=logging.getLogger("mailwire")):
            pass
    names = {r.name for r in caplog.records}
    assert "mailwire.protocol" in names and "mailwire.ssl" in names
    assert any("EHLO" in r.getMessage() for r in caplog.records)
    assert not any(env["PASS"] in r.getMessage() for r in caplog.records)


# ---- threads ----

def test_8_threads_send_and_retrieve_at_once(env):
    marks = [marker("thread%d" % i) for i in range(8)]
    errors, retrieved = [], {}
    barrier = threading.Barrier(8, timeout=30)

    def worker(i):
        try:
            to, data = message(env, "USER2", marks[i], ("line %d\r\n" % i) * 200)
            barrier.wait()
            with smtp(env, "starttls", user=env["USER"], password=env["PASS"]) as c:
                c.send(to, [to], data)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                with pop3(env, "channel", "USER2", "PASS2") as p:
                    n = find(p, marks[i])
                    if n is not None:
                        retrieved[i] = p.retr(n)
                        return
                time.sleep(0.2)
            errors.append("thread %d: message never arrived" % i)
        except Exception as e:  # reported below
            errors.append("thread %d: %r" % (i, e))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads)
    assert not errors, errors
    for i in range(8):
        assert marks[i].encode() in retrieved[i]
        assert retrieved[i].count(b"line %d\r\n" % i) == 200
