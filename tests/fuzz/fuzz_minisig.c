/*
 * libFuzzer target: .minisig signatures and their trusted comments, as
 * bento_sig_keyid, bento_sig_verify and verify's bento_check_signatures
 * read them, against the fixed key over a fixed message.  Seeds are
 * signatures by that key, so the fuzzer starts inside the verifying code.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_key.h"
#include "sign.h"
#include "trust.h"

static const char msg[] = "{\"name\":\"demo\",\"version\":\"1\"}";

/* A legacy "Ed" signature (not prehashed), as minisign before 0.9 wrote. */
static void seed_legacy(const char *dir)
{
	unsigned char raw[74], gm[64 + 4], gsig[64];
	struct bento_buf b = BENTO_BUF_INIT;

	memcpy(raw, "Ed", 2);
	memcpy(raw + 2, fuzz_sk.keyid, 8);
	crypto_sign_detached(raw + 10, NULL, (const unsigned char *)msg, strlen(msg), fuzz_sk.sk);
	memcpy(gm, raw + 10, 64);
	memcpy(gm + 64, "old!", 4);
	crypto_sign_detached(gsig, NULL, gm, sizeof(gm), fuzz_sk.sk);
	bento_buf_adds(&b, "untrusted comment: legacy\n");
	bento_base64_encode(raw, sizeof(raw), &b);
	bento_buf_adds(&b, "\ntrusted comment: old!\n");
	bento_base64_encode(gsig, sizeof(gsig), &b);
	bento_buf_addch(&b, '\n');
	fuzz_seed(dir, "legacy.minisig", b.buf, b.len);
	bento_buf_release(&b);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = getenv("BENTO_FUZZ_SEEDS");
	struct bento_error err;

	(void)argc;
	(void)argv;
	fuzz_key_init();
	if (dir) {
		static const char *const comments[] = {
			"bento demo:1 sha256:0000000000000000000000000000000000000000000000000000000000000000",
			"timestamp:1700000000\tfile:bento.json", "",
		};
		for (size_t i = 0; i < 3; i++) {
			struct bento_buf b = BENTO_BUF_INIT;
			char name[32];

			if (bento_sign(&fuzz_sk, msg, strlen(msg), comments[i], i == 2 ? "x" : NULL, &b, &err))
				abort();
			snprintf(name, sizeof(name), "sig%zu.minisig", i);
			fuzz_seed(dir, name, b.buf, b.len);
			bento_buf_release(&b);
		}
		seed_legacy(dir);
		exit(0);
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char label[] = "fuzz.pub", *labels[] = { label }, id[BENTO_KEYID_HEXLEN + 1];
	struct bento_keyring kr = { &fuzz_pk, labels, 1 };
	struct bento_attachment a = { id, (char *)data, size };
	struct bento_manifest m;
	struct bento_report r = { 0 };
	struct bento_sig_info info = { 0 };
	unsigned char keyid[BENTO_KEYID_LEN];
	struct bento_error err;

	memset(&m, 0, sizeof(m));
	if (bento_sig_keyid((const char *)data, size, keyid, &err) == 0)
		bento_keyid_hex(keyid, id);
	else
		strcpy(id, "0000000000000000");
	if (bento_sig_verify(&fuzz_pk, 1, msg, strlen(msg), (const char *)data, size, &info, &err) == 0 &&
	    (!info.trusted_comment || memcmp(keyid, fuzz_pk.keyid, BENTO_KEYID_LEN) != 0))
		abort();
	bento_sig_info_release(&info);
	bento_check_signatures(&r, &m, msg, strlen(msg), &a, 1, &kr);
	if (r.n != 1)
		abort();
	bento_report_release(&r);
	return 0;
}
