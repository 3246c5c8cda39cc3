/*
 * lockfile.h - the lockfiles of a build context: their kind by name, and
 * the check that every requirement is pinned and hashed (lockfile.c).
 */
#ifndef BENTO_LOCKFILE_H
#define BENTO_LOCKFILE_H

#include <stddef.h>

#include "error.h"

/* Known lockfile kinds, by basename; NULL when name is not a lockfile. */
const char *bento_lockfile_kind(const char *basename);
/* e.g. "requirements.txt" -> "pip", "uv.lock" -> "uv", "poetry.lock" -> "poetry",
 * "conda-lock.yml" -> "conda", "package-lock.json" -> "npm", "Cargo.lock" ->
 * "cargo", "Pipfile.lock" -> "pipenv", "pnpm-lock.yaml" -> "pnpm",
 * "yarn.lock" -> "yarn", "go.sum" -> "go"; requirements*.txt -> "pip" */

/* One lockfile finding: an unpinned or unhashed requirement. */
struct bento_lockfile_issue {
	char *file;		/* as given */
	int line;		/* 1-based, 0 when unknown */
	char *what;		/* "requests>=2 is not pinned to an exact version (==)" */
};

/*
 * Check a lockfile's content for pins and hashes.  Appends findings to
 * *issues (caller frees with bento_lockfile_issues_free).  Returns 0 when the
 * file could be read and parsed (findings or not), <0 on I/O or parse error.
 */
int bento_lockfile_check(const char *path, const char *display, const char *kind,
			 struct bento_lockfile_issue **issues, size_t *n,
			 struct bento_error *err);
void bento_lockfile_issues_free(struct bento_lockfile_issue *issues, size_t n);

#endif
