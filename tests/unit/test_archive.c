/* Unit tests for lib/archive.c: deterministic writing, defensive reading. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <zlib.h>
#include <zstd.h>

#include "archive.h"
#include "buf.h"
#include "error.h"
#include "tap.h"

static char dir[64];
static const char *comp_names[] = { "none", "gzip", "zstd" };

static char *tpath(const char *name)
{
	static char p[4][256];
	static int i;

	i = (i + 1) % 4;
	snprintf(p[i], sizeof(p[i]), "%s/%s", dir, name);
	return p[i];
}

static void fill(unsigned char *p, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		/* Half predictable, half noise: compressible but not trivially. */
		p[i] = (i & 1) ? (unsigned char)(seed >> 16) : (unsigned char)('a' + i % 7);
	}
}

static int slurp(const char *path, struct bento_buf *b)
{
	char tmp[65536];
	int fd = open(path, O_RDONLY);
	ssize_t k;

	bento_buf_reset(b);
	if (fd < 0)
		return -1;
	while ((k = read(fd, tmp, sizeof(tmp))) > 0)
		bento_buf_add(b, tmp, (size_t)k);
	close(fd);
	return k < 0 ? -1 : 0;
}

static void spit(const char *path, const void *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (fd < 0 || write(fd, p, n) != (ssize_t)n)
		abort();
	close(fd);
}

struct item {
	const char *path;
	unsigned mode;
	size_t size;
	uint32_t seed;
};

/* Write items to path with write_bytes (even) or write_fd (odd). */
static int write_items(const char *path, enum bento_compression comp, int64_t mtime,
		       const struct item *it, size_t n, struct bento_error *err)
{
	struct bento_archive_writer *w = NULL;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	int rc;

	if (fd < 0)
		return -errno;
	rc = bento_archive_writer_open(fd, comp, mtime, &w, err);
	for (size_t i = 0; !rc && i < n; i++) {
		unsigned char *data = bento_xmalloc(it[i].size + 1);
		fill(data, it[i].size, it[i].seed);
		if (i % 2 == 0) {
			rc = bento_archive_write_bytes(w, it[i].path, it[i].mode, data, it[i].size, err);
		} else {
			spit(tpath("src.tmp"), data, it[i].size);
			int sfd = open(tpath("src.tmp"), O_RDONLY);
			rc = bento_archive_write_fd(w, it[i].path, it[i].mode, sfd, it[i].size, err);
			close(sfd);
		}
		free(data);
	}
	if (!rc)
		rc = bento_archive_writer_close(w, err);
	bento_archive_writer_free(w);
	close(fd);
	return rc;
}

/*
 * Read the whole archive; return 0 and check it holds exactly items (in order,
 * with the expected data and normalised modes), or the error.
 */
static int read_items(const char *path, const struct item *it, size_t n, bool *match,
		      struct bento_error *err)
{
	struct bento_archive_reader *r = NULL;
	struct bento_archive_entry e;
	struct bento_buf got = BENTO_BUF_INIT;
	int fd = open(path, O_RDONLY);
	size_t i = 0;
	int rc;

	*match = true;
	if ((rc = bento_archive_reader_open(fd, "test.bento", &r, err)))
		goto out;
	while ((rc = bento_archive_next(r, &e, err)) == 1) {
		unsigned char *want;
		char buf[70000];
		ssize_t k;

		bento_buf_reset(&got);
		while ((k = bento_archive_read(r, buf, sizeof(buf), err)) > 0)
			bento_buf_add(&got, buf, (size_t)k);
		if (k < 0) {
			rc = (int)k;
			goto out;
		}
		if (i >= n || strcmp(e.path, it[i].path) || e.type != BENTO_ENTRY_FILE ||
		    e.size != it[i].size || got.len != it[i].size ||
		    e.mode != ((it[i].mode & 0100) ? 0755u : 0644u)) {
			*match = false;
			i++;
			continue;
		}
		want = bento_xmalloc(it[i].size + 1);
		fill(want, it[i].size, it[i].seed);
		if (memcmp(want, got.buf, got.len))
			*match = false;
		free(want);
		i++;
	}
	if (i != n)
		*match = false;
out:
	bento_archive_reader_free(r);
	bento_buf_release(&got);
	close(fd);
	return rc;
}

/* Read everything from an archive file: the first error, or 0. */
static int read_all(const char *path, struct bento_error *err, int *entries)
{
	struct bento_archive_reader *r = NULL;
	struct bento_archive_entry e;
	char buf[65536];
	int fd = open(path, O_RDONLY);
	int rc;

	*entries = 0;
	bento_error_clear(err);
	if ((rc = bento_archive_reader_open(fd, "evil.tar", &r, err)) == 0) {
		while ((rc = bento_archive_next(r, &e, err)) == 1) {
			ssize_t k;
			(*entries)++;
			while ((k = bento_archive_read(r, buf, sizeof(buf), err)) > 0)
				;
			if (k < 0) {
				rc = (int)k;
				break;
			}
		}
	}
	bento_archive_reader_free(r);
	close(fd);
	return rc;
}

/* ---- crafting archives with libarchive directly ---- */

struct craft {
	const char *path;
	mode_t type;		/* AE_IF* */
	const char *link;	/* symlink target or hardlink */
	bool hardlink;
	int64_t size;
	bool sparse;
};

static void craft(const char *file, int format, const struct craft *c, size_t n)
{
	struct archive *a = archive_write_new();
	static char zeros[4096];

	archive_write_set_format(a, format);
	archive_write_set_bytes_in_last_block(a, 1);
	if (archive_write_open_filename(a, file) != ARCHIVE_OK)
		abort();
	for (size_t i = 0; i < n; i++) {
		struct archive_entry *e = archive_entry_new();
		archive_entry_copy_pathname(e, c[i].path);
		archive_entry_set_filetype(e, c[i].type ? c[i].type : AE_IFREG);
		archive_entry_set_perm(e, c[i].type == AE_IFDIR ? 0755 : 0644);
		archive_entry_set_size(e, c[i].size);
		if (c[i].link && c[i].hardlink)
			archive_entry_copy_hardlink(e, c[i].link);
		else if (c[i].link)
			archive_entry_copy_symlink(e, c[i].link);
		if (c[i].type == AE_IFCHR || c[i].type == AE_IFBLK)
			archive_entry_set_rdev(e, makedev(1, 3));
		if (c[i].sparse) {
			archive_entry_sparse_add_entry(e, 0, 512);
			archive_entry_sparse_add_entry(e, 2048, 512);
		}
		archive_write_header(a, e);
		if (c[i].size > 0 && (c[i].type == 0 || c[i].type == AE_IFREG))
			archive_write_data(a, zeros, (size_t)c[i].size);
		archive_entry_free(e);
	}
	archive_write_close(a);
	archive_write_free(a);
}

/* A patch of header bytes: len bytes of val at off (len 0: strlen). */
struct patch {
	size_t off;
	const char *val;
	size_t len;
};

/*
 * A raw ustar header block laid out as libarchive writes one (mode 0644,
 * owner 0, mtime 0), with patches applied before the checksum is computed
 * (a patch at 148, the checksum field, is applied after).
 */
static void raw_header(unsigned char h[512], const char *name, char type, uint64_t size,
		       const struct patch *p, size_t np)
{
	unsigned sum = 0;

	memset(h, 0, 512);
	memcpy(h, name, strlen(name) < 100 ? strlen(name) : 100);
	memcpy(h + 100, "000644 \0" "000000 \0" "000000 \0", 24);
	snprintf((char *)h + 124, 13, "%011llo ", (unsigned long long)size);
	memcpy(h + 136, "00000000000 ", 12);
	h[156] = (unsigned char)type;
	memcpy(h + 257, "ustar\0" "00", 8);
	memcpy(h + 329, "000000 \0" "000000 \0", 16);
	for (size_t i = 0; i < np; i++)
		if (p[i].off != 148)
			memcpy(h + p[i].off, p[i].val, p[i].len ? p[i].len : strlen(p[i].val));
	memset(h + 148, ' ', 8);
	for (int i = 0; i < 512; i++)
		sum += h[i];
	snprintf((char *)h + 148, 8, "%06o", sum);
	h[155] = ' ';
	for (size_t i = 0; i < np; i++)
		if (p[i].off == 148)
			memcpy(h + 148, p[i].val, p[i].len ? p[i].len : strlen(p[i].val));
}

/* Append to b: a header, then size bytes of data ('d') padded to the block. */
static void raw_entry(struct bento_buf *b, const char *name, char type, uint64_t size,
		      const struct patch *p, size_t np)
{
	unsigned char h[512];

	raw_header(h, name, type, size, p, np);
	bento_buf_add(b, h, 512);
	for (uint64_t i = 0; i < size; i++)
		bento_buf_addch(b, 'd');
	while (b->len % 512)
		bento_buf_addch(b, '\0');
}

/* Append a pax extended header holding the records recs (already formatted). */
static void raw_pax(struct bento_buf *b, const char *recs, size_t len)
{
	unsigned char h[512];

	raw_header(h, "PaxHeader/x", 'x', len, NULL, 0);
	bento_buf_add(b, h, 512);
	bento_buf_add(b, recs, len);
	while (b->len % 512)
		bento_buf_addch(b, '\0');
}

/* A pax record "LEN KEY=VALUE\n" with LEN right, appended to b. */
static void pax_rec(struct bento_buf *b, const char *key, const char *val)
{
	size_t body = strlen(key) + strlen(val) + 3, n = body + 1;
	char num[24];

	while ((size_t)snprintf(num, sizeof(num), "%zu", n) + body != n)
		n++;
	bento_buf_addf(b, "%zu %s=%s\n", n, key, val);
}

static void raw_end(struct bento_buf *b)
{
	for (int i = 0; i < 1024; i++)
		bento_buf_addch(b, '\0');
}

static void raw_archive(const char *file, const char *name, char type, const char *size_field)
{
	struct patch p = { 124, size_field, 12 };
	struct bento_buf b = BENTO_BUF_INIT;

	raw_entry(&b, name, type, 0, &p, 1);
	raw_end(&b);
	spit(file, b.buf, b.len);
	bento_buf_release(&b);
}

/* b compressed as one gzip member or zstd frame, appended to out. */
static void compress_into(struct bento_buf *out, int comp, const void *p, size_t n)
{
	size_t cap = n + n / 2 + 1024;

	bento_buf_grow(out, cap);
	if (comp == BENTO_COMP_GZIP) {
		z_stream z = { 0 };
		if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
			abort();
		z.next_in = (unsigned char *)(uintptr_t)p;
		z.avail_in = (uInt)n;
		z.next_out = (unsigned char *)out->buf + out->len;
		z.avail_out = (uInt)cap;
		if (deflate(&z, Z_FINISH) != Z_STREAM_END)
			abort();
		bento_buf_setlen(out, out->len + cap - z.avail_out);
		deflateEnd(&z);
	} else {
		size_t k = ZSTD_compress(out->buf + out->len, cap, p, n, 3);
		if (ZSTD_isError(k))
			abort();
		bento_buf_setlen(out, out->len + k);
	}
}

static void expect_refused(const char *label, const char *file, int code, const char *needle)
{
	struct bento_error err;
	int n, rc = read_all(file, &err, &n);

	is_int(rc, -code, "%s: refused with %s", label,
	       code == BENTO_E_UNSAFE ? "UNSAFE" : code == BENTO_E_VERIFY ? "VERIFY" : "INVALID");
	if (!ok(needle == NULL || strstr(err.msg, needle) != NULL, "%s: message says which/why",
		label) || getenv("TEST_VERBOSE"))
		printf("#   message: %s\n", err.msg);
}

/* ---- tests ---- */

static const struct item round_items[] = {
	{ "bento.json", 0644, 17, 1 },
	{ "env/empty.txt", 0600, 0, 2 },
	{ "models/iris/one", 0644, 1, 3 },
	{ "models/iris/w511", 0700, 511, 4 },
	{ "models/iris/w512", 0755, 512, 5 },
	{ "models/iris/w513", 0644, 513, 6 },
	{ "models/iris/weights.bin", 0744, (1 << 20) + 1, 7 },
	{ "src/service.py", 0640, 3000, 8 },
};
#define NROUND (sizeof(round_items) / sizeof(round_items[0]))

static void test_round_trip(void)
{
	struct bento_error err;
	struct bento_buf a = BENTO_BUF_INIT, b = BENTO_BUF_INIT;

	for (int c = 0; c < 3; c++) {
		bool match;
		int rc = write_items(tpath("rt.bento"), (enum bento_compression)c, 1700000000,
				     round_items, NROUND, &err);
		is_int(rc, 0, "%s: write %zu files", comp_names[c], NROUND);
		if (rc)
			printf("#   %s\n", err.msg);
		rc = read_items(tpath("rt.bento"), round_items, NROUND, &match, &err);
		is_int(rc, 0, "%s: read back", comp_names[c]);
		if (rc)
			printf("#   %s\n", err.msg);
		ok(match, "%s: same paths, sizes, data and normalised modes", comp_names[c]);
		slurp(tpath("rt.bento"), &a);
		if (c == BENTO_COMP_NONE) {
			ok(a.len % 512 == 0, "none: output is whole 512-byte blocks (%zu)", a.len);
			ok(a.len >= 1024 && memcmp(a.buf + a.len - 1024, (char[1024]){ 0 }, 1024) == 0,
			   "none: ends with the two zero blocks, not padded to 10240");
		} else if (c == BENTO_COMP_GZIP) {
			ok(a.len > 10 && (unsigned char)a.buf[0] == 0x1f &&
			   (unsigned char)a.buf[1] == 0x8b && a.buf[3] == 0 &&
			   memcmp(a.buf + 4, "\0\0\0\0", 4) == 0,
			   "gzip: header has no name and mtime 0");
		} else {
			ok(a.len > 6 && memcmp(a.buf, "\x28\xb5\x2f\xfd", 4) == 0 &&
			   (a.buf[4] & 0x04), "zstd: frame magic, content checksum flag set");
		}
	}
	bento_buf_release(&a);
	bento_buf_release(&b);
}

/* The archive other tools see: GNU tar listing, and libarchive's view of headers. */
static void test_headers(void)
{
	struct bento_error err;
	struct item it[] = {
		{ "bin/run", 0700, 10, 1 },
		{ "data/x", 0600, 5, 2 },
	};
	char cmd[512];
	struct bento_buf out = BENTO_BUF_INIT;

	is_int(write_items(tpath("h.tar"), BENTO_COMP_NONE, 1234567890, it, 2, &err), 0,
	       "write for header checks");
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	archive_read_support_format_all(a);
	archive_read_open_filename(a, tpath("h.tar"), 10240);
	int n = 0, good = 0;
	while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
		n++;
		good += archive_entry_mtime(e) == 1234567890 && archive_entry_mtime_nsec(e) == 0 &&
			archive_entry_uid(e) == 0 && archive_entry_gid(e) == 0 &&
			(!archive_entry_uname(e) || !*archive_entry_uname(e)) &&
			(!archive_entry_gname(e) || !*archive_entry_gname(e)) &&
			!archive_entry_atime_is_set(e) && !archive_entry_ctime_is_set(e) &&
			!archive_entry_birthtime_is_set(e) &&
			archive_entry_perm(e) == (n == 1 ? 0755 : 0644);
	}
	archive_read_free(a);
	is_int(n, 2, "libarchive sees 2 entries");
	is_int(good, 2, "mtime honoured, uid/gid 0, no names, no atime/ctime, mode 0755/0644");

	snprintf(cmd, sizeof(cmd), "tar --utc -tvf %s > %s 2>&1", tpath("h.tar"), tpath("h.txt"));
	is_int(system(cmd), 0, "GNU tar lists the archive");
	slurp(tpath("h.txt"), &out);
	ok(strstr(out.buf, "-rwxr-xr-x 0/0              10 2009-02-13 23:31 bin/run\n") &&
	   strstr(out.buf, "-rw-r--r-- 0/0               5 2009-02-13 23:31 data/x\n"),
	   "GNU tar shows modes, owners, sizes, mtime and names");
	if (!strstr(out.buf, "bin/run"))
		printf("#   %s\n", out.buf);
	for (int c = 1; c < 3; c++) {
		is_int(write_items(tpath("h.tgz"), (enum bento_compression)c, 1234567890, it, 2, &err),
		       0, "%s: write", comp_names[c]);
		snprintf(cmd, sizeof(cmd), "tar %s -tf %s > %s 2>&1", c == 1 ? "-z" : "--zstd",
			 tpath("h.tgz"), tpath("h.txt"));
		is_int(system(cmd), 0, "%s: GNU tar reads it", comp_names[c]);
		slurp(tpath("h.txt"), &out);
		is_str(out.buf, "bin/run\ndata/x\n", "%s: GNU tar lists both files", comp_names[c]);
	}
	bento_buf_release(&out);
}

static void test_determinism(void)
{
	struct bento_error err;
	struct bento_buf a = BENTO_BUF_INIT, b = BENTO_BUF_INIT;
	char longp[256], longc[210];
	struct item it[] = {
		{ "bento.json", 0644, 100, 1 },
		{ NULL, 0644, 600, 2 },			/* 200-byte path with slashes */
		{ NULL, 0755, 700, 3 },			/* 200-byte single component */
		{ "models/héllo/wörld-日本.bin", 0644, 70000, 4 },
	};

	memset(longp, 'p', sizeof(longp));
	for (int i = 9; i < 190; i += 10)
		longp[i] = '/';
	longp[200] = '\0';
	memset(longc, 'c', sizeof(longc));
	memcpy(longc, "x/", 2);
	longc[200] = '\0';
	it[1].path = longp;
	it[2].path = longc;
	for (int c = 0; c < 3; c++) {
		bool match;
		pid_t pid;
		int st;

		int rc = write_items(tpath("d1"), (enum bento_compression)c, 86400, it, 4, &err);
		is_int(rc, 0, "%s: write long and non-ASCII paths", comp_names[c]);
		if (rc)
			printf("#   %s\n", err.msg);
		pid = fork();
		if (pid == 0)
			_exit(write_items(tpath("d2"), (enum bento_compression)c, 86400, it, 4, &err) ? 1 : 0);
		waitpid(pid, &st, 0);
		ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: child process wrote too", comp_names[c]);
		slurp(tpath("d1"), &a);
		slurp(tpath("d2"), &b);
		ok(a.len == b.len && memcmp(a.buf, b.buf, a.len) == 0,
		   "%s: same bytes from another process", comp_names[c]);
		if (c == BENTO_COMP_NONE)
			ok(memmem(a.buf, a.len, "PaxHeader/", 10) &&
			   !memmem(a.buf, a.len, "PaxHeaders.", 11),
			   "none: pax headers are named PaxHeader/<name>, no PID");
		is_int(read_items(tpath("d1"), it, 4, &match, &err), 0, "%s: read back", comp_names[c]);
		ok(match, "%s: long and UTF-8 paths round-trip", comp_names[c]);
	}
	/* Wall-clock time must not leak in (gzip header mtime): one second later. */
	slurp(tpath("d1"), &a);
	for (int c = 0; c < 3; c++)
		write_items(tpath(c == 0 ? "t0" : c == 1 ? "t1" : "t2"), (enum bento_compression)c,
			    86400, it, 4, &err);
	sleep(1);
	for (int c = 0; c < 3; c++) {
		char f[256];
		snprintf(f, sizeof(f), "%s", tpath(c == 0 ? "t0" : c == 1 ? "t1" : "t2"));
		is_int(write_items(tpath("later"), (enum bento_compression)c, 86400, it, 4, &err), 0,
		       "%s: write again a second later", comp_names[c]);
		slurp(f, &a);
		slurp(tpath("later"), &b);
		ok(a.len == b.len && memcmp(a.buf, b.buf, a.len) == 0,
		   "%s: same bytes a second later", comp_names[c]);
	}
	/* And mtime does change the bytes (so the comparisons above can fail). */
	write_items(tpath("m1"), BENTO_COMP_NONE, 86400, it, 1, &err);
	write_items(tpath("m2"), BENTO_COMP_NONE, 86401, it, 1, &err);
	slurp(tpath("m1"), &a);
	slurp(tpath("m2"), &b);
	ok(a.len == b.len && memcmp(a.buf, b.buf, a.len) != 0, "a different mtime changes the bytes");
	bento_buf_release(&a);
	bento_buf_release(&b);
}

static void test_writer_errors(void)
{
	struct bento_error err;
	struct bento_archive_writer *w = NULL;
	unsigned char data[1000];
	int fd, sfd;
	enum bento_compression comp;

	is_int(bento_compression_parse("zstd", &comp, &err), 0, "parse zstd");
	is_int(comp, BENTO_COMP_ZSTD, "zstd parsed");
	is_int(bento_compression_parse("gzip", &comp, &err), 0, "parse gzip");
	is_int(comp, BENTO_COMP_GZIP, "gzip parsed");
	is_int(bento_compression_parse("none", &comp, &err), 0, "parse none");
	is_int(comp, BENTO_COMP_NONE, "none parsed");
	is_int(bento_compression_parse("xz", &comp, &err), -BENTO_E_USAGE, "xz is a usage error");
	ok(strstr(err.msg, "'xz'") != NULL, "message names the bad value");

	fd = open(tpath("w.tar"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
	is_int(bento_archive_writer_open(fd, BENTO_COMP_NONE, -1, &w, &err), -BENTO_E_USAGE,
	       "negative mtime refused");
	fill(data, sizeof(data), 9);
	spit(tpath("src"), data, sizeof(data));

	is_int(bento_archive_writer_open(fd, BENTO_COMP_NONE, 0, &w, &err), 0, "open writer");
	sfd = open(tpath("src"), O_RDONLY);
	is_int(bento_archive_write_fd(w, "big", 0644, sfd, 2000, &err), -BENTO_E_VERIFY,
	       "file shorter than size refused");
	is_str(err.msg, "big: file shrank while writing (expected 2000 bytes, got 1000)",
	       "shrink message names path and sizes");
	close(sfd);
	is_int(bento_archive_write_bytes(w, "next", 0644, "x", 1, &err), -BENTO_E_FAIL,
	       "writer unusable after a failed entry");
	bento_archive_writer_free(w);

	w = NULL;
	is_int(bento_archive_writer_open(fd, BENTO_COMP_GZIP, 0, &w, &err), 0, "open writer");
	sfd = open(tpath("src"), O_RDONLY);
	is_int(bento_archive_write_fd(w, "small", 0644, sfd, 500, &err), -BENTO_E_VERIFY,
	       "file longer than size refused");
	is_str(err.msg, "small: file grew while writing (expected 500 bytes)",
	       "grow message names path");
	close(sfd);
	bento_archive_writer_free(w);

	w = NULL;
	is_int(bento_archive_writer_open(fd, BENTO_COMP_NONE, 0, &w, &err), 0, "open writer");
	sfd = open(tpath("src"), O_RDONLY);
	is_int(bento_archive_write_fd(w, "exact", 0644, sfd, 1000, &err), 0, "exact size ok");
	close(sfd);
	is_int(bento_archive_write_bytes(w, "exact", 0644, "x", 1, &err), -BENTO_E_INVALID,
	       "duplicate path refused by the writer");
	is_int(bento_archive_write_bytes(w, "../up", 0644, "x", 1, &err), -BENTO_E_INVALID,
	       "'..' refused by the writer");
	ok(strstr(err.msg, "../up") != NULL, "writer message names the path");
	is_int(bento_archive_write_bytes(w, "/abs", 0644, "x", 1, &err), -BENTO_E_INVALID,
	       "absolute path refused by the writer");
	is_int(bento_archive_writer_close(w, &err), 0, "close after refused paths");
	is_int(bento_archive_writer_close(w, &err), -BENTO_E_USAGE, "second close refused");
	bento_archive_writer_free(w);
	bento_archive_writer_free(NULL);
	close(fd);

	/* A write error (closed fd) is reported, not lost. */
	int p[2];
	if (pipe(p) == 0) {
		w = NULL;
		close(p[0]);
		signal(SIGPIPE, SIG_IGN);
		bento_archive_writer_open(p[1], BENTO_COMP_NONE, 0, &w, &err);
		int rc = bento_archive_write_bytes(w, "f", 0644, data, sizeof(data), &err);
		if (!rc)
			rc = bento_archive_writer_close(w, &err);
		is_int(rc, -EPIPE, "write error surfaces as -EPIPE");
		bento_archive_writer_free(w);
		close(p[1]);
	}
}

static void test_reader_good(void)
{
	struct bento_error err;
	struct bento_archive_reader *r = NULL;
	struct bento_archive_entry e;
	struct craft c[] = {
		{ "./top.txt", AE_IFREG, NULL, false, 3, false },
		{ "d/", AE_IFDIR, NULL, false, 0, false },
		{ "d/f", AE_IFREG, NULL, false, 4, false },
		{ "./e/", AE_IFDIR, NULL, false, 0, false },
		{ "e/sub/deep", AE_IFREG, NULL, false, 0, false },
		{ "e/sub", AE_IFDIR, NULL, false, 0, false },
	};
	const char *want[] = { "top.txt", "d", "d/f", "e", "e/sub/deep", "e/sub" };
	int fd, i = 0, good = 0;

	craft(tpath("good.tar"), ARCHIVE_FORMAT_TAR_PAX_RESTRICTED, c, 6);
	fd = open(tpath("good.tar"), O_RDONLY);
	is_int(bento_archive_reader_open(fd, "good.tar", &r, &err), 0, "open good archive");
	uint64_t after_open = bento_archive_bytes_in(r);
	ok(after_open > 0, "bytes_in counts input read at open");
	while (bento_archive_next(r, &e, &err) == 1 && i < 6) {
		good += strcmp(e.path, want[i]) == 0 &&
			e.type == (c[i].type == AE_IFDIR ? BENTO_ENTRY_DIR : BENTO_ENTRY_FILE) &&
			e.size == (uint64_t)c[i].size;
		i++;
	}
	is_int(good, 6, "'./' and trailing '/' normalised; a directory after its contents is fine");
	is_int(bento_archive_next(r, &e, &err), 0, "end stays end");
	bento_archive_reader_free(r);
	close(fd);

	/*
	 * GNU tar's own output, with record padding and gzip: its ustar format
	 * with owner 0 is read; its default GNU format is refused, with a
	 * message that says so.
	 */
	char cmd[512];
	mkdir(tpath("tree"), 0755);
	mkdir(tpath("tree/sub"), 0755);
	chmod(tpath("tree/sub"), 0755);
	spit(tpath("tree/sub/a.txt"), "hello\n", 6);
	chmod(tpath("tree/sub/a.txt"), 0644);
	snprintf(cmd, sizeof(cmd),
		 "tar -C %s --format=ustar --owner=0 --group=0 --numeric-owner -czf %s sub && "
		 "tar -C %s --format=gnu -cf %s ./sub",
		 tpath("tree"), tpath("gnu.tgz"), tpath("tree"), tpath("gnu.tar"));
	if (ok(system(cmd) == 0, "GNU tar wrote its archives")) {
		int n;
		is_int(read_all(tpath("gnu.tgz"), &err, &n), 0, "GNU tar --format=ustar -czf output reads");
		is_int(n, 2, "two entries in it");
		expect_refused("GNU format", tpath("gnu.tar"), BENTO_E_UNSAFE,
			       "./sub/: refusing entry: GNU tar format header (bento reads POSIX ustar and pax)");
	}

	/* bytes_in grows while reading a large compressed archive. */
	struct item big[] = { { "big", 0644, 3 << 20, 11 } };
	write_items(tpath("big.zst"), BENTO_COMP_ZSTD, 0, big, 1, &err);
	struct stat st;
	stat(tpath("big.zst"), &st);
	fd = open(tpath("big.zst"), O_RDONLY);
	r = NULL;
	bento_archive_reader_open(fd, "big.zst", &r, &err);
	uint64_t b0 = bento_archive_bytes_in(r);
	char *buf = bento_xmalloc(1 << 20);
	bento_archive_next(r, &e, &err);
	while (bento_archive_read(r, buf, 1 << 20, &err) > 0)
		;
	is_int(bento_archive_next(r, &e, &err), 0, "big: end");
	ok(b0 > 0 && bento_archive_bytes_in(r) >= b0, "bytes_in does not go back");
	is_int(bento_archive_bytes_in(r), st.st_size, "bytes_in is the compressed size at the end");
	free(buf);
	bento_archive_reader_free(r);
	close(fd);
}

static void test_reader_unsafe(void)
{
	static char longpath[5000], longname[300];
	const struct {
		const char *label;
		struct craft c[3];
		size_t n;
		const char *needle;
	} cases[] = {
		{ "absolute", { { "/etc/passwd", 0, NULL, false, 1, false } }, 1, "/etc/passwd" },
		{ "dotdot", { { "../evil", 0, NULL, false, 1, false } }, 1, "../evil" },
		{ "inner dotdot", { { "a/../../evil", 0, NULL, false, 1, false } }, 1, "a/../../evil" },
		{ "dot component", { { "a/./b", 0, NULL, false, 1, false } }, 1, "a/./b" },
		{ "empty component", { { "a//b", 0, NULL, false, 1, false } }, 1, "a//b" },
		{ "bare ./", { { "./", AE_IFDIR, NULL, false, 0, false } }, 1, "./" },
		{ "backslash", { { "a\\b", 0, NULL, false, 1, false } }, 1, "a\\\\b: refusing" },
		{ "control char", { { "a\x01z", 0, NULL, false, 1, false } }, 1, "a\\x01z: refusing" },
		{ "newline", { { "a\nz", 0, NULL, false, 1, false } }, 1, "a\\x0az: refusing" },
		{ "escape", { { "a\x1b[2Jz", 0, NULL, false, 1, false } }, 1, "a\\x1b[2Jz: refusing" },
		{ "C1 CSI", { { "a\xc2\x9b" "2Jz", 0, NULL, false, 1, false } }, 1, "a\\x9b2Jz: refusing" },
		{ "symlink", { { "link", AE_IFLNK, "/etc/passwd", false, 0, false } }, 1, "link" },
		{ "hardlink", { { "f", 0, NULL, false, 1, false },
				{ "hl", AE_IFREG, "f", true, 0, false } }, 2, "hl" },
		{ "char device", { { "null", AE_IFCHR, NULL, false, 0, false } }, 1, "null" },
		{ "block device", { { "sda", AE_IFBLK, NULL, false, 0, false } }, 1, "sda" },
		{ "fifo", { { "pipe", AE_IFIFO, NULL, false, 0, false } }, 1, "pipe" },
		{ "sparse", { { "holes", 0, NULL, false, 4096, true } }, 1, "holes" },
		{ "duplicate file", { { "x", 0, NULL, false, 1, false },
				      { "x", 0, NULL, false, 2, false } }, 2, "x: refusing entry: duplicate" },
		{ "duplicate dir", { { "d/", AE_IFDIR, NULL, false, 0, false },
				     { "./d/", AE_IFDIR, NULL, false, 0, false } }, 2, "d: refusing entry: duplicate" },
		{ "file then dir", { { "x", 0, NULL, false, 1, false },
				     { "x/", AE_IFDIR, NULL, false, 0, false } }, 2, "x: refusing entry: path is both" },
		{ "dir then file", { { "x/", AE_IFDIR, NULL, false, 0, false },
				     { "x", 0, NULL, false, 1, false } }, 2, "x: refusing entry: path is both" },
		{ "file used as parent", { { "x", 0, NULL, false, 1, false },
					   { "x/y", 0, NULL, false, 1, false } }, 2, "x/y: refusing entry: a parent" },
		{ "parent then file", { { "x/y", 0, NULL, false, 1, false },
					{ "x", 0, NULL, false, 1, false } }, 2, "x: refusing entry: path is both" },
		{ "long path", { { longpath, 0, NULL, false, 1, false } }, 1, "path too long" },
		{ "long component", { { longname, 0, NULL, false, 1, false } }, 1, "component too long" },
	};
	int formats[] = { ARCHIVE_FORMAT_TAR_PAX_RESTRICTED, ARCHIVE_FORMAT_TAR_USTAR };

	memset(longpath, 'a', sizeof(longpath) - 1);
	for (size_t i = 50; i < sizeof(longpath) - 1; i += 50)
		longpath[i] = '/';
	memset(longname, 'n', sizeof(longname) - 1);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (int f = 0; f < 2; f++) {
			char label[128];
			if (f == 1 && (cases[i].c[0].sparse || strlen(cases[i].c[0].path) > 100))
				continue;	/* pax-only features */
			snprintf(label, sizeof(label), "%s (%s)", cases[i].label, f ? "ustar" : "pax");
			craft(tpath("evil.tar"), formats[f], cases[i].c, cases[i].n);
			expect_refused(label, tpath("evil.tar"), BENTO_E_UNSAFE, cases[i].needle);
		}
	}

	/* Header fields libarchive's writer will not produce. */
	raw_archive(tpath("raw.tar"), "negative", '0', "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff");
	expect_refused("negative size", tpath("raw.tar"), BENTO_E_VERIFY,
		       "truncated or corrupt archive: size is not an octal number at byte 0");
	raw_archive(tpath("raw.tar"), "huge", '0', "\x80\0\0\0\0\x04\0\0\0\0\0\0");
	expect_refused("base-256 size", tpath("raw.tar"), BENTO_E_UNSAFE,
		       "huge: refusing entry: size: a base-256 number in the header without its pax record");
	raw_archive(tpath("raw.tar"), "bad\xff\xfe", '0', "00000000000\0");
	expect_refused("not ASCII in ustar", tpath("raw.tar"), BENTO_E_UNSAFE,
		       "bad\\xff\\xfe: refusing entry: non-ASCII name in a ustar header");
	raw_archive(tpath("raw.tar"), "over", '0',
		    "\x80\x7f\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff");
	expect_refused("size overflow", tpath("raw.tar"), BENTO_E_VERIFY, "truncated or corrupt");
	raw_archive(tpath("raw.tar"), "ctg", '7', "00000000000\0");
	expect_refused("contiguous file", tpath("raw.tar"), BENTO_E_UNSAFE,
		       "ctg: refusing entry: contiguous file (type 7)");
	struct bento_error err;

	/* An error is sticky: next() after a refusal says the same again. */
	struct bento_archive_reader *r = NULL;
	struct bento_archive_entry e;
	struct craft two[] = { { "../a", 0, NULL, false, 1, false }, { "b", 0, NULL, false, 1, false } };
	craft(tpath("evil.tar"), ARCHIVE_FORMAT_TAR_USTAR, two, 2);
	int fd = open(tpath("evil.tar"), O_RDONLY);
	bento_archive_reader_open(fd, "evil.tar", &r, &err);
	is_int(bento_archive_next(r, &e, &err), -BENTO_E_UNSAFE, "first entry refused");
	err.msg[0] = '\0';
	is_int(bento_archive_next(r, &e, &err), -BENTO_E_UNSAFE, "and stays refused");
	ok(strstr(err.msg, "../a") != NULL, "with the same message");
	is_int(bento_archive_read(r, &e, 1, NULL), -BENTO_E_UNSAFE, "read after refusal fails too");
	bento_archive_reader_free(r);
	close(fd);
}

static void test_reader_corrupt(void)
{
	struct bento_error err;
	struct bento_buf a = BENTO_BUF_INIT;
	struct item it[] = {
		{ "a", 0644, 3000, 1 },
		{ "b", 0644, 100, 2 },
	};
	int n;

	/* Uncompressed: a(512 hdr + 3072 data) b(512 + 512) trailer(1024) = 5632. */
	write_items(tpath("c.tar"), BENTO_COMP_NONE, 0, it, 2, &err);
	slurp(tpath("c.tar"), &a);
	is_int(a.len, 5632, "layout as expected");
	const struct {
		size_t at;
		const char *where;
	} cuts[] = {
		{ 100, "first header" },
		{ 700, "first data" },
		{ 3584 + 200, "second header" },
		{ 4096 + 50, "second data" },
		{ 4608, "before trailer" },
		{ 5120, "between trailer blocks" },
		{ 5631, "last byte" },
	};
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		char label[64];
		spit(tpath("cut.tar"), a.buf, cuts[i].at);
		snprintf(label, sizeof(label), "none: cut in %s", cuts[i].where);
		expect_refused(label, tpath("cut.tar"), i == 0 ? BENTO_E_INVALID : BENTO_E_VERIFY,
			       i == 0 ? "not a tar archive" : "truncated or corrupt archive");
	}
	/* A bad header checksum in the second entry. */
	a.buf[3584 + 10] ^= 0x55;
	spit(tpath("cut.tar"), a.buf, a.len);
	expect_refused("none: damaged second header", tpath("cut.tar"), BENTO_E_VERIFY,
		       "truncated or corrupt archive");

	for (int c = 1; c < 3; c++) {
		write_items(tpath("c.z"), (enum bento_compression)c, 0, it, 2, &err);
		slurp(tpath("c.z"), &a);
		size_t cutpts[] = { 5, a.len / 3, a.len / 2, a.len - 9, a.len - 4, a.len - 1 };
		for (size_t i = 0; i < sizeof(cutpts) / sizeof(cutpts[0]); i++) {
			char label[64];
			spit(tpath("cut.z"), a.buf, cutpts[i]);
			snprintf(label, sizeof(label), "%s: cut at %zu of %zu", comp_names[c],
				 cutpts[i], a.len);
			expect_refused(label, tpath("cut.z"), BENTO_E_VERIFY,
				       "truncated or corrupt archive");
		}
		size_t flips[] = { a.len / 2, a.len - 6, a.len - 2 };
		for (size_t i = 0; i < sizeof(flips) / sizeof(flips[0]); i++) {
			char label[64];
			a.buf[flips[i]] ^= 0x01;
			spit(tpath("flip.z"), a.buf, a.len);
			a.buf[flips[i]] ^= 0x01;
			snprintf(label, sizeof(label), "%s: flipped byte at %zu of %zu", comp_names[c],
				 flips[i], a.len);
			expect_refused(label, tpath("flip.z"), BENTO_E_VERIFY,
				       "truncated or corrupt archive");
		}
		bento_buf_add(&a, "junk", 4);
		spit(tpath("flip.z"), a.buf, a.len);
		expect_refused(comp_names[c], tpath("flip.z"), BENTO_E_VERIFY,
			       "truncated or corrupt archive");
		/* One tar stream in two members (frames), split inside a header: one stream. */
		struct bento_buf plain = BENTO_BUF_INIT, two = BENTO_BUF_INIT;
		write_items(tpath("c.tar"), BENTO_COMP_NONE, 0, it, 2, &err);
		slurp(tpath("c.tar"), &plain);
		compress_into(&two, c, plain.buf, 3584 + 100);
		compress_into(&two, c, plain.buf + 3584 + 100, plain.len - 3584 - 100);
		spit(tpath("two.z"), two.buf, two.len);
		is_int(read_all(tpath("two.z"), &err, &n), 0,
		       "%s: a stream in two members/frames reads as one", comp_names[c]);
		is_int(n, 2, "%s: with both entries", comp_names[c]);
		/* The whole archive twice: the second is data after the end. */
		bento_buf_reset(&two);
		compress_into(&two, c, plain.buf, plain.len);
		compress_into(&two, c, plain.buf, plain.len);
		spit(tpath("two.z"), two.buf, two.len);
		expect_refused("archive twice", tpath("two.z"), BENTO_E_VERIFY,
			       "evil.tar: data after the end-of-archive marker (at byte 5632)");
		bento_buf_release(&plain);
		bento_buf_release(&two);
	}

	/* Not tar at all. */
	struct craft z[] = { { "f", 0, NULL, false, 10, false } };
	craft(tpath("x.zip"), ARCHIVE_FORMAT_ZIP, z, 1);
	expect_refused("zip file", tpath("x.zip"), BENTO_E_INVALID, "evil.tar: not a tar archive");
	craft(tpath("x.cpio"), ARCHIVE_FORMAT_CPIO_POSIX, z, 1);
	expect_refused("cpio file", tpath("x.cpio"), BENTO_E_INVALID, "evil.tar: not a tar archive");
	unsigned char junk[8192];
	fill(junk, sizeof(junk), 77);
	spit(tpath("junk"), junk, sizeof(junk));
	expect_refused("random bytes", tpath("junk"), BENTO_E_INVALID, "evil.tar: not a tar archive");
	spit(tpath("empty"), "", 0);
	expect_refused("empty input", tpath("empty"), BENTO_E_INVALID, "evil.tar: not a tar archive");
	bento_buf_release(&a);
}

/* Build an archive in b from raw pieces, write it, read it: the error (0 if accepted). */
static int read_raw(struct bento_buf *b, struct bento_error *err, int *entries)
{
	spit(tpath("raw.tar"), b->buf, b->len);
	return read_all(tpath("raw.tar"), err, entries);
}

/* One header, patched, then the end: refused with code and needle. */
static void one_header(const char *label, const char *name, char type, uint64_t size,
		       const struct patch *p, size_t np, int code, const char *needle)
{
	struct bento_buf b = BENTO_BUF_INIT;
	struct bento_error err;
	int n, rc;

	raw_entry(&b, "ok", '0', 1, NULL, 0);	/* not the first header: that one is "not a tar" */
	raw_entry(&b, name, type, size, p, np);
	raw_end(&b);
	rc = read_raw(&b, &err, &n);
	is_int(rc, -code, "%s: refused with %s", label,
	       code == BENTO_E_UNSAFE ? "UNSAFE" : code == BENTO_E_VERIFY ? "VERIFY" : "INVALID");
	if (!ok(strstr(err.msg, needle) != NULL, "%s: message says which/why", label) ||
	    getenv("TEST_VERBOSE"))
		printf("#   message: %s\n", err.msg);
	bento_buf_release(&b);
}

/* Every field of a ustar header against the accepted subset (bento-archive(5)). */
static void test_reader_headers(void)
{
	static const struct {
		const char *label;
		char type;
		struct patch p;
		int code;
		const char *needle;
	} cases[] = {
		{ "mode 0777", '0', { 100, "000777 ", 0 }, BENTO_E_UNSAFE, "f: refusing entry: mode 0777" },
		{ "setuid", '0', { 100, "004755 ", 0 }, BENTO_E_UNSAFE, "mode 4755" },
		{ "type bits in mode", '0', { 100, "0100644", 0 }, BENTO_E_UNSAFE, "mode 100644" },
		{ "mode with a leading space", '0', { 100, " 00644 ", 0 }, BENTO_E_VERIFY,
		  "mode, uid or gid is not an octal number at byte 1024" },
		{ "mode with junk", '0', { 100, "000644x", 0 }, BENTO_E_VERIFY, "not an octal number" },
		{ "mode of digits only", '0', { 100, "00000644", 8 }, BENTO_E_VERIFY, "not an octal number" },
		{ "empty mode", '0', { 100, "\0\0\0\0\0\0\0\0", 8 }, BENTO_E_VERIFY, "not an octal number" },
		{ "uid 1000", '0', { 108, "001750 ", 0 }, BENTO_E_UNSAFE, "owner 1000:0 (must be 0:0)" },
		{ "gid 1", '0', { 116, "000001 ", 0 }, BENTO_E_UNSAFE, "owner 0:1 (must be 0:0)" },
		{ "uname", '0', { 265, "root", 0 }, BENTO_E_UNSAFE, "owner name" },
		{ "gname", '0', { 297, "wheel", 0 }, BENTO_E_UNSAFE, "owner name" },
		{ "link name", '0', { 157, "x", 0 }, BENTO_E_UNSAFE, "f: refusing entry: link target on a file" },
		{ "device numbers", '0', { 329, "000010 ", 0 }, BENTO_E_VERIFY, "device numbers" },
		{ "bytes after the name", '0', { 50, "x", 0 }, BENTO_E_VERIFY,
		  "name field with bytes after its end at byte 1024" },
		{ "bytes after the prefix", '0', { 400, "x", 0 }, BENTO_E_VERIFY, "name field with bytes" },
		{ "padding bytes", '0', { 511, "x", 0 }, BENTO_E_VERIFY, "bytes after the prefix field" },
		{ "bad checksum", '0', { 148, "000001\0 ", 8 }, BENTO_E_VERIFY,
		  "bad header checksum at byte 1024" },
		{ "GNU magic", '0', { 257, "ustar  \0", 8 }, BENTO_E_UNSAFE, "GNU tar format header" },
		{ "no magic", '0', { 257, "\0\0\0\0\0\0\0\0", 8 }, BENTO_E_VERIFY, "no ustar magic" },
		{ "version", '0', { 263, "0 ", 2 }, BENTO_E_VERIFY, "no ustar magic" },
		{ "mtime in base-256", '0', { 136, "\x80\0\0\0\0\0\0\0\0\0\0\x01", 12 }, BENTO_E_UNSAFE,
		  "mtime: a base-256 number in the header without its pax record" },
		{ "prefix", '0', { 345, "a/", 0 }, BENTO_E_UNSAFE, "a//f: refusing entry: empty path component" },
		{ "global header", 'g', { 0, "", 0 }, BENTO_E_UNSAFE, "pax global header (type g)" },
		{ "GNU long name", 'L', { 0, "", 0 }, BENTO_E_UNSAFE, "GNU long name (type L)" },
		{ "GNU long link", 'K', { 0, "", 0 }, BENTO_E_UNSAFE, "GNU long link name (type K)" },
		{ "GNU sparse", 'S', { 0, "", 0 }, BENTO_E_UNSAFE, "sparse file (GNU type S)" },
		{ "old regular file", '\0', { 0, "", 0 }, BENTO_E_UNSAFE, "old-style regular file" },
		{ "Solaris X", 'X', { 0, "", 0 }, BENTO_E_UNSAFE, "Solaris extended header" },
		{ "vendor Q", 'Q', { 0, "", 0 }, BENTO_E_UNSAFE, "vendor extension header (type Q)" },
		{ "unknown ?", '?', { 0, "", 0 }, BENTO_E_UNSAFE, "unknown entry type 0x3f" },
		{ "directory with data", '5', { 100, "000755 ", 0 }, BENTO_E_UNSAFE,
		  "f: refusing entry: directory with data (1 bytes)" },
		{ "directory 0644", '5', { 124, "00000000000 ", 0 }, BENTO_E_UNSAFE,
		  "mode 0644 (a directory is 0755)" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		one_header(cases[i].label, "f", cases[i].type, 1, &cases[i].p,
			   cases[i].p.len || *cases[i].p.val ? 1 : 0, cases[i].code, cases[i].needle);

	/* The first header decides whether this is a tar at all. */
	struct bento_buf b = BENTO_BUF_INIT;
	struct bento_error err;
	struct patch bad = { 148, "000001\0 ", 8 };
	int n;
	raw_entry(&b, "f", '0', 1, &bad, 1);
	raw_end(&b);
	is_int(read_raw(&b, &err, &n), -BENTO_E_INVALID, "a bad first checksum: not a tar archive");
	is_str(err.msg, "evil.tar: not a tar archive (no ustar header at the start)", "says so");

	/* A checksum over signed bytes (what some old tars wrote) is not accepted. */
	bento_buf_reset(&b);
	raw_entry(&b, "ok", '0', 1, NULL, 0);
	unsigned char h[512];
	struct patch hi = { 345, "\xe9", 1 };
	raw_header(h, "f", '0', 0, &hi, 1);
	int sum = 0;
	for (int i = 0; i < 512; i++)
		sum += i >= 148 && i < 156 ? ' ' : (signed char)h[i];
	snprintf((char *)h + 148, 8, "%06o", sum);
	bento_buf_add(&b, h, 512);
	raw_end(&b);
	is_int(read_raw(&b, &err, &n), -BENTO_E_VERIFY, "a signed-byte checksum is refused");

	/* Accepted spellings: octal fields as Python and GNU tar write them, a split path. */
	struct patch py[] = { { 100, "0000644\0", 8 }, { 108, "0000000\0", 8 }, { 116, "0000000\0", 8 },
			      { 124, "00000000001\0", 12 }, { 329, "\0\0\0\0\0\0\0\0", 8 },
			      { 345, "dir", 0 } };
	bento_buf_reset(&b);
	raw_entry(&b, "f", '0', 1, py, 6);
	raw_end(&b);
	is_int(read_raw(&b, &err, &n), 0, "Python's field spellings and a prefix are accepted");
	if (n != 1)
		printf("#   %s\n", err.msg);
	bento_buf_release(&b);
}

static void test_reader_pax(void)
{
	static char longp[300];
	struct bento_buf b = BENTO_BUF_INIT, rec = BENTO_BUF_INIT;
	struct bento_archive_reader *r = NULL;
	struct bento_archive_entry e;
	struct bento_error err;
	int n, fd;

	memset(longp, 'p', 250);
	longp[120] = '/';
	/* A long path, and a path that fits the ustar header's name: the latter is refused. */
	pax_rec(&rec, "path", longp);
	raw_pax(&b, rec.buf, rec.len);
	raw_entry(&b, "truncated-name", '0', 3, NULL, 0);
	raw_end(&b);
	is_int(read_raw(&b, &err, &n), 0, "a pax path the ustar fields cannot hold is read");
	bento_buf_reset(&b);
	raw_pax(&b, "16 path=src/run\n", 16);
	raw_entry(&b, "src/other", '0', 3, NULL, 0);
	raw_end(&b);
	is_int(read_raw(&b, &err, &n), -BENTO_E_UNSAFE, "a pax path that differs from a name that fits");
	ok(strstr(err.msg, "src/run: refusing entry: pax path differs from the header's name 'src/other'") != NULL,
	   "says which and why");
	bento_buf_reset(&b);
	raw_pax(&b, "16 path=src/run\n", 16);
	raw_entry(&b, "src/run", '0', 3, NULL, 0);
	raw_end(&b);
	is_int(read_raw(&b, &err, &n), 0, "an equal pax path is fine");

	/* Sizes and times too large for the ustar fields: the pax value wins, as everywhere. */
	struct patch b256 = { 124, "\x80\0\0\0\0\0\0\x02\0\0\0\0", 12 };
	struct patch zero = { 124, "00000000000 ", 12 };
	struct patch mt = { 136, "\x80\0\0\0\0\0\0\x02\0\0\0\0", 12 };
	for (int i = 0; i < 3; i++) {
		bento_buf_reset(&b);
		bento_buf_reset(&rec);
		pax_rec(&rec, i < 2 ? "size" : "mtime", i < 2 ? "8589934592" : "10413792000");
		raw_pax(&b, rec.buf, rec.len);
		raw_entry(&b, "big", '0', 0, i == 0 ? &b256 : i == 1 ? &zero : &mt, 1);
		spit(tpath("raw.tar"), b.buf, b.len);
		fd = open(tpath("raw.tar"), O_RDONLY);
		r = NULL;
		bento_archive_reader_open(fd, "big.tar", &r, &err);
		is_int(bento_archive_next(r, &e, &err), 1, "%s: entry read",
		       i == 0 ? "pax size, base-256 field" : i == 1 ? "pax size, 0 in the field (Python)"
								: "pax mtime, base-256 field");
		if (i < 2)
			ok(e.size == (uint64_t)1 << 33, "the size is the pax size");
		bento_archive_reader_free(r);
		close(fd);
	}
	bento_buf_reset(&b);
	raw_pax(&b, "12 size=100\n", 12);
	raw_entry(&b, "f", '0', 99, NULL, 0);
	raw_end(&b);
	is_int(read_raw(&b, &err, &n), -BENTO_E_UNSAFE, "a pax size that differs from a size that fits");
	ok(strstr(err.msg, "size: a pax record that differs") != NULL, "says so");

	/* Records: a key and value (well formed), or raw bytes (when k1 is NULL). */
	static const struct {
		const char *label, *k1, *v1, *k2, *v2;
		int code;
		const char *needle;
	} cases[] = {
		{ "linkpath", "linkpath", "/etc", NULL, NULL, BENTO_E_UNSAFE, "link target (pax record linkpath)" },
		{ "uname", "uname", "root", NULL, NULL, BENTO_E_UNSAFE,
		  "pax record 'uname' (bento reads only path, size and mtime)" },
		{ "hdrcharset", "hdrcharset", "BINARY", NULL, NULL, BENTO_E_UNSAFE, "pax record 'hdrcharset'" },
		{ "sparse after another key", "atime", "1", "GNU.sparse.major", "1", BENTO_E_UNSAFE,
		  "PaxHeader/x: refusing entry: sparse file (pax record GNU.sparse.major)" },
		{ "a sparse file names its path", "path", "hh", "GNU.sparse.major", "1", BENTO_E_UNSAFE,
		  "hh: refusing entry: sparse file" },
		{ "path twice", "path", "aa", "path", "bb", BENTO_E_UNSAFE, "pax record 'path' given twice" },
		{ "empty path", "path", "", NULL, NULL, BENTO_E_UNSAFE, "empty pax path" },
		{ "fractional mtime", "mtime", "1.25", NULL, NULL, BENTO_E_UNSAFE,
		  "is not a plain decimal number: '1.25'" },
		{ "signed size", "size", "+1", NULL, NULL, BENTO_E_UNSAFE, "is not a plain decimal number: '+1'" },
		{ "length too long", NULL, "99 path=x\n", NULL, NULL, BENTO_E_VERIFY,
		  "malformed record in the pax header at byte 0" },
		{ "length too short", NULL, "5 path=x\n", NULL, NULL, BENTO_E_VERIFY, "malformed record" },
		{ "leading zero", NULL, "010 path=a\n", NULL, NULL, BENTO_E_VERIFY, "malformed record" },
		{ "no newline", NULL, "10 path=aaa", NULL, NULL, BENTO_E_VERIFY, "malformed record" },
		{ "no key", NULL, "5 =x\n", NULL, NULL, BENTO_E_VERIFY, "malformed record" },
		{ "junk after the records", NULL, "9 path=a\nxx", NULL, NULL, BENTO_E_VERIFY, "malformed record" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bento_buf_reset(&b);
		bento_buf_reset(&rec);
		if (cases[i].k1)
			pax_rec(&rec, cases[i].k1, cases[i].v1);
		else
			bento_buf_adds(&rec, cases[i].v1);
		if (cases[i].k2)
			pax_rec(&rec, cases[i].k2, cases[i].v2);
		raw_pax(&b, rec.buf, rec.len);
		raw_entry(&b, "f", '0', 1, NULL, 0);
		raw_end(&b);
		is_int(read_raw(&b, &err, &n), -cases[i].code, "pax %s: refused", cases[i].label);
		if (!ok(strstr(err.msg, cases[i].needle) != NULL, "pax %s: message says why",
			cases[i].label) || getenv("TEST_VERBOSE"))
			printf("#   message: %s\n", err.msg);
	}
	/* An extended header must be followed by its entry. */
	bento_buf_reset(&b);
	raw_pax(&b, "9 path=a\n", 9);
	raw_end(&b);
	is_int(read_raw(&b, &err, &n), -BENTO_E_UNSAFE, "pax header then the end: refused");
	ok(strstr(err.msg, "pax header not followed by an entry") != NULL, "says so");
	bento_buf_reset(&b);
	raw_pax(&b, "9 path=a\n", 9);
	raw_pax(&b, "9 path=b\n", 9);
	raw_entry(&b, "f", '0', 1, NULL, 0);
	raw_end(&b);
	is_int(read_raw(&b, &err, &n), -BENTO_E_UNSAFE, "two pax headers in a row: refused");
	ok(strstr(err.msg, "two pax headers in a row (at bytes 0 and 1024)") != NULL, "says so");
	bento_buf_reset(&b);
	raw_header((unsigned char *)(bento_buf_grow(&b, 512), b.buf), "PaxHeader/x", 'x', 70000, NULL, 0);
	bento_buf_setlen(&b, 512);
	raw_end(&b);
	is_int(read_raw(&b, &err, &n), -BENTO_E_UNSAFE, "a 70000-byte pax header: refused unread");
	bento_buf_release(&b);
	bento_buf_release(&rec);
}

/* What may follow the end-of-archive marker, and how much of it is read. */
static void test_reader_trailer(void)
{
	struct bento_buf b = BENTO_BUF_INIT, z = BENTO_BUF_INIT;
	struct bento_error err;
	int n;

	raw_entry(&b, "f", '0', 1, NULL, 0);
	raw_end(&b);
	size_t end = b.len;
	for (size_t i = 0; i < (1u << 20); i++)
		bento_buf_addch(&b, '\0');
	is_int(read_raw(&b, &err, &n), 0, "1 MiB of zero padding after the marker is fine");
	bento_buf_addch(&b, '\0');
	is_int(read_raw(&b, &err, &n), -BENTO_E_VERIFY, "one byte more is refused");
	is_str(err.msg, "evil.tar: more than 1048576 bytes after the end-of-archive marker", "says so");
	bento_buf_setlen(&b, end + 10000);
	b.buf[end + 9999] = 1;
	is_int(read_raw(&b, &err, &n), -BENTO_E_VERIFY, "a non-zero byte in the padding is refused");
	is_str(err.msg, "evil.tar: data after the end-of-archive marker (at byte 12047)", "says where");
	bento_buf_setlen(&b, end - 512);
	raw_entry(&b, "g", '0', 1, NULL, 0);
	raw_end(&b);
	is_int(read_raw(&b, &err, &n), -BENTO_E_VERIFY, "a lone zero block, then an entry: refused");
	if (!ok(strstr(err.msg, "a lone zero block at byte 1024, followed by more data") != NULL,
		"says so"))
		printf("#   message: %s\n", err.msg);

	/* Compressed: 64 MiB of zeros after the marker are not all decompressed. */
	bento_buf_reset(&b);
	raw_entry(&b, "f", '0', 1, NULL, 0);
	raw_end(&b);
	for (size_t i = 0; i < (64u << 20); i++)
		bento_buf_addch(&b, '\0');
	compress_into(&z, BENTO_COMP_ZSTD, b.buf, b.len);
	spit(tpath("trail.zst"), z.buf, z.len);
	struct bento_archive_reader *r = NULL;
	struct bento_archive_entry e;
	int fd = open(tpath("trail.zst"), O_RDONLY);
	bento_archive_reader_open(fd, "trail.zst", &r, &err);
	is_int(bento_archive_next(r, &e, &err), 1, "zstd: the entry");
	is_int(bento_archive_next(r, &e, &err), -BENTO_E_VERIFY, "zstd: 64 MiB of zeros after it refused");
	if (!ok(strstr(err.msg, "trail.zst: more than 1048576 bytes after the end-of-archive marker") != NULL,
		"says so"))
		printf("#   message: %s\n", err.msg);
	bento_archive_reader_free(r);
	close(fd);
	bento_buf_release(&b);
	bento_buf_release(&z);
}

int main(void)
{
	char cmd[128];

	snprintf(dir, sizeof(dir), "/tmp/bento-archive-XXXXXX");
	if (!mkdtemp(dir))
		return 99;
	test_round_trip();
	test_headers();
	test_determinism();
	test_writer_errors();
	test_reader_good();
	test_reader_unsafe();
	test_reader_corrupt();
	test_reader_headers();
	test_reader_pax();
	test_reader_trailer();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", dir);
	return tap_done();
}
