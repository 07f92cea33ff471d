/* print.c: the printers behind ray-status and the list commands of
 * ray-actor, ray-pg, ray-job and ray-store.  Each list is a table of
 * columns per view, so one tool's listing cannot drift from another's. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "print.h"
#include "rayint.h"

#define MAX_COLS 6

/* A column: a string member (kind 's', "-" when absent), a number (kind
 * 'n'), or a boolean shown as yes or no (kind 'b'). */
typedef struct col {
	const char *key;
	char kind;
	const char *yes, *no;
} col;

#define S(k) { k, 's', NULL, NULL }
#define N(k) { k, 'n', NULL, NULL }
#define B(k, y, n) { k, 'b', y, n }
#define END { NULL, 0, NULL, NULL }

static const struct view {
	const char *name;
	col cols[MAX_COLS];
} views[] = {
	{ "nodes", { S("node_id"), S("address"), S("state"), B("is_head", "head", "worker") } },
	{ "tasks", { S("task_id"), S("state"), S("node_id"), S("name") } },
	{ "objects", { S("ref"), S("state"), N("size"), END } },
	{ "actors", { S("actor_id"), S("state"), S("name"), S("node_id") } },
	{ "pgs", { S("pg_id"), S("state"), S("strategy"), S("name") } },
	{ "jobs", { S("job_id"), S("status"), S("entrypoint"), END } },
	{ "workers", { S("worker_id"), S("state"), S("node_id"), N("pid"), N("tasks_done"), S("command") } },
	{ "store", { S("ref"), N("size"), S("where"), B("pinned", "pinned", "-") } },
};

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

const char *print_str(const cJSON *o, const char *k)
{
	return js(o, k);
}

double print_num(const cJSON *o, const char *k)
{
	return jn(o, k);
}

static void print_json(const cJSON *j)
{
	char *s = cJSON_Print(j);

	if (s)
		puts(s);
	free(s);
}

static void print_row(const col *cols, int ncols, const cJSON *it)
{
	int i;

	for (i = 0; i < ncols && cols[i].key; i++) {
		const col *c = &cols[i];
		if (i)
			putchar('\t');
		if (c->kind == 'n')
			printf("%.0f", jn(it, c->key));
		else if (c->kind == 'b')
			fputs(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(it, c->key)) ? c->yes : c->no, stdout);
		else
			ray_fputs_safe(js(it, c->key), stdout);
	}
	putchar('\n');
}

/* On a terminal, a header: the column keys in upper case.  Never in a pipe,
 * so scripts read items only. */
static void print_header(const col *cols, int ncols)
{
	int i;
	const char *k;

	if (!isatty(STDOUT_FILENO))
		return;
	for (i = 0; i < ncols && cols[i].key; i++) {
		if (i)
			putchar('\t');
		for (k = cols[i].key; *k; k++)
			putchar(*k >= 'a' && *k <= 'z' ? *k - 'a' + 'A' : *k);
	}
	putchar('\n');
}

void print_list(const char *view, const char *json, int as_json, int ncols)
{
	cJSON *a = cJSON_Parse(json);
	const cJSON *it;
	size_t v;

	if (as_json) {
		print_json(a);
	} else {
		for (v = 0; v < sizeof(views) / sizeof(views[0]); v++)
			if (!strcmp(views[v].name, view))
				break;
		if (v < sizeof(views) / sizeof(views[0]) && cJSON_GetArraySize(a) > 0)
			print_header(views[v].cols, ncols > 0 ? ncols : MAX_COLS);
		if (v < sizeof(views) / sizeof(views[0]))
			cJSON_ArrayForEach(it, a)
				print_row(views[v].cols, ncols > 0 ? ncols : MAX_COLS, it);
	}
	cJSON_Delete(a);
}

void print_fields(const char *json, int as_json)
{
	cJSON *r = cJSON_Parse(json);
	const cJSON *it;

	if (as_json) {
		print_json(r);
	} else {
		cJSON_ArrayForEach(it, r) {
			if (cJSON_IsNumber(it))
				printf("%s\t%.0f\n", it->string, it->valuedouble);
			else if (cJSON_IsString(it)) {
				printf("%s\t", it->string);
				ray_fputs_safe(it->valuestring, stdout);
				putchar('\n');
			}
		}
	}
	cJSON_Delete(r);
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

static void print_demand(const cJSON *d)
{
	const cJSON *res = cJSON_GetObjectItemCaseSensitive(d, "resources"), *q;
	const cJSON *why = cJSON_GetObjectItemCaseSensitive(d, "reason");
	const cJSON *pg = cJSON_GetObjectItemCaseSensitive(d, "pg");

	printf("  {CPU: %g", jn(res, "CPU"));
	cJSON_ArrayForEach(q, res)
		if (strcmp(q->string, "CPU") && cJSON_IsNumber(q) && q->valuedouble) {
			char sz[32];
			if (!strcmp(q->string, "memory") && q->valuedouble >= 0)
				printf(", memory: %s", ray_fmt_size((uint64_t)q->valuedouble, sz, sizeof(sz)));
			else
				printf(", %s: %g", q->string, q->valuedouble);
		}
	printf("}");
	if (cJSON_IsString(pg))
		printf(" in placement group %s", pg->valuestring);
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(d, "infeasible"))) {
		printf(" (infeasible%s", cJSON_IsString(why) ? ": " : "");
		ray_fputs_safe(cJSON_IsString(why) ? why->valuestring : "", stdout);
		putchar(')');
	}
	printf("\n");
}

static void print_report(const cJSON *r)
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
		print_demand(d);
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

void print_summary(const char *json, int as_json)
{
	cJSON *r = cJSON_Parse(json);

	if (as_json)
		print_json(r);
	else
		print_report(r);
	cJSON_Delete(r);
}

void print_metrics(const char *json)
{
	cJSON *r = cJSON_Parse(json);
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
	cJSON_Delete(r);
}

/* One complete event ("ph":"X") per task that started, in microseconds. */
static cJSON *trace_event(const cJSON *it)
{
	double start = jn(it, "start_ms"), end = jn(it, "end_ms");
	cJSON *ev = cJSON_CreateObject();

	if (!end)
		end = start;
	cJSON_AddStringToObject(ev, "name", js(it, "name"));
	cJSON_AddStringToObject(ev, "cat", "task");
	cJSON_AddStringToObject(ev, "ph", "X");
	cJSON_AddNumberToObject(ev, "ts", start * 1000);
	cJSON_AddNumberToObject(ev, "dur", (end - start) * 1000);
	cJSON_AddStringToObject(ev, "pid", js(it, "node_id"));
	cJSON_AddNumberToObject(ev, "tid", jn(it, "worker_pid"));
	cJSON_AddItemToObject(ev, "args", cJSON_Duplicate(it, 1));
	return ev;
}

void print_timeline(const char *tasks, FILE *f)
{
	cJSON *items = cJSON_Parse(tasks), *trace = cJSON_CreateArray();
	const cJSON *it;
	char *s;

	cJSON_ArrayForEach(it, items)
		if (jn(it, "start_ms"))
			cJSON_AddItemToArray(trace, trace_event(it));
	s = cJSON_PrintUnformatted(trace);
	if (s) {
		fputs(s, f);
		fputc('\n', f);
	}
	free(s);
	cJSON_Delete(trace);
	cJSON_Delete(items);
}
