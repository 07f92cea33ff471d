/*
 * actor_call.c: method calls on actors.  A call is a task record with `act`
 * set, so it shares the dependency machinery (@REF args wait for their
 * objects) and shows in ray-status.  Calls queue per actor in the order they
 * were made; the head of the queue is sent only once its arguments exist,
 * so order is kept, and at most one call (line) or --max-concurrency calls
 * (tagged, frame) are in flight at once.  Answers are matched to the calls
 * in flight here; the bytes themselves are parsed by proto.c.  Anything the
 * actor writes that breaks its protocol kills that incarnation, and what
 * becomes of calls in flight when it dies is actor.c's business.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node.h"
#include "istr.h"
#include "actor.h"
#include "actor_call.h"
#include "callret.h"
#include "uvwrite.h"
#include "cluster.h"
#include "launch.h"
#include "metrics.h"
#include "proto.h"
#include "server.h"
#include "store.h"
#include "task.h"

#define MAX_ARGS 4096

void actor_call_fail(task *t, int code, const char *why)
{
	char desc[300], msg[1024];

	snprintf(desc, sizeof(desc), "method '%s' of ", t->method);
	actor_desc(t->act, desc + strlen(desc), sizeof(desc) - strlen(desc));
	snprintf(msg, sizeof(msg), "%s %s", desc, why);
	task_finish_error(t, code == RAY_ECANCEL ? T_CANCELLED : T_FAILED, code, msg);
}

static void call_done(task *t, const char *data, size_t len)
{
	char why[128];

	if (callret_store(t, t->act->protocol, data, len, why, sizeof(why))) {
		actor_call_fail(t, RAY_EFAILED, why);
		return;
	}
	t->state = T_FINISHED;
	t->end_ms = ray_now_ms();
	N->nfinished++;
	metrics_observe(H_ACTOR_CALL, t->end_ms - t->submit_ms);
	task_unpin_deps(t);
	task_ended(t);   /* a call made on another node: tell it */
}

static void inflight_remove(actor *a, task *t)
{
	task **pp = &a->fhead, *prev = NULL;

	for (; *pp; prev = *pp, pp = &(*pp)->anext)
		if (*pp == t) {
			*pp = t->anext;
			if (a->ftail == t)
				a->ftail = prev;
			t->anext = NULL;
			a->ninflight--;
			return;
		}
}

static task *inflight_find(actor *a, uint32_t id)
{
	task *t;

	for (t = a->fhead; t; t = t->anext)
		if (t->call_id == id)
			return t;
	return NULL;
}

/* ---- writing to the actor ---- */

/* A call that cannot be written (the actor closed its standard input, so
 * EPIPE) would wait for ever: handle it as a crash.  UV_ECANCELED is our
 * own close of the pipe, already a death. */
static void on_written(uv_stream_t *s, int status)
{
	actor *a = s->data;

	if (status < 0 && status != UV_ECANCELED && !a->dying && a->pid > 0 && !a->exited) {
		char msg[160];
		snprintf(msg, sizeof(msg), "closed its standard input (a call could not be written: %s)",
		         uv_strerror(status));
		actor_log_line(a, msg);
		actor_set_cause(a, "%s", msg);
		a->dying = 1;
		kill(-a->pid, SIGKILL);
	}
}

static int send_call(actor *a, task *t)
{
	rbuf b = { 0 };

	t->call_id = ++a->next_call;
	proto_write_call(&b, a->protocol, t->call_id, t->method, t->argv, task_arg_resolve);
	if (!b.p)
		return -1;
	return uvw_write((uv_stream_t *)&a->in, b.p, b.len, NULL, 0, NULL, on_written) ? -1 : 0;
}

void actor_pump(actor *a)
{
	int window = a->protocol == P_LINE ? 1 : a->max_concurrency;

	while (a->qhead && a->state == A_ALIVE && !a->dying && a->ninflight < window) {
		task *t = a->qhead;
		if (t->state >= T_FINISHED) {
			a->qhead = t->qnext;
			if (!a->qhead)
				a->qtail = NULL;
			continue;
		}
		if (t->deps_missing > 0)
			break;   /* later calls wait: calls run in the order made */
		a->qhead = t->qnext;
		if (!a->qhead)
			a->qtail = NULL;
		t->qnext = NULL;
		if (send_call(a, t)) {
			actor_call_fail(t, RAY_EACTOR, "could not be sent to the actor");
			continue;
		}
		t->anext = NULL;
		if (a->ftail)
			a->ftail->anext = t;
		else
			a->fhead = t;
		a->ftail = t;
		a->ninflight++;
		t->state = T_RUNNING;
		t->start_ms = ray_now_ms();
		t->pid = a->pid;
	}
}

void actor_call_ready(task *t)
{
	actor_pump(t->act);
}

const char *actor_call_of(const char *id)
{
	const actor *a = actor_find(id);

	/* With several calls in flight (--max-concurrency), which one a
	 * submission comes from is not known: it stays the actor's. */
	if (!a || a->ninflight != 1 || !a->fhead || a->exited)
		return id;
	return a->fhead->id;
}

/* ray-cancel on a call.  One not yet sent is dropped.  One in flight cannot
 * be taken back from the actor: its refs fail at once and its answer, when
 * it comes, is dropped.  The actor is never signalled, not even for
 * --force, since its other calls in flight would be lost with it. */
int actor_call_cancel(task *t, const char *msg)
{
	if (t->state >= T_FINISHED)
		return 0;
	task_finish_error(t, T_CANCELLED, RAY_ECANCEL, msg);
	actor_pump(t->act);
	return 1;
}

/* ---- reading answers ---- */

static void protocol_error(actor *a, const char *why)
{
	char msg[512];

	snprintf(msg, sizeof(msg), "broke the %s protocol: %s", proto_name(a->protocol), why);
	actor_log_line(a, msg);
	actor_set_cause(a, "%s", msg);
	uv_read_stop((uv_stream_t *)&a->out);
	a->dying = 1;
	if (a->pid > 0 && !a->exited)
		kill(-a->pid, SIGKILL);
}

static void answer(actor *a, task *t, int failed, const char *p, size_t len)
{
	char why[1100];

	inflight_remove(a, t);
	if (t->state >= T_FINISHED)
		return;
	if (failed) {
		snprintf(why, sizeof(why), "failed: %.*s", (int)(len > 1000 ? 1000 : len), p);
		actor_call_fail(t, RAY_EFAILED, why);
		return;
	}
	call_done(t, p, len);
}

/* The call an answer is for: the oldest in flight (line), else by its id. */
static const char *answer_call(actor *a, const proto_answer *ans, task **t)
{
	if (a->protocol == P_LINE) {
		*t = a->fhead;
		return *t ? NULL : "an answer nobody asked for";
	}
	*t = inflight_find(a, ans->id);
	if (!*t)
		return "answer to an unknown call id";
	return ans->status > 1 ? "bad status byte" : NULL;
}

int actor_parse_answers(actor *a)
{
	size_t off = 0;
	int rc = 0;

	while (off < a->rx.len) {
		proto_answer ans;
		const char *why = NULL;
		task *t = NULL;
		long used = proto_next_answer(a->protocol, a->rx.p + off, a->rx.len - off, &a->scanned,
		                              &ans, &why);

		if (used == 0)
			break;
		if (used > 0)
			why = answer_call(a, &ans, &t);
		if (why) {
			protocol_error(a, why);
			rc = -1;
			break;
		}
		answer(a, t, ans.status == 1, ans.data, ans.len);
		off += (size_t)used;
	}
	rbuf_consume(&a->rx, off);
	return rc;
}

/* ---- requests ---- */

void actor_call_enqueue(actor *a, task *t)
{
	int i;

	t->act = a;
	for (i = 0; t->argv[i]; i++)
		if (t->argv[i][0] == '@' && t->argv[i][1] != '@')
			task_add_dep(t, store_find(t->argv[i] + 1));
	t->state = t->deps_missing ? T_PENDING_ARGS : T_SUBMITTED;
	t->qnext = NULL;
	if (a->state == A_DEAD) {
		char why[700];
		snprintf(why, sizeof(why), "cannot run: the actor is dead (it %s)", a->cause ? a->cause : "died");
		actor_call_fail(t, RAY_EACTOR, why);
		return;
	}
	/* An argument that had already failed fails the call; the method is
	 * not called (one that fails later does the same in task_dep_ready). */
	if (!t->deps_missing && task_fail_on_failed_dep(t))
		return;
	if (a->qtail)
		a->qtail->qnext = t;
	else
		a->qhead = t;
	a->qtail = t;
}

/* A call on a: made here (tid NULL: a new id, results owned here), or
 * sent by the node `owner` that made it (its id, its refs). */
static task *new_call(actor *a, const char *tid, const char *owner, const cJSON *call, cJSON *refs)
{
	task *t = calloc(1, sizeof(*t));
	char rnd[17], ref[RAY_REF_MAX + 1], name[600];
	const char *method = rj_str(call, "method");
	int i, nret = (int)rj_int(call, "num_returns", 1);

	if (!t)
		return NULL;
	t->argv = json_strv(cJSON_GetObjectItemCaseSensitive(call, "args"), 0, NULL);
	ray_random_hex(rnd, 8);
	if (tid)
		snprintf(t->id, sizeof(t->id), "%s", tid);
	else
		snprintf(t->id, sizeof(t->id), "%s%s", N->id, rnd);
	if (owner)
		snprintf(t->owner, sizeof(t->owner), "%s", owner);
	t->attempt = (int)rj_int(call, "attempt", 0);
	t->job = istr_hold(a->job);
	snprintf(name, sizeof(name), "%s.%s", a->name ? a->name : a->id, method);
	t->name = strdup(name);
	t->method = strdup(method);
	t->num_returns = nret;
	t->rets = calloc((size_t)nret, sizeof(obj *));
	if (!t->argv || !t->rets || !t->method || !t->name) {
		ray_strv_free(t->argv);
		free(t->rets);
		free(t->method);
		free(t->name);
		free(t);
		return NULL;
	}
	task_register(t);
	for (i = 0; i < nret; i++) {
		snprintf(ref, sizeof(ref), "%s%08x", t->id, (unsigned)(i + 1));
		t->rets[i] = owner ? task_foreign_return(ref) : store_new(ref);
		if (t->rets[i])
			t->rets[i]->producer = t;
		if (refs)
			cJSON_AddItemToArray(refs, cJSON_CreateString(ref));
	}
	actor_call_enqueue(a, t);
	return t;
}

int actor_call_check(int protocol, const cJSON *call, ray_err *err)
{
	const char *m = rj_str(call, "method");
	const cJSON *args = cJSON_GetObjectItemCaseSensitive(call, "args"), *it;
	int64_t nret = rj_int(call, "num_returns", 1);
	int rc;

	if (!m || !*m)
		return ray_seterr(err, RAY_EUSAGE, "no method given");
	if (nret < 1 || nret > 1024)
		return ray_seterr(err, RAY_EUSAGE, "--num-returns must be 1..1024");
	if (args && (!cJSON_IsArray(args) || cJSON_GetArraySize(args) > MAX_ARGS))
		return ray_seterr(err, RAY_EUSAGE, "bad arguments");
	if (protocol != P_FRAME && strpbrk(m, "\t\n"))
		return ray_seterr(err, RAY_EUSAGE, "method name holds a TAB or newline: use --protocol frame");
	cJSON_ArrayForEach(it, args) {
		if (!cJSON_IsString(it))
			return ray_seterr(err, RAY_EUSAGE, "arguments must be strings");
		if (protocol != P_FRAME && strpbrk(it->valuestring, "\t\n"))
			return ray_seterr(err, RAY_EUSAGE,
			                  "argument holds a TAB or newline, which the %s protocol cannot carry: pass it as an @REF or use --protocol frame",
			                  proto_name(protocol));
		if ((rc = task_arg_check(it->valuestring, err)))
			return rc;
	}
	return 0;
}

/* Checks every call of a request: 0, or the first error. */
static int check_calls(int protocol, const cJSON *calls, ray_err *err)
{
	const cJSON *call;
	int rc;

	if (!cJSON_IsArray(calls) || cJSON_GetArraySize(calls) < 1 || cJSON_GetArraySize(calls) > 100000)
		return ray_seterr(err, RAY_EUSAGE, "no calls given");
	cJSON_ArrayForEach(call, calls)
		if ((rc = actor_call_check(protocol, call, err)))
			return rc;
	return 0;
}

void actor_calls_here(actor *a, conn *c, uint32_t id, cJSON *req)
{
	const cJSON *calls = cJSON_GetObjectItemCaseSensitive(req, "calls"), *call;
	ray_err err = { 0, "" };
	cJSON *r, *refs;

	if (check_calls(a->protocol, calls, &err)) {
		conn_reply_err(c, id, err.code, "%s", err.msg);
		return;
	}
	r = cJSON_CreateObject();
	refs = cJSON_AddArrayToObject(r, "refs");
	cJSON_ArrayForEach(call, calls)
		if (!new_call(a, NULL, NULL, call, refs)) {
			cJSON_Delete(r);
			conn_reply_err(c, id, RAY_ERESOURCE, "out of memory");
			return;
		}
	conn_reply(c, id, r, NULL, 0);
	actor_pump(a);
}

void actor_op_call(conn *c, uint32_t id, cJSON *req)
{
	actor *a = actor_resolve(req, "actor", c, id);

	if (a)
		actor_calls_here(a, c, id, req);
}

/* actor_exec: calls made on node `owner` for an actor hosted here.  Each
 * keeps the id and refs its owner gave it; its end goes back there
 * (task_done).  A call already known (sent again) is skipped. */
/* An actor_exec from a node this one does not know yet (it joined a
 * moment ago and no heartbeat has told us): held, with its connection,
 * until the view has it, so the ends of its calls can be reported and the
 * calls after it still come in order. */
typedef struct held_exec {
	conn *c;
	uint32_t id;
	cJSON *req;               /* owned copy */
	int64_t since_ms;
	struct held_exec *next;
} held_exec;

static held_exec *held;

void actor_exec_tick(void)
{
	held_exec **pp = &held, *h;

	while ((h = *pp)) {
		int known = view_find(rj_str(h->req, "owner")) != NULL;
		if (!known && ray_now_ms() - h->since_ms < 10000 && !N->stopping) {
			pp = &h->next;
			continue;
		}
		*pp = h->next;
		if (known)
			actor_op_exec(h->c, h->id, h->req);
		else
			conn_reply_err(h->c, h->id, RAY_EUNREACH, "node %s does not know the calling node", N->id);
		conn_resume(h->c);
		conn_unref(h->c);
		cJSON_Delete(h->req);
		free(h);
	}
}

void actor_exec_free_all(void)
{
	while (held) {
		held_exec *h = held;
		held = h->next;
		conn_unref(h->c);
		cJSON_Delete(h->req);
		free(h);
	}
}

void actor_op_exec(conn *c, uint32_t id, cJSON *req)
{
	const cJSON *calls = cJSON_GetObjectItemCaseSensitive(req, "calls"), *call;
	const char *owner = rj_str(req, "owner"), *aid = rj_str(req, "actor_id");
	actor *a = aid ? actor_find(aid) : NULL;
	ray_err err = { 0, "" };

	if (!a || (!a->instance && strcmp(a->node, N->id))) {
		conn_reply_err(c, id, RAY_ENOTFOUND, "actor %.80s is not hosted on node %s", aid ? aid : "?", N->id);
		return;
	}
	if (!owner || strlen(owner) != RAY_NODEID_LEN || !ray_ref_valid(owner) ||
	    check_calls(a->protocol, calls, &err)) {
		conn_reply_err(c, id, err.code ? err.code : RAY_EUSAGE, "%s", err.msg[0] ? err.msg : "bad owner");
		return;
	}
	if (!view_find(owner)) {
		held_exec *h = calloc(1, sizeof(*h)), **pp = &held;
		if (!h || !(h->req = cJSON_Duplicate(req, 1))) {
			free(h);
			conn_reply_err(c, id, RAY_ERESOURCE, "out of memory");
			return;
		}
		h->c = c;
		h->id = id;
		h->since_ms = ray_now_ms();
		while (*pp)
			pp = &(*pp)->next;
		*pp = h;
		c->busy = 1;
		conn_ref(c);
		return;
	}
	cJSON_ArrayForEach(call, calls) {
		const char *tid = rj_str(call, "task_id");
		if (!tid || strlen(tid) != 2 * RAY_NODEID_LEN || !ray_ref_valid(tid) ||
		    strncmp(tid, owner, RAY_NODEID_LEN)) {
			conn_reply_err(c, id, RAY_EUSAGE, "bad call id");
			return;
		}
	}
	cJSON_ArrayForEach(call, calls)
		if (!task_find(rj_str(call, "task_id")))
			new_call(a, rj_str(call, "task_id"), owner, call, NULL);
	conn_reply(c, id, cJSON_CreateObject(), NULL, 0);
	actor_pump(a);
}
