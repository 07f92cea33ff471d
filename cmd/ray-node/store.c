/*
 * store.c: the node's object table.  An object is pending (a task will make
 * it), ready, or an error.  Ready bytes live inline in memory (small puts)
 * or in a sealed read-only file under store/o/ on tmpfs.  Gets and waits
 * that cannot be answered yet become waiters, registered on each pending
 * object; tasks waiting for arguments register as dependents.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "node.h"

#define GET_INLINE_BUDGET (128u << 20)

static void obj_link(obj *o)
{
	o->prev = N->otail;
	if (N->otail)
		N->otail->next = o;
	else
		N->ohead = o;
	N->otail = o;
}

static void obj_unlink(obj *o)
{
	if (o->prev)
		o->prev->next = o->next;
	else
		N->ohead = o->next;
	if (o->next)
		o->next->prev = o->prev;
	else
		N->otail = o->prev;
}

obj *store_new(const char *ref)
{
	obj *o = calloc(1, sizeof(*o));

	if (!o)
		return NULL;
	snprintf(o->ref, sizeof(o->ref), "%s", ref);
	o->created_ms = o->last_ms = ray_now_ms();
	if (map_put(&N->objs, o->ref, o)) {
		free(o);
		return NULL;
	}
	obj_link(o);
	return o;
}

obj *store_find(const char *ref)
{
	return ref ? map_get(&N->objs, ref) : NULL;
}

/* store_find, else a placeholder for a ref another live node owns. */
obj *store_lookup(const char *ref)
{
	obj *o = store_find(ref);

	return o ? o : foreign_obj(ref);
}

void store_touch(obj *o)
{
	o->last_ms = ray_now_ms();
}

static void obj_path(const obj *o, char *buf, size_t len)
{
	snprintf(buf, len, "%s/o/%s", N->store, o->ref);
}

static int write_file(const char *path, const char *data, size_t len)
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

/* The path of a ready object's file, writing inline bytes out first. */
int store_path(obj *o, char *buf, size_t len)
{
	char tmp[PATH_MAX + 64];

	obj_path(o, buf, len);
	if (o->in_file)
		return 0;
	if (o->state != OBJ_READY)
		return -1;
	snprintf(tmp, sizeof(tmp), "%s/tmp/m-%s", N->store, o->ref);
	if (write_file(tmp, o->data ? o->data : "", o->size) || chmod(tmp, 0444) ||
	    rename(tmp, buf)) {
		unlink(tmp);
		return -1;
	}
	o->in_file = 1;
	return 0;
}

static void new_put_ref(char ref[RAY_REF_MAX + 1])
{
	char rnd[17];

	ray_random_hex(rnd, 8);
	snprintf(ref, RAY_REF_MAX + 1, "%s%s00000000", N->id, rnd);
}

int store_put_inline(const char *data, size_t len, char ref[RAY_REF_MAX + 1])
{
	obj *o;

	new_put_ref(ref);
	o = store_new(ref);
	if (!o)
		return RAY_ERESOURCE;
	o->size = len;
	if (len <= RAY_INLINE_MAX) {
		o->data = malloc(len ? len : 1);
		if (!o->data) {
			store_free(o);
			return RAY_ERESOURCE;
		}
		memcpy(o->data, data, len);
	} else {
		char path[PATH_MAX + 64];
		obj_path(o, path, sizeof(path));
		if (write_file(path, data, len) || chmod(path, 0444)) {
			store_free(o);
			return RAY_ERESOURCE;
		}
		o->in_file = 1;
	}
	N->store_used += len;
	o->state = OBJ_READY;
	return 0;
}

/* Moves store/tmp/NAME into place as o's sealed file and marks o ready. */
int store_seal_file(const char *tmpname, obj *o, ray_err *err)
{
	char tmp[PATH_MAX + 64], path[PATH_MAX + 64];
	struct stat st;

	snprintf(tmp, sizeof(tmp), "%s/tmp/%s", N->store, tmpname);
	obj_path(o, path, sizeof(path));
	if (lstat(tmp, &st) || !S_ISREG(st.st_mode))
		return ray_seterr(err, RAY_ENOTFOUND, "no staged object '%s'", tmpname);
	if (chmod(tmp, 0444) || rename(tmp, path))
		return ray_seterr(err, RAY_ERESOURCE, "cannot seal object: %s", strerror(errno));
	o->in_file = 1;
	o->size = (uint64_t)st.st_size;
	N->store_used += o->size;
	return 0;
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
	free(w);
}

static cJSON *obj_desc(obj *o, int want_inline, rbuf *data)
{
	cJSON *d = cJSON_CreateObject();
	char path[PATH_MAX + 64];

	store_touch(o);
	if (o->state == OBJ_ERROR) {
		cJSON_AddNumberToObject(d, "code", o->err_code);
		cJSON_AddStringToObject(d, "msg", o->err_msg ? o->err_msg : "failed");
		return d;
	}
	cJSON_AddNumberToObject(d, "size", (double)o->size);
	if (o->data) {
		cJSON_AddNumberToObject(d, "off", (double)data->len);
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
			cJSON_AddNumberToObject(d, "off", (double)start);
			return d;
		}
	}
	cJSON_AddStringToObject(d, "path", path);
	return d;
}

static void waiter_reply(waiter *w, int timed_out)
{
	cJSON *r = cJSON_CreateObject(), *a;
	rbuf data = { 0 };
	size_t i;

	(void)timed_out;
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
	a = cJSON_AddArrayToObject(r, "objs");
	for (i = 0; i < w->n; i++)
		cJSON_AddItemToArray(a, obj_desc(w->objs[i], w->want_inline, &data));
	conn_reply(w->c, w->req_id, r, data.p, data.len);
	rbuf_release(&data);
}

void waiter_complete(waiter *w, int timed_out)
{
	conn *c = w->c;

	waiter_unregister(w);
	if (w->lender[0])
		task_unlend(w->lender);
	if (c) {
		if (w->cprev)
			w->cprev->cnext = w->cnext;
		else
			c->waiters = w->cnext;
		if (w->cnext)
			w->cnext->cprev = w->cprev;
		waiter_reply(w, timed_out);
		conn_resume(c);
	}
	if (w->has_timer) {
		uv_timer_stop(&w->timer);
		uv_close((uv_handle_t *)&w->timer, on_waiter_timer_closed);
	} else {
		on_waiter_timer_closed((uv_handle_t *)&w->timer);
	}
}

static void on_waiter_timeout(uv_timer_t *t)
{
	waiter_complete(t->data, 1);
}

static int add_ptr(void ***arr, int *n, int *cap, void *p);

static void notify(obj *o)
{
	waiter **ws = o->waiters;
	int n = o->nwait, i;
	size_t j;
	task **deps = o->deps;
	int nd = o->ndeps;

	o->waiters = NULL;
	o->nwait = o->capwait = 0;
	o->deps = NULL;
	o->ndeps = o->capdeps = 0;
	for (i = 0; i < n; i++) {
		waiter *w = ws[i];
		if (o->remote && !w->is_wait) {
			/* Its bytes are elsewhere: keep waiting for the pull. */
			add_ptr((void ***)&o->waiters, &o->nwait, &o->capwait, w);
			continue;
		}
		for (j = 0; j < w->n; j++)
			if (w->objs[j] == o && !w->done[j]) {
				w->done[j] = 1;
				w->ready++;
			}
		if ((w->is_wait && w->ready >= w->k) || w->ready == w->n)
			waiter_complete(w, 0);
	}
	free(ws);
	for (i = 0; i < nd; i++) {
		if (o->remote) {
			add_ptr((void ***)&o->deps, &o->ndeps, &o->capdeps, deps[i]);
			continue;
		}
		sched_dep_ready(deps[i], o);
	}
	free(deps);
	if (o->remote && (o->nwait || o->ndeps))
		fetch_start(o);
}

void store_ready(obj *o)
{
	o->state = OBJ_READY;
	notify(o);
}

void store_fail(obj *o, int code, const char *msg)
{
	if (o->state != OBJ_PENDING)
		return;
	o->state = OBJ_ERROR;
	o->err_code = code;
	free(o->err_msg);
	o->err_msg = strdup(msg);
	notify(o);
}

void store_free(obj *o)
{
	char path[PATH_MAX + 64];

	if (o->in_file) {
		obj_path(o, path, sizeof(path));
		unlink(path);
	}
	if (o->state == OBJ_READY && N->store_used >= o->size)
		N->store_used -= o->size;
	map_del(&N->objs, o->ref);
	obj_unlink(o);
	free(o->waiters);
	free(o->deps);
	free(o->err_msg);
	free(o->data);
	free(o);
}

void store_drop_all(void)
{
	while (N->ohead)
		store_free(N->ohead);
	map_release(&N->objs);
}

static int add_ptr(void ***arr, int *n, int *cap, void *p)
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

int obj_add_dep(obj *o, task *t)
{
	return add_ptr((void ***)&o->deps, &o->ndeps, &o->capdeps, t);
}

/* Resolves a JSON array of refs to objects; fails on bad or unknown ones. */
static obj **resolve_refs(conn *c, uint32_t id, const cJSON *refs, size_t *n)
{
	const cJSON *r;
	obj **v;
	size_t i = 0, cnt = (size_t)cJSON_GetArraySize(refs);

	if (!cJSON_IsArray(refs) || cnt > 10000000) {
		conn_reply_err(c, id, RAY_EUSAGE, "want a list of refs");
		return NULL;
	}
	v = calloc(cnt ? cnt : 1, sizeof(*v));
	if (!v) {
		conn_reply_err(c, id, RAY_ERESOURCE, "out of memory");
		return NULL;
	}
	cJSON_ArrayForEach(r, refs) {
		if (!cJSON_IsString(r) || !ray_ref_valid(r->valuestring)) {
			conn_reply_err(c, id, RAY_EUSAGE, "malformed ref");
			free(v);
			return NULL;
		}
		v[i] = store_lookup(r->valuestring);
		if (!v[i]) {
			conn_reply_err(c, id, RAY_ENOTFOUND, "unknown ref '%s': it was freed, or never existed",
			               r->valuestring);
			free(v);
			return NULL;
		}
		i++;
	}
	*n = cnt;
	return v;
}

static void start_waiter(conn *c, uint32_t id, cJSON *req, int is_wait)
{
	waiter *w;
	size_t n = 0, i;
	obj **objs = resolve_refs(c, id, cJSON_GetObjectItemCaseSensitive(req, "refs"), &n);
	int64_t timeout = rj_int(req, "timeout", -1);
	const char *tid = rj_str(req, "task_id");

	if (!objs)
		return;
	w = calloc(1, sizeof(*w));
	if (!w || !(w->done = calloc(n ? n : 1, 1))) {
		free(w);
		free(objs);
		conn_reply_err(c, id, RAY_ERESOURCE, "out of memory");
		return;
	}
	w->c = c;
	w->req_id = id;
	w->is_wait = is_wait;
	w->want_inline = rj_bool(req, "inline");
	w->objs = objs;
	w->n = n;
	w->k = is_wait ? (size_t)rj_int(req, "n", (int64_t)n) : n;
	if (w->k > n)
		w->k = n;
	w->timer.data = w;
	for (i = 0; i < n; i++)
		if (objs[i]->state != OBJ_PENDING && (is_wait || !objs[i]->remote)) {
			w->done[i] = 1;
			w->ready++;
		}
	if (w->ready >= w->k || timeout == 0) {
		waiter_reply(w, w->ready < w->k);
		free(w->objs);
		free(w->done);
		free(w);
		return;
	}
	/* Must wait: register once per distinct pending object. */
	for (i = 0; i < n; i++) {
		obj *o = objs[i];
		int j, seen = 0;
		if (w->done[i])
			continue;
		for (j = 0; j < o->nwait; j++)
			if (o->waiters[j] == w)
				seen = 1;
		if (!seen)
			add_ptr((void ***)&o->waiters, &o->nwait, &o->capwait, w);
		if (o->remote)
			fetch_start(o);
	}
	w->cnext = c->waiters;
	if (c->waiters)
		c->waiters->cprev = w;
	c->waiters = w;
	c->busy = 1;
	if (timeout > 0) {
		uv_timer_init(N->loop, &w->timer);
		w->has_timer = 1;
		uv_timer_start(&w->timer, on_waiter_timeout, (uint64_t)timeout, 0);
	}
	if (tid && task_find(tid)) {
		snprintf(w->lender, sizeof(w->lender), "%s", tid);
		task_lend(task_find(tid));
	}
}

void op_get(conn *c, uint32_t id, cJSON *req)
{
	start_waiter(c, id, req, 0);
}

void op_wait(conn *c, uint32_t id, cJSON *req)
{
	start_waiter(c, id, req, 1);
}

void op_put(conn *c, uint32_t id, cJSON *req, const char *data, size_t dlen)
{
	const cJSON *sizes = cJSON_GetObjectItemCaseSensitive(req, "sizes"), *s;
	cJSON *r, *refs;
	size_t off = 0;
	char ref[RAY_REF_MAX + 1];

	if (!cJSON_IsArray(sizes)) {
		conn_reply_err(c, id, RAY_EUSAGE, "put wants sizes");
		return;
	}
	cJSON_ArrayForEach(s, sizes) {
		if (!cJSON_IsNumber(s) || s->valuedouble < 0 || s->valuedouble > (double)(dlen - off)) {
			conn_reply_err(c, id, RAY_EUSAGE, "put sizes do not match its data");
			return;
		}
		off += (size_t)s->valuedouble;
	}
	if (off != dlen) {
		conn_reply_err(c, id, RAY_EUSAGE, "put sizes do not match its data");
		return;
	}
	r = cJSON_CreateObject();
	refs = cJSON_AddArrayToObject(r, "refs");
	off = 0;
	cJSON_ArrayForEach(s, sizes) {
		size_t len = (size_t)s->valuedouble;
		if (store_put_inline(data + off, len, ref)) {
			cJSON_Delete(r);
			conn_reply_err(c, id, RAY_ERESOURCE, "object store full: cannot store %zu bytes", len);
			return;
		}
		cJSON_AddItemToArray(refs, cJSON_CreateString(ref));
		off += len;
	}
	conn_reply(c, id, r, NULL, 0);
}

static int hex_name(const char *s)
{
	size_t i;

	if (!s || !*s)
		return 0;
	for (i = 0; s[i]; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')) || i > 64)
			return 0;
	return 1;
}

void op_seal(conn *c, uint32_t id, cJSON *req)
{
	const char *name = rj_str(req, "tmp");
	char ref[RAY_REF_MAX + 1];
	ray_err err;
	obj *o;
	cJSON *r;

	if (!hex_name(name)) {
		conn_reply_err(c, id, RAY_EUSAGE, "bad staged object name");
		return;
	}
	new_put_ref(ref);
	o = store_new(ref);
	if (!o) {
		conn_reply_err(c, id, RAY_ERESOURCE, "out of memory");
		return;
	}
	if (store_seal_file(name, o, &err)) {
		store_free(o);
		conn_reply_err(c, id, err.code, "%s", err.msg);
		return;
	}
	o->state = OBJ_READY;
	r = cJSON_CreateObject();
	cJSON_AddStringToObject(r, "ref", ref);
	conn_reply(c, id, r, NULL, 0);
}

void op_put_part(conn *c, uint32_t id, cJSON *req, const char *data, size_t dlen)
{
	const char *handle = rj_str(req, "handle");
	char path[PATH_MAX + 64], name[33];
	cJSON *r;

	if (!handle) {
		if (c->put_path) {
			conn_reply_err(c, id, RAY_EUSAGE, "a streamed put is already in progress");
			return;
		}
		ray_random_hex(name, 16);
		snprintf(path, sizeof(path), "%s/tmp/%s", N->store, name);
		c->put_fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (c->put_fd < 0 || !(c->put_path = strdup(path))) {
			conn_reply_err(c, id, RAY_ERESOURCE, "cannot create object: %s", strerror(errno));
			return;
		}
		snprintf(c->put_ref, sizeof(c->put_ref), "%s", name);
	} else if (!c->put_path || strcmp(handle, c->put_ref)) {
		conn_reply_err(c, id, RAY_ENOTFOUND, "no streamed put '%.64s'", handle);
		return;
	}
	while (dlen) {
		ssize_t w = write(c->put_fd, data, dlen);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			conn_reply_err(c, id, RAY_ERESOURCE, "object store full: %s", strerror(errno));
			close(c->put_fd);
			c->put_fd = -1;
			unlink(c->put_path);
			free(c->put_path);
			c->put_path = NULL;
			return;
		}
		data += w;
		dlen -= (size_t)w;
	}
	r = cJSON_CreateObject();
	if (rj_bool(req, "last")) {
		char ref[RAY_REF_MAX + 1];
		ray_err err;
		obj *o;

		close(c->put_fd);
		c->put_fd = -1;
		free(c->put_path);
		c->put_path = NULL;
		new_put_ref(ref);
		o = store_new(ref);
		if (!o || store_seal_file(c->put_ref, o, &err)) {
			if (o)
				store_free(o);
			cJSON_Delete(r);
			conn_reply_err(c, id, RAY_ERESOURCE, "cannot seal object");
			return;
		}
		o->state = OBJ_READY;
		cJSON_AddStringToObject(r, "ref", ref);
	} else {
		cJSON_AddStringToObject(r, "handle", c->put_ref);
	}
	conn_reply(c, id, r, NULL, 0);
}

void op_get_part(conn *c, uint32_t id, cJSON *req)
{
	obj *o = store_find(rj_str(req, "ref"));
	int64_t off = rj_int(req, "off", -1), len = rj_int(req, "len", -1);
	char path[PATH_MAX + 64];
	char *buf;
	int fd;
	ssize_t r;

	if (!o || o->state != OBJ_READY) {
		conn_reply_err(c, id, RAY_ENOTFOUND, "unknown or unready ref");
		return;
	}
	if (off < 0 || len < 0 || len > (1 << 24) || (uint64_t)off > o->size ||
	    (uint64_t)len > o->size - (uint64_t)off) {
		conn_reply_err(c, id, RAY_EUSAGE, "bad range");
		return;
	}
	if (o->data) {
		conn_reply(c, id, cJSON_CreateObject(), o->data + off, (size_t)len);
		return;
	}
	buf = malloc((size_t)len + 1);
	obj_path(o, path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	r = (fd >= 0 && buf) ? pread(fd, buf, (size_t)len, off) : -1;
	if (fd >= 0)
		close(fd);
	if (r != len) {
		free(buf);
		conn_reply_err(c, id, RAY_ELOST, "cannot read object '%s'", o->ref);
		return;
	}
	conn_reply(c, id, cJSON_CreateObject(), buf, (size_t)len);
	free(buf);
}

void op_free(conn *c, uint32_t id, cJSON *req)
{
	const cJSON *refs = cJSON_GetObjectItemCaseSensitive(req, "refs"), *r;
	int n = 0;
	cJSON *rep;

	if (!cJSON_IsArray(refs)) {
		conn_reply_err(c, id, RAY_EUSAGE, "free wants refs");
		return;
	}
	cJSON_ArrayForEach(r, refs) {
		obj *o = cJSON_IsString(r) ? store_find(r->valuestring) : NULL;
		if (o && o->state != OBJ_PENDING && !o->nwait && !o->ndeps && !o->pins) {
			if (o->producer) {
				int i;
				for (i = 0; i < o->producer->num_returns; i++)
					if (o->producer->rets[i] == o)
						o->producer->rets[i] = NULL;
			}
			store_free(o);
			n++;
		}
	}
	rep = cJSON_CreateObject();
	cJSON_AddNumberToObject(rep, "freed", n);
	conn_reply(c, id, rep, NULL, 0);
}

static const char *obj_state_name(int s)
{
	return s == OBJ_PENDING ? "PENDING" : s == OBJ_READY ? "READY" : "ERROR";
}

cJSON *obj_json(obj *o)
{
	cJSON *j = cJSON_CreateObject();

	cJSON_AddStringToObject(j, "ref", o->ref);
	cJSON_AddStringToObject(j, "object_id", o->ref);
	cJSON_AddStringToObject(j, "state", obj_state_name(o->state));
	cJSON_AddNumberToObject(j, "size", (double)o->size);
	cJSON_AddStringToObject(j, "node_id", N->id);
	cJSON_AddStringToObject(j, "where", o->state != OBJ_READY ? "" : o->data ? "memory" : "shm");
	cJSON_AddBoolToObject(j, "pinned", o->pins > 0 || o->nwait > 0);
	if (o->producer)
		cJSON_AddStringToObject(j, "task_id", o->producer->id);
	return j;
}

void op_store_ls(conn *c, uint32_t id, cJSON *req)
{
	cJSON *r = cJSON_CreateObject(), *a = cJSON_AddArrayToObject(r, "objects");
	obj *o;

	(void)req;
	for (o = N->ohead; o; o = o->next)
		if (o->state == OBJ_READY)
			cJSON_AddItemToArray(a, obj_json(o));
	conn_reply(c, id, r, NULL, 0);
}

void op_store_stats(conn *c, uint32_t id, cJSON *req)
{
	cJSON *r = cJSON_CreateObject();
	uint64_t mem = 0, shm = 0, nm = 0, ns = 0, np = 0, pinned = 0;
	obj *o;

	(void)req;
	for (o = N->ohead; o; o = o->next) {
		if (o->state == OBJ_PENDING) {
			np++;
			continue;
		}
		if (o->state != OBJ_READY)
			continue;
		if (o->data) {
			mem += o->size;
			nm++;
		} else {
			shm += o->size;
			ns++;
		}
		if (o->pins || o->nwait)
			pinned += o->size;
	}
	cJSON_AddStringToObject(r, "node_id", N->id);
	cJSON_AddNumberToObject(r, "capacity_bytes", (double)N->store_cap);
	cJSON_AddNumberToObject(r, "used_bytes", (double)(mem + shm));
	cJSON_AddNumberToObject(r, "objects", (double)(nm + ns));
	cJSON_AddNumberToObject(r, "in_memory_bytes", (double)(mem + shm));
	cJSON_AddNumberToObject(r, "inline_bytes", (double)mem);
	cJSON_AddNumberToObject(r, "shm_bytes", (double)shm);
	cJSON_AddNumberToObject(r, "spilled_bytes", 0);
	cJSON_AddNumberToObject(r, "spilled_objects", 0);
	cJSON_AddNumberToObject(r, "pinned_bytes", (double)pinned);
	cJSON_AddNumberToObject(r, "pending_objects", (double)np);
	transfer_stats_json(r);
	conn_reply(c, id, r, NULL, 0);
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
		if (write_file(path, data, len) || chmod(path, 0444))
			return RAY_ERESOURCE;
		o->in_file = 1;
	}
	o->size = len;
	N->store_used += len;
	store_ready(o);
	return 0;
}
