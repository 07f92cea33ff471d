/*
 * remote.c: tasks that cross nodes.  The owner (the node a task was
 * submitted to) forwards it with task_run; the node that runs it tells the
 * owner how it ended with task_done, carrying the tail of its stderr so
 * the log outlives that node.  The owner alone decides retries: when a
 * node dies, its running tasks are queued again, and results whose only
 * copy it held are rebuilt by running their task again (lineage), or
 * become errors when they cannot be.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "node.h"
#include "cluster.h"
#include "launch.h"
#include "peer.h"
#include "pg.h"
#include "proto.h"
#include "remote.h"
#include "res.h"
#include "server.h"
#include "store.h"
#include "task.h"
#include "workdir.h"

#define LOG_SHIP_MAX (1u << 20)
#define SHIP_INLINE_MAX (1u << 20)  /* result bytes in one report */

/* A task_done on its way to the owner: sent again (a few times, each on
 * a fresh connection) when the connection breaks under it, so a broken
 * connection never leaves the owner waiting for a task that ended. */
typedef struct report {
	char owner[RAY_NODEID_LEN + 1];
	cJSON *req;               /* owned */
	rbuf data;                /* owned: the task's stderr tail */
	int tries;
} report;

static int report_again(report *r);

static void on_reported(void *ud, int rc, cJSON *reply, const char *d, size_t dl)
{
	report *r = ud;

	(void)reply;
	(void)d;
	(void)dl;
	if (rc == RAY_EUNREACH && !N->stopping && ++r->tries < 5 && !report_again(r))
		return;
	if (rc == RAY_EUNREACH)
		node_log("could not tell node %s that task %s ended", r->owner, rj_str(r->req, "task_id"));
	cJSON_Delete(r->req);
	rbuf_release(&r->data);
	free(r);
}

static int report_again(report *r)
{
	peer *p = peer_node(r->owner);

	return p ? peer_request(p, r->req, r->data.p, r->data.len, on_reported, r) : -1;
}

/* Sends req (taken) with data (taken) to owner. */
static void report_send(const char *owner, cJSON *req, rbuf *data)
{
	report *r = calloc(1, sizeof(*r));

	if (!r) {
		cJSON_Delete(req);
		rbuf_release(data);
		return;
	}
	snprintf(r->owner, sizeof(r->owner), "%s", owner);
	r->req = req;
	r->data = *data;
	memset(data, 0, sizeof(*data));
	if (report_again(r)) {
		cJSON_Delete(r->req);
		rbuf_release(&r->data);
		free(r);
	}
}

/* The bytes of a small result, so they can ride to the owner with the
 * report: the owner is where the caller usually reads them, and a pull
 * costs a locate, a chunk and a file per object (for 5,000 small actor
 * answers, most of the time of the calls).  Sizes are bounded by
 * RAY_INLINE_MAX, and a result in a file is on tmpfs: a memory copy. */
static int result_bytes(obj *o, rbuf *out)
{
	char path[PATH_MAX + 64];
	ssize_t n;
	int fd;

	if (o->data)
		return rbuf_append(out, o->data, o->size);
	if (!o->in_file)
		return -1;
	obj_path(o, path, sizeof(path));
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	n = rbuf_reserve(out, o->size) ? -1 : ray_read_full(fd, out->p + out->len, o->size);
	close(fd);
	if (n != (ssize_t)o->size)
		return -1;
	out->len += o->size;
	return 0;
}

/* Appends the task's stderr tail to out; its length goes in log_len. */
static void log_tail(task *t, cJSON *req, rbuf *out)
{
	char path[PATH_MAX + 64];
	ssize_t n = 0;
	int fd;

	log_path(t, path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		off_t end = lseek(fd, 0, SEEK_END), start = end > (off_t)LOG_SHIP_MAX ? end - (off_t)LOG_SHIP_MAX : 0;
		if (end > 0 && !rbuf_reserve(out, (size_t)(end - start))) {
			n = pread(fd, out->p + out->len, (size_t)(end - start), start);
			out->len += n > 0 ? (size_t)n : 0;
		}
		close(fd);
	}
	cJSON_AddNumberToObject(req, "log_len", (double)out->len);
}

/* Tells the owner how a task it forwarded here ended.  The frame's data is
 * the stderr tail (log_len bytes), then the bytes of each result marked
 * "inline", in order. */
static void report_done(task *t)
{
	cJSON *req, *a;
	rbuf data = { 0 };
	size_t shipped = 0;
	int i;

	if (!peer_node(t->owner))
		return;
	req = cJSON_CreateObject();
	cJSON_AddStringToObject(req, "op", "task_done");
	cJSON_AddStringToObject(req, "task_id", t->id);
	cJSON_AddStringToObject(req, "node_id", N->id);
	cJSON_AddNumberToObject(req, "state", t->state);
	cJSON_AddNumberToObject(req, "attempt", t->attempt);
	cJSON_AddNumberToObject(req, "exit_code", t->exit_code);
	cJSON_AddNumberToObject(req, "signal", t->term_signal);
	/* The stderr travels to the owner, so logs outlive this node. */
	log_tail(t, req, &data);
	a = cJSON_AddArrayToObject(req, "results");
	for (i = 0; i < t->num_returns; i++) {
		obj *o = t->rets[i];
		cJSON *r = cJSON_CreateObject();
		if (o && o->state == OBJ_READY) {
			cJSON_AddNumberToObject(r, "size", (double)o->size);
			if (o->size <= RAY_INLINE_MAX && shipped + o->size <= SHIP_INLINE_MAX &&
			    !result_bytes(o, &data)) {
				shipped += o->size;
				cJSON_AddTrueToObject(r, "inline");
			}
		} else {
			cJSON_AddNumberToObject(r, "code", o ? o->err_code : RAY_ELOST);
			cJSON_AddStringToObject(r, "msg", o && o->err_msg ? o->err_msg : "lost");
		}
		cJSON_AddItemToArray(a, r);
	}
	report_send(t->owner, req, &data);
}

void remote_task_ended(task *t)
{
	if (t->owner[0])
		report_done(t);
}

void op_task_run(conn *c, uint32_t id, cJSON *req)
{
	const char *owner = rj_str(req, "owner");
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(req, "task"), *it;
	const char *tid = rj_str(j, "id"), *job = rj_str(j, "job"), *sin = rj_str(j, "stdin");
	const char *wd = rj_str(j, "working_dir");
	ray_err err = { 0, "" };
	char ref[RAY_REF_MAX + 1];
	task *t;
	int i, n;

	if (!owner || strlen(owner) != RAY_NODEID_LEN || !tid || strlen(tid) != 2 * RAY_NODEID_LEN ||
	    !ray_ref_valid(tid) || !cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(j, "argv"))) {
		conn_reply_err(c, id, RAY_EUSAGE, "bad task");
		return;
	}
	if (task_find(tid)) {
		conn_reply(c, id, cJSON_CreateObject(), NULL, 0);
		return;
	}
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(j, "argv"))
		if (!cJSON_IsString(it) || (!rj_bool(j, "shell") && task_arg_check(it->valuestring, &err))) {
			conn_reply_err(c, id, err.code ? err.code : RAY_EUSAGE, "%s", err.msg[0] ? err.msg : "bad argv");
			return;
		}
	if (sin && !store_lookup(sin)) {
		conn_reply_err(c, id, RAY_ENOTFOUND, "unknown ref '%.80s'", sin);
		return;
	}
	if (wd && workdir_check(wd, &err)) {
		conn_reply_err(c, id, err.code, "%s", err.msg);
		return;
	}
	n = (int)rj_int(j, "num_returns", 1);
	if (n < 1 || n > MAX_RETURNS) {
		conn_reply_err(c, id, RAY_EUSAGE, "bad num_returns");
		return;
	}
	t = calloc(1, sizeof(*t));
	if (!t) {
		conn_reply_err(c, id, RAY_ERESOURCE, "out of memory");
		return;
	}
	snprintf(t->id, sizeof(t->id), "%s", tid);
	snprintf(t->owner, sizeof(t->owner), "%s", owner);
	t->bundle = -1;
	if (rj_str(j, "pg") && strlen(rj_str(j, "pg")) <= RAY_ID_MAX) {
		snprintf(t->pg, sizeof(t->pg), "%s", rj_str(j, "pg"));
		t->bundle = (int)rj_int(j, "bundle", -1);
	}
	snprintf(t->job, sizeof(t->job), "%s", job && strlen(job) <= RAY_ID_MAX ? job : "00000000");
	t->name = rj_str(j, "name") ? strdup(rj_str(j, "name")) : NULL;
	t->shell = rj_bool(j, "shell");
	t->workdir = wd ? strdup(wd) : NULL;
	t->argv = json_strv(cJSON_GetObjectItemCaseSensitive(j, "argv"), 0, NULL);
	t->env = json_strv(cJSON_GetObjectItemCaseSensitive(j, "env"), 1, NULL);
	res_from_json_raw(&t->req, cJSON_GetObjectItemCaseSensitive(j, "req"));
	t->num_returns = n;
	t->max_retries = (int)rj_int(j, "max_retries", 0);
	t->attempt = (int)rj_int(j, "attempt", 0);
	t->retry_exceptions = rj_bool(j, "retry_exceptions");
	n = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "retry_codes"));
	if (n > 0 && n <= 256 && (t->retry_codes = calloc((size_t)n, sizeof(int)))) {
		cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(j, "retry_codes"))
			t->retry_codes[t->nretry_codes++] = cJSON_IsNumber(it) ? (int)it->valuedouble : -1;
	}
	t->rets = calloc((size_t)t->num_returns, sizeof(obj *));
	if (rj_str(j, "worker")) {
		t->worker = strdup(rj_str(j, "worker"));
		t->wproto = (int)rj_int(j, "protocol", P_LINE);
		if (t->wproto < P_LINE || t->wproto > P_FRAME)
			t->wproto = P_LINE;
	}
	if (!t->argv || !t->argv[0] || !t->rets || (t->shell && (!t->argv[1] || !t->argv[2])) ||
	    (rj_str(j, "worker") && (!t->worker || t->shell))) {
		task_release(t);
		conn_reply_err(c, id, RAY_EUSAGE, "bad task");
		return;
	}
	task_register(t);
	for (i = 0; i < t->num_returns; i++) {
		obj *o;
		snprintf(ref, sizeof(ref), "%s%08x", t->id, (unsigned)(i + 1));
		o = task_foreign_return(ref);
		t->rets[i] = o;
		if (o)
			o->producer = t;
	}
	if (t->shell) {
		char refs[64][RAY_REF_MAX + 1];
		int k = line_refs(t->argv[2], refs, 64);
		for (i = 0; i < k; i++) {
			obj *o = store_lookup(refs[i]);
			if (o)
				task_add_dep(t, o);
		}
	} else {
		for (i = 0; t->argv[i]; i++)
			if (is_ref_arg(t->argv[i]))
				task_add_dep(t, store_find(t->argv[i] + 1));
	}
	if (sin) {
		t->stdin_obj = store_find(sin);
		task_add_dep(t, t->stdin_obj);
	}
	if (t->workdir && ray_ref_valid(t->workdir))
		task_add_dep(t, store_find(t->workdir));
	conn_reply(c, id, cJSON_CreateObject(), NULL, 0);
	if (task_queue_if_ready(t))
		node_kick();
}

void op_task_done(conn *c, uint32_t id, cJSON *req, const char *data, size_t dlen)
{
	task *t = task_find(rj_str(req, "task_id"));
	const char *from = rj_str(req, "node_id");
	const cJSON *results = cJSON_GetObjectItemCaseSensitive(req, "results"), *it;
	int state = (int)rj_int(req, "state", T_FAILED), i = 0;
	int64_t loglen;
	size_t off;
	rnode *r;

	conn_reply(c, id, cJSON_CreateObject(), NULL, 0);
	if (!t || t->owner[0] || t->state >= T_FINISHED || !from || strcmp(from, t->exec_node) ||
	    cJSON_GetArraySize(results) != t->num_returns)
		return;
	loglen = rj_int(req, "log_len", (int64_t)dlen);
	if (loglen < 0 || (uint64_t)loglen > dlen)
		loglen = (int64_t)dlen;
	if (loglen) {
		char path[PATH_MAX + 64];
		int fd;
		log_path(t, path, sizeof(path));
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd >= 0) {
			if (write(fd, data, (size_t)loglen) < 0)
				node_log("cannot keep the log of %s", t->id);
			close(fd);
		}
	}
	off = (size_t)loglen;
	t->attempt = (int)rj_int(req, "attempt", t->attempt);
	t->exit_code = (int)rj_int(req, "exit_code", 0);
	t->term_signal = (int)rj_int(req, "signal", 0);
	/* Its resources are free there now: do not wait for a heartbeat to
	 * send that node more work. */
	if ((r = view_find(from)) && r->alive && !t->pg[0]) {
		res_add(&r->avail, &t->req);
		res_clamp(&r->avail, &r->total);
	}
	if (state == T_FINISHED) {
		cJSON_ArrayForEach(it, results) {
			obj *o = t->rets[i++];
			int64_t size = rj_int(it, "size", -1);
			if (!o || o->state != OBJ_PENDING)
				continue;
			if (size < 0) {
				store_fail(o, RAY_ELOST, "lost");
				continue;
			}
			/* Bytes that came along are taken only when they are all
			 * there; else the object is pulled as any other. */
			if (rj_bool(it, "inline") && (uint64_t)size <= RAY_INLINE_MAX &&
			    (uint64_t)size <= dlen - off) {
				off += (size_t)size;
				if (!store_fill(o, data + off - size, (size_t)size))
					continue;
			}
			o->size = (uint64_t)size;
			o->remote = 1;
			snprintf(o->loc, sizeof(o->loc), "%s", from);
			store_ready(o);
		}
		t->state = T_FINISHED;
		t->end_ms = ray_now_ms();
		N->nfinished++;
		task_unpin_deps(t);
	} else {
		const cJSON *first = cJSON_GetArrayItem(results, 0);
		int code = (int)rj_int(first, "code", RAY_EFAILED);
		if (code >= 0 || code < RAY_ENOTFOUND)
			code = RAY_EFAILED;
		task_finish_error(t, state == T_CANCELLED ? T_CANCELLED : T_FAILED, code,
		                  rj_str(first, "msg") ? rj_str(first, "msg") : "task failed");
	}
	node_kick();
}

/* Re-runs a finished task to rebuild its lost results (lineage). */
static void task_rebuild(task *t)
{
	int i;

	t->attempt++;
	t->exec_node[0] = '\0';
	t->state = T_PENDING_NODE;
	for (i = 0; i < t->num_returns; i++) {
		obj *o = t->rets[i];
		if (o && o->state == OBJ_READY && o->remote) {
			o->state = OBJ_PENDING;
			o->remote = 0;
		}
	}
	if (t->shell) {
		char refs[64][RAY_REF_MAX + 1];
		int k = line_refs(t->argv[2], refs, 64);
		for (i = 0; i < k; i++)
			if (store_find(refs[i]))
				task_add_dep(t, store_find(refs[i]));
	} else {
		for (i = 0; t->argv[i]; i++)
			if (is_ref_arg(t->argv[i]) && store_find(t->argv[i] + 1))
				task_add_dep(t, store_find(t->argv[i] + 1));
	}
	if (t->stdin_obj)
		task_add_dep(t, t->stdin_obj);
	if (t->workdir && ray_ref_valid(t->workdir) && store_find(t->workdir))
		task_add_dep(t, store_find(t->workdir));
	if (t->deps_missing)
		t->state = T_PENDING_ARGS;
	else
		queue_push(t);
}

void remote_node_died(const char *id)
{
	char desc[256], msg[600];
	task *t;
	obj *o, *next;

	for (t = N->thead; t; t = t->next) {
		if (t->owner[0] || strcmp(t->exec_node, id) || t->state >= T_FINISHED || t->state < T_SUBMITTED)
			continue;
		t->exec_node[0] = '\0';
		if (t->attempt < t->max_retries) {
			t->attempt++;
			queue_push(t);
		} else {
			task_desc(t, desc, sizeof(desc));
			snprintf(msg, sizeof(msg), "%s failed: node %s died while running it, after %d attempt%s",
			         desc, id, t->attempt + 1, t->attempt ? "s" : "");
			task_finish_error(t, T_FAILED, RAY_ECRASH, msg);
		}
	}
	for (o = N->ohead; o; o = next) {
		next = o->next;
		if (o->foreign || o->state != OBJ_READY || !o->remote || strcmp(o->loc, id))
			continue;
		t = o->producer;
		if (t && t->state == T_FINISHED && !t->act && t->attempt < t->max_retries &&
		    (t->pin_soft || strcmp(t->pin, id))) {
			node_log("rebuilding %s: its only copy was on dead node %s", o->ref, id);
			task_rebuild(t);
			continue;
		}
		if (o->state == OBJ_PENDING)
			continue;   /* a rebuild above already reset it */
		snprintf(msg, sizeof(msg),
		         "object %s is lost: its only copy was on node %s, which died, and it cannot be rebuilt%s",
		         o->ref, id, !t ? " (it was put, not computed)" : t->attempt >= t->max_retries ?
		         " (retries exhausted)" : " (its task is pinned to that node)");
		o->state = OBJ_PENDING;
		o->remote = 0;
		store_fail(o, RAY_ELOST, msg);
	}
	node_kick();
}
