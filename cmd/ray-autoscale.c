/* ray-autoscale: grows and shrinks a cluster by running commands.  Each
 * round it asks the node it talks to (the head) for the demands (tasks
 * queued for resources, feasible or not) and the nodes; with demands and
 * room under --max-nodes it runs --up with the wanted shape in its
 * environment; a worker idle (nothing used, nothing queued) for
 * --idle-timeout, with no demands and more than --min-nodes alive, is
 * handed to --down with RAY_NODE_ID set.  A --cooldown separates any two
 * actions; a launch counts as a node until the node joins or
 * --launch-timeout passes.  Each action is one line on stdout. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "tool.h"

static const char USAGE[] =
	"usage: ray-autoscale --up CMDLINE [--down CMDLINE] [OPTIONS]\n"
	"options:\n"
	"  --up CMDLINE                 run by sh to add a node (the wanted shape in RAY_AUTOSCALE_*)\n"
	"  --down CMDLINE               run by sh to remove the idle node RAY_NODE_ID\n"
	"  --min-nodes N                keep at least N nodes, the head included (default 1)\n"
	"  --max-nodes N                never more than N nodes, launches included (default 8)\n"
	"  --idle-timeout SEC           a worker idle this long may go (default 60)\n"
	"  --cooldown SEC               at least SEC between two actions (default 30)\n"
	"  --launch-timeout SEC         a launch not joined by then is forgotten (default 300)\n"
	"  --interval SEC               look at the cluster every SEC (default 2)\n"
	"  --once                       one round, then exit\n"
	"  --dry-run                    print what would be run, run nothing\n"
	"  --help                       print this help and exit 0\n"
	"  --version                    print the version and exit 0\n";

static const char *prog = "ray-autoscale";

#define MAX_TRACK 256

typedef struct conf {
	const char *up, *down;
	uint64_t min_nodes, max_nodes;
	int64_t idle_ms, cooldown_ms, launch_ms, interval_ms;
	int once, dry;
} conf;

/* What the autoscaler remembers between rounds. */
static struct {
	int64_t last_action;            /* 0: never */
	int64_t launches[MAX_TRACK];    /* when each launch not yet joined was run */
	int nlaunch;
	int nknown;                     /* nodes alive when the last launch ran */
	struct { char id[64]; int64_t since; int downed; } idle[MAX_TRACK];
	int nidle;
} st;

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int64_t ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };

	while (!stopping && nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static double num(const cJSON *o, const char *k)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsNumber(it) ? it->valuedouble : 0;
}

static const char *str(const cJSON *o, const char *k)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsString(it) ? it->valuestring : "";
}

/* Runs CMDLINE with sh, the given "K=V" settings added to its environment
 * and its stdout on our stderr (stdout is the actions'); its status. */
static int run_cmd(const char *cmdline, char *const *env, int nenv)
{
	pid_t pid;
	int status, i;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		dup2(STDERR_FILENO, STDOUT_FILENO);
		for (i = 0; i < nenv; i++)
			putenv(env[i]);
		execl("/bin/sh", "sh", "-c", cmdline, (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Environment of --up: the first demand's shape, and why. */
static int shape_env(const cJSON *demand, const char *reason, char env[][512], int max)
{
	const cJSON *res = cJSON_GetObjectItemCaseSensitive(demand, "resources"), *it;
	char custom[400] = "";
	size_t off = 0;
	int n = 0;

	snprintf(env[n++], 512, "RAY_AUTOSCALE_REASON=%s", reason);
	snprintf(env[n++], 512, "RAY_AUTOSCALE_CPUS=%g", res ? num(res, "CPU") : 0);
	snprintf(env[n++], 512, "RAY_AUTOSCALE_GPUS=%g", res ? num(res, "GPU") : 0);
	snprintf(env[n++], 512, "RAY_AUTOSCALE_MEMORY=%.0f", res ? num(res, "memory") : 0);
	cJSON_ArrayForEach(it, res) {
		if (!strcmp(it->string, "CPU") || !strcmp(it->string, "GPU") || !strcmp(it->string, "memory") ||
		    !cJSON_IsNumber(it) || !it->valuedouble)
			continue;
		if (off < sizeof(custom))
			off += (size_t)snprintf(custom + off, sizeof(custom) - off, "%s%s=%g", off ? "," : "",
			                        it->string, it->valuedouble);
	}
	snprintf(env[n++], 512, "RAY_AUTOSCALE_RESOURCES=%s", custom);
	snprintf(env[n++], 512, "RAY_AUTOSCALE_INFEASIBLE=%d",
	         cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(demand, "infeasible")));
	(void)max;
	return n;
}

static int idle_slot(const char *id)
{
	int i;

	for (i = 0; i < st.nidle; i++)
		if (!strcmp(st.idle[i].id, id))
			return i;
	return -1;
}

/* A worker that holds nothing: every resource free, nothing queued. */
static int node_idle(const cJSON *n)
{
	const cJSON *tot = cJSON_GetObjectItemCaseSensitive(n, "resources_total");
	const cJSON *av = cJSON_GetObjectItemCaseSensitive(n, "resources_available"), *it;

	if (num(n, "pending_tasks") > 0)
		return 0;
	cJSON_ArrayForEach(it, tot)
		if (cJSON_IsNumber(it) && num(av, it->string) < it->valuedouble)
			return 0;
	return 1;
}

/* Forgets idle records of nodes gone or busy, starts those newly idle. */
static void track_idle(const cJSON *nodes, int64_t t)
{
	const cJSON *n;
	int i, keep[MAX_TRACK] = { 0 };

	cJSON_ArrayForEach(n, nodes) {
		const char *id = str(n, "node_id");
		if (strcmp(str(n, "state"), "ALIVE") || cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(n, "is_head")) ||
		    !node_idle(n) || strlen(id) >= sizeof(st.idle[0].id))
			continue;
		i = idle_slot(id);
		if (i < 0 && st.nidle < MAX_TRACK) {
			i = st.nidle++;
			snprintf(st.idle[i].id, sizeof(st.idle[i].id), "%s", id);
			st.idle[i].since = t;
			st.idle[i].downed = 0;
		}
		if (i >= 0)
			keep[i] = 1;
	}
	for (i = st.nidle - 1; i >= 0; i--)
		if (!keep[i]) {
			st.idle[i] = st.idle[st.nidle - 1];
			keep[i] = keep[st.nidle - 1];
			st.nidle--;
		}
}

static int act_up(const conf *cf, const cJSON *demand, const char *reason)
{
	char env[8][512], *envp[8];
	int n = shape_env(demand, reason, env, 8), i, rc = 0;

	for (i = 0; i < n; i++)
		envp[i] = env[i];
	printf("up\t%s", reason);
	for (i = 1; i < n; i++)
		printf("\t%s", env[i] + strlen("RAY_AUTOSCALE_"));
	putchar('\n');
	fflush(stdout);
	if (!cf->dry && (rc = run_cmd(cf->up, envp, n)))
		fprintf(stderr, "%s: --up exited %d\n", prog, rc);
	return rc;
}

static int act_down(const conf *cf, const cJSON *node)
{
	char env[2][512], *envp[2] = { env[0], env[1] };
	int rc = 0;

	snprintf(env[0], sizeof(env[0]), "RAY_NODE_ID=%s", str(node, "node_id"));
	snprintf(env[1], sizeof(env[1]), "RAY_NODE_ADDRESS=%s", str(node, "address"));
	printf("down\t%s\t%s\n", str(node, "node_id"), str(node, "address"));
	fflush(stdout);
	if (!cf->dry && (rc = run_cmd(cf->down, envp, 2)))
		fprintf(stderr, "%s: --down exited %d for node %s\n", prog, rc, str(node, "node_id"));
	return rc;
}

/* One look at the cluster and at most one action. */
static int round_once(const conf *cf, ray_client *cl, ray_err *err)
{
	char *sj = NULL, *nj = NULL;
	cJSON *sum = NULL, *nodes = NULL;
	const cJSON *demands, *n;
	int rc, alive = 0, i, ndem, pending = 0;
	int64_t t = now_ms();

	if ((rc = ray_status(cl, &sj, err)) || (rc = ray_list(cl, "nodes", NULL, -1, &nj, err)))
		goto out;
	sum = cJSON_Parse(sj);
	nodes = cJSON_Parse(nj);
	if (!sum || !nodes) {
		rc = ray_seterr(err, RAY_EUNREACH, "the node sent JSON that does not parse");
		goto out;
	}
	cJSON_ArrayForEach(n, nodes)
		if (!strcmp(str(n, "state"), "ALIVE")) {
			alive++;
			pending += (int)num(n, "pending_tasks");
		}
	demands = cJSON_GetObjectItemCaseSensitive(sum, "demands");
	ndem = cJSON_GetArraySize(demands);
	/* Launches: each node that joined since answers one; old ones lapse. */
	for (i = 0; i < st.nlaunch; i++)
		if (t - st.launches[i] > cf->launch_ms)
			st.launches[i--] = st.launches[--st.nlaunch];
	while (st.nlaunch > 0 && alive > st.nknown) {
		st.nlaunch--;
		st.nknown++;
	}
	st.nknown = alive;
	track_idle(nodes, t);
	if (st.last_action && t - st.last_action < cf->cooldown_ms)
		goto out;
	if ((uint64_t)(alive + st.nlaunch) < cf->min_nodes ||
	    ((ndem > 0 || pending > 0) && (uint64_t)(alive + st.nlaunch) < cf->max_nodes)) {
		const char *why = (uint64_t)(alive + st.nlaunch) < cf->min_nodes ? "min-nodes"
		                  : ndem > 0 && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
		                                   cJSON_GetArrayItem(demands, 0), "infeasible")) ? "infeasible"
		                  : "pending";
		act_up(cf, cJSON_GetArrayItem(demands, 0), why);
		if (st.nlaunch < MAX_TRACK)
			st.launches[st.nlaunch++] = t;
		st.last_action = t;
		goto out;
	}
	if (!cf->down || ndem > 0 || pending > 0 || (uint64_t)alive <= cf->min_nodes)
		goto out;
	cJSON_ArrayForEach(n, nodes) {
		i = idle_slot(str(n, "node_id"));
		if (i < 0 || st.idle[i].downed || t - st.idle[i].since < cf->idle_ms)
			continue;
		act_down(cf, n);
		st.idle[i].downed = 1;
		st.last_action = t;
		break;
	}
out:
	cJSON_Delete(sum);
	cJSON_Delete(nodes);
	free(sj);
	free(nj);
	return rc;
}

/* SEC of the option named opt. */
static int parse_secs(const char *opt, const char *arg, int64_t *ms)
{
	if (!ray_parse_seconds(arg, ms))
		return 0;
	fprintf(stderr, "%s: bad --%s '%s': want seconds; see '%s --help'\n", prog, opt, arg, prog);
	return 2;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "up", required_argument, 0, 'u' }, { "down", required_argument, 0, 'd' },
		{ "min-nodes", required_argument, 0, 'm' }, { "max-nodes", required_argument, 0, 'M' },
		{ "idle-timeout", required_argument, 0, 'i' }, { "cooldown", required_argument, 0, 'c' },
		{ "launch-timeout", required_argument, 0, 'l' }, { "interval", required_argument, 0, 'I' },
		{ "once", no_argument, 0, '1' }, { "dry-run", no_argument, 0, 'n' },
		{ "help", no_argument, 0, 'h' }, { "version", no_argument, 0, 'V' }, { 0, 0, 0, 0 }
	};
	conf cf = { NULL, NULL, 1, 8, 60000, 30000, 300000, 2000, 0, 0 };
	ray_client *cl = NULL;
	ray_err err = { 0, "" };
	int c, rc, li = 0;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "", lo, &li)) != -1) {
		switch (c) {
		case 'u': cf.up = optarg; break;
		case 'd': cf.down = optarg; break;
		case 'm':
			if (ray_parse_uint(optarg, &cf.min_nodes))
				return tool_usage(prog, USAGE, "bad --min-nodes '%s': want a count", optarg);
			break;
		case 'M':
			if (ray_parse_uint(optarg, &cf.max_nodes) || !cf.max_nodes)
				return tool_usage(prog, USAGE, "bad --max-nodes '%s': want a count of 1 or more", optarg);
			break;
		case 'i': case 'c': case 'l': case 'I':
			if (parse_secs(lo[li].name, optarg,
			               c == 'i' ? &cf.idle_ms : c == 'c' ? &cf.cooldown_ms
			               : c == 'l' ? &cf.launch_ms : &cf.interval_ms))
				return 2;
			break;
		case '1': cf.once = 1; break;
		case 'n': cf.dry = 1; break;
		default: return tool_std_opt(prog, USAGE, c, argc, argv);
		}
	}
	if (optind < argc)
		return tool_usage(prog, USAGE, "unexpected argument '%s'", argv[optind]);
	if (!cf.up || !*cf.up)
		return tool_usage(prog, USAGE, "--up CMDLINE is required%s", "");
	if (cf.min_nodes > cf.max_nodes)
		return tool_usage(prog, USAGE, "--min-nodes is above --max-nodes%s", "");
	if (cf.interval_ms < 10)
		cf.interval_ms = 10;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	if ((rc = ray_connect(&cl, NULL, NULL, &err)))
		return tool_fail(prog, rc, &err);
	while (!stopping) {
		if (!cl && (rc = ray_connect(&cl, NULL, NULL, &err)))
			fprintf(stderr, "%s: %s; trying again\n", prog, err.msg);
		if (cl && (rc = round_once(&cf, cl, &err))) {
			fprintf(stderr, "%s: %s\n", prog, err.msg);
			ray_client_free(cl);
			cl = NULL;
		}
		if (cf.once)
			break;
		sleep_ms(cf.interval_ms);
	}
	if (cl)
		ray_client_free(cl);
	if (cf.once && rc)
		return ray_exit_code(rc);
	return tool_finish(prog, 0);
}
