/* Unit tests: the OCI mapping - layer plan, layer bytes, source, cache, manifest, unpack. */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "archive.h"
#include "build.h"
#include "cjson.h"
#include "fixture.h"
#include "oci.h"
#include "store.h"
#include "tap.h"

#define CREATED 1700000000
#define BIG_SIZE ((17u << 20) + 123)

static char *base;

static int chmod_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st, (void)f;
	if (flag == FTW_D)
		chmod(p, 0755);
	return 0;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st, (void)flag, (void)f;
	remove(p);
	return 0;
}

static void rm_rf(const char *dir)
{
	nftw(dir, chmod_one, 16, FTW_PHYS);
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static int buf_sink(void *ctx, const void *p, size_t n, struct bento_error *err)
{
	(void)err;
	bento_buf_add(ctx, p, n);
	return 0;
}

static int raw_sink(void *ctx, const void *p, size_t n)
{
	bento_buf_add(ctx, p, n);
	return 0;
}

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void make_context(const char *ctx)
{
	char *p;
	unsigned char *big = malloc(BIG_SIZE);
	uint32_t x = 12345;

	mkdir(ctx, 0755);
	p = path_in(ctx, "lib");
	mkdir(p, 0755);
	free(p);
	p = path_in(ctx, "models");
	mkdir(p, 0755);
	free(p);
	p = path_in(ctx, "models/clf");
	mkdir(p, 0755);
	free(p);
	p = path_in(ctx, "run.sh");
	write_file(p, "#!/bin/sh\necho hi\n", 18);
	chmod(p, 0755);
	free(p);
	p = path_in(ctx, "lib/util.py");
	write_file(p, "def answer():\n    return 42\n", 28);
	free(p);
	p = path_in(ctx, "requirements.txt");
	write_file(p, "# nothing pinned\n", 17);
	free(p);
	p = path_in(ctx, "models/clf/config.json");
	write_file(p, "{\"dim\": 16}\n", 12);
	free(p);
	for (size_t i = 0; i < BIG_SIZE; i++) {
		x = x * 1103515245u + 12345u;
		big[i] = (unsigned char)(x >> 16);
	}
	p = path_in(ctx, "models/clf/big.bin");
	write_file(p, big, BIG_SIZE);
	free(p);
	free(big);
	p = path_in(ctx, "bentofile.yaml");
	{
		const char *y = "name: demo\nservice: ./run.sh\nmodels:\n  - name: clf\n    path: models/clf\n";
		write_file(p, y, strlen(y));
	}
	free(p);
}

/* A ustar header by hand (for names lib/archive.c refuses to write). */
static void raw_entry(struct bento_buf *b, const char *name, char type, const char *data, size_t n)
{
	unsigned char h[512] = { 0 };
	unsigned sum = 0;
	size_t pad = (512 - n % 512) % 512;
	static const char zeros[512];

	snprintf((char *)h, 100, "%s", name);
	snprintf((char *)h + 100, 8, "%07o", type == '5' ? 0755 : 0644);
	snprintf((char *)h + 108, 8, "%07o", 0);
	snprintf((char *)h + 116, 8, "%07o", 0);
	snprintf((char *)h + 124, 12, "%011llo", (unsigned long long)n & 077777777777ULL);
	snprintf((char *)h + 136, 12, "%011o", 0);
	memset(h + 148, ' ', 8);
	h[156] = (unsigned char)type;
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	for (size_t i = 0; i < 512; i++)
		sum += h[i];
	snprintf((char *)h + 148, 8, "%06o", sum);
	bento_buf_add(b, h, 512);
	bento_buf_add(b, data, n);
	bento_buf_add(b, zeros, pad);
}

static void raw_end(struct bento_buf *b)
{
	static const char zeros[1024];
	bento_buf_add(b, zeros, 1024);
}

/* Unpack bytes into a fresh stage of s; returns the rc, message in *err. */
/* Fix up the checksum of a ustar header block after editing it. */
static void rechecksum(unsigned char *h)
{
	unsigned sum = 0;

	memset(h + 148, ' ', 8);
	for (size_t i = 0; i < 512; i++)
		sum += h[i];
	snprintf((char *)h + 148, 8, "%06o", sum);
}

/* Offset of the 512-byte header block whose name field is name, or -1. */
static long find_header(const struct bento_buf *b, const char *name)
{
	for (size_t off = 0; off + 512 <= b->len; off += 512)
		if (strncmp(b->buf + off, name, 100) == 0 && b->buf[off + 257] == 'u')
			return (long)off;
	return -1;
}

/*
 * Feed len bytes to a reader for layer l in chunk-sized pieces; *fed
 * (optional) gets the digest of what went into the reader's hasher.
 * finish gets verified; with commit the stage goes into blobs/.
 */
static int unpack_bytes(struct bento_store *s, const struct bento_layer *l, const void *p,
			size_t len, size_t chunk, const struct bento_digest *verified, int commit,
			struct bento_digest *fed, struct bento_error *err)
{
	struct bento_blob_stage *st = bento_blob_stage_new(s);
	struct bento_layer_reader *r;
	struct bento_digest d;
	const char *c = p;
	int rc;

	bento_error_clear(err);
	if ((rc = bento_layer_reader_new(s, st, l, &r, err)))
		goto out;
	for (size_t off = 0; off < len && !rc; off += chunk)
		rc = bento_layer_reader_feed(r, c + off, len - off < chunk ? len - off : chunk, err);
	bento_hasher_final(bento_layer_reader_hasher(r), &d);
	if (fed)
		*fed = d;
	if (!rc)
		rc = bento_layer_reader_finish(r, verified, err);
	bento_layer_reader_free(r);
	if (!rc && commit)
		rc = bento_store_commit(s, st, NULL, 0, err);
out:
	bento_blob_stage_free(st);
	return rc;
}

/* Files in dir whose name starts with prefix. */
/* Entries named prefix* in dir and its subdirectories (tmp/XX/ staging). */
static int count_prefixed(const char *dir, const char *prefix)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	while (d && (de = readdir(d))) {
		if (strncmp(de->d_name, prefix, strlen(prefix)) == 0) {
			n++;
		} else if (de->d_type == DT_DIR && strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			char *sub = path_in(dir, de->d_name);
			n += count_prefixed(sub, prefix);
			free(sub);
		}
	}
	if (d)
		closedir(d);
	return n;
}

static void test_cap(void)
{
	struct bento_manifest m = { 0 };
	struct bento_model md = { 0 };
	struct bento_file files[72];
	char names[72][16];
	struct bento_layer *l;
	size_t n, model_files = 0, model_layers = 0;

	/* 70 big files + 2 small ones in one model, no code: 71 layers before the cap. */
	for (int i = 0; i < 72; i++) {
		snprintf(names[i], sizeof(names[i]), "f%02d", i);
		files[i] = (struct bento_file){ names[i], i < 2 ? 10 : BENTO_LAYER_BIG + (uint64_t)i,
						0644, { { 0 } } };
	}
	md.name = "m";
	md.files = files;
	md.n_files = 72;
	m.models = &md;
	m.n_models = 1;
	bento_layers_plan(&m, &l, &n);
	is_int((long long)n, BENTO_LAYERS_MAX, "cap: 71 layers become %d", BENTO_LAYERS_MAX);
	for (size_t i = 0; i < n; i++) {
		if (l[i].role == BENTO_LAYER_MODEL) {
			model_layers++;
			model_files = l[i].n_files;
		}
	}
	is_int((long long)model_layers, 1, "cap: one model layer");
	is_int((long long)model_files, 2 + 7, "cap: it holds the 2 small and the 7 smallest big files");
	ok(n && l[0].role == BENTO_LAYER_MODEL && strcmp(l[1].title, "models/m/f09") == 0,
	   "cap: model layer first, then the big files not merged (f09 the smallest left)");
	bento_layers_free(l, n);

	/* Only big files: the first merged one becomes the model layer. */
	md.files = files + 2;
	md.n_files = 70;
	bento_layers_plan(&m, &l, &n);
	is_int((long long)n, BENTO_LAYERS_MAX, "cap without small files: %d layers", BENTO_LAYERS_MAX);
	ok(l[0].role == BENTO_LAYER_MODEL && strcmp(l[0].title, "models/m") == 0 &&
	   l[0].n_files == 7 && strcmp(l[0].files[0].path, "models/m/f02") == 0,
	   "cap without small files: a model layer of the 7 smallest");
	bento_layers_free(l, n);
}

int main(void)
{
	char tmpl[] = "/tmp/test_oci.XXXXXX";
	struct bento_error err;
	struct bento_store *s = NULL, *s2 = NULL, *s3 = NULL;
	struct bento_build_opts bo = { 0 };
	struct bento_build_result br = { 0 };
	struct bento_buf mjson = BENTO_BUF_INIT;
	struct bento_manifest *m = NULL;
	struct bento_layer *l = NULL, *l2 = NULL, *ml = NULL;
	size_t n = 0, n2 = 0, nml = 0;
	struct bento_buf bytes[3] = { BENTO_BUF_INIT, BENTO_BUF_INIT, BENTO_BUF_INIT };
	char *ctx, *p;
	int rc;

	base = mkdtemp(tmpl);
	if (!base)
		return 1;
	unsetenv("BENTO_HOME");
	setenv("SOURCE_DATE_EPOCH", "1700000000", 1);
	ctx = path_in(base, "ctx");
	make_context(ctx);

	test_cap();

	p = path_in(base, "store");
	rc = bento_store_open(p, &s, &err);
	free(p);
	if (!ok(rc == 0, "store opens")) {
		printf("# %s\n", err.msg);
		return 1;
	}
	bo.context = ctx;
	rc = bento_build(s, &bo, &br, &err);
	if (!ok(rc == 0, "bento builds")) {
		printf("# %s\n", err.msg);
		return 1;
	}
	rc = bento_store_manifest(s, BENTO_KIND_BENTO, &br.digest, &mjson, &err);
	if (rc == 0)
		rc = bento_manifest_parse(mjson.buf, mjson.len, "bento.json", &m, &err);
	if (!ok(rc == 0, "manifest reads back"))
		return 1;

	/* ---- plan ---- */
	bento_layers_plan(m, &l, &n);
	if (!ok(n == 3, "plan: three layers (%zu)", n))
		return 1;
	is_int(l[0].role, BENTO_LAYER_CODE, "plan: code first");
	is_str(l[0].title, "code", "plan: code title");
	ok(l[0].n_files >= 3 && strcmp(l[0].files[0].path, "env/requirements.txt") == 0,
	   "plan: code layer has env/ and src/ files (%zu)", l[0].n_files);
	is_int((long long)l[0].mtime, CREATED, "plan: code mtime is created");
	is_str(l[1].title, "models/clf", "plan: small model files layer");
	is_int(l[1].role, BENTO_LAYER_MODEL, "plan: model role");
	ok(l[1].n_files == 1 && strcmp(l[1].files[0].path, "models/clf/config.json") == 0,
	   "plan: model layer holds config.json only");
	is_str(l[2].title, "models/clf/big.bin", "plan: big file its own layer");
	is_int(l[2].role, BENTO_LAYER_MODEL_FILE, "plan: model-file role");
	is_int((long long)l[2].mtime, 0, "plan: model layers have mtime 0");
	is_str(json_string_value(json_object_get(l[2].annotations, BENTO_ANN_ROLE)), "model-file",
	       "plan: role annotation");
	is_str(json_string_value(json_object_get(l[2].annotations, BENTO_ANN_MODEL)), "clf",
	       "plan: model annotation");
	is_str(json_string_value(json_object_get(l[0].annotations, BENTO_ANN_TITLE)), "code",
	       "plan: title annotation");
	ok(!json_object_get(l[0].annotations, BENTO_ANN_MODEL), "plan: no model annotation on code");
	is_int(bento_layer_present(s, &l[2]), 1, "present: the building store has the files");

	/* ---- bytes ---- */
	for (size_t i = 0; i < n; i++) {
		struct bento_buf again = BENTO_BUF_INIT;
		struct bento_digest d;

		rc = bento_layer_digest(s, &l[i], &err);
		ok(rc == 0 && l[i].have_digest, "layer %zu: digested", i);
		rc = bento_layer_write(s, &l[i], buf_sink, &bytes[i], &err);
		ok(rc == 0, "layer %zu: written", i);
		bento_layer_write(s, &l[i], buf_sink, &again, &err);
		ok(again.len == bytes[i].len && memcmp(again.buf, bytes[i].buf, again.len) == 0,
		   "layer %zu: two passes give the same bytes", i);
		bento_digest_bytes(bytes[i].buf, bytes[i].len, &d);
		ok(bento_digest_eq(&d, &l[i].digest) && l[i].size == bytes[i].len,
		   "layer %zu: digest and size are those of the bytes", i);
		bento_buf_release(&again);
	}
	ok(bytes[2].len > BIG_SIZE && bytes[2].len < BIG_SIZE + 4096, "big layer is about the file's size");

	/* Into a file, the kernel copying the data: the same bytes, and the digest kept. */
	for (size_t i = 0; i < n; i++) {
		char *path = bento_xasprintf("%s/layer%zu", base, i);
		int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
		struct bento_buf got = BENTO_BUF_INIT;
		struct bento_digest keep = l[i].digest;
		char chunk[4096];
		ssize_t k;

		rc = bento_layer_write_fd(s, &l[i], fd, &err);
		ok(rc == 0 && bento_digest_eq(&keep, &l[i].digest), "layer %zu: write_fd: ok", i);
		lseek(fd, 0, SEEK_SET);
		while ((k = read(fd, chunk, sizeof(chunk))) > 0)
			bento_buf_add(&got, chunk, (size_t)k);
		ok(got.len == bytes[i].len && memcmp(got.buf, bytes[i].buf, got.len) == 0,
		   "layer %zu: write_fd gives the bytes of bento_layer_write", i);
		is_int(bento_layer_digest_cached(s, &l[i], &err), 1, "layer %zu: the cache knows it", i);
		close(fd);
		unlink(path);
		free(path);
		bento_buf_release(&got);
	}

	/* The same bytes as lib/archive.c writing the whole stream in one go. */
	{
		struct bento_buf whole = BENTO_BUF_INIT;
		struct bento_archive_writer *w;
		int fd = -1;

		rc = bento_archive_writer_open_cb(raw_sink, &whole, BENTO_COMP_NONE, 0, &w, &err);
		if (rc == 0) {
			bento_archive_write_dir(w, "bento", &err);
			bento_archive_write_dir(w, "bento/models", &err);
			bento_archive_write_dir(w, "bento/models/clf", &err);
			bento_blob_open(s, &l[2].files[0].file->digest, &fd, &err);
			rc = bento_archive_write_fd(w, "bento/models/clf/big.bin", 0644, fd, BIG_SIZE, &err);
			close(fd);
			if (rc == 0)
				rc = bento_archive_writer_close(w, &err);
			bento_archive_writer_free(w);
		}
		ok(rc == 0 && whole.len == bytes[2].len &&
		   memcmp(whole.buf, bytes[2].buf, whole.len) == 0,
		   "big layer equals the archive writer's one-pass stream");
		bento_buf_release(&whole);
	}

	/* ---- tar -tvf ---- */
	{
		char *tarf = path_in(base, "code.tar"), cmd[512], line[512];
		int seen_src = 0, seen_dir = 0, bad = 0, lines = 0;
		FILE *f;

		write_file(tarf, bytes[0].buf, bytes[0].len);
		snprintf(cmd, sizeof(cmd), "TZ=UTC tar --numeric-owner -tvf %s", tarf);
		f = popen(cmd, "r");
		while (f && fgets(line, sizeof(line), f)) {
			lines++;
			if (!strstr(line, " 0/0 ") || !strstr(line, "2023-11-14 22:13") ||
			    strstr(line, " bento/") == NULL)
				bad++;
			if (strstr(line, "-rwxr-xr-x") && strstr(line, "bento/src/run.sh"))
				seen_src++;
			if (strncmp(line, "drwxr-xr-x", 10) == 0 && strstr(line, " bento/src/\n"))
				seen_dir++;
		}
		ok(f && pclose(f) == 0 && lines >= 6, "tar -tvf lists the code layer (%d lines)", lines);
		is_int(bad, 0, "tar -tvf: every entry is bento/…, 0/0, mtime = created");
		is_int(seen_src, 1, "tar -tvf: run.sh is 0755");
		is_int(seen_dir, 1, "tar -tvf: bento/src/ is a 0755 directory");
		free(tarf);
	}

	/* ---- source at arbitrary offsets ---- */
	{
		struct bento_blob_source src = { 0 };
		unsigned char *buf = malloc(3 << 20);
		int good = 1;
		uint32_t x = 7;

		rc = bento_layer_source(s, &l[2], &src, &err);
		ok(rc == 0 && src.size == bytes[2].len && bento_digest_eq(&src.digest, &l[2].digest),
		   "source: size and digest");
		for (int i = 0; rc == 0 && i < 200; i++) {
			uint64_t off;
			size_t want;
			ssize_t k;

			x = x * 1103515245u + 12345u;
			off = (uint64_t)x % (src.size + 10);
			if (i < 8)
				off = (uint64_t[]){ 0, 511, 512, 1536, 2048 + BIG_SIZE - 1, src.size - 1024,
						    src.size - 1, src.size }[i];
			x = x * 1103515245u + 12345u;
			want = i % 3 == 0 ? (x % 700) + 1 : (x % (3 << 20)) + 1;
			k = src.read(src.ctx, off, buf, want, &err);
			if (off >= src.size) {
				good &= k == 0;
				continue;
			}
			if (k <= 0 || (uint64_t)k > want || off + (uint64_t)k > src.size ||
			    memcmp(buf, bytes[2].buf + off, (size_t)k) != 0) {
				good = 0;
				printf("# offset %llu want %zu got %zd\n", (unsigned long long)off, want, k);
			}
		}
		ok(good, "source: 200 reads at arbitrary offsets equal the stream's slices");
		{
			/* Sequential small reads reassemble the code layer exactly. */
			struct bento_blob_source cs = { 0 };
			struct bento_buf got = BENTO_BUF_INIT;
			ssize_t k;

			bento_layer_source(s, &l[0], &cs, &err);
			while ((k = cs.read(cs.ctx, got.len, buf, 100, &err)) > 0)
				bento_buf_add(&got, buf, (size_t)k);
			ok(k == 0 && got.len == bytes[0].len && memcmp(got.buf, bytes[0].buf, got.len) == 0,
			   "source: 100-byte sequential reads reassemble the code layer");
			bento_buf_release(&got);
			bento_layer_source_release(&cs);
		}
		bento_layer_source_release(&src);
		bento_layer_source_release(&src);
		ok(src.ctx == NULL, "source: release is idempotent");
		free(buf);
	}

	/* ---- the cache ---- */
	{
		char *blob = bento_blob_path(s, &l[2].files[0].file->digest);
		char *moved = bento_xasprintf("%s.away", blob);
		struct bento_blob_source src = { 0 };
		double t0, t1;

		is_int(sql_int(bento_store_root(s), "SELECT count(*) FROM layer_cache"), 3,
		       "cache: one row per layer");
		bento_layers_plan(m, &l2, &n2);
		rename(blob, moved);
		t0 = now();
		rc = bento_layer_digest(s, &l2[2], &err);
		t1 = now();
		ok(rc == 0 && bento_digest_eq(&l2[2].digest, &l[2].digest) && l2[2].size == l[2].size,
		   "cache: digest of a fresh plan comes from the cache with the blob gone (read nothing)");
		ok(t1 - t0 < 0.1, "cache: hit takes %.4f s", t1 - t0);
		rc = bento_layer_source(s, &l2[2], &src, &err);
		ok(rc == 0, "cache: a source opens without the blob");
		if (rc == 0) {
			char b[16];
			rc = (int)src.read(src.ctx, 5000, b, sizeof(b), &err);
			ok(rc == -BENTO_E_NOTFOUND && strstr(err.msg, "models/clf/big.bin"),
			   "source: a missing blob is NOTFOUND naming the file: %s", err.msg);
			bento_layer_source_release(&src);
		}
		rename(moved, blob);
		/* a fresh layer with the cache emptied hashes again, same result */
		sql_int(bento_store_root(s), "DELETE FROM layer_cache");
		bento_layers_free(l2, n2);
		bento_layers_plan(m, &l2, &n2);
		rc = bento_layer_digest(s, &l2[2], &err);
		ok(rc == 0 && bento_digest_eq(&l2[2].digest, &l[2].digest),
		   "cache: emptied, the digest is recomputed identically");
		bento_layers_free(l2, n2);
		free(blob);
		free(moved);
	}

	/* ---- manifest ---- */
	{
		struct bento_buf a = BENTO_BUF_INIT, b = BENTO_BUF_INIT;
		struct bento_layer undone = l[0];
		json_t *j = NULL, *extra = json_pack("{s:s}", "org.example", "x");
		char hex[BENTO_DIGEST_STRLEN];

		rc = bento_artifact_manifest(m, mjson.buf, mjson.len, l, n, NULL, extra, &a, &err);
		ok(rc == 0, "manifest: made");
		bento_artifact_manifest(m, mjson.buf, mjson.len, l, n, NULL, extra, &b, &err);
		ok(a.len == b.len && memcmp(a.buf, b.buf, a.len) == 0, "manifest: deterministic");
		ok(bento_json_is_canonical(a.buf, a.len), "manifest: canonical JSON");
		bento_json_parse(a.buf, a.len, "manifest", &j, &err);
		bento_digest_str(&m->digest, hex);
		ok(j && json_integer_value(json_object_get(j, "schemaVersion")) == 2, "manifest: schemaVersion 2");
		is_str(bento_json_str(j, "mediaType"), OCI_MANIFEST_V1, "manifest: mediaType");
		is_str(bento_json_str(j, "artifactType"), BENTO_ARTIFACT_BUNDLE, "manifest: artifactType");
		is_str(bento_json_str(json_object_get(j, "config"), "mediaType"), BENTO_MEDIATYPE_MANIFEST,
		       "manifest: config media type");
		is_str(bento_json_str(json_object_get(j, "config"), "digest"), hex,
		       "manifest: config digest is the bento digest");
		is_int(json_integer_value(json_object_get(json_object_get(j, "config"), "size")),
		       (long long)mjson.len, "manifest: config size");
		is_int((long long)json_array_size(json_object_get(j, "layers")), 3, "manifest: 3 layers");
		is_str(bento_json_str(json_array_get(json_object_get(j, "layers"), 2), "mediaType"),
		       BENTO_MEDIATYPE_LAYER, "manifest: layer media type");
		is_str(bento_json_str(json_object_get(json_array_get(json_object_get(j, "layers"), 1),
						      "annotations"), BENTO_ANN_TITLE),
		       "models/clf", "manifest: layer title annotation");
		is_str(bento_json_str(json_object_get(j, "annotations"), BENTO_ANN_TITLE), "demo",
		       "manifest: title annotation");
		is_str(bento_json_str(json_object_get(j, "annotations"), BENTO_ANN_DIGEST), hex,
		       "manifest: bento digest annotation");
		is_str(bento_json_str(json_object_get(j, "annotations"), BENTO_ANN_CREATED),
		       "2023-11-14T22:13:20Z", "manifest: created annotation");
		is_str(bento_json_str(json_object_get(j, "annotations"), "org.example"), "x",
		       "manifest: extra annotation");
		ok(!json_object_get(j, "subject"), "manifest: no subject unless given");
		json_decref(j);
		bento_buf_reset(&b);
		rc = bento_artifact_manifest(m, mjson.buf, mjson.len - 1, l, n, NULL, NULL, &b, &err);
		is_int(rc, -BENTO_E_VERIFY, "manifest: config bytes that are not the bento's: VERIFY");
		undone.have_digest = 0;
		rc = bento_artifact_manifest(m, mjson.buf, mjson.len, &undone, 1, NULL, NULL, &b, &err);
		is_int(rc, -BENTO_E_USAGE, "manifest: an undigested layer: USAGE");
		{
			struct bento_oci_desc sub = { .media_type = OCI_MANIFEST_V1, .digest = m->digest, .size = 1234 };
			bento_buf_reset(&b);
			rc = bento_artifact_manifest(m, mjson.buf, mjson.len, l, n, &sub, NULL, &b, &err);
			ok(rc == 0 && strstr(b.buf, "\"subject\":{\"digest\":\"sha256:") &&
			   strstr(b.buf, "\"size\":1234}"), "manifest: subject descriptor");
		}
		json_decref(extra);
		bento_buf_release(&a);
		bento_buf_release(&b);
	}

	/* ---- the model alone ---- */
	{
		struct bento_buf mj = BENTO_BUF_INIT, out = BENTO_BUF_INIT;
		const struct bento_model *md = &m->models[0];

		bento_model_layers_plan(md, &ml, &nml);
		is_int((long long)nml, 2, "model plan: two layers");
		rc = 0;
		for (size_t i = 0; i < nml && !rc; i++)
			rc = bento_layer_digest(s, &ml[i], &err);
		ok(rc == 0 && bento_digest_eq(&ml[0].digest, &l[1].digest) &&
		   bento_digest_eq(&ml[1].digest, &l[2].digest),
		   "model plan: same layer digests as in the bento (registry dedup)");
		rc = bento_store_manifest(s, BENTO_KIND_MODEL, &md->digest, &mj, &err);
		if (rc == 0)
			rc = bento_model_artifact_manifest(md, mj.buf, mj.len, ml, nml, NULL, NULL, &out, &err);
		ok(rc == 0 && strstr(out.buf, "\"artifactType\":\"" BENTO_ARTIFACT_MODEL "\"") &&
		   strstr(out.buf, BENTO_MEDIATYPE_MODEL), "model manifest: artifactType and config type");
		bento_buf_release(&mj);
		bento_buf_release(&out);
	}

	/* ---- unpack into an empty store ---- */
	{
		struct bento_layer *lp = NULL;
		size_t nlp = 0, all = 0;
		int good = 1;

		p = path_in(base, "store2");
		rc = bento_store_open(p, &s2, &err);
		free(p);
		ok(rc == 0, "second store opens");
		is_int(bento_layer_present(s2, &l[0]), 0, "present: empty store lacks the files");
		for (size_t i = 0; i < n; i++) {
			struct bento_digest fed;
			rc = unpack_bytes(s2, &l[i], bytes[i].buf, bytes[i].len, i == 2 ? 1 << 20 : 777,
					  &l[i].digest, 1, &fed, &err);
			ok(rc == 0, "unpack layer %zu: %s", i, rc ? err.msg : "ok");
			ok(bento_digest_eq(&fed, &l[i].digest),
			   "unpack layer %zu: the reader's hasher has the layer's digest", i);
		}
		for (size_t i = 0; i < n; i++) {
			for (size_t k = 0; k < l[i].n_files; k++) {
				const struct bento_file *f = l[i].files[k].file;
				struct bento_digest d;
				char *bp = bento_blob_path(s2, &f->digest);
				if (bento_digest_path(bp, &d, NULL, NULL) || !bento_digest_eq(&d, &f->digest))
					good = 0;
				all++;
				free(bp);
			}
		}
		ok(good && all >= 5, "unpack: the second store has every blob (%zu), content verified", all);
		is_int(bento_layer_present(s2, &l[2]), 1, "present: after unpacking");
		/* The pulled layers' digests are cached: a push from s2 hashes nothing. */
		bento_layers_plan(m, &lp, &nlp);
		rc = 1;
		for (size_t i = 0; i < nlp && rc == 1; i++)
			if ((rc = bento_layer_digest_cached(s2, &lp[i], &err)) == 1 &&
			    !bento_digest_eq(&lp[i].digest, &l[i].digest))
				rc = 0;
		is_int(rc, 1, "unpack: the store's layer cache knows every pulled layer's digest");
		bento_layers_free(lp, nlp);

		/* Again into s2: files present are hashed, not written. */
		rc = unpack_bytes(s2, &l[2], bytes[2].buf, bytes[2].len, 65536, NULL, 1, NULL, &err);
		ok(rc == 0, "unpack again over present blobs: %s", rc ? err.msg : "ok");

		p = path_in(base, "store3");
		bento_store_open(p, &s3, &err);
		free(p);
		/* A flipped byte in file data, into a third, empty store, and over a present blob. */
		{
			struct bento_buf bad = BENTO_BUF_INIT;

			bento_buf_add(&bad, bytes[2].buf, bytes[2].len);
			bad.buf[2048 + 1000000] ^= 1;
			rc = unpack_bytes(s3, &l[2], bad.buf, bad.len, 65536, NULL, 1, NULL, &err);
			ok(rc == -BENTO_E_VERIFY && strstr(err.msg, "models/clf/big.bin") &&
			   strstr(err.msg, "digest mismatch"),
			   "flipped byte: VERIFY naming the file: %s", err.msg);
			ok(!bento_blob_has(s3, &l[2].files[0].file->digest), "flipped byte: nothing stored");
			rc = unpack_bytes(s2, &l[2], bad.buf, bad.len, 65536, NULL, 1, NULL, &err);
			ok(rc == -BENTO_E_VERIFY && strstr(err.msg, "models/clf/big.bin"),
			   "flipped byte over a present blob: VERIFY too");
			rc = unpack_bytes(s3, &l[1], bytes[1].buf, bytes[1].len - 1100, 512, NULL, 1, NULL, &err);
			ok(rc == -BENTO_E_VERIFY && strstr(err.msg, "truncated"),
			   "truncated layer: VERIFY: %s", err.msg);
			rc = unpack_bytes(s3, &l[1], "", 0, 512, NULL, 1, NULL, &err);
			ok(rc == -BENTO_E_VERIFY && strstr(err.msg, "truncated"),
			   "empty input: VERIFY: %s", err.msg);
			bento_buf_release(&bad);
		}

		/* Hostile entries where bento/models should come, after the canonical "bento/". */
		{
			static const struct {
				const char *name;
				char type;
				int code;
				const char *want;
			} cases[] = {
				{ "bento/src/evil.py", '0', -BENTO_E_UNSAFE, "not listed" },
				{ "bento/../x", '0', -BENTO_E_UNSAFE, "'..'" },
				{ "../bento/src/run.sh", '0', -BENTO_E_UNSAFE, "'..'" },
				{ "etc/passwd", '0', -BENTO_E_UNSAFE, "not under bento/" },
				{ "/bento/src/run.sh", '0', -BENTO_E_UNSAFE, "absolute" },
				{ "bento/zzz", '5', -BENTO_E_UNSAFE, "directory not in the manifest" },
				{ "bento/src/run.sh", '2', -BENTO_E_UNSAFE, "symbolic link" },
				{ "bento/", '5', -BENTO_E_UNSAFE, "delivered twice" },
				{ "bento/models/clf/", '5', -BENTO_E_VERIFY, "out of order" },
			};
			ok(find_header(&bytes[1], "bento/") == 0 && bytes[1].buf[156] == '5' &&
			   find_header(&bytes[1], "bento/models/") == 512,
			   "the model layer starts with the 512-byte headers of bento/ and bento/models/");
			for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
				struct bento_buf t = BENTO_BUF_INIT;

				bento_buf_add(&t, bytes[1].buf, 512);
				raw_entry(&t, cases[i].name, cases[i].type, "x", cases[i].type == '0');
				raw_end(&t);
				rc = unpack_bytes(s3, &l[1], t.buf, t.len, 100, NULL, 1, NULL, &err);
				ok(rc == cases[i].code && strstr(err.msg, cases[i].want),
				   "hostile entry %s: refused: %s", cases[i].name, err.msg);
				bento_buf_release(&t);
			}
		}
		/* Entries in the wrong place, or not bento's bytes. */
		{
			struct bento_buf t = BENTO_BUF_INIT;
			long cfg = find_header(&bytes[1], "bento/models/clf/config.json");
			long req = find_header(&bytes[0], "bento/env/requirements.txt");
			long run = find_header(&bytes[0], "bento/src/run.sh");

			ok(cfg > 0 && req > 0 && run > 0, "headers found: config.json %ld, requirements %ld, run.sh %ld",
			   cfg, req, run);
			/* hand-made entries after the canonical bytes up to some header */
			const struct {
				size_t layer, keep;
				const char *name, *data;
				int code;
				const char *want, *want2, *what;
			} sp[] = {
				{ 1, bytes[1].len - 1024, "bento/models/clf/extra.bin", "x", -BENTO_E_UNSAFE,
				  "extra.bin", "not listed", "extra entry after a good layer: UNSAFE" },
				{ 1, (size_t)cfg, "bento/models/clf/config.json", "{}", -BENTO_E_VERIFY,
				  "size mismatch", "config.json", "listed file with the wrong size: VERIFY" },
				{ 0, (size_t)run, "bento/src/run.sh", "#!/bin/sh\necho hi\n", -BENTO_E_VERIFY,
				  "mode mismatch", "run.sh", "run.sh without its exec bit: VERIFY" },
				{ 0, (size_t)req, "bento/src/lib/util.py", "def answer():\n    return 42\n",
				  -BENTO_E_VERIFY, "out of order", "requirements.txt",
				  "a file out of order: VERIFY naming the one expected" },
			};
			for (size_t i = 0; i < sizeof(sp) / sizeof(sp[0]); i++) {
				bento_buf_reset(&t);
				bento_buf_add(&t, bytes[sp[i].layer].buf, sp[i].keep);
				raw_entry(&t, sp[i].name, '0', sp[i].data, strlen(sp[i].data));
				raw_end(&t);
				rc = unpack_bytes(s3, &l[sp[i].layer], t.buf, t.len, 1000, NULL, 1, NULL, &err);
				ok(rc == sp[i].code && strstr(err.msg, sp[i].want) && strstr(err.msg, sp[i].want2),
				   "%s: %s", sp[i].what, err.msg);
			}
			/* the same file again */
			bento_buf_reset(&t);
			bento_buf_add(&t, bytes[1].buf, bytes[1].len - 1024);
			bento_buf_add(&t, bytes[1].buf + cfg, 1024);
			raw_end(&t);
			rc = unpack_bytes(s3, &l[1], t.buf, t.len, 1000, NULL, 1, NULL, &err);
			ok(rc == -BENTO_E_UNSAFE && strstr(err.msg, "delivered twice"),
			   "a file delivered twice: UNSAFE: %s", err.msg);
			/* the right entry, another mtime: not bento's bytes */
			bento_buf_reset(&t);
			bento_buf_add(&t, bytes[1].buf, bytes[1].len);
			memcpy(t.buf + cfg + 136, "00000000001", 11);
			rechecksum((unsigned char *)t.buf + cfg);
			rc = unpack_bytes(s3, &l[1], t.buf, t.len, 1000, NULL, 1, NULL, &err);
			ok(rc == -BENTO_E_VERIFY && strstr(err.msg, "config.json") &&
			   strstr(err.msg, "not bento's") && strstr(err.msg, "byte 146"),
			   "another mtime: VERIFY, the byte named: %s", err.msg);
			/* padding that is not zero */
			bento_buf_reset(&t);
			bento_buf_add(&t, bytes[1].buf, bytes[1].len);
			t.buf[cfg + 512 + 12 + 100] = 'x';
			rc = unpack_bytes(s3, &l[1], t.buf, t.len, 1000, NULL, 1, NULL, &err);
			ok(rc == -BENTO_E_VERIFY && strstr(err.msg, "padding"),
			   "padding that is not zero: VERIFY: %s", err.msg);
			/* a byte past the end */
			bento_buf_reset(&t);
			bento_buf_add(&t, bytes[1].buf, bytes[1].len);
			bento_buf_addch(&t, 'x');
			rc = unpack_bytes(s3, &l[1], t.buf, t.len, 1000, NULL, 1, NULL, &err);
			ok(rc == -BENTO_E_VERIFY && strstr(err.msg, "more than"),
			   "a byte past the end: VERIFY: %s", err.msg);
			/* a zero where the end-of-archive marker should be... and then not */
			bento_buf_reset(&t);
			bento_buf_add(&t, bytes[1].buf, bytes[1].len);
			t.buf[t.len - 600] = 1;
			rc = unpack_bytes(s3, &l[1], t.buf, t.len, 1000, NULL, 1, NULL, &err);
			ok(rc == -BENTO_E_VERIFY && strstr(err.msg, "end-of-archive"),
			   "a damaged end-of-archive marker: VERIFY: %s", err.msg);
			/* compressed, and garbage */
			bento_buf_reset(&t);
			bento_buf_add(&t, "\x1f\x8b\x08\x00", 4);
			bento_buf_add(&t, bytes[1].buf, 2000);
			rc = unpack_bytes(s3, &l[1], t.buf, t.len, 1000, NULL, 1, NULL, &err);
			ok(rc == -BENTO_E_VERIFY && strstr(err.msg, "gzip"), "gzip: VERIFY: %s", err.msg);
			bento_buf_reset(&t);
			bento_buf_adds(&t, "this is not a tar archive at all, not even close.");
			rc = unpack_bytes(s3, &l[1], t.buf, t.len, 1000, NULL, 1, NULL, &err);
			ok(rc == -BENTO_E_VERIFY, "garbage: VERIFY: %s", err.msg);
			bento_buf_release(&t);
		}
		ok(!bento_blob_has(s3, &l[1].files[0].file->digest) &&
		   !bento_blob_has(s3, &l[0].files[0].file->digest), "refused layers stored nothing");
		/* A reader freed mid-file leaves no staging file behind. */
		{
			struct bento_blob_stage *st = bento_blob_stage_new(s3);
			struct bento_layer_reader *r;
			char *tmp = path_in(base, "store3/tmp");

			rc = bento_layer_reader_new(s3, st, &l[2], &r, &err);
			if (rc == 0)
				rc = bento_layer_reader_feed(r, bytes[2].buf, 1 << 20, &err);
			is_int(count_prefixed(tmp, "blob."), 1, "mid-file: one staging file");
			bento_layer_reader_free(r);
			bento_blob_stage_free(st);
			ok(rc == 0 && count_prefixed(tmp, "blob.") == 0,
			   "a reader abandoned mid-file is freed and its staging file removed");
			free(tmp);
		}
	}

	bento_layers_free(ml, nml);
	bento_layers_free(l, n);
	for (int i = 0; i < 3; i++)
		bento_buf_release(&bytes[i]);
	bento_manifest_free(m);
	bento_buf_release(&mjson);
	bento_build_result_release(&br);
	bento_store_close(s);
	bento_store_close(s2);
	bento_store_close(s3);
	free(ctx);
	rm_rf(base);
	return tap_done();
}
