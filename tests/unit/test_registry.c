/*
 * Unit tests: the OCI registry client (lib/registry.c) against a real
 * docker-registry (distribution 2.8) on 127.0.0.1, plus a small scripted
 * HTTP server for the faults a real registry does not produce (500s,
 * Retry-After, dropped connections, redirects to storage, huge manifests),
 * and Docker config.json credentials (lib/dockercfg.c).
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "buf.h"
#include "digest.h"
#include "dockercfg.h"
#include "dockercfg_internal.h"
#include "registry_internal.h"
#include "target_internal.h"
#include "fixture.h"
#include "tap.h"

#define REGISTRY_BIN "/usr/bin/docker-registry"
/* bcrypt("s3cret"), cost 4: docker-registry's htpasswd wants bcrypt; no htpasswd tool needed. */
#define HTPASSWD "alice:$2b$04$opSlwIUlU9QJaRW024lp9uXgsCsd6dUL4.1pcIOKjAlUO8ZXQ.t0m\n"

static char tmpl[] = "/tmp/bento-test-registry.XXXXXX";
static char *base;

/* ---- fixtures ---- */

static char *slurp(const char *path, size_t *len)
{
	struct bento_buf b = BENTO_BUF_INIT;
	char chunk[4096];
	ssize_t r;
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		return NULL;
	while ((r = read(fd, chunk, sizeof(chunk))) > 0)
		bento_buf_add(&b, chunk, (size_t)r);
	close(fd);
	return bento_buf_detach(&b, len);
}

static int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t n = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &n) < 0) {
		perror("free_port");
		exit(1);
	}
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static int can_connect(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM, 0), r;

	r = connect(fd, (struct sockaddr *)&a, sizeof(a));
	close(fd);
	return r == 0;
}

static int wait_port(int port)
{
	int i;

	for (i = 0; i < 200; i++) {
		if (can_connect(port))
			return 1;
		usleep(50000);
	}
	return 0;
}

struct registry {
	pid_t pid;
	int port;
	char *root;		/* storage */
	char host[32];
};

static int registry_start(struct registry *g, const char *name, int with_auth)
{
	char *dir = path_in(base, name), *cfg, *log, *htp;
	struct bento_buf y = BENTO_BUF_INIT;
	int fd;

	mkdir(dir, 0700);
	g->root = path_in(dir, "storage");
	g->port = free_port();
	snprintf(g->host, sizeof(g->host), "127.0.0.1:%d", g->port);
	cfg = path_in(dir, "config.yml");
	log = path_in(dir, "registry.log");
	htp = path_in(dir, "htpasswd");
	bento_buf_addf(&y, "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\n"
		       "storage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\n"
		       "http:\n  addr: 127.0.0.1:%d\n", g->root, g->port);
	if (with_auth) {
		write_file(htp, HTPASSWD, strlen(HTPASSWD));
		bento_buf_addf(&y, "auth:\n  htpasswd:\n    realm: basic-realm\n    path: %s\n", htp);
	}
	write_file(cfg, y.buf, y.len);
	bento_buf_release(&y);
	g->pid = fork();
	if (g->pid == 0) {
		fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		dup2(fd, 1);
		dup2(fd, 2);
		execl(REGISTRY_BIN, "docker-registry", "serve", cfg, (char *)NULL);
		_exit(127);
	}
	free(cfg);
	free(log);
	free(htp);
	free(dir);
	return wait_port(g->port);
}

static void registry_stop(struct registry *g)
{
	int st;

	if (g->pid > 0) {
		kill(g->pid, SIGTERM);
		waitpid(g->pid, &st, 0);
	}
	free(g->root);
}

/* A target on host/repo, driven through the ops table directly. */
static int topen(struct bento_target *t, const char *host, const char *repo, const char *dockercfg,
		 struct bento_error *err)
{
	memset(t, 0, sizeof(*t));
	bento_error_clear(err);
	t->ops = &bento_registry_ops;
	t->ref.host = bento_xstrdup(host);
	t->ref.repo = bento_xstrdup(repo);
	t->opts.docker_config = dockercfg;
	return t->ops->open(t, err);
}

static void tclose(struct bento_target *t)
{
	t->ops->close(t);
	free(t->ref.host);
	free(t->ref.repo);
}

/* A blob in memory as a source. */
struct mem {
	const unsigned char *p;
	size_t n;
};

static ssize_t mem_read(void *ctx, uint64_t off, void *buf, size_t n, struct bento_error *err)
{
	struct mem *m = ctx;

	(void)err;
	if (off >= m->n)
		return 0;
	if (n > m->n - off)
		n = m->n - (size_t)off;
	memcpy(buf, m->p + off, n);
	return (ssize_t)n;
}

static struct bento_blob_source mem_source(struct mem *m)
{
	struct bento_blob_source s = { .read = mem_read, .ctx = m, .size = m->n };

	bento_digest_bytes(m->p, m->n, &s.digest);
	return s;
}

static int buf_sink(void *ctx, const void *p, size_t n, struct bento_error *err)
{
	(void)err;
	bento_buf_add(ctx, p, n);
	return 0;
}

static unsigned char *pseudo_random(size_t n, unsigned seed)
{
	unsigned char *p = bento_xmalloc(n);
	uint64_t x = 0x9e3779b97f4a7c15ull ^ seed;
	size_t i;

	for (i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (unsigned char)x;
	}
	return p;
}

/* Find the stored data of a blob and flip one byte in it. */
static int corrupt_blob(const char *root, const struct bento_digest *d)
{
	char hex[BENTO_DIGEST_HEXLEN + 1];
	char *path;
	int fd, ok_ = 0;
	unsigned char c;

	bento_digest_hex(d, hex);
	path = bento_xasprintf("%s/docker/registry/v2/blobs/sha256/%.2s/%s/data", root, hex, hex);
	fd = open(path, O_RDWR);
	if (fd >= 0 && pread(fd, &c, 1, 3) == 1) {
		c ^= 0x55;
		ok_ = pwrite(fd, &c, 1, 3) == 1;
	}
	if (fd >= 0)
		close(fd);
	free(path);
	return ok_;
}

/* ---- the real registry ---- */

static char *descriptor(const char *media_type, const void *p, size_t n)
{
	struct bento_digest d;
	char ds[BENTO_DIGEST_STRLEN];

	bento_digest_bytes(p, n, &d);
	bento_digest_str(&d, ds);
	return bento_xasprintf("{\"digest\":\"%s\",\"mediaType\":\"%s\",\"size\":%zu}", media_type == NULL ? "" : ds,
			       media_type ? media_type : "", n);
}

static void test_blobs_and_manifests(struct registry *g)
{
	struct bento_target t, t2;
	struct bento_error err = { 0 };
	struct bento_buf got = BENTO_BUF_INIT, idx = BENTO_BUF_INIT;
	unsigned char *small = pseudo_random(3000, 1), *big = pseudo_random(20u << 20, 2);
	unsigned char *cfgb = (unsigned char *)"{\"name\":\"iris\"}";
	struct mem ms = { small, 3000 }, mb = { big, 20u << 20 }, mc = { cfgb, strlen((char *)cfgb) };
	struct bento_blob_source ss = mem_source(&ms), sb = mem_source(&mb), sc = mem_source(&mc);
	struct bento_digest unknown, md, md2;
	uint64_t size = 0;
	char *mt = NULL, *manifest, *d1, *d2, *sig1, *sig2;
	char ds_small[BENTO_DIGEST_STRLEN], ds_cfg[BENTO_DIGEST_STRLEN], ds_md[BENTO_DIGEST_STRLEN];
	json_t *root;
	int rc;

	rc = topen(&t, g->host, "team/a", NULL, &err);
	is_int(rc, 0, "open %s/team/a", g->host);
	bento_digest_bytes("nothing", 7, &unknown);
	is_int(t.ops->blob_exists(&t, &unknown, &size, &err), 0, "an unknown blob does not exist");

	rc = t.ops->blob_put(&t, &ss, NULL, &err);
	is_int(rc, 0, "put a small blob (monolithic) %s", err.msg);
	rc = t.ops->blob_put(&t, &sb, NULL, &err);
	is_int(rc, 0, "put a 20 MiB blob (chunked) %s", err.msg);
	is_int(t.stats.blobs_uploaded, 2, "two blobs uploaded");
	is_int(t.stats.bytes_uploaded, 3000 + (20u << 20), "their bytes counted");
	is_int(t.ops->blob_exists(&t, &sb.digest, &size, &err), 1, "the big blob exists");
	is_int(size, 20u << 20, "with its size");

	rc = t.ops->blob_get(&t, &sb.digest, 20u << 20, buf_sink, &got, NULL, &err);
	is_int(rc, 0, "get the big blob %s", err.msg);
	ok(got.len == (20u << 20) && memcmp(got.buf, big, got.len) == 0, "its bytes come back");
	bento_buf_reset(&got);
	rc = t.ops->blob_get(&t, &ss.digest, 0, buf_sink, &got, NULL, &err);
	ok(rc == 0 && got.len == 3000 && memcmp(got.buf, small, 3000) == 0, "the small one too");
	bento_buf_reset(&got);
	rc = t.ops->blob_get(&t, &sb.digest, 1000, buf_sink, &got, NULL, &err);
	is_int(rc, -BENTO_E_VERIFY, "more bytes than expected are refused");
	bento_buf_reset(&got);
	rc = t.ops->blob_get(&t, &unknown, 0, buf_sink, &got, NULL, &err);
	is_int(rc, -BENTO_E_NOTFOUND, "get of an unknown blob: NOTFOUND");

	rc = t.ops->blob_put(&t, &sb, NULL, &err);
	ok(rc == 0 && t.stats.blobs_skipped == 1 && t.stats.blobs_uploaded == 2,
	   "a re-put is skipped, nothing uploaded");

	/* Cross-repo mount. */
	rc = topen(&t2, g->host, "team/b", NULL, &err);
	rc = t2.ops->blob_put(&t2, &sb, "team/a", &err);
	is_int(rc, 0, "put into team/b from team/a %s", err.msg);
	is_int(t2.stats.blobs_mounted, 1, "it was mounted");
	is_int(t2.stats.blobs_uploaded, 0, "not uploaded");
	is_int(t2.ops->blob_exists(&t2, &sb.digest, NULL, &err), 1, "and exists in team/b");
	rc = t2.ops->blob_put(&t2, &ss, "no/such", &err);
	ok(rc == 0 && t2.stats.blobs_uploaded == 1, "a mount the registry declines falls back to an upload");

	/* Manifests. */
	rc = t.ops->blob_put(&t, &sc, NULL, &err);
	bento_digest_str(&ss.digest, ds_small);
	bento_digest_str(&sc.digest, ds_cfg);
	manifest = bento_xasprintf("{\"artifactType\":\"application/vnd.bento.bundle.v1\","
				   "\"config\":{\"digest\":\"%s\",\"mediaType\":\"application/vnd.bento.manifest.v1+json\",\"size\":%zu},"
				   "\"layers\":[{\"digest\":\"%s\",\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"size\":3000}],"
				   "\"mediaType\":\"" OCI_MANIFEST_V1 "\",\"schemaVersion\":2}",
				   ds_cfg, mc.n, ds_small);
	rc = t.ops->manifest_put(&t, "1.0", OCI_MANIFEST_V1, manifest, strlen(manifest), &md, &err);
	is_int(rc, 0, "manifest put under a tag %s", err.msg);
	bento_digest_str(&md, ds_md);
	rc = t.ops->manifest_get(&t, "1.0", &got, &mt, &md2, &err);
	is_int(rc, 0, "manifest get by tag %s", err.msg);
	is_str(got.buf, manifest, "the exact bytes come back");
	is_str(mt, OCI_MANIFEST_V1, "with their media type");
	ok(bento_digest_eq(&md, &md2), "and digest");
	free(mt);
	mt = NULL;
	rc = t.ops->manifest_get(&t, ds_md, &got, NULL, NULL, &err);
	ok(rc == 0 && strcmp(got.buf, manifest) == 0, "manifest get by digest");
	rc = t.ops->manifest_get(&t, "2.0", &got, NULL, NULL, &err);
	is_int(rc, -BENTO_E_NOTFOUND, "a missing tag: NOTFOUND");
	ok(strstr(err.msg, ":2.0: manifest not found") != NULL, "message: %s", err.msg);
	rc = t.ops->manifest_get(&t, "../x", &got, NULL, NULL, &err);
	is_int(rc, -BENTO_E_USAGE, "a malformed reference is refused");
	rc = t.ops->manifest_put(&t, ds_cfg, OCI_MANIFEST_V1, manifest, strlen(manifest), NULL, &err);
	is_int(rc, -BENTO_E_VERIFY, "put under a digest that is not the bytes' is refused");
	rc = t.ops->manifest_put(&t, "bad", OCI_MANIFEST_V1, "{", 1, NULL, &err);
	ok(rc == -BENTO_E_NETWORK && strstr(err.msg, "HTTP 400") && strstr(err.msg, "MANIFEST_INVALID"),
	   "the registry's error code reaches the message: %s", err.msg);

	/* Referrers, by the tag-schema fallback (distribution 2.8 has no API). */
	rc = t.ops->referrers(&t, &md, &idx, &err);
	is_int(rc, 0, "referrers of a fresh manifest %s", err.msg);
	is_str(idx.buf, "{\"manifests\":[],\"mediaType\":\"" OCI_INDEX_V1 "\",\"schemaVersion\":2}",
	       "an empty index");
	sig1 = bento_xasprintf("{\"artifactType\":\"application/vnd.bento.signature.v1\","
			       "\"config\":{\"digest\":\"%s\",\"mediaType\":\"application/vnd.oci.empty.v1+json\",\"size\":%zu},"
			       "\"layers\":[],\"mediaType\":\"" OCI_MANIFEST_V1 "\",\"schemaVersion\":2,"
			       "\"subject\":{\"digest\":\"%s\",\"mediaType\":\"" OCI_MANIFEST_V1 "\",\"size\":%zu}}",
			       ds_cfg, mc.n, ds_md, strlen(manifest));
	sig2 = bento_xasprintf("%.*s,\"annotations\":{\"n\":\"2\"}}", (int)strlen(sig1) - 1, sig1);
	d1 = descriptor(OCI_MANIFEST_V1, sig1, strlen(sig1));
	d2 = descriptor(OCI_MANIFEST_V1, sig2, strlen(sig2));
	ok(t.ops->manifest_put(&t, "sig1", OCI_MANIFEST_V1, sig1, strlen(sig1), NULL, &err) == 0 &&
	   t.ops->manifest_put(&t, "sig2", OCI_MANIFEST_V1, sig2, strlen(sig2), NULL, &err) == 0,
	   "two referrer manifests pushed %s", err.msg);
	rc = t.ops->referrer_add(&t, &md, d1, &err);
	is_int(rc, 0, "referrer_add 1 %s", err.msg);
	rc = t.ops->referrer_add(&t, &md, d2, &err);
	is_int(rc, 0, "referrer_add 2 %s", err.msg);
	rc = t.ops->referrer_add(&t, &md, d1, &err);
	is_int(rc, 0, "referrer_add 1 again");
	rc = t.ops->referrer_add(&t, &md, "{\"digest\":\"x\"}", &err);
	is_int(rc, -BENTO_E_INVALID, "a descriptor without a digest is refused");
	rc = t.ops->referrers(&t, &md, &idx, &err);
	root = json_loadb(idx.buf, idx.len, 0, NULL);
	ok(rc == 0 && root && json_array_size(json_object_get(root, "manifests")) == 2,
	   "referrers lists both, once each: %s", idx.buf);
	ok(root && strstr(idx.buf, d1 + 1) && strstr(idx.buf, d2 + 1), "their descriptors");
	json_decref(root);
	tclose(&t2);

	/* A blob whose stored bytes were altered. */
	ok(corrupt_blob(g->root, &ss.digest), "flip a byte in the registry's copy");
	bento_buf_reset(&got);
	rc = t.ops->blob_get(&t, &ss.digest, 3000, buf_sink, &got, NULL, &err);
	is_int(rc, -BENTO_E_VERIFY, "blob_get notices: VERIFY");
	ok(strstr(err.msg, "digest mismatch") && strstr(err.msg, ds_small), "message: %s", err.msg);

	tclose(&t);
	free(manifest);
	free(sig1);
	free(sig2);
	free(d1);
	free(d2);
	free(small);
	free(big);
	bento_buf_release(&got);
	bento_buf_release(&idx);
}

static void test_basic_auth(struct registry *g)
{
	struct bento_target t;
	struct bento_error err = { 0 };
	struct bento_buf got = BENTO_BUF_INIT;
	unsigned char *blob = pseudo_random(5000, 3);
	struct mem m = { blob, 5000 };
	struct bento_blob_source s = mem_source(&m);
	char *cfg = path_in(base, "docker/config.json"), *text;
	int rc;

	rc = topen(&t, g->host, "secure/x", cfg, &err);
	rc = t.ops->blob_exists(&t, &s.digest, NULL, &err);
	is_int(rc, -BENTO_E_NETWORK, "without credentials: NETWORK (exit 5)");
	is_int(bento_exit_code(rc), 5, "exit 5");
	ok(strstr(err.msg, "authentication required: run bento login 127.0.0.1:") != NULL,
	   "a clear message: %s", err.msg);
	tclose(&t);

	ok(bento_dockercfg_set(cfg, g->host, "alice", "wrong", &err) == 0, "store a wrong password");
	topen(&t, g->host, "secure/x", cfg, &err);
	rc = t.ops->blob_exists(&t, &s.digest, NULL, &err);
	ok(rc == -BENTO_E_NETWORK && strstr(err.msg, "authentication failed") &&
	   !strstr(err.msg, "wrong"), "a wrong password fails without showing it: %s", err.msg);
	tclose(&t);

	ok(bento_dockercfg_set(cfg, g->host, "alice", "s3cret", &err) == 0, "bento login");
	topen(&t, g->host, "secure/x", cfg, &err);
	rc = t.ops->blob_put(&t, &s, NULL, &err);
	is_int(rc, 0, "with credentials, put works %s", err.msg);
	rc = t.ops->blob_get(&t, &s.digest, 5000, buf_sink, &got, NULL, &err);
	ok(rc == 0 && got.len == 5000 && memcmp(got.buf, blob, 5000) == 0, "and get");
	tclose(&t);

	/* DOCKER_CONFIG is honoured when no path is given. */
	text = path_in(base, "docker");
	setenv("DOCKER_CONFIG", text, 1);
	free(text);
	topen(&t, g->host, "secure/x", NULL, &err);
	is_int(t.ops->blob_exists(&t, &s.digest, NULL, &err), 1, "credentials found through $DOCKER_CONFIG");
	tclose(&t);
	unsetenv("DOCKER_CONFIG");

	bento_buf_release(&got);
	free(blob);
	free(cfg);
}

/* ---- a scripted fake registry, for faults ---- */

struct fake {
	pid_t pid;
	int port;
	char host[32];
	char *log;
};

static void send_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n > 0) {
		ssize_t w = write(fd, c, n);
		if (w <= 0)
			return;
		c += w;
		n -= (size_t)w;
	}
}

static int head_request;

static void respond(int fd, const char *status, const char *headers, const void *body, size_t n)
{
	char head[2048];

	snprintf(head, sizeof(head), "HTTP/1.1 %s\r\n%sConnection: close\r\nContent-Length: %zu\r\n\r\n", status, headers, n);
	send_all(fd, head, strlen(head));
	if (n && !head_request)
		send_all(fd, body, n);
}

/* The fake's blob: 1 MiB of known bytes. */
#define FAKE_BLOB (1u << 20)

/*
 * Paths: /v2/e500/... 500 with an OCI error; /v2/slow/... 429 Retry-After 1
 * once, then a blob; /v2/drop/... a blob cut after half, resumable with
 * Range; /v2/redir/... Basic auth, then a 307 to http://localhost:PORT/storage;
 * /v2/huge/manifests/... a 5 MiB manifest; /v2/upl/... an upload whose first
 * PATCH is cut mid-body.
 */
static void fake_serve(int lfd, const char *logpath, int port)
{
	unsigned char *blob = pseudo_random(FAKE_BLOB, 9);
	unsigned char *upl = bento_xcalloc(1, 20u << 20);
	size_t upl_have = 0;
	int slow_count = 0, patch_count = 0, logfd = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0644);
	struct bento_digest bd;
	char ds[BENTO_DIGEST_STRLEN];

	bento_digest_bytes(blob, FAKE_BLOB, &bd);
	bento_digest_str(&bd, ds);
	signal(SIGPIPE, SIG_IGN);
	for (;;) {
		int fd = accept(lfd, NULL, NULL);
		if (fd < 0)
			continue;
		for (;;) {
			char req[8192], method[16], path[1024], line[1200], hdrs[512];
			size_t n = 0;
			ssize_t r;
			char *end = NULL, *p;
			long long clen = 0, range_from = -1;
			int has_auth;

			req[0] = '\0';
			/* (end is looked for after every read: one may fill req with the head and body) */
			while (!(end = strstr(req, "\r\n\r\n")) && n < sizeof(req) - 1) {
				r = read(fd, req + n, sizeof(req) - 1 - n);
				if (r <= 0)
					goto closed;
				n += (size_t)r;
				req[n] = '\0';
			}
			if (!end)
				goto closed;
			*end = '\0';
			if (sscanf(req, "%15s %1023s", method, path) != 2)
				goto closed;
			if ((p = strcasestr(req, "\r\nContent-Length:")))
				clen = atoll(p + 17);
			if ((p = strcasestr(req, "\r\nRange: bytes=")))
				range_from = atoll(p + 15);
			has_auth = strcasestr(req, "\r\nAuthorization:") != NULL;
			head_request = strcmp(method, "HEAD") == 0;
			snprintf(line, sizeof(line), "%s %s auth=%d range=%lld\n", method, path, has_auth, range_from);
			if (write(logfd, line, strlen(line)) < 0)
				_exit(1);
			/* The body: what came with the headers, then the rest. */
			{
				size_t got = n - (size_t)(end + 4 - req);
				unsigned char *body = bento_xmalloc((size_t)clen + 1);
				memcpy(body, end + 4, got < (size_t)clen ? got : (size_t)clen);
				if (strncmp(path, "/v2/upl/", 8) == 0 && strcmp(method, "PATCH") == 0 &&
				    patch_count++ == 0) {
					/* Take a third of the first chunk, then hang up. */
					while (got < (size_t)clen / 3) {
						r = read(fd, body + got, (size_t)clen / 3 - got);
						if (r <= 0)
							break;
						got += (size_t)r;
					}
					memcpy(upl + upl_have, body, got);
					upl_have += got;
					free(body);
					goto closed;
				}
				while (got < (size_t)clen) {
					r = read(fd, body + got, (size_t)clen - got);
					if (r <= 0) {
						free(body);
						goto closed;
					}
					got += (size_t)r;
				}
				if (strncmp(path, "/v2/upl/", 8) == 0 && strcmp(method, "PATCH") == 0) {
					memcpy(upl + upl_have, body, (size_t)clen);
					upl_have += (size_t)clen;
				}
				free(body);
			}
			if (strncmp(path, "/v2/e500/", 9) == 0) {
				const char *e = "{\"errors\":[{\"code\":\"UNKNOWN\",\"message\":\"disk on fire\"}]}";
				respond(fd, "500 Internal Server Error", "Content-Type: application/json\r\n", e, strlen(e));
			} else if (strncmp(path, "/v2/slow/", 9) == 0) {
				if (slow_count++ == 0)
					respond(fd, "429 Too Many Requests", "Retry-After: 1\r\n", NULL, 0);
				else
					respond(fd, "200 OK", "", blob, FAKE_BLOB);
			} else if (strncmp(path, "/v2/drop/", 9) == 0) {
				if (range_from > 0) {
					snprintf(hdrs, sizeof(hdrs), "Content-Range: bytes %lld-%u/%u\r\n",
						 range_from, FAKE_BLOB - 1, FAKE_BLOB);
					respond(fd, "206 Partial Content", hdrs, blob + range_from,
						FAKE_BLOB - (size_t)range_from);
				} else {
					snprintf(hdrs, sizeof(hdrs), "HTTP/1.1 200 OK\r\nContent-Length: %u\r\n\r\n", FAKE_BLOB);
					send_all(fd, hdrs, strlen(hdrs));
					send_all(fd, blob, FAKE_BLOB / 2);
					goto closed;
				}
			} else if (strncmp(path, "/v2/redir/", 10) == 0) {
				if (!has_auth) {
					respond(fd, "401 Unauthorized", "WWW-Authenticate: Basic realm=\"fake\"\r\n", NULL, 0);
				} else {
					snprintf(hdrs, sizeof(hdrs), "Location: http://localhost:%d/storage/blob\r\n", port);
					respond(fd, "307 Temporary Redirect", hdrs, NULL, 0);
				}
			} else if (strncmp(path, "/v2/bearer/", 11) == 0) {
				p = strcasestr(req, "\r\nAuthorization: Bearer tok123");
				if (!p || (p[30] != '\r' && p[30] != '\0')) {
					snprintf(hdrs, sizeof(hdrs), "WWW-Authenticate: Bearer realm=\"http://127.0.0.1:%d/token\","
						 "service=\"fake\",scope=\"repository:bearer:pull\"\r\n", port);
					respond(fd, "401 Unauthorized", hdrs, NULL, 0);
				} else {
					respond(fd, "200 OK", "", blob, FAKE_BLOB);
				}
			} else if (strncmp(path, "/token?", 7) == 0) {
				const char *tk = "{\"access_token\":\"tok123\",\"expires_in\":300}";
				respond(fd, "200 OK", "Content-Type: application/json\r\n", tk, strlen(tk));
			} else if (strcmp(path, "/tofile") == 0) {
				respond(fd, "302 Found", "Location: file:///etc/hostname\r\n", NULL, 0);
			} else if (strcmp(path, "/storage/blob") == 0) {
				respond(fd, "200 OK", "", blob, FAKE_BLOB);
			} else if (strncmp(path, "/v2/huge/manifests/", 19) == 0) {
				size_t big = 5u << 20;
				unsigned char *m = bento_xcalloc(1, big);
				memset(m, ' ', big);
				respond(fd, "200 OK", "Content-Type: " OCI_MANIFEST_V1 "\r\n", m, big);
				free(m);
			} else if (strncmp(path, "/v2/upl/", 8) == 0) {
				if (strcmp(method, "HEAD") == 0) {
					respond(fd, "404 Not Found", "", NULL, 0);
				} else if (strcmp(method, "POST") == 0) {
					upl_have = 0;
					/* Relative Locations with a query, as some registries send. */
					respond(fd, "202 Accepted", "Location: /v2/upl/blobs/uploads/u1?state=a\r\n", NULL, 0);
				} else if (strcmp(method, "GET") == 0 || strcmp(method, "PATCH") == 0) {
					snprintf(hdrs, sizeof(hdrs), "Location: /v2/upl/blobs/uploads/u1?state=b\r\n"
						 "Range: 0-%zu\r\n", upl_have ? upl_have - 1 : 0);
					respond(fd, strcmp(method, "GET") == 0 ? "204 No Content" : "202 Accepted",
						hdrs, NULL, 0);
				} else if (strcmp(method, "PUT") == 0) {
					struct bento_digest d;
					char got_ds[BENTO_DIGEST_STRLEN];
					bento_digest_bytes(upl, upl_have, &d);
					bento_digest_str(&d, got_ds);
					snprintf(hdrs, sizeof(hdrs), "Docker-Content-Digest: %s\r\n", got_ds);
					if (strstr(path, "state=b") && strstr(path, got_ds + 7))
						respond(fd, "201 Created", hdrs, NULL, 0);
					else
						respond(fd, "400 Bad Request", "", "{\"errors\":[{\"code\":\"DIGEST_INVALID\",\"message\":\"x\"}]}", 51);
				}
			} else {
				respond(fd, "404 Not Found", "", NULL, 0);
			}
			/* One request per connection: the server is single-threaded. */
			break;
		}
closed:
		close(fd);
	}
}

static int fake_start(struct fake *f)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t n = sizeof(a);
	int lfd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(lfd, 16) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&a, &n) < 0)
		return 0;
	f->port = ntohs(a.sin_port);
	snprintf(f->host, sizeof(f->host), "127.0.0.1:%d", f->port);
	f->log = path_in(base, "fake.log");
	f->pid = fork();
	if (f->pid == 0) {
		fake_serve(lfd, f->log, f->port);
		_exit(0);
	}
	close(lfd);
	return f->pid > 0;
}

static void fake_stop(struct fake *f)
{
	int st;

	kill(f->pid, SIGKILL);
	waitpid(f->pid, &st, 0);
	free(f->log);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void test_faults(struct fake *f)
{
	struct bento_target t;
	struct bento_error err = { 0 };
	struct bento_buf got = BENTO_BUF_INIT;
	unsigned char *blob = pseudo_random(FAKE_BLOB, 9), *up = pseudo_random(20u << 20, 4);
	struct mem mu = { up, 20u << 20 };
	struct bento_blob_source su = mem_source(&mu);
	struct bento_digest bd;
	char *log, *cfg = path_in(base, "fake-docker/config.json");
	double t0;
	int rc;

	bento_digest_bytes(blob, FAKE_BLOB, &bd);

	topen(&t, f->host, "e500", NULL, &err);
	t0 = now_s();
	rc = t.ops->blob_exists(&t, &bd, NULL, &err);
	is_int(rc, -BENTO_E_NETWORK, "a persistent 500: NETWORK");
	ok(strstr(err.msg, "/e500: HEAD blob: HTTP 500") != NULL, "names the request and status: %s", err.msg);
	rc = t.ops->manifest_get(&t, "latest", &got, NULL, NULL, &err);
	ok(strstr(err.msg, "HTTP 500: UNKNOWN: disk on fire") != NULL, "and the registry's error: %s", err.msg);
	is_int(t.stats.retries, 8, "retried 4 times each");
	ok(now_s() - t0 > 2.5, "with backoff (%.2f s)", now_s() - t0);
	tclose(&t);

	topen(&t, f->host, "slow", NULL, &err);
	t0 = now_s();
	bento_buf_reset(&got);
	rc = t.ops->blob_get(&t, &bd, FAKE_BLOB, buf_sink, &got, NULL, &err);
	is_int(rc, 0, "a 429 with Retry-After, then success %s", err.msg);
	ok(now_s() - t0 >= 0.95, "Retry-After: 1 honoured (%.2f s)", now_s() - t0);
	is_int(t.stats.retries, 1, "one retry counted");
	tclose(&t);

	topen(&t, f->host, "drop", NULL, &err);
	bento_buf_reset(&got);
	rc = t.ops->blob_get(&t, &bd, FAKE_BLOB, buf_sink, &got, NULL, &err);
	is_int(rc, 0, "a download cut halfway resumes %s", err.msg);
	ok(got.len == FAKE_BLOB && memcmp(got.buf, blob, FAKE_BLOB) == 0, "with the right bytes");
	is_int(t.stats.bytes_downloaded, FAKE_BLOB, "counted once");
	{
		struct bento_hasher *h = bento_hasher_new();
		struct hashing_sink hs = { &got, h };

		bento_buf_reset(&got);
		rc = t.ops->blob_get(&t, &bd, FAKE_BLOB, hashing_sink, &hs, h, &err);
		ok(rc == 0 && got.len == FAKE_BLOB && memcmp(got.buf, blob, FAKE_BLOB) == 0,
		   "a sink that hashes itself: the cut download resumes and checks out %s", err.msg);
		hs.h = NULL;
		bento_buf_reset(&got);
		rc = t.ops->blob_get(&t, &bd, FAKE_BLOB, hashing_sink, &hs, h, &err);
		ok(rc == -BENTO_E_VERIFY && strstr(err.msg, "digest mismatch"),
		   "the digest is the sink's: one that hashes nothing fails: %s", err.msg);
		bento_hasher_free(h);
	}
	tclose(&t);

	ok(bento_dockercfg_set(cfg, f->host, "bob", "hunter2", &err) == 0, "credentials for the fake");
	topen(&t, f->host, "redir", cfg, &err);
	bento_buf_reset(&got);
	rc = t.ops->blob_get(&t, &bd, FAKE_BLOB, buf_sink, &got, NULL, &err);
	is_int(rc, 0, "a redirect to storage is followed %s", err.msg);
	ok(got.len == FAKE_BLOB && memcmp(got.buf, blob, FAKE_BLOB) == 0, "with the right bytes");
	tclose(&t);

	topen(&t, f->host, "bearer", cfg, &err);
	bento_buf_reset(&got);
	rc = t.ops->blob_get(&t, &bd, FAKE_BLOB, buf_sink, &got, NULL, &err);
	is_int(rc, 0, "Bearer: a token from the realm %s", err.msg);
	bento_buf_reset(&got);
	rc = t.ops->blob_get(&t, &bd, FAKE_BLOB, buf_sink, &got, NULL, &err);
	ok(rc == 0 && got.len == FAKE_BLOB, "again, with the cached token");
	tclose(&t);

	topen(&t, f->host, "huge", NULL, &err);
	rc = t.ops->manifest_get(&t, "v1", &got, NULL, NULL, &err);
	is_int(rc, -BENTO_E_VERIFY, "a 5 MiB manifest: VERIFY");
	ok(strstr(err.msg, "manifest larger than 4 MiB") != NULL, "message: %s", err.msg);
	tclose(&t);

	topen(&t, f->host, "upl", NULL, &err);
	rc = t.ops->blob_put(&t, &su, NULL, &err);
	is_int(rc, 0, "an upload cut mid-PATCH resumes %s", err.msg);
	ok(t.stats.retries >= 1 && t.stats.blobs_uploaded == 1, "after %llu retries",
	   (unsigned long long)t.stats.retries);
	tclose(&t);

	log = slurp(f->log, NULL);
	ok(log && strstr(log, "GET /v2/drop/blobs/") && strstr(log, "range=524288"),
	   "the resumed download asked for Range: bytes=524288-");
	ok(log && strstr(log, "auth=1") && strstr(log, "GET /storage/blob auth=0"),
	   "Authorization went to the registry but not to the storage host");
	ok(log && strstr(log, "GET /v2/upl/blobs/uploads/u1?state=a"),
	   "the upload status was asked at the relative Location, query kept");
	{
		const char *st = log ? strstr(log, "GET /v2/upl/blobs/uploads/u1") : NULL;
		ok(st && !strstr(st, "POST /v2/upl/"), "after the status, the upload resumed in its session, not restarted");
		ok(log && strstr(log, "PATCH /v2/upl/blobs/uploads/u1?state=b"), "from the status' Location");
	}
	{
		const char *p = log;
		int n = 0;
		while (p && (p = strstr(p, "GET /token?"))) {
			n++;
			p++;
		}
		is_int(n, 1, "one token fetched and cached");
		ok(log && strstr(log, "GET /token?service=fake&scope=repository%3Abearer%3Apull auth=1"),
		   "for the service and scope, with the credentials");
		p = log ? strstr(log, "GET /v2/bearer/") : NULL;
		ok(p && strstr(p, "GET /v2/bearer/blobs/sha256:9da771891d47d17e05601631ba92b11ae022aba454d22aaaa89a30e54fe5dc81 auth=1"),
		   "the blob asked for with the token");
	}
	if (log && !strstr(log, "GET /storage/blob auth=0"))
		printf("# %s\n", log);
	free(log);
	free(cfg);
	free(blob);
	free(up);
	bento_buf_release(&got);
}

/* ---- what a registry sends: the pure parsers of registry_internal.h ---- */

static void test_url_check(void)
{
	static const struct {
		const char *base, *from, *ref, *want;	/* want: the URL, or "!" + a piece of why */
	} cases[] = {
		/* relative and absolute Locations on the registry itself */
		{ "http://127.0.0.1:5000", "http://127.0.0.1:5000/v2/a/blobs/uploads/", "/v2/a/blobs/uploads/u1?s=1",
		  "http://127.0.0.1:5000/v2/a/blobs/uploads/u1?s=1" },
		{ "http://127.0.0.1:5000", "http://127.0.0.1:5000/v2/a/blobs/uploads/u1?s=1", "?s=2",
		  "http://127.0.0.1:5000/v2/a/blobs/uploads/u1?s=2" },
		{ "https://reg.example", "https://reg.example/v2/a/blobs/x", "//cdn.example/b?sig=1#frag",
		  "https://cdn.example/b?sig=1" },
		{ "https://reg.example", "https://reg.example/v2/", "HTTPS://Storage.Example/b", "https://Storage.Example/b" },
		/* schemes other than http(s) */
		{ "http://127.0.0.1:5000", "http://127.0.0.1:5000/v2/", "file:///etc/passwd", "!not http or https" },
		{ "http://127.0.0.1:5000", "http://127.0.0.1:5000/v2/", "FILE:///tmp/x", "!not http or https" },
		{ "http://127.0.0.1:5000", "http://127.0.0.1:5000/v2/", "gopher://127.0.0.1:70/_x", "!not http or https" },
		{ "http://127.0.0.1:5000", "http://127.0.0.1:5000/v2/", "dict://127.0.0.1:11211/x", "!not http or https" },
		{ "http://127.0.0.1:5000", "http://127.0.0.1:5000/v2/", "ftp://127.0.0.1/x", "!not http or https" },
		{ "http://127.0.0.1:5000", "http://127.0.0.1:5000/v2/", "ldap://x/", "!not http or https" },
		{ "http://127.0.0.1:5000", "http://127.0.0.1:5000/v2/", "javascript:alert(1)", "!" },
		/* user and password */
		{ "http://127.0.0.1:5000", "http://127.0.0.1:5000/v2/", "http://u:p@127.0.0.1:5000/x", "!user name or password" },
		{ "http://127.0.0.1:5000", "http://127.0.0.1:5000/v2/", "http://u@127.0.0.1:5000/x", "!user name or password" },
		{ "http://127.0.0.1:5000", "http://127.0.0.1:5000/v2/", "http://:p@h/x", "!user name or password" },
		{ "http://127.0.0.1:5000", "http://127.0.0.1:5000/v2/", "//good%2f@evil/x", "!user name or password" },
		/* downgrades: only to loopback */
		{ "https://reg.example", "https://reg.example/v2/", "http://storage.example/b", "!from https to plain http" },
		{ "https://reg.example", "https://reg.example/v2/", "HTTP://reg.example/b", "!from https to plain http" },
		{ "http://127.0.0.1:5000", "https://cdn.example/b", "http://other.example/b", "!from https to plain http" },
		{ "https://reg.example", "https://reg.example/v2/", "http://127.0.0.1:9000/b", "http://127.0.0.1:9000/b" },
		{ "https://reg.example", "https://reg.example/v2/", "http://2130706433:9000/b", "http://127.0.0.1:9000/b" },
		{ "https://reg.example", "https://reg.example/v2/", "http://localhost:9000/b", "http://localhost:9000/b" },
		{ "https://reg.example", "https://reg.example/v2/", "http://[::1]:9000/b", "http://[::1]:9000/b" },
		{ "http://reg.example", "http://reg.example/v2/", "http://storage.example/b", "http://storage.example/b" },
		/* link-local and unspecified addresses, but the registry's own */
		{ "https://reg.example", "https://reg.example/v2/", "https://169.254.169.254/latest/", "!link-local" },
		{ "https://reg.example", "https://reg.example/v2/", "https://2852039166/latest/", "!link-local" },
		{ "https://reg.example", "https://reg.example/v2/", "https://[fe80::1]/x", "!link-local" },
		{ "https://reg.example", "https://reg.example/v2/", "https://[::ffff:169.254.169.254]/x", "!link-local" },
		{ "https://reg.example", "https://reg.example/v2/", "https://0.0.0.0:5000/x", "!link-local" },
		{ "https://reg.example", "https://reg.example/v2/", "https://[::]/x", "!link-local" },
		{ "http://169.254.1.1:5000", "http://169.254.1.1:5000/v2/", "/v2/x", "http://169.254.1.1:5000/v2/x" },
		/* malformed */
		{ "http://127.0.0.1:5000", "http://127.0.0.1:5000/v2/", "", "!empty" },
		{ "http://127.0.0.1:5000", "http://127.0.0.1:5000/v2/", "http://a b/", "!not a valid URL" },
		{ "http://127.0.0.1:5000", "http://127.0.0.1:5000/v2/", "http://h:99999/", "!not a valid URL" },
		{ "http://127.0.0.1:5000", "http://127.0.0.1:5000/v2/", "http://h/\r\nX: y", "!not a valid URL" },
	};
	struct bento_buf lng = BENTO_BUF_INIT;
	char *out;
	const char *why;
	size_t i;
	int rc;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char shown[128];
		size_t k;

		for (k = 0; cases[i].ref[k] && k + 1 < sizeof(shown); k++)
			shown[k] = (unsigned char)cases[i].ref[k] < 0x20 ? '?' : cases[i].ref[k];
		shown[k] = '\0';
		out = NULL;
		why = "";
		rc = bento_registry_url_check(cases[i].base, cases[i].from, cases[i].ref, &out, &why);
		if (cases[i].want[0] == '!')
			ok(rc == -1 && !out && strstr(why, cases[i].want + 1),
			   "url check refuses '%s' from %s: %s", shown, cases[i].base, why);
		else
			ok(rc == 0 && out && strcmp(out, cases[i].want) == 0,
			   "url check takes '%s' from %s: %s", shown, cases[i].base, out ? out : why);
		free(out);
	}
	bento_buf_adds(&lng, "http://127.0.0.1:5000/");
	while (lng.len <= BENTO_URL_MAX)
		bento_buf_adds(&lng, "aaaaaaaaaaaaaaaa");
	out = NULL;
	rc = bento_registry_url_check("http://127.0.0.1:5000", "http://127.0.0.1:5000/v2/", lng.buf, &out, &why);
	ok(rc == -1 && !out && strstr(why, "longer than 8192"), "a URL over 8 KiB is refused: %s", why);
	bento_buf_release(&lng);

	ok(bento_registry_same_origin("http://h:80", "http://h/x"), "same origin: the default port");
	ok(bento_registry_same_origin("https://Reg.Example", "https://reg.example:443/v2/"), "same origin: host case");
	ok(!bento_registry_same_origin("http://h:5000", "http://h:5001/x"), "another port is another origin");
	ok(!bento_registry_same_origin("http://h", "https://h/x"), "another scheme is another origin");
	ok(!bento_registry_same_origin("http://127.0.0.1:5000", "http://127.0.0.1:5000@evil.example/x"),
	   "a user name that looks like the registry is not it");
	ok(!bento_registry_same_origin("http://127.0.0.1:5000", "http://127.0.0.1:50001/x"),
	   "a port with the registry's as prefix is not it");
	ok(bento_registry_url_is_loopback("http://127.3.4.5:1/") && bento_registry_url_is_loopback("http://localhost/") &&
	   !bento_registry_url_is_loopback("http://a.localhost/") && bento_registry_url_is_loopback("http://[::1]/") &&
	   bento_registry_url_is_loopback("http://LocalHost:5000/") && bento_registry_url_is_loopback("http://127.1/") &&
	   !bento_registry_url_is_loopback("http://vm/") && !bento_registry_url_is_loopback("http://128.0.0.1/"),
	   "loopback hosts");
}

static void test_challenges(void)
{
	static const struct {
		const char *in;
		int scheme;		/* -1: refused */
		const char *realm, *service;
	} cases[] = {
		{ "Bearer realm=\"https://auth.example/token\",service=\"reg.example\",scope=\"repository:a:pull\"",
		  BENTO_AUTH_BEARER, "https://auth.example/token", "reg.example" },
		{ "Basic realm=\"Registry Realm\"", BENTO_AUTH_BASIC, "Registry Realm", NULL },
		{ "basic REALM=x", BENTO_AUTH_BASIC, "x", NULL },
		{ "Basic realm=\"r\", Bearer realm=\"https://a/t\"", BENTO_AUTH_BEARER, "https://a/t", NULL },
		{ "Bearer realm=\"https://a/t\", Basic realm=\"r\"", BENTO_AUTH_BEARER, "https://a/t", NULL },
		{ "Bearer realm=\"a\\\"b\\\\c\"", BENTO_AUTH_BEARER, "a\"b\\c", NULL },
		{ "Bearer service=\"s\" , realm = \"r\"", BENTO_AUTH_BEARER, "r", "s" },
		{ "Bearer service=\"x,realm=evil\",realm=\"good\"", BENTO_AUTH_BEARER, "good", "x,realm=evil" },
		{ "Bearer error=\"invalid_token\", realm=\"r\"", BENTO_AUTH_BEARER, "r", NULL },
		{ "Negotiate abc==, Basic realm=\"x\"", BENTO_AUTH_BASIC, "x", NULL },
		{ "Basic dXNlcjpwYXNz, Bearer realm=\"r\"", BENTO_AUTH_BEARER, "r", NULL },
		{ "Bearer", BENTO_AUTH_BEARER, NULL, NULL },
		{ "Negotiate", -1, NULL, NULL },
		{ "", -1, NULL, NULL },
		{ "Bearer realm=\"r\", realm=\"evil\"", -1, NULL, NULL },
		{ "Bearer realm=\"unterminated", -1, NULL, NULL },
		{ "Bearer realm=https://x/t", -1, NULL, NULL },
		{ "realm=\"r\", Bearer", -1, NULL, NULL },
		{ "Bearer realm=\"r\" Basic realm=\"x\"", -1, NULL, NULL },
		{ "Bearer realm=", BENTO_AUTH_BEARER, NULL, NULL },	/* a token68, not a realm */
		{ "=x", -1, NULL, NULL },
	};
	struct bento_http_challenge c;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = bento_http_challenge_parse(cases[i].in, &c);
		if (cases[i].scheme < 0)
			ok(rc == -1 && c.scheme == BENTO_AUTH_NONE && !c.realm, "challenge [%s] refused", cases[i].in);
		else
			ok(rc == 0 && (int)c.scheme == cases[i].scheme &&
			   (cases[i].realm ? c.realm && strcmp(c.realm, cases[i].realm) == 0 : !c.realm) &&
			   (cases[i].service ? c.service && strcmp(c.service, cases[i].service) == 0 : !c.service),
			   "challenge [%s]: scheme %d realm [%s] service [%s]", cases[i].in, (int)c.scheme,
			   c.realm ? c.realm : "", c.service ? c.service : "");
		bento_http_challenge_release(&c);
	}
}

static void test_token_answers(void)
{
	static const struct {
		const char *body, *token;	/* token NULL: refused */
		long long expires;
	} cases[] = {
		{ "{\"token\":\"abc.DEF-_~+/=\"}", "abc.DEF-_~+/=", 60 },
		{ "{\"access_token\":\"x\",\"expires_in\":300}", "x", 300 },
		{ "{\"token\":\"\",\"access_token\":\"y\"}", "y", 60 },
		{ "{\"token\":\"t\",\"expires_in\":99999999999}", "t", 86400 },
		{ "{\"token\":\"t\",\"expires_in\":-5}", "t", 60 },
		{ "{\"token\":\"t\",\"expires_in\":\"300\"}", "t", 60 },
		{ "{\"token\":\"a b\"}", NULL, 0 },
		{ "{\"token\":\"a\\r\\nX-Injected: 1\"}", NULL, 0 },
		{ "{\"token\":\"caf\\u00e9\"}", NULL, 0 },
		{ "{\"token\":\"a\\u0000b\"}", NULL, 0 },
		{ "{\"token\":7}", NULL, 0 },
		{ "{\"expires_in\":10}", NULL, 0 },
		{ "[\"token\"]", NULL, 0 },
		{ "{\"token\":\"t\",\"token\":\"u\"}", NULL, 0 },
		{ "{\"token\":\"t\"", NULL, 0 },
		{ "", NULL, 0 },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *tok = NULL;
		long long exp = -1;
		const char *why = "";
		int rc = bento_registry_token_parse(cases[i].body, strlen(cases[i].body), &tok, &exp, &why);
		if (cases[i].token)
			ok(rc == 0 && tok && strcmp(tok, cases[i].token) == 0 && exp == cases[i].expires,
			   "token answer %s: [%s] for %lld s", cases[i].body, tok ? tok : why, exp);
		else
			ok(rc == -1 && !tok && *why, "token answer %s refused: %s", cases[i].body, why);
		free(tok);
	}
	{
		struct bento_buf b = BENTO_BUF_INIT;
		char *tok = NULL;
		long long exp;
		const char *why = "";
		bento_buf_adds(&b, "{\"token\":\"");
		while (b.len < 16400)
			bento_buf_addch(&b, 'a');
		bento_buf_adds(&b, "\"}");
		ok(bento_registry_token_parse(b.buf, b.len, &tok, &exp, &why) == -1 && !tok,
		   "a token over 16 KiB is refused: %s", why);
		bento_buf_release(&b);
	}
}

static void test_headers(void)
{
	struct bento_http_headers h;
	const time_t when = 1445412480;		/* Wed, 21 Oct 2015 07:28:00 GMT */
	uint64_t have = 0, x = 0;
	static const char nul_loc[] = "Location: http://a\0b/\r\n";

	bento_http_headers_init(&h);
	bento_http_header_line(&h, "Content-Length: 123\r\n", 21, when);
	is_int(h.content_length, 123, "Content-Length");
	bento_http_header_line(&h, "content-length:+5\r\n", 19, when);
	bento_http_header_line(&h, "Content-Length: -1\r\n", 20, when);
	bento_http_header_line(&h, "Content-Length: 99999999999999999999\r\n", 38, when);
	bento_http_header_line(&h, "Content-Length: 1 2\r\n", 21, when);
	bento_http_header_line(&h, "Content-Length: \r\n", 18, when);
	is_int(h.content_length, 123, "a signed, overflowing, split or empty Content-Length changes nothing");
	bento_http_header_line(&h, "Retry-After: 7\r\n", 16, when);
	is_int(h.retry_after, 7, "Retry-After in seconds");
	bento_http_header_line(&h, "Retry-After: Wed, 21 Oct 2015 07:28:10 GMT\r\n", 44, when);
	is_int(h.retry_after, 10, "Retry-After as an HTTP-date");
	bento_http_header_line(&h, "Retry-After: Tue, 20 Oct 2015 07:28:10 GMT\r\n", 44, when);
	is_int(h.retry_after, 0, "a date in the past: now");
	bento_http_header_line(&h, "Retry-After: soon\r\n", 19, when);
	is_int(h.retry_after, 0, "nonsense changes nothing");
	bento_http_header_line(&h, "location:  /v2/x?a=1  \r\n", 24, when);
	is_str(h.location, "/v2/x?a=1", "Location, blanks trimmed, any case");
	bento_http_header_line(&h, nul_loc, sizeof(nul_loc) - 1, when);
	is_str(h.location, "/v2/x?a=1", "a Location with a NUL byte does not count");
	bento_http_header_line(&h, "Location: http://a\rb/\r\n", 23, when);
	is_str(h.location, "/v2/x?a=1", "nor one with a CR");
	bento_http_header_line(&h, "Locationx: /y\r\n", 15, when);
	bento_http_header_line(&h, "Location /y\r\n", 13, when);
	is_str(h.location, "/v2/x?a=1", "other names do not count");
	bento_http_header_line(&h, "WWW-Authenticate: Basic realm=\"a\"\r\n", 35, when);
	bento_http_header_line(&h, "WWW-Authenticate: Bearer realm=\"b\"\r\n", 36, when);
	is_str(h.www_auth, "Basic realm=\"a\", Bearer realm=\"b\"", "challenges from several headers, joined");
	bento_http_headers_release(&h);
	is_int(h.content_length, -1, "released: init again");

	ok(bento_http_range_parse("0-99", &have) == 0 && have == 100, "Range 0-99: 100 bytes");
	ok(bento_http_range_parse("bytes=0-0", &have) == 0 && have == 1, "Range bytes=0-0: 1");
	ok(bento_http_range_parse("5-9", &have) == -1, "a Range not from 0 is refused");
	ok(bento_http_range_parse("0-", &have) == -1 && bento_http_range_parse("-9", &have) == -1 &&
	   bento_http_range_parse("0-18446744073709551615", &have) == -1 &&
	   bento_http_range_parse("0-9223372036854775807", &have) == -1 &&
	   bento_http_range_parse("0--9", &have) == -1 && bento_http_range_parse("0-+9", &have) == -1 &&
	   bento_http_range_parse("00000000000000000000000-9", &have) == -1,
	   "malformed or overflowing Ranges are refused");
	ok(bento_http_parse_uint("18446744073709551615", UINT64_MAX, &x) == 0 && x == UINT64_MAX &&
	   bento_http_parse_uint("18446744073709551616", UINT64_MAX, &x) == -1 &&
	   bento_http_parse_uint("11", 10, &x) == -1 && bento_http_parse_uint("10", 10, &x) == 0,
	   "decimal values up to their maximum");
}

/* The curl handles themselves speak http and https only (defence in depth). */
static void test_curl_restricted(struct fake *f)
{
	CURL *c = curl_easy_init();
	char *url = bento_xasprintf("http://%s/tofile", f->host);
	char *path = path_in(base, "curl-wrote");
	FILE *out;
	CURLcode cc;

	bento_registry_curl_restrict(c);
	curl_easy_setopt(c, CURLOPT_URL, "file:///etc/hostname");
	cc = curl_easy_perform(c);
	is_int(cc, CURLE_UNSUPPORTED_PROTOCOL, "a restricted handle does not read file:// (%s)", curl_easy_strerror(cc));
	curl_easy_setopt(c, CURLOPT_URL, "gopher://127.0.0.1:1/");
	cc = curl_easy_perform(c);
	is_int(cc, CURLE_UNSUPPORTED_PROTOCOL, "nor speak gopher://");
	/* Even told to follow a redirect to file://, it does not. */
	out = fopen(path, "w");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
	cc = curl_easy_perform(c);
	fclose(out);
	is_int(cc, CURLE_UNSUPPORTED_PROTOCOL, "a redirect to file:// is not followed (%s)", curl_easy_strerror(cc));
	{
		struct stat st;
		ok(stat(path, &st) == 0 && st.st_size == 0, "nothing of the local file was read");
	}
	curl_easy_cleanup(c);
	free(path);
	free(url);
}

/* ---- config.json ---- */

static void test_dockercfg(void)
{
	struct bento_error err = { 0 };
	char *dir = path_in(base, "cfg"), *p = path_in(base, "cfg/config.json"), *text, *u = NULL, *pw = NULL;
	struct stat st;
	json_t *root;
	int rc;

	mkdir(dir, 0700);
	rc = bento_dockercfg_get(p, "r.example", &u, &pw, &err);
	is_int(rc, -BENTO_E_NOTFOUND, "no file: NOTFOUND");
	text = "{\"auths\":{\"other.io\":{\"auth\":\"eDp5\"},\"https://index.docker.io/v1/\":{\"auth\":\"aHViOnB3\"}},"
	       "\"credHelpers\":{\"gcr.io\":\"gcloud\"},\"proxies\":{\"default\":{\"httpProxy\":\"http://p\"}}}";
	write_file(p, text, strlen(text));
	rc = bento_dockercfg_set(p, "r.example:5000", "ann", "pa:ss", &err);
	is_int(rc, 0, "set %s", err.msg);
	ok(stat(p, &st) == 0 && (st.st_mode & 0777) == 0600, "the file is 0600");
	rc = bento_dockercfg_get(p, "r.example:5000", &u, &pw, &err);
	ok(rc == 0 && u && pw && strcmp(u, "ann") == 0 && strcmp(pw, "pa:ss") == 0, "get it back (':' in the password)");
	free(u);
	free(pw);
	u = pw = NULL;
	text = slurp(p, NULL);
	root = text ? json_loads(text, 0, NULL) : NULL;
	ok(root && json_is_object(json_object_get(root, "credHelpers")) &&
	   json_object_get(json_object_get(root, "proxies"), "default") &&
	   json_object_get(json_object_get(root, "auths"), "other.io"), "other keys are kept");
	json_decref(root);
	free(text);
	rc = bento_dockercfg_get(p, "registry-1.docker.io", &u, &pw, &err);
	ok(rc == 0 && strcmp(u, "hub") == 0 && strcmp(pw, "pw") == 0, "Docker Hub under its index URL");
	free(u);
	free(pw);
	u = pw = NULL;
	rc = bento_dockercfg_get(p, "r.example", &u, &pw, &err);
	is_int(rc, -BENTO_E_NOTFOUND, "another port is another registry");
	is_int(bento_dockercfg_remove(p, "r.example:5000", &err), 0, "remove");
	is_int(bento_dockercfg_get(p, "r.example:5000", &u, &pw, &err), -BENTO_E_NOTFOUND, "gone");
	is_int(bento_dockercfg_remove(p, "r.example:5000", &err), -BENTO_E_NOTFOUND, "remove again: NOTFOUND");
	text = slurp(p, NULL);
	ok(text && strstr(text, "other.io") && strstr(text, "credHelpers"), "the rest stays");
	free(text);
	is_int(bento_dockercfg_set(p, "h", "a:b", "x", &err), -BENTO_E_USAGE, "':' in the user is refused");
	is_int(bento_dockercfg_set(p, "h", "a", "", &err), -BENTO_E_USAGE, "an empty password is refused");
	text = "{\"auths\":{\"bad.io\":{\"auth\":\"!!notbase64secret\"}}}";
	write_file(p, text, strlen(text));
	rc = bento_dockercfg_get(p, "bad.io", &u, &pw, &err);
	ok(rc == -BENTO_E_INVALID && !strstr(err.msg, "secret"), "a malformed auth: INVALID, secret not shown: %s", err.msg);
	text = "{\"auths\": {\"x\": \"topsecret";
	write_file(p, text, strlen(text));
	rc = bento_dockercfg_get(p, "x", &u, &pw, &err);
	ok(rc == -BENTO_E_INVALID && !strstr(err.msg, "topsecret"), "malformed JSON: INVALID, text not quoted: %s", err.msg);
	{
		/* the pure parts: config.json's text, what it says for a host, a helper's answer */
		static const struct {
			const char *text, *host;
			int rc;			/* 0 creds, 1 helper, else -BENTO_E_* */
			const char *what;	/* "user:pass" or the helper's name */
		} cases[] = {
			{ "{\"auths\":{\"h\":{\"auth\":\"dTpw\"}}}", "h", 0, "u:p" },
			{ "{\"auths\":{\"https://h/v1/\":{\"username\":\"a\",\"password\":\"b\"}}}", "h", 0, "a:b" },
			{ "{\"credHelpers\":{\"h\":\"pass\"},\"auths\":{\"h\":{\"auth\":\"dTpw\"}}}", "h", 1, "pass" },
			{ "{\"credsStore\":\"desktop\",\"auths\":{\"h\":{\"auth\":\"dTpw\"}}}", "h", 0, "u:p" },
			{ "{\"credsStore\":\"desktop\",\"auths\":{\"h\":{}}}", "h", 1, "desktop" },
			{ "{\"credHelpers\":{\"h\":\"../../bin/sh\"}}", "h", -BENTO_E_INVALID, NULL },
			{ "{\"credsStore\":\".hidden\"}", "h", -BENTO_E_INVALID, NULL },
			{ "{\"credHelpers\":{\"h\":\"\"}}", "h", -BENTO_E_INVALID, NULL },
			{ "{\"auths\":{\"h\":{\"auth\":\"dTpwAA==\"}}}", "h", -BENTO_E_INVALID, NULL },
			{ "{\"auths\":{\"h\":{\"auth\":\"bm9jb2xvbg==\"}}}", "h", -BENTO_E_INVALID, NULL },
			{ "{\"auths\":{\"h\":{\"auth\":7}}}", "h", -BENTO_E_NOTFOUND, NULL },
			{ "{\"auths\":[1]}", "h", -BENTO_E_NOTFOUND, NULL },
			{ "{\"auths\":{\"hx\":{\"auth\":\"dTpw\"}}}", "h", -BENTO_E_NOTFOUND, NULL },
			{ "", "h", -BENTO_E_NOTFOUND, NULL },
		};
		size_t i;

		for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			json_t *r = NULL;
			const char *helper = NULL;
			char got[256] = "";
			u = pw = NULL;
			rc = bento_dockercfg_parse("cfg", cases[i].text, strlen(cases[i].text), &r, &err);
			if (rc == 0)
				rc = bento_dockercfg_lookup(r, "cfg", cases[i].host, &helper, &u, &pw, &err);
			if (rc == 0)
				snprintf(got, sizeof(got), "%s:%s", u, pw);
			else if (rc == 1)
				snprintf(got, sizeof(got), "%s", helper);
			ok(rc == cases[i].rc && (!cases[i].what || strcmp(got, cases[i].what) == 0),
			   "config %s for %s: %d [%s] %s", cases[i].text, cases[i].host, rc, got,
			   rc < 0 ? err.msg : "");
			free(u);
			free(pw);
			json_decref(r);
		}
		ok(bento_dockercfg_parse("cfg", "{\"a\":1,\"a\":2}", 13, &root, &err) == -BENTO_E_INVALID &&
		   bento_dockercfg_parse("cfg", "[]", 2, &root, &err) == -BENTO_E_INVALID,
		   "duplicate keys and non-objects are refused");
		u = pw = NULL;
		ok(bento_dockercfg_helper_answer("{\"Username\":\"a\",\"Secret\":\"s\"}", 29, &u, &pw) == 0 &&
		   strcmp(u, "a") == 0 && strcmp(pw, "s") == 0, "a helper's answer");
		free(u);
		free(pw);
		ok(bento_dockercfg_helper_answer("{\"Username\":\"a\"}", 16, &u, &pw) == -1 &&
		   bento_dockercfg_helper_answer("[\"Username\"]", 12, &u, &pw) == -1 &&
		   bento_dockercfg_helper_answer("{\"Username\":1,\"Secret\":\"s\"}", 26, &u, &pw) == -1 &&
		   bento_dockercfg_helper_answer("", 0, &u, &pw) == -1, "malformed helper answers are refused");
	}
	free(p);
	free(dir);
}

int main(void)
{
	struct registry g = { 0 }, ga = { 0 };
	struct fake f = { 0 };
	char *cmd;

	base = mkdtemp(tmpl);
	if (!base) {
		perror("mkdtemp");
		return 1;
	}
	test_url_check();
	test_challenges();
	test_token_answers();
	test_headers();
	test_dockercfg();
	if (access(REGISTRY_BIN, X_OK) != 0) {
		ok(1, "# SKIP %s not installed", REGISTRY_BIN);
	} else {
		if (ok(registry_start(&g, "reg", 0), "docker-registry started on 127.0.0.1:%d", g.port))
			test_blobs_and_manifests(&g);
		registry_stop(&g);
		if (ok(registry_start(&ga, "reg-auth", 1), "docker-registry with htpasswd started"))
			test_basic_auth(&ga);
		registry_stop(&ga);
	}
	if (ok(fake_start(&f), "fake registry started")) {
		test_faults(&f);
		test_curl_restricted(&f);
	}
	fake_stop(&f);
	if (getenv("KEEP")) printf("# kept %s\n", base); else {
	cmd = bento_xasprintf("rm -rf %s", base);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", base);
	free(cmd);
	}
	return tap_done();
}
