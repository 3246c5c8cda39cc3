/*
 * sign.c - minisign-compatible keys and signatures on libsodium.
 *
 * Byte layouts follow minisign 0.11 (see sign.h).  Two of its quirks shape
 * the parser:
 *  - `minisign -G -W` writes an unencrypted key whose checksum is all zero
 *    (minisign only computes it when encrypting, and never checks it for
 *    unencrypted keys).  We accept a zero checksum for kdf "\0\0" and, for
 *    every key, also check that the public half stored in sk matches the
 *    one derived from the seed, so damage is still caught.  Keys we write
 *    carry the real checksum; minisign ignores it.
 *  - minisign reads only the first two lines of a key file and strips CR
 *    and LF; we accept the same and nothing else (trailing blank lines
 *    only), with the exact base64 length required.
 *
 * Secret material (decoded key, scrypt stream, the key file's text, which
 * for an unencrypted key is the secret itself) lives in sodium_malloc()
 * memory: mlocked, guarded, and wiped by sodium_free().  Nothing secret is
 * ever passed to a bento_buf, whose realloc could leave copies behind.
 *
 * sodium_init() is called at every entry point that needs randomness or
 * the selected implementations; it is idempotent and thread-safe.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "fs.h"
#include "sign.h"
#include "sign_internal.h"

#define COMMENT_PREFIX "untrusted comment: "
#define TRUSTED_PREFIX "trusted comment: "
#define SIGALG "Ed"
#define SIGALG_HASHED "ED"
#define KDFALG "Sc"
#define CHKALG "B2"

enum {
	SALT_LEN = crypto_pwhash_scryptsalsa208sha256_SALTBYTES,	/* 32 */
	CHK_LEN = crypto_generichash_BYTES,				/* 32 */
	/* keyid | sk | checksum: the part encrypted by the scrypt stream */
	KEYNUM_SK_LEN = BENTO_KEYID_LEN + BENTO_SECKEY_LEN + CHK_LEN,	/* 104 */
	SECKEY_RAW_LEN = 6 + SALT_LEN + 8 + 8 + KEYNUM_SK_LEN,		/* 158 */
	PUBKEY_RAW_LEN = 2 + BENTO_KEYID_LEN + BENTO_PUBKEY_LEN,	/* 42 */
	SIG_RAW_LEN = 2 + BENTO_KEYID_LEN + crypto_sign_BYTES,		/* 74 */
	TRUSTED_COMMENT_MAX = 1024,
	UNTRUSTED_COMMENT_MAX = 1024,
	SIGFILE_MAX = 16384,
};

/* Offsets in the decoded secret key. */
enum {
	SK_OFF_KDF = 2,
	SK_OFF_CHKALG = 4,
	SK_OFF_SALT = 6,
	SK_OFF_OPS = SK_OFF_SALT + SALT_LEN,
	SK_OFF_MEM = SK_OFF_OPS + 8,
	SK_OFF_KEYNUM = SK_OFF_MEM + 8,
	SK_OFF_SK = SK_OFF_KEYNUM + BENTO_KEYID_LEN,
	SK_OFF_CHK = SK_OFF_SK + BENTO_SECKEY_LEN,
};

/* minisign's defaults (libsodium's *_SENSITIVE) and the test-only fast ones. */
#define KDF_OPSLIMIT 33554432ULL
#define KDF_MEMLIMIT 1073741824ULL
#define KDF_FAST_OPSLIMIT 32768ULL
#define KDF_FAST_MEMLIMIT 16777216ULL
/*
 * The limits come from the key file, and scrypt's memory and time follow
 * them: a hostile file must not make us allocate gigabytes or spin for
 * minutes.  minisign always writes its defaults (libsodium's *_SENSITIVE),
 * so nothing larger is accepted (bento-key(1)); checked before scrypt runs,
 * before a password is even asked for.  Variables only so that a fuzz
 * target can lower them (sign_internal.h).
 */
uint64_t bento_kdf_opslimit_max = KDF_OPSLIMIT;
uint64_t bento_kdf_memlimit_max = KDF_MEMLIMIT;

#define B64_LEN(n) (((n) + 2) / 3 * 4)

static int sodium_ready(struct bento_error *err)
{
	if (sodium_init() < 0)
		return bento_error_set(err, BENTO_E_FAIL, "libsodium: initialisation failed");
	return 0;
}

static uint64_t le64_load(const unsigned char *p)
{
	uint64_t x = 0;

	for (int i = 7; i >= 0; i--)
		x = (x << 8) | p[i];
	return x;
}

static void le64_store(unsigned char *p, uint64_t x)
{
	for (int i = 0; i < 8; i++, x >>= 8)
		p[i] = (unsigned char)x;
}

void bento_keyid_hex(const unsigned char keyid[BENTO_KEYID_LEN], char out[BENTO_KEYID_HEXLEN + 1])
{
	snprintf(out, BENTO_KEYID_HEXLEN + 1, "%016" PRIX64, le64_load(keyid));
}

int bento_keyid_valid(const char *s, size_t n)
{
	if (n != BENTO_KEYID_HEXLEN)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'F')))
			return 0;
	return 1;
}

/* ---- base64 ---- */

void bento_base64_encode(const void *p, size_t n, struct bento_buf *out)
{
	size_t enc = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);

	bento_buf_grow(out, enc);
	sodium_bin2base64(out->buf + out->len, enc, p, n, sodium_base64_VARIANT_ORIGINAL);
	bento_buf_setlen(out, out->len + enc - 1);
}

/*
 * Strict: standard alphabet, exact '=' padding, zero trailing bits, no
 * whitespace or other characters anywhere (libsodium rejects all of these
 * when given no ignore set and no end pointer).
 */
static int b64_decode_into(const char *s, size_t n, unsigned char *dst, size_t cap, size_t *outlen)
{
	if (n % 4 != 0)
		return -1;
	if (n == 0) {
		*outlen = 0;
		return 0;
	}
	return sodium_base642bin(dst, cap, s, n, NULL, outlen, NULL,
				 sodium_base64_VARIANT_ORIGINAL) == 0 ? 0 : -1;
}

int bento_base64_decode(const char *s, size_t n, struct bento_buf *out)
{
	size_t cap = n / 4 * 3, got = 0;

	if (n % 4 != 0 || sodium_ready(NULL))
		return -1;
	bento_buf_grow(out, cap);
	if (b64_decode_into(s, n, (unsigned char *)out->buf + out->len, cap, &got)) {
		out->buf[out->len] = '\0';
		return -1;
	}
	bento_buf_setlen(out, out->len + got);
	return 0;
}

/* ---- key files ---- */

/*
 * Read a whole key file (a regular file of at most BENTO_KEYFILE_MAX bytes,
 * passing bento_perm_check's perm) into text, which must hold
 * BENTO_KEYFILE_MAX + 1 bytes.
 */
static int keyfile_read(const char *path, unsigned perm, char *text, size_t *len,
			struct bento_error *err)
{
	size_t n = 0;
	int fd, rc = 0;

	/* Read in place (text may be secure memory), so no bento_read_file. */
	if ((rc = bento_open_checked(path, perm, &fd, NULL, err)))
		return rc;
	while (n <= BENTO_KEYFILE_MAX) {
		ssize_t r = read(fd, text + n, BENTO_KEYFILE_MAX + 1 - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = bento_error_errno(err, errno, "%s", path);
			goto out;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n > BENTO_KEYFILE_MAX) {
		rc = bento_error_set(err, BENTO_E_INVALID, "%s: key file larger than %d bytes",
				     path, BENTO_KEYFILE_MAX);
		goto out;
	}
	text[n] = '\0';
	*len = n;
out:
	close(fd);
	return rc;
}

/* Length of the line at p (up to '\n' or end), without a trailing '\r'. */
static size_t line_len(const char *p, size_t n, size_t *next)
{
	const char *nl = memchr(p, '\n', n);
	size_t l = nl ? (size_t)(nl - p) : n;

	*next = nl ? l + 1 : n;
	if (l > 0 && p[l - 1] == '\r')
		l--;
	return l;
}

static int only_blank_lines(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != '\n' && p[i] != '\r')
			return 0;
	return 1;
}

/*
 * Find the base64 line of a key file: the line after "untrusted comment: ...",
 * or, when allow_bare, the whole text when it has no comment line.  Only
 * blank lines may follow.  The line must be exactly want characters.
 */
static int keyfile_b64(const char *text, size_t len, int allow_bare, size_t want,
		       const char **b64)
{
	size_t plen = strlen(COMMENT_PREFIX), next, l;

	if (len >= plen && memcmp(text, COMMENT_PREFIX, plen) == 0) {
		line_len(text, len, &next);
		if (next == len)
			return -1;
		text += next;
		len -= next;
	} else if (!allow_bare) {
		return -1;
	}
	l = line_len(text, len, &next);
	if (l != want || !only_blank_lines(text + next, len - next))
		return -1;
	*b64 = text;
	return 0;
}

int bento_pubkey_parse(const char *data, size_t len, const char *what,
		       struct bento_pubkey *out, struct bento_error *err)
{
	unsigned char raw[PUBKEY_RAW_LEN];
	const char *b64;
	size_t got;
	int rc;

	if ((rc = sodium_ready(err)))
		return rc;
	if (len > BENTO_KEYFILE_MAX ||
	    keyfile_b64(data, len, 1, B64_LEN(PUBKEY_RAW_LEN), &b64) ||
	    b64_decode_into(b64, B64_LEN(PUBKEY_RAW_LEN), raw, sizeof(raw), &got) ||
	    got != sizeof(raw))
		return bento_error_set(err, BENTO_E_INVALID, "%s: truncated or malformed public key",
				       what);
	if (memcmp(raw, SIGALG, 2) != 0)
		return bento_error_set(err, BENTO_E_INVALID,
				       "%s: unsupported public key algorithm (not Ed25519)", what);
	memcpy(out->keyid, raw + 2, BENTO_KEYID_LEN);
	memcpy(out->pk, raw + 2 + BENTO_KEYID_LEN, BENTO_PUBKEY_LEN);
	return 0;
}

int bento_pubkey_load(const char *path, struct bento_pubkey *out, struct bento_error *err)
{
	return bento_pubkey_load_checked(path, 0, out, err);
}

int bento_pubkey_load_checked(const char *path, unsigned perm, struct bento_pubkey *out,
			      struct bento_error *err)
{
	char text[BENTO_KEYFILE_MAX + 1];
	size_t len;
	int rc;

	if ((rc = keyfile_read(path, perm, text, &len, err)))
		return rc;
	/* A file must be a real key file; only the argument form may be bare. */
	if (len < strlen(COMMENT_PREFIX) || memcmp(text, COMMENT_PREFIX, strlen(COMMENT_PREFIX)))
		return bento_error_set(err, BENTO_E_INVALID, "%s: truncated or malformed public key",
				       path);
	return bento_pubkey_parse(text, len, path, out, err);
}

void bento_pubkey_format(const struct bento_pubkey *k, struct bento_buf *out)
{
	unsigned char raw[PUBKEY_RAW_LEN];
	char hex[BENTO_KEYID_HEXLEN + 1];

	memcpy(raw, SIGALG, 2);
	memcpy(raw + 2, k->keyid, BENTO_KEYID_LEN);
	memcpy(raw + 2 + BENTO_KEYID_LEN, k->pk, BENTO_PUBKEY_LEN);
	bento_keyid_hex(k->keyid, hex);
	bento_buf_addf(out, COMMENT_PREFIX "minisign public key %s\n", hex);
	bento_base64_encode(raw, sizeof(raw), out);
	bento_buf_addch(out, '\n');
}

void bento_seckey_public(const struct bento_seckey *k, struct bento_pubkey *out)
{
	memcpy(out->keyid, k->keyid, BENTO_KEYID_LEN);
	memcpy(out->pk, k->sk + crypto_sign_SEEDBYTES, BENTO_PUBKEY_LEN);
}

void bento_seckey_wipe(struct bento_seckey *k)
{
	if (k)
		sodium_memzero(k, sizeof(*k));
}

/* Secret state of one load or generate, in one sodium_malloc() block. */
struct secwork {
	unsigned char raw[SECKEY_RAW_LEN];
	unsigned char stream[KEYNUM_SK_LEN];
	unsigned char chk[CHK_LEN];
	unsigned char sk2[BENTO_SECKEY_LEN];
	unsigned char pk2[BENTO_PUBKEY_LEN];
	char text[BENTO_KEYFILE_MAX + 1];
};

static struct secwork *secwork_new(struct bento_error *err, int *rc)
{
	struct secwork *w = sodium_malloc(sizeof(*w));

	if (!w) {
		*rc = bento_error_errno(err, ENOMEM, "secure memory for a secret key");
		return NULL;
	}
	memset(w, 0, sizeof(*w));
	return w;
}

static void seckey_checksum(const unsigned char *raw, unsigned char chk[CHK_LEN])
{
	crypto_generichash_state hs;

	crypto_generichash_init(&hs, NULL, 0, CHK_LEN);
	crypto_generichash_update(&hs, raw, 2);
	crypto_generichash_update(&hs, raw + SK_OFF_KEYNUM, BENTO_KEYID_LEN + BENTO_SECKEY_LEN);
	crypto_generichash_final(&hs, chk, CHK_LEN);
	sodium_memzero(&hs, sizeof(hs));
}

/* XOR keyid | sk | checksum with the scrypt stream of password (both ways). */
static int seckey_crypt(struct secwork *w, const char *password)
{
	int rc = crypto_pwhash_scryptsalsa208sha256(w->stream, KEYNUM_SK_LEN, password,
						    strlen(password), w->raw + SK_OFF_SALT,
						    le64_load(w->raw + SK_OFF_OPS),
						    (size_t)le64_load(w->raw + SK_OFF_MEM));

	if (rc == 0)
		for (size_t i = 0; i < KEYNUM_SK_LEN; i++)
			w->raw[SK_OFF_KEYNUM + i] ^= w->stream[i];
	sodium_memzero(w->stream, sizeof(w->stream));
	return rc;
}

/*
 * Decode the key file text in w->text (len bytes; wiped here) and check
 * the algorithm tags and the scrypt limits; what names it in messages.
 * 1 = encrypted, 0 = not, <0 = error.
 */
static int seckey_decode(const char *what, size_t len, struct secwork *w, struct bento_error *err)
{
	size_t got;
	const char *b64;
	uint64_t ops, mem;
	int rc;

	rc = keyfile_b64(w->text, len, 0, B64_LEN(SECKEY_RAW_LEN), &b64) ||
	     b64_decode_into(b64, B64_LEN(SECKEY_RAW_LEN), w->raw, sizeof(w->raw), &got) ||
	     got != SECKEY_RAW_LEN;
	sodium_memzero(w->text, sizeof(w->text));
	if (rc)
		return bento_error_set(err, BENTO_E_INVALID, "%s: truncated or malformed secret key",
				       what);
	if (memcmp(w->raw, SIGALG, 2) != 0)
		return bento_error_set(err, BENTO_E_INVALID,
				       "%s: unsupported secret key algorithm (not Ed25519)", what);
	if (memcmp(w->raw + SK_OFF_CHKALG, CHKALG, 2) != 0)
		return bento_error_set(err, BENTO_E_INVALID,
				       "%s: unsupported secret key checksum algorithm", what);
	if (memcmp(w->raw + SK_OFF_KDF, "\0\0", 2) == 0)
		return 0;
	if (memcmp(w->raw + SK_OFF_KDF, KDFALG, 2) != 0)
		return bento_error_set(err, BENTO_E_INVALID,
				       "%s: unsupported secret key derivation function", what);
	ops = le64_load(w->raw + SK_OFF_OPS);
	mem = le64_load(w->raw + SK_OFF_MEM);
	if (ops > bento_kdf_opslimit_max || mem > bento_kdf_memlimit_max || mem > SIZE_MAX)
		return bento_error_set(err, BENTO_E_INVALID,
				       "%s: secret key asks for excessive scrypt limits "
				       "(opslimit %" PRIu64 ", memlimit %" PRIu64 "; at most %" PRIu64
				       " and %" PRIu64 ", as minisign writes)",
				       what, ops, mem, bento_kdf_opslimit_max, bento_kdf_memlimit_max);
	return 1;
}

/* Read the secret key file path into w and decode it (seckey_decode). */
static int seckey_read(const char *path, struct secwork *w, struct bento_error *err)
{
	size_t len;
	int rc;

	/* Like ssh: a secret key others can read (or replace) is not used. */
	if ((rc = keyfile_read(path, BENTO_PERM_PRIVATE, w->text, &len, err)))
		return rc;
	return seckey_decode(path, len, w, err);
}

int bento_seckey_encrypted(const char *path, struct bento_error *err)
{
	struct secwork *w;
	int rc;

	if ((rc = sodium_ready(err)) || !(w = secwork_new(err, &rc)))
		return rc;
	rc = seckey_read(path, w, err);
	sodium_free(w);
	return rc;
}

/* The secret key in w, decoded by seckey_decode() as encrypted (1 or 0), into out. */
static int seckey_unlock(const char *what, int encrypted, const char *password, struct secwork *w,
			 struct bento_seckey *out, struct bento_error *err)
{
	if (encrypted && !password)
		return bento_error_set(err, BENTO_E_INVALID,
				       "%s: the secret key is encrypted and no password was given", what);
	if (encrypted && seckey_crypt(w, password))
		return bento_error_errno(err, ENOMEM, "%s: scrypt key derivation failed", what);
	seckey_checksum(w->raw, w->chk);
	if (sodium_memcmp(w->chk, w->raw + SK_OFF_CHK, CHK_LEN) != 0 &&
	    (encrypted || !sodium_is_zero(w->raw + SK_OFF_CHK, CHK_LEN)))
		return encrypted ? bento_error_set(err, BENTO_E_INVALID,
						   "%s: wrong password (or damaged key)", what)
				 : bento_error_set(err, BENTO_E_INVALID,
						   "%s: damaged secret key (checksum mismatch)", what);
	/* Covers unencrypted minisign keys, whose checksum is zero. */
	crypto_sign_seed_keypair(w->pk2, w->sk2, w->raw + SK_OFF_SK);
	if (sodium_memcmp(w->sk2, w->raw + SK_OFF_SK, BENTO_SECKEY_LEN) != 0)
		return bento_error_set(err, BENTO_E_INVALID,
				       "%s: damaged secret key (public half does not match)", what);
	memcpy(out->keyid, w->raw + SK_OFF_KEYNUM, BENTO_KEYID_LEN);
	memcpy(out->sk, w->raw + SK_OFF_SK, BENTO_SECKEY_LEN);
	return 0;
}

int bento_seckey_load(const char *path, const char *password, struct bento_seckey *out,
		      struct bento_error *err)
{
	struct secwork *w;
	int rc;

	if ((rc = sodium_ready(err)) || !(w = secwork_new(err, &rc)))
		return rc;
	if ((rc = seckey_read(path, w, err)) >= 0)
		rc = seckey_unlock(path, rc, password, w, out, err);
	sodium_free(w);
	return rc;
}

int bento_seckey_parse(const char *text, size_t len, const char *what, const char *password,
		       struct bento_seckey *out, struct bento_error *err)
{
	struct secwork *w;
	int rc;

	if ((rc = sodium_ready(err)) || !(w = secwork_new(err, &rc)))
		return rc;
	if (len > BENTO_KEYFILE_MAX) {
		rc = bento_error_set(err, BENTO_E_INVALID, "%s: key file larger than %d bytes", what,
				     BENTO_KEYFILE_MAX);
	} else {
		memcpy(w->text, text, len);
		if ((rc = seckey_decode(what, len, w, err)) >= 0)
			rc = seckey_unlock(what, rc, password, w, out, err);
	}
	sodium_free(w);
	return rc;
}

/* ---- key generation ---- */

static int kdf_fast(void)
{
	const char *v = getenv("BENTO_KDF_FAST");

	return v && *v;
}

int bento_key_generate(const char *secpath, const char *pubpath, const char *password,
		       struct bento_pubkey *pub_out, struct bento_error *err)
{
	struct bento_pubkey pub;
	struct bento_buf pubtext = BENTO_BUF_INIT;
	struct secwork *w;
	struct stat st;
	size_t tlen;
	int rc;

	if ((rc = sodium_ready(err)))
		return rc;
	/* Fail before the slow scrypt; O_EXCL below is what really decides. */
	if (lstat(secpath, &st) == 0)
		return bento_error_set(err, BENTO_E_EXISTS, "%s: already exists", secpath);
	if (lstat(pubpath, &st) == 0)
		return bento_error_set(err, BENTO_E_EXISTS, "%s: already exists", pubpath);
	if (!(w = secwork_new(err, &rc)))
		return rc;

	memcpy(w->raw, SIGALG, 2);
	memcpy(w->raw + SK_OFF_KDF, password ? KDFALG : "\0\0", 2);
	memcpy(w->raw + SK_OFF_CHKALG, CHKALG, 2);
	randombytes_buf(w->raw + SK_OFF_KEYNUM, BENTO_KEYID_LEN);
	crypto_sign_keypair(pub.pk, w->raw + SK_OFF_SK);
	memcpy(pub.keyid, w->raw + SK_OFF_KEYNUM, BENTO_KEYID_LEN);
	seckey_checksum(w->raw, w->raw + SK_OFF_CHK);
	if (password) {
		randombytes_buf(w->raw + SK_OFF_SALT, SALT_LEN);
		le64_store(w->raw + SK_OFF_OPS, kdf_fast() ? KDF_FAST_OPSLIMIT : KDF_OPSLIMIT);
		le64_store(w->raw + SK_OFF_MEM, kdf_fast() ? KDF_FAST_MEMLIMIT : KDF_MEMLIMIT);
		if (seckey_crypt(w, password)) {
			rc = bento_error_errno(err, ENOMEM, "%s: scrypt key derivation failed",
					       secpath);
			goto out;
		}
	}
	tlen = (size_t)snprintf(w->text, sizeof(w->text), "%s%s\n", COMMENT_PREFIX,
				password ? "minisign encrypted secret key" :
					   "minisign unencrypted secret key");
	sodium_bin2base64(w->text + tlen, sizeof(w->text) - tlen, w->raw, SECKEY_RAW_LEN,
			  sodium_base64_VARIANT_ORIGINAL);
	tlen += strlen(w->text + tlen);
	w->text[tlen++] = '\n';
	bento_pubkey_format(&pub, &pubtext);

	/* Each lands whole or not at all; neither replaces an existing file. */
	if ((rc = bento_write_file_atomic(secpath, w->text, tlen, 0600, BENTO_ATOMIC_NOREPLACE,
					  err)))
		goto out;
	if ((rc = bento_write_file_atomic(pubpath, pubtext.buf, pubtext.len, 0644,
					  BENTO_ATOMIC_NOREPLACE, err))) {
		unlink(secpath);
		goto out;
	}
	if (pub_out)
		*pub_out = pub;
out:
	sodium_free(w);
	bento_buf_release(&pubtext);
	return rc;
}

/* ---- signatures ---- */

/*
 * A trusted comment is signed and shown to people: UTF-8, one line, no
 * control characters except TAB (minisign's own default comment,
 * "timestamp:N\tfile:NAME", has one).
 */
static int comment_ok(const char *s, size_t n, size_t max)
{
	if (n > max || !bento_utf8_valid(s, n))
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return 0;
	}
	return 1;
}

static void prehash(const void *msg, size_t len, unsigned char h[crypto_generichash_BYTES_MAX])
{
	crypto_generichash(h, crypto_generichash_BYTES_MAX, msg, len, NULL, 0);
}

/* Ed25519 over sig | comment: the global signature. */
static void global_sign(const struct bento_seckey *k, const unsigned char *sig,
			const char *tc, size_t tclen, unsigned char out[crypto_sign_BYTES])
{
	unsigned char *m = bento_xmalloc(crypto_sign_BYTES + tclen);

	memcpy(m, sig, crypto_sign_BYTES);
	memcpy(m + crypto_sign_BYTES, tc, tclen);
	crypto_sign_detached(out, NULL, m, crypto_sign_BYTES + tclen, k->sk);
	free(m);
}

static int global_verify(const struct bento_pubkey *k, const unsigned char *sig,
			 const char *tc, size_t tclen, const unsigned char *gsig)
{
	unsigned char *m = bento_xmalloc(crypto_sign_BYTES + tclen);
	int rc;

	memcpy(m, sig, crypto_sign_BYTES);
	memcpy(m + crypto_sign_BYTES, tc, tclen);
	rc = crypto_sign_verify_detached(gsig, m, crypto_sign_BYTES + tclen, k->pk);
	free(m);
	return rc;
}

int bento_sign(const struct bento_seckey *k, const void *msg, size_t len,
	       const char *trusted_comment, const char *untrusted_comment,
	       struct bento_buf *out, struct bento_error *err)
{
	unsigned char raw[SIG_RAW_LEN], gsig[crypto_sign_BYTES];
	unsigned char h[crypto_generichash_BYTES_MAX];
	char hex[BENTO_KEYID_HEXLEN + 1];
	size_t tclen;
	int rc;

	if ((rc = sodium_ready(err)))
		return rc;
	if (!trusted_comment)
		trusted_comment = "";
	tclen = strlen(trusted_comment);
	if (!comment_ok(trusted_comment, tclen, TRUSTED_COMMENT_MAX))
		return bento_error_set(err, BENTO_E_USAGE,
				       "trusted comment: must be one line of at most %d bytes of "
				       "UTF-8 without control characters", TRUSTED_COMMENT_MAX);
	if (untrusted_comment &&
	    !comment_ok(untrusted_comment, strlen(untrusted_comment), UNTRUSTED_COMMENT_MAX))
		return bento_error_set(err, BENTO_E_USAGE,
				       "untrusted comment: must be one line of at most %d bytes of "
				       "UTF-8 without control characters", UNTRUSTED_COMMENT_MAX);

	memcpy(raw, SIGALG_HASHED, 2);
	memcpy(raw + 2, k->keyid, BENTO_KEYID_LEN);
	prehash(msg, len, h);
	crypto_sign_detached(raw + 2 + BENTO_KEYID_LEN, NULL, h, sizeof(h), k->sk);
	global_sign(k, raw + 2 + BENTO_KEYID_LEN, trusted_comment, tclen, gsig);

	bento_keyid_hex(k->keyid, hex);
	if (untrusted_comment)
		bento_buf_addf(out, COMMENT_PREFIX "%s\n", untrusted_comment);
	else
		bento_buf_addf(out, COMMENT_PREFIX "signature from bento secret key %s\n", hex);
	bento_base64_encode(raw, sizeof(raw), out);
	bento_buf_addf(out, "\n" TRUSTED_PREFIX "%s\n", trusted_comment);
	bento_base64_encode(gsig, sizeof(gsig), out);
	bento_buf_addch(out, '\n');
	return 0;
}

struct parsed_sig {
	unsigned char raw[SIG_RAW_LEN];	/* alg | keyid | sig */
	unsigned char gsig[crypto_sign_BYTES];
	const char *tc;			/* points into the input */
	size_t tclen;
	int hashed;
};

static int sig_parse(const char *s, size_t n, struct parsed_sig *p, struct bento_error *err)
{
	size_t plen = strlen(COMMENT_PREFIX), tplen = strlen(TRUSTED_PREFIX), next, l, got;
	const char *why = "truncated or malformed";

	if (n > SIGFILE_MAX)
		goto bad;
	/* untrusted comment line */
	if (n < plen || memcmp(s, COMMENT_PREFIX, plen) != 0)
		goto bad;
	line_len(s, n, &next);
	s += next, n -= next;
	/* signature line */
	l = line_len(s, n, &next);
	if (l != B64_LEN(SIG_RAW_LEN) || b64_decode_into(s, l, p->raw, sizeof(p->raw), &got) ||
	    got != SIG_RAW_LEN)
		goto bad;
	s += next, n -= next;
	/* trusted comment line */
	l = line_len(s, n, &next);
	if (l < tplen || memcmp(s, TRUSTED_PREFIX, tplen) != 0)
		goto bad;
	p->tc = s + tplen;
	p->tclen = l - tplen;
	if (!comment_ok(p->tc, p->tclen, TRUSTED_COMMENT_MAX)) {
		why = "malformed trusted comment in";
		goto bad;
	}
	s += next, n -= next;
	/* global signature line */
	l = line_len(s, n, &next);
	if (l != B64_LEN(crypto_sign_BYTES) ||
	    b64_decode_into(s, l, p->gsig, sizeof(p->gsig), &got) || got != crypto_sign_BYTES ||
	    !only_blank_lines(s + next, n - next))
		goto bad;
	if (memcmp(p->raw, SIGALG_HASHED, 2) == 0)
		p->hashed = 1;
	else if (memcmp(p->raw, SIGALG, 2) == 0)
		p->hashed = 0;
	else
		return bento_error_set(err, BENTO_E_VERIFY,
				       "signature: unsupported signature algorithm");
	return 0;
bad:
	return bento_error_set(err, BENTO_E_VERIFY, "signature: %s signature", why);
}

int bento_sig_keyid(const char *sig, size_t siglen, unsigned char keyid[BENTO_KEYID_LEN],
		    struct bento_error *err)
{
	struct parsed_sig p;
	int rc;

	if ((rc = sig_parse(sig, siglen, &p, err)))
		return rc;
	memcpy(keyid, p.raw + 2, BENTO_KEYID_LEN);
	return 0;
}

void bento_sig_info_release(struct bento_sig_info *i)
{
	if (!i)
		return;
	free(i->trusted_comment);
	i->trusted_comment = NULL;
}

int bento_sig_verify(const struct bento_pubkey *keys, size_t n, const void *msg, size_t len,
		     const char *sig, size_t siglen, struct bento_sig_info *info,
		     struct bento_error *err)
{
	unsigned char h[crypto_generichash_BYTES_MAX];
	const unsigned char *keyid, *s;
	char hex[BENTO_KEYID_HEXLEN + 1];
	struct parsed_sig p;
	enum { UNTRUSTED, MISMATCH, ALTERED, GOOD } state = UNTRUSTED;
	size_t i;
	int rc;

	if ((rc = sodium_ready(err)) || (rc = sig_parse(sig, siglen, &p, err)))
		return rc;
	keyid = p.raw + 2;
	s = p.raw + 2 + BENTO_KEYID_LEN;
	if (p.hashed)
		prehash(msg, len, h);
	/* Several given keys may share an id (duplicates, or a collision): try each. */
	for (i = 0; i < n && state != GOOD; i++) {
		if (memcmp(keys[i].keyid, keyid, BENTO_KEYID_LEN) != 0)
			continue;
		if (crypto_sign_verify_detached(s, p.hashed ? h : msg, p.hashed ? sizeof(h) : len,
						keys[i].pk) != 0)
			state = MISMATCH;
		else if (global_verify(&keys[i], s, p.tc, p.tclen, p.gsig) != 0)
			state = state == MISMATCH ? MISMATCH : ALTERED;
		else
			state = GOOD;
	}
	bento_keyid_hex(keyid, hex);
	switch (state) {
	case UNTRUSTED:
		return bento_error_set(err, BENTO_E_VERIFY,
				       "signature: signed by key %s, which is not trusted", hex);
	case MISMATCH:
		return bento_error_set(err, BENTO_E_VERIFY,
				       "signature by key %s does not match the signed data", hex);
	case ALTERED:
		return bento_error_set(err, BENTO_E_VERIFY,
				       "signature by key %s: trusted comment was altered", hex);
	case GOOD:
		break;
	}
	if (info) {
		memcpy(info->keyid, keyid, BENTO_KEYID_LEN);
		info->trusted_comment = bento_xstrndup(p.tc, p.tclen);
		info->key_index = i - 1;
	}
	return 0;
}

void bento_ed25519_sign(const struct bento_seckey *k, const void *msg, size_t len,
			unsigned char sig[64])
{
	/* No error path here: libsodium that cannot start is like OOM. */
	if (sodium_init() < 0)
		abort();
	crypto_sign_detached(sig, NULL, msg, len, k->sk);
}

int bento_ed25519_verify(const struct bento_pubkey *k, const void *msg, size_t len,
			 const unsigned char sig[64])
{
	if (sodium_init() < 0)
		return -BENTO_E_FAIL;
	return crypto_sign_verify_detached(sig, msg, len, k->pk) == 0 ? 0 : -BENTO_E_VERIFY;
}
