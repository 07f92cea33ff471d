/* metrics_text.h: the node's gauges and counters as Prometheus text
 * (metrics_text.c), which node.c hands to metrics.c as its render hook. */
#ifndef RAY_NODE_METRICS_TEXT_H
#define RAY_NODE_METRICS_TEXT_H

#include "rayint.h"

void metrics_text(rbuf *out);
#endif
