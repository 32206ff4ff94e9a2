/* idn.c - host names as DNS and TLS need them: an internationalised name
 * given in Unicode (UTF-8) becomes its A-label form (xn--...), with
 * libidn2 (UTS #46 non-transitional processing, as browsers and curl). */
#include "internal.h"

#include <idn2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int is_ascii(const char *s) {
  for (; *s; s++)
    if ((unsigned char)*s >= 0x80)
      return 0;
  return 1;
}

/* The name for an error text: as given when it is UTF-8, else with its
 * bytes above 0x7f written as \xNN (the text must stay valid UTF-8). */
static void printable(const char *name, int escape, char *buf, size_t len) {
  size_t n = 0;
  buf[0] = '\0';
  for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
    int w = escape && *p >= 0x80 ? snprintf(buf + n, len - n, "\\x%02X", *p)
                                 : snprintf(buf + n, len - n, "%c", *p);
    if (w < 0 || (size_t)w >= len - n) {
      buf[n] = '\0';
      return;
    }
    n += (size_t)w;
  }
}

int mw_idn_to_ascii(const char *name, const char *what, char **out,
                    mw_errorinfo *err) {
  *out = NULL;
  if (!name || is_ascii(name))
    return MW_OK;
  char *ace = NULL;
  int rc = idn2_to_ascii_8z(name, &ace, IDN2_NONTRANSITIONAL);
  if (rc == IDN2_OK) {
    *out = mw_strdup(ace);
    idn2_free(ace);
    return *out ? MW_OK : mw_error_set(err, eexNoMemory, 0, NULL);
  }
  idn2_free(ace);
  if (rc == IDN2_MALLOC)
    return mw_error_set(err, eexNoMemory, 0, NULL);
  char shown[256];
  printable(name, rc == IDN2_ENCODING_ERROR, shown, sizeof shown);
  return mw_error_set(
      err, eexInvalidArgument, 0,
      "The %s '%s' is not a valid internationalised domain name and cannot "
      "be converted to its ASCII form (A-label, xn--...) for DNS, SNI and "
      "the certificate check: %s%s. Check the name's spelling, or give "
      "its A-label form.",
      what, shown, idn2_strerror(rc),
      rc == IDN2_ENCODING_ERROR ? " (the name must be UTF-8)" : "");
}
