/*
 * store_blob.c - the store's blobs: paths, lookups, the blob writer (and
 * its helper thread for big blobs), installing a finished blob, staging a
 * batch of them for bento_store_commit(), the stat cache, and
 * bento_blob_put_file().
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "fs.h"
#include "store.h"
#include "store_internal.h"

/* put_file read size: big enough for few syscalls, small enough to stay in L2 */
#define PUT_BUFSZ (1u << 20)
/* a small file is read in one go from the stack, a small blob held in memory */
#define SMALL_BUFSZ BENTO_BLOB_SMALL
/*
 * Blobs of at least PIPE_MIN bytes are written by a helper thread, up to
 * PIPE_SLOTS chunks behind the caller (4 MiB in flight).  PIPE_SLOTSZ is a
 * multiple of any O_DIRECT alignment.
 */
#define PIPE_MIN (16u << 20)
#define PIPE_SLOTS 4
#define PIPE_SLOTSZ (1u << 20)
#define DIRECT_ALIGN 4096u
/*
 * Space is reserved up front (statvfs, fallocate) for blobs of at least
 * RESERVE_MIN bytes: a full disk is then an error before the bytes come.
 * For small blobs the two calls would cost more than the write, and a
 * full disk fails the write just as clearly.
 */
#define RESERVE_MIN (1u << 20)
/*
 * A file whose ctime is this close to the moment we start reading it is not
 * cached: a same-size rewrite within one timestamp tick (up to 2 s on FAT,
 * 1 s on ext3) would otherwise leave a stale entry (git's "racy clean").
 */
#define RACY_NS (2LL * 1000000000LL)

struct cache_row {
	int64_t dev, ino, size, mtime_ns, ctime_ns;
	struct bento_digest digest;
};

/* rows kept before they are written: bounds the memory of a huge build */
#define CACHE_PENDING_MAX 4096

struct blob_pipe;

struct bento_blob_writer {
	struct bento_store *s;
	int fd;			/* -1 while the bytes are held in mem */
	char *tmp;		/* the staging file, or the name it will have */
	int made;		/* tmp exists */
	int mode_set;		/* tmp was made with its final mode (0444) */
	struct bento_buf mem;	/* a small blob's bytes, before its file is made */
	struct bento_hasher *h;
	uint64_t size;		/* bytes taken */
	uint64_t reserved;	/* bytes fallocated up front */
	uint64_t kicked;	/* bytes already handed to writeback */
	struct blob_pipe *pipe;	/* big blobs: the helper thread that writes */
};

/* ---- blobs ---- */

char *bento_blob_path(const struct bento_store *s, const struct bento_digest *d)
{
	char hex[BENTO_DIGEST_HEXLEN + 1];

	bento_digest_hex(d, hex);
	return bento_xasprintf("%s/%.2s/%s", s->blobdir, hex, hex + 2);
}

/* "xx/yyyy...": the blob's name relative to blobs/sha256, opened once as s->blobfd */
static void blob_rel(const struct bento_digest *d, char rel[BENTO_DIGEST_HEXLEN + 2])
{
	char hex[BENTO_DIGEST_HEXLEN + 1];

	bento_digest_hex(d, hex);
	memcpy(rel, hex, 2);
	rel[2] = '/';
	memcpy(rel + 3, hex + 2, BENTO_DIGEST_HEXLEN - 2 + 1);
}

int bento_blob_has(const struct bento_store *s, const struct bento_digest *d)
{
	char rel[BENTO_DIGEST_HEXLEN + 2];
	struct stat st;

	/* no walk of the whole path per blob */
	blob_rel(d, rel);
	return fstatat(s->blobfd, rel, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
}

int bento_blob_open(const struct bento_store *s, const struct bento_digest *d,
		    int *fd, struct bento_error *err)
{
	char rel[BENTO_DIGEST_HEXLEN + 2];
	int f, rc;

	blob_rel(d, rel);
	if ((f = openat(s->blobfd, rel, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) >= 0) {
		*fd = f;
		return 0;
	}
	int e = errno;
	char hex[BENTO_DIGEST_STRLEN], *path = bento_blob_path(s, d);
	bento_digest_str(d, hex);
	if (e == ENOENT)
		rc = bento_error_set(err, BENTO_E_NOTFOUND, "blob %s is not in the store (%s)", hex,
				     path);
	else
		rc = bento_error_errno(err, e, "blob %s: %s", hex, path);
	free(path);
	return rc;
}

/*
 * Big blobs: the caller receives or reads and hashes while a helper
 * thread writes what it has handed over, through a ring of PIPE_SLOTS
 * buffers, with O_DIRECT where the filesystem takes it: from the slot
 * straight to the disk, with no page cache pages to allocate, fill and
 * write back (the data must reach the disk before commit anyway).  Through
 * the page cache writing costs about half as much as SHA-256 itself, and
 * on a VM, where each fresh page costs the host a fault, several times
 * more; this way it costs next to nothing and hides behind the hash.
 * What reads a blob again soon (push, containerize, verify) reads it
 * from the disk, which is as fast as those need.  Every slot but the last is
 * full, so slot k starts at k * PIPE_SLOTSZ: aligned for O_DIRECT; the
 * last one's unaligned tail is written through the page cache.
 */
struct blob_pipe {
	pthread_t tid;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned char *mem;		/* PIPE_SLOTS * PIPE_SLOTSZ, aligned */
	size_t len[PIPE_SLOTS];
	size_t fill;			/* bytes in slot (filled % PIPE_SLOTS), not handed over */
	uint64_t filled, drained;	/* slots handed over / written */
	int closed;			/* nothing more comes */
	int werr;			/* -errno of a failed write (or -ECANCELED): stops both sides */
	int dfd;			/* the file opened O_DIRECT, or -1 */
};

static int pwrite_all(int fd, const unsigned char *p, size_t n, uint64_t off)
{
	while (n) {
		ssize_t k = pwrite(fd, p, n, (off_t)off);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		if (k == 0)
			return -EIO;
		p += k, n -= (size_t)k, off += (uint64_t)k;
	}
	return 0;
}

/* The helper's write of one slot at off. */
static int slot_write(struct bento_blob_writer *w, const unsigned char *p, size_t n, uint64_t off)
{
	struct blob_pipe *bp = w->pipe;
	size_t direct = bp->dfd >= 0 ? n / DIRECT_ALIGN * DIRECT_ALIGN : 0;
	int rc;

	if (direct && (rc = pwrite_all(bp->dfd, p, direct, off)) < 0) {
		if (rc != -EINVAL)
			return rc;
		/* an alignment this filesystem wants and we do not know: the page cache from here on */
		close(bp->dfd);
		bp->dfd = -1;
		direct = 0;
	}
	if ((rc = pwrite_all(w->fd, p + direct, n - direct, off + direct)) < 0)
		return rc;
	if (n > direct)
		bento_writeback(w->fd, &w->kicked, off + n);
	return 0;
}

static void *pipe_main(void *arg)
{
	struct bento_blob_writer *w = arg;
	struct blob_pipe *bp = w->pipe;

	pthread_mutex_lock(&bp->mu);
	for (;;) {
		while (bp->drained == bp->filled && !bp->closed && !bp->werr)
			pthread_cond_wait(&bp->cv, &bp->mu);
		if (bp->werr || bp->drained == bp->filled)
			break;
		size_t i = (size_t)(bp->drained % PIPE_SLOTS);
		uint64_t off = bp->drained * PIPE_SLOTSZ;
		pthread_mutex_unlock(&bp->mu);
		int rc = slot_write(w, bp->mem + i * PIPE_SLOTSZ, bp->len[i], off);
		pthread_mutex_lock(&bp->mu);
		bp->drained++;
		if (rc && !bp->werr)
			bp->werr = rc;
		pthread_cond_broadcast(&bp->cv);
	}
	pthread_mutex_unlock(&bp->mu);
	return NULL;
}

static void pipe_start(struct bento_blob_writer *w)
{
	struct blob_pipe *bp = bento_xcalloc(1, sizeof(*bp));
	void *mem = NULL;

	if (posix_memalign(&mem, DIRECT_ALIGN, (size_t)PIPE_SLOTS * PIPE_SLOTSZ) != 0) {
		free(bp);
		return;	/* without a pipe the caller's thread writes */
	}
	bp->mem = mem;
	bp->dfd = open(w->tmp, O_WRONLY | O_DIRECT | O_CLOEXEC);
	pthread_mutex_init(&bp->mu, NULL);
	pthread_cond_init(&bp->cv, NULL);
	w->pipe = bp;
	if (pthread_create(&bp->tid, NULL, pipe_main, w) != 0) {
		w->pipe = NULL;
		pthread_cond_destroy(&bp->cv);
		pthread_mutex_destroy(&bp->mu);
		if (bp->dfd >= 0)
			close(bp->dfd);
		free(bp->mem);
		free(bp);
	}
}

/* Room in the slot being filled (waiting for the helper when all are in flight); NULL after a write failed. */
static unsigned char *pipe_room(struct blob_pipe *bp, size_t *room)
{
	size_t i = (size_t)(bp->filled % PIPE_SLOTS);

	if (bp->fill == 0) {
		pthread_mutex_lock(&bp->mu);
		while (bp->filled - bp->drained == PIPE_SLOTS && !bp->werr)
			pthread_cond_wait(&bp->cv, &bp->mu);
		int stop = bp->werr != 0;
		pthread_mutex_unlock(&bp->mu);
		if (stop)
			return NULL;
	}
	*room = PIPE_SLOTSZ - bp->fill;
	return bp->mem + i * PIPE_SLOTSZ + bp->fill;
}

/* Hand the slot being filled over to the helper. */
static void pipe_submit(struct blob_pipe *bp)
{
	pthread_mutex_lock(&bp->mu);
	bp->len[bp->filled % PIPE_SLOTS] = bp->fill;
	bp->filled++;
	bp->fill = 0;
	pthread_cond_broadcast(&bp->cv);
	pthread_mutex_unlock(&bp->mu);
}

/* n bytes were put at pipe_room's pointer. */
static void pipe_added(struct blob_pipe *bp, size_t n)
{
	bp->fill += n;
	if (bp->fill == PIPE_SLOTSZ)
		pipe_submit(bp);
}

/* Write what is left (unless cancel), stop the helper, free the pipe: 0 or the first write's -errno. */
static int pipe_stop(struct bento_blob_writer *w, int cancel)
{
	struct blob_pipe *bp = w->pipe;
	int rc;

	if (!bp)
		return 0;
	if (bp->fill && !cancel)
		pipe_submit(bp);
	pthread_mutex_lock(&bp->mu);
	bp->closed = 1;
	if (cancel && !bp->werr)
		bp->werr = -ECANCELED;
	pthread_cond_broadcast(&bp->cv);
	pthread_mutex_unlock(&bp->mu);
	pthread_join(bp->tid, NULL);
	rc = bp->werr;
	if (bp->dfd >= 0)
		close(bp->dfd);
	pthread_cond_destroy(&bp->cv);
	pthread_mutex_destroy(&bp->mu);
	free(bp->mem);
	free(bp);
	w->pipe = NULL;
	return rc;
}

int bento_blob_writer_new(struct bento_store *s, struct bento_blob_writer **out,
			  struct bento_error *err)
{
	return bento_blob_writer_open(s, 0, out, err);
}

/*
 * Where staging files live: a small blob is held in memory until it is
 * complete, and then, its digest known, staged in blobs/sha256/XX/ (see
 * STAGE_PREFIX); a bigger one in tmp/XX/, XX a byte of the writing
 * thread's own.  Creating a file takes its directory's lock, and with one
 * directory for every hashing thread of a build of many small files they
 * queued on it (a third of such a build's time on ext4, measured).
 */
static int stage_slot(void)
{
	static atomic_uint next;
	static _Thread_local int slot = -1;

	if (slot < 0)
		slot = (int)((atomic_fetch_add(&next, 1) * 97u + 13u) % 256u);
	return slot;
}

/*
 * Make w->tmp: in tmp/XX/ (XX = slot) for a blob whose digest is not known
 * yet, in blobs/sha256/XX/ (XX = its digest's first byte) for one whose
 * digest is (see STAGE_PREFIX); -errno.
 */
static int umask_read;		/* the process's umask and pid, once: */
static mode_t umask_was;
static unsigned pid_was;

static void create_once(void)
{
	pid_was = (unsigned)getpid();
	/* umask(2) cannot read it without setting it, which other threads would see */
	char line[64];
	FILE *f = fopen("/proc/self/status", "re");
	unsigned u;

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "Umask: %o", &u) == 1) {
			umask_was = (mode_t)u;
			umask_read = 1;
			break;
		}
	if (f)
		fclose(f);
}

/* A file created with mode 0444 comes out 0444 (unknown: no). */
static int umask_keeps_0444(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, create_once);
	return umask_read && !(umask_was & 0444);
}

static int writer_create(struct bento_blob_writer *w, int slot, int known)
{
	const char *top = known ? w->s->blobdir : w->s->tmpdir;
	static atomic_uint seq;
	int made_dir = 0;

	/*
	 * A small blob's file is written once, whole, through the descriptor
	 * that made it: made with its final mode, and a name from a counter
	 * (O_EXCL; a leftover of another process of the same pid, or a forked
	 * child's, is passed over).  A big one may be opened again by name (the O_DIRECT
	 * writer), so it is writable until it is settled.
	 */
	for (int tries = 0; tries < 100; tries++) {
		free(w->tmp);
		if (known) {
			w->mode_set = umask_keeps_0444();	/* and pid_was set */
			w->tmp = bento_xasprintf("%s/%02x/" STAGE_PREFIX "%x.%x", top, (unsigned)slot,
						 pid_was, atomic_fetch_add(&seq, 1));
			w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
		} else {
			w->tmp = bento_xasprintf("%s/%02x/blob.XXXXXX", top, (unsigned)slot);
			w->fd = mkostemp(w->tmp, O_CLOEXEC);
		}
		if (w->fd >= 0) {
			w->made = 1;
			return 0;
		}
		if (errno == EEXIST && known)
			continue;
		if (errno != ENOENT || made_dir)
			return -errno;
		/* the directory is made when first used, and kept */
		char *dir = bento_xasprintf("%s/%02x", top, (unsigned)slot);
		int e = mkdir(dir, 0755) == 0 || errno == EEXIST ? 0 : errno;
		free(dir);
		if (e)
			return -e;
		made_dir = 1;
	}
	return -EEXIST;
}

int bento_blob_writer_open(struct bento_store *s, uint64_t size, struct bento_blob_writer **out,
			   struct bento_error *err)
{
	struct bento_blob_writer *w = bento_xcalloc(1, sizeof(*w));
	int rc;

	w->s = s;
	w->fd = -1;
	bento_buf_init(&w->mem);
	w->h = bento_hasher_new();
	if (size < SMALL_BUFSZ) {
		/* no file until the digest is known, and none at all if the blob is stored */
		w->tmp = bento_xasprintf("%s/XX/blob.XXXXXX", s->tmpdir);
		*out = w;
		return 0;
	}
	if ((rc = writer_create(w, stage_slot(), 0))) {
		rc = bento_error_errno(err, -rc, "%s: cannot create a staging file", w->tmp);
		bento_blob_writer_abort(w);
		return rc;
	}
	/*
	 * The space up front: a full disk says so before the bytes come, not
	 * halfway.  Free space is looked at first: ext4 fills the disk with a
	 * fallocate that cannot fit before it fails.
	 */
	if (size >= RESERVE_MIN) {
		struct statvfs sv;
		int e = 0;

		if (fstatvfs(w->fd, &sv) == 0 && size > (uint64_t)sv.f_bavail * sv.f_frsize)
			e = ENOSPC;
		else if (fallocate(w->fd, FALLOC_FL_KEEP_SIZE, 0, (off_t)size) == 0)
			w->reserved = size;
		else if (errno == ENOSPC || errno == EDQUOT)
			e = errno;
		if (e) {
			rc = bento_error_errno(err, e, "%s: cannot reserve %llu bytes for a staging file",
					       w->tmp, (unsigned long long)size);
			bento_blob_writer_abort(w);
			return rc;
		}
	}
	if (size >= PIPE_MIN)
		pipe_start(w);
	*out = w;
	return 0;
}

/* The bytes held in memory go to a file made by writer_create(); -errno. */
static int writer_spill(struct bento_blob_writer *w, int slot, int known)
{
	int rc = writer_create(w, slot, known);

	if (rc == 0)
		rc = bento_write_all(w->fd, w->mem.buf, w->mem.len);
	bento_buf_release(&w->mem);
	return rc;
}

/* Append without hashing, in the caller's thread or through the pipe. */
static int writer_append(struct bento_blob_writer *w, const void *p, size_t n)
{
	const unsigned char *s = p;
	int rc;

	if (w->fd < 0 && !w->pipe) {
		if (w->mem.len + n < SMALL_BUFSZ) {
			bento_buf_add(&w->mem, p, n);
			w->size += n;
			return 0;
		}
		if ((rc = writer_spill(w, stage_slot(), 0)))	/* bigger than its size said */
			return rc;
	}
	if (!w->pipe) {
		if ((rc = bento_write_all(w->fd, p, n)))
			return rc;
		w->size += n;
		bento_writeback(w->fd, &w->kicked, w->size);
		return 0;
	}
	while (n) {
		size_t room, k;
		unsigned char *dst = pipe_room(w->pipe, &room);

		if (!dst)
			return w->pipe->werr;
		k = room < n ? room : n;
		memcpy(dst, s, k);
		pipe_added(w->pipe, k);
		w->size += k;
		s += k, n -= k;
	}
	return 0;
}

int bento_blob_write(struct bento_blob_writer *w, const void *p, size_t n,
		     struct bento_error *err)
{
	return bento_blob_write2(w, p, n, NULL, err);
}

int bento_blob_write2(struct bento_blob_writer *w, const void *p, size_t n,
		      struct bento_hasher *also, struct bento_error *err)
{
	int rc;

	if (also)
		bento_hasher_update2(w->h, also, p, n);
	else
		bento_hasher_update(w->h, p, n);
	if ((rc = writer_append(w, p, n)))
		return bento_error_errno(err, -rc, "%s: write", w->tmp);
	return 0;
}

void bento_blob_writer_abort(struct bento_blob_writer *w)
{
	if (!w)
		return;
	pipe_stop(w, 1);
	if (w->fd >= 0)
		close(w->fd);
	if (w->tmp && w->made)
		unlink(w->tmp);
	free(w->tmp);
	bento_buf_release(&w->mem);
	bento_hasher_free(w->h);
	free(w);
}

/*
 * Move the finished temp file *tmp into place as the blob d; *tmp is freed
 * on success.  Its bytes must be durable already.  Unless batch, the
 * rename is made durable too (the directory fsynced); a batch makes all its
 * renames durable at once, with store_sync(), and batch is its bitmap of
 * the blobs/sha256/XX directories known to exist.
 */
static int blob_install(struct bento_store *s, char **tmp, const char *what,
			const struct bento_digest *d, unsigned char *batch, struct bento_error *err)
{
	char hex[BENTO_DIGEST_HEXLEN + 1];
	char *dir, *path;
	int rc = 0, made_dir = 0;
	unsigned fan = d->raw[0];

	bento_digest_hex(d, hex);
	dir = bento_xasprintf("%s/%.2s", s->blobdir, hex);
	path = bento_xasprintf("%s/%s", dir, hex + 2);
	if (batch && (batch[fan / 8] & (1u << (fan % 8))))
		;	/* this batch saw the directory already */
	else if (mkdir(dir, 0755) == 0)
		made_dir = 1;
	else if (errno != EEXIST) {
		rc = bento_error_errno(err, errno, "%s: %s: cannot create directory", what, dir);
		goto out;
	}
	if (batch)
		batch[fan / 8] |= (unsigned char)(1u << (fan % 8));
	if ((rc = bento_rename_noreplace(*tmp, path)) == -EEXIST) {
		/* another writer stored the same content first */
		unlink(*tmp);
		rc = 0;
		goto done;
	}
	if (rc) {
		rc = bento_error_errno(err, -rc, "%s: cannot move %s to %s", what, *tmp, path);
		goto out;
	}
	if (!batch &&
	    ((rc = bento_fsync_dir(dir)) || (made_dir && (rc = bento_fsync_dir(s->blobdir))))) {
		rc = bento_error_errno(err, -rc, "%s: fsync %s", what, dir);
		goto out;
	}
done:
	free(*tmp);
	*tmp = NULL;
out:
	free(dir);
	free(path);
	return rc;
}

/*
 * Everything written to the store's file system so far reaches the disk:
 * syncfs(2), one call for a whole batch of blobs (as OSTree commits a
 * transaction).  Measured on ext4 (a 20,000-file build, best of 4): 1.4 s
 * with syncfs, 4.4 s with an fdatasync of every staged file from 32
 * threads, 6.3 s from 8: each fdatasync is a journal commit and a disk
 * cache flush of its own, syncfs one of each for the batch.  Its cost is
 * what else is dirty on the file system, which a store on a busy disk
 * shares with every other writer.
 */
static int store_sync(struct bento_store *s, const char *what, struct bento_error *err)
{
	return bento_syncfs(s->tmpdir, what, err);
}

/*
 * The finished file of a blob d: made now if its bytes are in memory,
 * durable when sync (a stage makes all its files durable at once),
 * read-only, closed.
 */
static int writer_settle(struct bento_blob_writer *w, const char *what,
			 const struct bento_digest *d, int sync, struct bento_error *err)
{
	int rc;

	if (w->fd < 0 && (rc = writer_spill(w, d->raw[0], 1)))
		return bento_error_errno(err, -rc, "%s: write %s", what, w->tmp);
	if (sync && fdatasync(w->fd) < 0)
		return bento_error_errno(err, errno, "%s: fsync %s", what, w->tmp);
	if (!w->mode_set && fchmod(w->fd, 0444) < 0)
		return bento_error_errno(err, errno, "%s: chmod %s", what, w->tmp);
	if (close(w->fd) < 0) {
		w->fd = -1;
		return bento_error_errno(err, errno, "%s: close %s", what, w->tmp);
	}
	w->fd = -1;
	return 0;
}

/*
 * Check the digest; *present is set when the blob is already stored (then
 * nothing is synced).  Then writer_settle(), unless held is not NULL and
 * the bytes are still in memory: *held is set and the caller settles it.
 */
static int writer_finish(struct bento_blob_writer *w, const char *what,
			 const struct bento_digest *expect, struct bento_digest *d,
			 int *present, int sync, int *held, struct bento_error *err)
{
	int rc = pipe_stop(w, 0);

	if (rc)
		return bento_error_errno(err, -rc, "%s: write %s", what, w->tmp);
	/* Blocks reserved beyond what came (the caller's size was a hint) go back. */
	if (w->reserved > w->size && ftruncate(w->fd, (off_t)w->size) < 0)
		return bento_error_errno(err, errno, "%s: truncate %s", what, w->tmp);
	bento_hasher_final(w->h, d);
	*present = 0;
	if (expect && !bento_digest_eq(expect, d))
		return bento_digest_mismatch(err, what, expect, d);
	/* Already stored: skip the fsync, which for big files is most of the cost. */
	if (bento_blob_has(w->s, d)) {
		*present = 1;
		return 0;
	}
	if (held && w->fd < 0) {
		*held = 1;
		return 0;
	}
	return writer_settle(w, what, d, sync, err);
}

int bento_blob_writer_commit(struct bento_blob_writer *w, const char *what,
			     const struct bento_digest *expect,
			     struct bento_digest *out, uint64_t *size,
			     struct bento_error *err)
{
	struct bento_digest d;
	int present, rc;

	if (!what)
		what = "blob";
	rc = writer_finish(w, what, expect, &d, &present, 1, NULL, err);
	if (rc == 0 && !present)
		rc = blob_install(w->s, &w->tmp, what, &d, NULL, err);
	if (rc == 0) {
		if (out)
			*out = d;
		if (size)
			*size = w->size;
	}
	bento_blob_writer_abort(w);
	return rc;
}

struct staged {
	char *tmp;
	char *what;
	struct bento_digest digest;
};

/* A small blob whose file a spill thread of its stage is to make. */
struct spill {
	struct spill *next;
	struct bento_blob_writer *w;
	char *what;
	struct bento_digest digest;
	int rc;
	struct bento_error err;
};

/*
 * SPILL_THREADS threads make the files of small blobs while the command
 * goes on reading and hashing (an import's one thread did both in turn),
 * up to SPILL_QUEUE of them waiting (4 MiB at most), taken SPILL_BATCH at
 * a time.  A thread is woken only when one waits: a wake-up per blob was
 * a tenth of an import's time.
 */
enum { SPILL_THREADS = 2, SPILL_QUEUE = 64, SPILL_BATCH = 16 };

struct bento_blob_stage {
	struct bento_store *s;
	pthread_mutex_t lock;	/* builds stage from several threads */
	struct staged *v;
	size_t n, alloc;
	int sorted;		/* v is sorted by digest (bento_blob_stage_path) */
	pthread_cond_t work;	/* spill threads: something is queued, or stop */
	pthread_cond_t room;	/* the rest: the queue has room, or all is done */
	size_t idle, waiting;	/* spill threads on work, others on room */
	struct spill *head, **tail;
	size_t queued, busy;
	pthread_t tids[SPILL_THREADS];
	size_t n_tids;
	int stopping;
	int spill_rc;		/* the first failure of a spill, */
	struct bento_error spill_err;	/* and its message */
};

struct bento_blob_stage *bento_blob_stage_new(struct bento_store *s)
{
	struct bento_blob_stage *st = bento_xcalloc(1, sizeof(*st));

	st->s = s;
	st->tail = &st->head;
	pthread_mutex_init(&st->lock, NULL);
	pthread_cond_init(&st->work, NULL);
	pthread_cond_init(&st->room, NULL);
	return st;
}

/* Under st->lock: the stage owns the file tmp now. */
static void stage_add(struct bento_blob_stage *st, char *tmp, const char *what,
		      const struct bento_digest *d)
{
	if (st->n == st->alloc) {
		st->alloc = st->alloc ? 2 * st->alloc : 16;
		st->v = bento_xrealloc(st->v, st->alloc * sizeof(*st->v));
	}
	st->v[st->n].tmp = tmp;
	st->v[st->n].what = bento_xstrdup(what);
	st->v[st->n].digest = *d;
	st->n++;
	st->sorted = 0;
}

/* Under st->lock: the stage takes w's file, or keeps the first failure. */
static void spill_done(struct bento_blob_stage *st, struct bento_blob_writer *w, const char *what,
		       const struct bento_digest *d, int rc, const struct bento_error *e)
{
	if (rc == 0) {
		stage_add(st, w->tmp, what, d);
		w->tmp = NULL;
	} else if (!st->spill_rc) {
		st->spill_rc = rc;
		st->spill_err = *e;
	}
}

static void spill_free(struct spill *sp)
{
	bento_blob_writer_abort(sp->w);
	free(sp->what);
	free(sp);
}

/* Under st->lock: wait on room, counted so that it is signalled. */
static void wait_room(struct bento_blob_stage *st)
{
	st->waiting++;
	pthread_cond_wait(&st->room, &st->lock);
	st->waiting--;
}

static void *spill_main(void *arg)
{
	struct bento_blob_stage *st = arg;

	pthread_mutex_lock(&st->lock);
	for (;;) {
		struct spill *batch, **end;
		size_t k = 0;

		while (!st->head && !st->stopping) {
			st->idle++;
			pthread_cond_wait(&st->work, &st->lock);
			st->idle--;
		}
		if (!(batch = st->head))
			break;
		for (end = &batch; *end && k < SPILL_BATCH; end = &(*end)->next)
			k++;
		if (!(st->head = *end))
			st->tail = &st->head;
		*end = NULL;
		st->queued -= k;
		st->busy += k;
		if (st->waiting)
			pthread_cond_broadcast(&st->room);
		if (st->head && st->idle)
			pthread_cond_signal(&st->work);
		pthread_mutex_unlock(&st->lock);
		for (struct spill *sp = batch; sp; sp = sp->next)
			sp->rc = writer_settle(sp->w, sp->what, &sp->digest, 0, &sp->err);
		pthread_mutex_lock(&st->lock);
		for (struct spill *sp = batch; sp; sp = sp->next)
			spill_done(st, sp->w, sp->what, &sp->digest, sp->rc, &sp->err);
		st->busy -= k;
		if (st->waiting)
			pthread_cond_broadcast(&st->room);
		pthread_mutex_unlock(&st->lock);
		while (batch) {
			struct spill *next = batch->next;
			spill_free(batch);
			batch = next;
		}
		pthread_mutex_lock(&st->lock);
	}
	pthread_mutex_unlock(&st->lock);
	return NULL;
}

/*
 * Queue w (the stage owns it now).  Once a spill has failed the commit
 * will fail with it: that failure is returned here too, so the command
 * stops at the next blob instead of reading on.
 */
static int spill_queue(struct bento_blob_stage *st, struct bento_blob_writer *w, const char *what,
		       const struct bento_digest *d, struct bento_error *err)
{
	struct spill *sp;
	int rc;

	pthread_mutex_lock(&st->lock);
	while (st->queued >= SPILL_QUEUE && !st->spill_rc)
		wait_room(st);
	if ((rc = st->spill_rc)) {
		if (err)
			*err = st->spill_err;
		pthread_mutex_unlock(&st->lock);
		bento_blob_writer_abort(w);
		return rc;
	}
	if (st->n_tids < SPILL_THREADS &&
	    pthread_create(&st->tids[st->n_tids], NULL, spill_main, st) == 0)
		st->n_tids++;
	if (st->n_tids == 0) {
		/* no thread to be had: make the file here */
		struct bento_error e = { 0 };
		pthread_mutex_unlock(&st->lock);
		rc = writer_settle(w, what, d, 0, &e);
		pthread_mutex_lock(&st->lock);
		spill_done(st, w, what, d, rc, &e);
		pthread_mutex_unlock(&st->lock);
		bento_blob_writer_abort(w);
		if (rc && err)
			*err = e;
		return rc;
	}
	sp = bento_xcalloc(1, sizeof(*sp));
	sp->w = w;
	sp->what = bento_xstrdup(what);
	sp->digest = *d;
	*st->tail = sp;
	st->tail = &sp->next;
	st->queued++;
	if (st->idle)
		pthread_cond_signal(&st->work);
	pthread_mutex_unlock(&st->lock);
	return 0;
}

/* Every queued file made; the first failure among them, with its message. */
static int stage_wait(struct bento_blob_stage *st, struct bento_error *err)
{
	int rc;

	pthread_mutex_lock(&st->lock);
	while (st->head || st->busy)
		wait_room(st);
	if ((rc = st->spill_rc) && err)
		*err = st->spill_err;
	pthread_mutex_unlock(&st->lock);
	return rc;
}

int bento_blob_writer_stage(struct bento_blob_writer *w, struct bento_blob_stage *st,
			    const char *what, const struct bento_digest *expect,
			    struct bento_digest *out, struct bento_error *err)
{
	struct bento_digest d;
	int present, held = 0, rc = writer_finish(w, what, expect, &d, &present, 0, &held, err);

	if (rc == 0 && out)
		*out = d;
	if (rc == 0 && held)
		return spill_queue(st, w, what, &d, err);	/* it owns w now */
	if (rc == 0 && !present) {
		pthread_mutex_lock(&st->lock);
		stage_add(st, w->tmp, what, &d);
		pthread_mutex_unlock(&st->lock);
		w->tmp = NULL;	/* the stage owns the file now */
	}
	bento_blob_writer_abort(w);
	return rc;
}

/*
 * Make every staged blob durable at once (before bento_store_commit takes
 * the database's lock: this is the slow part), then, inside its
 * transaction and last before COMMIT, move them all into place and make
 * the renames durable at once: after a crash at any point a blob at its
 * name is whole, and all are on disk before the metadata naming them is.
 */
int bento_blob_stage_sync(struct bento_blob_stage *st, struct bento_error *err)
{
	int rc;

	if (!st)
		return 0;
	if ((rc = stage_wait(st, err)))
		return rc;
	return st->n ? store_sync(st->s, "staged blobs", err) : 0;
}

/*
 * The renames, from INSTALL_THREADS threads: thread t takes the blobs
 * whose digest's first byte is t modulo their number, so no two rename
 * within one directory at once; with small blobs staged in their own
 * directory (STAGE_PREFIX) none takes the file system's rename lock.
 */
enum { INSTALL_THREADS = 2 };

struct install {
	struct bento_blob_stage *st;
	atomic_uint next;	/* the next thread's share */
	atomic_int failed;
	int rc[INSTALL_THREADS];
	struct bento_error err[INSTALL_THREADS];
};

static void *install_main(void *arg)
{
	struct install *in = arg;
	unsigned t = atomic_fetch_add(&in->next, 1);
	unsigned char dirs[256 / 8] = { 0 };
	struct bento_blob_stage *st = in->st;

	for (size_t i = 0; i < st->n && !atomic_load(&in->failed); i++) {
		struct staged *v = &st->v[i];
		/* the other thread's entries' tmp changes under us: digest first */
		if (v->digest.raw[0] % INSTALL_THREADS != t || !v->tmp)
			continue;
		if ((in->rc[t] = blob_install(st->s, &v->tmp, v->what, &v->digest, dirs,
					      &in->err[t]))) {
			atomic_store(&in->failed, 1);
			break;
		}
	}
	return NULL;
}

int bento_blob_stage_install(struct bento_blob_stage *st, struct bento_error *err)
{
	struct install in = { .st = st };
	int rc;

	if ((rc = stage_wait(st, err)) || st->n == 0)
		return rc;
	bento_parallel(install_main, &in, INSTALL_THREADS);
	for (size_t t = 0; t < INSTALL_THREADS; t++)
		if (in.rc[t]) {
			if (err)
				*err = in.err[t];
			return in.rc[t];
		}
	return store_sync(st->s, "blobs", err);
}

/* The digests of what st holds, sorted (for put_check_blobs); caller frees. */
struct bento_digest *bento_blob_stage_digests(const struct bento_blob_stage *st, size_t *n)
{
	struct bento_digest *v = bento_xcalloc(st ? st->n + 1 : 1, sizeof(*v));

	*n = 0;
	for (size_t i = 0; st && i < st->n; i++)
		if (st->v[i].tmp)
			v[(*n)++] = st->v[i].digest;
	qsort(v, *n, sizeof(*v), digest_cmp);
	return v;
}

static int staged_cmp(const void *a, const void *b)
{
	return digest_cmp(&((const struct staged *)a)->digest, &((const struct staged *)b)->digest);
}

char *bento_blob_stage_path(struct bento_blob_stage *st, const struct bento_digest *d)
{
	struct staged key = { .digest = *d }, *hit = NULL;

	stage_wait(st, NULL);	/* a failed spill: the path of a file that is not there */
	pthread_mutex_lock(&st->lock);
	if (st->n && !st->sorted) {
		qsort(st->v, st->n, sizeof(*st->v), staged_cmp);
		st->sorted = 1;
	}
	if (st->n)
		hit = bsearch(&key, st->v, st->n, sizeof(*st->v), staged_cmp);
	pthread_mutex_unlock(&st->lock);
	return hit && hit->tmp ? bento_xstrdup(hit->tmp) : bento_blob_path(st->s, d);
}

void bento_blob_stage_free(struct bento_blob_stage *st)
{
	struct spill *sp;

	if (!st)
		return;
	/* what still waits is dropped, not written */
	pthread_mutex_lock(&st->lock);
	while ((sp = st->head)) {
		st->head = sp->next;
		spill_free(sp);
	}
	st->tail = &st->head;
	st->queued = 0;
	st->stopping = 1;
	pthread_cond_broadcast(&st->work);
	pthread_mutex_unlock(&st->lock);
	for (size_t i = 0; i < st->n_tids; i++)
		pthread_join(st->tids[i], NULL);
	for (size_t i = 0; i < st->n; i++) {
		if (st->v[i].tmp)
			unlink(st->v[i].tmp);
		free(st->v[i].tmp);
		free(st->v[i].what);
	}
	free(st->v);
	pthread_cond_destroy(&st->work);
	pthread_cond_destroy(&st->room);
	pthread_mutex_destroy(&st->lock);
	free(st);
}

/*
 * The stat cache is read and written on its own connection.  A command
 * looks up many files: the lookups share one read transaction (not one
 * each, with its locks), and what it learns is written at once, in one
 * transaction, by bento_store_cache_flush() (from bento_store_commit() and
 * bento_store_close(), and every CACHE_PENDING_MAX rows).
 */

/* The cached digest of the file described by st, if any. */
static int cache_lookup(struct bento_store *s, const struct stat *st, struct bento_digest *d)
{
	sqlite3_stmt *q = s->cache_get;
	int hit = 0;

	pthread_mutex_lock(&s->cache_mu);
	if (!s->cache_reading)
		s->cache_reading = sqlite3_exec(s->cache, "BEGIN", NULL, NULL, NULL) == SQLITE_OK;
	sqlite3_bind_int64(q, 1, (sqlite3_int64)st->st_dev);
	sqlite3_bind_int64(q, 2, (sqlite3_int64)st->st_ino);
	if (sqlite3_step(q) == SQLITE_ROW &&
	    sqlite3_column_int64(q, 0) == (sqlite3_int64)st->st_size &&
	    sqlite3_column_int64(q, 1) == ts_ns(&st->st_mtim) &&
	    sqlite3_column_int64(q, 2) == ts_ns(&st->st_ctim) &&
	    col_digest(q, 3, d) == 0)
		hit = 1;
	sqlite3_reset(q);
	sqlite3_clear_bindings(q);
	pthread_mutex_unlock(&s->cache_mu);
	return hit;
}

/* Remember st's digest, for bento_store_cache_flush(). */
static void cache_store(struct bento_store *s, const struct stat *st, const struct bento_digest *d)
{
	struct cache_row *r;
	int full;

	pthread_mutex_lock(&s->cache_mu);
	if (s->n_pending == s->alloc_pending) {
		s->alloc_pending = s->alloc_pending ? 2 * s->alloc_pending : 64;
		s->pending = bento_xrealloc(s->pending, s->alloc_pending * sizeof(*s->pending));
	}
	r = &s->pending[s->n_pending++];
	r->dev = (int64_t)st->st_dev;
	r->ino = (int64_t)st->st_ino;
	r->size = (int64_t)st->st_size;
	r->mtime_ns = ts_ns(&st->st_mtim);
	r->ctime_ns = ts_ns(&st->st_ctim);
	r->digest = *d;
	full = s->n_pending >= CACHE_PENDING_MAX;
	pthread_mutex_unlock(&s->cache_mu);
	if (full)
		bento_store_cache_flush(s);
}

/* End the read transaction and write what cache_store() kept.  Best effort:
 * the cache is a hint, and a row not written only costs a re-hash. */
void bento_store_cache_flush(struct bento_store *s)
{
	sqlite3_stmt *q = s->cache_put;

	pthread_mutex_lock(&s->cache_mu);
	if (s->cache_reading)
		sqlite3_exec(s->cache, "COMMIT", NULL, NULL, NULL);
	s->cache_reading = 0;
	if (s->n_pending && sqlite3_exec(s->cache, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK) {
		for (size_t i = 0; i < s->n_pending; i++) {
			const struct cache_row *r = &s->pending[i];

			sqlite3_bind_int64(q, 1, r->dev);
			sqlite3_bind_int64(q, 2, r->ino);
			sqlite3_bind_int64(q, 3, r->size);
			sqlite3_bind_int64(q, 4, r->mtime_ns);
			sqlite3_bind_int64(q, 5, r->ctime_ns);
			bind_digest(q, 6, &r->digest);
			sqlite3_step(q);
			sqlite3_reset(q);
			sqlite3_clear_bindings(q);
		}
		if (sqlite3_exec(s->cache, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
			sqlite3_exec(s->cache, "ROLLBACK", NULL, NULL, NULL);
	}
	s->n_pending = 0;
	pthread_mutex_unlock(&s->cache_mu);
}

static ssize_t pread_retry(int fd, void *buf, size_t n, uint64_t off)
{
	ssize_t k;

	do
		k = pread(fd, buf, n, (off_t)off);
	while (k < 0 && errno == EINTR);
	return k < 0 ? -errno : k;
}

/* Small files: read, hash and write in the calling thread, up to size bytes
 * (the caller's fstat afterwards sees a file that grew or shrank). */
static int copy_simple(struct bento_blob_writer *w, int fd, uint64_t size, const char *what,
		       uint64_t *total, struct bento_error *err)
{
	unsigned char small[SMALL_BUFSZ];
	unsigned char *buf = size < sizeof(small) ? small : bento_xmalloc(PUT_BUFSZ);
	size_t bufsz = buf == small ? sizeof(small) : PUT_BUFSZ;
	uint64_t off = 0;
	ssize_t n = 0;
	int rc = 0;

	/* size + 1 for a file that is empty or that grew: the read sees it */
	while (off <= size && (n = pread_retry(fd, buf, bufsz, off)) > 0) {
		bento_hasher_update(w->h, buf, (size_t)n);
		if ((rc = writer_append(w, buf, (size_t)n))) {
			rc = bento_error_errno(err, -rc, "%s: write %s", what, w->tmp);
			break;
		}
		off += (uint64_t)n;
		if (off == size)
			break;
	}
	if (n < 0)
		rc = bento_error_errno(err, (int)-n, "%s: read", what);
	if (buf != small)
		free(buf);
	*total = off;
	return rc;
}

/* Big files: read straight into the pipe's slots, hash, hand over. */
static int copy_piped(struct bento_blob_writer *w, int fd, const char *what, uint64_t *total,
		      struct bento_error *err)
{
	uint64_t off = 0;
	int rc = 0;

	for (;;) {
		size_t room;
		unsigned char *dst = pipe_room(w->pipe, &room);
		ssize_t n;

		if (!dst) {
			rc = bento_error_errno(err, -w->pipe->werr, "%s: write %s", what, w->tmp);
			break;
		}
		n = pread_retry(fd, dst, room, off);
		if (n < 0) {
			rc = bento_error_errno(err, (int)-n, "%s: read", what);
			break;
		}
		if (n == 0)
			break;
		bento_hasher_update(w->h, dst, (size_t)n);
		pipe_added(w->pipe, (size_t)n);
		w->size += (uint64_t)n;
		off += (uint64_t)n;
	}
	*total = off;
	return rc;
}

int bento_blob_cached(struct bento_store *s, const struct stat *st, struct bento_digest *out)
{
	struct bento_digest d;

	if (!S_ISREG(st->st_mode) || !cache_lookup(s, st, &d) || !bento_blob_has(s, &d))
		return 0;
	*out = d;
	return 1;
}

int bento_blob_put_file(struct bento_store *s, struct bento_blob_stage *stage, int fd,
			const struct stat *st, const char *what, struct bento_digest *out,
			struct bento_error *err)
{
	struct bento_blob_writer *w = NULL;
	struct bento_digest d;
	struct timespec start;
	struct stat after;
	uint64_t total = 0;
	int rc;

	if (!what)
		what = "file";
	if (!S_ISREG(st->st_mode))
		return bento_error_set(err, BENTO_E_INVALID, "%s: not a regular file", what);
	if (bento_blob_cached(s, st, out)) {
		if (!stage)
			bento_store_cache_flush(s);
		return 0;
	}
	clock_gettime(CLOCK_REALTIME, &start);
	if (st->st_size >= SMALL_BUFSZ)
		posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	if ((rc = bento_blob_writer_open(s, (uint64_t)st->st_size, &w, err)))
		return rc;
	/* pread throughout: the caller's file offset does not matter */
	if (w->pipe)
		rc = copy_piped(w, fd, what, &total, err);
	else
		rc = copy_simple(w, fd, (uint64_t)st->st_size, what, &total, err);
	if (rc)
		goto fail;
	if (fstat(fd, &after) < 0) {
		rc = bento_error_errno(err, errno, "%s: fstat", what);
		goto fail;
	}
	if (after.st_size != st->st_size || total != (uint64_t)st->st_size ||
	    ts_ns(&after.st_mtim) != ts_ns(&st->st_mtim)) {
		rc = bento_error_set(err, BENTO_E_FAIL, "%s: file changed while reading", what);
		goto fail;
	}
	rc = stage ? bento_blob_writer_stage(w, stage, what, NULL, &d, err)
		   : bento_blob_writer_commit(w, what, NULL, &d, NULL, err);
	w = NULL;
	if (rc)
		return rc;
	if (ts_ns(&after.st_ctim) == ts_ns(&st->st_ctim) &&
	    ts_ns(&st->st_ctim) + RACY_NS <= ts_ns(&start) &&
	    ts_ns(&st->st_mtim) + RACY_NS <= ts_ns(&start))
		cache_store(s, st, &d);
	if (!stage)
		bento_store_cache_flush(s);	/* without a stage each call is one transaction */
	*out = d;
	return 0;
fail:
	bento_blob_writer_abort(w);
	return rc;
}
