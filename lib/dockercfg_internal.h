/*
 * dockercfg_internal.h - the parsers of dockercfg.c as pure functions, for
 * dockercfg.c itself, the unit tests and tests/fuzz/fuzz_dockercfg.c: the
 * text of Docker's config.json, what it says for a host, and a credential
 * helper's answer.  All input is untrusted; no message quotes it (it may
 * hold a secret).
 */
#ifndef BENTO_DOCKERCFG_INTERNAL_H
#define BENTO_DOCKERCFG_INTERNAL_H

#include <stddef.h>

#include <jansson.h>

#include "error.h"

/*
 * config.json's n bytes (as read from file, which names it in errors):
 * *root a new object (an empty text is an empty object).  0, or
 * -BENTO_E_INVALID: not JSON (the line is given, never the text), a key
 * twice, not an object.
 */
int bento_dockercfg_parse(const char *file, const char *text, size_t n, json_t **root,
			  struct bento_error *err);

/*
 * What root says for host: 1 with *helper (borrowed from root) when a
 * credential helper is to be asked (credHelpers names one for host, or
 * credsStore and auths holds no secret for it); 0 with *user and *pass
 * (new strings) from auths; -BENTO_E_NOTFOUND when there is nothing;
 * -BENTO_E_INVALID for a malformed auth entry or a helper name that is not
 * a program name ([A-Za-z0-9._-], not starting with '.').
 */
int bento_dockercfg_lookup(const json_t *root, const char *file, const char *host,
			   const char **helper, char **user, char **pass, struct bento_error *err);

/*
 * A helper's answer to "get": {"Username": U, "Secret": S}, both strings.
 * 0 with *user and *pass (new strings; wipe *pass), or -1.
 */
int bento_dockercfg_helper_answer(const char *out, size_t n, char **user, char **pass);

#endif
