/*
 * fuzz_key.h - for the trust fuzz targets: one fixed Ed25519 key (seed 0..31,
 * key id "fuzzkey!"), so that seeds signed with it reach the verifying code,
 * and seed writing: a target run with BENTO_FUZZ_SEEDS=DIR writes the seeds
 * it documents into DIR and exits (how tests/fuzz/corpus/ was made).
 */
#ifndef BENTO_FUZZ_KEY_H
#define BENTO_FUZZ_KEY_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "sign.h"

static struct bento_seckey fuzz_sk;
static struct bento_pubkey fuzz_pk;

static void __attribute__((unused)) fuzz_key_init(void)
{
	unsigned char seed[crypto_sign_SEEDBYTES], pk[crypto_sign_PUBLICKEYBYTES];

	if (sodium_init() < 0)
		abort();
	for (size_t i = 0; i < sizeof(seed); i++)
		seed[i] = (unsigned char)i;
	crypto_sign_seed_keypair(pk, fuzz_sk.sk, seed);
	memcpy(fuzz_sk.keyid, "fuzzkey!", BENTO_KEYID_LEN);
	bento_seckey_public(&fuzz_sk, &fuzz_pk);
}

/* Write DIR/name with n bytes of p (for BENTO_FUZZ_SEEDS). */
static void __attribute__((unused)) fuzz_seed(const char *dir, const char *name, const void *p, size_t n)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (!(f = fopen(path, "wb")) || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
}

#endif
