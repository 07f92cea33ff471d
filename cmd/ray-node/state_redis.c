/*
 * state_redis.c: the state store in a Redis server (hiredis), so that the
 * head's host can be lost: a table is one hash, PREFIX:TABLE, a record one
 * field.  Commands are synchronous with a 2 s timeout; a connection that
 * broke is dialed again on the next command.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <hiredis/hiredis.h>

#include "node.h"
#include "state.h"

static const char *const tables[] = { "meta", "pg", "job", "actor" };

typedef struct rd {
	redisContext *c;
	char host[256], prefix[64];
	int port;
} rd;

static int dial(rd *r)
{
	struct timeval tv = { 2, 0 };

	if (r->c && !r->c->err)
		return 0;
	if (r->c)
		redisFree(r->c);
	r->c = redisConnectWithTimeout(r->host, r->port, tv);
	if (!r->c || r->c->err)
		return RAY_EUNREACH;
	redisSetTimeout(r->c, tv);
	return 0;
}

/* Runs a command; the reply (caller frees) or NULL, the link marked broken. */
static redisReply *cmd(rd *r, int argc, const char **argv)
{
	redisReply *rep;

	if (dial(r))
		return NULL;
	rep = redisCommandArgv(r->c, argc, argv, NULL);
	if (!rep || rep->type == REDIS_REPLY_ERROR) {
		if (rep)
			freeReplyObject(rep);
		else if (r->c)
			r->c->err = REDIS_ERR_IO;
		return NULL;
	}
	return rep;
}

static int run(rd *r, int argc, const char **argv)
{
	redisReply *rep = cmd(r, argc, argv);

	if (!rep)
		return RAY_EUNREACH;
	freeReplyObject(rep);
	return 0;
}

static void hash_key(const rd *r, const char *table, char *buf, size_t len)
{
	snprintf(buf, len, "%s:%s", r->prefix, table);
}

static int rd_put(void *h, const char *table, const char *key, const char *json)
{
	char hk[128];
	const char *argv[] = { "HSET", hk, key, json };

	hash_key(h, table, hk, sizeof(hk));
	return run(h, 4, argv);
}

static int rd_del(void *h, const char *table, const char *key)
{
	char hk[128];
	const char *argv[] = { "HDEL", hk, key };

	hash_key(h, table, hk, sizeof(hk));
	return run(h, 3, argv);
}

static int rd_scan(void *h, const char *table,
                   void (*fn)(void *ud, const char *key, const char *json), void *ud)
{
	char hk[128];
	const char *argv[] = { "HGETALL", hk };
	redisReply *rep;
	size_t i;

	hash_key(h, table, hk, sizeof(hk));
	if (!(rep = cmd(h, 2, argv)))
		return RAY_EUNREACH;
	if (rep->type != REDIS_REPLY_ARRAY || rep->elements % 2) {
		freeReplyObject(rep);
		return RAY_EUNREACH;
	}
	for (i = 0; i + 1 < rep->elements; i += 2)
		if (rep->element[i]->type == REDIS_REPLY_STRING &&
		    rep->element[i + 1]->type == REDIS_REPLY_STRING)
			fn(ud, rep->element[i]->str, rep->element[i + 1]->str);
	freeReplyObject(rep);
	return 0;
}

static int rd_clear(void *h)
{
	char hk[128];
	const char *argv[] = { "DEL", hk };
	size_t i;
	int rc = 0;

	for (i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
		hash_key(h, tables[i], hk, sizeof(hk));
		rc |= run(h, 2, argv);
	}
	return rc ? RAY_EUNREACH : 0;
}

static void rd_close(void *h)
{
	rd *r = h;

	if (r->c)
		redisFree(r->c);
	free(r);
}

const state_backend state_redis = { rd_put, rd_del, rd_scan, rd_clear, rd_close };

int state_redis_open(const char *host, int port, const char *prefix, void **h, ray_err *err)
{
	rd *r = calloc(1, sizeof(*r));
	const char *ping[] = { "PING" };

	if (!r)
		return ray_seterr(err, RAY_ERESOURCE, "out of memory");
	snprintf(r->host, sizeof(r->host), "%s", host);
	snprintf(r->prefix, sizeof(r->prefix), "%s", prefix);
	r->port = port;
	if (run(r, 1, ping)) {
		ray_seterr(err, RAY_EUNREACH, "cannot reach the Redis state store at %s:%d%s%s", host,
		           port, r->c && r->c->errstr[0] ? ": " : "", r->c ? r->c->errstr : "");
		rd_close(r);
		return RAY_EUNREACH;
	}
	*h = r;
	return 0;
}
