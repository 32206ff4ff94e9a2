/*
 * address.h - the addresses a caller gives for MAIL FROM and RCPT TO.
 */
#ifndef MW_ADDRESS_H
#define MW_ADDRESS_H

#include "internal.h"

#include <stddef.h>

/* The address to put inside <...> of MAIL FROM/RCPT TO, for what the
 * caller gave: a bare address ("a@example.org", as before), or a single
 * RFC 5322 mailbox: "Name <a@example.org>", "<a@example.org>",
 * "\"Last, First\" <a@example.org>", "<\"john doe\"@example.org>".
 * On success *addr and *len point into s (the addr-spec, no copy; "" for the
 * null sender "<>" when allow_empty). Refused, before anything is sent
 * (errInvalidArgument, eexInvalidArgument, told in err with what, such as
 * "sender address"): NULL, too long, CR, LF, NUL or another control
 * character, '<' or '>' inside the address, text after the closing '>'
 * (ESMTP parameters), a second address (a ',' outside quotes), an
 * unbalanced quote or bracket. */
int mw_address_extract(mw_errorinfo *err, const char *what, const char *s,
                       int allow_empty, size_t max, const char **addr,
                       size_t *len);

/* The addr-spec of s, an address mw_address_extract accepted (the whole
 * of s if it was not). Never NULL. */
const char *mw_address_path(const char *s, size_t *len);

#endif
