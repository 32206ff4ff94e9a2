/*
 * The Python entry of the SWIG interface: builds the raw extension module
 * mailwire._mailwire (flat functions and constants of mailwire.h, plus the
 * hand-written glue). The Pythonic classes live in bindings/python/mailwire.
 * setup.py runs: swig -python -threads -noproxy -interface _mailwire
 */
%module(package="mailwire") _mailwire

%begin %{
#define PY_SSIZE_T_CLEAN
%}

%{
#include "mwpy_glue.h"
#include <string.h>
%}

%include "mwpy_typemaps.i"
%include "mwpy_calls.i"

%include "../mailwire.i"

/* The hand-written glue, wrapped with the same typemaps. */
%include "mwpy_glue.h"
