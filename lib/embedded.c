#include <string.h>

#include "embedded.h"

const struct bento_embedded *bento_embedded_find(const char *name)
{
	for (const struct bento_embedded *e = bento_embedded; e->name; e++)
		if (strcmp(e->name, name) == 0)
			return e;
	return NULL;
}
