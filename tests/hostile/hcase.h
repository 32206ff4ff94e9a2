/*
 * hcase.h - one hostile-server case file (tests/hostile/README.md): what
 * the client is set to, what it does, the server's script, and what must
 * come out. Shared by the C runner (test_hostile.c) and the server program
 * the Python and Lua runners drive (hostile_server.c).
 */
#ifndef MW_HCASE_H
#define MW_HCASE_H

#include <stddef.h>

#define HC_MAX_ITEMS 32

typedef struct hc_bytes {
  char *data; /* escapes decoded, NUL-terminated (may hold NULs) */
  size_t len;
} hc_bytes;

typedef struct hc_case {
  char *path, *name;     /* name: "smtp/starttls-missing" */
  char description[512]; /* the first comment line */
  char client[8];        /* "smtp" or "pop3" */
  char *set_keys[HC_MAX_ITEMS];
  hc_bytes set_values[HC_MAX_ITEMS];
  size_t nset;
  char *actions[HC_MAX_ITEMS]; /* "send", "retr 1", ... */
  size_t nactions;
  int expect_code, expect_number; /* MW_OK/eexNone for "ok" */
  hc_bytes never[HC_MAX_ITEMS], sent[HC_MAX_ITEMS];
  size_t nnever, nsent;
  hc_bytes got; /* expected retr/top content; got.data NULL if none */
  char *texts[HC_MAX_ITEMS]; /* text: parts of the error's sentence */
  size_t ntexts;
  int reply_code; /* reply_code: the ErrorInfo's, or -2 when not given */
  char only[64];  /* "" or the languages the case runs in */
  char *script;   /* the tl_server script */
} hc_case;

/* Parse a case file; NULL with a reason in why. */
hc_case *hc_load(const char *path, const char *root, char *why, size_t wlen);
void hc_free(hc_case *c);
/* The value of a setting, or NULL. */
const hc_bytes *hc_get(const hc_case *c, const char *key);
/* Does the case run in this language ("c", "python", "lua")? */
int hc_runs_in(const hc_case *c, const char *lang);
/* Every *.case file under dir, sorted; returns the count (paths malloc'd). */
size_t hc_list(const char *dir, char ***paths);

#endif
