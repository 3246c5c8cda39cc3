/*
 * ocidoc.h - the one reader of OCI JSON that bento did not write itself:
 * image manifests (and Docker's v2 manifests), image indexes (and Docker's
 * manifest lists, referrers responses, a layout's index.json), a layout's
 * oci-layout file, and image configs (a containerize base).  It comes from
 * a registry, a layout directory or a base image, so nothing in it is used
 * before it has been checked against image-spec v1.1, whole:
 *
 *   descriptor  mediaType (a media type: type/subtype), digest
 *               (algorithm:encoded as descriptor.md has it; sha256 and
 *               sha512 with their exact lower-case hex lengths), size (an
 *               integer >= 0); when present: urls (strings), annotations
 *               (an object of strings), data (a string), artifactType (a
 *               media type), platform (an object: architecture and os
 *               strings; variant, os.version strings; features, os.features
 *               arrays of strings)
 *   manifest    schemaVersion 2; mediaType, when present, an image
 *               manifest's (OCI or Docker v2); config a descriptor; layers
 *               an array of descriptors; subject a descriptor, artifactType
 *               a media type and annotations an object of strings, when
 *               present
 *   index       schemaVersion 2; mediaType, when present, an index's (OCI
 *               or Docker's manifest list); manifests an array of
 *               descriptors; subject, artifactType, annotations as above
 *   oci-layout  a JSON object whose imageLayoutVersion is "1.0.0"
 *   config      architecture and os strings; variant, os.version, created,
 *               author strings; config (when present and not null) with
 *               User, WorkingDir, StopSignal strings, Env, Entrypoint, Cmd
 *               arrays of strings, ExposedPorts and Volumes objects of
 *               objects, Labels an object of strings (each of them null
 *               counts as absent and is dropped); rootfs {type "layers",
 *               diff_ids: one sha256 digest per layer}; history, when
 *               present, an array of objects (created, created_by, author,
 *               comment strings, empty_layer a boolean)
 *
 * Members the spec does not name are ignored, as it asks.  Anything else
 * is -BENTO_E_VERIFY (exit 3) with a message naming the source and the
 * field: "127.0.0.1:5000/team/iris:1: layers[2].size: not an integer >= 0".
 * JSON that does not parse (or holds duplicate keys) is -BENTO_E_VERIFY
 * too, with the line and column.
 */
#ifndef BENTO_OCIDOC_H
#define BENTO_OCIDOC_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "digest.h"
#include "error.h"

#define OCI_MANIFEST_V1 "application/vnd.oci.image.manifest.v1+json"
#define OCI_INDEX_V1 "application/vnd.oci.image.index.v1+json"
#define OCI_CONFIG_V1 "application/vnd.oci.image.config.v1+json"
#define DOCKER_MANIFEST_V2 "application/vnd.docker.distribution.manifest.v2+json"
#define DOCKER_LIST_V2 "application/vnd.docker.distribution.manifest.list.v2+json"
#define OCI_LAYOUT_VERSION "1.0.0"

/*
 * An OCI descriptor.  The first three members are all a descriptor bento
 * makes needs (a subject); the reader fills the rest, borrowing every
 * pointer from the document it read (valid while the document lives).
 */
struct bento_oci_desc {
	const char *media_type;
	struct bento_digest digest;	/* unset when other_algorithm */
	uint64_t size;
	const char *digest_str;		/* as written */
	int other_algorithm;		/* a digest the spec allows that is not sha256 (sha512, …) */
	const char *artifact_type;	/* NULL when absent */
	const json_t *annotations;	/* an object of strings; NULL when absent */
	const char *os, *arch, *variant;	/* the platform (index entries); NULL when absent */
};

/*
 * Read one descriptor j, found at field (e.g. "layers[2]") of the document
 * what.  Used by the document reader below, and for descriptors met alone.
 */
int bento_oci_desc_read(const json_t *j, const char *what, const char *field,
			struct bento_oci_desc *out, struct bento_error *err);

/*
 * d's sha256 digest, or -BENTO_E_VERIFY "WHAT: FIELD: digest algorithm
 * ALG is not supported" when it uses another algorithm.
 */
int bento_oci_desc_sha256(const struct bento_oci_desc *d, const char *what, const char *field,
			  struct bento_error *err);

enum bento_oci_kind {
	BENTO_OCI_MANIFEST = 1,		/* an image manifest */
	BENTO_OCI_INDEX = 2,		/* an image index */
};

struct bento_oci_doc {
	json_t *root;			/* the parsed document (owned) */
	enum bento_oci_kind kind;
	const char *media_type;		/* the document's, else the one it was read as */
	const char *artifact_type;	/* NULL when absent */
	struct bento_oci_desc config;	/* a manifest's */
	struct bento_oci_desc *descs;	/* a manifest's layers, an index's manifests (owned) */
	size_t n_descs;
	int has_subject;
	struct bento_oci_desc subject;
	const json_t *annotations;	/* NULL when absent */
};

/*
 * Read len bytes of data, named what in messages, as a manifest or an
 * index.  Its kind is its mediaType; when it has none, that of hint (the
 * Content-Type it was served with, or the mediaType of the descriptor it
 * was reached by; NULL or an unknown type: no hint); else its shape (a
 * "manifests" array: an index).  A mediaType that contradicts a known hint
 * is -BENTO_E_VERIFY.  want: the kinds the caller takes, OR-ed; a document
 * of another kind is -BENTO_E_INVALID ("WHAT: an image index, not an image
 * manifest"): well formed, but not what was asked for.  On success *out
 * owns the document; release it with bento_oci_doc_release (also after a
 * failure: then it is a no-op).
 */
int bento_oci_doc_read(const void *data, size_t len, const char *what, const char *hint,
		       unsigned want, struct bento_oci_doc *out, struct bento_error *err);
void bento_oci_doc_release(struct bento_oci_doc *d);

/* 1 when mt is an image manifest's media type (OCI or Docker v2), 2 an index's, else 0. */
int bento_oci_media_kind(const char *mt);

/* Check an oci-layout file's len bytes (named what) as above. */
int bento_oci_layout_read(const void *data, size_t len, const char *what,
			  struct bento_error *err);

/*
 * Read an image config (named what) as above, for an image of n_layers
 * layers.  On success *out owns the parsed config, null members named
 * above removed, so that what is present has the right type.
 */
int bento_oci_config_read(const void *data, size_t len, const char *what, size_t n_layers,
			  json_t **out, struct bento_error *err);

#endif
