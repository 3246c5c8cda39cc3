/*
 * libFuzzer target: minisign public keys (a key file's text, or the bare
 * base64 line as --key and BENTO_TRUSTED_KEY take it).  A key that parses
 * must format back to a file that parses to the same key.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_key.h"
#include "sign.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = getenv("BENTO_FUZZ_SEEDS");

	(void)argc;
	(void)argv;
	fuzz_key_init();
	if (dir) {
		struct bento_buf b = BENTO_BUF_INIT;
		const char *nl;

		bento_pubkey_format(&fuzz_pk, &b);
		fuzz_seed(dir, "key.pub", b.buf, b.len);
		nl = strchr(b.buf, '\n') + 1;
		fuzz_seed(dir, "bare", nl, strlen(nl) - 1);
		fuzz_seed(dir, "crlf.pub", "untrusted comment: x\r\nRWQ=\r\n\r\n", 29);
		bento_buf_release(&b);
		exit(0);
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bento_pubkey k, k2;
	struct bento_buf b = BENTO_BUF_INIT;
	struct bento_error err;

	if (bento_pubkey_parse((const char *)data, size, "fuzz", &k, &err) == 0) {
		bento_pubkey_format(&k, &b);
		if (bento_pubkey_parse(b.buf, b.len, "formatted", &k2, &err) != 0 ||
		    memcmp(&k, &k2, sizeof(k)) != 0)
			abort();
	}
	bento_buf_release(&b);
	return 0;
}
