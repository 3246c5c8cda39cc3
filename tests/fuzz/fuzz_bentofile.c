/* libFuzzer target: bentofile parsing must never crash or leak. */
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "bentofile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bentofile *bf = NULL;
	struct bento_error err;

	if (bentofile_parse((const char *)data, size, "fuzz.yaml", &bf, &err) == 0)
		json_decref(bentofile_service_json(bf));
	bentofile_free(bf);
	return 0;
}
