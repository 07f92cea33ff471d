/* parse.c: lib/parse.c parses numbers, sizes, quantities, seconds and refs
 * strictly: "3x" is an error, never 3. */
#include <stdint.h>

#include "ray.h"
#include "unit.h"

static void sizes(void)
{
	uint64_t v = 0;

	CHECK_EQ_INT(ray_parse_size("0", &v), 0); CHECK_EQ_INT(v, 0);
	CHECK_EQ_INT(ray_parse_size("512", &v), 0); CHECK_EQ_INT(v, 512);
	CHECK_EQ_INT(ray_parse_size("64K", &v), 0); CHECK_EQ_INT(v, 64 << 10);
	CHECK_EQ_INT(ray_parse_size("64k", &v), 0); CHECK_EQ_INT(v, 64 << 10);
	CHECK_EQ_INT(ray_parse_size("3M", &v), 0); CHECK_EQ_INT(v, 3 << 20);
	CHECK_EQ_INT(ray_parse_size("2G", &v), 0); CHECK_EQ_INT(v, 2ull << 30);
	CHECK_EQ_INT(ray_parse_size("1T", &v), 0); CHECK_EQ_INT(v, 1ull << 40);
	CHECK_EQ_INT(ray_parse_size("2GiB", &v), 0); CHECK_EQ_INT(v, 2ull << 30);
	CHECK_EQ_INT(ray_parse_size("2GB", &v), 0); CHECK_EQ_INT(v, 2ull << 30);
	CHECK_EQ_INT(ray_parse_size("18446744073709551615", &v), 0);
	CHECK(v == UINT64_MAX);

	v = 7;
	CHECK_EQ_INT(ray_parse_size("", &v), RAY_EUSAGE);
	CHECK_EQ_INT(ray_parse_size(NULL, &v), RAY_EUSAGE);
	CHECK_EQ_INT(ray_parse_size("G", &v), RAY_EUSAGE);
	CHECK_EQ_INT(ray_parse_size("2X", &v), RAY_EUSAGE);
	CHECK_EQ_INT(ray_parse_size("2GG", &v), RAY_EUSAGE);
	CHECK_EQ_INT(ray_parse_size("2Gi", &v), RAY_EUSAGE);
	CHECK_EQ_INT(ray_parse_size("2 G", &v), RAY_EUSAGE);
	CHECK_EQ_INT(ray_parse_size(" 2G", &v), RAY_EUSAGE);
	CHECK_EQ_INT(ray_parse_size("-1", &v), RAY_EUSAGE);
	CHECK_EQ_INT(ray_parse_size("+1", &v), RAY_EUSAGE);
	CHECK_EQ_INT(ray_parse_size("1.5G", &v), RAY_EUSAGE);
	CHECK_EQ_INT(ray_parse_size("0x10", &v), RAY_EUSAGE);
	CHECK_EQ_INT(ray_parse_size("18446744073709551616", &v), RAY_EUSAGE);
	CHECK_EQ_INT(ray_parse_size("16777216T", &v), RAY_EUSAGE); /* 2^64 bytes */
	CHECK_EQ_INT(ray_parse_size("16777215T", &v), 0);
	CHECK_EQ_INT(v, 16777215ull << 40);
}

static void uints(void)
{
	uint64_t v = 0;

	CHECK_EQ_INT(ray_parse_uint("0", &v), 0); CHECK_EQ_INT(v, 0);
	CHECK_EQ_INT(ray_parse_uint("3", &v), 0); CHECK_EQ_INT(v, 3);
	CHECK_EQ_INT(ray_parse_uint("007", &v), 0); CHECK_EQ_INT(v, 7);
	v = 42;
	CHECK_EQ_INT(ray_parse_uint("3x", &v), RAY_EUSAGE);
	CHECK_EQ_INT(v, 42);   /* untouched on error */
	CHECK_EQ_INT(ray_parse_uint("", &v), RAY_EUSAGE);
	CHECK_EQ_INT(ray_parse_uint(NULL, &v), RAY_EUSAGE);
	CHECK_EQ_INT(ray_parse_uint("-3", &v), RAY_EUSAGE);
	CHECK_EQ_INT(ray_parse_uint(" 3", &v), RAY_EUSAGE);
	CHECK_EQ_INT(ray_parse_uint("3 ", &v), RAY_EUSAGE);
	CHECK_EQ_INT(ray_parse_uint("1e3", &v), RAY_EUSAGE);
	CHECK_EQ_INT(ray_parse_uint("99999999999999999999", &v), RAY_EUSAGE);
}

static void qtys(void)
{
	int64_t q = 0;

	CHECK_EQ_INT(ray_parse_qty("2", &q), 0); CHECK_EQ_INT(q, 20000);
	CHECK_EQ_INT(ray_parse_qty("0.5", &q), 0); CHECK_EQ_INT(q, 5000);
	CHECK_EQ_INT(ray_parse_qty(".5", &q), 0); CHECK_EQ_INT(q, 5000);
	CHECK_EQ_INT(ray_parse_qty("1.", &q), 0); CHECK_EQ_INT(q, 10000);
	CHECK_EQ_INT(ray_parse_qty("0.0001", &q), 0); CHECK_EQ_INT(q, 1);
	CHECK_EQ_INT(ray_parse_qty("1.2345", &q), 0); CHECK_EQ_INT(q, 12345);
	CHECK_EQ_INT(ray_parse_qty("0", &q), 0); CHECK_EQ_INT(q, 0);
	CHECK_EQ_INT(ray_parse_qty("99", &q), 0); CHECK_EQ_INT(q, 990000);

	q = 9;
	CHECK_EQ_INT(ray_parse_qty("0.00001", &q), RAY_EUSAGE);
	CHECK_EQ_INT(q, 9);
	CHECK_EQ_INT(ray_parse_qty("", &q), RAY_EUSAGE);
	CHECK_EQ_INT(ray_parse_qty(NULL, &q), RAY_EUSAGE);
	CHECK_EQ_INT(ray_parse_qty(".", &q), RAY_EUSAGE);
	CHECK_EQ_INT(ray_parse_qty("3x", &q), RAY_EUSAGE);
	CHECK_EQ_INT(ray_parse_qty("-1", &q), RAY_EUSAGE);
	CHECK_EQ_INT(ray_parse_qty("1.5.5", &q), RAY_EUSAGE);
	CHECK_EQ_INT(ray_parse_qty("1e2", &q), RAY_EUSAGE);
	CHECK_EQ_INT(ray_parse_qty(" 1", &q), RAY_EUSAGE);
	CHECK_EQ_INT(ray_parse_qty("99999999999999999999", &q), RAY_EUSAGE);
}

static void seconds(void)
{
	int64_t ms = 0;

	CHECK_EQ_INT(ray_parse_seconds("1", &ms), 0); CHECK_EQ_INT(ms, 1000);
	CHECK_EQ_INT(ray_parse_seconds("1.5", &ms), 0); CHECK_EQ_INT(ms, 1500);
	CHECK_EQ_INT(ray_parse_seconds("0.25", &ms), 0); CHECK_EQ_INT(ms, 250);
	CHECK_EQ_INT(ray_parse_seconds("0", &ms), 0); CHECK_EQ_INT(ms, 0);
	CHECK_EQ_INT(ray_parse_seconds("0.001", &ms), 0); CHECK_EQ_INT(ms, 1);
	CHECK_EQ_INT(ray_parse_seconds("3600", &ms), 0); CHECK_EQ_INT(ms, 3600000);
	CHECK_EQ_INT(ray_parse_seconds("5s", &ms), RAY_EUSAGE);
	CHECK_EQ_INT(ray_parse_seconds("-1", &ms), RAY_EUSAGE);
	CHECK_EQ_INT(ray_parse_seconds("soon", &ms), RAY_EUSAGE);
	CHECK_EQ_INT(ray_parse_seconds("", &ms), RAY_EUSAGE);
}

static void refs(void)
{
	char longest[RAY_REF_MAX + 2];

	CHECK(ray_ref_valid("0"));
	CHECK(ray_ref_valid("0123456789abcdef"));
	memset(longest, 'f', RAY_REF_MAX);
	longest[RAY_REF_MAX] = '\0';
	CHECK(ray_ref_valid(longest));
	longest[RAY_REF_MAX] = 'f';
	longest[RAY_REF_MAX + 1] = '\0';
	CHECK(!ray_ref_valid(longest));
	CHECK(!ray_ref_valid(""));
	CHECK(!ray_ref_valid(NULL));
	CHECK(!ray_ref_valid("ABCDEF"));
	CHECK(!ray_ref_valid("abcdeg"));
	CHECK(!ray_ref_valid("ab cd"));
	CHECK(!ray_ref_valid("abcd\n"));
	CHECK(!ray_ref_valid("@abcd"));
	CHECK(!ray_ref_valid("-"));
}

static void exit_codes(void)
{
	ray_err err = { 0, "" };

	CHECK_EQ_INT(ray_exit_code(0), 0);
	CHECK_EQ_INT(ray_exit_code(5), 0);
	CHECK_EQ_INT(ray_exit_code(RAY_EFAILED), 1);
	CHECK_EQ_INT(ray_exit_code(RAY_EUSAGE), 2);
	CHECK_EQ_INT(ray_exit_code(RAY_ETIMEOUT), 3);
	CHECK_EQ_INT(ray_exit_code(RAY_ECRASH), 6);
	CHECK_EQ_INT(ray_exit_code(RAY_EUNREACH), 8);
	CHECK_EQ_INT(ray_exit_code(RAY_ENOTFOUND), 10);
	CHECK_EQ_INT(ray_exit_code(-99), 1);
	CHECK_EQ_INT(ray_seterr(&err, RAY_EUSAGE, "bad '%s'", "x"), RAY_EUSAGE);
	CHECK_EQ_INT(err.code, RAY_EUSAGE);
	CHECK_EQ_STR(err.msg, "bad 'x'");
	CHECK_EQ_INT(ray_seterr(NULL, RAY_ETIMEOUT, "ignored"), RAY_ETIMEOUT);
}

int main(void)
{
	sizes();
	uints();
	qtys();
	seconds();
	refs();
	exit_codes();
	return unit_done("parse");
}
