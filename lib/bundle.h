/*
 * bundle.h - .bento archives in and out of the store (man/bento-archive.5).
 */
#ifndef BENTO_BUNDLE_H
#define BENTO_BUNDLE_H

#include <stdint.h>

#include "archive.h"
#include "build.h"
#include "error.h"
#include "store.h"

/*
 * Write bento d as an archive to fd: bento.json first, then every content
 * file sorted bytewise by path, each header normalised (mtime = created or
 * 0).  Same bento + same compression = same bytes.  *bytes (optional) gets the
 * content bytes written.
 */
int bento_export(struct bento_store *s, const struct bento_digest *d, int fd,
		 enum bento_compression comp, struct bento_error *err);

/*
 * Read an archive from fd into the store.  Every entry is checked against
 * bento.json while streaming (size, mode, digest); anything unlisted,
 * duplicated, unsafe or missing is refused (-BENTO_E_UNSAFE /
 * -BENTO_E_VERIFY) and nothing is tagged.  name names the input in
 * messages.  A declared size larger than the store's free space is refused
 * before anything is written (-ENOSPC).
 */
int bento_import(struct bento_store *s, int fd, const char *name,
		 struct bento_build_result *out, struct bento_error *err);

#endif
