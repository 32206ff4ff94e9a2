/*
 * mwpy_typemaps.i - the Python side of the named conversions that
 * swig/mailwire.i applies (see its header comment). Text goes in as str
 * (NUL refused, as C would silently cut it there), bytes in through the
 * buffer protocol, outputs come back as extra return values.
 */

/* str (or bytes) in, None for NULL. Embedded NUL is refused: C would see a
 * shorter string than the caller gave. */
%fragment("mwpy_text_arg", "header") {
static int mwpy_text_arg(PyObject *o, const char **out) {
  Py_ssize_t n = 0;
  const char *s = NULL;
  if (o == Py_None) {
    *out = NULL;
    return 0;
  }
  if (PyUnicode_Check(o)) {
    s = PyUnicode_AsUTF8AndSize(o, &n);
    if (!s)
      return -1;
  } else if (PyBytes_Check(o)) {
    s = PyBytes_AS_STRING(o);
    n = PyBytes_GET_SIZE(o);
  } else {
    PyErr_Format(PyExc_TypeError, "expected str, not %.100s",
                 Py_TYPE(o)->tp_name);
    return -1;
  }
  if (strlen(s) != (size_t)n) {
    PyErr_SetString(PyExc_ValueError, "embedded null character");
    return -1;
  }
  *out = s;
  return 0;
}
}

%typemap(in, fragment="mwpy_text_arg") const char * {
  if (mwpy_text_arg($input, (const char **)&$1) < 0)
    SWIG_fail;
}
%typemap(freearg) const char * "";

/* Mail data: anything with the buffer protocol (bytes, bytearray,
 * memoryview); held (and so not resizable) until the call returns. */
%typemap(in) (const char *MW_BYTES_IN, size_t MW_BYTES_IN_LEN)
    (Py_buffer view, int have_view = 0) {
  if (PyUnicode_Check($input)) {
    PyErr_SetString(PyExc_TypeError, "mail data must be bytes, not str");
    SWIG_fail;
  }
  if (PyObject_GetBuffer($input, &view, PyBUF_SIMPLE) < 0)
    SWIG_fail;
  have_view = 1;
  $1 = ($1_ltype)view.buf;
  $2 = (size_t)view.len;
}
%typemap(freearg) (const char *MW_BYTES_IN, size_t MW_BYTES_IN_LEN) {
  if (have_view$argnum)
    PyBuffer_Release(&view$argnum);
}

/* A list of str: copied into a tuple first, so another thread cannot drop
 * the strings while the call runs without the GIL. */
%typemap(in, fragment="mwpy_text_arg") (const char *const *MW_STRLIST,
                                        size_t MW_STRLIST_LEN)
    (PyObject *tuple = NULL, const char **vec = NULL) {
  if (PyUnicode_Check($input) || PyBytes_Check($input)) {
    PyErr_SetString(PyExc_TypeError, "expected a list of str, not a str");
    SWIG_fail;
  }
  tuple = PySequence_Tuple($input);
  if (!tuple)
    SWIG_fail;
  Py_ssize_t count = PyTuple_GET_SIZE(tuple);
  vec = PyMem_Malloc((size_t)(count ? count : 1) * sizeof *vec);
  if (!vec) {
    PyErr_NoMemory();
    SWIG_fail;
  }
  for (Py_ssize_t i = 0; i < count; i++) {
    if (mwpy_text_arg(PyTuple_GET_ITEM(tuple, i), &vec[i]) < 0)
      SWIG_fail;
    if (!vec[i]) {
      PyErr_SetString(PyExc_TypeError, "expected str in the list, not None");
      SWIG_fail;
    }
  }
  $1 = ($1_ltype)vec;
  $2 = (size_t)count;
}
%typemap(freearg) (const char *const *MW_STRLIST, size_t MW_STRLIST_LEN) {
  PyMem_Free((void *)vec$argnum);
  Py_XDECREF(tuple$argnum);
}

/* A list of int. */
%typemap(in) (const long *MW_LONGLIST, size_t MW_LONGLIST_LEN)
    (PyObject *tuple = NULL, long *vec = NULL) {
  tuple = PySequence_Tuple($input);
  if (!tuple)
    SWIG_fail;
  Py_ssize_t count = PyTuple_GET_SIZE(tuple);
  vec = PyMem_Malloc((size_t)(count ? count : 1) * sizeof *vec);
  if (!vec) {
    PyErr_NoMemory();
    SWIG_fail;
  }
  for (Py_ssize_t i = 0; i < count; i++) {
    vec[i] = PyLong_AsLong(PyTuple_GET_ITEM(tuple, i));
    if (vec[i] == -1 && PyErr_Occurred())
      SWIG_fail;
  }
  $1 = ($1_ltype)vec;
  $2 = (size_t)count;
}
%typemap(freearg) (const long *MW_LONGLIST, size_t MW_LONGLIST_LEN) {
  PyMem_Free(vec$argnum);
  Py_XDECREF(tuple$argnum);
}

/* A list of integers out: the values read back, as a list of int. */
%typemap(in, numinputs=0) (long *MW_LONGLIST_OUT, size_t MW_LONGLIST_OUT_CAP,
                           size_t *MW_LONGLIST_OUT_LEN)
    (long vals[MW_LONGLIST_OUT_MAX], size_t count = 0) {
  $1 = vals;
  $2 = MW_LONGLIST_OUT_MAX;
  $3 = &count;
}
%typemap(argout) (long *MW_LONGLIST_OUT, size_t MW_LONGLIST_OUT_CAP,
                  size_t *MW_LONGLIST_OUT_LEN) {
  size_t k = *$3 < $2 ? *$3 : $2;
  PyObject *o = PyList_New((Py_ssize_t)k);
  if (!o)
    SWIG_fail;
  for (size_t i = 0; i < k; i++) {
    PyObject *v = PyLong_FromLong($1[i]);
    if (!v) {
      Py_DECREF(o);
      SWIG_fail;
    }
    PyList_SET_ITEM(o, (Py_ssize_t)i, v);
  }
  $result = SWIG_Python_AppendOutput($result, o);
}

/* A list of message numbers (non-negative int). */
%typemap(in) (const unsigned long *MW_ULONGLIST, size_t MW_ULONGLIST_LEN)
    (PyObject *tuple = NULL, unsigned long *vec = NULL) {
  if (PyUnicode_Check($input) || PyBytes_Check($input)) {
    PyErr_SetString(PyExc_TypeError, "expected a list of int, not a str");
    SWIG_fail;
  }
  tuple = PySequence_Tuple($input);
  if (!tuple)
    SWIG_fail;
  Py_ssize_t count = PyTuple_GET_SIZE(tuple);
  vec = PyMem_Malloc((size_t)(count ? count : 1) * sizeof *vec);
  if (!vec) {
    PyErr_NoMemory();
    SWIG_fail;
  }
  for (Py_ssize_t i = 0; i < count; i++) {
    vec[i] = PyLong_AsUnsignedLong(PyTuple_GET_ITEM(tuple, i));
    if (vec[i] == (unsigned long)-1 && PyErr_Occurred())
      SWIG_fail;
  }
  $1 = ($1_ltype)vec;
  $2 = (size_t)count;
}
%typemap(freearg) (const unsigned long *MW_ULONGLIST, size_t MW_ULONGLIST_LEN) {
  PyMem_Free(vec$argnum);
  Py_XDECREF(tuple$argnum);
}

/* A list of messages, each a triple (sender str, recipients sequence of
 * str, data with the buffer protocol). Every object the C arrays point
 * into is held (keep) and every buffer locked (views) until the call
 * returns, as the call runs without the GIL. */
%fragment("mwpy_msglist", "header", fragment="mwpy_text_arg") {
typedef struct mwpy_msglist {
  PyObject *keep;        /* list: the triples and recipient tuples */
  mw_smtp_message *msgs;
  const char **rcpts;    /* all recipients, message after message */
  Py_buffer *views;
  Py_ssize_t nviews;
} mwpy_msglist;
#define MWPY_MSGLIST_INIT {NULL, NULL, NULL, NULL, 0}

static void mwpy_msglist_free(mwpy_msglist *m) {
  for (Py_ssize_t i = 0; i < m->nviews; i++)
    PyBuffer_Release(&m->views[i]);
  PyMem_Free(m->views);
  PyMem_Free(m->msgs);
  PyMem_Free((void *)m->rcpts);
  Py_XDECREF(m->keep);
  memset(m, 0, sizeof *m);
}

static int mwpy_msglist_fail(const char *what, Py_ssize_t i) {
  PyErr_Format(PyExc_TypeError, "message %zd of the batch: %s", i + 1, what);
  return -1;
}

static int mwpy_msglist_build(PyObject *input, mwpy_msglist *m,
                              size_t *count_out) {
  if (PyUnicode_Check(input) || PyBytes_Check(input)) {
    PyErr_SetString(PyExc_TypeError, "expected a list of messages");
    return -1;
  }
  m->keep = PySequence_List(input);
  if (!m->keep)
    return -1;
  Py_ssize_t count = PyList_GET_SIZE(m->keep), total = 0;
  /* Pass 1: every item becomes (from, tuple of recipients, data). */
  for (Py_ssize_t i = 0; i < count; i++) {
    PyObject *item = PyList_GET_ITEM(m->keep, i);
    if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 3)
      return mwpy_msglist_fail("expected a (sender, recipients, data) "
                               "tuple", i);
    PyObject *to = PyTuple_GET_ITEM(item, 1);
    if (PyUnicode_Check(to) || PyBytes_Check(to))
      return mwpy_msglist_fail("the recipients must be a list of str", i);
    PyObject *tt = PySequence_Tuple(to);
    if (!tt)
      return -1;
    PyObject *triple = PyTuple_Pack(3, PyTuple_GET_ITEM(item, 0), tt,
                                    PyTuple_GET_ITEM(item, 2));
    Py_DECREF(tt);
    if (!triple)
      return -1;
    PyList_SET_ITEM(m->keep, i, triple); /* steals; drops the old item */
    Py_DECREF(item);
    total += PyTuple_GET_SIZE(PyTuple_GET_ITEM(triple, 1));
  }
  m->msgs = PyMem_Calloc((size_t)(count ? count : 1), sizeof *m->msgs);
  m->rcpts = PyMem_Calloc((size_t)(total ? total : 1), sizeof *m->rcpts);
  m->views = PyMem_Calloc((size_t)(count ? count : 1), sizeof *m->views);
  if (!m->msgs || !m->rcpts || !m->views) {
    PyErr_NoMemory();
    return -1;
  }
  /* Pass 2: point the C structs into the held objects. */
  const char **next = m->rcpts;
  for (Py_ssize_t i = 0; i < count; i++) {
    PyObject *triple = PyList_GET_ITEM(m->keep, i);
    mw_smtp_message *msg = &m->msgs[i];
    if (mwpy_text_arg(PyTuple_GET_ITEM(triple, 0), &msg->from) < 0)
      return -1;
    if (!msg->from)
      return mwpy_msglist_fail("the sender is None", i);
    PyObject *tt = PyTuple_GET_ITEM(triple, 1);
    msg->rcpts = next;
    msg->nrcpts = (size_t)PyTuple_GET_SIZE(tt);
    for (Py_ssize_t j = 0; j < PyTuple_GET_SIZE(tt); j++) {
      if (mwpy_text_arg(PyTuple_GET_ITEM(tt, j), next) < 0)
        return -1;
      if (!*next)
        return mwpy_msglist_fail("a recipient is None", i);
      next++;
    }
    PyObject *data = PyTuple_GET_ITEM(triple, 2);
    if (PyUnicode_Check(data))
      return mwpy_msglist_fail("the data must be bytes, not str", i);
    if (PyObject_GetBuffer(data, &m->views[i], PyBUF_SIMPLE) < 0)
      return -1;
    m->nviews = i + 1;
    msg->data = m->views[i].buf;
    msg->len = (size_t)m->views[i].len;
  }
  *count_out = (size_t)count;
  return 0;
}
}

%typemap(in, fragment="mwpy_msglist") (const mw_smtp_message *MW_MSGLIST,
                                       size_t MW_MSGLIST_LEN)
    (mwpy_msglist list = MWPY_MSGLIST_INIT) {
  if (mwpy_msglist_build($input, &list, &$2) < 0)
    SWIG_fail;
  $1 = list.msgs;
}
%typemap(freearg) (const mw_smtp_message *MW_MSGLIST, size_t MW_MSGLIST_LEN) {
  mwpy_msglist_free(&list$argnum);
}

/* Bytes out, allocated by the library. */
%typemap(in, numinputs=0) (char **MW_BYTES_OUT, size_t *MW_BYTES_OUT_LEN)
    (char *data = NULL, size_t size = 0) {
  $1 = ($1_ltype)&data;
  $2 = &size;
}
%typemap(argout) (char **MW_BYTES_OUT, size_t *MW_BYTES_OUT_LEN) {
  PyObject *o = Py_None;
  if (*$1) {
    o = PyBytes_FromStringAndSize(*$1, (Py_ssize_t)*$2);
    mw_free(*$1);
    *$1 = NULL;
    if (!o)
      SWIG_fail;
  } else {
    Py_INCREF(o);
  }
  $result = SWIG_Python_AppendOutput($result, o);
}
%typemap(freearg) (char **MW_BYTES_OUT, size_t *MW_BYTES_OUT_LEN) {
  mw_free(data$argnum);
}

/* A string out, owned by the handle: copied into a str (None for NULL). */
%typemap(in, numinputs=0) const char **MW_STR_OUT (const char *s = NULL) {
  $1 = ($1_ltype)&s;
}
%typemap(argout) const char **MW_STR_OUT {
  PyObject *o = Py_None;
  if (*$1) {
    o = PyUnicode_DecodeUTF8(*$1, (Py_ssize_t)strlen(*$1), "surrogateescape");
    if (!o)
      SWIG_fail;
  } else {
    Py_INCREF(o);
  }
  $result = SWIG_Python_AppendOutput($result, o);
}

/* Python objects given to the hand-written glue pass through as they are. */
