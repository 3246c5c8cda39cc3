/*
 * libFuzzer target: an image manifest as pull and containerize read it
 * from a registry or a layout (lib/ocidoc.c's bento_oci_doc_read), served
 * as an OCI manifest, as Docker's v2 manifest, as an index (a hint the
 * document must not contradict) and with no Content-Type; then what pull
 * does with its descriptors.  Must never crash or leak; what it accepts
 * must keep fuzz_oci_doc.h's promises; the only errors are VERIFY
 * (malformed) and INVALID (an index, well formed).  Seeds: bento's
 * artifact and referrer manifests, containerize's image manifest, umoci's,
 * skopeo's Docker v2 conversion, and edge cases (tests/fuzz/mkseeds-oci.sh).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_oci_doc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const hints[] = { NULL, OCI_MANIFEST_V1, DOCKER_MANIFEST_V2, OCI_INDEX_V1,
					     "text/plain" };
	struct bento_oci_doc d;
	struct bento_error err;

	for (size_t h = 0; h < sizeof(hints) / sizeof(*hints); h++) {
		int rc = bento_oci_doc_read(data, size, "fuzz", hints[h], BENTO_OCI_MANIFEST, &d, &err);

		if (rc == 0) {
			fuzz_doc_check(&d, BENTO_OCI_MANIFEST, hints[h]);
			for (size_t i = 0; i < d.n_descs; i++)
				(void)bento_oci_desc_sha256(&d.descs[i], "fuzz", "layers[]", &err);
			(void)bento_oci_desc_sha256(&d.config, "fuzz", "config", &err);
		} else if (rc != -BENTO_E_VERIFY && rc != -BENTO_E_INVALID) {
			abort();
		}
		bento_oci_doc_release(&d);
	}
	return 0;
}
