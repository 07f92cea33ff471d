/*
 * state_sqlite.c: the embedded back end of the state store: one SQLite
 * database, DIR/state.db, in WAL mode with synchronous=NORMAL: a commit
 * appends to the write-ahead log without an fsync each (a crash of the
 * process loses nothing; only a crash of the host may lose the last
 * commits), so writing on the event loop costs microseconds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "node.h"
#include "state.h"

typedef struct sq {
	sqlite3 *db;
	sqlite3_stmt *put, *del, *scan, *clear;
} sq;

static int step_done(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE ? 0 : RAY_EUNREACH;
}

static int sq_put(void *h, const char *table, const char *key, const char *json)
{
	sq *s = h;

	sqlite3_bind_text(s->put, 1, table, -1, SQLITE_STATIC);
	sqlite3_bind_text(s->put, 2, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(s->put, 3, json, -1, SQLITE_STATIC);
	return step_done(s->put);
}

static int sq_del(void *h, const char *table, const char *key)
{
	sq *s = h;

	sqlite3_bind_text(s->del, 1, table, -1, SQLITE_STATIC);
	sqlite3_bind_text(s->del, 2, key, -1, SQLITE_STATIC);
	return step_done(s->del);
}

static int sq_scan(void *h, const char *table,
                   void (*fn)(void *ud, const char *key, const char *json), void *ud)
{
	sq *s = h;
	int rc;

	sqlite3_bind_text(s->scan, 1, table, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(s->scan)) == SQLITE_ROW) {
		const char *k = (const char *)sqlite3_column_text(s->scan, 0);
		const char *v = (const char *)sqlite3_column_text(s->scan, 1);
		if (k && v)
			fn(ud, k, v);
	}
	sqlite3_reset(s->scan);
	sqlite3_clear_bindings(s->scan);
	return rc == SQLITE_DONE ? 0 : RAY_EUNREACH;
}

static int sq_clear(void *h)
{
	return step_done(((sq *)h)->clear);
}

static void sq_close(void *h)
{
	sq *s = h;

	sqlite3_finalize(s->put);
	sqlite3_finalize(s->del);
	sqlite3_finalize(s->scan);
	sqlite3_finalize(s->clear);
	sqlite3_close(s->db);
	free(s);
}

const state_backend state_sqlite = { sq_put, sq_del, sq_scan, sq_clear, sq_close };

int state_sqlite_open(const char *dir, void **h, ray_err *err)
{
	char path[PATH_MAX + 16];
	sq *s;

	if (ray_mkdir_p(dir, 0700))
		return ray_seterr(err, RAY_EUSAGE, "cannot create the state store directory '%s'", dir);
	snprintf(path, sizeof(path), "%s/state.db", dir);
	if (!(s = calloc(1, sizeof(*s))))
		return ray_seterr(err, RAY_ERESOURCE, "out of memory");
	if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) ||
	    sqlite3_exec(s->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
	                 "CREATE TABLE IF NOT EXISTS kv (t TEXT NOT NULL, k TEXT NOT NULL,"
	                 " v TEXT NOT NULL, PRIMARY KEY (t, k)) WITHOUT ROWID;", NULL, NULL, NULL) ||
	    sqlite3_prepare_v2(s->db, "INSERT OR REPLACE INTO kv (t, k, v) VALUES (?, ?, ?)", -1,
	                       &s->put, NULL) ||
	    sqlite3_prepare_v2(s->db, "DELETE FROM kv WHERE t = ? AND k = ?", -1, &s->del, NULL) ||
	    sqlite3_prepare_v2(s->db, "SELECT k, v FROM kv WHERE t = ?", -1, &s->scan, NULL) ||
	    sqlite3_prepare_v2(s->db, "DELETE FROM kv", -1, &s->clear, NULL)) {
		ray_seterr(err, RAY_EUSAGE, "state store '%s' cannot be opened: %s (corrupt, or not a "
		           "ray-tools state store?)", path, s->db ? sqlite3_errmsg(s->db) : "out of memory");
		sq_close(s);
		return RAY_EUSAGE;
	}
	sqlite3_busy_timeout(s->db, 1000);
	*h = s;
	return 0;
}
