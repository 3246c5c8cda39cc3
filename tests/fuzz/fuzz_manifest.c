/* libFuzzer target: bento.json and model.json parsing must never crash. */
#include <stddef.h>
#include <stdint.h>

#include "manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bento_manifest *m = NULL;
	struct bento_model *mm = NULL;
	struct bento_error err;

	if (bento_manifest_parse((const char *)data, size, "fuzz", &m, &err) == 0) {
		struct bento_entry *e = NULL;
		size_t n = 0;
		bento_manifest_entries(m, &e, &n);
		bento_entries_free(e, n);
	}
	bento_manifest_free(m);
	bento_model_parse((const char *)data, size, "fuzz", &mm, &err);
	bento_model_free(mm);
	return 0;
}
