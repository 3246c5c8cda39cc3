/*
 * libFuzzer target: reading any byte stream as an archive must never crash,
 * and an archive bento's reader accepts must read the same with libarchive
 * (bsdtar's library): the same entries in the same order, each with the
 * same path, type, mode, size and bytes.  A difference aborts: that is an
 * archive bento verifies and another reader extracts differently
 * (bento-archive(5), "Accepted headers").  GNU tar and Python's tarfile are
 * checked over this target's corpus by `make fuzz-differential`.
 */
#include <locale.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#include <archive.h>
#include <archive_entry.h>

#include "archive.h"
#include "digest.h"

enum { MAX_ENTRIES = 256, ORACLE_MAX = 16 << 20 };

struct seen {
	char path[4097];
	enum bento_entry_type type;
	unsigned mode;
	uint64_t size;
	struct bento_digest d;
};

static struct seen *want;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	setlocale(LC_ALL, "C.UTF-8");
	want = calloc(MAX_ENTRIES, sizeof(*want));
	return want ? 0 : -1;
}

static void differ(const char *what, size_t i)
{
	fprintf(stderr, "fuzz_archive: bento and libarchive disagree on entry %zu: %s\n", i, what);
	abort();
}

/* libarchive's view of data against the n entries bento accepted. */
static void oracle(const uint8_t *data, size_t size, size_t n)
{
	struct archive *a = archive_read_new();
	struct archive_entry *ae;
	static char buf[65536];
	size_t i = 0;
	int ar;

	archive_read_support_format_tar(a);
	archive_read_support_filter_gzip(a);
	archive_read_support_filter_zstd(a);
	if (archive_read_open_memory(a, data, size) != ARCHIVE_OK)
		differ(archive_error_string(a), 0);
	while ((ar = archive_read_next_header(a, &ae)) == ARCHIVE_OK) {
		const char *p = archive_entry_pathname_utf8(ae);
		struct bento_hasher *h;
		struct bento_digest d;
		char norm[4097];
		size_t len;
		la_ssize_t k;

		if (i >= n)
			differ("libarchive has more entries", i);
		if (!p)
			differ("no UTF-8 path", i);
		snprintf(norm, sizeof(norm), "%s", strncmp(p, "./", 2) == 0 ? p + 2 : p);
		len = strlen(norm);
		if (want[i].type == BENTO_ENTRY_DIR && len > 1 && norm[len - 1] == '/')
			norm[len - 1] = '\0';
		if (strcmp(norm, want[i].path))
			differ("path", i);
		if ((archive_entry_filetype(ae) == AE_IFDIR) != (want[i].type == BENTO_ENTRY_DIR) ||
		    (want[i].type == BENTO_ENTRY_FILE && archive_entry_filetype(ae) != AE_IFREG))
			differ("type", i);
		if ((unsigned)archive_entry_perm(ae) != want[i].mode)
			differ("mode", i);
		if (want[i].type == BENTO_ENTRY_FILE &&
		    (!archive_entry_size_is_set(ae) || (uint64_t)archive_entry_size(ae) != want[i].size))
			differ("size", i);
		if (archive_entry_hardlink(ae) || archive_entry_symlink(ae) ||
		    archive_entry_sparse_count(ae))
			differ("link or sparse", i);
		h = bento_hasher_new();
		while ((k = archive_read_data(a, buf, sizeof(buf))) > 0)
			bento_hasher_update(h, buf, (size_t)k);
		bento_hasher_final(h, &d);
		bento_hasher_free(h);
		if (k < 0)
			differ(archive_error_string(a), i);
		if (want[i].type == BENTO_ENTRY_FILE && !bento_digest_eq(&d, &want[i].d))
			differ("data", i);
		i++;
	}
	if (ar != ARCHIVE_EOF)
		differ(archive_error_string(a), i);
	if (i != n)
		differ("libarchive has fewer entries", i);
	archive_read_free(a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bento_archive_reader *r = NULL;
	struct bento_archive_entry e;
	struct bento_error err;
	static char buf[65536];
	uint64_t total = 0;
	size_t n = 0;
	int fd = memfd_create("fuzz", 0), rc = -1;
	bool complete = true;

	if (fd < 0 || write(fd, data, size) != (ssize_t)size || lseek(fd, 0, SEEK_SET) != 0)
		goto out;
	if (bento_archive_reader_open(fd, "fuzz", &r, &err) == 0) {
		while ((rc = bento_archive_next(r, &e, &err)) == 1) {
			struct bento_hasher *h = bento_hasher_new();
			ssize_t k;

			if (n < MAX_ENTRIES) {
				snprintf(want[n].path, sizeof(want[n].path), "%s", e.path);
				want[n].type = e.type;
				want[n].mode = e.mode;
				want[n].size = e.size;
			} else {
				complete = false;
			}
			while ((k = bento_archive_read(r, buf, sizeof(buf), &err)) > 0)
				bento_hasher_update(h, buf, (size_t)k);
			if (n < MAX_ENTRIES)
				bento_hasher_final(h, &want[n].d);
			bento_hasher_free(h);
			if (k < 0) {
				rc = (int)k;
				break;
			}
			total += e.size;
			n++;
		}
	}
	/* Accepted, and small enough to read twice: libarchive must agree. */
	if (rc == 0 && complete && total <= ORACLE_MAX)
		oracle(data, size, n);
out:
	bento_archive_reader_free(r);
	if (fd >= 0)
		close(fd);
	return 0;
}
