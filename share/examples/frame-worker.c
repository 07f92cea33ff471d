/*
 * frame-worker.c: a pooled worker in C speaking the `frame` protocol (see
 * docs/actor-protocols.md), so arguments and results may hold any bytes.
 * Run as a worker it serves one call after another from its stdin:
 *
 *   sum N...       the sum of the integers N, as text with a newline
 *   wc PATH        "LINES WORDS BYTES" of the file PATH (pass an object as @REF)
 *   pid            this process's id: calls that share a worker share it
 *   fail MSG       fails with MSG (status 1: ray-get exits 1)
 *
 * Given METHOD ARG... on its command line it makes that one call and
 * prints the result instead, so the same program can be run once per item
 * (xargs) and compared with the pool (make bench-workers).
 *
 *   cc -O2 -o frame-worker share/examples/frame-worker.c
 *   ray-submit --worker ./frame-worker --protocol frame -- sum 1 2 3 | ray-get
 *   printf 'sum\t%d\t1\n' $(seq 100) | ray-submit --worker ./frame-worker \
 *       --protocol frame --batch | ray-get
 *
 * A request is u32 length, u32 call id, u32 method length, method, u32
 * nargs, then per argument u32 length and bytes; an answer is u32 length,
 * u32 call id, u8 status, payload (all integers big-endian).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_CALL (64u << 20)

/* A call: the method and arguments point into its request buffer. */
typedef struct call {
	uint32_t id, nargs;
	char *method;
	char **args;
} call;

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void reply(FILE *out, uint32_t id, int status, const char *data, size_t len)
{
	unsigned char h[9];
	uint32_t total = (uint32_t)(5 + len);

	h[0] = (unsigned char)(total >> 24), h[1] = (unsigned char)(total >> 16);
	h[2] = (unsigned char)(total >> 8), h[3] = (unsigned char)total;
	h[4] = (unsigned char)(id >> 24), h[5] = (unsigned char)(id >> 16);
	h[6] = (unsigned char)(id >> 8), h[7] = (unsigned char)id;
	h[8] = (unsigned char)status;
	fwrite(h, 1, 9, out);
	fwrite(data, 1, len, out);
	fflush(out);
}

/* Runs one call; the result (or, failed, the message) goes to res. */
static int run(const char *method, uint32_t nargs, char **args, char *res, size_t rlen)
{
	uint32_t i;

	if (!strcmp(method, "sum")) {
		long long s = 0;
		for (i = 0; i < nargs; i++)
			s += strtoll(args[i], NULL, 10);
		snprintf(res, rlen, "%lld\n", s);
	} else if (!strcmp(method, "wc") && nargs == 1) {
		FILE *f = fopen(args[0], "r");
		long lines = 0, words = 0, bytes = 0;
		int c, inword = 0;
		if (!f) {
			snprintf(res, rlen, "cannot open '%s'", args[0]);
			return 1;
		}
		while ((c = getc(f)) != EOF) {
			bytes++;
			lines += c == '\n';
			if (c == ' ' || c == '\t' || c == '\n')
				inword = 0;
			else if (!inword && ++words)
				inword = 1;
		}
		fclose(f);
		snprintf(res, rlen, "%ld %ld %ld\n", lines, words, bytes);
	} else if (!strcmp(method, "pid")) {
		snprintf(res, rlen, "%ld\n", (long)getpid());
	} else if (!strcmp(method, "fail")) {
		snprintf(res, rlen, "%s", nargs ? args[0] : "failed");
		return 1;
	} else {
		snprintf(res, rlen, "no method '%s' (want sum, wc, pid or fail)", method);
		return 1;
	}
	return 0;
}

/* Splits a request body (after its length) into a call, NUL-terminating
 * each string in place (the length prefix after it is already read). */
static int parse(unsigned char *b, uint32_t len, call *c)
{
	uint32_t off, ml, i;

	if (len < 12)
		return -1;
	c->id = be32(b);
	ml = be32(b + 4);
	if (ml > len - 12)
		return -1;
	c->method = (char *)b + 8;
	off = 8 + ml;
	c->nargs = be32(b + off);
	b[off] = '\0';
	off += 4;
	if (c->nargs > (len - off) / 4 || !(c->args = calloc(c->nargs + 1, sizeof(char *))))
		return -1;
	for (i = 0; i < c->nargs; i++) {
		uint32_t al;
		if (len - off < 4 || (al = be32(b + off)) > len - off - 4)
			return -1;
		if (i)
			b[off] = '\0';
		c->args[i] = (char *)b + off + 4;
		off += 4 + al;
	}
	/* the last string ends where the buffer does (one spare byte) */
	b[len] = '\0';
	return 0;
}

static int serve(void)
{
	unsigned char hdr[4], *b = NULL;
	char res[4096];
	size_t cap = 0;

	while (fread(hdr, 1, 4, stdin) == 4) {
		uint32_t len = be32(hdr);
		call c = { 0 };
		int st;
		if (len > MAX_CALL)
			return 1;
		if (len + 1 > cap) {
			free(b);
			cap = len + 1;
			if (!(b = malloc(cap)))
				return 1;
		}
		if (fread(b, 1, len, stdin) != len || parse(b, len, &c)) {
			free(c.args);
			free(b);
			return 1;
		}
		st = run(c.method, c.nargs, c.args, res, sizeof(res));
		reply(stdout, c.id, st, res, strlen(res));
		free(c.args);
	}
	free(b);
	return 0;
}

int main(int argc, char **argv)
{
	char res[4096];
	int st;

	if (argc < 2)
		return serve();
	st = run(argv[1], (uint32_t)(argc - 2), argv + 2, res, sizeof(res));
	fputs(res, st ? stderr : stdout);
	if (st)
		fputc('\n', stderr);
	return st;
}
