/*
 * A stand-in for a libc function whose static glibc version would push
 * bento-shim past its 1 MiB budget: __assert_fail (libsodium asserts)
 * pulls in gettext to translate the message, ~30 KB.  A definition here
 * wins over libc.a's.  (Dates need nothing of the kind: lib/manifest.c
 * does RFC 3339 by arithmetic.)
 */
#include <stdlib.h>

#include "shim.h"

void __assert_fail(const char *expr, const char *file, unsigned int line, const char *func)
{
	shim_log("%s:%u: %s: assertion '%s' failed", file, line, func, expr);
	abort();
}
