/* spawn.h: starting and reaping child processes (spawn.c). */
#ifndef RAY_NODE_SPAWN_H
#define RAY_NODE_SPAWN_H

#include "node.h"

/* exec_err: the errno of a failed exec (status is then 127), else 0. */
typedef void (*reap_cb)(void *ud, int status, int sig, int exec_err);
int spawn_init(void);
int spawn_proc(char *const argv[], char *const env[], const int fds[3], reap_cb cb, void *ud,
               int *pid_out);
/* spawn_proc with the child in a cgroup first: join_fd, when not -1, is
 * open on the cgroup's cgroup.procs (cgroup.c). */
int spawn_proc_in(char *const argv[], char *const env[], const int fds[3], int join_fd, reap_cb cb,
                  void *ud, int *pid_out);
/* spawn_proc_in with the child's stdin and stdout on new pipes and its
 * stderr on errfd: our ends in *to_child and *from_child (close-on-exec),
 * or an error with nothing left open. */
int spawn_piped(char *const argv[], char *const env[], int errfd, int join_fd, reap_cb cb, void *ud,
                int *pid_out, int *to_child, int *from_child);
/* The errno of pid's failed exec, known as soon as spawn_proc returns
 * (the vfork parent waits for the exec); 0 when it exec'd. */
int spawn_exec_err(int pid);
void spawn_release(void);
#endif
