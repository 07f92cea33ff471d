/* uvwrite.h: writing an owned buffer to a libuv stream (uvwrite.c). */
#ifndef RAY_NODE_UVWRITE_H
#define RAY_NODE_UVWRITE_H

#include <uv.h>

#include "rayint.h"

/* Called once the bytes are written (status < 0: they were not). */
typedef void (*uvw_done)(uv_stream_t *s, int status);

/* Writes buf (owned from here on, freed once written or on failure), then
 * data (not owned: used before this returns; may be NULL), to s: sealed
 * into records when sec is on, else as they are.  done may be NULL.  0, or
 * a libuv or RAY_E... error (nothing was queued). */
int uvw_write(uv_stream_t *s, char *buf, size_t len, const void *data, size_t dlen, ray_sec *sec,
              uvw_done done);

#endif
