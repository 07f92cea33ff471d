/*
 * proto.c: the three ways an actor's calls and answers cross its pipes
 * (docs/actor-protocols.md): line (text, answers in call order), tagged
 * (text with a call id) and frame (binary, u32 big-endian lengths).
 *
 * Kept apart from the actor's process and queues, and free of I/O and of
 * the node's state, so that the one place that turns bytes from an
 * untrusted child into answers can be tested on its own (t/unit/proto.c):
 * a parser here only says what a buffer holds and how much of it that
 * took; which call an answer belongs to, and what to do with a broken
 * actor, is actor_call.c's business.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

const char *proto_name(int p)
{
	return p == P_LINE ? "line" : p == P_TAGGED ? "tagged" : "frame";
}

int proto_parse_name(const char *s)
{
	if (!s || !strcmp(s, "line"))
		return P_LINE;
	if (!strcmp(s, "tagged"))
		return P_TAGGED;
	if (!strcmp(s, "frame"))
		return P_FRAME;
	return -1;
}

static uint32_t get_u32(const char *p)
{
	const unsigned char *u = (const unsigned char *)p;

	return (uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 | (uint32_t)u[2] << 8 | u[3];
}

static long next_frame(const char *p, size_t avail, proto_answer *ans, const char **why)
{
	uint32_t len;

	if (avail < 4)
		return 0;
	len = get_u32(p);
	if (len < 5 || len > RAY_DATA_MAX) {
		*why = "answer length out of range";
		return -1;
	}
	if (avail < 4 + (size_t)len)
		return 0;
	ans->id = get_u32(p + 4);
	ans->status = (unsigned char)p[8];
	ans->data = p + 9;
	ans->len = len - 5;
	return 4 + (long)len;
}

static long next_text(int protocol, const char *p, size_t avail, size_t *scanned,
                      proto_answer *ans, const char **why)
{
	/* A long line arrives in many reads: scan each byte once. */
	size_t skip = *scanned < avail ? *scanned : 0;
	const char *nl = memchr(p + skip, '\n', avail - skip);
	const char *line = p;
	size_t ll;

	if (!nl) {
		*scanned = avail;
		if (avail > RAY_DATA_MAX) {
			*why = "answer line too long";
			return -1;
		}
		return 0;
	}
	*scanned = 0;
	ll = (size_t)(nl - p);
	ans->id = 0;
	if (protocol == P_TAGGED) {
		const char *tab = memchr(p, '\t', ll);
		char *end;
		unsigned long id;
		if (!tab || tab == p) {
			*why = "answer without a call id";
			return -1;
		}
		id = strtoul(p, &end, 10);
		if (end != tab) {
			*why = "answer to an unknown call id";
			return -1;
		}
		ans->id = (uint32_t)id;
		ll -= (size_t)(tab + 1 - p);
		line = tab + 1;
	}
	if (ll > 0 && line[0] == '!') {
		ans->status = 1;
		ans->data = line + 1;
		ans->len = ll - 1;
	} else {
		ans->status = 0;
		ans->data = line;
		ans->len = ll + 1;   /* the result keeps its newline */
	}
	return (long)(nl + 1 - p);
}

long proto_next_answer(int protocol, const char *buf, size_t len, size_t *scanned,
                       proto_answer *ans, const char **why)
{
	if (protocol == P_FRAME)
		return next_frame(buf, len, ans, why);
	return next_text(protocol, buf, len, scanned, ans, why);
}

int proto_split_returns(int protocol, const char *data, size_t len, int n,
                        const char **parts, size_t *lens)
{
	const char *p = data, *end = data + len;
	int k = 0;

	if (protocol != P_FRAME) {
		if (len > 0 && end[-1] == '\n')
			end--;
		for (;;) {
			const char *tab = memchr(p, '\t', (size_t)(end - p));
			const char *stop = tab ? tab : end;
			if (k < n) {
				parts[k] = p;
				lens[k] = (size_t)(stop - p);
			}
			k++;
			if (!tab)
				return k;
			p = tab + 1;
		}
	}
	while (p < end) {
		uint32_t l;
		if (end - p < 4)
			return -1;
		l = get_u32(p);
		p += 4;
		if ((size_t)(end - p) < l)
			return -1;
		if (k < n) {
			parts[k] = p;
			lens[k] = l;
		}
		k++;
		p += l;
	}
	return k;
}

static void put_u32(rbuf *b, uint32_t v)
{
	unsigned char x[4] = { (unsigned char)(v >> 24), (unsigned char)(v >> 16),
	                       (unsigned char)(v >> 8), (unsigned char)v };
	rbuf_append(b, x, 4);
}

/* Appends one argument, resolved; a prefix (the frame's length) first. */
static void put_arg(rbuf *b, const char *arg, char *(*resolve)(const char *), int framed)
{
	char *r = resolve ? resolve(arg) : NULL;
	const char *s = resolve ? (r ? r : "") : arg;

	if (framed)
		put_u32(b, (uint32_t)strlen(s));
	else
		rbuf_append(b, "\t", 1);
	rbuf_append(b, s, strlen(s));
	free(r);
}

int proto_write_call(rbuf *b, int protocol, uint32_t id, const char *method,
                     char *const *args, char *(*resolve)(const char *arg))
{
	char num[16];
	int i;

	if (protocol == P_FRAME) {
		size_t lenpos;
		put_u32(b, 0);
		lenpos = b->len;
		put_u32(b, id);
		put_u32(b, (uint32_t)strlen(method));
		rbuf_append(b, method, strlen(method));
		for (i = 0; args[i]; i++)
			;
		put_u32(b, (uint32_t)i);
		for (i = 0; args[i]; i++)
			put_arg(b, args[i], resolve, 1);
		if (b->p) {
			uint32_t total = (uint32_t)(b->len - lenpos);
			b->p[0] = (char)(total >> 24);
			b->p[1] = (char)(total >> 16);
			b->p[2] = (char)(total >> 8);
			b->p[3] = (char)total;
		}
	} else {
		if (protocol == P_TAGGED) {
			snprintf(num, sizeof(num), "%u\t", id);
			rbuf_append(b, num, strlen(num));
		}
		rbuf_append(b, method, strlen(method));
		for (i = 0; args[i]; i++)
			put_arg(b, args[i], resolve, 0);
		rbuf_append(b, "\n", 1);
	}
	return b->p ? 0 : -1;
}
