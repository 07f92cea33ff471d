/*
 * job.c: jobs.  A job is a driver command and what it makes: objects put by
 * it or by its tasks (they carry its id) and its actors.  `ray-job run`
 * registers a job over its connection, runs the driver itself and reports
 * its end; if that connection drops first, the job ends as FAILED.
 * `ray-job submit` has this daemon run the driver, detached in its own
 * process group, with stdout and stderr kept in logs/job-ID.log.  When a
 * job ends, its objects are freed (store_free_job) and its non-detached
 * actors stopped (actor_job_ended).  Job ids are 8 hex digits; "00000000"
 * is the default job of work done outside any job.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dlist.h"
#include "node.h"
#include "actor.h"
#include "job.h"
#include "state.h"
#include "launch.h"
#include "logread.h"
#include "server.h"
#include "store.h"
#include "workdir.h"

#define JOB_ID_LEN 8
#define MAX_JOBS 10000
#define MAX_ARGV 4096
#define STOP_GRACE_MS 5000

extern char **environ;

enum { J_PENDING, J_RUNNING, J_SUCCEEDED, J_FAILED, J_STOPPED };

typedef struct job {
	char id[JOB_ID_LEN + 1];
	int status;
	char *entrypoint;         /* owned */
	char *ns;                 /* owned; NULL when not given */
	char *msg;                /* owned; why it failed, or NULL */
	int64_t start_ms, end_ms; /* wall clock; end 0 while it runs */
	int submitted;            /* the driver is our child (submit) */
	conn *c;                  /* run: the client's connection, NULL once gone */
	int local;                /* run: the client is on this host */
	int pid;                  /* the driver, 0 when unknown or gone */
	int stop_requested;
	int exit_code, term_signal, exited;
	uv_process_t proc;
	int proc_live;
	uv_timer_t kill_timer;
	int timer_live;
	size_t objects_freed;
	struct job *prev, *next;  /* creation order */
} job;

static job *jhead, *jtail;
static size_t njobs;

static const char *status_name(int s)
{
	static const char *names[] = { "PENDING", "RUNNING", "SUCCEEDED", "FAILED", "STOPPED" };
	return s >= 0 && s <= J_STOPPED ? names[s] : "UNKNOWN";
}

static job *job_find(const char *id)
{
	job *j;

	if (!id)
		return NULL;
	for (j = jhead; j; j = j->next)
		if (!strcmp(j->id, id))
			return j;
	return NULL;
}

static void job_unlink(job *j)
{
	DL_REMOVE(jhead, jtail, j, prev, next);
	njobs--;
}

static void job_release(job *j)
{
	free(j->entrypoint);
	free(j->ns);
	free(j->msg);
	free(j);
}

static int job_live(const job *j)
{
	return j->status == J_PENDING || j->status == J_RUNNING;
}

/* Keeps the table bounded: drops the oldest ended jobs. */
static void prune(void)
{
	job *j = jhead, *next;

	while (njobs > MAX_JOBS && j) {
		next = j->next;
		if (!job_live(j) && !j->proc_live && !j->timer_live) {
			if (state_on())
				state_del("job", j->id);
			job_unlink(j);
			job_release(j);
		}
		j = next;
	}
}

static job *job_new(void)
{
	job *j = calloc(1, sizeof(*j));

	if (!j)
		return NULL;
	do
		ray_random_hex(j->id, JOB_ID_LEN / 2);
	while (!strcmp(j->id, "00000000") || job_find(j->id));
	j->start_ms = ray_wall_ms();
	DL_APPEND(jhead, jtail, j, prev, next);
	njobs++;
	prune();
	return j;
}

static void job_save(const job *j);

/* The job is over: free what it made, stop its actors. */
static void job_finish(job *j, int status, const char *why)
{
	if (!job_live(j))
		return;
	j->status = status;
	j->end_ms = ray_wall_ms();
	if (why && !j->msg)
		j->msg = strdup(why);
	j->c = NULL;
	if (N->stopping)
		return;
	job_save(j);
	j->objects_freed = store_free_job(j->id);
	actor_job_ended(j->id);
	node_log("job %s %s (%zu objects freed)", j->id, status_name(status), j->objects_freed);
}

static int exit_status(const job *j)
{
	if (j->stop_requested)
		return J_STOPPED;
	return j->exit_code == 0 && j->term_signal == 0 ? J_SUCCEEDED : J_FAILED;
}

static cJSON *job_json(const job *j)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "job_id", j->id);
	cJSON_AddStringToObject(o, "status", status_name(j->status));
	cJSON_AddStringToObject(o, "entrypoint", j->entrypoint ? j->entrypoint : "");
	cJSON_AddNumberToObject(o, "start_time", (double)j->start_ms);
	if (j->end_ms)
		cJSON_AddNumberToObject(o, "end_time", (double)j->end_ms);
	else
		cJSON_AddNullToObject(o, "end_time");
	cJSON_AddStringToObject(o, "type", j->submitted ? "SUBMISSION" : "DRIVER");
	if (j->ns)
		cJSON_AddStringToObject(o, "namespace", j->ns);
	else
		cJSON_AddNullToObject(o, "namespace");
	if (j->pid > 0)
		cJSON_AddNumberToObject(o, "driver_pid", j->pid);
	if (j->exited)
		cJSON_AddNumberToObject(o, "exit_code", j->term_signal ? 128 + j->term_signal : j->exit_code);
	else
		cJSON_AddNullToObject(o, "exit_code");
	if (j->msg)
		cJSON_AddStringToObject(o, "message", j->msg);
	cJSON_AddStringToObject(o, "node_id", N->id);
	return o;
}

/* The head writes a job's record before it answers for the change. */
static void job_save(const job *j)
{
	cJSON *o;

	if (!state_on())
		return;
	o = job_json(j);
	state_put("job", j->id, o);
	cJSON_Delete(o);
}

static void on_saved_job(void *ud, const char *key, const cJSON *v)
{
	const char *st = rj_str(v, "status"), *e = rj_str(v, "entrypoint"), *ns = rj_str(v, "namespace");
	const char *msg = rj_str(v, "message");
	const cJSON *ec = cJSON_GetObjectItemCaseSensitive(v, "exit_code");
	job *j;
	int k;

	(void)ud;
	if (strlen(key) != JOB_ID_LEN || job_find(key) || !e || !(j = calloc(1, sizeof(*j))))
		return;
	snprintf(j->id, sizeof(j->id), "%s", key);
	j->status = J_FAILED;
	for (k = 0; k <= J_STOPPED; k++)
		if (st && !strcmp(st, status_name(k)))
			j->status = k;
	j->entrypoint = strdup(e);
	j->ns = ns ? strdup(ns) : NULL;
	j->start_ms = rj_int(v, "start_time", 0);
	j->end_ms = rj_int(v, "end_time", 0);
	j->submitted = st && rj_str(v, "type") && !strcmp(rj_str(v, "type"), "SUBMISSION");
	if (cJSON_IsNumber(ec)) {
		j->exited = 1;
		j->exit_code = (int)ec->valuedouble;
	}
	j->msg = msg ? strdup(msg) : NULL;
	/* Its driver talked to the head that is gone (or was its child). */
	if (job_live(j)) {
		j->status = J_FAILED;
		j->end_ms = ray_wall_ms();
		free(j->msg);
		j->msg = strdup("the head stopped while the job ran");
		job_save(j);
	}
	DL_APPEND(jhead, jtail, j, prev, next);
	njobs++;
}

int jobs_restore(void)
{
	size_t before = njobs;
	int rc = state_scan("job", on_saved_job, NULL);

	if (!rc && njobs > before)
		node_log("resumed %zu jobs from the state store", njobs - before);
	prune();
	return rc;
}

void jobs_json(cJSON *arr, const char *state, int64_t limit)
{
	job *j;
	size_t n = 0, skip = 0;

	for (j = jhead; j; j = j->next)
		if (!state || !strcmp(state, status_name(j->status)))
			n++;
	if (limit >= 0 && (size_t)limit < n)
		skip = n - (size_t)limit;
	for (j = jhead; j; j = j->next) {
		if (state && strcmp(state, status_name(j->status)))
			continue;
		if (skip) {
			skip--;
			continue;
		}
		cJSON_AddItemToArray(arr, job_json(j));
	}
}

static char *join_argv(const cJSON *argv)
{
	const cJSON *it;
	rbuf b = { 0 };

	cJSON_ArrayForEach(it, argv) {
		if (b.len)
			rbuf_append(&b, " ", 1);
		rbuf_append(&b, it->valuestring, strlen(it->valuestring));
	}
	rbuf_append(&b, "", 1);
	return b.p;
}

/* ---- drivers run by this daemon (submit) ---- */

/* The driver's environment: ours less RAY_*, its job's RAY_*, then the
 * job's defaults (user, from the submission: K=V, RAY_JOB_ENV,
 * RAY_JOB_WORKING_DIR) that its tasks inherit through libray. */
static char **driver_env(const job *j, char **user)
{
	size_t ne = 0, nu = 0, i = 0, k;
	char **env, path[PATH_MAX + 64];

	while (environ[ne])
		ne++;
	while (user && user[nu])
		nu++;
	env = calloc(ne + nu + 8, sizeof(*env));
	if (!env)
		return NULL;
	for (k = 0; k < ne; k++)
		if (strncmp(environ[k], "RAY_", 4))
			env[i++] = strdup(environ[k]);
	snprintf(path, sizeof(path), "%s/node.sock", N->session);
	env[i++] = env_kv("RAY_ADDRESS", path);
	snprintf(path, sizeof(path), "%s/token", N->session);
	env[i++] = env_kv("RAY_TOKEN_FILE", path);
	env[i++] = env_kv("RAY_TMPDIR", ray_tmpdir());
	env[i++] = env_kv("RAY_NODE_ID", N->id);
	env[i++] = env_kv("RAY_JOB_ID", j->id);
	if (j->ns)
		env[i++] = env_kv("RAY_NAMESPACE", j->ns);
	for (k = 0; k < nu; k++)
		env[i++] = strdup(user[k]);
	env[i] = NULL;
	return env;
}

static void on_timer_closed(uv_handle_t *h)
{
	job *j = h->data;

	j->timer_live = 0;
}

static void on_driver_closed(uv_handle_t *h)
{
	job *j = h->data;

	j->proc_live = 0;
	N->nprocs--;
	if (j->timer_live && !uv_is_closing((uv_handle_t *)&j->kill_timer)) {
		uv_timer_stop(&j->kill_timer);
		uv_close((uv_handle_t *)&j->kill_timer, on_timer_closed);
	}
	if (N->stopping && N->nprocs == 0)
		node_shutdown();
}

static void on_driver_exit(uv_process_t *p, int64_t status, int sig)
{
	job *j = p->data;

	j->exit_code = (int)status;
	j->term_signal = sig;
	j->exited = 1;
	j->pid = 0;
	uv_close((uv_handle_t *)p, on_driver_closed);
	job_finish(j, exit_status(j), NULL);
}

static void on_kill_timer(uv_timer_t *t)
{
	job *j = t->data;

	if (j->pid > 0)
		kill(-j->pid, SIGKILL);
}

static void job_log_path(const job *j, char *buf, size_t len)
{
	snprintf(buf, len, "%s/logs/job-%s.log", N->session, j->id);
}

static int driver_spawn(job *j, const cJSON *argv, const char *cwd, char **user_env, ray_err *err)
{
	uv_process_options_t po;
	uv_stdio_container_t io[3];
	char path[PATH_MAX + 64], **args, **env;
	const cJSON *it;
	struct stat sb;
	int fds[2], rc, i = 0;

	args = calloc((size_t)cJSON_GetArraySize(argv) + 1, sizeof(*args));
	env = driver_env(j, user_env);
	job_log_path(j, path, sizeof(path));
	fds[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
	fds[1] = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (!args || !env || fds[0] < 0 || fds[1] < 0) {
		rc = ray_seterr(err, RAY_ERESOURCE, "cannot start the driver: %s", strerror(errno));
		goto out;
	}
	cJSON_ArrayForEach(it, argv)
		args[i++] = it->valuestring;
	if (!cwd || stat(cwd, &sb) || !S_ISDIR(sb.st_mode))
		cwd = N->session;
	memset(&po, 0, sizeof(po));
	po.exit_cb = on_driver_exit;
	po.file = args[0];
	po.args = args;
	po.env = env;
	po.cwd = cwd;
	po.flags = UV_PROCESS_DETACHED;
	po.stdio_count = 3;
	io[0].flags = UV_INHERIT_FD;
	io[0].data.fd = fds[0];
	io[1].flags = io[2].flags = UV_INHERIT_FD;
	io[1].data.fd = io[2].data.fd = fds[1];
	po.stdio = io;
	j->proc.data = j;
	rc = uv_spawn(N->loop, &j->proc, &po);
	if (rc) {
		if (!uv_is_closing((uv_handle_t *)&j->proc)) {
			j->proc_live = 1;
			N->nprocs++;
			uv_close((uv_handle_t *)&j->proc, on_driver_closed);
		}
		rc = ray_seterr(err, RAY_EUSAGE, "cannot run '%s': %s", args[0], uv_strerror(rc));
		goto out;
	}
	j->proc_live = 1;
	N->nprocs++;
	j->pid = j->proc.pid;
	uv_timer_init(N->loop, &j->kill_timer);
	j->kill_timer.data = j;
	j->timer_live = 1;
out:
	if (fds[0] >= 0)
		close(fds[0]);
	if (fds[1] >= 0)
		close(fds[1]);
	free(args);
	if (env) {
		char **e;
		for (e = env; *e; e++)
			free(*e);
		free(env);
	}
	return rc;
}

/* ---- requests ---- */

static int ns_valid(const char *s)
{
	size_t i;

	if (!s || !*s || strlen(s) > 256)
		return 0;
	for (i = 0; s[i]; i++)
		if ((unsigned char)s[i] < 32 || s[i] == 127)
			return 0;
	return 1;
}

static void jop_start(conn *c, uint32_t id, cJSON *req)
{
	const cJSON *argv = cJSON_GetObjectItemCaseSensitive(req, "argv"), *it;
	const char *ns = rj_str(req, "namespace");
	int submit = rj_bool(req, "submit"), n = cJSON_GetArraySize(argv), rc;
	const char *wd = rj_str(req, "working_dir"), *cwd = rj_str(req, "cwd");
	const cJSON *envj = cJSON_GetObjectItemCaseSensitive(req, "env");
	ray_err err = { 0, "" };
	char **user_env = NULL;
	cJSON *r;
	job *j;

	if (!cJSON_IsArray(argv) || n < 1 || n > MAX_ARGV) {
		conn_reply_err(c, id, RAY_EUSAGE, "a job wants a command");
		return;
	}
	cJSON_ArrayForEach(it, argv)
		if (!cJSON_IsString(it) || (it == argv->child && !*it->valuestring)) {
			conn_reply_err(c, id, RAY_EUSAGE, "the command's words must be strings");
			return;
		}
	if (cJSON_GetObjectItemCaseSensitive(req, "namespace") && !ns_valid(ns)) {
		conn_reply_err(c, id, RAY_EUSAGE, "bad namespace: want 1..256 printable characters");
		return;
	}
	if ((wd && workdir_check(wd, &err)) ||
	    (envj && (cJSON_GetArraySize(envj) > 1024 || !(user_env = json_strv(envj, 1, &err))))) {
		conn_reply_err(c, id, err.code ? err.code : RAY_EUSAGE, "%s", err.msg[0] ? err.msg : "too many --env");
		return;
	}
	/* A submitted driver runs in the job's working directory when it is
	 * one of ours (an archive is for its tasks and actors only). */
	if (wd && !ray_ref_valid(wd))
		cwd = wd;
	j = job_new();
	if (!j || !(j->entrypoint = join_argv(argv)) || (ns && !(j->ns = strdup(ns)))) {
		ray_strv_free(user_env);
		conn_reply_err(c, id, RAY_ERESOURCE, "out of memory");
		if (j) {
			job_unlink(j);
			job_release(j);
		}
		return;
	}
	j->submitted = submit;
	if (submit) {
		rc = driver_spawn(j, argv, cwd, user_env, &err);
		ray_strv_free(user_env);
		if (rc) {
			j->status = J_RUNNING;
			job_finish(j, J_FAILED, err.msg);
			conn_reply_err(c, id, err.code, "job %s: %s", j->id, err.msg);
			return;
		}
	} else {
		char host[160];
		const char *theirs = rj_str(req, "host");
		ray_strv_free(user_env);   /* ray-job run gives its driver these itself */
		ray_host_ident(host, sizeof(host));
		j->c = c;
		j->local = host[0] && theirs && !strcmp(host, theirs);
	}
	j->status = J_RUNNING;
	job_save(j);
	node_log("job %s started: %s", j->id, j->entrypoint);
	r = cJSON_CreateObject();
	cJSON_AddStringToObject(r, "job_id", j->id);
	conn_reply(c, id, r, NULL, 0);
}

static job *req_job(conn *c, uint32_t id, cJSON *req)
{
	const char *jid = rj_str(req, "job_id");
	job *j = job_find(jid);

	if (!j)
		conn_reply_err(c, id, RAY_ENOTFOUND, "unknown job '%.80s': see ray-job list",
		               jid ? jid : "");
	return j;
}

/* A run driver's pid, once ray-job has started it. */
static void jop_pid(conn *c, uint32_t id, cJSON *req)
{
	job *j = req_job(c, id, req);
	int64_t pid = rj_int(req, "pid", 0);

	if (!j)
		return;
	if (j->submitted || j->c != c || pid <= 1 || pid > INT32_MAX) {
		conn_reply_err(c, id, RAY_EUSAGE, "job %s is not driven from this connection", j->id);
		return;
	}
	j->pid = (int)pid;
	if (j->stop_requested && j->local)
		kill(j->pid, SIGTERM);
	conn_reply(c, id, cJSON_CreateObject(), NULL, 0);
}

static void jop_end(conn *c, uint32_t id, cJSON *req)
{
	job *j = req_job(c, id, req);
	const char *why = rj_str(req, "message");
	cJSON *r;

	if (!j)
		return;
	if (j->submitted || j->c != c) {
		conn_reply_err(c, id, RAY_EUSAGE, "job %s is not driven from this connection", j->id);
		return;
	}
	j->exit_code = (int)rj_int(req, "exit_code", 0);
	j->term_signal = (int)rj_int(req, "signal", 0);
	j->exited = !why;
	j->pid = 0;
	job_finish(j, why ? J_FAILED : exit_status(j), why);
	r = cJSON_CreateObject();
	cJSON_AddStringToObject(r, "status", status_name(j->status));
	cJSON_AddNumberToObject(r, "objects_freed", (double)j->objects_freed);
	conn_reply(c, id, r, NULL, 0);
}

static void jop_stop(conn *c, uint32_t id, cJSON *req)
{
	job *j = req_job(c, id, req);
	cJSON *r;

	if (!j)
		return;
	r = cJSON_CreateObject();
	if (!job_live(j)) {
		cJSON_AddStringToObject(r, "status", status_name(j->status));
		cJSON_AddBoolToObject(r, "ended", 1);
		conn_reply(c, id, r, NULL, 0);
		return;
	}
	if (!j->submitted && !j->local) {
		cJSON_Delete(r);
		conn_reply_err(c, id, RAY_EUSAGE,
		               "job %s was started by ray-job run on another host: stop it there", j->id);
		return;
	}
	j->stop_requested = 1;
	if (j->submitted && j->pid > 0) {
		kill(-j->pid, SIGTERM);
		if (j->timer_live)
			uv_timer_start(&j->kill_timer, on_kill_timer, STOP_GRACE_MS, 0);
	} else if (j->pid > 0) {
		kill(j->pid, SIGTERM);
	}
	cJSON_AddStringToObject(r, "status", status_name(j->status));
	conn_reply(c, id, r, NULL, 0);
}

/* A job's exit status for a follower: 0 succeeded, 7 stopped, 1 failed. */
static int job_end_code(const job *j)
{
	return j->status == J_SUCCEEDED ? 0 : j->status == J_STOPPED ? -RAY_ECANCEL : -RAY_EFAILED;
}

static void jop_logs(conn *c, uint32_t id, cJSON *req)
{
	job *j = req_job(c, id, req);
	int64_t offset = log_req_offset(req);
	char path[PATH_MAX + 64];
	cJSON *r;

	if (!j)
		return;
	if (offset == -2) {
		conn_reply_err(c, id, RAY_EUSAGE, "bad offset: want a byte count");
		return;
	}
	r = cJSON_CreateObject();
	cJSON_AddBoolToObject(r, "kept", j->submitted);
	cJSON_AddBoolToObject(r, "ended", !job_live(j));
	if (!job_live(j))
		cJSON_AddNumberToObject(r, "code", job_end_code(j));
	if (!j->submitted) {
		conn_reply(c, id, r, NULL, 0);
		return;
	}
	job_log_path(j, path, sizeof(path));
	log_reply(c, id, r, path, offset);
}

void op_job(conn *c, uint32_t id, cJSON *req)
{
	const char *op = rj_str(req, "op");
	cJSON *r;
	job *j;

	if (!strcmp(op, "job_start")) {
		jop_start(c, id, req);
	} else if (!strcmp(op, "job_pid")) {
		jop_pid(c, id, req);
	} else if (!strcmp(op, "job_end")) {
		jop_end(c, id, req);
	} else if (!strcmp(op, "job_stop")) {
		jop_stop(c, id, req);
	} else if (!strcmp(op, "job_logs")) {
		jop_logs(c, id, req);
	} else if (!strcmp(op, "job_status")) {
		if ((j = req_job(c, id, req)))
			conn_reply(c, id, job_json(j), NULL, 0);
	} else if (!strcmp(op, "job_list")) {
		r = cJSON_CreateObject();
		jobs_json(cJSON_AddArrayToObject(r, "items"), rj_str(req, "state"), rj_int(req, "limit", -1));
		conn_reply(c, id, r, NULL, 0);
	} else {
		conn_reply_err(c, id, RAY_EUSAGE, "unknown request '%.64s'", op);
	}
}

/* A run job whose ray-job went away without reporting the end. */
void job_conn_closed(conn *c)
{
	job *j;

	for (j = jhead; j; j = j->next)
		if (j->c == c) {
			j->c = NULL;
			if (job_live(j))
				job_finish(j, j->stop_requested ? J_STOPPED : J_FAILED,
				           "the ray-job that ran the driver went away before it ended");
		}
}

void jobs_kill_all(void)
{
	job *j;

	for (j = jhead; j; j = j->next)
		if (j->submitted && j->pid > 0 && j->proc_live)
			kill(-j->pid, SIGKILL);
}

void jobs_free_all(void)
{
	while (jhead) {
		job *j = jhead;
		job_unlink(j);
		job_release(j);
	}
}
