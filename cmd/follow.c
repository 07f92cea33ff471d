/* follow.c: ray-status logs --follow and ray-job logs --follow.  The
 * node answers a logs request with the bytes from an offset and whether
 * the task, actor or job has ended (known before it read, so "ended" with
 * nothing new means the log is complete); this polls it, at once while
 * bytes come and every FOLLOW_POLL_MS when idle, so a quiet task costs
 * five small requests a second.  The node holds no follower state. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "follow.h"
#include "rayint.h"

#define FOLLOW_POLL_MS 200

int follow_log(ray_client *cl, const char *prog, const char *id, int job, int *code,
               ray_err *err)
{
	uint64_t offset = 0;
	int noted = 0, rc;

	for (;;) {
		ray_log_pos pos;
		char *data;
		size_t len;
		struct timespec ts = { 0, FOLLOW_POLL_MS * 1000000L };

		if ((rc = ray_logs_follow(cl, id, job, offset, &data, &len, &pos, err)))
			return rc;
		if (len && ray_write_all(1, data, len)) {
			free(data);
			return ray_seterr(err, RAY_EUSAGE, "cannot write output: %s", strerror(errno));
		}
		free(data);
		offset += len;
		if (job && !pos.kept && !noted) {
			fprintf(stderr, "%s: job %s was run by ray-job run: its output goes to that "
			        "terminal; waiting for it to end\n", prog, id);
			noted = 1;
		}
		if (len)
			continue;
		if (pos.ended) {
			*code = pos.code;
			return 0;
		}
		while (nanosleep(&ts, &ts) && errno == EINTR)
			;
	}
}
