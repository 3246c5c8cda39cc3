/*
 * provenance.h - where a bento came from: git state (libgit2), an in-toto
 * Statement v1 with an SLSA provenance v1 predicate, and DSSE envelopes.
 *
 * Format details and the list of fields that vary between two builds of the
 * same inputs (the CI run identity; the git fields when the checkout
 * differs; the builder version) are in man/bento-archive.5.  There are no
 * wall-clock times and no local user@host in it: those are in the history.
 */
#ifndef BENTO_PROVENANCE_H
#define BENTO_PROVENANCE_H

#include <stdint.h>

#include <jansson.h>

#include "buf.h"
#include "collect.h"
#include "error.h"
#include "manifest.h"
#include "sign.h"

#define BENTO_DSSE_PAYLOAD_TYPE "application/vnd.in-toto+json"
#define BENTO_INTOTO_STATEMENT "https://in-toto.io/Statement/v1"
#define BENTO_SLSA_PROVENANCE "https://slsa.dev/provenance/v1"
#define BENTO_BUILD_TYPE "https://bento.dev/build/v1"	/* documented in bento-archive.5 */
#define BENTO_BUILDER_ID "https://bento.dev/builder/bento-cli"

/*
 * How one file of a bento stands against the HEAD commit, when it is not
 * in it as it is (names as bento_git_status_name() gives them, in
 * bento-archive(5)).
 */
enum bento_git_status {
	BENTO_GIT_MODIFIED,	/* HEAD has the path, with other content */
	BENTO_GIT_DELETED,	/* HEAD has a file the bentofile selects; the bento lacks it */
	BENTO_GIT_ADDED,	/* not in HEAD, staged in the index */
	BENTO_GIT_UNTRACKED,	/* not in HEAD, not ignored */
	BENTO_GIT_IGNORED,	/* not in HEAD, ignored by git */
	BENTO_GIT_SUBMODULE,	/* inside a submodule: not compared */
	BENTO_GIT_OUTSIDE,	/* not under the work tree (or a link of HEAD leaving it) */
	BENTO_GIT_N_STATUS
};
/* "modified", "deleted", ...; "unknown" for anything else. */
const char *bento_git_status_name(enum bento_git_status s);

struct bento_git_change {
	char *path;			/* the bento path: src/..., env/..., models/NAME/... */
	enum bento_git_status status;
};

/* At most this many files not in the commit are named in a statement (all are counted). */
#define BENTO_PROVENANCE_FILES_MAX 100

struct bento_git_state {
	int is_repo;		/* 0: not a git work tree (the rest is NULL/0) */
	char *commit;		/* HEAD commit hex, NULL when unborn */
	char *tree;		/* HEAD tree hex */
	char *branch;		/* short branch name, NULL when detached */
	char *remote;		/* URL of "origin" (or the first remote), credentials stripped */
	char *gitdir;		/* the repository (in memory only, never recorded) */
	char *workdir;		/* the work tree's real path, NULL when bare (likewise) */
	char *context_dir;	/* the inspected directory below the work tree root; "" at the root */
	int64_t commit_time;	/* HEAD committer time */
	/* Set by bento_git_check_files(); until then nothing is claimed about the files. */
	int checked;
	int dirty;		/* checked, and a file or the bentofile differs from HEAD */
	struct bento_git_change *changes;	/* every such file, sorted by path */
	size_t n_changes;
	size_t counts[BENTO_GIT_N_STATUS];
	int bentofile_changed;	/* the bentofile (when not a file of the bento) is not in HEAD as it is */
	enum bento_git_status bentofile_status;	/* then how */
};

/* Inspect the work tree containing dir.  Not a repository is not an error. */
int bento_git_state(const char *dir, struct bento_git_state *out, struct bento_error *err);
void bento_git_state_release(struct bento_git_state *g);

/* One file that goes into the bento, as the build read it (all borrowed). */
struct bento_git_file {
	const char *path;	/* its bento path */
	const char *root;	/* real path (no symlinks) of the directory it was collected from */
	const char *rel;	/* its path below root, as collected ('/'-separated) */
	const char *content;	/* a file with exactly the bytes that went into the bento */
	const struct bento_digest *digest;	/* their sha256 */
	uint64_t size;
};

/* A directory the build walked, so that committed files it lacks are found (borrowed). */
struct bento_git_walk {
	const char *prefix;	/* the bento path prefix of its files: "src/", "models/iris/" */
	const char *root;	/* its real path */
	const struct bento_collect_rules *rules;	/* what the walk selected */
};

/* What bento_git_check_files() compares (all borrowed). */
struct bento_git_check {
	const struct bento_git_file *files;	/* every file of the bento; paths unique */
	size_t n;
	const struct bento_git_walk *walks;	/* the directories they were collected from */
	size_t n_walks;
	const struct bento_git_file *bentofile;	/* when it is not among files (its path unused) */
};

/*
 * Compare the files of a bento with the HEAD commit of g (from
 * bento_git_state; nothing to do when g is not a repository): a file is in
 * the commit when a checkout of HEAD writes exactly its bytes at its path
 * (git's filters applied, symbolic links of HEAD followed through HEAD's
 * tree; a Git LFS pointer counts when its sha256 and size are the
 * file's).  Every other file, and every file of HEAD under a walked
 * directory that its rules select but the bento lacks, is recorded in
 * g->changes with its status; the bentofile in g->bentofile_changed and
 * g->bentofile_status; g->dirty says whether there is any of them.
 * Errors are libgit2's (-BENTO_E_FAIL) and leave g unchanged.
 */
int bento_git_check_files(struct bento_git_state *g, const struct bento_git_check *in,
			  struct bento_error *err);

/*
 * Remove credentials from a URL: "https://user:tok@host/x" ->
 * "https://host/x"; scp-like "git@host:x" is kept (the user is not a
 * secret).  Returns a new string.
 */
char *bento_url_strip_credentials(const char *url);

/* CI identity from the usual environment variables; NULL when not in CI. */
struct bento_ci {
	const char *system;	/* "github-actions", "gitlab-ci", "jenkins", "buildkite", "circleci", "ci" */
	char *run_url;		/* a link to the run when derivable, else NULL */
	char *run_id;
	char *actor;		/* who triggered it, when known */
};
/* Returns 1 and fills *out when in CI, else 0. */
int bento_ci_detect(struct bento_ci *out);
void bento_ci_release(struct bento_ci *c);

struct bento_provenance_input {
	const struct bento_manifest *m;		/* the bento (subject) */
	const char *bentofile;			/* path of the bentofile relative to the context */
	json_t *parameters;			/* externalParameters additions (borrowed) */
	const struct bento_git_state *git;
	const char *builder_version;		/* BENTO_VERSION */
};

/*
 * What g says of the source, in the form bento_provenance_source() reads
 * back from a statement; NULL when g names no commit.  A new reference.
 */
json_t *bento_git_source(const struct bento_git_state *g);

/*
 * The in-toto Statement: subject [{name, digest {sha256}}] where name is
 * "NAME:VERSION" and the digest the bento's; predicateType SLSA v1;
 * buildDefinition {buildType, externalParameters {bentofile, name, version,
 * labels, ...parameters}, internalParameters {}, resolvedDependencies [git
 * commit (uri git+REMOTE@BRANCH, digest gitCommit), every model (uri
 * bento-model:NAME:VERSION, digest sha256), every lockfile (uri
 * file:SOURCE, digest sha256)]}, the git commit annotated, once the files
 * were checked, with dirty, filesNotInCommit, statusCounts and the first
 * BENTO_PROVENANCE_FILES_MAX of notInCommit [{path, status}], and with
 * contextDir when the context is below the work tree root; runDetails {builder {id, version {bento}},
 * metadata {invocationId (CI run URL), when in CI}, byproducts [git tree and
 * dirty state, CI run identity]}.  Returns a new reference.
 */
json_t *bento_provenance_statement(const struct bento_provenance_input *in);

/*
 * What a statement (trusted or not) says of the bento's source: NULL when
 * it names no git commit, else a new object {uri, commit, state ("clean",
 * "dirty" or "unknown": older statements do not record the files outside
 * the commit), files_not_in_commit and status_counts (when recorded),
 * not_in_commit [{path, status}] (the named ones, at most
 * BENTO_PROVENANCE_FILES_MAX), context_dir (when below the root)}.
 * Malformed members are left out; strings are kept as they are.
 */
json_t *bento_provenance_source(const json_t *statement);

/*
 * That source for people, control characters replaced: its state,
 * "clean", "dirty: N files not in the commit: PATH (STATUS), ... and K
 * more" (at most max_files named; 0 names none), "dirty (which files is
 * not recorded)" or "files not in the commit are not recorded"; and the
 * line "URI commit HEX, STATE".  New strings.
 */
char *bento_provenance_source_state(const json_t *source, size_t max_files);
char *bento_provenance_source_line(const json_t *source, size_t max_files);

/*
 * A statement for people (bento get --provenance), lines of "KEY: VALUE":
 * subject, builder, source (its line, then each file named not in the
 * commit, one a line), ci when in CI; values shown as the source line
 * shows them.  A new string.
 */
char *bento_provenance_text(const json_t *statement);

/* DSSE pre-authentication encoding: "DSSEv1 LEN(type) type LEN(body) body". */
void bento_dsse_pae(const char *type, const void *body, size_t len, struct bento_buf *out);

/*
 * Wrap payload in a DSSE envelope signed with k (pure Ed25519 over the PAE,
 * keyid = bento_keyid_hex of k): canonical JSON {"payload": base64,
 * "payloadType": type, "signatures": [{"keyid", "sig": base64}]} into out.
 */
int bento_dsse_sign(const char *type, const void *payload, size_t len,
		    const struct bento_seckey *k, struct bento_buf *out,
		    struct bento_error *err);

/*
 * An envelope with no signature yet ("signatures": []), canonical JSON, into
 * out; bento_dsse_add_signature() then signs it.  bento_dsse_sign() is
 * these two in one.
 */
int bento_dsse_envelope(const char *type, const void *payload, size_t len,
			struct bento_buf *out, struct bento_error *err);

/*
 * Add k's signature over the envelope's PAE (replacing an earlier one by
 * the same key id); the result, canonical JSON, goes into out.
 */
int bento_dsse_add_signature(const char *env, size_t len, const struct bento_seckey *k,
			     struct bento_buf *out, struct bento_error *err);

/*
 * One envelope out of two of the same statement (payloadType and payload
 * alike), with the signatures of both (each once, sorted as
 * bento_dsse_add_signature sorts them): what a registry that lists an
 * attestation before and after `bento sign` added a signature to it holds.
 * So the union of a signed envelope and its unsigned original is the
 * signed one, byte for byte.  Envelopes of different statements are
 * -BENTO_E_VERIFY.
 */
int bento_dsse_merge(const char *a, size_t alen, const char *b, size_t blen,
		     struct bento_buf *out, struct bento_error *err);

/*
 * A DSSE envelope, read strictly (bento-archive(5), PROVENANCE): a JSON
 * object (no duplicate members, at most 1 MiB, the store's cap on an
 * attestation) of exactly the members
 * payload (standard padded base64), payloadType (a string) and signatures
 * (an array of objects of a string sig and an optional string keyid, and
 * nothing else).  The payload type is not checked here.
 */
struct bento_dsse {
	json_t *root;			/* owned */
	const char *type;		/* payloadType, borrowed from root */
	const char *payload_b64;	/* borrowed from root */
	json_t *sigs;			/* borrowed from root */
	struct bento_buf payload;	/* the decoded payload, owned */
};

/* Read data/len into *e; -BENTO_E_VERIFY "provenance: malformed envelope: WHY". */
int bento_dsse_read(const char *data, size_t len, struct bento_dsse *e, struct bento_error *err);
/* Free what e holds (e is left empty; releasing twice is fine). */
void bento_dsse_release(struct bento_dsse *e);

/*
 * Read an in-toto Statement v1 (the payload of an attestation): a JSON
 * object, no duplicate members, whose _type is BENTO_INTOTO_STATEMENT,
 * subject a list of exactly one object with an object digest of strings
 * (and a string name when present), predicateType a string and predicate,
 * when present, an object.  Other members are ignored, as in-toto says.
 * *out owns a new reference; -BENTO_E_VERIFY "provenance: malformed
 * statement: WHY" otherwise.
 */
int bento_intoto_read(const char *data, size_t len, json_t **out, struct bento_error *err);

/*
 * Verify an envelope against keys[0..n): at least one signature must be by
 * one of the keys and verify.  On success *payload receives the decoded
 * payload and *key_index which key verified.  Errors -BENTO_E_VERIFY naming
 * the reason (malformed, wrong payloadType, untrusted key id, bad signature).
 */
int bento_dsse_verify(const char *env, size_t len, const struct bento_pubkey *keys, size_t n,
		      struct bento_buf *payload, size_t *key_index, struct bento_error *err);

/*
 * Check that a statement's subject names this bento (digest equal to
 * m->digest).  -BENTO_E_VERIFY "provenance subject is sha256:… but the
 * bento is sha256:…" otherwise.
 */
int bento_provenance_check_subject(const json_t *statement, const struct bento_manifest *m,
				   struct bento_error *err);

#endif
