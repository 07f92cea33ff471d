/* ray-wait: print, in input order, the refs that are ready once K of them
 * are (all, without -n), at most K of them; exit 3 on timeout, after
 * printing the ready ones. */
#include <getopt.h>
#include <stdlib.h>

#include "progress.h"
#include "tool.h"

static const char USAGE[] =
	"usage: ray-wait [-n K] [--timeout SEC] [REF...]\n"
	"options:\n"
	"  -n, --num K                  return once K objects are ready (default all)\n"
	"  --timeout SEC                give up after SEC seconds (exit 3)\n"
	"  --help                       print this help and exit 0\n"
	"  --version                    print the version and exit 0\n";

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "num", required_argument, 0, 'n' }, { "timeout", required_argument, 0, 't' },
		{ "help", no_argument, 0, 'h' }, { "version", no_argument, 0, 'V' }, { 0, 0, 0, 0 }
	};
	const char *prog = "ray-wait";
	int64_t timeout = -1;
	uint64_t k = 0;
	int kset = 0, c, rc;
	char **refs;
	size_t n, i;
	unsigned char *ready;
	ray_client *cl;
	ray_err err = { 0, "" };

	ray_std_fds();
	opterr = 0;
	while ((c = getopt_long(argc, argv, "n:", lo, NULL)) != -1) {
		switch (c) {
		case 'n':
			if (ray_parse_uint(optarg, &k) || k == 0)
				return tool_usage(prog, USAGE, "bad -n '%s': want a count of at least 1", optarg);
			kset = 1;
			break;
		case 't':
			if (ray_parse_seconds(optarg, &timeout))
				return tool_usage(prog, USAGE, "bad --timeout '%s': want seconds", optarg);
			break;
		default: return tool_std_opt(prog, USAGE, c, argc, argv);
		}
	}
	if ((rc = ray_read_refs(argc - optind, argv + optind, &refs, &n, &err)))
		return tool_fail(prog, rc, &err);
	if (!kset || k > n)
		k = n;
	if ((rc = ray_connect(&cl, NULL, NULL, &err))) {
		ray_refs_free(refs, n);
		return tool_fail(prog, rc, &err);
	}
	ready = calloc(n ? n : 1, 1);
	if (n > 1 && progress_enabled() && ready)
		rc = progress_wait(cl, prog, n, (const char *const *)refs, (size_t)k, timeout, ready, &err);
	else
		rc = ray_wait(cl, n, (const char *const *)refs, (size_t)k, timeout, ready, &err);
	if (rc >= 0 || rc == RAY_ETIMEOUT)
		for (i = 0; i < n; i++)
			if (ready[i])
				puts(refs[i]);
	free(ready);
	ray_client_free(cl);
	ray_refs_free(refs, n);
	if (rc < 0)
		return tool_finish(prog, tool_fail(prog, rc, &err));
	return tool_finish(prog, 0);
}
