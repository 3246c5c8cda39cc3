/*
 * libFuzzer target: bento-shim's health-port request parser
 * (cmd/bento-shim/request.c).  Any bytes, cut anywhere as they may arrive,
 * get a verdict that does not depend on the cut: a prefix that already has
 * one keeps it, and the whole input at end of file always has one.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "shim.h"

// fuzz-flags: -max_len=8192

static int same(const struct health_request *a, const struct health_request *b)
{
	return a->status == b->status && (a->status || (a->route == b->route && a->head == b->head));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct health_request whole, part;
	size_t len = size < HEALTH_REQ_MAX ? size : HEALTH_REQ_MAX;
	/* An exact-size copy, so that ASan sees any read past len. */
	char *buf = malloc(len ? len : 1);
	int done;

	memcpy(buf, data, len);
	done = health_request_parse(buf, len, 0, &whole);
	/* At end of file there is always a verdict, except for nothing at all. */
	if (!health_request_parse(buf, len, 1, &part) ? len != 0 : done && !same(&whole, &part))
		abort();
	if (len == HEALTH_REQ_MAX && !done)
		abort();	/* a full buffer is always judged (431 at worst) */
	if (done && !part.status && (part.route > HEALTH_READY || (unsigned)part.head > 1))
		abort();
	if (done && part.status && part.status != 400 && part.status != 405 &&
	    part.status != 431 && part.status != 505)
		abort();
	/* A verdict on a prefix is the verdict on the whole. */
	for (size_t cut = 0; cut < len; cut += 1 + cut / 8) {
		struct health_request p;
		if (health_request_parse(buf, cut, 0, &p) && (!done || !same(&p, &whole)))
			abort();
	}
	free(buf);
	return 0;
}
