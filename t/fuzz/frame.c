/* frame.c: libFuzzer target for ray_frame_parse (lib/wire.c): any bytes
 * from a socket are a whole frame, a need for more, or a refusal; never a
 * crash, a leak or a read past the buffer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rayint.h"

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t len);

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t len)
{
	/* A copy of exactly len bytes, so ASan sees any over-read. */
	char *buf = malloc(len ? len : 1);
	size_t off = 0;

	memcpy(buf, in, len);
	while (off < len) {
		ray_frame f;
		int rc = ray_frame_parse(buf + off, len - off, &f);

		if (rc != 1)
			break;
		if (!f.js || f.total < RAY_HDR_LEN || f.total > len - off || f.dlen > f.total)
			abort();
		if (f.dlen && (f.data < buf + off || f.data + f.dlen > buf + off + f.total))
			abort();
		cJSON_Delete(f.js);
		off += f.total;
	}
	free(buf);
	return 0;
}
