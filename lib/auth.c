/* auth.c: the cluster token and the mutual MAC handshake (libsodium), the
 * handshake as a state machine over bytes that every side runs. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "rayint.h"

int ray_token_key(const char *path, unsigned char key[RAY_KEY_LEN], ray_err *err)
{
	unsigned char buf[4096];
	ssize_t n;
	size_t len = 0;
	int fd;

	if (sodium_init() < 0)
		return ray_seterr(err, RAY_EUNREACH, "cannot initialise libsodium");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ray_seterr(err, RAY_EUNREACH, "cannot read token file '%s': %s",
		                  path, strerror(errno));
	while (len < sizeof(buf)) {
		n = read(fd, buf + len, sizeof(buf) - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' '))
		len--;
	if (len < 16)
		return ray_seterr(err, RAY_EUNREACH, "token file '%s' is too short", path);
	crypto_generichash(key, RAY_KEY_LEN, buf, len, NULL, 0);
	sodium_memzero(buf, sizeof(buf));
	return 0;
}

static void auth_msg(unsigned char msg[1 + 2 * RAY_NONCE_LEN], char role,
                     const unsigned char *ns, const unsigned char *nc)
{
	msg[0] = (unsigned char)role;
	memcpy(msg + 1, ns, RAY_NONCE_LEN);
	memcpy(msg + 1 + RAY_NONCE_LEN, nc, RAY_NONCE_LEN);
}

void ray_auth_mac(unsigned char out[RAY_MAC_LEN], const unsigned char key[RAY_KEY_LEN],
                  char role, const unsigned char ns[RAY_NONCE_LEN],
                  const unsigned char nc[RAY_NONCE_LEN])
{
	unsigned char msg[1 + 2 * RAY_NONCE_LEN];

	auth_msg(msg, role, ns, nc);
	crypto_auth(out, msg, sizeof(msg), key);
}

int ray_auth_verify(const unsigned char mac[RAY_MAC_LEN],
                    const unsigned char key[RAY_KEY_LEN], char role,
                    const unsigned char ns[RAY_NONCE_LEN],
                    const unsigned char nc[RAY_NONCE_LEN])
{
	unsigned char msg[1 + 2 * RAY_NONCE_LEN];

	auth_msg(msg, role, ns, nc);
	return crypto_auth_verify(mac, msg, sizeof(msg), key) == 0 ? 0 : RAY_EUNREACH;
}

/* The handshake as a state machine over bytes, so that the blocking client,
 * the daemon's libuv peers and its server run the very same checks. */
void ray_hs_init(ray_hs *h, char role, const unsigned char *key)
{
	memset(h, 0, sizeof(*h));
	h->role = role;
	h->key = key;
	if (role == 'S') {
		randombytes_buf(h->ns, sizeof(h->ns));
		memcpy(h->out, RAY_MAGIC, RAY_MAGIC_LEN);
		memcpy(h->out + RAY_MAGIC_LEN, h->ns, RAY_NONCE_LEN);
		h->outlen = RAY_MAGIC_LEN + RAY_NONCE_LEN;
	}
}

static int hs_client(ray_hs *h, const unsigned char *in, size_t len, size_t *used)
{
	if (h->step == 0) {
		if (len < RAY_MAGIC_LEN + RAY_NONCE_LEN)
			return RAY_HS_MORE;
		if (memcmp(in, RAY_MAGIC, RAY_MAGIC_LEN))
			return RAY_HS_BADMAGIC;
		memcpy(h->ns, in + RAY_MAGIC_LEN, RAY_NONCE_LEN);
		randombytes_buf(h->nc, sizeof(h->nc));
		memcpy(h->out + h->outlen, h->nc, RAY_NONCE_LEN);
		ray_auth_mac(h->out + h->outlen + RAY_NONCE_LEN, h->key, 'C', h->ns, h->nc);
		h->outlen += RAY_NONCE_LEN + RAY_MAC_LEN;
		*used = RAY_MAGIC_LEN + RAY_NONCE_LEN;
		in += *used;
		len -= *used;
		h->step = 1;
	}
	if (len < RAY_MAC_LEN)
		return RAY_HS_MORE;
	if (ray_auth_verify(in, h->key, 'S', h->ns, h->nc))
		return RAY_HS_BADMAC;
	*used += RAY_MAC_LEN;
	h->step = 2;
	return RAY_HS_DONE;
}

static int hs_server(ray_hs *h, const unsigned char *in, size_t len, size_t *used)
{
	if (len < RAY_NONCE_LEN + RAY_MAC_LEN)
		return RAY_HS_MORE;
	memcpy(h->nc, in, RAY_NONCE_LEN);
	if (ray_auth_verify(in + RAY_NONCE_LEN, h->key, 'C', h->ns, h->nc))
		return RAY_HS_BADMAC;
	ray_auth_mac(h->out + h->outlen, h->key, 'S', h->ns, h->nc);
	h->outlen += RAY_MAC_LEN;
	*used = RAY_NONCE_LEN + RAY_MAC_LEN;
	h->step = 2;
	return RAY_HS_DONE;
}

int ray_hs_feed(ray_hs *h, const void *in, size_t len, size_t *used)
{
	*used = 0;
	if (h->step == 2)
		return RAY_HS_DONE;
	return h->role == 'S' ? hs_server(h, in, len, used) : hs_client(h, in, len, used);
}
