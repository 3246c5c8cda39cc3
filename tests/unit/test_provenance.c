/* Unit tests: git state, credential stripping, CI identity, the SLSA statement, DSSE. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "buf.h"
#include "cjson.h"
#include "manifest.h"
#include "provenance.h"
#include "sign.h"
#include "tap.h"

#define D1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define D1HEX "1111111111111111111111111111111111111111111111111111111111111111"
#define D2 "sha256:2222222222222222222222222222222222222222222222222222222222222222"
#define COMMIT_TIME 1704164645	/* 2024-01-02T03:04:05Z */

static char root[64];

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	struct bento_buf cmd = BENTO_BUF_INIT;
	va_list ap;
	int rc;

	va_start(ap, fmt);
	bento_buf_vaddf(&cmd, fmt, ap);
	va_end(ap);
	rc = system(cmd.buf);
	bento_buf_release(&cmd);
	return rc;
}

/* First line of a command's output (the caller frees). */
static char *sh_out(const char *cmd)
{
	char line[256] = "";
	FILE *f = popen(cmd, "r");

	if (!f || !fgets(line, sizeof(line), f))
		line[0] = 0;
	if (f)
		pclose(f);
	line[strcspn(line, "\n")] = 0;
	return bento_xstrdup(line);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f || fputs(text, f) < 0 || fclose(f))
		abort();
}

/* Every git command of a fixture runs with a fixed identity and no user or system config. */
#define GIT "cd %s && export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=%s/nogitconfig " \
	    "GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@example.com GIT_COMMITTER_NAME=t " \
	    "GIT_COMMITTER_EMAIL=t@example.com && "

/* ---- git ---- */

static void test_git(void)
{
	struct bento_error err = { 0 };
	struct bento_git_state g = { 0 };
	char repo[128], sub[160], path[200], plain[128], unborn[128], broken[128];
	char *head, *tree;

	snprintf(repo, sizeof(repo), "%s/repo", root);
	snprintf(sub, sizeof(sub), "%s/sub", repo);
	if (mkdir(repo, 0755) || mkdir(sub, 0755))
		abort();
	snprintf(path, sizeof(path), "%s/a.txt", repo);
	write_file(path, "one\n");
	snprintf(path, sizeof(path), "%s/b.txt", sub);
	write_file(path, "two\n");
	if (sh(GIT "git init -q -b main && git add a.txt sub/b.txt && GIT_COMMITTER_DATE=2024-01-02T03:04:05Z "
		   "GIT_AUTHOR_DATE=2024-01-02T03:04:05Z git commit -q -m first && "
		   "git remote add origin https://user:secret@example.com/x.git", repo, root))
		abort();
	snprintf(path, sizeof(path), "git -C %s rev-parse HEAD", repo);
	head = sh_out(path);
	snprintf(path, sizeof(path), "git -C %s rev-parse 'HEAD^{tree}'", repo);
	tree = sh_out(path);

	ok(bento_git_state(sub, &g, &err) == 0, "git state of a subdirectory of a repo");
	is_int(g.is_repo, 1, "is a repo");
	is_str(g.commit, head, "HEAD commit");
	is_str(g.tree, tree, "HEAD tree");
	is_str(g.branch, "main", "branch");
	is_str(g.remote, "https://example.com/x.git", "remote without credentials");
	ok(g.remote && !strstr(g.remote, "secret") && !strstr(g.remote, "user"),
	   "neither password nor user kept");
	is_int(g.dirty, 0, "clean");
	is_int(g.commit_time, COMMIT_TIME, "committer time");
	bento_git_state_release(&g);
	ok(g.commit == NULL && g.is_repo == 0, "release empties the struct");

	snprintf(path, sizeof(path), "%s/untracked.txt", repo);
	write_file(path, "x\n");
	bento_git_state(repo, &g, &err);
	is_int(g.dirty, 0, "an untracked file does not make it dirty");
	bento_git_state_release(&g);

	snprintf(path, sizeof(path), "%s/a.txt", repo);
	write_file(path, "changed\n");
	bento_git_state(repo, &g, &err);
	is_int(g.dirty, 1, "a modified tracked file makes it dirty");
	bento_git_state_release(&g);
	write_file(path, "one\n");
	bento_git_state(repo, &g, &err);
	is_int(g.dirty, 0, "clean again once restored");
	bento_git_state_release(&g);

	sh(GIT "git add untracked.txt", repo, root);
	bento_git_state(repo, &g, &err);
	is_int(g.dirty, 1, "a staged new file makes it dirty");
	bento_git_state_release(&g);
	sh(GIT "git rm -q --cached untracked.txt", repo, root);

	snprintf(path, sizeof(path), "%s/b.txt", sub);
	unlink(path);
	bento_git_state(repo, &g, &err);
	is_int(g.dirty, 1, "a deleted tracked file makes it dirty");
	bento_git_state_release(&g);
	write_file(path, "two\n");

	sh(GIT "git update-ref --no-deref HEAD HEAD", repo, root);
	ok(bento_git_state(repo, &g, &err) == 0, "detached HEAD");
	ok(g.branch == NULL, "no branch when detached");
	is_str(g.commit, head, "commit still known");
	is_int(g.dirty, 0, "and clean");
	bento_git_state_release(&g);

	sh(GIT "git remote add zzz https://zzz.example/x.git && git remote add aaa https://aaa.example/x.git",
	   repo, root);
	bento_git_state(repo, &g, &err);
	is_str(g.remote, "https://example.com/x.git", "origin preferred over other remotes");
	bento_git_state_release(&g);
	sh(GIT "git remote remove origin && git remote remove aaa && "
	       "git remote add upstream ssh://git:pw@host.example/x.git", repo, root);
	bento_git_state(repo, &g, &err);
	is_str(g.remote, "ssh://git@host.example/x.git",
	       "no origin: the remote whose name sorts first; ssh password dropped");
	bento_git_state_release(&g);
	sh(GIT "git remote remove upstream && git remote remove zzz", repo, root);
	bento_git_state(repo, &g, &err);
	ok(g.is_repo && g.remote == NULL, "no remote: NULL");
	bento_git_state_release(&g);

	snprintf(plain, sizeof(plain), "%s/plain", root);
	mkdir(plain, 0755);
	g.dirty = 7;
	ok(bento_git_state(plain, &g, &err) == 0, "not a repo is not an error");
	ok(!g.is_repo && !g.commit && !g.tree && !g.branch && !g.remote && !g.dirty,
	   "not a repo: everything empty");
	bento_git_state_release(&g);

	snprintf(unborn, sizeof(unborn), "%s/unborn", root);
	mkdir(unborn, 0755);
	sh(GIT "git init -q -b main", unborn, root);
	ok(bento_git_state(unborn, &g, &err) == 0, "unborn repo");
	ok(g.is_repo && g.commit == NULL && g.tree == NULL, "unborn: a repo without commit");
	is_str(g.branch, "main", "unborn: branch named");
	bento_git_state_release(&g);

	/* A repository whose config cannot be parsed, one whose HEAD names a missing commit. */
	snprintf(broken, sizeof(broken), "%s/broken", root);
	mkdir(broken, 0755);
	sh(GIT "git init -q -b main && echo '[[[' >> .git/config", broken, root);
	struct bento_git_state untouched = { .dirty = 42 };
	int rc = bento_git_state(broken, &untouched, &err);
	ok(rc == -BENTO_E_FAIL && strstr(err.msg, "git:") && strstr(err.msg, broken),
	   "an unreadable repo is an error naming the dir (%s)", err.msg);
	is_int(untouched.dirty, 42, "output untouched on error");
	sh(GIT "echo 0123456789012345678901234567890123456789 > .git/HEAD",
	   unborn, root);
	rc = bento_git_state(unborn, &untouched, &err);
	ok(rc == -BENTO_E_FAIL && strstr(err.msg, "HEAD"), "HEAD naming a missing commit (%s)", err.msg);
	is_int(untouched.dirty, 42, "output untouched on error");

	free(head);
	free(tree);
}

/* ---- URLs ---- */

static void test_urls(void)
{
	static const char *const t[][2] = {
		{ "https://user:tok@host/x", "https://host/x" },
		{ "https://ghp_TOKEN@github.com/o/r.git", "https://github.com/o/r.git" },
		{ "HTTP://u:p@h:8080/x?y=1", "HTTP://h:8080/x?y=1" },
		{ "https://u:p@ss@host/x", "https://host/x" },
		{ "https://host/x@y", "https://host/x@y" },
		{ "https://host/x", "https://host/x" },
		{ "https://host?a=b@c", "https://host?a=b@c" },
		{ "ssh://git@host/x.git", "ssh://git@host/x.git" },
		{ "ssh://git:pw@host:22/x.git", "ssh://git@host:22/x.git" },
		{ "git+https://u:p@host/x", "git+https://host/x" },
		{ "git@github.com:org/repo.git", "git@github.com:org/repo.git" },
		{ "/srv/git/x.git", "/srv/git/x.git" },
		{ "file:///srv/x.git", "file:///srv/x.git" },
		{ "", "" },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char *s = bento_url_strip_credentials(t[i][0]);
		is_str(s, t[i][1], "strip '%s'", t[i][0]);
		free(s);
	}
}

/* ---- CI ---- */

static void clear_ci(void)
{
	static const char *const vars[] = {
		"GITHUB_ACTIONS", "GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID",
		"GITHUB_ACTOR", "GITHUB_TOKEN", "GITLAB_CI", "CI_JOB_URL", "CI_JOB_ID",
		"GITLAB_USER_LOGIN", "CI_JOB_TOKEN", "JENKINS_URL", "BUILD_URL", "BUILD_ID",
		"BUILDKITE", "BUILDKITE_BUILD_URL", "BUILDKITE_BUILD_ID", "BUILDKITE_BUILD_CREATOR",
		"CIRCLECI", "CIRCLE_BUILD_URL", "CIRCLE_WORKFLOW_ID", "CIRCLE_USERNAME", "CI", NULL,
	};

	for (int i = 0; vars[i]; i++)
		unsetenv(vars[i]);
}

static void test_ci(void)
{
	struct bento_ci c = { 0 };

	clear_ci();
	ok(bento_ci_detect(&c) == 0, "no CI variables: not in CI");

	setenv("GITHUB_ACTIONS", "true", 1);
	setenv("GITHUB_SERVER_URL", "https://github.com", 1);
	setenv("GITHUB_REPOSITORY", "org/repo", 1);
	setenv("GITHUB_RUN_ID", "12345", 1);
	setenv("GITHUB_ACTOR", "octocat", 1);
	setenv("GITHUB_TOKEN", "ghs_SECRET", 1);
	setenv("CI", "true", 1);
	ok(bento_ci_detect(&c) == 1, "GitHub Actions detected");
	is_str(c.system, "github-actions", "system");
	is_str(c.run_url, "https://github.com/org/repo/actions/runs/12345", "run url");
	is_str(c.run_id, "12345", "run id");
	is_str(c.actor, "octocat", "actor");
	bento_ci_release(&c);

	unsetenv("GITHUB_RUN_ID");
	bento_ci_detect(&c);
	ok(c.run_url == NULL && c.run_id == NULL, "no run id: no url");
	bento_ci_release(&c);
	clear_ci();

	setenv("GITLAB_CI", "true", 1);
	setenv("CI_JOB_URL", "https://gitlab-ci-token:glpat@gitlab.example.com/g/p/-/jobs/9", 1);
	setenv("CI_JOB_ID", "9", 1);
	setenv("GITLAB_USER_LOGIN", "alice", 1);
	setenv("CI_JOB_TOKEN", "SECRET", 1);
	ok(bento_ci_detect(&c) == 1, "GitLab CI detected");
	is_str(c.system, "gitlab-ci", "system");
	is_str(c.run_url, "https://gitlab.example.com/g/p/-/jobs/9", "job url, credentials stripped");
	is_str(c.run_id, "9", "job id");
	is_str(c.actor, "alice", "user login");
	bento_ci_release(&c);

	setenv("GITLAB_USER_LOGIN", "bad\x1b[2Jname", 1);
	bento_ci_detect(&c);
	ok(c.actor == NULL, "a value with control characters is dropped");
	bento_ci_release(&c);
	clear_ci();

	setenv("CI", "true", 1);
	ok(bento_ci_detect(&c) == 1, "plain CI=true detected");
	is_str(c.system, "ci", "generic system");
	ok(!c.run_url && !c.run_id && !c.actor, "nothing else known");
	bento_ci_release(&c);
	setenv("CI", "false", 1);
	ok(bento_ci_detect(&c) == 0, "CI=false is not CI");
	clear_ci();
}

/* ---- statement ---- */

static char *canon(json_t *v, size_t *len)
{
	struct bento_buf b = BENTO_BUF_INIT;

	if (bento_json_canonical(v, &b, NULL))
		abort();
	json_decref(v);
	return bento_buf_detach(&b, len);
}

static json_t *model_obj(void)
{
	return json_pack("{s:s, s:i, s:s, s:s, s:{}, s:[{s:s, s:i, s:s, s:i}], s:i}",
			 "mediaType", BENTO_MEDIATYPE_MODEL, "schemaVersion", 1, "name", "iris",
			 "version", "v1", "labels", "files",
			 "digest", D1, "mode", 0644, "path", "w.bin", "size", 100, "size", 100);
}

/* A bento "svc:1.0" with model iris:v1 and lockfile env/requirements.txt; name varies the digest. */
static struct bento_manifest *make_manifest(const char *name)
{
	struct bento_manifest *m = NULL;
	struct bento_model *mm = NULL;
	struct bento_error err = { 0 };
	char dstr[BENTO_DIGEST_STRLEN];
	size_t len;
	char *s = canon(model_obj(), &len);

	if (bento_model_parse(s, len, "model.json", &mm, &err))
		abort();
	bento_digest_str(&mm->digest, dstr);
	bento_model_free(mm);
	free(s);
	json_t *v = json_pack("{s:s, s:i, s:s, s:s, s:{s:s}, s:{s:[s]}, s:[{s:s, s:i, s:s, s:i}, {s:s, s:i, s:s, s:i}],"
			      " s:[{s:s, s:s, s:s, s:s}], s:[{s:s, s:s, s:s, s:o}], s:i}",
			      "mediaType", BENTO_MEDIATYPE_MANIFEST, "schemaVersion", 1, "name", name,
			      "version", "1.0", "labels", "team", "ml", "service", "entrypoint", "./run",
			      "files",
			      "digest", D1, "mode", 0644, "path", "env/requirements.txt", "size", 7,
			      "digest", D2, "mode", 0755, "path", "src/run", "size", 3,
			      "lockfiles", "digest", D1, "kind", "pip", "path", "env/requirements.txt",
			      "source", "requirements.txt",
			      "models", "digest", dstr, "name", "iris", "version", "v1", "manifest",
			      model_obj(), "size", 110);
	s = canon(v, &len);
	if (bento_manifest_parse(s, len, "bento.json", &m, &err)) {
		printf("# %s\n", err.msg);
		abort();
	}
	free(s);
	return m;
}

static const json_t *jget(const json_t *v, const char *path)
{
	char buf[256], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *k = strtok_r(buf, ".", &save); k && v; k = strtok_r(NULL, ".", &save)) {
		if (*k >= '0' && *k <= '9')
			v = json_array_get(v, (size_t)atoi(k));
		else
			v = json_object_get(v, k);
	}
	return v;
}

static const char *jstr(const json_t *v, const char *path)
{
	return json_string_value(jget(v, path));
}

static void test_statement(void)
{
	struct bento_error err = { 0 };
	struct bento_manifest *m = make_manifest("svc"), *other = make_manifest("other");
	struct bento_git_state g = {
		.is_repo = 1, .commit = "0123456789abcdef0123456789abcdef01234567",
		.tree = "89abcdef0123456789abcdef0123456789abcdef", .branch = "main",
		.remote = "https://example.com/x.git", .commit_time = COMMIT_TIME,
	};
	json_t *params = json_pack("{s:b, s:i, s:s}", "strict", 1, "jobs", 4, "name", "forged");
	struct bento_provenance_input in = {
		.m = m, .bentofile = "bentofile.yaml", .parameters = params, .git = &g,
		.builder_version = "0.1.0",
	};
	char hex[BENTO_DIGEST_HEXLEN + 1], mhex[BENTO_DIGEST_HEXLEN + 1];
	size_t len1, len2;

	clear_ci();
	bento_digest_hex(&m->digest, hex);
	bento_digest_hex(&m->models[0].digest, mhex);
	json_t *st = bento_provenance_statement(&in);
	ok(st != NULL, "statement built");
	is_str(jstr(st, "_type"), BENTO_INTOTO_STATEMENT, "_type");
	is_str(jstr(st, "predicateType"), BENTO_SLSA_PROVENANCE, "predicateType");
	is_int(json_array_size(jget(st, "subject")), 1, "one subject");
	is_str(jstr(st, "subject.0.name"), "svc:1.0", "subject name NAME:VERSION");
	is_str(jstr(st, "subject.0.digest.sha256"), hex, "subject digest is the bento's");
	is_str(jstr(st, "predicate.buildDefinition.buildType"), BENTO_BUILD_TYPE, "buildType");
	is_str(jstr(st, "predicate.buildDefinition.externalParameters.bentofile"), "bentofile.yaml",
	       "bentofile");
	is_str(jstr(st, "predicate.buildDefinition.externalParameters.name"), "svc",
	       "name: the manifest wins over a parameter");
	is_str(jstr(st, "predicate.buildDefinition.externalParameters.version"), "1.0", "version");
	is_str(jstr(st, "predicate.buildDefinition.externalParameters.labels.team"), "ml", "labels");
	is_int(json_integer_value(jget(st, "predicate.buildDefinition.externalParameters.jobs")), 4,
	       "parameters added");
	ok(json_is_false(jget(st, "predicate.buildDefinition.externalParameters.source.dirty")),
	   "source not dirty");
	ok(json_is_object(jget(st, "predicate.buildDefinition.internalParameters")) &&
	   json_object_size(jget(st, "predicate.buildDefinition.internalParameters")) == 0,
	   "internalParameters empty");

	const json_t *deps = jget(st, "predicate.buildDefinition.resolvedDependencies");
	is_int(json_array_size(deps), 3, "git, model, lockfile");
	is_str(jstr(deps, "0.uri"), "git+https://example.com/x.git@refs/heads/main", "git uri");
	is_str(jstr(deps, "0.digest.gitCommit"), g.commit, "git commit digest");
	is_str(jstr(deps, "1.uri"), "bento-model:iris:v1", "model uri");
	is_str(jstr(deps, "1.name"), "iris", "model name");
	is_str(jstr(deps, "1.digest.sha256"), mhex, "model digest");
	is_str(jstr(deps, "2.uri"), "file:requirements.txt", "lockfile uri from its source");
	is_str(jstr(deps, "2.digest.sha256"), D1HEX, "lockfile digest");

	is_str(jstr(st, "predicate.runDetails.builder.id"), BENTO_BUILDER_ID, "builder id");
	is_str(jstr(st, "predicate.runDetails.builder.version.bento"), "0.1.0", "builder version");
	ok(jget(st, "predicate.runDetails.metadata.startedOn") == NULL &&
	   jget(st, "predicate.runDetails.metadata.finishedOn") == NULL,
	   "no wall-clock times (they are in the history)");
	ok(jget(st, "predicate.runDetails.metadata.invocationId") == NULL, "no invocationId outside CI");
	const json_t *bp = jget(st, "predicate.runDetails.byproducts");
	is_str(jstr(bp, "0.name"), "git-worktree", "byproduct: work tree");
	is_str(jstr(bp, "0.digest.gitTree"), g.tree, "with its tree");
	ok(json_is_false(jget(bp, "0.annotations.dirty")), "and dirty false");
	ok(jget(bp, "1.annotations.builder") == NULL, "no local user@host (it is in the history)");
	ok(bento_provenance_check_subject(st, m, &err) == 0, "subject matches its bento");
	ok(bento_provenance_check_subject(st, other, &err) == -BENTO_E_VERIFY &&
	   strstr(err.msg, "provenance subject is sha256:") && strstr(err.msg, hex),
	   "subject of another bento refused (%s)", err.msg);

	char *c1 = canon(st, &len1);
	ok(c1 != NULL, "statement encodes as canonical JSON (integers only)");
	char *c2 = canon(bento_provenance_statement(&in), &len2);
	ok(len1 == len2 && memcmp(c1, c2, len1) == 0, "same input: same bytes");
	free(c2);

	/* Dirty, detached, no remote, in GitHub Actions. */
	g.dirty = 1;
	g.branch = NULL;
	g.remote = NULL;
	setenv("GITHUB_ACTIONS", "true", 1);
	setenv("GITHUB_SERVER_URL", "https://github.com", 1);
	setenv("GITHUB_REPOSITORY", "org/repo", 1);
	setenv("GITHUB_RUN_ID", "77", 1);
	setenv("GITHUB_ACTOR", "octocat", 1);
	st = bento_provenance_statement(&in);
	ok(json_is_true(jget(st, "predicate.buildDefinition.externalParameters.source.dirty")),
	   "dirty recorded in externalParameters");
	ok(json_is_true(jget(st, "predicate.runDetails.byproducts.0.annotations.dirty")),
	   "dirty recorded in byproducts");
	is_str(jstr(st, "predicate.buildDefinition.resolvedDependencies.0.uri"), "git+file:unknown",
	       "no remote, detached: git+file:unknown");
	is_str(jstr(st, "predicate.runDetails.metadata.invocationId"),
	       "https://github.com/org/repo/actions/runs/77", "invocationId is the CI run");
	is_str(jstr(st, "predicate.runDetails.byproducts.1.annotations.ci"), "github-actions", "CI system");
	is_str(jstr(st, "predicate.runDetails.byproducts.1.annotations.ciActor"), "octocat", "CI actor");
	json_decref(st);
	clear_ci();

	/* Not a repository; no parameters, no bentofile. */
	struct bento_git_state none = { 0 };
	in.git = &none;
	in.parameters = NULL;
	in.bentofile = NULL;
	st = bento_provenance_statement(&in);
	deps = jget(st, "predicate.buildDefinition.resolvedDependencies");
	is_int(json_array_size(deps), 2, "not a repo: no git dependency");
	is_str(jstr(deps, "0.uri"), "bento-model:iris:v1", "models first then");
	ok(json_is_false(jget(st, "predicate.runDetails.byproducts.0.annotations.repository")),
	   "not a repo recorded");
	ok(jget(st, "predicate.buildDefinition.externalParameters.source") == NULL &&
	   jget(st, "predicate.buildDefinition.externalParameters.bentofile") == NULL,
	   "no source or bentofile");
	json_decref(st);

	json_t *bad = json_pack("{s:[]}", "subject");
	ok(bento_provenance_check_subject(bad, m, &err) == -BENTO_E_VERIFY &&
	   strstr(err.msg, "no subject"), "statement without subject refused");
	json_decref(bad);

	free(c1);
	json_decref(params);
	bento_manifest_free(m);
	bento_manifest_free(other);
}

/* ---- DSSE ---- */

static void make_key(struct bento_seckey *k, struct bento_pubkey *p, unsigned char id)
{
	unsigned char pk[32];

	crypto_sign_keypair(pk, k->sk);
	memset(k->keyid, 0, sizeof(k->keyid));
	k->keyid[0] = id;
	k->keyid[7] = 0xA0;
	bento_seckey_public(k, p);
}

/* Decode env, let f change it, re-encode canonically. */
static void env_edit(const struct bento_buf *env, void (*f)(json_t *), struct bento_buf *out)
{
	json_t *v = NULL;

	if (bento_json_parse(env->buf, env->len, "t", &v, NULL))
		abort();
	f(v);
	bento_buf_reset(out);
	if (bento_json_canonical(v, out, NULL))
		abort();
	json_decref(v);
}

static void flip_payload(json_t *v)
{
	struct bento_buf raw = BENTO_BUF_INIT, b64 = BENTO_BUF_INIT;
	const char *p = bento_json_str(v, "payload");

	bento_base64_decode(p, strlen(p), &raw);
	raw.buf[5] ^= 1;
	bento_base64_encode(raw.buf, raw.len, &b64);
	json_object_set_new(v, "payload", json_string(b64.buf));
	bento_buf_release(&raw);
	bento_buf_release(&b64);
}

static void flip_sig(json_t *v)
{
	json_t *s = json_array_get(json_object_get(v, "signatures"), 0);
	char *sig = bento_xstrdup(bento_json_str(s, "sig"));

	sig[3] = sig[3] == 'A' ? 'B' : 'A';
	json_object_set_new(s, "sig", json_string(sig));
	free(sig);
}

static void drop_keyid(json_t *v)
{
	json_object_del(json_array_get(json_object_get(v, "signatures"), 0), "keyid");
}

static void add_field(json_t *v)
{
	json_object_set_new(v, "extra", json_integer(1));
}

static void sig_number(json_t *v)
{
	json_object_set_new(json_array_get(json_object_get(v, "signatures"), 0), "sig",
			    json_integer(1));
}

static void bad_base64(json_t *v)
{
	json_object_set_new(v, "payload", json_string("!!!notbase64"));
}

static int verify(const struct bento_buf *env, const struct bento_pubkey *keys, size_t n,
		  size_t *idx, struct bento_error *err)
{
	struct bento_buf payload = BENTO_BUF_INIT;
	size_t i = 99;
	int rc = bento_dsse_verify(env->buf, env->len, keys, n, &payload, &i, err);

	if (idx)
		*idx = i;
	bento_buf_release(&payload);
	return rc;
}

static void test_dsse(void)
{
	struct bento_error err = { 0 };
	struct bento_seckey k1, k2, k3;
	struct bento_pubkey keys[3];
	struct bento_buf pae = BENTO_BUF_INIT, env = BENTO_BUF_INIT, env2 = BENTO_BUF_INIT;
	struct bento_buf payload = BENTO_BUF_INIT, tmp = BENTO_BUF_INIT;
	const char *body = "{\"_type\":\"https://in-toto.io/Statement/v1\",\"x\":1}";
	char id1[BENTO_KEYID_HEXLEN + 1];
	size_t idx;
	json_t *v;

	make_key(&k1, &keys[0], 1);
	make_key(&k2, &keys[1], 2);
	make_key(&k3, &keys[2], 3);
	bento_keyid_hex(k1.keyid, id1);

	/* The DSSE specification's own example. */
	bento_dsse_pae("http://example.com/HelloWorld", "hello world", 11, &pae);
	is_str(pae.buf, "DSSEv1 29 http://example.com/HelloWorld 11 hello world", "PAE as the spec");
	bento_buf_reset(&pae);
	bento_dsse_pae("t", "", 0, &pae);
	is_str(pae.buf, "DSSEv1 1 t 0 ", "PAE of an empty body");
	bento_buf_reset(&pae);

	ok(bento_dsse_envelope(BENTO_DSSE_PAYLOAD_TYPE, body, strlen(body), &env, &err) == 0,
	   "unsigned envelope");
	ok(bento_json_is_canonical(env.buf, env.len), "envelope is canonical JSON");
	ok(strstr(env.buf, "\"signatures\":[]") != NULL, "with no signatures");
	ok(verify(&env, keys, 3, NULL, &err) == -BENTO_E_VERIFY && strstr(err.msg, "not signed"),
	   "unsigned: 'not signed' (%s)", err.msg);
	bento_buf_reset(&env);

	ok(bento_dsse_sign(BENTO_DSSE_PAYLOAD_TYPE, body, strlen(body), &k1, &env, &err) == 0,
	   "sign");
	ok(bento_json_is_canonical(env.buf, env.len), "signed envelope is canonical JSON");
	ok(strstr(env.buf, id1) != NULL, "key id recorded");
	ok(bento_dsse_verify(env.buf, env.len, keys, 3, &payload, &idx, &err) == 0,
	   "verify round trip");
	ok(payload.len == strlen(body) && memcmp(payload.buf, body, payload.len) == 0,
	   "payload returned");
	is_int(idx, 0, "key index");
	bento_dsse_sign(BENTO_DSSE_PAYLOAD_TYPE, body, strlen(body), &k1, &env2, &err);
	ok(env.len == env2.len && memcmp(env.buf, env2.buf, env.len) == 0,
	   "same payload and key: identical envelope");

	/* A second signature, then the first key again (replaces, does not add). */
	bento_buf_reset(&env2);
	ok(bento_dsse_add_signature(env.buf, env.len, &k2, &env2, &err) == 0, "add a second signature");
	v = NULL;
	bento_json_parse(env2.buf, env2.len, "t", &v, NULL);
	is_int(json_array_size(json_object_get(v, "signatures")), 2, "two signatures");
	json_decref(v);
	ok(verify(&env2, &keys[1], 1, &idx, &err) == 0 && idx == 0, "verifies with the second key alone");
	bento_buf_reset(&tmp);
	bento_dsse_add_signature(env2.buf, env2.len, &k1, &tmp, &err);
	ok(tmp.len == env2.len && memcmp(tmp.buf, env2.buf, tmp.len) == 0,
	   "re-signing with the same key replaces its signature");

	ok(verify(&env, &keys[1], 2, NULL, &err) == -BENTO_E_VERIFY &&
	   strstr(err.msg, "not trusted") && strstr(err.msg, id1),
	   "unknown key: not trusted, named (%s)", err.msg);

	env_edit(&env, flip_payload, &tmp);
	ok(verify(&tmp, keys, 3, NULL, &err) == -BENTO_E_VERIFY &&
	   strstr(err.msg, "does not match") && strstr(err.msg, id1),
	   "flipped payload byte refused (%s)", err.msg);
	env_edit(&env, flip_sig, &tmp);
	ok(verify(&tmp, keys, 3, NULL, &err) == -BENTO_E_VERIFY && strstr(err.msg, "does not match"),
	   "flipped signature refused");
	env_edit(&env, drop_keyid, &tmp);
	ok(verify(&tmp, keys, 3, &idx, &err) == 0 && idx == 0, "a signature without keyid: every key tried");
	ok(verify(&tmp, &keys[1], 2, NULL, &err) == -BENTO_E_VERIFY, "...and refused by other keys");
	env_edit(&env, add_field, &tmp);
	ok(verify(&tmp, keys, 3, NULL, &err) == -BENTO_E_VERIFY && strstr(err.msg, "malformed"),
	   "unknown envelope field refused");
	env_edit(&env, sig_number, &tmp);
	ok(verify(&tmp, keys, 3, NULL, &err) == -BENTO_E_VERIFY && strstr(err.msg, "malformed"),
	   "non-string sig refused");
	env_edit(&env, bad_base64, &tmp);
	ok(verify(&tmp, keys, 3, NULL, &err) == -BENTO_E_VERIFY && strstr(err.msg, "base64"),
	   "payload not base64 refused");
	bento_buf_reset(&tmp);
	bento_buf_adds(&tmp, "{\"payload\":");
	ok(verify(&tmp, keys, 3, NULL, &err) == -BENTO_E_VERIFY && strstr(err.msg, "malformed"),
	   "truncated JSON refused");
	bento_buf_reset(&tmp);
	bento_buf_adds(&tmp, "[]");
	ok(verify(&tmp, keys, 3, NULL, &err) == -BENTO_E_VERIFY, "an array is no envelope");
	ok(bento_dsse_verify(env.buf, (16u << 20) + 1, keys, 3, &payload, &idx, &err) == -BENTO_E_VERIFY &&
	   strstr(err.msg, "cap"), "oversized envelope refused before parsing");

	bento_buf_reset(&tmp);
	bento_dsse_sign("text/plain", body, strlen(body), &k1, &tmp, &err);
	ok(verify(&tmp, keys, 3, NULL, &err) == -BENTO_E_VERIFY && strstr(err.msg, "payloadType"),
	   "wrong payloadType refused (%s)", err.msg);

	bento_buf_reset(&tmp);
	ok(bento_dsse_add_signature("{}", 2, &k1, &tmp, &err) == -BENTO_E_VERIFY,
	   "adding a signature to a non-envelope fails");

	/* Interop: OpenSSL verifies the raw Ed25519 signature over the PAE. */
	{
		static const unsigned char der[] = { 0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65,
						     0x70, 0x03, 0x21, 0x00 };
		unsigned char spki[44], sig[64];
		struct bento_buf b64 = BENTO_BUF_INIT, pem = BENTO_BUF_INIT;
		char path[200];
		FILE *f;

		memcpy(spki, der, sizeof(der));
		memcpy(spki + sizeof(der), keys[0].pk, 32);
		bento_base64_encode(spki, sizeof(spki), &b64);
		bento_buf_addf(&pem, "-----BEGIN PUBLIC KEY-----\n%s\n-----END PUBLIC KEY-----\n", b64.buf);
		snprintf(path, sizeof(path), "%s/pub.pem", root);
		write_file(path, pem.buf);

		v = NULL;
		bento_json_parse(env.buf, env.len, "t", &v, NULL);
		const char *p = bento_json_str(v, "payload");
		const char *s = bento_json_str(json_array_get(json_object_get(v, "signatures"), 0), "sig");
		bento_buf_reset(&payload);
		bento_buf_reset(&tmp);
		bento_base64_decode(p, strlen(p), &payload);
		bento_base64_decode(s, strlen(s), &tmp);
		ok(tmp.len == 64, "raw signature is 64 bytes");
		memcpy(sig, tmp.buf, 64);
		bento_dsse_pae(BENTO_DSSE_PAYLOAD_TYPE, payload.buf, payload.len, &pae);
		json_decref(v);

		snprintf(path, sizeof(path), "%s/sig.bin", root);
		f = fopen(path, "wb");
		fwrite(sig, 1, 64, f);
		fclose(f);
		snprintf(path, sizeof(path), "%s/pae.bin", root);
		f = fopen(path, "wb");
		fwrite(pae.buf, 1, pae.len, f);
		fclose(f);
		is_int(sh("cd %s && openssl pkeyutl -verify -pubin -inkey pub.pem -rawin -in pae.bin "
			  "-sigfile sig.bin >/dev/null 2>&1", root), 0,
		       "openssl pkeyutl -verify -rawin accepts the signature over the PAE");
		pae.buf[10] ^= 1;
		f = fopen(path, "wb");
		fwrite(pae.buf, 1, pae.len, f);
		fclose(f);
		ok(sh("cd %s && openssl pkeyutl -verify -pubin -inkey pub.pem -rawin -in pae.bin "
		      "-sigfile sig.bin >/dev/null 2>&1", root) != 0,
		   "openssl refuses it for a flipped PAE byte");
		bento_buf_release(&b64);
		bento_buf_release(&pem);
	}

	sodium_memzero(&k1, sizeof(k1));
	sodium_memzero(&k2, sizeof(k2));
	sodium_memzero(&k3, sizeof(k3));
	bento_buf_release(&pae);
	bento_buf_release(&env);
	bento_buf_release(&env2);
	bento_buf_release(&payload);
	bento_buf_release(&tmp);
}

int main(void)
{
	snprintf(root, sizeof(root), "/tmp/bento-prov-XXXXXX");
	if (!mkdtemp(root) || sodium_init() < 0)
		return 1;
	test_git();
	test_urls();
	test_ci();
	test_statement();
	test_dsse();
	sh("rm -rf %s", root);
	return tap_done();
}
