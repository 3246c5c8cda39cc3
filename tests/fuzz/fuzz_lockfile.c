/*
 * libFuzzer target: the lockfile readers (bento_lockfile_check).  The
 * first byte picks the kind, the rest is the file, written to a temporary
 * file as the build would find it in a context.  Every finding must name a
 * line within the file and say something.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_key.h"
#include "lockfile.h"

static const char *const kinds[] = { "pip", "uv", "poetry", "pipenv", "conda",
				     "npm", "pnpm", "yarn", "cargo", "go" };
enum { N_KINDS = sizeof(kinds) / sizeof(kinds[0]) };
static char path[] = "/tmp/bento-fuzz-lockfile.XXXXXX";

static void cleanup(void)
{
	unlink(path);
}

static void seed(const char *dir, const char *name, unsigned kind, const char *text)
{
	size_t n = strlen(text);
	char *p = malloc(n + 1);

	if (!p)
		abort();
	p[0] = (char)kind;
	memcpy(p + 1, text, n);
	fuzz_seed(dir, name, p, n + 1);
	free(p);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *seeds = getenv("BENTO_FUZZ_SEEDS");
	int fd;

	(void)argc;
	(void)argv;
	if (seeds) {
		seed(seeds, "pip.txt", 0,
		     "# comment\nnumpy==1.26.4 \\\n    --hash=sha256:" "2a02aba9ed12e4ac4eb3ea9421c420301a0c6460d9830d74a9df87efa4912010\n"
		     "requests>=2\n-e ./local\nfoo @ https://x/foo.whl#sha256=00\n--hash=sha256:zz\n");
		seed(seeds, "uv.lock", 1,
		     "version = 1\n[[package]]\nname = \"numpy\"\nversion = \"1.26.4\"\n"
		     "source = { registry = \"https://pypi.org/simple\" }\n"
		     "wheels = [\n  { url = \"https://x/n.whl\", hash = \"sha256:2a02\", size = 1 },\n]\n"
		     "[[package]]\nname = \"local\"\nsource = { editable = \".\" }\n");
		seed(seeds, "poetry.lock", 2,
		     "[[package]]\nname = \"six\"\nversion = \"1.16.0\"\n\n[package.files]\n"
		     "[metadata.files]\nsix = [\n    {file = \"six.whl\", hash = \"sha256:8abb\"},\n]\n");
		seed(seeds, "Pipfile.lock", 3,
		     "{\"_meta\": {}, \"default\": {\"six\": {\"hashes\": [\"sha256:1e61\"], \"version\": \"==1.16.0\"},"
		     " \"x\": {\"version\": \"*\"}}, \"develop\": {}}");
		seed(seeds, "conda-lock.yml", 4,
		     "package:\n  - name: numpy\n    version: 1.26.4\n    hash:\n      md5: 0123456789abcdef0123456789abcdef\n"
		     "  - name: pip\n    version: '23'\n");
		seed(seeds, "package-lock.json", 5,
		     "{\"lockfileVersion\": 3, \"packages\": {\"\": {}, \"node_modules/a\": {\"version\": \"1.0.0\","
		     " \"integrity\": \"sha512-AAAA\"}, \"node_modules/b\": {\"version\": \"2\"}}}");
		seed(seeds, "pnpm-lock.yaml", 6,
		     "lockfileVersion: '6.0'\npackages:\n  /a@1.0.0:\n    resolution: {integrity: sha512-AAAA}\n"
		     "  /b@2.0.0:\n    resolution: {tarball: https://x/b.tgz}\n");
		seed(seeds, "yarn.lock", 7,
		     "# yarn lockfile v1\n\na@^1:\n  version \"1.0.0\"\n  resolved \"https://x/a.tgz#abc\"\n"
		     "  integrity sha512-AAAA\n\nb@git+https://x/b:\n  version \"2\"\n");
		seed(seeds, "Cargo.lock", 8,
		     "version = 3\n[[package]]\nname = \"libc\"\nversion = \"0.2.150\"\n"
		     "source = \"registry+https://github.com/rust-lang/crates.io-index\"\nchecksum = \"89d9\"\n"
		     "[[package]]\nname = \"me\"\nversion = \"0.1.0\"\n");
		seed(seeds, "go.sum", 9,
		     "golang.org/x/text v0.3.0 h1:g61tztE5qeGQ89tm6NTjjM9VPIm088od1l6aSorWRWg=\n"
		     "golang.org/x/text v0.3.0/go.mod h1:NqM8EUOU14njkJ3fqMW+pc6Ldnwhi/IjpwHt7yyuwOQ=\nbad line\n");
		exit(0);
	}
	if ((fd = mkstemp(path)) < 0)
		abort();
	close(fd);
	atexit(cleanup);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bento_lockfile_issue *v = NULL;
	struct bento_error err;
	size_t n = 0, lines = 1;
	FILE *f;

	if (size < 1)
		return 0;
	if (!(f = fopen(path, "w")) || fwrite(data + 1, 1, size - 1, f) != size - 1 || fclose(f))
		abort();
	for (size_t i = 1; i < size; i++)
		lines += data[i] == '\n';
	if (bento_lockfile_check(path, "lock", kinds[data[0] % N_KINDS], &v, &n, &err) == 0) {
		for (size_t i = 0; i < n; i++)
			if (v[i].line < 0 || (size_t)v[i].line > lines || !v[i].what || !*v[i].what ||
			    !v[i].file)
				abort();
	} else if (!err.msg[0]) {
		abort();
	}
	bento_lockfile_issues_free(v, n);
	return 0;
}
