/*
 * archive.h - deterministic tar streams (libarchive, pax restricted) and a
 * defensive reader.  The .bento format is specified in man/bento-archive.5.
 *
 * Writer: every header is normalised (mtime given once for the archive, uid
 * and gid 0, empty user/group names, mode 0644 or 0755, no atime/ctime/xattrs/
 * ACLs, no sparse entries).  Entries are written in the order the caller gives;
 * the caller sorts.  Regular files, and directories (mode 0755) when asked
 * for with bento_archive_write_dir.
 *
 * Reader (archive_read.c): bento's own ustar/pax parser, which accepts
 * exactly the subset bento-archive(5) specifies under "Accepted headers"
 * (types 0 and 5, modes 0644/0755, owner 0, one pax header of path, size
 * and mtime records before an entry), so that every archive it accepts
 * reads the same with GNU tar, bsdtar and Python's tarfile.  Auto-detects
 * none/gzip/zstd.  Refuses with -BENTO_E_UNSAFE and a message naming the
 * entry: any other header (pax global headers, GNU long names, sparse files,
 * links, devices, unknown types, other pax records), absolute paths, "..",
 * "." or empty components, backslashes, control characters, over-long
 * paths and duplicate entries.  A truncated or corrupt stream, a malformed
 * header, or data after the end-of-archive marker (more than 1 MiB of zero
 * padding, or anything not zero) is -BENTO_E_VERIFY; input that is not a
 * tar archive at all is -BENTO_E_INVALID.
 */
#ifndef BENTO_ARCHIVE_H
#define BENTO_ARCHIVE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"

enum bento_compression {
	BENTO_COMP_NONE,
	BENTO_COMP_GZIP,
	BENTO_COMP_ZSTD,
};

/* "none", "gzip", "zstd" -> enum; -BENTO_E_USAGE for anything else. */
int bento_compression_parse(const char *s, enum bento_compression *out, struct bento_error *err);

struct bento_archive_writer;

/*
 * Start an archive written to fd (not closed by the writer).  mtime is the
 * modification time every entry gets (seconds since the epoch, >= 0).
 * gzip output is deterministic (no name, no timestamp in the gzip header).
 */
int bento_archive_writer_open(int fd, enum bento_compression comp, int64_t mtime,
			      struct bento_archive_writer **out, struct bento_error *err);
/*
 * The same, handing the output to write(ctx, p, n) (returns 0 or -errno;
 * a failure makes the writer unusable and is reported as that errno).
 * Uncompressed, every piece goes to write as libarchive produces it: the
 * headers of an entry arrive during bento_archive_write_header (so a
 * caller can capture exactly the header bytes of an entry), data during
 * the data calls, the end-of-archive marker at close.  The fd writer above
 * is this writer with a gathering write(2) callback.
 */
int bento_archive_writer_open_cb(int (*write)(void *ctx, const void *p, size_t n), void *ctx,
				 enum bento_compression comp, int64_t mtime,
				 struct bento_archive_writer **out, struct bento_error *err);
/* Write a directory entry (mode 0755, no data); path without a trailing '/'. */
int bento_archive_write_dir(struct bento_archive_writer *w, const char *path,
			    struct bento_error *err);
/*
 * Start a regular file of exactly size bytes whose data follows through
 * bento_archive_write_data (any piece sizes).  Starting another entry or
 * closing before size bytes were given is -BENTO_E_USAGE; so is more data
 * than size.  bento_archive_writer_free on a writer with an unfinished
 * entry writes nothing more.
 */
int bento_archive_write_header(struct bento_archive_writer *w, const char *path,
			       unsigned mode, uint64_t size, struct bento_error *err);
int bento_archive_write_data(struct bento_archive_writer *w, const void *p, size_t n,
			     struct bento_error *err);
/* Write one regular file from memory. mode: only 0100 matters (0755 else 0644). */
int bento_archive_write_bytes(struct bento_archive_writer *w, const char *path,
			      unsigned mode, const void *data, size_t len,
			      struct bento_error *err);
/*
 * Write one regular file of exactly size bytes read from fd (from its current
 * offset).  A file that ends early or has more bytes is an error naming path.
 */
int bento_archive_write_fd(struct bento_archive_writer *w, const char *path,
			   unsigned mode, int fd, uint64_t size,
			   struct bento_error *err);
/* Finish the stream (trailer, compression flush). */
int bento_archive_writer_close(struct bento_archive_writer *w, struct bento_error *err);
void bento_archive_writer_free(struct bento_archive_writer *w);	/* NULL ok */

struct bento_archive_reader;

enum bento_entry_type {
	BENTO_ENTRY_FILE,
	BENTO_ENTRY_DIR,
};

struct bento_archive_entry {
	const char *path;	/* normalised: no leading "./", no trailing '/'; valid until next */
	enum bento_entry_type type;
	unsigned mode;		/* 0644 or 0755 (the reader refuses others) */
	uint64_t size;		/* 0 for directories */
};

/* Read an archive from fd (not closed).  name is used in messages. */
int bento_archive_reader_open(int fd, const char *name,
			      struct bento_archive_reader **out, struct bento_error *err);
/*
 * The same, reading through read(ctx, buf, n): fills up to n bytes and
 * returns the count, 0 at the end of the input, or -errno.  It is called
 * from within bento_archive_reader_open (to sniff the compression),
 * bento_archive_next and bento_archive_read.
 */
int bento_archive_reader_open_cb(ssize_t (*read)(void *ctx, void *buf, size_t n), void *ctx,
				 const char *name, struct bento_archive_reader **out,
				 struct bento_error *err);
/*
 * Advance to the next entry: 1 with *e filled, 0 at the end of the archive,
 * <0 on error.  Data not read from the previous entry is skipped.
 */
int bento_archive_next(struct bento_archive_reader *r, struct bento_archive_entry *e,
		       struct bento_error *err);
/* Read up to n bytes of the current entry: >0 bytes, 0 at its end, <0 error. */
ssize_t bento_archive_read(struct bento_archive_reader *r, void *buf, size_t n,
			   struct bento_error *err);
/* Compressed bytes consumed so far (for progress and ratio checks). */
uint64_t bento_archive_bytes_in(struct bento_archive_reader *r);
void bento_archive_reader_free(struct bento_archive_reader *r);	/* NULL ok */

#endif
