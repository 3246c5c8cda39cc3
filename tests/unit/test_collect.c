/* Unit tests: glob matcher, context walk, lockfile checks. */
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "collect.h"
#include "error.h"
#include "lockfile.h"
#include "tap.h"

static char tmp[256];

static char *path_of(const char *rel)
{
	return bento_xasprintf("%s/%s", tmp, rel);
}

/* Write rel (under tmp) with content, making parent directories. */
static void put(const char *rel, const char *content)
{
	char *p = path_of(rel);
	FILE *f;

	for (char *s = p + strlen(tmp) + 1; (s = strchr(s, '/')); s++) {
		*s = '\0';
		mkdir(p, 0755);
		*s = '/';
	}
	f = fopen(p, "w");
	if (!f) {
		perror(p);
		exit(2);
	}
	fputs(content, f);
	fclose(f);
	free(p);
}

static void mkdirs(const char *rel)
{
	char *p = path_of(rel);

	for (char *s = p + strlen(tmp) + 1;; s++) {
		s = strchr(s, '/');
		if (s)
			*s = '\0';
		mkdir(p, 0755);
		if (!s)
			break;
		*s = '/';
	}
	free(p);
}

static void link_at(const char *target, const char *rel)
{
	char *p = path_of(rel);

	if (symlink(target, p) < 0) {
		perror(p);
		exit(2);
	}
	free(p);
}

/* Remove name under dfd, recursively, through fds: trees here can outgrow PATH_MAX. */
static void rm_at(int dfd, const char *name)
{
	struct dirent *de;
	DIR *d;
	int fd;

	if (unlinkat(dfd, name, 0) == 0 || (errno != EISDIR && errno != EPERM))
		return;
	fchmodat(dfd, name, 0700, 0);
	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			rm_at(dirfd(d), de->d_name);
	closedir(d);
	unlinkat(dfd, name, AT_REMOVEDIR);
}

static void rm_rf(const char *rel)
{
	int fd = open(tmp, O_RDONLY | O_DIRECTORY);

	if (fd >= 0) {
		rm_at(fd, rel);
		close(fd);
	}
}

static const char *hex(int n, char c)
{
	static char bufs[16][200];
	static int k;
	char *b = bufs[k++ % 16];

	memset(b, c, (size_t)n);
	b[n] = '\0';
	return b;
}

/* ---- globs ---- */

static void test_glob(void)
{
	static const struct {
		const char *pat, *path;
		int want;
	} t[] = {
		{ "*.py", "app.py", 1 },
		{ "*.py", "src/app.py", 1 },		/* basename at any depth */
		{ "*.py", "app.pyc", 0 },
		{ "*.py", "app.py/x", 1 },		/* a directory named app.py */
		{ "/*.py", "src/app.py", 0 },		/* anchored */
		{ "/*.py", "app.py", 1 },
		{ "src/*.py", "src/app.py", 1 },
		{ "src/*.py", "src/sub/app.py", 0 },	/* '*' stops at '/' */
		{ "src/*.py", "lib/src/app.py", 0 },	/* a '/' inside anchors */
		{ "src/**/*.py", "src/app.py", 1 },
		{ "src/**/*.py", "src/a/b/app.py", 1 },
		{ "src/**/*.py", "lib/src/a.py", 0 },
		{ "**/test_*.py", "test_x.py", 1 },
		{ "**/test_*.py", "a/b/test_x.py", 1 },
		{ "**/x", "x", 1 },
		{ "dir/**", "dir/a/b", 1 },
		{ "dir/**", "dir", 0 },
		{ "a/**/b", "a/b", 1 },
		{ "a/**/b", "a/x/y/b", 1 },
		{ "a/**/b", "a/x/y/c", 0 },
		{ "**", "any/thing/at/all", 1 },
		{ "src", "src/a/b.c", 1 },		/* a directory takes its tree */
		{ "src/", "src/a.c", 1 },
		{ "src/", "src", 0 },			/* dir-only: not a file */
		{ "tests", "pkg/tests/test_a.py", 1 },
		{ "tests", "pkg/mytests/a.py", 0 },
		{ "/src", "lib/src/a", 0 },
		{ "/src", "src/a", 1 },
		{ "./src", "src/a", 1 },
		{ "./src", "lib/src/a", 0 },
		{ "a/b", "a/bc", 0 },
		{ "README", "README.md", 0 },
		{ "a?c", "abc", 1 },
		{ "a?c", "a/c", 0 },
		{ "a*c", "a/c", 0 },
		{ "a**b", "axxb", 1 },			/* not a whole component: like '*' */
		{ "a**b", "a/b", 0 },
		{ "[abc].txt", "b.txt", 1 },
		{ "[!abc].txt", "b.txt", 0 },
		{ "[^abc].txt", "d.txt", 1 },
		{ "[a-c]x", "bx", 1 },
		{ "[a-c]x", "dx", 0 },
		{ "[]]", "]", 1 },
		{ "x[", "x[", 1 },			/* unterminated class is literal */
		{ "\\*.txt", "*.txt", 1 },
		{ "\\*.txt", "a.txt", 0 },
		{ "a\\?", "a?", 1 },
		{ "a\\?", "ab", 0 },
		{ ".*", ".hidden", 1 },
		{ "*.tar.gz", "dist/a.tar.gz", 1 },
		{ "*a*b*c*", "xaybzc", 1 },
		{ "*a*b*c*", "xaycz", 0 },
		{ "", "a", 0 },
		{ "a/**/**/**/b", "a/b", 1 },
		{ "**/**/**/**/**/**/**/**/**/**/**/**/**/**/**/**/**/**/**/**/z",
		  "a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s/t/u/v/w/x/y/y", 0 },	/* no blow-up */
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		is_int(bento_glob_match(t[i].pat, t[i].path), t[i].want, "glob '%s' vs '%s'",
		       t[i].pat, t[i].path);
}

/* ---- walk ---- */

static char *joined(const struct bento_collect_file *f, size_t n)
{
	struct bento_buf b = BENTO_BUF_INIT;

	for (size_t i = 0; i < n; i++) {
		if (i)
			bento_buf_addch(&b, ',');
		bento_buf_adds(&b, f[i].rel);
	}
	return bento_buf_detach(&b, NULL);
}

/* Collect ctx (under tmp); returns rc, *list gets "a,b,c" or the message. */
static int run(const char *ctx, const char *const *inc, size_t ninc, const char *const *exc,
	       size_t nexc, char **list)
{
	char *p = path_of(ctx);
	struct bento_collect_opts o = { p, inc, ninc, exc, nexc, NULL };
	struct bento_collect_file *f = (void *)0x1;
	struct bento_error err = { 0 };
	size_t n = 12345;
	int rc = bento_collect(&o, &f, &n, &err);

	if (rc == 0) {
		*list = joined(f, n);
		bento_collect_free(f, n);
	} else {
		*list = bento_xstrdup(err.msg);
		if (f != (void *)0x1 || n != 12345)
			*list = bento_xstrdup("out-params written on error");
	}
	free(p);
	return rc;
}

static void test_walk(void)
{
	char *l;
	int rc;

	put("w/app.py", "print(1)\n");
	put("w/src/pkg/__init__.py", "");
	put("w/src/pkg/mod.py", "x = 1\n");
	put("w/src/pkg/__pycache__/mod.cpython-311.pyc", "junk");
	put("w/src/pkg/mod.pyc", "junk");
	put("w/.git/config", "[core]\n");
	put("w/.hg/store", "");
	put("w/sub/mod/.git", "gitdir: /somewhere/else/.git/modules/mod\n");
	put("w/.DS_Store", "");
	put("w/env1/pyvenv.cfg", "home = /usr\n");
	put("w/env1/lib/x.py", "");
	put("w/venv/lib/y.py", "");
	put("w/.venv/lib/z.py", "");
	put("w/node_modules/a/index.js", "");
	put("w/tests/test_a.py", "");
	put("w/docs/index.md", "");
	put("w/build/out.o", "");
	put("w/build/keep.txt", "");
	put("w/data/big.bin", "");
	put("w/logs", "a file called logs\n");
	put("w/sub/logs/x.txt", "");
	put("w/Zed.txt", "");
	put("w/.bentoignore",
	    "# generated things\n"
	    "\n"
	    "build/\n"
	    "!build/keep.txt\n"
	    "*.md\n"
	    "/data\n"
	    "logs/\r\n");

	rc = run("w", NULL, 0, NULL, 0, &l);
	is_int(rc, 0, "walk succeeds");
	is_str(l, ".bentoignore,Zed.txt,app.py,build/keep.txt,logs,node_modules/a/index.js,"
	       "src/pkg/__init__.py,src/pkg/mod.py,tests/test_a.py",
	       "default walk: VCS (a .git file too), __pycache__, virtualenvs, *.pyc, .DS_Store "
	       "and .bentoignore patterns out; '!' re-includes; dir-only pattern keeps the file "
	       "'logs'; sorted bytewise");
	free(l);

	{
		char *p = path_of("w");
		struct bento_collect_opts o = { .context = p };
		struct bento_collect_file *f = NULL;
		size_t n = 0;
		char *want;

		ok(bento_collect(&o, &f, &n, NULL) == 0 && n == 9, "collect without an error struct");
		want = bento_xasprintf("%s/app.py", p);
		is_str(n > 2 ? f[2].abs : NULL, want, "abs is context/rel");
		ok(n > 2 && S_ISREG(f[2].st.st_mode) && f[2].st.st_size == 9, "st is the file's stat");
		free(want);
		bento_collect_free(f, n);
		want = bento_xasprintf("%s/", p);
		o.context = want;
		f = NULL;
		n = 0;
		ok(bento_collect(&o, &f, &n, NULL) == 0 && n == 9, "context with a trailing '/'");
		free(p);
		p = bento_xasprintf("%sapp.py", want);
		is_str(n > 2 ? f[2].abs : NULL, p, "abs has no double slash");
		bento_collect_free(f, n);
		free(p);
		free(want);
	}

	{
		const char *inc[] = { "src", "app.py" };
		const char *exc[] = { "__init__.py" };
		rc = run("w", inc, 2, exc, 1, &l);
		is_int(rc, 0, "include + exclude");
		is_str(l, "app.py,src/pkg/mod.py", "include takes a tree and a file, exclude drops one");
		free(l);
	}
	{
		const char *inc[] = { "src/" };
		const char *exc[] = { "src/pkg/mod.py" };
		rc = run("w", inc, 1, exc, 1, &l);
		is_str(l, "src/pkg/__init__.py", "exclude wins over include");
		free(l);
	}
	{
		const char *exc[] = { "tests", "node_modules/", "*.txt" };
		rc = run("w", NULL, 0, exc, 3, &l);
		is_str(l, ".bentoignore,app.py,logs,src/pkg/__init__.py,src/pkg/mod.py",
		       "exclude dirs at any depth and a basename glob");
		free(l);
	}
	{
		const char *inc[] = { "**/*.py" };
		rc = run("w", inc, 1, NULL, 0, &l);
		is_str(l, "app.py,src/pkg/__init__.py,src/pkg/mod.py,tests/test_a.py",
		       "include '**/*.py'");
		free(l);
	}
	{
		const char *inc[] = { "build/keep.txt" };
		rc = run("w", inc, 1, NULL, 0, &l);
		is_str(l, "build/keep.txt", ".bentoignore '!' applies with includes too");
		free(l);
	}
	{
		const char *inc[] = { "app.py", "nope.py" };
		rc = run("w", inc, 2, NULL, 0, &l);
		is_int(rc, -BENTO_E_NOTFOUND, "include naming a missing file: NOTFOUND");
		ok(strstr(l, "include 'nope.py': no such file or directory in ") != NULL,
		   "message names the pattern (%s)", l);
		free(l);
	}
	{
		const char *inc[] = { "src/missing/" };
		rc = run("w", inc, 1, NULL, 0, &l);
		is_int(rc, -BENTO_E_NOTFOUND, "include naming a missing directory: NOTFOUND");
		free(l);
	}
	{
		const char *inc[] = { "*.nothing" };
		rc = run("w", inc, 1, NULL, 0, &l);
		ok(rc == 0 && strcmp(l, "") == 0, "a wildcard include matching nothing is no error");
		free(l);
	}
	{
		const char *inc[] = { "docs" };
		rc = run("w", inc, 1, NULL, 0, &l);
		ok(rc == 0 && strcmp(l, "") == 0, "a literal include that exists but is ignored is no error");
		free(l);
	}

	{
		/* The rules a walk hands back select exactly what it collected, on disk or not. */
		static const struct {
			const char *rel;
			int want;
		} t[] = {
			{ "app.py", 1 }, { "gone.py", 1 }, { "new/dir/x.py", 1 },
			{ "build/out.o", 0 }, { "build/keep.txt", 1 }, { "build/other.txt", 0 },
			{ "src/pkg/__pycache__/x.py", 0 }, { "src/pkg/old.pyc", 0 },
			{ "env1/lib/new.py", 0 }, { "venv/x.py", 0 }, { ".git/HEAD", 0 },
			{ "docs/new.md", 0 }, { "a.md", 0 }, { "data/x", 0 }, { "logs", 1 },
			{ "sub/logs/x.txt", 0 }, { ".DS_Store", 0 }, { "", 0 }, { "dir/", 0 },
			{ "sub/mod/.git", 0 },
		};
		char *p = path_of("w");
		struct bento_collect_rules *r = NULL;
		struct bento_collect_opts o = { .context = p, .rules = &r };
		struct bento_collect_file *f = NULL;
		size_t n = 0;

		ok(bento_collect(&o, &f, &n, NULL) == 0 && r != NULL, "a walk hands back its rules");
		size_t agree = 0;
		for (size_t i = 0; i < n; i++)
			agree += bento_collect_rules_match(r, f[i].rel);
		ok(n == 9 && agree == n, "the rules select every collected file (%zu of %zu)", agree, n);
		for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
			is_int(bento_collect_rules_match(r, t[i].rel), t[i].want, "rules: '%s'",
			       t[i].rel);
		bento_collect_rules_free(r);
		bento_collect_free(f, n);

		const char *inc[] = { "src", "app.py" };
		const char *exc[] = { "__init__.py" };
		struct bento_collect_opts o2 = { p, inc, 2, exc, 1, &r };
		r = NULL;
		ok(bento_collect(&o2, &f, &n, NULL) == 0 && r != NULL, "rules with include/exclude");
		ok(bento_collect_rules_match(r, "src/pkg/new.py") &&
		   !bento_collect_rules_match(r, "src/pkg/__init__.py") &&
		   !bento_collect_rules_match(r, "tests/test_a.py") &&
		   bento_collect_rules_match(r, "app.py") && !bento_collect_rules_match(r, "other.py"),
		   "include and exclude apply to files that are not on disk");
		bento_collect_rules_free(r);
		bento_collect_free(f, n);
		bento_collect_rules_free(NULL);

		const char *missing[] = { "nope.py" };
		struct bento_collect_opts o3 = { p, missing, 1, NULL, 0, &r };
		r = (void *)0x1;
		f = NULL;
		ok(bento_collect(&o3, &f, &n, NULL) == -BENTO_E_NOTFOUND && r == (void *)0x1,
		   "no rules handed back when the walk fails");
		free(p);
	}

	rc = run("does-not-exist", NULL, 0, NULL, 0, &l);
	is_int(rc, -BENTO_E_NOTFOUND, "missing context: NOTFOUND");
	free(l);
	rc = run("w/app.py", NULL, 0, NULL, 0, &l);
	is_int(rc, -ENOTDIR, "context that is a file: -ENOTDIR");
	free(l);
	is_int(bento_collect(NULL, NULL, NULL, NULL), -BENTO_E_USAGE, "no options: USAGE");

	mkdirs("empty");
	rc = run("empty", NULL, 0, NULL, 0, &l);
	ok(rc == 0 && strcmp(l, "") == 0, "empty context gives no files");
	free(l);
	rm_rf("empty");
	rm_rf("w");
}

static void test_symlinks(void)
{
	char *l;
	int rc;

	put("s/real.txt", "hello world\n");
	put("s/src/a.txt", "a");
	link_at("real.txt", "s/link.txt");
	link_at("src", "s/dirlink");
	link_at("../real.txt", "s/src/up.txt");
	rc = run("s", NULL, 0, NULL, 0, &l);
	is_int(rc, 0, "inner symlinks are followed");
	is_str(l, "dirlink/a.txt,dirlink/up.txt,link.txt,real.txt,src/a.txt,src/up.txt",
	       "file and directory links collected under the link's path");
	free(l);
	{
		char *p = path_of("s");
		struct bento_collect_opts o = { .context = p };
		struct bento_collect_file *f = NULL;
		size_t n = 0;
		ok(bento_collect(&o, &f, &n, NULL) == 0 && n == 6 &&
		   S_ISREG(f[2].st.st_mode) && f[2].st.st_size == 12, "a file link carries the target's stat");
		bento_collect_free(f, n);
		free(p);
	}

	/* Outside, by a relative link and by the /ctx vs /ctx2 prefix trick. */
	put("s2/secret.txt", "secret");
	link_at("../s2/secret.txt", "s/leak.txt");
	rc = run("s", NULL, 0, NULL, 0, &l);
	is_int(rc, -BENTO_E_UNSAFE, "a link to a sibling sharing the prefix is refused");
	is_str(l, "leak.txt: symlink points outside the build context (-> ../s2/secret.txt)",
	       "message names the link and its target");
	free(l);
	{
		const char *exc[] = { "leak.txt" };
		rc = run("s", NULL, 0, exc, 1, &l);
		is_int(rc, 0, "an excluded outside link is no error");
		free(l);
	}
	rm_rf("s/leak.txt");
	link_at("/etc", "s/src/etc");
	rc = run("s", NULL, 0, NULL, 0, &l);
	is_int(rc, -BENTO_E_UNSAFE, "an absolute directory link outside is refused");
	ok(strstr(l, "src/etc: symlink points outside the build context (-> /etc)") != NULL,
	   "names the nested link (%s)", l);
	free(l);
	rm_rf("s/src/etc");
	link_at("/usr", "s/venv");
	link_at("/etc/passwd", "s/src/old.pyc");
	rc = run("s", NULL, 0, NULL, 0, &l);
	is_int(rc, 0, "links with always-excluded names are skipped wherever they point (%s)", l);
	free(l);
	{
		const char *inc[] = { "/src" }, *inc2[] = { "src" };
		link_at("/etc", "s/outside-but-not-included");
		rc = run("s", inc, 1, NULL, 0, &l);
		is_int(rc, 0, "an outside link not covered by the includes is no error (%s)", l);
		free(l);
		/* Unanchored, "src" could be found at any depth, so the link is looked at. */
		rc = run("s", inc2, 1, NULL, 0, &l);
		is_int(rc, -BENTO_E_UNSAFE, "an unanchored include still reaches into the link");
		free(l);
		rm_rf("s/outside-but-not-included");
	}
	rm_rf("s/venv");
	rm_rf("s/src/old.pyc");

	link_at("nowhere", "s/dangling");
	rc = run("s", NULL, 0, NULL, 0, &l);
	is_int(rc, -BENTO_E_UNSAFE, "a dangling link is refused");
	is_str(l, "dangling: dangling symlink (-> nowhere)", "dangling message");
	free(l);
	rm_rf("s/dangling");

	link_at("..", "s/src/loop");
	rc = run("s", NULL, 0, NULL, 0, &l);
	is_int(rc, -BENTO_E_UNSAFE, "a link to an ancestor ends with an error, not a hang");
	ok(strstr(l, "symlink loop") != NULL, "loop message (%s)", l);
	free(l);
	rm_rf("s/src/loop");

	link_at("b", "s/a");
	link_at("a", "s/b");
	rc = run("s", NULL, 0, NULL, 0, &l);
	is_int(rc, -BENTO_E_UNSAFE, "a link cycle a->b->a is refused");
	ok(strstr(l, "symlink loop") != NULL, "cycle message (%s)", l);
	free(l);
	rm_rf("s/a");
	rm_rf("s/b");

	{
		char *p = path_of("s/pipe");
		ok(mkfifo(p, 0644) == 0, "made a fifo");
		free(p);
	}
	rc = run("s", NULL, 0, NULL, 0, &l);
	is_int(rc, -BENTO_E_UNSAFE, "a fifo is refused");
	ok(strstr(l, "pipe: is a fifo") != NULL, "fifo message (%s)", l);
	free(l);
	{
		const char *exc[] = { "pipe" };
		rc = run("s", NULL, 0, exc, 1, &l);
		is_int(rc, 0, "an excluded fifo is no error");
		free(l);
	}
	link_at("pipe", "s/pipelink");
	{
		const char *exc[] = { "pipe" };
		rc = run("s", NULL, 0, exc, 1, &l);
		is_int(rc, -BENTO_E_UNSAFE, "a link to a fifo is refused");
		free(l);
	}

	/* The context itself may be reached through a symlink. */
	rm_rf("s/pipe");
	rm_rf("s/pipelink");
	link_at("s", "slink");
	rc = run("slink", NULL, 0, NULL, 0, &l);
	is_str(l, "dirlink/a.txt,dirlink/up.txt,link.txt,real.txt,src/a.txt,src/up.txt",
	       "context given as a symlink");
	free(l);
	rm_rf("slink");
	rm_rf("s");
	rm_rf("s2");
}

static void test_limits(void)
{
	struct bento_buf p = BENTO_BUF_INIT;
	char *l;
	int rc;

	bento_buf_adds(&p, "deep");
	for (int i = 0; i < 260; i++)
		bento_buf_adds(&p, "/d");
	mkdirs(p.buf);
	bento_buf_adds(&p, "/f");
	put(p.buf, "x");
	rc = run("deep", NULL, 0, NULL, 0, &l);
	is_int(rc, -BENTO_E_INVALID, "nesting deeper than 256 is refused");
	ok(strstr(l, "deeper than 256") != NULL, "depth message");
	free(l);
	rm_rf("deep");

	bento_buf_reset(&p);
	bento_buf_adds(&p, "long");
	for (int i = 0; i < 20; i++) {
		bento_buf_addch(&p, '/');
		for (int k = 0; k < 250; k++)
			bento_buf_addch(&p, 'x');
	}
	/* Build it relative, since the absolute path is past PATH_MAX. */
	{
		char *base = path_of("long");
		int fd;
		mkdir(base, 0755);
		fd = open(base, O_RDONLY | O_DIRECTORY);
		for (int i = 0; i < 20 && fd >= 0; i++) {
			char name[251];
			int nfd;
			memset(name, 'x', 250);
			name[250] = '\0';
			mkdirat(fd, name, 0755);
			nfd = openat(fd, name, O_RDONLY | O_DIRECTORY);
			close(fd);
			fd = nfd;
		}
		if (fd >= 0) {
			int ffd = openat(fd, "f", O_WRONLY | O_CREAT, 0644);
			if (ffd >= 0)
				close(ffd);
			close(fd);
		}
		free(base);
	}
	rc = run("long", NULL, 0, NULL, 0, &l);
	is_int(rc, -ENAMETOOLONG, "paths longer than 4096 are refused");
	free(l);
	rm_rf("long");

	if (geteuid() != 0) {
		put("perm/open/a", "");
		put("perm/closed/b", "");
		char *c = path_of("perm/closed");
		chmod(c, 0);
		rc = run("perm", NULL, 0, NULL, 0, &l);
		is_int(rc, -EACCES, "unreadable directory: -EACCES");
		ok(strncmp(l, "closed: ", 8) == 0, "names the directory (%s)", l);
		free(l);
		chmod(c, 0755);
		free(c);
		rm_rf("perm");
	} else {
		ok(1, "# SKIP unreadable directory: running as root");
		ok(1, "# SKIP unreadable directory: running as root");
	}
	bento_buf_release(&p);
}

/* ---- lockfiles ---- */

static void test_kinds(void)
{
	static const struct {
		const char *name, *kind;
	} t[] = {
		{ "requirements.txt", "pip" }, { "requirements-dev.txt", "pip" },
		{ "requirements_prod.txt", "pip" }, { "requirements.lock", "pip" },
		{ "Pipfile.lock", "pipenv" }, { "pnpm-lock.yaml", "pnpm" }, { "yarn.lock", "yarn" },
		{ "go.sum", "go" }, { "uv.lock", "uv" }, { "poetry.lock", "poetry" },
		{ "conda-lock.yml", "conda" }, { "conda-lock.yaml", "conda" },
		{ "package-lock.json", "npm" }, { "Cargo.lock", "cargo" },
		{ "requirements.txt.bak", NULL }, { "requirements", NULL }, { "Cargo.toml", NULL },
		{ "pyproject.toml", NULL }, { "cargo.lock", NULL }, { "", NULL },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		const char *k = bento_lockfile_kind(t[i].name);
		ok(t[i].kind ? (k && strcmp(k, t[i].kind) == 0) : k == NULL, "kind of '%s' is %s (got %s)",
		   t[i].name, t[i].kind ? t[i].kind : "none", k ? k : "none");
	}
	ok(bento_lockfile_kind(NULL) == NULL, "kind of NULL");
}

struct found {
	struct bento_lockfile_issue *v;
	size_t n;
	int rc;
	struct bento_error err;
};

static void check(const char *name, const char *kind, const char *content, struct found *r)
{
	char *p;

	put(name, content);
	p = path_of(name);
	memset(r, 0, sizeof(*r));
	r->rc = bento_lockfile_check(p, name, kind, &r->v, &r->n, &r->err);
	free(p);
}

static void release(struct found *r)
{
	bento_lockfile_issues_free(r->v, r->n);
	r->v = NULL;
	r->n = 0;
}

static void expect(const struct found *r, size_t i, int line, const char *what, const char *name)
{
	is_int(i < r->n ? r->v[i].line : -1, line, "%s: issue %zu line", name, i);
	if (what)
		is_str(i < r->n ? r->v[i].what : NULL, what, "%s: issue %zu text", name, i);
}

static void test_pip(void)
{
	struct found r;
	char *text = bento_xasprintf(
		"# comment\n"						/* 1 */
		"--index-url https://pypi.org/simple\n"			/* 2 */
		"\n"							/* 3 */
		"numpy==1.26.4 \\\n"					/* 4 */
		"    --hash=sha256:%s \\\n"				/* 5 */
		"    --hash=sha256:%s\n"				/* 6 */
		"requests>=2.31 \\\n"					/* 7 */
		"    --hash=sha256:%s\n"				/* 8 */
		"flask==3.0.0\n"					/* 9 */
		"django==4.* --hash=sha256:%s\n"			/* 10 */
		"-e ./mypkg\n"						/* 11 */
		"-r other.txt\n"					/* 12 */
		"pkg @ git+https://github.com/x/y.git@%s\n"		/* 13 */
		"pkg2 @ git+https://github.com/x/y.git@main\n"		/* 14 */
		"attrs[tests]==23.1.0 ; python_version >= \"3.8\" \\\n"	/* 15 */
		"    --hash=sha256:%s\n"				/* 16 */
		"six==1.16.0 --hash=md5:abcd\n"				/* 17 */
		"https://example.com/x-1.0.tar.gz#sha256=%s\n"		/* 18 */
		"certifi==2024.2.2 \\\n"				/* 19 */
		"  # a comment line ends the continuation\n"		/* 20 */
		"urllib3==2.2.1 --hash sha256:%s # trailing comment\r\n" /* 21 */
		"pytest == 8.0.0 --hash=sha512:%s\n"			/* 22 */
		"https://example.com/y-1.0.tar.gz\n"			/* 23 */
		"idna==3.6 \\",						/* 24, at EOF */
		hex(64, 'a'), hex(64, 'b'), hex(64, 'c'), hex(64, 'd'), hex(40, 'e'), hex(64, 'f'),
		hex(64, '0'), hex(64, '1'), hex(128, '2'));

	check("requirements.txt", "pip", text, &r);
	is_int(r.rc, 0, "pip: parsed");
	is_int(r.n, 10, "pip: ten findings");
	expect(&r, 0, 7, "requests>=2.31 is not pinned to an exact version (use ==)", "pip");
	expect(&r, 1, 9, "flask==3.0.0 has no --hash (pip install --require-hashes will refuse it)", "pip");
	expect(&r, 2, 10, "django==4.* is not pinned to an exact version (use ==)", "pip");
	expect(&r, 3, 11, NULL, "pip");
	ok(r.n > 3 && strstr(r.v[3].what, "editable requirement is not pinned"), "pip: editable");
	expect(&r, 4, 12, "-r other.txt: includes another file that is not checked", "pip");
	expect(&r, 5, 14, NULL, "pip");
	ok(r.n > 5 && strstr(r.v[5].what, "pkg2 @ git+https://github.com/x/y.git@main is a VCS"),
	   "pip: VCS without commit");
	expect(&r, 6, 17, "six==1.16.0 has an unsupported --hash 'md5:abcd' (use sha256, sha384 or sha512)",
	       "pip");
	expect(&r, 7, 19, "certifi==2024.2.2 has no --hash (pip install --require-hashes will refuse it)",
	       "pip");
	expect(&r, 8, 23, NULL, "pip");
	expect(&r, 9, 24, "idna==3.6 has no --hash (pip install --require-hashes will refuse it)", "pip");
	is_str(r.n ? r.v[0].file : NULL, "requirements.txt", "pip: file is the display name");
	/* Appending: a second check adds to the same array. */
	{
		char *p = path_of("requirements.txt");
		size_t before = r.n;
		ok(bento_lockfile_check(p, NULL, "pip", &r.v, &r.n, NULL) == 0 && r.n == 2 * before,
		   "pip: findings are appended");
		is_str(r.n > before ? r.v[before].file : NULL, p, "display NULL: path is used");
		free(p);
	}
	release(&r);
	free(text);

	text = bento_xasprintf("a==1.0 --hash=sha256:%s\nb===2.0 --hash=sha384:%s\n", hex(64, 'a'),
			       hex(96, 'b'));
	check("requirements-ok.txt", "pip", text, &r);
	ok(r.rc == 0 && r.n == 0, "pip: a fully pinned and hashed file has no findings");
	release(&r);
	free(text);

	check("requirements-bad.txt", "pip", "requests\nfoo~=1.0 --hash=sha256:abc\n", &r);
	is_int(r.n, 2, "pip: bare name and short hash");
	expect(&r, 0, 1, "requests is not pinned to an exact version (use ==) and has no --hash", "pip-bad");
	expect(&r, 1, 2, "foo~=1.0 is not pinned to an exact version (use ==) and has an unsupported "
	       "--hash 'sha256:abc'", "pip-bad");
	release(&r);
}

static void test_toml(void)
{
	struct found r;
	char *text;

	text = bento_xasprintf(
		"version = 1\n"							/* 1 */
		"requires-python = \">=3.11\"\n"				/* 2 */
		"\n"								/* 3 */
		"[[package]]\n"							/* 4 */
		"name = \"anyio\"\n"
		"version = \"4.3.0\"\n"
		"source = { registry = \"https://pypi.org/simple\" }\n"
		"dependencies = [\n"
		"    { name = \"idna\" },\n"
		"]\n"
		"sdist = { url = \"https://x/anyio.tar.gz\", hash = \"sha256:%s\", size = 1 }\n"
		"wheels = [\n"
		"    { url = \"https://x/anyio.whl\", hash = \"sha256:%s\", size = 2 },\n"
		"]\n"
		"\n"								/* 15 */
		"[[package]]\n"							/* 16 */
		"name = \"idna\"\n"
		"version = \"3.6\"\n"
		"source = { registry = \"https://pypi.org/simple\" }\n"
		"sdist = { url = \"https://x/idna.tar.gz\", size = 1 }\n"
		"\n"
		"[[package]]\n"							/* 22 */
		"name = \"myapp\"\n"
		"version = \"0.1.0\"\n"
		"source = { editable = \".\" }\n"
		"\n"
		"[package.metadata]\n"
		"requires-dist = [{ name = \"anyio\", specifier = \">=4\" }]\n"
		"\n"
		"[[package]]\n"							/* 30 */
		"name = \"gitdep\"\n"
		"version = \"1.0\"\n"
		"source = { git = \"https://github.com/x/y?rev=main#%s\" }\n"
		"\n"
		"[[package]]\n"							/* 35 */
		"name = \"gitbad\"\n"
		"version = \"1.0\"\n"
		"source = { git = \"https://github.com/x/y?rev=main\" }\n",
		hex(64, 'a'), hex(64, 'b'), hex(40, 'c'));
	check("uv.lock", "uv", text, &r);
	is_int(r.rc, 0, "uv: parsed");
	is_int(r.n, 2, "uv: two findings");
	expect(&r, 0, 16, "package 'idna' 3.6 has no sha256 hash (sdist/wheels)", "uv");
	expect(&r, 1, 35, "package 'gitbad' 1.0: git source is not pinned to a commit", "uv");
	release(&r);
	free(text);

	text = bento_xasprintf(
		"[[package]]\n"							/* 1 */
		"name = \"certifi\"\n"
		"version = \"2024.2.2\"\n"
		"optional = false\n"
		"files = [\n"
		"    {file = \"certifi-2024.2.2-py3-none-any.whl\", hash = \"sha256:%s\"},\n"
		"]\n"
		"\n"
		"[[package]]\n"							/* 9 */
		"name = \"nohash\"\n"
		"version = \"1.0\"\n"
		"files = []\n"
		"\n"
		"[[package]]\n"							/* 14 */
		"name = \"mylib\"\n"
		"version = \"0.1\"\n"
		"files = []\n"
		"\n"
		"[package.source]\n"
		"type = \"git\"\n"
		"url = \"https://github.com/x/mylib.git\"\n"
		"reference = \"main\"\n"
		"resolved_reference = \"%s\"\n"
		"\n"
		"[[package]]\n"							/* 25 */
		"name = \"local\"\n"
		"version = \"0.1\"\n"
		"files = []\n"
		"\n"
		"[package.source]\n"
		"type = \"directory\"\n"
		"url = \"../local\"\n"
		"\n"
		"[[package]]\n"							/* 34 */
		"name = \"badgit\"\n"
		"version = \"0.2\"\n"
		"files = []\n"
		"\n"
		"[package.source]\n"
		"type = \"git\"\n"
		"resolved_reference = \"main\"\n"
		"\n"
		"[metadata]\n"
		"lock-version = \"2.0\"\n"
		"content-hash = \"%s\"\n",
		hex(64, 'a'), hex(40, 'b'), hex(64, 'c'));
	check("poetry.lock", "poetry", text, &r);
	is_int(r.rc, 0, "poetry: parsed");
	is_int(r.n, 2, "poetry: two findings");
	expect(&r, 0, 34, "package 'badgit' 0.2: git source has no resolved_reference commit", "poetry");
	expect(&r, 1, 9, "package 'nohash' 1.0 has no file hashes (files = [...])", "poetry");
	release(&r);
	free(text);

	/* A [metadata.files] key that is only a quote (found by fuzz_lockfile: the
	 * name's length went below zero). */
	check("poetry.lock", "poetry",
	      "[[package]]\nname = \"six\"\nversion = \"1.16\"\n[metadata.files]\nsix = [\n\"= [\n\"\"= x\n]\n", &r);
	is_int(r.rc, 0, "poetry: a key of only quotes is read");
	is_int(r.n, 1, "poetry: and six still has no hash");
	release(&r);

	/* poetry.lock 1.x: hashes live in [metadata.files], names normalised. */
	text = bento_xasprintf(
		"[[package]]\n"
		"name = \"Foo_Bar\"\n"
		"version = \"1.0\"\n"
		"\n"
		"[[package]]\n"							/* 5 */
		"name = \"other\"\n"
		"version = \"2.0\"\n"
		"\n"
		"[metadata]\n"
		"lock-version = \"1.1\"\n"
		"\n"
		"[metadata.files]\n"
		"foo-bar = [\n"
		"    {file = \"foo_bar-1.0.tar.gz\", hash = \"sha256:%s\"},\n"
		"]\n"
		"other = []\n",
		hex(64, 'a'));
	check("old/poetry.lock", "poetry", text, &r);
	ok(r.rc == 0 && r.n == 1, "poetry 1.x: one finding (got %zu)", r.n);
	expect(&r, 0, 5, "package 'other' 2.0 has no file hashes (files = [...])", "poetry1");
	release(&r);
	free(text);

	text = bento_xasprintf(
		"version = 3\n"
		"\n"
		"[[package]]\n"							/* 3 */
		"name = \"myapp\"\n"
		"version = \"0.1.0\"\n"
		"dependencies = [\n"
		" \"serde\",\n"
		"]\n"
		"\n"
		"[[package]]\n"							/* 10 */
		"name = \"serde\"\n"
		"version = \"1.0.197\"\n"
		"source = \"registry+https://github.com/rust-lang/crates.io-index\"\n"
		"checksum = \"%s\"\n"
		"\n"
		"[[package]]\n"							/* 16 */
		"name = \"bad\"\n"
		"version = \"0.1.0\"\n"
		"source = \"registry+https://github.com/rust-lang/crates.io-index\"\n"
		"\n"
		"[[package]]\n"							/* 21 */
		"name = \"gitcrate\"\n"
		"version = \"0.2.0\"\n"
		"source = \"git+https://github.com/x/y?branch=main#%s\"\n"
		"\n"
		"[[package]]\n"							/* 26 */
		"name = \"gitbad\"\n"
		"version = \"0.3.0\"\n"
		"source = \"git+https://github.com/x/y?branch=main\"\n",
		hex(64, 'a'), hex(40, 'b'));
	check("Cargo.lock", "cargo", text, &r);
	is_int(r.rc, 0, "cargo: parsed");
	is_int(r.n, 2, "cargo: two findings");
	expect(&r, 0, 26, "package 'gitbad' 0.3.0: git source is not pinned to a commit", "cargo");
	expect(&r, 1, 16, "package 'bad' 0.1.0 has no checksum", "cargo");
	release(&r);
	free(text);

	text = bento_xasprintf(
		"[[package]]\n"
		"name = \"serde\"\n"
		"version = \"1.0.0\"\n"
		"source = \"registry+https://github.com/rust-lang/crates.io-index\"\n"
		"\n"
		"[[package]]\n"							/* 6 */
		"name = \"nosum\"\n"
		"version = \"2.0.0\"\n"
		"source = \"registry+https://github.com/rust-lang/crates.io-index\"\n"
		"\n"
		"[metadata]\n"
		"\"checksum serde 1.0.0 (registry+https://github.com/rust-lang/crates.io-index)\" = \"%s\"\n"
		"\"checksum nosum 2.0.0 (registry+https://github.com/rust-lang/crates.io-index)\" = \"<none>\"\n",
		hex(64, 'a'));
	check("v1/Cargo.lock", "cargo", text, &r);
	ok(r.rc == 0 && r.n == 1, "cargo v1: [metadata] checksums count (got %zu)", r.n);
	expect(&r, 0, 6, "package 'nosum' 2.0.0 has no checksum", "cargo1");
	release(&r);
	free(text);
}

static void test_json(void)
{
	struct found r;
	char *text;

	text = bento_xasprintf(
		"{\n"
		"  \"name\": \"app\",\n"
		"  \"lockfileVersion\": 3,\n"
		"  \"packages\": {\n"
		"    \"\": { \"name\": \"app\", \"dependencies\": { \"good\": \"^1\" } },\n"
		"    \"node_modules/good\": { \"version\": \"1.0.0\", \"resolved\": \"https://registry.npmjs.org/good/-/good-1.0.0.tgz\", \"integrity\": \"sha512-abc\" },\n"
		"    \"node_modules/bad\": { \"version\": \"1.0.0\",\n"		/* 7 */
		"        \"resolved\": \"https://registry.npmjs.org/bad/-/bad-1.0.0.tgz\" },\n"
		"    \"node_modules/linked\": { \"resolved\": \"packages/linked\", \"link\": true },\n"
		"    \"node_modules/gitdep\": { \"resolved\": \"git+ssh://git@github.com/x/y.git#%s\" },\n"
		"    \"node_modules/bundled\": { \"version\": \"1.0.0\" },\n"
		"    \"node_modules/bad2\": { \"resolved\": \"https://registry.npmjs.org/bad2/-/bad2-1.tgz\", \"integrity\": \"\" }\n" /* 12 */
		"  }\n"
		"}\n", hex(40, 'a'));
	check("package-lock.json", "npm", text, &r);
	is_int(r.rc, 0, "npm: parsed");
	is_int(r.n, 2, "npm: two findings");
	expect(&r, 0, 7, "node_modules/bad has no integrity hash (resolved https://registry.npmjs.org/bad/-/bad-1.0.0.tgz)",
	       "npm");
	expect(&r, 1, 12, NULL, "npm");
	release(&r);
	free(text);

	check("v1/package-lock.json", "npm",
	      "{\"lockfileVersion\": 1, \"dependencies\": {\n"
	      " \"a\": {\"version\": \"1\", \"resolved\": \"https://r/a.tgz\", \"integrity\": \"sha1-x\",\n"
	      "   \"dependencies\": {\n"
	      "    \"b\": {\"version\": \"1\", \"resolved\": \"https://r/b.tgz\"}}}}}\n", &r);
	ok(r.rc == 0 && r.n == 1, "npm v1: nested dependency without integrity (got %zu)", r.n);
	expect(&r, 0, 4, NULL, "npm1");
	release(&r);

	check("broken/package-lock.json", "npm", "{\n  \"packages\": {\n", &r);
	is_int(r.rc, -BENTO_E_INVALID, "npm: broken JSON is an error");
	ok(strncmp(r.err.msg, "broken/package-lock.json:", 25) == 0, "npm: error names the file (%s)",
	   r.err.msg);
	ok(r.n == 0 && r.v == NULL, "npm: no findings on error");
	check("array/package-lock.json", "npm", "[]\n", &r);
	is_int(r.rc, -BENTO_E_INVALID, "npm: a JSON array is an error");

	text = bento_xasprintf(
		"{\n"
		"  \"_meta\": { \"hash\": { \"sha256\": \"x\" } },\n"
		"  \"default\": {\n"
		"    \"requests\": { \"hashes\": [\"sha256:%s\"], \"version\": \"==2.31.0\" },\n"
		"    \"flask\": { \"hashes\": [], \"version\": \"==3.0.0\" },\n"		/* 5 */
		"    \"star\": { \"version\": \"*\" },\n"					/* 6 */
		"    \"gitpkg\": { \"git\": \"https://github.com/x/y.git\", \"ref\": \"%s\" }\n"
		"  },\n"
		"  \"develop\": {\n"
		"    \"flask\": { \"hashes\": [\"sha256:%s\"], \"version\": \">=7\" }\n"	/* 10 */
		"  }\n"
		"}\n", hex(64, 'a'), hex(40, 'b'), hex(64, 'c'));
	check("Pipfile.lock", "pipenv", text, &r);
	is_int(r.rc, 0, "pipenv: parsed");
	is_int(r.n, 3, "pipenv: three findings");
	expect(&r, 0, 5, "package 'flask' (default) ==3.0.0 has no hashes", "pipenv");
	expect(&r, 1, 6, "package 'star' (default) is not pinned to an exact version (version '*') and has no hashes",
	       "pipenv");
	expect(&r, 2, 10, "package 'flask' (develop) is not pinned to an exact version (version '>=7')",
	       "pipenv");
	release(&r);
	free(text);
}

static void test_yaml_and_others(void)
{
	struct found r;
	char *text;

	text = bento_xasprintf(
		"version: 1\n"
		"metadata:\n"
		"  channels: []\n"
		"package:\n"
		"- name: python\n"					/* 5 */
		"  version: 3.11.0\n"
		"  manager: conda\n"
		"  url: https://x/python.conda\n"
		"  hash:\n"
		"    md5: %s\n"
		"    sha256: %s\n"
		"- name: nohash\n"					/* 12 */
		"  version: 1.0\n"
		"  manager: pip\n"
		"  url: https://x/nohash.whl\n"
		"  hash: {}\n"
		"- name: inline\n"
		"  hash: {sha256: %s}\n"
		"- name: shorthash\n"					/* 19 */
		"  hash:\n"
		"    md5: abc\n",
		hex(32, 'a'), hex(64, 'b'), hex(64, 'c'));
	check("conda-lock.yml", "conda", text, &r);
	is_int(r.rc, 0, "conda: parsed");
	is_int(r.n, 2, "conda: two findings");
	expect(&r, 0, 12, "package 'nohash' has no sha256 or md5 hash", "conda");
	expect(&r, 1, 19, NULL, "conda");
	release(&r);
	free(text);

	check("yarn.lock", "yarn",
	      "# yarn lockfile v1\n"
	      "\n"
	      "\n"
	      "\"@babel/code-frame@^7.0.0\", \"@babel/code-frame@^7.10.4\":\n"
	      "  version \"7.12.13\"\n"
	      "  resolved \"https://registry.yarnpkg.com/@babel/code-frame/-/code-frame-7.12.13.tgz#dcfc826beef65e75c50e21d3837d7d95798dd658\"\n"
	      "  integrity sha512-HV1Cm0Q3ZrpCR93tkWOYiuYIgLxZXZlVG42W3b05eVUBVZ5y0HxN8yFcnexIfP1YRbw==\n"
	      "  dependencies:\n"
	      "    \"@babel/highlight\" \"^7.12.13\"\n"
	      "\n"
	      "left-pad@^1.3.0:\n"					/* 11 */
	      "  version \"1.3.0\"\n"
	      "  resolved \"https://registry.yarnpkg.com/left-pad/-/left-pad-1.3.0.tgz#5b8a3a7765dfe001261dde915589e782f8c94d1e\"\n"
	      "\n"
	      "local@file:./local:\n"
	      "  version \"1.0.0\"\n", &r);
	is_int(r.rc, 0, "yarn v1: parsed");
	is_int(r.n, 1, "yarn v1: one finding");
	expect(&r, 0, 11, "package 'left-pad@^1.3.0' has no integrity", "yarn");
	release(&r);

	check("berry/yarn.lock", "yarn",
	      "__metadata:\n"
	      "  version: 6\n"
	      "  cacheKey: 8\n"
	      "\n"
	      "\"a@npm:^1.0.0\":\n"
	      "  version: 1.0.0\n"
	      "  resolution: \"a@npm:1.0.0\"\n"
	      "  checksum: abc\n"
	      "  languageName: node\n"
	      "  linkType: hard\n"
	      "\n"
	      "\"b@npm:^2.0.0\":\n"					/* 12 */
	      "  version: 2.0.0\n"
	      "  resolution: \"b@npm:2.0.0\"\n"
	      "  languageName: node\n"
	      "  linkType: hard\n"
	      "\n"
	      "\"app@workspace:.\":\n"
	      "  version: 0.0.0-use.local\n"
	      "  resolution: \"app@workspace:.\"\n"
	      "  languageName: unknown\n"
	      "  linkType: soft\n", &r);
	ok(r.rc == 0 && r.n == 1, "yarn berry: one finding (got %zu)", r.n);
	expect(&r, 0, 12, "package 'b@npm:^2.0.0' has no checksum", "berry");
	release(&r);

	check("pnpm-lock.yaml", "pnpm",
	      "lockfileVersion: '9.0'\n"
	      "\n"
	      "importers:\n"
	      "  .:\n"
	      "    dependencies:\n"
	      "      foo:\n"
	      "        specifier: ^1.0.0\n"
	      "        version: 1.0.0\n"
	      "\n"
	      "packages:\n"
	      "\n"
	      "  foo@1.0.0:\n"
	      "    resolution: {integrity: sha512-abc}\n"
	      "\n"
	      "  bar@2.0.0:\n"						/* 15 */
	      "    resolution: {tarball: https://x/bar.tgz}\n"
	      "\n"
	      "  '@scope/baz@1.0.0':\n"
	      "    resolution:\n"
	      "      integrity: sha512-xyz\n"
	      "\n"
	      "  local@file:../local:\n"
	      "    resolution: {directory: ../local, type: directory}\n"
	      "\n"
	      "  '@scope/nores@1.0.0':\n"				/* 25 */
	      "    engines: {node: '>=18'}\n"
	      "\n"
	      "snapshots:\n"
	      "\n"
	      "  foo@1.0.0: {}\n", &r);
	is_int(r.rc, 0, "pnpm: parsed");
	is_int(r.n, 2, "pnpm: two findings");
	expect(&r, 0, 15, "package 'bar@2.0.0' has no integrity (resolution: {integrity: ...})", "pnpm");
	expect(&r, 1, 25, "package '@scope/nores@1.0.0' has no integrity (resolution: {integrity: ...})",
	       "pnpm");
	release(&r);

	text = bento_xasprintf(
		"github.com/x/y v1.0.0 h1:%s=\n"
		"github.com/x/y v1.0.0/go.mod h1:%s=\n"
		"\n"
		"bad line here\n"					/* 4 */
		"github.com/z v1.0.0 h2:%s=\n"				/* 5 */
		"github.com/w v1.0.0 h1:short=\n",			/* 6 */
		hex(43, 'A'), hex(43, 'b'), hex(43, 'c'));
	check("go.sum", "go", text, &r);
	is_int(r.rc, 0, "go.sum: parsed");
	is_int(r.n, 3, "go.sum: three findings");
	expect(&r, 0, 4, "malformed go.sum line (want 'module version h1:<hash>')", "go");
	expect(&r, 1, 5, NULL, "go");
	expect(&r, 2, 6, "github.com/w v1.0.0: malformed h1: hash", "go");
	release(&r);
	free(text);
}

static void test_lock_errors(void)
{
	struct found r = { 0 };
	char *p;

	p = path_of("missing.txt");
	r.rc = bento_lockfile_check(p, "missing.txt", "pip", &r.v, &r.n, &r.err);
	is_int(r.rc, -ENOENT, "missing lockfile: -ENOENT");
	is_str(r.err.msg, "missing.txt: No such file or directory", "missing lockfile message");
	free(p);

	put("x.lock", "");
	p = path_of("x.lock");
	r.rc = bento_lockfile_check(p, "x.lock", "maven", &r.v, &r.n, &r.err);
	is_int(r.rc, -BENTO_E_USAGE, "unknown kind: USAGE");
	r.rc = bento_lockfile_check(p, "x.lock", "pip", &r.v, &r.n, &r.err);
	ok(r.rc == 0 && r.n == 0, "empty requirements file: no findings");
	free(p);

	mkdirs("adir");
	p = path_of("adir");
	r.rc = bento_lockfile_check(p, "adir", "pip", &r.v, &r.n, &r.err);
	is_int(r.rc, -BENTO_E_INVALID, "a directory is not a lockfile");
	free(p);

	/* A line past 1 MiB is refused, and findings made before it are dropped. */
	{
		struct bento_buf b = BENTO_BUF_INIT;
		bento_buf_adds(&b, "flask==1.0\nx");
		for (int i = 0; i < (1 << 20) + 10; i++)
			bento_buf_addch(&b, 'x');
		bento_buf_adds(&b, "\n");
		check("long.txt", "pip", b.buf, &r);
		is_int(r.rc, -BENTO_E_INVALID, "a line over 1 MiB is refused");
		ok(strstr(r.err.msg, "long.txt:2: line longer than 1 MiB") != NULL, "names the line (%s)",
		   r.err.msg);
		ok(r.n == 0 && r.v == NULL, "out-params untouched on error");
		bento_buf_release(&b);
	}
	/* Same for the TOML checkers' deferred findings. */
	{
		struct bento_buf b = BENTO_BUF_INIT;
		bento_buf_adds(&b, "[[package]]\nname = \"x\"\nsource = \"registry+https://r\"\n"
				   "[[package]]\nname = \"y\"\n#");
		for (int i = 0; i < (1 << 20) + 10; i++)
			bento_buf_addch(&b, 'x');
		check("long/Cargo.lock", "cargo", b.buf, &r);
		is_int(r.rc, -BENTO_E_INVALID, "cargo: a line over 1 MiB is refused");
		bento_buf_release(&b);
	}
}

int main(void)
{
	strcpy(tmp, "/tmp/bento-collect-XXXXXX");
	if (!mkdtemp(tmp)) {
		perror("mkdtemp");
		return 2;
	}
	test_glob();
	test_walk();
	test_symlinks();
	test_limits();
	test_kinds();
	test_pip();
	test_toml();
	test_json();
	test_yaml_and_others();
	test_lock_errors();
	{
		char *slash = strrchr(tmp, '/');
		int fd;
		*slash = '\0';
		fd = open(tmp, O_RDONLY | O_DIRECTORY);
		*slash = '/';
		if (fd >= 0) {
			rm_at(fd, slash + 1);
			close(fd);
		}
		ok(access(tmp, F_OK) < 0, "fixtures cleaned up");
	}
	return tap_done();
}
