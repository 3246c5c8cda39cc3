/*
 * registry.c - the OCI distribution spec over libcurl: one easy handle per
 * session (keep-alive), anonymous/Basic/Bearer auth with credentials from
 * Docker's config.json, retries with backoff, chunked resumable uploads and
 * resumable verified downloads, each request and each blob transfer within
 * a deadline.  Redirects are followed by hand, and every URL the registry
 * hands over (a redirect, an upload session, the Bearer realm) passes the
 * one check of registry_internal.h first; Authorization only ever goes to
 * the registry's own origin, and the registry's credentials to the realm
 * its challenge names only as bento-registry(5) says.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>

#include "buf.h"
#include "cjson.h"
#include "dockercfg.h"
#include "registry_internal.h"
#include "target_internal.h"

#define CHUNK_SIZE (16u << 20)		/* monolithic below, PATCH chunks of this above */
#define MAX_ATTEMPTS 5
#define BACKOFF_BASE_MS 100
#define BACKOFF_CAP_MS 5000
#define RETRY_AFTER_CAP_S 30
#define MAX_REDIRECTS 5
#define ERRBODY_MAX (64u << 10)		/* what is kept of an error response */
#define TOKEN_MAX (1u << 20)
#define CONNECT_TIMEOUT_MS 30000

/* The knobs of bento-registry(5), TIMEOUTS: environment, these defaults. */
#define ENV_TIMEOUT "BENTO_REGISTRY_TIMEOUT"
#define ENV_STALL "BENTO_REGISTRY_STALL"
#define ENV_MIN_RATE "BENTO_REGISTRY_MIN_RATE"
#define DEFAULT_TIMEOUT_S 60.0
#define DEFAULT_STALL_S 30.0
#define DEFAULT_MIN_RATE (64.0 * 1024)
#define KNOB_MAX 1e9

struct token {
	struct token *next;
	char *scope;
	char *value;
	time_t expires;
};

struct reg {
	CURL *curl;
	char *base;		/* "https://host" */
	char *name;		/* "host/repo", for messages */
	enum bento_auth_scheme scheme;
	char *realm, *service;	/* Bearer; realm checked */
	int realm_creds;	/* the realm may have the credentials */
	int creds_loaded;
	int fresh_connect;	/* the last transfer broke: do not reuse its connection */
	char *user, *pass;
	char cred_err[256];	/* why config.json gave none (a helper failed), for messages */
	struct token *tokens;
	int referrers_api;	/* -1 unknown, 0 absent, 1 present */
	char curl_errbuf[CURL_ERROR_SIZE];
	/* deadlines */
	double timeout_s;	/* a request, all its attempts included */
	double stall_s;		/* no byte for this long: the connection is dead */
	double min_rate;	/* bytes/s a blob transfer must average */
	/* progress */
	int progress;
	struct timespec last_draw;
};

/* What a response told us; headers of the final response only. */
struct resp {
	long status;
	struct bento_http_headers h;
	struct bento_buf body;		/* error bodies, manifests, tokens */
};

/* A request body: memory or a blob source window [off, end). */
struct body {
	const void *mem;
	const struct bento_blob_source *src;
	uint64_t start, off, end;
	int failed;
	struct bento_error err;
};

/* Where a 2xx body goes when streamed. */
struct stream {
	bento_sink_fn sink;
	void *ctx;
	struct bento_hasher *h;
	int sink_hashes;		/* the sink feeds h itself */
	uint64_t got, max, skip;
	uint64_t resume;		/* the offset asked for with Range */
	int failed, too_big;
	struct bento_error err;
	const char *label;		/* progress */
	uint64_t total;
};

/*
 * When a request must be done: a small one (manifest, token, HEAD, POST)
 * within BENTO_REGISTRY_TIMEOUT of its start, a blob transfer within that
 * plus its size at BENTO_REGISTRY_MIN_RATE, every attempt, resume and
 * backoff included.  In milliseconds of CLOCK_MONOTONIC.
 */
struct deadline {
	int64_t start, end;
	uint64_t size;			/* a blob transfer's bytes; 0 for a small request */
};

struct req {
	const char *method;	/* GET HEAD PUT POST PATCH */
	const char *url;
	const char *scope;	/* space-separated token scopes */
	const char *what;	/* "PUT blob upload", for messages */
	struct curl_slist *headers;
	struct body *body;	/* PUT/PATCH; NULL: empty */
	size_t body_cap;	/* keep at most this much of a 2xx body (0: ERRBODY_MAX) */
	int cap_is_error;	/* a bigger 2xx body fails the request (manifests) */
	struct stream *stream;	/* 2xx bodies go here instead */
	int no_retry;		/* the caller handles connection errors and 5xx */
	int follow;		/* follow redirects (GET/HEAD) */
	int token;		/* to the token realm: its rules for credentials, no auth of its own */
	const struct deadline *deadline;	/* NULL: a small request's, from its start */
	int conn_failed;	/* out: the failure was the connection (worth resuming) */
	int timed_out;		/* out: the deadline passed */
};

static struct reg *R(struct bento_target *t)
{
	return t->impl;
}

static void resp_init(struct resp *rs)
{
	rs->status = 0;
	bento_http_headers_init(&rs->h);
	bento_buf_init(&rs->body);
}

static void resp_release(struct resp *rs)
{
	bento_http_headers_release(&rs->h);
	bento_buf_release(&rs->body);
	resp_init(rs);
}

/* ---- progress ---- */

static void human(uint64_t n, char *out, size_t sz)
{
	if (n >= (1ull << 30))
		snprintf(out, sz, "%.1f GiB", (double)n / (1ull << 30));
	else if (n >= (1ull << 20))
		snprintf(out, sz, "%" PRIu64 " MiB", n >> 20);
	else if (n >= 1024)
		snprintf(out, sz, "%" PRIu64 " KiB", n >> 10);
	else
		snprintf(out, sz, "%" PRIu64 " B", n);
}

static void progress_draw(struct reg *r, const char *label, uint64_t done, uint64_t total, int last)
{
	struct timespec now;
	char a[32], b[32];

	if (!r->progress || !label)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (!last && (now.tv_sec - r->last_draw.tv_sec) * 1000 +
		     (now.tv_nsec - r->last_draw.tv_nsec) / 1000000 < 100)
		return;
	r->last_draw = now;
	human(done, a, sizeof(a));
	human(total, b, sizeof(b));
	fprintf(stderr, "\r%.19s… %s / %s\033[K%s", label, a, b, last ? "\n" : "");
}

/* ---- curl callbacks ---- */

static size_t read_cb(char *buf, size_t size, size_t nitems, void *arg)
{
	struct body *b = arg;
	size_t n = size * nitems;
	ssize_t got;

	if (b->off >= b->end)
		return 0;
	if (n > b->end - b->off)
		n = (size_t)(b->end - b->off);
	if (b->mem) {
		memcpy(buf, (const char *)b->mem + b->off, n);
		b->off += n;
		return n;
	}
	got = b->src->read(b->src->ctx, b->off, buf, n, &b->err);
	if (got <= 0) {
		if (got == 0)
			bento_error_set(&b->err, BENTO_E_FAIL, "blob source ended at byte %" PRIu64
					" of %" PRIu64, b->off, b->end);
		b->failed = got < 0 ? (int)got : -BENTO_E_FAIL;
		return CURL_READFUNC_ABORT;
	}
	b->off += (uint64_t)got;
	return (size_t)got;
}

/* curl rewinds when it has to resend on a fresh connection. */
static int seek_cb(void *arg, curl_off_t offset, int origin)
{
	struct body *b = arg;

	if (origin != SEEK_SET || offset < 0)
		return CURL_SEEKFUNC_CANTSEEK;
	b->off = b->start + (uint64_t)offset;
	return CURL_SEEKFUNC_OK;
}

struct cbctx {
	struct resp *rs;
	struct req *rq;
	struct reg *r;
};

static size_t header_cb(char *p, size_t size, size_t nitems, void *arg)
{
	struct cbctx *c = arg;
	struct resp *rs = c->rs;
	size_t n = size * nitems;

	if (n >= 5 && strncmp(p, "HTTP/", 5) == 0) {
		/* A new response (after a 100 Continue): forget the last one's headers. */
		bento_http_headers_release(&rs->h);
		bento_buf_reset(&rs->body);
		return n;
	}
	bento_http_header_line(&rs->h, p, n, time(NULL));
	return n;
}

static size_t write_cb(char *p, size_t size, size_t nitems, void *arg)
{
	struct cbctx *c = arg;
	struct stream *s = c->rq->stream;
	size_t n = size * nitems;
	long status = 0;

	curl_easy_getinfo(c->r->curl, CURLINFO_RESPONSE_CODE, &status);
	if (s && (status == 200 || status == 206)) {
		if (s->resume) {
			if (status == 200)
				s->skip = s->resume;
			s->resume = 0;
		}
		if (s->skip) {
			size_t k = n < s->skip ? n : (size_t)s->skip;
			s->skip -= k;
			p += k;
			n -= k;
			if (n == 0)
				return size * nitems;
		}
		if (s->max && s->got + n > s->max) {
			s->too_big = 1;
			return 0;
		}
		if (!s->sink_hashes)
			bento_hasher_update(s->h, p, n);
		if (s->sink(s->ctx, p, n, &s->err) < 0) {
			s->failed = s->err.code ? s->err.code : -BENTO_E_FAIL;
			return 0;
		}
		s->got += n;
		progress_draw(c->r, s->label, s->got, s->total, 0);
		return size * nitems;
	}
	if (status >= 200 && status < 300 && c->rq->body_cap) {
		if (c->rs->body.len + n > c->rq->body_cap) {
			if (c->rq->cap_is_error)
				return 0;
			n = c->rq->body_cap - c->rs->body.len;
		}
	} else if (c->rs->body.len + n > ERRBODY_MAX) {
		n = ERRBODY_MAX - c->rs->body.len;
	}
	bento_buf_add(&c->rs->body, p, n);
	return size * nitems;
}

/* ---- helpers ---- */

/* "host[:port]" is loopback, by the rule of bento_registry_url_is_loopback. */
static int is_loopback(const char *host)
{
	char *url = bento_xasprintf("http://%s/", host);
	int yes = bento_registry_url_is_loopback(url);

	free(url);
	return yes;
}

/* What the server sent, fit for a message: printable ASCII, at most 200 bytes. */
static void printable(const char *p, size_t n, char *out, size_t sz)
{
	size_t i, k = 0;

	for (i = 0; i < n && k + 4 < sz && k < 200; i++) {
		unsigned char ch = (unsigned char)p[i];
		out[k++] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '?';
	}
	if (i < n && k + 4 <= sz) {
		memcpy(out + k, "...", 3);
		k += 3;
	}
	out[k] = '\0';
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A transfer of size bytes (0: a small request) starting now. */
static struct deadline deadline_for(const struct reg *r, uint64_t size)
{
	struct deadline d = { .start = now_ms(), .size = size };
	double s = r->timeout_s + (double)size / r->min_rate;

	d.end = d.start + (int64_t)(s > KNOB_MAX ? KNOB_MAX * 1000 : s * 1000);
	return d;
}

static int timed_out(struct bento_target *t, const struct req *rq, const struct deadline *d,
		     struct bento_error *err)
{
	struct reg *r = R(t);
	double s = (double)(d->end - d->start) / 1000;

	if (d->size)
		return bento_error_set(err, BENTO_E_NETWORK, "%s: %s: timed out: %" PRIu64 " bytes not done "
				       "within %.1f s (" ENV_TIMEOUT " %g s plus the size at "
				       ENV_MIN_RATE " %g bytes/s)", r->name, rq->what, d->size, s,
				       r->timeout_s, r->min_rate);
	return bento_error_set(err, BENTO_E_NETWORK, "%s: %s: timed out: no complete answer within "
			       "%.1f s (" ENV_TIMEOUT ")", r->name, rq->what, s);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/*
 * Wait before attempt+1 (doubling, or the Retry-After the registry asked
 * for).  0 after waiting; -1 without waiting when the wait would end past
 * the deadline d: then there is no point.
 */
static int backoff(struct bento_target *t, int attempt, long retry_after, const struct deadline *d)
{
	long ms = BACKOFF_BASE_MS << (attempt < 10 ? attempt : 10);

	if (ms > BACKOFF_CAP_MS)
		ms = BACKOFF_CAP_MS;
	if (retry_after >= 0)
		ms = (retry_after > RETRY_AFTER_CAP_S ? RETRY_AFTER_CAP_S : retry_after) * 1000L;
	if (d && now_ms() + ms >= d->end)
		return -1;
	t->stats.retries++;
	sleep_ms(ms);
	return 0;
}

static int conn_error(CURLcode cc)
{
	switch (cc) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_PARTIAL_FILE:
	case CURLE_GOT_NOTHING:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_COULDNT_RESOLVE_HOST:
		return 1;
	default:
		return 0;
	}
}

static int retry_status(long s)
{
	return s == 429 || (s >= 500 && s <= 599);
}

/* "CODE: message" from an OCI error body, else a short printable excerpt. */
static void registry_error(const struct resp *rs, char *out, size_t sz)
{
	json_t *root, *errs, *e;
	size_t n;

	out[0] = '\0';
	root = json_loadb(rs->body.buf, rs->body.len, 0, NULL);
	errs = root ? json_object_get(root, "errors") : NULL;
	if (json_is_array(errs) && json_array_size(errs) > 0) {
		e = json_array_get(errs, 0);
		snprintf(out, sz, "%s: %s",
			 json_is_string(json_object_get(e, "code")) ?
			 json_string_value(json_object_get(e, "code")) : "?",
			 json_is_string(json_object_get(e, "message")) ?
			 json_string_value(json_object_get(e, "message")) : "");
	} else {
		printable(rs->body.buf, rs->body.len, out, sz);
		n = strlen(out);
		while (n > 0 && (out[n - 1] == ' ' || out[n - 1] == '?'))
			n--;
		out[n] = '\0';
	}
	json_decref(root);
}

static int http_error(struct bento_target *t, const struct req *rq, const struct resp *rs,
		      struct bento_error *err)
{
	char detail[512];

	registry_error(rs, detail, sizeof(detail));
	if (rs->status == 404)
		return bento_error_set(err, BENTO_E_NOTFOUND, "%s: %s: HTTP 404%s%s", R(t)->name, rq->what,
				       detail[0] ? ": " : "", detail);
	return bento_error_set(err, BENTO_E_NETWORK, "%s: %s: HTTP %ld%s%s", R(t)->name, rq->what,
			       rs->status, detail[0] ? ": " : "", detail);
}

/*
 * The URL ref that the answer to a request for from names, through the one
 * check (bento_registry_url_check): *out a new string, or -BENTO_E_NETWORK
 * naming the registry, the request, what the URL is for and why not.
 */
static int server_url(struct bento_target *t, const struct req *rq, const char *from,
		      const char *ref, const char *field, char **out, struct bento_error *err)
{
	const char *why;
	char shown[256];

	if (bento_registry_url_check(R(t)->base, from, ref, out, &why) == 0)
		return 0;
	printable(ref, strlen(ref), shown, sizeof(shown));
	return bento_error_set(err, BENTO_E_NETWORK, "%s: %s: refused %s '%s': %s", R(t)->name,
			       rq->what, field, shown, why);
}

/* The checked Location of an answer to a request for from (new string in *out). */
static int next_location(struct bento_target *t, const struct req *rq, const char *from,
			 const struct resp *rs, char **out, struct bento_error *err)
{
	if (!rs->h.location)
		return bento_error_set(err, BENTO_E_NETWORK, "%s: %s: no Location", R(t)->name, rq->what);
	return server_url(t, rq, from, rs->h.location, "Location", out, err);
}

static void load_creds(struct bento_target *t)
{
	struct reg *r = R(t);

	if (r->creds_loaded)
		return;
	r->creds_loaded = 1;
	struct bento_error e = { 0 };
	int rc = bento_dockercfg_get(t->opts.docker_config, t->ref.host, &r->user, &r->pass, &e);
	if (rc < 0) {
		r->user = NULL;
		r->pass = NULL;
		/* no entry at all needs no explanation; a failing helper or a bad file does */
		if (rc != -BENTO_E_NOTFOUND || strstr(e.msg, "docker-credential-"))
			snprintf(r->cred_err, sizeof(r->cred_err), " (%.200s)", e.msg);
	}
}

static struct token *token_find(struct reg *r, const char *scope)
{
	struct token *k;
	time_t now = time(NULL);

	for (k = r->tokens; k; k = k->next)
		if (strcmp(k->scope, scope) == 0 && k->expires > now)
			return k;
	return NULL;
}

static void token_drop(struct reg *r, const char *scope)
{
	struct token **pp = &r->tokens, *k;

	while ((k = *pp)) {
		if (strcmp(k->scope, scope) == 0) {
			*pp = k->next;
			OPENSSL_cleanse(k->value, strlen(k->value));
			free(k->value);
			free(k->scope);
			free(k);
		} else {
			pp = &k->next;
		}
	}
}

static int do_request(struct bento_target *t, struct req *rq, struct resp *rs, struct bento_error *err);

/*
 * GET the realm for a token covering scope and cache it, within the
 * deadline of the request that needs it (d).
 */
static int fetch_token(struct bento_target *t, const char *scope, const struct deadline *d,
		       struct bento_error *err)
{
	struct reg *r = R(t);
	struct bento_buf url = BENTO_BUF_INIT;
	char *e, *copy, *tok, *save = NULL, *value = NULL;
	const char *why;
	struct resp rs;
	struct req rq = { .method = "GET", .what = "token", .token = 1, .body_cap = TOKEN_MAX,
			  .cap_is_error = 1, .deadline = d };
	long long expires_in;
	int rc;

	bento_buf_addf(&url, "%s%s", r->realm, strchr(r->realm, '?') ? "&" : "?");
	if (r->service) {
		e = curl_easy_escape(r->curl, r->service, 0);
		bento_buf_addf(&url, "service=%s", e);
		curl_free(e);
	}
	copy = bento_xstrdup(scope);
	for (tok = strtok_r(copy, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		e = curl_easy_escape(r->curl, tok, 0);
		bento_buf_addf(&url, "&scope=%s", e);
		curl_free(e);
	}
	free(copy);
	rq.url = url.buf;
	resp_init(&rs);
	rc = do_request(t, &rq, &rs, err);
	if (rc < 0)
		goto out;
	if (rs.status == 401 || rs.status == 403) {
		rc = bento_error_set(err, BENTO_E_NETWORK, r->user ?
				     "%s: authentication failed (HTTP %ld from the token service): check bento login %s" :
				     "%s: authentication required (HTTP %ld from the token service): run bento login %s",
				     t->ref.host, rs.status, t->ref.host);
		goto out;
	}
	if (rs.status != 200) {
		rc = http_error(t, &rq, &rs, err);
		goto out;
	}
	if (bento_registry_token_parse(rs.body.buf, rs.body.len, &value, &expires_in, &why) < 0) {
		rc = bento_error_set(err, BENTO_E_NETWORK, "%s: token service %.200s: %s", t->ref.host,
				     r->realm, why);
		goto out;
	}
	token_drop(r, scope);
	{
		struct token *k = bento_xcalloc(1, sizeof(*k));
		k->scope = bento_xstrdup(scope);
		k->value = value;
		value = NULL;
		/* A margin so a token does not expire between check and use. */
		k->expires = time(NULL) + (expires_in > 20 ? expires_in - 10 : expires_in / 2 + 1);
		k->next = r->tokens;
		r->tokens = k;
	}
	rc = 0;
out:
	OPENSSL_cleanse(rs.body.buf, rs.body.len);
	resp_release(&rs);
	bento_buf_release(&url);
	return rc;
}

/*
 * Take a Bearer challenge from the registry (to a request for url): its
 * realm through the URL check, and whether the credentials may go there.
 * As docker and containers/image do, the registry's credentials go to the
 * realm its own challenge names, whatever its host, but here only over
 * https, or to the registry's own origin, or to a loopback host.
 */
static int take_realm(struct bento_target *t, const struct req *rq, const char *url,
		      struct bento_http_challenge *ch, struct bento_error *err)
{
	struct reg *r = R(t);
	char *realm = NULL;
	int rc;

	if (!ch->realm)
		return bento_error_set(err, BENTO_E_NETWORK, "%s: Bearer challenge without a realm",
				       t->ref.host);
	if ((rc = server_url(t, rq, url, ch->realm, "Bearer realm", &realm, err)) < 0)
		return rc;
	r->realm_creds = strncmp(realm, "https:", 6) == 0 || bento_registry_same_origin(r->base, realm) ||
			 bento_registry_url_is_loopback(realm);
	if (r->user && !r->realm_creds) {
		rc = bento_error_set(err, BENTO_E_NETWORK, "%s: %s: the credentials for %s are not sent to "
				     "the Bearer realm '%.200s' over plain http (only https, the registry "
				     "itself or a loopback host get them)", r->name, rq->what, t->ref.host,
				     realm);
		free(realm);
		return rc;
	}
	free(r->realm);
	free(r->service);
	r->realm = realm;
	r->service = ch->service;
	ch->service = NULL;
	r->scheme = BENTO_AUTH_BEARER;
	return 0;
}

/* Learn the scheme from a 401's challenge.  0: retry with auth; <0: give up. */
static int handle_401(struct bento_target *t, struct req *rq, const char *url, const struct resp *rs,
		      int tried, const struct deadline *d, struct bento_error *err)
{
	struct reg *r = R(t);
	struct bento_http_challenge ch = { 0 };
	int rc;

	load_creds(t);
	if (rs->h.www_auth && bento_http_challenge_parse(rs->h.www_auth, &ch) == 0 &&
	    ch.scheme == BENTO_AUTH_BEARER) {
		rc = take_realm(t, rq, url, &ch, err);
		bento_http_challenge_release(&ch);
		if (rc < 0)
			return rc;
		if (tried)
			token_drop(r, rq->scope);
		if (tried > 1)
			goto denied;
		return fetch_token(t, rq->scope, d, err);
	}
	if (ch.scheme == BENTO_AUTH_BASIC) {
		bento_http_challenge_release(&ch);
		r->scheme = BENTO_AUTH_BASIC;
		if (!r->user)
			return bento_error_set(err, BENTO_E_NETWORK,
					       "%s: authentication required: run bento login %s%s",
					       t->ref.host, t->ref.host, r->cred_err);
		if (tried)
			goto denied;
		return 0;
	}
	if (!r->user)
		return bento_error_set(err, BENTO_E_NETWORK, "%s: authentication required: run bento login %s%s",
				       t->ref.host, t->ref.host, r->cred_err);
denied:
	return bento_error_set(err, BENTO_E_NETWORK, "%s: %s: HTTP 401: authentication failed%s%s",
			       r->name, rq->what, r->user ? ": check bento login " : "",
			       r->user ? t->ref.host : "");
}

/* One attempt at url, with at most left_ms to finish. */
static CURLcode perform_once(struct bento_target *t, struct req *rq, const char *url,
			     struct resp *rs, int64_t left_ms)
{
	struct reg *r = R(t);
	CURL *c = r->curl;
	struct curl_slist *hdr = NULL, *h;
	struct cbctx cb = { rs, rq, r };
	char *auth = NULL;
	struct body empty = { 0 };
	CURLcode cc;

	for (h = rq->headers; h; h = h->next)
		hdr = curl_slist_append(hdr, h->data);
	/* 100-continue costs a round trip (or a second) per request for no gain here. */
	hdr = curl_slist_append(hdr, "Expect:");
	curl_easy_reset(c);
	bento_registry_curl_restrict(c);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &cb);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &cb);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, r->curl_errbuf);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)left_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
			 (long)(left_ms < CONNECT_TIMEOUT_MS ? left_ms : CONNECT_TIMEOUT_MS));
	/* A stalled transfer is a dropped connection: resume rather than hang. */
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, (long)r->stall_s);
	curl_easy_setopt(c, CURLOPT_UNRESTRICTED_AUTH, 0L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "bento/" BENTO_VERSION);
	curl_easy_setopt(c, CURLOPT_BUFFERSIZE, 512L * 1024);
	curl_easy_setopt(c, CURLOPT_UPLOAD_BUFFERSIZE, 1024L * 1024);
	if (t->opts.insecure) {
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (rq->token) {
		/* The realm gets the credentials when take_realm said so. */
		if (r->user && r->realm_creds) {
			curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
			curl_easy_setopt(c, CURLOPT_USERNAME, r->user);
			curl_easy_setopt(c, CURLOPT_PASSWORD, r->pass);
		}
	} else if (bento_registry_same_origin(r->base, url)) {
		if (r->scheme == BENTO_AUTH_BASIC && r->user) {
			curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
			curl_easy_setopt(c, CURLOPT_USERNAME, r->user);
			curl_easy_setopt(c, CURLOPT_PASSWORD, r->pass);
		} else if (r->scheme == BENTO_AUTH_BEARER) {
			struct token *k = token_find(r, rq->scope);
			if (k) {
				auth = bento_xasprintf("Authorization: Bearer %s", k->value);
				hdr = curl_slist_append(hdr, auth);
			}
		}
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
	if (strcmp(rq->method, "HEAD") == 0) {
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	} else if (strcmp(rq->method, "POST") == 0) {
		curl_easy_setopt(c, CURLOPT_POST, 1L);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 0L);
	} else if (strcmp(rq->method, "PUT") == 0 || strcmp(rq->method, "PATCH") == 0) {
		struct body *b = rq->body ? rq->body : &empty;
		b->off = b->start;
		b->failed = 0;
		curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c, CURLOPT_READFUNCTION, read_cb);
		curl_easy_setopt(c, CURLOPT_READDATA, b);
		curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, seek_cb);
		curl_easy_setopt(c, CURLOPT_SEEKDATA, b);
		curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)(b->end - b->start));
		if (rq->method[1] == 'A')
			curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "PATCH");
	} else if (strcmp(rq->method, "DELETE") == 0) {
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "DELETE");
	}
	/*
	 * After a broken transfer, a new connection: one the peer reset may
	 * still sit in curl's cache and fail the retry the same way.
	 */
	if (r->fresh_connect)
		curl_easy_setopt(c, CURLOPT_FRESH_CONNECT, 1L);
	r->curl_errbuf[0] = '\0';
	cc = curl_easy_perform(c);
	r->fresh_connect = conn_error(cc);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &rs->status);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(hdr);
	if (auth) {
		OPENSSL_cleanse(auth, strlen(auth));
		free(auth);
	}
	return cc;
}

/*
 * One logical request: auth on 401, redirects (each URL checked, without
 * credentials to other origins), and unless rq->no_retry, retries of
 * connection errors and 429/5xx; all within rq->deadline (or a small
 * request's own).  Returns 0 with rs->status set (any status), or <0: a
 * transport failure, the deadline, a refused URL, a source/sink failure,
 * an oversized body.
 */
static int do_request(struct bento_target *t, struct req *rq, struct resp *rs, struct bento_error *err)
{
	struct reg *r = R(t);
	char *url = bento_xstrdup(rq->url), *next;
	int attempt = 0, auth_tries = 0, redirects = 0, rc;
	struct deadline own = deadline_for(r, 0);
	const struct deadline *d = rq->deadline ? rq->deadline : &own;
	int64_t left;
	CURLcode cc;

	rq->conn_failed = 0;
	rq->timed_out = 0;
	for (;;) {
		resp_release(rs);
		/* Proactively fetch a token for a scope we have not seen yet. */
		if (!rq->token && r->scheme == BENTO_AUTH_BEARER && bento_registry_same_origin(r->base, url) &&
		    !token_find(r, rq->scope)) {
			rc = fetch_token(t, rq->scope, d, err);
			if (rc < 0)
				goto out;
		}
		left = d->end - now_ms();
		if (left <= 0) {
			rq->timed_out = 1;
			rc = timed_out(t, rq, d, err);
			goto out;
		}
		cc = perform_once(t, rq, url, rs, left);
		if (rq->body && rq->body->failed) {
			rc = rq->body->failed;
			if (err)
				*err = rq->body->err;
			goto out;
		}
		if (rq->stream && rq->stream->failed) {
			rc = rq->stream->failed;
			if (err)
				*err = rq->stream->err;
			goto out;
		}
		if (rq->stream && rq->stream->too_big) {
			rc = bento_error_set(err, BENTO_E_VERIFY, "%s: %s: more bytes than the %" PRIu64
					     " expected", r->name, rq->what, rq->stream->max);
			goto out;
		}
		if (cc == CURLE_WRITE_ERROR && rq->cap_is_error) {
			rc = bento_error_set(err, BENTO_E_VERIFY, "%s: %s: larger than %zu bytes", r->name,
					     rq->what, rq->body_cap);
			goto out;
		}
		if (cc == CURLE_OPERATION_TIMEDOUT && now_ms() >= d->end - 20) {
			rq->timed_out = 1;
			rc = timed_out(t, rq, d, err);
			goto out;
		}
		if (cc != CURLE_OK) {
			if (conn_error(cc) && !rq->no_retry && attempt + 1 < MAX_ATTEMPTS &&
			    backoff(t, attempt, -1, d) == 0) {
				attempt++;
				continue;
			}
			rq->conn_failed = conn_error(cc);
			if (cc == CURLE_OPERATION_TIMEDOUT)
				rc = bento_error_set(err, BENTO_E_NETWORK, "%s: %s: stalled: no data for %g s ("
						     ENV_STALL ")", r->name, rq->what, r->stall_s);
			else
				rc = bento_error_set(err, BENTO_E_NETWORK, "%s: %s: %s", r->name, rq->what,
						     r->curl_errbuf[0] ? r->curl_errbuf : curl_easy_strerror(cc));
			goto out;
		}
		if (!rq->token && rs->status == 401 && bento_registry_same_origin(r->base, url)) {
			rc = handle_401(t, rq, url, rs, auth_tries++, d, err);
			if (rc < 0)
				goto out;
			continue;
		}
		if (retry_status(rs->status) && !rq->no_retry && attempt + 1 < MAX_ATTEMPTS &&
		    backoff(t, attempt, rs->h.retry_after, d) == 0) {
			attempt++;
			continue;
		}
		if (rq->follow && rs->h.location &&
		    (rs->status == 301 || rs->status == 302 || rs->status == 303 ||
		     rs->status == 307 || rs->status == 308)) {
			if (++redirects > MAX_REDIRECTS) {
				rc = bento_error_set(err, BENTO_E_NETWORK, "%s: %s: too many redirects",
						     r->name, rq->what);
				goto out;
			}
			rc = server_url(t, rq, url, rs->h.location, "redirect to", &next, err);
			if (rc < 0)
				goto out;
			free(url);
			url = next;
			continue;
		}
		rc = 0;
		break;
	}
out:
	free(url);
	return rc;
}

/* ---- the operations ---- */

/*
 * A knob of bento-registry(5), TIMEOUTS, from the environment: a positive
 * number (decimals allowed) up to KNOB_MAX, def when unset or empty.
 */
static int knob(const char *name, double def, double *out, struct bento_error *err)
{
	const char *v = getenv(name);
	char *end;
	double x;

	if (!v || !*v) {
		*out = def;
		return 0;
	}
	errno = 0;
	x = strtod(v, &end);
	if (end == v || *end || errno || !(x > 0) || x > KNOB_MAX)
		return bento_error_set(err, BENTO_E_USAGE, "%s: '%.40s' is not a positive number", name, v);
	*out = x;
	return 0;
}

static int reg_open(struct bento_target *t, struct bento_error *err)
{
	struct reg *r;
	const char *scheme = "https";
	double timeout, stall, rate;
	int rc;

	if (t->ref.is_layout || !t->ref.host || !t->ref.repo)
		return bento_error_set(err, BENTO_E_USAGE, "registry: a HOST/REPO reference is needed");
	if ((rc = knob(ENV_TIMEOUT, DEFAULT_TIMEOUT_S, &timeout, err)) ||
	    (rc = knob(ENV_STALL, DEFAULT_STALL_S, &stall, err)) ||
	    (rc = knob(ENV_MIN_RATE, DEFAULT_MIN_RATE, &rate, err)))
		return rc;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return bento_error_set(err, BENTO_E_FAIL, "libcurl: initialisation failed");
	r = bento_xcalloc(1, sizeof(*r));
	r->curl = curl_easy_init();
	if (!r->curl) {
		free(r);
		curl_global_cleanup();
		return bento_error_set(err, BENTO_E_FAIL, "libcurl: no handle");
	}
	if (t->opts.plain_http || is_loopback(t->ref.host))
		scheme = "http";
	r->base = bento_xasprintf("%s://%s", scheme, t->ref.host);
	r->name = bento_xasprintf("%s/%s", t->ref.host, t->ref.repo);
	r->referrers_api = -1;
	r->progress = t->opts.progress && isatty(2);
	r->timeout_s = timeout;
	/* curl counts a stall in whole seconds */
	r->stall_s = stall < 1 ? 1 : (double)(long)(stall + 0.999);
	r->min_rate = rate;
	t->impl = r;
	return 0;
}

static void reg_close(struct bento_target *t)
{
	struct reg *r = R(t);

	if (!r)
		return;
	while (r->tokens) {
		struct token *k = r->tokens;
		r->tokens = k->next;
		OPENSSL_cleanse(k->value, strlen(k->value));
		free(k->value);
		free(k->scope);
		free(k);
	}
	if (r->pass) {
		OPENSSL_cleanse(r->pass, strlen(r->pass));
		free(r->pass);
	}
	free(r->user);
	free(r->realm);
	free(r->service);
	free(r->base);
	free(r->name);
	curl_easy_cleanup(r->curl);
	free(r);
	t->impl = NULL;
	curl_global_cleanup();
}

static char *pull_scope(struct bento_target *t)
{
	return bento_xasprintf("repository:%s:pull", t->ref.repo);
}

static char *push_scope(struct bento_target *t)
{
	return bento_xasprintf("repository:%s:pull,push", t->ref.repo);
}

static int head_blob(struct bento_target *t, const char *scope, const struct bento_digest *d,
		     uint64_t *size, struct bento_error *err)
{
	char ds[BENTO_DIGEST_STRLEN];
	char *url;
	struct resp rs;
	struct req rq = { .method = "HEAD", .scope = scope, .what = "HEAD blob", .follow = 1 };
	int rc;

	bento_digest_str(d, ds);
	url = bento_xasprintf("%s/v2/%s/blobs/%s", R(t)->base, t->ref.repo, ds);
	rq.url = url;
	resp_init(&rs);
	rc = do_request(t, &rq, &rs, err);
	if (rc < 0)
		goto out;
	if (rs.status == 200) {
		if (size)
			*size = rs.h.content_length >= 0 ? (uint64_t)rs.h.content_length : 0;
		rc = 1;
	} else if (rs.status == 404) {
		rc = 0;
	} else {
		rc = http_error(t, &rq, &rs, err);
	}
out:
	resp_release(&rs);
	free(url);
	return rc;
}

static int reg_blob_exists(struct bento_target *t, const struct bento_digest *d, uint64_t *size,
			   struct bento_error *err)
{
	char *scope = pull_scope(t);
	int rc = head_blob(t, scope, d, size, err);

	free(scope);
	return rc;
}

static char *with_query(const char *url, const char *q)
{
	return bento_xasprintf("%s%s%s", url, strchr(url, '?') ? "&" : "?", q);
}

/* POST an upload (or a mount).  1: mounted; 0: *location is the session. */
static int upload_start(struct bento_target *t, const char *scope, const char *ds,
			const char *from, char **location, struct bento_error *err)
{
	struct reg *r = R(t);
	char *url, *e1 = NULL, *e2 = NULL;
	struct resp rs;
	struct req rq = { .method = "POST", .scope = scope, .what = from ? "POST blob mount" : "POST blob upload" };
	int rc;

	if (from) {
		e1 = curl_easy_escape(r->curl, ds, 0);
		e2 = curl_easy_escape(r->curl, from, 0);
		url = bento_xasprintf("%s/v2/%s/blobs/uploads/?mount=%s&from=%s", r->base, t->ref.repo, e1, e2);
		curl_free(e1);
		curl_free(e2);
	} else {
		url = bento_xasprintf("%s/v2/%s/blobs/uploads/", r->base, t->ref.repo);
	}
	rq.url = url;
	resp_init(&rs);
	rc = do_request(t, &rq, &rs, err);
	if (rc < 0)
		goto out;
	if (from && rs.status == 201) {
		rc = 1;
	} else if (rs.status == 202) {
		rc = next_location(t, &rq, url, &rs, location, err);
	} else {
		rc = http_error(t, &rq, &rs, err);
		if (rc == -BENTO_E_NOTFOUND)
			rc = -BENTO_E_NETWORK;
	}
out:
	resp_release(&rs);
	free(url);
	return rc;
}

/*
 * Ask the registry how much of the upload it has.  0 with *have and a new
 * *location; 1 when the session is gone or the question failed (start
 * again); <0 with err when the registry named a URL bento refuses.
 */
static int upload_status(struct bento_target *t, const char *scope, char **location, uint64_t *have,
			 struct bento_error *err)
{
	struct resp rs;
	struct req rq = { .method = "GET", .url = *location, .scope = scope, .what = "GET upload status" };
	char *next;
	int rc;

	resp_init(&rs);
	rc = do_request(t, &rq, &rs, NULL);
	if (rc < 0 || (rs.status != 204 && rs.status != 202 && rs.status != 200)) {
		rc = 1;
		goto out;
	}
	/* A URL bento refuses ends the upload, whatever the Range says. */
	if (rs.h.location) {
		rc = next_location(t, &rq, *location, &rs, &next, err);
		if (rc < 0)
			goto out;
		free(*location);
		*location = next;
	}
	*have = 0;
	/* No Range, or "0-0" (nothing or one byte: distribution says both): start again. */
	rc = !rs.h.range || bento_http_range_parse(rs.h.range, have) < 0 || *have == 1;
out:
	resp_release(&rs);
	return rc;
}

static int upload_finish(struct bento_target *t, const char *scope, const char *location,
			 const struct bento_blob_source *src, struct body *body,
			 const struct deadline *dl, int *transient, struct resp *rs,
			 struct bento_error *err)
{
	struct reg *r = R(t);
	char ds[BENTO_DIGEST_STRLEN];
	char *q, *e, *url;
	struct req rq = { .method = "PUT", .scope = scope, .what = "PUT blob upload", .no_retry = 1,
			  .body = body, .deadline = dl };
	struct bento_digest got;
	int rc;

	bento_digest_str(&src->digest, ds);
	e = curl_easy_escape(r->curl, ds, 0);
	q = bento_xasprintf("digest=%s", e);
	curl_free(e);
	url = with_query(location, q);
	free(q);
	rq.url = url;
	rq.headers = curl_slist_append(NULL, "Content-Type: application/octet-stream");
	rc = do_request(t, &rq, rs, err);
	if (rc < 0) {
		*transient = rq.conn_failed;
		goto out;
	}
	if (rs->status != 201) {
		*transient = retry_status(rs->status);
		rc = http_error(t, &rq, rs, err);
		if (rc == -BENTO_E_NOTFOUND) {
			*transient = 1;		/* the session vanished: start again */
			rc = -BENTO_E_NETWORK;
		}
		goto out;
	}
	if (rs->h.dcd && (bento_digest_parse(rs->h.dcd, &got, NULL) < 0 || !bento_digest_eq(&got, &src->digest))) {
		char shown[256];
		printable(rs->h.dcd, strlen(rs->h.dcd), shown, sizeof(shown));
		rc = bento_error_set(err, BENTO_E_VERIFY, "%s: blob %s: the registry stored it as %s",
				     r->name, ds, shown);
		goto out;
	}
	rc = 0;
out:
	curl_slist_free_all(rq.headers);
	free(url);
	return rc;
}

/*
 * PATCH [from, size) in chunks.  0 when all is sent; *transient says whether
 * a failure is worth resuming.
 */
static int upload_chunks(struct bento_target *t, const char *scope, char **location,
			 const struct bento_blob_source *src, uint64_t *from, const struct deadline *dl,
			 int *transient, const char *label, struct bento_error *err)
{
	struct reg *r = R(t);
	struct resp rs;
	int rc = 0;

	resp_init(&rs);
	while (*from < src->size) {
		uint64_t end = *from + CHUNK_SIZE < src->size ? *from + CHUNK_SIZE : src->size;
		struct body b = { .src = src, .start = *from, .end = end };
		char range[80], *next;
		struct req rq = { .method = "PATCH", .url = *location, .scope = scope,
				  .what = "PATCH blob upload", .no_retry = 1, .body = &b, .deadline = dl };

		snprintf(range, sizeof(range), "Content-Range: %" PRIu64 "-%" PRIu64, *from, end - 1);
		rq.headers = curl_slist_append(NULL, "Content-Type: application/octet-stream");
		rq.headers = curl_slist_append(rq.headers, range);
		rc = do_request(t, &rq, &rs, err);
		curl_slist_free_all(rq.headers);
		if (rc < 0) {
			*transient = rq.conn_failed;
			break;
		}
		if (rs.status != 202) {
			*transient = retry_status(rs.status) || rs.status == 404 || rs.status == 416;
			rc = http_error(t, &rq, &rs, err);
			if (rc == -BENTO_E_NOTFOUND)
				rc = -BENTO_E_NETWORK;
			break;
		}
		rc = next_location(t, &rq, *location, &rs, &next, err);
		if (rc < 0) {
			*transient = 0;
			break;
		}
		free(*location);
		*location = next;
		*from = end;
		progress_draw(r, label, *from, src->size, 0);
	}
	resp_release(&rs);
	return rc;
}

static int reg_blob_put(struct bento_target *t, const struct bento_blob_source *src,
			const char *from_repo, struct bento_error *err)
{
	struct reg *r = R(t);
	char ds[BENTO_DIGEST_STRLEN];
	char *scope = push_scope(t), *mscope = NULL, *location = NULL;
	uint64_t sent = 0;
	int rc, attempt = 0, transient = 0;
	struct deadline dl = deadline_for(r, src->size);
	struct req what = { .what = "PUT blob upload" };
	struct resp rs;

	bento_digest_str(&src->digest, ds);
	resp_init(&rs);
	rc = head_blob(t, scope, &src->digest, NULL, err);
	if (rc < 0)
		goto out;
	if (rc == 1) {
		t->stats.blobs_skipped++;
		rc = 0;
		goto out;
	}
	if (from_repo && *from_repo && strcmp(from_repo, t->ref.repo) != 0) {
		mscope = bento_xasprintf("%s repository:%s:pull", scope, from_repo);
		rc = upload_start(t, mscope, ds, from_repo, &location, err);
		if (rc < 0)
			goto out;
		if (rc == 1) {
			t->stats.blobs_mounted++;
			rc = 0;
			goto out;
		}
		/* A 202: the registry declined; location is an ordinary upload session. */
	}
	for (;;) {
		if (!location) {
			rc = upload_start(t, scope, ds, NULL, &location, err);
			if (rc < 0)
				goto out;
			sent = 0;
		}
		transient = 0;
		if (src->size < CHUNK_SIZE) {
			struct body b = { .src = src, .start = 0, .end = src->size };
			rc = upload_finish(t, scope, location, src, &b, &dl, &transient, &rs, err);
			if (rc == 0)
				break;
			/* A failed monolithic PUT may have left half a body: a fresh session. */
			free(location);
			location = NULL;
		} else {
			rc = upload_chunks(t, scope, &location, src, &sent, &dl, &transient, ds, err);
			if (rc == 0)
				rc = upload_finish(t, scope, location, src, NULL, &dl, &transient, &rs, err);
			if (rc == 0)
				break;
			if (transient) {
				int st = upload_status(t, scope, &location, &sent, err);
				if (st < 0) {
					rc = st;
					goto out;
				}
				if (st != 0 || sent > src->size) {
					free(location);
					location = NULL;
				}
			}
		}
		if (!transient || ++attempt >= MAX_ATTEMPTS)
			goto out;
		if (backoff(t, attempt - 1, rs.h.retry_after, &dl) < 0) {
			rc = timed_out(t, &what, &dl, err);
			goto out;
		}
	}
	t->stats.blobs_uploaded++;
	t->stats.bytes_uploaded += src->size;
	progress_draw(r, ds, src->size, src->size, 1);
	rc = 0;
out:
	resp_release(&rs);
	free(location);
	free(mscope);
	free(scope);
	return rc;
}

static int reg_blob_get(struct bento_target *t, const struct bento_digest *d, uint64_t expect_size,
			bento_sink_fn sink, void *ctx, struct bento_hasher *sink_hashes,
			struct bento_error *err)
{
	struct reg *r = R(t);
	char ds[BENTO_DIGEST_STRLEN], gs[BENTO_DIGEST_STRLEN], range[64];
	char *scope = pull_scope(t), *url, *what;
	struct stream s = { .sink = sink, .ctx = ctx, .max = expect_size, .label = NULL };
	struct deadline dl = deadline_for(r, expect_size);
	struct req rq = { .method = "GET", .scope = scope, .follow = 1, .no_retry = 1, .stream = &s,
			  .deadline = &dl };
	struct resp rs;
	struct bento_digest got;
	int rc, attempt = 0;

	bento_digest_str(d, ds);
	what = bento_xasprintf("GET blob %s", ds);
	rq.what = what;
	s.label = ds;
	s.total = expect_size;
	s.sink_hashes = sink_hashes != NULL;
	s.h = sink_hashes ? sink_hashes : bento_hasher_new();
	url = bento_xasprintf("%s/v2/%s/blobs/%s", r->base, t->ref.repo, ds);
	rq.url = url;
	resp_init(&rs);
	for (;;) {
		curl_slist_free_all(rq.headers);
		rq.headers = NULL;
		if (s.got > 0) {
			snprintf(range, sizeof(range), "Range: bytes=%" PRIu64 "-", s.got);
			rq.headers = curl_slist_append(NULL, range);
		}
		rc = do_request(t, &rq, &rs, err);
		if (rc == 0 && (rs.status == 200 || rs.status == 206))
			break;
		if (rc == 0 && rs.status == 404) {
			rc = bento_error_set(err, BENTO_E_NOTFOUND, "%s: blob %s not found", r->name, ds);
			goto out;
		}
		if (rc == 0 && rs.status == 416 && expect_size && s.got == expect_size)
			break;
		if (rc == 0 && !retry_status(rs.status)) {
			rc = http_error(t, &rq, &rs, err);
			goto out;
		}
		if (rc < 0 && !rq.conn_failed)
			goto out;
		if (++attempt >= MAX_ATTEMPTS) {
			if (rc == 0)
				rc = http_error(t, &rq, &rs, err);
			goto out;
		}
		if (backoff(t, attempt - 1, rc == 0 ? rs.h.retry_after : -1, &dl) < 0) {
			rc = timed_out(t, &rq, &dl, err);
			goto out;
		}
		/* Resuming: a server that ignores Range sends it all again (write_cb skips). */
		s.resume = s.got;
		s.skip = 0;
	}
	bento_hasher_final(s.h, &got);
	if (!bento_digest_eq(&got, d)) {
		bento_digest_str(&got, gs);
		rc = bento_error_set(err, BENTO_E_VERIFY, "%s: blob %s: digest mismatch: got %s (%" PRIu64 " bytes)",
				     r->name, ds, gs, s.got);
		goto out;
	}
	if (expect_size && s.got != expect_size) {
		rc = bento_error_set(err, BENTO_E_VERIFY, "%s: blob %s: %" PRIu64 " bytes, expected %" PRIu64,
				     r->name, ds, s.got, expect_size);
		goto out;
	}
	t->stats.blobs_downloaded++;
	t->stats.bytes_downloaded += s.got;
	progress_draw(r, ds, s.got, s.got, 1);
	rc = 0;
out:
	curl_slist_free_all(rq.headers);
	resp_release(&rs);
	if (!sink_hashes)
		bento_hasher_free(s.h);
	free(what);
	free(url);
	free(scope);
	return rc;
}

static int valid_reference(const char *ref)
{
	size_t i, n = strlen(ref);

	if (n == 0 || n > 128 + 7)
		return 0;
	if (bento_digest_valid(ref))
		return 1;
	for (i = 0; i < n; i++)
		if (!((ref[i] >= 'a' && ref[i] <= 'z') || (ref[i] >= 'A' && ref[i] <= 'Z') ||
		      (ref[i] >= '0' && ref[i] <= '9') || ref[i] == '_' || ref[i] == '.' || ref[i] == '-'))
			return 0;
	return n <= 128 && ref[0] != '.' && ref[0] != '-';
}

static int reg_manifest_put(struct bento_target *t, const char *reference, const char *media_type,
			    const void *data, size_t len, struct bento_digest *out,
			    struct bento_error *err)
{
	struct reg *r = R(t);
	char *scope = push_scope(t), *url, *ct;
	struct body b = { .mem = data, .end = len };
	struct req rq = { .method = "PUT", .scope = scope, .what = "PUT manifest", .body = &b };
	struct resp rs;
	struct bento_digest d, got;
	char ds[BENTO_DIGEST_STRLEN];
	int rc;

	if (!valid_reference(reference))
		return free(scope), bento_error_set(err, BENTO_E_USAGE, "%s: '%s' is not a tag or digest",
						    r->name, reference);
	bento_digest_bytes(data, len, &d);
	bento_digest_str(&d, ds);
	if (bento_digest_valid(reference) && strcmp(reference, ds) != 0) {
		free(scope);
		return bento_error_set(err, BENTO_E_VERIFY, "%s@%s: the manifest's digest is %s",
				       r->name, reference, ds);
	}
	url = bento_xasprintf("%s/v2/%s/manifests/%s", r->base, t->ref.repo, reference);
	ct = bento_xasprintf("Content-Type: %s", media_type);
	rq.url = url;
	rq.headers = curl_slist_append(NULL, ct);
	resp_init(&rs);
	rc = do_request(t, &rq, &rs, err);
	if (rc < 0)
		goto out;
	if (rs.status != 201 && rs.status != 200) {
		rc = http_error(t, &rq, &rs, err);
		if (rc == -BENTO_E_NOTFOUND)
			rc = -BENTO_E_NETWORK;
		goto out;
	}
	if (rs.h.dcd && (bento_digest_parse(rs.h.dcd, &got, NULL) < 0 || !bento_digest_eq(&got, &d))) {
		rc = bento_error_set(err, BENTO_E_VERIFY, "%s:%s: the registry stored the manifest as %s, not %s",
				     r->name, reference, rs.h.dcd, ds);
		goto out;
	}
	if (out)
		*out = d;
	rc = 0;
out:
	resp_release(&rs);
	curl_slist_free_all(rq.headers);
	free(ct);
	free(url);
	free(scope);
	return rc;
}

static int reg_manifest_get(struct bento_target *t, const char *reference, struct bento_buf *out,
			    char **media_type, struct bento_digest *digest, struct bento_error *err)
{
	struct reg *r = R(t);
	char *scope = pull_scope(t), *url;
	struct req rq = { .method = "GET", .scope = scope, .what = "GET manifest", .follow = 1,
			  .body_cap = OCI_MANIFEST_MAX, .cap_is_error = 1 };
	struct resp rs;
	struct bento_digest d, want;
	char ds[BENTO_DIGEST_STRLEN];
	const char sep = bento_digest_valid(reference) ? '@' : ':';
	int rc;

	if (!valid_reference(reference))
		return free(scope), bento_error_set(err, BENTO_E_USAGE, "%s: '%s' is not a tag or digest",
						    r->name, reference);
	url = bento_xasprintf("%s/v2/%s/manifests/%s", r->base, t->ref.repo, reference);
	rq.url = url;
	rq.headers = curl_slist_append(NULL, "Accept: " OCI_MANIFEST_V1 ", " OCI_INDEX_V1
				       ", application/vnd.docker.distribution.manifest.v2+json"
				       ", application/vnd.docker.distribution.manifest.list.v2+json");
	resp_init(&rs);
	rc = do_request(t, &rq, &rs, err);
	if (rc == -BENTO_E_VERIFY) {
		rc = bento_error_set(err, BENTO_E_VERIFY, "%s%c%s: manifest larger than 4 MiB",
				     r->name, sep, reference);
		goto out;
	}
	if (rc < 0)
		goto out;
	if (rs.status == 404) {
		rc = bento_error_set(err, BENTO_E_NOTFOUND, "%s%c%s: manifest not found", r->name, sep, reference);
		goto out;
	}
	if (rs.status != 200) {
		rc = http_error(t, &rq, &rs, err);
		goto out;
	}
	if (rs.body.len > OCI_MANIFEST_MAX) {
		rc = bento_error_set(err, BENTO_E_VERIFY, "%s%c%s: manifest larger than 4 MiB",
				     r->name, sep, reference);
		goto out;
	}
	bento_digest_bytes(rs.body.buf, rs.body.len, &d);
	if (sep == '@') {
		bento_digest_parse(reference, &want, NULL);
		if (!bento_digest_eq(&d, &want)) {
			bento_digest_str(&d, ds);
			rc = bento_error_set(err, BENTO_E_VERIFY, "%s@%s: manifest digest mismatch: got %s",
					     r->name, reference, ds);
			goto out;
		}
	}
	bento_buf_reset(out);
	bento_buf_add(out, rs.body.buf, rs.body.len);
	if (media_type) {
		const char *ct = rs.h.content_type ? rs.h.content_type : "";
		*media_type = bento_xstrndup(ct, strcspn(ct, "; "));
	}
	if (digest)
		*digest = d;
	rc = 0;
out:
	curl_slist_free_all(rq.headers);
	resp_release(&rs);
	free(url);
	free(scope);
	return rc;
}

static void empty_index(struct bento_buf *out)
{
	bento_buf_reset(out);
	bento_buf_adds(out, "{\"manifests\":[],\"mediaType\":\"" OCI_INDEX_V1 "\",\"schemaVersion\":2}");
}

/* The fallback index under "sha256-<hex>" (an empty one when absent). */
static int fallback_get(struct bento_target *t, const struct bento_digest *subject,
			struct bento_buf *index, struct bento_error *err)
{
	char hex[BENTO_DIGEST_HEXLEN + 1], tag[BENTO_DIGEST_HEXLEN + 8];
	struct bento_error e2;
	int rc;

	bento_digest_hex(subject, hex);
	snprintf(tag, sizeof(tag), "sha256-%s", hex);
	bento_error_clear(&e2);
	rc = reg_manifest_get(t, tag, index, NULL, NULL, &e2);
	if (rc == -BENTO_E_NOTFOUND) {
		empty_index(index);
		return 0;
	}
	if (rc < 0 && err)
		*err = e2;
	return rc;
}

static int reg_referrers(struct bento_target *t, const struct bento_digest *subject,
			 struct bento_buf *index, struct bento_error *err)
{
	struct reg *r = R(t);
	char ds[BENTO_DIGEST_STRLEN];
	char *scope = pull_scope(t), *url;
	struct req rq = { .method = "GET", .scope = scope, .what = "GET referrers", .follow = 1,
			  .body_cap = OCI_MANIFEST_MAX, .cap_is_error = 1 };
	struct resp rs;
	int rc;

	resp_init(&rs);
	bento_digest_str(subject, ds);
	url = bento_xasprintf("%s/v2/%s/referrers/%s", r->base, t->ref.repo, ds);
	rq.url = url;
	rq.headers = curl_slist_append(NULL, "Accept: " OCI_INDEX_V1);
	if (r->referrers_api != 0) {
		rc = do_request(t, &rq, &rs, err);
		if (rc < 0)
			goto out;
		if (rs.status == 200) {
			r->referrers_api = 1;
			bento_buf_reset(index);
			bento_buf_add(index, rs.body.buf, rs.body.len);
			rc = 0;
			goto out;
		}
		if (rs.status != 404 && rs.status != 400 && rs.status != 405) {
			rc = http_error(t, &rq, &rs, err);
			goto out;
		}
		r->referrers_api = 0;
	}
	rc = fallback_get(t, subject, index, err);
out:
	curl_slist_free_all(rq.headers);
	resp_release(&rs);
	free(url);
	free(scope);
	return rc;
}

static int reg_referrer_add(struct bento_target *t, const struct bento_digest *subject,
			    const char *descriptor_json, struct bento_error *err)
{
	struct reg *r = R(t);
	struct bento_buf index = BENTO_BUF_INIT, canon = BENTO_BUF_INIT;
	char hex[BENTO_DIGEST_HEXLEN + 1], tag[BENTO_DIGEST_HEXLEN + 8], *what = NULL;
	struct bento_oci_doc root = { 0 };
	struct bento_oci_desc d;
	json_t *desc = NULL;
	int rc;

	rc = bento_json_parse(descriptor_json, strlen(descriptor_json), "referrer descriptor", &desc, err);
	if (rc < 0)
		return rc;
	if (bento_oci_desc_read(desc, "referrer descriptor", NULL, &d, err) || d.other_algorithm) {
		rc = bento_error_set(err, BENTO_E_INVALID, "referrer descriptor: needs mediaType, digest and size");
		goto out;
	}
	if (r->referrers_api < 0) {
		rc = reg_referrers(t, subject, &index, err);
		if (rc < 0)
			goto out;
	}
	if (r->referrers_api == 1) {
		rc = 0;
		goto out;
	}
	rc = fallback_get(t, subject, &index, err);
	if (rc < 0)
		goto out;
	bento_digest_hex(subject, hex);
	snprintf(tag, sizeof(tag), "sha256-%s", hex);
	what = bento_xasprintf("%s:%s", r->name, tag);
	rc = bento_oci_doc_read(index.buf, index.len, what, OCI_INDEX_V1, BENTO_OCI_INDEX, &root, err);
	if (rc < 0)
		goto out;
	for (size_t i = 0; i < root.n_descs; i++) {
		if (strcmp(root.descs[i].digest_str, d.digest_str) == 0) {
			rc = 0;
			goto out;
		}
	}
	json_array_append(json_object_get(root.root, "manifests"), desc);
	rc = bento_json_canonical(root.root, &canon, err);
	if (rc < 0)
		goto out;
	rc = reg_manifest_put(t, tag, OCI_INDEX_V1, canon.buf, canon.len, NULL, err);
out:
	json_decref(desc);
	bento_oci_doc_release(&root);
	free(what);
	bento_buf_release(&index);
	bento_buf_release(&canon);
	return rc;
}

const struct bento_target_ops bento_registry_ops = {
	.open = reg_open,
	.close = reg_close,
	.blob_exists = reg_blob_exists,
	.blob_put = reg_blob_put,
	.blob_get = reg_blob_get,
	.manifest_put = reg_manifest_put,
	.manifest_get = reg_manifest_get,
	.referrers = reg_referrers,
	.referrer_add = reg_referrer_add,
};

int bento_registry_login_check(const char *host, const char *user, const char *pass,
			       const struct bento_target_opts *o, struct bento_error *err)
{
	struct bento_target_ref ref = { .host = (char *)host, .repo = (char *)"-" };
	struct bento_target *t = NULL;
	struct resp rs;
	struct req rq = { .method = "GET", .scope = "", .what = "login" };
	struct reg *r;
	int rc;

	if ((rc = bento_target_open(&ref, o, &t, err)))
		return rc;
	r = R(t);
	/* these credentials, not the ones config.json may hold */
	r->creds_loaded = 1;
	r->user = bento_xstrdup(user);
	r->pass = bento_xstrdup(pass);
	rq.url = bento_xasprintf("%s/v2/", r->base);
	resp_init(&rs);
	rc = do_request(t, &rq, &rs, err);
	if (rc == 0 && rs.status == 401)
		rc = bento_error_set(err, BENTO_E_NETWORK, "%s: login failed: wrong user or password",
				     host);
	else if (rc == 0 && (rs.status < 200 || rs.status > 299))
		rc = http_error(t, &rq, &rs, err);
	else if (rc < 0 && strstr(err ? err->msg : "", "authentication failed"))
		rc = bento_error_set(err, BENTO_E_NETWORK, "%s: login failed: wrong user or password",
				     host);
	resp_release(&rs);
	free((char *)rq.url);
	bento_target_close(t);
	return rc;
}
