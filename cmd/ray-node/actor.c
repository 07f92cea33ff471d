/*
 * actor.c: actors, long-lived child processes that serve method calls over
 * their stdin and stdout in one of three protocols (docs/actor-protocols.md):
 * line (one call outstanding, answers in order), tagged (call ids, up to
 * --max-concurrency outstanding) and frame (binary, length-prefixed).
 *
 * A call is a task record with `act` set, so it shares the dependency
 * machinery (@REF args wait for their objects) and shows in ray-status.
 * Calls queue per actor in the order they were made; the head of the queue
 * is sent only once its arguments exist, so order is kept.  When the process
 * dies, calls in flight are retried up to --max-task-retries (back at the
 * front of the queue) or fail with exit 5, and the actor restarts up to
 * --max-restarts times, else it is DEAD and every call fails with exit 5.
 * Anything the actor writes that breaks its protocol kills that incarnation.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "node.h"

#define MAX_CONCURRENCY 10000
#define MAX_ARGS 4096
#define STOP_GRACE_MS 2000

enum { A_PENDING, A_ALIVE, A_RESTARTING, A_DEAD };
enum { P_LINE, P_TAGGED, P_FRAME };

typedef struct actor {
	char id[RAY_ID_MAX + 1];
	char *name;               /* owned, may be NULL */
	char *ns;                 /* owned */
	char *key;                /* owned: "ns\x1fname" for the name map */
	char job[RAY_ID_MAX + 1];
	int detached, max_restarts, max_task_retries, max_concurrency, protocol;
	char **argv, **env;       /* owned */
	res req;
	int holding;              /* resources taken */
	char gpu_ids[128];        /* devices given, held for life */
	int state, num_restarts;
	uv_process_t proc;
	uv_pipe_t in, out;        /* the actor's stdin and stdout */
	int nhandles;             /* of proc, in, out still open */
	int exited, pid;
	int exit_code, term_signal;
	int killed;               /* stopped for good */
	int dying;                /* this process is being killed or has exited:
	                           * send it nothing more */
	char *cause;              /* owned: why it died last */
	rbuf rx;
	size_t scanned;           /* bytes at the head of rx known to hold no LF */
	task *qhead, *qtail;      /* calls not yet sent, in order */
	task *fhead, *ftail;      /* calls in flight, in send order */
	int ninflight;
	uint32_t next_call;
	uv_timer_t timer;         /* restart backoff, or stop grace */
	int timer_live;           /* timer open, or closing */
	uv_timer_cb timer_next;   /* to start once the closing timer is closed */
	uint64_t timer_next_ms;
	uv_timer_t eof_timer;     /* stdout closed: give it a moment to exit */
	int eof_live;
	int64_t created_ms;
	struct actor *prev, *next;
} actor;

static map by_id, by_name;
static actor *ahead, *atail;

static const char *state_name(int s)
{
	return s == A_PENDING ? "PENDING_CREATION" : s == A_ALIVE ? "ALIVE"
	       : s == A_RESTARTING ? "RESTARTING" : "DEAD";
}

static const char *proto_name(int p)
{
	return p == P_LINE ? "line" : p == P_TAGGED ? "tagged" : "frame";
}

static void actor_desc(const actor *a, char *buf, size_t len)
{
	if (a->name)
		snprintf(buf, len, "actor '%s' (%s)", a->name, a->id);
	else
		snprintf(buf, len, "actor %s", a->id);
}

static void set_cause(actor *a, const char *fmt, const char *arg)
{
	char buf[512];

	snprintf(buf, sizeof(buf), fmt, arg);
	free(a->cause);
	a->cause = strdup(buf);
}

int actor_owns_id(const char *id)
{
	return map_get(&by_id, id) != NULL;
}

/* ---- calls ---- */

static void call_fail(task *t, int code, const char *why)
{
	char desc[300], msg[1024];

	snprintf(desc, sizeof(desc), "method '%s' of ", t->method);
	actor_desc(t->act, desc + strlen(desc), sizeof(desc) - strlen(desc));
	snprintf(msg, sizeof(msg), "%s %s", desc, why);
	task_finish_error(t, code == RAY_ECANCEL ? T_CANCELLED : T_FAILED, code, msg);
}

/* Splits a result into the n returns a call asked for: at TABs for the text
 * protocols (data holds the answer line with its newline), as u32-prefixed
 * items for frame.  Returns how many there are (maybe not n), or -1 when a
 * frame payload is malformed; parts/lens are filled only when it is n. */
static int split_returns(int protocol, const char *data, size_t len, int n,
                         const char **parts, size_t *lens)
{
	const char *p = data, *end = data + len;
	int k = 0;

	if (protocol != P_FRAME) {
		if (len > 0 && end[-1] == '\n')
			end--;
		for (;;) {
			const char *tab = memchr(p, '\t', (size_t)(end - p));
			const char *stop = tab ? tab : end;
			if (k < n) {
				parts[k] = p;
				lens[k] = (size_t)(stop - p);
			}
			k++;
			if (!tab)
				return k;
			p = tab + 1;
		}
	}
	while (p < end) {
		uint32_t l;
		if (end - p < 4)
			return -1;
		l = (uint32_t)(unsigned char)p[0] << 24 | (uint32_t)(unsigned char)p[1] << 16 |
		    (uint32_t)(unsigned char)p[2] << 8 | (unsigned char)p[3];
		p += 4;
		if ((size_t)(end - p) < l)
			return -1;
		if (k < n) {
			parts[k] = p;
			lens[k] = l;
		}
		k++;
		p += l;
	}
	return k;
}

/* A result that cannot be stored is an error object, never a ref that
 * stays pending for ever. */
static void put_result(obj *o, const char *data, size_t len)
{
	if (o && store_fill(o, data, len))
		store_fail(o, RAY_ERESOURCE, "the actor's result could not be stored: object store full or out of memory");
}

static void call_done(task *t, const char *data, size_t len)
{
	int i;

	if (t->num_returns == 1) {
		put_result(t->rets[0], data, len);
	} else {
		const char **parts = calloc((size_t)t->num_returns, sizeof(*parts));
		size_t *lens = calloc((size_t)t->num_returns, sizeof(*lens));
		int n = parts && lens ? split_returns(t->act->protocol, data, len, t->num_returns, parts, lens) : -2;
		char why[128];

		if (n != t->num_returns) {
			if (n == -2)
				snprintf(why, sizeof(why), "could not be stored: out of memory");
			else if (n < 0)
				snprintf(why, sizeof(why), "failed: its answer is not %d u32-prefixed items", t->num_returns);
			else
				snprintf(why, sizeof(why), "failed: it answered %d values but %d were asked for", n,
				         t->num_returns);
			free(parts);
			free(lens);
			call_fail(t, RAY_EFAILED, why);
			return;
		}
		for (i = 0; i < n; i++) {
			if (t->act->protocol == P_FRAME) {
				put_result(t->rets[i], parts[i], lens[i]);
			} else {
				/* Each text field is a result line: it gets the newline. */
				char *f = malloc(lens[i] + 1);
				if (f) {
					memcpy(f, parts[i], lens[i]);
					f[lens[i]] = '\n';
					put_result(t->rets[i], f, lens[i] + 1);
					free(f);
				} else if (t->rets[i]) {
					store_fail(t->rets[i], RAY_ERESOURCE, "out of memory");
				}
			}
		}
		free(parts);
		free(lens);
	}
	t->state = T_FINISHED;
	t->end_ms = ray_now_ms();
	N->nfinished++;
	task_unpin_deps(t);
}

static void inflight_remove(actor *a, task *t)
{
	task **pp = &a->fhead, *prev = NULL;

	for (; *pp; prev = *pp, pp = &(*pp)->anext)
		if (*pp == t) {
			*pp = t->anext;
			if (a->ftail == t)
				a->ftail = prev;
			t->anext = NULL;
			a->ninflight--;
			return;
		}
}

static task *inflight_find(actor *a, uint32_t id)
{
	task *t;

	for (t = a->fhead; t; t = t->anext)
		if (t->call_id == id)
			return t;
	return NULL;
}

/* ---- writing to the actor ---- */

static void log_line(actor *a, const char *msg);

typedef struct awrite {
	uv_write_t w;
	char *buf;
} awrite;

/* A call that cannot be written (the actor closed its standard input, so
 * EPIPE) would wait for ever: handle it as a crash.  UV_ECANCELED is our
 * own close of the pipe, already a death. */
static void on_written(uv_write_t *w, int status)
{
	awrite *aw = (awrite *)w;
	actor *a = w->handle->data;

	free(aw->buf);
	free(aw);
	if (status < 0 && status != UV_ECANCELED && !a->dying && a->pid > 0 && !a->exited) {
		char msg[160];
		snprintf(msg, sizeof(msg), "closed its standard input (a call could not be written: %s)",
		         uv_strerror(status));
		log_line(a, msg);
		set_cause(a, "%s", msg);
		a->dying = 1;
		kill(-a->pid, SIGKILL);
	}
}

static void put_u32(rbuf *b, uint32_t v)
{
	unsigned char x[4] = { (unsigned char)(v >> 24), (unsigned char)(v >> 16),
	                       (unsigned char)(v >> 8), (unsigned char)v };
	rbuf_append(b, x, 4);
}

static int send_call(actor *a, task *t)
{
	rbuf b = { 0 };
	char num[16];
	awrite *aw;
	uv_buf_t ub;
	int i;

	t->call_id = ++a->next_call;
	if (a->protocol == P_FRAME) {
		size_t lenpos;
		put_u32(&b, 0);
		lenpos = b.len;
		put_u32(&b, t->call_id);
		put_u32(&b, (uint32_t)strlen(t->method));
		rbuf_append(&b, t->method, strlen(t->method));
		for (i = 0; t->argv[i]; i++)
			;
		put_u32(&b, (uint32_t)i);
		for (i = 0; t->argv[i]; i++) {
			char *arg = task_arg_resolve(t->argv[i]);
			put_u32(&b, (uint32_t)strlen(arg ? arg : ""));
			rbuf_append(&b, arg ? arg : "", strlen(arg ? arg : ""));
			free(arg);
		}
		if (b.p) {
			uint32_t total = (uint32_t)(b.len - lenpos);
			b.p[0] = (char)(total >> 24);
			b.p[1] = (char)(total >> 16);
			b.p[2] = (char)(total >> 8);
			b.p[3] = (char)total;
		}
	} else {
		if (a->protocol == P_TAGGED) {
			snprintf(num, sizeof(num), "%u\t", t->call_id);
			rbuf_append(&b, num, strlen(num));
		}
		rbuf_append(&b, t->method, strlen(t->method));
		for (i = 0; t->argv[i]; i++) {
			char *arg = task_arg_resolve(t->argv[i]);
			rbuf_append(&b, "\t", 1);
			rbuf_append(&b, arg ? arg : "", strlen(arg ? arg : ""));
			free(arg);
		}
		rbuf_append(&b, "\n", 1);
	}
	aw = malloc(sizeof(*aw));
	if (!b.p || !aw) {
		free(aw);
		rbuf_release(&b);
		return -1;
	}
	aw->buf = b.p;
	ub = uv_buf_init(b.p, (unsigned)b.len);
	if (uv_write(&aw->w, (uv_stream_t *)&a->in, &ub, 1, on_written)) {
		free(aw->buf);
		free(aw);
		return -1;
	}
	return 0;
}

static void pump(actor *a)
{
	int window = a->protocol == P_LINE ? 1 : a->max_concurrency;

	while (a->qhead && a->state == A_ALIVE && !a->dying && a->ninflight < window) {
		task *t = a->qhead;
		if (t->state >= T_FINISHED) {
			a->qhead = t->qnext;
			if (!a->qhead)
				a->qtail = NULL;
			continue;
		}
		if (t->deps_missing > 0)
			break;   /* later calls wait: calls run in the order made */
		a->qhead = t->qnext;
		if (!a->qhead)
			a->qtail = NULL;
		t->qnext = NULL;
		if (send_call(a, t)) {
			call_fail(t, RAY_EACTOR, "could not be sent to the actor");
			continue;
		}
		t->anext = NULL;
		if (a->ftail)
			a->ftail->anext = t;
		else
			a->fhead = t;
		a->ftail = t;
		a->ninflight++;
		t->state = T_RUNNING;
		t->start_ms = ray_now_ms();
		t->pid = a->pid;
	}
}

void actor_call_ready(task *t)
{
	pump(t->act);
}

/* ray-cancel on a call.  One not yet sent is dropped.  One in flight cannot
 * be taken back from the actor: its refs fail at once and its answer, when
 * it comes, is dropped.  The actor is never signalled, not even for
 * --force, since its other calls in flight would be lost with it. */
int actor_call_cancel(task *t, const char *msg)
{
	if (t->state >= T_FINISHED)
		return 0;
	task_finish_error(t, T_CANCELLED, RAY_ECANCEL, msg);
	pump(t->act);
	return 1;
}

static void actor_spawn(actor *a);
static void after_death(actor *a);

/* ---- reading answers ---- */

static void log_line(actor *a, const char *msg)
{
	char path[PATH_MAX + 64];
	int fd;

	snprintf(path, sizeof(path), "%s/%s.err", N->logdir, a->id);
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd >= 0) {
		dprintf(fd, "ray-node: %s\n", msg);
		close(fd);
	}
}

static void protocol_error(actor *a, const char *why)
{
	char msg[512];

	snprintf(msg, sizeof(msg), "broke the %s protocol: %s", proto_name(a->protocol), why);
	log_line(a, msg);
	set_cause(a, "%s", msg);
	uv_read_stop((uv_stream_t *)&a->out);
	a->dying = 1;
	if (a->pid > 0 && !a->exited)
		kill(-a->pid, SIGKILL);
}

static void answer(actor *a, task *t, int failed, const char *p, size_t len)
{
	char why[1100];

	inflight_remove(a, t);
	if (t->state >= T_FINISHED)
		return;
	if (failed) {
		snprintf(why, sizeof(why), "failed: %.*s", (int)(len > 1000 ? 1000 : len), p);
		call_fail(t, RAY_EFAILED, why);
		return;
	}
	call_done(t, p, len);
}

/* Parses every complete answer in a->rx; returns -1 after a protocol error. */
static int parse_answers(actor *a)
{
	size_t off = 0;
	int rc = 0;

	while (off < a->rx.len) {
		char *p = a->rx.p + off;
		size_t avail = a->rx.len - off;

		if (a->protocol == P_FRAME) {
			uint32_t len, id;
			task *t;
			unsigned char *u = (unsigned char *)p;
			if (avail < 4)
				break;
			len = (uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 | (uint32_t)u[2] << 8 | u[3];
			if (len < 5 || len > RAY_DATA_MAX) {
				protocol_error(a, "answer length out of range");
				rc = -1;
				break;
			}
			if (avail < 4 + (size_t)len)
				break;
			id = (uint32_t)u[4] << 24 | (uint32_t)u[5] << 16 | (uint32_t)u[6] << 8 | u[7];
			t = inflight_find(a, id);
			if (!t || u[8] > 1) {
				protocol_error(a, !t ? "answer to an unknown call id" : "bad status byte");
				rc = -1;
				break;
			}
			answer(a, t, u[8] == 1, p + 9, len - 5);
			off += 4 + (size_t)len;
			continue;
		}
		{
			/* A long line arrives in many reads: scan each byte once. */
			size_t skip = off == 0 && a->scanned < avail ? a->scanned : 0;
			char *nl = memchr(p + skip, '\n', avail - skip);
			size_t ll;
			task *t;
			if (!nl) {
				a->scanned = avail;
				if (avail > RAY_DATA_MAX) {
					protocol_error(a, "answer line too long");
					rc = -1;
				}
				break;
			}
			a->scanned = 0;
			ll = (size_t)(nl - p);
			if (a->protocol == P_LINE) {
				t = a->fhead;
				if (!t) {
					protocol_error(a, "an answer nobody asked for");
					rc = -1;
					break;
				}
			} else {
				char *tab = memchr(p, '\t', ll);
				char *end;
				unsigned long id;
				if (!tab || tab == p) {
					protocol_error(a, "answer without a call id");
					rc = -1;
					break;
				}
				id = strtoul(p, &end, 10);
				t = end == tab ? inflight_find(a, (uint32_t)id) : NULL;
				if (!t) {
					protocol_error(a, "answer to an unknown call id");
					rc = -1;
					break;
				}
				ll -= (size_t)(tab + 1 - p);
				p = tab + 1;
			}
			if (ll > 0 && p[0] == '!')
				answer(a, t, 1, p + 1, ll - 1);
			else
				answer(a, t, 0, p, ll + 1);  /* the result keeps its newline */
			off = (size_t)(nl + 1 - a->rx.p);
		}
	}
	rbuf_consume(&a->rx, off);
	return rc;
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	actor *a = h->data;

	(void)hint;
	if (rbuf_reserve(&a->rx, 65536)) {
		*b = uv_buf_init(NULL, 0);
		return;
	}
	*b = uv_buf_init(a->rx.p + a->rx.len, (unsigned)(a->rx.cap - a->rx.len));
}

static void eof_closed(uv_handle_t *h)
{
	actor *a = h->data;

	a->eof_live = 0;
	if (--a->nhandles == 0)
		after_death(a);
}

static void on_eof_timer(uv_timer_t *tm)
{
	actor *a = tm->data;

	if (a->pid > 0 && !a->exited) {
		if (!a->cause)
			set_cause(a, "%s", "closed its standard output");
		kill(-a->pid, SIGKILL);
	}
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	actor *a = s->data;

	(void)b;
	if (n < 0) {
		/* Closed stdout: a crash.  Usually the exit follows at once and
		 * says why; if the process lingers, kill it. */
		uv_read_stop(s);
		a->dying = 1;
		if (a->pid > 0 && !a->exited && !a->eof_live) {
			uv_timer_init(N->loop, &a->eof_timer);
			a->eof_timer.data = a;
			a->eof_live = 1;
			a->nhandles++;
			uv_timer_start(&a->eof_timer, on_eof_timer, 200, 0);
		}
		return;
	}
	a->rx.len += (size_t)n;
	if (parse_answers(a) == 0)
		pump(a);
}

/* ---- life and death ---- */


static void on_handle_closed(uv_handle_t *h)
{
	actor *a = h->data;

	if (h == (uv_handle_t *)&a->proc)
		N->nprocs--;
	if (--a->nhandles == 0)
		after_death(a);
}

static void close_handles(actor *a)
{
	if (a->eof_live && !uv_is_closing((uv_handle_t *)&a->eof_timer)) {
		uv_timer_stop(&a->eof_timer);
		uv_close((uv_handle_t *)&a->eof_timer, eof_closed);
	}
	if (!uv_is_closing((uv_handle_t *)&a->in))
		uv_close((uv_handle_t *)&a->in, on_handle_closed);
	if (!uv_is_closing((uv_handle_t *)&a->out))
		uv_close((uv_handle_t *)&a->out, on_handle_closed);
	if (!uv_is_closing((uv_handle_t *)&a->proc))
		uv_close((uv_handle_t *)&a->proc, on_handle_closed);
}

/* The process has exited: whatever it wrote before is already in the pipe,
 * though maybe not yet read.  Read it now, before the pipe is closed, so
 * that an actor that answers and then exits does not lose the answer. */
static void drain(actor *a)
{
	uv_os_fd_t fd;

	if (!uv_is_active((uv_handle_t *)&a->out) || uv_fileno((uv_handle_t *)&a->out, &fd) ||
	    !(fcntl(fd, F_GETFL) & O_NONBLOCK))
		return;
	for (;;) {
		ssize_t n;
		if (rbuf_reserve(&a->rx, 65536))
			return;
		n = read(fd, a->rx.p + a->rx.len, a->rx.cap - a->rx.len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		a->rx.len += (size_t)n;
		if (parse_answers(a))
			return;
	}
}

static void on_exit_cb(uv_process_t *p, int64_t status, int sig)
{
	actor *a = p->data;
	char buf[128];

	drain(a);
	a->exited = 1;
	a->dying = 1;
	a->exit_code = (int)status;
	a->term_signal = sig;
	if (!a->cause) {
		if (sig)
			snprintf(buf, sizeof(buf), "was killed by signal %d (%s)", sig, strsignal(sig));
		else
			snprintf(buf, sizeof(buf), "exited with code %d", (int)status);
		set_cause(a, "%s", buf);
	}
	a->pid = 0;
	close_handles(a);
}

static void start_timer(actor *a, uv_timer_cb cb, uint64_t ms);

static void timer_closed(uv_handle_t *h)
{
	actor *a = h->data;

	a->timer_live = 0;
	if (a->timer_next) {
		uv_timer_cb cb = a->timer_next;
		a->timer_next = NULL;
		start_timer(a, cb, a->timer_next_ms);
		return;
	}
	if (a->state == A_DEAD && !a->nhandles && !a->timer_live && N->stopping && N->nprocs == 0)
		node_shutdown();
}

/* A handle may not be initialized again while it is closing: a timer asked
 * for then starts from timer_closed. */
static void start_timer(actor *a, uv_timer_cb cb, uint64_t ms)
{
	if (a->timer_live && uv_is_closing((uv_handle_t *)&a->timer)) {
		a->timer_next = cb;
		a->timer_next_ms = ms;
		return;
	}
	if (!a->timer_live) {
		uv_timer_init(N->loop, &a->timer);
		a->timer.data = a;
		a->timer_live = 1;
	}
	uv_timer_start(&a->timer, cb, ms, 0);
}

static void stop_timer(actor *a)
{
	a->timer_next = NULL;
	if (a->timer_live && !uv_is_closing((uv_handle_t *)&a->timer)) {
		uv_timer_stop(&a->timer);
		uv_close((uv_handle_t *)&a->timer, timer_closed);
	}
}

static void on_restart_timer(uv_timer_t *tm)
{
	actor *a = tm->data;

	stop_timer(a);
	if (a->state == A_RESTARTING && !N->stopping)
		actor_spawn(a);
}

static void release(actor *a)
{
	if (a->holding) {
		res_add(&N->avail, &a->req);
		gpu_give(&a->req, a->gpu_ids);
		a->holding = 0;
	}
}

static void go_dead(actor *a)
{
	char why[700];
	task *t;

	a->state = A_DEAD;
	stop_timer(a);
	release(a);
	snprintf(why, sizeof(why), "cannot run: the actor is dead (it %s)", a->cause ? a->cause : "died");
	while ((t = a->qhead)) {
		a->qhead = t->qnext;
		t->qnext = NULL;
		if (t->state < T_FINISHED)
			call_fail(t, RAY_EACTOR, why);
	}
	a->qtail = NULL;
	if (!N->stopping)
		sched_run();
}

static void after_death(actor *a)
{
	task *t, *retry = NULL, *rlast = NULL, **rtail = &retry;
	char why[700];
	int delay;

	rbuf_release(&a->rx);
	a->scanned = 0;
	a->exited = 0;
	snprintf(why, sizeof(why), "was running when the actor died (it %s)", a->cause ? a->cause : "died");
	while ((t = a->fhead)) {
		a->fhead = t->anext;
		t->anext = NULL;
		if (t->state >= T_FINISHED)
			continue;
		if (!a->killed && t->attempt < a->max_task_retries) {
			t->attempt++;
			t->state = T_SUBMITTED;
			*rtail = t;
			rtail = &t->qnext;
			rlast = t;
		} else {
			call_fail(t, RAY_EACTOR, why);
		}
	}
	a->ftail = NULL;
	a->ninflight = 0;
	if (retry) {
		/* Retried calls go first, in their original order. */
		*rtail = a->qhead;
		if (!a->qhead)
			a->qtail = rlast;
		a->qhead = retry;
	}
	if (N->stopping || a->killed || a->num_restarts >= a->max_restarts) {
		go_dead(a);
		if (N->stopping && N->nprocs == 0)
			node_shutdown();
		return;
	}
	a->num_restarts++;
	a->state = A_RESTARTING;
	node_log("restarting actor %s (%d of %d): it %s", a->id, a->num_restarts, a->max_restarts,
	         a->cause ? a->cause : "died");
	free(a->cause);
	a->cause = NULL;
	delay = a->num_restarts > 5 ? 1000 : 50 * a->num_restarts;
	start_timer(a, on_restart_timer, (uint64_t)delay);
}

static void actor_spawn(actor *a)
{
	uv_process_options_t po;
	uv_stdio_container_t io[3];
	char path[PATH_MAX + 64], msg[600];
	char **env;
	int logfd, rc;

	if (!a->gpu_ids[0])
		gpu_take(&a->req, a->gpu_ids, sizeof(a->gpu_ids));
	env = env_build(a->id, a->job, a->num_restarts, &a->req, a->gpu_ids, a->env, 0, NULL);
	snprintf(path, sizeof(path), "%s/%s.err", N->logdir, a->id);
	logfd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	uv_pipe_init(N->loop, &a->in, 0);
	uv_pipe_init(N->loop, &a->out, 0);
	a->in.data = a->out.data = a->proc.data = a;
	memset(&po, 0, sizeof(po));
	po.exit_cb = on_exit_cb;
	po.file = a->argv[0];
	po.args = a->argv;
	po.env = env;
	po.flags = UV_PROCESS_DETACHED;
	po.stdio_count = 3;
	io[0].flags = UV_CREATE_PIPE | UV_READABLE_PIPE;
	io[0].data.stream = (uv_stream_t *)&a->in;
	io[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
	io[1].data.stream = (uv_stream_t *)&a->out;
	io[2].flags = UV_INHERIT_FD;
	io[2].data.fd = logfd;
	po.stdio = io;
	rc = logfd < 0 || !env ? UV_ENOMEM : uv_spawn(N->loop, &a->proc, &po);
	if (logfd >= 0)
		close(logfd);
	strv_free(env);
	if (rc) {
		snprintf(msg, sizeof(msg), "could not start '%s': %s", a->argv[0], uv_strerror(rc));
		set_cause(a, "%s", msg);
		log_line(a, msg);
		a->killed = 1;   /* it would fail the same way again */
		a->nhandles = 2;
		uv_close((uv_handle_t *)&a->in, on_handle_closed);
		uv_close((uv_handle_t *)&a->out, on_handle_closed);
		return;
	}
	N->nprocs++;
	a->nhandles = 3;
	a->pid = a->proc.pid;
	a->dying = 0;
	a->state = A_ALIVE;
	uv_read_start((uv_stream_t *)&a->out, on_alloc, on_read);
	pump(a);
}

void actor_sched(void)
{
	actor *a;

	for (a = ahead; a; a = a->next)
		if (a->state == A_PENDING && !a->holding && !N->stopping && res_fits(&a->req, &N->avail)) {
			res_sub(&N->avail, &a->req);
			a->holding = 1;
			actor_spawn(a);
		}
}

static void on_grace_timer(uv_timer_t *tm)
{
	actor *a = tm->data;

	stop_timer(a);
	if (a->pid > 0 && !a->exited)
		kill(-a->pid, SIGKILL);
}

/* Stops an actor for good: at once, or politely (EOF on stdin, SIGTERM,
 * then SIGKILL after a grace period). */
static void actor_stop(actor *a, const char *cause, int graceful)
{
	if (a->state == A_DEAD)
		return;
	a->killed = 1;
	a->dying = 1;
	set_cause(a, "%s", cause);
	if (a->state == A_PENDING || (a->state == A_RESTARTING && !a->nhandles)) {
		go_dead(a);
		return;
	}
	if (a->pid <= 0 || a->exited)
		return;
	if (!graceful) {
		kill(-a->pid, SIGKILL);
		return;
	}
	if (!uv_is_closing((uv_handle_t *)&a->in))
		uv_close((uv_handle_t *)&a->in, on_handle_closed);
	kill(-a->pid, SIGTERM);
	start_timer(a, on_grace_timer, STOP_GRACE_MS);
}

void actor_job_ended(const char *job_id)
{
	actor *a;

	for (a = ahead; a; a = a->next)
		if (!a->detached && !strcmp(a->job, job_id))
			actor_stop(a, "was stopped because its job ended", 1);
}

void actors_stop_all(void)
{
	actor *a;

	for (a = ahead; a; a = a->next) {
		a->killed = 1;
		stop_timer(a);
		if (a->pid > 0 && !a->exited)
			kill(-a->pid, SIGKILL);
	}
}

void actors_free_all(void)
{
	while (ahead) {
		actor *a = ahead;
		ahead = a->next;
		strv_free(a->argv);
		strv_free(a->env);
		free(a->name);
		free(a->ns);
		free(a->key);
		free(a->cause);
		rbuf_release(&a->rx);
		free(a);
	}
	atail = NULL;
	map_release(&by_id);
	map_release(&by_name);
}

/* ---- requests ---- */

static char *name_key(const char *ns, const char *name)
{
	size_t n = strlen(ns) + strlen(name) + 2;
	char *k = malloc(n);

	if (k)
		snprintf(k, n, "%s\x1f%s", ns, name);
	return k;
}

static const char *default_ns(const cJSON *req, char *buf, size_t len)
{
	const char *ns = rj_str(req, "namespace"), *job = rj_str(req, "job_id");

	if (ns && *ns)
		return ns;
	if (job && *job && strcmp(job, "00000000")) {
		snprintf(buf, len, "job-%s", job);
		return buf;
	}
	return "default";
}

static actor *resolve(const cJSON *req, const char *key, conn *c, uint32_t id)
{
	const char *ref = rj_str(req, key);
	char nsbuf[96], *k;
	actor *a;

	if (!ref || !*ref) {
		conn_reply_err(c, id, RAY_EUSAGE, "no actor given");
		return NULL;
	}
	a = map_get(&by_id, ref);
	if (a)
		return a;
	k = name_key(default_ns(req, nsbuf, sizeof(nsbuf)), ref);
	a = k ? map_get(&by_name, k) : NULL;
	free(k);
	if (!a)
		conn_reply_err(c, id, RAY_ENOTFOUND, "unknown actor '%.80s' in namespace '%s'", ref,
		               default_ns(req, nsbuf, sizeof(nsbuf)));
	return a;
}

static int parse_protocol(const char *s)
{
	if (!s || !strcmp(s, "line"))
		return P_LINE;
	if (!strcmp(s, "tagged"))
		return P_TAGGED;
	if (!strcmp(s, "frame"))
		return P_FRAME;
	return -1;
}

static void op_create(conn *c, uint32_t id, cJSON *req)
{
	const cJSON *opts = cJSON_GetObjectItemCaseSensitive(req, "opts");
	const char *name = rj_str(req, "name"), *job = rj_str(opts, "job_id");
	char nsbuf[96], rnd[17], *key = NULL;
	const char *ns;
	ray_err err = { 0, "" };
	actor *a, *old = NULL;
	cJSON *r;
	char **argv;
	int proto = parse_protocol(rj_str(req, "protocol"));
	res rq;

	if (proto < 0) {
		conn_reply_err(c, id, RAY_EUSAGE, "bad --protocol: want line, tagged or frame");
		return;
	}
	if (res_parse_request(opts, &rq, &err)) {
		conn_reply_err(c, id, err.code, "%s", err.msg);
		return;
	}
	if (rj_str(opts, "pg")) {
		conn_reply_err(c, id, RAY_ENOTFOUND, "unknown placement group '%.80s'", rj_str(opts, "pg"));
		return;
	}
	argv = json_strv(cJSON_GetObjectItemCaseSensitive(req, "argv"), 0, &err);
	if (!argv || !argv[0]) {
		strv_free(argv);
		conn_reply_err(c, id, RAY_EUSAGE, "%s", argv ? "empty command" : err.msg);
		return;
	}
	if (!job)
		job = rj_str(req, "job_id");
	{
		cJSON *tmp = cJSON_CreateObject();
		if (rj_str(req, "namespace"))
			cJSON_AddStringToObject(tmp, "namespace", rj_str(req, "namespace"));
		if (job)
			cJSON_AddStringToObject(tmp, "job_id", job);
		ns = default_ns(tmp, nsbuf, sizeof(nsbuf));
		ns = strdup(ns);
		cJSON_Delete(tmp);
	}
	if (name) {
		if (!*name || strlen(name) > 256) {
			conn_reply_err(c, id, RAY_EUSAGE, "bad actor name");
			goto fail;
		}
		key = name_key(ns, name);
		old = key ? map_get(&by_name, key) : NULL;
		if (old && old->state != A_DEAD) {
			if (rj_bool(req, "get_if_exists")) {
				r = cJSON_CreateObject();
				cJSON_AddStringToObject(r, "actor_id", old->id);
				cJSON_AddBoolToObject(r, "existed", 1);
				conn_reply(c, id, r, NULL, 0);
			} else {
				conn_reply_err(c, id, RAY_EUSAGE,
				               "actor name '%s' is taken in namespace '%s' (use --get-if-exists)", name, ns);
			}
			goto fail;
		}
	}
	a = calloc(1, sizeof(*a));
	if (!a) {
		conn_reply_err(c, id, RAY_ERESOURCE, "out of memory");
		goto fail;
	}
	ray_random_hex(rnd, 8);
	snprintf(a->id, sizeof(a->id), "%s%s", N->id, rnd);
	snprintf(a->job, sizeof(a->job), "%s", job && strlen(job) <= RAY_ID_MAX ? job : "00000000");
	a->name = name ? strdup(name) : NULL;
	a->ns = (char *)ns;
	a->key = key;
	a->argv = argv;
	a->env = json_strv(cJSON_GetObjectItemCaseSensitive(opts, "env"), 1, NULL);
	a->req = rq;
	a->protocol = proto;
	a->detached = rj_bool(req, "detached");
	a->max_restarts = (int)rj_int(req, "max_restarts", 0);
	a->max_task_retries = (int)rj_int(req, "max_task_retries", 0);
	a->max_concurrency = (int)rj_int(req, "max_concurrency", 1);
	if (a->max_restarts < 0)
		a->max_restarts = 1 << 30;   /* -1: forever */
	if (a->max_task_retries < 0)
		a->max_task_retries = 1 << 30;
	if (a->max_concurrency < 1 || a->max_concurrency > MAX_CONCURRENCY)
		a->max_concurrency = 1;
	a->created_ms = ray_now_ms();
	a->state = A_PENDING;
	map_put(&by_id, a->id, a);
	if (key)
		map_put(&by_name, a->key, a);
	a->prev = atail;
	if (atail)
		atail->next = a;
	else
		ahead = a;
	atail = a;
	r = cJSON_CreateObject();
	cJSON_AddStringToObject(r, "actor_id", a->id);
	if (!res_fits(&a->req, &N->total))
		cJSON_AddStringToObject(r, "warning",
		                        "infeasible: no node has the resources this actor asks for; it stays pending until one joins");
	actor_sched();
	if ((a->state == A_DEAD || a->killed) && a->cause) {
		cJSON_Delete(r);
		conn_reply_err(c, id, RAY_EFAILED, "actor %s %s", a->id, a->cause);
		return;
	}
	conn_reply(c, id, r, NULL, 0);
	return;
fail:
	free(key);
	free((char *)ns);
	strv_free(argv);
}

static task *new_call(actor *a, const char *method, char **args, int nret, cJSON *refs)
{
	task *t = calloc(1, sizeof(*t));
	char rnd[17], ref[RAY_REF_MAX + 1], name[600];
	int i;

	if (!t)
		return NULL;
	ray_random_hex(rnd, 8);
	snprintf(t->id, sizeof(t->id), "%s%s", N->id, rnd);
	snprintf(t->job, sizeof(t->job), "%s", a->job);
	snprintf(name, sizeof(name), "%s.%s", a->name ? a->name : a->id, method);
	t->name = strdup(name);
	t->method = strdup(method);
	t->argv = args;
	t->act = a;
	t->num_returns = nret;
	t->rets = calloc((size_t)nret, sizeof(obj *));
	if (!t->rets || !t->method || !t->name) {
		free(t->rets);
		free(t->method);
		free(t->name);
		free(t);
		return NULL;
	}
	task_register(t);
	for (i = 0; i < nret; i++) {
		snprintf(ref, sizeof(ref), "%s%08x", t->id, (unsigned)(i + 1));
		t->rets[i] = store_new(ref);
		if (t->rets[i])
			t->rets[i]->producer = t;
		cJSON_AddItemToArray(refs, cJSON_CreateString(ref));
	}
	for (i = 0; args[i]; i++)
		if (args[i][0] == '@' && args[i][1] != '@')
			task_add_dep(t, store_find(args[i] + 1));
	t->state = t->deps_missing ? T_PENDING_ARGS : T_SUBMITTED;
	t->qnext = NULL;
	if (a->state == A_DEAD) {
		char why[700];
		snprintf(why, sizeof(why), "cannot run: the actor is dead (it %s)", a->cause ? a->cause : "died");
		call_fail(t, RAY_EACTOR, why);
		return t;
	}
	if (a->qtail)
		a->qtail->qnext = t;
	else
		a->qhead = t;
	a->qtail = t;
	return t;
}

static int check_call(const actor *a, const cJSON *call, ray_err *err)
{
	const char *m = rj_str(call, "method");
	const cJSON *args = cJSON_GetObjectItemCaseSensitive(call, "args"), *it;
	int64_t nret = rj_int(call, "num_returns", 1);
	int rc;

	if (!m || !*m)
		return ray_seterr(err, RAY_EUSAGE, "no method given");
	if (nret < 1 || nret > 1024)
		return ray_seterr(err, RAY_EUSAGE, "--num-returns must be 1..1024");
	if (args && (!cJSON_IsArray(args) || cJSON_GetArraySize(args) > MAX_ARGS))
		return ray_seterr(err, RAY_EUSAGE, "bad arguments");
	if (a->protocol != P_FRAME && strpbrk(m, "\t\n"))
		return ray_seterr(err, RAY_EUSAGE, "method name holds a TAB or newline: use --protocol frame");
	cJSON_ArrayForEach(it, args) {
		if (!cJSON_IsString(it))
			return ray_seterr(err, RAY_EUSAGE, "arguments must be strings");
		if (a->protocol != P_FRAME && strpbrk(it->valuestring, "\t\n"))
			return ray_seterr(err, RAY_EUSAGE,
			                  "argument holds a TAB or newline, which the %s protocol cannot carry: pass it as an @REF or use --protocol frame",
			                  proto_name(a->protocol));
		if ((rc = task_arg_check(it->valuestring, err)))
			return rc;
	}
	return 0;
}

static void op_call(conn *c, uint32_t id, cJSON *req)
{
	const cJSON *calls = cJSON_GetObjectItemCaseSensitive(req, "calls"), *call;
	actor *a = resolve(req, "actor", c, id);
	ray_err err = { 0, "" };
	cJSON *r, *refs;

	if (!a)
		return;
	if (!cJSON_IsArray(calls) || cJSON_GetArraySize(calls) < 1) {
		conn_reply_err(c, id, RAY_EUSAGE, "no calls given");
		return;
	}
	cJSON_ArrayForEach(call, calls)
		if (check_call(a, call, &err)) {
			conn_reply_err(c, id, err.code, "%s", err.msg);
			return;
		}
	r = cJSON_CreateObject();
	refs = cJSON_AddArrayToObject(r, "refs");
	cJSON_ArrayForEach(call, calls) {
		char **args = json_strv(cJSON_GetObjectItemCaseSensitive(call, "args"), 0, NULL);
		if (!args || !new_call(a, rj_str(call, "method"), args, (int)rj_int(call, "num_returns", 1), refs)) {
			strv_free(args);
			cJSON_Delete(r);
			conn_reply_err(c, id, RAY_ERESOURCE, "out of memory");
			return;
		}
	}
	conn_reply(c, id, r, NULL, 0);
	pump(a);
}

static cJSON *actor_json(const actor *a)
{
	cJSON *j = cJSON_CreateObject();

	cJSON_AddStringToObject(j, "actor_id", a->id);
	if (a->name)
		cJSON_AddStringToObject(j, "name", a->name);
	else
		cJSON_AddNullToObject(j, "name");
	cJSON_AddStringToObject(j, "namespace", a->ns);
	cJSON_AddStringToObject(j, "state", state_name(a->state));
	cJSON_AddStringToObject(j, "node_id", N->id);
	if (a->pid > 0)
		cJSON_AddNumberToObject(j, "pid", a->pid);
	else
		cJSON_AddNullToObject(j, "pid");
	cJSON_AddNumberToObject(j, "num_restarts", a->num_restarts);
	cJSON_AddNumberToObject(j, "max_restarts", a->max_restarts);
	cJSON_AddStringToObject(j, "protocol", proto_name(a->protocol));
	cJSON_AddStringToObject(j, "job_id", a->job);
	cJSON_AddBoolToObject(j, "detached", a->detached);
	if (a->state == A_DEAD && a->cause)
		cJSON_AddStringToObject(j, "death_cause", a->cause);
	return j;
}

cJSON *actors_json(const char *state, int64_t limit)
{
	cJSON *arr = cJSON_CreateArray();
	const actor *a;
	int64_t n = 0, skip;

	for (a = ahead; a; a = a->next)
		if (!state || !strcmp(state, state_name(a->state)))
			n++;
	skip = limit >= 0 && n > limit ? n - limit : 0;
	for (a = ahead; a; a = a->next)
		if (!state || !strcmp(state, state_name(a->state))) {
			if (skip > 0) {
				skip--;
				continue;
			}
			cJSON_AddItemToArray(arr, actor_json(a));
		}
	return arr;
}

void op_actor(conn *c, uint32_t id, cJSON *req)
{
	const char *op = rj_str(req, "op");
	actor *a;
	cJSON *r;

	/* The head hosts the actors and their names for the whole cluster. */
	if (proxy_to_head(c, id, req, NULL))
		return;

	if (!strcmp(op, "actor_create")) {
		op_create(c, id, req);
	} else if (!strcmp(op, "actor_call")) {
		op_call(c, id, req);
	} else if (!strcmp(op, "actor_kill")) {
		if (!(a = resolve(req, "actor", c, id)))
			return;
		if (rj_bool(req, "restart")) {
			if (a->state == A_ALIVE && a->pid > 0) {
				set_cause(a, "%s", "was restarted by ray-actor kill --restart");
				a->dying = 1;
				kill(-a->pid, SIGKILL);
			}
		} else {
			actor_stop(a, "was killed by ray-actor kill", 0);
		}
		conn_reply(c, id, cJSON_CreateObject(), NULL, 0);
	} else if (!strcmp(op, "actor_get")) {
		if (!(a = resolve(req, "name", c, id)))
			return;
		r = cJSON_CreateObject();
		cJSON_AddStringToObject(r, "actor_id", a->id);
		cJSON_AddStringToObject(r, "state", state_name(a->state));
		conn_reply(c, id, r, NULL, 0);
	} else if (!strcmp(op, "actor_list")) {
		r = cJSON_CreateObject();
		cJSON_AddItemToObject(r, "items", actors_json(rj_str(req, "state"), rj_int(req, "limit", -1)));
		conn_reply(c, id, r, NULL, 0);
	} else {
		conn_reply_err(c, id, RAY_EUSAGE, "unknown request '%.64s'", op);
	}
}
