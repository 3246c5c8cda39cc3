/*
 * oci.c - the bento <-> OCI artifact mapping (oci.h, man/bento-registry.5).
 *
 * A layer's bytes are never stored: they are a pure function of the layer
 * plan and the blobs.  Each tar header is made by lib/archive.c's writer
 * (so the bytes are exactly what that writer produces for the whole
 * stream: with no record padding, a tar stream is just header + data +
 * padding per entry, then 1024 zero bytes), kept in memory, and the data
 * is read from the blobs at whatever offset an upload asks for.  The
 * cache key hashes the header bytes themselves, so any change to how
 * headers come out (a libarchive upgrade, a format change) is a new key,
 * never a stale digest.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "archive.h"
#include "cjson.h"
#include "oci.h"

#define LAYER_FORMAT "bento-layer-v1"
#define TAR_ROOT "bento"
enum { CHUNK = 1 << 20, TRAILER = 1024 };

const char *bento_layer_role_name(enum bento_layer_role role)
{
	switch (role) {
	case BENTO_LAYER_CODE:
		return "code";
	case BENTO_LAYER_MODEL:
		return "model";
	case BENTO_LAYER_MODEL_FILE:
		return "model-file";
	}
	return "unknown";
}

/* ---- the plan ---- */

struct plan {
	struct bento_layer *v;
	size_t n, cap;
};

static struct bento_layer *plan_add(struct plan *p, enum bento_layer_role role, char *title,
				    const char *model, int64_t mtime)
{
	struct bento_layer *l;

	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 8;
		p->v = bento_xrealloc(p->v, p->cap * sizeof(*p->v));
	}
	l = &p->v[p->n++];
	memset(l, 0, sizeof(*l));
	l->role = role;
	l->title = title;
	l->model = model;
	l->mtime = mtime;
	return l;
}

static void layer_add_file(struct bento_layer *l, char *path, const struct bento_file *f)
{
	l->files = bento_xrealloc(l->files, (l->n_files + 1) * sizeof(*l->files));
	l->files[l->n_files].path = path;
	l->files[l->n_files].file = f;
	l->n_files++;
	l->content_size += f->size;
}

static int entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct bento_entry *)a)->path, ((const struct bento_entry *)b)->path);
}

/* Layers in the documented order: code, then by model, its "model" layer before its files. */
static int layer_cmp(const void *a, const void *b)
{
	const struct bento_layer *x = a, *y = b;
	int c;

	if ((x->role == BENTO_LAYER_CODE) != (y->role == BENTO_LAYER_CODE))
		return x->role == BENTO_LAYER_CODE ? -1 : 1;
	if (x->model && y->model && (c = strcmp(x->model, y->model)))
		return c;
	if (x->role != y->role)
		return x->role == BENTO_LAYER_MODEL ? -1 : 1;
	return strcmp(x->title, y->title);
}

static int big_cmp(const void *a, const void *b)
{
	const struct bento_layer *x = *(struct bento_layer *const *)a;
	const struct bento_layer *y = *(struct bento_layer *const *)b;

	if (x->content_size != y->content_size)
		return x->content_size < y->content_size ? -1 : 1;
	return strcmp(x->title, y->title);
}

static struct bento_layer *model_layer(struct plan *p, const char *model)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->v[i].role == BENTO_LAYER_MODEL && strcmp(p->v[i].model, model) == 0)
			return &p->v[i];
	return NULL;
}

static void layer_release(struct bento_layer *l)
{
	bento_entries_free(l->files, l->n_files);
	free(l->title);
	json_decref(l->annotations);
	memset(l, 0, sizeof(*l));
}

/* Merge the smallest big-file layers into their model's layer until the count fits. */
static void plan_cap(struct plan *p)
{
	struct bento_layer **big;
	size_t nb = 0;

	if (p->n <= BENTO_LAYERS_MAX)
		return;
	big = bento_xmalloc(p->n * sizeof(*big));
	for (size_t i = 0; i < p->n; i++)
		if (p->v[i].role == BENTO_LAYER_MODEL_FILE)
			big[nb++] = &p->v[i];
	qsort(big, nb, sizeof(*big), big_cmp);
	/* Mark merged layers (files moved out) and compact afterwards: big[] points into p->v. */
	for (size_t i = 0, count = p->n; i < nb && count > BENTO_LAYERS_MAX; i++) {
		struct bento_layer *b = big[i], *home = model_layer(p, b->model);

		if (!home) {
			b->role = BENTO_LAYER_MODEL;
			free(b->title);
			b->title = bento_xasprintf("models/%s", b->model);
			continue;
		}
		layer_add_file(home, b->files[0].path, b->files[0].file);
		b->files[0].path = NULL;
		qsort(home->files, home->n_files, sizeof(*home->files), entry_cmp);
		layer_release(b);	/* title NULL marks it gone */
		count--;
	}
	free(big);
	{
		size_t j = 0;
		for (size_t i = 0; i < p->n; i++)
			if (p->v[i].title)
				p->v[j++] = p->v[i];
		p->n = j;
	}
}

static void plan_models(struct plan *p, const struct bento_model *models, size_t n_models)
{
	for (size_t i = 0; i < n_models; i++) {
		const struct bento_model *md = &models[i];
		size_t small = SIZE_MAX;	/* an index: plan_add moves the layers */

		for (size_t k = 0; k < md->n_files; k++) {
			const struct bento_file *f = &md->files[k];
			char *path = bento_xasprintf("models/%s/%s", md->name, f->path);

			if (f->size >= BENTO_LAYER_BIG) {
				layer_add_file(plan_add(p, BENTO_LAYER_MODEL_FILE, bento_xstrdup(path),
							md->name, 0),
					       path, f);
				continue;
			}
			if (small == SIZE_MAX) {
				plan_add(p, BENTO_LAYER_MODEL, bento_xasprintf("models/%s", md->name),
					 md->name, 0);
				small = p->n - 1;
			}
			layer_add_file(&p->v[small], path, f);
		}
	}
}

static void plan_finish(struct plan *p, struct bento_layer **out, size_t *n)
{
	plan_cap(p);
	qsort(p->v, p->n, sizeof(*p->v), layer_cmp);
	for (size_t i = 0; i < p->n; i++) {
		struct bento_layer *l = &p->v[i];
		l->annotations = json_object();
		json_object_set_new(l->annotations, BENTO_ANN_TITLE, json_string(l->title));
		json_object_set_new(l->annotations, BENTO_ANN_ROLE,
				    json_string(bento_layer_role_name(l->role)));
		if (l->model)
			json_object_set_new(l->annotations, BENTO_ANN_MODEL, json_string(l->model));
	}
	*out = p->v;
	*n = p->n;
}

void bento_layers_plan(const struct bento_manifest *m, struct bento_layer **out, size_t *n)
{
	struct plan p = { 0 };
	int64_t created = 0;

	if (!m->created || bento_time_parse(m->created, &created) || created < 0)
		created = 0;
	if (m->n_files) {
		struct bento_layer *code = plan_add(&p, BENTO_LAYER_CODE, bento_xstrdup("code"), NULL,
						    created);
		for (size_t i = 0; i < m->n_files; i++)
			layer_add_file(code, bento_xstrdup(m->files[i].path), &m->files[i]);
	}
	plan_models(&p, m->models, m->n_models);
	plan_finish(&p, out, n);
}

void bento_model_layers_plan(const struct bento_model *m, struct bento_layer **out, size_t *n)
{
	struct plan p = { 0 };

	plan_models(&p, m, 1);
	plan_finish(&p, out, n);
}

void bento_layers_free(struct bento_layer *l, size_t n)
{
	for (size_t i = 0; l && i < n; i++)
		layer_release(&l[i]);
	free(l);
}

void bento_model_entries(const struct bento_model *m, struct bento_entry **out, size_t *n)
{
	struct bento_entry *e = bento_xcalloc(m->n_files ? m->n_files : 1, sizeof(*e));

	for (size_t i = 0; i < m->n_files; i++) {
		e[i].path = bento_xasprintf("models/%s/%s", m->name, m->files[i].path);
		e[i].file = &m->files[i];
	}
	qsort(e, m->n_files, sizeof(*e), entry_cmp);
	*out = e;
	*n = m->n_files;
}

int bento_layer_present(const struct bento_store *s, const struct bento_layer *l)
{
	for (size_t i = 0; i < l->n_files; i++)
		if (!bento_blob_has(s, &l->files[i].file->digest))
			return 0;
	return 1;
}

/* ---- the tar bytes ---- */

struct tar_ent {
	char *path;			/* "bento/…" */
	const struct bento_file *file;	/* NULL: a directory */
	char *hdr;
	size_t hlen;
	uint64_t off;			/* where the header starts in the stream */
	uint64_t end;			/* where the next entry starts */
};

struct tar_plan {
	struct tar_ent *e;
	size_t n;
	uint64_t trailer;		/* offset of the end-of-archive marker */
	uint64_t size;
	struct bento_digest key;
};

static int tarent_cmp(const void *a, const void *b)
{
	return strcmp(((const struct tar_ent *)a)->path, ((const struct tar_ent *)b)->path);
}

static void tar_plan_release(struct tar_plan *t)
{
	for (size_t i = 0; i < t->n; i++) {
		free(t->e[i].path);
		free(t->e[i].hdr);
	}
	free(t->e);
	memset(t, 0, sizeof(*t));
}

static int capture(void *ctx, const void *p, size_t n)
{
	bento_buf_add(ctx, p, n);
	return 0;
}

/* The exact header bytes lib/archive.c writes for one entry. */
static int make_header(struct tar_ent *e, int64_t mtime, struct bento_error *err)
{
	struct bento_archive_writer *w;
	struct bento_buf b = BENTO_BUF_INIT;
	int rc;

	if ((rc = bento_archive_writer_open_cb(capture, &b, BENTO_COMP_NONE, mtime, &w, err)))
		return rc;
	if (e->file)
		rc = bento_archive_write_header(w, e->path, e->file->mode, e->file->size, err);
	else
		rc = bento_archive_write_dir(w, e->path, err);
	bento_archive_writer_free(w);
	if (rc == 0 && (b.len == 0 || b.len % 512)) {
		rc = bento_error_set(err, BENTO_E_FAIL, "%s: unexpected tar header length %zu",
				     e->path, b.len);
	}
	if (rc) {
		bento_buf_release(&b);
		return rc;
	}
	e->hdr = bento_buf_detach(&b, &e->hlen);
	return 0;
}

static int tar_plan_make(const struct bento_layer *l, struct tar_plan *t, struct bento_error *err)
{
	struct bento_hasher *h;
	size_t cap = 1, n = 0;
	uint64_t off = 0;
	int rc = 0;

	memset(t, 0, sizeof(*t));
	for (size_t i = 0; i < l->n_files; i++)
		cap += 1 + (size_t)(strchr(l->files[i].path, '/') ? 8 : 0);
	t->e = bento_xcalloc(cap, sizeof(*t->e));
	t->e[n++].path = bento_xstrdup(TAR_ROOT);
	for (size_t i = 0; i < l->n_files; i++) {
		const char *p = l->files[i].path;

		for (const char *s = p; (s = strchr(s, '/')); s++) {
			if (n == cap)
				t->e = bento_xrealloc(t->e, (cap *= 2) * sizeof(*t->e));
			memset(&t->e[n], 0, sizeof(t->e[n]));
			t->e[n++].path = bento_xasprintf(TAR_ROOT "/%.*s", (int)(s - p), p);
		}
		if (n == cap)
			t->e = bento_xrealloc(t->e, (cap *= 2) * sizeof(*t->e));
		memset(&t->e[n], 0, sizeof(t->e[n]));
		t->e[n].path = bento_xasprintf(TAR_ROOT "/%s", p);
		t->e[n++].file = l->files[i].file;
	}
	qsort(t->e, n, sizeof(*t->e), tarent_cmp);
	/* Parents repeat across files: keep one of each. */
	{
		size_t j = 0;
		for (size_t i = 0; i < n; i++) {
			if (j && !t->e[i].file && !t->e[j - 1].file &&
			    strcmp(t->e[i].path, t->e[j - 1].path) == 0) {
				free(t->e[i].path);
				continue;
			}
			t->e[j++] = t->e[i];
		}
		t->n = j;
	}
	h = bento_hasher_new();
	bento_hasher_update(h, LAYER_FORMAT, sizeof(LAYER_FORMAT));
	for (size_t i = 0; i < t->n; i++) {
		struct tar_ent *e = &t->e[i];
		uint64_t hl;

		if ((rc = make_header(e, l->mtime, err)))
			break;
		e->off = off;
		off += e->hlen;
		if (e->file)
			off += (e->file->size + 511) & ~(uint64_t)511;
		e->end = off;
		hl = e->hlen;
		bento_hasher_update(h, &hl, sizeof(hl));
		bento_hasher_update(h, e->hdr, e->hlen);
		if (e->file)
			bento_hasher_update(h, e->file->digest.raw, sizeof(e->file->digest.raw));
	}
	bento_hasher_final(h, &t->key);
	bento_hasher_free(h);
	if (rc) {
		tar_plan_release(t);
		return rc;
	}
	t->trailer = off;
	t->size = off + TRAILER;
	return 0;
}

struct layer_src {
	struct bento_store *s;
	struct tar_plan t;
	size_t cur;		/* entry of the last read: sequential reads need no search */
	int fd;			/* blob of entry fd_ent, or -1 */
	size_t fd_ent;
};

static size_t find_entry(struct layer_src *ls, uint64_t off)
{
	size_t lo = 0, hi = ls->t.n;

	if (ls->cur < ls->t.n && ls->t.e[ls->cur].off <= off && off < ls->t.e[ls->cur].end)
		return ls->cur;
	if (ls->cur + 1 < ls->t.n && ls->t.e[ls->cur + 1].off <= off &&
	    off < ls->t.e[ls->cur + 1].end)
		return ++ls->cur;
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		if (ls->t.e[mid].off <= off)
			lo = mid;
		else
			hi = mid;
	}
	return ls->cur = lo;
}

static ssize_t src_read(void *ctx, uint64_t offset, void *buf, size_t n, struct bento_error *err)
{
	struct layer_src *ls = ctx;
	unsigned char *o = buf;
	size_t done = 0;

	if (n > SSIZE_MAX)
		n = SSIZE_MAX;
	while (done < n && offset < ls->t.size) {
		size_t want = n - done, k;
		struct tar_ent *e;
		uint64_t rel;

		if (offset >= ls->t.trailer) {
			k = (size_t)(ls->t.size - offset < want ? ls->t.size - offset : want);
			memset(o + done, 0, k);
			goto next;
		}
		e = &ls->t.e[find_entry(ls, offset)];
		rel = offset - e->off;
		if (rel < e->hlen) {
			k = (size_t)(e->hlen - rel) < want ? (size_t)(e->hlen - rel) : want;
			memcpy(o + done, e->hdr + rel, k);
		} else if (e->file && rel - e->hlen < e->file->size) {
			uint64_t at = rel - e->hlen, left = e->file->size - at;
			ssize_t r;

			k = left < want ? (size_t)left : want;
			if (ls->fd < 0 || ls->fd_ent != (size_t)(e - ls->t.e)) {
				int rc;
				if (ls->fd >= 0)
					close(ls->fd);
				ls->fd = -1;
				if ((rc = bento_blob_open(ls->s, &e->file->digest, &ls->fd, err))) {
					bento_error_prefix(err, "%s", e->path + sizeof(TAR_ROOT));
					return rc;
				}
				ls->fd_ent = (size_t)(e - ls->t.e);
			}
			do
				r = pread(ls->fd, o + done, k, (off_t)at);
			while (r < 0 && errno == EINTR);
			if (r < 0)
				return bento_error_errno(err, errno, "%s: read blob",
							 e->path + sizeof(TAR_ROOT));
			if (r == 0)
				return bento_error_set(err, BENTO_E_CORRUPT,
						       "%s: blob is shorter than its %llu bytes",
						       e->path + sizeof(TAR_ROOT),
						       (unsigned long long)e->file->size);
			k = (size_t)r;
		} else {
			k = (size_t)(e->end - offset) < want ? (size_t)(e->end - offset) : want;
			memset(o + done, 0, k);
		}
next:
		done += k;
		offset += k;
	}
	return (ssize_t)done;
}

static void src_free(struct layer_src *ls)
{
	if (!ls)
		return;
	if (ls->fd >= 0)
		close(ls->fd);
	tar_plan_release(&ls->t);
	free(ls);
}

static int src_new(struct bento_store *s, const struct bento_layer *l, struct layer_src **out,
		   struct bento_error *err)
{
	struct layer_src *ls = bento_xcalloc(1, sizeof(*ls));
	int rc;

	ls->s = s;
	ls->fd = -1;
	if ((rc = tar_plan_make(l, &ls->t, err))) {
		free(ls);
		return rc;
	}
	*out = ls;
	return 0;
}

/* Pass every byte of the stream to fn; the hashing pass and bento_layer_write share it. */
static int src_stream(struct layer_src *ls, int (*fn)(void *ctx, const void *p, size_t n,
						      struct bento_error *err),
		      void *ctx, struct bento_error *err)
{
	unsigned char *buf = bento_xmalloc(CHUNK);
	uint64_t off = 0;
	int rc = 0;

	while (off < ls->t.size) {
		ssize_t k = src_read(ls, off, buf, CHUNK, err);
		if (k <= 0) {
			rc = k < 0 ? (int)k : bento_error_set(err, BENTO_E_FAIL, "layer: short stream");
			break;
		}
		if ((rc = fn(ctx, buf, (size_t)k, err)))
			break;
		off += (uint64_t)k;
	}
	free(buf);
	return rc;
}

static int hash_cb(void *ctx, const void *p, size_t n, struct bento_error *err)
{
	(void)err;
	bento_hasher_update(ctx, p, n);
	return 0;
}

static int layer_digest(struct bento_store *s, struct bento_layer *l, struct layer_src *ls,
			struct bento_error *err)
{
	struct bento_hasher *h;
	struct bento_digest d;
	uint64_t size;
	int rc;

	if (l->have_digest)
		return 0;
	if ((rc = bento_store_layer_cache_get(s, &ls->t.key, &d, &size, err)) < 0)
		return rc;
	if (rc == 1 && size == ls->t.size) {
		l->digest = d;
		l->size = size;
		l->have_digest = 1;
		return 0;
	}
	h = bento_hasher_new();
	rc = src_stream(ls, hash_cb, h, err);
	bento_hasher_final(h, &d);
	bento_hasher_free(h);
	if (rc) {
		bento_error_prefix(err, "layer %s", l->title);
		return rc;
	}
	/* A cache write failure only costs a rehash next time. */
	(void)bento_store_layer_cache_put(s, &ls->t.key, &d, ls->t.size, NULL);
	l->digest = d;
	l->size = ls->t.size;
	l->have_digest = 1;
	return 0;
}

int bento_layer_digest(struct bento_store *s, struct bento_layer *l, struct bento_error *err)
{
	struct layer_src *ls;
	int rc;

	if (l->have_digest)
		return 0;
	if ((rc = src_new(s, l, &ls, err)))
		return rc;
	rc = layer_digest(s, l, ls, err);
	src_free(ls);
	return rc;
}

int bento_layer_source(struct bento_store *s, struct bento_layer *l,
		       struct bento_blob_source *out, struct bento_error *err)
{
	struct layer_src *ls;
	int rc;

	if ((rc = src_new(s, l, &ls, err)))
		return rc;
	if ((rc = layer_digest(s, l, ls, err)) == 0 && l->size != ls->t.size)
		rc = bento_error_set(err, BENTO_E_FAIL, "layer %s: size changed", l->title);
	if (rc) {
		src_free(ls);
		return rc;
	}
	out->read = src_read;
	out->ctx = ls;
	out->size = l->size;
	out->digest = l->digest;
	return 0;
}

void bento_layer_source_release(struct bento_blob_source *src)
{
	if (!src)
		return;
	if (src->read == src_read)
		src_free(src->ctx);
	memset(src, 0, sizeof(*src));
}

int bento_layer_write(struct bento_store *s, struct bento_layer *l,
		      int (*write)(void *ctx, const void *p, size_t n, struct bento_error *err),
		      void *ctx, struct bento_error *err)
{
	struct layer_src *ls;
	int rc;

	if ((rc = src_new(s, l, &ls, err)))
		return rc;
	rc = src_stream(ls, write, ctx, err);
	src_free(ls);
	return rc;
}

/*
 * len bytes of bfd from offset 0 to fd with copy_file_range, so the data
 * never crosses user space (here a plain write(2) is several times
 * slower); through a buffer when the kernel cannot (another filesystem, no
 * support).  With h, the bytes are also read and hashed, a chunk at a
 * time, just before the kernel copies that chunk.  0, -1 with errno, or -2
 * when bfd ends early.
 */
static int copy_range(int bfd, int fd, uint64_t len, struct bento_hasher *h)
{
	loff_t in = 0;
	char *buf = h ? bento_xmalloc(CHUNK) : NULL;
	int fallback = 0, rc = 0;

	while (len && rc == 0) {
		size_t want = h || fallback ? (len < CHUNK ? (size_t)len : CHUNK)
					    : (len > (1u << 30) ? (1u << 30) : (size_t)len);
		ssize_t k = 0;

		if (h || fallback) {
			if (!buf)
				buf = bento_xmalloc(CHUNK);
			k = pread(bfd, buf, want, in);
			if (k < 0 && errno == EINTR)
				continue;
			if (k <= 0) {
				rc = k < 0 ? -1 : -2;
				break;
			}
			if (h)
				bento_hasher_update(h, buf, (size_t)k);
			want = (size_t)k;
		}
		if (!fallback) {
			loff_t at = in;
			size_t done = 0;
			while (done < want) {
				k = copy_file_range(bfd, &at, fd, NULL, want - done, 0);
				if (k < 0 && errno == EINTR)
					continue;
				if (k <= 0)
					break;
				done += (size_t)k;
			}
			if (done == want) {
				in += (loff_t)want;
				len -= want;
				continue;
			}
			if (k == 0 && !h) {
				rc = -2;
				break;
			}
			if (done || !(errno == EXDEV || errno == ENOSYS || errno == EINVAL ||
				      errno == EOPNOTSUPP)) {
				rc = -1;
				break;
			}
			/* another filesystem, or no support: through the buffer from here on */
			fallback = 1;
			if (!h)
				continue;
		}
		if (bento_write_all(fd, buf, want) < 0) {
			rc = -1;
			break;
		}
		in += (loff_t)want;
		len -= want;
	}
	free(buf);
	return rc;
}

/* hash (when h) and write n bytes */
static int put_bytes(int fd, const void *p, size_t n, struct bento_hasher *h,
		     struct bento_error *err)
{
	int rc;

	if (h)
		bento_hasher_update(h, p, n);
	if ((rc = bento_write_all(fd, p, n)) < 0)
		return bento_error_errno(err, -rc, "write");
	return 0;
}

static int put_zeros(int fd, uint64_t n, struct bento_hasher *h, struct bento_error *err)
{
	static const char zeros[512];
	int rc = 0;

	while (n && rc == 0) {
		size_t k = n < sizeof(zeros) ? (size_t)n : sizeof(zeros);
		rc = put_bytes(fd, zeros, k, h, err);
		n -= k;
	}
	return rc;
}

/*
 * The layer's bytes to fd: headers and padding written, file data copied
 * by the kernel from the blobs; with h, every byte hashed on the way.
 */
static int copy_layer(struct layer_src *ls, int fd, struct bento_hasher *h, struct bento_error *err)
{
	int rc = 0;

	for (size_t i = 0; i < ls->t.n && rc == 0; i++) {
		const struct tar_ent *e = &ls->t.e[i];
		const char *what = e->path + sizeof(TAR_ROOT);
		int bfd;

		if ((rc = put_bytes(fd, e->hdr, e->hlen, h, err)) || !e->file)
			continue;
		if ((rc = bento_blob_open(ls->s, &e->file->digest, &bfd, err))) {
			bento_error_prefix(err, "%s", what);
			return rc;
		}
		rc = copy_range(bfd, fd, e->file->size, h);
		if (rc == -1)
			rc = bento_error_errno(err, errno, "%s: copy", what);
		else if (rc == -2)
			rc = bento_error_set(err, BENTO_E_CORRUPT, "%s: blob is shorter than its %llu bytes",
					     what, (unsigned long long)e->file->size);
		close(bfd);
		if (rc == 0)
			rc = put_zeros(fd, e->end - e->off - e->hlen - e->file->size, h, err);
	}
	if (rc == 0)
		rc = put_zeros(fd, TRAILER, h, err);
	return rc;
}

int bento_layer_digest_cached(struct bento_store *s, struct bento_layer *l,
			      struct bento_error *err)
{
	struct layer_src *ls;
	int rc;

	if (l->have_digest)
		return 1;
	if ((rc = src_new(s, l, &ls, err)))
		return rc;
	rc = bento_store_layer_cache_get(s, &ls->t.key, &l->digest, &l->size, err);
	if (rc == 1 && l->size == ls->t.size)
		l->have_digest = 1;
	else if (rc == 1)
		rc = 0;
	src_free(ls);
	return rc;
}

int bento_layer_write_fd(struct bento_store *s, struct bento_layer *l, int fd,
			 struct bento_error *err)
{
	struct layer_src *ls;
	int rc;

	if ((rc = src_new(s, l, &ls, err)))
		return rc;
	if (!l->have_digest && (rc = bento_store_layer_cache_get(s, &ls->t.key, &l->digest,
								 &l->size, err)) == 1 &&
	    l->size == ls->t.size)
		l->have_digest = 1;
	if (rc < 0)
		goto out;
	if (l->have_digest) {
		rc = copy_layer(ls, fd, NULL, err);
	} else {
		struct bento_hasher *h = bento_hasher_new();
		rc = copy_layer(ls, fd, h, err);
		bento_hasher_final(h, &l->digest);
		bento_hasher_free(h);
		if (rc == 0) {
			l->size = ls->t.size;
			l->have_digest = 1;
			(void)bento_store_layer_cache_put(s, &ls->t.key, &l->digest, l->size, NULL);
		}
	}
	if (rc)
		bento_error_prefix(err, "layer %s", l->title);
out:
	src_free(ls);
	return rc;
}

/* ---- the artifact manifest ---- */

static json_t *descriptor(const char *media_type, const struct bento_digest *d, uint64_t size)
{
	char hex[BENTO_DIGEST_STRLEN];

	bento_digest_str(d, hex);
	return json_pack("{s:s, s:s, s:I}", "mediaType", media_type, "digest", hex, "size",
			 (json_int_t)size);
}

static int artifact(const char *artifact_type, const char *config_type, const char *name,
		    const char *version, const char *created, const struct bento_digest *digest,
		    const char *json, size_t len, const struct bento_layer *layers, size_t n,
		    const struct bento_oci_desc *subject, const json_t *extra,
		    struct bento_buf *out, struct bento_error *err)
{
	char hex[BENTO_DIGEST_STRLEN], got[BENTO_DIGEST_STRLEN];
	struct bento_digest d;
	json_t *root, *ls, *ann;
	int rc;

	bento_digest_bytes(json, len, &d);
	if (!bento_digest_eq(&d, digest)) {
		bento_digest_str(digest, hex);
		bento_digest_str(&d, got);
		return bento_error_set(err, BENTO_E_VERIFY,
				       "%s:%s: config digest mismatch: expected %s, got %s", name,
				       version, hex, got);
	}
	for (size_t i = 0; i < n; i++)
		if (!layers[i].have_digest)
			return bento_error_set(err, BENTO_E_USAGE, "layer %s: not digested",
					       layers[i].title);
	ls = json_array();
	for (size_t i = 0; i < n; i++) {
		json_t *l = descriptor(BENTO_MEDIATYPE_LAYER, &layers[i].digest, layers[i].size);
		json_object_set(l, "annotations", layers[i].annotations);
		json_array_append_new(ls, l);
	}
	ann = json_object();
	if (extra)
		json_object_update(ann, (json_t *)(uintptr_t)extra);
	bento_digest_str(digest, hex);
	json_object_set_new(ann, BENTO_ANN_TITLE, json_string(name));
	json_object_set_new(ann, BENTO_ANN_VERSION, json_string(version));
	json_object_set_new(ann, BENTO_ANN_DIGEST, json_string(hex));
	if (created)
		json_object_set_new(ann, BENTO_ANN_CREATED, json_string(created));
	root = json_pack("{s:i, s:s, s:s, s:o, s:o, s:o}", "schemaVersion", 2, "mediaType",
			 OCI_MANIFEST_V1, "artifactType", artifact_type, "config",
			 descriptor(config_type, digest, len), "layers", ls, "annotations", ann);
	if (!root)
		abort();
	if (subject)
		json_object_set_new(root, "subject",
				    descriptor(subject->media_type, &subject->digest, subject->size));
	rc = bento_json_canonical(root, out, err);
	json_decref(root);
	return rc;
}

int bento_artifact_manifest(const struct bento_manifest *m, const char *json, size_t len,
			    const struct bento_layer *layers, size_t n,
			    const struct bento_oci_desc *subject, const json_t *extra,
			    struct bento_buf *out, struct bento_error *err)
{
	return artifact(BENTO_ARTIFACT_BUNDLE, BENTO_MEDIATYPE_MANIFEST, m->name, m->version,
			m->created, &m->digest, json, len, layers, n, subject, extra, out, err);
}

int bento_model_artifact_manifest(const struct bento_model *m, const char *json, size_t len,
				  const struct bento_layer *layers, size_t n,
				  const struct bento_oci_desc *subject, const json_t *extra,
				  struct bento_buf *out, struct bento_error *err)
{
	return artifact(BENTO_ARTIFACT_MODEL, BENTO_MEDIATYPE_MODEL, m->name, m->version, NULL,
			&m->digest, json, len, layers, n, subject, extra, out, err);
}

/* ---- pull: unpacking a layer ---- */

struct bento_layer_reader {
	struct bento_store *s;
	struct bento_blob_stage *stage;
	char *what;
	const struct bento_entry *entries;
	size_t n;
	unsigned char *seen;
	pthread_t th;
	bool joined;
	pthread_mutex_t mu;
	pthread_cond_t cv;		/* any change below */
	const unsigned char *p;		/* the chunk being fed */
	size_t avail;
	bool eof;			/* finish() was called */
	bool done;			/* the thread has ended */
	int rc;
	struct bento_error err;
};

static ssize_t feed_read(void *ctx, void *buf, size_t n)
{
	struct bento_layer_reader *r = ctx;
	size_t k;

	pthread_mutex_lock(&r->mu);
	while (!r->avail && !r->eof)
		pthread_cond_wait(&r->cv, &r->mu);
	k = r->avail < n ? r->avail : n;
	if (k)
		memcpy(buf, r->p, k);
	r->p += k;
	r->avail -= k;
	if (!r->avail)
		pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
	return (ssize_t)k;
}

/* 1 when rel is a proper parent directory of some listed entry. */
static int is_parent(const struct bento_entry *e, size_t n, const char *rel)
{
	size_t len = strlen(rel), lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strncmp(e[mid].path, rel, len);
		if (c < 0 || (c == 0 && (unsigned char)e[mid].path[len] < '/'))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && strncmp(e[lo].path, rel, len) == 0 && e[lo].path[len] == '/';
}

static int unpack_file(struct bento_layer_reader *r, struct bento_archive_reader *ar,
		       const struct bento_archive_entry *ae, const char *rel,
		       unsigned char *buf, struct bento_error *err)
{
	const struct bento_entry *e = bento_entries_find(r->entries, r->n, rel);
	struct bento_blob_writer *w = NULL;
	struct bento_hasher *h = NULL;
	uint64_t got = 0;
	ssize_t k;
	int rc;

	if (!e)
		return bento_error_set(err, BENTO_E_UNSAFE, "%s: %s: refusing entry: not listed",
				       r->what, ae->path);
	if (r->seen[e - r->entries])
		return bento_error_set(err, BENTO_E_UNSAFE, "%s: %s: refusing entry: delivered twice",
				       r->what, ae->path);
	if (ae->size != e->file->size)
		return bento_error_set(err, BENTO_E_VERIFY,
				       "%s: size mismatch: expected %llu bytes, got %llu", rel,
				       (unsigned long long)e->file->size,
				       (unsigned long long)ae->size);
	if ((ae->mode & 0100) != (e->file->mode & 0100))
		return bento_error_set(err, BENTO_E_VERIFY, "%s: mode mismatch: expected %04o, got %04o",
				       rel, e->file->mode, ae->mode);
	/* Content already stored is checked, not written again. */
	if (bento_blob_has(r->s, &e->file->digest))
		h = bento_hasher_new();
	else if ((rc = bento_blob_writer_new(r->s, &w, err)))
		return rc;
	while ((k = bento_archive_read(ar, buf, CHUNK, err)) > 0) {
		got += (uint64_t)k;
		if (h)
			bento_hasher_update(h, buf, (size_t)k);
		else if ((rc = bento_blob_write(w, buf, (size_t)k, err)))
			goto fail;
	}
	if (k < 0) {
		rc = (int)k;
		goto fail;
	}
	if (got != e->file->size) {
		rc = bento_error_set(err, BENTO_E_VERIFY, "%s: expected %llu bytes, got %llu", rel,
				     (unsigned long long)e->file->size, (unsigned long long)got);
		goto fail;
	}
	if (h) {
		struct bento_digest d;
		bento_hasher_final(h, &d);
		bento_hasher_free(h);
		h = NULL;
		if (!bento_digest_eq(&d, &e->file->digest)) {
			char a[BENTO_DIGEST_STRLEN], b[BENTO_DIGEST_STRLEN];
			bento_digest_str(&e->file->digest, a);
			bento_digest_str(&d, b);
			return bento_error_set(err, BENTO_E_VERIFY,
					       "%s: digest mismatch: expected %s, got %s", rel, a, b);
		}
	} else {
		rc = bento_blob_writer_stage(w, r->stage, rel, &e->file->digest, NULL, err);
		w = NULL;
		if (rc)
			return rc;
	}
	r->seen[e - r->entries] = 1;
	return 0;
fail:
	bento_hasher_free(h);
	bento_blob_writer_abort(w);
	return rc;
}

static int unpack(struct bento_layer_reader *r, struct bento_error *err)
{
	struct bento_archive_reader *ar = NULL;
	struct bento_archive_entry ae;
	unsigned char *buf = bento_xmalloc(CHUNK);
	int rc;

	if ((rc = bento_archive_reader_open_cb(feed_read, r, r->what, &ar, err)))
		goto out;
	while ((rc = bento_archive_next(ar, &ae, err)) == 1) {
		const char *rel;

		if (strcmp(ae.path, TAR_ROOT) == 0 && ae.type == BENTO_ENTRY_DIR)
			continue;
		if (strncmp(ae.path, TAR_ROOT "/", sizeof(TAR_ROOT)) != 0) {
			rc = bento_error_set(err, BENTO_E_UNSAFE,
					     "%s: %s: refusing entry: not under " TAR_ROOT "/",
					     r->what, ae.path);
			break;
		}
		rel = ae.path + sizeof(TAR_ROOT);
		if (ae.type == BENTO_ENTRY_DIR) {
			if (!is_parent(r->entries, r->n, rel)) {
				rc = bento_error_set(err, BENTO_E_UNSAFE,
						     "%s: %s: refusing entry: directory not in the manifest",
						     r->what, ae.path);
				break;
			}
			continue;
		}
		if ((rc = unpack_file(r, ar, &ae, rel, buf, err)))
			break;
	}
	if (rc == 0) {
		/* Bytes after the end-of-archive marker carry nothing; the blob digest covers them. */
		while (feed_read(r, buf, CHUNK) > 0)
			;
	}
out:
	bento_archive_reader_free(ar);
	free(buf);
	return rc;
}

static void *reader_main(void *arg)
{
	struct bento_layer_reader *r = arg;
	struct bento_error e;
	int rc;

	bento_error_clear(&e);
	rc = unpack(r, &e);
	pthread_mutex_lock(&r->mu);
	r->rc = rc;
	r->err = e;
	r->done = true;
	r->avail = 0;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

int bento_layer_reader_new(struct bento_store *s, struct bento_blob_stage *stage,
			   const char *what, const struct bento_entry *entries, size_t n,
			   unsigned char *seen, struct bento_layer_reader **out,
			   struct bento_error *err)
{
	struct bento_layer_reader *r = bento_xcalloc(1, sizeof(*r));
	int rc;

	r->s = s;
	r->stage = stage;
	r->what = bento_xstrdup(what ? what : "layer");
	r->entries = entries;
	r->n = n;
	r->seen = seen;
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->cv, NULL);
	if ((rc = pthread_create(&r->th, NULL, reader_main, r))) {
		pthread_mutex_destroy(&r->mu);
		pthread_cond_destroy(&r->cv);
		free(r->what);
		free(r);
		return bento_error_errno(err, rc, "layer reader: thread");
	}
	*out = r;
	return 0;
}

/* With r->mu held: the thread's outcome once it is done. */
static int reader_result(struct bento_layer_reader *r, struct bento_error *err)
{
	if (r->done && r->rc && err)
		*err = r->err;
	return r->done ? r->rc : 0;
}

int bento_layer_reader_feed(struct bento_layer_reader *r, const void *p, size_t n,
			    struct bento_error *err)
{
	int rc;

	pthread_mutex_lock(&r->mu);
	if (r->eof) {
		pthread_mutex_unlock(&r->mu);
		return bento_error_set(err, BENTO_E_USAGE, "%s: fed after finish", r->what);
	}
	if (!r->done && n) {
		r->p = p;
		r->avail = n;
		pthread_cond_broadcast(&r->cv);
		while (r->avail && !r->done)
			pthread_cond_wait(&r->cv, &r->mu);
		r->avail = 0;
	}
	rc = reader_result(r, err);
	pthread_mutex_unlock(&r->mu);
	return rc;
}

static void reader_stop(struct bento_layer_reader *r)
{
	if (r->joined)
		return;
	pthread_mutex_lock(&r->mu);
	r->eof = true;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
	pthread_join(r->th, NULL);
	r->joined = true;
}

int bento_layer_reader_finish(struct bento_layer_reader *r, struct bento_error *err)
{
	int rc;

	reader_stop(r);
	pthread_mutex_lock(&r->mu);
	rc = reader_result(r, err);
	pthread_mutex_unlock(&r->mu);
	return rc;
}

void bento_layer_reader_free(struct bento_layer_reader *r)
{
	if (!r)
		return;
	reader_stop(r);
	pthread_mutex_destroy(&r->mu);
	pthread_cond_destroy(&r->cv);
	free(r->what);
	free(r);
}
