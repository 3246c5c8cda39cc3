/*
 * fuzz_oci_doc.h - what must hold of every document lib/ocidoc.c accepts,
 * for the OCI fuzz targets: each descriptor has a media type and a digest
 * as written (its parsed form when sha256), sizes fit an int64, maps are
 * objects; and the document, written canonically and read again, reads
 * the same.  abort() when not.
 */
#ifndef BENTO_FUZZ_OCI_DOC_H
#define BENTO_FUZZ_OCI_DOC_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cjson.h"
#include "ocidoc.h"

static void fuzz_desc_check(const struct bento_oci_desc *d)
{
	char ds[BENTO_DIGEST_STRLEN];

	if (!d->media_type || !strchr(d->media_type, '/') || !d->digest_str ||
	    !strchr(d->digest_str, ':') || d->size > INT64_MAX)
		abort();
	if (d->annotations && !json_is_object(d->annotations))
		abort();
	if ((d->os == NULL) != (d->arch == NULL) || (d->variant && !d->os))
		abort();
	if (!d->other_algorithm) {
		bento_digest_str(&d->digest, ds);
		if (strcmp(ds, d->digest_str) != 0)
			abort();
	} else if (strncmp(d->digest_str, "sha256:", 7) == 0) {
		abort();
	}
}

static void __attribute__((unused)) fuzz_doc_check(const struct bento_oci_doc *d, unsigned want,
						   const char *hint)
{
	struct bento_buf b = BENTO_BUF_INIT;
	struct bento_oci_doc again;
	struct bento_error err;

	if (!((unsigned)d->kind & want) || !bento_oci_media_kind(d->media_type) ||
	    bento_oci_media_kind(d->media_type) != (int)d->kind)
		abort();
	if (d->kind == BENTO_OCI_MANIFEST)
		fuzz_desc_check(&d->config);
	for (size_t i = 0; i < d->n_descs; i++)
		fuzz_desc_check(&d->descs[i]);
	if (d->has_subject)
		fuzz_desc_check(&d->subject);
	if (d->annotations && !json_is_object(d->annotations))
		abort();
	/* Canonical bytes (none when the document holds a real number somewhere): the same reading. */
	if (bento_json_canonical(d->root, &b, NULL) == 0) {
		if (bento_oci_doc_read(b.buf, b.len, "again", hint, want, &again, &err) != 0 ||
		    again.kind != d->kind || again.n_descs != d->n_descs ||
		    strcmp(again.media_type, d->media_type) != 0)
			abort();
		bento_oci_doc_release(&again);
	}
	bento_buf_release(&b);
}

#endif
