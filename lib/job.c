/* job.c: registering, ending, stopping and querying jobs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rayint.h"

int ray_job_id_check(const char *id, ray_err *err)
{
	size_t i, n = id ? strlen(id) : 0;

	if (n != 8)
		goto bad;
	for (i = 0; i < n; i++)
		if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
			goto bad;
	return 0;
bad:
	return ray_seterr(err, RAY_EUSAGE, "bad job id '%s': want 8 lowercase hex digits", id ? id : "");
}

/* This host and pid namespace ("BOOTID/pid:[INODE]"), so the node can tell
 * whether a driver's pid is one it may signal; "" when unknown. */
void ray_host_ident(char *buf, size_t len)
{
	char boot[64] = "", ns[64] = "";
	FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");
	ssize_t n;

	buf[0] = '\0';
	if (f) {
		if (!fgets(boot, sizeof(boot), f))
			boot[0] = '\0';
		fclose(f);
	}
	boot[strcspn(boot, "\n")] = '\0';
	n = readlink("/proc/self/ns/pid", ns, sizeof(ns) - 1);
	if (n <= 0 || !boot[0])
		return;
	ns[n] = '\0';
	snprintf(buf, len, "%s/%s", boot, ns);
}

static cJSON *job_req(const char *op, const char *id)
{
	cJSON *req = cJSON_CreateObject();

	cJSON_AddStringToObject(req, "op", op);
	if (id)
		cJSON_AddStringToObject(req, "job_id", id);
	return req;
}

char **ray_job_env(const char *const *env, const char *working_dir)
{
	size_t n = 0, i, k = 0, len = 1, pos;
	char **v, *names;

	while (env && env[n])
		n++;
	for (i = 0; i < n; i++)
		len += strcspn(env[i], "=") + 1;
	v = calloc(n + 3, sizeof(*v));
	names = malloc(len + 12);
	if (!v || !names) {
		free(v);
		free(names);
		return NULL;
	}
	pos = (size_t)snprintf(names, len + 12, "RAY_JOB_ENV=");
	for (i = 0; i < n; i++) {
		size_t nl = strcspn(env[i], "=");
		if (i)
			names[pos++] = ',';
		memcpy(names + pos, env[i], nl);
		pos += nl;
		v[k++] = strdup(env[i]);
	}
	names[pos] = '\0';
	if (n)
		v[k++] = names;
	else
		free(names);
	if (working_dir && *working_dir) {
		size_t wl = strlen(working_dir) + 21;
		if ((v[k] = malloc(wl)))
			snprintf(v[k++], wl, "RAY_JOB_WORKING_DIR=%s", working_dir);
	}
	for (i = 0; i < k; i++)
		if (!v[i]) {
			ray_strv_free(v);
			return NULL;
		}
	return v;
}

int ray_job_start(ray_client *c, const char *const *argv, const char *ns, int submit,
                  const char *cwd, const char *const *env, const char *working_dir,
                  char id[RAY_ID_MAX + 1], ray_err *err)
{
	cJSON *req, *a, *reply = NULL;
	const char *got;
	char **jenv;
	int rc;

	if (!argv || !argv[0] || !argv[0][0])
		return ray_seterr(err, RAY_EUSAGE, "a job wants a command");
	if (!(jenv = ray_job_env(env, working_dir)))
		return ray_seterr(err, RAY_ERESOURCE, "out of memory");
	req = job_req("job_start", NULL);
	a = cJSON_AddArrayToObject(req, "argv");
	for (; *argv; argv++)
		cJSON_AddItemToArray(a, cJSON_CreateString(*argv));
	if (ns)
		cJSON_AddStringToObject(req, "namespace", ns);
	if (submit)
		cJSON_AddBoolToObject(req, "submit", 1);
	if (cwd)
		cJSON_AddStringToObject(req, "cwd", cwd);
	if (jenv[0]) {
		a = cJSON_AddArrayToObject(req, "env");
		for (char **e = jenv; *e; e++)
			cJSON_AddItemToArray(a, cJSON_CreateString(*e));
	}
	ray_strv_free(jenv);
	if (working_dir && *working_dir)
		cJSON_AddStringToObject(req, "working_dir", working_dir);
	if (!submit) {
		char host[160];
		ray_host_ident(host, sizeof(host));
		if (host[0])
			cJSON_AddStringToObject(req, "host", host);
	}
	rc = ray_call(c, req, NULL, 0, 30000, &reply, NULL, err);
	cJSON_Delete(req);
	if (!rc) {
		got = rj_str(reply, "job_id");
		if (ray_job_id_check(got, NULL))
			rc = ray_seterr(err, RAY_EUNREACH, "malformed reply: no job id");
		else
			snprintf(id, RAY_ID_MAX + 1, "%s", got);
	}
	cJSON_Delete(reply);
	return rc;
}

static int job_call(ray_client *c, cJSON *req, cJSON **reply, ray_err *err)
{
	int rc = ray_call(c, req, NULL, 0, 30000, reply, NULL, err);

	cJSON_Delete(req);
	return rc;
}

int ray_job_set_pid(ray_client *c, const char *id, long pid, ray_err *err)
{
	cJSON *req;
	int rc;

	if ((rc = ray_job_id_check(id, err)))
		return rc;
	req = job_req("job_pid", id);
	cJSON_AddNumberToObject(req, "pid", (double)pid);
	return job_call(c, req, NULL, err);
}

int ray_job_end(ray_client *c, const char *id, int exit_code, int sig, ray_err *err)
{
	cJSON *req;
	int rc;

	if ((rc = ray_job_id_check(id, err)))
		return rc;
	req = job_req("job_end", id);
	cJSON_AddNumberToObject(req, "exit_code", exit_code);
	cJSON_AddNumberToObject(req, "signal", sig);
	return job_call(c, req, NULL, err);
}

int ray_job_stop(ray_client *c, const char *id, ray_err *err)
{
	int rc;

	if ((rc = ray_job_id_check(id, err)))
		return rc;
	return job_call(c, job_req("job_stop", id), NULL, err);
}

int ray_job_status(ray_client *c, const char *id, char **json, ray_err *err)
{
	cJSON *reply = NULL;
	int rc;

	*json = NULL;
	if ((rc = ray_job_id_check(id, err)))
		return rc;
	rc = job_call(c, job_req("job_status", id), &reply, err);
	if (!rc) {
		cJSON_DeleteItemFromObjectCaseSensitive(reply, "ok");
		*json = cJSON_PrintUnformatted(reply);
		if (!*json)
			rc = ray_seterr(err, RAY_EUNREACH, "out of memory");
	}
	cJSON_Delete(reply);
	return rc;
}

int ray_job_list(ray_client *c, char **json, ray_err *err)
{
	cJSON *reply = NULL, *items;
	int rc;

	*json = NULL;
	rc = job_call(c, job_req("job_list", NULL), &reply, err);
	if (!rc) {
		items = cJSON_GetObjectItemCaseSensitive(reply, "items");
		*json = cJSON_IsArray(items) ? cJSON_PrintUnformatted(items) : NULL;
		if (!*json)
			rc = ray_seterr(err, RAY_EUNREACH, "malformed reply to job_list");
	}
	cJSON_Delete(reply);
	return rc;
}

int ray_job_logs(ray_client *c, const char *id, char **data, size_t *len, int *kept,
                 ray_err *err)
{
	cJSON *reply = NULL, *req;
	rbuf b = { 0 };
	int rc;

	*data = NULL;
	*len = 0;
	if ((rc = ray_job_id_check(id, err)))
		return rc;
	req = job_req("job_logs", id);
	rc = ray_call(c, req, NULL, 0, 30000, &reply, &b, err);
	cJSON_Delete(req);
	if (!rc) {
		if (kept)
			*kept = rj_bool(reply, "kept");
		*data = b.p ? b.p : calloc(1, 1);
		*len = b.len;
		b.p = NULL;
		if (!*data)
			rc = ray_seterr(err, RAY_EUNREACH, "out of memory");
	}
	rbuf_release(&b);
	cJSON_Delete(reply);
	return rc;
}
