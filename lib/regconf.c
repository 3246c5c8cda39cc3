/*
 * regconf.c - containers-registries.conf(5), version 2: the TOML that
 * podman, skopeo and buildah read, as far as registry mirrors and
 * rewrites go (regconf.h).  The TOML reader takes what such files hold:
 * comments, [table] and [[array.of.tables]] headers, bare and quoted keys,
 * basic and literal strings, booleans, arrays of those (over several
 * lines), and numbers or dates, which are skipped.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "fs.h"
#include "regconf.h"

#define REGCONF_MAX (1u << 20)	/* bytes of one file */

/* ---- a TOML value ---- */

enum vtype { V_STRING, V_BOOL, V_ARRAY, V_OTHER };

struct value {
	enum vtype type;
	char *s;	/* V_STRING */
	int b;		/* V_BOOL */
};

struct toml {
	const char *p, *end, *name;
	int line;
	int table_line;		/* where the current [[registry]] began */
	struct bento_error *err;
};

static int fail(struct toml *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct toml *t, const char *fmt, ...)
{
	char what[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return bento_error_set(t->err, BENTO_E_INVALID, "%s:%d: %s", t->name, t->line, what);
}

/* Spaces and tabs; with nl, newlines and comments too. */
static void skip_space(struct toml *t, int nl)
{
	while (t->p < t->end) {
		if (*t->p == ' ' || *t->p == '\t' || *t->p == '\r') {
			t->p++;
		} else if (nl && *t->p == '\n') {
			t->line++;
			t->p++;
		} else if (nl && *t->p == '#') {
			while (t->p < t->end && *t->p != '\n')
				t->p++;
		} else {
			break;
		}
	}
}

/* After a key = value or a header: only a comment may follow on the line. */
static int end_of_line(struct toml *t)
{
	skip_space(t, 0);
	if (t->p < t->end && *t->p == '#')
		while (t->p < t->end && *t->p != '\n')
			t->p++;
	if (t->p < t->end && *t->p != '\n')
		return fail(t, "unexpected '%.1s' after the value", t->p);
	return 0;
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
	       : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static void put_utf8(struct bento_buf *b, unsigned long cp)
{
	char u[4];

	if (cp < 0x80) {
		u[0] = (char)cp;
		bento_buf_add(b, u, 1);
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | (cp >> 6)), u[1] = (char)(0x80 | (cp & 0x3f));
		bento_buf_add(b, u, 2);
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | (cp >> 12)), u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		bento_buf_add(b, u, 3);
	} else {
		u[0] = (char)(0xf0 | (cp >> 18)), u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3f)), u[3] = (char)(0x80 | (cp & 0x3f));
		bento_buf_add(b, u, 4);
	}
}

/* A "basic" or 'literal' string at t->p, into *out (new). */
static int string(struct toml *t, char **out)
{
	char q = *t->p++;
	struct bento_buf b = BENTO_BUF_INIT;

	if (t->end - t->p >= 2 && t->p[0] == q && t->p[1] == q)
		return fail(t, "multi-line strings (%.3s) are not supported", t->p - 1);
	while (t->p < t->end && *t->p != q) {
		char c = *t->p++;

		if (c == '\n' || (unsigned char)c < 0x20) {
			if (c != '\t') {
				bento_buf_release(&b);
				return fail(t, "%s", "a string does not end on its line");
			}
		}
		if (c != '\\' || q == '\'') {
			bento_buf_add(&b, &c, 1);
			continue;
		}
		if (t->p >= t->end)
			break;
		c = *t->p++;
		const char *esc = strchr("b\bt\tn\nf\fr\r\"\"\\\\", c);
		if (esc && ((esc - "b\bt\tn\nf\fr\r\"\"\\\\") % 2) == 0) {
			bento_buf_add(&b, esc + 1, 1);
		} else if (c == 'u' || c == 'U') {
			int digits = c == 'u' ? 4 : 8;
			unsigned long cp = 0;

			for (int i = 0; i < digits; i++) {
				int h = t->p < t->end ? hexval(*t->p) : -1;
				if (h < 0) {
					bento_buf_release(&b);
					return fail(t, "%s", "a \\u escape wants hex digits");
				}
				cp = cp * 16 + (unsigned long)h;
				t->p++;
			}
			if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) || cp == 0) {
				bento_buf_release(&b);
				return fail(t, "%s", "a \\u escape names no character");
			}
			put_utf8(&b, cp);
		} else {
			bento_buf_release(&b);
			return fail(t, "unknown escape '\\%.1s'", t->p - 1);
		}
	}
	if (t->p >= t->end) {
		bento_buf_release(&b);
		return fail(t, "%s", "a string does not end");
	}
	t->p++;
	if (memchr(b.buf, '\0', b.len)) {
		bento_buf_release(&b);
		return fail(t, "%s", "a string holds a NUL");
	}
	*out = bento_buf_detach(&b, NULL);
	return 0;
}

static int is_bare(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-';
}

/* A key: bare or quoted, dotted parts joined with '.'. */
static int key(struct toml *t, char **out)
{
	struct bento_buf b = BENTO_BUF_INIT;

	for (;;) {
		skip_space(t, 0);
		if (t->p < t->end && (*t->p == '"' || *t->p == '\'')) {
			char *s;
			int rc = string(t, &s);
			if (rc) {
				bento_buf_release(&b);
				return rc;
			}
			bento_buf_adds(&b, s);
			free(s);
		} else {
			const char *s = t->p;
			while (t->p < t->end && is_bare(*t->p))
				t->p++;
			if (t->p == s) {
				bento_buf_release(&b);
				return fail(t, "%s", "a key is missing");
			}
			bento_buf_add(&b, s, (size_t)(t->p - s));
		}
		skip_space(t, 0);
		if (t->p < t->end && *t->p == '.') {
			t->p++;
			bento_buf_add(&b, ".", 1);
			continue;
		}
		*out = bento_buf_detach(&b, NULL);
		return 0;
	}
}

static int value(struct toml *t, struct value *v, int depth);

/* [ v, v, ... ] over any number of lines. */
static int array(struct toml *t, int depth)
{
	t->p++;
	for (;;) {
		struct value v = { 0 };
		int rc;

		skip_space(t, 1);
		if (t->p < t->end && *t->p == ']') {
			t->p++;
			return 0;
		}
		if ((rc = value(t, &v, depth + 1)))
			return rc;
		free(v.s);
		skip_space(t, 1);
		if (t->p < t->end && *t->p == ',') {
			t->p++;
			continue;
		}
		if (t->p < t->end && *t->p == ']') {
			t->p++;
			return 0;
		}
		return fail(t, "%s", "an array wants ',' or ']'");
	}
}

static int value(struct toml *t, struct value *v, int depth)
{
	skip_space(t, 0);
	if (t->p >= t->end || *t->p == '\n' || *t->p == '#')
		return fail(t, "%s", "a value is missing");
	if (depth > 32)
		return fail(t, "%s", "arrays nested too deep");
	if (*t->p == '"' || *t->p == '\'') {
		v->type = V_STRING;
		return string(t, &v->s);
	}
	if (*t->p == '[') {
		v->type = V_ARRAY;
		return array(t, depth);
	}
	if (*t->p == '{')
		return fail(t, "%s", "inline tables are not supported");
	if (t->end - t->p >= 4 && memcmp(t->p, "true", 4) == 0 &&
	    (t->end - t->p == 4 || !is_bare(t->p[4]))) {
		v->type = V_BOOL, v->b = 1, t->p += 4;
		return 0;
	}
	if (t->end - t->p >= 5 && memcmp(t->p, "false", 5) == 0 &&
	    (t->end - t->p == 5 || !is_bare(t->p[5]))) {
		v->type = V_BOOL, v->b = 0, t->p += 5;
		return 0;
	}
	/* a number or a date: skipped */
	if ((*t->p >= '0' && *t->p <= '9') || *t->p == '+' || *t->p == '-') {
		while (t->p < t->end && (is_bare(*t->p) || strchr(".:+ ", *t->p)) &&
		       !(*t->p == ' ' && (t->p + 1 >= t->end || !(t->p[1] >= '0' && t->p[1] <= '9'))))
			t->p++;
		v->type = V_OTHER;
		return 0;
	}
	return fail(t, "'%.1s' starts no value", t->p);
}

/* ---- registries.conf ---- */

enum table { T_TOP, T_REGISTRY, T_MIRROR, T_OTHER };

static void registry_free(struct bento_regconf_registry *r)
{
	free(r->prefix);
	free(r->location);
	for (size_t i = 0; i < r->n_mirrors; i++)
		free(r->mirrors[i].location);
	free(r->mirrors);
	memset(r, 0, sizeof(*r));
}

void bento_regconf_free(struct bento_regconf *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++)
		registry_free(&c->v[i]);
	free(c->v);
	c->v = NULL;
	c->n = 0;
}

/* A prefix or location: a reference's start, or "*.domain" for a prefix. */
static int location_valid(const char *s, int wildcard_ok)
{
	if (!*s)
		return 0;
	if (wildcard_ok && strncmp(s, "*.", 2) == 0)
		s += 2;
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == '*' || *p == '\\' || (unsigned char)*p == 0x7f)
			return 0;
	return *s != '/' && *s != ':' && *s != '@';
}

static int registry_check(struct toml *t, struct bento_regconf *c, struct bento_regconf_registry *r);

/* The [[registry]] just read is complete: check it, and let it replace one of c's. */
static int registry_done(struct toml *t, struct bento_regconf *c, struct bento_regconf_registry *r,
			 int *have)
{
	int line = t->line, rc;

	if (!*have)
		return 0;
	*have = 0;
	/* what is wrong with a table is said at its header */
	t->line = t->table_line;
	rc = registry_check(t, c, r);
	t->line = line;
	return rc;
}

static int registry_check(struct toml *t, struct bento_regconf *c, struct bento_regconf_registry *r)
{
	if (!r->prefix && !r->location) {
		registry_free(r);
		return fail(t, "%s", "a [[registry]] needs a prefix or a location");
	}
	for (size_t i = 0; i < r->n_mirrors; i++)
		if (!r->mirrors[i].location) {
			registry_free(r);
			return fail(t, "%s", "a [[registry.mirror]] needs a location");
		}
	if (!r->prefix)
		r->prefix = bento_xstrdup(r->location);
	if (!location_valid(r->prefix, 1) || (r->location && !location_valid(r->location, 0))) {
		int rc = fail(t, "'%s' is no registry, repository or *.domain",
			      location_valid(r->prefix, 1) ? r->location : r->prefix);
		registry_free(r);
		return rc;
	}
	if (strncmp(r->prefix, "*.", 2) == 0 && r->location) {
		registry_free(r);
		return fail(t, "%s", "a wildcard prefix takes no location");
	}
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->v[i].prefix, r->prefix) == 0) {
			registry_free(&c->v[i]);
			c->v[i] = *r;
			memset(r, 0, sizeof(*r));
			return 0;
		}
	c->v = bento_xrealloc(c->v, (c->n + 1) * sizeof(*c->v));
	c->v[c->n++] = *r;
	memset(r, 0, sizeof(*r));
	return 0;
}

static int want(struct toml *t, const struct value *v, enum vtype type, const char *k)
{
	static const char *const names[] = { "a string", "true or false", "an array", "a value" };

	if (v->type == type)
		return 0;
	return fail(t, "%s wants %s", k, names[type]);
}

static int set_key(struct toml *t, enum table tab, const char *k, struct value *v,
		   struct bento_regconf_registry *r)
{
	int rc = 0;

	if (tab == T_REGISTRY) {
		if (!strcmp(k, "prefix") || !strcmp(k, "location")) {
			char **dst = !strcmp(k, "prefix") ? &r->prefix : &r->location;
			if ((rc = want(t, v, V_STRING, k)))
				return rc;
			free(*dst);
			*dst = *v->s ? v->s : NULL;
			if (!*v->s)
				free(v->s);
			v->s = NULL;
		} else if (!strcmp(k, "insecure") || !strcmp(k, "blocked") ||
			   !strcmp(k, "mirror-by-digest-only")) {
			if ((rc = want(t, v, V_BOOL, k)))
				return rc;
			if (!strcmp(k, "insecure"))
				r->insecure = v->b;
			else if (!strcmp(k, "blocked"))
				r->blocked = v->b;
			/* mirror-by-digest-only: the parse loop gives it to the mirrors */
		}
	} else if (tab == T_MIRROR) {
		struct bento_regconf_mirror *m = &r->mirrors[r->n_mirrors - 1];

		if (!strcmp(k, "location")) {
			if ((rc = want(t, v, V_STRING, k)))
				return rc;
			if (!location_valid(v->s, 0))
				return fail(t, "'%s' is no registry or repository", v->s);
			free(m->location);
			m->location = v->s;
			v->s = NULL;
		} else if (!strcmp(k, "insecure")) {
			if ((rc = want(t, v, V_BOOL, k)))
				return rc;
			m->insecure = v->b;
		} else if (!strcmp(k, "pull-from-mirror")) {
			if ((rc = want(t, v, V_STRING, k)))
				return rc;
			if (!strcmp(v->s, "all") || !*v->s)
				m->pull_from = BENTO_PULL_ALL;
			else if (!strcmp(v->s, "digest-only"))
				m->pull_from = BENTO_PULL_DIGEST_ONLY;
			else if (!strcmp(v->s, "tag-only"))
				m->pull_from = BENTO_PULL_TAG_ONLY;
			else
				return fail(t, "pull-from-mirror is all, digest-only or tag-only, not '%s'",
					    v->s);
		}
	}
	return 0;
}

int bento_regconf_parse(const char *text, size_t len, const char *name, struct bento_regconf *c,
			struct bento_error *err)
{
	struct toml t = { .p = text, .end = text + len, .name = name, .line = 1, .err = err };
	struct bento_regconf_registry r = { 0 };
	enum table tab = T_TOP;
	int have = 0, rc = 0, digest_only = 0;

	if (memchr(text, '\0', len))
		return fail(&t, "%s", "the file holds a NUL byte");
	while (rc == 0) {
		skip_space(&t, 1);
		if (t.p >= t.end)
			break;
		if (*t.p == '[') {
			int aot = t.end - t.p >= 2 && t.p[1] == '[';
			char *k = NULL;

			t.p += aot ? 2 : 1;
			if ((rc = key(&t, &k)))
				break;
			if (t.end - t.p < (aot ? 2 : 1) || *t.p != ']' || (aot && t.p[1] != ']')) {
				free(k);
				rc = fail(&t, "%s", "a table header wants its closing bracket");
				break;
			}
			t.p += aot ? 2 : 1;
			if (aot && !strcmp(k, "registry")) {
				if ((rc = registry_done(&t, c, &r, &have)) == 0)
					have = 1, tab = T_REGISTRY, digest_only = 0, t.table_line = t.line;
			} else if (aot && !strcmp(k, "registry.mirror")) {
				if (!have) {
					rc = fail(&t, "%s", "a [[registry.mirror]] comes after its [[registry]]");
				} else {
					r.mirrors = bento_xrealloc(r.mirrors,
								   (r.n_mirrors + 1) * sizeof(*r.mirrors));
					memset(&r.mirrors[r.n_mirrors], 0, sizeof(*r.mirrors));
					r.mirrors[r.n_mirrors++].pull_from =
						digest_only ? BENTO_PULL_DIGEST_ONLY : BENTO_PULL_ALL;
					tab = T_MIRROR;
				}
			} else if (!strncmp(k, "registries.", 11) || !strcmp(k, "registries")) {
				rc = fail(&t, "[%s] is version 1 of the format, which bento does not read: "
					  "write [[registry]] tables (containers-registries.conf(5))", k);
			} else {
				if ((rc = registry_done(&t, c, &r, &have)) == 0)
					tab = T_OTHER;
			}
			free(k);
			if (rc == 0)
				rc = end_of_line(&t);
			continue;
		}
		char *k = NULL;
		struct value v = { 0 };

		if ((rc = key(&t, &k)))
			break;
		skip_space(&t, 0);
		if (t.p >= t.end || *t.p != '=') {
			rc = fail(&t, "'%s' wants '=' and a value", k);
			free(k);
			break;
		}
		t.p++;
		if ((rc = value(&t, &v, 0)) == 0 && (rc = end_of_line(&t)) == 0) {
			if (tab == T_REGISTRY && !strcmp(k, "mirror-by-digest-only") && v.type == V_BOOL)
				digest_only = v.b;
			rc = set_key(&t, tab, k, &v, &r);
		}
		free(v.s);
		free(k);
	}
	if (rc == 0)
		rc = registry_done(&t, c, &r, &have);
	registry_free(&r);
	return rc;
}

static int load_file(const char *path, struct bento_regconf *c, struct bento_error *err)
{
	struct bento_buf b = BENTO_BUF_INIT;
	int rc = bento_read_file(path, REGCONF_MAX, &b, err);

	if (rc == -ENOENT) {
		bento_error_clear(err);
		rc = 0;
	} else if (rc == 0) {
		rc = bento_regconf_parse(b.buf, b.len, path, c, err);
	}
	bento_buf_release(&b);
	return rc;
}

static int load_dir(const char *dir, struct bento_regconf *c, struct bento_error *err)
{
	char **names = NULL;
	size_t n = 0;
	int rc = bento_dir_list(dir, ".conf", 1, &names, &n);

	if (rc == -ENOENT || rc == -ENOTDIR)
		return 0;
	if (rc)
		return bento_error_errno(err, -rc, "%s", dir);
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = load_file(names[i], c, err);
	bento_strv_free(names, n);
	return rc;
}

int bento_regconf_load(struct bento_regconf *c, struct bento_error *err)
{
	const char *env = getenv("CONTAINERS_REGISTRIES_CONF");
	char *user = bento_xdg_config_path("containers");
	char *path = NULL, *dropins = NULL;
	int rc;

	memset(c, 0, sizeof(*c));
	if (env && *env) {
		rc = load_file(env, c, err);
		goto out;
	}
	path = bento_xasprintf("%s/registries.conf", user);
	if (access(path, F_OK) != 0) {
		free(path);
		path = bento_xstrdup("/etc/containers/registries.conf");
	}
	dropins = bento_xasprintf("%s/registries.conf.d", user);
	if ((rc = load_file(path, c, err)) == 0 &&
	    (rc = load_dir("/etc/containers/registries.conf.d", c, err)) == 0)
		rc = load_dir(dropins, c, err);
out:
	if (rc)
		bento_regconf_free(c);
	free(user);
	free(path);
	free(dropins);
	return rc;
}

/* ---- matching ---- */

/* How much of name the prefix matches, at a boundary; -1 when it does not. */
static long prefix_match(const char *name, const char *prefix)
{
	size_t n = strlen(name), k = strlen(prefix);

	if (strncmp(prefix, "*.", 2) == 0) {
		/* a subdomain of the rest, as the host */
		const char *slash = strchr(name, '/');
		size_t host = slash ? (size_t)(slash - name) : n, rest = k - 1;
		if (host <= rest || strncmp(name + host - rest, prefix + 1, rest) != 0)
			return -1;
		return (long)host;
	}
	if (n < k || strncmp(name, prefix, k) != 0)
		return -1;
	if (n > k && name[k] != '/' && name[k] != ':' && name[k] != '@')
		return -1;
	return (long)k;
}

/* "docker.io/library/x:tag@digest": the name registries.conf prefixes match. */
static char *full_name(const struct bento_target_ref *r)
{
	struct bento_buf b = BENTO_BUF_INIT;

	bento_buf_addf(&b, "%s/%s", strcmp(r->host, "registry-1.docker.io") ? r->host : "docker.io",
		       r->repo);
	if (r->tag)
		bento_buf_addf(&b, ":%s", r->tag);
	if (r->digest)
		bento_buf_addf(&b, "@%s", r->digest);
	return bento_buf_detach(&b, NULL);
}

static int add_candidate(const char *location, const char *rest, int insecure,
			 const struct bento_target_opts *o, struct bento_target_ref **v,
			 struct bento_target_opts **opts, size_t *n, struct bento_error *err)
{
	char *s = bento_xasprintf("%s%s", location, rest);
	struct bento_target_ref r;
	int rc = bento_target_ref_parse(s, &r, err);

	if (rc) {
		bento_error_prefix(err, "registries.conf: %s", location);
		free(s);
		return rc;
	}
	free(s);
	*v = bento_xrealloc(*v, (*n + 1) * sizeof(**v));
	*opts = bento_xrealloc(*opts, (*n + 1) * sizeof(**opts));
	(*v)[*n] = r;
	(*opts)[*n] = o ? *o : (struct bento_target_opts){ 0 };
	if (insecure)
		(*opts)[*n].plain_http = (*opts)[*n].insecure = 1;
	(*n)++;
	return 0;
}

int bento_regconf_candidates(const struct bento_regconf *c, const struct bento_target_ref *ref,
			     const struct bento_target_opts *o, struct bento_target_ref **v,
			     struct bento_target_opts **opts, size_t *n, struct bento_error *err)
{
	const struct bento_regconf_registry *best = NULL;
	char *name = NULL;
	long len = -1;
	int rc = 0;

	*v = NULL, *opts = NULL, *n = 0;
	if (!ref->is_layout && c) {
		name = full_name(ref);
		for (size_t i = 0; i < c->n; i++) {
			long k = prefix_match(name, c->v[i].prefix);
			if (k > len)
				len = k, best = &c->v[i];
		}
	}
	if (!best) {
		*v = bento_xcalloc(1, sizeof(**v));
		bento_target_ref_copy(*v, ref);
		*opts = bento_xmalloc(sizeof(**opts));
		**opts = o ? *o : (struct bento_target_opts){ 0 };
		*n = 1;
		goto out;
	}
	if (best->blocked) {
		rc = bento_error_set(err, BENTO_E_USAGE, "%s: blocked by registries.conf (prefix %s)",
				     name, best->prefix);
		goto out;
	}
	for (size_t i = 0; i < best->n_mirrors && rc == 0; i++) {
		const struct bento_regconf_mirror *m = &best->mirrors[i];
		if ((m->pull_from == BENTO_PULL_DIGEST_ONLY && !ref->digest) ||
		    (m->pull_from == BENTO_PULL_TAG_ONLY && ref->digest))
			continue;
		rc = add_candidate(m->location, name + len, m->insecure, o, v, opts, n, err);
	}
	if (rc == 0)
		rc = add_candidate(best->location ? best->location : best->prefix[0] == '*'
				   ? "" : best->prefix,
				   best->prefix[0] == '*' ? name : name + len, best->insecure, o, v,
				   opts, n, err);
out:
	if (rc) {
		for (size_t i = 0; i < *n; i++)
			bento_target_ref_release(&(*v)[i]);
		free(*v);
		free(*opts);
		*v = NULL, *opts = NULL, *n = 0;
	}
	free(name);
	return rc;
}

/* ---- reading through the mirrors ---- */

int bento_target_open_read(const struct bento_target_ref *ref, const struct bento_target_opts *o,
			   const char *reference, struct bento_target **out,
			   struct bento_target_ref *used, struct bento_target_opts *used_opts,
			   struct bento_buf *raw, char **media_type,
			   struct bento_digest *digest, struct bento_error *err)
{
	struct bento_regconf c = { 0 };
	struct bento_target_ref *v = NULL;
	struct bento_target_opts *opts = NULL;
	struct bento_buf tried = BENTO_BUF_INIT;
	size_t n = 0;
	int rc = 0;

	*out = NULL;
	if (!ref->is_layout && (rc = bento_regconf_load(&c, err)))
		return rc;
	if ((rc = bento_regconf_candidates(&c, ref, o, &v, &opts, &n, err)))
		goto out;
	for (size_t i = 0; i < n; i++) {
		struct bento_target *t = NULL;

		free(*media_type);
		*media_type = NULL;
		if ((rc = bento_target_open(&v[i], &opts[i], &t, err)) == 0 &&
		    (rc = bento_target_manifest_get(t, reference, raw, media_type, digest, err)) == 0) {
			*out = t;
			bento_target_ref_copy(used, &v[i]);
			*used_opts = opts[i];
			break;
		}
		bento_target_close(t);
		/* a mirror that is down or lacks the image: the next, as podman does */
		if (i + 1 == n || (rc != -BENTO_E_NETWORK && rc != -BENTO_E_NOTFOUND))
			break;
		char *s = bento_target_ref_str(&v[i]);
		bento_buf_addf(&tried, "%s%s (%s)", tried.len ? "; " : "", s, err ? err->msg : "");
		free(s);
	}
	if (rc && tried.len && err) {
		char was[sizeof(err->msg)];
		snprintf(was, sizeof(was), "%s", err->msg);
		bento_error_set(err, -rc, "%s; mirrors tried first: %s", was, tried.buf);
	}
out:
	for (size_t i = 0; i < n; i++)
		bento_target_ref_release(&v[i]);
	free(v);
	free(opts);
	bento_buf_release(&tried);
	bento_regconf_free(&c);
	return rc;
}
