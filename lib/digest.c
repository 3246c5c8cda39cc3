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

struct bento_hasher {
	crypto_hash_sha256_state st;
};

struct bento_hasher *bento_hasher_new(void)
{
	struct bento_hasher *h = bento_xmalloc(sizeof(*h));

	crypto_hash_sha256_init(&h->st);
	return h;
}

void bento_hasher_update(struct bento_hasher *h, const void *p, size_t n)
{
	if (n)
		crypto_hash_sha256_update(&h->st, p, n);
}

void bento_hasher_final(struct bento_hasher *h, struct bento_digest *out)
{
	crypto_hash_sha256_final(&h->st, out->raw);
	crypto_hash_sha256_init(&h->st);
}

void bento_hasher_free(struct bento_hasher *h)
{
	free(h);
}

void bento_digest_bytes(const void *p, size_t n, struct bento_digest *out)
{
	crypto_hash_sha256(out->raw, p, n);
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
