/*
 * spawn.c: starting task processes.  libuv's uv_spawn blocks the loop
 * until the child has exec'd, which on a busy machine is the time it takes
 * the child to get a CPU: tasks then start one at a time.  Here the parent
 * forks and returns at once, like xargs.  The fork is a vfork: the
 * child borrows the node's memory until its exec, so neither the node's
 * page tables are copied nor, in the child, torn down again at the exec,
 * and the node takes no copy-on-write faults afterwards (together 45% of
 * the CPU a `true` task cost, by perf).  A failed exec is written by the
 * child into the parent's stack before it exits.  Children are
 * reaped on SIGCHLD by pid, so libuv's own children (jobs' drivers) are
 * left to it.
 * A child dies with its node (PR_SET_PDEATHSIG), so a node killed with
 * SIGKILL leaves no task processes running.  Each child leads its own
 * session; once it is reaped, whatever is left of its process group (the
 * children it started) is killed.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "node.h"
#include "spawn.h"

extern char **environ;

typedef struct child {
	int pid, err;
	reap_cb cb;
	void *ud;
} child;

static child *kids;
static size_t nkids, capkids;
static uv_signal_t sigchld;
static int started;

static void on_sigchld(uv_signal_t *h, int sig)
{
	size_t i = 0;

	(void)h;
	(void)sig;
	while (i < nkids) {
		int st, e = 0;
		pid_t r = waitpid(kids[i].pid, &st, WNOHANG);
		child k;
		if (r == 0 || (r < 0 && errno == EINTR)) {
			i++;
			continue;
		}
		k = kids[i];
		kids[i] = kids[--nkids];
		/* The task's death takes its process tree: what it started is
		 * still in its process group (its own session), which outlives
		 * it while a member lives, so its id cannot be reused yet. */
		if (r > 0)
			kill(-k.pid, SIGKILL);
		e = k.err;
		N->nprocs--;
		if (r < 0)
			k.cb(k.ud, 1, 0, 0);
		else if (WIFSIGNALED(st))
			k.cb(k.ud, 0, WTERMSIG(st), 0);
		else
			k.cb(k.ud, WEXITSTATUS(st), 0, e);
		/* the callback may have spawned more: rescan from the start */
		i = 0;
	}
	if (N->stopping && N->nprocs == 0)
		node_shutdown();
}

/* The daemon asks for a short time slice (EEVDF's custom slice, Linux
 * 6.12 and later; older kernels ignore sched_runtime for normal tasks),
 * its children reset to the default on fork.  A task's exit wakes the
 * daemon to reap it and start the next, and with a default slice the
 * woken daemon waited behind the other CPU's running task while this one
 * sat idle: `perf sched` of a node draining a million queued `true`
 * tasks showed it runnable but off-CPU for 833 ms in 2 s, and the drain
 * went from 2,000 to 2,600 tasks a second with the short slice.  Only a
 * preference: it fails harmlessly where the kernel refuses it. */
#define DAEMON_SLICE_NS 100000

/* The kernel's struct sched_attr, first version (its header clashes with
 * libc's sched.h; glibc 2.36 has no sched_setattr). */
struct slice_attr {
	uint32_t size, sched_policy;
	uint64_t sched_flags;
	int32_t sched_nice;
	uint32_t sched_priority;
	uint64_t sched_runtime, sched_deadline, sched_period;
};
#define SLICE_RESET_ON_FORK 0x01   /* SCHED_FLAG_RESET_ON_FORK */

static void prefer_daemon(void)
{
	struct slice_attr a;

	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.sched_policy = SCHED_OTHER;
	a.sched_flags = SLICE_RESET_ON_FORK;
	a.sched_nice = getpriority(PRIO_PROCESS, 0);
	a.sched_runtime = DAEMON_SLICE_NS;
	if (syscall(SYS_sched_setattr, 0, &a, 0))
		node_log("the daemon keeps the default time slice (sched_setattr: %s)", strerror(errno));
}

int spawn_init(void)
{
	int rc = uv_signal_init(N->loop, &sigchld);

	if (!rc)
		rc = uv_signal_start(&sigchld, on_sigchld, SIGCHLD);
	started = !rc;
	if (started)
		prefer_daemon();
	return rc;
}

/* The signals whose disposition is not the default (handled or ignored),
 * looked up at most once a second: the child resets these, where
 * resetting all 64 took it 36-47 us here, during which a vfork parent
 * waits.  The node sets its dispositions at start (main.c, spawn_init),
 * so a list a second old is the list. */
static int nondflt[NSIG], nnondflt;
static pid_t self;
static int64_t nondflt_at = -1;

static void nondflt_refresh(void)
{
	struct sigaction sa;
	int64_t now = ray_now_ms();
	int i;

	if (nondflt_at >= 0 && now - nondflt_at < 1000)
		return;
	nondflt_at = now;
	nnondflt = 0;
	for (i = 1; i < NSIG; i++)
		if (!sigaction(i, NULL, &sa) && sa.sa_handler != SIG_DFL)
			nondflt[nnondflt++] = i;
}

/* The child, on the node's memory until it execs: it touches nothing of
 * the parent but its own stack frames and *err (and errno, which it
 * shares).  Own session, stdio from fds, every signal the node handles or
 * ignores back to its default (no handler of the node may run here, and
 * no task inherits an ignored SIGPIPE), all unblocked, then exec. */
static void child_exec(const char *path, char *const argv[], char *const env[], const int fds[3],
                       int join_fd, volatile int *err, pid_t parent)
{
	sigset_t none;
	int i;

	/* A task must not outlive its node, even one killed with SIGKILL. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(127);
	setsid();
	/* Into its memory cgroup before the exec, so that all it allocates
	 * is charged there (cgroup.c). */
	if (join_fd >= 0 && write(join_fd, "0", 1) != 1)
		goto fail;
	for (i = 0; i < 3; i++)
		if (dup2(fds[i], i) < 0)
			goto fail;
	for (i = 0; i < nnondflt; i++)
		signal(nondflt[i], SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (path)
		execve(path, argv, env);
	/* Not resolved, or that failed: the search itself says why (and
	 * runs a script without #! through sh). */
	execvpe(argv[0], argv, env);
fail:
	*err = errno;
	_exit(127);
}

/* Where PATH finds a command, remembered for a second: execvpe in the
 * child tried each directory of PATH in turn, and the node waits for its
 * vfork child until the exec (with a PATH of 13 directories, `sh` took 9
 * failed execs, and the node spent two thirds of a drain of `true` tasks
 * inside vfork).  NULL when the name has a '/' or is not found: the
 * child's execvpe then searches as before and reports why. */
#define RESOLVED_N 16

static struct resolved {
	char name[64], path[PATH_MAX];
	int64_t at;
} resolved[RESOLVED_N];
static unsigned resolved_next;

static const char *resolve(const char *name)
{
	const char *p = getenv("PATH"), *e;
	char buf[PATH_MAX];
	struct stat sb;
	int64_t now = ray_now_ms();
	size_t i, nl = strlen(name);
	struct resolved *r;

	if (!nl || nl >= sizeof(resolved[0].name) || strchr(name, '/'))
		return NULL;
	for (i = 0; i < RESOLVED_N; i++)
		if (!strcmp(resolved[i].name, name) && now - resolved[i].at < 1000 && now >= resolved[i].at)
			return resolved[i].path;
	for (p = p ? p : "/bin:/usr/bin"; *p; p = *e ? e + 1 : e) {
		size_t dl;
		e = strchrnul(p, ':');
		dl = (size_t)(e - p);
		if (!dl)
			return NULL;   /* the current directory: as execvpe does */
		if (dl + nl + 2 > sizeof(buf))
			continue;
		memcpy(buf, p, dl);
		buf[dl] = '/';
		memcpy(buf + dl + 1, name, nl + 1);
		if (!stat(buf, &sb) && S_ISREG(sb.st_mode) && !access(buf, X_OK)) {
			r = &resolved[resolved_next++ % RESOLVED_N];
			memcpy(r->name, name, nl + 1);
			memcpy(r->path, buf, dl + nl + 2);
			r->at = now;
			return r->path;
		}
	}
	return NULL;
}

int spawn_proc(char *const argv[], char *const env[], const int fds[3], reap_cb cb, void *ud,
               int *pid_out)
{
	return spawn_proc_in(argv, env, fds, -1, cb, ud, pid_out);
}

int spawn_proc_in(char *const argv[], char *const env[], const int fds[3], int join_fd, reap_cb cb,
                  void *ud, int *pid_out)
{
	const char *path = argv[0] ? resolve(argv[0]) : NULL;
	volatile int err = 0;
	sigset_t all, old;
	pid_t pid, parent;

	if (!started)
		return UV_EINVAL;
	if (nkids == capkids) {
		size_t nc = capkids ? capkids * 2 : 64;
		child *nk = realloc(kids, nc * sizeof(*nk));
		if (!nk)
			return UV_ENOMEM;
		kids = nk;
		capkids = nc;
	}
	if (!self)
		self = getpid();   /* the node's, for the child's check */
	parent = self;
	nondflt_refresh();
	/* Blocked across the vfork, so no signal handler of the node runs in
	 * the child while it shares our memory; the child unblocks its own
	 * once every handler is reset. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pid = vfork();
	if (pid == 0)
		child_exec(path, argv, env, fds, join_fd, &err, parent);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (pid < 0)
		return uv_translate_sys_error(errno);
	kids[nkids].pid = pid;
	kids[nkids].err = err;
	kids[nkids].cb = cb;
	kids[nkids].ud = ud;
	nkids++;
	N->nprocs++;
	*pid_out = pid;
	return 0;
}

int spawn_piped(char *const argv[], char *const env[], int errfd, int join_fd, reap_cb cb, void *ud,
                int *pid_out, int *to_child, int *from_child)
{
	int in[2], out[2], fds[3], rc;

	if (pipe2(in, O_CLOEXEC))
		return uv_translate_sys_error(errno);
	if (pipe2(out, O_CLOEXEC)) {
		rc = uv_translate_sys_error(errno);
		close(in[0]);
		close(in[1]);
		return rc;
	}
	fds[0] = in[0];
	fds[1] = out[1];
	fds[2] = errfd;
	rc = spawn_proc_in(argv, env, fds, join_fd, cb, ud, pid_out);
	/* The child's ends are its own now; ours go only on failure. */
	close(in[0]);
	close(out[1]);
	if (rc) {
		close(in[1]);
		close(out[0]);
		return rc;
	}
	*to_child = in[1];
	*from_child = out[0];
	return 0;
}

int spawn_exec_err(int pid)
{
	size_t i;

	for (i = nkids; i-- > 0;)
		if (kids[i].pid == pid)
			return kids[i].err;
	return 0;
}

void spawn_release(void)
{
	free(kids);
	kids = NULL;
	nkids = capkids = 0;
}
