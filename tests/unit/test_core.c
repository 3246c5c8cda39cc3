/* Unit tests: buf, error, digest, canonical JSON. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "cjson.h"
#include "digest.h"
#include "error.h"
#include "fs.h"
#include "tap.h"

static void test_buf(void)
{
	struct bento_buf b = BENTO_BUF_INIT;
	char *p;
	size_t len;

	ok(b.buf[0] == '\0' && b.len == 0, "empty buffer is a valid empty string");
	bento_buf_adds(&b, "abc");
	bento_buf_addch(&b, 'd');
	bento_buf_addf(&b, "%d-%s", 42, "x");
	is_str(b.buf, "abcd42-x", "add/adds/addch/addf append");
	for (int i = 0; i < 1000; i++)
		bento_buf_adds(&b, "0123456789");
	is_int(b.len, 8 + 10000, "grows past many reallocations");
	ok(b.buf[b.len] == '\0', "always NUL-terminated");
	bento_buf_setlen(&b, 3);
	is_str(b.buf, "abc", "setlen truncates");
	p = bento_buf_detach(&b, &len);
	is_str(p, "abc", "detach hands over the bytes");
	is_int(len, 3, "detach reports the length");
	ok(b.len == 0 && b.buf[0] == '\0', "detach leaves the buffer empty");
	free(p);
	p = bento_buf_detach(&b, NULL);
	ok(p && p[0] == '\0', "detach of an empty buffer gives an owned empty string");
	free(p);
	bento_buf_release(&b);

	ok(bento_utf8_valid("h\xc3\xa9 \xe2\x82\xac \xf0\x9f\x8d\xb1", 13), "UTF-8: 2, 3 and 4 byte forms");
	ok(!bento_utf8_valid("\xc3", 1), "UTF-8: truncated sequence refused");
	ok(!bento_utf8_valid("\xc0\xaf", 2), "UTF-8: overlong refused");
	ok(!bento_utf8_valid("\xed\xa0\x80", 3), "UTF-8: surrogate refused");
	ok(!bento_utf8_valid("\xf4\x90\x80\x80", 4), "UTF-8: above U+10FFFF refused");
	ok(bento_utf8_valid("a\0b", 3), "UTF-8: NUL is a valid code point (callers refuse it where needed)");

	int fds[2];
	char got[8] = { 0 };
	ok(pipe(fds) == 0 && bento_write_all(fds[1], "abcdef", 6) == 0 && read(fds[0], got, 6) == 6 &&
	   strcmp(got, "abcdef") == 0, "write_all writes everything");
	close(fds[0]);
	signal(SIGPIPE, SIG_IGN);
	ok(bento_write_all(fds[1], "x", 1) == -EPIPE, "write_all reports -errno");
	close(fds[1]);
}

static void test_error(void)
{
	struct bento_error err = { 0 };
	int rc;

	rc = bento_error_set(&err, BENTO_E_VERIFY, "x: digest mismatch");
	is_int(rc, -BENTO_E_VERIFY, "error_set returns -code");
	is_int(err.code, -BENTO_E_VERIFY, "error_set records the code");
	bento_error_prefix(&err, "file.bento");
	is_str(err.msg, "file.bento: x: digest mismatch", "prefix prepends context");
	rc = bento_error_errno(&err, ENOENT, "/nope");
	is_int(rc, -ENOENT, "errno error returns -errno");
	is_str(err.msg, "/nope: No such file or directory", "errno message has strerror");
	is_int(bento_exit_code(0), 0, "exit 0 for success");
	is_int(bento_exit_code(-BENTO_E_USAGE), 2, "usage -> 2");
	is_int(bento_exit_code(-BENTO_E_VERIFY), 3, "verify -> 3");
	is_int(bento_exit_code(-BENTO_E_UNSAFE), 3, "unsafe -> 3");
	is_int(bento_exit_code(-BENTO_E_NOTFOUND), 4, "not found -> 4");
	is_int(bento_exit_code(-ENOENT), 4, "ENOENT -> 4");
	is_int(bento_exit_code(-BENTO_E_NETWORK), 5, "network -> 5");
	is_int(bento_exit_code(-EACCES), 1, "other errno -> 1");
	ok(bento_error_set(NULL, BENTO_E_FAIL, "ignored") == -BENTO_E_FAIL, "NULL err is allowed");
}

static void test_digest(void)
{
	struct bento_digest d, e;
	struct bento_hasher *h;
	char s[BENTO_DIGEST_STRLEN];
	struct bento_error err = { 0 };
	char path[] = "/tmp/bento-test-digest.XXXXXX";
	uint64_t size = 0;
	int fd;

	bento_digest_bytes("abc", 3, &d);
	bento_digest_str(&d, s);
	is_str(s, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
	       "sha256(abc) matches FIPS 180-2");
	bento_digest_bytes("", 0, &d);
	bento_digest_str(&d, s);
	is_str(s, "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	       "sha256('') matches");
	h = bento_hasher_new();
	bento_hasher_update(h, "a", 1);
	bento_hasher_update(h, "bc", 2);
	bento_hasher_final(h, &e);
	bento_digest_bytes("abc", 3, &d);
	ok(bento_digest_eq(&d, &e), "streaming equals one-shot");
	bento_hasher_update(h, "abc", 3);
	bento_hasher_final(h, &e);
	ok(bento_digest_eq(&d, &e), "hasher resets after final");
	bento_hasher_free(h);
	bento_hasher_free(NULL);

	bento_digest_str(&d, s);
	ok(bento_digest_parse(s, &e, &err) == 0 && bento_digest_eq(&d, &e), "parse round-trips");
	ok(bento_digest_valid(s), "valid accepts canonical form");
	s[10] = 'X';
	ok(bento_digest_parse(s, &e, &err) == -BENTO_E_INVALID, "parse refuses bad hex");
	ok(!bento_digest_valid(s), "valid refuses bad hex");
	ok(bento_digest_parse("sha512:abcd", &e, &err) == -BENTO_E_INVALID, "parse refuses other algorithms");
	ok(strstr(err.msg, "sha512:abcd") != NULL, "message names the bad string");
	ok(!bento_digest_valid("sha256:abc"), "valid refuses short digests");

	fd = mkstemp(path);
	if (write(fd, "abc", 3) != 3)
		abort();
	close(fd);
	ok(bento_digest_path(path, &e, &size, &err) == 0, "digest_path works");
	ok(bento_digest_eq(&d, &e) && size == 3, "digest_path gives digest and size");
	unlink(path);
	ok(bento_digest_path(path, &e, &size, &err) == -ENOENT, "missing file is -ENOENT");
	ok(strstr(err.msg, path) != NULL, "message names the file");
}

static void canon_is(const char *in, const char *want, const char *name)
{
	struct bento_buf b = BENTO_BUF_INIT;
	json_t *v = NULL;
	int rc = bento_json_parse(in, strlen(in), "t", &v, NULL);

	if (rc == 0)
		rc = bento_json_canonical(v, &b, NULL);
	if (want)
		is_str(rc == 0 ? b.buf : NULL, want, "%s", name);
	else
		ok(rc != 0, "%s", name);
	json_decref(v);
	bento_buf_release(&b);
}

static void test_cjson(void)
{
	struct bento_error err = { 0 };
	json_t *v = NULL;

	canon_is("{\"b\": 1, \"a\": [true, false, null], \"c\": {\"z\": \"x\", \"y\": -5}}",
		 "{\"a\":[true,false,null],\"b\":1,\"c\":{\"y\":-5,\"z\":\"x\"}}",
		 "keys sorted, no whitespace");
	canon_is("{\"\\u00e9\": 1, \"z\": 2, \"Z\": 3}", "{\"Z\":3,\"z\":2,\"\xc3\xa9\":1}",
		 "keys sorted bytewise, UTF-8 kept as is");
	canon_is("[\"a\\\"b\\\\c\\n\\t\\u0001/\"]", "[\"a\\\"b\\\\c\\n\\t\\u0001/\"]",
		 "minimal escaping");
	canon_is("[1.5]", NULL, "reals refused");
	canon_is("[9007199254740993]", "[9007199254740993]", "large integers exact");
	ok(bento_json_parse("{\"a\":1,\"a\":2}", 13, "dup.json", &v, &err) == -BENTO_E_INVALID,
	   "duplicate keys refused");
	ok(strstr(err.msg, "dup.json:1:") != NULL, "parse error names file:line:col");
	ok(bento_json_parse("{} x", 4, "t", &v, &err) != 0, "trailing data refused");
	ok(bento_json_is_canonical("{\"a\":1}", 7), "is_canonical accepts canonical");
	ok(!bento_json_is_canonical("{\"a\": 1}", 8), "is_canonical refuses whitespace");
	ok(!bento_json_is_canonical("{\"a\":1}\n", 8), "is_canonical refuses a trailing newline");
}

static void test_dir_list(void)
{
	char tmpl[] = "/tmp/bento-dirlist.XXXXXX", *dir = mkdtemp(tmpl), **v;
	const char *files[] = { "b.pub", "a.pub", ".pub", "c.txt", "A.pub" };
	size_t n;

	for (size_t i = 0; i < sizeof(files) / sizeof(*files); i++) {
		char *p = bento_xasprintf("%s/%s", dir, files[i]);
		close(open(p, O_CREAT | O_WRONLY, 0644));
		free(p);
	}
	is_int(bento_dir_list(dir, ".pub", 0, &v, &n), 0, "dir_list: ok");
	ok(n == 3 && !strcmp(v[0], "A.pub") && !strcmp(v[1], "a.pub") && !strcmp(v[2], "b.pub"),
	   "dir_list: the names with the suffix (not the suffix alone), bytewise order");
	bento_strv_free(v, n);
	is_int(bento_dir_list(dir, ".pub", 1, &v, &n), 0, "dir_list full: ok");
	{
		char *want = bento_xasprintf("%s/A.pub", dir);
		ok(n == 3 && !strcmp(v[0], want), "dir_list full: DIR/NAME");
		free(want);
	}
	bento_strv_free(v, n);
	is_int(bento_dir_list(dir, ".none", 0, &v, &n), 0, "dir_list: nothing matches: 0");
	ok(n == 0 && v == NULL, "dir_list: an empty list");
	for (size_t i = 0; i < sizeof(files) / sizeof(*files); i++) {
		char *p = bento_xasprintf("%s/%s", dir, files[i]);
		unlink(p);
		free(p);
	}
	rmdir(dir);
	is_int(bento_dir_list(dir, ".pub", 0, &v, &n), -ENOENT, "dir_list: a missing dir: -ENOENT");
}

int main(void)
{
	test_buf();
	test_dir_list();
	test_error();
	test_digest();
	test_cjson();
	return tap_done();
}
