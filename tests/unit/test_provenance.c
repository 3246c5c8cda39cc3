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
#include "store.h"
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
	is_str(g.context_dir, "sub", "the directory's place in the work tree");
	ok(g.workdir && strcmp(g.workdir, repo) == 0, "the work tree, a real path");
	ok(!g.checked && !g.dirty && g.n_changes == 0, "nothing claimed about files not compared");
	is_int(g.commit_time, COMMIT_TIME, "committer time");
	bento_git_state_release(&g);
	ok(g.commit == NULL && g.is_repo == 0, "release empties the struct");
	bento_git_state(repo, &g, &err);
	is_str(g.context_dir, "", "at the root: an empty context_dir");
	bento_git_state_release(&g);

	sh(GIT "git update-ref --no-deref HEAD HEAD", repo, root);
	ok(bento_git_state(repo, &g, &err) == 0, "detached HEAD");
	ok(g.branch == NULL, "no branch when detached");
	is_str(g.commit, head, "commit still known");
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
	ok(!g.is_repo && !g.commit && !g.tree && !g.branch && !g.remote && !g.dirty &&
	   !g.workdir && !g.context_dir, "not a repo: everything empty");
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

/* ---- the bento's files against HEAD ---- */

/* Write rel under dir, making its directories. */
static void put(const char *dir, const char *rel, const char *text)
{
	char *p = bento_xasprintf("%s/%s", dir, rel);

	for (char *s = p + strlen(dir) + 1; (s = strchr(s, '/')); s++) {
		*s = '\0';
		mkdir(p, 0755);
		*s = '/';
	}
	write_file(p, text);
	free(p);
}

/* One file as a build hands it over: bento path src/REL, bytes read from content. */
struct tfile {
	char *path;
	struct bento_digest d;
};

static void tfile_fill(struct bento_git_file *f, struct tfile *t, const char *dir,
		       const char *rel, const char *content)
{
	uint64_t size = 0;

	t->path = bento_xasprintf("src/%s", rel);
	if (bento_digest_path(content, &t->d, &size, NULL))
		abort();
	*f = (struct bento_git_file){ .path = t->path, .root = dir, .rel = rel,
				      .content = content, .digest = &t->d, .size = size };
}

/*
 * Collect dir as a build does (minus the excludes) and compare what it
 * collected with HEAD; g receives the result (release it).
 */
static int check_dir(const char *dir, const char *const *exc, size_t n_exc,
		     struct bento_git_state *g, struct bento_error *err)
{
	struct bento_collect_rules *r = NULL;
	struct bento_collect_opts o = { .context = dir, .exclude = exc, .n_exclude = n_exc,
					.rules = &r };
	struct bento_collect_file *cf = NULL;
	size_t n = 0;
	char *real = realpath(dir, NULL);
	int rc;

	memset(g, 0, sizeof(*g));
	if ((rc = bento_git_state(dir, g, err)) == 0 && (rc = bento_collect(&o, &cf, &n, err)) == 0) {
		struct bento_git_file *f = bento_xcalloc(n + 1, sizeof(*f));
		struct tfile *t = bento_xcalloc(n + 1, sizeof(*t));
		struct bento_git_walk w = { .prefix = "src/", .root = real, .rules = r };
		for (size_t i = 0; i < n; i++)
			tfile_fill(&f[i], &t[i], real, cf[i].rel, cf[i].abs);
		struct bento_git_check in = { .files = f, .n = n, .walks = &w, .n_walks = 1 };
		rc = bento_git_check_files(g, &in, err);
		for (size_t i = 0; i < n; i++)
			free(t[i].path);
		free(t);
		free(f);
	}
	bento_collect_rules_free(r);
	bento_collect_free(cf, n);
	free(real);
	return rc;
}

/* "path:status,..." of what the check found. */
static char *changes_of(const struct bento_git_state *g)
{
	struct bento_buf b = BENTO_BUF_INIT;

	for (size_t i = 0; i < g->n_changes; i++)
		bento_buf_addf(&b, "%s%s:%s", i ? "," : "", g->changes[i].path,
			       bento_git_status_name(g->changes[i].status));
	return bento_buf_detach(&b, NULL);
}

/* check_dir, then the changes it found, or "error: MESSAGE". */
static char *check_str(const char *dir, const char *const *exc, size_t n_exc)
{
	struct bento_error err = { 0 };
	struct bento_git_state g;
	char *s;

	if (check_dir(dir, exc, n_exc, &g, &err))
		return bento_xasprintf("error: %s", err.msg);
	s = g.checked ? changes_of(&g) : bento_xstrdup("(not checked)");
	if (g.checked && g.dirty != (g.n_changes > 0))
		s = bento_xstrdup("(dirty disagrees with the changes)");
	bento_git_state_release(&g);
	return s;
}

static void is_changes(const char *dir, const char *const *exc, size_t n_exc, const char *want,
		       const char *name)
{
	char *got = check_str(dir, exc, n_exc);

	is_str(got, want, "%s", name);
	free(got);
}

static void test_git_files(void)
{
	char w[160], svc[200], p[300], plain[160], wt[160], sm[160];
	char hex[BENTO_DIGEST_HEXLEN + 1];
	struct bento_digest d;
	char lfs[300];

	snprintf(w, sizeof(w), "%s/files", root);
	snprintf(svc, sizeof(svc), "%s/svc", w);
	mkdir(w, 0755);
	put(w, "app.py", "print(1)\n");
	put(w, "lib/util.py", "x = 1\n");
	put(w, "README.md", "readme\n");
	put(w, ".gitignore", "bin/\n*.log\n");
	put(w, ".gitattributes", "crlf.txt text eol=crlf\nbig.bin filter=lfs diff=lfs merge=lfs -text\n");
	put(w, "crlf.txt", "one\ntwo\n");
	put(w, "svc/handler.py", "def handle(): pass\n");
	/* A Git LFS pointer in the commit, the object itself in the work tree. */
	bento_digest_bytes("weights\n", 8, &d);
	bento_digest_hex(&d, hex);
	snprintf(lfs, sizeof(lfs), "version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize 8\n",
		 hex);
	put(w, "big.bin", lfs);
	put(w, "other.bin", lfs);
	if (sh(GIT "git init -q -b main && ln -s app.py link.txt && ln -s lib dlink && "
		   "printf x > \"$(printf 'caf\\351.txt')\" && git add -A 2>/dev/null && "
		   "git commit -q -m first && rm crlf.txt && git checkout -- crlf.txt", w, root))
		abort();
	put(w, "big.bin", "weights\n");
	put(w, "other.bin", "not the object\n");

	is_changes(w, NULL, 0, "src/other.bin:modified",
		   "clean but for one file: CRLF filter, LFS pointer, committed file and directory "
		   "links are in the commit");
	snprintf(p, sizeof(p), "cd %s && test \"$(git hash-object --no-filters crlf.txt)\" != "
		 "\"$(git rev-parse HEAD:crlf.txt)\" && git diff --quiet HEAD -- crlf.txt", w);
	ok(sh("%s", p) == 0, "control: crlf.txt's bytes are not its blob, git calls it unmodified");
	put(w, "other.bin", lfs);
	is_changes(w, NULL, 0, "", "a clean tree: nothing not in the commit");

	put(w, "bin/server", "\177ELF\n");
	is_changes(w, NULL, 0, "src/bin/server:ignored", "a built file in a git-ignored bin/");
	put(w, "notes.txt", "scratch\n");
	put(w, "out.log", "log\n");
	is_changes(w, NULL, 0, "src/bin/server:ignored,src/notes.txt:untracked,src/out.log:ignored",
		   "untracked and ignored files");
	{
		const char *exc[] = { "bin", "notes.txt", "*.log" };
		is_changes(w, exc, 3, "", "the same files excluded by the bentofile do not count");
	}
	snprintf(p, sizeof(p), "%s/bin/server", w);
	unlink(p);
	snprintf(p, sizeof(p), "%s/bin", w);
	rmdir(p);
	snprintf(p, sizeof(p), "%s/notes.txt", w);
	unlink(p);
	snprintf(p, sizeof(p), "%s/out.log", w);
	unlink(p);

	put(w, "app.py", "print(2)\n");
	is_changes(w, NULL, 0, "src/app.py:modified,src/link.txt:modified",
		   "a modified file, and the committed link to it");
	{
		const char *exc[] = { "app.py", "link.txt" };
		is_changes(w, exc, 2, "", "a modified file the bentofile excludes does not count");
	}
	is_changes(svc, NULL, 0, "", "context in a subdirectory: a change outside it does not count");
	put(w, "svc/notes.txt", "x\n");
	is_changes(svc, NULL, 0, "src/notes.txt:untracked",
		   "context in a subdirectory: its own untracked file, by its bento path");
	snprintf(p, sizeof(p), "%s/svc/notes.txt", w);
	unlink(p);

	{
		/* The bytes compared are the bento's (content), not what the work tree has now. */
		struct bento_error err = { 0 };
		struct bento_git_state g = { 0 };
		struct bento_git_file f;
		struct tfile t;
		char *real = realpath(w, NULL), *orig = bento_xasprintf("%s/orig.py", root);
		write_file(orig, "print(1)\n");
		tfile_fill(&f, &t, real, "app.py", orig);
		ok(bento_git_state(w, &g, &err) == 0 &&
		   bento_git_check_files(&g, &(struct bento_git_check){ .files = &f, .n = 1 }, &err) == 0 && g.checked && !g.dirty,
		   "the bento's bytes are what is compared, not the work tree's");
		bento_git_state_release(&g);
		free(t.path);
		free(orig);
		free(real);
	}
	put(w, "app.py", "print(1)\n");

	{
		/* A bentofile that is not a file of the bento is compared on its own. */
		struct bento_error err = { 0 };
		struct bento_git_state g = { 0 };
		struct bento_git_file f;
		struct tfile t;
		char *real = realpath(w, NULL), *abs = bento_xasprintf("%s/README.md", w);
		tfile_fill(&f, &t, real, "README.md", abs);
		struct bento_git_check in = { .bentofile = &f };
		ok(bento_git_state(w, &g, &err) == 0 && bento_git_check_files(&g, &in, &err) == 0 &&
		   g.checked && !g.dirty && !g.bentofile_changed, "a committed bentofile: clean");
		bento_git_state_release(&g);
		put(w, "README.md", "changed\n");
		ok(bento_git_state(w, &g, &err) == 0 && bento_git_check_files(&g, &in, &err) == 0 &&
		   g.dirty && g.bentofile_changed && g.bentofile_status == BENTO_GIT_MODIFIED &&
		   g.n_changes == 0, "a modified bentofile: dirty, though no file is");
		json_t *src = bento_git_source(&g);
		char *line = bento_provenance_source_state(src, 5);
		is_str(line, "dirty: the bentofile is not in the commit (modified)", "and said so");
		free(line);
		json_decref(src);
		bento_git_state_release(&g);
		put(w, "README.md", "readme\n");
		free(t.path);
		free(abs);
		free(real);
	}

	sh(GIT "rm dlink && ln -s lib/util.py link2 && rm link.txt && ln -s lib/util.py link.txt", w,
	   root);
	is_changes(w, NULL, 0,
		   "src/dlink/util.py:deleted,src/link.txt:modified,src/link2:untracked",
		   "a link pointed elsewhere is modified; an untracked link; the files of a removed "
		   "directory link are deleted");
	sh(GIT "rm link2 link.txt && git checkout -- link.txt dlink", w, root);

	sh(GIT "git rm -q lib/util.py", w, root);
	{
		/* The work tree's dlink now dangles: a build would refuse it, so leave it out. */
		const char *exc[] = { "dlink" }, *exc2[] = { "lib", "dlink" };
		is_changes(w, exc, 1, "src/lib/util.py:deleted",
			   "a committed file the bento lacks is deleted");
		is_changes(w, exc2, 2, "", "a deleted file the bentofile excludes does not count");
	}
	sh(GIT "git reset -q && git checkout -- lib", w, root);

	put(w, "added.txt", "new\n");
	sh(GIT "git add added.txt", w, root);
	is_changes(w, NULL, 0, "src/added.txt:added", "a staged new file is added");
	sh(GIT "git rm -q --cached added.txt && rm added.txt", w, root);

	sh(GIT "ln -s lib lnk", w, root);
	is_changes(w, NULL, 0, "src/lnk/util.py:untracked",
		   "a file reached through an untracked directory link");
	snprintf(p, sizeof(p), "%s/lnk", w);
	unlink(p);
	is_changes(w, NULL, 0, "", "clean again");

	/* A deleted file whose name is not UTF-8. */
	sh(GIT "rm \"$(printf 'caf\\351.txt')\"", w, root);
	{
		struct bento_error err = { 0 };
		struct bento_git_state g;
		ok(check_dir(w, NULL, 0, &g, &err) == 0 && g.n_changes == 1 &&
		   strcmp(g.changes[0].path, "src/caf\351.txt") == 0 &&
		   g.changes[0].status == BENTO_GIT_DELETED, "a deleted file named in Latin-1");
		json_t *src = bento_git_source(&g);
		is_str(jstr(src, "not_in_commit.0.path"), "src/caf\\xe9.txt",
		       "its name is escaped for the statement");
		json_decref(src);
		bento_git_state_release(&g);
	}
	sh(GIT "git checkout -- .", w, root);

	/* A git worktree: its repository is found from the state. */
	snprintf(wt, sizeof(wt), "%s/wt2", root);
	sh(GIT "git worktree add -q %s 2>/dev/null", w, root, wt);
	is_changes(wt, NULL, 0, "", "a linked worktree, clean");
	put(wt, "new.txt", "n\n");
	is_changes(wt, NULL, 0, "src/new.txt:untracked", "a linked worktree's own untracked file");

	/* A submodule's files are not compared. */
	snprintf(sm, sizeof(sm), "%s/subrepo", root);
	mkdir(sm, 0755);
	put(sm, "s.txt", "s\n");
	sh(GIT "git init -q -b main && git add -A && git commit -q -m s", sm, root);
	if (sh(GIT "git -c protocol.file.allow=always submodule -q add %s mod && git commit -q -m sub",
	       w, root, sm) == 0)
		is_changes(w, NULL, 0, "src/mod/s.txt:submodule", "a file in a submodule");
	else
		ok(0, "setting up a submodule");
	sh(GIT "git reset -q --hard HEAD~1 2>/dev/null; rm -rf mod .gitmodules", w, root);

	/* Files outside the work tree, a tree that is not a repository, an unborn HEAD. */
	snprintf(plain, sizeof(plain), "%s/plain2", root);
	mkdir(plain, 0755);
	put(plain, "m.bin", "model\n");
	{
		struct bento_error err = { 0 };
		struct bento_git_state g = { 0 };
		struct bento_git_file f;
		struct tfile t;
		char *real = realpath(plain, NULL), *abs = bento_xasprintf("%s/m.bin", plain);
		tfile_fill(&f, &t, real, "m.bin", abs);
		ok(bento_git_state(w, &g, &err) == 0 &&
		   bento_git_check_files(&g, &(struct bento_git_check){ .files = &f, .n = 1 }, &err) == 0 && g.n_changes == 1 &&
		   g.changes[0].status == BENTO_GIT_OUTSIDE && g.counts[BENTO_GIT_OUTSIDE] == 1,
		   "a file from outside the work tree (a model path) is outside");
		bento_git_state_release(&g);
		ok(bento_git_state(plain, &g, &err) == 0 &&
		   bento_git_check_files(&g, &(struct bento_git_check){ .files = &f, .n = 1 }, &err) == 0 && !g.checked && !g.dirty,
		   "not a repository: nothing checked, nothing claimed");
		bento_git_state_release(&g);
		free(t.path);
		free(abs);
		free(real);
	}
	sh(GIT "git init -q -b main", plain, root);
	is_changes(plain, NULL, 0, "src/m.bin:untracked", "unborn HEAD: every file is not in a commit");

	/* A file the line-ending filter refuses (core.safecrlf): compared raw, no error. */
	if (sh(GIT "printf 'a\\r\\nb\\n' > mixed.txt && echo 'mixed.txt text eol=crlf' >> "
		   ".git/info/attributes && git -c core.safecrlf=false add mixed.txt 2>/dev/null && "
		   "git commit -q -m mixed && git config core.safecrlf true && "
		   "touch mixed.txt && ! git add mixed.txt 2>/dev/null", w, root) == 0)
		is_changes(w, NULL, 0, "src/mixed.txt:modified",
			   "a file git would refuse to commit as it is: not in the commit, no error");
	else
		ok(0, "setting up core.safecrlf");
	sh(GIT "git config --unset core.safecrlf", w, root);

	/* A blob of HEAD missing from the repository: an error naming it, g unchanged. */
	snprintf(p, sizeof(p), "cd %s && rm -f .git/objects/$(git rev-parse HEAD:app.py | "
		 "sed 's,^..,&/,')", w);
	sh("%s", p);
	{
		struct bento_error err = { 0 };
		struct bento_git_state g;
		int rc = check_dir(w, NULL, 0, &g, &err);
		ok(rc == -BENTO_E_FAIL && strstr(err.msg, "git:") && strstr(err.msg, w),
		   "a broken repository is an error naming it (%s)", err.msg);
		ok(!g.checked && g.changes == NULL, "the state is unchanged on error");
		bento_git_state_release(&g);
	}
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

static void test_statement(void)
{
	struct bento_error err = { 0 };
	struct bento_manifest *m = make_manifest("svc"), *other = make_manifest("other");
	struct bento_git_state g = {
		.is_repo = 1, .commit = "0123456789abcdef0123456789abcdef01234567",
		.tree = "89abcdef0123456789abcdef0123456789abcdef", .branch = "main",
		.remote = "https://example.com/x.git", .commit_time = COMMIT_TIME, .checked = 1,
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
	ok(json_is_false(jget(deps, "0.annotations.dirty")) &&
	   json_integer_value(jget(deps, "0.annotations.filesNotInCommit")) == 0 &&
	   json_is_integer(jget(deps, "0.annotations.filesNotInCommit")) &&
	   json_array_size(jget(deps, "0.annotations.notInCommit")) == 0 &&
	   json_object_size(jget(deps, "0.annotations.statusCounts")) == 0 &&
	   json_object_size(jget(deps, "0.annotations")) == 4,
	   "the git commit says, explicitly, that no file is outside it");
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

/* ---- files not in the commit, in the statement and read back ---- */

#define COMMIT "0123456789abcdef0123456789abcdef01234567"
#define SRC_URI "git+https://example.com/x.git@refs/heads/main"

/* A statement as bento writes it for g (a new reference). */
static json_t *statement_for(struct bento_manifest *m, const struct bento_git_state *g)
{
	struct bento_provenance_input in = { .m = m, .bentofile = "bentofile.yaml", .git = g,
					     .builder_version = "0.1.0" };

	return bento_provenance_statement(&in);
}

static char *line_of(const json_t *stmt, size_t max)
{
	json_t *src = bento_provenance_source(stmt);
	char *l = src ? bento_provenance_source_line(src, max) : bento_xstrdup("(none)");

	json_decref(src);
	return l;
}

/* A statement whose git dependency carries these annotations (stolen; NULL for none). */
static json_t *with_annotations(json_t *ann, json_t *ext_source)
{
	json_t *dep = json_pack("{s:s, s:{s:s}}", "uri", SRC_URI, "digest", "gitCommit", COMMIT);
	json_t *ext = json_object();

	if (ann)
		json_object_set_new(dep, "annotations", ann);
	if (ext_source)
		json_object_set_new(ext, "source", ext_source);
	return json_pack("{s:{s:{s:o, s:[o]}}}", "predicate", "buildDefinition",
			 "externalParameters", ext, "resolvedDependencies", dep);
}

static void test_source(void)
{
	struct bento_manifest *m = make_manifest("svc");
	struct bento_git_state g = {
		.is_repo = 1, .commit = COMMIT, .tree = "89abcdef0123456789abcdef0123456789abcdef",
		.branch = "main", .remote = "https://example.com/x.git", .checked = 1,
	};
	json_t *st, *src;
	char *l;

	clear_ci();
	is_str(bento_git_status_name(BENTO_GIT_IGNORED), "ignored", "status names");
	is_str(bento_git_status_name((enum bento_git_status)99), "unknown", "an unknown status");

	st = statement_for(m, &g);
	is_str(l = line_of(st, 5), SRC_URI " commit " COMMIT ", clean", "a clean source, plainly");
	free(l);
	src = bento_provenance_source(st);
	is_str(jstr(src, "state"), "clean", "state clean");
	ok(json_integer_value(jget(src, "files_not_in_commit")) == 0 &&
	   json_array_size(jget(src, "not_in_commit")) == 0, "no file outside the commit");
	json_t *gs = bento_git_source(&g);
	ok(json_equal(src, gs), "the build's summary is what the statement reads back as");
	json_decref(gs);
	json_decref(src);
	json_decref(st);

	/* 150 files not in the commit, below a subdirectory of the work tree. */
	g.context_dir = "svc";
	g.n_changes = 150;
	g.changes = bento_xcalloc(g.n_changes, sizeof(*g.changes));
	for (size_t i = 0; i < g.n_changes; i++) {
		g.changes[i].path = bento_xasprintf("src/f%03zu", i);
		g.changes[i].status = i % 2 ? BENTO_GIT_UNTRACKED : BENTO_GIT_IGNORED;
		g.counts[g.changes[i].status]++;
	}
	g.dirty = 1;
	st = statement_for(m, &g);
	const json_t *ann = jget(st, "predicate.buildDefinition.resolvedDependencies.0.annotations");
	ok(json_is_true(jget(ann, "dirty")), "dirty");
	is_int(json_integer_value(jget(ann, "filesNotInCommit")), 150, "every file counted");
	is_int(json_array_size(jget(ann, "notInCommit")), BENTO_PROVENANCE_FILES_MAX,
	       "the first 100 named");
	is_str(jstr(ann, "notInCommit.0.path"), "src/f000", "first by path");
	is_str(jstr(ann, "notInCommit.0.status"), "ignored", "with its status");
	is_str(jstr(ann, "notInCommit.99.path"), "src/f099", "up to the 100th");
	ok(json_integer_value(jget(ann, "statusCounts.ignored")) == 75 &&
	   json_integer_value(jget(ann, "statusCounts.untracked")) == 75 &&
	   json_object_size(jget(ann, "statusCounts")) == 2, "counts by status");
	is_str(jstr(ann, "contextDir"), "svc", "the context's directory in the commit");
	ok(json_is_true(jget(st, "predicate.buildDefinition.externalParameters.source.dirty")) &&
	   json_is_true(jget(st, "predicate.runDetails.byproducts.0.annotations.dirty")),
	   "dirty in externalParameters and the work tree byproduct too");
	size_t clen;
	char *c = canon(json_incref(st), &clen);
	ok(c && clen < 8192, "canonical, and bounded (%zu bytes)", clen);
	free(c);
	is_str(l = line_of(st, 2), SRC_URI " commit " COMMIT ", dirty: 150 files not in the commit: "
	       "src/f000 (ignored), src/f001 (untracked) and 148 more", "the line names the first ones");
	free(l);
	src = bento_provenance_source(st);
	is_str(l = bento_provenance_source_state(src, 0), "dirty: 150 files not in the commit",
	       "the state without names");
	free(l);
	is_str(jstr(src, "context_dir"), "svc", "context_dir read back");
	is_int(json_array_size(jget(src, "not_in_commit")), 100, "100 read back");
	gs = bento_git_source(&g);
	ok(json_equal(src, gs), "the build's summary is what the statement reads back as (dirty)");
	json_decref(gs);
	json_decref(src);
	l = bento_provenance_text(st);
	ok(strstr(l, "subject:   svc:1.0 sha256:") == l &&
	   strstr(l, "\nbuilder:   https://bento.dev/builder/bento-cli, bento 0.1.0\n") &&
	   strstr(l, "\nsource:    " SRC_URI " commit " COMMIT ", dirty: 150 files not in the commit\n"
		  "           src/f000 (ignored)\n           src/f001 (untracked)\n") &&
	   strstr(l, "\n           src/f099 (untracked)\n           and 50 more (a statement names "
		  "at most 100)\n") && !strstr(l, "f100") && !strstr(l, "ci:"),
	   "the text for people lists every named file");
	free(l);
	json_decref(st);

	/* One file: singular. */
	g.n_changes = 1;
	g.counts[BENTO_GIT_UNTRACKED] = 0;
	g.counts[BENTO_GIT_IGNORED] = 1;
	st = statement_for(m, &g);
	is_str(l = line_of(st, 5), SRC_URI " commit " COMMIT ", dirty: 1 file not in the commit: "
	       "src/f000 (ignored)", "one file");
	free(l);
	json_decref(st);
	g.bentofile_changed = 1;
	g.bentofile_status = BENTO_GIT_UNTRACKED;
	st = statement_for(m, &g);
	is_str(jstr(st, "predicate.buildDefinition.resolvedDependencies.0.annotations.bentofile"),
	       "untracked", "the bentofile's status recorded");
	is_str(l = line_of(st, 5), SRC_URI " commit " COMMIT ", dirty: 1 file not in the commit: "
	       "src/f000 (ignored); the bentofile is not in the commit (untracked)",
	       "a file and the bentofile");
	free(l);
	json_decref(st);
	g.bentofile_changed = 0;
	g.n_changes = 150;

	/* Files never compared: nothing is claimed. */
	g.checked = 0;
	st = statement_for(m, &g);
	ann = jget(st, "predicate.buildDefinition.resolvedDependencies.0.annotations");
	ok(!jget(ann, "dirty") && !jget(ann, "filesNotInCommit") && !jget(ann, "notInCommit") &&
	   !jget(st, "predicate.buildDefinition.externalParameters.source") &&
	   !jget(st, "predicate.runDetails.byproducts.0.annotations.dirty"),
	   "not checked: no dirty flag anywhere");
	is_str(l = line_of(st, 5), SRC_URI " commit " COMMIT
	       ", files not in the commit are not recorded", "not checked: said so");
	free(l);
	json_decref(st);
	for (size_t i = 0; i < g.n_changes; i++)
		free(g.changes[i].path);
	free(g.changes);

	/* Statements written before the files were compared. */
	st = with_annotations(NULL, json_pack("{s:b}", "dirty", 0));
	is_str(l = line_of(st, 5), SRC_URI " commit " COMMIT
	       ", files not in the commit are not recorded", "an older clean statement is not 'clean'");
	free(l);
	src = bento_provenance_source(st);
	ok(src && strcmp(jstr(src, "state"), "unknown") == 0 && !jget(src, "files_not_in_commit"),
	   "state unknown, no count");
	json_decref(src);
	json_decref(st);
	st = with_annotations(NULL, json_pack("{s:b}", "dirty", 1));
	is_str(l = line_of(st, 5), SRC_URI " commit " COMMIT ", dirty (which files is not recorded)",
	       "an older dirty statement");
	free(l);
	json_decref(st);

	/* Hostile or malformed annotations. */
	st = with_annotations(json_pack("{s:b, s:s, s:[]}", "dirty", 0, "filesNotInCommit", "0",
					"notInCommit"), NULL);
	is_str(l = line_of(st, 5), SRC_URI " commit " COMMIT
	       ", files not in the commit are not recorded", "a count that is a string is no count");
	free(l);
	json_decref(st);
	st = with_annotations(json_pack("{s:b, s:i}", "dirty", 0, "filesNotInCommit", -1), NULL);
	is_str(l = line_of(st, 5), SRC_URI " commit " COMMIT
	       ", files not in the commit are not recorded", "a negative count is no count");
	free(l);
	json_decref(st);
	st = with_annotations(json_pack("{s:b, s:i}", "dirty", 0, "filesNotInCommit", 2), NULL);
	is_str(l = line_of(st, 5), SRC_URI " commit " COMMIT ", dirty: 2 files not in the commit",
	       "a count contradicting dirty false: dirty");
	free(l);
	json_decref(st);
	json_t *list = json_array();
	json_array_append_new(list, json_pack("{s:s, s:s}", "path", "src/\033[31mred\302\233x",
					      "status", "ignored\n"));
	json_array_append_new(list, json_pack("{s:i, s:s}", "path", 7, "status", "ignored"));
	for (int i = 0; i < 1000; i++)
		json_array_append_new(list, json_pack("{s:s, s:s}", "path", "src/x", "status", "weird"));
	st = with_annotations(json_pack("{s:b, s:i, s:o, s:s}", "dirty", 1, "filesNotInCommit", 5000,
					"notInCommit", list, "contextDir", "a\033b"), NULL);
	is_str(l = line_of(st, 2), SRC_URI " commit " COMMIT ", dirty: 5000 files not in the commit: "
	       "src/?[31mred?x (ignored?), src/x (weird) and 4998 more",
	       "control characters shown as '?', a malformed entry skipped");
	free(l);
	src = bento_provenance_source(st);
	is_int(json_array_size(jget(src, "not_in_commit")), 99, "at most 100 entries read (one bad)");
	json_decref(src);
	json_decref(st);
	{
		/* A long name is cut at a character, not inside one. */
		struct bento_buf longp = BENTO_BUF_INIT;
		bento_buf_adds(&longp, "src/x");
		for (int i = 0; i < 600; i++)
			bento_buf_adds(&longp, "\303\251");
		st = with_annotations(json_pack("{s:b, s:i, s:[{s:s, s:s}]}", "dirty", 1,
						"filesNotInCommit", 1, "notInCommit", "path", longp.buf,
						"status", "untracked"), NULL);
		l = line_of(st, 1);
		size_t ll = strlen(l);
		ok(ll > 3 && strcmp(l + ll - 15, "... (untracked)") == 0 && bento_utf8_valid(l, ll) &&
		   ll < 700, "a 1.2 KB name is cut to about 512 bytes, still UTF-8");
		free(l);
		json_decref(st);
		bento_buf_release(&longp);
	}
	st = json_pack("{s:{s:{s:[{s:s}]}}}", "predicate", "buildDefinition", "resolvedDependencies",
		       "uri", "git+x");
	ok(bento_provenance_source(st) == NULL, "no gitCommit: no source");
	json_decref(st);
	ok(bento_provenance_source(NULL) == NULL, "no statement: no source");

	/* Outside git, and in a work tree without a commit. */
	struct bento_git_state none = { 0 }, unborn = { .is_repo = 1, .checked = 1, .dirty = 1 };
	st = statement_for(m, &none);
	l = bento_provenance_text(st);
	ok(strstr(l, "\nsource:    not a git work tree\n") != NULL, "text: not a git work tree");
	free(l);
	json_decref(st);
	st = statement_for(m, &unborn);
	l = bento_provenance_text(st);
	ok(strstr(l, "\nsource:    a git work tree without a commit\n") != NULL,
	   "text: a work tree without a commit");
	free(l);
	json_decref(st);
	ok(bento_git_source(&none) == NULL && bento_git_source(&unborn) == NULL,
	   "no commit: no source summary");
	bento_manifest_free(m);
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

	/*
	 * bento_dsse_merge: one statement's envelopes before and after a
	 * signature was added (a registry lists both after a re-push).
	 */
	struct bento_buf unsigned_env = BENTO_BUF_INIT, only2 = BENTO_BUF_INIT, m1 = BENTO_BUF_INIT,
			 m2 = BENTO_BUF_INIT;
	bento_dsse_envelope(BENTO_DSSE_PAYLOAD_TYPE, body, strlen(body), &unsigned_env, &err);
	ok(bento_dsse_merge(unsigned_env.buf, unsigned_env.len, env2.buf, env2.len, &m1, &err) == 0 &&
	   m1.len == env2.len && memcmp(m1.buf, env2.buf, m1.len) == 0,
	   "merge: unsigned and signed give the signed envelope, byte for byte");
	ok(bento_dsse_merge(env2.buf, env2.len, unsigned_env.buf, unsigned_env.len, &m2, &err) == 0 &&
	   m2.len == m1.len && memcmp(m2.buf, m1.buf, m1.len) == 0, "in either order");
	bento_dsse_add_signature(unsigned_env.buf, unsigned_env.len, &k2, &only2, &err);
	bento_buf_reset(&m1);
	ok(bento_dsse_merge(env.buf, env.len, only2.buf, only2.len, &m1, &err) == 0 &&
	   m1.len == env2.len && memcmp(m1.buf, env2.buf, m1.len) == 0,
	   "one signed by k1, one by k2: the envelope signed by both");
	bento_buf_reset(&m1);
	bento_buf_reset(&tmp);
	bento_dsse_sign(BENTO_DSSE_PAYLOAD_TYPE, "{\"other\":1}", 11, &k1, &tmp, &err);
	ok(bento_dsse_merge(env.buf, env.len, tmp.buf, tmp.len, &m1, &err) == -BENTO_E_VERIFY &&
	   strstr(err.msg, "different statements"), "envelopes of different statements: refused");
	ok(bento_dsse_merge(env.buf, env.len, "{}", 2, &m1, &err) == -BENTO_E_VERIFY,
	   "a malformed one: refused");
	bento_buf_release(&unsigned_env);
	bento_buf_release(&only2);
	bento_buf_release(&m1);
	bento_buf_release(&m2);

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
	ok(bento_dsse_verify(env.buf, BENTO_ATTESTATION_MAX + 1, keys, 3, &payload, &idx, &err) == -BENTO_E_VERIFY &&
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
	test_git_files();
	test_urls();
	test_ci();
	test_statement();
	test_source();
	test_dsse();
	sh("rm -rf %s", root);
	return tap_done();
}
