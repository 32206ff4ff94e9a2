"""Type stubs of mailwire (see the module docstring and help())."""

import email.message
import logging
from typing import (IO, Any, Callable, Dict, Iterable, Iterator, List,
                    NamedTuple, Optional, Sequence, Tuple, Union, overload)

__version__: str

Message = Union[bytes, bytearray, memoryview, str, email.message.Message,
                IO[bytes], IO[str], Iterable[bytes], Callable[[int], bytes]]
Sink = Union[IO[bytes], Callable[[bytes], Any]]
LogTarget = Union["LogHandler", logging.Logger, Callable[[int, int, str], Any]]

class ErrorInfo:
    code: int
    number: int
    text: str
    os_error: int
    os_error_text: str
    reply_code: int
    enhanced_status: str
    server_text: str
    verify_result: int
    @property
    def name(self) -> str: ...
    def exception(self) -> "Error": ...

class Error(Exception):
    # Every error has it: List[RecipientResult] on a send() refusal,
    # List[SMTPBatchResult] / List[POP3BatchResult] on the batch calls,
    # empty on the others.
    results: List[Any]
    number: int
    text: str
    os_error: int
    os_error_text: str
    code: int
    reply_code: int
    enhanced_status: str
    server_text: str
    verify_result: int
    def __init__(self, number: int, text: str, os_error: int = ...,
                 code: Optional[int] = ..., enhanced_status: str = ...,
                 server_text: str = ..., reply_code: int = ...,
                 verify_result: int = ..., os_error_text: str = ...) -> None: ...
    @property
    def name(self) -> str: ...

class ConnectError(Error, ConnectionError): ...
class DNSError(ConnectError): ...
class NetworkError(Error, ConnectionError): ...
class MailTimeoutError(Error, TimeoutError): ...
class AuthError(Error): ...
class ServerError(Error): ...
class ProtocolError(Error): ...
class TLSError(Error): ...
class TLSHandshakeError(TLSError, ConnectError): ...
class CertificateError(TLSHandshakeError): ...
class CertificateNameError(CertificateError): ...
class ProxyError(Error): ...
class InvalidArgumentError(Error, ValueError): ...
class InvalidArgumentTypeError(InvalidArgumentError, TypeError): ...
class NotConnectedError(Error): ...
class StateError(Error): ...
class UnsupportedError(Error): ...
class AbortedError(Error): ...
class NoMemoryError(Error, MemoryError): ...

def error_class(code: int, number: int) -> type: ...

CONSTANTS: Dict[str, int]
SSL_OPTIONS: Dict[str, int]

class _OptionIndexer:
    def __getitem__(self, index: int) -> Union[bool, int, str, List[int], None]: ...
    def __setitem__(self, index: int, value: Union[bool, int, str, Sequence[int]]) -> None: ...

class SSLInfo:
    def __init__(self, mode: int = ..., **options: Any) -> None: ...
    mode: int
    @property
    def option(self) -> _OptionIndexer: ...
    @property
    def protocol_name(self) -> Optional[str]: ...
    @property
    def cipher_name(self) -> Optional[str]: ...
    @property
    def peer_subject(self) -> Optional[str]: ...
    @property
    def peer_issuer(self) -> Optional[str]: ...
    @property
    def extended_error(self) -> ErrorInfo: ...
    def close(self) -> None: ...

class LogHandler:
    level: int
    facility_flags: int
    def __init__(self, callback: Optional[Callable[[int, int, str], Any]] = ...,
                 level: int = ..., facility_flags: int = ...) -> None: ...
    def on_log_message(self, severity: int, facility: int, message: str) -> None: ...
    def log(self, severity: int, message: str) -> None: ...
    def close(self) -> None: ...

class LoggingHandler(LogHandler):
    logger: logging.Logger
    def __init__(self, logger: Union[logging.Logger, str, None] = ...,
                 level: int = ..., facility_flags: int = ...) -> None: ...

class ProxyInfo:
    server: Optional[str]
    port: int
    remote_dns: bool
    def __init__(self, kind: Optional[int] = ..., server: Optional[str] = ..., port: int = ..., *,
                 user: Optional[str] = ..., password: Optional[str] = ...,
                 remote_dns: Optional[bool] = ...) -> None: ...
    @property
    def kind(self) -> int: ...
    def set_server(self, host: str, port: int = ...) -> None: ...
    def set_credentials(self, user: Optional[str], password: Optional[str] = ...) -> None: ...
    @property
    def extended_error(self) -> ErrorInfo: ...
    def close(self) -> None: ...

class SOCK4ProxyInfo(ProxyInfo):
    def __init__(self, server: Optional[str] = ..., port: int = ..., *,
                 user: Optional[str] = ..., password: Optional[str] = ...,
                 socks4a: bool = ..., remote_dns: Optional[bool] = ...) -> None: ...

class SOCK5ProxyInfo(ProxyInfo):
    def __init__(self, server: Optional[str] = ..., port: int = ..., *,
                 user: Optional[str] = ..., password: Optional[str] = ...,
                 remote_dns: Optional[bool] = ...) -> None: ...

class HTTPProxyInfo(ProxyInfo):
    def __init__(self, server: Optional[str] = ..., port: int = ..., *,
                 user: Optional[str] = ..., password: Optional[str] = ...) -> None: ...

class POP3ProxyInfo(ProxyInfo):
    # user/password are refused (InvalidArgumentError): the client's own
    # credentials go through the proxy.
    def __init__(self, server: Optional[str] = ..., port: int = ..., *,
                 user: None = ..., password: None = ...) -> None: ...

class SMTPProxyInfo(ProxyInfo):
    def __init__(self, server: Optional[str] = ..., port: int = ..., *,
                 user: None = ..., password: None = ...) -> None: ...

SOCKS4ProxyInfo = SOCK4ProxyInfo
SOCKS5ProxyInfo = SOCK5ProxyInfo

class RecipientResult(NamedTuple):
    address: Optional[str]
    code: int
    enhanced_status: str
    text: str

class POP3Message(NamedTuple):
    number: int
    size: int
    uid: Optional[str]

class SMTPBatchResult(NamedTuple):
    """One message of send_batch: code 250 accepted, 0 not acknowledged."""
    code: int
    enhanced_status: str
    text: str
    recipients: List[RecipientResult]
    @property
    def ok(self) -> bool: ...

class POP3BatchResult(NamedTuple):
    """One message of a POP3 batch: status MW_OK, errServer (-ERR),
    errNotConnected (not answered) or errAborted."""
    number: Optional[int]
    status: int
    text: str
    value: Union[bytes, int, str, None]
    @property
    def ok(self) -> bool: ...

# A message of send_batch: (from_addr, to_addrs, message), a dict with
# "from"/"to"/"data" (or "from_addr"/"to_addrs"/"message"), or an
# email.message.Message.
BatchMessage = Union[Tuple[str, Union[str, Sequence[str]], Message],
                     Dict[str, Any], email.message.Message]
# into= of retr_batch/top_batch: into(number, chunk), chunk None at the end
# of each message.
BatchSink = Callable[[int, Optional[bytes]], Any]

class _TLSOptionReader:
    def __getitem__(self, index: int) -> Union[int, bool, str]: ...

class _Client:
    server: Optional[str]
    port: int
    timeout: float
    reply_timeout: float
    operation_timeout: float
    low_speed_limit: int
    auth_mechanism: Optional[str]
    allow_plaintext_auth: bool
    ssl: Optional[SSLInfo]
    log_handler: Optional[LogHandler]
    proxy: Optional[ProxyInfo]
    @property
    def user(self) -> Optional[str]: ...
    @property
    def extended_error(self) -> ErrorInfo: ...
    @property
    def is_connected(self) -> bool: ...
    @property
    def is_secure(self) -> bool: ...
    @property
    def auth_mechanism_used(self) -> Optional[str]: ...
    @property
    def tls_option(self) -> _TLSOptionReader: ...
    @property
    def capabilities(self) -> List[str]: ...
    def set_server(self, server: str, port: int = ...) -> None: ...
    def set_credentials(self, user: Optional[str], password: Optional[str]) -> None: ...
    def set_advanced_handler(self, handler: Union[SSLInfo, ProxyInfo, LogTarget]) -> Union[SSLInfo, ProxyInfo, LogHandler]: ...
    def clear_handlers(self) -> None: ...
    def noop(self) -> None: ...
    def rset(self) -> None: ...
    def quit(self) -> None: ...
    def disconnect(self) -> None: ...
    def cancel(self) -> None: ...
    def close(self) -> None: ...

class SMTPClient(_Client):
    helo_name: Optional[str]
    allow_partial: bool
    pipelining: bool
    chunking: bool
    def __init__(self, server: Optional[str] = ..., port: int = ..., *,
                 timeout: Optional[float] = ..., ssl: Union[SSLInfo, int, None] = ...,
                 user: Optional[str] = ..., password: Optional[str] = ...,
                 auth_mechanism: Optional[str] = ..., helo_name: Optional[str] = ...,
                 allow_plaintext_auth: bool = ..., allow_partial: bool = ...,
                 log_handler: Optional[LogTarget] = ...,
                 proxy: Optional[ProxyInfo] = ..., pipelining: bool = ...,
                 chunking: bool = ..., reply_timeout: Optional[float] = ...,
                 operation_timeout: Optional[float] = ...,
                 low_speed_limit: Optional[int] = ...) -> None: ...
    def connect(self, server: Optional[str] = ..., port: Optional[int] = ...) -> "SMTPClient": ...
    def __enter__(self) -> "SMTPClient": ...
    # Left normally: QUIT, then close; left by an exception: close only.
    def __exit__(self, *exc: Any) -> None: ...
    def has_extension(self, keyword: str) -> bool: ...
    def extension_params(self, keyword: str) -> Optional[str]: ...
    @property
    def last_reply_code(self) -> int: ...
    @property
    def last_reply_text(self) -> str: ...
    @property
    def recipient_results(self) -> List[RecipientResult]: ...
    def send(self, from_addr: str, to_addrs: Union[str, Sequence[str]], message: Message, *,
             size_hint: int = ..., eight_bit: bool = ...) -> List[RecipientResult]: ...
    def send_message(self, msg: email.message.Message, from_addr: Optional[str] = ...,
                     to_addrs: Optional[Sequence[str]] = ..., **kwargs: Any) -> List[RecipientResult]: ...
    def send_batch(self, messages: Iterable[BatchMessage]) -> List[SMTPBatchResult]:
        """Raises ServerError (with .results: List[SMTPBatchResult]) when a
        message or recipient was refused; other errors carry .results too."""
    @property
    def batch_results(self) -> List[SMTPBatchResult]: ...

class POP3Client(_Client):
    max_message_size: Optional[int]
    pipelining: bool
    def __init__(self, server: Optional[str] = ..., port: int = ..., *,
                 timeout: Optional[float] = ..., ssl: Union[SSLInfo, int, None] = ...,
                 user: Optional[str] = ..., password: Optional[str] = ...,
                 auth_mechanism: Optional[str] = ..., allow_plaintext_auth: bool = ...,
                 max_message_size: Optional[int] = ...,
                 log_handler: Optional[LogTarget] = ...,
                 proxy: Optional[ProxyInfo] = ..., pipelining: bool = ...,
                 reply_timeout: Optional[float] = ...,
                 operation_timeout: Optional[float] = ...,
                 low_speed_limit: Optional[int] = ...) -> None: ...
    def connect(self, server: Optional[str] = ..., port: Optional[int] = ...) -> "POP3Client": ...
    def __enter__(self) -> "POP3Client": ...
    # Left normally: QUIT (deletions committed), then close; left by an
    # exception: close only (nothing deleted).
    def __exit__(self, *exc: Any) -> None: ...
    def __iter__(self) -> Iterator[POP3Message]: ...
    def __len__(self) -> int: ...
    def has_capability(self, keyword: str) -> bool: ...
    def capability_params(self, keyword: str) -> Optional[str]: ...
    @property
    def last_reply_text(self) -> str: ...
    def stat(self) -> Tuple[int, int]: ...
    @overload
    def list(self, number: None = ...) -> List[Tuple[int, int]]: ...
    @overload
    def list(self, number: int) -> int: ...
    @overload
    def uidl(self, number: None = ...) -> List[Tuple[int, str]]: ...
    @overload
    def uidl(self, number: int) -> str: ...
    @overload
    def retr(self, number: int, into: None = ...) -> bytes: ...
    @overload
    def retr(self, number: int, into: Sink) -> None: ...
    @overload
    def top(self, number: int, lines: int, into: None = ...) -> bytes: ...
    @overload
    def top(self, number: int, lines: int, into: Sink) -> None: ...
    def dele(self, number: int) -> None: ...
    def messages(self) -> List[POP3Message]: ...
    # The batch calls raise ServerError when some message got -ERR (the
    # others were done), or the error that ended the batch; the exception's
    # .results is a List[POP3BatchResult], as batch_results.
    @overload
    def retr_batch(self, numbers: Iterable[int], into: None = ...) -> List[bytes]: ...
    @overload
    def retr_batch(self, numbers: Iterable[int], into: BatchSink) -> None: ...
    @overload
    def top_batch(self, numbers: Iterable[int], lines: int, into: None = ...) -> List[bytes]: ...
    @overload
    def top_batch(self, numbers: Iterable[int], lines: int, into: BatchSink) -> None: ...
    def dele_batch(self, numbers: Iterable[int]) -> None: ...
    def list_batch(self, numbers: Iterable[int]) -> List[int]: ...
    def uidl_batch(self, numbers: Iterable[int]) -> List[str]: ...
    @property
    def batch_results(self) -> List[POP3BatchResult]: ...

# Constants of mailwire.h (MODE_*, SSL*, LOG_S_*, LOG_F_*, err*, eex*, MW_*).
LOG_F_ALL: int
LOG_F_PROTOCOL: int
LOG_F_PROXY: int
LOG_F_SSL: int
LOG_F_USER: int
LOG_S_FATAL: int
LOG_S_INFORMATION: int
LOG_S_WARNING: int
MODE_CHANNEL: int
MODE_STARTTLS: int
MW_OK: int
MW_SEND_8BIT: int
MW_SEND_SMTPUTF8: int
MW_SEND_BINARYMIME: int
MW_PROXY_SOCKS4: int
MW_PROXY_SOCKS4A: int
MW_PROXY_SOCKS5: int
MW_PROXY_HTTP: int
MW_PROXY_POP3: int
MW_PROXY_SMTP: int
MW_PROXY_SOCK4: int
MW_PROXY_SOCK5: int
MW_VERSION_MAJOR: int
MW_VERSION_MINOR: int
MW_VERSION_PATCH: int
SSLCAFile: int
SSLCAPath: int
SSLCRLFile: int
SSLCipherStrength: int
SSLClientCertificateDir: int
SSLClientCertificateName: int
SSLClientCertificatePassword: int
SSLConfidentiality: int
SSLConnectionCipherIn: int
SSLConnectionCipherName: int
SSLConnectionCipherOut: int
SSLConnectionProtocolIn: int
SSLConnectionProtocolName: int
SSLConnectionProtocolOut: int
SSLExchange: int
SSLExchangeGroupName: int
SSLExchangeStrength: int
SSLHash: int
SSLHashStrength: int
SSLMaxCipherStrength: int
SSLMinCipherStrength: int
SSLNoServerCertificateValidation: int
SSLNoServerNameCheck: int
SSLPeerCertificatePEM: int
SSLPeerChainPEM: int
SSLPeerFingerprintSHA256: int
SSLPeerIssuer: int
SSLPeerNotAfter: int
SSLPeerNotBefore: int
SSLPeerSANs: int
SSLPeerSerial: int
SSLPeerSubject: int
SSLPinnedPublicKey: int
SSLRevocationCheckAll: int
SSLRevocationCheckEnd: int
SSLRevocationDetail: int
SSLRevocationExcludeRoot: int
SSLRevocationIgnoreNRC: int
SSLRevocationIgnoreRO: int
SSLRevocationStatus: int
SSLRevocationTimeout: int
SSLServerName: int
SSLSessionResumed: int
SSL_3DES: int
SSL_AEAD: int
SSL_AES: int
SSL_AES_128: int
SSL_AES_128_GCM: int
SSL_AES_256: int
SSL_AES_256_GCM: int
SSL_CHACHA20: int
SSL_DES: int
SSL_DH: int
SSL_ECDH: int
SSL_ECDHE: int
SSL_MD5: int
SSL_NONE: int
SSL_PCT1: int
SSL_RC2: int
SSL_RC4: int
SSL_REVOCATION_GOOD: int
SSL_REVOCATION_INVALID: int
SSL_REVOCATION_NOT_CHECKED: int
SSL_REVOCATION_OFFLINE: int
SSL_REVOCATION_REVOKED: int
SSL_REVOCATION_UNKNOWN: int
SSL_RSA: int
SSL_SHA: int
SSL_SHA256: int
SSL_SHA384: int
SSL_SHA512: int
SSL_SKIPJACK: int
SSL_SSL2: int
SSL_SSL3: int
SSL_TLS1: int
SSL_TLS1_1: int
SSL_TLS1_2: int
SSL_TLS1_3: int
SSL_X25519: int
SSL_X448: int
eexAborted: int
eexAuthNoMechanism: int
eexAuthPlaintext: int
eexDNS: int
eexInvalidArgument: int
eexLineTooLong: int
eexMalformedReply: int
eexMessageTooLarge: int
eexNoExtended: int
eexNoMemory: int
eexNone: int
eexNotConnected: int
eexNotImplemented: int
eexPopServer: int
eexProxyAuthfailed: int
eexProxyAuthnologon: int
eexProxyAuthrequired: int
eexProxyAuthtypeunknown: int
eexProxyException: int
eexProxyNoconn: int
eexProxyRequestfailed: int
eexProxyServerclosedport: int
eexProxySocketerror: int
eexProxyUnexpecteddefault: int
eexSSLCertName: int
eexSSLCertificate: int
eexSSLConfig: int
eexSSLConnected: int
eexSSLInjection: int
eexSSLInsecure: int
eexSSLLibrary: int
eexSSLNocontext: int
eexSSLProtocol: int
eexSSLStartTLSRefused: int
eexSSLStartTLSUnavailable: int
eexSSLW32: int
eexServerClosed: int
eexSmtpServer: int
eexSocket: int
eexSocketRx: int
eexSocketTx: int
eexState: int
eexTCPConnect: int
eexTimeout: int
eexUTF8Unsupported: int
eexBinaryMIMEUnsupported: int
eexForked: int
errAborted: int
errAuth: int
errConnect: int
errInvalidArgument: int
errNetwork: int
errNoMemory: int
errNotConnected: int
errProtocol: int
errProxy: int
errServer: int
errState: int
errTLS: int
errTimeout: int
errUnsupported: int
