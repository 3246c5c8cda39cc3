/*
 * store.c - the local store: SQLite metadata + content-addressed blobs;
 * here opening and migrations, objects and tags, resolving and listing,
 * signatures and attestations, and the layer cache.  Blobs, staging and
 * the stat cache are in store_blob.c, fsck, gc and discard in
 * store_fsck.c; struct bento_store and the SQLite helpers they share in
 * store_internal.h.
 *
 * Two SQLite connections per store.  s->db carries the metadata (objects,
 * tags) with synchronous=FULL: a build that reports success must survive a
 * power cut, and it costs one WAL fsync per metadata transaction (a handful
 * per build).  s->cache carries only the stat cache with synchronous=NORMAL:
 * it is written once per hashed file from several threads, a lost entry
 * costs one re-hash, and in WAL mode NORMAL still never corrupts the file.
 * Each connection has its own mutex so hashing threads do not queue behind
 * a metadata transaction.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
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

#define BUSY_TIMEOUT_MS 30000
#define AMBIGUOUS_SHOW 5

/* ---- SQLite helpers (the others are in store_internal.h) ---- */

static char *col_dup(sqlite3_stmt *st, int i)
{
	return sqlite3_column_type(st, i) == SQLITE_NULL ? NULL : bento_xstrdup(col_str(st, i));
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

int bento_store_tx_open(struct bento_store *s, struct bento_error *err)
{
	int rc;

	pthread_mutex_lock(&s->mu);
	if ((rc = db_exec(s, s->db, "BEGIN IMMEDIATE", "begin transaction", err)))
		pthread_mutex_unlock(&s->mu);
	return rc;
}

int bento_store_tx_close(struct bento_store *s, int rc, struct bento_error *err)
{
	if (rc == 0)
		rc = db_exec(s, s->db, "COMMIT", "commit", err);
	/* a failed COMMIT may have rolled back already: then there is nothing to end */
	if (rc && !sqlite3_get_autocommit(s->db))
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	pthread_mutex_unlock(&s->mu);
	return rc;
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
		if ((rc = bento_store_tx_open(s, err)))
			return rc;
		if ((rc = user_version(s, &v, err)) == 0 && v < latest) {
			const struct bento_embedded *e = schema_step(v + 1);
			char setv[64];
			snprintf(setv, sizeof(setv), "PRAGMA user_version = %d", v + 1);
			if (sqlite3_exec(s->db, e->data, NULL, NULL, NULL) != SQLITE_OK ||
			    sqlite3_exec(s->db, setv, NULL, NULL, NULL) != SQLITE_OK)
				rc = bento_error_set(err, BENTO_E_FAIL,
						     "%s/" DB_FILE ": migration to schema version %d (%s): %s",
						     s->root, v + 1, e->name, sqlite3_errmsg(s->db));
		}
		if ((rc = bento_store_tx_close(s, rc, err)))
			return rc;
	}
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
		bento_store_cache_flush(s);
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
	bento_store_cache_flush(s);
	if ((rc = bento_blob_stage_sync(stage, err)))
		return rc;
	staged = bento_blob_stage_digests(stage, &n_staged);
	if ((rc = bento_store_tx_open(s, err)) == 0) {
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
			rc = bento_blob_stage_install(stage, err);
		rc = bento_store_tx_close(s, rc, err);
	}
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

int bento_store_has_object(struct bento_store *s, enum bento_kind kind,
			   const struct bento_digest *d)
{
	int64_t id;
	int have = 0, rc;

	pthread_mutex_lock(&s->mu);
	rc = object_find(s, d, &id, &have, NULL);
	pthread_mutex_unlock(&s->mu);
	return rc == 0 && id && have == (int)kind;
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
	if ((rc = bento_store_tx_open(s, err)))
		return rc;
	if ((rc = object_find(s, d, &id, &have, err)) == 0) {
		if (!id || have != (int)kind)
			rc = bento_error_set(err, BENTO_E_NOTFOUND, "%s %s not found",
					     kind_name(kind), hex);
		else
			rc = tag_set(s, kind, id, name, version, replace, err);
	}
	return bento_store_tx_close(s, rc, err);
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
	if ((rc = bento_store_tx_open(s, err)))
		return rc;
	if ((rc = db_prep(s, s->db,
			  "SELECT object_id FROM tags WHERE kind = ?1 AND name = ?2 AND version = ?3",
			  &st, err)))
		goto out;
	sqlite3_bind_int(st, 1, kind);
	bind_str(st, 2, name);
	bind_str(st, 3, version);
	if (sqlite3_step(st) == SQLITE_ROW)
		id = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (!id) {
		rc = bento_error_set(err, BENTO_E_NOTFOUND, "%s '%s:%s' not found", kind_name(kind),
				     name, version);
		goto out;
	}
	if ((rc = db_prep(s, s->db,
			  "DELETE FROM tags WHERE kind = ?1 AND name = ?2 AND version = ?3", &st, err)))
		goto out;
	sqlite3_bind_int(st, 1, kind);
	bind_str(st, 2, name);
	bind_str(st, 3, version);
	if ((rc = step_done(s, st, "delete tag", err)))
		goto out;
	char label[1024];
	snprintf(label, sizeof(label), "%s:%s", name, version);
	rc = object_drop_if_untagged(s, id, label, force, "delete those first or use --force", err);
out:
	return bento_store_tx_close(s, rc, err);
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
	if ((rc = bento_store_tx_open(s, err)))
		return rc;
	if ((rc = bento_find(s, d, &id, err)) == 0 &&
	    (rc = attach_insert(s, t, id, name, data, len, err)) == 0)
		rc = attach_tally_locked(s, id, d, err);
	return bento_store_tx_close(s, rc, err);
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
