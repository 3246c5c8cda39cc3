/*
 * collect.h - walk a build context and pick the service files (lockfile.h
 * reads the lockfiles).
 */
#ifndef BENTO_COLLECT_H
#define BENTO_COLLECT_H

#include <stddef.h>
#include <sys/stat.h>

#include "error.h"

struct bento_collect_file {
	char *rel;		/* path relative to the context, '/'-separated, no "./" */
	char *abs;		/* path to open (context joined with rel) */
	struct stat st;		/* lstat of the regular file (after following an inner symlink) */
};

/* The selection rules of one walk: its include and exclude globs and .bentoignore. */
struct bento_collect_rules;

struct bento_collect_opts {
	const char *context;		/* directory */
	const char *const *include;	/* globs; n_include == 0 means everything */
	size_t n_include;
	const char *const *exclude;
	size_t n_exclude;
	/*
	 * When not NULL, a successful walk stores here the rules it applied
	 * (owned by the caller: bento_collect_rules_free); they borrow
	 * nothing from these options.
	 */
	struct bento_collect_rules **rules;
};

/*
 * Collect the regular files of the context, sorted bytewise by rel.
 * Always excluded: .git/ (and a .git file: a linked worktree's or a
 * submodule's), .hg/, .svn/, virtualenvs (a dir holding pyvenv.cfg, and
 * venv/ .venv/), __pycache__/, *.pyc, .DS_Store, .bentoignore's patterns.
 * Glob syntax (man/bentofile.5): '*' and '?' and '[...]' within a component,
 * '**' across components; a pattern without '/' matches a basename at any
 * depth; a pattern matching a directory takes everything under it; a leading
 * '/' anchors at the context root; '!' in .bentoignore re-includes.
 * Symlinks whose target resolves inside the context are followed and stored
 * as the file they point to; a symlink leaving the context is an error
 * (-BENTO_E_UNSAFE) naming it, as are sockets, devices and fifos that match.
 * An include pattern without wildcards that names nothing is an error
 * (-BENTO_E_NOTFOUND) naming the pattern.
 */
int bento_collect(const struct bento_collect_opts *o, struct bento_collect_file **out,
		  size_t *n, struct bento_error *err);
void bento_collect_free(struct bento_collect_file *files, size_t n);

/*
 * 1 when the walk those rules came from would collect a regular file at
 * rel (relative to its context, '/'-separated): the always-excluded names,
 * virtualenv directories (looked for on disk), the include and exclude
 * globs and .bentoignore, exactly as the walk applies them to a file and to
 * each directory above it.  Used to tell which committed files a bento
 * should hold.
 */
int bento_collect_rules_match(const struct bento_collect_rules *r, const char *rel);
void bento_collect_rules_free(struct bento_collect_rules *r);	/* NULL ok */

/* Glob match as above (exposed for tests). 1 = match. */
int bento_glob_match(const char *pattern, const char *path);

#endif
