/*
 * layout.c - the oci:DIR target: an OCI image layout directory
 * (image-spec image-layout.md), readable by skopeo, umoci and containerd.
 * Tags live in index.json as descriptors annotated with
 * org.opencontainers.image.ref.name; untagged manifests (referrers) are
 * listed there too so they stay reachable.  Writers serialise on an flock
 * of DIR/index.json.lock; every file lands whole and durable
 * through the one atomic write of fs.h (temp, fsync, rename, fsync of the
 * directory).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "cjson.h"
#include "fs.h"
#include "ocidoc.h"
#include "target.h"
#include "target_internal.h"

#define REF_NAME "org.opencontainers.image.ref.name"
#define LAYOUT_FILE "{\"imageLayoutVersion\":\"" OCI_LAYOUT_VERSION "\"}"
#define LAYOUT_FILE_MAX 65536
#define CHUNK (1u << 20)
#define INDEX_MAX BENTO_JSON_MAX
#define REFERRERS_SCAN_MAX 65536	/* descriptors walked per referrers call */

struct layout {
	char *dir;
	char *blobs;		/* DIR/blobs/sha256 */
	int ready;		/* the directory skeleton exists */
	int checked;		/* check_layout passed */
};

static struct layout *L(struct bento_target *t)
{
	return t->impl;
}

static int layout_open(struct bento_target *t, struct bento_error *err)
{
	struct layout *l;

	(void)err;
	l = bento_xcalloc(1, sizeof(*l));
	l->dir = bento_xstrdup(t->ref.dir);
	l->blobs = bento_xasprintf("%s/blobs/sha256", l->dir);
	t->impl = l;
	return 0;
}

static void layout_close(struct bento_target *t)
{
	struct layout *l = L(t);

	if (!l)
		return;
	free(l->dir);
	free(l->blobs);
	free(l);
	t->impl = NULL;
}

static char *blob_path(struct layout *l, const struct bento_digest *d)
{
	char hex[BENTO_DIGEST_HEXLEN + 1];

	bento_digest_hex(d, hex);
	return bento_xasprintf("%s/%s", l->blobs, hex);
}

/* Durably replace dir/name with data. */
static int write_atomic(const char *dir, const char *name, const void *data, size_t len,
			struct bento_error *err)
{
	char *path = bento_xasprintf("%s/%s", dir, name);
	int rc = bento_write_file_atomic(path, data, len, 0644, 0, err);

	free(path);
	return rc;
}

static int lock_index(struct layout *l, int *fdp, struct bento_error *err)
{
	char *path = bento_xasprintf("%s/index.json.lock", l->dir);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644), rc = 0;

	if (fd < 0) {
		rc = bento_error_errno(err, errno, "%s", path);
		goto out;
	}
	while (flock(fd, LOCK_EX) < 0) {
		if (errno != EINTR) {
			rc = bento_error_errno(err, errno, "lock %s", path);
			close(fd);
			goto out;
		}
	}
	*fdp = fd;
out:
	free(path);
	return rc;
}

static void unlock_index(int fd)
{
	if (fd >= 0)
		close(fd);	/* drops the flock */
}

static json_t *empty_index(void)
{
	return json_pack("{s:i,s:s,s:[]}", "schemaVersion", 2, "mediaType", OCI_INDEX_V1, "manifests");
}

static int write_index(struct layout *l, const json_t *index, struct bento_error *err)
{
	struct bento_buf b = BENTO_BUF_INIT;
	int rc = bento_json_canonical(index, &b, err);

	if (rc == 0)
		rc = write_atomic(l->dir, "index.json", b.buf, b.len, err);
	bento_buf_release(&b);
	return rc;
}

/*
 * The one check of a layout, for reads and writes alike: DIR/oci-layout
 * is a regular file holding {"imageLayoutVersion":"1.0.0"} (ocidoc.h);
 * else -BENTO_E_VERIFY naming the file and why.  A directory with neither
 * oci-layout nor index.json holds no layout (yet): -BENTO_E_NOTFOUND, and
 * *absent is set (a push then makes one).
 */
static int check_layout(struct layout *l, int *absent, struct bento_error *err)
{
	char *path = bento_xasprintf("%s/oci-layout", l->dir);
	char *index = bento_xasprintf("%s/index.json", l->dir);
	struct bento_buf b = BENTO_BUF_INIT;
	struct stat st;
	int rc = bento_read_file(path, LAYOUT_FILE_MAX, &b, err);

	*absent = 0;
	if (rc == -ENOENT || rc == -ENOTDIR) {
		if (lstat(index, &st) < 0 && (errno == ENOENT || errno == ENOTDIR)) {
			*absent = 1;
			rc = bento_error_set(err, BENTO_E_NOTFOUND,
					     "oci:%s: not an OCI image layout (no oci-layout, no index.json)",
					     l->dir);
		} else {
			rc = bento_error_set(err, BENTO_E_VERIFY,
					     "%s: missing: not an OCI image layout, though it has an index.json",
					     path);
		}
	} else if (rc == -BENTO_E_INVALID) {
		rc = -BENTO_E_VERIFY;	/* not a regular file, or too big: refused */
		if (err)
			err->code = rc;
	} else if (rc == 0) {
		rc = bento_oci_layout_read(b.buf, b.len, path, err);
	}
	bento_buf_release(&b);
	free(index);
	free(path);
	return rc;
}

/* Before the first read: a layout it is (check_layout). */
static int ready_read(struct layout *l, struct bento_error *err)
{
	int absent, rc;

	if (l->checked)
		return 0;
	if ((rc = check_layout(l, &absent, err)) == 0)
		l->checked = 1;
	return rc;
}

/* Create the skeleton on first write: blobs/sha256, oci-layout, index.json. */
static int prepare(struct layout *l, struct bento_error *err)
{
	char *path = NULL;
	struct stat st;
	int rc, fd = -1, absent;

	if (l->ready)
		return 0;
	rc = bento_mkdir_p(l->blobs, 0755, err);
	if (rc < 0)
		return rc;
	rc = check_layout(l, &absent, err);
	if (absent) {
		bento_error_clear(err);
		rc = write_atomic(l->dir, "oci-layout", LAYOUT_FILE, strlen(LAYOUT_FILE), err);
	}
	if (rc < 0)
		return rc;
	path = bento_xasprintf("%s/index.json", l->dir);
	if (stat(path, &st) < 0) {
		rc = lock_index(l, &fd, err);
		if (rc == 0 && stat(path, &st) < 0) {
			json_t *idx = empty_index();

			rc = write_index(l, idx, err);
			json_decref(idx);
		}
		unlock_index(fd);
	}
	free(path);
	if (rc == 0)
		l->ready = l->checked = 1;
	return rc;
}

/*
 * index.json, read as an image index (ocidoc.h: every descriptor checked;
 * -BENTO_E_VERIFY naming the file and the field).  A missing index.json
 * gives an empty index when missing_ok, else -BENTO_E_NOTFOUND.  Release
 * *out with bento_oci_doc_release.
 */
static int load_index(struct layout *l, int missing_ok, struct bento_oci_doc *out,
		      struct bento_error *err)
{
	char *path = bento_xasprintf("%s/index.json", l->dir);
	struct bento_buf b = BENTO_BUF_INIT;
	int rc = bento_read_file(path, INDEX_MAX, &b, err);

	memset(out, 0, sizeof(*out));
	if (rc == -ENOENT && missing_ok) {
		bento_error_clear(err);
		out->root = empty_index();
		out->kind = BENTO_OCI_INDEX;
		out->media_type = OCI_INDEX_V1;
		rc = 0;
	} else if (rc == -ENOENT) {
		rc = bento_error_set(err, BENTO_E_NOTFOUND, "oci:%s: not an OCI image layout (no index.json)",
				     l->dir);
	} else if (rc == -BENTO_E_INVALID) {
		rc = -BENTO_E_VERIFY;	/* not a regular file, or too big: refused */
		if (err)
			err->code = rc;
	} else if (rc == 0) {
		rc = bento_oci_doc_read(b.buf, b.len, path, OCI_INDEX_V1, BENTO_OCI_INDEX, out, err);
		if (rc == -BENTO_E_INVALID && err)
			err->code = rc = -BENTO_E_VERIFY;	/* a manifest where the index should be */
	}
	bento_buf_release(&b);
	free(path);
	return rc;
}

static const char *desc_ref_name(const json_t *desc)
{
	return bento_json_str(json_object_get(desc, "annotations"), REF_NAME);
}

/* The first of index's descriptors tagged tag (or, with tag NULL, naming digest); -1 if none. */
static long find_desc(const struct bento_oci_doc *index, const char *tag, const char *digest)
{
	for (size_t i = 0; i < index->n_descs; i++) {
		const struct bento_oci_desc *d = &index->descs[i];
		const char *name = bento_json_str(d->annotations, REF_NAME);

		if (tag ? name && strcmp(name, tag) == 0 : digest && strcmp(d->digest_str, digest) == 0)
			return (long)i;
	}
	return -1;
}

static int blob_open(struct layout *l, const struct bento_digest *d, int *fdp, uint64_t *size,
		     struct bento_error *err)
{
	char *path = blob_path(l, d);
	char ds[BENTO_DIGEST_STRLEN];
	int fd, rc;

	bento_digest_str(d, ds);
	rc = bento_open_regular(path, &fd, size, err);
	if (rc == -ENOENT || rc == -ENOTDIR)
		rc = bento_error_set(err, BENTO_E_NOTFOUND, "oci:%s: blob %s not found", l->dir, ds);
	if (rc)
		goto out;
	*fdp = fd;
out:
	free(path);
	return rc;
}

/*
 * Stream blob d to sink, refusing more than cap bytes (0: no cap) and
 * failing with -BENTO_E_VERIFY when the bytes do not hash to d.
 */
static int blob_stream(struct layout *l, const struct bento_digest *d, uint64_t cap,
		       bento_sink_fn sink, void *ctx, struct bento_hasher *sink_hashes, uint64_t *total,
		       struct bento_error *err)
{
	char ds[BENTO_DIGEST_STRLEN], gs[BENTO_DIGEST_STRLEN];
	struct bento_hasher *h = NULL;
	struct bento_digest got;
	uint64_t size = 0, n = 0;
	char *chunk = NULL;
	int fd = -1, rc;

	bento_digest_str(d, ds);
	rc = blob_open(l, d, &fd, &size, err);
	if (rc < 0)
		return rc;
	if (cap && size > cap) {
		rc = bento_error_set(err, BENTO_E_VERIFY, "oci:%s: blob %s is %llu bytes, more than the %llu expected",
				     l->dir, ds, (unsigned long long)size, (unsigned long long)cap);
		goto out;
	}
	h = sink_hashes ? sink_hashes : bento_hasher_new();
	chunk = bento_xmalloc(CHUNK);
	for (;;) {
		ssize_t r = read(fd, chunk, CHUNK);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = bento_error_errno(err, errno, "oci:%s: read blob %s", l->dir, ds);
			goto out;
		}
		if (r == 0)
			break;
		n += (uint64_t)r;
		if (cap && n > cap) {
			rc = bento_error_set(err, BENTO_E_VERIFY, "oci:%s: blob %s grew past the %llu bytes expected",
					     l->dir, ds, (unsigned long long)cap);
			goto out;
		}
		if (!sink_hashes)
			bento_hasher_update(h, chunk, (size_t)r);
		rc = sink(ctx, chunk, (size_t)r, err);
		if (rc < 0)
			goto out;
	}
	bento_hasher_final(h, &got);
	if (!bento_digest_eq(&got, d)) {
		bento_digest_str(&got, gs);
		rc = bento_error_set(err, BENTO_E_VERIFY, "oci:%s: blob %s: digest mismatch: got %s",
				     l->dir, ds, gs);
		goto out;
	}
	*total = n;
out:
	free(chunk);
	if (h != sink_hashes)
		bento_hasher_free(h);
	close(fd);
	return rc;
}

static int layout_blob_exists(struct bento_target *t, const struct bento_digest *d, uint64_t *size,
			      struct bento_error *err)
{
	char *path = blob_path(L(t), d);
	struct stat st;
	int rc = 1;

	if (stat(path, &st) < 0) {
		rc = errno == ENOENT || errno == ENOTDIR ? 0 : bento_error_errno(err, errno, "%s", path);
	} else if (!S_ISREG(st.st_mode)) {
		rc = bento_error_set(err, BENTO_E_INVALID, "%s: not a regular file", path);
	} else if (size) {
		*size = (uint64_t)st.st_size;
	}
	free(path);
	return rc;
}

/* Write src into blobs/sha256; 1 when it was there already. */
static int put_blob(struct layout *l, const struct bento_blob_source *src, struct bento_error *err)
{
	char ds[BENTO_DIGEST_STRLEN], gs[BENTO_DIGEST_STRLEN];
	struct bento_atomic a = { .fd = -1 };
	char *path = NULL, *chunk = NULL;
	struct bento_hasher *h = NULL;
	struct bento_digest got;
	uint64_t off = 0;
	struct stat st;
	int rc;

	rc = prepare(l, err);
	if (rc < 0)
		return rc;
	bento_digest_str(&src->digest, ds);
	path = blob_path(l, &src->digest);
	/* Blobs land by rename, so a present file of the right size is whole. */
	if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size == src->size) {
		rc = 1;
		goto out;
	}
	if ((rc = bento_atomic_open(&a, path, NULL, 0644, err)))
		goto out;
	h = bento_hasher_new();
	chunk = bento_xmalloc(CHUNK);
	for (;;) {
		ssize_t n = src->read(src->ctx, off, chunk, CHUNK, err);

		if (n < 0) {
			rc = (int)n;
			goto out;
		}
		if (n == 0)
			break;
		off += (uint64_t)n;
		if (off > src->size) {
			rc = bento_error_set(err, BENTO_E_VERIFY, "blob %s: the source gave more than its %llu bytes",
					     ds, (unsigned long long)src->size);
			goto out;
		}
		bento_hasher_update(h, chunk, (size_t)n);
		if ((rc = bento_atomic_write(&a, chunk, (size_t)n, err)))
			goto out;
	}
	if (off != src->size) {
		rc = bento_error_set(err, BENTO_E_VERIFY, "blob %s: the source gave %llu bytes, expected %llu",
				     ds, (unsigned long long)off, (unsigned long long)src->size);
		goto out;
	}
	bento_hasher_final(h, &got);
	if (!bento_digest_eq(&got, &src->digest)) {
		bento_digest_str(&got, gs);
		rc = bento_error_set(err, BENTO_E_VERIFY, "blob %s: digest mismatch: the bytes hash to %s", ds, gs);
		goto out;
	}
	rc = bento_atomic_commit(&a, 0, err);
out:
	bento_atomic_abort(&a);
	free(chunk);
	bento_hasher_free(h);
	free(path);
	return rc;
}

static int layout_blob_put(struct bento_target *t, const struct bento_blob_source *src,
			   const char *from_repo, struct bento_error *err)
{
	int rc;

	(void)from_repo;	/* nothing to mount from in a directory */
	rc = put_blob(L(t), src, err);
	if (rc < 0)
		return rc;
	if (rc == 1) {
		t->stats.blobs_skipped++;
	} else {
		t->stats.blobs_uploaded++;
		t->stats.bytes_uploaded += src->size;
	}
	return 0;
}

static int layout_blob_get(struct bento_target *t, const struct bento_digest *d, uint64_t expect_size,
			   bento_sink_fn sink, void *ctx, struct bento_hasher *sink_hashes,
			   struct bento_error *err)
{
	uint64_t n = 0;
	int rc = ready_read(L(t), err);

	if (rc == 0)
		rc = blob_stream(L(t), d, expect_size, sink, ctx, sink_hashes, &n, err);
	if (rc < 0)
		return rc;
	t->stats.blobs_downloaded++;
	t->stats.bytes_downloaded += n;
	return 0;
}

/* Sort key: ref name ("" when untagged), then digest. */
static int desc_cmp(const void *a, const void *b)
{
	const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	const char *nx = desc_ref_name(x), *ny = desc_ref_name(y);
	const char *dx = bento_json_str(x, "digest"), *dy = bento_json_str(y, "digest");
	int c = strcmp(nx ? nx : "", ny ? ny : "");

	return c ? c : strcmp(dx ? dx : "", dy ? dy : "");
}

static void sort_descs(json_t *arr)
{
	size_t n = json_array_size(arr), i;
	json_t **v = bento_xcalloc(n, sizeof(*v));

	for (i = 0; i < n; i++)
		v[i] = json_incref(json_array_get(arr, i));
	qsort(v, n, sizeof(*v), desc_cmp);
	json_array_clear(arr);
	for (i = 0; i < n; i++)
		json_array_append_new(arr, v[i]);
	free(v);
}

/*
 * Add the manifest to index: under tag it replaces any descriptor with that
 * ref name (and an untagged entry for the same digest, now redundant);
 * without a tag it is listed once, untagged, unless already listed.
 * Returns 1 when index changed.
 */
static int index_add(struct bento_oci_doc *idx, const char *tag, const char *media_type,
		     const char *ds, size_t len)
{
	json_t *index = idx->root, *m = json_object_get(index, "manifests"), *desc, *keep;
	size_t i;

	if (!tag && find_desc(idx, NULL, ds) >= 0)
		return 0;
	keep = json_array();
	json_array_foreach(m, i, desc) {
		const char *name = desc_ref_name(desc), *d = bento_json_str(desc, "digest");

		if (tag && name && strcmp(name, tag) == 0)
			continue;
		if (tag && !name && d && strcmp(d, ds) == 0)
			continue;
		json_array_append(keep, desc);
	}
	desc = json_pack("{s:s,s:s,s:I}", "mediaType", media_type, "digest", ds, "size", (json_int_t)len);
	if (tag)
		json_object_set_new(desc, "annotations", json_pack("{s:s}", REF_NAME, tag));
	json_array_append_new(keep, desc);
	sort_descs(keep);
	json_object_set_new(index, "manifests", keep);
	if (!json_object_get(index, "mediaType"))
		json_object_set_new(index, "mediaType", json_string(OCI_INDEX_V1));
	return 1;
}

static int layout_manifest_put(struct bento_target *t, const char *reference, const char *media_type,
			       const void *data, size_t len, struct bento_digest *out,
			       struct bento_error *err)
{
	struct layout *l = L(t);
	struct bento_mem_source m;
	const struct bento_blob_source *src = &m.src;
	char ds[BENTO_DIGEST_STRLEN];
	const char *tag = bento_digest_valid(reference) ? NULL : reference;
	struct bento_oci_doc index = { 0 };
	json_t *v = NULL;
	int rc, fd = -1;

	bento_mem_source_init(&m, data, len);
	bento_digest_str(&src->digest, ds);
	if (!tag && strcmp(reference, ds) != 0)
		return bento_error_set(err, BENTO_E_VERIFY, "manifest %s: the bytes hash to %s", reference, ds);
	/* Referrer scans and other tools parse what is listed in index.json. */
	rc = bento_json_parse(data, len, "manifest", &v, err);
	json_decref(v);
	if (rc < 0)
		return rc;
	rc = put_blob(l, src, err);
	if (rc < 0)
		return rc;
	rc = lock_index(l, &fd, err);
	if (rc < 0)
		return rc;
	rc = load_index(l, 1, &index, err);
	if (rc == 0 && index_add(&index, tag, media_type, ds, len))
		rc = write_index(l, index.root, err);
	unlock_index(fd);
	bento_oci_doc_release(&index);
	if (rc == 0 && out)
		*out = src->digest;
	return rc;
}

/* Read and verify manifest d (at most OCI_MANIFEST_MAX bytes) into out. */
static int read_manifest(struct layout *l, const struct bento_digest *d, struct bento_buf *out,
			 struct bento_error *err)
{
	uint64_t n;

	return blob_stream(l, d, OCI_MANIFEST_MAX, bento_buf_sink, out, NULL, &n, err);
}

static int layout_manifest_get(struct bento_target *t, const char *reference, struct bento_buf *out,
			       char **media_type, struct bento_digest *digest, struct bento_error *err)
{
	struct layout *l = L(t);
	struct bento_buf b = BENTO_BUF_INIT;
	struct bento_oci_doc index = { 0 };
	const struct bento_oci_desc *desc = NULL;
	struct bento_digest d;
	json_t *v = NULL;
	const char *mt = NULL;
	char *path = bento_xasprintf("%s/index.json", l->dir), field[32];
	long at;
	int rc;

	if ((rc = ready_read(l, err)) || (rc = load_index(l, 0, &index, err)))
		goto out;
	at = bento_digest_valid(reference) ? find_desc(&index, NULL, reference)
					   : find_desc(&index, reference, NULL);
	if (at < 0 && !bento_digest_valid(reference)) {
		rc = bento_error_set(err, BENTO_E_NOTFOUND, "oci:%s: tag '%s' not found", l->dir, reference);
		goto out;
	}
	if (at >= 0) {
		desc = &index.descs[at];
		snprintf(field, sizeof(field), "manifests[%ld]", at);
		if ((rc = bento_oci_desc_sha256(desc, path, field, err)))
			goto out;
		d = desc->digest;
		mt = desc->media_type;
		if (desc->size > OCI_MANIFEST_MAX) {
			rc = bento_error_set(err, BENTO_E_VERIFY, "oci:%s: manifest %s is %llu bytes, more than the %u allowed",
					     l->dir, desc->digest_str, (unsigned long long)desc->size,
					     OCI_MANIFEST_MAX);
			goto out;
		}
	} else {
		bento_digest_parse(reference, &d, NULL);
	}
	rc = read_manifest(l, &d, &b, err);
	if (rc < 0)
		goto out;
	if (desc && desc->size != b.len) {
		rc = bento_error_set(err, BENTO_E_VERIFY, "oci:%s: manifest %s is %zu bytes, index.json says %llu",
				     l->dir, desc->digest_str, b.len, (unsigned long long)desc->size);
		goto out;
	}
	/* Not listed: what it says it is (the reader checks it, whoever asked). */
	if (!mt && bento_json_parse(b.buf, b.len, "manifest", &v, NULL) == 0)
		mt = bento_json_str(v, "mediaType");
	if (media_type)
		*media_type = bento_xstrdup(mt ? mt : OCI_MANIFEST_V1);
	if (digest)
		*digest = d;
	bento_buf_reset(out);
	bento_buf_add(out, b.buf, b.len);
out:
	json_decref(v);
	bento_oci_doc_release(&index);
	bento_buf_release(&b);
	free(path);
	return rc;
}

/* The referrers-API descriptor for manifest m (its bytes: ds, len). */
static json_t *referrer_desc(const struct bento_oci_doc *m, const char *ds, size_t len)
{
	const char *at = m->artifact_type;
	json_t *r;

	if (!at && m->kind == BENTO_OCI_MANIFEST)
		at = m->config.media_type;
	r = json_pack("{s:s,s:s,s:I}", "mediaType", m->media_type, "digest", ds, "size",
		      (json_int_t)len);
	if (at)
		json_object_set_new(r, "artifactType", json_string(at));
	if (m->annotations && json_object_size(m->annotations))
		json_object_set(r, "annotations", (json_t *)(uintptr_t)m->annotations);
	return r;
}

static int digest_cmp(const void *a, const void *b)
{
	return strcmp(bento_json_str(*(json_t *const *)a, "digest"),
		      bento_json_str(*(json_t *const *)b, "digest"));
}

/*
 * Walk every manifest reachable from index.json (through nested indexes)
 * and list those whose subject is the given digest.  Every manifest and
 * index on the way is read strictly (ocidoc.h): one that is malformed, or
 * not of the size or kind its descriptor says, is an error, as is one that
 * does not match its digest.  A listed blob that is missing is skipped (a
 * layout may hold descriptors of content not copied), and so is what no
 * referrer can be: a descriptor of another media type, over 4 MiB, or of a
 * digest algorithm bento does not read.
 */
static int layout_referrers(struct bento_target *t, const struct bento_digest *subject,
			    struct bento_buf *out, struct bento_error *err)
{
	struct layout *l = L(t);
	char subj[BENTO_DIGEST_STRLEN], *path = bento_xasprintf("%s/index.json", l->dir);
	struct bento_oci_doc index = { 0 };
	json_t *work = NULL, *seen, *found, *result = NULL;
	struct bento_buf b = BENTO_BUF_INIT;
	size_t i;
	int rc;

	seen = json_object();
	found = json_object();
	if ((rc = ready_read(l, err)) || (rc = load_index(l, 1, &index, err)))
		goto out;
	bento_digest_str(subject, subj);
	/* the descriptors to visit, each checked when the document holding it was read */
	work = json_copy(json_object_get(index.root, "manifests"));
	for (i = 0; i < json_array_size(work) && i < REFERRERS_SCAN_MAX; i++) {
		struct bento_oci_desc desc;
		struct bento_oci_doc m;
		char *name;

		if ((rc = bento_oci_desc_read(json_array_get(work, i), path, "manifests[]", &desc, err)))
			goto out;
		if (desc.other_algorithm || !bento_oci_media_kind(desc.media_type) ||
		    desc.size > OCI_MANIFEST_MAX || json_object_get(seen, desc.digest_str))
			continue;
		json_object_set_new(seen, desc.digest_str, json_true());
		bento_buf_reset(&b);
		rc = read_manifest(l, &desc.digest, &b, err);
		if (rc == -BENTO_E_NOTFOUND) {
			bento_error_clear(err);
			rc = 0;
			continue;
		}
		if (rc < 0)
			goto out;
		name = bento_xasprintf("oci:%s: manifest %s", l->dir, desc.digest_str);
		if (b.len != desc.size)
			rc = bento_error_set(err, BENTO_E_VERIFY, "%s: %zu bytes, its descriptor says %llu",
					     name, b.len, (unsigned long long)desc.size);
		else
			rc = bento_oci_doc_read(b.buf, b.len, name, desc.media_type,
						BENTO_OCI_MANIFEST | BENTO_OCI_INDEX, &m, err);
		free(name);
		if (rc < 0)
			goto out;
		if (m.kind == BENTO_OCI_INDEX)
			json_array_extend(work, json_object_get(m.root, "manifests"));
		if (m.has_subject && strcmp(m.subject.digest_str, subj) == 0)
			json_object_set_new(found, desc.digest_str, referrer_desc(&m, desc.digest_str, b.len));
		bento_oci_doc_release(&m);
	}
	{
		const char *k;
		json_t *v, *arr = json_array();
		json_t **vv = bento_xcalloc(json_object_size(found) + 1, sizeof(*vv));
		size_t n = 0;

		json_object_foreach(found, k, v)
			vv[n++] = v;
		qsort(vv, n, sizeof(*vv), digest_cmp);
		for (i = 0; i < n; i++)
			json_array_append(arr, vv[i]);
		free(vv);
		result = empty_index();
		json_object_set_new(result, "manifests", arr);
	}
	bento_buf_reset(out);
	rc = bento_json_canonical(result, out, err);
out:
	json_decref(result);
	json_decref(found);
	json_decref(seen);
	json_decref(work);
	bento_oci_doc_release(&index);
	bento_buf_release(&b);
	free(path);
	return rc;
}

/* Referrers are found by scanning, and manifest_put by digest lists them. */
static int layout_referrer_add(struct bento_target *t, const struct bento_digest *subject,
			       const char *descriptor_json, struct bento_error *err)
{
	(void)t;
	(void)subject;
	(void)descriptor_json;
	(void)err;
	return 0;
}

const struct bento_target_ops bento_layout_ops = {
	.open = layout_open,
	.close = layout_close,
	.blob_exists = layout_blob_exists,
	.blob_put = layout_blob_put,
	.blob_get = layout_blob_get,
	.manifest_put = layout_manifest_put,
	.manifest_get = layout_manifest_get,
	.referrers = layout_referrers,
	.referrer_add = layout_referrer_add,
};
