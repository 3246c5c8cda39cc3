/*
 * libFuzzer target: minisign secret key files, encrypted ("Sc", scrypt) or
 * not, with the password "pw" and without one.  The scrypt bounds are
 * lowered to 65536 / 16 MiB so that every derivation the fuzzer reaches is
 * cheap; the bound check itself is what refuses the rest (and is tested at
 * minisign's real bounds in test_sign).  A key that loads must sign, and
 * its signature verify with its public half.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_key.h"
#include "sign.h"
#include "sign_internal.h"

/* A key file for fuzz_sk: encrypted with "pw" at these limits, or not (ops 0). */
static void seed_key(const char *dir, const char *name, uint64_t ops, uint64_t mem)
{
	unsigned char raw[158], chk[32], stream[104];
	struct bento_buf b = BENTO_BUF_INIT;
	crypto_generichash_state hs;

	memset(raw, 0, sizeof(raw));
	memcpy(raw, ops ? "EdScB2" : "Ed\0\0B2", 6);
	for (int i = 0; i < 32; i++)
		raw[6 + i] = (unsigned char)(0xa0 + i);
	for (int i = 0; i < 8; i++) {
		raw[38 + i] = (unsigned char)(ops >> (8 * i));
		raw[46 + i] = (unsigned char)(mem >> (8 * i));
	}
	memcpy(raw + 54, fuzz_sk.keyid, 8);
	memcpy(raw + 62, fuzz_sk.sk, 64);
	crypto_generichash_init(&hs, NULL, 0, 32);
	crypto_generichash_update(&hs, raw, 2);
	crypto_generichash_update(&hs, raw + 54, 72);
	crypto_generichash_final(&hs, chk, 32);
	memcpy(raw + 126, chk, 32);
	if (ops) {
		if (crypto_pwhash_scryptsalsa208sha256(stream, sizeof(stream), "pw", 2, raw + 6, ops,
						       (size_t)mem) != 0)
			abort();
		for (size_t i = 0; i < sizeof(stream); i++)
			raw[54 + i] ^= stream[i];
	}
	bento_buf_addf(&b, "untrusted comment: minisign %s secret key\n", ops ? "encrypted" : "unencrypted");
	bento_base64_encode(raw, sizeof(raw), &b);
	bento_buf_addch(&b, '\n');
	fuzz_seed(dir, name, b.buf, b.len);
	bento_buf_release(&b);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = getenv("BENTO_FUZZ_SEEDS");

	(void)argc;
	(void)argv;
	fuzz_key_init();
	bento_kdf_opslimit_max = 65536;
	bento_kdf_memlimit_max = 16u << 20;
	if (dir) {
		seed_key(dir, "plain.key", 0, 0);
		seed_key(dir, "scrypt.key", 32768, 16u << 20);
		seed_key(dir, "scrypt-small-mem.key", 65536, 1u << 16);
		exit(0);
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const passwords[] = { "pw", NULL };
	struct bento_error err;

	for (size_t i = 0; i < 2; i++) {
		struct bento_seckey k;
		struct bento_pubkey pub;
		struct bento_buf sig = BENTO_BUF_INIT;

		if (bento_seckey_parse((const char *)data, size, "fuzz", passwords[i], &k, &err))
			continue;
		bento_seckey_public(&k, &pub);
		if (bento_sign(&k, "msg", 3, "tc", NULL, &sig, &err) ||
		    bento_sig_verify(&pub, 1, "msg", 3, sig.buf, sig.len, NULL, &err))
			abort();
		bento_seckey_wipe(&k);
		bento_buf_release(&sig);
	}
	return 0;
}
