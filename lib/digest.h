/*
 * digest.h - streaming SHA-256: on the CPU's SHA extensions (SHA-NI) where it
 * has them, else OpenSSL's (libsodium's when built with BENTO_DIGEST_SODIUM,
 * for the static bento-shim).  BENTO_DIGEST_PORTABLE in the environment
 * forces the library's code (tests, benchmarks).
 *
 * Digests are written as "sha256:<64 lowercase hex>" everywhere bento shows
 * or stores them.
 */
#ifndef BENTO_DIGEST_H
#define BENTO_DIGEST_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define BENTO_DIGEST_RAWLEN 32
#define BENTO_DIGEST_HEXLEN 64
/* "sha256:" + 64 hex + NUL */
#define BENTO_DIGEST_STRLEN (7 + BENTO_DIGEST_HEXLEN + 1)

struct bento_digest {
	unsigned char raw[BENTO_DIGEST_RAWLEN];
};

/* Opaque streaming hasher. */
struct bento_hasher;

/* Returns a new hasher (aborts on OOM). */
struct bento_hasher *bento_hasher_new(void);
void bento_hasher_update(struct bento_hasher *h, const void *p, size_t n);
/*
 * The same n bytes into a and b, in one pass where it can: with SHA-NI, and
 * when both have the same number of bytes pending in a partial block (for
 * instance a whole tar stream and one file whose data starts at a
 * 512-byte boundary of it), the two share each block's message schedule
 * and cost about 1.45x one update instead of 2x.  Otherwise it is two
 * updates.  Either way the digests are those of the separate updates.
 */
void bento_hasher_update2(struct bento_hasher *a, struct bento_hasher *b, const void *p, size_t n);
/* Write the digest and reset h for reuse. */
void bento_hasher_final(struct bento_hasher *h, struct bento_digest *out);
void bento_hasher_free(struct bento_hasher *h);	/* NULL is a no-op */

/* One-shot digest of a memory range. */
void bento_digest_bytes(const void *p, size_t n, struct bento_digest *out);

/* Format as "sha256:<hex>" into out (BENTO_DIGEST_STRLEN bytes). */
void bento_digest_str(const struct bento_digest *d, char out[BENTO_DIGEST_STRLEN]);
/* Just the 64 hex characters (65 bytes with NUL). */
void bento_digest_hex(const struct bento_digest *d, char out[BENTO_DIGEST_HEXLEN + 1]);

/*
 * Parse "sha256:<64 hex>" (lower or upper case hex).  Returns 0 or
 * -BENTO_E_INVALID with err naming the bad string.
 */
int bento_digest_parse(const char *s, struct bento_digest *out, struct bento_error *err);
/* 1 when s is a well-formed "sha256:<64 lowercase hex>", else 0. */
int bento_digest_valid(const char *s);
int bento_digest_eq(const struct bento_digest *a, const struct bento_digest *b);
/* -BENTO_E_VERIFY with "WHAT: digest mismatch: expected sha256:…, got sha256:…". */
int bento_digest_mismatch(struct bento_error *err, const char *what,
			  const struct bento_digest *expect, const struct bento_digest *got);

/*
 * Hash everything readable from fd (from its current offset to EOF),
 * streaming with a fixed-size buffer.  *size gets the byte count when size is
 * non-NULL.  name is used in error messages.
 */
int bento_digest_fd(int fd, const char *name, struct bento_digest *out,
		    uint64_t *size, struct bento_error *err);
/* Same for a path. */
int bento_digest_path(const char *path, struct bento_digest *out,
		      uint64_t *size, struct bento_error *err);

#endif
