/*
 * mwpy_calls.i - how each wrapped call runs: which ones release the GIL, and the
 * frame (bindings/python/src/mwpy_glue.h) that brings an exception raised
 * inside a callback back to the caller.
 *
 * Quick calls (setters, getters) keep the GIL; calls that wait on the
 * network release it, and callbacks take it back with PyGILState_Ensure.
 */
%nothreadblock;
%nothreadallow;

/* Every call gets a frame without a client: a LogHandler that raises from
 * a call that cannot be cancelled still reaches the caller. */
%exception {
  mwpy_frame mwpy_frame_;
  mwpy_frame_enter(&mwpy_frame_, NULL, NULL, 0);
  $action
  if (mwpy_frame_leave(&mwpy_frame_) < 0)
    SWIG_fail;
}

/* A call that waits on the network: GIL released, and an exception from the
 * LogHandler cancels the client (arg1). */
%define MWPY_BLOCKING(fn, cancel)
%threadallow fn;
%exception fn {
  mwpy_frame mwpy_frame_;
  mwpy_frame_enter(&mwpy_frame_, (void *)arg1, cancel, 1);
  $action
  if (mwpy_frame_leave(&mwpy_frame_) < 0)
    SWIG_fail;
}
%enddef

/* Closing may send a TLS close_notify: no cancel, but no GIL either. */
%define MWPY_CLOSING(fn)
%threadallow fn;
%enddef

MWPY_BLOCKING(mw_smtp_connect, mwpy_cancel_smtp)
MWPY_BLOCKING(mw_smtp_send, mwpy_cancel_smtp)
MWPY_BLOCKING(mwpy_smtp_send_stream, mwpy_cancel_smtp)
MWPY_BLOCKING(mw_smtp_send_batch, mwpy_cancel_smtp)
MWPY_BLOCKING(mw_smtp_noop, mwpy_cancel_smtp)
MWPY_BLOCKING(mw_smtp_rset, mwpy_cancel_smtp)
MWPY_BLOCKING(mw_smtp_quit, mwpy_cancel_smtp)
MWPY_CLOSING(mw_smtp_disconnect)
MWPY_CLOSING(mw_smtp_free)

MWPY_BLOCKING(mw_pop3_connect, mwpy_cancel_pop3)
MWPY_BLOCKING(mw_pop3_stat, mwpy_cancel_pop3)
MWPY_BLOCKING(mw_pop3_list, mwpy_cancel_pop3)
MWPY_BLOCKING(mw_pop3_uidl, mwpy_cancel_pop3)
MWPY_BLOCKING(mw_pop3_list_one, mwpy_cancel_pop3)
MWPY_BLOCKING(mw_pop3_uidl_one, mwpy_cancel_pop3)
MWPY_BLOCKING(mw_pop3_retr, mwpy_cancel_pop3)
MWPY_BLOCKING(mw_pop3_top, mwpy_cancel_pop3)
MWPY_BLOCKING(mwpy_pop3_retr_stream, mwpy_cancel_pop3)
MWPY_BLOCKING(mwpy_pop3_top_stream, mwpy_cancel_pop3)
MWPY_BLOCKING(mw_pop3_dele, mwpy_cancel_pop3)
MWPY_BLOCKING(mwpy_pop3_retr_batch, mwpy_cancel_pop3)
MWPY_BLOCKING(mwpy_pop3_top_batch, mwpy_cancel_pop3)
MWPY_BLOCKING(mw_pop3_dele_batch, mwpy_cancel_pop3)
MWPY_BLOCKING(mw_pop3_list_batch, mwpy_cancel_pop3)
MWPY_BLOCKING(mw_pop3_uidl_batch, mwpy_cancel_pop3)
MWPY_BLOCKING(mw_pop3_rset, mwpy_cancel_pop3)
MWPY_BLOCKING(mw_pop3_noop, mwpy_cancel_pop3)
MWPY_BLOCKING(mw_pop3_quit, mwpy_cancel_pop3)
MWPY_CLOSING(mw_pop3_disconnect)
MWPY_CLOSING(mw_pop3_free)

/* Cancel is meant for other threads: it must not wait for this one. */
%threadallow mw_smtp_cancel;
%threadallow mw_pop3_cancel;
