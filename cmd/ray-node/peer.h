/* peer.h: outbound connections to other nodes (peer.c). */
#ifndef RAY_NODE_PEER_H
#define RAY_NODE_PEER_H

#include "node.h"

typedef void (*peer_cb)(void *ud, int rc, cJSON *reply, const char *data, size_t dlen);

peer *peer_for(const char *node_id, const char *addr);
/* A second shared connection to a node, for object chunks only. */
peer *peer_for_bulk(const char *node_id, const char *addr);
int peer_request(peer *p, cJSON *req, const void *data, size_t dlen, peer_cb cb, void *ud);
/* As peer_request, and a reply with exactly sink_len bytes of data has
 * them written into sink (which must stay valid until cb), given to cb
 * as its data; any other reply comes as usual. */
int peer_request_sink(peer *p, cJSON *req, char *sink, size_t sink_len, peer_cb cb, void *ud);
void peer_forget(void *ud);
void peers_close_all(void);
peer *peer_private(const char *addr);
void peer_close(peer *p);
#endif
