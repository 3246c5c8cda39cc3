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
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "archive.h"
#include "cjson.h"
#include "fs.h"
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
 * when bfd ends early.  The copy goes a WRITEBACK_CHUNK at a time, each
 * handed to writeback (*pos, *kicked: fd's offset and what was handed
 * over), so the syncfs that makes a layout durable waits for little.
 */
static int copy_range(int bfd, int fd, uint64_t len, struct bento_hasher *h, uint64_t *pos,
		      uint64_t *kicked)
{
	loff_t in = 0;
	char *buf = h ? bento_xmalloc(CHUNK) : NULL;
	int fallback = 0, rc = 0;

	while (len && rc == 0) {
		size_t want = h || fallback ? (len < CHUNK ? (size_t)len : CHUNK)
					    : (len > BENTO_WRITEBACK_CHUNK ? BENTO_WRITEBACK_CHUNK
									   : (size_t)len);
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
				*pos += want;
				bento_writeback(fd, kicked, *pos);
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
		*pos += want;
		bento_writeback(fd, kicked, *pos);
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
	uint64_t pos = 0, kicked = 0;
	int rc = 0;

	for (size_t i = 0; i < ls->t.n && rc == 0; i++) {
		const struct tar_ent *e = &ls->t.e[i];
		const char *what = e->path + sizeof(TAR_ROOT);
		int bfd;

		pos = e->off + e->hlen;
		if ((rc = put_bytes(fd, e->hdr, e->hlen, h, err)) || !e->file)
			continue;
		if ((rc = bento_blob_open(ls->s, &e->file->digest, &bfd, err))) {
			bento_error_prefix(err, "%s", what);
			return rc;
		}
		rc = copy_range(bfd, fd, e->file->size, h, &pos, &kicked);
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

/* ---- pull: checking and unpacking a layer ---- */

/* After a header that differs, this much of what follows is kept to say how. */
enum { DIAG_MAX = 64 << 10 };

struct bento_layer_reader {
	struct bento_store *s;
	struct bento_blob_stage *stage;
	const struct bento_layer *l;
	struct tar_plan t;		/* the canonical headers and where everything goes */
	struct bento_hasher *lh;	/* every byte of the layer: the blob's digest */
	struct bento_hasher *fh;	/* the current file's, when the store has it already */
	struct bento_blob_writer *w;	/* the current file's, when it does not */
	int in_file;			/* fh or w is open */
	uint64_t off;			/* bytes taken */
	size_t cur;			/* the entry off is in; t.n: the end-of-archive marker */
	int rc;				/* an error, once one happened (it stays) */
	struct bento_error err;
	int diagnosing;			/* diag holds the bytes from where they differ on */
	size_t diag_tried;		/* diag.len when diagnose last ran */
	struct bento_buf diag;
};

static int reader_fail(struct bento_layer_reader *r, int rc, struct bento_error *err)
{
	r->rc = rc;
	if (err)
		r->err = *err;
	return rc;
}

static const char *entry_rel(const struct tar_ent *e)
{
	return e->path[sizeof(TAR_ROOT) - 1] ? e->path + sizeof(TAR_ROOT) : e->path;
}

static int file_begin(struct bento_layer_reader *r, const struct tar_ent *e,
		      struct bento_error *err)
{
	int rc;

	/* Content already stored is checked, not written again. */
	if (!bento_blob_has(r->s, &e->file->digest) &&
	    (rc = bento_blob_writer_open(r->s, e->file->size, &r->w, err)))
		return rc;
	r->in_file = 1;
	return 0;
}

static int file_end(struct bento_layer_reader *r, const struct tar_ent *e, struct bento_error *err)
{
	struct bento_digest d;
	int rc = 0;

	r->in_file = 0;
	if (r->w) {
		rc = bento_blob_writer_stage(r->w, r->stage, entry_rel(e), &e->file->digest, NULL, err);
		r->w = NULL;
		return rc;
	}
	bento_hasher_final(r->fh, &d);
	if (!bento_digest_eq(&d, &e->file->digest))
		rc = bento_digest_mismatch(err, entry_rel(e), &e->file->digest, &d);
	return rc;
}

static int all_zero(const unsigned char *p, size_t n)
{
	while (n && !*p)
		p++, n--;
	return n == 0;
}

static int entry_cmp_path(const void *key, const void *ent)
{
	return strcmp(key, ((const struct tar_ent *)ent)->path);
}

struct mem_in {
	const unsigned char *p;
	size_t n, off;
	size_t zeros;			/* then this many zero bytes */
};

static ssize_t mem_read(void *ctx, void *buf, size_t n)
{
	struct mem_in *m = ctx;
	size_t k = 0;

	if (m->off < m->n) {
		k = m->n - m->off < n ? m->n - m->off : n;
		memcpy(buf, m->p + m->off, k);
	} else if (m->off < m->n + m->zeros) {
		k = m->n + m->zeros - m->off < n ? m->n + m->zeros - m->off : n;
		memset(buf, 0, k);
	}
	m->off += k;
	return (ssize_t)k;
}

/*
 * The bytes in r->diag, from where entry r->cur (or the end-of-archive
 * marker) should start, are not the canonical ones: read them with
 * lib/archive.c's defensive reader and say what is wrong with them.
 * *short_read: the reader wanted more bytes than diag has.
 */
static int diagnose(struct bento_layer_reader *r, int *short_read, struct bento_error *err)
{
	const unsigned char *p = (const unsigned char *)r->diag.buf;
	const struct tar_ent *want = r->cur < r->t.n ? &r->t.e[r->cur] : NULL;
	const struct tar_ent *got;
	struct mem_in m = { .p = p, .n = r->diag.len, .zeros = TRAILER };
	struct bento_archive_reader *ar = NULL;
	struct bento_archive_entry ae;
	const char *what = r->l->title;
	size_t at = 0;
	int rc;

	*short_read = 0;
	if (r->diag.len >= 2 && p[0] == 0x1f && p[1] == 0x8b)
		return bento_error_set(err, BENTO_E_VERIFY,
				       "%s: compressed (gzip); a bento layer is an uncompressed tar", what);
	if (r->diag.len >= 4 && p[0] == 0x28 && p[1] == 0xb5 && p[2] == 0x2f && p[3] == 0xfd)
		return bento_error_set(err, BENTO_E_VERIFY,
				       "%s: compressed (zstd); a bento layer is an uncompressed tar", what);
	rc = bento_archive_reader_open_cb(mem_read, &m, what, &ar, err);
	if (rc == 0)
		rc = bento_archive_next(ar, &ae, err);
	/* The reader wanted more than has come: what it said may be about the zeros. */
	*short_read = m.off > m.n;
	if (rc <= 0) {
		bento_archive_reader_free(ar);
		if (!want)
			return bento_error_set(err, BENTO_E_VERIFY,
					       "%s: the end-of-archive marker is not %d zero bytes",
					       what, TRAILER);
		if (rc == 0)
			return bento_error_set(err, BENTO_E_VERIFY,
					       "%s: the archive ends where %s should be", what, want->path);
		/* damaged content, whatever the tar reader calls it */
		if (rc == -BENTO_E_INVALID) {
			rc = -BENTO_E_VERIFY;
			if (err)
				err->code = rc;
		}
		return rc;
	}
	if (strcmp(ae.path, TAR_ROOT) != 0 && strncmp(ae.path, TAR_ROOT "/", sizeof(TAR_ROOT)) != 0) {
		rc = bento_error_set(err, BENTO_E_UNSAFE,
				     "%s: %s: refusing entry: not under " TAR_ROOT "/", what, ae.path);
		goto out;
	}
	got = bsearch(ae.path, r->t.e, r->t.n, sizeof(*r->t.e), entry_cmp_path);
	if (!got || (ae.type == BENTO_ENTRY_DIR) != !got->file) {
		rc = bento_error_set(err, BENTO_E_UNSAFE, "%s: %s: refusing entry: %s", what, ae.path,
				     ae.type == BENTO_ENTRY_DIR ? "directory not in the manifest"
								: "not listed in bento.json for this layer");
		goto out;
	}
	if ((size_t)(got - r->t.e) < r->cur) {
		rc = bento_error_set(err, BENTO_E_UNSAFE, "%s: %s: refusing entry: delivered twice",
				     what, ae.path);
		goto out;
	}
	if (got->file && ae.size != got->file->size) {
		rc = bento_error_set(err, BENTO_E_VERIFY, "%s: size mismatch: expected %llu bytes, got %llu",
				     entry_rel(got), (unsigned long long)got->file->size,
				     (unsigned long long)ae.size);
		goto out;
	}
	if (got->file && (ae.mode & 0100) != (got->file->mode & 0100)) {
		rc = bento_error_set(err, BENTO_E_VERIFY, "%s: mode mismatch: expected %04o, got %04o",
				     entry_rel(got), got->file->mode, ae.mode);
		goto out;
	}
	if (got != want) {
		rc = bento_error_set(err, BENTO_E_VERIFY,
				     "%s: %s: out of order: %s comes first (entries are in path order)",
				     what, ae.path, want->path);
		goto out;
	}
	while (at < want->hlen && at < r->diag.len && p[at] == (unsigned char)want->hdr[at])
		at++;
	rc = bento_error_set(err, BENTO_E_VERIFY,
			     "%s: %s: the tar header is not bento's (byte %zu of it differs: "
			     "mtime, owner, mode bits or format; bento-registry(5))",
			     what, ae.path, at);
out:
	bento_archive_reader_free(ar);
	return rc;
}

/*
 * Keep what arrives after a header that differs, and say how once enough
 * of it is here (the whole header, or DIAG_MAX bytes, or the last).  The
 * bytes still go into the layer's digest: when the layer is complete and
 * its digest right, what is wrong with it is this message, not a digest
 * mismatch.
 */
static int diag_take(struct bento_layer_reader *r, const void *p, size_t n, int last,
		     struct bento_error *err)
{
	struct bento_error e;
	size_t k = DIAG_MAX - r->diag.len < n ? DIAG_MAX - r->diag.len : n;
	int short_read, rc;

	bento_hasher_update(r->lh, p, n);
	r->off += n;
	bento_buf_add(&r->diag, p, k);
	if (!last && r->diag.len < DIAG_MAX && r->diag.len < r->diag_tried + 512)
		return 0;
	r->diag_tried = r->diag.len;
	bento_error_clear(&e);
	rc = diagnose(r, &short_read, &e);
	if (short_read && !last && r->diag.len < DIAG_MAX)
		return 0;
	reader_fail(r, rc, &e);
	if (err)
		*err = e;
	return rc;
}

/*
 * The bytes of an entry's header (or of the end-of-archive marker), n0 of
 * which came before p (prefix; NULL: zeros), differ from the canonical ones.
 */
static int diag_start(struct bento_layer_reader *r, const void *prefix, size_t n0,
		      const void *p, size_t n, struct bento_error *err)
{
	r->diagnosing = 1;
	r->diag_tried = 0;
	bento_buf_reset(&r->diag);
	if (prefix)
		bento_buf_add(&r->diag, prefix, n0);
	else
		while (n0--)
			bento_buf_addch(&r->diag, '\0');
	return diag_take(r, p, n, 0, err);
}

int bento_layer_reader_new(struct bento_store *s, struct bento_blob_stage *stage,
			   const struct bento_layer *l, struct bento_layer_reader **out,
			   struct bento_error *err)
{
	struct bento_layer_reader *r = bento_xcalloc(1, sizeof(*r));
	int rc;

	if ((rc = tar_plan_make(l, &r->t, err))) {
		free(r);
		return rc;
	}
	r->s = s;
	r->stage = stage;
	r->l = l;
	r->lh = bento_hasher_new();
	r->fh = bento_hasher_new();
	bento_buf_init(&r->diag);
	*out = r;
	return 0;
}

uint64_t bento_layer_reader_size(const struct bento_layer_reader *r)
{
	return r->t.size;
}

struct bento_hasher *bento_layer_reader_hasher(struct bento_layer_reader *r)
{
	return r->lh;
}

int bento_layer_reader_feed(struct bento_layer_reader *r, const void *buf, size_t n,
			    struct bento_error *err)
{
	const unsigned char *p = buf;
	struct bento_error e;
	int rc = 0;

	if (r->rc) {
		if (err)
			*err = r->err;
		return r->rc;
	}
	if (r->diagnosing)
		return diag_take(r, p, n, 0, err);
	bento_error_clear(&e);
	while (n && rc == 0) {
		const struct tar_ent *x;
		uint64_t hend, dend, k;

		if (r->off >= r->t.size) {
			rc = bento_error_set(&e, BENTO_E_VERIFY,
					     "%s: more than the %llu bytes of the layer bento.json makes",
					     r->l->title, (unsigned long long)r->t.size);
			break;
		}
		if (r->cur == r->t.n) {
			k = r->t.size - r->off < n ? r->t.size - r->off : n;
			if (!all_zero(p, (size_t)k))
				return diag_start(r, NULL, (size_t)(r->off - r->t.trailer), p, n, err);
			bento_hasher_update(r->lh, p, (size_t)k);
			r->off += k, p += k, n -= (size_t)k;
			continue;
		}
		x = &r->t.e[r->cur];
		hend = x->off + x->hlen;
		dend = hend + (x->file ? x->file->size : 0);
		if (r->off < hend) {
			size_t at = (size_t)(r->off - x->off);
			k = hend - r->off < n ? hend - r->off : n;
			if (memcmp(p, x->hdr + at, (size_t)k) != 0)
				return diag_start(r, x->hdr, at, p, n, err);
			bento_hasher_update(r->lh, p, (size_t)k);
		} else if (r->off < dend) {
			k = dend - r->off < n ? dend - r->off : n;
			if (r->w)
				rc = bento_blob_write2(r->w, p, (size_t)k, r->lh, &e);
			else
				bento_hasher_update2(r->lh, r->fh, p, (size_t)k);
		} else {
			k = x->end - r->off < n ? x->end - r->off : n;
			if (!all_zero(p, (size_t)k)) {
				rc = bento_error_set(&e, BENTO_E_VERIFY,
						     "%s: %s: the padding after its data is not zero",
						     r->l->title, x->path);
				break;
			}
			bento_hasher_update(r->lh, p, (size_t)k);
		}
		if (rc)
			break;
		r->off += k, p += k, n -= (size_t)k;
		if (r->off == hend && x->file && !r->in_file)
			rc = file_begin(r, x, &e);
		if (rc == 0 && r->off == dend && r->in_file)
			rc = file_end(r, x, &e);
		if (r->off == x->end)
			r->cur++;
	}
	if (rc) {
		reader_fail(r, rc, &e);
		if (err)
			*err = e;
	}
	return rc;
}

int bento_layer_reader_finish(struct bento_layer_reader *r, const struct bento_digest *verified,
			      struct bento_error *err)
{
	if (!r->rc && r->diagnosing)
		return diag_take(r, NULL, 0, 1, err);
	if (!r->rc && r->off < r->t.size) {
		struct bento_error e;
		const char *where = r->cur < r->t.n ? r->t.e[r->cur].path : "the end-of-archive marker";

		bento_error_set(&e, BENTO_E_VERIFY, "%s: truncated: %llu of %llu bytes (cut in %s)",
				r->l->title, (unsigned long long)r->off,
				(unsigned long long)r->t.size, where);
		reader_fail(r, -BENTO_E_VERIFY, &e);
	}
	if (r->rc) {
		if (err)
			*err = r->err;
		return r->rc;
	}
	/* These are the canonical bytes: a later push or containerize need not hash them again. */
	if (verified)
		(void)bento_store_layer_cache_put(r->s, &r->t.key, verified, r->t.size, NULL);
	return 0;
}

void bento_layer_reader_free(struct bento_layer_reader *r)
{
	if (!r)
		return;
	bento_blob_writer_abort(r->w);
	bento_hasher_free(r->lh);
	bento_hasher_free(r->fh);
	bento_buf_release(&r->diag);
	tar_plan_release(&r->t);
	free(r);
}
