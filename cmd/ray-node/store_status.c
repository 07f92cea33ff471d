/*
 * store_status.c: what ray-store ls and ray-store stats report about the
 * object store.  Kept apart from the store itself so that adding a field
 * to a report never touches the code that moves bytes.
 */
#include <string.h>

#include "node.h"
#include "server.h"
#include "spill.h"
#include "store.h"
#include "store_status.h"
#include "transfer.h"

static const char *obj_state_name(int s)
{
	return s == OBJ_PENDING ? "PENDING" : s == OBJ_READY ? "READY" : "ERROR";
}

static const char *obj_where(const obj *o)
{
	if (o->state != OBJ_READY)
		return "";
	if (o->data)
		return "memory";
	if (o->in_file)
		return "shm";
	return o->remote ? "remote" : "spilled";
}

cJSON *obj_json(obj *o)
{
	cJSON *j = cJSON_CreateObject();

	cJSON_AddStringToObject(j, "ref", o->ref);
	cJSON_AddStringToObject(j, "object_id", o->ref);
	cJSON_AddStringToObject(j, "state", obj_state_name(o->state));
	cJSON_AddNumberToObject(j, "size", (double)o->size);
	cJSON_AddStringToObject(j, "node_id", N->id);
	cJSON_AddStringToObject(j, "where", obj_where(o));
	cJSON_AddBoolToObject(j, "pinned", o->pins > 0 || o->nwait > 0);
	cJSON_AddBoolToObject(j, "spill_copy", o->spill);
	cJSON_AddStringToObject(j, "job_id", obj_job(o));
	if (o->io)
		cJSON_AddStringToObject(j, "io", o->io == IO_SPILL ? "spilling" : "restoring");
	if (o->producer)
		cJSON_AddStringToObject(j, "task_id", o->producer->id);
	return j;
}

static rstore last;
static int64_t last_ms, last_walk_ms;

/* One walk over the objects; for the heartbeat, at most every 500 ms and
 * at most a thousandth of the time.  The walk takes about 10 ms per
 * 100,000 objects, pending results of queued tasks included: at a
 * hundredth, a million queued tasks made it a tenth of the node's CPU
 * while they drained, for figures only ray-status shows. */
static void totals(rstore *out, int fresh)
{
	int64_t now = ray_now_ms(), every = last_walk_ms * 1000 > 500 ? last_walk_ms * 1000 : 500;
	obj *o;

	if (fresh || !last_ms || now - last_ms >= every || now < last_ms) {
		memset(&last, 0, sizeof(last));
		for (o = N->ohead; o; o = o->next) {
			if (o->state != OBJ_READY || o->remote)
				continue;
			if (!o->doomed) {
				last.objects++;
				last.object_bytes += o->size;
			}
			if (!obj_resident(o))
				last.spilled += o->size;
		}
		last_ms = ray_now_ms();
		last_walk_ms = last_ms - now;
	}
	last.used = N->store_used;
	last.capacity = N->store_cap;
	*out = last;
}

void store_totals(rstore *out)
{
	totals(out, 0);
}

void store_totals_now(rstore *out)
{
	totals(out, 1);
}

void op_store_ls(conn *c, uint32_t id, cJSON *req)
{
	cJSON *r = cJSON_CreateObject(), *a = cJSON_AddArrayToObject(r, "objects");
	obj *o;

	(void)req;
	for (o = N->ohead; o; o = o->next)
		if (o->state == OBJ_READY && !o->doomed)
			cJSON_AddItemToArray(a, obj_json(o));
	conn_reply(c, id, r, NULL, 0);
}

void op_store_stats(conn *c, uint32_t id, cJSON *req)
{
	cJSON *r = cJSON_CreateObject();
	uint64_t mem = 0, shm = 0, spilled = 0, pinned = 0;
	uint64_t nm = 0, ns = 0, nsp = 0, npin = 0, np = 0, ne = 0, nd = 0;
	obj *o;

	(void)req;
	for (o = N->ohead; o; o = o->next) {
		if (o->doomed) {
			nd++;
			continue;
		}
		if (o->state == OBJ_PENDING) {
			np++;
			continue;
		}
		if (o->state != OBJ_READY) {
			ne++;
			continue;
		}
		if (o->data) {
			mem += o->size;
			nm++;
		} else if (o->in_file) {
			shm += o->size;
			ns++;
		} else if (!o->remote) {
			spilled += o->size;
			nsp++;
		}
		if (obj_resident(o) && (o->pins || o->nwait)) {
			pinned += o->size;
			npin++;
		}
	}
	cJSON_AddStringToObject(r, "node_id", N->id);
	cJSON_AddNumberToObject(r, "capacity_bytes", (double)N->store_cap);
	cJSON_AddNumberToObject(r, "used_bytes", (double)N->store_used);
	cJSON_AddNumberToObject(r, "objects", (double)(nm + ns + nsp));
	cJSON_AddNumberToObject(r, "in_memory_bytes", (double)(mem + shm));
	cJSON_AddNumberToObject(r, "in_memory_objects", (double)(nm + ns));
	cJSON_AddNumberToObject(r, "inline_bytes", (double)mem);
	cJSON_AddNumberToObject(r, "shm_bytes", (double)shm);
	cJSON_AddNumberToObject(r, "spilled_bytes", (double)spilled);
	cJSON_AddNumberToObject(r, "spilled_objects", (double)nsp);
	cJSON_AddNumberToObject(r, "pinned_bytes", (double)pinned);
	cJSON_AddNumberToObject(r, "pinned_objects", (double)npin);
	cJSON_AddNumberToObject(r, "pending_objects", (double)np);
	cJSON_AddNumberToObject(r, "error_objects", (double)ne);
	cJSON_AddNumberToObject(r, "freeing_objects", (double)nd);
	cJSON_AddNumberToObject(r, "over_capacity_bytes",
	                        (double)(N->store_used > N->store_cap ? N->store_used - N->store_cap : 0));
	cJSON_AddStringToObject(r, "spill_dir", spill_dir);
	cJSON_AddNumberToObject(r, "spill_dir_bytes", (double)spill_disk_bytes);
	cJSON_AddNumberToObject(r, "spilling_bytes", (double)spilling_bytes);
	cJSON_AddNumberToObject(r, "restoring_objects", (double)nrestore_io);
	cJSON_AddNumberToObject(r, "spills_total", (double)store_st.spills);
	cJSON_AddNumberToObject(r, "spilled_bytes_total", (double)store_st.spilled_bytes);
	cJSON_AddNumberToObject(r, "restores_total", (double)store_st.restores);
	cJSON_AddNumberToObject(r, "restored_bytes_total", (double)store_st.restored_bytes);
	cJSON_AddNumberToObject(r, "spill_failures", (double)store_st.spill_failures);
	cJSON_AddNumberToObject(r, "lost_objects", (double)store_st.lost);
	cJSON_AddNumberToObject(r, "puts_refused", (double)store_st.refused);
	cJSON_AddNumberToObject(r, "overflow_events", (double)store_st.overflows);
	transfer_stats_json(r);
	conn_reply(c, id, r, NULL, 0);
}

/* Gives a pending object its bytes (an actor's answer) and marks it ready. */
