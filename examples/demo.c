/*
 * demo.c - mailwire's main job end to end, with the public API only:
 * send one message over SMTP with STARTTLS and AUTH, then fetch it back
 * over POP3S (LIST, UIDL, RETR) and print it.
 *
 *   mailwire-demo --ca ca.pem --smtp-port 2525 --pop3s-port 9950 \
 *                 --user alice --pass secret --to alice@mw.test
 *
 * scripts/demo.sh runs it against the local test servers.
 */
#include "mailwire.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct demo_opts {
  const char *host;
  unsigned smtp_port;
  unsigned pop3s_port;
  const char *user;
  const char *pass;
  const char *from;
  const char *to;
  const char *ca_file;
  int log_level;
  int wait_ms;
} demo_opts;

static void usage(FILE *out, const char *prog) {
  fprintf(out,
          "usage: %s [options]\n"
          "Sends one message over SMTP (STARTTLS, AUTH), then retrieves it\n"
          "over POP3S (LIST, UIDL, RETR) and prints it.\n"
          "\n"
          "  -H, --host NAME        server host (default localhost)\n"
          "  -s, --smtp-port N      SMTP port offering STARTTLS "
          "(default 587)\n"
          "  -p, --pop3s-port N     POP3S port, implicit TLS (default 995)\n"
          "  -u, --user NAME        user for SMTP AUTH and POP3 "
          "(default $MW_USER)\n"
          "  -w, --pass SECRET      password (default $MW_PASS)\n"
          "  -f, --from ADDR        envelope sender (default "
          "demo@example.org)\n"
          "  -t, --to ADDR          recipient; must be the POP3 user's "
          "mailbox\n"
          "                         (default USER@mw.test)\n"
          "  -c, --ca FILE          PEM CA bundle to trust instead of the "
          "system's\n"
          "  -W, --wait MS          how long to wait for delivery "
          "(default 10000)\n"
          "  -q, --quiet            log warnings and errors only\n"
          "  -h, --help             this text\n"
          "Certificates are always verified, names included.\n",
          prog);
}

static unsigned parse_port(const char *s, const char *prog) {
  char *end;
  unsigned long p = strtoul(s, &end, 10);
  if (*s == '\0' || *end || p == 0 || p > 65535) {
    fprintf(stderr, "%s: not a port: %s\n", prog, s);
    exit(2);
  }
  return (unsigned)p;
}

static void parse_options(int argc, char **argv, demo_opts *o) {
  static const struct option longopts[] = {
      {"host", required_argument, NULL, 'H'},
      {"smtp-port", required_argument, NULL, 's'},
      {"pop3s-port", required_argument, NULL, 'p'},
      {"user", required_argument, NULL, 'u'},
      {"pass", required_argument, NULL, 'w'},
      {"from", required_argument, NULL, 'f'},
      {"to", required_argument, NULL, 't'},
      {"ca", required_argument, NULL, 'c'},
      {"wait", required_argument, NULL, 'W'},
      {"quiet", no_argument, NULL, 'q'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  *o = (demo_opts){
      "localhost",        587,  995,  getenv("MW_USER"), getenv("MW_PASS"),
      "demo@example.org", NULL, NULL, LOG_S_INFORMATION, 10000};
  int ch;
  while ((ch = getopt_long(argc, argv, "H:s:p:u:w:f:t:c:W:qh", longopts,
                           NULL)) != -1) {
    switch (ch) {
    case 'H':
      o->host = optarg;
      break;
    case 's':
      o->smtp_port = parse_port(optarg, argv[0]);
      break;
    case 'p':
      o->pop3s_port = parse_port(optarg, argv[0]);
      break;
    case 'u':
      o->user = optarg;
      break;
    case 'w':
      o->pass = optarg;
      break;
    case 'f':
      o->from = optarg;
      break;
    case 't':
      o->to = optarg;
      break;
    case 'c':
      o->ca_file = optarg;
      break;
    case 'W':
      o->wait_ms = atoi(optarg);
      break;
    case 'q':
      o->log_level = LOG_S_WARNING;
      break;
    case 'h':
      usage(stdout, argv[0]);
      exit(0);
    default:
      usage(stderr, argv[0]);
      exit(2);
    }
  }
  if (optind < argc || !o->user || !o->pass) {
    if (!o->user || !o->pass)
      fprintf(stderr,
              "%s: --user and --pass (or MW_USER, MW_PASS) are "
              "required\n",
              argv[0]);
    usage(stderr, argv[0]);
    exit(2);
  }
}

/* The LogHandler: every message the library logs, on stdout. */
static void print_log(void *userdata, int severity, int facility,
                      const char *message) {
  (void)userdata;
  static const char *const sev[] = {"?", "fatal", "warning", "info"};
  const char *fac = facility == LOG_F_PROTOCOL ? "protocol"
                    : facility == LOG_F_SSL    ? "ssl"
                    : facility == LOG_F_PROXY  ? "proxy"
                    : facility == LOG_F_USER   ? "user"
                                               : "?";
  printf("[%s/%s] %s\n",
         severity >= 1 && severity <= 3 ? sev[severity] : sev[0], fac,
         message);
}

/* Every failure ends here: the base code, the extended number, its name
 * and the sentence that says what to check. */
static int report(const char *what, int rc, const mw_errorinfo *ei) {
  fprintf(stderr, "%s failed: %s (%d)\n", what, mw_err_name(rc), rc);
  fprintf(stderr, "  ErrorInfo %d %s: %s\n", mw_errorinfo_number(ei),
          mw_eex_name(mw_errorinfo_number(ei)), mw_errorinfo_text(ei));
  if (mw_errorinfo_reply_code(ei) != 0) /* SMTP */
    fprintf(stderr, "  server said: %d %s\n", mw_errorinfo_reply_code(ei),
            mw_errorinfo_server_text(ei));
  else if (*mw_errorinfo_server_text(ei)) /* POP3: no reply codes */
    fprintf(stderr, "  server said: -ERR %s\n", mw_errorinfo_server_text(ei));
  if (*mw_errorinfo_os_error_text(ei))
    fprintf(stderr, "  %s\n", mw_errorinfo_os_error_text(ei));
  return 1;
}

static mw_sslinfo *make_sslinfo(int mode, const char *ca_file) {
  mw_sslinfo *ssl = mw_sslinfo_new();
  if (!ssl)
    return NULL;
  int rc = mw_sslinfo_set_mode(ssl, mode);
  if (rc == MW_OK && ca_file)
    rc = mw_sslinfo_set_option_str(ssl, SSLCAFile, ca_file);
  if (rc != MW_OK) {
    report("SSLInfo", rc, mw_sslinfo_extended_error(ssl));
    mw_sslinfo_free(ssl);
    return NULL;
  }
  return ssl;
}

/* A unique subject, so the message can be found again among others. */
static void make_message(char *buf, size_t cap, const demo_opts *o,
                         char *token, size_t tcap) {
  snprintf(token, tcap, "mailwire-demo-%ld-%ld", (long)time(NULL),
           (long)getpid());
  snprintf(buf, cap,
           "From: <%s>\r\n"
           "To: <%s>\r\n"
           "Subject: %s\r\n"
           "MIME-Version: 1.0\r\n"
           "Content-Type: text/plain; charset=utf-8\r\n"
           "\r\n"
           "Hello from mailwire %s.\r\n"
           ".A line that starts with a dot travels dot-stuffed.\r\n",
           o->from, o->to, token, mw_version());
}

static int send_message(const demo_opts *o, mw_loghandler *lh,
                        const char *msg) {
  mw_smtp *smtp = mw_smtp_new();
  mw_sslinfo *ssl = make_sslinfo(MODE_STARTTLS, o->ca_file);
  if (!smtp || !ssl) {
    mw_smtp_free(smtp);
    mw_sslinfo_free(ssl);
    return 1;
  }
  int rc = mw_smtp_set_server(smtp, o->host, o->smtp_port);
  if (rc == MW_OK)
    rc = mw_smtp_set_handler(smtp, ssl);
  if (rc == MW_OK)
    rc = mw_smtp_set_handler(smtp, lh);
  if (rc == MW_OK)
    rc = mw_smtp_set_credentials(smtp, o->user, o->pass);
  if (rc == MW_OK)
    rc = mw_smtp_connect(smtp);
  if (rc == MW_OK) {
    const char *proto = NULL;
    mw_sslinfo_get_option_str(ssl, SSLConnectionProtocolName, &proto);
    printf("SMTP: connected, %s, AUTH %s\n", proto ? proto : "?",
           mw_smtp_auth_mechanism_used(smtp)
               ? mw_smtp_auth_mechanism_used(smtp)
               : "none");
    const char *rcpts[] = {o->to};
    rc = mw_smtp_send(smtp, o->from, rcpts, 1, msg, strlen(msg));
  }
  if (rc == MW_OK) {
    printf("SMTP: accepted: %d %s\n", mw_smtp_last_reply_code(smtp),
           mw_smtp_last_reply_text(smtp));
    rc = mw_smtp_quit(smtp);
  }
  int status =
      rc == MW_OK ? 0 : report("SMTP", rc, mw_smtp_extended_error(smtp));
  mw_smtp_free(smtp);
  mw_sslinfo_free(ssl); /* the client kept its own reference until now */
  return status;
}

/* LIST and UIDL, printed; the message whose text has token is returned
 * (0 if none yet). */
static unsigned long find_message(mw_pop3 *pop, const char *token, int *rc) {
  if ((*rc = mw_pop3_list(pop)) != MW_OK)
    return 0;
  size_t n = mw_pop3_entry_count(pop);
  printf("POP3: LIST: %zu message(s)\n", n);
  if ((*rc = mw_pop3_uidl(pop)) != MW_OK)
    return 0;
  unsigned long found = 0;
  /* Newest last: search backwards. */
  for (size_t i = mw_pop3_entry_count(pop); i > 0 && !found; i--) {
    unsigned long num = mw_pop3_entry_number(pop, i - 1);
    char *text = NULL;
    size_t len = 0;
    /* TOP 0: headers only, to find ours without fetching every body. */
    if ((*rc = mw_pop3_top(pop, num, 0, &text, &len)) != MW_OK)
      return 0;
    printf("POP3:   #%lu uid %s\n", num, mw_pop3_entry_uid(pop, i - 1));
    if (text && strstr(text, token))
      found = num;
    mw_free(text);
  }
  return found;
}

static int fetch_message(const demo_opts *o, mw_loghandler *lh,
                         const char *token) {
  int status = 1, rc = MW_OK;
  for (int waited = 0; status != 0 && waited <= o->wait_ms; waited += 500) {
    mw_pop3 *pop = mw_pop3_new();
    mw_sslinfo *ssl = make_sslinfo(MODE_CHANNEL, o->ca_file);
    if (!pop || !ssl) {
      mw_pop3_free(pop);
      mw_sslinfo_free(ssl);
      return 1;
    }
    rc = mw_pop3_set_server(pop, o->host, o->pop3s_port);
    if (rc == MW_OK)
      rc = mw_pop3_set_handler(pop, ssl);
    if (rc == MW_OK)
      rc = mw_pop3_set_handler(pop, lh);
    if (rc == MW_OK)
      rc = mw_pop3_set_credentials(pop, o->user, o->pass);
    if (rc == MW_OK)
      rc = mw_pop3_connect(pop);
    unsigned long num = rc == MW_OK ? find_message(pop, token, &rc) : 0;
    if (rc == MW_OK && num) {
      char *text = NULL;
      size_t len = 0;
      rc = mw_pop3_retr(pop, num, &text, &len);
      if (rc == MW_OK) {
        printf("POP3: RETR %lu: %zu bytes\n", num, len);
        printf("----- message -----\n%.*s----- end -----\n", (int)len, text);
        status = 0;
      }
      mw_free(text);
    }
    if (rc == MW_OK)
      rc = mw_pop3_quit(pop);
    if (rc != MW_OK)
      status = report("POP3", rc, mw_pop3_extended_error(pop));
    mw_pop3_free(pop);
    mw_sslinfo_free(ssl);
    if (rc != MW_OK)
      return 1;
    if (status != 0) {
      printf("POP3: not delivered yet; waiting\n");
      nanosleep(&(struct timespec){0, 500 * 1000000L}, NULL);
    }
  }
  if (status != 0)
    fprintf(stderr, "POP3: the message \"%s\" did not arrive within %d ms\n",
            token, o->wait_ms);
  return status;
}

int main(int argc, char **argv) {
  demo_opts o;
  parse_options(argc, argv, &o);
  char to_default[512];
  if (!o.to) {
    snprintf(to_default, sizeof to_default, "%s@mw.test", o.user);
    o.to = to_default;
  }
  mw_loghandler *lh = mw_loghandler_new(print_log, NULL);
  if (!lh) {
    fprintf(stderr, "out of memory\n");
    return 1;
  }
  mw_loghandler_set_level(lh, o.log_level);

  char msg[2048], token[128];
  make_message(msg, sizeof msg, &o, token, sizeof token);
  printf("mailwire %s: sending \"%s\" to %s via %s:%u (STARTTLS)\n",
         mw_version(), token, o.to, o.host, o.smtp_port);
  int status = send_message(&o, lh, msg);
  if (status == 0) {
    printf("mailwire: retrieving it from %s:%u (POP3S)\n", o.host,
           o.pop3s_port);
    status = fetch_message(&o, lh, token);
  }
  mw_loghandler_free(lh);
  printf(status == 0 ? "demo: OK\n" : "demo: FAILED\n");
  return status;
}
