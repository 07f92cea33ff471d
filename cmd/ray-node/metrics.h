/*
 * metrics.h: the node's /metrics endpoint (metrics.c): an HTTP server on
 * its own thread that serves the last published Prometheus text, the
 * latency histograms and the event counters the other parts bump.
 */
#ifndef RAY_NODE_METRICS_H
#define RAY_NODE_METRICS_H

#include <stdint.h>

#include "rayint.h"

enum metrics_hist { H_TASK_RUN, H_ACTOR_CALL, H_COUNT };

/* Counters of events, bumped on the loop thread where they happen. */
struct metrics_counts {
	uint64_t heartbeats_sent, heartbeats_failed, heartbeats_received;
};
extern struct metrics_counts metrics_n;

typedef struct metrics_hooks {
	/* Writes the node's gauges and counters (everything but the
	 * histograms) in the Prometheus text format. */
	void (*render)(rbuf *out);
} metrics_hooks;
extern metrics_hooks metrics_on;

/* Serves /metrics on host:port (port 0: any free one); the port taken
 * goes to *bound.  Once started, metrics_tick() publishes a fresh text. */
int metrics_start(const char *host, int port, int *bound, ray_err *err);
void metrics_stop(void);
/* On the loop's tick: renders and publishes a new snapshot (each second). */
void metrics_tick(void);
/* Records one duration, in milliseconds. */
void metrics_observe(enum metrics_hist h, int64_t ms);
#endif
