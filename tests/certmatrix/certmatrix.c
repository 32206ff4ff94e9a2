/*
 * certmatrix.c - the certificate matrix (cases.txt) from C: each case's
 * client connects to its server (server.py, started by start.sh) and the
 * outcome is checked: base code, extended number, verify result, a text
 * fragment, and from the server's record what went on the wire.
 * Usage: certmatrix CASES DIR [case...]
 */
#include "testlib.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define NFIELDS 11

typedef struct {
  char *f[NFIELDS]; /* name chain ca host sni options code eex verify sent
                       text */
} mcase;

static const char *dir;

static char *trim(char *s) {
  while (*s == ' ' || *s == '\t')
    s++;
  size_t n = strlen(s);
  while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' ||
               s[n - 1] == '\r'))
    s[--n] = '\0';
  return s;
}

/* One case from one line; 0 for a comment or blank line. */
static int parse(char *line, mcase *c) {
  char *s = trim(line);
  if (!*s || *s == '#')
    return 0;
  for (int i = 0; i < NFIELDS; i++) {
    char *bar = strchr(s, '|');
    if (bar)
      *bar = '\0';
    else if (i < NFIELDS - 1) {
      fprintf(stderr, "cases: too few fields in '%s'\n", line);
      exit(2);
    }
    c->f[i] = trim(s);
    s = bar ? bar + 1 : s + strlen(s);
  }
  return 1;
}

static int is_none(const char *v) {
  return strcmp(v, "-") == 0;
}

/* A base code or extended number by name ("0" and "MW_OK" are 0). */
static int code_named(const char *name, int extended) {
  if (strcmp(name, "0") == 0 || strcmp(name, "MW_OK") == 0)
    return 0;
  for (int n = 1; n < 5000; n++)
    if (strcmp(extended ? mw_eex_name(n) : mw_err_name(n), name) == 0)
      return n;
  fprintf(stderr, "cases: unknown name %s\n", name);
  exit(2);
}

static unsigned port_of(const char *name) {
  char path[1024], line[256];
  snprintf(path, sizeof path, "%s/ports", dir);
  FILE *f = fopen(path, "r");
  unsigned port = 0;
  while (f && fgets(line, sizeof line, f)) {
    char case_name[200];
    unsigned p;
    if (sscanf(line, "%199s %u", case_name, &p) == 2 &&
        strcmp(case_name, name) == 0)
      port = p;
  }
  if (f)
    fclose(f);
  return port;
}

/* The server's record since the last probe (server.py). */
static void probe(unsigned port, char *out, size_t len) {
  out[0] = '\0';
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_port = htons((unsigned short)port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  struct timeval tv = {20, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
      write(fd, "PROBE\n", 6) == 6) {
    size_t n = 0;
    ssize_t got;
    while (n + 1 < len && (got = read(fd, out + n, len - 1 - n)) > 0)
      n += (size_t)got;
    out[n] = '\0';
  }
  close(fd);
}

/* The boolean SSLInfo options the cases may set, by name. */
static void set_options(mw_sslinfo *ssl, const char *names) {
  static const struct {
    const char *name;
    int index;
  } known[] = {
      {"SSLNoServerNameCheck", SSLNoServerNameCheck},
      {"SSLNoServerCertificateValidation", SSLNoServerCertificateValidation}};
  char copy[512];
  snprintf(copy, sizeof copy, "%s", names);
  for (char *n = strtok(copy, " "); n; n = strtok(NULL, " ")) {
    if (is_none(n))
      continue;
    size_t i = 0;
    while (i < sizeof known / sizeof known[0] && strcmp(known[i].name, n))
      i++;
    if (i == sizeof known / sizeof known[0]) {
      fprintf(stderr, "cases: unknown option %s\n", n);
      exit(2);
    }
    CHECK_INT(mw_sslinfo_set_option_int(ssl, known[i].index, 1), MW_OK);
  }
}

static void fail(const mcase *c, const char *what, const char *got) {
  tl_fail(__FILE__, __LINE__, "case %s: %s (got: %s)", c->f[0], what, got);
}

static void run_case(const mcase *c) {
  const char *name = c->f[0];
  int code = code_named(c->f[6], 0), number = code_named(c->f[7], 1);
  long verify = atol(c->f[8]);
  unsigned port = port_of(name);
  if (!port) {
    fail(c, "no server port in DIR/ports", "-");
    return;
  }
  char ca[1024];
  snprintf(ca, sizeof ca, "%s/%s", dir, c->f[2]);
  mw_sslinfo *ssl = mw_sslinfo_new();
  CHECK_INT(mw_sslinfo_set_mode(ssl, MODE_CHANNEL), MW_OK);
  CHECK_INT(mw_sslinfo_set_option_str(ssl, SSLCAFile, ca), MW_OK);
  if (!is_none(c->f[4]))
    CHECK_INT(mw_sslinfo_set_option_str(ssl, SSLServerName, c->f[4]), MW_OK);
  set_options(ssl, c->f[5]);
  mw_smtp *s = mw_smtp_new();
  CHECK_INT(
      mw_smtp_set_server(s, is_none(c->f[3]) ? "127.0.0.1" : c->f[3], port),
      MW_OK);
  CHECK_INT(mw_smtp_set_timeout(s, 20000), MW_OK);
  CHECK_INT(mw_smtp_set_sslinfo(s, ssl), MW_OK);
  int rc = mw_smtp_connect(s);
  const mw_errorinfo *e = mw_smtp_extended_error(s);
  const char *text = mw_errorinfo_text(e);
  char got[2048];
  snprintf(got, sizeof got, "code %d, number %d, verify %ld, text '%s'", rc,
           mw_errorinfo_number(e), mw_errorinfo_verify_result(e), text);
  if (getenv("CERTMATRIX_VERBOSE"))
    printf("%s: %s\n", name, got);
  if (rc != code || mw_errorinfo_number(e) != number ||
      mw_errorinfo_verify_result(e) != verify)
    fail(c, "wrong outcome", got);
  if (!is_none(c->f[10]) && !strstr(text, c->f[10]))
    fail(c, "the text does not name the cause", got);
  if (rc == MW_OK) {
    CHECK(mw_smtp_is_secure(s));
    CHECK_INT(mw_smtp_quit(s), MW_OK);
  } else {
    CHECK(!mw_smtp_is_connected(s));
  }
  mw_smtp_free(s);
  mw_sslinfo_free(ssl);

  char record[8192], want[512];
  probe(port, record, sizeof record);
  if (code == errInvalidArgument)
    snprintf(want, sizeof want, "connections=0 handshake=none sni=- ");
  else
    snprintf(want, sizeof want, "connections=1 handshake=%s sni=%s ",
             code == MW_OK ? "ok" : "failed", c->f[9]);
  if (strncmp(record, want, strlen(want)) != 0)
    fail(c, want, record);
  const char *received = strstr(record, "received=");
  received = received ? received + strlen("received=") : "";
  if (code == MW_OK) {
    /* "EHLO " and "QUIT" in hex */
    if (!strstr(received, "45484c4f20") || !strstr(received, "51554954"))
      fail(c, "no EHLO and QUIT after the handshake", record);
  } else if (received[0] != '\n' && received[0] != '\0') {
    fail(c, "bytes after a refused handshake", record);
  }
}

/* ---- the caller's verify callback (C only) over the matrix's servers ---- */

static int refuse_intermediate(void *ud, int ok, long error,
                               const char *subject) {
  (void)ud;
  (void)error;
  return ok && !strstr(subject, "CN=Test Intermediate");
}

static int accept_all(void *ud, int ok, long error, const char *subject) {
  (void)ud;
  (void)ok;
  (void)error;
  (void)subject;
  return 1;
}

static int connect_with(const char *case_name, mw_verify_cb cb,
                        mw_smtp **out) {
  char ca[1024];
  snprintf(ca, sizeof ca, "%s/root.crt", dir);
  mw_sslinfo *ssl = mw_sslinfo_new();
  CHECK_INT(mw_sslinfo_set_mode(ssl, MODE_CHANNEL), MW_OK);
  CHECK_INT(mw_sslinfo_set_option_str(ssl, SSLCAFile, ca), MW_OK);
  CHECK_INT(mw_sslinfo_set_option_str(ssl, SSLServerName, "localhost"), MW_OK);
  CHECK_INT(mw_sslinfo_set_verify_callback(ssl, cb, NULL), MW_OK);
  *out = mw_smtp_new();
  CHECK_INT(mw_smtp_set_server(*out, "127.0.0.1", port_of(case_name)), MW_OK);
  CHECK_INT(mw_smtp_set_timeout(*out, 20000), MW_OK);
  CHECK_INT(mw_smtp_set_sslinfo(*out, ssl), MW_OK);
  mw_sslinfo_free(ssl);
  return mw_smtp_connect(*out);
}

/* A refusal by the callback names the certificate it refused. */
static void test_callback_refusal_names_the_certificate(void) {
  mw_smtp *c = NULL;
  int rc = connect_with("valid-dns", refuse_intermediate, &c);
  const mw_errorinfo *e = mw_smtp_extended_error(c);
  CHECK_ERR(rc, e, errConnect, eexSSLCertificate);
  CHECK_INT(mw_errorinfo_verify_result(e),
            50 /* X509_V_ERR_APPLICATION_VERIFICATION */);
  CHECK(strstr(mw_errorinfo_text(e),
               "the intermediate CA certificate 'CN=Test Intermediate' "
               "(depth 1) was refused by the verification callback"));
  mw_smtp_free(c);
  char record[8192];
  probe(port_of("valid-dns"), record, sizeof record);
  const char *want = "connections=1 handshake=failed sni=localhost received=";
  CHECK(strncmp(record, want, strlen(want)) == 0);
  CHECK(strcmp(record + strlen(want), "\n") == 0); /* nothing after it */
}

/* An error the callback accepts is no failure: the expired leaf connects. */
static void test_callback_acceptance_is_no_failure(void) {
  mw_smtp *c = NULL;
  int rc = connect_with("expired", accept_all, &c);
  CHECK_ERR(rc, mw_smtp_extended_error(c), MW_OK, eexNone);
  if (rc == MW_OK)
    CHECK_INT(mw_smtp_quit(c), MW_OK);
  mw_smtp_free(c);
  char record[8192];
  probe(port_of("expired"), record, sizeof record);
  CHECK(strncmp(record, "connections=1 handshake=ok",
                strlen("connections=1 handshake=ok")) == 0);
}

static mcase *cases;
static size_t ncases, current;

static void one(void) {
  run_case(&cases[current]);
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: certmatrix CASES DIR [case...]\n");
    return 2;
  }
  dir = argv[2];
  FILE *f = fopen(argv[1], "r");
  if (!f) {
    perror(argv[1]);
    return 2;
  }
  char line[2048];
  mcase c;
  while (fgets(line, sizeof line, f)) {
    char *copy = strdup(line);
    if (copy && parse(copy, &c)) {
      cases = realloc(cases, (ncases + 1) * sizeof *cases);
      cases[ncases++] = c;
    } else {
      free(copy);
    }
  }
  fclose(f);
  for (current = 0; current < ncases; current++) {
    int wanted = argc == 3;
    for (int i = 3; i < argc; i++)
      wanted |= strcmp(argv[i], cases[current].f[0]) == 0;
    if (wanted)
      tl_run(cases[current].f[0], one);
  }
  if (argc == 3) {
    RUN(test_callback_refusal_names_the_certificate);
    RUN(test_callback_acceptance_is_no_failure);
  }
  return tl_finish();
}
