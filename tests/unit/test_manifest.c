/* Unit tests: bento.json / model.json parsing and validation. */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cjson.h"
#include "manifest.h"
#include "manifest_internal.h"
#include "sign.h"
#include "tap.h"

#define D1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define D2 "sha256:2222222222222222222222222222222222222222222222222222222222222222"

static json_t *model_obj(void)
{
	return json_pack("{s:s, s:i, s:s, s:s, s:{}, s:[{s:s, s:i, s:s, s:i}, {s:s, s:i, s:s, s:i}], s:i}",
			 "mediaType", BENTO_MEDIATYPE_MODEL, "schemaVersion", 1, "name", "iris",
			 "version", "v1", "labels", "files",
			 "digest", D1, "mode", 0644, "path", "a/weights.bin", "size", 100,
			 "digest", D2, "mode", 0755, "path", "b.txt", "size", 5, "size", 105);
}

/* Canonical bytes of v (decref'd). */
static char *canon(json_t *v, size_t *len)
{
	struct bento_buf b = BENTO_BUF_INIT;

	if (bento_json_canonical(v, &b, NULL))
		abort();
	json_decref(v);
	return bento_buf_detach(&b, len);
}

static int model_rc(json_t *v, struct bento_error *err)
{
	struct bento_model *m = NULL;
	size_t len;
	char *s = canon(v, &len);
	int rc = bento_model_parse(s, len, "model.json", &m, err);

	bento_model_free(m);
	free(s);
	return rc;
}

static json_t *bento_obj(json_t *model, const char *model_digest)
{
	return json_pack("{s:s, s:i, s:s, s:s, s:{}, s:{s:[s]}, s:[{s:s, s:i, s:s, s:i}, {s:s, s:i, s:s, s:i}],"
			 " s:[{s:s, s:s, s:s, s:s}], s:[{s:s, s:s, s:s, s:o}], s:i}",
			 "mediaType", BENTO_MEDIATYPE_MANIFEST, "schemaVersion", 1, "name", "svc",
			 "version", "1.0", "labels", "service", "entrypoint", "./run",
			 "files",
			 "digest", D1, "mode", 0644, "path", "env/requirements.txt", "size", 7,
			 "digest", D2, "mode", 0755, "path", "src/run", "size", 3,
			 "lockfiles", "digest", D1, "kind", "pip", "path", "env/requirements.txt",
			 "source", "requirements.txt",
			 "models", "digest", model_digest, "name", "iris", "version", "v1", "manifest",
			 model, "size", 115);
}

static void test_paths(void)
{
	struct bento_error err = { 0 };
	static const char *const good[] = { "a", "a/b/c.txt", "é/ü", "..a", "a..", ".hidden", NULL };
	static const char *const bad[] = { "", "/abs", "a/../b", "..", ".", "a//b", "a/", "./a",
					   "a\\b", "a\tb", "a/./b", NULL };

	for (int i = 0; good[i]; i++)
		ok(bento_path_check(good[i], "t", &err) == 0, "path '%s' accepted", good[i]);
	for (int i = 0; bad[i]; i++)
		ok(bento_path_check(bad[i], "t", &err) == -BENTO_E_UNSAFE, "path '%s' refused", bad[i]);
	ok(bento_path_check("\xff\xfe", "t", &err) == -BENTO_E_UNSAFE, "invalid UTF-8 refused");
	ok(bento_path_check("a\xc2\x9b[2Jb", "t", &err) == -BENTO_E_UNSAFE, "C1 control (CSI) refused");
	char long_comp[300];
	memset(long_comp, 'a', 299);
	long_comp[299] = 0;
	ok(bento_path_check(long_comp, "t", &err) == -BENTO_E_UNSAFE, "component over 255 refused");

	ok(bento_name_check("iris-c.v2_x", "t", &err) == 0, "name accepted");
	ok(bento_name_check("Iris", "t", &err) == -BENTO_E_INVALID, "uppercase name refused");
	ok(bento_name_check("-x", "t", &err) != 0, "name starting with - refused");
	ok(bento_name_check("a:b", "t", &err) != 0, "name with : refused");
	ok(bento_version_check("V1.2-rc_3", "t", &err) == 0, "version accepted");
	ok(bento_version_check(".x", "t", &err) != 0, "version starting with . refused");
	ok(bento_version_check("a/b", "t", &err) != 0, "version with / refused");
}

static void test_model(void)
{
	struct bento_error err = { 0 };
	struct bento_model *m = NULL;
	json_t *v;
	size_t len;
	char *s;

	s = canon(model_obj(), &len);
	ok(bento_model_parse(s, len, "model.json", &m, &err) == 0, "valid model parses");
	if (m) {
		is_str(m->name, "iris", "name");
		is_int(m->n_files, 2, "two files");
		is_int(m->size, 105, "size adds up");
		is_int(m->files[1].mode, 0755, "exec mode kept");
		struct bento_digest d;
		bento_digest_bytes(s, len, &d);
		ok(bento_digest_eq(&d, &m->digest), "digest is sha256 of the canonical bytes");
	}
	bento_model_free(m);
	m = NULL;
	s[len - 1] = ' ';
	ok(bento_model_parse(s, len, "model.json", &m, &err) != 0, "damaged bytes refused");
	free(s);

	s = bento_xstrdup("{\"a\": 1}");
	ok(bento_model_parse(s, strlen(s), "model.json", &m, &err) == -BENTO_E_INVALID,
	   "non-canonical refused");
	ok(strstr(err.msg, "canonical") != NULL, "message says canonical");
	free(s);

	v = model_obj();
	json_object_set_new(v, "weights", json_string("x"));
	ok(model_rc(v, &err) == -BENTO_E_INVALID && strstr(err.msg, "unknown key 'weights'"),
	   "unknown key refused by name");

	v = model_obj();
	json_object_set_new(v, "size", json_integer(999));
	ok(model_rc(v, &err) == -BENTO_E_INVALID && strstr(err.msg, "add up"), "wrong total refused");

	v = model_obj();
	json_array_insert_new(json_object_get(v, "files"), 2,
			      json_pack("{s:s, s:i, s:s, s:i}", "digest", D1, "mode", 0644,
					"path", "a/weights.bin", "size", 0));
	ok(model_rc(v, &err) == -BENTO_E_INVALID && strstr(err.msg, "sorted"), "unsorted/duplicate files refused");

	v = model_obj();
	json_object_set_new(json_array_get(json_object_get(v, "files"), 0), "path", json_string("../x"));
	ok(model_rc(v, &err) == -BENTO_E_UNSAFE, "../ path refused");

	v = model_obj();
	json_object_set_new(json_array_get(json_object_get(v, "files"), 0), "mode", json_integer(0600));
	ok(model_rc(v, &err) == -BENTO_E_INVALID && strstr(err.msg, "mode"), "mode 0600 refused");

	v = model_obj();
	json_object_set_new(json_array_get(json_object_get(v, "files"), 0), "digest", json_string("sha256:12"));
	ok(model_rc(v, &err) == -BENTO_E_INVALID, "bad digest refused");

	v = model_obj();
	json_object_set_new(json_array_get(json_object_get(v, "files"), 0), "digest",
			    json_string("sha256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
	ok(model_rc(v, &err) == -BENTO_E_INVALID && strstr(err.msg, "lowercase"), "uppercase digest refused");

	v = model_obj();
	json_object_set_new(v, "schemaVersion", json_integer(2));
	ok(model_rc(v, &err) == -BENTO_E_INVALID && strstr(err.msg, "schemaVersion"), "future schema refused");
}

static void test_bento(void)
{
	struct bento_error err = { 0 };
	struct bento_manifest *m = NULL;
	struct bento_model *mm = NULL;
	struct bento_entry *e = NULL;
	char dstr[BENTO_DIGEST_STRLEN];
	size_t len, n = 0;
	char *s, *ms;

	ms = canon(model_obj(), &len);
	bento_model_parse(ms, len, "m", &mm, &err);
	bento_digest_str(&mm->digest, dstr);
	bento_model_free(mm);
	free(ms);

	s = canon(bento_obj(model_obj(), dstr), &len);
	ok(bento_manifest_parse(s, len, "bento.json", &m, &err) == 0, "valid bento parses");
	if (!m) {
		printf("# %s\n", err.msg);
		free(s);
		return;
	}
	is_int(m->size, 115, "size includes models");
	is_int(m->n_models, 1, "one model");
	bento_manifest_entries(m, &e, &n);
	is_int(n, 4, "four entries");
	is_str(e[0].path, "env/requirements.txt", "entries sorted: env first");
	is_str(e[1].path, "models/iris/a/weights.bin", "then models/<name>/");
	is_str(e[3].path, "src/run", "then src/");
	ok(bento_entries_find(e, n, "models/iris/b.txt") != NULL, "find locates an entry");
	ok(bento_entries_find(e, n, "models/iris/c.txt") == NULL, "find misses absent paths");
	bento_entries_free(e, n);
	bento_manifest_free(m);
	m = NULL;
	free(s);

	s = canon(bento_obj(model_obj(), D1), &len);
	ok(bento_manifest_parse(s, len, "bento.json", &m, &err) == -BENTO_E_VERIFY &&
	   strstr(err.msg, "digest mismatch"), "model digest mismatch refused");
	free(s);

	json_t *v = bento_obj(model_obj(), dstr);
	json_object_set_new(json_array_get(json_object_get(v, "files"), 1), "path", json_string("bin/run"));
	s = canon(v, &len);
	ok(bento_manifest_parse(s, len, "bento.json", &m, &err) == -BENTO_E_INVALID &&
	   strstr(err.msg, "outside src/"), "file outside src/ and env/ refused");
	free(s);

	v = bento_obj(model_obj(), dstr);
	json_object_set_new(v, "created", json_string("2026-13-01T00:00:00Z"));
	s = canon(v, &len);
	ok(bento_manifest_parse(s, len, "bento.json", &m, &err) == -BENTO_E_INVALID, "bad created refused");
	free(s);

	/* an env name with '=' would set another variable (PATH=... ) in the service */
	v = bento_obj(model_obj(), dstr);
	json_object_set_new(json_object_get(v, "service"), "envs", json_pack("{s:s}", "PATH=/evil", "x"));
	s = canon(v, &len);
	ok(bento_manifest_parse(s, len, "bento.json", &m, &err) == -BENTO_E_INVALID &&
	   strstr(err.msg, "service.envs.PATH=/evil: not a variable name"), "an env name with '=' refused: %s",
	   err.msg);
	free(s);
}

static void test_time_and_version(void)
{
	char t[32], v[17];
	int64_t x;
	struct bento_error err = { 0 };
	json_t *o = json_pack("{s:s}", "a", "b");

	bento_time_rfc3339(1700000000, t);
	is_str(t, "2023-11-14T22:13:20Z", "rfc3339 formatting");
	ok(bento_time_parse(t, &x) == 0 && x == 1700000000, "rfc3339 round trip");
	ok(bento_time_parse("2023-11-14 22:13:20", &x) != 0, "other formats refused");
	ok(bento_version_derive(o, NULL, v, &err) == 0 && strlen(v) == 16, "derived version is 16 hex");
	char v2[17];
	bento_version_derive(o, NULL, v2, &err);
	is_str(v, v2, "derived version is deterministic");
	json_decref(o);
}

/*
 * bento_signature_check: the one naming rule of verify, import, pull and
 * bento-shim.  Key id 0x1A2B3C4D5E6F7081, stored little-endian.
 */
static void test_signature_rule(void)
{
	static const unsigned char keyid[BENTO_KEYID_LEN] = {
		0x81, 0x70, 0x6f, 0x5e, 0x4d, 0x3c, 0x2b, 0x1a
	};
	static const unsigned char other[BENTO_KEYID_LEN] = { 1, 0, 0, 0, 0, 0, 0, 0 };
	static const struct {
		const char *file;
		int ok;
	} names[] = {
		{ "1A2B3C4D5E6F7081.minisig", 1 },
		{ "1a2b3c4d5e6f7081.minisig", 0 },	/* minisign prints ids upper-case */
		{ "1A2B3C4D5E6f7081.minisig", 0 },
		{ "1A2B3C4D5E6F7081.MINISIG", 0 },
		{ "1A2B3C4D5E6F7081", 0 },
		{ "1A2B3C4D5E6F7081.minisig.bak", 0 },
		{ "1A2B3C4D5E6F708.minisig", 0 },	/* not zero-padded to 16 */
		{ "01A2B3C4D5E6F7081.minisig", 0 },
		{ "+1A2B3C4D5E6F708.minisig", 0 },
		{ " 1A2B3C4D5E6F708.minisig", 0 },
		{ ".minisig", 0 },
		{ "", 0 },
	};
	struct bento_manifest m = { .name = "iris", .version = "1.2" };
	struct bento_error err = { 0 };
	char d[BENTO_DIGEST_STRLEN], *c;

	bento_digest_bytes("x", 1, &m.digest);
	bento_digest_str(&m.digest, d);
	for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++) {
		int rc = bento_signature_check(NULL, names[i].file, NULL, NULL, &err);
		ok(names[i].ok ? rc == 0 : rc == -BENTO_E_VERIFY && strstr(err.msg, "16 upper-case hex"),
		   "signature file name '%s': %s", names[i].file, names[i].ok ? "right" : "refused");
		is_int(bento_signature_check(NULL, names[i].file, keyid, NULL, NULL),
		       names[i].ok ? 0 : -BENTO_E_VERIFY, "... and so with the key id given");
	}
	ok(bento_signature_check(NULL, "0000000000000001.minisig", other, NULL, NULL) == 0,
	   "the id is zero-padded little-endian, as minisign's");
	ok(bento_signature_check(NULL, "1A2B3C4D5E6F7081.minisig", other, NULL, &err) ==
	   -BENTO_E_VERIFY && strstr(err.msg, "named for key 1A2B3C4D5E6F7081 but the signature "
				     "is by key 0000000000000001"),
	   "a name for another key: both ids named");

	c = bento_signature_comment(&m);
	ok(strncmp(c, "bento iris:1.2 sha256:", 22) == 0 && strcmp(c + 15, d) == 0,
	   "the comment bento sign writes: bento NAME:VERSION DIGEST");
	ok(bento_signature_check(&m, "1A2B3C4D5E6F7081.minisig", keyid, c, &err) == 0,
	   "that comment names the bento");
	free(c);
	const char *bad[] = {
		"", "iris:1.2", d, "bento iris:1.2", "bento iris:1.3 ", "release iris:1.2 ",
		"bento iris:1.20 ", "bento Iris:1.2 ", "bento  iris:1.2 ", "bento iris:1.2  ",
		"bento iris:1.2\t", " bento iris:1.2 ",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		char tc[200];
		size_t n = strlen(bad[i]);
		/* the digest goes after a trailing space or tab, or nowhere */
		snprintf(tc, sizeof(tc), "%s%s", bad[i],
			 n && (bad[i][n - 1] == ' ' || bad[i][n - 1] == '\t') ? d : "");
		ok(bento_signature_check(&m, "1A2B3C4D5E6F7081.minisig", keyid, tc, &err) ==
		   -BENTO_E_VERIFY && strstr(err.msg, "does not name this bento (want 'bento iris:1.2 "),
		   "trusted comment '%s' refused", tc);
	}
	char tc[200];
	snprintf(tc, sizeof(tc), "bento iris:1.2 %s extra", d);
	ok(bento_signature_check(&m, "1A2B3C4D5E6F7081.minisig", keyid, tc, NULL) == -BENTO_E_VERIFY,
	   "nothing may follow the digest");
	snprintf(tc, sizeof(tc), "bento iris:1.2 %.70s", d);
	ok(bento_signature_check(&m, "1A2B3C4D5E6F7081.minisig", keyid, tc, NULL) == -BENTO_E_VERIFY,
	   "a digest cut short");
	ok(bento_signature_check(&m, "1a2b3c4d5e6f7081.minisig", keyid, tc, &err) == -BENTO_E_VERIFY &&
	   strstr(err.msg, "upper-case"), "the name is checked first");
}

/* bento_attestation_name_check: the one naming rule of attestations. */
static void test_attestation_rule(void)
{
	static const struct {
		const char *name;
		int ok;
	} names[] = {
		{ "provenance.dsse.json", 1 },
		{ "A-b_c.1.dsse.json", 1 },
		{ "x.dsse.json", 1 },
		{ ".dsse.json", 0 },
		{ ".hidden.dsse.json", 0 },
		{ "evil name.dsse.json", 0 },
		{ "../../x.dsse.json", 0 },
		{ "a/b.dsse.json", 0 },
		{ "p.json", 0 },
		{ "p.dsse.json.bak", 0 },
		{ "p.DSSE.JSON", 0 },
		{ "caf\xc3\xa9.dsse.json", 0 },
		{ "", 0 },
	};
	struct bento_error err = { 0 };
	char longest[200];

	for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++) {
		int rc = bento_attestation_name_check(names[i].name, &err);
		ok(names[i].ok ? rc == 0 : rc == -BENTO_E_UNSAFE && strstr(err.msg, "not an attestation's name"),
		   "attestation name '%s': %s", names[i].name, names[i].ok ? "right" : "refused");
	}
	memset(longest, 'a', 118);
	strcpy(longest + 118, ".dsse.json");
	is_int(bento_attestation_name_check(longest, NULL), 0, "128 bytes");
	memset(longest, 'a', 119);
	strcpy(longest + 119, ".dsse.json");
	ok(bento_attestation_name_check(longest, &err) == -BENTO_E_UNSAFE && strstr(err.msg, "...'"),
	   "129 refused, shown cut short: %s", err.msg);
	ok(bento_attestation_name_check("a\033]0;x\007.dsse.json", &err) == -BENTO_E_UNSAFE &&
	   !strchr(err.msg, '\033') && !strchr(err.msg, '\007'), "control characters not shown");
	ok(bento_keyid_valid("0123456789ABCDEF", 16) && !bento_keyid_valid("0123456789abcdef", 16) &&
	   !bento_keyid_valid("0123456789ABCDE", 15) && !bento_keyid_valid("0123456789ABCDEF0", 17),
	   "bento_keyid_valid: 16 upper-case hex digits");
}

/* bento_size_add: sums of sizes stop at BENTO_SIZE_MAX instead of wrapping. */
static void test_size_add(void)
{
	struct bento_error err = { 0 };
	uint64_t sum = 11378;

	is_int(bento_size_add(&sum, BENTO_SIZE_MAX - 11378, "x", &err), 0, "up to 2^63-1");
	ok(sum == BENTO_SIZE_MAX, "is the sum");
	ok(bento_size_add(&sum, 1, "files", &err) == -BENTO_E_INVALID &&
	   strstr(err.msg, "files: sizes add up to more than 9223372036854775807 bytes"),
	   "one more is refused: %s", err.msg);
	ok(sum == BENTO_SIZE_MAX, "and leaves the sum as it was");
	sum = 1;
	ok(bento_size_add(&sum, UINT64_MAX, "x", NULL) == -BENTO_E_INVALID && sum == 1,
	   "a sum that would wrap past 2^64 is refused");
	is_int(bento_size_add(&sum, 0, "x", NULL), 0, "adding nothing");
}

/*
 * bento_manifest_from_parts (the build's way, files as text) gives exactly
 * the bytes, digest and checks of bento_manifest_parse over the same object.
 */
/* bento_obj() with its model's real digest and a path that needs an escape. */
static json_t *quoted_bento(void)
{
	struct bento_model *mm = NULL;
	char dstr[BENTO_DIGEST_STRLEN];
	size_t len;
	char *ms = canon(model_obj(), &len);
	json_t *obj;

	if (bento_model_parse(ms, len, "m", &mm, NULL))
		abort();
	bento_digest_str(&mm->digest, dstr);
	bento_model_free(mm);
	free(ms);
	obj = bento_obj(model_obj(), dstr);
	json_object_set_new(json_array_get(json_object_get(obj, "files"), 1), "path",
			    json_string("src/r\u00e9n \"q\""));
	return obj;
}

static void test_from_parts(void)
{
	struct bento_error err = { 0 };
	struct bento_manifest *m = NULL, *p = NULL;
	struct bento_buf text = BENTO_BUF_INIT, cb = BENTO_BUF_INIT;
	char v1[17], v2[17];
	struct bento_file *files;
	uint64_t total = 0;
	size_t len;
	char *s;
	json_t *obj;

	obj = quoted_bento();
	s = canon(json_incref(obj), &len);
	ok(bento_manifest_parse(s, len, "bento.json", &m, &err) == 0, "parts: the reference parses: %s",
	   err.msg);
	files = bento_xcalloc(2, sizeof(*files));
	for (size_t i = 0; i < 2 && m; i++)
		files[i] = (struct bento_file){ bento_xstrdup(m->files[i].path), m->files[i].size,
						m->files[i].mode, m->files[i].digest };
	ok(bento_files_canonical(files, 2, "b", &text, &total, &err) == 0 && total == 10,
	   "parts: files as canonical text, their sizes summed");
	json_object_del(obj, "files");
	json_object_del(obj, "version");
	ok(bento_version_derive(obj, &text, v1, &err) == 0, "parts: a version derived with the files");
	json_object_set_new(obj, "files", json_loadb(text.buf, text.len, 0, NULL));
	bento_version_derive(obj, NULL, v2, &err);
	is_str(v1, v2, "parts: the same version as from the whole object");
	json_object_del(obj, "files");
	json_object_set_new(obj, "version", json_string("1.0"));
	ok(bento_manifest_from_parts(obj, files, 2, &text, total, "bento.json", &cb, &p, &err) == 0,
	   "parts: validated: %s", err.msg);
	ok(p && cb.len == len && memcmp(cb.buf, s, len) == 0, "parts: byte for byte the canonical bento.json");
	ok(p && m && bento_digest_eq(&p->digest, &m->digest) && p->n_files == 2 && p->size == m->size &&
	   p->n_models == m->n_models, "parts: the same digest, files, size and models");
	bento_manifest_free(p);
	p = NULL;

	/* the checks of the parser: unsorted files, a bad mode, a path outside src/ and env/ */
	struct bento_file bad[2] = { { "src/b", 1, 0644, { { 0 } } }, { "src/a", 1, 0644, { { 0 } } } };
	bento_buf_reset(&text);
	ok(bento_files_canonical(bad, 2, "b", &text, &total, &err) == -BENTO_E_INVALID &&
	   strstr(err.msg, "not sorted"), "parts: unsorted files refused: %s", err.msg);
	bad[1] = (struct bento_file){ "src/c", 1, 0600, { { 0 } } };
	ok(bento_files_canonical(bad, 2, "b", &text, &total, &err) == -BENTO_E_INVALID &&
	   strstr(err.msg, "mode must be"), "parts: a bad mode refused");
	bad[1] = (struct bento_file){ "tmp/c", 1, 0644, { { 0 } } };
	ok(bento_files_canonical(bad, 2, "b", &text, &total, &err) == -BENTO_E_INVALID &&
	   strstr(err.msg, "outside src/"), "parts: a path outside src/ and env/ refused");
	/* a size in obj that is not what the files and models add up to */
	files = bento_xcalloc(1, sizeof(*files));
	files[0] = (struct bento_file){ bento_xstrdup("src/run"), 3, 0755, { { 0 } } };
	bento_buf_reset(&text);
	bento_files_canonical(files, 1, "b", &text, &total, &err);
	json_object_set_new(obj, "lockfiles", json_array());
	bento_buf_reset(&cb);
	ok(bento_manifest_from_parts(obj, files, 1, &text, total, "bento.json", &cb, &p, &err) ==
	   -BENTO_E_INVALID && strstr(err.msg, "'size' is 115"), "parts: a wrong size refused: %s",
	   err.msg);
	bento_manifest_free(m);
	bento_buf_release(&text);
	bento_buf_release(&cb);
	json_decref(obj);
	free(s);
}

/* bento_manifest_parse() and the generic way: the same verdict, message and manifest. */
static int agree(const char *s, size_t len, int *rc_out)
{
	struct bento_error e1 = { 0 }, e2 = { 0 };
	struct bento_manifest *a = NULL, *b = NULL;
	int r1 = bento_manifest_parse(s, len, "bento.json", &a, &e1);
	int r2 = bento_manifest_parse_generic(s, len, "bento.json", &b, &e2);
	int same = r1 == r2 && strcmp(e1.msg, e2.msg) == 0;

	if (same && r1 == 0) {
		same = bento_digest_eq(&a->digest, &b->digest) && a->n_files == b->n_files &&
		       a->size == b->size && json_equal(a->json, b->json);
		for (size_t i = 0; same && i < a->n_files; i++)
			same = strcmp(a->files[i].path, b->files[i].path) == 0 &&
			       a->files[i].size == b->files[i].size &&
			       a->files[i].mode == b->files[i].mode &&
			       bento_digest_eq(&a->files[i].digest, &b->files[i].digest);
	}
	if (!same)
		printf("# parse: %d '%s', generic: %d '%s'\n", r1, e1.msg, r2, e2.msg);
	bento_manifest_free(a);
	bento_manifest_free(b);
	*rc_out = r1;
	return same;
}

/* s with the first from replaced by to (from must occur). */
static char *mutate(const char *s, const char *from, const char *to, size_t *len)
{
	const char *at = strstr(s, from);
	struct bento_buf b = BENTO_BUF_INIT;

	if (!at)
		abort();
	bento_buf_add(&b, s, (size_t)(at - s));
	bento_buf_adds(&b, to);
	bento_buf_adds(&b, at + strlen(from));
	return bento_buf_detach(&b, len);
}

static void test_fast_parse(void)
{
	static const struct { const char *from, *to, *why; int valid; } cases[] = {
		{ "\"labels\"", "\"labels\"", "the reference", 1 },
		{ "{\"files\"", "{\"description\":\"x\",\"files\"", "files after another key", 1 },
		{ "\"mode\":420", "\"mode\":0420", "a leading zero in a mode", 0 },
		{ "\"size\":7}", "\"size\":07}", "a leading zero in a size", 0 },
		{ "\"size\":7}", "\"size\":7.0}", "a size as a real", 0 },
		{ "\"size\":7}", "\"size\":99999999999999999999}", "a size past 64 bits", 0 },
		{ "\"size\":7}", "\"size\":7,\"x\":1}", "an unknown key in a file", 0 },
		{ "sha256:1111", "sha256:A111", "upper-case hex in a digest", 0 },
		{ "sha256:1111", "sha256:z111", "a digest that is not hex", 0 },
		{ "\\\"q\\\"", "\\u0022q\\\"", "a quote as \\u0022", 0 },
		{ "r\u00e9n", "r\\u00e9n", "non-ASCII as an escape", 0 },
		{ "src/r", "src\\/r", "an escaped slash", 0 },
		{ "\"mode\":420,", "\"mode\": 420,", "whitespace", 0 },
		{ "\"files\":[", "\"files\":[],\"filez\":[", "an unknown top-level key", 0 },
		{ "\"labels\"", "\"files\":[],\"labels\"", "files twice", 0 },
		{ "env/requirements.txt\",\"size\"", "src/run\",\"size\"", "a path twice", 0 },
		{ "\"files\":[{", "\"files\":[ {", "whitespace in the array", 0 },
		{ "\"files\":[", "\"files\":{", "files not an array", 0 },
		{ "\"mode\":493", "\"mode\":511", "mode 0777", 0 },
	};
	size_t len, mlen;
	char *s;
	json_t *obj;
	int rc;

	obj = quoted_bento();
	s = canon(obj, &len);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *m = mutate(s, cases[i].from, cases[i].to, &mlen);
		ok(agree(m, mlen, &rc) && (rc == 0) == cases[i].valid, "fast parse: %s: %s",
		   cases[i].why, cases[i].valid ? "valid" : "refused as the generic way refuses it");
		free(m);
	}
	/* every truncation of it: refused alike, and nothing read past the end */
	int all = 1;
	for (size_t n = 0; n < len && all; n++) {
		char *t = bento_xstrndup(s, n);
		all = agree(t, n, &rc) && rc != 0;
		free(t);
	}
	ok(all, "fast parse: every truncation refused alike");
	free(s);
}

int main(void)
{
	test_paths();
	test_model();
	test_bento();
	test_time_and_version();
	test_from_parts();
	test_fast_parse();
	test_signature_rule();
	test_attestation_rule();
	test_size_add();
	return tap_done();
}
