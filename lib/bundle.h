/*
 * bundle.h - .bento archives in and out of the store, and verification of
 * archives and stored bentos (man/bento-archive.5, bento-verify(1)).
 */
#ifndef BENTO_BUNDLE_H
#define BENTO_BUNDLE_H

#include <stdint.h>

#include "archive.h"
#include "build.h"
#include "error.h"
#include "store.h"
#include "trust.h"

/*
 * Each attachment as DIR/NAME+SUFFIX (0644) into w: "signatures", ".minisig"
 * and "attestations", "" in an archive; under "bento/" in an image.
 */
int bento_write_attachments(struct bento_archive_writer *w, const char *dir,
			    const char *suffix, const struct bento_attachment *v, size_t n,
			    struct bento_error *err);

/*
 * Write bento d as an archive to fd: bento.json first, then its signatures
 * (signatures/KEYID.minisig) and attestations (attestations/NAME), then
 * every content file sorted bytewise by path, each header normalised
 * (mtime = created or 0).  Same bento, attachments and compression = same
 * bytes.
 */
int bento_export(struct bento_store *s, const struct bento_digest *d, int fd,
		 enum bento_compression comp, struct bento_error *err);

struct bento_import_opts {
	int require_signature;		/* at least one signature by a key of keys */
	const struct bento_keyring *keys;	/* trusted keys; NULL = none */
	const struct bento_policy *policy;	/* NULL = none */
	struct bento_report *report;	/* receives the signature/attestation checks; may be NULL */
};

/*
 * Read an archive from fd into the store.  Every entry is checked against
 * bento.json while streaming (size, mode, digest); anything unlisted,
 * duplicated, unsafe or missing is refused (-BENTO_E_UNSAFE /
 * -BENTO_E_VERIFY).  Signatures and attestations are checked against
 * o->keys; a failing one, or a missing signature that o or the policy
 * requires, refuses the import (-BENTO_E_VERIFY).  Verified content waits
 * in tmp/ until all of that holds, so a refused import leaves the store
 * exactly as it was.  name names the input in messages.
 */
int bento_import(struct bento_store *s, int fd, const char *name,
		 const struct bento_import_opts *o, struct bento_build_result *out,
		 struct bento_error *err);

/*
 * What import and pull share.  check_space: the content fits the store's
 * filesystem (-ENOSPC).  check_tags: no name:version of the bento or its
 * models already names other content (-BENTO_E_EXISTS), found before any
 * content is fetched.  commit: once every blob is verified (present, or in
 * stage), the models, the bento with its signatures, attestations and the
 * history event (action, details borrowed), and stage's blobs, in one
 * bento_store_commit: all of it or, refused, nothing.  name names the
 * source in messages (a tag another commit took meanwhile is reported as
 * check_tags reports it).
 */
int bento_bundle_check_space(struct bento_store *s, const struct bento_manifest *m,
			     const char *name, struct bento_error *err);
int bento_bundle_check_tags(struct bento_store *s, const struct bento_manifest *m,
			    const char *name, struct bento_error *err);
int bento_bundle_commit(struct bento_store *s, struct bento_blob_stage *stage,
			const struct bento_manifest *m, const char *json, size_t len,
			const struct bento_attachment *sigs, size_t n_sigs,
			const struct bento_attachment *atts, size_t n_atts, const char *action,
			json_t *details, const char *name, struct bento_error *err);

/*
 * Verify an archive without storing anything: every file is hashed against
 * bento.json (each mismatch is a FAIL in r, and checking goes on), then the
 * signatures and attestations are checked with kr.  Returns <0 only when the
 * archive cannot be read as a bento at all (then r holds what was found so
 * far); *m_out (optional) receives the manifest.
 */
int bento_verify_archive(int fd, const char *name, const struct bento_keyring *kr,
			 struct bento_report *r, struct bento_manifest **m_out,
			 struct bento_error *err);

/*
 * Verify a stored bento: its manifest against its digest, every model
 * manifest, every file's blob (present with the right size; full = also
 * rehashed), its signatures and attestations.  Same conventions as above.
 */
int bento_verify_stored(struct bento_store *s, const struct bento_digest *d, int full,
			const struct bento_keyring *kr, struct bento_report *r,
			struct bento_manifest **m_out, struct bento_error *err);

#endif
