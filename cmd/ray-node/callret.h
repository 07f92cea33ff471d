/* callret.h: a call's answer stored as its task's return objects (callret.c). */
#ifndef RAY_NODE_CALLRET_H
#define RAY_NODE_CALLRET_H

#include "node.h"

/*
 * Stores data, the result part of an answer in protocol (proto.h P_*), as
 * t's returns: whole when t has one, else split into t->num_returns items
 * (TAB-separated text, each getting its newline, or u32-prefixed frame
 * items).  0 when stored (a result the store cannot take becomes an error
 * object), or -1 with why set when the answer does not hold num_returns
 * items; nothing is stored then.
 */
int callret_store(task *t, int protocol, const char *data, size_t len, char *why, size_t wlen);

#endif
