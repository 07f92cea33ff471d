/*
 * ray-node: one daemon per host.  `start` makes a session directory under
 * $RAY_TMPDIR and an object store on tmpfs, listens on a Unix socket and a
 * TCP port, and (unless --foreground) forks into the background; the
 * parent returns only when the child reports over a pipe that it accepts
 * requests, then prints the eval-able RAY_* assignments.  `stop` signals
 * the nodes whose session lock is still held, so a stale pid is never hit,
 * and waits for them to remove their files.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "node.h"
#include "actor.h"
#include "actor_call.h"
#include "actor_route.h"
#include "cluster.h"
#include "job.h"
#include "metrics.h"
#include "pg.h"
#include "pool.h"
#include "res.h"
#include "server.h"
#include "launch.h"
#include "spawn.h"
#include "spill.h"
#include "cgroup.h"
#include "memmon.h"
#include "state.h"
#include "stream.h"
#include "store.h"
#include "task.h"
#include "transfer.h"
#include "workdir.h"

static const char USAGE[] =
	"usage: ray-node start --head [--port PORT] [--host ADDR] [NODE OPTIONS]\n"
	"       ray-node start --address HOST:PORT [NODE OPTIONS]\n"
	"       ray-node stop [--force]\n"
	"options:\n"
	"  --head                       start the head (the first node)\n"
	"  --address HOST:PORT          join the cluster whose head listens there\n"
	"  --port PORT                  TCP port (head: 6380; joining: any free; 0: any)\n"
	"  --host ADDR                  address to listen on and give out (127.0.0.1)\n"
	"  --cpus N                     CPUs to offer (default: online cores)\n"
	"  --gpus N                     GPUs to offer (default: NVIDIA devices found)\n"
	"  --memory SIZE                memory to offer (default: RAM less the store)\n"
	"  --object-store-memory SIZE   object store size (default: 30% of RAM)\n"
	"  --memory-threshold FRACTION  kill the newest retriable task above this use of RAM (0.95)\n"
	"  --resources NAME=QTY[,...]   custom resources to offer\n"
	"  --labels KEY=VAL[,...]       labels that tasks and actors can select\n"
	"  --spill-dir DIR              where objects spill when the store is full\n"
	"  --token-file FILE            the cluster token (head: use it; joining: prove it)\n"
	"  --transport plain|encrypted  require encryption of TCP peers, or of none\n"
	"  --head-timeout SEC           joining: how long to carry on without the head (60)\n"
	"  --worker-idle-timeout SEC    stop pooled workers idle this long (60)\n"
	"  --state-store URL            head: file:DIR or redis://HOST:PORT[/PREFIX] or none\n"
	"  --metrics-port PORT          serve Prometheus metrics at :PORT/metrics\n"
	"  --task-history N             finished tasks kept in detail (10000)\n"
	"  --foreground                 stay attached; stop on SIGTERM\n"
	"  --force                      stop: SIGKILL after 2 s, not 15 s\n"
	"  --help                       print this help and exit 0\n"
	"  --version                    print the version and exit 0\n";

static node the_node;
static int lock_fd = -1;
static char token_path[PATH_MAX];
static int metrics_bound;         /* the port /metrics is served on, or 0 */

static void on_signal(uv_signal_t *s, int sig)
{
	(void)s;
	(void)sig;
	node_shutdown();
}

typedef struct opts {
	int head, foreground;
	const char *address, *host, *token_file, *spill_dir, *resources, *labels;
	int port;
	int64_t cpus, gpus;
	uint64_t memory, store_mem;
	int cpus_set, gpus_set, mem_set, store_set;
	int transport;
	int64_t head_timeout_ms;
	int port_set;
	const char *state_store;
	int metrics_port;         /* -1: none */
	int64_t worker_idle_ms;   /* --worker-idle-timeout; -1: the default */
	int64_t mem_threshold;    /* ten-thousandths */
} opts;

/* The RAM this node may use: the host's, or less when its cgroup is
 * held to less (a container started with a memory limit), as Ray reads
 * it.  Looked up once. */
static uint64_t total_ram(void)
{
	static uint64_t ram;
	long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGE_SIZE);
	int64_t lim;

	if (ram)
		return ram;
	ram = pages > 0 && psz > 0 ? (uint64_t)pages * (uint64_t)psz : (4ull << 30);
	lim = cg_mem_limit();
	if (lim > 0 && (uint64_t)lim < ram)
		ram = (uint64_t)lim;
	return ram;
}

static int detect_gpus(void)
{
	char p[64];
	int n = 0;

	while (n < 64) {
		snprintf(p, sizeof(p), "/dev/nvidia%d", n);
		if (access(p, F_OK))
			break;
		n++;
	}
	return n;
}

/* Everything up to accepting requests; errors go to err. */
static int node_setup(const opts *o, ray_err *err)
{
	char path[PATH_MAX + 64], tok[80], env[PATH_MAX * 3];
	int rc;

	N = &the_node;
	N->loop = uv_default_loop();
	N->start_ms = ray_now_ms();
	N->wall_start_ms = ray_wall_ms();
	N->is_head = o->head;
	N->transport = o->transport;
	N->head_timeout_ms = o->head_timeout_ms;
	if (o->worker_idle_ms >= 0)
		pool_set_idle_timeout(o->worker_idle_ms);
	N->mem_threshold = o->mem_threshold;
	ray_random_hex(N->id, RAY_NODEID_LEN / 2);
	snprintf(N->host, sizeof(N->host), "%s", o->host ? o->host : "127.0.0.1");
	N->port = o->port;
	N->total.cpu = o->cpus_set ? o->cpus : (int64_t)sysconf(_SC_NPROCESSORS_ONLN) * QTY_ONE;
	N->total.gpu = o->gpus_set ? o->gpus : (int64_t)detect_gpus() * QTY_ONE;
	N->store_cap = o->store_set ? o->store_mem : total_ram() * 3 / 10;
	N->total.mem = (int64_t)(o->mem_set ? o->memory : total_ram() - total_ram() * 3 / 10);
	if (o->resources && (rc = res_parse_custom(&N->total, o->resources, err)))
		return rc;
	if (o->labels)
		snprintf(N->labels, sizeof(N->labels), "%s", o->labels);
	N->avail = N->total;
	if ((rc = ray_tmpdir_check(1, err)))
		return rc;
	snprintf(N->session, sizeof(N->session), "%s/node-%s", ray_tmpdir(), N->id);
	snprintf(path, sizeof(path), "%s/logs", N->session);
	if (ray_mkdir_p(path, 0700))
		return ray_seterr(err, RAY_EUSAGE, "cannot create session '%s': %s", N->session, strerror(errno));
	if (access("/dev/shm", W_OK) == 0)
		snprintf(N->store, sizeof(N->store), "/dev/shm/ray-%s", N->id);
	else
		snprintf(N->store, sizeof(N->store), "%s/store", N->session);
	snprintf(path, sizeof(path), "%s/o", N->store);
	if (ray_mkdir_p(path, 0700))
		return ray_seterr(err, RAY_EUSAGE, "cannot create object store '%s': %s", N->store, strerror(errno));
	snprintf(path, sizeof(path), "%s/tmp", N->store);
	mkdir(path, 0700);
	/* Task logs live on tmpfs too: creating an inode per task on a disk
	 * filesystem cost more than the spawn itself (docs/design.md). */
	snprintf(N->logdir, sizeof(N->logdir), "%s/logs", N->store);
	if (ray_mkdir_p(N->logdir, 0700))
		return ray_seterr(err, RAY_EUSAGE, "cannot create '%s': %s", N->logdir, strerror(errno));
	N->devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if ((rc = spill_init(o->spill_dir, err)))
		return rc;
	store_init();
	task_history_init();
	/* The token: given, or a fresh one for a new cluster.  A joining
	 * node must be given the cluster's. */
	if (!o->token_file && o->address) {
		const char *tf = getenv("RAY_TOKEN_FILE");
		if (!tf || !*tf)
			return ray_seterr(err, RAY_EUNREACH,
			                  "joining needs the cluster token: set RAY_TOKEN_FILE or pass --token-file");
		((opts *)o)->token_file = tf;
	}
	if (o->address)
		snprintf(N->head_addr, sizeof(N->head_addr), "%s", o->address);
	if (o->token_file) {
		if (!realpath(o->token_file, token_path))
			return ray_seterr(err, RAY_EUSAGE, "cannot read token file '%s': %s", o->token_file, strerror(errno));
	} else {
		snprintf(token_path, sizeof(token_path), "%s/token", N->session);
		ray_random_hex(tok, 32);
		strcat(tok, "\n");
		if (ray_write_text(token_path, 0600, tok))
			return ray_seterr(err, RAY_EUSAGE, "cannot write token: %s", strerror(errno));
		sodium_memzero(tok, sizeof(tok));
	}
	if (o->token_file) {
		/* Clients find the token in the session: link to the given one. */
		snprintf(path, sizeof(path), "%s/token", N->session);
		if (symlink(token_path, path))
			return ray_seterr(err, RAY_EUSAGE, "cannot link token: %s", strerror(errno));
	}
	if ((rc = ray_token_key(token_path, N->key, err)))
		return rc == RAY_EUNREACH ? ray_seterr(err, RAY_EUSAGE, "%s", err->msg) : rc;
	if (!N->is_head && o->state_store)
		return ray_seterr(err, RAY_EUSAGE, "--state-store is for the head (--head)");
	node_wire();
	if ((rc = server_start(N, err)))
		return rc;
	if (o->metrics_port >= 0 && (rc = metrics_start(N->host, o->metrics_port, &metrics_bound, err)))
		return rc;
	if ((rc = cluster_start()))
		return ray_seterr(err, rc, "%s", N->join_err[0] ? N->join_err : "cannot join");
	if (!N->is_head) {
		/* Ready only once the head has taken us in. */
		int64_t deadline = ray_now_ms() + 15000;
		while (!N->joined && !N->join_failed && ray_now_ms() < deadline)
			uv_run(N->loop, UV_RUN_ONCE);
		if (!N->joined)
			return ray_seterr(err, N->join_failed ? RAY_EUNREACH : RAY_ETIMEOUT,
			                  "cannot join the cluster at '%s': %s", N->head_addr,
			                  N->join_err[0] ? N->join_err : "no answer from the head");
	}
	if ((rc = spawn_init()))
		return ray_seterr(err, RAY_EUSAGE, "cannot watch child processes: %s", uv_strerror(rc));
	if ((rc = memmon_start()))
		return ray_seterr(err, RAY_EUSAGE, "cannot watch memory: %s", uv_strerror(rc));
	uv_signal_init(N->loop, &N->sigterm);
	uv_signal_start(&N->sigterm, on_signal, SIGTERM);
	uv_signal_init(N->loop, &N->sigint);
	uv_signal_start(&N->sigint, on_signal, SIGINT);
	signal(SIGPIPE, SIG_IGN);
	/* Object chunks (4 MiB, sealed or not) are allocated and freed one
	 * after another; glibc would map each one afresh and unmap it, and
	 * every page was faulted in and zeroed again (8-10% of a sending
	 * node's CPU by perf).  Kept in the heap, they reuse the same pages;
	 * at most 64 MiB of freed heap is held. */
	mallopt(M_MMAP_THRESHOLD, 32 << 20);
	mallopt(M_TRIM_THRESHOLD, 64 << 20);
	snprintf(path, sizeof(path), "%s/node.lock", N->session);
	lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lock_fd < 0 || flock(lock_fd, LOCK_EX | LOCK_NB))
		return ray_seterr(err, RAY_EUSAGE, "cannot lock session");
	/* The head's durable tables: a head started again resumes from them.
	 * Opened only once this node is sure to run (it listens and holds its
	 * lock), so that a start that fails leaves the store as it was;
	 * nothing is served before the loop runs. */
	if (N->is_head) {
		if ((rc = state_open(o->state_store, N->key, err)))
			return rc;
		if (pg_restore() || jobs_restore() || actors_restore())
			return ray_seterr(err, RAY_EUSAGE, "the state store cannot be read back");
	}
	snprintf(path, sizeof(path), "%s/node.pid", N->session);
	snprintf(tok, sizeof(tok), "%d\n", (int)getpid());
	ray_write_text(path, 0600, tok);
	snprintf(env, sizeof(env),
	         "RAY_ADDRESS=%s%s%s:%d; export RAY_ADDRESS;\n"
	         "RAY_TOKEN_FILE=%s; export RAY_TOKEN_FILE;\n"
	         "RAY_NODE_ID=%s; export RAY_NODE_ID;\n",
	         strchr(N->host, ':') ? "[" : "", N->host, strchr(N->host, ':') ? "]" : "", N->port,
	         token_path, N->id);
	snprintf(path, sizeof(path), "%s/node.env", N->session);
	ray_write_text(path, 0600, env);
	snprintf(path, sizeof(path), "%s/latest.tmp.%s", ray_tmpdir(), N->id);
	snprintf(tok, sizeof(tok), "node-%s", N->id);
	unlink(path);
	if (symlink(tok, path) == 0) {
		char latest[PATH_MAX + 16];
		snprintf(latest, sizeof(latest), "%s/latest", ray_tmpdir());
		rename(path, latest);
	}
	return 0;
}

/* A start that failed half way leaves no session or store behind: both
 * were made fresh for this node id, and no `stop` could find them (there is
 * no lock yet). */
static void node_setup_undo(void)
{
	state_close();
	if (N && N->store[0])
		ray_rm_rf(N->store);
	if (N && N->session[0])
		ray_rm_rf(N->session);
}

static void log_listening(void)
{
	node_log("node %s listening on %s:%d and %s/node.sock", N->id, N->host, N->port, N->session);
	memmon_log_mode();
	if (metrics_bound)
		node_log("metrics on http://%s%s%s:%d/metrics", strchr(N->host, ':') ? "[" : "", N->host,
		         strchr(N->host, ':') ? "]" : "", metrics_bound);
}

static void node_teardown(void)
{
	uv_run(N->loop, UV_RUN_DEFAULT);
	node_close_handles();
	uv_run(N->loop, UV_RUN_DEFAULT);
	uv_loop_close(N->loop);
	uv_library_shutdown();
	spawn_release();
	env_release();
	tasks_free_all();
	pool_free_all();
	streams_free_all();
	workdir_free_all();
	actors_free_all();
	actor_route_free_all();
	actor_exec_free_all();
	pgs_free_all();
	jobs_free_all();
	store_drop_all();
	transfer_drops_free();
	spill_drop_retries();
	sodium_memzero(N->key, sizeof(N->key));
	if (lock_fd >= 0)
		close(lock_fd);
	if (N->devnull >= 0)
		close(N->devnull);
}

static int env_text(char *buf, size_t len)
{
	char path[PATH_MAX + 16];

	snprintf(path, sizeof(path), "%s/node.env", N->session);
	return ray_read_text(path, buf, len) < 0 ? -1 : 0;
}

/* The id of a node whose session under RAY_TMPDIR is locked (it runs),
 * into id; 0 when none. */
static int running_node(char id[RAY_NODEID_LEN + 1])
{
	DIR *d = opendir(ray_tmpdir());
	struct dirent *e;
	int found = 0;

	while (d && !found && (e = readdir(d))) {
		char lockp[PATH_MAX + 300];
		int fd;

		if (strncmp(e->d_name, "node-", 5) || strlen(e->d_name + 5) != RAY_NODEID_LEN)
			continue;
		snprintf(lockp, sizeof(lockp), "%s/%s/node.lock", ray_tmpdir(), e->d_name);
		if ((fd = open(lockp, O_RDWR | O_CLOEXEC)) < 0)
			continue;
		if (flock(fd, LOCK_EX | LOCK_NB) && errno == EWOULDBLOCK) {
			snprintf(id, RAY_NODEID_LEN + 1, "%s", e->d_name + 5);
			found = 1;
		}
		close(fd);
	}
	if (d)
		closedir(d);
	return found;
}

static int cmd_start(const opts *o)
{
	ray_err err = { 0, "" };
	int pfd[2], rc;
	pid_t pid;
	char msg[2048];
	ssize_t n;

	if (!o->head && !o->address) {
		fprintf(stderr, "ray-node: start needs --head or --address HOST:PORT\n");
		return 2;
	}
	if (o->head && o->address) {
		fprintf(stderr, "ray-node: --head and --address exclude each other\n");
		return 2;
	}
	if (sodium_init() < 0) {
		fprintf(stderr, "ray-node: cannot initialise libsodium\n");
		return 1;
	}
	{
		char other[RAY_NODEID_LEN + 1];
		if (running_node(other)) {
			fprintf(stderr, "ray-node: node %s already runs under RAY_TMPDIR '%s': stop it "
			        "(ray-node stop) or give this one its own RAY_TMPDIR\n", other, ray_tmpdir());
			return 2;
		}
	}
	/* A joining node takes any free port unless told: several start on
	 * one host with no options. */
	if (o->address && !o->port_set)
		((opts *)o)->port = 0;
	if (o->foreground) {
		if ((rc = node_setup(o, &err))) {
			node_setup_undo();
			fprintf(stderr, "ray-node: %s\n", err.msg);
			return ray_exit_code(rc);
		}
		log_listening();
		if (env_text(msg, sizeof(msg)) == 0) {
			fputs(msg, stdout);
			fflush(stdout);
		}
		node_teardown();
		return 0;
	}
	if (pipe2(pfd, O_CLOEXEC)) {
		perror("ray-node: pipe");
		return 1;
	}
	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		perror("ray-node: fork");
		return 1;
	}
	if (pid == 0) {
		int fd;
		close(pfd[0]);
		setsid();
		if (fork() > 0)
			_exit(0);
		rc = node_setup(o, &err);
		if (rc) {
			node_setup_undo();
			snprintf(msg, sizeof(msg), "%d %s", ray_exit_code(rc), err.msg);
			if (write(pfd[1], msg, strlen(msg)) < 0)
				_exit(1);
			_exit(1);
		}
		fd = open("/dev/null", O_RDWR);
		dup2(fd, 0);
		snprintf(msg, sizeof(msg), "%s/logs/node.log", N->session);
		fd = open(msg, O_WRONLY | O_CREAT | O_APPEND, 0600);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		log_listening();
		if (write(pfd[1], "0 ok", 4) < 0)
			_exit(1);
		close(pfd[1]);
		node_teardown();
		/* exit, not _exit: the normal path, so LeakSanitizer (make
		 * SANITIZE=1) sees what the daemon leaves allocated. */
		exit(0);
	}
	close(pfd[1]);
	waitpid(pid, NULL, 0);
	n = read(pfd[0], msg, sizeof(msg) - 1);
	close(pfd[0]);
	if (n <= 0) {
		fprintf(stderr, "ray-node: the node died while starting\n");
		return 1;
	}
	msg[n] = '\0';
	rc = atoi(msg);
	if (rc) {
		fprintf(stderr, "ray-node: %s\n", strchr(msg, ' ') ? strchr(msg, ' ') + 1 : msg);
		return rc;
	}
	{
		/* The child wrote node.env; find it through latest. */
		char session[PATH_MAX], path[PATH_MAX + 16], buf[PATH_MAX * 3];
		if (ray_latest_session(session, sizeof(session), NULL))
			return 1;
		snprintf(path, sizeof(path), "%s/node.env", session);
		if (ray_read_text(path, buf, sizeof(buf)) <= 0)
			return 1;
		fputs(buf, stdout);
	}
	return fflush(stdout) ? 1 : 0;
}

/* Removes a dead node's session and store, and `latest` if it named it. */
static void rm_stale(const char *name, const char *sess, const char *store)
{
	char link[PATH_MAX + 16], target[PATH_MAX];
	ssize_t n;

	ray_rm_rf(sess);
	ray_rm_rf(store);
	snprintf(link, sizeof(link), "%s/latest", ray_tmpdir());
	n = readlink(link, target, sizeof(target) - 1);
	if (n > 0) {
		target[n] = '\0';
		if (!strcmp(target, name))
			unlink(link);
	}
}

/* Waits for the node holding the lock at path to exit; 0 when it did. */
static int wait_unlocked(const char *lockpath, int ms)
{
	int64_t end = ray_now_ms() + ms;

	while (ray_now_ms() < end) {
		int fd = open(lockpath, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			return 0;
		if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
			close(fd);
			return 0;
		}
		close(fd);
		usleep(20000);
	}
	return -1;
}

static int cmd_stop(int force)
{
	ray_err err = { 0, "" };
	DIR *d;
	struct dirent *e;
	int stopped = 0, failed = 0;

	/* Never signal a pid that a directory of someone else's names. */
	if (ray_tmpdir_check(0, &err)) {
		fprintf(stderr, "ray-node: %s\n", err.msg);
		return ray_exit_code(err.code);
	}
	d = opendir(ray_tmpdir());
	if (!d) {
		fprintf(stderr, "ray-node: no node running under '%s'\n", ray_tmpdir());
		return 0;
	}
	while ((e = readdir(d))) {
		char sess[PATH_MAX], lockp[PATH_MAX + 16], pidp[PATH_MAX + 16], buf[32], store[PATH_MAX];
		int fd, pid = 0;

		if (strncmp(e->d_name, "node-", 5))
			continue;
		snprintf(sess, sizeof(sess), "%s/%s", ray_tmpdir(), e->d_name);
		snprintf(lockp, sizeof(lockp), "%s/node.lock", sess);
		snprintf(pidp, sizeof(pidp), "%s/node.pid", sess);
		snprintf(store, sizeof(store), "/dev/shm/ray-%s", e->d_name + 5);
		fd = open(lockp, O_RDWR | O_CLOEXEC);
		if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0) {
			/* Nobody holds it: a stale session. */
			close(fd);
			rm_stale(e->d_name, sess, store);
			continue;
		}
		if (fd >= 0)
			close(fd);
		if (ray_read_text(pidp, buf, sizeof(buf)) > 0)
			pid = atoi(buf);
		if (pid <= 1)
			continue;
		kill(pid, SIGTERM);
		if (wait_unlocked(lockp, force ? 2000 : 15000)) {
			kill(pid, SIGKILL);
			if (wait_unlocked(lockp, 5000)) {
				fprintf(stderr, "ray-node: node %s (pid %d) did not stop\n", e->d_name + 5, pid);
				failed++;
				continue;
			}
			rm_stale(e->d_name, sess, store);
		}
		stopped++;
	}
	closedir(d);
	if (!stopped && !failed)
		fprintf(stderr, "ray-node: no node running under '%s'\n", ray_tmpdir());
	return failed ? 1 : 0;
}

static int bad(const char *opt, const char *arg, const char *want)
{
	fprintf(stderr, "ray-node: bad --%s '%s': want %s\n", opt, arg, want);
	return 2;
}

/* The options and the command word: -1 to go on, else the exit status. */
static int parse_args(int argc, char **argv, opts *o, int *force, const char **cmd)
{
	static const struct option lo[] = {
		{ "head", no_argument, 0, 'H' }, { "address", required_argument, 0, 'a' },
		{ "port", required_argument, 0, 'p' }, { "host", required_argument, 0, 'h' },
		{ "cpus", required_argument, 0, 'c' }, { "gpus", required_argument, 0, 'g' },
		{ "memory", required_argument, 0, 'm' }, { "object-store-memory", required_argument, 0, 'o' },
		{ "resources", required_argument, 0, 'r' }, { "labels", required_argument, 0, 'l' },
		{ "spill-dir", required_argument, 0, 's' }, { "token-file", required_argument, 0, 't' },
		{ "foreground", no_argument, 0, 'f' }, { "force", no_argument, 0, 'F' },
		{ "transport", required_argument, 0, 'T' }, { "metrics-port", required_argument, 0, 'M' },
		{ "head-timeout", required_argument, 0, 'W' }, { "memory-threshold", required_argument, 0, 'P' },
		{ "state-store", required_argument, 0, 'S' }, { "task-history", required_argument, 0, 'Y' },
		{ "worker-idle-timeout", required_argument, 0, 'I' },
		{ "help", no_argument, 0, 'u' }, { "version", no_argument, 0, 'V' }, { 0, 0, 0, 0 }
	};
	int c;
	uint64_t v;

	o->port = RAY_DEFAULT_PORT;
	o->metrics_port = -1;
	o->worker_idle_ms = -1;
	o->mem_threshold = QTY_ONE * 95 / 100;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'H': o->head = 1; break;
		case 'a': o->address = optarg; break;
		case 'p':
			if (ray_parse_uint(optarg, &v) || v > 65535)
				return bad("port", optarg, "0..65535");
			o->port = (int)v;
			o->port_set = 1;
			break;
		case 'h': o->host = optarg; break;
		case 'c':
			if (ray_parse_qty(optarg, &o->cpus))
				return bad("cpus", optarg, "a number");
			o->cpus_set = 1;
			break;
		case 'g':
			if (ray_parse_qty(optarg, &o->gpus))
				return bad("gpus", optarg, "a number");
			o->gpus_set = 1;
			break;
		case 'm':
			if (ray_parse_size(optarg, &o->memory))
				return bad("memory", optarg, "a size such as 4G");
			o->mem_set = 1;
			break;
		case 'o':
			if (ray_parse_size(optarg, &o->store_mem))
				return bad("object-store-memory", optarg, "a size such as 2G");
			o->store_set = 1;
			break;
		case 'r': o->resources = optarg; break;
		case 'l': o->labels = optarg; break;
		case 's': o->spill_dir = optarg; break;
		case 't': o->token_file = optarg; break;
		case 'f': o->foreground = 1; break;
		case 'S': o->state_store = optarg; break;
		case 'W':
			if (ray_parse_seconds(optarg, &o->head_timeout_ms) || o->head_timeout_ms <= 0)
				return bad("head-timeout", optarg, "seconds, more than 0");
			break;
		case 'I':
			if (ray_parse_seconds(optarg, &o->worker_idle_ms) || o->worker_idle_ms < 0)
				return bad("worker-idle-timeout", optarg, "seconds");
			break;
		case 'T':
			if ((o->transport = ray_transport_parse(optarg)) <= RAY_TRANSPORT_AUTO)
				return bad("transport", optarg, "plain or encrypted");
			break;
		case 'M':
			if (ray_parse_uint(optarg, &v) || v > 65535)
				return bad("metrics-port", optarg, "0..65535");
			o->metrics_port = (int)v;
			break;
		case 'Y':
			if (ray_parse_uint(optarg, &v) || v > 100000000)
				return bad("task-history", optarg, "0..100000000");
			task_history_max = (size_t)v;
			task_history_set = 1;
			break;
		case 'P':
			if (ray_parse_qty(optarg, &o->mem_threshold) || o->mem_threshold <= 0 ||
			    o->mem_threshold > QTY_ONE)
				return bad("memory-threshold", optarg, "a fraction of RAM, more than 0 and at most 1");
			break;
		case 'F': *force = 1; break;
		case 'u': fputs(USAGE, stdout); return 0;
		case 'V': printf("ray-node %s\n", RAY_VERSION); return 0;
		default:
			fprintf(stderr, "ray-node: bad option '%s' (unknown, or missing its value); see 'ray-node --help'\n",
			        optind >= 1 && optind - 1 < argc ? argv[optind - 1] : "");
			return 2;
		}
	}
	if (optind >= argc) {
		fputs("ray-node: missing command: start or stop; see 'ray-node --help'\n", stderr);
		return 2;
	}
	*cmd = argv[optind];
	if (optind + 1 < argc) {
		fprintf(stderr, "ray-node: unexpected argument '%s'\n", argv[optind + 1]);
		return 2;
	}
	if (o->resources) {
		res tmp = { 0 };
		ray_err err;
		if (res_parse_custom(&tmp, o->resources, &err)) {
			fprintf(stderr, "ray-node: %s\n", err.msg);
			return 2;
		}
	}
	if (o->labels && !strchr(o->labels, '='))
		return bad("labels", o->labels, "KEY=VAL[,KEY=VAL...]");
	return -1;
}

int main(int argc, char **argv)
{
	opts o = { 0 };
	const char *cmd = NULL;
	int force = 0, rc = parse_args(argc, argv, &o, &force, &cmd);

	ray_std_fds();
	if (rc >= 0)
		return rc;
	if (!strcmp(cmd, "start"))
		return cmd_start(&o);
	if (!strcmp(cmd, "stop"))
		return cmd_stop(force);
	fprintf(stderr, "ray-node: unknown command '%s': want start or stop\n", cmd);
	return 2;
}
