/* launch.h: from a task's command to a running process and back to a result. */
#ifndef RAY_NODE_LAUNCH_H
#define RAY_NODE_LAUNCH_H

#include "node.h"

/* Whether argv word a names an object ("@REF"; "@@x" is a literal). */
int is_ref_arg(const char *a);
/* Whether c ends a shell word, so "cat @REF; wc <@REF|sort" finds both. */
int ref_word_edge(char c);
/* line with each "@REF" word replaced by the path ref_path gives (0 on
 * success); other text, and refs without a path, unchanged.  Caller frees. */
char *subst_line(const char *line, int (*ref_path)(const char *ref, char *path, size_t len));
/* Collects up to max refs that "@REF" words of a shell line name; returns
 * how many (refs past max are not counted). */
int line_refs(const char *line, char refs[][RAY_REF_MAX + 1], int max);
/* An "@REF" word must name a known object; "@@x" is a literal. */
int task_arg_check(const char *a, ray_err *err);
/* An argument as the command sees it: @REF as a path, @@x as @x (caller frees). */
char *task_arg_resolve(const char *a);

/* A JSON list of strings as a NULL-terminated vector (caller frees with
 * strv_free); check_kv wants each to be K=V.  NULL on error (err filled). */
char **json_strv(const cJSON *a, int check_kv, ray_err *err);

/* "K=V", malloc'd (NULL when out of memory). */
char *env_kv(const char *k, const char *v);
/* The child's environment: ours, then RAY_*, then user_env; its first
 * strings are shared by every child, so free it with env_free. */
char **env_build(const char *id, const char *job, int attempt, const res *req,
                 const char *gpu_ids, char **user_env, int nrets, obj **rets);
void env_free(char **env);
/* Frees the shared part (at the node's end). */
void env_release(void);
/* Where task t's stderr is kept. */
void log_path(const task *t, char *buf, size_t len);
/* The last few lines of the log at path, on one line. */
void log_last_lines(const char *path, char *out, size_t len);
/* What memmon.c found when it killed t's last attempt ("killed for
 * memory: ..."). */
void task_oom_why(const task *t, char *buf, size_t len);
/* The name of the memory cgroup of t's current attempt (cgroup.c). */
void task_cg_name(const task *t, char *buf, size_t len);
/* Whether the kernel has killed one of t's processes for memory, when t has
 * no memory verdict yet: t's is then OOM_CGROUP. */
int task_cg_oom(task *t);
/* Gives t's resources (less CPUs it lent) and GPUs back to its pool. */
void task_give_back(task *t);
/* Takes t's resources and starts its process; fails t when it cannot. */
void task_start(task *t);
/* The GPU devices t asks for, into t->gpu_ids (made only when it has GPUs). */
void task_take_gpus(task *t);
/* Seals t's returns after a clean exit; t is FINISHED. */
void task_seal_ok(task *t);

#endif
