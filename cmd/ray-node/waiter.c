/*
 * waiter.c: gets and waits that block.  A get or wait that cannot be
 * answered yet becomes a waiter, registered on each object it still needs;
 * tasks waiting for arguments register on objects as dependents.  When an
 * object becomes ready, fails, or is restored, everything registered on it
 * is told at once (waiter_notify), so no one polls.
 *
 * A get that wants its bytes resident pins its objects until answered and
 * restores the spilled ones; one whose objects live on another node pulls
 * them.  A reader walking a list can name the objects it wants next, and
 * those are restored in the background while it reads.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dlist.h"
#include "node.h"
#include "server.h"
#include "spill.h"
#include "store.h"
#include "waiter.h"

waiter_hooks waiter_on;

static void unlend(const char *task_id)
{
	if (waiter_on.unlend)
		waiter_on.unlend(task_id);
}

#define GET_INLINE_BUDGET (128u << 20)
#define PREFETCH_KEEP_MS 10000

/* Whether entry o of waiter w is answered. */
static int obj_done(const waiter *w, const obj *o)
{
	if (o->state == OBJ_PENDING)
		return 0;
	if (o->state == OBJ_READY && o->remote && !w->is_wait)
		return 0;  /* its bytes are elsewhere: wait for the pull */
	if (!w->restore || o->state == OBJ_ERROR)
		return 1;
	return obj_resident(o);
}

static void waiter_unregister(waiter *w)
{
	size_t i;
	int j;

	for (i = 0; i < w->n; i++) {
		obj *o = w->objs[i];
		if (!o)
			continue;
		for (j = 0; j < o->nwait; j++)
			if (o->waiters[j] == w) {
				o->waiters[j] = o->waiters[--o->nwait];
				break;
			}
	}
}

static void on_waiter_timer_closed(uv_handle_t *h)
{
	waiter *w = h->data;

	free(w->objs);
	free(w->done);
	free(w->byobj);
	cJSON_Delete(w->room);
	cJSON_Delete(w->redo_req);
	free(w);
}

static cJSON *obj_desc(obj *o, int want_inline, rbuf *data, conn *c)
{
	cJSON *d = cJSON_CreateObject();
	char path[PATH_MAX + 64];

	store_touch(o);
	if (o->state == OBJ_ERROR) {
		cJSON_AddNumberToObject(d, "code", o->err_code);
		cJSON_AddStringToObject(d, "msg", o->err_msg ? o->err_msg : "failed");
		return d;
	}
	rj_add_uint(d, "size", o->size);
	o->ra_until = 0;
	if (!obj_resident(o)) {
		uint64_t sum;
		char hex[17];
		/* The client asks for it alone, which restores it; or, on
		 * this host, copies the spill file itself, checking the sum
		 * (a restore is a copy more, and the store has no room). */
		cJSON_AddBoolToObject(d, "spilled", 1);
		if (!spill_file(o, path, sizeof(path), &sum)) {
			snprintf(hex, sizeof(hex), "%016llx", (unsigned long long)sum);
			cJSON_AddStringToObject(d, "spill", path);
			cJSON_AddStringToObject(d, "sum", hex);
		}
		return d;
	}
	if (o->data) {
		rj_add_uint(d, "off", data->len);
		rbuf_append(data, o->data, o->size);
		return d;
	}
	obj_path(o, path, sizeof(path));
	if (want_inline && data->len + o->size <= GET_INLINE_BUDGET) {
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		size_t got = 0, start = data->len;
		if (fd >= 0 && !rbuf_reserve(data, o->size)) {
			while (got < o->size) {
				ssize_t r = read(fd, data->p + start + got, o->size - got);
				if (r < 0 && errno == EINTR)
					continue;
				if (r <= 0)
					break;
				got += (size_t)r;
			}
		}
		if (fd >= 0)
			close(fd);
		if (got == o->size) {
			data->len = start + got;
			rj_add_uint(d, "off", start);
			return d;
		}
	}
	/* The file must outlive the reply until the client has read it. */
	store_hold(c, o);
	cJSON_AddStringToObject(d, "path", path);
	return d;
}

/* An object whose bytes are in the node's memory, for the short forms of
 * a get's reply. */
static int in_memory(const obj *o)
{
	return o->state != OBJ_ERROR && o->data && obj_resident(o);
}

/* Its bytes join the reply's data (the object was read). */
static int take_bytes(obj *o, rbuf *data)
{
	store_touch(o);
	o->ra_until = 0;
	return rbuf_append(data, o->data, o->size);
}

/* A get of at most this many objects has its "objs" written as text (a
 * bigger one may need splitting over frames, which takes a real array). */
#define TEXT_MAX 1024

/* The descriptions of a get's objects as one raw JSON array: a small
 * object in memory is {"size":N,"off":M}, written as digits; the others
 * as obj_desc says.  An item, a number and its string apiece were most
 * of a small get's CPU in the node. */
static cJSON *objs_text(waiter *w, rbuf *data)
{
	rbuf t = { 0 };
	cJSON *a = NULL;
	size_t i;
	int bad = rbuf_append(&t, "[", 1);

	for (i = 0; i < w->n && !bad; i++) {
		obj *o = w->objs[i];
		if (i)
			bad |= rbuf_append(&t, ",", 1);
		if (in_memory(o)) {
			bad |= rbuf_append(&t, "{\"size\":", 8) || rbuf_add_uint(&t, o->size) ||
			       rbuf_append(&t, ",\"off\":", 7) || rbuf_add_uint(&t, data->len) ||
			       rbuf_append(&t, "}", 1) || take_bytes(o, data);
		} else {
			cJSON *d = obj_desc(o, w->want_inline, data, w->c);
			char *s = cJSON_PrintUnformatted(d);
			bad |= !s || rbuf_append(&t, s, strlen(s));
			free(s);
			cJSON_Delete(d);
		}
	}
	if (!bad && !rbuf_append(&t, "]", 2))
		a = cJSON_CreateRaw(t.p);
	rbuf_release(&t);
	return a;
}

/* For a client that asked for it (packed): when every object is in
 * memory, the reply is their sizes as a packed list (wire.c) and their
 * bytes in order; else NULL, and "objs" says what each is. */
static cJSON *sizes_packed(waiter *w, rbuf *data)
{
	rbuf t = { 0 };
	cJSON *a = NULL;
	size_t i;
	int bad = 0;

	for (i = 0; i < w->n; i++)
		if (!in_memory(w->objs[i]))
			return NULL;
	for (i = 0; i < w->n && !bad; i++)
		bad = (i && rbuf_append(&t, " ", 1)) || rbuf_add_uint(&t, w->objs[i]->size) ||
		      take_bytes(w->objs[i], data);
	if (!bad && !rbuf_append(&t, "", 1))
		a = cJSON_CreateString(t.p);
	rbuf_release(&t);
	if (!a)
		data->len = 0;
	return a;
}

static void waiter_reply(waiter *w, int timed_out)
{
	cJSON *r, *a;
	rbuf data = { 0 };
	size_t i;

	if (w->room) {
		r = w->room;
		w->room = NULL;
		conn_reply(w->c, w->req_id, r, NULL, 0);
		return;
	}
	if (w->redo) {
		obj *o = w->objs[0];
		if (o->state == OBJ_ERROR)
			conn_reply_err(w->c, w->req_id, o->err_code, "%s", o->err_msg ? o->err_msg : "failed");
		else if (timed_out || !obj_resident(o))
			conn_reply_err(w->c, w->req_id, RAY_ELOST, "cannot restore object '%s'", o->ref);
		else
			w->redo(w->c, w->req_id, w->redo_req);
		return;
	}
	r = cJSON_CreateObject();
	if (w->is_wait) {
		a = cJSON_AddArrayToObject(r, "ready");
		for (i = 0; i < w->n; i++)
			cJSON_AddItemToArray(a, cJSON_CreateBool(w->objs[i] && w->objs[i]->state != OBJ_PENDING));
		conn_reply(w->c, w->req_id, r, NULL, 0);
		return;
	}
	if (timed_out) {
		cJSON_Delete(r);
		conn_reply_err(w->c, w->req_id, RAY_ETIMEOUT, "timed out: %zu of %zu objects ready",
		               w->ready, w->n);
		return;
	}
	if (w->packed && (a = sizes_packed(w, &data))) {
		cJSON_AddItemToObject(r, "sizes", a);
	} else if (w->n <= TEXT_MAX && (a = objs_text(w, &data))) {
		cJSON_AddItemToObject(r, "objs", a);
	} else {
		data.len = 0;
		a = cJSON_AddArrayToObject(r, "objs");
		for (i = 0; i < w->n; i++)
			cJSON_AddItemToArray(a, obj_desc(w->objs[i], w->want_inline, &data, w->c));
	}
	conn_reply(w->c, w->req_id, r, data.p, data.len);
	rbuf_release(&data);
}

void waiter_free(waiter *w)
{
	size_t i;

	if (w->restore)
		for (i = 0; i < w->n; i++)
			store_unpin(w->objs[i]);
	if (w->room)
		for (i = 0; i < w->n; i++)
			w->objs[i]->keep--;
	if (w->has_timer) {
		uv_timer_stop(&w->timer);
		uv_close((uv_handle_t *)&w->timer, on_waiter_timer_closed);
	} else {
		on_waiter_timer_closed((uv_handle_t *)&w->timer);
	}
	store_kick_reap();
}

void waiter_complete(waiter *w, int timed_out)
{
	conn *c = w->c;

	waiter_unregister(w);
	if (w->lender[0])
		unlend(w->lender);
	if (c) {
		DL_REMOVE_H(c->waiters, w, cprev, cnext);
		waiter_reply(w, timed_out);
		conn_resume(c);
	}
	waiter_free(w);
}

static void on_waiter_timeout(uv_timer_t *t)
{
	waiter_complete(t->data, 1);
}

/* Marks entry j of w answered if o (its object) is; 1 if still waited on. */
static int mark(waiter *w, size_t j, const obj *o)
{
	if (w->done[j])
		return 0;
	if (!obj_done(w, o))
		return 1;
	w->done[j] = 1;
	w->ready++;
	return 0;
}

/* Marks o's entries in w; 1 if some are still waited on.  A long list is
 * searched in its sorted copy: a ray-wait on 100,000 refs would otherwise
 * read them all each time one of them is ready. */
static int mark_obj(waiter *w, const obj *o)
{
	size_t j, lo = 0, hi = w->n;
	int left = 0;

	if (!w->byobj) {
		for (j = 0; j < w->n; j++)
			if (w->objs[j] == o)
				left |= mark(w, j, o);
		return left;
	}
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if ((uintptr_t)w->byobj[mid].o < (uintptr_t)o)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (j = lo; j < w->n && w->byobj[j].o == o; j++)
		left |= mark(w, w->byobj[j].i, o);
	return left;
}

/* Wakes what waits on o: it became ready or failed, or was restored. */
void waiter_notify(obj *o)
{
	waiter **ws = o->waiters;
	int n = o->nwait, i;
	task **deps = o->deps;
	int nd = o->ndeps;

	o->waiters = NULL;
	o->nwait = o->capwait = 0;
	o->deps = NULL;
	o->ndeps = o->capdeps = 0;
	for (i = 0; i < n; i++) {
		waiter *w = ws[i];
		int left = mark_obj(w, o);
		if ((w->is_wait && w->ready >= w->k) || w->ready == w->n) {
			waiter_complete(w, 0);
		} else if (left) {
			add_ptr((void ***)&o->waiters, &o->nwait, &o->capwait, w);
		}
	}
	free(ws);
	for (i = 0; i < nd; i++) {
		if (o->state == OBJ_READY && !obj_resident(o)) {
			add_ptr((void ***)&o->deps, &o->ndeps, &o->capdeps, deps[i]);
			continue;
		}
		if (waiter_on.dep_ready)
			waiter_on.dep_ready(deps[i], o);
	}
	free(deps);
	if (o->state == OBJ_READY && !obj_resident(o) && (o->nwait || o->ndeps)) {
		/* Its bytes are elsewhere (pull them) or spilled (restore them). */
		if (o->remote)
			waiter_on.fetch(o);
		else
			store_restore(o);
	}
}

/* Resolves a JSON array of refs to objects; fails on bad or unknown ones. */
/* The objects of a request's refs: an array of strings, or a packed list
 * (wire.c); NULL after replying with the error. */
static obj **resolve_refs(conn *c, uint32_t id, const cJSON *refs, size_t *n)
{
	const cJSON *r = NULL;
	const char *p = cJSON_IsString(refs) ? refs->valuestring : NULL;
	char ref[RAY_REF_MAX + 2];
	obj **v;
	size_t i, cnt = p ? ray_packed_count(p) : (size_t)cJSON_GetArraySize(refs);

	if (!p && !cJSON_IsArray(refs)) {
		conn_reply_err(c, id, RAY_EUSAGE, "want a list of refs");
		return NULL;
	}
	/* ops.c bounds arrays; a packed list is bounded here alike. */
	if (cnt > RAY_ITEMS_MAX) {
		conn_reply_err(c, id, RAY_EUSAGE, "request lists over %d items: split it", RAY_ITEMS_MAX);
		return NULL;
	}
	v = calloc(cnt ? cnt : 1, sizeof(*v));
	if (!v) {
		conn_reply_err(c, id, RAY_ERESOURCE, "out of memory");
		return NULL;
	}
	if (!p)
		r = refs->child;
	for (i = 0; i < cnt; i++) {
		const char *s = NULL;
		if (p) {
			if ((p = ray_packed_word(p, ref, sizeof(ref))))
				s = ref;
		} else {
			s = cJSON_IsString(r) ? r->valuestring : NULL;
			r = r->next;
		}
		if (!s || !ray_ref_valid(s)) {
			conn_reply_err(c, id, RAY_EUSAGE, "malformed ref");
			free(v);
			return NULL;
		}
		v[i] = store_lookup(s);
		if (!v[i]) {
			conn_reply_err(c, id, RAY_ENOTFOUND, "unknown ref '%s': it was freed, or never existed", s);
			free(v);
			return NULL;
		}
	}
	*n = cnt;
	return v;
}

waiter *waiter_new(conn *c, uint32_t id, obj **objs, size_t n)
{
	waiter *w = calloc(1, sizeof(*w));

	if (!w || !(w->done = calloc(n ? n : 1, 1))) {
		free(w);
		return NULL;
	}
	w->c = c;
	w->req_id = id;
	w->objs = objs;
	w->n = w->k = n;
	w->timer.data = w;
	return w;
}

void waiter_attach(conn *c, waiter *w)
{
	DL_PUSH_H(c->waiters, w, cprev, cnext);
	c->busy = 1;
}

/* Lists longer than this get a sorted copy (waiter.byobj). */
#define BYOBJ_MIN 16

static int by_obj(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t)((const struct wref *)a)->o, y = (uintptr_t)((const struct wref *)b)->o;

	return x < y ? -1 : x > y;
}

/* Registers w on each object it still needs and returns 1, or answers it
 * (and frees it) at once and returns 0. */
int waiter_start(conn *c, waiter *w, int64_t timeout)
{
	size_t i;

	if (w->restore)
		for (i = 0; i < w->n; i++)
			w->objs[i]->pins++;
	for (i = 0; i < w->n; i++)
		if (obj_done(w, w->objs[i])) {
			w->done[i] = 1;
			w->ready++;
		}
	if (w->ready >= w->k || timeout == 0) {
		waiter_reply(w, w->ready < w->k);
		waiter_free(w);
		return 0;
	}
	if (w->n > BYOBJ_MIN && (w->byobj = malloc(w->n * sizeof(*w->byobj)))) {
		for (i = 0; i < w->n; i++) {
			w->byobj[i].o = w->objs[i];
			w->byobj[i].i = i;
		}
		qsort(w->byobj, w->n, sizeof(*w->byobj), by_obj);
	}
	for (i = 0; i < w->n; i++) {
		obj *o = w->objs[i];
		int j, seen = 0;
		if (w->done[i])
			continue;
		/* The last waiter added is the one a repeated ref would find. */
		for (j = o->nwait - 1; j >= 0 && !seen; j--)
			if (o->waiters[j] == w)
				seen = 1;
		if (!seen)
			add_ptr((void ***)&o->waiters, &o->nwait, &o->capwait, w);
		if (o->remote)
			waiter_on.fetch(o);
		else
			store_restore(o);
	}
	waiter_attach(c, w);
	if (timeout > 0) {
		uv_timer_init(N->loop, &w->timer);
		w->has_timer = 1;
		uv_timer_start(&w->timer, on_waiter_timeout, (uint64_t)timeout, 0);
	}
	return 1;
}

/* A reader that walks a list of objects says which spilled ones it wants
 * next: they are restored in the background, in parallel, within a budget
 * of half the store (at least one object). */
static void prefetch(const cJSON *refs)
{
	const cJSON *r;

	cJSON_ArrayForEach(r, refs) {
		obj *o = cJSON_IsString(r) ? store_find(r->valuestring) : NULL;
		if (!o || o->state != OBJ_READY || obj_resident(o) || o->io || !o->spill)
			continue;
		if (restoring_bytes && restoring_bytes + o->size > N->store_cap / 2)
			break;
		store_touch(o);
		o->ra_until = ray_now_ms() + PREFETCH_KEEP_MS;
		store_restore(o);
	}
}

static void start_waiter(conn *c, uint32_t id, cJSON *req, int is_wait)
{
	waiter *w;
	size_t n = 0;
	obj **objs = resolve_refs(c, id, cJSON_GetObjectItemCaseSensitive(req, "refs"), &n);
	int64_t timeout = rj_int(req, "timeout", -1);
	const char *tid = rj_str(req, "task_id");
	const cJSON *rel = cJSON_GetObjectItemCaseSensitive(req, "release"), *r;

	cJSON_ArrayForEach(r, rel)
		if (cJSON_IsString(r))
			store_unhold(c, r->valuestring);
	if (!objs)
		return;
	prefetch(cJSON_GetObjectItemCaseSensitive(req, "prefetch"));
	w = waiter_new(c, id, objs, n);
	if (!w) {
		free(objs);
		conn_reply_err(c, id, RAY_ERESOURCE, "out of memory");
		return;
	}
	w->is_wait = is_wait;
	w->want_inline = rj_bool(req, "inline");
	w->packed = !is_wait && rj_bool(req, "packed");
	w->restore = !is_wait && rj_bool(req, "restore");
	w->k = is_wait ? (size_t)rj_int(req, "n", (int64_t)n) : n;
	if (w->k > n)
		w->k = n;
	if (waiter_start(c, w, timeout) && tid && waiter_on.lend && waiter_on.lend(tid))
		snprintf(w->lender, sizeof(w->lender), "%s", tid);
}

void op_get(conn *c, uint32_t id, cJSON *req)
{
	start_waiter(c, id, req, 0);
}

void op_wait(conn *c, uint32_t id, cJSON *req)
{
	start_waiter(c, id, req, 1);
}

/* A client that leaves stops waiting: its gets and waits answer no one,
 * and a task blocked in one takes its lent CPUs back. */
void waiter_conn_closed(conn *c)
{
	waiter *w;

	for (w = c->waiters; w; w = w->cnext) {
		w->c = NULL;
		if (w->lender[0]) {
			unlend(w->lender);
			w->lender[0] = '\0';
		}
	}
	c->waiters = NULL;
}

int waiter_need_resident(conn *c, uint32_t id, cJSON *req, obj *o,
                        void (*fn)(conn *c, uint32_t id, cJSON *req))
{
	obj **objs;
	waiter *w;

	if (obj_resident(o) || o->state != OBJ_READY)
		return 0;
	objs = malloc(sizeof(*objs));
	w = objs ? waiter_new(c, id, objs, 1) : NULL;
	if (!w || !(w->redo_req = cJSON_Duplicate(req, 1))) {
		if (w)
			waiter_free(w);
		else
			free(objs);
		conn_reply_err(c, id, RAY_ERESOURCE, "out of memory");
		return 1;
	}
	objs[0] = o;
	w->redo = fn;
	w->restore = 1;
	waiter_start(c, w, -1);
	return 1;
}
