/* cgroup.h: a memory cgroup per task or actor process (cgroup.c). */
#ifndef RAY_NODE_CGROUP_H
#define RAY_NODE_CGROUP_H

#include <stdint.h>

#define CG_NAME_MAX 80

/* The directory of the memory cgroup a process is in, from the text of
 * its /proc/self/cgroup and /proc/self/mountinfo: returns the version of
 * the hierarchy that has the memory controller (1 or 2), or 0 for none. */
int cg_locate(const char *self, const char *mountinfo, char *dir, size_t len);
/* The memory limit of the cgroup this process is in, with its ancestors'
 * (a container's -m), in bytes, read once; 0 when there is none. */
int64_t cg_mem_limit(void);
/* What that cgroup holds, less its inactive page cache, in bytes; -1
 * unknown. */
int64_t cg_mem_used(void);
/* Makes the node's own directory when the host has a writable memory
 * cgroup (and RAY_MEMORY_CGROUP is not 0): returns the cgroup version in
 * use, 1 or 2, or 0 for none. */
int cg_init(void);
/* The version in use, or 0. */
int cg_active(void);
/* The node's own directory, which holds one per process; NULL for none. */
const char *cg_dir(void);
/* A cgroup called name held to limit bytes (0: none), made or taken from
 * the idle ones; *join_fd is open on its cgroup.procs for the child to
 * write "0" to (cgroup.c's: not to be closed).  0 on success. */
int cg_create(const char *name, int64_t limit, int *join_fd);
/* Its limit, in bytes; 0 for none.  0 on success: lowering it under
 * what the cgroup holds may fail (v1) or kill there (v2). */
int cg_set_limit(const char *name, int64_t limit);
/* How many processes the kernel killed in it for memory since it was
 * made or taken; -1 unknown. */
int64_t cg_oom_kills(const char *name);
/* SIGKILL to every process in it. */
void cg_kill(const char *name);
/* Its processes are reaped: the cgroup is kept idle for another, or goes
 * (what is left in it is killed first, and it goes on a later tick). */
void cg_release(const char *name);
void cg_tick(void);
/* The node stops: every directory goes. */
void cg_shutdown(void);

#endif
