#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*
 * SHA-256 is computed by our own code on the CPU's SHA extensions (SHA-NI)
 * where it has them, and by a library otherwise: OpenSSL for libbento,
 * libsodium under BENTO_DIGEST_SODIUM.  That build is bento-shim's: it is
 * linked statically and already has libsodium for signatures, while a
 * static libcrypto brings EVP's provider machinery (dlopen, getaddrinfo)
 * along: a static SHA-256 hello on it is over 4 MB.
 *
 * Our SHA-NI code runs as fast as OpenSSL's (about 1.3 GB/s here) and,
 * unlike a library, can hash one stream of bytes into two digests in one
 * pass (bento_hasher_update2): the two states share each block's message
 * schedule and their rounds interleave, so both cost about 1.45x one
 * instead of 2x.  Pull needs exactly that: a layer's digest and the digest
 * of each file inside it, over the same bytes.
 */
#ifdef BENTO_DIGEST_SODIUM
#include <sodium.h>
#else
#include <openssl/evp.h>
#endif

#include "buf.h"
#include "digest.h"

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>

#define NI_TARGET __attribute__((target("sha,sse4.1,ssse3")))

static const uint32_t K256[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

/* state[8] (a..h, FIPS 180-4) <-> the ABEF/CDGH register pair sha256rnds2 works on */
static inline NI_TARGET void ni_load(const uint32_t state[8], __m128i *abef, __m128i *cdgh)
{
	__m128i t = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&state[0]), 0xB1); /* CDAB */
	__m128i s = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&state[4]), 0x1B); /* EFGH */

	*abef = _mm_alignr_epi8(t, s, 8);
	*cdgh = _mm_blend_epi16(s, t, 0xF0);
}

static inline NI_TARGET void ni_store(uint32_t state[8], __m128i abef, __m128i cdgh)
{
	__m128i t = _mm_shuffle_epi32(abef, 0x1B);	/* FEBA */
	__m128i s = _mm_shuffle_epi32(cdgh, 0xB1);	/* DCHG */

	_mm_storeu_si128((__m128i *)&state[0], _mm_blend_epi16(t, s, 0xF0));	/* DCBA */
	_mm_storeu_si128((__m128i *)&state[4], _mm_alignr_epi8(s, t, 8));	/* HGFE */
}

/*
 * The message schedule as a ring of four registers, each four words: in
 * round group j (rounds 4j..4j+3) w[j & 3] holds W[4j..4j+3], and words
 * 4(j+4).. replace it once the group has used them.  Written out this way
 * (not as a 16-register array) nothing spills, which is what brings this
 * to OpenSSL's speed.
 */
#define NI_LOAD_BLOCK(w, p, bswap)                                                            \
	do {                                                                                  \
		_Pragma("GCC unroll 4") for (int j_ = 0; j_ < 4; j_++)                                               \
			w[j_] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)((p) + 16 * j_)), \
						 bswap);                                      \
	} while (0)
#define NI_SCHEDULE(w, j)                                                                     \
	(w[(j) & 3] = _mm_sha256msg2_epu32(                                                   \
		 _mm_add_epi32(_mm_sha256msg1_epu32(w[(j) & 3], w[((j) + 1) & 3]),            \
			       _mm_alignr_epi8(w[((j) + 3) & 3], w[((j) + 2) & 3], 4)),       \
		 w[((j) + 3) & 3]))

/* n whole 64-byte blocks of p into state. */
static NI_TARGET void ni_blocks(uint32_t state[8], const unsigned char *p, size_t n)
{
	const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
	__m128i s0, s1, w[4];

	ni_load(state, &s0, &s1);
	for (; n; n--, p += 64) {
		__m128i abef = s0, cdgh = s1;

		NI_LOAD_BLOCK(w, p, bswap);
#pragma GCC unroll 16
		for (int j = 0; j < 16; j++) {
			__m128i msg = _mm_add_epi32(w[j & 3], _mm_loadu_si128((const __m128i *)&K256[4 * j]));
			s1 = _mm_sha256rnds2_epu32(s1, s0, msg);
			if (j < 12)
				NI_SCHEDULE(w, j);
			s0 = _mm_sha256rnds2_epu32(s0, s1, _mm_shuffle_epi32(msg, 0x0E));
		}
		s0 = _mm_add_epi32(s0, abef);
		s1 = _mm_add_epi32(s1, cdgh);
	}
	ni_store(state, s0, s1);
}

/* The same blocks into two states at once: one schedule, the rounds interleaved. */
static NI_TARGET void ni_blocks2(uint32_t sa[8], uint32_t sb[8], const unsigned char *p, size_t n)
{
	const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
	__m128i a0, a1, b0, b1, w[4];

	ni_load(sa, &a0, &a1);
	ni_load(sb, &b0, &b1);
	for (; n; n--, p += 64) {
		__m128i pa0 = a0, pa1 = a1, pb0 = b0, pb1 = b1;

		NI_LOAD_BLOCK(w, p, bswap);
#pragma GCC unroll 16
		for (int j = 0; j < 16; j++) {
			__m128i msg = _mm_add_epi32(w[j & 3], _mm_loadu_si128((const __m128i *)&K256[4 * j]));
			__m128i hi = _mm_shuffle_epi32(msg, 0x0E);
			a1 = _mm_sha256rnds2_epu32(a1, a0, msg);
			b1 = _mm_sha256rnds2_epu32(b1, b0, msg);
			if (j < 12)
				NI_SCHEDULE(w, j);
			a0 = _mm_sha256rnds2_epu32(a0, a1, hi);
			b0 = _mm_sha256rnds2_epu32(b0, b1, hi);
		}
		a0 = _mm_add_epi32(a0, pa0);
		a1 = _mm_add_epi32(a1, pa1);
		b0 = _mm_add_epi32(b0, pb0);
		b1 = _mm_add_epi32(b1, pb1);
	}
	ni_store(sa, a0, a1);
	ni_store(sb, b0, b1);
}

static int have_ni(void)
{
	static int cached = -1;
	unsigned a, b, c, d;

	if (cached < 0) {
		int sha = __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & (1u << 29));
		int sse = __get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 19)) && (c & (1u << 9));
		cached = sha && sse;
	}
	/* BENTO_DIGEST_PORTABLE: the library's code even here (tests, benchmarks) */
	return cached && !getenv("BENTO_DIGEST_PORTABLE");
}
#else
static void ni_blocks(uint32_t state[8], const unsigned char *p, size_t n)
{
	(void)state, (void)p, (void)n;
}

static void ni_blocks2(uint32_t sa[8], uint32_t sb[8], const unsigned char *p, size_t n)
{
	(void)sa, (void)sb, (void)p, (void)n;
}

static int have_ni(void)
{
	return 0;
}
#endif

struct bento_hasher {
	int ni;
	uint32_t h[8];			/* with SHA-NI: the state, */
	unsigned char buf[64];		/* a partial block, */
	size_t blen;
	uint64_t total;			/* and the byte count */
#ifdef BENTO_DIGEST_SODIUM
	crypto_hash_sha256_state st;	/* without */
#else
	EVP_MD_CTX *ctx;		/* without; NULL with */
#endif
};

/* The library's SHA-256, for CPUs without the SHA extensions. */
#ifdef BENTO_DIGEST_SODIUM
static void lib_init(struct bento_hasher *h)
{
	crypto_hash_sha256_init(&h->st);
}

static void lib_update(struct bento_hasher *h, const void *p, size_t n)
{
	crypto_hash_sha256_update(&h->st, p, n);
}

static void lib_final(struct bento_hasher *h, struct bento_digest *out)
{
	crypto_hash_sha256_final(&h->st, out->raw);
}

static void lib_release(struct bento_hasher *h)
{
	(void)h;
}

static void lib_oneshot(const void *p, size_t n, struct bento_digest *out)
{
	crypto_hash_sha256(out->raw, p, n);
}
#else
static void lib_init(struct bento_hasher *h)
{
	if (!h->ctx && !(h->ctx = EVP_MD_CTX_new()))
		abort();
	if (EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1)
		abort();
}

static void lib_update(struct bento_hasher *h, const void *p, size_t n)
{
	if (EVP_DigestUpdate(h->ctx, p, n) != 1)
		abort();
}

static void lib_final(struct bento_hasher *h, struct bento_digest *out)
{
	unsigned int len = 0;

	if (EVP_DigestFinal_ex(h->ctx, out->raw, &len) != 1 || len != BENTO_DIGEST_RAWLEN)
		abort();
}

static void lib_release(struct bento_hasher *h)
{
	EVP_MD_CTX_free(h->ctx);
	h->ctx = NULL;
}

static void lib_oneshot(const void *p, size_t n, struct bento_digest *out)
{
	unsigned int len = 0;

	if (EVP_Digest(p, n, out->raw, &len, EVP_sha256(), NULL) != 1)
		abort();
}
#endif

static void hasher_init(struct bento_hasher *h)
{
	static const uint32_t iv[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
					0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 };

	h->ni = have_ni();
	if (!h->ni) {
		lib_init(h);
		return;
	}
	memcpy(h->h, iv, sizeof(iv));
	h->blen = 0;
	h->total = 0;
}

struct bento_hasher *bento_hasher_new(void)
{
	struct bento_hasher *h = bento_xcalloc(1, sizeof(*h));

	hasher_init(h);
	return h;
}

/* Top up a partial block from *s; 1 when it is now whole. */
static int fill_block(struct bento_hasher *h, const unsigned char **s, size_t *n)
{
	size_t k = 64 - h->blen < *n ? 64 - h->blen : *n;

	memcpy(h->buf + h->blen, *s, k);
	h->blen += k;
	*s += k;
	*n -= k;
	return h->blen == 64;
}

void bento_hasher_update(struct bento_hasher *h, const void *p, size_t n)
{
	const unsigned char *s = p;

	if (!n)
		return;
	if (!h->ni) {
		lib_update(h, p, n);
		return;
	}
	h->total += n;
	if (h->blen) {
		if (!fill_block(h, &s, &n))
			return;
		ni_blocks(h->h, h->buf, 1);
		h->blen = 0;
	}
	ni_blocks(h->h, s, n / 64);
	s += n / 64 * 64;
	n %= 64;
	memcpy(h->buf, s, n);
	h->blen = n;
}

void bento_hasher_update2(struct bento_hasher *a, struct bento_hasher *b, const void *p, size_t n)
{
	const unsigned char *s = p;

	if (!a->ni || !b->ni || a->blen != b->blen) {
		bento_hasher_update(a, p, n);
		bento_hasher_update(b, p, n);
		return;
	}
	if (!n)
		return;
	a->total += n;
	b->total += n;
	if (a->blen) {
		const unsigned char *sb = s;
		size_t nb = n;

		fill_block(b, &sb, &nb);
		if (!fill_block(a, &s, &n))
			return;
		ni_blocks(a->h, a->buf, 1);
		ni_blocks(b->h, b->buf, 1);
		a->blen = b->blen = 0;
	}
	ni_blocks2(a->h, b->h, s, n / 64);
	s += n / 64 * 64;
	n %= 64;
	memcpy(a->buf, s, n);
	memcpy(b->buf, s, n);
	a->blen = b->blen = n;
}

void bento_hasher_final(struct bento_hasher *h, struct bento_digest *out)
{
	if (h->ni) {
		uint64_t bits = h->total * 8;

		h->buf[h->blen++] = 0x80;
		if (h->blen > 56) {
			memset(h->buf + h->blen, 0, 64 - h->blen);
			ni_blocks(h->h, h->buf, 1);
			h->blen = 0;
		}
		memset(h->buf + h->blen, 0, 56 - h->blen);
		for (int i = 0; i < 8; i++)
			h->buf[56 + i] = (unsigned char)(bits >> (56 - 8 * i));
		ni_blocks(h->h, h->buf, 1);
		for (int i = 0; i < 8; i++)
			for (int k = 0; k < 4; k++)
				out->raw[4 * i + k] = (unsigned char)(h->h[i] >> (24 - 8 * k));
	} else {
		lib_final(h, out);
	}
	hasher_init(h);
}

void bento_hasher_free(struct bento_hasher *h)
{
	if (!h)
		return;
	lib_release(h);
	free(h);
}

void bento_digest_bytes(const void *p, size_t n, struct bento_digest *out)
{
	struct bento_hasher h;

	if (!have_ni()) {
		lib_oneshot(p, n, out);
		return;
	}
	memset(&h, 0, sizeof(h));
	hasher_init(&h);
	bento_hasher_update(&h, p, n);
	bento_hasher_final(&h, out);
}

void bento_digest_hex(const struct bento_digest *d, char out[BENTO_DIGEST_HEXLEN + 1])
{
	static const char hex[] = "0123456789abcdef";

	for (int i = 0; i < BENTO_DIGEST_RAWLEN; i++) {
		out[2 * i] = hex[d->raw[i] >> 4];
		out[2 * i + 1] = hex[d->raw[i] & 15];
	}
	out[BENTO_DIGEST_HEXLEN] = '\0';
}

void bento_digest_str(const struct bento_digest *d, char out[BENTO_DIGEST_STRLEN])
{
	memcpy(out, "sha256:", 7);
	bento_digest_hex(d, out + 7);
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int bento_digest_parse(const char *s, struct bento_digest *out, struct bento_error *err)
{
	struct bento_digest d;

	if (strncmp(s, "sha256:", 7) != 0 || strlen(s) != 7 + BENTO_DIGEST_HEXLEN)
		return bento_error_set(err, BENTO_E_INVALID,
				       "%.80s: not a sha256 digest (want sha256:<64 hex>)", s);
	for (int i = 0; i < BENTO_DIGEST_RAWLEN; i++) {
		int hi = hexval((unsigned char)s[7 + 2 * i]);
		int lo = hexval((unsigned char)s[8 + 2 * i]);
		if (hi < 0 || lo < 0)
			return bento_error_set(err, BENTO_E_INVALID,
					       "%.80s: not a sha256 digest (bad hex)", s);
		d.raw[i] = (unsigned char)(hi << 4 | lo);
	}
	*out = d;
	return 0;
}

int bento_digest_valid(const char *s)
{
	if (strncmp(s, "sha256:", 7) != 0 || strlen(s) != 7 + BENTO_DIGEST_HEXLEN)
		return 0;
	for (const char *p = s + 7; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return 0;
	return 1;
}

int bento_digest_eq(const struct bento_digest *a, const struct bento_digest *b)
{
	return memcmp(a->raw, b->raw, BENTO_DIGEST_RAWLEN) == 0;
}

int bento_digest_mismatch(struct bento_error *err, const char *what,
			  const struct bento_digest *expect, const struct bento_digest *got)
{
	char a[BENTO_DIGEST_STRLEN], b[BENTO_DIGEST_STRLEN];

	bento_digest_str(expect, a);
	bento_digest_str(got, b);
	return bento_error_set(err, BENTO_E_VERIFY, "%s: digest mismatch: expected %s, got %s",
			       what, a, b);
}

enum { HASH_BUFSZ = 1 << 20 };

int bento_digest_fd(int fd, const char *name, struct bento_digest *out,
		    uint64_t *size, struct bento_error *err)
{
	struct bento_hasher *h = bento_hasher_new();
	unsigned char *buf = bento_xmalloc(HASH_BUFSZ);
	uint64_t total = 0;
	int rc = 0;

	for (;;) {
		ssize_t n = read(fd, buf, HASH_BUFSZ);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = bento_error_errno(err, errno, "%s: read", name);
			goto out;
		}
		if (n == 0)
			break;
		bento_hasher_update(h, buf, (size_t)n);
		total += (uint64_t)n;
	}
	bento_hasher_final(h, out);
	if (size)
		*size = total;
out:
	free(buf);
	bento_hasher_free(h);
	return rc;
}

int bento_digest_path(const char *path, struct bento_digest *out,
		      uint64_t *size, struct bento_error *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return bento_error_errno(err, errno, "%s", path);
	rc = bento_digest_fd(fd, path, out, size, err);
	close(fd);
	return rc;
}
