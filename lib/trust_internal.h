/*
 * trust_internal.h - trust.c's parsers for the fuzz targets and unit tests;
 * not part of libbento's API.
 */
#ifndef BENTO_TRUST_INTERNAL_H
#define BENTO_TRUST_INTERNAL_H

#include <stddef.h>

#include "error.h"
#include "trust.h"

/*
 * bento_policy_load() on text instead of a file: len bytes of YAML, named
 * file in messages.  Key files the rules name are read as by the load.
 */
int bento_policy_parse(const char *text, size_t len, const char *file, struct bento_policy **out,
		       struct bento_error *err);

#endif
