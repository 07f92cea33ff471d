/* ray-actor: create an actor (a long-lived process serving method calls),
 * call its methods (printing the result refs at once), kill it, find it by
 * name, or list actors. */
#include <getopt.h>
#include <stdlib.h>

#include "print.h"
#include "taskopt.h"

static const char USAGE[] =
	"usage: ray-actor create [OPTIONS] -- COMMAND [ARG...]\n"
	"       ray-actor call [--num-returns N] ACTOR METHOD [ARG...]\n"
	"       ray-actor kill [--restart] ACTOR...\n"
	"       ray-actor get [--namespace NS] NAME\n"
	"       ray-actor list [--json]\n"
	"options:\n"
	TASKOPT_HELP
	"  --name NAME                  create: a name to find the actor by\n"
	"  --namespace NS               create, get: the name's namespace\n"
	"  --get-if-exists              create: print the named actor's id if it exists\n"
	"  --detached                   create: outlive the job\n"
	"  --max-restarts N             create: restarts after a crash (default 0; -1: no limit)\n"
	"  --max-task-retries N         create: retries of a call in flight (default 0; -1: no limit)\n"
	"  --max-concurrency N          create: calls at once (default 1)\n"
	"  --protocol line|tagged|frame create: what the actor speaks (default line)\n"
	"  --num-returns N              call: result objects (default 1)\n"
	"  --restart                    kill: restart it instead of stopping it for good\n"
	"  --json                       list: a JSON array\n"
	"  --help                       print this help and exit 0\n"
	"  --version                    print the version and exit 0\n";

static const char *prog = "ray-actor";

static int parse_int(const char *s, const char *opt, int neg_ok, int *out)
{
	uint64_t v;

	if (neg_ok && !strcmp(s, "-1")) {
		*out = -1;
		return 0;
	}
	if (ray_parse_uint(s, &v) || v > 1000000000) {
		fprintf(stderr, "%s: bad %s '%s': want a count; see '%s --help'\n", prog, opt, s, prog);
		return 2;
	}
	*out = (int)v;
	return 0;
}

static int cmd_create(int argc, char **argv)
{
	static const struct option lo[] = {
		TASKOPT_OPTIONS,
		{ "name", required_argument, 0, 'N' }, { "namespace", required_argument, 0, 'n' },
		{ "get-if-exists", no_argument, 0, 'G' }, { "detached", no_argument, 0, 'D' },
		{ "max-restarts", required_argument, 0, 'R' },
		{ "max-task-retries", required_argument, 0, 'T' },
		{ "max-concurrency", required_argument, 0, 'C' }, { "protocol", required_argument, 0, 'P' },
		{ 0, 0, 0, 0 }
	};
	ray_actor_opts o;
	taskopt t;
	int c, rc;
	char id[RAY_ID_MAX + 1];
	ray_client *cl;
	ray_err err = { 0, "" };

	ray_actor_opts_init(&o);
	taskopt_init(&t, &o.task);
	optind = 1;
	while ((c = taskopt_next(&t, prog, argc, argv, lo)) != -1) {
		switch (c) {
		case TASKOPT_ERROR: return 2;
		case 'N': o.name = optarg; break;
		case 'n': o.namespace_ = optarg; break;
		case 'G': o.get_if_exists = 1; break;
		case 'D': o.detached = 1; break;
		case 'R': if (parse_int(optarg, "--max-restarts", 1, &o.max_restarts)) return 2; break;
		case 'T': if (parse_int(optarg, "--max-task-retries", 1, &o.max_task_retries)) return 2; break;
		case 'C':
			if (parse_int(optarg, "--max-concurrency", 0, &o.max_concurrency)) return 2;
			if (o.max_concurrency < 1)
				return tool_usage(prog, USAGE, "bad --max-concurrency '%s': want at least 1", optarg);
			break;
		case 'P':
			if (taskopt_protocol(prog, optarg, &o.protocol))
				return 2;
			break;
		default: return tool_bad_opt(prog, argc, argv);
		}
	}
	if (taskopt_check(&t, prog))
		return 2;
	if (optind >= argc)
		return tool_usage(prog, USAGE, "create needs a command%s", "");
	if (o.max_concurrency > 1 && (!o.protocol || !strcmp(o.protocol, "line")))
		return tool_usage(prog, USAGE, "--max-concurrency above 1 needs --protocol tagged or frame%s", "");
	if ((rc = ray_connect(&cl, NULL, NULL, &err)))
		return tool_fail(prog, rc, &err);
	rc = ray_actor_create(cl, &o, (const char *const *)(argv + optind), id, &err);
	ray_client_free(cl);
	if (rc)
		return tool_fail(prog, rc, &err);
	if (err.msg[0])
		fprintf(stderr, "%s: warning: %s\n", prog, err.msg);
	puts(id);
	return tool_finish(prog, 0);
}

static int cmd_call(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "num-returns", required_argument, 0, 'n' }, { 0, 0, 0, 0 }
	};
	int nret = 1, c, rc, i;
	char (*refs)[RAY_REF_MAX + 1];
	ray_client *cl;
	ray_err err = { 0, "" };

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+", lo, NULL)) != -1) {
		if (c != 'n' || parse_int(optarg, "--num-returns", 0, &nret) || nret < 1 || nret > 1024)
			return c == 'n' ? tool_usage(prog, USAGE, "bad --num-returns '%s': want 1..1024", optarg)
			                : tool_bad_opt(prog, argc, argv);
	}
	if (argc - optind < 2)
		return tool_usage(prog, USAGE, "call needs ACTOR and METHOD%s", "");
	refs = calloc((size_t)nret, sizeof(*refs));
	if ((rc = ray_connect(&cl, NULL, NULL, &err)))
		return tool_fail(prog, rc, &err);
	rc = ray_actor_call(cl, argv[optind], argv[optind + 1], (size_t)(argc - optind - 2),
	                    (const char *const *)(argv + optind + 2), nret, refs, &err);
	ray_client_free(cl);
	if (!rc)
		for (i = 0; i < nret; i++)
			puts(refs[i]);
	free(refs);
	return rc ? tool_fail(prog, rc, &err) : tool_finish(prog, 0);
}

static int cmd_simple(const char *cmd, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "restart", no_argument, 0, 'r' }, { "namespace", required_argument, 0, 'n' },
		{ "json", no_argument, 0, 'j' }, { 0, 0, 0, 0 }
	};
	int restart = 0, json = 0, c, rc;
	const char *ns = NULL;
	char id[RAY_ID_MAX + 1], *reply = NULL;
	ray_client *cl;
	ray_err err = { 0, "" };

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+", lo, NULL)) != -1) {
		switch (c) {
		case 'r': restart = 1; break;
		case 'n': ns = optarg; break;
		case 'j': json = 1; break;
		default: return tool_bad_opt(prog, argc, argv);
		}
	}
	if (!strcmp(cmd, "kill") && argc - optind < 1)
		return tool_usage(prog, USAGE, "kill needs at least one actor%s", "");
	if (!strcmp(cmd, "get") && argc - optind != 1)
		return tool_usage(prog, USAGE, "%s needs exactly one actor", cmd);
	if (!strcmp(cmd, "list") && argc - optind != 0)
		return tool_usage(prog, USAGE, "unexpected argument '%s'", argv[optind]);
	if ((rc = ray_connect(&cl, NULL, NULL, &err)))
		return tool_fail(prog, rc, &err);
	if (!strcmp(cmd, "kill")) {
		/* Every one is tried; each failure says so; the first sets the status. */
		int i, first = 0;
		for (i = optind; i < argc; i++)
			if ((rc = ray_actor_kill(cl, argv[i], restart, &err))) {
				int code = tool_fail(prog, rc, &err);
				first = first ? first : code;
			}
		ray_client_free(cl);
		return first ? first : tool_finish(prog, 0);
	} else if (!strcmp(cmd, "get")) {
		rc = ray_actor_get(cl, argv[optind], ns, id, &err);
		if (!rc)
			puts(id);
	} else {
		/* id, state and name: the node is ray-status actors' business */
		rc = ray_actor_list(cl, &reply, &err);
		if (!rc)
			print_list("actors", reply, json, 3);
		free(reply);
	}
	ray_client_free(cl);
	return rc ? tool_fail(prog, rc, &err) : tool_finish(prog, 0);
}

int main(int argc, char **argv)
{
	const char *cmd;

	ray_std_fds();
	if (argc < 2)
		return tool_usage(prog, USAGE, "missing command%s", "");
	cmd = argv[1];
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
		fputs(USAGE, stdout);
		return 0;
	}
	if (!strcmp(cmd, "--version")) {
		printf("%s %s\n", prog, RAY_VERSION);
		return 0;
	}
	if (!strcmp(cmd, "create"))
		return cmd_create(argc - 1, argv + 1);
	if (!strcmp(cmd, "call"))
		return cmd_call(argc - 1, argv + 1);
	if (!strcmp(cmd, "kill") || !strcmp(cmd, "get") || !strcmp(cmd, "list"))
		return cmd_simple(cmd, argc - 1, argv + 1);
	return tool_usage(prog, USAGE, "unknown command '%s'", cmd);
}
