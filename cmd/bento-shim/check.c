/*
 * The checks before start: bento.json parses exactly as libbento parses it,
 * a trusted key signed those very bytes, and the files on disk are the ones
 * it lists.  Each refusal is one line naming the path and what differs.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "cjson.h"
#include "fs.h"
#include "shim.h"

#define SIG_MAX (64u << 10)	/* a .minisig is ~300 bytes; anything huge is not one */

int shim_load_manifest(const struct shim_config *c, struct bento_manifest **m, char **json,
		       size_t *len)
{
	struct bento_error err = { 0 };
	struct bento_buf data = BENTO_BUF_INIT;
	char *path = bento_xasprintf("%s/bento.json", c->root);
	int rc = bento_read_file(path, BENTO_MANIFEST_MAX, &data, &err);

	if (rc == 0)
		rc = bento_manifest_parse(data.buf, data.len, path, m, &err);
	free(path);
	if (rc) {
		shim_log("%s", err.msg);
		bento_buf_release(&data);
		return SHIM_EXIT_MANIFEST;
	}
	*json = bento_buf_detach(&data, len);
	return 0;
}

/*
 * libbento validates service.envs and entrypoint; service.image is a set of
 * hints only the image writer and this shim read, so its types are checked
 * here, before anything relies on them.
 */
int shim_check_service(struct shim_config *c, const struct bento_manifest *m)
{
	const json_t *img = json_object_get(json_object_get(m->json, "service"), "image");
	const json_t *env, *ports, *wd, *v;
	const char *k;
	size_t i;

	json_object_foreach(json_object_get(json_object_get(m->json, "service"), "envs"), k, v)
		if (!*k || strchr(k, '=')) {
			shim_log("%s/bento.json: service.envs.%.100s: not a variable name", c->root, k);
			return SHIM_EXIT_MANIFEST;
		}
	if (!img)
		return 0;
	if (!json_is_object(img)) {
		shim_log("%s/bento.json: service.image must be an object", c->root);
		return SHIM_EXIT_MANIFEST;
	}
	wd = json_object_get(img, "workdir");
	if (wd && (!json_is_string(wd) || strlen(json_string_value(wd)) >= PATH_MAX)) {
		shim_log("%s/bento.json: service.image.workdir must be a path", c->root);
		return SHIM_EXIT_MANIFEST;
	}
	env = json_object_get(img, "env");
	if (env && !json_is_object(env)) {
		shim_log("%s/bento.json: service.image.env must be an object", c->root);
		return SHIM_EXIT_MANIFEST;
	}
	json_object_foreach((json_t *)env, k, v)
		if (!*k || strchr(k, '=') || !json_is_string(v)) {
			shim_log("%s/bento.json: service.image.env.%.100s: want a name without "
				 "'=' and a string value", c->root, k);
			return SHIM_EXIT_MANIFEST;
		}
	ports = json_object_get(img, "ports");
	if (ports && (!json_is_array(ports) || json_array_size(ports) > SHIM_MAX_PORTS)) {
		shim_log("%s/bento.json: service.image.ports must be a list of at most %d ports",
			 c->root, SHIM_MAX_PORTS);
		return SHIM_EXIT_MANIFEST;
	}
	json_array_foreach((json_t *)ports, i, v) {
		json_int_t p = json_is_integer(v) ? json_integer_value(v) : 0;
		if (p < 1 || p > 65535) {
			shim_log("%s/bento.json: service.image.ports[%zu] is not a port number",
				 c->root, i);
			return SHIM_EXIT_MANIFEST;
		}
		if (!c->service_ports_from_env)
			c->service_ports[c->n_service_ports++] = (int)p;
	}
	return 0;
}

/* ---- signatures ---- */

/*
 * Like bento verify (lib/trust.c): a signature that names a trusted key must
 * verify, so one bad signature refuses the bento even next to a good one
 * (it means someone altered bento.json or forged a signature).  Signatures
 * by other keys are not checked; malformed or misnamed ones are refused.
 */
static int check_one_sig(const struct shim_config *c, const struct bento_manifest *m,
			 const char *dir, const char *name, const char *json, size_t len, int *good,
			 struct bento_buf *others, char *signer, size_t signer_len)
{
	struct bento_error err = { 0 };
	struct bento_sig_info info = { 0 };
	unsigned char keyid[BENTO_KEYID_LEN];
	char id[BENTO_KEYID_HEXLEN + 1], *path = bento_xasprintf("%s/%s", dir, name);
	struct bento_buf sigbuf = BENTO_BUF_INIT;
	const char *sig;
	size_t siglen, i;
	int rc = bento_read_file(path, SIG_MAX, &sigbuf, &err);

	sig = sigbuf.buf;
	siglen = sigbuf.len;
	if (rc) {
		shim_log("%s", err.msg);
		rc = SHIM_EXIT_SIGNATURE;
		goto out;
	}
	/* The rule bento verify and import apply (lib/manifest.c). */
	if (bento_sig_keyid(sig, siglen, keyid, &err) ||
	    bento_signature_check(m, name, keyid, NULL, &err)) {
		shim_log("%s: %s", path, err.msg);
		rc = SHIM_EXIT_SIGNATURE;
		goto out;
	}
	bento_keyid_hex(keyid, id);
	for (i = 0; i < c->n_keys; i++)
		if (memcmp(c->keys[i].keyid, keyid, BENTO_KEYID_LEN) == 0)
			break;
	if (i == c->n_keys) {
		bento_buf_addf(others, "%s%s", others->len ? ", " : "", id);
		goto out;
	}
	if (bento_sig_verify(c->keys, c->n_keys, json, len, sig, siglen, &info, &err) ||
	    bento_signature_check(m, name, keyid, info.trusted_comment, &err)) {
		shim_log("%s: %s", path, err.msg);
		rc = SHIM_EXIT_SIGNATURE;
	} else if (!(*good)++) {
		snprintf(signer, signer_len, "%s", id);
	}
	bento_sig_info_release(&info);
out:
	bento_buf_release(&sigbuf);
	free(path);
	return rc;
}

int shim_check_signatures(const struct shim_config *c, const struct bento_manifest *m,
			  const char *json, size_t len, char *signer, size_t signer_len)
{
	struct bento_buf others = BENTO_BUF_INIT;
	char *dir = bento_xasprintf("%s/signatures", c->root), **names = NULL;
	size_t n = 0;
	int rc = bento_dir_list(dir, BENTO_SIG_SUFFIX, 0, &names, &n), good = 0;

	if (rc < 0 && rc != -ENOENT) {
		shim_log("%s: %s", dir, strerror(-rc));
		rc = SHIM_EXIT_SIGNATURE;
		goto out;
	}
	rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = check_one_sig(c, m, dir, names[i], json, len, &good, &others, signer,
				   signer_len);
	if (rc == 0 && !good) {
		if (others.len)
			shim_log("%s: no signature by a trusted key (only by %s)", dir, others.buf);
		else
			shim_log("%s: not signed; a signature by a trusted key is required", dir);
		rc = SHIM_EXIT_SIGNATURE;
	}
out:
	bento_strv_free(names, n);
	free(dir);
	bento_buf_release(&others);
	return rc;
}

/* ---- files ---- */

/*
 * Open path beneath root: symlinks inside the bento are followed, one that
 * leads out of it is refused (EXDEV).  Kernels or seccomp profiles without
 * openat2 get the same rule from realpath.
 */
static int open_beneath(int rootfd, const char *root, const char *rroot, const char *path,
			int flags)
{
	/* O_NONBLOCK: a FIFO planted under a listed name must not hang PID 1. */
	int extra = flags & O_PATH ? O_CLOEXEC : O_CLOEXEC | O_NONBLOCK;
	struct open_how how = {
		.flags = (uint64_t)(flags | extra),
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
	};
	char *full, *real;
	size_t rl;
	int fd = (int)syscall(SYS_openat2, rootfd, path, &how, sizeof(how));

	if (fd >= 0 || (errno != ENOSYS && errno != EPERM))
		return fd;
	full = bento_xasprintf("%s/%s", root, path);
	real = realpath(full, NULL);
	free(full);
	if (!real)
		return -1;
	rl = strlen(rroot);
	if (strncmp(real, rroot, rl) != 0 || (real[rl] != '/' && rl > 1)) {
		free(real);
		errno = EXDEV;
		return -1;
	}
	fd = open(real, flags | extra);
	free(real);
	return fd;
}

static int check_file(const struct shim_config *c, int rootfd, const char *rroot,
		      const struct bento_entry *e)
{
	const struct bento_file *f = e->file;
	struct bento_error err = { 0 };
	struct bento_digest got;
	struct stat st;
	char want[BENTO_DIGEST_STRLEN], have[BENTO_DIGEST_STRLEN];
	uint64_t size;
	int fd = open_beneath(rootfd, c->root, rroot, e->path,
			      c->verify == VERIFY_FULL ? O_RDONLY : O_PATH);
	int rc = SHIM_EXIT_FILES;

	bento_digest_str(&f->digest, want);
	if (fd < 0) {
		if (errno == ENOENT)
			shim_log("%s/%s: missing (bento.json lists %llu bytes, %s)", c->root,
				 e->path, (unsigned long long)f->size, want);
		else if (errno == EXDEV)
			shim_log("%s/%s: a symbolic link out of %s", c->root, e->path, c->root);
		else
			shim_log("%s/%s: %s", c->root, e->path, strerror(errno));
		return rc;
	}
	if (fstat(fd, &st)) {
		shim_log("%s/%s: %s", c->root, e->path, strerror(errno));
	} else if (!S_ISREG(st.st_mode)) {
		shim_log("%s/%s: not a regular file", c->root, e->path);
	} else if ((uint64_t)st.st_size != f->size) {
		shim_log("%s/%s: size %llu, bento.json says %llu", c->root, e->path,
			 (unsigned long long)st.st_size, (unsigned long long)f->size);
	} else if ((f->mode & 0100) && !(st.st_mode & S_IXUSR)) {
		shim_log("%s/%s: not executable, bento.json says mode %04o", c->root, e->path,
			 f->mode);
	} else if (c->verify != VERIFY_FULL) {
		rc = 0;
	} else if (bento_digest_fd(fd, e->path, &got, &size, &err)) {
		shim_log("%s/%s", c->root, err.msg);
	} else if (size != f->size) {
		shim_log("%s/%s: size changed while read (%llu bytes, bento.json says %llu)",
			 c->root, e->path, (unsigned long long)size, (unsigned long long)f->size);
	} else if (!bento_digest_eq(&got, &f->digest)) {
		bento_digest_str(&got, have);
		shim_log("%s/%s: digest %s, bento.json says %s", c->root, e->path, have, want);
	} else {
		rc = 0;
	}
	close(fd);
	return rc;
}

int shim_check_files(const struct shim_config *c, const struct bento_manifest *m)
{
	struct bento_entry *e = NULL;
	size_t n = 0;
	char *rroot = NULL;
	int rootfd, rc = 0;

	if (c->verify == VERIFY_OFF)
		return 0;
	rootfd = open(c->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0 || !(rroot = realpath(c->root, NULL))) {
		shim_log("%s: %s", c->root, strerror(errno));
		if (rootfd >= 0)
			close(rootfd);
		return SHIM_EXIT_FILES;
	}
	bento_manifest_entries(m, &e, &n);
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = check_file(c, rootfd, rroot, &e[i]);
	bento_entries_free(e, n);
	free(rroot);
	close(rootfd);
	return rc;
}
