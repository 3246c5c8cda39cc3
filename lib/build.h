/*
 * build.h - make models and bentos from files on disk.
 *
 * bento_model_import() turns a file or directory into a model object;
 * bento_build() turns a build context + bentofile into a bento, importing
 * models given by path on the fly.  Files are hashed and copied into the
 * store in parallel (one pass over each file), unchanged files are not read
 * again (stat cache), and nothing is tagged until every file is stored.
 */
#ifndef BENTO_BUILD_H
#define BENTO_BUILD_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "bentofile.h"
#include "error.h"
#include "sign.h"
#include "store.h"

/* Called for each non-fatal finding (lockfile warnings); msg is one line. */
typedef void (*bento_warn_fn)(void *ctx, const char *msg);

struct bento_model_import_opts {
	const char *path;		/* file or directory */
	const char *name;		/* required */
	const char *version;		/* NULL: derived from content */
	const char *framework, *format, *description, *license;	/* optional */
	const struct bento_kv *labels;
	size_t n_labels;
	int jobs;			/* hashing threads; 0 = online CPUs */
};

struct bento_build_result {
	char *name, *version;		/* owned; free with bento_build_result_release */
	struct bento_digest digest;
	uint64_t size;
	size_t n_files;			/* content files (models included) */
	size_t n_warnings;
	int existed;			/* the same bento was already in the store */
	int signed_by_key;		/* a signature was added (build --sign) */
	char *git_commit;		/* the context's HEAD commit, when in git */
	int git_dirty;			/* a file of the bento, or the bentofile, is not in it as it is */
	json_t *git_source;		/* what the provenance says of it (bento_git_source), owned */
};
void bento_build_result_release(struct bento_build_result *r);

int bento_model_import(struct bento_store *s, const struct bento_model_import_opts *o,
		       struct bento_build_result *out, struct bento_error *err);

struct bento_build_opts {
	const char *context;		/* directory; NULL = "." */
	const char *bentofile;		/* NULL = CONTEXT/bentofile.yaml */
	const char *name, *version;	/* override the bentofile's */
	const struct bento_kv *labels;	/* added to / override the bentofile's */
	size_t n_labels;
	int strict;			/* lockfile findings are errors */
	int jobs;
	const struct bento_seckey *sign_key;	/* sign bento.json and the provenance; NULL = unsigned */
	bento_warn_fn warn;
	void *warn_ctx;
};

/*
 * Build.  Errors: -BENTO_E_INVALID (bentofile, with file:line:col),
 * -BENTO_E_NOTFOUND (model tag, include path), -BENTO_E_UNSAFE (symlink
 * leaving the context), -BENTO_E_EXISTS (name:version taken by other
 * content), -BENTO_E_VERIFY (--strict lockfile findings), -errno.
 */
int bento_build(struct bento_store *s, const struct bento_build_opts *o,
		struct bento_build_result *out, struct bento_error *err);

/*
 * Sign bento d with k: a minisign signature over its bento.json (trusted
 * comment "bento NAME:VERSION DIGEST") stored with the bento, and a
 * signature added to its provenance envelope when it has one.  Appends a
 * "sign" history event.
 */
int bento_sign_stored(struct bento_store *s, const struct bento_digest *d,
		      const struct bento_seckey *k, struct bento_error *err);

/*
 * The bento's "created" time: SOURCE_DATE_EPOCH when set (must be a
 * non-negative integer), else the commit time of HEAD when dir is inside a
 * git work tree, else none (*have = 0).
 */
int bento_created_time(const char *dir, int64_t *t, int *have, struct bento_error *err);

#endif
