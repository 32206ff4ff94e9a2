/* proxy.c - SOCKS4, SOCKS4a, SOCKS5 and HTTP CONNECT negotiation as a
 * state machine: bytes in, bytes out, no I/O (conn.c drives it). */
#include "proxy.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SOCKS5_VERSION 0x05
#define SOCKS5_NO_AUTH 0x00
#define SOCKS5_USERPASS 0x02
#define SOCKS5_NO_ACCEPTABLE 0xff
#define SOCKS5_AUTH_VERSION 0x01
#define SOCKS5_ATYP_IPV4 0x01
#define SOCKS5_ATYP_NAME 0x03
#define SOCKS5_ATYP_IPV6 0x04
#define SOCKS4_GRANTED 90

const char *mw_proxy_kind_name(int kind) {
  switch (kind) {
  case MW_PROXY_SOCKS4:
    return "SOCKS4";
  case MW_PROXY_SOCKS4A:
    return "SOCKS4a";
  case MW_PROXY_SOCKS5:
    return "SOCKS5";
  case MW_PROXY_HTTP:
    return "HTTP CONNECT";
  case MW_PROXY_POP3:
    return "POP3 proxy";
  case MW_PROXY_SMTP:
    return "SMTP proxy";
  default:
    return "unknown proxy";
  }
}

int mw_proxy_is_tunnel(int kind) {
  return kind == MW_PROXY_SOCKS4 || kind == MW_PROXY_SOCKS4A ||
         kind == MW_PROXY_SOCKS5 || kind == MW_PROXY_HTTP;
}

int mw_proxy_literal(const char *host, unsigned char addr[16]) {
  if (inet_pton(AF_INET, host, addr) == 1)
    return 4;
  if (inet_pton(AF_INET6, host, addr) == 1)
    return 6;
  return 0;
}

int mw_proxy_needs_local_address(int kind, int remote_dns, const char *host) {
  unsigned char tmp[16];
  if (mw_proxy_literal(host, tmp))
    return 0; /* a literal needs no resolving */
  return kind == MW_PROXY_SOCKS4 || (kind == MW_PROXY_SOCKS5 && !remote_dns);
}

void mw_proxy_init(mw_proxy_neg *n, int kind, const char *user,
                   const char *pass, const char *host, unsigned port,
                   mw_errorinfo *err, mw_loghandler *log) {
  memset(n, 0, sizeof *n);
  n->kind = kind;
  n->user = user;
  n->pass = pass ? pass : "";
  n->host = host;
  n->port = port;
  n->err = err;
  n->log = log;
  mw_buf_init(&n->out);
  mw_buf_init(&n->in);
  n->addr_family = mw_proxy_literal(host, n->addr);
}

void mw_proxy_free(mw_proxy_neg *n) {
  /* The requests may hold the password (RFC 1929, Basic). */
  if (n->out.data)
    memset(n->out.data, 0, n->out.cap);
  mw_buf_free(&n->out);
  mw_buf_free(&n->in);
}

/* ---- failing ---- */

static mw_proxy_state failv(mw_proxy_neg *n, int number, const char *fmt,
                            va_list ap) {
  mw_error_vset(n->err, number, 0, fmt, ap);
  mw_log(n->log, LOG_S_FATAL, LOG_F_PROXY, "%s", n->err->text);
  n->state = MW_PXS_FAILED;
  return n->state;
}

static mw_proxy_state fail(mw_proxy_neg *n, int number, const char *fmt, ...)
    MW_PRINTF(3, 4);
static mw_proxy_state fail(mw_proxy_neg *n, int number, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  failv(n, number, fmt, ap);
  va_end(ap);
  return n->state;
}

static mw_proxy_state no_memory(mw_proxy_neg *n) {
  return fail(n, eexNoMemory, "Out of memory while talking to the proxy.");
}

static mw_proxy_state bad_reply(mw_proxy_neg *n, const char *what) {
  return fail(n, eexProxyUnexpecteddefault,
              "The %s proxy sent an unexpected reply (%s). Check that the "
              "proxy address and port are those of a %s proxy.",
              mw_proxy_kind_name(n->kind), what, mw_proxy_kind_name(n->kind));
}

/* ---- local checks ---- */

static int field_ok(mw_proxy_neg *n, const char *what, const char *s) {
  size_t len = strlen(s);
  if (len > MW_PROXY_MAX_FIELD) {
    fail(n, eexInvalidArgument,
         "The %s for the %s proxy is %zu bytes long; the protocol allows "
         "at most %d.",
         what, mw_proxy_kind_name(n->kind), len, MW_PROXY_MAX_FIELD);
    return 0;
  }
  if (strpbrk(s, "\r\n")) {
    fail(n, eexInvalidArgument,
         "The %s for the %s proxy contains a line break.", what,
         mw_proxy_kind_name(n->kind));
    return 0;
  }
  return 1;
}

static int arguments_ok(mw_proxy_neg *n) {
  if (!n->host || !*n->host) {
    fail(n, eexInvalidArgument,
         "No mail server name to reach through the "
         "proxy.");
    return 0;
  }
  if (n->port == 0 || n->port > 65535) {
    fail(n, eexInvalidArgument, "Port %u cannot be reached through a proxy.",
         n->port);
    return 0;
  }
  if (!field_ok(n, "mail server name", n->host))
    return 0;
  if (n->user && !field_ok(n, "user name", n->user))
    return 0;
  return !n->user || field_ok(n, "password", n->pass);
}

static int put(mw_proxy_neg *n, const void *p, size_t len) {
  return mw_buf_append(&n->out, p, len) == 0;
}

static int put_byte(mw_proxy_neg *n, unsigned v) {
  unsigned char b = (unsigned char)v;
  return put(n, &b, 1);
}

static int put_port(mw_proxy_neg *n) {
  return put_byte(n, n->port >> 8) && put_byte(n, n->port & 0xff);
}

static void addr_text(const mw_proxy_neg *n, char *out, size_t len) {
  if (n->addr_family == 4)
    inet_ntop(AF_INET, n->addr, out, (socklen_t)len);
  else if (n->addr_family == 6)
    inet_ntop(AF_INET6, n->addr, out, (socklen_t)len);
  else
    snprintf(out, len, "%s", n->host);
}

/* ---- SOCKS4 / SOCKS4a ---- */

static mw_proxy_state socks4_start(mw_proxy_neg *n) {
  int name = n->addr_family != 4;
  if (name && n->kind == MW_PROXY_SOCKS4)
    return fail(n, eexInvalidArgument,
                "SOCKS4 carries only IPv4 addresses; '%s' has none here. "
                "Use SOCKS4a or SOCKS5.",
                n->host);
  if (n->addr_family == 6)
    return fail(n, eexInvalidArgument,
                "SOCKS4a cannot reach the IPv6 address %s; use SOCKS5.",
                n->host);
  /* SOCKS4a: the address 0.0.0.1 says "the name follows". */
  static const unsigned char socks4a_marker[4] = {0, 0, 0, 1};
  int ok = put_byte(n, 4) && put_byte(n, 1) && put_port(n) &&
           put(n, name ? socks4a_marker : n->addr, 4) &&
           put(n, n->user ? n->user : "", strlen(n->user ? n->user : "") + 1);
  if (ok && name)
    ok = put(n, n->host, strlen(n->host) + 1);
  if (!ok)
    return no_memory(n);
  char where[64];
  addr_text(n, where, sizeof where);
  mw_log(n->log, LOG_S_INFORMATION, LOG_F_PROXY,
         "%s: asking the proxy to connect to %s port %u (%s)%s%s%s",
         mw_proxy_kind_name(n->kind), where, n->port,
         name ? "name resolved by the proxy" : "address resolved locally",
         n->user ? ", user id '" : "", n->user ? n->user : "",
         n->user ? "'" : "");
  n->state = MW_PXS_REPLY;
  return n->state;
}

static const char *socks4_reason(unsigned code) {
  switch (code) {
  case 91:
    return "request rejected or failed";
  case 92:
    return "the proxy cannot reach the client's identd";
  case 93:
    return "identd reports a different user id";
  default:
    return "unknown reason";
  }
}

static mw_proxy_state socks4_reply(mw_proxy_neg *n) {
  const unsigned char *r = (const unsigned char *)n->in.data;
  if (n->in.len < 2)
    return n->state;
  if (r[0] != 0)
    return bad_reply(n, "reply version is not 0");
  if (r[1] != SOCKS4_GRANTED && (r[1] < 91 || r[1] > 93))
    return bad_reply(n, "unknown reply code");
  if (r[1] != SOCKS4_GRANTED)
    return fail(n, r[1] == 93 ? eexProxyAuthfailed : eexProxyRequestfailed,
                "The %s proxy refused to connect to %s port %u: %s (code "
                "%u). Check the proxy's rules and the server address.",
                mw_proxy_kind_name(n->kind), n->host, n->port,
                socks4_reason(r[1]), r[1]);
  if (n->in.len < 8)
    return n->state;
  mw_log(n->log, LOG_S_INFORMATION, LOG_F_PROXY,
         "%s: the proxy connected to %s port %u", mw_proxy_kind_name(n->kind),
         n->host, n->port);
  n->state = MW_PXS_DONE;
  return n->state;
}

/* ---- SOCKS5 ---- */

static mw_proxy_state socks5_start(mw_proxy_neg *n) {
  int ok = n->user ? put(n, "\x05\x02\x00\x02", 4) : put(n, "\x05\x01\x00", 3);
  if (!ok)
    return no_memory(n);
  mw_log(n->log, LOG_S_INFORMATION, LOG_F_PROXY,
         "SOCKS5: offering the methods %s",
         n->user ? "no authentication, user/password" : "no authentication");
  n->state = MW_PXS_GREETING;
  return n->state;
}

static mw_proxy_state socks5_request(mw_proxy_neg *n) {
  int ok = put(n, "\x05\x01\x00", 3);
  if (n->addr_family == 4)
    ok = ok && put_byte(n, SOCKS5_ATYP_IPV4) && put(n, n->addr, 4);
  else if (n->addr_family == 6)
    ok = ok && put_byte(n, SOCKS5_ATYP_IPV6) && put(n, n->addr, 16);
  else
    ok = ok && put_byte(n, SOCKS5_ATYP_NAME) &&
         put_byte(n, (unsigned)strlen(n->host)) &&
         put(n, n->host, strlen(n->host));
  if (!ok || !put_port(n))
    return no_memory(n);
  char where[64];
  addr_text(n, where, sizeof where);
  mw_log(n->log, LOG_S_INFORMATION, LOG_F_PROXY,
         "SOCKS5: asking the proxy to connect to %s port %u (%s)", where,
         n->port, n->addr_family ? "address" : "name resolved by the proxy");
  n->state = MW_PXS_REPLY;
  return n->state;
}

static mw_proxy_state socks5_send_credentials(mw_proxy_neg *n) {
  size_t ulen = strlen(n->user), plen = strlen(n->pass);
  if (!(put_byte(n, SOCKS5_AUTH_VERSION) && put_byte(n, (unsigned)ulen) &&
        put(n, n->user, ulen) && put_byte(n, (unsigned)plen) &&
        put(n, n->pass, plen)))
    return no_memory(n);
  mw_log(n->log, LOG_S_INFORMATION, LOG_F_PROXY,
         "SOCKS5: authenticating as '%s' (password <redacted>)", n->user);
  n->state = MW_PXS_AUTH;
  return n->state;
}

static mw_proxy_state socks5_greeting(mw_proxy_neg *n) {
  if (n->in.len < 2)
    return n->state;
  const unsigned char *r = (const unsigned char *)n->in.data;
  if (r[0] != SOCKS5_VERSION)
    return bad_reply(n, "version is not 5 in the method choice");
  unsigned method = r[1];
  mw_buf_consume(&n->in, 2);
  if (method == SOCKS5_NO_AUTH) {
    mw_log(n->log, LOG_S_INFORMATION, LOG_F_PROXY,
           "SOCKS5: the proxy needs no authentication");
    return socks5_request(n);
  }
  if (!n->user &&
      (method == SOCKS5_USERPASS || method == SOCKS5_NO_ACCEPTABLE))
    return fail(n, eexProxyAuthrequired,
                "The SOCKS5 proxy requires authentication; set a user name "
                "and password on the ProxyInfo.");
  if (method == SOCKS5_USERPASS)
    return socks5_send_credentials(n);
  return fail(n, eexProxyAuthtypeunknown,
              "The SOCKS5 proxy accepts none of the authentication methods "
              "mailwire supports (no authentication, user/password); it "
              "answered method 0x%02x.",
              method);
}

static mw_proxy_state socks5_auth(mw_proxy_neg *n) {
  if (n->in.len < 2)
    return n->state;
  const unsigned char *r = (const unsigned char *)n->in.data;
  if (r[0] != SOCKS5_AUTH_VERSION)
    return bad_reply(n, "user/password reply version is not 1");
  if (r[1] != 0)
    return fail(n, eexProxyAuthfailed,
                "The SOCKS5 proxy refused the user name '%s' or its "
                "password (status %u). Check the proxy credentials.",
                n->user, r[1]);
  mw_buf_consume(&n->in, 2);
  mw_log(n->log, LOG_S_INFORMATION, LOG_F_PROXY,
         "SOCKS5: the proxy accepted the credentials");
  return socks5_request(n);
}

static const char *socks5_reason(unsigned code) {
  static const char *const reasons[] = {"succeeded",
                                        "general SOCKS server failure",
                                        "connection not allowed by ruleset",
                                        "network unreachable",
                                        "host unreachable",
                                        "connection refused",
                                        "TTL expired",
                                        "command not supported",
                                        "address type not supported"};
  return code < sizeof reasons / sizeof reasons[0] ? reasons[code]
                                                   : "unknown reason";
}

/* The length of the whole connect reply once its first 5 bytes are in;
 * 0 for an unknown address type. */
static size_t socks5_reply_len(const unsigned char *r) {
  switch (r[3]) {
  case SOCKS5_ATYP_IPV4:
    return 4 + 4 + 2;
  case SOCKS5_ATYP_IPV6:
    return 4 + 16 + 2;
  case SOCKS5_ATYP_NAME:
    return 4 + 1 + (size_t)r[4] + 2;
  default:
    return 0;
  }
}

static mw_proxy_state socks5_reply(mw_proxy_neg *n) {
  const unsigned char *r = (const unsigned char *)n->in.data;
  if (n->in.len >= 1 && r[0] != SOCKS5_VERSION)
    return bad_reply(n, "version is not 5 in the connect reply");
  if (n->in.len >= 2 && r[1] != 0)
    return fail(n, eexProxyRequestfailed,
                "The SOCKS5 proxy could not connect to %s port %u: %s (code "
                "%u). Check the server name and port, and the proxy's "
                "rules.",
                n->host, n->port, socks5_reason(r[1]), r[1]);
  if (n->in.len < 5)
    return n->state;
  size_t need = socks5_reply_len(r);
  if (need == 0)
    return bad_reply(n, "unknown address type in the connect reply");
  if (n->in.len < need)
    return n->state;
  mw_log(n->log, LOG_S_INFORMATION, LOG_F_PROXY,
         "SOCKS5: the proxy connected to %s port %u", n->host, n->port);
  n->state = MW_PXS_DONE;
  return n->state;
}

/* ---- HTTP CONNECT ---- */

static mw_proxy_state http_start(mw_proxy_neg *n) {
  const char *l = n->addr_family == 6 ? "[" : "", *r = *l ? "]" : "";
  if (mw_buf_appendf(&n->out,
                     "CONNECT %s%s%s:%u HTTP/1.1\r\nHost: %s%s%s:%u\r\n", l,
                     n->host, r, n->port, l, n->host, r, n->port) != 0)
    return no_memory(n);
  if (n->user) {
    mw_buf pair;
    mw_buf_init(&pair);
    int ok = mw_buf_appendf(&pair, "%s:%s", n->user, n->pass) == 0;
    char *b64 = ok ? mw_base64_encode(pair.data, pair.len) : NULL;
    if (pair.data)
      memset(pair.data, 0, pair.len);
    mw_buf_free(&pair);
    ok = b64 && mw_buf_appendf(&n->out, "Proxy-Authorization: Basic %s\r\n",
                               b64) == 0;
    mw_free_secret(b64);
    if (!ok)
      return no_memory(n);
  }
  if (mw_buf_append_str(&n->out, "\r\n") != 0)
    return no_memory(n);
  mw_log(n->log, LOG_S_INFORMATION, LOG_F_PROXY,
         "HTTP: CONNECT %s%s%s:%u%s%s%s", l, n->host, r, n->port,
         n->user ? " as '" : "", n->user ? n->user : "",
         n->user ? "' (Proxy-Authorization: Basic <redacted>)" : "");
  n->state = MW_PXS_REPLY;
  return n->state;
}

static const char *header_end(const mw_buf *in) {
  if (in->len < 4)
    return NULL;
  return strstr(in->data, "\r\n\r\n");
}

/* "HTTP/1.x NNN reason": the status code, or -1. */
static int http_status(const char *line, size_t len, const char **reason) {
  if (len < 12 || strncmp(line, "HTTP/1.", 7) != 0 || line[8] != ' ')
    return -1;
  for (int i = 9; i < 12; i++)
    if (line[i] < '0' || line[i] > '9')
      return -1;
  if (len > 12 && line[12] != ' ')
    return -1;
  *reason = line + (len > 12 ? 13 : 12);
  return (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
}

static mw_proxy_state http_reply(mw_proxy_neg *n) {
  if (memchr(n->in.data, '\0', n->in.len))
    return bad_reply(n, "NUL byte in the HTTP reply");
  if (!header_end(&n->in)) {
    if (n->in.len >= MW_PROXY_MAX_HTTP)
      return bad_reply(n, "HTTP reply headers longer than 8192 bytes");
    return n->state;
  }
  size_t line_len = (size_t)(strstr(n->in.data, "\r\n") - n->in.data);
  n->in.data[line_len] = '\0';
  const char *reason = "";
  int status = http_status(n->in.data, line_len, &reason);
  if (status < 0)
    return bad_reply(n, "malformed HTTP status line");
  /* 407 is the standard answer; tinyproxy answers wrong credentials with
   * 401. */
  if (status == 407 || status == 401)
    return fail(n, n->user ? eexProxyAuthfailed : eexProxyAuthrequired,
                n->user ? "The HTTP proxy refused the user name '%s' or its "
                          "password (%d %s). Check the proxy credentials."
                        : "The HTTP proxy requires authentication%s(%d %s); "
                          "set a user name and password on the ProxyInfo.",
                n->user ? n->user : " ", status, reason);
  if (status < 200 || status > 299)
    return fail(n, eexProxyRequestfailed,
                "The HTTP proxy refused to connect to %s port %u: %d %s. "
                "Check the server name and port, and which ports the proxy "
                "allows for CONNECT.",
                n->host, n->port, status, reason);
  mw_log(n->log, LOG_S_INFORMATION, LOG_F_PROXY,
         "HTTP: the proxy connected to %s port %u (%d %s)", n->host, n->port,
         status, reason);
  n->state = MW_PXS_DONE;
  return n->state;
}

/* ---- the machine ---- */

mw_proxy_state mw_proxy_start(mw_proxy_neg *n) {
  if (!arguments_ok(n))
    return n->state;
  switch (n->kind) {
  case MW_PROXY_SOCKS4:
  case MW_PROXY_SOCKS4A:
    return socks4_start(n);
  case MW_PROXY_SOCKS5:
    return socks5_start(n);
  case MW_PROXY_HTTP:
    return http_start(n);
  default:
    return fail(n, eexProxyException,
                "Internal error: %s is not a tunnelling proxy.",
                mw_proxy_kind_name(n->kind));
  }
}

size_t mw_proxy_want(const mw_proxy_neg *n) {
  const unsigned char *r = (const unsigned char *)n->in.data;
  size_t have = n->in.len;
  if (n->state == MW_PXS_GREETING || n->state == MW_PXS_AUTH)
    return have < 2 ? 2 - have : 1;
  if (n->state != MW_PXS_REPLY)
    return 1;
  if (n->kind == MW_PROXY_SOCKS4 || n->kind == MW_PROXY_SOCKS4A)
    return have < 8 ? 8 - have : 1;
  if (n->kind == MW_PROXY_SOCKS5) {
    if (have < 5)
      return 5 - have;
    size_t need = socks5_reply_len(r);
    return need > have ? need - have : 1;
  }
  /* HTTP: the fewest bytes that could complete "\r\n\r\n". */
  static const char end[] = "\r\n\r\n";
  for (size_t k = 3; k > 0; k--)
    if (have >= k && memcmp(n->in.data + have - k, end, k) == 0)
      return 4 - k;
  return 4;
}

static mw_proxy_state step(mw_proxy_neg *n) {
  switch (n->state) {
  case MW_PXS_GREETING:
    return socks5_greeting(n);
  case MW_PXS_AUTH:
    return socks5_auth(n);
  case MW_PXS_REPLY:
    if (n->kind == MW_PROXY_SOCKS5)
      return socks5_reply(n);
    if (n->kind == MW_PROXY_HTTP)
      return http_reply(n);
    return socks4_reply(n);
  default:
    return n->state;
  }
}

mw_proxy_state mw_proxy_feed(mw_proxy_neg *n, const void *data, size_t len) {
  if (n->state == MW_PXS_DONE || n->state == MW_PXS_FAILED)
    return n->state;
  if (mw_buf_append(&n->in, data, len) != 0)
    return no_memory(n);
  /* Each step consumes a whole reply and may leave the next one. */
  for (int rounds = 0; rounds < 4; rounds++) {
    mw_proxy_state before = n->state;
    step(n);
    if (n->state == before)
      break;
  }
  return n->state;
}

mw_proxy_state mw_proxy_eof(mw_proxy_neg *n) {
  if (n->state == MW_PXS_DONE || n->state == MW_PXS_FAILED)
    return n->state;
  /* Part of a reply and then EOF is a truncated (malformed) reply; EOF
   * where a reply should start is the proxy hanging up. */
  if (n->in.len > 0)
    return fail(n, eexProxyUnexpecteddefault,
                "The %s proxy sent a truncated reply (%zu bytes) and closed "
                "the connection. Check that the proxy address and port are "
                "those of a %s proxy.",
                mw_proxy_kind_name(n->kind), n->in.len,
                mw_proxy_kind_name(n->kind));
  return fail(n, eexProxyServerclosedport,
              "The %s proxy closed the connection during the negotiation. "
              "Check the proxy's logs and whether it accepts this client.",
              mw_proxy_kind_name(n->kind));
}
