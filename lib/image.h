/*
 * image.h - `bento containerize`: a bento as a runnable OCI image, made
 * without a container engine.  The layout of the image is specified in
 * man/bento-containerize.1; in short:
 *
 *   layers   the base image's (as they are, compressed or not), then the
 *            shim (/usr/local/bin/bento-shim, mtime 0), then the bento's
 *            own layers (oci.h: the very bytes and digests `bento push`
 *            sends, rooted at /bento), then the meta layer
 *            (/bento/bento.json, /bento/signatures/KEYID.minisig,
 *            /bento/attestations/NAME; mtime: the bento's created time)
 *   config   Entrypoint the shim, Cmd the service's entrypoint, WorkingDir
 *            /bento/src, Env, ExposedPorts, User, Labels, history, diff_ids
 *   manifest OCI image manifest v1 with org.opencontainers.image.*
 *            annotations (created, source, revision, title, version,
 *            base.digest, base.name)
 *
 * Every byte is a function of the bento, the base image's bytes and the
 * shim binary, so the same inputs give the same image digest.
 *
 * Provenance: an in-toto Statement (SLSA provenance v1 predicate) whose
 * subject is the image manifest and whose resolvedDependencies are the
 * bento, the base image (by manifest digest) and the shim binary, pushed
 * next to the image as a referrer (artifactType application/vnd.in-toto+json)
 * for oci: and registry outputs.  Deterministic too: no times, no host.
 */
#ifndef BENTO_IMAGE_H
#define BENTO_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "digest.h"
#include "error.h"
#include "store.h"
#include "target.h"

#define BENTO_SHIM_PATH "/usr/local/bin/bento-shim"
#define BENTO_IMAGE_ROOT "/bento"
#define BENTO_DEFAULT_USER "65532:65532"

struct bento_image_opts {
	const char *base;	/* "scratch", "oci:DIR[:TAG|@DIGEST]", "HOST/REPO[:TAG|@DIGEST]"; NULL: the
				   bentofile's image.base, else scratch */
	const char *output;	/* "oci:DIR[:TAG]", "docker-archive:FILE", "HOST/REPO[:TAG]" */
	const char *platform;	/* "os/arch[/variant]"; NULL: the shim's */
	const char *shim;	/* the bento-shim binary (a static ELF executable) */
	struct bento_target_opts topts;	/* for registry bases and outputs */
};

struct bento_image_layer {
	struct bento_digest digest;
	uint64_t size;
	const char *role;	/* "base", "shim", "code", "model", "model-file", "meta" */
	int written;		/* 0: the output had it (or it was mounted) */
};

struct bento_image_result {
	char *output;			/* where it went, normalised (new) */
	struct bento_digest manifest;	/* the image's digest */
	struct bento_digest config;
	char *base;			/* the base as given, NULL for scratch (new) */
	struct bento_digest base_digest;	/* its manifest digest, when base */
	char *platform;			/* "linux/amd64" (new) */
	struct bento_image_layer *layers;	/* in image order (new) */
	size_t n_layers;
	uint64_t bytes_written;
	struct bento_target_stats stats;	/* registry outputs */
	int have_provenance;			/* oci: and registry outputs */
	struct bento_digest provenance;		/* the statement's digest */
};
void bento_image_result_release(struct bento_image_result *r);

/*
 * Make the image of bento d and write it to o->output.  Errors: a missing
 * or unreadable shim, a base that is not an image or not for the
 * platform: -BENTO_E_INVALID/-BENTO_E_NOTFOUND naming it; registry
 * failures -BENTO_E_NETWORK; a blob that does not match its digest, or a
 * base index, manifest or config that is malformed (ocidoc.h: every field
 * containerize reads is type-checked first), -BENTO_E_VERIFY.  A history event "containerize" records the image
 * digest, the output and the base.  Outputs are written so that a failure
 * leaves no partial image: blobs land by rename, the index (oci:) or the
 * archive (docker-archive:) last.
 */
int bento_containerize(struct bento_store *s, const struct bento_digest *d,
		       const struct bento_image_opts *o, struct bento_image_result *out,
		       struct bento_error *err);

#endif
