/*
 * oci.h - a bento (or a model) as an OCI artifact: the layer plan, the
 * layers' tar bytes, the artifact manifest, and unpacking layers on pull.
 * The mapping is specified in man/bento-registry.5; in short:
 *
 *   manifest  OCI image manifest v1.1 (OCI_MANIFEST_V1), artifactType
 *             BENTO_ARTIFACT_BUNDLE (a model alone: BENTO_ARTIFACT_MODEL)
 *   config    the canonical bento.json bytes (BENTO_MEDIATYPE_MANIFEST);
 *             a model: its canonical model.json (BENTO_MEDIATYPE_MODEL)
 *   layers    uncompressed tars (BENTO_MEDIATYPE_LAYER) rooted at "bento/",
 *             in this order: "code" (every src/ and env/ file; omitted when
 *             none), then for each model by name: "model" (its files under
 *             16 MiB; omitted when none), then one "model-file" layer per
 *             file of 16 MiB or more, in path order.
 *
 * Layer bytes: a pax-restricted tar (lib/archive.c's writer) holding, in
 * bytewise path order, a directory entry for "bento/" and for every parent
 * of every file (mode 0755), and each file as "bento/<bundle path>" (mode
 * 0644 or 0755); uid/gid 0, no names, no extended attributes; no trailing
 * record padding.  Directory entries are written (although runtimes create
 * missing parents themselves) so that an unpacked tree's directories have
 * defined modes and mtimes, whatever runtime unpacks them.
 * mtime: the bento's "created" time (0 when it has none) for the code
 * layer; always 0 for model layers, so a model's layers are byte-identical
 * in every bento that uses it and in the model's own artifact, whatever
 * day each was built: a registry stores the weights once.
 *
 * Because the bytes are a pure function of the manifest, the same bento
 * always gives the same layer digests and the same manifest digest, and
 * containerize (issue 5) reuses these very layers.
 */
#ifndef BENTO_OCI_H
#define BENTO_OCI_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "buf.h"
#include "digest.h"
#include "error.h"
#include "manifest.h"
#include "store.h"
#include "target.h"

#define BENTO_ARTIFACT_BUNDLE "application/vnd.bento.bundle.v1"
#define BENTO_ARTIFACT_MODEL "application/vnd.bento.model.v1"
#define BENTO_MEDIATYPE_LAYER "application/vnd.oci.image.layer.v1.tar"

#define BENTO_ANN_TITLE "org.opencontainers.image.title"
#define BENTO_ANN_VERSION "org.opencontainers.image.version"
#define BENTO_ANN_CREATED "org.opencontainers.image.created"
#define BENTO_ANN_ROLE "dev.bento.layer.role"
#define BENTO_ANN_MODEL "dev.bento.model"
#define BENTO_ANN_DIGEST "dev.bento.digest"

#define BENTO_LAYER_BIG ((uint64_t)16 << 20)	/* a model file this big gets its own layer */
#define BENTO_LAYERS_MAX 64

enum bento_layer_role {
	BENTO_LAYER_CODE,		/* "code" */
	BENTO_LAYER_MODEL,		/* "model": a model's small files (and merged big ones) */
	BENTO_LAYER_MODEL_FILE,		/* "model-file": one big model file */
};

/* "code", "model", "model-file". */
const char *bento_layer_role_name(enum bento_layer_role role);

struct bento_layer {
	enum bento_layer_role role;
	char *title;			/* "code", "models/NAME", "models/NAME/PATH" (owned) */
	const char *model;		/* model name (borrowed from the manifest); NULL for code */
	struct bento_entry *files;	/* bundle paths (owned) + files (borrowed), sorted by path */
	size_t n_files;
	uint64_t content_size;		/* sum of the files' sizes */
	int64_t mtime;			/* every tar header's mtime (see above) */
	json_t *annotations;		/* title, role, model (owned) */
	/* filled by bento_layer_digest: */
	int have_digest;
	struct bento_digest digest;	/* of the tar bytes */
	uint64_t size;			/* tar bytes */
};

/*
 * The layers of bento m, in the order above.  Cap: at most
 * BENTO_LAYERS_MAX layers.  When the plain plan has more, the smallest
 * big files (by size, then bundle path, over all models) are moved, one by
 * one, into their model's "model" layer (created if the model had none)
 * until the count fits; a bento with more than BENTO_LAYERS_MAX - 1 models
 * keeps one layer per model and so exceeds the cap (the OCI spec sets no
 * limit; registries accept hundreds).  The layers borrow from m: m must
 * outlive them.  Free with bento_layers_free.
 */
void bento_layers_plan(const struct bento_manifest *m, struct bento_layer **out, size_t *n);
/* The same for a model alone: paths "models/NAME/…", the same bytes as in a bento. */
void bento_model_layers_plan(const struct bento_model *m, struct bento_layer **out, size_t *n);
void bento_layers_free(struct bento_layer *l, size_t n);	/* NULL ok */

/*
 * A model's files as bundle entries ("models/NAME/PATH", sorted), for
 * bento_layer_reader_new when pulling a model.  Free with bento_entries_free.
 */
void bento_model_entries(const struct bento_model *m, struct bento_entry **out, size_t *n);

/* 1 when every file of the layer is in the store (a pull can skip it), else 0. */
int bento_layer_present(const struct bento_store *s, const struct bento_layer *l);

/*
 * Fill l->digest and l->size (and set l->have_digest): from the store's
 * layer cache when this exact layer was digested before (nothing is read),
 * else by one hashing pass over the generated bytes, then cached.  A
 * missing blob is -BENTO_E_NOTFOUND, a blob shorter than its manifest says
 * -BENTO_E_CORRUPT; both name the file.
 */
int bento_layer_digest(struct bento_store *s, struct bento_layer *l, struct bento_error *err);

/*
 * A regenerable byte source for layer l (target.h), for uploads: size and
 * digest come from bento_layer_digest (called here when l has none yet).
 * read(offset) serves any offset directly: each tar header's bytes are
 * made once here (a few hundred bytes per file), file data is pread from
 * the blobs, padding and the end-of-archive marker are zeros; so a resumed
 * upload costs nothing extra and sequential reads never rescan.  The
 * source borrows s and l (they must outlive it); blob files are opened as
 * needed, one at a time.  Release with bento_layer_source_release.
 */
int bento_layer_source(struct bento_store *s, struct bento_layer *l,
		       struct bento_blob_source *out, struct bento_error *err);
void bento_layer_source_release(struct bento_blob_source *src);	/* zeroes it; safe twice */

/* Stream the whole layer to write(ctx, p, n) (0 or <0 with err set, which is returned). */
int bento_layer_write(struct bento_store *s, struct bento_layer *l,
		      int (*write)(void *ctx, const void *p, size_t n, struct bento_error *err),
		      void *ctx, struct bento_error *err);

/* 1 with l->digest/size filled when the layer cache knows them, 0 when not (nothing is hashed). */
int bento_layer_digest_cached(struct bento_store *s, struct bento_layer *l,
			      struct bento_error *err);

/*
 * Write layer l's bytes to fd (from its current offset) in one pass, for
 * an image layout or archive: when l's digest is known (l->have_digest or
 * the layer cache) the file data goes with copy_file_range, never through
 * user space; else it is hashed on the way, which fills l->digest/size and
 * the layer cache.  The caller names the result by l->digest.  Errors as
 * bento_layer_digest, or -errno naming the layer.
 */
int bento_layer_write_fd(struct bento_store *s, struct bento_layer *l, int fd,
			 struct bento_error *err);

/* An OCI descriptor, for a subject. */
struct bento_oci_desc {
	const char *media_type;
	struct bento_digest digest;
	uint64_t size;
};

/*
 * The artifact manifest of bento m, appended to out as canonical JSON:
 * {"annotations":{title: NAME, version: VERSION, created (when m has one),
 * "dev.bento.digest": m's digest, plus extra's members},
 * "artifactType", "config":{mediaType, digest, size} of json/len (the
 * canonical bento.json bytes, checked against m->digest),
 * "layers":[{"annotations","digest","mediaType","size"}…],
 * "mediaType":OCI_MANIFEST_V1, "schemaVersion":2, "subject" when given}.
 * Every layer must have been digested (-BENTO_E_USAGE otherwise); extra
 * (may be NULL) is borrowed.  Same inputs, same bytes.  -BENTO_E_VERIFY
 * when json does not hash to m's digest.
 */
int bento_artifact_manifest(const struct bento_manifest *m, const char *json, size_t len,
			    const struct bento_layer *layers, size_t n,
			    const struct bento_oci_desc *subject, const json_t *extra,
			    struct bento_buf *out, struct bento_error *err);
/* The same for a model: config = model.json (BENTO_MEDIATYPE_MODEL), artifactType BENTO_ARTIFACT_MODEL. */
int bento_model_artifact_manifest(const struct bento_model *m, const char *json, size_t len,
				  const struct bento_layer *layers, size_t n,
				  const struct bento_oci_desc *subject, const json_t *extra,
				  struct bento_buf *out, struct bento_error *err);

/*
 * Pull side: unpack one layer's tar bytes, pushed in as they arrive.
 *
 * entries (sorted, as bento_manifest_entries / bento_model_entries give
 * them) are what bento.json lists; seen (n bytes, the caller's) gets
 * seen[i] = 1 for each entries[i] the layer delivered.  Every tar entry
 * must be "bento" or under "bento/"; directories are accepted only when
 * they are "bento" or a parent of a listed file; files must be listed,
 * not yet seen, and have the listed size and exec bit; their data is
 * hashed while it streams into a blob writer and joins stage only when the
 * digest matches (files already in the store are hashed, not written).
 * Anything else is refused: -BENTO_E_UNSAFE for an entry that is not
 * allowed ("../", absolute, outside bento/, not listed, a duplicate, a
 * link or device), -BENTO_E_VERIFY for content that does not match
 * ("models/iris/w.bin: digest mismatch: …") or a truncated tar.  Nothing
 * reaches blobs/ until the caller commits stage.
 *
 * The tar is parsed by lib/archive.c's defensive reader on a helper
 * thread fed through a small hand-off: feed() returns when the reader has
 * taken all of p, so memory stays flat and nothing is buffered on disk.
 * what names the layer in messages.  s, stage, entries and seen are
 * borrowed until bento_layer_reader_free.
 */
struct bento_layer_reader;
int bento_layer_reader_new(struct bento_store *s, struct bento_blob_stage *stage,
			   const char *what, const struct bento_entry *entries, size_t n,
			   unsigned char *seen, struct bento_layer_reader **out,
			   struct bento_error *err);
/* Push n bytes; 0, or the reader's error (which stays: later calls return it too). */
int bento_layer_reader_feed(struct bento_layer_reader *r, const void *p, size_t n,
			    struct bento_error *err);
/* The end of the bytes: 0 when the layer was a complete, valid tar, else the error. */
int bento_layer_reader_finish(struct bento_layer_reader *r, struct bento_error *err);
/* Stops the helper thread (a layer not finished is abandoned); NULL ok. */
void bento_layer_reader_free(struct bento_layer_reader *r);

#endif
