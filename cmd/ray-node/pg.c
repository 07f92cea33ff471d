/*
 * pg.c: the placement group table.  The head keeps it and answers the
 * pg_* requests (create, remove, list); every other node holds a copy,
 * carried by heartbeat replies and merged here, so that tasks with --pg
 * find their group's bundles locally; a request made through a worker goes
 * to the head.  Placing a group is pg_place.c, the bundles a node holds
 * are bundle.c.  A dead node takes its bundles with it and the group is
 * RESCHEDULING.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "node.h"
#include "bundle.h"
#include "cluster.h"
#include "peer.h"
#include "pg.h"
#include "state.h"
#include "pg_place.h"
#include "res.h"
#include "server.h"

static const char *strategies[] = { "PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD" };
const char *const pg_states[] = { "PENDING", "CREATED", "RESCHEDULING", "REMOVED" };

/* Removed groups kept for listing; older ones are forgotten. */
#define MAX_REMOVED 1000

static pg *groups;        /* the head's table, or a copy elsewhere */

/* ---- the table ---- */

pg *pg_find(const char *id)
{
	pg *g;

	for (g = groups; id && g; g = g->next)
		if (!strcmp(g->id, id) || (g->name && !strcmp(g->name, id) && g->state != PG_REMOVED))
			return g;
	return NULL;
}

cJSON *pg_json(const pg *g)
{
	cJSON *j = cJSON_CreateObject(), *a = NULL;
	int i;

	cJSON_AddStringToObject(j, "pg_id", g->id);
	if (g->name)
		cJSON_AddStringToObject(j, "name", g->name);
	else
		cJSON_AddNullToObject(j, "name");
	cJSON_AddStringToObject(j, "strategy", strategies[g->strategy]);
	cJSON_AddStringToObject(j, "state", pg_states[g->state]);
	cJSON_AddNumberToObject(j, "created", g->created);
	a = cJSON_AddArrayToObject(j, "bundles");
	for (i = 0; i < g->nb; i++) {
		cJSON *b = cJSON_CreateObject(), *r = cJSON_CreateObject();
		int k;
		cJSON_AddNumberToObject(b, "index", i);
		if (g->b[i].cpu)
			cJSON_AddNumberToObject(r, "CPU", g->b[i].cpu / 1e4);
		if (g->b[i].gpu)
			cJSON_AddNumberToObject(r, "GPU", g->b[i].gpu / 1e4);
		if (g->b[i].mem)
			cJSON_AddNumberToObject(r, "memory", (double)g->b[i].mem);
		for (k = 0; k < g->b[i].ncustom; k++)
			cJSON_AddNumberToObject(r, g->b[i].custom[k].name, g->b[i].custom[k].q / 1e4);
		cJSON_AddItemToObject(b, "resources", r);
		if (g->node[i][0])
			cJSON_AddStringToObject(b, "node_id", g->node[i]);
		else
			cJSON_AddNullToObject(b, "node_id");
		cJSON_AddItemToArray(a, b);
	}
	return j;
}

cJSON *pgs_json(const char *state, int64_t limit)
{
	cJSON *a = cJSON_CreateArray(), *all[4096];
	int n = 0, i, start;
	pg *g;

	for (g = groups; g && n < 4096; g = g->next)
		if (!state || !strcmp(state, pg_states[g->state]))
			all[n++] = pg_json(g);
	/* groups is newest first; print oldest first, keep the newest. */
	start = limit >= 0 && n > limit ? (int)limit : n;
	for (i = start - 1; i >= 0; i--)
		cJSON_AddItemToArray(a, all[i]);
	for (i = start; i < n; i++)
		cJSON_Delete(all[i]);
	return a;
}

/* The table as heartbeat replies carry it, and its merge on workers. */
cJSON *pg_table_json(void)
{
	cJSON *a = cJSON_CreateArray();
	pg *g;

	for (g = groups; g; g = g->next)
		if (g->state != PG_REMOVED)
			cJSON_AddItemToArray(a, pg_json(g));
	return a;
}

static int parse_bundle(res *r, const cJSON *j)
{
	const cJSON *it;

	memset(r, 0, sizeof(*r));
	cJSON_ArrayForEach(it, j) {
		int64_t q;
		if (!cJSON_IsNumber(it) || it->valuedouble < 0)
			return -1;
		q = (int64_t)(it->valuedouble * 1e4 + 0.5);
		if (!strcmp(it->string, "CPU"))
			r->cpu = q;
		else if (!strcmp(it->string, "GPU"))
			r->gpu = q;
		else if (!strcmp(it->string, "memory"))
			r->mem = (int64_t)it->valuedouble;
		else if (r->ncustom < MAX_CUSTOM && (r->custom[r->ncustom].name = res_name(it->string)))
			r->custom[r->ncustom++].q = q;
		else
			return -1;
	}
	return 0;
}

static int res_empty(const res *r)
{
	int k;

	if (r->cpu > 0 || r->gpu > 0 || r->mem > 0)
		return 0;
	for (k = 0; k < r->ncustom; k++)
		if (r->custom[k].q > 0)
			return 0;
	return 1;
}

static void pg_free(pg *g)
{
	free(g->name);
	free(g->b);
	free(g->node);
	free(g->try_node);
	free(g->prepared);
	free(g);
}

static pg *pg_new(int nb)
{
	pg *g = calloc(1, sizeof(*g));

	if (!g)
		return NULL;
	g->b = calloc((size_t)nb, sizeof(*g->b));
	g->node = calloc((size_t)nb, sizeof(*g->node));
	g->try_node = calloc((size_t)nb, sizeof(*g->try_node));
	g->prepared = calloc((size_t)nb, sizeof(*g->prepared));
	if (!g->b || !g->node || !g->try_node || !g->prepared) {
		pg_free(g);
		return NULL;
	}
	return g;
}

/* Replaces the table with the groups of a JSON array (pg_json's form). */
static void table_load(const cJSON *a)
{
	const cJSON *it;
	pg *g, *next, *fresh = NULL, **tail = &fresh;

	if (!cJSON_IsArray(a))
		return;
	cJSON_ArrayForEach(it, a) {
		const char *id = rj_str(it, "pg_id"), *st = rj_str(it, "state"), *sg = rj_str(it, "strategy");
		const cJSON *bs = cJSON_GetObjectItemCaseSensitive(it, "bundles"), *b;
		const cJSON *cr = cJSON_GetObjectItemCaseSensitive(it, "created");
		int i = 0, k, nb = cJSON_GetArraySize(bs);
		if (!id || strlen(id) > RAY_ID_MAX || nb < 1 || nb > MAX_BUNDLES || !(g = pg_new(nb)))
			continue;
		snprintf(g->id, sizeof(g->id), "%s", id);
		g->created = cJSON_IsNumber(cr) ? cr->valuedouble : 0;
		g->name = rj_str(it, "name") ? strdup(rj_str(it, "name")) : NULL;
		for (k = 0; k < 4; k++) {
			if (st && !strcmp(st, pg_states[k]))
				g->state = k;
			if (sg && !strcmp(sg, strategies[k]))
				g->strategy = k;
		}
		cJSON_ArrayForEach(b, bs) {
			const char *nid = rj_str(b, "node_id");
			if (i == nb)
				break;
			parse_bundle(&g->b[i], cJSON_GetObjectItemCaseSensitive(b, "resources"));
			snprintf(g->node[i], sizeof(g->node[0]), "%s", nid ? nid : "");
			i++;
		}
		g->nb = i;
		*tail = g;
		tail = &g->next;
	}
	for (g = groups; g; g = next) {
		next = g->next;
		pg_free(g);
	}
	groups = fresh;
}

void pg_merge_table(const cJSON *a)
{
	if (!N->is_head)
		table_load(a);
}

/* The head writes a group's record before it answers for the change. */
static void pg_save(const pg *g)
{
	cJSON *j;

	if (!state_on())
		return;
	if (g->state == PG_REMOVED) {
		state_del("pg", g->id);
		return;
	}
	j = pg_json(g);
	state_put("pg", g->id, j);
	cJSON_Delete(j);
}

static void on_saved_pg(void *ud, const char *key, const cJSON *v)
{
	(void)key;
	cJSON_AddItemToArray(ud, cJSON_Duplicate(v, 1));
}

/* A head started again: the groups of the one before, with their bundles'
 * nodes (those nodes still hold the reservations). */
int pg_restore(void)
{
	cJSON *a = cJSON_CreateArray();
	int rc = state_scan("pg", on_saved_pg, a), n = cJSON_GetArraySize(a);

	if (!rc && n) {
		const char *old = state_prev_head();
		pg *g;
		int i;
		table_load(a);
		/* What was reserved on the old head went with it. */
		for (g = groups; old && g; g = g->next)
			for (i = 0; i < g->nb; i++)
				if (!strcmp(g->node[i], old)) {
					g->node[i][0] = '\0';
					if (g->state == PG_CREATED)
						g->state = PG_RESCHEDULING;
				}
		node_log("resumed %d placement groups from the state store", n);
	}
	cJSON_Delete(a);
	return rc;
}

/* For placement of a task: where bundle `index` of a group is; NULL once
 * the group is gone.  For any bundle (-1), the caller has found no room in
 * this node's bundles, so the others are taken in turn ("" while one is
 * unplaced; this node's id when it holds them all). */
const char *pg_bundle_node(const char *pgid, int index, int *state, int *nb)
{
	pg *g = pg_find(pgid);
	static unsigned rr;
	unsigned i, k, n;

	if (!g || g->state == PG_REMOVED)
		return NULL;
	*state = g->state == PG_CREATED ? 1 : 0;
	*nb = g->nb;
	if (index >= 0)
		return index < g->nb ? g->node[index] : NULL;
	n = (unsigned)g->nb;
	for (k = 0; k < n; k++) {
		i = (rr + k) % n;
		if (strcmp(g->node[i], N->id)) {
			rr = i + 1;
			return g->node[i];
		}
	}
	return N->id;
}

/* Whether req fits in bundle `index` (any bundle: -1) as created. */
int pg_bundle_fits(const char *pgid, int index, const res *req)
{
	pg *g = pg_find(pgid);
	int i;

	if (!g)
		return 0;
	for (i = 0; i < g->nb; i++)
		if ((index < 0 || i == index) && res_fits(req, &g->b[i]))
			return 1;
	return 0;
}

const char *pg_resolve_id(const char *idname)
{
	pg *g = pg_find(idname);

	return g ? g->id : NULL;
}

void pg_tick(void)
{
	pg *g;

	if (!N->is_head)
		return;
	for (g = groups; g; g = g->next)
		pg_try(g);
}

void pg_node_died(const char *id)
{
	pg *g;
	int i;

	if (!N->is_head)
		return;
	for (g = groups; g; g = g->next) {
		int lost = 0;
		if (g->state == PG_REMOVED)
			continue;
		for (i = 0; i < g->nb; i++) {
			if (!strcmp(g->node[i], id)) {
				g->node[i][0] = '\0';
				lost = 1;
			}
			/* A placement in flight must not settle onto the dead node. */
			if (g->placing && !strcmp(g->try_node[i], id))
				g->refused = 1;
		}
		if (lost && g->state == PG_CREATED) {
			g->state = PG_RESCHEDULING;
			node_log("placement group %s lost bundles on node %s: rescheduling", g->id, id);
		}
		if (lost)
			pg_save(g);
	}
	pg_tick();
}

/* ---- clients waiting for a group ---- */

static void waiter_closed(uv_handle_t *h)
{
	free(h->data);
}

void pg_waiters_answer(pg *g, int code, const char *msg)
{
	pgwait *w;

	while ((w = g->waiters)) {
		g->waiters = w->next;
		if (code) {
			conn_reply_err(w->c, w->req_id, code, "%s", msg);
		} else {
			cJSON *r = cJSON_CreateObject();
			cJSON_AddStringToObject(r, "pg_id", g->id);
			cJSON_AddItemToObject(r, "pg", pg_json(g));
			conn_reply(w->c, w->req_id, r, NULL, 0);
		}
		conn_resume(w->c);
		conn_unref(w->c);
		uv_timer_stop(&w->timer);
		uv_close((uv_handle_t *)&w->timer, waiter_closed);
	}
}

void pg_settled(pg *g)
{
	pg_save(g);
	pg_waiters_answer(g, 0, NULL);
}

void pg_wait_timeout(uv_timer_t *t)
{
	pgwait *w = t->data, **pp;
	pg *g = w->g;

	for (pp = &g->waiters; *pp; pp = &(*pp)->next)
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	conn_reply_err(w->c, w->req_id, RAY_ETIMEOUT,
	               "placement group %s is not ready yet (still %s); it stays pending until removed",
	               g->id, pg_states[g->state]);
	conn_resume(w->c);
	conn_unref(w->c);
	uv_close((uv_handle_t *)&w->timer, waiter_closed);
}

/* Picks a node for every unplaced bundle by the strategy; 0 when done. */
/* ---- requests ---- */

/* Learn a group the head just made or removed now, not at the next
 * heartbeat, so that the next request here already knows. */
static void learn_pg(cJSON *reply)
{
	const char *gone = rj_str(reply, "removed");
	cJSON *one;
	pg *g, **pp;

	if (gone) {
		for (pp = &groups; *pp; pp = &(*pp)->next)
			if (!strcmp((*pp)->id, gone)) {
				g = *pp;
				*pp = g->next;
				pg_free(g);
				break;
			}
		node_kick();
		return;
	}
	if (!cJSON_GetObjectItemCaseSensitive(reply, "pg"))
		return;
	/* Newest first, as the head's table is. */
	one = cJSON_CreateArray();
	cJSON_AddItemToArray(one, cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(reply, "pg"), 1));
	for (g = groups; g; g = g->next)
		if (strcmp(g->id, rj_str(reply, "pg_id") ? rj_str(reply, "pg_id") : ""))
			cJSON_AddItemToArray(one, pg_json(g));
	pg_merge_table(one);
	cJSON_Delete(one);
}

typedef struct refresh {
	conn *c;
	uint32_t id;
	cJSON *req;               /* owned: the request to run again */
	peer *p;
	void (*again)(conn *c, uint32_t id, cJSON *req);
} refresh;

static void on_refreshed(void *ud, int rc, cJSON *reply, const char *d, size_t dl)
{
	refresh *rf = ud;
	const cJSON *items = cJSON_GetObjectItemCaseSensitive(reply, "items"), *it;

	(void)d;
	(void)dl;
	if (!rc && cJSON_IsArray(items)) {
		/* pg_list is oldest first; the table is newest first. */
		cJSON *a = cJSON_CreateArray();
		cJSON_ArrayForEach(it, items)
			if (cJSON_IsString(cJSON_GetObjectItemCaseSensitive(it, "state")) &&
			    strcmp(rj_str(it, "state"), "REMOVED"))
				cJSON_InsertItemInArray(a, 0, cJSON_Duplicate(it, 1));
		pg_merge_table(a);
		cJSON_Delete(a);
	}
	cJSON_AddBoolToObject(rf->req, "pg_refreshed", 1);
	rf->again(rf->c, rf->id, rf->req);
	conn_resume(rf->c);
	conn_unref(rf->c);
	peer_close(rf->p);
	cJSON_Delete(rf->req);
	free(rf);
}

/* On a non-head node, a request naming a group this node has not heard of
 * yet (made a moment ago through another node): fetch the head's table,
 * then run the request again.  Returns 1 when it took the request. */
int pg_refresh_then(conn *c, uint32_t id, cJSON *req, void (*again)(conn *c, uint32_t id, cJSON *req))
{
	refresh *rf;
	cJSON *q;

	if (N->is_head || rj_bool(req, "pg_refreshed"))
		return 0;
	rf = calloc(1, sizeof(*rf));
	if (!rf || !(rf->req = cJSON_Duplicate(req, 1)) || !(rf->p = peer_private(N->head_addr))) {
		if (rf)
			cJSON_Delete(rf->req);
		free(rf);
		return 0;
	}
	rf->c = c;
	rf->id = id;
	rf->again = again;
	q = cJSON_CreateObject();
	cJSON_AddStringToObject(q, "op", "pg_list");
	c->busy = 1;
	conn_ref(c);
	if (peer_request(rf->p, q, NULL, 0, on_refreshed, rf)) {
		cJSON_Delete(q);
		peer_close(rf->p);
		cJSON_Delete(rf->req);
		free(rf);
		conn_unref(c);
		c->busy = 0;
		return 0;
	}
	cJSON_Delete(q);
	return 1;
}

static int proxy(conn *c, uint32_t id, cJSON *req)
{
	return proxy_to_head(c, id, req, learn_pg);
}

static void op_create(conn *c, uint32_t id, cJSON *req)
{
	const cJSON *bs = cJSON_GetObjectItemCaseSensitive(req, "bundles"), *b;
	const char *sg = rj_str(req, "strategy"), *name = rj_str(req, "name");
	int64_t timeout = rj_int(req, "timeout", -1);
	char rnd[17];
	pg *g;
	int i = 0, k, strategy = S_PACK;

	if (sg) {
		for (strategy = -1, k = 0; k < 4; k++)
			if (!strcmp(sg, strategies[k]))
				strategy = k;
		if (strategy < 0) {
			conn_reply_err(c, id, RAY_EUSAGE, "bad strategy '%.40s'", sg);
			return;
		}
	}
	if (!cJSON_IsArray(bs) || cJSON_GetArraySize(bs) < 1 || cJSON_GetArraySize(bs) > MAX_BUNDLES) {
		conn_reply_err(c, id, RAY_EUSAGE, "a placement group needs 1..%d bundles", MAX_BUNDLES);
		return;
	}
	if (name && pg_find(name)) {
		conn_reply_err(c, id, RAY_EUSAGE, "placement group name '%.80s' is taken", name);
		return;
	}
	g = pg_new(cJSON_GetArraySize(bs));
	if (!g) {
		conn_reply_err(c, id, RAY_ERESOURCE, "out of memory");
		return;
	}
	cJSON_ArrayForEach(b, bs) {
		if (parse_bundle(&g->b[i], b)) {
			pg_free(g);
			conn_reply_err(c, id, RAY_EUSAGE, "bad bundle %d", i);
			return;
		}
		if (res_empty(&g->b[i])) {
			pg_free(g);
			conn_reply_err(c, id, RAY_EUSAGE, "bundle %d asks for nothing: give it at least one resource above 0", i);
			return;
		}
		i++;
	}
	g->nb = i;
	g->strategy = strategy;
	g->name = name ? strdup(name) : NULL;
	ray_random_hex(rnd, 8);
	snprintf(g->id, sizeof(g->id), "%s%s", N->id, rnd);
	g->created = (double)time(NULL);
	g->next = groups;
	groups = g;
	pg_try(g);
	/* Placed at once: pg_settled wrote it already. */
	if (g->state != PG_CREATED)
		pg_save(g);
	if (g->state == PG_CREATED || !rj_bool(req, "wait") || timeout == 0) {
		cJSON *r = cJSON_CreateObject();
		if (g->state != PG_CREATED && rj_bool(req, "wait")) {
			cJSON_Delete(r);
			conn_reply_err(c, id, RAY_ETIMEOUT, "placement group %s is not ready yet; it stays pending until removed", g->id);
			return;
		}
		cJSON_AddStringToObject(r, "pg_id", g->id);
		cJSON_AddItemToObject(r, "pg", pg_json(g));
		conn_reply(c, id, r, NULL, 0);
		return;
	}
	{
		pgwait *w = calloc(1, sizeof(*w));
		if (!w) {
			conn_reply_err(c, id, RAY_ERESOURCE, "out of memory");
			return;
		}
		w->c = c;
		conn_ref(c);
		w->req_id = id;
		w->g = g;
		w->next = g->waiters;
		g->waiters = w;
		c->busy = 1;
		uv_timer_init(N->loop, &w->timer);
		w->timer.data = w;
		if (timeout > 0)
			uv_timer_start(&w->timer, pg_wait_timeout, (uint64_t)timeout, 0);
	}
}

/* Forgets the oldest removed groups beyond MAX_REMOVED (never one whose
 * placement is still in flight: its answers must find it). */
static void prune_removed(void)
{
	pg **pp, *g;
	int n = 0;

	for (pp = &groups; (g = *pp);) {
		if (g->state == PG_REMOVED && !g->placing && ++n > MAX_REMOVED) {
			*pp = g->next;
			pg_free(g);
			continue;
		}
		pp = &g->next;
	}
}

static void op_remove(conn *c, uint32_t id, cJSON *req)
{
	pg *g = pg_find(rj_str(req, "pg_id"));
	cJSON *r;
	int i;

	if (!g || g->state == PG_REMOVED) {
		conn_reply_err(c, id, RAY_ENOTFOUND, "unknown placement group '%.80s'",
		               rj_str(req, "pg_id") ? rj_str(req, "pg_id") : "");
		return;
	}
	g->state = PG_REMOVED;
	pg_save(g);
	node_log("placement group %s removed", g->id);
	for (i = 0; i < g->nb; i++)
		if (g->node[i][0]) {
			pg_release_on(g->node[i], g->id, i);
			pg_view_credit(g->node[i], &g->b[i]);
		}
	pg_waiters_answer(g, RAY_ENOTFOUND, "the placement group was removed");
	r = cJSON_CreateObject();
	cJSON_AddStringToObject(r, "removed", g->id);
	conn_reply(c, id, r, NULL, 0);
	prune_removed();
	/* Its queued tasks fail now (place() finds the group gone). */
	node_kick();
}

void op_pg(conn *c, uint32_t id, cJSON *req)
{
	const char *op = rj_str(req, "op");

	if (!strcmp(op, "pg_prepare")) {
		op_bundle_prepare(c, id, req);
		return;
	}
	if (!strcmp(op, "pg_release")) {
		op_bundle_release(c, id, req);
		return;
	}
	if (proxy(c, id, req))
		return;
	if (!strcmp(op, "pg_create")) {
		op_create(c, id, req);
	} else if (!strcmp(op, "pg_remove")) {
		op_remove(c, id, req);
	} else if (!strcmp(op, "pg_list")) {
		cJSON *r = cJSON_CreateObject();
		cJSON_AddItemToObject(r, "items", pgs_json(rj_str(req, "state"), rj_int(req, "limit", -1)));
		conn_reply(c, id, r, NULL, 0);
	} else {
		conn_reply_err(c, id, RAY_EUSAGE, "unknown request '%.64s'", op);
	}
}

void pgs_free_all(void)
{
	while (groups) {
		pg *g = groups;
		groups = g->next;
		while (g->waiters) {
			pgwait *w = g->waiters;
			g->waiters = w->next;
			free(w);
		}
		pg_free(g);
	}
	bundles_free_all();
}
