/* tool.h: the few lines every ray-* main shares: report an error with the
 * program's prefix and map it to the documented exit status (ray-tools(7)). */
#ifndef TOOL_H
#define TOOL_H

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ray.h"
#include "rayint.h"

/* How often one option may repeat (--env, --resource, --label, --url). */
#define TOOL_MAX_REPEAT 256

static inline int tool_fail(const char *prog, int rc, const ray_err *err)
{
	/* The message may quote names and commands: one line, no escapes. */
	fprintf(stderr, "%s: ", prog);
	ray_fputs_safe(err && err->msg[0] ? err->msg : "failed", stderr);
	fputc('\n', stderr);
	return ray_exit_code(rc);
}

/* A usage error: one line that says what is wrong and where to look. */
static inline int tool_usage(const char *prog, const char *usage, const char *fmt, const char *arg)
{
	(void)usage;
	fprintf(stderr, "%s: ", prog);
	fprintf(stderr, fmt, arg ? arg : "");
	fprintf(stderr, "; see '%s --help'\n", prog);
	return 2;
}

/* getopt_long's complaint, as one line of ours (call with opterr = 0). */
static inline int tool_bad_opt(const char *prog, int argc, char **argv)
{
	extern int optind;
	const char *arg = optind >= 1 && optind - 1 < argc ? argv[optind - 1] : "";

	fprintf(stderr, "%s: bad option '%s' (unknown, or missing its value); see '%s --help'\n",
	        prog, arg, prog);
	return 2;
}

/* The last cases of every option switch: --help (usage on stdout, exit 0),
 * --version, or a bad option (exit 2). */
static inline int tool_std_opt(const char *prog, const char *usage, int c, int argc, char **argv)
{
	if (c == 'h') {
		fputs(usage, stdout);
		return 0;
	}
	if (c == 'V') {
		printf("%s %s\n", prog, RAY_VERSION);
		return 0;
	}
	return tool_bad_opt(prog, argc, argv);
}

/* A --working-dir value as the node wants it: a REF as it is, a DIR made
 * absolute against our directory (into buf); *out points at it.  0, or 2
 * after a usage error. */
static inline int tool_working_dir(const char *prog, const char *opt, const char *arg, char *buf,
                                   size_t len, const char **out)
{
	char cwd[4096];

	if (!*arg) {
		fprintf(stderr, "%s: empty %s; see '%s --help'\n", prog, opt, prog);
		return 2;
	}
	if (ray_ref_valid(arg) || arg[0] == '/') {
		*out = arg;
		return 0;
	}
	if (!getcwd(cwd, sizeof(cwd)) || (size_t)snprintf(buf, len, "%s/%s", cwd, arg) >= len) {
		fprintf(stderr, "%s: cannot make %s '%s' absolute; give a full path\n", prog, opt, arg);
		return 2;
	}
	*out = buf;
	return 0;
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
