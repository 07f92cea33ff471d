/* task.c: submitting command tasks (one or a batch per round trip) and
 * cancelling them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rayint.h"

void ray_task_opts_init(ray_task_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->max_retries = -1;
	o->bundle = -1;
}

/* A pooled task's line, METHOD<TAB>ARG..., as its words. */
static cJSON *tab_words(const char *line)
{
	cJSON *a = cJSON_CreateArray();
	const char *p = line;

	for (;;) {
		const char *tab = strchr(p, '\t');
		size_t n = tab ? (size_t)(tab - p) : strlen(p);
		char *w = malloc(n + 1);
		if (!w) {
			cJSON_Delete(a);
			return NULL;
		}
		memcpy(w, p, n);
		w[n] = '\0';
		cJSON_AddItemToArray(a, cJSON_CreateString(w));
		free(w);
		if (!tab)
			return a;
		p = tab + 1;
	}
}

static cJSON *str_array(const char *const *v)
{
	cJSON *a = cJSON_CreateArray();

	for (; v && *v; v++)
		cJSON_AddItemToArray(a, cJSON_CreateString(*v));
	return a;
}

/* Whether list (K=V strings) sets name. */
static int env_sets(const char *const *list, const char *name, size_t len)
{
	for (; list && *list; list++)
		if (!strncmp(*list, name, len) && (*list)[len] == '=')
			return 1;
	return 0;
}

/* The job's defaults (ray-job --env, --working-dir), which its driver
 * and tasks carry in RAY_JOB_ENV (the names, comma-separated; their
 * values are in the environment) and RAY_JOB_WORKING_DIR: added to a's
 * env unless the task sets them itself, and passed on, so that tasks
 * submitted by tasks inherit them too. */
static void job_env_defaults(const ray_task_opts *o, cJSON *env)
{
	const char *names = getenv("RAY_JOB_ENV"), *wd = getenv("RAY_JOB_WORKING_DIR"), *p;
	char kv[8192];

	for (p = names; p && *p;) {
		size_t len = strcspn(p, ",");
		char name[256];
		const char *v;
		if (len && len < sizeof(name)) {
			memcpy(name, p, len);
			name[len] = '\0';
			v = getenv(name);
			if (v && !env_sets(o->env, name, len) &&
			    (size_t)snprintf(kv, sizeof(kv), "%s=%s", name, v) < sizeof(kv))
				cJSON_AddItemToArray(env, cJSON_CreateString(kv));
		}
		p += len;
		if (*p)
			p++;
	}
	if (names && *names && !env_sets(o->env, "RAY_JOB_ENV", 11) &&
	    (size_t)snprintf(kv, sizeof(kv), "RAY_JOB_ENV=%s", names) < sizeof(kv))
		cJSON_AddItemToArray(env, cJSON_CreateString(kv));
	if (wd && *wd && !env_sets(o->env, "RAY_JOB_WORKING_DIR", 19) &&
	    (size_t)snprintf(kv, sizeof(kv), "RAY_JOB_WORKING_DIR=%s", wd) < sizeof(kv))
		cJSON_AddItemToArray(env, cJSON_CreateString(kv));
}

/* The option part of a task spec, shared by tasks and actors. */
cJSON *ray_task_opts_json(const ray_task_opts *o)
{
	cJSON *j = cJSON_CreateObject(), *a;
	const char *job = getenv("RAY_JOB_ID"), *wd = o->working_dir;
	int i;

	cJSON_AddNumberToObject(j, "cpus", (double)(o->cpus_set ? o->cpus : 10000));
	if (o->gpus)
		cJSON_AddNumberToObject(j, "gpus", (double)o->gpus);
	if (o->memory)
		cJSON_AddNumberToObject(j, "memory", (double)o->memory);
	if (o->resources && *o->resources)
		cJSON_AddItemToObject(j, "resources", str_array(o->resources));
	cJSON_AddNumberToObject(j, "num_returns", o->num_returns > 0 ? o->num_returns : 1);
	cJSON_AddNumberToObject(j, "max_retries", o->max_retries >= 0 ? o->max_retries : 3);
	if (o->retry_exceptions)
		cJSON_AddBoolToObject(j, "retry_exceptions", 1);
	if (o->n_retry_exit_codes) {
		a = cJSON_AddArrayToObject(j, "retry_exit_codes");
		for (i = 0; i < o->n_retry_exit_codes; i++)
			cJSON_AddItemToArray(a, cJSON_CreateNumber(o->retry_exit_codes[i]));
	}
	if (o->name)
		cJSON_AddStringToObject(j, "name", o->name);
	a = str_array(o->env);
	job_env_defaults(o, a);
	if (cJSON_GetArraySize(a))
		cJSON_AddItemToObject(j, "env", a);
	else
		cJSON_Delete(a);
	if (!wd || !*wd)
		wd = getenv("RAY_JOB_WORKING_DIR");
	if (wd && *wd)
		cJSON_AddStringToObject(j, "working_dir", wd);
	if (o->stream > 0)
		cJSON_AddNumberToObject(j, "stream", o->stream);
	if (o->stdin_ref)
		cJSON_AddStringToObject(j, "stdin", o->stdin_ref);
	if (o->strategy)
		cJSON_AddStringToObject(j, "strategy", o->strategy);
	if (o->node)
		cJSON_AddStringToObject(j, "node", o->node);
	if (o->labels && *o->labels)
		cJSON_AddItemToObject(j, "labels", str_array(o->labels));
	if (o->prefer_label)
		cJSON_AddStringToObject(j, "prefer_label", o->prefer_label);
	if (o->pg) {
		cJSON_AddStringToObject(j, "pg", o->pg);
		cJSON_AddNumberToObject(j, "bundle", o->bundle);
	}
	if (job && *job)
		cJSON_AddStringToObject(j, "job_id", job);
	if (getenv("RAY_TASK_ID"))
		cJSON_AddStringToObject(j, "parent", getenv("RAY_TASK_ID"));
	else if (getenv("RAY_WORKER_ID"))   /* a pooled worker: its node knows the call */
		cJSON_AddStringToObject(j, "parent", getenv("RAY_WORKER_ID"));
	else if (getenv("RAY_ACTOR_ID"))    /* an actor: the call it serves, likewise */
		cJSON_AddStringToObject(j, "parent", getenv("RAY_ACTOR_ID"));
	if (o->worker)
		cJSON_AddStringToObject(j, "worker", o->worker);
	if (o->protocol)
		cJSON_AddStringToObject(j, "protocol", o->protocol);
	return j;
}

/* One submit request for tasks [0, n); *used says how many fit in it. */
static int submit_part(ray_client *c, const ray_task_opts *o, size_t n,
                       const char *const *const *argvs, const char *const *cmds,
                       char (*refs)[RAY_REF_MAX + 1], char *warning, size_t warnlen,
                       size_t *used, ray_err *err)
{
	cJSON *req, *reply = NULL, *arr, *r;
	size_t i, bytes = 0, nr = (size_t)(o->num_returns > 0 ? o->num_returns : 1);
	int rc;

	req = cJSON_CreateObject();
	cJSON_AddStringToObject(req, "op", "submit");
	cJSON_AddItemToObject(req, "opts", ray_task_opts_json(o));
	arr = cJSON_AddArrayToObject(req, "tasks");
	/* As many as fit a request of RAY_BATCH_MAX tasks and _BYTES. */
	for (i = 0; i < n && i < RAY_BATCH_MAX && (i == 0 || bytes < RAY_BATCH_BYTES); i++) {
		if (argvs) {
			const char *const *a;
			if (!argvs[i] || !argvs[i][0]) {
				cJSON_Delete(req);
				return ray_seterr(err, RAY_EUSAGE, "empty command");
			}
			for (a = argvs[i]; *a; a++)
				bytes += strlen(*a) + 4;
			cJSON_AddItemToArray(arr, str_array(argvs[i]));
		} else if (o->worker) {
			cJSON_AddItemToArray(arr, tab_words(cmds[i]));
		} else {
			bytes += strlen(cmds[i]) + 4;
			cJSON_AddItemToArray(arr, cJSON_CreateString(cmds[i]));
		}
	}
	*used = i;
	rc = ray_call(c, req, NULL, 0, -1, &reply, NULL, err);
	cJSON_Delete(req);
	if (!rc) {
		const char *w = rj_str(reply, "warning");
		arr = cJSON_GetObjectItemCaseSensitive(reply, "refs");
		if (cJSON_GetArraySize(arr) != (int)(*used * nr))
			rc = ray_seterr(err, RAY_EUNREACH, "malformed reply to submit");
		i = 0;
		cJSON_ArrayForEach(r, arr) {
			if (rc)
				break;
			if (!cJSON_IsString(r) || !ray_ref_valid(r->valuestring))
				rc = ray_seterr(err, RAY_EUNREACH, "malformed reply to submit");
			else
				snprintf(refs[i++], RAY_REF_MAX + 1, "%s", r->valuestring);
		}
		if (w && warning && warnlen && !warning[0])
			snprintf(warning, warnlen, "%s", w);
	}
	cJSON_Delete(reply);
	return rc;
}

int ray_submit(ray_client *c, const ray_task_opts *o, size_t n,
               const char *const *const *argvs, const char *const *cmds,
               char (*refs)[RAY_REF_MAX + 1], char *warning, size_t warnlen,
               ray_err *err)
{
	size_t done = 0, used = 0, nr = (size_t)(o->num_returns > 0 ? o->num_returns : 1);
	int rc = 0;

	if (warning && warnlen)
		warning[0] = '\0';
	if (o->stdin_ref && !ray_ref_valid(o->stdin_ref))
		return ray_seterr(err, RAY_EUSAGE, "malformed ref '%s'", o->stdin_ref);
	/* A long batch goes as several requests; the tasks of the ones sent
	 * before a failure were submitted (their refs are filled in). */
	while (!rc && (done < n || n == 0)) {
		rc = submit_part(c, o, n - done, argvs ? argvs + done : NULL, cmds ? cmds + done : NULL,
		                 refs + done * nr, warning, warnlen, &used, err);
		done += used;
		if (n == 0)
			break;
	}
	return rc;
}

int ray_cancel(ray_client *c, size_t n, const char *const *refs, int flags, ray_err *err)
{
	cJSON *req, *a;
	size_t i, done;
	int rc = 0;

	for (i = 0; i < n; i++)
		if (!ray_ref_valid(refs[i]))
			return ray_seterr(err, RAY_EUSAGE, "malformed ref '%s'", refs[i]);
	for (done = 0; done < n && !rc; done = i) {
		req = cJSON_CreateObject();
		cJSON_AddStringToObject(req, "op", "cancel");
		a = cJSON_AddArrayToObject(req, "refs");
		for (i = done; i < n && i - done < RAY_BATCH_MAX; i++)
			cJSON_AddItemToArray(a, cJSON_CreateString(refs[i]));
		cJSON_AddBoolToObject(req, "force", (flags & RAY_CANCEL_FORCE) != 0);
		if (flags & RAY_CANCEL_NO_RECURSIVE)
			cJSON_AddBoolToObject(req, "no_recursive", 1);
		rc = ray_call(c, req, NULL, 0, -1, NULL, NULL, err);
		cJSON_Delete(req);
	}
	return rc;
}
