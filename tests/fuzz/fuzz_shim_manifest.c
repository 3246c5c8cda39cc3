/*
 * libFuzzer target: bento-shim's start-up on a bento.json (any bytes):
 * loading it (shim_load_manifest: read as a regular file, parsed as
 * libbento parses it), the service.image hints (shim_check_service), the
 * service's environment, working directory and command, and the file
 * checks (shim_check_files) against a root that holds only bento.json.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cjson.h"
#include "fs.h"
#include "shim.h"

// fuzz-flags: -max_len=65536

static char root[64], path[96];

static void cleanup(void)
{
	unlink(path);
	rmdir(root);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	shim_log_fd = -1;
	snprintf(root, sizeof(root), "/tmp/fuzz_shim_manifest.XXXXXX");
	if (!mkdtemp(root))
		abort();
	snprintf(path, sizeof(path), "%s/bento.json", root);
	atexit(cleanup);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct shim_config c = { .root = root, .verify = VERIFY_SIZE };
	struct bento_manifest *m = NULL;
	char *json = NULL, *env0[] = { "PATH=/bin", NULL }, **env = NULL;
	size_t len = 0, n;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0 || bento_write_all(fd, data, size) || close(fd))
		abort();
	if (shim_load_manifest(&c, &m, &json, &len) == 0) {
		/* The signed message is exactly the file. */
		if (len != size || memcmp(json, data, size) != 0)
			abort();
		if (shim_check_service(&c, m) == 0) {
			const json_t *ep = json_object_get(json_object_get(m->json, "service"),
							   "entrypoint");
			for (size_t i = 0; i < json_array_size(ep); i++)
				if (!json_string_value(json_array_get(ep, i)))
					abort();	/* libbento checked: strings only */
			if (c.n_service_ports > SHIM_MAX_PORTS)
				abort();
			n = shim_env_merge(env0, m, &env);
			bento_strv_free(env, n);
			free(shim_workdir(&c, m));
			shim_check_files(&c, m);
		}
	}
	free(json);
	bento_manifest_free(m);
	return 0;
}
