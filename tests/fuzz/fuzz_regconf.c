/*
 * libFuzzer target: registries.conf (bento_regconf_parse, as
 * bento_regconf_load reads each file), then the candidates of a few
 * references under what it accepted: every candidate must be a reference
 * that parses again, and a blocked one never yields any.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_key.h"
#include "regconf.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *seeds = getenv("BENTO_FUZZ_SEEDS");

	(void)argc;
	(void)argv;
	if (seeds) {
		static const char *const s[] = {
			("unqualified-search-registries = [\"docker.io\", 'quay.io']\n"
			 "[[registry]]\nprefix = \"docker.io\"\nlocation = \"docker.io\"\n"
			 "[[registry.mirror]]\nlocation = \"127.0.0.1:5000/hub\"\ninsecure = true\n"
			 "[[registry.mirror]]\nlocation = \"m.example\"\npull-from-mirror = \"digest-only\"\n"
			 "[[registry]]\nprefix = \"docker.io/library/python\"\nlocation = \"in.example:5000/py\"\n"),
			("[[registry]]\nlocation = \"ghcr.io\"\nblocked = true\n"
			 "[[registry]]\nprefix = \"*.corp.example\"\n[[registry.mirror]]\nlocation = \"c.example/x\"\n"),
			"[aliases]\n  \"python\" = \"docker.io/library/python\"\n  # c\n\"a/b\" = 'x.io/a/b'\n",
			"n = 1\nd = 1979-05-27T07:32:00Z\n[t]\nk.x = \"\\u00e9\\t\"\nq = [[1, 2], ['a']]\n",
			"[registries.search]\nregistries = ['docker.io']\n",
		};
		for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++) {
			char name[32];
			memcpy(name, "regconf0.conf", 14);
			name[7] = (char)('0' + i);
			fuzz_seed(seeds, name, s[i], strlen(s[i]));
		}
		exit(0);
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const refs[] = {
		"iris:1", "docker.io/library/python:3.11-slim", "a.corp.example/t/x:2",
		"ghcr.io/o/r@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		"localhost:5000/x", "oci:dir:t",
	};
	struct bento_regconf c = { 0 };
	struct bento_error err;

	if (bento_regconf_parse((const char *)data, size, "fuzz.conf", &c, &err) == 0) {
		for (size_t i = 0; i < sizeof(refs) / sizeof(refs[0]); i++) {
			struct bento_target_ref r, *v = NULL, again;
			struct bento_target_opts o = { 0 }, *opts = NULL;
			size_t n = 0;

			if (bento_target_ref_parse(refs[i], &r, &err))
				abort();
			if (bento_regconf_candidates(&c, &r, &o, &v, &opts, &n, &err) == 0) {
				if (n == 0)
					abort();
				for (size_t k = 0; k < n; k++) {
					char *s = bento_target_ref_str(&v[k]);
					if (bento_target_ref_parse(s, &again, &err))
						abort();
					bento_target_ref_release(&again);
					free(s);
					bento_target_ref_release(&v[k]);
				}
			} else if (n || v || !err.msg[0]) {
				abort();
			}
			free(v);
			free(opts);
			bento_target_ref_release(&r);
		}
	} else if (!err.msg[0]) {
		abort();
	}
	bento_regconf_free(&c);
	return 0;
}
