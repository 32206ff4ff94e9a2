/* sink.c - a small discarding SMTP sink for the benchmark, with TLS.
 *   sink PORT plain|tls|starttls [CERT KEY] [MAXCONN]
 * Listens on 127.0.0.1:PORT (one process, poll, non-blocking sockets),
 * advertises PIPELINING, CHUNKING, 8BITMIME, BINARYMIME (and STARTTLS in
 * starttls mode), accepts DATA (dot-terminated) and BDAT n [LAST],
 * discards the content and counts messages, content bytes (after dot
 * unstuffing for DATA) and recipients. Every command available in the
 * input is answered in order and the replies go out in one write.
 * Prints "ready" on stdout once listening; on SIGUSR1 prints
 *   "TOTAL messages bytes recipients connections errors bdat-messages"
 * and on SIGTERM/SIGINT prints the same line and exits. Bounded: command
 * lines of at most MAX_LINE bytes, MAXCONN connections (more get 421),
 * connections idle for IDLE_S seconds are closed. Bench-only, loopback. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_LINE 4096
#define IN_SIZE (256 * 1024)
#define OUT_SIZE (64 * 1024)
#define OUT_ROOM 1024 /* stop taking commands when less room than this */
#define MAX_CONN_LIMIT                                                        \
  1024 /* the concurrency scenario: 200 sessions, idle 1000 */
#define IDLE_S 60

enum mode { M_PLAIN, M_TLS, M_STARTTLS };
enum state { S_HANDSHAKE, S_CMD, S_DATA, S_BDAT, S_CLOSING };

struct conn {
  int fd;
  SSL *ssl;
  enum state st;
  int tls_after_flush; /* STARTTLS: handshake once the 220 is out */
  int want_write;      /* OpenSSL waits for the socket to take bytes */
  int has_mail, nrcpt, data_bol;
  uint64_t bdat_left, msg_bytes;
  int bdat_last, bdat_bad;
  time_t last;
  size_t inlen, outlen, outoff;
  char in[IN_SIZE];
  char out[OUT_SIZE];
};

static volatile sig_atomic_t g_report, g_stop;
static unsigned long long g_msgs, g_bytes, g_rcpts, g_conns, g_errors, g_bdat;
static enum mode g_mode;
static SSL_CTX *g_ctx;

static void on_signal(int sig) {
  if (sig == SIGUSR1)
    g_report = 1;
  else
    g_stop = 1;
}

static void print_totals(void) {
  printf("TOTAL %llu %llu %llu %llu %llu %llu\n", g_msgs, g_bytes, g_rcpts,
         g_conns, g_errors, g_bdat);
  fflush(stdout);
}

static void reply(struct conn *c, const char *text) {
  size_t n = strlen(text);
  if (c->outlen + n > sizeof c->out) { /* cannot happen with OUT_ROOM */
    g_errors++;
    c->st = S_CLOSING;
    return;
  }
  memcpy(c->out + c->outlen, text, n);
  c->outlen += n;
}

static void conn_close(struct conn *c) {
  if (c->ssl) {
    SSL_shutdown(c->ssl);
    SSL_free(c->ssl);
  }
  close(c->fd);
  free(c);
}

static int start_tls(struct conn *c) {
  c->ssl = SSL_new(g_ctx);
  if (!c->ssl || !SSL_set_fd(c->ssl, c->fd))
    return -1;
  SSL_set_accept_state(c->ssl);
  c->st = S_HANDSHAKE;
  c->inlen = 0; /* anything sent before the handshake is dropped */
  return 0;
}

/* Returns 1 when the handshake finished, 0 when it wants I/O, -1 on error. */
static int handshake(struct conn *c) {
  int r = SSL_do_handshake(c->ssl);
  if (r == 1) {
    c->st = S_CMD;
    if (g_mode == M_TLS)
      reply(c, "220 sink.bench ESMTP mailwire bench sink\r\n");
    return 1;
  }
  int e = SSL_get_error(c->ssl, r);
  c->want_write = e == SSL_ERROR_WANT_WRITE;
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
    return 0;
  g_errors++;
  return -1;
}

static void end_message(struct conn *c) {
  g_msgs++;
  g_bytes += c->msg_bytes;
  g_rcpts += (unsigned long long)c->nrcpt;
  c->msg_bytes = 0;
  c->has_mail = 0;
  c->nrcpt = 0;
}

static void command(struct conn *c, char *line, size_t len) {
  while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
    line[--len] = 0;
  if (!strncasecmp(line, "EHLO", 4)) {
    c->has_mail = c->nrcpt = 0;
    reply(c, "250-sink.bench\r\n250-PIPELINING\r\n250-SIZE 0\r\n"
             "250-8BITMIME\r\n250-BINARYMIME\r\n250-CHUNKING\r\n");
    if (g_mode == M_STARTTLS && !c->ssl)
      reply(c, "250-STARTTLS\r\n");
    reply(c, "250 ENHANCEDSTATUSCODES\r\n");
  } else if (!strncasecmp(line, "HELO", 4)) {
    reply(c, "250 sink.bench\r\n");
  } else if (!strncasecmp(line, "MAIL FROM:", 10)) {
    if (c->has_mail) {
      reply(c, "503 5.5.1 nested MAIL\r\n");
      return;
    }
    c->has_mail = 1;
    c->nrcpt = 0;
    c->msg_bytes = 0;
    reply(c, "250 2.1.0 Ok\r\n");
  } else if (!strncasecmp(line, "RCPT TO:", 8)) {
    if (!c->has_mail) {
      reply(c, "503 5.5.1 need MAIL\r\n");
      return;
    }
    c->nrcpt++;
    reply(c, "250 2.1.5 Ok\r\n");
  } else if (!strcasecmp(line, "DATA")) {
    if (!c->nrcpt) {
      reply(c, "503 5.5.1 need RCPT\r\n");
      return;
    }
    c->st = S_DATA;
    c->data_bol = 1;
    c->msg_bytes = 0;
    reply(c, "354 End data with <CR><LF>.<CR><LF>\r\n");
  } else if (!strncasecmp(line, "BDAT ", 5)) {
    char *end = NULL;
    errno = 0;
    unsigned long long n = strtoull(line + 5, &end, 10);
    if (errno || end == line + 5 || (*end && *end != ' ')) {
      reply(c, "501 5.5.4 BDAT size\r\n");
      return; /* the chunk's length is unknown: cannot skip it */
    }
    while (*end == ' ')
      end++;
    int last = !strcasecmp(end, "LAST");
    if (*end && !last) {
      reply(c, "501 5.5.4 BDAT argument\r\n");
      return;
    }
    c->st = S_BDAT;
    c->bdat_left = n;
    c->bdat_last = last;
    c->bdat_bad = !c->nrcpt;
  } else if (!strcasecmp(line, "RSET")) {
    c->has_mail = c->nrcpt = 0;
    c->msg_bytes = 0;
    reply(c, "250 2.0.0 Ok\r\n");
  } else if (!strcasecmp(line, "NOOP")) {
    reply(c, "250 2.0.0 Ok\r\n");
  } else if (!strcasecmp(line, "QUIT")) {
    reply(c, "221 2.0.0 Bye\r\n");
    c->st = S_CLOSING;
  } else if (!strcasecmp(line, "STARTTLS") && g_mode == M_STARTTLS &&
             !c->ssl) {
    reply(c, "220 2.0.0 Ready to start TLS\r\n");
    c->tls_after_flush = 1;
  } else {
    reply(c, "502 5.5.2 not implemented\r\n");
  }
}

static void bdat_done(struct conn *c) {
  c->st = S_CMD;
  if (c->bdat_bad) {
    reply(c, "503 5.5.1 need RCPT\r\n");
    c->msg_bytes = 0;
    return;
  }
  if (c->bdat_last) {
    g_bdat++;
    end_message(c);
    reply(c, "250 2.0.0 Ok: message accepted\r\n");
  } else {
    reply(c, "250 2.0.0 Ok: chunk\r\n");
  }
}

/* Consumes what it can of c->in; leaves an incomplete command line (or
 * the start of a possible end-of-data line) for the next read. */
static void process(struct conn *c) {
  size_t pos = 0;
  while (pos < c->inlen && c->st != S_CLOSING && !c->tls_after_flush) {
    char *p = c->in + pos;
    size_t avail = c->inlen - pos;
    if (c->st == S_CMD) {
      if (sizeof c->out - c->outlen < OUT_ROOM)
        break; /* the replies must go out first */
      char *nl = memchr(p, '\n', avail < MAX_LINE ? avail : MAX_LINE);
      if (!nl) {
        if (avail >= MAX_LINE) {
          reply(c, "500 5.5.0 line too long\r\n");
          g_errors++;
          c->st = S_CLOSING;
        }
        break;
      }
      size_t len = (size_t)(nl - p) + 1;
      char line[MAX_LINE + 1];
      memcpy(line, p, len);
      line[len] = 0;
      pos += len;
      command(c, line, len);
      if (c->st == S_BDAT && c->bdat_left == 0)
        bdat_done(c);
    } else if (c->st == S_BDAT) {
      size_t take = avail < c->bdat_left ? avail : (size_t)c->bdat_left;
      c->msg_bytes += take;
      c->bdat_left -= take;
      pos += take;
      if (c->bdat_left == 0)
        bdat_done(c);
    } else if (c->st == S_DATA) {
      if (c->data_bol && p[0] == '.') {
        if (avail < 2 || (p[1] == '\r' && avail < 3))
          break; /* ".", ".\r": wait for the rest */
        if (p[1] == '\n' || (p[1] == '\r' && p[2] == '\n')) {
          pos += p[1] == '\n' ? 2 : 3;
          c->st = S_CMD;
          end_message(c);
          reply(c, "250 2.0.0 Ok: message accepted\r\n");
          continue;
        }
        pos++; /* a stuffed dot */
        p++;
        avail--;
      }
      char *nl = memchr(p, '\n', avail);
      size_t len = nl ? (size_t)(nl - p) + 1 : avail;
      c->msg_bytes += len;
      c->data_bol = nl != NULL;
      pos += len;
    } else {
      break;
    }
  }
  memmove(c->in, c->in + pos, c->inlen - pos);
  c->inlen -= pos;
}

/* Reads what is available; returns -1 on EOF or error. */
static int fill(struct conn *c) {
  while (c->inlen < sizeof c->in) {
    size_t room = sizeof c->in - c->inlen;
    if (c->ssl) {
      size_t got = 0;
      int r = SSL_read_ex(c->ssl, c->in + c->inlen, room, &got);
      if (r == 1) {
        c->inlen += got;
        continue;
      }
      int e = SSL_get_error(c->ssl, r);
      c->want_write = e == SSL_ERROR_WANT_WRITE;
      if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return 0;
      return -1;
    }
    ssize_t n = read(c->fd, c->in + c->inlen, room);
    if (n > 0) {
      c->inlen += (size_t)n;
      if ((size_t)n < room)
        return 0; /* drained */
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
      return 0;
    return -1;
  }
  return 0;
}

/* Writes the gathered replies; returns -1 on error. */
static int flush_out(struct conn *c) {
  while (c->outoff < c->outlen) {
    size_t left = c->outlen - c->outoff;
    if (c->ssl) {
      size_t put = 0;
      int r = SSL_write_ex(c->ssl, c->out + c->outoff, left, &put);
      if (r == 1) {
        c->outoff += put;
        continue;
      }
      int e = SSL_get_error(c->ssl, r);
      c->want_write = e == SSL_ERROR_WANT_WRITE;
      if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return 0;
      return -1;
    }
    ssize_t n = write(c->fd, c->out + c->outoff, left);
    if (n > 0) {
      c->outoff += (size_t)n;
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
      return 0;
    return -1;
  }
  c->outoff = c->outlen = 0;
  return 0;
}

/* One step for a connection; returns -1 when it is to be closed. */
static int step(struct conn *c) {
  c->last = time(NULL);
  c->want_write = 0;
  if (c->st == S_HANDSHAKE) {
    int r = handshake(c);
    if (r <= 0)
      return r;
  }
  if (flush_out(c) < 0)
    return -1;
  for (int round = 0; round < 64; round++) { /* bounded per wake-up */
    if (c->outlen) {
      if (flush_out(c) < 0)
        return -1;
      if (c->outlen)
        return 0; /* wait for POLLOUT */
    }
    if (c->st == S_CLOSING)
      return -1;
    if (c->tls_after_flush) {
      c->tls_after_flush = 0;
      if (start_tls(c) < 0)
        return -1;
      return handshake(c) < 0 ? -1 : 0;
    }
    size_t before = c->inlen;
    int eof = fill(c) < 0;
    process(c);
    if (c->outlen)
      continue; /* write the replies, then read on */
    if (eof)
      return -1;
    if (c->inlen == before && !(c->ssl && SSL_has_pending(c->ssl)))
      return 0; /* nothing new */
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: sink PORT plain|tls|starttls [CERT KEY] "
                    "[MAXCONN]\n");
    return 2;
  }
  int port = atoi(argv[1]);
  g_mode = !strcmp(argv[2], "tls")        ? M_TLS
           : !strcmp(argv[2], "starttls") ? M_STARTTLS
                                          : M_PLAIN;
  int argi = 3;
  if (g_mode != M_PLAIN) {
    if (argc < 5) {
      fprintf(stderr, "sink: TLS modes need CERT KEY\n");
      return 2;
    }
    g_ctx = SSL_CTX_new(TLS_server_method());
    if (!g_ctx || SSL_CTX_use_certificate_chain_file(g_ctx, argv[3]) != 1 ||
        SSL_CTX_use_PrivateKey_file(g_ctx, argv[4], SSL_FILETYPE_PEM) != 1) {
      ERR_print_errors_fp(stderr);
      return 1;
    }
    SSL_CTX_set_mode(g_ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
                                SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    argi = 5;
  }
  int maxconn = argc > argi ? atoi(argv[argi]) : 8;
  if (maxconn < 1 || maxconn > MAX_CONN_LIMIT)
    maxconn = 8;

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal; /* no SA_RESTART: poll returns EINTR */
  sigaction(SIGUSR1, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);

  int ls = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in sin;
  memset(&sin, 0, sizeof sin);
  sin.sin_family = AF_INET;
  sin.sin_port = htons((uint16_t)port);
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(ls, (struct sockaddr *)&sin, sizeof sin) < 0 ||
      listen(ls, 1024) < 0) {
    perror("sink: bind/listen");
    return 1;
  }
  fcntl(ls, F_SETFL, O_NONBLOCK);
  printf("ready\n");
  fflush(stdout);

  struct conn *conns[MAX_CONN_LIMIT] = {0};
  while (!g_stop) {
    if (g_report) {
      g_report = 0;
      print_totals();
    }
    struct pollfd pf[MAX_CONN_LIMIT + 1];
    int map[MAX_CONN_LIMIT + 1];
    int n = 0, again = 0;
    pf[n] = (struct pollfd){ls, POLLIN, 0};
    map[n++] = -1;
    time_t now = time(NULL);
    for (int i = 0; i < maxconn; i++) {
      struct conn *c = conns[i];
      if (!c)
        continue;
      if (now - c->last > IDLE_S) {
        g_errors++;
        conn_close(c);
        conns[i] = NULL;
        continue;
      }
      short ev = POLLIN;
      if (c->outlen || c->want_write)
        ev |= POLLOUT;
      if (c->ssl && SSL_has_pending(c->ssl))
        again = 1;
      pf[n] = (struct pollfd){c->fd, ev, 0};
      map[n++] = i;
    }
    int r = poll(pf, (nfds_t)n, again ? 0 : 200);
    if (r < 0 && errno != EINTR) {
      perror("sink: poll");
      break;
    }
    for (int k = 1; k < n; k++) {
      struct conn *c = conns[map[k]];
      if (!pf[k].revents && !(c->ssl && SSL_has_pending(c->ssl)))
        continue;
      if (step(c) < 0) {
        if (c->outlen)
          flush_out(c); /* the last replies (221, 500), best effort */
        conn_close(c);
        conns[map[k]] = NULL;
      }
    }
    if (r > 0 && (pf[0].revents & POLLIN)) {
      for (int k = 0; k < 16; k++) {
        int fd = accept(ls, NULL, NULL);
        if (fd < 0)
          break;
        int slot = -1;
        for (int i = 0; i < maxconn && slot < 0; i++)
          if (!conns[i])
            slot = i;
        if (slot < 0) {
          static const char busy[] = "421 4.3.2 too many connections\r\n";
          ssize_t w = write(fd, busy, sizeof busy - 1);
          (void)w;
          close(fd);
          g_errors++;
          continue;
        }
        fcntl(fd, F_SETFL, O_NONBLOCK);
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct conn *c = calloc(1, sizeof *c);
        if (!c) {
          close(fd);
          continue;
        }
        c->fd = fd;
        c->last = time(NULL);
        c->st = S_CMD;
        g_conns++;
        conns[slot] = c;
        if (g_mode == M_TLS) {
          if (start_tls(c) < 0) {
            conn_close(c);
            conns[slot] = NULL;
          }
        } else {
          reply(c, "220 sink.bench ESMTP mailwire bench sink\r\n");
          if (flush_out(c) < 0) {
            conn_close(c);
            conns[slot] = NULL;
          }
        }
      }
    }
  }
  for (int i = 0; i < maxconn; i++)
    if (conns[i])
      conn_close(conns[i]);
  print_totals();
  SSL_CTX_free(g_ctx);
  return 0;
}
