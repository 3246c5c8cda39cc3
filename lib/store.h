/*
 * store.h - the local store: SQLite metadata + content-addressed blobs.
 *
 * Layout under the store root ($BENTO_HOME, default
 * ${XDG_DATA_HOME:-~/.local/share}/bento):
 *   store.db                     SQLite (WAL, busy timeout, foreign keys);
 *                                schema in schema/store-*.sql, PRAGMA user_version
 *   blobs/sha256/<2hex>/<62hex>  immutable file contents, one per digest, 0444
 *   tmp/                         staging on the same filesystem
 *   lock                         flock: shared by every writer, exclusive for gc
 *   history.head                 "SEQ HASH" of the newest history event (history.h)
 *   history.lock                 flock serialising history.head writes
 *
 * Writes stage in tmp/, fsync, rename into place (an existing blob means it is
 * already stored), fsync the directory, and only then commit metadata.  A crash
 * at any point leaves a store that bento_store_fsck() calls clean.
 *
 * Objects are models and bentos, each identified by the digest of its
 * canonical manifest (model.json / bento.json).  Tags name:version point at
 * objects; an object lives while a tag names it.  "name" and "name:latest"
 * resolve to the tag of that name added most recently.
 */
#ifndef BENTO_STORE_H
#define BENTO_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "buf.h"
#include "digest.h"
#include "error.h"

struct bento_store;

enum bento_kind {
	BENTO_KIND_MODEL = 1,
	BENTO_KIND_BENTO = 2,
};

/*
 * Open (creating if needed) the store at root, or the default location when
 * root is NULL ($BENTO_HOME, then ${XDG_DATA_HOME:-~/.local/share}/bento).
 * Applies pending schema migrations (one transaction each).  Takes a shared
 * flock on root/lock for the store's lifetime.
 */
int bento_store_open(const char *root, struct bento_store **out, struct bento_error *err);
void bento_store_close(struct bento_store *s);	/* NULL ok */
/*
 * Close s, and when this handle made the store (there was no store.db at
 * its root before bento_store_open), nothing was stored since (no object,
 * no history event) and no other process has it open, first remove what
 * opening it made: the database, the lock, blobs/ and tmp/, and the root
 * itself when that was made too.  So a refused import or pull into a
 * store that did not exist leaves none behind.  Otherwise (or when a file
 * is not removable) the same as bento_store_close.  NULL ok.
 */
void bento_store_discard(struct bento_store *s);
const char *bento_store_root(const struct bento_store *s);

/* ---- blobs ---- */

/* Malloc'd path of the blob file for d (whether or not it exists). */
char *bento_blob_path(const struct bento_store *s, const struct bento_digest *d);
/* 1 if present, 0 if not. */
int bento_blob_has(const struct bento_store *s, const struct bento_digest *d);
/* Open a blob read-only; -BENTO_E_NOTFOUND naming the digest when absent. */
int bento_blob_open(const struct bento_store *s, const struct bento_digest *d,
		    int *fd, struct bento_error *err);

struct bento_blob_writer;

/* Start staging a new blob in tmp/. */
int bento_blob_writer_new(struct bento_store *s, struct bento_blob_writer **out,
			  struct bento_error *err);
/*
 * The same for a blob of size bytes, known up front (a hint: more or fewer
 * may come).  One of fewer than BENTO_BLOB_SMALL bytes is held in memory
 * until it is complete: no file is made for it if the store has it, so
 * the caller need not ask bento_blob_has first.  For 1 MiB or more the space is reserved first (fallocate), so
 * a full disk is an error naming the staging file before any byte comes.  A big blob
 * (16 MiB or more) is written by a helper thread behind the caller, who
 * hashes meanwhile, with O_DIRECT where the filesystem allows: from memory
 * to the disk, not through the page cache.
 */
#define BENTO_BLOB_SMALL (64u << 10)
int bento_blob_writer_open(struct bento_store *s, uint64_t size, struct bento_blob_writer **out,
			   struct bento_error *err);
/* Append bytes (hashed as they are written). */
int bento_blob_write(struct bento_blob_writer *w, const void *p, size_t n,
		     struct bento_error *err);
/*
 * The same, the bytes also going into also (the digest of a stream they
 * are part of) in the same pass: bento_hasher_update2.
 */
int bento_blob_write2(struct bento_blob_writer *w, const void *p, size_t n,
		      struct bento_hasher *also, struct bento_error *err);
/*
 * Finish: fsync, compare with *expect when non-NULL (mismatch:
 * -BENTO_E_VERIFY "what: digest mismatch: expected ..., got ..."), rename
 * into place.  *out / *size receive the digest and byte count.  The writer is
 * freed whatever the outcome.  what names the content in messages.
 */
int bento_blob_writer_commit(struct bento_blob_writer *w, const char *what,
			     const struct bento_digest *expect,
			     struct bento_digest *out, uint64_t *size,
			     struct bento_error *err);
/* Discard the staged file and free the writer.  NULL ok. */
void bento_blob_writer_abort(struct bento_blob_writer *w);

/*
 * A stage keeps verified blobs in tmp/ until a whole operation has been
 * checked, so that a refused import leaves blobs/ exactly as it was.
 * bento_blob_writer_stage() is bento_blob_writer_commit() without the final
 * rename and without the fsync: the digest is checked (-BENTO_E_VERIFY) and
 * the file joins st (the writer is freed whatever the outcome).
 * bento_store_commit() makes everything staged durable at once (syncfs),
 * moves it into place along with the objects that need it, and makes the
 * renames durable at once before its COMMIT;
 * bento_blob_stage_free() removes whatever is still staged.  gc cannot
 * remove staged files: it waits for the writers' shared lock.  A stage may
 * be filled from several threads at once.
 */
struct bento_blob_stage;
struct bento_blob_stage *bento_blob_stage_new(struct bento_store *s);
int bento_blob_writer_stage(struct bento_blob_writer *w, struct bento_blob_stage *st,
			    const char *what, const struct bento_digest *expect,
			    struct bento_digest *out, struct bento_error *err);
void bento_blob_stage_free(struct bento_blob_stage *st);	/* NULL ok */
/*
 * Where the bytes of d are until st is committed: its file in tmp/ when st
 * holds it, else the path of its blob (bento_blob_path).  Malloc'd.  Not
 * while st is being filled.
 */
char *bento_blob_stage_path(struct bento_blob_stage *st, const struct bento_digest *d);

/*
 * Store the content of an open regular file (read once: hashed and copied in
 * one pass), into stage when non-NULL, else straight into blobs/.  st is its fstat.  Consults and fills the stat cache: a file
 * whose (dev, ino, size, mtime_ns, ctime_ns) is cached and whose blob is
 * present is not read at all.  A file whose size changes while it is read is
 * an error naming it.  Safe to call from several threads at once on the same
 * store (the stat cache has its own connection, guarded by a lock).
 */
/*
 * 1 and *out when the stat cache knows the digest of the file st describes
 * (its dev, ino, size, mtime_ns and ctime_ns; a regular file) and that blob
 * is stored: the file need not even be opened.  0 otherwise.
 */
int bento_blob_cached(struct bento_store *s, const struct stat *st, struct bento_digest *out);

int bento_blob_put_file(struct bento_store *s, struct bento_blob_stage *stage, int fd,
			const struct stat *st, const char *what, struct bento_digest *out,
			struct bento_error *err);

/* ---- objects and tags ---- */

struct bento_object_ref {
	char *name;
	char *version;
	struct bento_digest digest;
};

/*
 * One object to store (its canonical manifest bytes), tagged name:version.
 * blobs lists every file digest the manifest references and deps the
 * digests of models a bento uses (both may repeat).  An existing identical
 * object is fine (its signatures and attestations are added to); a tag
 * that already points at another digest is -BENTO_E_EXISTS unless replace
 * is set.  sigs and atts follow bento_attachments_check, and so must what
 * the bento carries once they are added (a signature or attestation of the
 * same name replaces the stored one).
 */
struct bento_event_in;
struct bento_object_put {
	enum bento_kind kind;
	const char *name, *version;
	const char *manifest;		/* canonical JSON bytes */
	size_t manifest_len;
	const struct bento_digest *blobs;
	size_t n_blobs;
	const struct bento_digest *deps;	/* models used (bentos only) */
	size_t n_deps;
	uint64_t size;			/* total bytes of the content */
	int replace;
	const struct bento_event_in *event;	/* history event appended in the same transaction, or NULL */
	const struct bento_attachment *sigs;	/* bentos: signatures added in the same transaction */
	size_t n_sigs;
	const struct bento_attachment *atts;	/* bentos: attestations likewise */
	size_t n_atts;
};

/*
 * Commit puts[0..n) (models before the bento that uses them) and the blobs
 * of stage (NULL for none) in one transaction: afterwards every object,
 * tag, signature, attestation and event is in the store, or none is and
 * no blob of stage was moved into blobs/.  Each blob a put lists must be
 * present or staged.  The staged blobs move into place inside the
 * transaction, once every put has been applied: a crash (or a failing
 * COMMIT) after that leaves unreferenced blobs, which gc removes, never an
 * object without its blobs.  Every check that needs no database comes
 * before the transaction.
 */
int bento_store_commit(struct bento_store *s, struct bento_blob_stage *stage,
		       const struct bento_object_put *puts, size_t n, struct bento_error *err);
/* One object, nothing staged; *out (optional) receives its digest. */
int bento_store_put(struct bento_store *s, const struct bento_object_put *p,
		    struct bento_digest *out, struct bento_error *err);

/*
 * Resolve ref: "name:version", "name", "name:latest", or a digest or digest
 * prefix ("sha256:abcd…" or bare hex, at least 12 hex).  Fills *out (caller
 * frees with bento_object_ref_release).  -BENTO_E_NOTFOUND or
 * -BENTO_E_AMBIGUOUS (listing the candidates) on failure.
 */
int bento_store_resolve(struct bento_store *s, enum bento_kind kind, const char *ref,
			struct bento_object_ref *out, struct bento_error *err);
void bento_object_ref_release(struct bento_object_ref *r);

/*
 * 1 when the store holds an object of kind with digest d (a build or an
 * import that finds it there "existed"), else 0; a database error counts
 * as absent.
 */
int bento_store_has_object(struct bento_store *s, enum bento_kind kind,
			   const struct bento_digest *d);

/* The canonical manifest bytes of an object. */
int bento_store_manifest(struct bento_store *s, enum bento_kind kind,
			 const struct bento_digest *d, struct bento_buf *out,
			 struct bento_error *err);

struct bento_object_info {
	char *name, *version;
	struct bento_digest digest;
	uint64_t size;
	int64_t added;		/* unix seconds the tag was added */
};
/* Every tag of kind (only of name when non-NULL), newest first. */
int bento_store_list(struct bento_store *s, enum bento_kind kind, const char *name,
		     struct bento_object_info **out, size_t *n, struct bento_error *err);
void bento_object_info_free(struct bento_object_info *v, size_t n);

/* Add tag name:version for an existing object (replace an existing tag if replace). */
int bento_store_tag(struct bento_store *s, enum bento_kind kind,
		    const struct bento_digest *d, const char *name, const char *version,
		    int replace, struct bento_error *err);

/*
 * Remove tag name:version.  When no tag names the object any more, the object
 * row goes too (its blobs stay until gc).  A model still used by a bento is
 * -BENTO_E_INUSE naming the bento, unless force.
 */
int bento_store_untag(struct bento_store *s, enum bento_kind kind,
		      const char *name, const char *version, int force,
		      struct bento_error *err);

/* Bentos (name:version list) that use model d. */
int bento_store_model_users(struct bento_store *s, const struct bento_digest *d,
			    struct bento_object_info **out, size_t *n,
			    struct bento_error *err);

/* ---- signatures and attestations of bentos ---- */

struct bento_attachment {
	char *name;	/* signatures: the key id; attestations: the name */
	char *data;
	size_t len;
};

/*
 * What one bento may carry besides its content: the same caps in the
 * store, in an archive and in a registry (bento-archive(5), ENTRIES), so
 * that whatever build, sign, import or pull let in, export, push and the
 * others take back.
 */
#define BENTO_SIG_MAX (64u << 10)		/* bytes of one signature (.minisig) */
#define BENTO_ATTESTATION_MAX (1u << 20)	/* bytes of one attestation (DSSE envelope) */
#define BENTO_ATTACHMENTS_MAX 256		/* signatures of one bento, and attestations */
#define BENTO_ATTACHMENTS_BYTES (16u << 20)	/* bytes of all of them together */

/* What one bento carries so far, counted against the caps. */
struct bento_attachment_tally {
	size_t sigs, atts;
	uint64_t bytes;
};

/*
 * Count one more attachment of size bytes into t, before its bytes are
 * read or fetched.  file is its name in an archive or as a referrer's
 * title: a signature's (is_sig) as bento_signature_check says
 * (KEYID.minisig; the store keeps it under KEYID), an attestation's as
 * bento_attestation_name_check says.  It must be within its own cap, the
 * count of its kind and the bytes of all.  0 (t counts it), or
 * -BENTO_E_UNSAFE (the name) / -BENTO_E_VERIFY (a cap) with err saying
 * which, t unchanged; callers put the source in front.
 */
int bento_attachment_admit(struct bento_attachment_tally *t, int is_sig, const char *file,
			   uint64_t size, struct bento_error *err);

/*
 * All that one bento carries: each attachment admitted as above, no name
 * twice within a kind (-BENTO_E_UNSAFE), none empty or holding a NUL byte
 * (the store keeps text; -BENTO_E_VERIFY).  The store applies it to every
 * put, and again to what a bento has once the put is added.
 */
int bento_attachments_check(const struct bento_attachment *sigs, size_t n_sigs,
			    const struct bento_attachment *atts, size_t n_atts,
			    struct bento_error *err);

/*
 * Attach a minisign signature (the whole .minisig text) made by key keyid
 * (16 hex, as bento_keyid_hex) to bento d; a signature by the same key
 * replaces the previous one.  The bento must exist (-BENTO_E_NOTFOUND).
 */
int bento_store_signature_add(struct bento_store *s, const struct bento_digest *d,
			      const char *keyid, const char *sig, size_t len,
			      struct bento_error *err);

/*
 * Attach an attestation (a DSSE envelope, canonical JSON) to bento d under
 * name ("provenance.dsse.json"); the same name replaces.
 */
int bento_store_attestation_add(struct bento_store *s, const struct bento_digest *d,
				const char *name, const char *data, size_t len,
				struct bento_error *err);

/* A bento's signatures / attestations, sorted by name.  Free with bento_attachments_free. */
int bento_store_signatures(struct bento_store *s, const struct bento_digest *d,
			   struct bento_attachment **out, size_t *n, struct bento_error *err);
int bento_store_attestations(struct bento_store *s, const struct bento_digest *d,
			     struct bento_attachment **out, size_t *n, struct bento_error *err);
void bento_attachments_free(struct bento_attachment *v, size_t n);

/* ---- layer cache (oci.h) ---- */

/*
 * The digest and size of a registry layer, keyed by the digest of a
 * canonical description that determines the layer's bytes (oci.c makes
 * it).  get: 1 with *digest and *size filled on a hit, 0 on a miss, <0 on
 * a database error.  put: insert or replace.  Rows are only a cache.
 */
int bento_store_layer_cache_get(struct bento_store *s, const struct bento_digest *key,
				struct bento_digest *digest, uint64_t *size,
				struct bento_error *err);
int bento_store_layer_cache_put(struct bento_store *s, const struct bento_digest *key,
				const struct bento_digest *digest, uint64_t size,
				struct bento_error *err);

/* ---- maintenance ---- */

struct bento_fsck_problem {
	char *what;		/* "blob sha256:ab…: digest mismatch (content is sha256:cd…)" */
};
/*
 * Check the whole store: every blob rehashed against its name, every object's
 * manifest against its digest, every referenced blob and model present, no
 * dangling tags, SQLite integrity_check, the history's hash chain.  Problems are collected (caller frees
 * with bento_fsck_free); returns 0 when the check ran (problems or not).
 * Leftover tmp/ files older than an hour (crash leftovers) are removed.
 */
int bento_store_fsck(struct bento_store *s, struct bento_fsck_problem **out, size_t *n,
		     uint64_t *blobs_checked, struct bento_error *err);
void bento_fsck_free(struct bento_fsck_problem *p, size_t n);

/*
 * Remove blobs no object references and stale tmp/ files.  Takes the store's
 * lock exclusively (waits for running writers).  dry_run only counts.
 */
int bento_store_gc(struct bento_store *s, int dry_run, uint64_t *blobs, uint64_t *bytes,
		   struct bento_error *err);

#endif
