/*
 * reply.c: a reply too large for one frame, sent as several.  The sender
 * splits the reply's largest array over frames of at most RAY_REPLY_CHUNK
 * bytes of JSON, each flagged RAY_FLAG_MORE but the last; the last carries
 * the reply's other members and its data.  The receiver merges the frames
 * of one request id back into one reply (arrays appended in order, other
 * members taken from the frame that has them), so no list or batch is ever
 * refused or cut for its size, and a caller sees one reply as before.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rayint.h"

/* Appends one frame to out: the header, then the JSON text j. */
static int emit(rbuf *out, uint32_t req_id, uint32_t flags, size_t dlen, const rbuf *j)
{
	unsigned char hdr[RAY_HDR_LEN];
	ray_hdr h;

	if (j->len > RAY_JSON_MAX)
		return -1;
	h.json_len = (uint32_t)j->len;
	h.data_len = (uint32_t)dlen;
	h.req_id = req_id;
	h.flags = flags;
	ray_hdr_pack(hdr, &h);
	return rbuf_append(out, hdr, sizeof(hdr)) || rbuf_append(out, j->p, j->len) ? -1 : 0;
}

/* The top-level array of js with the most items (NULL when none has two). */
static cJSON *largest_array(cJSON *js)
{
	cJSON *it, *best = NULL;
	int most = 1, n;

	cJSON_ArrayForEach(it, js)
		if (cJSON_IsArray(it) && it->string && (n = cJSON_GetArraySize(it)) > most) {
			best = it;
			most = n;
		}
	return best;
}

/* Starts a frame's JSON in j: `{` then, for the last frame, the other
 * members (rest less its closing brace) and a comma, then `"KEY":[`. */
static int frame_start(rbuf *j, const char *rest, const char *key)
{
	size_t rl = rest ? strlen(rest) : 0;

	j->len = 0;
	if (rbuf_append(j, "{", 1))
		return -1;
	if (rl > 2 && (rbuf_append(j, rest + 1, rl - 2) || rbuf_append(j, ",", 1)))
		return -1;
	return rbuf_append(j, key, strlen(key)) || rbuf_append(j, ":[", 2) ? -1 : 0;
}

/* The frames of js split on big: `{"KEY":[...]}` while more follow, then
 * the other members with the last items.  big is back in js on return. */
static char *pack_split(uint32_t req_id, cJSON *js, cJSON *big, size_t dlen, size_t *len)
{
	rbuf out = { 0 }, cur = { 0 }, j = { 0 };
	cJSON *keyj = cJSON_CreateString(big->string), *it;
	char *key = keyj ? cJSON_PrintUnformatted(keyj) : NULL, *rest = NULL, *s;
	int ok = key != NULL;

	cJSON_Delete(keyj);
	/* The other members, printed once, without the array. */
	if (ok) {
		char *name = strdup(big->string);
		cJSON_DetachItemViaPointer(js, big);
		rest = cJSON_PrintUnformatted(js);
		if (name)
			cJSON_AddItemToObject(js, name, big);
		else
			cJSON_Delete(big);
		free(name);
		ok = rest && name;
	}
	for (it = ok ? big->child : NULL; it; it = it->next) {
		size_t sl;
		if (!(s = cJSON_PrintUnformatted(it))) {
			ok = 0;
			break;
		}
		sl = strlen(s);
		if (cur.len && cur.len + sl + 1 > RAY_REPLY_CHUNK) {
			ok = !frame_start(&j, NULL, key) && !rbuf_append(&j, cur.p, cur.len) &&
			     !rbuf_append(&j, "]}", 2) && !emit(&out, req_id, RAY_FLAG_MORE, 0, &j);
			cur.len = 0;
		}
		if (ok && cur.len)
			ok = !rbuf_append(&cur, ",", 1);
		if (ok)
			ok = !rbuf_append(&cur, s, sl);
		free(s);
		if (!ok)
			break;
	}
	if (ok)
		ok = !frame_start(&j, rest, key) && !rbuf_append(&j, cur.p ? cur.p : "", cur.len) &&
		     !rbuf_append(&j, "]}", 2) && !emit(&out, req_id, 0, dlen, &j);
	free(rest);
	free(key);
	rbuf_release(&cur);
	rbuf_release(&j);
	if (!ok) {
		rbuf_release(&out);
		return NULL;
	}
	*len = out.len;
	return out.p;
}

char *ray_reply_pack(uint32_t req_id, cJSON *js, size_t dlen, size_t *len)
{
	cJSON *big;
	char *buf = ray_frame_pack(req_id, js, NULL, dlen, len);

	if (buf || dlen > RAY_DATA_MAX || !(big = largest_array(js)))
		return buf;
	return pack_split(req_id, js, big, dlen, len);
}

int ray_reply_merge(cJSON *into, cJSON *more)
{
	cJSON *m;

	while ((m = more->child)) {
		cJSON *have = m->string ? cJSON_GetObjectItemCaseSensitive(into, m->string) : NULL;
		cJSON_DetachItemViaPointer(more, m);
		if (!m->string) {
			cJSON_Delete(m);
			return -1;
		}
		if (cJSON_IsArray(have) && cJSON_IsArray(m)) {
			cJSON *x;
			while ((x = m->child)) {
				cJSON_DetachItemViaPointer(m, x);
				cJSON_AddItemToArray(have, x);
			}
			cJSON_Delete(m);
		} else if (have) {
			cJSON_ReplaceItemViaPointer(into, have, m);
		} else {
			cJSON_AddItemToObject(into, m->string, m);
		}
	}
	return 0;
}
