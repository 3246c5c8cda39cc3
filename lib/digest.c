#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*
 * BENTO_DIGEST_SODIUM builds the same API on libsodium's SHA-256, for
 * bento-shim: it is linked statically and already has libsodium for
 * signatures, while a static libcrypto brings EVP's provider machinery
 * (dlopen, getaddrinfo) along: a static SHA-256 hello on it is over 4 MB.
 * libbento keeps OpenSSL, which uses SHA-NI and is several times faster.
 */
#ifdef BENTO_DIGEST_SODIUM
#include <sodium.h>
#else
#include <openssl/evp.h>
#endif

#include "buf.h"
#include "digest.h"

#ifdef BENTO_DIGEST_SODIUM

/*
 * libsodium's SHA-256 is portable C (~220 MB/s here); where the CPU has the
 * SHA extensions (SHA-NI) the shim hashes with them instead (~6x faster),
 * so BENTO_VERIFY=full costs seconds less per GiB at container start.
 * Checked against libsodium by tests/shim/test_digest.c.
 */
#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>

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

/* state[8] as in FIPS 180-4 (a..h); n whole 64-byte blocks of p. */
__attribute__((target("sha,sse4.1,ssse3")))
static void ni_blocks(uint32_t state[8], const unsigned char *p, size_t n)
{
	const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
	__m128i tmp = _mm_loadu_si128((const __m128i *)&state[0]);
	__m128i s1 = _mm_loadu_si128((const __m128i *)&state[4]);
	__m128i s0, x[16], msg, abef, cdgh;

	tmp = _mm_shuffle_epi32(tmp, 0xB1);		/* CDAB */
	s1 = _mm_shuffle_epi32(s1, 0x1B);		/* EFGH */
	s0 = _mm_alignr_epi8(tmp, s1, 8);		/* ABEF */
	s1 = _mm_blend_epi16(s1, tmp, 0xF0);		/* CDGH */
	for (; n; n--, p += 64) {
		abef = s0;
		cdgh = s1;
		for (int j = 0; j < 4; j++)
			x[j] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16 * j)), bswap);
		/* the message schedule, four words at a time */
		for (int j = 0; j < 12; j++) {
			__m128i t = _mm_sha256msg1_epu32(x[j], x[j + 1]);
			t = _mm_add_epi32(t, _mm_alignr_epi8(x[j + 3], x[j + 2], 4));
			x[j + 4] = _mm_sha256msg2_epu32(t, x[j + 3]);
		}
		for (int j = 0; j < 16; j++) {
			msg = _mm_add_epi32(x[j], _mm_loadu_si128((const __m128i *)&K256[4 * j]));
			s1 = _mm_sha256rnds2_epu32(s1, s0, msg);
			msg = _mm_shuffle_epi32(msg, 0x0E);
			s0 = _mm_sha256rnds2_epu32(s0, s1, msg);
		}
		s0 = _mm_add_epi32(s0, abef);
		s1 = _mm_add_epi32(s1, cdgh);
	}
	tmp = _mm_shuffle_epi32(s0, 0x1B);		/* FEBA */
	s1 = _mm_shuffle_epi32(s1, 0xB1);		/* DCHG */
	s0 = _mm_blend_epi16(tmp, s1, 0xF0);		/* DCBA */
	s1 = _mm_alignr_epi8(s1, tmp, 8);		/* ABEF */
	_mm_storeu_si128((__m128i *)&state[0], s0);
	_mm_storeu_si128((__m128i *)&state[4], s1);
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
	/* BENTO_DIGEST_PORTABLE: libsodium's code even here (tests) */
	return cached && !getenv("BENTO_DIGEST_PORTABLE");
}
#else
static void ni_blocks(uint32_t state[8], const unsigned char *p, size_t n)
{
	(void)state, (void)p, (void)n;
}

static int have_ni(void)
{
	return 0;
}
#endif

struct bento_hasher {
	int ni;
	crypto_hash_sha256_state st;	/* without SHA-NI */
	uint32_t h[8];			/* with it */
	unsigned char buf[64];
	size_t blen;
	uint64_t total;
};

static void ni_init(struct bento_hasher *h)
{
	static const uint32_t iv[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
					0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 };

	memcpy(h->h, iv, sizeof(iv));
	h->blen = 0;
	h->total = 0;
}

static void hasher_init(struct bento_hasher *h)
{
	h->ni = have_ni();
	if (h->ni)
		ni_init(h);
	else
		crypto_hash_sha256_init(&h->st);
}

struct bento_hasher *bento_hasher_new(void)
{
	struct bento_hasher *h = bento_xmalloc(sizeof(*h));

	hasher_init(h);
	return h;
}

void bento_hasher_update(struct bento_hasher *h, const void *p, size_t n)
{
	const unsigned char *s = p;

	if (!n)
		return;
	if (!h->ni) {
		crypto_hash_sha256_update(&h->st, p, n);
		return;
	}
	h->total += n;
	if (h->blen) {
		size_t k = 64 - h->blen < n ? 64 - h->blen : n;
		memcpy(h->buf + h->blen, s, k);
		h->blen += k;
		s += k;
		n -= k;
		if (h->blen < 64)
			return;
		ni_blocks(h->h, h->buf, 1);
		h->blen = 0;
	}
	if (n >= 64) {
		ni_blocks(h->h, s, n / 64);
		s += n / 64 * 64;
		n %= 64;
	}
	memcpy(h->buf, s, n);
	h->blen = n;
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
		crypto_hash_sha256_final(&h->st, out->raw);
	}
	hasher_init(h);
}

void bento_hasher_free(struct bento_hasher *h)
{
	free(h);
}

void bento_digest_bytes(const void *p, size_t n, struct bento_digest *out)
{
	struct bento_hasher h;

	hasher_init(&h);
	bento_hasher_update(&h, p, n);
	bento_hasher_final(&h, out);
}

#else /* OpenSSL */

struct bento_hasher {
	EVP_MD_CTX *ctx;
};

struct bento_hasher *bento_hasher_new(void)
{
	struct bento_hasher *h = bento_xmalloc(sizeof(*h));

	h->ctx = EVP_MD_CTX_new();
	if (!h->ctx || EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1)
		abort();
	return h;
}

void bento_hasher_update(struct bento_hasher *h, const void *p, size_t n)
{
	if (n && EVP_DigestUpdate(h->ctx, p, n) != 1)
		abort();
}

void bento_hasher_final(struct bento_hasher *h, struct bento_digest *out)
{
	unsigned int len = 0;

	if (EVP_DigestFinal_ex(h->ctx, out->raw, &len) != 1 || len != BENTO_DIGEST_RAWLEN)
		abort();
	if (EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1)
		abort();
}

void bento_hasher_free(struct bento_hasher *h)
{
	if (!h)
		return;
	EVP_MD_CTX_free(h->ctx);
	free(h);
}

void bento_digest_bytes(const void *p, size_t n, struct bento_digest *out)
{
	unsigned int len = 0;

	if (EVP_Digest(p, n, out->raw, &len, EVP_sha256(), NULL) != 1)
		abort();
}

#endif

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
