/*
 * libFuzzer target: bento-shim's signature lookup (shim_check_signatures:
 * list ROOT/signatures/KEYID.minisig, read each, parse its key id, apply the
 * naming rule, verify it with the trusted keys, apply the trusted-comment
 * rule).  The bento and the trusted key are fixed; the seeds hold good and
 * bad signatures of it made with minisign by that key.
 *
 * Input: up to 4 signature files, separated by NUL bytes, each its file
 * name, a newline and its bytes.  When the shim accepts, the file it names
 * as the signer's must verify on its own and carry this bento's comment.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "fs.h"
#include "shim.h"

// fuzz-flags: -max_len=8192

#define MAX_FILES 4

static const char manifest[] =
	"{\"created\":\"2026-12-03T19:31:06Z\",\"files\":[{\"digest\":\"sha256:ff40a0600d030fe402a81be07ffc7839947e51d68238202e939f316f21d697a9\",\"mode\":420,\"path\":\"src/bentofile.yaml\",\"size\":24},{\"digest\":\"sha256:a8076d3d28d21e02012b20eaf7dbf75409a6277134439025f282e368e3305abf\",\"mode\":493,\"path\":\"src/run\",\"size\":10}],\"labels\":{},\"lockfiles\":[],\"mediaType\":\"application/vnd.bento.manifest.v1+json\",\"models\":[],\"name\":\"fz\",\"schemaVersion\":1,\"service\":{\"entrypoint\":[\"./run\"]},\"size\":34,\"version\":\"1\"}";
static const char trusted[] = "RWTdGBiHRD93zlip3KDvHJUCn8iEifX0FqkEXM2USrvmViycAJyz1YPq";

static char root[64], sigdir[96];
static struct bento_manifest *m;
static struct bento_pubkey key;

static void empty_sigdir(void);

static void cleanup(void)
{
	char path[128];

	empty_sigdir();
	rmdir(sigdir);
	snprintf(path, sizeof(path), "%s/bento.json", root);
	unlink(path);
	rmdir(root);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char path[128];
	int fd;

	(void)argc;
	(void)argv;
	shim_log_fd = -1;
	snprintf(root, sizeof(root), "/tmp/fuzz_shim_sig.XXXXXX");
	if (!mkdtemp(root))
		abort();
	snprintf(sigdir, sizeof(sigdir), "%s/signatures", root);
	snprintf(path, sizeof(path), "%s/bento.json", root);
	if (mkdir(sigdir, 0755) ||
	    (fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0 ||
	    bento_write_all(fd, manifest, sizeof(manifest) - 1) || close(fd) ||
	    bento_manifest_parse(manifest, sizeof(manifest) - 1, "fuzz", &m, NULL) ||
	    bento_pubkey_parse(trusted, sizeof(trusted) - 1, "fuzz", &key, NULL))
		abort();
	atexit(cleanup);
	return 0;
}

static void empty_sigdir(void)
{
	DIR *d = opendir(sigdir);
	struct dirent *de;

	if (!d)
		abort();
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			unlinkat(dirfd(d), de->d_name, 0);
	closedir(d);
}

/* A file name from the input: no '/', not "." or "..", not empty, at most 100 bytes. */
static void file_name(const char *s, size_t n, char out[101])
{
	size_t k = 0;

	for (size_t i = 0; i < n && k < 100; i++)
		if (s[i] != '/' && s[i] != '\0')
			out[k++] = s[i];
	out[k] = '\0';
	if (!k || !strcmp(out, ".") || !strcmp(out, ".."))
		snprintf(out, 101, "sig" BENTO_SIG_SUFFIX);
}

/* The signer the shim reported must hold up on its own. */
static void check_accepted(const char *signer)
{
	struct bento_buf sig = BENTO_BUF_INIT;
	struct bento_sig_info info = { 0 };
	char path[256], *want = bento_signature_comment(m);

	snprintf(path, sizeof(path), "%s/%s" BENTO_SIG_SUFFIX, sigdir, signer);
	if (bento_read_file(path, 1u << 16, &sig, NULL) ||
	    bento_sig_verify(&key, 1, manifest, sizeof(manifest) - 1, sig.buf, sig.len, &info, NULL) ||
	    strcmp(info.trusted_comment, want) != 0 ||
	    bento_signature_check(m, path + strlen(sigdir) + 1, info.keyid, info.trusted_comment,
				  NULL))
		abort();
	bento_sig_info_release(&info);
	bento_buf_release(&sig);
	free(want);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct shim_config c = { .root = root, .keys = &key, .n_keys = 1, .require_signature = 1 };
	const char *p = (const char *)data, *end = p + size;
	char signer[BENTO_KEYID_HEXLEN + 1] = "";

	empty_sigdir();
	for (int i = 0; i < MAX_FILES && p < end; i++) {
		const char *rec_end = memchr(p, '\0', (size_t)(end - p)), *nl;
		char name[101], path[256];
		int fd;

		if (!rec_end)
			rec_end = end;
		nl = memchr(p, '\n', (size_t)(rec_end - p));
		if (nl) {
			file_name(p, (size_t)(nl - p), name);
			snprintf(path, sizeof(path), "%s/%s", sigdir, name);
			fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
			if (fd < 0 || bento_write_all(fd, nl + 1, (size_t)(rec_end - nl - 1)) || close(fd))
				abort();
		}
		p = rec_end + 1;
	}
	if (shim_check_signatures(&c, m, manifest, sizeof(manifest) - 1, signer, sizeof(signer)) == 0)
		check_accepted(signer);
	return 0;
}
