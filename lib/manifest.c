#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cjson.h"
#include "manifest.h"
#include "manifest_internal.h"
#include "sign.h"

int bento_path_check(const char *path, const char *what, struct bento_error *err)
{
	size_t len = strlen(path), comp = 0;
	const char *c = path;

	if (len == 0)
		return bento_error_set(err, BENTO_E_UNSAFE, "%s: empty path", what);
	if (len > BENTO_PATH_MAX)
		return bento_error_set(err, BENTO_E_UNSAFE, "%s: path longer than %d bytes",
				       what, BENTO_PATH_MAX);
	if (path[0] == '/')
		return bento_error_set(err, BENTO_E_UNSAFE, "%s: absolute path '%.200s'", what, path);
	for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
		/* C0, DEL and C1 (U+0080..U+009F, UTF-8 C2 80..C2 9F) controls */
		if (*p < 0x20 || *p == 0x7f || (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f))
			return bento_error_set(err, BENTO_E_UNSAFE,
					       "%s: control character in path", what);
		if (*p == '\\')
			return bento_error_set(err, BENTO_E_UNSAFE,
					       "%s: backslash in path '%.200s'", what, path);
	}
	if (!bento_utf8_valid(path, strlen(path)))
		return bento_error_set(err, BENTO_E_UNSAFE, "%s: path is not valid UTF-8", what);
	for (const char *p = path;; p++) {
		if (*p == '/' || *p == '\0') {
			comp = (size_t)(p - c);
			if (comp == 0 || (comp == 1 && c[0] == '.') ||
			    (comp == 2 && c[0] == '.' && c[1] == '.'))
				return bento_error_set(err, BENTO_E_UNSAFE,
						       "%s: path '%.200s' has an empty, '.' or '..' component",
						       what, path);
			if (comp > 255)
				return bento_error_set(err, BENTO_E_UNSAFE,
						       "%s: path component longer than 255 bytes", what);
			if (*p == '\0')
				break;
			c = p + 1;
		}
	}
	return 0;
}

int bento_size_add(uint64_t *sum, uint64_t n, const char *what, struct bento_error *err)
{
	if (n > BENTO_SIZE_MAX - *sum)
		return bento_error_set(err, BENTO_E_INVALID,
				       "%s: sizes add up to more than %llu bytes", what,
				       (unsigned long long)BENTO_SIZE_MAX);
	*sum += n;
	return 0;
}

static int charset_check(const char *s, const char *first, const char *rest,
			 const char *what, const char *kind, struct bento_error *err)
{
	size_t n = strlen(s);

	if (n == 0 || n > BENTO_NAME_MAX || !strchr(first, s[0]) || strspn(s, rest) != n)
		return bento_error_set(err, BENTO_E_INVALID,
				       "%s: invalid %s '%.200s' (want %s)", what, kind, s,
				       kind[0] == 'n' ? "[a-z0-9][a-z0-9._-]{0,127}"
						      : "[A-Za-z0-9_][A-Za-z0-9._-]{0,127}");
	return 0;
}

#define LOWER_DIGITS "abcdefghijklmnopqrstuvwxyz0123456789"
#define ALNUM_ "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_"

int bento_name_check(const char *name, const char *what, struct bento_error *err)
{
	return charset_check(name, LOWER_DIGITS, LOWER_DIGITS "._-", what, "name", err);
}

int bento_version_check(const char *version, const char *what, struct bento_error *err)
{
	return charset_check(version, ALNUM_, ALNUM_ ".-", what, "version", err);
}

/* ---- helpers for strict object reading ---- */

static int only_keys(const json_t *obj, const char *const *keys, const char *what,
		     struct bento_error *err)
{
	const char *k;
	json_t *v;

	json_object_foreach((json_t *)obj, k, v) {
		size_t i;
		for (i = 0; keys[i]; i++)
			if (strcmp(k, keys[i]) == 0)
				break;
		if (!keys[i])
			return bento_error_set(err, BENTO_E_INVALID, "%s: unknown key '%.100s'",
					       what, k);
	}
	return 0;
}

static int get_str(const json_t *obj, const char *key, int required, const char **out,
		   const char *what, struct bento_error *err)
{
	const json_t *v = json_object_get(obj, key);

	*out = NULL;
	if (!v)
		return required ? bento_error_set(err, BENTO_E_INVALID, "%s: '%s' is missing",
						  what, key) : 0;
	if (!json_is_string(v) || memchr(json_string_value(v), 0, json_string_length(v)))
		return bento_error_set(err, BENTO_E_INVALID, "%s: '%s' must be a string",
				       what, key);
	*out = json_string_value(v);
	return 0;
}

static int get_uint(const json_t *obj, const char *key, uint64_t *out, const char *what,
		    struct bento_error *err)
{
	const json_t *v = json_object_get(obj, key);

	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return bento_error_set(err, BENTO_E_INVALID,
				       "%s: '%s' must be a non-negative integer", what, key);
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

static int str_map_check(const json_t *obj, const char *key, const char *what,
			 struct bento_error *err)
{
	const json_t *m = json_object_get(obj, key);
	const char *k;
	json_t *v;

	if (!m)
		return 0;
	if (!json_is_object(m))
		return bento_error_set(err, BENTO_E_INVALID, "%s: '%s' must be an object",
				       what, key);
	json_object_foreach((json_t *)m, k, v)
		if (!json_is_string(v))
			return bento_error_set(err, BENTO_E_INVALID,
					       "%s: %s.%.100s must be a string", what, key, k);
	return 0;
}

static void files_free(struct bento_file *f, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(f[i].path);
	free(f);
}

/*
 * Read a "files" array: every entry {digest, mode, path, size}, paths safe,
 * strictly increasing bytewise.  prefix, when set, is required of each path
 * ("src/" or "env/" in a bento).
 */
/* One files[] entry's path and mode, and its order after prev (NULL for the first). */
static int file_check(const char *path, uint64_t mode, const char *prev, int bento_paths,
		      const char *what, struct bento_error *err)
{
	int rc;

	if ((rc = bento_path_check(path, what, err)))
		return rc;
	if (bento_paths && strncmp(path, "src/", 4) != 0 && strncmp(path, "env/", 4) != 0)
		return bento_error_set(err, BENTO_E_INVALID,
				       "%s: file '%.200s' is outside src/ and env/", what, path);
	if (mode != 0644 && mode != 0755)
		return bento_error_set(err, BENTO_E_INVALID,
				       "%s: %.200s: mode must be 420 (0644) or 493 (0755)", what, path);
	if (prev && strcmp(prev, path) >= 0)
		return bento_error_set(err, BENTO_E_INVALID,
				       "%s: files not sorted or duplicated at '%.200s'", what, path);
	return 0;
}

static int read_files(const json_t *arr, const char *what, int bento_paths,
		      struct bento_file **out, size_t *n_out, uint64_t *total,
		      struct bento_error *err)
{
	static const char *const keys[] = { "digest", "mode", "path", "size", NULL };
	struct bento_file *files;
	size_t n, i;
	json_t *e;
	int rc = 0;

	if (!json_is_array(arr))
		return bento_error_set(err, BENTO_E_INVALID, "%s: 'files' must be an array", what);
	n = json_array_size(arr);
	files = bento_xcalloc(n, sizeof(*files));
	*total = 0;
	json_array_foreach((json_t *)arr, i, e) {
		const char *path, *digest;
		uint64_t mode;
		struct bento_file *f = &files[i];

		if (!json_is_object(e)) {
			rc = bento_error_set(err, BENTO_E_INVALID, "%s: files[%zu] must be an object",
					     what, i);
			break;
		}
		if ((rc = only_keys(e, keys, what, err)) ||
		    (rc = get_str(e, "path", 1, &path, what, err)) ||
		    (rc = get_str(e, "digest", 1, &digest, what, err)) ||
		    (rc = get_uint(e, "size", &f->size, what, err)) ||
		    (rc = get_uint(e, "mode", &mode, what, err)))
			break;
		if ((rc = file_check(path, mode, i ? files[i - 1].path : NULL, bento_paths, what,
				     err)))
			break;
		f->mode = (unsigned)mode;
		/* Only the lowercase form, so one content has one manifest. */
		if (!bento_digest_valid(digest)) {
			rc = bento_error_set(err, BENTO_E_INVALID,
					     "%s: %.200s: digest must be sha256:<64 lowercase hex>",
					     what, path);
			break;
		}
		if ((rc = bento_digest_parse(digest, &f->digest, err))) {
			bento_error_prefix(err, "%s: %.200s", what, path);
			break;
		}
		f->path = bento_xstrdup(path);
		if ((rc = bento_size_add(total, f->size, what, err)))
			break;
	}
	if (rc) {
		files_free(files, n);
		return rc;
	}
	*out = files;
	*n_out = n;
	return 0;
}

static int check_total(const json_t *obj, uint64_t total, const char *what,
		       struct bento_error *err)
{
	uint64_t size;
	int rc = get_uint(obj, "size", &size, what, err);

	if (rc)
		return rc;
	if (size != total)
		return bento_error_set(err, BENTO_E_INVALID,
				       "%s: 'size' is %llu but the files add up to %llu", what,
				       (unsigned long long)size, (unsigned long long)total);
	return 0;
}

static int check_header(const json_t *obj, const char *mediatype, const char *what,
			struct bento_error *err)
{
	const char *mt;
	long long sv;
	int rc = get_str(obj, "mediaType", 1, &mt, what, err);

	if (rc)
		return rc;
	if (strcmp(mt, mediatype) != 0)
		return bento_error_set(err, BENTO_E_INVALID, "%s: mediaType is '%.100s', want '%s'",
				       what, mt, mediatype);
	if (bento_json_int(obj, "schemaVersion", &sv) || sv != 1)
		return bento_error_set(err, BENTO_E_INVALID,
				       "%s: schemaVersion must be 1 (this bento reads version 1)", what);
	return 0;
}

/* ---- model.json ---- */

static void model_release(struct bento_model *m)
{
	free(m->name);
	free(m->version);
	json_decref(m->json);
	files_free(m->files, m->n_files);
}

static int model_read(json_t *obj, const char *what, struct bento_model *m,
		      struct bento_error *err)
{
	static const char *const keys[] = {
		"description", "files", "format", "framework", "labels", "license",
		"mediaType", "name", "schemaVersion", "size", "version", NULL
	};
	const char *name, *version, *s;
	int rc;

	memset(m, 0, sizeof(*m));
	if (!json_is_object(obj))
		return bento_error_set(err, BENTO_E_INVALID, "%s: not a JSON object", what);
	if ((rc = check_header(obj, BENTO_MEDIATYPE_MODEL, what, err)) ||
	    (rc = only_keys(obj, keys, what, err)) ||
	    (rc = get_str(obj, "name", 1, &name, what, err)) ||
	    (rc = get_str(obj, "version", 1, &version, what, err)) ||
	    (rc = bento_name_check(name, what, err)) ||
	    (rc = bento_version_check(version, what, err)) ||
	    (rc = get_str(obj, "description", 0, &s, what, err)) ||
	    (rc = get_str(obj, "format", 0, &s, what, err)) ||
	    (rc = get_str(obj, "framework", 0, &s, what, err)) ||
	    (rc = get_str(obj, "license", 0, &s, what, err)) ||
	    (rc = str_map_check(obj, "labels", what, err)))
		return rc;
	if ((rc = read_files(json_object_get(obj, "files"), what, 0, &m->files, &m->n_files,
			     &m->size, err)))
		return rc;
	if ((rc = check_total(obj, m->size, what, err)) ||
	    (rc = bento_json_digest(obj, &m->digest, err))) {
		files_free(m->files, m->n_files);
		m->files = NULL;
		return rc;
	}
	m->name = bento_xstrdup(name);
	m->version = bento_xstrdup(version);
	m->json = json_incref(obj);
	return 0;
}

int bento_model_from_json(json_t *obj, const char *what, struct bento_model **out,
			  struct bento_error *err)
{
	struct bento_model *m = bento_xmalloc(sizeof(*m));
	int rc = model_read(obj, what, m, err);

	if (rc) {
		free(m);
		return rc;
	}
	*out = m;
	return 0;
}

static int parse_canonical(const char *data, size_t len, const char *what, json_t **out,
			   struct bento_error *err)
{
	struct bento_buf canon = BENTO_BUF_INIT;
	json_t *v = NULL;
	int rc;

	if (len > BENTO_MANIFEST_MAX)
		return bento_error_set(err, BENTO_E_INVALID, "%s: larger than %u bytes", what,
				       BENTO_MANIFEST_MAX);
	if ((rc = bento_json_parse(data, len, what, &v, err)))
		return rc;
	rc = bento_json_canonical(v, &canon, err);
	if (rc == 0 && (canon.len != len || memcmp(canon.buf, data, len) != 0))
		rc = bento_error_set(err, BENTO_E_INVALID,
				     "%s: not in canonical form (keys sorted, no whitespace)", what);
	bento_buf_release(&canon);
	if (rc) {
		json_decref(v);
		return rc;
	}
	*out = v;
	return 0;
}

int bento_model_parse(const char *data, size_t len, const char *what,
		      struct bento_model **out, struct bento_error *err)
{
	json_t *v;
	int rc = parse_canonical(data, len, what, &v, err);

	if (rc)
		return rc;
	rc = bento_model_from_json(v, what, out, err);
	json_decref(v);
	return rc;
}

void bento_model_free(struct bento_model *m)
{
	if (!m)
		return;
	model_release(m);
	free(m);
}

/* ---- bento.json ---- */

static int read_service(const json_t *svc, const char *what, struct bento_error *err)
{
	static const char *const keys[] = {
		"batching", "entrypoint", "envs", "image", "resources", "scaling", "traffic", NULL
	};
	const json_t *ep;
	const char *k;
	size_t i;
	json_t *a;
	int rc;

	if (!json_is_object(svc))
		return bento_error_set(err, BENTO_E_INVALID, "%s: 'service' must be an object", what);
	if ((rc = only_keys(svc, keys, what, err)))
		return rc;
	ep = json_object_get(svc, "entrypoint");
	if (!json_is_array(ep) || json_array_size(ep) == 0)
		return bento_error_set(err, BENTO_E_INVALID,
				       "%s: service.entrypoint must be a non-empty array", what);
	json_array_foreach((json_t *)ep, i, a)
		if (!json_is_string(a))
			return bento_error_set(err, BENTO_E_INVALID,
					       "%s: service.entrypoint[%zu] must be a string", what, i);
	if ((rc = str_map_check(svc, "envs", what, err)))
		return rc;
	json_object_foreach(json_object_get(svc, "envs"), k, a)
		if (!*k || strchr(k, '='))
			return bento_error_set(err, BENTO_E_INVALID,
					       "%s: service.envs.%.100s: not a variable name", what, k);
	return 0;
}

static int read_lockfiles(const json_t *arr, const struct bento_manifest *m,
			  const char *what, struct bento_error *err)
{
	static const char *const keys[] = { "digest", "kind", "path", "source", NULL };
	size_t i;
	json_t *e;
	int rc;

	if (!arr)
		return 0;
	if (!json_is_array(arr))
		return bento_error_set(err, BENTO_E_INVALID, "%s: 'lockfiles' must be an array", what);
	json_array_foreach((json_t *)arr, i, e) {
		const char *path, *kind, *source, *digest;
		size_t k;

		if (!json_is_object(e))
			return bento_error_set(err, BENTO_E_INVALID,
					       "%s: lockfiles[%zu] must be an object", what, i);
		if ((rc = only_keys(e, keys, what, err)) ||
		    (rc = get_str(e, "path", 1, &path, what, err)) ||
		    (rc = get_str(e, "kind", 1, &kind, what, err)) ||
		    (rc = get_str(e, "source", 1, &source, what, err)) ||
		    (rc = get_str(e, "digest", 1, &digest, what, err)))
			return rc;
		for (k = 0; k < m->n_files; k++)
			if (strcmp(m->files[k].path, path) == 0)
				break;
		if (strncmp(path, "env/", 4) != 0 || k == m->n_files)
			return bento_error_set(err, BENTO_E_INVALID,
					       "%s: lockfile '%.200s' is not an env/ file of the bento",
					       what, path);
		char d[BENTO_DIGEST_STRLEN];
		bento_digest_str(&m->files[k].digest, d);
		if (strcmp(d, digest) != 0)
			return bento_error_set(err, BENTO_E_INVALID,
					       "%s: lockfile '%.200s' digest differs from its file entry",
					       what, path);
	}
	return 0;
}

static int read_models(const json_t *arr, struct bento_manifest *m, const char *what,
		       struct bento_error *err)
{
	static const char *const keys[] = { "digest", "manifest", "name", "version", NULL };
	size_t i, n;
	json_t *e;
	int rc;

	if (!json_is_array(arr))
		return bento_error_set(err, BENTO_E_INVALID, "%s: 'models' must be an array", what);
	n = json_array_size(arr);
	m->models = bento_xcalloc(n, sizeof(*m->models));
	json_array_foreach((json_t *)arr, i, e) {
		const char *name, *version, *digest;
		struct bento_model *mod = &m->models[i];
		char sub[256], d[BENTO_DIGEST_STRLEN];

		if (!json_is_object(e))
			return bento_error_set(err, BENTO_E_INVALID,
					       "%s: models[%zu] must be an object", what, i);
		if ((rc = only_keys(e, keys, what, err)) ||
		    (rc = get_str(e, "name", 1, &name, what, err)) ||
		    (rc = get_str(e, "version", 1, &version, what, err)) ||
		    (rc = get_str(e, "digest", 1, &digest, what, err)))
			return rc;
		snprintf(sub, sizeof(sub), "%s: model '%.100s'", what, name);
		if ((rc = model_read(json_object_get(e, "manifest"), sub, mod, err)))
			return rc;
		m->n_models = i + 1;
		bento_digest_str(&mod->digest, d);
		if (strcmp(d, digest) != 0)
			return bento_error_set(err, BENTO_E_VERIFY,
					       "%s: digest mismatch: expected %s, got %s", sub,
					       digest, d);
		if (strcmp(name, mod->name) != 0 || strcmp(version, mod->version) != 0)
			return bento_error_set(err, BENTO_E_INVALID,
					       "%s: name/version differ from its manifest", sub);
		if (i > 0 && strcmp(m->models[i - 1].name, name) >= 0)
			return bento_error_set(err, BENTO_E_INVALID,
					       "%s: models not sorted by name or duplicated at '%.100s'",
					       what, name);
		if ((rc = bento_size_add(&m->size, mod->size, what, err)))
			return rc;
	}
	return 0;
}

/*
 * canon: obj's canonical bytes when the caller has them (the digest is
 * theirs), else NULL.  m->files already set (and obj without "files") when
 * the caller built them, see bento_manifest_from_parts().
 */
static int manifest_read(json_t *obj, const char *what, const struct bento_buf *canon,
			 struct bento_manifest *m, struct bento_error *err)
{
	static const char *const keys[] = {
		"created", "description", "files", "labels", "lockfiles", "mediaType", "models",
		"name", "schemaVersion", "service", "size", "version", NULL
	};
	const char *name, *version, *created, *s;
	int64_t t;
	int rc;

	if (!json_is_object(obj))
		return bento_error_set(err, BENTO_E_INVALID, "%s: not a JSON object", what);
	if ((rc = check_header(obj, BENTO_MEDIATYPE_MANIFEST, what, err)) ||
	    (rc = only_keys(obj, keys, what, err)) ||
	    (rc = get_str(obj, "name", 1, &name, what, err)) ||
	    (rc = get_str(obj, "version", 1, &version, what, err)) ||
	    (rc = bento_name_check(name, what, err)) ||
	    (rc = bento_version_check(version, what, err)) ||
	    (rc = get_str(obj, "created", 0, &created, what, err)) ||
	    (rc = get_str(obj, "description", 0, &s, what, err)) ||
	    (rc = str_map_check(obj, "labels", what, err)) ||
	    (rc = read_service(json_object_get(obj, "service"), what, err)))
		return rc;
	if (created && bento_time_parse(created, &t))
		return bento_error_set(err, BENTO_E_INVALID,
				       "%s: 'created' must be RFC 3339 UTC like 2026-01-02T03:04:05Z",
				       what);
	m->name = bento_xstrdup(name);
	m->version = bento_xstrdup(version);
	m->created = created ? bento_xstrdup(created) : NULL;
	if (!m->files) {
		/* m->json without them, as bento_manifest_parse() and a build make it */
		if ((rc = read_files(json_object_get(obj, "files"), what, 1, &m->files, &m->n_files,
				     &m->size, err)))
			return rc;
		json_object_del(obj, "files");
	}
	if ((rc = read_lockfiles(json_object_get(obj, "lockfiles"), m, what, err)) ||
	    (rc = read_models(json_object_get(obj, "models"), m, what, err)) ||
	    (rc = check_total(obj, m->size, what, err)))
		return rc;
	if (canon)
		bento_digest_bytes(canon->buf, canon->len, &m->digest);
	else if ((rc = bento_json_digest(obj, &m->digest, err)))
		return rc;
	m->json = json_incref(obj);
	return 0;
}

static int manifest_new(json_t *v, const char *what, const struct bento_buf *canon,
			struct bento_manifest **out, struct bento_error *err)
{
	struct bento_manifest *m = bento_xcalloc(1, sizeof(*m));
	int rc = manifest_read(v, what, canon, m, err);

	if (rc) {
		bento_manifest_free(m);
		return rc;
	}
	*out = m;
	return 0;
}

/*
 * The fast way through a big bento.json.  Its "files" array (20,000
 * entries in a Python environment) costs most of a generic parse: jansson
 * builds an object of four members for every file, and the canonical form
 * is checked by writing it all out again.  Here the array is read by a
 * scanner that knows only the shape bento_files_canonical() writes, the
 * rest of the object is parsed as before, and the result counts only if
 * writing both out again, the way a build does, gives data back byte for
 * byte.  Anything else (another shape, an escape the canonical form does
 * not use, a damaged or hostile manifest) takes the generic way, which
 * finds the same manifests valid and says what is wrong with the others.
 */

/* After the JSON value at p (no whitespace: canonical), or NULL. */
static const char *skip_value(const char *p, const char *end)
{
	size_t depth = 0;

	do {
		if (p >= end)
			return NULL;
		if (*p == '"') {
			for (p++; p < end && *p != '"'; p++)
				if (*p == '\\')
					p++;
			if (p >= end)
				return NULL;
			p++;
		} else if (*p == '{' || *p == '[') {
			depth++;
			p++;
		} else if (*p == '}' || *p == ']') {
			if (depth == 0)
				return NULL;
			depth--;
			p++;
		} else if (depth && (*p == ',' || *p == ':')) {
			p++;
		} else {
			const char *q = p;
			while (p < end && *p != ',' && *p != '}' && *p != ']' && *p != ':' && *p != '"')
				p++;
			if (p == q)
				return NULL;
		}
	} while (depth);
	return p;
}

/* [*a, *b): the top-level member `"files":[...]` of the object in data. */
static int find_files(const char *data, size_t len, const char **a, const char **b)
{
	const char *p = data, *end = data + len;

	if (len < 2 || *p++ != '{')
		return -1;
	while (p < end && *p == '"') {
		const char *key = p, *v = skip_value(p, end);
		if (!v || v >= end || *v != ':' || !(p = skip_value(v + 1, end)) || p >= end)
			return -1;
		if (v - key == 7 && memcmp(key, "\"files\"", 7) == 0) {
			*a = key;
			*b = p;
			return 0;
		}
		if (p < end && *p == ',')
			p++;
	}
	return -1;
}

static int scan_lit(const char **p, const char *end, const char *lit)
{
	size_t n = strlen(lit);

	if ((size_t)(end - *p) < n || memcmp(*p, lit, n) != 0)
		return -1;
	*p += n;
	return 0;
}

static int scan_uint(const char **p, const char *end, uint64_t *v)
{
	const char *q = *p;

	*v = 0;
	for (; q < end && *q >= '0' && *q <= '9'; q++) {
		if (*v > (UINT64_MAX - 9) / 10)
			return -1;
		*v = *v * 10 + (uint64_t)(*q - '0');
	}
	if (q == *p)
		return -1;
	*p = q;
	return 0;
}

/* A path string; a path can hold '"' but no backslash or control, so \" is its only escape. */
static int scan_path(const char **p, const char *end, struct bento_buf *out)
{
	const char *q = *p;

	bento_buf_reset(out);
	if (q >= end || *q++ != '"')
		return -1;
	while (q < end && *q != '"') {
		const char *run = q;
		while (run < end && *run != '"' && *run != '\\' && *run != '\0')
			run++;
		bento_buf_add(out, q, (size_t)(run - q));
		if (run < end && *run == '\\') {
			if (run + 1 >= end || run[1] != '"')
				return -1;
			bento_buf_addch(out, '"');
			run += 2;
		} else if (run < end && *run == '\0') {
			return -1;
		}
		q = run;
	}
	if (q >= end)
		return -1;
	*p = q + 1;
	return 0;
}

/* The files of a canonical files array text, or -1 for anything else. */
static int scan_files(const char *p, const char *end, struct bento_file **out, size_t *n_out)
{
	struct bento_buf path = BENTO_BUF_INIT;
	struct bento_file *v = NULL;
	size_t n = 0, alloc = 0;
	int rc = -1;

	if (scan_lit(&p, end, "[") || p >= end)
		goto out;
	while (*p != ']') {
		char d[BENTO_DIGEST_STRLEN];
		uint64_t mode;

		if (n == alloc) {
			alloc = alloc ? 2 * alloc : 64;
			v = bento_xrealloc(v, alloc * sizeof(*v));
		}
		if ((n && scan_lit(&p, end, ",")) || scan_lit(&p, end, "{\"digest\":\"") ||
		    (size_t)(end - p) < BENTO_DIGEST_STRLEN)
			goto out;
		memcpy(d, p, BENTO_DIGEST_STRLEN - 1);
		d[BENTO_DIGEST_STRLEN - 1] = '\0';
		p += BENTO_DIGEST_STRLEN - 1;
		/* any other form of digest is caught when the files are written out again */
		if (bento_digest_parse(d, &v[n].digest, NULL) ||
		    scan_lit(&p, end, "\",\"mode\":") || scan_uint(&p, end, &mode) || mode > 0777 ||
		    scan_lit(&p, end, ",\"path\":") || scan_path(&p, end, &path) ||
		    scan_lit(&p, end, ",\"size\":") || scan_uint(&p, end, &v[n].size) ||
		    scan_lit(&p, end, "}") || p >= end)
			goto out;
		v[n].mode = (unsigned)mode;
		v[n++].path = bento_xstrndup(path.buf, path.len);
	}
	if (p + 1 == end)
		rc = 0;
out:
	bento_buf_release(&path);
	if (rc) {
		files_free(v, n);
		return rc;
	}
	*out = v;
	*n_out = n;
	return 0;
}

/* The fast way: 0 and *out, or -1 (nothing set, err untouched) for the generic way. */
static int manifest_parse_fast(const char *data, size_t len, const char *what,
			       struct bento_manifest **out)
{
	struct bento_buf rest = BENTO_BUF_INIT, files_text = BENTO_BUF_INIT, canon = BENTO_BUF_INIT;
	struct bento_file *files = NULL;
	const char *a, *b;
	size_t n = 0;
	uint64_t total;
	json_t *obj = NULL;
	int rc = -1;

	if (len > BENTO_MANIFEST_MAX || find_files(data, len, &a, &b) ||
	    scan_files(a + 8, b, &files, &n))
		return -1;
	/* the rest: data without the member and the comma that joins it */
	if (*b == ',')
		b++;
	else if (a[-1] == ',')
		a--;
	bento_buf_add(&rest, data, (size_t)(a - data));
	bento_buf_add(&rest, b, (size_t)(data + len - b));
	if (bento_files_canonical(files, n, what, &files_text, &total, NULL) ||
	    bento_json_parse(rest.buf, rest.len, what, &obj, NULL))
		goto out;
	rc = bento_manifest_from_parts(obj, files, n, &files_text, total, what, &canon, out, NULL);
	files = NULL;	/* *out has them, or from_parts freed them */
	if (rc)
		rc = -1;
	else if (canon.len == len && memcmp(canon.buf, data, len) == 0)
		rc = 0;
	else {
		bento_manifest_free(*out);
		*out = NULL;
		rc = -1;
	}
out:
	if (files)
		files_free(files, n);
	json_decref(obj);
	bento_buf_release(&rest);
	bento_buf_release(&files_text);
	bento_buf_release(&canon);
	return rc;
}

int bento_manifest_parse_generic(const char *data, size_t len, const char *what,
				 struct bento_manifest **out, struct bento_error *err)
{
	/* parse_canonical() checked that data is v's canonical form */
	struct bento_buf canon = { .buf = (char *)data, .len = len };
	json_t *v;
	int rc = parse_canonical(data, len, what, &v, err);

	if (rc)
		return rc;
	rc = manifest_new(v, what, &canon, out, err);
	json_decref(v);
	return rc;
}

int bento_manifest_parse(const char *data, size_t len, const char *what,
			 struct bento_manifest **out, struct bento_error *err)
{
	if (manifest_parse_fast(data, len, what, out) == 0)
		return 0;
	return bento_manifest_parse_generic(data, len, what, out, err);
}

int bento_files_canonical(const struct bento_file *files, size_t n, const char *what,
			  struct bento_buf *out, uint64_t *total, struct bento_error *err)
{
	char d[BENTO_DIGEST_STRLEN];
	int rc = 0;

	*total = 0;
	bento_buf_addch(out, '[');
	for (size_t i = 0; i < n && rc == 0; i++) {
		const struct bento_file *f = &files[i];

		if ((rc = file_check(f->path, f->mode, i ? files[i - 1].path : NULL, 1, what, err)))
			break;
		bento_digest_str(&f->digest, d);
		/* the keys in canonical order: digest, mode, path, size */
		bento_buf_addf(out, "%s{\"digest\":\"%s\",\"mode\":%u,\"path\":", i ? "," : "", d,
			       f->mode);
		if ((rc = bento_json_put_string(out, f->path, strlen(f->path), err)) ||
		    (rc = bento_size_add(total, f->size, what, err)))
			break;
		bento_buf_addf(out, ",\"size\":%llu}", (unsigned long long)f->size);
	}
	bento_buf_addch(out, ']');
	return rc;
}

int bento_manifest_from_parts(json_t *obj, struct bento_file *files, size_t n,
			      const struct bento_buf *files_text, uint64_t files_size,
			      const char *what, struct bento_buf *canon,
			      struct bento_manifest **out, struct bento_error *err)
{
	struct bento_manifest *m = bento_xcalloc(1, sizeof(*m));
	int rc;

	m->files = files;
	m->n_files = n;
	m->size = files_size;
	if ((rc = bento_json_canonical_with(obj, "files", files_text, canon, err)) ||
	    (rc = manifest_read(obj, what, canon, m, err))) {
		bento_manifest_free(m);
		return rc;
	}
	*out = m;
	return 0;
}

void bento_manifest_free(struct bento_manifest *m)
{
	if (!m)
		return;
	free(m->name);
	free(m->version);
	free(m->created);
	json_decref(m->json);
	files_free(m->files, m->n_files);
	for (size_t i = 0; i < m->n_models; i++)
		model_release(&m->models[i]);
	free(m->models);
	free(m);
}

/* ---- entries ---- */

static int entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct bento_entry *)a)->path, ((const struct bento_entry *)b)->path);
}

void bento_manifest_entries(const struct bento_manifest *m, struct bento_entry **out, size_t *n)
{
	size_t total = m->n_files, k = 0;
	struct bento_entry *e;

	for (size_t i = 0; i < m->n_models; i++)
		total += m->models[i].n_files;
	e = bento_xcalloc(total, sizeof(*e));
	for (size_t i = 0; i < m->n_files; i++) {
		e[k].path = bento_xstrdup(m->files[i].path);
		e[k++].file = &m->files[i];
	}
	for (size_t i = 0; i < m->n_models; i++) {
		const struct bento_model *mod = &m->models[i];
		for (size_t j = 0; j < mod->n_files; j++) {
			e[k].path = bento_xasprintf("models/%s/%s", mod->name, mod->files[j].path);
			e[k++].file = &mod->files[j];
		}
	}
	qsort(e, total, sizeof(*e), entry_cmp);
	*out = e;
	*n = total;
}

void bento_entries_free(struct bento_entry *e, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(e[i].path);
	free(e);
}

const struct bento_entry *bento_entries_find(const struct bento_entry *e, size_t n,
					     const char *path)
{
	struct bento_entry key = { (char *)path, NULL };

	return bsearch(&key, e, n, sizeof(*e), entry_cmp);
}

void bento_manifest_blobs(const struct bento_manifest *m, struct bento_digest **out, size_t *n)
{
	size_t total = m->n_files, k = 0;
	struct bento_digest *d;

	for (size_t i = 0; i < m->n_models; i++)
		total += m->models[i].n_files;
	d = bento_xcalloc(total + 1, sizeof(*d));
	for (size_t i = 0; i < m->n_files; i++)
		d[k++] = m->files[i].digest;
	for (size_t i = 0; i < m->n_models; i++)
		for (size_t j = 0; j < m->models[i].n_files; j++)
			d[k++] = m->models[i].files[j].digest;
	*out = d;
	*n = total;
}

json_t *bento_file_json(const char *path, uint64_t size, unsigned mode,
			const struct bento_digest *d)
{
	char s[BENTO_DIGEST_STRLEN];

	bento_digest_str(d, s);
	return json_pack("{s:s, s:I, s:i, s:s}", "path", path, "size", (json_int_t)size,
			 "mode", (mode & 0100) ? 0755 : 0644, "digest", s);
}

int bento_version_derive(const json_t *obj, const struct bento_buf *files_text, char out[17],
			 struct bento_error *err)
{
	struct bento_digest d;
	char hex[BENTO_DIGEST_HEXLEN + 1];
	int rc = bento_json_digest_with(obj, files_text ? "files" : NULL, files_text, &d, err);

	if (rc)
		return rc;
	bento_digest_hex(&d, hex);
	memcpy(out, hex, 16);
	out[16] = '\0';
	return 0;
}

/* ---- signatures ---- */

char *bento_signature_comment(const struct bento_manifest *m)
{
	char d[BENTO_DIGEST_STRLEN];

	bento_digest_str(&m->digest, d);
	return bento_xasprintf("bento %s:%s %s", m->name, m->version, d);
}

/*
 * A name from an archive or a registry as a message shows it: at most 100
 * bytes, anything but printable ASCII as '?' (a hostile name may hold
 * terminal escapes).
 */
enum { SHOW_MAX = 100 };
static const char *show_name(const char *s, char out[SHOW_MAX + 4])
{
	size_t i;

	for (i = 0; s[i] && i < SHOW_MAX; i++)
		out[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	strcpy(out + i, s[i] ? "..." : "");
	return out;
}

int bento_signature_check(const struct bento_manifest *m, const char *file,
			  const unsigned char *keyid, const char *trusted_comment,
			  struct bento_error *err)
{
	char id[BENTO_KEYID_HEXLEN + 1], shown[SHOW_MAX + 4], *want;
	size_t n = strlen(file), k = strlen(BENTO_SIG_SUFFIX);
	int rc = 0;

	if (n <= k || strcmp(file + n - k, BENTO_SIG_SUFFIX) != 0 || !bento_keyid_valid(file, n - k))
		return bento_error_set(err, BENTO_E_VERIFY,
				       "'%s' is not a signature's name (want KEYID" BENTO_SIG_SUFFIX
				       ", KEYID 16 upper-case hex digits)", show_name(file, shown));
	if (keyid) {
		bento_keyid_hex(keyid, id);
		if (memcmp(file, id, BENTO_KEYID_HEXLEN) != 0)
			return bento_error_set(err, BENTO_E_VERIFY,
					       "file is named for key %.16s but the signature is by key %s",
					       file, id);
	}
	if (!trusted_comment)
		return 0;
	want = bento_signature_comment(m);
	if (strcmp(trusted_comment, want) != 0)
		rc = bento_error_set(err, BENTO_E_VERIFY,
				     "trusted comment '%.200s' does not name this bento (want '%s')",
				     trusted_comment, want);
	free(want);
	return rc;
}

int bento_attestation_name_check(const char *name, struct bento_error *err)
{
	static const char ok[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-";
	size_t n = strlen(name), k = strlen(BENTO_ATTESTATION_SUFFIX);
	char shown[SHOW_MAX + 4];

	if (n <= k || n > BENTO_ATTESTATION_NAME_MAX || name[0] == '.' ||
	    strcmp(name + n - k, BENTO_ATTESTATION_SUFFIX) != 0 || strspn(name, ok) != n)
		return bento_error_set(err, BENTO_E_UNSAFE,
				       "'%s' is not an attestation's name (want NAME"
				       BENTO_ATTESTATION_SUFFIX ": at most %d letters, digits, '.', '_'"
				       " and '-', not starting with '.')", show_name(name, shown),
				       BENTO_ATTESTATION_NAME_MAX);
	return 0;
}

/*
 * Civil dates by arithmetic (Howard Hinnant's days_from_civil and its
 * inverse), not gmtime/strptime: UTC needs no time-zone database, and the
 * static bento-shim stays small without libc's time and scanf code.
 */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;

	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

void bento_time_rfc3339(int64_t t, char out[32])
{
	int64_t days = (t >= 0 ? t : t - 86399) / 86400, secs = t - days * 86400, y;
	unsigned m, d;

	char buf[96];

	civil_from_days(days, &y, &m, &d);
	snprintf(buf, sizeof(buf), "%04lld-%02u-%02uT%02u:%02u:%02uZ", (long long)y, m, d,
		 (unsigned)(secs / 3600), (unsigned)(secs / 60 % 60), (unsigned)(secs % 60));
	memcpy(out, buf, 31);	/* 20 bytes for years 0 to 9999 */
	out[31] = 0;
}

/* n decimal digits at s, or -1 */
static int digits(const char *s, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

int bento_time_parse(const char *s, int64_t *out)
{
	static const unsigned char mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int y, mo, d, h, mi, se;

	/* exactly YYYY-MM-DDTHH:MM:SSZ */
	if (strlen(s) != 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
	    s[16] != ':' || s[19] != 'Z')
		return -BENTO_E_INVALID;
	y = digits(s, 4), mo = digits(s + 5, 2), d = digits(s + 8, 2);
	h = digits(s + 11, 2), mi = digits(s + 14, 2), se = digits(s + 17, 2);
	if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h < 0 || h > 23 ||
	    mi < 0 || mi > 59 || se < 0 || se > 59)
		return -BENTO_E_INVALID;
	if (mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
		return -BENTO_E_INVALID;
	*out = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + se;
	return 0;
}
