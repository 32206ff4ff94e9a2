/* evloop.h - the C event-loop driver's state, one per client (private).
 * The public calls (mailwire.h, "The C event-loop driver") are thin
 * wrappers that find a client's mw_ev and mw_io. */
#ifndef MW_EVLOOP_H
#define MW_EVLOOP_H

#include "internal.h"

typedef struct mw_ev mw_ev;

mw_ev *mw_ev_new(void);
/* Closes the driver's socket and drops an operation in progress. */
void mw_ev_close(mw_ev *ev);
/* NULL-safe; called by mw_session_free. */
void mw_ev_free(mw_ev *ev);
void mw_ev_set_body(mw_ev *ev, mw_read_cb cb, void *ud);
void mw_ev_set_deliver(mw_ev *ev, mw_msg_write_cb cb, void *ud);
/* Answer io's wants: MW_AGAIN, or the operation's base code. */
int mw_ev_action(mw_ev *ev, mw_io *io, int revents);
int mw_ev_socket(const mw_ev *ev);
int mw_ev_wait_events(const mw_ev *ev);
int mw_ev_wait_ms(const mw_ev *ev, mw_io *io);

#endif
