/* refin.h: refs read from a pipe as they come (refin.c). */
#ifndef REFIN_H
#define REFIN_H

#include <stddef.h>

#include "ray.h"

typedef struct refin refin;

/* A reader of white-space separated refs on fd; NULL when out of memory. */
refin *refin_new(int fd);
/*
 * The next refs: those complete and readable now, at most max, waiting
 * only while there are none.  0 with *n refs in *refs (owned by r until
 * the next call) and *eof set once the input ended; else an error (a
 * malformed ref is RAY_EUSAGE, named in err).
 */
int refin_next(refin *r, size_t max, char ***refs, size_t *n, int *eof, ray_err *err);
void refin_free(refin *r);

#endif
