/* sched.h: what sched.c offers: the task table and the run queue.  (Unit
 * tests include this directory with -iquote, so that this name never hides
 * the system <sched.h> that pthread.h includes.) */
#ifndef RAY_NODE_SCHED_H
#define RAY_NODE_SCHED_H

#include "node.h"

#define MAX_RETURNS 1024

const char *task_state_name(int s);
task *task_find(const char *id);
/* Adds t to the task table and the history list. */
void task_register(task *t);
/* Frees t and all it owns; t must be in neither the table nor the queue. */
void task_release(task *t);
void task_desc(const task *t, char *buf, size_t len);
/* t reads o: pinned, and waited for (fetched, restored) unless resident. */
void task_add_dep(task *t, obj *o);
void task_unpin_deps(task *t);
/* Ends t in state with every return an error object (code, msg). */
void task_finish_error(task *t, int state, int code, const char *msg);
/* Drops the oldest finished tasks' records once history is long. */
void prune_history(void);

/* The run queue, FIFO; queue_push marks t PENDING_NODE_ASSIGNMENT. */
void queue_push(task *t);
void queue_remove(task *t);
/* Starts or forwards what fits, in queue order. */
void sched_run(void);
void sched_dep_ready(task *t, obj *o);
/* A new task whose dependencies are all added: waits for the missing,
 * fails at once on one that failed, else is queued (returns 1). */
int task_queue_if_ready(task *t);
void task_lend(task *t);
void task_unlend(const char *task_id);
void op_submit(conn *c, uint32_t id, cJSON *req);
void op_cancel(conn *c, uint32_t id, cJSON *req);
void sched_kill_all(void);
void tasks_free_all(void);

#endif
