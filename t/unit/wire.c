/* wire.c: the frame header (lib/wire.c) packs four big-endian u32s and
 * ray_hdr_check enforces the limits the daemon applies to every peer; the
 * growable buffer keeps its bytes straight. */
#include <stdint.h>
#include <stdlib.h>

#include "rayint.h"
#include "unit.h"

static void pack_unpack(void)
{
	unsigned char b[RAY_HDR_LEN];
	static const unsigned char want[RAY_HDR_LEN] = {
		0x00, 0x00, 0x01, 0x02, 0xde, 0xad, 0xbe, 0xef,
		0x00, 0x00, 0x00, 0x07, 0x80, 0x00, 0x00, 0x01
	};
	ray_hdr h = { 0x102, 0xdeadbeef, 7, 0x80000001 }, back;

	ray_hdr_pack(b, &h);
	CHECK(memcmp(b, want, sizeof(b)) == 0);
	memset(&back, 0, sizeof(back));
	ray_hdr_unpack(&back, b);
	CHECK_EQ_INT(back.json_len, 0x102);
	CHECK(back.data_len == 0xdeadbeef);
	CHECK_EQ_INT(back.req_id, 7);
	CHECK(back.flags == 0x80000001);

	h = (ray_hdr){ UINT32_MAX, UINT32_MAX, UINT32_MAX, UINT32_MAX };
	ray_hdr_pack(b, &h);
	ray_hdr_unpack(&back, b);
	CHECK(back.json_len == UINT32_MAX && back.data_len == UINT32_MAX);
	CHECK(back.req_id == UINT32_MAX && back.flags == UINT32_MAX);
}

static void limits(void)
{
	ray_hdr h = { 2, 0, 1, 0 };

	CHECK_EQ_INT(ray_hdr_check(&h, RAY_JSON_MAX, RAY_DATA_MAX), 0);
	h.json_len = RAY_JSON_MAX;
	h.data_len = RAY_DATA_MAX;
	CHECK_EQ_INT(ray_hdr_check(&h, RAY_JSON_MAX, RAY_DATA_MAX), 0);
	h.json_len = RAY_JSON_MAX + 1;
	CHECK_EQ_INT(ray_hdr_check(&h, RAY_JSON_MAX, RAY_DATA_MAX), RAY_EUNREACH);
	h.json_len = 2;
	h.data_len = RAY_DATA_MAX + 1;
	CHECK_EQ_INT(ray_hdr_check(&h, RAY_JSON_MAX, RAY_DATA_MAX), RAY_EUNREACH);
	h.data_len = UINT32_MAX;
	CHECK_EQ_INT(ray_hdr_check(&h, RAY_JSON_MAX, RAY_DATA_MAX), RAY_EUNREACH);
	/* A JSON object is at least "{}". */
	h.data_len = 0;
	h.json_len = 1;
	CHECK_EQ_INT(ray_hdr_check(&h, RAY_JSON_MAX, RAY_DATA_MAX), RAY_EUNREACH);
	h.json_len = 0;
	CHECK_EQ_INT(ray_hdr_check(&h, RAY_JSON_MAX, RAY_DATA_MAX), RAY_EUNREACH);
	/* Limits come from the caller. */
	h.json_len = 100;
	CHECK_EQ_INT(ray_hdr_check(&h, 99, 0), RAY_EUNREACH);
	CHECK_EQ_INT(ray_hdr_check(&h, 100, 0), 0);
	CHECK(RAY_JSON_MAX == 4u << 20);
	CHECK(RAY_DATA_MAX == 256u << 20);
}

static void buffers(void)
{
	rbuf b = { 0 };
	size_t i;

	CHECK_EQ_INT(rbuf_append(&b, "hello", 5), 0);
	CHECK_EQ_INT(rbuf_append(&b, " world", 6), 0);
	CHECK_EQ_INT(b.len, 11);
	CHECK(memcmp(b.p, "hello world", 11) == 0);
	rbuf_consume(&b, 6);
	CHECK_EQ_INT(b.len, 5);
	CHECK(memcmp(b.p, "world", 5) == 0);
	rbuf_consume(&b, 99);
	CHECK_EQ_INT(b.len, 0);
	for (i = 0; i < 100000; i++)
		if (rbuf_append(&b, &"0123456789"[i % 10], 1))
			break;
	CHECK_EQ_INT(b.len, 100000);
	CHECK(b.cap >= b.len);
	CHECK_EQ_INT(b.p[99999], '9');
	CHECK_EQ_INT(rbuf_append(&b, NULL, 0), 0);
	CHECK(rbuf_reserve(&b, SIZE_MAX) != 0);   /* refused, not wrapped */
	CHECK_EQ_INT(b.len, 100000);
	rbuf_release(&b);
	CHECK(b.p == NULL && b.len == 0 && b.cap == 0);
}

static void json_helpers(void)
{
	cJSON *o = cJSON_Parse("{\"s\":\"x\",\"n\":42,\"f\":1.5,\"t\":true,\"z\":0,"
	                       "\"big\":1e300,\"neg\":-1e300,\"arr\":[1]}");

	CHECK(o != NULL);
	CHECK_EQ_STR(rj_str(o, "s"), "x");
	CHECK(rj_str(o, "n") == NULL);
	CHECK(rj_str(o, "missing") == NULL);
	CHECK(rj_str(NULL, "s") == NULL);
	CHECK_EQ_INT(rj_int(o, "n", -1), 42);
	CHECK_EQ_INT(rj_int(o, "f", -1), 1);
	CHECK_EQ_INT(rj_int(o, "s", -1), -1);
	CHECK_EQ_INT(rj_int(o, "big", -1), -1);
	CHECK_EQ_INT(rj_int(o, "neg", -1), -1);
	CHECK_EQ_INT(rj_int(o, "missing", 7), 7);
	CHECK_EQ_INT(rj_bool(o, "t"), 1);
	CHECK_EQ_INT(rj_bool(o, "n"), 1);
	CHECK_EQ_INT(rj_bool(o, "z"), 0);
	CHECK_EQ_INT(rj_bool(o, "s"), 0);
	CHECK_EQ_INT(rj_bool(o, "missing"), 0);
	cJSON_Delete(o);
}

static void ids(void)
{
	char hex[33];
	size_t i;

	ray_random_hex(hex, 16);
	CHECK_EQ_INT(strlen(hex), 32);
	for (i = 0; i < 32; i++)
		CHECK((hex[i] >= '0' && hex[i] <= '9') || (hex[i] >= 'a' && hex[i] <= 'f'));
	CHECK(ray_ref_valid(hex));
}

/* Packed lists come off the wire: every malformed word is refused. */
static void packed(void)
{
	char w[8];
	uint64_t v = 0;
	const char *p;
	rbuf b = { 0 };

	CHECK(ray_packed_count("") == 0);
	CHECK(ray_packed_count("   ") == 0);
	CHECK(ray_packed_count("a") == 1);
	CHECK(ray_packed_count(" ab  cd e ") == 3);
	p = ray_packed_word(" ab  cd", w, sizeof(w));
	CHECK(p && !strcmp(w, "ab"));
	p = ray_packed_word(p, w, sizeof(w));
	CHECK(p && !strcmp(w, "cd"));
	CHECK(ray_packed_word(p, w, sizeof(w)) == NULL);
	CHECK(ray_packed_word("12345678", w, sizeof(w)) == NULL);   /* too long for w */
	CHECK(ray_packed_word("1234567", w, sizeof(w)) != NULL);
	p = ray_packed_uint("100 0 18446744073709551615", &v);
	CHECK(p && v == 100);
	p = ray_packed_uint(p, &v);
	CHECK(p && v == 0);
	p = ray_packed_uint(p, &v);
	CHECK(p && v == UINT64_MAX);
	CHECK(ray_packed_uint(p, &v) == NULL);
	CHECK(ray_packed_uint("18446744073709551616", &v) == NULL);   /* overflows */
	CHECK(ray_packed_uint("-1", &v) == NULL);
	CHECK(ray_packed_uint("12x", &v) == NULL);
	CHECK(ray_packed_uint("1e3", &v) == NULL);
	CHECK(ray_packed_uint("", &v) == NULL);
	CHECK(rbuf_add_word(&b, "ab") == 0 && rbuf_add_word(&b, "c") == 0 && rbuf_append(&b, "", 1) == 0);
	CHECK(!strcmp(b.p, "ab c"));
	rbuf_release(&b);
}

int main(void)
{
	pack_unpack();
	limits();
	buffers();
	json_helpers();
	ids();
	packed();
	return unit_done("wire");
}
