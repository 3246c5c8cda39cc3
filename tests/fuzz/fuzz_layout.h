/*
 * fuzz_layout.h - for the fuzz targets that read an OCI image layout
 * directory (fuzz_oci_layout, fuzz_image_base): the input as a layout.
 *
 * The input is parts separated by NUL bytes (JSON holds none):
 *
 *   oci-layout NUL index.json [NUL blob1 [NUL blob2 ...]]
 *
 * Each blob k (1..9) is written to blobs/sha256/<its digest>.  So that
 * mutated documents still reach each other, "@Dk" anywhere in index.json
 * or in a blob is replaced by blob k's digest ("sha256:<hex>") and "@Sk"
 * by its size, blob 9 first (a blob names only later ones; a name of
 * itself or of an earlier blob is left as it is).  The seeds use these
 * names, so the fuzzer mutates the JSON, not the hashes.  Blob 0, "@D0"
 * and "@S0", is always there: 1024 zero bytes (an empty tar), to stand
 * for a layer, whose bytes a JSON seed cannot hold.
 */
#ifndef BENTO_FUZZ_LAYOUT_H
#define BENTO_FUZZ_LAYOUT_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "buf.h"
#include "digest.h"

#define FUZZ_BLOBS_MAX 9

static const char zero_tar[1024];

struct fuzz_layout {
	char dir[64];				/* the layout directory */
	char blobs[96];				/* dir/blobs/sha256 */
	struct bento_buf part[FUZZ_BLOBS_MAX + 2];	/* oci-layout, index.json, blobs, substituted */
	size_t n;				/* parts present */
	struct bento_digest digest[FUZZ_BLOBS_MAX + 1];	/* of blob k (0: the empty tar) */
};

/* A directory for the run: in /dev/shm when there is one (no disk syncs). */
static void __attribute__((unused)) fuzz_layout_init(struct fuzz_layout *f, const char *name)
{
	struct stat st;
	const char *base = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) ? "/dev/shm" : "/tmp";

	memset(f, 0, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "%s/%s.XXXXXX", base, name);
	if (!mkdtemp(f->dir))
		abort();
	snprintf(f->blobs, sizeof(f->blobs), "%s/blobs/sha256", f->dir);
	for (size_t i = 0; i < FUZZ_BLOBS_MAX + 2; i++)
		bento_buf_init(&f->part[i]);
	bento_digest_bytes(zero_tar, sizeof(zero_tar), &f->digest[0]);
}

/* Empty the directory (blobs/sha256 and the two files; whatever a run added too). */
static void fuzz_layout_clear(const char *dir, int top)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		char p[512];
		struct stat st;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
			fuzz_layout_clear(p, 0);
			rmdir(p);
		} else {
			unlink(p);
		}
	}
	closedir(d);
	if (!top)
		rmdir(dir);
}

static void __attribute__((unused)) fuzz_layout_remove(struct fuzz_layout *f)
{
	fuzz_layout_clear(f->dir, 1);
	rmdir(f->dir);
	for (size_t i = 0; i < FUZZ_BLOBS_MAX + 2; i++)
		bento_buf_release(&f->part[i]);
}

/* part with every "@Dk"/"@Sk" for k > self (blob numbers) replaced. */
static void subst(struct fuzz_layout *f, const char *p, size_t n, size_t self, struct bento_buf *out)
{
	bento_buf_reset(out);
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '@' && i + 2 < n && (p[i + 1] == 'D' || p[i + 1] == 'S') &&
		    p[i + 2] >= '0' && p[i + 2] <= '9') {
			size_t k = (size_t)(p[i + 2] - '0');

			if (k == 0 || (k > self && k + 1 < f->n)) {
				if (p[i + 1] == 'D') {
					char ds[BENTO_DIGEST_STRLEN];
					bento_digest_str(&f->digest[k], ds);
					bento_buf_adds(out, ds);
				} else {
					bento_buf_addf(out, "%zu", k ? f->part[k + 1].len : sizeof(zero_tar));
				}
				i += 2;
				continue;
			}
		}
		bento_buf_addch(out, p[i]);
	}
}

static void write_file(const char *path, const void *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0 || (n && write(fd, p, n) != (ssize_t)n))
		abort();
	close(fd);
}

static void write_blob(const struct fuzz_layout *f, const struct bento_digest *d, const void *p,
		       size_t n)
{
	char hex[BENTO_DIGEST_HEXLEN + 1], path[256];

	bento_digest_hex(d, hex);
	snprintf(path, sizeof(path), "%s/%s", f->blobs, hex);
	write_file(path, p, n);
}

/* Write the layout the input describes (replacing the last one). */
static void __attribute__((unused)) fuzz_layout_write(struct fuzz_layout *f, const uint8_t *data,
						      size_t size)
{
	const char *p = (const char *)data, *e = p + size;
	const char *start[FUZZ_BLOBS_MAX + 2];
	size_t len[FUZZ_BLOBS_MAX + 2];
	char path[256];

	fuzz_layout_clear(f->dir, 1);
	f->n = 0;
	while (f->n < FUZZ_BLOBS_MAX + 2) {
		const char *z = memchr(p, '\0', (size_t)(e - p));

		start[f->n] = p;
		len[f->n] = (size_t)((z ? z : e) - p);
		f->n++;
		if (!z)
			break;
		p = z + 1;
	}
	/* blobs from the last: each may name later ones */
	for (size_t i = f->n; i-- > 0;) {
		subst(f, start[i], len[i], i >= 2 ? i - 1 : 0, &f->part[i]);
		if (i >= 2)
			bento_digest_bytes(f->part[i].buf, f->part[i].len, &f->digest[i - 1]);
	}
	if (mkdir(f->dir, 0755) < 0 && errno != EEXIST)
		abort();
	snprintf(path, sizeof(path), "%s/blobs", f->dir);
	mkdir(path, 0755);
	mkdir(f->blobs, 0755);
	snprintf(path, sizeof(path), "%s/oci-layout", f->dir);
	write_file(path, f->part[0].buf, f->part[0].len);
	if (f->n > 1) {
		snprintf(path, sizeof(path), "%s/index.json", f->dir);
		write_file(path, f->part[1].buf, f->part[1].len);
	}
	write_blob(f, &f->digest[0], zero_tar, sizeof(zero_tar));
	for (size_t i = 2; i < f->n; i++)
		write_blob(f, &f->digest[i - 1], f->part[i].buf, f->part[i].len);
}

/* For seeds: parts joined by NUL bytes (BENTO_FUZZ_SEEDS). */
static void __attribute__((unused)) fuzz_layout_seed(const char *dir, const char *name,
						     const char *const *parts, size_t n)
{
	char path[4096];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (!(fp = fopen(path, "wb")))
		abort();
	for (size_t i = 0; i < n; i++) {
		if (i)
			fputc('\0', fp);
		fputs(parts[i], fp);
	}
	if (fclose(fp) != 0)
		abort();
}

#endif
