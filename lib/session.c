/* session.c: where a node keeps its session under RAY_TMPDIR, how a client
 * finds the most recently started one, and the checks that keep another
 * local user from slipping a directory, a `latest` link, a socket or a
 * token in (as ssh-agent checks its socket directory). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rayint.h"

const char *ray_tmpdir(void)
{
	static char def[64];
	const char *t = getenv("RAY_TMPDIR");

	if (t && *t)
		return t;
	if (!*def)
		snprintf(def, sizeof(def), "/tmp/ray-%u", (unsigned)getuid());
	return def;
}

/* 0 when st (of path, `what`) belongs to this user and is not writable by
 * group or others; else RAY_EUSAGE saying why. */
static int owned(const char *path, const char *what, const struct stat *st, ray_err *err)
{
	if (st->st_uid != getuid())
		return ray_seterr(err, RAY_EUSAGE,
		                  "refusing %s '%s': it belongs to uid %u, not to you (uid %u)",
		                  what, path, (unsigned)st->st_uid, (unsigned)getuid());
	if (!S_ISLNK(st->st_mode) && (st->st_mode & (S_IWGRP | S_IWOTH)))
		return ray_seterr(err, RAY_EUSAGE,
		                  "refusing %s '%s': group or others may write to it (chmod go-w)",
		                  what, path);
	return 0;
}

int ray_check_path(const char *path, const char *what, int type, ray_err *err)
{
	struct stat st;

	if (lstat(path, &st))
		return ray_seterr(err, RAY_EUNREACH, "cannot use %s '%s': %s", what, path, strerror(errno));
	if ((st.st_mode & S_IFMT) != (mode_t)type)
		return ray_seterr(err, RAY_EUSAGE, "refusing %s '%s': not a %s", what, path,
		                  type == S_IFDIR ? "directory" : type == S_IFLNK ? "symbolic link" :
		                  type == S_IFSOCK ? "socket" : "regular file");
	return owned(path, what, &st, err);
}

int ray_tmpdir_check(int create, ray_err *err)
{
	const char *dir = ray_tmpdir();
	struct stat st;

	if (create && ray_mkdir_p(dir, 0700) && errno != EEXIST)
		return ray_seterr(err, RAY_EUSAGE, "cannot create RAY_TMPDIR '%s': %s", dir, strerror(errno));
	/* stat, not lstat: a link of the user's own to a directory of
	 * theirs is fine, and a link that leads elsewhere fails the owner
	 * check on what it leads to. */
	if (stat(dir, &st)) {
		if (errno == ENOENT && !create)
			return 0;
		return ray_seterr(err, RAY_EUSAGE, "cannot use RAY_TMPDIR '%s': %s", dir, strerror(errno));
	}
	if (!S_ISDIR(st.st_mode))
		return ray_seterr(err, RAY_EUSAGE, "refusing RAY_TMPDIR '%s': not a directory", dir);
	return owned(dir, "RAY_TMPDIR", &st, err);
}

int ray_latest_session(char *buf, size_t len, ray_err *err)
{
	char link[PATH_MAX], target[PATH_MAX];
	ssize_t n;
	int rc;

	if ((rc = ray_tmpdir_check(0, err)))
		return rc;
	snprintf(link, sizeof(link), "%s/latest", ray_tmpdir());
	n = readlink(link, target, sizeof(target) - 1);
	if (n < 0)
		return ray_seterr(err, RAY_EUNREACH,
		                  "no node running under '%s': start one with 'ray-node start --head' or set RAY_ADDRESS",
		                  ray_tmpdir());
	if ((rc = ray_check_path(link, "the latest-node link", S_IFLNK, err)))
		return rc;
	target[n] = '\0';
	if (target[0] == '/')
		snprintf(buf, len, "%s", target);
	else
		snprintf(buf, len, "%s/%s", ray_tmpdir(), target);
	return ray_check_path(buf, "the session directory", S_IFDIR, err);
}
