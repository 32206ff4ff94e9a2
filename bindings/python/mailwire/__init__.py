"""mailwire: send mail over SMTP and retrieve it over POP3, secured with TLS,
with diagnostic logging and precise errors.

    import mailwire

    ssl = mailwire.SSLInfo(mailwire.MODE_STARTTLS)
    with mailwire.SMTPClient(server="mail.example.com", port=587, ssl=ssl,
                             user="me", password="secret") as smtp:
        smtp.send("me@example.com", ["you@example.com"], message_bytes)

    with mailwire.POP3Client(server="mail.example.com", ssl=mailwire.SSLInfo(),
                             user="me", password="secret") as pop:
        for msg in pop:
            print(msg.number, msg.size, pop.top(msg.number, 0))

Several messages over one connection, pipelined when the server offers
PIPELINING: SMTPClient.send_batch, POP3Client.retr_batch, top_batch,
dele_batch, list_batch and uidl_batch (a refusal raises, with the
per-message results in the exception's ``results``).

Objects and constants keep the names of the CSMail/SSL reference
(SSLInfo.option[SSLNoServerNameCheck], MODE_STARTTLS, LOG_S_*, LOG_F_*,
eex*, set_advanced_handler, extended_error). Failures raise subclasses of
mailwire.Error carrying the ErrorInfo (number, text, os_error, code,
reply_code, enhanced_status, server_text).

The protocols are implemented in C (libmailwire); network waits release
the GIL, so clients in different threads run in parallel.
"""

import re as _re

from . import _mailwire
from ._clients import (POP3BatchResult, POP3Client, POP3Message,
                       RecipientResult, SMTPBatchResult, SMTPClient)
from ._errors import (AbortedError, AuthError, CertificateError,
                      CertificateNameError, ConnectError, DNSError, Error,
                      ErrorInfo, InvalidArgumentError,
                      InvalidArgumentTypeError, MailTimeoutError,
                      NetworkError, NoMemoryError, NotConnectedError,
                      ProtocolError, ProxyError, ServerError, StateError,
                      TLSError, TLSHandshakeError, UnsupportedError,
                      error_class)
from ._handlers import (SSL_OPTIONS, HTTPProxyInfo, LoggingHandler,
                        LogHandler, POP3ProxyInfo, ProxyInfo, SMTPProxyInfo,
                        SOCK4ProxyInfo, SOCK5ProxyInfo, SOCKS4ProxyInfo,
                        SOCKS5ProxyInfo, SSLInfo)

__version__ = _mailwire.mw_version()

# The constants of mailwire.h, under their C names: MODE_*, SSL*, LOG_S_*,
# LOG_F_*, err*, eex*, MW_SEND_*, MW_PROXY_*.
_CONSTANT = _re.compile(
    r"^(MODE_|SSL|LOG_[SF]_|err|eex|MW_OK$|MW_SEND_|MW_VERSION_|MW_PROXY_)")
CONSTANTS = {
    name: getattr(_mailwire, name)
    for name in dir(_mailwire)
    if _CONSTANT.match(name) and isinstance(getattr(_mailwire, name), int)
}
globals().update(CONSTANTS)
eexSSLLibrary = CONSTANTS["eexSSLW32"]  # the header's neutral alias
CONSTANTS["eexSSLLibrary"] = eexSSLLibrary

__all__ = [
    "SMTPClient", "POP3Client", "POP3Message", "RecipientResult",
    "SMTPBatchResult", "POP3BatchResult", "SSLInfo",
    "LogHandler", "LoggingHandler", "SSL_OPTIONS", "ProxyInfo",
    "SOCK4ProxyInfo", "SOCK5ProxyInfo", "SOCKS4ProxyInfo", "SOCKS5ProxyInfo",
    "HTTPProxyInfo", "POP3ProxyInfo", "SMTPProxyInfo", "ErrorInfo", "Error",
    "ConnectError", "DNSError", "NetworkError", "MailTimeoutError",
    "AuthError", "ServerError", "ProtocolError", "TLSError",
    "TLSHandshakeError", "CertificateError", "CertificateNameError",
    "ProxyError", "InvalidArgumentError", "InvalidArgumentTypeError",
    "NotConnectedError", "StateError",
    "UnsupportedError", "AbortedError", "NoMemoryError", "error_class",
    "CONSTANTS",
] + sorted(CONSTANTS)

for _name in __all__:  # show exceptions and classes as mailwire.X
    _obj = globals()[_name]
    if isinstance(_obj, type) and _obj.__module__.startswith("mailwire."):
        _obj.__module__ = "mailwire"
del _name, _obj
