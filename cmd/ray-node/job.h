/* job.h: jobs: drivers, their objects and actors (job.c). */
#ifndef RAY_NODE_JOB_H
#define RAY_NODE_JOB_H

#include "node.h"

void op_job(conn *c, uint32_t id, cJSON *req);
void job_conn_closed(conn *c);
void jobs_kill_all(void);
void jobs_free_all(void);
/* A head started again: the jobs from the state store; 0 or RAY_E... */
int jobs_restore(void);
void jobs_json(cJSON *arr, const char *state, int64_t limit);
#endif
