/*
 * sign.h - keys and signatures in minisign's formats (libsodium Ed25519).
 *
 * Keys made by `minisign -G` work here and keys made here work in minisign.
 * Signatures are prehashed ("ED": Ed25519 over BLAKE2b-512 of the message)
 * with a trusted comment that is itself signed, exactly as minisign 0.9+
 * writes them, so `minisign -V -p KEY.pub -m bento.json -x SIG` verifies a
 * bento signature.
 *
 * Formats (all base64 lines after an "untrusted comment: " line):
 *   public key  "Ed" | keyid[8] | pk[32]
 *   secret key  "Ed" | kdf "Sc" or "\0\0" | "B2" | salt[32] | opslimit u64le |
 *               memlimit u64le | (keyid[8] | sk[64] | checksum[32]) XOR scrypt
 *               stream when encrypted; checksum = BLAKE2b-256("Ed"|keyid|sk)
 *   signature   "ED" | keyid[8] | sig[64]; then "trusted comment: TEXT" and
 *               base64(global_sig[64]) = Ed25519(sig | TEXT)
 *
 * Errors: malformed or truncated key files and wrong passwords are
 * -BENTO_E_INVALID (exit 1) naming the file; a signature that does not
 * verify, is malformed, or is by a key not among those given is
 * -BENTO_E_VERIFY (exit 3) naming the key id.  Secrets are wiped with
 * sodium_memzero after use and never appear in messages.
 */
#ifndef BENTO_SIGN_H
#define BENTO_SIGN_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "error.h"
#include "fs.h"

#define BENTO_KEYID_LEN 8
#define BENTO_KEYID_HEXLEN 16
#define BENTO_PUBKEY_LEN 32
#define BENTO_SECKEY_LEN 64
#define BENTO_KEYFILE_MAX 4096

struct bento_pubkey {
	unsigned char keyid[BENTO_KEYID_LEN];
	unsigned char pk[BENTO_PUBKEY_LEN];
};

struct bento_seckey {
	unsigned char keyid[BENTO_KEYID_LEN];
	unsigned char sk[BENTO_SECKEY_LEN];	/* libsodium layout: seed | pk */
};

/*
 * Key id as minisign prints it: 16 uppercase hex digits of the id read as a
 * little-endian 64-bit number.
 */
void bento_keyid_hex(const unsigned char keyid[BENTO_KEYID_LEN], char out[BENTO_KEYID_HEXLEN + 1]);
/*
 * 1 when the n bytes at s are a key id as bento_keyid_hex writes it (16
 * upper-case hex digits, nothing else), else 0: the one rule for the names
 * signatures are kept under (manifest.h, bento_signature_check; store.h).
 */
int bento_keyid_valid(const char *s, size_t n);

/*
 * Generate a key pair and write SECPATH (mode 0600, O_CREAT|O_EXCL|O_NOFOLLOW)
 * and PUBPATH (0644, O_EXCL).  password NULL = unencrypted secret key (kdf
 * "\0\0"); else scrypt with minisign's default limits (opslimit 33554432,
 * memlimit 1073741824) unless BENTO_KDF_FAST is set in the environment (tests:
 * opslimit 32768, memlimit 16777216; the limits are stored in the key, so
 * minisign reads either).  Existing files are -BENTO_E_EXISTS.
 */
int bento_key_generate(const char *secpath, const char *pubpath, const char *password,
		       struct bento_pubkey *pub_out, struct bento_error *err);

/*
 * The secret key readers refuse a file whose mode gives group or others any
 * access (mode & 077, as ssh does): -BENTO_E_UNSAFE naming the file, its
 * mode and "chmod 600".
 */

/* 1 when the secret key file is encrypted (needs a password), 0 if not, <0 on error. */
int bento_seckey_encrypted(const char *path, struct bento_error *err);

/* Load a secret key (password ignored when unencrypted).  Wrong password: -BENTO_E_INVALID. */
int bento_seckey_load(const char *path, const char *password, struct bento_seckey *out,
		      struct bento_error *err);
/* The public half of a secret key. */
void bento_seckey_public(const struct bento_seckey *k, struct bento_pubkey *out);
void bento_seckey_wipe(struct bento_seckey *k);

/* Load / parse a public key file (the base64 line may also be given alone). */
int bento_pubkey_load(const char *path, struct bento_pubkey *out, struct bento_error *err);
/*
 * bento_pubkey_load(), refusing a file that fails bento_perm_check(perm)
 * (fs.h): -BENTO_E_UNSAFE.  For keys that are trusted.
 */
int bento_pubkey_load_checked(const char *path, unsigned perm, struct bento_pubkey *out,
			      struct bento_error *err);
int bento_pubkey_parse(const char *data, size_t len, const char *what,
		       struct bento_pubkey *out, struct bento_error *err);
/* Write a public key file's text ("untrusted comment: minisign public key ID\nBASE64\n"). */
void bento_pubkey_format(const struct bento_pubkey *k, struct bento_buf *out);

/*
 * Sign msg: appends the whole .minisig text to out.  trusted_comment must be
 * one line (no '\n'); untrusted_comment NULL gives "signature from bento
 * secret key KEYID".  Ed25519 is deterministic: same key, message and
 * comments give the same bytes.
 */
int bento_sign(const struct bento_seckey *k, const void *msg, size_t len,
	       const char *trusted_comment, const char *untrusted_comment,
	       struct bento_buf *out, struct bento_error *err);

/* What a verified signature said. */
struct bento_sig_info {
	unsigned char keyid[BENTO_KEYID_LEN];
	char *trusted_comment;		/* owned; free with bento_sig_info_release */
	size_t key_index;		/* which of the given keys verified it */
};
void bento_sig_info_release(struct bento_sig_info *i);

/*
 * Parse a .minisig text without verifying (to learn its key id).  Malformed:
 * -BENTO_E_VERIFY.
 */
int bento_sig_keyid(const char *sig, size_t siglen, unsigned char keyid[BENTO_KEYID_LEN],
		    struct bento_error *err);

/*
 * Verify sig over msg against keys[0..n): the key whose id matches must
 * verify both the signature and the trusted comment.  Errors
 * (-BENTO_E_VERIFY): malformed signature; "signed by key ID, which is not
 * trusted" when no key id matches; "signature by key ID does not match" (the
 * message or signature was altered); bad trusted-comment signature.
 * Both "ED" (prehashed) and legacy "Ed" signatures verify.
 */
int bento_sig_verify(const struct bento_pubkey *keys, size_t n, const void *msg, size_t len,
		     const char *sig, size_t siglen, struct bento_sig_info *info,
		     struct bento_error *err);

/* Raw Ed25519 (pure, not prehashed) for DSSE: sig[64] over msg. */
void bento_ed25519_sign(const struct bento_seckey *k, const void *msg, size_t len,
			unsigned char sig[64]);
int bento_ed25519_verify(const struct bento_pubkey *k, const void *msg, size_t len,
			 const unsigned char sig[64]);

/* Base64 (standard alphabet, padded) helpers shared by keys, signatures and DSSE. */
void bento_base64_encode(const void *p, size_t n, struct bento_buf *out);
int bento_base64_decode(const char *s, size_t n, struct bento_buf *out);	/* 0 or -1 */

#endif
