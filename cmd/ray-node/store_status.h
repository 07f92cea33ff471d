/* store_status.h: the object store as ray-store ls and stats show it (store_status.c). */
#ifndef STORE_STATUS_H
#define STORE_STATUS_H

#include "node.h"

/* One object as ray-store ls and ray-status list it. */
cJSON *obj_json(obj *o);
/* This node's store in numbers: a walk of the objects, done at most
 * every 500 ms for the heartbeats (store_totals), or now (a summary). */
void store_totals(rstore *out);
void store_totals_now(rstore *out);
void op_store_ls(conn *c, uint32_t id, cJSON *req);
void op_store_stats(conn *c, uint32_t id, cJSON *req);

#endif
