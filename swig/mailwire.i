/*
 * mailwire.i - the language-neutral SWIG interface of mailwire.
 *
 * It says WHICH parameters of mailwire.h get which conversion; each language
 * says HOW, in swig/<lang>/. A language entry file (swig/python/mailwire.i,
 * swig/lua/...) must, before it includes this file:
 *   - declare its own %module if it wants another name (the first %module
 *     SWIG sees wins), and
 *   - define the named typemaps below; a name left undefined falls back to
 *     SWIG's plain pointer wrapping, which is not usable from a script.
 *
 *   (const char *MW_BYTES_IN, size_t MW_BYTES_IN_LEN)
 *        a byte string in (mail data: may hold any byte, NUL included)
 *   (const char *const *MW_STRLIST, size_t MW_STRLIST_LEN)
 *        a list of text strings in (recipients)
 *   (const long *MW_LONGLIST, size_t MW_LONGLIST_LEN)
 *        a list of integers in (array options of SSLInfo)
 *   (long *MW_LONGLIST_OUT, size_t MW_LONGLIST_OUT_CAP,
 *    size_t *MW_LONGLIST_OUT_LEN)
 *        a list of integers out (array options read back; at most
 *        MW_LONGLIST_OUT_MAX of them)
 *   (const unsigned long *MW_ULONGLIST, size_t MW_ULONGLIST_LEN)
 *        a list of message numbers in (the POP3 batch calls)
 *   (const mw_smtp_message *MW_MSGLIST, size_t MW_MSGLIST_LEN)
 *        a list of messages in (mw_smtp_send_batch), each a triple
 *        (sender: text, recipients: list of text, data: bytes); the
 *        binding's own layer builds the triples from its friendlier forms
 *   (char **MW_BYTES_OUT, size_t *MW_BYTES_OUT_LEN)
 *        a byte string out, allocated by the library: release with mw_free
 *   const char **MW_STR_OUT
 *        a text string out, owned by the handle (copy it; may be NULL)
 *
 * Numeric out-parameters use SWIG's portable typemaps.i OUTPUT typemaps.
 */
%module mailwire

%{
#include "mailwire.h"
/* Room for an array option read back (it holds at most 8 values). */
#define MW_LONGLIST_OUT_MAX 16
%}

%include <stdint.i>
%include <typemaps.i>

/* Numeric outputs: the value becomes an extra return value. */
%apply long *OUTPUT { long *value };
%apply unsigned long *OUTPUT { unsigned long *count };
%apply unsigned long long *OUTPUT { uint64_t *octets };

/* Byte and string parameters, by the named conventions above. */
%apply (const char *MW_BYTES_IN, size_t MW_BYTES_IN_LEN) {
  (const char *msg, size_t len)
};
%apply (const char *const *MW_STRLIST, size_t MW_STRLIST_LEN) {
  (const char *const *rcpts, size_t nrcpts)
};
%apply (const long *MW_LONGLIST, size_t MW_LONGLIST_LEN) {
  (const long *values, size_t n)
};
%apply (const unsigned long *MW_ULONGLIST, size_t MW_ULONGLIST_LEN) {
  (const unsigned long *msgs, size_t n)
};
%apply (const mw_smtp_message *MW_MSGLIST, size_t MW_MSGLIST_LEN) {
  (const mw_smtp_message *msgs, size_t n)
};
%apply (long *MW_LONGLIST_OUT, size_t MW_LONGLIST_OUT_CAP,
        size_t *MW_LONGLIST_OUT_LEN) {
  (long *values, size_t cap, size_t *n)
};
%apply (char **MW_BYTES_OUT, size_t *MW_BYTES_OUT_LEN) {
  (char **out, size_t *len)
};
%apply const char **MW_STR_OUT { const char **value, const char **uid };

/* Functions that take C callbacks are wrapped by hand in each language's
 * glue (trampolines, interpreter locks, exceptions); so is mw_free, which
 * the MW_BYTES_OUT typemap calls itself. */
%ignore mw_loghandler_new;
%ignore mw_smtp_send_stream;
%ignore mw_pop3_retr_stream;
%ignore mw_pop3_top_stream;
%ignore mw_msg_write_cb;
%ignore mw_pop3_retr_batch;
%ignore mw_pop3_top_batch;
/* The message struct is filled by the MW_MSGLIST typemap, never built
 * field by field from a script. */
%ignore mw_smtp_message;
%ignore mw_sslinfo_set_verify_callback;
%ignore mw_free;
/* The C event-loop driver (mw_X_socket_action ...) is for C programs: it
 * owns a socket and calls C callbacks. Python and Lua drive the session
 * through their own event loops instead. */
%ignore mw_smtp_socket_action;
%ignore mw_pop3_socket_action;
%ignore mw_smtp_socket;
%ignore mw_pop3_socket;
%ignore mw_smtp_wait_events;
%ignore mw_pop3_wait_events;
%ignore mw_smtp_wait_ms;
%ignore mw_pop3_wait_ms;
%ignore mw_smtp_begin_send_stream_cb;
%ignore mw_pop3_begin_retr_cb;
%ignore mw_pop3_begin_top_cb;
%ignore mw_pop3_begin_retr_batch_cb;
%ignore mw_pop3_begin_top_batch_cb;

/* Handles are opaque: no constructors or accessors for the structs. */
%nodefaultctor mw_smtp;
%nodefaultctor mw_pop3;
%nodefaultctor mw_sslinfo;
%nodefaultctor mw_loghandler;
%nodefaultctor mw_errorinfo;
%nodefaultdtor mw_smtp;
%nodefaultdtor mw_pop3;
%nodefaultdtor mw_sslinfo;
%nodefaultdtor mw_loghandler;
%nodefaultdtor mw_errorinfo;

%include "mailwire.h"
