/* session.c: where a node keeps its session under RAY_TMPDIR, and how a
 * client finds the most recently started one. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rayint.h"

const char *ray_tmpdir(void)
{
	const char *t = getenv("RAY_TMPDIR");

	return t && *t ? t : "/tmp/ray";
}

int ray_latest_session(char *buf, size_t len, ray_err *err)
{
	char link[PATH_MAX], target[PATH_MAX];
	ssize_t n;

	snprintf(link, sizeof(link), "%s/latest", ray_tmpdir());
	n = readlink(link, target, sizeof(target) - 1);
	if (n < 0)
		return ray_seterr(err, RAY_EUNREACH,
		                  "no node running under '%s': start one with 'ray-node start --head' or set RAY_ADDRESS",
		                  ray_tmpdir());
	target[n] = '\0';
	if (target[0] == '/')
		snprintf(buf, len, "%s", target);
	else
		snprintf(buf, len, "%s/%s", ray_tmpdir(), target);
	return 0;
}
