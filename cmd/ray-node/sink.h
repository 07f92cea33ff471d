/* sink.h: a task's stdout spliced into its return file by the node (sink.c). */
#ifndef RAY_NODE_SINK_H
#define RAY_NODE_SINK_H

/* A pipe whose bytes the node moves into file_fd (which it takes, and
 * closes at the end): returns the write end, for the child's stdout, or
 * -1 (file_fd is then still the caller's). */
int sink_open(const void *owner, int file_fd);
/* owner's process is reaped: what is left in the pipe is moved, and the
 * sink ends.  1 when owner had one. */
int sink_close(const void *owner);
/* The node stops. */
void sinks_close_all(void);

#endif
