/*
 * store.c - the local store: SQLite metadata + content-addressed blobs.
 *
 * Two SQLite connections per store.  s->db carries the metadata (objects,
 * tags) with synchronous=FULL: a build that reports success must survive a
 * power cut, and it costs one WAL fsync per metadata transaction (a handful
 * per build).  s->cache carries only the stat cache with synchronous=NORMAL:
 * it is written once per hashed file from several threads, a lost entry
 * costs one re-hash, and in WAL mode NORMAL still never corrupts the file.
 * Each connection has its own mutex so hashing threads do not queue behind
 * a metadata transaction.
 *
 * Blob writers are serialised against gc by the flock on root/lock: every
 * open store holds it shared, gc holds it exclusive, so gc never sees a blob
 * that is staged but whose metadata is not committed yet.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "embedded.h"
#include "fs.h"
#include "history_internal.h"
#include "manifest.h"
#include "sign.h"
#include "store.h"
#include "store_internal.h"

#define DB_FILE "store.db"
#define BUSY_TIMEOUT_MS 30000
/* put_file read size: big enough for few syscalls, small enough to stay in L2 */
#define PUT_BUFSZ (1u << 20)
/* a small file is read in one go from the stack */
#define SMALL_BUFSZ (64u << 10)
/*
 * Blobs of at least PIPE_MIN bytes are written by a helper thread, up to
 * PIPE_SLOTS chunks behind the caller (4 MiB in flight).  PIPE_SLOTSZ is a
 * multiple of any O_DIRECT alignment.
 */
#define PIPE_MIN (16u << 20)
#define PIPE_SLOTS 4
#define PIPE_SLOTSZ (1u << 20)
#define DIRECT_ALIGN 4096u
/*
 * Space is reserved up front (statvfs, fallocate) for blobs of at least
 * RESERVE_MIN bytes: a full disk is then an error before the bytes come.
 * For small blobs the two calls would cost more than the write, and a
 * full disk fails the write just as clearly.
 */
#define RESERVE_MIN (1u << 20)
/* hand written data to writeback every so often so the final fsync is short */
#define WRITEBACK_CHUNK (8u << 20)
/*
 * A file whose ctime is this close to the moment we start reading it is not
 * cached: a same-size rewrite within one timestamp tick (up to 2 s on FAT,
 * 1 s on ext3) would otherwise leave a stale entry (git's "racy clean").
 */
#define RACY_NS (2LL * 1000000000LL)
#define TMP_MAX_AGE 3600
#define AMBIGUOUS_SHOW 5

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
	struct cache_row *pending;	/* rows to write, at the next cache_flush() */
	size_t n_pending, alloc_pending;
};

struct cache_row {
	int64_t dev, ino, size, mtime_ns, ctime_ns;
	struct bento_digest digest;
};

/* rows kept before they are written: bounds the memory of a huge build */
#define CACHE_PENDING_MAX 4096

static void cache_flush(struct bento_store *s);

struct blob_pipe;

struct bento_blob_writer {
	struct bento_store *s;
	int fd;
	char *tmp;
	struct bento_hasher *h;
	uint64_t size;		/* bytes taken */
	uint64_t reserved;	/* bytes fallocated up front */
	uint64_t kicked;	/* bytes already handed to writeback */
	struct blob_pipe *pipe;	/* big blobs: the helper thread that writes */
};

static const char *kind_name(enum bento_kind kind)
{
	return kind == BENTO_KIND_MODEL ? "model" : "bento";
}

static int kind_ok(enum bento_kind kind)
{
	return kind == BENTO_KIND_MODEL || kind == BENTO_KIND_BENTO;
}

static int64_t ts_ns(const struct timespec *t)
{
	return (int64_t)t->tv_sec * 1000000000LL + t->tv_nsec;
}

/* ---- SQLite helpers ---- */

static int db_fail(const struct bento_store *s, sqlite3 *db, const char *what,
		   struct bento_error *err)
{
	return bento_error_set(err, BENTO_E_FAIL, "%s/" DB_FILE ": %s: %s", s->root, what,
			       sqlite3_errmsg(db));
}

static int db_exec(struct bento_store *s, sqlite3 *db, const char *sql, const char *what,
		   struct bento_error *err)
{
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return db_fail(s, db, what, err);
	return 0;
}

static int db_prep(struct bento_store *s, sqlite3 *db, const char *sql, sqlite3_stmt **st,
		   struct bento_error *err)
{
	if (sqlite3_prepare_v2(db, sql, -1, st, NULL) != SQLITE_OK) {
		*st = NULL;
		return db_fail(s, db, "prepare", err);
	}
	return 0;
}

static void bind_digest(sqlite3_stmt *st, int i, const struct bento_digest *d)
{
	char hex[BENTO_DIGEST_STRLEN];

	bento_digest_str(d, hex);
	sqlite3_bind_text(st, i, hex, -1, SQLITE_TRANSIENT);
}

static void bind_str(sqlite3_stmt *st, int i, const char *v)
{
	sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
}

static const char *col_str(sqlite3_stmt *st, int i)
{
	const unsigned char *p = sqlite3_column_text(st, i);
	return p ? (const char *)p : "";
}

static int col_digest(sqlite3_stmt *st, int i, struct bento_digest *d)
{
	return bento_digest_parse(col_str(st, i), d, NULL);
}

static char *col_dup(sqlite3_stmt *st, int i)
{
	return sqlite3_column_type(st, i) == SQLITE_NULL ? NULL : bento_xstrdup(col_str(st, i));
}

static int tx_begin(struct bento_store *s, struct bento_error *err)
{
	return db_exec(s, s->db, "BEGIN IMMEDIATE", "begin transaction", err);
}

static int tx_commit(struct bento_store *s, struct bento_error *err)
{
	return db_exec(s, s->db, "COMMIT", "commit", err);
}

static void tx_rollback(struct bento_store *s)
{
	if (!sqlite3_get_autocommit(s->db))
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

/* ---- for the other modules with tables in store.db (store_internal.h) ---- */

sqlite3 *bento_store_db(struct bento_store *s)
{
	return s->db;
}

void bento_store_lock(struct bento_store *s)
{
	pthread_mutex_lock(&s->mu);
}

void bento_store_unlock(struct bento_store *s)
{
	pthread_mutex_unlock(&s->mu);
}

int bento_store_tx_begin(struct bento_store *s, struct bento_error *err)
{
	return tx_begin(s, err);
}

int bento_store_tx_commit(struct bento_store *s, struct bento_error *err)
{
	return tx_commit(s, err);
}

void bento_store_tx_rollback(struct bento_store *s)
{
	tx_rollback(s);
}

int bento_store_db_fail(struct bento_store *s, const char *what, struct bento_error *err)
{
	return db_fail(s, s->db, what, err);
}

/* ---- opening ---- */

static char *default_root(struct bento_error *err)
{
	const char *e = getenv("BENTO_HOME");

	if (e && *e)
		return bento_xstrdup(e);
	/* The XDG spec says relative values are invalid and must be ignored. */
	e = getenv("XDG_DATA_HOME");
	if (e && *e == '/')
		return bento_xasprintf("%s/bento", e);
	e = getenv("HOME");
	if (e && *e)
		return bento_xasprintf("%s/.local/share/bento", e);
	bento_error_set(err, BENTO_E_USAGE,
			"cannot locate the store: neither BENTO_HOME nor HOME is set");
	return NULL;
}

static int flock_retry(int fd, int op)
{
	while (flock(fd, op) < 0)
		if (errno != EINTR)
			return -errno;
	return 0;
}

static int db_connect(struct bento_store *s, const char *sync, sqlite3 **out,
		      struct bento_error *err)
{
	char *path = bento_xasprintf("%s/" DB_FILE, s->root);
	char *sql = bento_xasprintf("PRAGMA foreign_keys = ON; PRAGMA synchronous = %s", sync);
	sqlite3 *db = NULL;
	int rc = 0, r;

	r = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
			    SQLITE_OPEN_FULLMUTEX, NULL);
	if (r != SQLITE_OK) {
		rc = bento_error_set(err, BENTO_E_FAIL, "%s: cannot open: %s", path,
				     db ? sqlite3_errmsg(db) : sqlite3_errstr(r));
		goto out;
	}
	sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
	/*
	 * Switching a fresh database to WAL needs an exclusive lock, and a
	 * second process doing the same at that moment may get SQLITE_BUSY
	 * without the busy handler being consulted; retry for the same time.
	 */
	for (int i = 0;; i++) {
		r = sqlite3_exec(db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL);
		if (r != SQLITE_BUSY || i >= BUSY_TIMEOUT_MS / 10)
			break;
		usleep(10000);
	}
	if (r != SQLITE_OK) {
		rc = bento_error_set(err, BENTO_E_FAIL, "%s: cannot enable WAL: %s", path,
				     sqlite3_errmsg(db));
		goto out;
	}
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) {
		rc = bento_error_set(err, BENTO_E_FAIL, "%s: %s", path, sqlite3_errmsg(db));
		goto out;
	}
	*out = db;
	db = NULL;
out:
	sqlite3_close(db);
	free(sql);
	free(path);
	return rc;
}

static int user_version(struct bento_store *s, int *v, struct bento_error *err)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = db_prep(s, s->db, "PRAGMA user_version", &st, err)))
		return rc;
	if (sqlite3_step(st) == SQLITE_ROW)
		*v = sqlite3_column_int(st, 0);
	else
		rc = db_fail(s, s->db, "read schema version", err);
	sqlite3_finalize(st);
	return rc;
}

static const struct bento_embedded *schema_step(int v)
{
	char name[64];

	snprintf(name, sizeof(name), "schema/store-%03d.sql", v);
	return bento_embedded_find(name);
}

/*
 * One transaction per step.  The version is read again inside the
 * IMMEDIATE transaction so that two processes opening a fresh store at once
 * both succeed: the second finds the work done.
 */
static int migrate(struct bento_store *s, struct bento_error *err)
{
	int latest = 0, v, rc;

	while (schema_step(latest + 1))
		latest++;
	for (;;) {
		if ((rc = user_version(s, &v, err)))
			return rc;
		if (v > latest)
			return bento_error_set(err, BENTO_E_FAIL,
					       "%s/" DB_FILE ": schema version %d is newer than this bento (%d)",
					       s->root, v, latest);
		if (v == latest)
			return 0;
		if ((rc = tx_begin(s, err)))
			return rc;
		if ((rc = user_version(s, &v, err)))
			goto fail;
		if (v < latest) {
			const struct bento_embedded *e = schema_step(v + 1);
			char setv[64];
			snprintf(setv, sizeof(setv), "PRAGMA user_version = %d", v + 1);
			if (sqlite3_exec(s->db, e->data, NULL, NULL, NULL) != SQLITE_OK ||
			    sqlite3_exec(s->db, setv, NULL, NULL, NULL) != SQLITE_OK) {
				rc = bento_error_set(err, BENTO_E_FAIL,
						     "%s/" DB_FILE ": migration to schema version %d (%s): %s",
						     s->root, v + 1, e->name, sqlite3_errmsg(s->db));
				goto fail;
			}
		}
		if ((rc = tx_commit(s, err)))
			goto fail;
	}
fail:
	tx_rollback(s);
	return rc;
}

int bento_store_open(const char *root, struct bento_store **out, struct bento_error *err)
{
	struct bento_store *s = bento_xcalloc(1, sizeof(*s));
	char *lock = NULL, *db = NULL;
	struct stat st;
	int rc;

	s->lockfd = s->blobfd = -1;
	pthread_mutex_init(&s->mu, NULL);
	pthread_mutex_init(&s->cache_mu, NULL);
	s->root = root ? bento_xstrdup(root) : default_root(err);
	if (!s->root) {
		rc = -BENTO_E_USAGE;
		goto fail;
	}
	for (size_t n = strlen(s->root); n > 1 && s->root[n - 1] == '/'; n--)
		s->root[n - 1] = '\0';
	if (!s->root[0]) {
		rc = bento_error_set(err, BENTO_E_USAGE, "empty store path");
		goto fail;
	}
	s->blobdir = bento_xasprintf("%s/blobs/sha256", s->root);
	s->tmpdir = bento_xasprintf("%s/tmp", s->root);
	lock = bento_xasprintf("%s/lock", s->root);
	s->made_root = stat(s->root, &st) < 0 && errno == ENOENT;
	/*
	 * bento_store_discard may remove a store, lock file included, while we
	 * wait for its lock: what we hold must still be root/lock once we have
	 * it, else start again.
	 */
	for (int tries = 0;; tries++) {
		struct stat held, now;
		if ((rc = bento_mkdir_p(s->root, 0755, err)))
			goto fail;
		s->lockfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
		if (s->lockfd < 0) {
			if (errno == ENOENT && tries < 10)
				continue;
			rc = bento_error_errno(err, errno, "%s", lock);
			goto fail;
		}
		if ((rc = flock_retry(s->lockfd, LOCK_SH))) {
			rc = bento_error_errno(err, -rc, "%s: flock", lock);
			goto fail;
		}
		if (fstat(s->lockfd, &held) == 0 && stat(lock, &now) == 0 &&
		    held.st_dev == now.st_dev && held.st_ino == now.st_ino)
			break;
		close(s->lockfd);
		s->lockfd = -1;
		if (tries >= 10) {
			rc = bento_error_set(err, BENTO_E_FAIL, "%s: removed again and again", lock);
			goto fail;
		}
	}
	db = bento_xasprintf("%s/" DB_FILE, s->root);
	s->made_db = lstat(db, &st) < 0 && errno == ENOENT;
	if ((rc = bento_mkdir_p(s->blobdir, 0755, err)) || (rc = bento_mkdir_p(s->tmpdir, 0755, err)))
		goto fail;
	if ((s->blobfd = open(s->blobdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		rc = bento_error_errno(err, errno, "%s", s->blobdir);
		goto fail;
	}
	if ((rc = db_connect(s, "FULL", &s->db, err)) || (rc = migrate(s, err)) ||
	    (rc = db_connect(s, "NORMAL", &s->cache, err)))
		goto fail;
	if ((rc = db_prep(s, s->cache,
			  "SELECT size, mtime_ns, ctime_ns, digest FROM stat_cache "
			  "WHERE dev = ?1 AND ino = ?2", &s->cache_get, err)) ||
	    (rc = db_prep(s, s->cache,
			  "INSERT OR REPLACE INTO stat_cache (dev, ino, size, mtime_ns, ctime_ns, digest) "
			  "VALUES (?1, ?2, ?3, ?4, ?5, ?6)", &s->cache_put, err)))
		goto fail;
	free(lock);
	free(db);
	*out = s;
	return 0;
fail:
	free(lock);
	free(db);
	bento_store_close(s);
	return rc;
}

void bento_store_close(struct bento_store *s)
{
	if (!s)
		return;
	if (s->cache)
		cache_flush(s);
	free(s->pending);
	sqlite3_finalize(s->cache_get);
	sqlite3_finalize(s->cache_put);
	sqlite3_close(s->cache);
	sqlite3_close(s->db);
	if (s->lockfd >= 0)
		close(s->lockfd);
	if (s->blobfd >= 0)
		close(s->blobfd);
	pthread_mutex_destroy(&s->mu);
	pthread_mutex_destroy(&s->cache_mu);
	free(s->root);
	free(s->blobdir);
	free(s->tmpdir);
	free(s);
}

const char *bento_store_root(const struct bento_store *s)
{
	return s->root;
}

/* ---- blobs ---- */

char *bento_blob_path(const struct bento_store *s, const struct bento_digest *d)
{
	char hex[BENTO_DIGEST_HEXLEN + 1];

	bento_digest_hex(d, hex);
	return bento_xasprintf("%s/%.2s/%s", s->blobdir, hex, hex + 2);
}

int bento_blob_has(const struct bento_store *s, const struct bento_digest *d)
{
	char hex[BENTO_DIGEST_HEXLEN + 1], rel[BENTO_DIGEST_HEXLEN + 2];
	struct stat st;

	/* relative to blobs/sha256, opened once: no walk of the whole path per blob */
	bento_digest_hex(d, hex);
	memcpy(rel, hex, 2);
	rel[2] = '/';
	memcpy(rel + 3, hex + 2, BENTO_DIGEST_HEXLEN - 2 + 1);
	return fstatat(s->blobfd, rel, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
}

int bento_blob_open(const struct bento_store *s, const struct bento_digest *d,
		    int *fd, struct bento_error *err)
{
	char *path = bento_blob_path(s, d);
	int f = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	int rc = 0;

	if (f < 0) {
		char hex[BENTO_DIGEST_STRLEN];
		bento_digest_str(d, hex);
		if (errno == ENOENT)
			rc = bento_error_set(err, BENTO_E_NOTFOUND, "blob %s is not in the store (%s)",
					     hex, path);
		else
			rc = bento_error_errno(err, errno, "blob %s: %s", hex, path);
	} else {
		*fd = f;
	}
	free(path);
	return rc;
}

/*
 * Big blobs: the caller receives or reads and hashes while a helper
 * thread writes what it has handed over, through a ring of PIPE_SLOTS
 * buffers, with O_DIRECT where the filesystem takes it: from the slot
 * straight to the disk, with no page cache pages to allocate, fill and
 * write back (the data must reach the disk before commit anyway).  Through
 * the page cache writing costs about half as much as SHA-256 itself, and
 * on a VM, where each fresh page costs the host a fault, several times
 * more; this way it costs next to nothing and hides behind the hash.
 * What reads a blob again soon (push, containerize, verify) reads it
 * from the disk, which is as fast as those need.  Every slot but the last is
 * full, so slot k starts at k * PIPE_SLOTSZ: aligned for O_DIRECT; the
 * last one's unaligned tail is written through the page cache.
 */
struct blob_pipe {
	pthread_t tid;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned char *mem;		/* PIPE_SLOTS * PIPE_SLOTSZ, aligned */
	size_t len[PIPE_SLOTS];
	size_t fill;			/* bytes in slot (filled % PIPE_SLOTS), not handed over */
	uint64_t filled, drained;	/* slots handed over / written */
	int closed;			/* nothing more comes */
	int werr;			/* -errno of a failed write (or -ECANCELED): stops both sides */
	int dfd;			/* the file opened O_DIRECT, or -1 */
};

static int pwrite_all(int fd, const unsigned char *p, size_t n, uint64_t off)
{
	while (n) {
		ssize_t k = pwrite(fd, p, n, (off_t)off);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		if (k == 0)
			return -EIO;
		p += k, n -= (size_t)k, off += (uint64_t)k;
	}
	return 0;
}

/* Start writeback of what has been written up to end, every WRITEBACK_CHUNK. */
static void writeback_kick(struct bento_blob_writer *w, uint64_t end)
{
#ifdef SYNC_FILE_RANGE_WRITE
	/*
	 * Asynchronously, so the fsync in commit waits for the last few MiB
	 * instead of the whole file.  Advisory: errors surface at fsync.
	 */
	if (end - w->kicked >= WRITEBACK_CHUNK) {
		sync_file_range(w->fd, (off_t)w->kicked, (off_t)(end - w->kicked), SYNC_FILE_RANGE_WRITE);
		w->kicked = end;
	}
#else
	(void)w, (void)end;
#endif
}

/* The helper's write of one slot at off. */
static int slot_write(struct bento_blob_writer *w, const unsigned char *p, size_t n, uint64_t off)
{
	struct blob_pipe *bp = w->pipe;
	size_t direct = bp->dfd >= 0 ? n / DIRECT_ALIGN * DIRECT_ALIGN : 0;
	int rc;

	if (direct && (rc = pwrite_all(bp->dfd, p, direct, off)) < 0) {
		if (rc != -EINVAL)
			return rc;
		/* an alignment this filesystem wants and we do not know: the page cache from here on */
		close(bp->dfd);
		bp->dfd = -1;
		direct = 0;
	}
	if ((rc = pwrite_all(w->fd, p + direct, n - direct, off + direct)) < 0)
		return rc;
	if (n > direct)
		writeback_kick(w, off + n);
	return 0;
}

static void *pipe_main(void *arg)
{
	struct bento_blob_writer *w = arg;
	struct blob_pipe *bp = w->pipe;

	pthread_mutex_lock(&bp->mu);
	for (;;) {
		while (bp->drained == bp->filled && !bp->closed && !bp->werr)
			pthread_cond_wait(&bp->cv, &bp->mu);
		if (bp->werr || bp->drained == bp->filled)
			break;
		size_t i = (size_t)(bp->drained % PIPE_SLOTS);
		uint64_t off = bp->drained * PIPE_SLOTSZ;
		pthread_mutex_unlock(&bp->mu);
		int rc = slot_write(w, bp->mem + i * PIPE_SLOTSZ, bp->len[i], off);
		pthread_mutex_lock(&bp->mu);
		bp->drained++;
		if (rc && !bp->werr)
			bp->werr = rc;
		pthread_cond_broadcast(&bp->cv);
	}
	pthread_mutex_unlock(&bp->mu);
	return NULL;
}

static void pipe_start(struct bento_blob_writer *w)
{
	struct blob_pipe *bp = bento_xcalloc(1, sizeof(*bp));
	void *mem = NULL;

	if (posix_memalign(&mem, DIRECT_ALIGN, (size_t)PIPE_SLOTS * PIPE_SLOTSZ) != 0) {
		free(bp);
		return;	/* without a pipe the caller's thread writes */
	}
	bp->mem = mem;
	bp->dfd = open(w->tmp, O_WRONLY | O_DIRECT | O_CLOEXEC);
	pthread_mutex_init(&bp->mu, NULL);
	pthread_cond_init(&bp->cv, NULL);
	w->pipe = bp;
	if (pthread_create(&bp->tid, NULL, pipe_main, w) != 0) {
		w->pipe = NULL;
		pthread_cond_destroy(&bp->cv);
		pthread_mutex_destroy(&bp->mu);
		if (bp->dfd >= 0)
			close(bp->dfd);
		free(bp->mem);
		free(bp);
	}
}

/* Room in the slot being filled (waiting for the helper when all are in flight); NULL after a write failed. */
static unsigned char *pipe_room(struct blob_pipe *bp, size_t *room)
{
	size_t i = (size_t)(bp->filled % PIPE_SLOTS);

	if (bp->fill == 0) {
		pthread_mutex_lock(&bp->mu);
		while (bp->filled - bp->drained == PIPE_SLOTS && !bp->werr)
			pthread_cond_wait(&bp->cv, &bp->mu);
		int stop = bp->werr != 0;
		pthread_mutex_unlock(&bp->mu);
		if (stop)
			return NULL;
	}
	*room = PIPE_SLOTSZ - bp->fill;
	return bp->mem + i * PIPE_SLOTSZ + bp->fill;
}

/* Hand the slot being filled over to the helper. */
static void pipe_submit(struct blob_pipe *bp)
{
	pthread_mutex_lock(&bp->mu);
	bp->len[bp->filled % PIPE_SLOTS] = bp->fill;
	bp->filled++;
	bp->fill = 0;
	pthread_cond_broadcast(&bp->cv);
	pthread_mutex_unlock(&bp->mu);
}

/* n bytes were put at pipe_room's pointer. */
static void pipe_added(struct blob_pipe *bp, size_t n)
{
	bp->fill += n;
	if (bp->fill == PIPE_SLOTSZ)
		pipe_submit(bp);
}

/* Write what is left (unless cancel), stop the helper, free the pipe: 0 or the first write's -errno. */
static int pipe_stop(struct bento_blob_writer *w, int cancel)
{
	struct blob_pipe *bp = w->pipe;
	int rc;

	if (!bp)
		return 0;
	if (bp->fill && !cancel)
		pipe_submit(bp);
	pthread_mutex_lock(&bp->mu);
	bp->closed = 1;
	if (cancel && !bp->werr)
		bp->werr = -ECANCELED;
	pthread_cond_broadcast(&bp->cv);
	pthread_mutex_unlock(&bp->mu);
	pthread_join(bp->tid, NULL);
	rc = bp->werr;
	if (bp->dfd >= 0)
		close(bp->dfd);
	pthread_cond_destroy(&bp->cv);
	pthread_mutex_destroy(&bp->mu);
	free(bp->mem);
	free(bp);
	w->pipe = NULL;
	return rc;
}

int bento_blob_writer_new(struct bento_store *s, struct bento_blob_writer **out,
			  struct bento_error *err)
{
	return bento_blob_writer_open(s, 0, out, err);
}

int bento_blob_writer_open(struct bento_store *s, uint64_t size, struct bento_blob_writer **out,
			   struct bento_error *err)
{
	struct bento_blob_writer *w = bento_xcalloc(1, sizeof(*w));
	int rc;

	w->s = s;
	w->tmp = bento_xasprintf("%s/blob.XXXXXX", s->tmpdir);
	w->fd = mkostemp(w->tmp, O_CLOEXEC);
	if (w->fd < 0) {
		rc = bento_error_errno(err, errno, "%s: cannot create a staging file", w->tmp);
		free(w->tmp);
		free(w);
		return rc;
	}
	/*
	 * The space up front: a full disk says so before the bytes come, not
	 * halfway.  Free space is looked at first: ext4 fills the disk with a
	 * fallocate that cannot fit before it fails.
	 */
	if (size >= RESERVE_MIN) {
		struct statvfs sv;
		int e = 0;

		if (fstatvfs(w->fd, &sv) == 0 && size > (uint64_t)sv.f_bavail * sv.f_frsize)
			e = ENOSPC;
		else if (fallocate(w->fd, FALLOC_FL_KEEP_SIZE, 0, (off_t)size) == 0)
			w->reserved = size;
		else if (errno == ENOSPC || errno == EDQUOT)
			e = errno;
		if (e) {
			rc = bento_error_errno(err, e, "%s: cannot reserve %llu bytes for a staging file",
					       w->tmp, (unsigned long long)size);
			close(w->fd);
			unlink(w->tmp);
			free(w->tmp);
			free(w);
			return rc;
		}
	}
	w->h = bento_hasher_new();
	if (size >= PIPE_MIN)
		pipe_start(w);
	*out = w;
	return 0;
}

/* Append without hashing, in the caller's thread or through the pipe. */
static int writer_append(struct bento_blob_writer *w, const void *p, size_t n)
{
	const unsigned char *s = p;
	int rc;

	if (!w->pipe) {
		if ((rc = bento_write_all(w->fd, p, n)))
			return rc;
		w->size += n;
		writeback_kick(w, w->size);
		return 0;
	}
	while (n) {
		size_t room, k;
		unsigned char *dst = pipe_room(w->pipe, &room);

		if (!dst)
			return w->pipe->werr;
		k = room < n ? room : n;
		memcpy(dst, s, k);
		pipe_added(w->pipe, k);
		w->size += k;
		s += k, n -= k;
	}
	return 0;
}

int bento_blob_write(struct bento_blob_writer *w, const void *p, size_t n,
		     struct bento_error *err)
{
	return bento_blob_write2(w, p, n, NULL, err);
}

int bento_blob_write2(struct bento_blob_writer *w, const void *p, size_t n,
		      struct bento_hasher *also, struct bento_error *err)
{
	int rc;

	if (also)
		bento_hasher_update2(w->h, also, p, n);
	else
		bento_hasher_update(w->h, p, n);
	if ((rc = writer_append(w, p, n)))
		return bento_error_errno(err, -rc, "%s: write", w->tmp);
	return 0;
}

void bento_blob_writer_abort(struct bento_blob_writer *w)
{
	if (!w)
		return;
	pipe_stop(w, 1);
	if (w->fd >= 0)
		close(w->fd);
	if (w->tmp)
		unlink(w->tmp);
	free(w->tmp);
	bento_hasher_free(w->h);
	free(w);
}

/*
 * Move the finished temp file *tmp into place as the blob d; *tmp is freed
 * on success.  Its bytes must be durable already.  Unless batch, the
 * rename is made durable too (the directory fsynced); a batch makes all its
 * renames durable at once, with store_sync(), and batch is its bitmap of
 * the blobs/sha256/XX directories known to exist.
 */
static int blob_install(struct bento_store *s, char **tmp, const char *what,
			const struct bento_digest *d, unsigned char *batch, struct bento_error *err)
{
	char hex[BENTO_DIGEST_HEXLEN + 1];
	char *dir, *path;
	int rc = 0, made_dir = 0;
	unsigned fan = d->raw[0];

	bento_digest_hex(d, hex);
	dir = bento_xasprintf("%s/%.2s", s->blobdir, hex);
	path = bento_xasprintf("%s/%s", dir, hex + 2);
	if (batch && (batch[fan / 8] & (1u << (fan % 8))))
		;	/* this batch saw the directory already */
	else if (mkdir(dir, 0755) == 0)
		made_dir = 1;
	else if (errno != EEXIST) {
		rc = bento_error_errno(err, errno, "%s: %s: cannot create directory", what, dir);
		goto out;
	}
	if (batch)
		batch[fan / 8] |= (unsigned char)(1u << (fan % 8));
	if ((rc = bento_rename_noreplace(*tmp, path)) == -EEXIST) {
		/* another writer stored the same content first */
		unlink(*tmp);
		rc = 0;
		goto done;
	}
	if (rc) {
		rc = bento_error_errno(err, -rc, "%s: cannot move %s to %s", what, *tmp, path);
		goto out;
	}
	if (!batch &&
	    ((rc = bento_fsync_dir(dir)) || (made_dir && (rc = bento_fsync_dir(s->blobdir))))) {
		rc = bento_error_errno(err, -rc, "%s: fsync %s", what, dir);
		goto out;
	}
done:
	free(*tmp);
	*tmp = NULL;
out:
	free(dir);
	free(path);
	return rc;
}

/*
 * Everything written to the store's file system so far reaches the disk:
 * syncfs(2), one call for a whole batch of blobs (as OSTree commits a
 * transaction).  Measured on ext4 (a 20,000-file build, best of 4): 1.4 s
 * with syncfs, 4.4 s with an fdatasync of every staged file from 32
 * threads, 6.3 s from 8: each fdatasync is a journal commit and a disk
 * cache flush of its own, syncfs one of each for the batch.  Its cost is
 * what else is dirty on the file system, which a store on a busy disk
 * shares with every other writer.
 */
static int store_sync(struct bento_store *s, const char *what, struct bento_error *err)
{
	return bento_syncfs(s->tmpdir, what, err);
}

/*
 * Check the digest and make the temp file read-only, and durable when sync
 * (a stage makes all its files durable at once).  *present is set when the
 * blob is already stored (then nothing is synced).
 */
static int writer_finish(struct bento_blob_writer *w, const char *what,
			 const struct bento_digest *expect, struct bento_digest *d,
			 int *present, int sync, struct bento_error *err)
{
	int rc = pipe_stop(w, 0);

	if (rc)
		return bento_error_errno(err, -rc, "%s: write %s", what, w->tmp);
	/* Blocks reserved beyond what came (the caller's size was a hint) go back. */
	if (w->reserved > w->size && ftruncate(w->fd, (off_t)w->size) < 0)
		return bento_error_errno(err, errno, "%s: truncate %s", what, w->tmp);
	bento_hasher_final(w->h, d);
	*present = 0;
	if (expect && !bento_digest_eq(expect, d))
		return bento_digest_mismatch(err, what, expect, d);
	/* Already stored: skip the fsync, which for big files is most of the cost. */
	if (bento_blob_has(w->s, d)) {
		*present = 1;
		return 0;
	}
	if (sync && fdatasync(w->fd) < 0)
		return bento_error_errno(err, errno, "%s: fsync %s", what, w->tmp);
	if (fchmod(w->fd, 0444) < 0)
		return bento_error_errno(err, errno, "%s: chmod %s", what, w->tmp);
	if (close(w->fd) < 0) {
		w->fd = -1;
		return bento_error_errno(err, errno, "%s: close %s", what, w->tmp);
	}
	w->fd = -1;
	return 0;
}

int bento_blob_writer_commit(struct bento_blob_writer *w, const char *what,
			     const struct bento_digest *expect,
			     struct bento_digest *out, uint64_t *size,
			     struct bento_error *err)
{
	struct bento_digest d;
	int present, rc;

	if (!what)
		what = "blob";
	rc = writer_finish(w, what, expect, &d, &present, 1, err);
	if (rc == 0 && !present)
		rc = blob_install(w->s, &w->tmp, what, &d, NULL, err);
	if (rc == 0) {
		if (out)
			*out = d;
		if (size)
			*size = w->size;
	}
	bento_blob_writer_abort(w);
	return rc;
}

struct staged {
	char *tmp;
	char *what;
	struct bento_digest digest;
};

struct bento_blob_stage {
	struct bento_store *s;
	pthread_mutex_t lock;	/* builds stage from several threads */
	struct staged *v;
	size_t n, alloc;
	int sorted;		/* v is sorted by digest (bento_blob_stage_path) */
};

struct bento_blob_stage *bento_blob_stage_new(struct bento_store *s)
{
	struct bento_blob_stage *st = bento_xcalloc(1, sizeof(*st));

	st->s = s;
	pthread_mutex_init(&st->lock, NULL);
	return st;
}

int bento_blob_writer_stage(struct bento_blob_writer *w, struct bento_blob_stage *st,
			    const char *what, const struct bento_digest *expect,
			    struct bento_digest *out, struct bento_error *err)
{
	struct bento_digest d;
	int present, rc = writer_finish(w, what, expect, &d, &present, 0, err);

	if (rc == 0 && out)
		*out = d;
	if (rc == 0 && !present) {
		pthread_mutex_lock(&st->lock);
		if (st->n == st->alloc) {
			st->alloc = st->alloc ? 2 * st->alloc : 16;
			st->v = bento_xrealloc(st->v, st->alloc * sizeof(*st->v));
		}
		st->v[st->n].tmp = w->tmp;
		st->v[st->n].what = bento_xstrdup(what);
		st->v[st->n].digest = d;
		st->n++;
		st->sorted = 0;
		pthread_mutex_unlock(&st->lock);
		w->tmp = NULL;	/* the stage owns the file now */
	}
	bento_blob_writer_abort(w);
	return rc;
}

/*
 * Make every staged blob durable at once (before bento_store_commit takes
 * the database's lock: this is the slow part), then, inside its
 * transaction and last before COMMIT, move them all into place and make
 * the renames durable at once: after a crash at any point a blob at its
 * name is whole, and all are on disk before the metadata naming them is.
 */
static int stage_sync(struct bento_blob_stage *st, struct bento_error *err)
{
	return st && st->n ? store_sync(st->s, "staged blobs", err) : 0;
}

static int stage_install(struct bento_blob_stage *st, struct bento_error *err)
{
	unsigned char dirs[256 / 8] = { 0 };
	int rc;

	if (st->n == 0)
		return 0;
	for (size_t i = 0; i < st->n; i++) {
		if (!st->v[i].tmp)
			continue;
		if ((rc = blob_install(st->s, &st->v[i].tmp, st->v[i].what, &st->v[i].digest,
				       dirs, err)))
			return rc;
	}
	return store_sync(st->s, "blobs", err);
}

static int digest_cmp(const void *a, const void *b)
{
	return memcmp(((const struct bento_digest *)a)->raw, ((const struct bento_digest *)b)->raw,
		      BENTO_DIGEST_RAWLEN);
}

/* The digests of what st holds, sorted (for put_check_blobs); caller frees. */
static struct bento_digest *stage_digests(const struct bento_blob_stage *st, size_t *n)
{
	struct bento_digest *v = bento_xcalloc(st ? st->n + 1 : 1, sizeof(*v));

	*n = 0;
	for (size_t i = 0; st && i < st->n; i++)
		if (st->v[i].tmp)
			v[(*n)++] = st->v[i].digest;
	qsort(v, *n, sizeof(*v), digest_cmp);
	return v;
}

static int staged_cmp(const void *a, const void *b)
{
	return digest_cmp(&((const struct staged *)a)->digest, &((const struct staged *)b)->digest);
}

char *bento_blob_stage_path(struct bento_blob_stage *st, const struct bento_digest *d)
{
	struct staged key = { .digest = *d }, *hit = NULL;

	pthread_mutex_lock(&st->lock);
	if (st->n && !st->sorted) {
		qsort(st->v, st->n, sizeof(*st->v), staged_cmp);
		st->sorted = 1;
	}
	if (st->n)
		hit = bsearch(&key, st->v, st->n, sizeof(*st->v), staged_cmp);
	pthread_mutex_unlock(&st->lock);
	return hit && hit->tmp ? bento_xstrdup(hit->tmp) : bento_blob_path(st->s, d);
}

void bento_blob_stage_free(struct bento_blob_stage *st)
{
	if (!st)
		return;
	for (size_t i = 0; i < st->n; i++) {
		if (st->v[i].tmp)
			unlink(st->v[i].tmp);
		free(st->v[i].tmp);
		free(st->v[i].what);
	}
	free(st->v);
	pthread_mutex_destroy(&st->lock);
	free(st);
}

/*
 * The stat cache is read and written on its own connection.  A command
 * looks up many files: the lookups share one read transaction (not one
 * each, with its locks), and what it learns is written at once, in one
 * transaction, by cache_flush() (from bento_store_commit() and
 * bento_store_close(), and every CACHE_PENDING_MAX rows).
 */

/* The cached digest of the file described by st, if any. */
static int cache_lookup(struct bento_store *s, const struct stat *st, struct bento_digest *d)
{
	sqlite3_stmt *q = s->cache_get;
	int hit = 0;

	pthread_mutex_lock(&s->cache_mu);
	if (!s->cache_reading)
		s->cache_reading = sqlite3_exec(s->cache, "BEGIN", NULL, NULL, NULL) == SQLITE_OK;
	sqlite3_bind_int64(q, 1, (sqlite3_int64)st->st_dev);
	sqlite3_bind_int64(q, 2, (sqlite3_int64)st->st_ino);
	if (sqlite3_step(q) == SQLITE_ROW &&
	    sqlite3_column_int64(q, 0) == (sqlite3_int64)st->st_size &&
	    sqlite3_column_int64(q, 1) == ts_ns(&st->st_mtim) &&
	    sqlite3_column_int64(q, 2) == ts_ns(&st->st_ctim) &&
	    col_digest(q, 3, d) == 0)
		hit = 1;
	sqlite3_reset(q);
	sqlite3_clear_bindings(q);
	pthread_mutex_unlock(&s->cache_mu);
	return hit;
}

/* Remember st's digest, for cache_flush(). */
static void cache_store(struct bento_store *s, const struct stat *st, const struct bento_digest *d)
{
	struct cache_row *r;
	int full;

	pthread_mutex_lock(&s->cache_mu);
	if (s->n_pending == s->alloc_pending) {
		s->alloc_pending = s->alloc_pending ? 2 * s->alloc_pending : 64;
		s->pending = bento_xrealloc(s->pending, s->alloc_pending * sizeof(*s->pending));
	}
	r = &s->pending[s->n_pending++];
	r->dev = (int64_t)st->st_dev;
	r->ino = (int64_t)st->st_ino;
	r->size = (int64_t)st->st_size;
	r->mtime_ns = ts_ns(&st->st_mtim);
	r->ctime_ns = ts_ns(&st->st_ctim);
	r->digest = *d;
	full = s->n_pending >= CACHE_PENDING_MAX;
	pthread_mutex_unlock(&s->cache_mu);
	if (full)
		cache_flush(s);
}

/* End the read transaction and write what cache_store() kept.  Best effort:
 * the cache is a hint, and a row not written only costs a re-hash. */
static void cache_flush(struct bento_store *s)
{
	sqlite3_stmt *q = s->cache_put;

	pthread_mutex_lock(&s->cache_mu);
	if (s->cache_reading)
		sqlite3_exec(s->cache, "COMMIT", NULL, NULL, NULL);
	s->cache_reading = 0;
	if (s->n_pending && sqlite3_exec(s->cache, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK) {
		for (size_t i = 0; i < s->n_pending; i++) {
			const struct cache_row *r = &s->pending[i];

			sqlite3_bind_int64(q, 1, r->dev);
			sqlite3_bind_int64(q, 2, r->ino);
			sqlite3_bind_int64(q, 3, r->size);
			sqlite3_bind_int64(q, 4, r->mtime_ns);
			sqlite3_bind_int64(q, 5, r->ctime_ns);
			bind_digest(q, 6, &r->digest);
			sqlite3_step(q);
			sqlite3_reset(q);
			sqlite3_clear_bindings(q);
		}
		if (sqlite3_exec(s->cache, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
			sqlite3_exec(s->cache, "ROLLBACK", NULL, NULL, NULL);
	}
	s->n_pending = 0;
	pthread_mutex_unlock(&s->cache_mu);
}

static ssize_t pread_retry(int fd, void *buf, size_t n, uint64_t off)
{
	ssize_t k;

	do
		k = pread(fd, buf, n, (off_t)off);
	while (k < 0 && errno == EINTR);
	return k < 0 ? -errno : k;
}

/* Small files: read, hash and write in the calling thread, up to size bytes
 * (the caller's fstat afterwards sees a file that grew or shrank). */
static int copy_simple(struct bento_blob_writer *w, int fd, uint64_t size, const char *what,
		       uint64_t *total, struct bento_error *err)
{
	unsigned char small[SMALL_BUFSZ];
	unsigned char *buf = size < sizeof(small) ? small : bento_xmalloc(PUT_BUFSZ);
	size_t bufsz = buf == small ? sizeof(small) : PUT_BUFSZ;
	uint64_t off = 0;
	ssize_t n = 0;
	int rc = 0;

	/* size + 1 for a file that is empty or that grew: the read sees it */
	while (off <= size && (n = pread_retry(fd, buf, bufsz, off)) > 0) {
		bento_hasher_update(w->h, buf, (size_t)n);
		if ((rc = writer_append(w, buf, (size_t)n))) {
			rc = bento_error_errno(err, -rc, "%s: write %s", what, w->tmp);
			break;
		}
		off += (uint64_t)n;
		if (off == size)
			break;
	}
	if (n < 0)
		rc = bento_error_errno(err, (int)-n, "%s: read", what);
	if (buf != small)
		free(buf);
	*total = off;
	return rc;
}

/* Big files: read straight into the pipe's slots, hash, hand over. */
static int copy_piped(struct bento_blob_writer *w, int fd, const char *what, uint64_t *total,
		      struct bento_error *err)
{
	uint64_t off = 0;
	int rc = 0;

	for (;;) {
		size_t room;
		unsigned char *dst = pipe_room(w->pipe, &room);
		ssize_t n;

		if (!dst) {
			rc = bento_error_errno(err, -w->pipe->werr, "%s: write %s", what, w->tmp);
			break;
		}
		n = pread_retry(fd, dst, room, off);
		if (n < 0) {
			rc = bento_error_errno(err, (int)-n, "%s: read", what);
			break;
		}
		if (n == 0)
			break;
		bento_hasher_update(w->h, dst, (size_t)n);
		pipe_added(w->pipe, (size_t)n);
		w->size += (uint64_t)n;
		off += (uint64_t)n;
	}
	*total = off;
	return rc;
}

int bento_blob_cached(struct bento_store *s, const struct stat *st, struct bento_digest *out)
{
	struct bento_digest d;

	if (!S_ISREG(st->st_mode) || !cache_lookup(s, st, &d) || !bento_blob_has(s, &d))
		return 0;
	*out = d;
	return 1;
}

int bento_blob_put_file(struct bento_store *s, struct bento_blob_stage *stage, int fd,
			const struct stat *st, const char *what, struct bento_digest *out,
			struct bento_error *err)
{
	struct bento_blob_writer *w = NULL;
	struct bento_digest d;
	struct timespec start;
	struct stat after;
	uint64_t total = 0;
	int rc;

	if (!what)
		what = "file";
	if (!S_ISREG(st->st_mode))
		return bento_error_set(err, BENTO_E_INVALID, "%s: not a regular file", what);
	if (bento_blob_cached(s, st, out)) {
		if (!stage)
			cache_flush(s);
		return 0;
	}
	clock_gettime(CLOCK_REALTIME, &start);
	if (st->st_size >= SMALL_BUFSZ)
		posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	if ((rc = bento_blob_writer_open(s, (uint64_t)st->st_size, &w, err)))
		return rc;
	/* pread throughout: the caller's file offset does not matter */
	if (w->pipe)
		rc = copy_piped(w, fd, what, &total, err);
	else
		rc = copy_simple(w, fd, (uint64_t)st->st_size, what, &total, err);
	if (rc)
		goto fail;
	if (fstat(fd, &after) < 0) {
		rc = bento_error_errno(err, errno, "%s: fstat", what);
		goto fail;
	}
	if (after.st_size != st->st_size || total != (uint64_t)st->st_size ||
	    ts_ns(&after.st_mtim) != ts_ns(&st->st_mtim)) {
		rc = bento_error_set(err, BENTO_E_FAIL, "%s: file changed while reading", what);
		goto fail;
	}
	rc = stage ? bento_blob_writer_stage(w, stage, what, NULL, &d, err)
		   : bento_blob_writer_commit(w, what, NULL, &d, NULL, err);
	w = NULL;
	if (rc)
		return rc;
	if (ts_ns(&after.st_ctim) == ts_ns(&st->st_ctim) &&
	    ts_ns(&st->st_ctim) + RACY_NS <= ts_ns(&start) &&
	    ts_ns(&st->st_mtim) + RACY_NS <= ts_ns(&start))
		cache_store(s, st, &d);
	if (!stage)
		cache_flush(s);	/* without a stage each call is one transaction */
	*out = d;
	return 0;
fail:
	bento_blob_writer_abort(w);
	return rc;
}

/* ---- objects and tags ---- */

static int name_check(enum bento_kind kind, const char *name, const char *version,
		      struct bento_error *err)
{
	if (!kind_ok(kind))
		return bento_error_set(err, BENTO_E_USAGE, "unknown object kind %d", (int)kind);
	if (!name || !*name || !version || !*version)
		return bento_error_set(err, BENTO_E_USAGE, "%s tag '%s:%s': empty name or version",
				       kind_name(kind), name ? name : "", version ? version : "");
	/* resolve splits a reference at its first ':' */
	if (strchr(name, ':'))
		return bento_error_set(err, BENTO_E_USAGE, "%s name '%s': cannot contain ':'",
				       kind_name(kind), name);
	return 0;
}

/* Object id and kind of digest d; 0 when absent. */
static int object_find(struct bento_store *s, const struct bento_digest *d, int64_t *id,
		       int *kind, struct bento_error *err)
{
	sqlite3_stmt *st;
	int rc;

	*id = 0;
	if ((rc = db_prep(s, s->db, "SELECT id, kind FROM objects WHERE digest = ?1", &st, err)))
		return rc;
	bind_digest(st, 1, d);
	switch (sqlite3_step(st)) {
	case SQLITE_ROW:
		*id = sqlite3_column_int64(st, 0);
		*kind = sqlite3_column_int(st, 1);
		break;
	case SQLITE_DONE:
		break;
	default:
		rc = db_fail(s, s->db, "look up object", err);
	}
	sqlite3_finalize(st);
	return rc;
}

/* Run a statement that returns no rows (binding done by the caller). */
static int step_done(struct bento_store *s, sqlite3_stmt *st, const char *what,
		     struct bento_error *err)
{
	int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_fail(s, s->db, what, err);
	sqlite3_finalize(st);
	return rc;
}

static int64_t query_int(struct bento_store *s, sqlite3_stmt *st, int *rc,
			 struct bento_error *err)
{
	int64_t v = 0;

	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	else
		*rc = db_fail(s, s->db, "query", err);
	sqlite3_finalize(st);
	return v;
}

/*
 * Delete object id if no tag names it any more.  A model that bentos still
 * use stays (and the call fails) unless force, which drops the dependency
 * rows: the bentos then reference a model the store no longer has.
 */
static int object_drop_if_untagged(struct bento_store *s, int64_t id, const char *label,
				   int force, const char *hint, struct bento_error *err)
{
	sqlite3_stmt *st;
	int64_t tags, users;
	int rc = 0;

	if ((rc = db_prep(s, s->db, "SELECT count(*) FROM tags WHERE object_id = ?1", &st, err)))
		return rc;
	sqlite3_bind_int64(st, 1, id);
	tags = query_int(s, st, &rc, err);
	if (rc || tags > 0)
		return rc;
	if ((rc = db_prep(s, s->db,
			  "SELECT count(*) FROM object_deps d JOIN tags t ON t.object_id = d.bento_id "
			  "WHERE d.model_id = ?1", &st, err)))
		return rc;
	sqlite3_bind_int64(st, 1, id);
	users = query_int(s, st, &rc, err);
	if (rc)
		return rc;
	if (users > 0 && !force) {
		if ((rc = db_prep(s, s->db,
				  "SELECT t.name, t.version FROM object_deps d "
				  "JOIN tags t ON t.object_id = d.bento_id "
				  "WHERE d.model_id = ?1 ORDER BY t.seq DESC LIMIT 1", &st, err)))
			return rc;
		sqlite3_bind_int64(st, 1, id);
		if (sqlite3_step(st) == SQLITE_ROW) {
			char more[64] = "";
			if (users > 1)
				snprintf(more, sizeof(more), " (and %lld more)", (long long)users - 1);
			rc = bento_error_set(err, BENTO_E_INUSE,
					     "model %s is used by bento %s:%s%s; %s", label,
					     col_str(st, 0), col_str(st, 1), more, hint);
		} else {
			rc = db_fail(s, s->db, "look up model users", err);
		}
		sqlite3_finalize(st);
		return rc;
	}
	if ((rc = db_prep(s, s->db, "DELETE FROM object_deps WHERE model_id = ?1", &st, err)))
		return rc;
	sqlite3_bind_int64(st, 1, id);
	if ((rc = step_done(s, st, "delete model uses", err)))
		return rc;
	if ((rc = db_prep(s, s->db, "DELETE FROM objects WHERE id = ?1", &st, err)))
		return rc;
	sqlite3_bind_int64(st, 1, id);
	return step_done(s, st, "delete object", err);
}

/* Point name:version at object id (inside a transaction). */
static int tag_set(struct bento_store *s, enum bento_kind kind, int64_t id,
		   const char *name, const char *version, int replace, struct bento_error *err)
{
	sqlite3_stmt *st;
	int64_t old = 0;
	char old_digest[BENTO_DIGEST_STRLEN] = "";
	int rc;

	if ((rc = db_prep(s, s->db,
			  "SELECT t.object_id, o.digest FROM tags t JOIN objects o ON o.id = t.object_id "
			  "WHERE t.kind = ?1 AND t.name = ?2 AND t.version = ?3", &st, err)))
		return rc;
	sqlite3_bind_int(st, 1, kind);
	bind_str(st, 2, name);
	bind_str(st, 3, version);
	if (sqlite3_step(st) == SQLITE_ROW) {
		old = sqlite3_column_int64(st, 0);
		snprintf(old_digest, sizeof(old_digest), "%s", col_str(st, 1));
	}
	sqlite3_finalize(st);
	if (old == id)
		return 0;
	if (old && !replace)
		return bento_error_set(err, BENTO_E_EXISTS,
				       "%s:%s already exists (%s); use a new version or --force",
				       name, version, old_digest);
	if (old)
		rc = db_prep(s, s->db,
			     "UPDATE tags SET object_id = ?4, added = ?5, "
			     "seq = (SELECT max(seq) + 1 FROM tags) "
			     "WHERE kind = ?1 AND name = ?2 AND version = ?3", &st, err);
	else
		rc = db_prep(s, s->db,
			     "INSERT INTO tags (kind, name, version, object_id, added, seq) "
			     "VALUES (?1, ?2, ?3, ?4, ?5, (SELECT coalesce(max(seq), 0) + 1 FROM tags))",
			     &st, err);
	if (rc)
		return rc;
	sqlite3_bind_int(st, 1, kind);
	bind_str(st, 2, name);
	bind_str(st, 3, version);
	sqlite3_bind_int64(st, 4, id);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)time(NULL));
	if ((rc = step_done(s, st, "set tag", err)) || !old)
		return rc;
	/* Replacing a tag never silently breaks the bentos that use the old model. */
	char label[1024];
	snprintf(label, sizeof(label), "%s:%s (%s)", name, version, old_digest);
	return object_drop_if_untagged(s, old, label, 0, "delete those first", err);
}

/* Each blob p lists is present or among staged (sorted, n of them). */
static int put_check_blobs(struct bento_store *s, const struct bento_object_put *p,
			   const struct bento_digest *staged, size_t n, struct bento_error *err)
{
	for (size_t i = 0; i < p->n_blobs; i++) {
		if (!bsearch(&p->blobs[i], staged, n, sizeof(*staged), digest_cmp) &&
		    !bento_blob_has(s, &p->blobs[i])) {
			char hex[BENTO_DIGEST_STRLEN];
			bento_digest_str(&p->blobs[i], hex);
			return bento_error_set(err, BENTO_E_NOTFOUND,
					       "%s %s:%s: blob %s is not in the store",
					       kind_name(p->kind), p->name, p->version, hex);
		}
	}
	return 0;
}

struct attach_table {
	const char *what;		/* "signature" */
	const char *insert;		/* object_id, name, data, added */
	const char *select;		/* name, data of an object_id, sorted by name */
};

/*
 * The same bytes again (a re-import, a re-pull) change nothing, not even
 * the time they were added; other bytes under the same name replace them.
 */
static const struct attach_table signatures = {
	"signature",
	"INSERT INTO signatures (object_id, keyid, data, added) VALUES (?1, ?2, ?3, ?4) "
	"ON CONFLICT (object_id, keyid) DO UPDATE SET data = excluded.data, added = excluded.added "
	"WHERE data IS NOT excluded.data",
	"SELECT keyid, data FROM signatures WHERE object_id = ?1 ORDER BY keyid",
};

static const struct attach_table attestations = {
	"attestation",
	"INSERT INTO attestations (object_id, name, data, added) VALUES (?1, ?2, ?3, ?4) "
	"ON CONFLICT (object_id, name) DO UPDATE SET data = excluded.data, added = excluded.added "
	"WHERE data IS NOT excluded.data",
	"SELECT name, data FROM attestations WHERE object_id = ?1 ORDER BY name",
};

/* ---- what a bento may carry (store.h) ---- */

static int tally_check(const struct bento_attachment_tally *t, struct bento_error *err)
{
	if (t->sigs > BENTO_ATTACHMENTS_MAX || t->atts > BENTO_ATTACHMENTS_MAX)
		return bento_error_set(err, BENTO_E_VERIFY, "more than the %d %s a bento may carry",
				       BENTO_ATTACHMENTS_MAX,
				       t->sigs > BENTO_ATTACHMENTS_MAX ? "signatures" : "attestations");
	if (t->bytes > BENTO_ATTACHMENTS_BYTES)
		return bento_error_set(err, BENTO_E_VERIFY,
				       "more than the %u bytes (%u MiB) of signatures and attestations"
				       " a bento may carry", BENTO_ATTACHMENTS_BYTES,
				       BENTO_ATTACHMENTS_BYTES >> 20);
	return 0;
}

int bento_attachment_admit(struct bento_attachment_tally *t, int is_sig, const char *file,
			   uint64_t size, struct bento_error *err)
{
	struct bento_attachment_tally next = *t;
	uint64_t cap = is_sig ? BENTO_SIG_MAX : BENTO_ATTESTATION_MAX;
	int rc = is_sig ? bento_signature_check(NULL, file, NULL, NULL, err)
			: bento_attestation_name_check(file, err);

	if (rc) {
		if (err)
			err->code = -BENTO_E_UNSAFE;
		return -BENTO_E_UNSAFE;
	}
	if (size > cap)
		return bento_error_set(err, BENTO_E_VERIFY, "%llu bytes, more than the %llu %s may have",
				       (unsigned long long)size, (unsigned long long)cap,
				       is_sig ? "a signature" : "an attestation");
	if (is_sig)
		next.sigs++;
	else
		next.atts++;
	next.bytes += size;	/* size is at most cap: no overflow */
	if ((rc = tally_check(&next, err)))
		return rc;
	*t = next;
	return 0;
}

/* One kind of attachment: each admitted, none twice, none empty or with a NUL byte. */
static int attachments_check_kind(struct bento_attachment_tally *t, int is_sig,
				  const struct bento_attachment *v, size_t n, struct bento_error *err)
{
	const char *what = is_sig ? "signature" : "attestation";

	for (size_t i = 0; i < n; i++) {
		int rc = 0;
		if (!v[i].name)
			return bento_error_set(err, BENTO_E_UNSAFE, "a %s without a name", what);
		/* a signature is kept under its key id, its file's name without .minisig */
		char *file = bento_xasprintf("%s%s", v[i].name, is_sig ? BENTO_SIG_SUFFIX : "");
		rc = bento_attachment_admit(t, is_sig, file, v[i].len, err);
		free(file);
		if (rc) {
			bento_error_prefix(err, "%s %.100s", what, v[i].name);
			return rc;
		}
		for (size_t k = 0; k < i; k++)
			if (strcmp(v[k].name, v[i].name) == 0)
				return bento_error_set(err, BENTO_E_UNSAFE, "%s %s: given twice", what,
						       v[i].name);
		/* stored as TEXT: a NUL would cut it short on the way out */
		if (!v[i].data || !v[i].len || memchr(v[i].data, '\0', v[i].len))
			return bento_error_set(err, BENTO_E_VERIFY, "%s %s: %s", what, v[i].name,
					       !v[i].data || !v[i].len ? "empty" : "contains a NUL byte");
	}
	return 0;
}

int bento_attachments_check(const struct bento_attachment *sigs, size_t n_sigs,
			    const struct bento_attachment *atts, size_t n_atts,
			    struct bento_error *err)
{
	struct bento_attachment_tally t = { 0 };
	int rc = attachments_check_kind(&t, 1, sigs, n_sigs, err);

	return rc ? rc : attachments_check_kind(&t, 0, atts, n_atts, err);
}

/*
 * What bento id carries once a put is added, against the caps; the caller
 * holds the transaction, so a bento over them is rolled back whole.
 */
static int attach_tally_locked(struct bento_store *s, int64_t id, const struct bento_digest *d,
			       struct bento_error *err)
{
	struct bento_attachment_tally t = { 0 };
	char hex[BENTO_DIGEST_STRLEN];
	sqlite3_stmt *st;
	int rc;

	if ((rc = db_prep(s, s->db,
			  "SELECT (SELECT count(*) FROM signatures WHERE object_id = ?1), "
			  "(SELECT count(*) FROM attestations WHERE object_id = ?1), "
			  "(SELECT coalesce(sum(length(CAST(data AS BLOB))), 0) FROM signatures "
			  " WHERE object_id = ?1) + "
			  "(SELECT coalesce(sum(length(CAST(data AS BLOB))), 0) FROM attestations "
			  " WHERE object_id = ?1)", &st, err)))
		return rc;
	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(st) != SQLITE_ROW) {
		rc = db_fail(s, s->db, "count signatures and attestations", err);
	} else {
		t.sigs = (size_t)sqlite3_column_int64(st, 0);
		t.atts = (size_t)sqlite3_column_int64(st, 1);
		t.bytes = (uint64_t)sqlite3_column_int64(st, 2);
		if ((rc = tally_check(&t, err))) {
			bento_digest_str(d, hex);
			bento_error_prefix(err, "bento %s with what the store has of it", hex);
		}
	}
	sqlite3_finalize(st);
	return rc;
}

/* Insert one attachment of object id, checked by the caller; the caller holds a transaction. */
static int attach_insert(struct bento_store *s, const struct attach_table *t, int64_t id,
			 const char *name, const char *data, size_t len, struct bento_error *err)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = db_prep(s, s->db, t->insert, &st, err)))
		return rc;
	sqlite3_bind_int64(st, 1, id);
	bind_str(st, 2, name);
	sqlite3_bind_text64(st, 3, data, len, SQLITE_STATIC, SQLITE_UTF8);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)time(NULL));
	return step_done(s, st, t->what, err);
}

/* staged: the sorted digests of the commit's stage, which count as stored. */
static int put_locked(struct bento_store *s, const struct bento_object_put *p,
		      const struct bento_digest *d, const struct bento_digest *staged,
		      size_t n_staged, struct bento_error *err)
{
	char hex[BENTO_DIGEST_STRLEN];
	sqlite3_stmt *st;
	int64_t id;
	int kind = 0, rc;

	bento_digest_str(d, hex);
	if ((rc = object_find(s, d, &id, &kind, err)))
		return rc;
	if (id && kind != (int)p->kind)
		return bento_error_set(err, BENTO_E_EXISTS, "%s is already stored as a %s",
				       hex, kind_name((enum bento_kind)kind));
	if (!id) {
		/* Blobs cannot vanish under us: gc waits for our shared lock. */
		if ((rc = put_check_blobs(s, p, staged, n_staged, err)))
			return rc;
		if ((rc = db_prep(s, s->db,
				  "INSERT INTO objects (kind, digest, manifest, size, added) "
				  "VALUES (?1, ?2, ?3, ?4, ?5)", &st, err)))
			return rc;
		sqlite3_bind_int(st, 1, p->kind);
		bind_str(st, 2, hex);
		sqlite3_bind_blob64(st, 3, p->manifest, p->manifest_len, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, (sqlite3_int64)p->size);
		sqlite3_bind_int64(st, 5, (sqlite3_int64)time(NULL));
		if ((rc = step_done(s, st, "insert object", err)))
			return rc;
		id = sqlite3_last_insert_rowid(s->db);
		if ((rc = db_prep(s, s->db,
				  "INSERT OR IGNORE INTO object_blobs (object_id, digest) VALUES (?1, ?2)",
				  &st, err)))
			return rc;
		for (size_t i = 0; i < p->n_blobs && rc == 0; i++) {
			sqlite3_bind_int64(st, 1, id);
			bind_digest(st, 2, &p->blobs[i]);
			if (sqlite3_step(st) != SQLITE_DONE)
				rc = db_fail(s, s->db, "insert object blob", err);
			sqlite3_reset(st);
		}
		sqlite3_finalize(st);
	}
	/* an object already stored has its blobs recorded since it was stored */
	for (size_t i = 0; i < p->n_deps && rc == 0; i++) {
		int64_t mid;
		int mkind = 0;
		if ((rc = object_find(s, &p->deps[i], &mid, &mkind, err)))
			break;
		if (!mid || mkind != BENTO_KIND_MODEL) {
			bento_digest_str(&p->deps[i], hex);
			rc = bento_error_set(err, BENTO_E_NOTFOUND, "model %s is not in the store", hex);
			break;
		}
		if ((rc = db_prep(s, s->db,
				  "INSERT OR IGNORE INTO object_deps (bento_id, model_id) VALUES (?1, ?2)",
				  &st, err)))
			break;
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_int64(st, 2, mid);
		rc = step_done(s, st, "insert model use", err);
	}
	for (size_t i = 0; i < p->n_sigs && rc == 0; i++)
		rc = attach_insert(s, &signatures, id, p->sigs[i].name, p->sigs[i].data,
				   p->sigs[i].len, err);
	for (size_t i = 0; i < p->n_atts && rc == 0; i++)
		rc = attach_insert(s, &attestations, id, p->atts[i].name, p->atts[i].data,
				   p->atts[i].len, err);
	if (rc == 0 && (p->n_sigs || p->n_atts))
		rc = attach_tally_locked(s, id, d, err);
	if (rc == 0)
		rc = tag_set(s, p->kind, id, p->name, p->version, p->replace, err);
	return rc;
}

/* What a put must be, checked before any transaction. */
static int put_check(const struct bento_object_put *p, struct bento_error *err)
{
	int rc;

	if ((rc = name_check(p->kind, p->name, p->version, err)))
		return rc;
	if (!p->manifest || !p->manifest_len)
		return bento_error_set(err, BENTO_E_USAGE, "%s %s:%s: empty manifest",
				       kind_name(p->kind), p->name, p->version);
	if (p->n_deps && p->kind != BENTO_KIND_BENTO)
		return bento_error_set(err, BENTO_E_USAGE, "model %s:%s: only bentos use models",
				       p->name, p->version);
	if ((p->n_sigs || p->n_atts) && p->kind != BENTO_KIND_BENTO)
		return bento_error_set(err, BENTO_E_INVALID,
				       "model %s:%s: only bentos have signatures and attestations",
				       p->name, p->version);
	if ((rc = bento_attachments_check(p->sigs, p->n_sigs, p->atts, p->n_atts, err)))
		bento_error_prefix(err, "bento %s:%s", p->name, p->version);
	return rc;
}

int bento_store_commit(struct bento_store *s, struct bento_blob_stage *stage,
		       const struct bento_object_put *puts, size_t n, struct bento_error *err)
{
	struct bento_digest *staged, d;
	size_t n_staged;
	int rc = 0, events = 0;

	for (size_t i = 0; i < n && rc == 0; i++)
		rc = put_check(&puts[i], err);
	if (rc)
		return rc;
	/* what the stat cache learnt, written now: not under the database's write lock */
	cache_flush(s);
	if ((rc = stage_sync(stage, err)))
		return rc;
	staged = stage_digests(stage, &n_staged);
	pthread_mutex_lock(&s->mu);
	if ((rc = tx_begin(s, err)) == 0) {
		for (size_t i = 0; i < n && rc == 0; i++) {
			bento_digest_bytes(puts[i].manifest, puts[i].manifest_len, &d);
			rc = put_locked(s, &puts[i], &d, staged, n_staged, err);
			/* each object and its event commit together or not at all */
			if (rc == 0 && puts[i].event) {
				rc = bento_history_append_locked(s, puts[i].event, err);
				events = 1;
			}
		}
		/* Last before COMMIT: a refused put has moved nothing into blobs/. */
		if (rc == 0 && stage)
			rc = stage_install(stage, err);
		if (rc == 0)
			rc = tx_commit(s, err);
		if (rc)
			tx_rollback(s);
	}
	pthread_mutex_unlock(&s->mu);
	free(staged);
	if (rc == 0 && events)
		(void)bento_history_head_update(s);
	return rc;
}

int bento_store_put(struct bento_store *s, const struct bento_object_put *p,
		    struct bento_digest *out, struct bento_error *err)
{
	int rc = bento_store_commit(s, NULL, p, 1, err);

	if (rc == 0 && out)
		bento_digest_bytes(p->manifest, p->manifest_len, out);
	return rc;
}

void bento_object_ref_release(struct bento_object_ref *r)
{
	if (!r)
		return;
	free(r->name);
	free(r->version);
	memset(r, 0, sizeof(*r));
}

/* Fill out from the most recent tag of object id. */
static int ref_fill(struct bento_store *s, int64_t id, const char *digest,
		    struct bento_object_ref *out, struct bento_error *err)
{
	sqlite3_stmt *st;
	struct bento_digest d;
	int rc;

	if (bento_digest_parse(digest, &d, NULL))
		return bento_error_set(err, BENTO_E_CORRUPT,
				       "%s/" DB_FILE ": object %lld has a malformed digest '%s'",
				       s->root, (long long)id, digest);
	if ((rc = db_prep(s, s->db,
			  "SELECT name, version FROM tags WHERE object_id = ?1 "
			  "ORDER BY seq DESC LIMIT 1", &st, err)))
		return rc;
	sqlite3_bind_int64(st, 1, id);
	memset(out, 0, sizeof(*out));
	if (sqlite3_step(st) == SQLITE_ROW) {
		out->name = col_dup(st, 0);
		out->version = col_dup(st, 1);
	}
	out->digest = d;
	sqlite3_finalize(st);
	return 0;
}

/* The tag name:version (exactly), or the latest of name when version is NULL. */
static int resolve_tag(struct bento_store *s, enum bento_kind kind, const char *name,
		       const char *version, struct bento_object_ref *out, struct bento_error *err)
{
	sqlite3_stmt *st;
	int rc;

	if (version)
		rc = db_prep(s, s->db,
			     "SELECT t.version, o.digest FROM tags t JOIN objects o ON o.id = t.object_id "
			     "WHERE t.kind = ?1 AND t.name = ?2 AND t.version = ?3", &st, err);
	else
		rc = db_prep(s, s->db,
			     "SELECT t.version, o.digest FROM tags t JOIN objects o ON o.id = t.object_id "
			     "WHERE t.kind = ?1 AND t.name = ?2 ORDER BY t.seq DESC LIMIT 1", &st, err);
	if (rc)
		return rc;
	sqlite3_bind_int(st, 1, kind);
	bind_str(st, 2, name);
	if (version)
		bind_str(st, 3, version);
	switch (sqlite3_step(st)) {
	case SQLITE_ROW:
		memset(out, 0, sizeof(*out));
		if (bento_digest_parse(col_str(st, 1), &out->digest, NULL)) {
			rc = bento_error_set(err, BENTO_E_CORRUPT,
					     "%s/" DB_FILE ": tag %s:%s has a malformed digest",
					     s->root, name, col_str(st, 0));
			break;
		}
		out->name = bento_xstrdup(name);
		out->version = col_dup(st, 0);
		break;
	case SQLITE_DONE:
		rc = -BENTO_E_NOTFOUND;
		break;
	default:
		rc = db_fail(s, s->db, "look up tag", err);
	}
	sqlite3_finalize(st);
	return rc;
}

static int resolve_prefix(struct bento_store *s, enum bento_kind kind, const char *ref,
			  const char *hex, struct bento_object_ref *out, struct bento_error *err)
{
	char lo[BENTO_DIGEST_STRLEN + 1], hi[BENTO_DIGEST_STRLEN + 1];
	char first[BENTO_DIGEST_STRLEN + 8] = "";
	struct bento_buf list = BENTO_BUF_INIT;
	sqlite3_stmt *st;
	size_t len = strlen(hex);
	int n = 0, rc;
	int64_t id = 0;

	if (len > BENTO_DIGEST_HEXLEN)
		return bento_error_set(err, BENTO_E_USAGE, "%s '%s': too long for a sha256 digest",
				       kind_name(kind), ref);
	memcpy(lo, "sha256:", 7);
	for (size_t i = 0; i < len; i++) {
		char c = hex[i];
		if (c >= 'A' && c <= 'F')
			c = (char)(c - 'A' + 'a');
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return bento_error_set(err, BENTO_E_USAGE, "%s '%s': not a digest (bad hex)",
					       kind_name(kind), ref);
		lo[7 + i] = c;
	}
	lo[7 + len] = '\0';
	if (len < 12)
		return bento_error_set(err, BENTO_E_USAGE,
				       "%s '%s': a digest prefix needs at least 12 hex digits",
				       kind_name(kind), ref);
	/* every digest starting with lo sorts in [lo, lo + "g"): hex is below 'g' */
	memcpy(hi, lo, 7 + len);
	hi[7 + len] = 'g';
	hi[8 + len] = '\0';
	if ((rc = db_prep(s, s->db,
			  "SELECT o.id, o.digest, "
			  "(SELECT t.name || ':' || t.version FROM tags t WHERE t.object_id = o.id "
			  " ORDER BY t.seq DESC LIMIT 1) "
			  "FROM objects o WHERE o.kind = ?1 AND o.digest >= ?2 AND o.digest < ?3 "
			  "ORDER BY o.digest LIMIT ?4", &st, err)))
		return rc;
	sqlite3_bind_int(st, 1, kind);
	bind_str(st, 2, lo);
	bind_str(st, 3, hi);
	sqlite3_bind_int(st, 4, AMBIGUOUS_SHOW + 1);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == 0) {
			id = sqlite3_column_int64(st, 0);
			snprintf(first, sizeof(first), "%s", col_str(st, 1));
		}
		if (n < AMBIGUOUS_SHOW)
			bento_buf_addf(&list, "%s%s (%s)", n ? ", " : "",
				       sqlite3_column_type(st, 2) == SQLITE_NULL ? "(untagged)" : col_str(st, 2),
				       col_str(st, 1));
		else
			bento_buf_adds(&list, ", ...");
		n++;
	}
	if (rc != SQLITE_DONE)
		rc = db_fail(s, s->db, "look up digest", err);
	else if (n == 0)
		rc = bento_error_set(err, BENTO_E_NOTFOUND, "%s '%s' not found", kind_name(kind), ref);
	else if (n > 1)
		rc = bento_error_set(err, BENTO_E_AMBIGUOUS, "%s '%s' is ambiguous: %s",
				     kind_name(kind), ref, list.buf);
	else
		rc = ref_fill(s, id, first, out, err);
	sqlite3_finalize(st);
	bento_buf_release(&list);
	return rc;
}

static int all_hex(const char *p)
{
	for (; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return 0;
	return 1;
}

static int resolve_locked(struct bento_store *s, enum bento_kind kind, const char *ref,
			  struct bento_object_ref *out, struct bento_error *err)
{
	const char *colon;
	int rc;

	if (strncmp(ref, "sha256:", 7) == 0)
		return resolve_prefix(s, kind, ref, ref + 7, out, err);
	colon = strchr(ref, ':');
	if (!colon) {
		rc = resolve_tag(s, kind, ref, NULL, out, err);
		/* a name wins over a digest prefix that happens to spell it */
		if (rc == -BENTO_E_NOTFOUND && strlen(ref) >= 12 && all_hex(ref))
			return resolve_prefix(s, kind, ref, ref, out, err);
	} else {
		char *name = bento_xstrndup(ref, (size_t)(colon - ref));
		if (!*name || !colon[1]) {
			free(name);
			return bento_error_set(err, BENTO_E_USAGE,
					       "%s '%s': want NAME, NAME:VERSION or a digest",
					       kind_name(kind), ref);
		}
		/* a version literally named "latest" wins over the newest tag */
		rc = resolve_tag(s, kind, name, colon + 1, out, err);
		if (rc == -BENTO_E_NOTFOUND && strcmp(colon + 1, "latest") == 0)
			rc = resolve_tag(s, kind, name, NULL, out, err);
		free(name);
	}
	if (rc == -BENTO_E_NOTFOUND)
		rc = bento_error_set(err, BENTO_E_NOTFOUND, "%s '%s' not found", kind_name(kind), ref);
	return rc;
}

int bento_store_resolve(struct bento_store *s, enum bento_kind kind, const char *ref,
			struct bento_object_ref *out, struct bento_error *err)
{
	struct bento_object_ref r = { 0 };
	int rc;

	if (!kind_ok(kind))
		return bento_error_set(err, BENTO_E_USAGE, "unknown object kind %d", (int)kind);
	if (!ref || !*ref)
		return bento_error_set(err, BENTO_E_USAGE, "empty %s reference", kind_name(kind));
	pthread_mutex_lock(&s->mu);
	rc = resolve_locked(s, kind, ref, &r, err);
	pthread_mutex_unlock(&s->mu);
	if (rc == 0)
		*out = r;
	else
		bento_object_ref_release(&r);
	return rc;
}

int bento_store_manifest(struct bento_store *s, enum bento_kind kind,
			 const struct bento_digest *d, struct bento_buf *out,
			 struct bento_error *err)
{
	char hex[BENTO_DIGEST_STRLEN];
	struct bento_digest got;
	sqlite3_stmt *st;
	int rc;

	bento_digest_str(d, hex);
	pthread_mutex_lock(&s->mu);
	if ((rc = db_prep(s, s->db, "SELECT manifest FROM objects WHERE digest = ?1 AND kind = ?2",
			  &st, err)))
		goto out;
	bind_str(st, 1, hex);
	sqlite3_bind_int(st, 2, kind);
	switch (sqlite3_step(st)) {
	case SQLITE_ROW: {
		const void *p = sqlite3_column_blob(st, 0);
		size_t n = (size_t)sqlite3_column_bytes(st, 0);
		bento_digest_bytes(p ? p : "", n, &got);
		if (!bento_digest_eq(&got, d)) {
			rc = bento_error_set(err, BENTO_E_CORRUPT,
					     "%s %s: stored manifest does not match its digest; run bento fsck",
					     kind_name(kind), hex);
			break;
		}
		bento_buf_add(out, p, n);
		break;
	}
	case SQLITE_DONE:
		rc = bento_error_set(err, BENTO_E_NOTFOUND, "%s %s not found", kind_name(kind), hex);
		break;
	default:
		rc = db_fail(s, s->db, "read manifest", err);
	}
	sqlite3_finalize(st);
out:
	pthread_mutex_unlock(&s->mu);
	return rc;
}

void bento_object_info_free(struct bento_object_info *v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++) {
		free(v[i].name);
		free(v[i].version);
	}
	free(v);
}

/* Collect rows (name, version, digest, size, added) of a prepared query. */
static int info_rows(struct bento_store *s, sqlite3_stmt *st, struct bento_object_info **out,
		     size_t *n, struct bento_error *err)
{
	struct bento_object_info *v = NULL;
	size_t len = 0, cap = 0;
	int r, rc = 0;

	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		struct bento_digest d;
		if (col_digest(st, 2, &d)) {
			rc = bento_error_set(err, BENTO_E_CORRUPT,
					     "%s/" DB_FILE ": tag %s:%s has a malformed digest",
					     s->root, col_str(st, 0), col_str(st, 1));
			break;
		}
		if (len == cap) {
			cap = cap ? cap * 2 : 16;
			v = bento_xrealloc(v, cap * sizeof(*v));
		}
		v[len].name = bento_xstrdup(col_str(st, 0));
		v[len].version = bento_xstrdup(col_str(st, 1));
		v[len].digest = d;
		v[len].size = (uint64_t)sqlite3_column_int64(st, 3);
		v[len].added = sqlite3_column_int64(st, 4);
		len++;
	}
	if (rc == 0 && r != SQLITE_DONE)
		rc = db_fail(s, s->db, "list", err);
	sqlite3_finalize(st);
	if (rc) {
		bento_object_info_free(v, len);
		return rc;
	}
	*out = v;
	*n = len;
	return 0;
}

int bento_store_list(struct bento_store *s, enum bento_kind kind, const char *name,
		     struct bento_object_info **out, size_t *n, struct bento_error *err)
{
	sqlite3_stmt *st;
	int rc;

	if (!kind_ok(kind))
		return bento_error_set(err, BENTO_E_USAGE, "unknown object kind %d", (int)kind);
	pthread_mutex_lock(&s->mu);
	rc = db_prep(s, s->db,
		     "SELECT t.name, t.version, o.digest, o.size, t.added "
		     "FROM tags t JOIN objects o ON o.id = t.object_id "
		     "WHERE t.kind = ?1 AND (?2 IS NULL OR t.name = ?2) ORDER BY t.seq DESC",
		     &st, err);
	if (rc == 0) {
		sqlite3_bind_int(st, 1, kind);
		if (name)
			bind_str(st, 2, name);
		rc = info_rows(s, st, out, n, err);
	}
	pthread_mutex_unlock(&s->mu);
	return rc;
}

int bento_store_tag(struct bento_store *s, enum bento_kind kind,
		    const struct bento_digest *d, const char *name, const char *version,
		    int replace, struct bento_error *err)
{
	char hex[BENTO_DIGEST_STRLEN];
	int64_t id;
	int have = 0, rc;

	if ((rc = name_check(kind, name, version, err)))
		return rc;
	bento_digest_str(d, hex);
	pthread_mutex_lock(&s->mu);
	if ((rc = tx_begin(s, err)))
		goto out;
	if ((rc = object_find(s, d, &id, &have, err)) == 0) {
		if (!id || have != (int)kind)
			rc = bento_error_set(err, BENTO_E_NOTFOUND, "%s %s not found",
					     kind_name(kind), hex);
		else
			rc = tag_set(s, kind, id, name, version, replace, err);
	}
	if (rc == 0)
		rc = tx_commit(s, err);
	if (rc)
		tx_rollback(s);
out:
	pthread_mutex_unlock(&s->mu);
	return rc;
}

int bento_store_untag(struct bento_store *s, enum bento_kind kind,
		      const char *name, const char *version, int force,
		      struct bento_error *err)
{
	sqlite3_stmt *st;
	int64_t id = 0;
	int rc;

	if ((rc = name_check(kind, name, version, err)))
		return rc;
	pthread_mutex_lock(&s->mu);
	if ((rc = tx_begin(s, err)))
		goto out;
	if ((rc = db_prep(s, s->db,
			  "SELECT object_id FROM tags WHERE kind = ?1 AND name = ?2 AND version = ?3",
			  &st, err)))
		goto fail;
	sqlite3_bind_int(st, 1, kind);
	bind_str(st, 2, name);
	bind_str(st, 3, version);
	if (sqlite3_step(st) == SQLITE_ROW)
		id = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (!id) {
		rc = bento_error_set(err, BENTO_E_NOTFOUND, "%s '%s:%s' not found", kind_name(kind),
				     name, version);
		goto fail;
	}
	if ((rc = db_prep(s, s->db,
			  "DELETE FROM tags WHERE kind = ?1 AND name = ?2 AND version = ?3", &st, err)))
		goto fail;
	sqlite3_bind_int(st, 1, kind);
	bind_str(st, 2, name);
	bind_str(st, 3, version);
	if ((rc = step_done(s, st, "delete tag", err)))
		goto fail;
	char label[1024];
	snprintf(label, sizeof(label), "%s:%s", name, version);
	if ((rc = object_drop_if_untagged(s, id, label, force,
					  "delete those first or use --force", err)))
		goto fail;
	if ((rc = tx_commit(s, err)) == 0)
		goto out;
fail:
	tx_rollback(s);
out:
	pthread_mutex_unlock(&s->mu);
	return rc;
}

int bento_store_model_users(struct bento_store *s, const struct bento_digest *d,
			    struct bento_object_info **out, size_t *n,
			    struct bento_error *err)
{
	char hex[BENTO_DIGEST_STRLEN];
	sqlite3_stmt *st;
	int64_t id;
	int kind = 0, rc;

	bento_digest_str(d, hex);
	pthread_mutex_lock(&s->mu);
	if ((rc = object_find(s, d, &id, &kind, err)))
		goto out;
	if (!id || kind != BENTO_KIND_MODEL) {
		rc = bento_error_set(err, BENTO_E_NOTFOUND, "model %s not found", hex);
		goto out;
	}
	if ((rc = db_prep(s, s->db,
			  "SELECT t.name, t.version, b.digest, b.size, t.added FROM object_deps d "
			  "JOIN objects b ON b.id = d.bento_id JOIN tags t ON t.object_id = b.id "
			  "WHERE d.model_id = ?1 ORDER BY t.seq DESC", &st, err)))
		goto out;
	sqlite3_bind_int64(st, 1, id);
	rc = info_rows(s, st, out, n, err);
out:
	pthread_mutex_unlock(&s->mu);
	return rc;
}

/* ---- signatures and attestations of bentos ---- */

/* The two tables differ only in their names. */
/* Object id of bento d: only bentos carry signatures and attestations. */
static int bento_find(struct bento_store *s, const struct bento_digest *d, int64_t *id,
		      struct bento_error *err)
{
	char hex[BENTO_DIGEST_STRLEN];
	int kind = 0, rc;

	if ((rc = object_find(s, d, id, &kind, err)))
		return rc;
	bento_digest_str(d, hex);
	if (!*id)
		return bento_error_set(err, BENTO_E_NOTFOUND, "bento %s is not in the store", hex);
	if (kind != BENTO_KIND_BENTO)
		return bento_error_set(err, BENTO_E_INVALID,
				       "%s is a %s: only bentos have signatures and attestations",
				       hex, kind_name((enum bento_kind)kind));
	return 0;
}

static int attach_add(struct bento_store *s, const struct attach_table *t,
		      const struct bento_digest *d, const char *name, const char *data,
		      size_t len, struct bento_error *err)
{
	struct bento_attachment a = { (char *)name, (char *)data, len };
	int is_sig = t == &signatures;
	int64_t id;
	int rc;

	if ((rc = bento_attachments_check(is_sig ? &a : NULL, is_sig, is_sig ? NULL : &a, !is_sig,
					  err)))
		return rc;
	pthread_mutex_lock(&s->mu);
	if ((rc = tx_begin(s, err)))
		goto out;
	if ((rc = bento_find(s, d, &id, err)) ||
	    (rc = attach_insert(s, t, id, name, data, len, err)) ||
	    (rc = attach_tally_locked(s, id, d, err)))
		goto fail;
	if ((rc = tx_commit(s, err)) == 0)
		goto out;
fail:
	tx_rollback(s);
out:
	pthread_mutex_unlock(&s->mu);
	return rc;
}

int bento_store_signature_add(struct bento_store *s, const struct bento_digest *d,
			      const char *keyid, const char *sig, size_t len,
			      struct bento_error *err)
{
	return attach_add(s, &signatures, d, keyid, sig, len, err);
}

int bento_store_attestation_add(struct bento_store *s, const struct bento_digest *d,
				const char *name, const char *data, size_t len,
				struct bento_error *err)
{
	return attach_add(s, &attestations, d, name, data, len, err);
}

void bento_attachments_free(struct bento_attachment *v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++) {
		free(v[i].name);
		free(v[i].data);
	}
	free(v);
}

static int attach_list(struct bento_store *s, const struct attach_table *t,
		       const struct bento_digest *d, struct bento_attachment **out, size_t *n,
		       struct bento_error *err)
{
	struct bento_attachment *v = NULL;
	size_t len = 0, cap = 0;
	sqlite3_stmt *st;
	int64_t id;
	int r, rc;

	pthread_mutex_lock(&s->mu);
	if ((rc = bento_find(s, d, &id, err)) || (rc = db_prep(s, s->db, t->select, &st, err)))
		goto out;
	sqlite3_bind_int64(st, 1, id);
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		const char *p = col_str(st, 1);
		size_t k = (size_t)sqlite3_column_bytes(st, 1);
		if (len == cap) {
			cap = cap ? cap * 2 : 4;
			v = bento_xrealloc(v, cap * sizeof(*v));
		}
		v[len].name = bento_xstrdup(col_str(st, 0));
		v[len].data = bento_xmalloc(k + 1);
		memcpy(v[len].data, p, k);
		v[len].data[k] = '\0';
		v[len].len = k;
		len++;
	}
	if (r != SQLITE_DONE)
		rc = db_fail(s, s->db, t->what, err);
	sqlite3_finalize(st);
out:
	pthread_mutex_unlock(&s->mu);
	if (rc) {
		bento_attachments_free(v, len);
		return rc;
	}
	*out = v;
	*n = len;
	return 0;
}

int bento_store_signatures(struct bento_store *s, const struct bento_digest *d,
			   struct bento_attachment **out, size_t *n, struct bento_error *err)
{
	return attach_list(s, &signatures, d, out, n, err);
}

int bento_store_attestations(struct bento_store *s, const struct bento_digest *d,
			     struct bento_attachment **out, size_t *n, struct bento_error *err)
{
	return attach_list(s, &attestations, d, out, n, err);
}

/* ---- layer cache ---- */

int bento_store_layer_cache_get(struct bento_store *s, const struct bento_digest *key,
				struct bento_digest *digest, uint64_t *size,
				struct bento_error *err)
{
	char hex[BENTO_DIGEST_HEXLEN + 1];
	sqlite3_stmt *st;
	int r, rc;

	bento_digest_hex(key, hex);
	pthread_mutex_lock(&s->mu);
	if ((rc = db_prep(s, s->db, "SELECT digest, size FROM layer_cache WHERE key = ?1", &st,
			  err)))
		goto out;
	bind_str(st, 1, hex);
	r = sqlite3_step(st);
	/* a damaged row is a miss: the caller hashes again and replaces it */
	if (r == SQLITE_ROW && col_digest(st, 0, digest) == 0 && sqlite3_column_int64(st, 1) >= 0) {
		*size = (uint64_t)sqlite3_column_int64(st, 1);
		rc = 1;
	} else if (r != SQLITE_ROW && r != SQLITE_DONE) {
		rc = db_fail(s, s->db, "read layer cache", err);
	}
	sqlite3_finalize(st);
out:
	pthread_mutex_unlock(&s->mu);
	return rc;
}

int bento_store_layer_cache_put(struct bento_store *s, const struct bento_digest *key,
				const struct bento_digest *digest, uint64_t size,
				struct bento_error *err)
{
	char hex[BENTO_DIGEST_HEXLEN + 1];
	sqlite3_stmt *st;
	int rc;

	if (size > INT64_MAX)
		return bento_error_set(err, BENTO_E_INVALID, "layer cache: size out of range");
	bento_digest_hex(key, hex);
	pthread_mutex_lock(&s->mu);
	if ((rc = db_prep(s, s->db,
			  "INSERT OR REPLACE INTO layer_cache (key, digest, size) VALUES (?1, ?2, ?3)",
			  &st, err)) == 0) {
		bind_str(st, 1, hex);
		bind_digest(st, 2, digest);
		sqlite3_bind_int64(st, 3, (sqlite3_int64)size);
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = db_fail(s, s->db, "write layer cache", err);
		sqlite3_finalize(st);
	}
	pthread_mutex_unlock(&s->mu);
	return rc;
}

/* ---- maintenance ---- */

struct problems {
	struct bento_fsck_problem *v;
	size_t n, cap;
};

static void __attribute__((format(printf, 2, 3))) problem(struct problems *p, const char *fmt, ...)
{
	struct bento_buf b = BENTO_BUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	bento_buf_vaddf(&b, fmt, ap);
	va_end(ap);
	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 16;
		p->v = bento_xrealloc(p->v, p->cap * sizeof(*p->v));
	}
	p->v[p->n++].what = bento_buf_detach(&b, NULL);
}

void bento_fsck_free(struct bento_fsck_problem *p, size_t n)
{
	if (!p)
		return;
	for (size_t i = 0; i < n; i++)
		free(p[i].what);
	free(p);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names in dir (without . and ..); *n = 0 and NULL for a missing dir. */
static int list_dir(const char *dir, char ***out, size_t *n)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **v = NULL;
	size_t len = 0, cap = 0;

	*out = NULL;
	*n = 0;
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (len == cap) {
			cap = cap ? cap * 2 : 64;
			v = bento_xrealloc(v, cap * sizeof(*v));
		}
		v[len++] = bento_xstrdup(e->d_name);
	}
	closedir(d);
	if (len)
		qsort(v, len, sizeof(*v), cmp_str);
	*out = v;
	*n = len;
	return 0;
}

static void free_names(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static int is_hex_n(const char *p, size_t n)
{
	return strlen(p) == n && all_hex(p);
}

/*
 * Walk blobs/sha256, calling fn for every well-named blob file and bad for
 * everything else (bad may be NULL).
 */
typedef void (*blob_fn)(void *ctx, const char *path, const struct bento_digest *d,
			const struct stat *st);
typedef void (*bad_fn)(void *ctx, const char *path, const char *why);

static int blob_walk(struct bento_store *s, blob_fn fn, bad_fn bad, void *ctx,
		     struct bento_error *err)
{
	char **dirs, **files;
	size_t nd, nf;
	int rc;

	if ((rc = list_dir(s->blobdir, &dirs, &nd)))
		return bento_error_errno(err, -rc, "%s", s->blobdir);
	for (size_t i = 0; i < nd; i++) {
		char *dir = bento_xasprintf("%s/%s", s->blobdir, dirs[i]);
		struct stat st;
		if (!is_hex_n(dirs[i], 2) || lstat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
			if (bad)
				bad(ctx, dir, "stray entry (not a blob directory)");
			free(dir);
			continue;
		}
		if ((rc = list_dir(dir, &files, &nf))) {
			rc = bento_error_errno(err, -rc, "%s", dir);
			free(dir);
			break;
		}
		for (size_t k = 0; k < nf; k++) {
			char *path = bento_xasprintf("%s/%s", dir, files[k]);
			char hex[BENTO_DIGEST_STRLEN];
			struct bento_digest d;
			snprintf(hex, sizeof(hex), "sha256:%s%s", dirs[i], files[k]);
			if (!is_hex_n(files[k], BENTO_DIGEST_HEXLEN - 2) ||
			    bento_digest_parse(hex, &d, NULL) || lstat(path, &st) < 0 ||
			    !S_ISREG(st.st_mode)) {
				if (bad)
					bad(ctx, path, "stray entry (not a blob)");
			} else {
				fn(ctx, path, &d, &st);
			}
			free(path);
		}
		free_names(files, nf);
		free(dir);
	}
	free_names(dirs, nd);
	return rc;
}

/* Remove tmp/ entries last modified before cutoff (all when cutoff is 0). */
static void tmp_clean(struct bento_store *s, time_t cutoff)
{
	char **v;
	size_t n;

	if (list_dir(s->tmpdir, &v, &n))
		return;
	for (size_t i = 0; i < n; i++) {
		char *path = bento_xasprintf("%s/%s", s->tmpdir, v[i]);
		struct stat st;
		if (lstat(path, &st) == 0 && !S_ISDIR(st.st_mode) &&
		    (cutoff == 0 || st.st_mtime < cutoff))
			unlink(path);
		free(path);
	}
	free_names(v, n);
}

struct fsck_ctx {
	struct problems *p;
	uint64_t checked;
};

static void fsck_blob(void *arg, const char *path, const struct bento_digest *d,
		      const struct stat *st)
{
	struct fsck_ctx *c = arg;
	struct bento_error e = { 0 };
	struct bento_digest got;
	char want[BENTO_DIGEST_STRLEN], have[BENTO_DIGEST_STRLEN];

	(void)st;
	bento_digest_str(d, want);
	c->checked++;
	if (bento_digest_path(path, &got, NULL, &e)) {
		problem(c->p, "blob %s: unreadable: %s", want, e.msg);
		return;
	}
	if (!bento_digest_eq(&got, d)) {
		bento_digest_str(&got, have);
		problem(c->p, "blob %s: digest mismatch (content is %s)", want, have);
	}
}

static void fsck_bad(void *arg, const char *path, const char *why)
{
	struct fsck_ctx *c = arg;

	problem(c->p, "%s: %s", path, why);
}

/* Each row of sql is one problem, rendered with fmt from its text columns. */
static int fsck_query(struct bento_store *s, struct problems *p, const char *sql,
		      const char *fmt, struct bento_error *err)
{
	sqlite3_stmt *st;
	int r, rc;

	if ((rc = db_prep(s, s->db, sql, &st, err)))
		return rc;
	while ((r = sqlite3_step(st)) == SQLITE_ROW)
		problem(p, fmt, col_str(st, 0), col_str(st, 1), col_str(st, 2));
	if (r != SQLITE_DONE)
		rc = db_fail(s, s->db, "check", err);
	sqlite3_finalize(st);
	return rc;
}

static int fsck_db(struct bento_store *s, struct problems *p, struct bento_error *err)
{
	sqlite3_stmt *st;
	int r, rc;

	if ((rc = db_prep(s, s->db, "PRAGMA integrity_check", &st, err)))
		return rc;
	while ((r = sqlite3_step(st)) == SQLITE_ROW)
		if (strcmp(col_str(st, 0), "ok") != 0)
			problem(p, "%s/" DB_FILE ": %s", s->root, col_str(st, 0));
	sqlite3_finalize(st);
	if (r != SQLITE_DONE)
		return db_fail(s, s->db, "integrity_check", err);
	if ((rc = fsck_query(s, p,
			     "SELECT \"table\", rowid, parent FROM pragma_foreign_key_check",
			     DB_FILE ": %s row %s: refers to a missing %s row", err)))
		return rc;
	if ((rc = db_prep(s, s->db, "SELECT digest, manifest, kind FROM objects", &st, err)))
		return rc;
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		const char *hex = col_str(st, 0);
		const void *m = sqlite3_column_blob(st, 1);
		size_t n = (size_t)sqlite3_column_bytes(st, 1);
		struct bento_digest want, got;
		char have[BENTO_DIGEST_STRLEN];
		if (!bento_digest_valid(hex) || bento_digest_parse(hex, &want, NULL)) {
			problem(p, "object '%s': malformed digest", hex);
			continue;
		}
		bento_digest_bytes(m ? m : "", n, &got);
		if (!bento_digest_eq(&got, &want)) {
			bento_digest_str(&got, have);
			problem(p, "%s %s: manifest does not match its digest (content is %s)",
				kind_name((enum bento_kind)sqlite3_column_int(st, 2)), hex, have);
		}
	}
	sqlite3_finalize(st);
	if (r != SQLITE_DONE)
		return db_fail(s, s->db, "read objects", err);
	if ((rc = fsck_query(s, p,
			     "SELECT t.name, t.version, t.object_id FROM tags t "
			     "LEFT JOIN objects o ON o.id = t.object_id WHERE o.id IS NULL",
			     "tag %s:%s: points at missing object %s", err)) ||
	    (rc = fsck_query(s, p,
			     "SELECT t.name, t.version, o.digest FROM tags t "
			     "JOIN objects o ON o.id = t.object_id WHERE o.kind <> t.kind",
			     "tag %s:%s: names %s, an object of the other kind", err)) ||
	    (rc = fsck_query(s, p,
			     "SELECT o.digest, '', '' FROM objects o WHERE NOT EXISTS "
			     "(SELECT 1 FROM tags t WHERE t.object_id = o.id)",
			     "object %s: no tag names it%s%s", err)) ||
	    (rc = fsck_query(s, p,
			     "SELECT b.digest, m.digest, '' FROM object_deps d "
			     "JOIN objects b ON b.id = d.bento_id JOIN objects m ON m.id = d.model_id "
			     "WHERE b.kind <> 2 OR m.kind <> 1",
			     "object %s: uses %s, which is not a model%s", err)) ||
	    (rc = fsck_query(s, p,
			     "SELECT o.digest, 'signature', a.keyid FROM signatures a "
			     "JOIN objects o ON o.id = a.object_id WHERE o.kind <> 2 UNION ALL "
			     "SELECT o.digest, 'attestation', a.name FROM attestations a "
			     "JOIN objects o ON o.id = a.object_id WHERE o.kind <> 2",
			     "object %s: has %s %s but is not a bento", err)))
		return rc;
	/* every blob an object lists must be present */
	if ((rc = db_prep(s, s->db,
			  "SELECT b.digest, min(o.digest) FROM object_blobs b "
			  "JOIN objects o ON o.id = b.object_id GROUP BY b.digest", &st, err)))
		return rc;
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		struct bento_digest d;
		if (bento_digest_parse(col_str(st, 0), &d, NULL))
			problem(p, "object %s: lists malformed blob digest '%s'", col_str(st, 1),
				col_str(st, 0));
		else if (!bento_blob_has(s, &d))
			problem(p, "blob %s: missing (listed by object %s)", col_str(st, 0),
				col_str(st, 1));
	}
	sqlite3_finalize(st);
	if (r != SQLITE_DONE)
		return db_fail(s, s->db, "read object blobs", err);
	return 0;
}

int bento_store_fsck(struct bento_store *s, struct bento_fsck_problem **out, size_t *n,
		     uint64_t *blobs_checked, struct bento_error *err)
{
	struct problems p = { 0 };
	struct fsck_ctx c = { .p = &p };
	int rc;

	tmp_clean(s, time(NULL) - TMP_MAX_AGE);
	pthread_mutex_lock(&s->mu);
	/* one read transaction: every metadata check sees the same snapshot */
	if ((rc = db_exec(s, s->db, "BEGIN", "begin transaction", err)) == 0) {
		rc = fsck_db(s, &p, err);
		sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
	}
	pthread_mutex_unlock(&s->mu);
	if (rc == 0) {
		/* a broken chain is a finding, not a failure to check */
		struct bento_error e = { 0 };
		int64_t events, bad;
		rc = bento_history_verify(s, &events, &bad, &e);
		if (rc == -BENTO_E_CORRUPT) {
			problem(&p, "%s", e.msg);
			rc = 0;
		} else if (rc && err) {
			*err = e;
		}
	}
	if (rc == 0)
		rc = blob_walk(s, fsck_blob, fsck_bad, &c, err);
	if (rc) {
		bento_fsck_free(p.v, p.n);
		return rc;
	}
	*out = p.v;
	*n = p.n;
	if (blobs_checked)
		*blobs_checked = c.checked;
	return 0;
}

struct gc_ctx {
	struct bento_digest *keep;	/* sorted */
	size_t n_keep;
	int dry_run;
	uint64_t blobs, bytes;
};

static int cmp_digest(const void *a, const void *b)
{
	return memcmp(a, b, BENTO_DIGEST_RAWLEN);
}

static void gc_blob(void *arg, const char *path, const struct bento_digest *d,
		    const struct stat *st)
{
	struct gc_ctx *c = arg;

	if (c->n_keep && bsearch(d, c->keep, c->n_keep, sizeof(*d), cmp_digest))
		return;
	if (!c->dry_run && unlink(path) < 0 && errno != ENOENT)
		return;
	c->blobs++;
	c->bytes += (uint64_t)st->st_size;
}

static int gc_referenced(struct bento_store *s, struct gc_ctx *c, struct bento_error *err)
{
	sqlite3_stmt *st;
	size_t cap = 0;
	int r, rc;

	pthread_mutex_lock(&s->mu);
	rc = db_prep(s, s->db, "SELECT DISTINCT digest FROM object_blobs", &st, err);
	while (rc == 0 && (r = sqlite3_step(st)) == SQLITE_ROW) {
		struct bento_digest d;
		/* a malformed row protects nothing; fsck reports it */
		if (col_digest(st, 0, &d))
			continue;
		if (c->n_keep == cap) {
			cap = cap ? cap * 2 : 256;
			c->keep = bento_xrealloc(c->keep, cap * sizeof(*c->keep));
		}
		c->keep[c->n_keep++] = d;
	}
	if (rc == 0 && r != SQLITE_DONE)
		rc = db_fail(s, s->db, "read object blobs", err);
	sqlite3_finalize(st);
	/* cache rows for blobs about to go are useless; keep the table small */
	if (rc == 0 && !c->dry_run)
		rc = db_exec(s, s->db,
			     "DELETE FROM stat_cache WHERE digest NOT IN "
			     "(SELECT digest FROM object_blobs)", "trim stat cache", err);
	pthread_mutex_unlock(&s->mu);
	if (c->n_keep)
		qsort(c->keep, c->n_keep, sizeof(*c->keep), cmp_digest);
	return rc;
}

/* Remove emptied fan-out directories of blobs/sha256; rmdir fails harmlessly on others. */
static void drop_empty_fanout(struct bento_store *s)
{
	char **dirs;
	size_t nd;

	if (list_dir(s->blobdir, &dirs, &nd) < 0)
		return;
	for (size_t i = 0; i < nd; i++) {
		char *dir = bento_xasprintf("%s/%s", s->blobdir, dirs[i]);
		if (is_hex_n(dirs[i], 2))
			rmdir(dir);
		free(dir);
	}
	free_names(dirs, nd);
}

int bento_store_gc(struct bento_store *s, int dry_run, uint64_t *blobs, uint64_t *bytes,
		   struct bento_error *err)
{
	struct gc_ctx c = { .dry_run = dry_run };
	int rc;

	/*
	 * Exclusive: every other open store (each a possible writer with
	 * staged, uncommitted blobs) holds the lock shared, so we wait for
	 * them.  flock converts our own shared lock.
	 */
	if (!dry_run && (rc = flock_retry(s->lockfd, LOCK_EX)))
		return bento_error_errno(err, -rc, "%s/lock: flock", s->root);
	if ((rc = gc_referenced(s, &c, err)) == 0)
		rc = blob_walk(s, gc_blob, NULL, &c, err);
	if (rc == 0 && !dry_run) {
		tmp_clean(s, 0);
		drop_empty_fanout(s);
	}
	if (!dry_run)
		flock_retry(s->lockfd, LOCK_SH);
	free(c.keep);
	if (rc == 0) {
		if (blobs)
			*blobs = c.blobs;
		if (bytes)
			*bytes = c.bytes;
	}
	return rc;
}

void bento_store_discard(struct bento_store *s)
{
	static const char *const files[] = {
		DB_FILE, DB_FILE "-wal", DB_FILE "-shm", DB_FILE "-journal", "history.head",
		"history.lock", NULL,
	};
	sqlite3_stmt *st;
	int empty = 0;

	if (!s)
		return;
	if (s->made_db && s->db &&
	    db_prep(s, s->db, "SELECT (SELECT count(*) FROM objects) + (SELECT count(*) FROM history)",
		    &st, NULL) == 0) {
		empty = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int64(st, 0) == 0;
		sqlite3_finalize(st);
	}
	/* Alone: every open store holds root/lock shared (a failed try may drop ours: we close). */
	if (empty && flock(s->lockfd, LOCK_EX | LOCK_NB) == 0) {
		sqlite3_finalize(s->cache_get);
		sqlite3_finalize(s->cache_put);
		s->cache_get = s->cache_put = NULL;
		sqlite3_close(s->cache);
		sqlite3_close(s->db);
		s->cache = s->db = NULL;
		for (size_t i = 0; files[i]; i++) {
			char *p = bento_xasprintf("%s/%s", s->root, files[i]);
			unlink(p);
			free(p);
		}
		drop_empty_fanout(s);
		char *blobs = bento_xasprintf("%s/blobs", s->root), *lock = bento_xasprintf("%s/lock", s->root);
		rmdir(s->blobdir);
		rmdir(blobs);
		rmdir(s->tmpdir);
		/* last, still holding it: an opener waiting for it sees it gone and starts again */
		unlink(lock);
		if (s->made_root)
			rmdir(s->root);
		free(blobs);
		free(lock);
	}
	bento_store_close(s);
}
