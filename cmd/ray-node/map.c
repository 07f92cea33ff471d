/* map.c: open-addressing hash map keyed by strings the values own. */
#include <stdlib.h>
#include <string.h>

#include "map.h"

static const char TOMB[1];

static size_t hash(const char *s)
{
	size_t h = 1469598103934665603ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

void *map_get(const map *m, const char *key)
{
	size_t i;

	if (!m->cap)
		return NULL;
	for (i = hash(key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		const char *k = m->ents[i].key;
		if (!k)
			return NULL;
		if (k != TOMB && !strcmp(k, key))
			return m->ents[i].val;
	}
}

static int grow(map *m)
{
	struct map_ent *old = m->ents;
	size_t oc = m->cap, i, nc = oc ? oc * 2 : 64;

	while (m->len * 2 >= nc)
		nc *= 2;
	m->ents = calloc(nc, sizeof(*m->ents));
	if (!m->ents) {
		m->ents = old;
		return -1;
	}
	m->cap = nc;
	m->len = m->used = 0;
	for (i = 0; i < oc; i++)
		if (old[i].key && old[i].key != TOMB)
			map_put(m, old[i].key, old[i].val);
	free(old);
	return 0;
}

int map_put(map *m, const char *key, void *val)
{
	size_t i, tomb = (size_t)-1;

	if ((m->used + 1) * 4 >= m->cap * 3 && grow(m))
		return -1;
	for (i = hash(key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
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
			m->len++;
			return 0;
		}
		if (!strcmp(k, key)) {
			m->ents[i].key = key;
			m->ents[i].val = val;
			return 0;
		}
	}
}

void *map_del(map *m, const char *key)
{
	size_t i;

	if (!m->cap)
		return NULL;
	for (i = hash(key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		const char *k = m->ents[i].key;
		if (!k)
			return NULL;
		if (k != TOMB && !strcmp(k, key)) {
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
