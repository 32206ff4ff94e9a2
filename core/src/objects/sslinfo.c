/* sslinfo.c - SSLInfo: Mode, the Option indexer, the count of clients
 * connected with it, and its copy of the most recent handshake's outputs
 * (tls_outputs.c). Shared by clients on any threads: see "Threads" in
 * mailwire.h. */
#include "internal.h"
#include "revocation.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- what each thread keeps of its calls on SSLInfos ----
 * Other threads may call the same SSLInfo at any moment, so what a call
 * hands back to its caller lives in storage of the calling thread, which
 * no other thread writes or frees:
 * - string outputs: a copy per output index, replaced when this thread
 *   reads that index again (from any SSLInfo), freed when the thread ends;
 * - the ErrorInfo of this thread's last call on an SSLInfo.
 * The key is made once per process; this is the library's only global. */
#define MW_OUT_SLOTS 64

typedef struct mw_thread_block {
  char *slots[MW_OUT_SLOTS];
  mw_errorinfo err;
} mw_thread_block;

static pthread_key_t block_key;
static pthread_once_t block_once = PTHREAD_ONCE_INIT;
static int block_key_ok;

static void free_block(void *p) {
  mw_thread_block *tb = p;
  for (int i = 0; i < MW_OUT_SLOTS; i++)
    free(tb->slots[i]);
  mw_error_clear(&tb->err);
  free(tb);
}

static void make_block_key(void) {
  block_key_ok = pthread_key_create(&block_key, free_block) == 0;
}

/* This thread's block, made on first use; NULL when out of memory. */
static mw_thread_block *thread_block(void) {
  pthread_once(&block_once, make_block_key);
  if (!block_key_ok)
    return NULL;
  mw_thread_block *tb = pthread_getspecific(block_key);
  if (tb)
    return tb;
  tb = calloc(1, sizeof *tb);
  if (!tb || pthread_setspecific(block_key, tb) != 0) {
    free(tb);
    return NULL;
  }
  mw_error_init(&tb->err);
  return tb;
}

/* End of a public call, lock held: the call's ErrorInfo becomes this
 * thread's, then the lock goes. */
int mw_sslinfo_return(mw_sslinfo *ssl, int rc) {
  mw_thread_block *tb = thread_block();
  if (tb)
    mw_error_copy(&tb->err, &ssl->err);
  mw_sslinfo_unlock(ssl);
  return rc;
}

/* The record of this thread's last SSLInfo call. It is not chosen by ssl:
 * the pointer must be the same whenever it is taken, as C leaves open
 * whether `f(call(ssl), mw_sslinfo_extended_error(ssl))` makes the call
 * first. */
const mw_errorinfo *mw_sslinfo_extended_error(const mw_sslinfo *ssl) {
  if (!ssl)
    return NULL;
  mw_thread_block *tb = thread_block();
  return tb ? &tb->err : &ssl->err; /* out of memory: the shared record */
}

/* The lock is recursive because the setters hold it while calling helpers
 * (mw_session_cache_forget) that also take it on their own. */
static int init_lock(pthread_mutex_t *m) {
  pthread_mutexattr_t a;
  if (pthread_mutexattr_init(&a) != 0)
    return -1;
  int rc = pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
  if (rc == 0)
    rc = pthread_mutex_init(m, &a);
  pthread_mutexattr_destroy(&a);
  return rc == 0 ? 0 : -1;
}

mw_sslinfo *mw_sslinfo_new(void) {
  mw_sslinfo *ssl = calloc(1, sizeof *ssl);
  if (!ssl)
    return NULL;
  ssl->rev = mw_revocation_new();
  if (!ssl->rev || init_lock(&ssl->lock) != 0) {
    mw_revocation_free(ssl->rev);
    free(ssl);
    return NULL;
  }
  mw_hdr_init(&ssl->hdr, MW_MAGIC_SSLINFO);
  ssl->mode = MODE_CHANNEL;
  mw_error_init(&ssl->err);
  return ssl;
}

void mw_sslinfo_ref(mw_sslinfo *ssl) {
  if (ssl)
    mw_hdr_ref(&ssl->hdr);
}

void mw_sslinfo_lock(mw_sslinfo *ssl) {
  pthread_mutex_lock(&ssl->lock);
}

void mw_sslinfo_unlock(mw_sslinfo *ssl) {
  pthread_mutex_unlock(&ssl->lock);
}

/* ---- clients using it: the live count ---- */

int mw_sslinfo_is_live(mw_sslinfo *ssl) {
  return ssl->live > 0 && ssl->live_pid == getpid();
}

void mw_sslinfo_hold(mw_sslinfo *ssl) {
  pid_t me = getpid();
  mw_sslinfo_lock(ssl);
  if (ssl->live_pid != me) { /* first use in this process: the count the
                                parent had is not ours */
    ssl->live = 0;
    ssl->live_pid = me;
  }
  if (ssl->live == 0) /* the single-client view starts empty, as before */
    mw_tls_outputs_clear(&ssl->last);
  ssl->live++;
  mw_sslinfo_unlock(ssl);
}

void mw_sslinfo_release(mw_sslinfo *ssl, pid_t holder) {
  if (holder != getpid())
    return; /* held by the parent before fork(): its count, not ours */
  mw_sslinfo_lock(ssl);
  if (ssl->live_pid == holder && ssl->live > 0)
    ssl->live--;
  mw_sslinfo_unlock(ssl);
}

/* A failed copy (no memory) leaves the view empty: reads then say "no
 * connection yet" rather than show an older handshake as the newest. */
void mw_sslinfo_publish(mw_sslinfo *ssl, const mw_tls_outputs *o) {
  mw_sslinfo_lock(ssl);
  (void)mw_tls_outputs_copy(&ssl->last, o);
  mw_sslinfo_unlock(ssl);
}

void mw_sslinfo_free(mw_sslinfo *ssl) {
  if (!ssl || !mw_hdr_unref(&ssl->hdr))
    return;
  mw_tls_outputs_clear(&ssl->last);
  free(ssl->ca_file);
  free(ssl->ca_path);
  free(ssl->server_name);
  mw_clientcert_clear(ssl);
  mw_session_cache_forget(ssl);
  free(ssl->pinned_key);
  mw_revocation_free(ssl->rev);
  mw_error_clear(&ssl->err);
  pthread_mutex_destroy(&ssl->lock);
  ssl->hdr.magic = 0;
  free(ssl);
}

int mw_sslinfo_option_type(int index) {
  switch (index) {
  case SSLNoServerNameCheck:
  case SSLNoServerCertificateValidation:
  case SSLRevocationCheckAll:
  case SSLRevocationCheckEnd:
  case SSLRevocationExcludeRoot:
  case SSLRevocationIgnoreNRC:
  case SSLRevocationIgnoreRO:
  case SSLConfidentiality:
  case SSLSessionResumed:
    return 'b';
  case SSLMinCipherStrength:
  case SSLMaxCipherStrength:
  case SSLConnectionProtocolOut:
  case SSLConnectionCipherOut:
  case SSLCipherStrength:
  case SSLHash:
  case SSLHashStrength:
  case SSLExchange:
  case SSLExchangeStrength:
    return 'i';
  case SSLConnectionProtocolIn:
  case SSLConnectionCipherIn:
    return 'a';
  case SSLClientCertificateName:
  case SSLConnectionProtocolName:
  case SSLConnectionCipherName:
  case SSLExchangeGroupName:
  case SSLPeerSubject:
  case SSLPeerIssuer:
  case SSLCAFile:
  case SSLCAPath:
  case SSLServerName:
  case SSLClientCertificatePassword:
  case SSLClientCertificateDir:
  case SSLPinnedPublicKey:
  case SSLPeerSerial:
  case SSLPeerNotBefore:
  case SSLPeerNotAfter:
  case SSLPeerSANs:
  case SSLPeerFingerprintSHA256:
  case SSLPeerCertificatePEM:
  case SSLPeerChainPEM:
    return 's';
  default:
    return mw_revocation_option_type(index);
  }
}

static int is_output(int index) {
  return mw_tls_outputs_is_output(index) || mw_revocation_is_output(index);
}

/* Inputs the reference names that a later release implements. */
static int is_not_implemented(int index) {
  if (mw_policy_owns(index) || mw_clientcert_owns(index))
    return 0;
  return index >= SSLMinCipherStrength && index <= SSLClientCertificateName;
}

/* The checks every setter shares; MW_OK when index may be set as type. */
static int check_settable(mw_sslinfo *ssl, int index, int type) {
  mw_error_clear(&ssl->err);
  int actual = mw_sslinfo_option_type(index);
  if (!actual)
    return mw_error_set(&ssl->err, eexInvalidArgument, 0,
                        "%d is not an SSLInfo option index.", index);
  if (is_output(index))
    return mw_error_set(&ssl->err, eexInvalidArgument, 0,
                        "Option %d is an output attribute of the "
                        "connection and cannot be set.",
                        index);
  if (is_not_implemented(index))
    return mw_error_set(&ssl->err, eexNotImplemented, 0,
                        "Option %d (revocation, cipher, protocol and client "
                        "certificate control) is not implemented in this "
                        "version of mailwire; nothing was changed.",
                        index);
  if (mw_sslinfo_is_live(ssl))
    return mw_error_set(&ssl->err, eexSSLConnected, 0,
                        "The SSLInfo is in use by a live connection; "
                        "disconnect every client using it before changing "
                        "its options.");
  if (actual != type && !(actual == 'b' && type == 'i'))
    return mw_error_set(&ssl->err, eexInvalidArgument, 0,
                        "Option %d takes a %s value.", index,
                        actual == 's' ? "string" : "boolean or number");
  mw_session_cache_forget(ssl); /* never resume under other settings */
  return MW_OK;
}

static int set_mode(mw_sslinfo *ssl, int mode) {
  mw_error_clear(&ssl->err);
  if (mode != MODE_CHANNEL && mode != MODE_STARTTLS)
    return mw_error_set(&ssl->err, eexInvalidArgument, 0,
                        "Mode must be MODE_CHANNEL (0) or MODE_STARTTLS "
                        "(1), not %d.",
                        mode);
  if (mw_sslinfo_is_live(ssl))
    return mw_error_set(&ssl->err, eexSSLConnected, 0,
                        "The SSLInfo is in use by a live connection; "
                        "disconnect every client using it before changing "
                        "its mode.");
  ssl->mode = mode;
  mw_session_cache_forget(ssl);
  return MW_OK;
}

/* Every public call on the SSLInfo runs under its lock: several threads
 * may call it while clients on others connect with it. */
int mw_sslinfo_set_mode(mw_sslinfo *ssl, int mode) {
  if (!ssl)
    return errInvalidArgument;
  mw_sslinfo_lock(ssl);
  return mw_sslinfo_return(ssl, set_mode(ssl, mode));
}

int mw_sslinfo_mode(const mw_sslinfo *ssl) {
  if (!ssl)
    return MODE_CHANNEL;
  mw_sslinfo *w = (mw_sslinfo *)ssl; /* the lock is not part of the value */
  mw_sslinfo_lock(w);
  int mode = ssl->mode;
  mw_sslinfo_unlock(w);
  return mode;
}

static int set_int(mw_sslinfo *ssl, int index, long value) {
  int rc = check_settable(ssl, index, 'i');
  if (rc != MW_OK)
    return rc;
  if (mw_policy_owns(index))
    return mw_policy_set_int(ssl, index, value);
  if (mw_revocation_owns(index))
    return mw_revocation_set_int(ssl->rev, index, value, &ssl->err);
  if (index == SSLNoServerNameCheck)
    ssl->no_name_check = value != 0;
  else if (index == SSLNoServerCertificateValidation)
    ssl->no_verify = value != 0;
  return MW_OK;
}

static char **string_slot(mw_sslinfo *ssl, int index) {
  switch (index) {
  case SSLCAFile:
    return &ssl->ca_file;
  case SSLCAPath:
    return &ssl->ca_path;
  case SSLServerName:
    return &ssl->server_name;
  default:
    return NULL;
  }
}

int mw_sslinfo_set_option_int(mw_sslinfo *ssl, int index, long value) {
  if (!ssl)
    return errInvalidArgument;
  mw_sslinfo_lock(ssl);
  return mw_sslinfo_return(ssl, set_int(ssl, index, value));
}

static int set_str(mw_sslinfo *ssl, int index, const char *value) {
  int rc = check_settable(ssl, index, 's');
  if (rc != MW_OK)
    return rc;
  if (value && *value) {
    rc = mw_check_arg(&ssl->err, "option value", value, 0, 4096);
    if (rc != MW_OK)
      return rc;
  }
  if (mw_clientcert_owns(index))
    return mw_clientcert_set_str(ssl, index, value);
  if (index == SSLPinnedPublicKey)
    return mw_pin_set(ssl, value);
  if (mw_revocation_owns(index))
    return mw_revocation_set_str(ssl->rev, index, value, &ssl->err);
  char **slot = string_slot(ssl, index);
  char *copy = value && *value ? mw_strdup(value) : NULL;
  if (value && *value && !copy)
    return mw_error_set(&ssl->err, eexNoMemory, 0, NULL);
  free(*slot);
  *slot = copy; /* "" or NULL restores the default */
  return MW_OK;
}

int mw_sslinfo_set_option_str(mw_sslinfo *ssl, int index, const char *value) {
  if (!ssl)
    return errInvalidArgument;
  mw_sslinfo_lock(ssl);
  return mw_sslinfo_return(ssl, set_str(ssl, index, value));
}

int mw_sslinfo_set_option_array(mw_sslinfo *ssl, int index, const long *values,
                                size_t n) {
  if (!ssl)
    return errInvalidArgument;
  mw_sslinfo_lock(ssl);
  int rc = check_settable(ssl, index, 'a');
  if (rc == MW_OK)
    rc = mw_policy_set_array(ssl, index, values, n);
  return mw_sslinfo_return(ssl, rc);
}

static int check_gettable(mw_sslinfo *ssl, int index, int type) {
  mw_error_clear(&ssl->err);
  int actual = mw_sslinfo_option_type(index);
  if (!actual)
    return mw_error_set(&ssl->err, eexInvalidArgument, 0,
                        "%d is not an SSLInfo option index.", index);
  if (is_not_implemented(index))
    return mw_error_set(&ssl->err, eexNotImplemented, 0,
                        "Option %d is not implemented in this version of "
                        "mailwire.",
                        index);
  if (actual != type && !(actual == 'b' && type == 'i'))
    return mw_error_set(&ssl->err, eexInvalidArgument, 0, "Option %d is %s.",
                        index,
                        actual == 's'   ? "a string value"
                        : actual == 'a' ? "an array of values (read it "
                                          "with the array getter)"
                                        : "a boolean or number value");
  return MW_OK;
}

static int get_int(mw_sslinfo *ssl, int index, long *value) {
  int rc = check_gettable(ssl, index, 'i');
  if (rc != MW_OK)
    return rc;
  if (mw_tls_outputs_is_output(index))
    return mw_tls_outputs_int(&ssl->last, index, value, &ssl->err);
  if (mw_policy_owns(index))
    return mw_policy_get_int(ssl, index, value);
  if (index == SSLNoServerNameCheck)
    *value = ssl->no_name_check;
  else if (index == SSLNoServerCertificateValidation)
    *value = ssl->no_verify;
  else if (mw_revocation_owns(index))
    *value = mw_revocation_get_int(ssl->rev, index);
  return MW_OK;
}

int mw_sslinfo_get_option_int(mw_sslinfo *ssl, int index, long *value) {
  if (value)
    *value = 0; /* defined on failure too: bindings read it */
  if (!ssl || !value)
    return errInvalidArgument;
  mw_sslinfo_lock(ssl);
  return mw_sslinfo_return(ssl, get_int(ssl, index, value));
}

static int get_output_str(mw_sslinfo *ssl, int index, const char **value) {
  const char *shared = NULL;
  int rc = mw_tls_outputs_str(&ssl->last, index, &shared, &ssl->err);
  if (rc != MW_OK)
    return rc;
  mw_thread_block *tb = thread_block();
  char **slot =
      tb && index >= 0 && index < MW_OUT_SLOTS ? &tb->slots[index] : NULL;
  char *copy = mw_strdup(shared);
  if (!slot || !copy) {
    free(copy);
    return mw_error_set(&ssl->err, eexNoMemory, 0, NULL);
  }
  free(*slot);
  *slot = copy;
  *value = copy;
  return MW_OK;
}

static int get_str(mw_sslinfo *ssl, int index, const char **value) {
  int rc = check_gettable(ssl, index, 's');
  if (rc != MW_OK)
    return rc;
  if (mw_tls_outputs_is_output(index))
    return get_output_str(ssl, index, value);
  if (mw_clientcert_owns(index)) {
    *value = mw_clientcert_get_str(ssl, index);
  } else if (index == SSLPinnedPublicKey) {
    *value = ssl->pinned_key ? ssl->pinned_key : "";
  } else if (mw_revocation_owns(index)) {
    *value = mw_revocation_get_str(ssl->rev, index);
  } else {
    char **slot = string_slot(ssl, index);
    *value = slot && *slot ? *slot : "";
  }
  return MW_OK;
}

int mw_sslinfo_get_option_str(mw_sslinfo *ssl, int index, const char **value) {
  if (value)
    *value = NULL;
  if (!ssl || !value)
    return errInvalidArgument;
  mw_sslinfo_lock(ssl);
  return mw_sslinfo_return(ssl, get_str(ssl, index, value));
}

int mw_sslinfo_get_option_array(mw_sslinfo *ssl, int index, long *values,
                                size_t cap, size_t *n) {
  if (n)
    *n = 0;
  if (!ssl || !n || (cap && !values))
    return errInvalidArgument;
  mw_sslinfo_lock(ssl);
  int rc = check_gettable(ssl, index, 'a');
  if (rc == MW_OK)
    *n = mw_policy_get_array(ssl, index, values, cap);
  return mw_sslinfo_return(ssl, rc);
}
