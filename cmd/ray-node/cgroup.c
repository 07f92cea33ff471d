/*
 * cgroup.c: memory cgroups, one per task or actor process that has a
 * --memory, so that the kernel holds it to its limit: no overshoot between
 * samples, and every process it starts is counted, even one that leaves
 * its session.  The node makes a directory of its own, ray-PID, inside its
 * own memory cgroup (cgroup v2, or the v1 memory hierarchy), and one
 * directory per process inside that; a child joins its cgroup before it
 * execs (spawn.c writes "0" to the fd that cg_create opens).  What the
 * kernel did is read back from the cgroup's files: its count of OOM kills
 * and its peak usage.  When the host gives no writable memory cgroup, or
 * RAY_MEMORY_CGROUP=0, cg_active() is 0 and memmon.c samples /proc instead.
 *
 * Every file here is on cgroupfs, in memory: reading or writing one does
 * not wait on a disk, so the loop may.  Names are the node's own (task and
 * actor ids), never from the wire.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "node.h"
#include "cgroup.h"

static int ver;                 /* 0: none; 1 or 2 */
static char base[PATH_MAX];     /* our directory, ray-PID */

/* One directory under base.  A cgroup whose processes are gone is kept
 * idle (renamed idle-N) for the next one: making and removing a memory
 * cgroup cost 113 us here against 15 us for two renames, and the kernel
 * frees a removed one's memory only later. */
typedef struct cg {
	char name[CG_NAME_MAX];   /* its directory under base */
	int64_t limit;            /* as set, 0 for none */
	int64_t oom_base;         /* its OOM kills before this use */
	int procs_fd;             /* open on its cgroup.procs, for a child to join */
	struct cg *next;
} cg;
static cg *active;              /* in use, by name */
static cg *idle;                /* empty, ready for another */
static cg *pending;             /* still held processes when released:
                                 * removed once empty (cg_tick) */
static unsigned nidle, idle_seq;
#define IDLE_MAX 64

static int write_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, s, strlen(s));
	close(fd);
	return n == (ssize_t)strlen(s) ? 0 : -1;
}

static void path_of(char *buf, size_t len, const char *name, const char *file)
{
	snprintf(buf, len, "%s/%s%s%s", base, name, file ? "/" : "", file ? file : "");
}

/* Whether the list, its words separated by any of sep, holds tok. */
static int has_word(const char *list, const char *tok, const char *sep)
{
	size_t tl = strlen(tok);

	for (; *list; list += strcspn(list, sep), list += *list && strchr(sep, *list))
		if (!strncmp(list, tok, tl) && (!list[tl] || strchr(sep, list[tl])))
			return 1;
	return 0;
}

static int has_token(const char *list, const char *tok)
{
	return has_word(list, tok, ",");
}

static int has_token_ws(const char *list, const char *tok)
{
	return has_word(list, tok, " \n");
}

/* The value of line's field after its n-th space, copied into buf. */
static int field(const char *line, int n, char *buf, size_t len)
{
	size_t l;

	while (n-- > 0) {
		line = strchr(line, ' ');
		if (!line)
			return -1;
		line++;
	}
	l = strcspn(line, " \n");
	if (l >= len)
		return -1;
	memcpy(buf, line, l);
	buf[l] = '\0';
	return 0;
}

int cg_locate(const char *self, const char *mountinfo, char *dir, size_t len)
{
	char v1path[PATH_MAX] = "", v2path[PATH_MAX] = "", root[PATH_MAX], mnt[PATH_MAX];
	char v1mnt[PATH_MAX] = "", v1root[PATH_MAX] = "", v2mnt[PATH_MAX] = "", v2root[PATH_MAX] = "";
	const char *line, *mp, *rp, *path;
	int version;

	/* /proc/self/cgroup: "ID:CONTROLLERS:PATH", v2's being "0::PATH". */
	for (line = self; *line; line += strcspn(line, "\n"), line += *line == '\n') {
		const char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		size_t pl = strcspn(c2 ? c2 + 1 : "", "\n");
		char ctl[256];
		if (!c2 || c2 > line + strcspn(line, "\n") || pl >= PATH_MAX || (size_t)(c2 - c1 - 1) >= sizeof(ctl))
			continue;
		memcpy(ctl, c1 + 1, (size_t)(c2 - c1 - 1));
		ctl[c2 - c1 - 1] = '\0';
		if (c1 - line == 1 && line[0] == '0' && !ctl[0])
			snprintf(v2path, sizeof(v2path), "%.*s", (int)pl, c2 + 1);
		else if (has_token(ctl, "memory"))
			snprintf(v1path, sizeof(v1path), "%.*s", (int)pl, c2 + 1);
	}
	/* mountinfo: "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [TAGS...] - FSTYPE SOURCE SUPEROPTS". */
	for (line = mountinfo; *line; line += strcspn(line, "\n"), line += *line == '\n') {
		const char *dash = strstr(line, " - ");
		char fs[64], sopts[1024];
		if (!dash || dash > line + strcspn(line, "\n") || field(line, 3, root, sizeof(root)) ||
		    field(line, 4, mnt, sizeof(mnt)) || field(dash + 3, 0, fs, sizeof(fs)) ||
		    field(dash + 3, 2, sopts, sizeof(sopts)))
			continue;
		if (!strcmp(fs, "cgroup2") && !v2mnt[0]) {
			snprintf(v2mnt, sizeof(v2mnt), "%s", mnt);
			snprintf(v2root, sizeof(v2root), "%s", root);
		} else if (!strcmp(fs, "cgroup") && has_token(sopts, "memory") && !v1mnt[0]) {
			snprintf(v1mnt, sizeof(v1mnt), "%s", mnt);
			snprintf(v1root, sizeof(v1root), "%s", root);
		}
	}
	/* The memory controller is v1's when a v1 hierarchy has it. */
	if (v1mnt[0] && v1path[0]) {
		version = 1;
		mp = v1mnt, rp = v1root, path = v1path;
	} else if (v2mnt[0] && v2path[0]) {
		version = 2;
		mp = v2mnt, rp = v2root, path = v2path;
	} else {
		return 0;
	}
	/* The mount's root is not part of the path below its mount point. */
	if (strcmp(rp, "/") && !strncmp(path, rp, strlen(rp)) && (!path[strlen(rp)] || path[strlen(rp)] == '/'))
		path += strlen(rp);
	if ((size_t)snprintf(dir, len, "%s%s", mp, strcmp(path, "/") ? path : "") >= len)
		return 0;
	return version;
}

/* The whole of a /proc file, NUL-terminated (malloc'd), or NULL. */
static char *slurp(const char *path, size_t max)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	char *buf = fd >= 0 ? malloc(max + 1) : NULL;
	size_t n = 0;
	ssize_t r;

	while (buf && n < max && (r = read(fd, buf + n, max - n)) > 0)
		n += (size_t)r;
	if (fd >= 0)
		close(fd);
	if (buf)
		buf[n] = '\0';
	return buf;
}

/* cgroup v2: memory must be given to our children by the cgroup we are
 * in (it then holds no process: a delegated tree) and by ours. */
static int v2_enable(const char *own)
{
	char p[PATH_MAX + 32], leaf[PATH_MAX + 32], buf[512];

	snprintf(p, sizeof(p), "%s/cgroup.subtree_control", own);
	if (ray_read_text(p, buf, sizeof(buf)) < 0)
		return -1;
	if (!has_token_ws(buf, "memory") && write_str(p, "+memory")) {
		/* Busy: a cgroup that holds processes cannot give controllers
		 * to its children.  When the node is all it holds (a delegated
		 * service), the node moves to a leaf of its own, as Ray does. */
		if (errno != EBUSY)
			return -1;
		snprintf(leaf, sizeof(leaf), "%s/ray-%d.node", own, (int)getpid());
		if (mkdir(leaf, 0755) && errno != EEXIST)
			return -1;
		snprintf(leaf + strlen(leaf), sizeof(leaf) - strlen(leaf), "/cgroup.procs");
		if (write_str(leaf, "0") || write_str(p, "+memory"))
			return -1;
	}
	snprintf(p, sizeof(p), "%s/cgroup.subtree_control", base);
	return write_str(p, "+memory");
}

/* Whether pid runs: a zombie does not (a node killed with SIGKILL is one
 * until its parent reaps it). */
static int alive(pid_t pid)
{
	char p[64], buf[512], *r;

	if (kill(pid, 0) && errno == ESRCH)
		return 0;
	snprintf(p, sizeof(p), "/proc/%d/stat", (int)pid);
	if (ray_read_text(p, buf, sizeof(buf)) <= 0)
		return 1;   /* not ours to see: assume it runs */
	r = strrchr(buf, ')');
	return !(r && r[1] == ' ' && r[2] == 'Z');
}

/* Directories of nodes that died without removing theirs (SIGKILL):
 * their processes died with them (PR_SET_PDEATHSIG), so they are empty. */
static void sweep_dead(const char *own)
{
	DIR *d = opendir(own), *sub;
	struct dirent *e, *s;
	char p[PATH_MAX];

	if (!d)
		return;
	while ((e = readdir(d))) {
		long pid;
		char *end;
		if (strncmp(e->d_name, "ray-", 4))
			continue;
		pid = strtol(e->d_name + 4, &end, 10);
		if ((*end && strcmp(end, ".node")) || pid <= 0 || pid == getpid() || alive((pid_t)pid))
			continue;
		snprintf(p, sizeof(p), "%s/%s", own, e->d_name);
		if ((sub = opendir(p))) {
			while ((s = readdir(sub))) {
				char q[PATH_MAX + 300];
				if (s->d_type != DT_DIR || s->d_name[0] == '.')
					continue;
				snprintf(q, sizeof(q), "%s/%s", p, s->d_name);
				rmdir(q);
			}
			closedir(sub);
		}
		rmdir(p);
	}
	closedir(d);
}

/* The cgroup this process was in at start (before a v2 move to a leaf),
 * located once: its directory and version, 0 for none. */
static char own_dir[PATH_MAX];
static int own_ver = -1;

static int locate_own(void)
{
	char *self, *mi;

	if (own_ver >= 0)
		return own_ver;
	self = slurp("/proc/self/cgroup", 64 << 10);
	mi = slurp("/proc/self/mountinfo", 4 << 20);
	own_ver = self && mi ? cg_locate(self, mi, own_dir, sizeof(own_dir)) : 0;
	free(self);
	free(mi);
	return own_ver;
}

/* The number after `key ` in a "key value" file (memory.stat,
 * memory.events, memory.oom_control), or -1. */
static int64_t keyed_at(const char *path, const char *key)
{
	char buf[8192], *s;
	size_t kl = strlen(key);

	if (ray_read_text(path, buf, sizeof(buf)) <= 0)
		return -1;
	for (s = buf; s; s = strchr(s, '\n'), s = s ? s + 1 : NULL)
		if (!strncmp(s, key, kl) && s[kl] == ' ')
			return strtoll(s + kl + 1, NULL, 10);
	return -1;
}

static int64_t stat_value(const char *dir, const char *key)
{
	char p[PATH_MAX + 32];

	snprintf(p, sizeof(p), "%s/memory.stat", dir);
	return keyed_at(p, key);
}

int64_t cg_mem_limit(void)
{
	static int64_t known = -1;   /* a container's limit: read once */
	char dir[PATH_MAX], p[PATH_MAX + 32], buf[64], *slash;
	int64_t best = 0, v;

	if (known >= 0)
		return known;
	if (locate_own() == 1) {
		/* v1 says what its ancestors' limits leave: one line. */
		best = stat_value(own_dir, "hierarchical_memory_limit");
	} else if (own_ver == 2) {
		/* v2: the least memory.max from here up; the root has none. */
		snprintf(dir, sizeof(dir), "%s", own_dir);
		for (;;) {
			snprintf(p, sizeof(p), "%s/memory.max", dir);
			if (ray_read_text(p, buf, sizeof(buf)) <= 0)
				break;
			v = strncmp(buf, "max", 3) ? strtoll(buf, NULL, 10) : 0;
			if (v > 0 && (!best || v < best))
				best = v;
			if (!(slash = strrchr(dir, '/')) || slash == dir)
				break;
			*slash = '\0';
		}
	}
	/* "No limit" reads as a page-rounded LLONG_MAX. */
	known = best > 0 && best < (INT64_C(1) << 60) ? best : 0;
	return known;
}

int64_t cg_mem_used(void)
{
	char p[PATH_MAX + 32], buf[64];
	int64_t used, inactive;

	if (locate_own() <= 0)
		return -1;
	snprintf(p, sizeof(p), "%s/%s", own_dir, own_ver == 1 ? "memory.usage_in_bytes" : "memory.current");
	if (ray_read_text(p, buf, sizeof(buf)) <= 0)
		return -1;
	used = strtoll(buf, NULL, 10);
	/* Page cache nobody touched lately is reclaimed before anything is
	 * killed: not counted, as Ray's monitor does not count it. */
	inactive = stat_value(own_dir, own_ver == 1 ? "total_inactive_file" : "inactive_file");
	return inactive > 0 && inactive < used ? used - inactive : used;
}

static int64_t oom_raw(const char *name);

int cg_init(void)
{
	const char *e = getenv("RAY_MEMORY_CGROUP"), *own = own_dir;
	int v;

	ver = 0;
	if ((e && !strcmp(e, "0")) || !(v = locate_own()))
		return 0;
	sweep_dead(own);
	if ((size_t)snprintf(base, sizeof(base), "%s/ray-%d", own, (int)getpid()) >= sizeof(base) - CG_NAME_MAX - 40)
		return 0;
	if (mkdir(base, 0755) && errno != EEXIST)
		return 0;
	if (v == 2 && v2_enable(own)) {
		rmdir(base);
		return 0;
	}
	ver = v;
	/* Without the kernel's count of OOM kills (v1 before Linux 4.13) a
	 * task it killed could not be told from one killed by a signal. */
	if (oom_raw(".") < 0) {
		ver = 0;
		rmdir(base);
	}
	return ver;
}

int cg_active(void)
{
	return ver;
}

const char *cg_dir(void)
{
	return ver ? base : NULL;
}

static cg *find(cg **list, const char *name, int unlink)
{
	cg **pp, *c;

	for (pp = list; (c = *pp); pp = &c->next)
		if (!strcmp(c->name, name)) {
			if (unlink)
				*pp = c->next;
			return c;
		}
	return NULL;
}

int cg_set_limit(const char *name, int64_t limit)
{
	char p[PATH_MAX + 64], num[32], swap[PATH_MAX + 64];
	cg *c = find(&active, name, 0);
	int has_swap, rc;

	if (!ver)
		return -1;
	if (limit > 0)
		snprintf(num, sizeof(num), "%lld", (long long)limit);
	else
		snprintf(num, sizeof(num), "%s", ver == 1 ? "-1" : "max");
	path_of(p, sizeof(p), name, ver == 1 ? "memory.limit_in_bytes" : "memory.max");
	/* No escape into swap; hosts without swap accounting lack the file.
	 * v1 wants memsw >= the limit at every step: unbounded first, then
	 * the limit, then memsw down to it. */
	path_of(swap, sizeof(swap), name, ver == 1 ? "memory.memsw.limit_in_bytes" : "memory.swap.max");
	has_swap = access(swap, F_OK) == 0;
	if (ver == 1 && has_swap)
		write_str(swap, "-1");
	rc = write_str(p, num);
	if (!rc && has_swap && (ver == 2 || limit > 0))
		write_str(swap, ver == 1 ? num : limit > 0 ? "0" : "max");
	if (c)
		c->limit = rc ? -1 : limit;   /* -1: not known, set it next time */
	return rc;
}

/* rmdir, and the record goes; -1 (kept) while processes remain. */
static int destroy(cg *c)
{
	char p[PATH_MAX + 64];

	path_of(p, sizeof(p), c->name, NULL);
	if (rmdir(p) && errno != ENOENT)
		return -1;
	if (c->procs_fd >= 0)
		close(c->procs_fd);
	free(c);
	return 0;
}

/* A new directory called name, with its own memory.oom.group. */
static cg *make(const char *name)
{
	char p[PATH_MAX + 64];
	cg *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->limit = -1;
	c->procs_fd = -1;
	path_of(p, sizeof(p), name, NULL);
	if (mkdir(p, 0755) && errno != EEXIST) {
		free(c);
		return NULL;
	}
	if (ver == 2) {
		/* One process over the limit takes the whole task with it. */
		path_of(p, sizeof(p), name, "memory.oom.group");
		write_str(p, "1");
	}
	path_of(p, sizeof(p), name, "cgroup.procs");
	if ((c->procs_fd = open(p, O_WRONLY | O_CLOEXEC)) < 0) {
		destroy(c);
		return NULL;
	}
	return c;
}

int cg_create(const char *name, int64_t limit, int *join_fd)
{
	char from[PATH_MAX + 64], to[PATH_MAX + 64];
	cg *c;

	*join_fd = -1;
	if (!ver || find(&active, name, 0))
		return -1;
	if ((c = idle)) {
		idle = c->next;
		nidle--;
		path_of(from, sizeof(from), c->name, NULL);
		path_of(to, sizeof(to), name, NULL);
		if (rename(from, to)) {
			destroy(c);
			c = NULL;
		} else {
			snprintf(c->name, sizeof(c->name), "%s", name);
		}
	}
	if (!c && !(c = make(name)))
		return -1;
	c->next = active;
	active = c;
	if (c->limit != limit && cg_set_limit(name, limit)) {
		cg_release(name);
		return -1;
	}
	*join_fd = c->procs_fd;
	return 0;
}

static int64_t keyed(const char *name, const char *file, const char *key)
{
	char p[PATH_MAX + 64];

	path_of(p, sizeof(p), name, file);
	return keyed_at(p, key);
}

static int64_t oom_raw(const char *name)
{
	return ver == 1 ? keyed(name, "memory.oom_control", "oom_kill") : keyed(name, "memory.events", "oom_kill");
}

int64_t cg_oom_kills(const char *name)
{
	const cg *c = find(&active, name, 0);
	int64_t n = oom_raw(name);

	return n < 0 || !c ? n : n - c->oom_base;
}

/* SIGKILL to every process still in it; how many there were. */
static int kill_all(const char *name)
{
	char p[PATH_MAX + 64], buf[4096], *s, *end;
	int n = 0, fd;
	ssize_t r;

	path_of(p, sizeof(p), name, "cgroup.procs");
	if ((fd = open(p, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	/* A page of pids at a time: a fork bomb is bounded by the limit. */
	while ((r = read(fd, buf, sizeof(buf) - 1)) > 0) {
		buf[r] = '\0';
		for (s = buf; *s; s = end) {
			long pid = strtol(s, &end, 10);
			if (end == s)
				break;
			if (pid > 0 && !kill((pid_t)pid, SIGKILL))
				n++;
		}
	}
	close(fd);
	return n;
}

void cg_kill(const char *name)
{
	if (ver)
		kill_all(name);
}

void cg_release(const char *name)
{
	char from[PATH_MAX + 64], to[PATH_MAX + 64], idle_name[32];
	cg *c = ver ? find(&active, name, 1) : NULL;

	if (!c)
		return;
	if (kill_all(name) > 0) {
		/* Something it started lives on: gone once it is reaped. */
		c->next = pending;
		pending = c;
		return;
	}
	c->oom_base = oom_raw(name);
	if (nidle < IDLE_MAX && c->oom_base >= 0) {
		snprintf(idle_name, sizeof(idle_name), "idle-%u", idle_seq++);
		path_of(from, sizeof(from), name, NULL);
		path_of(to, sizeof(to), idle_name, NULL);
		if (!rename(from, to)) {
			snprintf(c->name, sizeof(c->name), "%s", idle_name);
			c->next = idle;
			idle = c;
			nidle++;
			return;
		}
	}
	if (destroy(c)) {
		c->next = pending;
		pending = c;
	}
}

void cg_tick(void)
{
	cg **pp = &pending, *c;

	while ((c = *pp)) {
		*pp = c->next;
		kill_all(c->name);
		if (destroy(c)) {
			c->next = *pp;
			*pp = c;
			pp = &c->next;
		}
	}
}

static void destroy_all(cg **list)
{
	cg *c;

	while ((c = *list)) {
		*list = c->next;
		kill_all(c->name);
		if (destroy(c)) {
			node_log("cannot remove cgroup %s/%s: %s", base, c->name, strerror(errno));
			if (c->procs_fd >= 0)
				close(c->procs_fd);
			free(c);
		}
	}
}

void cg_shutdown(void)
{
	destroy_all(&pending);
	destroy_all(&idle);
	destroy_all(&active);
	nidle = 0;
	if (ver && rmdir(base) && errno != ENOENT)
		node_log("cannot remove cgroup %s: %s", base, strerror(errno));
	ver = 0;
}
