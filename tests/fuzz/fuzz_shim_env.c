/*
 * libFuzzer target: what bento-shim reads from its environment
 * (cmd/bento-shim/config.c, shim_config_read) and the environment it
 * builds for the service from the platform's and bento.json's
 * (shim_env_merge, after shim_check_service has judged service.image).
 *
 * Input: environment entries separated by NUL bytes, then an empty entry
 * (two NULs), then JSON for bento.json's "service" object.  The merged
 * environment must begin with the platform's entries, in order, add each
 * other name once, and hold PATH.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cjson.h"
#include "fs.h"
#include "shim.h"

#define MAX_ENV 256

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	shim_log_fd = -1;
	return 0;
}

static size_t name_len(const char *e)
{
	return strcspn(e, "=");
}

static void check_merge(char *const *envp, size_t n_envp, const struct bento_manifest *m)
{
	char **out = NULL;
	size_t n = shim_env_merge(envp, m, &out), path = 0;
	json_t *seen = json_object();

	if (n < n_envp || out[n])
		abort();
	for (size_t i = 0; i < n; i++) {
		size_t k = name_len(out[i]);
		if (i < n_envp) {
			if (strcmp(out[i], envp[i]) != 0)
				abort();	/* the platform's entries, unchanged, first */
		} else if (!out[i][k] || json_object_getn(seen, out[i], k)) {
			abort();	/* an added entry is NAME=VALUE, its name new */
		}
		json_object_setn_new_nocheck(seen, out[i], k, json_null());
		path += k == 4 && memcmp(out[i], "PATH", 4) == 0;
	}
	if (!path)
		abort();
	json_decref(seen);
	bento_strv_free(out, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy = malloc(size + 1), *envp[MAX_ENV + 1], *p, *end;
	struct shim_config c;
	size_t n = 0;

	memcpy(copy, data, size);
	copy[size] = '\0';
	end = copy + size;
	/* NUL-separated entries up to an empty one (or the end) */
	for (p = copy; p < end && *p && n < MAX_ENV; p += strlen(p) + 1)
		envp[n++] = p;
	envp[n] = NULL;
	shim_config_read(&c, envp);
	shim_config_release(&c);

	if (p < end && !*p) {
		json_t *svc = json_loadb(p + 1, (size_t)(end - p - 1), 0, NULL);
		struct bento_manifest m = { .name = "fuzz", .version = "1" };

		if (svc) {
			m.json = json_pack("{s:o}", "service", svc);
			memset(&c, 0, sizeof(c));
			c.root = bento_xstrdup("/bento");
			if (shim_check_service(&c, &m) == 0) {
				check_merge(envp, n, &m);
				free(shim_workdir(&c, &m));
			}
			shim_config_release(&c);
			json_decref(m.json);
		}
	}
	free(copy);
	return 0;
}
