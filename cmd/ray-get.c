/* ray-get: wait for objects and write their bytes, in argument order, to
 * stdout, to one file (-o) or to DIR/REF each (--dir).  An error object
 * prints its task's error and exits with its code. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include "progress.h"
#include "tool.h"

static const char USAGE[] =
	"usage: ray-get [--timeout SEC] [-o FILE | --dir DIR] [REF...]\n"
	"options:\n"
	"  --timeout SEC                give up after SEC seconds (exit 3)\n"
	"  -o, --output FILE            write the objects to FILE, not stdout\n"
	"  --dir DIR                    write each object to DIR/REF\n"
	"  --help                       print this help and exit 0\n"
	"  --version                    print the version and exit 0\n";

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "timeout", required_argument, 0, 't' }, { "output", required_argument, 0, 'o' },
		{ "dir", required_argument, 0, 'd' }, { "help", no_argument, 0, 'h' },
		{ "version", no_argument, 0, 'V' }, { 0, 0, 0, 0 }
	};
	const char *prog = "ray-get", *out = NULL, *dir = NULL;
	int64_t timeout = -1;
	char **refs;
	size_t n;
	int c, rc, fd = 1;
	ray_client *cl;
	ray_err err = { 0, "" };

	ray_std_fds();
	opterr = 0;
	while ((c = getopt_long(argc, argv, "o:", lo, NULL)) != -1) {
		switch (c) {
		case 't':
			if (ray_parse_seconds(optarg, &timeout))
				return tool_usage(prog, USAGE, "bad --timeout '%s': want seconds", optarg);
			break;
		case 'o': out = optarg; break;
		case 'd': dir = optarg; break;
		default: return tool_std_opt(prog, USAGE, c, argc, argv);
		}
	}
	if (out && dir)
		return tool_usage(prog, USAGE, "-o and --dir exclude each other%s", "");
	if ((rc = ray_read_refs(argc - optind, argv + optind, &refs, &n, &err)))
		return tool_fail(prog, rc, &err);
	if ((rc = ray_connect(&cl, NULL, NULL, &err))) {
		ray_refs_free(refs, n);
		return tool_fail(prog, rc, &err);
	}
	if (out) {
		fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0) {
			fprintf(stderr, "%s: cannot create '%s': %s\n", prog, out, strerror(errno));
			rc = RAY_EUSAGE;
		}
	}
	if (!rc && n > 1 && progress_enabled()) {
		/* A count while they come in; the fetch below then finds them ready. */
		unsigned char *ready = calloc(n, 1);
		int64_t t0 = ray_now_ms();
		rc = ready ? progress_wait(cl, prog, n, (const char *const *)refs, n, timeout, ready, &err)
		           : ray_seterr(&err, RAY_EUNREACH, "out of memory");
		rc = rc < 0 ? rc : 0;
		if (timeout >= 0)
			timeout = timeout > ray_now_ms() - t0 ? timeout - (ray_now_ms() - t0) : 0;
		free(ready);
	}
	if (!rc && !dir) {
		rc = ray_get_to_fd(cl, n, (const char *const *)refs, timeout, fd, &err);
	} else if (!rc) {
		/* One request for all, so the wait is shared; then one file each. */
		rc = ray_get_to_dir(cl, n, (const char *const *)refs, timeout, dir, &err);
	}
	if (out && fd >= 0 && close(fd) && !rc)
		rc = ray_seterr(&err, RAY_EUSAGE, "cannot write '%s': %s", out, strerror(errno));
	ray_client_free(cl);
	ray_refs_free(refs, n);
	if (rc)
		return tool_finish(prog, err.msg[0] ? tool_fail(prog, rc, &err) : ray_exit_code(rc));
	return tool_finish(prog, 0);
}
