/*
 * libFuzzer target: what bento verify and bento get --provenance read out of
 * a provenance statement (an archive's or a registry's, so hostile): the
 * source summary, its line and the text for people must never crash, and
 * what they print holds no control character.
 */
// fuzz-flags: -max_len=65536
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "provenance.h"

static void no_controls(const char *s, int newlines)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if ((*p < 0x20 && !(newlines && *p == '\n')) || *p == 0x7f ||
		    (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f))
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *stmt = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
	json_t *src;
	char *s;

	if (!stmt)
		return 0;
	if ((src = bento_provenance_source(stmt))) {
		if (!json_is_string(json_object_get(src, "commit")) ||
		    !json_is_string(json_object_get(src, "state")))
			abort();
		s = bento_provenance_source_line(src, 5);
		no_controls(s, 0);
		free(s);
		s = bento_provenance_source_state(src, (size_t)-1);
		no_controls(s, 0);
		free(s);
		json_decref(src);
	}
	s = bento_provenance_text(stmt);
	no_controls(s, 1);
	free(s);
	json_decref(stmt);
	return 0;
}
