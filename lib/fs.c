#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "fs.h"

const char *bento_file_kind(unsigned mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG: return "a regular file";
	case S_IFDIR: return "a directory";
	case S_IFIFO: return "a FIFO";
	case S_IFCHR: return "a character device";
	case S_IFBLK: return "a block device";
	case S_IFSOCK: return "a socket";
	case S_IFLNK: return "a symbolic link";
	default: return "of an unknown type";
	}
}

int bento_open_regular(const char *path, int *fdp, uint64_t *size, struct bento_error *err)
{
	struct stat st;
	int fd, rc;

	/* O_NONBLOCK: opening a FIFO with no writer would otherwise wait forever. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return bento_error_errno(err, errno, "%s", path);
	if (fstat(fd, &st) < 0) {
		rc = bento_error_errno(err, errno, "%s", path);
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = bento_error_set(err, BENTO_E_INVALID, "%s: not a regular file (%s)", path,
				     bento_file_kind(st.st_mode));
		goto fail;
	}
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) < 0) {
		rc = bento_error_errno(err, errno, "%s", path);
		goto fail;
	}
	*fdp = fd;
	if (size)
		*size = (uint64_t)st.st_size;
	return 0;
fail:
	close(fd);
	return rc;
}

int bento_perm_check(const char *path, const struct stat *st, unsigned perm,
		     struct bento_error *err)
{
	unsigned mode = (unsigned)st->st_mode & 07777;
	uid_t me = geteuid();

	if ((perm & BENTO_PERM_OWNED) && st->st_uid != me && st->st_uid != 0)
		return bento_error_set(err, BENTO_E_UNSAFE,
				       "%s: owned by uid %u, not by you (uid %u) or root", path,
				       (unsigned)st->st_uid, (unsigned)me);
	if ((perm & BENTO_PERM_PRIVATE) && (mode & 077))
		return bento_error_set(err, BENTO_E_UNSAFE,
				       "%s: permissions %04o are too open: group or others may %s it; "
				       "run chmod 600 %s", path, mode,
				       mode & 044 ? "read" : mode & 022 ? "write" : "open", path);
	if ((perm & BENTO_PERM_NOT_WRITABLE) && (mode & 022))
		return bento_error_set(err, BENTO_E_UNSAFE,
				       "%s: permissions %04o are too open: group or others may write it; "
				       "run chmod go-w %s", path, mode, path);
	return 0;
}

int bento_open_checked(const char *path, unsigned perm, int *fdp, uint64_t *size,
		       struct bento_error *err)
{
	struct stat st;
	int fd, rc;

	if ((rc = bento_open_regular(path, &fd, size, err)))
		return rc;
	if (fstat(fd, &st) < 0)
		rc = bento_error_errno(err, errno, "%s", path);
	else
		rc = bento_perm_check(path, &st, perm, err);
	if (rc) {
		close(fd);
		return rc;
	}
	*fdp = fd;
	return 0;
}

int bento_read_file(const char *path, size_t max, struct bento_buf *out, struct bento_error *err)
{
	return bento_read_file_checked(path, max, 0, out, err);
}

int bento_read_file_checked(const char *path, size_t max, unsigned perm, struct bento_buf *out,
			    struct bento_error *err)
{
	uint64_t size;
	int fd, rc;

	if ((rc = bento_open_checked(path, perm, &fd, &size, err)))
		return rc;
	bento_buf_reset(out);
	if (size > max)
		goto too_big;
	bento_buf_grow(out, (size_t)size + 1);
	for (;;) {
		ssize_t n;

		if (out->alloc - out->len < 2)
			bento_buf_grow(out, 4096);
		n = read(fd, out->buf + out->len, out->alloc - out->len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = bento_error_errno(err, errno, "%s", path);
			goto out;
		}
		if (n == 0)
			break;
		bento_buf_setlen(out, out->len + (size_t)n);
		if (out->len > max)
			goto too_big;
	}
	rc = 0;
	goto out;
too_big:
	rc = bento_error_set(err, BENTO_E_INVALID, "%s: larger than %zu bytes", path, max);
	bento_buf_reset(out);
out:
	close(fd);
	return rc;
}

int bento_fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = 0;

	if (fd < 0)
		return -errno;
	/* EINVAL: a file system that cannot sync a directory has nothing to sync. */
	if (fsync(fd) < 0 && errno != EINVAL)
		rc = -errno;
	close(fd);
	return rc;
}

/* path's directory, as a new string ("." for a bare name). */
static char *parent_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		return bento_xstrdup(".");
	if (slash == path)
		return bento_xstrdup("/");
	return bento_xstrndup(path, (size_t)(slash - path));
}

int bento_fsync_parent(const char *path)
{
	char *dir = parent_of(path);
	int rc = bento_fsync_dir(dir);

	free(dir);
	return rc;
}

int bento_rename_noreplace(const char *from, const char *to)
{
	if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -errno;
	/* A file system without RENAME_NOREPLACE: link() refuses an existing name too. */
	if (link(from, to) < 0)
		return -errno;
	unlink(from);
	return 0;
}

int bento_atomic_open(struct bento_atomic *a, const char *path, const char *tmpdir, mode_t mode,
		      struct bento_error *err)
{
	const char *base = strrchr(path, '/');
	char *dir = tmpdir ? bento_xstrdup(tmpdir) : parent_of(path);
	int rc;

	base = base ? base + 1 : path;
	a->path = bento_xstrdup(path);
	a->tmp = bento_xasprintf("%s/.%s.tmp-XXXXXX", dir, base);
	a->fd = mkostemp(a->tmp, O_CLOEXEC);
	if (a->fd < 0 || fchmod(a->fd, mode) < 0) {
		rc = bento_error_errno(err, errno, "%s: cannot create a temporary file in %s", path,
				       dir);
		bento_atomic_abort(a);
		free(dir);
		return rc;
	}
	free(dir);
	return 0;
}

void bento_atomic_abort(struct bento_atomic *a)
{
	if (a->fd >= 0)
		close(a->fd);
	a->fd = -1;
	if (a->tmp)
		unlink(a->tmp);
	free(a->tmp);
	free(a->path);
	a->tmp = a->path = NULL;
}

int bento_atomic_commit(struct bento_atomic *a, unsigned flags, struct bento_error *err)
{
	int rc = 0, fd = a->fd;

	a->fd = -1;
	if (!(flags & BENTO_ATOMIC_BATCH) && fsync(fd) < 0)
		rc = bento_error_errno(err, errno, "%s: fsync %s", a->path, a->tmp);
	if (close(fd) < 0 && rc == 0)
		rc = bento_error_errno(err, errno, "%s: close %s", a->path, a->tmp);
	if (rc == 0 && (flags & BENTO_ATOMIC_NOREPLACE)) {
		if ((rc = bento_rename_noreplace(a->tmp, a->path)) == -EEXIST)
			rc = bento_error_set(err, BENTO_E_EXISTS, "%s: already exists", a->path);
		else if (rc)
			rc = bento_error_errno(err, -rc, "%s: cannot rename %s to it", a->path,
					       a->tmp);
	} else if (rc == 0 && rename(a->tmp, a->path) < 0) {
		rc = bento_error_errno(err, errno, "%s: cannot rename %s to it", a->path, a->tmp);
	}
	if (rc) {
		bento_atomic_abort(a);
		return rc;
	}
	free(a->tmp);
	a->tmp = NULL;
	if (!(flags & BENTO_ATOMIC_BATCH) && (rc = bento_fsync_parent(a->path)))
		rc = bento_error_errno(err, -rc, "%s: fsync of its directory", a->path);
	free(a->path);
	a->path = NULL;
	return rc;
}

int bento_atomic_write(struct bento_atomic *a, const void *p, size_t n, struct bento_error *err)
{
	int rc = bento_write_all(a->fd, p, n);

	if (rc) {
		rc = bento_error_errno(err, -rc, "%s: write %s", a->path, a->tmp);
		bento_atomic_abort(a);
	}
	return rc;
}

int bento_write_file_atomic(const char *path, const void *p, size_t n, mode_t mode,
			    unsigned flags, struct bento_error *err)
{
	struct bento_atomic a;
	int rc = bento_atomic_open(&a, path, NULL, mode, err);

	if (rc)
		return rc;
	if ((rc = bento_atomic_write(&a, p, n, err)))
		return rc;
	return bento_atomic_commit(&a, flags, err);
}

int bento_syncfs(const char *path, const char *what, struct bento_error *err)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = 0;

	if (fd < 0)
		return bento_error_errno(err, errno, "%s: %s", what, path);
	if (syncfs(fd) < 0)
		rc = bento_error_errno(err, errno, "%s: syncfs %s", what, path);
	close(fd);
	return rc;
}

void bento_writeback(int fd, uint64_t *kicked, uint64_t end)
{
	if (end - *kicked < BENTO_WRITEBACK_CHUNK)
		return;
#ifdef SYNC_FILE_RANGE_WRITE
	sync_file_range(fd, (off_t)*kicked, (off_t)(end - *kicked), SYNC_FILE_RANGE_WRITE);
#else
	(void)fd;
#endif
	*kicked = end;
}

char *bento_xdg_config_path(const char *rel)
{
	const char *x = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");

	if (x && *x)
		return bento_xasprintf("%s/%s", x, rel);
	return bento_xasprintf("%s/.config/%s", home && *home ? home : ".", rel);
}

ssize_t bento_read_fd(int fd, void *p, size_t n)
{
	for (;;) {
		ssize_t k = read(fd, p, n);
		if (k >= 0 || errno != EINTR)
			return k < 0 ? -errno : k;
	}
}

int bento_write_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n > 0) {
		ssize_t k = write(fd, c, n);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		c += k;
		n -= (size_t)k;
	}
	return 0;
}

int bento_mkdir_p(const char *path, unsigned mode, struct bento_error *err)
{
	char *p = bento_xstrdup(path);
	struct stat st;
	int rc = 0;

	for (char *q = p + 1;; q++) {
		if (*q != '/' && *q != '\0')
			continue;
		char c = *q;
		*q = '\0';
		if (mkdir(p, c ? 0755 : (mode_t)mode) < 0 && errno != EEXIST) {
			rc = bento_error_errno(err, errno, "%s: cannot create directory", p);
			break;
		}
		*q = c;
		if (!c)
			break;
	}
	if (rc == 0 && stat(path, &st) < 0)
		rc = bento_error_errno(err, errno, "%s", path);
	else if (rc == 0 && !S_ISDIR(st.st_mode))
		rc = bento_error_set(err, BENTO_E_FAIL, "%s: not a directory", path);
	free(p);
	return rc;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int bento_dir_list(const char *dir, const char *suffix, int full, char ***out, size_t *n)
{
	size_t k = strlen(suffix);
	struct dirent *de;
	DIR *d = opendir(dir);

	*out = NULL;
	*n = 0;
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		if (len <= k || strcmp(de->d_name + len - k, suffix) != 0)
			continue;
		*out = bento_xrealloc(*out, (*n + 1) * sizeof(**out));
		(*out)[(*n)++] = full ? bento_xasprintf("%s/%s", dir, de->d_name)
				      : bento_xstrdup(de->d_name);
	}
	closedir(d);
	if (*n)
		qsort(*out, *n, sizeof(**out), name_cmp);
	return 0;
}

void bento_strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

size_t bento_cpus(size_t max)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	if (n < 1)
		return 1;
	return max && (size_t)n > max ? max : (size_t)n;
}

void bento_parallel(void *(*fn)(void *), void *arg, size_t n)
{
	pthread_t tids[BENTO_PARALLEL_MAX];
	size_t started = 0;

	if (n > BENTO_PARALLEL_MAX)
		n = BENTO_PARALLEL_MAX;
	/* a thread that cannot be created is just one worker fewer */
	for (size_t i = 1; i < n; i++)
		if (pthread_create(&tids[started], NULL, fn, arg) == 0)
			started++;
	fn(arg);
	for (size_t i = 0; i < started; i++)
		pthread_join(tids[i], NULL);
}
