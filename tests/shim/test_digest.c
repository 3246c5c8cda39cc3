/*
 * The shim's SHA-256 (lib/digest.c built with BENTO_DIGEST_SODIUM: SHA-NI
 * where the CPU has it, else libsodium) against libsodium's one-shot
 * SHA-256: known vectors, then random data of random lengths fed in random
 * pieces, with SHA-NI and with BENTO_DIGEST_PORTABLE forcing libsodium.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "digest.h"
#include "tap.h"

static int same_as_sodium(const unsigned char *p, size_t n, unsigned seed)
{
	struct bento_hasher *h = bento_hasher_new();
	struct bento_digest got, again;
	unsigned char want[32];
	size_t off = 0;

	srand(seed);
	while (off < n) {
		size_t k = (size_t)rand() % 200;
		if (rand() % 8 == 0)
			k = (size_t)rand() % 5000;
		if (k > n - off)
			k = n - off;
		bento_hasher_update(h, p + off, k);
		off += k;
	}
	bento_hasher_final(h, &got);
	/* final resets: the same bytes again give the same digest */
	bento_hasher_update(h, p, n);
	bento_hasher_final(h, &again);
	bento_hasher_free(h);
	crypto_hash_sha256(want, p, n);
	return memcmp(got.raw, want, 32) == 0 && memcmp(again.raw, want, 32) == 0;
}

static void run(const char *how)
{
	static const struct { const char *in, *hex; } v[] = {
		{ "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
		{ "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
		{ "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
		  "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
	};
	unsigned char *p = malloc(70000);
	int all = 1;

	for (size_t i = 0; i < sizeof(v) / sizeof(*v); i++) {
		struct bento_digest d;
		char hex[BENTO_DIGEST_HEXLEN + 1];
		bento_digest_bytes(v[i].in, strlen(v[i].in), &d);
		bento_digest_hex(&d, hex);
		is_str(hex, v[i].hex, "%s: FIPS 180 vector %zu", how, i);
	}
	randombytes_buf(p, 70000);
	for (unsigned i = 0; i < 300 && all; i++) {
		size_t n = i < 130 ? i : (size_t)randombytes_uniform(70000);
		all = same_as_sodium(p, n, i);
		if (!all)
			printf("# %s: differs at length %zu\n", how, n);
	}
	ok(all, "%s: 300 random inputs (every length 0..129, then up to 70000) match libsodium", how);
	free(p);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	run("default (SHA-NI where the CPU has it)");
	setenv("BENTO_DIGEST_PORTABLE", "1", 1);
	run("libsodium (BENTO_DIGEST_PORTABLE)");
	return tap_done();
}
