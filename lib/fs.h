/*
 * fs.h - the file system: reading files whose contents and kind are not
 * ours to trust, durable atomic writes, mkdir -p, directory listings, and
 * the CPU count and thread pool that spread file work over the cores.
 *
 * The readers are for key files, trusted/ directories, policy.yaml,
 * docker's config.json, lockfiles, oci: layouts, the shim's bento.json and
 * key.  A path may name a FIFO (an open would block forever), a device or
 * a directory; these helpers open with O_NONBLOCK and O_NOCTTY, check the
 * file type on the descriptor they opened (no stat-then-open race), and
 * refuse anything but a regular file with a message that names the path
 * and what it is.
 */
#ifndef BENTO_FS_H
#define BENTO_FS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "buf.h"
#include "error.h"

/*
 * Open path read-only (O_CLOEXEC), as a regular file: *fd (blocking again)
 * and *size (its st_size) on success.  -ENOENT (err set, exit code 4) when
 * missing, other -errno from open/fstat, -BENTO_E_INVALID "PATH: not a
 * regular file (a FIFO)" for anything else.  size may be NULL.
 */
int bento_open_regular(const char *path, int *fd, uint64_t *size, struct bento_error *err);

/*
 * Read the whole regular file path, of at most max bytes, into out
 * (replacing what it held; NUL-terminated as every bento_buf).  Errors as
 * bento_open_regular, and -BENTO_E_INVALID "PATH: larger than MAX bytes"
 * (checked while reading too, so a file that grows is caught).
 */
int bento_read_file(const char *path, size_t max, struct bento_buf *out, struct bento_error *err);

/*
 * Who may have written (or read) a file bento is about to trust: the
 * checks of bento_perm_check(), OR-ed.  Modelled on ssh's StrictModes and
 * its "UNPROTECTED PRIVATE KEY FILE" refusal.
 */
enum {
	BENTO_PERM_PRIVATE = 1,		/* no permission bit for group or others (mode & 077) */
	BENTO_PERM_NOT_WRITABLE = 2,	/* not writable by group or others (mode & 022) */
	BENTO_PERM_OWNED = 4,		/* owned by the effective user or by root */
};

/*
 * -BENTO_E_UNSAFE unless st (of path, named in the message) passes the
 * checks in perm: "PATH: permissions 0644 are too open: group or others
 * may read or write it; run chmod 600 PATH", "...: group or others may
 * write it; run chmod go-w PATH", "PATH: owned by uid 1001, not by you
 * (uid 1000) or root".  perm 0 checks nothing.
 */
int bento_perm_check(const char *path, const struct stat *st, unsigned perm,
		     struct bento_error *err);

/* bento_open_regular(), and bento_perm_check() on what was opened (no race). */
int bento_open_checked(const char *path, unsigned perm, int *fd, uint64_t *size,
		       struct bento_error *err);

/* bento_read_file(), with bento_perm_check() on the descriptor it read. */
int bento_read_file_checked(const char *path, size_t max, unsigned perm, struct bento_buf *out,
			    struct bento_error *err);

/*
 * Durable, atomic file writes: the one way bento replaces or creates a
 * file others read (history.head, the layout's index.json and blobs, an
 * exported archive, docker's config.json, trusted keys, key pairs, the
 * store's blobs).  The bytes go to a fresh temporary file (O_EXCL, a random
 * name: a FIFO or link planted there is never opened) in path's directory,
 * or in tmpdir on the same file system; commit fsyncs it, renames it to
 * path and fsyncs path's directory.  A reader sees the old file or the
 * whole new one; after a crash, one of the two.
 */
struct bento_atomic {
	int fd;			/* write here; -1 once committed or aborted */
	char *tmp;		/* the temporary file */
	char *path;		/* where it lands; may be replaced (freed, a new string
				 * in the same directory) before commit: a file named by
				 * its digest, known once written */
};

enum {
	/* An existing path is not replaced: commit fails with -EEXIST (err set,
	 * BENTO_E_EXISTS) and removes the temporary file. */
	BENTO_ATOMIC_NOREPLACE = 1,
	/* No fsync of the file or the directory: the caller makes a whole
	 * batch durable at once (bento_sync_fs) before anything refers to it. */
	BENTO_ATOMIC_BATCH = 2,
};

/*
 * Create the temporary file for path (in tmpdir when not NULL) with the
 * given mode (umask not applied).  Errors: -errno, "PATH: cannot create a
 * temporary file in DIR".
 */
int bento_atomic_open(struct bento_atomic *a, const char *path, const char *tmpdir, mode_t mode,
		      struct bento_error *err);

/* Write all of p..p+n to the temporary file; on failure it is removed (aborted). */
int bento_atomic_write(struct bento_atomic *a, const void *p, size_t n, struct bento_error *err);

/* Land the file (see above); on failure the temporary file is removed. */
int bento_atomic_commit(struct bento_atomic *a, unsigned flags, struct bento_error *err);

/* Drop the temporary file; a no-op after commit, safe to call twice. */
void bento_atomic_abort(struct bento_atomic *a);

/* The whole of p..p+n as path, in one call. */
int bento_write_file_atomic(const char *path, const void *p, size_t n, mode_t mode,
			    unsigned flags, struct bento_error *err);

/*
 * Everything written so far on the file system of the directory path
 * reaches the disk: one syncfs(2) for a batch of BENTO_ATOMIC_BATCH
 * writes (their data and their renames).  Errors "WHAT: syncfs PATH".
 */
int bento_syncfs(const char *path, const char *what, struct bento_error *err);

/*
 * For a file being written in order: once [*kicked, end) has grown to
 * BENTO_WRITEBACK_CHUNK, hands it to writeback (sync_file_range, without
 * waiting) and moves *kicked to end.  The disk then writes while the
 * file is made, and the fsync or syncfs that makes it durable waits for
 * the last few MiB, not the whole file.  Advisory: a failure shows at that
 * fsync; nothing on a pipe.
 */
#define BENTO_WRITEBACK_CHUNK (8u << 20)
void bento_writeback(int fd, uint64_t *kicked, uint64_t end);

/* rename(2) that never replaces: -EEXIST when to exists; other -errno. */
int bento_rename_noreplace(const char *from, const char *to);

/* fsync a directory (a rename or a new entry in it); -errno. */
int bento_fsync_dir(const char *path);

/* fsync the directory holding path. */
int bento_fsync_parent(const char *path);

/* "a FIFO", "a directory", ... for st_mode, for messages. */
const char *bento_file_kind(unsigned mode);

/* read(2) retrying EINTR: the count, 0 at the end, or -errno. */
ssize_t bento_read_fd(int fd, void *p, size_t n);

/* write(2) until all n bytes are written, retrying EINTR; 0 or -errno. */
int bento_write_all(int fd, const void *p, size_t n);

/*
 * mkdir -p: create path and its missing parents (mode for the last one,
 * 0755 for parents).  An existing directory is fine; an existing
 * non-directory is an error.  Returns 0 or -errno / -BENTO_E_FAIL with err
 * naming the directory.
 */
int bento_mkdir_p(const char *path, unsigned mode, struct bento_error *err);

/*
 * The entries of dir whose names end in suffix (and are longer than it),
 * sorted bytewise so that whatever is done with them is reproducible;
 * "dir/NAME" when full, else NAME.  0, or -errno from opendir (-ENOENT for
 * a missing dir).  Free with bento_strv_free.
 */
int bento_dir_list(const char *dir, const char *suffix, int full, char ***out, size_t *n);
void bento_strv_free(char **v, size_t n);	/* NULL ok */

/* ${XDG_CONFIG_HOME:-$HOME/.config}/REL, a new string. */
char *bento_xdg_config_path(const char *rel);

/* Online CPUs, at least 1, at most max (0: no cap). */
size_t bento_cpus(size_t max);
/*
 * Run fn(arg) on n threads (the caller's among them, at most
 * BENTO_PARALLEL_MAX) and return when all have returned.  The workers share
 * arg and take work from it themselves (an atomic index).
 */
#define BENTO_PARALLEL_MAX 64
void bento_parallel(void *(*fn)(void *), void *arg, size_t n);

#endif
