/*
 * libFuzzer target: the layer stream reader bento pull unpacks every
 * pulled layer with (oci.h: bento_layer_reader_*), fed the input as a
 * registry's bytes would come, against the plan of a real bento built at
 * start-up (a code layer with a nested directory and an executable, a
 * model layer).  The first input byte picks the layer (bits 0-2), the store
 * (bit 3: one that has every file, so they are hashed, or an empty one, so
 * they are staged) and the chunk sizes (bits 4-7); the rest is the layer.
 * Must never crash, leak or write outside the stage; must accept exactly
 * the canonical bytes (bento_layer_write's) and nothing else; errors are
 * VERIFY or UNSAFE only.  Seeds (BENTO_FUZZ_SEEDS=DIR writes them): each
 * canonical layer for both stores, and a few near misses.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "build.h"
#include "fuzz_key.h"
#include "fuzz_tmp.h"
#include "oci.h"

static char root[64];
static struct bento_store *full, *empty;
static struct bento_buf json = BENTO_BUF_INIT;
static struct bento_manifest *m;
static struct bento_layer *layers;
static size_t n_layers;
static struct bento_buf canon[8];

static void cleanup(void)
{
	bento_layers_free(layers, n_layers);
	bento_manifest_free(m);
	bento_buf_release(&json);
	for (size_t i = 0; i < n_layers && i < 8; i++)
		bento_buf_release(&canon[i]);
	bento_store_close(full);
	bento_store_close(empty);
	fuzz_rmtree(root);
}

static void put(const char *dir, const char *name, const char *text, mode_t mode)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (!(f = fopen(path, "w")) || fputs(text, f) < 0 || fclose(f) != 0 || chmod(path, mode) < 0)
		abort();
}

static int collect(void *ctx, const void *p, size_t n, struct bento_error *err)
{
	(void)err;
	bento_buf_add(ctx, p, n);
	return 0;
}

static void seed(const char *dir, const char *name, int sel, const char *p, size_t n)
{
	struct bento_buf b = BENTO_BUF_INIT;

	bento_buf_addch(&b, sel);
	bento_buf_add(&b, p, n);
	fuzz_seed(dir, name, b.buf, b.len);
	bento_buf_release(&b);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct bento_build_opts o = { 0 };
	struct bento_build_result r = { 0 };
	struct bento_error err;
	char ctx[128], path[128];
	const char *seeds = getenv("BENTO_FUZZ_SEEDS");
	struct stat st;

	(void)argc;
	(void)argv;
	snprintf(root, sizeof(root), "%s/fuzz_layer_reader.XXXXXX",
		 stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) ? "/dev/shm" : "/tmp");
	if (!mkdtemp(root))
		abort();
	atexit(cleanup);
	snprintf(ctx, sizeof(ctx), "%s/ctx", root);
	snprintf(path, sizeof(path), "%s/ctx/lib", root);
	if (mkdir(ctx, 0755) || mkdir(path, 0755))
		abort();
	snprintf(path, sizeof(path), "%s/ctx/emb", root);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/ctx/emb/sub", root);
	mkdir(path, 0755);
	put(ctx, "run.sh", "#!/bin/sh\nexec python3 service.py \"$@\"\n", 0755);
	put(ctx, "service.py", "from lib import util\nprint(util.answer())\n", 0644);
	put(ctx, "lib/util.py", "def answer():\n    return 42\n", 0644);
	put(ctx, "emb/weights.bin", "0123456789abcdef0123456789abcdef0123456789abcdef", 0644);
	put(ctx, "emb/sub/vocab.txt", "a\nb\nc\n", 0644);
	put(ctx, "bentofile.yaml", "name: fz\nversion: \"1\"\nservice: ./run.sh\n"
	    "models:\n  - name: emb\n    path: emb\n", 0644);
	setenv("SOURCE_DATE_EPOCH", "1700000000", 1);
	o.context = ctx;
	snprintf(path, sizeof(path), "%s/full", root);
	if (bento_store_open(path, &full, &err) || bento_build(full, &o, &r, &err) ||
	    bento_store_manifest(full, BENTO_KIND_BENTO, &r.digest, &json, &err) ||
	    bento_manifest_parse(json.buf, json.len, "bento.json", &m, &err)) {
		fprintf(stderr, "fuzz_layer_reader: setup: %s\n", err.msg);
		abort();
	}
	bento_build_result_release(&r);
	snprintf(path, sizeof(path), "%s/empty", root);
	if (bento_store_open(path, &empty, &err))
		abort();
	bento_layers_plan(m, &layers, &n_layers);
	if (n_layers < 2 || n_layers > 8)
		abort();
	for (size_t i = 0; i < n_layers; i++) {
		bento_buf_init(&canon[i]);
		if (bento_layer_write(full, &layers[i], collect, &canon[i], &err))
			abort();
	}
	if (seeds) {
		for (size_t i = 0; i < n_layers; i++) {
			char name[64];
			const struct bento_buf *c = &canon[i];
			char *bad = bento_xmalloc(c->len);

			snprintf(name, sizeof(name), "layer%zu-stored", i);
			seed(seeds, name, (int)i | 0x30, c->buf, c->len);
			snprintf(name, sizeof(name), "layer%zu-staged", i);
			seed(seeds, name, (int)i | 0x08 | 0x70, c->buf, c->len);
			snprintf(name, sizeof(name), "layer%zu-truncated", i);
			seed(seeds, name, (int)i | 0x08, c->buf, c->len - 700);
			memcpy(bad, c->buf, c->len);
			bad[136] ^= 1;	/* the mtime of the first header */
			snprintf(name, sizeof(name), "layer%zu-mtime", i);
			seed(seeds, name, (int)i, bad, c->len);
			memcpy(bad, c->buf, c->len);
			bad[c->len - 1] = 1;	/* the end-of-archive marker */
			snprintf(name, sizeof(name), "layer%zu-trailer", i);
			seed(seeds, name, (int)i | 0x08, bad, c->len);
			free(bad);
		}
		exit(0);
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t chunks[16] = { 1, 3, 7, 100, 511, 512, 513, 1000, 1023, 1024, 1025,
					   4096, 10000, 65536, 2, 17 };
	struct bento_layer_reader *r = NULL;
	struct bento_blob_stage *stage;
	struct bento_store *s;
	struct bento_digest d;
	struct bento_error err;
	const struct bento_buf *c;
	size_t li, step, off = 0;
	int rc;

	if (size < 1)
		return 0;
	li = (data[0] & 7) % n_layers;
	s = data[0] & 8 ? empty : full;
	step = chunks[data[0] >> 4];
	c = &canon[li];
	data++, size--;
	stage = bento_blob_stage_new(s);
	if (bento_layer_reader_new(s, stage, &layers[li], &r, &err))
		abort();
	if (bento_layer_reader_size(r) != c->len)
		abort();
	rc = 0;
	while (rc == 0 && off < size) {
		size_t k = size - off < step ? size - off : step;
		rc = bento_layer_reader_feed(r, data + off, k, &err);
		off += k;
	}
	bento_digest_bytes(data, size, &d);
	if (rc == 0)
		rc = bento_layer_reader_finish(r, &d, &err);
	if (rc != 0 && rc != -BENTO_E_VERIFY && rc != -BENTO_E_UNSAFE) {
		fprintf(stderr, "unexpected error %d: %s\n", rc, err.msg);
		abort();
	}
	if ((rc == 0) != (size == c->len && memcmp(data, c->buf, size) == 0)) {
		fprintf(stderr, "accepted %d, canonical %d: %s\n", rc == 0,
			size == c->len && memcmp(data, c->buf, size) == 0, rc ? err.msg : "");
		abort();
	}
	bento_layer_reader_free(r);
	bento_blob_stage_free(stage);
	return 0;
}
