/*
 * task.c: the task records every part shares: the table (by id and in
 * submission order, for ray-status), the run queue's links, dependencies
 * on objects, lending CPUs while blocked in a get, and how a task ends in
 * error.  Kept below the scheduler, placement, launching and the cluster
 * side, so that they all use it and it calls none of them: a task's end
 * and an actor call's readiness go out through hooks.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node.h"
#include "bundle.h"
#include "dlist.h"
#include "metrics.h"
#include "spill.h"
#include "store.h"
#include "task.h"
#include "transfer.h"

#define MAX_HISTORY 200000

task_hooks task_on;

void task_ended(task *t)
{
	if (t->start_ms && t->end_ms && !t->act && !t->exec_node[0])
		metrics_observe(H_TASK_RUN, t->end_ms - t->start_ms);
	if (task_on.ended)
		task_on.ended(t);
}

const char *task_state_name(int s)
{
	static const char *names[] = {
		"PENDING_ARGS_AVAIL", "PENDING_NODE_ASSIGNMENT", "SUBMITTED_TO_WORKER",
		"RUNNING", "FINISHED", "FAILED", "CANCELLED"
	};
	return s >= 0 && s <= T_CANCELLED ? names[s] : "UNKNOWN";
}

task *task_find(const char *id)
{
	return id ? map_get(&N->tasks, id) : NULL;
}

void task_release(task *t)
{
	ray_strv_free(t->argv);
	ray_strv_free(t->env);
	free(t->name);
	free(t->rets);
	free(t->deps);
	free(t->retry_codes);
	free(t->method);
	free(t->labels);
	free(t->prefer);
	free(t->worker);
	free(t->workdir);
	free(t);
}

void queue_push(task *t)
{
	t->state = T_PENDING_NODE;
	t->queued = 1;
	t->qnext = NULL;
	DL_APPEND(N->qhead, N->qtail, t, qprev, qnext);
	N->nqueued++;
}

void queue_remove(task *t)
{
	if (!t->queued)
		return;
	DL_REMOVE(N->qhead, N->qtail, t, qprev, qnext);
	t->queued = 0;
	N->nqueued--;
}

void task_unpin_deps(task *t)
{
	int i;

	for (i = 0; i < t->ndeps; i++)
		if (t->deps[i])
			store_unpin(t->deps[i]);
	free(t->deps);
	t->deps = NULL;
	t->ndeps = 0;
}

/* Drops the oldest finished tasks' records once history is long. */
/* The history kept, MAX_HISTORY unless RAY_TASK_HISTORY (a count, read
 * once) says less: make soak keeps it small, so that a full history does
 * not hide a leak. */
static size_t history_max(void)
{
	static size_t max;
	uint64_t v;
	const char *e;

	if (!max) {
		e = getenv("RAY_TASK_HISTORY");
		max = e && !ray_parse_uint(e, &v) && v > 0 && v < MAX_HISTORY ? (size_t)v : MAX_HISTORY;
	}
	return max;
}

void prune_history(void)
{
	task *t = N->thead, *next;

	while (N->ntasks > history_max() && t) {
		int i;
		next = t->next;
		if (t->state >= T_FINISHED && !t->proc_live && !t->pw) {
			for (i = 0; i < t->num_returns; i++)
				if (t->rets[i])
					t->rets[i]->producer = NULL;
			DL_REMOVE(N->thead, N->ttail, t, prev, next);
			map_del(&N->tasks, t->id);
			N->ntasks--;
			task_release(t);
		}
		t = next;
	}
}

void task_finish_error(task *t, int state, int code, const char *msg)
{
	int i;

	t->state = state;
	t->end_ms = ray_now_ms();
	N->nfailed++;
	task_unpin_deps(t);
	for (i = 0; i < t->num_returns; i++)
		if (t->rets[i])
			store_fail(t->rets[i], code, msg);
	task_ended(t);
}

void task_desc(const task *t, char *buf, size_t len)
{
	if (t->name)
		snprintf(buf, len, "task '%s' (%s)", t->name, t->id);
	else
		snprintf(buf, len, "task %s", t->id);
}

void task_add_dep(task *t, obj *o)
{
	obj **nd = realloc(t->deps, (size_t)(t->ndeps + 1) * sizeof(*nd));

	if (!nd)
		return;
	t->deps = nd;
	t->deps[t->ndeps++] = o;
	o->pins++;
	if (o->state == OBJ_PENDING || o->remote || (o->state == OBJ_READY && !obj_resident(o))) {
		/* Pending, elsewhere, or spilled: fetched or restored first. */
		t->deps_missing++;
		obj_add_dep(o, t);
		if (o->remote)
			fetch_start(o);
		else
			store_restore(o);
	}
}

void task_register(task *t)
{
	map_put(&N->tasks, t->id, t);
	DL_APPEND(N->thead, N->ttail, t, prev, next);
	N->ntasks++;
	N->ntask_total++;
	t->submit_ms = ray_now_ms();
}

void task_dep_ready(task *t, obj *o)
{
	char desc[256], msg[2048];

	if (t->state != T_PENDING_ARGS)
		return;
	if (o->state == OBJ_ERROR) {
		task_desc(t, desc, sizeof(desc));
		snprintf(msg, sizeof(msg), "%s: argument %s failed: %s", desc, o->ref,
		         o->err_msg ? o->err_msg : "error");
		task_finish_error(t, T_FAILED, o->err_code, msg);
		if (t->act)
			task_on.call_ready(t);
		return;
	}
	if (--t->deps_missing == 0) {
		if (t->act) {
			task_on.call_ready(t);
			return;
		}
		queue_push(t);
		node_kick();
	}
}

/* A task in a placement group lends to and takes back from its bundle. */
int task_lend(const char *id)
{
	task *t = task_find(id);
	res *pool;

	if (!t)
		return 0;
	if (t->state != T_RUNNING)
		return 1;
	if (t->lent++ == 0) {
		if ((pool = task_pool(t)))
			pool->cpu += t->req.cpu;
		node_kick();
	}
	return 1;
}

void task_unlend(const char *id)
{
	task *t = task_find(id);
	res *pool;

	if (!t || t->lent <= 0)
		return;
	if (--t->lent == 0 && t->state == T_RUNNING && (pool = task_pool(t)))
		pool->cpu -= t->req.cpu;
}

/* A new task whose dependencies are all added: waits for the missing,
 * fails at once on one that failed, else is queued (returns 1). */
int task_queue_if_ready(task *t)
{
	if (t->deps_missing) {
		t->state = T_PENDING_ARGS;
		return 0;
	}
	if (task_fail_on_failed_dep(t))
		return 0;
	queue_push(t);
	return 1;
}

int task_fail_on_failed_dep(task *t)
{
	int i;

	for (i = 0; i < t->ndeps; i++)
		if (t->deps[i]->state == OBJ_ERROR) {
			t->state = T_PENDING_ARGS;
			t->deps_missing = 1;
			task_dep_ready(t, t->deps[i]);
			return 1;
		}
	return 0;
}

void tasks_kill_all(void)
{
	task *t;

	for (t = N->thead; t; t = t->next)
		if (t->pid > 0 && t->proc_live)
			kill(-t->pid, SIGKILL);
}

void tasks_free_all(void)
{
	while (N->thead) {
		task *t = N->thead;
		N->thead = t->next;
		task_release(t);
	}
	N->ttail = NULL;
	map_release(&N->tasks);
}

/* The object a task run here for another node writes its result into
 * (the ref is the owner's): a copy left by an earlier attempt that
 * nobody reads is dropped first. */
obj *task_foreign_return(const char *ref)
{
	obj *o = store_find(ref);

	if (o && o->state != OBJ_PENDING && !o->nwait && !o->ndeps)
		store_free(o);
	o = store_find(ref);
	return o ? o : store_new(ref);
}
