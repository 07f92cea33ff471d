/* taskopt.c: one validator for the task options ray-submit and ray-actor
 * create share.  Every value is checked here, before any connection, so a
 * bad option is exit 2 with one line, whichever tool was given it. */
#include <string.h>

#include "taskopt.h"

void taskopt_init(taskopt *t, ray_task_opts *o)
{
	memset(t, 0, sizeof(*t));
	t->o = o;
	o->resources = t->res;
	o->env = t->env;
	o->labels = t->labels;
}

static int kv_ok(const char *val)
{
	return val[0] != '=' && strchr(val, '=');
}

/* Appends a repeatable KEY=VAL option's value to list (n entries so far). */
static int add_kv(const char *prog, const char *opt, const char **list, int *n, const char *val)
{
	if (!kv_ok(val)) {
		fprintf(stderr, "%s: bad %s '%s': want KEY=VAL; see '%s --help'\n", prog, opt, val, prog);
		return 2;
	}
	if (*n == TOOL_MAX_REPEAT) {
		fprintf(stderr, "%s: too many %s options (at most %d); see '%s --help'\n", prog, opt,
		        TOOL_MAX_REPEAT, prog);
		return 2;
	}
	list[(*n)++] = val;
	return 0;
}

static int parse_resource(taskopt *t, const char *prog, const char *arg)
{
	const char *eq = strchr(arg, '=');
	int64_t q;

	if (!eq || eq == arg || ray_parse_qty(eq + 1, &q))
		return tool_usage(prog, NULL, "bad --resource '%s': want NAME=QTY", arg);
	return add_kv(prog, "--resource", t->res, &t->nres, arg);
}

int taskopt_parse(taskopt *t, const char *prog, int c, const char *arg)
{
	ray_task_opts *o = t->o;
	uint64_t v;

	switch (c) {
	case TASKOPT_CPUS:
		if (ray_parse_qty(arg, &o->cpus))
			return tool_usage(prog, NULL, "bad --cpus '%s': want a number", arg);
		o->cpus_set = 1;
		return 0;
	case TASKOPT_GPUS:
		if (ray_parse_qty(arg, &o->gpus))
			return tool_usage(prog, NULL, "bad --gpus '%s': want a number", arg);
		return 0;
	case TASKOPT_MEMORY:
		if (ray_parse_size(arg, &o->memory))
			return tool_usage(prog, NULL, "bad --memory '%s': want a size such as 512M", arg);
		return 0;
	case TASKOPT_RESOURCE: return parse_resource(t, prog, arg);
	case TASKOPT_ENV: return add_kv(prog, "--env", t->env, &t->nenv, arg);
	case TASKOPT_LABEL: return add_kv(prog, "--label", t->labels, &t->nlab, arg);
	case TASKOPT_PREFER_LABEL:
		if (!kv_ok(arg))
			return tool_usage(prog, NULL, "bad --prefer-label '%s': want KEY=VAL", arg);
		o->prefer_label = arg;
		return 0;
	case TASKOPT_STRATEGY:
		if (strcmp(arg, "default") && strcmp(arg, "spread"))
			return tool_usage(prog, NULL, "bad --strategy '%s': want default or spread", arg);
		o->strategy = arg;
		return 0;
	case TASKOPT_NODE: o->node = arg; return 0;
	case TASKOPT_PG: o->pg = arg; return 0;
	case TASKOPT_BUNDLE:
		if (ray_parse_uint(arg, &v) || v > 100000)
			return tool_usage(prog, NULL, "bad --bundle '%s': want an index", arg);
		o->bundle = (int)v;
		return 0;
	case TASKOPT_WORKING_DIR: return tool_working_dir(prog, "--working-dir", arg, t->wd, sizeof(t->wd),
	                                                 &o->working_dir);
	default: return TASKOPT_NOT_MINE;
	}
}

int taskopt_check(const taskopt *t, const char *prog)
{
	if (t->o->bundle >= 0 && !t->o->pg)
		return tool_usage(prog, NULL, "--bundle needs --pg%s", "");
	return 0;
}

int taskopt_next(taskopt *t, const char *prog, int argc, char **argv,
                 const struct option *lo)
{
	int c, rc;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+", lo, NULL)) != -1) {
		rc = taskopt_parse(t, prog, c, optarg);
		if (rc == TASKOPT_NOT_MINE)
			return c;
		if (rc)
			return TASKOPT_ERROR;
	}
	return -1;
}

int taskopt_protocol(const char *prog, const char *arg, const char **out)
{
	if (strcmp(arg, "line") && strcmp(arg, "tagged") && strcmp(arg, "frame"))
		return tool_usage(prog, NULL, "bad --protocol '%s': want line, tagged or frame", arg);
	*out = arg;
	return 0;
}
