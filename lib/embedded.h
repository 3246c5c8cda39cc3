/*
 * embedded.h - files from schema/ compiled into the binary (scripts/embed.sh).
 */
#ifndef BENTO_EMBEDDED_H
#define BENTO_EMBEDDED_H

#include <stddef.h>

struct bento_embedded {
	const char *name;	/* "schema/store-001.sql"; NULL ends the table */
	const char *data;	/* NUL-terminated */
	size_t len;		/* without the NUL */
};

/* Sorted by name. */
extern const struct bento_embedded bento_embedded[];

/* The entry named name, or NULL. */
const struct bento_embedded *bento_embedded_find(const char *name);

#endif
