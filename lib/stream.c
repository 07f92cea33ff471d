/* stream.c: streaming returns from the client's side: ray_submit_stream
 * submits a task whose stdout lines become objects, and ray_stream_next
 * hands their refs out one by one, asking the node for the next batch
 * (stream_next, naming how many were handed out) only when the last one
 * is used up, so the node's backpressure counts what the caller has not
 * yet consumed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rayint.h"

#define STREAM_BATCH 4096

struct ray_stream {
	ray_client *c;            /* not owned */
	char task[RAY_ID_MAX + 1];
	char ref[RAY_REF_MAX + 1]; /* the task's own return */
	char (*refs)[RAY_REF_MAX + 1]; /* owned: the batch in hand */
	size_t n, i;
	uint64_t handed;          /* refs given to the caller */
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
	s = calloc(1, sizeof(*s));
	if (!s || !(s->refs = calloc(STREAM_BATCH, sizeof(*s->refs)))) {
		free(s);
		return ray_seterr(err, RAY_ERESOURCE, "out of memory");
	}
	so.num_returns = 1;
	so.stream = backpressure;
	rc = ray_submit(c, &so, 1, &argv, NULL, &s->ref, NULL, 0, err);
	if (rc) {
		free(s->refs);
		free(s);
		return rc;
	}
	s->c = c;
	snprintf(s->task, sizeof(s->task), "%.*s", (int)(strlen(s->ref) - 8), s->ref);
	*out = s;
	return 0;
}

const char *ray_stream_task_ref(const ray_stream *s)
{
	return s->ref;
}

size_t ray_stream_buffered(const ray_stream *s)
{
	return s->n - s->i;
}

/* Asks for the refs after the ones handed out, waiting for one. */
static int fetch(ray_stream *s, int64_t timeout_ms, ray_err *err)
{
	cJSON *req = cJSON_CreateObject(), *reply = NULL, *it;
	int rc;

	cJSON_AddStringToObject(req, "op", "stream_next");
	cJSON_AddStringToObject(req, "task_id", s->task);
	cJSON_AddNumberToObject(req, "from", (double)s->handed);
	rc = ray_call(s->c, req, NULL, 0, timeout_ms, &reply, NULL, err);
	cJSON_Delete(req);
	if (rc)
		return rc;
	s->n = s->i = 0;
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(reply, "refs")) {
		if (!cJSON_IsString(it) || !ray_ref_valid(it->valuestring) || s->n == STREAM_BATCH) {
			cJSON_Delete(reply);
			return ray_seterr(err, RAY_EUNREACH, "malformed reply to stream_next");
		}
		snprintf(s->refs[s->n++], RAY_REF_MAX + 1, "%s", it->valuestring);
	}
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

int ray_stream_next(ray_stream *s, char ref[RAY_REF_MAX + 1], int64_t timeout_ms, ray_err *err)
{
	int rc;

	while (s->i == s->n) {
		if (s->done)
			return s->code ? ray_seterr(err, s->code, "%s", s->msg) : 0;
		if ((rc = fetch(s, timeout_ms, err)))
			return rc;
	}
	snprintf(ref, RAY_REF_MAX + 1, "%s", s->refs[s->i++]);
	s->handed++;
	return 1;
}

void ray_stream_free(ray_stream *s)
{
	if (!s)
		return;
	free(s->refs);
	free(s);
}
