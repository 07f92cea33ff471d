/* progress.h: a count on stderr while a long wait runs, on a terminal
 * only (progress.c). */
#ifndef PROGRESS_H
#define PROGRESS_H

#include <stddef.h>

#include "ray.h"

/* 1 when stderr is a terminal (and so progress may be drawn). */
int progress_enabled(void);
/* Draws "PROG: DONE/TOTAL WHAT" over the last progress line. */
void progress_show(const char *prog, size_t done, size_t total, const char *what);
/* Draws "PROG: TEXT" (what a wait is for) over the last progress line. */
void progress_say(const char *prog, const char *text);
/* Erases the progress line, if one was drawn. */
void progress_clear(void);
/*
 * ray_wait (same arguments and result), asking in slices of 250 ms for
 * the refs not yet ready and drawing the count ready so far.
 */
int progress_wait(ray_client *cl, const char *prog, size_t n, const char *const *refs, size_t k,
                  int64_t timeout_ms, unsigned char *ready, ray_err *err);

/*
 * ray-put of a big input: on a terminal, counts the bytes taken from fd
 * and draws them with the rate.  Returns the fd to store from instead of
 * fd: fd itself for a file (its read position is watched), or the read end
 * of a pipe that a thread fills from fd, counting (a pipe or socket input
 * has no position).  *p is NULL when nothing was started (not a terminal,
 * a small file).  progress_put_stop ends it and erases the line; call it
 * before closing the returned fd.
 */
typedef struct progress_put progress_put;
int progress_put_start(const char *prog, int fd, progress_put **p);
void progress_put_stop(progress_put *p);

#endif
