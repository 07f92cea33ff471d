/* parse.c: strict parsing of numbers, sizes, quantities and refs, done once
 * here so every tool rejects "3x" the same way. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ray.h"
#include "rayint.h"

int ray_parse_uint(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || !isdigit((unsigned char)*s))
		return RAY_EUSAGE;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end)
		return RAY_EUSAGE;
	*out = v;
	return 0;
}

int ray_parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	int shift = 0;

	if (!s || !isdigit((unsigned char)*s))
		return RAY_EUSAGE;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return RAY_EUSAGE;
	switch (*end) {
	case '\0': break;
	case 'k': case 'K': shift = 10; break;
	case 'm': case 'M': shift = 20; break;
	case 'g': case 'G': shift = 30; break;
	case 't': case 'T': shift = 40; break;
	default: return RAY_EUSAGE;
	}
	if (*end) {
		end++;
		if (*end == 'i' && end[1] == 'B')
			end += 2;
		else if (*end == 'B')
			end++;
		if (*end)
			return RAY_EUSAGE;
	}
	if (shift && v > (UINT64_MAX >> shift))
		return RAY_EUSAGE;
	*out = (uint64_t)v << shift;
	return 0;
}

int ray_parse_qty(const char *s, int64_t *out)
{
	int64_t whole = 0, frac = 0;
	int digits = 0, nfrac = 0;

	if (!s || !*s)
		return RAY_EUSAGE;
	for (; isdigit((unsigned char)*s); s++, digits++) {
		if (whole > 100000000000LL)
			return RAY_EUSAGE;
		whole = whole * 10 + (*s - '0');
	}
	if (*s == '.') {
		for (s++; isdigit((unsigned char)*s); s++, nfrac++) {
			if (nfrac >= 4)
				return RAY_EUSAGE;
			frac = frac * 10 + (*s - '0');
		}
		if (!nfrac && !digits)
			return RAY_EUSAGE;
	} else if (!digits) {
		return RAY_EUSAGE;
	}
	if (*s)
		return RAY_EUSAGE;
	while (nfrac++ < 4)
		frac *= 10;
	*out = whole * 10000 + frac;
	return 0;
}

int ray_parse_seconds(const char *s, int64_t *ms_out)
{
	int64_t q;

	if (ray_parse_qty(s, &q))
		return RAY_EUSAGE;
	*ms_out = q / 10;
	return 0;
}

static const unsigned char hexdig[256] = {
	['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1,
	['8'] = 1, ['9'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1,
};

int ray_ref_valid(const char *s)
{
	size_t n = 0;

	if (!s)
		return 0;
	/* Bounded: a long string is refused at RAY_REF_MAX + 1 characters.
	 * By table: it runs for every ref of every request. */
	for (; s[n] && n <= RAY_REF_MAX; n++)
		if (!hexdig[(unsigned char)s[n]])
			return 0;
	return n > 0 && n <= RAY_REF_MAX;
}

/* A size for people: "1.5 GiB", "12 bytes" (powers of 1024). */
const char *ray_fmt_size(uint64_t n, char *buf, size_t len)
{
	if (n >= (1ull << 30))
		snprintf(buf, len, "%.1f GiB", (double)n / (1ull << 30));
	else if (n >= (1ull << 20))
		snprintf(buf, len, "%.1f MiB", (double)n / (1ull << 20));
	else if (n >= 1024)
		snprintf(buf, len, "%.1f KiB", (double)n / 1024);
	else
		snprintf(buf, len, "%llu bytes", (unsigned long long)n);
	return buf;
}
