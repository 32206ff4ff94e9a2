"""Batches: SMTPClient.send_batch against the real Postfix (which offers
PIPELINING and CHUNKING on every listener), the POP3Client batch calls
against the real Dovecot (which offers PIPELINING), and the scripted server
for what must never reach the wire."""

import pytest

import mailwire
from conftest import marker, wait_delivery
from scripted import POP3_HELLO, SMTP_HELLO, ScriptedServer
from test_real import pop3, smtp

QUIT = [("C", "QUIT"), ("S", "221 bye")]


class Boom(Exception):
    pass


def client_lines(log):
    return [m for m in log if m.startswith("C: ")]


def body(env, user_key, mark, text):
    to = env.address(user_key)
    return ("From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\n\r\n%s\r\n..dot\r\n%s\r\n"
            % (to, to, mark, text, mark)).encode()


def batch_deliver(env, marks, user_key="USER2"):
    """Send one message per mark to user_key in one batch; wait for them."""
    to = env.address(user_key)
    with smtp(env, "starttls", user=env["USER"], password=env["PASS"]) as c:
        results = c.send_batch([(to, [to], body(env, user_key, m, "batch"))
                                for m in marks])
    assert [r.code for r in results] == [250] * len(marks)
    for m in marks:
        assert wait_delivery(env, user_key, m) is not None, "not delivered"


def numbers_of(p, marks):
    """Message numbers of the marked messages, in the order of marks."""
    found = {}
    for msg in p:
        head = p.top(msg.number, 0)
        for m in marks:
            if m.encode() in head:
                found[m] = msg.number
    assert set(found) == set(marks), "messages not in the mailbox"
    return [found[m] for m in marks]


# ---- SMTP: real Postfix ----

@pytest.mark.parametrize("chunking", [True, False])
def test_send_batch_of_three_with_several_recipients_is_delivered(env, chunking):
    marks = [marker("batch%d" % i) for i in range(3)]
    to = [env.address("USER"), env.address("USER2")]
    log = []
    with smtp(env, "starttls", user=env["USER"], password=env["PASS"],
              chunking=chunking, log_handler=lambda s, f, m: log.append(m)) as c:
        assert c.pipelining and c.chunking == chunking
        assert c.has_extension("PIPELINING") and c.has_extension("CHUNKING")
        del log[:]
        msgs = [(to[0], to, body(env, "USER", marks[0], "tuple")),
                {"from": to[0], "to": to, "data": body(env, "USER", marks[1], "dict").decode()},
                {"from_addr": to[1], "to_addrs": to,
                 "message": iter([body(env, "USER", marks[2], "iterable")])}]
        results = c.send_batch(msgs)
        assert c.batch_results == results
        sent = client_lines(log)
        first_reply = min(i for i, m in enumerate(log) if m.startswith("S: "))
    assert len(results) == 3
    for r in results:
        assert r.code == 250 and r.enhanced_status == "2.0.0" and r.ok
        assert [x.address for x in r.recipients] == to
        assert [(x.code, x.enhanced_status) for x in r.recipients] == [(250, "2.1.5")] * 2
    assert sum(line.startswith("C: BDAT ") for line in sent) == (3 if chunking else 0)
    assert sum(line == "C: DATA" for line in sent) == (0 if chunking else 3)
    # Pipelined: MAIL and every RCPT of the first message go before a reply.
    assert sent[0].startswith("C: MAIL FROM:<%s>" % to[0])
    assert sent[1:3] == ["C: RCPT TO:<%s>" % to[0], "C: RCPT TO:<%s>" % to[1]]
    assert log.index(sent[2]) < first_reply
    for user_key in ("USER", "USER2"):
        for m, what in zip(marks, ("tuple", "dict", "iterable")):
            got = wait_delivery(env, user_key, m)
            assert got is not None, (user_key, m)
            assert b"\n" + what.encode() + b"\n..dot\n" in got.replace(b"\r\n", b"\n")


def test_send_batch_with_a_refused_recipient_reports_exact_results(env):
    marks = [marker("batchref%d" % i) for i in range(3)]
    good, good2 = env.address("USER"), env.address("USER2")
    unknown = "no-such-user-%s@%s" % (marks[0][-6:], env["MAIL_DOMAIN"])
    with smtp(env, "starttls", user=env["USER"], password=env["PASS"]) as c:
        with pytest.raises(mailwire.ServerError) as ei:
            c.send_batch([(good, [good2], body(env, "USER2", marks[0], "one")),
                          (good, [unknown, good2], body(env, "USER2", marks[1], "two")),
                          (good, [unknown], body(env, "USER2", marks[2], "three"))])
        e = ei.value
        # The first refusal is the error: the unknown recipient of message 2.
        assert e.number == mailwire.eexSmtpServer and e.code == mailwire.errServer
        assert e.reply_code == 550 and e.enhanced_status == "5.1.1"
        assert "message 2" in e.text and unknown in e.text
        r = e.results
        assert c.batch_results == r and len(r) == 3
        assert r[0].ok and r[0].code == 250
        assert [(x.address, x.code, x.enhanced_status) for x in r[0].recipients] == \
            [(good2, 250, "2.1.5")]
        # Message 2 went to the accepted recipient only.
        assert r[1].code == 250 and not r[1].ok
        assert [(x.address, x.code, x.enhanced_status) for x in r[1].recipients] == \
            [(unknown, 550, "5.1.1"), (good2, 250, "2.1.5")]
        assert "User unknown" in r[1].recipients[0].text
        assert r[1].recipients[0].text.startswith("5.1.1 <%s>" % unknown)
        # Message 3 had no valid recipient: its body was refused.
        assert (r[2].code, r[2].enhanced_status) == (554, "5.5.1")
        assert r[2].text == "5.5.1 Error: no valid recipients"
        assert [(x.code, x.enhanced_status) for x in r[2].recipients] == [(550, "5.1.1")]
        # The connection is still usable.
        assert c.is_connected
        assert c.send_batch([(good, good2, body(env, "USER2", marker("after"), "x"))])[0].ok
    assert wait_delivery(env, "USER2", marks[0]) is not None
    assert wait_delivery(env, "USER2", marks[1]) is not None
    assert wait_delivery(env, "USER2", marks[2], timeout=3) is None


def test_send_batch_of_email_messages_and_files(env, tmp_path):
    import email.message
    mark, mark2 = marker("batchmsg"), marker("batchfile")
    msg = email.message.EmailMessage()
    msg["From"] = env.address("USER")
    msg["To"] = env.address("USER2")
    msg["Bcc"] = env.address("USER")
    msg["Subject"] = mark
    msg.set_content("from an EmailMessage\n")
    path = tmp_path / "m.eml"
    path.write_bytes(body(env, "USER2", mark2, "from a file"))
    with smtp(env, "channel", user=env["USER"], password=env["PASS"]) as c, \
            open(path, "rb") as f:
        results = c.send_batch([msg, (env.address("USER"), env.address("USER2"), f)])
    assert [x.address for x in results[0].recipients] == [env.address("USER2"),
                                                          env.address("USER")]
    got = wait_delivery(env, "USER2", mark)
    assert got is not None and b"Bcc" not in got
    assert wait_delivery(env, "USER", mark) is not None
    assert b"from a file" in wait_delivery(env, "USER2", mark2)


# ---- POP3: real Dovecot ----

def test_pop3_batches_match_the_single_calls_byte_for_byte(env):
    marks = [marker("retrb%d" % i) for i in range(4)]
    batch_deliver(env, marks)
    log = []
    with pop3(env, "channel", "USER2", "PASS2",
              log_handler=lambda s, f, m: log.append(m)) as p:
        assert p.has_capability("PIPELINING") and p.pipelining
        nums = numbers_of(p, marks)
        nums = nums + [nums[0]]  # the same message twice is fine
        single = [p.retr(n) for n in nums]
        del log[:]
        assert p.retr_batch(nums) == single
        sent = client_lines(log)
        assert sent == ["C: RETR %d" % n for n in nums]
        # Pipelined: all commands before the first reply.
        assert log.index(sent[-1]) < min(i for i, m in enumerate(log) if m.startswith("S: "))
        assert [r.ok for r in p.batch_results] == [True] * len(nums)
        assert [r.number for r in p.batch_results] == nums
        assert p.top_batch(nums, 0) == [p.top(n, 0) for n in nums]
        assert p.top_batch(nums, 1) == [p.top(n, 1) for n in nums]
        assert p.list_batch(nums) == [p.list(n) for n in nums]
        assert p.uidl_batch(nums) == [p.uidl(n) for n in nums]
        streamed, ends = {}, []

        def into(number, chunk):
            if chunk is None:
                ends.append(number)
            else:
                streamed.setdefault(number, []).append(chunk)
        assert p.retr_batch(nums[:-1], into=into) is None
        assert ends == nums[:-1]
        assert [b"".join(streamed[n]) for n in nums[:-1]] == single[:-1]
        assert [r.value for r in p.batch_results] == [None] * (len(nums) - 1)
        # One command at a time when pipelining is off.
        p.pipelining = False
        del log[:]
        assert p.retr_batch(nums[:2]) == single[:2]
        kinds = [m[:2] for m in log if m[:3] in ("C: ", "S: ")]
        assert kinds[:3] == ["C:", "S:", "S:"]


def test_pop3_err_inside_a_batch_is_reported_per_message(env):
    marks = [marker("errb%d" % i) for i in range(2)]
    batch_deliver(env, marks)
    with pop3(env, "starttls", "USER2", "PASS2") as p:
        a, b = numbers_of(p, marks)
        missing = p.stat()[0] + 1000
        expected = [p.retr(a), p.retr(b)]
        with pytest.raises(mailwire.ServerError) as ei:
            p.retr_batch([a, missing, b])
        e = ei.value
        assert e.number == mailwire.eexPopServer and e.code == mailwire.errServer
        assert e.reply_code == 0 and str(missing) in e.server_text
        r = e.results
        assert [(x.number, x.status) for x in r] == \
            [(a, mailwire.MW_OK), (missing, mailwire.errServer), (b, mailwire.MW_OK)]
        assert [r[0].value, r[2].value] == expected and r[1].value is None
        assert str(missing) in r[1].text and not r[1].ok
        with pytest.raises(mailwire.ServerError) as ei:
            p.list_batch([missing, a])
        assert [x.value for x in ei.value.results] == [None, len(expected[0])]
        with pytest.raises(mailwire.ServerError) as ei:
            p.uidl_batch([missing])
        assert ei.value.results[0].status == mailwire.errServer
        assert p.is_connected
        p.noop()


def test_pop3_dele_batch_then_quit_deletes(env):
    marks = [marker("deleb%d" % i) for i in range(3)]
    batch_deliver(env, marks)
    with pop3(env, "channel", "USER2", "PASS2") as p:
        count = p.stat()[0]
        nums = numbers_of(p, marks)
        missing = count + 1000
        with pytest.raises(mailwire.ServerError) as ei:
            p.dele_batch(nums[:2] + [missing])
        assert [x.status for x in ei.value.results] == \
            [mailwire.MW_OK, mailwire.MW_OK, mailwire.errServer]
        p.dele_batch(nums[2:])
        assert p.batch_results[0].ok
        p.quit()
    with pop3(env, "channel", "USER2", "PASS2") as p:
        assert p.stat()[0] == count - 3
        for msg in p:
            head = p.top(msg.number, 0)
            assert not any(m.encode() in head for m in marks)


def test_pop3_callback_raising_mid_batch_aborts_cleanly(env):
    marks = [marker("boomb%d" % i) for i in range(3)]
    batch_deliver(env, marks)
    p = pop3(env, "plain", "USER2", "PASS2").connect()
    nums = numbers_of(p, marks)
    seen = []

    def into(number, chunk):
        if number == nums[1]:
            raise Boom(number)
        seen.append((number, chunk))
    with pytest.raises(Boom):
        p.retr_batch(nums, into=into)
    assert not p.is_connected  # the batch ended and closed the connection
    assert seen[-1] == (nums[0], None)
    assert [x.status for x in p.batch_results] == \
        [mailwire.MW_OK, mailwire.errAborted, mailwire.errNotConnected]
    # Nothing was deleted or lost, and the client connects again.
    p.connect()
    assert p.retr_batch(nums)[1] == p.retr(nums[1])
    p.quit()
    p.close()


def test_pop3_retr_batch_honours_max_message_size(env):
    mark = marker("bigb")
    batch_deliver(env, [mark])
    with pop3(env, "plain", "USER2", "PASS2") as p:
        n = numbers_of(p, [mark])[0]
        size = p.list(n)
        p.max_message_size = size - 1
        with pytest.raises(mailwire.Error) as ei:
            p.retr_batch([n])
        assert ei.value.number == mailwire.eexMessageTooLarge
        assert [x.status for x in ei.value.results] == [mailwire.errAborted]
        assert not p.is_connected


# ---- scripted: nothing goes on the wire ----

def lines_sent(server):
    return bytes(server.received).decode("utf-8", "replace").split("\r\n")[:-1]


BAD = ["a\0@example.org", "a\r@example.org", "a\n@example.org",
       "a@example.org>\r\nRCPT TO:<evil@example.org", "a@example.org\nDATA"]


def test_bad_addresses_inside_a_batch_send_nothing():
    srv = ScriptedServer(SMTP_HELLO + QUIT)
    c = mailwire.SMTPClient(server="127.0.0.1", port=srv.port, timeout=5,
                            helo_name="pytest.test").connect()
    good = ("a@example.org", ["b@example.org"], b"Subject: x\r\n\r\nbody\r\n")
    for bad in BAD:
        for msg in ((bad, ["b@example.org"], b"x"), ("a@example.org", [bad], b"x"),
                    ("a@example.org", ["b@example.org", bad], b"x")):
            with pytest.raises(mailwire.InvalidArgumentError) as ei:
                c.send_batch([good, good, msg])
            assert ei.value.number == mailwire.eexInvalidArgument
            assert ei.value.code == mailwire.errInvalidArgument
            assert ei.value.results == [] and c.batch_results == []
    for wrong in ("not a list", [("a@example.org", ["b@example.org"])],
                  [{"from": "a@example.org", "data": b"x"}],
                  [{"from": "a@example.org", "to": [], "data": b"x", "cc": []}],
                  [("a@example.org", ["b@example.org"], 42)]):
        with pytest.raises(TypeError):
            c.send_batch(wrong)
    assert c.is_connected
    c.quit()
    assert srv.wait() is None
    sent = lines_sent(srv)
    assert len(sent) == 2 and sent[0].startswith("EHLO ") and sent[1] == "QUIT"


def test_bad_message_numbers_inside_a_batch_send_nothing():
    srv = ScriptedServer(POP3_HELLO + [("C", "QUIT"), ("S", "+OK bye")])
    p = mailwire.POP3Client(server="127.0.0.1", port=srv.port, timeout=5).connect()
    for call in (lambda: p.retr_batch([1, 0]), lambda: p.dele_batch([2, -1]),
                 lambda: p.top_batch([0], 0), lambda: p.list_batch([3, 0]),
                 lambda: p.uidl_batch([-5])):
        with pytest.raises(mailwire.InvalidArgumentError) as ei:
            call()
        assert ei.value.number == mailwire.eexInvalidArgument
        assert ei.value.results == []
    with pytest.raises(TypeError):
        p.retr_batch([1], into="not callable")
    with pytest.raises(TypeError):
        p.dele_batch("12")
    p.quit()
    assert srv.wait() is None
    assert lines_sent(srv) == ["CAPA", "QUIT"]


def test_smtp_batch_goes_in_one_flight_and_keeps_partial_results():
    hello = [("S", "220 scripted.test ESMTP"), ("C", "EHLO *"),
             ("S", "250-scripted.test"), ("S", "250-PIPELINING"),
             ("S", "250 CHUNKING")]
    # The server reads the whole batch before it answers anything: a client
    # that waited for a reply would time out here.
    srv = ScriptedServer(hello + [("C", "MAIL FROM:<a@example.org>"),
                                  ("C", "RCPT TO:<r1@example.org>"),
                                  ("C", "BDAT 4 LAST"), ("C", "m1"),
                                  ("C", "MAIL FROM:<a@example.org>"),
                                  ("C", "RCPT TO:<r2@example.org>"),
                                  ("C", "BDAT 4 LAST"), ("C", "m2"),
                                  ("S", "250 2.1.0 ok"), ("S", "250 2.1.5 ok"),
                                  ("S", "250 2.0.0 q1"),
                                  ("S", "250 2.1.0 ok"), ("S", "550 5.1.1 r2 unknown"),
                                  ("S", "554 5.5.1 no valid recipients")] + QUIT)
    c = mailwire.SMTPClient(server="127.0.0.1", port=srv.port, timeout=5,
                            helo_name="pytest.test").connect()
    with pytest.raises(mailwire.ServerError) as ei:
        c.send_batch([("a@example.org", ["r1@example.org"], b"m1\r\n"),
                      ("a@example.org", ["r2@example.org"], b"m2\r\n")])
    # Message 2 itself was refused: that is the error.
    assert ei.value.reply_code == 554 and ei.value.enhanced_status == "5.5.1"
    r = ei.value.results
    assert (r[0].code, r[0].text, r[0].ok) == (250, "2.0.0 q1", True)
    assert (r[1].code, r[1].enhanced_status, r[1].ok) == (554, "5.5.1", False)
    assert [(x.address, x.code, x.enhanced_status, x.text) for x in r[1].recipients] == \
        [("r2@example.org", 550, "5.1.1", "5.1.1 r2 unknown")]
    c.quit()
    assert srv.wait() is None


def test_pop3_batch_goes_in_one_flight():
    hello = [("S", "+OK scripted POP3 ready"), ("C", "CAPA"), ("S", "+OK"),
             ("S", "USER"), ("S", "PIPELINING"), ("S", ".")]
    srv = ScriptedServer(hello + [("C", "DELE 1"), ("C", "DELE 2"), ("C", "DELE 3"),
                                  ("S", "+OK marked"), ("S", "-ERR no such message"),
                                  ("S", "+OK marked")]
                         + [("C", "QUIT"), ("S", "+OK bye")])
    p = mailwire.POP3Client(server="127.0.0.1", port=srv.port, timeout=5).connect()
    with pytest.raises(mailwire.ServerError) as ei:
        p.dele_batch([1, 2, 3])
    assert [(x.number, x.status, x.text) for x in ei.value.results] == \
        [(1, mailwire.MW_OK, "marked"), (2, mailwire.errServer, "no such message"),
         (3, mailwire.MW_OK, "marked")]
    p.quit()
    assert srv.wait() is None
