#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "buf.h"
#include "dockercfg.h"

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

/* *root gets the parsed file, or a new empty object when the file does not exist. */
static int load(const char *path, json_t **root, struct bento_error *err)
{
	struct bento_buf b = BENTO_BUF_INIT;
	json_error_t jerr;
	char chunk[8192];
	ssize_t r;
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT) {
			*root = json_object();
			return 0;
		}
		return bento_error_errno(err, errno, "%s", path);
	}
	while ((r = read(fd, chunk, sizeof(chunk))) != 0) {
		if (r < 0) {
			if (errno == EINTR)
				continue;
			rc = bento_error_errno(err, errno, "%s", path);
			goto out;
		}
		if (b.len + (size_t)r > DOCKERCFG_MAX) {
			rc = bento_error_set(err, BENTO_E_INVALID, "%s: larger than 16 MiB", path);
			goto out;
		}
		bento_buf_add(&b, chunk, (size_t)r);
	}
	if (b.len == 0) {
		*root = json_object();
		goto out;
	}
	/* jansson's messages can quote the text near the error: keep them out, it may be a secret. */
	*root = json_loadb(b.buf, b.len, JSON_REJECT_DUPLICATES, &jerr);
	if (!*root) {
		rc = bento_error_set(err, BENTO_E_INVALID, "%s: malformed JSON at line %d", path, jerr.line);
		goto out;
	}
	if (!json_is_object(*root)) {
		json_decref(*root);
		*root = NULL;
		rc = bento_error_set(err, BENTO_E_INVALID, "%s: not a JSON object", path);
	}
out:
	close(fd);
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

int bento_dockercfg_get(const char *path, const char *host, char **user, char **pass,
			struct bento_error *err)
{
	char *file = bento_dockercfg_path(path);
	json_t *root = NULL, *auths, *entry;
	const char *key;
	int rc;

	if (!file)
		return bento_error_set(err, BENTO_E_NOTFOUND, "no Docker config: $HOME is not set");
	rc = load(file, &root, err);
	if (rc < 0)
		goto out;
	rc = bento_error_set(err, BENTO_E_NOTFOUND, "%s: no credentials for %s", file, host);
	auths = json_object_get(root, "auths");
	if (!json_is_object(auths))
		goto out;
	/* An exact key first, then the other spellings. */
	entry = json_object_get(auths, host);
	if (!json_is_object(entry)) {
		json_t *v;
		entry = NULL;
		json_object_foreach(auths, key, v) {
			if (json_is_object(v) && key_matches(key, host)) {
				entry = v;
				break;
			}
		}
	}
	if (!entry)
		goto out;
	if (json_is_string(json_object_get(entry, "auth")) &&
	    json_string_length(json_object_get(entry, "auth")) > 0) {
		if (decode_auth(json_string_value(json_object_get(entry, "auth")), user, pass) < 0) {
			rc = bento_error_set(err, BENTO_E_INVALID, "%s: the auth entry for %s is malformed",
					     file, host);
			goto out;
		}
		bento_error_clear(err);
		rc = 0;
	} else if (json_is_string(json_object_get(entry, "username")) &&
		   json_is_string(json_object_get(entry, "password"))) {
		*user = bento_xstrdup(json_string_value(json_object_get(entry, "username")));
		*pass = bento_xstrdup(json_string_value(json_object_get(entry, "password")));
		bento_error_clear(err);
		rc = 0;
	}
out:
	json_decref(root);
	free(file);
	return rc;
}

/* Replace file with root's JSON: tmp file in the same directory, fsync, rename, fsync the directory. */
static int store(const char *file, json_t *root, struct bento_error *err)
{
	char *dir = bento_xstrdup(file), *slash = strrchr(dir, '/'), *tmp = NULL, *text = NULL;
	int fd = -1, dfd, rc;

	if (slash && slash != dir)
		*slash = '\0';
	else
		strcpy(dir, slash ? "/" : ".");
	rc = bento_mkdir_p(dir, 0700, err);
	if (rc < 0)
		goto out;
	text = json_dumps(root, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
	if (!text)
		abort();
	tmp = bento_xasprintf("%s.tmp.%ld", file, (long)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		rc = bento_error_errno(err, errno, "%s", tmp);
		goto out;
	}
	if ((rc = bento_write_all(fd, text, strlen(text))) < 0 ||
	    (rc = bento_write_all(fd, "\n", 1)) < 0 || (fsync(fd) < 0 && (rc = -errno))) {
		rc = bento_error_errno(err, -rc, "%s", tmp);
		goto out;
	}
	if (close(fd) < 0) {
		fd = -1;
		rc = bento_error_errno(err, errno, "%s", tmp);
		goto out;
	}
	fd = -1;
	if (rename(tmp, file) < 0) {
		rc = bento_error_errno(err, errno, "%s", file);
		goto out;
	}
	free(tmp);
	tmp = NULL;
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (tmp) {
		unlink(tmp);
		free(tmp);
	}
	if (text) {
		OPENSSL_cleanse(text, strlen(text));
		free(text);
	}
	free(dir);
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
	int rc;

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
	auth = encode_auth(user, pass);
	json_object_set_new(auths, host, json_pack("{s:s}", "auth", auth));
	OPENSSL_cleanse(auth, strlen(auth));
	free(auth);
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
	int rc;

	if (!file)
		return bento_error_set(err, BENTO_E_NOTFOUND, "logout: $HOME is not set");
	rc = load(file, &root, err);
	if (rc < 0)
		goto out;
	auths = json_object_get(root, "auths");
	if (!json_is_object(auths) || drop_host(auths, host) == 0) {
		rc = bento_error_set(err, BENTO_E_NOTFOUND, "%s: not logged in to %s", file, host);
		goto out;
	}
	rc = store(file, root, err);
out:
	json_decref(root);
	free(file);
	return rc;
}
