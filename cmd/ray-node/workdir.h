/* workdir.h: --working-dir, a DIR of the node or an unpacked tar archive
 * object (workdir.c). */
#ifndef RAY_NODE_WORKDIR_H
#define RAY_NODE_WORKDIR_H

#include "node.h"

/* A --working-dir value as a submission gives it: an absolute path, or
 * the ref of a known object.  0, or an error in err. */
int workdir_check(const char *wd, ray_err *err);
/* argv (already resolved) wrapped so that it runs in wd: entering DIR,
 * or unpacking REF's archive once on this node first (the child fetches
 * it with ray-get when its bytes are not here: an actor's).  NULL with
 * why filled when out of memory.  Caller frees. */
char **workdir_argv(const char *wd, char **argv, char *why, size_t wlen);
/* o is being freed: its unpacked copy, if any, is removed. */
void workdir_forget(obj *o);
/* Teardown: what it remembers goes. */
void workdir_free_all(void);

#endif
