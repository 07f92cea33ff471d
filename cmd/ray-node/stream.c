/*
 * stream.c: streaming returns (ray-submit --stream).  A streaming task's
 * stdout is a pipe that the node watches (uv_poll, reads of at most
 * 64 KiB); each complete line becomes an object of its own, ref TASK
 * followed by 2+k for the k-th line (1 stays the task's own return, empty
 * or its error), an object of the task's job.  The client takes refs with
 * stream_next, naming how many it has printed (from), and is told how
 * many follow (the refs are known from the index); a request with nothing
 * new waits until a line comes or the task ends.  Backpressure: once backpressure items are made
 * and not yet taken, lines read wait in a buffer, and once the buffer
 * holds a complete line the pipe is not read, so a producer blocks in
 * write(2) instead of filling memory; the buffer never holds more than
 * one read.  When an attempt's process is reaped, what is left in the
 * pipe is read at once (it is bounded by the pipe's size); a retried
 * attempt then skips as many complete lines as were seen, so no line
 * is made twice or lost (the producer must write the same lines again,
 * as a Ray generator re-runs).  Streaming tasks run where they were
 * submitted (sched.c pins them), so the records here are all local.  A
 * record goes once its reader has been told the end; one whose reader
 * never comes back stays (its counts and at most one read of lines)
 * until the node stops, since a reader may still ask.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "node.h"
#include "istr.h"
#include "dlist.h"
#include "server.h"
#include "store.h"
#include "stream.h"
#include "task.h"

#define READ_MAX 65536
#define MAX_ANSWER 4096
#define LINE_MAX_BYTES (64u << 20)   /* a longer line is cut into items */

/* The pipe of one attempt: its own allocation, so that a retry need not
 * wait for the last attempt's handle to close. */
typedef struct watch {
	uv_poll_t h;
	int fd;                   /* the pipe's read end (owned) */
	struct stream *s;         /* NULL once the stream let it go */
} watch;

typedef struct stream {
	char id[RAY_ID_MAX + 1];  /* the task's */
	size_t idlen;
	struct watch *w;          /* the attempt's pipe, or NULL */
	int polling;
	rbuf buf;                 /* read, not yet made into items (owned) */
	size_t scan;              /* bytes at its head that are whole lines, counted */
	uint64_t items;           /* objects made */
	uint64_t taken;           /* items the client has printed */
	uint64_t seen;            /* complete lines accepted, all attempts */
	uint64_t skip;            /* lines of this attempt still to skip */
	int ended;                /* the task ended: no attempt follows */
	conn *c;                  /* a stream_next waiting, or NULL */
	uint32_t req_id;
	struct stream *prev, *next;
} stream;

static map streams;          /* by task id: the streams, zero when empty */
static stream *shead, *stail;

static stream *stream_get(const char *id, int make)
{
	stream *s;

	s = map_get(&streams, id);
	if (s || !make || strlen(id) > RAY_REF_MAX - 8)
		return s;   /* an item's ref is the id and 8 digits */
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	snprintf(s->id, sizeof(s->id), "%s", id);
	s->idlen = strlen(s->id);
	if (map_put(&streams, s->id, s)) {
		free(s);
		return NULL;
	}
	DL_APPEND(shead, stail, s, prev, next);
	return s;
}

static void on_closed(uv_handle_t *h)
{
	watch *w = h->data;

	close(w->fd);
	free(w);
}

static void stop_reading(stream *s)
{
	if (!s->w)
		return;
	if (s->polling)
		uv_poll_stop(&s->w->h);
	s->polling = 0;
	s->w->s = NULL;
	uv_close((uv_handle_t *)&s->w->h, on_closed);
	s->w = NULL;
}

static void stream_drop(stream *s)
{
	stop_reading(s);
	map_del(&streams, s->id);
	DL_REMOVE(shead, stail, s, prev, next);
	rbuf_release(&s->buf);
	free(s);
}

/* Makes the next item from len bytes, an object of the task's job (job
 * is the task's interned id, or NULL), so the job's end frees it. */
static void make_item(stream *s, const char *job, const char *line, size_t len)
{
	char ref[RAY_REF_MAX + 1];
	obj *o;

	ray_stream_ref(ref, s->id, s->idlen, s->items);
	o = store_new(ref);
	/* Before store_fill: it gives an object without a job the job of
	 * its producer, and an item has none. */
	if (o)
		o->job = job ? istr_share(job) : istr_hold("00000000");
	if (!o || store_fill(o, line, len)) {
		node_log("stream %s: out of memory for item %llu", s->id, (unsigned long long)s->items);
		if (o)
			store_fail(o, RAY_ERESOURCE, "out of memory");
	}
	s->items++;
}

/* Counts the complete lines read since the last call, dropping those a
 * retried attempt skips. */
static void accept_lines(stream *s)
{
	for (;;) {
		char *nl = memchr(s->buf.p + s->scan, '\n', s->buf.len - s->scan);
		size_t len;
		if (!nl && s->buf.len - s->scan < LINE_MAX_BYTES)
			return;
		len = nl ? (size_t)(nl - (s->buf.p + s->scan)) + 1 : s->buf.len - s->scan;
		if (s->skip) {
			memmove(s->buf.p + s->scan, s->buf.p + s->scan + len, s->buf.len - s->scan - len);
			s->buf.len -= len;
			s->skip--;
			continue;
		}
		s->seen++;
		s->scan += len;
	}
}

/* Whole lines become items while the client keeps up; with final, a
 * partial last line too.  Returns whether a whole line still waits. */
static int make_items(stream *s, int final)
{
	task *t = task_find(s->id);
	size_t off = 0;

	while (off < s->buf.len) {
		char *nl = off < s->scan ? memchr(s->buf.p + off, '\n', s->scan - off) : NULL;
		size_t len = nl ? (size_t)(nl - (s->buf.p + off)) + 1 : off < s->scan ? s->scan - off
		             : s->buf.len - off;
		if (off >= s->scan && !final)
			break;
		if (t && s->items - s->taken >= (uint64_t)t->stream_bp)
			break;
		make_item(s, t ? t->job : NULL, s->buf.p + off, len);
		off += len;
	}
	if (off) {
		memmove(s->buf.p, s->buf.p + off, s->buf.len - off);
		s->buf.len -= off;
		s->scan = off < s->scan ? s->scan - off : 0;
	}
	return s->scan > 0;
}

static void answer(stream *s);

/* Reads what the pipe holds now (at most one READ_MAX); 0 at EOF. */
static ssize_t read_some(stream *s)
{
	ssize_t n;

	if (rbuf_reserve(&s->buf, READ_MAX))
		return -1;
	do
		n = read(s->w->fd, s->buf.p + s->buf.len, READ_MAX);
	while (n < 0 && errno == EINTR);
	if (n > 0) {
		s->buf.len += (size_t)n;
		accept_lines(s);
	}
	return n;
}

static void on_readable(uv_poll_t *h, int status, int events)
{
	watch *w = h->data;
	stream *s = w->s;
	ssize_t n;

	(void)events;
	if (!s)
		return;
	n = status < 0 ? 0 : read_some(s);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return;
	if (n <= 0) {
		/* EOF: the producer and its children closed it; the reap
		 * decides what the rest means. */
		uv_poll_stop(&s->w->h);
		s->polling = 0;
		return;
	}
	if (make_items(s, 0)) {
		uv_poll_stop(&s->w->h);   /* backpressure: the client is behind */
		s->polling = 0;
	}
	answer(s);
}

/* Resumes reading once the client took items. */
static void resume(stream *s)
{
	if (make_items(s, s->ended) || !s->w || s->polling)
		return;
	if (!uv_poll_start(&s->w->h, UV_READABLE, on_readable))
		s->polling = 1;
}

int stream_attach(task *t, int fd)
{
	stream *s = stream_get(t->id, 1);
	watch *w;

	if (!s || s->w || !(w = calloc(1, sizeof(*w))))
		return -1;
	if (uv_poll_init(N->loop, &w->h, fd)) {
		free(w);
		return -1;
	}
	w->h.data = w;
	w->fd = fd;
	w->s = s;
	s->w = w;
	s->skip = s->seen;
	s->buf.len = s->scan;   /* nothing partial survives an attempt */
	s->ended = 0;
	if (!uv_poll_start(&w->h, UV_READABLE, on_readable))
		s->polling = 1;
	return 0;
}

void stream_reaped(task *t, int retried)
{
	stream *s = stream_get(t->id, 0);
	ssize_t n;

	if (!s || !s->w)
		return;
	/* What the dead attempt left in the pipe: bounded by its size. */
	do
		n = read_some(s);
	while (n > 0 && s->buf.len < (64u << 20));
	stop_reading(s);
	/* A dead attempt's partial last line is dropped when another
	 * attempt follows: that one writes it again, whole. */
	if (retried)
		s->buf.len = s->scan;
	make_items(s, 0);
}

void stream_task_ended(task *t)
{
	stream *s;

	if (!t->stream_bp || !(s = stream_get(t->id, 0)))
		return;
	s->ended = 1;
	make_items(s, 1);
	answer(s);
}

/* Replies to a waiting stream_next: how many refs follow its `from`, or
 * the end.  The refs are TASK + %08x of 2+k, so the reply names the count,
 * not each ref: a string item per ref, printed here and parsed by the
 * reader, was a quarter of the node's CPU on a fast stream. */
static void answer(stream *s)
{
	task *t = task_find(s->id);
	cJSON *r;
	uint64_t n;
	int done;

	if (!s->c)
		return;
	done = (!t || (s->ended && !s->buf.len)) && s->items <= s->taken;
	if (s->items <= s->taken && !done)
		return;
	r = cJSON_CreateObject();
	n = s->items - s->taken < MAX_ANSWER ? s->items - s->taken : MAX_ANSWER;
	cJSON_AddNumberToObject(r, "from", (double)s->taken);
	cJSON_AddNumberToObject(r, "count", (double)n);
	if (done) {
		obj *o = t && t->num_returns ? t->rets[0] : NULL;
		cJSON_AddBoolToObject(r, "done", 1);
		if (!t || !o || o->state == OBJ_ERROR) {
			cJSON_AddNumberToObject(r, "code", o ? o->err_code : RAY_ELOST);
			cJSON_AddStringToObject(r, "msg", o && o->err_msg ? o->err_msg : "the task is gone");
		}
	}
	conn_reply(s->c, s->req_id, r, NULL, 0);
	s->c = NULL;
	if (done)
		stream_drop(s);
}

/* Replies before the items are made when none made is waiting but whole
 * lines are: the refs of those that resume() makes next (as many as the
 * backpressure lets it, in order), so the reader prints them while the
 * node makes them.  Making 64 items was a third of each round trip, and
 * at the default backpressure a stream is a round trip per 64 lines.  No
 * one can ask for an item before it exists: the node makes them before it
 * reads another request. */
static void answer_ahead(stream *s, const task *t)
{
	uint64_t limit, n = 0;
	cJSON *r;
	size_t off = 0;

	if (!s->c || s->items > s->taken)
		return;
	limit = (uint64_t)t->stream_bp < MAX_ANSWER ? (uint64_t)t->stream_bp : MAX_ANSWER;
	while (n < limit && off < s->scan) {
		char *nl = memchr(s->buf.p + off, '\n', s->scan - off);
		off = nl ? (size_t)(nl - s->buf.p) + 1 : s->scan;
		n++;
	}
	if (!n)
		return;
	r = cJSON_CreateObject();
	cJSON_AddNumberToObject(r, "from", (double)s->taken);
	cJSON_AddNumberToObject(r, "count", (double)n);
	conn_reply(s->c, s->req_id, r, NULL, 0);
	s->c = NULL;
}

/* stream_next {task_id, from}: refs of items from `from` on (printed up
 * to there), waiting for one if there is none yet. */
void op_stream_next(conn *c, uint32_t id, cJSON *req)
{
	const char *tid = rj_str(req, "task_id");
	int64_t from = rj_int(req, "from", -1);
	task *t = task_find(tid);
	stream *s;

	if (!t || !t->stream_bp) {
		conn_reply_err(c, id, RAY_ENOTFOUND, "no streaming task '%.80s' on node %s", tid ? tid : "", N->id);
		return;
	}
	if (!(s = stream_get(t->id, 1))) {
		conn_reply_err(c, id, RAY_ERESOURCE, "out of memory");
		return;
	}
	if (from < 0 || (uint64_t)from > s->items) {
		conn_reply_err(c, id, RAY_EUSAGE, "bad from: want 0..%llu", (unsigned long long)s->items);
		return;
	}
	if (s->c)
		conn_reply_err(s->c, s->req_id, RAY_EUSAGE, "another reader took the stream");
	if ((uint64_t)from > s->taken)
		s->taken = (uint64_t)from;
	s->c = c;
	s->req_id = id;
	if (t->state >= T_FINISHED)
		s->ended = 1;
	answer_ahead(s, t);
	resume(s);
	answer(s);
}

void stream_status(const task *t, cJSON *j)
{
	const stream *s = map_get(&streams, t->id);

	cJSON_AddNumberToObject(j, "stream_items", s ? (double)s->items : 0);
	cJSON_AddNumberToObject(j, "stream_taken", s ? (double)s->taken : 0);
}

void stream_conn_closed(conn *c)
{
	stream *s;

	for (s = shead; s; s = s->next)
		if (s->c == c)
			s->c = NULL;
}

void streams_free_all(void)
{
	while (shead) {
		stream *s = shead;
		DL_REMOVE(shead, stail, s, prev, next);
		if (s->w) {
			close(s->w->fd);
			free(s->w);   /* its handle is closed with the loop's */
		}
		rbuf_release(&s->buf);
		free(s);
	}
	map_release(&streams);
}
