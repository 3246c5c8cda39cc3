#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "archive.h"
#include "bundle.h"
#include "cjson.h"
#include "history.h"
#include "fs.h"
#include "image.h"
#include "image_internal.h"
#include "manifest.h"
#include "oci.h"
#include "regconf.h"
#include "sign.h"
#include "transfer.h"

#define OCI_LAYER_GZIP "application/vnd.oci.image.layer.v1.tar+gzip"
#define OCI_LAYER_ZSTD "application/vnd.oci.image.layer.v1.tar+zstd"
#define CONFIG_MAX (4u << 20)
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

void bento_image_result_release(struct bento_image_result *r)
{
	if (!r)
		return;
	free(r->output);
	free(r->base);
	free(r->platform);
	free(r->layers);
	memset(r, 0, sizeof(*r));
}

/* ---- the blobs of an image ---- */

enum src_kind {
	SRC_MEM,	/* bytes in memory: config, shim and meta layers, manifest */
	SRC_FILE,	/* a file holding exactly the blob: a base layer */
	SRC_LAYER,	/* a bento layer, generated from the store's blobs */
};

struct iblob {
	enum src_kind kind;
	const char *role;
	const char *media_type;
	struct bento_digest digest;	/* for SRC_LAYER filled by oci.c when needed */
	uint64_t size;
	struct bento_digest diff_id;	/* of the uncompressed tar */
	struct bento_buf mem;
	char *path;
	struct bento_layer *layer;	/* borrowed from image.layers */
	json_t *annotations;		/* owned, may be NULL */
	int written;
	int rc;				/* a worker's result */
	struct bento_error err;
};

struct image {
	struct bento_store *s;
	const struct bento_image_opts *o;
	struct bento_buf json;
	struct bento_manifest *m;
	struct bento_layer *layers;
	size_t n_layers;
	struct bento_attachment *sigs, *atts;
	size_t n_sigs, n_atts;
	char *os, *arch, *variant;
	/* the base, when not scratch */
	const char *base_name;
	struct bento_target_ref base_ref;
	int have_base;
	struct bento_digest base_digest;
	json_t *base_config;
	char *tmpdir;			/* downloaded base blobs */
	/* the image */
	struct iblob *v;		/* layers in order */
	size_t n;
	struct iblob config;
	struct bento_buf manifest;
	struct bento_digest manifest_digest;
	char *source, *revision;	/* from the provenance */
	struct bento_digest shim_digest;
	struct bento_digest provenance;
};

static struct iblob *add_blob(struct image *im, enum src_kind kind, const char *role,
			      const char *media_type)
{
	struct iblob *b;

	im->v = bento_xrealloc(im->v, (im->n + 1) * sizeof(*im->v));
	b = &im->v[im->n++];
	memset(b, 0, sizeof(*b));
	b->kind = kind;
	b->role = role;
	b->media_type = media_type;
	bento_buf_init(&b->mem);
	return b;
}

static void blob_release(struct iblob *b)
{
	bento_buf_release(&b->mem);
	free(b->path);
	json_decref(b->annotations);
}

static void image_release(struct image *im)
{
	for (size_t i = 0; i < im->n; i++) {
		if (im->v[i].kind == SRC_FILE && im->tmpdir && im->v[i].path &&
		    strncmp(im->v[i].path, im->tmpdir, strlen(im->tmpdir)) == 0)
			unlink(im->v[i].path);
		blob_release(&im->v[i]);
	}
	if (im->tmpdir)
		rmdir(im->tmpdir);
	free(im->v);
	blob_release(&im->config);
	bento_buf_release(&im->manifest);
	bento_layers_free(im->layers, im->n_layers);
	bento_manifest_free(im->m);
	bento_buf_release(&im->json);
	bento_attachments_free(im->sigs, im->n_sigs);
	bento_attachments_free(im->atts, im->n_atts);
	bento_target_ref_release(&im->base_ref);
	json_decref(im->base_config);
	free(im->tmpdir);
	free(im->os);
	free(im->arch);
	free(im->variant);
	free(im->source);
	free(im->revision);
}

/* ---- the platform, from the shim's ELF header ---- */

static uint16_t le16(const unsigned char *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint64_t le64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/*
 * The architecture the shim runs on (OCI's names) and whether it is
 * static: an image FROM scratch has no dynamic loader.
 */
static int shim_inspect(int fd, const char *path, const char **arch, int *is_static,
			struct bento_error *err)
{
	unsigned char h[64], ph[56];
	uint64_t phoff;
	uint16_t machine, phentsize, phnum;

	if (pread(fd, h, sizeof(h), 0) != (ssize_t)sizeof(h) || memcmp(h, "\177ELF", 4) != 0 ||
	    h[4] != 2 || h[5] != 1)
		return bento_error_set(err, BENTO_E_INVALID,
				       "%s: not a 64-bit little-endian ELF executable", path);
	machine = le16(h + 18);
	switch (machine) {
	case 62: *arch = "amd64"; break;
	case 183: *arch = "arm64"; break;
	case 243: *arch = "riscv64"; break;
	case 21: *arch = "ppc64le"; break;
	default:
		return bento_error_set(err, BENTO_E_INVALID, "%s: unknown ELF machine %u", path,
				       machine);
	}
	phoff = le64(h + 32);
	phentsize = le16(h + 54);
	phnum = le16(h + 56);
	*is_static = 1;
	for (uint16_t i = 0; i < phnum && phentsize >= 4; i++) {
		if (pread(fd, ph, 4, (off_t)(phoff + (uint64_t)i * phentsize)) != 4)
			return bento_error_set(err, BENTO_E_INVALID, "%s: truncated ELF", path);
		if (ph[0] == 3 && ph[1] == 0 && ph[2] == 0 && ph[3] == 0)	/* PT_INTERP */
			*is_static = 0;
	}
	return 0;
}

/* "os/arch[/variant]" */
static int platform_parse(const char *p, char **os, char **arch, char **variant,
			  struct bento_error *err)
{
	const char *a = strchr(p, '/'), *v = a ? strchr(a + 1, '/') : NULL;

	if (!a || a == p || !a[1] || a[1] == '/' || (v && (!v[1] || strchr(v + 1, '/'))))
		return bento_error_set(err, BENTO_E_USAGE,
				       "--platform %s: wants OS/ARCH[/VARIANT], e.g. linux/amd64", p);
	*os = bento_xstrndup(p, (size_t)(a - p));
	*arch = v ? bento_xstrndup(a + 1, (size_t)(v - a - 1)) : bento_xstrdup(a + 1);
	*variant = v ? bento_xstrdup(v + 1) : NULL;
	return 0;
}

/* ---- small layers made in memory: the shim, the meta layer ---- */

static int buf_write(void *ctx, const void *p, size_t n)
{
	bento_buf_add(ctx, p, n);
	return 0;
}

/* The shim layer: usr/local/bin/bento-shim, mtime 0, the same in every image. */
static int shim_layer(struct image *im, struct iblob *b, struct bento_error *err)
{
	const char *path = im->o->shim;
	struct bento_archive_writer *w = NULL;
	const char *arch;
	struct stat st;
	int fd, is_static, rc;

	if (!path)
		return bento_error_set(err, BENTO_E_NOTFOUND, "bento-shim: not found");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return bento_error_errno(err, errno, "bento-shim %s", path);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return bento_error_set(err, BENTO_E_INVALID, "bento-shim %s: not a regular file", path);
	}
	if ((rc = shim_inspect(fd, path, &arch, &is_static, err)) ||
	    (rc = bento_digest_fd(fd, path, &im->shim_digest, NULL, err)) ||
	    (lseek(fd, 0, SEEK_SET) < 0 && (rc = bento_error_errno(err, errno, "%s", path))))
		goto out;
	if (strcmp(arch, im->arch) != 0) {
		rc = bento_error_set(err, BENTO_E_INVALID,
				     "bento-shim %s is for %s, the image for %s/%s: give --shim built for it",
				     path, arch, im->os, im->arch);
		goto out;
	}
	if (!is_static && !im->have_base) {
		rc = bento_error_set(err, BENTO_E_INVALID,
				     "bento-shim %s is dynamically linked and the base is scratch, "
				     "which has no dynamic loader: use a static shim", path);
		goto out;
	}
	if ((rc = bento_archive_writer_open_cb(buf_write, &b->mem, BENTO_COMP_NONE, 0, &w, err)) ||
	    (rc = bento_archive_write_dir(w, "usr", err)) ||
	    (rc = bento_archive_write_dir(w, "usr/local", err)) ||
	    (rc = bento_archive_write_dir(w, "usr/local/bin", err)) ||
	    (rc = bento_archive_write_fd(w, &BENTO_SHIM_PATH[1], 0755, fd, (uint64_t)st.st_size, err)) ||
	    (rc = bento_archive_writer_close(w, err)))
		goto out;
	bento_digest_bytes(b->mem.buf, b->mem.len, &b->digest);
	b->diff_id = b->digest;
	b->size = b->mem.len;
out:
	bento_archive_writer_free(w);
	close(fd);
	return rc;
}

static int meta_layer(struct image *im, struct iblob *b, struct bento_error *err)
{
	struct bento_archive_writer *w = NULL;
	int64_t mtime = 0;
	int rc;

	if (im->m->created)
		bento_time_parse(im->m->created, &mtime);
	if ((rc = bento_archive_writer_open_cb(buf_write, &b->mem, BENTO_COMP_NONE, mtime, &w, err)) ||
	    (rc = bento_archive_write_dir(w, "bento", err)))
		goto out;
	/* bytewise path order: attestations/, bento.json, signatures/ */
	if ((im->n_atts && (rc = bento_archive_write_dir(w, "bento/attestations", err))) ||
	    (rc = bento_write_attachments(w, "bento/attestations", "", im->atts, im->n_atts, err)) ||
	    (rc = bento_archive_write_bytes(w, "bento/bento.json", 0644, im->json.buf, im->json.len,
					    err)) ||
	    (im->n_sigs && (rc = bento_archive_write_dir(w, "bento/signatures", err))) ||
	    (rc = bento_write_attachments(w, "bento/signatures", ".minisig", im->sigs, im->n_sigs,
					  err)))
		goto out;
	if (rc || (rc = bento_archive_writer_close(w, err)))
		goto out;
	bento_digest_bytes(b->mem.buf, b->mem.len, &b->digest);
	b->diff_id = b->digest;
	b->size = b->mem.len;
out:
	bento_archive_writer_free(w);
	return rc;
}

/* ---- the base image ---- */

static int fd_sink(void *ctx, const void *p, size_t n, struct bento_error *err)
{
	int rc = bento_write_all(*(int *)ctx, p, n);

	return rc < 0 ? bento_error_errno(err, -rc, "write") : 0;
}

static const char *layer_type(const char *mt)
{
	if (!mt)
		return NULL;
	/* a static string: the base's manifest goes away; Docker's names for the same bytes too */
	if (!strcmp(mt, BENTO_MEDIATYPE_LAYER) || !strcmp(mt, "application/vnd.docker.image.rootfs.diff.tar"))
		return BENTO_MEDIATYPE_LAYER;
	if (!strcmp(mt, OCI_LAYER_GZIP) || !strcmp(mt, "application/vnd.docker.image.rootfs.diff.tar.gzip"))
		return OCI_LAYER_GZIP;
	if (!strcmp(mt, OCI_LAYER_ZSTD))
		return OCI_LAYER_ZSTD;
	return NULL;
}

/* From index idx (read as name), the manifest for the platform. */
static int pick_platform(struct image *im, const char *name, const struct bento_oci_doc *idx,
			 const struct bento_oci_desc **out, struct bento_error *err)
{
	for (size_t i = 0; i < idx->n_descs; i++) {
		const struct bento_oci_desc *e = &idx->descs[i];
		char field[32];

		if (!e->os || strcmp(e->os, im->os) || strcmp(e->arch, im->arch) ||
		    (im->variant && (!e->variant || strcmp(e->variant, im->variant))))
			continue;
		snprintf(field, sizeof(field), "manifests[%zu]", i);
		*out = e;
		return bento_oci_desc_sha256(e, name, field, err);
	}
	return bento_error_set(err, BENTO_E_NOTFOUND, "%s: no image for %s/%s%s%s in its index", name,
			       im->os, im->arch, im->variant ? "/" : "", im->variant ? im->variant : "");
}

/*
 * The path of a base blob as a file: in an oci: layout its own file
 * (hashed here: nothing unverified goes into the image), from a registry
 * a download into the temporary directory, verified while it streams.
 */
static int base_blob_file(struct image *im, struct bento_target *bt, const struct bento_digest *d,
			  uint64_t size, char **path, struct bento_error *err)
{
	char hex[BENTO_DIGEST_HEXLEN + 1], ds[BENTO_DIGEST_STRLEN];
	int fd, rc;

	bento_digest_hex(d, hex);
	bento_digest_str(d, ds);
	if (im->base_ref.is_layout) {
		struct bento_digest got;
		uint64_t n;

		*path = bento_xasprintf("%s/blobs/sha256/%s", im->base_ref.dir, hex);
		if ((rc = bento_digest_path(*path, &got, &n, err)))
			return rc == -ENOENT ? bento_error_set(err, BENTO_E_NOTFOUND,
							      "oci:%s: blob %s is missing",
							      im->base_ref.dir, ds)
					     : rc;
		if (n != size || !bento_digest_eq(&got, d))
			return bento_error_set(err, BENTO_E_VERIFY,
					       "oci:%s: blob %s does not match its digest or size",
					       im->base_ref.dir, ds);
		return 0;
	}
	if (!im->tmpdir) {
		im->tmpdir = bento_xasprintf("%s/tmp/base.XXXXXX", bento_store_root(im->s));
		if (!mkdtemp(im->tmpdir)) {
			rc = bento_error_errno(err, errno, "%s", im->tmpdir);
			free(im->tmpdir);
			im->tmpdir = NULL;
			return rc;
		}
	}
	*path = bento_xasprintf("%s/%s", im->tmpdir, hex);
	fd = open(*path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return bento_error_errno(err, errno, "%s", *path);
	rc = bento_target_blob_get(bt, d, size, fd_sink, &fd, NULL, err);
	if (close(fd) < 0 && rc == 0)
		rc = bento_error_errno(err, errno, "%s", *path);
	return rc;
}

/*
 * The base image: its index (when it is one) and manifest, read strictly
 * (ocidoc.h), then its config, which must be for the platform.  Every
 * document is untrusted: a malformed one is -BENTO_E_VERIFY naming it and
 * the field; one that does not fit (another platform, a layer type an
 * image cannot have) -BENTO_E_INVALID.
 */
static int load_base(struct image *im, struct bento_error *err)
{
	struct bento_target *bt = NULL;
	struct bento_target_ref used = { 0 };	/* a mirror's, or the base as named */
	struct bento_target_opts used_opts = { 0 };
	struct bento_buf raw = BENTO_BUF_INIT, cfg = BENTO_BUF_INIT;
	struct bento_oci_doc idx = { 0 }, man = { 0 };
	const char *name = im->base_name;
	char *mt = NULL, *what = NULL;
	const char *reference = im->base_ref.digest ? im->base_ref.digest
			      : im->base_ref.tag ? im->base_ref.tag : "latest";
	const char *os, *arch;
	int rc;

	if ((rc = bento_target_open_read(&im->base_ref, &im->o->topts, reference, &bt, &used,
					 &used_opts, &raw, &mt, &im->base_digest, err)) ||
	    (rc = bento_oci_doc_read(raw.buf, raw.len, name, mt, BENTO_OCI_MANIFEST | BENTO_OCI_INDEX,
				     &man, err)))
		goto out;
	if (man.kind == BENTO_OCI_INDEX) {
		const struct bento_oci_desc *pick = NULL;

		idx = man;
		memset(&man, 0, sizeof(man));
		if ((rc = pick_platform(im, name, &idx, &pick, err)))
			goto out;
		what = bento_xasprintf("%s@%s", name, pick->digest_str);
		free(mt);
		mt = NULL;
		if ((rc = bento_target_manifest_get(bt, pick->digest_str, &raw, &mt, &im->base_digest,
						    err)) ||
		    (rc = bento_oci_doc_read(raw.buf, raw.len, what, pick->media_type,
					     BENTO_OCI_MANIFEST, &man, err)))
			goto out;
	}
	free(what);
	what = bento_xasprintf("%s: config", name);
	if ((rc = bento_oci_desc_sha256(&man.config, name, "config", err)))
		goto out;
	if (man.config.size > CONFIG_MAX) {
		rc = bento_error_set(err, BENTO_E_VERIFY, "%s: config.size: %llu bytes, more than the %u allowed",
				     name, (unsigned long long)man.config.size, CONFIG_MAX);
		goto out;
	}
	if ((rc = bento_target_blob_get(bt, &man.config.digest, man.config.size, bento_buf_sink, &cfg,
					NULL, err)) ||
	    (rc = bento_oci_config_read(cfg.buf, cfg.len, what, man.n_descs, &im->base_config, err)))
		goto out;
	os = bento_json_str(im->base_config, "os");
	arch = bento_json_str(im->base_config, "architecture");
	if (strcmp(os, im->os) || strcmp(arch, im->arch)) {
		rc = bento_error_set(err, BENTO_E_INVALID, "base %s is for %s/%s, not %s/%s", name,
				     os, arch, im->os, im->arch);
		goto out;
	}
	for (size_t i = 0; i < man.n_descs; i++) {
		const struct bento_oci_desc *l = &man.descs[i];
		const char *type = layer_type(l->media_type);
		const json_t *ids = json_object_get(json_object_get(im->base_config, "rootfs"), "diff_ids");
		char field[32];
		struct iblob *b;

		snprintf(field, sizeof(field), "layers[%zu]", i);
		if (!type) {
			rc = bento_error_set(err, BENTO_E_INVALID, "base %s: layer %zu has media type %s",
					     name, i, l->media_type);
			goto out;
		}
		if ((rc = bento_oci_desc_sha256(l, name, field, err)))
			goto out;
		b = add_blob(im, SRC_FILE, "base", type);
		bento_digest_parse(json_string_value(json_array_get(ids, i)), &b->diff_id, NULL);
		b->digest = l->digest;
		b->size = l->size;
		if ((rc = base_blob_file(im, bt, &b->digest, b->size, &b->path, err)))
			goto out;
		if (l->annotations)
			b->annotations = json_deep_copy(l->annotations);
	}
out:
	bento_oci_doc_release(&man);
	bento_oci_doc_release(&idx);
	free(mt);
	free(what);
	bento_buf_release(&raw);
	bento_buf_release(&cfg);
	bento_target_close(bt);
	bento_target_ref_release(&used);
	return rc;
}

/* ---- config and manifest ---- */

/* The git remote and commit the provenance names, for the source/revision annotations. */
static void provenance_git(struct image *im)
{
	for (size_t a = 0; a < im->n_atts && !im->revision; a++) {
		struct bento_buf body = BENTO_BUF_INIT;
		json_t *env = NULL, *st = NULL, *dep, *deps;
		const char *p;
		size_t i;

		if (bento_json_parse(im->atts[a].data, im->atts[a].len, "attestation", &env, NULL) ||
		    !(p = bento_json_str(env, "payload")) ||
		    bento_base64_decode(p, strlen(p), &body) ||
		    bento_json_parse(body.buf, body.len, "statement", &st, NULL))
			goto next;
		deps = json_object_get(json_object_get(json_object_get(st, "predicate"),
						       "buildDefinition"), "resolvedDependencies");
		json_array_foreach(deps, i, dep) {
			const char *uri = bento_json_str(dep, "uri");
			const char *commit = bento_json_str(json_object_get(dep, "digest"), "gitCommit");
			const char *at;

			if (!uri || !commit || strncmp(uri, "git+", 4) != 0)
				continue;
			uri += 4;
			at = strstr(uri, "@refs/");
			if (strcmp(uri, "file:unknown") && strncmp(uri, "file:", 5))
				im->source = at ? bento_xstrndup(uri, (size_t)(at - uri)) : bento_xstrdup(uri);
			im->revision = bento_xstrdup(commit);
			break;
		}
next:
		json_decref(env);
		json_decref(st);
		bento_buf_release(&body);
	}
}

static json_t *str_array(const json_t *a)
{
	return a && json_is_array(a) ? json_deep_copy(a) : json_array();
}

/* KEY=VALUE list: base entries, then ours replacing the same KEY. */
static void env_set(json_t *env, const char *key, const char *value, int replace)
{
	size_t kl = strlen(key), i;
	json_t *e;

	json_array_foreach(env, i, e) {
		const char *s = json_string_value(e);
		if (s && strncmp(s, key, kl) == 0 && s[kl] == '=') {
			if (replace)
				json_array_set_new(env, i, json_sprintf("%s=%s", key, value));
			return;
		}
	}
	json_array_append_new(env, json_sprintf("%s=%s", key, value));
}

static const char *user_default(const json_t *bc)
{
	const char *u = bento_json_str(bc, "User");

	/* a base that names a non-root user has one; scratch has none, so numeric */
	if (u && *u && strcmp(u, "root") && strcmp(u, "0") && strncmp(u, "0:", 2) &&
	    strncmp(u, "root:", 5))
		return u;
	return BENTO_DEFAULT_USER;
}

static const char *role_of(const struct iblob *b)
{
	return b->kind == SRC_LAYER ? bento_layer_role_name(b->layer->role) : b->role;
}

/*
 * The image's and its history's "created": the bento's, else the epoch, as
 * ko and apko do, so the image stays a function of its inputs (some tools
 * fail on a history entry without a time).
 */
static const char *created_of(const struct image *im)
{
	return im->m->created ? im->m->created : "1970-01-01T00:00:00Z";
}

static int make_config(struct image *im, struct bento_error *err)
{
	const json_t *svc = json_object_get(im->m->json, "service");
	const json_t *hint = json_object_get(svc, "image");
	const json_t *bc = json_object_get(im->base_config, "config");
	const char *wd = bento_json_str(hint, "workdir"), *user = bento_json_str(hint, "user");
	const char *k;
	json_t *root, *cfg, *env, *ports, *labels, *ids, *hist, *v;
	char ds[BENTO_DIGEST_STRLEN];
	size_t i;
	int rc;

	cfg = json_object();
	env = str_array(json_object_get(bc, "Env"));
	env_set(env, "PATH", DEFAULT_PATH, 0);
	json_object_foreach((json_t *)json_object_get(svc, "envs"), k, v)
		env_set(env, k, json_string_value(v), 1);
	json_object_foreach((json_t *)json_object_get(hint, "env"), k, v)
		if (json_is_string(v))
			env_set(env, k, json_string_value(v), 1);
	json_object_set_new(cfg, "Env", env);
	json_object_set_new(cfg, "Entrypoint", json_pack("[s]", BENTO_SHIM_PATH));
	json_object_set_new(cfg, "Cmd", str_array(json_object_get(svc, "entrypoint")));
	if (!wd)
		json_object_set_new(cfg, "WorkingDir", json_string(BENTO_IMAGE_ROOT "/src"));
	else if (wd[0] == '/')
		json_object_set_new(cfg, "WorkingDir", json_string(wd));
	else
		json_object_set_new(cfg, "WorkingDir", json_sprintf(BENTO_IMAGE_ROOT "/src/%s", wd));
	json_object_set_new(cfg, "User", json_string(user ? user : user_default(bc)));
	ports = json_object_get(bc, "ExposedPorts") ? json_deep_copy(json_object_get(bc, "ExposedPorts"))
						    : json_object();
	json_array_foreach(json_object_get(hint, "ports"), i, v) {
		char key[32];
		if (!json_is_integer(v))
			continue;
		snprintf(key, sizeof(key), "%lld/tcp", (long long)json_integer_value(v));
		json_object_set_new(ports, key, json_object());
	}
	json_object_set_new(cfg, "ExposedPorts", ports);
	labels = json_object_get(bc, "Labels") && json_is_object(json_object_get(bc, "Labels"))
			 ? json_deep_copy(json_object_get(bc, "Labels")) : json_object();
	json_object_update(labels, json_object_get(im->m->json, "labels"));
	json_object_set_new(labels, "dev.bento.name", json_string(im->m->name));
	json_object_set_new(labels, "dev.bento.version", json_string(im->m->version));
	bento_digest_str(&im->m->digest, ds);
	json_object_set_new(labels, BENTO_ANN_DIGEST, json_string(ds));
	json_object_set_new(cfg, "Labels", labels);
	if (json_object_get(bc, "StopSignal"))
		json_object_set(cfg, "StopSignal", json_object_get(bc, "StopSignal"));

	ids = json_array();
	hist = json_array();
	json_array_foreach(json_object_get(im->base_config, "history"), i, v)
		json_array_append(hist, v);
	for (i = 0; i < im->n; i++) {
		const struct iblob *b = &im->v[i];
		json_t *h;

		bento_digest_str(&b->diff_id, ds);
		json_array_append_new(ids, json_string(ds));
		if (!strcmp(b->role, "base"))
			continue;
		if (b->kind == SRC_LAYER)
			h = json_pack("{s:s++}", "created_by", "bento ", b->layer->title, " in /bento");
		else if (!strcmp(b->role, "shim"))
			h = json_pack("{s:s}", "created_by", "bento-shim " BENTO_SHIM_PATH);
		else
			h = json_pack("{s:s}", "created_by", "bento.json, signatures, attestations in /bento");
		json_object_set_new(h, "comment",
				    json_sprintf("bento containerize: %s layer", role_of(b)));
		json_object_set_new(h, "created", json_string(created_of(im)));
		json_array_append_new(hist, h);
	}
	root = json_pack("{s:s, s:s, s:o, s:{s:s, s:o}, s:o}", "architecture", im->arch, "os",
			 im->os, "config", cfg, "rootfs", "type", "layers", "diff_ids", ids,
			 "history", hist);
	if (im->variant)
		json_object_set_new(root, "variant", json_string(im->variant));
	json_object_set_new(root, "created", json_string(created_of(im)));
	rc = bento_json_canonical(root, &im->config.mem, err);
	json_decref(root);
	if (rc)
		return rc;
	im->config.media_type = OCI_CONFIG_V1;
	im->config.kind = SRC_MEM;
	im->config.role = "config";
	bento_digest_bytes(im->config.mem.buf, im->config.mem.len, &im->config.digest);
	im->config.size = im->config.mem.len;
	return 0;
}

static json_t *descriptor(const char *mt, const struct bento_digest *d, uint64_t size)
{
	char ds[BENTO_DIGEST_STRLEN];

	bento_digest_str(d, ds);
	return json_pack("{s:s, s:s, s:I}", "mediaType", mt, "digest", ds, "size", (json_int_t)size);
}

static int make_manifest(struct image *im, struct bento_error *err)
{
	json_t *root, *layers = json_array(), *ann = json_object();
	char ds[BENTO_DIGEST_STRLEN];
	int rc;

	for (size_t i = 0; i < im->n; i++) {
		json_t *d = descriptor(im->v[i].media_type, &im->v[i].digest, im->v[i].size);
		if (!d) {
			json_decref(layers);
			json_decref(ann);
			return bento_error_set(err, BENTO_E_FAIL, "layer %zu: no descriptor", i);
		}
		if (im->v[i].annotations && json_object_size(im->v[i].annotations))
			json_object_set(d, "annotations", im->v[i].annotations);
		json_array_append_new(layers, d);
	}
	json_object_set_new(ann, BENTO_ANN_TITLE, json_string(im->m->name));
	json_object_set_new(ann, BENTO_ANN_VERSION, json_string(im->m->version));
	bento_digest_str(&im->m->digest, ds);
	json_object_set_new(ann, BENTO_ANN_DIGEST, json_string(ds));
	if (im->m->created)
		json_object_set_new(ann, BENTO_ANN_CREATED, json_string(im->m->created));
	if (im->source)
		json_object_set_new(ann, "org.opencontainers.image.source", json_string(im->source));
	if (im->revision)
		json_object_set_new(ann, "org.opencontainers.image.revision", json_string(im->revision));
	if (im->have_base) {
		char *bn = bento_target_ref_str(&im->base_ref);
		bento_digest_str(&im->base_digest, ds);
		json_object_set_new(ann, "org.opencontainers.image.base.digest", json_string(ds));
		json_object_set_new(ann, "org.opencontainers.image.base.name", json_string(bn));
		free(bn);
	}
	root = json_pack("{s:i, s:s, s:o, s:o, s:o}", "schemaVersion", 2, "mediaType",
			 OCI_MANIFEST_V1, "config",
			 descriptor(OCI_CONFIG_V1, &im->config.digest, im->config.size), "layers",
			 layers, "annotations", ann);
	rc = bento_json_canonical(root, &im->manifest, err);
	json_decref(root);
	if (rc == 0)
		bento_digest_bytes(im->manifest.buf, im->manifest.len, &im->manifest_digest);
	return rc;
}

/* ---- the image's provenance ---- */

static json_t *dep(const char *name, const char *uri, const struct bento_digest *d)
{
	char hex[BENTO_DIGEST_HEXLEN + 1];
	json_t *j;

	bento_digest_hex(d, hex);
	j = json_pack("{s:s, s:{s:s}}", "name", name, "digest", "sha256", hex);
	if (uri)
		json_object_set_new(j, "uri", json_string(uri));
	return j;
}

/*
 * The statement (see image.h), pushed as a referrer of the image manifest
 * just written to t.  Its subject is named NAME:VERSION of the bento, not
 * by where it went, so every output of an image carries the same bytes.
 */
static int push_provenance(struct image *im, struct bento_target *t, const char *from,
			   struct bento_error *err)
{
	char hex[BENTO_DIGEST_HEXLEN + 1], *bn = bento_xasprintf("%s:%s", im->m->name, im->m->version);
	char *base = im->have_base ? bento_target_ref_str(&im->base_ref) : bento_xstrdup("scratch");
	char *platform = bento_xasprintf("%s/%s%s%s", im->os, im->arch, im->variant ? "/" : "",
					 im->variant ? im->variant : "");
	struct bento_buf body = BENTO_BUF_INIT;
	struct bento_oci_desc subject = { .media_type = OCI_MANIFEST_V1,
					  .digest = im->manifest_digest, .size = im->manifest.len };
	json_t *deps = json_array(), *st;
	int rc;

	json_array_append_new(deps, dep("bento", bn, &im->m->digest));
	if (im->have_base)
		json_array_append_new(deps, dep("base", base, &im->base_digest));
	json_array_append_new(deps, dep("bento-shim", BENTO_SHIM_PATH, &im->shim_digest));
	bento_digest_hex(&im->manifest_digest, hex);
	st = json_pack("{s:s, s:[{s:s, s:{s:s}}], s:s, s:{s:{s:s, s:{s:s, s:s, s:s}, s:o},"
		       " s:{s:{s:s, s:{s:s}}}}}",
		       "_type", "https://in-toto.io/Statement/v1",
		       "subject", "name", bn, "digest", "sha256", hex,
		       "predicateType", "https://slsa.dev/provenance/v1",
		       "predicate", "buildDefinition", "buildType", "https://bento.dev/containerize/v1",
		       "externalParameters", "bento", bn, "base", base, "platform", platform,
		       "resolvedDependencies", deps,
		       "runDetails", "builder", "id", "https://bento.dev/bento-cli", "version",
		       "bento", BENTO_VERSION);
	rc = bento_json_canonical(st, &body, err);
	if (rc == 0) {
		struct bento_attachment a = { .name = (char *)"image-provenance.intoto.json",
					      .data = body.buf, .len = body.len };
		bento_digest_bytes(body.buf, body.len, &im->provenance);
		rc = bento_push_referrer(t, &subject, BENTO_PROVENANCE_ARTIFACT, BENTO_PROVENANCE_ARTIFACT,
					 a.name, &a, from, err);
	}
	json_decref(st);
	bento_buf_release(&body);
	free(bn);
	free(base);
	free(platform);
	return rc;
}

/* ---- output: an OCI image layout ---- */

/* A file in dir named by d: 1 when present with the right size. */
static int have_file(const char *path, uint64_t size)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size == size;
}

struct layout_job {
	struct image *im;
	const char *blobs;	/* DIR/blobs/sha256 */
	atomic_size_t next;
};

/* One bento layer into the layout: skipped when there, else written once and renamed (batched). */
static int layout_layer(struct image *im, const char *blobs, struct iblob *b, struct bento_error *err)
{
	char hex[BENTO_DIGEST_HEXLEN + 1], *path = NULL;
	struct bento_atomic a;
	int rc;

	if ((rc = bento_layer_digest_cached(im->s, b->layer, err)) < 0)
		return rc;
	if (rc == 1) {
		bento_digest_hex(&b->layer->digest, hex);
		path = bento_xasprintf("%s/%s", blobs, hex);
		rc = have_file(path, b->layer->size);
		free(path);
		if (rc)
			return 0;
	}
	/* named by its digest, known once written; batched: write_layout makes
	 * every layer durable at once, before the manifest */
	path = bento_xasprintf("%s/layer", blobs);
	if ((rc = bento_atomic_open(&a, path, NULL, 0644, err)) == 0) {
		if ((rc = bento_layer_write_fd(im->s, b->layer, a.fd, err))) {
			bento_atomic_abort(&a);
		} else {
			bento_digest_hex(&b->layer->digest, hex);
			free(a.path);
			a.path = bento_xasprintf("%s/%s", blobs, hex);
			rc = bento_atomic_commit(&a, BENTO_ATOMIC_BATCH, err);
		}
	}
	b->written = rc == 0;
	free(path);
	return rc;
}

static void *layout_worker(void *arg)
{
	struct layout_job *j = arg;

	for (;;) {
		size_t i = atomic_fetch_add(&j->next, 1);
		if (i >= j->im->n)
			break;
		struct iblob *b = &j->im->v[i];
		if (b->kind == SRC_LAYER)
			b->rc = layout_layer(j->im, j->blobs, b, &b->err);
	}
	return NULL;
}

/* A base blob into the layout: a hard link where the filesystem allows, else one copy. */
static int layout_file(const char *blobs, struct iblob *b, struct bento_error *err)
{
	char hex[BENTO_DIGEST_HEXLEN + 1], *path;
	struct bento_atomic a = { .fd = -1 };
	struct bento_digest got;
	ssize_t k = 0;
	int in = -1, rc = 0;

	bento_digest_hex(&b->digest, hex);
	path = bento_xasprintf("%s/%s", blobs, hex);
	if (have_file(path, b->size))
		goto out;
	unlink(path);	/* a wrong-sized leftover: the name is the content's, replace it */
	if (link(b->path, path) == 0) {
		b->written = 1;
		goto out;
	}
	if ((in = open(b->path, O_RDONLY | O_CLOEXEC)) < 0) {
		rc = bento_error_errno(err, errno, "%s", b->path);
		goto out;
	}
	if ((rc = bento_atomic_open(&a, path, NULL, 0644, err)))
		goto out;
	/* copied through a hasher: the bytes written are the bytes checked */
	{
		struct bento_hasher *h = bento_hasher_new();
		char *buf = bento_xmalloc(1 << 20);

		while (rc == 0 && (k = read(in, buf, 1 << 20)) > 0) {
			bento_hasher_update(h, buf, (size_t)k);
			rc = bento_atomic_write(&a, buf, (size_t)k, err);
		}
		if (k < 0 && rc == 0)
			rc = bento_error_errno(err, errno, "read %s", b->path);
		bento_hasher_final(h, &got);
		bento_hasher_free(h);
		free(buf);
	}
	if (rc == 0 && !bento_digest_eq(&got, &b->digest))
		rc = bento_error_set(err, BENTO_E_VERIFY, "%s: changed while it was copied", b->path);
	if (rc == 0)
		rc = bento_atomic_commit(&a, BENTO_ATOMIC_BATCH, err);
	b->written = rc == 0;
out:
	bento_atomic_abort(&a);
	if (in >= 0)
		close(in);
	free(path);
	return rc;
}

static int put_mem(struct bento_target *t, struct iblob *b, const char *from, struct bento_error *err)
{
	struct bento_mem_source m;
	uint64_t before = bento_target_stats(t)->blobs_uploaded;
	int rc;

	bento_mem_source_init(&m, b->mem.buf, b->mem.len);
	rc = bento_target_blob_put(t, &m.src, from, err);
	b->written = rc == 0 && bento_target_stats(t)->blobs_uploaded > before;
	if (rc)
		bento_error_prefix(err, strcmp(b->role, "config") ? "%s layer" : "%s", b->role);
	return rc;
}

static int write_layout(struct image *im, struct bento_target *t, const struct bento_target_ref *ref,
			const char *tag, struct bento_error *err)
{
	struct layout_job j = { .im = im };
	int rc = 0;

	/* the small ones through the layout's own writer, which also makes blobs/sha256 */
	for (size_t i = 0; i < im->n && rc == 0; i++)
		if (im->v[i].kind == SRC_MEM)
			rc = put_mem(t, &im->v[i], NULL, err);
	if (rc)
		return rc;
	/* the big ones straight into blobs/sha256, the name the OCI layout spec gives them */
	char *blobs = bento_xasprintf("%s/blobs/sha256", ref->dir);
	for (size_t i = 0; i < im->n && rc == 0; i++)
		if (im->v[i].kind == SRC_FILE)
			rc = layout_file(blobs, &im->v[i], err);
	if (rc == 0) {
		j.blobs = blobs;
		atomic_init(&j.next, 0);
		bento_parallel(layout_worker, &j, bento_cpus(4));
		for (size_t i = 0; i < im->n && rc == 0; i++) {
			struct iblob *b = &im->v[i];
			if (b->kind != SRC_LAYER)
				continue;
			if ((rc = b->rc) && err)
				*err = b->err;
			b->digest = b->layer->digest;
			b->size = b->layer->size;
			b->diff_id = b->digest;
		}
	}
	/* the layers and base blobs durable at once (written batched), before anything names them */
	if (rc == 0)
		rc = bento_syncfs(blobs, "image layout", err);
	free(blobs);
	if (rc)
		return rc;
	/* the manifest last, then the index names it: before that nothing refers to the blobs */
	if ((rc = make_config(im, err)) || (rc = put_mem(t, &im->config, NULL, err)) ||
	    (rc = make_manifest(im, err)))
		return rc;
	if ((rc = bento_target_manifest_put(t, tag, OCI_MANIFEST_V1, im->manifest.buf,
					    im->manifest.len, NULL, err)))
		return rc;
	return push_provenance(im, t, NULL, err);
}

/* ---- output: a registry ---- */

static int write_registry(struct image *im, struct bento_target *t, const struct bento_target_ref *ref,
			  const char *tag, struct bento_error *err)
{
	char *from = bento_mount_source(im->s, ref, &im->m->digest);
	/* base layers mount from the base's repository when it is on the same registry */
	const char *base_from = im->have_base && !im->base_ref.is_layout &&
					!strcmp(im->base_ref.host, ref->host) ? im->base_ref.repo : NULL;
	int rc = 0;

	for (size_t i = 0; i < im->n && rc == 0; i++) {
		struct iblob *b = &im->v[i];
		const struct bento_target_stats *st = bento_target_stats(t);
		uint64_t before = st->blobs_uploaded;

		if (b->kind == SRC_MEM) {
			rc = put_mem(t, b, from, err);
			continue;
		}
		if (b->kind == SRC_FILE) {
			struct bento_fd_source f;
			int fd = open(b->path, O_RDONLY | O_CLOEXEC);
			if (fd < 0) {
				rc = bento_error_errno(err, errno, "%s", b->path);
				break;
			}
			bento_fd_source_init(&f, fd, b->size, &b->digest);
			rc = bento_target_blob_put(t, &f.src, base_from, err);
			close(fd);
		} else {
			struct bento_blob_source src;
			if ((rc = bento_layer_source(im->s, b->layer, &src, err)))
				break;
			rc = bento_target_blob_put(t, &src, from, err);
			bento_layer_source_release(&src);
			b->digest = b->layer->digest;
			b->size = b->layer->size;
			b->diff_id = b->digest;
		}
		b->written = rc == 0 && st->blobs_uploaded > before;
	}
	if (rc == 0 && ((rc = make_config(im, err)) == 0) && (rc = put_mem(t, &im->config, from, err)) == 0 &&
	    (rc = make_manifest(im, err)) == 0)
		rc = bento_target_manifest_put(t, tag, OCI_MANIFEST_V1, im->manifest.buf,
					       im->manifest.len, NULL, err);
	if (rc == 0)
		rc = push_provenance(im, t, from, err);
	free(from);
	return rc;
}

/* ---- output: a docker-archive (what `docker load` and `skopeo copy docker-archive:` read) ---- */

struct arch_ctx {
	struct bento_archive_writer *w;
};

static int arch_write(void *ctx, const void *p, size_t n, struct bento_error *err)
{
	return bento_archive_write_data(((struct arch_ctx *)ctx)->w, p, n, err);
}

static int arch_blob(struct image *im, struct bento_archive_writer *w, struct iblob *b,
		     json_t *done, struct bento_error *err)
{
	char hex[BENTO_DIGEST_HEXLEN + 1], *path;
	int rc;

	bento_digest_hex(&b->digest, hex);
	if (json_object_get(done, hex))
		return 0;
	json_object_set_new(done, hex, json_true());
	path = bento_xasprintf("blobs/sha256/%s", hex);
	if (b->kind == SRC_MEM) {
		rc = bento_archive_write_bytes(w, path, 0644, b->mem.buf, b->mem.len, err);
	} else if (b->kind == SRC_FILE) {
		int fd = open(b->path, O_RDONLY | O_CLOEXEC);
		rc = fd < 0 ? bento_error_errno(err, errno, "%s", b->path)
			    : bento_archive_write_fd(w, path, 0644, fd, b->size, err);
		if (fd >= 0)
			close(fd);
	} else {
		struct arch_ctx c = { w };
		if ((rc = bento_archive_write_header(w, path, 0644, b->size, err)) == 0)
			rc = bento_layer_write(im->s, b->layer, arch_write, &c, err);
	}
	free(path);
	b->written = rc == 0;
	return rc;
}

static int write_archive(struct image *im, const char *file, struct bento_error *err)
{
	struct bento_archive_writer *w = NULL;
	struct bento_buf mj = BENTO_BUF_INIT, ij = BENTO_BUF_INIT;
	struct bento_atomic a = { .fd = -1 };
	char ds[BENTO_DIGEST_STRLEN], hex[BENTO_DIGEST_HEXLEN + 1];
	json_t *done = json_object(), *man = NULL, *idx = NULL, *layers;
	int64_t mtime = 0;
	int rc = 0;

	/* every digest first: the archive names each blob by it */
	for (size_t i = 0; i < im->n && rc == 0; i++) {
		struct iblob *b = &im->v[i];
		if (b->kind != SRC_LAYER)
			continue;
		if ((rc = bento_layer_digest(im->s, b->layer, err)))
			break;
		b->digest = b->layer->digest;
		b->size = b->layer->size;
		b->diff_id = b->digest;
	}
	if (rc || (rc = make_config(im, err)) || (rc = make_manifest(im, err)))
		goto out;
	if (im->m->created)
		bento_time_parse(im->m->created, &mtime);
	if ((rc = bento_atomic_open(&a, file, NULL, 0644, err)))
		goto out;
	if ((rc = bento_archive_writer_open(a.fd, BENTO_COMP_NONE, mtime, &w, err)) ||
	    (rc = bento_archive_write_dir(w, "blobs", err)) ||
	    (rc = bento_archive_write_dir(w, "blobs/sha256", err)) ||
	    (rc = arch_blob(im, w, &im->config, done, err)))
		goto out;
	for (size_t i = 0; i < im->n && rc == 0; i++)
		rc = arch_blob(im, w, &im->v[i], done, err);
	if (rc)
		goto out;
	bento_digest_hex(&im->manifest_digest, hex);
	{
		char *p = bento_xasprintf("blobs/sha256/%s", hex);
		rc = bento_archive_write_bytes(w, p, 0644, im->manifest.buf, im->manifest.len, err);
		free(p);
		if (rc)
			goto out;
	}
	/* index.json: the archive is an OCI layout too; manifest.json: what docker load reads */
	bento_digest_str(&im->manifest_digest, ds);
	char *repotag = bento_xasprintf("%s:%s", im->m->name, im->m->version);
	idx = json_pack("{s:i, s:s, s:[{s:s, s:s, s:I, s:{s:s, s:s}}]}", "schemaVersion", 2,
			"mediaType", OCI_INDEX_V1, "manifests", "mediaType", OCI_MANIFEST_V1, "digest",
			ds, "size", (json_int_t)im->manifest.len, "annotations",
			"io.containerd.image.name", repotag, "org.opencontainers.image.ref.name",
			im->m->version);
	layers = json_array();
	for (size_t i = 0; i < im->n; i++) {
		bento_digest_hex(&im->v[i].digest, hex);
		json_array_append_new(layers, json_sprintf("blobs/sha256/%s", hex));
	}
	bento_digest_hex(&im->config.digest, hex);
	man = json_pack("[{s:s+, s:[s], s:o}]", "Config", "blobs/sha256/", hex, "RepoTags", repotag,
			"Layers", layers);
	free(repotag);
	if ((rc = bento_json_canonical(idx, &ij, err)) || (rc = bento_json_canonical(man, &mj, err)) ||
	    (rc = bento_archive_write_bytes(w, "index.json", 0644, ij.buf, ij.len, err)) ||
	    (rc = bento_archive_write_bytes(w, "manifest.json", 0644, mj.buf, mj.len, err)) ||
	    (rc = bento_archive_write_bytes(w, "oci-layout", 0644, "{\"imageLayoutVersion\":\"1.0.0\"}",
					    30, err)) ||
	    (rc = bento_archive_writer_close(w, err)))
		goto out;
	rc = bento_atomic_commit(&a, 0, err);
out:
	bento_archive_writer_free(w);
	bento_atomic_abort(&a);
	json_decref(done);
	json_decref(man);
	json_decref(idx);
	bento_buf_release(&mj);
	bento_buf_release(&ij);
	return rc;
}

/* ---- containerize ---- */

static int load_bento(struct image *im, const struct bento_digest *d, struct bento_error *err)
{
	char what[BENTO_DIGEST_STRLEN];
	int rc;

	bento_digest_str(d, what);
	if ((rc = bento_store_manifest(im->s, BENTO_KIND_BENTO, d, &im->json, err)) ||
	    (rc = bento_manifest_parse(im->json.buf, im->json.len, what, &im->m, err)) ||
	    (rc = bento_store_signatures(im->s, d, &im->sigs, &im->n_sigs, err)) ||
	    (rc = bento_store_attestations(im->s, d, &im->atts, &im->n_atts, err)))
		return rc;
	bento_layers_plan(im->m, &im->layers, &im->n_layers);
	provenance_git(im);
	return 0;
}

int bento_image_base_config(const struct bento_manifest *m, const char *base,
			    const char *platform, struct bento_buf *config, struct bento_error *err)
{
	struct bento_image_opts io = { .base = base, .platform = platform };
	struct image im = { .o = &io, .m = (struct bento_manifest *)(uintptr_t)m,
			    .base_name = base, .have_base = 1 };
	int rc;

	bento_buf_init(&im.json);
	bento_buf_init(&im.config.mem);
	bento_buf_init(&im.manifest);
	if ((rc = platform_parse(platform, &im.os, &im.arch, &im.variant, err)) == 0 &&
	    (rc = bento_target_ref_parse(base, &im.base_ref, err)) == 0 && !im.base_ref.is_layout)
		rc = bento_error_set(err, BENTO_E_USAGE, "%s: not an oci: layout", base);
	if (rc == 0 && (rc = load_base(&im, err)) == 0 && (rc = make_config(&im, err)) == 0)
		bento_buf_add(config, im.config.mem.buf, im.config.mem.len);
	im.m = NULL;	/* borrowed */
	image_release(&im);
	return rc;
}

/* The platform: --platform, else the shim's architecture on linux. */
static int settle_platform(struct image *im, struct bento_error *err)
{
	const char *arch;
	int fd, is_static, rc;

	if (im->o->platform)
		return platform_parse(im->o->platform, &im->os, &im->arch, &im->variant, err);
	if (!im->o->shim)
		return bento_error_set(err, BENTO_E_NOTFOUND, "bento-shim: not found");
	if ((fd = open(im->o->shim, O_RDONLY | O_CLOEXEC)) < 0)
		return bento_error_errno(err, errno, "bento-shim %s", im->o->shim);
	rc = shim_inspect(fd, im->o->shim, &arch, &is_static, err);
	close(fd);
	if (rc == 0) {
		im->os = bento_xstrdup("linux");
		im->arch = bento_xstrdup(arch);
	}
	return rc;
}

static int result_fill(struct image *im, const char *where, struct bento_image_result *out)
{
	memset(out, 0, sizeof(*out));
	out->output = bento_xstrdup(where);
	out->manifest = im->manifest_digest;
	out->config = im->config.digest;
	if (im->have_base) {
		out->base = bento_target_ref_str(&im->base_ref);
		out->base_digest = im->base_digest;
	}
	out->platform = bento_xasprintf("%s/%s%s%s", im->os, im->arch, im->variant ? "/" : "",
					im->variant ? im->variant : "");
	out->n_layers = im->n;
	out->layers = bento_xcalloc(im->n + 1, sizeof(*out->layers));
	for (size_t i = 0; i < im->n; i++) {
		out->layers[i].digest = im->v[i].digest;
		out->layers[i].size = im->v[i].size;
		out->layers[i].role = role_of(&im->v[i]);
		out->layers[i].written = im->v[i].written;
		if (im->v[i].written)
			out->bytes_written += im->v[i].size;
	}
	return 0;
}

int bento_containerize(struct bento_store *s, const struct bento_digest *d,
		       const struct bento_image_opts *o, struct bento_image_result *out,
		       struct bento_error *err)
{
	struct image im = { .s = s, .o = o };
	struct bento_target_ref ref = { 0 };
	struct bento_target *t = NULL;
	const char *output = o->output, *base;
	char *where = NULL, *tag = NULL;
	int is_archive = output && strncmp(output, "docker-archive:", 15) == 0, rc;
	json_t *details = NULL;

	if (!output)
		return bento_error_set(err, BENTO_E_USAGE, "containerize: no output given");
	if (is_archive && !output[15])
		return bento_error_set(err, BENTO_E_USAGE, "docker-archive: wants a FILE");
	if (!is_archive && ((rc = bento_target_ref_parse(output, &ref, err)) ||
			    (rc = bento_target_ref_explicit(&ref, output, "bento containerize REF --output",
							    err))))
		goto out;
	if (!is_archive && ref.digest) {
		rc = bento_error_set(err, BENTO_E_USAGE, "%s: an image is written to a tag, not a digest",
				     output);
		goto out;
	}
	bento_buf_init(&im.json);
	bento_buf_init(&im.config.mem);
	bento_buf_init(&im.manifest);
	if ((rc = load_bento(&im, d, err)) || (rc = settle_platform(&im, err)))
		goto out;
	base = o->base ? o->base : bento_json_str(json_object_get(json_object_get(im.m->json,
						"service"), "image"), "base");
	if (base && strcmp(base, "scratch") != 0) {
		im.base_name = base;
		im.have_base = 1;
		if ((rc = bento_target_ref_parse(base, &im.base_ref, err)) ||
		    (rc = load_base(&im, err)))
			goto out;
	}
	rc = shim_layer(&im, add_blob(&im, SRC_MEM, "shim", BENTO_MEDIATYPE_LAYER), err);
	for (size_t i = 0; rc == 0 && i < im.n_layers; i++) {
		struct iblob *b = add_blob(&im, SRC_LAYER, bento_layer_role_name(im.layers[i].role),
					   BENTO_MEDIATYPE_LAYER);
		b->layer = &im.layers[i];
		b->annotations = json_incref(im.layers[i].annotations);
	}
	if (rc || (rc = meta_layer(&im, add_blob(&im, SRC_MEM, "meta", BENTO_MEDIATYPE_LAYER), err)))
		goto out;
	if (is_archive) {
		rc = write_archive(&im, output + 15, err);
		where = bento_xstrdup(output);
	} else {
		tag = bento_xstrdup(ref.tag ? ref.tag : im.m->version);
		free(ref.tag);
		ref.tag = bento_xstrdup(tag);
		where = bento_target_ref_str(&ref);
		if ((rc = bento_target_open(&ref, &o->topts, &t, err)) == 0)
			rc = ref.is_layout ? write_layout(&im, t, &ref, tag, err)
					   : write_registry(&im, t, &ref, tag, err);
	}
	if (rc)
		goto out;
	result_fill(&im, where, out);
	if (t) {
		out->stats = *bento_target_stats(t);
		out->have_provenance = 1;
		out->provenance = im.provenance;
	}
	{
		char md[BENTO_DIGEST_STRLEN];
		bento_digest_str(&im.manifest_digest, md);
		details = json_pack("{s:s, s:s, s:s}", "output", where, "image", md, "platform",
				    out->platform);
		if (out->have_provenance) {
			char pd[BENTO_DIGEST_STRLEN];
			bento_digest_str(&out->provenance, pd);
			json_object_set_new(details, "provenance", json_string(pd));
		}
		if (im.have_base) {
			char bd[BENTO_DIGEST_STRLEN];
			bento_digest_str(&im.base_digest, bd);
			json_object_set_new(details, "base", json_string(out->base));
			json_object_set_new(details, "base_digest", json_string(bd));
		}
		if (!is_archive && !ref.is_layout) {
			json_object_set_new(details, "host", json_string(ref.host));
			json_object_set_new(details, "repo", json_string(ref.repo));
		}
	}
	struct bento_event_in ev = {
		.action = "containerize", .kind = BENTO_KIND_BENTO, .name = im.m->name,
		.version = im.m->version, .digest = d, .details = details,
	};
	if ((rc = bento_history_append(s, &ev, err)))
		bento_image_result_release(out);
out:
	json_decref(details);
	bento_target_close(t);
	bento_target_ref_release(&ref);
	free(where);
	free(tag);
	image_release(&im);
	return rc;
}
