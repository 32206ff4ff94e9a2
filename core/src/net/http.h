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

/* http_msg.c, no I/O. Only http://host[:port]/path ([v6] allowed): 0, or
 * -1 for anything else. */
int mw_http_parse_url(const char *url, mw_http_url *u);
/* The request head: POST with post_len body bytes to follow (OCSP), else
 * GET (CRL). Its length, or 0 when it does not fit in cap. */
size_t mw_http_request_head(char *head, size_t cap, const mw_http_url *u,
                            int post, size_t post_len);
/* The answer's status and where its body starts: 0, or -1 when buf is not
 * an HTTP/1.x answer with its whole head. */
int mw_http_answer_head(const unsigned char *buf, size_t len, int *status,
                        size_t *body_at);

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
