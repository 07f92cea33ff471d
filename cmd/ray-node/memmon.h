/* memmon.h: killing tasks and actors over their --memory, and the newest
 * retriable task when the host runs short (memmon.c). */
#ifndef RAY_NODE_MEMMON_H
#define RAY_NODE_MEMMON_H

#include "node.h"

/* What the monitor asks of the parts above it, which node.c fills in. */
typedef struct memmon_hooks {
	int (*trim)(void);   /* the host is short: stop idle workers, say how many */
} memmon_hooks;
extern memmon_hooks memmon_on;

/* Makes the node's memory cgroup when the host has one (cgroup.c) and
 * starts the monitor (a libuv timer that does not keep the loop alive). */
int memmon_start(void);
/* Says in the node log how limits are held. */
void memmon_log_mode(void);
/* Session id and resident pages from the text of /proc/PID/stat (n
 * bytes, not NUL-terminated); 0 on success, -1 when malformed. */
int memmon_parse_stat(const char *buf, size_t n, long *sid, uint64_t *rss_pages);

#endif
