/* unit.h: the few macros the C unit tests share.  Each test is a main()
 * that runs its checks and returns non-zero when any failed, printing
 * every failure as FILE:LINE: what. */
#ifndef UNIT_H
#define UNIT_H

#include <stdio.h>
#include <string.h>

static int unit_failed, unit_run;

#define CHECK(cond) do { \
	unit_run++; \
	if (!(cond)) { \
		unit_failed++; \
		fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
	} \
} while (0)

#define CHECK_EQ_INT(got, want) do { \
	long long g_ = (long long)(got), w_ = (long long)(want); \
	unit_run++; \
	if (g_ != w_) { \
		unit_failed++; \
		fprintf(stderr, "%s:%d: %s is %lld, want %lld\n", __FILE__, __LINE__, #got, g_, w_); \
	} \
} while (0)

#define CHECK_EQ_STR(got, want) do { \
	const char *g_ = (got), *w_ = (want); \
	unit_run++; \
	if (!g_ || strcmp(g_, w_)) { \
		unit_failed++; \
		fprintf(stderr, "%s:%d: %s is '%s', want '%s'\n", __FILE__, __LINE__, #got, \
		        g_ ? g_ : "(null)", w_); \
	} \
} while (0)

static inline int unit_done(const char *name)
{
	printf("%s: %d checks, %d failed\n", name, unit_run, unit_failed);
	return unit_failed != 0;
}

#endif
