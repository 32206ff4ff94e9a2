/* tls_clientcert.c - client certificates for SSLInfo:
 * SSLClientCertificateName (a PEM file with certificate and key, a PKCS#12
 * file, or a name looked up in SSLClientCertificateDir),
 * SSLClientCertificatePassword and SSLClientCertificateDir. The files are
 * loaded when the options are set, so a missing file, a wrong password or
 * a key that does not belong to the certificate is an error then
 * (errInvalidArgument, eexSSLConfig), not a handshake failure later. */
#include "tls.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MW_MAX_CERT_FILE (1024 * 1024)

typedef struct loaded {
  X509 *cert;
  EVP_PKEY *key;
  STACK_OF(X509) * chain; /* may be NULL */
} loaded;

static void loaded_free(loaded *l) {
  X509_free(l->cert);
  EVP_PKEY_free(l->key);
  sk_X509_pop_free(l->chain, X509_free);
  memset(l, 0, sizeof *l);
}

int mw_clientcert_owns(int index) {
  return index == SSLClientCertificateName ||
         index == SSLClientCertificatePassword ||
         index == SSLClientCertificateDir;
}

void mw_clientcert_clear(mw_sslinfo *ssl) {
  loaded l = {ssl->cc_cert, ssl->cc_key, ssl->cc_chain};
  loaded_free(&l);
  ssl->cc_cert = NULL;
  ssl->cc_key = NULL;
  ssl->cc_chain = NULL;
  free(ssl->cc_name);
  free(ssl->cc_dir);
  mw_free_secret(ssl->cc_password);
  ssl->cc_name = ssl->cc_dir = ssl->cc_password = NULL;
}

/* ---- finding and reading the file ---- */

static int readable(const char *path) {
  return access(path, R_OK) == 0;
}

/* A name with a '/' is a path; a bare name is looked up in dir as NAME,
 * NAME.pem, NAME.p12, NAME.pfx; without dir it is a path too. */
static int resolve(const char *name, const char *dir, char *path, size_t cap,
                   mw_errorinfo *err) {
  if (strchr(name, '/') || !dir) {
    snprintf(path, cap, "%s", name);
    if (readable(path))
      return MW_OK;
    return mw_error_set(err, eexSSLConfig, 0,
                        "The client certificate file '%s' does not exist or "
                        "cannot be read. Check SSLClientCertificateName (a "
                        "PEM or PKCS#12 file, or a name in "
                        "SSLClientCertificateDir).",
                        name);
  }
  static const char *const ext[] = {"", ".pem", ".p12", ".pfx"};
  for (size_t i = 0; i < 4; i++) {
    snprintf(path, cap, "%s/%s%s", dir, name, ext[i]);
    if (readable(path))
      return MW_OK;
  }
  return mw_error_set(err, eexSSLConfig, 0,
                      "No client certificate named '%s' in '%s' (looked for "
                      "%s, %s.pem, %s.p12 and %s.pfx there). Check "
                      "SSLClientCertificateName and SSLClientCertificateDir.",
                      name, dir, name, name, name, name);
}

static int read_file(const char *path, mw_buf *out, mw_errorinfo *err) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return mw_error_set(err, eexSSLConfig, 0,
                        "The client certificate file '%s' cannot be opened.",
                        path);
  char chunk[4096];
  size_t n;
  int rc = MW_OK;
  while (rc == MW_OK && (n = fread(chunk, 1, sizeof chunk, f)) > 0) {
    if (out->len + n > MW_MAX_CERT_FILE)
      rc = mw_error_set(err, eexSSLConfig, 0,
                        "The client certificate file '%s' is larger than "
                        "1 MiB; it is not a certificate.",
                        path);
    else if (mw_buf_append(out, chunk, n) != 0)
      rc = mw_error_set(err, eexNoMemory, 0, NULL);
  }
  fclose(f);
  return rc;
}

/* ---- PEM: certificate, optional chain, key (maybe encrypted) ---- */

typedef struct pass_ctx {
  const char *pass;
  int asked; /* the key is encrypted */
} pass_ctx;

/* Never prompt on a terminal: the password comes from the option only. */
static int pem_password(char *buf, int size, int rwflag, void *u) {
  (void)rwflag;
  pass_ctx *p = u;
  p->asked = 1;
  if (!p->pass)
    return -1;
  int n = (int)strlen(p->pass);
  if (n > size)
    return -1;
  memcpy(buf, p->pass, (size_t)n);
  return n;
}

static int load_pem(const mw_buf *data, const char *path, const char *pass,
                    loaded *l, mw_errorinfo *err) {
  BIO *b = BIO_new_mem_buf(data->data, (int)data->len);
  X509 *x;
  while (b && (x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
    if (!l->cert)
      l->cert = x;
    else if ((l->chain || (l->chain = sk_X509_new_null())) &&
             sk_X509_push(l->chain, x))
      ;
    else
      X509_free(x);
  }
  BIO_free(b);
  ERR_clear_error();
  if (!l->cert)
    return mw_error_set(err, eexSSLConfig, 0,
                        "The client certificate file '%s' holds no "
                        "certificate.",
                        path);
  pass_ctx pc = {pass, 0};
  b = BIO_new_mem_buf(data->data, (int)data->len);
  l->key = b ? PEM_read_bio_PrivateKey(b, NULL, pem_password, &pc) : NULL;
  BIO_free(b);
  char why[256];
  unsigned long code = l->key ? 0 : mw_tls_take_error(why, sizeof why);
  if (l->key)
    return MW_OK;
  if (pc.asked && !pass)
    return mw_error_set(err, mw_tls_number(code, eexSSLConfig), (long)code,
                        "The private key in '%s' is encrypted; set "
                        "SSLClientCertificatePassword before "
                        "SSLClientCertificateName.",
                        path);
  if (pc.asked)
    return mw_error_set(err, mw_tls_number(code, eexSSLConfig), (long)code,
                        "The private key in '%s' cannot be decrypted: the "
                        "SSLClientCertificatePassword is wrong.",
                        path);
  return mw_error_set(err, mw_tls_number(code, eexSSLConfig), (long)code,
                      "The client certificate file '%s' holds no private key "
                      "(%s); put the certificate and its key in one PEM "
                      "file, or use a PKCS#12 file.",
                      path, why);
}

/* ---- PKCS#12 ---- */

static int load_p12(const mw_buf *data, const char *path, const char *pass,
                    loaded *l, mw_errorinfo *err) {
  BIO *b = BIO_new_mem_buf(data->data, (int)data->len);
  PKCS12 *p12 = b ? d2i_PKCS12_bio(b, NULL) : NULL;
  BIO_free(b);
  char why[256];
  if (!p12) {
    unsigned long code = mw_tls_take_error(why, sizeof why);
    return mw_error_set(err, mw_tls_number(code, eexSSLConfig), (long)code,
                        "The client certificate file '%s' is neither PEM nor "
                        "PKCS#12 (%s).",
                        path, why);
  }
  int rc = MW_OK;
  if (PKCS12_mac_present(p12) &&
      !PKCS12_verify_mac(p12, pass ? pass : "", -1) &&
      !(!pass && PKCS12_verify_mac(p12, NULL, 0))) {
    unsigned long code = mw_tls_take_error(why, sizeof why);
    rc = mw_error_set(err, mw_tls_number(code, eexSSLConfig), (long)code,
                      pass ? "The SSLClientCertificatePassword is wrong for "
                             "the PKCS#12 file '%s'."
                           : "The PKCS#12 file '%s' is protected by a "
                             "password; set SSLClientCertificatePassword "
                             "before SSLClientCertificateName.",
                      path);
  } else if (!PKCS12_parse(p12, pass ? pass : "", &l->key, &l->cert,
                           &l->chain)) {
    unsigned long code = mw_tls_take_error(why, sizeof why);
    rc = mw_error_set(err, mw_tls_number(code, eexSSLConfig), (long)code,
                      "The PKCS#12 file '%s' cannot be read (%s).", path, why);
  } else if (!l->cert || !l->key) {
    rc = mw_error_set(err, eexSSLConfig, 0,
                      "The PKCS#12 file '%s' must hold a certificate and its "
                      "private key.",
                      path);
  }
  PKCS12_free(p12);
  return rc;
}

static int load(const char *name, const char *dir, const char *pass, loaded *l,
                mw_errorinfo *err) {
  char path[4096 + 256];
  int rc = resolve(name, dir, path, sizeof path, err);
  if (rc != MW_OK)
    return rc;
  mw_buf data;
  mw_buf_init(&data);
  rc = read_file(path, &data, err);
  if (rc == MW_OK)
    rc = data.len && strstr(data.data, "-----BEGIN") /* DER has NULs early */
             ? load_pem(&data, path, pass, l, err)
             : load_p12(&data, path, pass, l, err);
  if (data.data)
    memset(data.data, 0, data.len); /* may hold an unencrypted key */
  mw_buf_free(&data);
  if (rc == MW_OK && X509_check_private_key(l->cert, l->key) != 1) {
    char why[256];
    unsigned long code = mw_tls_take_error(why, sizeof why);
    rc = mw_error_set(err, mw_tls_number(code, eexSSLConfig), (long)code,
                      "The private key in '%s' does not belong to its "
                      "certificate; the server would refuse the handshake. "
                      "Check that the file holds the matching pair.",
                      path);
  }
  if (rc != MW_OK)
    loaded_free(l);
  ERR_clear_error();
  return rc;
}

/* ---- the options ---- */

static int replace_str(char **slot, const char *value, int secret) {
  char *copy = value && *value ? mw_strdup(value) : NULL;
  if (value && *value && !copy)
    return -1;
  if (secret)
    mw_free_secret(*slot);
  else
    free(*slot);
  *slot = copy;
  return 0;
}

int mw_clientcert_set_str(mw_sslinfo *ssl, int index, const char *value) {
  const char *v = value && *value ? value : NULL;
  const char *name = index == SSLClientCertificateName ? v : ssl->cc_name;
  const char *dir = index == SSLClientCertificateDir ? v : ssl->cc_dir;
  const char *pass =
      index == SSLClientCertificatePassword ? v : ssl->cc_password;
  loaded l = {0};
  if (name) { /* load now with the new combination; on failure keep all */
    int rc = load(name, dir, pass, &l, &ssl->err);
    if (rc != MW_OK)
      return rc;
  }
  char **slot = index == SSLClientCertificateName  ? &ssl->cc_name
                : index == SSLClientCertificateDir ? &ssl->cc_dir
                                                   : &ssl->cc_password;
  if (replace_str(slot, v, index == SSLClientCertificatePassword) != 0) {
    loaded_free(&l);
    return mw_error_set(&ssl->err, eexNoMemory, 0, NULL);
  }
  loaded old = {ssl->cc_cert, ssl->cc_key, ssl->cc_chain};
  loaded_free(&old);
  ssl->cc_cert = l.cert;
  ssl->cc_key = l.key;
  ssl->cc_chain = l.chain;
  return MW_OK;
}

const char *mw_clientcert_get_str(const mw_sslinfo *ssl, int index) {
  switch (index) {
  case SSLClientCertificateName:
    return ssl->cc_name ? ssl->cc_name : "";
  case SSLClientCertificateDir:
    return ssl->cc_dir ? ssl->cc_dir : "";
  default: /* the password is never given back */
    return ssl->cc_password ? "********" : "";
  }
}

int mw_clientcert_apply(SSL_CTX *ctx, const mw_sslinfo *ssl,
                        mw_errorinfo *err) {
  if (!ssl->cc_cert)
    return MW_OK;
  int ok = SSL_CTX_use_certificate(ctx, ssl->cc_cert) == 1 &&
           SSL_CTX_use_PrivateKey(ctx, ssl->cc_key) == 1;
  for (int i = 0; ok && ssl->cc_chain && i < sk_X509_num(ssl->cc_chain); i++)
    ok = SSL_CTX_add1_chain_cert(ctx, sk_X509_value(ssl->cc_chain, i)) == 1;
  if (ok && SSL_CTX_check_private_key(ctx) == 1)
    return MW_OK;
  char why[256];
  unsigned long code = mw_tls_take_error(why, sizeof why);
  return mw_error_set(err, mw_tls_number(code, eexSSLConfig), (long)code,
                      "The client certificate '%s' cannot be used: %s. "
                      "Check SSLClientCertificateName.",
                      ssl->cc_name, why);
}
