/* actor.c: creating, calling, killing and finding actors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rayint.h"

void ray_actor_opts_init(ray_actor_opts *o)
{
	memset(o, 0, sizeof(*o));
	ray_task_opts_init(&o->task);
	o->max_concurrency = 1;
}

static void add_ns(cJSON *req, const char *ns)
{
	const char *job = getenv("RAY_JOB_ID");

	if (!ns || !*ns)
		ns = getenv("RAY_NAMESPACE");
	if (ns && *ns)
		cJSON_AddStringToObject(req, "namespace", ns);
	if (job && *job)
		cJSON_AddStringToObject(req, "job_id", job);
}

static int copy_id(char id[RAY_ID_MAX + 1], const cJSON *reply, ray_err *err)
{
	const char *s = rj_str(reply, "actor_id");

	if (!s || !ray_ref_valid(s))
		return ray_seterr(err, RAY_EUNREACH, "malformed reply: no actor id");
	snprintf(id, RAY_ID_MAX + 1, "%s", s);
	return 0;
}

int ray_actor_create(ray_client *c, const ray_actor_opts *o, const char *const *argv,
                     char id[RAY_ID_MAX + 1], ray_err *err)
{
	cJSON *req = cJSON_CreateObject(), *opts, *a, *reply = NULL;
	int rc;

	if (!argv || !argv[0]) {
		cJSON_Delete(req);
		return ray_seterr(err, RAY_EUSAGE, "no command given");
	}
	cJSON_AddStringToObject(req, "op", "actor_create");
	opts = ray_task_opts_json(&o->task);
	/* As in Ray, an actor holds no CPU unless asked to. */
	if (!o->task.cpus_set)
		cJSON_ReplaceItemInObject(opts, "cpus", cJSON_CreateNumber(0));
	cJSON_AddItemToObject(req, "opts", opts);
	a = cJSON_AddArrayToObject(req, "argv");
	for (; *argv; argv++)
		cJSON_AddItemToArray(a, cJSON_CreateString(*argv));
	if (o->name)
		cJSON_AddStringToObject(req, "name", o->name);
	add_ns(req, o->namespace_);
	cJSON_AddBoolToObject(req, "get_if_exists", o->get_if_exists);
	cJSON_AddBoolToObject(req, "detached", o->detached);
	cJSON_AddNumberToObject(req, "max_restarts", o->max_restarts);
	cJSON_AddNumberToObject(req, "max_task_retries", o->max_task_retries);
	cJSON_AddNumberToObject(req, "max_concurrency", o->max_concurrency > 0 ? o->max_concurrency : 1);
	if (o->protocol)
		cJSON_AddStringToObject(req, "protocol", o->protocol);
	rc = ray_call(c, req, NULL, 0, -1, &reply, NULL, err);
	cJSON_Delete(req);
	if (!rc)
		rc = copy_id(id, reply, err);
	if (!rc && rj_str(reply, "warning"))
		ray_seterr(err, 0, "%s", rj_str(reply, "warning"));
	cJSON_Delete(reply);
	return rc;
}

/* Sends an actor_call request of one or more calls and copies the n refs
 * of its reply. */
static int send_calls(ray_client *c, cJSON *req, size_t n, char (*refs)[RAY_REF_MAX + 1],
                      ray_err *err)
{
	cJSON *reply = NULL, *arr, *r;
	size_t k = 0;
	int rc = ray_call(c, req, NULL, 0, -1, &reply, NULL, err);

	cJSON_Delete(req);
	if (!rc) {
		arr = cJSON_GetObjectItemCaseSensitive(reply, "refs");
		if (cJSON_GetArraySize(arr) != (int)n)
			rc = ray_seterr(err, RAY_EUNREACH, "malformed reply to actor call");
		cJSON_ArrayForEach(r, arr) {
			if (rc || !cJSON_IsString(r) || !ray_ref_valid(r->valuestring)) {
				rc = rc ? rc : ray_seterr(err, RAY_EUNREACH, "malformed reply to actor call");
				break;
			}
			snprintf(refs[k++], RAY_REF_MAX + 1, "%s", r->valuestring);
		}
	}
	cJSON_Delete(reply);
	return rc;
}

/* A call object: the method, its arguments, how many results. */
static cJSON *call_json(const char *method, size_t nargs, const char *const *args, int nret)
{
	cJSON *call = cJSON_CreateObject(), *a;
	size_t j;

	cJSON_AddStringToObject(call, "method", method);
	if (nret > 0)
		cJSON_AddNumberToObject(call, "num_returns", nret);
	a = cJSON_AddArrayToObject(call, "args");
	for (j = 0; j < nargs; j++)
		cJSON_AddItemToArray(a, cJSON_CreateString(args[j]));
	return call;
}

static cJSON *call_req(const char *actor)
{
	cJSON *req = cJSON_CreateObject();

	cJSON_AddStringToObject(req, "op", "actor_call");
	cJSON_AddStringToObject(req, "actor", actor);
	add_ns(req, NULL);
	return req;
}

int ray_actor_call_many(ray_client *c, const char *actor, size_t n,
                        const char *const *methods, const size_t *nargs,
                        const char *const *const *argss,
                        char (*refs)[RAY_REF_MAX + 1], ray_err *err)
{
	cJSON *req = call_req(actor), *calls = cJSON_AddArrayToObject(req, "calls");
	size_t i;

	for (i = 0; i < n; i++)
		cJSON_AddItemToArray(calls, call_json(methods[i], nargs[i], argss[i], 0));
	return send_calls(c, req, n, refs, err);
}

int ray_actor_call(ray_client *c, const char *actor, const char *method, size_t nargs,
                   const char *const *args, int num_returns,
                   char (*refs)[RAY_REF_MAX + 1], ray_err *err)
{
	cJSON *req = call_req(actor), *calls = cJSON_AddArrayToObject(req, "calls");
	int nr = num_returns > 0 ? num_returns : 1;

	cJSON_AddItemToArray(calls, call_json(method, nargs, args, nr));
	return send_calls(c, req, (size_t)nr, refs, err);
}

int ray_actor_kill(ray_client *c, const char *actor, int restart, ray_err *err)
{
	cJSON *req = cJSON_CreateObject();
	int rc;

	cJSON_AddStringToObject(req, "op", "actor_kill");
	cJSON_AddStringToObject(req, "actor", actor);
	cJSON_AddBoolToObject(req, "restart", restart);
	add_ns(req, NULL);
	rc = ray_call(c, req, NULL, 0, -1, NULL, NULL, err);
	cJSON_Delete(req);
	return rc;
}

int ray_actor_get(ray_client *c, const char *name, const char *ns, char id[RAY_ID_MAX + 1],
                  ray_err *err)
{
	cJSON *req = cJSON_CreateObject(), *reply = NULL;
	int rc;

	cJSON_AddStringToObject(req, "op", "actor_get");
	cJSON_AddStringToObject(req, "name", name);
	add_ns(req, ns);
	rc = ray_call(c, req, NULL, 0, -1, &reply, NULL, err);
	cJSON_Delete(req);
	if (!rc)
		rc = copy_id(id, reply, err);
	cJSON_Delete(reply);
	return rc;
}
