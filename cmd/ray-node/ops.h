/* ops.h: which part answers which request (ops.c). */
#ifndef RAY_NODE_OPS_H
#define RAY_NODE_OPS_H

#include "node.h"

void ops_dispatch(conn *c, uint32_t req_id, cJSON *req, const char *data, size_t dlen);

#endif
