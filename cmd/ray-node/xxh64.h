/* xxh64.h: the XXH64 hash of a buffer, the checksum of object chunks (xxh64.c). */
#ifndef XXH64_H
#define XXH64_H

#include <stddef.h>
#include <stdint.h>

/* XXH64 of len bytes at data with the given seed (as libxxhash's XXH64()). */
uint64_t xxh64(const void *data, size_t len, uint64_t seed);

#endif
