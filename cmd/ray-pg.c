/* ray-pg: reserve resources as a group of bundles (all or none), remove
 * a group, or list groups. */
#include <getopt.h>
#include <stdlib.h>

#include "print.h"
#include "progress.h"
#include "tool.h"

static const char USAGE[] =
	"usage: ray-pg create [--strategy PACK|SPREAD|STRICT_PACK|STRICT_SPREAD] [--name N]\n"
	"                     [--timeout SEC] [--no-wait] BUNDLE...\n"
	"       ray-pg remove PG\n"
	"       ray-pg list [--json]\n"
	"options:\n"
	"  --strategy S                 how bundles share nodes (default PACK)\n"
	"  --name N                     a name for the group\n"
	"  --timeout SEC                wait at most SEC for the group (exit 3)\n"
	"  --no-wait                    print the id at once, do not wait for placement\n"
	"  --json                       list: a JSON array\n"
	"  --help                       print this help and exit 0\n"
	"  --version                    print the version and exit 0\n";

static const char *prog = "ray-pg";

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "strategy", required_argument, 0, 's' }, { "name", required_argument, 0, 'n' },
		{ "timeout", required_argument, 0, 't' }, { "no-wait", no_argument, 0, 'W' },
		{ "json", no_argument, 0, 'j' }, { "help", no_argument, 0, 'h' },
		{ "version", no_argument, 0, 'V' }, { 0, 0, 0, 0 }
	};
	const char *strategy = NULL, *name = NULL, *cmd;
	int64_t timeout = -1;
	int nowait = 0, json = 0, c, rc;
	char id[RAY_ID_MAX + 1], *reply = NULL;
	ray_client *cl;
	ray_err err = { 0, "" };

	ray_std_fds();
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 's':
			if (strcmp(optarg, "PACK") && strcmp(optarg, "SPREAD") && strcmp(optarg, "STRICT_PACK") &&
			    strcmp(optarg, "STRICT_SPREAD"))
				return tool_usage(prog, USAGE, "bad --strategy '%s'", optarg);
			strategy = optarg;
			break;
		case 'n': name = optarg; break;
		case 't':
			if (ray_parse_seconds(optarg, &timeout))
				return tool_usage(prog, USAGE, "bad --timeout '%s': want seconds", optarg);
			break;
		case 'W': nowait = 1; break;
		case 'j': json = 1; break;
		default: return tool_std_opt(prog, USAGE, c, argc, argv);
		}
	}
	if (optind >= argc)
		return tool_usage(prog, USAGE, "missing command%s", "");
	cmd = argv[optind++];
	if (!strcmp(cmd, "create")) {
		if (optind >= argc)
			return tool_usage(prog, USAGE, "create needs at least one BUNDLE such as CPU=1%s", "");
	} else if (!strcmp(cmd, "remove")) {
		if (argc - optind != 1)
			return tool_usage(prog, USAGE, "remove needs exactly one PG%s", "");
	} else if (!strcmp(cmd, "list")) {
		if (optind < argc)
			return tool_usage(prog, USAGE, "unexpected argument '%s'", argv[optind]);
	} else {
		return tool_usage(prog, USAGE, "unknown command '%s'", cmd);
	}
	if ((rc = ray_connect(&cl, NULL, NULL, &err)))
		return tool_fail(prog, rc, &err);
	if (!strcmp(cmd, "create")) {
		if (!nowait && progress_enabled()) {
			char what[128];
			snprintf(what, sizeof(what), "waiting for %d bundle%s to be placed (%s)", argc - optind,
			         argc - optind > 1 ? "s" : "", strategy ? strategy : "PACK");
			progress_say(prog, what);
		}
		rc = ray_pg_create(cl, strategy, name, (size_t)(argc - optind), (const char *const *)(argv + optind),
		                   !nowait, timeout, id, &err);
		progress_clear();
		if (id[0])
			puts(id);
	} else if (!strcmp(cmd, "remove")) {
		rc = ray_pg_remove(cl, argv[optind], &err);
	} else {
		rc = ray_pg_list(cl, &reply, &err);
		if (!rc)
			print_list("pgs", reply, json, 0);
		free(reply);
	}
	ray_client_free(cl);
	return rc ? tool_fail(prog, rc, &err) : tool_finish(prog, 0);
}
