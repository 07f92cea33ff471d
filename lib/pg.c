/* pg.c: placement groups: create (all-or-none bundles) and remove. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rayint.h"

/* "CPU=2,GPU=1,disk=3" into {"CPU":2,"GPU":1,"disk":3}. */
static cJSON *bundle_json(const char *spec, ray_err *err)
{
	cJSON *j = cJSON_CreateObject();
	char buf[1024], *p, *save = NULL, *tok;

	if (strlen(spec) >= sizeof(buf) || !*spec) {
		cJSON_Delete(j);
		ray_seterr(err, RAY_EUSAGE, "bad bundle '%.80s': want NAME=QTY[,NAME=QTY...]", spec);
		return NULL;
	}
	snprintf(buf, sizeof(buf), "%s", spec);
	for (p = buf; (tok = strtok_r(p, ",", &save)); p = NULL) {
		char *eq = strchr(tok, '=');
		int64_t q;
		uint64_t sz;
		if (!eq || eq == tok) {
			cJSON_Delete(j);
			ray_seterr(err, RAY_EUSAGE, "bad bundle '%.80s': want NAME=QTY[,NAME=QTY...]", spec);
			return NULL;
		}
		*eq = '\0';
		if (!strcmp(tok, "memory") && !ray_parse_size(eq + 1, &sz)) {
			cJSON_AddNumberToObject(j, tok, (double)sz);
			continue;
		}
		if (ray_parse_qty(eq + 1, &q)) {
			cJSON_Delete(j);
			ray_seterr(err, RAY_EUSAGE, "bad quantity '%s' in bundle '%.80s'", eq + 1, spec);
			return NULL;
		}
		cJSON_AddNumberToObject(j, tok, q / 1e4);
	}
	return j;
}

int ray_pg_create(ray_client *c, const char *strategy, const char *name, size_t nb,
                  const char *const *bundles, int wait, int64_t timeout_ms,
                  char id[RAY_ID_MAX + 1], ray_err *err)
{
	cJSON *req = cJSON_CreateObject(), *a, *reply = NULL;
	size_t i;
	int rc;

	id[0] = '\0';
	cJSON_AddStringToObject(req, "op", "pg_create");
	if (strategy)
		cJSON_AddStringToObject(req, "strategy", strategy);
	if (name)
		cJSON_AddStringToObject(req, "name", name);
	a = cJSON_AddArrayToObject(req, "bundles");
	for (i = 0; i < nb; i++) {
		cJSON *b = bundle_json(bundles[i], err);
		if (!b) {
			cJSON_Delete(req);
			return RAY_EUSAGE;
		}
		cJSON_AddItemToArray(a, b);
	}
	cJSON_AddBoolToObject(req, "wait", wait);
	cJSON_AddNumberToObject(req, "timeout", (double)timeout_ms);
	rc = ray_call(c, req, NULL, 0, timeout_ms, &reply, NULL, err);
	cJSON_Delete(req);
	if (rj_str(reply, "pg_id"))
		snprintf(id, RAY_ID_MAX + 1, "%s", rj_str(reply, "pg_id"));
	else if (rc == RAY_ETIMEOUT && err && strstr(err->msg, "group ")) {
		/* "placement group ID is not ready": keep the id for the caller */
		const char *p = strstr(err->msg, "group ") + 6;
		size_t n = strspn(p, "0123456789abcdef");
		if (n && n <= RAY_ID_MAX)
			snprintf(id, RAY_ID_MAX + 1, "%.*s", (int)n, p);
	}
	cJSON_Delete(reply);
	return rc;
}

int ray_pg_remove(ray_client *c, const char *pg, ray_err *err)
{
	cJSON *req = cJSON_CreateObject();
	int rc;

	cJSON_AddStringToObject(req, "op", "pg_remove");
	cJSON_AddStringToObject(req, "pg_id", pg);
	rc = ray_call(c, req, NULL, 0, 30000, NULL, NULL, err);
	cJSON_Delete(req);
	return rc;
}
