/*
 * collect.c - walk a build context and pick the service files (lockfile.c
 * reads the lockfiles among them).
 *
 * The walk goes through directory fds (openat/fstatat) so that a directory
 * renamed or swapped for a symlink half way cannot steer it outside the
 * context; only symlinks that resolve inside the context are followed.
 * node_modules/ is deliberately not excluded by default: some services ship
 * JavaScript and their node_modules is the dependency tree; users exclude it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "collect.h"
#include "error.h"

#define MAX_DEPTH	256
#define MAX_PATH	4096
#define MAX_IGNORE	(1 << 20)		/* .bentoignore size */

/* ------------------------------------------------------------------ */
/* Globs                                                               */
/* ------------------------------------------------------------------ */

enum glob_mode {
	M_FILE,		/* does the pattern match this file path? */
	M_DIR,		/* does it match this directory (and so all under it)? */
	M_UNDER,	/* could it match something under this directory? */
};

struct glob {
	char *pat;		/* without leading and trailing '/' */
	const char *orig;	/* as written (not owned) */
	unsigned anchored:1;	/* leading '/' or a '/' inside: relative to the root */
	unsigned dir_only:1;	/* trailing '/' */
	unsigned neg:1;		/* '!' in .bentoignore */
};

/* Match the class starting at p ('['); *next gets the char after ']'. -1 = not a class. */
static int class_match(const char *p, const char *pe, char c, const char **next)
{
	const char *q = p + 1;
	int neg = 0, hit = 0, first = 1;

	if (q < pe && (*q == '!' || *q == '^')) {
		neg = 1;
		q++;
	}
	for (; q < pe; first = 0) {
		unsigned char lo, hi;

		if (*q == ']' && !first) {
			*next = q + 1;
			return hit != neg;
		}
		if (*q == '\\' && q + 1 < pe)
			q++;
		lo = (unsigned char)*q++;
		hi = lo;
		if (q + 1 < pe && *q == '-' && q[1] != ']') {
			q++;
			if (*q == '\\' && q + 1 < pe)
				q++;
			hi = (unsigned char)*q++;
		}
		if ((unsigned char)c >= lo && (unsigned char)c <= hi)
			hit = 1;
	}
	return -1;
}

/* One pattern char (or class or escape) at p against c; *next gets what follows it. */
static int one_match(const char *p, const char *pe, char c, const char **next)
{
	if (*p == '?') {
		*next = p + 1;
		return 1;
	}
	if (*p == '[') {
		int r = class_match(p, pe, c, next);
		if (r >= 0)
			return r;
	} else if (*p == '\\' && p + 1 < pe) {
		*next = p + 2;
		return p[1] == c;
	}
	*next = p + 1;
	return *p == c;
}

/* One component: p[0..pe) against s[0..se); '*' backtracks to the last star only. */
static int comp_match(const char *p, const char *pe, const char *s, const char *se)
{
	const char *sp = NULL, *ss = NULL, *next;

	for (;;) {
		if (p < pe && *p == '*') {
			while (p < pe && *p == '*')
				p++;
			sp = p;
			ss = s;
			continue;
		}
		if (p < pe && s < se) {
			if (one_match(p, pe, *s, &next)) {
				p = next;
				s++;
				continue;
			}
		} else if (p == pe && s == se) {
			return 1;
		}
		if (!sp || ss == se)
			return 0;
		s = ++ss;
		p = sp;
	}
}

static const char *comp_end(const char *p)
{
	return strchrnul(p, '/');
}

static int is_dstar(const char *p)
{
	return p[0] == '*' && p[1] == '*' && (p[2] == '/' || p[2] == '\0');
}

/* p and s at component starts; s may be "" once the path is used up. */
static int path_match(const char *p, const char *s, int dir_only, enum glob_mode mode)
{
	for (;;) {
		if (is_dstar(p)) {
			if (p[2] == '\0') {
				if (mode != M_FILE)
					return 1;
				return *s && (!dir_only || strchr(s, '/'));
			}
			if (mode == M_UNDER)
				return 1;
			p += 3;
			for (;;) {
				if (path_match(p, s, dir_only, mode))
					return 1;
				s = strchr(s, '/');
				if (!s)
					return 0;
				s++;
			}
		}
		if (*s == '\0')
			return mode == M_UNDER;
		const char *pe = comp_end(p), *se = comp_end(s);
		if (!comp_match(p, pe, s, se))
			return 0;
		p = pe;
		s = se;
		if (*p == '\0') {
			if (*s == '\0')
				return mode != M_FILE || !dir_only;
			return 1;	/* a matched directory takes all under it */
		}
		p++;
		if (*s)
			s++;
	}
}

static void glob_init(struct glob *g, const char *pattern)
{
	const char *p = pattern;
	size_t len;

	memset(g, 0, sizeof(*g));
	g->orig = pattern;
	/* "./src" is the context's src, as "/src" is. */
	while (*p == '/' || (p[0] == '.' && p[1] == '/')) {
		g->anchored = 1;
		p += *p == '/' ? 1 : 2;
	}
	len = strlen(p);
	while (len && p[len - 1] == '/') {
		g->dir_only = 1;
		len--;
	}
	g->pat = bento_xstrndup(p, len);
	if (memchr(g->pat, '/', len))
		g->anchored = 1;
	/* "**" runs mean one "**"; collapsing them keeps matching polynomial. */
	for (char *c = g->pat; *c;) {
		if (is_dstar(c) && c[2] == '/' && is_dstar(c + 3)) {
			memmove(c, c + 3, strlen(c + 3) + 1);
			continue;
		}
		c = strchr(c, '/');
		if (!c)
			break;
		c++;
	}
}

static int glob_run(const struct glob *g, const char *path, enum glob_mode mode)
{
	const char *s = path;

	if (!g->pat[0])
		return 0;
	if (g->anchored)
		return path_match(g->pat, path, g->dir_only, mode);
	/* A bare name matches at any depth. */
	if (mode == M_UNDER)
		return 1;
	for (;;) {
		if (path_match(g->pat, s, g->dir_only, mode))
			return 1;
		s = strchr(s, '/');
		if (!s)
			return 0;
		s++;
	}
}

int bento_glob_match(const char *pattern, const char *path)
{
	struct glob g;
	int r;

	glob_init(&g, pattern);
	r = glob_run(&g, path, M_FILE);
	free(g.pat);
	return r;
}

static int has_wildcard(const char *p)
{
	return strpbrk(p, "*?[") != NULL;
}

/* ------------------------------------------------------------------ */
/* The walk                                                            */
/* ------------------------------------------------------------------ */

struct dev_ino {
	dev_t dev;
	ino_t ino;
};

/* What the walk selects: the bentofile's include and exclude, .bentoignore. */
struct bento_collect_rules {
	struct glob *inc, *exc, *ign;
	size_t n_inc, n_exc, n_ign;
	int ign_neg;			/* .bentoignore has '!' lines: no pruning by it */
	char *ctx;			/* context without trailing '/' */
};

struct walk {
	const struct bento_collect_opts *o;
	struct bento_collect_rules *r;
	unsigned char *inc_hit;
	char *real;			/* the context's realpath */
	size_t real_len;
	struct bento_buf rel;
	struct dev_ino stack[MAX_DEPTH + 2];
	struct bento_collect_file *files;
	size_t n, cap;
	struct bento_error *err;
};

static const char *const skip_dirs[] = { ".git", ".hg", ".svn", "__pycache__", "venv", ".venv" };

static int skip_dir_name(const char *name)
{
	for (size_t i = 0; i < sizeof(skip_dirs) / sizeof(skip_dirs[0]); i++)
		if (strcmp(name, skip_dirs[i]) == 0)
			return 1;
	return 0;
}

/* ".git" as a file is a linked worktree's or a submodule's pointer to its repository. */
static int skip_file_name(const char *name)
{
	size_t n = strlen(name);

	return strcmp(name, ".DS_Store") == 0 || strcmp(name, ".git") == 0 ||
	       (n >= 4 && strcmp(name + n - 4, ".pyc") == 0);
}

static int ignored(const struct bento_collect_rules *r, const char *rel, enum glob_mode mode)
{
	int state = 0;

	for (size_t i = 0; i < r->n_ign; i++)
		if (glob_run(&r->ign[i], rel, mode))
			state = !r->ign[i].neg;
	return state;
}

/* Whether file rel is selected; hit (when not NULL) marks the includes that took it. */
static int rules_want_file(const struct bento_collect_rules *r, const char *rel,
			   unsigned char *hit)
{
	if (r->n_inc) {
		int any = 0;
		for (size_t i = 0; i < r->n_inc; i++)
			if (glob_run(&r->inc[i], rel, M_FILE)) {
				any = 1;
				if (hit)
					hit[i] = 1;
			}
		if (!any)
			return 0;
	}
	for (size_t i = 0; i < r->n_exc; i++)
		if (glob_run(&r->exc[i], rel, M_FILE))
			return 0;
	return !ignored(r, rel, M_FILE);
}

/* Whether anything under directory rel can be collected (pruning is exact for excludes). */
static int rules_want_dir(const struct bento_collect_rules *r, const char *rel)
{
	for (size_t i = 0; i < r->n_exc; i++)
		if (glob_run(&r->exc[i], rel, M_DIR))
			return 0;
	if (!r->ign_neg && ignored(r, rel, M_DIR))
		return 0;
	if (!r->n_inc)
		return 1;
	for (size_t i = 0; i < r->n_inc; i++)
		if (glob_run(&r->inc[i], rel, M_UNDER))
			return 1;
	return 0;
}

static int want_file(struct walk *w, const char *rel)
{
	return rules_want_file(w->r, rel, w->inc_hit);
}

static int want_dir(const struct walk *w, const char *rel)
{
	return rules_want_dir(w->r, rel);
}

static void add_file(struct walk *w, const struct stat *st)
{
	struct bento_collect_file *f;

	if (w->n == w->cap) {
		w->cap = w->cap ? 2 * w->cap : 64;
		w->files = bento_xrealloc(w->files, w->cap * sizeof(*w->files));
	}
	f = &w->files[w->n++];
	f->rel = bento_xstrdup(w->rel.buf);
	f->abs = bento_xasprintf("%s/%s", w->r->ctx, w->rel.buf);
	f->st = *st;
}

static const char *kind_name(mode_t m)
{
	if (S_ISFIFO(m))
		return "a fifo";
	if (S_ISSOCK(m))
		return "a socket";
	if (S_ISCHR(m))
		return "a character device";
	if (S_ISBLK(m))
		return "a block device";
	return "not a regular file";
}

static int walk_dir(struct walk *w, int dfd, int depth);

/* Open child directory name of dfd and walk it; rel already names it. */
static int descend(struct walk *w, int dfd, const char *name, int follow, int depth)
{
	struct stat st;
	int fd, rc;

	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | (follow ? 0 : O_NOFOLLOW));
	if (fd < 0)
		return bento_error_errno(w->err, errno, "%s", w->rel.buf);
	if (fstat(fd, &st) < 0) {
		rc = bento_error_errno(w->err, errno, "%s", w->rel.buf);
		close(fd);
		return rc;
	}
	/* A virtualenv holds pyvenv.cfg whatever the directory is called. */
	struct stat cfg;
	if (fstatat(fd, "pyvenv.cfg", &cfg, AT_SYMLINK_NOFOLLOW) == 0) {
		close(fd);
		return 0;
	}
	for (int i = 0; i <= depth; i++)
		if (w->stack[i].dev == st.st_dev && w->stack[i].ino == st.st_ino) {
			close(fd);
			return bento_error_set(w->err, BENTO_E_UNSAFE,
					       "%s: symlink loop (points at a directory above it)",
					       w->rel.buf);
		}
	if (depth + 1 > MAX_DEPTH) {
		close(fd);
		return bento_error_set(w->err, BENTO_E_INVALID,
				       "%s: directories nested deeper than %d levels",
				       w->rel.buf, MAX_DEPTH);
	}
	w->stack[depth + 1].dev = st.st_dev;
	w->stack[depth + 1].ino = st.st_ino;
	return walk_dir(w, fd, depth + 1);
}

/*
 * Decide a symlink: follow it when it stays inside the context.  What it
 * points at is looked at first, so that a link that would be skipped anyway
 * (venv -> /opt/venv, an excluded name) is no error wherever it leads.
 */
static int visit_link(struct walk *w, int dfd, const char *name, int depth)
{
	char target[MAX_PATH + 1];
	char *abs, *real;
	struct stat st;
	ssize_t tl;
	int rc = 0, as_file, as_dir, gone = 0;

	as_file = !skip_file_name(name) && want_file(w, w->rel.buf);
	as_dir = !skip_dir_name(name) && want_dir(w, w->rel.buf);
	if (!as_file && !as_dir)
		return 0;
	if (fstatat(dfd, name, &st, 0) < 0) {
		if (errno != ENOENT && errno != ENOTDIR && errno != ELOOP)
			return bento_error_errno(w->err, errno, "%s", w->rel.buf);
		gone = errno;
	} else if (S_ISDIR(st.st_mode) ? !as_dir : !as_file) {
		return 0;
	}
	tl = readlinkat(dfd, name, target, sizeof(target) - 1);
	if (tl < 0)
		return bento_error_errno(w->err, errno, "%s", w->rel.buf);
	target[tl] = '\0';
	if (gone == ELOOP)
		return bento_error_set(w->err, BENTO_E_UNSAFE, "%s: symlink loop (-> %s)",
				       w->rel.buf, target);
	if (gone)
		return bento_error_set(w->err, BENTO_E_UNSAFE, "%s: dangling symlink (-> %s)",
				       w->rel.buf, target);
	abs = bento_xasprintf("%s/%s", w->r->ctx, w->rel.buf);
	real = realpath(abs, NULL);
	free(abs);
	if (!real)
		return bento_error_errno(w->err, errno, "%s", w->rel.buf);
	/* Inside means the root itself or below "root/": /ctx2 is not inside /ctx. */
	if (strncmp(real, w->real, w->real_len) != 0 ||
	    (real[w->real_len] != '/' && real[w->real_len] != '\0' &&
	     !(w->real_len == 1 && w->real[0] == '/'))) {
		rc = bento_error_set(w->err, BENTO_E_UNSAFE,
				     "%s: symlink points outside the build context (-> %s)",
				     w->rel.buf, target);
		free(real);
		return rc;
	}
	free(real);
	if (S_ISDIR(st.st_mode))
		return descend(w, dfd, name, 1, depth);
	if (!S_ISREG(st.st_mode))
		return bento_error_set(w->err, BENTO_E_UNSAFE, "%s: symlink to %s (-> %s)",
				       w->rel.buf, kind_name(st.st_mode), target);
	add_file(w, &st);
	return 0;
}

static int visit(struct walk *w, int dfd, const char *name, int depth)
{
	struct stat st;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)	/* vanished while we looked */
			return 0;
		return bento_error_errno(w->err, errno, "%s", w->rel.buf);
	}
	if (S_ISLNK(st.st_mode))
		return visit_link(w, dfd, name, depth);
	if (S_ISDIR(st.st_mode)) {
		if (skip_dir_name(name) || !want_dir(w, w->rel.buf))
			return 0;
		return descend(w, dfd, name, 0, depth);
	}
	if (skip_file_name(name) || !want_file(w, w->rel.buf))
		return 0;
	if (!S_ISREG(st.st_mode))
		return bento_error_set(w->err, BENTO_E_UNSAFE,
				       "%s: is %s; only regular files and directories can be bundled",
				       w->rel.buf, kind_name(st.st_mode));
	add_file(w, &st);
	return 0;
}

/* Walk the open directory dfd (consumed); w->rel names it ("" for the root). */
static int walk_dir(struct walk *w, int dfd, int depth)
{
	DIR *d = fdopendir(dfd);
	size_t base = w->rel.len;
	struct dirent *de;
	int rc = 0;

	if (!d) {
		rc = bento_error_errno(w->err, errno, "%s", base ? w->rel.buf : w->o->context);
		close(dfd);
		return rc;
	}
	for (;;) {
		errno = 0;
		de = readdir(d);
		if (!de) {
			if (errno)
				rc = bento_error_errno(w->err, errno, "%s", base ? w->rel.buf : w->o->context);
			break;
		}
		const char *name = de->d_name;
		if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
			continue;
		bento_buf_setlen(&w->rel, base);
		if (base)
			bento_buf_addch(&w->rel, '/');
		bento_buf_adds(&w->rel, name);
		if (w->rel.len > MAX_PATH) {
			rc = bento_error_errno(w->err, ENAMETOOLONG, "%.200s...", w->rel.buf);
			break;
		}
		rc = visit(w, dirfd(d), name, depth);
		if (rc)
			break;
	}
	bento_buf_setlen(&w->rel, base);
	closedir(d);
	return rc;
}

/* Read .bentoignore at the root, if any. */
static int load_ignore(struct walk *w, int rootfd)
{
	struct bento_buf text = BENTO_BUF_INIT;
	char chunk[8192];
	ssize_t r;
	int fd, rc = 0;

	fd = openat(rootfd, ".bentoignore", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		if (errno == ELOOP)
			return bento_error_set(w->err, BENTO_E_UNSAFE,
					       ".bentoignore: is a symlink; it must be a regular file");
		return bento_error_errno(w->err, errno, ".bentoignore");
	}
	while ((r = read(fd, chunk, sizeof(chunk))) != 0) {
		if (r < 0) {
			if (errno == EINTR)
				continue;
			rc = bento_error_errno(w->err, errno, ".bentoignore");
			goto out;
		}
		if (text.len + (size_t)r > MAX_IGNORE) {
			rc = bento_error_set(w->err, BENTO_E_INVALID, ".bentoignore: larger than 1 MiB");
			goto out;
		}
		bento_buf_add(&text, chunk, (size_t)r);
	}
	/* Two passes: count lines, then keep the patterns. */
	size_t cap = 1;
	for (size_t i = 0; i < text.len; i++)
		cap += text.buf[i] == '\n';
	struct bento_collect_rules *rules = w->r;
	rules->ign = bento_xcalloc(cap, sizeof(*rules->ign));
	char *line = text.buf, *nl;
	for (; line && *line; line = nl ? nl + 1 : NULL) {
		nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		size_t len = strlen(line);
		if (len && line[len - 1] == '\r')
			line[--len] = '\0';
		/* Trailing blanks go unless escaped, as in gitignore. */
		while (len && (line[len - 1] == ' ' || line[len - 1] == '\t') &&
		       !(len >= 2 && line[len - 2] == '\\'))
			line[--len] = '\0';
		if (!len || line[0] == '#')
			continue;
		int neg = 0;
		if (line[0] == '!') {
			neg = 1;
			line++;
		}
		if (!*line)
			continue;
		glob_init(&rules->ign[rules->n_ign], line);
		rules->ign[rules->n_ign].orig = NULL;
		rules->ign[rules->n_ign].neg = neg;
		rules->ign_neg |= neg;
		rules->n_ign++;
	}
out:
	close(fd);
	bento_buf_release(&text);
	return rc;
}

/* An include without wildcards that took no file must at least exist. */
static int check_includes(struct walk *w, int rootfd)
{
	for (size_t i = 0; i < w->r->n_inc; i++) {
		const struct glob *g = &w->r->inc[i];
		struct stat st;
		char *p, *q;
		int found;

		if (w->inc_hit[i] || has_wildcard(g->orig))
			continue;
		p = bento_xstrdup(g->pat);
		for (q = p; *p && *q; q++)	/* drop '\' escapes */
			if (*q == '\\' && q[1])
				memmove(q, q + 1, strlen(q));
		found = *p && fstatat(rootfd, p, &st, AT_SYMLINK_NOFOLLOW) == 0;
		free(p);
		if (!found)
			return bento_error_set(w->err, BENTO_E_NOTFOUND,
					       "include '%s': no such file or directory in %s",
					       g->orig, w->o->context);
	}
	return 0;
}

static int rel_cmp(const void *a, const void *b)
{
	return strcmp(((const struct bento_collect_file *)a)->rel,
		      ((const struct bento_collect_file *)b)->rel);
}

static void globs_free(struct glob *g, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(g[i].pat);
	free(g);
}

int bento_collect(const struct bento_collect_opts *o, struct bento_collect_file **out,
		  size_t *n, struct bento_error *err)
{
	struct bento_collect_rules *r;
	struct walk *w;
	struct stat st;
	size_t len;
	int rootfd = -1, rc;

	if (!o || !o->context || !*o->context)
		return bento_error_set(err, BENTO_E_USAGE, "collect: no context directory");
	w = bento_xcalloc(1, sizeof(*w));
	w->r = r = bento_xcalloc(1, sizeof(*r));
	w->o = o;
	w->err = err;
	bento_buf_init(&w->rel);
	len = strlen(o->context);
	while (len > 1 && o->context[len - 1] == '/')
		len--;
	r->ctx = bento_xstrndup(o->context, len);
	if (strcmp(r->ctx, "/") == 0)
		r->ctx[0] = '\0';	/* so that "/" + rel stays single-slashed */

	rootfd = open(o->context, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0) {
		rc = errno == ENOENT ?
			bento_error_set(err, BENTO_E_NOTFOUND, "%s: no such directory", o->context) :
			bento_error_errno(err, errno, "%s", o->context);
		goto out;
	}
	w->real = realpath(o->context, NULL);
	if (!w->real || fstat(rootfd, &st) < 0) {
		rc = bento_error_errno(err, errno, "%s", o->context);
		goto out;
	}
	w->real_len = strlen(w->real);
	w->stack[0].dev = st.st_dev;
	w->stack[0].ino = st.st_ino;

	r->n_inc = o->n_include;
	r->inc = bento_xcalloc(r->n_inc + 1, sizeof(*r->inc));
	w->inc_hit = bento_xcalloc(r->n_inc + 1, 1);
	for (size_t i = 0; i < r->n_inc; i++)
		glob_init(&r->inc[i], o->include[i]);
	r->n_exc = o->n_exclude;
	r->exc = bento_xcalloc(r->n_exc + 1, sizeof(*r->exc));
	for (size_t i = 0; i < r->n_exc; i++)
		glob_init(&r->exc[i], o->exclude[i]);
	if ((rc = load_ignore(w, rootfd)))
		goto out;

	int dfd = dup(rootfd);
	if (dfd < 0) {
		rc = bento_error_errno(err, errno, "%s", o->context);
		goto out;
	}
	if ((rc = walk_dir(w, dfd, 0)))
		goto out;
	if ((rc = check_includes(w, rootfd)))
		goto out;
	if (w->n) {
		qsort(w->files, w->n, sizeof(*w->files), rel_cmp);
		/* the doubling's spare room back: a build of 100,000 files keeps this to the end */
		w->files = bento_xrealloc(w->files, w->n * sizeof(*w->files));
	}
	*out = w->files;
	*n = w->n;
	w->files = NULL;
	w->n = 0;
	if (o->rules) {
		/* The patterns as written are the caller's: the rules keep only their own copies. */
		for (size_t i = 0; i < r->n_inc; i++)
			r->inc[i].orig = NULL;
		for (size_t i = 0; i < r->n_exc; i++)
			r->exc[i].orig = NULL;
		*o->rules = r;
		r = NULL;
	}
out:
	if (rootfd >= 0)
		close(rootfd);
	bento_collect_free(w->files, w->n);
	bento_collect_rules_free(r);
	free(w->inc_hit);
	free(w->real);
	bento_buf_release(&w->rel);
	free(w);
	return rc;
}

void bento_collect_rules_free(struct bento_collect_rules *r)
{
	if (!r)
		return;
	globs_free(r->inc, r->n_inc);
	globs_free(r->exc, r->n_exc);
	globs_free(r->ign, r->n_ign);
	free(r->ctx);
	free(r);
}

/* A directory holding pyvenv.cfg is a virtualenv, whatever it is called (as in descend()). */
static int is_venv(const struct bento_collect_rules *r, const char *dir)
{
	struct stat st;
	char *p = bento_xasprintf("%s/%s/pyvenv.cfg", r->ctx, dir);
	int yes = lstat(p, &st) == 0;

	free(p);
	return yes;
}

int bento_collect_rules_match(const struct bento_collect_rules *r, const char *rel)
{
	struct bento_buf dir = BENTO_BUF_INIT;
	const char *base = rel, *slash;
	int want = *rel != '\0';

	for (const char *p = rel; want && (slash = strchr(p, '/')); p = slash + 1) {
		bento_buf_reset(&dir);
		bento_buf_add(&dir, rel, (size_t)(slash - rel));
		const char *name = dir.buf + (p - rel);
		want = *name && !skip_dir_name(name) && rules_want_dir(r, dir.buf) &&
		       !is_venv(r, dir.buf);
		base = slash + 1;
	}
	want = want && *base && !skip_file_name(base) && rules_want_file(r, rel, NULL);
	bento_buf_release(&dir);
	return want;
}

void bento_collect_free(struct bento_collect_file *files, size_t n)
{
	if (!files)
		return;
	for (size_t i = 0; i < n; i++) {
		free(files[i].rel);
		free(files[i].abs);
	}
	free(files);
}
