/*
 * libFuzzer target: policy.yaml (bento_policy_parse, as bento_policy_load
 * reads the file), then the decision for a few names and reports.  Rules'
 * keys are looked up in a trusted/ made at start with one key, a.pub.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_key.h"
#include "trust.h"
#include "trust_internal.h"

static char dir[] = "/tmp/bento-fuzz-policy.XXXXXX";

static void cleanup(void)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/bento/trusted/a.pub", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/bento/trusted", dir);
	rmdir(path);
	snprintf(path, sizeof(path), "%s/bento", dir);
	rmdir(path);
	rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *seeds = getenv("BENTO_FUZZ_SEEDS");
	struct bento_buf b = BENTO_BUF_INIT;
	char path[128];
	FILE *f;

	(void)argc;
	(void)argv;
	fuzz_key_init();
	if (seeds) {
		static const char *const s[] = {
			("rules:\n  - match: \"prod-*\"\n    require_signature: true\n    keys: [a.pub]\n"
			 "  - match: [\"iris-*\", \"fraud-*\"]\n    require_signature: true\n"
			 "  - match: \"*\"\n    require_signature: false\n"),
			("rules:\n  - match: [\"scratch-*\", \"tmp-*\"]\n    require_signature: false\n"
			 "  - match: \"*\"\n    require_signature: true\n"),
			"rules: [{match: \"[a-d]ev-?\", require_signature: true}, {match: \"[![:digit:]]x[0-9]\"}]\n",
			"rules: []\n",
			"rules:\n  - match: &p dev-x\n    require_signature: true\n    keys: a.pub\n",
		};
		for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++) {
			snprintf(path, sizeof(path), "policy%zu.yaml", i);
			fuzz_seed(seeds, path, s[i], strlen(s[i]));
		}
		exit(0);
	}
	if (!mkdtemp(dir))
		abort();
	atexit(cleanup);
	setenv("XDG_CONFIG_HOME", dir, 1);
	snprintf(path, sizeof(path), "%s/bento", dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/bento/trusted", dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/bento/trusted/a.pub", dir);
	bento_pubkey_format(&fuzz_pk, &b);
	if (!(f = fopen(path, "w")) || fwrite(b.buf, 1, b.len, f) != b.len || fclose(f))
		abort();
	chmod(path, 0644);
	bento_buf_release(&b);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = { "prod-x", "dev-x", "iris-c", "a", "x1", "scratch-9" };
	unsigned char signer[1][BENTO_KEYID_LEN];
	struct bento_report unsigned_r = { 0 }, signed_r = { 0 };
	struct bento_keyring kr = BENTO_KEYRING_INIT;
	struct bento_policy *p = NULL;
	struct bento_error err;

	memcpy(signer[0], fuzz_pk.keyid, BENTO_KEYID_LEN);
	signed_r.trusted_signatures = 1;
	signed_r.signers = signer;
	if (bento_policy_parse((const char *)data, size, "policy.yaml", &p, &err) == 0) {
		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
			/* A signature by the one key every rule may name always passes. */
			if (bento_policy_check(p, 1, names[i], &signed_r, &kr, &err) != 0)
				abort();
			bento_policy_check(p, 0, names[i], &unsigned_r, &kr, &err);
		}
		bento_policy_free(p);
	}
	return 0;
}
