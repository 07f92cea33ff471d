/* logread.h: replying with a log file's bytes, whole tail or from an
 * offset for followers (logread.c). */
#ifndef RAY_NODE_LOGREAD_H
#define RAY_NODE_LOGREAD_H

#include "node.h"

/* Most bytes one reply carries: the tail without an offset, one chunk
 * with one (a follower asks again for the rest). */
#define LOG_MAX (64u << 20)
#define LOG_CHUNK (1u << 20)

/*
 * Replies r with the bytes of the log at path: its last LOG_MAX bytes when
 * offset < 0, else at most LOG_CHUNK from offset on.  r gains "size", the
 * file's length when read (0 when there is no file yet).  Owns r.
 */
void log_reply(conn *c, uint32_t id, cJSON *r, const char *path, int64_t offset);

/* The "offset" of a logs request: -1 when absent, -2 when malformed. */
int64_t log_req_offset(const cJSON *req);

#endif
