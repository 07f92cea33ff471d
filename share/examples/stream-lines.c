/*
 * stream-lines.c: streaming returns through libray.  It runs its arguments
 * as a task whose every line of output is an object of its own, and
 * writes each line as soon as the task has written it, prefixed with the
 * line's ref, by iterating over the stream (ray_submit_stream,
 * ray_stream_next) and fetching each object (ray_get).  Its exit status is
 * the task's: 0, or the error code of ray-tools(7).
 *
 *   cc -o stream-lines share/examples/stream-lines.c $(pkg-config --cflags --libs ray)
 *   ./stream-lines sh -c 'for i in 1 2 3; do echo $i; sleep 1; done'
 */
#include <stdio.h>
#include <stdlib.h>

#include <ray.h>

int
main(int argc, char **argv)
{
	ray_client *c = NULL;
	ray_stream *s = NULL;
	ray_task_opts o;
	ray_err err = { 0 };
	char ref[RAY_REF_MAX + 1];
	void *buf;
	size_t len;
	int rc;

	if (argc < 2) {
		fputs("usage: stream-lines COMMAND [ARG...]\n", stderr);
		return 2;
	}
	ray_task_opts_init(&o);
	if ((rc = ray_connect(&c, NULL, NULL, &err)) < 0 ||
	    (rc = ray_submit_stream(c, &o, (const char *const *)argv + 1, 16, &s, &err)) < 0)
		goto out;
	while ((rc = ray_stream_next(s, ref, -1, &err)) == 1) {
		if ((rc = ray_get(c, ref, 10000, &buf, &len, &err)) < 0)
			break;
		printf("%s ", ref);
		fwrite(buf, 1, len, stdout);
		fflush(stdout);
		free(buf);
	}
out:
	if (rc < 0)
		fprintf(stderr, "stream-lines: %s\n", err.msg);
	ray_stream_free(s);
	if (c)
		ray_client_free(c);
	return rc < 0 ? ray_exit_code(rc) : 0;
}
