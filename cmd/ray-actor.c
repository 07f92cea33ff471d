/* ray-actor: create an actor (a long-lived process serving method calls),
 * call its methods (printing the result refs at once), kill it, find it by
 * name, or list actors. */
#include <getopt.h>
#include <stdlib.h>

#include <cjson/cJSON.h>

#include "tool.h"

static const char USAGE[] =
	"usage: ray-actor create [OPTIONS] -- COMMAND [ARG...]\n"
	"       ray-actor call [--num-returns N] ACTOR METHOD [ARG...]\n"
	"       ray-actor kill [--restart] ACTOR\n"
	"       ray-actor get [--namespace NS] NAME\n"
	"       ray-actor list [--json]\n"
	"create OPTIONS: --cpus N --gpus N --memory SIZE --resource NAME=QTY --env K=V\n"
	"         --strategy S --node ID[:soft] --label K=V --prefer-label K=V --pg PG [--bundle I]\n"
	"         --name NAME --namespace NS --get-if-exists --detached --max-restarts N\n"
	"         --max-task-retries N --max-concurrency N --protocol line|tagged|frame\n";

static const char *prog = "ray-actor";

static int parse_int(const char *s, const char *opt, int neg_ok, int *out)
{
	uint64_t v;

	if (neg_ok && !strcmp(s, "-1")) {
		*out = -1;
		return 0;
	}
	if (ray_parse_uint(s, &v) || v > 1000000000) {
		fprintf(stderr, "%s: bad %s '%s': want a count\n%s", prog, opt, s, USAGE);
		return 2;
	}
	*out = (int)v;
	return 0;
}

static int cmd_create(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "cpus", required_argument, 0, 'c' }, { "gpus", required_argument, 0, 'g' },
		{ "memory", required_argument, 0, 'm' }, { "resource", required_argument, 0, 'r' },
		{ "env", required_argument, 0, 'e' }, { "strategy", required_argument, 0, 's' },
		{ "node", required_argument, 0, 'o' }, { "label", required_argument, 0, 'l' },
		{ "prefer-label", required_argument, 0, 'L' }, { "pg", required_argument, 0, 'p' },
		{ "bundle", required_argument, 0, 'b' }, { "name", required_argument, 0, 'N' },
		{ "namespace", required_argument, 0, 'n' }, { "get-if-exists", no_argument, 0, 'G' },
		{ "detached", no_argument, 0, 'D' }, { "max-restarts", required_argument, 0, 'R' },
		{ "max-task-retries", required_argument, 0, 'T' },
		{ "max-concurrency", required_argument, 0, 'C' }, { "protocol", required_argument, 0, 'P' },
		{ 0, 0, 0, 0 }
	};
	ray_actor_opts o;
	const char *res[TOOL_MAX_REPEAT + 1] = { 0 };
	const char *env[TOOL_MAX_REPEAT + 1] = { 0 };
	const char *labels[TOOL_MAX_REPEAT + 1] = { 0 };
	int nres = 0, nenv = 0, nlab = 0, c, rc;
	uint64_t v;
	char id[RAY_ID_MAX + 1];
	ray_client *cl;
	ray_err err = { 0, "" };

	ray_actor_opts_init(&o);
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+", lo, NULL)) != -1) {
		switch (c) {
		case 'c':
			if (ray_parse_qty(optarg, &o.task.cpus))
				return tool_usage(prog, USAGE, "bad --cpus '%s': want a number", optarg);
			o.task.cpus_set = 1;
			break;
		case 'g':
			if (ray_parse_qty(optarg, &o.task.gpus))
				return tool_usage(prog, USAGE, "bad --gpus '%s': want a number", optarg);
			break;
		case 'm':
			if (ray_parse_size(optarg, &o.task.memory))
				return tool_usage(prog, USAGE, "bad --memory '%s': want a size", optarg);
			break;
		case 'r':
			if (tool_add_kv(prog, "--resource", res, &nres, optarg))
				return 2;
			break;
		case 'e':
			if (tool_add_kv(prog, "--env", env, &nenv, optarg))
				return 2;
			break;
		case 's': o.task.strategy = optarg; break;
		case 'o': o.task.node = optarg; break;
		case 'l': labels[nlab++] = optarg; break;
		case 'L': o.task.prefer_label = optarg; break;
		case 'p': o.task.pg = optarg; break;
		case 'b':
			if (ray_parse_uint(optarg, &v) || v > 100000)
				return tool_usage(prog, USAGE, "bad --bundle '%s'", optarg);
			o.task.bundle = (int)v;
			break;
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
			if (strcmp(optarg, "line") && strcmp(optarg, "tagged") && strcmp(optarg, "frame"))
				return tool_usage(prog, USAGE, "bad --protocol '%s': want line, tagged or frame", optarg);
			o.protocol = optarg;
			break;
		default: return tool_bad_opt(prog, argc, argv);
		}
	}
	if (optind >= argc)
		return tool_usage(prog, USAGE, "create needs a command%s", "");
	if (o.max_concurrency > 1 && (!o.protocol || !strcmp(o.protocol, "line")))
		return tool_usage(prog, USAGE, "--max-concurrency above 1 needs --protocol tagged or frame%s", "");
	o.task.resources = res;
	o.task.env = env;
	o.task.labels = labels;
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
	if (strcmp(cmd, "list") && argc - optind != 1)
		return tool_usage(prog, USAGE, "%s needs exactly one actor", cmd);
	if (!strcmp(cmd, "list") && argc - optind != 0)
		return tool_usage(prog, USAGE, "unexpected argument '%s'", argv[optind]);
	if ((rc = ray_connect(&cl, NULL, NULL, &err)))
		return tool_fail(prog, rc, &err);
	if (!strcmp(cmd, "kill")) {
		rc = ray_actor_kill(cl, argv[optind], restart, &err);
	} else if (!strcmp(cmd, "get")) {
		rc = ray_actor_get(cl, argv[optind], ns, id, &err);
		if (!rc)
			puts(id);
	} else {
		rc = ray_request_json(cl, "{\"op\":\"actor_list\"}", 30000, &reply, &err);
		if (!rc) {
			cJSON *r = cJSON_Parse(reply), *items = cJSON_GetObjectItemCaseSensitive(r, "items"), *it;
			if (json) {
				char *s = cJSON_Print(items);
				puts(s);
				free(s);
			} else {
				cJSON_ArrayForEach(it, items) {
					const cJSON *nm = cJSON_GetObjectItemCaseSensitive(it, "name");
					printf("%s\t%s\t%s\n", cJSON_GetObjectItemCaseSensitive(it, "actor_id")->valuestring,
					       cJSON_GetObjectItemCaseSensitive(it, "state")->valuestring,
					       cJSON_IsString(nm) ? nm->valuestring : "-");
				}
			}
			cJSON_Delete(r);
			free(reply);
		}
	}
	ray_client_free(cl);
	return rc ? tool_fail(prog, rc, &err) : tool_finish(prog, 0);
}

int main(int argc, char **argv)
{
	const char *cmd;

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
