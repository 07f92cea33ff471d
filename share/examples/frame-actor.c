/*
 * frame-actor.c: an actor in C speaking the `frame` protocol (see
 * docs/actor-protocols.md), so methods, arguments and results may hold any
 * bytes: TABs, newlines, NULs.  It serves one call at a time:
 *
 *   echo ARG...    the arguments joined by NUL bytes (one argument: itself)
 *   items ARG...   each argument as one item, for `call --num-returns N`
 *   file PATH      the bytes of the file PATH (pass an object as @REF)
 *   put ARG        stores ARG as a new object with libray's ray_put and
 *                  answers with its ref: an actor is a client of the cluster
 *   fail MSG       fails with MSG (status 1: ray-get exits 1)
 *
 * Build and run (from the source tree; with ray-tools installed use
 * `pkg-config --cflags --libs ray` instead):
 *
 *   cc -Iinclude -o frame-actor share/examples/frame-actor.c lib/libray.a \
 *      $(pkg-config --libs libuv libcjson libsodium libcurl)
 *   ray-actor create --name fa --protocol frame -- ./frame-actor
 *   ray-actor call fa echo "$(printf 'a\tb\nc')" | ray-get
 *
 * A request is u32 length, u32 call id, u32 method length, method, u32
 * nargs, then per argument u32 length and bytes; an answer is u32 length,
 * u32 call id, u8 status, payload (all integers big-endian).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ray.h>

typedef struct {
	const char *p;
	uint32_t len;
} bytes;

static uint32_t get_u32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_u32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

/* 1: got n bytes, 0: clean end of input, -1: error or a short read. */
static int read_full(void *buf, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = read(0, (char *)buf + got, n - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return got == 0 && r == 0 ? 0 : -1;
		got += (size_t)r;
	}
	return 1;
}

static int write_full(const void *buf, size_t n)
{
	while (n > 0) {
		ssize_t w = write(1, buf, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		buf = (const char *)buf + w;
		n -= (size_t)w;
	}
	return 0;
}

/* The whole answer in one write, so it reaches the pipe whole. */
static int answer(uint32_t id, int status, const void *payload, size_t len)
{
	unsigned char *m = malloc(9 + len);
	int rc;

	if (!m)
		return -1;
	put_u32(m, (uint32_t)(5 + len));
	put_u32(m + 4, id);
	m[8] = (unsigned char)status;
	if (len)
		memcpy(m + 9, payload, len);
	rc = write_full(m, 9 + len);
	free(m);
	return rc;
}

static int fail(uint32_t id, const char *msg)
{
	return answer(id, 1, msg, strlen(msg));
}

static int serve(uint32_t id, bytes method, bytes *args, uint32_t nargs)
{
	char *out = NULL, err[1100];
	size_t len = 0, i;
	int rc;

#define IS(name) (method.len == strlen(name) && !memcmp(method.p, name, method.len))
	if (IS("echo") || IS("items")) {
		int items = IS("items");
		for (i = 0; i < nargs; i++)
			len += args[i].len + (items ? 4 : i > 0);
		if (!(out = malloc(len + 1)))
			return fail(id, "out of memory");
		for (len = 0, i = 0; i < nargs; i++) {
			if (items)
				put_u32((unsigned char *)out + len, args[i].len), len += 4;
			else if (i > 0)
				out[len++] = '\0';
			memcpy(out + len, args[i].p, args[i].len);
			len += args[i].len;
		}
	} else if (IS("file") && nargs == 1) {
		char *path = strndup(args[0].p, args[0].len);
		FILE *f = path ? fopen(path, "rb") : NULL;
		size_t cap = 0, n;
		free(path);
		if (!f)
			return fail(id, "cannot open the file");
		do {
			char *bigger = realloc(out, cap += 65536);
			if (!bigger) {
				fclose(f);
				free(out);
				return fail(id, "out of memory");
			}
			out = bigger;
			len += n = fread(out + len, 1, cap - len, f);
		} while (n > 0);
		fclose(f);
	} else if (IS("put") && nargs == 1) {
		ray_client *c = NULL;
		ray_err e = { 0, "" };
		char ref[RAY_REF_MAX + 1];
		rc = ray_connect(&c, NULL, NULL, &e);
		if (!rc)
			rc = ray_put(c, args[0].p, args[0].len, ref, &e);
		ray_client_free(c);
		if (rc) {
			snprintf(err, sizeof(err), "put: %s", e.msg);
			return fail(id, err);
		}
		return answer(id, 0, ref, strlen(ref));
	} else if (IS("fail")) {
		return answer(id, 1, nargs ? args[0].p : "failed", nargs ? args[0].len : 6);
	} else {
		snprintf(err, sizeof(err), "no method '%.*s' (try echo, items, file, put, fail)",
		         (int)(method.len > 64 ? 64 : method.len), method.p);
		return fail(id, err);
	}
#undef IS
	rc = answer(id, 0, out, len);
	free(out);
	return rc;
}

int main(void)
{
	unsigned char hdr[4], *body = NULL;
	bytes method, *args = NULL;
	int r;

	while ((r = read_full(hdr, 4)) == 1) {
		uint32_t len = get_u32(hdr), off, nargs, i, id;
		free(body);
		free(args);
		args = NULL;
		if (len < 12 || !(body = malloc(len)) || read_full(body, len) != 1)
			goto bad;
		id = get_u32(body);
		method.len = get_u32(body + 4);
		if (method.len > len - 12)
			goto bad;
		method.p = (const char *)body + 8;
		off = 8 + method.len;
		nargs = get_u32(body + off);
		off += 4;
		if (nargs > (len - off) / 4 || !(args = calloc(nargs + 1, sizeof(*args))))
			goto bad;
		for (i = 0; i < nargs; i++) {
			if (len - off < 4 || get_u32(body + off) > len - off - 4)
				goto bad;
			args[i].len = get_u32(body + off);
			args[i].p = (const char *)body + off + 4;
			off += 4 + args[i].len;
		}
		if (serve(id, method, args, nargs))
			return 1;   /* stdout is gone: the node is stopping us */
	}
	free(body);
	free(args);
	return r == 0 ? 0 : 1;
bad:
	fputs("frame-actor: malformed request\n", stderr);
	return 1;
}
