/*
 * history_internal.h - the one place events are chained, shared by
 * bento_history_append() and bento_store_put() (which appends its event in
 * the same transaction as the object).  Not part of the public API.
 */
#ifndef BENTO_HISTORY_INTERNAL_H
#define BENTO_HISTORY_INTERNAL_H

#include "history.h"

/*
 * Append e as the next event.  The caller holds bento_store_lock() and has
 * an open BEGIN IMMEDIATE transaction on bento_store_db(); nothing is
 * written outside it.  After committing, the caller (no longer holding the
 * store lock) must call bento_history_head_update().
 */
int bento_history_append_locked(struct bento_store *s, const struct bento_event_in *e,
				struct bento_error *err);

/*
 * Write the newest committed event to ROOT/history.head.  Best effort: the
 * event is already committed, and a head that lags behind the table is
 * allowed (it is what a crash between commit and this call leaves); the
 * next append brings it up to date.  Returns 0 or -errno for the tests.
 */
int bento_history_head_update(struct bento_store *s);

#endif
