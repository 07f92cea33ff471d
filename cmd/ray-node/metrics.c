/*
 * metrics.c: the node's /metrics endpoint.  libmicrohttpd answers on its
 * own thread (MHD_USE_AUTO_INTERNAL_THREAD), so a slow or stuck scraper
 * never holds the libuv loop; that thread reads nothing of the node but
 * one text snapshot, swapped under a mutex.  The loop renders the
 * snapshot each second on the cluster tick (metrics_on.render writes the
 * gauges, this file adds the latency histograms) and publishes it.  The
 * histograms and counters are touched on the loop thread only.
 */
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "metrics.h"

#define RENDER_EVERY 5       /* cluster ticks (200 ms): once a second */
#define MAX_SCRAPERS 32
#define SCRAPE_TIMEOUT_S 10

struct metrics_counts metrics_n;
metrics_hooks metrics_on;

/* Upper bounds in milliseconds; the last bucket is +Inf. */
static const int64_t bounds_ms[] = {
	1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000
};
#define NBOUNDS (sizeof(bounds_ms) / sizeof(bounds_ms[0]))

static struct hist {
	const char *name, *help;
	uint64_t bucket[NBOUNDS];   /* observations <= bounds_ms[i] (not cumulative) */
	uint64_t count;
	int64_t sum_ms;
} hists[H_COUNT] = {
	{ "ray_task_run_seconds", "Run time of tasks that ran on this node, start to end.", { 0 }, 0, 0 },
	{ "ray_actor_call_seconds", "Actor method calls on this node, submitted to answered.", { 0 }, 0, 0 },
};

static struct MHD_Daemon *mhd;
static pthread_mutex_t snap_lock = PTHREAD_MUTEX_INITIALIZER;
static char *snap;              /* owned; the last published text */
static size_t snap_len;
static unsigned ticks;
static char start_err[256];     /* what libmicrohttpd said while starting */
static int started;

/* libmicrohttpd's complaints: into the start error, later the node's log. */
static void on_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	if (!started) {
		vsnprintf(start_err, sizeof(start_err), fmt, ap);
		start_err[strcspn(start_err, "\n")] = '\0';
	} else {
		fputs("ray-node: metrics: ", stderr);
		vfprintf(stderr, fmt, ap);
	}
}

void metrics_observe(enum metrics_hist h, int64_t ms)
{
	struct hist *m = &hists[h];
	size_t i;

	if (ms < 0)
		ms = 0;
	for (i = 0; i < NBOUNDS && ms > bounds_ms[i]; i++)
		;
	if (i < NBOUNDS)
		m->bucket[i]++;
	m->count++;
	m->sum_ms += ms;
}

static void render_hists(rbuf *b)
{
	char line[256];
	int h, n;
	size_t i;

	for (h = 0; h < H_COUNT; h++) {
		const struct hist *m = &hists[h];
		uint64_t cum = 0;
		n = snprintf(line, sizeof(line), "# HELP %s %s\n# TYPE %s histogram\n", m->name, m->help, m->name);
		rbuf_append(b, line, (size_t)n);
		for (i = 0; i < NBOUNDS; i++) {
			cum += m->bucket[i];
			n = snprintf(line, sizeof(line), "%s_bucket{le=\"%g\"} %llu\n", m->name,
			             bounds_ms[i] / 1000.0, (unsigned long long)cum);
			rbuf_append(b, line, (size_t)n);
		}
		n = snprintf(line, sizeof(line), "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.3f\n%s_count %llu\n",
		             m->name, (unsigned long long)m->count, m->name, m->sum_ms / 1000.0, m->name,
		             (unsigned long long)m->count);
		rbuf_append(b, line, (size_t)n);
	}
}

static void publish(void)
{
	rbuf b = { 0 };
	char *old;

	if (metrics_on.render)
		metrics_on.render(&b);
	render_hists(&b);
	if (!b.p)
		return;
	pthread_mutex_lock(&snap_lock);
	old = snap;
	snap = b.p;
	snap_len = b.len;
	pthread_mutex_unlock(&snap_lock);
	free(old);
}

void metrics_tick(void)
{
	if (mhd && ++ticks % RENDER_EVERY == 0)
		publish();
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, char *body, size_t len,
                             const char *type)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	enum MHD_Result ret;

	if (!r) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* On libmicrohttpd's thread: a copy of the snapshot, nothing else. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_len, void **state)
{
	char *body;
	size_t len = 0;

	(void)cls;
	(void)version;
	(void)upload;
	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD)) {
		body = strdup("only GET\n");
		return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, body, body ? strlen(body) : 0, "text/plain");
	}
	if (!*state) {          /* the headers: wait for the (empty) body */
		*state = c;
		return MHD_YES;
	}
	if (*upload_len) {
		*upload_len = 0;
		return MHD_YES;
	}
	if (strcmp(url, "/metrics")) {
		body = strdup("not found: try /metrics\n");
		return reply(c, MHD_HTTP_NOT_FOUND, body, body ? strlen(body) : 0, "text/plain");
	}
	pthread_mutex_lock(&snap_lock);
	body = malloc(snap_len + 1);
	if (body) {
		memcpy(body, snap ? snap : "", snap_len);
		len = snap_len;
	}
	pthread_mutex_unlock(&snap_lock);
	if (!body)
		return MHD_NO;
	return reply(c, MHD_HTTP_OK, body, len, "text/plain; version=0.0.4; charset=utf-8");
}

int metrics_start(const char *host, int port, int *bound, ray_err *err)
{
	struct addrinfo hints, *ai = NULL;
	const union MHD_DaemonInfo *info;
	sigset_t all, old;
	char svc[16];
	int rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	snprintf(svc, sizeof(svc), "%d", port);
	if ((rc = getaddrinfo(host, svc, &hints, &ai)) || !ai)
		return ray_seterr(err, RAY_EUSAGE, "metrics: cannot resolve '%s': %s", host, gai_strerror(rc));
	/* The server's thread takes no signal: they stay the loop's. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	mhd = MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG |
	                       (ai->ai_family == AF_INET6 ? MHD_USE_IPv6 : 0),
	                       (uint16_t)port, NULL, NULL, on_request, NULL,
	                       MHD_OPTION_SOCK_ADDR, ai->ai_addr,
	                       MHD_OPTION_CONNECTION_LIMIT, (unsigned)MAX_SCRAPERS,
	                       MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)SCRAPE_TIMEOUT_S,
	                       MHD_OPTION_EXTERNAL_LOGGER, on_log, NULL,
	                       MHD_OPTION_END);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	freeaddrinfo(ai);
	if (!mhd)
		return ray_seterr(err, RAY_EUSAGE, "cannot serve metrics on %s port %d: %s", host, port,
		                  start_err[0] ? start_err : "libmicrohttpd would not start");
	started = 1;
	info = MHD_get_daemon_info(mhd, MHD_DAEMON_INFO_BIND_PORT);
	*bound = info && info->port ? info->port : port;
	publish();
	return 0;
}

void metrics_stop(void)
{
	if (mhd)
		MHD_stop_daemon(mhd);
	mhd = NULL;
	pthread_mutex_lock(&snap_lock);
	free(snap);
	snap = NULL;
	snap_len = 0;
	pthread_mutex_unlock(&snap_lock);
}
