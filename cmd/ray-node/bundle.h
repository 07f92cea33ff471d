/* bundle.h: placement-group bundles reserved on this node, as resource pools. */
#ifndef BUNDLE_H
#define BUNDLE_H

#include "node.h"

/* The most bundles a group may have. */
#define MAX_BUNDLES 256

/* The pool a task draws from: its bundle's, or the node's (NULL when its
 * bundle is not here); a task of any bundle is given one with room. */
res *task_pool(task *t);
/* Whether this node holds bundle `index` of the group (-1: any of them). */
int pg_local_bundle(const char *pgid, int index);
/* Reserves bundle `index` out of the node's free resources: 0, or
 * RAY_ERESOURCE when they are not free right now.  Held already: 0. */
int bundle_prepare(const char *pgid, int index, const res *r);
/* Kills what runs in the group's bundles here (index -1: all of them) and
 * gives the bundles back to the node. */
void bundle_release_local(const char *pgid, int index);
void op_bundle_prepare(conn *c, uint32_t id, cJSON *req);
void op_bundle_release(conn *c, uint32_t id, cJSON *req);
void bundles_free_all(void);

#endif
