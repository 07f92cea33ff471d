/*
 * uvwrite.c: one way to hand bytes to a libuv stream, for the server's
 * replies, the peer links' requests and the calls written to actors: the
 * buffer is owned by the write and freed when it is done, and on an
 * encrypted link the bytes are sealed first, data sealed straight from
 * where it lies (an object's chunk is never copied before).
 */
#include <stdlib.h>
#include <string.h>

#include "uvwrite.h"

typedef struct wreq {
	uv_write_t w;
	char *buf;
	uvw_done done;
} wreq;

static void on_written(uv_write_t *w, int status)
{
	wreq *r = (wreq *)w;
	uvw_done done = r->done;
	uv_stream_t *s = w->handle;

	free(r->buf);
	free(r);
	if (done)
		done(s, status);
}

/* Queues what uv_try_write left: the owned buffer from off on, then the
 * rest of data (copied: it is not ours). */
static int queue_rest(uv_stream_t *s, char *buf, size_t len, size_t off, const void *data,
                      size_t dlen, uvw_done done)
{
	wreq *r;
	uv_buf_t b;
	int rc;

	if (dlen && off < len) {
		/* Part of the head is left, and all the data after it. */
		char *all = realloc(buf, len + dlen);
		if (!all) {
			free(buf);
			return RAY_ERESOURCE;
		}
		buf = all;
		memcpy(buf + len, data, dlen);
		len += dlen;
	} else if (dlen) {
		/* The head went out whole: only the data's tail is left. */
		size_t skip = off - len, rest = dlen - skip;
		char *tail = realloc(buf, rest);
		if (!tail) {
			free(buf);
			return RAY_ERESOURCE;
		}
		buf = tail;
		memcpy(buf, (const char *)data + skip, rest);
		len = rest;
		off = 0;
	}
	if (!(r = malloc(sizeof(*r)))) {
		free(buf);
		return RAY_ERESOURCE;
	}
	r->buf = buf;
	r->done = done;
	b = uv_buf_init(buf + off, (unsigned)(len - off));
	if ((rc = uv_write(&r->w, s, &b, 1, on_written))) {
		free(buf);
		free(r);
	}
	return rc;
}

int uvw_write(uv_stream_t *s, char *buf, size_t len, const void *data, size_t dlen, ray_sec *sec,
              uvw_done done)
{
	uv_buf_t b[2];
	size_t off = 0;
	int n;

	if (sec && sec->on) {
		rbuf rec = { 0 };
		if (ray_sec_seal(sec, buf, len, &rec) || (dlen && ray_sec_seal(sec, data, dlen, &rec))) {
			free(buf);
			rbuf_release(&rec);
			return RAY_EUNREACH;
		}
		free(buf);
		buf = rec.p;
		len = rec.len;
		data = NULL;
		dlen = 0;
	}
	/* Written at once where the socket has room (the usual reply): no
	 * request to allocate, and no POLLOUT watch that libuv would add and
	 * take off again with an epoll_ctl for every reply.  uv_try_write
	 * refuses while earlier writes are queued, so order is kept.  A
	 * caller that wants to hear of the end gets it from the loop. */
	if (!done) {
		b[0] = uv_buf_init(buf, (unsigned)len);
		b[1] = uv_buf_init((char *)data, (unsigned)dlen);
		n = uv_try_write(s, b, dlen ? 2 : 1);
		if (n >= 0 && (size_t)n == len + dlen) {
			free(buf);
			return 0;
		}
		if (n > 0)
			off = (size_t)n;
		else if (n != UV_EAGAIN && n != UV_ENOSYS) {
			free(buf);
			return n;
		}
	}
	return queue_rest(s, buf, len, off, data, dlen, done);
}
