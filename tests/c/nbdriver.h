/* nbdriver.h - a test driver for the caller-driven session (mailwire.h,
 * "Without blocking"): answers every want over a real socket, but in
 * random-sized pieces (reads of 1..N bytes, partial writes, body pieces of
 * random size). Seeded: MW_NB_SEED sets the seed, which is printed;
 * MW_NB_MAX_PIECE caps the pieces (1: every byte alone). */
#ifndef MW_NBDRIVER_H
#define MW_NBDRIVER_H

#include "mailwire.h"

/* Make every blocking call of this process run through the test driver
 * (the library's test hook); returns the seed used. */
unsigned nb_install(void);
/* Reads as the blocking driver makes them (all that is there), for a case
 * whose check depends on what one read brings; writes and bodies stay in
 * pieces. */
void nb_whole_reads(int on);
/* The seed in use (printed with failures). */
unsigned nb_seed(void);
/* Run the operation begun on io to its end with the test driver. The
 * socket is the session's (closed with the client); *fd reports it. */
int nb_drive(mw_io *io, int *fd);

#endif
