/* cluster.h: membership, the cluster view and proxying to other nodes (cluster.c). */
#ifndef RAY_NODE_CLUSTER_H
#define RAY_NODE_CLUSTER_H

#include "node.h"

int cluster_start(void);
void cluster_stop(void);
rnode *view_find(const char *id);
rnode *view_self(void);
int view_alive_others(void);
cJSON *rnode_json(const rnode *r);
void op_cluster(conn *c, uint32_t id, cJSON *req);
peer *peer_node(const char *node_id);
/* The shared connection to the head (NULL on trouble). */
peer *peer_head(void);
/* The connection for object chunks to a live node (NULL if dead/unknown). */
peer *peer_bulk(const char *node_id);

/* Hooks for the parts above: a node died (each hook, in order), the
 * 200 ms tick, the view changed (a join, a heartbeat), and one table the
 * head shares with every node on its heartbeat replies. */
typedef void (*cluster_death_fn)(const char *node_id);
void cluster_on_death(cluster_death_fn fn);
void cluster_on_tick(void (*fn)(void));
void cluster_on_change(void (*fn)(void));
void cluster_share(cJSON *(*provide)(void), void (*merge)(const cJSON *table));
/* How this node's store numbers reach its heartbeats (store_status.c). */
void cluster_on_store(void (*fill)(rstore *out));
cJSON *rstore_json(const rstore *s);
int proxy_to_head(conn *c, uint32_t id, cJSON *req, void (*hook)(cJSON *reply));
void proxy_to(conn *c, uint32_t id, cJSON *req, const char *addr, void (*hook)(cJSON *reply));
#endif
