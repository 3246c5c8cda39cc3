/*
 * bentofile.c - parse bentofile.yaml (man/bentofile.5).
 *
 * libyaml's event API builds a small tree of our own first: it keeps the mark
 * of every node, lets us refuse aliases (which the document API would resolve
 * silently) and caps the nesting before any recursion gets deep.  The tree is
 * then walked once, in document order, so the first error reported is the
 * first one in the file.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml.h>

#include "bentofile.h"
#include "buf.h"

#define BENTOFILE_MAX (1u << 20)	/* 1 MiB */
#define MAX_DEPTH 32

enum { N_SCALAR, N_SEQ, N_MAP };

struct ynode {
	int kind;
	struct bento_pos pos;
	char *s;		/* N_SCALAR: the text as written (NUL-free) */
	int plain;		/* N_SCALAR: unquoted, so it may be null or an integer */
	struct ynode **kids;	/* N_SEQ: items; N_MAP: key, value, key, value... */
	size_t n, alloc;
};

struct ctx {
	const char *file;
	struct bento_error *err;
	struct bentofile *bf;
};

static int failv(const char *file, struct bento_pos pos, struct bento_error *err,
		 const char *fmt, va_list ap)
{
	struct bento_buf b = BENTO_BUF_INIT;
	int rc;

	bento_buf_vaddf(&b, fmt, ap);
	rc = bento_error_set(err, BENTO_E_INVALID, "%s:%d:%d: %s", file, pos.line, pos.col, b.buf);
	bento_buf_release(&b);
	return rc;
}

static int __attribute__((format(printf, 3, 4)))
fail(const struct ctx *c, struct bento_pos pos, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = failv(c->file, pos, c->err, fmt, ap);
	va_end(ap);
	return rc;
}

static int __attribute__((format(printf, 4, 5)))
fail_at(const char *file, struct bento_pos pos, struct bento_error *err, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = failv(file, pos, err, fmt, ap);
	va_end(ap);
	return rc;
}

static struct bento_pos mark_pos(yaml_mark_t m)
{
	struct bento_pos p = { (int)m.line + 1, (int)m.column + 1 };
	return p;
}

/* ---- the tree ---- */

static void node_free(struct ynode *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->n; i++)
		node_free(n->kids[i]);
	free(n->kids);
	free(n->s);
	free(n);
}

static void node_add(struct ynode *parent, struct ynode *kid)
{
	if (parent->n == parent->alloc) {
		parent->alloc = parent->alloc ? parent->alloc * 2 : 8;
		parent->kids = bento_xrealloc(parent->kids, parent->alloc * sizeof(*parent->kids));
	}
	parent->kids[parent->n++] = kid;
}

static int yaml_fail(const char *file, yaml_parser_t *p, struct bento_error *err)
{
	const char *problem = p->problem ? p->problem : "invalid YAML";
	struct bento_pos pos = mark_pos(p->problem_mark);

	if (p->error == YAML_READER_ERROR) {
		/* The reader reports a byte offset, not a mark. */
		pos = mark_pos(p->mark);
		return fail_at(file, pos, err, "%s (byte 0x%02x at offset %zu)", problem,
			       p->problem_value & 0xff, p->problem_offset);
	}
	if (p->context)
		return fail_at(file, pos, err, "%s (%s at %d:%d)", problem, p->context,
			       (int)p->context_mark.line + 1, (int)p->context_mark.column + 1);
	return fail_at(file, pos, err, "%s", problem);
}

static int next_event(const char *file, yaml_parser_t *p, yaml_event_t *ev, struct bento_error *err)
{
	if (!yaml_parser_parse(p, ev))
		return yaml_fail(file, p, err);
	return 0;
}

static int build_node(const char *file, yaml_parser_t *p, yaml_event_t *ev, int depth,
		      struct ynode **out, struct bento_error *err)
{
	struct bento_pos pos = mark_pos(ev->start_mark);
	struct ynode *n;
	yaml_event_type_t end;
	int rc = 0;

	switch (ev->type) {
	case YAML_ALIAS_EVENT:
		return fail_at(file, pos, err, "aliases are not supported (*%s): write the value out",
			       (const char *)ev->data.alias.anchor);
	case YAML_SCALAR_EVENT:
		if (strlen((const char *)ev->data.scalar.value) != ev->data.scalar.length)
			return fail_at(file, pos, err, "NUL characters are not allowed in strings");
		n = bento_xcalloc(1, sizeof(*n));
		n->kind = N_SCALAR;
		n->pos = pos;
		n->s = bento_xstrndup((const char *)ev->data.scalar.value, ev->data.scalar.length);
		n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
		*out = n;
		return 0;
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT:
		break;
	default:
		return fail_at(file, pos, err, "unexpected YAML event");
	}
	if (depth >= MAX_DEPTH)
		return fail_at(file, pos, err, "nested deeper than %d levels", MAX_DEPTH);
	n = bento_xcalloc(1, sizeof(*n));
	n->pos = pos;
	if (ev->type == YAML_SEQUENCE_START_EVENT) {
		n->kind = N_SEQ;
		end = YAML_SEQUENCE_END_EVENT;
	} else {
		n->kind = N_MAP;
		end = YAML_MAPPING_END_EVENT;
	}
	for (;;) {
		yaml_event_t kev;
		struct ynode *kid = NULL;

		if ((rc = next_event(file, p, &kev, err)))
			break;
		if (kev.type == end) {
			yaml_event_delete(&kev);
			break;
		}
		rc = build_node(file, p, &kev, depth + 1, &kid, err);
		yaml_event_delete(&kev);
		if (rc)
			break;
		node_add(n, kid);
	}
	if (rc) {
		node_free(n);
		return rc;
	}
	*out = n;
	return 0;
}

/*
 * Check the bytes before libyaml sees them: its own reader errors carry a
 * byte offset rather than a line and column, and it would take a UTF-16 BOM
 * as a cue to switch encodings.
 */
static int check_text(const char *file, const unsigned char *s, size_t len,
		      struct bento_error *err)
{
	struct bento_pos pos = { 1, 1 };
	size_t i = 0;

	if (len >= 3 && s[0] == 0xef && s[1] == 0xbb && s[2] == 0xbf)
		i = 3;
	while (i < len) {
		unsigned c = s[i], cp;
		size_t extra;

		if (c < 0x80) {
			if (c == '\n' || (c == '\r' && (i + 1 == len || s[i + 1] != '\n'))) {
				pos.line++;
				pos.col = 1;
				i++;
				continue;
			}
			if ((c < 0x20 && c != '\t' && c != '\r') || c == 0x7f)
				return fail_at(file, pos, err,
					       "control character 0x%02x is not allowed", c);
			i++;
			pos.col++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			extra = 1;
			cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			extra = 2;
			cp = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			extra = 3;
			cp = c & 0x07;
		} else {
			goto bad;
		}
		if (i + extra >= len)
			goto bad;
		for (size_t k = 1; k <= extra; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				goto bad;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if ((extra == 1 && cp < 0x80) || (extra == 2 && cp < 0x800) ||
		    (extra == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			goto bad;
		if ((cp >= 0x80 && cp < 0xa0 && cp != 0x85) || cp == 0xfffe || cp == 0xffff)
			return fail_at(file, pos, err, "control character U+%04X is not allowed", cp);
		i += extra + 1;
		pos.col++;
	}
	return 0;
bad:
	return fail_at(file, pos, err, "invalid UTF-8 (byte 0x%02x); the file must be UTF-8",
		       s[i]);
}

/* Parse the text into one tree; *root is NULL for an empty stream. */
static int build_tree(const char *file, const char *data, size_t len, struct ynode **root,
		      struct bento_error *err)
{
	yaml_parser_t p;
	yaml_event_t ev;
	struct ynode *n = NULL;
	int rc, state = 0;	/* 0: before the document, 1: in it, 2: after it */

	if (!yaml_parser_initialize(&p))
		abort();
	/* A fixed encoding makes libyaml take a BOM as content, so drop it here. */
	if (len >= 3 && !memcmp(data, "\xef\xbb\xbf", 3)) {
		data += 3;
		len -= 3;
	}
	yaml_parser_set_input_string(&p, (const unsigned char *)data, len);
	yaml_parser_set_encoding(&p, YAML_UTF8_ENCODING);
	for (;;) {
		if ((rc = next_event(file, &p, &ev, err)))
			break;
		if (ev.type == YAML_STREAM_END_EVENT) {
			yaml_event_delete(&ev);
			break;
		}
		if (ev.type == YAML_DOCUMENT_START_EVENT && state == 2) {
			rc = fail_at(file, mark_pos(ev.start_mark), err,
				     "a second YAML document: a bentofile holds exactly one");
		} else if (ev.type == YAML_DOCUMENT_START_EVENT) {
			state = 1;
		} else if (ev.type == YAML_DOCUMENT_END_EVENT) {
			state = 2;
		} else if (state == 1 && !n) {
			rc = build_node(file, &p, &ev, 0, &n, err);
		}
		yaml_event_delete(&ev);
		if (rc)
			break;
	}
	yaml_parser_delete(&p);
	if (rc) {
		node_free(n);
		return rc;
	}
	*root = n;
	return 0;
}

/* ---- helpers for the walk ---- */

static int is_null(const struct ynode *n)
{
	return n->kind == N_SCALAR && n->plain &&
	       (!n->s[0] || !strcmp(n->s, "~") || !strcmp(n->s, "null") ||
		!strcmp(n->s, "Null") || !strcmp(n->s, "NULL"));
}

static const char *kind_word(const struct ynode *n)
{
	if (is_null(n))
		return "null";
	return n->kind == N_SCALAR ? "a scalar" : n->kind == N_SEQ ? "a sequence" : "a mapping";
}

static int want(const struct ctx *c, const struct ynode *n, const char *path, const char *what)
{
	return fail(c, n->pos, "'%s' must be %s, got %s", path, what, kind_word(n));
}

/* A string-valued node: any non-null scalar, numbers and booleans as written. */
static int get_str(const struct ctx *c, const struct ynode *n, const char *path, char **out)
{
	if (n->kind != N_SCALAR || is_null(n))
		return want(c, n, path, "a string");
	free(*out);
	*out = bento_xstrdup(n->s);
	return 0;
}

/* An integer node: a plain decimal scalar within [min, max]. */
static int get_int(const struct ctx *c, const struct ynode *n, const char *path,
		   long long min, long long max, const char *rule, long long *out)
{
	const char *s;
	long long v = 0;
	int neg = 0;

	if (n->kind != N_SCALAR || is_null(n))
		return want(c, n, path, "an integer");
	if (!n->plain)
		return fail(c, n->pos, "'%s' must be an integer %s, got the quoted string '%s'",
			    path, rule, n->s);
	s = n->s;
	if (*s == '+' || *s == '-')
		neg = *s++ == '-';
	if (!*s)
		goto bad;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			goto bad;
		if (v > (INT64_MAX - (*s - '0')) / 10)
			goto range;
		v = v * 10 + (*s - '0');
	}
	if (neg)
		v = -v;
	if (v < min || v > max)
		goto range;
	*out = v;
	return 0;
bad:
	return fail(c, n->pos, "'%s' must be an integer %s, got '%s'", path, rule, n->s);
range:
	return fail(c, n->pos, "'%s' must be an integer %s, got %s", path, rule, n->s);
}

/* Optimal string alignment distance (Damerau-Levenshtein with adjacent swaps). */
static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t d[65][65];

	if (la > 64 || lb > 64)
		return SIZE_MAX;
	for (size_t i = 0; i <= la; i++)
		d[i][0] = i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = j;
	for (size_t i = 1; i <= la; i++) {
		for (size_t j = 1; j <= lb; j++) {
			size_t cost = a[i - 1] != b[j - 1];
			size_t v = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < v)
				v = d[i][j - 1] + 1;
			if (d[i - 1][j - 1] + cost < v)
				v = d[i - 1][j - 1] + cost;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    d[i - 2][j - 2] + 1 < v)
				v = d[i - 2][j - 2] + 1;
			d[i][j] = v;
		}
	}
	return d[la][lb];
}

struct keydef {
	const char *name;
	int slot;		/* aliases share a slot */
};

static const char *suggest(const char *key, const struct keydef *defs)
{
	const char *best = NULL;
	size_t best_d = SIZE_MAX, klen = strlen(key);

	for (const struct keydef *d = defs; d->name; d++) {
		size_t dist = edit_distance(key, d->name);
		if (dist <= 2 && dist < klen && dist < best_d) {
			best = d->name;
			best_d = dist;
		}
	}
	if (best)
		return best;
	/* "max_batch" for "max_batch_size", "models_dir" for "models" */
	for (const struct keydef *d = defs; d->name; d++) {
		size_t nlen = strlen(d->name);
		if (klen >= 3 && nlen >= 3 &&
		    (!strncmp(key, d->name, klen < nlen ? klen : nlen)))
			return d->name;
	}
	return NULL;
}

static int cmp_cstr(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int unknown_key(const struct ctx *c, const struct ynode *k, const char *path,
		       const struct keydef *defs)
{
	struct bento_buf list = BENTO_BUF_INIT;
	const char *names[32];
	const char *hint = suggest(k->s, defs);
	size_t n = 0;
	int rc;

	if (!strcmp(k->s, "<<"))
		return fail(c, k->pos, "merge keys ('<<') are not supported: write the keys out");
	if (hint)
		return fail(c, k->pos, "unknown key '%s' (did you mean '%s'?)", k->s, hint);
	/* BentoML users reach for these first; say why they have no place here. */
	if (!path && (!strcmp(k->s, "python") || !strcmp(k->s, "conda")))
		return fail(c, k->pos, "unknown key '%s': bento installs no packages; "
			    "list the lockfiles the service was built from under 'lockfiles'", k->s);
	for (const struct keydef *d = defs; d->name && n < 32; d++)
		names[n++] = d->name;
	qsort(names, n, sizeof(*names), cmp_cstr);
	for (size_t i = 0; i < n; i++)
		bento_buf_addf(&list, "%s%s", i ? ", " : "", names[i]);
	if (path)
		rc = fail(c, k->pos, "unknown key '%s' (valid keys in '%s': %s)", k->s, path,
			  list.buf);
	else
		rc = fail(c, k->pos, "unknown key '%s' (valid keys: %s)", k->s, list.buf);
	bento_buf_release(&list);
	return rc;
}

static int key_scalar(const struct ctx *c, const struct ynode *k)
{
	if (k->kind != N_SCALAR)
		return fail(c, k->pos, "a key must be a scalar, got %s", kind_word(k));
	return 0;
}

/*
 * Look up the key of pair i of a fixed-key mapping.  seen[] (one per slot)
 * remembers where each slot was first given, for duplicates and aliases.
 */
static int map_key(const struct ctx *c, const struct ynode *map, size_t i, const char *path,
		   const struct keydef *defs, struct ynode **seen, int *slot)
{
	const struct ynode *k = map->kids[i];
	const struct keydef *d;
	int rc;

	if ((rc = key_scalar(c, k)))
		return rc;
	for (d = defs; d->name; d++)
		if (!strcmp(d->name, k->s))
			break;
	if (!d->name)
		return unknown_key(c, k, path, defs);
	if (seen[d->slot]) {
		const struct ynode *f = seen[d->slot];
		if (strcmp(f->s, k->s))
			return fail(c, k->pos, "duplicate key '%s' ('%s' and '%s' are the same; "
				    "first at %d:%d)", k->s, f->s, k->s, f->pos.line, f->pos.col);
		return fail(c, k->pos, "duplicate key '%s' (first at %d:%d)", k->s,
			    f->pos.line, f->pos.col);
	}
	seen[d->slot] = (struct ynode *)k;
	*slot = d->slot;
	return 0;
}

static char *join_path(const char *path, const char *key)
{
	return path ? bento_xasprintf("%s.%s", path, key) : bento_xstrdup(key);
}

/* ---- name rules ---- */

static int name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n > 128 || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9')))
		return 0;
	for (size_t i = 1; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
		      s[i] == '.' || s[i] == '_' || s[i] == '-'))
			return 0;
	return 1;
}

static int version_ok(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n > 128)
		return 0;
	for (size_t i = 0; i < n; i++) {
		int alnum = (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
			    (s[i] >= '0' && s[i] <= '9') || s[i] == '_';
		if (!alnum && (i == 0 || (s[i] != '.' && s[i] != '-')))
			return 0;
	}
	return 1;
}

#define NAME_RULE "1-128 characters of a-z 0-9 . _ -, starting with a-z or 0-9"
#define VERSION_RULE "1-128 characters of A-Z a-z 0-9 . _ -, starting with a letter, digit or _"

static int check_name(const struct ctx *c, const struct ynode *n, const char *path, const char *s)
{
	if (!name_ok(s))
		return fail(c, n->pos, "%s '%s' is invalid: use " NAME_RULE, path, s);
	return 0;
}

static int check_version(const struct ctx *c, const struct ynode *n, const char *path, const char *s)
{
	if (!version_ok(s))
		return fail(c, n->pos, "%s '%s' is invalid: use " VERSION_RULE, path, s);
	return 0;
}

static int env_name_ok(const char *s)
{
	if (!((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
		return 0;
	for (s++; *s; s++)
		if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
		      (*s >= '0' && *s <= '9') || *s == '_'))
			return 0;
	return 1;
}

/* ---- lists and maps of strings ---- */

static void kv_add(struct bento_kvlist *l, const char *k, const char *v, struct bento_pos pos)
{
	l->v = bento_xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
	l->v[l->n].key = bento_xstrdup(k);
	l->v[l->n].value = bento_xstrdup(v);
	l->v[l->n].pos = pos;
	l->n++;
}

static void kvlist_release(struct bento_kvlist *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].key);
		free(l->v[i].value);
	}
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static void strlist_release(struct bento_strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].s);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

struct keyref {
	const char *key;
	size_t idx;
};

static int cmp_keyref(const void *a, const void *b)
{
	const struct keyref *x = a, *y = b;
	int r = strcmp(x->key, y->key);

	if (r)
		return r;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/*
 * Report the first duplicate (in document order) among l's keys.  Sorting
 * keeps this O(n log n): a 1 MiB file can hold a hundred thousand labels.
 */
static int kv_dups(const struct ctx *c, const struct bento_kvlist *l, const char *what)
{
	struct keyref *r;
	size_t worst = SIZE_MAX, first = 0;
	int rc = 0;

	if (l->n < 2)
		return 0;
	r = bento_xcalloc(l->n, sizeof(*r));
	for (size_t i = 0; i < l->n; i++) {
		r[i].key = l->v[i].key;
		r[i].idx = i;
	}
	qsort(r, l->n, sizeof(*r), cmp_keyref);
	for (size_t i = 1; i < l->n; i++) {
		if (strcmp(r[i - 1].key, r[i].key))
			continue;
		/* r[i-1] and r[i] are adjacent in document order among equals */
		if (r[i].idx < worst) {
			worst = r[i].idx;
			first = r[i - 1].idx;
		}
	}
	/* the first occurrence of the duplicated key, not merely the previous one */
	if (worst != SIZE_MAX) {
		for (size_t i = 0; i < first; i++)
			if (!strcmp(l->v[i].key, l->v[first].key)) {
				first = i;
				break;
			}
		rc = fail(c, l->v[worst].pos, "duplicate %s '%s' (first at %d:%d)", what,
			  l->v[worst].key, l->v[first].pos.line, l->v[first].pos.col);
	}
	free(r);
	return rc;
}

enum { KEYS_LABEL, KEYS_ENV };

static int check_map_key(const struct ctx *c, const struct ynode *k, const char *path, int rule)
{
	if (rule == KEYS_ENV && !env_name_ok(k->s))
		return fail(c, k->pos, "'%s': '%s' is not a valid environment variable name "
			    "(use letters, digits and _, not starting with a digit)", path, k->s);
	if (rule == KEYS_LABEL) {
		if (!k->s[0])
			return fail(c, k->pos, "'%s': a label key must not be empty", path);
		if (strchr(k->s, '='))
			return fail(c, k->pos, "'%s': label key '%s' must not contain '='", path, k->s);
		if (strlen(k->s) > 256)
			return fail(c, k->pos, "'%s': label key is longer than 256 bytes", path);
	}
	return 0;
}

/* A mapping of string to string (labels, envs, image.env). */
static int get_str_map(const struct ctx *c, const struct ynode *n, const char *path, int rule,
		       struct bento_kvlist *out)
{
	int rc;

	if (n->kind != N_MAP)
		return want(c, n, path, "a mapping");
	for (size_t i = 0; i < n->n; i += 2) {
		const struct ynode *k = n->kids[i], *v = n->kids[i + 1];
		if ((rc = key_scalar(c, k)) || (rc = check_map_key(c, k, path, rule)))
			return rc;
		if (v->kind != N_SCALAR || is_null(v))
			return fail(c, v->pos, "'%s.%s' must be a string, got %s%s", path, k->s,
				    kind_word(v), is_null(v) ? " (write '' for an empty string)" : "");
		kv_add(out, k->s, v->s, k->pos);
	}
	return kv_dups(c, out, rule == KEYS_ENV ? "variable" : "label");
}

/* envs as BentoML writes them: a list of {name: N, value: V}. */
static int get_env_list(const struct ctx *c, const struct ynode *n, struct bento_kvlist *out)
{
	static const struct keydef defs[] = { { "name", 0 }, { "value", 1 }, { NULL, 0 } };
	int rc;

	for (size_t i = 0; i < n->n; i++) {
		const struct ynode *it = n->kids[i];
		struct ynode *seen[2] = { NULL, NULL };
		char *path = bento_xasprintf("envs[%zu]", i), *name = NULL, *value = NULL;
		int slot;

		rc = 0;
		if (it->kind != N_MAP)
			rc = want(c, it, path, "a mapping {name: N, value: V}");
		for (size_t j = 0; rc == 0 && j < it->n; j += 2) {
			const struct ynode *v = it->kids[j + 1];
			char *sub;
			if ((rc = map_key(c, it, j, path, defs, seen, &slot)))
				break;
			sub = join_path(path, it->kids[j]->s);
			rc = get_str(c, v, sub, slot ? &value : &name);
			if (rc == 0 && slot == 0 && !env_name_ok(name))
				rc = fail(c, v->pos, "'%s': '%s' is not a valid environment variable "
					  "name (use letters, digits and _, not starting with a digit)",
					  sub, name);
			free(sub);
		}
		if (rc == 0 && !name)
			rc = fail(c, it->pos, "'%s' needs 'name'", path);
		if (rc == 0 && !value)
			rc = fail(c, it->pos, "'%s' (%s) needs 'value': envs are stored in the bento; "
				  "pass secrets to the container at run time instead", path, name);
		if (rc == 0)
			kv_add(out, name, value, it->pos);
		free(path);
		free(name);
		free(value);
		if (rc)
			return rc;
	}
	return kv_dups(c, out, "variable");
}

static void str_add(struct bento_strlist *l, const char *s, struct bento_pos pos)
{
	l->v = bento_xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
	l->v[l->n].s = bento_xstrdup(s);
	l->v[l->n].pos = pos;
	l->n++;
}

/* A sequence of non-empty strings, or a single string. */
static int get_str_list(const struct ctx *c, const struct ynode *n, const char *path,
			const char *what, struct bento_strlist *out)
{
	if (n->kind == N_SCALAR && !is_null(n)) {
		if (!n->s[0])
			return fail(c, n->pos, "'%s' must not be an empty string", path);
		str_add(out, n->s, n->pos);
		return 0;
	}
	if (n->kind != N_SEQ)
		return want(c, n, path, what);
	for (size_t i = 0; i < n->n; i++) {
		const struct ynode *it = n->kids[i];
		if (it->kind != N_SCALAR || is_null(it))
			return fail(c, it->pos, "'%s[%zu]' must be a string, got %s", path, i,
				    kind_word(it));
		if (!it->s[0])
			return fail(c, it->pos, "'%s[%zu]' must not be an empty string", path, i);
		str_add(out, it->s, it->pos);
	}
	return 0;
}

/* ---- sections ---- */

static int do_service(const struct ctx *c, const struct ynode *n)
{
	struct bentofile *bf = c->bf;
	char **argv;
	size_t argc;

	bf->service_pos = n->pos;
	if (n->kind == N_SCALAR) {
		struct bento_error e2 = { 0 };
		if (bentofile_split_command(n->s, &argv, &argc, &e2))
			return fail(c, n->pos, "'service': %s", e2.msg);
		for (size_t i = 0; i < argc; i++) {
			bf->service.v = bento_xrealloc(bf->service.v,
						       (bf->service.n + 1) * sizeof(*bf->service.v));
			bf->service.v[bf->service.n].s = argv[i];
			bf->service.v[bf->service.n].pos = n->pos;
			bf->service.n++;
		}
		free(argv);
	} else if (n->kind == N_SEQ) {
		if (n->n == 0)
			return fail(c, n->pos, "'service' must not be an empty list");
		for (size_t i = 0; i < n->n; i++) {
			const struct ynode *it = n->kids[i];
			if (it->kind != N_SCALAR || is_null(it))
				return fail(c, it->pos, "'service[%zu]' must be a string, got %s", i,
					    kind_word(it));
			str_add(&bf->service, it->s, it->pos);
		}
	} else {
		return want(c, n, "service", "a string or a sequence of strings");
	}
	if (!bf->service.v[0].s[0])
		return fail(c, bf->service.v[0].pos, "'service': the program name must not be empty");
	return 0;
}

static int do_envs(const struct ctx *c, const struct ynode *n)
{
	if (n->kind == N_SEQ)
		return get_env_list(c, n, &c->bf->envs);
	if (n->kind != N_MAP)
		return want(c, n, "envs", "a mapping or a sequence of {name, value}");
	return get_str_map(c, n, "envs", KEYS_ENV, &c->bf->envs);
}

static int tag_ok(const char *s)
{
	const char *colon;
	char *name;
	int ok;

	if (!strncmp(s, "sha256:", 7)) {
		size_t n = strlen(s + 7);
		if (n < 12 || n > 64)
			return 0;
		return strspn(s + 7, "0123456789abcdef") == n;
	}
	colon = strchr(s, ':');
	if (!colon)
		return name_ok(s);
	name = bento_xstrndup(s, (size_t)(colon - s));
	ok = name_ok(name) && version_ok(colon + 1);
	free(name);
	return ok;
}

#define TAG_RULE "NAME or NAME:VERSION (NAME: " NAME_RULE "), or sha256:HEX (12 to 64 digits)"

static int do_model_map(const struct ctx *c, const struct ynode *it, const char *path,
			struct bentofile_model *m)
{
	static const struct keydef defs[] = {
		{ "name", 0 }, { "path", 1 }, { "version", 2 }, { "framework", 3 }, { NULL, 0 }
	};
	struct ynode *seen[4] = { NULL, NULL, NULL, NULL };
	char **dst[4] = { &m->name, &m->path, &m->version, &m->framework };
	int rc, slot;

	for (size_t j = 0; j < it->n; j += 2) {
		char *sub;
		if ((rc = map_key(c, it, j, path, defs, seen, &slot)))
			return rc;
		sub = join_path(path, it->kids[j]->s);
		rc = get_str(c, it->kids[j + 1], sub, dst[slot]);
		if (rc == 0 && !(*dst[slot])[0])
			rc = fail(c, it->kids[j + 1]->pos, "'%s' must not be empty", sub);
		free(sub);
		if (rc)
			return rc;
	}
	if (!m->name)
		return fail(c, it->pos, "'%s' needs 'name'", path);
	if (m->version && (rc = check_version(c, seen[2], "model version", m->version)))
		return rc;
	if (m->path)
		return check_name(c, seen[0], "model name", m->name);
	/* no path: a store tag spelled as a mapping */
	if (m->framework)
		return fail(c, seen[3]->pos, "'%s.framework' applies only with 'path' "
			    "(a model imported by this build)", path);
	if (m->version && strchr(m->name, ':'))
		return fail(c, seen[2]->pos, "'%s': the version is given twice ('%s' and "
			    "'version: %s')", path, m->name, m->version);
	m->tag = m->version ? bento_xasprintf("%s:%s", m->name, m->version) : bento_xstrdup(m->name);
	free(m->name);
	free(m->version);
	m->name = m->version = NULL;
	if (!tag_ok(m->tag))
		return fail(c, it->pos, "model '%s' is not a valid tag: use " TAG_RULE, m->tag);
	return 0;
}

static int do_models(const struct ctx *c, const struct ynode *n)
{
	struct bentofile *bf = c->bf;
	int rc;

	if (n->kind != N_SEQ)
		return want(c, n, "models", "a sequence");
	bf->models = bento_xcalloc(n->n, sizeof(*bf->models));
	for (size_t i = 0; i < n->n; i++) {
		const struct ynode *it = n->kids[i];
		struct bentofile_model *m = &bf->models[bf->n_models++];
		char *path = bento_xasprintf("models[%zu]", i);

		m->pos = it->pos;
		rc = 0;
		if (it->kind == N_SCALAR && !is_null(it)) {
			m->tag = bento_xstrdup(it->s);
			if (!tag_ok(it->s))
				rc = fail(c, it->pos, "model '%s' is not a valid tag: use " TAG_RULE,
					  it->s);
		} else if (it->kind == N_MAP) {
			rc = do_model_map(c, it, path, m);
		} else {
			rc = want(c, it, path, "a store tag or a mapping {name, path}");
		}
		free(path);
		if (rc)
			return rc;
	}
	return 0;
}

static int do_image(const struct ctx *c, const struct ynode *n, const char *key)
{
	enum { I_BASE, I_USER, I_WORKDIR, I_ENV, I_PORTS };
	static const struct keydef image_defs[] = {
		{ "base", I_BASE }, { "user", I_USER }, { "workdir", I_WORKDIR },
		{ "env", I_ENV }, { "ports", I_PORTS }, { NULL, 0 }
	};
	static const struct keydef docker_defs[] = {
		{ "base", I_BASE }, { "base_image", I_BASE }, { "user", I_USER },
		{ "workdir", I_WORKDIR }, { "env", I_ENV }, { "ports", I_PORTS }, { NULL, 0 }
	};
	const struct keydef *defs = strcmp(key, "docker") ? image_defs : docker_defs;
	struct bentofile *bf = c->bf;
	struct ynode *seen[5] = { NULL };
	int rc = 0, slot;

	if (n->kind != N_MAP)
		return want(c, n, key, "a mapping");
	for (size_t i = 0; rc == 0 && i < n->n; i += 2) {
		const struct ynode *v = n->kids[i + 1];
		char *path;

		if ((rc = map_key(c, n, i, key, defs, seen, &slot)))
			return rc;
		path = join_path(key, n->kids[i]->s);
		switch (slot) {
		case I_BASE:
			rc = get_str(c, v, path, &bf->image_base);
			break;
		case I_USER:
			rc = get_str(c, v, path, &bf->image_user);
			break;
		case I_WORKDIR:
			rc = get_str(c, v, path, &bf->image_workdir);
			if (rc == 0 && bf->image_workdir[0] != '/')
				rc = fail(c, v->pos, "'%s' must be an absolute path, got '%s'", path,
					  bf->image_workdir);
			break;
		case I_ENV:
			rc = get_str_map(c, v, path, KEYS_ENV, &bf->image_env);
			break;
		case I_PORTS:
			if (v->kind != N_SEQ) {
				rc = want(c, v, path, "a sequence of port numbers");
				break;
			}
			bf->image_ports = bento_xcalloc(v->n, sizeof(*bf->image_ports));
			for (size_t j = 0; rc == 0 && j < v->n; j++) {
				char *sub = bento_xasprintf("%s[%zu]", path, j);
				long long port;
				rc = get_int(c, v->kids[j], sub, 1, 65535, "from 1 to 65535", &port);
				for (size_t k = 0; rc == 0 && k < bf->n_image_ports; k++)
					if (bf->image_ports[k] == port)
						rc = fail(c, v->kids[j]->pos, "'%s': port %lld is "
							  "listed twice", path, port);
				if (rc == 0)
					bf->image_ports[bf->n_image_ports++] = port;
				free(sub);
			}
			break;
		}
		if (rc == 0 && (slot == I_BASE || slot == I_USER) && !v->s[0])
			rc = fail(c, v->pos, "'%s' must not be empty", path);
		free(path);
	}
	return rc;
}

/* Kubernetes-style quantities: "2", "0.5", "500m" for cpu; "512Mi", "1G" for memory. */
static int quantity_ok(const char *s, const char *const *suffixes)
{
	size_t i = strspn(s, "0123456789");

	if (i == 0)
		return 0;
	if (s[i] == '.') {
		size_t f = strspn(s + i + 1, "0123456789");
		if (f == 0)
			return 0;
		i += 1 + f;
	}
	for (; *suffixes; suffixes++)
		if (!strcmp(s + i, *suffixes))
			return 1;
	return 0;
}

static int do_resources(const struct ctx *c, const struct ynode *n)
{
	static const struct keydef defs[] = {
		{ "cpu", 0 }, { "memory", 1 }, { "gpu", 2 }, { NULL, 0 }
	};
	static const char *const cpu_sfx[] = { "", "m", NULL };
	static const char *const mem_sfx[] = {
		"", "k", "K", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", NULL
	};
	struct bentofile *bf = c->bf;
	struct ynode *seen[3] = { NULL };
	int rc, slot;

	if (n->kind != N_MAP)
		return want(c, n, "resources", "a mapping");
	for (size_t i = 0; i < n->n; i += 2) {
		const struct ynode *v = n->kids[i + 1];
		if ((rc = map_key(c, n, i, "resources", defs, seen, &slot)))
			return rc;
		if (slot == 0) {
			if ((rc = get_str(c, v, "resources.cpu", &bf->res_cpu)))
				return rc;
			if (!quantity_ok(bf->res_cpu, cpu_sfx))
				return fail(c, v->pos, "'resources.cpu' must be a number of cores "
					    "(2, 0.5) or millicores (500m), got '%s'", bf->res_cpu);
		} else if (slot == 1) {
			if ((rc = get_str(c, v, "resources.memory", &bf->res_memory)))
				return rc;
			if (!quantity_ok(bf->res_memory, mem_sfx))
				return fail(c, v->pos, "'resources.memory' must be bytes with an "
					    "optional suffix (k M G T P E, or Ki Mi Gi Ti Pi Ei), "
					    "got '%s'", bf->res_memory);
		} else if ((rc = get_int(c, v, "resources.gpu", 0, INT32_MAX, ">= 0", &bf->res_gpu))) {
			return rc;
		}
	}
	return 0;
}

/* A section of positive-integer hints: traffic, batching, scaling. */
struct intdef {
	const char *name;
	long long min;
	const char *rule;
	long long *dst;
};

static int do_ints(const struct ctx *c, const struct ynode *n, const char *key,
		   const struct intdef *ints)
{
	struct keydef defs[3];
	struct ynode *seen[2] = { NULL };
	int rc, slot;

	for (int i = 0; i < 3; i++) {	/* two keys and the terminator */
		defs[i].name = ints[i].name;
		defs[i].slot = i;
	}
	if (n->kind != N_MAP)
		return want(c, n, key, "a mapping");
	for (size_t i = 0; i < n->n; i += 2) {
		char *path;
		if ((rc = map_key(c, n, i, key, defs, seen, &slot)))
			return rc;
		path = join_path(key, ints[slot].name);
		rc = get_int(c, n->kids[i + 1], path, ints[slot].min, INT32_MAX, ints[slot].rule,
			     ints[slot].dst);
		free(path);
		if (rc)
			return rc;
	}
	return 0;
}

enum {
	K_NAME, K_VERSION, K_DESCRIPTION, K_SERVICE, K_LABELS, K_ENVS, K_INCLUDE, K_EXCLUDE,
	K_MODELS, K_LOCKFILES, K_IMAGE, K_RESOURCES, K_TRAFFIC, K_BATCHING, K_SCALING, K_COUNT
};

static int walk(const struct ctx *c, const struct ynode *root)
{
	static const struct keydef defs[] = {
		{ "name", K_NAME }, { "version", K_VERSION }, { "description", K_DESCRIPTION },
		{ "service", K_SERVICE }, { "labels", K_LABELS }, { "envs", K_ENVS },
		{ "include", K_INCLUDE }, { "exclude", K_EXCLUDE }, { "models", K_MODELS },
		{ "lockfiles", K_LOCKFILES }, { "image", K_IMAGE }, { "docker", K_IMAGE },
		{ "resources", K_RESOURCES }, { "traffic", K_TRAFFIC }, { "batching", K_BATCHING },
		{ "scaling", K_SCALING }, { NULL, 0 }
	};
	struct bentofile *bf = c->bf;
	struct ynode *seen[K_COUNT] = { NULL };
	const struct intdef traffic[] = {
		{ "timeout", 1, "> 0 (seconds)", &bf->traffic_timeout },
		{ "max_concurrency", 1, "> 0", &bf->traffic_max_concurrency },
		{ NULL, 0, NULL, NULL },
	};
	const struct intdef batching[] = {
		{ "max_batch_size", 1, "> 0", &bf->batch_max_size },
		{ "max_latency_ms", 1, "> 0", &bf->batch_max_latency_ms },
		{ NULL, 0, NULL, NULL },
	};
	const struct intdef scaling[] = {
		{ "min_replicas", 0, ">= 0", &bf->scale_min },
		{ "max_replicas", 1, "> 0", &bf->scale_max },
		{ NULL, 0, NULL, NULL },
	};
	int rc = 0, slot;

	if (!root || is_null(root))
		return fail(c, root ? root->pos : (struct bento_pos){ 1, 1 },
			    "the file is empty; it needs at least 'service' (the command that "
			    "starts the service, e.g. service: ./bin/server --port 3000)");
	if (root->kind != N_MAP)
		return fail(c, root->pos, "the top level must be a mapping, got %s", kind_word(root));
	for (size_t i = 0; rc == 0 && i < root->n; i += 2) {
		const struct ynode *k, *v = root->kids[i + 1];

		if ((rc = map_key(c, root, i, NULL, defs, seen, &slot)))
			return rc;
		k = root->kids[i];
		/* "labels:" with nothing under it reads as null: treat it as not given */
		if (is_null(v))
			continue;
		switch (slot) {
		case K_NAME:
			if ((rc = get_str(c, v, "name", &bf->name)) == 0)
				rc = check_name(c, v, "name", bf->name);
			break;
		case K_VERSION:
			if ((rc = get_str(c, v, "version", &bf->version)) == 0)
				rc = check_version(c, v, "version", bf->version);
			break;
		case K_DESCRIPTION:
			rc = get_str(c, v, "description", &bf->description);
			break;
		case K_SERVICE:
			rc = do_service(c, v);
			break;
		case K_LABELS:
			rc = get_str_map(c, v, "labels", KEYS_LABEL, &bf->labels);
			break;
		case K_ENVS:
			rc = do_envs(c, v);
			break;
		case K_INCLUDE:
			rc = get_str_list(c, v, "include", "a glob or a sequence of globs",
					  &bf->include);
			break;
		case K_EXCLUDE:
			rc = get_str_list(c, v, "exclude", "a glob or a sequence of globs",
					  &bf->exclude);
			break;
		case K_MODELS:
			rc = do_models(c, v);
			break;
		case K_LOCKFILES:
			rc = get_str_list(c, v, "lockfiles", "a path or a sequence of paths",
					  &bf->lockfiles);
			break;
		case K_IMAGE:
			rc = do_image(c, v, k->s);
			break;
		case K_RESOURCES:
			rc = do_resources(c, v);
			break;
		case K_TRAFFIC:
			rc = do_ints(c, v, "traffic", traffic);
			break;
		case K_BATCHING:
			rc = do_ints(c, v, "batching", batching);
			break;
		case K_SCALING:
			rc = do_ints(c, v, "scaling", scaling);
			if (rc == 0 && bf->scale_min >= 0 && bf->scale_max >= 0 &&
			    bf->scale_max < bf->scale_min)
				rc = fail(c, v->pos, "'scaling.max_replicas' (%lld) must be >= "
					  "'scaling.min_replicas' (%lld)", bf->scale_max, bf->scale_min);
			break;
		}
	}
	if (rc)
		return rc;
	if (!bf->service.n)
		return bento_error_set(c->err, BENTO_E_INVALID, "%s: 'service' is required (the "
				       "command that starts the service, e.g. service: "
				       "./bin/server --port 3000)", c->file);
	return 0;
}

/* ---- public ---- */

int bentofile_parse(const char *data, size_t len, const char *file,
		    struct bentofile **out, struct bento_error *err)
{
	struct bentofile *bf;
	struct ynode *root = NULL;
	struct ctx c;
	int rc;

	if (!file)
		file = "bentofile.yaml";
	if (len > BENTOFILE_MAX)
		return bento_error_set(err, BENTO_E_INVALID, "%s: larger than 1 MiB (%zu bytes)",
				       file, len);
	if ((rc = check_text(file, (const unsigned char *)data, len, err)) ||
	    (rc = build_tree(file, data, len, &root, err)))
		return rc;
	bf = bento_xcalloc(1, sizeof(*bf));
	bf->file = bento_xstrdup(file);
	bf->res_gpu = -1;
	bf->traffic_timeout = bf->traffic_max_concurrency = -1;
	bf->batch_max_size = bf->batch_max_latency_ms = -1;
	bf->scale_min = bf->scale_max = -1;
	c.file = file;
	c.err = err;
	c.bf = bf;
	rc = walk(&c, root);
	node_free(root);
	if (rc) {
		bentofile_free(bf);
		return rc;
	}
	*out = bf;
	return 0;
}

int bentofile_load(const char *path, struct bentofile **out, struct bento_error *err)
{
	struct bento_buf b = BENTO_BUF_INIT;
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return bento_error_errno(err, errno, "%s", path);
	for (;;) {
		ssize_t r;
		bento_buf_grow(&b, 65536);
		r = read(fd, b.buf + b.len, 65536);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = bento_error_errno(err, errno, "%s", path);
			break;
		}
		if (r == 0)
			break;
		bento_buf_setlen(&b, b.len + (size_t)r);
		if (b.len > BENTOFILE_MAX) {
			rc = bento_error_set(err, BENTO_E_INVALID, "%s: larger than 1 MiB", path);
			break;
		}
	}
	close(fd);
	if (rc == 0)
		rc = bentofile_parse(b.buf, b.len, path, out, err);
	bento_buf_release(&b);
	return rc;
}

void bentofile_free(struct bentofile *bf)
{
	if (!bf)
		return;
	free(bf->file);
	free(bf->name);
	free(bf->version);
	free(bf->description);
	strlist_release(&bf->service);
	kvlist_release(&bf->labels);
	kvlist_release(&bf->envs);
	strlist_release(&bf->include);
	strlist_release(&bf->exclude);
	for (size_t i = 0; i < bf->n_models; i++) {
		free(bf->models[i].tag);
		free(bf->models[i].name);
		free(bf->models[i].version);
		free(bf->models[i].path);
		free(bf->models[i].framework);
	}
	free(bf->models);
	strlist_release(&bf->lockfiles);
	free(bf->image_base);
	free(bf->image_user);
	free(bf->image_workdir);
	kvlist_release(&bf->image_env);
	free(bf->image_ports);
	free(bf->res_cpu);
	free(bf->res_memory);
	free(bf);
}

static json_t *kv_json(const struct bento_kvlist *l)
{
	json_t *o = json_object();

	for (size_t i = 0; i < l->n; i++)
		json_object_set_new(o, l->v[i].key, json_string(l->v[i].value));
	return o;
}

static void set_int(json_t *o, const char *key, long long v)
{
	if (v >= 0)
		json_object_set_new(o, key, json_integer(v));
}

/* Attach sub to o under key when it has members; consumes sub. */
static void set_section(json_t *o, const char *key, json_t *sub)
{
	if (json_object_size(sub))
		json_object_set_new(o, key, sub);
	else
		json_decref(sub);
}

json_t *bentofile_service_json(const struct bentofile *bf)
{
	json_t *o = json_object(), *ep = json_array(), *img = json_object(), *sub;

	for (size_t i = 0; i < bf->service.n; i++)
		json_array_append_new(ep, json_string(bf->service.v[i].s));
	json_object_set_new(o, "entrypoint", ep);
	if (bf->envs.n)
		json_object_set_new(o, "envs", kv_json(&bf->envs));

	if (bf->image_base)
		json_object_set_new(img, "base", json_string(bf->image_base));
	if (bf->image_user)
		json_object_set_new(img, "user", json_string(bf->image_user));
	if (bf->image_workdir)
		json_object_set_new(img, "workdir", json_string(bf->image_workdir));
	if (bf->image_env.n)
		json_object_set_new(img, "env", kv_json(&bf->image_env));
	if (bf->n_image_ports) {
		json_t *ports = json_array();
		for (size_t i = 0; i < bf->n_image_ports; i++)
			json_array_append_new(ports, json_integer(bf->image_ports[i]));
		json_object_set_new(img, "ports", ports);
	}
	set_section(o, "image", img);

	sub = json_object();
	if (bf->res_cpu)
		json_object_set_new(sub, "cpu", json_string(bf->res_cpu));
	if (bf->res_memory)
		json_object_set_new(sub, "memory", json_string(bf->res_memory));
	set_int(sub, "gpu", bf->res_gpu);
	set_section(o, "resources", sub);

	sub = json_object();
	set_int(sub, "timeout", bf->traffic_timeout);
	set_int(sub, "max_concurrency", bf->traffic_max_concurrency);
	set_section(o, "traffic", sub);

	sub = json_object();
	set_int(sub, "max_batch_size", bf->batch_max_size);
	set_int(sub, "max_latency_ms", bf->batch_max_latency_ms);
	set_section(o, "batching", sub);

	sub = json_object();
	set_int(sub, "min_replicas", bf->scale_min);
	set_int(sub, "max_replicas", bf->scale_max);
	set_section(o, "scaling", sub);
	return o;
}

/* ---- command splitting ---- */

static int split_refuse(struct bento_error *err, char ch, size_t at, const char *why)
{
	return bento_error_set(err, BENTO_E_INVALID,
			       "'%c' at character %zu %s; no shell runs the service, so quote it, "
			       "or use the list form (service: [sh, -c, \"...\"] if you need a shell)",
			       ch, at + 1, why);
}

static void word_end(struct bento_buf *w, int *in_word, char ***v, size_t *n, size_t *alloc)
{
	if (!*in_word)
		return;
	if (*n + 2 > *alloc) {
		*alloc = *alloc ? *alloc * 2 : 8;
		*v = bento_xrealloc(*v, *alloc * sizeof(**v));
	}
	(*v)[(*n)++] = bento_buf_detach(w, NULL);
	*in_word = 0;
}

int bentofile_split_command(const char *s, char ***argv, size_t *argc, struct bento_error *err)
{
	struct bento_buf w = BENTO_BUF_INIT;
	char **v = NULL;
	size_t n = 0, alloc = 0, i = 0;
	int in_word = 0, rc = 0;

	while (s[i] && rc == 0) {
		char ch = s[i];
		size_t q;

		switch (ch) {
		case ' ': case '\t': case '\n': case '\r': case '\v': case '\f':
			word_end(&w, &in_word, &v, &n, &alloc);
			i++;
			break;
		case '\'':
			q = i;
			for (i++; s[i] && s[i] != '\''; i++)
				bento_buf_addch(&w, s[i]);
			if (!s[i]) {
				rc = bento_error_set(err, BENTO_E_INVALID, "unterminated single quote "
						     "(opened at character %zu)", q + 1);
				break;
			}
			in_word = 1;
			i++;
			break;
		case '"':
			q = i;
			for (i++; s[i] && s[i] != '"' && rc == 0; i++) {
				if (s[i] == '\\' && s[i + 1] && strchr("\"\\$`\n", s[i + 1])) {
					if (s[i + 1] != '\n')	/* backslash-newline joins lines */
						bento_buf_addch(&w, s[i + 1]);
					i++;
				} else if (s[i] == '$' || s[i] == '`') {
					rc = split_refuse(err, s[i], i, "inside double quotes would expand "
							  "in a shell (write \\$ or \\` for the character)");
				} else {
					bento_buf_addch(&w, s[i]);
				}
			}
			if (rc)
				break;
			if (!s[i]) {
				rc = bento_error_set(err, BENTO_E_INVALID, "unterminated double quote "
						     "(opened at character %zu)", q + 1);
				break;
			}
			in_word = 1;
			i++;
			break;
		case '\\':
			if (!s[i + 1]) {
				rc = bento_error_set(err, BENTO_E_INVALID,
						     "a trailing backslash escapes nothing");
				break;
			}
			if (s[i + 1] != '\n') {
				bento_buf_addch(&w, s[i + 1]);
				in_word = 1;
			}
			i += 2;
			break;
		case '$': case '`':
			rc = split_refuse(err, ch, i, "would expand in a shell");
			break;
		case '|': case ';': case '&': case '<': case '>': case '(': case ')':
			rc = split_refuse(err, ch, i, "is a shell operator");
			break;
		case '#':
			if (!in_word) {
				rc = split_refuse(err, ch, i, "would start a comment in a shell");
				break;
			}
			/* fall through */
		default:
			bento_buf_addch(&w, ch);
			in_word = 1;
			i++;
		}
	}
	if (rc == 0) {
		word_end(&w, &in_word, &v, &n, &alloc);
		if (n == 0)
			rc = bento_error_set(err, BENTO_E_INVALID, "the command is empty");
	}
	bento_buf_release(&w);
	if (rc) {
		for (size_t k = 0; k < n; k++)
			free(v[k]);
		free(v);
		return rc;
	}
	v[n] = NULL;
	*argv = v;
	*argc = n;
	return 0;
}
