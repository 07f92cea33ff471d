/*
 * actor_dir.c: the head's directory of actors: create, find by id or by
 * name (in a namespace), list, kill, and where each one runs.  An actor is
 * placed exactly as a task would be (place_pick: resources, --node,
 * --label, --prefer-label, --strategy spread, --pg/--bundle); on this node
 * it starts at once, on another the head sends it there (actor_host) and
 * the host reports each change of state back (actor_report).  When a node
 * dies, the actors it hosted restart on other nodes within --max-restarts.
 * Callers ask where an actor runs (actor_where) and send their calls there
 * themselves (actor_route.c): no call passes through the head.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node.h"
#include "actor.h"
#include "cluster.h"
#include "launch.h"
#include "peer.h"
#include "place.h"
#include "proto.h"
#include "res.h"
#include "sched.h"
#include "server.h"
#include "state.h"
#include "task.h"

static int remote(const actor *a)
{
	return a->node[0] && strcmp(a->node, N->id);
}

/* Asks the node hosting a to stop it (or restart its process). */
static void send_stop(const actor *a, int restart, const char *cause, int graceful)
{
	peer *p = peer_node(a->node);
	cJSON *req;

	if (!p)
		return;
	req = cJSON_CreateObject();
	cJSON_AddStringToObject(req, "op", "actor_stop");
	cJSON_AddStringToObject(req, "actor_id", a->id);
	cJSON_AddBoolToObject(req, "restart", restart);
	cJSON_AddBoolToObject(req, "graceful", graceful);
	cJSON_AddStringToObject(req, "cause", cause);
	peer_request(p, req, NULL, 0, NULL, NULL);
	cJSON_Delete(req);
}

/* Kills a for good (or, restart, its process only), wherever it runs. */
static void kill_actor(actor *a, int restart, const char *cause, int graceful)
{
	if (!remote(a)) {
		if (restart)
			actor_restart_now(a);
		else
			actor_stop(a, cause, graceful);
		return;
	}
	send_stop(a, restart, cause, graceful);
	if (!restart && a->state != A_DEAD) {
		a->killed = 1;
		actor_set_cause(a, "%s", cause);
		actor_go_dead(a);
	}
}

void actor_job_ended(const char *job_id)
{
	actor *a;

	for (a = actors_first(); a; a = a->next)
		if (!a->instance && !a->detached && !strcmp(a->job, job_id) && a->state != A_DEAD)
			kill_actor(a, 0, "was stopped because its job ended", 1);
}

/* ---- placement ---- */

/* Whether actor_sched has work: set on every change of a directory entry
 * and on the tick; with actors waiting for room, each run looks again.
 * Without it every scheduling pass walked all actors (1,000 live actors
 * made each creation a millisecond slower). */
static int sched_dirty = 1;
static size_t sched_waiting;


static void on_hosted(void *ud, int rc, cJSON *reply, const char *d, size_t dl)
{
	actor *a = actor_find(ud);
	const char *msg = rj_str(reply, "msg");

	(void)d;
	(void)dl;
	free(ud);
	if (!a || !remote(a))
		return;
	if (a->state == A_DEAD) {
		if (!rc)
			send_stop(a, 0, a->cause ? a->cause : "was killed", 0);
		return;
	}
	if (!rc) {
		a->placed = 1;
		if (rj_int(reply, "pid", 0) > 0 && a->state != A_ALIVE) {
			a->pid = (int)rj_int(reply, "pid", 0);
			a->state = A_ALIVE;
		}
		actor_dir_save(a);
		return;
	}
	if (rc == RAY_EFAILED) {
		a->killed = 1;
		actor_set_cause(a, "%s", msg ? msg : "could not be started");
		actor_go_dead(a);
		return;
	}
	/* Refused (its resources went meanwhile) or unreachable: place again. */
	node_log("actor %s not taken by node %s: %s", a->id, a->node, msg ? msg : "no answer");
	a->node[0] = '\0';
	a->placed = 0;
	sched_dirty = 1;
}

static cJSON *host_json(const actor *a)
{
	cJSON *j = cJSON_CreateObject(), *arr;
	int i;

	cJSON_AddStringToObject(j, "id", a->id);
	if (a->name)
		cJSON_AddStringToObject(j, "name", a->name);
	cJSON_AddStringToObject(j, "namespace", a->ns);
	cJSON_AddStringToObject(j, "job", a->job);
	arr = cJSON_AddArrayToObject(j, "argv");
	for (i = 0; a->argv[i]; i++)
		cJSON_AddItemToArray(arr, cJSON_CreateString(a->argv[i]));
	arr = cJSON_AddArrayToObject(j, "env");
	for (i = 0; a->env && a->env[i]; i++)
		cJSON_AddItemToArray(arr, cJSON_CreateString(a->env[i]));
	cJSON_AddItemToObject(j, "req", res_to_json_raw(&a->req));
	if (a->workdir)
		cJSON_AddStringToObject(j, "working_dir", a->workdir);
	if (a->shape.pg[0]) {
		cJSON_AddStringToObject(j, "pg", a->shape.pg);
		cJSON_AddNumberToObject(j, "bundle", a->shape.bundle);
	}
	cJSON_AddNumberToObject(j, "protocol", a->protocol);
	cJSON_AddBoolToObject(j, "detached", a->detached);
	cJSON_AddNumberToObject(j, "max_restarts", a->max_restarts);
	cJSON_AddNumberToObject(j, "max_task_retries", a->max_task_retries);
	cJSON_AddNumberToObject(j, "max_concurrency", a->max_concurrency);
	cJSON_AddNumberToObject(j, "num_restarts", a->num_restarts);
	return j;
}

/* Sends a to node r to run there. */
static int send_host(actor *a, rnode *r)
{
	peer *p = peer_for(r->id, r->addr);
	cJSON *req;
	char *ud = strdup(a->id);
	int rc;

	if (!p || !ud) {
		free(ud);
		return -1;
	}
	req = cJSON_CreateObject();
	cJSON_AddStringToObject(req, "op", "actor_host");
	cJSON_AddItemToObject(req, "actor", host_json(a));
	rc = peer_request(p, req, NULL, 0, on_hosted, ud);
	cJSON_Delete(req);
	if (rc) {
		free(ud);
		return -1;
	}
	if (!a->shape.pg[0])
		res_sub(&r->avail, &a->req);   /* until its next heartbeat says */
	snprintf(a->node, sizeof(a->node), "%s", r->id);
	a->placed = 0;
	actor_dir_save(a);
	return 0;
}

void actor_sched_wake(void)
{
	sched_dirty = 1;
}

/* Places one actor that waits for a node: 1 when it still waits. */
static int place_one(actor *a)
{
	char why[600], desc[300];
	rnode *r;

	if (a->instance || a->node[0] || a->holding || N->stopping ||
	    (a->state != A_PENDING && a->state != A_RESTARTING))
		return 0;
	switch (place_pick(&a->shape, &r, why, sizeof(why))) {
	case 0:
		return actor_take(a) ? 1 : 0;
	case 1:
		send_host(a, r);
		return 0;
	case 2:
		/* "task ID can never ...": the reason after the name */
		task_desc(&a->shape, desc, sizeof(desc));
		a->killed = 1;
		actor_set_cause(a, "%s", strlen(why) > strlen(desc) ? why + strlen(desc) + 1 : why);
		actor_go_dead(a);
		return 0;
	}
	return 1;
}

void actor_sched(void)
{
	actor *a, *next;

	if (!sched_dirty && !sched_waiting)
		return;
	sched_dirty = 0;
	sched_waiting = 0;
	for (a = actors_first(); a; a = next) {
		next = a->next;
		sched_waiting += (size_t)place_one(a);
	}
}

void actor_node_died(const char *node_id)
{
	actor *a;

	for (a = actors_first(); a; a = a->next) {
		if (a->instance || strcmp(a->node, node_id) || a->state == A_DEAD)
			continue;
		a->node[0] = '\0';
		a->placed = 0;
		a->pid = 0;
		actor_set_cause(a, "died with its node %s", node_id);
		if (a->killed || a->num_restarts >= a->max_restarts) {
			a->killed = 1;
			actor_go_dead(a);
			continue;
		}
		a->num_restarts++;
		a->state = A_RESTARTING;
		actor_dir_save(a);
		node_log("restarting actor %s elsewhere (%d of %d): its node %s died", a->id, a->num_restarts,
		         a->max_restarts, node_id);
	}
	node_kick();
}

void actors_demands(cJSON *arr)
{
	const actor *a;

	for (a = actors_first(); a; a = a->next)
		if (!a->instance && !a->node[0] && (a->state == A_PENDING || a->state == A_RESTARTING)) {
			cJSON *s = place_demand(&a->shape);
			cJSON_AddStringToObject(s, "actor_id", a->id);
			cJSON_AddItemToArray(arr, s);
		}
}

/* ---- requests ---- */


static char *name_key(const char *ns, const char *name)
{
	size_t n = strlen(ns) + strlen(name) + 2;
	char *k = malloc(n);

	if (k)
		snprintf(k, n, "%s\x1f%s", ns, name);
	return k;
}

static const char *default_ns(const cJSON *req, char *buf, size_t len)
{
	const char *ns = rj_str(req, "namespace"), *job = rj_str(req, "job_id");

	if (ns && *ns)
		return ns;
	if (job && *job && strcmp(job, "00000000")) {
		snprintf(buf, len, "job-%s", job);
		return buf;
	}
	return "default";
}

/* The actor named by req's key (by id, or by name in the request's
 * namespace), or NULL with err set. */
static actor *actor_lookup(const cJSON *req, const char *key, ray_err *err)
{
	const char *ref = rj_str(req, key);
	char nsbuf[96], *k;
	actor *a;

	if (!ref || !*ref) {
		ray_seterr(err, RAY_EUSAGE, "no actor given");
		return NULL;
	}
	a = actor_find(ref);
	if (a)
		return a;
	k = name_key(default_ns(req, nsbuf, sizeof(nsbuf)), ref);
	a = k ? actor_by_key(k) : NULL;
	free(k);
	if (!a)
		ray_seterr(err, RAY_ENOTFOUND, "unknown actor '%.80s' in namespace '%s'", ref,
		           default_ns(req, nsbuf, sizeof(nsbuf)));
	return a;
}

actor *actor_resolve(const cJSON *req, const char *key, conn *c, uint32_t id)
{
	ray_err err = { 0, "" };
	actor *a = actor_lookup(req, key, &err);

	if (!a)
		conn_reply_err(c, id, err.code, "%s", err.msg);
	return a;
}

/* An actor as the create request describes it (not yet in the table, no
 * id); NULL with err set.  Shared by creating and by reading a record of
 * the state store back. */
static actor *dir_build(const cJSON *req, int saved, ray_err *err)
{
	const cJSON *opts = cJSON_GetObjectItemCaseSensitive(req, "opts");
	const char *name = rj_str(req, "name"), *job = rj_str(opts, "job_id");
	char nsbuf[96];
	int proto = proto_parse_name(rj_str(req, "protocol"));
	char **argv;
	task shape;
	actor *a;

	if (proto < 0) {
		ray_seterr(err, RAY_EUSAGE, "bad --protocol: want line, tagged or frame");
		return NULL;
	}
	if (name && (!*name || strlen(name) > 256)) {
		ray_seterr(err, RAY_EUSAGE, "bad actor name");
		return NULL;
	}
	if ((saved ? sched_shape_saved(opts, &shape, err) : sched_shape(opts, &shape, NULL, 0, err)))
		return NULL;
	argv = json_strv(cJSON_GetObjectItemCaseSensitive(req, "argv"), 0, err);
	if (!argv || !argv[0] || !(a = calloc(1, sizeof(*a)))) {
		if (argv && argv[0])
			ray_seterr(err, RAY_ERESOURCE, "out of memory");
		else if (argv)
			ray_seterr(err, RAY_EUSAGE, "empty command");
		ray_strv_free(argv);
		free(shape.labels);
		free(shape.prefer);
		return NULL;
	}
	if (!job)
		job = rj_str(req, "job_id");
	{
		cJSON *tmp = cJSON_CreateObject();
		if (rj_str(req, "namespace"))
			cJSON_AddStringToObject(tmp, "namespace", rj_str(req, "namespace"));
		if (job)
			cJSON_AddStringToObject(tmp, "job_id", job);
		a->ns = strdup(default_ns(tmp, nsbuf, sizeof(nsbuf)));
		cJSON_Delete(tmp);
	}
	snprintf(a->job, sizeof(a->job), "%s", job && strlen(job) <= RAY_ID_MAX ? job : "00000000");
	a->name = name ? strdup(name) : NULL;
	a->key = name && a->ns ? name_key(a->ns, name) : NULL;
	a->argv = argv;
	a->env = json_strv(cJSON_GetObjectItemCaseSensitive(opts, "env"), 1, NULL);
	a->workdir = rj_str(opts, "working_dir") ? strdup(rj_str(opts, "working_dir")) : NULL;
	a->req = *shape.req;
	a->shape = shape;
	a->shape.req = &a->req;
	a->protocol = proto;
	a->detached = rj_bool(req, "detached");
	a->max_restarts = (int)rj_int(req, "max_restarts", 0);
	a->max_task_retries = (int)rj_int(req, "max_task_retries", 0);
	a->max_concurrency = (int)rj_int(req, "max_concurrency", 1);
	if (a->max_restarts < 0)
		a->max_restarts = UNLIMITED;   /* -1: without limit */
	if (a->max_task_retries < 0)
		a->max_task_retries = UNLIMITED;
	if (a->max_concurrency < 1 || a->max_concurrency > MAX_CONCURRENCY)
		a->max_concurrency = 1;
	a->created_ms = ray_now_ms();
	a->state = A_PENDING;
	a->spec = cJSON_Duplicate(req, 1);
	return a;
}

/* ---- the durable directory (the head's state store) ---- */

/* The head writes an actor's record before it answers for a change; a dead
 * actor's record goes (its name is free). */
void actor_dir_save(actor *a)
{
	cJSON *j;

	sched_dirty = 1;
	if (!state_on() || a->instance || !a->spec)
		return;
	if (a->state == A_DEAD) {
		state_del("actor", a->id);
		return;
	}
	j = cJSON_CreateObject();
	cJSON_AddItemToObject(j, "spec", cJSON_Duplicate(a->spec, 1));
	cJSON_AddStringToObject(j, "node", a->node);
	cJSON_AddNumberToObject(j, "state", a->state);
	cJSON_AddNumberToObject(j, "num_restarts", a->num_restarts);
	cJSON_AddNumberToObject(j, "pid", a->pid);
	cJSON_AddBoolToObject(j, "placed", a->placed);
	cJSON_AddNumberToObject(j, "created_ms", (double)a->created_ms);
	state_put("actor", a->id, j);
	cJSON_Delete(j);
}

static void on_saved_actor(void *ud, const char *key, const cJSON *v)
{
	ray_err err = { 0, "" };
	const char *where = rj_str(v, "node");
	int *n = ud, st = (int)rj_int(v, "state", A_PENDING);
	actor *a;

	if (strlen(key) > RAY_ID_MAX || actor_find(key) ||
	    !(a = dir_build(cJSON_GetObjectItemCaseSensitive(v, "spec"), 1, &err))) {
		node_log("state store: actor %.40s cannot be read back: %s", key, err.msg);
		return;
	}
	snprintf(a->id, sizeof(a->id), "%s", key);
	snprintf(a->shape.id, sizeof(a->shape.id), "%s", a->id);
	if (a->key && actor_by_key(a->key)) {
		actor_free(a);
		return;
	}
	snprintf(a->node, sizeof(a->node), "%s", where && strlen(where) <= RAY_NODEID_LEN ? where : "");
	a->state = st > A_PENDING && st < A_DEAD ? st : A_PENDING;
	a->num_restarts = (int)rj_int(v, "num_restarts", 0);
	a->pid = (int)rj_int(v, "pid", 0);
	a->placed = rj_bool(v, "placed");
	actor_add(a);
	sched_dirty = 1;
	(*n)++;
}

/* A head started again: the directory from the state store.  Actors whose
 * nodes come back keep their processes and their state; those that ran on
 * the old head restart elsewhere, within --max-restarts. */
int actors_restore(void)
{
	const char *old = state_prev_head();
	int n = 0, rc = state_scan("actor", on_saved_actor, &n);

	if (rc)
		return rc;
	if (n)
		node_log("resumed %d actors from the state store", n);
	if (n && old)
		actor_node_died(old);
	return 0;
}

static void op_create(conn *c, uint32_t id, cJSON *req)
{
	ray_err err = { 0, "" };
	char rnd[17], warn[400], why[300];
	actor *a = dir_build(req, 0, &err), *old;
	cJSON *r;

	if (!a) {
		conn_reply_err(c, id, err.code, "%s", err.msg);
		return;
	}
	old = a->key ? actor_by_key(a->key) : NULL;
	if (old && old->state != A_DEAD) {
		if (rj_bool(req, "get_if_exists")) {
			r = cJSON_CreateObject();
			cJSON_AddStringToObject(r, "actor_id", old->id);
			cJSON_AddBoolToObject(r, "existed", 1);
			conn_reply(c, id, r, NULL, 0);
		} else {
			conn_reply_err(c, id, RAY_EUSAGE,
			               "actor name '%s' is taken in namespace '%s' (use --get-if-exists)", a->name, a->ns);
		}
		actor_free(a);
		return;
	}
	ray_random_hex(rnd, 8);
	snprintf(a->id, sizeof(a->id), "%s%s", N->id, rnd);
	snprintf(a->shape.id, sizeof(a->shape.id), "%s", a->id);
	actor_add(a);
	r = cJSON_CreateObject();
	cJSON_AddStringToObject(r, "actor_id", a->id);
	if (place_infeasible_reason(&a->shape, why, sizeof(why))) {
		snprintf(warn, sizeof(warn), "infeasible: %s; the actor stays pending until a node that fits joins", why);
		cJSON_AddStringToObject(r, "warning", warn);
	}
	sched_waiting += (size_t)place_one(a);
	actor_dir_save(a);
	if ((a->state == A_DEAD || a->killed) && a->cause) {
		cJSON_Delete(r);
		conn_reply_err(c, id, RAY_EFAILED, "actor %s %s", a->id, a->cause);
		return;
	}
	conn_reply(c, id, r, NULL, 0);
}

static cJSON *actor_json(const actor *a)
{
	cJSON *j = cJSON_CreateObject();

	cJSON_AddStringToObject(j, "actor_id", a->id);
	if (a->name)
		cJSON_AddStringToObject(j, "name", a->name);
	else
		cJSON_AddNullToObject(j, "name");
	cJSON_AddStringToObject(j, "namespace", a->ns);
	cJSON_AddStringToObject(j, "state", actor_state_name(a->state));
	if (a->node[0])
		cJSON_AddStringToObject(j, "node_id", a->node);
	else
		cJSON_AddNullToObject(j, "node_id");
	if (a->pid > 0)
		cJSON_AddNumberToObject(j, "pid", a->pid);
	else
		cJSON_AddNullToObject(j, "pid");
	cJSON_AddNumberToObject(j, "num_restarts", a->num_restarts);
	cJSON_AddNumberToObject(j, "max_restarts", a->max_restarts == UNLIMITED ? -1 : a->max_restarts);
	cJSON_AddStringToObject(j, "protocol", proto_name(a->protocol));
	cJSON_AddStringToObject(j, "job_id", a->job);
	cJSON_AddBoolToObject(j, "detached", a->detached);
	if (a->state == A_DEAD && a->cause)
		cJSON_AddStringToObject(j, "death_cause", a->cause);
	return j;
}

cJSON *actors_json(const char *state, int64_t limit)
{
	cJSON *arr = cJSON_CreateArray();
	const actor *a, *ahead = actors_first();
	int64_t n = 0, skip;

	for (a = ahead; a; a = a->next)
		if (!state || !strcmp(state, actor_state_name(a->state)))
			n++;
	skip = limit >= 0 && n > limit ? n - limit : 0;
	for (a = ahead; a; a = a->next)
		if (!state || !strcmp(state, actor_state_name(a->state))) {
			if (skip > 0) {
				skip--;
				continue;
			}
			cJSON_AddItemToArray(arr, actor_json(a));
		}
	return arr;
}

cJSON *actor_where(const cJSON *req, ray_err *err)
{
	actor *a = actor_lookup(req, "actor", err);
	cJSON *r;
	rnode *n;

	if (!a)
		return NULL;
	r = cJSON_CreateObject();
	cJSON_AddStringToObject(r, "actor_id", a->id);
	if (a->name)
		cJSON_AddStringToObject(r, "name", a->name);
	cJSON_AddStringToObject(r, "state", actor_state_name(a->state));
	cJSON_AddNumberToObject(r, "protocol", a->protocol);
	cJSON_AddNumberToObject(r, "max_task_retries", a->max_task_retries);
	if (a->cause)
		cJSON_AddStringToObject(r, "cause", a->cause);
	if (a->state != A_DEAD && (a->placed || !strcmp(a->node, N->id)) && (n = view_find(a->node)) && n->alive) {
		cJSON_AddStringToObject(r, "node_id", a->node);
		cJSON_AddStringToObject(r, "addr", n->addr);
	}
	return r;
}

static void op_where(conn *c, uint32_t id, cJSON *req)
{
	ray_err err = { 0, "" };
	cJSON *r = actor_where(req, &err);

	if (r)
		conn_reply(c, id, r, NULL, 0);
	else
		conn_reply_err(c, id, err.code, "%s", err.msg);
}

/* actor_report: a host says how an actor it runs for us stands. */
static void op_report(conn *c, uint32_t id, cJSON *req)
{
	actor *a = actor_find(rj_str(req, "actor_id") ? rj_str(req, "actor_id") : "");
	const char *from = rj_str(req, "node_id"), *cause = rj_str(req, "cause");
	int state = (int)rj_int(req, "state", -1);

	conn_reply(c, id, cJSON_CreateObject(), NULL, 0);
	if (!a || a->instance || !from || strcmp(from, a->node) || a->state == A_DEAD ||
	    state < A_PENDING || state > A_DEAD)
		return;
	a->pid = (int)rj_int(req, "pid", 0);
	a->num_restarts = (int)rj_int(req, "num_restarts", a->num_restarts);
	if (cause && strlen(cause) < 600)
		actor_set_cause(a, "%s", cause);
	if (state == A_DEAD) {
		a->killed = 1;
		actor_go_dead(a);
		return;
	}
	if (state == A_ALIVE)
		a->placed = 1;
	a->state = state;
	actor_dir_save(a);
}

void op_actor(conn *c, uint32_t id, cJSON *req)
{
	const char *op = rj_str(req, "op");
	actor *a;
	cJSON *r;

	if (!strcmp(op, "actor_create")) {
		op_create(c, id, req);
	} else if (!strcmp(op, "actor_kill")) {
		if (!(a = actor_resolve(req, "actor", c, id)))
			return;
		kill_actor(a, rj_bool(req, "restart"), "was killed by ray-actor kill", 0);
		conn_reply(c, id, cJSON_CreateObject(), NULL, 0);
	} else if (!strcmp(op, "actor_get")) {
		if (!(a = actor_resolve(req, "name", c, id)))
			return;
		if (a->state == A_DEAD) {
			/* Dead for good: its name is free and resolves to nothing. */
			conn_reply_err(c, id, RAY_ENOTFOUND, "actor '%.80s' is dead (it %s)", rj_str(req, "name"),
			               a->cause ? a->cause : "died");
			return;
		}
		r = cJSON_CreateObject();
		cJSON_AddStringToObject(r, "actor_id", a->id);
		cJSON_AddStringToObject(r, "state", actor_state_name(a->state));
		conn_reply(c, id, r, NULL, 0);
	} else if (!strcmp(op, "actor_where")) {
		op_where(c, id, req);
	} else if (!strcmp(op, "actor_report")) {
		op_report(c, id, req);
	} else if (!strcmp(op, "actor_list")) {
		r = cJSON_CreateObject();
		cJSON_AddItemToObject(r, "items", actors_json(rj_str(req, "state"), rj_int(req, "limit", -1)));
		conn_reply(c, id, r, NULL, 0);
	} else {
		conn_reply_err(c, id, RAY_EUSAGE, "unknown request '%.64s'", op);
	}
}
