/*
 * manifest_internal.h - for the tests and the fuzzer of manifest.c only.
 *
 * bento_manifest_parse() reads a bento.json's top-level "files" with a
 * scanner of its canonical shape and takes the generic way (jansson for
 * the whole object, the canonical form checked by writing it out again)
 * for anything else.  Both must find the same manifests valid and read
 * them alike: tests/fuzz/fuzz_manifest.c checks that on every input.
 */
#ifndef BENTO_MANIFEST_INTERNAL_H
#define BENTO_MANIFEST_INTERNAL_H

#include "manifest.h"

/* bento_manifest_parse() by the generic way only. */
int bento_manifest_parse_generic(const char *data, size_t len, const char *what,
				 struct bento_manifest **out, struct bento_error *err);

#endif
