/*
 * uvread.c: the reading side of a child's pipe, shared by actors and
 * pooled workers: room for libuv's reads in the child's answer buffer, and
 * the last bytes of a child that has exited, read before its pipe is
 * closed, so an answer followed by an exit is not lost.
 */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "uvread.h"

void uvr_room(rbuf *rx, uv_buf_t *b)
{
	if (rbuf_reserve(rx, 65536)) {
		*b = uv_buf_init(NULL, 0);
		return;
	}
	*b = uv_buf_init(rx->p + rx->len, (unsigned)(rx->cap - rx->len));
}

void uvr_drain(uv_stream_t *s, rbuf *rx, int (*took)(void *ud), void *ud)
{
	uv_os_fd_t fd;

	if (!uv_is_active((uv_handle_t *)s) || uv_fileno((uv_handle_t *)s, &fd) ||
	    !(fcntl(fd, F_GETFL) & O_NONBLOCK))
		return;
	for (;;) {
		ssize_t n;
		if (rbuf_reserve(rx, 65536))
			return;
		n = read(fd, rx->p + rx->len, rx->cap - rx->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		rx->len += (size_t)n;
		if (took(ud))
			return;
	}
}
