#include <stdlib.h>
#include <string.h>

#include "cjson.h"

int bento_json_put_string(struct bento_buf *out, const char *s, size_t n, struct bento_error *err)
{
	if (!bento_utf8_valid(s, n))
		return bento_error_set(err, BENTO_E_INVALID, "string is not valid UTF-8");
	bento_buf_addch(out, '"');
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		size_t run = i;

		/* what needs no escape goes in runs */
		while (run < n && (unsigned char)s[run] >= 0x20 && s[run] != '"' && s[run] != '\\')
			run++;
		if (run > i) {
			bento_buf_add(out, s + i, run - i);
			i = run - 1;
			continue;
		}
		switch (c) {
		case '"': bento_buf_adds(out, "\\\""); break;
		case '\\': bento_buf_adds(out, "\\\\"); break;
		case '\b': bento_buf_adds(out, "\\b"); break;
		case '\f': bento_buf_adds(out, "\\f"); break;
		case '\n': bento_buf_adds(out, "\\n"); break;
		case '\r': bento_buf_adds(out, "\\r"); break;
		case '\t': bento_buf_adds(out, "\\t"); break;
		default:
			if (c < 0x20)
				bento_buf_addf(out, "\\u%04x", c);
			else
				bento_buf_addch(out, c);
		}
	}
	bento_buf_addch(out, '"');
	return 0;
}

static int cmp_keys(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int put(const json_t *v, struct bento_buf *out, struct bento_error *err, int depth);

/* An object, with the member extra: raw (canonical bytes) when extra is not NULL. */
static int put_object(const json_t *v, const char *extra, const struct bento_buf *raw,
		      struct bento_buf *out, struct bento_error *err, int depth)
{
	size_t n = json_object_size(v) + (extra != NULL), i = 0;
	const char **keys = bento_xcalloc(n, sizeof(*keys));
	const char *k;
	json_t *val;
	int rc = 0;

	json_object_foreach((json_t *)v, k, val)
		keys[i++] = k;
	if (extra)
		keys[i++] = extra;
	qsort(keys, n, sizeof(*keys), cmp_keys);
	bento_buf_addch(out, '{');
	for (i = 0; i < n && rc == 0; i++) {
		if (i)
			bento_buf_addch(out, ',');
		rc = bento_json_put_string(out, keys[i], strlen(keys[i]), err);
		if (rc)
			break;
		bento_buf_addch(out, ':');
		if (keys[i] == extra)
			bento_buf_add(out, raw->buf, raw->len);
		else
			rc = put(json_object_get(v, keys[i]), out, err, depth + 1);
	}
	bento_buf_addch(out, '}');
	free(keys);
	return rc;
}

static int put(const json_t *v, struct bento_buf *out, struct bento_error *err, int depth)
{
	int rc = 0;

	if (depth > 64)
		return bento_error_set(err, BENTO_E_INVALID, "JSON nested too deeply");
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return put_object(v, NULL, NULL, out, err, depth);
	case JSON_ARRAY: {
		size_t i;
		json_t *val;

		bento_buf_addch(out, '[');
		json_array_foreach((json_t *)v, i, val) {
			if (i)
				bento_buf_addch(out, ',');
			if ((rc = put(val, out, err, depth + 1)))
				return rc;
		}
		bento_buf_addch(out, ']');
		return 0;
	}
	case JSON_STRING:
		return bento_json_put_string(out, json_string_value(v), json_string_length(v), err);
	case JSON_INTEGER:
		bento_buf_addf(out, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return 0;
	case JSON_REAL:
		return bento_error_set(err, BENTO_E_INVALID,
				       "real numbers are not allowed in canonical JSON");
	case JSON_TRUE:
		bento_buf_adds(out, "true");
		return 0;
	case JSON_FALSE:
		bento_buf_adds(out, "false");
		return 0;
	case JSON_NULL:
		bento_buf_adds(out, "null");
		return 0;
	}
	return bento_error_set(err, BENTO_E_INVALID, "unknown JSON type");
}

int bento_json_canonical(const json_t *v, struct bento_buf *out, struct bento_error *err)
{
	size_t mark = out->len;
	int rc = put(v, out, err, 0);

	if (rc && out->alloc)
		bento_buf_setlen(out, mark);
	return rc;
}

int bento_json_canonical_with(const json_t *obj, const char *key, const struct bento_buf *raw,
			      struct bento_buf *out, struct bento_error *err)
{
	size_t mark = out->len;
	int rc;

	if (!json_is_object(obj) || json_object_get(obj, key))
		return bento_error_set(err, BENTO_E_INVALID, "'%s' spliced into a non-object or twice",
				       key);
	if ((rc = put_object(obj, key, raw, out, err, 0)) && out->alloc)
		bento_buf_setlen(out, mark);
	return rc;
}

int bento_json_digest_with(const json_t *obj, const char *key, const struct bento_buf *raw,
			   struct bento_digest *out, struct bento_error *err)
{
	struct bento_buf b = BENTO_BUF_INIT;
	int rc = key ? bento_json_canonical_with(obj, key, raw, &b, err) :
		       bento_json_canonical(obj, &b, err);

	if (rc == 0)
		bento_digest_bytes(b.buf, b.len, out);
	bento_buf_release(&b);
	return rc;
}

int bento_json_digest(const json_t *v, struct bento_digest *out, struct bento_error *err)
{
	struct bento_buf b = BENTO_BUF_INIT;
	int rc = bento_json_canonical(v, &b, err);

	if (rc == 0)
		bento_digest_bytes(b.buf, b.len, out);
	bento_buf_release(&b);
	return rc;
}

int bento_json_parse(const char *data, size_t len, const char *what,
		     json_t **out, struct bento_error *err)
{
	json_error_t je;
	json_t *v;

	if (len > BENTO_JSON_MAX)
		return bento_error_set(err, BENTO_E_INVALID, "%s: larger than %u bytes",
				       what, BENTO_JSON_MAX);
	v = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
	if (!v)
		return bento_error_set(err, BENTO_E_INVALID, "%s:%d:%d: %s", what,
				       je.line, je.column, je.text);
	*out = v;
	return 0;
}

int bento_json_is_canonical(const char *data, size_t len)
{
	struct bento_buf b = BENTO_BUF_INIT;
	json_t *v = NULL;
	int ok = 0;

	if (bento_json_parse(data, len, "", &v, NULL) == 0 &&
	    bento_json_canonical(v, &b, NULL) == 0)
		ok = b.len == len && memcmp(b.buf, data, len) == 0;
	json_decref(v);
	bento_buf_release(&b);
	return ok;
}

const char *bento_json_str(const json_t *obj, const char *key)
{
	const json_t *v = json_object_get(obj, key);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

int bento_json_int(const json_t *obj, const char *key, long long *out)
{
	const json_t *v = json_object_get(obj, key);
	if (!json_is_integer(v))
		return -1;
	*out = json_integer_value(v);
	return 0;
}
