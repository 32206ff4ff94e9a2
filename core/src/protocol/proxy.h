/* proxy.h - the proxy negotiation engines (private). SOCKS4, SOCKS4a,
 * SOCKS5 (RFC 1928, RFC 1929) and HTTP CONNECT as a state machine that is
 * fed the proxy's bytes and produces the bytes to send: it does no I/O, so
 * conn.c drives it over the driver and tests feed it transcripts. */
#ifndef MW_PROXY_H
#define MW_PROXY_H

#include "internal.h"

#define MW_PROXY_MAX_FIELD 255 /* user, password, host: one length byte */
#define MW_PROXY_MAX_HTTP 8192 /* HTTP CONNECT reply headers, all lines */

/* ProxyInfo (proxyinfo.c). Clients on other threads may be connecting
 * with it while its setters run: the setters change the fields under
 * `lock`, and a connecting client works from a snapshot taken under it
 * (so a change applies to the next connection). */
struct mw_proxyinfo {
  mw_handler_hdr hdr;
  pthread_mutex_t lock;
  int kind;
  char *host;
  unsigned port;
  char *user;
  char *pass; /* wiped on free */
  int remote_dns;
  mw_errorinfo err;
};

void mw_proxyinfo_ref(mw_proxyinfo *p);
/* A consistent copy of p's settings for one connection (no reference
 * count, no lock, no ErrorInfo): -1 when out of memory. Free with
 * mw_proxyinfo_snapshot_free. */
int mw_proxyinfo_snapshot(mw_proxyinfo *p, mw_proxyinfo *copy);
void mw_proxyinfo_snapshot_free(mw_proxyinfo *copy);
const char *mw_proxy_kind_name(int kind);
/* Does this kind tunnel bytes (SOCKS, HTTP) rather than speak the mail
 * protocol itself (POP3, SMTP)? */
int mw_proxy_is_tunnel(int kind);

typedef enum mw_proxy_state {
  MW_PXS_GREETING, /* SOCKS5: waiting for the method choice */
  MW_PXS_AUTH,     /* SOCKS5: waiting for the user/password verdict */
  MW_PXS_REPLY,    /* waiting for the connect reply */
  MW_PXS_DONE,     /* tunnel open */
  MW_PXS_FAILED    /* *err is filled */
} mw_proxy_state;

typedef struct mw_proxy_neg {
  int kind;
  const char *user, *pass; /* borrowed; NULL user: no credentials */
  const char *host;        /* target (the mail server), borrowed */
  unsigned port;
  /* The target's address when it was resolved locally (SOCKS4, SOCKS5
   * without remote DNS) or is a literal: family 4 or 6, else 0 (name). */
  int addr_family;
  unsigned char addr[16];
  mw_proxy_state state;
  mw_buf out; /* bytes to send to the proxy */
  mw_buf in;  /* reply bytes received, not consumed */
  mw_errorinfo *err;
  mw_loghandler *log;
} mw_proxy_neg;

/* Does the negotiation need the target's address resolved locally
 * (before mw_proxy_start)? */
int mw_proxy_needs_local_address(int kind, int remote_dns, const char *host);
/* Parse a literal IPv4/IPv6 address into addr; returns 4, 6 or 0. */
int mw_proxy_literal(const char *host, unsigned char addr[16]);

/* Set up and produce the first request in n->out. addr_family/addr must
 * be filled by the caller when mw_proxy_needs_local_address said so.
 * Returns MW_PXS_* (GREETING/REPLY to go on, FAILED on a local refusal). */
void mw_proxy_init(mw_proxy_neg *n, int kind, const char *user,
                   const char *pass, const char *host, unsigned port,
                   mw_errorinfo *err, mw_loghandler *log);
mw_proxy_state mw_proxy_start(mw_proxy_neg *n);
/* How many bytes to read next so that nothing after the proxy's last
 * reply byte is read (the mail server's greeting follows it). >= 1 while
 * the negotiation runs. */
size_t mw_proxy_want(const mw_proxy_neg *n);
/* Feed received bytes; appends what to send next to n->out. */
mw_proxy_state mw_proxy_feed(mw_proxy_neg *n, const void *data, size_t len);
/* The proxy closed the connection (EOF) mid-negotiation. */
mw_proxy_state mw_proxy_eof(mw_proxy_neg *n);
void mw_proxy_free(mw_proxy_neg *n);

#endif
