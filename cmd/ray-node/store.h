/* store.h: the object table, its LRU list, pins and releases (store.c). */
#ifndef STORE_H
#define STORE_H

#include "node.h"

/* Counters for ray-store stats, bumped where each event happens. */
struct store_stats {
	uint64_t spills, spilled_bytes, restores, restored_bytes;
	uint64_t spill_failures, lost, refused, overflows;
};
extern struct store_stats store_st;

/* What the store tells the parts above it, which node.c fills in, so that
 * the object table calls no one above it. */
typedef struct store_hooks {
	void (*changed)(obj *o);        /* ready, failed or restored: wake who waits */
	void (*room)(obj *landed);      /* bytes came (landed: what) or can go */
	void (*freeing)(obj *o);        /* o is going: stop its I/O, drop its copies */
	obj *(*foreign)(const char *ref); /* a placeholder for another node's ref */
} store_hooks;
extern store_hooks store_on;
/* Run the hooks: o changed (a restore finished); room may be needed. */
void store_changed(obj *o);
void store_room(obj *landed);

obj *store_new(const char *ref);
obj *store_find(const char *ref);
/* Like store_find, but also objects already freed and awaiting release. */
obj *store_find_any(const char *ref);
/* store_find, else a placeholder for a ref another live node owns. */
obj *store_lookup(const char *ref);
int obj_resident(const obj *o);
void store_touch(obj *o);
void store_ready(obj *o);
void store_fail(obj *o, int code, const char *msg);
/* Gives a pending object its bytes (an actor's answer) and marks it ready. */
int store_fill(obj *o, const char *data, size_t len);
int store_path(obj *o, char *buf, size_t len);
void store_free(obj *o);
void store_drop_all(void);
/* Frees o once nothing uses it (ray-store free, end of its job). */
void store_release(obj *o);
/* Frees every object of a job; returns how many. */
size_t store_free_job(const char *job_id);
/* Releases the freed objects nothing uses any more, on the next loop turn. */
void store_kick_reap(void);
void store_unpin(obj *o);
int obj_add_dep(obj *o, task *t);
void store_init(void);

/* The LRU list of resident ready objects, oldest first. */
void lru_add(obj *o);
void lru_remove(obj *o);
obj *lru_oldest(void);

/* The path of o's sealed file, store/o/REF (whether or not it exists). */
void obj_path(const obj *o, char *buf, size_t len);
/* The job that made o ("00000000" for none). */
const char *obj_job(const obj *o);
/* n as "3.0 MiB", into buf. */
/* Writes a whole file (0644); on failure, no file is left behind. */
int store_write_file(const char *path, const char *data, size_t len);
/* Appends p to a growing array of pointers; -1 when out of memory. */
int add_ptr(void ***arr, int *n, int *cap, void *p);

/* Paths given to a client stay pinned until it releases them or leaves. */
void store_hold(conn *c, obj *o);
/* Releases ref (NULL: all) held by c. */
void store_unhold(conn *c, const char *ref);
void store_conn_closed(conn *c);
void op_release(conn *c, uint32_t id, cJSON *req);
void op_free(conn *c, uint32_t id, cJSON *req);

#endif
