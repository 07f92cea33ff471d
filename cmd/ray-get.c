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
#include "refin.h"
#include "tool.h"

#define PIPE_CHUNK 16384          /* refs fetched in one request at most */

static const char USAGE[] =
	"usage: ray-get [--timeout SEC] [-o FILE | --dir DIR] [REF...]\n"
	"options:\n"
	"  --timeout SEC                give up after SEC seconds (exit 3)\n"
	"  -o, --output FILE            write the objects to FILE, not stdout\n"
	"  --dir DIR                    write each object to DIR/REF\n"
	"  --help                       print this help and exit 0\n"
	"  --version                    print the version and exit 0\n";

/* Refs from a pipe, fetched chunk by chunk as they come, so the first
 * objects print while the producer still writes (refin.c).  --timeout
 * counts the time spent waiting for objects, as when all refs are read
 * first; the time waiting for refs is the producer's. */
static int get_piped(ray_client *cl, int64_t timeout, int fd, ray_err *err)
{
	refin *in = refin_new(0);
	int64_t used = 0, t0;
	char **refs;
	size_t n;
	int eof = 0, rc = 0;

	if (!in)
		return ray_seterr(err, RAY_EUSAGE, "out of memory");
	while (!rc && !eof && !(rc = refin_next(in, PIPE_CHUNK, &refs, &n, &eof, err))) {
		if (!n)
			continue;
		t0 = ray_now_ms();
		rc = ray_get_to_fd(cl, n, (const char *const *)refs,
		                   timeout < 0 ? -1 : timeout > used ? timeout - used : 0, fd, err);
		used += ray_now_ms() - t0;
	}
	refin_free(in);
	return rc;
}

/* Whether the refs come from stdin: none given, or "-" alone. */
static int refs_on_stdin(int argc, char **argv)
{
	return argc == 0 || (argc == 1 && !strcmp(argv[0], "-"));
}

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
	if (!dir && !progress_enabled() && refs_on_stdin(argc - optind, argv + optind)) {
		if ((rc = ray_connect(&cl, NULL, NULL, &err)))
			return tool_fail(prog, rc, &err);
		if (out && (fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0)
			rc = ray_seterr(&err, RAY_EUSAGE, "cannot create '%s': %s", out, strerror(errno));
		if (!rc)
			rc = get_piped(cl, timeout, fd, &err);
		if (out && fd >= 0 && close(fd) && !rc)
			rc = ray_seterr(&err, RAY_EUSAGE, "cannot write '%s': %s", out, strerror(errno));
		ray_client_free(cl);
		if (rc)
			return tool_finish(prog, err.msg[0] ? tool_fail(prog, rc, &err) : ray_exit_code(rc));
		return tool_finish(prog, 0);
	}
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
