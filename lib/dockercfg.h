/*
 * dockercfg.h - registry credentials in Docker's config.json, shared with
 * docker, podman, skopeo and crane: {"auths": {"HOST": {"auth":
 * base64("user:pass")}}}.  The file is $DOCKER_CONFIG/config.json, else
 * $HOME/.docker/config.json, unless a path is given.
 *
 * Secrets never appear in error messages.
 *
 * Credential helpers, as docker runs them: "credHelpers": {"HOST": NAME}
 * names docker-credential-NAME (found on $PATH) for HOST, and "credsStore":
 * NAME for every host whose auths entry holds no secret itself.  get runs
 * "docker-credential-NAME get" with HOST on stdin and reads {"Username",
 * "Secret"}; set runs "store" with {"ServerURL", "Username", "Secret"} and
 * leaves an empty auths entry; remove runs "erase".
 */
#ifndef BENTO_DOCKERCFG_H
#define BENTO_DOCKERCFG_H

#include "error.h"

/* The config.json path in effect for path (NULL: the default); new string, NULL without $HOME. */
char *bento_dockercfg_path(const char *path);

/*
 * The credentials for host ("host[:port]"; entries written as
 * "https://host", "host/v1/" etc. match too).  On success *user and *pass
 * are new strings (the caller frees them, ideally after wiping *pass).
 * Returns 0, -BENTO_E_NOTFOUND when there are none (no file or no entry),
 * -BENTO_E_INVALID for a malformed file, or -errno.
 */
int bento_dockercfg_get(const char *path, const char *host, char **user, char **pass,
			struct bento_error *err);

/*
 * Store credentials for host, keeping every other key of the file; the
 * file is replaced atomically with mode 0600 (its directory created 0700).
 * user must not contain ':'.  Returns 0, -BENTO_E_USAGE, -BENTO_E_INVALID
 * or -errno.
 */
int bento_dockercfg_set(const char *path, const char *host, const char *user, const char *pass,
			struct bento_error *err);

/* Forget host's credentials (every spelling of it); -BENTO_E_NOTFOUND when there were none. */
int bento_dockercfg_remove(const char *path, const char *host, struct bento_error *err);

#endif
