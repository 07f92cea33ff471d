/* map.c: open-addressing hash map keyed by strings the values own.  Each
 * entry keeps its key's hash, so a probe past another key compares two
 * words instead of reading that key's string (a cache miss apiece: with
 * 400,000 objects map_put was a tenth of a busy node's CPU). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "map.h"

static const char TOMB[1];

/* Eight bytes at a time (keys are ids and refs, 16 to 40 characters):
 * FNV-1a, a byte at a time, took 25 ns a ref here against 5, and a node
 * hashes each object's ref three times (made, read, freed).  The
 * multiply-xorshift rounds are SplitMix64's finalizer, so refs that differ
 * only in their last digits spread over the whole table. */
static size_t hash(const char *s)
{
	size_t n = strlen(s), i;
	uint64_t h = 0x9e3779b97f4a7c15ULL ^ n, w;

	for (i = 0; i + 8 <= n; i += 8) {
		memcpy(&w, s + i, 8);
		h = (h ^ w) * 0xbf58476d1ce4e5b9ULL;
		h ^= h >> 31;
	}
	if (i < n) {
		w = 0;
		memcpy(&w, s + i, n - i);
		h = (h ^ w) * 0xbf58476d1ce4e5b9ULL;
		h ^= h >> 31;
	}
	h *= 0x94d049bb133111ebULL;
	h ^= h >> 29;
	return (size_t)h;
}

void *map_get(const map *m, const char *key)
{
	size_t i, h;

	if (!m->cap)
		return NULL;
	h = hash(key);
	for (i = h & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		const char *k = m->ents[i].key;
		if (!k)
			return NULL;
		if (k != TOMB && m->ents[i].h == h && !strcmp(k, key))
			return m->ents[i].val;
	}
}

static int grow(map *m)
{
	struct map_ent *old = m->ents;
	size_t oc = m->cap, i, nc = 64;

	/* Sized by the live keys, not the old size: a map whose keys come and
	 * go (puts and deletes in step) is mostly tombstones when it fills,
	 * and doubling it each time grew it without bound while every put
	 * probed through runs of tombstones. */
	while ((m->len + 1) * 2 >= nc)
		nc *= 2;
	m->ents = calloc(nc, sizeof(*m->ents));
	if (!m->ents) {
		m->ents = old;
		return -1;
	}
	m->cap = nc;
	m->len = m->used = 0;
	/* Moved by the hashes kept: no key is read (or hashed) again. */
	for (i = 0; i < oc; i++)
		if (old[i].key && old[i].key != TOMB) {
			size_t j = old[i].h & (nc - 1);
			while (m->ents[j].key)
				j = (j + 1) & (nc - 1);
			m->ents[j] = old[i];
			m->len++;
			m->used++;
		}
	free(old);
	return 0;
}

int map_put(map *m, const char *key, void *val)
{
	size_t i, h, tomb = (size_t)-1;

	if ((m->used + 1) * 4 >= m->cap * 3 && grow(m))
		return -1;
	h = hash(key);
	for (i = h & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		const char *k = m->ents[i].key;
		if (k == TOMB) {
			if (tomb == (size_t)-1)
				tomb = i;
			continue;
		}
		if (!k) {
			if (tomb != (size_t)-1)
				i = tomb;
			else
				m->used++;
			m->ents[i].key = key;
			m->ents[i].val = val;
			m->ents[i].h = h;
			m->len++;
			return 0;
		}
		if (m->ents[i].h == h && !strcmp(k, key)) {
			m->ents[i].key = key;
			m->ents[i].val = val;
			return 0;
		}
	}
}

void *map_del(map *m, const char *key)
{
	size_t i, h;

	if (!m->cap)
		return NULL;
	h = hash(key);
	for (i = h & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		const char *k = m->ents[i].key;
		if (!k)
			return NULL;
		if (k != TOMB && m->ents[i].h == h && !strcmp(k, key)) {
			void *v = m->ents[i].val;
			m->ents[i].key = TOMB;
			m->ents[i].val = NULL;
			m->len--;
			return v;
		}
	}
}

void map_release(map *m)
{
	free(m->ents);
	m->ents = NULL;
	m->cap = m->len = m->used = 0;
}
