/*
 * roundtrip.c: the smallest libray client.  It stores its standard input
 * as one object, fetches the object back and writes its bytes to standard
 * output; the ref goes to standard error.  It finds the node the way the
 * commands do ($RAY_ADDRESS and $RAY_TOKEN_FILE, else the node last started
 * under $RAY_TMPDIR).
 *
 * Build it against an installed libray with nothing but pkg-config:
 *
 *   cc -o roundtrip share/examples/roundtrip.c $(pkg-config --cflags --libs ray)
 *   ./roundtrip < /etc/passwd | cmp - /etc/passwd
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <ray.h>

int
main(void)
{
	ray_client *c = NULL;
	ray_err err = { 0 };
	char ref[RAY_REF_MAX + 1];
	void *buf = NULL;
	size_t len = 0;
	int rc;

	if ((rc = ray_connect(&c, NULL, NULL, &err)) < 0 ||
	    (rc = ray_put_fd(c, STDIN_FILENO, ref, &err)) < 0 ||
	    (rc = ray_get(c, ref, 10000, &buf, &len, &err)) < 0) {
		fprintf(stderr, "roundtrip: %s\n", err.msg);
		if (c)
			ray_client_free(c);
		return ray_exit_code(rc);
	}
	fprintf(stderr, "%s\n", ref);
	rc = fwrite(buf, 1, len, stdout) == len && fflush(stdout) == 0 ? 0 : 1;
	if (rc)
		perror("roundtrip: stdout");
	free(buf);
	ray_client_free(c);
	return rc;
}
