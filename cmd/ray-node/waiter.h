/* waiter.h: gets and waits that block until their objects are ready (waiter.c). */
#ifndef WAITER_H
#define WAITER_H

#include "node.h"

/* What waiting needs of the tasks above it, which node.c fills in. */
typedef struct waiter_hooks {
	void (*dep_ready)(task *t, obj *o);  /* an argument of t is ready or failed */
	int (*lend)(const char *task_id);    /* a task blocks in a get: 1 if lent */
	void (*unlend)(const char *task_id); /* ... and is no longer blocked */
	void (*fetch)(obj *o);               /* pull o's bytes from the node holding them */
} waiter_hooks;
extern waiter_hooks waiter_on;

/* A waiter for objs (owned from here on), not yet registered anywhere. */
waiter *waiter_new(conn *c, uint32_t id, obj **objs, size_t n);
/* Puts w on c's list of waiters, so c waits for it before reading on. */
void waiter_attach(conn *c, waiter *w);
/* Registers w on each object it still needs and returns 1, or answers it
 * (and frees it) at once and returns 0; timeout in ms, -1 for none. */
int waiter_start(conn *c, waiter *w, int64_t timeout);
/* Answers w (unless its client left) and frees it. */
void waiter_complete(waiter *w, int timed_out);
void waiter_free(waiter *w);
/* Wakes what waits on o: it became ready or failed, or was restored. */
void waiter_notify(obj *o);
/* A close hook: c left, so its waiters answer no one. */
void waiter_conn_closed(conn *c);
/* For a request that needs o's bytes: 0 when o is resident; else restores
 * it, runs fn(c, id, req) again once it is (or answers with its error), and
 * returns 1. */
int waiter_need_resident(conn *c, uint32_t id, cJSON *req, obj *o,
                         void (*fn)(conn *c, uint32_t id, cJSON *req));
void op_get(conn *c, uint32_t id, cJSON *req);
void op_wait(conn *c, uint32_t id, cJSON *req);

#endif
