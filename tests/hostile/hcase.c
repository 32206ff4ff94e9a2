/*
 * hcase.c - parsing of hostile-server case files (see hcase.h and
 * README.md). Names of codes are looked up through the library itself, so
 * a case can only name numbers that exist.
 */
#define _DEFAULT_SOURCE
#include "hcase.h"

#include "mailwire.h"
#include "testlib.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* C escapes decoded into a new buffer, as the scripted server reads them. */
static hc_bytes decode(const char *text) {
  hc_bytes b = {strdup(text), 0};
  if (!b.data)
    abort();
  b.len = tl_unescape(b.data);
  b.data[b.len] = '\0';
  return b;
}

static int code_by_name(const char *name) {
  for (int i = 0; i < 64; i++)
    if (strcmp(mw_err_name(i), name) == 0)
      return i;
  return -1;
}

static int number_by_name(const char *name) {
  for (int i = 0; i < 2000; i++)
    if (strcmp(mw_eex_name(i), name) == 0)
      return i;
  return -1;
}

static int parse_expect(hc_case *c, const char *v, char *why, size_t wlen) {
  char code[64], number[64];
  if (strcmp(v, "ok") == 0) {
    c->expect_code = MW_OK;
    c->expect_number = eexNone;
    return 0;
  }
  if (sscanf(v, "%63s %63s", code, number) != 2 ||
      (c->expect_code = code_by_name(code)) < 0 ||
      (c->expect_number = number_by_name(number)) < 0) {
    snprintf(why, wlen, "expect: \"%s\" is not \"ok\" or \"errX eexY\"", v);
    return -1;
  }
  return 0;
}

static char *read_all(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
  if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
    free(buf);
    buf = NULL;
  }
  if (buf)
    buf[n] = '\0';
  fclose(f);
  return buf;
}

static int add_item(hc_bytes *list, size_t *n, const char *v) {
  if (*n >= HC_MAX_ITEMS)
    return -1;
  list[(*n)++] = decode(v);
  return 0;
}

/* One header line "key: value"; 1 when it is "script:". */
static int parse_header(hc_case *c, char *line, char *why, size_t wlen) {
  char *colon = strchr(line, ':');
  if (!colon) {
    snprintf(why, wlen, "not \"key: value\": \"%s\"", line);
    return -1;
  }
  *colon = '\0';
  char *v = colon + 1;
  if (*v == ' ')
    v++;
  const char *k = line;
  if (strcmp(k, "script") == 0)
    return 1;
  int rc = 0;
  if (strcmp(k, "client") == 0) {
    snprintf(c->client, sizeof c->client, "%s", v);
    if (strcmp(v, "smtp") != 0 && strcmp(v, "pop3") != 0)
      rc = -1;
  } else if (strcmp(k, "set") == 0) {
    char *eq = strchr(v, '=');
    if (!eq || c->nset >= HC_MAX_ITEMS) {
      rc = -1;
    } else {
      *eq = '\0';
      c->set_keys[c->nset] = strdup(v);
      c->set_values[c->nset++] = decode(eq + 1);
    }
  } else if (strcmp(k, "do") == 0) {
    if (c->nactions >= HC_MAX_ITEMS)
      rc = -1;
    else
      c->actions[c->nactions++] = strdup(v);
  } else if (strcmp(k, "expect") == 0) {
    return parse_expect(c, v, why, wlen);
  } else if (strcmp(k, "never") == 0) {
    rc = add_item(c->never, &c->nnever, v);
  } else if (strcmp(k, "sent") == 0) {
    rc = add_item(c->sent, &c->nsent, v);
  } else if (strcmp(k, "got") == 0) {
    c->got = decode(v);
  } else if (strcmp(k, "text") == 0) {
    if (c->ntexts >= HC_MAX_ITEMS)
      rc = -1;
    else
      c->texts[c->ntexts++] = strdup(v);
  } else if (strcmp(k, "reply_code") == 0) {
    c->reply_code = atoi(v);
  } else if (strcmp(k, "only") == 0) {
    snprintf(c->only, sizeof c->only, "%s", v);
  } else {
    rc = -1;
  }
  if (rc < 0)
    snprintf(why, wlen, "bad header \"%s: %s\"", k, v);
  return rc;
}

hc_case *hc_load(const char *path, const char *root, char *why, size_t wlen) {
  char *text = read_all(path);
  if (!text) {
    snprintf(why, wlen, "cannot read %s", path);
    return NULL;
  }
  hc_case *c = calloc(1, sizeof *c);
  if (!c)
    abort();
  c->path = strdup(path);
  c->reply_code = -2;
  const char *rel = path;
  size_t rl = strlen(root);
  if (strncmp(path, root, rl) == 0 && path[rl] == '/')
    rel = path + rl + 1;
  c->name = strdup(rel);
  char *dot = strstr(c->name, ".case");
  if (dot)
    *dot = '\0';
  c->expect_code = -1;
  char *cursor = text;
  int in_script = 0, failed = 0;
  while (*cursor && !in_script && !failed) {
    char *line = cursor;
    char *nl = strchr(line, '\n');
    cursor = nl ? nl + 1 : line + strlen(line);
    if (nl)
      *nl = '\0';
    if (line[0] == '#') {
      if (!c->description[0])
        snprintf(c->description, sizeof c->description, "%s",
                 line + 1 + (line[1] == ' '));
      continue;
    }
    if (!line[0])
      continue;
    int r = parse_header(c, line, why, wlen);
    if (r < 0)
      failed = 1;
    else if (r == 1)
      in_script = 1;
  }
  if (!failed && (!in_script || !c->client[0] || c->expect_code < 0 ||
                  c->nactions == 0)) {
    snprintf(why, wlen, "a case needs client:, do:, expect: and script:");
    failed = 1;
  }
  if (!failed)
    c->script = strdup(cursor);
  free(text);
  if (failed) {
    hc_free(c);
    return NULL;
  }
  return c;
}

void hc_free(hc_case *c) {
  if (!c)
    return;
  for (size_t i = 0; i < c->nset; i++) {
    free(c->set_keys[i]);
    free(c->set_values[i].data);
  }
  for (size_t i = 0; i < c->nactions; i++)
    free(c->actions[i]);
  for (size_t i = 0; i < c->ntexts; i++)
    free(c->texts[i]);
  for (size_t i = 0; i < c->nnever; i++)
    free(c->never[i].data);
  for (size_t i = 0; i < c->nsent; i++)
    free(c->sent[i].data);
  free(c->got.data);
  free(c->script);
  free(c->path);
  free(c->name);
  free(c);
}

const hc_bytes *hc_get(const hc_case *c, const char *key) {
  for (size_t i = 0; i < c->nset; i++)
    if (strcmp(c->set_keys[i], key) == 0)
      return &c->set_values[i];
  return NULL;
}

int hc_runs_in(const hc_case *c, const char *lang) {
  return !c->only[0] || strstr(c->only, lang) != NULL;
}

static int by_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static void collect(const char *dir, char ***paths, size_t *n, size_t *cap) {
  DIR *d = opendir(dir);
  if (!d)
    return;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    if (de->d_name[0] == '.')
      continue;
    size_t plen = strlen(dir) + strlen(de->d_name) + 2;
    char *p = malloc(plen);
    if (!p)
      abort();
    snprintf(p, plen, "%s/%s", dir, de->d_name);
    struct stat st;
    size_t nl = strlen(de->d_name);
    if (stat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
      collect(p, paths, n, cap);
      free(p);
    } else if (nl > 5 && strcmp(de->d_name + nl - 5, ".case") == 0) {
      if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 256;
        *paths = realloc(*paths, *cap * sizeof **paths);
        if (!*paths)
          abort();
      }
      (*paths)[(*n)++] = p;
    } else {
      free(p);
    }
  }
  closedir(d);
}

size_t hc_list(const char *dir, char ***paths) {
  size_t n = 0, cap = 0;
  *paths = NULL;
  collect(dir, paths, &n, &cap);
  if (n)
    qsort(*paths, n, sizeof **paths, by_name);
  return n;
}
