/*
 * memmon.c: memory that is enforced.  Every MEMMON_MS a libuv timer
 * samples /proc: the resident memory of each task's and actor's process
 * tree (its session: each leads its own, so what it starts is counted
 * with it), and the host's use from /proc/meminfo.  A task or actor over
 * its --memory is killed with SIGKILL: a system error, retried while
 * --max-retries lasts, then exit 6 with a message naming memory (launch.c
 * words it from t->oom).  A host above --memory-threshold loses its most
 * recently started retriable task (any task when none is retriable), one
 * at a time, as Ray's memory monitor does, and the node log says so; idle
 * pooled workers are stopped before any task is (the trim hook).
 *
 * Where the host gives a writable memory cgroup (cgroup.c), tasks and
 * actors with a --memory run in one each (pooled workers too, pool.c) and
 * the kernel enforces the limit; the tick then only reads each cgroup's
 * OOM count, to kill the rest of a task the kernel cut into.  Sampling is
 * for hosts without one: a process can overshoot its limit for up to one
 * interval there.  Reads are of /proc and cgroupfs files only, each
 * bounded, so the loop never waits on a disk.
 */
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "node.h"
#include "actor.h"
#include "memmon.h"
#include "cgroup.h"
#include "launch.h"

#define MEMMON_MS 200

memmon_hooks memmon_on;

static uv_timer_t timer;
static char victim[RAY_ID_MAX + 1];  /* the task last killed for the host */
static int victim_pid;                /* and the process that was killed */

void memmon_log_mode(void)
{
	if (cg_active())
		node_log("--memory limits are held by memory cgroups (cgroup v%d) under %s", cg_active(), cg_dir());
	else
		node_log("--memory limits are held by sampling /proc: no writable memory cgroup");
}

/* One process's session and resident pages, from its /proc/PID/stat
 * text: fields after the command (which may hold spaces and parens), so
 * parsed from the last ')'.  0 on success. */
int memmon_parse_stat(const char *buf, size_t n, long *sid, uint64_t *rss_pages)
{
	const char *p = NULL, *end = buf + n;
	size_t i;
	int field;

	for (i = n; i > 0; i--)
		if (buf[i - 1] == ')') {
			p = buf + i;
			break;
		}
	if (!p)
		return -1;
	/* Field 3 (state) follows ") "; session is field 6, rss field 24. */
	for (field = 2; field < 24 && p < end; field++) {
		char *e;
		unsigned long long v;
		while (p < end && *p == ' ')
			p++;
		if (p >= end)
			return -1;
		if (field + 1 == 6 || field + 1 == 24) {
			if (!isdigit((unsigned char)*p) && *p != '-')
				return -1;
			v = strtoull(p, &e, 10);
			if (field + 1 == 6)
				*sid = (long)v;
			else
				*rss_pages = v;
			p = e;
			continue;
		}
		while (p < end && *p != ' ')
			p++;
	}
	return field == 24 ? 0 : -1;
}

static int proc_meminfo(uint64_t *total, uint64_t *avail)
{
	char buf[4096], *p;

	if (ray_read_text("/proc/meminfo", buf, sizeof(buf)) <= 0)
		return -1;
	p = strstr(buf, "MemTotal:");
	*total = p ? strtoull(p + 9, NULL, 10) * 1024 : 0;
	p = strstr(buf, "MemAvailable:");
	*avail = p ? strtoull(p + 13, NULL, 10) * 1024 : 0;
	return *total ? 0 : -1;
}

/* MemTotal and MemAvailable in bytes, from /proc/meminfo, or the node's
 * cgroup's limit and what it leaves when that is less (a container); 0 on
 * success. */
static int host_mem(uint64_t *total, uint64_t *avail)
{
	int64_t used, lim = cg_mem_limit();

	*total = *avail = 0;
	if (!proc_meminfo(total, avail) && lim > 0 && (uint64_t)lim < *total && (used = cg_mem_used()) >= 0) {
		*total = (uint64_t)lim;
		*avail = used < lim ? (uint64_t)(lim - used) : 0;
		return 0;
	}
	return *total ? 0 : -1;
}

typedef struct sample {
	long sid;
	uint64_t rss;      /* bytes */
} sample;

/* Every process's session and resident bytes (array malloc'd). */
static sample *scan_procs(size_t *nout)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	sample *v = NULL;
	size_t n = 0, cap = 0;
	long psz = sysconf(_SC_PAGE_SIZE);

	*nout = 0;
	if (!d)
		return NULL;
	while ((de = readdir(d))) {
		char path[64], buf[1024];
		long sid;
		uint64_t pages;
		ssize_t r;
		int fd;
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		snprintf(path, sizeof(path), "/proc/%.20s/stat", de->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;   /* gone meanwhile */
		r = read(fd, buf, sizeof(buf));
		close(fd);
		if (r <= 0 || memmon_parse_stat(buf, (size_t)r, &sid, &pages) || sid <= 0)
			continue;
		if (n == cap) {
			sample *nv = realloc(v, (cap ? cap * 2 : 256) * sizeof(*nv));
			if (!nv)
				break;
			v = nv;
			cap = cap ? cap * 2 : 256;
		}
		v[n].sid = sid;
		v[n++].rss = pages * (uint64_t)(psz > 0 ? psz : 4096);
	}
	closedir(d);
	*nout = n;
	return v;
}

static uint64_t session_rss(const sample *v, size_t n, long sid)
{
	uint64_t sum = 0;
	size_t i;

	for (i = 0; i < n; i++)
		if (v[i].sid == sid)
			sum += v[i].rss;
	return sum;
}

/* A task running in a process: its own, or (t->pw) the pooled worker
 * serving it, whose session is then measured and killed for it. */
static int is_proc_task(const task *t)
{
	return !t->act && (t->proc_live || t->pw) && t->pid > 0 && t->state == T_RUNNING;
}

/* A task in a memory cgroup: the kernel holds it to its limit and kills
 * what goes over.  What it kills may be a child the task waits for, so
 * once it has killed one, the whole task goes, as it would here. */
static void task_cg_check(task *t)
{
	char name[CG_NAME_MAX];

	if (!task_cg_oom(t))
		return;
	task_cg_name(t, name, sizeof(name));
	node_log("killing task %s: the kernel killed one of its processes for memory, over its --memory %llu MiB",
	         t->id, (unsigned long long)(t->req->mem >> 20));
	kill(-t->pid, SIGKILL);
	cg_kill(name);
}

static void actor_cg_check(actor *a)
{
	char name[CG_NAME_MAX];

	actor_cg_name(a, name, sizeof(name));
	if (cg_oom_kills(name) <= 0)
		return;
	/* Why it died is said once it is reaped (actor.c). */
	a->dying = 1;
	kill(-a->pid, SIGKILL);
	cg_kill(name);
}

/* Each task and actor over its --memory is killed. */
static void enforce_limits(void)
{
	sample *v = NULL;
	size_t n = 0;
	int scanned = 0;
	task *t;
	actor *a;

	/* The task list holds the history too: walked only when one of
	 * them has a limit. */
	for (t = N->nmem_running ? N->thead : NULL; t; t = t->next) {
		uint64_t rss;
		if (!is_proc_task(t) || t->req->mem <= 0 || t->oom)
			continue;
		if (t->in_cg) {
			if (!t->pw)   /* a pooled worker's cgroup is pool.c's */
				task_cg_check(t);
			continue;
		}
		if (!scanned++)
			v = scan_procs(&n);
		rss = session_rss(v, n, t->pid);
		if (rss > (uint64_t)t->req->mem) {
			t->oom = OOM_LIMIT;
			t->oom_bytes = (int64_t)rss;
			node_log("killing task %s: its processes hold %llu MiB resident, over its --memory %llu MiB",
			         t->id, (unsigned long long)(rss >> 20), (unsigned long long)(t->req->mem >> 20));
			kill(-t->pid, SIGKILL);
		}
	}
	for (a = actors_first(); a; a = a->next) {
		uint64_t rss;
		char why[300];
		/* Only a process of ours: the head's directory also knows the
		 * pids of actors that other hosts run. */
		if (!a->nhandles || a->exited || a->state != A_ALIVE || a->pid <= 0 || a->dying ||
		    a->req.mem <= 0)
			continue;
		if (a->in_cg) {
			actor_cg_check(a);
			continue;
		}
		if (!scanned++)
			v = scan_procs(&n);
		rss = session_rss(v, n, a->pid);
		if (rss <= (uint64_t)a->req.mem)
			continue;
		snprintf(why, sizeof(why), "was killed for memory: its processes held %llu MiB resident, over its --memory %llu MiB",
		         (unsigned long long)(rss >> 20), (unsigned long long)(a->req.mem >> 20));
		node_log("actor %s %s", a->id, why);
		actor_set_cause(a, "%s", why);
		a->oom = 1;
		a->dying = 1;
		kill(-a->pid, SIGKILL);
	}
	free(v);
}

/* A host short of memory loses its newest retriable task. */
static void relieve_host(void)
{
	uint64_t total, avail;
	int64_t used;
	task *t, *pick = NULL, *any = NULL;
	const task *last = victim[0] ? map_get(&N->tasks, victim) : NULL;

	if (N->mem_threshold <= 0 || N->mem_threshold >= QTY_ONE || host_mem(&total, &avail))
		return;
	used = (int64_t)((total - (avail < total ? avail : total)) * (uint64_t)QTY_ONE / total);
	if (used <= N->mem_threshold)
		return;
	if (last && (last->proc_live || last->pw) && last->pid == victim_pid)
		return;   /* one at a time: let the last one's memory come back */
	/* Idle pooled workers hold memory and no work: they go first. */
	if (memmon_on.trim && memmon_on.trim() > 0) {
		node_log("host memory is %lld.%02lld%% used, above --memory-threshold: idle workers stopped",
		         (long long)(used / 100), (long long)(used % 100));
		return;
	}
	for (t = N->thead; t; t = t->next) {
		if (!is_proc_task(t) || t->oom)
			continue;
		if (!any || t->start_ms >= any->start_ms)
			any = t;
		if (t->attempt < t->max_retries && (!pick || t->start_ms >= pick->start_ms))
			pick = t;
	}
	if (!pick)
		pick = any;
	if (!pick)
		return;
	pick->oom = OOM_HOST;
	pick->oom_bytes = used;
	snprintf(victim, sizeof(victim), "%s", pick->id);
	victim_pid = pick->pid;
	node_log("host memory is %lld.%02lld%% used, above --memory-threshold %lld.%02lld%%: killing task %s, "
	         "the most recently started%s",
	         (long long)(used / 100), (long long)(used % 100), (long long)(N->mem_threshold / 100),
	         (long long)(N->mem_threshold % 100), pick->id,
	         pick->attempt < pick->max_retries ? " retriable one" : " (none is retriable)");
	kill(-pick->pid, SIGKILL);
}

static void on_tick(uv_timer_t *h)
{
	(void)h;
	if (N->stopping)
		return;
	enforce_limits();
	relieve_host();
	cg_tick();
}

int memmon_start(void)
{
	int rc = uv_timer_init(N->loop, &timer);

	cg_init();
	if (!rc)
		rc = uv_timer_start(&timer, on_tick, MEMMON_MS, MEMMON_MS);
	if (!rc)
		uv_unref((uv_handle_t *)&timer);
	return rc;
}
