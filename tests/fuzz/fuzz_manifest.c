/*
 * libFuzzer target: bento.json and model.json parsing must never crash,
 * and bento_manifest_parse() (with its scanner of the canonical "files")
 * must agree with the generic way on every input: the same verdict and,
 * when both accept, the same manifest.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "manifest_internal.h"

static void same_files(const struct bento_file *a, const struct bento_file *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(a[i].path, b[i].path) != 0 || a[i].size != b[i].size ||
		    a[i].mode != b[i].mode || !bento_digest_eq(&a[i].digest, &b[i].digest))
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bento_manifest *m = NULL, *g = NULL;
	struct bento_model *mm = NULL;
	struct bento_error err;
	int rc = bento_manifest_parse((const char *)data, size, "fuzz", &m, &err);
	int rg = bento_manifest_parse_generic((const char *)data, size, "fuzz", &g, &err);

	if ((rc == 0) != (rg == 0))
		abort();
	if (rc == 0) {
		struct bento_entry *e = NULL;
		size_t n = 0;
		if (!bento_digest_eq(&m->digest, &g->digest) || m->size != g->size ||
		    strcmp(m->name, g->name) != 0 || strcmp(m->version, g->version) != 0 ||
		    m->n_files != g->n_files || m->n_models != g->n_models)
			abort();
		same_files(m->files, g->files, m->n_files);
		bento_manifest_entries(m, &e, &n);
		bento_entries_free(e, n);
	}
	bento_manifest_free(m);
	bento_manifest_free(g);
	bento_model_parse((const char *)data, size, "fuzz", &mm, &err);
	bento_model_free(mm);
	return 0;
}
