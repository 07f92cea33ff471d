/* follow.h: printing a log as it grows (follow.c). */
#ifndef FOLLOW_H
#define FOLLOW_H

#include "ray.h"

/*
 * Writes the log of id (a task, ref or actor; with job, a job) to stdout
 * from its start, then what is added to it, until its writer has ended
 * and every byte is out.  Returns 0 and sets *code to the ended one's exit
 * status (ray_log_pos), or a RAY_E code with err filled.
 */
int follow_log(ray_client *cl, const char *prog, const char *id, int job, int *code,
               ray_err *err);

#endif
