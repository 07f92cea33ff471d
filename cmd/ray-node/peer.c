/*
 * peer.c: the daemon's own outbound connections to other nodes, fully
 * asynchronous (libuv): connect, run the client half of the handshake,
 * then send request frames whose replies arrive in order and are handed to
 * a callback.  One connection per remote node, made on first use; a broken
 * one fails its pending requests with RAY_EUNREACH and is made again on the
 * next request.
 *
 * A request may name a sink for its reply's data (peer_request_sink): when
 * the reply's head says exactly that many bytes follow, they are received
 * (plain link) or opened (encrypted) straight into the sink, never into
 * the connection's buffer, which would cost a copy of every byte of an
 * object pulled and moving what follows it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node.h"
#include "peer.h"
#include "uvwrite.h"

enum { PEER_CONNECTING, PEER_AUTH, PEER_READY, PEER_BROKEN };

typedef struct preq {
	uint32_t id;
	peer_cb cb;
	void *ud;
	char *buf;              /* owned until sent: frames queued before READY */
	size_t len;
	cJSON *part;            /* owned: a reply in several frames, so far */
	rbuf pdata;             /* its data so far */
	uint64_t ptotal;        /* its bytes so far (bounded by RAY_REPLY_MAX) */
	char *sink;             /* not owned: where the reply's data goes, or NULL */
	size_t sink_len;
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
	ray_hs hs;
	int secure;             /* what to ask of the node (ray_hs_init) */
	rbuf raw;               /* records not yet opened, when encrypted */
	ray_sec sec;
	rbuf in;
	cJSON *sink_js;         /* the head of a reply whose data is being sunk */
	size_t sink_got;        /* of the head request's sink_len */
	uint32_t next_id;
	preq *head, *tail;      /* awaiting replies (or sending), in order */
	struct peer *next;
};

static peer *peers;

/* Sends bytes (owned), sealed when the link is encrypted; a failed write
 * shows as the connection's read error. */
static void raw_write(peer *p, char *buf, size_t len)
{
	uvw_write((uv_stream_t *)&p->tcp, buf, len, NULL, 0, &p->sec, NULL);
}

static void peer_closed(uv_handle_t *h)
{
	peer *p = h->data;

	rbuf_release(&p->in);
	rbuf_release(&p->raw);
	cJSON_Delete(p->sink_js);
	ray_sec_wipe(&p->sec);
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
		cJSON_Delete(r->part);
		rbuf_release(&r->pdata);
		if (r->cb)
			r->cb(r->ud, RAY_EUNREACH, NULL, NULL, 0);
		free(r);
	}
	p->tail = NULL;
	cJSON_Delete(p->sink_js);
	p->sink_js = NULL;
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
	rbuf *in = p->sec.on ? &p->raw : &p->in;

	(void)hint;
	if (p->sink_js && !p->sec.on && !p->in.len) {
		/* The rest of a sunk reply's data: read it where it goes. */
		*b = uv_buf_init(p->head->sink + p->sink_got, (unsigned)(p->head->sink_len - p->sink_got));
		return;
	}
	if (rbuf_reserve(in, 65536)) {
		*b = uv_buf_init(NULL, 0);
		return;
	}
	*b = uv_buf_init(in->p + in->len, (unsigned)(in->cap - in->len));
}

/* A reply in several frames (lib/reply.c): a frame flagged MORE is merged
 * into r->part and f->js set NULL; the last one leaves in f the whole
 * reply (f->js then owned by the caller, its data in r->pdata).  -1 on a
 * malformed or oversized reply. */
static int continued(preq *r, ray_frame *f)
{
	int more = (f->flags & RAY_FLAG_MORE) != 0;

	if (!more && !r->part)
		return 0;
	if ((r->ptotal += f->total) > RAY_REPLY_MAX || rbuf_append(&r->pdata, f->data, f->dlen)) {
		cJSON_Delete(f->js);
		return -1;
	}
	if (!r->part) {
		r->part = f->js;
	} else {
		int rc = ray_reply_merge(r->part, f->js);
		cJSON_Delete(f->js);
		if (rc)
			return -1;
	}
	f->js = NULL;
	if (!more) {
		f->js = r->part;
		r->part = NULL;
		f->data = r->pdata.p;
		f->dlen = r->pdata.len;
	}
	return 0;
}

/* Hands a sunk reply, now whole, to its request's callback. */
static void sink_done(peer *p)
{
	preq *r = p->head;
	cJSON *js = p->sink_js;
	int code = 0;

	p->sink_js = NULL;
	p->head = r->next;
	if (!p->head)
		p->tail = NULL;
	if (r->cb) {
		if (cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(js, "ok")))
			code = (int)rj_int(js, "code", RAY_EUNREACH);
		r->cb(r->ud, code, js, r->sink, r->sink_len);
	}
	free(r);
	cJSON_Delete(js);
}

/* Whether the frame at buf[0..len) is the head request's reply with data
 * for its sink: 1 with its JSON taken (the head and JSON are at buf, hlen
 * bytes), 0 if not (or not known yet: *more then says to wait), -1 bad. */
static int sink_start(peer *p, const char *buf, size_t len, size_t *hlen, int *more)
{
	preq *r = p->head;
	ray_hdr h;

	*more = 0;
	if (!r || !r->sink || len < RAY_HDR_LEN)
		return 0;
	ray_hdr_unpack(&h, (const unsigned char *)buf);
	if (ray_hdr_check(&h, RAY_JSON_MAX, RAY_DATA_MAX) || h.req_id != r->id || h.data_len != r->sink_len)
		return 0;   /* the ordinary path answers or refuses it */
	if (len - RAY_HDR_LEN < h.json_len) {
		*more = 1;
		return 0;
	}
	p->sink_js = cJSON_ParseWithLength(buf + RAY_HDR_LEN, h.json_len);
	if (!p->sink_js || !cJSON_IsObject(p->sink_js))
		return -1;
	p->sink_got = 0;
	*hlen = RAY_HDR_LEN + h.json_len;
	return 1;
}

/* Takes the whole frames in p->in (the hello, then replies in order);
 * -1 when the link broke. */
static int parse_frames(peer *p)
{
	size_t off = 0;

	/* Frames are taken at an offset and the buffer shifted once at the
	 * end: several large frames in (an encrypted link opens records in
	 * bursts) must not each move all the bytes behind them. */
	for (;;) {
		ray_frame f;
		int rc, more;
		size_t hlen;
		preq *r;

		if (p->sink_js) {
			size_t n = p->in.len - off, left = p->head->sink_len - p->sink_got;
			if (n > left)
				n = left;
			if (n)
				memcpy(p->head->sink + p->sink_got, p->in.p + off, n);
			off += n;
			p->sink_got += n;
			if (p->sink_got < p->head->sink_len)
				break;
			sink_done(p);
			if (p->state == PEER_BROKEN)
				return -1;
			continue;
		}
		if (p->state == PEER_READY) {
			rc = sink_start(p, p->in.len ? p->in.p + off : "", p->in.len - off, &hlen, &more);
			if (rc < 0) {
				peer_break(p);
				return -1;
			}
			if (rc) {
				off += hlen;
				continue;
			}
			if (more)
				break;
		}
		rc = ray_frame_parse(p->in.len ? p->in.p + off : "", p->in.len - off, &f);
		if (rc == 0)
			break;
		if (rc < 0) {
			peer_break(p);
			return -1;
		}
		if (p->state == PEER_AUTH) {
			/* The node's hello: authenticated and ready. */
			const char *id = rj_str(f.js, "node_id");
			if (id && p->node_id[0] && strcmp(id, p->node_id)) {
				/* Another node now listens there (a restart on the
				 * same port): not the one we want to talk to. */
				node_log("node %s at %s is gone: node %s answers there", p->node_id, p->addr, id);
				cJSON_Delete(f.js);
				peer_break(p);
				return -1;
			}
			if (id)
				snprintf(p->node_id, sizeof(p->node_id), "%s", id);
			cJSON_Delete(f.js);
			off += f.total;
			p->state = PEER_READY;
			flush_queued(p);
			continue;
		}
		r = p->head;
		if (!r || r->id != f.req_id) {
			cJSON_Delete(f.js);
			peer_break(p);
			return -1;
		}
		if (continued(r, &f)) {
			peer_break(p);
			return -1;
		}
		off += f.total;
		if (!f.js)
			continue;   /* more frames of this reply to come */
		p->head = r->next;
		if (!p->head)
			p->tail = NULL;
		if (r->cb) {
			int code = 0;
			if (cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(f.js, "ok")))
				code = (int)rj_int(f.js, "code", RAY_EUNREACH);
			r->cb(r->ud, code, f.js, f.data, f.dlen);
		}
		rbuf_release(&r->pdata);
		free(r);
		cJSON_Delete(f.js);
		if (p->state == PEER_BROKEN)
			return -1;
	}
	rbuf_consume(&p->in, off);
	return 0;
}

/* Opens the whole records in p->raw one at a time, each straight into the
 * sink when it falls wholly within a sunk reply's data, else onto p->in
 * and its frames taken; -1 when the link broke. */
static int open_records(peer *p)
{
	size_t roff = 0, plen, rlen;
	int rc;

	while ((rc = ray_sec_next(&p->sec, p->raw.p + roff, p->raw.len - roff, &plen, &rlen)) == 1) {
		const char *rec = p->raw.p + roff;
		if (p->sink_js && !p->in.len && plen <= p->head->sink_len - p->sink_got) {
			if (ray_sec_open_one(&p->sec, rec, rlen, p->head->sink + p->sink_got))
				break;
			roff += rlen;
			p->sink_got += plen;
			if (p->sink_got == p->head->sink_len) {
				sink_done(p);
				if (p->state == PEER_BROKEN)
					return -1;
			}
			continue;
		}
		if (rbuf_reserve(&p->in, plen) || ray_sec_open_one(&p->sec, rec, rlen, p->in.p + p->in.len))
			break;
		roff += rlen;
		p->in.len += plen;
		if (parse_frames(p))
			return -1;
	}
	if (rc != 0) {
		node_log("node %s at %s: a record did not open (altered or replayed)", p->node_id, p->addr);
		peer_break(p);
		return -1;
	}
	rbuf_consume(&p->raw, roff);
	return 0;
}

static void peer_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	peer *p = s->data;

	if (n < 0) {
		peer_break(p);
		return;
	}
	if (p->sec.on) {
		p->raw.len += (size_t)n;
		if (open_records(p))
			return;
	} else if (p->sink_js && b->base == p->head->sink + p->sink_got) {
		/* Read straight into the sink (peer_alloc). */
		p->sink_got += (size_t)n;
		if (p->sink_got == p->head->sink_len)
			sink_done(p);
		return;
	} else {
		p->in.len += (size_t)n;
	}
	if (p->state == PEER_AUTH && p->hs.step != 2) {
		size_t used;
		int st = ray_hs_feed(&p->hs, p->in.p, p->in.len, &used);

		rbuf_consume(&p->in, used);
		if (p->hs.outlen) {
			char *buf = malloc(p->hs.outlen);
			if (!buf) {
				peer_break(p);
				return;
			}
			memcpy(buf, p->hs.out, p->hs.outlen);
			raw_write(p, buf, p->hs.outlen);
			p->hs.outlen = 0;
		}
		if (st == RAY_HS_MORE)
			return;
		if (st != RAY_HS_DONE) {
			if (st == RAY_HS_BADMAC)
				node_log("node %s at %s failed authentication", p->node_id, p->addr);
			else if (st == RAY_HS_BADMODE)
				node_log("node %s at %s requires an encrypted transport (this node has --transport plain)",
				         p->node_id, p->addr);
			peer_break(p);
			return;
		}
		/* What came after the node's MAC is records already. */
		if (ray_hs_session(&p->hs, &p->sec) ||
		    (p->sec.on && (rbuf_append(&p->raw, p->in.p, p->in.len) ||
		                   (p->in.len = 0, ray_sec_open(&p->sec, &p->raw, &p->in))))) {
			peer_break(p);
			return;
		}
		/* The next frame is the node's hello, id 0. */
	}
	parse_frames(p);
}

static void on_connect(uv_connect_t *req, int status)
{
	peer *p = req->data;

	if (status < 0) {
		peer_break(p);
		return;
	}
	p->state = PEER_AUTH;
	ray_hs_init(&p->hs, 'C', N->key, p->secure);
	uv_tcp_nodelay(&p->tcp, 1);
	uv_read_start((uv_stream_t *)&p->tcp, peer_alloc, peer_read);
}

static peer *peer_new(const char *node_id, const char *addr)
{
	peer *p = N->stopping ? NULL : calloc(1, sizeof(*p));   /* no new links in a stop */
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
	p->secure = N->transport == RAY_TRANSPORT_PLAIN ? -1 :
	            N->transport == RAY_TRANSPORT_ENCRYPTED ? 1 :
	            !ray_sockaddr_loopback((struct sockaddr *)&ss);
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
peer *peer_for_bulk(const char *node_id, const char *addr)
{
	return peer_get(node_id, addr, 1);
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

int peer_request_sink(peer *p, cJSON *req, char *sink, size_t sink_len, peer_cb cb, void *ud)
{
	int rc = peer_request(p, req, NULL, 0, cb, ud);

	if (!rc) {
		p->tail->sink = sink_len ? sink : NULL;
		p->tail->sink_len = sink_len;
	}
	return rc;
}

int peer_request(peer *p, cJSON *req, const void *data, size_t dlen, peer_cb cb, void *ud)
{
	size_t len;
	char *buf = ray_frame_pack(p->next_id, req, data ? data : "", dlen, &len);
	preq *r = calloc(1, sizeof(*r));

	if (!buf || !r) {
		free(buf);
		free(r);
		return RAY_ERESOURCE;
	}
	r->id = p->next_id++;
	r->cb = cb;
	r->ud = ud;
	if (p->tail)
		p->tail->next = r;
	else
		p->head = r;
	p->tail = r;
	if (p->state == PEER_READY) {
		raw_write(p, buf, len);
	} else {
		r->buf = buf;
		r->len = len;
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
