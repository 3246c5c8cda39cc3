#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <yaml.h>

#include "cjson.h"
#include "fs.h"
#include "provenance.h"
#include "trust.h"
#include "trust_internal.h"

#define POLICY_MAX (1u << 20)	/* bytes of policy.yaml */

char *bento_config_path(const char *sub)
{
	char *rel = bento_xasprintf("bento%s%s", *sub ? "/" : "", sub), *path;

	path = bento_xdg_config_path(rel);
	free(rel);
	return path;
}

/* ---- keyrings ---- */

ssize_t bento_keyring_find(const struct bento_keyring *kr, const unsigned char keyid[BENTO_KEYID_LEN])
{
	for (size_t i = 0; i < kr->n; i++)
		if (memcmp(kr->keys[i].keyid, keyid, BENTO_KEYID_LEN) == 0)
			return (ssize_t)i;
	return -1;
}

/* Trusted keys and the policy: nobody but us (or root) may have written them. */
#define PERM_CONFIG (BENTO_PERM_NOT_WRITABLE | BENTO_PERM_OWNED)

static int keyring_add(struct bento_keyring *kr, const char *path, unsigned perm,
		       struct bento_error *err)
{
	struct bento_pubkey k;
	int rc = bento_pubkey_load_checked(path, perm, &k, err);

	if (rc)
		return rc;
	if (bento_keyring_find(kr, k.keyid) >= 0)
		return 0;
	kr->keys = bento_xrealloc(kr->keys, (kr->n + 1) * sizeof(*kr->keys));
	kr->labels = bento_xrealloc(kr->labels, (kr->n + 1) * sizeof(*kr->labels));
	kr->keys[kr->n] = k;
	kr->labels[kr->n] = bento_xstrdup(path);
	kr->n++;
	return 0;
}

int bento_keyring_add_file(struct bento_keyring *kr, const char *path, struct bento_error *err)
{
	return keyring_add(kr, path, BENTO_PERM_NOT_WRITABLE, err);
}

int bento_trust_dirs_check(struct bento_error *err)
{
	char *dirs[2] = { bento_config_path(""), bento_config_path("trusted") };
	struct stat st;
	int rc = 0;

	for (size_t i = 0; i < 2 && rc == 0; i++) {
		if (stat(dirs[i], &st) < 0)
			rc = errno == ENOENT ? 0 : bento_error_errno(err, errno, "%s", dirs[i]);
		else
			rc = bento_perm_check(dirs[i], &st, PERM_CONFIG, err);
	}
	free(dirs[0]);
	free(dirs[1]);
	return rc;
}

int bento_keyring_add_trusted(struct bento_keyring *kr, struct bento_error *err)
{
	char *dir, **names;
	size_t n;
	int rc;

	if ((rc = bento_trust_dirs_check(err)))
		return rc;
	dir = bento_config_path("trusted");
	if ((rc = bento_dir_list(dir, ".pub", 1, &names, &n)) < 0) {
		rc = rc == -ENOENT ? 0 : bento_error_errno(err, -rc, "%s", dir);
		free(dir);
		return rc;
	}
	/* in name order: stable reports */
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = keyring_add(kr, names[i], PERM_CONFIG, err);
	bento_strv_free(names, n);
	free(dir);
	return rc;
}

void bento_keyring_release(struct bento_keyring *kr)
{
	for (size_t i = 0; i < kr->n; i++)
		free(kr->labels[i]);
	free(kr->labels);
	free(kr->keys);
	memset(kr, 0, sizeof(*kr));
}

/* ---- reports ---- */

void bento_report_add(struct bento_report *r, enum bento_check_status st, const char *what,
		      const char *fmt, ...)
{
	struct bento_buf d = BENTO_BUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	bento_buf_vaddf(&d, fmt, ap);
	va_end(ap);
	r->v = bento_xrealloc(r->v, (r->n + 1) * sizeof(*r->v));
	r->v[r->n].status = st;
	r->v[r->n].what = bento_xstrdup(what);
	r->v[r->n].detail = bento_buf_detach(&d, NULL);
	r->n++;
	if (st == BENTO_CHECK_FAIL)
		r->failed++;
}

void bento_report_release(struct bento_report *r)
{
	for (size_t i = 0; i < r->n; i++) {
		free(r->v[i].what);
		free(r->v[i].detail);
	}
	free(r->v);
	free(r->signers);
	free(r->signed_by);
	free(r->source);
	json_decref(r->source_git);
	memset(r, 0, sizeof(*r));
}

json_t *bento_report_json(const struct bento_report *r)
{
	static const char *const names[] = { "ok", "failed", "unverified" };
	json_t *checks = json_array();

	for (size_t i = 0; i < r->n; i++)
		json_array_append_new(checks, json_pack("{s:s, s:s, s:s}", "check", r->v[i].what,
							"status", names[r->v[i].status],
							"detail", r->v[i].detail));
	json_t *o = json_pack("{s:b, s:I, s:I, s:o}", "ok", r->failed == 0, "failed",
			      (json_int_t)r->failed, "trusted_signatures",
			      (json_int_t)r->trusted_signatures, "checks", checks);
	if (r->signed_by)
		json_object_set_new(o, "signed_by", json_string(r->signed_by));
	if (r->source)
		json_object_set_new(o, "source", json_string(r->source));
	if (r->source_git)
		json_object_set(o, "source_git", r->source_git);
	return o;
}

static void add_signer(struct bento_report *r, const struct bento_keyring *kr, size_t idx)
{
	char id[BENTO_KEYID_HEXLEN + 1];
	struct bento_buf b = BENTO_BUF_INIT;

	r->signers = bento_xrealloc(r->signers, (r->trusted_signatures + 1) * sizeof(*r->signers));
	memcpy(r->signers[r->trusted_signatures], kr->keys[idx].keyid, BENTO_KEYID_LEN);
	r->trusted_signatures++;
	bento_keyid_hex(kr->keys[idx].keyid, id);
	if (r->signed_by)
		bento_buf_addf(&b, "%s, ", r->signed_by);
	bento_buf_addf(&b, "%s (%s)", id, kr->labels[idx]);
	free(r->signed_by);
	r->signed_by = bento_buf_detach(&b, NULL);
}

void bento_check_signatures(struct bento_report *r, const struct bento_manifest *m,
			    const char *json, size_t len, const struct bento_attachment *sigs,
			    size_t n, const struct bento_keyring *kr)
{
	for (size_t i = 0; i < n; i++) {
		struct bento_error err = { 0 };
		struct bento_sig_info info = { 0 };
		unsigned char keyid[BENTO_KEYID_LEN];
		char id[BENTO_KEYID_HEXLEN + 1], what[64], file[64];
		ssize_t idx;

		snprintf(what, sizeof(what), "signature %.24s", sigs[i].name);
		snprintf(file, sizeof(file), "%.40s" BENTO_SIG_SUFFIX, sigs[i].name);
		if (bento_sig_keyid(sigs[i].data, sigs[i].len, keyid, &err) ||
		    bento_signature_check(m, file, keyid, NULL, &err)) {
			bento_report_add(r, BENTO_CHECK_FAIL, what, "%s", err.msg);
			continue;
		}
		bento_keyid_hex(keyid, id);
		if ((idx = bento_keyring_find(kr, keyid)) < 0) {
			bento_report_add(r, BENTO_CHECK_UNKNOWN, what,
					 "by key %s, which is not trusted: not checked", id);
			continue;
		}
		if (bento_sig_verify(&kr->keys[idx], 1, json, len, sigs[i].data, sigs[i].len, &info,
				     &err) ||
		    bento_signature_check(m, file, keyid, info.trusted_comment, &err)) {
			bento_report_add(r, BENTO_CHECK_FAIL, what, "%s", err.msg);
			bento_sig_info_release(&info);
			continue;
		}
		bento_report_add(r, BENTO_CHECK_OK, what, "good signature by key %s (%s): %s", id,
				 kr->labels[idx], info.trusted_comment);
		add_signer(r, kr, (size_t)idx);
		bento_sig_info_release(&info);
	}
}

/* The statement inside an attestation's envelope, both read strictly but not yet trusted. */
static int envelope_statement(const struct bento_attachment *a, struct bento_dsse *env,
			      json_t **stmt_out, struct bento_error *err)
{
	int rc;

	if ((rc = bento_dsse_read(a->data, a->len, env, err)) ||
	    (strcmp(env->type, BENTO_DSSE_PAYLOAD_TYPE) != 0 &&
	     (rc = bento_error_set(err, BENTO_E_VERIFY, "provenance: payloadType is '%.100s', expected '%s'",
				   env->type, BENTO_DSSE_PAYLOAD_TYPE))) ||
	    (rc = bento_intoto_read(env->payload.buf, env->payload.len, stmt_out, err))) {
		bento_dsse_release(env);
		bento_error_prefix(err, "%s: not a DSSE envelope holding an in-toto statement", a->name);
	}
	return rc;
}

/* The source line and its details from a statement (bento_provenance_source). */
static void statement_source(struct bento_report *r, const json_t *stmt)
{
	json_decref(r->source_git);
	free(r->source);
	r->source_git = bento_provenance_source(stmt);
	r->source = r->source_git ? bento_provenance_source_line(r->source_git, 5) : NULL;
}

void bento_check_attestations(struct bento_report *r, const struct bento_manifest *m,
			      const struct bento_attachment *atts, size_t n,
			      const struct bento_keyring *kr)
{
	for (size_t i = 0; i < n; i++) {
		struct bento_error err = { 0 };
		struct bento_buf payload = BENTO_BUF_INIT;
		struct bento_dsse env;
		json_t *stmt = NULL, *sigs;
		char what[300];
		size_t idx, j, trusted = 0;

		snprintf(what, sizeof(what), "attestation %.200s", atts[i].name);
		if (envelope_statement(&atts[i], &env, &stmt, &err)) {
			bento_report_add(r, BENTO_CHECK_FAIL, what, "%s", err.msg);
			continue;
		}
		if (bento_provenance_check_subject(stmt, m, &err)) {
			bento_report_add(r, BENTO_CHECK_FAIL, what, "%s", err.msg);
			goto next;
		}
		statement_source(r, stmt);
		sigs = env.sigs;
		json_t *sig;
		json_array_foreach(sigs, j, sig) {
			const char *id = bento_json_str(sig, "keyid");
			for (size_t k = 0; id && k < kr->n; k++) {
				char hex[BENTO_KEYID_HEXLEN + 1];
				bento_keyid_hex(kr->keys[k].keyid, hex);
				trusted += strcasecmp(hex, id) == 0;
			}
		}
		if (!trusted) {
			bento_report_add(r, BENTO_CHECK_UNKNOWN, what, "subject matches; %s",
					 json_array_size(sigs) ? "signed by no trusted key: signature not checked"
							       : "not signed");
			goto next;
		}
		if (bento_dsse_verify(atts[i].data, atts[i].len, kr->keys, kr->n, &payload, &idx, &err)) {
			bento_report_add(r, BENTO_CHECK_FAIL, what, "%s", err.msg);
			goto next;
		}
		char id[BENTO_KEYID_HEXLEN + 1];
		bento_keyid_hex(kr->keys[idx].keyid, id);
		bento_report_add(r, BENTO_CHECK_OK, what, "subject matches; signed by key %s (%s)%s%s",
				 id, kr->labels[idx], r->source ? "; source " : "",
				 r->source ? r->source : "");
next:
		bento_buf_release(&payload);
		bento_dsse_release(&env);
		json_decref(stmt);
	}
}

/* ---- policy ---- */

/*
 * The policy fails closed: anything that does not say exactly what
 * bento-policy(5) allows is an error at file:line:col, never a rule that
 * silently does less than it seems to (a key given twice, a pattern that
 * cannot match, keys that are not used, a rule after one that matches
 * every name, a second YAML document).
 */

struct policy_rule {
	char **match;		/* name globs (fnmatch), checked by glob_problem() */
	size_t n_match;
	int require_signature;
	struct bento_keyring keys;	/* empty: any trusted key counts */
	int line;
};

struct bento_policy {
	char *file;
	struct policy_rule *rules;
	size_t n;
};

void bento_policy_free(struct bento_policy *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++) {
		for (size_t k = 0; k < p->rules[i].n_match; k++)
			free(p->rules[i].match[k]);
		free(p->rules[i].match);
		bento_keyring_release(&p->rules[i].keys);
	}
	free(p->rules);
	free(p->file);
	free(p);
}

static int perr(const struct bento_policy *p, const yaml_node_t *n, struct bento_error *err,
		const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int perr(const struct bento_policy *p, const yaml_node_t *n, struct bento_error *err,
		const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return bento_error_set(err, BENTO_E_INVALID, "%s:%zu:%zu: %s", p->file,
			       n ? n->start_mark.line + 1 : 0, n ? n->start_mark.column + 1 : 0, msg);
}

static const char *scalar(const yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* YAML's null ("", "~", "null"): a plain scalar that is no string. */
static int is_null(const yaml_node_t *n)
{
	static const char *const nulls[] = { "", "~", "null", "Null", "NULL" };
	const char *s = scalar(n);

	if (!s || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return 0;
	for (size_t i = 0; i < sizeof(nulls) / sizeof(nulls[0]); i++)
		if (strcmp(s, nulls[i]) == 0)
			return 1;
	return 0;
}

/* ---- name patterns ---- */

#define NAME_FIRST "abcdefghijklmnopqrstuvwxyz0123456789"
#define NAME_REST NAME_FIRST "._-"

/* The bytes a bracket expression at g ('[' ... ']') matches, into set; its length, or 0. */
static size_t bracket_set(const char *g, unsigned char set[256], const char **why)
{
	static const struct { const char *name; int (*is)(int); } classes[] = {
		{ "alnum", isalnum }, { "alpha", isalpha }, { "blank", isblank },
		{ "cntrl", iscntrl }, { "digit", isdigit }, { "graph", isgraph },
		{ "lower", islower }, { "print", isprint }, { "punct", ispunct },
		{ "space", isspace }, { "upper", isupper }, { "xdigit", isxdigit },
	};
	size_t i = 1;
	int neg = 0;

	memset(set, 0, 256);
	if (g[i] == '!' || g[i] == '^')
		neg = 1, i++;
	for (int first = 1;; first = 0) {
		unsigned char c = (unsigned char)g[i], d;

		if (c == '\0') {
			*why = "'[' is not closed by ']'";
			return 0;
		}
		if (c == ']' && !first)
			break;
		if (c == '[' && (g[i + 1] == '=' || g[i + 1] == '.')) {
			*why = "equivalence classes and collating symbols ([= =], [. .]) are not supported";
			return 0;
		}
		if (c == '[' && g[i + 1] == ':') {
			const char *name = g + i + 2, *end = strstr(name, ":]");
			size_t k, n = end ? (size_t)(end - name) : 0;

			for (k = 0; end && k < sizeof(classes) / sizeof(classes[0]); k++)
				if (strlen(classes[k].name) == n && strncmp(classes[k].name, name, n) == 0)
					break;
			if (!end || k == sizeof(classes) / sizeof(classes[0])) {
				*why = "unknown character class (valid: [:alnum:], [:alpha:], [:digit:], [:lower:], ...)";
				return 0;
			}
			for (int b = 0; b < 128; b++)
				set[b] |= classes[k].is(b) != 0;
			i += n + 4;
			continue;
		}
		if (c == '\\') {
			*why = "'\\' is not allowed: names have no characters to escape";
			return 0;
		}
		d = c;
		if (g[i + 1] == '-' && g[i + 2] != ']' && g[i + 2] != '\0') {
			d = (unsigned char)g[i + 2];
			if (d == '\\' || (d == '[' && (g[i + 3] == ':' || g[i + 3] == '=' || g[i + 3] == '.'))) {
				*why = "a range must end in a plain character";
				return 0;
			}
			if (d < c) {
				*why = "a range runs backwards";
				return 0;
			}
			i += 2;
		}
		for (unsigned b = c; b <= d; b++)
			set[b] = 1;
		i++;
	}
	if (neg)
		for (int b = 0; b < 256; b++)
			set[b] = !set[b];
	return i + 1;
}

/*
 * Why glob g cannot be used (NULL when it can): fnmatch(3) syntax that is
 * well formed (no unclosed '[', backwards range or unknown class, no '\'),
 * that can match some bento name ([a-z0-9][a-z0-9._-]{0,127}): every
 * literal and every set allows a name character, the first one a first
 * character, and it needs no more than BENTO_NAME_MAX characters.
 * glibc's fnmatch reads an unclosed '[' as itself, which no name has: such
 * a rule would never apply.
 */
static const char *glob_problem(const char *g)
{
	const char *why = NULL;
	size_t i = 0, need = 0;
	int star = 0;

	if (!*g)
		return "an empty pattern matches no name";
	while (g[i]) {
		int at_start = need == 0 && !star;	/* this element must match a name's first character */
		const char *allowed = at_start ? NAME_FIRST : NAME_REST;
		unsigned char c = (unsigned char)g[i], set[256];
		size_t n;
		int any = 0;

		if (c == '*') {
			star = 1;
			i++;
			continue;
		}
		need++;
		if (c == '?') {
			i++;
			continue;
		}
		if (c == '\\')
			return "'\\' is not allowed: names have no characters to escape";
		if (c != '[') {
			if (!strchr(allowed, c))
				return at_start && strchr(NAME_REST, c)
					       ? "can never match: names start with a letter or digit"
					       : "can never match: names hold only a-z, 0-9, '.', '_' and '-'";
			i++;
			continue;
		}
		if (!(n = bracket_set(g + i, set, &why)))
			return why;
		for (const char *a = allowed; *a && !any; a++)
			any = set[(unsigned char)*a];
		if (!any)
			return at_start ? "can never match: its first set has no letter or digit, and names start with one"
					: "can never match: a set has no character a name may hold (a-z, 0-9, '.', '_', '-')";
		i += n;
	}
	if (need > BENTO_NAME_MAX)
		return "can never match: it needs more characters than a name may have (128)";
	return NULL;
}

/* 1 when g matches every name ("*", "**", ...). */
static int glob_matches_all(const char *g)
{
	return strspn(g, "*") == strlen(g);
}

/* ---- the document ---- */

/* A string of the policy and the node it came from (for duplicate checks). */
struct pstr {
	const char *s;
	const yaml_node_t *node;
};

static int pstr_cmp(const void *a, const void *b)
{
	const struct pstr *x = a, *y = b;
	int c = strcmp(x->s, y->s);

	if (c)
		return c;
	if (x->node->start_mark.index != y->node->start_mark.index)
		return x->node->start_mark.index < y->node->start_mark.index ? -1 : 1;
	return 0;
}

/* The first string given twice in v[0..n) (sorted here), reported at its later place. */
static int no_duplicates(const struct bento_policy *p, struct pstr *v, size_t n, const char *what,
			 struct bento_error *err)
{
	if (n > 1)
		qsort(v, n, sizeof(*v), pstr_cmp);
	for (size_t i = 1; i < n; i++)
		if (strcmp(v[i - 1].s, v[i].s) == 0)
			return perr(p, v[i].node, err, "%s '%.200s' is given twice (first at line %zu)",
				    what, v[i].s, v[i - 1].node->start_mark.line + 1);
	return 0;
}

/*
 * Mapping key k, which must be a string from valid[] (NULL-terminated) not
 * seen before in this mapping (seen[i]: where valid[i] was): its index.
 */
static int mapping_key(const struct bento_policy *p, const yaml_node_t *k, const char *const *valid,
		       const char *where, const yaml_node_t **seen, struct bento_error *err)
{
	const char *key = scalar(k);
	char list[128] = "";
	size_t i;

	if (!key)
		return perr(p, k, err, "keys must be strings");
	for (i = 0; valid[i]; i++)
		if (strcmp(key, valid[i]) == 0)
			break;
	if (!valid[i]) {
		for (size_t j = 0; valid[j]; j++)
			snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", j ? ", " : "",
				 valid[j]);
		return perr(p, k, err, "unknown key '%.100s'%s (valid: %s)", key, where, list);
	}
	if (seen[i])
		return perr(p, k, err, "duplicate key '%s' (first at line %zu)", key,
			    seen[i]->start_mark.line + 1);
	seen[i] = k;
	return (int)i;
}

/* A string or a non-empty list of strings, appended to *v with their nodes. */
static int str_list(struct bento_policy *p, yaml_document_t *doc, yaml_node_t *n, const char *key,
		    struct pstr **v, size_t *count, struct bento_error *err)
{
	int seq = n->type == YAML_SEQUENCE_NODE;
	size_t items = seq ? (size_t)(n->data.sequence.items.top - n->data.sequence.items.start) : 1;

	if (seq && items == 0)
		return perr(p, n, err, "'%s' is an empty list", key);
	if (!seq && (!scalar(n) || is_null(n)))
		return perr(p, n, err, "'%s' must be a string or a list of strings", key);
	for (size_t i = 0; i < items; i++) {
		yaml_node_t *e = seq ? yaml_document_get_node(doc, n->data.sequence.items.start[i]) : n;

		if (!scalar(e) || is_null(e))
			return perr(p, e, err, "'%s' must list strings", key);
		if (!*scalar(e))
			return perr(p, e, err, "'%s' holds an empty string", key);
		*v = bento_xrealloc(*v, (*count + 1) * sizeof(**v));
		(*v)[*count].s = scalar(e);
		(*v)[(*count)++].node = e;
	}
	return 0;
}

enum { RULE_MATCH, RULE_REQUIRE, RULE_KEYS, RULE_NKEYS };

/* One rule; its patterns are also appended to *pats (for the checks across rules). */
static int parse_rule(struct bento_policy *p, yaml_document_t *doc, yaml_node_t *n,
		      struct policy_rule *r, struct pstr **pats, size_t *n_pats,
		      struct bento_error *err)
{
	static const char *const valid[] = { "match", "require_signature", "keys", NULL };
	const yaml_node_t *seen[RULE_NKEYS] = { NULL };
	struct pstr *keys = NULL, *mine = NULL;
	size_t n_keys = 0, first = *n_pats;
	int rc = 0;

	r->line = (int)n->start_mark.line + 1;
	if (n->type != YAML_MAPPING_NODE)
		return perr(p, n, err, "a rule must be a mapping (match, require_signature, keys)");
	for (yaml_node_pair_t *kv = n->data.mapping.pairs.start; rc == 0 && kv < n->data.mapping.pairs.top; kv++) {
		yaml_node_t *k = yaml_document_get_node(doc, kv->key), *v = yaml_document_get_node(doc, kv->value);
		const char *b = scalar(v);

		switch ((rc = mapping_key(p, k, valid, " in a rule", seen, err))) {
		case RULE_MATCH:
			rc = str_list(p, doc, v, "match", pats, n_pats, err);
			break;
		case RULE_KEYS:
			rc = str_list(p, doc, v, "keys", &keys, &n_keys, err);
			break;
		case RULE_REQUIRE:
			rc = 0;
			if (b && v->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && strcmp(b, "true") == 0)
				r->require_signature = 1;
			else if (b && v->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && strcmp(b, "false") == 0)
				r->require_signature = 0;
			else
				rc = perr(p, v, err, "'require_signature' must be true or false");
			break;
		}
		if (rc > 0)
			rc = 0;
	}
	if (rc == 0 && !seen[RULE_MATCH])
		rc = perr(p, n, err, "a rule needs 'match' (a name glob such as 'prod-*')");
	if (rc == 0 && seen[RULE_KEYS] && !r->require_signature)
		rc = perr(p, seen[RULE_KEYS], err,
			  "'keys' is only used with 'require_signature: true', which this rule does not say");
	for (size_t i = first; rc == 0 && i < *n_pats; i++) {
		const char *why = glob_problem((*pats)[i].s);
		if (why)
			rc = perr(p, (*pats)[i].node, err, "pattern '%.200s': %s", (*pats)[i].s, why);
	}
	if (rc == 0) {
		r->n_match = *n_pats - first;
		r->match = bento_xcalloc(r->n_match, sizeof(*r->match));
		for (size_t i = 0; i < r->n_match; i++)
			r->match[i] = bento_xstrdup((*pats)[first + i].s);
		/* Sorted in a copy: keys are read in the order given. */
		if (n_keys > 1) {
			mine = bento_xcalloc(n_keys, sizeof(*mine));
			memcpy(mine, keys, n_keys * sizeof(*mine));
			rc = no_duplicates(p, mine, n_keys, "key", err);
		}
	}
	for (size_t i = 0; rc == 0 && i < n_keys; i++) {
		/* A bare file name is looked up among the trusted keys. */
		const char *name = keys[i].s;
		int bare = !strchr(name, '/');
		char *dir = bento_config_path("trusted"),
		     *full = bare ? bento_xasprintf("%s/%s", dir, name) : bento_xstrdup(name);
		if ((rc = keyring_add(&r->keys, full, bare ? PERM_CONFIG : BENTO_PERM_NOT_WRITABLE, err)))
			bento_error_prefix(err, "%s:%zu:%zu", p->file, keys[i].node->start_mark.line + 1,
					   keys[i].node->start_mark.column + 1);
		free(full);
		free(dir);
	}
	free(mine);
	free(keys);
	return rc;
}

/* Explicit tags (!!bool, !foo) say something this format does not: refused. */
static int no_tags(const struct bento_policy *p, yaml_document_t *doc, struct bento_error *err)
{
	for (yaml_node_t *n = doc->nodes.start; n < doc->nodes.top; n++) {
		const char *tag = (const char *)n->tag,
			   *plain = n->type == YAML_SCALAR_NODE     ? YAML_DEFAULT_SCALAR_TAG
				    : n->type == YAML_SEQUENCE_NODE ? YAML_DEFAULT_SEQUENCE_TAG
								    : YAML_DEFAULT_MAPPING_TAG;
		if (tag && strcmp(tag, plain) != 0)
			return perr(p, n, err, "YAML tags ('%.100s') are not allowed", tag);
	}
	return 0;
}

static int parse_policy(struct bento_policy *p, yaml_document_t *doc, struct bento_error *err)
{
	static const char *const valid[] = { "rules", NULL };
	const yaml_node_t *seen[1] = { NULL };
	yaml_node_t *root = yaml_document_get_root_node(doc), *rules = NULL;
	size_t all = 0, all_k = 0;	/* 1 + the rule with a pattern of only '*', and which */
	struct pstr *pats = NULL;
	size_t n_pats = 0;
	int rc;

	if (!root)
		return 0;	/* empty file: empty policy */
	if ((rc = no_tags(p, doc, err)))
		return rc;
	if (root->type != YAML_MAPPING_NODE)
		return perr(p, root, err, "the policy must be a mapping with 'rules'");
	for (yaml_node_pair_t *kv = root->data.mapping.pairs.start; kv < root->data.mapping.pairs.top; kv++) {
		if ((rc = mapping_key(p, yaml_document_get_node(doc, kv->key), valid, "", seen, err)) < 0)
			return rc;
		rules = yaml_document_get_node(doc, kv->value);
	}
	if (!rules)
		return 0;
	if (rules->type != YAML_SEQUENCE_NODE)
		return perr(p, rules, err, "'rules' must be a list");
	for (yaml_node_item_t *it = rules->data.sequence.items.start; it < rules->data.sequence.items.top; it++) {
		yaml_node_t *n = yaml_document_get_node(doc, *it);
		struct policy_rule *r;

		if (all) {
			rc = perr(p, n, err,
				  "this rule never applies: the rule at line %d matches every name with '%s'",
				  p->rules[all - 1].line, p->rules[all - 1].match[all_k]);
			goto out;
		}
		p->rules = bento_xrealloc(p->rules, (p->n + 1) * sizeof(*p->rules));
		r = memset(&p->rules[p->n++], 0, sizeof(*p->rules));
		if ((rc = parse_rule(p, doc, n, r, &pats, &n_pats, err)))
			goto out;
		for (size_t k = 0; k < r->n_match && !all; k++)
			if (glob_matches_all(r->match[k]))
				all = p->n, all_k = k;
	}
	/* The first matching rule decides: a pattern given again is never used. */
	rc = no_duplicates(p, pats, n_pats, "pattern", err);
out:
	free(pats);
	return rc;
}

int bento_policy_parse(const char *text, size_t len, const char *file, struct bento_policy **out,
		       struct bento_error *err)
{
	struct bento_policy *p = bento_xcalloc(1, sizeof(*p));
	yaml_parser_t parser;
	yaml_document_t doc;
	int rc;

	p->file = bento_xstrdup(file);
	yaml_parser_initialize(&parser);
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &doc))
		goto syntax;
	rc = parse_policy(p, &doc, err);
	if (rc == 0 && yaml_document_get_root_node(&doc)) {
		/* Only one document: a second one would be silently ignored. */
		yaml_document_delete(&doc);
		if (!yaml_parser_load(&parser, &doc))
			goto syntax;
		if (yaml_document_get_root_node(&doc))
			rc = perr(p, yaml_document_get_root_node(&doc), err,
				  "a second YAML document: the policy is one document");
	}
	yaml_document_delete(&doc);
	goto out;
syntax:
	rc = bento_error_set(err, BENTO_E_INVALID, "%s:%zu:%zu: %s", p->file,
			     parser.problem_mark.line + 1, parser.problem_mark.column + 1,
			     parser.problem ? parser.problem : "YAML syntax error");
out:
	yaml_parser_delete(&parser);
	if (rc) {
		bento_policy_free(p);
		return rc;
	}
	*out = p;
	return 0;
}

int bento_policy_load(const char *path, struct bento_policy **out, struct bento_error *err)
{
	struct bento_buf text = BENTO_BUF_INIT;
	char *file = path ? bento_xstrdup(path) : bento_config_path("policy.yaml");
	int rc = path ? 0 : bento_trust_dirs_check(err);

	if (rc == 0)
		rc = bento_read_file_checked(file, POLICY_MAX,
					     path ? BENTO_PERM_NOT_WRITABLE : PERM_CONFIG, &text, err);

	if (rc == -ENOENT && !path) {
		*out = bento_xcalloc(1, sizeof(**out));
		(*out)->file = file;
		return 0;
	}
	if (rc == 0)
		rc = bento_policy_parse(text.buf, text.len, file, out, err);
	bento_buf_release(&text);
	free(file);
	return rc;
}

int bento_policy_check(const struct bento_policy *p, int require, const char *name,
		       const struct bento_report *r, const struct bento_keyring *kr,
		       struct bento_error *err)
{
	const struct policy_rule *rule = NULL;

	(void)kr;
	if (r->failed) {
		for (size_t i = 0; i < r->n; i++)
			if (r->v[i].status == BENTO_CHECK_FAIL)
				return bento_error_set(err, BENTO_E_VERIFY, "%s: %s", r->v[i].what,
						       r->v[i].detail);
	}
	for (size_t i = 0; p && !rule && i < p->n; i++)
		for (size_t k = 0; k < p->rules[i].n_match; k++)
			if (fnmatch(p->rules[i].match[k], name, 0) == 0) {
				rule = &p->rules[i];
				break;
			}
	if (rule && rule->require_signature && rule->keys.n) {
		for (size_t i = 0; i < r->trusted_signatures; i++)
			if (bento_keyring_find(&rule->keys, r->signers[i]) >= 0)
				return 0;
		return bento_error_set(err, BENTO_E_VERIFY,
				       "%s:%d: bentos matching '%s' need a signature by one of the rule's %zu key%s; %s has none",
				       p->file, rule->line, rule->match[0], rule->keys.n,
				       rule->keys.n == 1 ? "" : "s", name);
	}
	if ((require || (rule && rule->require_signature)) && r->trusted_signatures == 0) {
		if (require)
			return bento_error_set(err, BENTO_E_VERIFY,
					       "%s has no signature by a trusted key (--require-signature)",
					       name);
		return bento_error_set(err, BENTO_E_VERIFY,
				       "%s:%d: bentos matching '%s' need a signature by a trusted key; %s has none",
				       p->file, rule->line, rule->match[0], name);
	}
	return 0;
}
