/* test_address.c - what callers give as senders and recipients
 * (address.c): bare addresses and single RFC 5322 mailboxes give the
 * address sent inside <...>; anything that could end the path early, add
 * ESMTP parameters or a second address is refused. The wire side (what
 * MAIL FROM/RCPT TO carry, for send and send_batch) is in the shared API
 * cases (tests/api-cases/address), run from Python and Lua. */
#include "address.h"
#include "testlib.h"

#include <stdio.h>
#include <string.h>

/* Accepted: the address is want. */
static void accepts(const char *given, int allow_empty, const char *want) {
  mw_errorinfo e;
  mw_error_init(&e);
  const char *addr = NULL;
  size_t len = 0;
  int rc = mw_address_extract(&e, "recipient address", given, allow_empty, 256,
                              &addr, &len);
  if (rc != MW_OK) {
    tl_fail(__FILE__, __LINE__, "\"%s\" refused: %s", given, e.text);
  } else if (len != strlen(want) || memcmp(addr, want, len) != 0) {
    tl_fail(__FILE__, __LINE__, "\"%s\" gave \"%.*s\", expected \"%s\"", given,
            (int)len, addr, want);
  }
  size_t n = 0;
  const char *path = mw_address_path(given, &n);
  CHECK(n == strlen(want) && memcmp(path, want, n) == 0);
  mw_error_clear(&e);
}

/* Refused with errInvalidArgument/eexInvalidArgument; the text says why
 * (holds because) and names the argument. */
static void refuses(const char *given, int allow_empty, const char *because) {
  mw_errorinfo e;
  mw_error_init(&e);
  const char *addr = NULL;
  size_t len = 0;
  int rc = mw_address_extract(&e, "recipient address", given, allow_empty, 256,
                              &addr, &len);
  if (rc != errInvalidArgument || e.number != eexInvalidArgument)
    tl_fail(__FILE__, __LINE__, "\"%s\": rc %d number %d, expected a refusal",
            given ? given : "(null)", rc, e.number);
  else if (!strstr(e.text, because) || !strstr(e.text, "recipient address"))
    tl_fail(__FILE__, __LINE__, "\"%s\": text \"%s\" does not say \"%s\"",
            given ? given : "(null)", e.text, because);
  mw_error_clear(&e);
}

static void mailboxes(void) {
  accepts("a@example.org", 0, "a@example.org");
  accepts("Alice <a@example.org>", 0, "a@example.org");
  accepts("<a@example.org>", 0, "a@example.org");
  accepts("  <a@example.org>  ", 0, "a@example.org");
  accepts("\"Last, First\" <a@example.org>", 0, "a@example.org");
  accepts("\"A \\\"quoted\\\" name\" <a@example.org>", 0, "a@example.org");
  accepts("J. R. Smith <j@example.org>", 0, "j@example.org");
  accepts("<\"john doe\"@example.org>", 0, "\"john doe\"@example.org");
  accepts("\"john doe\"@example.org", 0, "\"john doe\"@example.org");
  accepts("Zoë Ünicode <z@example.org>", 0, "z@example.org");
  accepts("<>", 1, ""); /* the null sender */
  accepts("", 1, "");
}

static void injections(void) {
  refuses(NULL, 0, "missing");
  refuses("", 0, "empty");
  refuses("<>", 0, "empty");
  refuses("a@example.org\r\nRSET", 0, "line break");
  refuses("Name <a@example.org>\nRSET", 0, "line break");
  refuses("a\x01@example.org", 0, "control character");
  refuses("a@example.org> SIZE=1", 0, "contains '>'");
  refuses("<a@example.org> SIZE=1", 0, "text after the closing '>'");
  refuses("<evil@test>a@test", 0, "text after the closing '>'");
  refuses("Name <a@example.org>, Other <b@example.org>", 0,
          "text after the closing '>'");
  refuses("Smith, John <j@example.org>", 0, "more than one address");
  refuses("<a@example.org, b@example.org>", 0, "more than one address");
  refuses("Name <a<b@example.org>", 0, "'<' inside the address");
  refuses("Name <<a@example.org>>", 0, "'<' inside the address");
  refuses("<\"a>b\"@example.org>", 0, "inside the address");
  refuses("<a@example.org SIZE=1>", 0, "space inside <...>");
  refuses("Name <a@example.org", 0, "without its closing '>'");
  refuses("\"Unclosed <a@example.org>", 0, "contains '<'");
  refuses("<\"unclosed@example.org>", 0, "without its closing quote");
  refuses("Name> <a@example.org>", 0, "'>' before its '<'");
  refuses("a<b@example.org", 0, "without its closing '>'");
}

int main(void) {
  RUN(mailboxes);
  RUN(injections);
  return tl_finish();
}
