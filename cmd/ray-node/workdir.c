/*
 * workdir.c: --working-dir.  A task or actor runs in a DIR of its node, or
 * in a copy of a tar archive put as an object (REF), unpacked once per
 * node into SESSION/wd/REF and made read-only for every task that names
 * it.  The node itself neither unpacks nor waits: the command's argv is
 * wrapped in a small sh script that the child runs before exec'ing the
 * command in place (so its pid, session and memory count stay its own).
 * The first child to need the copy takes a lock (flock(1) on
 * SESSION/wd/REF.lock), unpacks into a temporary directory and renames it
 * into place; the others wait on the lock, then find it there.  The
 * archive is one of a task's dependencies, so it is on this node (pulled
 * or restored) and pinned before the task starts; an actor has no
 * dependencies, and its child fetches the archive with ray-get (beside
 * ray-node) when the node holds no copy.  The copy goes when its
 * object is freed here (ray-store free, or the end of the job that put it),
 * removed by a child process, and with the session when the node stops
 * (its lock file stays until then: removing it could let two children
 * unpack at once).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "node.h"
#include "map.h"
#include "spawn.h"
#include "store.h"
#include "workdir.h"

/* $1 the archive here, or "" to fetch it with ray-get ($4); $2 the copy,
 * $3 the ref; then the command. */
static const char UNPACK[] =
	"exec 9>\"$2.lock\" && flock 9 || exit 127\n"
	"if [ ! -d \"$2\" ]; then\n"
	"  t=\"$2.tmp.$$\" a=$1\n"
	"  if [ -z \"$a\" ]; then a=\"$t.tar\"; \"$4\" \"$3\" >\"$a\" || { rm -f \"$a\"; exit 127; }; fi\n"
	"  if ! { mkdir \"$t\" && tar -xf \"$a\" -C \"$t\" --no-same-owner --no-same-permissions &&\n"
	"         chmod -R a-w \"$t\" && mv -T \"$t\" \"$2\"; }; then\n"
	"    echo \"ray-node: cannot unpack working directory $3 (is it a tar archive?)\" >&2\n"
	"    chmod -R u+w \"$t\" 2>/dev/null; rm -rf \"$t\"; rm -f \"$t.tar\"; exit 127\n"
	"  fi\n"
	"  rm -f \"$t.tar\"\n"
	"fi\n"
	"exec 9>&-\n"
	"cd \"$2\" || exit 127\n"
	"shift 4\n"
	"exec \"$@\"\n";

/* $1 the directory; then the command. */
static const char ENTER[] =
	"cd \"$1\" 2>/dev/null || { echo \"ray-node: no working directory '$1' on this node\" >&2; exit 127; }\n"
	"shift\n"
	"exec \"$@\"\n";

int workdir_check(const char *wd, ray_err *err)
{
	if (ray_ref_valid(wd)) {
		if (!store_lookup(wd))
			return ray_seterr(err, RAY_ENOTFOUND, "unknown ref '%s' for --working-dir", wd);
		return 0;
	}
	if (wd[0] != '/' || strlen(wd) >= PATH_MAX)
		return ray_seterr(err, RAY_EUSAGE, "bad --working-dir '%.80s': want an absolute DIR or a REF", wd);
	return 0;
}

/* ray-get beside our own executable (installed together), else on PATH. */
static const char *ray_get_path(void)
{
	static char path[PATH_MAX];
	char self[PATH_MAX];
	ssize_t n;
	char *slash;

	if (path[0])
		return path;
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		if ((slash = strrchr(self, '/'))) {
			*slash = '\0';
			snprintf(path, sizeof(path), "%s/ray-get", self);
			if (!access(path, X_OK))
				return path;
		}
	}
	snprintf(path, sizeof(path), "ray-get");
	return path;
}

/* The refs that tasks here were given as working directories (their keys
 * strdup'd): only these may have a copy to remove when their object goes,
 * so that freeing any other object costs no stat (a job's end freed
 * 100,000 stream items at one stat each, a third of the node's time). */
static map used;

static void note_used(const char *ref)
{
	char *k;

	if (map_get(&used, ref) || !(k = strdup(ref)))
		return;
	if (map_put(&used, k, k))
		free(k);
}

void workdir_free_all(void)
{
	size_t i;

	for (i = 0; i < used.cap; i++)
		if (used.ents[i].val)
			free(used.ents[i].val);
	map_release(&used);
}

static void copy_path(const char *ref, char *buf, size_t len)
{
	snprintf(buf, len, "%s/wd/%s", N->session, ref);
}

char **workdir_argv(const char *wd, char **argv, char *why, size_t wlen)
{
	char objpath[PATH_MAX + 64], dir[PATH_MAX + 64];
	size_t n = 0, i, k = 0;
	int is_ref = ray_ref_valid(wd);
	obj *o;
	char **v;

	while (argv[n])
		n++;
	if (is_ref) {
		/* A task has it here (a dependency); an actor's child may have to
		 * fetch it, as any client would. */
		o = store_find_any(wd);
		if (!o || o->remote || o->state != OBJ_READY || store_path(o, objpath, sizeof(objpath)))
			objpath[0] = '\0';
		snprintf(dir, sizeof(dir), "%s/wd", N->session);
		if (mkdir(dir, 0700) && errno != EEXIST) {
			snprintf(why, wlen, "cannot make %s: %s", dir, strerror(errno));
			return NULL;
		}
		copy_path(wd, dir, sizeof(dir));
		note_used(wd);
	}
	v = calloc(n + 10, sizeof(*v));
	if (!v) {
		snprintf(why, wlen, "out of memory");
		return NULL;
	}
	v[k++] = strdup("/bin/sh");
	v[k++] = strdup("-c");
	v[k++] = strdup(is_ref ? UNPACK : ENTER);
	v[k++] = strdup("ray-workdir");
	if (is_ref) {
		v[k++] = strdup(objpath);
		v[k++] = strdup(dir);
	}
	v[k++] = strdup(wd);
	if (is_ref)
		v[k++] = strdup(ray_get_path());
	for (i = 0; i < n; i++)
		v[k++] = strdup(argv[i]);
	v[k] = NULL;
	for (i = 0; i < k; i++)
		if (!v[i]) {
			ray_strv_free(v);
			snprintf(why, wlen, "out of memory");
			return NULL;
		}
	return v;
}

static void on_removed(void *ud, int status, int sig, int exec_err)
{
	(void)ud;
	(void)sig;
	(void)exec_err;
	if (status)
		node_log("could not remove an unpacked working directory (status %d)", status);
}

void workdir_forget(obj *o)
{
	char dir[PATH_MAX + 64], gone[PATH_MAX + 96];
	char *argv[] = { "/bin/sh", "-c", "chmod -R u+w \"$1\" && rm -rf \"$1\"", "sh", gone, NULL };
	char *env[] = { "PATH=/usr/bin:/bin", NULL };
	struct stat sb;
	int fds[3], pid;
	char *k = used.len ? map_del(&used, o->ref) : NULL;

	if (!k)
		return;
	free(k);
	copy_path(o->ref, dir, sizeof(dir));
	if (stat(dir, &sb) || !S_ISDIR(sb.st_mode))
		return;
	/* Renamed first, so that a new task of the same ref unpacks afresh
	 * while the old copy is removed. */
	snprintf(gone, sizeof(gone), "%s.gone.%lld", dir, (long long)ray_now_ms());
	if (rename(dir, gone))
		return;
	fds[0] = fds[1] = fds[2] = N->devnull;
	if (spawn_proc(argv, env, fds, on_removed, NULL, &pid))
		node_log("could not remove %s", gone);
}
