/* Unit tests: the local store (lib/store.c, store_blob.c, store_fsck.c). */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "history.h"
#include "store.h"
#include "fixture.h"
#include "tap.h"

static char tmpl[] = "/tmp/bento-test-store.XXXXXX";
static char *base;

/* The number a shell command prints, -1 if none. */
static int count_cmd(const char *cmd)
{
	FILE *f = popen(cmd, "r");
	int n = -1;

	if (f && fscanf(f, "%d", &n) != 1)
		n = -1;
	if (f)
		pclose(f);
	return n;
}

static int count_entries(const char *dir)
{
	char cmd[4096];

	snprintf(cmd, sizeof(cmd), "find '%s' -mindepth 1 ! -type d | wc -l", dir);
	return count_cmd(cmd);
}

/* Staging files under root: tmp/'s, and the small ones next to their blobs. */
static int count_staged(const char *root)
{
	char cmd[4096];

	snprintf(cmd, sizeof(cmd),
		 "{ find '%s/tmp' -type f; find '%s/blobs' -type f -name '.stage.*'; } | wc -l", root,
		 root);
	return count_cmd(cmd);
}

static int sql_exec(const char *root, const char *sql)
{
	char *path = path_in(root, "store.db");
	sqlite3 *db = NULL;
	int r = -1;

	if (sqlite3_open(path, &db) == SQLITE_OK) {
		sqlite3_busy_timeout(db, 5000);
		r = sqlite3_exec(db, sql, NULL, NULL, NULL);
		if (r != SQLITE_OK)
			fprintf(stderr, "# sql: %s\n", sqlite3_errmsg(db));
	}
	sqlite3_close(db);
	free(path);
	return r;
}

static struct bento_digest dig(const char *s)
{
	struct bento_digest d;

	bento_digest_bytes(s, strlen(s), &d);
	return d;
}

static struct bento_digest put_blob(struct bento_store *s, const char *content)
{
	struct bento_blob_writer *w = NULL;
	struct bento_digest d = { { 0 } };

	if (bento_blob_writer_new(s, &w, NULL) ||
	    bento_blob_write(w, content, strlen(content), NULL) ||
	    bento_blob_writer_commit(w, "fixture", NULL, &d, NULL, NULL))
		fprintf(stderr, "# put_blob failed\n");
	return d;
}

static void test_open(void)
{
	char *root = path_in(base, "s1"), *p;
	struct bento_store *s = NULL;
	struct bento_error err = { 0 };
	struct stat st;
	int rc;

	rc = bento_store_open(root, &s, &err);
	is_int(rc, 0, "open creates a fresh store: %s", err.msg);
	is_str(s ? bento_store_root(s) : NULL, root, "root is the path given");
	p = path_in(root, "blobs/sha256");
	ok(stat(p, &st) == 0 && S_ISDIR(st.st_mode), "blobs/sha256 exists");
	free(p);
	p = path_in(root, "tmp");
	ok(stat(p, &st) == 0 && S_ISDIR(st.st_mode), "tmp exists");
	free(p);
	p = path_in(root, "lock");
	ok(stat(p, &st) == 0 && S_ISREG(st.st_mode), "lock file exists");
	free(p);
	is_int(sql_int(root, "PRAGMA user_version"), 3, "schema version 3 (history, attachments, layer cache) after open");
	is_int(sql_int(root, "SELECT count(*) FROM sqlite_schema WHERE name = 'stat_cache'"), 1,
	       "schema created the tables");
	bento_store_close(s);
	s = NULL;
	rc = bento_store_open(root, &s, &err);
	is_int(rc, 0, "reopening an existing store works");
	is_int(sql_int(root, "PRAGMA user_version"), 3, "migrations are idempotent");
	bento_store_close(s);
	s = NULL;

	/* trailing slashes are dropped */
	p = bento_xasprintf("%s//", root);
	rc = bento_store_open(p, &s, &err);
	is_str(rc == 0 ? bento_store_root(s) : NULL, root, "trailing slashes are dropped");
	bento_store_close(s);
	s = NULL;
	free(p);

	sql_exec(root, "PRAGMA user_version = 99");
	rc = bento_store_open(root, &s, &err);
	is_int(rc, -BENTO_E_FAIL, "a newer schema is refused");
	ok(strstr(err.msg, "store.db: schema version 99 is newer than this bento (3)") != NULL,
	   "and the message says so: %s", err.msg);
	ok(s == NULL, "out is untouched on failure");
	free(root);

	/* a file where the store should be */
	root = path_in(base, "afile");
	write_file(root, "x", 1);
	rc = bento_store_open(root, &s, &err);
	ok(rc < 0 && strstr(err.msg, root), "a file in the way is an error naming it: %s", err.msg);
	free(root);

	/* default location */
	char *home = path_in(base, "home"), *want;
	setenv("BENTO_HOME", home, 1);
	rc = bento_store_open(NULL, &s, &err);
	is_str(rc == 0 ? bento_store_root(s) : NULL, home, "BENTO_HOME is the default root");
	bento_store_close(s);
	s = NULL;
	unsetenv("BENTO_HOME");
	setenv("XDG_DATA_HOME", home, 1);
	want = bento_xasprintf("%s/bento", home);
	rc = bento_store_open(NULL, &s, &err);
	is_str(rc == 0 ? bento_store_root(s) : NULL, want, "then $XDG_DATA_HOME/bento");
	bento_store_close(s);
	s = NULL;
	free(want);
	unsetenv("XDG_DATA_HOME");
	char *oldhome = getenv("HOME") ? bento_xstrdup(getenv("HOME")) : NULL;
	setenv("HOME", home, 1);
	want = bento_xasprintf("%s/.local/share/bento", home);
	rc = bento_store_open(NULL, &s, &err);
	is_str(rc == 0 ? bento_store_root(s) : NULL, want, "then ~/.local/share/bento");
	bento_store_close(s);
	free(want);
	if (oldhome)
		setenv("HOME", oldhome, 1);
	free(oldhome);
	free(home);
}

static void test_blobs(struct bento_store *s, const char *root)
{
	struct bento_blob_writer *w = NULL;
	struct bento_error err = { 0 };
	struct bento_digest d, want = dig("hello, world\n"), other = dig("other");
	char hex[BENTO_DIGEST_HEXLEN + 1], buf[64], *p, *tmp = path_in(root, "tmp");
	uint64_t size = 0;
	struct stat st;
	int rc, fd = -1;

	ok(!bento_blob_has(s, &want), "blob absent before writing");
	rc = bento_blob_open(s, &want, &fd, &err);
	is_int(rc, -BENTO_E_NOTFOUND, "opening an absent blob is NOTFOUND");
	bento_digest_hex(&want, hex);
	ok(strstr(err.msg, hex) != NULL, "and names the digest: %s", err.msg);

	bento_error_clear(&err);
	rc = bento_blob_writer_new(s, &w, &err);
	is_int(rc, 0, "writer_new");
	bento_blob_write(w, "hello, ", 7, &err);
	bento_blob_write(w, "world\n", 6, &err);
	rc = bento_blob_writer_commit(w, "greeting", &want, &d, &size, &err);
	is_int(rc, 0, "commit with the right expected digest: %s", err.msg);
	ok(bento_digest_eq(&d, &want), "commit reports the digest");
	is_int(size, 13, "commit reports the size");
	ok(bento_blob_has(s, &want), "blob present after commit");
	p = bento_blob_path(s, &want);
	char *expect_path = bento_xasprintf("%s/blobs/sha256/%.2s/%s", root, hex, hex + 2);
	is_str(p, expect_path, "blob path is blobs/sha256/<2hex>/<62hex>");
	ok(stat(p, &st) == 0 && (st.st_mode & 07777) == 0444, "blob file is mode 0444");
	free(expect_path);
	free(p);
	rc = bento_blob_open(s, &want, &fd, &err);
	is_int(rc, 0, "blob_open");
	ssize_t n = read(fd, buf, sizeof(buf));
	ok(n == 13 && memcmp(buf, "hello, world\n", 13) == 0, "blob holds the bytes");
	close(fd);
	is_int(count_entries(tmp), 0, "tmp/ is empty after commit");

	/* the same content again: already stored, still fine */
	bento_blob_writer_new(s, &w, &err);
	bento_blob_write(w, "hello, world\n", 13, &err);
	rc = bento_blob_writer_commit(w, NULL, NULL, &d, NULL, &err);
	ok(rc == 0 && bento_digest_eq(&d, &want), "committing stored content again succeeds");
	is_int(count_entries(tmp), 0, "and leaves nothing in tmp/");

	/* wrong expectation */
	memset(&d, 0, sizeof(d));
	bento_blob_writer_new(s, &w, &err);
	bento_blob_write(w, "evil", 4, &err);
	rc = bento_blob_writer_commit(w, "models/w.bin", &other, &d, NULL, &err);
	is_int(rc, -BENTO_E_VERIFY, "an unexpected digest is VERIFY");
	char ws[BENTO_DIGEST_STRLEN], gs[BENTO_DIGEST_STRLEN], msg[512];
	struct bento_digest evil = dig("evil");
	bento_digest_str(&other, ws);
	bento_digest_str(&evil, gs);
	snprintf(msg, sizeof(msg), "models/w.bin: digest mismatch: expected %s, got %s", ws, gs);
	is_str(err.msg, msg, "mismatch message names both digests");
	ok(!bento_blob_has(s, &evil) && !bento_blob_has(s, &other), "no blob stored on mismatch");
	is_int(count_entries(tmp), 0, "temp file removed on mismatch");
	struct bento_digest zero = { { 0 } };
	ok(bento_digest_eq(&d, &zero), "out untouched on failure");

	bento_blob_writer_new(s, &w, &err);
	bento_blob_write(w, "abandoned", 9, &err);
	bento_blob_writer_abort(w);
	bento_blob_writer_abort(NULL);
	is_int(count_entries(tmp), 0, "abort removes the temp file");
	struct bento_digest ab = dig("abandoned");
	ok(!bento_blob_has(s, &ab), "an aborted blob is not stored");
	free(tmp);
}

/*
 * Big blobs with a size hint: written by the helper thread with O_DIRECT,
 * the hint right, too big or too small; the same bytes land either way.
 */
static void test_big_blobs(struct bento_store *s, const char *root)
{
	static const struct {
		uint64_t hint;
		const char *how;
	} cases[] = {
		{ 0, "no hint" },
		{ 0, "exact hint" },
		{ 5u << 20, "hint 5 MiB more" },
		{ 16u << 20, "hint 16 MiB, more comes" },
	};
	const size_t len = (20u << 20) + 777;
	unsigned char *data = malloc(len);
	char *tmp = path_in(root, "tmp");
	struct bento_error err = { 0 };
	struct bento_digest want;
	uint32_t x = 7;

	for (size_t i = 0; i < len; i++) {
		x = x * 1103515245u + 12345u;
		data[i] = (unsigned char)(x >> 16);
	}
	bento_digest_bytes(data, len, &want);
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct bento_blob_writer *w = NULL;
		struct bento_digest d = { { 0 } }, got = { { 0 } };
		uint64_t hint = cases[c].hint ? cases[c].hint + (c == 2 ? len : 0) : (c ? len : 0);
		uint64_t size = 0, disk = 0;
		size_t off = 0, k = 1;
		char *p;
		int rc;

		/* a different blob each time: the last byte says which case it is */
		data[len - 1] = (unsigned char)c;
		bento_digest_bytes(data, len, &want);
		rc = bento_blob_writer_open(s, hint, &w, &err);
		while (rc == 0 && off < len) {
			k = k * 7 % 300007 + 1;
			if (k > len - off)
				k = len - off;
			rc = bento_blob_write(w, data + off, k, &err);
			off += k;
		}
		if (rc == 0)
			rc = bento_blob_writer_commit(w, "big", &want, &d, &size, &err);
		else
			bento_blob_writer_abort(w);
		p = bento_blob_path(s, &want);
		if (rc == 0)
			rc = bento_digest_path(p, &got, &disk, &err);
		ok(rc == 0 && size == len && bento_digest_eq(&got, &want) && disk == len,
		   "big blob, %s: committed, the file holds the bytes (%llu) %s", cases[c].how,
		   (unsigned long long)disk, rc ? err.msg : "");
		free(p);
	}
	is_int(count_entries(tmp), 0, "big blobs: nothing left in tmp/");

	/* abandoned halfway, with the helper thread holding slots */
	{
		struct bento_blob_writer *w = NULL;
		int rc = bento_blob_writer_open(s, len, &w, &err);

		for (size_t off = 0; rc == 0 && off < len / 2; off += 65536)
			rc = bento_blob_write(w, data + off, 65536, &err);
		is_int(count_entries(tmp), 1, "big blob halfway: one staging file");
		bento_blob_writer_abort(w);
		ok(rc == 0 && count_entries(tmp) == 0, "aborted halfway: the staging file is gone");
	}
	/* more than the disk has: refused before a byte is written */
	{
		struct bento_blob_writer *w = NULL;
		int rc = bento_blob_writer_open(s, (uint64_t)1 << 50, &w, &err);

		ok(rc == -ENOSPC && strstr(err.msg, "cannot reserve") && strstr(err.msg, "/tmp/") && strstr(err.msg, "/blob."),
		   "a 1 PiB hint: ENOSPC naming the staging file: %s", err.msg);
		is_int(count_entries(tmp), 0, "and no staging file left");
	}
	free(tmp);
	free(data);
}

static int put_path(struct bento_store *s, const char *path, struct bento_digest *d,
		    struct bento_error *err)
{
	struct stat st;
	int fd = open(path, O_RDONLY), rc;

	if (fd < 0 || fstat(fd, &st) < 0)
		return -errno;
	rc = bento_blob_put_file(s, NULL, fd, &st, path, d, err);
	close(fd);
	return rc;
}

static void test_put_file(struct bento_store *s, const char *root, const char *f1,
			  const char *f2)
{
	struct bento_error err = { 0 };
	struct bento_digest d, want1 = dig("first file\n"), want2 = dig("second file!\n");
	char w1[BENTO_DIGEST_STRLEN], w2[BENTO_DIGEST_STRLEN], sql[1024];
	char *tmp = path_in(root, "tmp"), *fresh = path_in(base, "fresh.txt");
	struct stat st;
	int rc;

	bento_digest_str(&want1, w1);
	bento_digest_str(&want2, w2);
	rc = put_path(s, f1, &d, &err);
	is_int(rc, 0, "put_file: %s", err.msg);
	ok(bento_digest_eq(&d, &want1), "put_file returns the content digest");
	ok(bento_blob_has(s, &want1), "and stores the blob");
	is_int(count_entries(tmp), 0, "put_file leaves nothing in tmp/");
	stat(f1, &st);
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM stat_cache WHERE ino = %lld AND size = %lld AND digest = '%s'",
		 (long long)st.st_ino, (long long)st.st_size, w1);
	is_int(sql_int(root, sql), 1, "put_file fills the stat cache");

	/* Point the cache entry at another stored blob: a hit returns it without reading. */
	rc = put_path(s, f2, &d, &err);
	ok(rc == 0 && bento_digest_eq(&d, &want2), "put_file of a second file");
	snprintf(sql, sizeof(sql), "UPDATE stat_cache SET digest = '%s' WHERE ino = %lld", w2,
		 (long long)st.st_ino);
	is_int(sql_exec(root, sql), SQLITE_OK, "tamper with the cache entry");
	rc = put_path(s, f1, &d, &err);
	ok(rc == 0 && bento_digest_eq(&d, &want2),
	   "an unchanged file is not read again (the cached digest comes back)");

	/* a cache hit whose blob is gone is not trusted */
	snprintf(sql, sizeof(sql), "UPDATE stat_cache SET digest = '%s' WHERE ino = %lld",
		 "sha256:0000000000000000000000000000000000000000000000000000000000000000",
		 (long long)st.st_ino);
	sql_exec(root, sql);
	rc = put_path(s, f1, &d, &err);
	ok(rc == 0 && bento_digest_eq(&d, &want1), "a cache entry whose blob is absent forces a read");

	/* a changed mtime forces a read */
	snprintf(sql, sizeof(sql), "UPDATE stat_cache SET digest = '%s' WHERE ino = %lld", w2,
		 (long long)st.st_ino);
	sql_exec(root, sql);
	struct timespec ts[2] = { { .tv_sec = 1000000000 }, { .tv_sec = 1000000000 } };
	utimensat(AT_FDCWD, f1, ts, 0);
	rc = put_path(s, f1, &d, &err);
	ok(rc == 0 && bento_digest_eq(&d, &want1), "a changed mtime forces a read");

	/* a file modified just now is stored but not cached (racy timestamps) */
	write_file(fresh, "fresh\n", 6);
	stat(fresh, &st);
	rc = put_path(s, fresh, &d, &err);
	struct bento_digest wantf = dig("fresh\n");
	ok(rc == 0 && bento_digest_eq(&d, &wantf), "put_file of a just-written file");
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM stat_cache WHERE ino = %lld",
		 (long long)st.st_ino);
	is_int(sql_int(root, sql), 0, "a just-written file is not cached");

	/* a size that does not match what is read: the file changed */
	int fd = open(f2, O_RDONLY);
	fstat(fd, &st);
	st.st_size += 1;
	memset(&d, 0, sizeof(d));
	rc = bento_blob_put_file(s, NULL, fd, &st, "weights.bin", &d, &err);
	is_int(rc, -BENTO_E_FAIL, "a file whose size changed is an error");
	is_str(err.msg, "weights.bin: file changed while reading", "naming the file");
	is_int(count_entries(tmp), 0, "and its temp file is gone");
	close(fd);

	/* not a regular file */
	fd = open(base, O_RDONLY | O_DIRECTORY);
	fstat(fd, &st);
	rc = bento_blob_put_file(s, NULL, fd, &st, "somedir", &d, &err);
	is_int(rc, -BENTO_E_INVALID, "a directory is refused");
	is_str(err.msg, "somedir: not a regular file", "naming it");
	close(fd);
	free(fresh);
	free(tmp);
}

struct thread_arg {
	struct bento_store *s;
	char *path;
	struct bento_digest want, got;
	int rc;
};

static void *put_thread(void *p)
{
	struct thread_arg *a = p;
	struct bento_error err = { 0 };

	for (int i = 0; i < 2 && a->rc == 0; i++)
		a->rc = put_path(a->s, a->path, &a->got, &err);
	return NULL;
}

/* Staged blobs reach blobs/ only on commit; freeing the stage removes them. */
/* A small blob whose file cannot be made: the commit says so and changes nothing. */
static void test_spill_failure(struct bento_store *s, const char *root)
{
	struct bento_blob_stage *st = bento_blob_stage_new(s);
	struct bento_blob_writer *w = NULL;
	struct bento_error err = { 0 };
	struct bento_digest d;
	char data[32], *dir = NULL;
	struct stat sb;
	int n = 0;

	/* content whose blobs/sha256/XX/ does not exist yet; a file takes its place */
	for (int i = 0; i < 100000 && !dir; i++) {
		char hex[BENTO_DIGEST_HEXLEN + 1];
		n = snprintf(data, sizeof(data), "spill %d", i);
		bento_digest_bytes(data, (size_t)n, &d);
		bento_digest_hex(&d, hex);
		char rel[32];
		snprintf(rel, sizeof(rel), "blobs/sha256/%.2s", hex);
		dir = path_in(root, rel);
		if (stat(dir, &sb) == 0) {
			free(dir);
			dir = NULL;
		}
	}
	if (!dir)
		abort();
	write_file(dir, "not a directory", 15);
	int blobs_before = count_entries(root);
	bento_blob_writer_new(s, &w, &err);
	bento_blob_write(w, data, (size_t)n, &err);
	ok(bento_blob_writer_stage(w, st, "spilled.txt", NULL, NULL, &err) == 0,
	   "a small blob is staged at once, its file made by a spill thread");
	free(bento_blob_stage_path(st, &d));	/* waits for the spill */
	bento_blob_writer_new(s, &w, &err);
	bento_blob_write(w, "after the failure", 17, &err);
	ok(bento_blob_writer_stage(w, st, "next.txt", NULL, NULL, &err) != 0 &&
	   strstr(err.msg, "spilled.txt: write"),
	   "the next blob staged gets that failure, so the command stops there: %s", err.msg);
	int rc = bento_store_commit(s, st, NULL, 0, &err);
	ok(rc != 0 && strstr(err.msg, "spilled.txt: write") && strstr(err.msg, dir),
	   "the spill's failure fails the commit, naming the file: %s", err.msg);
	bento_blob_stage_free(st);
	ok(!bento_blob_has(s, &d) && count_entries(root) == blobs_before && count_staged(root) == 0,
	   "and nothing is left of it");
	unlink(dir);
	free(dir);
}

static void test_stage(struct bento_store *s, const char *root)
{
	char *tmpdir = path_in(root, "tmp"), *blobdir = path_in(root, "blobs");
	struct bento_blob_stage *st = bento_blob_stage_new(s);
	struct bento_blob_writer *w = NULL;
	struct bento_error err = { 0 };
	struct bento_digest d, want, bad;
	int blobs_before = count_entries(blobdir);

	bento_digest_bytes("staged one", 10, &want);
	bento_blob_writer_new(s, &w, &err);
	bento_blob_write(w, "staged one", 10, &err);
	ok(bento_blob_writer_stage(w, st, "one", &want, &d, &err) == 0 && bento_digest_eq(&d, &want),
	   "stage verifies and reports the digest");
	ok(!bento_blob_has(s, &want), "a staged blob is not in blobs/ yet");
	char *sp = bento_blob_stage_path(st, &want), *bp = bento_blob_path(s, &want);
	is_int(count_staged(root), 1, "it waits in a staging file");
	bento_digest_bytes("other", 5, &bad);
	bento_blob_writer_new(s, &w, &err);
	bento_blob_write(w, "staged two", 10, &err);
	ok(bento_blob_writer_stage(w, st, "two", &bad, NULL, &err) == -BENTO_E_VERIFY &&
	   strstr(err.msg, "two: digest mismatch"), "a mismatch is refused by name");
	is_int(count_staged(root), 1, "the refused file leaves no staging file");
	ok(strncmp(sp, blobdir, strlen(blobdir)) == 0 && strstr(sp, "/.stage.") &&
	   access(sp, R_OK) == 0, "until the commit its bytes are in a staging file by its blob: %s",
	   sp);
	free(sp);
	ok(bento_store_commit(s, st, NULL, 0, &err) == 0 && bento_blob_has(s, &want), "commit installs it");
	sp = bento_blob_stage_path(st, &want);
	is_str(sp, bp, "then at its blob's path");
	free(sp);
	free(bp);
	is_int(count_entries(tmpdir), 0, "tmp/ is empty after commit");
	bento_blob_stage_free(st);
	ok(bento_blob_has(s, &want), "freeing a committed stage keeps its blobs");

	st = bento_blob_stage_new(s);
	bento_digest_bytes("never installed", 15, &want);
	bento_blob_writer_new(s, &w, &err);
	bento_blob_write(w, "never installed", 15, &err);
	bento_blob_writer_stage(w, st, "three", NULL, NULL, &err);
	free(bento_blob_stage_path(st, &want));	/* its staging file made */
	int blobs_mid = count_entries(blobdir);
	ok(count_staged(root) == 1, "an uncommitted stage has its staging file");
	bento_blob_stage_free(st);
	ok(!bento_blob_has(s, &want) && count_staged(root) == 0,
	   "freeing an uncommitted stage leaves neither blob nor staging file");
	is_int(count_entries(blobdir), blobs_mid - 1, "blobs/ untouched by an abandoned stage");
	ok(blobs_mid >= blobs_before, "blobs/ only grew by commits");
	free(tmpdir);
	free(blobdir);
}

static void test_threads(struct bento_store *s, const char *root)
{
	struct thread_arg a[4];
	pthread_t t[4];
	size_t big = 17u << 20, len;
	char *data = bento_xmalloc(big), *tmp = path_in(root, "tmp");
	int good = 1;

	for (int i = 0; i < 4; i++) {
		/* two files take the helper-thread copy (>= 16 MiB), two do not */
		len = i < 2 ? big : 3u << 20;
		/* files 2 and 3 share content: concurrent commits of one digest */
		for (size_t k = 0; k < len; k++)
			data[k] = (char)(k * 31 + (i == 3 ? 2 : i) * 7 + (k >> 12));
		a[i].s = s;
		a[i].path = bento_xasprintf("%s/thread%d.bin", base, i);
		a[i].rc = 0;
		write_file(a[i].path, data, len);
		bento_digest_bytes(data, len, &a[i].want);
	}
	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, put_thread, &a[i]);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < 4; i++) {
		if (a[i].rc || !bento_digest_eq(&a[i].got, &a[i].want) || !bento_blob_has(s, &a[i].want))
			good = 0;
		free(a[i].path);
	}
	ok(good, "4 threads storing files at once all succeed with the right digests");
	is_int(count_entries(tmp), 0, "no temp files left by the threads");

	/* a write error (here EFBIG from RLIMIT_FSIZE) fails cleanly, for both copy paths */
	struct rlimit old, lim;
	struct bento_error err = { 0 };
	struct bento_digest d;
	char *small = bento_xasprintf("%s/small.bin", base);
	char *large = bento_xasprintf("%s/large.bin", base);
	memset(data, 'x', big);
	write_file(small, data, 3u << 20);
	data[0] = 'y';
	write_file(large, data, big);
	getrlimit(RLIMIT_FSIZE, &old);
	lim = old;
	lim.rlim_cur = 1u << 20;
	signal(SIGXFSZ, SIG_IGN);
	setrlimit(RLIMIT_FSIZE, &lim);
	int rc1 = put_path(s, small, &d, &err);
	ok(rc1 == -EFBIG && strstr(err.msg, small) && strstr(err.msg, "write"),
	   "a write error is reported naming the file (small file): %s", err.msg);
	int rc2 = put_path(s, large, &d, &err);
	ok(rc2 == -EFBIG && strstr(err.msg, large) && strstr(err.msg, "write"),
	   "a write error is reported naming the file (big file): %s", err.msg);
	setrlimit(RLIMIT_FSIZE, &old);
	signal(SIGXFSZ, SIG_DFL);
	is_int(count_entries(tmp), 0, "no temp files left by failed writes");

	/* the big-file path also notices a size that does not match */
	int fd = open(large, O_RDONLY);
	struct stat st;
	fstat(fd, &st);
	st.st_size -= 1;
	rc1 = bento_blob_put_file(s, NULL, fd, &st, "big.bin", &d, &err);
	close(fd);
	is_str(rc1 == -BENTO_E_FAIL ? err.msg : NULL, "big.bin: file changed while reading",
	       "a size change is caught on the helper-thread path");
	rc1 = put_path(s, large, &d, &err);
	struct bento_digest want;
	bento_digest_bytes(data, big, &want);
	ok(rc1 == 0 && bento_digest_eq(&d, &want) && bento_blob_has(s, &want),
	   "and the same file stores fine afterwards");
	free(small);
	free(large);
	free(data);
	free(tmp);
}

static struct bento_object_put obj(enum bento_kind kind, const char *name, const char *version,
				   const char *manifest)
{
	struct bento_object_put p = {
		.kind = kind, .name = name, .version = version,
		.manifest = manifest, .manifest_len = strlen(manifest), .size = 42,
	};
	return p;
}

static void test_objects(struct bento_store *s, const char *root)
{
	struct bento_error err = { 0 };
	struct bento_object_ref r = { 0 };
	struct bento_digest b1 = put_blob(s, "weights"), b2 = put_blob(s, "code");
	struct bento_digest m1, m2, s1, s2, d, absent = dig("absent");
	struct bento_object_put p;
	struct bento_object_info *v = NULL;
	size_t n = 0;
	char hex[BENTO_DIGEST_STRLEN], ref[128], msg[1024];
	int rc;

	p = obj(BENTO_KIND_MODEL, "iris", "1", "{\"model\":\"iris\",\"v\":1}");
	p.blobs = &b1;
	p.n_blobs = 1;
	rc = bento_store_put(s, &p, &m1, &err);
	is_int(rc, 0, "put a model: %s", err.msg);
	ok(bento_digest_eq(&m1, &(struct bento_digest){ { 0 } }) == 0, "put reports the digest");
	d = dig("{\"model\":\"iris\",\"v\":1}");
	ok(bento_digest_eq(&m1, &d), "object digest is sha256 of the manifest");
	rc = bento_store_put(s, &p, &d, &err);
	ok(rc == 0 && bento_digest_eq(&m1, &d), "putting the same object and tag again is fine");
	p = obj(BENTO_KIND_MODEL, "iris", "2", "{\"model\":\"iris\",\"v\":2}");
	bento_store_put(s, &p, &m2, &err);

	struct bento_digest deps[2] = { m1, m1 }, blobs[3] = { b2, b1, b2 };
	p = obj(BENTO_KIND_BENTO, "svc", "1", "{\"bento\":\"svc\",\"v\":1}");
	p.deps = deps;
	p.n_deps = 2;
	p.blobs = blobs;
	p.n_blobs = 3;
	rc = bento_store_put(s, &p, &s1, &err);
	is_int(rc, 0, "put a bento with (repeated) deps and blobs: %s", err.msg);
	snprintf(msg, sizeof(msg), "SELECT count(*) FROM object_blobs b "
		 "JOIN objects o ON o.id = b.object_id WHERE o.kind = 2");
	is_int(sql_int(root, msg), 2, "repeated blobs are stored once");
	p = obj(BENTO_KIND_BENTO, "svc", "2", "{\"bento\":\"svc\",\"v\":2}");
	p.blobs = &b2;
	p.n_blobs = 1;
	rc = bento_store_put(s, &p, &s2, &err);
	is_int(rc, 0, "put svc:2");
	ok(bento_store_has_object(s, BENTO_KIND_BENTO, &s1) &&
	   bento_store_has_object(s, BENTO_KIND_MODEL, &m1), "has_object finds a bento and a model");
	ok(!bento_store_has_object(s, BENTO_KIND_MODEL, &s1) &&
	   !bento_store_has_object(s, BENTO_KIND_BENTO, &absent),
	   "has_object: not as the other kind, not what is absent");

	/* failures change nothing */
	long long objects = sql_int(root, "SELECT count(*) FROM objects");
	long long tags = sql_int(root, "SELECT count(*) FROM tags");
	p = obj(BENTO_KIND_BENTO, "bad", "1", "{\"bento\":\"bad\"}");
	p.blobs = &absent;
	p.n_blobs = 1;
	rc = bento_store_put(s, &p, NULL, &err);
	is_int(rc, -BENTO_E_NOTFOUND, "a missing blob is NOTFOUND");
	bento_digest_str(&absent, hex);
	ok(strstr(err.msg, hex) && strstr(err.msg, "bad:1"), "naming the blob and the tag: %s", err.msg);
	p.blobs = &b1;
	p.deps = &absent;
	p.n_deps = 1;
	rc = bento_store_put(s, &p, NULL, &err);
	is_int(rc, -BENTO_E_NOTFOUND, "a missing model is NOTFOUND");
	snprintf(msg, sizeof(msg), "model %s is not in the store", hex);
	is_str(err.msg, msg, "naming the model");
	p.deps = &s1;
	rc = bento_store_put(s, &p, NULL, &err);
	is_int(rc, -BENTO_E_NOTFOUND, "a bento is not a model");
	is_int(sql_int(root, "SELECT count(*) FROM objects"), objects, "no object left by failed puts");
	is_int(sql_int(root, "SELECT count(*) FROM tags"), tags, "no tag left by failed puts");

	p = obj(BENTO_KIND_BENTO, "svc", "1", "{\"bento\":\"svc\",\"v\":\"1b\"}");
	rc = bento_store_put(s, &p, &d, &err);
	is_int(rc, -BENTO_E_EXISTS, "an existing tag for another digest is EXISTS");
	bento_digest_str(&s1, hex);
	snprintf(msg, sizeof(msg), "svc:1 already exists (%s); use a new version or --force", hex);
	is_str(err.msg, msg, "with the existing digest and a hint");
	is_int(sql_int(root, "SELECT count(*) FROM objects"), objects, "and no object was added");
	p = obj(BENTO_KIND_MODEL, "x", "1", "{\"bento\":\"svc\",\"v\":2}");
	rc = bento_store_put(s, &p, &d, &err);
	is_int(rc, -BENTO_E_EXISTS, "the same manifest as another kind is refused");
	p = obj(BENTO_KIND_BENTO, "a:b", "1", "{}");
	is_int(bento_store_put(s, &p, NULL, &err), -BENTO_E_USAGE, "a name with ':' is refused");
	p = obj(BENTO_KIND_BENTO, "a", "", "{}");
	is_int(bento_store_put(s, &p, NULL, &err), -BENTO_E_USAGE, "an empty version is refused");
	p = obj(BENTO_KIND_MODEL, "m", "1", "{}");
	p.deps = &m1;
	p.n_deps = 1;
	is_int(bento_store_put(s, &p, NULL, &err), -BENTO_E_USAGE, "a model cannot use models");

	/* resolve */
	rc = bento_store_resolve(s, BENTO_KIND_BENTO, "svc", &r, &err);
	ok(rc == 0 && bento_digest_eq(&r.digest, &s2) && strcmp(r.version, "2") == 0,
	   "'svc' resolves to the newest tag");
	bento_object_ref_release(&r);
	rc = bento_store_resolve(s, BENTO_KIND_BENTO, "svc:latest", &r, &err);
	ok(rc == 0 && bento_digest_eq(&r.digest, &s2), "'svc:latest' too");
	bento_object_ref_release(&r);
	rc = bento_store_resolve(s, BENTO_KIND_BENTO, "svc:1", &r, &err);
	ok(rc == 0 && bento_digest_eq(&r.digest, &s1) && strcmp(r.name, "svc") == 0 &&
	   strcmp(r.version, "1") == 0, "'svc:1' resolves exactly");
	bento_object_ref_release(&r);
	bento_digest_str(&s1, hex);
	rc = bento_store_resolve(s, BENTO_KIND_BENTO, hex, &r, &err);
	ok(rc == 0 && bento_digest_eq(&r.digest, &s1) && r.name && strcmp(r.name, "svc") == 0,
	   "a full digest resolves, with its tag");
	bento_object_ref_release(&r);
	snprintf(ref, sizeof(ref), "%.19s", hex);
	rc = bento_store_resolve(s, BENTO_KIND_BENTO, ref, &r, &err);
	ok(rc == 0 && bento_digest_eq(&r.digest, &s1), "sha256: + 12 hex resolves");
	bento_object_ref_release(&r);
	snprintf(ref, sizeof(ref), "%.12s", hex + 7);
	rc = bento_store_resolve(s, BENTO_KIND_BENTO, ref, &r, &err);
	ok(rc == 0 && bento_digest_eq(&r.digest, &s1), "12 bare hex resolve");
	bento_object_ref_release(&r);
	snprintf(ref, sizeof(ref), "%.11s", hex + 7);
	rc = bento_store_resolve(s, BENTO_KIND_BENTO, ref, &r, &err);
	is_int(rc, -BENTO_E_NOTFOUND, "11 bare hex are a name, not a digest");
	snprintf(ref, sizeof(ref), "%.18s", hex);
	rc = bento_store_resolve(s, BENTO_KIND_BENTO, ref, &r, &err);
	is_int(rc, -BENTO_E_USAGE, "sha256: + 11 hex is too short");
	ok(strstr(err.msg, "at least 12") != NULL, "and says why: %s", err.msg);
	rc = bento_store_resolve(s, BENTO_KIND_BENTO, "sha256:zzzzzzzzzzzzzz", &r, &err);
	is_int(rc, -BENTO_E_USAGE, "non-hex digest is refused");
	rc = bento_store_resolve(s, BENTO_KIND_BENTO, "nope", &r, &err);
	is_int(rc, -BENTO_E_NOTFOUND, "unknown name is NOTFOUND");
	is_str(err.msg, "bento 'nope' not found", "with the reference in the message");
	rc = bento_store_resolve(s, BENTO_KIND_BENTO, "svc:9", &r, &err);
	is_int(rc, -BENTO_E_NOTFOUND, "unknown version is NOTFOUND");
	rc = bento_store_resolve(s, BENTO_KIND_MODEL, "svc", &r, &err);
	is_int(rc, -BENTO_E_NOTFOUND, "a bento is not found as a model");
	is_str(err.msg, "model 'svc' not found", "and the message says model");
	bento_digest_str(&m1, hex);
	rc = bento_store_resolve(s, BENTO_KIND_BENTO, hex, &r, &err);
	is_int(rc, -BENTO_E_NOTFOUND, "a model digest does not resolve as a bento");
	is_int(bento_store_resolve(s, BENTO_KIND_BENTO, "", &r, &err), -BENTO_E_USAGE,
	       "empty reference is USAGE");
	is_int(bento_store_resolve(s, BENTO_KIND_BENTO, ":1", &r, &err), -BENTO_E_USAGE,
	       "empty name is USAGE");
	ok(r.name == NULL && r.version == NULL, "out untouched after failures");

	/* a version literally named latest wins for name:latest, not for name */
	p = obj(BENTO_KIND_BENTO, "lt", "latest", "{\"lt\":0}");
	bento_store_put(s, &p, &d, &err);
	p = obj(BENTO_KIND_BENTO, "lt", "2", "{\"lt\":2}");
	bento_store_put(s, &p, NULL, &err);
	rc = bento_store_resolve(s, BENTO_KIND_BENTO, "lt:latest", &r, &err);
	ok(rc == 0 && bento_digest_eq(&r.digest, &d) && strcmp(r.version, "latest") == 0,
	   "a real version 'latest' wins for name:latest");
	bento_object_ref_release(&r);
	rc = bento_store_resolve(s, BENTO_KIND_BENTO, "lt", &r, &err);
	ok(rc == 0 && strcmp(r.version, "2") == 0, "bare name is still the newest tag");
	bento_object_ref_release(&r);

	/* manifest */
	struct bento_buf mb = BENTO_BUF_INIT;
	rc = bento_store_manifest(s, BENTO_KIND_BENTO, &s1, &mb, &err);
	is_str(rc == 0 ? mb.buf : NULL, "{\"bento\":\"svc\",\"v\":1}", "manifest returns the bytes");
	bento_buf_release(&mb);
	rc = bento_store_manifest(s, BENTO_KIND_MODEL, &s1, &mb, &err);
	is_int(rc, -BENTO_E_NOTFOUND, "manifest of the wrong kind is NOTFOUND");

	/* list */
	rc = bento_store_list(s, BENTO_KIND_BENTO, NULL, &v, &n, &err);
	is_int(n, 4, "list shows every bento tag");
	ok(rc == 0 && n == 4 && strcmp(v[0].name, "lt") == 0 && strcmp(v[0].version, "2") == 0 &&
	   strcmp(v[1].version, "latest") == 0 && strcmp(v[2].version, "2") == 0 &&
	   strcmp(v[3].version, "1") == 0 && bento_digest_eq(&v[3].digest, &s1),
	   "newest first");
	ok(n == 4 && v[3].size == 42 && v[3].added > 1600000000, "with size and time added");
	bento_object_info_free(v, n);
	rc = bento_store_list(s, BENTO_KIND_BENTO, "svc", &v, &n, &err);
	ok(rc == 0 && n == 2 && strcmp(v[0].version, "2") == 0, "list filtered by name");
	bento_object_info_free(v, n);
	rc = bento_store_list(s, BENTO_KIND_MODEL, "nobody", &v, &n, &err);
	ok(rc == 0 && n == 0, "an empty list is fine");
	bento_object_info_free(v, n);

	/* tag */
	rc = bento_store_tag(s, BENTO_KIND_BENTO, &s2, "prod", "1", 0, &err);
	is_int(rc, 0, "tag an existing bento");
	rc = bento_store_resolve(s, BENTO_KIND_BENTO, "prod", &r, &err);
	ok(rc == 0 && bento_digest_eq(&r.digest, &s2), "the new tag resolves");
	bento_object_ref_release(&r);
	bento_digest_str(&s2, hex);
	rc = bento_store_resolve(s, BENTO_KIND_BENTO, hex, &r, &err);
	ok(rc == 0 && strcmp(r.name, "prod") == 0, "a digest resolves to its newest tag");
	bento_object_ref_release(&r);
	rc = bento_store_tag(s, BENTO_KIND_BENTO, &absent, "prod", "2", 0, &err);
	is_int(rc, -BENTO_E_NOTFOUND, "tagging an absent digest is NOTFOUND");
	rc = bento_store_tag(s, BENTO_KIND_BENTO, &s1, "prod", "1", 0, &err);
	is_int(rc, -BENTO_E_EXISTS, "moving a tag without replace is EXISTS");
	rc = bento_store_tag(s, BENTO_KIND_BENTO, &s1, "prod", "1", 1, &err);
	is_int(rc, 0, "moving a tag with replace works");
	rc = bento_store_resolve(s, BENTO_KIND_BENTO, "prod:1", &r, &err);
	ok(rc == 0 && bento_digest_eq(&r.digest, &s1), "and the tag moved");
	bento_object_ref_release(&r);
	ok(bento_store_resolve(s, BENTO_KIND_BENTO, hex, &r, &err) == 0,
	   "the old object keeps its other tag (svc:2)");
	bento_object_ref_release(&r);

	/* replace in put drops an object whose last tag moves away */
	p = obj(BENTO_KIND_BENTO, "tmpb", "1", "{\"tmpb\":1}");
	bento_store_put(s, &p, &d, &err);
	p = obj(BENTO_KIND_BENTO, "tmpb", "1", "{\"tmpb\":2}");
	p.replace = 1;
	rc = bento_store_put(s, &p, NULL, &err);
	is_int(rc, 0, "put with replace moves the tag");
	bento_digest_str(&d, hex);
	is_int(bento_store_resolve(s, BENTO_KIND_BENTO, hex, &r, &err), -BENTO_E_NOTFOUND,
	       "the object that lost its last tag is gone");

	/* model users */
	rc = bento_store_model_users(s, &m1, &v, &n, &err);
	ok(rc == 0 && n == 2 && strcmp(v[0].name, "prod") == 0 && strcmp(v[1].name, "svc") == 0,
	   "model_users lists every tag of the bento using the model");
	bento_object_info_free(v, n);
	rc = bento_store_model_users(s, &m2, &v, &n, &err);
	ok(rc == 0 && n == 0, "an unused model has no users");
	bento_object_info_free(v, n);

	/* untag */
	rc = bento_store_untag(s, BENTO_KIND_MODEL, "iris", "2", 0, &err);
	is_int(rc, 0, "untag an unused model");
	is_int(bento_store_resolve(s, BENTO_KIND_MODEL, "iris:2", &r, &err), -BENTO_E_NOTFOUND,
	       "its tag is gone");
	bento_digest_str(&m2, hex);
	is_int(bento_store_resolve(s, BENTO_KIND_MODEL, hex, &r, &err), -BENTO_E_NOTFOUND,
	       "and so is the object");
	rc = bento_store_untag(s, BENTO_KIND_MODEL, "iris", "2", 0, &err);
	is_int(rc, -BENTO_E_NOTFOUND, "untag of an absent tag is NOTFOUND");
	is_str(err.msg, "model 'iris:2' not found", "naming it");

	rc = bento_store_untag(s, BENTO_KIND_MODEL, "iris", "1", 0, &err);
	is_int(rc, -BENTO_E_INUSE, "a model used by a bento is INUSE");
	is_str(err.msg,
	       "model iris:1 is used by bento prod:1 (and 1 more); delete those first or use --force",
	       "naming the bento");
	ok(bento_store_resolve(s, BENTO_KIND_MODEL, "iris:1", &r, &err) == 0, "and the tag stays");
	bento_object_ref_release(&r);

	/* replacing the tag of a used model would break the bento: refused */
	p = obj(BENTO_KIND_MODEL, "iris", "1", "{\"model\":\"iris\",\"v\":\"1b\"}");
	p.replace = 1;
	rc = bento_store_put(s, &p, NULL, &err);
	is_int(rc, -BENTO_E_INUSE, "replacing a used model's only tag is INUSE");
	ok(bento_store_resolve(s, BENTO_KIND_MODEL, "iris:1", &r, &err) == 0 &&
	   bento_digest_eq(&r.digest, &m1), "and iris:1 is unchanged");
	bento_object_ref_release(&r);

	/* removing a bento tag while others remain keeps the object */
	rc = bento_store_untag(s, BENTO_KIND_BENTO, "prod", "1", 0, &err);
	is_int(rc, 0, "untag one of two tags");
	bento_digest_str(&s1, hex);
	ok(bento_store_resolve(s, BENTO_KIND_BENTO, hex, &r, &err) == 0, "the object stays");
	bento_object_ref_release(&r);

	rc = bento_store_untag(s, BENTO_KIND_MODEL, "iris", "1", 1, &err);
	is_int(rc, 0, "force removes a used model");
	bento_digest_str(&m1, hex);
	is_int(bento_store_resolve(s, BENTO_KIND_MODEL, hex, &r, &err), -BENTO_E_NOTFOUND,
	       "the model object is gone");
	is_int(sql_int(root, "SELECT count(*) FROM object_deps"), 0, "with its dependency rows");
	ok(bento_store_resolve(s, BENTO_KIND_BENTO, "svc:1", &r, &err) == 0, "the bento stays");
	bento_object_ref_release(&r);
	rc = bento_store_model_users(s, &m1, &v, &n, &err);
	is_int(rc, -BENTO_E_NOTFOUND, "model_users of an absent model is NOTFOUND");
	is_int(sql_int(root, "PRAGMA foreign_key_check"), 0, "foreign keys are consistent");
}

static void test_ambiguous(void)
{
	char *root = path_in(base, "amb");
	struct bento_store *s = NULL;
	struct bento_error err = { 0 };
	struct bento_object_ref r = { 0 };
	int rc;

	bento_store_open(root, &s, &err);
	/* two digests sharing 12 hex digits cannot be made by hashing; write the rows */
	sql_exec(root,
		 "INSERT INTO objects (id, kind, digest, manifest, size, added) VALUES "
		 "(1, 2, 'sha256:abcdefabcdef1111111111111111111111111111111111111111111111111111', x'00', 0, 0),"
		 "(2, 2, 'sha256:abcdefabcdef2222222222222222222222222222222222222222222222222222', x'00', 0, 0);"
		 "INSERT INTO tags VALUES (2, 'a', '1', 1, 0, 1), (2, 'b', '1', 2, 0, 2);");
	rc = bento_store_resolve(s, BENTO_KIND_BENTO, "abcdefabcdef", &r, &err);
	is_int(rc, -BENTO_E_AMBIGUOUS, "a prefix matching two objects is AMBIGUOUS");
	is_str(err.msg,
	       "bento 'abcdefabcdef' is ambiguous: "
	       "a:1 (sha256:abcdefabcdef1111111111111111111111111111111111111111111111111111), "
	       "b:1 (sha256:abcdefabcdef2222222222222222222222222222222222222222222222222222)",
	       "listing the candidates");
	rc = bento_store_resolve(s, BENTO_KIND_BENTO, "sha256:ABCDEFABCDEF2", &r, &err);
	ok(rc == 0 && strcmp(r.name, "b") == 0, "a longer (upper-case) prefix picks one");
	bento_object_ref_release(&r);

	/* a corrupt manifest is caught on read */
	struct bento_buf mb = BENTO_BUF_INIT;
	struct bento_digest d;
	bento_digest_parse("sha256:abcdefabcdef1111111111111111111111111111111111111111111111111111",
			   &d, NULL);
	rc = bento_store_manifest(s, BENTO_KIND_BENTO, &d, &mb, &err);
	is_int(rc, -BENTO_E_CORRUPT, "a manifest not matching its digest is CORRUPT");
	bento_buf_release(&mb);
	bento_store_close(s);
	free(root);
}

static void test_fsck_gc(struct bento_store *s, const char *root)
{
	struct bento_fsck_problem *p = NULL;
	struct bento_error err = { 0 };
	struct bento_digest d, keep = dig("code");
	uint64_t checked = 0, blobs = 0, bytes = 0;
	size_t n = 0;
	char hex[BENTO_DIGEST_STRLEN], *path;
	int rc;

	/* an old leftover in tmp/ is cleaned, a fresh one is kept */
	char *old = path_in(root, "tmp/blob.old"), *fresh = path_in(root, "tmp/blob.new");
	char *sdir = path_in(root, "tmp/ab"), *sold = path_in(root, "tmp/ab/blob.old");
	char *sfresh = path_in(root, "tmp/ab/blob.new");
	char *bdir = path_in(root, "blobs/sha256/cd"), *bold = path_in(root, "blobs/sha256/cd/.stage.old");
	char *bfresh = path_in(root, "blobs/sha256/cd/.stage.new");
	mkdir(sdir, 0755);
	mkdir(bdir, 0755);
	write_file(bold, "x", 1);
	write_file(bfresh, "y", 1);
	write_file(old, "x", 1);
	write_file(fresh, "y", 1);
	write_file(sold, "x", 1);
	write_file(sfresh, "y", 1);
	struct timespec ts[2] = { { .tv_sec = time(NULL) - 7200 }, { .tv_sec = time(NULL) - 7200 } };
	utimensat(AT_FDCWD, old, ts, 0);
	utimensat(AT_FDCWD, sold, ts, 0);
	utimensat(AT_FDCWD, bold, ts, 0);

	rc = bento_store_fsck(s, &p, &n, &checked, &err);
	is_int(rc, 0, "fsck runs: %s", err.msg);
	is_int(n, 0, "a healthy store has no problems");
	for (size_t i = 0; i < n; i++)
		printf("#   %s\n", p[i].what);
	ok(checked > 5, "fsck rehashed every blob (%llu)", (unsigned long long)checked);
	bento_fsck_free(p, n);
	ok(access(old, F_OK) != 0, "fsck removes tmp/ files older than an hour");
	ok(access(fresh, F_OK) == 0, "but keeps fresh ones");
	ok(access(sold, F_OK) != 0 && access(sfresh, F_OK) == 0,
	   "and so in the staging directories tmp/XX/");
	ok(access(bold, F_OK) != 0 && access(bfresh, F_OK) == 0,
	   "and small blobs' staging files by their blobs, which are no problem");

	/* flip a byte in a referenced blob */
	path = bento_blob_path(s, &keep);
	chmod(path, 0644);
	write_file(path, "cod3", 4);
	chmod(path, 0444);
	/* and drop a stray file into blobs/ */
	char *stray = path_in(root, "blobs/sha256/zz");
	write_file(stray, "?", 1);
	rc = bento_store_fsck(s, &p, &n, &checked, &err);
	is_int(rc, 0, "fsck of a damaged store still runs");
	bento_digest_str(&keep, hex);
	struct bento_digest bad = dig("cod3");
	char badhex[BENTO_DIGEST_STRLEN], want[512];
	bento_digest_str(&bad, badhex);
	snprintf(want, sizeof(want), "blob %s: digest mismatch (content is %s)", hex, badhex);
	int found = 0, found_stray = 0;
	for (size_t i = 0; i < n; i++) {
		found |= strcmp(p[i].what, want) == 0;
		found_stray |= strstr(p[i].what, stray) != NULL;
	}
	ok(found, "a flipped byte is reported naming the digest");
	ok(found_stray, "a stray file in blobs/ is reported");
	bento_fsck_free(p, n);
	unlink(stray);
	free(stray);

	/* a missing referenced blob */
	unlink(path);
	rc = bento_store_fsck(s, &p, &n, &checked, &err);
	found = 0;
	for (size_t i = 0; i < n; i++)
		found |= strstr(p[i].what, hex) && strstr(p[i].what, "missing");
	ok(rc == 0 && found, "a missing referenced blob is reported");
	bento_fsck_free(p, n);
	write_file(path, "code", 4);
	chmod(path, 0444);
	free(path);

	/* gc */
	d = put_blob(s, "orphan blob");
	uint64_t len = strlen("orphan blob");
	rc = bento_store_gc(s, 1, &blobs, &bytes, &err);
	ok(rc == 0 && blobs >= 1 && bytes >= len, "gc --dry-run counts unreferenced blobs");
	ok(bento_blob_has(s, &d), "but removes nothing");
	rc = bento_store_gc(s, 0, &blobs, &bytes, &err);
	is_int(rc, 0, "gc runs: %s", err.msg);
	ok(blobs >= 1 && bytes >= len, "gc reports what it removed (%llu blobs, %llu bytes)",
	   (unsigned long long)blobs, (unsigned long long)bytes);
	ok(!bento_blob_has(s, &d), "the unreferenced blob is gone");
	ok(bento_blob_has(s, &keep), "a referenced blob stays");
	ok(access(fresh, F_OK) != 0 && access(sfresh, F_OK) != 0 && access(bfresh, F_OK) != 0,
	   "gc removes every staging file");
	free(bdir);
	free(bold);
	free(bfresh);
	free(sdir);
	free(sold);
	free(sfresh);
	rc = bento_store_gc(s, 0, &blobs, &bytes, &err);
	ok(rc == 0 && blobs == 0 && bytes == 0, "a second gc finds nothing");
	rc = bento_store_fsck(s, &p, &n, &checked, &err);
	ok(rc == 0 && n == 0, "the store is clean after gc");
	bento_fsck_free(p, n);
	/* the store still works after gc (the lock went back to shared) */
	d = put_blob(s, "after gc");
	ok(bento_blob_has(s, &d), "writing after gc works");
	free(old);
	free(fresh);
}

static void test_fork_open(void)
{
	int good = 1;

	for (int round = 0; round < 5; round++) {
		char *root = bento_xasprintf("%s/race%d", base, round);
		int gate[2];
		pid_t pids[2];

		if (pipe(gate) < 0)
			exit(1);
		for (int i = 0; i < 2; i++) {
			pids[i] = fork();
			if (pids[i] == 0) {
				struct bento_store *s = NULL;
				char c;
				close(gate[1]);
				if (read(gate[0], &c, 1) < 0)
					_exit(3);
				struct bento_error e = { 0 };
				int rc = bento_store_open(root, &s, &e);
				if (rc == 0) {
					struct bento_digest d = put_blob(s, i ? "one" : "two");
					struct bento_object_put p = obj(BENTO_KIND_MODEL, "m",
									i ? "1" : "2",
									i ? "{\"a\":1}" : "{\"a\":2}");
					p.blobs = &d;
					p.n_blobs = 1;
					rc = bento_store_put(s, &p, NULL, &e);
				}
				if (rc)
					fprintf(stderr, "# child %d: %s\n", i, e.msg);
				bento_store_close(s);
				free(root);	/* valgrind checks the children too */
				_exit(rc == 0 ? 0 : 1);
			}
		}
		close(gate[0]);
		close(gate[1]);	/* EOF releases both at once */
		for (int i = 0; i < 2; i++) {
			int status = 0;
			waitpid(pids[i], &status, 0);
			if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
				good = 0;
		}
		if (sql_int(root, "SELECT count(*) FROM tags") != 2)
			good = 0;
		free(root);
	}
	ok(good, "two processes opening and writing a fresh store at once both succeed (5 rounds)");
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Stage a blob of content into st; its digest. */
static struct bento_digest stage_blob(struct bento_store *s, struct bento_blob_stage *st,
				      const char *content)
{
	struct bento_blob_writer *w = NULL;
	struct bento_digest d = { { 0 } };

	if (bento_blob_writer_new(s, &w, NULL) ||
	    bento_blob_write(w, content, strlen(content), NULL) ||
	    bento_blob_writer_stage(w, st, "fixture", NULL, &d, NULL))
		fprintf(stderr, "# stage_blob failed\n");
	return d;
}

/*
 * bento_store_commit: the models, the bento, what it carries, its events and
 * the staged blobs go in together, or nothing does (issue 9: a refused pull
 * left its models and blobs behind).
 */
static void test_commit(struct bento_store *s, const char *root)
{
	struct bento_blob_stage *st = bento_blob_stage_new(s);
	struct bento_error err = { 0 };
	struct bento_digest mb = stage_blob(s, st, "model weights, staged"), md, bd, other;
	struct bento_attachment att = { "provenance.dsse.json", "{\"x\":1}", 7 };
	struct bento_object_put p[2];
	const char *counts = "SELECT (SELECT count(*) FROM objects) * 1000000 + "
			     "(SELECT count(*) FROM tags) * 10000 + (SELECT count(*) FROM history) * 100 + "
			     "(SELECT count(*) FROM attestations)";
	long long before;
	int rc;

	/* something else holds the bento's tag */
	struct bento_object_put taken = obj(BENTO_KIND_BENTO, "race", "1", "{\"bento\":\"winner\"}");
	is_int(bento_store_put(s, &taken, &other, &err), 0, "the winner's bento");
	before = sql_int(root, counts);
	p[0] = obj(BENTO_KIND_MODEL, "racemodel", "1", "{\"model\":\"loser\"}");
	p[0].blobs = &mb;
	p[0].n_blobs = 1;
	struct bento_event_in ev = { .action = "import", .kind = BENTO_KIND_BENTO, .name = "race",
				     .version = "1", .digest = &bd };
	bento_digest_bytes(p[0].manifest, p[0].manifest_len, &md);
	p[1] = obj(BENTO_KIND_BENTO, "race", "1", "{\"bento\":\"loser\"}");
	p[1].blobs = &mb;
	p[1].n_blobs = 1;
	p[1].deps = &md;
	p[1].n_deps = 1;
	p[1].event = &ev;
	p[1].atts = &att;
	p[1].n_atts = 1;
	bento_digest_bytes(p[1].manifest, p[1].manifest_len, &bd);
	rc = bento_store_commit(s, st, p, 2, &err);
	ok(rc == -BENTO_E_EXISTS && strstr(err.msg, "race:1 already exists"),
	   "a bento whose tag is taken is refused: %s", err.msg);
	is_int(sql_int(root, counts), before, "no object, tag, event or attestation of it stays");
	ok(!bento_blob_has(s, &mb), "and its staged blob did not go into blobs/");

	/* a blob neither stored nor staged */
	struct bento_digest absent = dig("never stored");
	p[1].name = "race2";
	p[1].blobs = &absent;
	rc = bento_store_commit(s, st, p, 2, &err);
	ok(rc == -BENTO_E_NOTFOUND && strstr(err.msg, "race2:1"), "a missing blob: %s", err.msg);
	is_int(sql_int(root, counts), before, "nothing of it stays either");
	ok(!bento_blob_has(s, &mb), "the staged blob is still only staged");

	/* an attachment the rules refuse: nothing, before any transaction */
	struct bento_attachment evil = { "../evil.dsse.json", "{}", 2 };
	p[1].blobs = &mb;
	p[1].atts = &evil;
	rc = bento_store_commit(s, st, p, 2, &err);
	ok(rc == -BENTO_E_UNSAFE && strstr(err.msg, "race2:1") && strstr(err.msg, "../evil.dsse.json"),
	   "an attestation name with a path: %s", err.msg);
	is_int(sql_int(root, counts), before, "nothing of it stays");

	p[1].atts = &att;
	rc = bento_store_commit(s, st, p, 2, &err);
	is_int(rc, 0, "under a free tag all of it goes in: %s", err.msg);
	ok(bento_blob_has(s, &mb), "the staged blob with it");
	is_int(sql_int(root, counts), before + 2000000 + 20000 + 100 + 1,
	       "two objects, two tags, one event, one attestation");
	bento_blob_stage_free(st);
}

/* The caps on what a bento carries (store.h), the same wherever it comes from. */
static void test_caps(struct bento_store *s, const char *root)
{
	struct bento_attachment_tally t = { 0 };
	struct bento_error err = { 0 };
	char name[64];
	int rc;

	is_int(bento_attachment_admit(&t, 1, "0123456789ABCDEF.minisig", BENTO_SIG_MAX, &err), 0,
	       "a signature of 64 KiB");
	rc = bento_attachment_admit(&t, 1, "0123456789ABCDEF.minisig", BENTO_SIG_MAX + 1, &err);
	ok(rc == -BENTO_E_VERIFY && strstr(err.msg, "65537 bytes, more than the 65536 a signature"),
	   "one byte more: %s", err.msg);
	is_int((int)t.sigs, 1, "a refused one is not counted");
	rc = bento_attachment_admit(&t, 1, "0123456789ABCDEF", 10, &err);
	ok(rc == -BENTO_E_UNSAFE && strstr(err.msg, "is not a signature's name"),
	   "a signature's name without .minisig: %s", err.msg);
	rc = bento_attachment_admit(&t, 1, "0123456789ABCDEFXXXXXXXX", 10, &err);
	is_int(rc, -BENTO_E_UNSAFE, "nor with 8 other characters in its place");
	rc = bento_attachment_admit(&t, 0, "evil name.dsse.json", 10, &err);
	ok(rc == -BENTO_E_UNSAFE && strstr(err.msg, "'evil name.dsse.json' is not an attestation's name"),
	   "an attestation name with a space: %s", err.msg);
	rc = bento_attachment_admit(&t, 0, "a\033[2Jb.dsse.json", 10, &err);
	ok(rc == -BENTO_E_UNSAFE && !strchr(err.msg, '\033'), "a name is shown without its escapes");
	is_int(bento_attachment_admit(&t, 0, "p.dsse.json", BENTO_ATTESTATION_MAX, &err), 0,
	       "an attestation of 1 MiB");
	ok(bento_attachment_admit(&t, 0, "p.dsse.json", BENTO_ATTESTATION_MAX + 1, &err) ==
		   -BENTO_E_VERIFY, "one byte more is refused");

	memset(&t, 0, sizeof(t));
	for (rc = 0; rc == 0 && t.atts < BENTO_ATTACHMENTS_MAX;)
		rc = bento_attachment_admit(&t, 0, "p.dsse.json", 10, &err);
	ok(rc == 0 && t.atts == 256, "256 attestations");
	rc = bento_attachment_admit(&t, 0, "p.dsse.json", 10, &err);
	ok(rc == -BENTO_E_VERIFY && strstr(err.msg, "more than the 256 attestations a bento may carry"),
	   "the 257th is refused: %s", err.msg);
	is_int(bento_attachment_admit(&t, 1, "0123456789ABCDEF.minisig", 10, &err), 0,
	       "signatures are counted apart");
	memset(&t, 0, sizeof(t));
	for (rc = 0; rc == 0 && t.atts < 16;)
		rc = bento_attachment_admit(&t, 0, "p.dsse.json", BENTO_ATTESTATION_MAX, &err);
	ok(rc == 0 && t.bytes == BENTO_ATTACHMENTS_BYTES, "16 MiB in all");
	rc = bento_attachment_admit(&t, 1, "0123456789ABCDEF.minisig", 1, &err);
	ok(rc == -BENTO_E_VERIFY && strstr(err.msg, "more than the 16777216 bytes (16 MiB)"),
	   "one byte more in all is refused: %s", err.msg);

	struct bento_attachment two[2] = { { "A.dsse.json", "{}", 2 }, { "A.dsse.json", "{}", 2 } };
	rc = bento_attachments_check(NULL, 0, two, 2, &err);
	ok(rc == -BENTO_E_UNSAFE && strstr(err.msg, "given twice"), "a name twice: %s", err.msg);

	/* the store's cap counts what a bento already has */
	struct bento_digest b = put_blob(s, "capped bento"), d;
	struct bento_object_put p = obj(BENTO_KIND_BENTO, "capped", "1", "{\"bento\":\"capped\"}");
	struct bento_attachment *sigs = bento_xcalloc(BENTO_ATTACHMENTS_MAX, sizeof(*sigs));
	for (int i = 0; i < BENTO_ATTACHMENTS_MAX; i++) {
		snprintf(name, sizeof(name), "%016X", i);
		sigs[i] = (struct bento_attachment){ bento_xstrdup(name), bento_xstrdup("sig"), 3 };
	}
	p.blobs = &b;
	p.n_blobs = 1;
	p.sigs = sigs;
	p.n_sigs = BENTO_ATTACHMENTS_MAX;
	is_int(bento_store_put(s, &p, &d, &err), 0, "a bento with 256 signatures: %s", err.msg);
	rc = bento_store_signature_add(s, &d, "FFFFFFFFFFFFFFFF", "sig", 3, &err);
	ok(rc == -BENTO_E_VERIFY && strstr(err.msg, "more than the 256 signatures"),
	   "a 257th by another key is refused: %s", err.msg);
	char hex[BENTO_DIGEST_STRLEN], sql[256];
	bento_digest_str(&d, hex);
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM signatures s JOIN objects o "
		 "ON o.id = s.object_id WHERE o.digest = '%s'", hex);
	is_int(sql_int(root, sql), 256, "and not stored");
	is_int(bento_store_signature_add(s, &d, "0000000000000000", "new", 3, &err), 0,
	       "one that replaces a key's signature is fine");
	bento_attachments_free(sigs, BENTO_ATTACHMENTS_MAX);
}

/* A store that a refused import or pull made goes again; others stay. */
static void test_discard(void)
{
	char *root = path_in(base, "discard"), *db = path_in(root, "store.db");
	struct bento_store *s = NULL;
	struct bento_error err = { 0 };
	struct stat st;

	ok(bento_store_open(root, &s, &err) == 0, "open a new store");
	bento_store_discard(s);
	ok(stat(root, &st) < 0 && errno == ENOENT, "discarded: not even its directory is left");
	bento_store_open(root, &s, &err);
	bento_store_close(s);
	bento_store_open(root, &s, &err);
	bento_store_discard(s);
	ok(stat(db, &st) == 0, "a store that was there before this handle stays");
	nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);

	mkdir(root, 0755);
	struct bento_store *other = NULL;
	bento_store_open(root, &s, &err);
	bento_store_open(root, &other, &err);
	bento_store_discard(s);
	ok(stat(db, &st) == 0, "one another handle has open stays");
	bento_store_close(other);
	nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);

	mkdir(root, 0755);
	bento_store_open(root, &s, &err);
	struct bento_digest b = put_blob(s, "kept");
	struct bento_object_put p = obj(BENTO_KIND_MODEL, "kept", "1", "{\"model\":\"kept\"}");
	p.blobs = &b;
	p.n_blobs = 1;
	bento_store_put(s, &p, NULL, &err);
	bento_store_discard(s);
	ok(stat(db, &st) == 0, "one that something was stored in stays");
	nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);

	mkdir(root, 0755);
	bento_store_open(root, &s, &err);
	bento_store_discard(s);
	ok(stat(root, &st) == 0 && count_entries(root) == 0,
	   "a directory that was there is kept, empty");
	rmdir(root);
	free(db);
	free(root);
}

int main(void)
{
	struct bento_store *s = NULL;
	struct bento_error err = { 0 };
	char *root, *f1, *f2;

	base = mkdtemp(tmpl);
	if (!base)
		return 1;
	unsetenv("BENTO_HOME");
	/* the stat cache ignores files changed within the last 2 s: age the fixtures first */
	f1 = path_in(base, "f1.txt");
	f2 = path_in(base, "f2.txt");
	write_file(f1, "first file\n", 11);
	write_file(f2, "second file!\n", 13);
	sleep(3);

	test_open();
	root = path_in(base, "store");
	if (bento_store_open(root, &s, &err)) {
		printf("# %s\n", err.msg);
		return 1;
	}
	test_blobs(s, root);
	test_big_blobs(s, root);
	test_put_file(s, root, f1, f2);
	test_stage(s, root);
	test_spill_failure(s, root);
	test_threads(s, root);
	test_objects(s, root);
	test_commit(s, root);
	test_caps(s, root);
	test_fsck_gc(s, root);
	bento_store_close(s);
	test_ambiguous();
	test_fork_open();
	test_discard();
	free(root);
	free(f1);
	free(f2);
	nftw(base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return tap_done();
}
