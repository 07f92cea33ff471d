/* store_status.h: the object store as ray-store ls and stats show it (store_status.c). */
#ifndef STORE_STATUS_H
#define STORE_STATUS_H

#include "node.h"

/* One object as ray-store ls and ray-status list it. */
cJSON *obj_json(obj *o);
void op_store_ls(conn *c, uint32_t id, cJSON *req);
void op_store_stats(conn *c, uint32_t id, cJSON *req);

#endif
