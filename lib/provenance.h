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
#include "error.h"
#include "manifest.h"
#include "sign.h"

#define BENTO_DSSE_PAYLOAD_TYPE "application/vnd.in-toto+json"
#define BENTO_INTOTO_STATEMENT "https://in-toto.io/Statement/v1"
#define BENTO_SLSA_PROVENANCE "https://slsa.dev/provenance/v1"
#define BENTO_BUILD_TYPE "https://bento.dev/build/v1"	/* documented in bento-archive.5 */
#define BENTO_BUILDER_ID "https://bento.dev/builder/bento-cli"

struct bento_git_state {
	int is_repo;		/* 0: not a git work tree (the rest is NULL/0) */
	char *commit;		/* HEAD commit hex, NULL when unborn */
	char *tree;		/* HEAD tree hex */
	char *branch;		/* short branch name, NULL when detached */
	char *remote;		/* URL of "origin" (or the first remote), credentials stripped */
	int dirty;		/* tracked files modified, staged or deleted */
	int64_t commit_time;	/* HEAD committer time */
};

/* Inspect the work tree containing dir.  Not a repository is not an error. */
int bento_git_state(const char *dir, struct bento_git_state *out, struct bento_error *err);
void bento_git_state_release(struct bento_git_state *g);

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
 * The in-toto Statement: subject [{name, digest {sha256}}] where name is
 * "NAME:VERSION" and the digest the bento's; predicateType SLSA v1;
 * buildDefinition {buildType, externalParameters {bentofile, name, version,
 * labels, ...parameters}, internalParameters {}, resolvedDependencies [git
 * commit (uri git+REMOTE@BRANCH, digest gitCommit), every model (uri
 * bento-model:NAME:VERSION, digest sha256), every lockfile (uri
 * file:SOURCE, digest sha256)]}; runDetails {builder {id, version {bento}},
 * metadata {invocationId (CI run URL), when in CI}, byproducts [git tree and
 * dirty state, CI run identity]}.  Returns a new reference.
 */
json_t *bento_provenance_statement(const struct bento_provenance_input *in);

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
