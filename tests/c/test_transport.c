/*
 * test_transport.c - the transport (driver, TLS filter, conn) without the
 * real servers: loopback listeners run in threads of this test, and a TLS
 * peer uses a certificate generated now with the openssl command line.
 */
#define _DEFAULT_SOURCE /* mkdtemp */
#include "internal.h"
#include "testlib.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- a loopback peer in a thread ---- */

typedef enum peer_mode {
  PEER_SILENT,      /* accept, send nothing, read until EOF */
  PEER_CLOSE,       /* accept and close at once */
  PEER_RESET,       /* accept and reset (SO_LINGER 0) */
  PEER_GREET,       /* send "220 hello\r\n", read until EOF */
  PEER_TLS,         /* TLS handshake, send "hello\r\n", close_notify */
  PEER_TLS_ABRUPT,  /* TLS handshake, send "hello\r\n", close the socket */
  PEER_STARTTLS,    /* plaintext greeting + STARTTLS dialogue, then TLS */
  PEER_TLS_SILENT,  /* TLS handshake, then send nothing until EOF */
  PEER_TLS_GARBAGE, /* TLS handshake, then a forged application record */
} peer_mode;

typedef struct peer {
  int lfd;
  unsigned port;
  peer_mode mode;
  SSL_CTX *ctx; /* for the TLS modes */
  pthread_t thread;
  char got[8192]; /* everything the client sent (decrypted under TLS) */
  size_t got_len;
  int accepted;
  int tls_ok;
  char sni[256]; /* the server name the client sent, "" for none */
} peer;

static const char *g_cert, *g_key; /* generated in main */
static char g_dir[64];

/* Read from fd (or ssl) until EOF, error or 10 s: bounded. */
static void peer_drain(peer *p, int fd, SSL *ssl) {
  long long end = now_ms() + 10000;
  while (now_ms() < end && p->got_len < sizeof p->got) {
    if (!(ssl && SSL_pending(ssl) > 0)) {
      struct pollfd pf = {.fd = fd, .events = POLLIN, .revents = 0};
      if (poll(&pf, 1, 200) <= 0)
        continue;
    }
    size_t room = sizeof p->got - p->got_len;
    int n = ssl ? SSL_read(ssl, p->got + p->got_len, (int)room)
                : (int)recv(fd, p->got + p->got_len, room, 0);
    if (n <= 0)
      return;
    p->got_len += (size_t)n;
  }
}

/* One CRLF line in plaintext, bounded. */
static int peer_line(int fd, char *line, size_t cap) {
  size_t n = 0;
  long long end = now_ms() + 5000;
  while (n + 1 < cap && now_ms() < end) {
    struct pollfd pf = {.fd = fd, .events = POLLIN, .revents = 0};
    if (poll(&pf, 1, 200) <= 0)
      continue;
    if (recv(fd, line + n, 1, 0) != 1)
      return -1;
    if (line[n++] == '\n') {
      line[n] = '\0';
      return 0;
    }
  }
  return -1;
}

static void peer_send(int fd, const char *s) {
  (void)!send(fd, s, strlen(s), MSG_NOSIGNAL);
}

static void peer_tls(peer *p, int fd) {
  SSL *ssl = SSL_new(p->ctx);
  SSL_set_fd(ssl, fd);
  if (SSL_accept(ssl) == 1) {
    p->tls_ok = 1;
    const char *sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    snprintf(p->sni, sizeof p->sni, "%s", sni ? sni : "");
    if (p->mode == PEER_TLS_GARBAGE) {
      /* A well-framed record that no key decrypts. */
      static const char forged[] = "\x17\x03\x03\x00\x20"
                                   "0123456789abcdef0123456789abcdef";
      (void)!send(fd, forged, sizeof forged - 1, MSG_NOSIGNAL);
      peer_drain(p, fd, NULL);
    } else if (p->mode != PEER_TLS_SILENT)
      SSL_write(ssl, "hello\r\n", 7);
    if (p->mode == PEER_TLS) {
      SSL_shutdown(ssl);
    } else if (p->mode == PEER_TLS_SILENT) {
      peer_drain(p, fd, ssl);
    }
  }
  SSL_free(ssl);
}

static void *peer_main(void *arg) {
  peer *p = arg;
  /* The peer's own writes (OpenSSL's socket BIO) may hit a closed client:
   * only this thread ignores SIGPIPE; the library's thread must not need
   * to. */
  sigset_t pipe_set;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, NULL);
  struct pollfd pf = {.fd = p->lfd, .events = POLLIN, .revents = 0};
  if (poll(&pf, 1, 10000) <= 0)
    return NULL;
  int fd = accept(p->lfd, NULL, NULL);
  if (fd < 0)
    return NULL;
  p->accepted = 1;
  char line[256];
  switch (p->mode) {
  case PEER_SILENT:
    peer_drain(p, fd, NULL);
    break;
  case PEER_CLOSE:
    break;
  case PEER_RESET: {
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    break;
  }
  case PEER_GREET:
    peer_send(fd, "220 hello\r\n");
    peer_drain(p, fd, NULL);
    break;
  case PEER_STARTTLS:
    peer_send(fd, "220 ready\r\n");
    if (peer_line(fd, line, sizeof line) == 0) {
      memcpy(p->got, line, strlen(line));
      p->got_len = strlen(line);
      if (strcmp(line, "STARTTLS\r\n") == 0) {
        peer_send(fd, "220 go ahead\r\n");
        peer_tls(p, fd);
      }
    }
    break;
  default:
    peer_tls(p, fd);
  }
  close(fd);
  return NULL;
}

static SSL_CTX *server_ctx(void) {
  SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
  if (!ctx || SSL_CTX_use_certificate_chain_file(ctx, g_cert) != 1 ||
      SSL_CTX_use_PrivateKey_file(ctx, g_key, SSL_FILETYPE_PEM) != 1) {
    tl_fail(__FILE__, __LINE__, "cannot load the generated certificate");
    SSL_CTX_free(ctx);
    return NULL;
  }
  return ctx;
}

/* Listen on the loopback address of family; the port is picked by the
 * kernel. Returns 0, or -1 when the family is not available. */
static int listen_on(int family, int backlog, int *lfd, unsigned *port) {
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  socklen_t len;
  if (family == AF_INET6) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
    a->sin6_family = AF_INET6;
    a->sin6_addr = in6addr_loopback;
    len = sizeof *a;
  } else {
    struct sockaddr_in *a = (struct sockaddr_in *)&ss;
    a->sin_family = AF_INET;
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    len = sizeof *a;
  }
  int fd = socket(family, SOCK_STREAM, 0);
  if (fd < 0)
    return -1;
  if (bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, backlog) != 0 ||
      getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
    close(fd);
    return -1;
  }
  *port = ntohs(family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                   : ((struct sockaddr_in *)&ss)->sin_port);
  *lfd = fd;
  return 0;
}

static int peer_start_family(peer *p, peer_mode mode, int family) {
  memset(p, 0, sizeof *p);
  p->mode = mode;
  if (listen_on(family, 4, &p->lfd, &p->port) != 0)
    return -1;
  if (mode >= PEER_TLS)
    p->ctx = server_ctx();
  if (pthread_create(&p->thread, NULL, peer_main, p) != 0) {
    close(p->lfd);
    return -1;
  }
  return 0;
}

static void peer_start(peer *p, peer_mode mode) {
  if (peer_start_family(p, mode, AF_INET) != 0)
    tl_fail(__FILE__, __LINE__, "cannot listen on 127.0.0.1");
}

/* Wait for the peer thread (it ends by itself within its bounds). */
static void peer_end(peer *p) {
  pthread_join(p->thread, NULL);
  close(p->lfd);
  SSL_CTX_free(p->ctx);
}

static mw_sslinfo *new_ssl(const char *ca_file) {
  mw_sslinfo *ssl = mw_sslinfo_new();
  if (ca_file)
    ssl->ca_file = mw_strdup(ca_file);
  return ssl;
}

/* ---- connecting ---- */

static void test_dns_failure(void) {
  mw_errorinfo e;
  mw_error_init(&e);
  mw_conn c;
  mw_conn_init(&c, &e, NULL, 5000);
  int rc = mw_conn_open(&c, "no-such-host.invalid", 25);
  CHECK_ERR(rc, &e, errConnect, eexDNS);
  CHECK(tl_contains(e.text, strlen(e.text), "no-such-host.invalid"));
  CHECK(tl_contains(e.text, strlen(e.text), "Check the server name"));
  CHECK(!mw_conn_is_open(&c));
  mw_conn_close(&c);
  mw_error_clear(&e);
}

static unsigned closed_port(void) {
  int fd;
  unsigned port = 0;
  if (listen_on(AF_INET, 1, &fd, &port) != 0)
    return 0;
  close(fd); /* nothing listens there now */
  return port;
}

static void test_connection_refused(void) {
  unsigned port = closed_port();
  CHECK(port != 0);
  mw_errorinfo e;
  mw_error_init(&e);
  mw_conn c;
  mw_conn_init(&c, &e, NULL, 5000);
  int rc = mw_conn_open(&c, "127.0.0.1", port);
  CHECK_ERR(rc, &e, errConnect, eexTCPConnect);
  CHECK_INT(e.os_error, ECONNREFUSED);
  char where[32];
  snprintf(where, sizeof where, "127.0.0.1:%u", port);
  CHECK(tl_contains(e.text, strlen(e.text), where));
  CHECK(tl_contains(e.text, strlen(e.text), "Check the port"));
  CHECK(tl_contains(e.text, strlen(e.text), "587"));
  CHECK(tl_contains(e.text, strlen(e.text), "995"));
  CHECK(!mw_conn_is_open(&c));
  mw_error_clear(&e);
}

/* A listener whose accept queue is full drops SYNs: connect hangs, on
 * loopback. */
static void test_connect_timeout(void) {
  int lfd;
  unsigned port;
  CHECK(listen_on(AF_INET, 0, &lfd, &port) == 0);
  int fillers[4];
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_port = htons((uint16_t)port),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  for (int i = 0; i < 4; i++) { /* fill the queue; later ones hang */
    fillers[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    (void)!connect(fillers[i], (struct sockaddr *)&a, sizeof a);
  }
  mw_errorinfo e;
  mw_error_init(&e);
  mw_conn c;
  mw_conn_init(&c, &e, NULL, 700);
  long long t0 = now_ms();
  int rc = mw_conn_open(&c, "127.0.0.1", port);
  long long took = now_ms() - t0;
  CHECK_ERR(rc, &e, errTimeout, eexTimeout);
  CHECK(took >= 690 && took < 2700);
  CHECK(tl_contains(e.text, strlen(e.text), "timed out"));
  CHECK(!mw_conn_is_open(&c));
  for (int i = 0; i < 4; i++)
    close(fillers[i]);
  close(lfd);
  mw_error_clear(&e);
}

/* "localhost" may resolve to ::1 and 127.0.0.1: the listener is on
 * 127.0.0.1 only, so any other address must be skipped, not fatal. */
static void test_localhost_each_address(void) {
  peer p;
  peer_start(&p, PEER_GREET);
  mw_errorinfo e;
  mw_error_init(&e);
  mw_conn c;
  mw_conn_init(&c, &e, NULL, 5000);
  int rc = mw_conn_open(&c, "localhost", p.port);
  CHECK_INT(rc, MW_OK);
  char buf[64];
  size_t got = 0;
  if (rc == MW_OK)
    rc = mw_conn_read(&c, buf, sizeof buf, &got);
  CHECK_INT(rc, MW_OK);
  CHECK(got > 0 && tl_contains(buf, got, "220"));
  mw_conn_close(&c);
  peer_end(&p);
  mw_error_clear(&e);
}

static void test_ipv6_loopback(void) {
  peer p;
  if (peer_start_family(&p, PEER_GREET, AF_INET6) != 0) {
    printf("NOTE: ::1 is not available here; the IPv6 case did not run\n");
    return;
  }
  mw_errorinfo e;
  mw_error_init(&e);
  mw_conn c;
  mw_conn_init(&c, &e, NULL, 5000);
  int rc = mw_conn_open(&c, "::1", p.port);
  CHECK_INT(rc, MW_OK);
  CHECK(strncmp(c.peer, "[::1]:", 6) == 0);
  char buf[64];
  size_t got = 0;
  if (rc == MW_OK)
    rc = mw_conn_read(&c, buf, sizeof buf, &got);
  CHECK_INT(rc, MW_OK);
  CHECK(tl_contains(buf, got, "220 hello"));
  if (rc == MW_OK)
    rc = mw_conn_write(&c, "QUIT\r\n", 6);
  CHECK_INT(rc, MW_OK);
  mw_conn_close(&c);
  peer_end(&p);
  CHECK(tl_contains(p.got, p.got_len, "QUIT\r\n"));
  mw_error_clear(&e);
}

/* ---- reading and writing ---- */

static void test_read_timeout(void) {
  peer p;
  peer_start(&p, PEER_SILENT);
  mw_errorinfo e;
  mw_error_init(&e);
  mw_conn c;
  mw_conn_init(&c, &e, NULL, 600);
  CHECK_INT(mw_conn_open(&c, "127.0.0.1", p.port), MW_OK);
  char buf[64];
  size_t got = 99;
  long long t0 = now_ms();
  int rc = mw_conn_read(&c, buf, sizeof buf, &got);
  long long took = now_ms() - t0;
  CHECK_ERR(rc, &e, errTimeout, eexTimeout);
  CHECK_INT(got, 0);
  CHECK(took >= 590 && took < 2600); /* a bound, not a speed claim */
  mw_conn_close(&c);
  mw_conn_close(&c); /* idempotent */
  CHECK(!mw_conn_is_open(&c));
  peer_end(&p);
  CHECK_INT(p.got_len, 0);
  mw_error_clear(&e);
}

static void test_peer_closes(void) {
  peer p;
  peer_start(&p, PEER_CLOSE);
  mw_errorinfo e;
  mw_error_init(&e);
  mw_conn c;
  mw_conn_init(&c, &e, NULL, 5000);
  CHECK_INT(mw_conn_open(&c, "127.0.0.1", p.port), MW_OK);
  char buf[64];
  size_t got = 0;
  int rc = mw_conn_read(&c, buf, sizeof buf, &got);
  CHECK_ERR(rc, &e, errNetwork, eexServerClosed);
  mw_conn_close(&c);
  peer_end(&p);
  mw_error_clear(&e);
}

/* Writing to a closed or reset connection fails with eexSocketTx; no
 * SIGPIPE kills the process (the test would die here otherwise: after a
 * FIN the first write draws an RST, the next one EPIPE). */
static void test_write_after_peer_gone(void) {
  peer_mode modes[2] = {PEER_CLOSE, PEER_RESET};
  for (int m = 0; m < 2; m++) {
    peer p;
    peer_start(&p, modes[m]);
    mw_errorinfo e;
    mw_error_init(&e);
    mw_conn c;
    mw_conn_init(&c, &e, NULL, 5000);
    CHECK_INT(mw_conn_open(&c, "127.0.0.1", p.port), MW_OK);
    peer_end(&p); /* the peer has closed or reset the connection */
    int rc = MW_OK;
    for (int i = 0; i < 50 && rc == MW_OK; i++) {
      rc = mw_conn_write(&c, "NOOP\r\n", 6);
      if (rc == MW_OK)
        usleep(20000);
    }
    CHECK_ERR(rc, &e, errNetwork, eexSocketTx);
    CHECK(e.os_error == EPIPE || e.os_error == ECONNRESET);
    mw_conn_close(&c);
    mw_error_clear(&e);
  }
}

static void test_not_connected_and_state(void) {
  mw_errorinfo e;
  mw_error_init(&e);
  mw_conn c;
  mw_conn_init(&c, &e, NULL, 5000);
  char buf[8];
  size_t got = 0;
  CHECK_ERR(mw_conn_read(&c, buf, sizeof buf, &got), &e, errNotConnected,
            eexNotConnected);
  CHECK_ERR(mw_conn_write(&c, "x", 1), &e, errNotConnected, eexNotConnected);
  mw_sslinfo *ssl = new_ssl(NULL);
  CHECK_ERR(mw_conn_start_tls(&c, ssl, "localhost"), &e, errNotConnected,
            eexNotConnected);
  CHECK(!mw_conn_is_secure(&c));
  mw_conn_close(&c);
  mw_conn_close(&c);

  peer p;
  peer_start(&p, PEER_CLOSE);
  CHECK_INT(mw_conn_open(&c, "127.0.0.1", p.port), MW_OK);
  CHECK_ERR(mw_conn_open(&c, "127.0.0.1", p.port), &e, errState, eexState);
  CHECK(mw_conn_is_open(&c));
  mw_conn_close(&c);
  peer_end(&p);
  mw_sslinfo_free(ssl);
  mw_error_clear(&e);
}

/* ---- TLS failures before and during the handshake ---- */

static void test_tls_to_plaintext_speaker(void) {
  peer p;
  peer_start(&p, PEER_GREET);
  mw_errorinfo e;
  mw_error_init(&e);
  mw_conn c;
  mw_conn_init(&c, &e, NULL, 5000);
  CHECK_INT(mw_conn_open(&c, "127.0.0.1", p.port), MW_OK);
  mw_sslinfo *ssl = new_ssl(g_cert);
  int rc = mw_conn_start_tls(&c, ssl, "localhost");
  CHECK_ERR(rc, &e, errConnect, eexSSLProtocol);
  CHECK(tl_contains(e.text, strlen(e.text), "465"));
  CHECK(tl_contains(e.text, strlen(e.text), "995"));
  CHECK(e.os_error != 0); /* the OpenSSL error code */
  CHECK(!mw_conn_is_open(&c));
  CHECK(!mw_conn_is_secure(&c));
  CHECK(!ssl->last.have);
  CHECK_INT(ERR_peek_error(), 0); /* the error queue was cleared */
  mw_conn_close(&c);
  peer_end(&p);
  /* Only our ClientHello went out: a TLS handshake record. */
  CHECK(p.got_len > 5 && (unsigned char)p.got[0] == 0x16);
  mw_sslinfo_free(ssl);
  mw_error_clear(&e);
}

/* A server that never answers the ClientHello: the handshake times out
 * like any wait, and the connection is closed. */
static void test_tls_handshake_timeout(void) {
  peer p;
  peer_start(&p, PEER_SILENT);
  mw_errorinfo e;
  mw_error_init(&e);
  mw_conn c;
  mw_conn_init(&c, &e, NULL, 500);
  CHECK_INT(mw_conn_open(&c, "127.0.0.1", p.port), MW_OK);
  mw_sslinfo *ssl = new_ssl(g_cert);
  long long t0 = now_ms();
  int rc = mw_conn_start_tls(&c, ssl, "localhost");
  long long took = now_ms() - t0;
  CHECK_ERR(rc, &e, errTimeout, eexTimeout);
  CHECK(took >= 490 && took < 2500);
  CHECK(!mw_conn_is_open(&c));
  CHECK(!ssl->last.have);
  mw_conn_close(&c);
  peer_end(&p);
  CHECK(p.got_len > 5 && (unsigned char)p.got[0] == 0x16); /* ClientHello */
  mw_sslinfo_free(ssl);
  mw_error_clear(&e);
}

static void check_no_bytes_sent_with_bad_trust(const char *ca_file,
                                               const char *ca_path,
                                               const char *in_text) {
  peer p;
  peer_start(&p, PEER_SILENT);
  mw_errorinfo e;
  mw_error_init(&e);
  mw_conn c;
  mw_conn_init(&c, &e, NULL, 5000);
  CHECK_INT(mw_conn_open(&c, "127.0.0.1", p.port), MW_OK);
  mw_sslinfo *ssl = new_ssl(ca_file);
  if (ca_path)
    ssl->ca_path = mw_strdup(ca_path);
  int rc = mw_conn_start_tls(&c, ssl, "localhost");
  CHECK_ERR(rc, &e, errInvalidArgument, eexSSLConfig);
  CHECK(tl_contains(e.text, strlen(e.text), in_text));
  CHECK(!mw_conn_is_open(&c));
  CHECK_INT(ERR_peek_error(), 0);
  mw_conn_close(&c);
  peer_end(&p);
  CHECK_INT(p.got_len, 0); /* nothing went on the wire */
  mw_sslinfo_free(ssl);
  mw_error_clear(&e);
}

static void test_tls_missing_ca_file(void) {
  check_no_bytes_sent_with_bad_trust("/nonexistent/mw-ca.pem", NULL,
                                     "/nonexistent/mw-ca.pem");
}

static void test_tls_ca_file_not_pem(void) {
  char path[128];
  snprintf(path, sizeof path, "%s/garbage.pem", g_dir);
  FILE *f = fopen(path, "w");
  CHECK(f != NULL);
  if (f) {
    fputs("this is not a certificate\n", f);
    fclose(f);
  }
  check_no_bytes_sent_with_bad_trust(path, NULL, "SSLCAFile");
}

static void test_tls_missing_ca_path(void) {
  check_no_bytes_sent_with_bad_trust(NULL, "/nonexistent/mw-ca-dir",
                                     "/nonexistent/mw-ca-dir");
}

/* ---- TLS against the in-test server ---- */

typedef struct tls_case {
  const char *host;        /* connect and default check name */
  const char *server_name; /* ssl->server_name or NULL */
  const char *ca_file;     /* NULL: system store */
  int no_verify, no_name_check;
} tls_case;

/* Handshake with a PEER_TLS peer; returns the rc, keeps e and ssl. */
static int tls_attempt(const tls_case *tc, peer_mode mode, mw_errorinfo *e,
                       mw_sslinfo **ssl_out, peer *p) {
  peer_start(p, mode);
  mw_conn c;
  mw_conn_init(&c, e, NULL, 5000);
  mw_sslinfo *ssl = new_ssl(tc->ca_file);
  ssl->no_verify = tc->no_verify;
  ssl->no_name_check = tc->no_name_check;
  ssl->server_name = mw_strdup(tc->server_name);
  int rc = mw_conn_open(&c, tc->host, p->port);
  if (rc == MW_OK)
    rc = mw_conn_start_tls(&c, ssl, tc->host);
  if (rc == MW_OK) {
    char buf[64];
    size_t got = 0;
    rc = mw_conn_read(&c, buf, sizeof buf, &got);
    CHECK(rc == MW_OK && tl_contains(buf, got, "hello\r\n"));
  }
  mw_conn_close(&c);
  peer_end(p);
  *ssl_out = ssl;
  return rc;
}

static void test_tls_success_outputs(void) {
  tls_case tc = {"localhost", NULL, g_cert, 0, 0};
  mw_errorinfo e;
  mw_error_init(&e);
  mw_sslinfo *ssl;
  peer p;
  int rc = tls_attempt(&tc, PEER_TLS, &e, &ssl, &p);
  CHECK_INT(rc, MW_OK);
  CHECK(p.tls_ok);
  CHECK_STR(p.sni, "localhost");
  CHECK(ssl->last.have);
  CHECK_INT(ssl->last.protocol_out, SSL_TLS1_3); /* both ends are OpenSSL 3 */
  CHECK_STR(ssl->last.protocol_name, "TLSv1.3");
  CHECK_STR(ssl->last.cipher_name, "TLS_AES_256_GCM_SHA384");
  CHECK_INT(ssl->last.cipher_out, SSL_AES_256_GCM);
  CHECK_INT(ssl->last.cipher_strength, 256);
  CHECK_INT(ssl->last.hash, SSL_SHA384);
  CHECK_INT(ssl->last.hash_strength, 384);
  CHECK_INT(ssl->last.exchange, SSL_X25519);
  CHECK_INT(ssl->last.exchange_strength, 253);
  CHECK_STR(ssl->last.group_name, "x25519");
  CHECK(ssl->last.peer_subject &&
        strstr(ssl->last.peer_subject, "CN=localhost"));
  CHECK(ssl->last.peer_issuer &&
        strstr(ssl->last.peer_issuer, "CN=localhost"));
  mw_sslinfo_free(ssl);
  mw_error_clear(&e);
}

static void test_tls12_outputs(void) {
  /* Limit the client to TLS 1.2 through the server: the peer's context is
   * built in peer_start, so restrict it before the handshake. */
  tls_case tc = {"127.0.0.1", NULL, g_cert, 0, 0};
  mw_errorinfo e;
  mw_error_init(&e);
  peer p;
  memset(&p, 0, sizeof p);
  p.mode = PEER_TLS;
  CHECK(listen_on(AF_INET, 4, &p.lfd, &p.port) == 0);
  p.ctx = server_ctx();
  SSL_CTX_set_max_proto_version(p.ctx, TLS1_2_VERSION);
  SSL_CTX_set_cipher_list(p.ctx, "ECDHE-ECDSA-AES128-GCM-SHA256");
  SSL_CTX_set1_groups_list(p.ctx, "P-256");
  CHECK(pthread_create(&p.thread, NULL, peer_main, &p) == 0);
  mw_conn c;
  mw_conn_init(&c, &e, NULL, 5000);
  mw_sslinfo *ssl = new_ssl(tc.ca_file);
  int rc = mw_conn_open(&c, tc.host, p.port);
  if (rc == MW_OK)
    rc = mw_conn_start_tls(&c, ssl, tc.host); /* IP checked as an IP */
  CHECK_INT(rc, MW_OK);
  CHECK_INT(ssl->last.protocol_out, SSL_TLS1_2);
  CHECK_STR(ssl->last.protocol_name, "TLSv1.2");
  CHECK_INT(ssl->last.cipher_out, SSL_AES_128_GCM);
  CHECK_INT(ssl->last.cipher_strength, 128);
  CHECK_INT(ssl->last.hash, SSL_SHA256);
  CHECK_INT(ssl->last.exchange, SSL_ECDHE);
  CHECK_INT(ssl->last.exchange_strength, 256);
  CHECK_STR(ssl->last.group_name, "secp256r1");
  mw_conn_close(&c);
  peer_end(&p);
  CHECK(p.tls_ok);
  CHECK_STR(p.sni, ""); /* no SNI for an IP address */
  mw_sslinfo_free(ssl);
  mw_error_clear(&e);
}

static void test_tls_untrusted(void) {
  tls_case tc = {"localhost", NULL, NULL, 0, 0}; /* system store */
  mw_errorinfo e;
  mw_error_init(&e);
  mw_sslinfo *ssl;
  peer p;
  int rc = tls_attempt(&tc, PEER_TLS, &e, &ssl, &p);
  CHECK_ERR(rc, &e, errConnect, eexSSLCertificate);
  CHECK(e.verify == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT ||
        e.verify == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
  CHECK(tl_contains(e.text, strlen(e.text),
                    X509_verify_cert_error_string(e.verify)));
  CHECK(!ssl->last.have);
  CHECK_INT(ERR_peek_error(), 0);
  mw_sslinfo_free(ssl);

  /* no_verify lets it through */
  tls_case loose = {"localhost", NULL, NULL, 1, 0};
  rc = tls_attempt(&loose, PEER_TLS, &e, &ssl, &p);
  CHECK_INT(rc, MW_OK);
  CHECK(ssl->last.have);
  mw_sslinfo_free(ssl);
  mw_error_clear(&e);
}

static void test_tls_name_mismatch(void) {
  tls_case tc = {"localhost", "wrong.example", g_cert, 0, 0};
  mw_errorinfo e;
  mw_error_init(&e);
  mw_sslinfo *ssl;
  peer p;
  int rc = tls_attempt(&tc, PEER_TLS, &e, &ssl, &p);
  CHECK_ERR(rc, &e, errConnect, eexSSLCertName);
  CHECK_INT(e.verify, X509_V_ERR_HOSTNAME_MISMATCH);
  CHECK(tl_contains(e.text, strlen(e.text), "wrong.example"));
  CHECK(tl_contains(e.text, strlen(e.text), "SSLNoServerNameCheck"));
  mw_sslinfo_free(ssl);

  /* An IP the certificate does not list. */
  tls_case ip = {"127.0.0.1", "127.0.0.2", g_cert, 0, 0};
  rc = tls_attempt(&ip, PEER_TLS, &e, &ssl, &p);
  CHECK_ERR(rc, &e, errConnect, eexSSLCertName);
  CHECK_INT(e.verify, X509_V_ERR_IP_ADDRESS_MISMATCH);
  mw_sslinfo_free(ssl);

  tls_case loose = {"localhost", "wrong.example", g_cert, 0, 1};
  rc = tls_attempt(&loose, PEER_TLS, &e, &ssl, &p);
  CHECK_INT(rc, MW_OK);
  CHECK_STR(p.sni, "wrong.example"); /* SNI follows the checked name */
  mw_sslinfo_free(ssl);
  mw_error_clear(&e);
}

/* EOF without close_notify while waiting for a reply is eexServerClosed,
 * as is a clean close_notify. */
static void test_tls_eof(void) {
  peer_mode modes[2] = {PEER_TLS, PEER_TLS_ABRUPT};
  for (int i = 0; i < 2; i++) {
    peer p;
    peer_start(&p, modes[i]);
    mw_errorinfo e;
    mw_error_init(&e);
    mw_conn c;
    mw_conn_init(&c, &e, NULL, 5000);
    mw_sslinfo *ssl = new_ssl(g_cert);
    CHECK_INT(mw_conn_open(&c, "localhost", p.port), MW_OK);
    CHECK_INT(mw_conn_start_tls(&c, ssl, "localhost"), MW_OK);
    CHECK(mw_conn_is_secure(&c));
    char buf[64];
    size_t got = 0;
    CHECK_INT(mw_conn_read(&c, buf, sizeof buf, &got), MW_OK);
    int rc = mw_conn_read(&c, buf, sizeof buf, &got);
    CHECK_ERR(rc, &e, errNetwork, eexServerClosed);
    CHECK_INT(ERR_peek_error(), 0);
    mw_conn_close(&c);
    mw_conn_close(&c);
    CHECK(!mw_conn_is_secure(&c));
    peer_end(&p);
    mw_sslinfo_free(ssl);
    mw_error_clear(&e);
  }
}

/* A record that does not decrypt: an OpenSSL failure after the
 * handshake, errTLS/eexSSLW32 with the OpenSSL code. */
static void test_tls_garbage_record(void) {
  peer p;
  peer_start(&p, PEER_TLS_GARBAGE);
  mw_errorinfo e;
  mw_error_init(&e);
  mw_conn c;
  mw_conn_init(&c, &e, NULL, 5000);
  mw_sslinfo *ssl = new_ssl(g_cert);
  CHECK_INT(mw_conn_open(&c, "localhost", p.port), MW_OK);
  CHECK_INT(mw_conn_start_tls(&c, ssl, "localhost"), MW_OK);
  char buf[64];
  size_t got = 0;
  int rc = mw_conn_read(&c, buf, sizeof buf, &got);
  CHECK_ERR(rc, &e, errTLS, eexSSLW32);
  CHECK(e.os_error != 0);
  CHECK_INT(ERR_peek_error(), 0);
  mw_conn_close(&c);
  peer_end(&p);
  mw_sslinfo_free(ssl);
  mw_error_clear(&e);
}

/* Under TLS a silent server times out like a plaintext one, and close
 * sends a close_notify the server can read. */
static void test_tls_read_timeout_and_close(void) {
  peer p;
  peer_start(&p, PEER_TLS_SILENT);
  mw_errorinfo e;
  mw_error_init(&e);
  mw_conn c;
  mw_conn_init(&c, &e, NULL, 500);
  mw_sslinfo *ssl = new_ssl(g_cert);
  CHECK_INT(mw_conn_open(&c, "localhost", p.port), MW_OK);
  CHECK_INT(mw_conn_start_tls(&c, ssl, "localhost"), MW_OK);
  CHECK_INT(mw_conn_write(&c, "NOOP\r\n", 6), MW_OK);
  char buf[64];
  size_t got = 0;
  long long t0 = now_ms();
  int rc = mw_conn_read(&c, buf, sizeof buf, &got);
  long long took = now_ms() - t0;
  CHECK_ERR(rc, &e, errTimeout, eexTimeout);
  CHECK(took >= 490 && took < 2500);
  mw_conn_close(&c);
  peer_end(&p);
  CHECK(p.tls_ok);
  CHECK(p.got_len == 6 && memcmp(p.got, "NOOP\r\n", 6) == 0);
  mw_sslinfo_free(ssl);
  mw_error_clear(&e);
}

/* STARTTLS: plaintext reads and writes through the same conn, then the
 * handshake mid-stream, then encrypted traffic. */
static void test_starttls_midstream(void) {
  peer p;
  peer_start(&p, PEER_STARTTLS);
  mw_errorinfo e;
  mw_error_init(&e);
  mw_conn c;
  mw_conn_init(&c, &e, NULL, 5000);
  mw_sslinfo *ssl = new_ssl(g_cert);
  CHECK_INT(mw_conn_open(&c, "localhost", p.port), MW_OK);
  char buf[128];
  size_t got = 0, have = 0;
  for (int i = 0; i < 20 && !tl_contains(buf, have, "\n"); i++) {
    CHECK_INT(mw_conn_read(&c, buf + have, sizeof buf - have - 1, &got),
              MW_OK);
    have += got;
  }
  CHECK(have == 11 && memcmp(buf, "220 ready\r\n", 11) == 0);
  CHECK_INT(mw_conn_write(&c, "STARTTLS\r\n", 10), MW_OK);
  have = 0;
  for (int i = 0; i < 20 && !tl_contains(buf, have, "\n"); i++) {
    CHECK_INT(mw_conn_read(&c, buf + have, sizeof buf - have - 1, &got),
              MW_OK);
    have += got;
  }
  CHECK(have == 14 && memcmp(buf, "220 go ahead\r\n", 14) == 0);
  CHECK(!mw_conn_is_secure(&c));
  CHECK_INT(mw_conn_start_tls(&c, ssl, "localhost"), MW_OK);
  CHECK(mw_conn_is_secure(&c));
  CHECK_ERR(mw_conn_start_tls(&c, ssl, "localhost"), &e, errState, eexState);
  CHECK_INT(mw_conn_read(&c, buf, sizeof buf, &got), MW_OK);
  CHECK(got == 7 && memcmp(buf, "hello\r\n", 7) == 0);
  CHECK(ssl->last.have && ssl->last.protocol_out == SSL_TLS1_3);
  mw_conn_close(&c);
  peer_end(&p);
  CHECK(p.tls_ok);
  mw_sslinfo_free(ssl);
  mw_error_clear(&e);
}

/* ---- logging ---- */

typedef struct log_rec {
  char all[8192];
  size_t len;
  int ssl_info;
} log_rec;

static void log_cb(void *ud, int severity, int facility, const char *msg) {
  log_rec *r = ud;
  if (facility == LOG_F_SSL && severity == LOG_S_INFORMATION)
    r->ssl_info++;
  int n = snprintf(r->all + r->len, sizeof r->all - r->len, "%s\n", msg);
  if (n > 0 && (size_t)n < sizeof r->all - r->len)
    r->len += (size_t)n;
}

static void test_tls_logging(void) {
  log_rec rec;
  memset(&rec, 0, sizeof rec);
  mw_loghandler *lh = mw_loghandler_new(log_cb, &rec);
  peer p;
  peer_start(&p, PEER_TLS);
  mw_errorinfo e;
  mw_error_init(&e);
  mw_conn c;
  mw_conn_init(&c, &e, lh, 5000);
  mw_sslinfo *ssl = new_ssl(g_cert);
  CHECK_INT(mw_conn_open(&c, "localhost", p.port), MW_OK);
  CHECK_INT(mw_conn_start_tls(&c, ssl, "localhost"), MW_OK);
  mw_conn_close(&c);
  peer_end(&p);
  CHECK(rec.ssl_info >= 3); /* start, certificate, parameters */
  CHECK(tl_contains(rec.all, rec.len, "Starting TLS handshake"));
  CHECK(tl_contains(rec.all, rec.len, "CN=localhost"));
  CHECK(tl_contains(rec.all, rec.len, "TLSv1.3"));
  CHECK(tl_contains(rec.all, rec.len, "TLS_AES_256_GCM_SHA384"));
  mw_sslinfo_free(ssl);
  mw_loghandler_free(lh);
  mw_error_clear(&e);
}

/* ---- setup: a self-signed certificate for localhost and 127.0.0.1 ---- */

static char g_cert_buf[128], g_key_buf[128];

static int make_certificate(void) {
  snprintf(g_dir, sizeof g_dir, "/tmp/mw-transport-XXXXXX");
  if (!mkdtemp(g_dir))
    return -1;
  snprintf(g_cert_buf, sizeof g_cert_buf, "%s/cert.pem", g_dir);
  snprintf(g_key_buf, sizeof g_key_buf, "%s/key.pem", g_dir);
  char cmd[1024];
  snprintf(cmd, sizeof cmd,
           "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
           "-nodes -days 2 -subj /CN=localhost "
           "-addext subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1 "
           "-keyout %s -out %s >/dev/null 2>&1",
           g_key_buf, g_cert_buf);
  if (system(cmd) != 0)
    return -1;
  g_cert = g_cert_buf;
  g_key = g_key_buf;
  return 0;
}

static void remove_certificate(void) {
  char cmd[256];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
  (void)!system(cmd);
}

int main(void) {
  if (make_certificate() != 0) {
    fprintf(stderr, "cannot generate a test certificate with openssl\n");
    return 1;
  }
  RUN(test_dns_failure);
  RUN(test_connection_refused);
  RUN(test_connect_timeout);
  RUN(test_localhost_each_address);
  RUN(test_ipv6_loopback);
  RUN(test_read_timeout);
  RUN(test_peer_closes);
  RUN(test_write_after_peer_gone);
  RUN(test_not_connected_and_state);
  RUN(test_tls_to_plaintext_speaker);
  RUN(test_tls_handshake_timeout);
  RUN(test_tls_missing_ca_file);
  RUN(test_tls_ca_file_not_pem);
  RUN(test_tls_missing_ca_path);
  RUN(test_tls_success_outputs);
  RUN(test_tls12_outputs);
  RUN(test_tls_untrusted);
  RUN(test_tls_name_mismatch);
  RUN(test_tls_eof);
  RUN(test_tls_garbage_record);
  RUN(test_tls_read_timeout_and_close);
  RUN(test_starttls_midstream);
  RUN(test_tls_logging);
  remove_certificate();
  return tl_finish();
}
