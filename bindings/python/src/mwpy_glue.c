/*
 * mwpy_glue.c - hand-written part of the Python binding: callback
 * trampolines, exceptions raised inside callbacks, error tables.
 * See mwpy_glue.h for the frame protocol.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "mwpy_glue.h"

#include "internal.h" /* mw_loghandler's userdata and reference count */

#include <string.h>

/* ------------------------------------------------------------------------
 * Frames: where a callback's exception waits for its call to return.
 * ---------------------------------------------------------------------- */
static _Thread_local mwpy_frame *mwpy_current;

void mwpy_frame_enter(mwpy_frame *f, void *client, void (*cancel)(void *),
                      int blocking) {
  f->prev = mwpy_current;
  f->client = client;
  f->cancel = cancel;
  f->exc = NULL;
  f->blocking = blocking;
  mwpy_current = f;
}

int mwpy_frame_leave(mwpy_frame *f) {
  mwpy_current = f->prev;
  if (f->exc) {
#if PY_VERSION_HEX >= 0x030C0000
    PyErr_SetRaisedException(f->exc);
#else
    PyObject *exc = f->exc;
    PyErr_Restore(Py_NewRef((PyObject *)Py_TYPE(exc)), exc,
                  PyException_GetTraceback(exc));
#endif
    f->exc = NULL;
    return -1;
  }
  /* Signal handlers (Ctrl-C) that ran during the call act now. */
  if (f->blocking && PyErr_CheckSignals() < 0)
    return -1;
  return 0;
}

static PyObject *mwpy_fetch_exception(void) {
#if PY_VERSION_HEX >= 0x030C0000
  return PyErr_GetRaisedException();
#else
  PyObject *type, *value, *tb;
  PyErr_Fetch(&type, &value, &tb);
  PyErr_NormalizeException(&type, &value, &tb);
  if (tb && value)
    PyException_SetTraceback(value, tb);
  Py_XDECREF(type);
  Py_XDECREF(tb);
  return value;
#endif
}

void mwpy_frame_stash(int cancel_client) {
  mwpy_frame *f = mwpy_current;
  if (!f) {
    PyErr_WriteUnraisable(NULL);
    return;
  }
  if (f->exc) { /* keep the first: later ones are consequences */
    PyErr_Clear();
    return;
  }
  f->exc = mwpy_fetch_exception();
  if (cancel_client && f->client && f->cancel)
    f->cancel(f->client);
}

/* Has a callback of the innermost call already failed? */
static int mwpy_frame_failed(void) {
  return mwpy_current && mwpy_current->exc;
}

void mwpy_cancel_smtp(void *client) {
  mw_smtp_cancel((mw_smtp *)client);
}
void mwpy_cancel_pop3(void *client) {
  mw_pop3_cancel((mw_pop3 *)client);
}

static PyObject *mwpy_text(const char *s) {
  if (!s)
    s = "";
  return PyUnicode_DecodeUTF8(s, (Py_ssize_t)strlen(s), "replace");
}

/* ------------------------------------------------------------------------
 * LogHandler. Clients on several threads may log through one handler at
 * the same time: each message takes the GIL (PyGILState_Ensure works from
 * any thread) and is delivered, so Python code sees one message at a time
 * and none is dropped while the Python side holds the handler.
 * ---------------------------------------------------------------------- */
typedef struct mwpy_log {
  PyObject *target; /* borrowed; NULL once the Python side let go (both
                       written and read with the GIL held) */
} mwpy_log;

static void mwpy_log_trampoline(void *userdata, int severity, int facility,
                                const char *message) {
  mwpy_log *box = userdata;
  PyGILState_STATE gil = PyGILState_Ensure();
  /* After a failure the operation is being cancelled: stay quiet. */
  if (box->target && !mwpy_frame_failed()) {
    PyObject *text = mwpy_text(message);
    PyObject *r = text ? PyObject_CallMethod(box->target, "on_log_message",
                                             "iiO", severity, facility, text)
                       : NULL;
    Py_XDECREF(text);
    if (r)
      Py_DECREF(r);
    else
      mwpy_frame_stash(1);
  }
  PyGILState_Release(gil);
}

/* The box lives as long as the C handler: clients on other threads may
 * still hold it (and call the trampoline) after Python let go, so only
 * the last reference, whichever thread drops it, frees it. */
static void mwpy_log_box_free(void *userdata) {
  PyMem_RawFree(userdata);
}

mw_loghandler *mwpy_loghandler_new(PyObject *target) {
  mwpy_log *box = PyMem_RawMalloc(sizeof *box);
  if (!box)
    return NULL;
  box->target = target;
  mw_loghandler *lh = mw_loghandler_new(mwpy_log_trampoline, box);
  if (!lh) {
    PyMem_RawFree(box);
    return NULL;
  }
  lh->release_ud = mwpy_log_box_free;
  return lh;
}

void mwpy_loghandler_release(mw_loghandler *lh) {
  if (!lh)
    return;
  mwpy_log *box = lh->userdata;
  box->target = NULL; /* a client still holding it now drops messages */
  mw_loghandler_free(lh);
}

/* ------------------------------------------------------------------------
 * Streaming.
 * ---------------------------------------------------------------------- */
typedef struct mwpy_reader {
  PyObject *read;    /* borrowed: the caller's argument */
  PyObject *pending; /* bytes returned beyond what fit, or NULL */
  Py_ssize_t offset; /* first unsent byte of pending */
} mwpy_reader;

/* Ask Python for the next chunk; 1 when pending holds bytes, 0 at the end,
 * -1 after an exception was stashed. */
static int mwpy_reader_refill(mwpy_reader *r, size_t cap) {
  PyObject *chunk = PyObject_CallFunction(r->read, "n", (Py_ssize_t)cap);
  if (!chunk)
    return -1;
  PyObject *bytes = PyBytes_Check(chunk) ? Py_NewRef(chunk) : NULL;
  if (!bytes && PyObject_CheckBuffer(chunk))
    bytes = PyBytes_FromObject(chunk);
  else if (!bytes)
    PyErr_Format(PyExc_TypeError,
                 "the message reader must return bytes, not %.100s",
                 Py_TYPE(chunk)->tp_name);
  Py_DECREF(chunk);
  if (!bytes)
    return -1;
  if (PyBytes_GET_SIZE(bytes) == 0) {
    Py_DECREF(bytes);
    return 0;
  }
  r->pending = bytes;
  r->offset = 0;
  return 1;
}

static long mwpy_read_trampoline(void *userdata, char *buf, size_t cap) {
  mwpy_reader *r = userdata;
  long n = -1;
  PyGILState_STATE gil = PyGILState_Ensure();
  int have = r->pending ? 1 : mwpy_reader_refill(r, cap);
  if (have < 0) {
    mwpy_frame_stash(0);
  } else if (have == 0) {
    n = 0;
  } else {
    Py_ssize_t left = PyBytes_GET_SIZE(r->pending) - r->offset;
    size_t take = (size_t)left < cap ? (size_t)left : cap;
    memcpy(buf, PyBytes_AS_STRING(r->pending) + r->offset, take);
    r->offset += (Py_ssize_t)take;
    if (r->offset == PyBytes_GET_SIZE(r->pending))
      Py_CLEAR(r->pending);
    n = (long)take;
  }
  PyGILState_Release(gil);
  return n;
}

int mwpy_smtp_send_stream(mw_smtp *c, const char *from,
                          const char *const *rcpts, size_t nrcpts,
                          uint64_t size_hint, int flags, PyObject *read) {
  mwpy_reader r = {read, NULL, 0};
  int rc = mw_smtp_send_stream(c, from, rcpts, nrcpts, size_hint, flags,
                               mwpy_read_trampoline, &r);
  if (r.pending) { /* aborted mid-chunk: called without the GIL */
    PyGILState_STATE gil = PyGILState_Ensure();
    Py_CLEAR(r.pending);
    PyGILState_Release(gil);
  }
  return rc;
}

/* After a writer's call: keep what it raised for the caller, give the
 * GIL back; 1 (abort) when it raised. */
static int mwpy_write_done(PyObject *r, PyGILState_STATE gil) {
  int failed = r == NULL;
  if (failed)
    mwpy_frame_stash(0);
  Py_XDECREF(r);
  PyGILState_Release(gil);
  return failed;
}

static int mwpy_write_trampoline(void *userdata, const char *data,
                                 size_t len) {
  PyObject *write = userdata;
  PyGILState_STATE gil = PyGILState_Ensure();
  PyObject *r = PyObject_CallFunction(write, "y#", data, (Py_ssize_t)len);
  return mwpy_write_done(r, gil);
}

int mwpy_pop3_retr_stream(mw_pop3 *c, unsigned long msg, PyObject *write) {
  return mw_pop3_retr_stream(c, msg, mwpy_write_trampoline, write);
}

int mwpy_pop3_top_stream(mw_pop3 *c, unsigned long msg, unsigned long lines,
                         PyObject *write) {
  return mw_pop3_top_stream(c, msg, lines, mwpy_write_trampoline, write);
}

static int mwpy_batch_write_trampoline(void *userdata, size_t i,
                                       unsigned long msg, const char *data,
                                       size_t len, int end) {
  PyObject *write = userdata;
  PyGILState_STATE gil = PyGILState_Ensure();
  PyObject *r =
      end ? PyObject_CallFunction(write, "nkO", (Py_ssize_t)i, msg, Py_None)
          : PyObject_CallFunction(write, "nky#", (Py_ssize_t)i, msg, data,
                                  (Py_ssize_t)len);
  return mwpy_write_done(r, gil);
}

int mwpy_pop3_retr_batch(mw_pop3 *c, const unsigned long *msgs, size_t n,
                         PyObject *write) {
  return mw_pop3_retr_batch(c, msgs, n, mwpy_batch_write_trampoline, write);
}

int mwpy_pop3_top_batch(mw_pop3 *c, const unsigned long *msgs, size_t n,
                        unsigned long lines, PyObject *write) {
  return mw_pop3_top_batch(c, msgs, n, lines, mwpy_batch_write_trampoline,
                           write);
}

/* ------------------------------------------------------------------------
 * Errors.
 * ---------------------------------------------------------------------- */
PyObject *mwpy_errorinfo(const mw_errorinfo *e) {
  return Py_BuildValue(
      "iiNliNNl", mw_errorinfo_code(e), mw_errorinfo_number(e),
      mwpy_text(mw_errorinfo_text(e)), mw_errorinfo_os_error(e),
      mw_errorinfo_reply_code(e), mwpy_text(mw_errorinfo_enhanced_status(e)),
      mwpy_text(mw_errorinfo_server_text(e)), mw_errorinfo_verify_result(e));
}

static int mwpy_append(PyObject *list, PyObject *item) {
  if (!item)
    return -1;
  int rc = PyList_Append(list, item);
  Py_DECREF(item);
  return rc;
}

PyObject *mwpy_error_tables(void) {
  PyObject *base = PyList_New(0), *ext = PyList_New(0);
  int rc = base && ext ? 0 : -1;
#define MWPY_BASE_(sym, num, name, text)                                      \
  if (rc == 0)                                                                \
    rc = mwpy_append(base, Py_BuildValue("sis", #sym, (int)(num), text));
  MW_BASE_ERROR_MAP(MWPY_BASE_)
#undef MWPY_BASE_
#define MWPY_EEX_(sym, num, basecode, text)                                   \
  if (rc == 0)                                                                \
    rc = mwpy_append(                                                         \
        ext, Py_BuildValue("siis", #sym, (int)(num), (int)(basecode), text));
  MW_EXTENDED_ERROR_MAP(MWPY_EEX_)
#undef MWPY_EEX_
  if (rc != 0) {
    Py_XDECREF(base);
    Py_XDECREF(ext);
    return NULL;
  }
  return Py_BuildValue("NN", base, ext);
}
