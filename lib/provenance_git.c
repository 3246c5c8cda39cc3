/*
 * provenance_git.c - the git state of a build context (libgit2).
 */
#include <stdlib.h>
#include <string.h>

#include <git2.h>

#include "provenance.h"

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

/*
 * Dirty means a tracked file differs from HEAD, in the index or the work
 * tree.  Untracked files are left out on purpose: build outputs and editor
 * droppings would otherwise mark nearly every build dirty, and a file git
 * does not track is not part of the commit the provenance names anyway.
 */
static int git_is_dirty(git_repository *repo, const char *dir, int *dirty,
			struct bento_error *err)
{
	git_status_options opts;
	git_status_list *list = NULL;
	const unsigned mask = GIT_STATUS_INDEX_NEW | GIT_STATUS_INDEX_MODIFIED |
			      GIT_STATUS_INDEX_DELETED | GIT_STATUS_INDEX_RENAMED |
			      GIT_STATUS_INDEX_TYPECHANGE | GIT_STATUS_WT_MODIFIED |
			      GIT_STATUS_WT_DELETED | GIT_STATUS_WT_TYPECHANGE |
			      GIT_STATUS_WT_RENAMED | GIT_STATUS_CONFLICTED;

	*dirty = 0;
	if (git_repository_is_bare(repo))
		return 0;
	git_status_options_init(&opts, GIT_STATUS_OPTIONS_VERSION);
	opts.show = GIT_STATUS_SHOW_INDEX_AND_WORKDIR;
	opts.flags = 0;
	if (git_status_list_new(&list, repo, &opts))
		return git_fail(err, dir, "reading status");
	for (size_t i = 0, n = git_status_list_entrycount(list); i < n && !*dirty; i++) {
		const git_status_entry *e = git_status_byindex(list, i);
		if (e && (e->status & mask))
			*dirty = 1;
	}
	git_status_list_free(list);
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
	if ((rc = git_remote_url_of(repo, dir, &g->remote, err)) ||
	    (rc = git_is_dirty(repo, dir, &g->dirty, err)))
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

void bento_git_state_release(struct bento_git_state *g)
{
	free(g->commit);
	free(g->tree);
	free(g->branch);
	free(g->remote);
	memset(g, 0, sizeof(*g));
}

