/* ray-submit: run a command (or, with --batch, each line of stdin under
 * sh -c) as a task somewhere in the cluster; print its return ref(s), or
 * with --get wait and print the result.  A batch is one round trip.  With
 * --stream, each line the command writes is an object whose ref is printed
 * (and flushed) as soon as the line is complete.  With --worker, each task
 * is a call, METHOD ARG... (a batch line: METHOD<TAB>ARG...), served by a
 * pooled worker process. */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>

#include "progress.h"
#include "taskopt.h"

static const char USAGE[] =
	"usage: ray-submit [OPTIONS] -- COMMAND [ARG...]\n"
	"       ray-submit [OPTIONS] --batch < COMMANDS\n"
	"       ray-submit --stream [--backpressure N] [OPTIONS] -- COMMAND [ARG...]\n"
	"       ray-submit [OPTIONS] --worker CMDLINE [--protocol P] -- METHOD [ARG...]\n"
	"       ray-submit [OPTIONS] --worker CMDLINE [--protocol P] --batch < CALLS\n"
	"options:\n"
	TASKOPT_HELP
	"  --batch                      one command per line from stdin, one task each\n"
	"  --worker CMDLINE             a pooled task: a call served by a reused worker\n"
	"  --protocol line|tagged|frame the worker's protocol (default line)\n"
	"  --num-returns N              return objects per task (default 1)\n"
	"  --max-retries N              retries after a system error (default 3)\n"
	"  --retry-exceptions           also retry a task that exits non-zero\n"
	"  --retry-exit-codes C[,C...]  also retry on these exit codes\n"
	"  --name NAME                  a name for the task, shown by ray-status\n"
	"  --stdin REF                  the object as the command's standard input\n"
	"  --get                        wait and print the results instead of the refs\n"
	"  --stream                     each line of stdout its own object: print each ref as it comes\n"
	"  --backpressure N             with --stream: stop reading the task's stdout while N refs\n"
	"                               are unprinted (default 64)\n"
	"  --help                       print this help and exit 0\n"
	"  --version                    print the version and exit 0\n";

#define BATCH_CHUNK 20000

/* The non-blank lines of stdin into *out: 0, or a usage error (a NUL byte,
 * stdin closed or unreadable) said on stderr. */
static int read_lines(const char *prog, char ***out, size_t *n)
{
	size_t cap = 0, len = 0, lineno = 0;
	char **v = NULL, *line = NULL;
	size_t lcap = 0;
	ssize_t r;
	int rc = 0;

	while (!rc && (r = getline(&line, &lcap, stdin)) >= 0) {
		lineno++;
		if (memchr(line, '\0', (size_t)r)) {
			fprintf(stderr, "%s: line %zu of stdin holds a NUL byte: refusing it\n", prog, lineno);
			rc = 2;
			break;
		}
		while (r > 0 && (line[r - 1] == '\n' || line[r - 1] == '\r'))
			line[--r] = '\0';
		if (!line[strspn(line, " \t")])
			continue;
		if (len == cap) {
			char **nv = realloc(v, (cap ? cap * 2 : 256) * sizeof(*nv));
			if (!nv) {
				rc = 1;
				break;
			}
			v = nv;
			cap = cap ? cap * 2 : 256;
		}
		if (!(v[len] = strdup(line)))
			rc = 1;
		else
			len++;
	}
	if (!rc && ferror(stdin)) {
		fprintf(stderr, "%s: cannot read commands from stdin: %s\n", prog, strerror(errno));
		rc = 2;
	} else if (rc == 1) {
		fprintf(stderr, "%s: out of memory\n", prog);
	}
	free(line);
	if (rc) {
		while (len)
			free(v[--len]);
		free(v);
		return rc;
	}
	*out = v;
	*n = len;
	return 0;
}

/* "1,2,3" appended to codes (n so far, at most 256): 0, or -1 if malformed. */
static int parse_codes(const char *arg, int *codes, int *n)
{
	const char *p = arg;

	while (*p) {
		char *end;
		long code = strtol(p, &end, 10);
		if (end == p || (*end && *end != ',') || code < 0 || code > 255 || *n == 256)
			return -1;
		codes[(*n)++] = (int)code;
		p = *end ? end + 1 : end;
	}
	return 0;
}

/* Submits a streaming task and prints the ref of each line as it comes,
 * flushing before every wait, so a reader sees it at once. */
static int run_stream(ray_client *cl, const ray_task_opts *o, char **cmd, int backpressure, ray_err *err)
{
	ray_stream *s;
	char ref[RAY_REF_MAX + 1];
	int rc;

	if ((rc = ray_submit_stream(cl, o, (const char *const *)cmd, backpressure, &s, err)))
		return rc;
	while ((rc = ray_stream_next(s, ref, -1, err)) == 1) {
		puts(ref);
		if (!ray_stream_buffered(s) && fflush(stdout)) {
			rc = ray_seterr(err, RAY_EUSAGE, "cannot write output: %s", strerror(errno));
			break;
		}
	}
	ray_stream_free(s);
	return rc;
}

/* Submits the command (or each line, BATCH_CHUNK per round trip), then
 * prints the refs, or with get the results. */
static int run(ray_client *cl, const ray_task_opts *o, char **cmd, char **lines, size_t nlines,
               int batch, int get, ray_err *err)
{
	const char *prog = "ray-submit";
	char warning[600];
	size_t i, nr, done;
	char (*refs)[RAY_REF_MAX + 1];
	int rc;

	nr = (size_t)(o->num_returns > 0 ? o->num_returns : 1);
	if (!batch) {
		const char *const *av = (const char *const *)cmd;
		refs = calloc(nr, sizeof(*refs));
		rc = ray_submit(cl, o, 1, &av, NULL, refs, warning, sizeof(warning), err);
		done = 1;
	} else {
		refs = calloc((nlines ? nlines : 1) * nr, sizeof(*refs));
		rc = 0;
		warning[0] = '\0';
		for (done = 0; done < nlines && !rc;) {
			size_t k = nlines - done < BATCH_CHUNK ? nlines - done : BATCH_CHUNK;
			rc = ray_submit(cl, o, k, NULL, (const char *const *)(lines + done),
			                refs + done * nr, warning, sizeof(warning), err);
			if (!rc)
				done += k;
			if (nlines > BATCH_CHUNK && progress_enabled())
				progress_show(prog, done, nlines, "submitted");
		}
		progress_clear();
	}
	if (!rc && warning[0])
		fprintf(stderr, "%s: warning: %s\n", prog, warning);
	if (!rc && !get) {
		for (i = 0; i < done * nr; i++)
			puts(refs[i]);
	} else if (!rc) {
		const char **rv = malloc(done * nr * sizeof(*rv) + 1);
		for (i = 0; i < done * nr; i++)
			rv[i] = refs[i];
		fflush(stdout);
		if (batch && done * nr > 1 && progress_enabled()) {
			unsigned char *ready = calloc(done * nr, 1);
			rc = ready ? progress_wait(cl, prog, done * nr, rv, done * nr, -1, ready, err)
			           : ray_seterr(err, RAY_EUNREACH, "out of memory");
			rc = rc < 0 ? rc : 0;
			free(ready);
		}
		if (!rc)
			rc = ray_get_to_fd(cl, done * nr, rv, -1, 1, err);
		free(rv);
	}
	free(refs);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		TASKOPT_OPTIONS,
		{ "num-returns", required_argument, 0, 'n' }, { "max-retries", required_argument, 0, 'R' },
		{ "retry-exceptions", no_argument, 0, 'x' }, { "retry-exit-codes", required_argument, 0, 'X' },
		{ "name", required_argument, 0, 'N' }, { "stdin", required_argument, 0, 'i' },
		{ "get", no_argument, 0, 'G' }, { "batch", no_argument, 0, 'B' },
		{ "stream", no_argument, 0, 'S' }, { "backpressure", required_argument, 0, 'P' },
		{ "worker", required_argument, 0, 'w' }, { "protocol", required_argument, 0, 'T' },
		{ "help", no_argument, 0, 'h' }, { "version", no_argument, 0, 'V' }, { 0, 0, 0, 0 }
	};
	const char *prog = "ray-submit";
	ray_task_opts o;
	taskopt t;
	int codes[256], ncodes = 0, batch = 0, get = 0, stream = 0, backpressure = 0, c, rc;
	uint64_t v;
	char **lines = NULL;
	size_t nlines = 0, i;
	ray_client *cl;
	ray_err err = { 0, "" };

	ray_std_fds();
	ray_task_opts_init(&o);
	taskopt_init(&t, &o);
	while ((c = taskopt_next(&t, prog, argc, argv, lo)) != -1) {
		switch (c) {
		case TASKOPT_ERROR: return 2;
		case 'n':
			if (ray_parse_uint(optarg, &v) || v < 1 || v > 1024)
				return tool_usage(prog, USAGE, "bad --num-returns '%s': want 1..1024", optarg);
			o.num_returns = (int)v;
			break;
		case 'R':
			if (ray_parse_uint(optarg, &v) || v > 1000000)
				return tool_usage(prog, USAGE, "bad --max-retries '%s': want a count", optarg);
			o.max_retries = (int)v;
			break;
		case 'x': o.retry_exceptions = 1; break;
		case 'X':
			if (parse_codes(optarg, codes, &ncodes))
				return tool_usage(prog, USAGE, "bad --retry-exit-codes '%s': want C[,C...]", optarg);
			break;
		case 'N': o.name = optarg; break;
		case 'i':
			if (!ray_ref_valid(optarg))
				return tool_usage(prog, USAGE, "malformed ref '%s' for --stdin", optarg);
			o.stdin_ref = optarg;
			break;
		case 'G': get = 1; break;
		case 'B': batch = 1; break;
		case 'S': stream = 1; break;
		case 'P':
			if (ray_parse_uint(optarg, &v) || v < 1 || v > 1000000)
				return tool_usage(prog, USAGE, "bad --backpressure '%s': want 1..1000000", optarg);
			backpressure = (int)v;
			break;
		case 'w':
			if (!optarg[strspn(optarg, " \t\n")])
				return tool_usage(prog, USAGE, "empty --worker '%s'", optarg);
			o.worker = optarg;
			break;
		case 'T':
			if (taskopt_protocol(prog, optarg, &o.protocol))
				return 2;
			break;
		default: return tool_std_opt(prog, USAGE, c, argc, argv);
		}
	}
	o.retry_exit_codes = codes;
	o.n_retry_exit_codes = ncodes;
	if (taskopt_check(&t, prog))
		return 2;
	if (o.protocol && !o.worker)
		return tool_usage(prog, USAGE, "--protocol is for pooled tasks (--worker)%s", "");
	if (o.worker && o.stdin_ref)
		return tool_usage(prog, USAGE, "--stdin is for command tasks, not pooled ones (--worker)%s", "");
	if (backpressure && !stream)
		return tool_usage(prog, USAGE, "--backpressure is for --stream%s", "");
	if (stream && (batch || get || o.num_returns > 1))
		return tool_usage(prog, USAGE, "--stream takes one command, and no --batch, --get or --num-returns%s", "");
	if (stream && o.worker)
		return tool_usage(prog, USAGE, "--stream is for command tasks, not pooled ones (--worker)%s", "");
	if (batch && optind < argc)
		return tool_usage(prog, USAGE, "--batch takes commands on stdin, not '%s'", argv[optind]);
	if (!batch && optind >= argc)
		return tool_usage(prog, USAGE, o.worker ? "no method given%s" : "no command given%s", "");
	if (!batch && !argv[optind][strspn(argv[optind], " \t\n")])
		return tool_usage(prog, USAGE, "empty command '%s'", argv[optind]);
	if (batch && (rc = read_lines(prog, &lines, &nlines)))
		return rc;
	if ((rc = ray_connect(&cl, NULL, NULL, &err))) {
		for (i = 0; i < nlines; i++)
			free(lines[i]);
		free(lines);
		return tool_fail(prog, rc, &err);
	}
	if (stream)
		rc = run_stream(cl, &o, argv + optind, backpressure ? backpressure : 64, &err);
	else
		rc = run(cl, &o, argv + optind, lines, nlines, batch, get, &err);
	ray_client_free(cl);
	for (i = 0; i < nlines; i++)
		free(lines[i]);
	free(lines);
	if (rc)
		return tool_finish(prog, tool_fail(prog, rc, &err));
	return tool_finish(prog, 0);
}
