/* sasl.c - SASL client mechanisms (RFC 4616 PLAIN, LOGIN, RFC 2195
 * CRAM-MD5, XOAUTH2), the RFC 1939 APOP digest and base64. No I/O. */
#include "internal.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>

char *mw_base64_encode(const void *data, size_t len) {
  if (len > (SIZE_MAX / 4) * 3 - 3 || len > INT32_MAX)
    return NULL;
  size_t outlen = 4 * ((len + 2) / 3);
  char *out = malloc(outlen + 1);
  if (!out)
    return NULL;
  EVP_EncodeBlock((unsigned char *)out, data, (int)len);
  out[outlen] = '\0';
  return out;
}

static int is_b64_char(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
         (c >= '0' && c <= '9') || c == '+' || c == '/';
}

/* Strict: length a multiple of 4, only the alphabet, '=' only at the end. */
static int valid_b64(const char *s, size_t n) {
  if (n % 4 != 0)
    return 0;
  size_t pad = 0;
  while (pad < 2 && pad < n && s[n - 1 - pad] == '=')
    pad++;
  for (size_t i = 0; i < n - pad; i++)
    if (!is_b64_char((unsigned char)s[i]))
      return 0;
  return 1;
}

int mw_base64_decode(const char *b64, size_t b64len, char **out,
                     size_t *outlen) {
  *out = NULL;
  *outlen = 0;
  if (b64len > INT32_MAX || !valid_b64(b64, b64len))
    return -1;
  char *buf = malloc(b64len / 4 * 3 + 1);
  if (!buf)
    return -1;
  int n = b64len ? EVP_DecodeBlock((unsigned char *)buf,
                                   (const unsigned char *)b64, (int)b64len)
                 : 0;
  if (n < 0) {
    free(buf);
    return -1;
  }
  /* EVP_DecodeBlock counts the padding as zero bytes. */
  if (b64len >= 1 && b64[b64len - 1] == '=')
    n--;
  if (b64len >= 2 && b64[b64len - 2] == '=')
    n--;
  buf[n] = '\0';
  *out = buf;
  *outlen = (size_t)n;
  return 0;
}

/* base64 of the concatenation of parts (lengths given), wiping the
 * plaintext afterwards since it holds a secret. */
static char *encode_secret(const char *const *parts, const size_t *lens,
                           size_t nparts) {
  size_t total = 0;
  for (size_t i = 0; i < nparts; i++)
    total += lens[i];
  char *plain = malloc(total + 1);
  if (!plain)
    return NULL;
  size_t o = 0;
  for (size_t i = 0; i < nparts; i++) {
    memcpy(plain + o, parts[i], lens[i]);
    o += lens[i];
  }
  char *b64 = mw_base64_encode(plain, total);
  OPENSSL_cleanse(plain, total);
  free(plain);
  return b64;
}

char *mw_sasl_plain(const char *user, const char *pass) {
  if (!user || !pass)
    return NULL;
  /* "" supplies its terminating NUL as the separator byte. */
  const char *parts[] = {"", user, "", pass};
  size_t lens[] = {1, strlen(user), 1, strlen(pass)};
  return encode_secret(parts, lens, 4);
}

char *mw_sasl_xoauth2(const char *user, const char *token) {
  if (!user || !token)
    return NULL;
  const char *parts[] = {"user=", user, "\001auth=Bearer ", token, "\001\001"};
  size_t lens[] = {5, strlen(user), 13, strlen(token), 2};
  return encode_secret(parts, lens, 5);
}

static void to_hex(const unsigned char *in, size_t n, char *out) {
  static const char hex[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = hex[in[i] >> 4];
    out[2 * i + 1] = hex[in[i] & 15];
  }
  out[2 * n] = '\0';
}

char *mw_sasl_cram_md5(const char *user, const char *pass,
                       const char *b64_challenge, size_t chlen) {
  if (!user || !pass || !b64_challenge)
    return NULL;
  char *challenge;
  size_t clen;
  if (mw_base64_decode(b64_challenge, chlen, &challenge, &clen) != 0)
    return NULL;
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int maclen = 0;
  unsigned char *ok = HMAC(EVP_md5(), pass, (int)strlen(pass),
                           (unsigned char *)challenge, clen, mac, &maclen);
  free(challenge);
  if (!ok)
    return NULL;
  char hex[2 * EVP_MAX_MD_SIZE + 1];
  to_hex(mac, maclen, hex);
  const char *parts[] = {user, " ", hex};
  size_t lens[] = {strlen(user), 1, strlen(hex)};
  return encode_secret(parts, lens, 3);
}

int mw_apop_digest(const char *timestamp, size_t tslen, const char *pass,
                   char out[33]) {
  if (!timestamp || !pass)
    return -1;
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  int ok = ctx && EVP_DigestInit_ex(ctx, EVP_md5(), NULL) &&
           EVP_DigestUpdate(ctx, timestamp, tslen) &&
           EVP_DigestUpdate(ctx, pass, strlen(pass)) &&
           EVP_DigestFinal_ex(ctx, md, &mdlen) && mdlen == 16;
  EVP_MD_CTX_free(ctx);
  if (!ok)
    return -1;
  to_hex(md, 16, out);
  return 0;
}

/* Is mechanism `name` a word of the space-separated list `offered`? */
static int offers(const char *offered, const char *name) {
  size_t n = strlen(name);
  const char *p = offered;
  while (p && *p) {
    while (*p == ' ' || *p == '\t')
      p++;
    size_t w = strcspn(p, " \t");
    if (w == n) {
      size_t i = 0;
      while (i < n && (p[i] | 0x20) == (name[i] | 0x20))
        i++;
      if (i == n)
        return 1;
    }
    p += w;
  }
  return 0;
}

const char *mw_sasl_choose(const char *offered, const char *wanted) {
  /* Strongest first: CRAM-MD5 never sends the password itself. XOAUTH2
   * needs a token rather than a password, so only when asked for. */
  static const char *const known[] = {"CRAM-MD5", "PLAIN", "LOGIN", "XOAUTH2"};
  if (!offered)
    return NULL;
  if (wanted) {
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
      if (mw_strcaseeq(wanted, known[i]) && offers(offered, known[i]))
        return known[i];
    return NULL;
  }
  for (size_t i = 0; i < 3; i++)
    if (offers(offered, known[i]))
      return known[i];
  return NULL;
}
