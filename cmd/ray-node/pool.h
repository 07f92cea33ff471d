/* pool.h: pooled workers, long-lived processes that serve tasks one call
 * at a time through an actor protocol (pool.c). */
#ifndef RAY_NODE_POOL_H
#define RAY_NODE_POOL_H

#include "node.h"

enum { W_IDLE, W_BUSY, W_STOPPING };

typedef struct pworker {
	char id[RAY_ID_MAX + 1];
	char *key;                /* owned: its kind (protocol, command, env, GPUs) */
	char *cmd;                /* owned: the command line, run by sh -c */
	int protocol;
	int state;                /* W_* */
	int pid;
	uv_pipe_t in, out;        /* its stdin and stdout */
	int nhandles;             /* of in, out still open */
	int reaped;               /* its pid is no longer ours to signal */
	int broken;               /* broke its protocol: nothing more is read */
	int eof;                  /* its stdout closed */
	int epipe;                /* a call could not be written to its stdin */
	int exit_code, term_signal;
	char *cause;              /* owned: why it was killed, when we killed it */
	rbuf rx;                  /* owned: answer bytes not yet parsed */
	size_t scanned;
	task *cur;                /* not owned: the task it serves, or NULL */
	int in_cg;                /* runs in a memory cgroup of its own (cgroup.c) */
	int limited;              /* its cgroup is held to cur's --memory */
	int64_t oom_base;         /* the cgroup's OOM kills when cur was leased */
	uint32_t next_call;
	uint64_t tasks_done;
	int64_t started_ms, idle_ms, stop_ms;
	struct pworker *prev, *next;
} pworker;

/* --worker-idle-timeout: idle workers stop after this long (default 60 s). */
void pool_set_idle_timeout(int64_t ms);
/* Takes t's resources and hands it to an idle worker of its kind, or to a
 * new one; fails t when no worker can be started. */
void pool_start(task *t);
/* The task that id stands for (a get that lends its CPUs, a submission's
 * parent): the call a worker serves when id names a busy worker of this
 * node, else id. */
const char *pool_task_of(const char *id);
/* Whether id names a worker of this node (its log is ray-status logs ID). */
int pool_owns_id(const char *id);
/* This node's workers for ray-status workers, filtered by state. */
void pool_json(cJSON *arr, const char *state);
/* Stops every idle worker (memory pressure, or a caller that needs room):
 * returns how many. */
int pool_trim(void);
/* The node stops: every worker is killed. */
void pool_stop_all(void);
void pool_free_all(void);

#endif
