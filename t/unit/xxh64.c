/* xxh64.c: lib/xxh64.c, the checksum of every pulled chunk,
 * gives the published XXH64 values.  Expected values: the xxHash
 * repository's sanity test (cli/xsum_sanity_check.c, XSUM_XXH64_testdata,
 * over the buffer XSUM_fillTestBuffer makes) and ClickHouse's xxHash64
 * tests (tests/queries/0_stateless/00803_xxhash.sql) for plain strings. */
#include <stdint.h>
#include <string.h>

#include "xxh64.h"
#include "unit.h"

#define PRIME32 2654435761U
#define PRIME64 11400714785074694797ULL
#define BUF_LEN 222

/* xxHash's sanity buffer: its values must not change. */
static void fill_test_buffer(unsigned char *buf, size_t len)
{
	uint64_t gen = PRIME32;
	size_t i;

	for (i = 0; i < len; i++) {
		buf[i] = (unsigned char)(gen >> 56);
		gen *= PRIME64;
	}
}

static const struct {
	size_t len;
	uint64_t seed, want;
} sanity[] = {
	{   0,       0, 0xEF46DB3751D8E999ULL },
	{   0, PRIME32, 0xAC75FDA2929B17EFULL },
	{   1,       0, 0xE934A84ADB052768ULL },
	{   1, PRIME32, 0x5014607643A9B4C3ULL },
	{   4,       0, 0x9136A0DCA57457EEULL },
	{  14,       0, 0x8282DCC4994E35C8ULL },
	{  14, PRIME32, 0xC3BD6BF63DEB6DF0ULL },
	{ 222,       0, 0xB641AE8CB691C174ULL },
	{ 222, PRIME32, 0x20CB8AB7AE10C14AULL },
};

static int eq(uint64_t got, uint64_t want, const char *what)
{
	if (got == want)
		return 1;
	fprintf(stderr, "xxh64(%s) is %016llx, want %016llx\n", what,
	        (unsigned long long)got, (unsigned long long)want);
	return 0;
}

int main(void)
{
	unsigned char buf[BUF_LEN + 1];
	size_t i;

	fill_test_buffer(buf, BUF_LEN);
	for (i = 0; i < sizeof(sanity) / sizeof(sanity[0]); i++) {
		char what[64];
		snprintf(what, sizeof(what), "sanity buffer, len %zu, seed %llu", sanity[i].len,
		         (unsigned long long)sanity[i].seed);
		CHECK(eq(xxh64(buf, sanity[i].len, sanity[i].seed), sanity[i].want, what));
	}
	/* Unaligned input hashes the same (chunks land at any offset). */
	memmove(buf + 1, buf, BUF_LEN);
	CHECK(eq(xxh64(buf + 1, BUF_LEN, 0), 0xB641AE8CB691C174ULL, "unaligned sanity buffer"));

	CHECK(eq(xxh64("", 0, 0), 0xEF46DB3751D8E999ULL, "\"\""));
	CHECK(eq(xxh64("ABC", 3, 0), 0xE66AE7354FCFEE98ULL, "\"ABC\""));
	CHECK(eq(xxh64("xxhash", 6, 0), 0x32DD38952C4BC720ULL, "\"xxhash\""));
	CHECK(eq(xxh64("foo", 3, 0), 3728699739546630719ULL, "\"foo\""));
	return unit_done("xxh64");
}
