/* ray-put: store files, stdin or fetched URLs as objects; print one ref per
 * input, in order.  Every file is opened before anything is stored, so a
 * bad path stores nothing. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <unistd.h>

#include "progress.h"
#include "tool.h"

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
	int nurl = 0, c, i, rc = 0, nfiles, *fds;
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
	fds = calloc((size_t)(nfiles > 0 ? nfiles : 1), sizeof(int));
	if (!fds)
		return 1;
	if (nfiles < 0)
		fds[0] = 0;
	for (i = 0; i < nfiles; i++) {
		const char *f = argv[optind + i];
		fds[i] = strcmp(f, "-") ? open(f, O_RDONLY | O_CLOEXEC) : 0;
		if (fds[i] < 0) {
			fprintf(stderr, "%s: cannot open '%s': %s\n", prog, f, strerror(errno));
			free(fds);
			return 2;
		}
	}
	if ((rc = ray_connect(&cl, NULL, NULL, &err))) {
		free(fds);
		return tool_fail(prog, rc, &err);
	}
	for (i = 0; i < (nfiles < 0 ? 1 : nfiles) && !rc; i++) {
		progress_put *pp;
		/* On a terminal, a big input's bytes and rate as they go. */
		int from = progress_put_start(prog, fds[i], &pp);
		rc = ray_put_fd(cl, from, ref, &err);
		progress_put_stop(pp);
		if (!rc)
			puts(ref);
	}
	for (i = 0; i < nurl && !rc; i++) {
		rc = ray_put_url(cl, urls[i], ref, &err);
		if (!rc)
			puts(ref);
	}
	ray_client_free(cl);
	free(fds);
	if (rc)
		return tool_finish(prog, tool_fail(prog, rc, &err));
	return tool_finish(prog, 0);
}
