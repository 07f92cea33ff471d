/*
 * peer.c: the daemon's own outbound connections to other nodes, fully
 * asynchronous (libuv): connect, run the client half of the handshake,
 * then send request frames whose replies arrive in order and are handed to
 * a callback.  One connection per remote node, made on first use; a broken
 * one fails its pending requests with RAY_EUNREACH and is made again on the
 * next request.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "node.h"

enum { PEER_CONNECTING, PEER_AUTH, PEER_READY, PEER_BROKEN };

typedef struct preq {
	uint32_t id;
	peer_cb cb;
	void *ud;
	char *buf;              /* owned until sent: frames queued before READY */
	size_t len;
	struct preq *next;
} preq;

struct peer {
	char node_id[RAY_NODEID_LEN + 1];
	char addr[300];
	uv_tcp_t tcp;
	uv_connect_t creq;
	int state, closing;
	int private_;           /* one caller's own: never shared */
	int bulk;               /* object chunks only (peer_bulk) */
	unsigned char nc[RAY_NONCE_LEN], ns[RAY_NONCE_LEN];
	int got_hello;
	rbuf in;
	uint32_t next_id;
	preq *head, *tail;      /* awaiting replies (or sending), in order */
	struct peer *next;
};

static peer *peers;

typedef struct pwreq {
	uv_write_t w;
	char *buf;
} pwreq;

static void on_pwritten(uv_write_t *w, int status)
{
	pwreq *pw = (pwreq *)w;

	(void)status;
	free(pw->buf);
	free(pw);
}

static void raw_write(peer *p, char *buf, size_t len)
{
	pwreq *pw = malloc(sizeof(*pw));
	uv_buf_t b = uv_buf_init(buf, (unsigned)len);

	if (!pw || uv_write(&pw->w, (uv_stream_t *)&p->tcp, &b, 1, on_pwritten)) {
		free(buf);
		free(pw);
	} else {
		pw->buf = buf;
	}
}

static void peer_closed(uv_handle_t *h)
{
	peer *p = h->data;

	rbuf_release(&p->in);
	free(p);
}

/* Fails every pending request and forgets the connection. */
static void peer_break(peer *p)
{
	peer **pp;
	preq *r;

	if (p->state == PEER_BROKEN)
		return;
	p->state = PEER_BROKEN;
	for (pp = &peers; *pp; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	while ((r = p->head)) {
		p->head = r->next;
		free(r->buf);
		if (r->cb)
			r->cb(r->ud, RAY_EUNREACH, NULL, NULL, 0);
		free(r);
	}
	p->tail = NULL;
	if (!uv_is_closing((uv_handle_t *)&p->tcp))
		uv_close((uv_handle_t *)&p->tcp, peer_closed);
}

static void flush_queued(peer *p)
{
	preq *r;

	for (r = p->head; r; r = r->next)
		if (r->buf) {
			raw_write(p, r->buf, r->len);
			r->buf = NULL;
		}
}

static void peer_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	peer *p = h->data;

	(void)hint;
	if (rbuf_reserve(&p->in, 65536)) {
		*b = uv_buf_init(NULL, 0);
		return;
	}
	*b = uv_buf_init(p->in.p + p->in.len, (unsigned)(p->in.cap - p->in.len));
}

static void peer_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	peer *p = s->data;

	(void)b;
	if (n < 0) {
		peer_break(p);
		return;
	}
	p->in.len += (size_t)n;
	if (p->state == PEER_AUTH) {
		unsigned char out[RAY_NONCE_LEN + RAY_MAC_LEN];
		char *buf;
		if (p->got_hello == 0) {
			if (p->in.len < RAY_MAGIC_LEN + RAY_NONCE_LEN)
				return;
			if (memcmp(p->in.p, RAY_MAGIC, RAY_MAGIC_LEN)) {
				peer_break(p);
				return;
			}
			memcpy(p->ns, p->in.p + RAY_MAGIC_LEN, RAY_NONCE_LEN);
			rbuf_consume(&p->in, RAY_MAGIC_LEN + RAY_NONCE_LEN);
			randombytes_buf(p->nc, sizeof(p->nc));
			memcpy(out, p->nc, RAY_NONCE_LEN);
			ray_auth_mac(out + RAY_NONCE_LEN, N->key, 'C', p->ns, p->nc);
			buf = malloc(sizeof(out));
			if (!buf) {
				peer_break(p);
				return;
			}
			memcpy(buf, out, sizeof(out));
			raw_write(p, buf, sizeof(out));
			p->got_hello = 1;
		}
		if (p->got_hello == 1) {
			if (p->in.len < RAY_MAC_LEN)
				return;
			if (ray_auth_verify((unsigned char *)p->in.p, N->key, 'S', p->ns, p->nc)) {
				node_log("node %s at %s failed authentication", p->node_id, p->addr);
				peer_break(p);
				return;
			}
			rbuf_consume(&p->in, RAY_MAC_LEN);
			p->got_hello = 2;   /* next frame is the hello, id 0 */
		}
	}
	while (p->in.len >= RAY_HDR_LEN) {
		ray_hdr h;
		size_t total;
		cJSON *js;
		preq *r;

		ray_hdr_unpack(&h, (unsigned char *)p->in.p);
		if (ray_hdr_check(&h, RAY_JSON_MAX, RAY_DATA_MAX)) {
			peer_break(p);
			return;
		}
		total = RAY_HDR_LEN + (size_t)h.json_len + h.data_len;
		if (p->in.len < total)
			return;
		js = cJSON_ParseWithLength(p->in.p + RAY_HDR_LEN, h.json_len);
		if (!js) {
			peer_break(p);
			return;
		}
		if (p->state == PEER_AUTH) {
			/* The node's hello: authenticated and ready. */
			const char *id = rj_str(js, "node_id");
			if (id && p->node_id[0] && strcmp(id, p->node_id)) {
				/* Another node now listens there (a restart on the
				 * same port): not the one we want to talk to. */
				node_log("node %s at %s is gone: node %s answers there", p->node_id, p->addr, id);
				cJSON_Delete(js);
				peer_break(p);
				return;
			}
			if (id)
				snprintf(p->node_id, sizeof(p->node_id), "%s", id);
			cJSON_Delete(js);
			rbuf_consume(&p->in, total);
			p->state = PEER_READY;
			flush_queued(p);
			continue;
		}
		r = p->head;
		if (!r || r->id != h.req_id) {
			cJSON_Delete(js);
			peer_break(p);
			return;
		}
		p->head = r->next;
		if (!p->head)
			p->tail = NULL;
		if (r->cb) {
			int rc = 0;
			if (cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(js, "ok")))
				rc = (int)rj_int(js, "code", RAY_EUNREACH);
			r->cb(r->ud, rc, js, p->in.p + RAY_HDR_LEN + h.json_len, h.data_len);
		}
		free(r);
		cJSON_Delete(js);
		rbuf_consume(&p->in, total);
		if (p->state == PEER_BROKEN)
			return;
	}
}

static void on_connect(uv_connect_t *req, int status)
{
	peer *p = req->data;

	if (status < 0) {
		peer_break(p);
		return;
	}
	p->state = PEER_AUTH;
	uv_tcp_nodelay(&p->tcp, 1);
	uv_read_start((uv_stream_t *)&p->tcp, peer_alloc, peer_read);
}

static peer *peer_new(const char *node_id, const char *addr)
{
	peer *p = calloc(1, sizeof(*p));
	struct sockaddr_storage ss;
	char host[256];
	const char *colon = strrchr(addr, ':');
	size_t hl;
	int port;

	if (!p || !colon)
		goto fail;
	hl = (size_t)(colon - addr);
	if (hl == 0 || hl >= sizeof(host))
		goto fail;
	memcpy(host, addr, hl);
	host[hl] = '\0';
	if (host[0] == '[' && host[hl - 1] == ']') {
		memmove(host, host + 1, hl - 2);
		host[hl - 2] = '\0';
	}
	port = atoi(colon + 1);
	if ((strchr(host, ':') ? uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss)
	                       : uv_ip4_addr(host, port, (struct sockaddr_in *)&ss)))
		goto fail;
	snprintf(p->node_id, sizeof(p->node_id), "%s", node_id ? node_id : "");
	snprintf(p->addr, sizeof(p->addr), "%s", addr);
	p->next_id = 1;
	uv_tcp_init(N->loop, &p->tcp);
	p->tcp.data = p;
	p->creq.data = p;
	if (uv_tcp_connect(&p->creq, &p->tcp, (struct sockaddr *)&ss, on_connect)) {
		uv_close((uv_handle_t *)&p->tcp, peer_closed);
		return NULL;
	}
	p->next = peers;
	peers = p;
	return p;
fail:
	free(p);
	return NULL;
}

static peer *peer_get(const char *node_id, const char *addr, int bulk)
{
	peer *p;

	for (p = peers; p; p = p->next)
		if (p->state != PEER_BROKEN && !p->private_ && p->bulk == bulk && !strcmp(p->addr, addr) &&
		    (!node_id || !p->node_id[0] || !strcmp(p->node_id, node_id)))
			return p;
	p = peer_new(node_id, addr);
	if (p)
		p->bulk = bulk;
	return p;
}

peer *peer_for(const char *node_id, const char *addr)
{
	return peer_get(node_id, addr, 0);
}

/* Object chunks get a shared connection of their own per node, so that
 * heartbeats and task messages never queue behind megabytes of data. */
peer *peer_bulk(const char *node_id)
{
	rnode *r = view_find(node_id);

	if (!r || !r->alive)
		return NULL;
	return peer_get(r->id, r->addr, 1);
}

/* A connection of its own, for a request that may wait long (so it never
 * holds up heartbeats on the shared one); close it with peer_close. */
peer *peer_private(const char *addr)
{
	peer *p = peer_new(NULL, addr);

	if (p)
		p->private_ = 1;
	return p;
}

void peer_close(peer *p)
{
	peer *q;

	for (q = peers; q; q = q->next)
		if (q == p) {
			peer_break(p);
			return;
		}
}

int peer_request(peer *p, cJSON *req, const void *data, size_t dlen, peer_cb cb, void *ud)
{
	char *js = cJSON_PrintUnformatted(req), *buf;
	size_t jl;
	ray_hdr h;
	preq *r;

	if (!js)
		return RAY_ERESOURCE;
	jl = strlen(js);
	buf = malloc(RAY_HDR_LEN + jl + dlen);
	r = calloc(1, sizeof(*r));
	if (!buf || !r || jl > RAY_JSON_MAX || dlen > RAY_DATA_MAX) {
		free(js);
		free(buf);
		free(r);
		return RAY_ERESOURCE;
	}
	h.json_len = (uint32_t)jl;
	h.data_len = (uint32_t)dlen;
	h.req_id = p->next_id++;
	h.flags = 0;
	ray_hdr_pack((unsigned char *)buf, &h);
	memcpy(buf + RAY_HDR_LEN, js, jl);
	if (dlen)
		memcpy(buf + RAY_HDR_LEN + jl, data, dlen);
	free(js);
	r->id = h.req_id;
	r->cb = cb;
	r->ud = ud;
	if (p->tail)
		p->tail->next = r;
	else
		p->head = r;
	p->tail = r;
	if (p->state == PEER_READY) {
		raw_write(p, buf, RAY_HDR_LEN + jl + dlen);
	} else {
		r->buf = buf;
		r->len = RAY_HDR_LEN + jl + dlen;
	}
	return 0;
}

/* Forgets callbacks whose user data is going away (nothing else changes). */
void peer_forget(void *ud)
{
	peer *p;
	preq *r;

	for (p = peers; p; p = p->next)
		for (r = p->head; r; r = r->next)
			if (r->ud == ud)
				r->cb = NULL;
}

void peers_close_all(void)
{
	while (peers)
		peer_break(peers);
}
