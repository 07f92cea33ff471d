/* progress.c: what a long ray-get, ray-wait, ray-submit --batch,
 * ray-pg create or ray-put of a big input is doing, as one line on stderr redrawn in place ("ray-get: 37/100
 * ready"), only when stderr is a terminal, so scripts and logs see
 * nothing new.  A wait for many refs becomes a series of short waits for
 * those not yet ready (each at most SLICE_MS), so the count can move
 * while the cluster works; the refs already ready are not asked again. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "progress.h"
#include "rayint.h"

#define SLICE_MS 250
/* A file smaller than this is stored before a count would be read. */
#define PUT_MIN_FILE (64u << 20)

static int drawn;

int progress_enabled(void)
{
	return isatty(2);
}

void progress_show(const char *prog, size_t done, size_t total, const char *what)
{
	fprintf(stderr, "\r%s: %zu/%zu %s\033[K", prog, done, total, what);
	fflush(stderr);
	drawn = 1;
}

void progress_say(const char *prog, const char *text)
{
	fprintf(stderr, "\r%s: %s\033[K", prog, text);
	fflush(stderr);
	drawn = 1;
}

void progress_clear(void)
{
	if (drawn) {
		fputs("\r\033[K", stderr);
		fflush(stderr);
	}
	drawn = 0;
}

int progress_wait(ray_client *cl, const char *prog, size_t n, const char *const *refs, size_t k,
                  int64_t timeout_ms, unsigned char *ready, ray_err *err)
{
	const char **left = malloc((n ? n : 1) * sizeof(*left));
	size_t *at = malloc((n ? n : 1) * sizeof(*at));
	unsigned char *got = malloc(n ? n : 1);
	int64_t deadline = timeout_ms < 0 ? -1 : ray_now_ms() + timeout_ms;
	size_t done = 0, nleft, i, j;
	int rc = 0;

	if (!left || !at || !got) {
		free(left);
		free(at);
		free(got);
		return ray_seterr(err, RAY_EUNREACH, "out of memory");
	}
	for (i = 0; i < n; i++)
		ready[i] = 0;
	progress_show(prog, 0, k, "ready");
	while (done < k) {
		int64_t slice = SLICE_MS;
		if (deadline >= 0) {
			int64_t now = ray_now_ms();
			if (now >= deadline) {
				rc = ray_seterr(err, RAY_ETIMEOUT, "timed out with %zu of %zu ready", done, k);
				break;
			}
			if (deadline - now < slice)
				slice = deadline - now;
		}
		for (i = 0, nleft = 0; i < n; i++)
			if (!ready[i]) {
				at[nleft] = i;
				left[nleft++] = refs[i];
			}
		memset(got, 0, nleft);
		rc = ray_wait(cl, nleft, left, k - done, slice, got, err);
		if (rc < 0 && rc != RAY_ETIMEOUT)
			break;
		for (j = 0; j < nleft; j++)
			if (got[j]) {
				ready[at[j]] = 1;
				done++;
			}
		rc = (int)done;
		progress_show(prog, done, k, "ready");
	}
	progress_clear();
	free(left);
	free(at);
	free(got);
	return rc;
}

/* ---- ray-put: bytes taken from the input ---- */

struct progress_put {
	const char *prog;
	int in, relay[2];         /* relay: the pipe a thread fills (-1 for a file) */
	uint64_t total;           /* a file's size, 0 when unknown */
	volatile uint64_t done;   /* bytes taken so far (the relay's count) */
	volatile int stop;
	int64_t t0;
	pthread_t th;
};

static void put_draw(progress_put *p, uint64_t done)
{
	char a[32], b[32], r[32], line[160];
	int64_t ms = ray_now_ms() - p->t0;
	uint64_t rate = ms > 0 ? done * 1000 / (uint64_t)ms : 0;

	if (p->total)
		snprintf(line, sizeof(line), "%s of %s (%d%%), %s/s", ray_fmt_size(done, a, sizeof(a)),
		         ray_fmt_size(p->total, b, sizeof(b)), (int)(done * 100 / p->total),
		         ray_fmt_size(rate, r, sizeof(r)));
	else
		snprintf(line, sizeof(line), "%s, %s/s", ray_fmt_size(done, a, sizeof(a)),
		         ray_fmt_size(rate, r, sizeof(r)));
	progress_say(p->prog, line);
}

/* A file: the position libray's reads (or copy_file_range) have reached. */
static uint64_t file_pos(int fd)
{
	char path[64], buf[256];
	unsigned long long pos = 0;
	ssize_t n;
	int f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	if ((f = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	n = read(f, buf, sizeof(buf) - 1);
	close(f);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	sscanf(buf, "pos: %llu", &pos);
	return pos;
}

static void *watch_file(void *arg)
{
	progress_put *p = arg;

	while (!p->stop) {
		struct timespec ts = { 0, SLICE_MS * 1000000L };
		nanosleep(&ts, NULL);
		if (!p->stop)
			put_draw(p, file_pos(p->in));
	}
	return NULL;
}

/* A pipe: copies the input into the relay, counting; the end of the input
 * closes the relay, so libray sees the same end. */
static void *relay(void *arg)
{
	progress_put *p = arg;
	static char buf[1u << 16];
	int64_t last_ms = 0;
	sigset_t set;
	ssize_t n;

	/* A reader that gave up (a failed put) is EPIPE here, not a signal. */
	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	while (!p->stop) {
		struct pollfd pf = { p->in, POLLIN, 0 };
		/* Polled, so a stop while the input is quiet is seen. */
		if (poll(&pf, 1, SLICE_MS) == 0)
			continue;
		n = read(p->in, buf, sizeof(buf));
		if (n == 0)
			break;
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			break;
		}
		if (ray_write_all(p->relay[1], buf, (size_t)n))
			break;
		p->done += (uint64_t)n;
		if (ray_now_ms() - last_ms >= SLICE_MS) {
			last_ms = ray_now_ms();
			put_draw(p, p->done);
		}
	}
	close(p->relay[1]);
	p->relay[1] = -1;
	return NULL;
}

int progress_put_start(const char *prog, int fd, progress_put **out)
{
	struct stat st;
	progress_put *p;

	*out = NULL;
	if (!progress_enabled() || fstat(fd, &st))
		return fd;
	if (S_ISREG(st.st_mode) && (uint64_t)st.st_size < PUT_MIN_FILE)
		return fd;
	if (!S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode) && !S_ISSOCK(st.st_mode))
		return fd;
	if (!(p = calloc(1, sizeof(*p))))
		return fd;
	p->prog = prog;
	p->in = fd;
	p->relay[0] = p->relay[1] = -1;
	p->t0 = ray_now_ms();
	if (S_ISREG(st.st_mode)) {
		p->total = (uint64_t)st.st_size;
		if (pthread_create(&p->th, NULL, watch_file, p)) {
			free(p);
			return fd;
		}
		*out = p;
		return fd;
	}
	if (pipe2(p->relay, O_CLOEXEC) || pthread_create(&p->th, NULL, relay, p)) {
		if (p->relay[0] >= 0) {
			close(p->relay[0]);
			close(p->relay[1]);
		}
		free(p);
		return fd;
	}
	*out = p;
	return p->relay[0];
}

void progress_put_stop(progress_put *p)
{
	if (!p)
		return;
	p->stop = 1;
	/* A relay still writing to a reader that is done gets EPIPE. */
	if (p->relay[0] >= 0)
		close(p->relay[0]);
	pthread_join(p->th, NULL);
	progress_clear();
	free(p);
}
