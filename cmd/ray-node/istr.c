/*
 * istr.c: interned strings with a count of holders.  A million tasks of
 * one job, and their million result objects, hold one copy of the job id
 * instead of 65 bytes each; the copy goes with its last holder, so ids
 * that clients make up cannot pile up.  A leaf: it uses only the map.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "istr.h"
#include "map.h"

typedef struct istr {
	size_t refs;
	char s[];
} istr;

static map strs;   /* s -> its istr; keys are the istrs' own s */

const char *istr_hold(const char *s)
{
	istr *e = map_get(&strs, s);
	size_t n;

	if (e) {
		e->refs++;
		return e->s;
	}
	n = strlen(s);
	if (!(e = malloc(sizeof(*e) + n + 1)))
		return NULL;
	e->refs = 1;
	memcpy(e->s, s, n + 1);
	if (map_put(&strs, e->s, e)) {
		free(e);
		return NULL;
	}
	return e->s;
}

static istr *istr_of(const char *s)
{
	return (istr *)(void *)((char *)(uintptr_t)s - offsetof(istr, s));
}

const char *istr_share(const char *s)
{
	istr_of(s)->refs++;
	return s;
}

void istr_drop(const char *s)
{
	istr *e;

	if (!s)
		return;
	e = istr_of(s);
	if (--e->refs)
		return;
	map_del(&strs, e->s);
	free(e);
}
