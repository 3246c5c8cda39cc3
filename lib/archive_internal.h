/*
 * archive_internal.h - what lib/archive.c (the writer) and
 * lib/archive_read.c (the reader) share: the rules for entry paths, how a
 * hostile path is shown in a message, and the set of paths an archive has
 * named so far.  Not part of the public API.
 */
#ifndef BENTO_ARCHIVE_INTERNAL_H
#define BENTO_ARCHIVE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum {
	BENTO_TAR_PATH_MAX = 4096,	/* bytes in an entry path */
	BENTO_TAR_NAME_MAX = 255,	/* bytes in one component */
};

/* Larger than any real file, small enough that no arithmetic overflows. */
#define BENTO_TAR_ENTRY_MAX ((uint64_t)1 << 48)

/*
 * NULL if path (already normalised: no leading "./", no trailing '/') is
 * safe to create under a directory, else why not (a static string).
 */
const char *bento_tar_path_problem(const char *path);

/*
 * A path as shown in a message: a hostile one may be megabytes long or hold
 * terminal escapes, so it is cut at BENTO_TAR_SHOW_MAX bytes and control
 * characters (C0, DEL, C1, and any byte of a non-UTF-8 name) and
 * backslashes are escaped.  Returns out.
 */
enum { BENTO_TAR_SHOW_MAX = 256, BENTO_TAR_SHOW_BUFSZ = BENTO_TAR_SHOW_MAX * 4 + 8 };
const char *bento_tar_show(const char *path, char out[BENTO_TAR_SHOW_BUFSZ]);

/* The paths an archive has named, with their parents (open addressing). */
struct bento_tar_paths {
	char **keys;
	unsigned char *kind;
	size_t n, cap;
};

/*
 * Record path as a file or directory; NULL if that is consistent with what
 * was seen before, else why not ("duplicate entry", "path is both a file
 * and a directory", ...).  Parents are recorded too, so "a" then "a/b" (a
 * file used as a directory) is caught in either order.
 */
const char *bento_tar_paths_add(struct bento_tar_paths *s, const char *path, bool is_dir);
void bento_tar_paths_release(struct bento_tar_paths *s);

#endif
