/* driver.c - DNS, TCP connect (IPv4 and IPv6, each address in turn),
 * poll()-based timeouts, socket reads and writes. */
#define _DEFAULT_SOURCE /* SOCK_CLOEXEC, MSG_NOSIGNAL */
#include "driver.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

long long mw_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* 1 ready, 0 timed out, -1 poll failed (errno set). */
static int wait_fd(int fd, short events, int timeout_ms) {
  struct pollfd p = {.fd = fd, .events = events, .revents = 0};
  long long deadline = mw_now_ms() + timeout_ms;
  for (;;) {
    long long left = deadline - mw_now_ms();
    if (left < 0)
      left = 0;
    int r = poll(&p, 1, (int)left);
    if (r >= 0)
      return r > 0;
    if (errno != EINTR)
      return -1;
  }
}

static void describe(const struct sockaddr *sa, char *out, size_t outlen) {
  char ip[INET6_ADDRSTRLEN] = "?";
  unsigned port = 0;
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
    inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip);
    port = ntohs(in->sin_port);
    snprintf(out, outlen, "%s:%u", ip, port);
  } else if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
    inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip);
    port = ntohs(in6->sin6_port);
    snprintf(out, outlen, "[%s]:%u", ip, port);
  } else {
    snprintf(out, outlen, "?");
  }
}

static void tune_socket(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
#ifdef SO_NOSIGPIPE
  setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one);
#endif
}

/* One address: 0 connected, else errno (ETIMEDOUT when out of time). */
static int try_address(const struct addrinfo *ai, long long deadline,
                       int *fd_out) {
  int fd =
      socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
  if (fd < 0)
    return errno;
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  tune_socket(fd);
  int err = 0;
  if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
    err = errno;
    /* A signal during connect leaves it running, like EINPROGRESS. */
    if (err == EINPROGRESS || err == EINTR) {
      long long left = deadline - mw_now_ms();
      int r = wait_fd(fd, POLLOUT, left > 0 ? (int)left : 0);
      socklen_t len = sizeof err;
      if (r == 0)
        err = ETIMEDOUT;
      else if (r < 0)
        err = errno;
      else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        err = errno;
    }
  }
  if (err) {
    close(fd);
    return err;
  }
  *fd_out = fd;
  return 0;
}

/* ---- name resolution within a timeout ----
 * getaddrinfo has no timeout of its own (the resolver's, from resolv.conf,
 * is 5 s per try and server, and NSS modules may have none), so it runs on
 * a detached thread that the caller waits for at most timeout_ms. A caller
 * that gives up leaves the job to the thread, which frees it when
 * getaddrinfo returns: the last of the two references frees. */
typedef struct gai_job {
  pthread_mutex_t lock;
  pthread_cond_t cond;
  int refs; /* the caller's and the thread's */
  int done;
  int rc;
  struct addrinfo hints;
  struct addrinfo *res; /* the thread's result until the caller takes it */
  char *host;
  char service[16];
} gai_job;

static void gai_job_release(gai_job *j) {
  pthread_mutex_lock(&j->lock);
  int last = --j->refs == 0;
  pthread_mutex_unlock(&j->lock);
  if (!last)
    return;
  if (j->res)
    freeaddrinfo(j->res);
  pthread_cond_destroy(&j->cond);
  pthread_mutex_destroy(&j->lock);
  free(j->host);
  free(j);
}

static void *gai_thread(void *arg) {
  gai_job *j = arg;
  struct addrinfo *res = NULL;
  int rc =
      getaddrinfo(j->host, j->service[0] ? j->service : NULL, &j->hints, &res);
  pthread_mutex_lock(&j->lock);
  j->rc = rc;
  j->res = rc == 0 ? res : NULL;
  j->done = 1;
  pthread_cond_signal(&j->cond);
  pthread_mutex_unlock(&j->lock);
  gai_job_release(j);
  return NULL;
}

static gai_job *gai_job_new(const char *host, const char *service,
                            const struct addrinfo *hints) {
  gai_job *j = calloc(1, sizeof *j);
  if (!j || !(j->host = strdup(host))) {
    free(j);
    return NULL;
  }
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&j->cond, &ca);
  pthread_condattr_destroy(&ca);
  pthread_mutex_init(&j->lock, NULL);
  j->refs = 2;
  j->hints = *hints;
  snprintf(j->service, sizeof j->service, "%s", service ? service : "");
  return j;
}

/* The thread takes no signals: the application's handlers keep running
 * on its own threads. 0 started, else an errno. */
static int gai_start(gai_job *j) {
  sigset_t all, old;
  sigfillset(&all);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pthread_t t;
  int e = pthread_create(&t, &attr, gai_thread, j);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  pthread_attr_destroy(&attr);
  return e;
}

/* Wait for the job until deadline; 1 done, 0 out of time. */
static int gai_wait(gai_job *j, long long deadline) {
  struct timespec until = {.tv_sec = (time_t)(deadline / 1000),
                           .tv_nsec = (long)(deadline % 1000) * 1000000};
  pthread_mutex_lock(&j->lock);
  while (!j->done &&
         pthread_cond_timedwait(&j->cond, &j->lock, &until) != ETIMEDOUT)
    ;
  int done = j->done;
  pthread_mutex_unlock(&j->lock);
  return done;
}

/* getaddrinfo bounded by timeout_ms: its return code, or MW_GAI_TIMEOUT.
 * Numeric addresses need no lookup and skip the thread. */
#define MW_GAI_TIMEOUT INT_MIN /* no getaddrinfo code */
static int bounded_getaddrinfo(const char *host, const char *service,
                               const struct addrinfo *hints, int timeout_ms,
                               struct addrinfo **res) {
  struct addrinfo numeric = *hints;
  numeric.ai_flags |= AI_NUMERICHOST;
  if (getaddrinfo(host, service, &numeric, res) == 0)
    return 0;
  long long deadline = mw_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
  gai_job *j = gai_job_new(host, service, hints);
  if (!j)
    return EAI_MEMORY;
  if (gai_start(j) != 0) {
    j->refs = 1; /* no thread: resolve here, unbounded but working */
    gai_job_release(j);
    return getaddrinfo(host, service, hints, res);
  }
  int rc = MW_GAI_TIMEOUT;
  if (gai_wait(j, deadline)) {
    pthread_mutex_lock(&j->lock);
    rc = j->rc;
    *res = j->res;
    j->res = NULL;
    pthread_mutex_unlock(&j->lock);
  }
  gai_job_release(j);
  return rc;
}

static int resolve_timed_out(mw_errorinfo *err, const char *host,
                             int timeout_ms) {
  return mw_error_set(err, eexTimeout, ETIMEDOUT,
                      "Resolving the name '%s' did not finish within %d ms: "
                      "the DNS servers (/etc/resolv.conf) do not answer. "
                      "Check the network and the DNS configuration, or use "
                      "an IP address.",
                      host, timeout_ms);
}

static int resolve(const char *host, unsigned port, int timeout_ms,
                   struct addrinfo **res, mw_errorinfo *err) {
  struct addrinfo hints;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  char service[16];
  snprintf(service, sizeof service, "%u", port);
  int rc = bounded_getaddrinfo(host, service, &hints, timeout_ms, res);
  if (rc == 0)
    return MW_OK;
  if (rc == MW_GAI_TIMEOUT)
    return resolve_timed_out(err, host, timeout_ms);
  return mw_error_set(err, eexDNS, rc,
                      "The server name '%s' cannot be resolved (%s). Check "
                      "the server name.",
                      host, gai_strerror(rc));
}

int mw_driver_connect(const char *host, unsigned port, int timeout_ms,
                      mw_errorinfo *err, mw_loghandler *log, int *fd,
                      char *peer, size_t peerlen) {
  /* Resolution and connection share the one timeout. */
  long long deadline = mw_now_ms() + timeout_ms;
  struct addrinfo *res = NULL;
  int rc = resolve(host, port, timeout_ms, &res, err);
  if (rc != MW_OK)
    return rc;
  int last = 0;
  char where[80] = "";
  for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
    describe(ai->ai_addr, where, sizeof where);
    mw_log(log, LOG_S_INFORMATION, LOG_F_PROTOCOL, "Connecting to %s (%s)",
           host, where);
    last = try_address(ai, deadline, fd);
    if (last == 0)
      break;
    mw_log(log, LOG_S_WARNING, LOG_F_PROTOCOL, "Connecting to %s failed: %s",
           where, strerror(last));
    if (last == ETIMEDOUT)
      break; /* the whole connect shares one timeout */
  }
  freeaddrinfo(res);
  if (last == 0) {
    snprintf(peer, peerlen, "%s", where);
    return MW_OK;
  }
  if (last == ETIMEDOUT)
    return mw_error_set(err, eexTimeout, last,
                        "Connecting to %s port %u (%s) timed out after %d "
                        "ms. Check the server name, the port and any "
                        "firewall.",
                        host, port, where, timeout_ms);
  return mw_error_set(err, eexTCPConnect, last,
                      "Cannot connect to %s port %u (%s): %s. Check the "
                      "port: SMTP uses 25 or 587 (STARTTLS) and 465 "
                      "(implicit TLS); POP3 uses 110 (STLS) and 995 "
                      "(implicit TLS).",
                      host, port, where, strerror(last));
}

int mw_driver_resolve(const char *host, int ipv4_only, int timeout_ms,
                      unsigned char addr[16], int *family, mw_errorinfo *err) {
  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = ipv4_only ? AF_INET : AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  int rc = bounded_getaddrinfo(host, NULL, &hints, timeout_ms, &res);
  if (rc == MW_GAI_TIMEOUT)
    return resolve_timed_out(err, host, timeout_ms);
  if (rc != 0)
    return mw_error_set(err, eexDNS, rc,
                        "The server name '%s' cannot be resolved locally "
                        "(%s)%s. Check the server name%s.",
                        host, gai_strerror(rc),
                        ipv4_only ? " to an IPv4 address" : "",
                        ipv4_only ? ", or use SOCKS4a/SOCKS5 so that the "
                                    "proxy resolves it"
                                  : ", or let the proxy resolve it");
  if (res->ai_family == AF_INET) {
    memcpy(addr, &((struct sockaddr_in *)res->ai_addr)->sin_addr, 4);
    *family = 4;
  } else {
    memcpy(addr, &((struct sockaddr_in6 *)res->ai_addr)->sin6_addr, 16);
    *family = 6;
  }
  freeaddrinfo(res);
  return MW_OK;
}

int mw_driver_send(int fd, const void *data, size_t len, int timeout_ms,
                   mw_errorinfo *err) {
  const char *p = data;
  while (len > 0) {
    ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
    if (n > 0) {
      p += n;
      len -= (size_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      int r = wait_fd(fd, POLLOUT, timeout_ms);
      if (r > 0)
        continue;
      if (r == 0)
        return mw_error_set(err, eexTimeout, ETIMEDOUT,
                            "The server did not accept data for %d ms; "
                            "the connection was closed.",
                            timeout_ms);
    }
    int e = n < 0 ? errno : EIO; /* send() returning 0 would loop forever */
    return mw_error_set(err, eexSocketTx, e,
                        "Sending to the server failed: %s.", strerror(e));
  }
  return MW_OK;
}

int mw_driver_recv(int fd, void *buf, size_t cap, int timeout_ms, size_t *got,
                   mw_errorinfo *err) {
  for (;;) {
    ssize_t n = recv(fd, buf, cap, 0);
    if (n > 0) {
      *got = (size_t)n;
      return MW_OK;
    }
    if (n == 0)
      return mw_error_set(err, eexServerClosed, 0,
                          "The server closed the connection unexpectedly.");
    if (errno == EINTR)
      continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      int r = wait_fd(fd, POLLIN, timeout_ms);
      if (r > 0)
        continue;
      if (r == 0)
        return mw_error_set(err, eexTimeout, ETIMEDOUT,
                            "The server did not answer within %d ms; the "
                            "connection was closed. Check that the port "
                            "speaks the expected protocol, or raise the "
                            "timeout.",
                            timeout_ms);
    }
    int e = errno;
    return mw_error_set(err, eexSocketRx, e,
                        "Receiving from the server failed: %s.", strerror(e));
  }
}
