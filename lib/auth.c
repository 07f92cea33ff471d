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
 * the daemon's libuv peers and its server run the very same checks.
 *
 *   server: MAGIC Ns Ps F                 F: bit 0 requires encryption,
 *   client: Nc Pc M MAC(K, "C" T)            bit 1 has AES-GCM
 *   server: MAC(K, "S" T)                 M: 0 plain, 1 ChaCha20, 2 AES
 *
 * T is Ns Nc Ps Pc F M, so the token binds both ephemeral X25519 keys and
 * the mode: no one without the token can sit in the middle or talk a pair
 * down to plain.  The session keys come from the ephemeral keys alone
 * (crypto_kx), mixed with K, and are gone with the connection: a token
 * stolen later does not open what was recorded. */
#define GREET_LEN (RAY_MAGIC_LEN + RAY_NONCE_LEN + 32 + 1)
#define REPLY_LEN (RAY_NONCE_LEN + 32 + 1 + RAY_MAC_LEN)
#define F_REQUIRE 1
#define F_AES 2

static void hs_mac(const ray_hs *h, char role, unsigned char out[RAY_MAC_LEN])
{
	unsigned char msg[1 + 2 * RAY_NONCE_LEN + 64 + 2], *m = msg;
	const unsigned char *ps = h->role == 'S' ? h->pk : h->peer_pk;
	const unsigned char *pc = h->role == 'S' ? h->peer_pk : h->pk;

	*m++ = (unsigned char)role;
	memcpy(m, h->ns, RAY_NONCE_LEN), m += RAY_NONCE_LEN;
	memcpy(m, h->nc, RAY_NONCE_LEN), m += RAY_NONCE_LEN;
	memcpy(m, ps, 32), m += 32;
	memcpy(m, pc, 32), m += 32;
	*m++ = h->sflags;
	*m++ = (unsigned char)h->mode;
	crypto_auth(out, msg, sizeof(msg), h->key);
}

void ray_hs_init(ray_hs *h, char role, const unsigned char *key, int secure)
{
	memset(h, 0, sizeof(*h));
	h->role = role;
	h->key = key;
	h->secure = secure;
	if (role == 'S') {
		randombytes_buf(h->ns, sizeof(h->ns));
		crypto_kx_keypair(h->pk, h->sk);
		h->sflags = (unsigned char)((secure > 0 ? F_REQUIRE : 0) | (ray_sec_aes_ok() ? F_AES : 0));
		memcpy(h->out, RAY_MAGIC, RAY_MAGIC_LEN);
		memcpy(h->out + RAY_MAGIC_LEN, h->ns, RAY_NONCE_LEN);
		memcpy(h->out + RAY_MAGIC_LEN + RAY_NONCE_LEN, h->pk, 32);
		h->out[GREET_LEN - 1] = h->sflags;
		h->outlen = GREET_LEN;
	}
}

static int hs_client(ray_hs *h, const unsigned char *in, size_t len, size_t *used)
{
	if (h->step == 0) {
		unsigned char *o = h->out + h->outlen;

		if (len < GREET_LEN)
			return RAY_HS_MORE;
		if (memcmp(in, RAY_MAGIC, RAY_MAGIC_LEN))
			return RAY_HS_BADMAGIC;
		memcpy(h->ns, in + RAY_MAGIC_LEN, RAY_NONCE_LEN);
		memcpy(h->peer_pk, in + RAY_MAGIC_LEN + RAY_NONCE_LEN, 32);
		h->sflags = in[GREET_LEN - 1];
		if ((h->sflags & F_REQUIRE) && h->secure < 0)
			return RAY_HS_BADMODE;
		if (h->secure > 0 || (h->sflags & F_REQUIRE)) {
			h->mode = (h->sflags & F_AES) && ray_sec_aes_ok() ? 2 : 1;
			crypto_kx_keypair(h->pk, h->sk);
		}
		randombytes_buf(h->nc, sizeof(h->nc));
		memcpy(o, h->nc, RAY_NONCE_LEN);
		memcpy(o + RAY_NONCE_LEN, h->pk, 32);
		o[RAY_NONCE_LEN + 32] = (unsigned char)h->mode;
		hs_mac(h, 'C', o + RAY_NONCE_LEN + 33);
		h->outlen += REPLY_LEN;
		*used = GREET_LEN;
		in += *used;
		len -= *used;
		h->step = 1;
	}
	if (len < RAY_MAC_LEN)
		return RAY_HS_MORE;
	{
		unsigned char want[RAY_MAC_LEN];
		hs_mac(h, 'S', want);
		if (sodium_memcmp(in, want, RAY_MAC_LEN))
			return RAY_HS_BADMAC;
	}
	*used += RAY_MAC_LEN;
	h->step = 2;
	return RAY_HS_DONE;
}

static int hs_server(ray_hs *h, const unsigned char *in, size_t len, size_t *used)
{
	unsigned char want[RAY_MAC_LEN];

	if (len < REPLY_LEN)
		return RAY_HS_MORE;
	memcpy(h->nc, in, RAY_NONCE_LEN);
	memcpy(h->peer_pk, in + RAY_NONCE_LEN, 32);
	h->mode = in[RAY_NONCE_LEN + 32];
	hs_mac(h, 'C', want);
	if (sodium_memcmp(in + RAY_NONCE_LEN + 33, want, RAY_MAC_LEN))
		return RAY_HS_BADMAC;
	/* Authentic, but asks for less than this node requires, or for a
	 * cipher it does not have. */
	if (h->mode > 2 || (h->mode == 0 && (h->sflags & F_REQUIRE)) ||
	    (h->mode == 2 && !(h->sflags & F_AES)))
		return RAY_HS_BADMODE;
	hs_mac(h, 'S', h->out + h->outlen);
	h->outlen += RAY_MAC_LEN;
	*used = REPLY_LEN;
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

int ray_hs_session(ray_hs *h, ray_sec *s)
{
	unsigned char rx[crypto_kx_SESSIONKEYBYTES], tx[crypto_kx_SESSIONKEYBYTES];
	int rc;

	memset(s, 0, sizeof(*s));
	if (h->step != 2)
		return RAY_EUNREACH;
	if (h->mode) {
		rc = h->role == 'S' ? crypto_kx_server_session_keys(rx, tx, h->pk, h->sk, h->peer_pk)
		                    : crypto_kx_client_session_keys(rx, tx, h->pk, h->sk, h->peer_pk);
		if (rc) {
			sodium_memzero(h->sk, sizeof(h->sk));
			return RAY_EUNREACH;  /* a peer key of small order */
		}
		crypto_generichash(s->rx, sizeof(s->rx), rx, sizeof(rx), h->key, RAY_KEY_LEN);
		crypto_generichash(s->tx, sizeof(s->tx), tx, sizeof(tx), h->key, RAY_KEY_LEN);
		s->aes = h->mode == 2;
		s->on = 1;
		sodium_memzero(rx, sizeof(rx));
		sodium_memzero(tx, sizeof(tx));
	}
	sodium_memzero(h->sk, sizeof(h->sk));
	return 0;
}
