"""SMTPClient and POP3Client: Pythonic objects over the C clients.

Everything about the protocols happens in C; this layer converts arguments,
raises exceptions from the ErrorInfo, and manages the handle's lifetime.
"""

import builtins
import collections
import functools
import io
import sys
import threading

from . import _mailwire as _mw
from ._errors import Error, ErrorInfo, binding_error, describe, type_error
from ._handlers import (LoggingHandler, LogHandler, ProxyInfo, SSLInfo, _port,
                        _seconds, _text, _whole)

__all__ = ["SMTPClient", "POP3Client", "RecipientResult", "POP3Message",
           "SMTPBatchResult", "POP3BatchResult"]

RecipientResult = collections.namedtuple(
    "RecipientResult", "address code enhanced_status text")
RecipientResult.__doc__ = "The server's answer to one RCPT TO of the last send."


class SMTPBatchResult(collections.namedtuple(
        "SMTPBatchResult", "code enhanced_status text recipients")):
    """The outcome of one message of SMTPClient.send_batch.

    code: the final reply (250 = accepted; 0 = not acknowledged, never
    reported as sent; for a refused message its first refusal: MAIL, DATA
    or BDAT), with its enhanced_status and text ("" if none). recipients:
    a RecipientResult per recipient, in the order given (code 0 if not
    answered). The message went to the recipients the server accepted.
    """

    __slots__ = ()

    @property
    def ok(self):
        """Accepted, by every recipient."""
        return (self.code // 100 == 2
                and all(r.code // 100 == 2 for r in self.recipients))


def _as_log_handler(obj, what="set_advanced_handler"):
    if isinstance(obj, LogHandler):
        return obj
    if hasattr(obj, "log") and hasattr(obj, "getChild"):  # a logging.Logger
        return LoggingHandler(obj)
    if callable(obj):
        return LogHandler(obj)
    raise type_error("%s takes an SSLInfo, a ProxyInfo, a LogHandler or a "
                     "function(severity, facility, message) (or a "
                     "logging.Logger), not %s." % (what, describe(obj)))


class _TLSOptionReader:
    """``client.tls_option[i]``: this connection's SSLInfo outputs."""

    __slots__ = ("_client",)

    def __init__(self, client):
        self._client = client

    def __getitem__(self, index):
        return self._client._tls_option(index)


def _recording(fn):
    """Wrap a method so that a refusal of the binding's own checks (a wrong
    type, a closed client ...) reaches extended_error, as the library's
    refusals do."""
    @functools.wraps(fn)
    def method(self, *args, **kwargs):
        try:
            return fn(self, *args, **kwargs)
        except Error as e:
            if getattr(e, "_binding", False):
                self._binding_error = ErrorInfo.of(e)
            raise
    return method


def _records_binding_errors(cls):
    """Class decorator: _recording on every public method and setter."""
    for name, attr in list(vars(cls).items()):
        if name.startswith("_") and name not in ("__enter__", "__iter__",
                                                 "__len__"):
            continue
        if isinstance(attr, property) and attr.fset is not None:
            setattr(cls, name, property(attr.fget, _recording(attr.fset),
                                        attr.fdel, attr.__doc__))
        elif callable(attr) and not isinstance(attr, (staticmethod, type)):
            setattr(cls, name, _recording(attr))
    return cls


@_records_binding_errors
class _Client:
    """What both clients share: the handle, its lock, handlers, closing.

    One lock per client serialises calls made from several threads (the C
    handle is used by one thread at a time). close() from another thread
    cancels the running call first; close() from inside a callback of this
    client is deferred until the call returns.
    """

    # Bound at class creation, so closing works at interpreter shutdown.
    _c_new = _c_free = _c_cancel = _c_error = None
    _c_set_server = _c_set_timeout = _c_set_credentials = None
    _c_set_mechanism = _c_set_allow_plain = _c_set_handler = None
    _c_clear_handlers = _c_connect = _c_is_connected = _c_is_secure = None
    _c_quit = _c_disconnect = _c_noop = _c_rset = None
    _c_auth_used = _c_capabilities = None
    _c_tls_int = _c_tls_str = None
    _default_timeout = 30.0

    def __init__(self, server, port, timeout, ssl, user, password,
                 auth_mechanism, allow_plaintext_auth, log_handler,
                 proxy=None):
        self._binding_error = None
        self._lock = threading.RLock()
        self._depth = 0
        self._close_pending = False
        self._handlers = {}
        self._h = self._c_new()
        if self._h is None:
            raise MemoryError("could not create the client")
        self._server = None
        self._port = 0
        self._timeout = self._default_timeout
        self._user = None
        self._auth_mechanism = None
        self._allow_plaintext_auth = False
        if server is not None:
            self.set_server(server, port)
        elif port:  # kept for a later server; connect says none is set
            self._port = _port(port)
        if timeout is not None:
            self.timeout = timeout
        if ssl is not None:
            self.ssl = ssl
        if user is not None:
            self.set_credentials(user, password)
        if auth_mechanism is not None:
            self.auth_mechanism = auth_mechanism
        if allow_plaintext_auth:
            self.allow_plaintext_auth = True
        if log_handler is not None:
            self.set_advanced_handler(_as_log_handler(log_handler, "log_handler")
                                      if not isinstance(log_handler, (SSLInfo, ProxyInfo))
                                      else log_handler)
        if proxy is not None:
            self.set_advanced_handler(proxy)

    # ---- calls ----
    def _live(self):
        h = self._h
        if h is None or self._close_pending:
            raise binding_error("eexState", "The client was closed; make a new one.")
        return h

    def _call(self, fn, *args):
        """Run fn(handle, *args); raise the ErrorInfo's exception on failure.
        Returns the rest of the result (outputs), if any."""
        with self._lock:
            h = self._live()
            self._binding_error = None
            self._depth += 1
            try:
                res = fn(h, *args)
                rc, out = (res[0], res[1:]) if isinstance(res, builtins.list) else (res, None)
                if rc:
                    raise ErrorInfo(_mw.mwpy_errorinfo(self._c_error(h))).exception()
                return out
            finally:
                self._depth -= 1
                if self._close_pending and self._depth == 0:
                    self._release()

    def _query(self, fn, *args):
        """A getter: no error to check."""
        with self._lock:
            return fn(self._live(), *args)

    # ---- settings ----
    def set_server(self, server, port=0):
        """Server name or address, and port (0: the default for the TLS mode)."""
        server = _text(server, "server name")
        port = _port(port)
        self._call(self._c_set_server, server, port)
        self._server, self._port = server, port

    @property
    def server(self):
        """The server name or address."""
        return self._server

    @server.setter
    def server(self, value):
        self.set_server(value, self._port)

    @property
    def port(self):
        """The port; 0 means the default for the TLS mode."""
        return self._port

    @port.setter
    def port(self, value):
        if self._server is None:  # no server yet: kept for set_server
            self._port = _port(value)
            return
        self.set_server(self._server, value)

    @property
    def timeout(self):
        """Seconds for connecting and for each wait on the network."""
        return self._timeout

    @timeout.setter
    def timeout(self, seconds):
        seconds = _seconds(seconds)
        self._call(self._c_set_timeout, max(1, int(round(float(seconds) * 1000))))
        self._timeout = float(seconds)

    def set_credentials(self, user, password):
        """Credentials for logging in during connect (None: no login)."""
        user = _text(user, "user name")
        self._call(self._c_set_credentials, user, _text(password, "password"))
        self._user = user

    @property
    def user(self):
        """The user name set with set_credentials, or None."""
        return self._user

    @property
    def auth_mechanism(self):
        """The mechanism asked for, or None for the strongest both offer."""
        return self._auth_mechanism

    @auth_mechanism.setter
    def auth_mechanism(self, mech):
        mech = _text(mech, "authentication mechanism")
        self._call(self._c_set_mechanism, mech)
        self._auth_mechanism = mech

    @property
    def allow_plaintext_auth(self):
        """Allow credentials over an unencrypted connection (default False)."""
        return self._allow_plaintext_auth

    @allow_plaintext_auth.setter
    def allow_plaintext_auth(self, allow):
        self._call(self._c_set_allow_plain, 1 if allow else 0)
        self._allow_plaintext_auth = bool(allow)

    # ---- advanced handlers ----
    def set_advanced_handler(self, handler):
        """Attach an SSLInfo, a LogHandler or a ProxyInfo (SOCK4ProxyInfo,
        SOCK5ProxyInfo, HTTPProxyInfo, POP3ProxyInfo, SMTPProxyInfo): the
        reference's SetAdvancedHandler. A logging.Logger or a callable is
        wrapped in a LogHandler. Returns the handler attached."""
        if isinstance(handler, SSLInfo):
            key = "ssl"
        elif isinstance(handler, ProxyInfo):
            key = "proxy"
            if handler._handle() is None:
                raise binding_error("eexState",
                                    "The ProxyInfo was closed; make a new one.")
        else:
            handler, key = _as_log_handler(handler), "log"
        self._call(self._c_set_handler, handler._handle())
        self._handlers[key] = handler
        return handler

    @property
    def proxy(self):
        """The attached ProxyInfo, or None."""
        return self._handlers.get("proxy")

    @proxy.setter
    def proxy(self, value):
        self.set_advanced_handler(value)

    def clear_handlers(self):
        """Detach every advanced handler."""
        self._query(self._c_clear_handlers)
        self._handlers.clear()

    @property
    def ssl(self):
        """The attached SSLInfo, or None. Settable with an SSLInfo or a mode
        (MODE_CHANNEL, MODE_STARTTLS)."""
        return self._handlers.get("ssl")

    @ssl.setter
    def ssl(self, value):
        if isinstance(value, bool) or not isinstance(value, (SSLInfo, int)):
            raise type_error("ssl must be an SSLInfo or MODE_CHANNEL/"
                             "MODE_STARTTLS, not %s." % describe(value))
        if not isinstance(value, SSLInfo):
            value = SSLInfo(value)
        self.set_advanced_handler(value)

    @property
    def log_handler(self):
        """The attached LogHandler, or None."""
        return self._handlers.get("log")

    @log_handler.setter
    def log_handler(self, value):
        self.set_advanced_handler(value)

    @property
    def extended_error(self):
        """The ErrorInfo of the last call (the reference's ExtendedError),
        also when the binding refused its arguments before calling C."""
        with self._lock:
            h = self._live()  # a closed client raises StateError
            if self._binding_error is not None:
                return self._binding_error
            return ErrorInfo(_mw.mwpy_errorinfo(self._c_error(h)))

    # ---- session ----
    def connect(self, server=None, port=None):
        """Connect, secure the session as the SSLInfo says, and log in when
        credentials are set. Returns self."""
        if server is not None or port is not None:
            self.set_server(server if server is not None else self._server,
                            port if port is not None else self._port)
        self._call(self._c_connect)
        return self

    @property
    def is_connected(self):
        """True while the connection is open."""
        return bool(self._h is not None and self._query(self._c_is_connected))

    @property
    def is_secure(self):
        """True when the session is encrypted."""
        return bool(self._h is not None and self._query(self._c_is_secure))

    @property
    def auth_mechanism_used(self):
        """The mechanism the login used, or None."""
        return self._query(self._c_auth_used)

    @property
    def tls_option(self):
        """The TLS results of this client's last connection, by SSLInfo
        output index: ``client.tls_option[mailwire.SSLConnectionCipherName]``.
        Unlike ``ssl.option[i]``, which with several clients sharing the
        SSLInfo shows the most recent handshake of any of them, these are
        always this connection's. Read-only; before a handshake, raises
        with ``eexSSLNocontext``."""
        return _TLSOptionReader(self)

    def _tls_option(self, index):
        kind = _mw.mw_sslinfo_option_type(index)
        fn = self._c_tls_str if kind == ord("s") else self._c_tls_int
        value = self._call(fn, int(index))[0]
        return bool(value) if kind == ord("b") else value

    def noop(self):
        """NOOP: check that the server still answers."""
        self._call(self._c_noop)

    def rset(self):
        """RSET: abandon the current transaction (POP3: unmark deletions)."""
        self._call(self._c_rset)

    def quit(self):
        """Say goodbye to the server, then close the connection."""
        self._call(self._c_quit)

    def disconnect(self):
        """Close the connection without saying goodbye."""
        self._query(self._c_disconnect)

    def cancel(self):
        """Make the running call (in another thread or a callback) fail with
        AbortedError; the connection is closed. Safe from any thread."""
        h = self._h
        if h is not None:
            self._c_cancel(h)

    # ---- lifetime ----
    def _release(self):
        h, self._h = self._h, None
        self._close_pending = False
        if h is not None:
            self._c_free(h)  # closes the socket without a goodbye
        self._handlers.clear()

    def close(self):
        """Close the connection (without QUIT) and free the client.
        Idempotent; a call running in another thread is cancelled first."""
        if getattr(self, "_h", None) is None:
            return
        if not self._lock.acquire(blocking=False):
            self.cancel()
            self._lock.acquire()
        try:
            if self._depth:  # called from a callback of our own call
                self._close_pending = True
                self.cancel()
            else:
                self._release()
        finally:
            self._lock.release()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def __enter__(self):
        if self._server is not None and not self.is_connected:
            self.connect()
        return self

    def __exit__(self, exc_type, exc, tb):
        """Leaving ``with`` normally sends QUIT (POP3: deletions are
        committed) and closes; leaving it by an exception closes without
        QUIT (POP3: nothing is deleted), as Lua's ``<close>`` does."""
        try:
            if exc_type is None and self.is_connected:
                self.quit()
        finally:
            self.close()

    def __repr__(self):
        state = ("closed" if self._h is None else
                 "connected" if self.is_connected else "not connected")
        return "<mailwire.%s %s:%s %s>" % (type(self).__name__, self._server,
                                            self._port, state)


@_records_binding_errors
class SMTPClient(_Client):
    """Sends mail over SMTP (the reference's SMTPClient).

    >>> with mailwire.SMTPClient(server="mail.example.com", port=587,
    ...                          ssl=mailwire.MODE_STARTTLS,
    ...                          user="me", password="secret") as smtp:
    ...     smtp.send("me@example.com", ["you@example.com"], message)

    ``ssl`` is an SSLInfo or a mode; ``timeout`` is in seconds. ``with``
    connects (if a server is set); at a normal end it sends QUIT and
    closes, when an exception leaves it it closes without QUIT.
    """

    _c_new = staticmethod(_mw.mw_smtp_new)
    _c_free = staticmethod(_mw.mw_smtp_free)
    _c_cancel = staticmethod(_mw.mw_smtp_cancel)
    _c_error = staticmethod(_mw.mw_smtp_extended_error)
    _c_set_server = staticmethod(_mw.mw_smtp_set_server)
    _c_set_timeout = staticmethod(_mw.mw_smtp_set_timeout)
    _c_set_credentials = staticmethod(_mw.mw_smtp_set_credentials)
    _c_set_mechanism = staticmethod(_mw.mw_smtp_set_auth_mechanism)
    _c_set_allow_plain = staticmethod(_mw.mw_smtp_set_allow_plaintext_auth)
    _c_set_handler = staticmethod(_mw.mw_smtp_set_handler)
    _c_clear_handlers = staticmethod(_mw.mw_smtp_clear_handlers)
    _c_connect = staticmethod(_mw.mw_smtp_connect)
    _c_is_connected = staticmethod(_mw.mw_smtp_is_connected)
    _c_is_secure = staticmethod(_mw.mw_smtp_is_secure)
    _c_quit = staticmethod(_mw.mw_smtp_quit)
    _c_disconnect = staticmethod(_mw.mw_smtp_disconnect)
    _c_noop = staticmethod(_mw.mw_smtp_noop)
    _c_rset = staticmethod(_mw.mw_smtp_rset)
    _c_auth_used = staticmethod(_mw.mw_smtp_auth_mechanism_used)
    _c_capabilities = staticmethod(_mw.mw_smtp_capabilities)
    _c_tls_int = staticmethod(_mw.mw_smtp_tls_option_int)
    _c_tls_str = staticmethod(_mw.mw_smtp_tls_option_str)

    def __init__(self, server=None, port=0, *, timeout=None, ssl=None,
                 user=None, password=None, auth_mechanism=None,
                 helo_name=None, allow_plaintext_auth=False,
                 allow_partial=False, log_handler=None, proxy=None,
                 pipelining=True, chunking=True):
        self._helo_name = None
        self._allow_partial = False
        self._pipelining = self._chunking = True
        super().__init__(server, port, timeout, ssl, user, password,
                         auth_mechanism, allow_plaintext_auth, log_handler,
                         proxy)
        if helo_name is not None:
            self.helo_name = helo_name
        if allow_partial:
            self.allow_partial = True
        if not pipelining:
            self.pipelining = False
        if not chunking:
            self.chunking = False

    @property
    def helo_name(self):
        """Name sent in EHLO/HELO (None: the local host name)."""
        return self._helo_name

    @helo_name.setter
    def helo_name(self, name):
        name = _text(name, "HELO name")
        self._call(_mw.mw_smtp_set_helo_name, name)
        self._helo_name = name

    @property
    def allow_partial(self):
        """Send to the accepted recipients even if some are refused."""
        return self._allow_partial

    @allow_partial.setter
    def allow_partial(self, allow):
        self._call(_mw.mw_smtp_set_allow_partial, 1 if allow else 0)
        self._allow_partial = bool(allow)

    @property
    def pipelining(self):
        """Use PIPELINING (RFC 2920) when the server offers it (default
        True): MAIL and the RCPTs go in one flight, and send_batch sends
        ahead across messages. Takes effect at the next send."""
        return self._pipelining

    @pipelining.setter
    def pipelining(self, on):
        self._call(_mw.mw_smtp_set_pipelining, 1 if on else 0)
        self._pipelining = bool(on)

    @property
    def chunking(self):
        """Use CHUNKING/BDAT (RFC 3030) when the server offers it (default
        True). Takes effect at the next send."""
        return self._chunking

    @chunking.setter
    def chunking(self, on):
        self._call(_mw.mw_smtp_set_chunking, 1 if on else 0)
        self._chunking = bool(on)

    # ---- capabilities ----
    def has_extension(self, keyword):
        """Did the last EHLO offer this extension ("SIZE", "AUTH" ...)?"""
        return bool(self._query(_mw.mw_smtp_has_extension, _text(keyword, "keyword")))

    def extension_params(self, keyword):
        """Parameters of an extension ("PLAIN LOGIN" for AUTH), or None."""
        return self._query(_mw.mw_smtp_extension_params, _text(keyword, "keyword"))

    @property
    def capabilities(self):
        """The EHLO lines after the first, as a list of str."""
        text = self._query(self._c_capabilities)
        return text.split("\n") if text else []

    @property
    def last_reply_code(self):
        """The code of the last SMTP reply (0 before any)."""
        return self._query(_mw.mw_smtp_last_reply_code)

    @property
    def last_reply_text(self):
        """The text of the last SMTP reply, lines joined by newlines."""
        return self._query(_mw.mw_smtp_last_reply_text) or ""

    # ---- sending ----
    def send(self, from_addr, to_addrs, message, *, size_hint=0,
             eight_bit=False):
        """Send one message: MAIL FROM, RCPT TO each recipient, DATA.

        message is bytes (or bytearray, memoryview), str (sent as UTF-8), an
        email.message.Message, a binary or text file object, an iterable of
        bytes chunks, or a callable read(n) returning bytes (b"" at the end).
        Files, iterables and callables are streamed in constant memory; for
        them give eight_bit=True if the body has 8-bit bytes, and size_hint
        (bytes) if known. Line endings are normalised to CRLF and dots
        stuffed by the library.

        Returns a RecipientResult per recipient. Raises ServerError (or
        AuthError, ...) when the server refuses.
        """
        from_addr = _text(from_addr, "sender address")
        rcpts = _recipients(to_addrs)
        data = _message_bytes(message)
        try:
            if data is not None:
                self._call(_mw.mw_smtp_send, from_addr, rcpts, data)
            else:
                flags = _mw.MW_SEND_8BIT if eight_bit else 0
                self._call(_mw.mwpy_smtp_send_stream, from_addr, rcpts,
                           int(size_hint or 0), flags, _message_reader(message))
        except Error as e:
            self._results = self._recipient_results(rcpts)
            e.results = list(self._results)
            raise
        except BaseException:
            self._results = self._recipient_results(rcpts)
            raise
        self._results = self._recipient_results(rcpts)
        return list(self._results)

    def send_message(self, msg, from_addr=None, to_addrs=None, **kwargs):
        """Send an email.message.Message, taking the sender from Sender/From
        and the recipients from To, Cc and Bcc when not given (as smtplib
        does); Bcc is not transmitted."""
        import email.utils
        if from_addr is None:
            from_addr = email.utils.getaddresses(
                msg.get_all("Sender") or msg.get_all("From") or [])
            if not from_addr:
                raise binding_error("eexInvalidArgument",
                                    "The message has no From header; give from_addr.")
            from_addr = from_addr[0][1]
        if to_addrs is None:
            fields = sum((msg.get_all(h) or [] for h in ("To", "Cc", "Bcc")), [])
            to_addrs = [a for _, a in email.utils.getaddresses(fields) if a]
        if msg.get_all("Bcc"):
            msg = _copy_message(msg)
            del msg["Bcc"]
        return self.send(from_addr, to_addrs, msg, **kwargs)

    def _recipient_results(self, rcpts):
        with self._lock:
            h = self._h
            if h is None:
                return []
            count = _mw.mw_smtp_rcpt_count(h)
            return [RecipientResult(rcpts[i] if i < len(rcpts) else None,
                                    _mw.mw_smtp_rcpt_code(h, i),
                                    _mw.mw_smtp_rcpt_enhanced_status(h, i) or "",
                                    _mw.mw_smtp_rcpt_text(h, i) or "")
                    for i in range(count)]

    @property
    def recipient_results(self):
        """The RecipientResults of the last send."""
        return list(getattr(self, "_results", []))

    def send_batch(self, messages):
        """Send several messages over the connection, pipelined across
        messages when the server offers PIPELINING (with BDAT when it offers
        CHUNKING).

        Each message is a tuple (from_addr, to_addrs, message), a dict with
        the keys "from", "to" and "data" (or "from_addr", "to_addrs",
        "message"), or an email.message.Message (sender and recipients from
        its headers, as send_message; Bcc is not transmitted). to_addrs is
        an address or a list of them; message is anything send() takes
        (files, iterables and callables are read into memory first).
        Every address is checked before anything is sent.

        Each message goes to the recipients the server accepted, whatever
        allow_partial says. Returns a list of SMTPBatchResult, one per
        message in the order given, when every message was accepted by
        every recipient. Otherwise raises, as the C library fails: a
        ServerError when at least one message or recipient was refused (the
        others were sent; the exception describes the first refusal), or
        the error that ended the batch (network, timeout ...: messages
        acknowledged before keep their result, the rest have code 0). The
        exception's ``results`` attribute holds the SMTPBatchResults then
        (empty if the batch was refused before it started); so does
        batch_results, until the next batch.
        """
        if isinstance(messages, (str, bytes, dict)) or _is_email_message(messages):
            raise type_error("send_batch takes a list of messages")
        try:
            batch = [_batch_message(m, i) for i, m in enumerate(messages)]
        except Error as e:  # refused before anything was sent
            self._batch_results = e.results = []
            raise
        with self._lock:
            try:
                self._call(_mw.mw_smtp_send_batch, batch)
            except Error as e:
                e.results = self._read_batch_results(batch)
                self._batch_results = e.results
                raise
            except BaseException:
                self._batch_results = self._read_batch_results(batch)
                raise
            self._batch_results = self._read_batch_results(batch)
            return list(self._batch_results)

    def _read_batch_results(self, batch):
        h = self._h
        if h is None:
            return []
        out = []
        for i in range(_mw.mw_smtp_batch_count(h)):
            rcpts = batch[i][1] if i < len(batch) else []
            out.append(SMTPBatchResult(
                _mw.mw_smtp_batch_code(h, i),
                _mw.mw_smtp_batch_enhanced_status(h, i) or "",
                _mw.mw_smtp_batch_text(h, i) or "",
                [RecipientResult(rcpts[j] if j < len(rcpts) else None,
                                 _mw.mw_smtp_batch_rcpt_code(h, i, j),
                                 _mw.mw_smtp_batch_rcpt_enhanced_status(h, i, j) or "",
                                 _mw.mw_smtp_batch_rcpt_text(h, i, j) or "")
                 for j in range(_mw.mw_smtp_batch_rcpt_count(h, i))]))
        return out

    @property
    def batch_results(self):
        """The SMTPBatchResults of the last send_batch."""
        return list(getattr(self, "_batch_results", []))


def _recipients(to_addrs):
    """An address or a list of them, as a list of str (the same refusals
    as the Lua binding)."""
    if isinstance(to_addrs, (str, bytes)):
        to_addrs = [to_addrs]
    elif isinstance(to_addrs, dict) or not hasattr(to_addrs, "__iter__"):
        raise type_error("The recipients must be an address or a list of "
                         "addresses, not %s." % describe(to_addrs))
    rcpts = [_text(r, "recipient address") for r in to_addrs]
    if any(r is None for r in rcpts):
        raise type_error("The recipient address must be a string, not nothing.")
    return rcpts


def _is_email_message(obj):
    """Is obj an email.message.Message? The email package is imported only
    by programs that use it (it is a third of mailwire's import time)."""
    mod = sys.modules.get("email.message")
    return mod is not None and isinstance(obj, mod.Message)


def _message_parties(msg):
    """(sender, recipients, message without Bcc) from the headers of an
    email.message.Message, as smtplib's send_message takes them."""
    import email.utils
    sender = email.utils.getaddresses(
        msg.get_all("Sender") or msg.get_all("From") or [])
    if not sender:
        raise binding_error("eexInvalidArgument",
                            "The message has no From header; give from_addr.")
    fields = sum((msg.get_all(h) or [] for h in ("To", "Cc", "Bcc")), [])
    to_addrs = [a for _, a in email.utils.getaddresses(fields) if a]
    if msg.get_all("Bcc"):
        msg = _copy_message(msg)
        del msg["Bcc"]
    return sender[0][1], to_addrs, msg


def _batch_message(m, i):
    """One message of send_batch as the (str, [str...], bytes) triple the
    extension takes."""
    if _is_email_message(m):
        from_addr, to_addrs, data = _message_parties(m)
    elif isinstance(m, dict):
        unknown = set(m) - {"from", "to", "data", "from_addr", "to_addrs", "message"}
        if unknown:
            raise type_error("message %d of the batch has unknown keys: %s"
                            % (i + 1, ", ".join(sorted(map(str, unknown)))))
        try:
            from_addr = m["from"] if "from" in m else m["from_addr"]
            to_addrs = m["to"] if "to" in m else m["to_addrs"]
            data = m["data"] if "data" in m else m["message"]
        except KeyError as e:
            raise type_error("message %d of the batch has no %s" % (i + 1, e)) from None
    elif isinstance(m, (tuple, builtins.list)) and len(m) == 3:
        from_addr, to_addrs, data = m
    else:
        raise type_error("message %d of the batch must be a (from_addr, to_addrs, "
                        "message) tuple, a dict or an email.message.Message, not %s"
                        % (i + 1, type(m).__name__))
    from_addr = _text(from_addr, "sender address")
    if from_addr is None:
        raise type_error("message %d of the batch has no sender" % (i + 1))
    if isinstance(to_addrs, (str, bytes)):
        to_addrs = [to_addrs]
    rcpts = [_text(r, "recipient address") for r in to_addrs]
    if any(r is None for r in rcpts):
        raise type_error("message %d of the batch has a recipient None" % (i + 1))
    body = _message_bytes(data)
    if body is None:
        read = _message_reader(data)
        chunks = []
        while True:
            chunk = read(65536)
            if not chunk:
                break
            chunks.append(bytes(chunk))
        body = b"".join(chunks)
    return (from_addr, rcpts, body)


def _copy_message(msg):
    import copy
    return copy.copy(msg)


def _message_bytes(message):
    """The message as bytes if it is in memory, else None (streamed)."""
    if isinstance(message, (bytes, bytearray, memoryview)):
        return message
    if isinstance(message, str):
        return message.encode("utf-8")
    if _is_email_message(message):
        import email.policy
        policy = message.policy if isinstance(message.policy, email.policy.EmailPolicy) \
            else email.policy.compat32
        return message.as_bytes(policy=policy.clone(linesep="\r\n"))
    return None


def _message_reader(message):
    """A read(n) -> bytes function over a file, an iterable or a callable."""
    if hasattr(message, "read"):
        read = message.read
        if isinstance(message, io.TextIOBase):
            return lambda n: read(n).encode("utf-8")
        return read
    if callable(message):
        return message
    try:
        chunks = iter(message)
    except TypeError:
        raise type_error("message must be bytes, str, an email.message.Message, "
                        "a file, an iterable of bytes or a callable, not %s"
                        % type(message).__name__) from None
    return lambda n: next(chunks, b"")


POP3Message = collections.namedtuple("POP3Message", "number size uid")
POP3Message.__doc__ = "A message of the mailbox: number, size in octets, UID (or None)."


class POP3BatchResult(collections.namedtuple(
        "POP3BatchResult", "number status text value")):
    """The outcome of one message of a POP3Client batch call.

    status: MW_OK (0) for +OK, errServer for -ERR, errNotConnected when not
    answered (the batch ended first), errAborted for the message a callback
    stopped. text: the server's status text (or "not answered"). value:
    what the call returns for it when status is MW_OK (the message bytes,
    its size or its UID), else None; None for dele_batch and for messages
    streamed into a callable.
    """

    __slots__ = ()

    @property
    def ok(self):
        """The server answered +OK."""
        return self.status == 0


# The library's default for POP3Client.max_message_size (mailwire.h):
# retr_batch/top_batch hold no more than this per message in memory.
_DEFAULT_MAX_MESSAGE = 256 * 1024 * 1024


def _writer(into):
    if hasattr(into, "write"):
        return into.write
    if callable(into):
        return into
    raise type_error("into must be a file object with write() or a callable")


@_records_binding_errors
class POP3Client(_Client):
    """Retrieves mail over POP3 (the reference's POP3Client).

    >>> with mailwire.POP3Client(server="mail.example.com", ssl=mailwire.SSLInfo(),
    ...                          user="me", password="secret") as pop:
    ...     for msg in pop:
    ...         data = pop.retr(msg.number)

    Messages are never deleted unless dele() is called; QUIT (at the normal
    end of ``with``) commits the deletions. An exception leaving ``with``
    closes without QUIT, so nothing is deleted.
    """

    _c_new = staticmethod(_mw.mw_pop3_new)
    _c_free = staticmethod(_mw.mw_pop3_free)
    _c_cancel = staticmethod(_mw.mw_pop3_cancel)
    _c_error = staticmethod(_mw.mw_pop3_extended_error)
    _c_set_server = staticmethod(_mw.mw_pop3_set_server)
    _c_set_timeout = staticmethod(_mw.mw_pop3_set_timeout)
    _c_set_credentials = staticmethod(_mw.mw_pop3_set_credentials)
    _c_set_mechanism = staticmethod(_mw.mw_pop3_set_auth_mechanism)
    _c_set_allow_plain = staticmethod(_mw.mw_pop3_set_allow_plaintext_auth)
    _c_set_handler = staticmethod(_mw.mw_pop3_set_handler)
    _c_clear_handlers = staticmethod(_mw.mw_pop3_clear_handlers)
    _c_connect = staticmethod(_mw.mw_pop3_connect)
    _c_is_connected = staticmethod(_mw.mw_pop3_is_connected)
    _c_is_secure = staticmethod(_mw.mw_pop3_is_secure)
    _c_quit = staticmethod(_mw.mw_pop3_quit)
    _c_disconnect = staticmethod(_mw.mw_pop3_disconnect)
    _c_noop = staticmethod(_mw.mw_pop3_noop)
    _c_rset = staticmethod(_mw.mw_pop3_rset)
    _c_auth_used = staticmethod(_mw.mw_pop3_auth_mechanism_used)
    _c_tls_int = staticmethod(_mw.mw_pop3_tls_option_int)
    _c_tls_str = staticmethod(_mw.mw_pop3_tls_option_str)
    _c_capabilities = staticmethod(_mw.mw_pop3_capabilities)

    def __init__(self, server=None, port=0, *, timeout=None, ssl=None,
                 user=None, password=None, auth_mechanism=None,
                 allow_plaintext_auth=False, max_message_size=None,
                 log_handler=None, proxy=None, pipelining=True):
        self._max_message_size = None
        self._pipelining = True
        super().__init__(server, port, timeout, ssl, user, password,
                         auth_mechanism, allow_plaintext_auth, log_handler,
                         proxy)
        if max_message_size is not None:
            self.max_message_size = max_message_size
        if not pipelining:
            self.pipelining = False

    @property
    def pipelining(self):
        """Pipeline the batch calls when the server offers PIPELINING
        (default True); False sends one command at a time. Takes effect at
        the next batch."""
        return self._pipelining

    @pipelining.setter
    def pipelining(self, on):
        self._call(_mw.mw_pop3_set_pipelining, 1 if on else 0)
        self._pipelining = bool(on)

    @property
    def max_message_size(self):
        """Largest message retr()/top() return as bytes (None: the library's
        default); streaming into a file or callable has no limit."""
        return self._max_message_size

    @max_message_size.setter
    def max_message_size(self, size):
        size = _whole(size, "size", 0)
        self._call(_mw.mw_pop3_set_max_message_size, size)
        self._max_message_size = size

    def has_capability(self, keyword):
        """Did CAPA list this capability ("UIDL", "SASL" ...)?"""
        return bool(self._query(_mw.mw_pop3_has_capability, _text(keyword, "keyword")))

    def capability_params(self, keyword):
        """Parameters of a capability ("PLAIN LOGIN" for SASL), or None."""
        return self._query(_mw.mw_pop3_capability_params, _text(keyword, "keyword"))

    @property
    def capabilities(self):
        """The CAPA lines, as a list of str."""
        text = self._query(self._c_capabilities)
        return text.split("\n") if text else []

    @property
    def last_reply_text(self):
        """The status text of the last +OK or -ERR line."""
        return self._query(_mw.mw_pop3_last_reply_text) or ""

    def stat(self):
        """(message count, total octets)."""
        count, octets = self._call(_mw.mw_pop3_stat)
        return count, octets

    def __len__(self):
        """The number of messages (STAT)."""
        return self.stat()[0]

    def _entries(self, what):
        with self._lock:
            h = self._live()
            n = _mw.mw_pop3_entry_count(h)
            if what == "size":
                return [(_mw.mw_pop3_entry_number(h, i), _mw.mw_pop3_entry_size(h, i))
                        for i in range(n)]
            return [(_mw.mw_pop3_entry_number(h, i), _mw.mw_pop3_entry_uid(h, i))
                    for i in range(n)]

    def list(self, number=None):
        """LIST: [(number, size), ...], or the size of one message."""
        if number is not None:
            return self._call(_mw.mw_pop3_list_one, _whole(number, "message number", 1))[0]
        with self._lock:
            self._call(_mw.mw_pop3_list)
            return self._entries("size")

    def uidl(self, number=None):
        """UIDL: [(number, uid), ...], or the UID of one message."""
        if number is not None:
            return self._call(_mw.mw_pop3_uidl_one, _whole(number, "message number", 1))[0]
        with self._lock:
            self._call(_mw.mw_pop3_uidl)
            return self._entries("uid")

    def retr(self, number, into=None):
        """RETR: the message as bytes (CRLF line ends, dot-unstuffed), or, with
        into (a file object or a callable taking bytes), streamed in constant
        memory (returns None). An exception raised by into stops the transfer
        and is raised here."""
        number = _whole(number, "message number", 1)
        if into is None:
            return self._call(_mw.mw_pop3_retr, number)[0]
        self._call(_mw.mwpy_pop3_retr_stream, number, _writer(into))
        return None

    def top(self, number, lines, into=None):
        """TOP: the headers and the first lines of the body, as retr()."""
        number = _whole(number, "message number", 1)
        lines = _whole(lines, "number of lines", 0)
        if into is None:
            return self._call(_mw.mw_pop3_top, number, lines)[0]
        self._call(_mw.mwpy_pop3_top_stream, number, lines, _writer(into))
        return None

    def dele(self, number):
        """Mark a message for deletion; QUIT deletes it, RSET or a dropped
        connection keeps it."""
        self._call(_mw.mw_pop3_dele, _whole(number, "message number", 1))

    # ---- batches ----
    def _batch(self, fn, numbers, args, value):
        """Run the batch call fn(handle, numbers, *args); value(h, i) reads
        entry i's value. Returns the values, or raises with the
        POP3BatchResults attached as ``results``."""
        if isinstance(numbers, (str, bytes)):
            raise type_error("expected a list of message numbers")
        try:
            nums = [_whole(n, "message number", 1) for n in numbers]
        except Error as e:  # refused before anything was sent
            self._batch_results = e.results = []
            raise
        with self._lock:
            try:
                self._call(fn, nums, *args)
            except Error as e:
                e.results = self._read_batch_results(nums, value)
                self._batch_results = e.results
                raise
            except BaseException:
                self._batch_results = self._read_batch_results(nums, value)
                raise
            self._batch_results = self._read_batch_results(nums, value)
            return [r.value for r in self._batch_results]

    def _read_batch_results(self, nums, value):
        h = self._h
        if h is None:
            return []
        out = []
        for i in range(_mw.mw_pop3_batch_count(h)):
            status = _mw.mw_pop3_batch_status(h, i)
            out.append(POP3BatchResult(
                nums[i] if i < len(nums) else None, status,
                _mw.mw_pop3_batch_text(h, i) or "",
                value(h, i) if status == 0 and value else None))
        return out

    @property
    def batch_results(self):
        """The POP3BatchResults of the last batch call."""
        return list(getattr(self, "_batch_results", []))

    def _retrieve_batch(self, fn, numbers, args, into):
        if into is not None:
            if not callable(into):
                raise type_error("into must be a callable(number, chunk)")

            def write(i, number, chunk):
                into(number, chunk)
            self._batch(fn, numbers, args + (write,), None)
            return None
        limit = self._max_message_size or _DEFAULT_MAX_MESSAGE
        parts, sizes, done = {}, {}, {}

        def collect(i, number, chunk):
            if chunk is None:
                done[i] = b"".join(parts.pop(i, ()))
                return
            sizes[i] = sizes.get(i, 0) + len(chunk)
            if sizes[i] > limit:
                parts.pop(i, None)
                raise binding_error(
                    "eexMessageTooLarge",
                    "Message %d is larger than max_message_size (%d bytes); "
                    "give into= to stream it." % (number, limit))
            parts.setdefault(i, []).append(chunk)
        return self._batch(fn, numbers, args + (collect,), lambda h, i: done.get(i))

    def retr_batch(self, numbers, into=None):
        """RETR several messages, pipelined when the server offers
        PIPELINING: a list of bytes in the order given (each as retr()
        returns it; at most max_message_size bytes each). With into, a
        callable into(number, chunk), each message is streamed in constant
        memory instead: chunk is bytes, then None after the message's last
        piece (returns None). An exception raised by into stops the batch
        (the connection is closed) and is raised here.

        When the server answers -ERR for some messages (the others are
        retrieved), raises ServerError; when the batch ends early
        (network, timeout ...), the error that ended it. The exception's
        ``results`` attribute holds a POP3BatchResult per message (value:
        the bytes of each one retrieved); so does batch_results.
        """
        return self._retrieve_batch(_mw.mwpy_pop3_retr_batch, numbers, (), into)

    def top_batch(self, numbers, lines, into=None):
        """TOP for several messages (the headers and the first lines of the
        body), as retr_batch."""
        return self._retrieve_batch(_mw.mwpy_pop3_top_batch, numbers,
                                    (_whole(lines, "number of lines", 0),), into)

    def dele_batch(self, numbers):
        """Mark several messages for deletion, pipelined; QUIT deletes them.
        Raises as retr_batch (ServerError with ``results`` when some got
        -ERR; the others are marked)."""
        self._batch(_mw.mw_pop3_dele_batch, numbers, (), None)

    def list_batch(self, numbers):
        """LIST n for several messages, pipelined: their sizes in the order
        given. Raises as retr_batch."""
        return self._batch(_mw.mw_pop3_list_batch, numbers, (),
                           _mw.mw_pop3_batch_size)

    def uidl_batch(self, numbers):
        """UIDL n for several messages, pipelined: their UIDs in the order
        given. Raises as retr_batch."""
        return self._batch(_mw.mw_pop3_uidl_batch, numbers, (),
                           _mw.mw_pop3_batch_uid)

    def messages(self):
        """The messages of the mailbox: a list of POP3Message (with UIDs when
        the server offers UIDL)."""
        sizes = self.list()
        uids = {}
        if self.has_capability("UIDL"):
            uids = dict(self.uidl())
        return [POP3Message(n, size, uids.get(n)) for n, size in sizes]

    def __iter__(self):
        return iter(self.messages())
