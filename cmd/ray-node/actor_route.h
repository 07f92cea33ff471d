/* actor_route.h: calls from this node to actors, wherever they run (actor_route.c). */
#ifndef ACTOR_ROUTE_H
#define ACTOR_ROUTE_H

#include "node.h"

/* actor_call on any node: queued here when the actor runs here, else
 * made here and sent to its host. */
void actor_route_call(conn *c, uint32_t id, cJSON *req);
/* Asks the head again about actors that had no node. */
void actor_route_tick(void);
/* ray-cancel on a call made here to an actor hosted elsewhere (t->handle):
 * its refs fail at once; a call already sent is cancelled on its host too,
 * with the tasks it submitted there when tree is set.  1 when cancelled. */
int actor_route_cancel(task *t, const char *msg, int tree);
/* The calls in flight on a dead node: sent again or failed. */
void actor_route_node_died(const char *node_id);
void actor_route_free_all(void);

#endif
