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

int uvw_write(uv_stream_t *s, char *buf, size_t len, const void *data, size_t dlen, ray_sec *sec,
              uvw_done done)
{
	wreq *r;
	uv_buf_t b;
	int rc;

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
	} else if (dlen) {
		char *all = realloc(buf, len + dlen);
		if (!all) {
			free(buf);
			return RAY_ERESOURCE;
		}
		memcpy(all + len, data, dlen);
		buf = all;
		len += dlen;
	}
	if (!(r = malloc(sizeof(*r)))) {
		free(buf);
		return RAY_ERESOURCE;
	}
	r->buf = buf;
	r->done = done;
	b = uv_buf_init(buf, (unsigned)len);
	if ((rc = uv_write(&r->w, s, &b, 1, on_written))) {
		free(buf);
		free(r);
	}
	return rc;
}
