/*
 * stream_bench: the figures of streaming returns (bench/stream.sh).
 *
 *   stream_bench put N          put "1\n".."N\n" as N objects through libray,
 *                               ray_put_many in batches of 1,000: prints
 *                               "put_items_per_s X" (the floor for making
 *                               that many objects)
 *   stream_bench iter N         a task running `seq 1 N` with --stream,
 *                               its refs taken with ray_stream_next:
 *                               prints "iter_items_per_s X"
 *   stream_bench producer N US  writes N lines, each the CLOCK_REALTIME
 *                               nanoseconds at its write, flushed, US
 *                               microseconds apart (run as the task)
 *   stream_bench stamp          reads refs on stdin (ray-submit --stream's
 *                               output), noting when each arrives; at EOF
 *                               fetches them and prints "latency_us_p50 X"
 *                               and "latency_us_p90 Y": from the line's
 *                               write to its ref read here
 * Exit status: 0, or the libray error's exit code.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ray.h"

#define PUT_BATCH 1000

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long long real_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int fail(ray_client *c, int rc, const ray_err *err)
{
	fprintf(stderr, "stream_bench: %s\n", err->msg);
	if (c)
		ray_client_free(c);
	return ray_exit_code(rc);
}

static int cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;

	return x < y ? -1 : x > y;
}

static int do_put(ray_client *c, long n)
{
	char (*refs)[RAY_REF_MAX + 1] = calloc(PUT_BATCH, sizeof(*refs));
	char (*lines)[24] = calloc(PUT_BATCH, sizeof(*lines));
	const void *bufs[PUT_BATCH];
	size_t lens[PUT_BATCH];
	ray_err err = { 0, "" };
	double t0 = mono_s();
	long i = 0;
	int rc = 0;

	while (!rc && i < n) {
		size_t k = 0;
		for (; k < PUT_BATCH && i < n; k++, i++) {
			lens[k] = (size_t)snprintf(lines[k], sizeof(lines[k]), "%ld\n", i + 1);
			bufs[k] = lines[k];
		}
		rc = ray_put_many(c, k, bufs, lens, refs, &err);
	}
	if (rc)
		return fail(c, rc, &err);
	printf("put_items_per_s %.0f\n", (double)n / (mono_s() - t0));
	free(refs);
	free(lines);
	return 0;
}

static int do_iter(ray_client *c, long n)
{
	char count[32], ref[RAY_REF_MAX + 1];
	const char *argv[] = { "seq", "1", count, NULL };
	ray_task_opts o;
	ray_stream *s;
	ray_err err = { 0, "" };
	double t0 = mono_s();
	long got = 0;
	int rc;

	snprintf(count, sizeof(count), "%ld", n);
	ray_task_opts_init(&o);
	if ((rc = ray_submit_stream(c, &o, argv, 64, &s, &err)))
		return fail(c, rc, &err);
	while ((rc = ray_stream_next(s, ref, -1, &err)) == 1)
		got++;
	ray_stream_free(s);
	if (rc)
		return fail(c, rc, &err);
	if (got != n) {
		fprintf(stderr, "stream_bench: %ld items, want %ld\n", got, n);
		return 1;
	}
	printf("iter_items_per_s %.0f\n", (double)n / (mono_s() - t0));
	return 0;
}

static int do_producer(long n, long gap_us)
{
	long i;

	for (i = 0; i < n; i++) {
		printf("%lld\n", real_ns());
		if (fflush(stdout))
			return 1;
		if (gap_us > 0)
			usleep((useconds_t)gap_us);
	}
	return 0;
}

static int do_stamp(ray_client *c)
{
	char line[256];
	char (*refs)[RAY_REF_MAX + 1] = NULL;
	long long *at = NULL, *d;
	size_t n = 0, cap = 0, i;
	ray_err err = { 0, "" };
	int rc;

	while (fgets(line, sizeof(line), stdin)) {
		long long now = real_ns();
		line[strcspn(line, "\n")] = '\0';
		if (n == cap) {
			cap = cap ? cap * 2 : 1024;
			refs = realloc(refs, cap * sizeof(*refs));
			at = realloc(at, cap * sizeof(*at));
			if (!refs || !at)
				return 1;
		}
		snprintf(refs[n], sizeof(refs[n]), "%s", line);
		at[n++] = now;
	}
	if (!n)
		return 1;
	d = calloc(n, sizeof(*d));
	for (i = 0; i < n; i++) {
		void *buf;
		size_t len;
		char txt[32];
		if ((rc = ray_get(c, refs[i], 10000, &buf, &len, &err)))
			return fail(c, rc, &err);
		snprintf(txt, sizeof(txt), "%.*s", (int)(len < 31 ? len : 31), (char *)buf);
		d[i] = (at[i] - atoll(txt)) / 1000;
		free(buf);
	}
	qsort(d, n, sizeof(*d), cmp_ll);
	printf("latency_us_p50 %lld\nlatency_us_p90 %lld\n", d[n / 2], d[n * 9 / 10]);
	free(d);
	free(refs);
	free(at);
	return 0;
}

int main(int argc, char **argv)
{
	ray_client *c = NULL;
	ray_err err = { 0, "" };
	int rc;

	if (argc >= 4 && !strcmp(argv[1], "producer"))
		return do_producer(atol(argv[2]), atol(argv[3]));
	if (argc < 2 || (strcmp(argv[1], "stamp") && argc < 3)) {
		fputs("usage: stream_bench put N | iter N | producer N US | stamp\n", stderr);
		return 2;
	}
	if ((rc = ray_connect(&c, NULL, NULL, &err)))
		return fail(NULL, rc, &err);
	if (!strcmp(argv[1], "put"))
		rc = do_put(c, atol(argv[2]));
	else if (!strcmp(argv[1], "iter"))
		rc = do_iter(c, atol(argv[2]));
	else
		rc = do_stamp(c);
	ray_client_free(c);
	return rc;
}
