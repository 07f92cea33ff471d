/* actor.h: an actor's record and its process's life (start, restart,
 * death) on the node that hosts it (actor.c); the head's directory and
 * placement (actor_dir.c). */
#ifndef ACTOR_H
#define ACTOR_H

#include "node.h"

/* --max-restarts and --max-task-retries -1: without limit. */
#define UNLIMITED (1 << 30)

enum { A_PENDING, A_ALIVE, A_RESTARTING, A_DEAD };

#define MAX_CONCURRENCY 10000

typedef struct actor {
	char id[RAY_ID_MAX + 1];
	char *name;               /* owned, may be NULL */
	char *ns;                 /* owned */
	char *key;                /* owned: "ns\x1fname" for the name map */
	char job[RAY_ID_MAX + 1];
	int detached, max_restarts, max_task_retries, max_concurrency, protocol;
	char **argv, **env;       /* owned */
	char *workdir;            /* owned: --working-dir (a path or a ref), or NULL */
	res req;
	int holding;              /* resources taken */
	char gpu_ids[128];        /* devices given, held for life */
	int state, num_restarts;
	uv_pipe_t in, out;        /* the actor's stdin and stdout */
	int nhandles;             /* of proc, in, out still open */
	int exited, pid;
	int exit_code, term_signal;
	int killed;               /* stopped for good */
	int oom;                  /* killed for memory (memmon.c): its calls fail with 6 */
	int in_cg;                /* this process runs in a memory cgroup (cgroup.c) */
	int dying;                /* this process is being killed or has exited:
	                           * send it nothing more */
	char *cause;              /* owned: why it died last */
	rbuf rx;
	size_t scanned;           /* bytes at the head of rx known to hold no LF */
	task *qhead, *qtail;      /* calls not yet sent, in order */
	task *fhead, *ftail;      /* calls in flight, in send order */
	int ninflight;
	uint32_t next_call;
	uv_timer_t timer;         /* restart backoff, or stop grace */
	int timer_live;           /* timer open, or closing */
	uv_timer_cb timer_next;   /* to start once the closing timer is closed */
	uint64_t timer_next_ms;
	uv_timer_t eof_timer;     /* stdout closed: give it a moment to exit */
	int eof_live;
	int64_t created_ms;
	task shape;               /* placement: resources, pins, labels, group
	                           * (labels and prefer owned) */
	char node[RAY_NODEID_LEN + 1]; /* where the process runs; "" not placed */
	int placed;               /* head: the host took it (calls may go there) */
	int instance;             /* this node hosts it for the head's directory */
	int forget;               /* actors_prune: about to be freed */
	cJSON *spec;              /* head: the create request (owned), for the state store */
	struct actor *prev, *next;
} actor;

/* What an actor's life tells its calls (actor_call.c), which node.c fills
 * in: its output arrived, it may take calls, a call in flight is lost. */
typedef struct actor_hooks {
	int (*answers)(actor *a);    /* parse what arrived; nonzero: the actor is gone */
	void (*pump)(actor *a);
	void (*call_fail)(task *t, int code, const char *why);
	void (*changed)(actor *a);   /* its state changed (the head records it) */
} actor_hooks;
extern actor_hooks actor_on;

/* "actor 'name' (id)" or "actor id", for messages. */
void actor_desc(const actor *a, char *buf, size_t len);
/* The name of the memory cgroup of a's current process (cgroup.c). */
void actor_cg_name(const actor *a, char *buf, size_t len);
/* Records why the actor died last (fmt has one %s). */
void actor_set_cause(actor *a, const char *fmt, const char *arg);
/* Appends "ray-node: msg" to the actor's log (ray-status logs ACTOR). */
void actor_log_line(actor *a, const char *msg);
/* The actor named by req's key, by id or by name in the request's
 * namespace; else replies with the error and returns NULL. */
actor *actor_resolve(const cJSON *req, const char *key, conn *c, uint32_t id);

const char *actor_state_name(int s);

/* actor.c: the table and the process. */
int actor_owns_id(const char *id);
actor *actor_find(const char *id);
actor *actor_by_key(const char *key);   /* "ns\x1fname" */
actor *actors_first(void);              /* then ->next */
void actor_add(actor *a);
/* Frees a record that is in no table (or is being taken out of them). */
void actor_free(actor *a);
/* Takes its resources from its pool and starts it: 0, or -1 when they
 * are not free here. */
int actor_take(actor *a);
/* Dead for good: queued calls fail, resources go back. */
void actor_go_dead(actor *a);
/* Stops it for good: at once, or politely (EOF, SIGTERM, SIGKILL later). */
void actor_stop(actor *a, const char *cause, int graceful);
void actor_restart_now(actor *a);
void actors_stop_all(void);
void actors_free_all(void);
/* Forgets the oldest dead actors past the history kept (on the tick). */
void actors_prune(void);
/* actor_host, actor_stop: what the head asks of the node that hosts. */
void actor_op_host(conn *c, uint32_t id, cJSON *req);
void actor_op_stop(conn *c, uint32_t id, cJSON *req);

/* actor_dir.c: the head's directory. */
/* The actor_* requests the head answers (create, kill, get, list, where,
 * report). */
void op_actor(conn *c, uint32_t id, cJSON *req);
/* Stops the job's non-detached actors (called when a job ends). */
void actor_job_ended(const char *job_id);
/* Where the actor req names (by id or name) runs, for a caller: id,
 * name, state, protocol, max_task_retries, cause, and node_id and addr
 * once it is running.  NULL with err when unknown. */
cJSON *actor_where(const cJSON *req, ray_err *err);
/* Places the actors that wait for a node; actor_sched_wake says there
 * may be new ones (the tick says so too). */
void actor_sched(void);
void actor_sched_wake(void);
/* A node died: the actors it hosted restart elsewhere, or die. */
void actor_node_died(const char *node_id);
/* The head's state store: an actor's record (written on every change of
 * its directory entry), and the directory read back by a head started
 * again (0 or RAY_E...). */
void actor_dir_save(actor *a);
int actors_restore(void);
cJSON *actors_json(const char *state, int64_t limit);
/* Appends the actors waiting for a node to ray-status demands. */
void actors_demands(cJSON *arr);

#endif
