/*
 * store.c: the node's object table.  An object is pending (a task will make
 * it), ready, or an error.  Ready bytes live inline in memory (small puts)
 * or in a sealed read-only file under store/o/ on tmpfs; either way they
 * are "resident" and count against --object-store-memory.  Resident ready
 * objects sit on an LRU list ordered by last access, which the spiller
 * (spill.c) walks oldest first.
 *
 * Pins keep an object's bytes resident: arguments of pending and running
 * tasks, objects whose path a client was given and has not released (held
 * per connection here), gets being answered.  Gets and waits that block
 * live in waiter.c, puts in put.c, what ray-store ls and stats report in
 * store_status.c.
 *
 * Freed objects (ray-store free, the end of their job) are released once
 * nothing uses them: a pending one when its task ends, a pinned one when
 * the last pin goes.  Releases run from an idle callback, never from under
 * a caller that still holds the object.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dlist.h"
#include "node.h"
#include "istr.h"
#include "server.h"
#include "store.h"

store_hooks store_on;

void store_changed(obj *o)
{
	if (store_on.changed)
		store_on.changed(o);
}

void store_room(obj *landed)
{
	if (store_on.room)
		store_on.room(landed);
}

#define HELD_MAX 65536

struct store_stats store_st;

static obj *lru_head, *lru_tail;
static obj **doomed;              /* array owned; objects awaiting release */
static size_t ndoomed, capdoomed;
static uv_idle_t reap_idle;
static int handles_init;

static void obj_link(obj *o)
{
	DL_APPEND(N->ohead, N->otail, o, prev, next);
}

static void obj_unlink(obj *o)
{
	DL_REMOVE(N->ohead, N->otail, o, prev, next);
}

/* ---- the LRU list of resident ready objects ---- */

void lru_remove(obj *o)
{
	if (!o->in_lru)
		return;
	DL_REMOVE(lru_head, lru_tail, o, lprev, lnext);
	o->lprev = o->lnext = NULL;
	o->in_lru = 0;
}

void lru_add(obj *o)
{
	lru_remove(o);
	o->lprev = lru_tail;
	o->lnext = NULL;
	if (lru_tail)
		lru_tail->lnext = o;
	else
		lru_head = o;
	lru_tail = o;
	o->in_lru = 1;
}

obj *lru_oldest(void)
{
	return lru_head;
}

obj *store_new(const char *ref)
{
	obj *o = calloc(1, sizeof(*o));
	size_t l;

	if (!o)
		return NULL;
	l = strnlen(ref, sizeof(o->ref) - 1);

	memcpy(o->ref, ref, l);   /* the rest is calloc's zeros */
	o->created_ms = o->last_ms = ray_now_ms();
	if (map_put(&N->objs, o->ref, o)) {
		free(o);
		return NULL;
	}
	obj_link(o);
	return o;
}

obj *store_find_any(const char *ref)
{
	return ref ? map_get(&N->objs, ref) : NULL;
}

obj *store_find(const char *ref)
{
	obj *o = store_find_any(ref);

	return o && !o->doomed ? o : NULL;
}

/* store_find, else a placeholder for a ref another live node owns. */
obj *store_lookup(const char *ref)
{
	obj *o = store_find(ref);

	return o || !store_on.foreign ? o : store_on.foreign(ref);
}

int obj_resident(const obj *o)
{
	return o->data || o->in_file;
}

void store_touch(obj *o)
{
	o->last_ms = ray_now_ms();
	if (o->in_lru)
		lru_add(o);
}

void obj_path(const obj *o, char *buf, size_t len)
{
	snprintf(buf, len, "%s/o/%s", N->store, o->ref);
}

const char *obj_job(const obj *o)
{
	if (o->job)
		return o->job;
	return o->producer ? o->producer->job : "00000000";
}

int store_write_file(const char *path, const char *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0)
		return -1;
	while (len) {
		ssize_t w = write(fd, data, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			close(fd);
			unlink(path);
			return -1;
		}
		data += w;
		len -= (size_t)w;
	}
	return close(fd);
}

/* The path of a ready, resident object's file, writing inline bytes out
 * first.  A spilled object has none until it is restored. */
int store_path(obj *o, char *buf, size_t len)
{
	char tmp[PATH_MAX + 64];

	obj_path(o, buf, len);
	if (o->state == OBJ_READY)
		store_touch(o);
	if (o->in_file)
		return 0;
	if (o->state != OBJ_READY || !o->data)
		return -1;
	snprintf(tmp, sizeof(tmp), "%s/tmp/m-%s", N->store, o->ref);
	if (store_write_file(tmp, o->data, o->size) || chmod(tmp, 0444) ||
	    rename(tmp, buf)) {
		unlink(tmp);
		return -1;
	}
	o->in_file = 1;
	return 0;
}

/* ---- releasing freed objects ---- */

static int reapable(const obj *o)
{
	return o->doomed && o->state != OBJ_PENDING && !o->pins && !o->nwait &&
	       !o->ndeps && !o->io && !o->keep;
}

/* Freed objects are released a batch per turn of the loop: a job's end
 * frees all of its objects at once, and 100,000 of them took the node
 * tens of milliseconds in one callback.  A pass walks doomed[] from
 * reap_at; one released is replaced by the last (so the walk looks there
 * next).  A kick during a pass (an object unpinned behind reap_at) makes
 * the pass start over when it ends. */
#define REAP_BATCH 4096
static size_t reap_at;
static int reap_again;

static void on_reap(uv_idle_t *h)
{
	size_t budget = REAP_BATCH;

	(void)h;
	while (budget-- && reap_at < ndoomed) {
		obj *o = doomed[reap_at];
		if (!reapable(o)) {
			reap_at++;
			continue;
		}
		doomed[reap_at] = doomed[--ndoomed];
		if (o->producer) {
			int k;
			for (k = 0; k < o->producer->num_returns; k++)
				if (o->producer->rets[k] == o)
					o->producer->rets[k] = NULL;
		}
		store_free(o);
	}
	if (reap_at < ndoomed)
		return;
	reap_at = 0;
	if (reap_again && ndoomed) {
		reap_again = 0;
		return;
	}
	reap_again = 0;
	uv_idle_stop(&reap_idle);
}

void store_kick_reap(void)
{
	if (ndoomed && handles_init && !N->stopping) {
		reap_again = reap_again || reap_at > 0;
		uv_idle_start(&reap_idle, on_reap);
	}
}

void store_release(obj *o)
{
	if (o->doomed)
		return;
	if (ndoomed == capdoomed) {
		size_t nc = capdoomed ? capdoomed * 2 : 64;
		obj **nd = realloc(doomed, nc * sizeof(*nd));
		if (!nd)
			return;
		doomed = nd;
		capdoomed = nc;
	}
	o->doomed = 1;
	doomed[ndoomed++] = o;
	store_kick_reap();
}

size_t store_free_job(const char *job_id)
{
	obj *o;
	size_t n = 0;

	for (o = N->ohead; o; o = o->next)
		if (!o->doomed && !strcmp(obj_job(o), job_id)) {
			store_release(o);
			n++;
		}
	return n;
}

void store_unpin(obj *o)
{
	if (o->pins > 0)
		o->pins--;
	if (o->pins)
		return;
	if (o->doomed)
		store_kick_reap();
	else if (N->store_used > N->store_cap)
		store_room(NULL);
}

int add_ptr(void ***arr, int *n, int *cap, void *p)
{
	if (*n == *cap) {
		int nc = *cap ? *cap * 2 : 4;
		void **na = realloc(*arr, (size_t)nc * sizeof(*na));
		if (!na)
			return -1;
		*arr = na;
		*cap = nc;
	}
	(*arr)[(*n)++] = p;
	return 0;
}

void store_ready(obj *o)
{
	o->state = OBJ_READY;
	if (!o->job)
		o->job = istr_hold(obj_job(o));
	if (obj_resident(o))
		lru_add(o);
	store_changed(o);
	store_room(o);
	store_kick_reap();
}

void store_fail(obj *o, int code, const char *msg)
{
	if (o->state != OBJ_PENDING)
		return;
	o->state = OBJ_ERROR;
	o->err_code = code;
	free(o->err_msg);
	o->err_msg = strdup(msg);
	store_changed(o);
	store_kick_reap();
}

void store_free(obj *o)
{
	char path[PATH_MAX + 64];
	conn *c;
	int i;

	if (store_on.freeing)
		store_on.freeing(o);
	for (c = N->conns; o->pins && c; c = c->next)
		for (i = c->nheld - 1; i >= 0; i--)
			if (c->held[i] == o) {
				memmove(c->held + i, c->held + i + 1, (size_t)(c->nheld - i - 1) * sizeof(*c->held));
				c->nheld--;
				o->pins--;
			}

	if (o->in_file) {
		obj_path(o, path, sizeof(path));
		unlink(path);
	}
	if (obj_resident(o) && o->state == OBJ_READY)
		N->store_used -= N->store_used >= o->size ? o->size : N->store_used;
	lru_remove(o);
	map_del(&N->objs, o->ref);
	obj_unlink(o);
	if (o->foreign)
		N->nforeign--;
	free(o->waiters);
	free(o->deps);
	free(o->err_msg);
	free(o->data);
	istr_drop(o->job);
	free(o);
}

void store_drop_all(void)
{
	while (N->ohead)
		store_free(N->ohead);
	map_release(&N->objs);
	free(doomed);
	doomed = NULL;
	ndoomed = capdoomed = 0;
}

int obj_add_dep(obj *o, task *t)
{
	return add_ptr((void ***)&o->deps, &o->ndeps, &o->capdeps, t);
}

/* ---- paths held by clients ---- */

void store_hold(conn *c, obj *o)
{
	if (!c || c->closing)
		return;
	if (c->nheld == HELD_MAX) {
		obj *old = c->held[0];
		memmove(c->held, c->held + 1, (size_t)(c->nheld - 1) * sizeof(*c->held));
		c->nheld--;
		store_unpin(old);
	}
	if (add_ptr((void ***)&c->held, &c->nheld, &c->capheld, o))
		return;
	o->pins++;
}

void store_unhold(conn *c, const char *ref)
{
	int i;

	for (i = c->nheld - 1; i >= 0; i--)
		if (!ref || !strcmp(c->held[i]->ref, ref)) {
			obj *o = c->held[i];
			memmove(c->held + i, c->held + i + 1, (size_t)(c->nheld - i - 1) * sizeof(*c->held));
			c->nheld--;
			store_unpin(o);
			if (ref)
				return;
		}
}

void store_conn_closed(conn *c)
{
	store_unhold(c, NULL);
	free(c->held);
	c->held = NULL;
	c->nheld = c->capheld = 0;
}

void op_release(conn *c, uint32_t id, cJSON *req)
{
	const cJSON *refs = cJSON_GetObjectItemCaseSensitive(req, "refs"), *r;

	if (!refs) {
		store_unhold(c, NULL);
	} else if (cJSON_IsArray(refs)) {
		cJSON_ArrayForEach(r, refs)
			if (cJSON_IsString(r))
				store_unhold(c, r->valuestring);
	} else {
		conn_reply_err(c, id, RAY_EUSAGE, "release wants a list of refs");
		return;
	}
	conn_reply(c, id, cJSON_CreateObject(), NULL, 0);
}

void op_free(conn *c, uint32_t id, cJSON *req)
{
	const cJSON *refs = cJSON_GetObjectItemCaseSensitive(req, "refs"), *r;
	const char *unknown = NULL;
	int n = 0;
	cJSON *rep;

	if (!cJSON_IsArray(refs)) {
		conn_reply_err(c, id, RAY_EUSAGE, "free wants refs");
		return;
	}
	cJSON_ArrayForEach(r, refs) {
		obj *o = cJSON_IsString(r) ? store_find(r->valuestring) : NULL;
		if (!o) {
			if (!unknown)
				unknown = cJSON_IsString(r) ? r->valuestring : "?";
			continue;
		}
		store_release(o);
		n++;
	}
	if (unknown) {
		conn_reply_err(c, id, RAY_ENOTFOUND, "unknown ref '%.80s': it was freed, or never existed%s",
		               unknown, n ? " (the others were freed)" : "");
		return;
	}
	rep = cJSON_CreateObject();
	cJSON_AddNumberToObject(rep, "freed", n);
	conn_reply(c, id, rep, NULL, 0);
}

/* Gives a pending object its bytes (an actor's answer) and marks it ready. */
int store_fill(obj *o, const char *data, size_t len)
{
	if (o->state != OBJ_PENDING)
		return 0;
	if (len <= RAY_INLINE_MAX) {
		o->data = malloc(len ? len : 1);
		if (!o->data)
			return RAY_ERESOURCE;
		memcpy(o->data, data, len);
	} else {
		char path[PATH_MAX + 64];
		obj_path(o, path, sizeof(path));
		if (store_write_file(path, data, len) || chmod(path, 0444))
			return RAY_ERESOURCE;
		o->in_file = 1;
	}
	o->size = len;
	N->store_used += len;
	store_ready(o);
	return 0;
}

void store_init(void)
{
	uv_idle_init(N->loop, &reap_idle);
	handles_init = 1;
}

