/*
 * actor_route.c: calls to actors, from the caller's node straight to the
 * node that hosts the actor.  An actor hosted here takes its calls at once
 * (actor_call.c).  For any other, this node asks the head where it runs
 * (actor_where), makes the calls here as task records it owns (so their
 * refs are ours, as a task's are), and sends them, in the order made, on
 * its one connection to the host (actor_exec); the host runs them and
 * reports each end with task_done, as for a forwarded task.  A handle per
 * actor keeps the host and the calls not yet sent: while the actor waits
 * for a node, or restarts, they wait and the head is asked again on the
 * tick.  When the host dies, calls in flight are sent again to wherever
 * the actor restarts, within --max-task-retries, else fail with exit 5
 * naming the dead node.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node.h"
#include "istr.h"
#include "actor.h"
#include "actor_call.h"
#include "actor_route.h"
#include "cluster.h"
#include "launch.h"
#include "peer.h"
#include "sched.h"
#include "server.h"
#include "store.h"
#include "task.h"

typedef struct actor_handle {
	char id[RAY_ID_MAX + 1];
	char name[300];           /* "actor 'n' (id)" or "actor id", for messages */
	char host[RAY_NODEID_LEN + 1];
	char addr[300];
	int protocol, max_task_retries;
	int asking;               /* an actor_where is in flight */
	task *qhead, *qtail;      /* calls not yet sent, in the order made */
	task *rlast;              /* node death: the last call put back */
	struct actor_handle *next;
} actor_handle;

static actor_handle *handles;

static actor_handle *handle_find(const char *id)
{
	actor_handle *s;

	for (s = handles; s; s = s->next)
		if (!strcmp(s->id, id))
			return s;
	return NULL;
}

static void call_fail(task *t, int code, const char *why)
{
	char msg[1200];

	snprintf(msg, sizeof(msg), "method '%s' of %s %s", t->method, t->handle->name, why);
	task_finish_error(t, code == RAY_ECANCEL ? T_CANCELLED : T_FAILED, code, msg);
}

/* Fails every call not yet sent. */
static void fail_queued(actor_handle *s, int code, const char *why)
{
	task *t;

	while ((t = s->qhead)) {
		s->qhead = t->qnext;
		t->qnext = NULL;
		if (t->state < T_FINISHED)
			call_fail(t, code, why);
	}
	s->qtail = NULL;
}

static void handle_flush(actor_handle *s);

int actor_route_cancel(task *t, const char *msg, int tree)
{
	actor_handle *s = t->handle;
	task *q, *prev = NULL;

	if (t->state >= T_FINISHED)
		return 0;
	if (!t->exec_node[0]) {
		/* Not sent yet: out of the queue, so no record outlives it there. */
		for (q = s->qhead; q && q != t; q = q->qnext)
			prev = q;
		if (q) {
			if (prev)
				prev->qnext = t->qnext;
			else
				s->qhead = t->qnext;
			if (s->qtail == t)
				s->qtail = prev;
			t->qnext = NULL;
		}
	} else if (t->num_returns > 0 && t->rets[0]) {
		/* Sent: the host drops its answer and cancels what it submitted. */
		sched_cancel_on(t->exec_node, t->rets[0]->ref, 0, tree);
	}
	task_finish_error(t, T_CANCELLED, RAY_ECANCEL, msg);
	return 1;
}

/* What the head said about the actor. */
static void handle_answer(actor_handle *s, int rc, const cJSON *w)
{
	const char *host = rj_str(w, "node_id"), *addr = rj_str(w, "addr"), *name = rj_str(w, "name");
	char why[800];

	s->asking = 0;
	if (rc) {
		fail_queued(s, rc == RAY_EUNREACH ? RAY_EACTOR : rc,
		            rj_str(w, "msg") ? rj_str(w, "msg") : "cannot run: the head cannot be reached");
		return;
	}
	if (name && strlen(name) < 200)
		snprintf(s->name, sizeof(s->name), "actor '%s' (%s)", name, s->id);
	s->protocol = (int)rj_int(w, "protocol", s->protocol);
	s->max_task_retries = (int)rj_int(w, "max_task_retries", s->max_task_retries);
	if (rj_str(w, "state") && !strcmp(rj_str(w, "state"), "DEAD")) {
		snprintf(why, sizeof(why), "cannot run: the actor is dead (it %s)",
		         rj_str(w, "cause") ? rj_str(w, "cause") : "died");
		fail_queued(s, RAY_EACTOR, why);
		return;
	}
	if (host && addr && strlen(host) == RAY_NODEID_LEN && strlen(addr) < sizeof(s->addr)) {
		snprintf(s->host, sizeof(s->host), "%s", host);
		snprintf(s->addr, sizeof(s->addr), "%s", addr);
	}
	if (s->host[0])
		handle_flush(s);   /* else the tick asks again */
}

static void on_where(void *ud, int rc, cJSON *reply, const char *d, size_t dl)
{
	actor_handle *s = handle_find(ud);

	(void)d;
	(void)dl;
	free(ud);
	if (s)
		handle_answer(s, reply ? rc : RAY_EUNREACH, reply);
}

/* Asks the head where the actor runs now. */
static void handle_ask(actor_handle *s)
{
	cJSON *req, *w;
	ray_err err = { 0, "" };
	char *ud;
	peer *p = NULL;

	if (s->asking)
		return;
	req = cJSON_CreateObject();
	cJSON_AddStringToObject(req, "op", "actor_where");
	cJSON_AddStringToObject(req, "actor", s->id);
	if (N->is_head) {
		w = actor_where(req, &err);
		cJSON_Delete(req);
		if (!w) {
			w = cJSON_CreateObject();
			cJSON_AddStringToObject(w, "msg", err.msg);
		}
		handle_answer(s, w && rj_str(w, "actor_id") ? 0 : err.code, w);
		cJSON_Delete(w);
		return;
	}
	p = peer_head();
	ud = strdup(s->id);
	if (p && ud && !peer_request(p, req, NULL, 0, on_where, ud))
		s->asking = 1;
	else
		free(ud);
	cJSON_Delete(req);
}

typedef struct sent {
	char actor[RAY_ID_MAX + 1];
	char host[RAY_NODEID_LEN + 1];
	cJSON *ids;               /* owned: the calls this request carried */
} sent;

static void on_exec(void *ud, int rc, cJSON *reply, const char *d, size_t dl)
{
	sent *x = ud;
	const cJSON *it;

	(void)d;
	(void)dl;
	/* Unreachable: the host's death (if it died) retries or fails them. */
	if (rc && rc != RAY_EUNREACH)
		cJSON_ArrayForEach(it, x->ids) {
			task *t = task_find(it->valuestring);
			if (t && t->handle && t->state < T_FINISHED && !strcmp(t->exec_node, x->host))
				call_fail(t, rc, rj_str(reply, "msg") ? rj_str(reply, "msg") : "could not be sent");
		}
	cJSON_Delete(x->ids);
	free(x);
}

/* Sends the calls not yet sent to the host, or queues them on the actor
 * when it runs here. */
static void handle_flush(actor_handle *s)
{
	cJSON *req, *calls;
	sent *x;
	actor *a;
	peer *p;
	task *t;

	if (!s->qhead)
		return;
	if (!s->host[0]) {
		handle_ask(s);
		return;
	}
	if (!strcmp(s->host, N->id) && (a = actor_find(s->id))) {
		while ((t = s->qhead)) {
			s->qhead = t->qnext;
			t->handle = NULL;
			actor_call_enqueue(a, t);
		}
		s->qtail = NULL;
		actor_pump(a);
		return;
	}
	p = peer_for(s->host, s->addr);
	x = calloc(1, sizeof(*x));
	if (!p || !x) {
		free(x);
		s->host[0] = '\0';
		return;
	}
	snprintf(x->actor, sizeof(x->actor), "%s", s->id);
	snprintf(x->host, sizeof(x->host), "%s", s->host);
	x->ids = cJSON_CreateArray();
	req = cJSON_CreateObject();
	cJSON_AddStringToObject(req, "op", "actor_exec");
	cJSON_AddStringToObject(req, "actor_id", s->id);
	cJSON_AddStringToObject(req, "owner", N->id);
	calls = cJSON_AddArrayToObject(req, "calls");
	while ((t = s->qhead)) {
		cJSON *call, *args;
		int i;
		s->qhead = t->qnext;
		t->qnext = NULL;
		if (t->state >= T_FINISHED)
			continue;
		call = cJSON_CreateObject();
		cJSON_AddStringToObject(call, "task_id", t->id);
		cJSON_AddStringToObject(call, "method", t->method);
		cJSON_AddNumberToObject(call, "num_returns", t->num_returns);
		cJSON_AddNumberToObject(call, "attempt", t->attempt);
		args = cJSON_AddArrayToObject(call, "args");
		for (i = 0; t->argv[i]; i++)
			cJSON_AddItemToArray(args, cJSON_CreateString(t->argv[i]));
		cJSON_AddItemToArray(calls, call);
		cJSON_AddItemToArray(x->ids, cJSON_CreateString(t->id));
		snprintf(t->exec_node, sizeof(t->exec_node), "%s", s->host);
		t->state = T_RUNNING;
		t->start_ms = ray_now_ms();
	}
	s->qtail = NULL;
	if (cJSON_GetArraySize(calls) == 0 || peer_request(p, req, NULL, 0, on_exec, x)) {
		cJSON_Delete(x->ids);
		free(x);
	}
	cJSON_Delete(req);
}

static actor_handle *handle_get(const char *id)
{
	actor_handle *s = handle_find(id);

	if (s || strlen(id) > RAY_ID_MAX || !(s = calloc(1, sizeof(*s))))
		return s;
	snprintf(s->id, sizeof(s->id), "%s", id);
	snprintf(s->name, sizeof(s->name), "actor %s", id);
	s->next = handles;
	handles = s;
	return s;
}

/* Makes the calls of req here, for the actor the head described in w,
 * replies their refs, and sends them on. */
static void calls_make(conn *c, uint32_t id, const cJSON *req, const cJSON *w)
{
	const cJSON *calls = cJSON_GetObjectItemCaseSensitive(req, "calls"), *call;
	const char *aid = rj_str(w, "actor_id"), *host = rj_str(w, "node_id"), *job = rj_str(req, "job_id");
	actor_handle *s = aid ? handle_find(aid) : NULL;
	ray_err err = { 0, "" };
	cJSON *r, *refs;
	actor *a;

	if (host && !strcmp(host, N->id) && (a = actor_find(aid)) && (!s || !s->qhead)) {
		actor_calls_here(a, c, id, (cJSON *)req);
		return;
	}
	if (!cJSON_IsArray(calls) || cJSON_GetArraySize(calls) < 1)
		ray_seterr(&err, RAY_EUSAGE, "no calls given");
	cJSON_ArrayForEach(call, calls)
		if (!err.code)
			actor_call_check((int)rj_int(w, "protocol", 0), call, &err);
	if (!err.code && !(s = handle_get(aid)))
		ray_seterr(&err, RAY_ERESOURCE, "out of memory");
	if (err.code) {
		conn_reply_err(c, id, err.code, "%s", err.msg);
		return;
	}
	r = cJSON_CreateObject();
	refs = cJSON_AddArrayToObject(r, "refs");
	cJSON_ArrayForEach(call, calls) {
		task *t = calloc(1, sizeof(*t));
		char rnd[17], ref[RAY_REF_MAX + 1], name[600];
		int i, nret = (int)rj_int(call, "num_returns", 1);
		if (!t)
			break;
		ray_random_hex(rnd, 8);
		snprintf(t->id, sizeof(t->id), "%s%s", N->id, rnd);
		t->job = istr_hold(job && strlen(job) <= RAY_ID_MAX ? job : "00000000");
		snprintf(name, sizeof(name), "%s.%s", rj_str(w, "name") ? rj_str(w, "name") : aid,
		         rj_str(call, "method"));
		t->name = strdup(name);
		t->method = strdup(rj_str(call, "method"));
		t->argv = json_strv(cJSON_GetObjectItemCaseSensitive(call, "args"), 0, NULL);
		t->num_returns = nret;
		t->rets = calloc((size_t)nret, sizeof(obj *));
		t->bundle = -1;
		t->handle = s;
		if (!t->name || !t->method || !t->argv || !t->rets) {
			task_release(t);
			break;
		}
		task_register(t);
		for (i = 0; i < nret; i++) {
			snprintf(ref, sizeof(ref), "%s%08x", t->id, (unsigned)(i + 1));
			t->rets[i] = store_new(ref);
			if (t->rets[i])
				t->rets[i]->producer = t;
			cJSON_AddItemToArray(refs, cJSON_CreateString(ref));
		}
		t->state = T_SUBMITTED;
		if (s->qtail)
			s->qtail->qnext = t;
		else
			s->qhead = t;
		s->qtail = t;
	}
	conn_reply(c, id, r, NULL, 0);
	handle_answer(s, 0, w);
}

typedef struct asking {
	conn *c;
	uint32_t id;
	cJSON *req;               /* owned copy */
} asking;

static void on_call_where(void *ud, int rc, cJSON *reply, const char *d, size_t dl)
{
	asking *q = ud;

	(void)d;
	(void)dl;
	if (!reply)
		conn_reply_err(q->c, q->id, RAY_EUNREACH, "the head cannot be reached");
	else if (rc)
		conn_reply_err(q->c, q->id, rc, "%s", rj_str(reply, "msg") ? rj_str(reply, "msg") : "failed");
	else
		calls_make(q->c, q->id, q->req, reply);
	conn_resume(q->c);
	conn_unref(q->c);
	cJSON_Delete(q->req);
	free(q);
}

void actor_route_call(conn *c, uint32_t id, cJSON *req)
{
	const char *ref = rj_str(req, "actor");
	actor *a = ref ? actor_find(ref) : NULL;
	actor_handle *s = ref ? handle_find(ref) : NULL;
	ray_err err = { 0, "" };
	asking *q;
	cJSON *w, *ask;
	peer *p = NULL;

	if (a && !strcmp(a->node, N->id) && (!s || !s->qhead)) {
		actor_calls_here(a, c, id, req);
		return;
	}
	if (N->is_head) {
		if (!(w = actor_where(req, &err))) {
			conn_reply_err(c, id, err.code, "%s", err.msg);
			return;
		}
		calls_make(c, id, req, w);
		cJSON_Delete(w);
		return;
	}
	p = peer_head();
	q = calloc(1, sizeof(*q));
	ask = cJSON_CreateObject();
	cJSON_AddStringToObject(ask, "op", "actor_where");
	cJSON_AddStringToObject(ask, "actor", ref ? ref : "");
	if (rj_str(req, "namespace"))
		cJSON_AddStringToObject(ask, "namespace", rj_str(req, "namespace"));
	if (rj_str(req, "job_id"))
		cJSON_AddStringToObject(ask, "job_id", rj_str(req, "job_id"));
	if (!p || !q || !(q->req = cJSON_Duplicate(req, 1)) || peer_request(p, ask, NULL, 0, on_call_where, q)) {
		if (q)
			cJSON_Delete(q->req);
		free(q);
		cJSON_Delete(ask);
		conn_reply_err(c, id, RAY_EUNREACH, "the head cannot be reached");
		return;
	}
	cJSON_Delete(ask);
	q->c = c;
	q->id = id;
	c->busy = 1;
	conn_ref(c);
}

void actor_route_tick(void)
{
	actor_handle *s;

	for (s = handles; s; s = s->next)
		if (s->qhead && !s->host[0] && !s->asking)
			handle_ask(s);
}

void actor_route_node_died(const char *node_id)
{
	char why[300];
	actor_handle *s;
	task *t;

	for (s = handles; s; s = s->next) {
		s->rlast = NULL;
		if (!strcmp(s->host, node_id))
			s->host[0] = '\0';
	}
	snprintf(why, sizeof(why), "failed: its node %s died while running it", node_id);
	for (t = N->thead; t; t = t->next) {
		if (!t->handle || t->owner[0] || strcmp(t->exec_node, node_id) || t->state >= T_FINISHED)
			continue;
		s = t->handle;
		t->exec_node[0] = '\0';
		if (t->attempt >= s->max_task_retries) {
			call_fail(t, RAY_EACTOR, why);
			continue;
		}
		/* Sent again first, in the order they were made. */
		t->attempt++;
		t->state = T_SUBMITTED;
		if (!s->rlast) {
			t->qnext = s->qhead;
			s->qhead = t;
		} else {
			t->qnext = s->rlast->qnext;
			s->rlast->qnext = t;
		}
		if (!t->qnext)
			s->qtail = t;
		s->rlast = t;
	}
}

void actor_route_free_all(void)
{
	while (handles) {
		actor_handle *s = handles;
		handles = s->next;
		free(s);
	}
}
