/* frame.c: the I/O-free handshake (lib/auth.c) and frame codec
 * (lib/wire.c) that the client, the daemon's server and its peer links all
 * run: both roles agree byte by byte, a wrong token or a stranger is
 * refused, and a frame is taken whole, never early, never over the limits. */
#include <stdint.h>
#include <stdlib.h>

#include <sodium.h>

#include "rayint.h"
#include "unit.h"

/* What is on the wire towards one side, and what has reached it. */
typedef struct pipe_ {
	unsigned char wire[256], in[256];
	size_t nwire, nin;
} pipe_;

/* Moves what h has to say onto the wire, delivers up to step bytes, and
 * feeds the receiver all it has so far (as the real readers do). */
static void deliver(ray_hs *from, pipe_ *p, ray_hs *to, size_t step, int *st)
{
	size_t give, used;

	memcpy(p->wire + p->nwire, from->out, from->outlen);
	p->nwire += from->outlen;
	from->outlen = 0;
	give = p->nwire < step ? p->nwire : step;
	memcpy(p->in + p->nin, p->wire, give);
	p->nin += give;
	memmove(p->wire, p->wire + give, p->nwire - give);
	p->nwire -= give;
	if (*st != RAY_HS_MORE)
		return;
	*st = ray_hs_feed(to, p->in, p->nin, &used);
	memmove(p->in, p->in + used, p->nin - used);
	p->nin -= used;
}

/* Runs a client and a server against each other, `step` bytes a turn;
 * the final states, and the handshakes for their session keys. */
static void converse(const unsigned char *kc, const unsigned char *ks, size_t step,
                     int secure, int require, ray_hs *c, ray_hs *s,
                     int *client_st, int *server_st)
{
	pipe_ to_c = { .nwire = 0 }, to_s = { .nwire = 0 };
	int i;

	ray_hs_init(c, 'C', kc, secure);
	ray_hs_init(s, 'S', ks, require);
	*client_st = *server_st = RAY_HS_MORE;
	for (i = 0; i < 400 && (*client_st == RAY_HS_MORE || *server_st == RAY_HS_MORE); i++) {
		deliver(s, &to_c, c, step, client_st);
		deliver(c, &to_s, s, step, server_st);
		if (*client_st < 0 || *server_st < 0)
			break;
	}
}

/* Both ends' sessions agree: what one seals the other opens. */
static int sessions_agree(ray_hs *c, ray_hs *s, int want_on)
{
	ray_sec sc, ss;
	rbuf a = { 0 }, b = { 0 };
	int ok;

	CHECK_EQ_INT(ray_hs_session(c, &sc), 0);
	CHECK_EQ_INT(ray_hs_session(s, &ss), 0);
	CHECK_EQ_INT(sc.on, want_on);
	CHECK_EQ_INT(ss.on, want_on);
	if (!want_on)
		return 1;
	CHECK(ray_sec_seal(&sc, "hello node", 10, &a) == 0);
	CHECK(ray_sec_open(&ss, &a, &b) == 0);
	ok = b.len == 10 && memcmp(b.p, "hello node", 10) == 0 && a.len == 0;
	a.len = b.len = 0;
	CHECK(ray_sec_seal(&ss, "hello client", 12, &a) == 0);
	CHECK(ray_sec_open(&sc, &a, &b) == 0);
	ok = ok && b.len == 12 && memcmp(b.p, "hello client", 12) == 0;
	/* Each direction has its own key: a side cannot open its own. */
	a.len = b.len = 0;
	CHECK(ray_sec_seal(&sc, "x", 1, &a) == 0);
	CHECK(ray_sec_open(&sc, &a, &b) == RAY_EUNREACH);
	rbuf_release(&a);
	rbuf_release(&b);
	return ok;
}

static void handshake(void)
{
	unsigned char k1[RAY_KEY_LEN], k2[RAY_KEY_LEN];
	int cs, ss;
	size_t step, used;
	ray_hs c, s;

	memset(k1, 7, sizeof(k1));
	memset(k2, 8, sizeof(k2));
	for (step = 1; step <= 128; step *= 2) {
		converse(k1, k1, step, 0, 0, &c, &s, &cs, &ss);
		CHECK_EQ_INT(cs, RAY_HS_DONE);
		CHECK_EQ_INT(ss, RAY_HS_DONE);
		CHECK(sessions_agree(&c, &s, 0));
	}
	/* Encrypted when the client asks, or when the node requires it. */
	converse(k1, k1, 16, 1, 0, &c, &s, &cs, &ss);
	CHECK(cs == RAY_HS_DONE && ss == RAY_HS_DONE);
	CHECK(sessions_agree(&c, &s, 1));
	converse(k1, k1, 7, 0, 1, &c, &s, &cs, &ss);
	CHECK(cs == RAY_HS_DONE && ss == RAY_HS_DONE);
	CHECK(sessions_agree(&c, &s, 1));
	/* A client that insists on plain is told no by a node that requires. */
	converse(k1, k1, 64, -1, 1, &c, &s, &cs, &ss);
	CHECK_EQ_INT(cs, RAY_HS_BADMODE);
	CHECK(ss != RAY_HS_DONE);
	/* A client with another token: the server refuses it first. */
	converse(k2, k1, 64, 1, 0, &c, &s, &cs, &ss);
	CHECK_EQ_INT(ss, RAY_HS_BADMAC);
	CHECK(cs != RAY_HS_DONE);

	/* Something that is not a ray-node. */
	ray_hs_init(&c, 'C', k1, 0);
	CHECK_EQ_INT(ray_hs_feed(&c, "HTTP/1.1 400 Bad Request\r\n\r\n..............................................", 73, &used),
	             RAY_HS_BADMAGIC);
	/* The greeting alone is not enough, and a wrong server MAC fails. */
	{
		unsigned char buf[RAY_MAC_LEN] = { 0 };

		ray_hs_init(&s, 'S', k1, 0);
		CHECK_EQ_INT(s.outlen, RAY_MAGIC_LEN + RAY_NONCE_LEN + 33);
		CHECK(memcmp(s.out, RAY_MAGIC, RAY_MAGIC_LEN) == 0);
		ray_hs_init(&c, 'C', k1, 0);
		CHECK_EQ_INT(ray_hs_feed(&c, s.out, s.outlen - 1, &used), RAY_HS_MORE);
		CHECK_EQ_INT(used, 0);
		CHECK_EQ_INT(ray_hs_feed(&c, s.out, s.outlen, &used), RAY_HS_MORE);
		CHECK_EQ_INT(used, RAY_MAGIC_LEN + RAY_NONCE_LEN + 33);
		CHECK_EQ_INT(c.outlen, RAY_NONCE_LEN + 33 + RAY_MAC_LEN);
		CHECK_EQ_INT(ray_hs_feed(&c, buf, sizeof(buf), &used), RAY_HS_BADMAC);
	}
	/* A server must not accept a client MAC made for another nonce, nor
	 * one whose mode byte was changed on the way (talked down to plain). */
	{
		ray_hs s1, s2, cl;
		unsigned char forged[128];

		ray_hs_init(&s1, 'S', k1, 0);
		ray_hs_init(&s2, 'S', k1, 0);
		ray_hs_init(&cl, 'C', k1, 1);
		ray_hs_feed(&cl, s1.out, s1.outlen, &used);
		CHECK_EQ_INT(ray_hs_feed(&s2, cl.out, cl.outlen, &used), RAY_HS_BADMAC);
		memcpy(forged, cl.out, cl.outlen);
		forged[RAY_NONCE_LEN + 32] = 0;
		CHECK_EQ_INT(ray_hs_feed(&s1, forged, cl.outlen, &used), RAY_HS_BADMAC);
		ray_hs_init(&s1, 'S', k1, 0);
		ray_hs_init(&cl, 'C', k1, 1);
		ray_hs_feed(&cl, s1.out, s1.outlen, &used);
		CHECK_EQ_INT(ray_hs_feed(&s1, cl.out, cl.outlen, &used), RAY_HS_DONE);
	}
}

static void frames(void)
{
	cJSON *js = cJSON_CreateObject(), *arr;
	char *a, *b, *two, big[RAY_HDR_LEN];
	size_t la, lb, i;
	ray_frame f;
	ray_hdr h;

	cJSON_AddStringToObject(js, "op", "put");
	a = ray_frame_pack(5, js, "hello", 5, &la);
	CHECK(a != NULL);
	/* Every prefix is "not yet", with the size once the header is in. */
	for (i = 0; a && i < la; i++) {
		CHECK_EQ_INT(ray_frame_parse(a, i, &f), 0);
		CHECK_EQ_INT(f.total, i < RAY_HDR_LEN ? 0 : la);
		CHECK(f.js == NULL);
	}
	CHECK_EQ_INT(ray_frame_parse(a, la, &f), 1);
	CHECK_EQ_INT(f.req_id, 5);
	CHECK_EQ_INT(f.dlen, 5);
	CHECK(f.data && memcmp(f.data, "hello", 5) == 0);
	CHECK_EQ_STR(rj_str(f.js, "op"), "put");
	CHECK_EQ_INT(f.total, la);
	cJSON_Delete(f.js);

	/* Data counted but left for the caller to send after. */
	b = ray_frame_pack(6, js, NULL, 1000, &lb);
	CHECK(b && lb + 5 + 995 == la - 5 + 1000);
	CHECK_EQ_INT(ray_frame_parse(b, lb, &f), 0);
	CHECK_EQ_INT(f.total, lb + 1000);

	/* Two frames back to back come apart at the right place. */
	two = malloc(la * 2);
	memcpy(two, a, la);
	memcpy(two + la, a, la);
	CHECK_EQ_INT(ray_frame_parse(two, 2 * la, &f), 1);
	CHECK_EQ_INT(f.total, la);
	cJSON_Delete(f.js);
	CHECK_EQ_INT(ray_frame_parse(two + la, la, &f), 1);
	cJSON_Delete(f.js);

	/* Over the limits: refused from the header alone. */
	h = (ray_hdr){ RAY_JSON_MAX + 1, 0, 1, 0 };
	ray_hdr_pack((unsigned char *)big, &h);
	CHECK_EQ_INT(ray_frame_parse(big, sizeof(big), &f), RAY_EUNREACH);
	h = (ray_hdr){ 10, RAY_DATA_MAX + 1, 1, 0 };
	ray_hdr_pack((unsigned char *)big, &h);
	CHECK_EQ_INT(ray_frame_parse(big, sizeof(big), &f), RAY_EUNREACH);
	h = (ray_hdr){ 1, 0, 1, 0 };
	ray_hdr_pack((unsigned char *)big, &h);
	CHECK_EQ_INT(ray_frame_parse(big, sizeof(big), &f), RAY_EUNREACH);

	/* JSON that does not parse, or is not an object. */
	memcpy(two + RAY_HDR_LEN, "{\"op\":", 6);
	h = (ray_hdr){ 6, 0, 1, 0 };
	ray_hdr_pack((unsigned char *)two, &h);
	CHECK_EQ_INT(ray_frame_parse(two, RAY_HDR_LEN + 6, &f), RAY_EUNREACH);
	CHECK(f.js == NULL);
	memcpy(two + RAY_HDR_LEN, "[1,2]", 5);
	h = (ray_hdr){ 5, 0, 1, 0 };
	ray_hdr_pack((unsigned char *)two, &h);
	CHECK_EQ_INT(ray_frame_parse(two, RAY_HDR_LEN + 5, &f), RAY_EUNREACH);

	/* A request too large to send is refused when packing. */
	arr = cJSON_CreateObject();
	CHECK(ray_frame_pack(1, arr, NULL, (size_t)RAY_DATA_MAX + 1, &lb) == NULL);
	cJSON_Delete(arr);

	free(two);
	free(a);
	free(b);
	cJSON_Delete(js);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	handshake();
	frames();
	return unit_done("frame");
}
