/*
 * libFuzzer target: a containerize base image (--base oci:DIR:1), its
 * index, manifest and config, read and turned into the image config as
 * bento containerize does (image_internal.h: bento_image_base_config, for
 * a fixed bento and linux/amd64).  The input is the layout (fuzz_layout.h:
 * oci-layout, index.json and blobs, NUL-separated, "@Dk"/"@Sk" naming blob
 * k; "@D0"/"@S0" a fixed layer blob, an empty tar).  Must never crash or
 * leak; a base it takes gives a config that is canonical JSON and that the
 * config reader itself accepts, with the bento's labels, port and
 * entrypoint in it.  Seeds: umoci's and skopeo's base layouts (one
 * multi-platform), Docker's config with nulls (tests/fuzz/mkseeds-oci.sh).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "cjson.h"
#include "fuzz_layout.h"
#include "image_internal.h"
#include "ocidoc.h"

/* A bento, as tests/fuzz/corpus/fuzz_manifest/bento.json. */
static const char bento_json[] =
	"{\"files\":[{\"digest\":\"sha256:1622f141dd14cb7f0e59512033b19c0d8c757e120e795af4c57223fdc761a197\","
	"\"mode\":493,\"path\":\"src/run.sh\",\"size\":565}],\"labels\":{\"team\":\"ml\"},\"lockfiles\":[],"
	"\"mediaType\":\"application/vnd.bento.manifest.v1+json\",\"models\":[],\"name\":\"demo\","
	"\"schemaVersion\":1,\"service\":{\"entrypoint\":[\"./run.sh\"],\"envs\":{\"PORT\":\"3000\"},"
	"\"image\":{\"env\":{\"LOG\":\"info\"},\"ports\":[3000]}},\"size\":565,\"version\":\"1\"}";

static struct fuzz_layout lay;
static struct bento_manifest *m;
static char base[128];

static void cleanup(void)
{
	fuzz_layout_remove(&lay);
	bento_manifest_free(m);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct bento_error err;

	(void)argc;
	(void)argv;
	if (bento_manifest_parse(bento_json, sizeof(bento_json) - 1, "bento.json", &m, &err)) {
		fprintf(stderr, "fuzz_image_base: %s\n", err.msg);
		abort();
	}
	fuzz_layout_init(&lay, "fuzz_image_base");
	snprintf(base, sizeof(base), "oci:%s:1", lay.dir);
	atexit(cleanup);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bento_buf cfg = BENTO_BUF_INIT;
	struct bento_error err;
	json_t *c = NULL, *labels;
	int rc;

	fuzz_layout_write(&lay, data, size);
	rc = bento_image_base_config(m, base, "linux/amd64", &cfg, &err);
	if (getenv("FUZZ_VERBOSE"))	/* what a seed reaches */
		fprintf(stderr, "base: %d %s\n", rc, rc ? err.msg : cfg.buf);
	if (rc == 0) {
		size_t n;

		if (!bento_json_is_canonical(cfg.buf, cfg.len) ||
		    bento_json_parse(cfg.buf, cfg.len, "image config", &c, &err))
			abort();
		n = json_array_size(json_object_get(json_object_get(c, "rootfs"), "diff_ids"));
		json_decref(c);
		c = NULL;
		if (bento_oci_config_read(cfg.buf, cfg.len, "image config", n, &c, &err))
			abort();	/* what containerize writes, it reads */
		labels = json_object_get(json_object_get(c, "config"), "Labels");
		if (!json_object_get(json_object_get(json_object_get(c, "config"), "ExposedPorts"), "3000/tcp") ||
		    strcmp(bento_json_str(labels, "dev.bento.name"), "demo") != 0)
			abort();
		json_decref(c);
	} else if (rc > -BENTO_E_FAIL - 1 && rc < 0) {
		;	/* -errno: a file the layout names cannot be read */
	} else if (rc != -BENTO_E_VERIFY && rc != -BENTO_E_INVALID && rc != -BENTO_E_NOTFOUND &&
		   rc != -BENTO_E_USAGE) {
		abort();
	}
	bento_buf_release(&cfg);
	return 0;
}
