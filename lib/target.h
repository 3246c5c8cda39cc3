/*
 * target.h - where bentos are pushed to and pulled from: an OCI registry
 * (registry.c, the distribution spec over libcurl) or an OCI image layout
 * directory "oci:DIR" (layout.c).  Both implement the same operations, so
 * push and pull (transfer.c) are written once.
 *
 * References: "HOST[:PORT]/REPO[:TAG|@sha256:HEX]" or "oci:DIR[:TAG]".
 * A first component that is no host (no '.' or ':', not localhost) makes
 * a short name, read as docker and podman read it: "python:3.12-slim" is
 * docker.io/library/python:3.12-slim, "org/img" docker.io/org/img, and
 * docker.io is served from registry-1.docker.io.  Short names are for
 * what is read (bases, pulls); whatever writes wants the host written out
 * (bento_target_ref_explicit).
 * Errors: -BENTO_E_NETWORK (exit 5) for transport and registry failures,
 * with the HTTP status and the registry's error code/message when it sent
 * one; -BENTO_E_VERIFY (exit 3) for content that does not match its digest;
 * -BENTO_E_NOTFOUND (exit 4) for a missing manifest, tag or blob.
 */
#ifndef BENTO_TARGET_H
#define BENTO_TARGET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "digest.h"
#include "error.h"
#include "ocidoc.h"	/* the media types */

#define OCI_MANIFEST_MAX (4u << 20)	/* larger manifests are refused */

struct bento_target_ref {
	int is_layout;		/* oci:DIR */
	char *dir;		/* layout: the directory */
	char *host;		/* registry: "host[:port]" (docker.io normalised to registry-1.docker.io) */
	char *repo;		/* registry: "team/iris"; layout: NULL */
	char *tag;		/* NULL when absent */
	char *digest;		/* "sha256:…" when given with '@', else NULL */
	int short_name;		/* registry: no host was written (Docker Hub implied) */
};

/* Parse a reference (see above).  -BENTO_E_USAGE with the reason. */
int bento_target_ref_parse(const char *s, struct bento_target_ref *out, struct bento_error *err);
void bento_target_ref_release(struct bento_target_ref *r);
/* *to: a copy of from (its own strings). */
void bento_target_ref_copy(struct bento_target_ref *to, const struct bento_target_ref *from);
/*
 * 0 when r names its registry host, else -BENTO_E_USAGE: "WRITTEN: no
 * registry host, and bento writes to Docker Hub only when told to: CMD
 * docker.io/WRITTEN (or CMD HOST/WRITTEN for another registry)", CMD being
 * the command as it should have been typed up to the reference (e.g.
 * "bento push demo:1").
 */
int bento_target_ref_explicit(const struct bento_target_ref *r, const char *written,
			      const char *cmd, struct bento_error *err);
/* "host/repo:tag" / "oci:dir:tag" back as a string (new). */
char *bento_target_ref_str(const struct bento_target_ref *r);

/*
 * A source of blob bytes that can start again at any offset (a retried or
 * resumed upload regenerates the stream): read(ctx, offset, buf, n) fills
 * up to n bytes starting at offset, returning the count (0 at the end) or
 * <0 with err set.
 */
struct bento_blob_source {
	ssize_t (*read)(void *ctx, uint64_t offset, void *buf, size_t n, struct bento_error *err);
	void *ctx;
	uint64_t size;
	struct bento_digest digest;	/* known before the upload */
};

/*
 * A source over n bytes in memory (p borrowed: it must outlive the
 * source), with its digest computed here.  Use &m->src.
 */
struct bento_mem_source {
	struct bento_blob_source src;
	const char *p;
	size_t n;
};
void bento_mem_source_init(struct bento_mem_source *m, const void *p, size_t n);

/*
 * A source over size bytes of an open file (borrowed: it must outlive the
 * source) whose digest the caller knows, d: a registry checks it on upload,
 * a layout on write.  Use &f->src.
 */
struct bento_fd_source {
	struct bento_blob_source src;
	int fd;
};
void bento_fd_source_init(struct bento_fd_source *f, int fd, uint64_t size,
			  const struct bento_digest *d);

/* A sink for downloaded bytes; 0 or <0 with err set. */
typedef int (*bento_sink_fn)(void *ctx, const void *p, size_t n, struct bento_error *err);
/* A sink appending to the struct bento_buf ctx. */
int bento_buf_sink(void *ctx, const void *p, size_t n, struct bento_error *err);

/* Transfer counters, for tests and reports. */
struct bento_target_stats {
	uint64_t blobs_uploaded, bytes_uploaded;
	uint64_t blobs_skipped;		/* the target had them */
	uint64_t blobs_mounted;
	uint64_t blobs_downloaded, bytes_downloaded;
	uint64_t retries;
};

struct bento_target;

struct bento_target_opts {
	int plain_http;		/* allow http:// beyond loopback */
	int insecure;		/* do not verify TLS certificates */
	const char *docker_config;	/* config.json path; NULL: $DOCKER_CONFIG/config.json or ~/.docker/config.json */
	int progress;		/* draw progress bars on stderr (only when it is a terminal) */
};

/* Open a session for ref (no network traffic yet). */
int bento_target_open(const struct bento_target_ref *ref, const struct bento_target_opts *o,
		      struct bento_target **out, struct bento_error *err);
void bento_target_close(struct bento_target *t);
const struct bento_target_stats *bento_target_stats(const struct bento_target *t);

/* 1 when the blob exists (size in *size), 0 when not. */
int bento_target_blob_exists(struct bento_target *t, const struct bento_digest *d, uint64_t *size,
			     struct bento_error *err);

/*
 * Make the blob present: skipped when it exists; mounted from from_repo (same
 * registry) when given and the registry agrees; else uploaded (monolithic
 * below 16 MiB, chunked PATCHes with Content-Range above, resumed after a
 * dropped connection, retried with backoff on 429/5xx honouring
 * Retry-After).  The registry's Docker-Content-Digest must match.
 */
int bento_target_blob_put(struct bento_target *t, const struct bento_blob_source *src,
			  const char *from_repo, struct bento_error *err);

/*
 * Stream a blob to sink, verifying it against d while streaming (a
 * mismatch is -BENTO_E_VERIFY after the last byte; the caller discards what
 * it got).  Interrupted downloads resume with Range: sink sees every byte
 * once, in order.  expect_size (0 = unknown) caps what is accepted.
 * sink_hashes (NULL: none) is a fresh hasher that sink itself feeds every
 * byte it is given (so it can hash them together with a digest of its
 * own, bento_hasher_update2); the blob's digest is then taken from it
 * instead of being computed here.
 */
int bento_target_blob_get(struct bento_target *t, const struct bento_digest *d,
			  uint64_t expect_size, bento_sink_fn sink, void *ctx,
			  struct bento_hasher *sink_hashes, struct bento_error *err);

/*
 * PUT a manifest under reference (a tag, or its digest) with its exact bytes
 * and media type; *out (optional) receives its digest (checked against the
 * registry's Docker-Content-Digest).
 */
int bento_target_manifest_put(struct bento_target *t, const char *reference,
			      const char *media_type, const void *data, size_t len,
			      struct bento_digest *out, struct bento_error *err);

/*
 * GET a manifest by tag or digest (at most OCI_MANIFEST_MAX bytes), verified
 * against the digest when reference is one.  *media_type (optional, new
 * string) and *digest (sha256 of the bytes) are filled.
 */
int bento_target_manifest_get(struct bento_target *t, const char *reference,
			      struct bento_buf *out, char **media_type,
			      struct bento_digest *digest, struct bento_error *err);

/*
 * The referrers of subject (an image index JSON listing their descriptors):
 * the referrers API when the registry has it, else the tag schema
 * "sha256-<hex>" fallback; an empty index when there are none.
 */
int bento_target_referrers(struct bento_target *t, const struct bento_digest *subject,
			   struct bento_buf *index, struct bento_error *err);

/*
 * Record a referrer for registries without the referrers API: add desc (an
 * OCI descriptor object, canonical JSON) to the index tagged
 * "sha256-<hex of subject>".  A no-op where the API exists.
 */
int bento_target_referrer_add(struct bento_target *t, const struct bento_digest *subject,
			      const char *descriptor_json, struct bento_error *err);

/*
 * bento login's check: GET /v2/ on host with user and password (Basic, or
 * the Bearer token flow), whatever config.json holds.  0 when the
 * registry accepts them; -BENTO_E_NETWORK "login failed: wrong user or
 * password", or the transport or HTTP error.
 */
int bento_registry_login_check(const char *host, const char *user, const char *pass,
			       const struct bento_target_opts *o, struct bento_error *err);

#endif
