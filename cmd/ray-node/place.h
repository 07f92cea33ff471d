/* place.h: the placement policy: which node runs a task. */
#ifndef RAY_NODE_PLACE_H
#define RAY_NODE_PLACE_H

#include "node.h"

/* Whether labels have ("k=v,k=v", or ",k=v," as stored) hold every
 * "k=v" of want; an empty or NULL want matches anything. */
int labels_match(const char *have, const char *want);
/* Whether some live node could ever run t (ignoring what is free now). */
int place_feasible_anywhere(const task *t);
/* Why no live node can ever run t (for ray-status); 0 when one can. */
int place_infeasible_reason(const task *t, char *buf, size_t len);
/* A ray-status demand for t: its resources, whether it is infeasible and
 * why (new object). */
cJSON *place_demand(const task *t);
/* The node t should run on now: 0 this one, 1 *out, 2 never (why says
 * so), -1 none yet.  Sends nothing: tasks and actors share it. */
int place_pick(task *t, rnode **out, char *why, size_t wlen);
/* Where t should run now: 0 here, 1 forwarded, 2 failed and dequeued
 * (its group was removed, its pinned node died), -1 nowhere yet. */
int place(task *t);

#endif
