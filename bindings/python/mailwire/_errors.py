"""Exceptions of mailwire, chosen from the ErrorInfo the C library leaves.

The tables of base codes and extended numbers come from the X-macros of
mailwire.h (through the glue's mwpy_error_tables), so nothing here repeats a
number: classes are mapped by the symbolic names of the header.
"""

from . import _mailwire as _mw

__all__ = [
    "Error", "ConnectError", "DNSError", "NetworkError", "MailTimeoutError",
    "AuthError", "ServerError", "ProtocolError", "TLSError",
    "TLSHandshakeError", "CertificateError", "CertificateNameError",
    "ProxyError", "InvalidArgumentError", "InvalidArgumentTypeError",
    "NotConnectedError", "StateError",
    "UnsupportedError", "AbortedError", "NoMemoryError", "ErrorInfo",
]

# (name, code, text) and (name, number, base code, text), from mailwire.h.
BASE_ERRORS, EXTENDED_ERRORS = _mw.mwpy_error_tables()
_BASE_CODE = {name: code for name, code, _ in BASE_ERRORS}
_EEX_NUMBER = {name: number for name, number, _, _ in EXTENDED_ERRORS}
_EEX_NAME = {number: name for name, number, _, _ in EXTENDED_ERRORS}


class Error(Exception):
    """A mailwire failure: the ErrorInfo of the call that failed.

    Attributes:
        number: the extended error number (``eexDNS``, ``eexSmtpServer`` ...),
            the reference's ErrorInfo.Number.
        text: a sentence saying what went wrong and what to check.
        os_error: errno, or the OpenSSL error code for TLS failures (0 if none).
        code: the base error code (``errConnect``, ``errServer`` ...).
        reply_code: for server refusals, the SMTP reply code (POP3 -ERR is -1);
            else 0.
        enhanced_status: the RFC 3463 status of an SMTP refusal ("5.7.8"), or "".
        server_text: what the server said when it refused, or "".
        verify_result: OpenSSL's X509_V_* result for certificate failures, or 0.
        results: what the call had done per recipient (send) or message
            (the batch calls); else empty.
    """

    def __init__(self, number, text, os_error=0, code=None,
                 enhanced_status="", server_text="", reply_code=0,
                 verify_result=0):
        super().__init__(number, text)
        self.number = number
        self.text = text
        self.os_error = os_error
        self.code = _mw.mw_eex_base(number) if code is None else code
        self.enhanced_status = enhanced_status
        self.server_text = server_text
        self.reply_code = reply_code
        self.verify_result = verify_result
        # What the call had done per recipient or message: RecipientResults
        # for send(), SMTPBatchResults / POP3BatchResults for the batch
        # calls; empty for other calls.
        self.results = []
        if isinstance(self, OSError):  # errno is the OS's, not ours
            self.errno = os_error or None
            self.strerror = text

    @property
    def name(self):
        """The symbolic name of number, such as ``"eexDNS"``."""
        return _EEX_NAME.get(self.number, "eexUnknown")

    def __str__(self):
        s = "%s [%s %d]" % (self.text, self.name, self.number)
        if self.server_text:
            s += " (server: %s)" % self.server_text
        return s

    def __repr__(self):
        return "%s(%d, %r)" % (type(self).__name__, self.number, self.text)


class ConnectError(Error, ConnectionError):
    """The connection could not be made or secured (errConnect)."""


class DNSError(ConnectError):
    """The server or proxy name is not in the DNS (eexDNS)."""


class NetworkError(Error, ConnectionError):
    """The network failed, or the server closed, while connected (errNetwork)."""


class MailTimeoutError(Error, TimeoutError):
    """The server did not answer in time (errTimeout). Also a TimeoutError."""


class AuthError(Error):
    """Authentication failed or could not be attempted safely (errAuth)."""


class ServerError(Error):
    """The server refused a command (errServer): see reply_code,
    enhanced_status and server_text."""


class ProtocolError(Error):
    """The server broke the protocol (errProtocol)."""


class TLSError(Error):
    """TLS failed (errTLS), e.g. STARTTLS not offered or refused."""


class TLSHandshakeError(TLSError, ConnectError):
    """The TLS handshake failed while connecting: also a ConnectError."""


class CertificateError(TLSHandshakeError):
    """The server's certificate is not trusted (eexSSLCertificate); see
    verify_result."""


class CertificateNameError(CertificateError):
    """The certificate is not for the host connected to (eexSSLCertName)."""


class ProxyError(Error):
    """The proxy failed or refused (errProxy)."""


class InvalidArgumentError(Error, ValueError):
    """An argument was refused before anything was sent (errInvalidArgument).
    Also a ValueError."""


class InvalidArgumentTypeError(InvalidArgumentError, TypeError):
    """An argument of the wrong type (a number where an address goes, a
    string where a port goes): an InvalidArgumentError that is also a
    TypeError."""


class NotConnectedError(Error):
    """The client is not connected (errNotConnected)."""


class StateError(Error):
    """Not allowed in the current state (errState)."""


class UnsupportedError(Error):
    """Not supported by the server or by mailwire (errUnsupported)."""


class AbortedError(Error):
    """The operation was cancelled (errAborted)."""


class NoMemoryError(Error, MemoryError):
    """Out of memory (errNoMemory)."""


# Chosen by extended number first, then by base code. Names, not numbers.
_BY_NUMBER_NAME = {
    "eexDNS": DNSError,
    "eexSSLCertificate": CertificateError,
    "eexSSLCertName": CertificateNameError,
    "eexSSLProtocol": TLSError,
    "eexSSLW32": TLSError,
    "eexSSLStartTLSUnavailable": TLSError,
    "eexSSLStartTLSRefused": TLSError,
    "eexSSLInjection": TLSError,
}
_BY_CODE_NAME = {
    "errConnect": ConnectError,
    "errAuth": AuthError,
    "errServer": ServerError,
    "errProtocol": ProtocolError,
    "errTimeout": MailTimeoutError,
    "errNotConnected": NotConnectedError,
    "errInvalidArgument": InvalidArgumentError,
    "errTLS": TLSError,
    "errProxy": ProxyError,
    "errNetwork": NetworkError,
    "errNoMemory": NoMemoryError,
    "errAborted": AbortedError,
    "errState": StateError,
    "errUnsupported": UnsupportedError,
}
_BY_NUMBER = {_EEX_NUMBER[n]: c for n, c in _BY_NUMBER_NAME.items()}
_BY_CODE = {_BASE_CODE[n]: c for n, c in _BY_CODE_NAME.items()}
_ERR_CONNECT = _BASE_CODE["errConnect"]


def error_class(code, number):
    """The exception class for a base code and an extended number."""
    cls = _BY_NUMBER.get(number)
    if cls is None:
        return _BY_CODE.get(code, Error)
    if cls is TLSError and code == _ERR_CONNECT:
        return TLSHandshakeError  # failed while connecting
    return cls


class ErrorInfo:
    """A snapshot of a handle's ErrorInfo (the reference's ExtendedError).

    Same attributes as :class:`Error`; ``number`` is ``eexNone`` (0) after a
    success.
    """

    __slots__ = ("code", "number", "text", "os_error", "reply_code",
                 "enhanced_status", "server_text", "verify_result", "_cls")

    def __init__(self, record):
        (self.code, self.number, self.text, self.os_error, self.reply_code,
         self.enhanced_status, self.server_text, self.verify_result) = record
        self.text = option_names(self.text)

    @classmethod
    def of(cls, e):
        """The ErrorInfo an Error carries (for the binding's own refusals,
        which reach extended_error this way)."""
        info = cls((e.code, e.number, e.text, e.os_error, e.reply_code,
                    e.enhanced_status, e.server_text, e.verify_result))
        info._cls = type(e)
        return info

    @property
    def name(self):
        return _EEX_NAME.get(self.number, "eexUnknown")

    def exception(self):
        """The exception this ErrorInfo raises."""
        cls = getattr(self, "_cls", None) or error_class(self.code, self.number)
        return cls(self.number, self.text, self.os_error, self.code,
                   self.enhanced_status, self.server_text, self.reply_code,
                   self.verify_result)

    def __repr__(self):
        return "ErrorInfo(%s %d, %r)" % (self.name, self.number, self.text)


def raise_for(errorinfo_ptr):
    """Raise the exception that a handle's ErrorInfo describes."""
    raise ErrorInfo(_mw.mwpy_errorinfo(errorinfo_ptr)).exception()


def binding_error(eex_name, text, type_error=False):
    """An exception raised by the binding itself, for an extended number
    given by name (e.g. NUL in an argument, which C cannot see). With
    type_error, an InvalidArgumentTypeError (also a TypeError)."""
    number = _EEX_NUMBER[eex_name]
    code = _mw.mw_eex_base(number)
    cls = InvalidArgumentTypeError if type_error else error_class(code, number)
    e = cls(number, text, code=code)
    e._binding = True
    return e


def type_error(text):
    """A wrong type refused by the binding: errInvalidArgument,
    eexInvalidArgument, as InvalidArgumentTypeError."""
    return binding_error("eexInvalidArgument", text, type_error=True)


def describe(value):
    """A value as the bindings' messages show it: strings in double quotes,
    else the value itself (the same words from Python and Lua)."""
    if isinstance(value, str):
        return '"%s"' % value
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return "a " + type(value).__name__


_OPTION_NAMES = None
_OPTION_WORD = None


def option_names(text):
    """Error texts of the library name SSLInfo options by their constants
    (SSLCAFile); say at the end which name scripts give them: "... (By
    name: SSLCAFile is ca_file=.)". The library's text stays whole, the
    same as from C."""
    global _OPTION_NAMES, _OPTION_WORD
    if not text or "SSL" not in text:
        return text
    if _OPTION_NAMES is None:
        import re
        from ._handlers import SSL_OPTIONS
        by_index = {v: k for k, v in SSL_OPTIONS.items()}
        _OPTION_NAMES = {c: by_index[getattr(_mw, c)] for c in dir(_mw)
                         if re.match(r"^SSL[A-Z][A-Za-z0-9]*$", c)
                         and getattr(_mw, c) in by_index}
        _OPTION_WORD = re.compile(r"\bSSL[A-Z][A-Za-z0-9]*\b")
    seen = []
    for word in _OPTION_WORD.findall(text):
        if word in _OPTION_NAMES and word not in seen:
            seen.append(word)
    if not seen:
        return text
    return "%s (By name: %s.)" % (text, ", ".join(
        "%s is %s=" % (w, _OPTION_NAMES[w]) for w in seen))
