/*
 * secure.c: the encrypted transport's record layer and the choice of
 * transport.  After a handshake that agreed on keys (auth.c), every byte a
 * side sends goes in records: a 4-byte big-endian length, then that many
 * bytes of AEAD ciphertext (AES-256-GCM where both ends have it, else
 * ChaCha20-Poly1305, both from libsodium) whose additional data is the
 * length and whose nonce is the record's number in its direction.  So a
 * record that was altered, replayed, reordered or cut short does not open,
 * and the connection is dropped.  The layer sits under the frames: it turns
 * a stream of bytes into records and back, and knows nothing of frames.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <sodium.h>

#include "rayint.h"

#define REC_HDR 4
#define TAG_LEN 16     /* both ciphers */

static void nonce_of(uint64_t n, unsigned char out[12])
{
	int i;

	memset(out, 0, 12);
	for (i = 0; i < 8; i++)
		out[11 - i] = (unsigned char)(n >> (8 * i));
}

int ray_sec_seal(ray_sec *s, const void *buf, size_t n, rbuf *out)
{
	const unsigned char *p = buf;

	/* All the records at once: growing by doubling would copy a large
	 * frame several times over. */
	if (rbuf_reserve(out, n + (n / RAY_REC_MAX + 1) * (REC_HDR + TAG_LEN)))
		return RAY_EUNREACH;

	while (n) {
		size_t chunk = n < RAY_REC_MAX ? n : RAY_REC_MAX;
		unsigned char hdr[REC_HDR], nonce[12], *dst;
		unsigned long long clen;
		uint32_t l = (uint32_t)(chunk + TAG_LEN);

		if (s->ntx == UINT64_MAX)
			return RAY_EUNREACH;      /* never reuse a nonce */
		if (rbuf_reserve(out, REC_HDR + chunk + TAG_LEN))
			return RAY_EUNREACH;
		l = htonl(l);
		memcpy(hdr, &l, REC_HDR);
		nonce_of(s->ntx++, nonce);
		dst = (unsigned char *)out->p + out->len;
		memcpy(dst, hdr, REC_HDR);
		if (s->aes)
			crypto_aead_aes256gcm_encrypt(dst + REC_HDR, &clen, p, chunk, hdr, REC_HDR,
			                              NULL, nonce, s->tx);
		else
			crypto_aead_chacha20poly1305_ietf_encrypt(dst + REC_HDR, &clen, p, chunk, hdr,
			                                          REC_HDR, NULL, nonce, s->tx);
		out->len += REC_HDR + (size_t)clen;
		p += chunk;
		n -= chunk;
	}
	return 0;
}

int ray_sec_next(const ray_sec *s, const char *buf, size_t len, size_t *plen, size_t *rlen)
{
	uint32_t l;

	if (len < REC_HDR)
		return 0;
	memcpy(&l, buf, REC_HDR);
	l = ntohl(l);
	if (l < TAG_LEN || l > RAY_REC_MAX + TAG_LEN || s->nrx == UINT64_MAX)
		return RAY_EUNREACH;
	if (len - REC_HDR < (size_t)l)
		return 0;
	*plen = l - TAG_LEN;
	*rlen = REC_HDR + (size_t)l;
	return 1;
}

int ray_sec_open_one(ray_sec *s, const char *rec, size_t rlen, void *dst)
{
	const unsigned char *r = (const unsigned char *)rec;
	unsigned char nonce[12];
	unsigned long long plen;
	int bad;

	nonce_of(s->nrx, nonce);
	if (s->aes)
		bad = crypto_aead_aes256gcm_decrypt(dst, &plen, NULL, r + REC_HDR, rlen - REC_HDR, r, REC_HDR,
		                                    nonce, s->rx);
	else
		bad = crypto_aead_chacha20poly1305_ietf_decrypt(dst, &plen, NULL, r + REC_HDR, rlen - REC_HDR,
		                                                r, REC_HDR, nonce, s->rx);
	if (bad)
		return RAY_EUNREACH;
	s->nrx++;
	return 0;
}

int ray_sec_open(ray_sec *s, rbuf *in, rbuf *out)
{
	size_t off = 0, plen, rlen;
	int rc;

	while ((rc = ray_sec_next(s, in->p + off, in->len - off, &plen, &rlen)) == 1) {
		if (rbuf_reserve(out, plen + TAG_LEN) ||
		    ray_sec_open_one(s, in->p + off, rlen, out->p + out->len)) {
			rc = RAY_EUNREACH;
			break;
		}
		out->len += plen;
		off += rlen;
	}
	rbuf_consume(in, off);
	return rc < 0 ? rc : 0;
}

void ray_sec_wipe(ray_sec *s)
{
	sodium_memzero(s, sizeof(*s));
}

int ray_sec_aes_ok(void)
{
	return sodium_init() >= 0 && crypto_aead_aes256gcm_is_available();
}

int ray_transport_parse(const char *s)
{
	if (!s || !*s)
		return RAY_TRANSPORT_AUTO;
	if (!strcmp(s, "plain"))
		return RAY_TRANSPORT_PLAIN;
	if (!strcmp(s, "encrypted"))
		return RAY_TRANSPORT_ENCRYPTED;
	return -1;
}

int ray_sockaddr_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		if (IN6_IS_ADDR_LOOPBACK(a))
			return 1;
		if (IN6_IS_ADDR_V4MAPPED(a))
			return a->s6_addr[12] == 127;
		return 0;
	}
	return 1;   /* a Unix socket: same host */
}

int ray_transport_secure(int transport, const struct sockaddr *peer)
{
	if (transport == RAY_TRANSPORT_PLAIN)
		return 0;
	if (transport == RAY_TRANSPORT_ENCRYPTED)
		return peer->sa_family != AF_UNIX;
	return !ray_sockaddr_loopback(peer);
}
