/* task.h: the task records every part shares (task.c). */
#ifndef RAY_NODE_TASK_H
#define RAY_NODE_TASK_H

#include "node.h"

#define MAX_RETURNS 1024

/* How a task's end reaches the parts above, which node.c fills in. */
typedef struct task_hooks {
	void (*ended)(task *t);      /* finished or failed: tell its owner */
	void (*call_ready)(task *t); /* an actor call's arguments are in, or one failed */
} task_hooks;
extern task_hooks task_on;
/* Runs the ended hook; t joins the history. */
void task_ended(task *t);

/* A string vector shared by the tasks of a batch (their argv when the
 * same, their env): strv_share turns a ray_strv into one (v's array is
 * freed, its strings kept; NULL when out of memory, v then freed), held
 * once; strv_hold adds a holder; strv_drop frees it with the last. */
enum { SHARED_ARGV = 1, SHARED_ENV = 2 };
char **strv_share(char **v);
char **strv_hold(char **v);
void strv_drop(char **v);

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
/*
 * History: a node keeps its live tasks and its task_history_max most
 * recent finished ones in detail (ray-node --task-history).  Older ones
 * are evicted on a later loop turn (never under a handler that holds
 * one): gone from the table and ray-status lists, counted by state in
 * task_evicted(), their stderr log removed.  One whose results live only
 * on another node, and that may still be retried, keeps its record out of
 * the table for lineage (HIST_LINEAGE) until those objects are freed.
 */
enum { HIST_NONE, HIST_KEPT, HIST_LINEAGE };
#define TASK_HISTORY_DEFAULT 10000
extern size_t task_history_max;
/* --task-history was given; else RAY_TASK_HISTORY, when set, is the limit. */
extern int task_history_set;
void task_history_init(void);
/* Evicts what is over the limit, on the next loop turn. */
void prune_history(void);
/* Tasks evicted in state s since the node started. */
uint64_t task_evicted(int s);
/* A finished task runs again (lineage): back in the table, out of history. */
void task_revive(task *t);
/* The store frees o: a task kept only for o's lineage may go with it. */
void task_obj_freed(obj *o);

/* The run queue, FIFO; queue_push marks t PENDING_NODE_ASSIGNMENT. */
void queue_push(task *t);
void queue_remove(task *t);
/* task.queued of a queued task: Q_SHAPE when its placement hangs only on
 * its resource shape (no group, pin, label, preference or spread), so that
 * one placed nowhere means every later one of the same shape is placed
 * nowhere in the same pass; else Q_SPECIAL. */
#define Q_SPECIAL 1
#define Q_SHAPE 2
/* How many queued Q_SHAPE tasks ask for req; how many are Q_SPECIAL. */
size_t queue_class_count(const res *req);
size_t queue_special_count(void);
/* o, an argument of t, is ready or failed. */
void task_dep_ready(task *t, obj *o);
/* A new task whose dependencies are all added: waits for the missing,
 * fails at once on one that failed, else is queued (returns 1). */
int task_queue_if_ready(task *t);
/* A task none of whose arguments is missing: fails it with the first that
 * is an error object and returns 1, else 0. */
int task_fail_on_failed_dep(task *t);
/* A task blocked in a get lends its CPUs (0 when no such task), and takes
 * them back. */
int task_lend(const char *id);
void task_unlend(const char *task_id);

/* The object for result ref of a task run here for its owner node. */
obj *task_foreign_return(const char *ref);
void tasks_kill_all(void);
void tasks_free_all(void);

#endif
