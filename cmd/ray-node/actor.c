/*
 * actor.c: the life of an actor, a long-lived child process that serves
 * method calls over its stdin and stdout (docs/actor-protocols.md): the
 * table of actors by id and by name, start, restart, stop and death of the
 * process, and the requests a host gets from the head (actor_host,
 * actor_stop).  The head's directory and placement live in actor_dir.c,
 * calls in actor_call.c (and, to another node, actor_route.c), the bytes on
 * the pipes in proto.c.
 *
 * An actor runs on the node its placement chose, as a child of that node's
 * daemon, and holds its resources there for life.  When the process dies,
 * calls in flight are retried up to --max-task-retries (back at the front
 * of the queue) or fail with exit 5, and the actor restarts there up to
 * --max-restarts times, else it is DEAD and every call fails with exit 5.
 * A host tells the head each change of state (actor_report).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dlist.h"
#include "node.h"
#include "actor.h"
#include "cgroup.h"
#include "bundle.h"
#include "cluster.h"
#include "launch.h"
#include "spawn.h"
#include "peer.h"
#include "proto.h"
#include "res.h"
#include "server.h"
#include "uvread.h"
#include "workdir.h"

actor_hooks actor_on;

#define STOP_GRACE_MS 2000
#define ACTOR_HISTORY 1000      /* dead actors kept known */

static map by_id, by_name;
static actor *ahead, *atail;

const char *actor_state_name(int s)
{
	return s == A_PENDING ? "PENDING_CREATION" : s == A_ALIVE ? "ALIVE"
	       : s == A_RESTARTING ? "RESTARTING" : "DEAD";
}

void actor_desc(const actor *a, char *buf, size_t len)
{
	if (a->name)
		snprintf(buf, len, "actor '%s' (%s)", a->name, a->id);
	else
		snprintf(buf, len, "actor %s", a->id);
}

void actor_set_cause(actor *a, const char *fmt, const char *arg)
{
	char buf[512];

	snprintf(buf, sizeof(buf), fmt, arg);
	free(a->cause);
	a->cause = strdup(buf);
}

void actor_log_line(actor *a, const char *msg)
{
	char path[PATH_MAX + 64];
	int fd;

	snprintf(path, sizeof(path), "%s/%s.err", N->logdir, a->id);
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd >= 0) {
		dprintf(fd, "ray-node: %s\n", msg);
		close(fd);
	}
}

int actor_owns_id(const char *id)
{
	return map_get(&by_id, id) != NULL;
}

actor *actor_find(const char *id)
{
	return map_get(&by_id, id);
}

actor *actor_by_key(const char *key)
{
	return map_get(&by_name, key);
}

actor *actors_first(void)
{
	return ahead;
}

void actor_add(actor *a)
{
	map_put(&by_id, a->id, a);
	if (a->key)
		map_put(&by_name, a->key, a);
	DL_APPEND(ahead, atail, a, prev, next);
}

/* Tells the head how an actor hosted here for it stands now. */
static void report(actor *a)
{
	cJSON *req;
	peer *p = NULL;

	if (!a->instance)
		return;
	p = peer_head();
	if (!p)
		return;
	req = cJSON_CreateObject();
	cJSON_AddStringToObject(req, "op", "actor_report");
	cJSON_AddStringToObject(req, "actor_id", a->id);
	cJSON_AddStringToObject(req, "node_id", N->id);
	cJSON_AddNumberToObject(req, "state", a->state);
	cJSON_AddNumberToObject(req, "pid", a->pid);
	cJSON_AddNumberToObject(req, "num_restarts", a->num_restarts);
	if (a->cause)
		cJSON_AddStringToObject(req, "cause", a->cause);
	peer_request(p, req, NULL, 0, NULL, NULL);
	cJSON_Delete(req);
}

static void actor_spawn(actor *a);
static void after_death(actor *a);

/* ---- the actor's pipes ---- */

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	actor *a = h->data;

	(void)hint;
	uvr_room(&a->rx, b);
}

static void eof_closed(uv_handle_t *h)
{
	actor *a = h->data;

	a->eof_live = 0;
	if (--a->nhandles == 0)
		after_death(a);
}

static void on_eof_timer(uv_timer_t *tm)
{
	actor *a = tm->data;

	if (a->pid > 0 && !a->exited) {
		if (!a->cause)
			actor_set_cause(a, "%s", "closed its standard output");
		kill(-a->pid, SIGKILL);
	}
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	actor *a = s->data;

	(void)b;
	if (n < 0) {
		/* Closed stdout: a crash.  Usually the exit follows at once and
		 * says why; if the process lingers, kill it. */
		uv_read_stop(s);
		a->dying = 1;
		if (a->pid > 0 && !a->exited && !a->eof_live) {
			uv_timer_init(N->loop, &a->eof_timer);
			a->eof_timer.data = a;
			a->eof_live = 1;
			a->nhandles++;
			uv_timer_start(&a->eof_timer, on_eof_timer, 200, 0);
		}
		return;
	}
	a->rx.len += (size_t)n;
	if (actor_on.answers(a) == 0)
		actor_on.pump(a);
}

/* ---- life and death ---- */

static void on_handle_closed(uv_handle_t *h)
{
	actor *a = h->data;

	if (--a->nhandles == 0)
		after_death(a);
}

static void close_handles(actor *a)
{
	if (a->eof_live && !uv_is_closing((uv_handle_t *)&a->eof_timer)) {
		uv_timer_stop(&a->eof_timer);
		uv_close((uv_handle_t *)&a->eof_timer, eof_closed);
	}
	if (!uv_is_closing((uv_handle_t *)&a->in))
		uv_close((uv_handle_t *)&a->in, on_handle_closed);
	if (!uv_is_closing((uv_handle_t *)&a->out))
		uv_close((uv_handle_t *)&a->out, on_handle_closed);
}

static int took_answers(void *ud)
{
	return actor_on.answers(ud);
}

void actor_cg_name(const actor *a, char *buf, size_t len)
{
	snprintf(buf, len, "a-%s-%d", a->id, a->num_restarts);
}

/* Its process ran in a memory cgroup: whether the kernel killed any of its
 * processes for memory, and the cgroup goes. */
static void cg_reaped(actor *a)
{
	char name[CG_NAME_MAX], why[300];

	actor_cg_name(a, name, sizeof(name));
	if (!a->oom && cg_oom_kills(name) > 0) {
		snprintf(why, sizeof(why), "was killed for memory: its processes went over its --memory %lld MiB, "
		         "the limit of its memory cgroup", (long long)(a->req.mem >> 20));
		node_log("actor %s %s", a->id, why);
		actor_set_cause(a, "%s", why);
		a->oom = 1;
	}
	cg_release(name);
	a->in_cg = 0;
}

/* Reaped (spawn.c): the process counts as one of its handles until now,
 * so the record outlives its child. */
static void on_reaped(void *ud, int status, int sig, int exec_err)
{
	actor *a = ud;
	char buf[128];

	if (a->in_cg)
		cg_reaped(a);

	(void)exec_err;   /* said at once, by actor_spawn */
	/* What it wrote before exiting may not be read yet: read it now, so
	 * that an actor that answers and then exits does not lose the answer. */
	uvr_drain((uv_stream_t *)&a->out, &a->rx, took_answers, a);
	a->exited = 1;
	a->dying = 1;
	a->exit_code = (int)status;
	a->term_signal = sig;
	if (!a->cause) {
		if (sig)
			snprintf(buf, sizeof(buf), "was killed by signal %d (%s)", sig, strsignal(sig));
		else
			snprintf(buf, sizeof(buf), "exited with code %d", (int)status);
		actor_set_cause(a, "%s", buf);
	}
	/* Its death takes its process tree: the children it started are
	 * still in its process group, whose id stays taken while one lives. */
	if (a->pid > 0)
		kill(-a->pid, SIGKILL);
	a->pid = 0;
	close_handles(a);
	if (--a->nhandles == 0)
		after_death(a);
}

static void start_timer(actor *a, uv_timer_cb cb, uint64_t ms);

static void timer_closed(uv_handle_t *h)
{
	actor *a = h->data;

	a->timer_live = 0;
	if (a->timer_next) {
		uv_timer_cb cb = a->timer_next;
		a->timer_next = NULL;
		start_timer(a, cb, a->timer_next_ms);
		return;
	}
	if (a->state == A_DEAD && !a->nhandles && !a->timer_live && N->stopping && N->nprocs == 0)
		node_shutdown();
}

/* A handle may not be initialized again while it is closing: a timer asked
 * for then starts from timer_closed. */
static void start_timer(actor *a, uv_timer_cb cb, uint64_t ms)
{
	if (a->timer_live && uv_is_closing((uv_handle_t *)&a->timer)) {
		a->timer_next = cb;
		a->timer_next_ms = ms;
		return;
	}
	if (!a->timer_live) {
		uv_timer_init(N->loop, &a->timer);
		a->timer.data = a;
		a->timer_live = 1;
	}
	uv_timer_start(&a->timer, cb, ms, 0);
}

static void stop_timer(actor *a)
{
	a->timer_next = NULL;
	if (a->timer_live && !uv_is_closing((uv_handle_t *)&a->timer)) {
		uv_timer_stop(&a->timer);
		uv_close((uv_handle_t *)&a->timer, timer_closed);
	}
}

static void on_restart_timer(uv_timer_t *tm)
{
	actor *a = tm->data;

	stop_timer(a);
	if (a->state == A_RESTARTING && !N->stopping)
		actor_spawn(a);
}

/* Takes the actor's resources from its pool (the node's, or its
 * bundle's) and starts it: 0, or -1 when they are not free. */
int actor_take(actor *a)
{
	res *pool = task_pool(&a->shape);

	if (!pool || !res_fits(&a->req, pool))
		return -1;
	res_sub(pool, &a->req);
	a->holding = 1;
	snprintf(a->node, sizeof(a->node), "%s", N->id);
	actor_spawn(a);
	return 0;
}

static void release(actor *a)
{
	res *pool;

	if (a->holding) {
		if ((pool = task_pool(&a->shape)))
			res_add(pool, &a->req);
		gpu_give(&a->req, a->gpu_ids);
		a->holding = 0;
	}
}

void actor_go_dead(actor *a)
{
	char why[700];
	task *t;

	a->state = A_DEAD;
	if (actor_on.changed)
		actor_on.changed(a);
	stop_timer(a);
	release(a);
	snprintf(why, sizeof(why), "cannot run: the actor is dead (it %s)", a->cause ? a->cause : "died");
	while ((t = a->qhead)) {
		a->qhead = t->qnext;
		t->qnext = NULL;
		if (t->state < T_FINISHED)
			actor_on.call_fail(t, RAY_EACTOR, why);
	}
	a->qtail = NULL;
	report(a);
	if (!N->stopping)
		node_kick();
}

static void after_death(actor *a)
{
	task *t, *retry = NULL, *rlast = NULL, **rtail = &retry;
	char why[700];
	int delay;

	rbuf_release(&a->rx);
	a->scanned = 0;
	a->exited = 0;
	snprintf(why, sizeof(why), "was running when the actor died (it %s)", a->cause ? a->cause : "died");
	while ((t = a->fhead)) {
		a->fhead = t->anext;
		t->anext = NULL;
		if (t->state >= T_FINISHED)
			continue;
		if (!a->killed && t->attempt < a->max_task_retries) {
			t->attempt++;
			t->state = T_SUBMITTED;
			*rtail = t;
			rtail = &t->qnext;
			rlast = t;
		} else {
			actor_on.call_fail(t, a->oom ? RAY_ECRASH : RAY_EACTOR, why);
		}
	}
	a->oom = 0;
	a->ftail = NULL;
	a->ninflight = 0;
	if (retry) {
		/* Retried calls go first, in their original order. */
		*rtail = a->qhead;
		if (!a->qhead)
			a->qtail = rlast;
		a->qhead = retry;
	}
	if (N->stopping || a->killed || a->num_restarts >= a->max_restarts) {
		actor_go_dead(a);
		if (N->stopping && N->nprocs == 0)
			node_shutdown();
		return;
	}
	a->num_restarts++;
	a->state = A_RESTARTING;
	if (actor_on.changed)
		actor_on.changed(a);
	node_log("restarting actor %s (%d of %d): it %s", a->id, a->num_restarts, a->max_restarts,
	         a->cause ? a->cause : "died");
	free(a->cause);
	a->cause = NULL;
	report(a);
	delay = a->num_restarts > 5 ? 1000 : 50 * a->num_restarts;
	start_timer(a, on_restart_timer, (uint64_t)delay);
}

/* Started with spawn.c's vfork, as tasks are: uv_spawn's fork copied the
 * node's page tables for each actor (a tenth of the host's CPU while
 * 1,000 actors were created), and waited for the child's exec. */
static void actor_spawn(actor *a)
{
	char path[PATH_MAX + 64], msg[PATH_MAX + 128], why[PATH_MAX + 128] = "", cg[CG_NAME_MAX];
	char **env, **argv = a->argv;
	int logfd, rc = UV_ENOMEM, to = -1, from = -1, e = 0, join = -1;

	if (!a->gpu_ids[0])
		gpu_take(&a->req, a->gpu_ids, sizeof(a->gpu_ids));
	env = env_build(a->id, a->job, a->num_restarts, &a->req, a->gpu_ids, a->env, 0, NULL);
	snprintf(path, sizeof(path), "%s/%s.err", N->logdir, a->id);
	logfd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (a->workdir)
		argv = workdir_argv(a->workdir, a->argv, why, sizeof(why));
	if (a->req.mem > 0 && cg_active()) {
		actor_cg_name(a, cg, sizeof(cg));
		a->in_cg = !cg_create(cg, a->req.mem, &join);
	}
	if (logfd >= 0 && env && argv &&
	    !(rc = spawn_piped(argv, env, logfd, join, on_reaped, a, &a->pid, &to, &from)))
		e = spawn_exec_err(a->pid);
	if (rc && a->in_cg) {
		cg_release(cg);
		a->in_cg = 0;
	}
	if (logfd >= 0)
		close(logfd);
	env_free(env);
	if (argv != a->argv)
		ray_strv_free(argv);
	if (rc || e) {
		snprintf(msg, sizeof(msg), "could not start '%s': %s", a->argv[0],
		         why[0] ? why : uv_strerror(rc ? rc : uv_translate_sys_error(e)));
		actor_set_cause(a, "%s", msg);
		actor_log_line(a, msg);
		a->killed = 1;   /* it would fail the same way again */
	}
	uv_pipe_init(N->loop, &a->in, 0);
	uv_pipe_init(N->loop, &a->out, 0);
	a->in.data = a->out.data = a;
	if (rc) {
		a->pid = 0;
		a->nhandles = 2;
		uv_close((uv_handle_t *)&a->in, on_handle_closed);
		uv_close((uv_handle_t *)&a->out, on_handle_closed);
		return;
	}
	uv_pipe_open(&a->in, to);
	uv_pipe_open(&a->out, from);
	a->nhandles = 3;   /* in, out and the process until reaped */
	a->exited = 0;
	a->dying = 0;
	if (e) {
		/* Exited already (127): the reap does the rest. */
		a->dying = 1;
		return;
	}
	a->state = A_ALIVE;
	if (actor_on.changed)
		actor_on.changed(a);
	uv_read_start((uv_stream_t *)&a->out, on_alloc, on_read);
	report(a);
	actor_on.pump(a);
}

static void on_grace_timer(uv_timer_t *tm)
{
	actor *a = tm->data;

	stop_timer(a);
	if (a->pid > 0 && !a->exited)
		kill(-a->pid, SIGKILL);
}

/* Stops an actor for good: at once, or politely (EOF on stdin, SIGTERM,
 * then SIGKILL after a grace period). */
void actor_stop(actor *a, const char *cause, int graceful)
{
	if (a->state == A_DEAD)
		return;
	a->killed = 1;
	a->dying = 1;
	actor_set_cause(a, "%s", cause);
	if (a->state == A_PENDING || (a->state == A_RESTARTING && !a->nhandles)) {
		actor_go_dead(a);
		return;
	}
	if (a->pid <= 0 || a->exited)
		return;
	if (!graceful) {
		kill(-a->pid, SIGKILL);
		return;
	}
	if (!uv_is_closing((uv_handle_t *)&a->in))
		uv_close((uv_handle_t *)&a->in, on_handle_closed);
	kill(-a->pid, SIGTERM);
	start_timer(a, on_grace_timer, STOP_GRACE_MS);
}

void actors_stop_all(void)
{
	actor *a;

	for (a = ahead; a; a = a->next) {
		a->killed = 1;
		stop_timer(a);
		if (a->pid > 0 && !a->exited)
			kill(-a->pid, SIGKILL);
	}
}

void actor_free(actor *a)
{
	ray_strv_free(a->argv);
	ray_strv_free(a->env);
	free(a->workdir);
	free(a->name);
	free(a->ns);
	free(a->key);
	free(a->cause);
	cJSON_Delete(a->spec);
	free(a->shape.labels);
	free(a->shape.prefer);
	rbuf_release(&a->rx);
	free(a);
}

void actors_free_all(void)
{
	while (ahead) {
		actor *a = ahead;
		ahead = a->next;
		actor_free(a);
	}
	atail = NULL;
	map_release(&by_id);
	map_release(&by_name);
}

/* How many dead actors stay known: ACTOR_HISTORY unless RAY_ACTOR_HISTORY
 * (a count, read once) says less (make soak keeps it small, so that a full
 * history does not hide a leak). */
static size_t dead_max(void)
{
	static size_t max;
	uint64_t v;
	const char *e;

	if (!max) {
		e = getenv("RAY_ACTOR_HISTORY");
		max = e && !ray_parse_uint(e, &v) && v > 0 && v < ACTOR_HISTORY ? (size_t)v : ACTOR_HISTORY;
	}
	return max;
}

/* What a finished call's record points at once its actor is forgotten:
 * such a record only asks whether it was an actor call. */
static actor forgotten = { .state = A_DEAD };

/* A dead actor with nothing of it left open, and no call waiting on it. */
static int actor_quiet(const actor *a)
{
	return a->state == A_DEAD && !a->nhandles && !a->timer_live && !a->eof_live &&
	       !a->qhead && !a->fhead && !a->holding;
}

/* Forgets the oldest dead actors past dead_max(): each kept about 6.5 KB
 * for good, here and on the head, which a long run of short-lived actors
 * turned into a leak.  Calls to a forgotten actor get exit 10 (unknown),
 * as Ray's GCS forgets destroyed actors past its cache. */
void actors_prune(void)
{
	size_t ndead = 0, drop;
	actor *a, *next;
	task *t;
	int any = 0;

	for (a = ahead; a; a = a->next)
		ndead += a->state == A_DEAD;
	if (ndead <= dead_max())
		return;
	drop = ndead - dead_max();
	for (a = ahead; a && drop; a = a->next)
		if (actor_quiet(a)) {
			a->forget = 1;
			any = 1;
			drop--;
		}
	if (!any)
		return;
	for (t = N->thead; t; t = t->next)
		if (t->act && t->act->forget)
			t->act = &forgotten;
	for (a = ahead; a; a = next) {
		next = a->next;
		if (!a->forget)
			continue;
		map_del(&by_id, a->id);
		if (a->key && map_get(&by_name, a->key) == a)
			map_del(&by_name, a->key);
		DL_REMOVE(ahead, atail, a, prev, next);
		actor_free(a);
	}
}


/* ray-actor kill --restart: the process dies and is started again. */
void actor_restart_now(actor *a)
{
	if (a->state == A_ALIVE && a->pid > 0) {
		actor_set_cause(a, "%s", "was restarted by ray-actor kill --restart");
		a->dying = 1;
		kill(-a->pid, SIGKILL);
	}
}

/* ---- what the head asks of a host ---- */

/* A host's copy of the head's record, from the actor_host request. */
static actor *instance_new(const cJSON *j, ray_err *err)
{
	const char *aid = rj_str(j, "id"), *job = rj_str(j, "job"), *pg = rj_str(j, "pg");
	const char *name = rj_str(j, "name"), *ns = rj_str(j, "namespace");
	actor *a;

	if (!aid || strlen(aid) != 2 * RAY_NODEID_LEN || !ray_ref_valid(aid) ||
	    (pg && strlen(pg) > RAY_ID_MAX) || (name && strlen(name) > 256) || (ns && strlen(ns) > 256)) {
		ray_seterr(err, RAY_EUSAGE, "bad actor");
		return NULL;
	}
	a = calloc(1, sizeof(*a));
	if (!a) {
		ray_seterr(err, RAY_ERESOURCE, "out of memory");
		return NULL;
	}
	snprintf(a->id, sizeof(a->id), "%s", aid);
	snprintf(a->job, sizeof(a->job), "%s", job && strlen(job) <= RAY_ID_MAX ? job : "00000000");
	a->name = name ? strdup(name) : NULL;
	a->ns = strdup(ns ? ns : "");
	a->argv = json_strv(cJSON_GetObjectItemCaseSensitive(j, "argv"), 0, err);
	a->env = json_strv(cJSON_GetObjectItemCaseSensitive(j, "env"), 1, NULL);
	a->workdir = rj_str(j, "working_dir") && strlen(rj_str(j, "working_dir")) < PATH_MAX ?
	             strdup(rj_str(j, "working_dir")) : NULL;
	res_from_json_raw(&a->req, cJSON_GetObjectItemCaseSensitive(j, "req"));
	a->shape.req = &a->req;
	a->shape.bundle = -1;
	if (pg) {
		snprintf(a->shape.pg, sizeof(a->shape.pg), "%s", pg);
		a->shape.bundle = (int)rj_int(j, "bundle", -1);
	}
	a->protocol = (int)rj_int(j, "protocol", P_LINE);
	a->detached = rj_bool(j, "detached");
	a->max_restarts = (int)rj_int(j, "max_restarts", 0);
	a->max_task_retries = (int)rj_int(j, "max_task_retries", 0);
	a->max_concurrency = (int)rj_int(j, "max_concurrency", 1);
	a->num_restarts = (int)rj_int(j, "num_restarts", 0);
	if (a->protocol < P_LINE || a->protocol > P_FRAME)
		a->protocol = P_LINE;
	if (a->max_concurrency < 1 || a->max_concurrency > MAX_CONCURRENCY)
		a->max_concurrency = 1;
	a->instance = 1;
	a->state = A_PENDING;
	a->created_ms = ray_now_ms();
	if (!a->argv || !a->argv[0] || !a->ns) {
		if (!err->code)
			ray_seterr(err, RAY_EUSAGE, "bad actor command");
		actor_free(a);
		return NULL;
	}
	return a;
}

/* actor_host: the head placed an actor here; it runs as our child. */
void actor_op_host(conn *c, uint32_t id, cJSON *req)
{
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(req, "actor");
	ray_err err = { 0, "" };
	actor *a = actor_find(rj_str(j, "id") ? rj_str(j, "id") : "");
	res *pool;
	cJSON *r;

	if (a && a->state == A_DEAD) {
		conn_reply_err(c, id, RAY_EUSAGE, "actor %s already died here", a->id);
		return;
	}
	if (!a) {
		if (!(a = instance_new(j, &err))) {
			conn_reply_err(c, id, err.code, "%s", err.msg);
			return;
		}
		pool = task_pool(&a->shape);
		if (N->stopping || !pool || !res_fits(&a->req, pool)) {
			conn_reply_err(c, id, RAY_ERESOURCE, "node %s has not the resources free for actor %s",
			               N->id, a->id);
			actor_free(a);
			return;
		}
		actor_add(a);
		actor_take(a);
		if (a->killed && a->cause) {
			conn_reply_err(c, id, RAY_EFAILED, "actor %s %s", a->id, a->cause);
			return;
		}
	}
	r = cJSON_CreateObject();
	cJSON_AddNumberToObject(r, "pid", a->pid);
	conn_reply(c, id, r, NULL, 0);
}

/* actor_stop: the head stops an actor hosted here (kill, job end), or
 * restarts its process (kill --restart). */
void actor_op_stop(conn *c, uint32_t id, cJSON *req)
{
	actor *a = actor_find(rj_str(req, "actor_id") ? rj_str(req, "actor_id") : "");
	const char *cause = rj_str(req, "cause");

	conn_reply(c, id, cJSON_CreateObject(), NULL, 0);
	if (!a)
		return;
	if (rj_bool(req, "restart"))
		actor_restart_now(a);
	else
		actor_stop(a, cause && strlen(cause) < 300 ? cause : "was killed by ray-actor kill",
		           rj_bool(req, "graceful"));
}
