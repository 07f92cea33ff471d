/*
 * sched.c: tasks from submission to sealed result.  A task waits for its
 * @REF and --stdin objects (PENDING_ARGS_AVAIL), then for resources in a
 * FIFO run queue (PENDING_NODE_ASSIGNMENT), then runs as a child process in
 * its own process group: stdout opened straight on the return object's
 * file, stderr appended to logs/TASK.err.  On exit the result is sealed, or
 * the task is retried (death by signal; listed exit codes), or its refs
 * become error objects.  A task blocked in ray-get lends its CPUs back.
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

#define MAX_RETURNS 1024
#define MAX_HISTORY 200000
#define SCAN_LIMIT 512
#define LOG_SHIP_MAX (1u << 20)

extern char **environ;

const char *task_state_name(int s)
{
	static const char *names[] = {
		"PENDING_ARGS_AVAIL", "PENDING_NODE_ASSIGNMENT", "SUBMITTED_TO_WORKER",
		"RUNNING", "FINISHED", "FAILED", "CANCELLED"
	};
	return s >= 0 && s <= T_CANCELLED ? names[s] : "UNKNOWN";
}

/* ---- resources ---- */

static int64_t custom_get(const res *r, const char *name)
{
	int i;

	for (i = 0; i < r->ncustom; i++)
		if (!strcmp(r->custom[i].name, name))
			return r->custom[i].q;
	return 0;
}

static int64_t *custom_slot(res *r, const char *name)
{
	int i;

	for (i = 0; i < r->ncustom; i++)
		if (!strcmp(r->custom[i].name, name))
			return &r->custom[i].q;
	if (r->ncustom == MAX_CUSTOM)
		return NULL;
	snprintf(r->custom[r->ncustom].name, sizeof(r->custom[0].name), "%s", name);
	r->custom[r->ncustom].q = 0;
	return &r->custom[r->ncustom++].q;
}

int res_fits(const res *need, const res *have)
{
	int i;

	if (need->cpu > have->cpu || need->gpu > have->gpu || need->mem > have->mem)
		return 0;
	for (i = 0; i < need->ncustom; i++)
		if (need->custom[i].q > custom_get(have, need->custom[i].name))
			return 0;
	return 1;
}

void res_sub(res *a, const res *b)
{
	int i;

	a->cpu -= b->cpu;
	a->gpu -= b->gpu;
	a->mem -= b->mem;
	for (i = 0; i < b->ncustom; i++) {
		int64_t *q = custom_slot(a, b->custom[i].name);
		if (q)
			*q -= b->custom[i].q;
	}
}

void res_add(res *a, const res *b)
{
	int i;

	a->cpu += b->cpu;
	a->gpu += b->gpu;
	a->mem += b->mem;
	for (i = 0; i < b->ncustom; i++) {
		int64_t *q = custom_slot(a, b->custom[i].name);
		if (q)
			*q += b->custom[i].q;
	}
}

/* Caps each quantity of a at max's (a view's guess never exceeds a total). */
static void res_clamp(res *a, const res *max)
{
	int i;

	if (a->cpu > max->cpu)
		a->cpu = max->cpu;
	if (a->gpu > max->gpu)
		a->gpu = max->gpu;
	if (a->mem > max->mem)
		a->mem = max->mem;
	for (i = 0; i < a->ncustom; i++)
		if (a->custom[i].q > custom_get(max, a->custom[i].name))
			a->custom[i].q = custom_get(max, a->custom[i].name);
}

static int res_add_one(res *r, const char *item, ray_err *err)
{
	char name[64];
	const char *eq = strchr(item, '=');
	int64_t q;
	size_t nl;
	int64_t *slot;

	if (!eq || eq == item || (nl = (size_t)(eq - item)) >= sizeof(name))
		return ray_seterr(err, RAY_EUSAGE, "bad resource '%.80s': want NAME=QTY", item);
	memcpy(name, item, nl);
	name[nl] = '\0';
	if (ray_parse_qty(eq + 1, &q))
		return ray_seterr(err, RAY_EUSAGE, "bad quantity in resource '%.80s'", item);
	if (!strcmp(name, "CPU")) {
		r->cpu = q;
		return 0;
	}
	if (!strcmp(name, "GPU")) {
		r->gpu = q;
		return 0;
	}
	slot = custom_slot(r, name);
	if (!slot)
		return ray_seterr(err, RAY_EUSAGE, "too many custom resources (at most %d)", MAX_CUSTOM);
	*slot = q;
	return 0;
}

int res_parse_custom(res *r, const char *spec, ray_err *err)
{
	char buf[1024], *p, *save = NULL, *tok;
	int rc;

	if (strlen(spec) >= sizeof(buf))
		return ray_seterr(err, RAY_EUSAGE, "resource list too long");
	snprintf(buf, sizeof(buf), "%s", spec);
	for (p = buf; (tok = strtok_r(p, ",", &save)); p = NULL)
		if ((rc = res_add_one(r, tok, err)))
			return rc;
	return 0;
}

/* Names the first resource of need that total can never give, or NULL. */
static const char *res_missing(const res *need, const res *total, char *buf, size_t len)
{
	int i;

	if (need->cpu > total->cpu) {
		snprintf(buf, len, "%g CPU (the largest node has %g)", need->cpu / 1e4, total->cpu / 1e4);
		return buf;
	}
	if (need->gpu > total->gpu) {
		snprintf(buf, len, "%g GPU (the largest node has %g)", need->gpu / 1e4, total->gpu / 1e4);
		return buf;
	}
	if (need->mem > total->mem) {
		snprintf(buf, len, "%lld bytes of memory", (long long)need->mem);
		return buf;
	}
	for (i = 0; i < need->ncustom; i++)
		if (need->custom[i].q > custom_get(total, need->custom[i].name)) {
			snprintf(buf, len, "%g %s", need->custom[i].q / 1e4, need->custom[i].name);
			return buf;
		}
	return NULL;
}

/* ---- task bookkeeping ---- */

task *task_find(const char *id)
{
	return id ? map_get(&N->tasks, id) : NULL;
}

void strv_free(char **v)
{
	char **p;

	for (p = v; p && *p; p++)
		free(*p);
	free(v);
}

static void task_release(task *t)
{
	strv_free(t->argv);
	strv_free(t->env);
	free(t->name);
	free(t->rets);
	free(t->deps);
	free(t->retry_codes);
	free(t->method);
	free(t->labels);
	free(t->prefer);
	free(t);
}

static void queue_push(task *t)
{
	t->state = T_PENDING_NODE;
	t->queued = 1;
	t->qnext = NULL;
	t->qprev = N->qtail;
	if (N->qtail)
		N->qtail->qnext = t;
	else
		N->qhead = t;
	N->qtail = t;
	N->nqueued++;
}

static void queue_remove(task *t)
{
	if (!t->queued)
		return;
	if (t->qprev)
		t->qprev->qnext = t->qnext;
	else
		N->qhead = t->qnext;
	if (t->qnext)
		t->qnext->qprev = t->qprev;
	else
		N->qtail = t->qprev;
	t->queued = 0;
	N->nqueued--;
}

void task_unpin_deps(task *t)
{
	int i;

	for (i = 0; i < t->ndeps; i++)
		if (t->deps[i])
			store_unpin(t->deps[i]);
	free(t->deps);
	t->deps = NULL;
	t->ndeps = 0;
}

/* Drops the oldest finished tasks' records once history is long. */
static void prune_history(void)
{
	task *t = N->thead, *next;

	while (N->ntasks > MAX_HISTORY && t) {
		int i;
		next = t->next;
		if (t->state >= T_FINISHED && !t->proc_live) {
			for (i = 0; i < t->num_returns; i++)
				if (t->rets[i])
					t->rets[i]->producer = NULL;
			if (t->prev)
				t->prev->next = t->next;
			else
				N->thead = t->next;
			if (t->next)
				t->next->prev = t->prev;
			else
				N->ttail = t->prev;
			map_del(&N->tasks, t->id);
			N->ntasks--;
			task_release(t);
		}
		t = next;
	}
}

void task_finish_error(task *t, int state, int code, const char *msg)
{
	int i;

	t->state = state;
	t->end_ms = ray_now_ms();
	N->nfailed++;
	task_unpin_deps(t);
	for (i = 0; i < t->num_returns; i++)
		if (t->rets[i])
			store_fail(t->rets[i], code, msg);
	sched_task_ended(t);
}

/* ---- arguments ---- */

static int is_ref_arg(const char *a)
{
	return a[0] == '@' && a[1] != '@';
}

/* Whether c ends a shell word, so "cat @REF; wc <@REF|sort" finds both. */
static int ref_word_edge(char c)
{
	return isspace((unsigned char)c) || (c && strchr(";|&()<>", c));
}

/* Substitutes "@REF" words of a shell line with object paths. */
static char *subst_line(const char *line)
{
	rbuf b = { 0 };
	const char *p = line;

	while (*p) {
		if (*p == '@' && (p == line || ref_word_edge(p[-1]))) {
			const char *q = p + 1;
			char ref[RAY_REF_MAX + 1], path[PATH_MAX + 64];
			size_t n;
			obj *o;
			while ((*q >= '0' && *q <= '9') || (*q >= 'a' && *q <= 'f'))
				q++;
			n = (size_t)(q - p - 1);
			if (n && n <= RAY_REF_MAX && (!*q || ref_word_edge(*q))) {
				memcpy(ref, p + 1, n);
				ref[n] = '\0';
				o = store_find_any(ref);
				if (o && !store_path(o, path, sizeof(path))) {
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
static int line_refs(const char *line, char refs[][RAY_REF_MAX + 1], int max)
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

static void log_path(const task *t, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s.err", N->logdir, t->id);
}

/* The last few lines of the task's stderr, on one line. */
static void stderr_tail(const task *t, char *out, size_t len)
{
	char path[PATH_MAX + 64], buf[1024];
	int fd, lines = 0;
	off_t end;
	ssize_t n;
	size_t i, o = 0;
	char *p;

	out[0] = '\0';
	log_path(t, path, sizeof(path));
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

void task_desc(const task *t, char *buf, size_t len)
{
	if (t->name)
		snprintf(buf, len, "task '%s' (%s)", t->name, t->id);
	else
		snprintf(buf, len, "task %s", t->id);
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

/* ---- GPU devices: whole requests get whole free devices; fractions
 * share one, packed onto the fullest device that still has room. ---- */

#define MAX_GPUS 64
static int64_t gpu_left[MAX_GPUS];
static int gpu_init;

static int gpu_count(void)
{
	int64_t n = N->total.gpu / QTY_ONE;

	return n > MAX_GPUS ? MAX_GPUS : (int)n;
}

static void gpu_setup(void)
{
	int i, n = gpu_count();

	if (!gpu_init) {
		for (i = 0; i < n; i++)
			gpu_left[i] = QTY_ONE;
		gpu_init = 1;
	}
}

/* Whether gpu_take would find devices for req now: the GPU count in the
 * pool is not enough, since fractions may leave no device whole. */
int gpu_can_take(const res *req)
{
	int n = gpu_count(), i, k = 0, want;

	if (req->gpu <= 0 || n == 0)
		return 1;
	gpu_setup();
	if (req->gpu < QTY_ONE) {
		for (i = 0; i < n; i++)
			if (gpu_left[i] >= req->gpu)
				return 1;
		return 0;
	}
	want = (int)((req->gpu + QTY_ONE - 1) / QTY_ONE);
	for (i = 0; i < n; i++)
		k += gpu_left[i] == QTY_ONE;
	return k >= want;
}

void gpu_take(const res *req, char *ids, size_t len)
{
	int n = gpu_count(), i, k, want;
	size_t o = 0;

	ids[0] = '\0';
	if (req->gpu <= 0 || n == 0)
		return;
	gpu_setup();
	if (req->gpu < QTY_ONE) {
		int best = -1;
		for (i = 0; i < n; i++)
			if (gpu_left[i] >= req->gpu && (best < 0 || gpu_left[i] < gpu_left[best]))
				best = i;
		if (best >= 0) {
			gpu_left[best] -= req->gpu;
			snprintf(ids, len, "%d", best);
		}
		return;
	}
	want = (int)((req->gpu + QTY_ONE - 1) / QTY_ONE);
	for (i = 0, k = 0; i < n && k < want; i++)
		if (gpu_left[i] == QTY_ONE) {
			gpu_left[i] = 0;
			o += (size_t)snprintf(ids + o, o < len ? len - o : 0, "%s%d", k ? "," : "", i);
			k++;
		}
}

void gpu_give(const res *req, char *ids)
{
	char *p = ids, *end;
	int64_t each = req->gpu < QTY_ONE ? req->gpu : QTY_ONE;

	while (*p) {
		long i = strtol(p, &end, 10);
		if (end == p)
			break;
		if (i >= 0 && i < MAX_GPUS) {
			gpu_left[i] += each;
			if (gpu_left[i] > QTY_ONE)
				gpu_left[i] = QTY_ONE;
		}
		p = *end == ',' ? end + 1 : end;
	}
	ids[0] = '\0';
}

static void release_resources(task *t)
{
	res r = t->req, *pool = task_pool(t);

	if (t->lent)
		r.cpu = 0;
	t->lent = 0;
	if (pool)
		res_add(pool, &r);
	gpu_give(&t->req, t->gpu_ids);
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
	sched_task_ended(t);
}

static void on_reaped(void *ud, int status, int sig, int exec_err)
{
	task *t = ud;
	char desc[256], tail[600], msg[1024];

	t->exit_code = status;
	t->term_signal = sig;
	t->pid = 0;
	t->proc_live = 0;
	N->nrunning--;
	if (exec_err && !N->stopping) {
		release_resources(t);
		close_rets_tmp(t);
		task_desc(t, desc, sizeof(desc));
		snprintf(msg, sizeof(msg), "%s could not start '%s' on node %s: %s", desc,
		         t->shell ? "sh" : t->argv[0], N->id, strerror(exec_err));
		task_finish_error(t, T_FAILED, RAY_EFAILED, msg);
		sched_run();
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
	sched_run();
	prune_history();
}

static char *kv(const char *k, const char *v)
{
	size_t n = strlen(k) + strlen(v) + 2;
	char *s = malloc(n);

	if (s)
		snprintf(s, n, "%s=%s", k, v);
	return s;
}

/* The child's environment: ours, then RAY_*, then the task's --env. */
char **env_build(const char *id, const char *job, int attempt, const res *req,
                 const char *gpu_ids, char **user_env, int nrets, obj **rets)
{
	size_t ne = 0, nu = 0, i = 0, j;
	char **env, buf[64], name[32];
	char path[PATH_MAX + 64];
	int64_t threads = req->cpu / QTY_ONE;

	while (environ[ne])
		ne++;
	while (user_env && user_env[nu])
		nu++;
	env = calloc(ne + nu + 16 + (size_t)nrets, sizeof(*env));
	if (!env)
		return NULL;
	for (j = 0; j < ne; j++) {
		if (!strncmp(environ[j], "RAY_", 4) || !strncmp(environ[j], "CUDA_VISIBLE_DEVICES=", 21) ||
		    !strncmp(environ[j], "OMP_NUM_THREADS=", 16))
			continue;
		env[i++] = strdup(environ[j]);
	}
	snprintf(path, sizeof(path), "%s/node.sock", N->session);
	env[i++] = kv("RAY_ADDRESS", path);
	snprintf(path, sizeof(path), "%s/token", N->session);
	env[i++] = kv("RAY_TOKEN_FILE", path);
	env[i++] = kv("RAY_TMPDIR", ray_tmpdir());
	env[i++] = kv(rets ? "RAY_TASK_ID" : "RAY_ACTOR_ID", id);
	env[i++] = kv("RAY_NODE_ID", N->id);
	env[i++] = kv("RAY_JOB_ID", job);
	snprintf(buf, sizeof(buf), "%d", attempt);
	env[i++] = kv("RAY_ATTEMPT", buf);
	snprintf(buf, sizeof(buf), "%lld", (long long)(threads > 0 ? threads : 1));
	env[i++] = kv("OMP_NUM_THREADS", buf);
	if (req->gpu > 0 && gpu_ids && *gpu_ids)
		env[i++] = kv("CUDA_VISIBLE_DEVICES", gpu_ids);
	if (nrets > 1)
		for (j = 0; j < (size_t)nrets; j++) {
			snprintf(name, sizeof(name), "RAY_RETURN_%zu", j);
			snprintf(path, sizeof(path), "%s/tmp/%s", N->store, rets[j]->ref);
			env[i++] = kv(name, path);
		}
	for (j = 0; j < nu; j++)
		env[i++] = strdup(user_env[j]);
	env[i] = NULL;
	return env;
}

/* An argument as the command sees it: @REF as a path, @@x as @x. */
char *task_arg_resolve(const char *a)
{
	char path[PATH_MAX + 64];

	if (a[0] == '@' && a[1] == '@')
		return strdup(a + 1);
	if (is_ref_arg(a)) {
		obj *o = store_find_any(a + 1);
		return strdup((o && !store_path(o, path, sizeof(path))) ? path : "/dev/null");
	}
	return strdup(a);
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
			v[i] = subst_line(a);
		} else if (!t->shell) {
			v[i] = task_arg_resolve(a);
		} else {
			v[i] = strdup(a);
		}
	}
	return v;
}

static void task_start(task *t)
{
	char path[PATH_MAX + 64], desc[256], msg[1024];
	char **argv = build_argv(t);
	char **env;
	int fds[3] = { -1, -1, -1 }, rc, i;
	res *pool = task_pool(t);

	if (pool)
		res_sub(pool, &t->req);
	gpu_take(&t->req, t->gpu_ids, sizeof(t->gpu_ids));
	env = env_build(t->id, t->job, t->attempt, &t->req, t->gpu_ids, t->env, t->num_returns, t->rets);
	t->state = T_SUBMITTED;
	if (t->stdin_obj && !store_path(t->stdin_obj, path, sizeof(path)))
		fds[0] = open(path, O_RDONLY | O_CLOEXEC);
	else
		fds[0] = fcntl(N->devnull, F_DUPFD_CLOEXEC, 0);
	log_path(t, path, sizeof(path));
	fds[2] = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (t->num_returns == 1) {
		snprintf(path, sizeof(path), "%s/tmp/%s", N->store, t->rets[0]->ref);
		fds[1] = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	} else {
		fds[1] = fcntl(fds[2], F_DUPFD_CLOEXEC, 0);
	}
	rc = (!argv || !env || fds[0] < 0 || fds[1] < 0 || fds[2] < 0) ? UV_ENOMEM
	     : spawn_proc(argv, env, fds, on_reaped, t, &t->pid);
	for (i = 0; i < 3; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	strv_free(argv);
	strv_free(env);
	if (rc) {
		if ((pool = task_pool(t)))
			res_add(pool, &t->req);
		gpu_give(&t->req, t->gpu_ids);
		close_rets_tmp(t);
		task_desc(t, desc, sizeof(desc));
		snprintf(msg, sizeof(msg), "%s could not start '%s' on node %s: %s", desc,
		         t->shell ? "sh" : t->argv[0], N->id, uv_strerror(rc));
		t->exit_code = 127;
		task_finish_error(t, T_FAILED, RAY_EFAILED, msg);
		return;
	}
	t->proc_live = 1;
	N->nrunning++;
	t->state = T_RUNNING;
	t->start_ms = ray_now_ms();
	t->exit_code = 0;
	t->term_signal = 0;
}

/* ---- placement across the cluster ---- */

static int labels_match(const char *have, const char *want)
{
	char h[1100], w[600], *p, *save = NULL, *tok, item[300];

	if (!want || !*want)
		return 1;
	snprintf(h, sizeof(h), ",%s,", have);
	snprintf(w, sizeof(w), "%s", want);
	for (p = w; (tok = strtok_r(p, ",", &save)); p = NULL) {
		snprintf(item, sizeof(item), ",%s,", tok);
		if (!strstr(h, item))
			return 0;
	}
	return 1;
}

static int can_host(const rnode *r, const task *t)
{
	if (!r->alive || !res_fits(&t->req, &r->total) || !labels_match(r->labels, t->labels))
		return 0;
	return !t->pin[0] || t->pin_soft || !strcmp(t->pin, r->id);
}

int sched_feasible_anywhere(const task *t)
{
	int i;

	for (i = 0; i < N->nview; i++)
		if (can_host(&N->view[i], t))
			return 1;
	return 0;
}

/* The largest of each resource on any live node (into big, zeroed). */
static int view_largest(res *big)
{
	int i, k, alive = 0;

	memset(big, 0, sizeof(*big));
	for (i = 0; i < N->nview; i++) {
		const res *r = &N->view[i].total;
		if (!N->view[i].alive)
			continue;
		alive++;
		big->cpu = r->cpu > big->cpu ? r->cpu : big->cpu;
		big->gpu = r->gpu > big->gpu ? r->gpu : big->gpu;
		big->mem = r->mem > big->mem ? r->mem : big->mem;
		for (k = 0; k < r->ncustom; k++) {
			int64_t q = custom_get(big, r->custom[k].name);
			if (r->custom[k].q > q) {
				res one;
				memset(&one, 0, sizeof(one));
				one.ncustom = 1;
				snprintf(one.custom[0].name, sizeof(one.custom[0].name), "%s", r->custom[k].name);
				one.custom[0].q = r->custom[k].q - q;
				res_add(big, &one);
			}
		}
	}
	return alive;
}

/* Why no live node can ever run t (for ray-status); 0 when one can. */
int sched_infeasible_reason(const task *t, char *buf, size_t len)
{
	res big;
	char what[200];

	if (t->pg[0] || t->owner[0] || sched_feasible_anywhere(t))
		return 0;
	if (t->pin[0] && !t->pin_soft) {
		rnode *r = view_find(t->pin);
		snprintf(buf, len, "its node %s (--node) is %s", t->pin, r && r->alive ? "too small" : "dead");
	} else if (!view_largest(&big)) {
		snprintf(buf, len, "no node is alive");
	} else if (res_missing(&t->req, &big, what, sizeof(what))) {
		snprintf(buf, len, "no live node has %s", what);
	} else if (t->labels) {
		size_t n = strlen(t->labels);
		/* ",k=v,k=v," as k=v,k=v */
		snprintf(buf, len, "no live node with labels %.*s can hold it", n > 2 ? (int)(n - 2) : 0,
		         t->labels + (n > 2));
	} else {
		snprintf(buf, len, "no single live node has all it asks for");
	}
	return 1;
}

static int prefers(const rnode *r, const task *t)
{
	if (t->pin[0] && t->pin_soft && !strcmp(t->pin, r->id))
		return 1;
	return t->prefer && labels_match(r->labels, t->prefer);
}

static void res_to_json_raw(cJSON *j, const char *key, const res *r)
{
	cJSON *o = cJSON_AddObjectToObject(j, key), *c;
	int i;

	cJSON_AddNumberToObject(o, "cpu", (double)r->cpu);
	cJSON_AddNumberToObject(o, "gpu", (double)r->gpu);
	cJSON_AddNumberToObject(o, "mem", (double)r->mem);
	c = cJSON_AddObjectToObject(o, "custom");
	for (i = 0; i < r->ncustom; i++)
		cJSON_AddNumberToObject(c, r->custom[i].name, (double)r->custom[i].q);
}

static void on_forwarded(void *ud, int rc, cJSON *reply, const char *d, size_t dl)
{
	task *t = task_find(ud);

	(void)reply;
	(void)d;
	(void)dl;
	free(ud);
	if (!t || !rc || t->state != T_SUBMITTED || !t->exec_node[0])
		return;
	/* The node refused or vanished: place it again. */
	t->exec_node[0] = '\0';
	queue_push(t);
}

static int forward(task *t, rnode *r)
{
	cJSON *req = cJSON_CreateObject(), *j, *a;
	peer *p = peer_for(r->id, r->addr);
	char *ud = strdup(t->id);
	int i, rc;

	if (!p || !ud) {
		cJSON_Delete(req);
		free(ud);
		return -1;
	}
	cJSON_AddStringToObject(req, "op", "task_run");
	cJSON_AddStringToObject(req, "owner", N->id);
	j = cJSON_AddObjectToObject(req, "task");
	cJSON_AddStringToObject(j, "id", t->id);
	if (t->name)
		cJSON_AddStringToObject(j, "name", t->name);
	cJSON_AddStringToObject(j, "job", t->job);
	cJSON_AddBoolToObject(j, "shell", t->shell);
	a = cJSON_AddArrayToObject(j, "argv");
	for (i = 0; t->argv[i]; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(t->argv[i]));
	a = cJSON_AddArrayToObject(j, "env");
	for (i = 0; t->env && t->env[i]; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(t->env[i]));
	res_to_json_raw(j, "req", &t->req);
	cJSON_AddNumberToObject(j, "num_returns", t->num_returns);
	cJSON_AddNumberToObject(j, "max_retries", t->max_retries);
	cJSON_AddNumberToObject(j, "attempt", t->attempt);
	cJSON_AddBoolToObject(j, "retry_exceptions", t->retry_exceptions);
	a = cJSON_AddArrayToObject(j, "retry_codes");
	for (i = 0; i < t->nretry_codes; i++)
		cJSON_AddItemToArray(a, cJSON_CreateNumber(t->retry_codes[i]));
	if (t->stdin_obj)
		cJSON_AddStringToObject(j, "stdin", t->stdin_obj->ref);
	if (t->pg[0]) {
		cJSON_AddStringToObject(j, "pg", t->pg);
		cJSON_AddNumberToObject(j, "bundle", t->bundle);
	}
	rc = peer_request(p, req, NULL, 0, on_forwarded, ud);
	cJSON_Delete(req);
	if (rc) {
		free(ud);
		return -1;
	}
	if (!t->pg[0])
		res_sub(&r->avail, &t->req);   /* until its next heartbeat says */
	snprintf(t->exec_node, sizeof(t->exec_node), "%s", r->id);
	t->state = T_SUBMITTED;
	t->start_ms = ray_now_ms();
	return 0;
}

/* Where t should run now: 0 here, 1 forwarded, -1 nowhere yet. */
static int place(task *t)
{
	rnode *self = view_self(), *best = NULL, *r;
	int i, n = N->nview;

	if (t->pg[0]) {
		int ready, nb;
		const char *where;
		res *pool;
		if (t->owner[0] || pg_local_bundle(t->pg, t->bundle)) {
			pool = task_pool(t);
			if (pool && res_fits(&t->req, pool))
				return 0;
			if (t->owner[0] && pool)
				return -1;
			if (!t->owner[0] && t->bundle >= 0)
				return -1;
		}
		/* Sent here for a bundle this node no longer holds: removed. */
		where = t->owner[0] ? NULL : pg_bundle_node(t->pg, t->bundle, &ready, &nb);
		if (!where) {
			char desc[256], msg[512];
			task_desc(t, desc, sizeof(desc));
			snprintf(msg, sizeof(msg), "%s cannot run: its placement group %s was removed", desc, t->pg);
			queue_remove(t);
			task_finish_error(t, T_FAILED, RAY_ERESOURCE, msg);
			return 2;
		}
		if (!ready || !where[0] || !strcmp(where, N->id))
			return -1;
		r = view_find(where);
		if (!r || !r->alive)
			return -1;
		return forward(t, r) ? -1 : 1;
	}
	if (t->owner[0] || n <= 1)
		return res_fits(&t->req, &N->avail) ? 0 : -1;
	if (t->pin[0] && !t->pin_soft) {
		if (!strcmp(t->pin, N->id))
			return res_fits(&t->req, &N->avail) ? 0 : -1;
		r = view_find(t->pin);
		if (r && !r->alive) {
			char desc[256], msg[512];
			task_desc(t, desc, sizeof(desc));
			snprintf(msg, sizeof(msg), "%s can never be placed: it is pinned to node %s, which died",
			         desc, t->pin);
			queue_remove(t);
			task_finish_error(t, T_FAILED, RAY_ERESOURCE, msg);
			return 2;
		}
		if (!r)
			return -1;
		return forward(t, r) ? -1 : 1;
	}
	if (t->spread) {
		for (i = 0; i < n; i++) {
			r = &N->view[(N->spread_rr + (unsigned)i) % (unsigned)n];
			if (!can_host(r, t) || !res_fits(&t->req, r == self ? &N->avail : &r->avail))
				continue;
			N->spread_rr = (N->spread_rr + (unsigned)i + 1) % (unsigned)n;
			if (r == self)
				return 0;
			return forward(t, r) ? -1 : 1;
		}
		return -1;
	}
	if (t->prefer || t->pin_soft) {
		for (i = 0; i < n; i++) {
			r = &N->view[i];
			if (!prefers(r, t) || !can_host(r, t) || !res_fits(&t->req, r == self ? &N->avail : &r->avail))
				continue;
			if (r == self)
				return 0;
			if (!forward(t, r))
				return 1;
		}
	}
	if (self && can_host(self, t) && res_fits(&t->req, &N->avail))
		return 0;
	for (i = 0; i < n; i++) {
		r = &N->view[i];
		if (r == self || !can_host(r, t) || !res_fits(&t->req, &r->avail))
			continue;
		if (!best || r->avail.cpu * best->total.cpu > best->avail.cpu * r->total.cpu)
			best = r;
	}
	if (best)
		return forward(t, best) ? -1 : 1;
	return -1;
}

void sched_run(void)
{
	task *t, *next;
	int scanned = 0;

	actor_sched();
	t = N->qhead;

	while (t && scanned < SCAN_LIMIT && !N->stopping) {
		int where;
		next = t->qnext;
		/* A retried task's process handle may still be closing. */
		if (t->proc_live) {
			scanned++;
			t = next;
			continue;
		}
		where = place(t);
		if (where == 0 && !gpu_can_take(&t->req)) {
			scanned++;   /* the GPUs fit, but no device is free enough */
			t = next;
			continue;
		}
		if (where == 0) {
			queue_remove(t);
			task_start(t);
		} else if (where == 1) {
			queue_remove(t);
			t->state = T_SUBMITTED;
		} else if (where == 2) {
			/* failed and dequeued by place() */
		} else {
			scanned++;
		}
		t = next;
	}
}

void sched_dep_ready(task *t, obj *o)
{
	char desc[256], msg[2048];

	if (t->state != T_PENDING_ARGS)
		return;
	if (o->state == OBJ_ERROR) {
		task_desc(t, desc, sizeof(desc));
		snprintf(msg, sizeof(msg), "%s: argument %s failed: %s", desc, o->ref,
		         o->err_msg ? o->err_msg : "error");
		task_finish_error(t, T_FAILED, o->err_code, msg);
		if (t->act)
			actor_call_ready(t);
		return;
	}
	if (--t->deps_missing == 0) {
		if (t->act) {
			actor_call_ready(t);
			return;
		}
		queue_push(t);
		sched_run();
	}
}

/* A task in a placement group lends to and takes back from its bundle. */
void task_lend(task *t)
{
	res *pool;

	if (t->state != T_RUNNING)
		return;
	if (t->lent++ == 0) {
		if ((pool = task_pool(t)))
			pool->cpu += t->req.cpu;
		sched_run();
	}
}

void task_unlend(const char *id)
{
	task *t = task_find(id);
	res *pool;

	if (!t || t->lent <= 0)
		return;
	if (--t->lent == 0 && t->state == T_RUNNING && (pool = task_pool(t)))
		pool->cpu -= t->req.cpu;
}

/* ---- requests ---- */

typedef struct tmpl {
	res req;
	int num_returns, max_retries, retry_exceptions;
	int blocked;              /* unused: placement decides */
	char labels[600];         /* ",k=v,k=v," or "" */
	const char *prefer;
	char pin[RAY_NODEID_LEN + 1];
	int pin_soft, spread;
	char pg[RAY_ID_MAX + 1];
	int bundle;
	int *codes; int ncodes;
	const char *name, *stdin_ref, *job;
	char **env;
	char warning[512];
} tmpl;

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
			strv_free(v);
			return NULL;
		}
		v[i++] = strdup(it->valuestring);
	}
	return v;
}

/* The resources a task or actor asks for. */
int res_parse_request(const cJSON *o, res *r, ray_err *err)
{
	const cJSON *a, *it;
	int64_t cpus = rj_int(o, "cpus", QTY_ONE);
	int rc;

	memset(r, 0, sizeof(*r));
	r->cpu = cpus < 0 ? 0 : cpus;
	r->gpu = rj_int(o, "gpus", 0);
	r->mem = rj_int(o, "memory", 0);
	if (r->gpu < 0 || r->mem < 0)
		return ray_seterr(err, RAY_EUSAGE, "negative resource request");
	a = cJSON_GetObjectItemCaseSensitive(o, "resources");
	cJSON_ArrayForEach(it, a) {
		if (!cJSON_IsString(it))
			return ray_seterr(err, RAY_EUSAGE, "bad resource");
		if ((rc = res_add_one(r, it->valuestring, err)))
			return rc;
	}
	return 0;
}

static int parse_opts(const cJSON *o, tmpl *tp, ray_err *err)
{
	const cJSON *a, *it;
	char buf[256];
	const char *pin, *pg;
	int rc;

	memset(tp, 0, sizeof(*tp));
	if ((rc = res_parse_request(o, &tp->req, err)))
		return rc;
	tp->num_returns = (int)rj_int(o, "num_returns", 1);
	if (tp->num_returns < 1 || tp->num_returns > MAX_RETURNS)
		return ray_seterr(err, RAY_EUSAGE, "--num-returns must be 1..%d", MAX_RETURNS);
	tp->max_retries = (int)rj_int(o, "max_retries", 3);
	if (tp->max_retries < 0 || tp->max_retries > 1000000)
		return ray_seterr(err, RAY_EUSAGE, "bad --max-retries");
	tp->retry_exceptions = rj_bool(o, "retry_exceptions");
	a = cJSON_GetObjectItemCaseSensitive(o, "retry_exit_codes");
	if (cJSON_IsArray(a) && cJSON_GetArraySize(a) > 0) {
		int n = cJSON_GetArraySize(a), i = 0;
		if (n > 256)
			return ray_seterr(err, RAY_EUSAGE, "too many --retry-exit-codes");
		tp->codes = calloc((size_t)n, sizeof(int));
		if (!tp->codes)
			return ray_seterr(err, RAY_ERESOURCE, "out of memory");
		cJSON_ArrayForEach(it, a)
			tp->codes[i++] = cJSON_IsNumber(it) ? (int)it->valuedouble : -1;
		tp->ncodes = n;
	}
	tp->name = rj_str(o, "name");
	tp->stdin_ref = rj_str(o, "stdin");
	tp->job = rj_str(o, "job_id");
	if (tp->job && (strlen(tp->job) > RAY_ID_MAX || !*tp->job))
		return ray_seterr(err, RAY_EUSAGE, "bad job id");
	a = cJSON_GetObjectItemCaseSensitive(o, "env");
	if (a) {
		tp->env = json_strv(a, 1, err);
		if (!tp->env)
			return err->code;
	}
	pin = rj_str(o, "node");
	if (pin) {
		size_t nl = strcspn(pin, ":");
		int soft = pin[nl] == ':' && !strcmp(pin + nl + 1, "soft");
		rnode *r;
		if ((pin[nl] && !soft) || nl != RAY_NODEID_LEN)
			return ray_seterr(err, RAY_EUSAGE, "bad --node '%.80s': want NODE_ID or NODE_ID:soft", pin);
		snprintf(tp->pin, sizeof(tp->pin), "%.*s", (int)nl, pin);
		tp->pin_soft = soft;
		r = view_find(tp->pin);
		if (!soft && !r)
			return ray_seterr(err, RAY_ENOTFOUND, "unknown node '%s'", tp->pin);
		if (!soft && !r->alive)
			return ray_seterr(err, RAY_ERESOURCE, "node '%s' is dead: the task can never be placed", tp->pin);
	}
	pg = rj_str(o, "pg");
	tp->bundle = -1;
	if (pg) {
		const char *gid = pg_resolve_id(pg);
		int ready, nb;
		int64_t bi = rj_int(o, "bundle", -1);
		if (!gid)
			return ray_seterr(err, RAY_ENOTFOUND, "unknown placement group '%.80s'", pg);
		if (!pg_bundle_node(gid, -1, &ready, &nb))
			return ray_seterr(err, RAY_ENOTFOUND, "placement group '%.80s' was removed", pg);
		if (bi >= nb)
			return ray_seterr(err, RAY_EUSAGE, "placement group %s has no bundle %lld (it has %d)",
			                  gid, (long long)bi, nb);
		if (!pg_bundle_fits(gid, (int)bi, &tp->req))
			return ray_seterr(err, RAY_ERESOURCE,
			                  "the task asks for more than %s of placement group %s holds; "
			                  "ask for less (--cpus, --gpus, --resource) or use a bigger bundle",
			                  bi < 0 ? "any bundle" : "its bundle", gid);
		snprintf(tp->pg, sizeof(tp->pg), "%s", gid);
		tp->bundle = bi < 0 ? -1 : (int)bi;
	}
	tp->prefer = rj_str(o, "prefer_label");
	a = cJSON_GetObjectItemCaseSensitive(o, "labels");
	tp->labels[0] = '\0';
	cJSON_ArrayForEach(it, a) {
		if (!cJSON_IsString(it) || !strchr(it->valuestring, '=') ||
		    strlen(tp->labels) + strlen(it->valuestring) + 2 >= sizeof(tp->labels))
			return ray_seterr(err, RAY_EUSAGE, "bad --label: want KEY=VAL");
		if (!tp->labels[0])
			strcat(tp->labels, ",");
		strcat(tp->labels, it->valuestring);
		strcat(tp->labels, ",");
	}
	tp->spread = rj_str(o, "strategy") && !strcmp(rj_str(o, "strategy"), "spread");
	{
		task probe;
		memset(&probe, 0, sizeof(probe));
		probe.req = tp->req;
		probe.labels = tp->labels[0] ? tp->labels : NULL;
		if (!tp->pin_soft && tp->pin[0])
			snprintf(probe.pin, sizeof(probe.pin), "%s", tp->pin);
		if (!tp->pg[0] && sched_infeasible_reason(&probe, buf, sizeof(buf)))
			snprintf(tp->warning, sizeof(tp->warning),
			         "infeasible: %s; the task stays pending until a node that fits joins", buf);
	}
	return 0;
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

/* Checks that every ref named by a task exists; returns the bad one. */
static int check_task_refs(const cJSON *t, ray_err *err)
{
	char refs[65][RAY_REF_MAX + 1];
	const cJSON *it;
	int n, i, rc;

	if (cJSON_IsString(t)) {
		n = line_refs(t->valuestring, refs, 65);
		if (n > 64)
			return ray_seterr(err, RAY_EUSAGE, "a command line names more than 64 @REF objects; "
			                  "pass them as arguments instead (ray-submit -- CMD @REF...)");
		for (i = 0; i < n; i++)
			if (!store_lookup(refs[i]))
				return ray_seterr(err, RAY_ENOTFOUND, "unknown ref '%s'", refs[i]);
		return 0;
	}
	if (!cJSON_IsArray(t) || cJSON_GetArraySize(t) < 1)
		return ray_seterr(err, RAY_EUSAGE, "empty command");
	cJSON_ArrayForEach(it, t) {
		const char *a;
		if (!cJSON_IsString(it))
			return ray_seterr(err, RAY_EUSAGE, "command words must be strings");
		a = it->valuestring;
		if ((rc = task_arg_check(a, err)))
			return rc;
	}
	return 0;
}

void task_add_dep(task *t, obj *o)
{
	obj **nd = realloc(t->deps, (size_t)(t->ndeps + 1) * sizeof(*nd));

	if (!nd)
		return;
	t->deps = nd;
	t->deps[t->ndeps++] = o;
	o->pins++;
	if (o->state == OBJ_PENDING || o->remote || (o->state == OBJ_READY && !obj_resident(o))) {
		/* Pending, elsewhere, or spilled: fetched or restored first. */
		t->deps_missing++;
		obj_add_dep(o, t);
		if (o->remote)
			fetch_start(o);
		else
			store_restore(o);
	}
}

void task_register(task *t)
{
	map_put(&N->tasks, t->id, t);
	t->prev = N->ttail;
	if (N->ttail)
		N->ttail->next = t;
	else
		N->thead = t;
	N->ttail = t;
	N->ntasks++;
	N->ntask_total++;
	t->submit_ms = ray_now_ms();
}

static task *task_create(const tmpl *tp, const cJSON *spec, cJSON *refs_out)
{
	task *t = calloc(1, sizeof(*t));
	char rnd[17], ref[RAY_REF_MAX + 1];
	int i;

	if (!t)
		return NULL;
	ray_random_hex(rnd, 8);
	snprintf(t->id, sizeof(t->id), "%s%s", N->id, rnd);
	snprintf(t->job, sizeof(t->job), "%s", tp->job ? tp->job : "00000000");
	t->name = tp->name ? strdup(tp->name) : NULL;
	t->req = tp->req;
	t->labels = tp->labels[0] ? strdup(tp->labels) : NULL;
	t->prefer = tp->prefer ? strdup(tp->prefer) : NULL;
	snprintf(t->pin, sizeof(t->pin), "%s", tp->pin);
	t->pin_soft = tp->pin_soft;
	t->spread = tp->spread;
	snprintf(t->pg, sizeof(t->pg), "%s", tp->pg);
	t->bundle = tp->bundle;
	t->num_returns = tp->num_returns;
	t->max_retries = tp->max_retries;
	t->retry_exceptions = tp->retry_exceptions;
	if (tp->ncodes) {
		t->retry_codes = malloc((size_t)tp->ncodes * sizeof(int));
		if (t->retry_codes) {
			memcpy(t->retry_codes, tp->codes, (size_t)tp->ncodes * sizeof(int));
			t->nretry_codes = tp->ncodes;
		}
	}
	if (tp->env) {
		size_t n = 0;
		while (tp->env[n])
			n++;
		t->env = calloc(n + 1, sizeof(char *));
		for (i = 0; t->env && i < (int)n; i++)
			t->env[i] = strdup(tp->env[i]);
	}
	if (cJSON_IsString(spec)) {
		t->shell = 1;
		t->argv = calloc(4, sizeof(char *));
		if (t->argv) {
			t->argv[0] = strdup("/bin/sh");
			t->argv[1] = strdup("-c");
			t->argv[2] = strdup(spec->valuestring);
		}
	} else {
		t->argv = json_strv(spec, 0, NULL);
	}
	t->rets = calloc((size_t)t->num_returns, sizeof(obj *));
	if (!t->argv || !t->rets) {
		task_release(t);
		return NULL;
	}
	task_register(t);
	for (i = 0; i < t->num_returns; i++) {
		snprintf(ref, sizeof(ref), "%s%08x", t->id, (unsigned)(i + 1));
		t->rets[i] = store_new(ref);
		if (t->rets[i])
			t->rets[i]->producer = t;
		cJSON_AddItemToArray(refs_out, cJSON_CreateString(ref));
	}
	/* Dependencies: @REF words and --stdin. */
	if (t->shell) {
		char refs[64][RAY_REF_MAX + 1];
		int n = line_refs(t->argv[2], refs, 64);
		for (i = 0; i < n; i++)
			task_add_dep(t, store_find(refs[i]));
	} else {
		for (i = 0; t->argv[i]; i++)
			if (is_ref_arg(t->argv[i]))
				task_add_dep(t, store_find(t->argv[i] + 1));
	}
	if (tp->stdin_ref) {
		t->stdin_obj = store_find(tp->stdin_ref);
		task_add_dep(t, t->stdin_obj);
	}
	if (t->deps_missing) {
		t->state = T_PENDING_ARGS;
	} else {
		for (i = 0; i < t->ndeps; i++)
			if (t->deps[i]->state == OBJ_ERROR) {
				t->state = T_PENDING_ARGS;
				t->deps_missing = 1;
				sched_dep_ready(t, t->deps[i]);
				return t;
			}
		queue_push(t);
	}
	return t;
}

void op_submit(conn *c, uint32_t id, cJSON *req)
{
	const cJSON *opts = cJSON_GetObjectItemCaseSensitive(req, "opts");
	const cJSON *tasks = cJSON_GetObjectItemCaseSensitive(req, "tasks"), *it;
	cJSON *r, *refs;
	ray_err err = { 0, "" };
	tmpl tp;
	int rc;

	if (!cJSON_IsArray(tasks)) {
		conn_reply_err(c, id, RAY_EUSAGE, "submit wants tasks");
		return;
	}
	rc = parse_opts(opts, &tp, &err);
	if (rc == RAY_ENOTFOUND && !tp.pg[0] && rj_str(opts, "pg") && pg_refresh_then(c, id, req, op_submit)) {
		/* a group made a moment ago through another node: ask the head */
		free(tp.codes);
		strv_free(tp.env);
		return;
	}
	if (!rc && tp.stdin_ref && !ray_ref_valid(tp.stdin_ref))
		rc = ray_seterr(&err, RAY_EUSAGE, "malformed ref '%.80s'", tp.stdin_ref);
	if (!rc && tp.stdin_ref && !store_lookup(tp.stdin_ref))
		rc = ray_seterr(&err, RAY_ENOTFOUND, "unknown ref '%s'", tp.stdin_ref);
	cJSON_ArrayForEach(it, tasks) {
		if (rc)
			break;
		rc = check_task_refs(it, &err);
	}
	if (rc) {
		conn_reply_err(c, id, rc, "%s", err.msg);
		free(tp.codes);
		strv_free(tp.env);
		return;
	}
	r = cJSON_CreateObject();
	refs = cJSON_AddArrayToObject(r, "refs");
	cJSON_ArrayForEach(it, tasks)
		if (!task_create(&tp, it, refs)) {
			cJSON_Delete(r);
			conn_reply_err(c, id, RAY_ERESOURCE, "out of memory");
			free(tp.codes);
			strv_free(tp.env);
			return;
		}
	if (tp.warning[0])
		cJSON_AddStringToObject(r, "warning", tp.warning);
	free(tp.codes);
	strv_free(tp.env);
	conn_reply(c, id, r, NULL, 0);
	sched_run();
}

void op_cancel(conn *c, uint32_t id, cJSON *req)
{
	const cJSON *refs = cJSON_GetObjectItemCaseSensitive(req, "refs"), *it;
	int force = rj_bool(req, "force"), n = 0;
	char desc[256], msg[512];
	cJSON *r;

	cJSON_ArrayForEach(it, refs) {
		obj *o = cJSON_IsString(it) ? store_find(it->valuestring) : NULL;
		if (!o) {
			conn_reply_err(c, id, RAY_ENOTFOUND, "unknown ref '%.80s'",
			               cJSON_IsString(it) ? it->valuestring : "?");
			return;
		}
	}
	cJSON_ArrayForEach(it, refs) {
		obj *o = store_find(it->valuestring);
		task *t = o->producer;
		if (!t)
			continue;
		task_desc(t, desc, sizeof(desc));
		snprintf(msg, sizeof(msg), "%s was cancelled", desc);
		if (t->act) {
			n += actor_call_cancel(t, msg);
			continue;
		}
		if (t->state == T_PENDING_ARGS || t->state == T_PENDING_NODE) {
			queue_remove(t);
			task_finish_error(t, T_CANCELLED, RAY_ECANCEL, msg);
			n++;
		} else if (t->state == T_SUBMITTED && t->exec_node[0]) {
			peer *p = peer_node(t->exec_node);
			cJSON *fw = cJSON_CreateObject(), *a = cJSON_AddArrayToObject(fw, "refs");
			cJSON_AddStringToObject(fw, "op", "cancel");
			cJSON_AddItemToArray(a, cJSON_CreateString(o->ref));
			cJSON_AddBoolToObject(fw, "force", force);
			if (p)
				peer_request(p, fw, NULL, 0, NULL, NULL);
			cJSON_Delete(fw);
			n++;
		} else if ((t->state == T_RUNNING || t->state == T_SUBMITTED) && t->pid > 0) {
			t->cancel = force ? 2 : 1;
			kill(-t->pid, force ? SIGKILL : SIGTERM);
			n++;
		}
	}
	r = cJSON_CreateObject();
	cJSON_AddNumberToObject(r, "cancelled", n);
	conn_reply(c, id, r, NULL, 0);
}

void sched_kill_all(void)
{
	task *t;

	for (t = N->thead; t; t = t->next)
		if (t->pid > 0 && t->proc_live)
			kill(-t->pid, SIGKILL);
}

void tasks_free_all(void)
{
	while (N->thead) {
		task *t = N->thead;
		N->thead = t->next;
		task_release(t);
	}
	N->ttail = NULL;
	map_release(&N->tasks);
}

/* ---- tasks run for another node's owner ---- */

static void res_from_json_raw(res *r, const cJSON *j)
{
	const cJSON *c = cJSON_GetObjectItemCaseSensitive(j, "custom"), *it;

	memset(r, 0, sizeof(*r));
	r->cpu = rj_int(j, "cpu", 0);
	r->gpu = rj_int(j, "gpu", 0);
	r->mem = rj_int(j, "mem", 0);
	cJSON_ArrayForEach(it, c) {
		int64_t *q;
		if (!cJSON_IsNumber(it) || strlen(it->string) >= sizeof(r->custom[0].name))
			continue;
		q = custom_slot(r, it->string);
		if (q)
			*q = (int64_t)it->valuedouble;
	}
}

/* Tells the owner how a task it forwarded here ended. */
/* A task_done on its way to the owner: sent again (a few times, each on
 * a fresh connection) when the connection breaks under it, so a broken
 * connection never leaves the owner waiting for a task that ended. */
typedef struct report {
	char owner[RAY_NODEID_LEN + 1];
	cJSON *req;               /* owned */
	rbuf data;                /* owned: the task's stderr tail */
	int tries;
} report;

static int report_again(report *r);

static void on_reported(void *ud, int rc, cJSON *reply, const char *d, size_t dl)
{
	report *r = ud;

	(void)reply;
	(void)d;
	(void)dl;
	if (rc == RAY_EUNREACH && !N->stopping && ++r->tries < 5 && !report_again(r))
		return;
	if (rc == RAY_EUNREACH)
		node_log("could not tell node %s that task %s ended", r->owner, rj_str(r->req, "task_id"));
	cJSON_Delete(r->req);
	rbuf_release(&r->data);
	free(r);
}

static int report_again(report *r)
{
	peer *p = peer_node(r->owner);

	return p ? peer_request(p, r->req, r->data.p, r->data.len, on_reported, r) : -1;
}

/* Sends req (taken) with data (taken) to owner. */
static void report_send(const char *owner, cJSON *req, rbuf *data)
{
	report *r = calloc(1, sizeof(*r));

	if (!r) {
		cJSON_Delete(req);
		rbuf_release(data);
		return;
	}
	snprintf(r->owner, sizeof(r->owner), "%s", owner);
	r->req = req;
	r->data = *data;
	memset(data, 0, sizeof(*data));
	if (report_again(r)) {
		cJSON_Delete(r->req);
		rbuf_release(&r->data);
		free(r);
	}
}

static void report_done(task *t)
{
	cJSON *req, *a;
	int i;

	if (!peer_node(t->owner))
		return;
	req = cJSON_CreateObject();
	cJSON_AddStringToObject(req, "op", "task_done");
	cJSON_AddStringToObject(req, "task_id", t->id);
	cJSON_AddStringToObject(req, "node_id", N->id);
	cJSON_AddNumberToObject(req, "state", t->state);
	cJSON_AddNumberToObject(req, "attempt", t->attempt);
	cJSON_AddNumberToObject(req, "exit_code", t->exit_code);
	cJSON_AddNumberToObject(req, "signal", t->term_signal);
	a = cJSON_AddArrayToObject(req, "results");
	for (i = 0; i < t->num_returns; i++) {
		obj *o = t->rets[i];
		cJSON *r = cJSON_CreateObject();
		if (o && o->state == OBJ_READY) {
			cJSON_AddNumberToObject(r, "size", (double)o->size);
		} else {
			cJSON_AddNumberToObject(r, "code", o ? o->err_code : RAY_ELOST);
			cJSON_AddStringToObject(r, "msg", o && o->err_msg ? o->err_msg : "lost");
		}
		cJSON_AddItemToArray(a, r);
	}
	{
		/* The stderr travels to the owner, so logs outlive this node. */
		char path[PATH_MAX + 64];
		rbuf log = { 0 };
		int fd;
		log_path(t, path, sizeof(path));
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			off_t end = lseek(fd, 0, SEEK_END), start = end > (off_t)LOG_SHIP_MAX ? end - (off_t)LOG_SHIP_MAX : 0;
			if (end > 0 && !rbuf_reserve(&log, (size_t)(end - start))) {
				ssize_t n = pread(fd, log.p, (size_t)(end - start), start);
				log.len = n > 0 ? (size_t)n : 0;
			}
			close(fd);
		}
		report_send(t->owner, req, &log);
	}
}

void sched_task_ended(task *t)
{
	if (t->owner[0])
		report_done(t);
}

void op_task_run(conn *c, uint32_t id, cJSON *req)
{
	const char *owner = rj_str(req, "owner");
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(req, "task"), *it;
	const char *tid = rj_str(j, "id"), *job = rj_str(j, "job"), *sin = rj_str(j, "stdin");
	ray_err err = { 0, "" };
	char ref[RAY_REF_MAX + 1];
	task *t;
	int i, n;

	if (!owner || strlen(owner) != RAY_NODEID_LEN || !tid || strlen(tid) != 2 * RAY_NODEID_LEN ||
	    !ray_ref_valid(tid) || !cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(j, "argv"))) {
		conn_reply_err(c, id, RAY_EUSAGE, "bad task");
		return;
	}
	if (task_find(tid)) {
		conn_reply(c, id, cJSON_CreateObject(), NULL, 0);
		return;
	}
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(j, "argv"))
		if (!cJSON_IsString(it) || (!rj_bool(j, "shell") && task_arg_check(it->valuestring, &err))) {
			conn_reply_err(c, id, err.code ? err.code : RAY_EUSAGE, "%s", err.msg[0] ? err.msg : "bad argv");
			return;
		}
	if (sin && !store_lookup(sin)) {
		conn_reply_err(c, id, RAY_ENOTFOUND, "unknown ref '%.80s'", sin);
		return;
	}
	n = (int)rj_int(j, "num_returns", 1);
	if (n < 1 || n > MAX_RETURNS) {
		conn_reply_err(c, id, RAY_EUSAGE, "bad num_returns");
		return;
	}
	t = calloc(1, sizeof(*t));
	if (!t) {
		conn_reply_err(c, id, RAY_ERESOURCE, "out of memory");
		return;
	}
	snprintf(t->id, sizeof(t->id), "%s", tid);
	snprintf(t->owner, sizeof(t->owner), "%s", owner);
	t->bundle = -1;
	if (rj_str(j, "pg") && strlen(rj_str(j, "pg")) <= RAY_ID_MAX) {
		snprintf(t->pg, sizeof(t->pg), "%s", rj_str(j, "pg"));
		t->bundle = (int)rj_int(j, "bundle", -1);
	}
	snprintf(t->job, sizeof(t->job), "%s", job && strlen(job) <= RAY_ID_MAX ? job : "00000000");
	t->name = rj_str(j, "name") ? strdup(rj_str(j, "name")) : NULL;
	t->shell = rj_bool(j, "shell");
	t->argv = json_strv(cJSON_GetObjectItemCaseSensitive(j, "argv"), 0, NULL);
	t->env = json_strv(cJSON_GetObjectItemCaseSensitive(j, "env"), 1, NULL);
	res_from_json_raw(&t->req, cJSON_GetObjectItemCaseSensitive(j, "req"));
	t->num_returns = n;
	t->max_retries = (int)rj_int(j, "max_retries", 0);
	t->attempt = (int)rj_int(j, "attempt", 0);
	t->retry_exceptions = rj_bool(j, "retry_exceptions");
	n = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "retry_codes"));
	if (n > 0 && n <= 256 && (t->retry_codes = calloc((size_t)n, sizeof(int)))) {
		cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(j, "retry_codes"))
			t->retry_codes[t->nretry_codes++] = cJSON_IsNumber(it) ? (int)it->valuedouble : -1;
	}
	t->rets = calloc((size_t)t->num_returns, sizeof(obj *));
	if (!t->argv || !t->argv[0] || !t->rets || (t->shell && (!t->argv[1] || !t->argv[2]))) {
		task_release(t);
		conn_reply_err(c, id, RAY_EUSAGE, "bad task");
		return;
	}
	task_register(t);
	for (i = 0; i < t->num_returns; i++) {
		obj *o;
		snprintf(ref, sizeof(ref), "%s%08x", t->id, (unsigned)(i + 1));
		o = store_find(ref);
		if (o && o->state != OBJ_PENDING && !o->nwait && !o->ndeps)
			store_free(o);
		o = store_find(ref);
		if (!o)
			o = store_new(ref);
		t->rets[i] = o;
		if (o)
			o->producer = t;
	}
	if (t->shell) {
		char refs[64][RAY_REF_MAX + 1];
		int k = line_refs(t->argv[2], refs, 64);
		for (i = 0; i < k; i++) {
			obj *o = store_lookup(refs[i]);
			if (o)
				task_add_dep(t, o);
		}
	} else {
		for (i = 0; t->argv[i]; i++)
			if (is_ref_arg(t->argv[i]))
				task_add_dep(t, store_find(t->argv[i] + 1));
	}
	if (sin) {
		t->stdin_obj = store_find(sin);
		task_add_dep(t, t->stdin_obj);
	}
	conn_reply(c, id, cJSON_CreateObject(), NULL, 0);
	if (t->deps_missing) {
		t->state = T_PENDING_ARGS;
	} else {
		for (i = 0; i < t->ndeps; i++)
			if (t->deps[i]->state == OBJ_ERROR) {
				t->state = T_PENDING_ARGS;
				t->deps_missing = 1;
				sched_dep_ready(t, t->deps[i]);
				return;
			}
		queue_push(t);
		sched_run();
	}
}

void op_task_done(conn *c, uint32_t id, cJSON *req, const char *data, size_t dlen)
{
	task *t = task_find(rj_str(req, "task_id"));
	const char *from = rj_str(req, "node_id");
	const cJSON *results = cJSON_GetObjectItemCaseSensitive(req, "results"), *it;
	int state = (int)rj_int(req, "state", T_FAILED), i = 0;
	rnode *r;

	conn_reply(c, id, cJSON_CreateObject(), NULL, 0);
	if (!t || t->owner[0] || t->state >= T_FINISHED || !from || strcmp(from, t->exec_node) ||
	    cJSON_GetArraySize(results) != t->num_returns)
		return;
	if (dlen) {
		char path[PATH_MAX + 64];
		int fd;
		log_path(t, path, sizeof(path));
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd >= 0) {
			if (write(fd, data, dlen) < 0)
				node_log("cannot keep the log of %s", t->id);
			close(fd);
		}
	}
	t->attempt = (int)rj_int(req, "attempt", t->attempt);
	t->exit_code = (int)rj_int(req, "exit_code", 0);
	t->term_signal = (int)rj_int(req, "signal", 0);
	/* Its resources are free there now: do not wait for a heartbeat to
	 * send that node more work. */
	if ((r = view_find(from)) && r->alive && !t->pg[0]) {
		res_add(&r->avail, &t->req);
		res_clamp(&r->avail, &r->total);
	}
	if (state == T_FINISHED) {
		cJSON_ArrayForEach(it, results) {
			obj *o = t->rets[i++];
			int64_t size = rj_int(it, "size", -1);
			if (!o || o->state != OBJ_PENDING)
				continue;
			if (size < 0) {
				store_fail(o, RAY_ELOST, "lost");
				continue;
			}
			o->size = (uint64_t)size;
			o->remote = 1;
			snprintf(o->loc, sizeof(o->loc), "%s", from);
			store_ready(o);
		}
		t->state = T_FINISHED;
		t->end_ms = ray_now_ms();
		N->nfinished++;
		task_unpin_deps(t);
	} else {
		const cJSON *first = cJSON_GetArrayItem(results, 0);
		int code = (int)rj_int(first, "code", RAY_EFAILED);
		if (code >= 0 || code < RAY_ENOTFOUND)
			code = RAY_EFAILED;
		task_finish_error(t, state == T_CANCELLED ? T_CANCELLED : T_FAILED, code,
		                  rj_str(first, "msg") ? rj_str(first, "msg") : "task failed");
	}
	sched_run();
}

/* Re-runs a finished task to rebuild its lost results (lineage). */
static void task_rebuild(task *t)
{
	int i;

	t->attempt++;
	t->exec_node[0] = '\0';
	t->state = T_PENDING_NODE;
	for (i = 0; i < t->num_returns; i++) {
		obj *o = t->rets[i];
		if (o && o->state == OBJ_READY && o->remote) {
			o->state = OBJ_PENDING;
			o->remote = 0;
		}
	}
	if (t->shell) {
		char refs[64][RAY_REF_MAX + 1];
		int k = line_refs(t->argv[2], refs, 64);
		for (i = 0; i < k; i++)
			if (store_find(refs[i]))
				task_add_dep(t, store_find(refs[i]));
	} else {
		for (i = 0; t->argv[i]; i++)
			if (is_ref_arg(t->argv[i]) && store_find(t->argv[i] + 1))
				task_add_dep(t, store_find(t->argv[i] + 1));
	}
	if (t->stdin_obj)
		task_add_dep(t, t->stdin_obj);
	if (t->deps_missing)
		t->state = T_PENDING_ARGS;
	else
		queue_push(t);
}

void sched_node_died(const char *id)
{
	char desc[256], msg[600];
	task *t;
	obj *o, *next;

	for (t = N->thead; t; t = t->next) {
		if (t->owner[0] || strcmp(t->exec_node, id) || t->state >= T_FINISHED || t->state < T_SUBMITTED)
			continue;
		t->exec_node[0] = '\0';
		if (t->attempt < t->max_retries) {
			t->attempt++;
			queue_push(t);
		} else {
			task_desc(t, desc, sizeof(desc));
			snprintf(msg, sizeof(msg), "%s failed: node %s died while running it, after %d attempt%s",
			         desc, id, t->attempt + 1, t->attempt ? "s" : "");
			task_finish_error(t, T_FAILED, RAY_ECRASH, msg);
		}
	}
	for (o = N->ohead; o; o = next) {
		next = o->next;
		if (o->foreign || o->state != OBJ_READY || !o->remote || strcmp(o->loc, id))
			continue;
		t = o->producer;
		if (t && t->state == T_FINISHED && !t->act && t->attempt < t->max_retries &&
		    (t->pin_soft || strcmp(t->pin, id))) {
			node_log("rebuilding %s: its only copy was on dead node %s", o->ref, id);
			task_rebuild(t);
			continue;
		}
		if (o->state == OBJ_PENDING)
			continue;   /* a rebuild above already reset it */
		snprintf(msg, sizeof(msg),
		         "object %s is lost: its only copy was on node %s, which died, and it cannot be rebuilt%s",
		         o->ref, id, !t ? " (it was put, not computed)" : t->attempt >= t->max_retries ?
		         " (retries exhausted)" : " (its task is pinned to that node)");
		o->state = OBJ_PENDING;
		o->remote = 0;
		store_fail(o, RAY_ELOST, msg);
	}
	sched_run();
}
