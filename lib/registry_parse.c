/*
 * registry_parse.c - the parsers of registry_internal.h: what a registry
 * and its token service send, and the check of the URLs they hand over.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "buf.h"
#include "registry_internal.h"

#define TOKEN_LEN_MAX 16384
#define EXPIRES_IN_MAX 86400		/* longer lifetimes are cached for a day */
#define RETRY_AFTER_MAX 1000000000L

void bento_http_headers_init(struct bento_http_headers *h)
{
	memset(h, 0, sizeof(*h));
	h->content_length = -1;
	h->retry_after = -1;
}

void bento_http_headers_release(struct bento_http_headers *h)
{
	free(h->location);
	free(h->dcd);
	free(h->range);
	free(h->content_type);
	free(h->www_auth);
	bento_http_headers_init(h);
}

int bento_http_parse_uint(const char *v, uint64_t max, uint64_t *out)
{
	uint64_t x = 0;

	if (!*v)
		return -1;
	for (; *v; v++) {
		if (*v < '0' || *v > '9')
			return -1;
		if (x > (max - (uint64_t)(*v - '0')) / 10)
			return -1;
		x = x * 10 + (uint64_t)(*v - '0');
	}
	*out = x;
	return 0;
}

int bento_http_range_parse(const char *v, uint64_t *have)
{
	const char *dash;
	char *last;
	uint64_t a, b;
	int rc;

	if (strncasecmp(v, "bytes=", 6) == 0)
		v += 6;
	dash = strchr(v, '-');
	if (!dash || dash - v > 20)
		return -1;
	{
		char first[24];
		memcpy(first, v, (size_t)(dash - v));
		first[dash - v] = '\0';
		if (bento_http_parse_uint(first, INT64_MAX, &a) < 0 || a != 0)
			return -1;
	}
	last = bento_xstrdup(dash + 1);
	rc = bento_http_parse_uint(last, INT64_MAX - 1, &b);
	free(last);
	if (rc < 0)
		return -1;
	*have = b + 1;
	return 0;
}

/*
 * "Name: value" with name matched without case: *v, *vn the value without
 * the surrounding blanks.  A value with a control character (CR, LF, NUL,
 * ...) other than a tab does not count: it cannot be meant.
 */
static int header_is(const char *p, size_t n, const char *name, const char **v, size_t *vn)
{
	size_t k = strlen(name), i;
	const char *e = p + n, *s;

	if (n <= k || strncasecmp(p, name, k) != 0 || p[k] != ':')
		return 0;
	s = p + k + 1;
	while (e > s && (e[-1] == '\n' || e[-1] == '\r'))
		e--;
	while (s < e && (*s == ' ' || *s == '\t'))
		s++;
	while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	for (i = 0; i < (size_t)(e - s); i++)
		if (((unsigned char)s[i] < 0x20 && s[i] != '\t') || s[i] == 0x7f)
			return 0;
	*v = s;
	*vn = (size_t)(e - s);
	return 1;
}

static void set_str(char **slot, const char *v, size_t n)
{
	free(*slot);
	*slot = bento_xstrndup(v, n);
}

void bento_http_header_line(struct bento_http_headers *h, const char *line, size_t n, time_t now)
{
	const char *v;
	size_t vn;
	char *s;
	uint64_t x;

	if (header_is(line, n, "Location", &v, &vn))
		set_str(&h->location, v, vn);
	else if (header_is(line, n, "Docker-Content-Digest", &v, &vn))
		set_str(&h->dcd, v, vn);
	else if (header_is(line, n, "Range", &v, &vn))
		set_str(&h->range, v, vn);
	else if (header_is(line, n, "Content-Type", &v, &vn))
		set_str(&h->content_type, v, vn);
	else if (header_is(line, n, "WWW-Authenticate", &v, &vn)) {
		size_t have = h->www_auth ? strlen(h->www_auth) : 0;
		if (have + 2 + vn > BENTO_CHALLENGE_MAX)
			return;
		s = bento_xasprintf("%s%s%.*s", have ? h->www_auth : "", have ? ", " : "", (int)vn, v);
		free(h->www_auth);
		h->www_auth = s;
	} else if (header_is(line, n, "Content-Length", &v, &vn)) {
		s = bento_xstrndup(v, vn);
		if (bento_http_parse_uint(s, INT64_MAX, &x) == 0)
			h->content_length = (long long)x;
		free(s);
	} else if (header_is(line, n, "Retry-After", &v, &vn)) {
		s = bento_xstrndup(v, vn);
		if (bento_http_parse_uint(s, RETRY_AFTER_MAX, &x) == 0) {
			h->retry_after = (long)x;
		} else {
			/* An HTTP-date: the seconds until then, none when past. */
			time_t when = curl_getdate(s, &now);
			if (when != (time_t)-1)
				h->retry_after = when > now ? (when - now > RETRY_AFTER_MAX ? RETRY_AFTER_MAX
											: (long)(when - now))
							    : 0;
		}
		free(s);
	}
}

/* ---- WWW-Authenticate ---- */

static int tchar(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

static int b68char(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("-._~+/", c));
}

static const char *ows(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

static size_t token_len(const char *p)
{
	size_t n = 0;

	while (tchar((unsigned char)p[n]))
		n++;
	return n;
}

/* The quoted-string at p ('"'): *out its unescaped text (new); the byte after it, or NULL. */
static const char *quoted(const char *p, char **out)
{
	struct bento_buf b = BENTO_BUF_INIT;

	for (p++; *p && *p != '"'; p++) {
		if (*p == '\\') {
			p++;
			if (!*p)
				break;
		}
		bento_buf_addch(&b, *p);
	}
	if (*p != '"') {
		bento_buf_release(&b);
		return NULL;
	}
	*out = bento_buf_detach(&b, NULL);
	return p + 1;
}

static enum bento_auth_scheme scheme_of(const char *p, size_t n)
{
	if (n == 6 && strncasecmp(p, "Bearer", 6) == 0)
		return BENTO_AUTH_BEARER;
	if (n == 5 && strncasecmp(p, "Basic", 5) == 0)
		return BENTO_AUTH_BASIC;
	return BENTO_AUTH_NONE;
}

void bento_http_challenge_release(struct bento_http_challenge *c)
{
	free(c->realm);
	free(c->service);
	memset(c, 0, sizeof(*c));
}

/* Keep cur in best when it ranks higher (Bearer, then Basic, the first of each). */
static void challenge_done(struct bento_http_challenge *cur, struct bento_http_challenge *best)
{
	if ((cur->scheme == BENTO_AUTH_BEARER && best->scheme != BENTO_AUTH_BEARER) ||
	    (cur->scheme == BENTO_AUTH_BASIC && best->scheme == BENTO_AUTH_NONE)) {
		bento_http_challenge_release(best);
		*best = *cur;
		memset(cur, 0, sizeof(*cur));
	}
	bento_http_challenge_release(cur);
}

/*
 * After a challenge's scheme, at p: its token68 ("Basic dXNlcg=="), skipped;
 * or its first parameter, left for the caller.  NULL when neither.
 */
static const char *skip_token68(const char *p)
{
	size_t n = token_len(p), m = 0;
	const char *q = ows(p + n);

	if (!*p || *p == ',')
		return p;
	if (n > 0 && *q == '=') {
		q = ows(q + 1);
		if (*q && *q != ',' && *q != '=')
			return p;		/* token "=" value: a parameter */
	}
	while (b68char((unsigned char)p[m]))
		m++;
	if (m == 0)
		return NULL;
	while (p[m] == '=')
		m++;
	q = ows(p + m);
	return !*q || *q == ',' ? q : NULL;
}

int bento_http_challenge_parse(const char *v, struct bento_http_challenge *out)
{
	struct bento_http_challenge cur = { 0 }, best = { 0 };
	const char *p = v, *q;
	int in = 0;
	size_t n;

	memset(out, 0, sizeof(*out));
	for (;;) {
		p = ows(p);
		while (*p == ',')
			p = ows(p + 1);
		if (!*p)
			break;
		n = token_len(p);
		if (n == 0)
			goto bad;
		q = ows(p + n);
		if (*q == '=') {
			/* an auth-param: token BWS "=" BWS ( token / quoted-string ) */
			const char *key = p;
			size_t kn = n;
			char *val = NULL, **slot = NULL;

			if (!in)
				goto bad;		/* a parameter before any scheme */
			q = ows(q + 1);
			if (*q == '"') {
				q = quoted(q, &val);
				if (!q)
					goto bad;
			} else {
				size_t vn = token_len(q);
				if (vn == 0)
					goto bad;
				val = bento_xstrndup(q, vn);
				q += vn;
			}
			if (kn == 5 && strncasecmp(key, "realm", 5) == 0)
				slot = &cur.realm;
			else if (kn == 7 && strncasecmp(key, "service", 7) == 0)
				slot = &cur.service;
			if (slot && *slot) {		/* a parameter twice: which one is meant? */
				free(val);
				goto bad;
			}
			if (slot)
				*slot = val;
			else
				free(val);
			p = ows(q);
			if (*p && *p != ',')
				goto bad;
			continue;
		}
		/* a new challenge; unknown schemes are parsed, then dropped */
		challenge_done(&cur, &best);
		cur.scheme = scheme_of(p, n);
		in = 1;
		p = skip_token68(q);
		if (!p)
			goto bad;
	}
	challenge_done(&cur, &best);
	if (best.scheme == BENTO_AUTH_NONE)
		return -1;
	*out = best;
	return 0;
bad:
	bento_http_challenge_release(&cur);
	bento_http_challenge_release(&best);
	return -1;
}

/* ---- the token answer ---- */

int bento_registry_token_parse(const char *body, size_t n, char **token, long long *expires_in,
			       const char **why)
{
	json_t *root = json_loadb(body, n, JSON_REJECT_DUPLICATES, NULL), *v;
	const char *value = NULL;
	size_t len = 0, i;
	int rc = -1;

	if (!json_is_object(root)) {
		*why = "the answer is not a JSON object";
		goto out;
	}
	v = json_object_get(root, "token");
	if (!json_is_string(v) || json_string_length(v) == 0)
		v = json_object_get(root, "access_token");
	if (!json_is_string(v) || json_string_length(v) == 0) {
		*why = "no token in the answer";
		goto out;
	}
	value = json_string_value(v);
	len = json_string_length(v);
	if (len > TOKEN_LEN_MAX) {
		*why = "the token is longer than 16384 bytes";
		goto out;
	}
	for (i = 0; i < len; i++)
		if ((unsigned char)value[i] <= 0x20 || (unsigned char)value[i] >= 0x7f) {
			*why = "the token holds a character that cannot go into a header";
			goto out;
		}
	*expires_in = 60;
	v = json_object_get(root, "expires_in");
	if (json_is_integer(v) && json_integer_value(v) > 0)
		*expires_in = json_integer_value(v) > EXPIRES_IN_MAX ? EXPIRES_IN_MAX : json_integer_value(v);
	*token = bento_xstrndup(value, len);
	rc = 0;
out:
	json_decref(root);
	return rc;
}

/* ---- URLs from the server ---- */

enum host_class { HOST_OTHER, HOST_LOOPBACK, HOST_LOCAL };	/* LOCAL: link-local or unspecified */

static enum host_class v4_class(const unsigned char *a)
{
	if (a[0] == 127)
		return HOST_LOOPBACK;
	if (a[0] == 0 || (a[0] == 169 && a[1] == 254))
		return HOST_LOCAL;
	return HOST_OTHER;
}

/* host as curl's URL parser gives it: a name, a dotted IPv4 address, or "[v6]". */
static enum host_class host_class(const char *host)
{
	unsigned char a[16];
	size_t n = strlen(host);

	if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
		static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
		static const unsigned char zero[16];
		char *h = bento_xstrndup(host + 1, n - 2);
		int ok = inet_pton(AF_INET6, h, a) == 1;

		free(h);
		if (!ok)
			return HOST_OTHER;
		if (memcmp(a, mapped, 12) == 0)
			return v4_class(a + 12);
		if (memcmp(a, zero, 15) == 0 && a[15] <= 1)
			return a[15] == 1 ? HOST_LOOPBACK : HOST_LOCAL;
		if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80)
			return HOST_LOCAL;
		return HOST_OTHER;
	}
	if (inet_pton(AF_INET, host, a) == 1)
		return v4_class(a);
	/* localhost itself: its subdomains may be resolved by DNS to anywhere */
	return n == 9 && strncasecmp(host, "localhost", 9) == 0 ? HOST_LOOPBACK : HOST_OTHER;
}

struct parts {
	char *scheme, *host, *port;
};

static void parts_free(struct parts *p)
{
	curl_free(p->scheme);
	curl_free(p->host);
	curl_free(p->port);
	memset(p, 0, sizeof(*p));
}

static int parts_get(CURLU *u, struct parts *p)
{
	memset(p, 0, sizeof(*p));
	if (curl_url_get(u, CURLUPART_SCHEME, &p->scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &p->host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PORT, &p->port, CURLU_DEFAULT_PORT) != CURLUE_OK) {
		parts_free(p);
		return -1;
	}
	return 0;
}

/* The scheme, host and port of an absolute URL. */
static int parts_of(const char *url, struct parts *p)
{
	CURLU *u = curl_url();
	int rc = -1;

	memset(p, 0, sizeof(*p));
	if (u && strlen(url) <= BENTO_URL_MAX && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK)
		rc = parts_get(u, p);
	curl_url_cleanup(u);
	return rc;
}

int bento_registry_same_origin(const char *base, const char *url)
{
	struct parts a, b;
	int same = 0;

	if (parts_of(base, &a) < 0)
		return 0;
	if (parts_of(url, &b) == 0) {
		same = strcmp(a.scheme, b.scheme) == 0 && strcasecmp(a.host, b.host) == 0 &&
		       strcmp(a.port, b.port) == 0;
		parts_free(&b);
	}
	parts_free(&a);
	return same;
}

int bento_registry_url_is_loopback(const char *url)
{
	struct parts p;
	int yes;

	if (parts_of(url, &p) < 0)
		return 0;
	yes = host_class(p.host) == HOST_LOOPBACK;
	parts_free(&p);
	return yes;
}

int bento_registry_url_check(const char *base, const char *from, const char *ref, char **out,
			     const char **why)
{
	CURLU *u = curl_url();
	struct parts p = { 0 }, b = { 0 };
	char *x = NULL, *s = NULL;
	int rc = -1, secure;

	*why = "not a valid URL";
	if (!u)
		goto out;
	if (!*ref) {
		*why = "empty";
		goto out;
	}
	if (strlen(ref) > BENTO_URL_MAX) {
		*why = "longer than 8192 bytes";
		goto out;
	}
	if (curl_url_set(u, CURLUPART_URL, from, 0) != CURLUE_OK ||
	    curl_url_set(u, CURLUPART_URL, ref, 0) != CURLUE_OK)
		goto out;
	if (curl_url_get(u, CURLUPART_SCHEME, &x, 0) != CURLUE_OK || !x ||
	    (strcmp(x, "http") != 0 && strcmp(x, "https") != 0)) {
		*why = "not http or https";
		goto out;
	}
	curl_free(x);
	x = NULL;
	if (curl_url_get(u, CURLUPART_USER, &x, 0) == CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PASSWORD, &x, 0) == CURLUE_OK ||
	    curl_url_get(u, CURLUPART_OPTIONS, &x, 0) == CURLUE_OK) {
		*why = "it carries a user name or password";
		goto out;
	}
	if (parts_get(u, &p) < 0 || !*p.host) {
		*why = "no host";
		goto out;
	}
	if (parts_of(base, &b) < 0) {
		*why = "the registry's own URL does not parse";
		goto out;
	}
	secure = strcmp(b.scheme, "https") == 0 || strncasecmp(from, "https:", 6) == 0;
	if (secure && strcmp(p.scheme, "http") == 0 && host_class(p.host) != HOST_LOOPBACK) {
		*why = "it leads from https to plain http";
		goto out;
	}
	if (host_class(p.host) == HOST_LOCAL && strcasecmp(p.host, b.host) != 0) {
		*why = "a link-local or unspecified address";
		goto out;
	}
	curl_url_set(u, CURLUPART_FRAGMENT, NULL, 0);
	if (curl_url_get(u, CURLUPART_URL, &s, 0) != CURLUE_OK)
		goto out;
	if (strlen(s) > BENTO_URL_MAX) {
		*why = "longer than 8192 bytes";
		goto out;
	}
	*out = bento_xstrdup(s);
	rc = 0;
out:
	curl_free(s);
	curl_free(x);
	parts_free(&p);
	parts_free(&b);
	curl_url_cleanup(u);
	return rc;
}

void bento_registry_curl_restrict(CURL *c)
{
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
	curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
}
