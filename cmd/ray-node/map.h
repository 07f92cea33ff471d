/* map.h: a string-keyed hash map (open addressing) for objects and tasks. */
#ifndef MAP_H
#define MAP_H

#include <stddef.h>

typedef struct map {
	/* keys not owned; h is the key's hash, compared before the key */
	struct map_ent { const char *key; void *val; size_t h; } *ents;
	size_t cap, len, used;   /* used counts tombstones too */
} map;

void *map_get(const map *m, const char *key);
int map_put(map *m, const char *key, void *val);  /* key must outlive entry */
void *map_del(map *m, const char *key);
void map_release(map *m);

#endif
