/*
 * tarview FILE - bento's view of an archive, for the differential tests
 * (tests/cli/fixtures/tardiff.py): every entry lib/archive_read.c's reader
 * gives, one line each,
 *
 *   f MODE SIZE sha256:HEX PATH      a regular file (MODE in octal)
 *   d MODE - - PATH                  a directory
 *
 * and exit 0 when the reader reached the end of the archive; else the
 * reader's message on stderr and exit 3 (refused) or 1.  Not a test itself.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "archive.h"
#include "digest.h"

int main(int argc, char **argv)
{
	struct bento_archive_reader *r = NULL;
	struct bento_archive_entry e;
	struct bento_error err = { 0 };
	static char buf[1 << 20];
	int fd, rc;

	if (argc != 2) {
		fprintf(stderr, "usage: tarview FILE\n");
		return 2;
	}
	if ((fd = open(argv[1], O_RDONLY)) < 0) {
		perror(argv[1]);
		return 1;
	}
	if ((rc = bento_archive_reader_open(fd, argv[1], &r, &err)) == 0) {
		while ((rc = bento_archive_next(r, &e, &err)) == 1) {
			struct bento_hasher *h;
			struct bento_digest d;
			char ds[BENTO_DIGEST_STRLEN];
			ssize_t k;

			if (e.type == BENTO_ENTRY_DIR) {
				printf("d %04o - - %s\n", e.mode, e.path);
				continue;
			}
			h = bento_hasher_new();
			while ((k = bento_archive_read(r, buf, sizeof(buf), &err)) > 0)
				bento_hasher_update(h, buf, (size_t)k);
			bento_hasher_final(h, &d);
			bento_hasher_free(h);
			if (k < 0) {
				rc = (int)k;
				break;
			}
			bento_digest_str(&d, ds);
			printf("f %04o %llu %s %s\n", e.mode, (unsigned long long)e.size, ds, e.path);
		}
	}
	bento_archive_reader_free(r);
	close(fd);
	if (rc < 0) {
		fprintf(stderr, "tarview: %s\n", err.msg);
		return bento_exit_code(rc);
	}
	return 0;
}
