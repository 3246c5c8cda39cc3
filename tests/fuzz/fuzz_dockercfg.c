/*
 * libFuzzer target: Docker's config.json as bento reads it, and what it
 * then says for a few hosts (auths and its spellings, credHelpers,
 * credsStore).  Nothing may crash or leak; a helper it names is a program
 * name.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dockercfg_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const hosts[] = { "h", "reg.example:5000", "registry-1.docker.io", "" };
	struct bento_error err;
	json_t *root = NULL;
	size_t i;

	if (bento_dockercfg_parse("config.json", (const char *)data, size, &root, &err) < 0)
		return 0;
	for (i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
		const char *helper = NULL;
		char *user = NULL, *pass = NULL;
		int rc = bento_dockercfg_lookup(root, "config.json", hosts[i], &helper, &user, &pass, &err);

		if (rc == 1 && (!helper || !*helper || strchr(helper, '/') || helper[0] == '.'))
			abort();
		if (rc == 0 && (!user || !pass))
			abort();
		free(user);
		free(pass);
	}
	json_decref(root);
	return 0;
}
