/*
 * SHA-256 (lib/digest.c) against libsodium's one-shot SHA-256: known
 * vectors, random data of random lengths fed in random pieces, and
 * bento_hasher_update2 (two digests of one stream, as pull hashes a layer
 * and the files in it) with the two hashers in step and out of step; each
 * with SHA-NI where the CPU has it and with BENTO_DIGEST_PORTABLE forcing
 * the library's code.  Built twice: against libbento (OpenSSL without
 * SHA-NI) as test_digest, and against the shim's build of digest.c
 * (BENTO_DIGEST_SODIUM: libsodium without SHA-NI) as test_shim_digest.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "digest.h"
#include "tap.h"

/* A random piece length: mostly short, sometimes long, sometimes block-sized. */
static size_t piece(size_t left)
{
	size_t k = (size_t)rand() % 200;

	if (rand() % 8 == 0)
		k = (size_t)rand() % 5000;
	if (rand() % 8 == 0)
		k = 64 * (size_t)(rand() % 40);
	return k < left ? k : left;
}

static int same_as_sodium(const unsigned char *p, size_t n, unsigned seed)
{
	struct bento_hasher *h = bento_hasher_new();
	struct bento_digest got, again;
	unsigned char want[32];
	size_t off = 0;

	srand(seed);
	while (off < n) {
		size_t k = piece(n - off);
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

/*
 * a hashes pre bytes of its own first (pre = 0 or a multiple of 64 keeps the
 * two in step, anything else does not), then a and b both take p[0..n) in
 * random pieces through update2; each must equal its separate digest.
 */
static int update2_right(const unsigned char *pre, size_t npre, const unsigned char *p, size_t n,
			 unsigned seed)
{
	struct bento_hasher *a = bento_hasher_new(), *b = bento_hasher_new();
	struct bento_digest da, db;
	unsigned char wa[32], wb[32];
	crypto_hash_sha256_state st;
	size_t off = 0;

	srand(seed);
	bento_hasher_update(a, pre, npre);
	while (off < n) {
		size_t k = piece(n - off);
		bento_hasher_update2(a, b, p + off, k);
		off += k;
	}
	bento_hasher_final(a, &da);
	bento_hasher_final(b, &db);
	bento_hasher_free(a);
	bento_hasher_free(b);
	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, pre, npre);
	crypto_hash_sha256_update(&st, p, n);
	crypto_hash_sha256_final(&st, wa);
	crypto_hash_sha256(wb, p, n);
	return memcmp(da.raw, wa, 32) == 0 && memcmp(db.raw, wb, 32) == 0;
}

static void run(const char *how)
{
	static const struct { const char *in, *hex; } v[] = {
		{ "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
		{ "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
		{ "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
		  "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
	};
	enum { N = 70000 };
	unsigned char *p = malloc(N), *pre = malloc(1024);
	int all = 1;

	for (size_t i = 0; i < sizeof(v) / sizeof(*v); i++) {
		struct bento_digest d;
		char hex[BENTO_DIGEST_HEXLEN + 1];
		bento_digest_bytes(v[i].in, strlen(v[i].in), &d);
		bento_digest_hex(&d, hex);
		is_str(hex, v[i].hex, "%s: FIPS 180 vector %zu", how, i);
	}
	randombytes_buf(p, N);
	randombytes_buf(pre, 1024);
	for (unsigned i = 0; i < 300 && all; i++) {
		size_t n = i < 130 ? i : (size_t)randombytes_uniform(N);
		all = same_as_sodium(p, n, i);
		if (!all)
			printf("# %s: differs at length %zu\n", how, n);
	}
	ok(all, "%s: 300 random inputs (every length 0..129, then up to %d) match libsodium", how, N);
	all = 1;
	for (unsigned i = 0; i < 200 && all; i++) {
		size_t n = i < 70 ? i * 3 : (size_t)randombytes_uniform(N);
		size_t npre = 512 * (i % 3);
		all = update2_right(pre, npre, p, n, i);
		if (!all)
			printf("# %s: update2 in step differs at length %zu after %zu\n", how, n, npre);
	}
	ok(all, "%s: update2 with the two in step (0, 512, 1024 bytes ahead): both digests right", how);
	all = 1;
	for (unsigned i = 0; i < 200 && all; i++) {
		size_t n = (size_t)randombytes_uniform(N);
		size_t npre = 1 + i % 1023;
		if (npre % 64 == 0)
			npre++;
		all = update2_right(pre, npre, p, n, 1000 + i);
		if (!all)
			printf("# %s: update2 out of step differs at length %zu after %zu\n", how, n, npre);
	}
	ok(all, "%s: update2 with the two out of step: both digests right", how);
	free(p);
	free(pre);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	run("default (SHA-NI where the CPU has it)");
	setenv("BENTO_DIGEST_PORTABLE", "1", 1);
	run("the library's code (BENTO_DIGEST_PORTABLE)");
	return tap_done();
}
