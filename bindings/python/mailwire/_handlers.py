"""SSLInfo and LogHandler: the reference's advanced handlers."""

import re

from . import _mailwire as _mw
from ._errors import ErrorInfo, binding_error, describe, type_error

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
        raise type_error("The %s must be a string, not %s." % (what, describe(value)))
    if "\0" in value:
        raise binding_error("eexInvalidArgument",
                            "The %s contains a NUL character; remove it." % what)
    return value


# Names the rule below would split badly.
_SNAKE_EXCEPTIONS = {"SSLPeerSANs": "peer_sans"}
# Old Python names kept working (with a DeprecationWarning).
_DEPRECATED_OPTIONS = {"peer_sa_ns": "peer_sans"}


def _port(value):
    """A TCP port: a whole number 0..65535 (0: the usual one); the same
    refusal, with the same words, as the Lua binding."""
    if isinstance(value, bool) or not isinstance(value, int) \
            or not 0 <= value <= 65535:
        raise binding_error("eexInvalidArgument",
                            "The port must be a whole number from 0 to 65535 "
                            "(0: the usual port), not %s." % describe(value),
                            type_error=not isinstance(value, int))
    return value


def _whole(value, what, minimum=None):
    """A whole number (message numbers, line counts, sizes): the same
    refusal, with the same words, as the Lua binding."""
    if isinstance(value, bool) or not isinstance(value, int) \
            or (minimum is not None and value < minimum):
        raise binding_error("eexInvalidArgument",
                            "The %s must be a whole number%s, not %s."
                            % (what, "" if minimum is None else " >= %d" % minimum,
                               describe(value)),
                            type_error=not isinstance(value, int))
    return value


def _seconds(value):
    """A timeout: a number of seconds > 0, as in Lua."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not value > 0:
        raise binding_error("eexInvalidArgument",
                            "The timeout is a number of seconds > 0, not %s."
                            % describe(value),
                            type_error=not isinstance(value, (int, float)))
    return value


def _snake(name):
    """SSLNoServerNameCheck -> no_server_name_check, SSLCAFile -> ca_file."""
    if name in _SNAKE_EXCEPTIONS:
        return _SNAKE_EXCEPTIONS[name]
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


def option_order(indexes):
    """The order options given together are applied in, the same in every
    binding: by index, except that the client certificate is loaded last,
    after its password and directory (it is loaded when set)."""
    return sorted(indexes, key=lambda i: (i == _mw.SSLClientCertificateName, i))


class _OptionIndexer:
    """``ssl.option[i]``: the reference's Option(i) property."""

    __slots__ = ("_ssl",)

    def __init__(self, ssl):
        self._ssl = ssl

    def __getitem__(self, index):
        return self._ssl._get_option(index)

    def __setitem__(self, index, value):
        self._ssl._set_option(index, value)


_OPTION_BY_INDEX = {v: k for k, v in SSL_OPTIONS.items()}


def _option_index(index):
    if isinstance(index, bool) or not isinstance(index, int):
        raise type_error("An SSLInfo option index must be a number (such as "
                         "mailwire.SSLCAFile), not %s." % describe(index))
    return index


def _option_label(index):
    name = _OPTION_BY_INDEX.get(index)
    return "option %d" % index if name is None else \
        "option %d (%s=)" % (index, name)


class SSLInfo:
    """The parameters and results of a TLS connection (the reference's
    SSLInfo). Attach it with ``client.set_advanced_handler(ssl)`` or
    ``SMTPClient(ssl=...)``.

    ``mode`` is ``MODE_CHANNEL`` (implicit TLS, the default) or
    ``MODE_STARTTLS``. Options are read and written by index, as in the
    reference (``ssl.option[mailwire.SSLNoServerNameCheck] = True``), or
    given by name at construction (``SSLInfo(ca_file="ca.pem")``; the name of
    ``SSLCAFile`` is ``ca_file``, see ``SSL_OPTIONS``); those are applied by
    index, the client certificate last (after its password and directory),
    as in Lua. Array options (``SSLConnectionProtocolIn``) read back as a
    list. Output options (``SSLConnectionProtocolOut`` ...) describe the
    most recent handshake made with this SSLInfo; a client's own are
    ``client.tls_option[i]``. One SSLInfo may serve clients on many
    threads; its options cannot change while any of them is connected
    (``eexSSLConnected``).
    """

    _free = staticmethod(_mw.mw_sslinfo_free)

    def __init__(self, mode=_mw.MODE_CHANNEL, **options):
        self._h = _mw.mw_sslinfo_new()
        if self._h is None:
            raise MemoryError("mw_sslinfo_new")
        self.mode = mode
        given = {}
        for name, value in options.items():
            if name in _DEPRECATED_OPTIONS:
                import warnings
                warnings.warn("SSLInfo(%s=...) is deprecated; use %s="
                              % (name, _DEPRECATED_OPTIONS[name]),
                              DeprecationWarning, stacklevel=2)
                name = _DEPRECATED_OPTIONS[name]
            if name not in SSL_OPTIONS:
                raise type_error("SSLInfo has no setting '%s' (known: %s)."
                                 % (name, ", ".join(sorted(SSL_OPTIONS))))
            given[SSL_OPTIONS[name]] = value
        for index in option_order(given):
            self._set_option(index, given[index])

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
        index = _option_index(index)
        kind = _mw.mw_sslinfo_option_type(index)
        if kind == ord("s"):
            rc, value = _mw.mw_sslinfo_get_option_str(self._h, index)
        elif kind == ord("a"):
            rc, value = _mw.mw_sslinfo_get_option_array(self._h, index)
        else:
            rc, value = _mw.mw_sslinfo_get_option_int(self._h, index)
        self._check(rc)
        return bool(value) if kind == ord("b") else value

    def _set_option(self, index, value):
        index = _option_index(index)
        kind = _mw.mw_sslinfo_option_type(index)
        what = "value of %s" % _option_label(index)
        if kind == ord("s"):
            rc = _mw.mw_sslinfo_set_option_str(self._h, index, _text(value, what))
        elif kind == ord("a"):
            if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
                raise type_error("The %s must be a list of numbers, not %s."
                                 % (what, describe(value)))
            value = list(value)
            if not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
                raise type_error("The %s must be a list of numbers." % what)
            rc = _mw.mw_sslinfo_set_option_array(self._h, index, value)
        elif kind == ord("b"):
            if not isinstance(value, (bool, int)):
                raise type_error("The %s must be a boolean, not %s."
                                 % (what, describe(value)))
            rc = _mw.mw_sslinfo_set_option_int(self._h, index, 1 if value else 0)
        else:  # numbers, and unknown indexes (C says why)
            if isinstance(value, bool) or not isinstance(value, int):
                raise type_error("The %s must be a whole number, not %s."
                                 % (what, describe(value)))
            rc = _mw.mw_sslinfo_set_option_int(self._h, index, value)
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
            raise type_error("The log callback must be a function(severity, "
                             "facility, message), not %s." % describe(callback))
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
            raise type_error("ProxyInfo needs a kind (MW_PROXY_SOCKS5, ...).")
        self._h = _mw.mw_proxyinfo_new(int(kind))
        if self._h is None:
            raise binding_error("eexInvalidArgument",
                                "Unknown proxy kind %r; use one of the "
                                "MW_PROXY_* constants." % (kind,))
        if server is not None:
            self.set_server(server, port)
        if user is not None or password is not None:
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
            self._h, _text(host, "proxy server"), _port(port)))

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
    ``user@server`` and it connects on (TLS ends at the proxy). It takes no
    user or password of its own (InvalidArgumentError)."""

    _kind = _mw.MW_PROXY_POP3

    def __init__(self, server=None, port=0, *, user=None, password=None):
        super().__init__(None, server, port, user=user, password=password)


class SMTPProxyInfo(ProxyInfo):
    """An SMTP relay: the client speaks SMTP to it (TLS ends at the relay).
    It takes no user or password of its own (InvalidArgumentError)."""

    _kind = _mw.MW_PROXY_SMTP

    def __init__(self, server=None, port=0, *, user=None, password=None):
        super().__init__(None, server, port, user=user, password=password)


SOCKS4ProxyInfo = SOCK4ProxyInfo
SOCKS5ProxyInfo = SOCK5ProxyInfo
