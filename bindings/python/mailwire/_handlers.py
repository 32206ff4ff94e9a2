"""SSLInfo and LogHandler: the reference's advanced handlers."""

import re

from . import _mailwire as _mw
from ._errors import ErrorInfo, binding_error

__all__ = ["SSLInfo", "LogHandler", "LoggingHandler", "SSL_OPTIONS",
           "ProxyInfo", "SOCK4ProxyInfo", "SOCK5ProxyInfo", "SOCKS4ProxyInfo",
           "SOCKS5ProxyInfo", "HTTPProxyInfo", "POP3ProxyInfo", "SMTPProxyInfo"]


def _text(value, what):
    """A text argument for C: str, None passes through; NUL is refused here
    because C would silently stop at it (CR and LF are refused by C)."""
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "surrogateescape")
    if not isinstance(value, str):
        raise TypeError("%s must be str, not %s" % (what, type(value).__name__))
    if "\0" in value:
        raise binding_error("eexInvalidArgument",
                            "The %s contains a NUL character; remove it." % what)
    return value


def _snake(name):
    """SSLNoServerNameCheck -> no_server_name_check, SSLCAFile -> ca_file."""
    name = name[3:]
    name = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name)
    return name.lower()


# Option indexes by Python name, from the constants of mailwire.h: every
# SSLXxx constant the library knows a type for.
SSL_OPTIONS = {
    _snake(name): getattr(_mw, name)
    for name in dir(_mw)
    if re.match(r"^SSL[A-Z][A-Za-z0-9]*$", name)
    and _mw.mw_sslinfo_option_type(getattr(_mw, name)) != 0
}


class _OptionIndexer:
    """``ssl.option[i]``: the reference's Option(i) property."""

    __slots__ = ("_ssl",)

    def __init__(self, ssl):
        self._ssl = ssl

    def __getitem__(self, index):
        return self._ssl._get_option(index)

    def __setitem__(self, index, value):
        self._ssl._set_option(index, value)


class SSLInfo:
    """The parameters and results of a TLS connection (the reference's
    SSLInfo). Attach it with ``client.set_advanced_handler(ssl)`` or
    ``SMTPClient(ssl=...)``.

    ``mode`` is ``MODE_CHANNEL`` (implicit TLS, the default) or
    ``MODE_STARTTLS``. Options are read and written by index, as in the
    reference (``ssl.option[mailwire.SSLNoServerNameCheck] = True``), or
    given by name at construction (``SSLInfo(ca_file="ca.pem")``; the name of
    ``SSLCAFile`` is ``ca_file``, see ``SSL_OPTIONS``). Output options
    (``SSLConnectionProtocolOut`` ...) describe the most recent handshake
    made with this SSLInfo; a client's own are ``client.tls_option[i]``.
    One SSLInfo may serve clients on many threads; its options cannot
    change while any of them is connected (``eexSSLConnected``).
    """

    _free = staticmethod(_mw.mw_sslinfo_free)

    def __init__(self, mode=_mw.MODE_CHANNEL, **options):
        self._h = _mw.mw_sslinfo_new()
        if self._h is None:
            raise MemoryError("mw_sslinfo_new")
        self.mode = mode
        for name, value in options.items():
            if name not in SSL_OPTIONS:
                raise TypeError("SSLInfo has no option %r (known: %s)"
                                % (name, ", ".join(sorted(SSL_OPTIONS))))
            self._set_option(SSL_OPTIONS[name], value)

    def _check(self, rc):
        if rc:
            raise ErrorInfo(_mw.mwpy_errorinfo(
                _mw.mw_sslinfo_extended_error(self._h))).exception()

    @property
    def mode(self):
        """MODE_CHANNEL (implicit TLS) or MODE_STARTTLS."""
        return _mw.mw_sslinfo_mode(self._h)

    @mode.setter
    def mode(self, value):
        self._check(_mw.mw_sslinfo_set_mode(self._h, int(value)))

    @property
    def option(self):
        """The options by index: ``ssl.option[SSLCAFile] = "ca.pem"``."""
        return _OptionIndexer(self)

    def _get_option(self, index):
        kind = _mw.mw_sslinfo_option_type(index)
        if kind == ord("s"):
            rc, value = _mw.mw_sslinfo_get_option_str(self._h, index)
        else:
            rc, value = _mw.mw_sslinfo_get_option_int(self._h, index)
        self._check(rc)
        return bool(value) if kind == ord("b") else value

    def _set_option(self, index, value):
        kind = _mw.mw_sslinfo_option_type(index)
        if kind == ord("s"):
            rc = _mw.mw_sslinfo_set_option_str(
                self._h, index, _text(value, "SSLInfo option %d" % index))
        elif kind == ord("a"):
            rc = _mw.mw_sslinfo_set_option_array(self._h, index, list(value))
        else:  # booleans, numbers, and unknown indexes (C says why)
            rc = _mw.mw_sslinfo_set_option_int(self._h, index, int(value))
        self._check(rc)

    def _output(self, name):
        return self._get_option(getattr(_mw, name))

    protocol_name = property(lambda self: self._output("SSLConnectionProtocolName"),
                             doc='Negotiated protocol, "TLSv1.3".')
    cipher_name = property(lambda self: self._output("SSLConnectionCipherName"),
                           doc="Negotiated cipher suite (OpenSSL's name).")
    peer_subject = property(lambda self: self._output("SSLPeerSubject"),
                            doc="Subject of the server's certificate.")
    peer_issuer = property(lambda self: self._output("SSLPeerIssuer"),
                           doc="Issuer of the server's certificate.")

    @property
    def extended_error(self):
        """The ErrorInfo of the last call on this SSLInfo."""
        return ErrorInfo(_mw.mwpy_errorinfo(_mw.mw_sslinfo_extended_error(self._h)))

    def _handle(self):
        return self._h

    def close(self):
        """Release the Python side's reference (a client using it keeps its
        own). Idempotent."""
        h, self._h = getattr(self, "_h", None), None
        if h is not None:
            self._free(h)

    def __del__(self):
        self.close()

    def __repr__(self):
        return "<mailwire.SSLInfo mode=%s>" % (
            "MODE_STARTTLS" if self._h and self.mode == _mw.MODE_STARTTLS
            else "MODE_CHANNEL")


class LogHandler:
    """Diagnostic messages of a client (the reference's LogHandler).

    Subclass it and override ``on_log_message(severity, facility, message)``,
    or pass any callable taking those three arguments. ``level`` is the
    highest severity delivered (``LOG_S_FATAL`` < ``LOG_S_WARNING`` <
    ``LOG_S_INFORMATION``), ``facility_flags`` a mask of ``LOG_F_*``.

    An exception raised by on_log_message cancels the running operation and
    is raised by the client call that was running. Secrets never reach a log
    message.
    """

    _release = staticmethod(_mw.mwpy_loghandler_release)

    def __init__(self, callback=None, level=_mw.LOG_S_INFORMATION,
                 facility_flags=_mw.LOG_F_ALL):
        if callback is not None and not callable(callback):
            raise TypeError("callback must be callable")
        self._callback = callback
        self._logging = 0
        self._close_pending = False
        # The C handler refers back to self without a reference: close()
        # detaches it, and clients keep self alive while they use it.
        self._h = _mw.mwpy_loghandler_new(self)
        if self._h is None:
            raise MemoryError("mw_loghandler_new")
        self.level = level
        self.facility_flags = facility_flags

    def on_log_message(self, severity, facility, message):
        """Called for each message; by default calls the callback."""
        if self._callback is not None:
            self._callback(severity, facility, message)

    @property
    def level(self):
        """Highest severity delivered (the reference's Level)."""
        return _mw.mw_loghandler_level(self._h)

    @level.setter
    def level(self, value):
        if _mw.mw_loghandler_set_level(self._h, int(value)):
            raise binding_error("eexInvalidArgument",
                                "Level must be LOG_S_FATAL, LOG_S_WARNING or "
                                "LOG_S_INFORMATION, not %r." % (value,))

    @property
    def facility_flags(self):
        """Mask of LOG_F_* facilities delivered (the reference's FacilityFlags)."""
        return _mw.mw_loghandler_facility_flags(self._h)

    @facility_flags.setter
    def facility_flags(self, value):
        if _mw.mw_loghandler_set_facility_flags(self._h, int(value)):
            raise binding_error("eexInvalidArgument",
                                "FacilityFlags must be a mask of LOG_F_* "
                                "values, not %r." % (value,))

    def log(self, severity, message):
        """Send a LOG_F_USER message of the application through this handler."""
        message = _text(message, "message")
        if self._h is None:
            return
        self._logging += 1  # close() from the callback waits for the return
        try:
            _mw.mw_loghandler_log(self._h, int(severity), message)
        finally:
            self._logging -= 1
            if self._close_pending and not self._logging:
                self.close()

    def _handle(self):
        return self._h

    def close(self):
        """Detach from the C handler: later messages are dropped. Idempotent."""
        if getattr(self, "_logging", 0):
            self._close_pending = True
            return
        h, self._h = getattr(self, "_h", None), None
        if h is not None:
            self._release(h)

    def __del__(self):
        self.close()


# logging's ERROR, WARNING, DEBUG and INFO (fixed by the logging module's
# documentation): `logging` itself is imported only when a LoggingHandler
# is made, so programs that do not log do not pay for it.
_SEVERITY_TO_LOGGING = {
    _mw.LOG_S_FATAL: 40,
    _mw.LOG_S_WARNING: 30,
    _mw.LOG_S_INFORMATION: 10,
}
_LOGGING_INFO = 20
_FACILITY_NAMES = {
    _mw.LOG_F_PROTOCOL: "protocol",
    _mw.LOG_F_SSL: "ssl",
    _mw.LOG_F_PROXY: "proxy",
    _mw.LOG_F_USER: "user",
}


class LoggingHandler(LogHandler):
    """A LogHandler that forwards to the standard ``logging`` module.

    Messages go to child loggers of ``logger`` (default ``"mailwire"``) named
    after the facility: ``mailwire.protocol``, ``mailwire.ssl``,
    ``mailwire.proxy``, ``mailwire.user``. LOG_S_FATAL becomes ERROR,
    LOG_S_WARNING WARNING, LOG_S_INFORMATION DEBUG.
    """

    def __init__(self, logger=None, level=_mw.LOG_S_INFORMATION,
                 facility_flags=_mw.LOG_F_ALL):
        if logger is None or isinstance(logger, str):
            import logging
            logger = logging.getLogger(logger or "mailwire")
        self.logger = logger
        self._children = {f: logger.getChild(n) for f, n in _FACILITY_NAMES.items()}
        super().__init__(None, level, facility_flags)

    def on_log_message(self, severity, facility, message):
        target = self._children.get(facility, self.logger)
        target.log(_SEVERITY_TO_LOGGING.get(severity, _LOGGING_INFO), "%s", message)


class ProxyInfo:
    """Reach the mail server through a proxy (the reference's
    SOCK4ProxyInfo, SOCK5ProxyInfo, POP3ProxyInfo and SMTPProxyInfo are
    subclasses). Attach it with ``client.set_advanced_handler(proxy)`` or
    ``SMTPClient(proxy=...)``.

    ``kind`` is one of ``MW_PROXY_SOCKS4``, ``MW_PROXY_SOCKS4A``,
    ``MW_PROXY_SOCKS5``, ``MW_PROXY_HTTP`` (CONNECT), ``MW_PROXY_POP3`` or
    ``MW_PROXY_SMTP``. Port 0 means the kind's usual port (1080 for SOCKS,
    8080 for HTTP, 110/25 for the POP3/SMTP proxies). Through SOCKS and HTTP,
    TLS runs end to end and the certificate is checked against the mail
    server's name; ``remote_dns`` (SOCKS5, default True) lets the proxy
    resolve that name, so no local DNS lookup is made. Failures raise
    ``mailwire.ProxyError`` with the ``eexProxy*`` numbers.
    """

    _kind = None
    _free = staticmethod(_mw.mw_proxyinfo_free)

    def __init__(self, kind=None, server=None, port=0, *, user=None,
                 password=None, remote_dns=None):
        kind = self._kind if kind is None else kind
        if kind is None:
            raise TypeError("ProxyInfo needs a kind (MW_PROXY_SOCKS5, ...)")
        self._h = _mw.mw_proxyinfo_new(int(kind))
        if self._h is None:
            raise binding_error("eexInvalidArgument",
                                "Unknown proxy kind %r; use one of the "
                                "MW_PROXY_* constants." % (kind,))
        if server is not None:
            self.set_server(server, port)
        if user is not None:
            self.set_credentials(user, password)
        if remote_dns is not None:
            self.remote_dns = remote_dns

    def _check(self, rc):
        if rc:
            raise ErrorInfo(_mw.mwpy_errorinfo(
                _mw.mw_proxyinfo_extended_error(self._h))).exception()

    @property
    def kind(self):
        """The MW_PROXY_* kind."""
        return _mw.mw_proxyinfo_kind(self._h)

    def set_server(self, host, port=0):
        """The proxy's host name or address, and port (0: the usual one)."""
        self._check(_mw.mw_proxyinfo_set_server(
            self._h, _text(host, "proxy server"), int(port)))

    @property
    def server(self):
        """The proxy's host (None until set)."""
        return _mw.mw_proxyinfo_server(self._h)

    @server.setter
    def server(self, host):
        self.set_server(host, self.port)

    @property
    def port(self):
        """The proxy's port (the usual one for the kind when 0 was given)."""
        return _mw.mw_proxyinfo_port(self._h)

    @port.setter
    def port(self, port):
        self.set_server(self.server, port)

    def set_credentials(self, user, password=None):
        """User name and password for the proxy (None: none). SOCKS5:
        user/password (RFC 1929); SOCKS4: the user id; HTTP: Basic."""
        self._check(_mw.mw_proxyinfo_set_credentials(
            self._h, _text(user, "proxy user name"),
            _text(password, "proxy password")))

    @property
    def remote_dns(self):
        """SOCKS5: True when the proxy resolves the mail server's name."""
        return bool(_mw.mw_proxyinfo_remote_dns(self._h))

    @remote_dns.setter
    def remote_dns(self, remote):
        self._check(_mw.mw_proxyinfo_set_remote_dns(self._h, 1 if remote else 0))

    @property
    def extended_error(self):
        """The ErrorInfo of the last call on this ProxyInfo."""
        return ErrorInfo(_mw.mwpy_errorinfo(_mw.mw_proxyinfo_extended_error(self._h)))

    def _handle(self):
        return self._h

    def close(self):
        """Release the Python side's reference (a client using it keeps its
        own). Idempotent."""
        h, self._h = getattr(self, "_h", None), None
        if h is not None:
            self._free(h)

    def __del__(self):
        self.close()

    def __repr__(self):
        if self._h is None:
            return "<mailwire.%s closed>" % type(self).__name__
        return "<mailwire.%s %s:%d>" % (type(self).__name__, self.server, self.port)


class SOCK4ProxyInfo(ProxyInfo):
    """A SOCKS4 proxy (IPv4 only, the name resolved locally), or SOCKS4a
    (``socks4a=True`` or ``remote_dns=True``: the proxy resolves it)."""

    _kind = _mw.MW_PROXY_SOCKS4

    def __init__(self, server=None, port=0, *, user=None, password=None,
                 socks4a=False, remote_dns=None):
        kind = (_mw.MW_PROXY_SOCKS4A if socks4a or remote_dns
                else _mw.MW_PROXY_SOCKS4)
        super().__init__(kind, server, port, user=user, password=password)


class SOCK5ProxyInfo(ProxyInfo):
    """A SOCKS5 proxy (RFC 1928; no authentication or user/password)."""

    _kind = _mw.MW_PROXY_SOCKS5

    def __init__(self, server=None, port=0, *, user=None, password=None,
                 remote_dns=None):
        super().__init__(None, server, port, user=user, password=password,
                         remote_dns=remote_dns)


class HTTPProxyInfo(ProxyInfo):
    """An HTTP proxy that allows CONNECT to the mail port (Basic auth)."""

    _kind = _mw.MW_PROXY_HTTP

    def __init__(self, server=None, port=0, *, user=None, password=None):
        super().__init__(None, server, port, user=user, password=password)


class POP3ProxyInfo(ProxyInfo):
    """An application-level POP3 proxy: the client logs in to it as
    ``user@server`` and it connects on (TLS ends at the proxy)."""

    _kind = _mw.MW_PROXY_POP3

    def __init__(self, server=None, port=0):
        super().__init__(None, server, port)


class SMTPProxyInfo(ProxyInfo):
    """An SMTP relay: the client speaks SMTP to it (TLS ends at the relay)."""

    _kind = _mw.MW_PROXY_SMTP

    def __init__(self, server=None, port=0):
        super().__init__(None, server, port)


SOCKS4ProxyInfo = SOCK4ProxyInfo
SOCKS5ProxyInfo = SOCK5ProxyInfo
