/*
 * transfer.h - push and pull bentos and models through a target (an OCI
 * registry or an oci: layout).  The mapping (config = bento.json, one tar
 * layer per big model file, …) is in oci.h and man/bento-registry.5.
 *
 * Push: layers are digested once (cached in the store), blobs the target
 * has are skipped, blobs pushed before to another repository of the same
 * registry are mounted, then the manifest is PUT under the tag, then each
 * signature and the provenance are pushed as referrers of it.
 *
 * Pull: the manifest and bento.json are fetched and verified first; the
 * signatures and provenance (referrers) are checked against the trusted
 * keys and the policy before any layer is downloaded; layers whose files
 * the store already has are skipped; every byte is verified while it
 * streams into the store's staging area; nothing is tagged unless all of
 * that holds.
 */
#ifndef BENTO_TRANSFER_H
#define BENTO_TRANSFER_H

#include <stdint.h>

#include "build.h"
#include "bundle.h"
#include "error.h"
#include "oci.h"
#include "store.h"
#include "target.h"

#define BENTO_PROVENANCE_ARTIFACT "application/vnd.in-toto+json"

struct bento_push_result {
	char *where;			/* "host/repo:tag" or "oci:dir:tag" (new) */
	struct bento_digest manifest;	/* digest of the pushed manifest */
	size_t layers;			/* layers in the manifest */
	size_t referrers;		/* signatures and attestations pushed as referrers */
	struct bento_target_stats stats;
};
void bento_push_result_release(struct bento_push_result *r);

/* Push bento (or model: kind) d to ref (its tag defaults to the object's version). */
int bento_push(struct bento_store *s, enum bento_kind kind, const struct bento_digest *d,
	       const struct bento_target_ref *ref, const struct bento_target_opts *o,
	       struct bento_push_result *out, struct bento_error *err);

struct bento_pull_result {
	struct bento_build_result object;	/* name, version, digest, size, existed */
	struct bento_digest manifest;
	size_t layers, layers_skipped;
	struct bento_target_stats stats;
};
void bento_pull_result_release(struct bento_pull_result *r);

/* Pull ref into the store; io carries --require-signature, keys, policy and the report. */
int bento_pull(struct bento_store *s, enum bento_kind kind, const struct bento_target_ref *ref,
	       const struct bento_target_opts *o, const struct bento_import_opts *io,
	       struct bento_pull_result *out, struct bento_error *err);

/*
 * Push one attachment as a referrer of subject: its bytes as the single
 * layer (layer_type, titled title) of an artifact manifest (artifact) whose
 * subject is subject, with the sha256-<hex> tag fallback where the
 * registry has no referrers API.  from: a repository to mount from.
 */
int bento_push_referrer(struct bento_target *t, const struct bento_oci_desc *subject,
			const char *artifact, const char *layer_type, const char *title,
			const struct bento_attachment *a, const char *from, struct bento_error *err);

/*
 * A repository of ref's registry to mount object d's blobs from, found in
 * the history's push events: one d itself was pushed to, else the most
 * recent push of anything there; NULL if none (or ref is a layout).  New.
 */
char *bento_mount_source(struct bento_store *s, const struct bento_target_ref *ref,
			 const struct bento_digest *d);

#endif
