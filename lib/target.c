#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "target.h"
#include "target_internal.h"

#define REPO_MAX 255	/* docker's limit on a repository name */
#define TAG_MAX 128

static int is_lower_alnum(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static int is_alnum(int c)
{
	return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

/* [A-Za-z0-9_][A-Za-z0-9._-]{0,127} */
static int tag_valid(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n > TAG_MAX || !(is_alnum(s[0]) || s[0] == '_'))
		return 0;
	for (i = 1; i < n; i++)
		if (!(is_alnum(s[i]) || s[i] == '_' || s[i] == '.' || s[i] == '-'))
			return 0;
	return 1;
}

/*
 * One path component of a repository, as the distribution spec has it:
 * [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*.  That is the brief's [._-] plus the
 * "__" and "--" separators registries accept, so names pushed by other
 * tools can be pulled.
 */
static int component_valid(const char *s, size_t n)
{
	size_t i = 0;

	for (;;) {
		size_t start = i;

		while (i < n && is_lower_alnum(s[i]))
			i++;
		if (i == start)
			return 0;
		if (i == n)
			return 1;
		if (s[i] == '.') {
			i++;
		} else if (s[i] == '_') {
			i++;
			if (i < n && s[i] == '_')
				i++;
		} else if (s[i] == '-') {
			while (i < n && s[i] == '-')
				i++;
		} else {
			return 0;
		}
	}
}

/* "host", "host:port", "[v6]" or "[v6]:port". */
static int host_valid(const char *s, size_t n)
{
	size_t i = 0, port;

	if (n == 0)
		return 0;
	if (s[0] == '[') {
		for (i = 1; i < n && s[i] != ']'; i++)
			if (!(isxdigit((unsigned char)s[i]) || s[i] == ':' || s[i] == '.'))
				return 0;
		if (i == n || i == 1)
			return 0;
		i++;
	} else {
		for (; i < n && s[i] != ':'; i++)
			if (!(is_alnum(s[i]) || s[i] == '.' || s[i] == '-'))
				return 0;
		if (i == 0 || s[0] == '-' || s[0] == '.' || s[i - 1] == '-' || s[i - 1] == '.')
			return 0;
	}
	if (i == n)
		return 1;
	if (s[i] != ':' || i + 1 == n || n - i - 1 > 5)
		return 0;
	port = 0;
	for (i++; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		port = port * 10 + (size_t)(s[i] - '0');
	}
	return port >= 1 && port <= 65535;
}

/* docker's rule: the first component is a host when it looks like one. */
static int looks_like_host(const char *s, size_t n)
{
	size_t i;

	if (n == 9 && memcmp(s, "localhost", 9) == 0)
		return 1;
	for (i = 0; i < n; i++)
		if (s[i] == '.' || s[i] == ':' || (s[i] >= 'A' && s[i] <= 'Z'))
			return 1;
	return 0;
}

static int is_docker_hub(const char *h)
{
	return strcmp(h, "docker.io") == 0 || strcmp(h, "index.docker.io") == 0 ||
	       strcmp(h, "registry-1.docker.io") == 0;
}

/* A trailing "@sha256:<64 hex>" at s[..n): its offset, or n when absent. */
static size_t digest_suffix(const char *s, size_t n)
{
	const char *at = memrchr(s, '@', n);

	return at ? (size_t)(at - s) : n;
}

static int parse_layout(const char *whole, const char *s, struct bento_target_ref *r,
			struct bento_error *err)
{
	size_t n = strlen(s), at = digest_suffix(s, n);
	const char *colon;

	/* A directory may hold '@'; only "@sha256:" introduces a digest. */
	if (at < n && strncmp(s + at + 1, "sha256:", 7) == 0) {
		char *d = bento_xstrdup(s + at + 1);

		if (!bento_digest_valid(d)) {
			free(d);
			return bento_error_set(err, BENTO_E_USAGE,
					       "%s: a digest must be sha256:<64 lowercase hex>", whole);
		}
		r->digest = d;
		n = at;
	}
	colon = memrchr(s, ':', n);
	if (colon && colon + 1 == s + n)
		return bento_error_set(err, BENTO_E_USAGE, "%s: empty tag after ':' (oci:DIR[:TAG])", whole);
	if (colon && tag_valid(colon + 1, (size_t)(s + n - colon - 1))) {
		r->tag = bento_xstrndup(colon + 1, (size_t)(s + n - colon - 1));
		n = (size_t)(colon - s);
	}
	if (n == 0)
		return bento_error_set(err, BENTO_E_USAGE, "%s: the layout directory is empty (oci:DIR[:TAG])", whole);
	r->dir = bento_xstrndup(s, n);
	r->is_layout = 1;
	return 0;
}

static int parse_registry(const char *s, struct bento_target_ref *r, struct bento_error *err)
{
	size_t n = strlen(s), at = digest_suffix(s, n), i, start;
	const char *slash, *colon, *name;
	size_t hostlen, namelen;

	if (at < n) {
		if (!bento_digest_valid(s + at + 1))
			return bento_error_set(err, BENTO_E_USAGE,
					       "%s: a digest must be sha256:<64 lowercase hex>", s);
		r->digest = bento_xstrdup(s + at + 1);
		n = at;
	}
	slash = memchr(s, '/', n);
	if (!slash || !looks_like_host(s, (size_t)(slash - s))) {
		/* a short name, as docker and podman read it: on Docker Hub */
		r->short_name = 1;
		hostlen = 0;
		name = s;
	} else {
		hostlen = (size_t)(slash - s);
		if (!host_valid(s, hostlen))
			return bento_error_set(err, BENTO_E_USAGE, "%s: '%.*s' is not a valid host[:port]",
					       s, (int)hostlen, s);
		name = slash + 1;
	}
	namelen = (size_t)(s + n - name);
	colon = memrchr(name, ':', namelen);
	if (colon && !memchr(colon, '/', (size_t)(s + n - colon))) {
		size_t tl = (size_t)(s + n - colon - 1);

		if (!tag_valid(colon + 1, tl))
			return bento_error_set(err, BENTO_E_USAGE,
					       "%s: '%.*s' is not a valid tag ([A-Za-z0-9_][A-Za-z0-9._-]{0,127})",
					       s, (int)tl, colon + 1);
		r->tag = bento_xstrndup(colon + 1, tl);
		namelen = (size_t)(colon - name);
	}
	if (namelen == 0)
		return bento_error_set(err, BENTO_E_USAGE, "%s: the repository name is empty (HOST/REPO[:TAG])", s);
	if (namelen > REPO_MAX)
		return bento_error_set(err, BENTO_E_USAGE, "%s: the repository name is longer than %d characters",
				       s, REPO_MAX);
	for (i = start = 0; i <= namelen; i++) {
		if (i < namelen && name[i] != '/')
			continue;
		if (!component_valid(name + start, i - start)) {
			int upper = 0;
			size_t j;

			for (j = start; j < i; j++)
				upper |= name[j] >= 'A' && name[j] <= 'Z';
			return bento_error_set(err, BENTO_E_USAGE,
					       "%s: repository component '%.*s' %s", s, (int)(i - start),
					       name + start, upper ? "must be lowercase" :
					       "must match [a-z0-9]+([._-][a-z0-9]+)* (components separated by '/')");
		}
		start = i + 1;
	}
	r->host = r->short_name ? bento_xstrdup("docker.io") : bento_xstrndup(s, hostlen);
	if (is_docker_hub(r->host)) {
		free(r->host);
		r->host = bento_xstrdup("registry-1.docker.io");
		if (!memchr(name, '/', namelen)) {
			r->repo = bento_xasprintf("library/%.*s", (int)namelen, name);
			return 0;
		}
	}
	r->repo = bento_xstrndup(name, namelen);
	return 0;
}

int bento_target_ref_parse(const char *s, struct bento_target_ref *out, struct bento_error *err)
{
	struct bento_target_ref r = { 0 };
	int rc;

	if (!s || !*s)
		return bento_error_set(err, BENTO_E_USAGE,
				       "empty reference: expected HOST/REPO[:TAG|@sha256:…] or oci:DIR[:TAG]");
	if (strncmp(s, "oci:", 4) == 0)
		rc = parse_layout(s, s + 4, &r, err);
	else
		rc = parse_registry(s, &r, err);
	if (rc < 0) {
		bento_target_ref_release(&r);
		return rc;
	}
	*out = r;
	return 0;
}

int bento_target_ref_explicit(const struct bento_target_ref *r, const char *written,
			      const char *cmd, struct bento_error *err)
{
	if (!r->short_name)
		return 0;
	return bento_error_set(err, BENTO_E_USAGE,
			       "%s: no registry host, and bento writes to Docker Hub only when told to: "
			       "%s docker.io/%s (or %s HOST/%s for another registry)",
			       written, cmd, written, cmd, written);
}

void bento_target_ref_release(struct bento_target_ref *r)
{
	if (!r)
		return;
	free(r->dir);
	free(r->host);
	free(r->repo);
	free(r->tag);
	free(r->digest);
	memset(r, 0, sizeof(*r));
}

char *bento_target_ref_str(const struct bento_target_ref *r)
{
	struct bento_buf b = BENTO_BUF_INIT;

	if (r->is_layout)
		bento_buf_addf(&b, "oci:%s", r->dir ? r->dir : "");
	else
		bento_buf_addf(&b, "%s/%s", r->host ? r->host : "", r->repo ? r->repo : "");
	if (r->tag)
		bento_buf_addf(&b, ":%s", r->tag);
	if (r->digest)
		bento_buf_addf(&b, "@%s", r->digest);
	return bento_buf_detach(&b, NULL);
}

static char *dup_or_null(const char *s)
{
	return s ? bento_xstrdup(s) : NULL;
}

void bento_target_ref_copy(struct bento_target_ref *to, const struct bento_target_ref *from)
{
	to->is_layout = from->is_layout;
	to->dir = dup_or_null(from->dir);
	to->host = dup_or_null(from->host);
	to->repo = dup_or_null(from->repo);
	to->tag = dup_or_null(from->tag);
	to->digest = dup_or_null(from->digest);
	to->short_name = from->short_name;
}

static void target_free(struct bento_target *t)
{
	bento_target_ref_release(&t->ref);
	free((char *)t->opts.docker_config);
	free(t);
}

int bento_target_open(const struct bento_target_ref *ref, const struct bento_target_opts *o,
		      struct bento_target **out, struct bento_error *err)
{
	struct bento_target *t;
	int rc;

	if (ref->is_layout ? !ref->dir : !ref->host || !ref->repo)
		return bento_error_set(err, BENTO_E_USAGE, "incomplete target reference");
	t = bento_xcalloc(1, sizeof(*t));
	bento_target_ref_copy(&t->ref, ref);
	if (o) {
		t->opts = *o;
		t->opts.docker_config = dup_or_null(o->docker_config);
	}
	t->ops = ref->is_layout ? &bento_layout_ops : &bento_registry_ops;
	rc = t->ops->open(t, err);
	if (rc < 0) {
		target_free(t);
		return rc;
	}
	*out = t;
	return 0;
}

void bento_target_close(struct bento_target *t)
{
	if (!t)
		return;
	if (t->ops->close)
		t->ops->close(t);
	target_free(t);
}

const struct bento_target_stats *bento_target_stats(const struct bento_target *t)
{
	return &t->stats;
}

int bento_target_blob_exists(struct bento_target *t, const struct bento_digest *d, uint64_t *size,
			     struct bento_error *err)
{
	return t->ops->blob_exists(t, d, size, err);
}

int bento_target_blob_put(struct bento_target *t, const struct bento_blob_source *src,
			  const char *from_repo, struct bento_error *err)
{
	return t->ops->blob_put(t, src, from_repo, err);
}

int bento_target_blob_get(struct bento_target *t, const struct bento_digest *d,
			  uint64_t expect_size, bento_sink_fn sink, void *ctx,
			  struct bento_hasher *sink_hashes, struct bento_error *err)
{
	return t->ops->blob_get(t, d, expect_size, sink, ctx, sink_hashes, err);
}

/* A reference is a tag or a digest; anything else is the caller's mistake. */
static int check_reference(const char *reference, struct bento_error *err)
{
	if (reference && (bento_digest_valid(reference) || tag_valid(reference, strlen(reference))))
		return 0;
	return bento_error_set(err, BENTO_E_USAGE,
			       "'%s': a manifest reference is a tag ([A-Za-z0-9_][A-Za-z0-9._-]{0,127}) "
			       "or sha256:<64 lowercase hex>", reference ? reference : "");
}

int bento_target_manifest_put(struct bento_target *t, const char *reference,
			      const char *media_type, const void *data, size_t len,
			      struct bento_digest *out, struct bento_error *err)
{
	int rc = check_reference(reference, err);

	if (rc < 0)
		return rc;
	if (!media_type || !*media_type)
		return bento_error_set(err, BENTO_E_USAGE, "manifest %s: no media type", reference);
	if (len > OCI_MANIFEST_MAX)
		return bento_error_set(err, BENTO_E_USAGE, "manifest %s: %zu bytes, more than the %u allowed",
				       reference, len, OCI_MANIFEST_MAX);
	return t->ops->manifest_put(t, reference, media_type, data, len, out, err);
}

int bento_target_manifest_get(struct bento_target *t, const char *reference,
			      struct bento_buf *out, char **media_type,
			      struct bento_digest *digest, struct bento_error *err)
{
	int rc = check_reference(reference, err);

	if (rc < 0)
		return rc;
	return t->ops->manifest_get(t, reference, out, media_type, digest, err);
}

int bento_target_referrers(struct bento_target *t, const struct bento_digest *subject,
			   struct bento_buf *index, struct bento_error *err)
{
	return t->ops->referrers(t, subject, index, err);
}

int bento_target_referrer_add(struct bento_target *t, const struct bento_digest *subject,
			      const char *descriptor_json, struct bento_error *err)
{
	return t->ops->referrer_add(t, subject, descriptor_json, err);
}

static ssize_t mem_read(void *ctx, uint64_t off, void *buf, size_t n, struct bento_error *err)
{
	struct bento_mem_source *m = ctx;

	(void)err;
	if (off >= m->n)
		return 0;
	if (n > m->n - off)
		n = m->n - (size_t)off;
	memcpy(buf, m->p + off, n);
	return (ssize_t)n;
}

void bento_mem_source_init(struct bento_mem_source *m, const void *p, size_t n)
{
	m->p = p;
	m->n = n;
	m->src.read = mem_read;
	m->src.ctx = m;
	m->src.size = n;
	bento_digest_bytes(p, n, &m->src.digest);
}

static ssize_t fd_read(void *ctx, uint64_t offset, void *buf, size_t n, struct bento_error *err)
{
	struct bento_fd_source *f = ctx;
	ssize_t k;

	if (offset >= f->src.size)
		return 0;
	if (n > f->src.size - offset)
		n = (size_t)(f->src.size - offset);
	do
		k = pread(f->fd, buf, n, (off_t)offset);
	while (k < 0 && errno == EINTR);
	if (k < 0)
		return bento_error_errno(err, errno, "read");
	if (k == 0)
		return bento_error_set(err, BENTO_E_CORRUPT, "a file of %llu bytes ended early",
				       (unsigned long long)f->src.size);
	return k;
}

void bento_fd_source_init(struct bento_fd_source *f, int fd, uint64_t size,
			  const struct bento_digest *d)
{
	f->fd = fd;
	f->src.read = fd_read;
	f->src.ctx = f;
	f->src.size = size;
	f->src.digest = *d;
}

int bento_buf_sink(void *ctx, const void *p, size_t n, struct bento_error *err)
{
	(void)err;
	bento_buf_add(ctx, p, n);
	return 0;
}
