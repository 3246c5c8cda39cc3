#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "buf.h"
#include "dockercfg.h"
#include "dockercfg_internal.h"
#include "fs.h"

#define DOCKERCFG_MAX (16u << 20)

char *bento_dockercfg_path(const char *path)
{
	const char *dir = getenv("DOCKER_CONFIG"), *home;

	if (path)
		return bento_xstrdup(path);
	if (dir && *dir)
		return bento_xasprintf("%s/config.json", dir);
	home = getenv("HOME");
	if (!home || !*home)
		return NULL;
	return bento_xasprintf("%s/.docker/config.json", home);
}

/*
 * Entries are keyed by whatever the tool that wrote them chose: "host",
 * "https://host", "http://host/v1/".  Reduce a key to its host[:port].
 */
static int key_matches(const char *key, const char *host)
{
	const char *p = key;
	size_t n;

	if (strncmp(p, "https://", 8) == 0)
		p += 8;
	else if (strncmp(p, "http://", 7) == 0)
		p += 7;
	n = strcspn(p, "/");
	if (strlen(host) == n && strncmp(p, host, n) == 0)
		return 1;
	/* Docker Hub's credentials live under its index name. */
	if (strcmp(host, "registry-1.docker.io") == 0 &&
	    ((n == 15 && strncmp(p, "index.docker.io", n) == 0) ||
	     (n == 9 && strncmp(p, "docker.io", n) == 0)))
		return 1;
	return 0;
}

int bento_dockercfg_parse(const char *file, const char *text, size_t n, json_t **root,
			  struct bento_error *err)
{
	json_error_t jerr;

	if (n == 0) {
		*root = json_object();
		return 0;
	}
	/* jansson's messages can quote the text near the error: keep them out, it may be a secret. */
	*root = json_loadb(text, n, JSON_REJECT_DUPLICATES, &jerr);
	if (!*root)
		return bento_error_set(err, BENTO_E_INVALID, "%s: malformed JSON at line %d", file, jerr.line);
	if (!json_is_object(*root)) {
		json_decref(*root);
		*root = NULL;
		return bento_error_set(err, BENTO_E_INVALID, "%s: not a JSON object", file);
	}
	return 0;
}

/* *root gets the parsed file, or a new empty object when the file does not exist. */
static int load(const char *path, json_t **root, struct bento_error *err)
{
	struct bento_buf b = BENTO_BUF_INIT;
	int rc;

	rc = bento_read_file(path, DOCKERCFG_MAX, &b, err);
	if (rc == -ENOENT) {
		*root = json_object();
		return 0;
	}
	if (rc == 0)
		rc = bento_dockercfg_parse(path, b.buf, b.len, root, err);
	OPENSSL_cleanse(b.buf, b.len);
	bento_buf_release(&b);
	return rc;
}

/* base64 of user:pass, new string. */
static char *encode_auth(const char *user, const char *pass)
{
	char *plain = bento_xasprintf("%s:%s", user, pass);
	size_t n = strlen(plain);
	char *out = bento_xmalloc(4 * ((n + 2) / 3) + 1);

	EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)plain, (int)n);
	OPENSSL_cleanse(plain, n);
	free(plain);
	return out;
}

/* Decode base64 "user:pass"; 0 or -1 when malformed. */
static int decode_auth(const char *b64, char **user, char **pass)
{
	size_t n = strlen(b64), pad = 0;
	unsigned char *out;
	char *colon;
	int len;

	if (n == 0 || n % 4 != 0 || n > 65536)
		return -1;
	out = bento_xmalloc(n / 4 * 3 + 1);
	len = EVP_DecodeBlock(out, (const unsigned char *)b64, (int)n);
	if (len < 0) {
		free(out);
		return -1;
	}
	/* EVP_DecodeBlock counts the padding as zero bytes. */
	if (b64[n - 1] == '=')
		pad++;
	if (b64[n - 2] == '=')
		pad++;
	len -= (int)pad;
	out[len] = '\0';
	colon = memchr(out, ':', (size_t)len);
	if (!colon || strlen((char *)out) != (size_t)len) {
		OPENSSL_cleanse(out, (size_t)len);
		free(out);
		return -1;
	}
	*user = bento_xstrndup((char *)out, (size_t)(colon - (char *)out));
	*pass = bento_xstrdup(colon + 1);
	OPENSSL_cleanse(out, (size_t)len);
	free(out);
	return 0;
}

/* auths' entry for host: the exact key first, then the other spellings; NULL if none. */
static json_t *find_entry(const json_t *auths, const char *host)
{
	const char *key;
	json_t *v;

	if (!json_is_object(auths))
		return NULL;
	v = json_object_get(auths, host);
	if (json_is_object(v))
		return v;
	json_object_foreach((json_t *)auths, key, v)
		if (json_is_object(v) && key_matches(key, host))
			return v;
	return NULL;
}

/* The entry holds a secret itself ("auth", or "username" and "password"). */
static int inline_secret(const json_t *e)
{
	return (json_is_string(json_object_get(e, "auth")) &&
		json_string_length(json_object_get(e, "auth")) > 0) ||
	       (json_is_string(json_object_get(e, "username")) &&
		json_is_string(json_object_get(e, "password")));
}

static int has_inline_auth(const json_t *root, const char *host)
{
	const json_t *e = find_entry(json_object_get(root, "auths"), host);

	return e && inline_secret(e);
}

/* ---- credential helpers (docker-credential-NAME get|store|erase) ---- */

/* A helper name is the tail of a program name looked up on $PATH: no '/', no leading '.'. */
static int helper_name_ok(const char *name)
{
	return name[0] && name[0] != '.' && strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
				     "0123456789._-") == strlen(name);
}

#define HELPER_OUT_MAX (64u << 10)

extern char **environ;

/*
 * Run docker-credential-<name> <verb> with input on its stdin; its stdout
 * (at most HELPER_OUT_MAX) into out.  0 when it exited 0; 1 when it exited
 * otherwise (out holds what it said); -errno when it could not be run
 * (-EINVAL: name is not a program name).
 */
static int run_helper(const char *name, const char *verb, const char *input, struct bento_buf *out)
{
	if (!helper_name_ok(name))
		return -EINVAL;
	char *prog = bento_xasprintf("docker-credential-%s", name);
	char *argv[] = { prog, (char *)verb, NULL };
	int in[2] = { -1, -1 }, outp[2] = { -1, -1 }, status, rc = 0;
	posix_spawn_file_actions_t fa;
	pid_t pid;
	char chunk[4096];
	ssize_t k;

	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(outp, O_CLOEXEC) < 0) {
		rc = -errno;
		goto out;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, outp[1], 1);
	rc = -posix_spawnp(&pid, prog, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(in[0]);
	close(outp[1]);
	in[0] = outp[1] = -1;
	if (rc)
		goto out;
	/* A helper that exits without reading its input must not kill us. */
	{
		struct sigaction ign = { .sa_handler = SIG_IGN }, old;
		sigaction(SIGPIPE, &ign, &old);
		(void)bento_write_all(in[1], input, strlen(input));
		sigaction(SIGPIPE, &old, NULL);
	}
	close(in[1]);
	in[1] = -1;
	while ((k = read(outp[0], chunk, sizeof(chunk))) > 0 || (k < 0 && errno == EINTR))
		if (k > 0 && out->len + (size_t)k <= HELPER_OUT_MAX)
			bento_buf_add(out, chunk, (size_t)k);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	rc = WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
out:
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (outp[i] >= 0)
			close(outp[i]);
	}
	free(prog);
	return rc;
}

/* The helper config.json names for host: credHelpers[host], else credsStore; NULL if none. */
static const char *helper_for(const json_t *root, const char *host, int *from_store)
{
	const json_t *h = json_object_get(root, "credHelpers");
	const char *key;
	json_t *v;

	*from_store = 0;
	if (json_is_object(h)) {
		if (json_is_string(json_object_get(h, host)))
			return json_string_value(json_object_get(h, host));
		json_object_foreach((json_t *)h, key, v)
			if (json_is_string(v) && key_matches(key, host))
				return json_string_value(v);
	}
	*from_store = 1;
	return json_is_string(json_object_get(root, "credsStore")) &&
			       json_string_length(json_object_get(root, "credsStore"))
		       ? json_string_value(json_object_get(root, "credsStore"))
		       : NULL;
}

static int helper_get(const char *file, const char *name, const char *host, char **user,
		      char **pass, struct bento_error *err)
{
	struct bento_buf out = BENTO_BUF_INIT;
	int rc = run_helper(name, "get", host, &out);

	if (rc == -ENOENT) {
		rc = bento_error_set(err, BENTO_E_FAIL, "%s: credential helper docker-credential-%s is not on $PATH",
				     file, name);
		goto done;
	}
	if (rc < 0) {
		rc = bento_error_errno(err, -rc, "%s: credential helper docker-credential-%s", file, name);
		goto done;
	}
	if (rc == 1) {
		/* "credentials not found in native keychain" and the like */
		rc = bento_error_set(err, BENTO_E_NOTFOUND, "%s: no credentials for %s (docker-credential-%s)",
				     file, host, name);
		goto done;
	}
	if (bento_dockercfg_helper_answer(out.buf, out.len, user, pass) < 0) {
		rc = bento_error_set(err, BENTO_E_INVALID,
				     "%s: docker-credential-%s get %s: not a {Username, Secret} object",
				     file, name, host);
		goto done;
	}
	bento_error_clear(err);
	rc = 0;
done:
	OPENSSL_cleanse(out.buf, out.len);
	bento_buf_release(&out);
	return rc;
}

int bento_dockercfg_helper_answer(const char *out, size_t n, char **user, char **pass)
{
	json_t *j = json_loadb(out, n, 0, NULL), *u, *p;
	int rc = -1;

	u = json_object_get(j, "Username");
	p = json_object_get(j, "Secret");
	if (json_is_object(j) && json_is_string(u) && json_is_string(p)) {
		*user = bento_xstrndup(json_string_value(u), json_string_length(u));
		*pass = bento_xstrndup(json_string_value(p), json_string_length(p));
		rc = 0;
	}
	json_decref(j);
	return rc;
}

int bento_dockercfg_lookup(const json_t *root, const char *file, const char *host,
			   const char **helper, char **user, char **pass, struct bento_error *err)
{
	const json_t *entry;
	const char *h;
	int from_store;

	/* a helper named for this host wins; the default store when auths holds no secret */
	h = helper_for(root, host, &from_store);
	if (h && (!from_store || !has_inline_auth(root, host))) {
		if (!helper_name_ok(h))
			return bento_error_set(err, BENTO_E_INVALID,
					       "%s: the credential helper for %s is not a program name",
					       file, host);
		*helper = h;
		return 1;
	}
	entry = find_entry(json_object_get(root, "auths"), host);
	if (entry && json_is_string(json_object_get(entry, "auth")) &&
	    json_string_length(json_object_get(entry, "auth")) > 0) {
		if (decode_auth(json_string_value(json_object_get(entry, "auth")), user, pass) < 0)
			return bento_error_set(err, BENTO_E_INVALID, "%s: the auth entry for %s is malformed",
					       file, host);
		return 0;
	}
	if (entry && json_is_string(json_object_get(entry, "username")) &&
	    json_is_string(json_object_get(entry, "password"))) {
		*user = bento_xstrdup(json_string_value(json_object_get(entry, "username")));
		*pass = bento_xstrdup(json_string_value(json_object_get(entry, "password")));
		return 0;
	}
	return bento_error_set(err, BENTO_E_NOTFOUND, "%s: no credentials for %s", file, host);
}

int bento_dockercfg_get(const char *path, const char *host, char **user, char **pass,
			struct bento_error *err)
{
	char *file = bento_dockercfg_path(path);
	json_t *root = NULL;
	const char *helper = NULL;
	int rc;

	if (!file)
		return bento_error_set(err, BENTO_E_NOTFOUND, "no Docker config: $HOME is not set");
	rc = load(file, &root, err);
	if (rc == 0)
		rc = bento_dockercfg_lookup(root, file, host, &helper, user, pass, err);
	if (rc == 1)
		rc = helper_get(file, helper, host, user, pass, err);
	json_decref(root);
	free(file);
	return rc;
}

/* Replace file with root's JSON (atomic and durable, mode 0600: it holds credentials). */
static int store(const char *file, json_t *root, struct bento_error *err)
{
	char *dir = bento_xstrdup(file), *slash = strrchr(dir, '/'), *text;
	struct bento_atomic a;
	size_t n;
	int rc;

	if (slash && slash != dir)
		*slash = '\0';
	else
		strcpy(dir, slash ? "/" : ".");
	rc = bento_mkdir_p(dir, 0700, err);
	free(dir);
	if (rc < 0)
		return rc;
	text = json_dumps(root, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
	if (!text)
		abort();
	n = strlen(text);
	if ((rc = bento_atomic_open(&a, file, NULL, 0600, err)) == 0) {
		if ((rc = bento_atomic_write(&a, text, n, err)) == 0 &&
		    (rc = bento_atomic_write(&a, "\n", 1, err)) == 0)
			rc = bento_atomic_commit(&a, 0, err);
	}
	OPENSSL_cleanse(text, n);
	free(text);
	return rc;
}

/* Delete every entry of auths that names host; the count. */
static int drop_host(json_t *auths, const char *host)
{
	const char *key;
	json_t *v;
	void *tmp;
	int n = 0;

	json_object_foreach_safe(auths, tmp, key, v) {
		if (key_matches(key, host)) {
			json_object_del(auths, key);
			n++;
		}
	}
	return n;
}

int bento_dockercfg_set(const char *path, const char *host, const char *user, const char *pass,
			struct bento_error *err)
{
	char *file, *auth;
	json_t *root = NULL, *auths;
	const char *helper;
	int rc, from_store;

	if (!host || !*host || strchr(host, '/'))
		return bento_error_set(err, BENTO_E_USAGE, "login: '%s' is not a registry host",
				       host ? host : "");
	if (!user || !*user || strchr(user, ':'))
		return bento_error_set(err, BENTO_E_USAGE, "login: the user name must be non-empty and without ':'");
	if (!pass || !*pass)
		return bento_error_set(err, BENTO_E_USAGE, "login: empty password");
	file = bento_dockercfg_path(path);
	if (!file)
		return bento_error_set(err, BENTO_E_USAGE, "login: $HOME is not set");
	rc = load(file, &root, err);
	if (rc < 0)
		goto out;
	auths = json_object_get(root, "auths");
	if (!auths) {
		auths = json_object();
		json_object_set_new(root, "auths", auths);
	} else if (!json_is_object(auths)) {
		rc = bento_error_set(err, BENTO_E_INVALID, "%s: \"auths\" is not an object", file);
		goto out;
	}
	drop_host(auths, host);
	helper = helper_for(root, host, &from_store);
	if (helper) {
		/* the secret goes to the helper; auths keeps an empty entry, as docker writes it */
		json_t *in = json_pack("{s:s, s:s, s:s}", "ServerURL", host, "Username", user,
				       "Secret", pass);
		char *text = json_dumps(in, JSON_COMPACT);
		struct bento_buf out = BENTO_BUF_INIT;

		rc = run_helper(helper, "store", text, &out);
		OPENSSL_cleanse(text, strlen(text));
		free(text);
		json_decref(in);
		if (rc == -ENOENT)
			rc = bento_error_set(err, BENTO_E_FAIL,
					     "credential helper docker-credential-%s is not on $PATH",
					     helper);
		else if (rc)
			rc = rc < 0 ? bento_error_errno(err, -rc, "credential helper docker-credential-%s",
							helper)
				    : bento_error_set(err, BENTO_E_FAIL,
						      "docker-credential-%s store %s failed: %.200s",
						      helper, host, out.buf);
		bento_buf_release(&out);
		if (rc)
			goto out;
		json_object_set_new(auths, host, json_object());
	} else {
		auth = encode_auth(user, pass);
		json_object_set_new(auths, host, json_pack("{s:s}", "auth", auth));
		OPENSSL_cleanse(auth, strlen(auth));
		free(auth);
	}
	rc = store(file, root, err);
out:
	json_decref(root);
	free(file);
	return rc;
}

int bento_dockercfg_remove(const char *path, const char *host, struct bento_error *err)
{
	char *file = bento_dockercfg_path(path);
	json_t *root = NULL, *auths;
	const char *helper;
	int rc, from_store, erased = 0;

	if (!file)
		return bento_error_set(err, BENTO_E_NOTFOUND, "logout: $HOME is not set");
	rc = load(file, &root, err);
	if (rc < 0)
		goto out;
	auths = json_object_get(root, "auths");
	helper = helper_for(root, host, &from_store);
	if (helper) {
		struct bento_buf out = BENTO_BUF_INIT;
		erased = run_helper(helper, "erase", host, &out) == 0;
		bento_buf_release(&out);
	}
	if ((!json_is_object(auths) || drop_host(auths, host) == 0) && !erased) {
		rc = bento_error_set(err, BENTO_E_NOTFOUND, "%s: not logged in to %s", file, host);
		goto out;
	}
	rc = store(file, root, err);
out:
	json_decref(root);
	free(file);
	return rc;
}
