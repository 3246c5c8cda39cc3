/*
 * archive.c - deterministic tar writing, and what the writer and the reader
 * (archive_read.c) share: the path rules and the set of paths seen.
 *
 * libarchive does the tar framing only (pax restricted); compression is done
 * here with zlib and libzstd, in the write callback, because:
 *  - libarchive's zstd writer does not set the frame checksum, so a damaged
 *    zstd stream could decode to garbage silently;
 *  - the bytes we write must not depend on libarchive's filter defaults
 *    (gzip timestamp, XFL/OS bytes, block padding), which have changed
 *    between releases.
 * gzip: zlib level 6, header with mtime 0, no name, OS byte from zlib (3 on
 * Unix).  zstd: level 3, single-threaded, content checksum on.  Output is
 * byte-identical for the same inputs and the same zlib/libzstd versions.
 *
 * Blocking: the writer uses archive_write_set_bytes_per_block(a, 0), so
 * libarchive hands headers and data straight to our callback and never pads
 * the end of the stream to a 10240-byte record.  The tar stream is then
 * headers + data padded to 512 + the two zero blocks of the end-of-archive
 * marker: a valid tar (POSIX only asks for the two zero blocks; GNU tar,
 * bsdtar and Python's tarfile read it) and what bsdtar itself writes to a
 * regular file.  Small pieces (headers, padding) are gathered in a buffer;
 * large data goes to write(2) directly from the caller's buffer, which keeps
 * `--compression none` at tar -cf speed.
 *
 * Locale: libarchive converts path names through the current locale, and
 * 3.6.2's pax writer crashes on a UTF-8 path under the C locale.  Every
 * libarchive call runs under a thread-local C.UTF-8 LC_CTYPE (uselocale), so
 * neither safety nor output bytes depend on the caller's locale.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <locale.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#ifndef ARCHIVE_H_INCLUDED
#error "lib/archive.h hides libarchive's <archive.h>: build with -iquote lib, not -Ilib"
#endif
#include <zlib.h>
#include <zstd.h>

#include "archive.h"
#include "archive_internal.h"
#include "buf.h"
#include "fs.h"

enum {
	IO_BUFSZ = 1 << 20,		/* read size for files and archives */
	GATHER_BUFSZ = 256 << 10,	/* coalesces small tar pieces */
	GZIP_LEVEL = 6,
	ZSTD_LEVEL = 3,
};

int bento_compression_parse(const char *s, enum bento_compression *out, struct bento_error *err)
{
	static const struct {
		const char *name;
		enum bento_compression comp;
	} names[] = {
		{ "none", BENTO_COMP_NONE },
		{ "gzip", BENTO_COMP_GZIP },
		{ "zstd", BENTO_COMP_ZSTD },
	};

	for (size_t i = 0; s && i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(s, names[i].name) == 0) {
			*out = names[i].comp;
			return 0;
		}
	}
	return bento_error_set(err, BENTO_E_USAGE,
			       "unknown compression '%s' (expected none, gzip or zstd)",
			       s ? s : "");
}

/* ---- locale ---- */

struct locale_guard {
	locale_t old;
};

static locale_t the_utf8_locale;
static pthread_once_t utf8_once = PTHREAD_ONCE_INIT;

static void utf8_locale_init(void)
{
	static const char *const names[] = { "C.UTF-8", "C.utf8", "en_US.UTF-8" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]) && !the_utf8_locale; i++)
		the_utf8_locale = newlocale(LC_CTYPE_MASK, names[i], (locale_t)0);
}

static locale_t utf8_locale(void)
{
	pthread_once(&utf8_once, utf8_locale_init);
	return the_utf8_locale;
}

static int locale_enter(struct locale_guard *g, struct bento_error *err)
{
	locale_t l = utf8_locale();

	g->old = (locale_t)0;
	if (!l)
		return bento_error_set(err, BENTO_E_FAIL,
				       "archive: no UTF-8 locale available (C.UTF-8)");
	g->old = uselocale(l);
	return 0;
}

static void locale_leave(struct locale_guard *g)
{
	if (g->old)
		uselocale(g->old);
}

/* ---- paths ---- */

const char *bento_tar_path_problem(const char *path)
{
	const char *p = path, *comp;

	if (!*path)
		return "empty path";
	if (*path == '/')
		return "absolute path";
	if (strlen(path) > BENTO_TAR_PATH_MAX)
		return "path too long";
	for (const unsigned char *u = (const unsigned char *)path; *u; u++) {
		if (*u < 0x20 || *u == 0x7f)
			return "control character in path";
		if (*u == '\\')
			return "backslash in path";
	}
	if (!bento_utf8_valid(path, strlen(path)))
		return "path is not valid UTF-8";
	/* C1 controls (U+0080..U+009F) are escapes to some terminals too. */
	for (const char *c = path; (c = strchr(c, 0xc2)); c++) {
		unsigned char next = (unsigned char)c[1];
		if (next >= 0x80 && next <= 0x9f)
			return "control character in path";
	}
	for (;;) {
		size_t len;

		comp = p;
		p = strchrnul(comp, '/');
		len = (size_t)(p - comp);
		if (len == 0)
			return "empty path component";
		if (len == 1 && comp[0] == '.')
			return "'.' path component";
		if (len == 2 && comp[0] == '.' && comp[1] == '.')
			return "'..' path component";
		if (len > BENTO_TAR_NAME_MAX)
			return "path component too long";
		if (!*p)
			return NULL;
		p++;
	}
}

const char *bento_tar_show(const char *path, char out[BENTO_TAR_SHOW_BUFSZ])
{
	const unsigned char *u = (const unsigned char *)path;
	bool utf8 = bento_utf8_valid(path, strlen(path));
	size_t o = 0;

	for (size_t i = 0; u[i] && i < BENTO_TAR_SHOW_MAX; i++) {
		unsigned c = u[i];
		bool c1 = utf8 && c == 0xc2 && u[i + 1] >= 0x80 && u[i + 1] <= 0x9f;

		if (c < 0x20 || c == 0x7f || c == '\\' || (!utf8 && c >= 0x80) || c1) {
			if (c1)
				c = u[++i];
			if (c == '\\')
				o += (size_t)snprintf(out + o, BENTO_TAR_SHOW_BUFSZ - o, "\\\\");
			else
				o += (size_t)snprintf(out + o, BENTO_TAR_SHOW_BUFSZ - o, "\\x%02x", c);
		} else {
			out[o++] = (char)c;
		}
	}
	if (strlen(path) > BENTO_TAR_SHOW_MAX)
		o += (size_t)snprintf(out + o, BENTO_TAR_SHOW_BUFSZ - o, "...");
	out[o] = '\0';
	return out;
}

/* ---- a set of paths (open addressing) ---- */

enum seen_kind {
	SEEN_FILE = 1,
	SEEN_DIR,
	SEEN_PARENT,	/* implied by a deeper entry, not itself an entry */
};

static uint64_t path_hash(const char *s, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)s[i]) * 0x100000001b3ULL;
	return h;
}

static size_t set_slot(const struct bento_tar_paths *s, const char *key, size_t len)
{
	size_t i = (size_t)path_hash(key, len) & (s->cap - 1);

	while (s->keys[i] && (strncmp(s->keys[i], key, len) || s->keys[i][len]))
		i = (i + 1) & (s->cap - 1);
	return i;
}

static void set_grow(struct bento_tar_paths *s)
{
	struct bento_tar_paths bigger = { 0 };

	bigger.cap = s->cap ? s->cap * 2 : 64;
	bigger.keys = bento_xcalloc(bigger.cap, sizeof(*bigger.keys));
	bigger.kind = bento_xcalloc(bigger.cap, 1);
	for (size_t i = 0; i < s->cap; i++) {
		if (s->keys[i]) {
			size_t j = set_slot(&bigger, s->keys[i], strlen(s->keys[i]));
			bigger.keys[j] = s->keys[i];
			bigger.kind[j] = s->kind[i];
		}
	}
	bigger.n = s->n;
	free(s->keys);
	free(s->kind);
	*s = bigger;
}

/* The kind recorded for the first len bytes of key, 0 if none. */
static enum seen_kind set_get(const struct bento_tar_paths *s, const char *key, size_t len)
{
	size_t i;

	if (!s->cap)
		return 0;
	i = set_slot(s, key, len);
	return s->keys[i] ? s->kind[i] : 0;
}

static void set_put(struct bento_tar_paths *s, const char *key, size_t len, enum seen_kind kind)
{
	size_t i;

	if ((s->n + 1) * 2 > s->cap)
		set_grow(s);
	i = set_slot(s, key, len);
	if (!s->keys[i]) {
		s->keys[i] = bento_xstrndup(key, len);
		s->n++;
	}
	s->kind[i] = (unsigned char)kind;
}

void bento_tar_paths_release(struct bento_tar_paths *s)
{
	for (size_t i = 0; i < s->cap; i++)
		free(s->keys[i]);
	free(s->keys);
	free(s->kind);
	memset(s, 0, sizeof(*s));
}

const char *bento_tar_paths_add(struct bento_tar_paths *s, const char *path, bool is_dir)
{
	size_t len = strlen(path);
	enum seen_kind old = set_get(s, path, len);

	if (old == SEEN_FILE)
		return is_dir ? "path is both a file and a directory" : "duplicate entry";
	if (old == SEEN_DIR)
		return is_dir ? "duplicate entry" : "path is both a directory and a file";
	if (old == SEEN_PARENT && !is_dir)
		return "path is both a file and a directory";
	for (const char *p = path; (p = strchr(p, '/')); p++) {
		size_t plen = (size_t)(p - path);
		enum seen_kind k = set_get(s, path, plen);

		if (k == SEEN_FILE)
			return "a parent directory is a file";
		if (!k)
			set_put(s, path, plen, SEEN_PARENT);
	}
	set_put(s, path, len, is_dir ? SEEN_DIR : SEEN_FILE);
	return NULL;
}

/* ---- writer ---- */

struct bento_archive_writer {
	struct archive *a;
	int (*write)(void *ctx, const void *p, size_t n);
	void *ctx;
	int fd;				/* the fd writer's descriptor (its ctx) */
	uint64_t written, kicked;	/* bytes written to fd, handed to writeback */
	bool gather;			/* coalesce small pieces (the fd writer) */
	uint64_t entry_left;		/* data bytes the current file still needs */
	enum bento_compression comp;
	int64_t mtime;
	z_stream z;
	bool z_init;
	ZSTD_CCtx *zc;
	unsigned char *out;		/* compressor output or gathered pieces */
	size_t out_len;
	unsigned char *io;		/* write_fd's read buffer */
	int io_errno;			/* a write(2) failure seen in the callback */
	bool failed;			/* the stream is unusable */
	bool closed;
	bool discard;			/* freeing: drop whatever libarchive flushes */
	struct bento_tar_paths seen;
	struct archive_entry *entry;	/* reused from header to header */
};

/* written data handed to writeback as it goes: the export's fsync is then short */
static int fd_write(void *ctx, const void *p, size_t n)
{
	struct bento_archive_writer *w = ctx;
	int rc = bento_write_all(w->fd, p, n);

	w->written += n;
	if (rc == 0)
		bento_writeback(w->fd, &w->kicked, w->written);
	return rc;
}

static int flush_out(struct bento_archive_writer *w)
{
	int rc = w->out_len ? w->write(w->ctx, w->out, w->out_len) : 0;

	w->out_len = 0;
	if (rc)
		w->io_errno = -rc;
	return rc;
}

static int put_plain(struct bento_archive_writer *w, const void *p, size_t n)
{
	if (!w->gather || n >= GATHER_BUFSZ / 2) {
		int rc = 0;
		if (w->out_len && (rc = flush_out(w)))
			return rc;
		if ((rc = w->write(w->ctx, p, n)))
			w->io_errno = -rc;
		return rc;
	}
	if (w->out_len + n > GATHER_BUFSZ && flush_out(w))
		return -w->io_errno;
	memcpy(w->out + w->out_len, p, n);
	w->out_len += n;
	return 0;
}

/* finish: end the compressed stream (Z_FINISH / ZSTD_e_end). */
static int put_gzip(struct bento_archive_writer *w, const void *p, size_t n, bool finish)
{
	const unsigned char *c = p;

	/* avail_in is 32-bit: feed in pieces. */
	do {
		size_t piece = n > (1u << 30) ? (1u << 30) : n;
		int zr;

		w->z.next_in = (unsigned char *)(uintptr_t)c;
		w->z.avail_in = (uInt)piece;
		c += piece;
		n -= piece;
		do {
			w->z.next_out = w->out + w->out_len;
			w->z.avail_out = (uInt)(IO_BUFSZ - w->out_len);
			zr = deflate(&w->z, finish && !n ? Z_FINISH : Z_NO_FLUSH);
			if (zr == Z_STREAM_ERROR)
				return -EIO;
			w->out_len = IO_BUFSZ - w->z.avail_out;
			if (w->out_len == IO_BUFSZ && flush_out(w))
				return -w->io_errno;
		} while (w->z.avail_in > 0 || (finish && !n && zr != Z_STREAM_END));
	} while (n > 0);
	return 0;
}

static int put_zstd(struct bento_archive_writer *w, const void *p, size_t n, bool finish)
{
	ZSTD_inBuffer in = { p, n, 0 };
	size_t left;

	do {
		ZSTD_outBuffer o = { w->out, IO_BUFSZ, w->out_len };
		left = ZSTD_compressStream2(w->zc, &o, &in, finish ? ZSTD_e_end : ZSTD_e_continue);
		if (ZSTD_isError(left))
			return -EIO;
		w->out_len = o.pos;
		if (w->out_len == IO_BUFSZ && flush_out(w))
			return -w->io_errno;
	} while (in.pos < in.size || (finish && left));
	return 0;
}

static la_ssize_t write_cb(struct archive *a, void *cookie, const void *p, size_t n)
{
	struct bento_archive_writer *w = cookie;
	int rc;

	if (w->discard)
		return (la_ssize_t)n;
	if (w->comp == BENTO_COMP_GZIP)
		rc = put_gzip(w, p, n, false);
	else if (w->comp == BENTO_COMP_ZSTD)
		rc = put_zstd(w, p, n, false);
	else
		rc = put_plain(w, p, n);
	if (rc) {
		archive_set_error(a, -rc, "write failed");
		return -1;
	}
	return (la_ssize_t)n;
}

/* The error for a failed libarchive call: our write error if there was one. */
static int writer_error(struct bento_archive_writer *w, const char *path, struct bento_error *err)
{
	w->failed = true;
	if (w->io_errno)
		return bento_error_errno(err, w->io_errno, "%s: writing archive", path);
	return bento_error_set(err, BENTO_E_FAIL, "%s: writing archive: %s", path,
			       archive_error_string(w->a) ? archive_error_string(w->a)
							  : "unknown libarchive error");
}

static int writer_open(int (*write)(void *ctx, const void *p, size_t n), void *ctx,
		       int fd, enum bento_compression comp, int64_t mtime,
		       struct bento_archive_writer **out, struct bento_error *err)
{
	struct bento_archive_writer *w;
	struct locale_guard g;
	int rc;

	if (mtime < 0)
		return bento_error_set(err, BENTO_E_USAGE, "archive: negative mtime %lld",
				       (long long)mtime);
	if (comp != BENTO_COMP_NONE && comp != BENTO_COMP_GZIP && comp != BENTO_COMP_ZSTD)
		return bento_error_set(err, BENTO_E_USAGE, "archive: unknown compression %d",
				       (int)comp);
	if ((rc = locale_enter(&g, err)))
		return rc;
	w = bento_xcalloc(1, sizeof(*w));
	w->write = write;
	w->ctx = write == fd_write ? w : ctx;
	w->fd = fd;
	w->gather = write == fd_write;
	w->comp = comp;
	w->mtime = mtime;
	w->out = bento_xmalloc(comp == BENTO_COMP_NONE ? GATHER_BUFSZ : IO_BUFSZ);
	if (comp == BENTO_COMP_GZIP) {
		/* windowBits 15 + 16: gzip wrapper; zlib writes mtime 0 and no name. */
		if (deflateInit2(&w->z, GZIP_LEVEL, Z_DEFLATED, 15 + 16, 8,
				 Z_DEFAULT_STRATEGY) != Z_OK) {
			rc = bento_error_set(err, BENTO_E_FAIL, "archive: cannot set up gzip");
			goto fail;
		}
		w->z_init = true;
	} else if (comp == BENTO_COMP_ZSTD) {
		w->zc = ZSTD_createCCtx();
		if (!w->zc ||
		    ZSTD_isError(ZSTD_CCtx_setParameter(w->zc, ZSTD_c_compressionLevel, ZSTD_LEVEL)) ||
		    ZSTD_isError(ZSTD_CCtx_setParameter(w->zc, ZSTD_c_checksumFlag, 1))) {
			rc = bento_error_set(err, BENTO_E_FAIL, "archive: cannot set up zstd");
			goto fail;
		}
	}
	w->a = archive_write_new();
	if (!w->a)
		abort();
	if (archive_write_set_format_pax_restricted(w->a) != ARCHIVE_OK ||
	    archive_write_set_bytes_per_block(w->a, 0) != ARCHIVE_OK ||
	    archive_write_set_bytes_in_last_block(w->a, 1) != ARCHIVE_OK ||
	    archive_write_open(w->a, w, NULL, write_cb, NULL) != ARCHIVE_OK) {
		rc = writer_error(w, "archive", err);
		goto fail;
	}
	locale_leave(&g);
	*out = w;
	return 0;
fail:
	locale_leave(&g);
	w->discard = true;
	bento_archive_writer_free(w);
	return rc;
}

int bento_archive_writer_open(int fd, enum bento_compression comp, int64_t mtime,
			      struct bento_archive_writer **out, struct bento_error *err)
{
	return writer_open(fd_write, NULL, fd, comp, mtime, out, err);
}

int bento_archive_writer_open_cb(int (*write)(void *ctx, const void *p, size_t n), void *ctx,
				 enum bento_compression comp, int64_t mtime,
				 struct bento_archive_writer **out, struct bento_error *err)
{
	if (!write)
		return bento_error_set(err, BENTO_E_USAGE, "archive: no write callback");
	return writer_open(write, ctx, -1, comp, mtime, out, err);
}

static int writer_usable(struct bento_archive_writer *w, const char *path, struct bento_error *err)
{
	if (w->closed)
		return bento_error_set(err, BENTO_E_USAGE, "%s: archive already closed", path);
	if (w->failed)
		return bento_error_set(err, BENTO_E_FAIL,
				       "%s: archive stream is unusable after an earlier error", path);
	return 0;
}

static int write_header(struct bento_archive_writer *w, const char *path, unsigned mode,
			uint64_t size, bool is_dir, struct bento_error *err)
{
	struct archive_entry *e;
	const char *why;
	int rc = 0;

	if ((rc = writer_usable(w, path, err)))
		return rc;
	if (w->entry_left)
		return bento_error_set(err, BENTO_E_USAGE,
				       "%s: previous entry still needs %llu bytes of data", path,
				       (unsigned long long)w->entry_left);
	if ((why = bento_tar_path_problem(path)))
		return bento_error_set(err, BENTO_E_INVALID, "%s: cannot archive: %s", path, why);
	if (size > BENTO_TAR_ENTRY_MAX)
		return bento_error_set(err, BENTO_E_INVALID, "%s: cannot archive: file too large",
				       path);
	if ((why = bento_tar_paths_add(&w->seen, path, is_dir)))
		return bento_error_set(err, BENTO_E_INVALID, "%s: cannot archive: %s", path, why);
	if (!w->entry && !(w->entry = archive_entry_new()))
		abort();
	e = archive_entry_clear(w->entry);
	archive_entry_set_pathname_utf8(e, path);
	archive_entry_set_filetype(e, is_dir ? AE_IFDIR : AE_IFREG);
	archive_entry_set_perm(e, is_dir || (mode & 0100) ? 0755 : 0644);
	archive_entry_set_size(e, is_dir ? 0 : (la_int64_t)size);
	archive_entry_set_mtime(e, (time_t)w->mtime, 0);
	archive_entry_set_uid(e, 0);
	archive_entry_set_gid(e, 0);
	if (archive_write_header(w->a, e) != ARCHIVE_OK)
		rc = writer_error(w, path, err);
	else
		w->entry_left = is_dir ? 0 : size;
	return rc;
}

static int write_data(struct bento_archive_writer *w, const char *path, const void *p,
		      size_t n, struct bento_error *err)
{
	const char *c = p;

	if (n > w->entry_left) {
		w->failed = true;
		return bento_error_set(err, BENTO_E_USAGE, "%s: more data than the entry's size",
				       path);
	}
	while (n > 0) {
		la_ssize_t k = archive_write_data(w->a, c, n);
		if (k <= 0)
			return writer_error(w, path, err);
		c += k;
		n -= (size_t)k;
		w->entry_left -= (uint64_t)k;
	}
	return 0;
}

int bento_archive_write_bytes(struct bento_archive_writer *w, const char *path,
			      unsigned mode, const void *data, size_t len,
			      struct bento_error *err)
{
	struct locale_guard g;
	int rc;

	if ((rc = locale_enter(&g, err)))
		return rc;
	if (!(rc = write_header(w, path, mode, len, false, err)))
		rc = write_data(w, path, data, len, err);
	locale_leave(&g);
	return rc;
}

int bento_archive_write_dir(struct bento_archive_writer *w, const char *path,
			    struct bento_error *err)
{
	struct locale_guard g;
	int rc;

	if ((rc = locale_enter(&g, err)))
		return rc;
	rc = write_header(w, path, 0755, 0, true, err);
	locale_leave(&g);
	return rc;
}

int bento_archive_write_header(struct bento_archive_writer *w, const char *path,
			       unsigned mode, uint64_t size, struct bento_error *err)
{
	struct locale_guard g;
	int rc;

	if ((rc = locale_enter(&g, err)))
		return rc;
	rc = write_header(w, path, mode, size, false, err);
	locale_leave(&g);
	return rc;
}

int bento_archive_write_data(struct bento_archive_writer *w, const void *p, size_t n,
			     struct bento_error *err)
{
	struct locale_guard g;
	int rc;

	if ((rc = writer_usable(w, "archive", err)))
		return rc;
	if ((rc = locale_enter(&g, err)))
		return rc;
	rc = write_data(w, "archive", p, n, err);
	locale_leave(&g);
	return rc;
}

int bento_archive_write_fd(struct bento_archive_writer *w, const char *path,
			   unsigned mode, int fd, uint64_t size,
			   struct bento_error *err)
{
	struct locale_guard g;
	uint64_t done = 0;
	ssize_t k;
	int rc;

	if ((rc = locale_enter(&g, err)))
		return rc;
	if ((rc = write_header(w, path, mode, size, false, err)))
		goto out;
	if (!w->io)
		w->io = bento_xmalloc(IO_BUFSZ);
	/*
	 * The last read asks for one byte more than is left: a short answer
	 * is the end of the file (one read for a small file), a full one a
	 * file that grew.  Only when the last read was full is the end read.
	 */
	while (done < size) {
		size_t want = size - done < IO_BUFSZ ? (size_t)(size - done) + 1 : IO_BUFSZ;
		if ((k = bento_read_fd(fd, w->io, want)) < 0) {
			w->failed = true;
			rc = bento_error_errno(err, (int)-k, "%s: read", path);
			goto out;
		}
		if (k == 0) {
			w->failed = true;
			rc = bento_error_set(err, BENTO_E_VERIFY,
					     "%s: file shrank while writing (expected %llu bytes, got %llu)",
					     path, (unsigned long long)size,
					     (unsigned long long)done);
			goto out;
		}
		if ((uint64_t)k > size - done)
			goto grew;
		if ((rc = write_data(w, path, w->io, (size_t)k, err)))
			goto out;
		done += (uint64_t)k;
		if ((size_t)k < want && done == size)
			goto out;
	}
	if ((k = bento_read_fd(fd, w->io, 1)) == 0)
		goto out;
	if (k < 0) {
		w->failed = true;
		rc = bento_error_errno(err, (int)-k, "%s: read", path);
		goto out;
	}
grew:
	w->failed = true;
	rc = bento_error_set(err, BENTO_E_VERIFY, "%s: file grew while writing (expected %llu bytes)",
			     path, (unsigned long long)size);
out:
	locale_leave(&g);
	return rc;
}

int bento_archive_writer_close(struct bento_archive_writer *w, struct bento_error *err)
{
	struct locale_guard g;
	int rc;

	if ((rc = writer_usable(w, "archive", err)))
		return rc;
	if ((rc = locale_enter(&g, err)))
		return rc;
	if (w->entry_left) {
		rc = bento_error_set(err, BENTO_E_USAGE,
				     "archive: closed with %llu bytes of the last entry unwritten",
				     (unsigned long long)w->entry_left);
		goto out;
	}
	w->closed = true;
	if (archive_write_close(w->a) != ARCHIVE_OK) {
		rc = writer_error(w, "archive", err);
		goto out;
	}
	if (w->comp == BENTO_COMP_GZIP)
		rc = put_gzip(w, NULL, 0, true);
	else if (w->comp == BENTO_COMP_ZSTD)
		rc = put_zstd(w, NULL, 0, true);
	if (!rc && w->out_len)
		rc = flush_out(w);
	if (rc) {
		w->failed = true;
		rc = w->io_errno ? bento_error_errno(err, w->io_errno, "archive: write")
				 : bento_error_set(err, BENTO_E_FAIL, "archive: compression failed");
	}
out:
	locale_leave(&g);
	return rc;
}

void bento_archive_writer_free(struct bento_archive_writer *w)
{
	if (!w)
		return;
	if (w->a) {
		struct locale_guard g;
		/*
		 * archive_write_free closes an open archive: keep it off the fd.
		 * An unfinished entry is padded out with zeros that are dropped
		 * here (about 5 ms per GiB); archive_write_fail would skip that
		 * but leaks the client filter's state in libarchive 3.6.2.
		 */
		w->discard = true;
		locale_enter(&g, NULL);
		archive_write_free(w->a);
		locale_leave(&g);
	}
	archive_entry_free(w->entry);
	if (w->z_init)
		deflateEnd(&w->z);
	ZSTD_freeCCtx(w->zc);
	bento_tar_paths_release(&w->seen);
	free(w->out);
	free(w->io);
	free(w);
}
