/*
 * actor.c: the life of an actor, a long-lived child process that serves
 * method calls over its stdin and stdout (docs/actor-protocols.md): the
 * table of actors by id and by name, create, start, restart, stop and death,
 * and the actor_* requests.  Calls themselves live in actor_call.c, and the
 * bytes on the pipes in proto.c.
 *
 * An actor waits PENDING until this node has its resources, which it then
 * holds for life.  When the process dies, calls in flight are retried up to
 * --max-task-retries (back at the front of the queue) or fail with exit 5,
 * and the actor restarts up to --max-restarts times, else it is DEAD and
 * every call fails with exit 5.  The head hosts every actor of the cluster.
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

actor_hooks actor_on;
#include "launch.h"
#include "proto.h"
#include "res.h"
#include "server.h"

#define MAX_CONCURRENCY 10000
#define STOP_GRACE_MS 2000
#define UNLIMITED (1 << 30)   /* --max-restarts and --max-task-retries -1 */

static map by_id, by_name;
static actor *ahead, *atail;

static const char *state_name(int s)
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

static void actor_spawn(actor *a);
static void after_death(actor *a);

/* ---- the actor's pipes ---- */

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	actor *a = h->data;

	(void)hint;
	if (rbuf_reserve(&a->rx, 65536)) {
		*b = uv_buf_init(NULL, 0);
		return;
	}
	*b = uv_buf_init(a->rx.p + a->rx.len, (unsigned)(a->rx.cap - a->rx.len));
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

	if (h == (uv_handle_t *)&a->proc)
		N->nprocs--;
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
	if (!uv_is_closing((uv_handle_t *)&a->proc))
		uv_close((uv_handle_t *)&a->proc, on_handle_closed);
}

/* The process has exited: whatever it wrote before is already in the pipe,
 * though maybe not yet read.  Read it now, before the pipe is closed, so
 * that an actor that answers and then exits does not lose the answer. */
static void drain(actor *a)
{
	uv_os_fd_t fd;

	if (!uv_is_active((uv_handle_t *)&a->out) || uv_fileno((uv_handle_t *)&a->out, &fd) ||
	    !(fcntl(fd, F_GETFL) & O_NONBLOCK))
		return;
	for (;;) {
		ssize_t n;
		if (rbuf_reserve(&a->rx, 65536))
			return;
		n = read(fd, a->rx.p + a->rx.len, a->rx.cap - a->rx.len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		a->rx.len += (size_t)n;
		if (actor_on.answers(a))
			return;
	}
}

static void on_exit_cb(uv_process_t *p, int64_t status, int sig)
{
	actor *a = p->data;
	char buf[128];

	drain(a);
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

static void release(actor *a)
{
	if (a->holding) {
		res_add(&N->avail, &a->req);
		gpu_give(&a->req, a->gpu_ids);
		a->holding = 0;
	}
}

static void go_dead(actor *a)
{
	char why[700];
	task *t;

	a->state = A_DEAD;
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
			actor_on.call_fail(t, RAY_EACTOR, why);
		}
	}
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
		go_dead(a);
		if (N->stopping && N->nprocs == 0)
			node_shutdown();
		return;
	}
	a->num_restarts++;
	a->state = A_RESTARTING;
	node_log("restarting actor %s (%d of %d): it %s", a->id, a->num_restarts, a->max_restarts,
	         a->cause ? a->cause : "died");
	free(a->cause);
	a->cause = NULL;
	delay = a->num_restarts > 5 ? 1000 : 50 * a->num_restarts;
	start_timer(a, on_restart_timer, (uint64_t)delay);
}

static void actor_spawn(actor *a)
{
	uv_process_options_t po;
	uv_stdio_container_t io[3];
	char path[PATH_MAX + 64], msg[600];
	char **env;
	int logfd, rc;

	if (!a->gpu_ids[0])
		gpu_take(&a->req, a->gpu_ids, sizeof(a->gpu_ids));
	env = env_build(a->id, a->job, a->num_restarts, &a->req, a->gpu_ids, a->env, 0, NULL);
	snprintf(path, sizeof(path), "%s/%s.err", N->logdir, a->id);
	logfd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	uv_pipe_init(N->loop, &a->in, 0);
	uv_pipe_init(N->loop, &a->out, 0);
	a->in.data = a->out.data = a->proc.data = a;
	memset(&po, 0, sizeof(po));
	po.exit_cb = on_exit_cb;
	po.file = a->argv[0];
	po.args = a->argv;
	po.env = env;
	po.flags = UV_PROCESS_DETACHED;
	po.stdio_count = 3;
	io[0].flags = UV_CREATE_PIPE | UV_READABLE_PIPE;
	io[0].data.stream = (uv_stream_t *)&a->in;
	io[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
	io[1].data.stream = (uv_stream_t *)&a->out;
	io[2].flags = UV_INHERIT_FD;
	io[2].data.fd = logfd;
	po.stdio = io;
	rc = logfd < 0 || !env ? UV_ENOMEM : uv_spawn(N->loop, &a->proc, &po);
	if (logfd >= 0)
		close(logfd);
	ray_strv_free(env);
	if (rc) {
		snprintf(msg, sizeof(msg), "could not start '%s': %s", a->argv[0], uv_strerror(rc));
		actor_set_cause(a, "%s", msg);
		actor_log_line(a, msg);
		a->killed = 1;   /* it would fail the same way again */
		a->nhandles = 2;
		uv_close((uv_handle_t *)&a->in, on_handle_closed);
		uv_close((uv_handle_t *)&a->out, on_handle_closed);
		return;
	}
	N->nprocs++;
	a->nhandles = 3;
	a->pid = a->proc.pid;
	a->dying = 0;
	a->state = A_ALIVE;
	uv_read_start((uv_stream_t *)&a->out, on_alloc, on_read);
	actor_on.pump(a);
}

void actor_sched(void)
{
	actor *a;

	for (a = ahead; a; a = a->next)
		if (a->state == A_PENDING && !a->holding && !N->stopping && res_fits(&a->req, &N->avail)) {
			res_sub(&N->avail, &a->req);
			a->holding = 1;
			actor_spawn(a);
		}
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
static void actor_stop(actor *a, const char *cause, int graceful)
{
	if (a->state == A_DEAD)
		return;
	a->killed = 1;
	a->dying = 1;
	actor_set_cause(a, "%s", cause);
	if (a->state == A_PENDING || (a->state == A_RESTARTING && !a->nhandles)) {
		go_dead(a);
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

void actor_job_ended(const char *job_id)
{
	actor *a;

	for (a = ahead; a; a = a->next)
		if (!a->detached && !strcmp(a->job, job_id))
			actor_stop(a, "was stopped because its job ended", 1);
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

void actors_free_all(void)
{
	while (ahead) {
		actor *a = ahead;
		ahead = a->next;
		ray_strv_free(a->argv);
		ray_strv_free(a->env);
		free(a->name);
		free(a->ns);
		free(a->key);
		free(a->cause);
		rbuf_release(&a->rx);
		free(a);
	}
	atail = NULL;
	map_release(&by_id);
	map_release(&by_name);
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

actor *actor_resolve(const cJSON *req, const char *key, conn *c, uint32_t id)
{
	const char *ref = rj_str(req, key);
	char nsbuf[96], *k;
	actor *a;

	if (!ref || !*ref) {
		conn_reply_err(c, id, RAY_EUSAGE, "no actor given");
		return NULL;
	}
	a = map_get(&by_id, ref);
	if (a)
		return a;
	k = name_key(default_ns(req, nsbuf, sizeof(nsbuf)), ref);
	a = k ? map_get(&by_name, k) : NULL;
	free(k);
	if (!a)
		conn_reply_err(c, id, RAY_ENOTFOUND, "unknown actor '%.80s' in namespace '%s'", ref,
		               default_ns(req, nsbuf, sizeof(nsbuf)));
	return a;
}

static void op_create(conn *c, uint32_t id, cJSON *req)
{
	const cJSON *opts = cJSON_GetObjectItemCaseSensitive(req, "opts");
	const char *name = rj_str(req, "name"), *job = rj_str(opts, "job_id");
	char nsbuf[96], rnd[17], *key = NULL;
	const char *ns;
	ray_err err = { 0, "" };
	actor *a, *old = NULL;
	cJSON *r;
	char **argv;
	int proto = proto_parse_name(rj_str(req, "protocol"));
	res rq;

	if (proto < 0) {
		conn_reply_err(c, id, RAY_EUSAGE, "bad --protocol: want line, tagged or frame");
		return;
	}
	if (res_parse_request(opts, &rq, &err)) {
		conn_reply_err(c, id, err.code, "%s", err.msg);
		return;
	}
	if (rj_str(opts, "pg")) {
		conn_reply_err(c, id, RAY_ENOTFOUND, "unknown placement group '%.80s'", rj_str(opts, "pg"));
		return;
	}
	argv = json_strv(cJSON_GetObjectItemCaseSensitive(req, "argv"), 0, &err);
	if (!argv || !argv[0]) {
		ray_strv_free(argv);
		conn_reply_err(c, id, RAY_EUSAGE, "%s", argv ? "empty command" : err.msg);
		return;
	}
	if (!job)
		job = rj_str(req, "job_id");
	{
		cJSON *tmp = cJSON_CreateObject();
		if (rj_str(req, "namespace"))
			cJSON_AddStringToObject(tmp, "namespace", rj_str(req, "namespace"));
		if (job)
			cJSON_AddStringToObject(tmp, "job_id", job);
		ns = default_ns(tmp, nsbuf, sizeof(nsbuf));
		ns = strdup(ns);
		cJSON_Delete(tmp);
	}
	if (name) {
		if (!*name || strlen(name) > 256) {
			conn_reply_err(c, id, RAY_EUSAGE, "bad actor name");
			goto fail;
		}
		key = name_key(ns, name);
		old = key ? map_get(&by_name, key) : NULL;
		if (old && old->state != A_DEAD) {
			if (rj_bool(req, "get_if_exists")) {
				r = cJSON_CreateObject();
				cJSON_AddStringToObject(r, "actor_id", old->id);
				cJSON_AddBoolToObject(r, "existed", 1);
				conn_reply(c, id, r, NULL, 0);
			} else {
				conn_reply_err(c, id, RAY_EUSAGE,
				               "actor name '%s' is taken in namespace '%s' (use --get-if-exists)", name, ns);
			}
			goto fail;
		}
	}
	a = calloc(1, sizeof(*a));
	if (!a) {
		conn_reply_err(c, id, RAY_ERESOURCE, "out of memory");
		goto fail;
	}
	ray_random_hex(rnd, 8);
	snprintf(a->id, sizeof(a->id), "%s%s", N->id, rnd);
	snprintf(a->job, sizeof(a->job), "%s", job && strlen(job) <= RAY_ID_MAX ? job : "00000000");
	a->name = name ? strdup(name) : NULL;
	a->ns = (char *)ns;
	a->key = key;
	a->argv = argv;
	a->env = json_strv(cJSON_GetObjectItemCaseSensitive(opts, "env"), 1, NULL);
	a->req = rq;
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
	map_put(&by_id, a->id, a);
	if (key)
		map_put(&by_name, a->key, a);
	DL_APPEND(ahead, atail, a, prev, next);
	r = cJSON_CreateObject();
	cJSON_AddStringToObject(r, "actor_id", a->id);
	if (!res_fits(&a->req, &N->total))
		cJSON_AddStringToObject(r, "warning",
		                        "infeasible: no node has the resources this actor asks for; it stays pending until one joins");
	actor_sched();
	if ((a->state == A_DEAD || a->killed) && a->cause) {
		cJSON_Delete(r);
		conn_reply_err(c, id, RAY_EFAILED, "actor %s %s", a->id, a->cause);
		return;
	}
	conn_reply(c, id, r, NULL, 0);
	return;
fail:
	free(key);
	free((char *)ns);
	ray_strv_free(argv);
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
	cJSON_AddStringToObject(j, "state", state_name(a->state));
	cJSON_AddStringToObject(j, "node_id", N->id);
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
	const actor *a;
	int64_t n = 0, skip;

	for (a = ahead; a; a = a->next)
		if (!state || !strcmp(state, state_name(a->state)))
			n++;
	skip = limit >= 0 && n > limit ? n - limit : 0;
	for (a = ahead; a; a = a->next)
		if (!state || !strcmp(state, state_name(a->state))) {
			if (skip > 0) {
				skip--;
				continue;
			}
			cJSON_AddItemToArray(arr, actor_json(a));
		}
	return arr;
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
		if (rj_bool(req, "restart")) {
			if (a->state == A_ALIVE && a->pid > 0) {
				actor_set_cause(a, "%s", "was restarted by ray-actor kill --restart");
				a->dying = 1;
				kill(-a->pid, SIGKILL);
			}
		} else {
			actor_stop(a, "was killed by ray-actor kill", 0);
		}
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
		cJSON_AddStringToObject(r, "state", state_name(a->state));
		conn_reply(c, id, r, NULL, 0);
	} else if (!strcmp(op, "actor_list")) {
		r = cJSON_CreateObject();
		cJSON_AddItemToObject(r, "items", actors_json(rj_str(req, "state"), rj_int(req, "limit", -1)));
		conn_reply(c, id, r, NULL, 0);
	} else {
		conn_reply_err(c, id, RAY_EUSAGE, "unknown request '%.64s'", op);
	}
}
