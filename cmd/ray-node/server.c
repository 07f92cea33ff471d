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
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "dlist.h"
#include "node.h"
#include "server.h"
#include "uvwrite.h"

#define AUTH_TIMEOUT_MS 2000 /* a peer has this long to prove it holds the token */
#define WRITE_QUEUE_MAX (1024u << 20)
#define MAX_CONNS 4096   /* clients, peers and tasks' own clients together */
/* TCP connections still in the handshake have their own small quota, so
 * a flood without the token never locks out the Unix socket, clients that
 * authenticated, or peers and clients from other addresses (as sshd's
 * MaxStartups and PerSourceMaxStartups). */
#define UNAUTH_MAX 512
#define UNAUTH_PER_SRC 64
/* Refusals are logged at most LOG_BURST lines per LOG_WINDOW_MS; the rest
 * are counted, and the count is logged with the next line let through. */
#define LOG_BURST 5
#define LOG_WINDOW_MS 10000

static void process(conn *c);
static int nconns;
static int nunauth;     /* TCP connections not yet authenticated */

/* node_log for what a peer without the token can make happen. */
static void log_refusal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void log_refusal(const char *fmt, ...)
{
	static uint64_t window;
	static int lines, suppressed;
	uint64_t now = uv_now(N->loop);
	char msg[512];
	va_list ap;

	if (!window || now - window >= LOG_WINDOW_MS) {
		window = now;
		lines = 0;
	}
	if (lines >= LOG_BURST) {
		suppressed++;
		return;
	}
	lines++;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (suppressed)
		node_log("%s (%d similar lines suppressed)", msg, suppressed);
	else
		node_log("%s", msg);
	suppressed = 0;
}

/* The handshake quota: c no longer counts against it. */
static void unauth_done(conn *c)
{
	if (c->unauth) {
		c->unauth = 0;
		nunauth--;
	}
}
static request_fn on_request;

void server_on_request(request_fn fn)
{
	on_request = fn;
}

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
	rbuf_release(&c->raw);
	ray_sec_wipe(&c->sec);
	free(c);
	nconns--;
}

void conn_unref(conn *c)
{
	if (--c->refs == 0 && c->closing == 2)
		conn_release(c);
}

/* The stream and the timer close side by side; the second to finish
 * frees c (unless a deferred reply still holds it).  Both are closing
 * from the start, so a stop that closes every open handle
 * (node_close_handles) passes them by. */
static void on_closed(uv_handle_t *h)
{
	conn *c = h->data;

	if (--c->handles_open > 0)
		return;
	c->closing = 2;
	if (c->refs > 0)
		return;
	conn_release(c);
}

/* The modules' hooks for a connection that went away, run in the order
 * they were registered, on the loop turn after the close: a close can
 * happen inside any handler that was replying, and a module must never be
 * re-entered from there (as redis's freeClientAsync defers freeClient). */
#define MAX_CLOSE_HOOKS 8
static conn_hook close_hooks[MAX_CLOSE_HOOKS];
static int nclose_hooks;
static conn *closed_head;       /* closed, their hooks not run yet */
static uv_idle_t closed_idle;

void server_on_close(conn_hook fn)
{
	if (nclose_hooks < MAX_CLOSE_HOOKS)
		close_hooks[nclose_hooks++] = fn;
}

static void run_close_hooks(void)
{
	while (closed_head) {
		conn *c = closed_head;
		int i;

		closed_head = c->next;
		for (i = 0; i < nclose_hooks; i++)
			close_hooks[i](c);
		c->handles_open = 2;
		uv_close((uv_handle_t *)&c->auth_timer, on_closed);
		uv_close(&c->u.h, on_closed);
	}
}

static void on_closed_idle(uv_idle_t *h)
{
	uv_idle_stop(h);
	run_close_hooks();
}

static void conn_close(conn *c)
{
	if (c->closing)
		return;
	c->closing = 1;
	uv_read_stop(&c->u.s);
	if (c->resume_queued) {
		DL_REMOVE_H(N->rhead, c, rprev, rnext);
		c->resume_queued = 0;
	}
	DL_REMOVE_H(N->conns, c, prev, next);
	uv_timer_stop(&c->auth_timer);
	unauth_done(c);
	c->prev = NULL;
	c->next = closed_head;
	closed_head = c;
	uv_idle_start(&closed_idle, on_closed_idle);
}

/* Queues bytes (owned) and data (not), sealed when the link is encrypted. */
static void conn_write2(conn *c, char *buf, size_t len, const void *data, size_t dlen)
{
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
	if (uvw_write(&c->u.s, buf, len, data, dlen, &c->sec, NULL))
		conn_close(c);
}

static void conn_write(conn *c, char *buf, size_t len)
{
	conn_write2(c, buf, len, NULL, 0);
}

void conn_reply(conn *c, uint32_t req_id, cJSON *reply, const void *data, size_t dlen)
{
	char *buf;
	size_t len;

	if (!c || c->closing) {
		cJSON_Delete(reply);
		return;
	}
	if (!cJSON_GetObjectItemCaseSensitive(reply, "ok"))
		cJSON_AddBoolToObject(reply, "ok", 1);
	/* The frame's head; its data follows from where it lies. */
	buf = ray_frame_pack(req_id, reply, NULL, dlen, &len);
	cJSON_Delete(reply);
	if (!buf) {
		conn_close(c);
		return;
	}
	conn_write2(c, buf, len, data, dlen);
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
	rbuf *in = c->sec.on ? &c->raw : &c->in;

	(void)hint;
	if (rbuf_reserve(in, 65536)) {
		*b = uv_buf_init(NULL, 0);
		return;
	}
	*b = uv_buf_init(in->p + in->len, (unsigned)(in->cap - in->len));
}

/* Sends what the handshake has to say (its greeting, or its MAC). */
static void send_hs(conn *c)
{
	char *buf;

	if (!c->hs.outlen)
		return;
	buf = malloc(c->hs.outlen);
	if (!buf) {
		conn_close(c);
		return;
	}
	memcpy(buf, c->hs.out, c->hs.outlen);
	conn_write(c, buf, c->hs.outlen);
	c->hs.outlen = 0;
}

static void send_hello(conn *c)
{
	cJSON *h = cJSON_CreateObject();
	struct stat st;

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
	size_t used;
	int st;

	(void)b;
	if (nread < 0) {
		conn_close(c);
		return;
	}
	if (c->sec.on) {
		c->raw.len += (size_t)nread;
		if (ray_sec_open(&c->sec, &c->raw, &c->in)) {
			node_log("dropping a peer whose records do not open (altered or replayed)");
			conn_close(c);
			return;
		}
	} else {
		c->in.len += (size_t)nread;
	}
	if (!c->authed) {
		/* The client may say nothing more than its half of the
		 * handshake before the MAC checks out. */
		st = ray_hs_feed(&c->hs, c->in.p, c->in.len, &used);
		if (st == RAY_HS_MORE)
			return;
		if (st != RAY_HS_DONE) {
			log_refusal(st == RAY_HS_BADMODE ? "refused a peer%s%s that asked for a plain transport"
			                                 : "refused a peer%s%s that failed authentication",
			            *c->src ? " from " : "", c->src);
			conn_close(c);
			return;
		}
		c->authed = 1;
		unauth_done(c);
		uv_timer_stop(&c->auth_timer);
		send_hs(c);
		rbuf_consume(&c->in, used);
		if (ray_hs_session(&c->hs, &c->sec)) {
			conn_close(c);
			return;
		}
		/* From here on both ways are records (none came yet: a client
		 * waits for our MAC, but a peer that did not is not trusted). */
		if (c->sec.on && c->in.len) {
			node_log("dropping a peer that sent data before the handshake ended");
			conn_close(c);
			return;
		}
		send_hello(c);
	}
	process(c);
}

/* Handles the complete frames buffered on c, one at a time. */
static void process(conn *c)
{
	while (!c->closing && !c->busy && c->in.len >= RAY_HDR_LEN) {
		ray_frame f;
		int rc = ray_frame_parse(c->in.p, c->in.len, &f);

		if (rc == 0) {
			if (rbuf_reserve(&c->in, f.total - c->in.len))
				conn_close(c);
			return;
		}
		if (rc < 0 || !rj_str(f.js, "op")) {
			node_log("dropping a client: %s", rc < 0 && !f.total ? "frame over the limits"
			                                                 : "malformed request");
			cJSON_Delete(f.js);
			conn_close(c);
			return;
		}
		on_request(c, f.req_id, f.js, f.data, f.dlen);
		cJSON_Delete(f.js);
		if (c->closing)
			return;
		rbuf_consume(&c->in, f.total);
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
	DL_PUSH_H(N->rhead, c, rprev, rnext);
	uv_idle_start(&N->resume_idle, on_resume_idle);
}

static void on_auth_timeout(uv_timer_t *t)
{
	conn *c = t->data;
	uv_os_fd_t fd;
	int pending = 0;

	/* Timers run before the loop reads: after a long loop turn, a
	 * handshake may be waiting unread.  It gets one more period. */
	if (!c->hs_grace && uv_fileno(&c->u.h, &fd) == 0 &&
	    ioctl(fd, FIONREAD, &pending) == 0 && pending > 0) {
		c->hs_grace = 1;
		uv_timer_start(&c->auth_timer, on_auth_timeout, AUTH_TIMEOUT_MS, 0);
		return;
	}

	log_refusal("dropping a peer%s%s that did not authenticate in time",
	            *c->src ? " from " : "", c->src);
	conn_close(c);
}

/* Accepts the pending connection on srv and closes it at once, so the
 * backlog does not fill up. */
static void drop_at_once(uv_stream_t *srv)
{
	union { uv_tcp_t tcp; uv_pipe_t pipe; } *t = malloc(sizeof(*t));
	int bad = !t || (srv == (uv_stream_t *)&N->usrv ? uv_pipe_init(N->loop, &t->pipe, 0)
	                                                : uv_tcp_init(N->loop, &t->tcp));

	if (bad) {
		free(t);
		return;
	}
	uv_accept(srv, (uv_stream_t *)t);
	uv_close((uv_handle_t *)t, (uv_close_cb)free);
}

/* Who is at the other end of TCP connection c, as text ("" if unknown). */
static void peer_name(conn *c)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss);

	c->src[0] = '\0';
	if (uv_tcp_getpeername(&c->u.tcp, (struct sockaddr *)&ss, &len))
		return;
	if (ss.ss_family == AF_INET6)
		uv_ip6_name((struct sockaddr_in6 *)&ss, c->src, sizeof(c->src));
	else
		uv_ip4_name((struct sockaddr_in *)&ss, c->src, sizeof(c->src));
}

/* Whether c must be encrypted (--transport, and where it comes from; an
 * address that cannot be read counts as another host's). */
static int peer_secure(conn *c)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss);

	if (uv_tcp_getpeername(&c->u.tcp, (struct sockaddr *)&ss, &len))
		return N->transport != RAY_TRANSPORT_PLAIN;
	return ray_transport_secure(N->transport, (struct sockaddr *)&ss);
}

/* Whether the handshake quota has room for one more from c's address. */
static int unauth_room(conn *c)
{
	conn *o;
	int same = 0;

	if (nunauth >= UNAUTH_MAX)
		return 0;
	for (o = N->conns; o; o = o->next)
		if (o->unauth && strcmp(o->src, c->src) == 0 && ++same >= UNAUTH_PER_SRC)
			return 0;
	return 1;
}

static void on_connection(uv_stream_t *srv, int status)
{
	conn *c;
	int rc, secure = 0, tcp = srv != (uv_stream_t *)&N->usrv;

	if (status < 0 || N->stopping)
		return;
	if (nconns >= MAX_CONNS) {
		drop_at_once(srv);
		log_refusal("refusing a connection: %d open already", MAX_CONNS);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return;
	c->put_fd = -1;
	if (tcp)
		rc = uv_tcp_init(N->loop, &c->u.tcp);
	else
		rc = uv_pipe_init(N->loop, &c->u.pipe, 0);
	if (rc) {
		free(c);
		return;
	}
	c->u.h.data = c;
	uv_timer_init(N->loop, &c->auth_timer);
	c->auth_timer.data = c;
	DL_PUSH_H(N->conns, c, prev, next);
	nconns++;
	if (uv_accept(srv, &c->u.s)) {
		conn_close(c);
		return;
	}
	if (tcp) {
		peer_name(c);
		if (!unauth_room(c)) {
			log_refusal("refusing a connection from %s: too many handshakes under way",
			            *c->src ? c->src : "an unknown address");
			conn_close(c);
			return;
		}
		c->unauth = 1;
		nunauth++;
		uv_tcp_nodelay(&c->u.tcp, 1);
		secure = peer_secure(c);
	}
	ray_hs_init(&c->hs, 'S', N->key, secure);
	send_hs(c);
	uv_timer_start(&c->auth_timer, on_auth_timeout, AUTH_TIMEOUT_MS, 0);
	uv_read_start(&c->u.s, on_alloc, on_read);
}

int server_adopt(int fd)
{
	conn *c = calloc(1, sizeof(*c));
	int rc;

	if (!c)
		return UV_ENOMEM;
	c->put_fd = -1;
	if ((rc = uv_pipe_init(N->loop, &c->u.pipe, 0))) {
		free(c);
		return rc;
	}
	c->u.h.data = c;
	uv_timer_init(N->loop, &c->auth_timer);
	c->auth_timer.data = c;
	DL_PUSH_H(N->conns, c, prev, next);
	nconns++;
	c->authed = 1;
	if ((rc = uv_pipe_open(&c->u.pipe, fd)) || (rc = uv_read_start(&c->u.s, on_alloc, on_read))) {
		conn_close(c);
		return rc;
	}
	return 0;
}

int server_start(node *n, ray_err *err)
{
	char path[PATH_MAX + 16];
	struct sockaddr_storage ss;
	struct sockaddr *sa = (struct sockaddr *)&ss;
	int len = sizeof(ss), rc;

	uv_idle_init(n->loop, &n->resume_idle);
	uv_idle_init(n->loop, &closed_idle);
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
	/* Nothing is on the stack at a stop: the hooks can run now, before
	 * the handles they need are closed. */
	run_close_hooks();
	if (!uv_is_closing((uv_handle_t *)&closed_idle))
		uv_close((uv_handle_t *)&closed_idle, NULL);
	if (!uv_is_closing((uv_handle_t *)&n->resume_idle))
		uv_close((uv_handle_t *)&n->resume_idle, NULL);
	if (!uv_is_closing((uv_handle_t *)&n->usrv))
		uv_close((uv_handle_t *)&n->usrv, NULL);
	if (!uv_is_closing((uv_handle_t *)&n->tsrv))
		uv_close((uv_handle_t *)&n->tsrv, NULL);
}
