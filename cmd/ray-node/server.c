/*
 * server.c: the daemon's sockets.  Every connection, Unix or TCP, first
 * gets the magic and a nonce; until the peer's MAC over both nonces checks
 * out, nothing it sends is parsed and it may send at most the 64 bytes of
 * the handshake.  After that it sends frames (see docs/protocol.md).  Each
 * connection handles one request at a time: a request that must wait (get,
 * wait) pauses reading, so replies always come in request order.  Any frame
 * over the limits, or JSON that does not parse, drops that connection only.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "node.h"

#define AUTH_TIMEOUT_MS 5000
#define WRITE_QUEUE_MAX (1024u << 20)
#define MAX_CONNS 4096   /* clients, peers and tasks' own clients together */

typedef struct wreq {
	uv_write_t w;
	char *buf;
} wreq;

static void process(conn *c);
static int nconns;

void conn_ref(conn *c)
{
	c->refs++;
}

static void conn_release(conn *c)
{
	if (c->put_fd >= 0)
		close(c->put_fd);
	if (c->put_path) {
		unlink(c->put_path);
		free(c->put_path);
	}
	rbuf_release(&c->in);
	free(c);
	nconns--;
}

void conn_unref(conn *c)
{
	if (--c->refs == 0 && c->closing == 2)
		conn_release(c);
}

static void on_closed(uv_handle_t *h)
{
	conn *c = h->data;

	c->closing = 2;
	if (c->refs > 0)
		return;
	conn_release(c);
}

static void on_timer_closed(uv_handle_t *h)
{
	conn *c = h->data;

	uv_close(&c->u.h, on_closed);
}

static void conn_close(conn *c)
{
	waiter *w;

	if (c->closing)
		return;
	c->closing = 1;
	for (w = c->waiters; w; w = w->cnext) {
		w->c = NULL;
		if (w->lender[0]) {
			task_unlend(w->lender);
			w->lender[0] = '\0';
		}
	}
	c->waiters = NULL;
	store_conn_closed(c);
	job_conn_closed(c);
	if (c->resume_queued) {
		if (c->rprev)
			c->rprev->rnext = c->rnext;
		else
			N->rhead = c->rnext;
		if (c->rnext)
			c->rnext->rprev = c->rprev;
		c->resume_queued = 0;
	}
	if (c->prev)
		c->prev->next = c->next;
	else
		N->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	uv_timer_stop(&c->auth_timer);
	uv_close((uv_handle_t *)&c->auth_timer, on_timer_closed);
}

static void on_write(uv_write_t *w, int status)
{
	wreq *r = (wreq *)w;

	(void)status;
	free(r->buf);
	free(r);
}

static void conn_write(conn *c, char *buf, size_t len)
{
	wreq *r;
	uv_buf_t b;

	if (c->closing) {
		free(buf);
		return;
	}
	if (uv_stream_get_write_queue_size(&c->u.s) > WRITE_QUEUE_MAX) {
		node_log("dropping a client that does not read its replies");
		free(buf);
		conn_close(c);
		return;
	}
	r = malloc(sizeof(*r));
	if (!r) {
		free(buf);
		conn_close(c);
		return;
	}
	r->buf = buf;
	b = uv_buf_init(buf, (unsigned)len);
	if (uv_write(&r->w, &c->u.s, &b, 1, on_write)) {
		free(buf);
		free(r);
		conn_close(c);
	}
}

void conn_reply(conn *c, uint32_t req_id, cJSON *reply, const void *data, size_t dlen)
{
	char *js, *buf;
	size_t jl;
	ray_hdr h;

	if (!c || c->closing) {
		cJSON_Delete(reply);
		return;
	}
	if (!cJSON_GetObjectItemCaseSensitive(reply, "ok"))
		cJSON_AddBoolToObject(reply, "ok", 1);
	js = cJSON_PrintUnformatted(reply);
	cJSON_Delete(reply);
	if (!js) {
		conn_close(c);
		return;
	}
	jl = strlen(js);
	buf = malloc(RAY_HDR_LEN + jl + dlen);
	if (!buf || jl > RAY_JSON_MAX || dlen > RAY_DATA_MAX) {
		free(js);
		free(buf);
		conn_close(c);
		return;
	}
	h.json_len = (uint32_t)jl;
	h.data_len = (uint32_t)dlen;
	h.req_id = req_id;
	h.flags = 0;
	ray_hdr_pack((unsigned char *)buf, &h);
	memcpy(buf + RAY_HDR_LEN, js, jl);
	if (dlen)
		memcpy(buf + RAY_HDR_LEN + jl, data, dlen);
	free(js);
	conn_write(c, buf, RAY_HDR_LEN + jl + dlen);
}

void conn_reply_err(conn *c, uint32_t req_id, int code, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;
	cJSON *r = cJSON_CreateObject();

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cJSON_AddBoolToObject(r, "ok", 0);
	cJSON_AddNumberToObject(r, "code", code);
	cJSON_AddStringToObject(r, "msg", msg);
	conn_reply(c, req_id, r, NULL, 0);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	conn *c = h->data;

	(void)hint;
	if (rbuf_reserve(&c->in, 65536)) {
		*b = uv_buf_init(NULL, 0);
		return;
	}
	*b = uv_buf_init(c->in.p + c->in.len, (unsigned)(c->in.cap - c->in.len));
}

static void send_hello(conn *c)
{
	unsigned char mac[RAY_MAC_LEN];
	unsigned char nc[RAY_NONCE_LEN];
	cJSON *h = cJSON_CreateObject();
	struct stat st;
	char *buf = malloc(RAY_MAC_LEN);

	memcpy(nc, c->in.p, RAY_NONCE_LEN);
	ray_auth_mac(mac, N->key, 'S', c->ns, nc);
	if (!buf) {
		cJSON_Delete(h);
		conn_close(c);
		return;
	}
	memcpy(buf, mac, RAY_MAC_LEN);
	conn_write(c, buf, RAY_MAC_LEN);
	cJSON_AddStringToObject(h, "node_id", N->id);
	cJSON_AddStringToObject(h, "store", N->store);
	if (stat(N->store, &st) == 0) {
		cJSON_AddNumberToObject(h, "store_ino", (double)st.st_ino);
		cJSON_AddNumberToObject(h, "store_dev", (double)st.st_dev);
	}
	cJSON_AddStringToObject(h, "version", RAY_VERSION);
	conn_reply(c, 0, h, NULL, 0);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
	conn *c = s->data;

	(void)b;
	if (nread < 0) {
		conn_close(c);
		return;
	}
	c->in.len += (size_t)nread;
	if (!c->authed) {
		const size_t need = RAY_NONCE_LEN + RAY_MAC_LEN;
		if (c->in.len < need)
			return;
		if (ray_auth_verify((unsigned char *)c->in.p + RAY_NONCE_LEN, N->key, 'C',
		                    c->ns, (unsigned char *)c->in.p)) {
			node_log("refused a peer that failed authentication");
			conn_close(c);
			return;
		}
		c->authed = 1;
		uv_timer_stop(&c->auth_timer);
		send_hello(c);
		rbuf_consume(&c->in, need);
	}
	process(c);
}

/* Handles the complete frames buffered on c, one at a time. */
static void process(conn *c)
{
	while (!c->closing && !c->busy && c->in.len >= RAY_HDR_LEN) {
		ray_hdr h;
		cJSON *req;
		size_t total;

		ray_hdr_unpack(&h, (unsigned char *)c->in.p);
		if (ray_hdr_check(&h, RAY_JSON_MAX, RAY_DATA_MAX)) {
			node_log("dropping a client: frame over the limits");
			conn_close(c);
			return;
		}
		total = RAY_HDR_LEN + (size_t)h.json_len + h.data_len;
		if (c->in.len < total) {
			if (rbuf_reserve(&c->in, total - c->in.len)) {
				conn_close(c);
			}
			return;
		}
		req = cJSON_ParseWithLength(c->in.p + RAY_HDR_LEN, h.json_len);
		if (!req || !cJSON_IsObject(req) || !rj_str(req, "op")) {
			node_log("dropping a client: malformed request");
			cJSON_Delete(req);
			conn_close(c);
			return;
		}
		dispatch(c, h.req_id, req, c->in.p + RAY_HDR_LEN + h.json_len, h.data_len);
		cJSON_Delete(req);
		if (c->closing)
			return;
		rbuf_consume(&c->in, total);
	}
	if (!c->closing) {
		if (c->busy)
			uv_read_stop(&c->u.s);
		else
			uv_read_start(&c->u.s, on_alloc, on_read);
	}
}

static void on_resume_idle(uv_idle_t *h)
{
	(void)h;
	while (N->rhead) {
		conn *c = N->rhead;
		N->rhead = c->rnext;
		if (N->rhead)
			N->rhead->rprev = NULL;
		c->resume_queued = 0;
		c->busy = 0;
		process(c);
	}
	uv_idle_stop(&N->resume_idle);
}

/* Resumes reading c on the next loop turn, never from inside a callback
 * that may be walking object or waiter lists. */
void conn_resume(conn *c)
{
	if (!c || c->closing || c->resume_queued)
		return;
	c->resume_queued = 1;
	c->rprev = NULL;
	c->rnext = N->rhead;
	if (N->rhead)
		N->rhead->rprev = c;
	N->rhead = c;
	uv_idle_start(&N->resume_idle, on_resume_idle);
}

static void on_auth_timeout(uv_timer_t *t)
{
	conn *c = t->data;

	node_log("dropping a peer that did not authenticate in time");
	conn_close(c);
}

static void on_connection(uv_stream_t *srv, int status)
{
	conn *c;
	char *buf;
	int rc;

	if (status < 0 || N->stopping)
		return;
	if (nconns >= MAX_CONNS) {
		/* Accept and drop at once, so the backlog does not fill up. */
		union { uv_tcp_t tcp; uv_pipe_t pipe; } *t = malloc(sizeof(*t));
		int bad = !t || (srv == (uv_stream_t *)&N->usrv ? uv_pipe_init(N->loop, &t->pipe, 0)
		                                                : uv_tcp_init(N->loop, &t->tcp));
		if (bad) {
			free(t);
			return;
		}
		uv_accept(srv, (uv_stream_t *)t);
		uv_close((uv_handle_t *)t, (uv_close_cb)free);
		node_log("refusing a connection: %d open already", MAX_CONNS);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return;
	c->put_fd = -1;
	if (srv == (uv_stream_t *)&N->usrv)
		rc = uv_pipe_init(N->loop, &c->u.pipe, 0);
	else
		rc = uv_tcp_init(N->loop, &c->u.tcp);
	if (rc) {
		free(c);
		return;
	}
	c->u.h.data = c;
	uv_timer_init(N->loop, &c->auth_timer);
	c->auth_timer.data = c;
	c->next = N->conns;
	if (N->conns)
		N->conns->prev = c;
	N->conns = c;
	nconns++;
	if (uv_accept(srv, &c->u.s)) {
		conn_close(c);
		return;
	}
	if (srv != (uv_stream_t *)&N->usrv)
		uv_tcp_nodelay(&c->u.tcp, 1);
	randombytes_buf(c->ns, sizeof(c->ns));
	buf = malloc(RAY_MAGIC_LEN + RAY_NONCE_LEN);
	if (!buf) {
		conn_close(c);
		return;
	}
	memcpy(buf, RAY_MAGIC, RAY_MAGIC_LEN);
	memcpy(buf + RAY_MAGIC_LEN, c->ns, RAY_NONCE_LEN);
	conn_write(c, buf, RAY_MAGIC_LEN + RAY_NONCE_LEN);
	uv_timer_start(&c->auth_timer, on_auth_timeout, AUTH_TIMEOUT_MS, 0);
	uv_read_start(&c->u.s, on_alloc, on_read);
}

int server_start(node *n, ray_err *err)
{
	char path[PATH_MAX + 16];
	struct sockaddr_storage ss;
	struct sockaddr *sa = (struct sockaddr *)&ss;
	int len = sizeof(ss), rc;

	uv_idle_init(n->loop, &n->resume_idle);
	snprintf(path, sizeof(path), "%s/node.sock", n->session);
	uv_pipe_init(n->loop, &n->usrv, 0);
	unlink(path);
	if ((rc = uv_pipe_bind(&n->usrv, path)) || (rc = uv_listen((uv_stream_t *)&n->usrv, 512, on_connection)))
		return ray_seterr(err, RAY_EUSAGE, "cannot listen on '%s': %s", path, uv_strerror(rc));
	chmod(path, 0600);
	uv_tcp_init(n->loop, &n->tsrv);
	if (strchr(n->host, ':'))
		rc = uv_ip6_addr(n->host, n->port, (struct sockaddr_in6 *)&ss);
	else
		rc = uv_ip4_addr(n->host, n->port, (struct sockaddr_in *)&ss);
	if (rc)
		return ray_seterr(err, RAY_EUSAGE, "bad --host '%s': want an IP address", n->host);
	if ((rc = uv_tcp_bind(&n->tsrv, sa, 0)) || (rc = uv_listen((uv_stream_t *)&n->tsrv, 512, on_connection)))
		return ray_seterr(err, RAY_EUSAGE, "cannot listen on %s:%d: %s", n->host, n->port, uv_strerror(rc));
	if (uv_tcp_getsockname(&n->tsrv, sa, &len) == 0) {
		if (sa->sa_family == AF_INET)
			n->port = ntohs(((struct sockaddr_in *)sa)->sin_port);
		else
			n->port = ntohs(((struct sockaddr_in6 *)sa)->sin6_port);
	}
	return 0;
}

void server_stop(node *n)
{
	while (n->conns)
		conn_close(n->conns);
	if (!uv_is_closing((uv_handle_t *)&n->resume_idle))
		uv_close((uv_handle_t *)&n->resume_idle, NULL);
	if (!uv_is_closing((uv_handle_t *)&n->usrv))
		uv_close((uv_handle_t *)&n->usrv, NULL);
	if (!uv_is_closing((uv_handle_t *)&n->tsrv))
		uv_close((uv_handle_t *)&n->tsrv, NULL);
}

void dispatch(conn *c, uint32_t id, cJSON *req, const char *data, size_t dlen)
{
	const char *op = rj_str(req, "op");

	if (!strcmp(op, "put"))
		op_put(c, id, req, data, dlen);
	else if (!strcmp(op, "seal"))
		op_seal(c, id, req);
	else if (!strcmp(op, "put_part"))
		op_put_part(c, id, req, data, dlen);
	else if (!strcmp(op, "get"))
		op_get(c, id, req);
	else if (!strcmp(op, "get_part"))
		op_get_part(c, id, req);
	else if (!strcmp(op, "wait"))
		op_wait(c, id, req);
	else if (!strcmp(op, "free"))
		op_free(c, id, req);
	else if (!strcmp(op, "release"))
		op_release(c, id, req);
	else if (!strncmp(op, "job_", 4))
		op_job(c, id, req);
	else if (!strcmp(op, "submit"))
		op_submit(c, id, req);
	else if (!strcmp(op, "cancel"))
		op_cancel(c, id, req);
	else if (!strcmp(op, "store_ls"))
		op_store_ls(c, id, req);
	else if (!strcmp(op, "store_stats"))
		op_store_stats(c, id, req);
	else if (!strcmp(op, "status"))
		op_status(c, id, req);
	else if (!strncmp(op, "pg_", 3))
		op_pg(c, id, req);
	else if (!strncmp(op, "node_", 5))
		op_cluster(c, id, req);
	else if (!strcmp(op, "task_run"))
		op_task_run(c, id, req);
	else if (!strcmp(op, "task_done"))
		op_task_done(c, id, req, data, dlen);
	else if (!strncmp(op, "obj_", 4))
		op_transfer(c, id, req);
	else if (!strncmp(op, "actor_", 6))
		op_actor(c, id, req);
	else if (!strcmp(op, "logs"))
		op_logs(c, id, req);
	else if (!strcmp(op, "shutdown")) {
		conn_reply(c, id, cJSON_CreateObject(), NULL, 0);
		node_shutdown();
	} else
		conn_reply_err(c, id, RAY_EUSAGE, "unknown request '%.64s'", op);
}
