/* auth.c: the handshake MACs (lib/auth.c) verify only with the same key,
 * role and nonces; a token file is read as docs/design.md says. */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <sodium.h>

#include "rayint.h"
#include "unit.h"

static char dir[] = "/tmp/ray-unit-auth.XXXXXX";

static void write_file(const char *name, const char *text, char *path, size_t len)
{
	int fd;

	snprintf(path, len, "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0);
	if (fd >= 0) {
		CHECK((size_t)write(fd, text, strlen(text)) == strlen(text));
		close(fd);
	}
}

static void macs(void)
{
	unsigned char k[RAY_KEY_LEN], k2[RAY_KEY_LEN], ns[RAY_NONCE_LEN], nc[RAY_NONCE_LEN];
	unsigned char other[RAY_NONCE_LEN], mac[RAY_MAC_LEN], mac2[RAY_MAC_LEN];

	randombytes_buf(k, sizeof(k));
	memcpy(k2, k, sizeof(k));
	k2[0] ^= 1;
	randombytes_buf(ns, sizeof(ns));
	randombytes_buf(nc, sizeof(nc));
	memcpy(other, nc, sizeof(nc));
	other[RAY_NONCE_LEN - 1] ^= 0x80;

	ray_auth_mac(mac, k, 'C', ns, nc);
	CHECK_EQ_INT(ray_auth_verify(mac, k, 'C', ns, nc), 0);
	/* Deterministic: the same inputs give the same MAC. */
	ray_auth_mac(mac2, k, 'C', ns, nc);
	CHECK(memcmp(mac, mac2, sizeof(mac)) == 0);
	/* Wrong key. */
	CHECK_EQ_INT(ray_auth_verify(mac, k2, 'C', ns, nc), RAY_EUNREACH);
	/* Wrong role: a client's MAC is not the server's answer. */
	CHECK_EQ_INT(ray_auth_verify(mac, k, 'S', ns, nc), RAY_EUNREACH);
	/* Wrong nonces, either one, or swapped (no replay across sessions). */
	CHECK_EQ_INT(ray_auth_verify(mac, k, 'C', ns, other), RAY_EUNREACH);
	CHECK_EQ_INT(ray_auth_verify(mac, k, 'C', other, nc), RAY_EUNREACH);
	CHECK_EQ_INT(ray_auth_verify(mac, k, 'C', nc, ns), RAY_EUNREACH);
	/* A MAC with one bit flipped. */
	memcpy(mac2, mac, sizeof(mac));
	mac2[5] ^= 4;
	CHECK_EQ_INT(ray_auth_verify(mac2, k, 'C', ns, nc), RAY_EUNREACH);
	/* The server's answer differs from the client's proof. */
	ray_auth_mac(mac2, k, 'S', ns, nc);
	CHECK(memcmp(mac, mac2, sizeof(mac)) != 0);
	CHECK_EQ_INT(ray_auth_verify(mac2, k, 'S', ns, nc), 0);
	/* It is HMAC-SHA-512-256 over role || Ns || Nc (other clients rely on it). */
	{
		unsigned char msg[1 + 2 * RAY_NONCE_LEN], want[RAY_MAC_LEN];
		msg[0] = 'C';
		memcpy(msg + 1, ns, RAY_NONCE_LEN);
		memcpy(msg + 1 + RAY_NONCE_LEN, nc, RAY_NONCE_LEN);
		crypto_auth_hmacsha512256(want, msg, sizeof(msg), k);
		CHECK(memcmp(want, mac, sizeof(mac)) == 0);
	}
}

static void tokens(void)
{
	unsigned char k1[RAY_KEY_LEN], k2[RAY_KEY_LEN], k3[RAY_KEY_LEN];
	char p1[256], p2[256], p3[256], p4[256];
	ray_err err = { 0, "" };

	write_file("t1", "0123456789abcdef0123456789abcdef\n", p1, sizeof(p1));
	write_file("t2", "0123456789abcdef0123456789abcdef", p2, sizeof(p2));
	write_file("t3", "0123456789abcdef0123456789abcdeF\n", p3, sizeof(p3));
	write_file("short", "tooshort\n", p4, sizeof(p4));
	CHECK_EQ_INT(ray_token_key(p1, k1, &err), 0);
	/* A trailing newline does not change the key. */
	CHECK_EQ_INT(ray_token_key(p2, k2, &err), 0);
	CHECK(memcmp(k1, k2, sizeof(k1)) == 0);
	/* One character does. */
	CHECK_EQ_INT(ray_token_key(p3, k3, &err), 0);
	CHECK(memcmp(k1, k3, sizeof(k1)) != 0);
	/* The key is BLAKE2b-256 of the token. */
	crypto_generichash(k3, sizeof(k3), (const unsigned char *)"0123456789abcdef0123456789abcdef",
	                   32, NULL, 0);
	CHECK(memcmp(k1, k3, sizeof(k1)) == 0);
	CHECK_EQ_INT(ray_token_key(p4, k1, &err), RAY_EUNREACH);
	CHECK(strstr(err.msg, "too short") != NULL);
	snprintf(p4, sizeof(p4), "%s/missing", dir);
	CHECK_EQ_INT(ray_token_key(p4, k1, &err), RAY_EUNREACH);
	CHECK(strstr(err.msg, p4) != NULL);
	unlink(p1);
	unlink(p2);
	unlink(p3);
	snprintf(p4, sizeof(p4), "%s/short", dir);
	unlink(p4);
}

int main(void)
{
	if (sodium_init() < 0 || !mkdtemp(dir)) {
		fprintf(stderr, "auth: cannot set up\n");
		return 1;
	}
	macs();
	tokens();
	rmdir(dir);
	return unit_done("auth");
}
