/* transfer.h: pulling objects from the nodes that hold them (transfer.c). */
#ifndef RAY_NODE_TRANSFER_H
#define RAY_NODE_TRANSFER_H

#include "node.h"

void fetch_start(obj *o);
obj *foreign_obj(const char *ref);
void op_transfer(conn *c, uint32_t id, cJSON *req);
void transfer_tick(void);
void transfer_node_died(const char *id);
/* Adds the pull counters (pulls, pulled_bytes, pull_failures) to r. */
void transfer_stats_json(cJSON *r);
/* An object is freed: if this node owns it, the others drop their copies. */
void transfer_obj_freed(const obj *o);
/* Forgets the drops not yet told (the node is stopping). */
void transfer_drops_free(void);
#endif
