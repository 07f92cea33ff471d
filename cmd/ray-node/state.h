/* state.h: the head's durable tables (state.c, and a back end:
 * state_sqlite.c, state_redis.c). */
#ifndef RAY_NODE_STATE_H
#define RAY_NODE_STATE_H

#include "node.h"

/* A back end: tables of KEY -> JSON text.  Every call returns 0 or
 * RAY_E...; none may crash on a lost store. */
typedef struct state_backend {
	int (*put)(void *h, const char *table, const char *key, const char *json);
	int (*del)(void *h, const char *table, const char *key);
	int (*scan)(void *h, const char *table,
	            void (*fn)(void *ud, const char *key, const char *json), void *ud);
	int (*clear)(void *h);
	void (*close)(void *h);
} state_backend;

extern const state_backend state_sqlite, state_redis;
/* Opens a back end: 0 with *h set, or RAY_E... with err filled. */
int state_sqlite_open(const char *dir, void **h, ray_err *err);
int state_redis_open(const char *host, int port, const char *prefix, void **h, ray_err *err);

/* Opens the store a URL names (NULL: file:$RAY_TMPDIR/state) and checks
 * that it belongs to this cluster (the token): 0, or RAY_EUSAGE for a bad
 * URL or a foreign or corrupt store, RAY_EUNREACH for an unreachable one. */
int state_open(const char *url, const unsigned char key[RAY_KEY_LEN], ray_err *err);
/* The node id of the head that wrote the store before this one (its
 * bundles and actors are gone with it), or NULL. */
const char *state_prev_head(void);
/* Whether a store is open (the head). */
int state_on(void);
/* Writes (or deletes) one record before the change is acknowledged: 0, or
 * RAY_EUNREACH after one retry, logged. */
int state_put(const char *table, const char *key, const cJSON *value);
int state_del(const char *table, const char *key);
/* Calls fn with each record of a table (value parsed; freed after). */
int state_scan(const char *table, void (*fn)(void *ud, const char *key, const cJSON *value),
               void *ud);
/* A clean stop of the head: the cluster is over. */
void state_clear(void);
void state_close(void);

#endif
