/*
 * wait.c: ray_wait and ray_free.  A long list is asked in parts of
 * RAY_BATCH_MAX refs, so no request outgrows a frame.
 */
#include <stdlib.h>
#include <string.h>

#include "rayint.h"

/* One wait request: ready[i] set for each ready ref (all of them, not
 * only k); the count, or an error (a timeout is not one here). */
static int wait_req(ray_client *c, size_t n, const char *const *refs, size_t k,
                    int64_t timeout_ms, unsigned char *ready, ray_err *err)
{
	cJSON *req, *reply = NULL, *arr, *it = NULL;
	size_t i, cnt = 0;
	int rc;

	req = cJSON_CreateObject();
	cJSON_AddStringToObject(req, "op", "wait");
	cJSON_AddItemToObject(req, "refs", ray_refs_array(n, refs));
	cJSON_AddNumberToObject(req, "n", (double)k);
	cJSON_AddNumberToObject(req, "timeout", (double)timeout_ms);
	ray_req_add_task(req);
	rc = ray_call(c, req, NULL, 0, timeout_ms, &reply, NULL, err);
	cJSON_Delete(req);
	if (!rc) {
		arr = cJSON_GetObjectItemCaseSensitive(reply, "ready");
		if (cJSON_GetArraySize(arr) != (int)n)
			rc = ray_seterr(err, RAY_EUNREACH, "malformed reply to wait");
		for (i = 0; !rc && i < n; i++) {
			it = it ? it->next : arr->child;
			ready[i] = cJSON_IsTrue(it);
			cnt += ready[i];
		}
	}
	cJSON_Delete(reply);
	return rc ? rc : (int)cnt;
}

/* Over RAY_BATCH_MAX refs no one request can wait for k of them.  For
 * all of them, each part is waited for whole, in turn.  For fewer, each
 * round asks every part without waiting, then waits on the first part
 * that is not all ready for as many more as are still wanted (or half a
 * second, as others may get there first): never a request per object. */
static int wait_parts(ray_client *c, size_t n, const char *const *refs, size_t k,
                      int64_t timeout_ms, unsigned char *ready, ray_err *err)
{
	int64_t t0 = ray_now_ms();
	size_t done, cnt = 0, m;
	int rc, all = k >= n;

	for (;;) {
		size_t block = n;
		cnt = 0;
		for (done = 0; done < n; done += m) {
			int64_t wait = all && block == n ? ray_time_left(timeout_ms, t0) : 0;
			m = n - done < RAY_BATCH_MAX ? n - done : RAY_BATCH_MAX;
			if ((rc = wait_req(c, m, refs + done, m, wait, ready + done, err)) < 0)
				return rc;
			cnt += (size_t)rc;
			if ((size_t)rc < m && block == n)
				block = done;
		}
		if (all || cnt >= k || block == n || ray_time_left(timeout_ms, t0) == 0)
			return (int)(cnt > INT32_MAX ? INT32_MAX : cnt);
		{
			int64_t left = ray_time_left(timeout_ms, t0), slice = left < 0 || left > 500 ? 500 : left;
			size_t have = 0, i, want;
			m = n - block < RAY_BATCH_MAX ? n - block : RAY_BATCH_MAX;
			for (i = 0; i < m; i++)
				have += ready[block + i];
			want = have + (k - cnt) < m ? have + (k - cnt) : m;
			if ((rc = wait_req(c, m, refs + block, want, slice, ready + block, err)) < 0)
				return rc;
		}
	}
}

int ray_wait(ray_client *c, size_t n, const char *const *refs, size_t k,
             int64_t timeout_ms, unsigned char *ready, ray_err *err)
{
	size_t i, cnt = 0;
	int rc;

	if ((rc = ray_refs_check(n, refs, err)))
		return rc;
	rc = n > RAY_BATCH_MAX ? wait_parts(c, n, refs, k, timeout_ms, ready, err)
	                       : wait_req(c, n, refs, k, timeout_ms, ready, err);
	if (rc < 0)
		return rc;
	/* At most k, the first ready in input order, as Ray's ray.wait
	 * returns at most num_returns. */
	for (i = 0; i < n; i++) {
		ready[i] = cnt < k && ready[i];
		cnt += ready[i];
	}
	if (cnt < k)
		return ray_seterr(err, RAY_ETIMEOUT, "timed out: %zu of %zu objects ready", cnt, k);
	return (int)(cnt > INT32_MAX ? INT32_MAX : cnt);
}

int ray_free(ray_client *c, size_t n, const char *const *refs, ray_err *err)
{
	cJSON *req;
	size_t done;
	int rc;

	if ((rc = ray_refs_check(n, refs, err)))
		return rc;
	for (done = 0; done < n && !rc; done += RAY_BATCH_MAX) {
		req = cJSON_CreateObject();
		cJSON_AddStringToObject(req, "op", "free");
		cJSON_AddItemToObject(req, "refs", ray_refs_array(n - done < RAY_BATCH_MAX ? n - done : RAY_BATCH_MAX,
		                                              refs + done));
		rc = ray_call(c, req, NULL, 0, -1, NULL, NULL, err);
		cJSON_Delete(req);
	}
	return rc;
}
