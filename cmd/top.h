/* top.h: ray-status top, the live view (top.c). */
#ifndef TOP_H
#define TOP_H

#include <stdint.h>

#include "ray.h"

/*
 * Redraws the cluster's nodes, resources, store, running and pending
 * tasks and live actors every interval_ms on the terminal until q,
 * Ctrl-C or SIGTERM (one frame when stdout is not a terminal).  Returns
 * 0, or the RAY_E code of a failed query with err filled (the terminal
 * restored first).
 */
int top_run(ray_client *cl, int64_t interval_ms, ray_err *err);

#endif
