/*
 * logread.c: a task's, actor's or job's log as a reply.  Without an
 * offset the reply is the tail (ray-status logs, ray-job logs); with one
 * it is the next chunk from there, and the reply's "size" and the
 * caller's "ended" let a follower (--follow) poll until the writer is
 * gone and every byte has been read.  The read is a pread of a tmpfs or
 * local file, bounded by LOG_CHUNK when following, so the loop is held
 * briefly.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "logread.h"
#include "server.h"

int64_t log_req_offset(const cJSON *req)
{
	const cJSON *o = cJSON_GetObjectItemCaseSensitive(req, "offset");

	if (!o)
		return -1;
	if (!cJSON_IsNumber(o) || o->valuedouble < 0 || o->valuedouble > 9e15 ||
	    o->valuedouble != (double)(int64_t)o->valuedouble)
		return -2;
	return (int64_t)o->valuedouble;
}

void log_reply(conn *c, uint32_t id, cJSON *r, const char *path, int64_t offset)
{
	struct stat st;
	size_t want, got = 0;
	off_t off = 0;
	char *buf = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st)) {
		if (fd >= 0)
			close(fd);
		cJSON_AddNumberToObject(r, "size", 0);
		conn_reply(c, id, r, NULL, 0);
		return;
	}
	if (offset < 0) {
		want = st.st_size > (off_t)LOG_MAX ? LOG_MAX : (size_t)st.st_size;
		off = st.st_size - (off_t)want;
	} else {
		off = offset;
		want = off >= st.st_size ? 0 : (size_t)(st.st_size - off);
		if (want > LOG_CHUNK)
			want = LOG_CHUNK;
	}
	if (want && !(buf = malloc(want)))
		want = 0;
	while (got < want) {
		ssize_t k = pread(fd, buf + got, want - got, off + (off_t)got);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		got += (size_t)k;
	}
	close(fd);
	cJSON_AddNumberToObject(r, "size", (double)st.st_size);
	conn_reply(c, id, r, buf, got);
	free(buf);
}
