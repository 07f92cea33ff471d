/* sched.h: what sched.c offers: submitting, placing in queue order,
 * cancelling.  (Unit tests include this directory with -iquote, so that
 * this name never hides the system <sched.h> that pthread.h includes.) */
#ifndef RAY_NODE_SCHED_H
#define RAY_NODE_SCHED_H

#include "node.h"

/* Starts or forwards what fits, in queue order. */
void sched_run(void);

/* What the scheduler asks of the actors above it, which node.c fills in. */
typedef struct sched_hooks {
	void (*before_run)(void);   /* actors start before tasks take what is free */
	/* A call (t->act, or t->handle: made here for an actor elsewhere);
	 * 1 when cancelled. */
	int (*call_cancel)(task *t, const char *msg, int tree);
	void (*start_pooled)(task *t);  /* runs a pooled task placed here */
	const char *(*task_of)(const char *id); /* a busy worker's id: its task's */
} sched_hooks;
extern sched_hooks sched_on;

/* A task's placement fields from task options, checked as ray-submit
 * checks them (actors are placed as tasks are); shape->labels and
 * ->prefer are owned by the caller.  warning gets an infeasibility note. */
int sched_shape(const cJSON *opts, task *shape, char *warning, size_t wlen, ray_err *err);
/* The same for a record of the state store: its node and group are not
 * checked against the view (they were when it was made). */
int sched_shape_saved(const cJSON *opts, task *shape, ray_err *err);
void op_submit(conn *c, uint32_t id, cJSON *req);
void op_cancel(conn *c, uint32_t id, cJSON *req);
/* Asks node node_id to cancel the task that makes ref there (a task or a
 * call it runs for us), with the tasks it submitted when tree is set. */
void sched_cancel_on(const char *node_id, const char *ref, int force, int tree);

#endif
