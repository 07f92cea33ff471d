/* actor_call.h: method calls on actors: queues, the concurrency window, answers. */
#ifndef ACTOR_CALL_H
#define ACTOR_CALL_H

#include "actor.h"

/* Sends the calls at the head of a's queue while its window has room. */
void actor_pump(actor *a);
/* Takes every whole answer out of a->rx; -1 after a protocol error (the
 * actor is then being killed). */
int actor_parse_answers(actor *a);
/* Ends a call with an error object naming its method and actor. */
void actor_call_fail(task *t, int code, const char *why);
/* Whether one call (method, args, num_returns) suits the protocol. */
int actor_call_check(int protocol, const cJSON *call, ray_err *err);
/* Queues t, a call whose record and results exist, on a (its @REF
 * arguments become dependencies); on a dead actor it fails at once. */
void actor_call_enqueue(actor *a, task *t);
/* Queues the calls of req on a, hosted here, and replies their refs. */
void actor_calls_here(actor *a, conn *c, uint32_t id, cJSON *req);
/* actor_call on the head for an actor it hosts (by id or name). */
void actor_op_call(conn *c, uint32_t id, cJSON *req);
/* actor_exec: calls another node made, for an actor hosted here. */
void actor_op_exec(conn *c, uint32_t id, cJSON *req);
/* Runs the actor_exec requests held until their caller is in the view. */
void actor_exec_tick(void);
void actor_exec_free_all(void);
void actor_call_ready(task *t);
/* The call in flight on the actor id hosted here, when there is exactly
 * one (a task that the actor submits is its child); else id. */
const char *actor_call_of(const char *id);
/* ray-cancel on an actor call: 1 when cancelled, 0 when already done. */
int actor_call_cancel(task *t, const char *msg);

#endif
