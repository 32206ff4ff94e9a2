/*
 * test_deadlines.c - deadlines that need no scripted server (those are
 * hostile cases, tests/hostile/cases/{smtp,pop3}/stall/drip-*):
 *   - a greeting awaited on an implicit-TLS port says so;
 *   - `test_deadlines resolver` (run by resolver-timeout.sh inside private
 *     mount and network namespaces, where resolv.conf names 127.0.0.1):
 *     a DNS server that receives every query and never answers bounds the
 *     connect by its timeout, errTimeout/eexTimeout.
 */
#define _DEFAULT_SOURCE
#include "internal.h"
#include "testlib.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* A listener on addr:port that accepts nothing and says nothing (the
 * kernel completes the TCP handshake), like an implicit-TLS port waiting
 * for a ClientHello. -1 when the port is taken. */
static int silent_listener(const char *addr, unsigned port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  inet_pton(AF_INET, addr, &a.sin_addr);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 4) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

/* What the client sent before it hung up (the listener's first
 * connection). */
static size_t bytes_sent_to(int lfd) {
  int fd = accept(lfd, NULL, NULL);
  if (fd < 0)
    return (size_t)-1;
  char buf[256];
  size_t total = 0;
  ssize_t n;
  while ((n = recv(fd, buf, sizeof buf, 0)) > 0)
    total += (size_t)n;
  close(fd);
  return total;
}

/* A loopback address of its own (127.x.y.z), so that port 465 or 995 is
 * free whatever else runs on this machine. */
static int listener_on_own_address(unsigned port, char *addr, size_t len) {
  srand((unsigned)time(NULL) ^ (unsigned)getpid());
  for (int tries = 0; tries < 50; tries++) {
    snprintf(addr, len, "127.%d.%d.%d", 1 + rand() % 250, rand() % 250,
             1 + rand() % 250);
    int fd = silent_listener(addr, port);
    if (fd >= 0)
      return fd;
  }
  return -1;
}

/* MODE_STARTTLS on 465: the server waits for a ClientHello, the client
 * for a greeting. The error names the greeting and MODE_CHANNEL. */
static void greeting_on_implicit_tls_port_smtp(void) {
  char addr[32];
  int lfd = listener_on_own_address(465, addr, sizeof addr);
  CHECK(lfd >= 0);
  if (lfd < 0)
    return;
  mw_smtp *c = mw_smtp_new();
  mw_sslinfo *ssl = mw_sslinfo_new();
  CHECK_INT(mw_sslinfo_set_mode(ssl, MODE_STARTTLS), MW_OK);
  CHECK_INT(mw_smtp_set_handler(c, ssl), MW_OK);
  CHECK_INT(mw_smtp_set_server(c, addr, 465), MW_OK);
  CHECK_INT(mw_smtp_set_timeout(c, 300), MW_OK);
  int rc = mw_smtp_connect(c);
  const mw_errorinfo *ei = mw_smtp_extended_error(c);
  CHECK_ERR(rc, ei, errTimeout, eexTimeout);
  const char *text = mw_errorinfo_text(ei);
  CHECK(strstr(text, "waiting for the greeting"));
  CHECK(strstr(text, "nothing arrived for 300 ms"));
  CHECK(strstr(text, "Is port 465 an implicit-TLS port? Use an SSLInfo in "
                     "MODE_CHANNEL."));
  CHECK_INT(mw_smtp_is_connected(c), 0);
  CHECK_INT(bytes_sent_to(lfd), 0); /* no EHLO went out */
  mw_smtp_free(c);
  mw_sslinfo_free(ssl);
  close(lfd);
}

/* The same for POP3 on 995, without an SSLInfo at all. */
static void greeting_on_implicit_tls_port_pop3(void) {
  char addr[32];
  int lfd = listener_on_own_address(995, addr, sizeof addr);
  CHECK(lfd >= 0);
  if (lfd < 0)
    return;
  mw_pop3 *c = mw_pop3_new();
  CHECK_INT(mw_pop3_set_server(c, addr, 995), MW_OK);
  CHECK_INT(mw_pop3_set_timeout(c, 300), MW_OK);
  int rc = mw_pop3_connect(c);
  const mw_errorinfo *ei = mw_pop3_extended_error(c);
  CHECK_ERR(rc, ei, errTimeout, eexTimeout);
  CHECK(strstr(mw_errorinfo_text(ei), "Is port 995 an implicit-TLS port?"));
  CHECK_INT(bytes_sent_to(lfd), 0); /* no CAPA went out */
  mw_pop3_free(c);
  close(lfd);
}

/* ---- a DNS server that never answers (only inside the namespaces) ---- */

typedef struct dns_sink {
  int fd;
  atomic_int queries;
  atomic_int asked_for_name; /* a query carried the name's labels */
  atomic_int stop;
} dns_sink;

static void *dns_sink_main(void *arg) {
  dns_sink *d = arg;
  while (!atomic_load(&d->stop)) {
    struct pollfd p = {.fd = d->fd, .events = POLLIN};
    if (poll(&p, 1, 100) <= 0)
      continue;
    char q[512];
    ssize_t n = recv(d->fd, q, sizeof q, 0);
    if (n <= 0)
      continue;
    atomic_fetch_add(&d->queries, 1);
    if (tl_contains_bytes(q, (size_t)n, "\x0emailwire-never", 15))
      atomic_store(&d->asked_for_name, 1);
  }
  return NULL;
}

static const char *const never_name = "mailwire-never.example";

static void resolver_never_answers(void) {
  dns_sink d = {.fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)};
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(53)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  CHECK_INT(bind(d.fd, (struct sockaddr *)&a, sizeof a), 0);
  pthread_t t;
  pthread_create(&t, NULL, dns_sink_main, &d);

  mw_smtp *c = mw_smtp_new();
  CHECK_INT(mw_smtp_set_server(c, never_name, 25), MW_OK);
  CHECK_INT(mw_smtp_set_timeout(c, 700), MW_OK);
  int rc = mw_smtp_connect(c);
  const mw_errorinfo *ei = mw_smtp_extended_error(c);
  /* Without the bound: eexDNS (EAI_AGAIN) once the resolver gave up. */
  CHECK_ERR(rc, ei, errTimeout, eexTimeout);
  /* The figure is what was left of the 700 ms when the resolver was
   * asked (a loaded machine spends some of it first). */
  CHECK(strstr(mw_errorinfo_text(ei), "Resolving the name "
                                      "'mailwire-never.example' did not "
                                      "finish within "));
  CHECK(atomic_load(&d.asked_for_name)); /* the query did go out */
  mw_smtp_free(c);

  atomic_store(&d.stop, 1);
  pthread_join(t, NULL);
  close(d.fd);
}

/* A SOCKS4 proxy needs the address: resolved locally, bounded the same
 * way; the proxy is never sent a request. */
static void resolver_never_answers_socks4(void) {
  dns_sink d = {.fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)};
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(53)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  CHECK_INT(bind(d.fd, (struct sockaddr *)&a, sizeof a), 0);
  pthread_t t;
  pthread_create(&t, NULL, dns_sink_main, &d);
  int lfd = silent_listener("127.0.0.1", 1080);
  CHECK(lfd >= 0);

  mw_proxyinfo *p = mw_proxyinfo_new(MW_PROXY_SOCKS4);
  CHECK_INT(mw_proxyinfo_set_server(p, "127.0.0.1", 1080), MW_OK);
  mw_pop3 *c = mw_pop3_new();
  CHECK_INT(mw_pop3_set_handler(c, p), MW_OK);
  CHECK_INT(mw_pop3_set_server(c, never_name, 110), MW_OK);
  CHECK_INT(mw_pop3_set_timeout(c, 700), MW_OK);
  int rc = mw_pop3_connect(c);
  CHECK_ERR(rc, mw_pop3_extended_error(c), errTimeout, eexTimeout);
  CHECK(atomic_load(&d.asked_for_name));
  CHECK_INT(bytes_sent_to(lfd), 0); /* no SOCKS request */
  mw_pop3_free(c);
  mw_proxyinfo_free(p);
  close(lfd);

  atomic_store(&d.stop, 1);
  pthread_join(t, NULL);
  close(d.fd);
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "resolver") == 0) {
    RUN(resolver_never_answers);
    RUN(resolver_never_answers_socks4);
  } else {
    RUN(greeting_on_implicit_tls_port_smtp);
    RUN(greeting_on_implicit_tls_port_pop3);
  }
  return tl_finish();
}
