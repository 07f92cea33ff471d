/* put.h: putting objects into the store, and reading them in parts (put.c). */
#ifndef PUT_H
#define PUT_H

#include "node.h"

int store_put_inline(const char *data, size_t len, char ref[RAY_REF_MAX + 1]);
/* Moves store/tmp/NAME into place as o's sealed file. */
int store_seal_file(const char *tmpname, obj *o, ray_err *err);
/* Spills to make room, then answers the puts that waited for it. */
void store_pressure(void);
void op_put(conn *c, uint32_t id, cJSON *req, const char *data, size_t dlen);
void op_put_part(conn *c, uint32_t id, cJSON *req, const char *data, size_t dlen);
void op_seal(conn *c, uint32_t id, cJSON *req);
void op_get_part(conn *c, uint32_t id, cJSON *req);

#endif
