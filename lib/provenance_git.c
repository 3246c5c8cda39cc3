/*
 * provenance_git.c - the git state of a build context (libgit2), and how
 * the files of a bento stand against its HEAD commit.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <git2.h>

#include "provenance.h"

/* ---- the repository ---- */

static int git_fail(struct bento_error *err, const char *dir, const char *what)
{
	const git_error *e = git_error_last();

	return bento_error_set(err, BENTO_E_FAIL, "%s: git: %s: %s", dir, what,
			       e && e->message ? e->message : "unknown error");
}

static char *oid_hex(const git_oid *oid)
{
	char hex[GIT_OID_HEXSZ + 1];

	git_oid_tostr(hex, sizeof(hex), oid);
	return bento_xstrdup(hex);
}

/*
 * The URL of "origin", else of the remote whose name sorts first (what
 * git_remote_list would give); NULL when there is none.  Read from the
 * configuration rather than with git_remote_lookup(), whose insteadOf
 * rewriting leaks in libgit2 1.5's PCRE2 regex wrapper for every entry
 * that does not match.
 */
static int git_remote_url_of(git_repository *repo, const char *dir, char **out,
			     struct bento_error *err)
{
	git_config *cfg = NULL;
	git_config_iterator *it = NULL;
	git_config_entry *e;
	char *best_name = NULL, *best_url = NULL;
	int rc;

	if (git_repository_config_snapshot(&cfg, repo) || git_config_iterator_new(&it, cfg)) {
		rc = git_fail(err, dir, "reading configuration");
		goto out;
	}
	while ((rc = git_config_next(&e, it)) == 0) {
		size_t n = strlen(e->name);
		if (n <= 11 || strncmp(e->name, "remote.", 7) != 0 ||
		    strcmp(e->name + n - 4, ".url") != 0 || !e->value)
			continue;
		char *name = bento_xstrndup(e->name + 7, n - 11);
		int origin = strcmp(name, "origin") == 0;
		if (!best_name || (origin && strcmp(best_name, "origin") != 0) ||
		    (strcmp(best_name, "origin") != 0 && strcmp(name, best_name) < 0) ||
		    strcmp(name, best_name) == 0) {
			/* The same name again: a later (more local) level wins, as in git. */
			free(best_name);
			free(best_url);
			best_name = name;
			best_url = bento_xstrdup(e->value);
		} else {
			free(name);
		}
	}
	if (rc != GIT_ITEROVER) {
		rc = git_fail(err, dir, "reading configuration");
		goto out;
	}
	rc = 0;
	if (best_url)
		*out = bento_url_strip_credentials(best_url);
out:
	git_config_iterator_free(it);
	git_config_free(cfg);
	free(best_name);
	free(best_url);
	return rc;
}

/* The work tree's real path, and dir's place below it ("" at the root; NULL outside). */
static int git_where(git_repository *repo, const char *dir, struct bento_git_state *g,
		     struct bento_error *err)
{
	const char *wd = git_repository_workdir(repo);
	char *real;
	size_t n;

	if (!wd)
		return 0;	/* bare: no file can be in its work tree */
	if (!(g->workdir = realpath(wd, NULL)))
		return bento_error_errno(err, errno, "%s: git work tree %s", dir, wd);
	if (!(real = realpath(dir, NULL)))
		return bento_error_errno(err, errno, "%s", dir);
	n = strlen(g->workdir);
	if (strcmp(real, g->workdir) == 0)
		g->context_dir = bento_xstrdup("");
	else if (strncmp(real, g->workdir, n) == 0 && real[n] == '/')
		g->context_dir = bento_xstrdup(real + n + 1);
	free(real);
	return 0;
}

static int git_inspect(git_repository *repo, const char *dir, struct bento_git_state *g,
		       struct bento_error *err)
{
	git_reference *head = NULL;
	git_commit *commit = NULL;
	git_oid oid;
	int rc, unborn;

	g->is_repo = 1;
	if (git_reference_lookup(&head, repo, "HEAD") == 0) {
		if (git_reference_type(head) == GIT_REFERENCE_SYMBOLIC) {
			const char *t = git_reference_symbolic_target(head);
			if (t && strncmp(t, "refs/heads/", 11) == 0 && t[11])
				g->branch = bento_xstrdup(t + 11);
		}
		git_reference_free(head);
	}
	if ((unborn = git_repository_head_unborn(repo)) < 0)
		return git_fail(err, dir, "reading HEAD");
	if (!unborn) {
		if (git_reference_name_to_id(&oid, repo, "HEAD") ||
		    git_commit_lookup(&commit, repo, &oid))
			return git_fail(err, dir, "reading HEAD commit");
		g->commit = oid_hex(&oid);
		g->tree = oid_hex(git_commit_tree_id(commit));
		g->commit_time = (int64_t)git_commit_time(commit);
		git_commit_free(commit);
	}
	g->gitdir = bento_xstrdup(git_repository_path(repo));
	if ((rc = git_remote_url_of(repo, dir, &g->remote, err)) ||
	    (rc = git_where(repo, dir, g, err)))
		return rc;
	return 0;
}

int bento_git_state(const char *dir, struct bento_git_state *out, struct bento_error *err)
{
	struct bento_git_state g = { 0 };
	git_repository *repo = NULL;
	int rc;

	git_libgit2_init();
	rc = git_repository_open_ext(&repo, dir, 0, NULL);
	if (rc == GIT_ENOTFOUND) {
		rc = 0;
	} else if (rc < 0) {
		rc = git_fail(err, dir, "opening repository");
	} else {
		rc = git_inspect(repo, dir, &g, err);
		git_repository_free(repo);
	}
	git_libgit2_shutdown();
	if (rc)
		bento_git_state_release(&g);
	else
		*out = g;
	return rc;
}

static void changes_free(struct bento_git_change *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].path);
	free(v);
}

void bento_git_state_release(struct bento_git_state *g)
{
	free(g->commit);
	free(g->tree);
	free(g->branch);
	free(g->remote);
	free(g->gitdir);
	free(g->workdir);
	free(g->context_dir);
	changes_free(g->changes, g->n_changes);
	memset(g, 0, sizeof(*g));
}

/* ---- the bento's files against HEAD ---- */

static const char *const status_names[BENTO_GIT_N_STATUS] = {
	[BENTO_GIT_MODIFIED] = "modified", [BENTO_GIT_DELETED] = "deleted",
	[BENTO_GIT_ADDED] = "added", [BENTO_GIT_UNTRACKED] = "untracked",
	[BENTO_GIT_IGNORED] = "ignored", [BENTO_GIT_SUBMODULE] = "submodule",
	[BENTO_GIT_OUTSIDE] = "outside",
};

const char *bento_git_status_name(enum bento_git_status s)
{
	return (unsigned)s < BENTO_GIT_N_STATUS ? status_names[s] : "unknown";
}

/* A checkout follows at most this many symbolic links for one path, as Linux does. */
#define LINK_HOPS_MAX 40

struct checker {
	git_repository *repo;
	git_odb *odb;
	git_index *index;
	git_tree *head;			/* NULL when HEAD is unborn */
	const char *workdir;
	const char **paths;		/* the bento's paths, sorted */
	size_t n_paths;
	struct bento_git_change *v;
	size_t n, cap;
	struct bento_error *err;
	const char *what;		/* the directory, for messages */
	struct bento_buf ign_dir;	/* the directory last asked about, */
	int ign_dir_known, ign_dir_ignored;	/* and whether it is ignored */
};

static void change_add(struct checker *c, const char *path, enum bento_git_status st)
{
	if (c->n == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 16;
		c->v = bento_xrealloc(c->v, c->cap * sizeof(*c->v));
	}
	c->v[c->n].path = bento_xstrdup(path);
	c->v[c->n].status = st;
	c->n++;
}

/*
 * Append the components of p to stack (a '/'-joined path without a
 * leading '/'): "." and empty ones are dropped, ".." pops one.  -1 when it
 * climbs above the root.
 */
static int path_push(struct bento_buf *stack, const char *p, size_t len)
{
	const char *end = p + len;

	while (p < end) {
		const char *q = memchr(p, '/', (size_t)(end - p));
		size_t n = (size_t)((q ? q : end) - p);
		if (n == 2 && p[0] == '.' && p[1] == '.') {
			char *slash;
			if (!stack->len)
				return -1;
			slash = strrchr(stack->buf, '/');
			bento_buf_setlen(stack, slash ? (size_t)(slash - stack->buf) : 0);
		} else if (n && !(n == 1 && p[0] == '.')) {
			if (stack->len)
				bento_buf_addch(stack, '/');
			bento_buf_add(stack, p, n);
		}
		p += n + (q != NULL);
	}
	return 0;
}

enum found { FOUND_BLOB, FOUND_TREE, FOUND_NONE, FOUND_SUBMODULE, FOUND_OUTSIDE };

/*
 * Find path in HEAD as a checkout would lay it out: symbolic links that
 * HEAD holds are followed, through HEAD's tree.  *oid gets the file's blob
 * (FOUND_BLOB) or the directory's tree (FOUND_TREE); FOUND_NONE also
 * covers a dangling link and a loop.
 */
static int head_find(struct checker *c, const char *path, git_oid *oid, enum found *found)
{
	struct bento_buf cur = BENTO_BUF_INIT, next = BENTO_BUF_INIT;
	int hops = 0, rc = 0;

	*found = FOUND_NONE;
	if (!c->head)
		return 0;
	path_push(&cur, path, strlen(path));
	if (!cur.len) {
		git_oid_cpy(oid, git_tree_id(c->head));
		*found = FOUND_TREE;
		bento_buf_release(&cur);
		return 0;
	}
	for (;;) {
		git_tree *tree = c->head, *sub = NULL;
		const char *p = cur.buf;
		int again = 0;

		while (*p) {
			const char *slash = strchr(p, '/');
			size_t n = slash ? (size_t)(slash - p) : strlen(p);
			char *name = bento_xstrndup(p, n);
			const git_tree_entry *e = git_tree_entry_byname(tree, name);
			free(name);
			if (!e)
				break;
			git_filemode_t mode = git_tree_entry_filemode(e);
			if (mode == GIT_FILEMODE_COMMIT) {
				*found = FOUND_SUBMODULE;
				break;
			}
			if (mode == GIT_FILEMODE_TREE) {
				git_tree *t;
				if (!slash) {
					git_oid_cpy(oid, git_tree_entry_id(e));
					*found = FOUND_TREE;
					break;
				}
				if (git_tree_lookup(&t, c->repo, git_tree_entry_id(e))) {
					rc = git_fail(c->err, c->what, "reading HEAD tree");
					break;
				}
				git_tree_free(sub);
				tree = sub = t;
				p = slash + 1;
				continue;
			}
			if (mode != GIT_FILEMODE_LINK) {
				if (!slash) {
					git_oid_cpy(oid, git_tree_entry_id(e));
					*found = FOUND_BLOB;
				}
				break;	/* or a file where a directory should be */
			}
			/* A link: go on from its target, relative to its directory. */
			git_blob *lb;
			if (++hops > LINK_HOPS_MAX)
				break;
			if (git_blob_lookup(&lb, c->repo, git_tree_entry_id(e))) {
				rc = git_fail(c->err, c->what, "reading HEAD link");
				break;
			}
			const char *t = git_blob_rawcontent(lb);
			size_t tl = (size_t)git_blob_rawsize(lb), wl = strlen(c->workdir);
			bento_buf_reset(&next);
			if (tl && t[0] == '/') {
				/* Absolute: only a target inside this work tree can be followed. */
				if (tl < wl || memcmp(t, c->workdir, wl) != 0 || (tl > wl && t[wl] != '/') ||
				    memchr(t, '\0', tl)) {
					*found = FOUND_OUTSIDE;
					git_blob_free(lb);
					break;
				}
				t += wl;
				tl -= wl;
			} else {
				bento_buf_add(&next, cur.buf, (size_t)(p - cur.buf));
				bento_buf_setlen(&next, next.len ? next.len - 1 : 0);	/* the '/' */
			}
			int bad = memchr(t, '\0', tl) != NULL || path_push(&next, t, tl) < 0;
			git_blob_free(lb);
			if (bad) {
				*found = FOUND_OUTSIDE;
				break;
			}
			if (slash && path_push(&next, slash + 1, strlen(slash + 1)) < 0) {
				*found = FOUND_OUTSIDE;
				break;
			}
			bento_buf_reset(&cur);
			bento_buf_add(&cur, next.buf, next.len);
			again = 1;
			break;
		}
		git_tree_free(sub);
		if (!again || rc)
			break;
	}
	bento_buf_release(&cur);
	bento_buf_release(&next);
	return rc;
}

/* A Git LFS pointer naming exactly this content: its sha256 and size. */
static int lfs_pointer_is(const char *p, size_t n, const struct bento_digest *d, uint64_t size)
{
	static const char v[] = "version https://git-lfs.github.com/spec/v1\n";
	char hex[BENTO_DIGEST_HEXLEN + 1], want[200];

	bento_digest_hex(d, hex);
	snprintf(want, sizeof(want), "%soid sha256:%s\nsize %llu\n", v, hex,
		 (unsigned long long)size);
	return n == strlen(want) && memcmp(p, want, n) == 0;
}

/*
 * Whether the bento's bytes are what a checkout of HEAD writes at path
 * from blob b: the blob itself when no filter applies (compared by blob
 * id, streaming f->content), else the blob smudged (line endings, ident;
 * in memory, as libgit2 filters, and compared by sha256 with f->digest).
 */
static int same_content(struct checker *c, const struct bento_git_file *f, const char *path,
			const git_oid *b, int *same)
{
	git_filter_list *fl = NULL;
	git_blob *blob = NULL;
	git_object_t type;
	size_t bsize;
	int rc = 0;

	*same = 0;
	if (git_odb_read_header(&bsize, &type, c->odb, b))
		return git_fail(c->err, c->what, "reading HEAD blob");
	if (git_filter_list_load(&fl, c->repo, NULL, path, GIT_FILTER_TO_WORKTREE,
				 GIT_FILTER_DEFAULT))
		return git_fail(c->err, c->what, "loading filters");
	if (!fl && bsize == f->size) {
		git_oid h;
		if (git_odb_hashfile(&h, f->content, GIT_OBJECT_BLOB))
			return git_fail(c->err, f->path, "hashing its bytes");
		*same = git_oid_equal(&h, b);
	}
	if ((fl || bsize < 200) && git_blob_lookup(&blob, c->repo, b))
		rc = git_fail(c->err, c->what, "reading HEAD blob");
	if (rc == 0 && fl) {
		git_blob_filter_options o;
		git_buf out = { 0 };
		git_blob_filter_options_init(&o, GIT_BLOB_FILTER_OPTIONS_VERSION);
		o.flags = 0;	/* binary or not, as the attributes say: as a checkout does */
		if (git_blob_filter(&out, blob, path, &o)) {
			rc = git_fail(c->err, c->what, "filtering HEAD blob");
		} else if (out.size == f->size) {
			struct bento_digest d;
			bento_digest_bytes(out.ptr, out.size, &d);
			*same = bento_digest_eq(&d, f->digest);
		}
		git_buf_dispose(&out);
	}
	/* A Git LFS pointer whose object is the bento's file. */
	if (rc == 0 && !*same && bsize < 200)
		*same = lfs_pointer_is(git_blob_rawcontent(blob), (size_t)git_blob_rawsize(blob),
				       f->digest, f->size);
	git_blob_free(blob);
	git_filter_list_free(fl);
	return rc;
}

/* Not in HEAD: staged, ignored or merely untracked. */
static int absent_status(struct checker *c, const char *path, enum bento_git_status *st)
{
	int ign = 0;

	if (c->index && git_index_get_bypath(c->index, path, 0)) {
		*st = BENTO_GIT_ADDED;
		return 0;
	}
	/*
	 * What is below an ignored directory is ignored (git cannot include
	 * it again), and files come sorted, so the directory's answer, asked
	 * once, serves all of its files: a .venv or a build tree of 20,000
	 * untracked files no longer costs a walk of the ignore rules each.
	 */
	const char *slash = strrchr(path, '/');
	size_t dlen = slash ? (size_t)(slash - path) : 0;
	if (dlen && !(c->ign_dir_known && c->ign_dir.len == dlen &&
		      memcmp(c->ign_dir.buf, path, dlen) == 0)) {
		bento_buf_reset(&c->ign_dir);
		bento_buf_add(&c->ign_dir, path, dlen);
		if (git_ignore_path_is_ignored(&c->ign_dir_ignored, c->repo, c->ign_dir.buf))
			return git_fail(c->err, c->what, "reading ignore rules");
		c->ign_dir_known = 1;
	}
	if (dlen && c->ign_dir_ignored)
		ign = 1;
	else if (git_ignore_path_is_ignored(&ign, c->repo, path))
		return git_fail(c->err, c->what, "reading ignore rules");
	*st = ign ? BENTO_GIT_IGNORED : BENTO_GIT_UNTRACKED;
	return 0;
}

/* root's place below the work tree: "" for the root itself, NULL outside. */
static const char *below_workdir(const struct checker *c, const char *root)
{
	size_t n = strlen(c->workdir);

	if (strncmp(root, c->workdir, n) != 0)
		return NULL;
	if (root[n] == '\0')
		return "";
	return root[n] == '/' ? root + n + 1 : NULL;
}

/* How f stands against HEAD: *in_head, or else *st. */
static int file_status(struct checker *c, const struct bento_git_file *f, int *in_head,
		       enum bento_git_status *st)
{
	const char *base = below_workdir(c, f->root);
	enum found found;
	git_oid blob;
	char *path;
	int rc;

	*in_head = 0;
	*st = BENTO_GIT_OUTSIDE;
	if (!base)
		return 0;
	path = *base ? bento_xasprintf("%s/%s", base, f->rel) : bento_xstrdup(f->rel);
	if ((rc = head_find(c, path, &blob, &found)) == 0) {
		if (found == FOUND_BLOB) {
			*st = BENTO_GIT_MODIFIED;
			rc = same_content(c, f, path, &blob, in_head);
		} else if (found == FOUND_SUBMODULE) {
			*st = BENTO_GIT_SUBMODULE;
		} else if (found != FOUND_OUTSIDE) {
			rc = absent_status(c, path, st);
		}
	}
	free(path);
	return rc;
}

static int check_file(struct checker *c, const struct bento_git_file *f)
{
	enum bento_git_status st;
	int in_head, rc = file_status(c, f, &in_head, &st);

	if (rc == 0 && !in_head)
		change_add(c, f->path, st);
	return rc;
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int in_bento(const struct checker *c, const char *path)
{
	return bsearch(&path, c->paths, c->n_paths, sizeof(*c->paths), str_cmp) != NULL;
}

/* Directory links of HEAD followed one inside another, at most (a loop ends sooner). */
#define LINK_DIRS_MAX 16

struct deleted_walk {
	struct checker *c;
	const struct bento_git_walk *w;
	const char *base;		/* w->root below the work tree */
	const char *under;		/* the bento-relative path of the tree walked, "" or "d/" */
	git_oid stack[LINK_DIRS_MAX + 1];	/* the trees being walked, outermost first */
	int depth;
	int rc;
};

static int walk_deleted(struct deleted_walk *d, git_tree *tree);

/* git_tree_walk callback: a file of HEAD under a walked directory that the bento lacks. */
static int deleted_cb(const char *dir, const git_tree_entry *e, void *payload)
{
	struct deleted_walk *d = payload;
	git_filemode_t mode = git_tree_entry_filemode(e);
	char *rel, *path;
	int want = 1;

	if (mode == GIT_FILEMODE_TREE || mode == GIT_FILEMODE_COMMIT)
		return 0;
	rel = bento_xasprintf("%s%s%s", d->under, dir, git_tree_entry_name(e));
	path = bento_xasprintf("%s%s", d->w->prefix, rel);
	if (mode == GIT_FILEMODE_LINK) {
		/* A link to a file of HEAD is that file; one to a directory, its files under it. */
		char *full = *d->base ? bento_xasprintf("%s/%s", d->base, rel) : bento_xstrdup(rel);
		enum found found;
		git_oid oid;
		d->rc = head_find(d->c, full, &oid, &found);
		free(full);
		want = d->rc == 0 && found == FOUND_BLOB;
		if (d->rc == 0 && found == FOUND_TREE && d->depth < LINK_DIRS_MAX) {
			int loop = 0;
			for (int i = 0; i <= d->depth; i++)
				loop |= git_oid_equal(&d->stack[i], &oid);
			git_tree *t = NULL;
			if (!loop && git_tree_lookup(&t, d->c->repo, &oid) == 0) {
				struct deleted_walk sub = *d;
				char *under = bento_xasprintf("%s/", rel);
				sub.under = under;
				sub.depth = d->depth + 1;
				git_oid_cpy(&sub.stack[sub.depth], &oid);
				d->rc = walk_deleted(&sub, t);
				free(under);
			} else if (!loop) {
				d->rc = git_fail(d->c->err, d->c->what, "reading HEAD tree");
			}
			git_tree_free(t);
		}
	}
	/* The bento's own files first: the rules may look at the disk. */
	if (want && !in_bento(d->c, path) && bento_collect_rules_match(d->w->rules, rel))
		change_add(d->c, path, BENTO_GIT_DELETED);
	free(rel);
	free(path);
	return d->rc ? -1 : 0;
}

static int walk_deleted(struct deleted_walk *d, git_tree *tree)
{
	if (git_tree_walk(tree, GIT_TREEWALK_PRE, deleted_cb, d) && !d->rc)
		d->rc = git_fail(d->c->err, d->c->what, "walking HEAD tree");
	return d->rc;
}

static int check_deleted(struct checker *c, const struct bento_git_walk *w)
{
	struct deleted_walk d = { .c = c, .w = w, .base = below_workdir(c, w->root), .under = "" };
	enum found found;
	git_tree *tree = NULL;
	int rc;

	if (!c->head || !d.base || !w->rules)
		return 0;
	if ((rc = head_find(c, d.base, &d.stack[0], &found)) || found != FOUND_TREE)
		return rc;
	if (git_tree_lookup(&tree, c->repo, &d.stack[0]))
		return git_fail(c->err, c->what, "reading HEAD tree");
	rc = walk_deleted(&d, tree);
	git_tree_free(tree);
	return rc;
}

static int change_cmp(const void *a, const void *b)
{
	return strcmp(((const struct bento_git_change *)a)->path,
		      ((const struct bento_git_change *)b)->path);
}

int bento_git_check_files(struct bento_git_state *g, const struct bento_git_check *in,
			  struct bento_error *err)
{
	struct checker c = { .err = err, .what = g->workdir ? g->workdir : g->gitdir };
	const struct bento_git_file *files = in->files;
	size_t n = in->n;
	git_commit *commit = NULL;
	enum bento_git_status bf_status = BENTO_GIT_OUTSIDE;
	int bf_in_head = in->bentofile == NULL;
	git_oid oid;
	int rc = 0;

	if (!g->is_repo)
		return 0;
	c.paths = bento_xcalloc(n + 1, sizeof(*c.paths));
	for (size_t i = 0; i < n; i++)
		c.paths[c.n_paths++] = files[i].path;
	qsort(c.paths, c.n_paths, sizeof(*c.paths), str_cmp);
	git_libgit2_init();
	if (!g->workdir) {
		/* A bare repository has no work tree: nothing of the bento is in it. */
		for (size_t i = 0; i < n; i++)
			change_add(&c, files[i].path, BENTO_GIT_OUTSIDE);
		goto done;
	}
	c.workdir = g->workdir;
	if (git_repository_open_ext(&c.repo, g->gitdir, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL) ||
	    git_repository_odb(&c.odb, c.repo) || git_repository_index(&c.index, c.repo)) {
		rc = git_fail(err, c.what, "opening repository");
		goto done;
	}
	if (g->commit && (git_oid_fromstr(&oid, g->commit) ||
			  git_commit_lookup(&commit, c.repo, &oid) ||
			  git_commit_tree(&c.head, commit))) {
		rc = git_fail(err, c.what, "reading HEAD commit");
		goto done;
	}
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = check_file(&c, &files[i]);
	for (size_t i = 0; i < in->n_walks && rc == 0; i++)
		rc = check_deleted(&c, &in->walks[i]);
	if (rc == 0 && in->bentofile)
		rc = file_status(&c, in->bentofile, &bf_in_head, &bf_status);
done:
	if (rc == 0) {
		g->bentofile_changed = !bf_in_head;
		g->bentofile_status = bf_status;
		if (c.n)
			qsort(c.v, c.n, sizeof(*c.v), change_cmp);
		changes_free(g->changes, g->n_changes);
		memset(g->counts, 0, sizeof(g->counts));
		for (size_t i = 0; i < c.n; i++)
			g->counts[c.v[i].status]++;
		g->changes = c.v;
		g->n_changes = c.n;
		g->checked = 1;
		g->dirty = c.n > 0 || g->bentofile_changed;
		c.v = NULL;
		c.n = 0;
	}
	changes_free(c.v, c.n);
	free(c.paths);
	bento_buf_release(&c.ign_dir);
	git_tree_free(c.head);
	git_commit_free(commit);
	git_index_free(c.index);
	git_odb_free(c.odb);
	git_repository_free(c.repo);
	git_libgit2_shutdown();
	return rc;
}

