/*
 * sign_internal.h - sign.c's secret key parser and scrypt bounds, for the
 * fuzz targets and unit tests; not part of libbento's API.
 */
#ifndef BENTO_SIGN_INTERNAL_H
#define BENTO_SIGN_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "sign.h"

/*
 * The largest scrypt opslimit and memlimit a secret key may ask for:
 * minisign's defaults (33554432, 1 GiB).  A fuzz target lowers them so
 * that the derivations it reaches stay cheap.
 */
extern uint64_t bento_kdf_opslimit_max, bento_kdf_memlimit_max;

/*
 * bento_seckey_load() on the text of a key file (len bytes, what names it
 * in messages), without the file checks.  The caller's copy of the text is
 * not wiped.
 */
int bento_seckey_parse(const char *text, size_t len, const char *what, const char *password,
		       struct bento_seckey *out, struct bento_error *err);

#endif
