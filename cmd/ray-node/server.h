/* server.h: the daemon's sockets: connections, replies, close hooks (server.c). */
#ifndef RAY_NODE_SERVER_H
#define RAY_NODE_SERVER_H

#include "node.h"

int server_start(node *n, ray_err *err);
void server_stop(node *n);
/* Serves requests on fd (one end of a socketpair) as an authenticated
 * connection, with no handshake: for t/fuzz/ops.c, which feeds frames
 * through the op table in-process; the daemon never calls it. */
int server_adopt(int fd);
void conn_reply(conn *c, uint32_t req_id, cJSON *reply, const void *data, size_t dlen);
void conn_reply_err(conn *c, uint32_t req_id, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void conn_resume(conn *c);
/* Runs fn(c) for every connection that closes, on the next loop turn (c's
 * memory lives until every hook has run; c->closing is set). */
typedef void (*conn_hook)(conn *c);
void server_on_close(conn_hook fn);
/* Keeps c's memory alive across a deferred reply (replies to a closed
 * connection are dropped). */
void conn_ref(conn *c);
void conn_unref(conn *c);
/* Who answers an authenticated request (its JSON and data are the
 * server's: valid until the handler returns). */
typedef void (*request_fn)(conn *c, uint32_t req_id, cJSON *req, const char *data, size_t dlen);
void server_on_request(request_fn fn);
#endif
