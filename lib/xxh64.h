/* xxh64.h: the XXH64 hash of a buffer, the checksum of object chunks and
 * spill files (xxh64.c). */
#ifndef XXH64_H
#define XXH64_H

#include <stddef.h>
#include <stdint.h>

/* XXH64 of len bytes at data with the given seed (as libxxhash's XXH64()). */
uint64_t xxh64(const void *data, size_t len, uint64_t seed);

/* A spill file (docs/protocol.md, 4a): a RAY_SPILL_HDR-byte header
 * (RAY_SPILL_MAGIC, the size and the sum as big-endian u64s, zeros), then
 * the bytes.  The sum is XXH64 chained over RAY_SUM_BLOCK blocks: h for
 * the block at off is ray_sum_block(h of the blocks before, 0 at first). */
#define RAY_SPILL_HDR 64
#define RAY_SPILL_MAGIC "RAYSPIL2"   /* 1 was BLAKE2b */
#define RAY_SUM_BLOCK (256u << 10)
uint64_t ray_sum_block(uint64_t h, const void *p, size_t n, uint64_t off);

#endif
