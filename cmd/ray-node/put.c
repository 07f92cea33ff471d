/*
 * put.c: putting objects into the store, whole (ray-put), from a staged
 * file (seal) or streamed in parts, and reading them back in parts.
 *
 * A put whose bytes push the store over capacity is answered only once
 * spills have made room (so a fast writer cannot outrun the spiller), and
 * fails with exit 9 when nothing more can be spilled: every resident object
 * pinned, or the spill directory full.  A task's output always lands; if it
 * overflows, that is counted in ray-store stats.
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
#include "put.h"
#include "server.h"
#include "spill.h"
#include "store.h"
#include "waiter.h"

static waiter *room_head, *room_tail;

/* NODEID, 16 random hex digits, then 8 zeros (no return index). */
static void new_put_ref(char ref[RAY_REF_MAX + 1])
{
	size_t l = strlen(N->id);

	memcpy(ref, N->id, l);
	ray_random_hex(ref + l, 8);
	memcpy(ref + l + 16, "00000000", 9);
}

static int job_valid(const char *j)
{
	size_t i;

	if (!j || !*j || strlen(j) > RAY_ID_MAX)
		return 0;
	for (i = 0; j[i]; i++)
		if (!((j[i] >= '0' && j[i] <= '9') || (j[i] >= 'a' && j[i] <= 'f')))
			return 0;
	return 1;
}

/* A put's object is ready and resident: it joins the LRU list. */
static void put_landed(obj *o, const char *job)
{
	o->state = OBJ_READY;
	istr_drop(o->job);
	o->job = istr_hold(job ? job : "00000000");
	lru_add(o);
}

static obj *put_inline(const char *data, size_t len, const char *job)
{
	char ref[RAY_REF_MAX + 1];
	obj *o;

	new_put_ref(ref);
	o = store_new(ref);
	if (!o)
		return NULL;
	o->size = len;
	if (len <= RAY_INLINE_MAX) {
		o->data = malloc(len ? len : 1);
		if (!o->data) {
			store_free(o);
			return NULL;
		}
		memcpy(o->data, data, len);
	} else {
		char path[PATH_MAX + 64];
		obj_path(o, path, sizeof(path));
		if (store_write_file(path, data, len) || chmod(path, 0444)) {
			store_free(o);
			return NULL;
		}
		o->in_file = 1;
	}
	N->store_used += len;
	put_landed(o, job);
	return o;
}

int store_put_inline(const char *data, size_t len, char ref[RAY_REF_MAX + 1])
{
	obj *o = put_inline(data, len, NULL);

	if (!o)
		return RAY_ERESOURCE;
	snprintf(ref, RAY_REF_MAX + 1, "%s", o->ref);
	store_pressure();
	return 0;
}

/* Moves store/tmp/NAME into place as o's sealed file. */
int store_seal_file(const char *tmpname, obj *o, ray_err *err)
{
	char tmp[PATH_MAX + 64], path[PATH_MAX + 64];
	struct stat sb;

	snprintf(tmp, sizeof(tmp), "%s/tmp/%s", N->store, tmpname);
	obj_path(o, path, sizeof(path));
	if (lstat(tmp, &sb) || !S_ISREG(sb.st_mode))
		return ray_seterr(err, RAY_ENOTFOUND, "no staged object '%s'", tmpname);
	if (chmod(tmp, 0444) || rename(tmp, path))
		return ray_seterr(err, RAY_ERESOURCE, "cannot seal object: %s", strerror(errno));
	o->in_file = 1;
	o->size = (uint64_t)sb.st_size;
	N->store_used += o->size;
	return 0;
}

static void put_refuse(conn *c, uint32_t id, obj **objs, size_t n);

/* Whether a put may be answered: the store fits, or will once the spills
 * under way finish, with no more than a quarter of it in flight (so the
 * next put's copy overlaps those spills, and tmpfs use stays bounded). */
static int put_fits(void)
{
	if (N->store_used <= N->store_cap)
		return 1;
	return N->store_used <= N->store_cap + spilling_bytes && spilling_bytes <= N->store_cap / 4;
}

/* Answers puts that wait for room, in order, once they can be. */
static void room_process(void)
{
	waiter **pp = &room_head, *w;

	room_tail = NULL;
	while ((w = *pp)) {
		size_t i;
		int resident = 0;
		for (i = 0; i < w->n; i++)
			resident |= obj_resident(w->objs[i]);
		if (put_fits() || !resident || !w->c) {
			*pp = w->qnext;
			if (!w->c)
				for (i = 0; i < w->n; i++)
					store_release(w->objs[i]);
			waiter_complete(w, 0);
		} else if (!nspill_io) {
			*pp = w->qnext;
			if (w->c) {
				DL_REMOVE_H(w->c->waiters, w, cprev, cnext);
				put_refuse(w->c, w->req_id, w->objs, w->n);
				conn_resume(w->c);
			}
			waiter_free(w);
		} else {
			room_tail = w;
			pp = &w->qnext;
		}
	}
}

/* Spills to make room, then answers the puts that waited for it. */
void store_pressure(void)
{
	static int busy;

	if (busy)
		return;
	busy = 1;
	make_room();
	room_process();
	busy = 0;
}

static void put_refuse(conn *c, uint32_t id, obj **objs, size_t n)
{
	uint64_t pinned = 0, want = 0, used = N->store_used;
	obj *o;
	size_t i;
	char a[32], b[32], p[32], s[32];

	for (i = 0; i < n; i++) {
		want += objs[i]->size;
		if (obj_resident(objs[i]))
			used -= used >= objs[i]->size ? objs[i]->size : used;
		store_release(objs[i]);
	}
	for (o = lru_oldest(); o; o = o->lnext)
		if (o->pins || o->nwait)
			pinned += o->size;
	store_st.refused++;
	conn_reply_err(c, id, RAY_ERESOURCE,
	               "object store full: cannot store %s; %s of %s (--object-store-memory) in use, "
	               "%s of it pinned by tasks and readers, and nothing more can be spilled%s%s",
	               ray_fmt_size(want, s, sizeof(s)), ray_fmt_size(used, a, sizeof(a)),
	               ray_fmt_size(N->store_cap, b, sizeof(b)), ray_fmt_size(pinned, p, sizeof(p)),
	               spill_why[0] ? ": " : "", spill_why);
}

/* Answers a put once its objects fit (see the top of this file). */
static void put_finish(conn *c, uint32_t id, cJSON *reply, obj **objs, size_t n)
{
	waiter *w;
	size_t i;
	int resident = 0;

	store_pressure();
	for (i = 0; i < n; i++)
		resident |= obj_resident(objs[i]);
	if (put_fits() || !resident) {
		conn_reply(c, id, reply, NULL, 0);
		free(objs);
		return;
	}
	if (!nspill_io) {
		cJSON_Delete(reply);
		put_refuse(c, id, objs, n);
		free(objs);
		return;
	}
	w = waiter_new(c, id, objs, n);
	if (!w) {
		conn_reply(c, id, reply, NULL, 0);
		free(objs);
		return;
	}
	w->room = reply;
	for (i = 0; i < n; i++)
		objs[i]->keep++;
	if (room_tail)
		room_tail->qnext = w;
	else
		room_head = w;
	room_tail = w;
	waiter_attach(c, w);
}

/* A put's refs: a packed list (wire.c) for a client that asked, else one
 * raw JSON array written as text (refs are hex: nothing to escape), where
 * an item each and its printing were a fifth of a small put's CPU. */
static cJSON *refs_reply(obj **objs, size_t n, int packed)
{
	rbuf t = { 0 };
	cJSON *a = NULL;
	size_t i;
	int bad = !packed && rbuf_append(&t, "[", 1);

	for (i = 0; i < n && !bad; i++)
		bad = packed ? rbuf_add_word(&t, objs[i]->ref)
		             : (i && rbuf_append(&t, ",", 1)) || rbuf_append(&t, "\"", 1) ||
		               rbuf_append(&t, objs[i]->ref, strlen(objs[i]->ref)) ||
		               rbuf_append(&t, "\"", 1);
	if (!bad && !rbuf_append(&t, packed ? "" : "]", packed ? 1 : 2))
		a = packed ? cJSON_CreateString(t.p) : cJSON_CreateRaw(t.p);
	rbuf_release(&t);
	return a;
}

static const char *req_job(conn *c, uint32_t id, cJSON *req, int *bad)
{
	const char *job = rj_str(req, "job_id");

	*bad = 0;
	if (job && !job_valid(job)) {
		conn_reply_err(c, id, RAY_EUSAGE, "bad job id '%.80s'", job);
		*bad = 1;
	}
	return job;
}

/* A put's sizes, from an array or a packed list (wire.c), checked against
 * its data: an array of n, or NULL after replying with the error. */
static size_t *put_sizes(conn *c, uint32_t id, const cJSON *sizes, size_t dlen, size_t *np)
{
	size_t n, off = 0, i = 0, *v;
	const cJSON *s;
	const char *p = NULL;

	if (cJSON_IsString(sizes)) {
		p = sizes->valuestring;
		/* ops.c bounds arrays; a packed list is bounded here alike. */
		if ((n = ray_packed_count(p)) > RAY_ITEMS_MAX) {
			conn_reply_err(c, id, RAY_EUSAGE, "request 'put' lists over %d items: split it",
			               RAY_ITEMS_MAX);
			return NULL;
		}
	} else if (cJSON_IsArray(sizes)) {
		n = (size_t)cJSON_GetArraySize(sizes);
	} else {
		conn_reply_err(c, id, RAY_EUSAGE, "put wants sizes");
		return NULL;
	}
	if (!(v = calloc(n ? n : 1, sizeof(*v)))) {
		conn_reply_err(c, id, RAY_ERESOURCE, "out of memory");
		return NULL;
	}
	s = p ? NULL : sizes->child;
	for (i = 0; i < n; i++) {
		uint64_t x = 0;
		if (p ? !(p = ray_packed_uint(p, &x))
		      : !cJSON_IsNumber(s) || s->valuedouble < 0 || s->valuedouble > (double)dlen)
			break;
		if (!p) {
			x = (uint64_t)s->valuedouble;
			s = s->next;
		}
		if (x > dlen - off)
			break;
		v[i] = (size_t)x;
		off += v[i];
	}
	if (i < n || off != dlen) {
		free(v);
		conn_reply_err(c, id, RAY_EUSAGE, "put sizes do not match its data");
		return NULL;
	}
	*np = n;
	return v;
}

void op_put(conn *c, uint32_t id, cJSON *req, const char *data, size_t dlen)
{
	cJSON *r, *refs;
	size_t off = 0, n = 0, i, *sizes;
	obj **objs;
	const char *job;
	int bad;

	if (!(sizes = put_sizes(c, id, cJSON_GetObjectItemCaseSensitive(req, "sizes"), dlen, &n)))
		return;
	job = req_job(c, id, req, &bad);
	objs = bad ? NULL : calloc(n ? n : 1, sizeof(*objs));
	if (!objs) {
		if (!bad)
			conn_reply_err(c, id, RAY_ERESOURCE, "out of memory");
		free(sizes);
		return;
	}
	for (i = 0; i < n; i++) {
		obj *o = put_inline(data + off, sizes[i], job);
		if (!o) {
			char b[32];
			conn_reply_err(c, id, RAY_ERESOURCE, "object store full: cannot store %s: %s",
			               ray_fmt_size(sizes[i], b, sizeof(b)), strerror(errno));
			while (i)
				store_release(objs[--i]);
			free(objs);
			free(sizes);
			return;
		}
		objs[i] = o;
		off += sizes[i];
	}
	free(sizes);
	r = cJSON_CreateObject();
	refs = refs_reply(objs, n, rj_bool(req, "packed"));
	cJSON_AddItemToObject(r, "refs", refs ? refs : cJSON_CreateArray());
	put_finish(c, id, r, objs, n);
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

/* A staged file becomes a put object; the reply waits for room. */
static void seal_put(conn *c, uint32_t id, const char *name, const char *job)
{
	char ref[RAY_REF_MAX + 1];
	ray_err err;
	obj *o, **objs;
	cJSON *r;

	new_put_ref(ref);
	o = store_new(ref);
	objs = malloc(sizeof(*objs));
	if (!o || !objs) {
		if (o)
			store_free(o);
		free(objs);
		conn_reply_err(c, id, RAY_ERESOURCE, "out of memory");
		return;
	}
	if (store_seal_file(name, o, &err)) {
		store_free(o);
		free(objs);
		conn_reply_err(c, id, err.code, "%s", err.msg);
		return;
	}
	put_landed(o, job);
	objs[0] = o;
	r = cJSON_CreateObject();
	cJSON_AddStringToObject(r, "ref", ref);
	put_finish(c, id, r, objs, 1);
}

void op_seal(conn *c, uint32_t id, cJSON *req)
{
	const char *name = rj_str(req, "tmp"), *job;
	int bad;

	if (!hex_name(name)) {
		conn_reply_err(c, id, RAY_EUSAGE, "bad staged object name");
		return;
	}
	job = req_job(c, id, req, &bad);
	if (!bad)
		seal_put(c, id, name, job);
}

static void put_part_abort(conn *c)
{
	if (c->put_fd >= 0)
		close(c->put_fd);
	c->put_fd = -1;
	if (c->put_path) {
		unlink(c->put_path);
		free(c->put_path);
		c->put_path = NULL;
	}
}

void op_put_part(conn *c, uint32_t id, cJSON *req, const char *data, size_t dlen)
{
	const char *handle = rj_str(req, "handle"), *job;
	char path[PATH_MAX + 64], name[33];
	int bad;
	cJSON *r;

	job = req_job(c, id, req, &bad);
	if (bad)
		return;
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
			put_part_abort(c);
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
			put_part_abort(c);
			return;
		}
		data += w;
		dlen -= (size_t)w;
	}
	if (rj_bool(req, "last")) {
		close(c->put_fd);
		c->put_fd = -1;
		free(c->put_path);
		c->put_path = NULL;
		seal_put(c, id, c->put_ref, job);
		return;
	}
	r = cJSON_CreateObject();
	cJSON_AddStringToObject(r, "handle", c->put_ref);
	conn_reply(c, id, r, NULL, 0);
}

/* Answers a get_part from a resident object: len bytes from off. */
static void part_reply(conn *c, uint32_t id, obj *o, int64_t off, int64_t len)
{
	char path[PATH_MAX + 64];
	char *buf;
	ssize_t r = -1;
	int fd;

	store_touch(o);
	if (o->data) {
		conn_reply(c, id, cJSON_CreateObject(), o->data + off, (size_t)len);
		return;
	}
	buf = malloc((size_t)len + 1);
	obj_path(o, path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0 && buf) {
		size_t got = 0;
		while (got < (size_t)len) {
			ssize_t n = pread(fd, buf + got, (size_t)len - got, off + (off_t)got);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			got += (size_t)n;
		}
		r = (ssize_t)got;
	}
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

void op_get_part(conn *c, uint32_t id, cJSON *req)
{
	obj *o = store_find(rj_str(req, "ref"));
	int64_t off = rj_int(req, "off", -1), len = rj_int(req, "len", -1);

	if (o && o->state == OBJ_ERROR) {
		conn_reply_err(c, id, o->err_code, "%s", o->err_msg ? o->err_msg : "failed");
		return;
	}
	if (!o || o->state != OBJ_READY) {
		conn_reply_err(c, id, RAY_ENOTFOUND, "unknown or unready ref");
		return;
	}
	if (off < 0 || len < 0 || len > (1 << 24) || (uint64_t)off > o->size ||
	    (uint64_t)len > o->size - (uint64_t)off) {
		conn_reply_err(c, id, RAY_EUSAGE, "bad range");
		return;
	}
	if (!waiter_need_resident(c, id, req, o, op_get_part))
		part_reply(c, id, o, off, len);
}

