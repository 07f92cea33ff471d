/* stream.c: streaming returns from the client's side: ray_submit_stream
 * submits a task whose stdout lines become objects, and ray_stream_next
 * hands their refs out one by one, asking the node for the next batch
 * (stream_next, naming how many were handed out) only when the last one
 * is used up, so the node's backpressure counts what the caller has not
 * yet consumed.  A batch is a count: the k-th line's ref is the task's id
 * and %08x of 2+k, written here. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rayint.h"

#define STREAM_BATCH 4096      /* the most refs a reply may announce */
#define STREAM_MAX 0xfffffffdu  /* suffixes 2..ffffffff */

struct ray_stream {
	ray_client *c;            /* not owned */
	char task[RAY_ID_MAX + 1];
	size_t tlen;              /* strlen(task) */
	char ref[RAY_REF_MAX + 1]; /* the task's own return */
	uint64_t handed;          /* refs given to the caller */
	uint64_t end;             /* refs announced: handed..end are in hand */
	int done, code;
	char msg[1024];
};

int ray_submit_stream(ray_client *c, const ray_task_opts *o, const char *const *argv,
                      int backpressure, ray_stream **out, ray_err *err)
{
	ray_task_opts so = *o;
	ray_stream *s;
	int rc;

	*out = NULL;
	if (backpressure < 1 || backpressure > 1000000)
		return ray_seterr(err, RAY_EUSAGE, "bad backpressure %d: want 1..1000000", backpressure);
	if (o->num_returns > 1)
		return ray_seterr(err, RAY_EUSAGE, "a streaming task makes one object per line: no num_returns");
	if (!(s = calloc(1, sizeof(*s))))
		return ray_seterr(err, RAY_ERESOURCE, "out of memory");
	so.num_returns = 1;
	so.stream = backpressure;
	rc = ray_submit(c, &so, 1, &argv, NULL, &s->ref, NULL, 0, err);
	if (rc) {
		free(s);
		return rc;
	}
	if (strlen(s->ref) < 9) {
		free(s);
		return ray_seterr(err, RAY_EUNREACH, "malformed reply to submit");
	}
	s->c = c;
	s->tlen = strlen(s->ref) - 8;
	memcpy(s->task, s->ref, s->tlen);
	*out = s;
	return 0;
}

const char *ray_stream_task_ref(const ray_stream *s)
{
	return s->ref;
}

size_t ray_stream_buffered(const ray_stream *s)
{
	return (size_t)(s->end - s->handed);
}

/* Asks for the refs after the ones handed out, waiting for one.  The
 * reply names where its refs start (the node may have been told of more
 * by another reader: never fewer) and how many there are. */
static int fetch(ray_stream *s, int64_t timeout_ms, ray_err *err)
{
	cJSON *req = cJSON_CreateObject(), *reply = NULL;
	int64_t from, n;
	int rc;

	cJSON_AddStringToObject(req, "op", "stream_next");
	cJSON_AddStringToObject(req, "task_id", s->task);
	cJSON_AddNumberToObject(req, "from", (double)s->handed);
	rc = ray_call(s->c, req, NULL, 0, timeout_ms, &reply, NULL, err);
	cJSON_Delete(req);
	if (rc)
		return rc;
	from = rj_int(reply, "from", -1);
	n = rj_int(reply, "count", -1);
	/* Nothing and not the end would have us ask again at once, forever. */
	if (from < (int64_t)s->handed || n < 0 || n > STREAM_BATCH || from > (int64_t)STREAM_MAX - n ||
	    (!n && !rj_bool(reply, "done"))) {
		cJSON_Delete(reply);
		return ray_seterr(err, RAY_EUNREACH, "malformed reply to stream_next");
	}
	s->handed = (uint64_t)from;
	s->end = (uint64_t)(from + n);
	if (rj_bool(reply, "done")) {
		s->done = 1;
		s->code = (int)rj_int(reply, "code", 0);
		if (s->code > 0 || s->code < RAY_ENOTFOUND)
			s->code = RAY_EFAILED;
		snprintf(s->msg, sizeof(s->msg), "%s", rj_str(reply, "msg") ? rj_str(reply, "msg") : "failed");
	}
	cJSON_Delete(reply);
	return 0;
}

/* Written by hand: snprintf per ref was a tenth of ray-submit's CPU and
 * of the node's making of items. */
void ray_stream_ref(char ref[RAY_REF_MAX + 1], const char *task, size_t tlen, uint64_t k)
{
	static const char hex[] = "0123456789abcdef";
	uint32_t v = (uint32_t)(k + 2);
	int i;

	memcpy(ref, task, tlen);
	for (i = 7; i >= 0; i--, v >>= 4)
		ref[tlen + (size_t)i] = hex[v & 15];
	ref[tlen + 8] = '\0';
}

int ray_stream_next(ray_stream *s, char ref[RAY_REF_MAX + 1], int64_t timeout_ms, ray_err *err)
{
	int rc;

	while (s->handed == s->end) {
		if (s->done)
			return s->code ? ray_seterr(err, s->code, "%s", s->msg) : 0;
		if ((rc = fetch(s, timeout_ms, err)))
			return rc;
	}
	ray_stream_ref(ref, s->task, s->tlen, s->handed++);
	return 1;
}

void ray_stream_free(ray_stream *s)
{
	free(s);
}
