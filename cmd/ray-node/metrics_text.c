/*
 * metrics_text.c: what this node says on /metrics, in the Prometheus
 * text format (version 0.0.4): its resources, tasks by state, workers,
 * the object store, spills and restores, transfers, actors, heartbeats
 * and the cluster view.  Runs on the loop thread (metrics.c publishes it).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "node.h"
#include "actor.h"
#include "metrics.h"
#include "metrics_text.h"
#include "res.h"
#include "spill.h"
#include "store.h"
#include "task.h"
#include "transfer.h"

static void out(rbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out(rbuf *b, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n > 0)
		rbuf_append(b, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

static void head(rbuf *b, const char *name, const char *type, const char *help)
{
	out(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One series without labels: its HELP, TYPE and value. */
static void scalar(rbuf *b, const char *name, const char *type, const char *help, double v)
{
	head(b, name, type, help);
	out(b, "%s %.17g\n", name, v);
}

/* A label value with \ " and newline escaped, as the format wants. */
static void esc(char *dst, size_t len, const char *s)
{
	size_t o = 0;

	for (; *s && o + 3 < len; s++) {
		if (*s == '\\' || *s == '"' || *s == '\n') {
			dst[o++] = '\\';
			dst[o++] = *s == '\n' ? 'n' : *s;
		} else {
			dst[o++] = *s;
		}
	}
	dst[o] = '\0';
}

static void resources(rbuf *b, const char *name, const char *help, const res *r)
{
	cJSON *j = res_json(r);
	const cJSON *it;
	char lab[160];

	head(b, name, "gauge", help);
	cJSON_ArrayForEach(it, j) {
		if (!strcmp(it->string, "object_store_memory"))
			continue;   /* ray_object_store_bytes says it */
		esc(lab, sizeof(lab), it->string);
		out(b, "%s{resource=\"%s\"} %.17g\n", name, lab, it->valuedouble);
	}
	cJSON_Delete(j);
}

static void tasks(rbuf *b)
{
	uint64_t counts[T_CANCELLED + 1] = { 0 };
	const task *t;
	int i;

	for (t = N->thead; t; t = t->next)
		if (t->state >= 0 && t->state <= T_CANCELLED)
			counts[t->state]++;
	head(b, "ray_tasks", "gauge", "Tasks this node owns, by state (finished ones as far as kept).");
	for (i = 0; i <= T_CANCELLED; i++)
		out(b, "ray_tasks{state=\"%s\"} %llu\n", task_state_name(i), (unsigned long long)counts[i]);
	scalar(b, "ray_tasks_submitted_total", "counter", "Tasks submitted to this node since it started.", (double)N->ntask_total);
	scalar(b, "ray_tasks_finished_total", "counter", "Tasks and calls that ended well on this node.", (double)N->nfinished);
	scalar(b, "ray_tasks_failed_total", "counter", "Tasks that ended in an error on this node.", (double)N->nfailed);
	scalar(b, "ray_tasks_queued", "gauge", "Tasks waiting for resources on this node.", (double)N->nqueued);
	head(b, "ray_workers", "gauge", "Worker processes: running tasks, and every child process.");
	out(b, "ray_workers{kind=\"running_tasks\"} %d\nray_workers{kind=\"processes\"} %d\n",
	    N->nrunning, N->nprocs);
}

static void store(rbuf *b)
{
	uint64_t nobj = 0, bytes = 0;
	const obj *o;

	for (o = N->ohead; o; o = o->next)
		if (o->state == OBJ_READY) {
			nobj++;
			bytes += o->size;
		}
	head(b, "ray_object_store_bytes", "gauge", "Object store bytes: resident, capacity, of ready objects, on disk.");
	out(b, "ray_object_store_bytes{kind=\"used\"} %llu\n", (unsigned long long)N->store_used);
	out(b, "ray_object_store_bytes{kind=\"capacity\"} %llu\n", (unsigned long long)N->store_cap);
	out(b, "ray_object_store_bytes{kind=\"objects\"} %llu\n", (unsigned long long)bytes);
	out(b, "ray_object_store_bytes{kind=\"spilled\"} %llu\n", (unsigned long long)store_spilled_bytes());
	scalar(b, "ray_object_store_objects", "gauge", "Ready objects this node holds or tracks.", (double)nobj);
	scalar(b, "ray_object_spills_total", "counter", "Objects spilled to disk.", (double)store_st.spills);
	scalar(b, "ray_object_spilled_bytes_total", "counter", "Bytes spilled to disk.", (double)store_st.spilled_bytes);
	scalar(b, "ray_object_restores_total", "counter", "Objects restored from disk.", (double)store_st.restores);
	scalar(b, "ray_object_restored_bytes_total", "counter", "Bytes restored from disk.", (double)store_st.restored_bytes);
	scalar(b, "ray_object_spill_failures_total", "counter", "Spills that failed.", (double)store_st.spill_failures);
}

static void transfers(rbuf *b)
{
	cJSON *j = cJSON_CreateObject();

	transfer_stats_json(j);
	scalar(b, "ray_object_pulls_total", "counter", "Objects copied here from other nodes.", (double)rj_int(j, "pulls", 0));
	scalar(b, "ray_object_pulled_bytes_total", "counter", "Bytes copied here from other nodes.", (double)rj_int(j, "pulled_bytes", 0));
	scalar(b, "ray_object_pull_failures_total", "counter", "Copies from other nodes that failed.", (double)rj_int(j, "pull_failures", 0));
	cJSON_Delete(j);
}

static void actors(rbuf *b)
{
	static const char *states[] = { "ALIVE", "RESTARTING", "DEAD", "PENDING_CREATION" };
	cJSON *all = actors_json(NULL, -1);
	const cJSON *a;
	size_t i;

	head(b, "ray_actors", "gauge", "Actors this node knows, by state.");
	for (i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
		int n = 0;
		cJSON_ArrayForEach(a, all)
			if (!strcmp(rj_str(a, "state") ? rj_str(a, "state") : "", states[i]))
				n++;
		out(b, "ray_actors{state=\"%s\"} %d\n", states[i], n);
	}
	cJSON_Delete(all);
}

static void cluster(rbuf *b)
{
	int i, alive = 0, dead = 0;

	for (i = 0; i < N->nview; i++)
		N->view[i].alive ? alive++ : dead++;
	head(b, "ray_cluster_nodes", "gauge", "Nodes in this node's view of the cluster, by state.");
	out(b, "ray_cluster_nodes{state=\"ALIVE\"} %d\nray_cluster_nodes{state=\"DEAD\"} %d\n", alive, dead);
	scalar(b, "ray_heartbeats_sent_total", "counter", "Heartbeats this node sent to the head and got answered.", (double)metrics_n.heartbeats_sent);
	scalar(b, "ray_heartbeats_failed_total", "counter", "Heartbeats to the head that got no answer.", (double)metrics_n.heartbeats_failed);
	scalar(b, "ray_heartbeats_received_total", "counter", "Heartbeats the head received from nodes.", (double)metrics_n.heartbeats_received);
}

void metrics_text(rbuf *b)
{
	char id[64];

	esc(id, sizeof(id), N->id);
	head(b, "ray_node_info", "gauge", "This node: its id and whether it is the head.");
	out(b, "ray_node_info{node_id=\"%s\",is_head=\"%d\"} 1\n", id, N->is_head);
	head(b, "ray_node_uptime_seconds", "gauge", "Seconds since this node started.");
	out(b, "ray_node_uptime_seconds %.3f\n", (ray_now_ms() - N->start_ms) / 1000.0);
	resources(b, "ray_resources_capacity", "Resources this node offers.", &N->total);
	resources(b, "ray_resources_available", "Resources free on this node now.", &N->avail);
	{
		res used = N->total;
		res_sub(&used, &N->avail);
		resources(b, "ray_resources_used", "Resources held by tasks, actors and bundles now.", &used);
	}
	tasks(b);
	store(b);
	transfers(b);
	actors(b);
	cluster(b);
}
