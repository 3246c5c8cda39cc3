/*
 * libFuzzer target: an OCI image layout directory, as pull, push and
 * containerize's --base read it.  The input is a layout (fuzz_layout.h:
 * oci-layout, index.json and blobs, NUL-separated, "@Dk"/"@Sk" naming
 * blob k): oci-layout and index.json are read from memory
 * (bento_oci_layout_read, bento_oci_doc_read), then the directory is
 * written out and used through the oci: target (lib/layout.c): the
 * manifest tagged "1" and the first listed one by digest, read as pull
 * reads them; the referrers of blob 1 (a layout's walk through every
 * manifest and nested index), whose answer the strict reader must accept;
 * blob 1 itself; then a push of a manifest under the tag "fz", which must
 * read back.  Must never crash, leak or hang; errors are what layout.c
 * documents.  Seeds: layouts bento and skopeo wrote (tests/fuzz/mkseeds-oci.sh).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_layout.h"
#include "fuzz_oci_doc.h"
#include "target.h"

static struct fuzz_layout lay;
static char spec[128];

static void cleanup(void)
{
	fuzz_layout_remove(&lay);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_layout_init(&lay, "fuzz_oci_layout");
	snprintf(spec, sizeof(spec), "oci:%s", lay.dir);
	atexit(cleanup);
	return 0;
}

/* Codes the oci: target may return for a hostile layout (or -errno). */
static void expect_code(int rc, const struct bento_error *err)
{
	if (getenv("FUZZ_VERBOSE"))	/* what a seed reaches */
		fprintf(stderr, "%d %s\n", rc, rc ? err->msg : "");
	if (rc < -BENTO_E_FAIL + 1 && rc != -BENTO_E_VERIFY && rc != -BENTO_E_INVALID &&
	    rc != -BENTO_E_NOTFOUND && rc != -BENTO_E_USAGE)
		abort();
}

static int sink(void *ctx, const void *p, size_t n, struct bento_error *err)
{
	(void)err;
	bento_buf_add(ctx, p, n);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char fz[] = "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"a/b\",\"digest\":"
				 "\"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a\","
				 "\"size\":2},\"layers\":[]}";
	struct bento_target_ref ref;
	struct bento_target *t = NULL;
	struct bento_buf b = BENTO_BUF_INIT;
	struct bento_oci_doc d;
	struct bento_error err;
	char *mt = NULL;
	int rc;

	fuzz_layout_write(&lay, data, size);
	/* from memory */
	(void)bento_oci_layout_read(lay.part[0].buf, lay.part[0].len, "oci-layout", &err);
	if (lay.n > 1 && bento_oci_doc_read(lay.part[1].buf, lay.part[1].len, "index.json", OCI_INDEX_V1,
					    BENTO_OCI_INDEX, &d, &err) == 0) {
		fuzz_doc_check(&d, BENTO_OCI_INDEX, OCI_INDEX_V1);
		bento_oci_doc_release(&d);
	}
	/* through the target */
	if (bento_target_ref_parse(spec, &ref, &err) || bento_target_open(&ref, NULL, &t, &err))
		abort();
	rc = bento_target_manifest_get(t, "1", &b, &mt, NULL, &err);
	expect_code(rc, &err);
	if (rc == 0) {
		if (bento_oci_doc_read(b.buf, b.len, "1", mt, BENTO_OCI_MANIFEST | BENTO_OCI_INDEX, &d, &err) == 0) {
			char ds[BENTO_DIGEST_STRLEN];

			fuzz_doc_check(&d, BENTO_OCI_MANIFEST | BENTO_OCI_INDEX, mt);
			if (d.n_descs && !d.descs[0].other_algorithm) {
				bento_digest_str(&d.descs[0].digest, ds);
				expect_code(bento_target_manifest_get(t, ds, &b, NULL, NULL, &err), &err);
			}
			bento_oci_doc_release(&d);
		}
		free(mt);
		mt = NULL;
	}
	if (lay.n > 2) {
		rc = bento_target_referrers(t, &lay.digest[1], &b, &err);
		expect_code(rc, &err);
		if (rc == 0) {
			if (bento_oci_doc_read(b.buf, b.len, "referrers", OCI_INDEX_V1, BENTO_OCI_INDEX, &d, &err))
				abort();	/* what the walk answers, pull must read */
			fuzz_doc_check(&d, BENTO_OCI_INDEX, OCI_INDEX_V1);
			bento_oci_doc_release(&d);
		}
		bento_buf_reset(&b);
		expect_code(bento_target_blob_get(t, &lay.digest[1], lay.part[2].len, sink, &b, NULL, &err), &err);
	}
	/* a push into it: when the layout takes it, it reads back */
	rc = bento_target_manifest_put(t, "fz", OCI_MANIFEST_V1, fz, sizeof(fz) - 1, NULL, &err);
	expect_code(rc, &err);
	bento_target_close(t);
	if (rc == 0) {
		if (bento_target_open(&ref, NULL, &t, &err) ||
		    bento_target_manifest_get(t, "fz", &b, NULL, NULL, &err) ||
		    b.len != sizeof(fz) - 1 || memcmp(b.buf, fz, b.len) != 0)
			abort();
		bento_target_close(t);
	}
	bento_target_ref_release(&ref);
	bento_buf_release(&b);
	return 0;
}
