/* res.h: resource arithmetic, GPU devices and the resource JSON codecs. */
#ifndef RAY_NODE_RES_H
#define RAY_NODE_RES_H

#include "node.h"

/* The one copy of a custom resource's name, kept for the node's life;
 * NULL when s is too long (RES_NAME_MAX) or the node knows too many. */
const char *res_name(const char *s);
/* The one copy of a resource shape, kept for the node's life, which task
 * records point to (a batch's tasks at the same one): NULL when out of
 * memory or when the node knows RES_SHAPES_MAX shapes already. */
#define RES_SHAPES_MAX 65536
const res *res_intern(const res *r);
/* The quantity of custom resource name in r; 0 when r has none. */
int64_t res_custom_get(const res *r, const char *name);
/* Whether need fits in have, resource by resource. */
int res_fits(const res *need, const res *have);
/* a -= b and a += b, custom resources matched by name. */
void res_sub(res *a, const res *b);
void res_add(res *a, const res *b);
/* Caps each quantity of a at max's (a view's guess never exceeds a total). */
void res_clamp(res *a, const res *max);
/* Adds "NAME=QTY,NAME=QTY" (CPU and GPU by name too) to r. */
int res_parse_custom(res *r, const char *spec, ray_err *err);
/* Names the first resource of need that total can never give (into buf,
 * returned), or NULL when total holds it all. */
const char *res_missing(const res *need, const res *total, char *buf, size_t len);
/* The same, saying whose total it is ("(WHO has 2)"). */
const char *res_missing_on(const res *need, const res *total, const char *who, char *buf,
                           size_t len);

/* GPU devices: whole requests get whole free devices; fractions share one.
 * gpu_take writes the devices given to ids ("0,2"); gpu_give returns them
 * and clears ids.  The device count is N->total.gpu, read on first use. */
#define GPU_IDS_MAX 128   /* "0,2,..." for a task's or actor's devices */
int gpu_can_take(const res *req);
void gpu_take(const res *req, char *ids, size_t len);
void gpu_give(const res *req, char *ids);

/* Between nodes: {"cpu","gpu","mem","custom":{NAME:Q}} in raw integers.
 * res_to_json_raw returns a new object (caller owns); res_from_json_raw
 * fills r, dropping entries it cannot hold. */
cJSON *res_to_json_raw(const res *r);
void res_from_json_raw(res *r, const cJSON *j);
/* The resources a submit or actor request asks for (cpus, gpus, memory,
 * resources: ["NAME=QTY"]); RAY_EUSAGE for negative or malformed ones. */
int res_parse_request(const cJSON *o, res *r, ray_err *err);
/* For ray-status: {"CPU","GPU","memory","object_store_memory",NAME...}
 * in human units (caller owns). */
cJSON *res_json(const res *r);

#endif
