/*
 * test_revocation_matrix.c - the revocation matrix from C: every case of
 * tests/servers/revocation-cases.txt, as tests/servers/revocation-matrix.py
 * resolved it (DIR/cases.tsv: the case plus the port of its server), is
 * one SMTP connection over implicit TLS through the public API. Python
 * (test_revocation_matrix.py) and Lua (revocation_spec.lua) run the same
 * list.
 */
#include "nbdriver.h"
#include "testlib.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

enum {
  C_ID,
  C_LEAF,
  C_PORT,
  C_STAPLE,
  C_TLS,
  C_OPTIONS,
  C_CRL,
  C_CODE,
  C_EEX,
  C_VERIFY,
  C_STATUS,
  C_DETAIL,
  C_TEXT,
  C_COUNT
};

static char dir[64], script[512], ca_file[128];
static char log_text[16384];
static size_t log_len;

static void collect_log(void *ctx, int severity, int facility,
                        const char *message) {
  (void)ctx;
  (void)severity;
  (void)facility;
  int n =
      snprintf(log_text + log_len, sizeof log_text - log_len, "%s\n", message);
  if (n > 0 && (size_t)n < sizeof log_text - log_len)
    log_len += (size_t)n;
}

static const char *const status_names[] = {
    "NOT_CHECKED", "GOOD", "REVOKED", "UNKNOWN", "OFFLINE", "INVALID"};

static const char *status_name(long v) {
  size_t n = sizeof status_names / sizeof status_names[0];
  return v >= 0 && (size_t)v < n ? status_names[v] : "?";
}

/* Split a line of cases.tsv at tabs, in place. */
static int split(char *line, char *col[C_COUNT]) {
  int n = 0;
  line[strcspn(line, "\r\n")] = '\0';
  for (char *p = line; n < C_COUNT; n++) {
    col[n] = p;
    p = strchr(p, '\t');
    if (!p)
      return n + 1;
    *p++ = '\0';
  }
  return n;
}

static void set_flag(mw_sslinfo *ssl, int index, long v) {
  CHECK_INT(mw_sslinfo_set_option_int(ssl, index, v), MW_OK);
}

/* The options column: end, noall, root, nrc, ro, strict, timeout=MS. */
static void apply_options(mw_sslinfo *ssl, char *opts) {
  if (strcmp(opts, "-") == 0)
    return;
  char *save = NULL;
  for (char *o = strtok_r(opts, ",", &save); o;
       o = strtok_r(NULL, ",", &save)) {
    if (strcmp(o, "end") == 0)
      set_flag(ssl, SSLRevocationCheckEnd, 1);
    else if (strcmp(o, "noall") == 0)
      set_flag(ssl, SSLRevocationCheckAll, 0);
    else if (strcmp(o, "root") == 0)
      set_flag(ssl, SSLRevocationExcludeRoot, 1);
    else if (strcmp(o, "nrc") == 0 || strcmp(o, "strict") == 0)
      set_flag(ssl, SSLRevocationIgnoreNRC, 0);
    else if (strncmp(o, "timeout=", 8) == 0)
      set_flag(ssl, SSLRevocationTimeout, atol(o + 8));
    else if (strcmp(o, "ro") != 0)
      tl_fail(__FILE__, __LINE__, "unknown option '%s'", o);
    if (strcmp(o, "ro") == 0 || strcmp(o, "strict") == 0)
      set_flag(ssl, SSLRevocationIgnoreRO, 0);
  }
}

/* Each " && "-separated piece of want is in got ("!piece": is not). */
static void check_pieces(const char *id, const char *what, const char *got,
                         char *want) {
  if (strcmp(want, "-") == 0)
    return;
  for (char *p = want; p;) {
    char *next = strstr(p, " && ");
    if (next) {
      *next = '\0';
      next += 4;
    }
    int neg = *p == '!';
    if ((strstr(got, p + neg) != NULL) == neg)
      tl_fail(__FILE__, __LINE__, "%s: %s \"%s\" %s \"%s\"", id, what, got,
              neg ? "holds" : "lacks", p + neg);
    p = next;
  }
}

static void run_case(char **col) {
  mw_sslinfo *ssl = mw_sslinfo_new();
  CHECK_INT(mw_sslinfo_set_mode(ssl, MODE_CHANNEL), MW_OK);
  CHECK_INT(mw_sslinfo_set_option_str(ssl, SSLCAFile, ca_file), MW_OK);
  if (strcmp(col[C_CRL], "-") != 0)
    CHECK_INT(mw_sslinfo_set_option_str(ssl, SSLCRLFile, col[C_CRL]), MW_OK);
  apply_options(ssl, col[C_OPTIONS]);
  mw_smtp *c = mw_smtp_new();
  CHECK_INT(mw_smtp_set_server(c, "127.0.0.1", (unsigned)atoi(col[C_PORT])),
            MW_OK);
  CHECK_INT(mw_smtp_set_timeout(c, 20000), MW_OK);
  CHECK_INT(mw_smtp_set_sslinfo(c, ssl), MW_OK);
  mw_loghandler *lh = mw_loghandler_new(collect_log, NULL);
  CHECK_INT(mw_smtp_set_loghandler(c, lh), MW_OK);
  mw_loghandler_free(lh);
  log_len = 0;
  log_text[0] = '\0';
  int rc = mw_smtp_connect(c);
  const mw_errorinfo *e = mw_smtp_extended_error(c);
  const char *code = rc == MW_OK ? "ok" : mw_err_name(rc);
  const char *text = rc == MW_OK ? "" : mw_errorinfo_text(e);
  if (strcmp(code, col[C_CODE]) != 0 ||
      strcmp(mw_eex_name(rc == MW_OK ? eexNone : mw_errorinfo_number(e)),
             col[C_EEX]) != 0)
    tl_fail(__FILE__, __LINE__, "%s: %s/%s, expected %s/%s (%s)", col[C_ID],
            code, mw_eex_name(mw_errorinfo_number(e)), col[C_CODE], col[C_EEX],
            text);
  long verify = rc == MW_OK ? 0 : mw_errorinfo_verify_result(e);
  if (verify != atol(col[C_VERIFY]))
    tl_fail(__FILE__, __LINE__, "%s: verify %ld, expected %s", col[C_ID],
            verify, col[C_VERIFY]);
  long status = -1;
  const char *detail = NULL;
  CHECK_INT(mw_sslinfo_get_option_int(ssl, SSLRevocationStatus, &status),
            MW_OK);
  CHECK_INT(mw_sslinfo_get_option_str(ssl, SSLRevocationDetail, &detail),
            MW_OK);
  detail = detail ? detail : "";
  if (strcmp(status_name(status), col[C_STATUS]) != 0)
    tl_fail(__FILE__, __LINE__, "%s: status %s, expected %s (%s)", col[C_ID],
            status_name(status), col[C_STATUS], detail);
  check_pieces(col[C_ID], "detail", detail, col[C_DETAIL]);
  check_pieces(col[C_ID], "text", text, col[C_TEXT]);
  /* A refused handshake sends nothing of the session (its outcome is in
   * the error); a connection logs it. */
  if (tl_contains(log_text, log_len, "EHLO") != (rc == MW_OK))
    tl_fail(__FILE__, __LINE__, "%s: EHLO %s in the log", col[C_ID],
            rc == MW_OK ? "missing" : "sent");
  if (rc == MW_OK && strcmp(col[C_STATUS], "NOT_CHECKED") != 0 &&
      !tl_contains(log_text, log_len, "Revocation: "))
    tl_fail(__FILE__, __LINE__, "%s: the outcome is not logged", col[C_ID]);
  if (rc == MW_OK)
    CHECK_INT(mw_smtp_quit(c), MW_OK);
  mw_smtp_free(c);
  mw_sslinfo_free(ssl);
}

static void test_matrix(void) {
  char path[128], line[2048];
  snprintf(path, sizeof path, "%s/cases.tsv", dir);
  FILE *f = fopen(path, "r");
  CHECK(f != NULL);
  int n = 0;
  while (f && fgets(line, sizeof line, f)) {
    char *col[C_COUNT];
    if (split(line, col) != C_COUNT) {
      tl_fail(__FILE__, __LINE__, "bad line in cases.tsv: %s", line);
      continue;
    }
    int before = tl_checks_failed;
    run_case(col);
    printf("  %-36s %s\n", col[C_ID],
           tl_checks_failed == before ? "ok" : "FAILED");
    n++;
  }
  if (f)
    fclose(f);
  CHECK(n >= 40); /* the whole list was read */
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  /* test_revocation_matrix_nb: the same cases through the random-piece
   * driver, which answers the check's fetches (MW_IO_FETCH) itself. */
  const char *nb = getenv("MW_NB_DRIVER");
  if (nb && atoi(nb))
    nb_install();
  snprintf(dir, sizeof dir, "/tmp/mw-revmatrix-XXXXXX");
  if (!mkdtemp(dir))
    return 1;
  /* The script sits in tests/servers next to this file's tests/c. */
  char src[400];
  snprintf(src, sizeof src, "%s", __FILE__);
  char *cut = strstr(src, "/tests/c/");
  if (cut)
    *cut = '\0';
  snprintf(script, sizeof script, "%s/tests/servers/revocation-matrix.py",
           cut ? src : ".");
  snprintf(ca_file, sizeof ca_file, "%s/root.pem", dir);
  char cmd[1200];
  snprintf(cmd, sizeof cmd, "%s start %s >%s/start.log 2>&1", script, dir,
           dir);
  if (system(cmd) != 0) {
    tl_fail(__FILE__, __LINE__, "%s failed, see %s/start.log", script, dir);
    return tl_finish();
  }
  RUN(test_matrix);
  snprintf(cmd, sizeof cmd, "%s clean %s", script, dir);
  if (system(cmd) != 0)
    fprintf(stderr, "could not stop the matrix servers in %s\n", dir);
  return tl_finish();
}
