/*
 * archive_read.c - the defensive tar reader: bento's own strict ustar/pax
 * parser over its own gzip and zstd decoding.
 *
 * A .bento file is read by other programs too (GNU tar, bsdtar, Python's
 * tarfile, whatever a user extracts it with), and each of them has its own
 * idea of the headers it does not expect: GNU tar applies a pax global
 * header that libarchive ignores, reads GNU long names, sparse maps and
 * base-256 numbers, and so on.  An archive that means one thing to bento and
 * another to tar is an attack (a signed archive that verifies here but
 * extracts to other bytes there), so this reader sees every header byte
 * itself and accepts exactly the subset bento-archive(5) specifies: POSIX
 * ustar headers of type 0 and 5 with normalised fields, each optionally
 * preceded by one pax extended header (type x) holding only path, size and
 * mtime records where the ustar fields cannot hold the value.  Anything
 * else is refused, never skipped: that is what makes every accepted archive
 * read the same with every mainstream reader (tests/cli/t0065 checks it).
 *
 * Decompression is ours too: zlib checks the gzip CRC and length, libzstd
 * the frame checksum, and nothing past the end-of-archive marker but a
 * bounded run of zero padding is read.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>
#include <zstd.h>

#include "archive.h"
#include "archive_internal.h"
#include "buf.h"
#include "fs.h"

enum {
	IO_BUFSZ = 1 << 20,		/* raw read size */
	SCRATCH_SZ = 64 << 10,		/* skipped data and trailing padding */
	BLOCK = 512,
	PAX_MAX = 64 << 10,		/* data of one extended header */
};

/* Past the end-of-archive marker: at most this much zero padding, and input. */
#define TRAILER_MAX ((uint64_t)1 << 20)
/* The largest value an 11-digit octal field holds, plus one. */
#define OCTAL11_LIMIT ((uint64_t)1 << 33)

/* ustar header fields: offset, length */
#define F_NAME 0, 100
#define F_MODE 100, 8
#define F_UID 108, 8
#define F_GID 116, 8
#define F_SIZE 124, 12
#define F_MTIME 136, 12
#define F_CHKSUM 148, 8
#define OFF_TYPE 156
#define F_LINKNAME 157, 100
#define OFF_MAGIC 257		/* magic and version: 8 bytes */
#define F_UNAME 265, 32
#define F_GNAME 297, 32
#define F_DEVMAJOR 329, 8
#define F_DEVMINOR 337, 8
#define F_PREFIX 345, 155
#define F_PAD 500, 12		/* zero */

enum reader_state {
	RS_START,	/* before the first header */
	RS_ENTRY,	/* in a regular file's data */
	RS_BETWEEN,	/* after a directory header */
	RS_END,
	RS_FAILED,
};

struct bento_archive_reader {
	ssize_t (*read)(void *ctx, void *buf, size_t n);
	void *ctx;
	int fd;				/* the fd reader's descriptor (its ctx) */
	char *name;
	enum bento_compression comp;
	enum reader_state state;
	uint64_t bytes_in;		/* raw bytes read */
	uint64_t in_limit;		/* raw bytes that may be read; 0 = no limit */
	unsigned char *in;		/* raw input */
	const unsigned char *ip;	/* unconsumed raw input */
	size_t iavail;
	bool in_eof;
	z_stream z;
	bool z_init;
	bool z_member_end;		/* a gzip member ended; another may follow */
	ZSTD_DStream *zd;
	size_t zd_hint;			/* last ZSTD_decompressStream result: 0 = frame done */
	uint64_t off;			/* tar stream bytes consumed */
	uint64_t left;			/* data bytes of the current entry not read yet */
	size_t pad;			/* padding after the current entry's data */
	int fail_rc;			/* sticky error after RS_FAILED */
	struct bento_error fail_err;
	unsigned char *scratch;
	struct bento_buf path;		/* the current entry's path */
	struct bento_buf pax;		/* an extended header's data */
	struct bento_buf paxpath;	/* and its path record */
	struct bento_tar_paths seen;
};

/* ---- errors ---- */

/* err is never NULL here: the public entry points substitute a local one. */
static int reader_fail(struct bento_archive_reader *r, int rc, struct bento_error *err)
{
	r->state = RS_FAILED;
	r->fail_rc = rc;
	r->fail_err = *err;
	return rc;
}

static int corrupt(struct bento_archive_reader *r, struct bento_error *err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* A damaged or truncated stream, or a header that does not parse. */
static int corrupt(struct bento_archive_reader *r, struct bento_error *err, const char *fmt, ...)
{
	char why[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	return bento_error_set(err, BENTO_E_VERIFY, "%s: truncated or corrupt archive: %s", r->name,
			       why);
}

/* A well-formed entry bento does not accept, named by its path. */
static int refuse(struct bento_archive_reader *r, const char *path, struct bento_error *err,
		  const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int refuse(struct bento_archive_reader *r, const char *path, struct bento_error *err,
		  const char *fmt, ...)
{
	char show[BENTO_TAR_SHOW_BUFSZ], why[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	return bento_error_set(err, BENTO_E_UNSAFE, "%s: %s: refusing entry: %s", r->name,
			       bento_tar_show(*path ? path : "(empty name)", show), why);
}

/* ---- the tar stream: raw input, optionally decompressed ---- */

/* Raw input available after this call: >0, 0 at end of input, <0 error. */
static ssize_t fill_input(struct bento_archive_reader *r, struct bento_error *err)
{
	ssize_t k;

	if (r->iavail || r->in_eof)
		return (ssize_t)r->iavail;
	if (r->in_limit && r->bytes_in > r->in_limit)
		return bento_error_set(err, BENTO_E_VERIFY,
				       "%s: more than %llu bytes after the end-of-archive marker",
				       r->name, (unsigned long long)TRAILER_MAX);
	k = r->read(r->ctx, r->in, IO_BUFSZ);
	if (k < 0)
		return bento_error_errno(err, (int)-k, "%s: read", r->name);
	if (k == 0)
		r->in_eof = true;
	r->bytes_in += (uint64_t)k;
	r->ip = r->in;
	r->iavail = (size_t)k;
	return k;
}

/* Decompress up to cap bytes: count, 0 at the clean end of the stream, <0. */
static ssize_t inflate_some(struct bento_archive_reader *r, unsigned char *dst, size_t cap,
			    struct bento_error *err)
{
	r->z.next_out = dst;
	r->z.avail_out = (uInt)cap;
	while (r->z.avail_out > 0) {
		ssize_t k;
		int zr;

		if ((k = fill_input(r, err)) < 0)
			return k;
		if (r->z_member_end) {
			if (k == 0)
				break;
			/* Concatenated gzip members are one stream (RFC 1952). */
			inflateReset(&r->z);
			r->z_member_end = false;
		}
		if (k == 0)
			return corrupt(r, err, "gzip: unexpected end of compressed data");
		r->z.next_in = (unsigned char *)(uintptr_t)r->ip;
		r->z.avail_in = (uInt)r->iavail;
		zr = inflate(&r->z, Z_NO_FLUSH);
		r->ip += r->iavail - r->z.avail_in;
		r->iavail = r->z.avail_in;
		if (zr == Z_STREAM_END)
			r->z_member_end = true;
		else if (zr != Z_OK && zr != Z_BUF_ERROR)
			return corrupt(r, err, "gzip: %s", r->z.msg ? r->z.msg : "data error");
	}
	return (ssize_t)(cap - r->z.avail_out);
}

static ssize_t unzstd_some(struct bento_archive_reader *r, unsigned char *dst, size_t cap,
			   struct bento_error *err)
{
	ZSTD_outBuffer o = { dst, cap, 0 };

	while (o.pos < o.size) {
		ssize_t k = fill_input(r, err);
		ZSTD_inBuffer i;

		if (k < 0)
			return k;
		if (k == 0) {
			if (r->zd_hint)
				return corrupt(r, err, "zstd: unexpected end of compressed data");
			break;
		}
		i = (ZSTD_inBuffer){ r->ip, r->iavail, 0 };
		r->zd_hint = ZSTD_decompressStream(r->zd, &o, &i);
		r->ip += i.pos;
		r->iavail -= i.pos;
		if (ZSTD_isError(r->zd_hint))
			return corrupt(r, err, "zstd: %s", ZSTD_getErrorName(r->zd_hint));
	}
	return (ssize_t)o.pos;
}

/* Up to cap bytes of the tar stream: count, 0 at its end, <0 error. */
static ssize_t stream_some(struct bento_archive_reader *r, unsigned char *dst, size_t cap,
			   struct bento_error *err)
{
	ssize_t k;

	if (r->comp == BENTO_COMP_GZIP) {
		k = inflate_some(r, dst, cap, err);
	} else if (r->comp == BENTO_COMP_ZSTD) {
		k = unzstd_some(r, dst, cap, err);
	} else if (!r->iavail && !r->in_eof && !r->in_limit && cap >= IO_BUFSZ / 2) {
		/* Large reads of an uncompressed stream go straight to the caller. */
		k = r->read(r->ctx, dst, cap);
		if (k < 0)
			return bento_error_errno(err, (int)-k, "%s: read", r->name);
		if (k == 0)
			r->in_eof = true;
		r->bytes_in += (uint64_t)k;
	} else {
		if ((k = fill_input(r, err)) <= 0)
			return k;
		if ((size_t)k > cap)
			k = (ssize_t)cap;
		memcpy(dst, r->ip, (size_t)k);
		r->ip += k;
		r->iavail -= (size_t)k;
	}
	if (k > 0)
		r->off += (uint64_t)k;
	return k;
}

/* Exactly n bytes unless the stream ends first: *got says how many came. */
static int stream_exact(struct bento_archive_reader *r, void *dst, size_t n, size_t *got,
			struct bento_error *err)
{
	*got = 0;
	while (*got < n) {
		ssize_t k = stream_some(r, (unsigned char *)dst + *got, n - *got, err);
		if (k < 0)
			return (int)k;
		if (k == 0)
			break;
		*got += (size_t)k;
	}
	return 0;
}

static bool all_zero(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* ---- header fields ---- */

/*
 * A numeric field: octal digits from its first byte, then at least one NUL
 * or space and nothing else (what every ustar writer produces).  No leading
 * spaces, no sign, no base-256.  -1 if malformed.
 */
static int octal_field(const unsigned char *h, size_t off, size_t len, uint64_t *out)
{
	size_t i = 0;
	uint64_t v = 0;

	while (i < len && h[off + i] >= '0' && h[off + i] <= '7')
		v = v * 8 + (uint64_t)(h[off + i++] - '0');
	if (i == 0 || i == len)
		return -1;
	for (; i < len; i++)
		if (h[off + i] != '\0' && h[off + i] != ' ')
			return -1;
	*out = v;
	return 0;
}

/* GNU's base-256 form (first byte 0x80, the rest big-endian): non-negative, 63 bits. */
static int base256_field(const unsigned char *h, size_t off, size_t len, uint64_t *out)
{
	uint64_t v = 0;

	if (h[off] != 0x80)
		return -1;
	for (size_t i = 1; i < len; i++) {
		if (v >> 55)
			return -1;
		v = v << 8 | h[off + i];
	}
	*out = v;
	return 0;
}

/*
 * A string field: its bytes up to the first NUL (or all of them), with
 * nothing but NULs after that NUL, so no reader can find hidden bytes.
 * out holds len + 1 bytes.  -1 if malformed.
 */
static int string_field(const unsigned char *h, size_t off, size_t len, char *out)
{
	size_t n = strnlen((const char *)h + off, len);

	if (!all_zero(h + off + n, len - n))
		return -1;
	memcpy(out, h + off, n);
	out[n] = '\0';
	return 0;
}

/* devmajor and devminor: all NULs, or octal 0.  -1 otherwise. */
static int dev_field(const unsigned char *h, size_t off, size_t len)
{
	uint64_t v;

	if (all_zero(h + off, len))
		return 0;
	return octal_field(h, off, len, &v) || v ? -1 : 0;
}

/* What the POSIX and vendor type flags are, for messages. */
static const char *type_name(unsigned char t)
{
	switch (t) {
	case '\0': return "an old-style regular file (type NUL; bento reads type 0)";
	case '1': return "hard link";
	case '2': return "symbolic link";
	case '3': return "device node (character)";
	case '4': return "device node (block)";
	case '6': return "fifo";
	case '7': return "contiguous file (type 7)";
	case 'g': return "pax global header (type g), which readers apply differently";
	case 'A': return "Solaris ACL (type A)";
	case 'D': return "GNU dump directory (type D)";
	case 'E': return "Solaris extended attribute (type E)";
	case 'I': return "inode metadata (type I)";
	case 'K': return "GNU long link name (type K)";
	case 'L': return "GNU long name (type L)";
	case 'M': return "GNU multi-volume continuation (type M)";
	case 'N': return "GNU old long name (type N)";
	case 'S': return "sparse file (GNU type S)";
	case 'V': return "GNU volume label (type V)";
	case 'X': return "Solaris extended header (type X)";
	default: return NULL;
	}
}

struct hdr {
	uint64_t at;			/* stream offset of the header block */
	unsigned char type;
	char path[256 + 1];		/* prefix/name */
	uint64_t mode, uid, gid, size, mtime;
	bool size_b256, mtime_b256;	/* given in base-256: only with a pax record */
};

/* What one extended header says; its path is in the reader's paxpath. */
struct pax {
	bool present, has_path, has_size, has_mtime;
	uint64_t at;			/* its header's offset */
	char hname[256 + 1];		/* its header's own name, for messages */
	uint64_t size, mtime;
};

/*
 * Parse the header block h at offset at (any type).  A block that is not a
 * ustar header at all, at the very start of the stream, is "not a tar
 * archive" (-BENTO_E_INVALID); later it is corruption.
 */
static int parse_header(struct bento_archive_reader *r, const unsigned char *h, uint64_t at,
			struct hdr *o, struct bento_error *err)
{
	char name[101], prefix[156], scratch[101];
	uint64_t sum = 0, want = 0;
	const char *tn;
	bool gnu;

	memset(o, 0, sizeof(*o));
	o->at = at;
	o->type = h[OFF_TYPE];
	for (size_t i = 0; i < BLOCK; i++)
		sum += (i >= 148 && i < 156) ? ' ' : h[i];
	gnu = memcmp(h + OFF_MAGIC, "ustar  \0", 8) == 0;
	if (octal_field(h, F_CHKSUM, &want) || want != sum ||
	    (!gnu && memcmp(h + OFF_MAGIC, "ustar\0" "00", 8) != 0)) {
		if (at == 0)
			return bento_error_set(err, BENTO_E_INVALID,
					       "%s: not a tar archive (no ustar header at the start)",
					       r->name);
		return corrupt(r, err, "%s at byte %llu",
			       want != sum ? "bad header checksum" : "no ustar magic in the header",
			       (unsigned long long)at);
	}
	/* The name, for messages, before anything else can be refused. */
	memcpy(name, h, 100);
	name[100] = '\0';
	if (gnu) {
		tn = type_name(o->type);
		return refuse(r, name, err, "%s",
			      tn && o->type != '\0' && o->type > '9' ? tn
			      : "GNU tar format header (bento reads POSIX ustar and pax)");
	}
	if (string_field(h, F_NAME, name) || string_field(h, F_PREFIX, prefix))
		return corrupt(r, err, "name field with bytes after its end at byte %llu",
			       (unsigned long long)at);
	if (*prefix)
		snprintf(o->path, sizeof(o->path), "%s/%s", prefix, name);
	else
		snprintf(o->path, sizeof(o->path), "%s", name);
	if (o->type != '0' && o->type != '5' && o->type != 'x') {
		tn = type_name(o->type);
		if (tn)
			return refuse(r, o->path, err, "%s", tn);
		if (o->type >= 'A' && o->type <= 'Z')
			return refuse(r, o->path, err, "vendor extension header (type %c)", o->type);
		return refuse(r, o->path, err, "unknown entry type 0x%02x", o->type);
	}
	if (octal_field(h, F_MODE, &o->mode) || octal_field(h, F_UID, &o->uid) ||
	    octal_field(h, F_GID, &o->gid))
		return corrupt(r, err, "mode, uid or gid is not an octal number at byte %llu",
			       (unsigned long long)at);
	if (octal_field(h, F_SIZE, &o->size)) {
		if (o->type == 'x' || base256_field(h, F_SIZE, &o->size))
			return corrupt(r, err, "size is not an octal number at byte %llu",
				       (unsigned long long)at);
		o->size_b256 = true;
	}
	if (octal_field(h, F_MTIME, &o->mtime)) {
		if (base256_field(h, F_MTIME, &o->mtime))
			return corrupt(r, err, "mtime is not an octal number at byte %llu",
				       (unsigned long long)at);
		o->mtime_b256 = true;
	}
	if (dev_field(h, F_DEVMAJOR) || dev_field(h, F_DEVMINOR))
		return corrupt(r, err, "device numbers in a %s header at byte %llu",
			       o->type == 'x' ? "pax" : "file", (unsigned long long)at);
	if (string_field(h, F_LINKNAME, scratch) || *scratch)
		return refuse(r, o->path, err, "link target on a %s",
			      o->type == '5' ? "directory" : "file");
	if (string_field(h, F_UNAME, scratch) || (o->type != 'x' && *scratch) ||
	    string_field(h, F_GNAME, scratch) || (o->type != 'x' && *scratch))
		return refuse(r, o->path, err, "owner name (uname and gname must be empty)");
	if (!all_zero(h + F_PAD))
		return corrupt(r, err, "bytes after the prefix field at byte %llu",
			       (unsigned long long)at);
	return 0;
}

/* ---- pax extended headers ---- */

/*
 * The record at *p ("LEN KEY=VALUE\n", LEN decimal and counting the whole
 * record): key and value as views, *p moved past it.  -1 if malformed.
 */
static int pax_record(const char **p, const char *end, struct bento_view *key,
		      struct bento_view *val)
{
	const char *s = *p, *eq;
	size_t len = 0, i = 0;

	while (s + i < end && s[i] >= '0' && s[i] <= '9' && i < 6)
		len = len * 10 + (size_t)(s[i++] - '0');
	if (i == 0 || (s[0] == '0') || s + i >= end || s[i] != ' ' || len > (size_t)(end - s) ||
	    len < i + 3 || s[len - 1] != '\n')
		return -1;
	key->ptr = s + i + 1;
	eq = memchr(key->ptr, '=', (size_t)(s + len - 1 - key->ptr));
	if (!eq || eq == key->ptr)
		return -1;
	key->len = (size_t)(eq - key->ptr);
	val->ptr = eq + 1;
	val->len = (size_t)(s + len - 1 - val->ptr);
	*p = s + len;
	return 0;
}

static bool view_is(const struct bento_view *v, const char *s)
{
	return v->len == strlen(s) && memcmp(v->ptr, s, v->len) == 0;
}

/* A pax number as bento writes one: decimal digits, no sign, no leading zero, no fraction. */
static int pax_number(const struct bento_view *v, uint64_t *out)
{
	uint64_t n = 0;

	if (v->len == 0 || v->len > 18 || (v->ptr[0] == '0' && v->len > 1))
		return -1;
	for (size_t i = 0; i < v->len; i++) {
		if (v->ptr[i] < '0' || v->ptr[i] > '9')
			return -1;
		n = n * 10 + (uint64_t)(v->ptr[i] - '0');
	}
	*out = n;
	return 0;
}


/* The n padding bytes after some data (what): read, and zero. */
static int read_padding(struct bento_archive_reader *r, size_t n, const char *what,
			struct bento_error *err)
{
	unsigned char pad[BLOCK];
	size_t got;
	int rc;

	if ((rc = stream_exact(r, pad, n, &got, err)))
		return rc;
	if (got < n)
		return corrupt(r, err, "the archive ends inside the padding after %s", what);
	if (!all_zero(pad, n))
		return corrupt(r, err, "non-zero padding after %s", what);
	return 0;
}

/* A pax key bento does not read, and why not. */
static int refuse_key(struct bento_archive_reader *r, const char *who,
		      const struct bento_view *key, struct bento_error *err)
{
	char k[65], show[BENTO_TAR_SHOW_BUFSZ];

	snprintf(k, sizeof(k), "%.*s", (int)(key->len < 64 ? key->len : 64), key->ptr);
	bento_tar_show(k, show);
	if (strncmp(k, "GNU.sparse.", 11) == 0)
		return refuse(r, who, err, "sparse file (pax record %s)", show);
	if (strcmp(k, "linkpath") == 0)
		return refuse(r, who, err, "link target (pax record linkpath)");
	return refuse(r, who, err, "pax record '%s%s' (bento reads only path, size and mtime)",
		      show, key->len > 64 ? "..." : "");
}

/*
 * Read and check the data of extended header h into x.  The records bento
 * reads are path, size and mtime, each at most once; every other key, and
 * an empty value (which would unset a field), is refused, so that what tar,
 * bsdtar and Python take from the header is what bento took.
 */
static int read_pax(struct bento_archive_reader *r, const struct hdr *h, struct pax *x,
		    struct bento_error *err)
{
	struct bento_buf *b = &r->pax;
	struct bento_view key, val, sparse;
	const char *p, *end, *who;
	char what[64];
	size_t got;
	int rc;

	memset(x, 0, sizeof(*x));
	x->present = true;
	x->at = h->at;
	snprintf(x->hname, sizeof(x->hname), "%s", h->path);
	if (h->size > PAX_MAX)
		return refuse(r, h->path, err, "pax header of %llu bytes (at most %d)",
			      (unsigned long long)h->size, PAX_MAX);
	bento_buf_reset(b);
	bento_buf_grow(b, (size_t)h->size);
	if ((rc = stream_exact(r, b->buf, (size_t)h->size, &got, err)))
		return rc;
	bento_buf_setlen(b, got);
	snprintf(what, sizeof(what), "the pax header at byte %llu", (unsigned long long)h->at);
	if (got < h->size)
		return corrupt(r, err, "the archive ends inside %s", what);
	if ((rc = read_padding(r, (size_t)(-h->size & (BLOCK - 1)), what, err)))
		return rc;
	end = b->buf + b->len;
	/*
	 * First the syntax, the path, which names the entry in messages, and
	 * whether this is a sparse file, which says the most about why it is
	 * refused.
	 */
	bento_buf_reset(&r->paxpath);
	sparse.ptr = NULL;
	for (p = b->buf; p < end;) {
		if (pax_record(&p, end, &key, &val))
			return corrupt(r, err, "malformed record in %s", what);
		if (view_is(&key, "path") && !r->paxpath.len)
			bento_buf_add(&r->paxpath, val.ptr, val.len);
		if (!sparse.ptr && key.len > 11 && memcmp(key.ptr, "GNU.sparse.", 11) == 0)
			sparse = key;
	}
	who = r->paxpath.len && !memchr(r->paxpath.buf, '\0', r->paxpath.len) ? r->paxpath.buf
									      : x->hname;
	if (sparse.ptr)
		return refuse_key(r, who, &sparse, err);
	for (p = b->buf; p < end;) {
		bool is_path, *seen;

		pax_record(&p, end, &key, &val);
		is_path = view_is(&key, "path");
		seen = is_path ? &x->has_path : view_is(&key, "size") ? &x->has_size
			       : view_is(&key, "mtime") ? &x->has_mtime : NULL;
		if (!seen)
			return refuse_key(r, who, &key, err);
		if (*seen)
			return refuse(r, who, err, "pax record '%.*s' given twice", (int)key.len,
				      key.ptr);
		*seen = true;
		if (is_path) {
			if (val.len == 0 || memchr(val.ptr, '\0', val.len))
				return refuse(r, who, err, "empty pax path, or one with a NUL byte");
		} else if (pax_number(&val, view_is(&key, "size") ? &x->size : &x->mtime)) {
			char v[40], show[BENTO_TAR_SHOW_BUFSZ];
			snprintf(v, sizeof(v), "%.*s", (int)(val.len < 32 ? val.len : 32), val.ptr);
			return refuse(r, who, err,
				      "pax record '%.*s' is not a plain decimal number: '%s'",
				      (int)key.len, key.ptr, bento_tar_show(v, show));
		}
	}
	return 0;
}

/* Could a ustar header's name and prefix hold path (ASCII, and a split that fits)? */
static bool ustar_fits(const char *path)
{
	size_t n = strlen(path);

	for (const unsigned char *u = (const unsigned char *)path; *u; u++)
		if (*u >= 0x80)
			return false;
	if (n <= 100)
		return true;
	for (size_t i = 0; i < n && i <= 155; i++)
		if (path[i] == '/' && n - i - 1 > 0 && n - i - 1 <= 100)
			return true;
	return false;
}

/*
 * A pax number against its ustar field: the record is allowed when it says
 * the same, or when the field cannot hold the value (then the field, octal
 * or GNU base-256, is not used: libarchive writes the value in base-256,
 * Python writes 0).  Without the record the field must be octal.
 */
static const char *pax_vs_ustar(bool has, uint64_t pax, uint64_t ustar, bool b256)
{
	if (!has)
		return b256 ? "a base-256 number in the header without its pax record" : NULL;
	if (pax >= OCTAL11_LIMIT || (pax == ustar && !b256))
		return NULL;
	return "a pax record that differs from the header field it replaces";
}

/* The entry header h (type 0 or 5) with the extended header x before it: check, fill e. */
static int take_entry(struct bento_archive_reader *r, const struct hdr *h, const struct pax *x,
		      struct bento_archive_entry *e, struct bento_error *err)
{
	bool is_dir = h->type == '5';
	const char *raw = h->path, *why;
	uint64_t size = x->has_size ? x->size : h->size;
	char show[BENTO_TAR_SHOW_BUFSZ];

	if (x->has_path) {
		raw = r->paxpath.buf;
		if (strcmp(raw, h->path) != 0 && ustar_fits(raw))
			return refuse(r, raw, err,
				      "pax path differs from the header's name '%s', which could hold it",
				      bento_tar_show(h->path, show));
	} else if (!ustar_fits(raw)) {
		return refuse(r, raw, err, "non-ASCII name in a ustar header (without a pax path)");
	}
	if ((why = pax_vs_ustar(x->has_size, x->size, h->size, h->size_b256)))
		return refuse(r, raw, err, "size: %s", why);
	if ((why = pax_vs_ustar(x->has_mtime, x->mtime, h->mtime, h->mtime_b256)))
		return refuse(r, raw, err, "mtime: %s", why);
	/* Normalise: one leading "./", a directory's trailing '/'. */
	bento_buf_reset(&r->path);
	bento_buf_adds(&r->path, strncmp(raw, "./", 2) == 0 && raw[2] ? raw + 2 : raw);
	if (is_dir && r->path.len > 1 && r->path.buf[r->path.len - 1] == '/')
		bento_buf_setlen(&r->path, r->path.len - 1);
	if ((why = bento_tar_path_problem(r->path.buf)))
		return refuse(r, raw, err, "%s", why);
	if (size > BENTO_TAR_ENTRY_MAX)
		return refuse(r, raw, err, "size %llu is over the limit of 2^48 bytes",
			      (unsigned long long)size);
	if (is_dir && size)
		return refuse(r, raw, err, "directory with data (%llu bytes)",
			      (unsigned long long)size);
	if (is_dir ? h->mode != 0755 : h->mode != 0644 && h->mode != 0755)
		return refuse(r, raw, err, "mode %04llo (%s)", (unsigned long long)h->mode,
			      is_dir ? "a directory is 0755" : "a file is 0644 or 0755");
	if (h->uid || h->gid)
		return refuse(r, raw, err, "owner %llu:%llu (must be 0:0)",
			      (unsigned long long)h->uid, (unsigned long long)h->gid);
	if ((why = bento_tar_paths_add(&r->seen, r->path.buf, is_dir)))
		return refuse(r, r->path.buf, err, "%s", why);
	e->path = r->path.buf;
	e->type = is_dir ? BENTO_ENTRY_DIR : BENTO_ENTRY_FILE;
	e->mode = (unsigned)h->mode;
	e->size = size;
	return 0;
}

/*
 * The first zero block was at at: the second must follow, then nothing but
 * zero padding (a tar writer's record, bounded by TRAILER_MAX) to the end of
 * the stream, whose compression trailer is read and checked.  No more than
 * TRAILER_MAX raw bytes past the marker are read either, so a stream of
 * gigabytes of compressed zeros or of zstd skippable frames is not
 * decompressed to its end.
 */
static int end_of_archive(struct bento_archive_reader *r, uint64_t at, struct bento_error *err)
{
	unsigned char blk[BLOCK];
	uint64_t trail = 0;
	size_t got;
	int rc;

	if ((rc = stream_exact(r, blk, BLOCK, &got, err)))
		return rc;
	if (got < BLOCK)
		return corrupt(r, err,
			       "missing end-of-archive marker (one zero block of two, at byte %llu)",
			       (unsigned long long)at);
	if (!all_zero(blk, BLOCK))
		return bento_error_set(err, BENTO_E_VERIFY,
				       "%s: a lone zero block at byte %llu, followed by more data "
				       "(the end-of-archive marker is two zero blocks)",
				       r->name, (unsigned long long)at);
	if (!r->scratch)
		r->scratch = bento_xmalloc(SCRATCH_SZ);
	r->in_limit = r->bytes_in - r->iavail + TRAILER_MAX;
	for (;;) {
		ssize_t k = stream_some(r, r->scratch, SCRATCH_SZ, err);
		size_t nz = 0;

		if (k <= 0)
			return (int)k;
		while (nz < (size_t)k && !r->scratch[nz])
			nz++;
		if (nz < (size_t)k)
			return bento_error_set(err, BENTO_E_VERIFY,
					       "%s: data after the end-of-archive marker (at byte %llu)",
					       r->name, (unsigned long long)(r->off - (uint64_t)k + nz));
		trail += (uint64_t)k;
		if (trail > TRAILER_MAX)
			return bento_error_set(err, BENTO_E_VERIFY,
					       "%s: more than %llu bytes after the end-of-archive marker",
					       r->name, (unsigned long long)TRAILER_MAX);
	}
}

/* Skip what is left of the current entry's data, and its padding. */
static int skip_entry(struct bento_archive_reader *r, struct bento_error *err)
{
	char what[BENTO_TAR_SHOW_BUFSZ + 16], show[BENTO_TAR_SHOW_BUFSZ];

	if (r->state != RS_ENTRY)
		return 0;
	snprintf(what, sizeof(what), "the data of %s", bento_tar_show(r->path.buf, show));
	if (!r->scratch && r->left)
		r->scratch = bento_xmalloc(SCRATCH_SZ);
	while (r->left) {
		ssize_t k = stream_some(r, r->scratch,
					r->left < SCRATCH_SZ ? (size_t)r->left : SCRATCH_SZ, err);
		if (k < 0)
			return (int)k;
		if (k == 0)
			return corrupt(r, err, "the archive ends inside %s", what);
		r->left -= (uint64_t)k;
	}
	return read_padding(r, r->pad, what, err);
}

/* The next entry: 1 with e filled, 0 at the end of the archive, <0 refused. */
static int next_entry(struct bento_archive_reader *r, struct bento_archive_entry *e,
		      struct bento_error *err)
{
	unsigned char blk[BLOCK];
	struct pax x = { 0 };
	struct hdr h;
	int rc;

	for (;;) {
		uint64_t at = r->off;
		size_t got;

		if ((rc = stream_exact(r, blk, BLOCK, &got, err)))
			return rc;
		if (got < BLOCK && at == 0)
			return bento_error_set(err, BENTO_E_INVALID,
					       "%s: not a tar archive (%zu bytes, less than one header)",
					       r->name, got);
		if (got < BLOCK && x.present)
			return corrupt(r, err, "the archive ends after the pax header at byte %llu",
				       (unsigned long long)x.at);
		if (got == 0)
			return corrupt(r, err, "missing end-of-archive marker (the archive ends at byte %llu)",
				       (unsigned long long)at);
		if (got < BLOCK)
			return corrupt(r, err, "the archive ends inside the header at byte %llu",
				       (unsigned long long)at);
		if (all_zero(blk, BLOCK)) {
			if (x.present)
				return refuse(r, x.hname, err, "pax header not followed by an entry");
			if ((rc = end_of_archive(r, at, err)))
				return rc;
			r->state = RS_END;
			return 0;
		}
		if ((rc = parse_header(r, blk, at, &h, err)))
			return rc;
		if (h.type != 'x')
			break;
		if (x.present)
			return refuse(r, h.path, err, "two pax headers in a row (at bytes %llu and %llu)",
				      (unsigned long long)x.at, (unsigned long long)at);
		if ((rc = read_pax(r, &h, &x, err)))
			return rc;
	}
	if ((rc = take_entry(r, &h, &x, e, err)))
		return rc;
	r->state = e->type == BENTO_ENTRY_FILE ? RS_ENTRY : RS_BETWEEN;
	r->left = e->size;
	r->pad = (size_t)(-e->size & (BLOCK - 1));
	return 1;
}

int bento_archive_next(struct bento_archive_reader *r, struct bento_archive_entry *e,
		       struct bento_error *err)
{
	struct bento_error local;
	int rc;

	if (!err)
		err = &local;
	if (r->state == RS_FAILED) {
		*err = r->fail_err;
		return r->fail_rc;
	}
	if (r->state == RS_END)
		return 0;
	if ((rc = skip_entry(r, err)) == 0)
		rc = next_entry(r, e, err);
	return rc < 0 ? reader_fail(r, rc, err) : rc;
}

ssize_t bento_archive_read(struct bento_archive_reader *r, void *buf, size_t n,
			   struct bento_error *err)
{
	struct bento_error local;
	ssize_t k;

	if (!err)
		err = &local;
	if (r->state == RS_FAILED) {
		*err = r->fail_err;
		return r->fail_rc;
	}
	if (r->state != RS_ENTRY || n == 0 || r->left == 0)
		return 0;
	if (n > r->left)
		n = (size_t)r->left;
	if (n > SSIZE_MAX)
		n = SSIZE_MAX;
	k = stream_some(r, buf, n, err);
	if (k == 0) {
		char show[BENTO_TAR_SHOW_BUFSZ];
		k = corrupt(r, err, "the archive ends inside the data of %s (%llu bytes missing)",
			    bento_tar_show(r->path.buf, show), (unsigned long long)r->left);
	}
	if (k < 0)
		return reader_fail(r, (int)k, err);
	r->left -= (uint64_t)k;
	return k;
}

/* ---- opening ---- */

static ssize_t fd_read(void *ctx, void *buf, size_t n)
{
	struct bento_archive_reader *r = ctx;

	return bento_read_fd(r->fd, buf, n);
}

static int reader_open(ssize_t (*read)(void *ctx, void *buf, size_t n), void *ctx, int fd,
		       const char *name, struct bento_archive_reader **out,
		       struct bento_error *err)
{
	struct bento_archive_reader *r = bento_xcalloc(1, sizeof(*r));
	int rc;

	r->read = read;
	r->ctx = read == fd_read ? r : ctx;
	r->fd = fd;
	r->name = bento_xstrdup(name ? name : "archive");
	bento_buf_init(&r->path);
	bento_buf_init(&r->pax);
	bento_buf_init(&r->paxpath);
	r->in = bento_xmalloc(IO_BUFSZ);
	/* Sniff the compression from the magic bytes (a pipe may give fewer). */
	while (r->iavail < 4) {
		ssize_t k = r->read(r->ctx, r->in + r->iavail, IO_BUFSZ - r->iavail);
		if (k < 0) {
			rc = bento_error_errno(err, (int)-k, "%s: read", r->name);
			goto fail;
		}
		if (k == 0) {
			r->in_eof = true;
			break;
		}
		r->iavail += (size_t)k;
		r->bytes_in += (uint64_t)k;
	}
	r->ip = r->in;
	if (r->iavail == 0) {
		rc = bento_error_set(err, BENTO_E_INVALID, "%s: not a tar archive (empty input)",
				     r->name);
		goto fail;
	}
	if (r->iavail >= 2 && r->in[0] == 0x1f && r->in[1] == 0x8b) {
		r->comp = BENTO_COMP_GZIP;
		if (inflateInit2(&r->z, 15 + 16) != Z_OK)
			abort();
		r->z_init = true;
	} else if (r->iavail >= 4 && r->in[0] == 0x28 && r->in[1] == 0xb5 &&
		   r->in[2] == 0x2f && r->in[3] == 0xfd) {
		r->comp = BENTO_COMP_ZSTD;
		r->zd = ZSTD_createDStream();
		if (!r->zd || ZSTD_isError(ZSTD_initDStream(r->zd)))
			abort();
		r->zd_hint = 1;
	}
	*out = r;
	return 0;
fail:
	bento_archive_reader_free(r);
	return rc;
}

int bento_archive_reader_open(int fd, const char *name,
			      struct bento_archive_reader **out, struct bento_error *err)
{
	return reader_open(fd_read, NULL, fd, name, out, err);
}

int bento_archive_reader_open_cb(ssize_t (*read)(void *ctx, void *buf, size_t n), void *ctx,
				 const char *name, struct bento_archive_reader **out,
				 struct bento_error *err)
{
	if (!read)
		return bento_error_set(err, BENTO_E_USAGE, "archive: no read callback");
	return reader_open(read, ctx, -1, name, out, err);
}

uint64_t bento_archive_bytes_in(struct bento_archive_reader *r)
{
	return r->bytes_in;
}

void bento_archive_reader_free(struct bento_archive_reader *r)
{
	if (!r)
		return;
	if (r->z_init)
		inflateEnd(&r->z);
	ZSTD_freeDStream(r->zd);
	bento_tar_paths_release(&r->seen);
	bento_buf_release(&r->path);
	bento_buf_release(&r->pax);
	bento_buf_release(&r->paxpath);
	free(r->scratch);
	free(r->in);
	free(r->name);
	free(r);
}
