/* remote.h: tasks forwarded to, or run for, another node. */
#ifndef RAY_NODE_REMOTE_H
#define RAY_NODE_REMOTE_H

#include "node.h"

/* A task has ended: tells its owner when it was run for another node. */
void remote_task_ended(task *t);
/* An owner asks this node to run a task; its result stays here. */
void op_task_run(conn *c, uint32_t id, cJSON *req);
/* The node that ran a forwarded task says how it ended. */
void op_task_done(conn *c, uint32_t id, cJSON *req, const char *data, size_t dlen);
/* Node id died: its tasks are retried, its objects rebuilt or lost. */
void remote_node_died(const char *id);

#endif
