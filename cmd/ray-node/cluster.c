/*
 * cluster.c: membership.  The head keeps the node table (Ray's GCS part
 * that matters here); a joining node registers with it over an
 * authenticated peer connection and then heartbeats every second with its
 * free resources.  Each heartbeat reply carries the whole table, so every
 * node has a view of the cluster for scheduling and for ray-status.  The
 * head declares a node DEAD when its heartbeats stop for the timeout
 * (5 s by default); every node reacts when its view shows a death: tasks
 * it owns that ran there are retried, objects whose only copy was there
 * are rebuilt from lineage or reported lost.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "node.h"
#include "cluster.h"
#include "metrics.h"
#include "peer.h"
#include "res.h"
#include "server.h"

#define TICK_MS 200
#define HEARTBEAT_TICKS 3   /* 600 ms */

static unsigned ticks;

/* The parts above the cluster hear of it through hooks that node.c
 * registers, so that this file calls no one above it. */
#define MAX_HOOKS 16
static cluster_death_fn death_hooks[MAX_HOOKS];
static void (*tick_hooks[MAX_HOOKS])(void);
static int ndeath_hooks, ntick_hooks;
static void (*change_hook)(void);
static cJSON *(*share_provide)(void);
static void (*share_merge)(const cJSON *table);
static void (*store_fill)(rstore *out);

void cluster_on_store(void (*fill)(rstore *out))
{
	store_fill = fill;
}

void cluster_on_death(cluster_death_fn fn)
{
	if (ndeath_hooks < MAX_HOOKS)
		death_hooks[ndeath_hooks++] = fn;
}

void cluster_on_tick(void (*fn)(void))
{
	if (ntick_hooks < MAX_HOOKS)
		tick_hooks[ntick_hooks++] = fn;
}

void cluster_on_change(void (*fn)(void))
{
	change_hook = fn;
}

void cluster_share(cJSON *(*provide)(void), void (*merge)(const cJSON *table))
{
	share_provide = provide;
	share_merge = merge;
}

static void changed(void)
{
	if (change_hook)
		change_hook();
}

static double wall_s(void)
{
	return (double)ray_wall_ms() / 1000.0;
}

rnode *view_find(const char *id)
{
	int i;

	for (i = 0; id && i < N->nview; i++)
		if (!strcmp(N->view[i].id, id))
			return &N->view[i];
	return NULL;
}

rnode *view_self(void)
{
	return view_find(N->id);
}

int view_alive_others(void)
{
	int i, n = 0;

	for (i = 0; i < N->nview; i++)
		n += N->view[i].alive && strcmp(N->view[i].id, N->id) != 0;
	return n;
}

/* The connection for object chunks to a live node (NULL if dead/unknown). */
peer *peer_bulk(const char *node_id)
{
	rnode *r = view_find(node_id);

	if (!r || !r->alive)
		return NULL;
	return peer_for_bulk(r->id, r->addr);
}

peer *peer_node(const char *node_id)
{
	rnode *r = view_find(node_id);

	if (!r || !r->alive)
		return NULL;
	return peer_for(r->id, r->addr);
}

peer *peer_head(void)
{
	int i;

	for (i = 0; i < N->nview; i++)
		if (N->view[i].is_head)
			return peer_node(N->view[i].id);
	return NULL;
}

static void self_refresh(void)
{
	rnode *s = view_self();

	if (!s)
		return;
	s->avail = N->avail;
	s->total = N->total;
	s->nqueued = (int64_t)N->nqueued;
	if (store_fill)
		store_fill(&s->store);
	s->last_ms = ray_now_ms();
	s->alive = 1;
}

static cJSON *rstore_raw(const rstore *s)
{
	cJSON *j = cJSON_CreateObject();

	cJSON_AddNumberToObject(j, "n", (double)s->objects);
	cJSON_AddNumberToObject(j, "b", (double)s->object_bytes);
	cJSON_AddNumberToObject(j, "u", (double)s->used);
	cJSON_AddNumberToObject(j, "c", (double)s->capacity);
	cJSON_AddNumberToObject(j, "s", (double)s->spilled);
	return j;
}

static uint64_t count_of(const cJSON *j, const char *key)
{
	int64_t v = rj_int(j, key, 0);

	return v > 0 ? (uint64_t)v : 0;
}

/* A peer's numbers: absent, malformed or negative fields read as 0. */
static void rstore_from_raw(rstore *s, const cJSON *j)
{
	memset(s, 0, sizeof(*s));
	if (!cJSON_IsObject(j))
		return;
	s->objects = count_of(j, "n");
	s->object_bytes = count_of(j, "b");
	s->used = count_of(j, "u");
	s->capacity = count_of(j, "c");
	s->spilled = count_of(j, "s");
}

cJSON *rstore_json(const rstore *s)
{
	cJSON *j = cJSON_CreateObject();

	cJSON_AddNumberToObject(j, "objects", (double)s->objects);
	cJSON_AddNumberToObject(j, "object_bytes", (double)s->object_bytes);
	cJSON_AddNumberToObject(j, "used_bytes", (double)s->used);
	cJSON_AddNumberToObject(j, "capacity_bytes", (double)s->capacity);
	cJSON_AddNumberToObject(j, "spilled_bytes", (double)s->spilled);
	return j;
}

static cJSON *rnode_raw(const rnode *r)
{
	cJSON *j = cJSON_CreateObject();

	cJSON_AddStringToObject(j, "id", r->id);
	cJSON_AddStringToObject(j, "addr", r->addr);
	cJSON_AddBoolToObject(j, "alive", r->alive);
	cJSON_AddBoolToObject(j, "is_head", r->is_head);
	cJSON_AddNumberToObject(j, "pid", r->pid);
	cJSON_AddStringToObject(j, "labels", r->labels);
	cJSON_AddItemToObject(j, "total", res_to_json_raw(&r->total));
	cJSON_AddItemToObject(j, "avail", res_to_json_raw(&r->avail));
	cJSON_AddNumberToObject(j, "nqueued", (double)r->nqueued);
	cJSON_AddItemToObject(j, "store", rstore_raw(&r->store));
	cJSON_AddNumberToObject(j, "start_time", r->start_time);
	cJSON_AddNumberToObject(j, "end_time", r->end_time);
	return j;
}

static int rnode_from_raw(rnode *r, const cJSON *j)
{
	const char *id = rj_str(j, "id"), *addr = rj_str(j, "addr"), *labels = rj_str(j, "labels");

	if (!id || strlen(id) != RAY_NODEID_LEN || !ray_ref_valid(id) || !addr || strlen(addr) >= sizeof(r->addr))
		return -1;
	memset(r, 0, sizeof(*r));
	snprintf(r->id, sizeof(r->id), "%s", id);
	snprintf(r->addr, sizeof(r->addr), "%s", addr);
	snprintf(r->labels, sizeof(r->labels), "%s", labels ? labels : "");
	r->alive = rj_bool(j, "alive");
	r->is_head = rj_bool(j, "is_head");
	r->pid = (int)rj_int(j, "pid", 0);
	r->nqueued = rj_int(j, "nqueued", 0);
	res_from_json_raw(&r->total, cJSON_GetObjectItemCaseSensitive(j, "total"));
	res_from_json_raw(&r->avail, cJSON_GetObjectItemCaseSensitive(j, "avail"));
	rstore_from_raw(&r->store, cJSON_GetObjectItemCaseSensitive(j, "store"));
	{
		const cJSON *st = cJSON_GetObjectItemCaseSensitive(j, "start_time");
		const cJSON *et = cJSON_GetObjectItemCaseSensitive(j, "end_time");
		r->start_time = cJSON_IsNumber(st) ? st->valuedouble : 0;
		r->end_time = cJSON_IsNumber(et) ? et->valuedouble : 0;
	}
	return 0;
}

static cJSON *view_raw(void)
{
	cJSON *a = cJSON_CreateArray();
	int i;

	self_refresh();
	for (i = 0; i < N->nview; i++)
		cJSON_AddItemToArray(a, rnode_raw(&N->view[i]));
	return a;
}

static void node_died(rnode *r)
{
	int i;

	r->alive = 0;
	r->end_time = wall_s();
	node_log("node %s at %s is dead", r->id, r->addr);
	for (i = 0; i < ndeath_hooks; i++)
		death_hooks[i](r->id);
}

/* Merges the head's table into our view, reacting to deaths and joins. */
static void view_merge(const cJSON *nodes)
{
	const cJSON *it;
	int joined = 0;

	cJSON_ArrayForEach(it, nodes) {
		rnode nr, *cur;
		if (rnode_from_raw(&nr, it))
			continue;
		if (!strcmp(nr.id, N->id))
			continue;
		cur = view_find(nr.id);
		if (!cur) {
			if (N->nview == MAX_NODES)
				continue;
			cur = &N->view[N->nview++];
			*cur = nr;
			joined += nr.alive;
			if (!nr.alive)
				continue;
		} else {
			int was = cur->alive;
			*cur = nr;
			if (was && !nr.alive) {
				cur->alive = 1;
				node_died(cur);
			}
		}
		cur->last_ms = ray_now_ms();
	}
	if (joined)
		changed();
}

static void send_register(void);

/* The head answers again: say so once. */
static void head_back(void)
{
	N->head_ok_ms = ray_now_ms();
	if (N->head_lost)
		node_log("the head at %s answers again", N->head_addr);
	N->head_lost = 0;
}

static void on_heartbeat(void *ud, int rc, cJSON *reply, const char *d, size_t dl)
{
	(void)ud;
	(void)d;
	(void)dl;
	N->hb_inflight = 0;
	if (rc)
		metrics_n.heartbeats_failed++;
	else
		metrics_n.heartbeats_sent++;
	if (rc == RAY_ENOTFOUND) {
		node_log("the head says this node is dead; stopping");
		node_shutdown();
		return;
	}
	if (rc || !reply)
		return;
	if (rj_bool(reply, "register")) {
		/* A head started again, that never knew us: join it under the
		 * same id, keeping our tasks, actors and objects. */
		node_log("the head at %s does not know this node (restarted?): registering again",
		         N->head_addr);
		send_register();
		return;
	}
	head_back();
	view_merge(cJSON_GetObjectItemCaseSensitive(reply, "nodes"));
	if (share_merge)
		share_merge(cJSON_GetObjectItemCaseSensitive(reply, "pgs"));
	changed();
}

static void send_heartbeat(void)
{
	cJSON *req;
	peer *p;

	if (N->hb_inflight || !N->joined || N->stopping)
		return;
	p = peer_for(NULL, N->head_addr);
	if (!p)
		return;
	req = cJSON_CreateObject();
	cJSON_AddStringToObject(req, "op", "node_heartbeat");
	cJSON_AddStringToObject(req, "node_id", N->id);
	cJSON_AddItemToObject(req, "avail", res_to_json_raw(&N->avail));
	cJSON_AddNumberToObject(req, "nqueued", (double)N->nqueued);
	self_refresh();
	if (view_self())
		cJSON_AddItemToObject(req, "store", rstore_raw(&view_self()->store));
	if (!peer_request(p, req, NULL, 0, on_heartbeat, NULL)) {
		N->hb_inflight = 1;
		N->hb_sent_ms = ray_now_ms();
	}
	cJSON_Delete(req);
}

static void head_check_deaths(void)
{
	int64_t now = ray_now_ms();
	int i;

	for (i = 0; i < N->nview; i++) {
		rnode *r = &N->view[i];
		if (r->alive && strcmp(r->id, N->id) && now - r->last_ms > N->dead_timeout_ms)
			node_died(r);
	}
}

/* A worker whose head is silent: after the death timeout it says the head
 * is unreachable (its tasks there are retried, cluster-wide questions get
 * exit 8) and carries on with what it holds; after --head-timeout it
 * stops.  A heartbeat stuck on a connection that never opens is dropped
 * so that the next one dials afresh. */
static void head_check(void)
{
	int64_t now = ray_now_ms(), quiet = now - N->head_ok_ms;
	int i;

	if (N->hb_inflight && now - N->hb_sent_ms > 2000) {
		peer *p = peer_for(NULL, N->head_addr);
		if (p)
			peer_close(p);
	}
	if (!N->head_lost && quiet > N->dead_timeout_ms) {
		N->head_lost = 1;
		node_log("the head at %s is unreachable; carrying on, trying it again every second for %lld s",
		         N->head_addr, (long long)(N->head_timeout_ms / 1000));
		for (i = 0; i < N->nview; i++)
			if (N->view[i].is_head && N->view[i].alive)
				node_died(&N->view[i]);
	}
	if (quiet > N->head_timeout_ms && !N->stopping) {
		node_log("the head at %s has been unreachable for %lld s (--head-timeout); stopping",
		         N->head_addr, (long long)(quiet / 1000));
		node_shutdown();
	}
}

static void on_tick(uv_timer_t *t)
{
	int i;

	(void)t;
	ticks++;
	self_refresh();
	if (N->is_head) {
		head_check_deaths();
	} else if (N->joined) {
		if (ticks % HEARTBEAT_TICKS == 0 || (N->head_lost && ticks % 5 == 0))
			send_heartbeat();
		head_check();
	}
	for (i = 0; i < ntick_hooks; i++)
		tick_hooks[i]();
}

static void on_registered(void *ud, int rc, cJSON *reply, const char *d, size_t dl)
{
	(void)ud;
	(void)d;
	(void)dl;
	if (rc || !reply) {
		N->join_failed = rc ? rc : RAY_EUNREACH;
		snprintf(N->join_err, sizeof(N->join_err), "%s",
		         rc == RAY_EUNREACH || !reply ? "cannot reach the head, or it refused our token"
		                                      : (rj_str(reply, "msg") ? rj_str(reply, "msg") : "refused"));
		return;
	}
	if (N->joined)
		node_log("registered again with the head at %s", N->head_addr);
	N->joined = 1;
	head_back();
	view_merge(cJSON_GetObjectItemCaseSensitive(reply, "nodes"));
	changed();
}

int cluster_start(void)
{
	rnode *s = &N->view[0];
	const char *t = getenv("RAY_NODE_DEAD_TIMEOUT");
	int64_t ms;

	/* Heartbeats every 0.6 s; 3.5 s of silence is death, so every node
	 * knows within 5 s of the kill (ray-node(1) promises it). */
	N->dead_timeout_ms = 3500;
	if (t && !ray_parse_seconds(t, &ms) && ms > 0)
		N->dead_timeout_ms = ms;
	memset(s, 0, sizeof(*s));
	snprintf(s->id, sizeof(s->id), "%s", N->id);
	snprintf(s->addr, sizeof(s->addr), strchr(N->host, ':') ? "[%s]:%d" : "%s:%d", N->host, N->port);
	s->is_head = N->is_head;
	s->pid = (int)getpid();
	snprintf(s->labels, sizeof(s->labels), "%s", N->labels);
	s->start_time = wall_s();
	N->nview = 1;
	self_refresh();
	uv_timer_init(N->loop, &N->ctick);
	uv_timer_start(&N->ctick, on_tick, TICK_MS, TICK_MS);
	if (!N->is_head) {
		if (!peer_for(NULL, N->head_addr)) {
			snprintf(N->join_err, sizeof(N->join_err), "bad head address '%s'", N->head_addr);
			return RAY_EUSAGE;
		}
		if (N->head_timeout_ms <= 0)
			N->head_timeout_ms = 60000;
		N->head_ok_ms = ray_now_ms();
		send_register();
		return 0;
	}
	N->joined = 1;
	return 0;
}

static void send_register(void)
{
	cJSON *req = cJSON_CreateObject();
	peer *p = peer_for(NULL, N->head_addr);

	self_refresh();
	cJSON_AddStringToObject(req, "op", "node_register");
	cJSON_AddItemToObject(req, "node", rnode_raw(view_self()));
	if (!p || peer_request(p, req, NULL, 0, on_registered, NULL))
		N->join_failed = N->joined ? 0 : RAY_EUNREACH;
	cJSON_Delete(req);
}

void cluster_stop(void)
{
	if (!uv_is_closing((uv_handle_t *)&N->ctick)) {
		uv_timer_stop(&N->ctick);
		uv_close((uv_handle_t *)&N->ctick, NULL);
	}
	peers_close_all();
}

cJSON *rnode_json(const rnode *r)
{
	cJSON *j = cJSON_CreateObject(), *l;
	char buf[sizeof(r->labels)], *p, *save = NULL, *tok;

	cJSON_AddStringToObject(j, "node_id", r->id);
	cJSON_AddStringToObject(j, "address", r->addr);
	cJSON_AddStringToObject(j, "state", r->alive ? "ALIVE" : "DEAD");
	cJSON_AddBoolToObject(j, "is_head", r->is_head);
	cJSON_AddNumberToObject(j, "pid", r->pid);
	l = cJSON_AddObjectToObject(j, "labels");
	snprintf(buf, sizeof(buf), "%s", r->labels);
	for (p = buf; (tok = strtok_r(p, ",", &save)); p = NULL) {
		char *eq = strchr(tok, '=');
		if (!eq)
			continue;
		*eq = '\0';
		cJSON_AddStringToObject(l, tok, eq + 1);
	}
	cJSON_AddItemToObject(j, "resources_total", res_json(&r->total));
	cJSON_AddItemToObject(j, "resources_available", res_json(&r->avail));
	cJSON_AddNumberToObject(j, "pending_tasks", (double)r->nqueued);
	cJSON_AddItemToObject(j, "store", rstore_json(&r->store));
	cJSON_AddNumberToObject(j, "start_time", r->start_time);
	if (!r->alive)
		cJSON_AddNumberToObject(j, "end_time", r->end_time);
	return j;
}

void op_cluster(conn *c, uint32_t id, cJSON *req)
{
	const char *op = rj_str(req, "op");
	cJSON *r;

	if (!N->is_head) {
		conn_reply_err(c, id, RAY_EUSAGE, "this node is not the head");
		return;
	}
	if (!strcmp(op, "node_register")) {
		rnode nr, *cur;
		if (rnode_from_raw(&nr, cJSON_GetObjectItemCaseSensitive(req, "node"))) {
			conn_reply_err(c, id, RAY_EUSAGE, "bad node record");
			return;
		}
		cur = view_find(nr.id);
		if (!cur) {
			if (N->nview == MAX_NODES) {
				conn_reply_err(c, id, RAY_ERESOURCE, "the cluster is full (%d nodes)", MAX_NODES);
				return;
			}
			cur = &N->view[N->nview++];
		}
		*cur = nr;
		cur->alive = 1;
		cur->is_head = 0;
		cur->last_ms = ray_now_ms();
		cur->start_time = wall_s();
		node_log("node %s at %s joined", cur->id, cur->addr);
		r = cJSON_CreateObject();
		cJSON_AddItemToObject(r, "nodes", view_raw());
		conn_reply(c, id, r, NULL, 0);
		changed();
	} else if (!strcmp(op, "node_heartbeat")) {
		rnode *cur = view_find(rj_str(req, "node_id"));
		if (!cur) {
			/* Never heard of it: this head was started again. */
			r = cJSON_CreateObject();
			cJSON_AddBoolToObject(r, "register", 1);
			conn_reply(c, id, r, NULL, 0);
			return;
		}
		if (!cur->alive) {
			conn_reply_err(c, id, RAY_ENOTFOUND, "unknown or dead node");
			return;
		}
		res_from_json_raw(&cur->avail, cJSON_GetObjectItemCaseSensitive(req, "avail"));
		cur->nqueued = rj_int(req, "nqueued", 0);
		rstore_from_raw(&cur->store, cJSON_GetObjectItemCaseSensitive(req, "store"));
		cur->last_ms = ray_now_ms();
		metrics_n.heartbeats_received++;
		r = cJSON_CreateObject();
		cJSON_AddItemToObject(r, "nodes", view_raw());
		if (share_provide)
			cJSON_AddItemToObject(r, "pgs", share_provide());
		conn_reply(c, id, r, NULL, 0);
		changed();
	} else {
		conn_reply_err(c, id, RAY_EUSAGE, "unknown request '%.64s'", op);
	}
}

/* ---- requests the head answers for the whole cluster ---- */

typedef struct proxied {
	conn *c;
	uint32_t id;
	peer *p;
	void (*hook)(cJSON *reply);
} proxied;

static void on_proxied(void *ud, int rc, cJSON *reply, const char *d, size_t dl)
{
	proxied *px = ud;

	(void)rc;
	if (reply) {
		if (!rc && px->hook)
			px->hook(reply);
		conn_reply(px->c, px->id, cJSON_Duplicate(reply, 1), d, dl);
	} else {
		conn_reply_err(px->c, px->id, RAY_EUNREACH, "the node serving this request went away");
	}
	conn_resume(px->c);
	conn_unref(px->c);
	peer_close(px->p);
	free(px);
}

void proxy_to(conn *c, uint32_t id, cJSON *req, const char *addr, void (*hook)(cJSON *reply));

/* On a non-head node: passes the request to the head on a connection of
 * its own and relays the answer (hook sees it first).  Returns 1 when it
 * took the request, 0 on the head. */
int proxy_to_head(conn *c, uint32_t id, cJSON *req, void (*hook)(cJSON *reply))
{
	if (N->is_head)
		return 0;
	proxy_to(c, id, req, N->head_addr, hook);
	return 1;
}

/* Passes a request to the node at addr and relays its answer. */
void proxy_to(conn *c, uint32_t id, cJSON *req, const char *addr, void (*hook)(cJSON *reply))
{
	proxied *px;

	px = calloc(1, sizeof(*px));
	if (!px || !(px->p = peer_private(addr))) {
		free(px);
		conn_reply_err(c, id, RAY_EUNREACH, "cannot reach the node at '%s'", addr);
		return;
	}
	px->c = c;
	px->id = id;
	px->hook = hook;
	c->busy = 1;
	conn_ref(c);
	if (peer_request(px->p, req, NULL, 0, on_proxied, px)) {
		peer_close(px->p);
		free(px);
		conn_unref(c);
		c->busy = 0;
		conn_reply_err(c, id, RAY_EUNREACH, "cannot reach the node at '%s'", addr);
	}
}
