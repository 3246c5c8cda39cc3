/*
 * test_regconf: containers-registries.conf(5) as bento reads it (the TOML
 * subset, [[registry]] and [[registry.mirror]], drop-ins replacing by
 * prefix, version 1 refused) and the references a pull tries in turn.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "error.h"
#include "regconf.h"
#include "target.h"

#include "tap.h"

static int parse(const char *text, struct bento_regconf *c, struct bento_error *err)
{
	memset(c, 0, sizeof(*c));
	bento_error_clear(err);
	return bento_regconf_parse(text, strlen(text), "r.conf", c, err);
}

/* The candidates for ref under text, as "A | B | C" (or "error: MSG"). */
static char *cands(const char *text, const char *ref)
{
	struct bento_regconf c;
	struct bento_error err;
	struct bento_target_ref r, *v = NULL;
	struct bento_target_opts o = { 0 }, *opts = NULL;
	struct bento_buf b = BENTO_BUF_INIT;
	size_t n = 0;

	if (parse(text, &c, &err))
		return bento_xasprintf("parse: %s", err.msg);
	if (bento_target_ref_parse(ref, &r, &err)) {
		bento_regconf_free(&c);
		return bento_xasprintf("ref: %s", err.msg);
	}
	if (bento_regconf_candidates(&c, &r, &o, &v, &opts, &n, &err)) {
		bento_buf_addf(&b, "error: %s", err.msg);
	} else {
		for (size_t i = 0; i < n; i++) {
			char *s = bento_target_ref_str(&v[i]);
			bento_buf_addf(&b, "%s%s%s", i ? " | " : "", s,
				       opts[i].plain_http && opts[i].insecure ? " (insecure)" : "");
			free(s);
			bento_target_ref_release(&v[i]);
		}
	}
	free(v);
	free(opts);
	bento_target_ref_release(&r);
	bento_regconf_free(&c);
	return bento_buf_detach(&b, NULL);
}

static void check(const char *text, const char *ref, const char *want, const char *what)
{
	char *got = cands(text, ref);

	is_str(got, want, "%s", what);
	free(got);
}

static const char *const conf =
	"# a podman-style file\n"
	"unqualified-search-registries = [\"docker.io\", 'quay.io']\n"
	"short-name-mode = \"enforcing\"\n"
	"\n"
	"[[registry]]\n"
	"prefix = \"docker.io\"\n"
	"location = \"docker.io\"\n"
	"[[registry.mirror]]\n"
	"location = \"127.0.0.1:5000/hub\"   # the local one first\n"
	"insecure = true\n"
	"[[registry.mirror]]\n"
	"location = \"mirror.example.com\"\n"
	"pull-from-mirror = \"digest-only\"\n"
	"\n"
	"[[registry]]\n"
	"prefix = \"docker.io/library/python\"\n"
	"location = \"internal.example:5000/py\"\n"
	"\n"
	"[[registry]]\n"
	"location = \"ghcr.io\"\n"
	"blocked = true\n"
	"\n"
	"[[registry]]\n"
	"prefix = \"*.corp.example\"\n"
	"[[registry.mirror]]\n"
	"location = \"cache.example/corp\"\n"
	"\n"
	"[aliases]\n"
	"\"python\" = \"docker.io/library/python\"\n";

#define HEX "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void test_candidates(void)
{
	check(conf, "iris:1", "127.0.0.1:5000/hub/library/iris:1 (insecure) | "
	      "registry-1.docker.io/library/iris:1", "a short name: the mirror, then Docker Hub");
	check(conf, "docker.io/team/x@sha256:" HEX,
	      "127.0.0.1:5000/hub/team/x@sha256:" HEX " (insecure) | mirror.example.com/team/x@sha256:" HEX
	      " | registry-1.docker.io/team/x@sha256:" HEX, "by digest, the digest-only mirror too");
	check(conf, "python:3.11-slim", "internal.example:5000/py:3.11-slim",
	      "the longest prefix wins, and rewrites the location");
	check(conf, "docker.io/library/pythonista:1",
	      "127.0.0.1:5000/hub/library/pythonista:1 (insecure) | registry-1.docker.io/library/pythonista:1",
	      "a prefix matches at a boundary only");
	check(conf, "ghcr.io/org/x:1", "error: ghcr.io/org/x:1: blocked by registries.conf (prefix ghcr.io)",
	      "a blocked registry");
	check(conf, "a.corp.example/team/x:2", "cache.example/corp/team/x:2 | a.corp.example/team/x:2",
	      "a wildcard prefix: its mirror, then the host itself");
	check(conf, "corp.example/team/x:2", "corp.example/team/x:2", "the wildcard wants a subdomain");
	check(conf, "localhost:5000/x", "localhost:5000/x", "no prefix matches: the reference itself");
	check(conf, "oci:dir:tag", "oci:dir:tag", "a layout is never rewritten");
	check("", "iris", "registry-1.docker.io/library/iris", "an empty file: no mirrors");
}

static void test_parse_errors(void)
{
	static const struct {
		const char *text, *msg;
	} bad[] = {
		{ "[registries.search]\nregistries = ['docker.io']\n",
		  "r.conf:1: [registries.search] is version 1 of the format, which bento does not read" },
		{ "[[registry.mirror]]\nlocation = \"x.io\"\n", "r.conf:1: a [[registry.mirror]] comes after its [[registry]]" },
		{ "[[registry]]\ninsecure = true\n", "r.conf:1: a [[registry]] needs a prefix or a location" },
		{ "[[registry]]\nprefix = \"x.io\"\n[[registry.mirror]]\ninsecure = true\n",
		  "a [[registry.mirror]] needs a location" },
		{ "[[registry]]\nprefix = true\n", "r.conf:2: prefix wants a string" },
		{ "[[registry]]\nprefix = \"x.io\"\nblocked = \"yes\"\n", "r.conf:3: blocked wants true or false" },
		{ "[[registry]]\nprefix = \"x.io\"\n[[registry.mirror]]\nlocation = \"m.io\"\npull-from-mirror = \"some\"\n",
		  "r.conf:5: pull-from-mirror is all, digest-only or tag-only, not 'some'" },
		{ "[[registry]]\nprefix = \"a b\"\n", "'a b' is no registry, repository or *.domain" },
		{ "[[registry]]\nprefix = \"*.x.io\"\nlocation = \"y.io\"\n", "a wildcard prefix takes no location" },
		{ "[[registry]]\nprefix = \"x.io\n", "r.conf:2: a string does not end on its line" },
		{ "[[registry]]\nprefix = \"\"\"x\"\"\"\n", "multi-line strings" },
		{ "a = [\"x\",\n\"y\"\n", "an array wants ',' or ']'" },
		{ "[[registry]\n", "r.conf:1: a table header wants its closing bracket" },
		{ "a = \"x\" b\n", "r.conf:1: unexpected 'b' after the value" },
		{ "a\n", "r.conf:1: 'a' wants '=' and a value" },
		{ "a = \n", "r.conf:1: a value is missing" },
		{ "a = {x = 1}\n", "inline tables are not supported" },
		{ "a = \"\\q\"\n", "unknown escape '\\q'" },
		{ "a = \"\\u00\"\n", "a \\u escape wants hex digits" },
		{ "a = \"\\u0000\"\n", "a \\u escape names no character" },
		{ "a = @\n", "'@' starts no value" },
	};
	struct bento_regconf c;
	struct bento_error err;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = parse(bad[i].text, &c, &err);

		is_int(rc, -BENTO_E_INVALID, "refused: %s", bad[i].msg);
		ok(strstr(err.msg, bad[i].msg) != NULL, "message '%s' (got '%s')", bad[i].msg, err.msg);
		bento_regconf_free(&c);
	}
	/* what such files hold and bento ignores, and the values TOML allows */
	is_int(parse("# c\nn = 1\nd = 1979-05-27T07:32:00Z\nf = -1.5e3\n[other]\nk.x = 'v'\n"
		     "\"q k\" = [[1, 2], ['a']]\n[[registry]]\nprefix = 'x.io' # c\n"
		     "location = \"y.io\\u0041\"\n", &c, &err), 0, "numbers, dates, nested arrays, other tables: read");
	ok(c.n == 1 && !strcmp(c.v[0].prefix, "x.io") && !strcmp(c.v[0].location, "y.ioA"),
	   "escapes decoded, literal strings taken as they are");
	bento_regconf_free(&c);
}

static void test_dropins(void)
{
	struct bento_regconf c;
	struct bento_error err;
	const char *a = "[[registry]]\nprefix = \"docker.io\"\n[[registry.mirror]]\nlocation = \"a.io\"\n";
	const char *b = "[[registry]]\nprefix = \"docker.io\"\n[[registry.mirror]]\nlocation = \"b.io\"\n"
			"[[registry]]\nprefix = \"quay.io\"\nblocked = true\n";

	memset(&c, 0, sizeof(c));
	ok(bento_regconf_parse(a, strlen(a), "a", &c, &err) == 0 &&
	   bento_regconf_parse(b, strlen(b), "b", &c, &err) == 0, "two files");
	ok(c.n == 2 && c.v[0].n_mirrors == 1 && !strcmp(c.v[0].mirrors[0].location, "b.io"),
	   "a later file's [[registry]] replaces the one of the same prefix");
	bento_regconf_free(&c);
}

static void put(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f || fputs(text, f) < 0 || fclose(f))
		abort();
}

static void test_load(void)
{
	char tmpl[] = "/tmp/bento-regconf-XXXXXX", path[256];
	struct bento_regconf c;
	struct bento_error err;
	const char *dir = mkdtemp(tmpl);

	if (!dir)
		abort();
	snprintf(path, sizeof(path), "%s/containers", dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/containers/registries.conf.d", dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/containers/registries.conf", dir);
	put(path, "[[registry]]\nprefix = \"docker.io\"\n[[registry.mirror]]\nlocation = \"user.io\"\n");
	snprintf(path, sizeof(path), "%s/containers/registries.conf.d/10-x.conf", dir);
	put(path, "[[registry]]\nprefix = \"quay.io\"\n[[registry.mirror]]\nlocation = \"q.io\"\n");
	snprintf(path, sizeof(path), "%s/containers/registries.conf.d/ignored.txt", dir);
	put(path, "not toml [");
	setenv("XDG_CONFIG_HOME", dir, 1);
	unsetenv("CONTAINERS_REGISTRIES_CONF");
	is_int(bento_regconf_load(&c, &err), 0, "the user's file and drop-ins load");
	ok(c.n == 2 && !strcmp(c.v[0].mirrors[0].location, "user.io") &&
	   !strcmp(c.v[1].mirrors[0].location, "q.io"), "with what they say; *.conf only");
	bento_regconf_free(&c);

	snprintf(path, sizeof(path), "%s/only.conf", dir);
	put(path, "[[registry]]\nlocation = \"env.io\"\n");
	setenv("CONTAINERS_REGISTRIES_CONF", path, 1);
	is_int(bento_regconf_load(&c, &err), 0, "CONTAINERS_REGISTRIES_CONF");
	ok(c.n == 1 && !strcmp(c.v[0].prefix, "env.io"), "is the one file read");
	bento_regconf_free(&c);

	put(path, "[registries.insecure]\nregistries = []\n");
	is_int(bento_regconf_load(&c, &err), -BENTO_E_INVALID, "a bad file fails the load");
	ok(strstr(err.msg, path) != NULL, "naming the file (%s)", err.msg);
	snprintf(path, sizeof(path), "%s/none.conf", dir);
	setenv("CONTAINERS_REGISTRIES_CONF", path, 1);
	is_int(bento_regconf_load(&c, &err), 0, "a missing file is no mirrors");
	is_int((int)c.n, 0, "none");
	unsetenv("CONTAINERS_REGISTRIES_CONF");
	{
		char cmd[300];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			abort();
	}
}

int main(void)
{
	test_candidates();
	test_parse_errors();
	test_dropins();
	test_load();
	return tap_done();
}
