/*
 * libFuzzer target: a token service's answer.  It must never crash, and a
 * token it accepts must be fit for an Authorization header.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "registry_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *token = NULL;
	long long expires_in = 0;
	const char *why = NULL;
	size_t i, n;

	if (bento_registry_token_parse((const char *)data, size, &token, &expires_in, &why) == 0) {
		n = strlen(token);
		if (n == 0 || n > 16384 || expires_in < 1 || expires_in > 86400)
			abort();
		for (i = 0; i < n; i++)
			if ((unsigned char)token[i] <= 0x20 || (unsigned char)token[i] >= 0x7f)
				abort();
		free(token);
	} else if (token || !why) {
		abort();
	}
	return 0;
}
