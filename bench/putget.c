/*
 * putget: small-object round trips through libray in one process, the
 * ray-tools counterpart of `redis-benchmark -t set,get -d 100`.
 *
 *   putget [-n PAIRS] [-s BYTES] [-b BATCH] [--only seq|pipe] [--address ADDR]
 *
 * Connects once (RAY_ADDRESS / RAY_TMPDIR as every tool), then
 *  - sequential: PAIRS times ray_put of BYTES bytes then ray_get of its ref
 *    (two round trips per pair, each waiting for the previous);
 *  - pipelined: PAIRS/BATCH times ray_put_many of BATCH objects then
 *    ray_get_many of their BATCH refs (one frame each way per call).
 * Every fetched object is checked against what was stored.  Prints, one
 * per line, "NAME VALUE" pairs for bench/run.sh:
 *   seq_ops_per_s, seq_us_per_op, pipe_ops_per_s, pipe_us_per_op
 * where an op is one put or one get (a redis SET or GET).
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

static int fail(const char *what, int rc, const ray_err *err)
{
	fprintf(stderr, "putget: %s: %s\n", what, err->msg[0] ? err->msg : "failed");
	return ray_exit_code(rc);
}

/* Fills buf with bytes that depend on i, so a mixed-up reply is caught. */
static void fill(unsigned char *buf, size_t len, size_t i)
{
	size_t k;

	for (k = 0; k < len; k++)
		buf[k] = (unsigned char)(i * 131 + k * 7 + 1);
}

static int check(const void *got, size_t glen, const unsigned char *want, size_t wlen)
{
	return glen == wlen && !memcmp(got, want, wlen);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "pairs", required_argument, 0, 'n' }, { "size", required_argument, 0, 's' },
		{ "batch", required_argument, 0, 'b' }, { "address", required_argument, 0, 'a' },
		{ "only", required_argument, 0, 'o' }, { "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 }
	};
	static const char usage[] =
		"usage: putget [-n PAIRS] [-s BYTES] [-b BATCH] [--only seq|pipe] [--address ADDR]\n";
	size_t pairs = 100000, size = 100, batch = 16, i, j, done;
	const char *address = NULL, *only = "";
	ray_client *c;
	ray_err err = { 0, "" };
	unsigned char *bufs;
	const void **bp;
	size_t *lens, *glens;
	void **outs;
	char (*refs)[RAY_REF_MAX + 1];
	const char **rp;
	double t0, seq, pipe;
	int rc, opt;

	while ((opt = getopt_long(argc, argv, "n:s:b:h", lo, NULL)) != -1) {
		switch (opt) {
		case 'n': pairs = strtoul(optarg, NULL, 10); break;
		case 's': size = strtoul(optarg, NULL, 10); break;
		case 'b': batch = strtoul(optarg, NULL, 10); break;
		case 'a': address = optarg; break;
		case 'o': only = optarg; break;
		case 'h': fputs(usage, stdout); return 0;
		default: fputs(usage, stderr); return 2;
		}
	}
	if (!pairs || !batch || batch > 100000 || size > (1u << 20)) {
		fputs(usage, stderr);
		return 2;
	}
	if ((rc = ray_connect(&c, address, NULL, &err)))
		return fail("connect", rc, &err);
	bufs = malloc(batch * (size ? size : 1));
	bp = malloc(batch * sizeof(*bp));
	lens = malloc(batch * sizeof(*lens));
	glens = malloc(batch * sizeof(*glens));
	outs = calloc(batch, sizeof(*outs));
	refs = malloc(batch * sizeof(*refs));
	rp = malloc(batch * sizeof(*rp));
	if (!bufs || !bp || !lens || !glens || !outs || !refs || !rp) {
		fputs("putget: out of memory\n", stderr);
		return 1;
	}
	for (j = 0; j < batch; j++) {
		bp[j] = bufs + j * size;
		lens[j] = size;
		rp[j] = refs[j];
	}

	/* Sequential: put, then get, one request in flight at a time. */
	t0 = now_s();
	for (i = 0; strcmp(only, "pipe") && i < pairs; i++) {
		void *out;
		size_t len;

		fill(bufs, size, i);
		if ((rc = ray_put(c, bufs, size, refs[0], &err)))
			return fail("put", rc, &err);
		if ((rc = ray_get(c, refs[0], -1, &out, &len, &err)))
			return fail("get", rc, &err);
		if (!check(out, len, bufs, size)) {
			fprintf(stderr, "putget: object %s came back different\n", refs[0]);
			return 1;
		}
		free(out);
	}
	seq = now_s() - t0;

	/* Pipelined: BATCH puts in one call, then BATCH gets in one call. */
	t0 = now_s();
	for (done = 0; strcmp(only, "seq") && done < pairs; done += batch) {
		size_t k = pairs - done < batch ? pairs - done : batch;

		for (j = 0; j < k; j++)
			fill(bufs + j * size, size, done + j);
		if ((rc = ray_put_many(c, k, bp, lens, refs, &err)))
			return fail("put_many", rc, &err);
		if ((rc = ray_get_many(c, k, rp, -1, outs, glens, &err)))
			return fail("get_many", rc, &err);
		for (j = 0; j < k; j++) {
			if (!check(outs[j], glens[j], bufs + j * size, size)) {
				fprintf(stderr, "putget: object %s came back different\n", refs[j]);
				return 1;
			}
			free(outs[j]);
			outs[j] = NULL;
		}
	}
	pipe = now_s() - t0;

	printf("seq_ops_per_s %.0f\n", 2.0 * (double)pairs / seq);
	printf("seq_us_per_op %.2f\n", seq * 1e6 / (2.0 * (double)pairs));
	printf("pipe_ops_per_s %.0f\n", 2.0 * (double)pairs / pipe);
	printf("pipe_us_per_op %.2f\n", pipe * 1e6 / (2.0 * (double)pairs));
	ray_client_free(c);
	free(bufs);
	free(bp);
	free(lens);
	free(glens);
	free(outs);
	free(refs);
	free(rp);
	return 0;
}
