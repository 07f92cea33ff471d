/* progress.c: what a long ray-get, ray-wait, ray-submit --batch or
 * ray-pg create is doing, as one line on stderr redrawn in place ("ray-get: 37/100
 * ready"), only when stderr is a terminal, so scripts and logs see
 * nothing new.  A wait for many refs becomes a series of short waits for
 * those not yet ready (each at most SLICE_MS), so the count can move
 * while the cluster works; the refs already ready are not asked again. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "progress.h"
#include "rayint.h"

#define SLICE_MS 250

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
