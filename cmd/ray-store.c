/* ray-store: list this node's objects, show store statistics, or free
 * objects. */
#include <getopt.h>
#include <stdlib.h>

#include "print.h"
#include "tool.h"

static const char USAGE[] =
	"usage: ray-store ls|stats [--json]\n"
	"       ray-store free REF...\n"
	"options:\n"
	"  --json                       ls, stats: JSON\n"
	"  --help                       print this help and exit 0\n"
	"  --version                    print the version and exit 0\n";

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "json", no_argument, 0, 'j' }, { "help", no_argument, 0, 'h' },
		{ "version", no_argument, 0, 'V' }, { 0, 0, 0, 0 }
	};
	const char *prog = "ray-store", *cmd;
	int json = 0, c, rc;
	ray_client *cl;
	ray_err err = { 0, "" };
	char *reply = NULL;

	ray_std_fds();
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+", lo, NULL)) != -1) {
		switch (c) {
		case 'j': json = 1; break;
		default: return tool_std_opt(prog, USAGE, c, argc, argv);
		}
	}
	if (optind >= argc)
		return tool_usage(prog, USAGE, "missing command%s", "");
	cmd = argv[optind++];
	if (strcmp(cmd, "ls") && strcmp(cmd, "stats") && strcmp(cmd, "free"))
		return tool_usage(prog, USAGE, "unknown command '%s'", cmd);
	/* Options may also follow the command: ray-store ls --json. */
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+", lo, NULL)) != -1) {
		if (c == 'j')
			json = 1;
		else
			return tool_usage(prog, USAGE, "bad option%s", "");
	}
	if (!strcmp(cmd, "free")) {
		char **refs;
		size_t n;
		if ((rc = ray_read_refs(argc - optind, argv + optind, &refs, &n, &err)))
			return tool_fail(prog, rc, &err);
		if ((rc = ray_connect(&cl, NULL, NULL, &err))) {
			ray_refs_free(refs, n);
			return tool_fail(prog, rc, &err);
		}
		rc = ray_free(cl, n, (const char *const *)refs, &err);
		ray_refs_free(refs, n);
		ray_client_free(cl);
		return rc ? tool_fail(prog, rc, &err) : 0;
	}
	if (optind < argc)
		return tool_usage(prog, USAGE, "unexpected argument '%s'", argv[optind]);
	if ((rc = ray_connect(&cl, NULL, NULL, &err)))
		return tool_fail(prog, rc, &err);
	if (!strcmp(cmd, "ls"))
		rc = ray_store_list(cl, &reply, &err);
	else
		rc = ray_store_stats(cl, &reply, &err);
	ray_client_free(cl);
	if (rc)
		return tool_fail(prog, rc, &err);
	if (!strcmp(cmd, "ls"))
		print_list("store", reply, json, 0);
	else
		print_fields(reply, json);
	free(reply);
	return tool_finish(prog, 0);
}
