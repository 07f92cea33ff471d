/*
 * object.c: put and get into memory (getting to a file or a directory is
 * getout.c; wait and free are wait.c).  Small objects travel inline in one
 * frame.  When the client can open the node's store (same host, same user),
 * large objects never cross the socket: put writes a file in store/tmp and
 * asks the node to seal it.  Otherwise bytes are streamed in bounded chunks.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rayint.h"


/* Objects belong to the job in RAY_JOB_ID (see ray-job). */
static void add_job(cJSON *req)
{
	const char *job = getenv("RAY_JOB_ID");

	if (job && *job)
		cJSON_AddStringToObject(req, "job_id", job);
}

static int copy_ref(char ref[RAY_REF_MAX + 1], const char *s, ray_err *err)
{
	if (!s || !ray_ref_valid(s))
		return ray_seterr(err, RAY_EUNREACH, "malformed reply: bad ref");
	snprintf(ref, RAY_REF_MAX + 1, "%s", s);
	return 0;
}

int ray_put_many(ray_client *c, size_t n, const void *const *bufs,
                 const size_t *lens, char (*refs)[RAY_REF_MAX + 1], ray_err *err)
{
	cJSON *req, *reply = NULL;
	rbuf data = { 0 }, text = { 0 };
	size_t i, done = 0;
	int rc = 0;

	while (done < n && !rc) {
		size_t start = done, total = 0;

		req = cJSON_CreateObject();
		cJSON_AddStringToObject(req, "op", "put");
		add_job(req);
		data.len = 0;
		text.len = 0;
		/* Batch as many as fit in one frame. */
		while (done < n && (done == start || total + lens[done] <= RAY_DATA_MAX / 2) &&
		       done - start < RAY_BATCH_MAX) {
			if (lens[done] > RAY_DATA_MAX) {
				cJSON_Delete(req);
				rbuf_release(&data);
				return ray_seterr(err, RAY_EUSAGE, "object too large for an inline put");
			}
			if ((done != start && rbuf_append(&text, " ", 1)) ||
			    rbuf_add_uint(&text, lens[done]) ||
			    rbuf_append(&data, bufs[done], lens[done])) {
				cJSON_Delete(req);
				rbuf_release(&data);
				rbuf_release(&text);
				return ray_seterr(err, RAY_EUNREACH, "out of memory");
			}
			total += lens[done];
			done++;
		}
		/* Sizes and refs as packed lists (wire.c). */
		if (rbuf_append(&text, "", 1) || !cJSON_AddStringToObject(req, "sizes", text.p) ||
		    !cJSON_AddTrueToObject(req, "packed"))
			rc = ray_seterr(err, RAY_EUNREACH, "out of memory");
		else
			rc = ray_call(c, req, data.p, data.len, -1, &reply, NULL, err);
		cJSON_Delete(req);
		if (!rc) {
			const char *p = rj_str(reply, "refs");
			for (i = start; !rc && i < done; i++)
				if (!p || !(p = ray_packed_word(p, refs[i], RAY_REF_MAX + 1)) || !ray_ref_valid(refs[i]))
					rc = ray_seterr(err, RAY_EUNREACH, "malformed reply to put");
			if (!rc && ray_packed_count(p))
				rc = ray_seterr(err, RAY_EUNREACH, "malformed reply to put");
		}
		cJSON_Delete(reply);
		reply = NULL;
	}
	rbuf_release(&data);
	rbuf_release(&text);
	return rc;
}

int ray_put(ray_client *c, const void *buf, size_t len, char ref[RAY_REF_MAX + 1],
            ray_err *err)
{
	return ray_put_many(c, 1, &buf, &len, (char (*)[RAY_REF_MAX + 1])ref, err);
}

int ray_write_full(int fd, const char *buf, size_t n)
{
	while (n) {
		ssize_t w = write(fd, buf, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		buf += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Copies the rest of in to out: copy_file_range, then splice-free fallbacks. */
static int copy_fd(int in, int out, char *buf, size_t buflen)
{
	ssize_t r;

	for (;;) {
		r = copy_file_range(in, NULL, out, NULL, 1u << 30, 0);
		if (r > 0)
			continue;
		if (r == 0)
			return 0;
		if (errno == EINTR)
			continue;
		break;
	}
	for (;;) {
		r = sendfile(out, in, NULL, 1u << 30);
		if (r > 0)
			continue;
		if (r == 0)
			return 0;
		if (errno == EINTR)
			continue;
		break;
	}
	for (;;) {
		r = read(in, buf, buflen);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			return 0;
		if (ray_write_full(out, buf, (size_t)r))
			return -1;
	}
}

static int put_local_file(ray_client *c, int fd, const char *head, size_t hlen,
                          char *buf, size_t buflen, char ref[RAY_REF_MAX + 1],
                          ray_err *err)
{
	char name[40], path[PATH_MAX + 64];
	cJSON *req, *reply = NULL;
	int out, rc;

	ray_random_hex(name, 16);
	snprintf(path, sizeof(path), "%s/tmp/%s", ray_client_store(c), name);
	out = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out < 0)
		return ray_seterr(err, RAY_ERESOURCE, "cannot create object file: %s", strerror(errno));
	if (ray_write_full(out, head, hlen) || copy_fd(fd, out, buf, buflen)) {
		int e = errno;
		close(out);
		unlink(path);
		return ray_seterr(err, e == ENOSPC ? RAY_ERESOURCE : RAY_EUSAGE,
		                  "cannot store input: %s", strerror(e));
	}
	if (close(out)) {
		int e = errno;
		unlink(path);
		return ray_seterr(err, RAY_ERESOURCE, "cannot store input: %s", strerror(e));
	}
	req = cJSON_CreateObject();
	cJSON_AddStringToObject(req, "op", "seal");
	cJSON_AddStringToObject(req, "tmp", name);
	add_job(req);
	rc = ray_call(c, req, NULL, 0, -1, &reply, NULL, err);
	cJSON_Delete(req);
	if (!rc)
		rc = copy_ref(ref, rj_str(reply, "ref"), err);
	else
		unlink(path);
	cJSON_Delete(reply);
	return rc;
}

/* Streams fd to the node in chunks (remote clients). */
static int put_stream(ray_client *c, int fd, const char *head, size_t hlen,
                      char *buf, size_t buflen, char ref[RAY_REF_MAX + 1], ray_err *err)
{
	char handle[RAY_REF_MAX + 1] = "";
	int rc = 0, last = 0;

	while (!rc && !last) {
		cJSON *req = cJSON_CreateObject(), *reply = NULL;
		ssize_t n;

		if (hlen) {
			memmove(buf, head, hlen);
			n = ray_read_full(fd, buf + hlen, buflen - hlen);
			if (n >= 0)
				n += (ssize_t)hlen;
			hlen = 0;
		} else {
			n = ray_read_full(fd, buf, buflen);
		}
		if (n < 0) {
			cJSON_Delete(req);
			return ray_seterr(err, RAY_EUSAGE, "cannot read input: %s", strerror(errno));
		}
		last = (size_t)n < buflen;
		cJSON_AddStringToObject(req, "op", "put_part");
		add_job(req);
		if (handle[0])
			cJSON_AddStringToObject(req, "handle", handle);
		cJSON_AddBoolToObject(req, "last", last);
		rc = ray_call(c, req, buf, (size_t)n, -1, &reply, NULL, err);
		cJSON_Delete(req);
		if (!rc)
			rc = copy_ref(last ? ref : handle, rj_str(reply, last ? "ref" : "handle"), err);
		cJSON_Delete(reply);
	}
	return rc;
}

int ray_put_fd(ray_client *c, int fd, char ref[RAY_REF_MAX + 1], ray_err *err)
{
	size_t buflen = RAY_GET_CHUNK;
	char *buf = malloc(buflen);
	ssize_t n;
	int rc;

	if (!buf)
		return ray_seterr(err, RAY_EUNREACH, "out of memory");
	n = ray_read_full(fd, buf, RAY_INLINE_MAX + 1);
	if (n < 0) {
		rc = ray_seterr(err, RAY_EUSAGE, "cannot read input: %s", strerror(errno));
	} else if ((size_t)n <= RAY_INLINE_MAX) {
		rc = ray_put(c, buf, (size_t)n, ref, err);
	} else if (ray_client_store(c)) {
		rc = put_local_file(c, fd, buf, (size_t)n, buf + n, buflen - (size_t)n, ref, err);
	} else {
		rc = put_stream(c, fd, buf, (size_t)n, buf, buflen, ref, err);
	}
	free(buf);
	return rc;
}

/* Written as text when every ref is hex (so nothing needs escaping): two
 * allocations for the array, not two per ref, and no printing later. */
cJSON *ray_refs_array(size_t n, const char *const *refs)
{
	cJSON *a;
	rbuf t = { 0 };
	size_t i;

	for (i = 0; i < n && ray_ref_valid(refs[i]); i++)
		;
	if (i == n && n && !rbuf_reserve(&t, n * (RAY_REF_MAX + 3) + 3)) {
		t.p[t.len++] = '[';
		for (i = 0; i < n; i++) {
			size_t l = strlen(refs[i]);
			t.p[t.len++] = '"';
			memcpy(t.p + t.len, refs[i], l);
			t.len += l;
			t.p[t.len++] = '"';
			t.p[t.len++] = i + 1 < n ? ',' : ']';
		}
		t.p[t.len] = '\0';
		a = cJSON_CreateRaw(t.p);
		rbuf_release(&t);
		if (a)
			return a;
	}
	rbuf_release(&t);
	a = cJSON_CreateArray();
	for (i = 0; i < n; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(refs[i]));
	return a;
}

int ray_refs_check(size_t n, const char *const *refs, ray_err *err)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!ray_ref_valid(refs[i]))
			return ray_seterr(err, RAY_EUSAGE, "malformed ref '%s': want up to %d lowercase hex digits",
			                  refs[i], RAY_REF_MAX);
	return 0;
}

/* req["refs"] as a packed list (the refs are checked): 0 on no memory. */
static int packed_refs(cJSON *req, size_t n, const char *const *refs)
{
	rbuf t = { 0 };
	size_t i;
	int ok;

	for (i = 0; i < n; i++)
		if (rbuf_add_word(&t, refs[i])) {
			rbuf_release(&t);
			return 0;
		}
	ok = !rbuf_append(&t, "", 1) && cJSON_AddStringToObject(req, "refs", t.p);
	rbuf_release(&t);
	return ok;
}

/* One get request; reply["objs"] describes each object.  With restore, the
 * node first restores spilled objects; without, it marks them "spilled" and
 * the caller asks for each alone, so a long list never brings every spilled
 * object back into memory at once. */
int ray_get_req(ray_client *c, size_t n, const char *const *refs, int64_t timeout_ms,
                   int want_inline, int restore, cJSON **reply, rbuf *data, ray_err *err)
{
	cJSON *req;
	int rc;

	if ((rc = ray_refs_check(n, refs, err)))
		return rc;
	req = cJSON_CreateObject();
	cJSON_AddStringToObject(req, "op", "get");
	if (!packed_refs(req, n, refs)) {
		cJSON_Delete(req);
		return ray_seterr(err, RAY_EUNREACH, "out of memory");
	}
	rj_add_int(req, "timeout", timeout_ms);
	if (want_inline || !ray_client_store(c))
		cJSON_AddBoolToObject(req, "inline", 1);
	/* The reply may then give the sizes alone (packed), when every
	 * object is in memory and so in it. */
	cJSON_AddTrueToObject(req, "packed");
	if (restore)
		cJSON_AddBoolToObject(req, "restore", 1);
	ray_req_add_task(req);
	rc = ray_call(c, req, NULL, 0, timeout_ms, reply, data, err);
	cJSON_Delete(req);
	if (!rc && cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(*reply, "objs")) != (int)n &&
	    !rj_str(*reply, "sizes"))
		rc = ray_seterr(err, RAY_EUNREACH, "malformed reply to get");
	return rc;
}

int ray_packed_sizes(const char *p, size_t n, size_t total, size_t *sizes, ray_err *err)
{
	uint64_t size;
	size_t i, off = 0;

	for (i = 0; i < n; i++) {
		if (!(p = ray_packed_uint(p, &size)) || size > total - off)
			return ray_seterr(err, RAY_EUNREACH, "malformed reply to get");
		sizes[i] = (size_t)size;
		off += sizes[i];
	}
	if (ray_packed_count(p) || off != total)
		return ray_seterr(err, RAY_EUNREACH, "malformed reply to get");
	return 0;
}

/* Every object of a get was in the reply, in order: its packed sizes. */
static int get_packed(const char *p, size_t n, const rbuf *data, void **out, size_t *lens,
                      ray_err *err)
{
	size_t i, off = 0;
	int rc = ray_packed_sizes(p, n, data->len, lens, err);

	for (i = 0; !rc && i < n; off += lens[i++]) {
		if (!(out[i] = malloc(lens[i] ? lens[i] : 1)))
			return ray_seterr(err, RAY_EUNREACH, "out of memory");
		memcpy(out[i], data->p + off, lens[i]);
	}
	return rc;
}

/* An error object's code and message, or 0. */
int ray_obj_error(const cJSON *o, ray_err *err)
{
	int code = (int)rj_int(o, "code", 0);
	const char *m = rj_str(o, "msg");

	if (!code)
		return 0;
	if (code > 0 || code < RAY_ENOTFOUND)
		code = RAY_EFAILED;
	return ray_seterr(err, code, "%s", m ? m : "task failed");
}

/* Fetches part of an object that lives remotely, by chunks. */
int ray_get_part(ray_client *c, const char *ref, uint64_t off, size_t len,
                    rbuf *data, ray_err *err)
{
	cJSON *req = cJSON_CreateObject(), *reply = NULL;
	int rc;

	cJSON_AddStringToObject(req, "op", "get_part");
	cJSON_AddStringToObject(req, "ref", ref);
	cJSON_AddNumberToObject(req, "off", (double)off);
	cJSON_AddNumberToObject(req, "len", (double)len);
	rc = ray_call(c, req, NULL, 0, -1, &reply, data, err);
	cJSON_Delete(req);
	cJSON_Delete(reply);
	if (!rc && data->len != len)
		rc = ray_seterr(err, RAY_ELOST, "object '%s' changed while reading", ref);
	return rc;
}

int64_t ray_time_left(int64_t timeout_ms, int64_t t0)
{
	int64_t left;

	if (timeout_ms < 0)
		return -1;
	left = timeout_ms - (ray_now_ms() - t0);
	return left > 0 ? left : 0;
}

static int get_many_part(ray_client *c, size_t n, const char *const *refs, int64_t timeout_ms,
                         void **out, size_t *lens, ray_err *err)
{
	cJSON *reply = NULL, *objs = NULL, *o;
	rbuf data = { 0 };
	size_t i;
	int rc;

	for (i = 0; i < n; i++)
		out[i] = NULL;
	rc = ray_get_req(c, n, refs, timeout_ms, 1, n == 1, &reply, &data, err);
	if (!rc && rj_str(reply, "sizes"))
		rc = get_packed(rj_str(reply, "sizes"), n, &data, out, lens, err);
	else if (!rc)
		objs = cJSON_GetObjectItemCaseSensitive(reply, "objs");
	else
		objs = NULL;
	o = NULL;
	for (i = 0; !rc && objs && i < n; i++) {
		uint64_t size, off;
		o = o ? o->next : objs->child;
		if ((rc = ray_obj_error(o, err)))
			break;
		size = (uint64_t)rj_int(o, "size", -1);
		off = (uint64_t)rj_int(o, "off", -1);
		if (size > SIZE_MAX / 2) {
			rc = ray_seterr(err, RAY_EUNREACH, "malformed reply to get");
			break;
		}
		out[i] = malloc(size ? size : 1);
		lens[i] = size;
		if (!out[i]) {
			rc = ray_seterr(err, RAY_EUNREACH, "out of memory");
			break;
		}
		if (off != (uint64_t)-1) {
			if (off > data.len || size > data.len - off) {
				rc = ray_seterr(err, RAY_EUNREACH, "malformed reply to get");
				break;
			}
			memcpy(out[i], data.p + off, size);
		} else {
			uint64_t pos = 0;
			rbuf part = { 0 };
			while (!rc && pos < size) {
				size_t want = size - pos < RAY_GET_CHUNK ? (size_t)(size - pos) : RAY_GET_CHUNK;
				rc = ray_get_part(c, refs[i], pos, want, &part, err);
				if (!rc)
					memcpy((char *)out[i] + pos, part.p, want);
				pos += want;
			}
			rbuf_release(&part);
		}
	}
	if (rc)
		for (i = 0; i < n; i++) {
			free(out[i]);
			out[i] = NULL;
		}
	cJSON_Delete(reply);
	rbuf_release(&data);
	return rc;
}

/* Long lists go as several requests of RAY_BATCH_MAX refs. */
int ray_get_many(ray_client *c, size_t n, const char *const *refs, int64_t timeout_ms,
                 void **out, size_t *lens, ray_err *err)
{
	int64_t t0 = ray_now_ms();
	size_t i, done;
	int rc = 0;

	for (i = 0; i < n; i++)
		out[i] = NULL;
	for (done = 0; done < n && !rc; done += RAY_BATCH_MAX) {
		size_t k = n - done < RAY_BATCH_MAX ? n - done : RAY_BATCH_MAX;
		rc = get_many_part(c, k, refs + done, ray_time_left(timeout_ms, t0), out + done,
		                   lens + done, err);
	}
	if (rc)
		for (i = 0; i < n; i++) {
			free(out[i]);
			out[i] = NULL;
		}
	return rc;
}

int ray_get(ray_client *c, const char *ref, int64_t timeout_ms, void **out,
            size_t *len, ray_err *err)
{
	return ray_get_many(c, 1, &ref, timeout_ms, out, len, err);
}
