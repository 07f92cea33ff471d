/* top.c: ray-status top, a live view of the cluster.  Every interval it
 * asks the node for the summary and the lists of nodes, running and
 * pending tasks and live actors (the same libray calls as ray-status),
 * builds the frame as lines cut to the terminal's width, and redraws it
 * in place: cursor home, each line followed by erase-to-end-of-line, then
 * erase below, on the alternate screen, so nothing flickers and the shell's
 * screen comes back at the end.  Plain ANSI sequences, no curses: every
 * terminal emulator and tmux speak them.  Keys are read from the terminal
 * in non-canonical mode: q quits, any other key redraws now; Ctrl-C and
 * SIGTERM quit too, the terminal restored on every way out.  When stdout
 * is not a terminal it prints one frame and exits, as top -b -n 1. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "print.h"
#include "rayint.h"
#include "top.h"

#define LINE_MAX_COLS 512
#define BAR 20

static volatile sig_atomic_t stop_sig;
static struct termios saved;
static int raw_on;

static void on_signal(int sig)
{
	stop_sig = sig;
}

/* One frame: lines of at most cols bytes, printable ASCII only (names
 * and commands may hold anything; they must not drive the terminal). */
typedef struct frame {
	char (*line)[LINE_MAX_COLS + 1];
	int n, rows, cols;
} frame;

static void add(frame *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void add(frame *f, const char *fmt, ...)
{
	char buf[4096];
	va_list ap;
	size_t i, o = 0;

	if (f->n >= f->rows)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	for (i = 0; buf[i] && o < (size_t)f->cols; i++) {
		unsigned char ch = (unsigned char)buf[i];
		f->line[f->n][o++] = ch < 0x20 || ch >= 0x7f ? '?' : (char)ch;
	}
	f->line[f->n][o] = '\0';
	f->n++;
}


/* "[#####-----]" for used out of total. */
static const char *bar(double used, double total, char *buf)
{
	int i, fill = total > 0 ? (int)(used / total * BAR + 0.5) : 0;

	if (fill > BAR)
		fill = BAR;
	if (fill < 0)
		fill = 0;
	buf[0] = '[';
	for (i = 0; i < BAR; i++)
		buf[1 + i] = i < fill ? '#' : '-';
	buf[BAR + 1] = ']';
	buf[BAR + 2] = '\0';
	return buf;
}

static void add_resources(frame *f, const cJSON *sum)
{
	const cJSON *tot = cJSON_GetObjectItemCaseSensitive(sum, "resources_total");
	const cJSON *av = cJSON_GetObjectItemCaseSensitive(sum, "resources_available"), *it;
	char b[BAR + 3], s1[32], s2[32];

	cJSON_ArrayForEach(it, tot) {
		double t = it->valuedouble, used = t - print_num(av, it->string);
		if (!cJSON_IsNumber(it) || t <= 0)
			continue;
		if (!strcmp(it->string, "memory") || !strcmp(it->string, "object_store_memory"))
			add(f, "  %-20s %s %s/%s", it->string, bar(used, t, b),
			    ray_fmt_size((uint64_t)(used > 0 ? used : 0), s1, sizeof(s1)),
			    ray_fmt_size((uint64_t)t, s2, sizeof(s2)));
		else
			add(f, "  %-20s %s %g/%g", it->string, bar(used, t, b), used, t);
	}
}

static void add_store(frame *f, const char *label, const cJSON *st)
{
	char b[BAR + 3], s1[32], s2[32], s3[32];

	add(f, "%s%s %s/%s used, %g objects, %s spilled", label,
	    bar(print_num(st, "used_bytes"), print_num(st, "capacity_bytes"), b),
	    ray_fmt_size((uint64_t)print_num(st, "used_bytes"), s1, sizeof(s1)),
	    ray_fmt_size((uint64_t)print_num(st, "capacity_bytes"), s2, sizeof(s2)), print_num(st, "objects"),
	    ray_fmt_size((uint64_t)print_num(st, "spilled_bytes"), s3, sizeof(s3)));
}

static void add_nodes(frame *f, const cJSON *nodes)
{
	const cJSON *it;
	char b[BAR + 3];

	add(f, "%-16s %-21s %-5s %-6s %-28s %s", "NODE_ID", "ADDRESS", "STATE", "ROLE", "CPU", "STORE");
	cJSON_ArrayForEach(it, nodes) {
		const cJSON *t = cJSON_GetObjectItemCaseSensitive(it, "resources_total");
		const cJSON *a = cJSON_GetObjectItemCaseSensitive(it, "resources_available");
		const cJSON *st = cJSON_GetObjectItemCaseSensitive(it, "store");
		char cpu[64], s1[32], s2[32];
		double ct = print_num(t, "CPU"), cu = ct - print_num(a, "CPU");
		snprintf(cpu, sizeof(cpu), "%s %g/%g", bar(cu, ct, b), cu, ct);
		add(f, "%-16.16s %-21.21s %-5.5s %-6s %-28s %s/%s", print_str(it, "node_id"), print_str(it, "address"),
		    print_str(it, "state"), cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(it, "is_head")) ? "head" : "worker",
		    cpu, ray_fmt_size((uint64_t)print_num(st, "used_bytes"), s1, sizeof(s1)),
		    ray_fmt_size((uint64_t)print_num(st, "capacity_bytes"), s2, sizeof(s2)));
	}
}

/* The newest items of a list, newest first, as many as fit. */
static void add_tasks(frame *f, const cJSON *tasks, int room)
{
	int n = cJSON_GetArraySize(tasks), i;

	add(f, "%-32s %-24s %-16s %s", "TASK_ID", "STATE", "NODE_ID", "NAME");
	for (i = n - 1; i >= 0 && room-- > 0; i--) {
		const cJSON *it = cJSON_GetArrayItem(tasks, i);
		add(f, "%-32.32s %-24.24s %-16.16s %s", print_str(it, "task_id"), print_str(it, "state"),
		    print_str(it, "node_id"), print_str(it, "name"));
	}
}

static void add_actors(frame *f, const cJSON *actors, int room)
{
	int n = cJSON_GetArraySize(actors), i;

	add(f, "%-32s %-10s %-16s %-8s %s", "ACTOR_ID", "STATE", "NODE_ID", "PID", "NAME");
	for (i = n - 1; i >= 0 && room-- > 0; i--) {
		const cJSON *it = cJSON_GetArrayItem(actors, i);
		add(f, "%-32.32s %-10.10s %-16.16s %-8.0f %s", print_str(it, "actor_id"), print_str(it, "state"),
		    print_str(it, "node_id"), print_num(it, "pid"), print_str(it, "name"));
	}
}

/* The running and pending tasks: RUNNING first, then those that wait. */
static cJSON *live_tasks(ray_client *cl, ray_err *err, int *rc)
{
	static const char *const states[] = { "RUNNING", "SUBMITTED_TO_WORKER",
	                                       "PENDING_NODE_ASSIGNMENT", "PENDING_ARGS_AVAIL" };
	cJSON *all = cJSON_CreateArray();
	size_t i;

	for (i = 0; i < sizeof(states) / sizeof(states[0]) && !*rc; i++) {
		char *json = NULL;
		cJSON *arr, *it;
		if ((*rc = ray_list(cl, "tasks", states[i], 50, &json, err)))
			break;
		arr = cJSON_Parse(json);
		free(json);
		/* Oldest first in the array: the last printed first. */
		while (arr && (it = cJSON_DetachItemFromArray(arr, 0)))
			cJSON_InsertItemInArray(all, 0, it);
		cJSON_Delete(arr);
	}
	return all;
}

static int build(ray_client *cl, frame *f, int64_t interval_ms, ray_err *err)
{
	char *sj = NULL, *nj = NULL, *aj = NULL, when[32];
	cJSON *sum = NULL, *nodes = NULL, *actors = NULL, *tasks = NULL, *it;
	time_t now = time(NULL);
	struct tm tm;
	int rc, room;

	if ((rc = ray_status(cl, &sj, err)) || (rc = ray_list(cl, "nodes", NULL, -1, &nj, err)) ||
	    (rc = ray_list(cl, "actors", "ALIVE", 50, &aj, err)))
		goto out;
	tasks = live_tasks(cl, err, &rc);
	if (rc)
		goto out;
	sum = cJSON_Parse(sj);
	nodes = cJSON_Parse(nj);
	actors = cJSON_Parse(aj);
	localtime_r(&now, &tm);
	strftime(when, sizeof(when), "%H:%M:%S", &tm);
	f->n = 0;
	add(f, "ray-status top - %s - %g nodes alive, %g dead - every %.1f s - q to quit", when,
	    print_num(sum, "nodes_alive"), print_num(sum, "nodes_dead"), interval_ms / 1000.0);
	add(f, "Resources (used/total):");
	add_resources(f, sum);
	add_store(f, "Object store: ", cJSON_GetObjectItemCaseSensitive(sum, "store"));
	{
		char line[1024];
		size_t o = (size_t)snprintf(line, sizeof(line), "Tasks:");
		cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(sum, "tasks"))
			if (it->valuedouble && o < sizeof(line))
				o += (size_t)snprintf(line + o, sizeof(line) - o, " %s=%g", it->string, it->valuedouble);
		add(f, "%s", line);
	}
	add(f, "%s", "");
	add_nodes(f, nodes);
	add(f, "%s", "");
	/* What is left of the screen goes to tasks, then actors. */
	room = f->rows - f->n - 4;
	add_tasks(f, tasks, room - (cJSON_GetArraySize(actors) ? room / 3 : 0));
	add(f, "%s", "");
	add_actors(f, actors, f->rows - f->n - 1);
out:
	free(sj);
	free(nj);
	free(aj);
	cJSON_Delete(sum);
	cJSON_Delete(nodes);
	cJSON_Delete(actors);
	cJSON_Delete(tasks);
	return rc;
}

static void draw(const frame *f, int tty)
{
	int i;

	if (tty)
		fputs("\033[H", stdout);
	for (i = 0; i < f->n; i++)
		printf("%s%s\n", f->line[i], tty ? "\033[K" : "");
	if (tty)
		fputs("\033[J", stdout);
	fflush(stdout);
}

static void restore(void)
{
	if (raw_on)
		tcsetattr(0, TCSANOW, &saved);
	raw_on = 0;
	fputs("\033[?25h\033[?1049l", stdout);
	fflush(stdout);
}

/* Non-canonical, no echo: keys arrive one by one and are not shown. */
static void keys_raw(void)
{
	struct termios t;

	if (!isatty(0) || tcgetattr(0, &saved))
		return;
	t = saved;
	t.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
	t.c_cc[VMIN] = 0;
	t.c_cc[VTIME] = 0;
	if (!tcsetattr(0, TCSANOW, &t))
		raw_on = 1;
}

static void size_of(frame *f, int tty)
{
	struct winsize ws;

	f->rows = 24;
	f->cols = 80;
	if (tty && !ioctl(1, TIOCGWINSZ, &ws) && ws.ws_row > 0 && ws.ws_col > 0) {
		f->rows = ws.ws_row;
		f->cols = ws.ws_col;
	} else if (!tty) {
		f->rows = 1000;
		f->cols = LINE_MAX_COLS;
	}
	if (f->cols > LINE_MAX_COLS)
		f->cols = LINE_MAX_COLS;
}

/* A signal that ends the view (a resize only redraws). */
static int quit_sig(void)
{
	return stop_sig && stop_sig != SIGWINCH;
}

/* Waits up to ms for a key; 1 to quit: q, the terminal gone, or a signal. */
static int wait_key(int64_t ms)
{
	struct pollfd p = { 0, POLLIN, 0 };
	char k[32];
	ssize_t n;
	int i;

	if (!raw_on) {
		struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
		nanosleep(&ts, NULL);
		return quit_sig();
	}
	if (poll(&p, 1, (int)ms) <= 0)
		return quit_sig();
	n = read(0, k, sizeof(k));
	if (n == 0)
		return 1;  /* the terminal went away */
	for (i = 0; i < n; i++)
		if (k[i] == 'q' || k[i] == 'Q')
			return 1;
	return quit_sig();
}

int top_run(ray_client *cl, int64_t interval_ms, ray_err *err)
{
	int tty = isatty(1), rc = 0;
	struct sigaction sa;
	frame f = { 0 };

	f.line = calloc(1000, sizeof(*f.line));
	if (!f.line)
		return ray_seterr(err, RAY_EUNREACH, "out of memory");
	if (!tty) {
		size_of(&f, 0);
		if (!(rc = build(cl, &f, interval_ms, err)))
			draw(&f, 0);
		free(f.line);
		return rc;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGWINCH, &sa, NULL);
	keys_raw();
	fputs("\033[?1049h\033[?25l\033[H\033[2J", stdout);
	for (;;) {
		size_of(&f, 1);
		if (f.rows > 1000)
			f.rows = 1000;
		if ((rc = build(cl, &f, interval_ms, err)))
			break;
		draw(&f, 1);
		if (quit_sig() || wait_key(interval_ms))
			break;
		stop_sig = 0;
	}
	restore();
	free(f.line);
	return rc;
}
