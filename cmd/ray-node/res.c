/*
 * res.c: resource quantities and the devices behind them.  Every CPU, GPU
 * and custom amount is a fixed-point count of ten-thousandths, so pools
 * add and subtract exactly; custom resources sit in a small named array.
 * GPUs are also handed out as device numbers (CUDA_VISIBLE_DEVICES), and
 * resources cross the wire in one of two JSON shapes: raw integers between
 * nodes (res_to_json_raw/res_from_json_raw), and human units for
 * ray-status (res_json).  Keeping the codecs here means a field added to
 * res is added to every message at once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node.h"
#include "res.h"

/* Interned names: at most this many distinct ones, kept for the node's
 * life (peers' words are bounded by it too). */
#define RES_NAMES_MAX 4096
static map names;

const char *res_name(const char *s)
{
	char *p = s ? map_get(&names, s) : NULL;

	if (p || !s || strlen(s) >= RES_NAME_MAX || names.len >= RES_NAMES_MAX)
		return p;
	if (!(p = strdup(s)))
		return NULL;
	if (map_put(&names, p, p)) {
		free(p);
		return NULL;
	}
	return p;
}

static map shapes;

const res *res_intern(const res *r)
{
	char key[64 + MAX_CUSTOM * 32], *k;
	size_t o;
	res *p;
	int i;

	/* The key: the quantities, and each name's interned pointer. */
	o = (size_t)snprintf(key, sizeof(key), "%lld,%lld,%lld", (long long)r->cpu, (long long)r->gpu,
	                     (long long)r->mem);
	for (i = 0; i < r->ncustom && i < MAX_CUSTOM && o < sizeof(key); i++)
		o += (size_t)snprintf(key + o, sizeof(key) - o, ",%p=%lld", (const void *)r->custom[i].name,
		                      (long long)r->custom[i].q);
	if ((p = map_get(&shapes, key)))
		return p;
	if (shapes.len >= RES_SHAPES_MAX || !(p = malloc(sizeof(*p) + strlen(key) + 1)))
		return NULL;
	*p = *r;
	k = (char *)(p + 1);
	memcpy(k, key, strlen(key) + 1);
	if (map_put(&shapes, k, p)) {
		free(p);
		return NULL;
	}
	return p;
}

int64_t res_custom_get(const res *r, const char *name)
{
	int i;

	for (i = 0; i < r->ncustom; i++)
		if (!strcmp(r->custom[i].name, name))
			return r->custom[i].q;
	return 0;
}

static int64_t *custom_slot(res *r, const char *name)
{
	int i;

	for (i = 0; i < r->ncustom; i++)
		if (!strcmp(r->custom[i].name, name))
			return &r->custom[i].q;
	if (r->ncustom == MAX_CUSTOM || !(r->custom[r->ncustom].name = res_name(name)))
		return NULL;
	r->custom[r->ncustom].q = 0;
	return &r->custom[r->ncustom++].q;
}

int res_fits(const res *need, const res *have)
{
	int i;

	if (need->cpu > have->cpu || need->gpu > have->gpu || need->mem > have->mem)
		return 0;
	for (i = 0; i < need->ncustom; i++)
		if (need->custom[i].q > res_custom_get(have, need->custom[i].name))
			return 0;
	return 1;
}

void res_sub(res *a, const res *b)
{
	int i;

	a->cpu -= b->cpu;
	a->gpu -= b->gpu;
	a->mem -= b->mem;
	for (i = 0; i < b->ncustom; i++) {
		int64_t *q = custom_slot(a, b->custom[i].name);
		if (q)
			*q -= b->custom[i].q;
	}
}

void res_add(res *a, const res *b)
{
	int i;

	a->cpu += b->cpu;
	a->gpu += b->gpu;
	a->mem += b->mem;
	for (i = 0; i < b->ncustom; i++) {
		int64_t *q = custom_slot(a, b->custom[i].name);
		if (q)
			*q += b->custom[i].q;
	}
}

/* Caps each quantity of a at max's (a view's guess never exceeds a total). */
void res_clamp(res *a, const res *max)
{
	int i;

	if (a->cpu > max->cpu)
		a->cpu = max->cpu;
	if (a->gpu > max->gpu)
		a->gpu = max->gpu;
	if (a->mem > max->mem)
		a->mem = max->mem;
	for (i = 0; i < a->ncustom; i++)
		if (a->custom[i].q > res_custom_get(max, a->custom[i].name))
			a->custom[i].q = res_custom_get(max, a->custom[i].name);
}

static int res_add_one(res *r, const char *item, ray_err *err)
{
	char name[RES_NAME_MAX];
	const char *eq = strchr(item, '=');
	int64_t q;
	size_t nl;
	int64_t *slot;

	if (!eq || eq == item || (nl = (size_t)(eq - item)) >= sizeof(name))
		return ray_seterr(err, RAY_EUSAGE, "bad resource '%.80s': want NAME=QTY", item);
	memcpy(name, item, nl);
	name[nl] = '\0';
	if (ray_parse_qty(eq + 1, &q))
		return ray_seterr(err, RAY_EUSAGE, "bad quantity in resource '%.80s'", item);
	if (!strcmp(name, "CPU")) {
		r->cpu = q;
		return 0;
	}
	if (!strcmp(name, "GPU")) {
		r->gpu = q;
		return 0;
	}
	slot = custom_slot(r, name);
	if (!slot)
		return ray_seterr(err, RAY_EUSAGE, "too many custom resources (at most %d)", MAX_CUSTOM);
	*slot = q;
	return 0;
}

int res_parse_custom(res *r, const char *spec, ray_err *err)
{
	char buf[1024], *p, *save = NULL, *tok;
	int rc;

	if (strlen(spec) >= sizeof(buf))
		return ray_seterr(err, RAY_EUSAGE, "resource list too long");
	snprintf(buf, sizeof(buf), "%s", spec);
	for (p = buf; (tok = strtok_r(p, ",", &save)); p = NULL)
		if ((rc = res_add_one(r, tok, err)))
			return rc;
	return 0;
}

/* Names the first resource of need that total can never give, or NULL. */
const char *res_missing(const res *need, const res *total, char *buf, size_t len)
{
	return res_missing_on(need, total, "the largest node", buf, len);
}

const char *res_missing_on(const res *need, const res *total, const char *who, char *buf,
                           size_t len)
{
	int i;

	if (need->cpu > total->cpu) {
		snprintf(buf, len, "%g CPU (%s has %g)", need->cpu / 1e4, who, total->cpu / 1e4);
		return buf;
	}
	if (need->gpu > total->gpu) {
		snprintf(buf, len, "%g GPU (%s has %g)", need->gpu / 1e4, who, total->gpu / 1e4);
		return buf;
	}
	if (need->mem > total->mem) {
		char a[32], b[32];
		snprintf(buf, len, "%s of memory (the largest node has %s)",
		         ray_fmt_size((uint64_t)need->mem, a, sizeof(a)), ray_fmt_size((uint64_t)total->mem, b, sizeof(b)));
		return buf;
	}
	for (i = 0; i < need->ncustom; i++)
		if (need->custom[i].q > res_custom_get(total, need->custom[i].name)) {
			snprintf(buf, len, "%g %s", need->custom[i].q / 1e4, need->custom[i].name);
			return buf;
		}
	return NULL;
}

/* ---- GPU devices: whole requests get whole free devices; fractions
 * share one, packed onto the fullest device that still has room. ---- */

#define MAX_GPUS 64
static int64_t gpu_left[MAX_GPUS];
static int gpu_init;

static int gpu_count(void)
{
	int64_t n = N->total.gpu / QTY_ONE;

	return n > MAX_GPUS ? MAX_GPUS : (int)n;
}

static void gpu_setup(void)
{
	int i, n = gpu_count();

	if (!gpu_init) {
		for (i = 0; i < n; i++)
			gpu_left[i] = QTY_ONE;
		gpu_init = 1;
	}
}

/* Whether gpu_take would find devices for req now: the GPU count in the
 * pool is not enough, since fractions may leave no device whole. */
int gpu_can_take(const res *req)
{
	int n = gpu_count(), i, k = 0, want;

	if (req->gpu <= 0 || n == 0)
		return 1;
	gpu_setup();
	if (req->gpu < QTY_ONE) {
		for (i = 0; i < n; i++)
			if (gpu_left[i] >= req->gpu)
				return 1;
		return 0;
	}
	want = (int)((req->gpu + QTY_ONE - 1) / QTY_ONE);
	for (i = 0; i < n; i++)
		k += gpu_left[i] == QTY_ONE;
	return k >= want;
}

void gpu_take(const res *req, char *ids, size_t len)
{
	int n = gpu_count(), i, k, want;
	size_t o = 0;

	ids[0] = '\0';
	if (req->gpu <= 0 || n == 0)
		return;
	gpu_setup();
	if (req->gpu < QTY_ONE) {
		int best = -1;
		for (i = 0; i < n; i++)
			if (gpu_left[i] >= req->gpu && (best < 0 || gpu_left[i] < gpu_left[best]))
				best = i;
		if (best >= 0) {
			gpu_left[best] -= req->gpu;
			snprintf(ids, len, "%d", best);
		}
		return;
	}
	want = (int)((req->gpu + QTY_ONE - 1) / QTY_ONE);
	for (i = 0, k = 0; i < n && k < want; i++)
		if (gpu_left[i] == QTY_ONE) {
			gpu_left[i] = 0;
			o += (size_t)snprintf(ids + o, o < len ? len - o : 0, "%s%d", k ? "," : "", i);
			k++;
		}
}

void gpu_give(const res *req, char *ids)
{
	char *p = ids, *end;
	int64_t each = req->gpu < QTY_ONE ? req->gpu : QTY_ONE;

	while (*p) {
		long i = strtol(p, &end, 10);
		if (end == p)
			break;
		if (i >= 0 && i < MAX_GPUS) {
			gpu_left[i] += each;
			if (gpu_left[i] > QTY_ONE)
				gpu_left[i] = QTY_ONE;
		}
		p = *end == ',' ? end + 1 : end;
	}
	ids[0] = '\0';
}

/* ---- JSON ---- */

/* r between nodes: exact integers, as {"cpu","gpu","mem","custom":{}}. */
cJSON *res_to_json_raw(const res *r)
{
	cJSON *j = cJSON_CreateObject(), *c;
	int i;

	cJSON_AddNumberToObject(j, "cpu", (double)r->cpu);
	cJSON_AddNumberToObject(j, "gpu", (double)r->gpu);
	cJSON_AddNumberToObject(j, "mem", (double)r->mem);
	c = cJSON_AddObjectToObject(j, "custom");
	for (i = 0; i < r->ncustom; i++)
		cJSON_AddNumberToObject(c, r->custom[i].name, (double)r->custom[i].q);
	return j;
}

/* The inverse of res_to_json_raw.  A peer's word is not trusted: entries
 * that are not numbers, names too long, quantities no int64_t holds and
 * customs past MAX_CUSTOM are dropped, never stored. */
void res_from_json_raw(res *r, const cJSON *j)
{
	const cJSON *c = cJSON_GetObjectItemCaseSensitive(j, "custom"), *it;

	memset(r, 0, sizeof(*r));
	r->cpu = rj_int(j, "cpu", 0);
	r->gpu = rj_int(j, "gpu", 0);
	r->mem = rj_int(j, "mem", 0);
	cJSON_ArrayForEach(it, c) {
		int64_t *q;
		if (!cJSON_IsNumber(it) || !it->string || strlen(it->string) >= RES_NAME_MAX ||
		    it->valuedouble > 9e18 || it->valuedouble < -9e18)
			continue;
		q = custom_slot(r, it->string);
		if (q)
			*q = (int64_t)it->valuedouble;
	}
}

/* r for people (ray-status): CPU and GPU in units, memory in bytes, and
 * this node's object store size beside them. */
cJSON *res_json(const res *r)
{
	cJSON *j = cJSON_CreateObject();
	int i;

	cJSON_AddNumberToObject(j, "CPU", r->cpu / 1e4);
	cJSON_AddNumberToObject(j, "GPU", r->gpu / 1e4);
	cJSON_AddNumberToObject(j, "memory", (double)r->mem);
	cJSON_AddNumberToObject(j, "object_store_memory", (double)N->store_cap);
	for (i = 0; i < r->ncustom; i++)
		cJSON_AddNumberToObject(j, r->custom[i].name, r->custom[i].q / 1e4);
	return j;
}

/* The resources a task or actor asks for. */
int res_parse_request(const cJSON *o, res *r, ray_err *err)
{
	const cJSON *a, *it;
	int64_t cpus = rj_int(o, "cpus", QTY_ONE);
	int rc;

	memset(r, 0, sizeof(*r));
	r->cpu = cpus < 0 ? 0 : cpus;
	r->gpu = rj_int(o, "gpus", 0);
	r->mem = rj_int(o, "memory", 0);
	if (r->gpu < 0 || r->mem < 0)
		return ray_seterr(err, RAY_EUSAGE, "negative resource request");
	a = cJSON_GetObjectItemCaseSensitive(o, "resources");
	cJSON_ArrayForEach(it, a) {
		if (!cJSON_IsString(it))
			return ray_seterr(err, RAY_EUSAGE, "bad resource");
		if ((rc = res_add_one(r, it->valuestring, err)))
			return rc;
	}
	return 0;
}
