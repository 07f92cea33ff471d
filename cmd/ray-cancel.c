/* ray-cancel: stop the tasks that make these refs: a pending one never
 * runs, a running one gets SIGTERM (SIGKILL with --force); their refs then
 * give exit 7.  The tasks they submitted go with them, down the tree,
 * unless --no-recursive. */
#include <getopt.h>

#include "tool.h"

static const char USAGE[] =
	"usage: ray-cancel [--force] [--no-recursive] REF...\n"
	"options:\n"
	"  --force                      kill a running task's process (SIGKILL), not just SIGTERM\n"
	"  --no-recursive               spare the tasks that the cancelled tasks submitted\n"
	"  --help                       print this help and exit 0\n"
	"  --version                    print the version and exit 0\n";

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "force", no_argument, 0, 'f' }, { "no-recursive", no_argument, 0, 'r' },
		{ "help", no_argument, 0, 'h' },
		{ "version", no_argument, 0, 'V' }, { 0, 0, 0, 0 }
	};
	const char *prog = "ray-cancel";
	int flags = 0, c, rc;
	char **refs;
	size_t n;
	ray_client *cl;
	ray_err err = { 0, "" };

	ray_std_fds();
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'f': flags |= RAY_CANCEL_FORCE; break;
		case 'r': flags |= RAY_CANCEL_NO_RECURSIVE; break;
		default: return tool_std_opt(prog, USAGE, c, argc, argv);
		}
	}
	if ((rc = ray_read_refs(argc - optind, argv + optind, &refs, &n, &err)))
		return tool_fail(prog, rc, &err);
	if ((rc = ray_connect(&cl, NULL, NULL, &err))) {
		ray_refs_free(refs, n);
		return tool_fail(prog, rc, &err);
	}
	rc = ray_cancel(cl, n, (const char *const *)refs, flags, &err);
	ray_client_free(cl);
	ray_refs_free(refs, n);
	return rc ? tool_fail(prog, rc, &err) : 0;
}
