/* list.c: the read-only questions a tool asks the cluster (the summary,
 * the lists of nodes, tasks, actors, objects, groups and jobs, this node's
 * store, a task's log), so that no tool writes a request by hand and each
 * answer reaches the caller as JSON text it may print or parse. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rayint.h"

#define LIST_TIMEOUT_MS 30000

static cJSON *list_req(const char *op)
{
	cJSON *req = cJSON_CreateObject();

	if (req && !cJSON_AddStringToObject(req, "op", op)) {
		cJSON_Delete(req);
		return NULL;
	}
	return req;
}

/* Sends req (and frees it); *json receives the reply's member key as text,
 * or, when key is NULL, the whole reply less its "ok". */
static int list_call(ray_client *c, cJSON *req, const char *key, char **json, ray_err *err)
{
	cJSON *reply = NULL, *part;
	char op[64];
	int rc;

	*json = NULL;
	if (!req)
		return ray_seterr(err, RAY_EUNREACH, "out of memory");
	snprintf(op, sizeof(op), "%s", rj_str(req, "op") ? rj_str(req, "op") : "request");
	rc = ray_call(c, req, NULL, 0, LIST_TIMEOUT_MS, &reply, NULL, err);
	cJSON_Delete(req);
	if (!rc) {
		cJSON_DeleteItemFromObjectCaseSensitive(reply, "ok");
		part = key ? cJSON_GetObjectItemCaseSensitive(reply, key) : reply;
		if (cJSON_IsArray(part) || cJSON_IsObject(part))
			*json = cJSON_PrintUnformatted(part);
		if (!*json)
			rc = ray_seterr(err, RAY_EUNREACH, "malformed reply to %s", op);
	}
	cJSON_Delete(reply);
	return rc;
}

int ray_status(ray_client *c, char **json, ray_err *err)
{
	cJSON *req = list_req("status");

	if (req)
		cJSON_AddStringToObject(req, "what", "summary");
	return list_call(c, req, NULL, json, err);
}

/* The states each list knows, for --state: any other is a usage error. */
static const struct { const char *list, *states; } list_states[] = {
	{ "nodes", "ALIVE DEAD" },
	{ "tasks", "PENDING_ARGS_AVAIL PENDING_NODE_ASSIGNMENT SUBMITTED_TO_WORKER RUNNING FINISHED FAILED CANCELLED" },
	{ "actors", "PENDING_CREATION ALIVE RESTARTING DEAD" },
	{ "objects", "PENDING READY ERROR" },
	{ "pgs", "PENDING CREATED RESCHEDULING REMOVED" },
	{ "jobs", "PENDING RUNNING SUCCEEDED FAILED STOPPED" },
	{ "workers", "IDLE BUSY" },
};

static int state_known(const char *what, const char *st, ray_err *err)
{
	size_t i, n = strlen(st);

	for (i = 0; i < sizeof(list_states) / sizeof(list_states[0]); i++) {
		const char *s = list_states[i].states, *p;
		if (strcmp(what, list_states[i].list))
			continue;
		for (p = strstr(s, st); p; p = strstr(p + 1, st))
			if ((p == s || p[-1] == ' ') && (p[n] == ' ' || !p[n]))
				return 0;
		return ray_seterr(err, RAY_EUSAGE, "unknown %s state '%s': want one of %s", what, st, s);
	}
	return 0;
}

int ray_list(ray_client *c, const char *what, const char *state, int64_t limit, char **json,
             ray_err *err)
{
	cJSON *req;
	char st[64];
	size_t i;

	*json = NULL;
	if (!what || !*what)
		return ray_seterr(err, RAY_EUSAGE, "no list named");
	if (state && strlen(state) >= sizeof(st))
		return ray_seterr(err, RAY_EUSAGE, "unknown state '%.32s...'", state);
	if (state) {
		/* States are upper case; accept "running" as "RUNNING". */
		for (i = 0; state[i]; i++)
			st[i] = state[i] >= 'a' && state[i] <= 'z' ? (char)(state[i] - 'a' + 'A') : state[i];
		st[i] = '\0';
		if (!*st || state_known(what, st, err))
			return *st ? RAY_EUSAGE : ray_seterr(err, RAY_EUSAGE, "empty --state");
	}
	if (!(req = list_req("status")))
		return ray_seterr(err, RAY_EUNREACH, "out of memory");
	cJSON_AddStringToObject(req, "what", what);
	if (state)
		cJSON_AddStringToObject(req, "state", st);
	if (limit >= 0)
		cJSON_AddNumberToObject(req, "limit", (double)limit);
	return list_call(c, req, "items", json, err);
}

int ray_actor_list(ray_client *c, char **json, ray_err *err)
{
	return list_call(c, list_req("actor_list"), "items", json, err);
}

int ray_pg_list(ray_client *c, char **json, ray_err *err)
{
	return list_call(c, list_req("pg_list"), "items", json, err);
}

int ray_store_list(ray_client *c, char **json, ray_err *err)
{
	return list_call(c, list_req("store_ls"), "objects", json, err);
}

int ray_store_stats(ray_client *c, char **json, ray_err *err)
{
	return list_call(c, list_req("store_stats"), NULL, json, err);
}

/* Sends a logs request (frees it); *data gets the bytes, *reply (when
 * not NULL) the JSON part. */
static int logs_call(ray_client *c, cJSON *req, char **data, size_t *len, cJSON **reply,
                     ray_err *err)
{
	rbuf b = { 0 };
	int rc;

	*data = NULL;
	*len = 0;
	if (!req)
		return ray_seterr(err, RAY_EUNREACH, "out of memory");
	rc = ray_call(c, req, NULL, 0, LIST_TIMEOUT_MS, reply, &b, err);
	cJSON_Delete(req);
	if (!rc) {
		*data = b.p ? b.p : calloc(1, 1);
		*len = b.len;
		b.p = NULL;
		if (!*data)
			rc = ray_seterr(err, RAY_EUNREACH, "out of memory");
	}
	rbuf_release(&b);
	return rc;
}

int ray_logs(ray_client *c, const char *id, char **data, size_t *len, ray_err *err)
{
	cJSON *req = list_req("logs");

	if (req && !cJSON_AddStringToObject(req, "id", id)) {
		cJSON_Delete(req);
		req = NULL;
	}
	return logs_call(c, req, data, len, NULL, err);
}

int ray_logs_follow(ray_client *c, const char *id, int job, uint64_t offset, char **data,
                    size_t *len, ray_log_pos *pos, ray_err *err)
{
	cJSON *req = list_req(job ? "job_logs" : "logs"), *reply = NULL;
	const cJSON *code;
	int rc;

	memset(pos, 0, sizeof(*pos));
	pos->kept = 1;
	*data = NULL;
	*len = 0;
	if (job && (rc = ray_job_id_check(id, err))) {
		cJSON_Delete(req);
		return rc;
	}
	if (req && (!cJSON_AddStringToObject(req, job ? "job_id" : "id", id) ||
	            !cJSON_AddNumberToObject(req, "offset", (double)offset))) {
		cJSON_Delete(req);
		req = NULL;
	}
	rc = logs_call(c, req, data, len, &reply, err);
	if (!rc) {
		code = cJSON_GetObjectItemCaseSensitive(reply, "code");
		pos->ended = rj_bool(reply, "ended");
		pos->code = cJSON_IsNumber(code) ? (int)code->valuedouble : 0;
		pos->size = (uint64_t)rj_int(reply, "size", 0);
		if (job)
			pos->kept = rj_bool(reply, "kept");
		if (pos->code < 0 || pos->code > 10)
			pos->code = 1;
	}
	cJSON_Delete(reply);
	return rc;
}
