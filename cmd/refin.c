/*
 * refin.c: refs read from a pipe as they come.  `ray-submit --stream | ray-get`
 * and `ray-submit --batch | ray-get` overlap only if ray-get asks for the
 * first objects while the producer still writes refs; reading to EOF first
 * made the pipe as slow as its two halves one after the other.  A chunk
 * ends where the pipe has nothing more to give at once (or at max refs),
 * so a fast producer still yields large batches.  (Waiting up to 1 ms for
 * more refs before a small chunk goes halved the node's gets on a fast
 * stream, but once a get of 64 refs was cheap it gained nothing there.)
 */
#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "refin.h"

struct refin {
	int fd, eof;
	char buf[65536];
	size_t len;               /* bytes in buf not yet taken */
	char **refs;              /* the last chunk: pointers into slots */
	char (*slots)[RAY_REF_MAX + 1]; /* owned: a copy per ref, kept for the next chunk */
	size_t n, cap;
};

refin *refin_new(int fd)
{
	refin *r = calloc(1, sizeof(*r));

	if (r)
		r->fd = fd;
	return r;
}

void refin_free(refin *r)
{
	if (!r)
		return;
	free(r->refs);
	free(r->slots);
	free(r);
}

/* Copies a ref into the chunk: slots reused chunk after chunk, not an
 * allocation per ref (a tenth of ray-get's CPU on a fast stream). */
static int push(refin *r, const char *s, size_t len, ray_err *err)
{
	char *d;

	if (memchr(s, '\0', len))
		return ray_seterr(err, RAY_EUSAGE, "a NUL byte among the refs on stdin");
	if (len > RAY_REF_MAX)
		return ray_seterr(err, RAY_EUSAGE, "malformed ref '%.*s...': too long", 40, s);
	if (r->n == r->cap) {
		size_t nc = r->cap ? r->cap * 2 : 256;
		char **nv = realloc(r->refs, nc * sizeof(*nv));
		char (*ns)[RAY_REF_MAX + 1];
		size_t i;
		if (nv)
			r->refs = nv;
		if (!nv || !(ns = realloc(r->slots, nc * sizeof(*ns))))
			return ray_seterr(err, RAY_EUSAGE, "out of memory");
		r->slots = ns;
		r->cap = nc;
		for (i = 0; i < r->n; i++)
			r->refs[i] = r->slots[i];
	}
	d = r->slots[r->n];
	memcpy(d, s, len);
	d[len] = '\0';
	if (!ray_ref_valid(d))
		return ray_seterr(err, RAY_EUSAGE, "malformed ref '%.80s': want up to %d lowercase hex digits",
		                  d, RAY_REF_MAX);
	r->refs[r->n++] = d;
	return 0;
}

/* Takes the complete words in buf (all of them at EOF). */
static int take_words(refin *r, size_t max, ray_err *err)
{
	size_t i = 0, start, done = 0;
	int rc;

	while (r->n < max) {
		while (i < r->len && isspace((unsigned char)r->buf[i]))
			i++;
		done = i;
		start = i;
		while (i < r->len && !isspace((unsigned char)r->buf[i]))
			i++;
		if (i == start || (i == r->len && !r->eof))
			break;   /* nothing, or a word the next read may continue */
		if ((rc = push(r, r->buf + start, i - start, err)))
			return rc;
		done = i;
	}
	if (done == 0 && r->len == sizeof(r->buf))
		return ray_seterr(err, RAY_EUSAGE, "malformed ref '%.40s...': too long", r->buf);
	memmove(r->buf, r->buf + done, r->len - done);
	r->len -= done;
	return 0;
}

static int readable_now(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, 0) > 0;
}

int refin_next(refin *r, size_t max, char ***refs, size_t *n, int *eof, ray_err *err)
{
	ssize_t got;
	int rc;

	r->n = 0;
	for (;;) {
		if ((rc = take_words(r, max, err)))
			return rc;
		/* A chunk ends when full, at the end, or when the pipe has no
		 * more for now and some refs are in hand. */
		if (r->n >= max || r->eof || (r->n && !readable_now(r->fd)))
			break;
		got = read(r->fd, r->buf + r->len, sizeof(r->buf) - r->len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return ray_seterr(err, RAY_EUSAGE, "cannot read refs from stdin: %s", strerror(errno));
		if (got == 0)
			r->eof = 1;
		r->len += (size_t)got;
	}
	*refs = r->refs;
	*n = r->n;
	*eof = r->eof && !r->len;
	return 0;
}
