/*
 * libFuzzer target: in-toto statements, the payload of an attestation.
 * The input is the statement itself; it is wrapped in an unsigned DSSE
 * envelope and checked as verify does (bento_check_attestations: the
 * statement reader, the subject check, the source it reports), and read
 * with bento_intoto_read.  Seeds are statements with FUZZ_DIGEST's subject.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_key.h"
#include "provenance.h"
#include "trust.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = getenv("BENTO_FUZZ_SEEDS");

	(void)argc;
	(void)argv;
	if (dir) {
		static const char a[] =
			"{\"_type\":\"https://in-toto.io/Statement/v1\",\"predicate\":{\"buildDefinition\":"
			"{\"resolvedDependencies\":[{\"digest\":{\"gitCommit\":\"0123456789abcdef0123456789abcdef01234567\"},"
			"\"uri\":\"git+https://example.org/r@main\"},{\"digest\":{\"sha256\":\"ab\"},"
			"\"uri\":\"bento-model:emb:1\"}]}},\"predicateType\":\"https://slsa.dev/provenance/v1\","
			"\"subject\":[{\"digest\":{\"sha256\":"
			"\"0000000000000000000000000000000000000000000000000000000000000000\"},\"name\":\"demo:1\"}]}";
		static const char b[] =
			"{\"_type\":\"https://in-toto.io/Statement/v1\",\"predicateType\":\"https://spdx.dev/Document\","
			"\"subject\":[{\"digest\":{\"sha256\":\"11\"}}]}";
		fuzz_seed(dir, "slsa.json", a, strlen(a));
		fuzz_seed(dir, "other.json", b, strlen(b));
		exit(0);
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char name[] = "provenance.dsse.json";
	struct bento_keyring kr = BENTO_KEYRING_INIT;
	struct bento_buf env = BENTO_BUF_INIT;
	struct bento_report r = { 0 };
	struct bento_manifest m;
	struct bento_error err;
	json_t *stmt = NULL;

	memset(&m, 0, sizeof(m));
	if (bento_intoto_read((const char *)data, size, &stmt, &err) == 0)
		bento_provenance_check_subject(stmt, &m, &err);
	json_decref(stmt);
	if (bento_dsse_envelope(BENTO_DSSE_PAYLOAD_TYPE, data, size, &env, &err) == 0) {
		struct bento_attachment a = { name, env.buf, env.len };

		bento_check_attestations(&r, &m, &a, 1, &kr);
		if (r.n != 1)
			abort();
		bento_report_release(&r);
	}
	bento_buf_release(&env);
	return 0;
}
