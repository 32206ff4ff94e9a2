/*
 * internal.h - what the layers of mailwire share. Not installed.
 *
 * Layers, bottom to top (DESIGN.md section 3), a folder each:
 *   base/      util, error, loghandler, reader (bounded line framing), sasl,
 *              idn, address: no I/O, used by every layer above
 *   net/       driver.c: DNS (bounded), TCP connect, socket reads/writes;
 *              http.c: the blocking HTTP/1.0 client for revocation
 *              fetches; only drivers use them (revocation.c takes only
 *              http.h's URL parser and size limit, no I/O)
 *   tls/       OpenSSL over memory BIOs, startable mid-stream; policy, peer
 *              checks, client certificates, resumption, revocation
 *   protocol/  proxy.c (SOCKS/HTTP CONNECT negotiation), smtp_engine.c,
 *              smtp_batch.c, pop3_engine.c: state machines, no I/O
 *   session/   session.c (what both clients share), conn.c (the
 *              connection's state; also the old blocking transport,
 *              mw_conn_open/start_tls/read/write, used only by transport
 *              tests now), io.c (the session state machine: connect,
 *              proxy, TLS, engine; never blocks, never touches a socket:
 *              mailwire.h "Without blocking")
 *   objects/   smtp.c, pop3.c, sslinfo.c, proxyinfo.c: the public objects
 *   drivers/   blocking.c (the blocking calls; revocation fetches through
 *              net/http.c), evloop.c (the C event loop):
 *              they answer the session's wants; only they use net/
 */
#ifndef MW_INTERNAL_H
#define MW_INTERNAL_H

#include "mailwire.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#if defined(__GNUC__)
#define MW_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define MW_PRINTF(a, b)
#endif

/* Limits on what a server may send (DESIGN.md section 4). */
#define MW_MAX_LINE                                                           \
  4096                           /* one reply line, CRLF included; a body     \
                                    line of RETR may be up to MW_MAX_BODY_LINE */
#define MW_MAX_BODY_LINE 1048576 /* RFC 5322 says 998; be lenient, bounded */
#define MW_MAX_REPLY_LINES 256   /* lines of one SMTP reply, CAPA, EHLO */
#define MW_MAX_LIST_ENTRIES 1000000 /* LIST/UIDL entries */
#define MW_DEFAULT_TIMEOUT_MS 30000
/* A whole reply (and the connect with its TLS handshake) within this, so a
 * server dripping bytes cannot hold a call for ever (see mailwire.h). */
#define MW_DEFAULT_REPLY_TIMEOUT_MS 60000
/* Message content (RETR/TOP) must average at least this many bytes per
 * second over each reply-timeout window. */
#define MW_DEFAULT_LOW_SPEED_LIMIT 100

/* ------------------------------------------------------------------------
 * Handles that SetAdvancedHandler accepts start with this header, so
 * mw_smtp_set_handler(void *) can tell them apart.
 * ---------------------------------------------------------------------- */
#define MW_MAGIC_SSLINFO 0x4d57534cu /* "MWSL" */
#define MW_MAGIC_LOG 0x4d574c47u     /* "MWLG" */
#define MW_MAGIC_PROXY 0x4d575058u   /* "MWPX" */

/* The reference count is atomic: any number of clients on any threads
 * share one handler, and each takes and drops its reference on its own
 * thread. The magic is written once, before the handler is shared. */
typedef struct mw_handler_hdr {
  uint32_t magic;
  atomic_int refs;
} mw_handler_hdr;

void mw_hdr_init(mw_handler_hdr *h, uint32_t magic);
void mw_hdr_ref(mw_handler_hdr *h);
/* Drop one reference; 1 when it was the last (the caller frees). */
int mw_hdr_unref(mw_handler_hdr *h);

/* ------------------------------------------------------------------------
 * error.c: ErrorInfo records.
 * ---------------------------------------------------------------------- */
struct mw_errorinfo {
  int code;          /* base code, mw_err */
  int number;        /* extended number, mw_eex */
  long os_error;     /* errno or OpenSSL ERR code */
  long verify;       /* X509_V_* for certificate failures */
  int reply_code;    /* SMTP code; -1 for a POP3 -ERR; 0 if none */
  char enhanced[16]; /* "5.7.8" or "" */
  char *server_text; /* malloc'd, or NULL (reads as "") */
  char text[1024];   /* the sentence */
  int os_kind;       /* MW_OS_ERROR_*, from number and os_error */
  char os_text[256]; /* os_error labelled ("OpenSSL error 0A000086 (...)") */
};

void mw_error_init(mw_errorinfo *e);
void mw_error_clear(mw_errorinfo *e); /* back to OK, frees server_text */
/* Sets number (base code derived from it), os_error and the sentence;
 * returns the base code, so callers can write `return mw_error_set(...)`.
 * Keeps nothing from the previous error. */
int mw_error_set(mw_errorinfo *e, int number, long os_error, const char *fmt,
                 ...) MW_PRINTF(4, 5);
int mw_error_vset(mw_errorinfo *e, int number, long os_error, const char *fmt,
                  va_list ap);
/* A server refusal: number is eexSmtpServer or eexPopServer (or another
 * server-side number such as eexSSLStartTLSRefused); keeps the reply. */
int mw_error_server(mw_errorinfo *e, int number, int reply_code,
                    const char *enhanced, const char *server_text,
                    const char *fmt, ...) MW_PRINTF(6, 7);
/* Override the base code after the fact (e.g. a 535 reply is errAuth). */
void mw_error_set_code(mw_errorinfo *e, int code);
void mw_error_copy(mw_errorinfo *dst, const mw_errorinfo *src);

/* ------------------------------------------------------------------------
 * loghandler.c: logging. lh may be NULL everywhere (no logging).
 * ---------------------------------------------------------------------- */
/* cb and userdata are fixed at creation; level and facilities may change
 * while other threads log, so they are atomic (a change applies to the
 * messages after it). release_ud, when set by a binding, frees userdata
 * with the last reference. */
struct mw_loghandler {
  mw_handler_hdr hdr;
  mw_log_cb cb;
  void *userdata;
  void (*release_ud)(void *userdata);
  atomic_int level;
  atomic_int facilities;
};

void mw_loghandler_ref(mw_loghandler *lh);
int mw_log_enabled(const mw_loghandler *lh, int severity, int facility);
void mw_log(mw_loghandler *lh, int severity, int facility, const char *fmt,
            ...) MW_PRINTF(4, 5);
/* One protocol line as an information message on LOG_F_PROTOCOL,
 * "C: EHLO x" / "S: 250 ok": dir is 'C' or 'S'. Control bytes are escaped
 * and the line is cut at 512 bytes. Never pass secrets: use
 * mw_log_line_redacted, which logs "C: AUTH PLAIN <redacted>" by keeping
 * only the first keep bytes. */
void mw_log_line(mw_loghandler *lh, char dir, const char *line, size_t len);
void mw_log_line_redacted(mw_loghandler *lh, char dir, const char *line,
                          size_t keep);

/* ------------------------------------------------------------------------
 * util.c: growable byte buffer and argument checks.
 * ---------------------------------------------------------------------- */
typedef struct mw_buf {
  char *data; /* always NUL-terminated when non-NULL */
  size_t len;
  size_t cap;
} mw_buf;

void mw_buf_init(mw_buf *b);
void mw_buf_free(mw_buf *b);
void mw_buf_reset(mw_buf *b); /* len = 0, keeps memory */
/* Return 0, or -1 when out of memory (the buffer is unchanged then). */
int mw_buf_reserve(mw_buf *b, size_t extra);
int mw_buf_append(mw_buf *b, const void *data, size_t len);
int mw_buf_append_str(mw_buf *b, const char *s);
int mw_buf_appendf(mw_buf *b, const char *fmt, ...) MW_PRINTF(2, 3);
/* Drop the first n bytes. */
void mw_buf_consume(mw_buf *b, size_t n);

/* A caller-supplied protocol argument (address, user, UID ...): refuses
 * NULL, empty (unless allow_empty), CR, LF, and anything over max bytes,
 * with errInvalidArgument/eexInvalidArgument naming `what`. Returns MW_OK
 * or errInvalidArgument. */
int mw_check_arg(mw_errorinfo *e, const char *what, const char *s,
                 int allow_empty, size_t max);
/* The same for a (pointer, length) argument: also refuses NUL. */
int mw_check_arg_n(mw_errorinfo *e, const char *what, const char *s,
                   size_t len, size_t max);
/* strdup that returns NULL for NULL. */
char *mw_strdup(const char *s);
/* idn.c: the name as DNS and TLS need it. *out is NULL for an ASCII name
 * (use it as it is), else the malloc'd A-label form of a Unicode (UTF-8)
 * name; a name that cannot be converted is eexInvalidArgument, with what
 * ("server name", "SSLServerName") in the text. */
int mw_idn_to_ascii(const char *name, const char *what, char **out,
                    mw_errorinfo *err);
/* ASCII case-insensitive compare. */
int mw_strcaseeq(const char *a, const char *b);
/* Does s contain a byte >= 0x80? */
int mw_has_8bit(const char *s, size_t len);
/* Does the header section of a message (up to its first empty line) hold
 * a byte >= 0x80? UTF-8 headers need SMTPUTF8 (RFC 6531 3.4). */
int mw_headers_8bit(const char *msg, size_t len);
/* Wipe then free a secret. */
void mw_free_secret(char *s);

/* ------------------------------------------------------------------------
 * sslinfo.c: SSLInfo.
 * ---------------------------------------------------------------------- */
/* What one TLS handshake produced (the output options 20..39, 52, 53).
 * Each connection fills its own (mw_session.tls_out); the SSLInfo keeps a
 * copy of the most recent one (mw_sslinfo.last). Strings are malloc'd or
 * NULL (read as ""). */
typedef struct mw_tls_outputs {
  int have;     /* a handshake completed: 20..39 are defined */
  int have_rev; /* a handshake was checked (also a refused one): 52, 53 */
  long protocol_out, cipher_out, cipher_strength, hash, hash_strength,
      exchange, exchange_strength;
  char protocol_name[32];
  char cipher_name[96];
  char group_name[32];
  char *peer_subject, *peer_issuer;
  int session_resumed;
  char *peer_serial, *peer_not_before, *peer_not_after, *peer_sans,
      *peer_sha256, *peer_pem, *peer_chain_pem;
  long rev_status;
  char *rev_detail;
} mw_tls_outputs;

/* tls_outputs.c */
void mw_tls_outputs_clear(mw_tls_outputs *o); /* frees, back to "none" */
/* dst = a deep copy of src; -1 (dst cleared) when out of memory. */
int mw_tls_outputs_copy(mw_tls_outputs *dst, const mw_tls_outputs *src);
int mw_tls_outputs_is_output(int index);
/* Read output index of o: MW_OK, or the error (eexInvalidArgument for an
 * index that is no output, eexSSLNocontext when o has no value for it)
 * filled into err. Strings point into o. */
int mw_tls_outputs_int(const mw_tls_outputs *o, int index, long *value,
                       mw_errorinfo *err);
int mw_tls_outputs_str(const mw_tls_outputs *o, int index, const char **value,
                       mw_errorinfo *err);

/* The SSLInfo. Its configuration is written by its setters under `lock`,
 * and refused while `live` clients using it are connected in this process
 * (live_pid: a count copied by fork() belongs to the parent); so the
 * connecting clients read the configuration without the lock. The session
 * cache and `last` change while clients run, and are only touched under
 * `lock`. */
struct mw_sslinfo {
  mw_handler_hdr hdr;
  pthread_mutex_t lock; /* recursive: setters call helpers that lock */
  int live;             /* clients connected with it, in live_pid */
  pid_t live_pid;
  int mode;
  int no_name_check;
  int no_verify;
  char *ca_file;
  char *ca_path;
  char *server_name;
  mw_tls_outputs last; /* the most recent handshake's outputs */
  /* tls_policy.c: protocol and cipher control; 0 = the library chooses. */
  unsigned protocols_in; /* SSL_TLS1 .. SSL_TLS1_3 bits */
  unsigned ciphers_in;   /* MW_CIPHER_* bits */
  long min_strength, max_strength;
  /* tls_clientcert.c: SSLClientCertificateName/Password/Dir and what was
   * loaded from them when they were set (NULL when unset). */
  char *cc_name, *cc_password, *cc_dir;
  struct x509_st *cc_cert;
  struct evp_pkey_st *cc_key;
  struct stack_st_X509 *cc_chain;
  /* tls_peer.c, tls_session.c: pinning, the verification callback, the
   * cached session (under lock). */
  char *pinned_key;
  mw_verify_cb verify_cb;
  void *verify_ud;
  struct ssl_session_st *cached_session;
  char *cached_session_key;
  struct mw_revocation *rev; /* revocation.c: options, CRL cache */
  mw_errorinfo err;
};

/* SSLConnectionCipherIn as bits of mw_sslinfo.ciphers_in. */
enum {
  MW_CIPHER_AES128_GCM = 0x1,
  MW_CIPHER_AES256_GCM = 0x2,
  MW_CIPHER_AES128_CBC = 0x4,
  MW_CIPHER_AES256_CBC = 0x8,
  MW_CIPHER_CHACHA20 = 0x10
};
/* tls_policy.c: validate SSLConnectionProtocolIn / SSLConnectionCipherIn
 * values into a mask (eexSSLInsecure for broken algorithms,
 * eexInvalidArgument for unknown values). */
int mw_policy_check_protocols(const long *values, size_t n, unsigned *mask,
                              mw_errorinfo *err);
int mw_policy_check_ciphers(const long *values, size_t n, unsigned *mask,
                            mw_errorinfo *err);
/* The options tls_policy.c owns (8..12), after sslinfo.c's common checks;
 * failures leave the option unchanged and fill ssl->err. */
int mw_policy_owns(int index);
int mw_policy_set_int(mw_sslinfo *ssl, int index, long value);
int mw_policy_get_int(const mw_sslinfo *ssl, int index, long *value);
int mw_policy_set_array(mw_sslinfo *ssl, int index, const long *values,
                        size_t n);
/* The values in effect of array option index (mailwire.h,
 * mw_sslinfo_get_option_array): up to cap into out; returns their number. */
size_t mw_policy_get_array(const mw_sslinfo *ssl, int index, long *out,
                           size_t cap);
/* tls_clientcert.c: SSLClientCertificateName (13), ...Password (43),
 * ...Dir (44). Setting one loads the certificate and key with the new
 * combination (eexSSLConfig on failure, nothing changed). */
int mw_clientcert_owns(int index);
int mw_clientcert_set_str(mw_sslinfo *ssl, int index, const char *value);
const char *mw_clientcert_get_str(const mw_sslinfo *ssl, int index);
void mw_clientcert_clear(mw_sslinfo *ssl); /* frees all of it */
/* tls_peer.c: SSLPinnedPublicKey (45) is checked when set (syntax:
 * eexInvalidArgument). */
int mw_pin_set(mw_sslinfo *ssl, const char *value);
/* tls_session.c: drop the cached session (any setting changed). Takes the
 * lock itself. */
void mw_session_cache_forget(mw_sslinfo *ssl);

void mw_sslinfo_ref(mw_sslinfo *ssl);
void mw_sslinfo_lock(mw_sslinfo *ssl);
void mw_sslinfo_unlock(mw_sslinfo *ssl);
/* End of a public SSLInfo call made under the lock: its ErrorInfo (err)
 * becomes the calling thread's (mw_sslinfo_extended_error), the lock is
 * released, rc returned. */
int mw_sslinfo_return(mw_sslinfo *ssl, int rc);
/* Is a client using ssl connected in this process? (The setters refuse
 * then: eexSSLConnected.) Call with the lock held. */
int mw_sslinfo_is_live(mw_sslinfo *ssl);
/* A client starts connecting with ssl (counted live until released), and
 * stops. Release counts only in the process that held: a client copied by
 * fork() never lowers the child's count. */
void mw_sslinfo_hold(mw_sslinfo *ssl);
void mw_sslinfo_release(mw_sslinfo *ssl, pid_t holder);
/* A connection's handshake outcome becomes the SSLInfo's "last" outputs. */
void mw_sslinfo_publish(mw_sslinfo *ssl, const mw_tls_outputs *o);

/* ------------------------------------------------------------------------
 * conn.c (+ driver.c, tls.c): the transport. Every failure fills *err and
 * logs; it returns the base code. The numbers it uses:
 *   eexDNS, eexTCPConnect, eexTimeout (connect or any wait),
 *   eexSocketTx, eexSocketRx, eexServerClosed (EOF, also TLS EOF),
 *   eexSSLProtocol (handshake failed: not TLS, no common version ...),
 *   eexSSLCertificate (chain not trusted, expired ...; verify set),
 *   eexSSLCertName (name mismatch; verify set), eexSSLConfig (bad CA file),
 *   eexSSLW32 (other OpenSSL failure).
 * errConnect for failures during mw_conn_open/mw_conn_start_tls, except
 * that a STARTTLS handshake failure after a plaintext session is still
 * errConnect (the connection is not usable); errNetwork/errTimeout later.
 * ---------------------------------------------------------------------- */
typedef struct mw_tls mw_tls; /* tls.c */

typedef struct mw_conn {
  int fd;         /* the blocking driver's socket, -1 when none */
  int open;       /* the session has a connection (any driver's) */
  mw_tls *tls;    /* NULL until TLS starts */
  int timeout_ms; /* connect and each wait */
  /* Monotonic ms after which every wait and every read or write fails
   * with eexTimeout (0: none): the session's reply and operation
   * deadlines, whichever comes first (session.c sets it). */
  long long deadline;
  mw_errorinfo *err;  /* where failures go (owned by the client) */
  mw_loghandler *log; /* may be NULL */
  char peer[64];      /* "127.0.0.1:25" for messages */
  /* The process that opened it (mw_conn_init): in a child made by fork()
   * the TLS session is the parent's, and closing must not touch it. */
  pid_t pid;
  /* The SSLInfo counting this connection live (mw_sslinfo_hold), released
   * by mw_conn_close; NULL when none. */
  mw_sslinfo *live_ssl;
  mw_tls_outputs *out; /* where the handshake's outputs go (the client's) */
} mw_conn;

void mw_conn_init(mw_conn *c, mw_errorinfo *err, mw_loghandler *log,
                  int timeout_ms);
/* Resolve host (IPv4 and IPv6), try each address in turn within the
 * timeout, TCP_NODELAY, no SIGPIPE. */
int mw_conn_open(mw_conn *c, const char *host, unsigned port);
/* The same through a proxy: connect to the proxy (eexProxyNoconn, or
 * eexDNS for its name); a tunnelling one (SOCKS4/4a/5, HTTP CONNECT) is
 * then asked to open the tunnel to host:port (proxy.c; the eexProxy*
 * numbers, eexTimeout, eexDNS for a local resolution). A POP3/SMTP proxy
 * is left connected: the session speaks the mail protocol to it. */
struct mw_proxyinfo;
int mw_conn_open_proxy(mw_conn *c, const struct mw_proxyinfo *p,
                       const char *host, unsigned port);
/* TLS handshake over the open connection (implicit TLS right after open,
 * or mid-stream after STARTTLS/STLS). Verifies the chain and the name
 * (ssl->server_name, else host; IP addresses checked as IPs) unless the
 * SSLInfo says otherwise, sends SNI for names, fills ssl's outputs, logs
 * the negotiated parameters on LOG_F_SSL. */
int mw_conn_start_tls(mw_conn *c, mw_sslinfo *ssl, const char *host);
/* Write all of data, or fail. */
int mw_conn_write(mw_conn *c, const void *data, size_t len);
/* Milliseconds of the monotonic clock (for deadlines). */
long long mw_now_ms(void);
/* Read between 1 and cap bytes into buf, waiting at most timeout_ms. */
int mw_conn_read(mw_conn *c, void *buf, size_t cap, size_t *got);
int mw_conn_is_open(const mw_conn *c);
int mw_conn_is_secure(const mw_conn *c);
/* TLS close_notify (best effort) and close the socket. Idempotent. */
void mw_conn_close(mw_conn *c);

/* ------------------------------------------------------------------------
 * reader.c: bounded line framing over received bytes.
 * ---------------------------------------------------------------------- */
typedef struct mw_reader {
  mw_buf in;      /* received, not yet consumed */
  size_t pos;     /* start of unconsumed data in `in` */
  size_t scanned; /* bytes after pos known to hold no LF (no rescans) */
} mw_reader;

void mw_reader_init(mw_reader *r);
void mw_reader_free(mw_reader *r);
void mw_reader_clear(mw_reader *r);
int mw_reader_feed(mw_reader *r, const void *data, size_t len); /* 0/-1 */
/* Next complete line without its line ending (CRLF; a bare LF is accepted
 * as an ending, a bare CR is kept as data). Returns 1 and sets *line and *len
 * (NUL-terminated, valid until the next reader call), 0 when no complete
 * line is buffered
 * yet, or -1 when the buffered line already exceeds max bytes. */
int mw_reader_line(mw_reader *r, size_t max, const char **line, size_t *len);
/* Bytes buffered and not consumed (for the STARTTLS injection check). */
size_t mw_reader_pending(const mw_reader *r);
/* The buffered, unconsumed bytes (*data valid until the next reader
 * call), and consuming n of them: for scanners that frame a message body
 * themselves. */
size_t mw_reader_peek(mw_reader *r, const char **data);
void mw_reader_skip(mw_reader *r, size_t n);
/* Receive straight into the reader: room for want bytes at the end (NULL
 * when out of memory), then commit the n (<= want) bytes written there. */
char *mw_reader_space(mw_reader *r, size_t want);
void mw_reader_commit(mw_reader *r, size_t n);

/* ------------------------------------------------------------------------
 * sasl.c: SASL client mechanisms, no I/O. Results are malloc'd; free with
 * mw_free_secret. Returns 0, or -1 on bad input or no memory.
 * ---------------------------------------------------------------------- */
char *mw_base64_encode(const void *data, size_t len);
/* Decodes standard base64; returns -1 on malformed input. */
int mw_base64_decode(const char *b64, size_t b64len, char **out,
                     size_t *outlen);
/* Initial responses, already base64-encoded. */
char *mw_sasl_plain(const char *user, const char *pass);
char *mw_sasl_xoauth2(const char *user, const char *token);
/* CRAM-MD5 answer to a base64 challenge: base64("user hexdigest"). */
char *mw_sasl_cram_md5(const char *user, const char *pass,
                       const char *b64_challenge, size_t chlen);
/* APOP digest: lower-case hex MD5 of timestamp+pass into out[33]. */
int mw_apop_digest(const char *timestamp, size_t tslen, const char *pass,
                   char out[33]);
/* Pick a mechanism: the caller's wish (must be in offered, a space
 * separated list, case-insensitive), else the strongest of
 * CRAM-MD5 > PLAIN > LOGIN > XOAUTH2-only-when-asked that is offered.
 * Returns a static string or NULL. */
const char *mw_sasl_choose(const char *offered, const char *wanted);

/* ------------------------------------------------------------------------
 * session.c: what both clients share, and the pump that runs an engine
 * through the connection.
 * ---------------------------------------------------------------------- */
typedef enum mw_step {
  MW_STEP_DONE = 0,  /* the operation finished (successfully or with a
                        server refusal already recorded: see result) */
  MW_STEP_FLUSH = 1, /* send `out`, then step again */
  MW_STEP_READ = 2,  /* send `out`, read more into `in`, step again */
  MW_STEP_TLS = 3,   /* send `out`, verify `in` is empty (else
                        eexSSLInjection), start TLS, step again */
  MW_STEP_ERROR = 4, /* failed; *err is filled */
  MW_STEP_BODY = 5   /* send `out`, the message source has nothing yet:
                        wait for the application's next piece (io.c) */
} mw_step;

/* A message source (mw_read_cb) that has nothing yet returns this when the
 * engine was told it may wait (mw_smtp_source.can_wait): the engine then
 * stops with MW_STEP_BODY and calls it again later. */
#define MW_SOURCE_WAIT (-1000)

/* The engine side of the pump. step() advances the engine as far as the
 * buffered input allows, appending what to send to *out. waiting_for (may
 * be NULL) names what the engine waits for ("the reply to AUTH
 * CRAM-MD5"), for timeout messages; bulk (may be NULL) says the engine is
 * receiving message content, which the low-speed limit bounds instead of
 * the reply deadline. */
typedef struct mw_engine_io {
  void *engine;
  mw_step (*step)(void *engine);
  mw_buf *out;
  mw_reader *in;
  void (*waiting_for)(void *engine, char *buf, size_t len);
  int (*bulk)(void *engine);
  /* May be NULL. After a failed write or read, with whatever could still
   * be read without waiting buffered in `in`: 1 when that holds the
   * server's own reason (SMTP 421), which then replaces the error. */
  int (*salvage)(void *engine);
} mw_engine_io;

/* io.c: the caller-driven session (mailwire.h, "Without blocking"). What
 * the session is doing for the running operation: */
typedef enum mw_io_phase {
  MW_IOP_IDLE = 0,  /* no operation */
  MW_IOP_CONNECT,   /* waiting for the driver's TCP connection */
  MW_IOP_PROXY,     /* negotiating the tunnel (proxy.c) */
  MW_IOP_TLS,       /* TLS handshake over the memory BIOs */
  MW_IOP_TLS_CHECK, /* handshake done, checks before TLS is up (the
                       revocation check, asking MW_IO_FETCH) */
  MW_IOP_ENGINE,    /* the protocol engine runs */
  MW_IOP_DONE       /* finished: result is set */
} mw_io_phase;

struct mw_proxy_neg;
struct mw_session;

/* One retrieved piece waiting for MW_IO_DELIVER. */
typedef struct mw_io_piece_rec {
  size_t index;
  unsigned long msg;
  size_t off, len; /* in mw_io.dbytes */
  int end;
} mw_io_piece_rec;

struct mw_io {
  struct mw_session *s;
  mw_io_phase phase;
  int result;
  int want;         /* the want asked and not answered, or -1 */
  mw_engine_io eng; /* the client's engine (fixed at creation) */
  /* After the operation: the client keeps its engine in step. */
  int (*finish)(void *owner, int rc);
  void *owner;
  /* Bytes to write (ciphertext once TLS is up), and how many went. */
  mw_buf wire;
  size_t wire_pos;
  /* Received, not yet taken by the current layer (after a proxy reply). */
  mw_buf pending_in;
  int in_error; /* the TLS layer saw the end or an error: reported
                   when the engine next needs bytes (eex number) */
  long in_error_os;
  char in_error_text[256];
  mw_step st;    /* the step whose output is being written */
  int need_step; /* step the engine again */
  /* Where to connect, and where the proxy tunnels to. */
  char *connect_host;
  unsigned connect_port;
  char *target_host; /* A-label of the server */
  unsigned target_port;
  int implicit_tls;
  struct mw_proxy_neg *neg;
  int sock_live; /* the driver holds a connection for us */
  /* Clock (CLOCK_MONOTONIC ms): when the current wait began, when the
   * awaited reply was asked for, the low-speed window. */
  long long wait_start;
  long long reply_start;
  int bulk;
  long long window_start;
  uint64_t window_bytes;
  long long now_override; /* tests: a fake clock when non-zero */
  /* MW_IO_BODY: the application's piece, served to the engine. */
  mw_buf body;
  size_t body_pos;
  size_t body_cap; /* what the engine asked for */
  int body_end;
  int body_raw_set; /* the blocking driver's callback result */
  long body_raw;
  mw_read_cb body_cb; /* blocking driver: answers BODY */
  void *body_ud;
  /* MW_IO_DELIVER: retrieved pieces not yet taken. */
  mw_buf dbytes;
  mw_io_piece_rec *pieces;
  size_t npieces, piece_head, pieces_cap;
  unsigned long retr_msg;
  int retr_single; /* begin_retr/top: an end piece after the content */
};

typedef struct mw_session {
  mw_conn conn;
  mw_errorinfo err;
  mw_loghandler *log;
  mw_sslinfo *ssl;
  mw_proxyinfo *proxy; /* NULL: direct connection */
  char *login_user;    /* POP3 proxy: "user@server[:port]", else NULL */
  char *host;
  unsigned port;
  int timeout_ms;
  char *user;
  char *pass; /* wiped on free */
  char *mech; /* wanted mechanism or NULL */
  int allow_plain_auth;
  int busy; /* inside a call: re-entry from a callback is refused */
  atomic_int cancelled; /* set by mw_X_cancel, consumed by the pump */
  int drop;  /* the engine failed out of step: close even on errServer */
  pid_t pid; /* the process that made the client */
  struct mw_proxyinfo *conn_proxy; /* copy of proxy for this connection */
  mw_tls_outputs tls_out; /* this client's last handshake (tls_option) */
  /* Deadlines (mailwire.h, mw_smtp_set_reply_timeout): settings in ms (0:
   * none) and bytes/s, and the running operation's absolute deadline. */
  int reply_timeout_ms;
  int op_timeout_ms;
  long low_speed_limit;
  long long op_deadline;
  unsigned cur_port; /* the port of the current connection */
  struct mw_io io;   /* the caller-driven session (io.c) */
  /* The C event-loop driver's state (evloop.c): its socket, a connect or
   * fetch in progress, the body/deliver callbacks. NULL until the first
   * mw_X_socket_action or _cb begin call; freed with the session. */
  struct mw_ev *ev;
} mw_session;

void mw_session_init(mw_session *s);
void mw_session_free(mw_session *s);
/* The session of a client (for the event-loop driver's wrappers). */
mw_session *mw_smtp_session(mw_smtp *c);
mw_session *mw_pop3_session(mw_pop3 *c);
/* evloop.c: frees the event-loop driver's state (NULL-safe). */
void mw_ev_free(struct mw_ev *ev);
/* SetAdvancedHandler for either client: type-checks the magic. */
int mw_session_set_handler(mw_session *s, void *handler);
void mw_session_clear_handlers(mw_session *s);
/* mw_smtp_cancel / mw_pop3_cancel: the running (or next) pump fails with
 * errAborted/eexAborted and closes the connection. */
void mw_session_cancel(mw_session *s);
/* A client copied into a child by fork(): every call is refused with
 * errState/eexForked (filled into s->err; returns the base code), else
 * MW_OK. */
int mw_session_check_process(mw_session *s);
/* mw_X_tls_option_int/str: the outputs of this client's last handshake. */
int mw_session_tls_option_int(mw_session *s, int index, long *value);
int mw_session_tls_option_str(mw_session *s, int index, const char **value);
/* The user name to log in with: the POP3 proxy convention's
 * "user@server[:port]" during a connection through a POP3 proxy, else the
 * configured user. */
const char *mw_session_login_user(const mw_session *s);

/* A public call starts an operation: its deadline (operation timeout)
 * starts now. */
void mw_session_begin_op(mw_session *s);

/* Run the engine until DONE or ERROR through the blocking driver over
 * s->conn.fd (kept for the engine tests: the clients use mw_io_run).
 * Returns MW_OK after DONE, or the base code of s->err. On transport
 * errors, timeouts and protocol errors the connection is closed (its state
 * is unknown); server refusals leave it open. */
int mw_session_pump(mw_session *s, mw_engine_io *io);

/* Timeout sentences (session.c), shared by io.c. */
void mw_session_explain_timeout(mw_session *s, const char *what,
                                long long reply_dl);
long long mw_session_reply_deadline(const mw_session *s, long long start);
long long mw_earliest(long long a, long long b);
/* "A POP3/SMTP proxy serves only its protocol" and the POP3 proxy login;
 * the name TLS checks. */
int mw_session_check_app_proxy(mw_session *s, const char *host, int pop3);
const char *mw_session_tls_peer_name(const mw_session *s);
int mw_session_snapshot_proxy(mw_session *s);
/* After these the connection's state is unknown or unusable. */
int mw_closes_connection(int code);

/* ---- io.c: the session state machine ---- */
void mw_io_init(struct mw_io *io, mw_session *s, const mw_engine_io *eng);
void mw_io_free(struct mw_io *io);
/* Start connecting (mw_X_begin_connect after its checks): the transport
 * phases, then the engine (already begun). default ports as
 * mw_session_open had them. On failure nothing started. */
int mw_io_start_connect(struct mw_io *io, unsigned default_port,
                        unsigned default_tls_port,
                        int (*finish)(void *owner, int rc), void *owner);
/* Start an engine operation on an open connection. */
int mw_io_start(struct mw_io *io, int (*finish)(void *owner, int rc),
                void *owner);
/* The blocking driver (blocking.c): answer every want with poll()-bounded
 * socket I/O and the callbacks until DONE; returns the result. */
int mw_io_run(struct mw_io *io);
/* The blocking driver's answers that carry what mw_io_* cannot: a failure
 * already filled into s->err by driver.c; the socket of a connect. */
int mw_io__fail(struct mw_io *io);
int mw_io__connected_fd(struct mw_io *io, int fd, const char *peer);
/* After a failed write or read, what could still be read without waiting:
 * kept for the engine's look for the server's reason (SMTP 421). */
void mw_io__take_late(struct mw_io *io, const void *data, size_t n);
/* BODY for a callback: room for the engine's chunk, then the callback's
 * raw return (<0 aborts, > cap is refused: the engine says which). */
char *mw_io__body_space(struct mw_io *io, size_t *cap);
/* READ straight into the engine's reader when plaintext goes there (else
 * *space NULL; an error when out of memory), then how many bytes came (0:
 * end of stream). */
int mw_io__read_space(struct mw_io *io, size_t want, char **space);
int mw_io__read_commit(struct mw_io *io, size_t n);
/* An allocation in the driver failed: the operation ends with it. */
int mw_io__no_memory(struct mw_io *io);
int mw_io__body_result(struct mw_io *io, long n);
/* The engine sinks and source the io gives the engines for the public
 * API: they queue what arrives for MW_IO_DELIVER / take MW_IO_BODY. */
long mw_io__source(void *io, char *buf, size_t cap);
int mw_io__sink(void *io, const char *data, size_t len);
int mw_io__msg_sink(void *io, size_t i, unsigned long msg, const char *data,
                    size_t len, int end);
/* Tests: a test driver that answers every blocking call's wants (set by
 * tests/c/nbdriver.c; NULL: the poll() driver). */
extern int (*mw_io_test_driver)(struct mw_io *io);
/* The session's clock (ms, CLOCK_MONOTONIC, or the test clock). */
long long mw_io__now(const struct mw_io *io);
int mw_session_take_cancel(mw_session *s);
/* Tests: the session's clock reads this (ms) instead of CLOCK_MONOTONIC
 * when non-zero. */
void mw_io__set_clock(struct mw_io *io, long long now_ms);

#endif /* MW_INTERNAL_H */
