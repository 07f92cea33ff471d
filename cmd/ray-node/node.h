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
#define QTY_ONE 10000

typedef struct res {
	int64_t cpu, gpu;       /* ten-thousandths */
	int64_t mem;            /* bytes */
	int ncustom;
	struct { char name[64]; int64_t q; } custom[MAX_CUSTOM];
} res;

enum obj_state { OBJ_PENDING, OBJ_READY, OBJ_ERROR };

typedef struct waiter waiter;
typedef struct task task;
typedef struct conn conn;

typedef struct obj {
	char ref[RAY_REF_MAX + 1];
	int state;
	int err_code;           /* RAY_E... when state is OBJ_ERROR */
	char *err_msg;          /* owned */
	char *data;             /* owned; inline bytes, or NULL when in a file */
	uint64_t size;
	int in_file;            /* sealed file at store/o/REF exists */
	int64_t created_ms, last_ms;
	task *producer;         /* not owned; NULL for puts */
	waiter **waiters; int nwait, capwait;   /* array owned, waiters not */
	task **deps; int ndeps, capdeps;        /* tasks waiting on us */
	int pins;               /* readers that need the bytes resident */
	char job[RAY_ID_MAX + 1]; /* the job that made it */
	int spill;              /* a complete spill file exists; sum is its hash */
	int io;                 /* IO_SPILL or IO_RESTORE in flight, else 0 */
	int doomed;             /* freed: released once nothing uses it */
	int keep;               /* daemon references that forbid releasing it */
	unsigned char sum[32];  /* BLAKE2b-256 of the bytes, once spilled */
	int64_t ra_until;       /* prefetched for a reader: kept until read or then */
	struct obj *lprev, *lnext; /* LRU list of resident ready objects */
	int in_lru;
	void *sio;              /* the spill or restore in flight (store.c) */
	int remote;             /* ready, but the bytes are on node `loc` */
	char loc[RAY_NODEID_LEN + 1];
	int fetching;           /* a pull into this node is running */
	int foreign;            /* owned by another node: we track a copy */
	int locating;           /* an obj_locate to the owner is in flight */
	int fetch_fail;         /* failed pulls so far */
	struct obj *prev, *next; /* list in creation order */
} obj;

enum obj_io { IO_NONE, IO_SPILL, IO_RESTORE };

enum task_state {
	T_PENDING_ARGS, T_PENDING_NODE, T_SUBMITTED, T_RUNNING,
	T_FINISHED, T_FAILED, T_CANCELLED
};

struct task {
	char id[RAY_ID_MAX + 1];
	char *name;               /* owned, may be NULL */
	char job[RAY_ID_MAX + 1];
	int state;
	char **argv;              /* owned, NULL-terminated; @REF unresolved */
	int shell;                /* argv is {"sh","-c",line} with @REF words */
	char **env;               /* owned "K=V" list */
	res req;
	int num_returns;
	obj **rets;               /* owned array; objs owned by the store */
	int max_retries, attempt, retry_exceptions;
	int *retry_codes; int nretry_codes;
	obj *stdin_obj;
	obj **deps; int ndeps;    /* owned array */
	int deps_missing;
	uv_process_t proc;
	int proc_live;            /* proc handle open */
	int pid;
	int exit_code, term_signal;
	int cancel;               /* 1 requested, 2 forced */
	int lent;                 /* CPUs lent back while blocked in get */
	int queued;
	char owner[RAY_NODEID_LEN + 1];     /* "" when we own it, else the owner */
	char exec_node[RAY_NODEID_LEN + 1]; /* where it runs, when forwarded */
	char *labels;             /* owned: ",k=v,k=v," hard selectors or NULL */
	char *prefer;             /* owned: "k=v" soft or NULL */
	char pin[RAY_NODEID_LEN + 1]; int pin_soft;
	int spread;
	char pg[RAY_ID_MAX + 1];  /* placement group, or "" */
	int bundle;               /* its bundle index, -1 any */
	char gpu_ids[128];        /* devices given, "0,2" */
	int blocked;              /* a hard constraint this node can't meet */
	int64_t submit_ms, start_ms, end_ms;
	task *qprev, *qnext;      /* run queue */
	task *prev, *next;        /* all tasks, submission order */
	struct actor *act;        /* not owned; set for actor method calls */
	char *method;             /* owned; actor calls */
	uint32_t call_id;         /* actor calls: id on the wire */
	task *anext;              /* actor calls: in-flight list */
};

/* A get or wait that blocks until objects are ready. */
struct waiter {
	conn *c;                  /* NULL once the client left */
	uint32_t req_id;
	int is_wait;              /* ray-wait (count k) vs get (all) */
	int want_inline;
	size_t n, k, ready;
	obj **objs;               /* owned array */
	unsigned char *done;      /* owned; per object */
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
	ray_hs hs;
	rbuf in;
	uv_timer_t auth_timer;
	waiter *waiters;
	conn *prev, *next;
	int resume_queued;
	int refs;                 /* deferred replies that still point here */
	conn *rprev, *rnext;      /* queue of connections to resume */
	char *put_path;           /* owned; a put_part in progress */
	int put_fd;
	char put_ref[RAY_REF_MAX + 1];
	obj **held; int nheld, capheld; /* pinned while the peer reads their files (array owned) */
};

/* A node as the cluster view knows it (the head's table, copied to all). */
typedef struct rnode {
	char id[RAY_NODEID_LEN + 1];
	char addr[300];
	int alive, is_head, pid;
	char labels[1024];
	res total, avail;
	int64_t last_ms, nqueued;
	double start_time, end_time;
} rnode;

#define MAX_NODES 256

typedef struct peer peer;
typedef void (*peer_cb)(void *ud, int rc, cJSON *reply, const char *data, size_t dlen);

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
	char join_err[512];
	unsigned spread_rr;
} node;

extern node *N;

/* server.c */
int server_start(node *n, ray_err *err);
void server_stop(node *n);
void conn_reply(conn *c, uint32_t req_id, cJSON *reply, const void *data, size_t dlen);
void conn_reply_err(conn *c, uint32_t req_id, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void conn_resume(conn *c);
/* Runs fn(c) for every connection that closes, on the next loop turn (c's
 * memory lives until every hook has run; c->closing is set). */
typedef void (*conn_hook)(conn *c);
void server_on_close(conn_hook fn);
/* Keeps c's memory alive across a deferred reply (replies to a closed
 * connection are dropped). */
void conn_ref(conn *c);
void conn_unref(conn *c);
/* Who answers an authenticated request (its JSON and data are the
 * server's: valid until the handler returns). */
typedef void (*request_fn)(conn *c, uint32_t req_id, cJSON *req, const char *data, size_t dlen);
void server_on_request(request_fn fn);

/* ops.c */
void ops_dispatch(conn *c, uint32_t req_id, cJSON *req, const char *data, size_t dlen);

/* store.c */
obj *store_new(const char *ref);
obj *store_find(const char *ref);
/* store_find, else a placeholder for a ref another live node owns. */
obj *store_lookup(const char *ref);
int store_put_inline(const char *data, size_t len, char ref[RAY_REF_MAX + 1]);
int store_seal_file(const char *tmpname, obj *o, ray_err *err);
void store_ready(obj *o);
void store_fail(obj *o, int code, const char *msg);
int store_path(obj *o, char *buf, size_t len);
void store_free(obj *o);
void store_drop_all(void);
void store_touch(obj *o);
/* Spill directory, created under dir (NULL: <session>/spill); 0 or RAY_E... */
int store_init(const char *dir, ray_err *err);
void store_shutdown(void);
/* Like store_find, but also objects already freed and awaiting release. */
obj *store_find_any(const char *ref);
int obj_resident(const obj *o);
/* Starts restoring a spilled object; its waiters and deps are told when done. */
void store_restore(obj *o);
void store_unpin(obj *o);
/* Frees o once nothing uses it (ray-store free, end of its job). */
void store_release(obj *o);
/* Frees every object of a job; returns how many. */
size_t store_free_job(const char *job_id);
uint64_t store_spilled_bytes(void);
void store_conn_closed(conn *c);
void op_release(conn *c, uint32_t id, cJSON *req);
/* For a request that needs o's bytes: 0 when o is resident; else restores
 * it, runs fn(c, id, req) again once it is (or answers with its error), and
 * returns 1. */
int store_need_resident(conn *c, uint32_t id, cJSON *req, obj *o,
                        void (*fn)(conn *c, uint32_t id, cJSON *req));
int store_fill(obj *o, const char *data, size_t len);
int obj_add_dep(obj *o, task *t);
cJSON *obj_json(obj *o);
void waiter_complete(waiter *w, int timed_out);
void op_get(conn *c, uint32_t id, cJSON *req);
void op_wait(conn *c, uint32_t id, cJSON *req);
void op_put(conn *c, uint32_t id, cJSON *req, const char *data, size_t dlen);
void op_put_part(conn *c, uint32_t id, cJSON *req, const char *data, size_t dlen);
void op_seal(conn *c, uint32_t id, cJSON *req);
void op_get_part(conn *c, uint32_t id, cJSON *req);
void op_free(conn *c, uint32_t id, cJSON *req);
void op_store_ls(conn *c, uint32_t id, cJSON *req);
void op_store_stats(conn *c, uint32_t id, cJSON *req);

/* sched.c */
int res_fits(const res *need, const res *have);
void res_sub(res *a, const res *b);
void res_add(res *a, const res *b);
int res_parse_custom(res *r, const char *spec, ray_err *err);
void op_submit(conn *c, uint32_t id, cJSON *req);
void op_cancel(conn *c, uint32_t id, cJSON *req);
void sched_dep_ready(task *t, obj *o);
void sched_run(void);
void sched_kill_all(void);
void task_lend(task *t);
void task_unlend(const char *task_id);
task *task_find(const char *id);
void tasks_free_all(void);
const char *task_state_name(int s);
void task_finish_error(task *t, int state, int code, const char *msg);
void task_desc(const task *t, char *buf, size_t len);
void task_register(task *t);
void task_add_dep(task *t, obj *o);
int task_arg_check(const char *a, ray_err *err);
char *task_arg_resolve(const char *a);
char **env_build(const char *id, const char *job, int attempt, const res *req,
                 const char *gpu_ids, char **user_env, int nrets, obj **rets);
int gpu_can_take(const res *req);
void gpu_take(const res *req, char *ids, size_t len);
void gpu_give(const res *req, char *ids);
void strv_free(char **v);
char **json_strv(const cJSON *a, int check_kv, ray_err *err);
int res_parse_request(const cJSON *o, res *r, ray_err *err);
void task_seal_ok(task *t);
void task_unpin_deps(task *t);

/* status.c */
void op_status(conn *c, uint32_t id, cJSON *req);
void op_logs(conn *c, uint32_t id, cJSON *req);
cJSON *res_json(const res *r);

/* actor.c */
void op_actor(conn *c, uint32_t id, cJSON *req);
/* Stops the job's non-detached actors (called when a job ends). */
void actor_job_ended(const char *job_id);
void actors_stop_all(void);
void actor_call_ready(task *t);
/* ray-cancel on an actor call: 1 when cancelled, 0 when already done. */
int actor_call_cancel(task *t, const char *msg);
void actor_sched(void);
int actor_owns_id(const char *id);
void actors_free_all(void);
cJSON *actors_json(const char *state, int64_t limit);

/* peer.c */
peer *peer_for(const char *node_id, const char *addr);
/* The connection for object chunks to a live node (NULL if dead/unknown). */
peer *peer_bulk(const char *node_id);
int peer_request(peer *p, cJSON *req, const void *data, size_t dlen, peer_cb cb, void *ud);
void peer_forget(void *ud);
void peers_close_all(void);
peer *peer_private(const char *addr);
void peer_close(peer *p);

/* cluster.c */
int cluster_start(void);
void cluster_stop(void);
rnode *view_find(const char *id);
rnode *view_self(void);
int view_alive_others(void);
cJSON *rnode_json(const rnode *r);
void op_cluster(conn *c, uint32_t id, cJSON *req);
peer *peer_node(const char *node_id);
int proxy_to_head(conn *c, uint32_t id, cJSON *req, void (*hook)(cJSON *reply));
void proxy_to(conn *c, uint32_t id, cJSON *req, const char *addr, void (*hook)(cJSON *reply));

/* transfer.c */
void fetch_start(obj *o);
obj *foreign_obj(const char *ref);
void op_transfer(conn *c, uint32_t id, cJSON *req);
void transfer_tick(void);
void transfer_node_died(const char *id);
/* Adds the pull counters (pulls, pulled_bytes, pull_failures) to r. */
void transfer_stats_json(cJSON *r);

/* sched.c (cluster side) */
void op_task_run(conn *c, uint32_t id, cJSON *req);
void op_task_done(conn *c, uint32_t id, cJSON *req, const char *data, size_t dlen);
void sched_node_died(const char *id);
int sched_feasible_anywhere(const task *t);
int sched_infeasible_reason(const task *t, char *buf, size_t len);
void sched_task_ended(task *t);

/* pg.c */
void op_pg(conn *c, uint32_t id, cJSON *req);
void pg_tick(void);
void pg_node_died(const char *id);
cJSON *pgs_json(const char *state, int64_t limit);
cJSON *pg_table_json(void);
void pg_merge_table(const cJSON *a);
const char *pg_bundle_node(const char *pgid, int index, int *state, int *nb);
const char *pg_resolve_id(const char *idname);
int pg_bundle_fits(const char *pgid, int index, const res *req);
int pg_refresh_then(conn *c, uint32_t id, cJSON *req, void (*again)(conn *c, uint32_t id, cJSON *req));
void pg_release_on(const char *node_id, const char *pgid, int index);
res *task_pool(task *t);
int pg_local_bundle(const char *pgid, int index);
void pgs_free_all(void);

/* spawn.c */
/* exec_err: the errno of a failed exec (status is then 127), else 0. */
typedef void (*reap_cb)(void *ud, int status, int sig, int exec_err);
int spawn_init(void);
int spawn_proc(char *const argv[], char *const env[], const int fds[3], reap_cb cb, void *ud,
               int *pid_out);
void spawn_release(void);
/* job.c */
void op_job(conn *c, uint32_t id, cJSON *req);
void job_conn_closed(conn *c);
void jobs_kill_all(void);
void jobs_free_all(void);
void jobs_json(cJSON *arr, const char *state, int64_t limit);

/* node.c */
void node_shutdown(void);
/* Closes every libuv handle still open (the last step of a stop). */
void node_close_handles(void);
/* Connects the parts through their hooks, before the server starts. */
void node_wire(void);
void node_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
