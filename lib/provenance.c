/*
 * provenance.c - CI identity, the in-toto/SLSA statement and what it says
 * of the source, DSSE envelopes.  The git state is in provenance_git.c.
 */
#include <ctype.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cjson.h"
#include "provenance.h"
#include "store.h"

/*
 * An envelope holds one statement, a few KiB; the cap, the store's on an
 * attestation, only bounds hostile input.
 */
#define DSSE_MAX BENTO_ATTESTATION_MAX
#define DSSE_PAYLOAD_MAX (DSSE_MAX / 4 * 3 - 65536)
#define DSSE_SIGLEN 64

/* ---- URLs and CI ---- */

static int scheme_is(const char *url, size_t n, const char *scheme)
{
	return strlen(scheme) == n && strncasecmp(url, scheme, n) == 0;
}

/*
 * For http(s) the whole userinfo goes: hosts take tokens as the user name
 * (https://TOKEN@github.com/...).  For other schemes (ssh://git@host) the
 * user stays and only a ":password" is dropped.
 */
char *bento_url_strip_credentials(const char *url)
{
	const char *sep = strstr(url, "://");
	struct bento_buf b = BENTO_BUF_INIT;
	const char *auth, *end, *at = NULL;
	size_t slen;

	if (!sep)
		return bento_xstrdup(url);	/* scp-like "git@host:path" or a local path */
	slen = (size_t)(sep - url);
	auth = sep + 3;
	end = auth + strcspn(auth, "/?#");
	for (const char *p = auth; p < end; p++)
		if (*p == '@')
			at = p;
	if (!at)
		return bento_xstrdup(url);
	bento_buf_add(&b, url, (size_t)(auth - url));
	if (!scheme_is(url, slen, "http") && !scheme_is(url, slen, "https") &&
	    !scheme_is(url, slen, "git+http") && !scheme_is(url, slen, "git+https")) {
		const char *colon = memchr(auth, ':', (size_t)(at - auth));
		bento_buf_add(&b, auth, (size_t)((colon ? colon : at) - auth));
		bento_buf_addch(&b, '@');
	}
	bento_buf_adds(&b, at + 1);
	return bento_buf_detach(&b, NULL);
}

/* A CI variable worth recording: set, non-empty, printable UTF-8, not huge. */
static char *ci_env(const char *name)
{
	const char *v = getenv(name);

	if (!v || !*v || strlen(v) > 2048 || !bento_utf8_valid(v, strlen(v)))
		return NULL;
	for (const char *p = v; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return NULL;
	return bento_xstrdup(v);
}

static int env_true(const char *name)
{
	const char *v = getenv(name);

	return v && (strcasecmp(v, "true") == 0 || strcmp(v, "1") == 0);
}

/* Links are passed through the credential stripper: none should hold one, but never risk it. */
static char *ci_url(char *u)
{
	char *s;

	if (!u)
		return NULL;
	s = bento_url_strip_credentials(u);
	free(u);
	return s;
}

int bento_ci_detect(struct bento_ci *out)
{
	struct bento_ci c = { 0 };

	if (env_true("GITHUB_ACTIONS")) {
		char *server = ci_env("GITHUB_SERVER_URL"), *repo = ci_env("GITHUB_REPOSITORY");
		c.system = "github-actions";
		c.run_id = ci_env("GITHUB_RUN_ID");
		c.actor = ci_env("GITHUB_ACTOR");
		if (server && repo && c.run_id)
			c.run_url = ci_url(bento_xasprintf("%s/%s/actions/runs/%s", server, repo,
							   c.run_id));
		free(server);
		free(repo);
	} else if (getenv("GITLAB_CI") && *getenv("GITLAB_CI")) {
		c.system = "gitlab-ci";
		c.run_url = ci_url(ci_env("CI_JOB_URL"));
		c.run_id = ci_env("CI_JOB_ID");
		c.actor = ci_env("GITLAB_USER_LOGIN");
	} else if (env_true("BUILDKITE")) {
		c.system = "buildkite";
		c.run_url = ci_url(ci_env("BUILDKITE_BUILD_URL"));
		c.run_id = ci_env("BUILDKITE_BUILD_ID");
		c.actor = ci_env("BUILDKITE_BUILD_CREATOR");
	} else if (env_true("CIRCLECI")) {
		c.system = "circleci";
		c.run_url = ci_url(ci_env("CIRCLE_BUILD_URL"));
		c.run_id = ci_env("CIRCLE_WORKFLOW_ID");
		c.actor = ci_env("CIRCLE_USERNAME");
	} else if (getenv("JENKINS_URL") && *getenv("JENKINS_URL")) {
		c.system = "jenkins";
		c.run_url = ci_url(ci_env("BUILD_URL"));
		c.run_id = ci_env("BUILD_ID");
		c.actor = ci_env("BUILD_USER_ID");	/* set by Jenkins' build-user-vars plugin */
	} else if (env_true("CI")) {
		c.system = "ci";
	} else {
		return 0;
	}
	*out = c;
	return 1;
}

void bento_ci_release(struct bento_ci *c)
{
	free(c->run_url);
	free(c->run_id);
	free(c->actor);
	memset(c, 0, sizeof(*c));
}

/* ---- the statement ---- */

/* Skips NULL and strings jansson refuses (not UTF-8): a statement is always produced. */
static void set_str(json_t *obj, const char *key, const char *s)
{
	json_t *v = s ? json_string(s) : NULL;

	if (v)
		json_object_set_new(obj, key, v);
}

static json_t *sha256_digest(const struct bento_digest *d)
{
	char hex[BENTO_DIGEST_HEXLEN + 1];

	bento_digest_hex(d, hex);
	return json_pack("{s:s}", "sha256", hex);
}

/*
 * A path for the statement.  Files of the bento passed bento_path_check();
 * a deleted file's name comes from HEAD and may be anything: its bytes
 * outside printable ASCII are written \xNN.
 */
static json_t *path_json(const char *p)
{
	struct bento_buf b = BENTO_BUF_INIT;
	json_t *v;

	if (bento_path_check(p, "path", NULL) == 0 && (v = json_string(p)))
		return v;
	for (const unsigned char *c = (const unsigned char *)p; *c; c++)
		if (*c < 0x20 || *c >= 0x7f || *c == '\\')
			bento_buf_addf(&b, "\\x%02x", *c);
		else
			bento_buf_addch(&b, *c);
	v = json_string(b.buf);
	bento_buf_release(&b);
	return v;
}

/* The first max changes as [{path, status}]. */
static json_t *changes_json(const struct bento_git_change *v, size_t n, size_t max)
{
	json_t *arr = json_array();

	for (size_t i = 0; i < n && i < max; i++)
		json_array_append_new(arr, json_pack("{s:o, s:s}", "path", path_json(v[i].path),
						     "status", bento_git_status_name(v[i].status)));
	return arr;
}

/* What the check of the files found, for the git dependency; bounded. */
static json_t *git_annotations(const struct bento_git_state *g)
{
	json_t *a = json_object(), *counts;

	if (g->context_dir && *g->context_dir)
		json_object_set_new(a, "contextDir", path_json(g->context_dir));
	if (!g->checked)
		return a;	/* nothing is claimed about files nobody compared */
	counts = json_object();
	for (int i = 0; i < BENTO_GIT_N_STATUS; i++)
		if (g->counts[i])
			json_object_set_new(counts, bento_git_status_name((enum bento_git_status)i),
					    json_integer((json_int_t)g->counts[i]));
	json_object_set_new(a, "dirty", json_boolean(g->dirty));
	json_object_set_new(a, "filesNotInCommit", json_integer((json_int_t)g->n_changes));
	json_object_set_new(a, "statusCounts", counts);
	json_object_set_new(a, "notInCommit",
			    changes_json(g->changes, g->n_changes, BENTO_PROVENANCE_FILES_MAX));
	if (g->bentofile_changed)
		json_object_set_new(a, "bentofile",
				    json_string(bento_git_status_name(g->bentofile_status)));
	return a;
}

static json_t *git_dependency(const struct bento_git_state *g)
{
	struct bento_buf uri = BENTO_BUF_INIT;
	json_t *dep;

	bento_buf_adds(&uri, "git+");
	if (!g->remote)
		bento_buf_adds(&uri, "file:unknown");
	else if (g->remote[0] == '/')
		bento_buf_addf(&uri, "file://%s", g->remote);
	else
		bento_buf_adds(&uri, g->remote);
	if (g->branch)
		bento_buf_addf(&uri, "@refs/heads/%s", g->branch);
	dep = json_pack("{s:{s:s}, s:o}", "digest", "gitCommit", g->commit, "annotations",
			git_annotations(g));
	set_str(dep, "uri", uri.buf);
	bento_buf_release(&uri);
	return dep;
}

static void add_lockfiles(json_t *deps, const struct bento_manifest *m)
{
	const json_t *locks = json_object_get(m->json, "lockfiles");
	size_t i;
	json_t *l;

	json_array_foreach(locks, i, l) {
		const char *src = bento_json_str(l, "source"), *path = bento_json_str(l, "path");
		const char *d = bento_json_str(l, "digest");
		if (!src || !d || !bento_digest_valid(d))
			continue;
		char *uri = bento_xasprintf("file:%s", src);
		json_t *dep = json_pack("{s:{s:s}}", "digest", "sha256", d + 7);
		set_str(dep, "uri", uri);
		set_str(dep, "name", path);
		json_array_append_new(deps, dep);
		free(uri);
	}
}

static json_t *resolved_dependencies(const struct bento_provenance_input *in)
{
	json_t *deps = json_array();

	if (in->git && in->git->is_repo && in->git->commit)
		json_array_append_new(deps, git_dependency(in->git));
	for (size_t i = 0; i < in->m->n_models; i++) {
		const struct bento_model *md = &in->m->models[i];
		char *uri = bento_xasprintf("bento-model:%s:%s", md->name, md->version);
		json_t *dep = json_pack("{s:o}", "digest", sha256_digest(&md->digest));
		set_str(dep, "uri", uri);
		set_str(dep, "name", md->name);
		json_array_append_new(deps, dep);
		free(uri);
	}
	add_lockfiles(deps, in->m);
	return deps;
}

static json_t *external_parameters(const struct bento_provenance_input *in)
{
	const json_t *labels = json_object_get(in->m->json, "labels");
	/* Additions first, so they can never contradict what names the subject. */
	json_t *p = json_is_object(in->parameters) ? json_deep_copy(in->parameters) : json_object();

	set_str(p, "bentofile", in->bentofile);
	set_str(p, "name", in->m->name);
	set_str(p, "version", in->m->version);
	json_object_set_new(p, "labels", json_is_object(labels) ? json_deep_copy(labels) : json_object());
	if (in->git && in->git->is_repo && in->git->checked)
		json_object_set_new(p, "source", json_pack("{s:b}", "dirty", in->git->dirty));
	return p;
}

static json_t *byproducts(const struct bento_provenance_input *in, const struct bento_ci *ci)
{
	const struct bento_git_state *g = in->git;
	json_t *git = json_pack("{s:s, s:{s:b}}", "name", "git-worktree", "annotations",
				"repository", g && g->is_repo);
	json_t *inv = json_pack("{s:s, s:{}}", "name", "invocation", "annotations");
	json_t *ann = json_object_get(inv, "annotations");

	if (g && g->is_repo) {
		if (g->checked)
			json_object_set_new(json_object_get(git, "annotations"), "dirty",
					    json_boolean(g->dirty));
		if (g->tree)
			json_object_set_new(git, "digest", json_pack("{s:s}", "gitTree", g->tree));
	}
	if (ci) {
		set_str(ann, "ci", ci->system);
		set_str(ann, "ciActor", ci->actor);
		set_str(ann, "ciRunId", ci->run_id);
		set_str(inv, "uri", ci->run_url);
	}
	return json_pack("[o, o]", git, inv);
}

json_t *bento_provenance_statement(const struct bento_provenance_input *in)
{
	struct bento_ci ci = { 0 };
	int in_ci = bento_ci_detect(&ci);
	char subject[2 * BENTO_NAME_MAX + 2];
	json_t *meta, *stmt;

	/*
	 * No wall-clock times and no local user@host: the statement is a
	 * function of the inputs, the checkout and the CI run, so two builds of
	 * the same inputs export byte-identical archives.  When and by whom a
	 * build ran is in the store's history.
	 */
	snprintf(subject, sizeof(subject), "%s:%s", in->m->name, in->m->version);
	meta = json_object();
	if (in_ci)
		set_str(meta, "invocationId", ci.run_url);
	stmt = json_pack("{s:s, s:[{s:s, s:o}], s:s, s:{s:{s:s, s:o, s:{}, s:o},"
			 " s:{s:{s:s, s:{s:s}}, s:o, s:o}}}",
			 "_type", BENTO_INTOTO_STATEMENT,
			 "subject", "name", subject, "digest", sha256_digest(&in->m->digest),
			 "predicateType", BENTO_SLSA_PROVENANCE,
			 "predicate",
			 "buildDefinition",
			 "buildType", BENTO_BUILD_TYPE,
			 "externalParameters", external_parameters(in),
			 "internalParameters",
			 "resolvedDependencies", resolved_dependencies(in),
			 "runDetails",
			 "builder", "id", BENTO_BUILDER_ID,
			 "version", "bento", in->builder_version ? in->builder_version : "unknown",
			 "metadata", meta,
			 "byproducts", byproducts(in, in_ci ? &ci : NULL));
	if (in_ci)
		bento_ci_release(&ci);
	return stmt;
}

int bento_provenance_check_subject(const json_t *statement, const struct bento_manifest *m,
				   struct bento_error *err)
{
	const json_t *s0 = json_array_get(json_object_get(statement, "subject"), 0);
	const char *got = bento_json_str(json_object_get(s0, "digest"), "sha256");
	char want[BENTO_DIGEST_HEXLEN + 1];

	bento_digest_hex(&m->digest, want);
	if (!got)
		return bento_error_set(err, BENTO_E_VERIFY,
				       "provenance: the statement has no subject digest");
	if (strcmp(got, want) != 0)
		return bento_error_set(err, BENTO_E_VERIFY,
				       "provenance subject is sha256:%.64s but the bento is sha256:%s",
				       got, want);
	return 0;
}

/* ---- reading the source back ---- */

static const json_t *jpath(const json_t *v, const char *a, const char *b, const char *c)
{
	v = json_object_get(v, a);
	if (b)
		v = json_object_get(v, b);
	if (c)
		v = json_object_get(v, c);
	return v;
}

static long long json_count(const json_t *v)
{
	return json_is_integer(v) && json_integer_value(v) >= 0 ? (long long)json_integer_value(v) : -1;
}

/* The summary of one git dependency; ext is externalParameters.source (older statements). */
static json_t *source_of(const json_t *dep, const json_t *ext)
{
	const char *commit = bento_json_str(json_object_get(dep, "digest"), "gitCommit");
	const json_t *ann = json_object_get(dep, "annotations"), *dirty = json_object_get(ann, "dirty");
	const json_t *list = json_object_get(ann, "notInCommit"), *e;
	long long n = json_count(json_object_get(ann, "filesNotInCommit"));
	const char *state;
	json_t *out, *files, *counts;
	size_t i;

	if (!commit)
		return NULL;
	out = json_pack("{s:s}", "commit", commit);
	set_str(out, "uri", bento_json_str(dep, "uri"));
	set_str(out, "context_dir", bento_json_str(ann, "contextDir"));
	if (n >= 0 && json_is_boolean(dirty)) {
		const char *bf = bento_json_str(ann, "bentofile");
		state = n > 0 || bf || json_is_true(dirty) ? "dirty" : "clean";
		set_str(out, "bentofile", bf);
		json_object_set_new(out, "files_not_in_commit", json_integer((json_int_t)n));
		json_object_set_new(out, "status_counts", counts = json_object());
		for (int k = 0; k < BENTO_GIT_N_STATUS; k++) {
			const char *name = bento_git_status_name((enum bento_git_status)k);
			long long c = json_count(jpath(ann, "statusCounts", name, NULL));
			if (c > 0)
				json_object_set_new(counts, name, json_integer((json_int_t)c));
		}
		json_object_set_new(out, "not_in_commit", files = json_array());
		json_array_foreach(list, i, e) {
			const char *path = bento_json_str(e, "path"), *st = bento_json_str(e, "status");
			if (i >= BENTO_PROVENANCE_FILES_MAX)
				break;
			if (path && st)
				json_array_append_new(files, json_pack("{s:s, s:s}", "path", path,
								       "status", st));
		}
	} else {
		/* Before the files were compared only tracked changes were looked for. */
		state = json_is_true(dirty) || json_is_true(json_object_get(ext, "dirty")) ? "dirty"
											  : "unknown";
	}
	json_object_set_new(out, "state", json_string(state));
	return out;
}

json_t *bento_provenance_source(const json_t *statement)
{
	const json_t *bd = jpath(statement, "predicate", "buildDefinition", NULL);
	const json_t *deps = json_object_get(bd, "resolvedDependencies"), *d;
	size_t i;

	json_array_foreach(deps, i, d) {
		json_t *src = source_of(d, jpath(bd, "externalParameters", "source", NULL));
		if (src)
			return src;
	}
	return NULL;
}

json_t *bento_git_source(const struct bento_git_state *g)
{
	json_t *dep, *src;

	if (!g || !g->is_repo || !g->commit)
		return NULL;
	dep = git_dependency(g);
	src = source_of(dep, NULL);
	json_decref(dep);
	return src;
}

/*
 * s for a terminal: C0, DEL and C1 controls become '?'; cut after about max
 * bytes (at a character boundary), with "...".
 */
static void add_shown(struct bento_buf *b, const char *s, size_t max)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = 0;

	for (; *p && (n < max || (*p & 0xc0) == 0x80); p++, n++) {
		if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
			bento_buf_addch(b, '?');
			p++;
		} else {
			bento_buf_addch(b, *p < 0x20 || *p == 0x7f ? '?' : *p);
		}
	}
	if (*p)
		bento_buf_adds(b, "...");
}

char *bento_provenance_source_state(const json_t *src, size_t max_files)
{
	struct bento_buf b = BENTO_BUF_INIT;
	const char *state = bento_json_str(src, "state"), *bf = bento_json_str(src, "bentofile");
	const json_t *files = json_object_get(src, "not_in_commit"), *e;
	long long n = json_count(json_object_get(src, "files_not_in_commit"));
	int dirty = state && strcmp(state, "dirty") == 0;
	size_t i, shown = 0;

	if (state && strcmp(state, "clean") == 0) {
		bento_buf_adds(&b, "clean");
	} else if (!dirty) {
		bento_buf_adds(&b, "files not in the commit are not recorded");
	} else if (n < 0) {
		bento_buf_adds(&b, "dirty (which files is not recorded)");
	} else {
		const char *sep = ": ";
		bento_buf_adds(&b, "dirty");
		if (n > 0) {
			bento_buf_addf(&b, ": %lld file%s not in the commit", n, n == 1 ? "" : "s");
			json_array_foreach(files, i, e) {
				if (shown >= max_files)
					break;
				bento_buf_adds(&b, shown ? ", " : ": ");
				add_shown(&b, bento_json_str(e, "path"), 512);
				bento_buf_adds(&b, " (");
				add_shown(&b, bento_json_str(e, "status"), 32);
				bento_buf_addch(&b, ')');
				shown++;
			}
			if (shown && (long long)shown < n)
				bento_buf_addf(&b, " and %lld more", n - (long long)shown);
			sep = "; ";
		}
		if (bf) {
			bento_buf_addf(&b, "%sthe bentofile is not in the commit (", sep);
			add_shown(&b, bf, 32);
			bento_buf_addch(&b, ')');
		}
	}
	return bento_buf_detach(&b, NULL);
}

char *bento_provenance_source_line(const json_t *src, size_t max_files)
{
	struct bento_buf b = BENTO_BUF_INIT;
	const char *uri = bento_json_str(src, "uri"), *commit = bento_json_str(src, "commit");
	char *state = bento_provenance_source_state(src, max_files);

	add_shown(&b, uri ? uri : "git", 1024);
	bento_buf_adds(&b, " commit ");
	add_shown(&b, commit ? commit : "?", 128);
	bento_buf_addf(&b, ", %s", state);
	free(state);
	return bento_buf_detach(&b, NULL);
}

/* key: value, the value shown safely; nothing when it is not a string. */
static void text_field(struct bento_buf *b, const char *key, const char *v)
{
	if (!v)
		return;
	bento_buf_addf(b, "%-10s ", key);
	add_shown(b, v, 1024);
	bento_buf_addch(b, '\n');
}

char *bento_provenance_text(const json_t *stmt)
{
	struct bento_buf b = BENTO_BUF_INIT;
	const json_t *s0 = json_array_get(json_object_get(stmt, "subject"), 0);
	const json_t *rd = jpath(stmt, "predicate", "runDetails", NULL), *bp, *e;
	const json_t *git = NULL, *inv = NULL;
	json_t *src = bento_provenance_source(stmt);
	const char *name = bento_json_str(s0, "name");
	const char *hex = bento_json_str(json_object_get(s0, "digest"), "sha256");
	size_t i;

	if (name || hex) {
		char *subj = bento_xasprintf("%s sha256:%s", name ? name : "?", hex ? hex : "?");
		text_field(&b, "subject:", subj);
		free(subj);
	}
	const char *bid = bento_json_str(json_object_get(rd, "builder"), "id");
	const char *bver = bento_json_str(jpath(rd, "builder", "version", NULL), "bento");
	if (bid) {
		char *bl = bento_xasprintf("%s%s%s", bid, bver ? ", bento " : "", bver ? bver : "");
		text_field(&b, "builder:", bl);
		free(bl);
	}
	bp = json_object_get(rd, "byproducts");
	json_array_foreach(bp, i, e) {
		const char *n = bento_json_str(e, "name");
		if (n && strcmp(n, "git-worktree") == 0 && !git)
			git = e;
		else if (n && strcmp(n, "invocation") == 0 && !inv)
			inv = e;
	}
	if (src) {
		char *line = bento_provenance_source_line(src, 0);
		const json_t *files = json_object_get(src, "not_in_commit");
		long long n = json_count(json_object_get(src, "files_not_in_commit"));
		size_t shown = 0;
		text_field(&b, "source:", line);
		free(line);
		json_array_foreach(files, i, e) {
			bento_buf_addf(&b, "%-10s ", "");
			add_shown(&b, bento_json_str(e, "path"), 512);
			bento_buf_adds(&b, " (");
			add_shown(&b, bento_json_str(e, "status"), 32);
			bento_buf_adds(&b, ")\n");
			shown++;
		}
		if (shown && (long long)shown < n)
			bento_buf_addf(&b, "%-10s and %lld more (a statement names at most %d)\n", "",
				       n - (long long)shown, BENTO_PROVENANCE_FILES_MAX);
		json_decref(src);
	} else if (json_is_true(jpath(git, "annotations", "repository", NULL))) {
		text_field(&b, "source:", "a git work tree without a commit");
	} else if (git) {
		text_field(&b, "source:", "not a git work tree");
	}
	const json_t *ia = json_object_get(inv, "annotations");
	const char *ci = bento_json_str(ia, "ci");
	if (ci) {
		const char *id = bento_json_str(ia, "ciRunId"), *actor = bento_json_str(ia, "ciActor");
		const char *url = bento_json_str(inv, "uri");
		char *cl = bento_xasprintf("%s%s%s%s%s%s%s", ci, id ? " run " : "", id ? id : "",
					   actor ? " by " : "", actor ? actor : "", url ? ", " : "",
					   url ? url : "");
		text_field(&b, "ci:", cl);
		free(cl);
	}
	return bento_buf_detach(&b, NULL);
}

/* ---- DSSE ---- */

void bento_dsse_pae(const char *type, const void *body, size_t len, struct bento_buf *out)
{
	bento_buf_addf(out, "DSSEv1 %zu %s %zu ", strlen(type), type, len);
	bento_buf_add(out, body, len);
}

/* Canonical {"payload", "payloadType", "signatures"} (sigs stolen) appended to out. */
static int envelope_write(const char *type, const char *payload_b64, json_t *sigs,
			  struct bento_buf *out, struct bento_error *err)
{
	json_t *t = json_string(type);
	json_t *env;
	int rc;

	if (!t) {
		json_decref(sigs);
		return bento_error_set(err, BENTO_E_INVALID, "DSSE: payload type is not UTF-8");
	}
	env = json_pack("{s:s, s:o, s:o}", "payload", payload_b64, "payloadType", t,
			"signatures", sigs);
	rc = bento_json_canonical(env, out, err);
	json_decref(env);
	return rc;
}

int bento_dsse_envelope(const char *type, const void *payload, size_t len,
			struct bento_buf *out, struct bento_error *err)
{
	struct bento_buf b64 = BENTO_BUF_INIT;
	int rc;

	if (len > DSSE_PAYLOAD_MAX)
		return bento_error_set(err, BENTO_E_INVALID, "DSSE: payload of %zu bytes is too large",
				       len);
	bento_base64_encode(payload, len, &b64);
	rc = envelope_write(type, b64.buf, json_array(), out, err);
	bento_buf_release(&b64);
	return rc;
}

void bento_dsse_release(struct bento_dsse *e)
{
	json_decref(e->root);
	bento_buf_release(&e->payload);
	memset(e, 0, sizeof(*e));
	bento_buf_init(&e->payload);
}

int bento_dsse_read(const char *data, size_t len, struct bento_dsse *e, struct bento_error *err)
{
	struct bento_error perr = { 0 };
	const char *what = NULL, *k;
	size_t i;
	json_t *s, *v;

	memset(e, 0, sizeof(*e));
	bento_buf_init(&e->payload);
	if (len > DSSE_MAX)
		return bento_error_set(err, BENTO_E_VERIFY,
				       "provenance: envelope of %zu bytes is over the %u MiB cap", len,
				       DSSE_MAX >> 20);
	/* Duplicate members are refused by the parser itself. */
	if (bento_json_parse(data, len, "provenance envelope", &e->root, &perr))
		return bento_error_set(err, BENTO_E_VERIFY, "provenance: malformed envelope: %s",
				       perr.msg);
	e->type = bento_json_str(e->root, "payloadType");
	e->payload_b64 = bento_json_str(e->root, "payload");
	e->sigs = json_object_get(e->root, "signatures");
	if (!json_is_object(e->root))
		what = "not an object of payload, payloadType and signatures";
	json_object_foreach(e->root, k, v) {
		if (!what && strcmp(k, "payload") != 0 && strcmp(k, "payloadType") != 0 &&
		    strcmp(k, "signatures") != 0)
			what = "a member other than payload, payloadType and signatures";
	}
	if (what)
		;
	else if (!e->type || !e->payload_b64)
		what = "payload and payloadType must be strings";
	else if (!json_is_array(e->sigs))
		what = "signatures must be an array";
	else if (bento_base64_decode(e->payload_b64, strlen(e->payload_b64), &e->payload))
		what = "payload is not base64";
	json_array_foreach(e->sigs, i, s) {
		json_t *kid = json_object_get(s, "keyid");
		if (what)
			break;
		if (!json_is_object(s) || !json_is_string(json_object_get(s, "sig")) ||
		    (kid && !json_is_string(kid)) || json_object_size(s) != 1u + !!kid)
			what = "a signature is not an object of the strings keyid (optional) and sig";
	}
	if (what) {
		bento_dsse_release(e);
		return bento_error_set(err, BENTO_E_VERIFY, "provenance: malformed envelope: %s", what);
	}
	return 0;
}

int bento_intoto_read(const char *data, size_t len, json_t **out, struct bento_error *err)
{
	struct bento_error perr = { 0 };
	const char *what = NULL, *type, *k;
	json_t *stmt, *subject, *s0, *digest, *name, *pred, *v;

	if (bento_json_parse(data, len, "statement", &stmt, &perr))
		return bento_error_set(err, BENTO_E_VERIFY, "provenance: malformed statement: %s",
				       perr.msg);
	type = bento_json_str(stmt, "_type");
	subject = json_object_get(stmt, "subject");
	s0 = json_array_get(subject, 0);
	digest = json_object_get(s0, "digest");
	name = json_object_get(s0, "name");
	pred = json_object_get(stmt, "predicate");
	if (!json_is_object(stmt))
		what = "not an object";
	else if (!type || strcmp(type, BENTO_INTOTO_STATEMENT) != 0)
		what = "_type is not " BENTO_INTOTO_STATEMENT;
	else if (!json_is_array(subject) || json_array_size(subject) != 1)
		what = "subject is not a list of one element";
	else if (!json_is_object(s0) || !json_is_object(digest) || json_object_size(digest) == 0 ||
		 (name && !json_is_string(name)))
		what = "the subject is not an object of a name (string) and a digest (an object)";
	else if (!json_is_string(json_object_get(stmt, "predicateType")))
		what = "predicateType must be a string";
	else if (pred && !json_is_object(pred))
		what = "predicate must be an object";
	json_object_foreach(digest, k, v) {
		if (!what && !json_is_string(v))
			what = "the subject's digests must be strings";
	}
	if (what) {
		json_decref(stmt);
		return bento_error_set(err, BENTO_E_VERIFY, "provenance: malformed statement: %s", what);
	}
	*out = stmt;
	return 0;
}

/* A key id from an envelope, fit to appear in a message. */
static void keyid_show(const char *id, char out[BENTO_KEYID_HEXLEN + 1])
{
	size_t n = id ? strlen(id) : 0;

	if (n != BENTO_KEYID_HEXLEN || strspn(id, "0123456789abcdefABCDEF") != n) {
		snprintf(out, BENTO_KEYID_HEXLEN + 1, "%s", n ? "(malformed)" : "(none)");
		return;
	}
	for (size_t i = 0; i <= n; i++)
		out[i] = (char)toupper((unsigned char)id[i]);
}

/* Signatures by key id, then by the signature itself: one order for one set. */
static int keyid_cmp(const void *a, const void *b)
{
	const char *x = bento_json_str(*(json_t *const *)a, "keyid");
	const char *y = bento_json_str(*(json_t *const *)b, "keyid");
	int c = strcmp(x ? x : "", y ? y : "");

	return c ? c : strcmp(bento_json_str(*(json_t *const *)a, "sig"),
			      bento_json_str(*(json_t *const *)b, "sig"));
}

int bento_dsse_merge(const char *a, size_t alen, const char *b, size_t blen,
		     struct bento_buf *out, struct bento_error *err)
{
	struct bento_dsse x, y;
	json_t **v = NULL, *sigs, *s;
	size_t i, n = 0;
	int rc;

	if ((rc = bento_dsse_read(a, alen, &x, err)))
		return rc;
	if ((rc = bento_dsse_read(b, blen, &y, err))) {
		bento_dsse_release(&x);
		return rc;
	}
	if (strcmp(x.type, y.type) != 0 || x.payload.len != y.payload.len ||
	    memcmp(x.payload.buf, y.payload.buf, x.payload.len) != 0) {
		rc = bento_error_set(err, BENTO_E_VERIFY,
				     "provenance: two envelopes of different statements");
		goto out;
	}
	v = bento_xcalloc(json_array_size(x.sigs) + json_array_size(y.sigs) + 1, sizeof(*v));
	json_array_foreach(x.sigs, i, s)
		v[n++] = s;
	json_array_foreach(y.sigs, i, s) {
		size_t k;
		for (k = 0; k < n && !json_equal(v[k], s); k++)
			;
		if (k == n)
			v[n++] = s;
	}
	qsort(v, n, sizeof(*v), keyid_cmp);
	sigs = json_array();
	for (i = 0; i < n; i++)
		json_array_append(sigs, v[i]);
	rc = envelope_write(x.type, x.payload_b64, sigs, out, err);
out:
	free(v);
	bento_dsse_release(&x);
	bento_dsse_release(&y);
	return rc;
}

int bento_dsse_add_signature(const char *env, size_t len, const struct bento_seckey *k,
			     struct bento_buf *out, struct bento_error *err)
{
	struct bento_buf pae = BENTO_BUF_INIT, b64 = BENTO_BUF_INIT;
	char keyid[BENTO_KEYID_HEXLEN + 1];
	unsigned char sig[DSSE_SIGLEN];
	struct bento_dsse e;
	json_t **v, *sigs, *s, *mine;
	size_t i, n = 0;
	int rc;

	if ((rc = bento_dsse_read(env, len, &e, err)))
		return rc;
	bento_keyid_hex(k->keyid, keyid);
	bento_dsse_pae(e.type, e.payload.buf, e.payload.len, &pae);
	bento_ed25519_sign(k, pae.buf, pae.len, sig);
	bento_base64_encode(sig, sizeof(sig), &b64);

	/* Signatures sorted by key id so the same set of keys gives the same bytes. */
	v = bento_xcalloc(json_array_size(e.sigs) + 1, sizeof(*v));
	json_array_foreach(e.sigs, i, s) {
		const char *id = bento_json_str(s, "keyid");
		if (!id || strcasecmp(id, keyid) != 0)
			v[n++] = s;
	}
	mine = json_pack("{s:s, s:s}", "keyid", keyid, "sig", b64.buf);
	v[n++] = mine;
	qsort(v, n, sizeof(*v), keyid_cmp);
	sigs = json_array();
	for (i = 0; i < n; i++)
		json_array_append(sigs, v[i]);
	json_decref(mine);
	rc = envelope_write(e.type, e.payload_b64, sigs, out, err);
	free(v);
	bento_dsse_release(&e);
	bento_buf_release(&pae);
	bento_buf_release(&b64);
	return rc;
}

int bento_dsse_sign(const char *type, const void *payload, size_t len,
		    const struct bento_seckey *k, struct bento_buf *out,
		    struct bento_error *err)
{
	struct bento_buf env = BENTO_BUF_INIT;
	int rc;

	if ((rc = bento_dsse_envelope(type, payload, len, &env, err)) == 0)
		rc = bento_dsse_add_signature(env.buf, env.len, k, out, err);
	bento_buf_release(&env);
	return rc;
}

int bento_dsse_verify(const char *env, size_t len, const struct bento_pubkey *keys, size_t n,
		      struct bento_buf *payload, size_t *key_index, struct bento_error *err)
{
	struct bento_buf pae = BENTO_BUF_INIT, raw = BENTO_BUF_INIT;
	char untrusted[BENTO_KEYID_HEXLEN + 1] = "", bad[BENTO_KEYID_HEXLEN + 1] = "";
	struct bento_dsse e;
	size_t i, found = n;
	json_t *s;
	int rc;

	if ((rc = bento_dsse_read(env, len, &e, err)))
		return rc;
	if (strcmp(e.type, BENTO_DSSE_PAYLOAD_TYPE) != 0) {
		rc = bento_error_set(err, BENTO_E_VERIFY,
				     "provenance: payloadType is '%.100s', expected '%s'", e.type,
				     BENTO_DSSE_PAYLOAD_TYPE);
		goto out;
	}
	if (json_array_size(e.sigs) == 0) {
		rc = bento_error_set(err, BENTO_E_VERIFY, "provenance: not signed");
		goto out;
	}
	bento_dsse_pae(e.type, e.payload.buf, e.payload.len, &pae);
	json_array_foreach(e.sigs, i, s) {
		const char *id = bento_json_str(s, "keyid"), *sig = bento_json_str(s, "sig");
		int matched = 0;

		bento_buf_reset(&raw);
		int sig_ok = bento_base64_decode(sig, strlen(sig), &raw) == 0 &&
			     raw.len == DSSE_SIGLEN;
		/* keyid is optional in DSSE: without one, every key is tried. */
		for (size_t k = 0; k < n && found == n; k++) {
			char hex[BENTO_KEYID_HEXLEN + 1];
			bento_keyid_hex(keys[k].keyid, hex);
			if (id && *id && strcasecmp(id, hex) != 0)
				continue;
			matched = 1;
			if (sig_ok && bento_ed25519_verify(&keys[k], pae.buf, pae.len,
							   (const unsigned char *)raw.buf) == 0)
				found = k;
			else if (!bad[0])
				snprintf(bad, sizeof(bad), "%s", hex);
		}
		if (found < n)
			break;
		if (!matched && !untrusted[0])
			keyid_show(id, untrusted);
	}
	if (found < n) {
		bento_buf_add(payload, e.payload.buf, e.payload.len);
		*key_index = found;
	} else if (bad[0]) {
		rc = bento_error_set(err, BENTO_E_VERIFY,
				     "provenance: signature by key %s does not match (payload or signature altered)",
				     bad);
	} else {
		rc = bento_error_set(err, BENTO_E_VERIFY,
				     "provenance: signed by key %s, which is not trusted", untrusted);
	}
out:
	bento_dsse_release(&e);
	bento_buf_release(&pae);
	bento_buf_release(&raw);
	return rc;
}
