/* stream.h: streaming returns, one object per line of a task's stdout
 * (stream.c). */
#ifndef RAY_NODE_STREAM_H
#define RAY_NODE_STREAM_H

#include "node.h"

/* t's process started with its stdout on the pipe whose read end is fd
 * (taken: closed by the stream).  0, or -1 (fd left to the caller). */
int stream_attach(task *t, int fd);
/* t's process was reaped: what its pipe holds is read now; retried: an
 * attempt follows, which skips the lines seen so far. */
void stream_reaped(task *t, int retried);
/* t ended (task_ended hook): the last lines are made and a waiting
 * reader is told. */
void stream_task_ended(task *t);
void op_stream_next(conn *c, uint32_t id, cJSON *req);
/* Adds a streaming task's counts to its ray-status record j:
 * stream_items (objects made) and stream_taken (refs its reader printed). */
void stream_status(const task *t, cJSON *j);
/* server close hook: a waiting reader left. */
void stream_conn_closed(conn *c);
void streams_free_all(void);

#endif
