/* tool.h: the few lines every ray-* main shares: report an error with the
 * program's prefix and map it to SPEC.md's exit status. */
#ifndef TOOL_H
#define TOOL_H

#include <stdio.h>
#include <string.h>

#include "ray.h"

static inline int tool_fail(const char *prog, int rc, const ray_err *err)
{
	fprintf(stderr, "%s: %s\n", prog, err && err->msg[0] ? err->msg : "failed");
	return ray_exit_code(rc);
}

static inline int tool_usage(const char *prog, const char *usage, const char *fmt, const char *arg)
{
	fprintf(stderr, "%s: ", prog);
	fprintf(stderr, fmt, arg ? arg : "");
	fprintf(stderr, "\n%s", usage);
	return 2;
}

/* Flushes stdout and turns a write error (ENOSPC, EPIPE) into a failure. */
static inline int tool_finish(const char *prog, int code)
{
	if (fflush(stdout) || ferror(stdout)) {
		fprintf(stderr, "%s: cannot write output\n", prog);
		return code ? code : 1;
	}
	return code;
}

#endif
