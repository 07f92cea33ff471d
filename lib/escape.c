/* escape.c: text from users (names, commands, labels) written where a
 * control character would forge a line or drive the terminal: listings
 * and the node's log. */
#include <stdio.h>

#include "rayint.h"

void ray_fputs_safe(const char *s, FILE *f)
{
	const unsigned char *p;

	for (p = (const unsigned char *)s; *p; p++) {
		if (*p >= 0x20 && *p != 0x7f)
			putc(*p, f);
		else if (*p == '\n')
			fputs("\\n", f);
		else if (*p == '\t')
			fputs("\\t", f);
		else if (*p == '\r')
			fputs("\\r", f);
		else
			fprintf(f, "\\x%02x", *p);
	}
}
