/*
 * bundle.c: the node side of placement groups.  A bundle the head reserved
 * here is a resource pool cut out of the node's own: tasks with --pg draw
 * from it, and releasing it (group removed, placement refused) kills what
 * runs in it and gives its resources back.  Reserving is the "prepare"
 * half of the head's two-phase placement (pg_place.c): it succeeds only
 * when the resources are free right now, so a refusal costs nothing.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node.h"
#include "bundle.h"
#include "pg.h"
#include "res.h"
#include "server.h"

/* A bundle reserved on this node. */
typedef struct bundle {
	char pg[RAY_ID_MAX + 1];
	int index;
	res total, avail;
	struct bundle *next;
} bundle;

static bundle *bundles;   /* reserved here */

static bundle *bundle_find(const char *pgid, int index)
{
	bundle *b;

	for (b = bundles; b; b = b->next)
		if (!strcmp(b->pg, pgid) && b->index == index)
			return b;
	return NULL;
}

/* The pool a task draws from: its bundle's, or the node's. */
res *task_pool(task *t)
{
	bundle *b;

	if (!t->pg[0])
		return &N->avail;
	if (t->bundle >= 0)
		return (b = bundle_find(t->pg, t->bundle)) ? &b->avail : NULL;
	for (b = bundles; b; b = b->next)
		if (!strcmp(b->pg, t->pg) && res_fits(t->req, &b->avail)) {
			t->bundle = b->index;
			return &b->avail;
		}
	for (b = bundles; b; b = b->next)
		if (!strcmp(b->pg, t->pg))
			return &b->avail;
	return NULL;
}

int pg_local_bundle(const char *pgid, int index)
{
	bundle *b;

	for (b = bundles; b; b = b->next)
		if (!strcmp(b->pg, pgid) && (index < 0 || b->index == index))
			return 1;
	return 0;
}

static void release_bundle(bundle *b)
{
	bundle **pp;

	for (pp = &bundles; *pp; pp = &(*pp)->next)
		if (*pp == b) {
			*pp = b->next;
			break;
		}
	res_add(&N->avail, &b->total);
	free(b);
}

/* Kills what runs in the group's bundles here and frees the bundles. */
void bundle_release_local(const char *pgid, int index)
{
	bundle *b, *next;
	task *t;

	for (t = N->thead; t; t = t->next)
		if (!strcmp(t->pg, pgid) && (index < 0 || t->bundle == index) && t->state == T_RUNNING && t->pid > 0) {
			t->cancel = 2;
			kill(-t->pid, SIGKILL);
		}
	for (b = bundles; b; b = next) {
		next = b->next;
		if (!strcmp(b->pg, pgid) && (index < 0 || b->index == index))
			release_bundle(b);
	}
	node_kick();
}

int bundle_prepare(const char *pgid, int index, const res *r)
{
	bundle *b;

	if (bundle_find(pgid, index))
		return 0;
	if (!res_fits(r, &N->avail))
		return RAY_ERESOURCE;
	b = calloc(1, sizeof(*b));
	if (!b)
		return RAY_ERESOURCE;
	snprintf(b->pg, sizeof(b->pg), "%s", pgid);
	b->index = index;
	b->total = b->avail = *r;
	res_sub(&N->avail, r);
	b->next = bundles;
	bundles = b;
	return 0;
}

/* pg_prepare, from the head: reserve bundle `index` of a group here. */
void op_bundle_prepare(conn *c, uint32_t id, cJSON *req)
{
	const char *pgid = rj_str(req, "pg_id");
	int64_t index = rj_int(req, "index", -1);
	res r;
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(req, "res"), *cu, *it;

	if (!pgid || strlen(pgid) > RAY_ID_MAX || index < 0 || index >= MAX_BUNDLES) {
		conn_reply_err(c, id, RAY_EUSAGE, "bad prepare");
		return;
	}
	memset(&r, 0, sizeof(r));
	r.cpu = rj_int(j, "cpu", 0);
	r.gpu = rj_int(j, "gpu", 0);
	r.mem = rj_int(j, "mem", 0);
	cu = cJSON_GetObjectItemCaseSensitive(j, "custom");
	cJSON_ArrayForEach(it, cu)
		if (r.ncustom < MAX_CUSTOM && cJSON_IsNumber(it) && (r.custom[r.ncustom].name = res_name(it->string)))
			r.custom[r.ncustom++].q = (int64_t)it->valuedouble;
	if (bundle_prepare(pgid, (int)index, &r))
		conn_reply_err(c, id, RAY_ERESOURCE, "resources are not free");
	else
		conn_reply(c, id, cJSON_CreateObject(), NULL, 0);
}

/* pg_release, from the head: let go of one bundle of a group (-1: all). */
void op_bundle_release(conn *c, uint32_t id, cJSON *req)
{
	const char *pgid = rj_str(req, "pg_id");

	if (pgid)
		bundle_release_local(pgid, (int)rj_int(req, "index", -1));
	conn_reply(c, id, cJSON_CreateObject(), NULL, 0);
}

void bundles_free_all(void)
{
	while (bundles) {
		bundle *b = bundles;
		bundles = b->next;
		free(b);
	}
}
