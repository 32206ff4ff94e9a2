/* driver.h - the only code that touches sockets (private). Every wait is
 * bounded by a timeout; failures fill the ErrorInfo and return the base
 * code. */
#ifndef MW_DRIVER_H
#define MW_DRIVER_H

#include "internal.h"

/* Resolve host and connect to the first address that answers, all within
 * timeout_ms. Resolution runs on a helper thread so that it is bounded too:
 * a resolver that does not answer in time is errTimeout/eexTimeout (not
 * eexDNS, which means the name does not resolve). On success *fd is a
 * non-blocking socket with TCP_NODELAY and peer names the address
 * ("127.0.0.1:25"). */
int mw_driver_connect(const char *host, unsigned port, int timeout_ms,
                      mw_errorinfo *err, mw_loghandler *log, int *fd,
                      char *peer, size_t peerlen);
/* Resolve host to one address for a proxy request: 4-byte IPv4 (family
 * 4) or, unless ipv4_only, 16-byte IPv6 (family 6), within timeout_ms.
 * eexDNS on failure, eexTimeout when the resolver did not answer in time. */
int mw_driver_resolve(const char *host, int ipv4_only, int timeout_ms,
                      unsigned char addr[16], int *family, mw_errorinfo *err);
/* Send all of data, waiting at most timeout_ms for each chance to write. */
int mw_driver_send(int fd, const void *data, size_t len, int timeout_ms,
                   mw_errorinfo *err);
/* Receive 1..cap bytes, waiting at most timeout_ms. EOF is
 * eexServerClosed. */
int mw_driver_recv(int fd, void *buf, size_t cap, int timeout_ms, size_t *got,
                   mw_errorinfo *err);

#endif
