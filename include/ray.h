/*
 * ray.h: the one public API of libray, the C library behind every ray-tools
 * command.  A program connects to any ray-node (Unix socket or TCP, always
 * authenticated with the cluster token), then stores and fetches objects,
 * submits command tasks, calls actors and asks what the cluster is doing.
 *
 * Conventions:
 *  - Every call returns 0 (or a count) on success and a negative RAY_E...
 *    code on failure.  -code is the exit status the commands use for it (ray-tools(7)), so a
 *    tool's main() can `return ray_exit_code(rc)`.
 *  - A `ray_err *` argument may be NULL.  On failure it is filled with a
 *    one-line message (no program prefix, no newline); on success it is
 *    left untouched, so calls can share one.
 *  - Timeouts are in milliseconds; a negative timeout waits forever.
 *  - Refs are lowercase hex strings of at most RAY_REF_MAX characters.
 */
#ifndef RAY_H
#define RAY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RAY_VERSION "0.1.0"
#define RAY_REF_MAX 64
#define RAY_ID_MAX 64

/* Error codes: the negated exit statuses of ray-tools(7), EXIT STATUS. */
enum {
	RAY_OK = 0,
	RAY_EFAILED = -1,   /* the task or method failed (non-zero exit) */
	RAY_EUSAGE = -2,    /* bad option, bad ref, bad size, bad input */
	RAY_ETIMEOUT = -3,  /* a --timeout ran out */
	RAY_ELOST = -4,     /* object lost and not reconstructable */
	RAY_EACTOR = -5,    /* actor died for good */
	RAY_ECRASH = -6,    /* worker killed by a signal, retries exhausted */
	RAY_ECANCEL = -7,   /* task cancelled */
	RAY_EUNREACH = -8,  /* cluster unreachable, auth refused, broken peer */
	RAY_ERESOURCE = -9, /* store full, or a request that can never run */
	RAY_ENOTFOUND = -10 /* unknown ref, actor, group, job or node */
};

typedef struct ray_err {
	int code;
	char msg[1024];
} ray_err;

/* Maps a return value of this API to its exit status (0..10, ray-tools(7)). */
int ray_exit_code(int rc);
/* Fills err (if not NULL) with code and a printf-style message; returns code. */
int ray_seterr(ray_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ---- parsing helpers shared by every tool ---- */

/* "512", "64K", "2G" (powers of 1024) into bytes. */
int ray_parse_size(const char *s, uint64_t *out);
/* Non-negative decimal, strictly: "3x" is an error. */
int ray_parse_uint(const char *s, uint64_t *out);
/* A decimal quantity with up to four fractional digits ("0.5", "2"),
 * returned in ten-thousandths: "0.5" -> 5000. */
int ray_parse_qty(const char *s, int64_t *out);
/* Seconds, fractions allowed ("1.5"), into milliseconds. */
int ray_parse_seconds(const char *s, int64_t *ms_out);
/* 1 when s is a well-formed ref (1..RAY_REF_MAX lowercase hex). */
int ray_ref_valid(const char *s);

/*
 * Operands: the refs named on the command line, or, when there are none or
 * one is "-", the white-space separated words of stdin.  *refs is a
 * malloc'd array of malloc'd strings; free it with ray_refs_free.  Each is
 * checked with ray_ref_valid (RAY_EUSAGE names the bad one).
 */
int ray_read_refs(int argc, char *const *argv, char ***refs, size_t *n,
                  ray_err *err);
void ray_refs_free(char **refs, size_t n);

/* ---- connecting ---- */

typedef struct ray_client ray_client;

/*
 * Connects and authenticates.  address: "HOST:PORT", a Unix socket path, or
 * NULL for $RAY_ADDRESS, else the node most recently started under
 * $RAY_TMPDIR.  token_file: NULL for $RAY_TOKEN_FILE, else the session's.
 */
int ray_connect(ray_client **out, const char *address, const char *token_file,
                ray_err *err);
void ray_client_free(ray_client *c);
/* The id of the node this client talks to. */
const char *ray_client_node_id(const ray_client *c);

/* ---- objects ---- */

/* Stores len bytes and writes the new ref into ref. */
int ray_put(ray_client *c, const void *buf, size_t len,
            char ref[RAY_REF_MAX + 1], ray_err *err);
/* Stores n buffers in one round trip (pipelined). */
int ray_put_many(ray_client *c, size_t n, const void *const *bufs,
                 const size_t *lens, char (*refs)[RAY_REF_MAX + 1],
                 ray_err *err);
/* Stores everything readable from fd (a file, a pipe). */
int ray_put_fd(ray_client *c, int fd, char ref[RAY_REF_MAX + 1], ray_err *err);
/* Stores what libcurl fetches from url (http, https, file). */
int ray_put_url(ray_client *c, const char *url, char ref[RAY_REF_MAX + 1],
                ray_err *err);

/* Fetches one object into a malloc'd buffer (*out, owned by the caller). */
int ray_get(ray_client *c, const char *ref, int64_t timeout_ms, void **out,
            size_t *len, ray_err *err);
/* Fetches n objects in one round trip; out[i]/lens[i] are malloc'd. On an
 * error object, fails with its code and message. */
int ray_get_many(ray_client *c, size_t n, const char *const *refs,
                 int64_t timeout_ms, void **out, size_t *lens, ray_err *err);
/* Writes each object's bytes to fd in order (zero copy where local). */
int ray_get_to_fd(ray_client *c, size_t n, const char *const *refs,
                  int64_t timeout_ms, int fd, ray_err *err);
/* Like ray_get_to_fd, writing each object to the file DIR/REF. */
int ray_get_to_dir(ray_client *c, size_t n, const char *const *refs,
                   int64_t timeout_ms, const char *dir, ray_err *err);

/* Waits until k of the n refs exist; ready[i] is set to 1 for at most k
 * of those that do, the first in input order (as Ray's ray.wait returns at
 * most num_returns).  Returns the number marked, or RAY_ETIMEOUT (ready
 * still filled). */
int ray_wait(ray_client *c, size_t n, const char *const *refs, size_t k,
             int64_t timeout_ms, unsigned char *ready, ray_err *err);
/* Releases objects (and their spilled copies). */
int ray_free(ray_client *c, size_t n, const char *const *refs, ray_err *err);

/* ---- tasks ---- */

typedef struct ray_task_opts {
	int64_t cpus;      /* ten-thousandths; 0 -> default of 1 CPU */
	int cpus_set;      /* 1 when cpus was given (so 0 CPUs is possible) */
	int64_t gpus;      /* ten-thousandths */
	uint64_t memory;   /* bytes */
	const char *const *resources; /* "NAME=QTY" strings, NULL-terminated */
	int num_returns;   /* 0 -> 1 */
	int max_retries;   /* -1 -> default 3 */
	int retry_exceptions;
	const int *retry_exit_codes; int n_retry_exit_codes;
	const char *name;
	const char *const *env; /* "K=V", NULL-terminated */
	const char *stdin_ref;
	const char *strategy; /* "default" | "spread" */
	const char *node;     /* NODE_ID or NODE_ID:soft */
	const char *const *labels;        /* "K=V" hard, NULL-terminated */
	const char *prefer_label;         /* "K=V" soft */
	const char *pg; int bundle;       /* bundle -1: any */
	const char *working_dir;  /* an absolute DIR on the node, or the REF of a
	                           * tar archive; NULL: the job's, else none */
	int stream;               /* ray_submit_stream's backpressure; 0 otherwise */
	/* A pooled task: served by a long-lived worker, the command line
	 * `worker` (run by sh -c), through `protocol` ("line" | "tagged" |
	 * "frame"; NULL: line).  Each task is then METHOD ARG... */
	const char *worker;
	const char *protocol;
} ray_task_opts;

void ray_task_opts_init(ray_task_opts *o);

/*
 * Submits tasks in one round trip.  Each task i is either argvs[i] (a
 * NULL-terminated argv) or, when argvs is NULL, the shell line cmds[i] run by
 * `sh -c`.  With o->worker, argvs[i] is METHOD ARG..., or cmds[i] is
 * METHOD<TAB>ARG... (as ray-submit --worker --batch reads them).  refs receives num_returns refs per task, task after task
 * (n * num_returns entries).  warning, when not NULL, receives a note such
 * as an infeasible request ("" when none).
 */
int ray_submit(ray_client *c, const ray_task_opts *o, size_t n,
               const char *const *const *argvs, const char *const *cmds,
               char (*refs)[RAY_REF_MAX + 1], char *warning, size_t warnlen,
               ray_err *err);
/*
 * Streaming returns.  ray_submit_stream submits argv as a task each line
 * of whose stdout becomes an object of its own (the task runs on the node
 * c is connected to); ray_stream_next then gives their refs in order as
 * the lines are written: 1 with ref filled, 0 after the last when the
 * task succeeded, or the task's error (after its last line's ref).  The
 * node stops reading the task's stdout while backpressure (1..1000000)
 * refs are made and not yet consumed: a ref counts as consumed once
 * ray_stream_next is called again after the batch that held it, so a
 * caller that prints each ref before asking for the next throttles the
 * task to its own pace.  A task retried after a crash skips the lines it
 * had written, so no ref comes twice.
 */
typedef struct ray_stream ray_stream;
int ray_submit_stream(ray_client *c, const ray_task_opts *o, const char *const *argv,
                      int backpressure, ray_stream **out, ray_err *err);
int ray_stream_next(ray_stream *s, char ref[RAY_REF_MAX + 1], int64_t timeout_ms, ray_err *err);
/* How many refs the next calls give without asking the node (so a caller
 * can flush its output before one that may wait). */
size_t ray_stream_buffered(const ray_stream *s);
/* The task's own return ref (empty on success; its error otherwise). */
const char *ray_stream_task_ref(const ray_stream *s);
void ray_stream_free(ray_stream *s);

/* ray_cancel's flags: SIGKILL rather than SIGTERM; spare the tasks that
 * a cancelled task submitted (by default they are cancelled, down the tree). */
#define RAY_CANCEL_FORCE 1
#define RAY_CANCEL_NO_RECURSIVE 2
/* Cancels the tasks that make these refs (flags: RAY_CANCEL_*). */
int ray_cancel(ray_client *c, size_t n, const char *const *refs, int flags,
               ray_err *err);

/* ---- actors ---- */

typedef struct ray_actor_opts {
	ray_task_opts task;   /* resources and scheduling */
	const char *name;
	const char *namespace_;
	int get_if_exists;
	int detached;
	int max_restarts;
	int max_task_retries;
	int max_concurrency;
	const char *protocol; /* "line" | "tagged" | "frame" */
} ray_actor_opts;

void ray_actor_opts_init(ray_actor_opts *o);
int ray_actor_create(ray_client *c, const ray_actor_opts *o,
                     const char *const *argv, char id[RAY_ID_MAX + 1],
                     ray_err *err);
/* Calls METHOD with args; refs receives num_returns refs. */
int ray_actor_call(ray_client *c, const char *actor, const char *method,
                   size_t nargs, const char *const *args, int num_returns,
                   char (*refs)[RAY_REF_MAX + 1], ray_err *err);
/* Many calls to one actor in one round trip: argss[i] has nargs[i] args. */
int ray_actor_call_many(ray_client *c, const char *actor, size_t n,
                        const char *const *methods, const size_t *nargs,
                        const char *const *const *argss,
                        char (*refs)[RAY_REF_MAX + 1], ray_err *err);
int ray_actor_kill(ray_client *c, const char *actor, int restart, ray_err *err);
/* Resolves a name (in ns, or NULL for the default) to an actor id. */
int ray_actor_get(ray_client *c, const char *name, const char *ns,
                  char id[RAY_ID_MAX + 1], ray_err *err);

/* ---- placement groups ---- */

/*
 * Reserves bundles ("CPU=2,GPU=1,NAME=QTY" each) all-or-none with strategy
 * PACK, SPREAD, STRICT_PACK or STRICT_SPREAD (NULL: PACK).  With wait, returns
 * once the group is CREATED or timeout_ms ran out (RAY_ETIMEOUT; the group
 * stays pending and id is still filled).
 */
int ray_pg_create(ray_client *c, const char *strategy, const char *name,
                  size_t nbundles, const char *const *bundles, int wait,
                  int64_t timeout_ms, char id[RAY_ID_MAX + 1], ray_err *err);
int ray_pg_remove(ray_client *c, const char *pg, ray_err *err);

/* ---- jobs ---- */

/*
 * Registers a job whose driver argv[0..] runs elsewhere (submit 0: the
 * caller runs it, as ray-job run does, and must report its end over this
 * same connection; if the connection closes first the job fails) or on the
 * node itself (submit 1: detached, output kept; cwd is its directory when
 * it exists there).  ns: the job's namespace, or NULL.  env ("K=V",
 * NULL-terminated, or NULL) and working_dir (an absolute DIR or a REF, or
 * NULL) are defaults for every task and actor of the job (a submitted
 * driver gets them itself; ray_job_env gives what a driver run by the
 * caller must have).  id receives the job id (8 hex digits).  A submitted
 * command that cannot start fails here with RAY_EUSAGE; the job is then
 * listed as FAILED.
 */
int ray_job_start(ray_client *c, const char *const *argv, const char *ns, int submit,
                  const char *cwd, const char *const *env, const char *working_dir,
                  char id[RAY_ID_MAX + 1], ray_err *err);
/* The environment entries ("K=V", malloc'd, NULL-terminated; NULL when out
 * of memory) that give a driver and its tasks a job's defaults: env itself,
 * RAY_JOB_ENV (their names) and RAY_JOB_WORKING_DIR. */
char **ray_job_env(const char *const *env, const char *working_dir);
/* The pid of a driver the caller started (so ray-job stop can signal it). */
int ray_job_set_pid(ray_client *c, const char *id, long pid, ray_err *err);
/* Reports the end of a driver the caller ran: its exit code, or the
 * signal that killed it (0 if none).  The node frees the job's objects
 * and stops its actors. */
int ray_job_end(ray_client *c, const char *id, int exit_code, int sig, ray_err *err);
/* Stops a job's driver (SIGTERM, then SIGKILL after 5 s for submitted
 * ones); the job ends as STOPPED.  Stopping an ended job does nothing. */
int ray_job_stop(ray_client *c, const char *id, ray_err *err);
/* One job (a JSON object) or all (a JSON array) as text in *json
 * (malloc'd, caller frees): job_id, status, entrypoint, start_time,
 * end_time, ... as ray-status jobs --json shows them. */
int ray_job_status(ray_client *c, const char *id, char **json, ray_err *err);
int ray_job_list(ray_client *c, char **json, ray_err *err);
/* A submitted job's output so far (*data malloc'd, caller frees); *kept is
 * 0 for a job run by ray-job run, whose output the node never saw. */
int ray_job_logs(ray_client *c, const char *id, char **data, size_t *len, int *kept,
                 ray_err *err);

/* ---- status and lists (lib/list.c) ---- */

/*
 * Each call puts JSON text in *json (malloc'd, caller frees; NULL on
 * failure), as ray-status --json shows it.
 */
/* The cluster summary, an object: nodes_alive, nodes_dead, resources_total,
 * resources_available, demands, tasks (counts by state), store. */
int ray_status(ray_client *c, char **json, ray_err *err);
/*
 * One list, an array of objects: what is "nodes", "tasks", "actors",
 * "objects", "pgs" or "jobs" (fields as ray-status(1) gives them).  state: NULL,
 * or keep only the items in that state (any case; an unknown one is
 * RAY_EUSAGE).  limit: keep the newest limit items, or -1 for all; the
 * state filter applies first.
 */
int ray_list(ray_client *c, const char *what, const char *state, int64_t limit,
             char **json, ray_err *err);
/* All actors, as the head knows them (an array, as ray_list "actors"). */
int ray_actor_list(ray_client *c, char **json, ray_err *err);
/* All placement groups, oldest first (an array, as ray_list "pgs"). */
int ray_pg_list(ray_client *c, char **json, ray_err *err);
/* The objects this node holds, an array of {ref, size, where, pinned}. */
int ray_store_list(ray_client *c, char **json, ray_err *err);
/* This node's store statistics, an object of counters. */
int ray_store_stats(ray_client *c, char **json, ray_err *err);
/* A task's or actor's stderr so far (*data malloc'd, caller frees; it may
 * hold any bytes). */
int ray_logs(ray_client *c, const char *id, char **data, size_t *len, ray_err *err);

/* Where a followed log stands after one ray_logs_follow call. */
typedef struct ray_log_pos {
	int ended;     /* the task, actor or job has ended: its log is complete */
	int code;      /* once ended, its exit status: 0 success, else as ray-get of
	                * its result gives it (1, 4, 6, 7; 5 for an actor; a job:
	                * 1 failed, 7 stopped) */
	int kept;      /* jobs: 0 when run by ray-job run (no log on the node) */
	uint64_t size; /* the log's length when read */
} ray_log_pos;
/*
 * The bytes of a log from offset on, at most 1 MiB a call (*data malloc'd,
 * caller frees), for following it: call again from offset + *len until
 * pos->ended and *len is 0.  id is a task id, ref or actor id, or with job
 * a job id (its driver's output, as ray_job_logs).
 */
int ray_logs_follow(ray_client *c, const char *id, int job, uint64_t offset, char **data,
                    size_t *len, ray_log_pos *pos, ray_err *err);

/* ---- generic request (for programs that speak docs/protocol.md) ---- */

/*
 * Sends one JSON request object (a string such as {"op":"status",...}) and
 * returns the reply's JSON text in *reply (malloc'd, caller frees); the ops
 * are listed in docs/protocol.md.  The tools use the calls above instead.
 */
int ray_request_json(ray_client *c, const char *request, int64_t timeout_ms,
                     char **reply, ray_err *err);

/* Like ray_request_json, for replies that carry raw bytes (logs): *data is
 * malloc'd (caller frees).  The request is a cJSON object built by the caller. */
struct cJSON;
int ray_call_raw(ray_client *c, struct cJSON *req, char **data, size_t *len,
                 ray_err *err);

#ifdef __cplusplus
}
#endif
#endif
