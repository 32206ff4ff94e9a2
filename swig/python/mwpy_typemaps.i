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
