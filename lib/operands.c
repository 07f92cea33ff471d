/* operands.c: refs from argv, or from stdin when none are given or "-". */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rayint.h"

static int push(char ***v, size_t *n, size_t *cap, const char *s, size_t len, ray_err *err)
{
	char *d;

	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 64;
		char **nv = realloc(*v, nc * sizeof(*nv));
		if (!nv)
			return ray_seterr(err, RAY_EUSAGE, "out of memory");
		*v = nv;
		*cap = nc;
	}
	d = malloc(len + 1);
	if (!d)
		return ray_seterr(err, RAY_EUSAGE, "out of memory");
	memcpy(d, s, len);
	d[len] = '\0';
	if (!ray_ref_valid(d)) {
		ray_seterr(err, RAY_EUSAGE, "malformed ref '%.80s': want up to %d lowercase hex digits",
		           d, RAY_REF_MAX);
		free(d);
		return RAY_EUSAGE;
	}
	(*v)[(*n)++] = d;
	return 0;
}

static int read_stdin(char ***v, size_t *n, size_t *cap, ray_err *err)
{
	char word[RAY_REF_MAX + 2];
	size_t len = 0;
	int ch, rc;

	for (;;) {
		ch = getchar();
		if (ch == EOF && ferror(stdin))
			return ray_seterr(err, RAY_EUSAGE, "cannot read refs from stdin: %s", strerror(errno));
		if (ch == '\0')
			return ray_seterr(err, RAY_EUSAGE, "a NUL byte among the refs on stdin");
		if (ch == EOF || isspace(ch)) {
			if (len) {
				if (len > RAY_REF_MAX) {
					word[RAY_REF_MAX + 1] = '\0';
					return ray_seterr(err, RAY_EUSAGE, "malformed ref '%s...': too long", word);
				}
				if ((rc = push(v, n, cap, word, len, err)))
					return rc;
			}
			len = 0;
			if (ch == EOF)
				return 0;
			continue;
		}
		if (len <= RAY_REF_MAX)
			word[len] = (char)ch;
		len++;
	}
}

int ray_read_refs(int argc, char *const *argv, char ***refs, size_t *n, ray_err *err)
{
	size_t cap = 0;
	int i, rc = 0, used_stdin = 0;

	*refs = NULL;
	*n = 0;
	for (i = 0; i < argc && !rc; i++) {
		if (!strcmp(argv[i], "-")) {
			if (!used_stdin)
				rc = read_stdin(refs, n, &cap, err);
			used_stdin = 1;
		} else {
			rc = push(refs, n, &cap, argv[i], strlen(argv[i]), err);
		}
	}
	if (!rc && argc == 0)
		rc = read_stdin(refs, n, &cap, err);
	if (rc) {
		ray_refs_free(*refs, *n);
		*refs = NULL;
		*n = 0;
	}
	return rc;
}

void ray_refs_free(char **refs, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(refs[i]);
	free(refs);
}
