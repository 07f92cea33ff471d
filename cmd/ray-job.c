/* ray-job: run a driver command as a job that owns the objects and actors
 * it makes (run: here, as a child with RAY_JOB_ID set, exiting with its
 * status), or have the head run it detached (submit), and watch, stop and
 * list jobs.  While a run driver lives, ray-job keeps its connection open:
 * the node ends the job as FAILED if ray-job dies without reporting. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "follow.h"
#include "print.h"
#include "rayint.h"
#include "tool.h"

static const char USAGE[] =
	"usage: ray-job run [--namespace NS] [--env K=V]... [--working-dir DIR|REF] -- COMMAND [ARG...]\n"
	"       ray-job submit [--namespace NS] [--env K=V]... [--working-dir DIR|REF] -- COMMAND [ARG...]\n"
	"       ray-job status [--json] JOB\n"
	"       ray-job logs [--follow] JOB\n"
	"       ray-job stop JOB\n"
	"       ray-job list [--json]\n"
	"options:\n"
	"  --namespace NS               run, submit: the job's namespace for named actors\n"
	"  --env K=V                    run, submit: set K for the driver and every task and actor\n"
	"                               of the job (repeatable)\n"
	"  --working-dir DIR|REF        run, submit: the default --working-dir of the job's tasks\n"
	"                               and actors\n"
	"  --json                       status, list: JSON\n"
	"  -f, --follow                 logs: print the output as it grows until the job ends,\n"
	"                               then exit 0 (succeeded), 1 (failed) or 7 (stopped)\n"
	"  --help                       print this help and exit 0\n"
	"  --version                    print the version and exit 0\n";

static const char *prog = "ray-job";
static volatile sig_atomic_t child_pid;

static void forward(int sig)
{
	if (child_pid > 0)
		kill(child_pid, sig);
}

/* The job's defaults for its tasks and actors. */
typedef struct jobdef {
	const char *env[TOOL_MAX_REPEAT + 1];
	int nenv;
	const char *wd;
	char wdbuf[4096];
} jobdef;

/* Starts argv with RAY_JOB_ID (and RAY_NAMESPACE, and the job's defaults)
 * set; an exec failure comes back over a CLOEXEC pipe as the child's
 * errno. */
static pid_t spawn(char **argv, const char *id, const char *ns, char **jenv, int *exec_errno)
{
	int pfd[2], e = 0;
	pid_t pid;
	ssize_t n;

	*exec_errno = 0;
	if (pipe2(pfd, O_CLOEXEC))
		return -1;
	pid = fork();
	if (pid < 0) {
		close(pfd[0]);
		close(pfd[1]);
		return -1;
	}
	if (pid == 0) {
		close(pfd[0]);
		signal(SIGINT, SIG_DFL);
		signal(SIGQUIT, SIG_DFL);
		setenv("RAY_JOB_ID", id, 1);
		if (ns)
			setenv("RAY_NAMESPACE", ns, 1);
		for (; *jenv; jenv++)
			putenv(*jenv);
		execvp(argv[0], argv);
		e = errno;
		if (write(pfd[1], &e, sizeof(e)) < 0)
			_exit(127);
		_exit(e == ENOENT ? 127 : 126);
	}
	close(pfd[1]);
	do
		n = read(pfd[0], &e, sizeof(e));
	while (n < 0 && errno == EINTR);
	close(pfd[0]);
	if (n == (ssize_t)sizeof(e))
		*exec_errno = e;
	return pid;
}

static int cmd_run(ray_client *cl, char **argv, const char *ns, const jobdef *d)
{
	struct sigaction sa, old_int, old_quit, old_term, old_hup;
	char id[RAY_ID_MAX + 1], **jenv;
	ray_err err = { 0, "" };
	int rc, status = 0, e, code, sig = 0;
	pid_t pid, w;

	if (!(jenv = ray_job_env(d->env, d->wd))) {
		fprintf(stderr, "%s: out of memory\n", prog);
		return 1;
	}
	if ((rc = ray_job_start(cl, (const char *const *)argv, ns, 0, NULL, NULL, d->wd, id, &err))) {
		ray_strv_free(jenv);
		return tool_fail(prog, rc, &err);
	}
	/* Like system(3): the terminal's ^C and ^\ are for the driver. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGQUIT, &sa, &old_quit);
	sa.sa_handler = forward;
	sigaction(SIGTERM, &sa, &old_term);
	sigaction(SIGHUP, &sa, &old_hup);
	pid = spawn(argv, id, ns, jenv, &e);
	ray_strv_free(jenv);
	if (pid < 0 || e) {
		int ecode = pid < 0 ? 1 : e == ENOENT ? 127 : 126;
		fprintf(stderr, "%s: cannot run '%s': %s\n", prog, argv[0], strerror(pid < 0 ? errno : e));
		if (pid > 0)
			while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
				;
		ray_job_end(cl, id, ecode, 0, NULL);
		return ecode;
	}
	child_pid = pid;
	if (ray_job_set_pid(cl, id, (long)pid, &err))
		fprintf(stderr, "%s: warning: %s\n", prog, err.msg);
	do
		w = waitpid(pid, &status, 0);
	while (w < 0 && errno == EINTR);
	child_pid = 0;
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGQUIT, &old_quit, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	sigaction(SIGHUP, &old_hup, NULL);
	if (w < 0) {
		code = 1;
	} else if (WIFSIGNALED(status)) {
		sig = WTERMSIG(status);
		code = 128 + sig;
	} else {
		code = WEXITSTATUS(status);
	}
	if ((rc = ray_job_end(cl, id, sig ? 0 : code, sig, &err)))
		fprintf(stderr, "%s: job %s ended, but the node was not told: %s\n", prog, id, err.msg);
	return code;
}

static int cmd_submit(ray_client *cl, char **argv, const char *ns, const jobdef *d)
{
	char id[RAY_ID_MAX + 1], cwd[PATH_MAX];
	ray_err err = { 0, "" };
	int rc;

	rc = ray_job_start(cl, (const char *const *)argv, ns, 1, getcwd(cwd, sizeof(cwd)), d->env, d->wd,
	                   id, &err);
	if (rc)
		return tool_fail(prog, rc, &err);
	puts(id);
	return tool_finish(prog, 0);
}

static int cmd_query(ray_client *cl, const char *cmd, const char *job, int json, int follow)
{
	ray_err err = { 0, "" };
	char *out = NULL;
	size_t len = 0;
	int rc, kept = 1;

	if (!strcmp(cmd, "list")) {
		rc = ray_job_list(cl, &out, &err);
		if (!rc)
			print_list("jobs", out, json, 0);
	} else if (!strcmp(cmd, "status")) {
		rc = ray_job_status(cl, job, &out, &err);
		if (!rc && json) {
			puts(out);
		} else if (!rc) {
			cJSON *j = cJSON_Parse(out);
			const cJSON *st = cJSON_GetObjectItemCaseSensitive(j, "status");
			puts(cJSON_IsString(st) ? st->valuestring : "UNKNOWN");
			cJSON_Delete(j);
		}
	} else if (!strcmp(cmd, "logs") && follow) {
		int code = 0;
		if (!(rc = follow_log(cl, prog, job, 1, &code, &err)))
			return tool_finish(prog, code);
	} else if (!strcmp(cmd, "logs")) {
		rc = ray_job_logs(cl, job, &out, &len, &kept, &err);
		if (!rc && !kept)
			fprintf(stderr, "%s: job %s was run by ray-job run: its output went to that terminal\n",
			        prog, job);
		if (!rc && len && ray_write_all(1, out, len))
			rc = ray_seterr(&err, RAY_EUSAGE, "cannot write output: %s", strerror(errno));
	} else {
		rc = ray_job_stop(cl, job, &err);
	}
	free(out);
	if (rc)
		return tool_fail(prog, rc, &err);
	return tool_finish(prog, 0);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "namespace", required_argument, 0, 'n' }, { "json", no_argument, 0, 'j' },
		{ "env", required_argument, 0, 'e' }, { "working-dir", required_argument, 0, 'w' },
		{ "follow", no_argument, 0, 'f' },
		{ "help", no_argument, 0, 'h' }, { "version", no_argument, 0, 'V' }, { 0, 0, 0, 0 }
	};
	const char *cmd, *ns = NULL;
	jobdef d;
	int c, rc, json = 0, follow = 0, runs;
	ray_client *cl;
	ray_err err = { 0, "" };

	ray_std_fds();
	memset(&d, 0, sizeof(d));
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+", lo, NULL)) != -1) {
		switch (c) {
		default: return tool_std_opt(prog, USAGE, c, argc, argv);
		}
	}
	if (optind >= argc)
		return tool_usage(prog, USAGE, "missing command%s", "");
	cmd = argv[optind];
	runs = !strcmp(cmd, "run") || !strcmp(cmd, "submit");
	if (!runs && strcmp(cmd, "status") && strcmp(cmd, "logs") && strcmp(cmd, "stop") &&
	    strcmp(cmd, "list"))
		return tool_usage(prog, USAGE, "unknown command '%s'", cmd);
	argc -= optind;
	argv += optind;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+f", lo, NULL)) != -1) {
		switch (c) {
		case 'f':
			if (strcmp(cmd, "logs"))
				return tool_usage(prog, USAGE, "--follow is for logs%s", "");
			follow = 1;
			break;
		case 'n':
			if (!runs)
				return tool_usage(prog, USAGE, "--namespace is for run and submit%s", "");
			if (!*optarg)
				return tool_usage(prog, USAGE, "empty --namespace%s", "");
			ns = optarg;
			break;
		case 'e':
			if (!runs)
				return tool_usage(prog, USAGE, "--env is for run and submit%s", "");
			if (optarg[0] == '=' || !strchr(optarg, '='))
				return tool_usage(prog, USAGE, "bad --env '%s': want KEY=VAL", optarg);
			if (d.nenv == TOOL_MAX_REPEAT)
				return tool_usage(prog, USAGE, "too many --env options%s", "");
			d.env[d.nenv++] = optarg;
			break;
		case 'w':
			if (!runs)
				return tool_usage(prog, USAGE, "--working-dir is for run and submit%s", "");
			if (tool_working_dir(prog, "--working-dir", optarg, d.wdbuf, sizeof(d.wdbuf), &d.wd))
				return 2;
			break;
		case 'j':
			if (strcmp(cmd, "list") && strcmp(cmd, "status"))
				return tool_usage(prog, USAGE, "--json is for list and status%s", "");
			json = 1;
			break;
		case 'h': fputs(USAGE, stdout); return 0;
		default: return tool_bad_opt(prog, argc, argv);
		}
	}
	if (runs && optind >= argc)
		return tool_usage(prog, USAGE, "%s wants a command after --", cmd);
	if (!runs && !strcmp(cmd, "list") && optind < argc)
		return tool_usage(prog, USAGE, "unexpected argument '%s'", argv[optind]);
	if (!runs && strcmp(cmd, "list") && argc - optind != 1)
		return tool_usage(prog, USAGE, "%s wants one JOB", cmd);
	if ((rc = ray_connect(&cl, NULL, NULL, &err)))
		return tool_fail(prog, rc, &err);
	if (!strcmp(cmd, "run"))
		rc = cmd_run(cl, argv + optind, ns, &d);
	else if (runs)
		rc = cmd_submit(cl, argv + optind, ns, &d);
	else
		rc = cmd_query(cl, cmd, argv[optind], json, follow);
	ray_client_free(cl);
	return rc;
}
