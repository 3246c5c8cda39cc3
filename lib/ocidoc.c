/*
 * ocidoc.c - the strict reader of untrusted OCI JSON (ocidoc.h).
 *
 * Each check names the field by its path in the document ("layers[2].size",
 * "config.Env[0]"), built on the stack as the reader descends.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cjson.h"
#include "ocidoc.h"

#define FIELD_MAX 160

/* Where the reader is: the document's name, the field's path, the error to fill. */
struct at {
	const char *what;
	struct bento_error *err;
	char field[FIELD_MAX];
};

/* A field path, cut short (never overflowing) when a hostile document nests deep. */
__attribute__((format(printf, 2, 3)))
static void field_set(char field[FIELD_MAX], const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (vsnprintf(field, FIELD_MAX, fmt, ap) >= FIELD_MAX)
		memcpy(field + FIELD_MAX - 4, "...", 4);
	va_end(ap);
}

static void at_init(struct at *a, const char *what, const char *field, struct bento_error *err)
{
	a->what = what;
	a->err = err;
	field_set(a->field, "%s", field ? field : "");
}

/* a's field followed by ".key" (or "key" at the top). */
static void at_key(struct at *sub, const struct at *a, const char *key)
{
	sub->what = a->what;
	sub->err = a->err;
	if (a->field[0])
		field_set(sub->field, "%s.%.60s", a->field, key);
	else
		field_set(sub->field, "%.60s", key);
}

static void at_index(struct at *sub, const struct at *a, size_t i)
{
	sub->what = a->what;
	sub->err = a->err;
	field_set(sub->field, "%s[%zu]", a->field, i);
}

__attribute__((format(printf, 2, 3)))
static int bad(const struct at *a, const char *fmt, ...)
{
	char why[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (a->field[0])
		return bento_error_set(a->err, BENTO_E_VERIFY, "%s: %s: %s", a->what, a->field, why);
	return bento_error_set(a->err, BENTO_E_VERIFY, "%s: %s", a->what, why);
}

/* ---- values ---- */

static const char *type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a real number";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	case JSON_NULL: return "null";
	}
	return "?";
}

/* A required or optional string member; *out NULL when absent. */
static int get_str(const json_t *obj, const struct at *a, const char *key, int required,
		   const char **out)
{
	const json_t *v = json_object_get(obj, key);
	struct at sub;

	*out = NULL;
	at_key(&sub, a, key);
	if (!v)
		return required ? bad(&sub, "missing") : 0;
	if (!json_is_string(v))
		return bad(&sub, "%s, not a string", type_name(v));
	*out = json_string_value(v);
	return 0;
}

static int check_str_array(const json_t *v, const struct at *a)
{
	const json_t *e;
	size_t i;

	if (!json_is_array(v))
		return bad(a, "%s, not an array of strings", type_name(v));
	json_array_foreach(v, i, e) {
		if (!json_is_string(e)) {
			struct at sub;
			at_index(&sub, a, i);
			return bad(&sub, "%s, not a string", type_name(e));
		}
	}
	return 0;
}

static int opt_str_array(const json_t *obj, const struct at *a, const char *key)
{
	const json_t *v = json_object_get(obj, key);
	struct at sub;

	if (!v)
		return 0;
	at_key(&sub, a, key);
	return check_str_array(v, &sub);
}

/* An object whose every value is a string (annotations, labels). */
static int check_str_map(const json_t *v, const struct at *a)
{
	const char *k;
	json_t *e;

	if (!json_is_object(v))
		return bad(a, "%s, not an object of strings", type_name(v));
	json_object_foreach((json_t *)v, k, e) {
		if (!json_is_string(e)) {
			struct at sub;
			at_key(&sub, a, k);
			return bad(&sub, "%s, not a string", type_name(e));
		}
	}
	return 0;
}

static int opt_str_map(const json_t *obj, const struct at *a, const char *key, const json_t **out)
{
	const json_t *v = json_object_get(obj, key);
	struct at sub;
	int rc;

	if (out)
		*out = NULL;
	if (!v)
		return 0;
	at_key(&sub, a, key);
	if ((rc = check_str_map(v, &sub)))
		return rc;
	if (out)
		*out = v;
	return 0;
}

/* RFC 6838 4.2: restricted-name, 1 to 127 characters, the first alphanumeric. */
static size_t restricted_name(const char *s)
{
	size_t n = 0;

	if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') ||
	      (s[0] >= '0' && s[0] <= '9')))
		return 0;
	while (s[n] && n < 128 &&
	       ((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= 'A' && s[n] <= 'Z') ||
		(s[n] >= '0' && s[n] <= '9') || strchr("!#$&-^_.+", s[n])))
		n++;
	return n > 127 ? 0 : n;
}

static int media_type_valid(const char *s)
{
	size_t n = restricted_name(s);

	if (!n || s[n] != '/')
		return 0;
	s += n + 1;
	n = restricted_name(s);
	return n && !s[n];
}

static int get_media_type(const json_t *obj, const struct at *a, const char *key, int required,
			  const char **out)
{
	int rc = get_str(obj, a, key, required, out);

	if (rc == 0 && *out && !media_type_valid(*out)) {
		struct at sub;
		at_key(&sub, a, key);
		return bad(&sub, "'%.80s' is not a media type (type/subtype)", *out);
	}
	return rc;
}

static int is_lower_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return s[n] == '\0';
}

/*
 * descriptor.md's grammar: algorithm ":" encoded, the algorithm
 * [a-z0-9]+ components joined by [+._-], encoded [a-zA-Z0-9=_-]+; the
 * registered sha256 and sha512 exactly 64 and 128 lower-case hex digits.
 * 1 for sha256, 0 for another valid digest, -1 when not valid.
 */
static int digest_kind(const char *s)
{
	const char *c = strchr(s, ':'), *p;
	size_t alen;

	if (!c || c == s || !c[1])
		return -1;
	alen = (size_t)(c - s);
	for (p = s; p < c; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9'))
			continue;
		/* a separator, between two components */
		if (!strchr("+._-", *p) || p == s || p + 1 == c || strchr("+._-", p[1]))
			return -1;
	}
	for (p = c + 1; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      *p == '=' || *p == '_' || *p == '-'))
			return -1;
	if (alen == 6 && strncmp(s, "sha256", 6) == 0)
		return is_lower_hex(c + 1, 64) ? 1 : -1;
	if (alen == 6 && strncmp(s, "sha512", 6) == 0)
		return is_lower_hex(c + 1, 128) ? 0 : -1;
	return 0;
}

/* ---- descriptors ---- */

static int platform_read(const json_t *p, const struct at *a, struct bento_oci_desc *d)
{
	const char *s;
	int rc;

	if (!json_is_object(p))
		return bad(a, "%s, not an object", type_name(p));
	if ((rc = get_str(p, a, "architecture", 1, &d->arch)) ||
	    (rc = get_str(p, a, "os", 1, &d->os)) ||
	    (rc = get_str(p, a, "variant", 0, &d->variant)) ||
	    (rc = get_str(p, a, "os.version", 0, &s)) ||
	    (rc = opt_str_array(p, a, "os.features")) ||
	    (rc = opt_str_array(p, a, "features")))
		return rc;
	return 0;
}

static int desc_read(const json_t *j, const struct at *a, struct bento_oci_desc *out)
{
	struct bento_oci_desc d = { 0 };
	const json_t *v;
	const char *data;
	struct at sub;
	int rc, kind;

	if (!j)
		return bad(a, "missing");
	if (!json_is_object(j))
		return bad(a, "%s, not a descriptor object", type_name(j));
	if ((rc = get_media_type(j, a, "mediaType", 1, &d.media_type)) ||
	    (rc = get_str(j, a, "digest", 1, &d.digest_str)))
		return rc;
	at_key(&sub, a, "digest");
	kind = digest_kind(d.digest_str);
	if (kind < 0)
		return bad(&sub, "'%.80s' is not a digest (sha256:<64 lower-case hex>)", d.digest_str);
	if (kind == 1)
		bento_digest_parse(d.digest_str, &d.digest, NULL);
	d.other_algorithm = kind == 0;
	at_key(&sub, a, "size");
	v = json_object_get(j, "size");
	if (!v)
		return bad(&sub, "missing");
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return bad(&sub, "%s, not an integer >= 0", json_is_integer(v) ? "negative" : type_name(v));
	d.size = (uint64_t)json_integer_value(v);
	if ((rc = opt_str_array(j, a, "urls")) ||
	    (rc = opt_str_map(j, a, "annotations", &d.annotations)) ||
	    (rc = get_str(j, a, "data", 0, &data)) ||
	    (rc = get_media_type(j, a, "artifactType", 0, &d.artifact_type)))
		return rc;
	if ((v = json_object_get(j, "platform"))) {
		at_key(&sub, a, "platform");
		if ((rc = platform_read(v, &sub, &d)))
			return rc;
	}
	*out = d;
	return 0;
}

int bento_oci_desc_read(const json_t *j, const char *what, const char *field,
			struct bento_oci_desc *out, struct bento_error *err)
{
	struct at a;

	at_init(&a, what, field, err);
	return desc_read(j, &a, out);
}

int bento_oci_desc_sha256(const struct bento_oci_desc *d, const char *what, const char *field,
			  struct bento_error *err)
{
	if (!d->other_algorithm)
		return 0;
	return bento_error_set(err, BENTO_E_VERIFY, "%s: %s: digest algorithm %.*s is not supported",
			       what, field, (int)strcspn(d->digest_str, ":"), d->digest_str);
}

/* ---- documents ---- */

int bento_oci_media_kind(const char *mt)
{
	if (!mt)
		return 0;
	if (strcmp(mt, OCI_MANIFEST_V1) == 0 || strcmp(mt, DOCKER_MANIFEST_V2) == 0)
		return BENTO_OCI_MANIFEST;
	if (strcmp(mt, OCI_INDEX_V1) == 0 || strcmp(mt, DOCKER_LIST_V2) == 0)
		return BENTO_OCI_INDEX;
	return 0;
}

/* JSON text to an object; a parse error is damaged input (exit 3), not a bad bentofile. */
static int parse_object(const void *data, size_t len, const char *what, json_t **out,
			struct bento_error *err)
{
	json_t *v = NULL;
	int rc = bento_json_parse(data, len, what, &v, err);

	if (rc == -BENTO_E_INVALID) {
		if (err)
			err->code = -BENTO_E_VERIFY;
		return -BENTO_E_VERIFY;
	}
	if (rc)
		return rc;
	if (!json_is_object(v)) {
		rc = bento_error_set(err, BENTO_E_VERIFY, "%s: %s, not a JSON object", what,
				     type_name(v));
		json_decref(v);
		return rc;
	}
	*out = v;
	return 0;
}

static int schema_version(const json_t *root, const struct at *a)
{
	const json_t *v = json_object_get(root, "schemaVersion");
	struct at sub;

	at_key(&sub, a, "schemaVersion");
	if (!v)
		return bad(&sub, "missing");
	if (!json_is_integer(v))
		return bad(&sub, "%s, not the integer 2", type_name(v));
	if (json_integer_value(v) != 2)
		return bad(&sub, "%lld is not supported (only 2)", (long long)json_integer_value(v));
	return 0;
}

static const char *kind_name(int kind)
{
	return kind == BENTO_OCI_INDEX ? "an image index" : "an image manifest";
}

/* The document's kind from its mediaType, the hint, its shape. */
static int doc_kind(const json_t *root, const struct at *a, const char *mt, const char *hint,
		    int *kind)
{
	int hk = bento_oci_media_kind(hint);
	struct at sub;

	at_key(&sub, a, "mediaType");
	if (mt) {
		*kind = bento_oci_media_kind(mt);
		if (!*kind)
			return bad(&sub, "'%.80s' is neither an image manifest nor an image index", mt);
		if (hk && strcmp(mt, hint) != 0)
			return bad(&sub, "'%s', but it was served or described as '%s'", mt, hint);
		return 0;
	}
	if (hk)
		*kind = hk;
	else
		*kind = json_object_get(root, "manifests") ? BENTO_OCI_INDEX : BENTO_OCI_MANIFEST;
	return 0;
}

static int desc_array(const json_t *root, const struct at *a, const char *key,
		      struct bento_oci_desc **out, size_t *n)
{
	const json_t *v = json_object_get(root, key);
	struct bento_oci_desc *d;
	struct at sub, el;
	size_t i;
	int rc;

	at_key(&sub, a, key);
	if (!v)
		return bad(&sub, "missing");
	if (!json_is_array(v))
		return bad(&sub, "%s, not an array of descriptors", type_name(v));
	d = bento_xcalloc(json_array_size(v) + 1, sizeof(*d));
	for (i = 0; i < json_array_size(v); i++) {
		at_index(&el, &sub, i);
		if ((rc = desc_read(json_array_get(v, i), &el, &d[i]))) {
			free(d);
			return rc;
		}
	}
	*out = d;
	*n = i;
	return 0;
}

int bento_oci_doc_read(const void *data, size_t len, const char *what, const char *hint,
		       unsigned want, struct bento_oci_doc *out, struct bento_error *err)
{
	struct bento_oci_doc d = { 0 };
	const json_t *v;
	struct at a;
	int kind, rc;

	memset(out, 0, sizeof(*out));
	at_init(&a, what, NULL, err);
	if ((rc = parse_object(data, len, what, &d.root, err)))
		return rc;
	if ((rc = schema_version(d.root, &a)) ||
	    (rc = get_str(d.root, &a, "mediaType", 0, &d.media_type)) ||
	    (rc = doc_kind(d.root, &a, d.media_type, hint, &kind)))
		goto fail;
	d.kind = (enum bento_oci_kind)kind;
	if (!d.media_type)
		d.media_type = bento_oci_media_kind(hint) ? hint
			       : kind == BENTO_OCI_INDEX ? OCI_INDEX_V1 : OCI_MANIFEST_V1;
	if ((rc = get_media_type(d.root, &a, "artifactType", 0, &d.artifact_type)) ||
	    (rc = opt_str_map(d.root, &a, "annotations", &d.annotations)))
		goto fail;
	if ((v = json_object_get(d.root, "subject"))) {
		struct at sub;
		at_key(&sub, &a, "subject");
		if ((rc = desc_read(v, &sub, &d.subject)))
			goto fail;
		d.has_subject = 1;
	}
	if (kind == BENTO_OCI_MANIFEST) {
		struct at sub;
		at_key(&sub, &a, "config");
		if ((rc = desc_read(json_object_get(d.root, "config"), &sub, &d.config)) ||
		    (rc = desc_array(d.root, &a, "layers", &d.descs, &d.n_descs)))
			goto fail;
	} else if ((rc = desc_array(d.root, &a, "manifests", &d.descs, &d.n_descs))) {
		goto fail;
	}
	if (!((unsigned)kind & want)) {
		rc = bento_error_set(err, BENTO_E_INVALID, "%s: %s, not %s", what, kind_name(kind),
				     kind_name(kind == BENTO_OCI_INDEX ? BENTO_OCI_MANIFEST
								       : BENTO_OCI_INDEX));
		goto fail;
	}
	*out = d;
	return 0;
fail:
	bento_oci_doc_release(&d);
	return rc;
}

void bento_oci_doc_release(struct bento_oci_doc *d)
{
	if (!d)
		return;
	free(d->descs);
	json_decref(d->root);
	memset(d, 0, sizeof(*d));
}

/* ---- oci-layout ---- */

int bento_oci_layout_read(const void *data, size_t len, const char *what,
			  struct bento_error *err)
{
	json_t *root = NULL;
	const char *ver;
	struct at a;
	int rc;

	at_init(&a, what, NULL, err);
	if ((rc = parse_object(data, len, what, &root, err)))
		return rc;
	if ((rc = get_str(root, &a, "imageLayoutVersion", 1, &ver)) == 0 &&
	    strcmp(ver, OCI_LAYOUT_VERSION) != 0) {
		struct at sub;
		at_key(&sub, &a, "imageLayoutVersion");
		rc = bad(&sub, "'%.40s' is not supported (only " OCI_LAYOUT_VERSION ")", ver);
	}
	json_decref(root);
	return rc;
}

/* ---- image config ---- */

/* A member that may be null (Docker writes "Cmd": null): null is dropped as if absent. */
static const json_t *nullable(json_t *obj, const char *key)
{
	const json_t *v = json_object_get(obj, key);

	if (json_is_null(v)) {
		json_object_del(obj, key);
		return NULL;
	}
	return v;
}

/* An object whose values are objects (ExposedPorts, Volumes: {"80/tcp": {}}). */
static int check_set(const json_t *v, const struct at *a)
{
	const char *k;
	json_t *e;

	if (!json_is_object(v))
		return bad(a, "%s, not an object", type_name(v));
	json_object_foreach((json_t *)v, k, e) {
		if (!json_is_object(e)) {
			struct at sub;
			at_key(&sub, a, k);
			return bad(&sub, "%s, not an object", type_name(e));
		}
	}
	return 0;
}

static int exec_config(json_t *c, const struct at *a)
{
	static const char *const strs[] = { "User", "WorkingDir", "StopSignal" };
	static const char *const arrays[] = { "Env", "Entrypoint", "Cmd" };
	static const char *const sets[] = { "ExposedPorts", "Volumes" };
	const json_t *v;
	const char *s;
	struct at sub;
	int rc;

	for (size_t i = 0; i < sizeof(strs) / sizeof(*strs); i++)
		if (nullable(c, strs[i]) && (rc = get_str(c, a, strs[i], 0, &s)))
			return rc;
	for (size_t i = 0; i < sizeof(arrays) / sizeof(*arrays); i++) {
		if ((v = nullable(c, arrays[i]))) {
			at_key(&sub, a, arrays[i]);
			if ((rc = check_str_array(v, &sub)))
				return rc;
		}
	}
	for (size_t i = 0; i < sizeof(sets) / sizeof(*sets); i++) {
		if ((v = nullable(c, sets[i]))) {
			at_key(&sub, a, sets[i]);
			if ((rc = check_set(v, &sub)))
				return rc;
		}
	}
	if ((v = nullable(c, "Labels"))) {
		at_key(&sub, a, "Labels");
		if ((rc = check_str_map(v, &sub)))
			return rc;
	}
	return 0;
}

static int history_read(const json_t *h, const struct at *a)
{
	static const char *const strs[] = { "created", "created_by", "author", "comment" };
	const json_t *e, *v;
	const char *s;
	struct at el, sub;
	size_t i;
	int rc;

	if (!json_is_array(h))
		return bad(a, "%s, not an array", type_name(h));
	json_array_foreach(h, i, e) {
		at_index(&el, a, i);
		if (!json_is_object(e))
			return bad(&el, "%s, not an object", type_name(e));
		for (size_t k = 0; k < sizeof(strs) / sizeof(*strs); k++)
			if ((rc = get_str(e, &el, strs[k], 0, &s)))
				return rc;
		if ((v = json_object_get(e, "empty_layer")) && !json_is_boolean(v)) {
			at_key(&sub, &el, "empty_layer");
			return bad(&sub, "%s, not a boolean", type_name(v));
		}
	}
	return 0;
}

static int rootfs_read(const json_t *r, const struct at *a, size_t n_layers)
{
	const json_t *ids, *e;
	const char *type;
	struct at sub, el;
	size_t i;
	int rc;

	if (!r)
		return bad(a, "missing");
	if (!json_is_object(r))
		return bad(a, "%s, not an object", type_name(r));
	if ((rc = get_str(r, a, "type", 1, &type)))
		return rc;
	at_key(&sub, a, "type");
	if (strcmp(type, "layers") != 0)
		return bad(&sub, "'%.40s', not 'layers'", type);
	at_key(&sub, a, "diff_ids");
	ids = json_object_get(r, "diff_ids");
	if (!ids)
		return bad(&sub, "missing");
	if ((rc = check_str_array(ids, &sub)))
		return rc;
	json_array_foreach(ids, i, e) {
		at_index(&el, &sub, i);
		if (!bento_digest_valid(json_string_value(e)))
			return bad(&el, "'%.80s' is not a sha256 digest", json_string_value(e));
	}
	if (json_array_size(ids) != n_layers)
		return bad(&sub, "%zu of them for %zu layers", json_array_size(ids), n_layers);
	return 0;
}

int bento_oci_config_read(const void *data, size_t len, const char *what, size_t n_layers,
			  json_t **out, struct bento_error *err)
{
	static const char *const strs[] = { "variant", "os.version", "created", "author" };
	json_t *root = NULL, *c;
	const json_t *v;
	const char *s;
	struct at a, sub;
	int rc;

	at_init(&a, what, NULL, err);
	if ((rc = parse_object(data, len, what, &root, err)))
		return rc;
	if ((rc = get_str(root, &a, "architecture", 1, &s)) ||
	    (rc = get_str(root, &a, "os", 1, &s)))
		goto out;
	for (size_t i = 0; i < sizeof(strs) / sizeof(*strs); i++)
		if ((rc = get_str(root, &a, strs[i], 0, &s)))
			goto out;
	if ((rc = opt_str_array(root, &a, "os.features")))
		goto out;
	if ((c = (json_t *)nullable(root, "config"))) {
		at_key(&sub, &a, "config");
		if (!json_is_object(c)) {
			rc = bad(&sub, "%s, not an object", type_name(c));
			goto out;
		}
		if ((rc = exec_config(c, &sub)))
			goto out;
	}
	at_key(&sub, &a, "rootfs");
	if ((rc = rootfs_read(json_object_get(root, "rootfs"), &sub, n_layers)))
		goto out;
	if ((v = nullable(root, "history"))) {
		at_key(&sub, &a, "history");
		if ((rc = history_read(v, &sub)))
			goto out;
	}
	*out = root;
	root = NULL;
out:
	json_decref(root);
	return rc;
}
