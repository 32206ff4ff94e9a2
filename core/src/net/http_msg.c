/* http_msg.c - the HTTP/1.0 messages of a revocation fetch, without I/O:
 * the URL, the request head, the answer's status line. Both drivers that
 * answer MW_IO_FETCH (blocking.c through http.c, and evloop.c) use these,
 * so a request and an answer mean the same to both. */
#include "http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int mw_http_parse_url(const char *url, mw_http_url *u) {
  if (!url || strncasecmp(url, "http://", 7) != 0)
    return -1;
  const char *h = url + 7, *slash = strchr(h, '/');
  size_t hl = slash ? (size_t)(slash - h) : strlen(h);
  if (hl == 0 || hl >= sizeof u->host)
    return -1;
  memcpy(u->host, h, hl);
  u->host[hl] = '\0';
  u->port = 80;
  char *colon = strrchr(u->host, ':');
  if (colon && !strchr(colon, ']')) {
    char *end;
    unsigned long p = strtoul(colon + 1, &end, 10);
    if (*end || p == 0 || p > 65535)
      return -1;
    u->port = (unsigned)p;
    *colon = '\0';
  }
  if (u->host[0] == '[') { /* [::1] */
    size_t n = strlen(u->host);
    if (n < 3 || u->host[n - 1] != ']')
      return -1;
    memmove(u->host, u->host + 1, n - 2);
    u->host[n - 2] = '\0';
  }
  snprintf(u->path, sizeof u->path, "%s", slash ? slash : "/");
  return 0;
}

size_t mw_http_request_head(char *head, size_t cap, const mw_http_url *u,
                            int post, size_t post_len) {
  int n = post ? snprintf(head, cap,
                          "POST %s HTTP/1.0\r\nHost: %s\r\nContent-Type: "
                          "application/ocsp-request\r\nContent-Length: %zu\r\n"
                          "Connection: close\r\n\r\n",
                          u->path, u->host, post_len)
               : snprintf(head, cap,
                          "GET %s HTTP/1.0\r\nHost: %s\r\nConnection: "
                          "close\r\n\r\n",
                          u->path, u->host);
  return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

int mw_http_answer_head(const unsigned char *buf, size_t len, int *status,
                        size_t *body_at) {
  if (len < 12 || memcmp(buf, "HTTP/1.", 7) != 0 ||
      sscanf((const char *)buf + 8, " %3d", status) != 1)
    return -1;
  for (size_t i = 0; i + 3 < len; i++)
    if (memcmp(buf + i, "\r\n\r\n", 4) == 0) {
      *body_at = i + 4;
      return 0;
    }
  return -1;
}
