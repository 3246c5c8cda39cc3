/*
 * store_fsck.c - store maintenance: bento_store_fsck() (the database, the
 * history chain and every blob), bento_store_gc() and
 * bento_store_discard().
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "history.h"
#include "store.h"
#include "store_internal.h"

#define TMP_MAX_AGE 3600

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
 * everything else (bad may be NULL) but staging files (STAGE_PREFIX):
 * those last changed before stage_cutoff are removed (all with 0, none
 * with -1), as tmp_clean() removes the files of tmp/.
 */
typedef void (*blob_fn)(void *ctx, const char *path, const struct bento_digest *d,
			const struct stat *st);
typedef void (*bad_fn)(void *ctx, const char *path, const char *why);

static int blob_walk(struct bento_store *s, blob_fn fn, bad_fn bad, void *ctx,
		     time_t stage_cutoff, struct bento_error *err)
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
			if (strncmp(files[k], STAGE_PREFIX, strlen(STAGE_PREFIX)) == 0 &&
			    lstat(path, &st) == 0 && S_ISREG(st.st_mode)) {
				if (stage_cutoff == 0 || (stage_cutoff > 0 && st.st_mtime < stage_cutoff))
					unlink(path);
			} else if (!is_hex_n(files[k], BENTO_DIGEST_HEXLEN - 2) ||
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

/*
 * Remove staging files (tmp/XX/blob.*, and any file right in tmp/) last
 * changed before cutoff, or all with cutoff 0; drop_dirs also removes the
 * tmp/XX directories that are then empty.
 */
static void tmp_clean_dir(const char *dir, time_t cutoff, int depth, int drop_dirs)
{
	char **v;
	size_t n;

	if (list_dir(dir, &v, &n))
		return;
	for (size_t i = 0; i < n; i++) {
		char *path = bento_xasprintf("%s/%s", dir, v[i]);
		struct stat st;
		if (lstat(path, &st) < 0)
			;
		else if (!S_ISDIR(st.st_mode)) {
			if (cutoff == 0 || st.st_mtime < cutoff)
				unlink(path);
		} else if (depth == 0 && strlen(v[i]) == 2 && is_hex_n(v[i], 2)) {
			tmp_clean_dir(path, cutoff, 1, drop_dirs);
			if (drop_dirs)
				rmdir(path);
		}
		free(path);
	}
	free_names(v, n);
}

static void tmp_clean(struct bento_store *s, time_t cutoff, int drop_dirs)
{
	tmp_clean_dir(s->tmpdir, cutoff, 0, drop_dirs);
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

	tmp_clean(s, time(NULL) - TMP_MAX_AGE, 0);
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
		rc = blob_walk(s, fsck_blob, fsck_bad, &c, time(NULL) - TMP_MAX_AGE, err);
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


static void gc_blob(void *arg, const char *path, const struct bento_digest *d,
		    const struct stat *st)
{
	struct gc_ctx *c = arg;

	if (c->n_keep && bsearch(d, c->keep, c->n_keep, sizeof(*d), digest_cmp))
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
		qsort(c->keep, c->n_keep, sizeof(*c->keep), digest_cmp);
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
		rc = blob_walk(s, gc_blob, NULL, &c, dry_run ? -1 : 0, err);
	if (rc == 0 && !dry_run) {
		tmp_clean(s, 0, 0);
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
		tmp_clean(s, 0, 1);
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
