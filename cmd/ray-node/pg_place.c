/*
 * pg_place.c: the head places a group.  Placing is a two-phase
 * reservation: the head picks a node for every bundle by the group's
 * strategy, asks each node to prepare (reserve the bundle's resources if
 * they are free right now; bundle.c), and only when every node said yes is
 * the group CREATED; on any refusal the prepared bundles are released and
 * the group stays PENDING, tried again on a later tick.  So two groups
 * racing for the same resources never sit half-reserved.  The table
 * (pg.c) hears that a group is settled, and finds groups, through hooks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node.h"
#include "bundle.h"
#include "cluster.h"
#include "peer.h"
#include "pg.h"
#include "pg_place.h"
#include "res.h"

pg_place_hooks pg_place_on;

static int choose(pg *g)
{
	res avail[MAX_NODES];
	int used[MAX_NODES] = { 0 }, i, k, n = N->nview;

	for (k = 0; k < n; k++) {
		avail[k] = strcmp(N->view[k].id, N->id) ? N->view[k].avail : N->avail;
		for (i = 0; i < g->nb; i++)
			if (!strcmp(g->node[i], N->view[k].id))
				used[k]++;
	}
	if (g->strategy == S_STRICT_PACK || g->strategy == S_PACK) {
		/* One node if one can take everything unplaced. */
		for (k = 0; k < n; k++) {
			res need = { 0 };
			if (!N->view[k].alive)
				continue;
			for (i = 0; i < g->nb; i++)
				if (!g->node[i][0])
					res_add(&need, &g->b[i]);
			if (res_fits(&need, &avail[k])) {
				for (i = 0; i < g->nb; i++)
					snprintf(g->try_node[i], sizeof(g->try_node[0]), "%s",
					         g->node[i][0] ? g->node[i] : N->view[k].id);
				return 0;
			}
		}
		if (g->strategy == S_STRICT_PACK)
			return -1;
	}
	for (i = 0; i < g->nb; i++) {
		int best = -1;
		if (g->node[i][0]) {
			snprintf(g->try_node[i], sizeof(g->try_node[0]), "%s", g->node[i]);
			continue;
		}
		for (k = 0; k < n; k++) {
			if (!N->view[k].alive || !res_fits(&g->b[i], &avail[k]))
				continue;
			if (g->strategy == S_STRICT_SPREAD && used[k])
				continue;
			if (best < 0 || (g->strategy == S_PACK ? used[k] > used[best] : used[k] < used[best]))
				best = k;
		}
		if (best < 0)
			return -1;
		res_sub(&avail[best], &g->b[i]);
		used[best]++;
		snprintf(g->try_node[i], sizeof(g->try_node[0]), "%s", N->view[best].id);
	}
	return 0;
}

/* The head's view of another node's free resources lags by a heartbeat;
 * what it reserves there, or lets go of, is counted at once. */
static void view_debit(const char *node_id, const res *r)
{
	rnode *v = strcmp(node_id, N->id) ? view_find(node_id) : NULL;

	if (v)
		res_sub(&v->avail, r);
}

void pg_view_credit(const char *node_id, const res *r)
{
	rnode *v = strcmp(node_id, N->id) ? view_find(node_id) : NULL;
	int i, k;

	if (!v)
		return;
	res_add(&v->avail, r);
	if (v->avail.cpu > v->total.cpu)
		v->avail.cpu = v->total.cpu;
	if (v->avail.gpu > v->total.gpu)
		v->avail.gpu = v->total.gpu;
	if (v->avail.mem > v->total.mem)
		v->avail.mem = v->total.mem;
	for (i = 0; i < v->avail.ncustom; i++)
		for (k = 0; k < v->total.ncustom; k++)
			if (!strcmp(v->avail.custom[i].name, v->total.custom[k].name) &&
			    v->avail.custom[i].q > v->total.custom[k].q)
				v->avail.custom[i].q = v->total.custom[k].q;
}

static void pg_settle(pg *g)
{
	int i;

	g->placing = 0;
	if (g->state == PG_REMOVED) {
		/* Removed while placing: let go of what was prepared. */
		for (i = 0; i < g->nb; i++)
			if (g->prepared[i])
				pg_release_on(g->try_node[i], g->id, i);
		return;
	}
	if (g->refused) {
		/* Every node asked lets go, also those whose answer was lost. */
		for (i = 0; i < g->nb; i++)
			if (!g->node[i][0]) {
				pg_release_on(g->try_node[i], g->id, i);
				pg_view_credit(g->try_node[i], &g->b[i]);
				g->prepared[i] = 0;
			}
		return;   /* tried again on a later tick */
	}
	for (i = 0; i < g->nb; i++)
		snprintf(g->node[i], sizeof(g->node[0]), "%s", g->try_node[i]);
	g->state = PG_CREATED;
	node_log("placement group %s created", g->id);
	pg_place_on.settled(g);
	node_kick();
}

typedef struct prep {
	char pg[RAY_ID_MAX + 1];
	int index;
} prep;

static void on_prepared(void *ud, int rc, cJSON *reply, const char *d, size_t dl)
{
	prep *p = ud;
	pg *g = pg_place_on.find(p->pg);

	(void)reply;
	(void)d;
	(void)dl;
	if (g && g->placing) {
		g->replies--;
		if (rc)
			g->refused = 1;
		else
			g->prepared[p->index] = 1;
		if (!g->replies)
			pg_settle(g);
	}
	free(p);
}

void pg_release_on(const char *node_id, const char *pgid, int index)
{
	cJSON *req;
	peer *p;

	if (!strcmp(node_id, N->id)) {
		bundle_release_local(pgid, index);
		return;
	}
	p = peer_node(node_id);
	if (!p)
		return;
	req = cJSON_CreateObject();
	cJSON_AddStringToObject(req, "op", "pg_release");
	cJSON_AddStringToObject(req, "pg_id", pgid);
	cJSON_AddNumberToObject(req, "index", index);
	peer_request(p, req, NULL, 0, NULL, NULL);
	cJSON_Delete(req);
}

void pg_try(pg *g)
{
	int i;

	if (g->placing || (g->state != PG_PENDING && g->state != PG_RESCHEDULING))
		return;
	if (choose(g))
		return;
	g->placing = 1;
	g->refused = 0;
	g->replies = 0;
	for (i = 0; i < g->nb; i++)
		if (!g->node[i][0])
			g->replies++;
	for (i = 0; i < g->nb; i++) {
		if (g->node[i][0])
			continue;
		g->prepared[i] = 0;
		if (!strcmp(g->try_node[i], N->id)) {
			g->replies--;
			if (bundle_prepare(g->id, i, &g->b[i]))
				g->refused = 1;
			else
				g->prepared[i] = 1;
		} else {
			peer *p = peer_node(g->try_node[i]);
			prep *pp = calloc(1, sizeof(*pp));
			cJSON *req = cJSON_CreateObject(), *r;
			if (!p || !pp) {
				free(pp);
				cJSON_Delete(req);
				g->replies--;
				g->refused = 1;
				continue;
			}
			snprintf(pp->pg, sizeof(pp->pg), "%s", g->id);
			pp->index = i;
			cJSON_AddStringToObject(req, "op", "pg_prepare");
			cJSON_AddStringToObject(req, "pg_id", g->id);
			cJSON_AddNumberToObject(req, "index", i);
			r = cJSON_AddObjectToObject(req, "res");
			cJSON_AddNumberToObject(r, "cpu", (double)g->b[i].cpu);
			cJSON_AddNumberToObject(r, "gpu", (double)g->b[i].gpu);
			cJSON_AddNumberToObject(r, "mem", (double)g->b[i].mem);
			{
				cJSON *cu = cJSON_AddObjectToObject(r, "custom");
				int k;
				for (k = 0; k < g->b[i].ncustom; k++)
					cJSON_AddNumberToObject(cu, g->b[i].custom[k].name, (double)g->b[i].custom[k].q);
			}
			if (peer_request(p, req, NULL, 0, on_prepared, pp)) {
				free(pp);
				g->replies--;
				g->refused = 1;
			} else {
				view_debit(g->try_node[i], &g->b[i]);
			}
			cJSON_Delete(req);
		}
	}
	if (!g->replies)
		pg_settle(g);
}

