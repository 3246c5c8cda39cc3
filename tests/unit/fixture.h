/*
 * fixture.h - helpers the C unit tests share: files and an outside look at
 * a store's database.  Failures here abort the test (they are the test's
 * own setup failing, not the code under test).
 */
#ifndef BENTO_FIXTURE_H
#define BENTO_FIXTURE_H

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <sqlite3.h>

#include "buf.h"
#include "digest.h"
#include "error.h"

/* root/rel, malloc'd. */
static char *__attribute__((unused)) path_in(const char *root, const char *rel)
{
	return bento_xasprintf("%s/%s", root, rel);
}

static void __attribute__((unused)) write_file(const char *path, const void *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (fd < 0 || write(fd, p, n) != (ssize_t)n) {
		perror(path);
		exit(1);
	}
	close(fd);
}

/* Run sql on root/store.db directly; the first column of the first row as an int (0: no row, -1: error). */
static long long __attribute__((unused)) sql_int(const char *root, const char *sql)
{
	char *path = path_in(root, "store.db");
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	long long v = -1;

	if (sqlite3_open(path, &db) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
		int r = sqlite3_step(st);
		if (r == SQLITE_ROW)
			v = sqlite3_column_int64(st, 0);
		else if (r == SQLITE_DONE)
			v = 0;
	} else {
		fprintf(stderr, "# sql: %s\n", sqlite3_errmsg(db));
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	free(path);
	return v;
}

/*
 * A download sink (target.h) that keeps the bytes in b and hashes them
 * itself into h, as a sink given blob_get's sink_hashes must (none when h
 * is NULL: a sink that breaks that promise).
 */
struct hashing_sink {
	struct bento_buf *b;
	struct bento_hasher *h;
};

static int __attribute__((unused)) hashing_sink(void *ctx, const void *p, size_t n,
						struct bento_error *err)
{
	struct hashing_sink *hs = ctx;

	(void)err;
	bento_buf_add(hs->b, p, n);
	if (hs->h)
		bento_hasher_update(hs->h, p, n);
	return 0;
}

#endif
