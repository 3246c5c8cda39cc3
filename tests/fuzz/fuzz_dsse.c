/*
 * libFuzzer target: DSSE envelopes as verify, import and pull read them
 * (bento_dsse_read, bento_dsse_verify, bento_check_attestations) and as
 * bento sign rewrites them (bento_dsse_add_signature: what it writes must
 * read back and verify with the fixed key).  Seeds are envelopes signed
 * with the fixed key over a statement whose subject is FUZZ_DIGEST.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_key.h"
#include "provenance.h"
#include "trust.h"

static const char statement[] =
	"{\"_type\":\"https://in-toto.io/Statement/v1\",\"predicate\":{\"buildDefinition\":"
	"{\"buildType\":\"https://bento.dev/build/v1\",\"externalParameters\":{},"
	"\"internalParameters\":{},\"resolvedDependencies\":[{\"digest\":{\"gitCommit\":"
	"\"0123456789abcdef0123456789abcdef01234567\"},\"uri\":\"git+https://example.org/r@main\"}]},"
	"\"runDetails\":{\"builder\":{\"id\":\"https://bento.dev/builder/bento-cli\"}}},"
	"\"predicateType\":\"https://slsa.dev/provenance/v1\",\"subject\":[{\"digest\":{\"sha256\":"
	"\"0000000000000000000000000000000000000000000000000000000000000000\"},\"name\":\"demo:1\"}]}";

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = getenv("BENTO_FUZZ_SEEDS");
	struct bento_buf b = BENTO_BUF_INIT;
	struct bento_error err;

	(void)argc;
	(void)argv;
	fuzz_key_init();
	if (dir) {
		if (bento_dsse_sign(BENTO_DSSE_PAYLOAD_TYPE, statement, strlen(statement), &fuzz_sk, &b, &err))
			abort();
		fuzz_seed(dir, "signed.dsse.json", b.buf, b.len);
		bento_buf_reset(&b);
		if (bento_dsse_envelope(BENTO_DSSE_PAYLOAD_TYPE, statement, strlen(statement), &b, &err))
			abort();
		fuzz_seed(dir, "unsigned.dsse.json", b.buf, b.len);
		fuzz_seed(dir, "nokeyid.dsse.json",
			  "{\"payload\":\"e30=\",\"payloadType\":\"application/vnd.in-toto+json\","
			  "\"signatures\":[{\"sig\":\"AA==\"}]}", 98);
		bento_buf_release(&b);
		exit(0);
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char label[] = "fuzz.pub", *labels[] = { label }, name[] = "provenance.dsse.json";
	struct bento_keyring kr = { &fuzz_pk, labels, 1 };
	struct bento_attachment a = { name, (char *)data, size };
	struct bento_buf payload = BENTO_BUF_INIT, out = BENTO_BUF_INIT;
	struct bento_report r = { 0 };
	struct bento_manifest m;
	struct bento_dsse e;
	struct bento_error err;
	json_t *stmt = NULL;
	size_t idx;

	memset(&m, 0, sizeof(m));
	bento_check_attestations(&r, &m, &a, 1, &kr);
	if (r.n != 1)
		abort();
	bento_report_release(&r);
	if (bento_dsse_read((const char *)data, size, &e, &err) == 0) {
		if (bento_intoto_read(e.payload.buf, e.payload.len, &stmt, &err) == 0)
			bento_provenance_check_subject(stmt, &m, &err);
		json_decref(stmt);
		bento_dsse_release(&e);
	}
	bento_dsse_verify((const char *)data, size, &fuzz_pk, 1, &payload, &idx, &err);
	if (bento_dsse_add_signature((const char *)data, size, &fuzz_sk, &out, &err) == 0) {
		bento_buf_reset(&payload);
		if (bento_dsse_read(out.buf, out.len, &e, &err))
			abort();
		bento_dsse_release(&e);
		/* Signed by the fixed key now: verifies whatever the payload type. */
		if (strstr((const char *)out.buf, "\"payloadType\":\"" BENTO_DSSE_PAYLOAD_TYPE "\"") &&
		    bento_dsse_verify(out.buf, out.len, &fuzz_pk, 1, &payload, &idx, &err))
			abort();
	}
	bento_buf_release(&payload);
	bento_buf_release(&out);
	return 0;
}
