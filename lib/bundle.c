#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "bundle.h"
#include "cjson.h"
#include "manifest.h"

static int load_manifest(struct bento_store *s, const struct bento_digest *d,
			 struct bento_buf *json, struct bento_manifest **m,
			 struct bento_error *err)
{
	char what[BENTO_DIGEST_STRLEN + 16];
	int rc = bento_store_manifest(s, BENTO_KIND_BENTO, d, json, err);

	if (rc)
		return rc;
	bento_digest_str(d, what);
	rc = bento_manifest_parse(json->buf, json->len, what, m, err);
	if (rc == 0 && !bento_digest_eq(&(*m)->digest, d))
		rc = bento_error_set(err, BENTO_E_CORRUPT,
				     "store object %s: manifest does not match its digest (run bento fsck)",
				     what);
	return rc;
}

int bento_export(struct bento_store *s, const struct bento_digest *d, int fd,
		 enum bento_compression comp, struct bento_error *err)
{
	struct bento_buf json = BENTO_BUF_INIT;
	struct bento_manifest *m = NULL;
	struct bento_archive_writer *w = NULL;
	struct bento_entry *e = NULL;
	size_t n = 0;
	int64_t mtime = 0;
	int rc;

	if ((rc = load_manifest(s, d, &json, &m, err)))
		goto out;
	if (m->created && bento_time_parse(m->created, &mtime))
		mtime = 0;
	bento_manifest_entries(m, &e, &n);
	if ((rc = bento_archive_writer_open(fd, comp, mtime, &w, err)) ||
	    (rc = bento_archive_write_bytes(w, "bento.json", 0644, json.buf, json.len, err)))
		goto out;
	for (size_t i = 0; i < n; i++) {
		int bfd;
		if ((rc = bento_blob_open(s, &e[i].file->digest, &bfd, err))) {
			bento_error_prefix(err, "%s", e[i].path);
			goto out;
		}
		rc = bento_archive_write_fd(w, e[i].path, e[i].file->mode, bfd, e[i].file->size, err);
		close(bfd);
		if (rc)
			goto out;
	}
	rc = bento_archive_writer_close(w, err);
out:
	bento_archive_writer_free(w);
	bento_entries_free(e, n);
	bento_manifest_free(m);
	bento_buf_release(&json);
	return rc;
}

/* ---- import ---- */

enum { IO_BUFSZ = 1 << 20 };

static int read_all(struct bento_archive_reader *r, uint64_t size, struct bento_buf *out,
		    struct bento_error *err)
{
	bento_buf_grow(out, (size_t)size);
	while (out->len < size) {
		ssize_t k = bento_archive_read(r, out->buf + out->len, (size_t)(size - out->len), err);
		if (k < 0)
			return (int)k;
		if (k == 0)
			break;
		out->len += (size_t)k;
	}
	out->buf[out->len] = '\0';
	return 0;
}

/* Stream the current entry's data into the store (or just hash it when the blob is present). */
static int take_entry(struct bento_store *s, struct bento_blob_stage *stage,
		      struct bento_archive_reader *r, const char *name,
		      const struct bento_entry *e, unsigned char *buf, struct bento_error *err)
{
	struct bento_blob_writer *w = NULL;
	struct bento_hasher *h = NULL;
	struct bento_digest got;
	uint64_t total = 0;
	int rc = 0;

	if (bento_blob_has(s, &e->file->digest))
		h = bento_hasher_new();
	else if ((rc = bento_blob_writer_new(s, &w, err)))
		return rc;
	for (;;) {
		ssize_t k = bento_archive_read(r, buf, IO_BUFSZ, err);
		if (k < 0) {
			rc = (int)k;
			goto fail;
		}
		if (k == 0)
			break;
		total += (uint64_t)k;
		if (h)
			bento_hasher_update(h, buf, (size_t)k);
		else if ((rc = bento_blob_write(w, buf, (size_t)k, err)))
			goto fail;
	}
	if (total != e->file->size) {
		rc = bento_error_set(err, BENTO_E_VERIFY, "%s: %s: truncated (%llu of %llu bytes)",
				     name, e->path, (unsigned long long)total,
				     (unsigned long long)e->file->size);
		goto fail;
	}
	if (h) {
		bento_hasher_final(h, &got);
		bento_hasher_free(h);
		if (!bento_digest_eq(&got, &e->file->digest)) {
			char want[BENTO_DIGEST_STRLEN], have[BENTO_DIGEST_STRLEN];
			bento_digest_str(&e->file->digest, want);
			bento_digest_str(&got, have);
			return bento_error_set(err, BENTO_E_VERIFY,
					       "%s: %s: digest mismatch: expected %s, got %s", name,
					       e->path, want, have);
		}
		return 0;
	}
	char what[BENTO_PATH_MAX + 256];
	snprintf(what, sizeof(what), "%s: %s", name, e->path);
	return bento_blob_writer_stage(w, stage, what, &e->file->digest, NULL, err);
fail:
	bento_hasher_free(h);
	bento_blob_writer_abort(w);
	return rc;
}

/* A directory entry is allowed only as a parent of listed files. */
static int dir_listed(const struct bento_entry *e, size_t n, const char *dir)
{
	size_t len = strlen(dir), lo = 0, hi = n;

	if (strcmp(dir, "signatures") == 0 || strcmp(dir, "attestations") == 0)
		return 0;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (strcmp(e[mid].path, dir) <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && strncmp(e[lo].path, dir, len) == 0 && e[lo].path[len] == '/';
}

static int check_space(struct bento_store *s, const struct bento_manifest *m, const char *name,
		       struct bento_error *err)
{
	struct statvfs sv;

	if (statvfs(bento_store_root(s), &sv) < 0)
		return 0;
	uint64_t avail = (uint64_t)sv.f_bavail * sv.f_frsize;
	if (m->size > avail) {
		char d[32], a[32];
		snprintf(d, sizeof(d), "%llu", (unsigned long long)m->size);
		snprintf(a, sizeof(a), "%llu", (unsigned long long)avail);
		bento_error_set(err, BENTO_E_FAIL, "%s: needs %s bytes but the store has %s bytes free",
				name, d, a);
		if (err)
			err->code = -ENOSPC;
		return -ENOSPC;
	}
	return 0;
}

/* A name:version in the store that names other content: refuse before reading anything. */
static int tag_taken(struct bento_store *s, enum bento_kind kind, const char *name,
		     const char *version, const struct bento_digest *d, const char *what,
		     struct bento_error *err)
{
	struct bento_object_ref ref = { 0 };
	char *tag = bento_xasprintf("%s:%s", name, version);
	int rc = 0;

	if (bento_store_resolve(s, kind, tag, &ref, NULL) == 0 && !bento_digest_eq(&ref.digest, d)) {
		char have[BENTO_DIGEST_STRLEN];
		bento_digest_str(&ref.digest, have);
		rc = bento_error_set(err, BENTO_E_EXISTS,
				     "%s: %s %s already exists in the store with other content (%s)",
				     what, kind == BENTO_KIND_MODEL ? "model" : "bento", tag, have);
	}
	bento_object_ref_release(&ref);
	free(tag);
	return rc;
}

static int check_tags(struct bento_store *s, const struct bento_manifest *m, const char *name,
		      struct bento_error *err)
{
	int rc = tag_taken(s, BENTO_KIND_BENTO, m->name, m->version, &m->digest, name, err);

	for (size_t i = 0; rc == 0 && i < m->n_models; i++)
		rc = tag_taken(s, BENTO_KIND_MODEL, m->models[i].name, m->models[i].version,
			       &m->models[i].digest, name, err);
	return rc;
}

static int commit_import(struct bento_store *s, const struct bento_manifest *m,
			 const struct bento_buf *json, struct bento_error *err)
{
	struct bento_digest *blobs, *deps = bento_xcalloc(m->n_models + 1, sizeof(*deps));
	size_t n_blobs;
	int rc = 0;

	for (size_t i = 0; i < m->n_models && rc == 0; i++) {
		const struct bento_model *mod = &m->models[i];
		struct bento_buf canon = BENTO_BUF_INIT;
		struct bento_digest *mb = bento_xcalloc(mod->n_files + 1, sizeof(*mb));
		for (size_t k = 0; k < mod->n_files; k++)
			mb[k] = mod->files[k].digest;
		rc = bento_json_canonical(mod->json, &canon, err);
		if (rc == 0) {
			struct bento_object_put p = {
				.kind = BENTO_KIND_MODEL, .name = mod->name, .version = mod->version,
				.manifest = canon.buf, .manifest_len = canon.len,
				.blobs = mb, .n_blobs = mod->n_files, .size = mod->size,
			};
			rc = bento_store_put(s, &p, NULL, err);
		}
		deps[i] = mod->digest;
		free(mb);
		bento_buf_release(&canon);
	}
	bento_manifest_blobs(m, &blobs, &n_blobs);
	if (rc == 0) {
		struct bento_object_put p = {
			.kind = BENTO_KIND_BENTO, .name = m->name, .version = m->version,
			.manifest = json->buf, .manifest_len = json->len,
			.blobs = blobs, .n_blobs = n_blobs, .deps = deps, .n_deps = m->n_models,
			.size = m->size,
		};
		rc = bento_store_put(s, &p, NULL, err);
	}
	free(blobs);
	free(deps);
	return rc;
}

/* For import, input that is not a bento archive at all is as bad as a damaged one. */
static int as_verify(int rc, struct bento_error *err)
{
	if (rc != -BENTO_E_INVALID)
		return rc;
	if (err)
		err->code = -BENTO_E_VERIFY;
	return -BENTO_E_VERIFY;
}

int bento_import(struct bento_store *s, int fd, const char *name,
		 struct bento_build_result *out, struct bento_error *err)
{
	struct bento_archive_reader *r = NULL;
	struct bento_blob_stage *stage = bento_blob_stage_new(s);
	struct bento_archive_entry ae;
	struct bento_buf json = BENTO_BUF_INIT;
	struct bento_manifest *m = NULL;
	struct bento_entry *e = NULL;
	unsigned char *buf = NULL, *seen = NULL;
	size_t n = 0;
	int rc;

	if ((rc = bento_archive_reader_open(fd, name, &r, err))) {
		rc = as_verify(rc, err);
		goto out;
	}
	rc = bento_archive_next(r, &ae, err);
	if (rc < 0) {
		rc = as_verify(rc, err);
		goto out;
	}
	if (rc == 0 || ae.type != BENTO_ENTRY_FILE || strcmp(ae.path, "bento.json") != 0) {
		rc = bento_error_set(err, BENTO_E_VERIFY,
				     "%s: the first entry must be bento.json, found %s", name,
				     rc == 0 ? "an empty archive" : ae.path);
		goto out;
	}
	if (ae.size > BENTO_MANIFEST_MAX) {
		rc = bento_error_set(err, BENTO_E_VERIFY, "%s: bento.json is larger than %u bytes",
				     name, BENTO_MANIFEST_MAX);
		goto out;
	}
	if ((rc = read_all(r, ae.size, &json, err)))
		goto out;
	if ((rc = bento_manifest_parse(json.buf, json.len, "bento.json", &m, err))) {
		bento_error_prefix(err, "%s", name);
		rc = as_verify(rc, err);
		goto out;
	}
	if ((rc = check_space(s, m, name, err)) || (rc = check_tags(s, m, name, err)))
		goto out;
	bento_manifest_entries(m, &e, &n);
	seen = bento_xcalloc(n + 1, 1);
	buf = bento_xmalloc(IO_BUFSZ);
	while ((rc = as_verify(bento_archive_next(r, &ae, err), err)) == 1) {
		const struct bento_entry *it;

		if (ae.type == BENTO_ENTRY_DIR) {
			if (!dir_listed(e, n, ae.path)) {
				rc = bento_error_set(err, BENTO_E_UNSAFE,
						     "%s: %s/: directory not listed in bento.json", name,
						     ae.path);
				goto out;
			}
			continue;
		}
		it = bento_entries_find(e, n, ae.path);
		if (!it) {
			rc = bento_error_set(err, BENTO_E_UNSAFE, "%s: %s: not listed in bento.json",
					     name, ae.path);
			goto out;
		}
		if (seen[it - e]++) {
			rc = bento_error_set(err, BENTO_E_UNSAFE, "%s: %s: duplicate entry", name,
					     ae.path);
			goto out;
		}
		if (ae.size != it->file->size) {
			rc = bento_error_set(err, BENTO_E_VERIFY,
					     "%s: %s: size %llu differs from bento.json (%llu)", name,
					     ae.path, (unsigned long long)ae.size,
					     (unsigned long long)it->file->size);
			goto out;
		}
		if (((ae.mode & 0100) ? 0755u : 0644u) != it->file->mode) {
			rc = bento_error_set(err, BENTO_E_VERIFY,
					     "%s: %s: mode %o differs from bento.json (%o)", name,
					     ae.path, ae.mode & 07777, it->file->mode);
			goto out;
		}
		if ((rc = take_entry(s, stage, r, name, it, buf, err)))
			goto out;
	}
	if (rc < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		if (!seen[i]) {
			rc = bento_error_set(err, BENTO_E_VERIFY,
					     "%s: %s: listed in bento.json but missing from the archive",
					     name, e[i].path);
			goto out;
		}
	}
	char d[BENTO_DIGEST_STRLEN];
	struct bento_object_ref had = { 0 };
	bento_digest_str(&m->digest, d);
	int existed = bento_store_resolve(s, BENTO_KIND_BENTO, d, &had, NULL) == 0;
	bento_object_ref_release(&had);
	if ((rc = bento_blob_stage_commit(stage, err)) || (rc = commit_import(s, m, &json, err)))
		goto out;
	if (out) {
		memset(out, 0, sizeof(*out));
		out->name = bento_xstrdup(m->name);
		out->version = bento_xstrdup(m->version);
		out->digest = m->digest;
		out->size = m->size;
		out->n_files = n;
		out->existed = existed;
	}
out:
	bento_blob_stage_free(stage);
	free(buf);
	free(seen);
	bento_entries_free(e, n);
	bento_manifest_free(m);
	bento_buf_release(&json);
	bento_archive_reader_free(r);
	return rc;
}
