/*
 * libFuzzer target: an image index as a layout's index.json, a referrers
 * answer (the API's, or the sha256-<hex> tag's), a multi-platform base or
 * a nested index in a layout is read (lib/ocidoc.c), served as an OCI
 * index, as Docker's manifest list, as a manifest and with no
 * Content-Type; then what the readers do with it: pick a platform, look
 * for bento's referrers, re-read each descriptor alone.  Must never crash
 * or leak; what it accepts must keep fuzz_oci_doc.h's promises.  Seeds:
 * skopeo's and bento's index.json, referrers answers, a Docker manifest
 * list, edge cases (tests/fuzz/mkseeds-oci.sh).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_oci_doc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const hints[] = { NULL, OCI_INDEX_V1, DOCKER_LIST_V2, OCI_MANIFEST_V1 };
	struct bento_oci_doc d;
	struct bento_error err;

	for (size_t h = 0; h < sizeof(hints) / sizeof(*hints); h++) {
		int rc = bento_oci_doc_read(data, size, "fuzz", hints[h], BENTO_OCI_INDEX, &d, &err);

		if (rc == 0) {
			const json_t *m = json_object_get(d.root, "manifests");

			fuzz_doc_check(&d, BENTO_OCI_INDEX, hints[h]);
			if (json_array_size(m) != d.n_descs)
				abort();
			for (size_t i = 0; i < d.n_descs; i++) {
				struct bento_oci_desc again;

				/* each descriptor reads alone as it did in the document */
				if (bento_oci_desc_read(json_array_get(m, i), "fuzz", "manifests[]", &again, &err) ||
				    again.size != d.descs[i].size ||
				    strcmp(again.digest_str, d.descs[i].digest_str) != 0)
					abort();
				if (d.descs[i].os && !strcmp(d.descs[i].os, "linux") &&
				    !strcmp(d.descs[i].arch, "amd64"))
					(void)bento_oci_desc_sha256(&d.descs[i], "fuzz", "manifests[]", &err);
			}
		} else if (rc != -BENTO_E_VERIFY && rc != -BENTO_E_INVALID) {
			abort();
		}
		bento_oci_doc_release(&d);
	}
	return 0;
}
