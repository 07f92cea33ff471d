/*
 * sink.c: a task's stdout carried into its return file by the node, for a
 * task in a memory cgroup.  The store is on tmpfs, and tmpfs pages are
 * charged to the cgroup of the process that writes them: a task writing its
 * output there itself would have its result counted as its memory, and a
 * 50 MiB task printing 100 MiB would be killed.  Its stdout is a pipe
 * instead, which the node splices into the file (the pages are then the
 * node's), as the bytes come, from a libuv poll.  Each callback moves at
 * most SINK_BURST bytes, so one chatty task cannot hold the loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "node.h"
#include "sink.h"

#define SINK_CHUNK (1 << 20)
#define SINK_BURST (16 << 20)

typedef struct sink {
	const void *owner;
	int rfd, ffd;
	int eof;                  /* the pipe is done, or the file failed */
	uv_poll_t poll;
	struct sink *next;
} sink;

static sink *sinks;

/* Moves what the pipe holds, up to max bytes: 1 at the end of the pipe
 * (or on an error, after which the task's writes fail with EPIPE), else 0. */
static int move(sink *s, size_t max)
{
	size_t done = 0;

	while (done < max) {
		ssize_t n = splice(s->rfd, NULL, s->ffd, NULL, SINK_CHUNK, SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
		if (n > 0) {
			done += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		return 1;
	}
	return 0;
}

static void on_readable(uv_poll_t *h, int status, int events)
{
	sink *s = h->data;

	(void)events;
	if (status < 0 || move(s, SINK_BURST)) {
		s->eof = 1;
		uv_poll_stop(h);
	}
}

int sink_open(const void *owner, int file_fd)
{
	sink *s = calloc(1, sizeof(*s));
	int p[2];

	if (!s)
		return -1;
	if (pipe2(p, O_CLOEXEC)) {
		free(s);
		return -1;
	}
	s->owner = owner;
	s->rfd = p[0];
	s->ffd = file_fd;
	fcntl(s->rfd, F_SETFL, O_NONBLOCK);
	if (uv_poll_init(N->loop, &s->poll, s->rfd) ||
	    uv_poll_start(&s->poll, UV_READABLE | UV_DISCONNECT, on_readable)) {
		close(p[0]);
		close(p[1]);
		free(s);
		return -1;
	}
	s->poll.data = s;
	s->next = sinks;
	sinks = s;
	return p[1];
}

static void on_closed(uv_handle_t *h)
{
	sink *s = h->data;

	close(s->rfd);
	close(s->ffd);
	free(s);
}

int sink_close(const void *owner)
{
	sink **pp, *s;

	for (pp = &sinks; (s = *pp) && s->owner != owner; pp = &s->next)
		;
	if (!s)
		return 0;
	*pp = s->next;
	/* The task is gone: what it wrote is in the pipe, at most a pipe's
	 * worth, unless something it left behind still writes. */
	if (!s->eof)
		move(s, SINK_BURST);
	uv_close((uv_handle_t *)&s->poll, on_closed);
	return 1;
}

void sinks_close_all(void)
{
	while (sinks)
		sink_close(sinks->owner);
}
