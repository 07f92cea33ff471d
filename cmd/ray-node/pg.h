/* pg.h: placement groups, as the head's table (and its copy on workers) holds them. */
#ifndef PG_H
#define PG_H

#include "node.h"

enum { PG_PENDING, PG_CREATED, PG_RESCHEDULING, PG_REMOVED };
enum { S_PACK, S_SPREAD, S_STRICT_PACK, S_STRICT_SPREAD };

/* A client waiting for its group to be created (pg_create --wait). */
typedef struct pgwait {
	conn *c;
	uint32_t req_id;
	uv_timer_t timer;
	struct pg *g;
	struct pgwait *next;
} pgwait;

typedef char nodeid[RAY_NODEID_LEN + 1];

/* The bundle arrays are sized nb, allocated with the group (pg_new). */
typedef struct pg {
	char id[RAY_ID_MAX + 1];
	char *name;
	int strategy, state, nb;
	res *b;
	nodeid *node;             /* "" while unplaced */
	int placing, replies, refused, *prepared;
	nodeid *try_node;
	pgwait *waiters;
	double created;
	struct pg *next;
} pg;

/* "PENDING", "CREATED", "RESCHEDULING", "REMOVED", by state. */
extern const char *const pg_states[];

/* pg.c: the table. */
/* The group with this id, or this name unless removed; NULL if none. */
pg *pg_find(const char *id);
cJSON *pg_json(const pg *g);
void op_pg(conn *c, uint32_t id, cJSON *req);
void pg_tick(void);
void pg_node_died(const char *id);
cJSON *pgs_json(const char *state, int64_t limit);
cJSON *pg_table_json(void);
void pg_merge_table(const cJSON *a);
const char *pg_bundle_node(const char *pgid, int index, int *state, int *nb);
const char *pg_resolve_id(const char *idname);
int pg_bundle_fits(const char *pgid, int index, const res *req);
int pg_refresh_then(conn *c, uint32_t id, cJSON *req, void (*again)(conn *c, uint32_t id, cJSON *req));
void pgs_free_all(void);
/* A head started again: the groups from the state store; 0 or RAY_E... */
int pg_restore(void);

/* Answers the clients waiting for g: with g, or with the error code. */
void pg_waiters_answer(pg *g, int code, const char *msg);
/* g is CREATED: answer who waits for it. */
void pg_settled(pg *g);
/* A wait for g ran out: its timer's callback. */
void pg_wait_timeout(uv_timer_t *t);

#endif
