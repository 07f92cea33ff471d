/* ray-status: what the cluster is doing.  The summary, or a list of
 * nodes, tasks, actors, objects, placement groups or jobs (one per line,
 * or --json), a task's stderr, a Chrome trace, or Prometheus metrics. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "tool.h"

static const char USAGE[] =
	"usage: ray-status\n"
	"       ray-status nodes|tasks|actors|objects|pgs|jobs [--json] [--state S] [--limit N]\n"
	"       ray-status logs ID\n"
	"       ray-status timeline [-o FILE]\n"
	"       ray-status metrics\n";

static const char *prog = "ray-status";

static const char *js(const cJSON *o, const char *k)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsString(it) ? it->valuestring : "-";
}

static double jn(const cJSON *o, const char *k)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsNumber(it) ? it->valuedouble : 0;
}

static void print_res(const char *label, const cJSON *tot, const cJSON *av)
{
	const cJSON *it;

	printf("%s\n", label);
	cJSON_ArrayForEach(it, tot) {
		double t = it->valuedouble, a = jn(av, it->string);
		if (!strcmp(it->string, "memory") || !strcmp(it->string, "object_store_memory"))
			printf("  %.1f/%.1f GiB %s\n", (t - a) / 1073741824.0, t / 1073741824.0, it->string);
		else
			printf("  %g/%g %s\n", t - a, t, it->string);
	}
}

static void print_summary(cJSON *r)
{
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(r, "tasks"), *it, *d;
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(r, "store");
	int n = 0;

	printf("======== Cluster status ========\n");
	printf("Nodes: %g alive, %g dead\n", jn(r, "nodes_alive"), jn(r, "nodes_dead"));
	print_res("Resources (used/total):", cJSON_GetObjectItemCaseSensitive(r, "resources_total"),
	          cJSON_GetObjectItemCaseSensitive(r, "resources_available"));
	printf("Demands:\n");
	cJSON_ArrayForEach(d, cJSON_GetObjectItemCaseSensitive(r, "demands")) {
		const cJSON *res = cJSON_GetObjectItemCaseSensitive(d, "resources"), *q;
		const cJSON *why = cJSON_GetObjectItemCaseSensitive(d, "reason");
		const cJSON *pg = cJSON_GetObjectItemCaseSensitive(d, "pg");
		printf("  {CPU: %g", jn(res, "CPU"));
		cJSON_ArrayForEach(q, res)
			if (strcmp(q->string, "CPU") && cJSON_IsNumber(q) && q->valuedouble)
				printf(", %s: %g", q->string, q->valuedouble);
		printf("}");
		if (cJSON_IsString(pg))
			printf(" in placement group %s", pg->valuestring);
		if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(d, "infeasible")))
			printf(" (infeasible%s%s)", cJSON_IsString(why) ? ": " : "", cJSON_IsString(why) ? why->valuestring : "");
		printf("\n");
		n++;
	}
	if (!n)
		printf("  (no pending demands)\n");
	printf("Tasks:");
	cJSON_ArrayForEach(it, t)
		if (it->valuedouble)
			printf(" %s=%g", it->string, it->valuedouble);
	printf("\nObject store: %g objects, %.1f MiB used of %.1f MiB, %.1f MiB spilled\n",
	       jn(st, "objects"), jn(st, "used_bytes") / 1048576.0, jn(st, "capacity_bytes") / 1048576.0,
	       jn(st, "spilled_bytes") / 1048576.0);
}

static void print_item(const char *what, const cJSON *it)
{
	if (!strcmp(what, "nodes"))
		printf("%s\t%s\t%s\t%s\n", js(it, "node_id"), js(it, "address"), js(it, "state"),
		       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(it, "is_head")) ? "head" : "worker");
	else if (!strcmp(what, "tasks"))
		printf("%s\t%s\t%s\t%s\n", js(it, "task_id"), js(it, "state"), js(it, "node_id"), js(it, "name"));
	else if (!strcmp(what, "objects"))
		printf("%s\t%s\t%.0f\n", js(it, "ref"), js(it, "state"), jn(it, "size"));
	else if (!strcmp(what, "actors"))
		printf("%s\t%s\t%s\t%s\n", js(it, "actor_id"), js(it, "state"), js(it, "name"), js(it, "node_id"));
	else if (!strcmp(what, "pgs"))
		printf("%s\t%s\t%s\t%s\n", js(it, "pg_id"), js(it, "state"), js(it, "strategy"), js(it, "name"));
	else if (!strcmp(what, "jobs"))
		printf("%s\t%s\t%s\n", js(it, "job_id"), js(it, "status"), js(it, "entrypoint"));
}

static int timeline(ray_client *cl, const char *out, ray_err *err)
{
	char *reply = NULL;
	cJSON *r, *items, *it, *trace;
	char *s;
	int rc = ray_request_json(cl, "{\"op\":\"status\",\"what\":\"tasks\"}", 30000, &reply, err);
	FILE *f = stdout;

	if (rc)
		return rc;
	r = cJSON_Parse(reply);
	free(reply);
	items = cJSON_GetObjectItemCaseSensitive(r, "items");
	trace = cJSON_CreateArray();
	cJSON_ArrayForEach(it, items) {
		double start = jn(it, "start_ms"), end = jn(it, "end_ms");
		cJSON *ev;
		if (!start)
			continue;
		if (!end)
			end = start;
		ev = cJSON_CreateObject();
		cJSON_AddStringToObject(ev, "name", js(it, "name"));
		cJSON_AddStringToObject(ev, "cat", "task");
		cJSON_AddStringToObject(ev, "ph", "X");
		cJSON_AddNumberToObject(ev, "ts", start * 1000);
		cJSON_AddNumberToObject(ev, "dur", (end - start) * 1000);
		cJSON_AddStringToObject(ev, "pid", js(it, "node_id"));
		cJSON_AddNumberToObject(ev, "tid", jn(it, "worker_pid"));
		cJSON_AddItemToObject(ev, "args", cJSON_Duplicate(it, 1));
		cJSON_AddItemToArray(trace, ev);
	}
	s = cJSON_PrintUnformatted(trace);
	if (out && !(f = fopen(out, "w"))) {
		rc = ray_seterr(err, RAY_EUSAGE, "cannot create '%s': %s", out, strerror(errno));
	} else {
		fputs(s, f);
		fputc('\n', f);
		if (f != stdout && fclose(f))
			rc = ray_seterr(err, RAY_EUSAGE, "cannot write '%s'", out);
	}
	free(s);
	cJSON_Delete(trace);
	cJSON_Delete(r);
	return rc;
}

static void metrics(cJSON *r)
{
	const cJSON *it, *st = cJSON_GetObjectItemCaseSensitive(r, "store");
	const cJSON *tot = cJSON_GetObjectItemCaseSensitive(r, "resources_total");
	const cJSON *av = cJSON_GetObjectItemCaseSensitive(r, "resources_available");

	printf("# HELP ray_nodes Nodes in the cluster by state.\n# TYPE ray_nodes gauge\n");
	printf("ray_nodes{state=\"ALIVE\"} %g\nray_nodes{state=\"DEAD\"} %g\n", jn(r, "nodes_alive"), jn(r, "nodes_dead"));
	printf("# HELP ray_resources_total Resources in the cluster.\n# TYPE ray_resources_total gauge\n");
	cJSON_ArrayForEach(it, tot)
		printf("ray_resources_total{resource=\"%s\"} %g\n", it->string, it->valuedouble);
	printf("# HELP ray_resources_available Resources free now.\n# TYPE ray_resources_available gauge\n");
	cJSON_ArrayForEach(it, av)
		printf("ray_resources_available{resource=\"%s\"} %g\n", it->string, it->valuedouble);
	printf("# HELP ray_tasks Tasks by state.\n# TYPE ray_tasks gauge\n");
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(r, "tasks"))
		printf("ray_tasks{state=\"%s\"} %g\n", it->string, it->valuedouble);
	printf("# HELP ray_object_store_bytes Object store bytes.\n# TYPE ray_object_store_bytes gauge\n");
	printf("ray_object_store_bytes{kind=\"used\"} %g\n", jn(st, "used_bytes"));
	printf("ray_object_store_bytes{kind=\"capacity\"} %g\n", jn(st, "capacity_bytes"));
	printf("ray_object_store_bytes{kind=\"spilled\"} %g\n", jn(st, "spilled_bytes"));
	printf("# HELP ray_object_store_objects Objects held.\n# TYPE ray_object_store_objects gauge\n");
	printf("ray_object_store_objects %g\n", jn(st, "objects"));
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "json", no_argument, 0, 'j' }, { "state", required_argument, 0, 's' },
		{ "limit", required_argument, 0, 'l' }, { "output", required_argument, 0, 'o' },
		{ "help", no_argument, 0, 'h' }, { "version", no_argument, 0, 'V' }, { 0, 0, 0, 0 }
	};
	const char *what = "summary", *state = NULL, *out = NULL, *id = NULL;
	int json = 0, c, rc;
	uint64_t limit = 0;
	int has_limit = 0;
	ray_client *cl;
	ray_err err = { 0, "" };
	char *reply = NULL;
	cJSON *req, *r, *it;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "o:", lo, NULL)) != -1) {
		switch (c) {
		case 'j': json = 1; break;
		case 's': state = optarg; break;
		case 'l':
			if (ray_parse_uint(optarg, &limit))
				return tool_usage(prog, USAGE, "bad --limit '%s': want a count", optarg);
			has_limit = 1;
			break;
		case 'o': out = optarg; break;
		case 'h': fputs(USAGE, stdout); return 0;
		case 'V': printf("%s %s\n", prog, RAY_VERSION); return 0;
		default: return tool_bad_opt(prog, argc, argv);
		}
	}
	if (optind < argc)
		what = argv[optind++];
	if (!strcmp(what, "logs")) {
		if (optind >= argc)
			return tool_usage(prog, USAGE, "logs needs a task or actor id%s", "");
		id = argv[optind++];
	}
	if (optind < argc)
		return tool_usage(prog, USAGE, "unexpected argument '%s'", argv[optind]);
	if (strcmp(what, "summary") && strcmp(what, "nodes") && strcmp(what, "tasks") &&
	    strcmp(what, "actors") && strcmp(what, "objects") && strcmp(what, "pgs") &&
	    strcmp(what, "jobs") && strcmp(what, "logs") && strcmp(what, "timeline") &&
	    strcmp(what, "metrics"))
		return tool_usage(prog, USAGE, "unknown view '%s'", what);
	if (state)
		for (char *p = (char *)state; *p; p++)
			if (*p >= 'a' && *p <= 'z')
				*p = (char)(*p - 'a' + 'A');
	if ((rc = ray_connect(&cl, NULL, NULL, &err)))
		return tool_fail(prog, rc, &err);
	if (!strcmp(what, "timeline")) {
		rc = timeline(cl, out, &err);
		ray_client_free(cl);
		return rc ? tool_fail(prog, rc, &err) : tool_finish(prog, 0);
	}
	req = cJSON_CreateObject();
	if (!strcmp(what, "logs")) {
		cJSON_AddStringToObject(req, "op", "logs");
		cJSON_AddStringToObject(req, "id", id);
	} else {
		cJSON_AddStringToObject(req, "op", "status");
		cJSON_AddStringToObject(req, "what", strcmp(what, "metrics") ? what : "summary");
		if (state)
			cJSON_AddStringToObject(req, "state", state);
		if (has_limit)
			cJSON_AddNumberToObject(req, "limit", (double)limit);
	}
	if (!strcmp(what, "logs")) {
		/* The log travels as raw bytes. */
		char *data;
		size_t len;
		rc = ray_call_raw(cl, req, &data, &len, &err);
		cJSON_Delete(req);
		ray_client_free(cl);
		if (rc)
			return tool_fail(prog, rc, &err);
		fwrite(data, 1, len, stdout);
		free(data);
		return tool_finish(prog, 0);
	}
	{
		char *s = cJSON_PrintUnformatted(req);
		rc = ray_request_json(cl, s, 30000, &reply, &err);
		free(s);
	}
	cJSON_Delete(req);
	ray_client_free(cl);
	if (rc)
		return tool_fail(prog, rc, &err);
	r = cJSON_Parse(reply);
	free(reply);
	cJSON_DeleteItemFromObject(r, "ok");
	if (!strcmp(what, "metrics")) {
		metrics(r);
	} else if (!strcmp(what, "summary")) {
		if (json) {
			char *s = cJSON_Print(r);
			puts(s);
			free(s);
		} else {
			print_summary(r);
		}
	} else if (json) {
		char *s = cJSON_Print(cJSON_GetObjectItemCaseSensitive(r, "items"));
		puts(s);
		free(s);
	} else {
		cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(r, "items"))
			print_item(what, it);
	}
	cJSON_Delete(r);
	return tool_finish(prog, 0);
}
