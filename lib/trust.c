#include <errno.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <yaml.h>

#include "cjson.h"
#include "fs.h"
#include "provenance.h"
#include "trust.h"

#define POLICY_MAX (1u << 20)	/* bytes of policy.yaml */

char *bento_config_path(const char *sub)
{
	const char *x = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");

	if (x && *x)
		return bento_xasprintf("%s/bento%s%s", x, *sub ? "/" : "", sub);
	return bento_xasprintf("%s/.config/bento%s%s", home && *home ? home : ".", *sub ? "/" : "",
			       sub);
}

/* ---- keyrings ---- */

ssize_t bento_keyring_find(const struct bento_keyring *kr, const unsigned char keyid[BENTO_KEYID_LEN])
{
	for (size_t i = 0; i < kr->n; i++)
		if (memcmp(kr->keys[i].keyid, keyid, BENTO_KEYID_LEN) == 0)
			return (ssize_t)i;
	return -1;
}

int bento_keyring_add_file(struct bento_keyring *kr, const char *path, struct bento_error *err)
{
	struct bento_pubkey k;
	int rc = bento_pubkey_load(path, &k, err);

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

int bento_keyring_add_trusted(struct bento_keyring *kr, struct bento_error *err)
{
	char *dir = bento_config_path("trusted"), **names;
	size_t n;
	int rc = bento_dir_list(dir, ".pub", 1, &names, &n);

	if (rc < 0) {
		rc = rc == -ENOENT ? 0 : bento_error_errno(err, -rc, "%s", dir);
		free(dir);
		return rc;
	}
	/* in name order: stable reports */
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = bento_keyring_add_file(kr, names[i], err);
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

/* The provenance statement inside an envelope, decoded but not yet trusted. */
static int envelope_statement(const struct bento_attachment *a, json_t **env_out,
			      json_t **stmt_out, struct bento_error *err)
{
	struct bento_buf payload = BENTO_BUF_INIT;
	json_t *env = NULL, *stmt = NULL;
	const char *type, *p;
	int rc;

	if ((rc = bento_json_parse(a->data, a->len, a->name, &env, err)))
		return rc;
	type = bento_json_str(env, "payloadType");
	p = bento_json_str(env, "payload");
	if (!type || strcmp(type, BENTO_DSSE_PAYLOAD_TYPE) != 0 || !p ||
	    bento_base64_decode(p, strlen(p), &payload) ||
	    bento_json_parse(payload.buf, payload.len, a->name, &stmt, NULL)) {
		rc = bento_error_set(err, BENTO_E_VERIFY,
				     "%s: not a DSSE envelope holding an in-toto statement", a->name);
		json_decref(env);
	} else {
		*env_out = env;
		*stmt_out = stmt;
	}
	bento_buf_release(&payload);
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
		json_t *env = NULL, *stmt = NULL, *sigs;
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
		sigs = json_object_get(env, "signatures");
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
		json_decref(env);
		json_decref(stmt);
	}
}

/* ---- policy ---- */

struct policy_rule {
	char **match;		/* name globs (fnmatch) */
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

/* A string or a list of strings, appended to *v. */
static int str_list(struct bento_policy *p, yaml_document_t *doc, yaml_node_t *n, const char *key,
		    char ***v, size_t *count, struct bento_error *err)
{
	if (scalar(n)) {
		*v = bento_xrealloc(*v, (*count + 1) * sizeof(**v));
		(*v)[(*count)++] = bento_xstrdup(scalar(n));
		return 0;
	}
	if (n->type != YAML_SEQUENCE_NODE)
		return perr(p, n, err, "'%s' must be a string or a list of strings", key);
	for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
		yaml_node_t *e = yaml_document_get_node(doc, *it);
		if (!scalar(e))
			return perr(p, e, err, "'%s' must list strings", key);
		*v = bento_xrealloc(*v, (*count + 1) * sizeof(**v));
		(*v)[(*count)++] = bento_xstrdup(scalar(e));
	}
	return 0;
}

static int parse_rule(struct bento_policy *p, yaml_document_t *doc, yaml_node_t *n,
		      struct policy_rule *r, struct bento_error *err)
{
	char **keys = NULL;
	size_t n_keys = 0;
	int rc = 0;

	r->line = (int)n->start_mark.line + 1;
	if (n->type != YAML_MAPPING_NODE)
		return perr(p, n, err, "a rule must be a mapping (match, require_signature, keys)");
	for (yaml_node_pair_t *kv = n->data.mapping.pairs.start; rc == 0 && kv < n->data.mapping.pairs.top; kv++) {
		yaml_node_t *k = yaml_document_get_node(doc, kv->key), *v = yaml_document_get_node(doc, kv->value);
		const char *key = scalar(k);

		if (!key)
			rc = perr(p, k, err, "keys must be strings");
		else if (strcmp(key, "match") == 0)
			rc = str_list(p, doc, v, key, &r->match, &r->n_match, err);
		else if (strcmp(key, "keys") == 0)
			rc = str_list(p, doc, v, key, &keys, &n_keys, err);
		else if (strcmp(key, "require_signature") == 0) {
			const char *b = scalar(v);
			if (b && strcmp(b, "true") == 0)
				r->require_signature = 1;
			else if (b && strcmp(b, "false") == 0)
				r->require_signature = 0;
			else
				rc = perr(p, v, err, "'require_signature' must be true or false");
		} else
			rc = perr(p, k, err, "unknown key '%s' in a rule (valid: match, require_signature, keys)",
				  key);
	}
	if (rc == 0 && !r->n_match)
		rc = perr(p, n, err, "a rule needs 'match' (a name glob such as 'prod-*')");
	for (size_t i = 0; i < n_keys; i++) {
		/* A bare file name is looked up among the trusted keys. */
		char *path = strchr(keys[i], '/') ? bento_xstrdup(keys[i])
						  : bento_config_path("trusted"),
		     *full = strchr(keys[i], '/') ? path : bento_xasprintf("%s/%s", path, keys[i]);
		if (rc == 0 && (rc = bento_keyring_add_file(&r->keys, full, err)))
			bento_error_prefix(err, "%s:%d", p->file, r->line);
		if (full != path)
			free(full);
		free(path);
		free(keys[i]);
	}
	free(keys);
	return rc;
}

static int parse_policy(struct bento_policy *p, yaml_document_t *doc, struct bento_error *err)
{
	yaml_node_t *root = yaml_document_get_root_node(doc), *rules = NULL;

	if (!root)
		return 0;	/* empty file: empty policy */
	if (root->type != YAML_MAPPING_NODE)
		return perr(p, root, err, "the policy must be a mapping with 'rules'");
	for (yaml_node_pair_t *kv = root->data.mapping.pairs.start; kv < root->data.mapping.pairs.top; kv++) {
		yaml_node_t *k = yaml_document_get_node(doc, kv->key);
		if (!scalar(k) || strcmp(scalar(k), "rules") != 0)
			return perr(p, k, err, "unknown key '%s' (valid: rules)", scalar(k) ? scalar(k) : "?");
		rules = yaml_document_get_node(doc, kv->value);
	}
	if (!rules)
		return 0;
	if (rules->type != YAML_SEQUENCE_NODE)
		return perr(p, rules, err, "'rules' must be a list");
	for (yaml_node_item_t *it = rules->data.sequence.items.start; it < rules->data.sequence.items.top; it++) {
		p->rules = bento_xrealloc(p->rules, (p->n + 1) * sizeof(*p->rules));
		memset(&p->rules[p->n], 0, sizeof(*p->rules));
		p->n++;
		int rc = parse_rule(p, doc, yaml_document_get_node(doc, *it), &p->rules[p->n - 1], err);
		if (rc)
			return rc;
	}
	return 0;
}

int bento_policy_load(const char *path, struct bento_policy **out, struct bento_error *err)
{
	struct bento_policy *p = bento_xcalloc(1, sizeof(*p));
	yaml_parser_t parser;
	yaml_document_t doc;
	struct bento_buf text = BENTO_BUF_INIT;
	int rc = 0;

	p->file = path ? bento_xstrdup(path) : bento_config_path("policy.yaml");
	rc = bento_read_file(p->file, POLICY_MAX, &text, err);
	if (rc == -ENOENT && !path) {
		*out = p;
		return 0;
	}
	if (rc) {
		bento_policy_free(p);
		return rc;
	}
	yaml_parser_initialize(&parser);
	yaml_parser_set_input_string(&parser, (const unsigned char *)text.buf, text.len);
	if (!yaml_parser_load(&parser, &doc)) {
		rc = bento_error_set(err, BENTO_E_INVALID, "%s:%zu:%zu: %s", p->file,
				     parser.problem_mark.line + 1, parser.problem_mark.column + 1,
				     parser.problem ? parser.problem : "YAML syntax error");
	} else {
		rc = parse_policy(p, &doc, err);
		yaml_document_delete(&doc);
	}
	yaml_parser_delete(&parser);
	bento_buf_release(&text);
	if (rc) {
		bento_policy_free(p);
		return rc;
	}
	*out = p;
	return 0;
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
