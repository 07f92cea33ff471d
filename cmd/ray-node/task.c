/*
 * task.c: the task records every part shares: the table (by id and in
 * submission order, for ray-status), the run queue's links and its counts
 * by resource shape, dependencies on objects, lending CPUs while blocked
 * in a get, and how a task ends in error.  Kept below the scheduler,
 * placement, launching and the cluster side, so that they all use it and
 * it calls none of them: a task's end and an actor call's readiness go
 * out through hooks.
 */
#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "node.h"
#include "bundle.h"
#include "istr.h"
#include "dlist.h"
#include "metrics.h"
#include "spill.h"
#include "store.h"
#include "task.h"
#include "transfer.h"

task_hooks task_on;

static void history_add(task *t);

void task_ended(task *t)
{
	if (t->start_ms && t->end_ms && !t->act && !t->exec_node[0])
		metrics_observe(H_TASK_RUN, t->end_ms - t->start_ms);
	history_add(t);
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

/* The holders' count sits before the vector. */
typedef struct shv {
	size_t refs;
	char *v[];
} shv;

static shv *shv_of(char **v)
{
	return (shv *)(void *)((char *)v - offsetof(shv, v));
}

char **strv_share(char **v)
{
	size_t n = 0;
	shv *s;

	if (!v)
		return NULL;
	while (v[n])
		n++;
	if (!(s = malloc(sizeof(*s) + (n + 1) * sizeof(char *)))) {
		ray_strv_free(v);
		return NULL;
	}
	s->refs = 1;
	memcpy(s->v, v, (n + 1) * sizeof(char *));
	free(v);
	return s->v;
}

char **strv_hold(char **v)
{
	if (v)
		shv_of(v)->refs++;
	return v;
}

void strv_drop(char **v)
{
	shv *s;
	char **p;

	if (!v || --(s = shv_of(v))->refs)
		return;
	for (p = s->v; *p; p++)
		free(*p);
	free(s);
}

void task_release(task *t)
{
	if (t->shared & SHARED_ARGV)
		strv_drop(t->argv);
	else
		ray_strv_free(t->argv);
	if (t->shared & SHARED_ENV)
		strv_drop(t->env);
	else
		ray_strv_free(t->env);
	free(t->name);
	if (t->rets != &t->ret1)
		free(t->rets);
	free(t->deps);
	free(t->retry_codes);
	free(t->method);
	free(t->labels);
	free(t->prefer);
	free(t->gpu_ids);
	istr_drop(t->job);
	istr_drop(t->parent);
	free(t->worker);
	free(t->workdir);
	free(t);
}

/* Queued plain tasks counted by shape, in a table keyed by the shape's
 * pointer (shapes are interned and never freed, so entries stay), for
 * sched_run to see when all that is queued waits on shapes that fit
 * nowhere: then it stops at once, whatever the queue's depth. */
static struct qclass { const res *req; size_t n; } *qc;
static size_t qc_cap, qc_len, nspecial;

static size_t qc_hash(const res *req, size_t cap)
{
	return (size_t)(((uint64_t)(uintptr_t)req >> 4) * 0x9E3779B97F4A7C15ull >> 20) & (cap - 1);
}

/* The entry for req; with add, made when missing (NULL if out of memory). */
static struct qclass *qc_slot(const res *req, int add)
{
	size_t i;

	if (add && (qc_len + 1) * 2 > qc_cap) {
		size_t nc = qc_cap ? qc_cap * 2 : 16, j;
		struct qclass *nt = calloc(nc, sizeof(*nt));
		if (!nt)
			return NULL;
		for (j = 0; j < qc_cap; j++)
			if (qc[j].req) {
				for (i = qc_hash(qc[j].req, nc); nt[i].req; i = (i + 1) & (nc - 1))
					;
				nt[i] = qc[j];
			}
		free(qc);
		qc = nt;
		qc_cap = nc;
	}
	if (!qc_cap)
		return NULL;
	for (i = qc_hash(req, qc_cap); qc[i].req; i = (i + 1) & (qc_cap - 1))
		if (qc[i].req == req)
			return &qc[i];
	if (!add)
		return NULL;
	qc[i].req = req;
	qc_len++;
	return &qc[i];
}

static int placed_by_shape(const task *t)
{
	return t->req && !t->pg[0] && !t->owner[0] && !t->pin[0] && !t->spread && !t->prefer && !t->labels;
}

size_t queue_class_count(const res *req)
{
	struct qclass *c = qc_slot(req, 0);

	return c ? c->n : 0;
}

size_t queue_special_count(void)
{
	return nspecial;
}

void queue_push(task *t)
{
	struct qclass *c = placed_by_shape(t) ? qc_slot(t->req, 1) : NULL;

	t->state = T_PENDING_NODE;
	t->queued = c ? Q_SHAPE : Q_SPECIAL;
	if (c)
		c->n++;
	else
		nspecial++;
	t->qnext = NULL;
	DL_APPEND(N->qhead, N->qtail, t, qprev, qnext);
	N->nqueued++;
}

void queue_remove(task *t)
{
	struct qclass *c;

	if (!t->queued)
		return;
	DL_REMOVE(N->qhead, N->qtail, t, qprev, qnext);
	if (t->queued == Q_SPECIAL)
		nspecial--;
	else if ((c = qc_slot(t->req, 0)) && c->n)
		c->n--;
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

/* ---- history ---- */

size_t task_history_max = TASK_HISTORY_DEFAULT;
int task_history_set;
static task *hhead, *htail;     /* HIST_KEPT, in the order they ended */
static size_t nhist;
static task *lhead, *ltail;     /* HIST_LINEAGE */
static uint64_t evicted[T_CANCELLED + 1];
static uv_idle_t hist_idle;
static int hist_ready;

uint64_t task_evicted(int s)
{
	return s >= 0 && s <= T_CANCELLED ? evicted[s] : 0;
}

static void history_add(task *t)
{
	if (t->hist != HIST_NONE || t->state < T_FINISHED || !task_find(t->id))
		return;
	t->hist = HIST_KEPT;
	DL_APPEND(hhead, htail, t, hprev, hnext);
	nhist++;
	prune_history();
}

/* Whether o, a result of t, may need t run again: its bytes are only on
 * another node, and t may still be retried (an owner rebuilds it when
 * that node dies). */
static int lineage_needed(const task *t, const obj *o)
{
	return !t->act && !t->owner[0] && t->attempt < t->max_retries && o->state == OBJ_READY &&
	       o->remote && !o->foreign;
}

static void evict(task *t)
{
	char path[PATH_MAX + 64];
	int i, keep = 0;

	DL_REMOVE(hhead, htail, t, hprev, hnext);
	nhist--;
	for (i = 0; i < t->num_returns; i++) {
		obj *o = t->rets[i];
		if (!o || o->producer != t)
			continue;
		/* The job it belongs to outlives the record (ray-job stop frees it). */
		if (!o->job)
			o->job = istr_hold(t->job);
		if (lineage_needed(t, o)) {
			keep = 1;
		} else {
			o->producer = NULL;
			t->rets[i] = NULL;
		}
	}
	DL_REMOVE(N->thead, N->ttail, t, prev, next);
	map_del(&N->tasks, t->id);
	N->ntasks--;
	evicted[t->state]++;
	snprintf(path, sizeof(path), "%s/%s.err", N->logdir, t->id);
	unlink(path);
	if (!keep) {
		t->hist = HIST_NONE;
		task_release(t);
		return;
	}
	t->hist = HIST_LINEAGE;
	DL_APPEND(lhead, ltail, t, hprev, hnext);
}

static void on_hist_idle(uv_idle_t *h)
{
	size_t n = nhist;

	uv_idle_stop(h);
	/* A task whose process is not reaped yet, or that a pooled worker
	 * still points at, waits its turn again. */
	while (nhist > task_history_max && n--) {
		task *t = hhead;
		if (t->proc_live || t->pw) {
			DL_REMOVE(hhead, htail, t, hprev, hnext);
			DL_APPEND(hhead, htail, t, hprev, hnext);
			continue;
		}
		evict(t);
	}
}

void task_history_init(void)
{
	const char *e = getenv("RAY_TASK_HISTORY");
	uint64_t v;

	/* make soak sets it on every node it starts (a small history, so a
	 * full one is not taken for a leak). */
	if (!task_history_set && e && !ray_parse_uint(e, &v) && v <= 100000000)
		task_history_max = (size_t)v;
	uv_idle_init(N->loop, &hist_idle);
	hist_ready = 1;
}

void prune_history(void)
{
	if (hist_ready && nhist > task_history_max)
		uv_idle_start(&hist_idle, on_hist_idle);
}

void task_revive(task *t)
{
	if (t->hist == HIST_KEPT) {
		DL_REMOVE(hhead, htail, t, hprev, hnext);
		nhist--;
	} else if (t->hist == HIST_LINEAGE) {
		DL_REMOVE(lhead, ltail, t, hprev, hnext);
		evicted[t->state]--;
		map_put(&N->tasks, t->id, t);
		DL_APPEND(N->thead, N->ttail, t, prev, next);
		N->ntasks++;
	}
	t->hist = HIST_NONE;
}

void task_obj_freed(obj *o)
{
	task *t = o->producer;
	int i, left = 0;

	if (!t || t->hist != HIST_LINEAGE)
		return;
	o->producer = NULL;
	for (i = 0; i < t->num_returns; i++) {
		if (t->rets[i] == o)
			t->rets[i] = NULL;
		left += t->rets[i] != NULL;
	}
	if (left)
		return;
	DL_REMOVE(lhead, ltail, t, hprev, hnext);
	t->hist = HIST_NONE;
	task_release(t);
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
	static const res none;

	if (!t->req)
		t->req = &none;   /* actor calls ask for nothing */
	if (!t->job)
		t->job = istr_hold("00000000");
	if (!t->parent)
		t->parent = istr_hold("");
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
			pool->cpu += t->req->cpu;
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
		pool->cpu -= t->req->cpu;
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

/* Frees a task at teardown: its objects outlive it (the store goes last)
 * and must not reach back into it when they are freed. */
static void task_free_detached(task *t)
{
	int i;

	for (i = 0; t->rets && i < t->num_returns; i++)
		if (t->rets[i] && t->rets[i]->producer == t)
			t->rets[i]->producer = NULL;
	task_release(t);
}

void tasks_free_all(void)
{
	while (N->thead) {
		task *t = N->thead;
		N->thead = t->next;
		task_free_detached(t);
	}
	N->ttail = NULL;
	while (lhead) {
		task *t = lhead;
		lhead = t->hnext;
		task_free_detached(t);
	}
	ltail = hhead = htail = NULL;
	nhist = 0;
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
