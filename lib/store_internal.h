/*
 * store_internal.h - the store's private state, shared by the modules that
 * make it up (store.c: open, migrations, objects, tags, attachments, the
 * layer cache; store_blob.c: blobs, staging, the stat cache; store_fsck.c:
 * fsck, gc, discard) and by the other lib/ modules that keep tables in
 * store.db (history.c).  Not part of the public API.
 *
 * Every use of bento_store_db() happens between bento_store_lock() and
 * bento_store_unlock(): the connection is shared by the store's threads and
 * the lock is what keeps one thread's transaction from swallowing another's
 * statements.  A write transaction takes both at once, with
 * bento_store_tx_open() and bento_store_tx_close().
 */
#ifndef BENTO_STORE_INTERNAL_H
#define BENTO_STORE_INTERNAL_H

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>

#include <sqlite3.h>

#include "digest.h"
#include "error.h"
#include "store.h"

sqlite3 *bento_store_db(struct bento_store *s);
void bento_store_lock(struct bento_store *s);
void bento_store_unlock(struct bento_store *s);

/*
 * A write transaction under the store lock.  tx_open takes
 * bento_store_lock() and begins with BEGIN IMMEDIATE (so two writing
 * processes queue on SQLite's busy timeout instead of deadlocking); when
 * that fails it returns the error with the lock released again.  tx_close
 * ends what tx_open began: COMMIT when rc is 0, ROLLBACK when rc is not or
 * when COMMIT fails, then unlock.  It returns rc, or COMMIT's error:
 *
 *	if ((rc = bento_store_tx_open(s, err)))
 *		return rc;
 *	rc = ...work on bento_store_db(s)...;
 *	return bento_store_tx_close(s, rc, err);
 */
int bento_store_tx_open(struct bento_store *s, struct bento_error *err);
int bento_store_tx_close(struct bento_store *s, int rc, struct bento_error *err);

/* "ROOT/store.db: what: <sqlite message>", -BENTO_E_FAIL. */
int bento_store_db_fail(struct bento_store *s, const char *what, struct bento_error *err);

/* ---- for store.c, store_blob.c and store_fsck.c only ---- */

#define DB_FILE "store.db"
/*
 * A small blob is staged next to where it goes, blobs/sha256/XX/ with a
 * name of this prefix (never a blob's name), so that moving it into place
 * is a rename within one directory: those need no file-system-wide lock
 * and run in parallel.  fsck and gc clean them up as they clean tmp/.
 */
#define STAGE_PREFIX ".stage."

struct cache_row;

/*
 * Blob writers are serialised against gc by the flock on root/lock: every
 * open store holds it shared, gc holds it exclusive, so gc never sees a blob
 * that is staged but whose metadata is not committed yet.
 */
struct bento_store {
	char *root;
	int made_root;		/* root did not exist before bento_store_open */
	int made_db;		/* no root/store.db either: this handle made the store */
	char *blobdir;		/* root/blobs/sha256 */
	int blobfd;		/* blobdir, open */
	char *tmpdir;		/* root/tmp */
	int lockfd;
	pthread_mutex_t mu;	/* guards db */
	sqlite3 *db;
	pthread_mutex_t cache_mu;	/* guards cache, its statements and pending */
	sqlite3 *cache;
	sqlite3_stmt *cache_get, *cache_put;
	int cache_reading;		/* a read transaction is open on cache */
	struct cache_row *pending;	/* rows to write, at the next bento_store_cache_flush() */
	size_t n_pending, alloc_pending;
};

static inline const char *kind_name(enum bento_kind kind)
{
	return kind == BENTO_KIND_MODEL ? "model" : "bento";
}

static inline int kind_ok(enum bento_kind kind)
{
	return kind == BENTO_KIND_MODEL || kind == BENTO_KIND_BENTO;
}

static inline int64_t ts_ns(const struct timespec *t)
{
	return (int64_t)t->tv_sec * 1000000000LL + t->tv_nsec;
}

static inline int all_hex(const char *p)
{
	for (; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return 0;
	return 1;
}

/* Order of digests by their bytes (qsort, bsearch). */
static inline int digest_cmp(const void *a, const void *b)
{
	return memcmp(((const struct bento_digest *)a)->raw, ((const struct bento_digest *)b)->raw,
		      BENTO_DIGEST_RAWLEN);
}

static inline int flock_retry(int fd, int op)
{
	while (flock(fd, op) < 0)
		if (errno != EINTR)
			return -errno;
	return 0;
}

/* SQLite helpers: db is s->db or s->cache. */

static inline int db_fail(const struct bento_store *s, sqlite3 *db, const char *what,
			  struct bento_error *err)
{
	return bento_error_set(err, BENTO_E_FAIL, "%s/" DB_FILE ": %s: %s", s->root, what,
			       sqlite3_errmsg(db));
}

static inline int db_exec(struct bento_store *s, sqlite3 *db, const char *sql, const char *what,
			  struct bento_error *err)
{
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return db_fail(s, db, what, err);
	return 0;
}

static inline int db_prep(struct bento_store *s, sqlite3 *db, const char *sql, sqlite3_stmt **st,
			  struct bento_error *err)
{
	if (sqlite3_prepare_v2(db, sql, -1, st, NULL) != SQLITE_OK) {
		*st = NULL;
		return db_fail(s, db, "prepare", err);
	}
	return 0;
}

static inline void bind_digest(sqlite3_stmt *st, int i, const struct bento_digest *d)
{
	char hex[BENTO_DIGEST_STRLEN];

	bento_digest_str(d, hex);
	sqlite3_bind_text(st, i, hex, -1, SQLITE_TRANSIENT);
}

static inline void bind_str(sqlite3_stmt *st, int i, const char *v)
{
	sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
}

static inline const char *col_str(sqlite3_stmt *st, int i)
{
	const unsigned char *p = sqlite3_column_text(st, i);
	return p ? (const char *)p : "";
}

static inline int col_digest(sqlite3_stmt *st, int i, struct bento_digest *d)
{
	return bento_digest_parse(col_str(st, i), d, NULL);
}

/* store_blob.c, for bento_store_commit() and bento_store_close(). */

/* End the stat cache's read transaction and write the rows it learnt. */
void bento_store_cache_flush(struct bento_store *s);

/*
 * Make every blob of st durable at once; before bento_store_commit takes
 * the database's lock (this is the slow part).  st may be NULL.
 */
int bento_blob_stage_sync(struct bento_blob_stage *st, struct bento_error *err);

/* Move st's blobs into place and make the renames durable, last before COMMIT. */
int bento_blob_stage_install(struct bento_blob_stage *st, struct bento_error *err);

/* The digests st holds (st may be NULL), sorted by digest_cmp; caller frees. */
struct bento_digest *bento_blob_stage_digests(const struct bento_blob_stage *st, size_t *n);

#endif
