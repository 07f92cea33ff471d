/* wire.c: frames (the header, packing a whole frame, parsing one out of
 * untrusted bytes without any I/O), a growable buffer and small JSON
 * accessors that libray and ray-node share. */
#include <arpa/inet.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "rayint.h"

int rbuf_reserve(rbuf *b, size_t extra)
{
	size_t need, cap;
	char *p;

	if (extra > SIZE_MAX / 2 - b->len)
		return -1;
	need = b->len + extra;
	if (need <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap *= 2;
	p = realloc(b->p, cap);
	if (!p)
		return -1;
	b->p = p;
	b->cap = cap;
	return 0;
}

int rbuf_append(rbuf *b, const void *p, size_t n)
{
	if (rbuf_reserve(b, n))
		return -1;
	if (n)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

void rbuf_consume(rbuf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
		return;
	}
	memmove(b->p, b->p + n, b->len - n);
	b->len -= n;
}

void rbuf_release(rbuf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

void ray_hdr_pack(unsigned char out[RAY_HDR_LEN], const ray_hdr *h)
{
	uint32_t v[4] = { htonl(h->json_len), htonl(h->data_len),
	                  htonl(h->req_id), htonl(h->flags) };
	memcpy(out, v, sizeof(v));
}

void ray_hdr_unpack(ray_hdr *h, const unsigned char in[RAY_HDR_LEN])
{
	uint32_t v[4];

	memcpy(v, in, sizeof(v));
	h->json_len = ntohl(v[0]);
	h->data_len = ntohl(v[1]);
	h->req_id = ntohl(v[2]);
	h->flags = ntohl(v[3]);
}

int ray_hdr_check(const ray_hdr *h, uint32_t json_max, uint32_t data_max)
{
	if (h->json_len < 2 || h->json_len > json_max || h->data_len > data_max)
		return RAY_EUNREACH;
	return 0;
}

int64_t ray_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Random bytes for ids come from a pool filled 4 KiB at a time: a put or
 * a task takes 8 bytes, and a getrandom call for each was an eighth of
 * the node's system time in small-object round trips.  The pool is the
 * ChaCha20 stream of a key drawn from the system once per thread, with a
 * fresh nonce each fill: libsodium's randombytes_buf asks the kernel 256
 * bytes at a time, 16 system calls a fill.  The pool and key are per
 * thread and forgotten in a forked child, so no two processes hand out
 * the same bytes; secrets (more than 16 bytes: tokens) bypass it. */
static _Thread_local unsigned char pool[4096];
static _Thread_local size_t pool_left;
static _Thread_local unsigned char pool_key[crypto_stream_chacha20_KEYBYTES];
static _Thread_local uint64_t pool_fills;
static pthread_once_t pool_once = PTHREAD_ONCE_INIT;

static void pool_forget(void)
{
	sodium_memzero(pool, sizeof(pool));
	sodium_memzero(pool_key, sizeof(pool_key));
	pool_left = 0;
	pool_fills = 0;
}

static void pool_fill(void)
{
	unsigned char nonce[crypto_stream_chacha20_NONCEBYTES] = { 0 };
	uint64_t n;

	if (!pool_fills)
		randombytes_buf(pool_key, sizeof(pool_key));
	n = ++pool_fills;
	memcpy(nonce, &n, sizeof(n) < sizeof(nonce) ? sizeof(n) : sizeof(nonce));
	crypto_stream_chacha20(pool, sizeof(pool), nonce, pool_key);
	pool_left = sizeof(pool);
}

static void pool_init(void)
{
	pthread_atfork(NULL, NULL, pool_forget);
}

void ray_random_hex(char *out, size_t nbytes)
{
	unsigned char b[64];

	if (nbytes > sizeof(b))
		nbytes = sizeof(b);
	if (nbytes > 16) {
		randombytes_buf(b, nbytes);
	} else {
		pthread_once(&pool_once, pool_init);
		if (pool_left < nbytes)
			pool_fill();
		pool_left -= nbytes;
		memcpy(b, pool + pool_left, nbytes);
		sodium_memzero(pool + pool_left, nbytes);
	}
	sodium_bin2hex(out, nbytes * 2 + 1, b, nbytes);
}

const char *rj_str(const cJSON *o, const char *key)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(it) ? it->valuestring : NULL;
}

cJSON *rj_uint_item(uint64_t v)
{
	char buf[24], *p = buf + sizeof(buf) - 1;

	*p = '\0';
	do
		*--p = (char)('0' + v % 10);
	while (v /= 10);
	return cJSON_CreateRaw(p);
}

void rj_add_int(cJSON *o, const char *key, int64_t v)
{
	char buf[24];
	cJSON *it;

	if (v >= 0) {
		rj_add_uint(o, key, (uint64_t)v);
		return;
	}
	snprintf(buf, sizeof(buf), "%lld", (long long)v);
	if ((it = cJSON_CreateRaw(buf)) && !cJSON_AddItemToObject(o, key, it))
		cJSON_Delete(it);
}

int rbuf_add_uint(rbuf *b, uint64_t v)
{
	char buf[24], *p = buf + sizeof(buf);

	do
		*--p = (char)('0' + v % 10);
	while (v /= 10);
	return rbuf_append(b, p, (size_t)(buf + sizeof(buf) - p));
}

void rj_add_uint(cJSON *o, const char *key, uint64_t v)
{
	cJSON *it = rj_uint_item(v);

	if (it)
		cJSON_AddItemToObject(o, key, it);
}

int64_t rj_int(const cJSON *o, const char *key, int64_t dflt)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);

	if (!cJSON_IsNumber(it))
		return dflt;
	if (it->valuedouble > 9e18 || it->valuedouble < -9e18)
		return dflt;
	return (int64_t)it->valuedouble;
}

int rj_bool(const cJSON *o, const char *key)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsTrue(it) || (cJSON_IsNumber(it) && it->valuedouble != 0);
}

char *ray_frame_pack(uint32_t req_id, const cJSON *js, const void *data, size_t dlen,
                     size_t *len)
{
	char *text = cJSON_PrintUnformatted(js), *buf;
	size_t jl;
	ray_hdr h;

	if (!text)
		return NULL;
	jl = strlen(text);
	if (jl > RAY_JSON_MAX || dlen > RAY_DATA_MAX ||
	    !(buf = malloc(RAY_HDR_LEN + jl + (data ? dlen : 0)))) {
		free(text);
		return NULL;
	}
	h.json_len = (uint32_t)jl;
	h.data_len = (uint32_t)dlen;
	h.req_id = req_id;
	h.flags = 0;
	ray_hdr_pack((unsigned char *)buf, &h);
	memcpy(buf + RAY_HDR_LEN, text, jl);
	if (data && dlen)
		memcpy(buf + RAY_HDR_LEN + jl, data, dlen);
	free(text);
	*len = RAY_HDR_LEN + jl + (data ? dlen : 0);
	return buf;
}

int ray_frame_parse(const char *buf, size_t len, ray_frame *f)
{
	ray_hdr h;

	memset(f, 0, sizeof(*f));
	if (len < RAY_HDR_LEN)
		return 0;
	ray_hdr_unpack(&h, (const unsigned char *)buf);
	if (ray_hdr_check(&h, RAY_JSON_MAX, RAY_DATA_MAX))
		return RAY_EUNREACH;
	f->total = RAY_HDR_LEN + (size_t)h.json_len + h.data_len;
	if (len < f->total)
		return 0;
	f->js = cJSON_ParseWithLength(buf + RAY_HDR_LEN, h.json_len);
	if (!f->js || !cJSON_IsObject(f->js)) {
		cJSON_Delete(f->js);
		f->js = NULL;
		return RAY_EUNREACH;
	}
	f->req_id = h.req_id;
	f->flags = h.flags;
	f->data = buf + RAY_HDR_LEN + h.json_len;
	f->dlen = h.data_len;
	return 1;
}

/* ---- packed lists ----
 * The hot path's lists (a get's refs and sizes, a put's sizes and refs)
 * may travel as one JSON string of space-separated words instead of an
 * array: parsing an array of 16 costs a cJSON item and a string or a
 * strtod apiece on each side, which was a third of a small get's CPU. */

size_t ray_packed_count(const char *s)
{
	size_t n = 0;

	for (;;) {
		while (*s == ' ')
			s++;
		if (!*s)
			return n;
		n++;
		s = strchrnul(s, ' ');
	}
}

const char *ray_packed_word(const char *s, char *buf, size_t len)
{
	const char *e;

	while (*s == ' ')
		s++;
	if (!*s)
		return NULL;
	e = strchrnul(s, ' ');
	if ((size_t)(e - s) >= len)
		return NULL;
	memcpy(buf, s, (size_t)(e - s));
	buf[e - s] = '\0';
	return e;
}

const char *ray_packed_uint(const char *s, uint64_t *v)
{
	uint64_t x = 0;

	while (*s == ' ')
		s++;
	if (*s < '0' || *s > '9')
		return NULL;
	for (; *s >= '0' && *s <= '9'; s++) {
		uint64_t d = (uint64_t)(*s - '0');
		if (x > (UINT64_MAX - d) / 10)
			return NULL;
		x = x * 10 + d;
	}
	if (*s && *s != ' ')
		return NULL;
	*v = x;
	return s;
}

int rbuf_add_word(rbuf *b, const char *w)
{
	return (b->len && rbuf_append(b, " ", 1)) || rbuf_append(b, w, strlen(w));
}
