/*
 * regconf.h - registry mirrors and rewrites, read the way podman, skopeo
 * and buildah read them: containers-registries.conf(5), version 2.
 *
 *   [[registry]]
 *   prefix = "docker.io"                 # what a reference starts with
 *   location = "registry.example:5000"   # where it is served instead
 *   insecure = false                     # http and unverified TLS allowed
 *   blocked = false                      # refuse every pull from it
 *   [[registry.mirror]]                  # tried in order, before location
 *   location = "127.0.0.1:5000/hub"
 *   insecure = true
 *   pull-from-mirror = "all"             # or "digest-only", "tag-only"
 *
 * The file is $CONTAINERS_REGISTRIES_CONF when set, else
 * $XDG_CONFIG_HOME/containers/registries.conf (~/.config when XDG_CONFIG_HOME
 * is unset) when it exists, else /etc/containers/registries.conf; then the
 * drop-ins of /etc/containers/registries.conf.d/ and the user's
 * containers/registries.conf.d/, *.conf in name order, whose [[registry]]
 * tables replace those of the same prefix.  A missing file is no mirrors.
 * Other keys (unqualified-search-registries, short-name-mode,
 * credential-helpers, [aliases]) are read and ignored: short names are
 * Docker Hub's (target.h).  Version 1's [registries.search] tables are
 * refused, naming the file.  Mirrors are for reading only: a push goes to
 * the reference as written.
 */
#ifndef BENTO_REGCONF_H
#define BENTO_REGCONF_H

#include <stddef.h>

#include "error.h"
#include "target.h"

enum bento_pull_from { BENTO_PULL_ALL, BENTO_PULL_DIGEST_ONLY, BENTO_PULL_TAG_ONLY };

struct bento_regconf_mirror {
	char *location;
	int insecure;
	enum bento_pull_from pull_from;
};

struct bento_regconf_registry {
	char *prefix;		/* as written, or the location when absent */
	char *location;		/* NULL: the prefix itself */
	int insecure, blocked;
	struct bento_regconf_mirror *mirrors;
	size_t n_mirrors;
};

struct bento_regconf {
	struct bento_regconf_registry *v;
	size_t n;
};

/*
 * Parse one file's text (name for messages) into c, its [[registry]]
 * tables replacing those of c with the same prefix.  -BENTO_E_INVALID
 * "NAME:LINE: REASON" on a syntax error, a key of the wrong type, a
 * mirror before any [[registry]], a prefix that is no reference or
 * wildcard, or a version 1 file.
 */
int bento_regconf_parse(const char *text, size_t len, const char *name, struct bento_regconf *c,
			struct bento_error *err);

/* The files above, in their order, into c (empty when there are none). */
int bento_regconf_load(struct bento_regconf *c, struct bento_error *err);

void bento_regconf_free(struct bento_regconf *c);

/*
 * Where to read ref from, best first: the mirrors of the [[registry]]
 * whose prefix matches ref longest (those pull-from-mirror allows for a
 * tag or a digest reference), then its location; just ref when none
 * matches.  Each is a new reference in *v (n of them; release each and
 * free *v), and its transport options in *opts (o with plain_http and
 * insecure set for an insecure entry; free *opts).  -BENTO_E_USAGE
 * "REF: blocked by registries.conf (prefix P)" for a blocked registry.
 */
int bento_regconf_candidates(const struct bento_regconf *c, const struct bento_target_ref *ref,
			     const struct bento_target_opts *o, struct bento_target_ref **v,
			     struct bento_target_opts **opts, size_t *n, struct bento_error *err);

/*
 * Open ref for reading and GET its manifest reference (tag or digest)
 * through the candidates above: each in turn until one answers, the next
 * tried when one is unreachable or lacks it (-BENTO_E_NETWORK,
 * -BENTO_E_NOTFOUND), as podman does; when all fail, the last one's error
 * with the mirrors tried and why.  *out is the session that answered and
 * *used and *used_opts its reference (release it) and options, for the
 * sessions that fetch the blobs; raw,
 * *media_type (new) and *digest as bento_target_manifest_get.
 */
int bento_target_open_read(const struct bento_target_ref *ref, const struct bento_target_opts *o,
			   const char *reference, struct bento_target **out,
			   struct bento_target_ref *used, struct bento_target_opts *used_opts,
			   struct bento_buf *raw, char **media_type,
			   struct bento_digest *digest, struct bento_error *err);

#endif
