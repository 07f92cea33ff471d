/* memmon.c: cmd/ray-node/memmon.c reads a process's session and resident
 * pages from /proc/PID/stat text, whatever its command name holds
 * (spaces, parentheses), and refuses text that is cut short. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "memmon.h"
#include "unit.h"

static int parse(const char *s, long *sid, uint64_t *rss)
{
	return memmon_parse_stat(s, strlen(s), sid, rss);
}

int main(void)
{
	long sid = 0;
	uint64_t rss = 0;
	char buf[1024], path[64];
	FILE *f;
	size_t n;

	CHECK_EQ_INT(parse("4242 (python3) S 1 4242 4240 0 -1 4194560 100 0 0 0 5 1 0 0 20 0 1 0 "
	                   "123 224301056 53590 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0",
	                   &sid, &rss), 0);
	CHECK_EQ_INT(sid, 4240);
	CHECK_EQ_INT(rss, 53590);
	/* A command may hold ") " and spaces: the last ')' ends it. */
	CHECK_EQ_INT(parse("7 (a) b (c) d) R 1 7 9 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 100 77 1",
	                   &sid, &rss), 0);
	CHECK_EQ_INT(sid, 9);
	CHECK_EQ_INT(rss, 77);
	CHECK(parse("7 (cut) R 1 7 9 0", &sid, &rss) != 0);
	CHECK(parse("no parens at all", &sid, &rss) != 0);
	CHECK(parse("", &sid, &rss) != 0);
	CHECK(parse("1 (x) R 1 1 x 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 100 77", &sid, &rss) != 0);
	/* Our own line: our session, some resident pages. */
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)getpid());
	f = fopen(path, "r");
	CHECK(f != NULL);
	if (f) {
		n = fread(buf, 1, sizeof(buf), f);
		fclose(f);
		CHECK_EQ_INT(memmon_parse_stat(buf, n, &sid, &rss), 0);
		CHECK_EQ_INT(sid, getsid(0));
		CHECK(rss > 0);
	}
	return unit_done("memmon");
}
