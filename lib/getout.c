/*
 * getout.c: get to a file descriptor or a directory (ray_get_to_fd,
 * ray_get_to_dir, what ray-get does): one get for all the refs, then the
 * bytes go where they are wanted without being held whole in memory, by
 * sendfile from the node's sealed file on the same host, from the reply,
 * from a spill file checked as it is copied, or in chunks.
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
#include "xxh64.h"

static int send_file(int fd, const char *path, uint64_t size, ray_err *err)
{
	int in = open(path, O_RDONLY | O_CLOEXEC);
	uint64_t left = size;
	char *buf = NULL;

	if (in < 0)
		return ray_seterr(err, RAY_ELOST, "cannot open object file '%s': %s", path, strerror(errno));
	while (left) {
		ssize_t w = sendfile(fd, in, NULL, left > (1u << 30) ? (1u << 30) : left);
		if (w > 0) {
			left -= (uint64_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EINVAL || errno == ENOSYS))
			break;
		close(in);
		if (w == 0)
			return ray_seterr(err, RAY_ELOST, "object file '%s' is short", path);
		return ray_seterr(err, RAY_EUSAGE, "write failed: %s", strerror(errno));
	}
	if (left) {
		buf = malloc(RAY_GET_CHUNK);
		if (!buf) {
			close(in);
			return ray_seterr(err, RAY_EUNREACH, "out of memory");
		}
		while (left) {
			ssize_t r = read(in, buf, RAY_GET_CHUNK);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0 || ray_write_full(fd, buf, (size_t)r)) {
				free(buf);
				close(in);
				return ray_seterr(err, RAY_EUSAGE, "write failed: %s", strerror(errno));
			}
			left -= (uint64_t)r;
		}
		free(buf);
	}
	close(in);
	return 0;
}

#define PREFETCH 4

/* Lets go of every file this connection was given (the node may spill
 * those objects again). */
static void release_all(ray_client *c)
{
	cJSON *req = cJSON_CreateObject();

	cJSON_AddStringToObject(req, "op", "release");
	ray_call(c, req, NULL, 0, 30000, NULL, NULL, NULL);
	cJSON_Delete(req);
}

/* Where the bytes go: one fd for all, or DIR/REF for each. */
typedef struct sink {
	int fd;
	const char *dir;
} sink;

static int sink_open(const sink *k, const char *ref, ray_err *err)
{
	char path[PATH_MAX];
	int fd;

	if (!k->dir)
		return k->fd;
	snprintf(path, sizeof(path), "%s/%s", k->dir, ref);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return ray_seterr(err, RAY_EUSAGE, "cannot create '%s': %s", path, strerror(errno));
	return fd;
}

static int sink_close(const sink *k, int fd, const char *ref, int rc, ray_err *err)
{
	if (!k->dir)
		return rc;
	if (close(fd) && !rc)
		rc = ray_seterr(err, RAY_EUSAGE, "cannot write '%s/%s': %s", k->dir, ref, strerror(errno));
	return rc;
}

/* Bytes of a get reply's data, objects one after another, not yet written:
 * a write per object was most of ray-get's CPU on small objects. */
typedef struct run {
	const char *p;
	size_t len;
} run;

static int run_flush(run *r, int fd, ray_err *err)
{
	size_t len = r->len;

	r->len = 0;
	if (len && ray_write_full(fd, r->p, len))
		return ray_seterr(err, RAY_EUSAGE, "write failed: %s", strerror(errno));
	return 0;
}

/* Writes one object described by a get reply to fd: bytes in the reply,
 * the local file it names, or fetched in chunks (remote clients).  With
 * r, bytes in the reply join the run, written when it breaks. */
static int write_obj(ray_client *c, const char *ref, const cJSON *o, const rbuf *data,
                     int fd, rbuf *part, run *r, ray_err *err)
{
	uint64_t size, off;
	const char *path;
	int rc;

	if ((rc = ray_obj_error(o, err)))
		return rc;
	size = (uint64_t)rj_int(o, "size", 0);
	off = (uint64_t)rj_int(o, "off", -1);
	path = rj_str(o, "path");
	if (off != (uint64_t)-1) {
		if (off > data->len || size > data->len - off)
			return ray_seterr(err, RAY_EUNREACH, "malformed reply to get");
		if (r && r->len && r->p + r->len == data->p + off) {
			r->len += size;
			return 0;
		}
		if (r && (rc = run_flush(r, fd, err)))
			return rc;
		if (r) {
			r->p = data->p + off;
			r->len = size;
			return 0;
		}
		if (ray_write_full(fd, data->p + off, size))
			return ray_seterr(err, RAY_EUSAGE, "write failed: %s", strerror(errno));
		return 0;
	}
	if (r && (rc = run_flush(r, fd, err)))
		return rc;
	if (path && ray_client_store(c))
		return send_file(fd, path, size, err);
	for (off = 0; !rc && off < size; off += RAY_GET_CHUNK) {
		size_t want = size - off < RAY_GET_CHUNK ? (size_t)(size - off) : RAY_GET_CHUNK;
		rc = ray_get_part(c, ref, off, want, part, err);
		if (!rc && ray_write_full(fd, part->p, want))
			rc = ray_seterr(err, RAY_EUSAGE, "write failed: %s", strerror(errno));
	}
	return rc;
}

static int is_spilled(const cJSON *o)
{
	return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "spilled"));
}

/* Copies a spilled object from its spill file on this host (named in the
 * get reply with its sum; docs/protocol.md, 4a) to fd, checking the header
 * and the sum of every byte: 0; -1 when the file cannot be used (the node
 * then restores the object, and turns a corrupt one into an error); -2
 * when fd could not be written.  Used for files of their own only
 * (ray_get_to_dir), which a failed check can start again. */
static int copy_spill(const cJSON *o, uint64_t size, int fd)
{
	const char *path = rj_str(o, "spill"), *hex = rj_str(o, "sum");
	unsigned char hdr[RAY_SPILL_HDR];
	uint64_t want, h = 0, off = 0, hsize = 0, hsum = 0;
	struct stat sb;
	char *buf = NULL, *end;
	int in, rc = -1, i;

	if (!path || !hex || strlen(hex) != 16)
		return -1;
	want = strtoull(hex, &end, 16);
	if (*end || (in = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	if (fstat(in, &sb) || (uint64_t)sb.st_size != size + RAY_SPILL_HDR ||
	    ray_read_full(in, (char *)hdr, RAY_SPILL_HDR) != RAY_SPILL_HDR ||
	    memcmp(hdr, RAY_SPILL_MAGIC, 8) || !(buf = malloc(RAY_SUM_BLOCK)))
		goto out;
	for (i = 0; i < 8; i++) {
		hsize = hsize << 8 | hdr[8 + i];
		hsum = hsum << 8 | hdr[16 + i];
	}
	if (hsize != size || hsum != want)
		goto out;
	while (off < size) {
		size_t n = size - off < RAY_SUM_BLOCK ? (size_t)(size - off) : RAY_SUM_BLOCK;
		if (ray_read_full(in, buf, n) != (ssize_t)n)
			goto out;
		h = ray_sum_block(h, buf, n, off);
		if (ray_write_full(fd, buf, n)) {
			rc = -2;
			goto out;
		}
		off += n;
	}
	rc = h == want ? 0 : -1;
out:
	free(buf);
	close(in);
	return rc;
}

/*
 * One get for all refs, then each object in order.  Objects the node has
 * spilled come back marked, and each is then asked for alone, which
 * restores it.  That request also names the next few spilled ones, which
 * the node starts restoring in the background (so restores run in
 * parallel and overlap our copying), and releases the previous restored
 * file once copied (the node may spill it again): one round trip each.
 */
/* A get reply of packed sizes (every object was in memory): their bytes
 * in order in data, to fd in one write, or a file each.  A fast stream's
 * small objects were parsed as an object apiece, a third of ray-get. */
static int out_packed(const sink *k, size_t n, const char *const *refs, const char *sizes,
                      const rbuf *data, ray_err *err)
{
	size_t i, off = 0, *v = malloc((n ? n : 1) * sizeof(*v));
	int fd, rc;

	if (!v)
		return ray_seterr(err, RAY_EUNREACH, "out of memory");
	rc = ray_packed_sizes(sizes, n, data->len, v, err);
	if (!rc && !k->dir)
		rc = ray_write_full(k->fd, data->p, data->len) ?
		     ray_seterr(err, RAY_EUSAGE, "write failed: %s", strerror(errno)) : 0;
	for (i = 0; !rc && k->dir && i < n; off += v[i++]) {
		if ((fd = sink_open(k, refs[i], err)) < 0) {
			rc = fd;
			break;
		}
		rc = ray_write_full(fd, data->p + off, v[i]) ?
		     ray_seterr(err, RAY_EUSAGE, "write failed: %s", strerror(errno)) : 0;
		rc = sink_close(k, fd, refs[i], rc, err);
	}
	free(v);
	return rc;
}

static int get_out_part(ray_client *c, size_t n, const char *const *refs, int64_t timeout_ms,
                        const sink *k, ray_err *err)
{
	cJSON *reply = NULL, *objs, *one = NULL, *it;
	const cJSON **items = NULL;
	rbuf data = { 0 }, odata = { 0 }, part = { 0 };
	run pend = { 0 };
	const char *prev = NULL;
	size_t i, j, pf = 0;
	int rc, release = 0;

	rc = ray_get_req(c, n, refs, timeout_ms, 0, n == 1, &reply, &data, err);
	if (!rc && rj_str(reply, "sizes")) {
		rc = out_packed(k, n, refs, rj_str(reply, "sizes"), &data, err);
		cJSON_Delete(reply);
		rbuf_release(&data);
		return rc;
	}
	objs = cJSON_GetObjectItemCaseSensitive(reply, "objs");
	/* Indexed once: cJSON_GetArrayItem walks the list, n^2 for n refs. */
	if (!rc && !(items = calloc(n ? n : 1, sizeof(*items))))
		rc = ray_seterr(err, RAY_ERESOURCE, "out of memory");
	for (i = 0, it = objs ? objs->child : NULL; !rc && it && i < n; it = it->next)
		items[i++] = it;
	for (i = 0; !rc && i < n; i++) {
		const cJSON *o = items[i];
		const char *path = rj_str(o, "path");
		const rbuf *src = &data;
		int fd, spilled = is_spilled(o);

		/* A path no longer held (a connection holds at most 65536) may
		 * have been spilled since: ask for it alone. */
		if (!spilled && path && ray_client_store(c) && access(path, F_OK) && errno == ENOENT)
			spilled = 1;
		if (spilled && k->dir && ray_client_store(c) && rj_str(o, "spill")) {
			/* Straight from the spill file: no restore into the store
			 * (a copy more, and room the store may not have). */
			int cs;
			fd = sink_open(k, refs[i], err);
			if (fd < 0) {
				rc = fd;
				break;
			}
			cs = copy_spill(o, (uint64_t)rj_int(o, "size", 0), fd);
			if (cs == -2)
				rc = ray_seterr(err, RAY_EUSAGE, "write failed: %s", strerror(errno));
			rc = sink_close(k, fd, refs[i], rc, err);
			if (rc)
				break;
			if (cs == 0)
				continue;
			/* Not usable: the node restores it (sink_open starts the
			 * file again). */
		}
		if (spilled) {
			cJSON *req = cJSON_CreateObject(), *a;
			int npf = 0;

			cJSON_AddStringToObject(req, "op", "get");
			cJSON_AddItemToObject(req, "refs", ray_refs_array(1, &refs[i]));
			cJSON_AddBoolToObject(req, "restore", 1);
			cJSON_AddNumberToObject(req, "timeout", (double)timeout_ms);
			if (!ray_client_store(c))
				cJSON_AddBoolToObject(req, "inline", 1);
			if (prev)
				cJSON_AddItemToObject(req, "release", ray_refs_array(1, &prev));
			prev = NULL;
			a = cJSON_AddArrayToObject(req, "prefetch");
			for (j = pf > i ? pf : i + 1; j < n && npf < PREFETCH; j++)
				if (is_spilled(items[j])) {
					cJSON_AddItemToArray(a, cJSON_CreateString(refs[j]));
					npf++;
					pf = j + 1;
				}
			ray_req_add_task(req);
			cJSON_Delete(one);
			one = NULL;
			rc = ray_call(c, req, NULL, 0, timeout_ms, &one, &odata, err);
			cJSON_Delete(req);
			release = 1;
			if (rc)
				break;
			o = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(one, "objs"), 0);
			if (!o) {
				rc = ray_seterr(err, RAY_EUNREACH, "malformed reply to get");
				break;
			}
			src = &odata;
			if (rj_str(o, "path"))
				prev = refs[i];
		} else if (rj_str(o, "path")) {
			release = 1;
		}
		if (src != &data && (rc = run_flush(&pend, k->fd, err)))
			break;
		fd = sink_open(k, refs[i], err);
		if (fd < 0) {
			rc = fd;
			break;
		}
		rc = sink_close(k, fd, refs[i],
		                write_obj(c, refs[i], o, src, fd, &part, k->dir || src != &data ? NULL : &pend, err),
		                err);
	}
	/* What came before an error object is written before it is told. */
	if (pend.len) {
		ray_err werr;
		int wrc = run_flush(&pend, k->fd, rc ? &werr : err);
		rc = rc ? rc : wrc;
	}
	if (release)
		release_all(c);
	free(items);
	cJSON_Delete(one);
	cJSON_Delete(reply);
	rbuf_release(&data);
	rbuf_release(&odata);
	rbuf_release(&part);
	return rc;
}

/* Long lists go as several requests of RAY_BATCH_MAX refs, in order. */
static int get_out(ray_client *c, size_t n, const char *const *refs, int64_t timeout_ms,
                   const sink *k, ray_err *err)
{
	int64_t t0 = ray_now_ms();
	size_t done;
	int rc = 0;

	for (done = 0; done < n && !rc; done += RAY_BATCH_MAX)
		rc = get_out_part(c, n - done < RAY_BATCH_MAX ? n - done : RAY_BATCH_MAX, refs + done,
		                  ray_time_left(timeout_ms, t0), k, err);
	return rc;
}

int ray_get_to_fd(ray_client *c, size_t n, const char *const *refs, int64_t timeout_ms,
                  int fd, ray_err *err)
{
	sink k = { fd, NULL };

	return get_out(c, n, refs, timeout_ms, &k, err);
}

int ray_get_to_dir(ray_client *c, size_t n, const char *const *refs, int64_t timeout_ms,
                   const char *dir, ray_err *err)
{
	sink k = { -1, dir };

	return get_out(c, n, refs, timeout_ms, &k, err);
}
