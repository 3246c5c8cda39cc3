/*
 * store_internal.h - the store's private state, for the other lib/ modules
 * that keep tables in store.db (history.c).  Not part of the public API.
 *
 * Every use of bento_store_db() happens between bento_store_lock() and
 * bento_store_unlock(): the connection is shared by the store's threads and
 * the lock is what keeps one thread's transaction from swallowing another's
 * statements.  The tx helpers are store.c's own: BEGIN IMMEDIATE (so two
 * writing processes queue on SQLite's busy timeout instead of deadlocking),
 * COMMIT, and a ROLLBACK that is a no-op outside a transaction.
 */
#ifndef BENTO_STORE_INTERNAL_H
#define BENTO_STORE_INTERNAL_H

#include <sqlite3.h>

#include "error.h"
#include "store.h"

sqlite3 *bento_store_db(struct bento_store *s);
void bento_store_lock(struct bento_store *s);
void bento_store_unlock(struct bento_store *s);

int bento_store_tx_begin(struct bento_store *s, struct bento_error *err);
int bento_store_tx_commit(struct bento_store *s, struct bento_error *err);
void bento_store_tx_rollback(struct bento_store *s);

/* "ROOT/store.db: what: <sqlite message>", -BENTO_E_FAIL. */
int bento_store_db_fail(struct bento_store *s, const char *what, struct bento_error *err);

#endif
