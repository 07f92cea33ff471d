/* uvread.h: reading a child's output pipe into a byte buffer (uvread.c). */
#ifndef RAY_NODE_UVREAD_H
#define RAY_NODE_UVREAD_H

#include <uv.h>

#include "rayint.h"

/* For a libuv alloc callback: room at the end of rx (64 KiB at least),
 * or an empty buffer when rx cannot grow (libuv then reports ENOBUFS). */
void uvr_room(rbuf *rx, uv_buf_t *b);

/*
 * The child has exited: what it wrote last may still sit in the pipe s,
 * unread.  Reads it all into rx now, calling took(ud) after each read,
 * until the pipe is empty or took returns nonzero.  Nothing is read when s
 * is no longer being read (uv_read_stop), or is not non-blocking.
 */
void uvr_drain(uv_stream_t *s, rbuf *rx, int (*took)(void *ud), void *ud);

#endif
