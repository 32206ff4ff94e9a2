"""Against a scripted server (tests/python/scripted.py): argument refusal
before anything is sent, callbacks that raise, dropped objects, timeouts,
the GIL during network waits, and the errors real servers never cause."""

import gc
import io
import threading
import time

import pytest

import mailwire
from scripted import POP3_HELLO, SMTP_HELLO, ScriptedServer

QUIT = [("C", "QUIT"), ("S", "221 bye")]


def smtp_for(server, **kw):
    kw.setdefault("timeout", 5)
    return mailwire.SMTPClient(server="127.0.0.1", port=server.port,
                               helo_name="pytest.test", **kw)


def pop3_for(server, **kw):
    kw.setdefault("timeout", 5)
    return mailwire.POP3Client(server="127.0.0.1", port=server.port, **kw)


def lines_sent(server):
    return bytes(server.received).decode("utf-8", "replace").split("\r\n")[:-1]


# ---- NUL, CR, LF refused before anything is sent ----

BAD = ["a\0@example.org", "a\r@example.org", "a\n@example.org",
       "a@example.org>\r\nRCPT TO:<evil@example.org", "a@example.org\nDATA"]


def test_control_characters_in_addresses_send_nothing():
    srv = ScriptedServer(SMTP_HELLO + QUIT)
    c = smtp_for(srv).connect()
    for bad in BAD:
        for args in ((bad, ["b@example.org"]), ("a@example.org", [bad]),
                     ("a@example.org", ["b@example.org", bad])):
            with pytest.raises(mailwire.InvalidArgumentError) as ei:
                c.send(args[0], args[1], b"Subject: x\r\n\r\nbody\r\n")
            assert ei.value.number == mailwire.eexInvalidArgument
            assert ei.value.code == mailwire.errInvalidArgument
    assert c.is_connected
    c.quit()
    assert srv.wait() is None
    sent = lines_sent(srv)
    assert len(sent) == 2 and sent[0].startswith("EHLO ") and sent[1] == "QUIT"


@pytest.mark.parametrize("user, password", [("us\r\nMAIL FROM:<x>", "pw"),
                                            ("user", "pw\nRSET"), ("us\0er", "pw")])
def test_control_characters_in_credentials_send_nothing(user, password):
    srv = ScriptedServer(SMTP_HELLO + [("EXPECT_CLOSE",)], timeout=3)
    c = smtp_for(srv, allow_plaintext_auth=True)
    with pytest.raises(mailwire.InvalidArgumentError) as ei:
        refused_early = True
        c.set_credentials(user, password)  # refused here, or at connect
        refused_early = False
        c.connect()
    assert ei.value.number == mailwire.eexInvalidArgument
    c.close()
    srv.stop() if refused_early else srv.wait()
    assert b"AUTH" not in srv.received and b"MAIL" not in srv.received
    assert b"RSET" not in srv.received


@pytest.mark.parametrize("user, password", [("us\r\nDELE 1", "pw"),
                                            ("user", "pw\nDELE 1"), ("us\0er", "pw")])
def test_control_characters_in_pop3_credentials_send_nothing(user, password):
    srv = ScriptedServer(POP3_HELLO + [("EXPECT_CLOSE",)], timeout=3)
    c = pop3_for(srv, allow_plaintext_auth=True)
    with pytest.raises(mailwire.InvalidArgumentError) as ei:
        refused_early = True
        c.set_credentials(user, password)  # refused here, or at connect
        refused_early = False
        c.connect()
    assert ei.value.number == mailwire.eexInvalidArgument
    c.close()
    srv.stop() if refused_early else srv.wait()
    assert b"USER" not in srv.received and b"DELE" not in srv.received
    assert b"AUTH" not in srv.received and b"PASS" not in srv.received


# ---- callbacks that raise ----

class Boom(Exception):
    pass


def test_log_handler_raising_aborts_connect_and_reaches_caller():
    srv = ScriptedServer([("S", "220 scripted.test ESMTP"), ("EXPECT_CLOSE",)])

    def handler(severity, facility, message):
        raise Boom(message)

    c = smtp_for(srv, log_handler=handler)
    with pytest.raises(Boom):
        c.connect()
    assert not c.is_connected
    assert srv.wait() is None and srv.client_closed
    assert b"MAIL" not in srv.received
    c.close()


def test_log_handler_raising_during_noop():
    # NOOP may or may not have been sent when the cancel is seen.
    srv = ScriptedServer(SMTP_HELLO + [("EXPECT_CLOSE",)])

    class Picky(mailwire.LogHandler):
        def on_log_message(self, severity, facility, message):
            if "NOOP" in message:
                raise Boom(message)

    c = smtp_for(srv)
    c.set_advanced_handler(Picky())
    c.connect()
    with pytest.raises(Boom):
        c.noop()
    assert not c.is_connected
    c.close()
    assert srv.wait() is None


DATA_ACCEPTED = [("C", "MAIL FROM:<a@example.org>*"), ("S", "250 ok"),
                 ("C", "RCPT TO:<b@example.org>*"), ("S", "250 ok"),
                 ("C", "DATA"), ("S", "354 go ahead")]


def test_reader_raising_aborts_without_completing_the_mail():
    srv = ScriptedServer(SMTP_HELLO + DATA_ACCEPTED + [("EXPECT_CLOSE",)])
    c = smtp_for(srv).connect()

    def chunks():
        yield b"Subject: x\r\n\r\nfirst line\r\n"
        raise Boom("disk error")

    with pytest.raises(Boom, match="disk error"):
        c.send("a@example.org", ["b@example.org"], chunks())
    assert not c.is_connected
    assert srv.wait() is None
    assert not bytes(srv.received).endswith(b"\r\n.\r\n")
    c.close()


def test_reader_returning_wrong_type_is_a_type_error():
    srv = ScriptedServer(SMTP_HELLO + DATA_ACCEPTED + [("EXPECT_CLOSE",)])
    c = smtp_for(srv).connect()
    with pytest.raises(TypeError):
        c.send("a@example.org", ["b@example.org"], lambda n: 42)
    c.close()
    srv.wait()
    assert not bytes(srv.received).endswith(b"\r\n.\r\n")


@pytest.mark.parametrize("kind", ["bytes", "str", "binary file", "text file",
                                  "iterable", "callable", "message"])
def test_message_sources_are_normalised_and_stuffed(kind):
    body = "Subject: x\r\n\r\n.leading dot\nbare lf\r\nend"
    srv = ScriptedServer(SMTP_HELLO + DATA_ACCEPTED + [("DATA",), ("S", "250 queued")]
                         + QUIT)
    if kind == "bytes":
        msg = body.encode()
    elif kind == "str":
        msg = body
    elif kind == "binary file":
        msg = io.BytesIO(body.encode())
    elif kind == "text file":
        msg = io.StringIO(body)
    elif kind == "iterable":
        data = body.encode()
        msg = iter([data[:5], data[5:17], data[17:]])
    elif kind == "callable":
        stream = io.BytesIO(body.encode())
        msg = stream.read
    else:
        import email.message
        msg = email.message.EmailMessage()
        msg["Subject"] = "x"
        msg.set_content(".leading dot\nbare lf\nend\n")
    with smtp_for(srv) as c:
        results = c.send("a@example.org", "b@example.org", msg)
        assert [(r.address, r.code) for r in results] == [("b@example.org", 250)]
        assert c.last_reply_code == 250
    assert srv.wait() is None
    data = bytes(srv.received)
    start = data.index(b"DATA\r\n") + 6
    sent = data[start:data.index(b"\r\n.\r\n", start) + 5]
    assert b"\r\n..leading dot\r\n" in sent
    assert b"\nbare lf\r\n" in sent and b"\rbare" not in sent
    assert b"\n" not in sent.replace(b"\r\n", b"")


def test_writer_raising_aborts_retrieval_and_reaches_caller():
    body = [("S", "line %d" % i) for i in range(50)]
    srv = ScriptedServer(POP3_HELLO + [("C", "RETR 1"), ("S", "+OK 500 octets")]
                         + body + [("S", "."), ("EXPECT_CLOSE",)])
    c = pop3_for(srv).connect()

    def sink(chunk):
        raise Boom(len(chunk))

    with pytest.raises(Boom):
        c.retr(1, into=sink)
    c.close()
    assert srv.wait() is None


def test_retr_into_bytes_file_and_callable_unstuffs():
    lines = [("S", "Subject: y"), ("S", ""), ("S", "..dotted"), ("S", "plain"),
             ("S", ".")]
    script = list(POP3_HELLO)
    for _ in range(3):
        script += [("C", "RETR 2"), ("S", "+OK")] + lines
    srv = ScriptedServer(script + [("C", "QUIT"), ("S", "+OK bye")])
    expected = b"Subject: y\r\n\r\n.dotted\r\nplain\r\n"
    with pop3_for(srv) as c:
        assert c.retr(2) == expected
        f = io.BytesIO()
        assert c.retr(2, into=f) is None
        assert f.getvalue() == expected
        chunks = []
        c.retr(2, into=chunks.append)
        assert b"".join(chunks) == expected
    assert srv.wait() is None


# ---- errors real servers never cause ----

def test_timeout_is_mail_timeout_error():
    srv = ScriptedServer([("S", "220 slow"), ("C", "EHLO *"), ("SLEEP", 3)])
    c = smtp_for(srv, timeout=0.5)
    t0 = time.monotonic()
    with pytest.raises(TimeoutError) as ei:
        c.connect()
    assert time.monotonic() - t0 < 2.5
    assert isinstance(ei.value, mailwire.MailTimeoutError)
    assert ei.value.number == mailwire.eexTimeout
    assert ei.value.code == mailwire.errTimeout
    c.close()


def test_malformed_greeting_is_protocol_error():
    srv = ScriptedServer([("S", "hello, I am not SMTP"), ("EXPECT_CLOSE",)])
    with pytest.raises(mailwire.ProtocolError) as ei:
        smtp_for(srv).connect()
    assert ei.value.number == mailwire.eexMalformedReply
    srv.wait()


def test_server_closing_mid_reply_is_network_error():
    srv = ScriptedServer([("S", "220 x"), ("C", "EHLO *"), ("RAW", b"250-partial\r\n"),
                          ("CLOSE",)])
    with pytest.raises(ConnectionError) as ei:
        smtp_for(srv).connect()
    assert isinstance(ei.value, mailwire.NetworkError)
    assert ei.value.number == mailwire.eexServerClosed
    srv.wait()


def test_greeting_554_is_server_error_with_reply():
    srv = ScriptedServer([("S", "554 5.3.2 go away"), ("EXPECT_CLOSE",)])
    with pytest.raises(mailwire.ServerError) as ei:
        smtp_for(srv).connect()
    assert ei.value.number == mailwire.eexSmtpServer
    assert ei.value.reply_code == 554
    assert "go away" in ei.value.server_text
    srv.wait()


def test_recipient_refused_is_server_error_and_nothing_is_sent():
    srv = ScriptedServer(SMTP_HELLO + [
        ("C", "MAIL FROM:<a@example.org>*"), ("S", "250 ok"),
        ("C", "RCPT TO:<nobody@example.org>*"), ("S", "550 5.1.1 no such user"),
        ("C", "RSET"), ("S", "250 ok")] + QUIT)
    with smtp_for(srv) as c:
        with pytest.raises(mailwire.ServerError) as ei:
            c.send("a@example.org", ["nobody@example.org"], b"x\r\n")
        e = ei.value
        assert (e.number, e.reply_code, e.enhanced_status) == (mailwire.eexSmtpServer, 550, "5.1.1")
        assert "no such user" in e.server_text
        assert c.recipient_results[0].code == 550
    assert srv.wait() is None
    assert b"DATA" not in srv.received


def test_pop3_err_is_server_error():
    srv = ScriptedServer(POP3_HELLO + [("C", "DELE 9"), ("S", "-ERR no such message"),
                                       ("C", "QUIT"), ("S", "+OK")])
    with pop3_for(srv) as c:
        with pytest.raises(mailwire.ServerError) as ei:
            c.dele(9)
        assert ei.value.number == mailwire.eexPopServer
        assert ei.value.reply_code == 0  # POP3 has no reply codes
        assert "no such message" in ei.value.server_text
        assert "check the message number" in ei.value.text
    assert srv.wait() is None


def test_pop3_without_capa_messages_have_uids_from_uidl():
    """No CAPA: UIDL may still work (RFC 1939 servers); messages() tries it."""
    srv = ScriptedServer([("S", "+OK scripted POP3 ready"), ("C", "CAPA"),
                          ("S", "-ERR unknown command"),
                          ("C", "LIST"), ("S", "+OK"), ("S", "1 120"), ("S", "."),
                          ("C", "UIDL"), ("S", "+OK"), ("S", "1 uid-one"), ("S", "."),
                          ("C", "QUIT"), ("S", "+OK")])
    with pop3_for(srv) as c:
        assert [(m.number, m.size, m.uid) for m in c.messages()] == [(1, 120, "uid-one")]
    assert srv.wait() is None


def test_pop3_uidl_not_implemented_says_so():
    """No CAPA and UIDL refused: messages() has no uids, and uidl() says the
    command may not be implemented, not that its argument is wrong."""
    srv = ScriptedServer([("S", "+OK scripted POP3 ready"), ("C", "CAPA"),
                          ("S", "-ERR unknown command"),
                          ("C", "LIST"), ("S", "+OK"), ("S", "1 120"), ("S", "."),
                          ("C", "UIDL"), ("S", "-ERR unknown command"),
                          ("C", "UIDL"), ("S", "-ERR [SYS/PERM] unknown command"),
                          ("C", "QUIT"), ("S", "+OK")])
    with pop3_for(srv) as c:
        assert [(m.number, m.uid) for m in c.messages()] == [(1, None)]
        with pytest.raises(mailwire.ServerError) as ei:
            c.uidl()
        e = ei.value
        assert e.number == mailwire.eexPopServer and e.reply_code == 0
        assert e.enhanced_status == "SYS/PERM"
        assert "may not implement it" in e.text and "argument" not in e.text
    assert srv.wait() is None


@pytest.mark.parametrize("reply, number", [
    (None, "eexSSLStartTLSUnavailable"),
    ("454 4.7.0 TLS not available", "eexSSLStartTLSRefused"),
    ("220 go ahead\r\n250 injected", "eexSSLInjection"),
])
def test_starttls_failures_are_tls_errors_and_never_fall_back(reply, number):
    hello = [("S", "220 scripted.test ESMTP"), ("C", "EHLO *"), ("S", "250-scripted.test"),
             ("S", "250 STARTTLS" if reply else "250 8BITMIME")]
    after = [("C", "STARTTLS"), ("S", reply)] if reply else []
    srv = ScriptedServer(hello + after + [("EXPECT_CLOSE",)])
    c = smtp_for(srv, ssl=mailwire.MODE_STARTTLS, user="u", password="secret")
    with pytest.raises(mailwire.TLSError) as ei:
        c.connect()
    assert ei.value.number == getattr(mailwire, number)
    assert not c.is_connected
    c.close()
    srv.wait()
    assert b"AUTH" not in srv.received and b"secret" not in srv.received


# ---- lifetime ----

def test_dropped_client_closes_its_socket():
    srv = ScriptedServer(SMTP_HELLO + [("EXPECT_CLOSE",)])
    c = smtp_for(srv, log_handler=lambda *a: None).connect()
    assert c.is_connected
    del c
    gc.collect()
    assert srv.wait() is None and srv.client_closed


def test_dropped_client_in_a_reference_cycle_closes_its_socket():
    srv = ScriptedServer(POP3_HELLO + [("EXPECT_CLOSE",)])

    class Keeper(mailwire.LogHandler):
        pass

    c = pop3_for(srv)
    k = Keeper()
    k.client = c  # client -> handler -> client
    c.set_advanced_handler(k)
    c.connect()
    del c, k
    gc.collect()
    assert srv.wait() is None and srv.client_closed


def test_close_inside_a_callback_is_deferred():
    srv = ScriptedServer(SMTP_HELLO + [("EXPECT_CLOSE",)])
    c = smtp_for(srv)
    closing = []

    def handler(severity, facility, message):
        if "NOOP" in message and not closing:
            closing.append(1)
            c.close()

    c.set_advanced_handler(handler)
    c.connect()
    with pytest.raises(mailwire.Error):
        c.noop()
    with pytest.raises(mailwire.StateError):
        c.noop()
    assert srv.wait() is None and srv.client_closed


def test_gil_is_released_while_waiting_on_the_network():
    srv = ScriptedServer([("SLEEP", 1.0)] + SMTP_HELLO + QUIT)
    c = smtp_for(srv)
    t = threading.Thread(target=c.connect)
    t.start()
    time.sleep(0.2)  # the thread is now waiting for the greeting
    count, t0 = 0, time.monotonic()
    while time.monotonic() - t0 < 0.3:
        count += 1
    assert t.is_alive()  # still waiting, yet this thread ran
    assert count > 10000
    t.join(10)
    assert c.is_connected
    c.quit()
    c.close()
    assert srv.wait() is None


def test_close_from_another_thread_waits_for_the_call():
    srv = ScriptedServer([("SLEEP", 0.5), ("S", "220 scripted.test ESMTP"),
                          ("EXPECT_CLOSE",)])
    c = smtp_for(srv, timeout=2)
    errors = []

    def run():
        try:
            c.connect()
        except mailwire.Error as e:
            errors.append(e)

    t = threading.Thread(target=run)
    t.start()
    time.sleep(0.2)
    c.close()  # cancels, waits for connect to return, then frees
    t.join(10)
    assert not t.is_alive()
    assert errors and isinstance(errors[0], mailwire.AbortedError)
    assert srv.wait() is None and srv.client_closed


def test_objects_alive_at_interpreter_exit_are_closed_quietly():
    import subprocess
    import sys
    srv = ScriptedServer(SMTP_HELLO + [("EXPECT_CLOSE",)])
    code = """
import mailwire
class H(mailwire.LogHandler):
    def on_log_message(self, *a):
        pass
h = H()
client = mailwire.SMTPClient(server="127.0.0.1", port=%d, timeout=5,
                             ssl=None, log_handler=h)
h.client = client          # a cycle, collected (or not) at exit
client.connect()
ssl = mailwire.SSLInfo()   # module globals, torn down at exit
""" % srv.port
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert b"Exception ignored" not in proc.stderr, proc.stderr
    assert b"Traceback" not in proc.stderr, proc.stderr
    assert srv.wait() is None and srv.client_closed
