/*
 * mwpy_glue.h - what the Python binding of mailwire writes by hand: the
 * parts SWIG does badly (C callbacks into Python, exceptions raised inside
 * them, the error tables). SWIG wraps the functions below like the rest of
 * mailwire.h (swig/python/mailwire.i), so they share its typemaps and its
 * interpreter-lock handling.
 *
 * Exceptions inside callbacks: every wrapped call runs inside a "frame"
 * (a thread-local stack, pushed and popped by the SWIG %exception code).
 * A callback that raises stores its exception in the innermost frame and
 * makes the operation stop: the read/write callbacks by returning their
 * abort value, the log callback (which cannot return one) by cancelling the
 * client the frame belongs to. When the call returns, the frame re-raises
 * the stored exception instead of returning the library's errAborted.
 */
#ifndef MWPY_GLUE_H
#define MWPY_GLUE_H

#include <Python.h>

#include "mailwire.h"

#ifndef SWIG
typedef struct mwpy_frame {
  struct mwpy_frame *prev;
  void *client;                 /* the client a log exception cancels */
  void (*cancel)(void *client); /* mw_smtp_cancel / mw_pop3_cancel */
  PyObject *exc;                /* the stored exception, or NULL */
  int blocking;                 /* check for signals (Ctrl-C) afterwards */
} mwpy_frame;

/* Push a frame for a call on client (NULL for calls that are not on a
 * client). Holds no Python state: callable with or without the GIL. */
void mwpy_frame_enter(mwpy_frame *f, void *client, void (*cancel)(void *),
                      int blocking);
/* Pop it. With the GIL held: returns 0, or -1 with a Python exception set
 * (the stored one, or one raised by a pending signal handler). */
int mwpy_frame_leave(mwpy_frame *f);
/* With the GIL held and an exception set: move it into the innermost frame
 * (the first one wins), or report it as unraisable if there is no frame. */
void mwpy_frame_stash(int cancel_client);

void mwpy_cancel_smtp(void *client);
void mwpy_cancel_pop3(void *client);
#endif

/* LogHandler whose OnLogMessage calls target.on_log_message(severity,
 * facility, message). target is borrowed: the Python object owning the
 * handler must call mwpy_loghandler_release before it goes away. */
mw_loghandler *mwpy_loghandler_new(PyObject *target);
/* Detach the Python target (later messages are dropped) and release the
 * Python side's reference to the handler. */
void mwpy_loghandler_release(mw_loghandler *lh);

/* The streaming calls. read(n) returns up to n bytes (b"" at the end; more
 * than n is kept for the next call); write(chunk) takes bytes. */
int mwpy_smtp_send_stream(mw_smtp *c, const char *from,
                          const char *const *rcpts, size_t nrcpts,
                          uint64_t size_hint, int flags, PyObject *read);
int mwpy_pop3_retr_stream(mw_pop3 *c, unsigned long msg, PyObject *write);
int mwpy_pop3_top_stream(mw_pop3 *c, unsigned long msg, unsigned long lines,
                         PyObject *write);

/* The POP3 batch calls that stream: write(index, number, chunk) takes each
 * piece of message msgs[index] as bytes, then chunk None after its last
 * piece. (msgs, n) is a list of int, as for mw_pop3_dele_batch. */
int mwpy_pop3_retr_batch(mw_pop3 *c, const unsigned long *msgs, size_t n,
                         PyObject *write);
int mwpy_pop3_top_batch(mw_pop3 *c, const unsigned long *msgs, size_t n,
                        unsigned long lines, PyObject *write);

/* An ErrorInfo as a tuple: (code, number, text, os_error, reply_code,
 * enhanced_status, server_text, verify_result, os_error_text). */
PyObject *mwpy_errorinfo(const mw_errorinfo *e);
/* The error tables of mailwire.h, from its X-macros:
 * ([(name, code, text) ...], [(name, number, base_code, text) ...]). */
PyObject *mwpy_error_tables(void);

#endif
