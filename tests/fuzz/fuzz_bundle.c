/*
 * libFuzzer target: what bento import and bento verify do with a .bento
 * file (lib/bundle.c's walk over the archive reader: bento.json first and
 * valid, every entry listed once with its size, mode and digest, the
 * signatures and attestations checked against a trusted key), not only the
 * low-level reader.  Must never crash, and the two must agree: an archive
 * import stores is one verify passes, and one verify passes imports unless
 * the store already has its tag with other content.  The trusted key is
 * tests/fuzz/seed.pub, the public half of the key the seeds are signed with
 * (tests/fuzz/mkseeds-archive.sh).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sys/mman.h>

#include "bundle.h"
#include "fuzz_tmp.h"

static const char seed_pub[] =
	"untrusted comment: minisign public key ED0688E143CAB982\n"
	"RWSCucpD4YgG7cZvYA8JhvmSNgR+uO4IysuNKHSUs4Ris3fIsj7noMJV\n";

static struct bento_keyring keys = BENTO_KEYRING_INIT;
static struct bento_store *store;
static char dir[] = "/tmp/fuzz_bundle.XXXXXX";

/* The store lives for one run of the fuzzer. */
static void cleanup(void)
{
	bento_store_close(store);
	fuzz_rmtree(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct bento_error err;
	char path[64];
	int fd = memfd_create("seed.pub", 0);

	(void)argc;
	(void)argv;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	/* a memfd is 0777: a trusted key others may write is refused (bento-key(1) PERMISSIONS) */
	if (fd < 0 || fchmod(fd, 0644) < 0 ||
	    write(fd, seed_pub, sizeof(seed_pub) - 1) != (ssize_t)sizeof(seed_pub) - 1 ||
	    bento_keyring_add_file(&keys, path, &err) || !mkdtemp(dir) ||
	    bento_store_open(dir, &store, &err)) {
		fprintf(stderr, "fuzz_bundle: setup: %s\n", err.msg);
		abort();
	}
	close(fd);
	atexit(cleanup);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bento_report vr = { 0 }, ir = { 0 };
	struct bento_import_opts o = { .keys = &keys, .report = &ir };
	struct bento_build_result res = { 0 };
	struct bento_error err;
	int fd = memfd_create("fuzz", 0), vrc, irc, verified;

	if (fd < 0 || write(fd, data, size) != (ssize_t)size || lseek(fd, 0, SEEK_SET) != 0)
		abort();
	vrc = bento_verify_archive(fd, "fuzz", &keys, &vr, NULL, &err);
	verified = vrc == 0 && vr.failed == 0;
	if (lseek(fd, 0, SEEK_SET) != 0)
		abort();
	irc = bento_import(store, fd, "fuzz", &o, &res, &err);
	if (irc == 0 && !verified) {
		fprintf(stderr, "fuzz_bundle: imported what verify refused (%d, %zu failed)\n", vrc,
			vr.failed);
		abort();
	}
	if (verified && irc != 0 && irc != -BENTO_E_EXISTS && irc != -ENOSPC) {
		fprintf(stderr, "fuzz_bundle: verify passed, import refused: %s\n", err.msg);
		abort();
	}
	bento_build_result_release(&res);
	bento_report_release(&vr);
	bento_report_release(&ir);
	close(fd);
	return 0;
}
