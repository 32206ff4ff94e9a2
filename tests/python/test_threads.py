"""Threads and fork (issue #14), against the real Postfix and Dovecot.

Threads share SSLInfos and one callable LogHandler: every message reaches the
callable on the thread of the client that logged it (the counts are exact),
and each client's tls_option describes its own connection. Across fork()
(multiprocessing's fork start method, as Celery's prefork pool uses): a
client made before the fork is refused in the child with eexForked, closing
it there leaves the parent's connection working, and an SSLInfo inherited by
the child works for new clients there."""

import collections
import logging
import multiprocessing
import threading

import pytest

import mailwire

THREADS = 8
SESSIONS_PER_THREAD = 10


def shared_ssl(env, mode, version):
    ssl = mailwire.SSLInfo(mode, ca_file=env["CA_FILE"])
    ssl.option[mailwire.SSLConnectionProtocolIn] = [version]
    return ssl


VERSION_NAME = {mailwire.SSL_TLS1_2: "TLSv1.2", mailwire.SSL_TLS1_3: "TLSv1.3"}


def make_log(how, sink):
    """A LogHandler calling sink(message): a callable, or the bridge to the
    logging module (a handler on a private logger)."""
    if how == "callable":
        return mailwire.LogHandler(lambda severity, facility, m: sink(m))

    class Sink(logging.Handler):
        def emit(self, record):
            sink(record.getMessage())

    logger = logging.getLogger("mailwire-test-threads")
    logger.handlers[:] = [Sink()]
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    return mailwire.LoggingHandler(logger)


@pytest.mark.parametrize("how", ["callable", "logging"])
def test_threads_share_sslinfo_and_loghandler(env, how):
    # Two SSLInfos, each shared by SMTP and POP3 clients on every thread.
    profiles = [
        (shared_ssl(env, mailwire.MODE_STARTTLS, mailwire.SSL_TLS1_2),
         mailwire.SSL_TLS1_2, env.port("SMTP_PORT"), env.port("POP3_PORT")),
        (shared_ssl(env, mailwire.MODE_CHANNEL, mailwire.SSL_TLS1_3),
         mailwire.SSL_TLS1_3, env.port("SMTPS_PORT"), env.port("POP3S_PORT")),
    ]
    seen = collections.Counter()  # (thread ident, what) -> messages

    def on_message(message):
        # Only this thread's keys change here: no update can be lost.
        ident = threading.get_ident()
        seen[ident, "all"] += 1
        if message.startswith("TLS established"):
            seen[ident, "established"] += 1
        if message in ("C: QUIT", "C: STAT"):
            seen[ident, message] += 1

    log = make_log(how, on_message)
    done = {}
    failures = []

    def one_session(i):
        ssl, version, smtp_port, pop3_port = profiles[i % 2]
        if i % 4 < 2:
            client = mailwire.SMTPClient(server="localhost", port=smtp_port,
                                         ssl=ssl, log_handler=log, timeout=20)
        else:
            client = mailwire.POP3Client(server="localhost", port=pop3_port,
                                         ssl=ssl, log_handler=log, timeout=20,
                                         user=env["USER"], password=env["PASS"])
        try:
            client.connect()
            # This connection's own results, whatever the other threads do.
            assert client.tls_option[mailwire.SSLConnectionProtocolOut] == version
            assert (client.tls_option[mailwire.SSLConnectionProtocolName]
                    == VERSION_NAME[version])
            assert "localhost" in client.tls_option[mailwire.SSLPeerSubject]
            # The SSLInfo's view: the latest handshake made with it.
            assert ssl.option[mailwire.SSLConnectionProtocolName] == VERSION_NAME[version]
            with pytest.raises(mailwire.StateError) as ei:
                ssl.option[mailwire.SSLNoServerNameCheck] = False
            assert ei.value.number == mailwire.eexSSLConnected
            if isinstance(client, mailwire.POP3Client):
                client.stat()
            else:
                client.noop()
            client.quit()
        finally:
            client.close()

    def worker(t):
        ident = threading.get_ident()
        try:
            for i in range(SESSIONS_PER_THREAD):
                one_session(t + i)
            done[ident] = SESSIONS_PER_THREAD
        except Exception as e:  # reported below, with the thread's number
            failures.append((t, repr(e)))

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(THREADS)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert failures == []
    assert len(done) == THREADS
    for ident, sessions in done.items():
        # Each session's messages came on its own thread, none lost.
        assert seen[ident, "established"] == sessions
        assert seen[ident, "C: QUIT"] == sessions
    assert sum(seen[i, "C: STAT"] for i in done) == sum(
        1 for t in range(THREADS) for i in range(SESSIONS_PER_THREAD)
        if (t + i) % 4 >= 2)
    assert sum(n for (i, what), n in seen.items() if what == "all") > 0


# ---- fork ----

def _fork_context():
    return multiprocessing.get_context("fork")


def _child_uses_inherited(client, ssl, env, kind, results):
    """In the child: the inherited client is refused; the inherited SSLInfo
    works for a new client."""
    out = {}
    try:
        client.noop()
        out["noop"] = "no error"
    except mailwire.Error as e:
        out["noop"] = (type(e).__name__, e.number)
    out["is_connected"] = client.is_connected
    client.close()  # must not write to the parent's connection
    # Not frozen by the parent's connected client.
    ssl.option[mailwire.SSLNoServerNameCheck] = False
    if kind == "smtp":
        fresh = mailwire.SMTPClient(server="localhost", port=env.port("SMTP_PORT"),
                                    ssl=ssl, timeout=20)
    else:
        fresh = mailwire.POP3Client(server="localhost", port=env.port("POP3S_PORT"),
                                    ssl=ssl, timeout=20, user=env["USER"],
                                    password=env["PASS"])
    fresh.connect()
    out["fresh_secure"] = fresh.is_secure
    fresh.quit()
    fresh.close()
    results.put(out)


@pytest.mark.parametrize("kind", ["smtp", "pop3"])
def test_fork_child_refuses_inherited_client_and_parent_goes_on(env, kind):
    if kind == "smtp":
        ssl = mailwire.SSLInfo(mailwire.MODE_STARTTLS, ca_file=env["CA_FILE"])
        client = mailwire.SMTPClient(server="localhost", port=env.port("SMTP_PORT"),
                                     ssl=ssl, timeout=20)
    else:
        ssl = mailwire.SSLInfo(mailwire.MODE_CHANNEL, ca_file=env["CA_FILE"])
        client = mailwire.POP3Client(server="localhost", port=env.port("POP3S_PORT"),
                                     ssl=ssl, timeout=20, user=env["USER"],
                                     password=env["PASS"])
    client.connect()
    ctx = _fork_context()
    results = ctx.Queue()
    child = ctx.Process(target=_child_uses_inherited,
                        args=(client, ssl, env, kind, results))
    child.start()
    out = results.get(timeout=60)
    child.join(60)
    assert child.exitcode == 0
    assert out == {"noop": ("StateError", mailwire.eexForked),
                   "is_connected": False, "fresh_secure": True}
    # Nothing went on the wire from the child: the session goes on.
    assert client.is_connected
    client.noop()
    if kind == "pop3":
        client.stat()
    client.quit()
    client.close()


# A prefork pool (Celery's model): workers forked from a parent that holds
# a connected client inherit the module-level SSLInfo and LogHandler and use
# them for clients of their own.
_INHERITED = {}


def _pool_task(i):
    ssl, log, messages, env = (_INHERITED[k] for k in ("ssl", "log", "messages", "env"))
    # The parent's connected client does not freeze the SSLInfo here.
    ssl.option[mailwire.SSLNoServerNameCheck] = False
    before = len(messages)
    c = mailwire.POP3Client(server="localhost", port=env.port("POP3S_PORT"),
                            ssl=ssl, log_handler=log, timeout=20,
                            user=env["USER"], password=env["PASS"])
    try:
        c.connect()
        c.stat()
        proto = c.tls_option[mailwire.SSLConnectionProtocolName]
        c.quit()
    finally:
        c.close()
    established = sum(1 for m in messages[before:] if m.startswith("TLS established"))
    return i, proto, established


def test_fork_prefork_pool_workers_share_inherited_handlers(env):
    messages = []
    ssl = mailwire.SSLInfo(mailwire.MODE_CHANNEL, ca_file=env["CA_FILE"])
    log = mailwire.LogHandler(lambda severity, facility, m: messages.append(m))
    _INHERITED.update(ssl=ssl, log=log, messages=messages, env=env)
    parent = mailwire.POP3Client(server="localhost", port=env.port("POP3S_PORT"),
                                 ssl=ssl, log_handler=log, timeout=20,
                                 user=env["USER"], password=env["PASS"])
    parent.connect()
    try:
        with _fork_context().Pool(2) as pool:
            results = pool.map(_pool_task, range(6))
        assert results == [(i, "TLSv1.3", 1) for i in range(6)]
        # Still frozen here: the parent's own client is connected ...
        with pytest.raises(mailwire.StateError) as ei:
            ssl.option[mailwire.SSLNoServerNameCheck] = False
        assert ei.value.number == mailwire.eexSSLConnected
        # ... and its session went on untouched by the workers.
        parent.stat()
        parent.quit()
    finally:
        parent.close()
        _INHERITED.clear()
    ssl.option[mailwire.SSLNoServerNameCheck] = False
