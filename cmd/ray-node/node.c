/*
 * node.c: the daemon as a whole: the one node state, its log, and the
 * order in which a stopping node winds down its parts.  This is the top of
 * ray-node's module graph: it may call every part; no part calls up here
 * except through node_shutdown() and node_log().
 */
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "node.h"
#include "actor.h"
#include "actor_call.h"
#include "actor_route.h"
#include "cluster.h"
#include "job.h"
#include "metrics.h"
#include "memmon.h"
#include "cgroup.h"
#include "sink.h"
#include "metrics_text.h"
#include "ops.h"
#include "pg.h"
#include "pg_place.h"
#include "pool.h"
#include "put.h"
#include "remote.h"
#include "sched.h"
#include "server.h"
#include "spill.h"
#include "state.h"
#include "store.h"
#include "store_status.h"
#include "stream.h"
#include "task.h"
#include "transfer.h"
#include "waiter.h"
#include "workdir.h"

node *N;

void node_log(const char *fmt, ...)
{
	va_list ap;
	char ts[32], msg[4096];
	time_t now = time(NULL);
	struct tm tm;

	localtime_r(&now, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%S", &tm);
	fprintf(stderr, "%s ray-node[%d]: ", ts, (int)getpid());
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* Names and commands from users: one line, whatever they hold. */
	ray_fputs_safe(msg, stderr);
	fputc('\n', stderr);
}

static void close_walk(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

/* Closing the last SIGTERM handle puts back the default action, so a
 * second SIGTERM (timeout(1) and Slurm send one to the process and one
 * to its group) would kill a stop half way: the signals stay blocked
 * while the handles close and are ignored from then on. */
void node_close_handles(void)
{
	sigset_t stop, old;

	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	sigprocmask(SIG_BLOCK, &stop, &old);
	uv_walk(N->loop, close_walk, NULL);
	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	sigprocmask(SIG_SETMASK, &old, NULL);
}

static void finish_shutdown(void)
{
	char link[PATH_MAX + 16], target[PATH_MAX];
	ssize_t n;

	sinks_close_all();
	cg_shutdown();
	node_close_handles();
	spill_shutdown();
	/* A clean stop of the head ends the cluster: nothing to resume. */
	state_clear();
	state_close();
	ray_rm_rf(N->store);
	snprintf(link, sizeof(link), "%s/latest", ray_tmpdir());
	n = readlink(link, target, sizeof(target) - 1);
	if (n > 0) {
		target[n] = '\0';
		if (strstr(target, N->id))
			unlink(link);
	}
	ray_rm_rf(N->session);
}

void node_shutdown(void)
{
	if (!N->stopping) {
		N->stopping = 1;
		node_log("stopping");
		server_stop(N);
		metrics_stop();
		cluster_stop();
		tasks_kill_all();
		pool_stop_all();
		actors_stop_all();
		jobs_kill_all();
	}
	if (N->nprocs == 0)
		finish_shutdown();
}

/* The head places groups; every node pulls objects. */
static void head_tick(void)
{
	if (N->is_head)
		pg_tick();
	actor_sched_wake();
}

static void on_task_ended(task *t)
{
	remote_task_ended(t);
	stream_task_ended(t);
}

/* An object is going: its spill copies, its unpacked working directory,
 * and a task record kept only for its lineage. */
static void on_freeing(obj *o)
{
	spill_forget(o);
	workdir_forget(o);
	task_obj_freed(o);
	transfer_obj_freed(o);
}

static void on_store_room(obj *landed)
{
	store_pressure();
	spill_landed(landed);
}

/* The call that a pooled worker or an actor hosted here serves, when id
 * names one (else id): a task it submits is that call's child. */
static const char *task_of(const char *id)
{
	const char *t = pool_task_of(id);

	return t != id ? t : actor_call_of(id);
}

static int call_cancel(task *t, const char *msg, int tree)
{
	return t->handle ? actor_route_cancel(t, msg, tree) : actor_call_cancel(t, msg);
}

/* A task blocked in a get lends its CPUs; a pooled worker asks in the
 * name of the task it serves. */
static int lend(const char *id)
{
	return task_lend(pool_task_of(id));
}

static void unlend(const char *id)
{
	task_unlend(pool_task_of(id));
}

void node_wire(void)
{
	store_on.changed = waiter_notify;
	store_on.room = on_store_room;
	store_on.freeing = on_freeing;
	store_on.foreign = foreign_obj;
	waiter_on.dep_ready = task_dep_ready;
	waiter_on.lend = lend;
	waiter_on.unlend = unlend;
	waiter_on.fetch = fetch_start;
	sched_on.before_run = actor_sched;
	task_on.call_ready = actor_call_ready;
	task_on.ended = on_task_ended;
	sched_on.call_cancel = call_cancel;
	sched_on.start_pooled = pool_start;
	sched_on.task_of = task_of;
	memmon_on.trim = pool_trim;
	N->kick = sched_run;
	pg_place_on.find = pg_find;
	pg_place_on.settled = pg_settled;
	actor_on.answers = actor_parse_answers;
	actor_on.pump = actor_pump;
	actor_on.call_fail = actor_call_fail;
	actor_on.changed = actor_dir_save;
	server_on_request(ops_dispatch);
	server_on_close(waiter_conn_closed);
	server_on_close(store_conn_closed);
	server_on_close(job_conn_closed);
	server_on_close(stream_conn_closed);
	cluster_on_death(actor_route_node_died);   /* before remote_node_died sees its calls */
	cluster_on_death(actor_node_died);
	cluster_on_death(remote_node_died);
	cluster_on_death(transfer_node_died);
	cluster_on_death(pg_node_died);
	cluster_on_tick(head_tick);
	cluster_on_tick(transfer_tick);
	cluster_on_tick(actor_route_tick);
	cluster_on_tick(actor_exec_tick);
	cluster_on_tick(actors_prune);
	cluster_on_tick(metrics_tick);
	metrics_on.render = metrics_text;
	cluster_on_change(sched_run);
	cluster_share(pg_table_json, pg_merge_table);
	cluster_on_store(store_totals);
}

