/*
 * libFuzzer target: what a credential helper prints for "get".  Nothing may
 * crash or leak.
 */
#include <stdint.h>
#include <stdlib.h>

#include "dockercfg_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *user = NULL, *pass = NULL;

	if (bento_dockercfg_helper_answer((const char *)data, size, &user, &pass) == 0) {
		if (!user || !pass)
			abort();
		free(user);
		free(pass);
	}
	return 0;
}
