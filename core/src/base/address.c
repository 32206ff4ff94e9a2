/*
 * address.c - what a caller gives as a sender or recipient, turned into
 * the address sent inside <...> of MAIL FROM and RCPT TO.
 *
 * RFC 5321 section 4.1.2 (Path, Mailbox), RFC 5322 section 3.4 (mailbox,
 * name-addr, angle-addr, display-name, quoted-string). Callers coming from
 * smtplib pass "Name <addr>"; this accepts one such mailbox and sends its
 * address. The rule that matters is the old one: nothing the caller gives
 * may end the path early, add ESMTP parameters or a second command.
 */
#include "address.h"

#include <stdint.h>
#include <string.h>

static int refuse(mw_errorinfo *err, const char *what, const char *why) {
  return mw_error_set(err, eexInvalidArgument, 0,
                      "The %s %s; nothing was sent to the server.", what, why);
}

/* Past a quoted-string starting at s[i] == '"': the index after its
 * closing quote, or 0 when it is not closed. */
static size_t skip_quoted(const char *s, size_t i) {
  for (i++; s[i]; i++) {
    if (s[i] == '\\' && s[i + 1])
      i++;
    else if (s[i] == '"')
      return i + 1;
  }
  return 0;
}

/* The display name before '<': words and quoted strings. A ',' outside
 * quotes would make it a list of addresses. */
static int check_name(mw_errorinfo *err, const char *what, const char *s,
                      size_t end) {
  for (size_t i = 0; i < end;) {
    if (s[i] == '"') {
      size_t next = skip_quoted(s, i);
      if (!next || next > end)
        return refuse(err, what, "has a quote (\") without its closing quote");
      i = next;
      continue;
    }
    if (s[i] == ',')
      return refuse(err, what,
                    "holds more than one address (a ',' outside quotes); "
                    "give each address separately");
    if (s[i] == '>')
      return refuse(err, what,
                    "contains '>' before its '<', which would end the "
                    "address early in MAIL FROM/RCPT TO");
    i++;
  }
  return MW_OK;
}

/* The addr-spec of an angle-addr: from just after '<' to its '>'. Sets
 * *end to the index of that '>'. */
static int check_angle(mw_errorinfo *err, const char *what, const char *s,
                       size_t start, size_t *end) {
  for (size_t i = start; s[i];) {
    char c = s[i];
    if (c == '"') {
      size_t next = skip_quoted(s, i);
      if (!next)
        return refuse(err, what, "has a quote (\") without its closing quote");
      for (size_t j = i; j < next; j++)
        if (s[j] == '<' || s[j] == '>')
          return refuse(err, what,
                        "contains '<' or '>' inside the address, which "
                        "would end it early in MAIL FROM/RCPT TO");
      i = next;
      continue;
    }
    if (c == '>') {
      *end = i;
      return MW_OK;
    }
    if (c == '<')
      return refuse(err, what,
                    "contains '<' inside the address, which would end it "
                    "early in MAIL FROM/RCPT TO");
    if (c == ',')
      return refuse(err, what,
                    "holds more than one address (a ',' outside quotes); "
                    "give each address separately");
    if (c == ' ' || c == '\t')
      return refuse(err, what,
                    "has a space inside <...>, as ESMTP parameters would; "
                    "only the address goes there");
    i++;
  }
  return refuse(err, what, "has a '<' without its closing '>'");
}

int mw_address_extract(mw_errorinfo *err, const char *what, const char *s,
                       int allow_empty, size_t max, const char **addr,
                       size_t *len) {
  int rc = mw_check_arg(err, what, s, allow_empty, max);
  if (rc != MW_OK)
    return rc;
  for (const unsigned char *p = (const unsigned char *)s; *p; p++)
    if (*p < 0x20 || *p == 0x7f)
      return refuse(err, what,
                    "contains a control character, which would end the "
                    "address early in MAIL FROM/RCPT TO");
  /* The first '<' outside quoted strings starts an angle-addr. */
  size_t lt = 0;
  int angle = 0;
  for (size_t i = 0; s[i] && !angle;) {
    if (s[i] == '"') {
      size_t next = skip_quoted(s, i);
      if (!next)
        break; /* unbalanced: judged below as a bare address */
      i = next;
    } else if (s[i] == '<') {
      lt = i;
      angle = 1;
    } else {
      i++;
    }
  }
  if (!angle) { /* a bare address, as given */
    const char *bad = strpbrk(s, "<>");
    if (bad)
      return refuse(err, what,
                    *bad == '<' ? "contains '<', which would end the address "
                                  "early in MAIL FROM/RCPT TO"
                                : "contains '>', which would end the address "
                                  "early in MAIL FROM/RCPT TO");
    *addr = s;
    *len = strlen(s);
    return MW_OK;
  }
  size_t gt = 0;
  if ((rc = check_name(err, what, s, lt)) != MW_OK ||
      (rc = check_angle(err, what, s, lt + 1, &gt)) != MW_OK)
    return rc;
  for (size_t i = gt + 1; s[i]; i++)
    if (s[i] != ' ' && s[i] != '\t')
      return refuse(err, what,
                    "has text after the closing '>' (ESMTP parameters or a "
                    "second address); give only the address");
  if (gt == lt + 1 && !allow_empty)
    return refuse(err, what, "is empty");
  *addr = s + lt + 1;
  *len = gt - lt - 1;
  return MW_OK;
}

const char *mw_address_path(const char *s, size_t *len) {
  mw_errorinfo scratch;
  const char *addr = s ? s : "";
  mw_error_init(&scratch);
  if (!s || mw_address_extract(&scratch, "address", s, 1, SIZE_MAX, &addr,
                               len) != MW_OK) {
    addr = s ? s : "";
    *len = strlen(addr);
  }
  mw_error_clear(&scratch);
  return addr;
}
