/*
 * libFuzzer target: what a registry's response headers can hold.  The input
 * is a response head, one header per line: each line goes through
 * bento_http_header_line, then the values bento acts on go through their
 * parsers (the challenge, the Range) and the Location and the Bearer realm
 * through the URL check, against an http and an https registry.  Nothing
 * may crash, leak or overflow, and what the check lets through must keep
 * its promises (http or https, no user, no downgrade but to loopback).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "registry_internal.h"

static void check(const char *ref)
{
	static const char *const bases[] = { "http://127.0.0.1:5000", "https://reg.example" };
	static const char *const froms[] = { "http://127.0.0.1:5000/v2/a/blobs/uploads/",
					     "https://reg.example/v2/a/blobs/uploads/x?s=1" };
	size_t i;

	for (i = 0; i < 2; i++) {
		char *out = NULL;
		const char *why = NULL;

		if (bento_registry_url_check(bases[i], froms[i], ref, &out, &why) == 0) {
			if (strncmp(out, "http://", 7) != 0 && strncmp(out, "https://", 8) != 0)
				abort();
			if (i == 1 && strncmp(out, "http://", 7) == 0 && !bento_registry_url_is_loopback(out))
				abort();
			if (strlen(out) > BENTO_URL_MAX)
				abort();
			(void)bento_registry_same_origin(bases[i], out);
			free(out);
		} else if (out || !why) {
			abort();
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bento_http_headers h;
	struct bento_http_challenge c;
	const char *p = (const char *)data, *e = p + size, *nl;
	char *s;
	uint64_t have;

	bento_http_headers_init(&h);
	while (p < e) {
		nl = memchr(p, '\n', (size_t)(e - p));
		nl = nl ? nl + 1 : e;
		bento_http_header_line(&h, p, (size_t)(nl - p), 1445412480);
		p = nl;
	}
	if (h.www_auth && bento_http_challenge_parse(h.www_auth, &c) == 0) {
		if (c.scheme != BENTO_AUTH_BASIC && c.scheme != BENTO_AUTH_BEARER)
			abort();
		if (c.realm)
			check(c.realm);
		bento_http_challenge_release(&c);
	}
	if (h.range && bento_http_range_parse(h.range, &have) == 0 && (have == 0 || have > INT64_MAX))
		abort();
	if (h.location)
		check(h.location);
	if (h.content_length < -1 || h.retry_after < -1)
		abort();
	bento_http_headers_release(&h);

	/* the whole input as one value too */
	s = bento_xstrndup((const char *)data, size);
	if (bento_http_challenge_parse(s, &c) == 0)
		bento_http_challenge_release(&c);
	check(s);
	free(s);
	return 0;
}
