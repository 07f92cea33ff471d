/*
 * actor_calls: actor method calls through libray in one process, the
 * ray-tools counterpart of Dask actor calls (bench/dask_actors.py).
 *
 *   actor_calls [-n CALLS] [-b BATCH] [-s SEQ] [--address ADDR] [--node ID] [-- COMMAND...]
 *
 * --node pins the actor to a node (another one: calls cross to its host).
 *
 * Connects once (RAY_ADDRESS / RAY_TMPDIR as every tool), creates a counter
 * actor speaking the line protocol (COMMAND, by default an awk one-liner
 * answering each call with the number of calls so far; `-W interactive`
 * keeps mawk from waiting for a full input buffer), warms it up, then
 *  - batched: CALLS calls sent with ray_actor_call_many, BATCH per round
 *    trip, then every result gathered with one ray_get_many;
 *  - sequential: SEQ round trips of ray_actor_call then ray_get of its ref.
 * Every result is checked against the count it must hold (calls from one
 * caller run in order), and the actor is killed at the end.  Prints, one
 * per line, "NAME VALUE" pairs for bench/actors.sh:
 *   batch_calls, batch_s, batch_calls_per_s, seq_calls, seq_s, seq_us_per_call
 * Exit status: 0, 1 when a result is wrong, or the libray error's exit code.
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
	fprintf(stderr, "actor_calls: %s: %s\n", what, err->msg[0] ? err->msg : "failed");
	return ray_exit_code(rc);
}

/* Whether an answer is the count want followed by a newline. */
static int check(const void *got, size_t len, size_t want)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%zu\n", want);

	return len == (size_t)n && !memcmp(got, buf, len);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "calls", required_argument, 0, 'n' }, { "batch", required_argument, 0, 'b' },
		{ "seq", required_argument, 0, 's' }, { "address", required_argument, 0, 'a' },
		{ "node", required_argument, 0, 'N' },
		{ "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 }
	};
	static const char usage[] =
		"usage: actor_calls [-n CALLS] [-b BATCH] [-s SEQ] [--address ADDR] [--node ID] [-- COMMAND...]\n";
	static const char *const awk_argv[] = {
		"awk", "-W", "interactive", "-F\t", "{ n++; print n; fflush() }", NULL
	};
	const char *const *actor_argv = awk_argv;
	size_t calls = 5000, batch = 500, seq = 1000, count = 0, i, j;
	const char *address = NULL, *pin = NULL;
	char id[RAY_ID_MAX + 1];
	char (*refs)[RAY_REF_MAX + 1];
	const char **rp, **methods;
	const char *const **argss;
	size_t *nargs, *lens;
	void **outs;
	ray_actor_opts ao;
	ray_client *c;
	ray_err err = { 0, "" };
	double t0, tb, ts;
	int rc, opt;

	while ((opt = getopt_long(argc, argv, "n:b:s:h", lo, NULL)) != -1) {
		switch (opt) {
		case 'n': calls = strtoul(optarg, NULL, 10); break;
		case 'b': batch = strtoul(optarg, NULL, 10); break;
		case 's': seq = strtoul(optarg, NULL, 10); break;
		case 'a': address = optarg; break;
		case 'N': pin = optarg; break;
		case 'h': fputs(usage, stdout); return 0;
		default: fputs(usage, stderr); return 2;
		}
	}
	if (optind < argc)
		actor_argv = (const char *const *)(argv + optind);
	if (!calls || !batch || batch > 10000 || calls > 10000000) {
		fputs(usage, stderr);
		return 2;
	}
	refs = malloc(calls * sizeof(*refs));
	rp = malloc(calls * sizeof(*rp));
	outs = calloc(calls, sizeof(*outs));
	lens = malloc(calls * sizeof(*lens));
	methods = malloc(batch * sizeof(*methods));
	argss = calloc(batch, sizeof(*argss));
	nargs = calloc(batch, sizeof(*nargs));
	if (!refs || !rp || !outs || !lens || !methods || !argss || !nargs) {
		fputs("actor_calls: out of memory\n", stderr);
		return 1;
	}
	for (i = 0; i < batch; i++)
		methods[i] = "increment";
	for (i = 0; i < calls; i++)
		rp[i] = refs[i];

	if ((rc = ray_connect(&c, address, NULL, &err)))
		return fail("connect", rc, &err);
	ray_actor_opts_init(&ao);
	ao.task.node = pin;
	if ((rc = ray_actor_create(c, &ao, actor_argv, id, &err)))
		return fail("create", rc, &err);
	err.msg[0] = '\0';   /* a warning, if any, is not an error */

	/* Warm up: the actor process is started and answering. */
	for (i = 0; i < 10; i++) {
		void *out;
		size_t len;
		if ((rc = ray_actor_call(c, id, "increment", 0, NULL, 1, refs, &err)) ||
		    (rc = ray_get(c, refs[0], 60000, &out, &len, &err)))
			return fail("warm-up call", rc, &err);
		if (!check(out, len, ++count)) {
			fprintf(stderr, "actor_calls: warm-up call %zu: wrong answer '%.*s'\n", i, (int)len,
			        (const char *)out);
			return 1;
		}
		free(out);
	}

	/* Batched: send all, then gather all. */
	t0 = now_s();
	for (i = 0; i < calls; i += batch) {
		size_t k = calls - i < batch ? calls - i : batch;
		if ((rc = ray_actor_call_many(c, id, k, methods, nargs, argss, refs + i, &err)))
			return fail("call_many", rc, &err);
	}
	if ((rc = ray_get_many(c, calls, rp, 600000, outs, lens, &err)))
		return fail("get_many", rc, &err);
	tb = now_s() - t0;
	for (i = 0; i < calls; i++) {
		if (!check(outs[i], lens[i], ++count)) {
			fprintf(stderr, "actor_calls: batched call %zu: wrong answer '%.*s'\n", i, (int)lens[i],
			        (const char *)outs[i]);
			return 1;
		}
		free(outs[i]);
	}

	/* Sequential: one call, then its result, then the next call. */
	t0 = now_s();
	for (j = 0; j < seq; j++) {
		void *out;
		size_t len;
		if ((rc = ray_actor_call(c, id, "increment", 0, NULL, 1, refs, &err)))
			return fail("call", rc, &err);
		if ((rc = ray_get(c, refs[0], 60000, &out, &len, &err)))
			return fail("get", rc, &err);
		if (!check(out, len, ++count)) {
			fprintf(stderr, "actor_calls: sequential call %zu: wrong answer '%.*s'\n", j, (int)len,
			        (const char *)out);
			return 1;
		}
		free(out);
	}
	ts = now_s() - t0;

	if ((rc = ray_actor_kill(c, id, 0, &err)))
		return fail("kill", rc, &err);
	ray_client_free(c);
	printf("batch_calls %zu\nbatch_s %.6f\nbatch_calls_per_s %.0f\n", calls, tb, calls / tb);
	printf("seq_calls %zu\nseq_s %.6f\nseq_us_per_call %.1f\n", seq, ts, seq ? ts * 1e6 / seq : 0.0);
	free(refs);
	free(rp);
	free(outs);
	free(lens);
	free(methods);
	free(argss);
	free(nargs);
	return fflush(stdout) ? 1 : 0;
}
