/*
 * pool.c: pooled workers, the task-side twin of actors, as Ray's worker
 * pool leases workers to tasks.  A pooled task (ray-submit --worker
 * CMDLINE -- METHOD ARG...) is scheduled like any task; once it is placed
 * here, pool_start() takes its resources and hands its call to an idle
 * worker of its kind (same command line, protocol, --env and GPUs), or
 * starts a new one (sh -c CMDLINE, forked by spawn.c with two pipes, in
 * the task's --working-dir, which is part of the kind), so a
 * Python worker pays its start-up once, not once per task.  One call is
 * in flight per worker; the bytes on the pipes are proto.c's, the answer
 * becomes the task's returns through callret.c, as for actor calls.
 *
 * A busy worker holds its task's resources; an idle one holds none.  A
 * worker that dies during a call is a system error: the task is queued
 * again within --max-retries and so lands on another worker.  One that
 * breaks its protocol is killed and its call fails.  Cancelling a pooled
 * task signals its worker (t->pid), which takes only that worker.  Idle
 * workers stop after --worker-idle-timeout, at most the node's CPU count
 * of each kind stay idle, and all idle ones stop when the host's memory is
 * over --memory-threshold (memmon.c's trim hook), before any task is
 * touched.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "node.h"
#include "bundle.h"
#include "callret.h"
#include "dlist.h"
#include "launch.h"
#include "pool.h"
#include "cgroup.h"
#include "proto.h"
#include "res.h"
#include "spawn.h"
#include "task.h"
#include "uvread.h"
#include "uvwrite.h"
#include "workdir.h"

#define STOP_GRACE_MS 2000

static pworker *whead, *wtail;
static int64_t idle_timeout_ms = 60000;
static uv_timer_t tick;
static int tick_init;

void pool_set_idle_timeout(int64_t ms)
{
	idle_timeout_ms = ms;
}

static const char *state_name(int s)
{
	return s == W_IDLE ? "IDLE" : s == W_BUSY ? "BUSY" : "STOPPING";
}

/* The kind of worker t needs: protocol, command line, --env and the GPUs
 * it was given (a worker keeps the devices it started with). */
static char *kind_key(const task *t)
{
	rbuf b = { 0 };
	int i;

	rbuf_append(&b, proto_name(t->wproto), strlen(proto_name(t->wproto)));
	rbuf_append(&b, "\x1f", 1);
	rbuf_append(&b, t->worker, strlen(t->worker));
	for (i = 0; t->env && t->env[i]; i++) {
		rbuf_append(&b, "\x1f", 1);
		rbuf_append(&b, t->env[i], strlen(t->env[i]));
	}
	if (t->workdir) {
		rbuf_append(&b, "\x1fWD=", 4);
		rbuf_append(&b, t->workdir, strlen(t->workdir));
	}
	if (t->req->gpu > 0 && t->gpu_ids) {
		rbuf_append(&b, "\x1fGPU=", 5);
		rbuf_append(&b, t->gpu_ids, strlen(t->gpu_ids));
	}
	rbuf_append(&b, "", 1);
	return b.p;
}

static void log_line(const pworker *w, const char *msg)
{
	char path[PATH_MAX + 64];
	int fd;

	snprintf(path, sizeof(path), "%s/%s.err", N->logdir, w->id);
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd >= 0) {
		dprintf(fd, "ray-node: %s\n", msg);
		close(fd);
	}
}

/* ---- ending a worker ---- */

static void worker_free(pworker *w)
{
	DL_REMOVE(whead, wtail, w, prev, next);
	free(w->key);
	free(w->cmd);
	free(w->cause);
	rbuf_release(&w->rx);
	free(w);
}

static void on_closed(uv_handle_t *h)
{
	pworker *w = h->data;

	if (--w->nhandles == 0 && w->reaped)
		worker_free(w);
}

static void close_pipe(pworker *w, uv_pipe_t *p)
{
	if (!uv_is_closing((uv_handle_t *)p))
		uv_close((uv_handle_t *)p, on_closed);
}

/* Kills w (its whole process group) for the reason given; what becomes of
 * its call is decided once it is reaped. */
static void worker_kill(pworker *w, const char *cause)
{
	if (!w->cause && cause)
		w->cause = strdup(cause);
	if (w->state != W_BUSY)
		w->state = W_STOPPING;
	if (w->pid > 0 && !w->reaped)
		kill(-w->pid, SIGKILL);
}

/* An idle worker no longer wanted: EOF on its stdin, SIGTERM, and SIGKILL
 * from the tick after a grace period. */
static void worker_stop(pworker *w)
{
	w->state = W_STOPPING;
	w->stop_ms = ray_now_ms();
	close_pipe(w, &w->in);
	if (w->pid > 0 && !w->reaped)
		kill(-w->pid, SIGTERM);
}

static void cg_name(const pworker *w, char *buf, size_t len)
{
	snprintf(buf, len, "w-%s", w->id);
}

/* The kernel killed something in w's cgroup while it served t: t failed
 * for memory. */
static int cg_killed(pworker *w, task *t)
{
	char name[CG_NAME_MAX];

	if (!w->limited)
		return 0;
	cg_name(w, name, sizeof(name));
	if (cg_oom_kills(name) <= w->oom_base)
		return 0;
	if (!t->oom) {
		t->oom = OOM_CGROUP;
		t->oom_bytes = t->req->mem;
	}
	return 1;
}

/* Takes the task off its worker: its resources go back, and its cgroup
 * its limit. */
static task *detach(pworker *w)
{
	task *t = w->cur;
	char name[CG_NAME_MAX];

	if (w->limited) {
		cg_killed(w, t);
		cg_name(w, name, sizeof(name));
		cg_set_limit(name, 0);
		w->limited = 0;
		t->in_cg = 0;
	}
	w->cur = NULL;
	t->pw = NULL;
	t->pid = 0;
	N->nrunning--;
	if (t->req->mem > 0)
		N->nmem_running--;
	task_give_back(t);
	return t;
}

static void fail(task *t, const char *cmd, int state, int code, const char *why)
{
	char desc[256], msg[2048];

	task_desc(t, desc, sizeof(desc));
	snprintf(msg, sizeof(msg), "%s: method '%s' of worker '%.200s' %s", desc, t->argv[0], cmd, why);
	task_finish_error(t, state, code, msg);
}

/* w died with t in its hands: a system error, retried on another worker
 * within --max-retries, unless t was cancelled. */
static void lost(pworker *w)
{
	char path[PATH_MAX + 64], how[300], oom[250], tail[600], why[1400];
	task *t = detach(w);

	t->exit_code = w->exit_code;
	t->term_signal = w->term_signal;
	if (t->state >= T_FINISHED)
		return;
	if (t->cancel) {
		fail(t, w->cmd, T_CANCELLED, RAY_ECANCEL, "was cancelled (its worker was killed)");
		return;
	}
	if (t->attempt < t->max_retries) {
		t->attempt++;
		queue_push(t);
		return;
	}
	if (t->oom && w->term_signal) {
		task_oom_why(t, oom, sizeof(oom));
		snprintf(how, sizeof(how), "was %s", oom);
	} else if (w->cause) {
		snprintf(how, sizeof(how), "%s", w->cause);
	} else if (w->term_signal) {
		snprintf(how, sizeof(how), "was killed by signal %d (%s)", w->term_signal, strsignal(w->term_signal));
	} else {
		snprintf(how, sizeof(how), "exited with code %d", w->exit_code);
	}
	snprintf(path, sizeof(path), "%s/%s.err", N->logdir, w->id);
	log_last_lines(path, tail, sizeof(tail));
	snprintf(why, sizeof(why), "failed: the worker (pid %d) %s during the call on node %s, after %d attempt%s%s%s",
	         w->pid, how, N->id, t->attempt + 1, t->attempt ? "s" : "",
	         tail[0] ? "; stderr: " : "", tail);
	fail(t, w->cmd, T_FAILED, RAY_ECRASH, why);
}

/* w serves no call now: back to the pool, unless its kind already has as
 * many idle workers as the node has CPUs. */
static void go_idle(pworker *w)
{
	int64_t cap = N->total.cpu / QTY_ONE;
	int nidle = 0;
	pworker *o;

	if (w->state != W_BUSY)
		return;
	w->state = W_IDLE;
	w->idle_ms = ray_now_ms();
	for (o = whead; o; o = o->next)
		if (o->state == W_IDLE && !strcmp(o->key, w->key))
			nidle++;
	if (nidle > (cap < 1 ? 1 : cap))
		worker_stop(w);
}

/* ---- answers ---- */

static void broke(pworker *w, const char *why)
{
	char msg[600];

	snprintf(msg, sizeof(msg), "broke the %s protocol: %s", proto_name(w->protocol), why);
	log_line(w, msg);
	w->broken = 1;
	uv_read_stop((uv_stream_t *)&w->out);
	if (w->cur) {
		task *t = detach(w);
		char what[700];
		snprintf(what, sizeof(what), "failed: the worker %s, so it was killed", msg);
		if (t->state < T_FINISHED)
			fail(t, w->cmd, T_FAILED, RAY_EFAILED, what);
	}
	w->state = W_STOPPING;
	worker_kill(w, msg);
}

static const char *check_answer(const pworker *w, const proto_answer *ans)
{
	if (!w->cur || w->state != W_BUSY)
		return "an answer nobody asked for";
	if (w->protocol != P_LINE && ans->id != w->cur->call_id)
		return "answer to an unknown call id";
	return ans->status > 1 ? "bad status byte" : NULL;
}

static void answered(pworker *w, const proto_answer *ans)
{
	char why[1100];
	task *t;

	/* The kernel killed part of the call (a child the worker waited for):
	 * a crash, whatever the worker answered.  The worker goes, as the
	 * tick would have it, and its death fails or retries the call (lost). */
	if (cg_killed(w, w->cur)) {
		worker_kill(w, NULL);
		return;
	}
	t = detach(w);

	w->tasks_done++;
	if (t->state >= T_FINISHED) {
		go_idle(w);
		return;
	}
	t->end_ms = ray_now_ms();
	if (ans->status == 0) {
		if (callret_store(t, w->protocol, ans->data, ans->len, why, sizeof(why))) {
			fail(t, w->cmd, T_FAILED, RAY_EFAILED, why);
		} else {
			t->state = T_FINISHED;
			N->nfinished++;
			task_unpin_deps(t);
			task_ended(t);
		}
	} else if (t->retry_exceptions && t->attempt < t->max_retries) {
		t->attempt++;
		queue_push(t);
	} else {
		t->exit_code = 1;
		snprintf(why, sizeof(why), "failed: %.*s", (int)(ans->len > 1000 ? 1000 : ans->len), ans->data);
		fail(t, w->cmd, T_FAILED, RAY_EFAILED, why);
	}
	go_idle(w);
}

/* Takes every whole answer out of w->rx; returns how many calls ended. */
static int parse(pworker *w)
{
	size_t off = 0;
	int n = 0;

	while (!w->broken && off < w->rx.len) {
		proto_answer ans;
		const char *why = NULL;
		long used = proto_next_answer(w->protocol, w->rx.p + off, w->rx.len - off, &w->scanned, &ans, &why);

		if (used == 0)
			break;
		if (used > 0)
			why = check_answer(w, &ans);
		if (why) {
			broke(w, why);
			break;
		}
		off += (size_t)used;
		answered(w, &ans);
		n++;
	}
	rbuf_consume(&w->rx, off);
	return n;
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	pworker *w = h->data;

	(void)hint;
	uvr_room(&w->rx, b);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	pworker *w = s->data;

	(void)b;
	if (n < 0) {
		/* A worker without its stdout cannot serve: done with it. */
		uv_read_stop(s);
		w->eof = 1;
		worker_kill(w, NULL);
		return;
	}
	w->rx.len += (size_t)n;
	/* Kicked once the answers are all taken, so an extra answer is never
	 * taken for the next call's. */
	if (parse(w) && !N->stopping)
		node_kick();
}

static int took_answers(void *ud)
{
	pworker *w = ud;

	parse(w);
	return w->broken;
}

static void on_reaped(void *ud, int status, int sig, int exec_err)
{
	pworker *w = ud;

	(void)exec_err;
	/* What it wrote before exiting may not be read yet: an answer
	 * followed by an exit is not lost. */
	uvr_drain((uv_stream_t *)&w->out, &w->rx, took_answers, w);
	w->reaped = 1;
	w->exit_code = status;
	w->term_signal = sig;
	/* Killed by us for closing a pipe: say that, not the signal. */
	if (!w->cause && (w->eof || w->epipe) && sig == SIGKILL)
		w->cause = strdup(w->eof ? "closed its standard output"
		                         : "closed its standard input (a call could not be written)");
	if (w->cur)
		lost(w);
	if (w->in_cg) {
		char name[CG_NAME_MAX];
		cg_name(w, name, sizeof(name));
		cg_release(name);
		w->in_cg = 0;
	}
	w->state = W_STOPPING;
	close_pipe(w, &w->in);
	close_pipe(w, &w->out);
	if (!N->stopping)
		node_kick();
}

/* ---- starting a worker and leasing it ---- */

static void on_written(uv_stream_t *s, int status)
{
	pworker *w = s->data;

	if (status < 0 && status != UV_ECANCELED) {
		w->epipe = 1;
		worker_kill(w, NULL);
	}
}

static void on_tick(uv_timer_t *tm);

static void tick_start(void)
{
	uint64_t ms = (uint64_t)(idle_timeout_ms / 4);

	if (!tick_init) {
		uv_timer_init(N->loop, &tick);
		uv_unref((uv_handle_t *)&tick);
		tick_init = 1;
	}
	if (!uv_is_active((uv_handle_t *)&tick))
		uv_timer_start(&tick, on_tick, 0, ms < 50 ? 50 : ms > 1000 ? 1000 : ms);
}

/* The worker's environment: the first task's, with RAY_WORKER_ID for
 * the id that env_build gives an actor. */
static char **worker_env(const pworker *w, const task *t)
{
	char **env = env_build(w->id, t->job, 0, t->req, t->gpu_ids, t->env, 0, NULL);
	int i;

	for (i = 0; env && env[i]; i++)
		if (!strncmp(env[i], "RAY_ACTOR_ID=", 13)) {
			free(env[i]);
			env[i] = env_kv("RAY_WORKER_ID", w->id);
			break;
		}
	return env;
}

/* sh -c runs a simple command line as "exec LINE", so the worker's pid
 * (ray-status workers, ray-cancel) is the program's own, not a shell's
 * waiting for it.  Anything else (operators, compound commands, leading
 * assignments, a first word that only the shell knows) runs as written. */
static char *shell_line(const char *cmd)
{
	const char *p = cmd + strspn(cmd, " \t");
	size_t w = strcspn(p, " \t");
	static const char *const shell_only[] = {
		"while", "until", "for", "if", "case", "{", "!", "function", "select", ".", ":", "alias",
		"bg", "break", "cd", "command", "continue", "eval", "exec", "exit", "export", "fg",
		"getopts", "hash", "jobs", "local", "read", "readonly", "return", "set", "shift",
		"source", "times", "trap", "type", "ulimit", "umask", "unalias", "unset", "wait", NULL
	};
	int i, simple = !strpbrk(cmd, ";&|()`\n") && !memchr(p, '=', w);
	size_t n = strlen(cmd) + 6;
	char *line;

	for (i = 0; simple && shell_only[i]; i++)
		if (w == strlen(shell_only[i]) && !strncmp(p, shell_only[i], w))
			simple = 0;
	if (!(line = malloc(n)))
		return NULL;
	snprintf(line, n, "%s%s", simple ? "exec " : "", cmd);
	return line;
}

static pworker *worker_new(const task *t, char *key, char *err, size_t elen)
{
	pworker *w = calloc(1, sizeof(*w));
	char rnd[17], path[PATH_MAX + 64], cgn[CG_NAME_MAX];
	char *line = shell_line(t->worker);
	char *sh[] = { "/bin/sh", "-c", line, NULL };
	char **argv = t->workdir && line ? workdir_argv(t->workdir, sh, err, elen) : NULL;
	char **env = NULL;
	int to = -1, from = -1, logfd = -1, rc = UV_ENOMEM, join = -1;

	if (w) {
		ray_random_hex(rnd, 8);
		snprintf(w->id, sizeof(w->id), "%s%s", N->id, rnd);
		w->cmd = strdup(t->worker);
		env = worker_env(w, t);
		snprintf(path, sizeof(path), "%s/%s.err", N->logdir, w->id);
		logfd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	}
	if (w && cg_active()) {
		cg_name(w, cgn, sizeof(cgn));
		w->in_cg = !cg_create(cgn, 0, &join);
	}
	if (w && w->cmd && line && (argv || !t->workdir) && env && logfd >= 0)
		rc = spawn_piped(argv ? argv : sh, env, logfd, join, on_reaped, w, &w->pid, &to, &from);
	if (rc && w && w->in_cg)
		cg_release(cgn);
	if (logfd >= 0)
		close(logfd);
	env_free(env);
	ray_strv_free(argv);
	free(line);
	if (rc) {
		snprintf(err, elen, "%s", uv_strerror(rc));
		if (w)
			free(w->cmd);
		free(w);
		free(key);
		return NULL;
	}
	w->key = key;
	w->protocol = t->wproto;
	w->state = W_IDLE;
	w->started_ms = ray_now_ms();
	uv_pipe_init(N->loop, &w->in, 0);
	uv_pipe_init(N->loop, &w->out, 0);
	uv_pipe_open(&w->in, to);
	uv_pipe_open(&w->out, from);
	w->in.data = w->out.data = w;
	w->nhandles = 2;
	uv_read_start((uv_stream_t *)&w->out, on_alloc, on_read);
	DL_APPEND(whead, wtail, w, prev, next);
	tick_start();
	return w;
}

static void lease(pworker *w, task *t)
{
	rbuf b = { 0 };

	w->state = W_BUSY;
	w->cur = t;
	t->pw = w;
	t->pid = w->pid;
	t->wpid = w->pid;
	t->state = T_RUNNING;
	t->start_ms = ray_now_ms();
	t->exit_code = 0;
	t->term_signal = 0;
	t->oom = OOM_NONE;
	N->nrunning++;
	if (t->req->mem > 0)
		N->nmem_running++;   /* memmon.c measures its worker */
	if (t->req->mem > 0 && w->in_cg) {
		/* The kernel holds the worker to the call's --memory; where the
		 * worker already holds more (v1 refuses), memmon.c samples. */
		char name[CG_NAME_MAX];
		cg_name(w, name, sizeof(name));
		w->oom_base = cg_oom_kills(name);
		w->limited = !cg_set_limit(name, t->req->mem);
		t->in_cg = (unsigned char)w->limited;
	}
	t->call_id = ++w->next_call;
	proto_write_call(&b, w->protocol, t->call_id, t->argv[0], t->argv + 1, task_arg_resolve);
	if (!b.p || uvw_write((uv_stream_t *)&w->in, b.p, b.len, NULL, 0, NULL, on_written)) {
		w->epipe = 1;
		worker_kill(w, NULL);
	}
}

void pool_start(task *t)
{
	char err[256], msg[600];
	char *key;
	res *pool = task_pool(t);
	pworker *w;

	if (pool)
		res_sub(pool, t->req);
	task_take_gpus(t);
	t->state = T_SUBMITTED;
	snprintf(err, sizeof(err), "out of memory");
	key = kind_key(t);
	for (w = whead; key && w; w = w->next)
		if (w->state == W_IDLE && !strcmp(w->key, key))
			break;
	if (w)
		free(key);
	else if (key)
		w = worker_new(t, key, err, sizeof(err));
	if (!w) {
		task_give_back(t);
		snprintf(msg, sizeof(msg), "could not be started: no worker on node %s (%s)", N->id, err);
		fail(t, t->worker, T_FAILED, RAY_EFAILED, msg);
		return;
	}
	lease(w, t);
}

/* ---- the pool's policy ---- */

int pool_trim(void)
{
	pworker *w;
	int n = 0;

	for (w = whead; w; w = w->next)
		if (w->state == W_IDLE) {
			worker_stop(w);
			n++;
		}
	return n;
}

static void on_tick(uv_timer_t *tm)
{
	int64_t now = ray_now_ms();
	pworker *w;

	if (!whead) {
		uv_timer_stop(tm);
		return;
	}
	for (w = whead; w; w = w->next) {
		/* The kernel killed part of a call (a child the worker waits
		 * for): the whole call goes, as for a task. */
		if (w->state == W_BUSY && w->cur && !w->reaped && cg_killed(w, w->cur))
			worker_kill(w, NULL);
		if (w->state == W_IDLE && now - w->idle_ms >= idle_timeout_ms)
			worker_stop(w);
		else if (w->state == W_STOPPING && w->stop_ms && !w->reaped && now - w->stop_ms >= STOP_GRACE_MS)
			kill(-w->pid, SIGKILL);
	}
}

/* ---- status ---- */

int pool_owns_id(const char *id)
{
	pworker *w;

	for (w = whead; w; w = w->next)
		if (!strcmp(w->id, id))
			return 1;
	return 0;
}

const char *pool_task_of(const char *id)
{
	pworker *w;

	for (w = whead; w; w = w->next)
		if (w->cur && !strcmp(w->id, id))
			return w->cur->id;
	return id;
}

void pool_json(cJSON *arr, const char *state)
{
	pworker *w;

	for (w = whead; w; w = w->next) {
		cJSON *j;
		if (w->state == W_STOPPING || (state && strcmp(state, state_name(w->state))))
			continue;
		j = cJSON_CreateObject();
		cJSON_AddStringToObject(j, "worker_id", w->id);
		cJSON_AddStringToObject(j, "node_id", N->id);
		cJSON_AddNumberToObject(j, "pid", w->pid);
		cJSON_AddStringToObject(j, "command", w->cmd);
		cJSON_AddStringToObject(j, "protocol", proto_name(w->protocol));
		cJSON_AddStringToObject(j, "state", state_name(w->state));
		cJSON_AddNumberToObject(j, "tasks_done", (double)w->tasks_done);
		cJSON_AddNumberToObject(j, "start_ms", (double)(w->started_ms - N->start_ms + N->wall_start_ms));
		if (w->cur)
			cJSON_AddStringToObject(j, "task_id", w->cur->id);
		cJSON_AddItemToArray(arr, j);
	}
}

void pool_stop_all(void)
{
	pworker *w;

	for (w = whead; w; w = w->next)
		worker_kill(w, "stopped with its node");
	if (tick_init)
		uv_timer_stop(&tick);
}

void pool_free_all(void)
{
	while (whead)
		worker_free(whead);
}
