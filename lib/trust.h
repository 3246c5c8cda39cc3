/*
 * trust.h - what bento trusts and how it checks a bento against that:
 * keyrings of public keys, signature and attestation checks that fill one
 * report (shared by verify, import and pull), and the policy file.
 *
 * Configuration lives under ${XDG_CONFIG_HOME:-~/.config}/bento/:
 *   keys/NAME.key, keys/NAME.pub   key pairs made by `bento key generate`
 *   trusted/NAME.pub               public keys whose signatures are trusted
 *   policy.yaml                    which bentos must be signed (bento-policy(5))
 */
#ifndef BENTO_TRUST_H
#define BENTO_TRUST_H

#include <stddef.h>

#include <jansson.h>

#include "error.h"
#include "manifest.h"
#include "sign.h"
#include "store.h"

/* ${XDG_CONFIG_HOME:-$HOME/.config}/bento/SUB (SUB may be ""); a new string. */
char *bento_config_path(const char *sub);

struct bento_keyring {
	struct bento_pubkey *keys;
	char **labels;		/* where each key came from (file path) */
	size_t n;
};
#define BENTO_KEYRING_INIT { NULL, NULL, 0 }

/*
 * Who may have written what bento trusts (bento-key(1), PERMISSIONS): the
 * configuration directory, trusted/, every trusted/NAME.pub and the
 * default policy.yaml must be owned by the effective user or root and not
 * be writable by group or others; a key file named explicitly (--key, a
 * path in the policy, an explicit policy path) must not be writable by
 * group or others.  Otherwise -BENTO_E_UNSAFE naming the file, its mode
 * and the fix.
 */

/* Add the public key in file path (a duplicate key id is ignored). */
int bento_keyring_add_file(struct bento_keyring *kr, const char *path, struct bento_error *err);
/* Add every trusted/NAME.pub; a missing directory is an empty one. */
int bento_keyring_add_trusted(struct bento_keyring *kr, struct bento_error *err);
/* The configuration directory and trusted/ (those that exist) pass the checks above. */
int bento_trust_dirs_check(struct bento_error *err);
void bento_keyring_release(struct bento_keyring *kr);
/* Index of the key with this id, or -1. */
ssize_t bento_keyring_find(const struct bento_keyring *kr, const unsigned char keyid[BENTO_KEYID_LEN]);

enum bento_check_status {
	BENTO_CHECK_OK,		/* verified */
	BENTO_CHECK_FAIL,	/* checked and wrong: the bento must not be trusted */
	BENTO_CHECK_UNKNOWN,	/* could not be checked (signature by a key not trusted) */
};

struct bento_check {
	enum bento_check_status status;
	char *what;		/* "signature 1A2B…", "provenance", "file src/app.py" */
	char *detail;		/* one line */
};

/* The outcome of checking one bento, in the order the checks ran. */
struct bento_report {
	struct bento_check *v;
	size_t n;
	size_t failed;
	size_t trusted_signatures;	/* signatures verified with a trusted key */
	unsigned char (*signers)[BENTO_KEYID_LEN];	/* their key ids */
	char *signed_by;		/* key ids (and files) of those signatures, ", "-joined */
	char *source;			/* "git+URL@BRANCH commit HEX, STATE" from verified-or-not provenance */
	json_t *source_git;		/* its details (bento_provenance_source), owned */
};
void bento_report_add(struct bento_report *r, enum bento_check_status st, const char *what,
		      const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void bento_report_release(struct bento_report *r);
json_t *bento_report_json(const struct bento_report *r);

/*
 * Check every signature (whole .minisig texts, named by key id) over the
 * canonical bento.json bytes json/len of m: with a key in kr it must verify
 * (else FAIL) and its trusted comment name this bento; by another key it
 * is UNKNOWN.  Names and comments follow bento_signature_check (one rule
 * with import and bento-shim): a signature whose name is not its key id is
 * a FAIL.
 */
void bento_check_signatures(struct bento_report *r, const struct bento_manifest *m,
			    const char *json, size_t len, const struct bento_attachment *sigs,
			    size_t n, const struct bento_keyring *kr);

/*
 * Check attestations (DSSE envelopes by name): the provenance statement's
 * subject must be this bento (else FAIL); its signature verifies with a key
 * of kr (OK), is by an unknown key or absent (UNKNOWN), or fails (FAIL).
 * Records the source commit in r->source.
 */
void bento_check_attestations(struct bento_report *r, const struct bento_manifest *m,
			      const struct bento_attachment *atts, size_t n,
			      const struct bento_keyring *kr);

/* ---- policy ---- */

struct bento_policy;

/*
 * Load path, or ${XDG_CONFIG_HOME:-~/.config}/bento/policy.yaml when NULL (a
 * missing default file is an empty policy).  Errors name file:line:col.
 */
int bento_policy_load(const char *path, struct bento_policy **out, struct bento_error *err);
void bento_policy_free(struct bento_policy *p);

/*
 * Decide whether a bento named name may enter the store given report r:
 * require (from --require-signature) or a matching policy rule demands at
 * least one trusted signature (from the rule's keys when it names some).
 * -BENTO_E_VERIFY with the rule named ("policy.yaml:3: bentos matching
 * 'prod-*' need a signature by a trusted key; iris:1 has none") otherwise.
 * Any FAIL in r is refused too.
 */
int bento_policy_check(const struct bento_policy *p, int require, const char *name,
		       const struct bento_report *r, const struct bento_keyring *kr,
		       struct bento_error *err);

#endif
