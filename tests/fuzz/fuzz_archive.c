/* libFuzzer target: reading any byte stream as an archive must never crash. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/mman.h>

#include "archive.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bento_archive_reader *r = NULL;
	struct bento_archive_entry e;
	struct bento_error err;
	char buf[4096];
	int fd = memfd_create("fuzz", 0);

	if (fd < 0 || write(fd, data, size) != (ssize_t)size || lseek(fd, 0, SEEK_SET) != 0)
		goto out;
	if (bento_archive_reader_open(fd, "fuzz", &r, &err) == 0)
		while (bento_archive_next(r, &e, &err) == 1)
			while (bento_archive_read(r, buf, sizeof(buf), &err) > 0)
				;
out:
	bento_archive_reader_free(r);
	if (fd >= 0)
		close(fd);
	return 0;
}
