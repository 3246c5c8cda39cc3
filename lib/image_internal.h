/*
 * image_internal.h - containerize's reading of a base image on its own,
 * for tests/fuzz/fuzz_image_base.c: everything bento_containerize does
 * with --base up to the image config, without a store, a shim or an
 * output.
 */
#ifndef BENTO_IMAGE_INTERNAL_H
#define BENTO_IMAGE_INTERNAL_H

#include "buf.h"
#include "error.h"
#include "manifest.h"
#include "target.h"

/*
 * Load base ("oci:DIR[:TAG|@DIGEST]": a registry base needs a store to
 * download into, -BENTO_E_USAGE) for platform ("os/arch[/variant]") as
 * bento_containerize does (its index, manifest, config and layer blobs,
 * all checked), then make the config of bento m's image on it, appended
 * to config as canonical JSON.  m is borrowed.  Errors as
 * bento_containerize's for a base.
 */
int bento_image_base_config(const struct bento_manifest *m, const char *base,
			    const char *platform, struct bento_buf *config, struct bento_error *err);

#endif
