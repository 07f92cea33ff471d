/*
 * pg_bench: placement groups made and removed through libray in one
 * process, so that the figure is the cluster's and not process spawns'.
 *
 *   pg_bench [-n GROUPS] [--bundle SPEC] [--strategy S] [--address ADDR]
 *
 * Connects once (RAY_ADDRESS / RAY_TMPDIR as every tool), then
 *  - creates GROUPS groups of one bundle (SPEC, default CPU=0.001, so a
 *    thousand fit on one CPU), each ray_pg_create waiting until the group
 *    is CREATED (reserved on its node) before the next;
 *  - removes them all, one ray_pg_remove each.
 * Prints, one per line, "NAME VALUE" pairs for bench/pg.sh:
 *   groups, create_s, create_per_s, remove_s, remove_per_s, pairs_per_s
 * (pairs: one create and one remove).
 * Exit status: 0, or the libray error's exit code.
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

static int fail(const char *what, size_t i, int rc, const ray_err *err)
{
	fprintf(stderr, "pg_bench: %s %zu: %s\n", what, i, err->msg[0] ? err->msg : "failed");
	return ray_exit_code(rc);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "groups", required_argument, 0, 'n' }, { "bundle", required_argument, 0, 'b' },
		{ "strategy", required_argument, 0, 's' }, { "address", required_argument, 0, 'a' },
		{ "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 }
	};
	static const char usage[] =
		"usage: pg_bench [-n GROUPS] [--bundle SPEC] [--strategy S] [--address ADDR]\n";
	const char *bundle = "CPU=0.001", *strategy = NULL, *address = NULL;
	size_t n = 1000, i;
	char (*ids)[RAY_ID_MAX + 1];
	ray_client *c;
	ray_err err = { 0, "" };
	double t0, tc, tr;
	int rc, opt;

	while ((opt = getopt_long(argc, argv, "n:b:s:h", lo, NULL)) != -1) {
		switch (opt) {
		case 'n': n = strtoul(optarg, NULL, 10); break;
		case 'b': bundle = optarg; break;
		case 's': strategy = optarg; break;
		case 'a': address = optarg; break;
		case 'h': fputs(usage, stdout); return 0;
		default: fputs(usage, stderr); return 2;
		}
	}
	if (!n || n > 1000000 || optind < argc) {
		fputs(usage, stderr);
		return 2;
	}
	ids = malloc(n * sizeof(*ids));
	if (!ids) {
		fputs("pg_bench: out of memory\n", stderr);
		return 1;
	}
	if ((rc = ray_connect(&c, address, NULL, &err)))
		return fail("connect", 0, rc, &err);

	t0 = now_s();
	for (i = 0; i < n; i++)
		if ((rc = ray_pg_create(c, strategy, NULL, 1, &bundle, 1, 60000, ids[i], &err)))
			return fail("create", i, rc, &err);
	tc = now_s() - t0;

	t0 = now_s();
	for (i = 0; i < n; i++)
		if ((rc = ray_pg_remove(c, ids[i], &err)))
			return fail("remove", i, rc, &err);
	tr = now_s() - t0;

	ray_client_free(c);
	free(ids);
	printf("groups %zu\ncreate_s %.6f\ncreate_per_s %.0f\n", n, tc, n / tc);
	printf("remove_s %.6f\nremove_per_s %.0f\npairs_per_s %.0f\n", tr, n / tr, n / (tc + tr));
	return fflush(stdout) ? 1 : 0;
}
