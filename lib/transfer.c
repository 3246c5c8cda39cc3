#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cjson.h"
#include "fs.h"
#include "history.h"
#include "manifest.h"
#include "oci.h"
#include "provenance.h"
#include "regconf.h"
#include "transfer.h"
#include "trust.h"

#define OCI_EMPTY_TYPE "application/vnd.oci.empty.v1+json"
#define BENTO_SIGNATURE_ARTIFACT "application/vnd.bento.signature.v1"
#define BENTO_SIGNATURE_LAYER "application/vnd.bento.signature.v1+minisig"
#define BENTO_DSSE_LAYER "application/vnd.dsse.envelope.v1+json"
#define REFERRER_MANIFEST_MAX (64u << 10)	/* bento writes a few hundred bytes */

void bento_push_result_release(struct bento_push_result *r)
{
	free(r->where);
	memset(r, 0, sizeof(*r));
}

void bento_pull_result_release(struct bento_pull_result *r)
{
	bento_build_result_release(&r->object);
	memset(r, 0, sizeof(*r));
}

/* ---- blobs from memory ---- */

static int put_bytes(struct bento_target *t, const void *p, size_t n, const char *from,
		     struct bento_error *err)
{
	struct bento_mem_source m;

	bento_mem_source_init(&m, p, n);
	return bento_target_blob_put(t, &m.src, from, err);
}

/* ---- what a push needs: the object, its layers, its attachments ---- */

struct object {
	enum bento_kind kind;
	struct bento_buf json;
	struct bento_manifest *bento;
	struct bento_model *model;
	struct bento_layer *layers;
	size_t n_layers;
	const char *name, *version;
};

static void object_release(struct object *o)
{
	bento_layers_free(o->layers, o->n_layers);
	bento_manifest_free(o->bento);
	bento_model_free(o->model);
	bento_buf_release(&o->json);
	memset(o, 0, sizeof(*o));
}

static int object_load(struct bento_store *s, enum bento_kind kind, const struct bento_digest *d,
		       struct object *o, struct bento_error *err)
{
	char what[BENTO_DIGEST_STRLEN];
	int rc;

	o->kind = kind;
	bento_digest_str(d, what);
	if ((rc = bento_store_manifest(s, kind, d, &o->json, err)))
		return rc;
	if (kind == BENTO_KIND_BENTO) {
		if ((rc = bento_manifest_parse(o->json.buf, o->json.len, what, &o->bento, err)))
			return rc;
		bento_layers_plan(o->bento, &o->layers, &o->n_layers);
		o->name = o->bento->name;
		o->version = o->bento->version;
	} else {
		if ((rc = bento_model_parse(o->json.buf, o->json.len, what, &o->model, err)))
			return rc;
		bento_model_layers_plan(o->model, &o->layers, &o->n_layers);
		o->name = o->model->name;
		o->version = o->model->version;
	}
	return 0;
}

static int object_manifest(const struct object *o, struct bento_buf *out, struct bento_error *err)
{
	return o->kind == BENTO_KIND_BENTO
		       ? bento_artifact_manifest(o->bento, o->json.buf, o->json.len, o->layers,
						 o->n_layers, NULL, NULL, out, err)
		       : bento_model_artifact_manifest(o->model, o->json.buf, o->json.len, o->layers,
						       o->n_layers, NULL, NULL, out, err);
}

/*
 * A repository of the same registry to mount blobs from, from the
 * history's push events: one this very object was pushed to (it has every
 * blob), else the most recent push of anything there (it may share some).
 * The registry mounts what it has and declines the rest, which is then
 * uploaded.  NULL if there is none.
 */
char *bento_mount_source(struct bento_store *s, const struct bento_target_ref *ref,
			 const struct bento_digest *d)
{
	struct bento_history_filter f = { .action = "push" };
	struct bento_event *v = NULL;
	char ds[BENTO_DIGEST_STRLEN], *same = NULL, *any = NULL;
	size_t n = 0;

	if (ref->is_layout || bento_history_query(s, &f, &v, &n, NULL))
		return NULL;
	bento_digest_str(d, ds);
	for (size_t i = n; i-- > 0 && !same;) {
		const char *host = bento_json_str(v[i].details, "host");
		const char *repo = bento_json_str(v[i].details, "repo");
		if (!host || !repo || strcmp(host, ref->host) != 0 || strcmp(repo, ref->repo) == 0)
			continue;
		if (strcmp(v[i].digest, ds) == 0)
			same = bento_xstrdup(repo);
		else if (!any)
			any = bento_xstrdup(repo);
	}
	bento_events_free(v, n);
	if (same) {
		free(any);
		return same;
	}
	return any;
}

int bento_push_referrer(struct bento_target *t, const struct bento_oci_desc *subject,
			 const char *artifact, const char *layer_type, const char *title,
			 const struct bento_attachment *a, const char *from, struct bento_error *err)
{
	static const char empty[] = "{}";
	struct bento_buf man = BENTO_BUF_INIT, desc = BENTO_BUF_INIT;
	struct bento_digest ld, ed, md;
	char lds[BENTO_DIGEST_STRLEN], eds[BENTO_DIGEST_STRLEN], sds[BENTO_DIGEST_STRLEN],
		mds[BENTO_DIGEST_STRLEN];
	json_t *j = NULL, *dj = NULL;
	int rc;

	bento_digest_bytes(a->data, a->len, &ld);
	bento_digest_bytes(empty, 2, &ed);
	bento_digest_str(&ld, lds);
	bento_digest_str(&ed, eds);
	bento_digest_str(&subject->digest, sds);
	if ((rc = put_bytes(t, empty, 2, from, err)) || (rc = put_bytes(t, a->data, a->len, from, err)))
		goto out;
	j = json_pack("{s:i, s:s, s:s, s:{s:s, s:s, s:i}, s:[{s:s, s:s, s:I, s:{s:s}}],"
		      " s:{s:s, s:s, s:I}, s:{s:s}}",
		      "schemaVersion", 2, "mediaType", OCI_MANIFEST_V1, "artifactType", artifact,
		      "config", "mediaType", OCI_EMPTY_TYPE, "digest", eds, "size", 2,
		      "layers", "mediaType", layer_type, "digest", lds, "size", (json_int_t)a->len,
		      "annotations", "org.opencontainers.image.title", title,
		      "subject", "mediaType", subject->media_type, "digest", sds, "size",
		      (json_int_t)subject->size,
		      "annotations", "org.opencontainers.image.title", title);
	if ((rc = bento_json_canonical(j, &man, err)))
		goto out;
	bento_digest_bytes(man.buf, man.len, &md);
	bento_digest_str(&md, mds);
	if ((rc = bento_target_manifest_put(t, mds, OCI_MANIFEST_V1, man.buf, man.len, NULL, err)))
		goto out;
	dj = json_pack("{s:s, s:s, s:I, s:s, s:{s:s}}", "mediaType", OCI_MANIFEST_V1, "digest", mds,
		       "size", (json_int_t)man.len, "artifactType", artifact, "annotations",
		       "org.opencontainers.image.title", title);
	if ((rc = bento_json_canonical(dj, &desc, err)) == 0)
		rc = bento_target_referrer_add(t, &subject->digest, desc.buf, err);
out:
	json_decref(j);
	json_decref(dj);
	bento_buf_release(&man);
	bento_buf_release(&desc);
	return rc;
}

static int push_referrers(struct bento_target *t, const struct bento_oci_desc *subject,
			  const struct bento_attachment *sigs, size_t n_sigs,
			  const struct bento_attachment *atts, size_t n_atts, const char *from,
			  size_t *count, struct bento_error *err)
{
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < n_sigs; i++) {
		char *title = bento_xasprintf("%s" BENTO_SIG_SUFFIX, sigs[i].name);
		rc = bento_push_referrer(t, subject, BENTO_SIGNATURE_ARTIFACT, BENTO_SIGNATURE_LAYER, title,
				   &sigs[i], from, err);
		free(title);
		*count += rc == 0;
	}
	for (size_t i = 0; rc == 0 && i < n_atts; i++) {
		rc = bento_push_referrer(t, subject, BENTO_PROVENANCE_ARTIFACT, BENTO_DSSE_LAYER,
				   atts[i].name, &atts[i], from, err);
		*count += rc == 0;
	}
	return rc;
}

int bento_push(struct bento_store *s, enum bento_kind kind, const struct bento_digest *d,
	       const struct bento_target_ref *ref, const struct bento_target_opts *o,
	       struct bento_push_result *out, struct bento_error *err)
{
	struct object obj = { 0 };
	struct bento_target *t = NULL;
	struct bento_target_ref where = *ref;
	struct bento_buf man = BENTO_BUF_INIT;
	struct bento_oci_desc subject = { .media_type = OCI_MANIFEST_V1 };
	struct bento_attachment *sigs = NULL, *atts = NULL;
	char *from = NULL, md[BENTO_DIGEST_STRLEN];
	size_t referrers = 0, n_sigs = 0, n_atts = 0;
	json_t *details = NULL;
	int rc;

	if (ref->digest)
		return bento_error_set(err, BENTO_E_USAGE,
				       "push to a tag, not a digest: the digest is the manifest's own");
	if ((rc = object_load(s, kind, d, &obj, err)))
		goto out;
	/*
	 * What pull would refuse is not published, not even in part (a store
	 * filled before the caps may hold more).
	 */
	if (kind == BENTO_KIND_BENTO &&
	    ((rc = bento_store_signatures(s, d, &sigs, &n_sigs, err)) ||
	     (rc = bento_store_attestations(s, d, &atts, &n_atts, err)) ||
	     (rc = bento_attachments_check(sigs, n_sigs, atts, n_atts, err)))) {
		bento_error_prefix(err, "%s:%s", obj.name, obj.version);
		goto out;
	}
	for (size_t i = 0; i < obj.n_layers; i++)
		if ((rc = bento_layer_digest(s, &obj.layers[i], err)))
			goto out;
	if ((rc = bento_target_open(ref, o, &t, err)))
		goto out;
	from = bento_mount_source(s, ref, d);
	if ((rc = put_bytes(t, obj.json.buf, obj.json.len, from, err)))
		goto out;
	for (size_t i = 0; i < obj.n_layers; i++) {
		struct bento_blob_source src;
		if ((rc = bento_layer_source(s, &obj.layers[i], &src, err)))
			goto out;
		rc = bento_target_blob_put(t, &src, from, err);
		bento_layer_source_release(&src);
		if (rc)
			goto out;
	}
	where.tag = ref->tag ? ref->tag : (char *)obj.version;
	if ((rc = object_manifest(&obj, &man, err)) ||
	    (rc = bento_target_manifest_put(t, where.tag, OCI_MANIFEST_V1, man.buf, man.len,
					    &subject.digest, err)))
		goto out;
	subject.size = man.len;
	if (kind == BENTO_KIND_BENTO &&
	    (rc = push_referrers(t, &subject, sigs, n_sigs, atts, n_atts, from, &referrers, err)))
		goto out;
	memset(out, 0, sizeof(*out));
	out->where = bento_target_ref_str(&where);
	out->manifest = subject.digest;
	out->layers = obj.n_layers;
	out->referrers = referrers;
	out->stats = *bento_target_stats(t);
	bento_digest_str(&subject.digest, md);
	details = json_pack("{s:s, s:s, s:I, s:I, s:I}", "target", out->where, "manifest", md,
			    "uploaded", (json_int_t)out->stats.blobs_uploaded, "skipped",
			    (json_int_t)out->stats.blobs_skipped, "mounted",
			    (json_int_t)out->stats.blobs_mounted);
	if (!ref->is_layout) {
		json_object_set_new(details, "host", json_string(ref->host));
		json_object_set_new(details, "repo", json_string(ref->repo));
	}
	struct bento_event_in ev = {
		.action = "push", .kind = kind, .name = obj.name, .version = obj.version,
		.digest = d, .details = details,
	};
	rc = bento_history_append(s, &ev, err);
out:
	json_decref(details);
	free(from);
	bento_attachments_free(sigs, n_sigs);
	bento_attachments_free(atts, n_atts);
	bento_buf_release(&man);
	bento_target_close(t);
	object_release(&obj);
	return rc;
}

/* ---- pull ---- */

/*
 * A small blob (config, signature, envelope) into memory, verified, at
 * most max bytes; desc was read (ocidoc.h) as field of the document what.
 */
static int get_small(struct bento_target *t, const struct bento_oci_desc *desc, const char *what,
		     const char *field, uint64_t max, struct bento_buf *out, struct bento_error *err)
{
	int rc;

	if ((rc = bento_oci_desc_sha256(desc, what, field, err)))
		return rc;
	if (desc->size > max)
		return bento_error_set(err, BENTO_E_VERIFY, "%s: %s: %llu bytes, more than the %llu allowed",
				       what, field, (unsigned long long)desc->size,
				       (unsigned long long)max);
	if ((rc = bento_target_blob_get(t, &desc->digest, desc->size, bento_buf_sink, out, NULL, err)))
		return rc;
	if (out->len != desc->size)
		return bento_error_set(err, BENTO_E_VERIFY, "blob %s: %zu bytes, %s says %llu",
				       desc->digest_str, out->len, field,
				       (unsigned long long)desc->size);
	return 0;
}

/* 1 for a signature referrer, 0 for an attestation, -1 for someone else's. */
static int referrer_kind(const struct bento_oci_desc *d)
{
	if (!d->artifact_type)
		return -1;
	if (strcmp(d->artifact_type, BENTO_SIGNATURE_ARTIFACT) == 0)
		return 1;
	return strcmp(d->artifact_type, BENTO_PROVENANCE_ARTIFACT) == 0 ? 0 : -1;
}

/*
 * One referrer, d (field of the referrers index what), into *v: its
 * manifest, read strictly and naming subject, then its title and size
 * admitted into tally by the store's rules, and only then its content.
 * The same name twice is one attachment: the same bytes again, or two
 * envelopes of one statement (pushed before and after `bento sign` added
 * a signature), which become one with the signatures of both; anything
 * else is refused, since which one would be the bento's is not for the
 * registry to decide.
 */
static int fetch_referrer(struct bento_target *t, const char *where, const char *what,
			  const char *field, const struct bento_oci_desc *d,
			  const struct bento_digest *subject, int is_sig,
			  struct bento_attachment_tally *tally, struct bento_attachment **v,
			  size_t *n, struct bento_error *err)
{
	struct bento_buf man = BENTO_BUF_INIT, data = BENTO_BUF_INIT;
	struct bento_oci_doc m = { 0 };
	char *mwhat = bento_xasprintf("%s: referrer %s", where, d->digest_str), *name = NULL;
	const char *title = NULL;
	int rc;

	if ((rc = bento_oci_desc_sha256(d, what, field, err)))
		goto out;
	if (d->size > REFERRER_MANIFEST_MAX) {
		rc = bento_error_set(err, BENTO_E_VERIFY,
				     "%s: %s: %llu bytes, more than the %u a referrer may have", what,
				     field, (unsigned long long)d->size, REFERRER_MANIFEST_MAX);
		goto out;
	}
	if ((rc = bento_target_manifest_get(t, d->digest_str, &man, NULL, NULL, err)) ||
	    (rc = bento_oci_doc_read(man.buf, man.len, mwhat, d->media_type, BENTO_OCI_MANIFEST, &m,
				     err)))
		goto out;
	if (man.len != d->size) {
		rc = bento_error_set(err, BENTO_E_VERIFY, "%s: %zu bytes, %s says %llu", mwhat, man.len,
				     field, (unsigned long long)d->size);
		goto out;
	}
	if (!m.has_subject || m.subject.other_algorithm || !bento_digest_eq(&m.subject.digest, subject)) {
		rc = bento_error_set(err, BENTO_E_VERIFY, "%s: subject: not the manifest pulled", mwhat);
		goto out;
	}
	if (m.n_descs)
		title = bento_json_str(m.descs[0].annotations, "org.opencontainers.image.title");
	if (!title) {
		rc = bento_error_set(err, BENTO_E_VERIFY, "%s: has no titled layer", mwhat);
		goto out;
	}
	if ((rc = bento_attachment_admit(tally, is_sig, title, m.descs[0].size, err))) {
		bento_error_prefix(err, "%s", mwhat);
		goto out;
	}
	if ((rc = get_small(t, &m.descs[0], mwhat, "layers[0]",
			    is_sig ? BENTO_SIG_MAX : BENTO_ATTESTATION_MAX, &data, err)))
		goto out;
	/* signatures are kept by key id: KEYID.minisig */
	name = is_sig ? bento_xstrndup(title, BENTO_KEYID_HEXLEN) : bento_xstrdup(title);
	for (size_t i = 0; i < *n; i++) {
		struct bento_attachment *a = &(*v)[i];
		struct bento_buf merged = BENTO_BUF_INIT;
		if (strcmp(a->name, name) != 0)
			continue;
		if (a->len == data.len && memcmp(a->data, data.buf, data.len) == 0)
			goto out;
		if (is_sig || bento_dsse_merge(a->data, a->len, data.buf, data.len, &merged, NULL)) {
			bento_buf_release(&merged);
			rc = bento_error_set(err, BENTO_E_UNSAFE,
					     "%s: a second %s named %s, with other content", mwhat,
					     is_sig ? "signature" : "attestation", title);
			goto out;
		}
		free(a->data);
		a->data = bento_buf_detach(&merged, &a->len);
		goto out;
	}
	*v = bento_xrealloc(*v, (*n + 1) * sizeof(**v));
	(*v)[*n].name = name;
	(*v)[*n].data = bento_buf_detach(&data, &(*v)[*n].len);
	(*n)++;
	name = NULL;
out:
	free(name);
	free(mwhat);
	bento_oci_doc_release(&m);
	bento_buf_release(&man);
	bento_buf_release(&data);
	return rc;
}

/* A referrer as listed: its digest, its place in the list. */
struct listed {
	const char *digest;
	size_t i;
};

static int listed_cmp(const void *a, const void *b)
{
	const struct listed *x = a, *y = b;
	int c = strcmp(x->digest, y->digest);

	return c ? c : (x->i > y->i) - (x->i < y->i);
}

/*
 * Signatures and provenance attached to the manifest (where, digest
 * subject), as the store keeps them: the referrers index and each bento
 * referrer's manifest read strictly, the latter naming subject.  The
 * referrers are counted before any is fetched, and each one's title and
 * size pass the store's rules before its content is fetched: a registry
 * that lists thousands, or big ones, is refused having sent no more than
 * the caps allow (store.h, BENTO_ATTACHMENTS_*).
 */
static int fetch_referrers(struct bento_target *t, const char *where,
			   const struct bento_digest *subject,
			   struct bento_attachment **sigs, size_t *n_sigs,
			   struct bento_attachment **atts, size_t *n_atts, struct bento_error *err)
{
	struct bento_attachment_tally tally = { 0 };
	struct bento_buf index = BENTO_BUF_INIT;
	struct bento_oci_doc idx = { 0 };
	char *what = bento_xasprintf("%s: referrers", where), field[32];
	unsigned char *again = NULL;
	struct listed *ord = NULL;
	size_t count[2] = { 0, 0 }, n_ord = 0;
	int rc, kind;

	if ((rc = bento_target_referrers(t, subject, &index, err)) ||
	    (rc = bento_oci_doc_read(index.buf, index.len, what, OCI_INDEX_V1, BENTO_OCI_INDEX, &idx,
				     err)))
		goto out;
	/* A referrer listed twice is one (found by sorting: the list may be long). */
	again = bento_xcalloc(idx.n_descs + 1, 1);
	ord = bento_xcalloc(idx.n_descs + 1, sizeof(*ord));
	for (size_t i = 0; i < idx.n_descs; i++)
		if (referrer_kind(&idx.descs[i]) >= 0)
			ord[n_ord++] = (struct listed){ idx.descs[i].digest_str, i };
	qsort(ord, n_ord, sizeof(*ord), listed_cmp);
	for (size_t i = 1; i < n_ord; i++)
		again[ord[i].i] = strcmp(ord[i].digest, ord[i - 1].digest) == 0;
	for (size_t i = 0; i < idx.n_descs; i++) {
		if ((kind = referrer_kind(&idx.descs[i])) >= 0 && !again[i] &&
		    ++count[kind] > BENTO_ATTACHMENTS_MAX) {
			rc = bento_error_set(err, BENTO_E_VERIFY,
					     "%s: the referrers list more than the %d %s a bento may carry",
					     where, BENTO_ATTACHMENTS_MAX,
					     kind ? "signatures" : "attestations");
			goto out;
		}
	}
	for (size_t i = 0; i < idx.n_descs; i++) {
		if ((kind = referrer_kind(&idx.descs[i])) < 0 || again[i])
			continue;	/* someone else's referrer, or one listed again */
		snprintf(field, sizeof(field), "manifests[%zu]", i);
		if ((rc = fetch_referrer(t, where, what, field, &idx.descs[i], subject, kind, &tally,
					 kind ? sigs : atts, kind ? n_sigs : n_atts, err)))
			break;
	}
out:
	free(again);
	free(ord);
	bento_oci_doc_release(&idx);
	bento_buf_release(&index);
	free(what);
	return rc;
}

static int feed_sink(void *ctx, const void *p, size_t n, struct bento_error *err)
{
	return bento_layer_reader_feed(ctx, p, n, err);
}

/*
 * Layers are fetched in parallel, one target session per worker (a
 * session is not shared between threads); each file lands in the shared
 * stage, and each plan layer is touched by exactly one worker.
 */
struct pull_job {
	struct bento_store *s;
	const struct bento_target_ref *ref;
	const struct bento_target_opts *o;
	const char *where;			/* the manifest, in messages */
	const struct bento_oci_desc *layers;	/* the manifest's, as many as plan */
	struct bento_layer *plan;
	size_t n;
	struct bento_blob_stage *stage;
	atomic_size_t next;
	atomic_int failed;
	pthread_mutex_t lock;
	size_t skipped;
	struct bento_target_stats stats;
	int rc;
	struct bento_error err;
};

static int pull_one(struct pull_job *j, struct bento_target *t, size_t i, struct bento_error *err)
{
	const struct bento_oci_desc *l = &j->layers[i];
	struct bento_layer_reader *r;
	char field[32];
	int rc;

	snprintf(field, sizeof(field), "layers[%zu]", i);
	if ((rc = bento_oci_desc_sha256(l, j->where, field, err)))
		return rc;
	if (strcmp(l->media_type, BENTO_MEDIATYPE_LAYER) != 0)
		return bento_error_set(err, BENTO_E_VERIFY, "%s: %s.mediaType: '%s', not a bento layer ("
				       BENTO_MEDIATYPE_LAYER ")", j->where, field, l->media_type);
	if (bento_layer_present(j->s, &j->plan[i])) {
		pthread_mutex_lock(&j->lock);
		j->skipped++;
		pthread_mutex_unlock(&j->lock);
		return 0;
	}
	if ((rc = bento_layer_reader_new(j->s, j->stage, &j->plan[i], &r, err)))
		return rc;
	if (l->size != bento_layer_reader_size(r))
		rc = bento_error_set(err, BENTO_E_VERIFY,
				     "layer %s: the manifest says %llu bytes, bento.json makes %llu",
				     j->plan[i].title, (unsigned long long)l->size,
				     (unsigned long long)bento_layer_reader_size(r));
	if (rc == 0)
		rc = bento_target_blob_get(t, &l->digest, l->size, feed_sink, r,
					   bento_layer_reader_hasher(r), err);
	if (rc == 0)
		rc = bento_layer_reader_finish(r, &l->digest, err);
	bento_layer_reader_free(r);
	return rc;
}

static void add_stats(struct bento_target_stats *a, const struct bento_target_stats *b)
{
	a->blobs_uploaded += b->blobs_uploaded;
	a->bytes_uploaded += b->bytes_uploaded;
	a->blobs_skipped += b->blobs_skipped;
	a->blobs_mounted += b->blobs_mounted;
	a->blobs_downloaded += b->blobs_downloaded;
	a->bytes_downloaded += b->bytes_downloaded;
	a->retries += b->retries;
}

static void *pull_worker(void *arg)
{
	struct pull_job *j = arg;
	struct bento_target *t = NULL;
	struct bento_error err = { 0 };
	int rc = bento_target_open(j->ref, j->o, &t, &err);

	while (rc == 0 && !atomic_load(&j->failed)) {
		size_t i = atomic_fetch_add(&j->next, 1);
		if (i >= j->n)
			break;
		rc = pull_one(j, t, i, &err);
	}
	pthread_mutex_lock(&j->lock);
	if (rc && !j->rc) {
		j->rc = rc;
		j->err = err;
	}
	if (t)
		add_stats(&j->stats, bento_target_stats(t));
	pthread_mutex_unlock(&j->lock);
	if (rc)
		atomic_store(&j->failed, 1);
	bento_target_close(t);
	return NULL;
}

/* Download (or skip) every layer into stage, each checked against the plan from bento.json. */
static int pull_layers(struct bento_store *s, const struct bento_target_ref *ref,
		       const struct bento_target_opts *o, const char *where,
		       const struct bento_oci_doc *man, struct bento_layer *plan, size_t n_plan,
		       struct bento_blob_stage *stage, size_t *skipped,
		       struct bento_target_stats *stats, struct bento_error *err)
{
	struct pull_job j = {
		.s = s, .ref = ref, .o = o, .where = where, .layers = man->descs, .plan = plan,
		.n = n_plan, .stage = stage,
	};
	size_t nt = bento_cpus(4);

	if (man->n_descs != n_plan)
		return bento_error_set(err, BENTO_E_VERIFY,
				       "the manifest has %zu layers but bento.json makes %zu",
				       man->n_descs, n_plan);
	atomic_init(&j.next, 0);
	atomic_init(&j.failed, 0);
	pthread_mutex_init(&j.lock, NULL);
	if (nt > n_plan)
		nt = n_plan ? n_plan : 1;
	bento_parallel(pull_worker, &j, nt);
	pthread_mutex_destroy(&j.lock);
	*skipped = j.skipped;
	add_stats(stats, &j.stats);
	if (j.rc && err)
		*err = j.err;
	return j.rc;
}

int bento_pull(struct bento_store *s, enum bento_kind kind, const struct bento_target_ref *ref,
	       const struct bento_target_opts *o, const struct bento_import_opts *io,
	       struct bento_pull_result *out, struct bento_error *err)
{
	static const struct bento_keyring none = BENTO_KEYRING_INIT;
	const struct bento_keyring *kr = io && io->keys ? io->keys : &none;
	struct bento_report local = { 0 }, *r = io && io->report ? io->report : &local;
	struct bento_target *t = NULL;
	struct bento_buf man = BENTO_BUF_INIT, config = BENTO_BUF_INIT;
	struct bento_attachment *sigs = NULL, *atts = NULL;
	size_t n_sigs = 0, n_atts = 0, n = 0, skipped = 0;
	struct bento_blob_stage *stage = NULL;
	struct object obj = { .kind = kind };
	struct bento_digest md, cd;
	struct bento_target_stats layer_stats = { 0 };
	char *where = bento_target_ref_str(ref), mds[BENTO_DIGEST_STRLEN];
	const char *reference = ref->digest ? ref->digest : ref->tag ? ref->tag : "latest";
	const char *want = kind == BENTO_KIND_BENTO ? BENTO_ARTIFACT_BUNDLE : BENTO_ARTIFACT_MODEL;
	const char *config_type = kind == BENTO_KIND_BENTO ? BENTO_MEDIATYPE_MANIFEST
							   : BENTO_MEDIATYPE_MODEL;
	struct bento_oci_doc mj = { 0 };
	json_t *details = NULL;
	struct bento_target_ref used = { 0 };
	struct bento_target_opts used_opts = { 0 };
	char *mt = NULL;
	int rc, existed;

	/* from a mirror when registries.conf names one that has it */
	if ((rc = bento_target_open_read(ref, o, reference, &t, &used, &used_opts, &man, &mt, &md,
					 err)) ||
	    (rc = bento_oci_doc_read(man.buf, man.len, where, mt, BENTO_OCI_MANIFEST, &mj, err)))
		goto out;
	if (!mj.artifact_type || strcmp(mj.artifact_type, want)) {
		rc = bento_error_set(err, BENTO_E_INVALID, "%s is not a %s (artifactType %s)", where,
				     kind == BENTO_KIND_BENTO ? "bento" : "bento model",
				     mj.artifact_type ? mj.artifact_type : "none");
		goto out;
	}
	if (strcmp(mj.config.media_type, config_type) != 0) {
		rc = bento_error_set(err, BENTO_E_VERIFY, "%s: config.mediaType: '%s', not %s", where,
				     mj.config.media_type, config_type);
		goto out;
	}
	/* bento.json first: everything else is checked against it. */
	if ((rc = get_small(t, &mj.config, where, "config", BENTO_MANIFEST_MAX, &config, err)))
		goto out;
	bento_digest_bytes(config.buf, config.len, &cd);
	if (kind == BENTO_KIND_BENTO) {
		if ((rc = bento_manifest_parse(config.buf, config.len, "bento.json", &obj.bento, err)))
			goto bad;
		bento_layers_plan(obj.bento, &obj.layers, &obj.n_layers);
		if ((rc = fetch_referrers(t, where, &md, &sigs, &n_sigs, &atts, &n_atts, err)))
			goto out;
		/* Trust is settled before a single layer is fetched. */
		bento_check_signatures(r, obj.bento, config.buf, config.len, sigs, n_sigs, kr);
		bento_check_attestations(r, obj.bento, atts, n_atts, kr);
		if ((rc = bento_policy_check(io ? io->policy : NULL, io && io->require_signature,
					     obj.bento->name, r, kr, err)) ||
		    (rc = bento_bundle_check_space(s, obj.bento, where, err)) ||
		    (rc = bento_bundle_check_tags(s, obj.bento, where, err)))
			goto out;
	} else {
		if ((rc = bento_model_parse(config.buf, config.len, "model.json", &obj.model, err)))
			goto bad;
		bento_model_layers_plan(obj.model, &obj.layers, &obj.n_layers);
	}
	for (size_t i = 0; i < obj.n_layers; i++)
		n += obj.layers[i].n_files;
	stage = bento_blob_stage_new(s);
	if ((rc = pull_layers(s, &used, &used_opts, where, &mj, obj.layers, obj.n_layers, stage, &skipped,
			      &layer_stats, err)))
		goto out;
	bento_digest_str(&md, mds);
	existed = bento_store_has_object(s, kind, &cd);
	details = json_pack("{s:s, s:s, s:I}", "source", where, "manifest", mds, "layers_skipped",
			    (json_int_t)skipped);
	{
		char *from = bento_target_ref_str(&used);
		if (strcmp(from, where) != 0)	/* a mirror's */
			json_object_set_new(details, "mirror", json_string(from));
		free(from);
	}
	if (kind == BENTO_KIND_BENTO) {
		rc = bento_bundle_commit(s, stage, obj.bento, config.buf, config.len, sigs, n_sigs,
					 atts, n_atts, "pull", details, where, err);
	} else {
		struct bento_digest *blobs = bento_xcalloc(obj.model->n_files + 1, sizeof(*blobs));
		for (size_t i = 0; i < obj.model->n_files; i++)
			blobs[i] = obj.model->files[i].digest;
		struct bento_event_in ev = {
			.action = "pull", .kind = kind, .name = obj.model->name,
			.version = obj.model->version, .digest = &obj.model->digest, .details = details,
		};
		struct bento_object_put p = {
			.kind = BENTO_KIND_MODEL, .name = obj.model->name, .version = obj.model->version,
			.manifest = config.buf, .manifest_len = config.len, .blobs = blobs,
			.n_blobs = obj.model->n_files, .size = obj.model->size, .event = &ev,
		};
		if ((rc = bento_store_commit(s, stage, &p, 1, err)))
			bento_error_prefix(err, "%s", where);
		free(blobs);
	}
	if (rc)
		goto out;
	memset(out, 0, sizeof(*out));
	out->object.name = bento_xstrdup(kind == BENTO_KIND_BENTO ? obj.bento->name : obj.model->name);
	out->object.version = bento_xstrdup(kind == BENTO_KIND_BENTO ? obj.bento->version
								    : obj.model->version);
	out->object.digest = cd;
	out->object.size = kind == BENTO_KIND_BENTO ? obj.bento->size : obj.model->size;
	out->object.n_files = n;
	out->object.existed = existed;
	out->object.signed_by_key = r->trusted_signatures > 0;
	out->manifest = md;
	out->layers = obj.n_layers;
	out->layers_skipped = skipped;
	out->stats = *bento_target_stats(t);
	add_stats(&out->stats, &layer_stats);
	goto out;
bad:
	/* A config that is not a valid manifest is damaged content, not bad usage. */
	bento_error_prefix(err, "%s", where);
	if (rc == -BENTO_E_INVALID) {
		rc = -BENTO_E_VERIFY;
		if (err)
			err->code = rc;
	}
out:
	bento_target_ref_release(&used);
	json_decref(details);
	bento_oci_doc_release(&mj);
	free(mt);
	bento_blob_stage_free(stage);
	bento_attachments_free(sigs, n_sigs);
	bento_attachments_free(atts, n_atts);
	object_release(&obj);
	bento_buf_release(&man);
	bento_buf_release(&config);
	bento_report_release(&local);
	bento_target_close(t);
	free(where);
	return rc;
}
