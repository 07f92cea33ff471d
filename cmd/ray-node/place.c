/*
 * place.c: which node runs a task.  A task in a placement group goes to
 * its bundle's node; a hard --node pin to that node; --strategy spread
 * round-robins over the nodes that fit; a soft pin or --prefer-label tries
 * its preferred nodes first.  Otherwise this node runs it when it fits,
 * else the fitting node with the most CPU free for its size.  A node's free
 * resources are known from its last heartbeat, debited here on forwarding
 * so a burst of tasks does not all go to one node.  A task that no live
 * node could ever hold stays queued, and ray-status says why.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node.h"
#include "bundle.h"
#include "cluster.h"
#include "peer.h"
#include "pg.h"
#include "place.h"
#include "res.h"
#include "task.h"

int labels_match(const char *have, const char *want)
{
	char h[1100], w[600], *p, *save = NULL, *tok, item[300];

	if (!want || !*want)
		return 1;
	snprintf(h, sizeof(h), ",%s,", have);
	snprintf(w, sizeof(w), "%s", want);
	for (p = w; (tok = strtok_r(p, ",", &save)); p = NULL) {
		snprintf(item, sizeof(item), ",%s,", tok);
		if (!strstr(h, item))
			return 0;
	}
	return 1;
}

static int can_host(const rnode *r, const task *t)
{
	if (!r->alive || !res_fits(&t->req, &r->total) || !labels_match(r->labels, t->labels))
		return 0;
	return !t->pin[0] || t->pin_soft || !strcmp(t->pin, r->id);
}

int place_feasible_anywhere(const task *t)
{
	int i;

	for (i = 0; i < N->nview; i++)
		if (can_host(&N->view[i], t))
			return 1;
	return 0;
}

/* The largest of each resource on any live node (into big, zeroed). */
static int view_largest(res *big)
{
	int i, k, alive = 0;

	memset(big, 0, sizeof(*big));
	for (i = 0; i < N->nview; i++) {
		const res *r = &N->view[i].total;
		if (!N->view[i].alive)
			continue;
		alive++;
		big->cpu = r->cpu > big->cpu ? r->cpu : big->cpu;
		big->gpu = r->gpu > big->gpu ? r->gpu : big->gpu;
		big->mem = r->mem > big->mem ? r->mem : big->mem;
		for (k = 0; k < r->ncustom; k++) {
			int64_t q = res_custom_get(big, r->custom[k].name);
			if (r->custom[k].q > q) {
				res one;
				memset(&one, 0, sizeof(one));
				one.ncustom = 1;
				snprintf(one.custom[0].name, sizeof(one.custom[0].name), "%s", r->custom[k].name);
				one.custom[0].q = r->custom[k].q - q;
				res_add(big, &one);
			}
		}
	}
	return alive;
}

/* Why no live node can ever run t (for ray-status); 0 when one can. */
int place_infeasible_reason(const task *t, char *buf, size_t len)
{
	res big;
	char what[200];

	if (t->pg[0] || t->owner[0] || place_feasible_anywhere(t))
		return 0;
	if (t->pin[0] && !t->pin_soft) {
		rnode *r = view_find(t->pin);
		snprintf(buf, len, "its node %s (--node) is %s", t->pin, r && r->alive ? "too small" : "dead");
	} else if (!view_largest(&big)) {
		snprintf(buf, len, "no node is alive");
	} else if (res_missing(&t->req, &big, what, sizeof(what))) {
		snprintf(buf, len, "no live node has %s", what);
	} else if (t->labels) {
		size_t n = strlen(t->labels);
		/* ",k=v,k=v," as k=v,k=v */
		snprintf(buf, len, "no live node with labels %.*s can hold it", n > 2 ? (int)(n - 2) : 0,
		         t->labels + (n > 2));
	} else {
		snprintf(buf, len, "no single live node has all it asks for");
	}
	return 1;
}

cJSON *place_demand(const task *t)
{
	cJSON *s = cJSON_CreateObject(), *rq = res_json(&t->req);
	char why[300];
	int inf = place_infeasible_reason(t, why, sizeof(why));

	cJSON_DeleteItemFromObjectCaseSensitive(rq, "object_store_memory");   /* the node's, not asked for */
	cJSON_AddItemToObject(s, "resources", rq);
	cJSON_AddBoolToObject(s, "infeasible", inf);
	if (inf)
		cJSON_AddStringToObject(s, "reason", why);
	return s;
}

static int prefers(const rnode *r, const task *t)
{
	if (t->pin[0] && t->pin_soft && !strcmp(t->pin, r->id))
		return 1;
	return t->prefer && labels_match(r->labels, t->prefer);
}

static void on_forwarded(void *ud, int rc, cJSON *reply, const char *d, size_t dl)
{
	task *t = task_find(ud);

	(void)reply;
	(void)d;
	(void)dl;
	free(ud);
	if (!t || !rc || t->state != T_SUBMITTED || !t->exec_node[0])
		return;
	/* The node refused or vanished: place it again. */
	t->exec_node[0] = '\0';
	queue_push(t);
}

static int forward(task *t, rnode *r)
{
	cJSON *req = cJSON_CreateObject(), *j, *a;
	peer *p = peer_for(r->id, r->addr);
	char *ud = strdup(t->id);
	int i, rc;

	if (!p || !ud) {
		cJSON_Delete(req);
		free(ud);
		return -1;
	}
	cJSON_AddStringToObject(req, "op", "task_run");
	cJSON_AddStringToObject(req, "owner", N->id);
	j = cJSON_AddObjectToObject(req, "task");
	cJSON_AddStringToObject(j, "id", t->id);
	if (t->name)
		cJSON_AddStringToObject(j, "name", t->name);
	cJSON_AddStringToObject(j, "job", t->job);
	cJSON_AddBoolToObject(j, "shell", t->shell);
	if (t->worker) {
		cJSON_AddStringToObject(j, "worker", t->worker);
		cJSON_AddNumberToObject(j, "protocol", t->wproto);
	}
	a = cJSON_AddArrayToObject(j, "argv");
	for (i = 0; t->argv[i]; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(t->argv[i]));
	a = cJSON_AddArrayToObject(j, "env");
	for (i = 0; t->env && t->env[i]; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(t->env[i]));
	cJSON_AddItemToObject(j, "req", res_to_json_raw(&t->req));
	cJSON_AddNumberToObject(j, "num_returns", t->num_returns);
	cJSON_AddNumberToObject(j, "max_retries", t->max_retries);
	cJSON_AddNumberToObject(j, "attempt", t->attempt);
	cJSON_AddBoolToObject(j, "retry_exceptions", t->retry_exceptions);
	a = cJSON_AddArrayToObject(j, "retry_codes");
	for (i = 0; i < t->nretry_codes; i++)
		cJSON_AddItemToArray(a, cJSON_CreateNumber(t->retry_codes[i]));
	if (t->stdin_obj)
		cJSON_AddStringToObject(j, "stdin", t->stdin_obj->ref);
	if (t->workdir)
		cJSON_AddStringToObject(j, "working_dir", t->workdir);
	if (t->pg[0]) {
		cJSON_AddStringToObject(j, "pg", t->pg);
		cJSON_AddNumberToObject(j, "bundle", t->bundle);
	}
	rc = peer_request(p, req, NULL, 0, on_forwarded, ud);
	cJSON_Delete(req);
	if (rc) {
		free(ud);
		return -1;
	}
	if (!t->pg[0])
		res_sub(&r->avail, &t->req);   /* until its next heartbeat says */
	snprintf(t->exec_node, sizeof(t->exec_node), "%s", r->id);
	t->state = T_SUBMITTED;
	t->start_ms = ray_now_ms();
	return 0;
}

/* The node t should run on now: 0 here, 1 *out, 2 never (why says so),
 * -1 nowhere yet.  Nothing is sent or debited: tasks and actors share it. */
int place_pick(task *t, rnode **out, char *why, size_t wlen)
{
	rnode *self = view_self(), *best = NULL, *r;
	int i, n = N->nview;
	char desc[256];

	*out = NULL;
	if (t->pg[0]) {
		int ready, nb;
		const char *where;
		res *pool;
		if (t->owner[0] || pg_local_bundle(t->pg, t->bundle)) {
			pool = task_pool(t);
			if (pool && res_fits(&t->req, pool))
				return 0;
			if (t->owner[0] && pool)
				return -1;
			if (!t->owner[0] && t->bundle >= 0)
				return -1;
		}
		/* Sent here for a bundle this node no longer holds: removed. */
		where = t->owner[0] ? NULL : pg_bundle_node(t->pg, t->bundle, &ready, &nb);
		if (!where) {
			task_desc(t, desc, sizeof(desc));
			snprintf(why, wlen, "%s cannot run: its placement group %s was removed", desc, t->pg);
			return 2;
		}
		if (!ready || !where[0] || !strcmp(where, N->id))
			return -1;
		r = view_find(where);
		if (!r || !r->alive)
			return -1;
		*out = r;
		return 1;
	}
	if (t->owner[0] || n <= 1)
		return res_fits(&t->req, &N->avail) ? 0 : -1;
	if (t->pin[0] && !t->pin_soft) {
		if (!strcmp(t->pin, N->id))
			return res_fits(&t->req, &N->avail) ? 0 : -1;
		r = view_find(t->pin);
		if (r && !r->alive) {
			task_desc(t, desc, sizeof(desc));
			snprintf(why, wlen, "%s can never be placed: it is pinned to node %s, which died", desc, t->pin);
			return 2;
		}
		if (!r)
			return -1;
		*out = r;
		return 1;
	}
	if (t->spread) {
		for (i = 0; i < n; i++) {
			r = &N->view[(N->spread_rr + (unsigned)i) % (unsigned)n];
			if (!can_host(r, t) || !res_fits(&t->req, r == self ? &N->avail : &r->avail))
				continue;
			N->spread_rr = (N->spread_rr + (unsigned)i + 1) % (unsigned)n;
			if (r == self)
				return 0;
			*out = r;
			return 1;
		}
		return -1;
	}
	if (t->prefer || t->pin_soft) {
		for (i = 0; i < n; i++) {
			r = &N->view[i];
			if (!prefers(r, t) || !can_host(r, t) || !res_fits(&t->req, r == self ? &N->avail : &r->avail))
				continue;
			if (r == self)
				return 0;
			*out = r;
			return 1;
		}
	}
	if (self && can_host(self, t) && res_fits(&t->req, &N->avail))
		return 0;
	for (i = 0; i < n; i++) {
		r = &N->view[i];
		if (r == self || !can_host(r, t) || !res_fits(&t->req, &r->avail))
			continue;
		if (!best || r->avail.cpu * best->total.cpu > best->avail.cpu * r->total.cpu)
			best = r;
	}
	if (best) {
		*out = best;
		return 1;
	}
	return -1;
}

/* Where t should run now: 0 here, 1 forwarded, 2 failed and dequeued,
 * -1 nowhere yet. */
int place(task *t)
{
	char msg[512];
	rnode *r;
	int rc = place_pick(t, &r, msg, sizeof(msg));

	if (rc == 2) {
		queue_remove(t);
		task_finish_error(t, T_FAILED, RAY_ERESOURCE, msg);
	} else if (rc == 1 && forward(t, r)) {
		rc = -1;
	}
	return rc;
}
