/*
 * ops.c: which part of the daemon answers which request.  One table of
 * {op, handler, needs-head}: the server knows nothing of the parts, and a
 * new request is one line here.  A request that only the head can answer
 * is passed to it from any other node.
 */
#include <string.h>

#include "node.h"
#include "actor.h"
#include "actor_call.h"
#include "actor_route.h"
#include "cluster.h"
#include "job.h"
#include "ops.h"
#include "pg.h"
#include "put.h"
#include "remote.h"
#include "sched.h"
#include "server.h"
#include "status.h"
#include "store.h"
#include "stream.h"
#include "store_status.h"
#include "transfer.h"
#include "waiter.h"

typedef void (*op_data_fn)(conn *c, uint32_t id, cJSON *req, const char *data, size_t dlen);
typedef void (*op_fn)(conn *c, uint32_t id, cJSON *req);

typedef struct op_entry {
	const char *name;
	int prefix;             /* name is a prefix: the part tells its ops apart */
	int needs_head;
	op_fn fn;
	op_data_fn data_fn;     /* for ops that carry data */
} op_entry;

static void op_shutdown(conn *c, uint32_t id, cJSON *req)
{
	(void)req;
	conn_reply(c, id, cJSON_CreateObject(), NULL, 0);
	node_shutdown();
}

static const op_entry ops[] = {
	{ "put",          0, 0, NULL,          op_put },
	{ "seal",         0, 0, op_seal,       NULL },
	{ "put_part",     0, 0, NULL,          op_put_part },
	{ "get",          0, 0, op_get,        NULL },
	{ "get_part",     0, 0, op_get_part,   NULL },
	{ "wait",         0, 0, op_wait,       NULL },
	{ "free",         0, 0, op_free,       NULL },
	{ "release",      0, 0, op_release,    NULL },
	{ "job_",         1, 0, op_job,        NULL },
	{ "submit",       0, 0, op_submit,     NULL },
	{ "cancel",       0, 0, op_cancel,     NULL },
	{ "stream_next",  0, 0, op_stream_next, NULL },
	{ "store_ls",     0, 0, op_store_ls,   NULL },
	{ "store_stats",  0, 0, op_store_stats, NULL },
	{ "status",       0, 0, op_status,     NULL },
	{ "pg_",          1, 0, op_pg,         NULL },
	{ "node_",        1, 0, op_cluster,    NULL },
	{ "task_run",     0, 0, op_task_run,   NULL },
	{ "task_done",    0, 0, NULL,          op_task_done },
	{ "obj_",         1, 0, op_transfer,   NULL },
	/* Calls go from the caller's node to the actor's host; the head keeps
	 * the directory (create, kill, get, list, where, report). */
	{ "actor_call",   0, 0, actor_route_call, NULL },
	{ "actor_exec",   0, 0, actor_op_exec, NULL },
	{ "actor_host",   0, 0, actor_op_host, NULL },
	{ "actor_stop",   0, 0, actor_op_stop, NULL },
	{ "actor_",       1, 1, op_actor,      NULL },
	{ "logs",         0, 0, op_logs,       NULL },
	{ "shutdown",     0, 0, op_shutdown,   NULL },
};

/* The length of the longest array anywhere in j, up to RAY_ITEMS_MAX + 1
 * (cJSON bounds the nesting at CJSON_NESTING_LIMIT). */
static int longest_array(const cJSON *j)
{
	const cJSON *it;
	int n = 0, most = 0, sub;

	cJSON_ArrayForEach(it, j) {
		if (cJSON_IsArray(j) && ++n > RAY_ITEMS_MAX)
			return n;
		if ((it->child) && (sub = longest_array(it)) > most && (most = sub) > RAY_ITEMS_MAX)
			return most;
	}
	return n > most ? n : most;
}

void ops_dispatch(conn *c, uint32_t id, cJSON *req, const char *data, size_t dlen)
{
	const char *op = rj_str(req, "op");
	size_t i;

	/* Checked once here, so no handler loops over more than this. */
	if (longest_array(req) > RAY_ITEMS_MAX) {
		conn_reply_err(c, id, RAY_EUSAGE, "request '%.64s' lists over %d items: split it",
		               op, RAY_ITEMS_MAX);
		return;
	}

	for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		const op_entry *e = &ops[i];
		if (e->prefix ? strncmp(op, e->name, strlen(e->name)) : strcmp(op, e->name))
			continue;
		if (e->needs_head && proxy_to_head(c, id, req, NULL))
			return;
		if (e->data_fn)
			e->data_fn(c, id, req, data, dlen);
		else
			e->fn(c, id, req);
		return;
	}
	conn_reply_err(c, id, RAY_EUSAGE, "unknown request '%.64s'", op);
}
