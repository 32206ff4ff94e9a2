/* http.h - a blocking HTTP/1.0 client for revocation fetches (private):
 * the blocking driver answers MW_IO_FETCH with it. Bounded in time (one
 * deadline for the whole exchange) and in size. */
#ifndef MW_HTTP_H
#define MW_HTTP_H

#include <stddef.h>

/* The largest answer body a revocation fetch takes (a CRL or an OCSP
 * response); a longer one is "no information", not a server fault. */
#define MW_HTTP_MAX (1024 * 1024)

typedef struct mw_http_url {
  char host[256];
  unsigned port;
  char path[1024];
} mw_http_url;

/* Only http://host[:port]/path ([v6] allowed): 0, or -1 for anything else. */
int mw_http_parse_url(const char *url, mw_http_url *u);

typedef struct mw_http_answer {
  int status;          /* the HTTP status */
  unsigned char *body; /* malloc'd; at most MW_HTTP_MAX + 1 bytes: one
                          more says it was larger */
  size_t len;
  char why[200]; /* when it failed: what went wrong, with host:port */
} mw_http_answer;

/* POST post_len bytes of post (an OCSP request) to url, or GET it when
 * post is NULL, within timeout_ms for everything. 0 with out->status and
 * out->body (free it), or -1 with out->why: the server could not be
 * reached or did not answer in HTTP. */
int mw_http_fetch(const char *url, const unsigned char *post, size_t post_len,
                  int timeout_ms, mw_http_answer *out);

#endif
