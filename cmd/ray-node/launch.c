/*
 * launch.c: turning a task into a process and the process's end into a
 * result; tasks and actors share it.  A command's "@REF" words become
 * object paths (argv words whole; in a shell line, words bounded by
 * blanks or shell operators, so "email@host" stays text).  The child gets
 * our environment less RAY_*, then the RAY_* of its task, then the user's
 * --env; stdout goes straight to the return object's file and stderr to
 * logs/TASK.err, whose tail explains a failure.  On exit the result is
 * sealed, the task queued again (signal, listed codes), or failed.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "node.h"
#include "bundle.h"
#include "cgroup.h"
#include "launch.h"
#include "put.h"
#include "res.h"
#include "sink.h"
#include "spawn.h"
#include "store.h"
#include "stream.h"
#include "task.h"
#include "workdir.h"

extern char **environ;

/* ---- arguments ---- */

/* Where the object ref lives in this store, or -1. */
static int store_ref_path(const char *ref, char *path, size_t len)
{
	obj *o = store_find_any(ref);

	return o ? store_path(o, path, len) : -1;
}

int is_ref_arg(const char *a)
{
	return a[0] == '@' && a[1] != '@';
}

/* Whether c ends a shell word, so "cat @REF; wc <@REF|sort" finds both. */
int ref_word_edge(char c)
{
	return isspace((unsigned char)c) || (c && strchr(";|&()<>", c));
}

/* Substitutes "@REF" words of a shell line with the paths ref_path
 * gives; a ref it has no path for (nonzero) stays as written. */
char *subst_line(const char *line, int (*ref_path)(const char *ref, char *path, size_t len))
{
	rbuf b = { 0 };
	const char *p = line;

	while (*p) {
		if (*p == '@' && (p == line || ref_word_edge(p[-1]))) {
			const char *q = p + 1;
			char ref[RAY_REF_MAX + 1], path[PATH_MAX + 64];
			size_t n;
			while ((*q >= '0' && *q <= '9') || (*q >= 'a' && *q <= 'f'))
				q++;
			n = (size_t)(q - p - 1);
			if (n && n <= RAY_REF_MAX && (!*q || ref_word_edge(*q))) {
				memcpy(ref, p + 1, n);
				ref[n] = '\0';
				if (!ref_path(ref, path, sizeof(path))) {
					rbuf_append(&b, path, strlen(path));
					p = q;
					continue;
				}
			}
		}
		rbuf_append(&b, p, 1);
		p++;
	}
	rbuf_append(&b, "", 1);
	return b.p;
}

/* Collects the refs a shell line names as "@REF" words. */
int line_refs(const char *line, char refs[][RAY_REF_MAX + 1], int max)
{
	const char *p = line;
	int n = 0;

	for (; *p; p++) {
		const char *q;
		size_t len;
		if (*p != '@' || (p != line && !ref_word_edge(p[-1])))
			continue;
		for (q = p + 1; (*q >= '0' && *q <= '9') || (*q >= 'a' && *q <= 'f'); q++)
			;
		len = (size_t)(q - p - 1);
		if (len && len <= RAY_REF_MAX && (!*q || ref_word_edge(*q)) && n < max) {
			memcpy(refs[n], p + 1, len);
			refs[n++][len] = '\0';
		}
	}
	return n;
}

/* An "@REF" word must name a known object; "@@x" is a literal. */
int task_arg_check(const char *a, ray_err *err)
{
	if (is_ref_arg(a)) {
		if (!ray_ref_valid(a + 1))
			return ray_seterr(err, RAY_EUSAGE, "malformed ref '%.80s' (write @@ for a literal @)", a);
		if (!store_lookup(a + 1))
			return ray_seterr(err, RAY_ENOTFOUND, "unknown ref '%s'", a + 1);
	}
	return 0;
}

/* An argument as the command sees it: @REF as a path, @@x as @x. */
char *task_arg_resolve(const char *a)
{
	char path[PATH_MAX + 64];

	if (a[0] == '@' && a[1] == '@')
		return strdup(a + 1);
	if (is_ref_arg(a))
		return strdup(!store_ref_path(a + 1, path, sizeof(path)) ? path : "/dev/null");
	return strdup(a);
}

char **json_strv(const cJSON *a, int check_kv, ray_err *err)
{
	const cJSON *it;
	size_t n = (size_t)cJSON_GetArraySize(a), i = 0;
	char **v;

	if (a && !cJSON_IsArray(a)) {
		ray_seterr(err, RAY_EUSAGE, "want a list of strings");
		return NULL;
	}
	v = calloc(n + 1, sizeof(*v));
	if (!v) {
		ray_seterr(err, RAY_ERESOURCE, "out of memory");
		return NULL;
	}
	cJSON_ArrayForEach(it, a) {
		if (!cJSON_IsString(it) || (check_kv && (!strchr(it->valuestring, '=') ||
		                                         it->valuestring[0] == '='))) {
			ray_seterr(err, RAY_EUSAGE, "bad entry '%.80s'%s",
			           cJSON_IsString(it) ? it->valuestring : "?", check_kv ? ": want K=V" : "");
			ray_strv_free(v);
			return NULL;
		}
		v[i++] = strdup(it->valuestring);
	}
	return v;
}

/* ---- spawning ---- */

static void close_rets_tmp(task *t)
{
	char path[PATH_MAX + 64];
	int i;

	for (i = 0; i < t->num_returns; i++)
		if (t->rets[i]) {
			snprintf(path, sizeof(path), "%s/tmp/%s", N->store, t->rets[i]->ref);
			unlink(path);
		}
}

void log_path(const task *t, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s.err", N->logdir, t->id);
}

/* The last few lines of the log at path, on one line. */
void log_last_lines(const char *path, char *out, size_t len)
{
	char buf[1024];
	int fd, lines = 0;
	off_t end;
	ssize_t n;
	size_t i, o = 0;
	char *p;

	out[0] = '\0';
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	end = lseek(fd, 0, SEEK_END);
	if (end > (off_t)(sizeof(buf) - 1))
		lseek(fd, end - (off_t)(sizeof(buf) - 1), SEEK_SET);
	else
		lseek(fd, 0, SEEK_SET);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	while (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	p = buf + n;
	while (p > buf && lines < 3) {
		p--;
		if (*p == '\n')
			lines++;
	}
	if (*p == '\n')
		p++;
	for (i = 0; p[i] && o + 4 < len; i++) {
		if (p[i] == '\n') {
			out[o++] = ' ';
			out[o++] = '|';
			out[o++] = ' ';
		} else if ((unsigned char)p[i] >= 32) {
			out[o++] = p[i];
		}
	}
	out[o] = '\0';
}

static void stderr_tail(const task *t, char *out, size_t len)
{
	char path[PATH_MAX + 64];

	log_path(t, path, sizeof(path));
	log_last_lines(path, out, len);
}

static int should_retry(task *t)
{
	int i;

	if (t->cancel || t->attempt >= t->max_retries)
		return 0;
	if (t->term_signal)
		return 1;
	if (t->retry_exceptions)
		return 1;
	for (i = 0; i < t->nretry_codes; i++)
		if (t->retry_codes[i] == t->exit_code)
			return 1;
	return 0;
}

static void release_resources(task *t)
{
	res r = *t->req, *pool = task_pool(t);

	if (t->lent)
		r.cpu = 0;
	t->lent = 0;
	if (pool)
		res_add(pool, &r);
	if (t->gpu_ids)
		gpu_give(t->req, t->gpu_ids);
}

void task_give_back(task *t)
{
	release_resources(t);
}

void task_seal_ok(task *t)
{
	char desc[256], msg[512];
	ray_err err;
	int i;

	for (i = 0; i < t->num_returns; i++) {
		obj *o = t->rets[i];
		if (!o)
			continue;
		if (store_seal_file(o->ref, o, &err)) {
			task_desc(t, desc, sizeof(desc));
			snprintf(msg, sizeof(msg), "%s on node %s did not write return %d ($RAY_RETURN_%d)",
			         desc, N->id, i, i);
			store_fail(o, RAY_EFAILED, msg);
			continue;
		}
		store_ready(o);
	}
	t->state = T_FINISHED;
	t->end_ms = ray_now_ms();
	N->nfinished++;
	task_unpin_deps(t);
	task_ended(t);
}

void task_oom_why(const task *t, char *buf, size_t len)
{
	if (t->oom == OOM_LIMIT)
		snprintf(buf, len, "killed for memory: its processes held %lld MiB resident, over its --memory %lld MiB",
		         (long long)(t->oom_bytes >> 20), (long long)(t->req->mem >> 20));
	else if (t->oom == OOM_CGROUP)
		snprintf(buf, len, "killed for memory: its processes went over its --memory %lld MiB, the limit of "
		         "its memory cgroup", (long long)(t->oom_bytes >> 20));
	else
		snprintf(buf, len, "killed for memory: the host was %lld.%02lld%% used, above --memory-threshold "
		         "%lld.%02lld%%, and it was the most recently started task",
		         (long long)(t->oom_bytes / 100), (long long)(t->oom_bytes % 100),
		         (long long)(N->mem_threshold / 100), (long long)(N->mem_threshold % 100));
}

void task_cg_name(const task *t, char *buf, size_t len)
{
	snprintf(buf, len, "t-%s-%d", t->id, t->attempt);
}

int task_cg_oom(task *t)
{
	char name[CG_NAME_MAX];

	if (t->oom)
		return 0;
	task_cg_name(t, name, sizeof(name));
	if (cg_oom_kills(name) <= 0)
		return 0;
	t->oom = OOM_CGROUP;
	t->oom_bytes = t->req->mem;   /* the kernel stops it there */
	return 1;
}

/* t ran in a memory cgroup: whether the kernel killed any of its processes
 * for memory (then t failed for memory, whatever became of the rest:
 * returns SIGKILL), and the cgroup goes. */
static int cg_reaped(task *t, int sig)
{
	char name[CG_NAME_MAX];

	if (task_cg_oom(t))
		node_log("task %s was killed by the kernel: its processes reached the limit of its memory cgroup, "
		         "over its --memory %lld MiB", t->id, (long long)(t->req->mem >> 20));
	task_cg_name(t, name, sizeof(name));
	cg_release(name);
	t->in_cg = 0;
	return t->oom == OOM_CGROUP && !sig ? SIGKILL : sig;
}

static void on_reaped(void *ud, int status, int sig, int exec_err)
{
	task *t = ud;
	char desc[256], tail[600], msg[1300], why[200];

	sink_close(t);
	if (t->in_cg)
		sig = cg_reaped(t, sig);
	t->exit_code = status;
	t->term_signal = sig;
	t->pid = 0;
	t->proc_live = 0;
	N->nrunning--;
	if (t->req->mem > 0)
		N->nmem_running--;
	if (t->stream_bp)
		stream_reaped(t, !exec_err && !N->stopping && (sig || status || t->cancel) && should_retry(t));
	if (exec_err && !N->stopping) {
		release_resources(t);
		close_rets_tmp(t);
		task_desc(t, desc, sizeof(desc));
		snprintf(msg, sizeof(msg), "%s could not start '%s' on node %s: %s", desc,
		         t->shell ? "sh" : t->argv[0], N->id, strerror(exec_err));
		task_finish_error(t, T_FAILED, RAY_EFAILED, msg);
		node_kick();
		return;
	}
	release_resources(t);
	if (N->stopping)
		return;
	if (!sig && status == 0 && !t->cancel) {
		task_seal_ok(t);
	} else if (should_retry(t)) {
		close_rets_tmp(t);
		t->attempt++;
		queue_push(t);
	} else {
		close_rets_tmp(t);
		task_desc(t, desc, sizeof(desc));
		stderr_tail(t, tail, sizeof(tail));
		if (t->cancel) {
			snprintf(msg, sizeof(msg), "%s was cancelled", desc);
			task_finish_error(t, T_CANCELLED, RAY_ECANCEL, msg);
		} else if (sig && t->oom) {
			task_oom_why(t, why, sizeof(why));
			snprintf(msg, sizeof(msg), "%s was %s, on node %s after %d attempt%s%s%s", desc, why, N->id,
			         t->attempt + 1, t->attempt ? "s" : "", tail[0] ? "; stderr: " : "", tail);
			task_finish_error(t, T_FAILED, RAY_ECRASH, msg);
		} else if (sig) {
			snprintf(msg, sizeof(msg), "%s was killed by signal %d (%s) on node %s after %d attempt%s%s%s",
			         desc, sig, strsignal(sig), N->id, t->attempt + 1, t->attempt ? "s" : "",
			         tail[0] ? "; stderr: " : "", tail);
			task_finish_error(t, T_FAILED, RAY_ECRASH, msg);
		} else {
			snprintf(msg, sizeof(msg), "%s exited with code %d on node %s%s%s", desc, (int)status,
			         N->id, tail[0] ? "; stderr: " : "", tail);
			task_finish_error(t, T_FAILED, RAY_EFAILED, msg);
		}
	}
	node_kick();
	prune_history();
}

char *env_kv(const char *k, const char *v)
{
	size_t n = strlen(k) + strlen(v) + 2;
	char *s = malloc(n);

	if (s)
		snprintf(s, n, "%s=%s", k, v);
	return s;
}

/* What every child's environment starts with, built once: ours less
 * RAY_*, CUDA_VISIBLE_DEVICES and OMP_NUM_THREADS, then the node's own
 * RAY_ADDRESS, RAY_TOKEN_FILE, RAY_TMPDIR and RAY_NODE_ID.  The node never
 * changes its environment, so a task takes these strings without copying
 * them (they were copied, all of them, for every task). */
static char **env_base;
static size_t env_nbase;

static int env_base_init(void)
{
	size_t ne = 0, i = 0, j;
	char path[PATH_MAX + 64];

	if (env_base)
		return 0;
	while (environ[ne])
		ne++;
	env_base = calloc(ne + 5, sizeof(*env_base));
	if (!env_base)
		return -1;
	for (j = 0; j < ne; j++) {
		if (!strncmp(environ[j], "RAY_", 4) || !strncmp(environ[j], "CUDA_VISIBLE_DEVICES=", 21) ||
		    !strncmp(environ[j], "OMP_NUM_THREADS=", 16))
			continue;
		env_base[i++] = strdup(environ[j]);
	}
	snprintf(path, sizeof(path), "%s/node.sock", N->session);
	env_base[i++] = env_kv("RAY_ADDRESS", path);
	snprintf(path, sizeof(path), "%s/token", N->session);
	env_base[i++] = env_kv("RAY_TOKEN_FILE", path);
	env_base[i++] = env_kv("RAY_TMPDIR", ray_tmpdir());
	env_base[i++] = env_kv("RAY_NODE_ID", N->id);
	for (j = 0; j < i; j++)
		if (!env_base[j]) {
			ray_strv_free(env_base);
			env_base = NULL;
			return -1;
		}
	env_nbase = i;
	return 0;
}

void env_free(char **env)
{
	size_t i;

	if (!env)
		return;
	for (i = env_nbase; env[i]; i++)
		free(env[i]);
	free(env);
}

/* The child's environment: the base, then the task's RAY_*, then its
 * --env (env_free frees it). */
char **env_build(const char *id, const char *job, int attempt, const res *req,
                 const char *gpu_ids, char **user_env, int nrets, obj **rets)
{
	size_t nu = 0, i, j;
	char **env, buf[64], name[32];
	char path[PATH_MAX + 64];
	int64_t threads = req->cpu / QTY_ONE;

	if (env_base_init())
		return NULL;
	while (user_env && user_env[nu])
		nu++;
	env = calloc(env_nbase + nu + 16 + (size_t)nrets, sizeof(*env));
	if (!env)
		return NULL;
	memcpy(env, env_base, env_nbase * sizeof(*env));
	i = env_nbase;
	env[i++] = env_kv(rets ? "RAY_TASK_ID" : "RAY_ACTOR_ID", id);
	env[i++] = env_kv("RAY_JOB_ID", job);
	snprintf(buf, sizeof(buf), "%d", attempt);
	env[i++] = env_kv("RAY_ATTEMPT", buf);
	snprintf(buf, sizeof(buf), "%lld", (long long)(threads > 0 ? threads : 1));
	env[i++] = env_kv("OMP_NUM_THREADS", buf);
	if (req->gpu > 0 && gpu_ids && *gpu_ids)
		env[i++] = env_kv("CUDA_VISIBLE_DEVICES", gpu_ids);
	if (nrets > 1)
		for (j = 0; j < (size_t)nrets; j++) {
			snprintf(name, sizeof(name), "RAY_RETURN_%zu", j);
			snprintf(path, sizeof(path), "%s/tmp/%s", N->store, rets[j]->ref);
			env[i++] = env_kv(name, path);
		}
	for (j = 0; j < nu; j++)
		env[i++] = strdup(user_env[j]);
	env[i] = NULL;
	for (j = env_nbase; j < i; j++)
		if (!env[j]) {
			env_free(env);
			return NULL;
		}
	return env;
}

void env_release(void)
{
	ray_strv_free(env_base);
	env_base = NULL;
	env_nbase = 0;
}

static char **build_argv(task *t)
{
	size_t n = 0, i;
	char **v;

	while (t->argv[n])
		n++;
	v = calloc(n + 1, sizeof(*v));
	if (!v)
		return NULL;
	for (i = 0; i < n; i++) {
		const char *a = t->argv[i];
		if (t->shell && i == 2) {
			v[i] = subst_line(a, store_ref_path);
		} else if (!t->shell) {
			v[i] = task_arg_resolve(a);
		} else {
			v[i] = strdup(a);
		}
	}
	return v;
}

/* The GPU devices t asks for, into t->gpu_ids (allocated only for a task
 * that has GPUs). */
void task_take_gpus(task *t)
{
	if (t->req->gpu > 0 && !t->gpu_ids)
		t->gpu_ids = calloc(1, GPU_IDS_MAX);
	if (t->gpu_ids)
		gpu_take(t->req, t->gpu_ids, GPU_IDS_MAX);
}

void task_start(task *t)
{
	char path[PATH_MAX + 64], desc[256], msg[1024], why[PATH_MAX + 128] = "", cg[CG_NAME_MAX];
	char **argv = build_argv(t);
	char **env;
	int fds[3] = { -1, -1, -1 }, pfd[2] = { -1, -1 }, rc, i, join = -1;
	res *pool = task_pool(t);

	if (argv && t->workdir) {
		char **wrapped = workdir_argv(t->workdir, argv, why, sizeof(why));
		ray_strv_free(argv);
		argv = wrapped;
	}
	if (pool)
		res_sub(pool, t->req);
	task_take_gpus(t);
	env = env_build(t->id, t->job, t->attempt, t->req, t->gpu_ids, t->env, t->num_returns, t->rets);
	t->state = T_SUBMITTED;
	if (t->stdin_obj && !store_path(t->stdin_obj, path, sizeof(path)))
		fds[0] = open(path, O_RDONLY | O_CLOEXEC);
	else
		fds[0] = N->devnull;   /* lent, not closed below */
	log_path(t, path, sizeof(path));
	fds[2] = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (t->stream_bp) {
		/* Its return is empty (or its error); its lines go to stream.c. */
		snprintf(path, sizeof(path), "%s/tmp/%s", N->store, t->rets[0]->ref);
		i = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (i >= 0 && !pipe2(pfd, O_CLOEXEC)) {
			fds[1] = pfd[1];
			pfd[1] = -1;
		}
		if (i >= 0)
			close(i);
	} else if (t->num_returns == 1) {
		snprintf(path, sizeof(path), "%s/tmp/%s", N->store, t->rets[0]->ref);
		fds[1] = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	} else {
		fds[1] = fcntl(fds[2], F_DUPFD_CLOEXEC, 0);
	}
	if (t->req->mem > 0 && cg_active()) {
		task_cg_name(t, cg, sizeof(cg));
		t->in_cg = !cg_create(cg, t->req->mem, &join);
		/* Its result is not its memory: the node writes it (sink.c). */
		if (t->in_cg && t->num_returns == 1 && !t->stream_bp && fds[1] >= 0 &&
		    (i = sink_open(t, fds[1])) >= 0)
			fds[1] = i;
	}
	rc = (!argv || !env || fds[0] < 0 || fds[1] < 0 || fds[2] < 0) ? UV_ENOMEM
	     : spawn_proc_in(argv, env, fds, join, on_reaped, t, &t->pid);
	for (i = 0; i < 3; i++)
		if (fds[i] >= 0 && fds[i] != N->devnull)
			close(fds[i]);
	ray_strv_free(argv);
	env_free(env);
	if (!rc && pfd[0] >= 0 && stream_attach(t, pfd[0])) {
		/* Nobody would read it: the task would block on a full pipe. */
		kill(-t->pid, SIGKILL);
		close(pfd[0]);
	} else if (rc && pfd[0] >= 0) {
		close(pfd[0]);
	}
	if (rc) {
		sink_close(t);
		if (t->in_cg)
			cg_release(cg);
		t->in_cg = 0;
		if ((pool = task_pool(t)))
			res_add(pool, t->req);
		if (t->gpu_ids)
			gpu_give(t->req, t->gpu_ids);
		close_rets_tmp(t);
		task_desc(t, desc, sizeof(desc));
		snprintf(msg, sizeof(msg), "%s could not start '%s' on node %s: %s", desc,
		         t->shell ? "sh" : t->argv[0], N->id, why[0] ? why : uv_strerror(rc));
		t->exit_code = 127;
		task_finish_error(t, T_FAILED, RAY_EFAILED, msg);
		return;
	}
	t->proc_live = 1;
	N->nrunning++;
	if (t->req->mem > 0)
		N->nmem_running++;
	t->state = T_RUNNING;
	t->start_ms = ray_now_ms();
	t->exit_code = 0;
	t->term_signal = 0;
	t->oom = OOM_NONE;
}
