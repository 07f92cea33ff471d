/* hs.c: libFuzzer target for the handshake state machine (ray_hs_feed,
 * lib/auth.c), in both roles, fed the input in pieces: it never uses more
 * than it was given, and never says DONE to a peer without the key. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rayint.h"

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t len);

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t len)
{
	static const unsigned char key[RAY_KEY_LEN] = { 1, 2, 3 };
	ray_hs hs;
	size_t step, off = 0, have = 0, used;
	char *buf;
	int st = RAY_HS_MORE;

	if (len < 2)
		return 0;
	ray_hs_init(&hs, in[0] & 1 ? 'S' : 'C', key, (in[0] >> 1) % 3 - 1);
	step = (size_t)in[1] % 17 + 1;
	in += 2;
	len -= 2;
	buf = malloc(len ? len : 1);
	while (st == RAY_HS_MORE && have < len) {
		size_t n = len - have < step ? len - have : step;

		memcpy(buf + have, in + have, n);
		have += n;
		st = ray_hs_feed(&hs, buf + off, have - off, &used);
		if (used > have - off || hs.outlen > sizeof(hs.out))
			abort();
		hs.outlen = 0;
		off += used;
	}
	/* The fuzzer cannot forge a MAC over a fresh random nonce. */
	if (st == RAY_HS_DONE && hs.role == 'S')
		abort();
	free(buf);
	return 0;
}
