/* ray-put: store files, stdin or fetched URLs as objects; print one ref per
 * input, in order.  Every file is opened (then closed) before anything is
 * stored, so a bad path stores nothing, and any number of files can be
 * named.  A run of small files goes in one ray_put_many call (a batch per
 * round trip), not one round trip each. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "progress.h"
#include "tool.h"

#define SMALL (64u << 10)       /* a file this size or less is read whole */
#define RUN_MAX 65536           /* files per ray_put_many */
#define RUN_BYTES (64u << 20)

/* Small files read so far, waiting to be put together. */
typedef struct run {
	void *bufs[RUN_MAX];
	size_t lens[RUN_MAX], n, bytes;
	char refs[RUN_MAX][RAY_REF_MAX + 1];
} run;

static int run_flush(ray_client *cl, run *r, ray_err *err)
{
	size_t i;
	int rc = r->n ? ray_put_many(cl, r->n, (const void *const *)r->bufs, r->lens, r->refs, err) : 0;

	for (i = 0; i < r->n; i++) {
		if (!rc)
			puts(r->refs[i]);
		free(r->bufs[i]);
	}
	r->n = r->bytes = 0;
	return rc;
}

/* Reads fd whole into the run when it is a small regular file: 1 when it
 * did, 0 when the file is to be put alone, -1 on a read error. */
static int run_add(run *r, int fd)
{
	struct stat st;
	char *buf;
	ssize_t n;

	if (fd == 0 || fstat(fd, &st) || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > SMALL)
		return 0;
	if (!(buf = malloc((size_t)st.st_size + 1)))
		return -1;
	n = ray_read_full(fd, buf, (size_t)st.st_size + 1);
	if (n < 0 || (uint64_t)n > SMALL) {
		free(buf);
		return n < 0 ? -1 : 0;
	}
	r->bufs[r->n] = buf;
	r->lens[r->n++] = (size_t)n;
	r->bytes += (size_t)n;
	return 1;
}

static int put_files(const char *prog, ray_client *cl, char **files, int nfiles, ray_err *err)
{
	run *r = calloc(1, sizeof(*r));
	char ref[RAY_REF_MAX + 1];
	int i, rc = 0;

	if (!r)
		return ray_seterr(err, RAY_EUNREACH, "out of memory");
	for (i = 0; i < (nfiles < 0 ? 1 : nfiles) && !rc; i++) {
		const char *f = nfiles < 0 ? "-" : files[i];
		int fd = strcmp(f, "-") ? open(f, O_RDONLY | O_CLOEXEC) : 0, small;
		if (fd < 0) {
			rc = ray_seterr(err, RAY_EUSAGE, "cannot open '%s': %s", f, strerror(errno));
			break;
		}
		if ((small = run_add(r, fd)) < 0) {
			rc = ray_seterr(err, RAY_EUSAGE, "cannot read '%s': %s", f, strerror(errno));
		} else if (!small && !(rc = run_flush(cl, r, err))) {
			progress_put *pp;
			/* On a terminal, a big input's bytes and rate as they go. */
			int from = progress_put_start(prog, fd, &pp);
			rc = ray_put_fd(cl, from, ref, err);
			progress_put_stop(pp);
			if (!rc)
				puts(ref);
		}
		if (fd > 0)
			close(fd);
		if (!rc && (r->n == RUN_MAX || r->bytes >= RUN_BYTES))
			rc = run_flush(cl, r, err);
	}
	if (!rc)
		rc = run_flush(cl, r, err);
	while (r->n)
		free(r->bufs[--r->n]);
	free(r);
	return rc;
}

static const char USAGE[] =
	"usage: ray-put [--url URL]... [FILE|-]...\n"
	"options:\n"
	"  --url URL                    store what URL holds (http, https, ftp, file; repeatable)\n"
	"  --help                       print this help and exit 0\n"
	"  --version                    print the version and exit 0\n";

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "url", required_argument, 0, 'u' }, { "help", no_argument, 0, 'h' },
		{ "version", no_argument, 0, 'V' }, { 0, 0, 0, 0 }
	};
	const char *prog = "ray-put";
	char ref[RAY_REF_MAX + 1];
	const char *urls[TOOL_MAX_REPEAT + 1] = { 0 };
	int nurl = 0, c, i, rc = 0, nfiles;
	ray_client *cl;
	ray_err err = { 0, "" };

	ray_std_fds();
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'u':
			if (nurl == TOOL_MAX_REPEAT)
				return tool_usage(prog, USAGE, "too many --url options (at most %s)", "256");
			urls[nurl++] = optarg;
			break;
		default: return tool_std_opt(prog, USAGE, c, argc, argv);
		}
	}
	nfiles = argc - optind;
	if (!nfiles && !nurl)
		nfiles = -1; /* stdin */
	for (i = 0; i < nfiles; i++) {
		const char *f = argv[optind + i];
		int fd = strcmp(f, "-") ? open(f, O_RDONLY | O_CLOEXEC) : 0;
		if (fd < 0) {
			fprintf(stderr, "%s: cannot open '%s': %s\n", prog, f, strerror(errno));
			return 2;
		}
		if (fd > 0)
			close(fd);
	}
	if ((rc = ray_connect(&cl, NULL, NULL, &err)))
		return tool_fail(prog, rc, &err);
	if (nfiles)
		rc = put_files(prog, cl, argv + optind, nfiles, &err);
	for (i = 0; i < nurl && !rc; i++) {
		rc = ray_put_url(cl, urls[i], ref, &err);
		if (!rc)
			puts(ref);
	}
	ray_client_free(cl);
	if (rc)
		return tool_finish(prog, tool_fail(prog, rc, &err));
	return tool_finish(prog, 0);
}
