/* Unit tests for fs.c: reading files that may be FIFOs, devices or too big. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "fs.h"
#include "tap.h"

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

	bento_buf_release(&b);
	unlink(path);
	snprintf(path, sizeof(path), "%s/fifo", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/file", dir);
	unlink(path);
	rmdir(dir);
	return tap_done();
}
