/* parse.c: libFuzzer target for the strict parsers of refs, sizes,
 * quantities, counts and seconds (lib/parse.c) that every tool runs on its
 * arguments, and for the escaping of user text (lib/escape.c). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rayint.h"

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t len);

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t len)
{
	char *s = malloc(len + 1);
	uint64_t u;
	int64_t q;
	static FILE *null;

	memcpy(s, in, len);
	s[len] = '\0';
	if (ray_ref_valid(s) && (strlen(s) > RAY_REF_MAX || strspn(s, "0123456789abcdef") != strlen(s)))
		abort();
	(void)ray_parse_uint(s, &u);
	(void)ray_parse_size(s, &u);
	(void)ray_parse_qty(s, &q);
	(void)ray_parse_seconds(s, &q);
	if (!null)
		null = fopen("/dev/null", "w");
	if (null)
		ray_fputs_safe(s, null);
	free(s);
	return 0;
}
