/*
 * status.c: what ray-status asks of a node: the node table, tasks,
 * objects and a summary, with --state filters applied before --limit
 * (the newest matching items are kept), and a task's stderr log.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "node.h"
#include "actor.h"
#include "cluster.h"
#include "job.h"
#include "logread.h"
#include "peer.h"
#include "pg.h"
#include "place.h"
#include "pool.h"
#include "res.h"
#include "server.h"
#include "spill.h"
#include "status.h"
#include "store_status.h"
#include "stream.h"
#include "task.h"

static cJSON *labels_json(void)
{
	cJSON *j = cJSON_CreateObject();
	char buf[sizeof(N->labels)], *p, *save = NULL, *tok;

	snprintf(buf, sizeof(buf), "%s", N->labels);
	for (p = buf; (tok = strtok_r(p, ",", &save)); p = NULL) {
		char *eq = strchr(tok, '=');
		if (!eq)
			continue;
		*eq = '\0';
		cJSON_AddStringToObject(j, tok, eq + 1);
	}
	return j;
}

static cJSON *node_json(void)
{
	cJSON *j = cJSON_CreateObject();
	char addr[300];

	snprintf(addr, sizeof(addr), strchr(N->host, ':') ? "[%s]:%d" : "%s:%d", N->host, N->port);
	cJSON_AddStringToObject(j, "node_id", N->id);
	cJSON_AddStringToObject(j, "address", addr);
	cJSON_AddStringToObject(j, "state", "ALIVE");
	cJSON_AddBoolToObject(j, "is_head", N->is_head);
	cJSON_AddNumberToObject(j, "pid", (double)getpid());
	cJSON_AddItemToObject(j, "labels", labels_json());
	cJSON_AddItemToObject(j, "resources_total", res_json(&N->total));
	cJSON_AddItemToObject(j, "resources_available", res_json(&N->avail));
	cJSON_AddNumberToObject(j, "start_time", (double)N->start_ms);
	return j;
}

static cJSON *task_json(const task *t)
{
	cJSON *j = cJSON_CreateObject();

	cJSON_AddStringToObject(j, "task_id", t->id);
	if (t->stream_bp)
		stream_status(t, j);
	cJSON_AddNumberToObject(j, "submit_ms", (double)(t->submit_ms - N->start_ms + N->wall_start_ms));
	if (t->owner[0])
		cJSON_AddStringToObject(j, "owner", t->owner);
	if (t->name)
		cJSON_AddStringToObject(j, "name", t->name);
	else
		cJSON_AddStringToObject(j, "name", t->shell ? t->argv[2] : t->argv[0]);
	cJSON_AddStringToObject(j, "state", task_state_name(t->state));
	cJSON_AddStringToObject(j, "node_id", t->exec_node[0] ? t->exec_node : N->id);
	cJSON_AddNumberToObject(j, "attempt", t->attempt);
	if (t->state == T_FINISHED || t->state == T_FAILED)
		cJSON_AddNumberToObject(j, "exit_code", t->term_signal ? 128 + t->term_signal : t->exit_code);
	else
		cJSON_AddNullToObject(j, "exit_code");
	if (t->term_signal)
		cJSON_AddNumberToObject(j, "signal", t->term_signal);
	cJSON_AddStringToObject(j, "job_id", t->job);
	if (t->pid > 0)
		cJSON_AddNumberToObject(j, "pid", t->pid);
	if (t->wpid > 0)
		cJSON_AddNumberToObject(j, "worker_pid", t->wpid);
	cJSON_AddNumberToObject(j, "cpus", t->req.cpu / 1e4);
	if (t->start_ms) {
		cJSON_AddNumberToObject(j, "start_ms", (double)(t->start_ms - N->start_ms + N->wall_start_ms));
		if (t->end_ms)
			cJSON_AddNumberToObject(j, "end_ms", (double)(t->end_ms - N->start_ms + N->wall_start_ms));
	}
	if (t->rets && t->rets[0])
		cJSON_AddStringToObject(j, "ref", t->rets[0]->ref);
	return j;
}

/* Appends items newest-last after keeping only the newest `limit` matches. */
static void add_limited(cJSON *arr, cJSON **items, size_t n, int64_t limit)
{
	size_t start = (limit >= 0 && (size_t)limit < n) ? n - (size_t)limit : 0, i;

	for (i = 0; i < n; i++) {
		if (i >= start)
			cJSON_AddItemToArray(arr, items[i]);
		else
			cJSON_Delete(items[i]);
	}
}

static void list_tasks(cJSON *arr, const char *state, int64_t limit)
{
	cJSON **items = malloc((N->ntasks + 1) * sizeof(*items));
	size_t n = 0;
	task *t;

	if (!items)
		return;
	for (t = N->thead; t; t = t->next)
		if (!state || !strcmp(state, task_state_name(t->state)))
			items[n++] = task_json(t);
	add_limited(arr, items, n, limit);
	free(items);
}

/* ---- tasks across the cluster: every live node's, merged ---- */

typedef struct gather {
	conn *c;
	uint32_t id;
	int pending;
	int64_t limit;
	cJSON *items;
	const char *key;          /* the items' id: task_id or worker_id */
} gather;

static int state_rank(const cJSON *j)
{
	const char *s = rj_str(j, "state");
	int i;

	for (i = 0; s && i <= T_CANCELLED; i++)
		if (!strcmp(s, task_state_name(i)))
			return i;
	return -1;
}

/* Tasks by submission, workers by start. */
static int by_submit(const void *a, const void *b)
{
	const cJSON *p = *(cJSON *const *)a, *q = *(cJSON *const *)b;
	double x = rj_int(p, "submit_ms", rj_int(p, "start_ms", 0));
	double y = rj_int(q, "submit_ms", rj_int(q, "start_ms", 0));

	return x < y ? -1 : x > y;
}

static void gather_add(gather *g, const cJSON *arr)
{
	const cJSON *it;

	cJSON_ArrayForEach(it, arr) {
		const char *id = rj_str(it, g->key);
		cJSON *cur;
		int dup = 0;
		if (!id)
			continue;
		cJSON_ArrayForEach(cur, g->items) {
			const char *cid = rj_str(cur, g->key);
			if (!cid || strcmp(cid, id))
				continue;
			dup = 1;
			/* Keep the further-along record; on a tie, the owner's. */
			if (state_rank(it) > state_rank(cur) ||
			    (state_rank(it) == state_rank(cur) && !rj_str(it, "owner") && rj_str(cur, "owner")))
				cJSON_ReplaceItemViaPointer(g->items, cur, cJSON_Duplicate(it, 1));
			break;
		}
		if (!dup)
			cJSON_AddItemToArray(g->items, cJSON_Duplicate(it, 1));
	}
}

static void gather_finish(gather *g)
{
	int n = cJSON_GetArraySize(g->items), i, start;
	cJSON **v = calloc((size_t)(n ? n : 1), sizeof(*v)), *r = cJSON_CreateObject(), *out;

	for (i = 0; v && i < n; i++)
		v[i] = cJSON_GetArrayItem(g->items, i);
	if (v)
		qsort(v, (size_t)n, sizeof(*v), by_submit);
	out = cJSON_AddArrayToObject(r, "items");
	start = g->limit >= 0 && n > g->limit ? n - (int)g->limit : 0;
	for (i = start; v && i < n; i++)
		cJSON_AddItemToArray(out, cJSON_Duplicate(v[i], 1));
	free(v);
	cJSON_Delete(g->items);
	conn_reply(g->c, g->id, r, NULL, 0);
	conn_resume(g->c);
	conn_unref(g->c);
	free(g);
}

static void on_gathered(void *ud, int rc, cJSON *reply, const char *d, size_t dl)
{
	gather *g = ud;

	(void)d;
	(void)dl;
	if (!rc && reply)
		gather_add(g, cJSON_GetObjectItemCaseSensitive(reply, "items"));
	if (--g->pending == 0)
		gather_finish(g);
}

/* A list (tasks, workers) from every live node, merged. */
static void gather_list(conn *c, uint32_t id, const char *what, const char *state, int64_t limit)
{
	gather *g = calloc(1, sizeof(*g));
	cJSON *mine = cJSON_CreateArray(), *req;
	int i;

	if (!g) {
		cJSON_Delete(mine);
		conn_reply_err(c, id, RAY_ERESOURCE, "out of memory");
		return;
	}
	g->c = c;
	g->id = id;
	g->limit = limit;
	g->items = cJSON_CreateArray();
	g->key = !strcmp(what, "workers") ? "worker_id" : "task_id";
	if (!strcmp(what, "workers"))
		pool_json(mine, state);
	else
		list_tasks(mine, state, -1);
	gather_add(g, mine);
	cJSON_Delete(mine);
	conn_ref(c);
	c->busy = 1;
	g->pending = 1;
	req = cJSON_CreateObject();
	cJSON_AddStringToObject(req, "op", "status");
	cJSON_AddStringToObject(req, "what", what);
	cJSON_AddBoolToObject(req, "local", 1);
	if (state)
		cJSON_AddStringToObject(req, "state", state);
	for (i = 0; i < N->nview; i++) {
		peer *p;
		if (!N->view[i].alive || !strcmp(N->view[i].id, N->id))
			continue;
		p = peer_for(N->view[i].id, N->view[i].addr);
		if (p && !peer_request(p, req, NULL, 0, on_gathered, g))
			g->pending++;
	}
	cJSON_Delete(req);
	if (--g->pending == 0)
		gather_finish(g);
}

static void list_objects(cJSON *arr, const char *state, int64_t limit)
{
	size_t cap = 1024, n = 0;
	cJSON **items = malloc(cap * sizeof(*items));
	obj *o;

	for (o = N->ohead; o && items; o = o->next) {
		cJSON *j = obj_json(o);
		if (state && strcmp(state, rj_str(j, "state"))) {
			cJSON_Delete(j);
			continue;
		}
		if (n == cap) {
			cJSON **ni = realloc(items, cap * 2 * sizeof(*ni));
			if (!ni) {
				cJSON_Delete(j);
				break;
			}
			items = ni;
			cap *= 2;
		}
		items[n++] = j;
	}
	if (items)
		add_limited(arr, items, n, limit);
	free(items);
}

static void summary(cJSON *r)
{
	cJSON *d, *shapes;
	task *t;
	rstore mine;
	int counts[T_CANCELLED + 1] = { 0 }, i;

	cJSON_AddItemToObject(r, "node", node_json());
	{
		res tot = { 0 }, av = { 0 };
		int alive = 0, dead = 0;
		view_self()->avail = N->avail;
		for (i = 0; i < N->nview; i++) {
			if (!N->view[i].alive) {
				dead++;
				continue;
			}
			alive++;
			res_add(&tot, &N->view[i].total);
			res_add(&av, &N->view[i].avail);
		}
		cJSON_AddNumberToObject(r, "nodes_alive", alive);
		cJSON_AddNumberToObject(r, "nodes_dead", dead);
		cJSON_AddItemToObject(r, "resources_total", res_json(&tot));
		cJSON_AddItemToObject(r, "resources_available", res_json(&av));
	}
	for (t = N->thead; t; t = t->next)
		counts[t->state]++;
	d = cJSON_AddObjectToObject(r, "tasks");
	for (i = 0; i <= T_CANCELLED; i++)
		cJSON_AddNumberToObject(d, task_state_name(i), counts[i]);
	shapes = cJSON_AddArrayToObject(r, "demands");
	for (t = N->qhead, i = 0; t && i < 20; t = t->qnext, i++) {
		cJSON *s = place_demand(t);
		cJSON_AddStringToObject(s, "task_id", t->id);
		if (t->pg[0])
			cJSON_AddStringToObject(s, "pg", t->pg);
		cJSON_AddItemToArray(shapes, s);
	}
	actors_demands(shapes);
	cJSON_AddNumberToObject(r, "pending_tasks", (double)N->nqueued);
	/* The store line is the cluster's: every live node's last heartbeat
	 * (this node's own numbers now). */
	{
		rstore sum = { 0 };
		store_totals_now(&mine);
		view_self()->store = mine;
		for (i = 0; i < N->nview; i++) {
			const rstore *s = &N->view[i].store;
			if (!N->view[i].alive)
				continue;
			sum.objects += s->objects;
			sum.object_bytes += s->object_bytes;
			sum.used += s->used;
			sum.capacity += s->capacity;
			sum.spilled += s->spilled;
		}
		cJSON_AddItemToObject(r, "store", rstore_json(&sum));
		cJSON_AddItemToObject(cJSON_GetObjectItemCaseSensitive(r, "node"), "store", rstore_json(&mine));
	}
}

void op_status(conn *c, uint32_t id, cJSON *req)
{
	const char *what = rj_str(req, "what");
	const char *state = rj_str(req, "state");
	int64_t limit = rj_int(req, "limit", -1);
	cJSON *r, *items;

	/* Without its head a node still knows its own tasks and objects, but
	 * not the cluster: say so rather than answer from a stale view. */
	if (N->head_lost && (!what || (strcmp(what, "tasks") && strcmp(what, "objects")))) {
		conn_reply_err(c, id, RAY_EUNREACH,
		               "the head at %s is unreachable (for %lld s); this node carries on with "
		               "its own tasks and objects (ray-status tasks, ray-status objects)",
		               N->head_addr, (long long)((ray_now_ms() - N->head_ok_ms) / 1000));
		return;
	}
	r = cJSON_CreateObject();
	if (!what || !strcmp(what, "summary")) {
		summary(r);
		conn_reply(c, id, r, NULL, 0);
		return;
	}
	items = cJSON_AddArrayToObject(r, "items");
	if (!strcmp(what, "nodes")) {
		int i;
		view_self()->avail = N->avail;
		for (i = 0; i < N->nview; i++) {
			cJSON *j = rnode_json(&N->view[i]);
			if (state && strcmp(state, rj_str(j, "state")))
				cJSON_Delete(j);
			else
				cJSON_AddItemToArray(items, j);
		}
	} else if (!strcmp(what, "tasks")) {
		if (!rj_bool(req, "local") && view_alive_others() > 0) {
			cJSON_Delete(r);
			gather_list(c, id, what, state, limit);
			return;
		}
		list_tasks(items, state, rj_bool(req, "local") ? -1 : limit);
	} else if (!strcmp(what, "workers")) {
		if (!rj_bool(req, "local") && view_alive_others() > 0) {
			cJSON_Delete(r);
			gather_list(c, id, what, state, limit);
			return;
		}
		pool_json(items, state);
		while (limit >= 0 && cJSON_GetArraySize(items) > limit)
			cJSON_DeleteItemFromArray(items, 0);   /* the newest are kept */
	} else if (!strcmp(what, "objects")) {
		list_objects(items, state, limit);
	} else if (!strcmp(what, "actors")) {
		/* the head's directory knows every actor and where it runs */
		if (proxy_to_head(c, id, req, NULL)) {
			cJSON_Delete(r);
			return;
		}
		cJSON_Delete(cJSON_DetachItemFromObject(r, "items"));
		cJSON_AddItemToObject(r, "items", actors_json(state, limit));
	} else if (!strcmp(what, "pgs")) {
		cJSON_Delete(cJSON_DetachItemFromObject(r, "items"));
		cJSON_AddItemToObject(r, "items", pgs_json(state, limit));
	} else if (!strcmp(what, "jobs")) {
		jobs_json(items, state, limit);
	} else {
		cJSON_Delete(r);
		conn_reply_err(c, id, RAY_EUSAGE, "unknown status '%.40s'", what);
		return;
	}
	conn_reply(c, id, r, NULL, 0);
}

/* A task's exit status as ray-get of its result gives it (0..10), or -1
 * while it has not ended. */
static int task_end_code(const task *t)
{
	const obj *o = t->rets && t->num_returns > 0 ? t->rets[0] : NULL;

	if (t->state == T_FINISHED)
		return 0;
	if (t->state == T_CANCELLED)
		return -RAY_ECANCEL;
	if (t->state == T_FAILED)
		return o && o->state == OBJ_ERROR && o->err_code < 0 ? -o->err_code : -RAY_EFAILED;
	return -1;
}

void op_logs(conn *c, uint32_t id, cJSON *req)
{
	const char *want = rj_str(req, "id");
	int64_t offset = log_req_offset(req);
	char tid[RAY_ID_MAX + 1], path[PATH_MAX + 64];
	cJSON *r;
	task *t;
	actor *a;
	int code;

	if (!want || !ray_ref_valid(want)) {
		conn_reply_err(c, id, RAY_EUSAGE, "bad id '%.80s': want a task id or ref", want ? want : "");
		return;
	}
	if (offset == -2) {
		conn_reply_err(c, id, RAY_EUSAGE, "bad offset: want a byte count");
		return;
	}
	snprintf(tid, sizeof(tid), "%s", want);
	if (!task_find(tid) && !actor_owns_id(tid) && strlen(tid) > 2 * RAY_NODEID_LEN) {
		tid[2 * RAY_NODEID_LEN] = '\0';  /* a ref: its task id prefix */
	}
	t = task_find(tid);
	a = t ? NULL : actor_find(tid);
	if (!t && !a && !pool_owns_id(tid)) {
		conn_reply_err(c, id, RAY_ENOTFOUND, "unknown task, actor or worker '%s'", want);
		return;
	}
	{
		/* A task running on another node: its log is there until it ends. */
		rnode *rn = t && t->exec_node[0] && t->state < T_FINISHED ? view_find(t->exec_node) : NULL;
		if (rn && rn->alive) {
			cJSON *fw = cJSON_CreateObject();
			cJSON_AddStringToObject(fw, "op", "logs");
			cJSON_AddStringToObject(fw, "id", tid);
			if (offset >= 0)
				cJSON_AddNumberToObject(fw, "offset", (double)offset);
			proxy_to(c, id, fw, rn->addr, NULL);
			cJSON_Delete(fw);
			return;
		}
	}
	/* Whether it ended is known before the read, so a follower that
	 * sees "ended" and no more bytes has read the whole log. */
	r = cJSON_CreateObject();
	/* A pooled worker's log is followed while the worker lives. */
	code = t ? task_end_code(t) : a && a->state == A_DEAD ? -RAY_EACTOR : -1;
	cJSON_AddBoolToObject(r, "ended", code >= 0);
	if (code >= 0)
		cJSON_AddNumberToObject(r, "code", code);
	snprintf(path, sizeof(path), "%s/%s.err", N->logdir, tid);
	log_reply(c, id, r, path, offset);
}
