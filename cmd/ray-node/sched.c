/*
 * sched.c: tasks from submission to a place to run.  A task waits for its
 * @REF and --stdin objects (PENDING_ARGS_AVAIL), then for resources in a
 * FIFO run queue (PENDING_NODE_ASSIGNMENT), scanned whenever resources
 * may have freed (past the shapes that fit nowhere, and no further once
 * only those are left); place.c picks its node, launch.c runs it, remote.c
 * follows it elsewhere.  A task blocked in ray-get lends its CPUs back
 * to its pool.  Finished tasks are kept for ray-status, oldest dropped
 * first once the history is long.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node.h"
#include "cluster.h"
#include "dlist.h"
#include "istr.h"
#include "launch.h"
#include "peer.h"
#include "pg.h"
#include "place.h"
#include "proto.h"
#include "res.h"
#include "sched.h"
#include "server.h"
#include "store.h"
#include "task.h"
#include "workdir.h"

#define SCAN_LIMIT 512
#define BLOCKED_MAX 8

/* ---- the run queue ---- */

sched_hooks sched_on;

/* Shapes found to fit nowhere in this pass: the later tasks of such a
 * shape are skipped without asking place() (resources only shrink while
 * a pass places tasks), and once every queued task is of one of them the
 * pass ends, so a pass costs the same with a million tasks queued as with
 * ten.  Only the first BLOCKED_MAX shapes are kept; the rest are scanned
 * as before. */
typedef struct blocked {
	const res *req[BLOCKED_MAX];
	int n;
} blocked;

static int is_blocked(const blocked *b, const task *t)
{
	int i;

	if (t->queued != Q_SHAPE)
		return 0;
	for (i = 0; i < b->n; i++)
		if (b->req[i] == t->req)
			return 1;
	return 0;
}

static void block(blocked *b, const task *t)
{
	if (t->queued == Q_SHAPE && b->n < BLOCKED_MAX && !is_blocked(b, t))
		b->req[b->n++] = t->req;
}

/* Whether every queued task waits on a blocked shape. */
static int all_blocked(const blocked *b)
{
	size_t sum = 0;
	int i;

	if (!b->n || queue_special_count())
		return 0;
	for (i = 0; i < b->n; i++)
		sum += queue_class_count(b->req[i]);
	return sum >= N->nqueued;
}

void sched_run(void)
{
	task *t, *next;
	blocked b;
	int scanned = 0;

	b.n = 0;
	if (sched_on.before_run)
		sched_on.before_run();
	t = N->qhead;

	while (t && scanned < SCAN_LIMIT && !N->stopping) {
		int where;
		next = t->qnext;
		/* A retried task's process handle may still be closing. */
		if (t->proc_live || is_blocked(&b, t)) {
			scanned++;
			t = next;
			continue;
		}
		where = place(t);
		if (where == 0 && !gpu_can_take(t->req)) {
			scanned++;   /* the GPUs fit, but no device is free enough */
			block(&b, t);
			if (all_blocked(&b))
				break;
			t = next;
			continue;
		}
		if (where == 0) {
			queue_remove(t);
			if (t->worker)
				sched_on.start_pooled(t);
			else
				task_start(t);
		} else if (where == 1) {
			queue_remove(t);
			t->state = T_SUBMITTED;
		} else if (where == 2) {
			/* failed and dequeued by place() */
		} else {
			scanned++;
			block(&b, t);
		}
		if (all_blocked(&b))
			break;
		t = next;
	}
}

/* ---- requests ---- */

typedef struct tmpl {
	res req;
	const res *ireq;          /* req interned, for the batch's tasks */
	int num_returns, max_retries, retry_exceptions;
	int blocked;              /* unused: placement decides */
	char labels[600];         /* ",k=v,k=v," or "" */
	const char *prefer;
	char pin[RAY_NODEID_LEN + 1];
	int pin_soft, spread;
	char pg[RAY_ID_MAX + 1];
	int bundle;
	int *codes; int ncodes;
	const char *name, *stdin_ref, *job;
	const char *parent;       /* the submitting task, or NULL */
	const char *working_dir;  /* a path or a ref, or NULL */
	int stream_bp;            /* --stream's backpressure, or 0 */
	char **env;
	const char *worker;       /* --worker CMDLINE, or NULL */
	int wproto;
	char warning[512];
} tmpl;

/* Reading a record of the state store back: the nodes and groups it
 * names were checked when it was made, and may not be known yet. */
static int from_store;

static int parse_opts(const cJSON *o, tmpl *tp, ray_err *err)
{
	const cJSON *a, *it;
	char buf[256];
	const char *pin, *pgname;
	int rc;

	memset(tp, 0, sizeof(*tp));
	if ((rc = res_parse_request(o, &tp->req, err)))
		return rc;
	tp->num_returns = (int)rj_int(o, "num_returns", 1);
	if (tp->num_returns < 1 || tp->num_returns > MAX_RETURNS)
		return ray_seterr(err, RAY_EUSAGE, "--num-returns must be 1..%d", MAX_RETURNS);
	tp->max_retries = (int)rj_int(o, "max_retries", 3);
	if (tp->max_retries < 0 || tp->max_retries > 1000000)
		return ray_seterr(err, RAY_EUSAGE, "bad --max-retries");
	tp->retry_exceptions = rj_bool(o, "retry_exceptions");
	a = cJSON_GetObjectItemCaseSensitive(o, "retry_exit_codes");
	if (cJSON_IsArray(a) && cJSON_GetArraySize(a) > 0) {
		int n = cJSON_GetArraySize(a), i = 0;
		if (n > 256)
			return ray_seterr(err, RAY_EUSAGE, "too many --retry-exit-codes");
		tp->codes = calloc((size_t)n, sizeof(int));
		if (!tp->codes)
			return ray_seterr(err, RAY_ERESOURCE, "out of memory");
		cJSON_ArrayForEach(it, a)
			tp->codes[i++] = cJSON_IsNumber(it) ? (int)it->valuedouble : -1;
		tp->ncodes = n;
	}
	tp->name = rj_str(o, "name");
	tp->stdin_ref = rj_str(o, "stdin");
	tp->job = rj_str(o, "job_id");
	if (tp->job && (strlen(tp->job) > RAY_ID_MAX || !*tp->job))
		return ray_seterr(err, RAY_EUSAGE, "bad job id");
	tp->stream_bp = (int)rj_int(o, "stream", 0);
	if (tp->stream_bp < 0 || tp->stream_bp > 1000000)
		return ray_seterr(err, RAY_EUSAGE, "bad --backpressure: want 1..1000000");
	if (tp->stream_bp && tp->num_returns != 1)
		return ray_seterr(err, RAY_EUSAGE, "--stream makes one object per line: no --num-returns");
	tp->working_dir = rj_str(o, "working_dir");
	if (tp->working_dir && !from_store && (rc = workdir_check(tp->working_dir, err)))
		return rc;
	tp->parent = rj_str(o, "parent");
	if (tp->parent && strlen(tp->parent) > RAY_ID_MAX)
		tp->parent = NULL;   /* only links it for cancelling: never refused */
	a = cJSON_GetObjectItemCaseSensitive(o, "env");
	if (a) {
		tp->env = json_strv(a, 1, err);
		if (!tp->env)
			return err->code;
	}
	pin = rj_str(o, "node");
	if (pin) {
		size_t nl = strcspn(pin, ":");
		int soft = pin[nl] == ':' && !strcmp(pin + nl + 1, "soft");
		rnode *r;
		if ((pin[nl] && !soft) || nl != RAY_NODEID_LEN)
			return ray_seterr(err, RAY_EUSAGE, "bad --node '%.80s': want NODE_ID or NODE_ID:soft", pin);
		snprintf(tp->pin, sizeof(tp->pin), "%.*s", (int)nl, pin);
		tp->pin_soft = soft;
		r = view_find(tp->pin);
		if (from_store)
			r = NULL, soft = 1;   /* checked when it was made */
		if (!soft && !r)
			return ray_seterr(err, RAY_ENOTFOUND, "unknown node '%s'", tp->pin);
		if (!soft && !r->alive)
			return ray_seterr(err, RAY_ERESOURCE, "node '%s' is dead: the task can never be placed", tp->pin);
		if (!soft && res_missing_on(&tp->req, &r->total, "that node", buf, sizeof(buf)))
			return ray_seterr(err, RAY_ERESOURCE,
			                  "node '%s' can never hold the task, which asks for %s: ask for less or pin it to a bigger node",
			                  tp->pin, buf);
	}
	pgname = rj_str(o, "pg");
	tp->bundle = -1;
	if (pgname && from_store) {
		const char *gid = pg_resolve_id(pgname);
		snprintf(tp->pg, sizeof(tp->pg), "%s", gid ? gid : pgname);
		tp->bundle = (int)rj_int(o, "bundle", -1);
	} else if (pgname) {
		const char *gid = pg_resolve_id(pgname);
		int ready, nb;
		int64_t bi = rj_int(o, "bundle", -1);
		if (!gid)
			return ray_seterr(err, RAY_ENOTFOUND, "unknown placement group '%.80s'", pgname);
		if (!pg_bundle_node(gid, -1, &ready, &nb))
			return ray_seterr(err, RAY_ENOTFOUND, "placement group '%.80s' was removed", pgname);
		if (bi >= nb)
			return ray_seterr(err, RAY_EUSAGE, "placement group %s has no bundle %lld (it has %d)",
			                  gid, (long long)bi, nb);
		if (!pg_bundle_fits(gid, (int)bi, &tp->req))
			return ray_seterr(err, RAY_ERESOURCE,
			                  "the task asks for more than %s of placement group %s holds; "
			                  "ask for less (--cpus, --gpus, --resource) or use a bigger bundle",
			                  bi < 0 ? "any bundle" : "its bundle", gid);
		snprintf(tp->pg, sizeof(tp->pg), "%s", gid);
		tp->bundle = bi < 0 ? -1 : (int)bi;
	}
	tp->worker = rj_str(o, "worker");
	if (tp->worker && (!tp->worker[strspn(tp->worker, " \t\n")] || strlen(tp->worker) > 65536))
		return ray_seterr(err, RAY_EUSAGE, "bad --worker: want a command line");
	if (tp->worker && tp->stdin_ref)
		return ray_seterr(err, RAY_EUSAGE, "--stdin is for command tasks: a pooled task's input is its arguments");
	tp->wproto = proto_parse_name(rj_str(o, "protocol"));
	if (tp->wproto < 0)
		return ray_seterr(err, RAY_EUSAGE, "bad --protocol '%.40s': want line, tagged or frame",
		                  rj_str(o, "protocol"));
	tp->prefer = rj_str(o, "prefer_label");
	a = cJSON_GetObjectItemCaseSensitive(o, "labels");
	tp->labels[0] = '\0';
	cJSON_ArrayForEach(it, a) {
		if (!cJSON_IsString(it) || !strchr(it->valuestring, '=') ||
		    strlen(tp->labels) + strlen(it->valuestring) + 2 >= sizeof(tp->labels))
			return ray_seterr(err, RAY_EUSAGE, "bad --label: want KEY=VAL");
		if (!tp->labels[0])
			strcat(tp->labels, ",");
		strcat(tp->labels, it->valuestring);
		strcat(tp->labels, ",");
	}
	tp->spread = rj_str(o, "strategy") && !strcmp(rj_str(o, "strategy"), "spread");
	{
		task probe;
		memset(&probe, 0, sizeof(probe));
		probe.req = &tp->req;
		probe.labels = tp->labels[0] ? tp->labels : NULL;
		if (!tp->pin_soft && tp->pin[0])
			snprintf(probe.pin, sizeof(probe.pin), "%s", tp->pin);
		if (!tp->pg[0] && place_infeasible_reason(&probe, buf, sizeof(buf)))
			snprintf(tp->warning, sizeof(tp->warning),
			         "infeasible: %s; the task stays pending until a node that fits joins", buf);
	}
	return 0;
}

/* The placement fields of a task (resources, pins, labels, strategy,
 * group) from task options, checked as for ray-submit: for actors, which
 * are placed as tasks are.  shape->labels and ->prefer are owned. */
int sched_shape_saved(const cJSON *opts, task *shape, ray_err *err)
{
	int rc;

	from_store = 1;
	rc = sched_shape(opts, shape, NULL, 0, err);
	from_store = 0;
	return rc;
}

int sched_shape(const cJSON *opts, task *shape, char *warning, size_t wlen, ray_err *err)
{
	tmpl tp;
	int rc = parse_opts(opts, &tp, err);

	free(tp.codes);
	ray_strv_free(tp.env);
	if (rc)
		return rc;
	memset(shape, 0, sizeof(*shape));
	if (!(shape->req = res_intern(&tp.req)))
		return ray_seterr(err, RAY_ERESOURCE, "out of memory (or too many resource shapes)");
	shape->labels = tp.labels[0] ? strdup(tp.labels) : NULL;
	shape->prefer = tp.prefer ? strdup(tp.prefer) : NULL;
	snprintf(shape->pin, sizeof(shape->pin), "%s", tp.pin);
	shape->pin_soft = tp.pin_soft;
	shape->spread = tp.spread;
	snprintf(shape->pg, sizeof(shape->pg), "%s", tp.pg);
	shape->bundle = tp.bundle;
	if (warning && wlen)
		snprintf(warning, wlen, "%s", tp.warning);
	return 0;
}

/* Checks that every ref named by a task exists; returns the bad one.  A
 * pooled task (tp->worker) is METHOD ARG... that its protocol can carry. */
static int check_task_refs(const tmpl *tp, const cJSON *t, ray_err *err)
{
	char refs[65][RAY_REF_MAX + 1];
	const cJSON *it;
	int n, i, rc;

	if (tp->worker && (!cJSON_IsArray(t) || !cJSON_IsString(t->child) || !t->child->valuestring[0]))
		return ray_seterr(err, RAY_EUSAGE, "a pooled task is METHOD [ARG...], with a method name");
	if (cJSON_IsString(t)) {
		n = line_refs(t->valuestring, refs, 65);
		if (n > 64)
			return ray_seterr(err, RAY_EUSAGE, "a command line names more than 64 @REF objects; "
			                  "pass them as arguments instead (ray-submit -- CMD @REF...)");
		for (i = 0; i < n; i++)
			if (!store_lookup(refs[i]))
				return ray_seterr(err, RAY_ENOTFOUND, "unknown ref '%s'", refs[i]);
		return 0;
	}
	if (!cJSON_IsArray(t) || cJSON_GetArraySize(t) < 1)
		return ray_seterr(err, RAY_EUSAGE, "empty command");
	cJSON_ArrayForEach(it, t) {
		const char *a;
		if (!cJSON_IsString(it))
			return ray_seterr(err, RAY_EUSAGE, "command words must be strings");
		a = it->valuestring;
		if (tp->worker && tp->wproto != P_FRAME && strpbrk(a, "\t\n"))
			return ray_seterr(err, RAY_EUSAGE,
			                  "'%.40s' holds a TAB or newline, which the %s protocol cannot carry: pass it as an @REF or use --protocol frame",
			                  a, proto_name(tp->wproto));
		if (it == t->child && tp->worker)
			continue;   /* the method name */
		if ((rc = task_arg_check(a, err)))
			return rc;
	}
	return 0;
}

/* The last argv made in a batch, held: the next task with the same
 * command shares it (a batch of one command, a million times). */
typedef struct last_argv {
	char **argv;
	int shell;
} last_argv;

static int same_command(const last_argv *l, const cJSON *spec)
{
	const cJSON *it;
	int i = 0;

	if (!l->argv)
		return 0;
	if (cJSON_IsString(spec))
		return l->shell && !strcmp(l->argv[2], spec->valuestring);
	if (l->shell)
		return 0;
	cJSON_ArrayForEach(it, spec)
		if (!cJSON_IsString(it) || !l->argv[i] || strcmp(l->argv[i++], it->valuestring))
			return 0;
	return !l->argv[i];
}

/* A task submitted by one that was cancelled with its tree while it was
 * being asked for (the parent's SIGTERM races its last submissions). */
static int parent_cancelled(const task *t)
{
	const task *p = t->parent[0] ? task_find(t->parent) : NULL;

	return p && p->cancel_tree;
}

static task *task_create(const tmpl *tp, const cJSON *spec, last_argv *last, cJSON *refs_out)
{
	task *t = calloc(1, sizeof(*t));
	char rnd[17], ref[RAY_REF_MAX + 1];
	int i;

	if (!t)
		return NULL;
	ray_random_hex(rnd, 8);
	snprintf(t->id, sizeof(t->id), "%s%s", N->id, rnd);
	t->job = istr_hold(tp->job ? tp->job : "00000000");
	/* Submitted from a pooled worker or an actor: the parent is the call
	 * it serves. */
	t->parent = istr_hold(!tp->parent ? "" : sched_on.task_of ? sched_on.task_of(tp->parent) : tp->parent);
	if (tp->working_dir && !(t->workdir = strdup(tp->working_dir))) {
		task_release(t);
		return NULL;
	}
	t->name = tp->name ? strdup(tp->name) : NULL;
	t->req = tp->ireq;
	t->labels = tp->labels[0] ? strdup(tp->labels) : NULL;
	t->prefer = tp->prefer ? strdup(tp->prefer) : NULL;
	snprintf(t->pin, sizeof(t->pin), "%s", tp->pin);
	t->pin_soft = tp->pin_soft;
	t->stream_bp = tp->stream_bp;
	if (t->stream_bp) {
		/* Its lines are read by the node that runs it, which its
		 * reader asks: this one. */
		snprintf(t->pin, sizeof(t->pin), "%s", N->id);
		t->pin_soft = 0;
	}
	t->spread = tp->spread;
	snprintf(t->pg, sizeof(t->pg), "%s", tp->pg);
	t->bundle = tp->bundle;
	t->num_returns = tp->num_returns;
	t->max_retries = tp->max_retries;
	t->retry_exceptions = tp->retry_exceptions;
	if (tp->ncodes) {
		t->retry_codes = malloc((size_t)tp->ncodes * sizeof(int));
		if (t->retry_codes) {
			memcpy(t->retry_codes, tp->codes, (size_t)tp->ncodes * sizeof(int));
			t->nretry_codes = tp->ncodes;
		}
	}
	if (tp->env) {
		t->env = strv_hold(tp->env);   /* shared by op_submit */
		t->shared |= SHARED_ENV;
	}
	if (same_command(last, spec)) {
		t->shell = last->shell;
		t->argv = strv_hold(last->argv);
	} else if (cJSON_IsString(spec)) {
		t->shell = 1;
		t->argv = calloc(4, sizeof(char *));
		if (t->argv) {
			t->argv[0] = strdup("/bin/sh");
			t->argv[1] = strdup("-c");
			t->argv[2] = strdup(spec->valuestring);
		}
	} else {
		t->argv = json_strv(spec, 0, NULL);
	}
	if (t->argv && t->argv != last->argv) {
		if (t->shell && (!t->argv[0] || !t->argv[1] || !t->argv[2])) {
			ray_strv_free(t->argv);
			t->argv = NULL;
		}
		if ((t->argv = strv_share(t->argv))) {
			strv_drop(last->argv);
			last->argv = strv_hold(t->argv);
			last->shell = t->shell;
		}
	}
	if (t->argv)
		t->shared |= SHARED_ARGV;
	t->rets = t->num_returns == 1 ? &t->ret1 : calloc((size_t)t->num_returns, sizeof(obj *));
	if (tp->worker) {
		t->worker = strdup(tp->worker);
		t->wproto = tp->wproto;
	}
	if (!t->argv || !t->rets || !t->job || !t->parent || (tp->worker && !t->worker)) {
		task_release(t);
		return NULL;
	}
	task_register(t);
	for (i = 0; i < t->num_returns; i++) {
		snprintf(ref, sizeof(ref), "%s%08x", t->id, (unsigned)(i + 1));
		t->rets[i] = store_new(ref);
		if (t->rets[i])
			t->rets[i]->producer = t;
		cJSON_AddItemToArray(refs_out, cJSON_CreateString(ref));
	}
	/* Dependencies: @REF words and --stdin. */
	if (t->shell) {
		char refs[64][RAY_REF_MAX + 1];
		int n = line_refs(t->argv[2], refs, 64);
		for (i = 0; i < n; i++)
			task_add_dep(t, store_find(refs[i]));
	} else {
		for (i = t->worker ? 1 : 0; t->argv[i]; i++)
			if (is_ref_arg(t->argv[i]))
				task_add_dep(t, store_find(t->argv[i] + 1));
	}
	if (tp->stdin_ref) {
		t->stdin_obj = store_find(tp->stdin_ref);
		task_add_dep(t, t->stdin_obj);
	}
	/* An archive to unpack: here (pulled, restored) before the task runs. */
	if (t->workdir && ray_ref_valid(t->workdir))
		task_add_dep(t, store_find(t->workdir));
	if (parent_cancelled(t)) {
		char desc[256], msg[512];
		task_desc(t, desc, sizeof(desc));
		snprintf(msg, sizeof(msg), "%s was cancelled with task %s, which submitted it", desc, t->parent);
		task_finish_error(t, T_CANCELLED, RAY_ECANCEL, msg);
		return t;
	}
	task_queue_if_ready(t);
	return t;
}

void op_submit(conn *c, uint32_t id, cJSON *req)
{
	const cJSON *opts = cJSON_GetObjectItemCaseSensitive(req, "opts");
	const cJSON *tasks = cJSON_GetObjectItemCaseSensitive(req, "tasks"), *it;
	cJSON *r, *refs;
	ray_err err = { 0, "" };
	last_argv last = { NULL, 0 };
	tmpl tp;
	int rc;

	if (!cJSON_IsArray(tasks)) {
		conn_reply_err(c, id, RAY_EUSAGE, "submit wants tasks");
		return;
	}
	rc = parse_opts(opts, &tp, &err);
	if (rc == RAY_ENOTFOUND && !tp.pg[0] && rj_str(opts, "pg") && pg_refresh_then(c, id, req, op_submit)) {
		/* a group made a moment ago through another node: ask the head */
		free(tp.codes);
		ray_strv_free(tp.env);
		return;
	}
	if (!rc && !(tp.ireq = res_intern(&tp.req)))
		rc = ray_seterr(&err, RAY_ERESOURCE, "out of memory (or %d resource shapes already)", RES_SHAPES_MAX);
	if (!rc && tp.stdin_ref && !ray_ref_valid(tp.stdin_ref))
		rc = ray_seterr(&err, RAY_EUSAGE, "malformed ref '%.80s'", tp.stdin_ref);
	if (!rc && tp.stdin_ref && !store_lookup(tp.stdin_ref))
		rc = ray_seterr(&err, RAY_ENOTFOUND, "unknown ref '%s'", tp.stdin_ref);
	cJSON_ArrayForEach(it, tasks) {
		if (rc)
			break;
		rc = check_task_refs(&tp, it, &err);
	}
	if (rc) {
		conn_reply_err(c, id, rc, "%s", err.msg);
		free(tp.codes);
		ray_strv_free(tp.env);
		return;
	}
	r = cJSON_CreateObject();
	refs = cJSON_AddArrayToObject(r, "refs");
	/* One copy of the environment for the batch. */
	if (tp.env && !(tp.env = strv_share(tp.env))) {
		cJSON_Delete(r);
		conn_reply_err(c, id, RAY_ERESOURCE, "out of memory");
		free(tp.codes);
		return;
	}
	cJSON_ArrayForEach(it, tasks)
		if (!task_create(&tp, it, &last, refs)) {
			cJSON_Delete(r);
			conn_reply_err(c, id, RAY_ERESOURCE, "out of memory");
			free(tp.codes);
			strv_drop(tp.env);
			strv_drop(last.argv);
			return;
		}
	if (tp.warning[0])
		cJSON_AddStringToObject(r, "warning", tp.warning);
	free(tp.codes);
	strv_drop(tp.env);
	strv_drop(last.argv);
	conn_reply(c, id, r, NULL, 0);
	sched_run();
}

static int cancel_task(task *t, obj *o, int force, int tree);

void sched_cancel_on(const char *node_id, const char *ref, int force, int tree)
{
	peer *p = peer_node(node_id);
	cJSON *fw, *a;

	if (!p)
		return;
	fw = cJSON_CreateObject();
	a = cJSON_AddArrayToObject(fw, "refs");
	cJSON_AddStringToObject(fw, "op", "cancel");
	cJSON_AddItemToArray(a, cJSON_CreateString(ref));
	cJSON_AddBoolToObject(fw, "force", force);
	cJSON_AddBoolToObject(fw, "no_recursive", !tree);
	peer_request(p, fw, NULL, 0, NULL, NULL);
	cJSON_Delete(fw);
}

/* The unfinished tasks that t submitted, and theirs, cancelled. */
static int cancel_children(const task *t, int force)
{
	task *k;
	int n = 0;

	for (k = N->thead; k; k = k->next)
		if (k->state < T_FINISHED && !strcmp(k->parent, t->id) && k->num_returns > 0 && k->rets[0])
			n += cancel_task(k, k->rets[0], force, 1);
	return n;
}

/* Cancels t (which makes o); with tree, also the tasks it submitted,
 * down the tree.  Returns how many were cancelled. */
static int cancel_task(task *t, obj *o, int force, int tree)
{
	char desc[256], msg[512];
	int n = 0;

	task_desc(t, desc, sizeof(desc));
	snprintf(msg, sizeof(msg), "%s was cancelled", desc);
	if (t->act || t->handle) {
		/* A call's children were submitted by its actor, on the node
		 * that hosts it: this one when t->act is set. */
		if (tree && t->state < T_FINISHED)
			t->cancel_tree = 1;
		n = sched_on.call_cancel(t, msg, tree);
		return n && tree && t->act ? n + cancel_children(t, force) : n;
	}
	if (t->state >= T_FINISHED)
		return 0;
	if (tree)
		t->cancel_tree = 1;
	if (t->state == T_PENDING_ARGS || t->state == T_PENDING_NODE) {
		queue_remove(t);
		task_finish_error(t, T_CANCELLED, RAY_ECANCEL, msg);
		return 1;
	}
	if (t->state == T_SUBMITTED && t->exec_node[0]) {
		/* It runs elsewhere, and so do the tasks it submits. */
		sched_cancel_on(t->exec_node, o->ref, force, tree);
		return 1;
	}
	if ((t->state == T_RUNNING || t->state == T_SUBMITTED) && t->pid > 0) {
		t->cancel = force ? 2 : 1;
		kill(-t->pid, force ? SIGKILL : SIGTERM);
		n = 1;
	}
	/* Its children were submitted to the node it runs on: this one. */
	return tree ? n + cancel_children(t, force) : n;
}

void op_cancel(conn *c, uint32_t id, cJSON *req)
{
	const cJSON *refs = cJSON_GetObjectItemCaseSensitive(req, "refs"), *it;
	int force = rj_bool(req, "force"), tree = !rj_bool(req, "no_recursive"), n = 0;
	cJSON *r;

	cJSON_ArrayForEach(it, refs) {
		obj *o = cJSON_IsString(it) ? store_find(it->valuestring) : NULL;
		if (!o) {
			conn_reply_err(c, id, RAY_ENOTFOUND, "unknown ref '%.80s'",
			               cJSON_IsString(it) ? it->valuestring : "?");
			return;
		}
	}
	cJSON_ArrayForEach(it, refs) {
		obj *o = store_find(it->valuestring);
		if (o->producer)
			n += cancel_task(o->producer, o, force, tree);
	}
	r = cJSON_CreateObject();
	cJSON_AddNumberToObject(r, "cancelled", n);
	conn_reply(c, id, r, NULL, 0);
}
