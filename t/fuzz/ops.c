/* ops.c: libFuzzer target for every op's request validation, against a
 * node state built in-process: a head node (no CPUs, a 16 MiB store,
 * state store "none") whose server is fed framed requests over a
 * socketpair adopted as an authenticated connection, so requests take
 * the daemon's own path: frame parse, the ops table, each handler, the
 * reply.  The input is JSON text, optionally followed by a NUL and the
 * request's data bytes.
 *
 * Nothing leaves the process: uv_spawn, spawn_proc, kill and
 * uv_tcp_connect are wrapped at link time (-Wl,--wrap) to fail or do
 * nothing, so a fuzzed submit, job or actor never starts a command, no
 * fuzzed pid is signalled and no peer is dialled; the handlers see those
 * calls fail, as they may in life.  get and wait get "timeout": 0, so a
 * request never blocks its connection for long; one that still does is
 * abandoned with its connection (closed), as a client would. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>
#include <uv.h>

#include "node.h"
#include "cluster.h"
#include "server.h"
#include "spawn.h"
#include "spill.h"
#include "state.h"
#include "store.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *in, size_t len);

int __wrap_uv_spawn(uv_loop_t *loop, uv_process_t *p, const uv_process_options_t *o);
int __wrap_spawn_proc(char *const argv[], char *const env[], const int fds[3], reap_cb cb,
                      void *ud, int *pid_out);
int __wrap_kill(pid_t pid, int sig);
int __wrap_uv_tcp_connect(uv_connect_t *req, uv_tcp_t *h, const struct sockaddr *a, uv_connect_cb cb);

int __wrap_uv_spawn(uv_loop_t *loop, uv_process_t *p, const uv_process_options_t *o)
{
	(void)loop;
	(void)p;
	(void)o;
	return UV_EPERM;
}

int __wrap_spawn_proc(char *const argv[], char *const env[], const int fds[3], reap_cb cb,
                      void *ud, int *pid_out)
{
	(void)argv;
	(void)env;
	(void)fds;
	(void)cb;
	(void)ud;
	(void)pid_out;
	return UV_EPERM;
}

int __wrap_kill(pid_t pid, int sig)
{
	(void)pid;
	(void)sig;
	return 0;
}

int __wrap_uv_tcp_connect(uv_connect_t *req, uv_tcp_t *h, const struct sockaddr *a, uv_connect_cb cb)
{
	(void)req;
	(void)h;
	(void)a;
	(void)cb;
	return UV_ENETUNREACH;
}

#define MAX_TURNS 64
#define MAX_ABANDONED 256
#define MAX_TASKS 50000

static node the_node;
static char dir[] = "/tmp/rayfuzz.XXXXXX";
static int cfd = -1;            /* our end of the connection */
static int abandoned;
static uint32_t next_id = 1;

static void die(const char *what, const char *why)
{
	fprintf(stderr, "fuzz ops: %s: %s\n", what, why);
	exit(1);
}

static void connect_server(void)
{
	int sv[2];

	if (cfd >= 0)
		close(cfd);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		die("socketpair", strerror(errno));
	if (server_adopt(sv[0]))
		die("server_adopt", "failed");
	cfd = sv[1];
	fcntl(cfd, F_SETFL, O_NONBLOCK);
}

/* The node's files go with the fuzzer (libFuzzer ends with exit()). */
static void remove_dir(void)
{
	ray_rm_rf(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char path[PATH_MAX + 64];
	ray_err err = { 0, "" };

	(void)argc;
	(void)argv;
	signal(SIGPIPE, SIG_IGN);
	if (!mkdtemp(dir))
		die("mkdtemp", strerror(errno));
	atexit(remove_dir);
	N = &the_node;
	N->loop = uv_default_loop();
	N->start_ms = ray_now_ms();
	N->wall_start_ms = ray_wall_ms();
	N->is_head = 1;
	ray_random_hex(N->id, RAY_NODEID_LEN / 2);
	snprintf(N->host, sizeof(N->host), "127.0.0.1");
	N->store_cap = 16u << 20;
	N->total.mem = 1 << 30;
	N->avail = N->total;
	snprintf(N->session, sizeof(N->session), "%s/node-%s", dir, N->id);
	snprintf(N->store, sizeof(N->store), "%s/store", N->session);
	snprintf(N->logdir, sizeof(N->logdir), "%s/logs", N->store);
	snprintf(path, sizeof(path), "%s/o", N->store);
	if (ray_mkdir_p(path, 0700) || ray_mkdir_p(N->logdir, 0700))
		die("mkdir", strerror(errno));
	snprintf(path, sizeof(path), "%s/tmp", N->store);
	mkdir(path, 0700);
	N->devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (spill_init(NULL, &err))
		die("spill_init", err.msg);
	store_init();
	randombytes_buf(N->key, sizeof(N->key));
	node_wire();
	if (server_start(N, &err))
		die("server_start", err.msg);
	if (cluster_start())
		die("cluster_start", "failed");
	if (state_open("none", N->key, &err))
		die("state_open", err.msg);
	connect_server();
	return 0;
}

/* What may not run here: see the top comment. */
static int tame(cJSON *req)
{
	const char *op = rj_str(req, "op");

	if (!op || !strcmp(op, "shutdown"))
		return -1;
	if (!strcmp(op, "get") || !strcmp(op, "wait") || !strcmp(op, "get_part")) {
		cJSON_DeleteItemFromObjectCaseSensitive(req, "timeout");
		cJSON_AddNumberToObject(req, "timeout", 0);
	}
	if (N->ntasks > MAX_TASKS && (!strcmp(op, "submit") || !strcmp(op, "task_run") ||
	                              !strncmp(op, "actor_", 6)))
		return -1;
	return 0;
}

/* Runs the loop until the reply to id came (1), the server hung up (0),
 * or MAX_TURNS passed (-1). */
static int await_reply(uint32_t id)
{
	static rbuf in;
	int turn;

	in.len = 0;
	for (turn = 0; turn < MAX_TURNS; turn++) {
		ssize_t n;
		uv_run(N->loop, UV_RUN_NOWAIT);
		for (;;) {
			if (rbuf_reserve(&in, 65536))
				abort();
			n = read(cfd, in.p + in.len, in.cap - in.len);
			if (n <= 0)
				break;
			in.len += (size_t)n;
		}
		if (n == 0)
			return 0;
		while (in.len) {
			ray_frame f;
			int rc = ray_frame_parse(in.p, in.len, &f);
			if (rc < 0)
				abort();  /* the node wrote a frame we cannot read */
			if (rc == 0)
				break;
			cJSON_Delete(f.js);
			rbuf_consume(&in, f.total);
			if (f.req_id == id)
				return 1;
		}
	}
	return -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	const char *nul = memchr(data, 0, len);
	size_t jlen = nul ? (size_t)(nul - (const char *)data) : len, flen;
	cJSON *req;
	char *frame;
	uint32_t id;
	int got;

	if (abandoned > MAX_ABANDONED)
		return 0;
	req = cJSON_ParseWithLength((const char *)data, jlen);
	if (!cJSON_IsObject(req) || tame(req)) {
		cJSON_Delete(req);
		return 0;
	}
	id = next_id++;
	frame = ray_frame_pack(id, req, nul ? nul + 1 : NULL, nul ? len - jlen - 1 : 0, &flen);
	cJSON_Delete(req);
	if (!frame)
		return 0;
	if (ray_write_all(cfd, frame, flen) && errno != EAGAIN) {
		free(frame);
		connect_server();
		return 0;
	}
	free(frame);
	got = await_reply(id);
	if (got == 0) {
		connect_server();
	} else if (got < 0) {
		abandoned++;
		connect_server();
	}
	return 0;
}
