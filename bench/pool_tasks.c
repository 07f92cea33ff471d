/*
 * pool_tasks: pooled tasks through libray in one process, beside Ray's
 * published rate for async tasks (8,041 tasks/s on 64 vCPUs,
 * release/benchmarks "single client tasks async").
 *
 *   pool_tasks [-n TASKS] [--address ADDR] [--protocol P] -- WORKER_CMDLINE
 *
 * Connects once, warms the pool up (one call per CPU), then submits TASKS
 * pooled tasks "sum I 1" one ray_submit each, without waiting for any, and
 * gathers every result with ray_get_many, checking each is I+1.  Prints
 * "NAME VALUE" pairs for bench/workers.sh: tasks, submit_s, total_s,
 * tasks_per_s.  Exit status: 0, 1 when a result is wrong, or the libray
 * error's exit code.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ray.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int fail(const char *what, int rc, const ray_err *err)
{
	fprintf(stderr, "pool_tasks: %s: %s\n", what, err->msg[0] ? err->msg : "failed");
	return ray_exit_code(rc);
}

/* Submits "sum i 1" as one pooled task; its ref goes to ref. */
static int submit_one(ray_client *c, const ray_task_opts *o, size_t i, char ref[RAY_REF_MAX + 1],
                      ray_err *err)
{
	char num[32];
	const char *argv[] = { "sum", num, "1", NULL };
	const char *const *argvs[] = { argv };

	snprintf(num, sizeof(num), "%zu", i);
	return ray_submit(c, o, 1, argvs, NULL, (char (*)[RAY_REF_MAX + 1])ref, NULL, 0, err);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "tasks", required_argument, 0, 'n' }, { "address", required_argument, 0, 'a' },
		{ "protocol", required_argument, 0, 'p' }, { "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 }
	};
	static const char usage[] =
		"usage: pool_tasks [-n TASKS] [--address ADDR] [--protocol P] -- WORKER_CMDLINE\n";
	size_t n = 10000, i;
	const char *address = NULL;
	char (*refs)[RAY_REF_MAX + 1];
	const char **rp;
	void **outs;
	size_t *lens;
	ray_task_opts o;
	ray_client *c;
	ray_err err = { 0, "" };
	double t0, ts, tt;
	int rc, opt;

	ray_task_opts_init(&o);
	while ((opt = getopt_long(argc, argv, "n:h", lo, NULL)) != -1) {
		switch (opt) {
		case 'n': n = strtoul(optarg, NULL, 10); break;
		case 'a': address = optarg; break;
		case 'p': o.protocol = optarg; break;
		case 'h': fputs(usage, stdout); return 0;
		default: fputs(usage, stderr); return 2;
		}
	}
	if (optind != argc - 1 || !n || n > 10000000) {
		fputs(usage, stderr);
		return 2;
	}
	o.worker = argv[optind];
	refs = malloc(n * sizeof(*refs));
	rp = malloc(n * sizeof(*rp));
	outs = calloc(n, sizeof(*outs));
	lens = malloc(n * sizeof(*lens));
	if (!refs || !rp || !outs || !lens) {
		fputs("pool_tasks: out of memory\n", stderr);
		return 1;
	}
	for (i = 0; i < n; i++)
		rp[i] = refs[i];
	if ((rc = ray_connect(&c, address, NULL, &err)))
		return fail("connect", rc, &err);

	/* Warm up: workers started, one per CPU or so. */
	for (i = 0; i < 64 && i < n; i++)
		if ((rc = submit_one(c, &o, i, refs[i], &err)))
			return fail("warm-up submit", rc, &err);
	if ((rc = ray_get_many(c, i, rp, 60000, outs, lens, &err)))
		return fail("warm-up get", rc, &err);
	while (i--)
		free(outs[i]);

	t0 = now_s();
	for (i = 0; i < n; i++)
		if ((rc = submit_one(c, &o, i, refs[i], &err)))
			return fail("submit", rc, &err);
	ts = now_s() - t0;
	if ((rc = ray_get_many(c, n, rp, 600000, outs, lens, &err)))
		return fail("get", rc, &err);
	tt = now_s() - t0;
	for (i = 0; i < n; i++) {
		char want[32];
		int wl = snprintf(want, sizeof(want), "%zu\n", i + 1);
		if (lens[i] != (size_t)wl || memcmp(outs[i], want, (size_t)wl)) {
			fprintf(stderr, "pool_tasks: task %zu: wrong answer '%.*s'\n", i, (int)lens[i],
			        (const char *)outs[i]);
			return 1;
		}
		free(outs[i]);
	}
	printf("tasks %zu\nsubmit_s %.6f\ntotal_s %.6f\ntasks_per_s %.0f\n", n, ts, tt, n / tt);
	ray_client_free(c);
	free(refs);
	free(rp);
	free(outs);
	free(lens);
	return 0;
}
