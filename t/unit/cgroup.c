/* cgroup.c: cmd/ray-node/cgroup.c finds the memory cgroup a process is in
 * from /proc/self/cgroup and /proc/self/mountinfo text: the v1 memory
 * hierarchy when one has the controller, else cgroup v2, with the mount's
 * root taken off the path (cgroup namespaces, bind mounts); malformed or
 * cut lines are skipped, never trusted. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cgroup.h"
#include "unit.h"

#define HYBRID_SELF "9:name=systemd:/\n4:memory:/process_api/7839\n1:cpu:/\n0::/\n"
#define HYBRID_MI \
	"22 1 0:20 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n" \
	"25 22 0:23 / /sys/fs/cgroup/cpu rw,relatime shared:7 - cgroup cgroup rw,cpu\n" \
	"28 22 0:26 / /sys/fs/cgroup/memory rw,relatime shared:9 - cgroup cgroup rw,memory\n" \
	"33 22 0:31 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n"
#define V2_MI "30 22 0:27 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate\n"

int main(void)
{
	char dir[PATH_MAX], *big;
	size_t i;
	FILE *f;

	CHECK_EQ_INT(cg_locate(HYBRID_SELF, HYBRID_MI, dir, sizeof(dir)), 1);
	CHECK_EQ_STR(dir, "/sys/fs/cgroup/memory/process_api/7839");
	/* Pure v2: the unified hierarchy. */
	CHECK_EQ_INT(cg_locate("0::/system.slice/ray.service\n", V2_MI, dir, sizeof(dir)), 2);
	CHECK_EQ_STR(dir, "/sys/fs/cgroup/system.slice/ray.service");
	CHECK_EQ_INT(cg_locate("0::/\n", V2_MI, dir, sizeof(dir)), 2);
	CHECK_EQ_STR(dir, "/sys/fs/cgroup");
	/* A mount of a subtree: its root is not repeated below the mount point. */
	CHECK_EQ_INT(cg_locate("0::/docker/abc/sub\n",
	                       "30 22 0:27 /docker/abc /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n", dir,
	                       sizeof(dir)), 2);
	CHECK_EQ_STR(dir, "/sys/fs/cgroup/sub");
	/* ... but only a whole component of it. */
	CHECK_EQ_INT(cg_locate("0::/docker/abcd\n",
	                       "30 22 0:27 /docker/abc /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n", dir,
	                       sizeof(dir)), 2);
	CHECK_EQ_STR(dir, "/sys/fs/cgroup/docker/abcd");
	/* v1 hierarchies without the memory controller, and no v2 line. */
	CHECK_EQ_INT(cg_locate("4:cpu,cpuacct:/x\n",
	                       "25 22 0:23 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu,cpuacct\n", dir,
	                       sizeof(dir)), 0);
	/* "memory" must be a whole controller name. */
	CHECK_EQ_INT(cg_locate("4:memoryx:/x\n", "28 22 0:26 / /m rw - cgroup cgroup rw,memoryx\n", dir,
	                       sizeof(dir)), 0);
	/* Malformed text: no colons, no separator, cut lines, empty. */
	CHECK_EQ_INT(cg_locate("garbage\n4\n:memory\n", HYBRID_MI, dir, sizeof(dir)), 0);
	CHECK_EQ_INT(cg_locate(HYBRID_SELF, "28 22 0:26 / /sys/fs/cgroup/memory rw cgroup cgroup rw,memory\n",
	                       dir, sizeof(dir)), 0);
	CHECK_EQ_INT(cg_locate(HYBRID_SELF, "28 22\n", dir, sizeof(dir)), 0);
	CHECK_EQ_INT(cg_locate("", "", dir, sizeof(dir)), 0);
	/* A directory that does not fit is refused, not cut. */
	CHECK_EQ_INT(cg_locate(HYBRID_SELF, HYBRID_MI, dir, 20), 0);
	/* A path longer than any directory is skipped. */
	big = malloc(PATH_MAX + 64);
	if (big) {
		memcpy(big, "0::/", 4);
		for (i = 4; i < PATH_MAX + 40; i++)
			big[i] = 'a';
		memcpy(big + i, "\n", 2);
		CHECK_EQ_INT(cg_locate(big, V2_MI, dir, sizeof(dir)), 0);
		free(big);
	}
	/* This process: whatever the host has, a directory that exists. */
	f = fopen("/proc/self/cgroup", "r");
	if (f) {
		char self[8192], mi[1 << 16];
		size_t n = fread(self, 1, sizeof(self) - 1, f);
		FILE *m = fopen("/proc/self/mountinfo", "r");
		self[n] = '\0';
		fclose(f);
		if (m) {
			n = fread(mi, 1, sizeof(mi) - 1, m);
			mi[n] = '\0';
			fclose(m);
			if (cg_locate(self, mi, dir, sizeof(dir)))
				CHECK(access(dir, F_OK) == 0);
		}
	}
	return unit_done("cgroup");
}
