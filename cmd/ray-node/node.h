/*
 * node.h: the state of one ray-node daemon, shared by its parts: the
 * server (connections, handshake, frames), the object store, the task
 * scheduler and worker pool, and the status queries.
 */
#ifndef NODE_H
#define NODE_H

#include <limits.h>
#include <stdint.h>
#include <uv.h>

#include "rayint.h"
#include "map.h"

#define MAX_CUSTOM 16
#define RES_NAME_MAX 64   /* a custom resource's name, NUL included */
#define QTY_ONE 10000

typedef struct res {
	int64_t cpu, gpu;       /* ten-thousandths */
	int64_t mem;            /* bytes */
	int ncustom;
	/* Names are interned (res_name in res.c): a pointer, not 64 bytes,
	 * as every task record holds a res. */
	struct { const char *name; int64_t q; } custom[MAX_CUSTOM];
} res;

enum obj_state { OBJ_PENDING, OBJ_READY, OBJ_ERROR };

typedef struct waiter waiter;
typedef struct task task;
typedef struct conn conn;

/* Fields are ordered so that flags fill the gaps: a node holds one of
 * these per object and per pending result, a million at a time. */
typedef struct obj {
	char ref[RAY_REF_MAX + 1];
	unsigned char state;    /* enum obj_state */
	unsigned char in_file;  /* sealed file at store/o/REF exists */
	unsigned char spill;    /* a complete spill file exists; sum is its hash */
	unsigned char io;       /* IO_SPILL or IO_RESTORE in flight, else 0 */
	unsigned char doomed;   /* freed: released once nothing uses it */
	unsigned char in_lru;
	unsigned char remote;   /* ready, but the bytes are on node `loc` */
	unsigned char fetching; /* a pull into this node is running */
	unsigned char foreign;  /* owned by another node: we track a copy */
	unsigned char locating; /* an obj_locate to the owner is in flight */
	char loc[RAY_NODEID_LEN + 1];
	int err_code;           /* RAY_E... when state is OBJ_ERROR */
	char *err_msg;          /* owned */
	char *data;             /* owned; inline bytes, or NULL when in a file */
	uint64_t size;
	int64_t created_ms, last_ms;
	task *producer;         /* not owned; NULL for puts */
	waiter **waiters; int nwait, capwait;   /* array owned, waiters not */
	task **deps; int ndeps, capdeps;        /* tasks waiting on us */
	int pins;               /* readers that need the bytes resident */
	int keep;               /* daemon references that forbid releasing it */
	int fetch_fail;         /* failed pulls so far */
	const char *job;        /* the job that made it (istr; NULL: its producer's) */
	unsigned char sum[32];  /* the spill's XXH64 sum (spill.c), once spilled */
	int64_t ra_until;       /* prefetched for a reader: kept until read or then */
	struct obj *lprev, *lnext; /* LRU list of resident ready objects */
	void *sio;              /* the spill or restore in flight (store.c) */
	struct obj *prev, *next; /* list in creation order */
} obj;

enum obj_io { IO_NONE, IO_SPILL, IO_RESTORE };

/* Why memmon.c killed a task. */
/* OOM_CGROUP: the kernel killed one of its processes at its cgroup's limit. */
enum { OOM_NONE, OOM_LIMIT, OOM_HOST, OOM_CGROUP };

enum task_state {
	T_PENDING_ARGS, T_PENDING_NODE, T_SUBMITTED, T_RUNNING,
	T_FINISHED, T_FAILED, T_CANCELLED
};

/* Ordered so that flags fill the gaps (a million of these may queue). */
struct task {
	char id[RAY_ID_MAX + 1];
	unsigned char shell;      /* argv is {"sh","-c",line} with @REF words */
	unsigned char retry_exceptions;
	unsigned char proc_live;  /* its process not reaped yet */
	unsigned char cancel;     /* 1 requested, 2 forced */
	unsigned char cancel_tree; /* cancelled with the tasks it submitted */
	unsigned char queued;     /* 0, or Q_SPECIAL / Q_SHAPE (task.c) */
	unsigned char pin_soft, spread;
	unsigned char blocked;    /* a hard constraint this node can't meet */
	unsigned char shared;     /* SHARED_ARGV, SHARED_ENV: held with strv_hold,
	                           * one copy for the tasks of a batch (task.c) */
	unsigned char hist;       /* HIST_*: where hprev/hnext link it */
	unsigned char in_cg;      /* this attempt runs in a memory cgroup (cgroup.c) */
	char owner[RAY_NODEID_LEN + 1];     /* "" when we own it, else the owner */
	char exec_node[RAY_NODEID_LEN + 1]; /* where it runs, when forwarded */
	char pin[RAY_NODEID_LEN + 1];
	char pg[RAY_ID_MAX + 1];  /* placement group, or "" */
	const char *parent;       /* istr: the task that submitted it here, or "" */
	int state;
	int num_returns;
	int max_retries, attempt;
	int nretry_codes;
	int ndeps;
	int deps_missing;
	int pid;
	int exit_code, term_signal;
	int lent;                 /* CPUs lent back while blocked in get */
	int bundle;               /* its bundle index, -1 any */
	int stream_bp;            /* --stream: its backpressure, else 0 (stream.c) */
	int oom;                  /* this attempt was killed for memory: OOM_* */
	int64_t oom_bytes;        /* then: OOM_LIMIT its resident bytes, OOM_CGROUP
	                           * its cgroup's limit,
	                           * OOM_HOST the host's use in ten-thousandths */
	char *name;               /* owned, may be NULL */
	const char *job;          /* istr (one copy for all its tasks) */
	char **argv;              /* owned, NULL-terminated; @REF unresolved */
	char **env;               /* owned "K=V" list */
	const res *req;           /* not owned: interned (res_intern), one per shape */
	obj **rets;               /* owned array, or &ret1; objs owned by the store */
	obj *ret1;                /* rets of a task with one return (no malloc) */
	int *retry_codes;
	obj *stdin_obj;
	obj **deps;               /* owned array */
	char *workdir;            /* owned: --working-dir, a path or a ref, or NULL */
	char *labels;             /* owned: ",k=v,k=v," hard selectors or NULL */
	char *prefer;             /* owned: "k=v" soft or NULL */
	char *gpu_ids;            /* owned: devices given, "0,2"; NULL for no GPU */
	int64_t submit_ms, start_ms, end_ms;
	task *qprev, *qnext;      /* run queue */
	task *prev, *next;        /* all tasks, submission order */
	task *hprev, *hnext;      /* finished: the history, oldest first; or
	                           * evicted but kept for lineage (task.c) */
	struct actor *act;        /* not owned; set for actor method calls */
	char *method;             /* owned; actor calls */
	task *anext;              /* actor calls: in-flight list */
	struct actor_handle *handle;  /* not owned: a call to an actor that another
	                           * node hosts (actor_route.c) */
	char *worker;             /* owned: a pooled task's worker command line
	                           * (argv is then METHOD ARG...), else NULL */
	int wproto;               /* its protocol (proto.h P_*) */
	struct pworker *pw;       /* not owned: the worker serving it (pool.c) */
	int wpid;                 /* the pid of the worker that served it last */
	uint32_t call_id;         /* actor calls: id on the wire */
};

/* A get or wait that blocks until objects are ready. */
struct waiter {
	conn *c;                  /* NULL once the client left */
	uint32_t req_id;
	int is_wait;              /* ray-wait (count k) vs get (all) */
	int want_inline;
	int packed;               /* the client takes packed sizes (waiter.c) */
	size_t n, k, ready;
	obj **objs;               /* owned array */
	unsigned char *done;      /* owned; per object */
	struct wref { obj *o; size_t i; } *byobj; /* owned: objs sorted, for a long list, or NULL */
	uv_timer_t timer;
	int has_timer;
	char lender[RAY_ID_MAX + 1]; /* task whose CPUs were lent, or "" */
	int restore;              /* get: spilled objects count once restored */
	void (*redo)(conn *c, uint32_t id, cJSON *req); /* run redo_req again once objs[0] is resident */
	cJSON *redo_req;          /* owned */
	cJSON *room;              /* a put waiting for room: its reply (owned) */
	waiter *qnext;            /* queue of puts waiting for room */
	waiter *cprev, *cnext;    /* per-connection list */
};

struct conn {
	union { uv_tcp_t tcp; uv_pipe_t pipe; uv_stream_t s; uv_handle_t h; } u;
	int authed, closing, busy;
	int unauth;               /* counts against the handshake quota (TCP) */
	int hs_grace;             /* the handshake deadline was extended once */
	char src[48];             /* the peer's address (TCP), for the quota and logs */
	ray_hs hs;
	rbuf raw;                 /* records not yet opened, when encrypted */
	ray_sec sec;
	rbuf in;
	uv_timer_t auth_timer;
	waiter *waiters;
	conn *prev, *next;
	int resume_queued;
	int refs;                 /* deferred replies that still point here */
	int handles_open;         /* closing: the stream and the timer not yet closed */
	conn *rprev, *rnext;      /* queue of connections to resume */
	uint64_t skip;            /* bytes of a refused request still to read past */
	char *put_path;           /* owned; a put_part in progress */
	int put_fd;
	char put_ref[RAY_REF_MAX + 1];
	obj **held; int nheld, capheld; /* pinned while the peer reads their files (array owned) */
};

/* A node's object store in numbers, as its heartbeat carries them. */
typedef struct rstore {
	uint64_t objects, object_bytes; /* ready objects held here (copies count) */
	uint64_t used, capacity, spilled; /* bytes */
} rstore;

/* A node as the cluster view knows it (the head's table, copied to all). */
typedef struct rnode {
	char id[RAY_NODEID_LEN + 1];
	char addr[300];
	int alive, is_head, pid;
	char labels[1024];
	res total, avail;
	rstore store;
	int64_t last_ms, nqueued;
	double start_time, end_time;
} rnode;

#define MAX_NODES 256

typedef struct peer peer;

typedef struct node {
	uv_loop_t *loop;
	char id[RAY_NODEID_LEN + 1];
	char session[PATH_MAX], store[PATH_MAX];
	char logdir[PATH_MAX];    /* task and actor stderr: tmpfs, beside the store */
	int devnull;              /* /dev/null, opened once for every task's stdin */
	char host[256];
	int port;
	unsigned char key[RAY_KEY_LEN];
	uv_pipe_t usrv;
	uv_tcp_t tsrv;
	uv_signal_t sigterm, sigint;
	uv_timer_t tick;
	int stopping;
	int64_t start_ms, wall_start_ms;
	res total, avail;
	uint64_t store_cap, store_used;
	map objs, tasks;
	obj *ohead, *otail;
	task *thead, *ttail;
	size_t ntasks;
	task *qhead, *qtail;
	size_t nqueued;
	int nrunning, nprocs;
	uint64_t nforeign;        /* objects with foreign set (transfer.c), live */
	int nmem_running;         /* running tasks with a --memory (memmon.c's work) */
	conn *conns;
	conn *rhead;              /* connections to resume on the next idle */
	uv_idle_t resume_idle;
	uint64_t ntask_total, nfinished, nfailed;
	char labels[1024];        /* "k=v,k=v" */
	int is_head;
	char head_addr[300];      /* "" on the head */
	rnode view[MAX_NODES];    /* the cluster, self included */
	int nview;
	int64_t dead_timeout_ms;
	uv_timer_t ctick;
	int hb_inflight, joined, join_failed;
	int64_t hb_sent_ms;
	int64_t head_ok_ms;       /* a worker: when the head last answered */
	int64_t head_timeout_ms;  /* --head-timeout: then a worker stops */
	int head_lost;            /* no answer for the death timeout */
	char join_err[512];
	unsigned spread_rr;
	int transport;            /* RAY_TRANSPORT_*: --transport */
	int64_t mem_threshold;    /* --memory-threshold, ten-thousandths of RAM */
	void (*kick)(void);       /* resources came back: run the scheduler */
} node;

extern node *N;

/* Resources came back (a bundle, a group, an actor's CPUs): parts below
 * the scheduler say so through this hook, which node.c points at it. */
static inline void node_kick(void)
{
	if (N->kick)
		N->kick();
}

/* node.c */
void node_shutdown(void);
/* Closes every libuv handle still open (the last step of a stop). */
void node_close_handles(void);
/* Connects the parts through their hooks, before the server starts. */
void node_wire(void);
void node_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
