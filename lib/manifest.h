/*
 * manifest.h - bento.json and model.json: build, parse, validate.
 *
 * Both are canonical JSON (cjson.h); an object's digest is sha256 over its
 * canonical bytes.  The formats are specified in man/bento-archive.5 and
 * schema/bento-manifest.schema.json / schema/model-manifest.schema.json.
 * Parsing is strict: the bytes must already be canonical, every path safe
 * (bento_path_check), every list sorted and unique, every digest well formed,
 * unknown keys refused (so two readers can never disagree on what a
 * manifest means).
 */
#ifndef BENTO_MANIFEST_H
#define BENTO_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "buf.h"
#include "digest.h"
#include "error.h"

#define BENTO_MEDIATYPE_MANIFEST "application/vnd.bento.manifest.v1+json"
#define BENTO_MEDIATYPE_MODEL "application/vnd.bento.model.v1+json"
#define BENTO_MANIFEST_MAX (16u << 20)	/* bento.json / model.json size cap */
#define BENTO_PATH_MAX 4096
#define BENTO_NAME_MAX 128

/*
 * The most bytes a size of content may be, one file's or a sum's: what a
 * JSON integer, SQLite's INTEGER and off_t hold.  bento_manifest_parse and
 * bento_model_parse refuse manifests whose sizes add up to more, so sums
 * over a parsed manifest's files (layers, archives, free-space checks)
 * cannot wrap either.
 */
#define BENTO_SIZE_MAX ((uint64_t)INT64_MAX)

/*
 * *sum += n, checked: the one way sizes of content are added up.  When the
 * sum would pass BENTO_SIZE_MAX, *sum is left as it was and
 * -BENTO_E_INVALID returned, err saying "what: sizes add up to more than
 * ..." (callers that read untrusted input turn it into their refusal).
 */
int bento_size_add(uint64_t *sum, uint64_t n, const char *what, struct bento_error *err);

struct bento_file {
	char *path;		/* bento: "src/..." or "env/..."; model: relative to the model */
	uint64_t size;
	unsigned mode;		/* 0644 or 0755 */
	struct bento_digest digest;
};

struct bento_model {
	char *name, *version;
	json_t *json;		/* the model.json object (owned reference) */
	struct bento_file *files;	/* sorted by path */
	size_t n_files;
	uint64_t size;		/* sum of file sizes */
	struct bento_digest digest;
};

struct bento_manifest {
	char *name, *version;
	char *created;		/* RFC 3339 UTC or NULL */
	json_t *json;		/* bento.json without "files" (owned reference): they are in files */
	struct bento_file *files;	/* src/ and env/, sorted by path */
	size_t n_files;
	struct bento_model *models;	/* sorted by name */
	size_t n_models;
	uint64_t size;		/* all content bytes, models included */
	struct bento_digest digest;
};

/* One file of a bento as it appears in an archive or image: "models/<name>/<path>" etc. */
struct bento_entry {
	char *path;			/* owned */
	const struct bento_file *file;	/* borrowed from the manifest */
};

/*
 * Check a relative path: non-empty, '/'-separated, no leading or trailing
 * '/', no "", "." or ".." component, no backslash or control character,
 * valid UTF-8, at most BENTO_PATH_MAX bytes and 255 per component.
 * what names it in the message.  -BENTO_E_UNSAFE on failure.
 */
int bento_path_check(const char *path, const char *what, struct bento_error *err);

/* Names: [a-z0-9][a-z0-9._-]{0,127}; versions: [A-Za-z0-9_][A-Za-z0-9._-]{0,127}. */
int bento_name_check(const char *name, const char *what, struct bento_error *err);
int bento_version_check(const char *version, const char *what, struct bento_error *err);

/*
 * Parse and validate canonical model.json / bento.json bytes.  what names the
 * source in messages ("bento.json", "store object sha256:…").  On success
 * *out is new (free with bento_model_free / bento_manifest_free).
 */
int bento_model_parse(const char *data, size_t len, const char *what,
		      struct bento_model **out, struct bento_error *err);
int bento_manifest_parse(const char *data, size_t len, const char *what,
			 struct bento_manifest **out, struct bento_error *err);

/*
 * bento.json for a build, without holding its files as jansson values (a
 * bento of 100,000 files would need 60 MiB for them).
 * bento_files_canonical() checks files (sorted, bento paths, modes) and
 * appends their canonical "files" array to out, their sizes' sum in *total.
 * bento_manifest_from_parts() makes canon, the canonical bytes of obj (which
 * has no "files") with that array spliced in, and *out, validated as
 * bento_manifest_parse() validates: it takes files (freed with *out, also on
 * failure); (*out)->json is obj, without "files".
 */
int bento_files_canonical(const struct bento_file *files, size_t n, const char *what,
			  struct bento_buf *out, uint64_t *total, struct bento_error *err);
int bento_manifest_from_parts(json_t *obj, struct bento_file *files, size_t n,
			      const struct bento_buf *files_text, uint64_t files_size,
			      const char *what, struct bento_buf *canon,
			      struct bento_manifest **out, struct bento_error *err);

/* Validate a model.json object (not necessarily from canonical bytes). */
int bento_model_from_json(json_t *obj, const char *what, struct bento_model **out,
			  struct bento_error *err);

void bento_model_free(struct bento_model *m);		/* NULL ok */
void bento_manifest_free(struct bento_manifest *m);	/* NULL ok */

/*
 * Every content file of a bento with its bundle path (src/…, env/…,
 * models/<name>/…), sorted bytewise by path.  Caller frees with
 * bento_entries_free.
 */
void bento_manifest_entries(const struct bento_manifest *m, struct bento_entry **out, size_t *n);
void bento_entries_free(struct bento_entry *e, size_t n);
/* Binary search in sorted entries; NULL when absent. */
const struct bento_entry *bento_entries_find(const struct bento_entry *e, size_t n,
					     const char *path);

/*
 * The digest of every content file of a bento, models' files included (may
 * repeat): what the bento keeps alive in the store.  Caller frees *out.
 */
void bento_manifest_blobs(const struct bento_manifest *m, struct bento_digest **out, size_t *n);

/* A file entry object {"digest","mode","path","size"} for building manifests. */
json_t *bento_file_json(const char *path, uint64_t size, unsigned mode,
			const struct bento_digest *d);

/*
 * Derive a version from content: the first 16 hex digits of the digest of
 * obj's canonical bytes (obj must not contain "version"), with files_text
 * spliced in as "files" when not NULL (see bento_files_canonical()).
 * Deterministic.
 */
int bento_version_derive(const json_t *obj, const struct bento_buf *files_text, char out[17],
			 struct bento_error *err);

/* Format unix seconds as RFC 3339 UTC ("2026-11-21T23:41:42Z"); out >= 21 bytes. */
void bento_time_rfc3339(int64_t t, char out[32]);
/* Parse the same format back; -BENTO_E_INVALID if not exactly that form. */
int bento_time_parse(const char *s, int64_t *out);

/*
 * ---- the naming rule of signatures (bento-archive(5), SIGNATURES) ----
 *
 * One rule for every reader of a bento's signatures (bento verify, import,
 * pull and bento-shim), taken from what `bento sign` writes:
 *   - a signature by the key with id K is the file KEYID.minisig, KEYID
 *     being K as 16 upper-case hex digits, exactly as bento_keyid_hex and
 *     minisign print key ids (one name per key: no case variants);
 *   - its trusted comment is exactly "bento NAME:VERSION sha256:HEX", this
 *     bento's name, version and digest (bento_signature_comment), so the
 *     line a verifier shows is true of what it verified.
 */
#define BENTO_SIG_SUFFIX ".minisig"

/* The trusted comment bento writes into a signature of m; a new string. */
char *bento_signature_comment(const struct bento_manifest *m);

/*
 * Apply the rule to file, a signature file's name (no directory): it must
 * be KEYID.minisig, and with keyid (BENTO_KEYID_LEN bytes, sign.h) not NULL
 * that key's id; with trusted_comment not NULL, m's comment.  keyid NULL
 * checks the name's form only (before the signature is read), and m may be
 * NULL when trusted_comment is.  0, or -BENTO_E_VERIFY with err saying what
 * is wrong ("named for key X but signed by key Y", "trusted comment '...'
 * does not name svc:1 sha256:..."); callers put the path in front.
 */
int bento_signature_check(const struct bento_manifest *m, const char *file,
			  const unsigned char *keyid, const char *trusted_comment,
			  struct bento_error *err);

/*
 * ---- the naming rule of attestations (bento-archive(5), ENTRIES) ----
 *
 * An attestation is named NAME.dsse.json: at most 128 bytes of letters,
 * digits, '.', '_' and '-', not starting with '.', so a plain file name
 * (attestations/NAME in archives and images, a referrer's title in a
 * registry, a row in the store).  One rule for all of them: 0, or
 * -BENTO_E_UNSAFE with err saying what is wrong (the name shown cut short
 * and with anything unprintable replaced); callers put the source in front.
 */
#define BENTO_ATTESTATION_SUFFIX ".dsse.json"
#define BENTO_ATTESTATION_NAME_MAX 128
int bento_attestation_name_check(const char *name, struct bento_error *err);

#endif
