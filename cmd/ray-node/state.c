/*
 * state.c: the head's durable tables, behind one small interface, so that
 * a head started again resumes the cluster: placement groups with their
 * bundles' nodes, jobs, and the cluster's identity (the token's hash, so a
 * store is never taken over by another cluster).  Two back ends: SQLite in
 * a directory (the default, $RAY_TMPDIR/state) and Redis (so the head's
 * host itself can be lost).  A change is written before the request that
 * made it is answered.  See docs/design.md for why the writes are
 * synchronous.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "node.h"
#include "state.h"

static const state_backend *be;
static void *bh;
static char prev_head[RAY_NODEID_LEN + 1];   /* the head before this one */

const char *state_prev_head(void)
{
	return prev_head[0] ? prev_head : NULL;
}

int state_on(void)
{
	return be != NULL;
}

static int parse_redis(const char *u, char *host, size_t hl, int *port, char *prefix, size_t pl)
{
	const char *p = u + 8, *colon, *slash;
	char num[8];
	size_t n;
	long v;
	char *end;

	slash = strchr(p, '/');
	colon = strrchr(p, ':');
	if (!colon || (slash && colon > slash) || colon == p)
		return -1;
	n = (size_t)(colon - p);
	if (n >= hl)
		return -1;
	memcpy(host, p, n);
	host[n] = '\0';
	n = slash ? (size_t)(slash - colon - 1) : strlen(colon + 1);
	if (n == 0 || n >= sizeof(num))
		return -1;
	memcpy(num, colon + 1, n);
	num[n] = '\0';
	v = strtol(num, &end, 10);
	if (*end || v < 1 || v > 65535)
		return -1;
	*port = (int)v;
	snprintf(prefix, pl, "%s", slash && slash[1] ? slash + 1 : "ray");
	return strlen(prefix) < 64 && !strpbrk(prefix, " \t\r\n") ? 0 : -1;
}

/* The cluster's identity: a hash of the token, never the token. */
static void identity(const unsigned char key[RAY_KEY_LEN], char out[65])
{
	unsigned char h[32];

	crypto_generichash(h, sizeof(h), (const unsigned char *)"ray-tools state", 15, key,
	                   RAY_KEY_LEN);
	sodium_bin2hex(out, 65, h, sizeof(h));
}

typedef struct meta_seen {
	char id[65];
	int n;
} meta_seen;

static void on_meta(void *ud, const char *key, const cJSON *v)
{
	meta_seen *m = ud;

	if (!strcmp(key, "cluster") && rj_str(v, "identity")) {
		snprintf(m->id, sizeof(m->id), "%s", rj_str(v, "identity"));
		m->n++;
	}
	if (!strcmp(key, "head") && rj_str(v, "node_id") && strlen(rj_str(v, "node_id")) <= RAY_NODEID_LEN)
		snprintf(prev_head, sizeof(prev_head), "%s", rj_str(v, "node_id"));
}

int state_open(const char *url, const unsigned char key[RAY_KEY_LEN], ray_err *err)
{
	char dflt[PATH_MAX + 16], host[256], prefix[64], id[65];
	meta_seen m = { "", 0 };
	cJSON *rec;
	int rc, port;
	int own = url && *url;

	if (!own) {
		snprintf(dflt, sizeof(dflt), "file:%s/state", ray_tmpdir());
		url = dflt;
	}
	if (!strcmp(url, "none"))
		return 0;   /* nothing durable: for measuring, or a throwaway head */
	if (!strncmp(url, "file:", 5) && url[5]) {
		be = &state_sqlite;
		rc = state_sqlite_open(url + 5, &bh, err);
	} else if (!strncmp(url, "redis://", 8)) {
		if (parse_redis(url, host, sizeof(host), &port, prefix, sizeof(prefix)))
			return ray_seterr(err, RAY_EUSAGE,
			                  "bad --state-store '%s': want file:DIR or redis://HOST:PORT[/PREFIX]", url);
		be = &state_redis;
		rc = state_redis_open(host, port, prefix, &bh, err);
	} else {
		return ray_seterr(err, RAY_EUSAGE,
		                  "bad --state-store '%s': want file:DIR or redis://HOST:PORT[/PREFIX]", url);
	}
	if (rc) {
		be = NULL;
		return rc;
	}
	identity(key, id);
	if ((rc = state_scan("meta", on_meta, &m))) {
		state_close();
		return ray_seterr(err, RAY_EUSAGE, "state store '%s' cannot be read: corrupt, or not a "
		                  "ray-tools state store", url);
	}
	if (m.n && strcmp(m.id, id)) {
		/* The default store of a cluster whose head died, and a head
		 * with a new token: that cluster is over, this one starts
		 * afresh.  A store named on purpose is never taken over. */
		if (!own) {
			node_log("the state store in %s was another cluster's: starting afresh", url);
			state_clear();
			prev_head[0] = '\0';
		} else {
			state_close();
			return ray_seterr(err, RAY_EUSAGE, "state store '%s' belongs to another cluster "
			                  "(another token); give this head its own --state-store", url);
		}
	}
	rec = cJSON_CreateObject();
	cJSON_AddStringToObject(rec, "identity", id);
	rc = state_put("meta", "cluster", rec);
	cJSON_Delete(rec);
	rec = cJSON_CreateObject();
	cJSON_AddStringToObject(rec, "node_id", N->id);
	rc = rc ? rc : state_put("meta", "head", rec);
	cJSON_Delete(rec);
	if (rc) {
		state_close();
		return ray_seterr(err, RAY_EUNREACH, "cannot write the state store '%s'", url);
	}
	return 0;
}

/* One retry: a Redis that dropped the connection is dialed again by its
 * back end; a second failure is logged and returned, never fatal. */
int state_put(const char *table, const char *key, const cJSON *value)
{
	char *text;
	int rc;

	if (!be)
		return 0;
	if (!(text = cJSON_PrintUnformatted(value)))
		return RAY_ERESOURCE;
	rc = be->put(bh, table, key, text);
	if (rc)
		rc = be->put(bh, table, key, text);
	if (rc)
		node_log("state store: cannot write %s/%s; the change is not durable", table, key);
	free(text);
	return rc;
}

int state_del(const char *table, const char *key)
{
	int rc;

	if (!be)
		return 0;
	rc = be->del(bh, table, key);
	if (rc)
		rc = be->del(bh, table, key);
	if (rc)
		node_log("state store: cannot delete %s/%s", table, key);
	return rc;
}

typedef struct scan_ctx {
	void (*fn)(void *ud, const char *key, const cJSON *value);
	void *ud;
	int bad;
} scan_ctx;

static void on_record(void *ud, const char *key, const char *json)
{
	scan_ctx *s = ud;
	cJSON *v = cJSON_Parse(json);

	if (!v || !cJSON_IsObject(v)) {
		s->bad++;
	} else {
		s->fn(s->ud, key, v);
	}
	cJSON_Delete(v);
}

int state_scan(const char *table, void (*fn)(void *ud, const char *key, const cJSON *value),
               void *ud)
{
	scan_ctx s = { fn, ud, 0 };
	int rc;

	if (!be)
		return 0;
	rc = be->scan(bh, table, on_record, &s);
	if (!rc && s.bad)
		node_log("state store: %d unreadable records in %s skipped", s.bad, table);
	return rc;
}

void state_clear(void)
{
	if (be && be->clear(bh))
		node_log("state store: cannot clear it; the next head will resume from it");
}

void state_close(void)
{
	if (be)
		be->close(bh);
	be = NULL;
	bh = NULL;
}
