/* proto.c: the actor wire protocols (cmd/ray-node/proto.c) turn bytes from
 * an untrusted child into answers: whole answers come out with their ids,
 * statuses and bytes, partial input waits for more, and every malformed
 * input is refused with its reason; calls are written byte for byte as
 * docs/actor-protocols.md shows. */
#include <stdint.h>
#include <stdlib.h>

#include "proto.h"
#include "unit.h"

static long next(int protocol, const char *buf, size_t len, size_t *scanned, proto_answer *ans,
                 const char **why)
{
	*why = NULL;
	memset(ans, 0xa5, sizeof(*ans));
	return proto_next_answer(protocol, buf, len, scanned, ans, why);
}

static int data_is(const proto_answer *a, const char *want, size_t len)
{
	return a->len == len && memcmp(a->data, want, len) == 0;
}

static void names(void)
{
	CHECK_EQ_STR(proto_name(P_LINE), "line");
	CHECK_EQ_STR(proto_name(P_TAGGED), "tagged");
	CHECK_EQ_STR(proto_name(P_FRAME), "frame");
	CHECK_EQ_INT(proto_parse_name(NULL), P_LINE);
	CHECK_EQ_INT(proto_parse_name("line"), P_LINE);
	CHECK_EQ_INT(proto_parse_name("tagged"), P_TAGGED);
	CHECK_EQ_INT(proto_parse_name("frame"), P_FRAME);
	CHECK_EQ_INT(proto_parse_name("Frame"), -1);
	CHECK_EQ_INT(proto_parse_name(""), -1);
}

/* Takes the next answer off *p and checks it; 0 when it is not as wanted. */
static int take(int protocol, const char **p, size_t *left, size_t *scanned, uint32_t id,
                int status, const char *data, size_t len)
{
	const char *why;
	proto_answer a;
	long n = next(protocol, *p, *left, scanned, &a, &why);

	if (n <= 0 || (size_t)n > *left || a.id != id || a.status != status || !data_is(&a, data, len)) {
		fprintf(stderr, "answer at '%.20s': %ld, id %u, status %d, %zu bytes\n", *p, n,
		        (unsigned)a.id, a.status, a.len);
		return 0;
	}
	*p += n;
	*left -= (size_t)n;
	return 1;
}

static void line(void)
{
	static const char in[] = "42\n!division by zero\n\nx\r\ta\n!\n";
	const char *why, *p = in;
	size_t scanned = 0, left = sizeof(in) - 1;
	proto_answer a;

	CHECK(take(P_LINE, &p, &left, &scanned, 0, 0, "42\n", 3));   /* the result keeps its LF */
	CHECK(take(P_LINE, &p, &left, &scanned, 0, 1, "division by zero", 16));
	CHECK(take(P_LINE, &p, &left, &scanned, 0, 0, "\n", 1));     /* an empty line is a result */
	CHECK(take(P_LINE, &p, &left, &scanned, 0, 0, "x\r\ta\n", 5)); /* CR and TAB are result bytes */
	CHECK(take(P_LINE, &p, &left, &scanned, 0, 1, "", 0));        /* "!": an empty message */
	CHECK_EQ_INT(left, 0);
	CHECK_EQ_INT(next(P_LINE, p, 0, &scanned, &a, &why), 0);
}

/* An answer that arrives in pieces: nothing until its LF, each byte
 * scanned once, then the whole line. */
static void line_partial(void)
{
	char buf[64] = "hel";
	const char *why;
	size_t scanned = 0;
	proto_answer a;

	CHECK_EQ_INT(next(P_LINE, buf, 3, &scanned, &a, &why), 0);
	CHECK(why == NULL);
	CHECK_EQ_INT(scanned, 3);
	memcpy(buf + 3, "lo wor", 6);
	CHECK_EQ_INT(next(P_LINE, buf, 9, &scanned, &a, &why), 0);
	CHECK_EQ_INT(scanned, 9);
	memcpy(buf + 9, "ld\nnext", 7);
	CHECK_EQ_INT(next(P_LINE, buf, 16, &scanned, &a, &why), 12);
	CHECK(data_is(&a, "hello world\n", 12));
	CHECK_EQ_INT(scanned, 0);
	CHECK_EQ_INT(next(P_LINE, buf + 12, 4, &scanned, &a, &why), 0);
	CHECK_EQ_INT(scanned, 4);
}

/* A line past the message limit is refused without scanning it again
 * (only the new byte is read here: the rest is untouched memory). */
static void line_too_long(void)
{
	char *big = malloc((size_t)RAY_DATA_MAX + 2);
	const char *why;
	size_t scanned;
	proto_answer a;

	if (!big) {
		CHECK(!"out of memory");
		return;
	}
	big[RAY_DATA_MAX - 1] = 'y';
	big[RAY_DATA_MAX] = 'x';
	scanned = RAY_DATA_MAX - 1;
	CHECK_EQ_INT(next(P_TAGGED, big, RAY_DATA_MAX, &scanned, &a, &why), 0);
	CHECK(why == NULL);
	CHECK_EQ_INT(scanned, RAY_DATA_MAX);
	CHECK_EQ_INT(next(P_LINE, big, (size_t)RAY_DATA_MAX + 1, &scanned, &a, &why), -1);
	CHECK_EQ_STR(why, "answer line too long");
	free(big);
}

static void tagged(void)
{
	static const char in[] = "2\tslept 1\n1\t!no method x\n12\t\n3\ta\tb\n";
	const char *why, *p = in;
	size_t scanned = 0, left = sizeof(in) - 1;
	proto_answer a;

	CHECK(take(P_TAGGED, &p, &left, &scanned, 2, 0, "slept 1\n", 8));
	CHECK(take(P_TAGGED, &p, &left, &scanned, 1, 1, "no method x", 11));
	CHECK(take(P_TAGGED, &p, &left, &scanned, 12, 0, "\n", 1));
	CHECK(take(P_TAGGED, &p, &left, &scanned, 3, 0, "a\tb\n", 4)); /* only the first TAB ends the id */
	CHECK_EQ_INT(left, 0);

	/* Partial, then whole. */
	scanned = 0;
	CHECK_EQ_INT(next(P_TAGGED, "4\tpar", 5, &scanned, &a, &why), 0);
	CHECK(why == NULL);
	CHECK_EQ_INT(next(P_TAGGED, "4\tpartial\n", 10, &scanned, &a, &why), 10);
	CHECK_EQ_INT(a.id, 4);
	CHECK(data_is(&a, "partial\n", 8));
}

static void tagged_bad(void)
{
	static const struct { const char *in, *why; } bad[] = {
		{ "no id here\n", "answer without a call id" },
		{ "\tstarts with a tab\n", "answer without a call id" },
		{ "\n", "answer without a call id" },
		{ "12x\tok\n", "answer to an unknown call id" },
		{ "abc\tok\n", "answer to an unknown call id" },
		{ "1 2\tok\n", "answer to an unknown call id" },
	};
	size_t i, scanned;
	const char *why;
	proto_answer a;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		scanned = 0;
		CHECK_EQ_INT(next(P_TAGGED, bad[i].in, strlen(bad[i].in), &scanned, &a, &why), -1);
		CHECK_EQ_STR(why, bad[i].why);
	}
	/* A TAB after the LF does not make the line an answer with an id. */
	scanned = 0;
	CHECK_EQ_INT(next(P_TAGGED, "7\n\tx", 4, &scanned, &a, &why), -1);
	CHECK_EQ_STR(why, "answer without a call id");
	/* Ids the call table must reject are passed on as numbers. */
	scanned = 0;
	CHECK_EQ_INT(next(P_TAGGED, "4294967295\tok\n", 14, &scanned, &a, &why), 14);
	CHECK(a.id == UINT32_MAX);
}

/* An answer frame: u32 length, u32 id, u8 status, payload. */
static size_t frame(unsigned char *b, uint32_t len, uint32_t id, int status, const char *pay, size_t plen)
{
	b[0] = (unsigned char)(len >> 24), b[1] = (unsigned char)(len >> 16);
	b[2] = (unsigned char)(len >> 8), b[3] = (unsigned char)len;
	b[4] = (unsigned char)(id >> 24), b[5] = (unsigned char)(id >> 16);
	b[6] = (unsigned char)(id >> 8), b[7] = (unsigned char)id;
	b[8] = (unsigned char)status;
	memcpy(b + 9, pay, plen);
	return 9 + plen;
}

static void frames(void)
{
	/* The examples of docs/actor-protocols.md, back to back. */
	static const unsigned char doc[] = {
		0, 0, 0, 7, 0, 0, 0, 7, 0, '4', '2',
		0, 0, 0, 0x0c, 0, 0, 0, 7, 1, 'b', 'a', 'd', ' ', 'a', 'r', 'g',
	};
	unsigned char b[64];
	const char *why, *p = (const char *)doc;
	size_t scanned = 0, left = sizeof(doc), n;
	proto_answer a;
	int k;

	CHECK(take(P_FRAME, &p, &left, &scanned, 7, 0, "42", 2));
	CHECK(take(P_FRAME, &p, &left, &scanned, 7, 1, "bad arg", 7));
	CHECK_EQ_INT(left, 0);

	/* Every byte value is payload; an empty payload is a result. */
	n = frame(b, 5 + 4, 0x01020304, 0, "\n\0\t!", 4);
	CHECK_EQ_INT(next(P_FRAME, (char *)b, n, &scanned, &a, &why), 13);
	CHECK(a.id == 0x01020304);
	CHECK(data_is(&a, "\n\0\t!", 4));
	n = frame(b, 5, 9, 0, "", 0);
	CHECK_EQ_INT(next(P_FRAME, (char *)b, n, &scanned, &a, &why), 9);
	CHECK_EQ_INT(a.len, 0);

	/* Truncated anywhere: wait for the rest, then take it whole. */
	n = frame(b, 5 + 2, 3, 0, "ok", 2);
	for (k = 0; k < (int)n; k++) {
		CHECK_EQ_INT(next(P_FRAME, (char *)b, (size_t)k, &scanned, &a, &why), 0);
		CHECK(why == NULL);
	}
	CHECK_EQ_INT(next(P_FRAME, (char *)b, n, &scanned, &a, &why), (long)n);
	CHECK(data_is(&a, "ok", 2));

	/* A status other than 0 or 1 is passed on, for the caller to refuse
	 * once it knows whether the id is one in flight. */
	n = frame(b, 5 + 1, 3, 2, "z", 1);
	CHECK_EQ_INT(next(P_FRAME, (char *)b, n, &scanned, &a, &why), (long)n);
	CHECK_EQ_INT(a.status, 2);
}

static void frames_bad(void)
{
	unsigned char b[16];
	const char *why;
	size_t scanned = 0;
	proto_answer a;
	uint32_t len;

	/* Shorter than its id and status. */
	for (len = 0; len < 5; len++) {
		frame(b, len, 1, 0, "", 0);
		CHECK_EQ_INT(next(P_FRAME, (char *)b, 9, &scanned, &a, &why), -1);
		CHECK_EQ_STR(why, "answer length out of range");
	}
	/* Past the message limit: refused from its length alone. */
	frame(b, RAY_DATA_MAX + 1, 1, 0, "", 0);
	CHECK_EQ_INT(next(P_FRAME, (char *)b, 4, &scanned, &a, &why), -1);
	CHECK_EQ_STR(why, "answer length out of range");
	frame(b, UINT32_MAX, 1, 0, "", 0);
	CHECK_EQ_INT(next(P_FRAME, (char *)b, 9, &scanned, &a, &why), -1);
	CHECK_EQ_STR(why, "answer length out of range");
	/* At the limit: allowed, so it waits for the bytes. */
	frame(b, RAY_DATA_MAX, 1, 0, "", 0);
	CHECK_EQ_INT(next(P_FRAME, (char *)b, 9, &scanned, &a, &why), 0);
	CHECK(why == NULL);
}

static void split(void)
{
	const char *parts[4];
	size_t lens[4];
	static const char items[] = "\0\0\0\2hi\0\0\0\0\0\0\0\3a\tb";

	CHECK_EQ_INT(proto_split_returns(P_LINE, "a\tbc\t\n", 6, 3, parts, lens), 3);
	CHECK(lens[0] == 1 && !memcmp(parts[0], "a", 1));
	CHECK(lens[1] == 2 && !memcmp(parts[1], "bc", 2));
	CHECK_EQ_INT(lens[2], 0);
	CHECK_EQ_INT(proto_split_returns(P_TAGGED, "a\tb\tc\n", 6, 2, parts, lens), 3);
	CHECK_EQ_INT(proto_split_returns(P_LINE, "\n", 1, 2, parts, lens), 1);
	CHECK_EQ_INT(proto_split_returns(P_LINE, "x", 1, 1, parts, lens), 1);
	CHECK(lens[0] == 1 && parts[0][0] == 'x');

	CHECK_EQ_INT(proto_split_returns(P_FRAME, items, sizeof(items) - 1, 3, parts, lens), 3);
	CHECK(lens[0] == 2 && !memcmp(parts[0], "hi", 2));
	CHECK_EQ_INT(lens[1], 0);
	CHECK(lens[2] == 3 && !memcmp(parts[2], "a\tb", 3));
	CHECK_EQ_INT(proto_split_returns(P_FRAME, items, 0, 1, parts, lens), 0);
	CHECK_EQ_INT(proto_split_returns(P_FRAME, items, 3, 1, parts, lens), -1);
	CHECK_EQ_INT(proto_split_returns(P_FRAME, items, 5, 1, parts, lens), -1);
	CHECK_EQ_INT(proto_split_returns(P_FRAME, items, sizeof(items) - 2, 3, parts, lens), -1);
}

static char *as_path(const char *arg)
{
	size_t n = strlen(arg) + 6;
	char *s;

	if (arg[0] != '@')
		return strdup(arg);
	if (!strcmp(arg, "@gone"))
		return NULL;
	s = malloc(n);
	if (s)
		snprintf(s, n, "/o/%s", arg + 1);
	return s;
}

static int wrote(int protocol, uint32_t id, const char *method, char *const *args,
                 char *(*resolve)(const char *), const void *want, size_t len)
{
	rbuf b = { 0 };
	int ok = proto_write_call(&b, protocol, id, method, args, resolve) == 0 &&
	         b.len == len && !memcmp(b.p, want, len);

	if (!ok)
		fprintf(stderr, "wrote %zu bytes: '%.*s'\n", b.len, (int)b.len, b.p ? b.p : "");
	rbuf_release(&b);
	return ok;
}

static void calls(void)
{
	char *none[] = { NULL }, *add[] = { "2", "40", NULL }, *refs[] = { "@ab", "@gone", "x", NULL };
	static const unsigned char doc[] = {
		0, 0, 0, 0x1a, 0, 0, 0, 7, 0, 0, 0, 3, 'a', 'd', 'd', 0, 0, 0, 2,
		0, 0, 0, 1, '2', 0, 0, 0, 2, '4', '0',
	};
	static const unsigned char empty[] = { 0, 0, 0, 12, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0 };

	CHECK(wrote(P_LINE, 1, "get", none, NULL, "get\n", 4));
	CHECK(wrote(P_LINE, 9, "add", add, NULL, "add\t2\t40\n", 9));
	CHECK(wrote(P_TAGGED, 7, "add", add, NULL, "7\tadd\t2\t40\n", 11));
	CHECK(wrote(P_TAGGED, UINT32_MAX, "m", none, NULL, "4294967295\tm\n", 13));
	CHECK(wrote(P_FRAME, 7, "add", add, NULL, doc, sizeof(doc)));
	CHECK(wrote(P_FRAME, 1, "", none, NULL, empty, sizeof(empty)));
	/* Arguments pass through the resolver; one it cannot resolve is empty. */
	CHECK(wrote(P_LINE, 1, "load", refs, as_path, "load\t/o/ab\t\tx\n", 14));
	CHECK(wrote(P_TAGGED, 5, "load", refs, as_path, "5\tload\t/o/ab\t\tx\n", 16));
}

int main(void)
{
	names();
	line();
	line_partial();
	line_too_long();
	tagged();
	tagged_bad();
	frames();
	frames_bad();
	split();
	calls();
	return unit_done("proto");
}
