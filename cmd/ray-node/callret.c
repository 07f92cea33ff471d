/*
 * callret.c: the result of a call, answered through one of the protocols
 * of proto.c, as the return objects of its task.  Actor calls and pooled
 * tasks share it, so an answer splits into several returns the same way
 * whoever answered.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node.h"
#include "callret.h"
#include "proto.h"
#include "store.h"

/* A result that cannot be stored is an error object, never a ref that
 * stays pending for ever. */
static void put_result(obj *o, const char *data, size_t len)
{
	if (o && store_fill(o, data, len))
		store_fail(o, RAY_ERESOURCE, "the result could not be stored: object store full or out of memory");
}

/* Each text field is a result line: it gets the newline. */
static void put_line(obj *o, const char *data, size_t len)
{
	char *f = malloc(len + 1);

	if (!f) {
		if (o)
			store_fail(o, RAY_ERESOURCE, "out of memory");
		return;
	}
	memcpy(f, data, len);
	f[len] = '\n';
	put_result(o, f, len + 1);
	free(f);
}

int callret_store(task *t, int protocol, const char *data, size_t len, char *why, size_t wlen)
{
	const char **parts;
	size_t *lens;
	int i, n;

	if (t->num_returns == 1) {
		put_result(t->rets[0], data, len);
		return 0;
	}
	parts = calloc((size_t)t->num_returns, sizeof(*parts));
	lens = calloc((size_t)t->num_returns, sizeof(*lens));
	n = parts && lens ? proto_split_returns(protocol, data, len, t->num_returns, parts, lens) : -2;
	if (n != t->num_returns) {
		if (n == -2)
			snprintf(why, wlen, "could not be stored: out of memory");
		else if (n < 0)
			snprintf(why, wlen, "failed: its answer is not %d u32-prefixed items", t->num_returns);
		else
			snprintf(why, wlen, "failed: it answered %d values but %d were asked for", n, t->num_returns);
		free(parts);
		free(lens);
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (protocol == P_FRAME)
			put_result(t->rets[i], parts[i], lens[i]);
		else
			put_line(t->rets[i], parts[i], lens[i]);
	}
	free(parts);
	free(lens);
	return 0;
}
