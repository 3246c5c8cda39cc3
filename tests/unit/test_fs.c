/* Unit tests for fs.c: reading files that may be FIFOs, devices or too big; atomic writes. */
#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "fs.h"
#include "tap.h"

/* path's content equals want */
static int has(const char *path, const char *want)
{
	struct bento_buf b = BENTO_BUF_INIT;
	struct bento_error err;
	int yes = bento_read_file(path, 1 << 20, &b, &err) == 0 && strcmp(b.buf, want) == 0;

	bento_buf_release(&b);
	return yes;
}

static void atomic_writes(void)
{
	char dir[] = "/tmp/bento-test-atomic.XXXXXX", path[256], sub[256], tmpdir[256];
	struct bento_atomic a;
	struct bento_error err;
	struct stat st;
	int rc;

	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		exit(1);
	}
	snprintf(path, sizeof(path), "%s/f.json", dir);
	rc = bento_write_file_atomic(path, "one\n", 4, 0640, 0, &err);
	ok(rc == 0 && has(path, "one\n") && tap_count(dir, NULL) == 1, "atomic: a new file, nothing else left");
	ok(stat(path, &st) == 0 && (st.st_mode & 07777) == 0640, "atomic: the mode asked for, whatever the umask");
	rc = bento_write_file_atomic(path, "two\n", 4, 0644, 0, &err);
	ok(rc == 0 && has(path, "two\n") && tap_count(dir, NULL) == 1, "atomic: an existing file replaced");
	rc = bento_write_file_atomic(path, "three\n", 6, 0644, BENTO_ATOMIC_NOREPLACE, &err);
	ok(rc == -BENTO_E_EXISTS && strstr(err.msg, "/f.json: already exists") && has(path, "two\n") &&
	   tap_count(dir, NULL) == 1, "atomic: NOREPLACE keeps the existing file, no temporary left: %s", err.msg);

	rc = bento_atomic_open(&a, path, NULL, 0644, &err);
	ok(rc == 0 && a.fd >= 0 && strncmp(a.tmp, dir, strlen(dir)) == 0 && tap_count(dir, NULL) == 2,
	   "atomic: the temporary file is beside its path");
	ok(rc == 0 && bento_atomic_write(&a, "four", 4, &err) == 0 && has(path, "two\n"),
	   "atomic: until commit, readers see the old file");
	ok(rc == 0 && bento_atomic_commit(&a, BENTO_ATOMIC_BATCH, &err) == 0 && has(path, "four") &&
	   tap_count(dir, NULL) == 1 && a.fd == -1 && !a.tmp, "atomic: a batched commit lands it too");

	rc = bento_atomic_open(&a, path, NULL, 0644, &err);
	bento_atomic_abort(&a);
	bento_atomic_abort(&a);
	ok(rc == 0 && has(path, "four") && tap_count(dir, NULL) == 1, "atomic: abort (twice) leaves no trace");

	snprintf(tmpdir, sizeof(tmpdir), "%s/tmp", dir);
	snprintf(sub, sizeof(sub), "%s/g", dir);
	mkdir(tmpdir, 0755);
	rc = bento_atomic_open(&a, sub, tmpdir, 0600, &err);
	ok(rc == 0 && strncmp(a.tmp, tmpdir, strlen(tmpdir)) == 0 && tap_count(tmpdir, NULL) == 1,
	   "atomic: the temporary file in tmpdir");
	ok(rc == 0 && bento_atomic_write(&a, "g", 1, &err) == 0 && bento_atomic_commit(&a, 0, &err) == 0 &&
	   has(sub, "g") && tap_count(tmpdir, NULL) == 0, "atomic: committed from tmpdir to its path");

	snprintf(sub, sizeof(sub), "%s/missing/h", dir);
	rc = bento_write_file_atomic(sub, "h", 1, 0644, 0, &err);
	ok(rc == -ENOENT && strstr(err.msg, "/missing/h: cannot create a temporary file in ") &&
	   strstr(err.msg, "/missing: "), "atomic: a missing directory is named: %s", err.msg);
	ok(bento_rename_noreplace(path, path) == -EEXIST, "rename_noreplace: an existing target is -EEXIST");
	ok(bento_fsync_dir(dir) == 0 && bento_fsync_parent(path) == 0, "fsync of a directory and of a parent");

	unlink(path);
	snprintf(sub, sizeof(sub), "%s/g", dir);
	unlink(sub);
	rmdir(tmpdir);
	rmdir(dir);
}

int main(void)
{
	char dir[] = "/tmp/bento-test-fs.XXXXXX", path[256];
	struct bento_buf b = BENTO_BUF_INIT;
	struct bento_error err;
	uint64_t size = 0;
	int fd = -1, rc;

	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}

	snprintf(path, sizeof(path), "%s/file", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
	ok(fd >= 0 && write(fd, "hello\n", 6) == 6, "setup: a regular file");
	close(fd);
	fd = -1;
	rc = bento_read_file(path, 6, &b, &err);
	ok(rc == 0 && b.len == 6 && strcmp(b.buf, "hello\n") == 0, "read: exactly max bytes is fine");
	rc = bento_read_file(path, 5, &b, &err);
	ok(rc == -BENTO_E_INVALID && strstr(err.msg, "/file: larger than 5 bytes"), "read: one byte over max: %s", err.msg);
	ok(b.len == 0, "read: the buffer is left empty after a refusal");
	rc = bento_open_regular(path, &fd, &size, &err);
	ok(rc == 0 && fd >= 0 && size == 6, "open: a regular file, its size");
	ok(fd >= 0 && !(fcntl(fd, F_GETFL) & O_NONBLOCK), "open: the descriptor is blocking again");
	ok(fd >= 0 && (fcntl(fd, F_GETFD) & FD_CLOEXEC), "open: close-on-exec");
	if (fd >= 0)
		close(fd);

	snprintf(path, sizeof(path), "%s/fifo", dir);
	ok(mkfifo(path, 0644) == 0, "setup: a FIFO nobody writes to");
	rc = bento_read_file(path, 100, &b, &err);
	ok(rc == -BENTO_E_INVALID && strstr(err.msg, "/fifo: not a regular file (a FIFO)"),
	   "a FIFO is refused at once, not waited on: %s", err.msg);
	fd = -1;
	rc = bento_open_regular(path, &fd, NULL, &err);
	ok(rc == -BENTO_E_INVALID && fd == -1, "open: a FIFO is refused, no descriptor handed out");

	rc = bento_read_file(dir, 100, &b, &err);
	ok(rc == -BENTO_E_INVALID && strstr(err.msg, ": not a regular file (a directory)"), "a directory: %s", err.msg);
	rc = bento_read_file("/dev/null", 100, &b, &err);
	ok(rc == -BENTO_E_INVALID && strstr(err.msg, "/dev/null: not a regular file (a character device)"),
	   "a device: %s", err.msg);

	snprintf(path, sizeof(path), "%s/missing", dir);
	rc = bento_read_file(path, 100, &b, &err);
	ok(rc == -ENOENT && strstr(err.msg, "/missing: "), "a missing file: -ENOENT, named: %s", err.msg);
	ok(bento_exit_code(rc) == 4, "a missing file maps to exit 4");

	snprintf(path, sizeof(path), "%s/empty", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
	close(fd);
	rc = bento_read_file(path, 0, &b, &err);
	ok(rc == 0 && b.len == 0 && b.buf[0] == '\0', "an empty file with max 0");
	ok(strcmp(bento_file_kind(S_IFSOCK), "a socket") == 0, "kinds are named");

	atomic_writes();

	bento_buf_release(&b);
	unlink(path);
	snprintf(path, sizeof(path), "%s/fifo", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/file", dir);
	unlink(path);
	rmdir(dir);
	return tap_done();
}
