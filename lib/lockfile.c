/*
 * lockfile.c - read the lockfiles of a build context: which kind a file is
 * by its name, and whether every requirement in it is pinned to an exact
 * version and hashed (pip, uv, poetry, pipenv, conda, npm, pnpm, yarn,
 * cargo, go).  The readers are line- or JSON-based and tolerant of what
 * they do not know; what they report is a list of findings by line.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "buf.h"
#include "error.h"
#include "lockfile.h"

#define LOCK_MAX_SIZE	(64u << 20)
#define LOCK_MAX_LINE	(1u << 20)
#define NPM_MAX_DEPTH	256		/* package-lock v1's nested dependencies */

static const struct {
	const char *name, *kind;
} lock_names[] = {
	{ "Cargo.lock", "cargo" },
	{ "Pipfile.lock", "pipenv" },
	{ "conda-lock.yaml", "conda" },
	{ "conda-lock.yml", "conda" },
	{ "go.sum", "go" },
	{ "package-lock.json", "npm" },
	{ "pnpm-lock.yaml", "pnpm" },
	{ "poetry.lock", "poetry" },
	{ "requirements.lock", "pip" },
	{ "uv.lock", "uv" },
	{ "yarn.lock", "yarn" },
};

const char *bento_lockfile_kind(const char *base)
{
	size_t n;

	if (!base)
		return NULL;
	for (size_t i = 0; i < sizeof(lock_names) / sizeof(lock_names[0]); i++)
		if (strcmp(base, lock_names[i].name) == 0)
			return lock_names[i].kind;
	n = strlen(base);
	if (n >= 16 && strncmp(base, "requirements", 12) == 0 && strcmp(base + n - 4, ".txt") == 0)
		return "pip";
	return NULL;
}

struct issues {
	struct bento_lockfile_issue *v;
	size_t n, cap;
	const char *file;
};

static void issue_add(struct issues *is, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void issue_add(struct issues *is, int line, const char *fmt, ...)
{
	struct bento_buf m = BENTO_BUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	bento_buf_vaddf(&m, fmt, ap);
	va_end(ap);
	if (is->n == is->cap) {
		is->cap = is->cap ? 2 * is->cap : 8;
		is->v = bento_xrealloc(is->v, is->cap * sizeof(*is->v));
	}
	is->v[is->n].file = bento_xstrdup(is->file);
	is->v[is->n].line = line;
	is->v[is->n].what = bento_buf_detach(&m, NULL);
	is->n++;
}

void bento_lockfile_issues_free(struct bento_lockfile_issue *issues, size_t n)
{
	if (!issues)
		return;
	for (size_t i = 0; i < n; i++) {
		free(issues[i].file);
		free(issues[i].what);
	}
	free(issues);
}

/* A line reader with the size caps. */
struct lines {
	FILE *f;
	char *buf;
	size_t cap, len, total;
	int no;
	const char *display;
	struct bento_error *err;
};

/* 1 = a line in l->buf (no "\n" or "\r\n"), 0 = end of file, <0 = error. */
static int lines_next(struct lines *l)
{
	ssize_t r;

	errno = 0;
	r = getline(&l->buf, &l->cap, l->f);
	if (r < 0) {
		if (ferror(l->f))
			return bento_error_errno(l->err, errno ? errno : EIO, "%s", l->display);
		return 0;
	}
	l->no++;
	l->total += (size_t)r;
	if (l->total > LOCK_MAX_SIZE)
		return bento_error_set(l->err, BENTO_E_INVALID, "%s: larger than 64 MiB", l->display);
	if ((size_t)r > LOCK_MAX_LINE)
		return bento_error_set(l->err, BENTO_E_INVALID, "%s:%d: line longer than 1 MiB",
				       l->display, l->no);
	l->len = strlen(l->buf);	/* a NUL byte ends the line for us */
	while (l->len && (l->buf[l->len - 1] == '\n' || l->buf[l->len - 1] == '\r'))
		l->buf[--l->len] = '\0';
	return 1;
}

static int hex_run(const char *s)
{
	int n = 0;

	while (isxdigit((unsigned char)s[n]))
		n++;
	return n;
}

static int all_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)s[i]))
			return 0;
	return 1;
}

/* "sha256:<64 hex>", "sha384:<96>", "sha512:<128>" in s[0..n). */
static int good_hash(const char *s, size_t n)
{
	static const struct {
		const char *alg;
		size_t hex;
	} algs[] = { { "sha256:", 64 }, { "sha384:", 96 }, { "sha512:", 128 } };

	for (size_t i = 0; i < 3; i++) {
		size_t al = strlen(algs[i].alg);
		if (n == al + algs[i].hex && strncmp(s, algs[i].alg, al) == 0)
			return all_hex(s + al, algs[i].hex);
	}
	return 0;
}

/* Whether s carries a commit id: 40 (sha1) or 64 (sha256) hex and nothing more. */
static int is_commit(const char *s, size_t n)
{
	return (n == 40 || n == 64) && all_hex(s, n);
}

static const char *skip_ws(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

static int starts(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* ---- pip ---- */

/* pip's comment rule: '#' at the start or after blank space. */
static char *pip_comment(char *s)
{
	for (char *p = s; *p; p++)
		if (*p == '#' && (p == s || p[-1] == ' ' || p[-1] == '\t'))
			return p;
	return NULL;
}

/* 1 = pinned with == or === to one exact version, 0 = not, -1 = not parseable. */
static int pip_pinned(const char *spec)
{
	char *t = bento_xmalloc(strlen(spec) + 1), *p, *q;
	int r = 0;

	for (p = t, q = (char *)spec; *q; q++)
		if (!isspace((unsigned char)*q))
			*p++ = *q;
	*p = '\0';
	p = t;
	while (isalnum((unsigned char)*p) || *p == '.' || *p == '_' || *p == '-')
		p++;
	if (p == t) {
		r = -1;
		goto out;
	}
	if (*p == '[') {
		p = strchr(p, ']');
		if (!p) {
			r = -1;
			goto out;
		}
		p++;
	}
	if (*p == '(') {
		size_t n = strlen(p);
		if (p[n - 1] != ')') {
			r = -1;
			goto out;
		}
		p[n - 1] = '\0';
		p++;
	}
	if (strchr(p, ','))
		goto out;
	if (starts(p, "==="))
		p += 3;
	else if (starts(p, "=="))
		p += 2;
	else
		goto out;
	r = *p && !strchr(p, '*');
out:
	free(t);
	return r;
}

static int is_url_req(const char *spec)
{
	return strstr(spec, "://") || starts(spec, "file:") || spec[0] == '.' || spec[0] == '/' ||
	       starts(spec, "git+") || starts(spec, "hg+") || starts(spec, "svn+") ||
	       starts(spec, "bzr+") || strstr(spec, ".whl") || strstr(spec, ".tar.gz") ||
	       strstr(spec, ".zip");
}

static void pip_url(struct issues *is, int line, const char *spec, int hashes)
{
	const char *url = strstr(spec, " @ "), *frag, *at;
	size_t ulen;
	int vcs;

	url = url ? skip_ws(url + 3) : spec;
	vcs = starts(url, "git+") || starts(url, "hg+") || starts(url, "svn+") || starts(url, "bzr+");
	frag = strchr(url, '#');
	ulen = frag ? (size_t)(frag - url) : strlen(url);
	if (vcs) {
		at = NULL;
		for (const char *p = url; p < url + ulen; p++)
			if (*p == '@')
				at = p;
		if (at && is_commit(at + 1, (size_t)(url + ulen - at - 1)))
			return;
		issue_add(is, line, "%s is a VCS requirement without a commit hash (@<40 hex>)", spec);
		return;
	}
	if (hashes)
		return;
	for (const char *p = frag; p; p = strchr(p + 1, '#')) {
		const char *h = p + 1;
		size_t hl;
		char tmp[160];
		if (!starts(h, "sha256=") && !starts(h, "sha384=") && !starts(h, "sha512="))
			continue;
		hl = strcspn(h, "&# \t");
		if (hl >= sizeof(tmp))
			continue;
		memcpy(tmp, h, hl);
		tmp[6] = ':';
		if (good_hash(tmp, hl))
			return;
	}
	issue_add(is, line, "%s is a URL or path requirement without a hash (#sha256= or --hash)", spec);
}

/* One logical line (continuations joined) that started on line `line`. */
static void pip_logical(struct issues *is, int line, char *text)
{
	char *c = pip_comment(text), **tok, *save = NULL, *t;
	size_t ntok = 0, nspec = 0;
	int hashes = 0;
	const char *bad_hash = NULL;

	if (c)
		*c = '\0';
	tok = bento_xcalloc(strlen(text) / 2 + 2, sizeof(*tok));
	for (t = strtok_r(text, " \t", &save); t; t = strtok_r(NULL, " \t", &save))
		tok[ntok++] = t;
	if (!ntok)
		goto out;
	if (tok[0][0] == '-') {
		const char *o = tok[0], *arg = ntok > 1 ? tok[1] : "";
		char opt = 0;

		if (o[1] == 'e' || o[1] == 'r' || o[1] == 'c') {
			opt = o[1];
			if (o[2])
				arg = o + 2;
		} else if (starts(o, "--editable") || starts(o, "--requirement") ||
			   starts(o, "--constraint")) {
			const char *eq = strchr(o, '=');
			size_t n = eq ? (size_t)(eq - o) : strlen(o);
			if ((n == 10 && starts(o, "--editable")) || (n == 13 && starts(o, "--requirement")) ||
			    (n == 12 && starts(o, "--constraint")))
				opt = o[2] == 'e' ? 'e' : o[2];
			if (eq)
				arg = eq + 1;
		}
		if (opt == 'e')
			issue_add(is, line, "-e %s: editable requirement is not pinned "
				  "(pip install --require-hashes will refuse it)", arg);
		else if (opt)
			issue_add(is, line, "-%c %s: includes another file that is not checked", opt, arg);
		goto out;
	}
	while (nspec < ntok && tok[nspec][0] != '-')
		nspec++;
	for (size_t i = nspec; i < ntok; i++) {
		const char *h = NULL;
		if (starts(tok[i], "--hash="))
			h = tok[i] + 7;
		else if (strcmp(tok[i], "--hash") == 0 && i + 1 < ntok)
			h = tok[++i];
		if (!h)
			continue;
		if (good_hash(h, strlen(h)))
			hashes++;
		else if (!bad_hash)
			bad_hash = h;
	}
	/* The requirement as written, without environment markers. */
	struct bento_buf spec = BENTO_BUF_INIT;
	for (size_t i = 0; i < nspec; i++) {
		if (i)
			bento_buf_addch(&spec, ' ');
		bento_buf_adds(&spec, tok[i]);
	}
	int url = is_url_req(spec.buf);
	char *semi = url ? strstr(spec.buf, " ;") : strchr(spec.buf, ';');
	if (semi) {
		while (semi > spec.buf && isspace((unsigned char)semi[-1]))
			semi--;
		bento_buf_setlen(&spec, (size_t)(semi - spec.buf));
	}
	if (!spec.len) {
		if (bad_hash)
			issue_add(is, line, "unsupported --hash '%s' (use sha256, sha384 or sha512)", bad_hash);
		else if (!hashes)
			issue_add(is, line, "cannot parse requirement line");
	} else if (url) {
		if (bad_hash)
			issue_add(is, line, "%s has an unsupported --hash '%s' (use sha256, sha384 or sha512)",
				  spec.buf, bad_hash);
		else
			pip_url(is, line, spec.buf, hashes);
	} else {
		/* One finding per requirement, saying everything that is wrong with it. */
		int pinned = pip_pinned(spec.buf);
		if (pinned < 0)
			issue_add(is, line, "cannot parse requirement '%s'", spec.buf);
		else if (!pinned && bad_hash)
			issue_add(is, line, "%s is not pinned to an exact version (use ==) and has an "
				  "unsupported --hash '%s'", spec.buf, bad_hash);
		else if (!pinned && !hashes)
			issue_add(is, line, "%s is not pinned to an exact version (use ==) and has no --hash",
				  spec.buf);
		else if (!pinned)
			issue_add(is, line, "%s is not pinned to an exact version (use ==)", spec.buf);
		else if (bad_hash)
			issue_add(is, line, "%s has an unsupported --hash '%s' (use sha256, sha384 or sha512)",
				  spec.buf, bad_hash);
		else if (!hashes)
			issue_add(is, line, "%s has no --hash (pip install --require-hashes will refuse it)",
				  spec.buf);
	}
	bento_buf_release(&spec);
out:
	free(tok);
}

static int check_pip(struct lines *l, struct issues *is)
{
	struct bento_buf logical = BENTO_BUF_INIT;
	int rc, start = 0, cont = 0;

	while ((rc = lines_next(l)) > 0) {
		char *s = l->buf;
		size_t n = l->len;

		if (!cont)
			start = l->no;
		if (n && s[n - 1] == '\\' && !pip_comment(s)) {
			while (n && s[n - 1] == '\\')
				n--;
			bento_buf_add(&logical, s, n);
			cont = 1;
			continue;
		}
		bento_buf_add(&logical, s, n);
		pip_logical(is, start, logical.buf);
		bento_buf_reset(&logical);
		cont = 0;
	}
	if (rc == 0 && cont)
		pip_logical(is, start, logical.buf);
	bento_buf_release(&logical);
	return rc;
}

/* ---- TOML lockfiles (uv, poetry, Cargo), read line by line ---- */

enum { H_NONE, H_PACKAGE, H_SUB, H_OTHER };

static int toml_header(const char *line, const char **name)
{
	const char *s = skip_ws(line);

	*name = s;
	if (*s != '[')
		return H_NONE;
	if (starts(s, "[[package]]"))
		return H_PACKAGE;
	if (starts(s, "[package.") || starts(s, "[[package."))
		return H_SUB;
	return H_OTHER;
}

/* If line is `key = "value"`, a copy of value; else NULL. */
static char *toml_str(const char *line, const char *key)
{
	const char *s = skip_ws(line), *e;
	size_t kl = strlen(key);

	if (strncmp(s, key, kl) != 0)
		return NULL;
	s = skip_ws(s + kl);
	if (*s != '=')
		return NULL;
	s = skip_ws(s + 1);
	if (*s != '"')
		return NULL;
	e = strchr(s + 1, '"');
	if (!e)
		return NULL;
	return bento_xstrndup(s + 1, (size_t)(e - s - 1));
}

/* Count `hash = "alg:hex"` entries with a good hash in line. */
static int toml_hashes(const char *line)
{
	int n = 0;

	for (const char *p = strstr(line, "hash"); p; p = strstr(p + 4, "hash")) {
		const char *s = skip_ws(p + 4), *e;
		if (p > line && (isalnum((unsigned char)p[-1]) || p[-1] == '-' || p[-1] == '_'))
			continue;
		if (*s != '=')
			continue;
		s = skip_ws(s + 1);
		if (*s != '"')
			continue;
		e = strchr(s + 1, '"');
		if (e && good_hash(s + 1, (size_t)(e - s - 1)))
			n++;
	}
	return n;
}

/* A finding that a later section ([metadata] of old lockfiles) may answer. */
struct pending {
	char *key;
	int line;
	char *what;
};

struct pendings {
	struct pending *v;
	size_t n, cap;
	char **ok;		/* keys answered */
	size_t n_ok, cap_ok;
};

static void pending_add(struct pendings *p, char *key, int line, char *what)
{
	if (p->n == p->cap) {
		p->cap = p->cap ? 2 * p->cap : 8;
		p->v = bento_xrealloc(p->v, p->cap * sizeof(*p->v));
	}
	p->v[p->n++] = (struct pending){ key, line, what };
}

static void pending_ok(struct pendings *p, char *key)
{
	if (p->n_ok == p->cap_ok) {
		p->cap_ok = p->cap_ok ? 2 * p->cap_ok : 8;
		p->ok = bento_xrealloc(p->ok, p->cap_ok * sizeof(*p->ok));
	}
	p->ok[p->n_ok++] = key;
}

static int pstr_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Report what stayed unanswered, then free everything. */
static void pending_flush(struct pendings *p, struct issues *is)
{
	if (p->n_ok)
		qsort(p->ok, p->n_ok, sizeof(*p->ok), pstr_cmp);
	for (size_t i = 0; i < p->n; i++) {
		if (!p->n_ok || !bsearch(&p->v[i].key, p->ok, p->n_ok, sizeof(*p->ok), pstr_cmp))
			issue_add(is, p->v[i].line, "%s", p->v[i].what);
		free(p->v[i].key);
		free(p->v[i].what);
	}
	for (size_t i = 0; i < p->n_ok; i++)
		free(p->ok[i]);
	free(p->v);
	free(p->ok);
	memset(p, 0, sizeof(*p));
}

/* PEP 503 normalisation, so poetry's [metadata.files] names meet package names. */
static char *pep503(const char *name)
{
	char *s = bento_xstrdup(name ? name : "");

	for (char *p = s; *p; p++)
		*p = (*p == '_' || *p == '.') ? '-' : (char)tolower((unsigned char)*p);
	return s;
}

struct tpkg {
	int active, line, sub;
	char *name, *version, *source, *check, *type, *ref;
	int hashes;
};

static void tpkg_reset(struct tpkg *p, int line)
{
	free(p->name);
	free(p->version);
	free(p->source);
	free(p->check);
	free(p->type);
	free(p->ref);
	memset(p, 0, sizeof(*p));
	p->line = line;
}

static void set_once(char **dst, char *v)
{
	if (!v)
		return;
	free(*dst);
	*dst = v;
}

#define NAME(p) ((p)->name ? (p)->name : "?")
#define VERS(p) ((p)->version ? (p)->version : "?")

static void uv_finish(struct tpkg *p, struct issues *is)
{
	const char *src = p->source;

	if (!p->active || !src)
		return;
	if (strstr(src, "git =") || strstr(src, "git=")) {
		const char *h = strrchr(src, '#');
		if (!h || hex_run(h + 1) < 40)
			issue_add(is, p->line, "package '%s' %s: git source is not pinned to a commit",
				  NAME(p), VERS(p));
	} else if ((strstr(src, "registry") || strstr(src, "url =") || strstr(src, "url=")) &&
		   !p->hashes) {
		issue_add(is, p->line, "package '%s' %s has no sha256 hash (sdist/wheels)",
			  NAME(p), VERS(p));
	}
}

static int check_uv(struct lines *l, struct issues *is)
{
	struct tpkg p = { 0 };
	const char *hname;
	int rc;

	while ((rc = lines_next(l)) > 0) {
		switch (toml_header(l->buf, &hname)) {
		case H_PACKAGE:
			uv_finish(&p, is);
			tpkg_reset(&p, l->no);
			p.active = 1;
			continue;
		case H_SUB:
			p.sub = 1;
			continue;
		case H_OTHER:
			uv_finish(&p, is);
			tpkg_reset(&p, 0);
			continue;
		}
		if (!p.active)
			continue;
		if (!p.sub) {
			set_once(&p.name, toml_str(l->buf, "name"));
			set_once(&p.version, toml_str(l->buf, "version"));
			const char *s = skip_ws(l->buf);
			if (starts(s, "source") && strchr(s, '{')) {
				free(p.source);
				p.source = bento_xstrdup(s);
			}
		}
		p.hashes += toml_hashes(l->buf);
	}
	if (rc == 0)
		uv_finish(&p, is);
	tpkg_reset(&p, 0);
	return rc;
}

static void poetry_finish(struct tpkg *p, struct pendings *pd, struct issues *is)
{
	if (!p->active)
		return;
	if (p->type && strcmp(p->type, "git") == 0) {
		if (!p->ref || !is_commit(p->ref, strlen(p->ref)))
			issue_add(is, p->line, "package '%s' %s: git source has no resolved_reference commit",
				  NAME(p), VERS(p));
	} else if (p->type && (strcmp(p->type, "directory") == 0 || strcmp(p->type, "file") == 0)) {
		return;		/* local sources: the project's own code */
	} else if (!p->hashes) {
		pending_add(pd, pep503(p->name), p->line,
			    bento_xasprintf("package '%s' %s has no file hashes (files = [...])",
					    NAME(p), VERS(p)));
	}
}

static int check_poetry(struct lines *l, struct issues *is)
{
	struct tpkg p = { 0 };
	struct pendings pd = { 0 };
	const char *hname;
	int rc, in_meta = 0, in_source = 0;
	char *meta_key = NULL;

	while ((rc = lines_next(l)) > 0) {
		int h = toml_header(l->buf, &hname);
		if (h != H_NONE) {
			if (h == H_PACKAGE || h == H_OTHER) {
				poetry_finish(&p, &pd, is);
				tpkg_reset(&p, l->no);
				p.active = h == H_PACKAGE;
			} else {
				p.sub = 1;
			}
			in_source = starts(hname, "[package.source]");
			in_meta = starts(hname, "[metadata.files]");
			free(meta_key);
			meta_key = NULL;
			continue;
		}
		if (in_meta) {
			/* Old lockfiles: name = [ {file = ..., hash = ...}, ... ] */
			const char *s = skip_ws(l->buf), *e;
			if (*s && *s != '{' && *s != ']' && *s != '#' && (e = strchr(s, '='))) {
				size_t n;
				if (*s == '"')
					s++;
				n = (size_t)(e - s);
				while (n && (s[n - 1] == ' ' || s[n - 1] == '"'))
					n--;
				free(meta_key);
				char *raw = bento_xstrndup(s, n);
				meta_key = pep503(raw);
				free(raw);
			}
			if (meta_key && toml_hashes(l->buf))
				pending_ok(&pd, bento_xstrdup(meta_key));
			continue;
		}
		if (!p.active)
			continue;
		if (in_source) {
			set_once(&p.type, toml_str(l->buf, "type"));
			set_once(&p.ref, toml_str(l->buf, "resolved_reference"));
		} else if (!p.sub) {
			set_once(&p.name, toml_str(l->buf, "name"));
			set_once(&p.version, toml_str(l->buf, "version"));
		}
		p.hashes += toml_hashes(l->buf);
	}
	if (rc == 0)
		poetry_finish(&p, &pd, is);
	tpkg_reset(&p, 0);
	free(meta_key);
	if (rc == 0)
		pending_flush(&pd, is);
	else {
		struct issues drop = { .file = "" };
		pending_flush(&pd, &drop);
		bento_lockfile_issues_free(drop.v, drop.n);
	}
	return rc;
}

static void cargo_finish(struct tpkg *p, struct pendings *pd, struct issues *is)
{
	if (!p->active || !p->source)
		return;		/* no source: a path or workspace crate */
	if (starts(p->source, "git+")) {
		const char *h = strrchr(p->source, '#');
		if (!h || !is_commit(h + 1, strlen(h + 1)))
			issue_add(is, p->line, "package '%s' %s: git source is not pinned to a commit",
				  NAME(p), VERS(p));
	} else if (starts(p->source, "registry+") || starts(p->source, "sparse+")) {
		if (!p->check || strlen(p->check) != 64 || !all_hex(p->check, 64))
			pending_add(pd, bento_xasprintf("%s %s", NAME(p), VERS(p)), p->line,
				    bento_xasprintf("package '%s' %s has no checksum", NAME(p), VERS(p)));
	}
}

static int check_cargo(struct lines *l, struct issues *is)
{
	struct tpkg p = { 0 };
	struct pendings pd = { 0 };
	const char *hname;
	int rc, in_meta = 0;

	while ((rc = lines_next(l)) > 0) {
		int h = toml_header(l->buf, &hname);
		if (h != H_NONE) {
			if (h == H_SUB) {
				p.sub = 1;
				continue;
			}
			cargo_finish(&p, &pd, is);
			tpkg_reset(&p, l->no);
			p.active = h == H_PACKAGE;
			in_meta = starts(hname, "[metadata]");
			continue;
		}
		if (in_meta) {
			/* Version 1: "checksum NAME VERSION (SOURCE)" = "<hex>" */
			const char *s = skip_ws(l->buf), *e, *q;
			if (starts(s, "\"checksum ") && (e = strchr(s + 10, '(')) && (q = strstr(e, "= \"")) &&
			    hex_run(q + 3) == 64) {
				size_t n = (size_t)(e - s - 10);
				while (n && s[10 + n - 1] == ' ')
					n--;
				pending_ok(&pd, bento_xstrndup(s + 10, n));
			}
			continue;
		}
		if (!p.active || p.sub)
			continue;
		set_once(&p.name, toml_str(l->buf, "name"));
		set_once(&p.version, toml_str(l->buf, "version"));
		set_once(&p.source, toml_str(l->buf, "source"));
		set_once(&p.check, toml_str(l->buf, "checksum"));
	}
	if (rc == 0)
		cargo_finish(&p, &pd, is);
	tpkg_reset(&p, 0);
	if (rc == 0)
		pending_flush(&pd, is);
	else {
		struct issues drop = { .file = "" };
		pending_flush(&pd, &drop);
		bento_lockfile_issues_free(drop.v, drop.n);
	}
	return rc;
}

/* ---- YAML-ish lockfiles (conda-lock, pnpm, yarn), read line by line ---- */

static int indent_of(const char *s)
{
	int n = 0;

	while (s[n] == ' ')
		n++;
	return n;
}

static int blank_or_comment(const char *s)
{
	s = skip_ws(s);
	return !*s || *s == '#';
}

/* Whether line has `key: <n hex>` (value maybe quoted) anywhere. */
static int yaml_hex(const char *line, const char *key, int n)
{
	size_t kl = strlen(key);

	for (const char *p = strstr(line, key); p; p = strstr(p + 1, key)) {
		const char *s;
		if (p > line && (isalnum((unsigned char)p[-1]) || p[-1] == '_'))
			continue;
		s = skip_ws(p + kl);
		if (*s == '"' || *s == '\'')
			s++;
		if (hex_run(s) == n)
			return 1;
	}
	return 0;
}

static char *yaml_scalar(const char *s)
{
	size_t n;

	s = skip_ws(s);
	n = strcspn(s, "#");
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	if (n >= 2 && (s[0] == '"' || s[0] == '\'') && s[n - 1] == s[0]) {
		s++;
		n -= 2;
	}
	return bento_xstrndup(s, n);
}

struct ypkg {
	int active, line, hash, skip, resolved, integrity;
	char *name;
};

static void ypkg_reset(struct ypkg *p, int line)
{
	free(p->name);
	memset(p, 0, sizeof(*p));
	p->line = line;
}

static void conda_finish(struct ypkg *p, struct issues *is)
{
	if (p->active && !p->hash)
		issue_add(is, p->line, "package '%s' has no sha256 or md5 hash",
			  p->name ? p->name : "?");
}

static void conda_scan(struct ypkg *p, const char *s)
{
	s = skip_ws(s);
	if (starts(s, "- "))
		s = skip_ws(s + 2);
	if (starts(s, "name:") && !p->name)
		p->name = yaml_scalar(s + 5);
	if (yaml_hex(s, "sha256:", 64) || yaml_hex(s, "md5:", 32))
		p->hash = 1;
}

static int check_conda(struct lines *l, struct issues *is)
{
	struct ypkg p = { 0 };
	int rc, in_list = 0, item_indent = -1;

	while ((rc = lines_next(l)) > 0) {
		const char *s = l->buf;
		int ind;

		if (blank_or_comment(s))
			continue;
		ind = indent_of(s);
		if (!in_list) {
			if (ind == 0 && starts(s, "package:")) {
				in_list = 1;
				item_indent = -1;
			}
			continue;
		}
		if (item_indent < 0 && starts(s + ind, "- "))
			item_indent = ind;
		if (ind == item_indent && starts(s + ind, "- ")) {
			conda_finish(&p, is);
			ypkg_reset(&p, l->no);
			p.active = 1;
			conda_scan(&p, s);
		} else if (item_indent >= 0 && ind > item_indent) {
			conda_scan(&p, s);
		} else {
			conda_finish(&p, is);
			ypkg_reset(&p, 0);
			in_list = ind == 0 && starts(s, "package:");
			item_indent = -1;
		}
	}
	if (rc == 0)
		conda_finish(&p, is);
	ypkg_reset(&p, 0);
	return rc;
}

static void pnpm_finish(struct ypkg *p, struct issues *is)
{
	if (p->active && !p->hash && !p->skip)
		issue_add(is, p->line, "package '%s' has no integrity (resolution: {integrity: ...})",
			  p->name ? p->name : "?");
}

static void pnpm_scan(struct ypkg *p, const char *s)
{
	const char *c;

	if (strstr(s, "integrity:"))
		p->hash = 1;
	if ((c = strstr(s, "commit:")) && hex_run(skip_ws(c + 7)) >= 40)
		p->hash = 1;
	if (strstr(s, "directory:") || strstr(s, "type: directory"))
		p->skip = 1;
}

static int check_pnpm(struct lines *l, struct issues *is)
{
	struct ypkg p = { 0 };
	int rc, in_pkgs = 0, key_indent = -1;

	while ((rc = lines_next(l)) > 0) {
		const char *s = l->buf;
		int ind;

		if (blank_or_comment(s))
			continue;
		ind = indent_of(s);
		if (ind == 0) {
			pnpm_finish(&p, is);
			ypkg_reset(&p, 0);
			in_pkgs = starts(s, "packages:");
			key_indent = -1;
			continue;
		}
		if (!in_pkgs)
			continue;
		if (key_indent < 0)
			key_indent = ind;
		if (ind == key_indent) {
			const char *k = s + ind, *e;
			size_t n;
			pnpm_finish(&p, is);
			ypkg_reset(&p, l->no);
			p.active = 1;
			/* The key ends at the ':' that is followed by a blank or the end. */
			for (e = k; *e; e++)
				if (*e == ':' && (e[1] == '\0' || e[1] == ' '))
					break;
			n = (size_t)(e - k);
			if (n >= 2 && (k[0] == '\'' || k[0] == '"') && k[n - 1] == k[0])
				p.name = bento_xstrndup(k + 1, n - 2);
			else
				p.name = bento_xstrndup(k, n);
			pnpm_scan(&p, e);
		} else if (ind > key_indent) {
			pnpm_scan(&p, s);
		}
	}
	if (rc == 0)
		pnpm_finish(&p, is);
	ypkg_reset(&p, 0);
	return rc;
}

/* A resolved URL that names a git commit: yarn v1 stores no integrity for those. */
static int git_resolved(const char *s)
{
	const char *h = strrchr(s, '#');

	if (!h || hex_run(h + 1) < 40)
		return 0;
	return starts(s, "git") || strstr(s, ".git#") || strstr(s, "codeload.github.com");
}

static void yarn_finish(struct ypkg *p, int berry, struct issues *is)
{
	if (!p->active || p->integrity || p->skip)
		return;
	if (!berry && !p->resolved)
		return;		/* v1 local (file:) entries have nothing to hash */
	issue_add(is, p->line, "package '%s' has no %s", p->name ? p->name : "?",
		  berry ? "checksum" : "integrity");
}

static int check_yarn(struct lines *l, struct issues *is)
{
	struct ypkg p = { 0 };
	int rc, berry = 0;

	while ((rc = lines_next(l)) > 0) {
		const char *s = l->buf;

		if (blank_or_comment(s))
			continue;
		if (indent_of(s) == 0) {
			size_t n = strlen(s);
			yarn_finish(&p, berry, is);
			ypkg_reset(&p, l->no);
			if (starts(s, "__metadata:")) {
				berry = 1;
				continue;
			}
			if (n && s[n - 1] == ':')
				n--;
			/* "a@^1", "a@^1.2": name the entry by its first spec. */
			if (s[0] == '"') {
				const char *q = memchr(s + 1, '"', n - 1);
				p.name = bento_xstrndup(s + 1, q ? (size_t)(q - s - 1) : n - 1);
			} else {
				p.name = bento_xstrndup(s, strcspn(s, ",") < n ? strcspn(s, ",") : n);
			}
			p.active = 1;
			continue;
		}
		if (!p.active)
			continue;
		s = skip_ws(s);
		if (starts(s, "integrity ") || starts(s, "integrity:") || starts(s, "checksum:") ||
		    starts(s, "checksum "))
			p.integrity = 1;
		else if (starts(s, "resolved ") || starts(s, "resolved:")) {
			char *v = yaml_scalar(s + 9);
			p.resolved = 1;
			if (git_resolved(v))
				p.skip = 1;
			free(v);
		} else if (starts(s, "resolution:")) {
			if (strstr(s, "@workspace:") || strstr(s, "@link:") || strstr(s, "@portal:") ||
			    strstr(s, "@file:"))
				p.skip = 1;
		} else if (starts(s, "linkType:") && strstr(s, "soft")) {
			p.skip = 1;
		}
	}
	if (rc == 0)
		yarn_finish(&p, berry, is);
	ypkg_reset(&p, 0);
	return rc;
}

/* ---- go.sum ---- */

static int check_go(struct lines *l, struct issues *is)
{
	int rc;

	while ((rc = lines_next(l)) > 0) {
		char *f[4], *save = NULL, *t;
		int nf = 0;

		for (t = strtok_r(l->buf, " \t", &save); t; t = strtok_r(NULL, " \t", &save))
			if (nf < 4)
				f[nf++] = t;
			else
				nf = 5;
		if (!nf)
			continue;
		if (nf != 3 || !starts(f[2], "h1:")) {
			issue_add(is, l->no, "malformed go.sum line (want 'module version h1:<hash>')");
			continue;
		}
		size_t hl = strlen(f[2] + 3);
		if (hl != 44 || f[2][3 + 43] != '=' ||
		    strspn(f[2] + 3, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/") != 43)
			issue_add(is, l->no, "%s %s: malformed h1: hash", f[0], f[1]);
	}
	return rc;
}

/* ---- JSON lockfiles (package-lock.json, Pipfile.lock) ---- */

/*
 * Best-effort line of `"key":` in the JSON text.  jansson iterates objects in
 * file order, so the search goes on from the last hit (linear overall) and
 * starts over from `from` only when that fails.
 */
struct jcur {
	const char *text;
	size_t off;
	int line;
};

static int json_key_line(struct jcur *c, size_t from, const char *key)
{
	size_t kl = strlen(key);

	for (int pass = 0; pass < 2; pass++) {
		const char *p = c->text + c->off;
		for (; (p = strchr(p, '"')); p++) {
			if (strncmp(p + 1, key, kl) != 0 || p[1 + kl] != '"' ||
			    *skip_ws(p + 2 + kl) != ':')
				continue;
			for (const char *q = c->text + c->off; q < p; q++)
				c->line += *q == '\n';
			c->off = (size_t)(p - c->text);
			return c->line;
		}
		c->off = 0;
		c->line = 1;
		for (size_t i = 0; i < from; i++)
			c->line += c->text[i] == '\n';
		c->off = from;
	}
	return 0;
}

static void npm_entry(struct issues *is, struct jcur *c, const char *key, json_t *e)
{
	const char *res = json_string_value(json_object_get(e, "resolved"));
	const char *integ = json_string_value(json_object_get(e, "integrity"));

	if (json_is_true(json_object_get(e, "link")) || !res || (integ && *integ))
		return;
	if (starts(res, "file:") || git_resolved(res))
		return;
	issue_add(is, json_key_line(c, 0, key), "%s has no integrity hash (resolved %s)",
		  key, res);
}

static void npm_deps_v1(struct issues *is, struct jcur *c, json_t *deps, int depth)
{
	const char *k;
	json_t *v;

	if (!json_is_object(deps) || depth > NPM_MAX_DEPTH)
		return;
	json_object_foreach(deps, k, v) {
		if (!json_is_object(v))
			continue;
		if (!json_is_true(json_object_get(v, "bundled")))
			npm_entry(is, c, k, v);
		npm_deps_v1(is, c, json_object_get(v, "dependencies"), depth + 1);
	}
}

static int check_npm(const char *text, json_t *root, struct issues *is)
{
	json_t *pkgs = json_object_get(root, "packages"), *v;
	struct jcur c = { text, 0, 1 };
	const char *k;

	if (json_is_object(pkgs)) {
		json_object_foreach(pkgs, k, v)
			if (*k && json_is_object(v))
				npm_entry(is, &c, k, v);
	} else {
		npm_deps_v1(is, &c, json_object_get(root, "dependencies"), 0);
	}
	return 0;
}

static int check_pipenv(const char *text, json_t *root, struct issues *is)
{
	static const char *const sections[] = { "default", "develop" };

	for (size_t i = 0; i < 2; i++) {
		json_t *sec = json_object_get(root, sections[i]), *v;
		struct jcur c = { text, 0, 1 };
		const char *k;
		size_t at;

		if (!json_is_object(sec))
			continue;
		json_key_line(&c, 0, sections[i]);
		at = c.off;
		json_object_foreach(sec, k, v) {
			int line = json_key_line(&c, at, k);
			const char *ver = json_string_value(json_object_get(v, "version"));
			json_t *hashes = json_object_get(v, "hashes");
			int good = 0;

			if (json_object_get(v, "git")) {
				const char *ref = json_string_value(json_object_get(v, "ref"));
				if (!ref || !is_commit(ref, strlen(ref)))
					issue_add(is, line, "package '%s' (%s): git requirement without a commit ref",
						  k, sections[i]);
				continue;
			}
			if (json_object_get(v, "path") || json_object_get(v, "file") ||
			    json_is_true(json_object_get(v, "editable"))) {
				issue_add(is, line, "package '%s' (%s): local or editable requirement cannot be hashed",
					  k, sections[i]);
				continue;
			}
			for (size_t j = 0; j < json_array_size(hashes); j++) {
				const char *h = json_string_value(json_array_get(hashes, j));
				if (h && good_hash(h, strlen(h)))
					good++;
			}
			int pinned = ver && starts(ver, "==") && ver[2] && !strchr(ver, '*') &&
				     !strchr(ver, ',');
			if (!pinned)
				issue_add(is, line, "package '%s' (%s) is not pinned to an exact version (version '%s')%s",
					  k, sections[i], ver ? ver : "", good ? "" : " and has no hashes");
			else if (!good)
				issue_add(is, line, "package '%s' (%s) %s has no hashes", k, sections[i], ver);
		}
	}
	return 0;
}

/* ---- dispatch ---- */

static const struct {
	const char *kind;
	int (*lines)(struct lines *l, struct issues *is);
	int (*json)(const char *text, json_t *root, struct issues *is);
} checkers[] = {
	{ "cargo", check_cargo, NULL },
	{ "conda", check_conda, NULL },
	{ "go", check_go, NULL },
	{ "npm", NULL, check_npm },
	{ "pip", check_pip, NULL },
	{ "pipenv", NULL, check_pipenv },
	{ "pnpm", check_pnpm, NULL },
	{ "poetry", check_poetry, NULL },
	{ "uv", check_uv, NULL },
	{ "yarn", check_yarn, NULL },
};

static int read_json(FILE *f, const char *display, const struct stat *st, char **text,
		     json_t **root, struct bento_error *err)
{
	size_t cap = (size_t)st->st_size + 1, len = 0, r;
	char *buf = bento_xmalloc(cap + 1);
	json_error_t je;

	while ((r = fread(buf + len, 1, cap - len, f)) > 0) {
		len += r;
		if (len > LOCK_MAX_SIZE) {
			free(buf);
			return bento_error_set(err, BENTO_E_INVALID, "%s: larger than 64 MiB", display);
		}
		if (len == cap) {
			cap *= 2;
			buf = bento_xrealloc(buf, cap + 1);
		}
	}
	if (ferror(f)) {
		free(buf);
		return bento_error_errno(err, EIO, "%s", display);
	}
	buf[len] = '\0';
	json_t *j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
	if (!j) {
		free(buf);
		return bento_error_set(err, BENTO_E_INVALID, "%s:%d:%d: %s", display, je.line,
				       je.column, je.text);
	}
	if (!json_is_object(j)) {
		json_decref(j);
		free(buf);
		return bento_error_set(err, BENTO_E_INVALID, "%s: not a JSON object", display);
	}
	*root = j;
	*text = buf;
	return 0;
}

int bento_lockfile_check(const char *path, const char *display, const char *kind,
			 struct bento_lockfile_issue **issues, size_t *n,
			 struct bento_error *err)
{
	struct issues is = { 0 };
	struct stat st;
	size_t k = sizeof(checkers) / sizeof(checkers[0]);
	FILE *f;
	int fd, rc;

	if (!display)
		display = path;
	for (size_t i = 0; kind && i < sizeof(checkers) / sizeof(checkers[0]); i++)
		if (strcmp(kind, checkers[i].kind) == 0)
			k = i;
	if (k == sizeof(checkers) / sizeof(checkers[0]))
		return bento_error_set(err, BENTO_E_USAGE, "%s: unknown lockfile kind '%s'", display,
				       kind ? kind : "(none)");
	is.file = display;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return bento_error_errno(err, errno, "%s", display);
	if (fstat(fd, &st) < 0) {
		rc = bento_error_errno(err, errno, "%s", display);
		close(fd);
		return rc;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return bento_error_set(err, BENTO_E_INVALID, "%s: not a regular file", display);
	}
	if ((unsigned long long)st.st_size > LOCK_MAX_SIZE) {
		close(fd);
		return bento_error_set(err, BENTO_E_INVALID, "%s: larger than 64 MiB", display);
	}
	f = fdopen(fd, "r");
	if (!f) {
		rc = bento_error_errno(err, errno, "%s", display);
		close(fd);
		return rc;
	}
	if (checkers[k].lines) {
		struct lines l = { .f = f, .display = display, .err = err };
		rc = checkers[k].lines(&l, &is);
		free(l.buf);
	} else {
		char *text = NULL;
		json_t *root = NULL;
		rc = read_json(f, display, &st, &text, &root, err);
		if (rc == 0)
			rc = checkers[k].json(text, root, &is);
		json_decref(root);
		free(text);
	}
	fclose(f);
	if (rc) {
		bento_lockfile_issues_free(is.v, is.n);
		return rc;
	}
	if (is.n) {
		*issues = bento_xrealloc(*issues, (*n + is.n) * sizeof(**issues));
		memcpy(*issues + *n, is.v, is.n * sizeof(*is.v));
		*n += is.n;
	}
	free(is.v);
	return 0;
}
