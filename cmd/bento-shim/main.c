/*
 * bento-shim - the entrypoint of a containerized bento (PID 1).
 *
 * It refuses to start a bento that is not what its bento.json (and, when
 * asked, a trusted signature) says, then runs the service and does what
 * PID 1 must: forward signals, reap zombies, stop with a grace period, and
 * exit with the service's status.  Configuration comes only from the
 * environment, since a container's Cmd belongs to the service.
 * See man/bento-shim.1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs.h"
#include "shim.h"

static void usage(FILE *f)
{
	fputs("usage: bento-shim [--] [COMMAND [ARG]...]\n"
	      "       bento-shim --version | --help\n"
	      "\n"
	      "Checks the bento under $BENTO_ROOT (default /bento), then runs COMMAND\n"
	      "(default: bento.json's service.entrypoint) as its supervisor.\n"
	      "\n"
	      "environment:\n"
	      "  BENTO_ROOT               the bento's directory (/bento)\n"
	      "  BENTO_VERIFY             size (default), full or off\n"
	      "  BENTO_TRUSTED_KEY        a minisign public key (RW...) or .pub file\n"
	      "  BENTO_TRUSTED_KEYS       ':'-separated .pub files or directories of them\n"
	      "  BENTO_REQUIRE_SIGNATURE  1: refuse a bento without a trusted signature\n"
	      "  BENTO_STOP_TIMEOUT       seconds from SIGTERM to SIGKILL (10)\n"
	      "  BENTO_HEALTH_PORT        serve /livez, /readyz, /v2/health/{live,ready}\n"
	      "  BENTO_HEALTH_ADDR        the address to serve them on (every address)\n"
	      "  BENTO_SERVICE_PORT       ','-separated ports that make the service ready\n"
	      "  BENTO_SHIM_QUIET         1: no start-up line\n"
	      "\n"
	      "exit status: the service's (128+N when killed by signal N); 120 bad\n"
	      "configuration, 121 bad bento.json, 122 a file missing or altered,\n"
	      "123 no good trusted signature, 125 shim failure, 126 cannot run the\n"
	      "service, 127 service not found.  See bento-shim(1).\n", f);
}

/* "name:version sha256:…: file sizes checked, signed by key ID" */
static char *banner_of(const struct shim_config *c, const struct bento_manifest *m,
		       const char *signer)
{
	static const char *const modes[] = {
		"files not checked", "file sizes checked", "file digests checked"
	};
	char d[BENTO_DIGEST_STRLEN];

	bento_digest_str(&m->digest, d);
	return bento_xasprintf("%s:%s %s: %s%s%s", m->name, m->version, d,
			       modes[c->verify], *signer ? ", signed by key " : "", signer);
}

int main(int argc, char **argv)
{
	struct shim_config c;
	struct bento_manifest *m = NULL;
	char *json = NULL, *workdir = NULL, *banner = NULL, **sargv = NULL, **env = NULL;
	char **platform_env = environ, signer[BENTO_KEYID_HEXLEN + 1] = "";
	size_t len = 0, n_env = 0;
	int rc, first = 1;

	if (argc > 1 && !strcmp(argv[1], "--version")) {
		printf("bento-shim %s\n", BENTO_VERSION);
		return 0;
	}
	if (argc > 1 && !strcmp(argv[1], "--help")) {
		usage(stdout);
		return 0;
	}
	/* "--" lets a service whose first argument is --help or --version through. */
	if (argc > 1 && !strcmp(argv[1], "--"))
		first = 2;

	if (shim_config_read(&c, environ)) {
		shim_config_release(&c);
		return SHIM_EXIT_CONFIG;
	}
	if ((rc = shim_load_manifest(&c, &m, &json, &len)) ||
	    (rc = shim_check_service(&c, m)))
		goto out;
	if (c.require_signature &&
	    (rc = shim_check_signatures(&c, m, json, len, signer, sizeof(signer))))
		goto out;
	if ((rc = shim_check_files(&c, m)))
		goto out;

	if (argc > first) {
		sargv = bento_xcalloc((size_t)(argc - first + 1), sizeof(*sargv));
		for (int i = first; i < argc; i++)
			sargv[i - first] = argv[i];
	} else {
		const json_t *ep = json_object_get(json_object_get(m->json, "service"), "entrypoint");
		size_t n = json_array_size(ep);

		sargv = bento_xcalloc(n + 1, sizeof(*sargv));
		for (size_t i = 0; i < n; i++)
			sargv[i] = (char *)json_string_value(json_array_get(ep, i));
	}
	/* The service's environment is the shim's own from here on (getenv, execvp). */
	n_env = shim_env_merge(platform_env, m, &env);
	environ = env;
	workdir = shim_workdir(&c, m);
	banner = banner_of(&c, m, signer);
	rc = shim_run(&c, sargv, workdir, banner);
	environ = platform_env;
out:
	bento_strv_free(env, n_env);
	free(banner);
	free(workdir);
	free(sargv);
	free(json);
	bento_manifest_free(m);
	shim_config_release(&c);
	return rc;
}
