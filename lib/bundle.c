#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "bundle.h"
#include "cjson.h"
#include "fs.h"
#include "history.h"
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

int bento_write_attachments(struct bento_archive_writer *w, const char *dir,
			    const char *suffix, const struct bento_attachment *v, size_t n,
			     struct bento_error *err)
{
	for (size_t i = 0; i < n; i++) {
		char *path = bento_xasprintf("%s/%s%s", dir, v[i].name, suffix);
		int rc = bento_archive_write_bytes(w, path, 0644, v[i].data, v[i].len, err);
		free(path);
		if (rc)
			return rc;
	}
	return 0;
}

/*
 * Export's read-ahead: a helper thread opens the blobs in the archive's
 * order and reads the small ones whole, while the caller writes headers
 * and data; opening and reading 20,000 small files is most of an export's
 * time, and on two cores the two halves overlap.  Bounded by AHEAD_SLOTS
 * files and AHEAD_BYTES of data in hand, so memory stays flat.  A blob
 * read short or long is left to bento_archive_write_fd, which says why.
 */
enum { AHEAD_SLOTS = 128, AHEAD_BYTES = 8 << 20, AHEAD_FILE_MAX = 1 << 20 };

struct ahead_slot {
	int fd;			/* -1 once read whole (or on error) */
	char *buf;		/* a small blob's bytes; NULL for a big one */
	size_t len;		/* bytes read: the size when whole */
	int rc;
	struct bento_error err;
};

struct ahead {
	struct bento_store *s;
	const struct bento_entry *e;
	size_t n;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	size_t head, tail;	/* slots filled, slots consumed */
	size_t bytes;		/* data held in filled, unconsumed slots */
	bool stop, threaded;
	pthread_t tid;
	struct ahead_slot slot[AHEAD_SLOTS];
};

static void ahead_fill(struct ahead *a, size_t i, struct ahead_slot *sl)
{
	const struct bento_file *f = a->e[i].file;

	memset(sl, 0, sizeof(*sl));
	sl->fd = -1;
	if ((sl->rc = bento_blob_open(a->s, &f->digest, &sl->fd, &sl->err)))
		return;
	if (f->size > AHEAD_FILE_MAX)
		return;
	/* one byte more than the size: a whole blob answers short */
	sl->buf = bento_xmalloc((size_t)f->size + 1);
	while (sl->len <= f->size) {
		ssize_t k = bento_read_fd(sl->fd, sl->buf + sl->len, (size_t)f->size + 1 - sl->len);
		if (k <= 0)
			break;
		sl->len += (size_t)k;
	}
	if (sl->len == f->size) {
		close(sl->fd);
		sl->fd = -1;
	}
}

static void *ahead_main(void *arg)
{
	struct ahead *a = arg;

	for (size_t i = 0; i < a->n; i++) {
		pthread_mutex_lock(&a->mu);
		while (!a->stop && (i - a->tail >= AHEAD_SLOTS || a->bytes >= AHEAD_BYTES))
			pthread_cond_wait(&a->cv, &a->mu);
		bool stop = a->stop;
		pthread_mutex_unlock(&a->mu);
		if (stop)
			break;
		struct ahead_slot *sl = &a->slot[i % AHEAD_SLOTS];
		ahead_fill(a, i, sl);
		pthread_mutex_lock(&a->mu);
		a->bytes += sl->len;
		a->head = i + 1;
		pthread_cond_broadcast(&a->cv);
		pthread_mutex_unlock(&a->mu);
	}
	return NULL;
}

/* On the heap: its slots' messages make it too big for a thread's stack. */
static struct ahead *ahead_start(struct bento_store *s, const struct bento_entry *e, size_t n)
{
	struct ahead *a = bento_xcalloc(1, sizeof(*a));

	a->s = s, a->e = e, a->n = n;
	pthread_mutex_init(&a->mu, NULL);
	pthread_cond_init(&a->cv, NULL);
	/* no thread: each slot filled when it is wanted */
	a->threaded = n > 1 && pthread_create(&a->tid, NULL, ahead_main, a) == 0;
	return a;
}

/* Slot i, filled; hand it back with ahead_done. */
static struct ahead_slot *ahead_get(struct ahead *a, size_t i)
{
	struct ahead_slot *sl = &a->slot[i % AHEAD_SLOTS];

	if (!a->threaded) {
		ahead_fill(a, i, sl);
		a->head = i + 1;
		return sl;
	}
	pthread_mutex_lock(&a->mu);
	while (a->head <= i)
		pthread_cond_wait(&a->cv, &a->mu);
	pthread_mutex_unlock(&a->mu);
	return sl;
}

static void slot_clear(struct ahead_slot *sl)
{
	if (sl->fd >= 0)
		close(sl->fd);
	free(sl->buf);
	sl->fd = -1;
	sl->buf = NULL;
}

static void ahead_done(struct ahead *a, struct ahead_slot *sl)
{
	size_t len = sl->len;

	slot_clear(sl);
	pthread_mutex_lock(&a->mu);
	a->bytes -= len;
	a->tail++;
	pthread_cond_broadcast(&a->cv);
	pthread_mutex_unlock(&a->mu);
}

/* Stops the helper, drops what it read that was not written, and frees a. */
static void ahead_stop(struct ahead *a)
{
	if (a->threaded) {
		pthread_mutex_lock(&a->mu);
		a->stop = true;
		pthread_cond_broadcast(&a->cv);
		pthread_mutex_unlock(&a->mu);
		pthread_join(a->tid, NULL);
	}
	for (size_t i = a->tail; i < a->head; i++)
		slot_clear(&a->slot[i % AHEAD_SLOTS]);
	pthread_cond_destroy(&a->cv);
	pthread_mutex_destroy(&a->mu);
	free(a);
}

int bento_export(struct bento_store *s, const struct bento_digest *d, int fd,
		 enum bento_compression comp, struct bento_error *err)
{
	struct bento_buf json = BENTO_BUF_INIT;
	struct bento_manifest *m = NULL;
	struct bento_archive_writer *w = NULL;
	struct bento_attachment *sigs = NULL, *atts = NULL;
	struct bento_entry *e = NULL;
	struct ahead *ahead;
	size_t n = 0, n_sigs = 0, n_atts = 0;
	int64_t mtime = 0;
	int rc;

	if ((rc = load_manifest(s, d, &json, &m, err)) ||
	    (rc = bento_store_signatures(s, d, &sigs, &n_sigs, err)) ||
	    (rc = bento_store_attestations(s, d, &atts, &n_atts, err)))
		goto out;
	/* Not an archive import would refuse (a store filled before the caps may hold more). */
	if ((rc = bento_attachments_check(sigs, n_sigs, atts, n_atts, err))) {
		bento_error_prefix(err, "%s:%s", m->name, m->version);
		goto out;
	}
	if (m->created && bento_time_parse(m->created, &mtime))
		mtime = 0;
	bento_manifest_entries(m, &e, &n);
	if ((rc = bento_archive_writer_open(fd, comp, mtime, &w, err)) ||
	    (rc = bento_archive_write_bytes(w, "bento.json", 0644, json.buf, json.len, err)) ||
	    (rc = bento_write_attachments(w, "signatures", ".minisig", sigs, n_sigs, err)) ||
	    (rc = bento_write_attachments(w, "attestations", "", atts, n_atts, err)))
		goto out;
	ahead = ahead_start(s, e, n);
	for (size_t i = 0; i < n && rc == 0; i++) {
		struct ahead_slot *sl = ahead_get(ahead, i);
		const struct bento_file *f = e[i].file;

		if ((rc = sl->rc)) {
			if (err)
				*err = sl->err;
			bento_error_prefix(err, "%s", e[i].path);
		} else if (sl->fd < 0) {
			rc = bento_archive_write_bytes(w, e[i].path, f->mode, sl->buf, sl->len, err);
		} else if (lseek(sl->fd, 0, SEEK_SET) < 0) {
			rc = bento_error_errno(err, errno, "%s: seek", e[i].path);
		} else {
			rc = bento_archive_write_fd(w, e[i].path, f->mode, sl->fd, f->size, err);
		}
		ahead_done(ahead, sl);
	}
	ahead_stop(ahead);
	if (rc == 0)
		rc = bento_archive_writer_close(w, err);
out:
	bento_archive_writer_free(w);
	bento_attachments_free(sigs, n_sigs);
	bento_attachments_free(atts, n_atts);
	bento_entries_free(e, n);
	bento_manifest_free(m);
	bento_buf_release(&json);
	return rc;
}

/* ---- reading archives ---- */

enum { IO_BUFSZ = 1 << 20 };

/*
 * One pass over an archive.  With a store, content goes into its stage and
 * the first problem stops the walk; without one (verify), content is only
 * hashed and each bad file becomes a FAIL in the report while the walk
 * goes on.
 */
struct walk {
	struct bento_store *s;
	struct bento_blob_stage *stage;
	struct bento_report *report;	/* verify mode */
	const char *name;
	struct bento_buf json;
	struct bento_manifest *m;
	struct bento_entry *e;
	size_t n;
	unsigned char *seen;
	unsigned char *buf;
	struct bento_attachment *sigs, *atts;
	size_t n_sigs, n_atts;
	struct bento_attachment_tally tally;
};

static void walk_release(struct walk *w)
{
	bento_blob_stage_free(w->stage);
	bento_buf_release(&w->json);
	bento_manifest_free(w->m);
	bento_entries_free(w->e, w->n);
	free(w->seen);
	free(w->buf);
	bento_attachments_free(w->sigs, w->n_sigs);
	bento_attachments_free(w->atts, w->n_atts);
	memset(w, 0, sizeof(*w));
}

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

static int digest_mismatch(struct walk *w, const struct bento_entry *e,
			   const struct bento_digest *got, struct bento_error *err)
{
	char want[BENTO_DIGEST_STRLEN], have[BENTO_DIGEST_STRLEN];

	bento_digest_str(&e->file->digest, want);
	bento_digest_str(got, have);
	if (w->report) {
		bento_report_add(w->report, BENTO_CHECK_FAIL, e->path,
				 "digest mismatch: expected %s, got %s", want, have);
		return 0;
	}
	return bento_error_set(err, BENTO_E_VERIFY, "%s: %s: digest mismatch: expected %s, got %s",
			       w->name, e->path, want, have);
}

/* Stream the current entry into the stage, or only hash it (verify, or the blob is present). */
static int take_entry(struct walk *w, struct bento_archive_reader *r, const struct bento_entry *e,
		      struct bento_error *err)
{
	struct bento_blob_writer *bw = NULL;
	struct bento_hasher *h = NULL;
	struct bento_digest got;
	uint64_t total = 0;
	int rc = 0;

	/* a small blob's writer looks for it in the store itself, once hashed */
	if (!w->s || (e->file->size >= BENTO_BLOB_SMALL && bento_blob_has(w->s, &e->file->digest)))
		h = bento_hasher_new();
	else if ((rc = bento_blob_writer_open(w->s, e->file->size, &bw, err)))
		return rc;
	for (;;) {
		ssize_t k = bento_archive_read(r, w->buf, IO_BUFSZ, err);
		if (k < 0) {
			rc = (int)k;
			goto fail;
		}
		if (k == 0)
			break;
		total += (uint64_t)k;
		if (h)
			bento_hasher_update(h, w->buf, (size_t)k);
		else if ((rc = bento_blob_write(bw, w->buf, (size_t)k, err)))
			goto fail;
	}
	if (total != e->file->size) {
		rc = bento_error_set(err, BENTO_E_VERIFY, "%s: %s: truncated (%llu of %llu bytes)",
				     w->name, e->path, (unsigned long long)total,
				     (unsigned long long)e->file->size);
		goto fail;
	}
	if (h) {
		bento_hasher_final(h, &got);
		bento_hasher_free(h);
		return bento_digest_eq(&got, &e->file->digest) ? 0 : digest_mismatch(w, e, &got, err);
	}
	char what[BENTO_PATH_MAX + 256];
	snprintf(what, sizeof(what), "%s: %s", w->name, e->path);
	return bento_blob_writer_stage(bw, w->stage, what, &e->file->digest, NULL, err);
fail:
	bento_hasher_free(h);
	bento_blob_writer_abort(bw);
	return rc;
}

/* A directory entry is allowed only as a parent of what the archive may hold. */
static int dir_listed(const struct bento_entry *e, size_t n, const char *dir)
{
	size_t len = strlen(dir), lo = 0, hi = n;

	if (strcmp(dir, "signatures") == 0 || strcmp(dir, "attestations") == 0)
		return 1;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (strcmp(e[mid].path, dir) <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && strncmp(e[lo].path, dir, len) == 0 && e[lo].path[len] == '/';
}

/*
 * signatures/KEYID.minisig or attestations/NAME.dsse.json: checked by the
 * store's rules before its bytes are read, then read whole into the walk.
 */
static int take_attachment(struct walk *w, struct bento_archive_reader *r,
			   const struct bento_archive_entry *ae, struct bento_error *err)
{
	int is_sig = strncmp(ae->path, "signatures/", 11) == 0;
	const char *base = ae->path + (is_sig ? 11 : 13);
	/* signatures are kept by key id */
	size_t keep = is_sig ? BENTO_KEYID_HEXLEN : strlen(base);
	struct bento_attachment **v = is_sig ? &w->sigs : &w->atts;
	size_t *n = is_sig ? &w->n_sigs : &w->n_atts;
	struct bento_buf data = BENTO_BUF_INIT;
	int rc;

	if ((rc = bento_attachment_admit(&w->tally, is_sig, base, ae->size, err))) {
		bento_error_prefix(err, "%s: %s", w->name, ae->path);
		return rc;
	}
	for (size_t i = 0; i < *n; i++)
		if (strncmp((*v)[i].name, base, keep) == 0 && !(*v)[i].name[keep])
			return bento_error_set(err, BENTO_E_UNSAFE, "%s: %s: duplicate entry", w->name,
					       ae->path);
	if ((rc = read_all(r, ae->size, &data, err))) {
		bento_buf_release(&data);
		return rc;
	}
	*v = bento_xrealloc(*v, (*n + 1) * sizeof(**v));
	(*v)[*n].name = bento_xstrndup(base, keep);
	(*v)[*n].data = bento_buf_detach(&data, &(*v)[*n].len);
	(*n)++;
	return 0;
}

int bento_bundle_check_space(struct bento_store *s, const struct bento_manifest *m, const char *name,
			     struct bento_error *err)
{
	struct statvfs sv;

	if (statvfs(bento_store_root(s), &sv) < 0)
		return 0;
	uint64_t avail = (uint64_t)sv.f_bavail * sv.f_frsize;
	if (m->size > avail) {
		bento_error_set(err, BENTO_E_FAIL, "%s: needs %llu bytes but the store has %llu bytes free",
				name, (unsigned long long)m->size, (unsigned long long)avail);
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

int bento_bundle_check_tags(struct bento_store *s, const struct bento_manifest *m, const char *name,
			    struct bento_error *err)
{
	int rc = tag_taken(s, BENTO_KIND_BENTO, m->name, m->version, &m->digest, name, err);

	for (size_t i = 0; rc == 0 && i < m->n_models; i++)
		rc = tag_taken(s, BENTO_KIND_MODEL, m->models[i].name, m->models[i].version,
			       &m->models[i].digest, name, err);
	return rc;
}

/* Input that is not a bento archive at all is as bad as a damaged one. */
static int as_verify(int rc, struct bento_error *err)
{
	if (rc != -BENTO_E_INVALID)
		return rc;
	if (err)
		err->code = -BENTO_E_VERIFY;
	return -BENTO_E_VERIFY;
}

static int walk_archive(struct walk *w, int fd, struct bento_error *err)
{
	struct bento_archive_reader *r = NULL;
	struct bento_archive_entry ae;
	int rc;

	if ((rc = as_verify(bento_archive_reader_open(fd, w->name, &r, err), err)))
		goto out;
	rc = as_verify(bento_archive_next(r, &ae, err), err);
	if (rc < 0)
		goto out;
	if (rc == 0 || ae.type != BENTO_ENTRY_FILE || strcmp(ae.path, "bento.json") != 0) {
		rc = bento_error_set(err, BENTO_E_VERIFY,
				     "%s: the first entry must be bento.json, found %s", w->name,
				     rc == 0 ? "an empty archive" : ae.path);
		goto out;
	}
	if (ae.size > BENTO_MANIFEST_MAX) {
		rc = bento_error_set(err, BENTO_E_VERIFY, "%s: bento.json is larger than %u bytes",
				     w->name, BENTO_MANIFEST_MAX);
		goto out;
	}
	if ((rc = read_all(r, ae.size, &w->json, err)))
		goto out;
	if ((rc = bento_manifest_parse(w->json.buf, w->json.len, "bento.json", &w->m, err))) {
		bento_error_prefix(err, "%s", w->name);
		rc = as_verify(rc, err);
		goto out;
	}
	if (w->s && ((rc = bento_bundle_check_space(w->s, w->m, w->name, err)) ||
		     (rc = bento_bundle_check_tags(w->s, w->m, w->name, err))))
		goto out;
	bento_manifest_entries(w->m, &w->e, &w->n);
	w->seen = bento_xcalloc(w->n + 1, 1);
	w->buf = bento_xmalloc(IO_BUFSZ);
	while ((rc = as_verify(bento_archive_next(r, &ae, err), err)) == 1) {
		const struct bento_entry *it;

		if (ae.type == BENTO_ENTRY_DIR) {
			if (!dir_listed(w->e, w->n, ae.path)) {
				rc = bento_error_set(err, BENTO_E_UNSAFE,
						     "%s: %s/: directory not listed in bento.json",
						     w->name, ae.path);
				goto out;
			}
			continue;
		}
		if (strncmp(ae.path, "signatures/", 11) == 0 ||
		    strncmp(ae.path, "attestations/", 13) == 0) {
			/* Not executable: tar would extract one as a program. */
			if (ae.mode != 0644) {
				rc = bento_error_set(err, BENTO_E_UNSAFE,
						     "%s: %s: mode %04o (signatures and attestations are 0644)",
						     w->name, ae.path, ae.mode);
				goto out;
			}
			if ((rc = take_attachment(w, r, &ae, err)))
				goto out;
			continue;
		}
		it = bento_entries_find(w->e, w->n, ae.path);
		if (!it) {
			rc = bento_error_set(err, BENTO_E_UNSAFE, "%s: %s: not listed in bento.json",
					     w->name, ae.path);
			goto out;
		}
		if (w->seen[it - w->e]++) {
			rc = bento_error_set(err, BENTO_E_UNSAFE, "%s: %s: duplicate entry", w->name,
					     ae.path);
			goto out;
		}
		if (ae.size != it->file->size) {
			rc = bento_error_set(err, BENTO_E_VERIFY,
					     "%s: %s: size %llu differs from bento.json (%llu)", w->name,
					     ae.path, (unsigned long long)ae.size,
					     (unsigned long long)it->file->size);
			goto out;
		}
		if (((ae.mode & 0100) ? 0755u : 0644u) != it->file->mode) {
			rc = bento_error_set(err, BENTO_E_VERIFY,
					     "%s: %s: mode %o differs from bento.json (%o)", w->name,
					     ae.path, ae.mode & 07777, it->file->mode);
			goto out;
		}
		if ((rc = take_entry(w, r, it, err)))
			goto out;
	}
	if (rc < 0)
		goto out;
	for (size_t i = 0; i < w->n; i++) {
		if (!w->seen[i]) {
			rc = bento_error_set(err, BENTO_E_VERIFY,
					     "%s: %s: listed in bento.json but missing from the archive",
					     w->name, w->e[i].path);
			goto out;
		}
	}
out:
	bento_archive_reader_free(r);
	return rc;
}

/* ---- import ---- */

int bento_bundle_commit(struct bento_store *s, struct bento_blob_stage *stage,
			const struct bento_manifest *m, const char *json, size_t len,
			const struct bento_attachment *sigs, size_t n_sigs,
			const struct bento_attachment *atts, size_t n_atts, const char *action,
			json_t *details, const char *name, struct bento_error *err)
{
	struct bento_object_put *p = bento_xcalloc(m->n_models + 1, sizeof(*p));
	struct bento_buf *canon = bento_xcalloc(m->n_models + 1, sizeof(*canon));
	struct bento_digest **mb = bento_xcalloc(m->n_models + 1, sizeof(*mb));
	struct bento_digest *blobs, *deps = bento_xcalloc(m->n_models + 1, sizeof(*deps));
	size_t n_blobs;
	int rc = 0;

	for (size_t i = 0; i < m->n_models; i++)
		bento_buf_init(&canon[i]);
	for (size_t i = 0; i < m->n_models && rc == 0; i++) {
		const struct bento_model *mod = &m->models[i];
		mb[i] = bento_xcalloc(mod->n_files + 1, sizeof(**mb));
		for (size_t k = 0; k < mod->n_files; k++)
			mb[i][k] = mod->files[k].digest;
		rc = bento_json_canonical(mod->json, &canon[i], err);
		p[i] = (struct bento_object_put){
			.kind = BENTO_KIND_MODEL, .name = mod->name, .version = mod->version,
			.manifest = canon[i].buf, .manifest_len = canon[i].len,
			.blobs = mb[i], .n_blobs = mod->n_files, .size = mod->size,
		};
		deps[i] = mod->digest;
	}
	bento_manifest_blobs(m, &blobs, &n_blobs);
	struct bento_event_in ev = {
		.action = action, .kind = BENTO_KIND_BENTO, .name = m->name,
		.version = m->version, .digest = &m->digest, .details = details,
	};
	p[m->n_models] = (struct bento_object_put){
		.kind = BENTO_KIND_BENTO, .name = m->name, .version = m->version,
		.manifest = json, .manifest_len = len,
		.blobs = blobs, .n_blobs = n_blobs, .deps = deps, .n_deps = m->n_models,
		.size = m->size, .event = &ev,
		.sigs = sigs, .n_sigs = n_sigs, .atts = atts, .n_atts = n_atts,
	};
	/* The models, the bento, what it carries, its event and its blobs: one transaction. */
	if (rc == 0)
		rc = bento_store_commit(s, stage, p, m->n_models + 1, err);
	/* A tag another import or pull took since check_tags: say so as check_tags does. */
	if (rc && !(rc == -BENTO_E_EXISTS && bento_bundle_check_tags(s, m, name, err) == rc))
		bento_error_prefix(err, "%s", name);
	for (size_t i = 0; i < m->n_models; i++) {
		bento_buf_release(&canon[i]);
		free(mb[i]);
	}
	free(canon);
	free(mb);
	free(p);
	free(blobs);
	free(deps);
	return rc;
}

int bento_import(struct bento_store *s, int fd, const char *name,
		 const struct bento_import_opts *o, struct bento_build_result *out,
		 struct bento_error *err)
{
	static const struct bento_keyring none = BENTO_KEYRING_INIT;
	const struct bento_keyring *kr = o && o->keys ? o->keys : &none;
	struct bento_report local = { 0 }, *r = o && o->report ? o->report : &local;
	struct walk w = { .s = s, .name = name };
	int rc, existed;

	w.stage = bento_blob_stage_new(s);
	if ((rc = walk_archive(&w, fd, err)))
		goto out;
	/* Every signature and attestation is judged before anything is committed. */
	bento_check_signatures(r, w.m, w.json.buf, w.json.len, w.sigs, w.n_sigs, kr);
	bento_check_attestations(r, w.m, w.atts, w.n_atts, kr);
	if ((rc = bento_policy_check(o ? o->policy : NULL, o && o->require_signature, w.m->name, r,
				     kr, err))) {
		bento_error_prefix(err, "%s", name);
		goto out;
	}
	existed = bento_store_has_object(s, BENTO_KIND_BENTO, &w.m->digest);
	json_t *details = json_pack("{s:s, s:I, s:I}", "source", name, "signatures",
				    (json_int_t)w.n_sigs, "attestations", (json_int_t)w.n_atts);
	rc = bento_bundle_commit(s, w.stage, w.m, w.json.buf, w.json.len, w.sigs, w.n_sigs, w.atts,
				 w.n_atts, "import", details, name, err);
	json_decref(details);
	if (rc)
		goto out;
	if (out) {
		memset(out, 0, sizeof(*out));
		out->name = bento_xstrdup(w.m->name);
		out->version = bento_xstrdup(w.m->version);
		out->digest = w.m->digest;
		out->size = w.m->size;
		out->n_files = w.n;
		out->existed = existed;
		out->signed_by_key = r->trusted_signatures > 0;
	}
out:
	bento_report_release(&local);
	walk_release(&w);
	return rc;
}

/* ---- verify ---- */

static void report_models(struct bento_report *r, const struct bento_manifest *m)
{
	for (size_t i = 0; i < m->n_models; i++) {
		char d[BENTO_DIGEST_STRLEN], what[300];
		bento_digest_str(&m->models[i].digest, d);
		snprintf(what, sizeof(what), "model %s:%s", m->models[i].name, m->models[i].version);
		bento_report_add(r, BENTO_CHECK_OK, what, "manifest matches %s (%zu files)", d,
				 m->models[i].n_files);
	}
}

int bento_verify_archive(int fd, const char *name, const struct bento_keyring *kr,
			 struct bento_report *r, struct bento_manifest **m_out,
			 struct bento_error *err)
{
	struct walk w = { .report = r, .name = name };
	char d[BENTO_DIGEST_STRLEN];
	size_t before = r->failed;
	int rc = walk_archive(&w, fd, err);

	if (rc == 0) {
		bento_digest_str(&w.m->digest, d);
		bento_report_add(r, BENTO_CHECK_OK, "bento.json", "%s:%s is %s", w.m->name,
				 w.m->version, d);
		report_models(r, w.m);
		if (r->failed == before)
			bento_report_add(r, BENTO_CHECK_OK, "files",
					 "all %zu files match their digests", w.n);
		bento_check_signatures(r, w.m, w.json.buf, w.json.len, w.sigs, w.n_sigs, kr);
		bento_check_attestations(r, w.m, w.atts, w.n_atts, kr);
		if (m_out) {
			*m_out = w.m;
			w.m = NULL;
		}
	}
	walk_release(&w);
	return rc;
}

/* A stored file: present with the right size, and with full also the right content. */
static void check_blob(struct bento_store *s, const struct bento_entry *e, int full,
		       struct bento_report *r)
{
	struct bento_error err = { 0 };
	struct bento_digest got;
	struct stat st;
	uint64_t size = 0;
	int fd;

	if (bento_blob_open(s, &e->file->digest, &fd, &err)) {
		bento_report_add(r, BENTO_CHECK_FAIL, e->path, "%s", err.msg);
		return;
	}
	if (fstat(fd, &st) < 0 || (uint64_t)st.st_size != e->file->size) {
		bento_report_add(r, BENTO_CHECK_FAIL, e->path, "size %lld differs from bento.json (%llu)",
				 (long long)st.st_size, (unsigned long long)e->file->size);
	} else if (full) {
		if (bento_digest_fd(fd, e->path, &got, &size, &err))
			bento_report_add(r, BENTO_CHECK_FAIL, e->path, "%s", err.msg);
		else if (!bento_digest_eq(&got, &e->file->digest)) {
			char want[BENTO_DIGEST_STRLEN], have[BENTO_DIGEST_STRLEN];
			bento_digest_str(&e->file->digest, want);
			bento_digest_str(&got, have);
			bento_report_add(r, BENTO_CHECK_FAIL, e->path,
					 "digest mismatch: expected %s, got %s", want, have);
		}
	}
	close(fd);
}

int bento_verify_stored(struct bento_store *s, const struct bento_digest *d, int full,
			const struct bento_keyring *kr, struct bento_report *r,
			struct bento_manifest **m_out, struct bento_error *err)
{
	struct bento_buf json = BENTO_BUF_INIT;
	struct bento_manifest *m = NULL;
	struct bento_attachment *sigs = NULL, *atts = NULL;
	struct bento_entry *e = NULL;
	size_t n = 0, n_sigs = 0, n_atts = 0, before = r->failed;
	char ds[BENTO_DIGEST_STRLEN];
	int rc;

	if ((rc = load_manifest(s, d, &json, &m, err)) ||
	    (rc = bento_store_signatures(s, d, &sigs, &n_sigs, err)) ||
	    (rc = bento_store_attestations(s, d, &atts, &n_atts, err)))
		goto out;
	bento_digest_str(d, ds);
	bento_report_add(r, BENTO_CHECK_OK, "bento.json", "%s:%s is %s", m->name, m->version, ds);
	report_models(r, m);
	bento_manifest_entries(m, &e, &n);
	for (size_t i = 0; i < n; i++)
		check_blob(s, &e[i], full, r);
	if (r->failed == before)
		bento_report_add(r, BENTO_CHECK_OK, "files", full ? "all %zu files match their digests"
								   : "all %zu files present with the right sizes (--full rehashes them)",
				 n);
	bento_check_signatures(r, m, json.buf, json.len, sigs, n_sigs, kr);
	bento_check_attestations(r, m, atts, n_atts, kr);
	if (m_out) {
		*m_out = m;
		m = NULL;
	}
out:
	bento_attachments_free(sigs, n_sigs);
	bento_attachments_free(atts, n_atts);
	bento_entries_free(e, n);
	bento_manifest_free(m);
	bento_buf_release(&json);
	return rc;
}
