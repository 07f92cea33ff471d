/* pg_place.h: the head places groups (pg_place.c). */
#ifndef RAY_NODE_PG_PLACE_H
#define RAY_NODE_PG_PLACE_H

#include "node.h"
#include "pg.h"

/* It finds groups and tells of a settled one through hooks, which node.c
 * points at the table's (pg.c), so that it never calls up into it. */
typedef struct pg_place_hooks {
	pg *(*find)(const char *id);
	void (*settled)(pg *g);
} pg_place_hooks;
extern pg_place_hooks pg_place_on;

/* Tries to place every unplaced bundle of g (PENDING or RESCHEDULING). */
void pg_try(pg *g);
/* Counts r as free again on node_id in the head's view. */
void pg_view_credit(const char *node_id, const res *r);
/* Releases bundle `index` of a group on a node (here, or by request). */
void pg_release_on(const char *node_id, const char *pgid, int index);

#endif
