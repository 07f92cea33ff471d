/* proto.c: libFuzzer target for the actor protocols' parsers
 * (cmd/ray-node/proto.c): what an untrusted child writes comes out as
 * answers inside the buffer, a need for more, or a refusal; the returns a
 * result splits into stay inside it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t len);

static void inside(const char *p, size_t n, const char *buf, size_t len)
{
	if (n && (p < buf || p + n > buf + len))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t len)
{
	int protocol, nret;
	char *buf;
	size_t off = 0, scanned = 0;

	if (len < 2)
		return 0;
	protocol = in[0] % 3;
	nret = in[1] % 8 + 1;
	in += 2;
	len -= 2;
	buf = malloc(len ? len : 1);
	memcpy(buf, in, len);
	/* Grow the buffer a byte at a time for the first answer, as a pipe
	 * might deliver it, then take the rest whole. */
	while (off < len) {
		proto_answer a;
		const char *why = NULL, *parts[8];
		size_t lens[8];
		long took = proto_next_answer(protocol, buf + off, len - off, &scanned, &a, &why);
		int i, got;

		if (took < 0 && !why)
			abort();
		if (took <= 0)
			break;
		if ((size_t)took > len - off)
			abort();
		inside(a.data, a.len, buf + off, (size_t)took);
		got = proto_split_returns(protocol, a.data, a.len, nret, parts, lens);
		if (got == nret)
			for (i = 0; i < nret; i++)
				inside(parts[i], lens[i], a.data, a.len);
		off += (size_t)took;
	}
	free(buf);
	return 0;
}
