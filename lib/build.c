#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <git2.h>

#include "build.h"
#include "cjson.h"
#include "collect.h"
#include "fs.h"
#include "history.h"
#include "lockfile.h"
#include "manifest.h"
#include "provenance.h"
#include "trust.h"

void bento_build_result_release(struct bento_build_result *r)
{
	free(r->name);
	free(r->version);
	free(r->git_commit);
	json_decref(r->git_source);
	memset(r, 0, sizeof(*r));
}

/* ---- parallel hashing into the store ---- */

#define BATCH_FILES 64
#define BATCH_BYTES (1u << 20)

struct hash_item {
	const char *abs;		/* borrowed */
	const char *display;		/* borrowed */
	struct stat *st;		/* as collected (borrowed); what was hashed after */
	struct bento_digest digest;	/* result */
};

struct hash_job {
	struct bento_store *s;
	struct bento_blob_stage *stage;
	struct hash_item *items;
	size_t n;
	size_t *batch;			/* batch k is items[batch[k]] .. items[batch[k + 1] - 1] */
	size_t n_batches;
	atomic_size_t next;		/* the next batch */
	atomic_int failed;
	pthread_mutex_t lock;
	int rc;
	struct bento_error err;
};

static int hash_one(struct bento_store *s, struct bento_blob_stage *stage, struct hash_item *it,
		    struct bento_error *err)
{
	struct stat st;
	int fd, rc;

	/* As git trusts its index: a file whose stat is as cached is not opened. */
	if (bento_blob_cached(s, it->st, &it->digest))
		return 0;
	fd = open(it->abs, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return bento_error_set(err, BENTO_E_NOTFOUND,
					       "%s: file vanished during the build", it->display);
		return bento_error_errno(err, errno, "%s", it->display);
	}
	if (fstat(fd, &st) < 0) {
		rc = bento_error_errno(err, errno, "%s", it->display);
	} else if (!S_ISREG(st.st_mode) || st.st_dev != it->st->st_dev ||
		   st.st_ino != it->st->st_ino) {
		rc = bento_error_set(err, BENTO_E_FAIL,
				     "%s: file was replaced during the build", it->display);
	} else {
		rc = bento_blob_put_file(s, stage, fd, &st, it->display, &it->digest, err);
		*it->st = st;
	}
	close(fd);
	return rc;
}

static void *hash_worker(void *arg)
{
	struct hash_job *j = arg;
	struct bento_error err = { 0 };

	while (!atomic_load(&j->failed)) {
		size_t k = atomic_fetch_add(&j->next, 1);
		int rc = 0;

		if (k >= j->n_batches)
			break;
		for (size_t i = j->batch[k]; i < j->batch[k + 1] && rc == 0; i++)
			rc = hash_one(j->s, j->stage, &j->items[i], &err);
		if (rc) {
			pthread_mutex_lock(&j->lock);
			if (!j->rc) {
				j->rc = rc;
				j->err = err;
			}
			pthread_mutex_unlock(&j->lock);
			atomic_store(&j->failed, 1);
		}
	}
	return NULL;
}

static int jobs_default(int jobs)
{
	return jobs > 0 ? jobs : (int)bento_cpus(BENTO_PARALLEL_MAX);
}

/* Hash and stage every item; nothing reaches blobs/ until the stage is committed. */
static int hash_all(struct bento_store *s, struct bento_blob_stage *stage,
		    struct hash_item *items, size_t n, int jobs, struct bento_error *err)
{
	struct hash_job j = { .s = s, .stage = stage, .items = items, .n = n };
	int nt = jobs_default(jobs);

	/*
	 * Small files go to the workers in runs of up to BATCH_FILES files or
	 * BATCH_BYTES bytes, not one by one; a big file is a batch of its own,
	 * so that a few big ones still spread over every worker.
	 */
	j.batch = bento_xcalloc(n + 1, sizeof(*j.batch));
	for (size_t i = 0, bytes = 0, count = 0; i < n; i++) {
		size_t size = (size_t)items[i].st->st_size;

		if (count == 0 || count == BATCH_FILES || bytes + size > BATCH_BYTES) {
			j.batch[j.n_batches++] = i;
			bytes = count = 0;
		}
		bytes += size;
		count++;
	}
	j.batch[j.n_batches] = n;
	if ((size_t)nt > j.n_batches)
		nt = j.n_batches ? (int)j.n_batches : 1;
	atomic_init(&j.next, 0);
	atomic_init(&j.failed, 0);
	pthread_mutex_init(&j.lock, NULL);
	bento_parallel(hash_worker, &j, (size_t)nt);
	pthread_mutex_destroy(&j.lock);
	free(j.batch);
	if (j.rc && err)
		*err = j.err;
	return j.rc;
}

static unsigned file_mode(const struct stat *st)
{
	return (st->st_mode & 0100) ? 0755 : 0644;
}

/* ---- models ---- */

/* A model being made from files: collected, hashed, then described. */
struct model_src {
	struct bento_collect_file *files;
	size_t n;
	char *root;				/* real path of the directory they came from */
	struct bento_collect_rules *rules;	/* a directory's walk rules; NULL for one file */
};

static void model_src_release(struct model_src *src)
{
	bento_collect_free(src->files, src->n);
	bento_collect_rules_free(src->rules);
	free(src->root);
	memset(src, 0, sizeof(*src));
}

/* On failure src holds nothing. */
static int model_collect(const char *path, const char *display, struct model_src *src,
			 struct bento_error *err)
{
	struct stat st;
	int rc;

	memset(src, 0, sizeof(*src));
	if (stat(path, &st) < 0)
		return bento_error_errno(err, errno, "%s", display);
	if (S_ISDIR(st.st_mode)) {
		struct bento_collect_opts co = { .context = path, .rules = &src->rules };
		rc = bento_collect(&co, &src->files, &src->n, err);
		if (rc == 0 && src->n == 0)
			rc = bento_error_set(err, BENTO_E_INVALID, "%s: no files in model directory",
					     display);
		if (rc == 0 && !(src->root = realpath(path, NULL)))
			rc = bento_error_errno(err, errno, "%s", display);
		if (rc)
			model_src_release(src);
		return rc;
	}
	if (!S_ISREG(st.st_mode))
		return bento_error_set(err, BENTO_E_UNSAFE, "%s: not a regular file or directory",
				       display);
	const char *base = strrchr(path, '/');
	char *dir = base ? bento_xstrndup(path, (size_t)(base - path)) : bento_xstrdup(".");
	src->root = realpath(*dir ? dir : "/", NULL);
	free(dir);
	if (!src->root)
		return bento_error_errno(err, errno, "%s", display);
	src->files = bento_xcalloc(1, sizeof(*src->files));
	src->files[0].rel = bento_xstrdup(base ? base + 1 : path);
	src->files[0].abs = bento_xstrdup(path);
	src->files[0].st = st;
	src->n = 1;
	return 0;
}

static void set_str(json_t *obj, const char *key, const char *val)
{
	if (val)
		json_object_set_new(obj, key, json_string(val));
}

static json_t *labels_json(const struct bento_kv *a, size_t na, const struct bento_kv *b,
			   size_t nb)
{
	json_t *o = json_object();

	for (size_t i = 0; i < na; i++)
		json_object_set_new(o, a[i].key, json_string(a[i].value));
	for (size_t i = 0; i < nb; i++)
		json_object_set_new(o, b[i].key, json_string(b[i].value));
	return o;
}

/*
 * Describe hashed model files as model.json and validate it.  items holds
 * the hashed files in src order.
 */
static int model_describe(const struct bento_model_import_opts *o, const struct model_src *src,
			  const struct hash_item *items, struct bento_model **out,
			  struct bento_error *err)
{
	json_t *obj = json_object(), *files = json_array();
	uint64_t total = 0;
	char version[17];
	int rc = 0;

	for (size_t i = 0; i < src->n && rc == 0; i++) {
		json_array_append_new(files, bento_file_json(src->files[i].rel,
							     (uint64_t)items[i].st->st_size,
							     file_mode(items[i].st),
							     &items[i].digest));
		rc = bento_size_add(&total, (uint64_t)items[i].st->st_size, o->path, err);
	}
	json_object_set_new(obj, "mediaType", json_string(BENTO_MEDIATYPE_MODEL));
	json_object_set_new(obj, "schemaVersion", json_integer(1));
	json_object_set_new(obj, "name", json_string(o->name));
	set_str(obj, "framework", o->framework);
	set_str(obj, "format", o->format);
	set_str(obj, "description", o->description);
	set_str(obj, "license", o->license);
	json_object_set_new(obj, "labels", labels_json(o->labels, o->n_labels, NULL, 0));
	json_object_set_new(obj, "files", files);
	json_object_set_new(obj, "size", json_integer((json_int_t)total));
	if (rc)
		goto out;
	if (o->version) {
		json_object_set_new(obj, "version", json_string(o->version));
	} else {
		if ((rc = bento_version_derive(obj, NULL, version, err)))
			goto out;
		json_object_set_new(obj, "version", json_string(version));
	}
	rc = bento_model_from_json(obj, o->name, out, err);
out:
	json_decref(obj);
	return rc;
}

/*
 * What storing model m, imported from source, puts (with its model-import
 * event), for one bento_store_commit with whatever else goes with it.  p
 * points into mp: mp stays where it is until model_put_release.
 */
struct model_put {
	struct bento_object_put p;
	struct bento_event_in ev;
	json_t *details;
	struct bento_buf canon;
	struct bento_digest *blobs;
};

static int model_put_init(struct model_put *mp, const struct bento_model *m, const char *source,
			  struct bento_error *err)
{
	mp->details = json_pack("{s:s, s:I}", "source", source, "files", (json_int_t)m->n_files);
	mp->ev = (struct bento_event_in){
		.action = "model-import", .kind = BENTO_KIND_MODEL, .name = m->name,
		.version = m->version, .digest = &m->digest, .details = mp->details,
	};
	bento_buf_init(&mp->canon);
	mp->blobs = bento_xcalloc(m->n_files + 1, sizeof(*mp->blobs));
	for (size_t i = 0; i < m->n_files; i++)
		mp->blobs[i] = m->files[i].digest;
	mp->p = (struct bento_object_put){
		.kind = BENTO_KIND_MODEL, .name = m->name, .version = m->version,
		.blobs = mp->blobs, .n_blobs = m->n_files, .size = m->size, .event = &mp->ev,
	};
	int rc = bento_json_canonical(m->json, &mp->canon, err);
	if (rc)
		return rc;
	mp->p.manifest = mp->canon.buf;
	mp->p.manifest_len = mp->canon.len;
	return 0;
}

static void model_put_release(struct model_put *mp)
{
	json_decref(mp->details);
	bento_buf_release(&mp->canon);
	free(mp->blobs);
	memset(mp, 0, sizeof(*mp));
}

static void items_from(struct hash_item *items, struct bento_collect_file *f, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		items[i].abs = f[i].abs;
		items[i].display = f[i].abs;
		items[i].st = &f[i].st;
	}
}

static int check_model_opts(const struct bento_model_import_opts *o, struct bento_error *err)
{
	int rc;

	if (!o->name)
		return bento_error_set(err, BENTO_E_USAGE, "a model needs a name (--name)");
	if ((rc = bento_name_check(o->name, "model", err)))
		return rc;
	if (o->version && (rc = bento_version_check(o->version, "model", err)))
		return rc;
	for (size_t i = 0; i < o->n_labels; i++)
		if (!o->labels[i].key[0])
			return bento_error_set(err, BENTO_E_USAGE, "empty label key");
	return 0;
}

static void result_fill(struct bento_build_result *out, const char *name, const char *version,
			const struct bento_digest *d, uint64_t size, size_t n_files)
{
	memset(out, 0, sizeof(*out));
	out->name = bento_xstrdup(name);
	out->version = bento_xstrdup(version);
	out->digest = *d;
	out->size = size;
	out->n_files = n_files;
}

int bento_model_import(struct bento_store *s, const struct bento_model_import_opts *o,
		       struct bento_build_result *out, struct bento_error *err)
{
	struct model_src src;
	struct hash_item *items = NULL;
	struct bento_model *m = NULL;
	struct bento_blob_stage *stage = NULL;
	int rc, had;

	if ((rc = check_model_opts(o, err)))
		return rc;
	if ((rc = model_collect(o->path, o->path, &src, err)))
		return rc;
	items = bento_xcalloc(src.n, sizeof(*items));
	items_from(items, src.files, src.n);
	stage = bento_blob_stage_new(s);
	if ((rc = hash_all(s, stage, items, src.n, o->jobs, err)) ||
	    (rc = model_describe(o, &src, items, &m, err)))
		goto out;
	had = bento_store_has_object(s, BENTO_KIND_MODEL, &m->digest);
	struct model_put mp = { 0 };
	if ((rc = model_put_init(&mp, m, o->path, err)) == 0)
		rc = bento_store_commit(s, stage, &mp.p, 1, err);
	model_put_release(&mp);
	if (rc)
		goto out;
	if (out) {
		result_fill(out, m->name, m->version, &m->digest, m->size, m->n_files);
		out->existed = had;
	}
out:
	bento_blob_stage_free(stage);
	bento_model_free(m);
	free(items);
	model_src_release(&src);
	return rc;
}

/* ---- created time ---- */

int bento_created_time(const char *dir, int64_t *t, int *have, struct bento_error *err)
{
	const char *sde = getenv("SOURCE_DATE_EPOCH");
	git_repository *repo = NULL;
	git_commit *commit = NULL;
	git_oid oid;

	*have = 0;
	if (sde && *sde) {
		char *end;
		errno = 0;
		long long v = strtoll(sde, &end, 10);
		if (errno || *end || v < 0 || v > 253402300799LL)
			return bento_error_set(err, BENTO_E_INVALID,
					       "SOURCE_DATE_EPOCH: '%.40s' is not a non-negative integer of seconds",
					       sde);
		*t = v;
		*have = 1;
		return 0;
	}
	git_libgit2_init();
	if (git_repository_open_ext(&repo, dir, 0, NULL) == 0 &&
	    git_reference_name_to_id(&oid, repo, "HEAD") == 0 &&
	    git_commit_lookup(&commit, repo, &oid) == 0) {
		*t = (int64_t)git_commit_time(commit);
		*have = 1;
	}
	git_commit_free(commit);
	git_repository_free(repo);
	git_libgit2_shutdown();
	return 0;
}

/* ---- bento build ---- */

struct build {
	struct bento_store *s;
	const struct bento_build_opts *o;
	struct bentofile *bf;
	char *context;			/* realpath */
	struct bento_model **models;	/* one per bentofile model, in bentofile order */
	struct model_src *msrc;		/* for path models */
	struct bento_git_state git;
	struct bento_collect_file *files;	/* service files */
	size_t n_files;
	struct bento_collect_rules *rules;	/* the walk's, for the files of HEAD it lacks */
	char **lock_rel;		/* lockfile paths relative to the context */
	const char **lock_kind;
	struct hash_item *lock_items;	/* lockfiles not among the service files */
	struct stat *lock_st;		/* their stat */
	ssize_t *lock_index;		/* index into files, or -1 = lock_items[k] */
	size_t n_lock;
	struct hash_item *items;
	size_t n_items;
	size_t warnings;
	struct bento_blob_stage *stage;	/* the hashed files until commit_bento, borrowed */
};

static void build_release(struct build *b)
{
	if (b->bf) {
		for (size_t i = 0; i < b->bf->n_models; i++) {
			bento_model_free(b->models[i]);
			model_src_release(&b->msrc[i]);
		}
	}
	free(b->models);
	free(b->msrc);
	bento_collect_free(b->files, b->n_files);
	bento_collect_rules_free(b->rules);
	for (size_t i = 0; i < b->n_lock; i++)
		free(b->lock_rel[i]);
	free(b->lock_rel);
	free(b->lock_kind);
	free(b->lock_items);
	free(b->lock_st);
	free(b->lock_index);
	free(b->items);
	free(b->context);
	bento_git_state_release(&b->git);
	bentofile_free(b->bf);
}

static int at_pos(struct bento_error *err, const struct bentofile *bf, struct bento_pos pos)
{
	bento_error_prefix(err, "%s:%d:%d", bf->file, pos.line, pos.col);
	return err ? err->code : -BENTO_E_FAIL;
}

/* Path p (relative to the context) as an anchored exclude pattern when it lies inside. */
static char *inside_pattern(const char *context, const char *p)
{
	char *abs = bento_xasprintf("%s/%s", context, p), *real = realpath(abs, NULL), *pat = NULL;
	size_t n = strlen(context);

	if (real && strncmp(real, context, n) == 0 && real[n] == '/')
		pat = bento_xasprintf("/%s", real + n + 1);
	free(real);
	free(abs);
	return pat;
}

static int resolve_models(struct build *b, struct bento_error *err)
{
	const struct bentofile *bf = b->bf;
	int rc;

	b->models = bento_xcalloc(bf->n_models, sizeof(*b->models));
	b->msrc = bento_xcalloc(bf->n_models, sizeof(*b->msrc));
	for (size_t i = 0; i < bf->n_models; i++) {
		const struct bentofile_model *bm = &bf->models[i];
		struct bento_object_ref ref = { 0 };
		struct bento_buf json = BENTO_BUF_INIT;

		if (bm->path) {
			char *abs = bm->path[0] == '/' ? bento_xstrdup(bm->path)
						       : bento_xasprintf("%s/%s", b->context, bm->path);
			struct bento_model_import_opts mo = { .name = bm->name, .version = bm->version };
			rc = check_model_opts(&mo, err);
			if (rc == 0)
				rc = model_collect(abs, bm->path, &b->msrc[i], err);
			free(abs);
			if (rc)
				return at_pos(err, bf, bm->pos);
			continue;
		}
		rc = bento_store_resolve(b->s, BENTO_KIND_MODEL, bm->tag, &ref, err);
		if (rc == 0)
			rc = bento_store_manifest(b->s, BENTO_KIND_MODEL, &ref.digest, &json, err);
		if (rc == 0)
			rc = bento_model_parse(json.buf, json.len, bm->tag, &b->models[i], err);
		bento_object_ref_release(&ref);
		bento_buf_release(&json);
		if (rc)
			return at_pos(err, bf, bm->pos);
	}
	return 0;
}

static int collect_service(struct build *b, struct bento_error *err)
{
	const struct bentofile *bf = b->bf;
	const char **inc = bento_xcalloc(bf->include.n + 1, sizeof(*inc));
	const char **exc = bento_xcalloc(bf->exclude.n + bf->n_models + 1, sizeof(*exc));
	char **extra = bento_xcalloc(bf->n_models + 1, sizeof(*extra));
	size_t nexc = 0, nextra = 0;
	int rc;

	for (size_t i = 0; i < bf->include.n; i++)
		inc[i] = bf->include.v[i].s;
	for (size_t i = 0; i < bf->exclude.n; i++)
		exc[nexc++] = bf->exclude.v[i].s;
	/* A model imported from inside the context is not also service code. */
	for (size_t i = 0; i < bf->n_models; i++)
		if (bf->models[i].path &&
		    (extra[nextra] = inside_pattern(b->context, bf->models[i].path)))
			exc[nexc++] = extra[nextra++];
	struct bento_collect_opts co = {
		.context = b->context, .include = inc, .n_include = bf->include.n,
		.exclude = exc, .n_exclude = nexc, .rules = &b->rules,
	};
	rc = bento_collect(&co, &b->files, &b->n_files, err);
	if (rc && bf->include.n)
		bento_error_prefix(err, "%s", bf->file);
	for (size_t i = 0; i < nextra; i++)
		free(extra[i]);
	free(extra);
	free(inc);
	free(exc);
	return rc;
}

static void warnf(struct build *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warnf(struct build *b, const char *fmt, ...)
{
	struct bento_buf m = BENTO_BUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	bento_buf_vaddf(&m, fmt, ap);
	va_end(ap);
	b->warnings++;
	if (b->o->warn)
		b->o->warn(b->o->warn_ctx, m.buf);
	bento_buf_release(&m);
}

static ssize_t find_file(const struct build *b, const char *rel)
{
	size_t lo = 0, hi = b->n_files;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(b->files[mid].rel, rel);
		if (c == 0)
			return (ssize_t)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int collect_lockfiles(struct build *b, struct bento_error *err)
{
	const struct bentofile *bf = b->bf;
	size_t cap = bf->lockfiles.n;
	int rc = 0;

	if (!bf->lockfiles.n)
		for (size_t i = 0; i < b->n_files; i++)
			cap += !strchr(b->files[i].rel, '/') && bento_lockfile_kind(b->files[i].rel);
	b->lock_rel = bento_xcalloc(cap + 1, sizeof(*b->lock_rel));
	b->lock_st = bento_xcalloc(cap + 1, sizeof(*b->lock_st));
	b->lock_kind = bento_xcalloc(cap + 1, sizeof(*b->lock_kind));
	b->lock_items = bento_xcalloc(cap + 1, sizeof(*b->lock_items));
	b->lock_index = bento_xcalloc(cap + 1, sizeof(*b->lock_index));
	if (bf->lockfiles.n) {
		for (size_t i = 0; i < bf->lockfiles.n; i++) {
			const char *p = bf->lockfiles.v[i].s;
			if ((rc = bento_path_check(p, "lockfile", err)))
				return at_pos(err, bf, bf->lockfiles.v[i].pos);
			b->lock_rel[b->n_lock++] = bento_xstrdup(p);
		}
	} else {
		/* Found by name at the top of the context. */
		for (size_t i = 0; i < b->n_files; i++)
			if (!strchr(b->files[i].rel, '/') && bento_lockfile_kind(b->files[i].rel))
				b->lock_rel[b->n_lock++] = bento_xstrdup(b->files[i].rel);
	}
	/* env/ entries must be sorted and unique like every file list. */
	qsort(b->lock_rel, b->n_lock, sizeof(*b->lock_rel), str_cmp);
	for (size_t i = 1; i < b->n_lock; i++)
		if (strcmp(b->lock_rel[i - 1], b->lock_rel[i]) == 0)
			return bento_error_set(err, BENTO_E_INVALID, "%s: lockfile '%s' is listed twice",
					       bf->file, b->lock_rel[i]);
	for (size_t i = 0; i < b->n_lock; i++) {
		const char *rel = b->lock_rel[i], *base = strrchr(rel, '/');
		const char *kind = bento_lockfile_kind(base ? base + 1 : rel);
		struct bento_lockfile_issue *issues = NULL;
		size_t n_issues = 0;
		char *abs = bento_xasprintf("%s/%s", b->context, rel);
		ssize_t idx = find_file(b, rel);

		b->lock_kind[i] = kind ? kind : "other";
		b->lock_index[i] = idx;
		if (idx < 0) {
			struct hash_item *it = &b->lock_items[i];
			it->st = &b->lock_st[i];
			if (stat(abs, it->st) < 0)
				rc = errno == ENOENT ?
					bento_error_set(err, BENTO_E_NOTFOUND, "%s: lockfile '%s': no such file in %s",
							bf->file, rel, b->context) :
					bento_error_errno(err, errno, "%s: lockfile '%s'", bf->file, rel);
			else if (!S_ISREG(it->st->st_mode))
				rc = bento_error_set(err, BENTO_E_INVALID, "%s: lockfile '%s': not a regular file",
						     bf->file, rel);
			if (rc) {
				free(abs);
				return rc;
			}
		}
		if (kind) {
			rc = bento_lockfile_check(abs, rel, kind, &issues, &n_issues, err);
			for (size_t k = 0; rc == 0 && k < n_issues; k++) {
				if (issues[k].line)
					warnf(b, "%s:%d: %s", issues[k].file, issues[k].line, issues[k].what);
				else
					warnf(b, "%s: %s", issues[k].file, issues[k].what);
			}
			if (rc == 0 && n_issues && b->o->strict)
				rc = bento_error_set(err, BENTO_E_VERIFY,
						     "%s: %zu unpinned or unhashed requirement%s (--strict)",
						     rel, n_issues, n_issues == 1 ? "" : "s");
			bento_lockfile_issues_free(issues, n_issues);
		}
		free(abs);
		if (rc)
			return rc;
	}
	return 0;
}

/* Lay out every file to hash: service files, path-model files, lockfiles outside the files. */
static void plan_items(struct build *b)
{
	size_t n = b->n_files, k;

	for (size_t i = 0; i < b->bf->n_models; i++)
		n += b->msrc[i].n;
	for (size_t i = 0; i < b->n_lock; i++)
		if (b->lock_index[i] < 0)
			n++;
	b->items = bento_xcalloc(n, sizeof(*b->items));
	items_from(b->items, b->files, b->n_files);
	for (size_t i = 0; i < b->n_files; i++)
		b->items[i].display = b->files[i].rel;
	k = b->n_files;
	for (size_t i = 0; i < b->bf->n_models; i++) {
		items_from(b->items + k, b->msrc[i].files, b->msrc[i].n);
		k += b->msrc[i].n;
	}
	for (size_t i = 0; i < b->n_lock; i++) {
		if (b->lock_index[i] >= 0)
			continue;
		char *abs = bento_xasprintf("%s/%s", b->context, b->lock_rel[i]);
		b->lock_items[i].abs = abs;
		b->lock_items[i].display = b->lock_rel[i];
		b->items[k] = b->lock_items[i];
		b->lock_index[i] = -(ssize_t)k - 2;	/* encodes items[k] */
		k++;
	}
	b->n_items = n;
}

static const struct hash_item *lock_item(const struct build *b, size_t i)
{
	ssize_t idx = b->lock_index[i];

	return idx >= 0 ? &b->items[idx] : &b->items[-idx - 2];
}

/* The bentofile's real path into *out when it is not one of the service files, else NULL. */
static int bentofile_apart(const struct build *b, const char *bfpath, char **out,
			   struct bento_error *err)
{
	char *real = realpath(bfpath, NULL);
	size_t n = strlen(b->context);

	*out = NULL;
	if (!real)
		return bento_error_errno(err, errno, "%s", bfpath);
	if (strncmp(real, b->context, n) == 0 && real[n] == '/' && find_file(b, real + n + 1) >= 0)
		free(real);
	else
		*out = real;
	return 0;
}

/*
 * Compare every file of the bento with the HEAD commit (see
 * bento_git_check_files), and the bentofile when it is not one of them:
 * the bytes stored, so what is compared is exactly what went in.  Needs
 * the blobs in place.
 */
static int check_git_files(struct build *b, const char *bfpath, struct bento_error *err)
{
	/* Every item, and the lockfiles among the service files a second time (as env/). */
	size_t n = b->n_items + b->n_lock, k = 0, nw = 0, off = b->n_files;
	struct bento_git_file *f = bento_xcalloc(n + 1, sizeof(*f)), bf = { 0 };
	struct bento_git_walk *w = bento_xcalloc(b->bf->n_models + 2, sizeof(*w));
	struct bento_git_check in = { .files = f, .walks = w };
	char **paths = bento_xcalloc(n + 1, sizeof(*paths));
	char **content = bento_xcalloc(n + 1, sizeof(*content));
	char **prefix = bento_xcalloc(b->bf->n_models + 1, sizeof(*prefix));
	char *bfreal = NULL, *bfdir = NULL;
	struct bento_digest bfd;
	int rc = 0;

	if (!b->git.is_repo)
		goto out;
	for (size_t i = 0; i < b->n_files; i++, k++) {
		paths[k] = bento_xasprintf("src/%s", b->files[i].rel);
		f[k] = (struct bento_git_file){ .root = b->context, .rel = b->files[i].rel,
						.digest = &b->items[i].digest };
		f[k].size = (uint64_t)b->items[i].st->st_size;
		content[k] = bento_blob_stage_path(b->stage, &b->items[i].digest);
	}
	w[nw++] = (struct bento_git_walk){ .prefix = "src/", .root = b->context, .rules = b->rules };
	for (size_t m = 0; m < b->bf->n_models; m++) {
		const struct model_src *src = &b->msrc[m];
		if (!b->bf->models[m].path)
			continue;
		prefix[m] = bento_xasprintf("models/%s/", b->models[m]->name);
		for (size_t i = 0; i < src->n; i++, k++) {
			const struct hash_item *it = &b->items[off + i];
			paths[k] = bento_xasprintf("%s%s", prefix[m], src->files[i].rel);
			f[k] = (struct bento_git_file){ .root = src->root, .rel = src->files[i].rel,
							.digest = &it->digest };
			f[k].size = (uint64_t)it->st->st_size;
			content[k] = bento_blob_stage_path(b->stage, &it->digest);
		}
		off += src->n;
		if (src->rules)
			w[nw++] = (struct bento_git_walk){ .prefix = prefix[m], .root = src->root,
							   .rules = src->rules };
	}
	for (size_t i = 0; i < b->n_lock; i++, k++) {
		const struct hash_item *it = lock_item(b, i);
		paths[k] = bento_xasprintf("env/%s", b->lock_rel[i]);
		f[k] = (struct bento_git_file){ .root = b->context, .rel = b->lock_rel[i],
						.digest = &it->digest };
		f[k].size = (uint64_t)it->st->st_size;
		content[k] = bento_blob_stage_path(b->stage, &it->digest);
	}
	for (size_t i = 0; i < k; i++) {
		f[i].path = paths[i];
		f[i].content = content[i];
	}
	in.n = k;
	in.n_walks = nw;
	if ((rc = bentofile_apart(b, bfpath, &bfreal, err)))
		goto out;
	if (bfreal) {
		char *slash = strrchr(bfreal, '/');
		bfdir = bento_xstrndup(bfreal, (size_t)(slash - bfreal));
		bf = (struct bento_git_file){ .path = "", .root = *bfdir ? bfdir : "/",
					      .rel = slash + 1, .content = bfreal, .digest = &bfd };
		if ((rc = bento_digest_path(bfreal, &bfd, &bf.size, err)))
			goto out;
		in.bentofile = &bf;
	}
	rc = bento_git_check_files(&b->git, &in, err);
out:
	for (size_t i = 0; i < n; i++) {
		free(paths[i]);
		free(content[i]);
	}
	for (size_t m = 0; m < b->bf->n_models; m++)
		free(prefix[m]);
	free(prefix);
	free(paths);
	free(content);
	free(bfreal);
	free(bfdir);
	free(f);
	free(w);
	return rc;
}

static int describe_models(struct build *b, struct bento_error *err)
{
	size_t k = b->n_files;

	for (size_t i = 0; i < b->bf->n_models; i++) {
		const struct bentofile_model *bm = &b->bf->models[i];
		if (!bm->path)
			continue;
		struct bento_model_import_opts mo = {
			.name = bm->name, .version = bm->version, .framework = bm->framework,
		};
		int rc = model_describe(&mo, &b->msrc[i], b->items + k, &b->models[i], err);
		k += b->msrc[i].n;
		if (rc)
			return at_pos(err, b->bf, bm->pos);
	}
	return 0;
}

static int model_cmp(const void *a, const void *b)
{
	return strcmp((*(struct bento_model *const *)a)->name, (*(struct bento_model *const *)b)->name);
}

static json_t *models_json(struct build *b, struct bento_error *err, int *rc)
{
	size_t n = b->bf->n_models;
	struct bento_model **sorted = bento_xcalloc(n + 1, sizeof(*sorted));
	json_t *arr = json_array();

	memcpy(sorted, b->models, n * sizeof(*sorted));
	qsort(sorted, n, sizeof(*sorted), model_cmp);
	*rc = 0;
	for (size_t i = 0; i < n; i++) {
		char d[BENTO_DIGEST_STRLEN];
		if (i && strcmp(sorted[i - 1]->name, sorted[i]->name) == 0) {
			*rc = bento_error_set(err, BENTO_E_INVALID,
					      "%s: model '%s' is listed twice (a bento holds one version of each model)",
					      b->bf->file, sorted[i]->name);
			break;
		}
		bento_digest_str(&sorted[i]->digest, d);
		json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:O}", "name", sorted[i]->name,
						     "version", sorted[i]->version, "digest", d,
						     "manifest", sorted[i]->json));
	}
	free(sorted);
	return arr;
}

static int assemble(struct build *b, struct bento_buf *canon, struct bento_manifest **out,
		    struct bento_error *err)
{
	const struct bentofile *bf = b->bf;
	json_t *obj = json_object(), *locks = json_array(), *models;
	const char *name = b->o->name ? b->o->name : bf->name;
	const char *version = b->o->version ? b->o->version : bf->version;
	size_t n = b->n_lock + b->n_files, k = 0;
	struct bento_file *files = bento_xcalloc(n + 1, sizeof(*files));
	struct bento_buf text = BENTO_BUF_INIT;
	uint64_t total = 0, files_size = 0;
	int64_t created;
	int have_created, rc;
	char vbuf[17];

	/* src/ and env/ entries, sorted: env/ < src/ bytewise and each list is sorted. */
	for (size_t i = 0; i < b->n_lock; i++, k++) {
		const struct hash_item *it = lock_item(b, i);
		char d[BENTO_DIGEST_STRLEN];

		files[k] = (struct bento_file){ bento_xasprintf("env/%s", b->lock_rel[i]),
						(uint64_t)it->st->st_size, file_mode(it->st),
						it->digest };
		bento_digest_str(&it->digest, d);
		json_array_append_new(locks, json_pack("{s:s, s:s, s:s, s:s}", "path", files[k].path,
						       "kind", b->lock_kind[i], "source",
						       b->lock_rel[i], "digest", d));
	}
	for (size_t i = 0; i < b->n_files; i++, k++)
		files[k] = (struct bento_file){ bento_xasprintf("src/%s", b->files[i].rel),
						(uint64_t)b->items[i].st->st_size,
						file_mode(b->items[i].st), b->items[i].digest };
	/* the files as canonical JSON text, not as 100,000 jansson objects */
	if ((rc = bento_files_canonical(files, n, "bento.json", &text, &files_size, err)))
		goto out;
	total = files_size;
	models = models_json(b, err, &rc);
	for (size_t i = 0; rc == 0 && i < bf->n_models; i++)
		rc = bento_size_add(&total, b->models[i]->size, b->context, err);
	json_object_set_new(obj, "mediaType", json_string(BENTO_MEDIATYPE_MANIFEST));
	json_object_set_new(obj, "schemaVersion", json_integer(1));
	json_object_set_new(obj, "name", json_string(name));
	set_str(obj, "description", bf->description);
	json_object_set_new(obj, "labels", labels_json(bf->labels.v, bf->labels.n, b->o->labels,
						       b->o->n_labels));
	json_object_set_new(obj, "service", bentofile_service_json(bf));
	json_object_set_new(obj, "lockfiles", locks);
	locks = NULL;
	json_object_set_new(obj, "models", models);
	json_object_set_new(obj, "size", json_integer((json_int_t)total));
	if (rc)
		goto out;
	if ((rc = bento_created_time(b->context, &created, &have_created, err)))
		goto out;
	if (have_created) {
		char ts[32];
		bento_time_rfc3339(created, ts);
		json_object_set_new(obj, "created", json_string(ts));
	}
	if (!version) {
		if ((rc = bento_version_derive(obj, &text, vbuf, err)))
			goto out;
		version = vbuf;
	}
	json_object_set_new(obj, "version", json_string(version));
	rc = bento_manifest_from_parts(obj, files, n, &text, files_size, "bento.json", canon, out,
				       err);
	files = NULL;	/* the manifest's now, also on failure */
out:
	if (files) {
		for (size_t i = 0; i < n; i++)
			free(files[i].path);
		free(files);
	}
	json_decref(locks);
	json_decref(obj);
	bento_buf_release(&text);
	return rc;
}

/* What a bento carries besides its content: signatures and attestations, owned. */
struct attachments {
	struct bento_attachment sigs[1];	/* at most one: the signing key's */
	size_t n_sigs;
	struct bento_attachment *atts;
	size_t n_atts;
};

static void attachments_release(struct attachments *a)
{
	for (size_t i = 0; i < a->n_sigs; i++) {
		free(a->sigs[i].name);
		free(a->sigs[i].data);
	}
	bento_attachments_free(a->atts, a->n_atts);
	memset(a, 0, sizeof(*a));
}

/*
 * Sign bento.json (canon) with k, and add k's signature to every envelope
 * in a->atts, in memory: the caller stores all of it in one transaction.
 */
static int sign_into(const struct bento_manifest *m, const struct bento_buf *canon,
		     const struct bento_seckey *k, struct attachments *a, struct bento_error *err)
{
	struct bento_buf sig = BENTO_BUF_INIT;
	char keyid[BENTO_KEYID_HEXLEN + 1], *comment = bento_signature_comment(m);
	int rc = bento_sign(k, canon->buf, canon->len, comment, NULL, &sig, err);

	free(comment);
	if (rc) {
		bento_buf_release(&sig);
		return rc;
	}
	bento_keyid_hex(k->keyid, keyid);
	a->sigs[0].name = bento_xstrdup(keyid);
	a->sigs[0].data = bento_buf_detach(&sig, &a->sigs[0].len);
	a->n_sigs = 1;
	for (size_t i = 0; i < a->n_atts; i++) {
		struct bento_buf env = BENTO_BUF_INIT;
		if ((rc = bento_dsse_add_signature(a->atts[i].data, a->atts[i].len, k, &env, err))) {
			bento_buf_release(&env);
			return rc;
		}
		free(a->atts[i].data);
		a->atts[i].data = bento_buf_detach(&env, &a->atts[i].len);
	}
	return 0;
}

/* The bentofile's path relative to the context when it lies inside, else as given. */
static const char *bentofile_rel(const struct build *b, const char *bfpath, char **tmp)
{
	size_t n = strlen(b->context);

	*tmp = realpath(bfpath, NULL);
	if (*tmp && strncmp(*tmp, b->context, n) == 0 && (*tmp)[n] == '/')
		return *tmp + n + 1;
	return bfpath;
}

/*
 * Where the bento came from: an in-toto statement in a DSSE envelope,
 * signed when the build signs.  A rebuild of a bento already in the store
 * keeps the provenance it has (which may be signed) unless this build
 * signs, in which case its own replaces it.
 */
static int make_provenance(struct build *b, const struct bento_manifest *m, int existed,
			   const char *bfpath, struct attachments *a, struct bento_error *err)
{
	struct bento_buf payload = BENTO_BUF_INIT, env = BENTO_BUF_INIT;
	struct bento_attachment *have = NULL;
	size_t n_have = 0;
	char *tmp = NULL;
	int rc = 0;

	if (existed && !b->o->sign_key) {
		rc = bento_store_attestations(b->s, &m->digest, &have, &n_have, err);
		bento_attachments_free(have, n_have);
		if (rc || n_have)
			return rc;
	}
	json_t *params = json_pack("{s:b}", "strict", b->o->strict);
	struct bento_provenance_input in = {
		.m = m, .bentofile = bentofile_rel(b, bfpath, &tmp), .parameters = params,
		.git = &b->git, .builder_version = BENTO_VERSION,
	};
	json_t *stmt = bento_provenance_statement(&in);

	if ((rc = bento_json_canonical(stmt, &payload, err)) == 0 &&
	    (rc = bento_dsse_envelope(BENTO_DSSE_PAYLOAD_TYPE, payload.buf, payload.len, &env,
				      err)) == 0) {
		a->atts = bento_xcalloc(1, sizeof(*a->atts));
		a->atts[0].name = bento_xstrdup("provenance.dsse.json");
		a->atts[0].data = bento_buf_detach(&env, &a->atts[0].len);
		a->n_atts = 1;
	}
	json_decref(stmt);
	json_decref(params);
	free(tmp);
	bento_buf_release(&payload);
	bento_buf_release(&env);
	return rc;
}

/*
 * The models imported on the fly, the bento with its provenance, signature
 * and event, and the staged blobs: one bento_store_commit.
 */
static int commit_bento(struct build *b, const struct bento_manifest *m,
			const struct bento_buf *canon, const char *bfpath,
			struct bento_build_result *out, struct bento_error *err)
{
	struct bento_digest *blobs, *deps = bento_xcalloc(m->n_models + 1, sizeof(*deps));
	struct model_put *mp = bento_xcalloc(b->bf->n_models + 1, sizeof(*mp));
	struct bento_object_put *puts = bento_xcalloc(b->bf->n_models + 1, sizeof(*puts));
	struct attachments a = { 0 };
	json_t *details = NULL;
	size_t n_blobs, n = 0;
	int rc = 0, had;

	for (size_t i = 0; i < b->bf->n_models && rc == 0; i++)
		if (b->bf->models[i].path &&
		    (rc = model_put_init(&mp[n], b->models[i], b->bf->models[i].path, err)) == 0) {
			puts[n] = mp[n].p;
			n++;
		}
	bento_manifest_blobs(m, &blobs, &n_blobs);
	for (size_t i = 0; i < m->n_models; i++)
		deps[i] = m->models[i].digest;
	if (rc)
		goto out;
	had = bento_store_has_object(b->s, BENTO_KIND_BENTO, &m->digest);
	if ((rc = make_provenance(b, m, had, bfpath, &a, err)) ||
	    (b->o->sign_key && (rc = sign_into(m, canon, b->o->sign_key, &a, err))))
		goto out;
	details = json_pack("{s:I, s:I, s:I}", "files", (json_int_t)n_blobs, "size",
			    (json_int_t)m->size, "models", (json_int_t)m->n_models);
	if (b->git.commit) {
		json_object_set_new(details, "commit", json_string(b->git.commit));
		json_object_set_new(details, "dirty", json_boolean(b->git.dirty));
		json_object_set_new(details, "not_in_commit", json_integer((json_int_t)b->git.n_changes));
	}
	if (a.n_sigs)
		json_object_set_new(details, "signed", json_string(a.sigs[0].name));
	struct bento_event_in ev = {
		.action = "build", .kind = BENTO_KIND_BENTO, .name = m->name,
		.version = m->version, .digest = &m->digest, .details = details,
	};
	puts[n++] = (struct bento_object_put){
		.kind = BENTO_KIND_BENTO, .name = m->name, .version = m->version,
		.manifest = canon->buf, .manifest_len = canon->len,
		.blobs = blobs, .n_blobs = n_blobs, .deps = deps, .n_deps = m->n_models,
		.size = m->size, .event = &ev,
		.sigs = a.sigs, .n_sigs = a.n_sigs, .atts = a.atts, .n_atts = a.n_atts,
	};
	if ((rc = bento_store_commit(b->s, b->stage, puts, n, err)))
		goto out;
	result_fill(out, m->name, m->version, &m->digest, m->size, n_blobs);
	out->existed = had;
	out->n_warnings = b->warnings;
	out->signed_by_key = a.n_sigs > 0;
out:
	for (size_t i = 0; i < b->bf->n_models; i++)
		model_put_release(&mp[i]);
	free(mp);
	free(puts);
	json_decref(details);
	attachments_release(&a);
	free(blobs);
	free(deps);
	return rc;
}

int bento_sign_stored(struct bento_store *s, const struct bento_digest *d,
		      const struct bento_seckey *k, struct bento_error *err)
{
	struct bento_buf json = BENTO_BUF_INIT;
	struct bento_object_ref ref = { 0 };
	struct bento_manifest *m = NULL;
	struct attachments a = { 0 };
	char dstr[BENTO_DIGEST_STRLEN];
	json_t *details = NULL;
	int rc;

	bento_digest_str(d, dstr);
	if ((rc = bento_store_resolve(s, BENTO_KIND_BENTO, dstr, &ref, err)) ||
	    (rc = bento_store_manifest(s, BENTO_KIND_BENTO, d, &json, err)) ||
	    (rc = bento_manifest_parse(json.buf, json.len, "bento.json", &m, err)) ||
	    (rc = bento_store_attestations(s, d, &a.atts, &a.n_atts, err)) ||
	    (rc = sign_into(m, &json, k, &a, err)))
		goto out;
	details = json_pack("{s:s}", "key", a.sigs[0].name);
	struct bento_event_in ev = {
		.action = "sign", .kind = BENTO_KIND_BENTO, .name = m->name, .version = m->version,
		.digest = d, .details = details,
	};
	/* The object is there already: the put adds the signatures and the event in one transaction. */
	struct bento_object_put p = {
		.kind = BENTO_KIND_BENTO, .name = ref.name, .version = ref.version,
		.manifest = json.buf, .manifest_len = json.len, .size = m->size, .event = &ev,
		.sigs = a.sigs, .n_sigs = a.n_sigs, .atts = a.atts, .n_atts = a.n_atts,
	};
	rc = bento_store_put(s, &p, NULL, err);
out:
	json_decref(details);
	attachments_release(&a);
	bento_object_ref_release(&ref);
	bento_manifest_free(m);
	bento_buf_release(&json);
	return rc;
}

int bento_build(struct bento_store *s, const struct bento_build_opts *o,
		struct bento_build_result *out, struct bento_error *err)
{
	struct build b = { .s = s, .o = o };
	struct bento_buf canon = BENTO_BUF_INIT;
	struct bento_manifest *m = NULL;
	struct bento_blob_stage *stage = NULL;
	char *bfpath = NULL;
	int rc;

	b.context = realpath(o->context ? o->context : ".", NULL);
	if (!b.context)
		return bento_error_errno(err, errno, "build context '%s'",
					 o->context ? o->context : ".");
	bfpath = o->bentofile ? bento_xstrdup(o->bentofile)
			      : bento_xasprintf("%s/bentofile.yaml", o->context ? o->context : ".");
	if ((rc = bentofile_load(bfpath, &b.bf, err)))
		goto out;
	if (!o->name && !b.bf->name) {
		rc = bento_error_set(err, BENTO_E_INVALID,
				     "%s: no bento name: add 'name:' or pass --name", b.bf->file);
		goto out;
	}
	if ((o->name && (rc = bento_name_check(o->name, "--name", err))) ||
	    (o->version && (rc = bento_version_check(o->version, "--version", err))) ||
	    (rc = resolve_models(&b, err)) ||
	    (rc = collect_service(&b, err)) ||
	    (rc = collect_lockfiles(&b, err)))
		goto out;
	if ((rc = bento_git_state(b.context, &b.git, err)))
		goto out;
	plan_items(&b);
	b.stage = stage = bento_blob_stage_new(s);
	if ((rc = hash_all(s, stage, b.items, b.n_items, o->jobs, err)) ||
	    (rc = describe_models(&b, err)) ||
	    (rc = assemble(&b, &canon, &m, err)) ||
	    (rc = check_git_files(&b, bfpath, err)) ||
	    (rc = commit_bento(&b, m, &canon, bfpath, out, err)))
		goto out;
	if (b.git.commit) {
		out->git_commit = bento_xstrdup(b.git.commit);
		out->git_dirty = b.git.dirty;
		out->git_source = bento_git_source(&b.git);
	}
out:
	bento_blob_stage_free(stage);
	for (size_t i = 0; b.lock_items && i < b.n_lock; i++)
		free((char *)b.lock_items[i].abs);
	bento_manifest_free(m);
	bento_buf_release(&canon);
	free(bfpath);
	build_release(&b);
	return rc;
}
