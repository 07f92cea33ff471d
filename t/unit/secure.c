/* secure.c: the record layer (lib/secure.c) under every encrypted link:
 * what one side seals the other opens, whole, in order and only once; a
 * flipped bit, a replayed, reordered or oversized record, a wrong key and
 * an exhausted counter are all refused; and the transport settings pick
 * encryption by address as documented. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <sodium.h>

#include "rayint.h"
#include "unit.h"

static void pair(ray_sec *a, ray_sec *b, int aes)
{
	memset(a, 0, sizeof(*a));
	memset(b, 0, sizeof(*b));
	a->on = b->on = 1;
	a->aes = b->aes = aes;
	randombytes_buf(a->tx, 32);
	randombytes_buf(a->rx, 32);
	memcpy(b->rx, a->tx, 32);
	memcpy(b->tx, a->rx, 32);
}

static void roundtrip(int aes)
{
	ray_sec a, b;
	rbuf w = { 0 }, r = { 0 }, copy = { 0 };
	size_t big = 3 * RAY_REC_MAX + 123, i;
	char *data = malloc(big);

	pair(&a, &b, aes);
	for (i = 0; i < big; i++)
		data[i] = (char)(i * 7);
	CHECK_EQ_INT(ray_sec_seal(&a, data, big, &w), 0);
	CHECK_EQ_INT(a.ntx, 4);                  /* split into records */
	/* Delivered a byte at a time at first, then the rest at once. */
	rbuf_append(&copy, w.p, w.len);
	for (i = 0; i < 10; i++) {
		rbuf part = { 0 };
		rbuf_append(&part, copy.p, i);
		CHECK_EQ_INT(ray_sec_open(&b, &part, &r), 0);
		CHECK_EQ_INT(r.len, 0);
		CHECK_EQ_INT(part.len, i);          /* nothing taken of half a record */
		rbuf_release(&part);
	}
	CHECK_EQ_INT(ray_sec_open(&b, &w, &r), 0);
	CHECK_EQ_INT(r.len, big);
	CHECK(memcmp(r.p, data, big) == 0);
	CHECK_EQ_INT(w.len, 0);

	/* A replay of the same records is refused. */
	r.len = 0;
	CHECK_EQ_INT(ray_sec_open(&b, &copy, &r), RAY_EUNREACH);

	/* A flipped bit anywhere: in the length, the body or the tag. */
	{
		size_t where[] = { 2, 4, 100, 20 + 16 };
		for (i = 0; i < sizeof(where) / sizeof(where[0]); i++) {
			ray_sec x, y;
			rbuf s = { 0 }, o = { 0 };
			pair(&x, &y, aes);
			ray_sec_seal(&x, "attack at dawn", 14, &s);
			if (where[i] >= s.len)
				where[i] = s.len - 1;
			s.p[where[i]] ^= 1;
			/* Refused, or (a longer length) still waiting: never opened. */
			int rc = ray_sec_open(&y, &s, &o);
			CHECK_EQ_INT(o.len, 0);
			CHECK(rc != 0 || s.len > 0);
			rbuf_release(&s);
			rbuf_release(&o);
		}
	}
	/* Two records swapped in flight. */
	{
		ray_sec x, y;
		rbuf s1 = { 0 }, s2 = { 0 }, o = { 0 };
		pair(&x, &y, aes);
		ray_sec_seal(&x, "first", 5, &s1);
		ray_sec_seal(&x, "second", 6, &s2);
		CHECK_EQ_INT(ray_sec_open(&y, &s2, &o), RAY_EUNREACH);
		CHECK_EQ_INT(o.len, 0);
		rbuf_release(&s1);
		rbuf_release(&s2);
		rbuf_release(&o);
	}
	/* Another key. */
	{
		ray_sec x, y, z;
		rbuf s = { 0 }, o = { 0 };
		pair(&x, &y, aes);
		pair(&z, &y, aes);
		ray_sec_seal(&x, "secret", 6, &s);
		CHECK_EQ_INT(ray_sec_open(&y, &s, &o), RAY_EUNREACH);
		rbuf_release(&s);
		rbuf_release(&o);
	}
	/* A length over the limit is refused from the header alone. */
	{
		ray_sec x, y;
		rbuf s = { 0 }, o = { 0 };
		uint32_t l = htonl(RAY_REC_MAX + 17);
		pair(&x, &y, aes);
		rbuf_append(&s, &l, 4);
		CHECK_EQ_INT(ray_sec_open(&y, &s, &o), RAY_EUNREACH);
		l = htonl(3);     /* shorter than a tag */
		s.len = 0;
		rbuf_append(&s, &l, 4);
		rbuf_append(&s, "abc", 3);
		CHECK_EQ_INT(ray_sec_open(&y, &s, &o), RAY_EUNREACH);
		rbuf_release(&s);
		rbuf_release(&o);
	}
	/* A counter at its end is never reused. */
	{
		ray_sec x, y;
		rbuf s = { 0 };
		pair(&x, &y, aes);
		x.ntx = UINT64_MAX;
		CHECK_EQ_INT(ray_sec_seal(&x, "x", 1, &s), RAY_EUNREACH);
		CHECK_EQ_INT(s.len, 0);
		rbuf_release(&s);
	}
	rbuf_release(&w);
	rbuf_release(&r);
	rbuf_release(&copy);
	free(data);
}

static void transports(void)
{
	struct sockaddr_in v4 = { .sin_family = AF_INET };
	struct sockaddr_in6 v6 = { .sin6_family = AF_INET6 };
	struct sockaddr_un un = { .sun_family = AF_UNIX };

	CHECK_EQ_INT(ray_transport_parse(NULL), RAY_TRANSPORT_AUTO);
	CHECK_EQ_INT(ray_transport_parse("plain"), RAY_TRANSPORT_PLAIN);
	CHECK_EQ_INT(ray_transport_parse("encrypted"), RAY_TRANSPORT_ENCRYPTED);
	CHECK_EQ_INT(ray_transport_parse("tls"), -1);
	inet_pton(AF_INET, "127.0.0.2", &v4.sin_addr);
	CHECK_EQ_INT(ray_transport_secure(RAY_TRANSPORT_AUTO, (struct sockaddr *)&v4), 0);
	CHECK_EQ_INT(ray_transport_secure(RAY_TRANSPORT_ENCRYPTED, (struct sockaddr *)&v4), 1);
	inet_pton(AF_INET, "10.1.2.3", &v4.sin_addr);
	CHECK_EQ_INT(ray_transport_secure(RAY_TRANSPORT_AUTO, (struct sockaddr *)&v4), 1);
	CHECK_EQ_INT(ray_transport_secure(RAY_TRANSPORT_PLAIN, (struct sockaddr *)&v4), 0);
	inet_pton(AF_INET6, "::1", &v6.sin6_addr);
	CHECK_EQ_INT(ray_transport_secure(RAY_TRANSPORT_AUTO, (struct sockaddr *)&v6), 0);
	inet_pton(AF_INET6, "::ffff:127.0.0.1", &v6.sin6_addr);
	CHECK_EQ_INT(ray_transport_secure(RAY_TRANSPORT_AUTO, (struct sockaddr *)&v6), 0);
	inet_pton(AF_INET6, "fd00::1", &v6.sin6_addr);
	CHECK_EQ_INT(ray_transport_secure(RAY_TRANSPORT_AUTO, (struct sockaddr *)&v6), 1);
	CHECK_EQ_INT(ray_transport_secure(RAY_TRANSPORT_ENCRYPTED, (struct sockaddr *)&un), 0);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	roundtrip(0);
	if (ray_sec_aes_ok())
		roundtrip(1);
	transports();
	return unit_done("secure");
}
