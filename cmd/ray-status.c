/* ray-status: what the cluster is doing.  The summary, or a list of
 * nodes, tasks, actors, objects, placement groups, jobs or pooled workers (one per line,
 * or --json), a task's stderr, a Chrome trace, or Prometheus metrics.
 * Every view is one libray call; cmd/print.c prints it. */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>

#include "follow.h"
#include "print.h"
#include "top.h"
#include "tool.h"

static const char USAGE[] =
	"usage: ray-status\n"
	"       ray-status nodes|tasks|actors|objects|pgs|jobs|workers [--json] [--state S] [--limit N]\n"
	"       ray-status logs [--follow] ID\n"
	"       ray-status top [--interval SEC]\n"
	"       ray-status timeline [-o FILE]\n"
	"       ray-status metrics\n"
	"options:\n"
	"  --json                       JSON: an object (summary) or an array (lists)\n"
	"  --state S                    only items in state S (any case)\n"
	"  --limit N                    only the newest N items, after --state\n"
	"  --interval SEC               top: redraw every SEC seconds (default 1)\n"
	"  -o, --output FILE            timeline: write the trace to FILE\n"
	"  -f, --follow                 logs: print the log as it grows until the task ends,\n"
	"                               then exit with its status (as ray-get would)\n"
	"  --help                       print this help and exit 0\n"
	"  --version                    print the version and exit 0\n";

static const char *prog = "ray-status";

static const char *const LISTS[] = { "nodes", "tasks", "actors", "objects", "pgs", "jobs", "workers", NULL };

static int is_list(const char *what)
{
	const char *const *l;

	for (l = LISTS; *l; l++)
		if (!strcmp(*l, what))
			return 1;
	return 0;
}

/* A task's or actor's stderr, raw bytes. */
static int logs(ray_client *cl, const char *id, ray_err *err)
{
	char *data;
	size_t len;
	int rc = ray_logs(cl, id, &data, &len, err);

	if (!rc)
		fwrite(data, 1, len, stdout);
	free(data);
	return rc;
}

static int timeline(ray_client *cl, const char *out, ray_err *err)
{
	char *tasks;
	FILE *f = stdout;
	int rc = ray_list(cl, "tasks", NULL, -1, &tasks, err);

	if (rc)
		return rc;
	if (out && !(f = fopen(out, "w"))) {
		rc = ray_seterr(err, RAY_EUSAGE, "cannot create '%s': %s", out, strerror(errno));
	} else {
		print_timeline(tasks, f);
		if (f != stdout && fclose(f))
			rc = ray_seterr(err, RAY_EUSAGE, "cannot write '%s'", out);
	}
	free(tasks);
	return rc;
}

/* The summary, metrics or one list: what the node says, printed. */
static int show(ray_client *cl, const char *what, const char *state, int64_t limit, int json,
                ray_err *err)
{
	char *reply;
	int rc;

	if (is_list(what))
		rc = ray_list(cl, what, state, limit, &reply, err);
	else
		rc = ray_status(cl, &reply, err);
	if (rc)
		return rc;
	if (is_list(what))
		print_list(what, reply, json, 0);
	else if (!strcmp(what, "metrics"))
		print_metrics(reply);
	else
		print_summary(reply, json);
	free(reply);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "json", no_argument, 0, 'j' }, { "state", required_argument, 0, 's' },
		{ "limit", required_argument, 0, 'l' }, { "output", required_argument, 0, 'o' },
		{ "follow", no_argument, 0, 'f' }, { "interval", required_argument, 0, 'i' },
		{ "help", no_argument, 0, 'h' }, { "version", no_argument, 0, 'V' }, { 0, 0, 0, 0 }
	};
	const char *what = "summary", *state = NULL, *out = NULL, *id = NULL;
	int json = 0, follow = 0, code = 0, c, rc;
	uint64_t limit = 0;
	int64_t lim = -1, interval = -1;
	ray_client *cl;
	ray_err err = { 0, "" };

	ray_std_fds();
	opterr = 0;
	while ((c = getopt_long(argc, argv, "o:f", lo, NULL)) != -1) {
		switch (c) {
		case 'j': json = 1; break;
		case 's': state = optarg; break;
		case 'l':
			if (ray_parse_uint(optarg, &limit))
				return tool_usage(prog, USAGE, "bad --limit '%s': want a count", optarg);
			lim = limit > INT64_MAX ? INT64_MAX : (int64_t)limit;
			break;
		case 'o': out = optarg; break;
		case 'f': follow = 1; break;
		case 'i':
			if (ray_parse_seconds(optarg, &interval) || interval < 100)
				return tool_usage(prog, USAGE, "bad --interval '%s': want seconds, at least 0.1", optarg);
			break;
		default: return tool_std_opt(prog, USAGE, c, argc, argv);
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
	if (follow && strcmp(what, "logs"))
		return tool_usage(prog, USAGE, "--follow is for logs%s", "");
	if (json && !strcmp(what, "top"))
		return tool_usage(prog, USAGE, "--json is not for top: use the summary or a list%s", "");
	if (interval >= 0 && strcmp(what, "top"))
		return tool_usage(prog, USAGE, "--interval is for top%s", "");
	if (!is_list(what) && strcmp(what, "summary") && strcmp(what, "logs") &&
	    strcmp(what, "timeline") && strcmp(what, "metrics") && strcmp(what, "top"))
		return tool_usage(prog, USAGE, "unknown view '%s'", what);
	if ((rc = ray_connect(&cl, NULL, NULL, &err)))
		return tool_fail(prog, rc, &err);
	if (!strcmp(what, "logs") && follow)
		rc = follow_log(cl, prog, id, 0, &code, &err);
	else if (!strcmp(what, "logs"))
		rc = logs(cl, id, &err);
	else if (!strcmp(what, "top"))
		rc = top_run(cl, interval < 0 ? 1000 : interval, &err);
	else if (!strcmp(what, "timeline"))
		rc = timeline(cl, out, &err);
	else
		rc = show(cl, what, state, lim, json, &err);
	ray_client_free(cl);
	return rc ? tool_fail(prog, rc, &err) : tool_finish(prog, code);
}
