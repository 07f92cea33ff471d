/* status.h: ray-status's queries and task logs (status.c). */
#ifndef RAY_NODE_STATUS_H
#define RAY_NODE_STATUS_H

#include "node.h"

void op_status(conn *c, uint32_t id, cJSON *req);
void op_logs(conn *c, uint32_t id, cJSON *req);
#endif
