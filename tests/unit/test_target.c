#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <jansson.h>

#include "buf.h"
#include "cjson.h"
#include "digest.h"
#include "error.h"
#include "target.h"

#include "fixture.h"
#include "tap.h"

#define HEX_A "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static const char *root;

/* ---- reference parsing ---- */

struct ref_case {
	const char *in;
	int rc;			/* 0 or -BENTO_E_USAGE */
	int is_layout;
	const char *dir, *host, *repo, *tag, *digest;
	const char *str;	/* bento_target_ref_str, NULL: same as in */
	const char *msg;	/* a substring of the error */
};

static const struct ref_case ref_cases[] = {
	{ "oci:out", 0, 1, "out", NULL, NULL, NULL, NULL, NULL, NULL },
	{ "oci:out:v1", 0, 1, "out", NULL, NULL, "v1", NULL, NULL, NULL },
	{ "oci:./a/b:1.0.0", 0, 1, "./a/b", NULL, NULL, "1.0.0", NULL, NULL, NULL },
	{ "oci:/abs/dir", 0, 1, "/abs/dir", NULL, NULL, NULL, NULL, NULL, NULL },
	{ "oci:dir:with/slash", 0, 1, "dir:with/slash", NULL, NULL, NULL, NULL, NULL, NULL },
	{ "oci:a:b:c", 0, 1, "a:b", NULL, NULL, "c", NULL, NULL, NULL },
	{ "oci:a:-x", 0, 1, "a:-x", NULL, NULL, NULL, NULL, NULL, NULL },
	{ "oci:a@b", 0, 1, "a@b", NULL, NULL, NULL, NULL, NULL, NULL },
	{ "oci:d@sha256:" HEX_A, 0, 1, "d", NULL, NULL, NULL, "sha256:" HEX_A, NULL, NULL },
	{ "oci:", -BENTO_E_USAGE, 0, NULL, NULL, NULL, NULL, NULL, NULL, "directory is empty" },
	{ "oci::tag", -BENTO_E_USAGE, 0, NULL, NULL, NULL, NULL, NULL, NULL, "directory is empty" },
	{ "oci:dir:", -BENTO_E_USAGE, 0, NULL, NULL, NULL, NULL, NULL, NULL, "empty tag" },
	{ "oci:d@sha256:abc", -BENTO_E_USAGE, 0, NULL, NULL, NULL, NULL, NULL, NULL, "sha256:<64" },
	{ "localhost:5000/team/iris:1.0", 0, 0, NULL, "localhost:5000", "team/iris", "1.0", NULL, NULL, NULL },
	{ "localhost/iris", 0, 0, NULL, "localhost", "iris", NULL, NULL, NULL, NULL },
	{ "registry.example.com/team/iris", 0, 0, NULL, "registry.example.com", "team/iris", NULL, NULL, NULL, NULL },
	{ "ghcr.io/org/repo@sha256:" HEX_A, 0, 0, NULL, "ghcr.io", "org/repo", NULL, "sha256:" HEX_A, NULL, NULL },
	{ "ghcr.io/org/repo:v1@sha256:" HEX_A, 0, 0, NULL, "ghcr.io", "org/repo", "v1", "sha256:" HEX_A, NULL, NULL },
	{ "docker.io/ubuntu:22.04", 0, 0, NULL, "registry-1.docker.io", "library/ubuntu", "22.04", NULL,
	  "registry-1.docker.io/library/ubuntu:22.04", NULL },
	{ "docker.io/org/img", 0, 0, NULL, "registry-1.docker.io", "org/img", NULL, NULL,
	  "registry-1.docker.io/org/img", NULL },
	{ "index.docker.io/alpine", 0, 0, NULL, "registry-1.docker.io", "library/alpine", NULL, NULL,
	  "registry-1.docker.io/library/alpine", NULL },
	{ "[::1]:5000/a/b", 0, 0, NULL, "[::1]:5000", "a/b", NULL, NULL, NULL, NULL },
	{ "127.0.0.1:5000/a_b/c-d.e__f--g:_T", 0, 0, NULL, "127.0.0.1:5000", "a_b/c-d.e__f--g", "_T", NULL, NULL, NULL },
	{ "Registry/x", 0, 0, NULL, "Registry", "x", NULL, NULL, NULL, NULL },
	/* short names, on Docker Hub as docker and podman read them */
	{ "team/iris:1.0", 0, 0, NULL, "registry-1.docker.io", "team/iris", "1.0", NULL,
	  "registry-1.docker.io/team/iris:1.0", NULL },
	{ "iris", 0, 0, NULL, "registry-1.docker.io", "library/iris", NULL, NULL,
	  "registry-1.docker.io/library/iris", NULL },
	{ "python:3.12-slim", 0, 0, NULL, "registry-1.docker.io", "library/python", "3.12-slim", NULL,
	  "registry-1.docker.io/library/python:3.12-slim", NULL },
	{ "org/img@sha256:" HEX_A, 0, 0, NULL, "registry-1.docker.io", "org/img", NULL, "sha256:" HEX_A,
	  "registry-1.docker.io/org/img@sha256:" HEX_A, NULL },
	{ "a/b/c:v", 0, 0, NULL, "registry-1.docker.io", "a/b/c", "v", NULL,
	  "registry-1.docker.io/a/b/c:v", NULL },
	{ "Iris", -BENTO_E_USAGE, 0, NULL, NULL, NULL, NULL, NULL, NULL, "'Iris' must be lowercase" },
	{ "iris:bad!", -BENTO_E_USAGE, 0, NULL, NULL, NULL, NULL, NULL, NULL, "not a valid tag" },
	{ "", -BENTO_E_USAGE, 0, NULL, NULL, NULL, NULL, NULL, NULL, "empty reference" },
	{ "ghcr.io/Org/repo", -BENTO_E_USAGE, 0, NULL, NULL, NULL, NULL, NULL, NULL, "'Org' must be lowercase" },
	{ "ghcr.io/org/repo:bad!tag", -BENTO_E_USAGE, 0, NULL, NULL, NULL, NULL, NULL, NULL, "not a valid tag" },
	{ "ghcr.io/org/repo:", -BENTO_E_USAGE, 0, NULL, NULL, NULL, NULL, NULL, NULL, "not a valid tag" },
	{ "ghcr.io/org/repo:.x", -BENTO_E_USAGE, 0, NULL, NULL, NULL, NULL, NULL, NULL, "not a valid tag" },
	{ "ghcr.io/", -BENTO_E_USAGE, 0, NULL, NULL, NULL, NULL, NULL, NULL, "repository name is empty" },
	{ "ghcr.io/org//repo", -BENTO_E_USAGE, 0, NULL, NULL, NULL, NULL, NULL, NULL, "component ''" },
	{ "ghcr.io/org/repo/", -BENTO_E_USAGE, 0, NULL, NULL, NULL, NULL, NULL, NULL, "component ''" },
	{ "ghcr.io/org/-repo", -BENTO_E_USAGE, 0, NULL, NULL, NULL, NULL, NULL, NULL, "'-repo' must match" },
	{ "ghcr.io/a.-b", -BENTO_E_USAGE, 0, NULL, NULL, NULL, NULL, NULL, NULL, "'a.-b' must match" },
	{ "ghcr.io/a___b", -BENTO_E_USAGE, 0, NULL, NULL, NULL, NULL, NULL, NULL, "must match" },
	{ "ghcr.io/org/repo@sha256:abc", -BENTO_E_USAGE, 0, NULL, NULL, NULL, NULL, NULL, NULL, "sha256:<64" },
	{ "ghcr.io/org/repo@md5:" HEX_A, -BENTO_E_USAGE, 0, NULL, NULL, NULL, NULL, NULL, NULL, "sha256:<64" },
	{ "ghcr.io/org/repo@sha256:" "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
	  -BENTO_E_USAGE, 0, NULL, NULL, NULL, NULL, NULL, NULL, "lowercase hex" },
	{ "host.example:99999/x", -BENTO_E_USAGE, 0, NULL, NULL, NULL, NULL, NULL, NULL, "not a valid host" },
	{ "host.example:/x", -BENTO_E_USAGE, 0, NULL, NULL, NULL, NULL, NULL, NULL, "not a valid host" },
	{ "-bad.example/x", -BENTO_E_USAGE, 0, NULL, NULL, NULL, NULL, NULL, NULL, "not a valid host" },
	{ "[::1/x", -BENTO_E_USAGE, 0, NULL, NULL, NULL, NULL, NULL, NULL, "not a valid host" },
	{ "ex.com:5000/a/b:tag:x", -BENTO_E_USAGE, 0, NULL, NULL, NULL, NULL, NULL, NULL, "'b:tag' must match" },
};

static int same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static void test_ref_parse(void)
{
	size_t i;
	struct bento_error err;
	struct bento_target_ref r;
	char longtag[200];

	for (i = 0; i < sizeof(ref_cases) / sizeof(ref_cases[0]); i++) {
		const struct ref_case *c = &ref_cases[i];
		int rc;

		memset(&r, 0x5a, sizeof(r));
		bento_error_clear(&err);
		rc = bento_target_ref_parse(c->in, &r, &err);
		if (!ok(rc == c->rc, "parse '%s' -> %d", c->in, c->rc)) {
			printf("#   got %d: %s\n", rc, err.msg);
			if (rc == 0)
				bento_target_ref_release(&r);
			continue;
		}
		if (rc < 0) {
			ok(strstr(err.msg, c->msg) && strstr(err.msg, c->in), "'%s': message names it and says '%s'",
			   c->in, c->msg);
			if (!strstr(err.msg, c->msg))
				printf("#   msg: %s\n", err.msg);
			continue;
		}
		{
			char *s = bento_target_ref_str(&r);

			ok(r.is_layout == c->is_layout && same(r.dir, c->dir) && same(r.host, c->host) &&
			   same(r.repo, c->repo) && same(r.tag, c->tag) && same(r.digest, c->digest),
			   "'%s': fields", c->in);
			is_str(s, c->str ? c->str : c->in, "'%s': back to a string", c->in);
			free(s);
		}
		bento_target_ref_release(&r);
		ok(!r.dir && !r.host && !r.tag, "release clears");
	}

	/* What is written to wants its host written out; reading a short name is fine. */
	{
		static const struct { const char *in; int short_name; } sn[] = {
			{ "iris:1", 1 }, { "team/iris", 1 }, { "docker.io/iris", 0 },
			{ "localhost/iris", 0 }, { "ex.com/team/iris", 0 }, { "oci:d", 0 },
		};
		for (i = 0; i < sizeof(sn) / sizeof(sn[0]); i++) {
			is_int(bento_target_ref_parse(sn[i].in, &r, &err), 0, "parse '%s'", sn[i].in);
			is_int(r.short_name, sn[i].short_name, "'%s': short name", sn[i].in);
			bento_error_clear(&err);
			is_int(bento_target_ref_explicit(&r, sn[i].in, "bento push demo:1", &err),
			       sn[i].short_name ? -BENTO_E_USAGE : 0, "'%s': explicit enough to push to", sn[i].in);
			if (sn[i].short_name) {
				char want[256];
				snprintf(want, sizeof(want),
					 "%s: no registry host, and bento writes to Docker Hub only when told to: "
					 "bento push demo:1 docker.io/%s (or bento push demo:1 HOST/%s for another registry)",
					 sn[i].in, sn[i].in, sn[i].in);
				is_str(err.msg, want, "'%s': the message shows the command with the host", sn[i].in);
			}
			bento_target_ref_release(&r);
		}
	}

	/* Tag length: 128 allowed, 129 refused. */
	memset(longtag, 'a', sizeof(longtag));
	snprintf(longtag, sizeof(longtag), "ex.com/r:%.*s", 128, HEX_A HEX_A);
	is_int(bento_target_ref_parse(longtag, &r, &err), 0, "a 128-character tag");
	bento_target_ref_release(&r);
	snprintf(longtag, sizeof(longtag), "ex.com/r:%.*sx", 128, HEX_A HEX_A);
	is_int(bento_target_ref_parse(longtag, &r, &err), -BENTO_E_USAGE, "a 129-character tag");
	{
		char repo[300];

		memset(repo, 'a', sizeof(repo));
		memcpy(repo, "ex.com/", 7);
		repo[7 + 256] = '\0';
		is_int(bento_target_ref_parse(repo, &r, &err), -BENTO_E_USAGE, "a 256-character repository");
		ok(strstr(err.msg, "longer than 255") != NULL, "says the limit");
	}
}

/* ---- helpers ---- */

struct memsrc {
	const char *p;
	size_t n;
	int fail_at;		/* fail when asked for offset >= this (-1: never) */
};

static ssize_t memsrc_read(void *ctx, uint64_t off, void *buf, size_t n, struct bento_error *err)
{
	struct memsrc *m = ctx;

	if (m->fail_at >= 0 && off >= (uint64_t)m->fail_at)
		return bento_error_set(err, BENTO_E_FAIL, "source broke");
	if (off >= m->n)
		return 0;
	if (n > m->n - off)
		n = m->n - off;
	memcpy(buf, m->p + off, n);
	return (ssize_t)n;
}

static struct bento_blob_source src_of(struct memsrc *m, const char *p, size_t n)
{
	struct bento_blob_source s;

	m->p = p;
	m->n = n;
	m->fail_at = -1;
	s.read = memsrc_read;
	s.ctx = m;
	s.size = n;
	bento_digest_bytes(p, n, &s.digest);
	return s;
}

static int buf_sink(void *ctx, const void *p, size_t n, struct bento_error *err)
{
	(void)err;
	bento_buf_add(ctx, p, n);
	return 0;
}

static int slurp(const char *path, struct bento_buf *b)
{
	int fd = open(path, O_RDONLY);
	char tmp[4096];
	ssize_t n;

	bento_buf_reset(b);
	if (fd < 0)
		return -1;
	while ((n = read(fd, tmp, sizeof(tmp))) > 0)
		bento_buf_add(b, tmp, (size_t)n);
	close(fd);
	return 0;
}

static struct bento_target *open_layout(const char *spec)
{
	struct bento_target_ref r;
	struct bento_target *t = NULL;
	struct bento_error err;

	if (bento_target_ref_parse(spec, &r, &err) < 0 || bento_target_open(&r, NULL, &t, &err) < 0) {
		printf("# open %s: %s\n", spec, err.msg);
		exit(1);
	}
	bento_target_ref_release(&r);
	return t;
}

/* index.json's manifests as "refname=digest" lines (refname "-" when untagged). */
static char *index_summary(const char *dir)
{
	char *path = path_in(dir, "index.json");
	struct bento_buf b = BENTO_BUF_INIT, s = BENTO_BUF_INIT;
	json_t *v = NULL, *d;
	size_t i;

	slurp(path, &b);
	if (bento_json_parse(b.buf, b.len, "index", &v, NULL) == 0) {
		json_array_foreach(json_object_get(v, "manifests"), i, d) {
			const char *n = bento_json_str(json_object_get(d, "annotations"),
						       "org.opencontainers.image.ref.name");
			bento_buf_addf(&s, "%s=%.15s\n", n ? n : "-", bento_json_str(d, "digest"));
		}
	}
	json_decref(v);
	bento_buf_release(&b);
	free(path);
	return bento_buf_detach(&s, NULL);
}

/* ---- layout blobs ---- */

static void test_layout_blobs(void)
{
	char *dir = path_in(root, "l1"), *spec = bento_xasprintf("oci:%s", dir);
	char *blobs = path_in(dir, "blobs/sha256"), *p;
	struct bento_target *t = open_layout(spec);
	struct bento_error err;
	struct bento_buf b = BENTO_BUF_INIT;
	struct memsrc m;
	struct bento_blob_source s = src_of(&m, "hello", 5), bad;
	const struct bento_target_stats *st = bento_target_stats(t);
	char hex[BENTO_DIGEST_HEXLEN + 1], ds[BENTO_DIGEST_STRLEN];
	struct stat sb;
	uint64_t size = 0;
	int rc;

	ok(stat(dir, &sb) < 0 && errno == ENOENT, "open creates nothing");
	is_int(bento_target_blob_exists(t, &s.digest, &size, &err), 0, "absent blob: exists 0");
	is_int(bento_target_blob_get(t, &s.digest, 0, buf_sink, &b, NULL, &err), -BENTO_E_NOTFOUND,
	       "get from a layout that does not exist: NOTFOUND");
	ok(strstr(err.msg, "not an OCI image layout") != NULL, "says so: %s", err.msg);
	bento_digest_str(&s.digest, ds);

	is_int(bento_target_blob_put(t, &s, NULL, &err), 0, "put");
	is_int(st->blobs_uploaded, 1, "uploaded 1");
	is_int(st->bytes_uploaded, 5, "5 bytes");
	p = path_in(dir, "oci-layout");
	slurp(p, &b);
	is_str(b.buf, "{\"imageLayoutVersion\":\"1.0.0\"}", "oci-layout written");
	free(p);
	p = path_in(dir, "index.json");
	slurp(p, &b);
	is_str(b.buf, "{\"manifests\":[],\"mediaType\":\"" OCI_INDEX_V1 "\",\"schemaVersion\":2}",
	       "empty index.json written");
	free(p);
	{
		struct memsrc m2;
		struct bento_blob_source other = src_of(&m2, "other", 5);
		char os[BENTO_DIGEST_STRLEN];

		is_int(bento_target_blob_get(t, &other.digest, 0, buf_sink, &b, NULL, &err),
		       -BENTO_E_NOTFOUND, "absent blob: get NOTFOUND");
		bento_digest_str(&other.digest, os);
		ok(strstr(err.msg, os) != NULL, "names the digest: %s", err.msg);
	}
	bento_digest_hex(&s.digest, hex);
	p = path_in(blobs, hex);
	slurp(p, &b);
	is_str(b.buf, "hello", "blob at blobs/sha256/HEX");
	is_int(bento_target_blob_exists(t, &s.digest, &size, &err), 1, "exists");
	is_int(size, 5, "with its size");

	is_int(bento_target_blob_put(t, &s, NULL, &err), 0, "put again");
	is_int(st->blobs_skipped, 1, "skipped");
	is_int(st->blobs_uploaded, 1, "not uploaded again");

	bento_buf_reset(&b);
	is_int(bento_target_blob_get(t, &s.digest, 5, buf_sink, &b, NULL, &err), 0, "get");
	is_str(b.buf, "hello", "get: the bytes");
	is_int(st->blobs_downloaded, 1, "downloaded 1");
	is_int(st->bytes_downloaded, 5, "downloaded 5 bytes");
	bento_buf_reset(&b);
	is_int(bento_target_blob_get(t, &s.digest, 4, buf_sink, &b, NULL, &err), -BENTO_E_VERIFY, "get: larger than expected");
	ok(strstr(err.msg, "more than the 4 expected") != NULL, "says so: %s", err.msg);
	{
		struct bento_hasher *h = bento_hasher_new();
		struct hashing_sink hs = { &b, h };

		bento_buf_reset(&b);
		is_int(bento_target_blob_get(t, &s.digest, 5, hashing_sink, &hs, h, &err), 0,
		       "get into a sink that hashes itself");
		hs.h = NULL;
		bento_buf_reset(&b);
		is_int(bento_target_blob_get(t, &s.digest, 5, hashing_sink, &hs, h, &err), -BENTO_E_VERIFY,
		       "the digest is the sink's: one that hashes nothing fails");
		bento_hasher_free(h);
	}

	/* A source whose bytes do not match its digest. */
	bad = src_of(&m, "world", 5);
	bento_digest_bytes("other", 5, &bad.digest);
	is_int(bento_target_blob_put(t, &bad, NULL, &err), -BENTO_E_VERIFY, "put: digest mismatch");
	ok(strstr(err.msg, "digest mismatch") != NULL, "says so: %s", err.msg);
	is_int(bento_target_blob_exists(t, &bad.digest, NULL, &err), 0, "nothing stored under the claimed digest");
	is_int(tap_count(blobs, "tmp"), 0, "temp file removed");

	bad = src_of(&m, "world!", 6);
	bad.size = 4;
	is_int(bento_target_blob_put(t, &bad, NULL, &err), -BENTO_E_VERIFY, "put: source longer than its size");
	bad.size = 9;
	is_int(bento_target_blob_put(t, &bad, NULL, &err), -BENTO_E_VERIFY, "put: source shorter than its size");
	ok(strstr(err.msg, "gave 6 bytes, expected 9") != NULL, "says so: %s", err.msg);
	bad = src_of(&m, "world!", 6);
	m.fail_at = 0;
	is_int(bento_target_blob_put(t, &bad, NULL, &err), -BENTO_E_FAIL, "put: the source's error passes through");
	is_str(err.msg, "source broke", "with its message");
	is_int(tap_count(blobs, "tmp"), 0, "no temp files left");
	m.fail_at = -1;

	/* A flipped byte in the layout. */
	{
		int fd = open(p, O_WRONLY);

		ok(fd >= 0 && pwrite(fd, "j", 1, 0) == 1, "flip a byte");
		close(fd);
	}
	bento_buf_reset(&b);
	rc = bento_target_blob_get(t, &s.digest, 0, buf_sink, &b, NULL, &err);
	is_int(rc, -BENTO_E_VERIFY, "flipped byte: VERIFY");
	ok(strstr(err.msg, ds) && strstr(err.msg, "digest mismatch"), "names the digest: %s", err.msg);

	/* A truncated blob (wrong size) is rewritten by the next put. */
	ok(truncate(p, 2) == 0, "truncate the blob");
	s = src_of(&m, "hello", 5);
	is_int(bento_target_blob_put(t, &s, NULL, &err), 0, "put over a damaged blob");
	slurp(p, &b);
	is_str(b.buf, "hello", "repaired");

	free(p);
	bento_buf_release(&b);
	bento_target_close(t);
	free(blobs);
	free(spec);
	free(dir);
}

/* ---- manifests ---- */

static char *manifest_json(const char *config_mt, const char *config_digest, const char *extra)
{
	return bento_xasprintf("{\"schemaVersion\":2,\"mediaType\":\"" OCI_MANIFEST_V1 "\","
			       "\"config\":{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":2},"
			       "\"layers\":[]%s}", config_mt, config_digest, extra ? extra : "");
}

static void test_layout_manifests(void)
{
	char *dir = path_in(root, "l2"), *spec = bento_xasprintf("oci:%s", dir);
	struct bento_target *t = open_layout(spec);
	struct bento_error err;
	struct bento_buf b = BENTO_BUF_INIT;
	struct bento_digest d1, d2, d3, dg, dx;
	char s1[BENTO_DIGEST_STRLEN], s2[BENTO_DIGEST_STRLEN], s3[BENTO_DIGEST_STRLEN], ex[BENTO_DIGEST_STRLEN];
	char *m1, *m2, *r1, *r2, *r3, *mt = NULL, *sum, *want, *sub;
	json_t *v = NULL, *arr;

	is_int(bento_target_manifest_get(t, "v1", &b, NULL, NULL, &err), -BENTO_E_NOTFOUND,
	       "get from a layout that does not exist");
	ok(strstr(err.msg, "not an OCI image layout") != NULL, "says so: %s", err.msg);

	bento_digest_bytes("{}", 2, &dx);
	bento_digest_str(&dx, ex);
	m1 = manifest_json("application/vnd.bento.manifest.v1+json", ex, NULL);
	m2 = manifest_json("application/vnd.bento.manifest.v1+json", ex, ",\"annotations\":{\"n\":\"2\"}");
	bento_digest_bytes(m1, strlen(m1), &d1);
	bento_digest_bytes(m2, strlen(m2), &d2);
	bento_digest_str(&d1, s1);
	bento_digest_str(&d2, s2);

	is_int(bento_target_manifest_put(t, "v1", OCI_MANIFEST_V1, m1, strlen(m1), &dg, &err), 0, "put by tag");
	ok(bento_digest_eq(&dg, &d1), "returns the digest");
	is_int(bento_target_manifest_get(t, "v1", &b, &mt, &dg, &err), 0, "get by tag");
	is_str(b.buf, m1, "exact bytes");
	is_str(mt, OCI_MANIFEST_V1, "media type");
	ok(bento_digest_eq(&dg, &d1), "digest");
	free(mt);
	mt = NULL;
	is_int(bento_target_manifest_get(t, s1, &b, &mt, &dg, &err), 0, "get by digest");
	is_str(b.buf, m1, "exact bytes by digest");
	is_str(mt, OCI_MANIFEST_V1, "media type by digest");
	free(mt);
	mt = NULL;
	is_int(bento_target_manifest_get(t, "v2", &b, NULL, NULL, &err), -BENTO_E_NOTFOUND, "missing tag");
	ok(strstr(err.msg, "tag 'v2' not found") != NULL, "says so: %s", err.msg);
	is_int(bento_target_manifest_get(t, "bad tag", &b, NULL, NULL, &err), -BENTO_E_USAGE, "bad reference");
	is_int(bento_target_manifest_get(t, s2, &b, NULL, NULL, &err), -BENTO_E_NOTFOUND, "missing digest");

	/* Retag replaces. */
	is_int(bento_target_manifest_put(t, "v1", OCI_MANIFEST_V1, m2, strlen(m2), NULL, &err), 0, "retag v1");
	is_int(bento_target_manifest_get(t, "v1", &b, NULL, &dg, &err), 0, "get retagged");
	is_str(b.buf, m2, "the new manifest");
	sum = index_summary(dir);
	want = bento_xasprintf("v1=%.15s\n", s2);
	is_str(sum, want, "index.json lists v1 once");
	free(sum);
	free(want);
	is_int(bento_target_manifest_put(t, "latest", OCI_MANIFEST_V1, m1, strlen(m1), NULL, &err), 0, "tag latest");
	is_int(bento_target_manifest_put(t, "latest", OCI_MANIFEST_V1, m1, strlen(m1), NULL, &err), 0, "again (idempotent)");

	/* Errors. */
	is_int(bento_target_manifest_put(t, s2, OCI_MANIFEST_V1, m1, strlen(m1), NULL, &err), -BENTO_E_VERIFY,
	       "put by a digest that is not the bytes'");
	is_int(bento_target_manifest_put(t, "v:1", OCI_MANIFEST_V1, m1, strlen(m1), NULL, &err), -BENTO_E_USAGE,
	       "put under a bad tag");
	is_int(bento_target_manifest_put(t, "v3", OCI_MANIFEST_V1, "not json", 8, NULL, &err), -BENTO_E_INVALID,
	       "put bytes that are not JSON");
	is_int(bento_target_manifest_put(t, "v3", "", m1, strlen(m1), NULL, &err), -BENTO_E_USAGE, "put without media type");

	/* Referrers: untagged manifests with a subject. */
	sub = bento_xasprintf(",\"artifactType\":\"application/vnd.bento.signature.v1\","
			      "\"subject\":{\"mediaType\":\"" OCI_MANIFEST_V1 "\",\"digest\":\"%s\",\"size\":%zu},"
			      "\"annotations\":{\"who\":\"me\"}", s2, strlen(m2));
	r1 = manifest_json("application/vnd.oci.empty.v1+json", ex, sub);
	free(sub);
	sub = bento_xasprintf(",\"subject\":{\"mediaType\":\"" OCI_MANIFEST_V1 "\",\"digest\":\"%s\",\"size\":%zu}",
			      s2, strlen(m2));
	r2 = manifest_json("application/vnd.in-toto+json", ex, sub);
	free(sub);
	sub = bento_xasprintf(",\"subject\":{\"mediaType\":\"" OCI_MANIFEST_V1 "\",\"digest\":\"%s\",\"size\":%zu}",
			      s1, strlen(m1));
	r3 = manifest_json("application/vnd.in-toto+json", ex, sub);
	free(sub);
	bento_digest_bytes(r1, strlen(r1), &d1);
	bento_digest_bytes(r2, strlen(r2), &d3);
	bento_digest_str(&d1, s1);
	bento_digest_str(&d3, s3);
	is_int(bento_target_manifest_put(t, s1, OCI_MANIFEST_V1, r1, strlen(r1), NULL, &err), 0, "put referrer 1 by digest");
	is_int(bento_target_manifest_put(t, s3, OCI_MANIFEST_V1, r2, strlen(r2), NULL, &err), 0, "put referrer 2 by digest");
	bento_digest_bytes(r3, strlen(r3), &dg);
	bento_digest_str(&dg, ex);
	is_int(bento_target_manifest_put(t, ex, OCI_MANIFEST_V1, r3, strlen(r3), NULL, &err), 0, "put another subject's referrer");
	is_int(bento_target_manifest_put(t, ex, OCI_MANIFEST_V1, r3, strlen(r3), NULL, &err), 0, "twice: listed once");
	is_int(bento_target_referrer_add(t, &d2, "{}", &err), 0, "referrer_add is a no-op");

	is_int(bento_target_referrers(t, &d2, &b, &err), 0, "referrers of v1");
	ok(bento_json_is_canonical(b.buf, b.len), "canonical index");
	if (ok(bento_json_parse(b.buf, b.len, "referrers", &v, &err) == 0, "parses")) {
		const char *first = strcmp(s1, s3) < 0 ? s1 : s3;
		json_t *e1, *e2;

		arr = json_object_get(v, "manifests");
		is_str(bento_json_str(v, "mediaType"), OCI_INDEX_V1, "an image index");
		is_int(json_array_size(arr), 2, "two referrers");
		e1 = json_array_get(arr, 0);
		is_str(bento_json_str(e1, "digest"), first, "sorted by digest");
		e1 = json_array_get(arr, strcmp(s1, s3) < 0 ? 0 : 1);
		e2 = json_array_get(arr, strcmp(s1, s3) < 0 ? 1 : 0);
		is_str(bento_json_str(e1, "artifactType"), "application/vnd.bento.signature.v1", "artifactType");
		is_str(bento_json_str(json_object_get(e1, "annotations"), "who"), "me", "annotations");
		is_str(bento_json_str(e1, "mediaType"), OCI_MANIFEST_V1, "mediaType");
		{
			long long sz = 0;

			ok(bento_json_int(e1, "size", &sz) == 0 && sz == (long long)strlen(r1), "size");
		}
		is_str(bento_json_str(e2, "artifactType"), "application/vnd.in-toto+json",
		       "artifactType falls back to the config media type");
		ok(!json_object_get(e2, "annotations"), "no annotations when the manifest has none");
	}
	json_decref(v);
	v = NULL;
	is_int(bento_target_referrers(t, &dx, &b, &err), 0, "referrers of an unrelated digest");
	is_str(b.buf, "{\"manifests\":[],\"mediaType\":\"" OCI_INDEX_V1 "\",\"schemaVersion\":2}", "an empty index");

	/* index.json: deterministic order (untagged by digest, then tags), each listed once. */
	{
		const char *a = s1, *c = s3, *x = ex, *tmp;
		char sd2[BENTO_DIGEST_STRLEN], sd1[BENTO_DIGEST_STRLEN];

		if (strcmp(a, c) > 0) { tmp = a; a = c; c = tmp; }
		if (strcmp(c, x) > 0) { tmp = c; c = x; x = tmp; }
		if (strcmp(a, c) > 0) { tmp = a; a = c; c = tmp; }
		bento_digest_bytes(m1, strlen(m1), &dg);
		bento_digest_str(&dg, sd1);
		bento_digest_str(&d2, sd2);
		sum = index_summary(dir);
		want = bento_xasprintf("-=%.15s\n-=%.15s\n-=%.15s\nlatest=%.15s\nv1=%.15s\n", a, c, x, sd1, sd2);
		is_str(sum, want, "index.json sorted by ref name then digest");
		free(sum);
		free(want);
	}
	/* Tagging an untagged manifest drops its untagged entry. */
	is_int(bento_target_manifest_put(t, "sig", OCI_MANIFEST_V1, r1, strlen(r1), NULL, &err), 0, "tag referrer 1");
	{
		char *line = bento_xasprintf("-=%.15s\n", s1);

		sum = index_summary(dir);
		ok(strstr(sum, line) == NULL, "untagged entry replaced by the tag");
		ok(strstr(sum, "sig=") != NULL, "tag present");
		free(line);
		free(sum);
	}
	/* A corrupted manifest is refused on get and in the referrers scan. */
	{
		char hex[BENTO_DIGEST_HEXLEN + 1];
		char *p, *blobs = path_in(dir, "blobs/sha256");
		int fd;

		bento_digest_hex(&d3, hex);
		p = path_in(blobs, hex);
		fd = open(p, O_WRONLY);
		ok(fd >= 0 && pwrite(fd, "[", 1, 0) == 1, "flip a manifest byte");
		close(fd);
		is_int(bento_target_manifest_get(t, s3, &b, NULL, NULL, &err), -BENTO_E_VERIFY, "get: VERIFY");
		is_int(bento_target_referrers(t, &d2, &b, &err), -BENTO_E_VERIFY, "referrers: VERIFY");
		free(p);
		free(blobs);
	}
	free(m1);
	free(m2);
	free(r1);
	free(r2);
	free(r3);
	bento_buf_release(&b);
	bento_target_close(t);
	free(spec);
	free(dir);
}

/* ---- refusals: another layout version, oversized manifests ---- */

static void test_layout_refusals(void)
{
	char *dir = path_in(root, "l4"), *spec = bento_xasprintf("oci:%s", dir), *p;
	struct bento_target *t;
	struct bento_error err;
	struct bento_buf b = BENTO_BUF_INIT;
	struct memsrc m;
	struct bento_blob_source s;
	size_t big = OCI_MANIFEST_MAX + 1;
	char *data = bento_xmalloc(big);
	char ds[BENTO_DIGEST_STRLEN];

	mkdir(dir, 0755);
	p = path_in(dir, "oci-layout");
	write_file(p, "{\"imageLayoutVersion\":\"2.0.0\"}", strlen("{\"imageLayoutVersion\":\"2.0.0\"}"));
	t = open_layout(spec);
	s = src_of(&m, "x", 1);
	is_int(bento_target_blob_put(t, &s, NULL, &err), -BENTO_E_VERIFY, "a layout of another version is refused");
	ok(strstr(err.msg, "oci-layout: imageLayoutVersion: '2.0.0' is not supported") != NULL, "says why: %s",
	   err.msg);
	is_int(bento_target_manifest_get(t, "v1", &b, NULL, NULL, &err), -BENTO_E_VERIFY,
	       "for a read as for a write");
	bento_target_close(t);
	unlink(p);
	free(p);

	t = open_layout(spec);
	memset(data, ' ', big);
	data[0] = '{';
	data[big - 1] = '}';
	is_int(bento_target_manifest_put(t, "big", OCI_MANIFEST_V1, data, big, NULL, &err), -BENTO_E_USAGE,
	       "a manifest over 4 MiB is refused on put");
	s = src_of(&m, data, big);
	is_int(bento_target_blob_put(t, &s, NULL, &err), 0, "(the same bytes as a blob)");
	bento_digest_str(&s.digest, ds);
	is_int(bento_target_manifest_get(t, ds, &b, NULL, NULL, &err), -BENTO_E_VERIFY,
	       "a manifest over 4 MiB is refused on get");
	ok(strstr(err.msg, "more than") != NULL, "says why: %s", err.msg);
	ok(b.len == 0, "nothing returned");
	bento_target_close(t);
	bento_buf_release(&b);
	free(data);
	free(spec);
	free(dir);
}

/* ---- two writers at once ---- */

static void test_concurrent(void)
{
	char *dir = path_in(root, "l3"), *spec = bento_xasprintf("oci:%s", dir);
	pid_t pids[2];
	int i, status, good = 1;

	for (i = 0; i < 2; i++) {
		pids[i] = fork();
		if (pids[i] == 0) {
			struct bento_target *t = open_layout(spec);
			struct bento_error err;
			int k, rc = 0;

			for (k = 0; k < 25 && rc == 0; k++) {
				char *m = bento_xasprintf("{\"schemaVersion\":2,\"w\":%d,\"k\":%d}", i, k);
				char tag[16];

				snprintf(tag, sizeof(tag), "%c%d", 'a' + i, k);
				rc = bento_target_manifest_put(t, tag, OCI_MANIFEST_V1, m, strlen(m), NULL, &err);
				if (rc < 0)
					fprintf(stderr, "# child %d: %s\n", i, err.msg);
				free(m);
			}
			bento_target_close(t);
			free(spec);
			free(dir);
			_exit(rc == 0 ? 0 : 1);
		}
	}
	for (i = 0; i < 2; i++) {
		waitpid(pids[i], &status, 0);
		good &= WIFEXITED(status) && WEXITSTATUS(status) == 0;
	}
	ok(good, "two processes put 25 tags each");
	{
		struct bento_target *t = open_layout(spec);
		struct bento_buf b = BENTO_BUF_INIT;
		struct bento_error err;
		int k, found = 0;

		for (i = 0; i < 2; i++)
			for (k = 0; k < 25; k++) {
				char tag[16], *want = bento_xasprintf("{\"schemaVersion\":2,\"w\":%d,\"k\":%d}", i, k);

				snprintf(tag, sizeof(tag), "%c%d", 'a' + i, k);
				found += bento_target_manifest_get(t, tag, &b, NULL, NULL, &err) == 0 &&
					 strcmp(b.buf, want) == 0;
				free(want);
			}
		is_int(found, 50, "all 50 tags landed");
		bento_buf_release(&b);
		bento_target_close(t);
	}
	free(spec);
	free(dir);
}

/* ---- skopeo and umoci read what we wrote; we read what skopeo wrote ---- */

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	struct bento_buf b = BENTO_BUF_INIT;
	va_list ap;
	int rc;

	va_start(ap, fmt);
	bento_buf_vaddf(&b, fmt, ap);
	va_end(ap);
	rc = system(b.buf);
	bento_buf_release(&b);
	return rc;
}

static void put_bytes(struct bento_target *t, const char *p, size_t n, char ds[BENTO_DIGEST_STRLEN])
{
	struct memsrc m;
	struct bento_blob_source s = src_of(&m, p, n);
	struct bento_error err;

	if (bento_target_blob_put(t, &s, NULL, &err) < 0) {
		printf("# put: %s\n", err.msg);
		exit(1);
	}
	bento_digest_str(&s.digest, ds);
}

static void test_interop(void)
{
	char *dir = path_in(root, "img"), *dir2 = path_in(root, "img2"), *spec, *p, *man;
	struct bento_buf layer = BENTO_BUF_INIT, b = BENTO_BUF_INIT;
	char ld[BENTO_DIGEST_STRLEN], cd[BENTO_DIGEST_STRLEN], md[BENTO_DIGEST_STRLEN];
	struct bento_target *t;
	struct bento_digest d, d2;
	struct bento_error err;
	char *config;

	if (system("skopeo --version >/dev/null 2>&1") != 0) {
		ok(1, "# SKIP skopeo not installed");
		goto out0;
	}
	p = path_in(root, "rootfs");
	mkdir(p, 0755);
	free(p);
	p = path_in(root, "rootfs/hello.txt");
	write_file(p, "hi\n", 3);
	free(p);
	ok(sh("tar -C '%s/rootfs' -cf '%s/layer.tar' hello.txt", root, root) == 0, "make a layer tar");
	p = path_in(root, "layer.tar");
	slurp(p, &layer);
	free(p);

	spec = bento_xasprintf("oci:%s", dir);
	t = open_layout(spec);
	put_bytes(t, layer.buf, layer.len, ld);
	config = bento_xasprintf("{\"architecture\":\"amd64\",\"os\":\"linux\","
				 "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"%s\"]}}", ld);
	put_bytes(t, config, strlen(config), cd);
	man = bento_xasprintf("{\"schemaVersion\":2,\"mediaType\":\"" OCI_MANIFEST_V1 "\","
			      "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
			      "\"digest\":\"%s\",\"size\":%zu},"
			      "\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\","
			      "\"digest\":\"%s\",\"size\":%zu}]}", cd, strlen(config), ld, layer.len);
	is_int(bento_target_manifest_put(t, "v1", OCI_MANIFEST_V1, man, strlen(man), &d, &err), 0, "put an image");
	bento_digest_str(&d, md);
	bento_target_close(t);
	free(spec);

	ok(sh("skopeo inspect --raw 'oci:%s:v1' > '%s/raw.json'", dir, root) == 0, "skopeo inspect --raw oci:DIR:v1");
	p = path_in(root, "raw.json");
	slurp(p, &b);
	free(p);
	is_str(b.buf, man, "skopeo sees our exact manifest");
	ok(sh("skopeo inspect 'oci:%s:v1' > /dev/null", dir) == 0, "skopeo inspect (config too)");
	ok(sh("skopeo copy -q --insecure-policy --preserve-digests 'oci:%s:v1' 'oci:%s:copied' >/dev/null", dir, dir2) == 0,
	   "skopeo copy oci:DIR:v1 oci:DIR2:copied");

	spec = bento_xasprintf("oci:%s", dir2);
	t = open_layout(spec);
	is_int(bento_target_manifest_get(t, "copied", &b, NULL, &d2, &err), 0, "we read skopeo's layout");
	ok(bento_digest_eq(&d, &d2), "same manifest digest after the copy");
	{
		struct bento_digest dl;
		struct bento_buf got = BENTO_BUF_INIT;

		bento_digest_parse(ld, &dl, NULL);
		is_int(bento_target_blob_get(t, &dl, layer.len, buf_sink, &got, NULL, &err), 0, "and its layer");
		ok(got.len == layer.len && memcmp(got.buf, layer.buf, got.len) == 0, "same layer bytes");
		bento_buf_release(&got);
	}
	/* Writing into skopeo's layout keeps its tag. */
	is_int(bento_target_manifest_put(t, "ours", OCI_MANIFEST_V1, man, strlen(man), NULL, &err), 0,
	       "add a tag to skopeo's layout");
	bento_target_close(t);
	free(spec);
	ok(sh("skopeo inspect --raw 'oci:%s:copied' >/dev/null && skopeo inspect --raw 'oci:%s:ours' >/dev/null",
	      dir2, dir2) == 0, "skopeo still reads both tags");

	if (system("umoci --version >/dev/null 2>&1") == 0) {
		ok(sh("umoci ls --layout '%s' > '%s/tags'", dir, root) == 0, "umoci ls");
		p = path_in(root, "tags");
		slurp(p, &b);
		free(p);
		is_str(b.buf, "v1\n", "umoci lists the tag");
		ok(sh("umoci stat --image '%s:v1' >/dev/null", dir) == 0, "umoci stat");
	} else {
		ok(1, "# SKIP umoci not installed");
	}
	free(man);
	free(config);
out0:
	bento_buf_release(&layer);
	bento_buf_release(&b);
	free(dir);
	free(dir2);
}

int main(void)
{
	char tmpl[] = "/tmp/bento-target-XXXXXX";

	if (!(root = mkdtemp(tmpl))) {
		perror("mkdtemp");
		return 1;
	}
	test_ref_parse();
	test_layout_blobs();
	test_layout_manifests();
	test_layout_refusals();
	test_concurrent();
	test_interop();
	if (!getenv("KEEP"))
		sh("rm -rf '%s'", root);
	return tap_done();
}
