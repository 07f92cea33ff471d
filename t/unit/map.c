/* map.c: cmd/ray-node/map.c, the daemon's string-keyed hash map, keeps
 * every entry through growth and deletions (tombstones). */
#include <stdio.h>
#include <stdlib.h>

#include "../../cmd/ray-node/map.c"
#include "unit.h"

#define N_KEYS 20000

static char keys[N_KEYS][16];

int main(void)
{
	map m = { 0 };
	int i, vals[N_KEYS], ok;

	CHECK(map_get(&m, "absent") == NULL);
	CHECK(map_del(&m, "absent") == NULL);
	for (ok = 1, i = 0; i < N_KEYS; i++) {
		snprintf(keys[i], sizeof(keys[i]), "k%d", i);
		vals[i] = i;
		ok &= map_put(&m, keys[i], &vals[i]) == 0;
	}
	CHECK(ok);
	CHECK_EQ_INT(m.len, N_KEYS);
	CHECK(m.cap > m.len);
	CHECK_EQ_INT(m.cap & (m.cap - 1), 0);   /* a power of two */
	for (ok = 1, i = 0; i < N_KEYS; i++)
		ok &= map_get(&m, keys[i]) == &vals[i];
	CHECK(ok);
	/* Lookups compare contents, not pointers. */
	{
		char k[16] = "k123";
		CHECK(map_get(&m, k) == &vals[123]);
	}
	/* Replacing a key keeps one entry. */
	CHECK_EQ_INT(map_put(&m, keys[5], &vals[6]), 0);
	CHECK(map_get(&m, keys[5]) == &vals[6]);
	CHECK_EQ_INT(m.len, N_KEYS);
	/* Delete every other key; the rest stay reachable past the tombstones. */
	for (ok = 1, i = 0; i < N_KEYS; i += 2)
		ok &= map_del(&m, keys[i]) == &vals[i];
	CHECK(ok);
	CHECK_EQ_INT(m.len, N_KEYS / 2);
	for (ok = 1, i = 0; i < N_KEYS; i++)
		ok &= map_get(&m, keys[i]) == (i % 2 ? (i == 5 ? &vals[6] : &vals[i]) : NULL);
	CHECK(ok);
	CHECK(map_del(&m, keys[0]) == NULL);    /* twice */
	/* Reinsert into tombstones; churn must not grow the table forever. */
	{
		size_t cap = m.cap;
		int round;
		for (round = 0; round < 20; round++) {
			for (i = 0; i < N_KEYS; i += 2)
				map_put(&m, keys[i], &vals[i]);
			for (i = 0; i < N_KEYS; i += 2)
				map_del(&m, keys[i]);
		}
		CHECK(m.cap <= cap * 2);
		CHECK_EQ_INT(m.len, N_KEYS / 2);
		for (ok = 1, i = 1; i < N_KEYS; i += 2)
			ok &= map_get(&m, keys[i]) != NULL;
		CHECK(ok);
	}
	map_release(&m);
	CHECK(m.ents == NULL && m.len == 0 && m.cap == 0);
	/* New keys in, old keys out, 100 live at a time: the table is sized
	 * by its live keys (it once doubled at every fill, to 262,144 slots). */
	{
		static char churn[40000][16];
		for (i = 0; i < 40000; i++) {
			snprintf(churn[i], sizeof(churn[i]), "k%08d", (int)i);
			map_put(&m, churn[i], churn[i]);
			if (i >= 100)
				map_del(&m, churn[i - 100]);
		}
		CHECK_EQ_INT(m.len, 100);
		CHECK(m.cap <= 512);
		CHECK(map_get(&m, churn[39999]) == churn[39999] && !map_get(&m, churn[0]));
		map_release(&m);
	}
	/* A released map works again. */
	CHECK_EQ_INT(map_put(&m, "again", &vals[0]), 0);
	CHECK(map_get(&m, "again") == &vals[0]);
	map_release(&m);
	return unit_done("map");
}
