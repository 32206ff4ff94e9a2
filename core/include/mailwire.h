/*
 * mailwire.h - the one public header of mailwire.
 *
 * mailwire sends mail over SMTP and retrieves it over POP3, secured with
 * TLS (implicit, or STARTTLS/STLS), with diagnostic logging and precise
 * errors. Its object model is that of the CSMail/SSL reference manual:
 *
 *   reference            C
 *   SMTPClient           mw_smtp *
 *   POP3Client           mw_pop3 *
 *   SSLInfo              mw_sslinfo *
 *   LogHandler           mw_loghandler *
 *   SOCK4ProxyInfo ...   mw_proxyinfo * of a kind (MW_PROXY_*)
 *   ErrorInfo            const mw_errorinfo *
 *   SetAdvancedHandler   mw_smtp_set_handler / mw_pop3_set_handler
 *   ExtendedError        mw_smtp_extended_error / mw_pop3_extended_error
 *
 * Conventions
 * - Every handle is opaque, made by mw_X_new() and released by mw_X_free()
 *   (NULL-safe). SSLInfo, LogHandler and ProxyInfo are reference counted: a
 *   client that holds one keeps it alive after the caller frees its own
 *   reference.
 * - Every fallible call returns a base error code (MW_OK is 0, see mw_err)
 *   and leaves the details in the handle's ErrorInfo until the next call.
 * - Strings are NUL-terminated UTF-8 unless a length is given. Strings
 *   returned by the library are owned by the handle and stay valid until the
 *   next call on that handle (exceptions are said where they apply).
 *
 * Threads
 * - A client (mw_smtp, mw_pop3) is used by one thread at a time; different
 *   clients run in parallel on any threads. mw_X_cancel may be called from
 *   any thread.
 * - An SSLInfo, LogHandler or ProxyInfo may be shared by any number of
 *   clients on any threads (their reference counts are atomic).
 * - SSLInfo: its configuration (mode, input options, verification
 *   callback) cannot change while any client using it is connected:
 *   setters fail with errState/eexSSLConnected, so set it up first. The
 *   session cache (resumption) is shared, under the SSLInfo's lock. What a
 *   handshake produced (the output options 20..39, SSLRevocationStatus,
 *   SSLRevocationDetail) belongs to the connection: read it from the client
 *   with mw_smtp_tls_option_int/str or mw_pop3_tls_option_int/str. Read from
 *   the SSLInfo, an output is that of the most recent handshake completed
 *   with it by any client (for the revocation outputs: also refused); it is
 *   cleared when a client starts connecting while no other client using the
 *   SSLInfo is connected, which for one client is the reference's "last
 *   connection". The SSLInfo's own calls may come from any thread (each
 *   runs under its lock); mw_sslinfo_extended_error gives the calling
 *   thread's record of its last call on an SSLInfo, which other threads
 *   never change (read it before this thread calls another SSLInfo).
 * - ProxyInfo: a client takes a copy of its settings when it connects, so a
 *   change applies to the next connection. LogHandler: level and facility
 *   changes apply to the next message.
 * - A LogHandler's callback (and an SSLInfo's verification callback) is
 *   called on the thread of the client that logs, so from several threads
 *   at once when clients on several threads share it: make it thread-safe.
 *   The Python binding calls Python with the GIL held (messages are never
 *   dropped); a Lua state is never shared between threads, so in Lua the
 *   clients of one state share handlers on that state's thread only.
 *
 * fork()
 * - A client made before fork() belongs to the parent: in the child every
 *   call on it fails with errState/eexForked, mw_X_is_connected is 0, and
 *   mw_X_free / mw_X_disconnect only release the child's memory and its
 *   copy of the socket, never writing to the connection (no TLS
 *   close_notify, no QUIT), so the parent's session goes on. An SSLInfo,
 *   LogHandler or ProxyInfo copied into the child works for new clients
 *   made there; the parent's connected clients do not count in the child.
 *   As POSIX says of threaded programs, fork() while another thread is in
 *   the middle of a call on the same SSLInfo or ProxyInfo may leave its
 *   lock held in the child: fork when no other thread is connecting with
 *   them (a pool that forks its workers first is fine).
 */
#ifndef MAILWIRE_H
#define MAILWIRE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define MW_EXTERN __attribute__((visibility("default")))
#else
#define MW_EXTERN
#endif

#define MW_VERSION_MAJOR 0
#define MW_VERSION_MINOR 1
#define MW_VERSION_PATCH 0
#define MW_VERSION_STRING "0.1.0"

MW_EXTERN const char *mw_version(void);

/* ------------------------------------------------------------------------
 * Base error codes (the reference's "VB error"). A broad category: what
 * kind of thing went wrong. The ErrorInfo says exactly what.
 * Never renumbered; new codes are added at the end.
 * ---------------------------------------------------------------------- */
#define MW_BASE_ERROR_MAP(X)                                                  \
  X(MW_OK, 0, "OK", "no error")                                               \
  X(errConnect, 1, "Connect", "could not connect or secure the connection")   \
  X(errAuth, 2, "Auth", "authentication failed")                              \
  X(errServer, 3, "Server", "the server refused the command")                 \
  X(errProtocol, 4, "Protocol", "the server broke the protocol")              \
  X(errTimeout, 5, "Timeout", "the operation timed out")                      \
  X(errNotConnected, 6, "NotConnected", "not connected")                      \
  X(errInvalidArgument, 7, "InvalidArgument", "invalid argument")             \
  X(errTLS, 8, "TLS", "TLS failure after connecting")                         \
  X(errProxy, 9, "Proxy", "proxy failure")                                    \
  X(errNetwork, 10, "Network", "network failure while connected")             \
  X(errNoMemory, 11, "NoMemory", "out of memory")                             \
  X(errAborted, 12, "Aborted", "a callback aborted the operation")            \
  X(errState, 13, "State", "not allowed in the current state")                \
  X(errUnsupported, 14, "Unsupported",                                        \
    "not supported by the server or the library")

typedef enum mw_err {
#define MW_X_(sym, num, name, text) sym = num,
  MW_BASE_ERROR_MAP(MW_X_)
#undef MW_X_
} mw_err;

/* Upper-case aliases for C code that prefers them. */
#define MW_ERR_CONNECT errConnect
#define MW_ERR_AUTH errAuth
#define MW_ERR_SERVER errServer
#define MW_ERR_PROTOCOL errProtocol
#define MW_ERR_TIMEOUT errTimeout
#define MW_ERR_NOT_CONNECTED errNotConnected
#define MW_ERR_INVALID_ARGUMENT errInvalidArgument
#define MW_ERR_TLS errTLS
#define MW_ERR_PROXY errProxy
#define MW_ERR_NETWORK errNetwork
#define MW_ERR_NO_MEMORY errNoMemory
#define MW_ERR_ABORTED errAborted
#define MW_ERR_STATE errState
#define MW_ERR_UNSUPPORTED errUnsupported

/* ------------------------------------------------------------------------
 * Extended error numbers (ErrorInfo.Number). 1001..1407 are the
 * reference's, with its names and values; the others are mailwire's
 * additions in the same ranges. X(symbol, number, base code, text).
 * ---------------------------------------------------------------------- */
#define MW_EXTENDED_ERROR_MAP(X)                                              \
  X(eexNone, 0, MW_OK, "No error")                                            \
  X(eexProxyNoconn, 1001, errProxy,                                           \
    "The object was unable to create a TCP connection to the proxy server")   \
  X(eexProxySocketerror, 1002, errProxy,                                      \
    "A socket error occurred while communicating with the proxy server")      \
  X(eexProxyServerclosedport, 1003, errProxy,                                 \
    "The proxy server unexpectedly closed the connection")                    \
  X(eexProxyException, 1004, errProxy,                                        \
    "An internal error occurred while communicating with the proxy server")   \
  X(eexProxyUnexpecteddefault, 1005, errProxy,                                \
    "An unexpected error occurred while communicating with the proxy server") \
  X(eexProxyRequestfailed, 1006, errProxy,                                    \
    "The proxy server rejected the request")                                  \
  X(eexProxyAuthrequired, 1007, errProxy,                                     \
    "The proxy server requires authentication but no credentials have "       \
    "been supplied")                                                          \
  X(eexProxyAuthtypeunknown, 1008, errProxy,                                  \
    "The proxy server does not support the authentication mechanism "         \
    "requested by the client")                                                \
  X(eexProxyAuthfailed, 1009, errProxy,                                       \
    "The proxy server has rejected the client's credentials")                 \
  X(eexProxyAuthnologon, 1010, errProxy,                                      \
    "The proxy server accepted the credentials but refused to log on")        \
  X(eexNoExtended, 1101, MW_OK, "No extended error information")              \
  X(eexDNS, 1102, errConnect,                                                 \
    "The server or proxy name cannot be found in the DNS")                    \
  X(eexTCPConnect, 1103, errConnect,                                          \
    "The client cannot connect to the server or proxy")                       \
  X(eexSocketTx, 1104, errNetwork,                                            \
    "A network error has occurred while sending data")                        \
  X(eexSocketRx, 1105, errNetwork,                                            \
    "A network error has occurred while receiving data")                      \
  X(eexSocket, 1106, errNetwork, "A network error has occurred")              \
  X(eexNotConnected, 1107, errNotConnected,                                   \
    "The object is not connected to the server or proxy")                     \
  X(eexTimeout, 1108, errTimeout,                                             \
    "The server did not answer within the timeout")                           \
  X(eexLineTooLong, 1109, errProtocol,                                        \
    "The server sent a line or reply longer than the limit")                  \
  X(eexMalformedReply, 1110, errProtocol,                                     \
    "The server sent a reply that does not follow the protocol")              \
  X(eexInvalidArgument, 1111, errInvalidArgument, "An argument is invalid")   \
  X(eexServerClosed, 1112, errNetwork, "The server closed the connection")    \
  X(eexNoMemory, 1113, errNoMemory, "Out of memory")                          \
  X(eexAborted, 1114, errAborted, "A callback aborted the operation")         \
  X(eexState, 1115, errState, "Not allowed in the current state")             \
  X(eexNotImplemented, 1116, errUnsupported,                                  \
    "This option or feature is not implemented yet")                          \
  X(eexAuthNoMechanism, 1117, errAuth,                                        \
    "The server offers no authentication mechanism the client can use")       \
  X(eexAuthPlaintext, 1118, errAuth,                                          \
    "Credentials would be sent over an unencrypted connection")               \
  X(eexMessageTooLarge, 1119, errServer,                                      \
    "The message is larger than the server accepts")                          \
  X(eexUTF8Unsupported, 1120, errUnsupported,                                 \
    "The server does not accept internationalised (UTF-8) addresses")         \
  X(eexBinaryMIMEUnsupported, 1121, errUnsupported,                           \
    "The server does not accept binary messages (CHUNKING, BINARYMIME)")      \
  X(eexForked, 1130, errState,                                                \
    "The client was made in another process (before fork()); make a new "     \
    "one in this process")                                                    \
  X(eexPopServer, 1201, errServer, "The POP3 server has reported an error")   \
  X(eexSmtpServer, 1301, errServer, "The SMTP server has reported an error")  \
  X(eexSSLW32, 1401, errTLS, "An error has occurred during an SSL operation") \
  X(eexSSLConnected, 1403, errState,                                          \
    "Attempt to change the properties of an existing SSL connection")         \
  X(eexSSLNocontext, 1404, errState,                                          \
    "Attempt to perform an operation on an un-established SSL connection")    \
  X(eexSSLCertName, 1405, errConnect,                                         \
    "The name on the host's certificate does not match its hostname")         \
  X(eexSSLProtocol, 1406, errConnect, "An SSL Protocol Error occurred")       \
  X(eexSSLCertificate, 1407, errConnect, "The certificate is invalid")        \
  X(eexSSLStartTLSUnavailable, 1408, errTLS,                                  \
    "The server does not offer STARTTLS/STLS")                                \
  X(eexSSLStartTLSRefused, 1409, errTLS, "The server refused STARTTLS/STLS")  \
  X(eexSSLInjection, 1410, errTLS,                                            \
    "The server sent data between the STARTTLS/STLS reply and the "           \
    "handshake")                                                              \
  X(eexSSLConfig, 1411, errInvalidArgument,                                   \
    "The TLS configuration cannot be used")                                   \
  X(eexSSLInsecure, 1420, errUnsupported,                                     \
    "The protocol or algorithm is broken and refused")

typedef enum mw_eex {
#define MW_X_(sym, num, base, text) sym = num,
  MW_EXTENDED_ERROR_MAP(MW_X_)
#undef MW_X_
} mw_eex;

/* The reference's name for the generic SSL failure, under a neutral name. */
#define eexSSLLibrary eexSSLW32

/* Name ("errTimeout") and sentence of a base code; never NULL. */
MW_EXTERN const char *mw_err_name(int code);
MW_EXTERN const char *mw_err_text(int code);
/* Name ("eexDNS"), default sentence and base code of an extended number. */
MW_EXTERN const char *mw_eex_name(int number);
MW_EXTERN const char *mw_eex_text(int number);
MW_EXTERN int mw_eex_base(int number);

/* ------------------------------------------------------------------------
 * ErrorInfo: the details of the last failure on a handle. Never NULL;
 * after a success Number is eexNone and Code MW_OK.
 * ---------------------------------------------------------------------- */
typedef struct mw_errorinfo mw_errorinfo;

/* Base error code (mw_err). */
MW_EXTERN int mw_errorinfo_code(const mw_errorinfo *e);
/* Extended number (mw_eex): ErrorInfo.Number. */
MW_EXTERN int mw_errorinfo_number(const mw_errorinfo *e);
/* A sentence a person can act on: ErrorInfo.Text. */
MW_EXTERN const char *mw_errorinfo_text(const mw_errorinfo *e);
/* errno, or the OpenSSL error code for TLS failures: ErrorInfo.OSError.
 * What kind of number it is, and a label to print it with:
 * "errno 111 (Connection refused)", "OpenSSL error 0A000086 (SSL
 * routines::certificate verify failed)", "resolver error -2 (Name or
 * service not known)" (getaddrinfo's, with eexDNS), or "" when 0. */
MW_EXTERN long mw_errorinfo_os_error(const mw_errorinfo *e);
enum {
  MW_OS_ERROR_NONE = 0,
  MW_OS_ERROR_ERRNO = 1,
  MW_OS_ERROR_OPENSSL = 2,
  MW_OS_ERROR_RESOLVER = 3
};
MW_EXTERN int mw_errorinfo_os_error_kind(const mw_errorinfo *e);
MW_EXTERN const char *mw_errorinfo_os_error_text(const mw_errorinfo *e);
/* For server refusals: the SMTP reply code (3 digits; 0 otherwise: POP3
 * replies have no code, its refusals are told by eexPopServer and the
 * text); the enhanced status: RFC 3463 for SMTP ("5.7.8"), the RFC 2449
 * response code for POP3 ("AUTH", "SYS/TEMP", "IN-USE" from "-ERR
 * [IN-USE] ..."), or ""; and the server's text. */
MW_EXTERN int mw_errorinfo_reply_code(const mw_errorinfo *e);
MW_EXTERN const char *mw_errorinfo_enhanced_status(const mw_errorinfo *e);
MW_EXTERN const char *mw_errorinfo_server_text(const mw_errorinfo *e);
/* For certificate failures: OpenSSL's X509_V_* verify result, else 0. */
MW_EXTERN long mw_errorinfo_verify_result(const mw_errorinfo *e);

/* ------------------------------------------------------------------------
 * SSLInfo: the parameters and results of a TLS connection.
 * ---------------------------------------------------------------------- */
typedef struct mw_sslinfo mw_sslinfo;

/* Mode property. */
enum { MODE_CHANNEL = 0, MODE_STARTTLS = 1 };

/* Option indexes. Inputs 1..19 and 40.., outputs 20..39. */
enum {
  SSLNoServerNameCheck = 1,             /* bool, default false */
  SSLNoServerCertificateValidation = 2, /* bool, default false */
  SSLRevocationCheckAll = 3,            /* bool, default true  */
  SSLRevocationCheckEnd = 4,            /* bool, default false */
  SSLRevocationExcludeRoot = 5,         /* bool, default false */
  SSLRevocationIgnoreNRC = 6,           /* bool, default true  */
  SSLRevocationIgnoreRO = 7,            /* bool, default true  */
  /* Protocol and cipher control (README "SSLInfo"). 8/9: keep only suites
   * whose symmetric key has at least/at most that many bits; 0 = no bound.
   * 10: allowed versions SSL_TLS1..SSL_TLS1_3, a consecutive range; empty =
   * TLS 1.2 and 1.3; SSL_SSL2/SSL_SSL3/SSL_PCT1 are refused (errUnsupported,
   * eexSSLInsecure), and TLS 1.0/1.1 are never negotiated by OpenSSL 3 at
   * its default security level (alone they are refused the same way).
   * 11: allowed ciphers SSL_AES_128, SSL_AES_256, SSL_AES (CBC and GCM),
   * SSL_AES_128_GCM, SSL_AES_256_GCM, SSL_CHACHA20, for TLS 1.2 and 1.3;
   * empty = OpenSSL's defaults; SSL_RC2/RC4/DES/3DES/NONE are refused
   * (eexSSLInsecure). A combination that leaves no suite fails before
   * connecting: errInvalidArgument, eexSSLConfig. 12: "the connection must
   * be encrypted": always on (no NULL or export suite is ever offered or
   * accepted); setting it false is refused (eexSSLInsecure). */
  SSLMinCipherStrength = 8,     /* bits, default 0 */
  SSLMaxCipherStrength = 9,     /* bits, default 0 */
  SSLConnectionProtocolIn = 10, /* array of SSL_TLS*, default empty */
  SSLConnectionCipherIn = 11,   /* array of SSL_*, default empty */
  SSLConfidentiality = 12,      /* bool, default and only true */
  /* 13: the client certificate and its key: a PEM file holding both (and
   * any intermediates), a PKCS#12 file (.p12/.pfx), or a bare name looked
   * up in SSLClientCertificateDir as NAME, NAME.pem, NAME.p12, NAME.pfx.
   * Loaded when set: a missing file, a wrong or missing password, or a key
   * that does not match fails then (errInvalidArgument, eexSSLConfig) and
   * changes nothing, so set the password and the directory first. "" or
   * NULL: no client certificate (the default). */
  SSLClientCertificateName = 13, /* string, default none */

  SSLConnectionProtocolOut = 20,  /* SSL_TLS1 ... SSL_TLS1_3 */
  SSLConnectionCipherOut = 21,    /* SSL_AES_128 ... */
  SSLCipherStrength = 22,         /* bits */
  SSLHash = 23,                   /* SSL_SHA ... (the MAC or AEAD/PRF hash) */
  SSLHashStrength = 24,           /* bits */
  SSLExchange = 25,               /* SSL_RSA, SSL_DH, SSL_ECDHE ... */
  SSLExchangeStrength = 26,       /* bits (group or key size) */
  SSLConnectionProtocolName = 27, /* string, "TLSv1.3" (mailwire) */
  SSLConnectionCipherName = 28,   /* string, OpenSSL suite name (mailwire) */
  SSLExchangeGroupName = 29,      /* string, "X25519" (mailwire) */
  SSLPeerSubject = 30,            /* string, leaf subject (mailwire) */
  SSLPeerIssuer = 31,             /* string, leaf issuer (mailwire) */
  /* mailwire: was the TLS session of an earlier connection resumed? */
  SSLSessionResumed = 32, /* bool */
  /* mailwire: the server's certificate (the leaf) and chain. */
  SSLPeerSerial = 33,            /* string, hex, "4F1A..." */
  SSLPeerNotBefore = 34,         /* string, "2026-11-28T14:00:00Z" (UTC) */
  SSLPeerNotAfter = 35,          /* string, same format */
  SSLPeerSANs = 36,              /* string, "DNS:localhost, IP Address:..." */
  SSLPeerFingerprintSHA256 = 37, /* string, "AB:CD:..." of the DER */
  SSLPeerCertificatePEM = 38,    /* string, the leaf in PEM */
  SSLPeerChainPEM = 39,          /* string, all the server sent, leaf first */

  SSLCAFile = 40,     /* string: PEM bundle to trust instead of the system's */
  SSLCAPath = 41,     /* string: hashed directory to trust instead */
  SSLServerName = 42, /* string: SNI and name to check (default: host);
                        Unicode (UTF-8) names as their A-label */
  SSLClientCertificatePassword = 43, /* string: for PKCS#12 / encrypted PEM
                                        keys; reads back as "********" */
  SSLClientCertificateDir = 44, /* string: where bare names are looked up */
  /* 45: "sha256//BASE64" of the server's SubjectPublicKeyInfo, several
   * separated by ';' (as curl's --pinnedpubkey). Checked after the
   * handshake, also when validation is off; a mismatch fails the connection
   * with errConnect, eexSSLCertificate, naming the key the server has. A
   * malformed value is refused when set (eexInvalidArgument). */
  SSLPinnedPublicKey = 45, /* string, default none */

  /* Revocation (mailwire; see "Certificate revocation" below). */
  SSLCRLFile = 50,           /* string: PEM CRL file(s), ':'-separated */
  SSLRevocationTimeout = 51, /* ms for all OCSP/CRL fetches, default 5000 */
  SSLRevocationStatus = 52,  /* output: SSL_REVOCATION_* */
  SSLRevocationDetail = 53   /* output string: per certificate, the answer
                                and its source */
};

/* Certificate revocation. After the handshake (the chain verified) and
 * before any application byte is sent or read, each certificate
 * the options select is looked up in: the SSLCRLFile CRLs (and CRLs fetched
 * earlier, cached until their nextUpdate); for the leaf, a stapled OCSP
 * response (always requested); the OCSP responder of its AIA; the CRL at
 * its distribution point. Only http:// URLs are fetched, all within
 * SSLRevocationTimeout (name resolution included) and 1 MiB per answer;
 * without blocking, each fetch is a want (MW_IO_FETCH). A refused check
 * closes the connection without sending anything, and a TLS session is
 * kept for resumption only once the check passed.
 *   SSLRevocationCheckAll (true): check every certificate of the chain.
 *   SSLRevocationCheckEnd (false): check only the leaf (wins over
 *     CheckAll). Both false: no revocation check.
 *   SSLRevocationExcludeRoot (false): skip the self-issued root. When it
 *     is checked, a trust anchor that no source speaks for counts as good
 *     (it is trusted by configuration, not by a CA's word), so a good
 *     chain is GOOD under the defaults and under strict settings.
 *   SSLRevocationIgnoreNRC (true): no revocation information for a
 *     certificate is no failure.
 *   SSLRevocationIgnoreRO (true): a revocation server that cannot be
 *     reached (or fails, answers tryLater/internalError or something that
 *     is not OCSP, or times out) is no failure.
 * CRLs: the newest applicable CRL of the issuer decides (CRL number, then
 * thisUpdate), whatever the order they were given in; the
 * IssuingDistributionPoint scope is honoured; indirect CRLs are ignored
 * and delta CRLs only revoke (the detail says so); a listing revokes even
 * in an out-of-date CRL (except a certificateHold a newer CRL lifted).
 * OCSP: every answer for the certificate is read and a "revoked" signed by
 * an authorised key wins, however old; "good" needs nextUpdate in the
 * future, or without nextUpdate a thisUpdate at most 24 hours old; a nonce
 * the responder echoes must be ours (answers signed in advance carry none
 * and are judged on freshness).
 * A revoked certificate always fails the connection, and so does a refused
 * OCSP answer (bad signature, signer not authorised by the issuer, answers
 * only for other certificates, another request's nonce): it may be an
 * attack. Refusals are errConnect / eexSSLCertificate with
 * mw_errorinfo_verify_result X509_V_ERR_CERT_REVOKED (23) for revoked,
 * X509_V_ERR_OCSP_VERIFY_FAILED (74) for a refused answer,
 * X509_V_ERR_UNABLE_TO_GET_CRL (3) for no information,
 * X509_V_ERR_OCSP_VERIFY_NEEDED (73) for offline; the Text says which and
 * the detail. SSLRevocationStatus and SSLRevocationDetail are readable
 * after any connection attempt (also a refused one) until the next one;
 * the status is the worst of the checked certificates: REVOKED, then
 * INVALID, then OFFLINE, then UNKNOWN, then GOOD. */
enum {
  SSL_REVOCATION_NOT_CHECKED = 0, /* disabled, no validation, or no
                                     handshake got that far */
  SSL_REVOCATION_GOOD = 1,        /* every checked certificate is good */
  SSL_REVOCATION_REVOKED = 2,     /* a checked certificate is revoked */
  SSL_REVOCATION_UNKNOWN = 3,     /* no revocation information (NRC) */
  SSL_REVOCATION_OFFLINE = 4,     /* a revocation server was unreachable */
  SSL_REVOCATION_INVALID = 5      /* an OCSP answer was refused: forged,
                                     unauthorised, mismatched or replayed */
};

/* Protocol values, chosen equal to SChannel's SP_PROT_*_CLIENT bits. */
enum {
  SSL_PCT1 = 0x00000002,
  SSL_SSL2 = 0x00000008,
  SSL_SSL3 = 0x00000020,
  SSL_TLS1 = 0x00000080,
  SSL_TLS1_1 = 0x00000200,
  SSL_TLS1_2 = 0x00000800,
  SSL_TLS1_3 = 0x00002000
};

/* Algorithm values, chosen equal to CryptoAPI's CALG_* identifiers. */
enum {
  SSL_NONE = 0,
  SSL_DES = 0x6601,
  SSL_RC2 = 0x6602,
  SSL_3DES = 0x6603,
  SSL_SKIPJACK = 0x660a,
  SSL_AES_128 = 0x660e,
  SSL_AES_256 = 0x6610,
  SSL_AES = 0x6611,
  SSL_RC4 = 0x6801,
  SSL_CHACHA20 = 0x6c01, /* ChaCha20-Poly1305; no CALG exists */
  SSL_AES_128_GCM = 0x6c02,
  SSL_AES_256_GCM = 0x6c03,
  SSL_MD5 = 0x8003,
  SSL_SHA = 0x8004,
  SSL_SHA256 = 0x800c,
  SSL_SHA384 = 0x800d,
  SSL_SHA512 = 0x800e,
  SSL_AEAD = 0x8fff, /* integrity from the AEAD cipher itself */
  SSL_RSA = 0xa400,
  SSL_DH = 0xaa02,
  SSL_ECDH = 0xaa05,
  SSL_ECDHE = 0xae06,
  SSL_X25519 = 0xae10,
  SSL_X448 = 0xae11
};

MW_EXTERN mw_sslinfo *mw_sslinfo_new(void);
MW_EXTERN void mw_sslinfo_free(mw_sslinfo *ssl);
MW_EXTERN int mw_sslinfo_set_mode(mw_sslinfo *ssl, int mode);
MW_EXTERN int mw_sslinfo_mode(const mw_sslinfo *ssl);
/* Option(i) = value. Booleans and numbers use _int, strings _str, arrays
 * _array. A wrong type, an unknown index, an output index, or an input the
 * library does not implement yet fails with errInvalidArgument or
 * errUnsupported (eexNotImplemented); nothing is changed then. */
MW_EXTERN int mw_sslinfo_set_option_int(mw_sslinfo *ssl, int index,
                                        long value);
MW_EXTERN int mw_sslinfo_set_option_str(mw_sslinfo *ssl, int index,
                                        const char *value);
MW_EXTERN int mw_sslinfo_set_option_array(mw_sslinfo *ssl, int index,
                                          const long *values, size_t n);
/* value = Option(i). Outputs before any handshake fail with errState
 * (eexSSLNocontext). With several clients an output is that of the most
 * recent handshake with this SSLInfo (see "Threads" at the top); read a
 * client's own with mw_smtp_tls_option_*. A string output returned here is
 * a copy of the calling thread's: valid until this thread reads the same
 * option index again (from any SSLInfo) or ends, whatever other threads do.
 * Other strings stay valid until the option is set again. */
MW_EXTERN int mw_sslinfo_get_option_int(mw_sslinfo *ssl, int index,
                                        long *value);
MW_EXTERN int mw_sslinfo_get_option_str(mw_sslinfo *ssl, int index,
                                        const char **value);
/* The values of an array option (SSLConnectionProtocolIn,
 * SSLConnectionCipherIn): up to cap of them into values, and their number
 * into *n (it may be more than cap: call again with room for *n). They
 * read back as in effect, in a fixed order: protocols from SSL_TLS1 up;
 * ciphers SSL_AES (all four AES suites allowed), else SSL_AES_128 or
 * SSL_AES_128_GCM, SSL_AES_256 or SSL_AES_256_GCM, then SSL_CHACHA20.
 * Empty (*n 0): the library chooses. Another index fails as the other
 * getters do (errInvalidArgument, eexInvalidArgument). */
MW_EXTERN int mw_sslinfo_get_option_array(mw_sslinfo *ssl, int index,
                                          long *values, size_t cap, size_t *n);
/* Which type an option has: 'b' bool, 'i' number, 's' string, 'a' array,
 * 0 unknown index. Lets bindings pick the right setter. */
MW_EXTERN int mw_sslinfo_option_type(int index);
/* The ErrorInfo of the calling thread's last call on an SSLInfo (see
 * "Threads" at the top): other threads' calls never change it. */
MW_EXTERN const mw_errorinfo *mw_sslinfo_extended_error(const mw_sslinfo *s);
/* A verification callback for callers who decide themselves. OpenSSL's
 * checks (chain, dates, the host name) run as always; for each certificate
 * of the chain, leaf last, cb gets their verdict (preverify_ok 1/0), the
 * X509_V_* error (0 when none) and the certificate's subject, and returns
 * non-zero to accept or 0 to refuse (the handshake then fails with
 * eexSSLCertificate or eexSSLCertName). Without a callback (the default,
 * or cb NULL) the checks are strict. Not called when
 * SSLNoServerCertificateValidation is set, nor on a resumed session. The
 * callback must not call into the client. Not while connected
 * (eexSSLConnected). C only: not in the Python and Lua bindings. */
typedef int (*mw_verify_cb)(void *ud, int preverify_ok, long verify_error,
                            const char *subject);
MW_EXTERN int mw_sslinfo_set_verify_callback(mw_sslinfo *ssl, mw_verify_cb cb,
                                             void *ud);

/* ------------------------------------------------------------------------
 * LogHandler: diagnostic messages through a callback. One LogHandler may
 * serve clients on several threads: its callback is then called from those
 * threads, possibly at the same time (see "Threads" at the top).
 * ---------------------------------------------------------------------- */
typedef struct mw_loghandler mw_loghandler;

enum { LOG_S_FATAL = 1, LOG_S_WARNING = 2, LOG_S_INFORMATION = 3 };
enum {
  LOG_F_PROTOCOL = 0x1,
  LOG_F_SSL = 0x2,
  LOG_F_PROXY = 0x4,
  LOG_F_USER = 0x8,
  LOG_F_ALL = 0xf
};

/* OnLogMessage(severity, facility, message). The message is valid during
 * the call only. The callback must not call back into the client. */
typedef void (*mw_log_cb)(void *userdata, int severity, int facility,
                          const char *message);

/* Level defaults to LOG_S_INFORMATION, FacilityFlags to LOG_F_ALL. */
MW_EXTERN mw_loghandler *mw_loghandler_new(mw_log_cb cb, void *userdata);
MW_EXTERN void mw_loghandler_free(mw_loghandler *lh);
MW_EXTERN int mw_loghandler_set_level(mw_loghandler *lh, int level);
MW_EXTERN int mw_loghandler_level(const mw_loghandler *lh);
MW_EXTERN int mw_loghandler_set_facility_flags(mw_loghandler *lh, int flags);
MW_EXTERN int mw_loghandler_facility_flags(const mw_loghandler *lh);
/* A LOG_F_USER message from the application, through the same handler. */
MW_EXTERN void mw_loghandler_log(mw_loghandler *lh, int severity,
                                 const char *message);

/* ------------------------------------------------------------------------
 * Streaming callbacks.
 * ---------------------------------------------------------------------- */
/* Fill buf with up to cap bytes of the message; return the count, 0 at
 * the end, or -1 to abort (errAborted; nothing more is sent and the
 * transaction is not completed). */
typedef long (*mw_read_cb)(void *userdata, char *buf, size_t cap);
/* Take len bytes of the message; return 0, or non-zero to abort. */
typedef int (*mw_write_cb)(void *userdata, const char *data, size_t len);

/* ------------------------------------------------------------------------
 * ProxyInfo: reach the mail server through a proxy. One object, several
 * kinds; the reference's objects are kinds of it:
 *   SOCK4ProxyInfo  MW_PROXY_SOCKS4 (IPv4 only; the name is resolved
 *                   locally) or MW_PROXY_SOCKS4A (the proxy resolves it)
 *   SOCK5ProxyInfo  MW_PROXY_SOCKS5: RFC 1928, no authentication or
 *                   user/password (RFC 1929); IPv4, IPv6 and name targets;
 *                   the proxy resolves names unless set_remote_dns(p, 0)
 *   (beyond the reference) MW_PROXY_HTTP: HTTP CONNECT, Basic auth
 *   POP3ProxyInfo   MW_PROXY_POP3, an application-level POP3 proxy: the
 *                   client speaks POP3 to the proxy and logs in as
 *                   "user@server" ("user@server:port" when the client's
 *                   port is set and is not 110); the proxy connects on.
 *   SMTPProxyInfo   MW_PROXY_SMTP, an SMTP relay: the client speaks SMTP to
 *                   the proxy, which relays the mail; the client's own
 *                   credentials, if any, are used for AUTH at the relay.
 * Give it to a client with mw_smtp_set_handler / mw_pop3_set_handler (the
 * client keeps a reference). Through SOCKS and HTTP the client has the
 * proxy open a tunnel to the mail server, then speaks SMTP/POP3 (and TLS,
 * implicit or STARTTLS) through it; the certificate is checked against the
 * mail server's name, never the proxy's. With a POP3/SMTP proxy, TLS ends
 * at the proxy, so the certificate is checked against the proxy's name;
 * the ProxyInfo's credentials are not used by these two kinds, and a POP3
 * proxy on an SMTP client (or the reverse) is errInvalidArgument. With remote
 * resolution no local DNS lookup of the mail server is ever made. Failures are
 * errProxy with the eexProxy* numbers (1001 proxy unreachable, 1002 socket
 * error, 1003 proxy closed the connection, 1005 malformed or truncated reply,
 * 1006 request refused (the proxy's reason in the text), 1007 authentication
 * needed but no credentials, 1008 no common authentication method, 1009
 * credentials refused; 1004 is an internal error; 1010 is defined by the
 * reference but no supported protocol can produce it). User name, password and
 * host names over 255 bytes are errInvalidArgument (eexInvalidArgument). Steps
 * are logged on LOG_F_PROXY; passwords never are.
 * ---------------------------------------------------------------------- */
typedef struct mw_proxyinfo mw_proxyinfo;

enum {
  MW_PROXY_SOCKS4 = 0,
  MW_PROXY_SOCKS4A = 1,
  MW_PROXY_SOCKS5 = 2,
  MW_PROXY_HTTP = 3,
  MW_PROXY_POP3 = 4,
  MW_PROXY_SMTP = 5,
  /* The reference's spelling. */
  MW_PROXY_SOCK4 = MW_PROXY_SOCKS4,
  MW_PROXY_SOCK5 = MW_PROXY_SOCKS5
};

/* NULL for an unknown kind (or no memory). Remote name resolution is on. */
MW_EXTERN mw_proxyinfo *mw_proxyinfo_new(int kind);
/* Reference counted like SSLInfo; NULL-safe. */
MW_EXTERN void mw_proxyinfo_free(mw_proxyinfo *p);
MW_EXTERN int mw_proxyinfo_kind(const mw_proxyinfo *p);
/* Port 0: 1080 for SOCKS, 8080 for HTTP, 110/25 for POP3/SMTP proxies
 * (set the proxy's implicit-TLS port yourself for MODE_CHANNEL). */
MW_EXTERN int mw_proxyinfo_set_server(mw_proxyinfo *p, const char *host,
                                      unsigned port);
MW_EXTERN const char *mw_proxyinfo_server(const mw_proxyinfo *p);
MW_EXTERN unsigned mw_proxyinfo_port(const mw_proxyinfo *p);
/* NULL user: no credentials. SOCKS5: user/password; SOCKS4/4a: the user
 * id (the password is not used); HTTP: Basic. POP3 and SMTP proxies take
 * none (errInvalidArgument, eexInvalidArgument). */
MW_EXTERN int mw_proxyinfo_set_credentials(mw_proxyinfo *p, const char *user,
                                           const char *password);
/* SOCKS5: 1 (default) the proxy resolves the mail server's name, 0 it is
 * resolved locally and the address sent. */
MW_EXTERN int mw_proxyinfo_set_remote_dns(mw_proxyinfo *p, int remote);
MW_EXTERN int mw_proxyinfo_remote_dns(const mw_proxyinfo *p);
MW_EXTERN const mw_errorinfo *
mw_proxyinfo_extended_error(const mw_proxyinfo *p);

/* ------------------------------------------------------------------------
 * SMTPClient.
 * ---------------------------------------------------------------------- */
typedef struct mw_smtp mw_smtp;

MW_EXTERN mw_smtp *mw_smtp_new(void);
/* Closes the connection (without QUIT) and frees the handle. */
MW_EXTERN void mw_smtp_free(mw_smtp *c);

/* Port 0 means the default: 465 with an SSLInfo in MODE_CHANNEL, else 25.
 * A Unicode (UTF-8) host name is resolved, and checked, as its A-label;
 * one that cannot be converted makes connect fail with
 * errInvalidArgument/eexInvalidArgument before connecting. */
MW_EXTERN int mw_smtp_set_server(mw_smtp *c, const char *host, unsigned port);
/* Milliseconds for connecting (name resolution included) and for each
 * wait on the network; default 30000. */
MW_EXTERN int mw_smtp_set_timeout(mw_smtp *c, int ms);
/* Deadlines, so that a server dripping bytes cannot hold a call: each wait
 * is bounded by the timeout above, and besides
 * - the reply timeout (ms, default 60000) bounds each whole reply, from
 *   sending the command (or connecting, for the greeting) to its last
 *   line, pipelined flights and multi-line replies included; the TCP
 *   connect with the proxy negotiation and an implicit TLS handshake count
 *   as one reply, and so does a STARTTLS handshake;
 * - the operation timeout (ms, default 0: none) bounds each whole call:
 *   mw_smtp_connect (name resolution through greeting, TLS and AUTH), a
 *   whole send or send_batch, each POP3 call (a whole retrieval);
 * - the low-speed limit (bytes/s, default 100, 0: none) bounds POP3
 *   message content (RETR/TOP), which the reply timeout does not: each
 *   reply-timeout window must bring at least that many bytes per second
 *   (an SMTP client receives no message content: there it changes
 *   nothing; a body the server accepts slowly is bounded by the reply
 *   timeout per write and by the operation timeout).
 * Each fails with errTimeout/eexTimeout, the connection closed, and a text
 * naming what was awaited ("the reply to AUTH CRAM-MD5") and which limit
 * ran out. These may change at any time; they take effect at the next
 * call. */
MW_EXTERN int mw_smtp_set_reply_timeout(mw_smtp *c, int ms);
MW_EXTERN int mw_smtp_set_operation_timeout(mw_smtp *c, int ms);
MW_EXTERN int mw_smtp_set_low_speed_limit(mw_smtp *c, long bytes_per_s);
/* Name sent in EHLO/HELO; default: the local host name, or "localhost". */
MW_EXTERN int mw_smtp_set_helo_name(mw_smtp *c, const char *name);
/* Credentials for AUTH during connect; NULL user means no AUTH. For
 * XOAUTH2 the password is the access token. A user with a NULL password is
 * errInvalidArgument here (an AUTH bound to fail is never sent); "" is a
 * password. */
MW_EXTERN int mw_smtp_set_credentials(mw_smtp *c, const char *user,
                                      const char *password);
/* "PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2", or NULL to choose the strongest
 * that both sides offer. */
MW_EXTERN int mw_smtp_set_auth_mechanism(mw_smtp *c, const char *mech);
/* Allow credentials over an unencrypted connection (default: refused with
 * errAuth/eexAuthPlaintext). */
MW_EXTERN int mw_smtp_set_allow_plaintext_auth(mw_smtp *c, int allow);
/* Send to the accepted recipients even if some are refused (default:
 * any refusal aborts the transaction with RSET, nothing is sent). */
MW_EXTERN int mw_smtp_set_allow_partial(mw_smtp *c, int allow);

/* SetAdvancedHandler: an SSLInfo, a LogHandler or a ProxyInfo. The
 * client keeps a reference. NULL removes nothing and is errInvalidArgument;
 * see mw_smtp_clear_handlers. Not allowed while connected. */
MW_EXTERN int mw_smtp_set_handler(mw_smtp *c, void *handler);
MW_EXTERN int mw_smtp_set_sslinfo(mw_smtp *c, mw_sslinfo *ssl);
MW_EXTERN int mw_smtp_set_loghandler(mw_smtp *c, mw_loghandler *lh);
MW_EXTERN void mw_smtp_clear_handlers(mw_smtp *c);
/* ExtendedError. */
MW_EXTERN const mw_errorinfo *mw_smtp_extended_error(const mw_smtp *c);

/* Connect, read the greeting, EHLO (HELO if EHLO is refused on a plaintext
 * session), STARTTLS and EHLO again when the SSLInfo asks for it, then AUTH
 * when credentials are set. */
MW_EXTERN int mw_smtp_connect(mw_smtp *c);
MW_EXTERN int mw_smtp_is_connected(const mw_smtp *c);
/* True when the session is encrypted. */
MW_EXTERN int mw_smtp_is_secure(const mw_smtp *c);

/* Capabilities from the last EHLO: keywords in upper case. */
MW_EXTERN int mw_smtp_has_extension(const mw_smtp *c, const char *keyword);
/* Parameters of an extension ("PLAIN LOGIN" for AUTH), or NULL. */
MW_EXTERN const char *mw_smtp_extension_params(const mw_smtp *c,
                                               const char *keyword);
/* All EHLO lines after the first, separated by '\n'. */
MW_EXTERN const char *mw_smtp_capabilities(const mw_smtp *c);
/* The mechanism AUTH used, or NULL. */
MW_EXTERN const char *mw_smtp_auth_mechanism_used(const mw_smtp *c);

/* Send flags. MW_SEND_8BIT: the body has 8-bit bytes (BODY=8BITMIME);
 * detected by mw_smtp_send itself. MW_SEND_SMTPUTF8 is set by itself when an
 * address is not ASCII, and by mw_smtp_send and mw_smtp_send_batch when a
 * header holds 8-bit bytes (UTF-8) and the server offers SMTPUTF8 (RFC 6531
 * 3.4; without the offer such a message goes with BODY=8BITMIME only). With
 * mw_smtp_send_stream the caller sets it for UTF-8 headers. */
/* MW_SEND_BINARYMIME (send_stream): the bytes go unchanged with
 * BODY=BINARYMIME over BDAT; needs CHUNKING and BINARYMIME offered (and
 * chunking on), else errUnsupported (eexBinaryMIMEUnsupported) before
 * anything is sent. */
enum { MW_SEND_8BIT = 0x1, MW_SEND_SMTPUTF8 = 0x2, MW_SEND_BINARYMIME = 0x4 };

/* PIPELINING (RFC 2920) and CHUNKING/BDAT (RFC 3030) are used when the
 * server offers them (default on); 0 turns one off. May be changed any
 * time; takes effect at the next send. With PIPELINING, MAIL and every
 * RCPT go in one flight, then DATA once every recipient was accepted (with
 * allow_partial, DATA goes in the same flight). With CHUNKING the body goes
 * in BDAT chunks (CRLF normalised, no dot-stuffing), the last "BDAT n
 * LAST", once the recipients' replies are in; up to 8 chunks are in flight
 * with PIPELINING, one without. A refused chunk stops the body and RSET
 * follows. */
MW_EXTERN int mw_smtp_set_pipelining(mw_smtp *c, int on);
MW_EXTERN int mw_smtp_set_chunking(mw_smtp *c, int on);

/* One message of a batch; the caller keeps the memory valid during the
 * call. */
typedef struct mw_smtp_message {
  const char *from;
  const char *const *rcpts;
  size_t nrcpts;
  const char *data;
  size_t len;
} mw_smtp_message;
/* Send n messages over the connection, pipelined across messages (bounded
 * window) when the server offers PIPELINING (with BDAT when it offers
 * CHUNKING; without CHUNKING each body waits for DATA's 354). Each message
 * goes to the recipients the server accepted (partial delivery per
 * message, whatever mw_smtp_set_allow_partial says; the refused ones are in
 * the per-recipient results). A message no recipient accepted has the
 * first recipient refusal as its result, as mw_smtp_send; without
 * PIPELINING it (and one whose MAIL was refused) ends with RSET, not DATA.
 * MW_OK when every message was accepted by every recipient; errServer when at
 * least one message or recipient was refused (the others were sent; the first
 * refusal is the ErrorInfo); other errors (network, timeout, protocol) end the
 * batch: messages acknowledged before keep their result, the rest have code 0
 * ("not acknowledged": never reported as sent). */
MW_EXTERN int mw_smtp_send_batch(mw_smtp *c, const mw_smtp_message *msgs,
                                 size_t n);
/* Results of the last batch: n; the final reply code of message i (250 =
 * accepted, 0 = not acknowledged; for a refused message the first refusal:
 * MAIL, DATA or BDAT), its enhanced status and text ("" if none), and each
 * recipient's RCPT reply (code 0 if not answered). A batch refused before
 * it started (bad argument, not connected) leaves no results (n is 0). */
MW_EXTERN size_t mw_smtp_batch_count(const mw_smtp *c);
MW_EXTERN int mw_smtp_batch_code(const mw_smtp *c, size_t i);
MW_EXTERN const char *mw_smtp_batch_enhanced_status(const mw_smtp *c,
                                                    size_t i);
MW_EXTERN const char *mw_smtp_batch_text(const mw_smtp *c, size_t i);
MW_EXTERN size_t mw_smtp_batch_rcpt_count(const mw_smtp *c, size_t i);
MW_EXTERN int mw_smtp_batch_rcpt_code(const mw_smtp *c, size_t i, size_t j);
MW_EXTERN const char *mw_smtp_batch_rcpt_text(const mw_smtp *c, size_t i,
                                              size_t j);
/* The RFC 3463 status of recipient j's reply ("" if none). */
MW_EXTERN const char *mw_smtp_batch_rcpt_enhanced_status(const mw_smtp *c,
                                                         size_t i, size_t j);

/* One mail transaction: MAIL FROM, RCPT TO each recipient, DATA with CRLF
 * normalisation and dot-stuffing. Bare LF and bare CR become CRLF. */
MW_EXTERN int mw_smtp_send(mw_smtp *c, const char *from,
                           const char *const *rcpts, size_t nrcpts,
                           const char *msg, size_t len);
/* The same, reading the message from a callback in constant memory.
 * size_hint (0 = unknown) is announced with SIZE when offered. */
MW_EXTERN int mw_smtp_send_stream(mw_smtp *c, const char *from,
                                  const char *const *rcpts, size_t nrcpts,
                                  uint64_t size_hint, int flags,
                                  mw_read_cb read, void *userdata);
/* Per-recipient results of the last send, in the order given. */
MW_EXTERN size_t mw_smtp_rcpt_count(const mw_smtp *c);
MW_EXTERN int mw_smtp_rcpt_code(const mw_smtp *c, size_t i);
MW_EXTERN const char *mw_smtp_rcpt_enhanced_status(const mw_smtp *c, size_t i);
MW_EXTERN const char *mw_smtp_rcpt_text(const mw_smtp *c, size_t i);

MW_EXTERN int mw_smtp_noop(mw_smtp *c);
MW_EXTERN int mw_smtp_rset(mw_smtp *c);
/* QUIT, then close. */
MW_EXTERN int mw_smtp_quit(mw_smtp *c);
/* Close without QUIT. */
MW_EXTERN void mw_smtp_disconnect(mw_smtp *c);
/* Make the running operation fail with errAborted (eexAborted) at its next
 * step; the connection is closed. Meant for callbacks (a LogHandler that
 * wants to stop) and for other threads. */
MW_EXTERN void mw_smtp_cancel(mw_smtp *c);
/* The last reply: code, and its text (lines joined by '\n'). */
MW_EXTERN int mw_smtp_last_reply_code(const mw_smtp *c);
MW_EXTERN const char *mw_smtp_last_reply_text(const mw_smtp *c);

/* The TLS results of this client's last connection: the SSLInfo output
 * options (20..39: protocol, cipher, hash, exchange, the peer's subject,
 * issuer, serial, dates, SANs, fingerprint and PEMs, SSLSessionResumed;
 * SSLRevocationStatus 52 and SSLRevocationDetail 53), read as with
 * mw_sslinfo_get_option_int/str but from this connection only, whatever
 * other clients sharing the SSLInfo did. Defined after a completed
 * handshake until the next connect (the revocation outputs also after a
 * refused one); before that errState/eexSSLNocontext; an index that is no
 * output errInvalidArgument. Strings stay valid until this client's next
 * connect or its free. */
MW_EXTERN int mw_smtp_tls_option_int(mw_smtp *c, int index, long *value);
MW_EXTERN int mw_smtp_tls_option_str(mw_smtp *c, int index,
                                     const char **value);

/* ------------------------------------------------------------------------
 * POP3Client.
 * ---------------------------------------------------------------------- */
typedef struct mw_pop3 mw_pop3;

MW_EXTERN mw_pop3 *mw_pop3_new(void);
/* Closes the connection without QUIT: nothing marked is deleted. */
MW_EXTERN void mw_pop3_free(mw_pop3 *c);
/* Port 0: 995 with an SSLInfo in MODE_CHANNEL, else 110. A Unicode host
 * name: as for mw_smtp_set_server. */
MW_EXTERN int mw_pop3_set_server(mw_pop3 *c, const char *host, unsigned port);
MW_EXTERN int mw_pop3_set_timeout(mw_pop3 *c, int ms);
/* As mw_smtp_set_reply_timeout, mw_smtp_set_operation_timeout and
 * mw_smtp_set_low_speed_limit. */
MW_EXTERN int mw_pop3_set_reply_timeout(mw_pop3 *c, int ms);
MW_EXTERN int mw_pop3_set_operation_timeout(mw_pop3 *c, int ms);
MW_EXTERN int mw_pop3_set_low_speed_limit(mw_pop3 *c, long bytes_per_s);
/* As mw_smtp_set_credentials: a user needs a password (NULL refused). */
MW_EXTERN int mw_pop3_set_credentials(mw_pop3 *c, const char *user,
                                      const char *password);
/* "USER" (USER/PASS), "APOP", "PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2", or
 * NULL for the automatic choice: a SASL mechanism the server offers (the
 * strongest; XOAUTH2 only when asked); else, over TLS, USER when CAPA lists
 * it; else APOP when the greeting has a timestamp; else USER. An automatic
 * APOP refused over TLS where USER may work (listed, or no CAPA) is
 * followed by USER/PASS once; an APOP asked for never is. */
MW_EXTERN int mw_pop3_set_auth_mechanism(mw_pop3 *c, const char *mech);
MW_EXTERN int mw_pop3_set_allow_plaintext_auth(mw_pop3 *c, int allow);
/* Largest message mw_pop3_retr/mw_pop3_top keep in memory (default 256 MiB);
 * the streaming calls have no limit. A larger message fails with
 * errServer/eexMessageTooLarge: it is read to its end and discarded (the
 * session goes on), unless it is still coming at twice the limit, when the
 * connection is closed instead (an endless message). */
MW_EXTERN int mw_pop3_set_max_message_size(mw_pop3 *c, uint64_t bytes);

MW_EXTERN int mw_pop3_set_handler(mw_pop3 *c, void *handler);
MW_EXTERN int mw_pop3_set_sslinfo(mw_pop3 *c, mw_sslinfo *ssl);
MW_EXTERN int mw_pop3_set_loghandler(mw_pop3 *c, mw_loghandler *lh);
MW_EXTERN void mw_pop3_clear_handlers(mw_pop3 *c);
MW_EXTERN const mw_errorinfo *mw_pop3_extended_error(const mw_pop3 *c);

/* Connect, greeting, CAPA, STLS and CAPA again when asked, then log in
 * when credentials are set. */
MW_EXTERN int mw_pop3_connect(mw_pop3 *c);
MW_EXTERN int mw_pop3_is_connected(const mw_pop3 *c);
MW_EXTERN int mw_pop3_is_secure(const mw_pop3 *c);
MW_EXTERN int mw_pop3_has_capability(const mw_pop3 *c, const char *keyword);
MW_EXTERN const char *mw_pop3_capability_params(const mw_pop3 *c,
                                                const char *keyword);
MW_EXTERN const char *mw_pop3_capabilities(const mw_pop3 *c);
MW_EXTERN const char *mw_pop3_auth_mechanism_used(const mw_pop3 *c);

MW_EXTERN int mw_pop3_stat(mw_pop3 *c, unsigned long *count, uint64_t *octets);
/* LIST / UIDL for all messages; read the result with the accessors. */
MW_EXTERN int mw_pop3_list(mw_pop3 *c);
MW_EXTERN int mw_pop3_uidl(mw_pop3 *c);
MW_EXTERN size_t mw_pop3_entry_count(const mw_pop3 *c);
MW_EXTERN unsigned long mw_pop3_entry_number(const mw_pop3 *c, size_t i);
MW_EXTERN uint64_t mw_pop3_entry_size(const mw_pop3 *c, size_t i);
MW_EXTERN const char *mw_pop3_entry_uid(const mw_pop3 *c, size_t i);
/* LIST n / UIDL n for one message. */
MW_EXTERN int mw_pop3_list_one(mw_pop3 *c, unsigned long msg,
                               uint64_t *octets);
MW_EXTERN int mw_pop3_uidl_one(mw_pop3 *c, unsigned long msg,
                               const char **uid);

/* RETR / TOP into memory: *out is allocated with malloc, release it with
 * mw_free. Dot-unstuffed; lines end with CRLF as on the wire. */
MW_EXTERN int mw_pop3_retr(mw_pop3 *c, unsigned long msg, char **out,
                           size_t *len);
MW_EXTERN int mw_pop3_top(mw_pop3 *c, unsigned long msg, unsigned long lines,
                          char **out, size_t *len);
/* The same, streamed to a callback in constant memory. */
MW_EXTERN int mw_pop3_retr_stream(mw_pop3 *c, unsigned long msg,
                                  mw_write_cb write, void *userdata);
MW_EXTERN int mw_pop3_top_stream(mw_pop3 *c, unsigned long msg,
                                 unsigned long lines, mw_write_cb write,
                                 void *userdata);
MW_EXTERN int mw_pop3_dele(mw_pop3 *c, unsigned long msg);
MW_EXTERN int mw_pop3_rset(mw_pop3 *c);
MW_EXTERN int mw_pop3_noop(mw_pop3 *c);
/* QUIT (the server deletes what DELE marked), then close. */
MW_EXTERN int mw_pop3_quit(mw_pop3 *c);
MW_EXTERN void mw_pop3_disconnect(mw_pop3 *c);
/* As mw_smtp_cancel. */
MW_EXTERN void mw_pop3_cancel(mw_pop3 *c);
/* As mw_smtp_tls_option_int / _str. */
MW_EXTERN int mw_pop3_tls_option_int(mw_pop3 *c, int index, long *value);
MW_EXTERN int mw_pop3_tls_option_str(mw_pop3 *c, int index,
                                     const char **value);
/* The status text of the last +OK / -ERR line. */
MW_EXTERN const char *mw_pop3_last_reply_text(const mw_pop3 *c);

/* PIPELINING (RFC 2449 CAPA) is used by the batch calls when offered
 * (default on); 0 turns it off (then one command at a time). May be
 * changed at any time; takes effect at the next batch. */
MW_EXTERN int mw_pop3_set_pipelining(mw_pop3 *c, int on);
/* Called with each piece of message msgs[i] (dot-unstuffed, CRLF line ends
 * as on the wire), then once with len 0 and end 1 after its last piece.
 * Non-zero return aborts (errAborted, connection closed). Messages the
 * server refuses (-ERR) get no callback. */
typedef int (*mw_msg_write_cb)(void *userdata, size_t i, unsigned long msg,
                               const char *data, size_t len, int end);
/* RETR / TOP / DELE for n messages, pipelined over a bounded window when
 * the server offers PIPELINING, streamed in constant memory. Returns
 * MW_OK when all got +OK; errServer when some got -ERR (the rest were
 * done; see the results); other errors end the batch (and close the
 * connection): entries answered before keep their result, the rest report
 * errNotConnected ("not answered"). DELE only marks: messages are deleted
 * by a completed mw_pop3_quit. */
MW_EXTERN int mw_pop3_retr_batch(mw_pop3 *c, const unsigned long *msgs,
                                 size_t n, mw_msg_write_cb write,
                                 void *userdata);
MW_EXTERN int mw_pop3_top_batch(mw_pop3 *c, const unsigned long *msgs,
                                size_t n, unsigned long lines,
                                mw_msg_write_cb write, void *userdata);
MW_EXTERN int mw_pop3_dele_batch(mw_pop3 *c, const unsigned long *msgs,
                                 size_t n);
/* LIST n / UIDL n for n messages, pipelined the same way; the size or
 * UID of each answered one with mw_pop3_batch_size / mw_pop3_batch_uid.
 * (mailwire's addition to the batch calls.) */
MW_EXTERN int mw_pop3_list_batch(mw_pop3 *c, const unsigned long *msgs,
                                 size_t n);
MW_EXTERN int mw_pop3_uidl_batch(mw_pop3 *c, const unsigned long *msgs,
                                 size_t n);
/* Results of the last batch call, in the order given: MW_OK for +OK,
 * errServer for -ERR (its text in mw_pop3_batch_text), errNotConnected
 * when not answered (the batch ended first), errAborted for the message
 * the callback aborted. The text is the server's status text, or "not
 * answered"; "" for i out of range (status errInvalidArgument then). */
MW_EXTERN size_t mw_pop3_batch_count(const mw_pop3 *c);
MW_EXTERN int mw_pop3_batch_status(const mw_pop3 *c, size_t i);
MW_EXTERN const char *mw_pop3_batch_text(const mw_pop3 *c, size_t i);
/* After mw_pop3_list_batch: the size of entry i (0 unless MW_OK); after
 * mw_pop3_uidl_batch: its UID ("" unless MW_OK). */
MW_EXTERN uint64_t mw_pop3_batch_size(const mw_pop3 *c, size_t i);
MW_EXTERN const char *mw_pop3_batch_uid(const mw_pop3 *c, size_t i);

/* ------------------------------------------------------------------------
 * Without blocking: the caller-driven session.
 *
 * Every operation of both clients can run without the library ever
 * touching a socket or blocking. Start it with a mw_smtp_begin_* or
 * mw_pop3_begin_* call (same arguments and checks as the blocking call: an
 * argument error is returned at once and nothing is sent), then loop on
 * the client's mw_io: ask what it wants (mw_io_next), do that, and answer
 * it. The blocking calls are this same loop answered with poll() and the
 * callbacks, so behaviour, errors, logs and security rules are the same
 * whichever drives the session.
 *
 *   mw_io *io = mw_smtp_io(c);
 *   int rc = mw_smtp_begin_connect(c);
 *   for (mw_io_want w; rc == MW_OK && (w = mw_io_next(io)) != MW_IO_DONE;)
 *     ... answer w (README: "Without blocking") ...
 *   rc = mw_io_result(io);
 *
 * Rules: a want is repeated by mw_io_next until it is answered; an answer
 * to another want (or with no operation running) is refused with errState
 * and changes nothing (not even the ExtendedError, which belongs to the
 * running operation). The session keeps at most one output
 * buffer and one input chunk: memory stays constant however large the
 * messages. While an operation runs, the client's blocking calls and
 * begin_* calls are refused with errState; its getters may be read. A
 * client copied by fork() refuses everything here as elsewhere (eexForked).
 * ---------------------------------------------------------------------- */
typedef struct mw_io mw_io;

typedef enum mw_io_want {
  /* Finished: mw_io_result(io) is the base code (MW_OK or the failure),
   * the details in the client's ExtendedError. Also what mw_io_next says
   * when no operation runs. */
  MW_IO_DONE = 0,
  /* Open TCP to mw_io_host(io):mw_io_port(io) (the proxy's when a
   * ProxyInfo is set: the session then negotiates through WRITE/READ).
   * Name resolution is the driver's. Answer mw_io_connected(io, peer) with
   * the socket connected, or mw_io_connect_failed(io, errno, eex). */
  MW_IO_CONNECT,
  /* Write the bytes mw_io_output(io, &len) gives (TLS records once TLS is
   * up), then mw_io_written(io, n); n may be less than len. */
  MW_IO_WRITE,
  /* Read what the peer sends, then mw_io_feed(io, data, n); n == 0 is the
   * end of the stream. */
  MW_IO_READ,
  /* mw_smtp_begin_send_stream: give the next piece of the message with
   * mw_io_body(io, data, n) (any size; copied); n == 0 is its end. */
  MW_IO_BODY,
  /* A piece of a retrieved message: mw_io_piece(io, &index, &msg, &data,
   * &n, &end) says which; take it, then mw_io_delivered(io) (or
   * mw_io_cancel(io) to stop). */
  MW_IO_DELIVER,
  /* Revocation, after the TLS handshake and before any application byte:
   * mw_io_fetch_request(io, &url, &post_body, &post_len) is an HTTP
   * request (an http:// URL; POST of an OCSP request with Content-Type
   * application/ocsp-request when post_body is set, else GET) to make
   * within mw_io_timeout_ms(io) (SSLRevocationTimeout, for all of the
   * check's fetches). Answer mw_io_fetched(io, http_status, body, n) with
   * any status the server gave (a body over 1 MiB is taken as too large,
   * so a driver may stop reading after 1 MiB + 1 bytes), or
   * mw_io_fetch_failed(io, reason) when no HTTP answer came (the reason
   * goes into SSLRevocationDetail: the server counts as offline). If the
   * time runs out first, mw_io_next counts the server as offline and goes
   * on: the driver drops its fetch when the want changes. */
  /* A driver that cannot answer a want ends the operation with
   * mw_io_cancel. */
  MW_IO_FETCH
} mw_io_want;

/* The client's session; borrowed, valid as long as the client. */
MW_EXTERN mw_io *mw_smtp_io(mw_smtp *c);
MW_EXTERN mw_io *mw_pop3_io(mw_pop3 *c);

/* What the session wants now. Idempotent until answered. It reads
 * CLOCK_MONOTONIC itself: past a deadline (mailwire.h: the timeout, reply
 * timeout, operation timeout, low-speed limit) it ends the operation with
 * errTimeout/eexTimeout, the text naming the step that waited, and says
 * MW_IO_DONE. A mw_smtp_cancel/mw_pop3_cancel from another thread is
 * seen here too. */
MW_EXTERN mw_io_want mw_io_next(mw_io *io);
/* Milliseconds until the next deadline (0: already passed; call
 * mw_io_next), -1 when none: the longest a driver may wait before calling
 * mw_io_next again. */
MW_EXTERN int mw_io_timeout_ms(const mw_io *io);
/* After MW_IO_DONE: the base code of the operation (errState while one
 * runs). */
MW_EXTERN int mw_io_result(const mw_io *io);
/* End the running operation: errAborted (eexAborted), connection dropped.
 * Nothing more is sent. */
MW_EXTERN void mw_io_cancel(mw_io *io);
/* 1 when the session has dropped the connection: the driver closes its
 * socket. 0 while it is in use (or none was made). */
MW_EXTERN int mw_io_closed(const mw_io *io);

/* MW_IO_CONNECT. host is ASCII (an A-label for a Unicode name). */
MW_EXTERN const char *mw_io_host(const mw_io *io);
MW_EXTERN unsigned mw_io_port(const mw_io *io);
/* peer ("127.0.0.1:25", for messages; NULL: host:port). */
MW_EXTERN int mw_io_connected(mw_io *io, const char *peer);
/* os_errno: the errno of the last attempt (0 if none); eex: eexDNS when the
 * name did not resolve, eexTimeout when the connect timed out, else
 * eexTCPConnect (eexProxyNoconn is chosen by the session for a proxy). */
MW_EXTERN int mw_io_connect_failed(mw_io *io, int os_errno, int eex);

/* MW_IO_WRITE: the bytes to write (valid until the answer). */
MW_EXTERN const void *mw_io_output(mw_io *io, size_t *len);
MW_EXTERN int mw_io_written(mw_io *io, size_t n);
/* MW_IO_READ: what was read (copied); n == 0: end of stream. */
MW_EXTERN int mw_io_feed(mw_io *io, const void *data, size_t n);
/* As mw_io_connect_failed, for a read or write that failed (eexSocketRx,
 * eexSocketTx): the connection is dropped with that error. */
MW_EXTERN int mw_io_failed(mw_io *io, int os_errno, int eex);

/* MW_IO_BODY. */
MW_EXTERN int mw_io_body(mw_io *io, const void *data, size_t n);

/* MW_IO_DELIVER: message msg (the index-th of a batch, 0 otherwise), data
 * dot-unstuffed with CRLF line ends; end is 1 on the last call for a
 * message (n is 0 then). */
MW_EXTERN int mw_io_piece(mw_io *io, size_t *index, unsigned long *msg,
                          const char **data, size_t *n, int *end);
MW_EXTERN int mw_io_delivered(mw_io *io);

/* MW_IO_FETCH. */
MW_EXTERN int mw_io_fetch_request(mw_io *io, const char **url,
                                  const unsigned char **post_body,
                                  size_t *post_len);
MW_EXTERN int mw_io_fetched(mw_io *io, int http_status, const void *body,
                            size_t n);
MW_EXTERN int mw_io_fetch_failed(mw_io *io, const char *reason);

/* Operations, as the blocking calls of the same name (whose results are
 * read with the same getters after MW_IO_DONE). */
MW_EXTERN int mw_smtp_begin_connect(mw_smtp *c);
MW_EXTERN int mw_smtp_begin_send(mw_smtp *c, const char *from,
                                 const char *const *rcpts, size_t nrcpts,
                                 const char *msg, size_t len);
/* The body through MW_IO_BODY. size_hint and flags as mw_smtp_send_stream. */
MW_EXTERN int mw_smtp_begin_send_stream(mw_smtp *c, const char *from,
                                        const char *const *rcpts,
                                        size_t nrcpts, uint64_t size_hint,
                                        int flags);
MW_EXTERN int mw_smtp_begin_send_batch(mw_smtp *c, const mw_smtp_message *msgs,
                                       size_t n);
MW_EXTERN int mw_smtp_begin_noop(mw_smtp *c);
MW_EXTERN int mw_smtp_begin_rset(mw_smtp *c);
MW_EXTERN int mw_smtp_begin_quit(mw_smtp *c);

MW_EXTERN int mw_pop3_begin_connect(mw_pop3 *c);
/* Its result: mw_pop3_stat_result. */
MW_EXTERN int mw_pop3_begin_stat(mw_pop3 *c);
MW_EXTERN int mw_pop3_stat_result(const mw_pop3 *c, unsigned long *count,
                                  uint64_t *octets);
MW_EXTERN int mw_pop3_begin_list(mw_pop3 *c);
MW_EXTERN int mw_pop3_begin_uidl(mw_pop3 *c);
/* LIST n / UIDL n: the answer in mw_pop3_one_size / mw_pop3_one_uid. */
MW_EXTERN int mw_pop3_begin_list_one(mw_pop3 *c, unsigned long msg);
MW_EXTERN int mw_pop3_begin_uidl_one(mw_pop3 *c, unsigned long msg);
MW_EXTERN uint64_t mw_pop3_one_size(const mw_pop3 *c);
MW_EXTERN const char *mw_pop3_one_uid(const mw_pop3 *c);
MW_EXTERN int mw_pop3_begin_noop(mw_pop3 *c);
MW_EXTERN int mw_pop3_begin_rset(mw_pop3 *c);
MW_EXTERN int mw_pop3_begin_quit(mw_pop3 *c);
MW_EXTERN int mw_pop3_begin_dele(mw_pop3 *c, unsigned long msg);
/* The content through MW_IO_DELIVER (index 0, then end 1). */
MW_EXTERN int mw_pop3_begin_retr(mw_pop3 *c, unsigned long msg);
MW_EXTERN int mw_pop3_begin_top(mw_pop3 *c, unsigned long msg,
                                unsigned long lines);
/* The batches; message content through MW_IO_DELIVER. */
MW_EXTERN int mw_pop3_begin_retr_batch(mw_pop3 *c, const unsigned long *msgs,
                                       size_t n);
MW_EXTERN int mw_pop3_begin_top_batch(mw_pop3 *c, const unsigned long *msgs,
                                      size_t n, unsigned long lines);
MW_EXTERN int mw_pop3_begin_dele_batch(mw_pop3 *c, const unsigned long *msgs,
                                       size_t n);
MW_EXTERN int mw_pop3_begin_list_batch(mw_pop3 *c, const unsigned long *msgs,
                                       size_t n);
MW_EXTERN int mw_pop3_begin_uidl_batch(mw_pop3 *c, const unsigned long *msgs,
                                       size_t n);

/* ------------------------------------------------------------------------
 * The C event-loop driver: the library owns a non-blocking socket, the
 * caller owns the waiting (as libpq's PQconnectPoll and libcurl's
 * curl_multi_socket_action), so one thread can run hundreds of sessions
 * with poll or epoll. It answers the session's wants (above) itself:
 * resolves names on a helper thread (signalled through a pipe, which is
 * the descriptor to wait on meanwhile), connects to each address in turn,
 * sends and receives without blocking, takes message bodies from and
 * gives retrieved messages to the callbacks of the _cb begin variants,
 * and makes revocation fetches (HTTP/1.0) on a socket of its own.
 *
 *   rc = mw_smtp_begin_connect(c);            (or any mw_smtp_begin_*)
 *   if (rc == MW_OK)
 *     rc = mw_smtp_socket_action(c, 0);       (starts it)
 *   while (rc == MW_AGAIN) {
 *     int w = mw_smtp_wait_events(c);
 *     struct pollfd p = {mw_smtp_socket(c), 0, 0};
 *     if (w & MW_WAIT_READ)  p.events |= POLLIN;
 *     if (w & MW_WAIT_WRITE) p.events |= POLLOUT;
 *     poll(&p, 1, mw_smtp_wait_ms(c));        (or with many others)
 *     rc = mw_smtp_socket_action(c, w);
 *   }
 *   (rc is now the operation's base code; details in ExtendedError)
 *
 * - mw_X_socket_action answers wants until one would block, and returns
 *   MW_AGAIN (not an error code: no base code has that value), or the
 *   operation's base code once it is done. Call it when the descriptor is
 *   ready or mw_X_wait_ms has passed (deadlines are the session's: an
 *   expired one ends the operation with errTimeout, naming the step).
 *   revents is a hint (MW_WAIT_READ | MW_WAIT_WRITE, or 0): every step
 *   tries its non-blocking call, so a spurious wake-up costs nothing.
 * - mw_X_socket: the descriptor to wait on after MW_AGAIN, -1 when
 *   nothing is awaited. It changes between steps (the resolver's pipe,
 *   the connection, a revocation server's socket): ask after each call.
 *   Never read, write or close it.
 * - mw_X_wait_events: MW_WAIT_READ and/or MW_WAIT_WRITE for it.
 * - mw_X_wait_ms: the longest to wait before calling socket_action again
 *   (-1: no deadline).
 * - A client driven this way keeps the driver's connection between
 *   operations: run its later operations with begin_* and socket_action
 *   too (not the blocking calls). mw_X_free closes the socket.
 * - Callbacks run inside socket_action; they must not call the client.
 */
#define MW_AGAIN 100
enum { MW_WAIT_READ = 1, MW_WAIT_WRITE = 2 };

MW_EXTERN int mw_smtp_socket_action(mw_smtp *c, int revents);
MW_EXTERN int mw_pop3_socket_action(mw_pop3 *c, int revents);
MW_EXTERN int mw_smtp_socket(mw_smtp *c);
MW_EXTERN int mw_pop3_socket(mw_pop3 *c);
MW_EXTERN int mw_smtp_wait_events(mw_smtp *c);
MW_EXTERN int mw_pop3_wait_events(mw_pop3 *c);
MW_EXTERN int mw_smtp_wait_ms(mw_smtp *c);
MW_EXTERN int mw_pop3_wait_ms(mw_pop3 *c);
/* As mw_smtp_begin_send_stream, the body read from read (as
 * mw_smtp_send_stream: a negative return aborts with errAborted). */
MW_EXTERN int mw_smtp_begin_send_stream_cb(mw_smtp *c, const char *from,
                                           const char *const *rcpts,
                                           size_t nrcpts, uint64_t size_hint,
                                           int flags, mw_read_cb read,
                                           void *userdata);
/* As mw_pop3_begin_retr / _top / _retr_batch / _top_batch, the content
 * given to write (as mw_pop3_retr_batch: index 0 for the single calls;
 * non-zero from write aborts with errAborted, the connection closed). */
MW_EXTERN int mw_pop3_begin_retr_cb(mw_pop3 *c, unsigned long msg,
                                    mw_msg_write_cb write, void *userdata);
MW_EXTERN int mw_pop3_begin_top_cb(mw_pop3 *c, unsigned long msg,
                                   unsigned long lines, mw_msg_write_cb write,
                                   void *userdata);
MW_EXTERN int mw_pop3_begin_retr_batch_cb(mw_pop3 *c,
                                          const unsigned long *msgs, size_t n,
                                          mw_msg_write_cb write,
                                          void *userdata);
MW_EXTERN int mw_pop3_begin_top_batch_cb(mw_pop3 *c, const unsigned long *msgs,
                                         size_t n, unsigned long lines,
                                         mw_msg_write_cb write,
                                         void *userdata);

/* Releases memory the library returned. */
MW_EXTERN void mw_free(void *p);

#ifdef __cplusplus
}
#endif
#endif /* MAILWIRE_H */
