/* res.c: cmd/ray-node/res.c, the daemon's resource arithmetic, its GPU
 * device table and its resource JSON codecs, checked on real values. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../cmd/ray-node/node.h"
#include "../../cmd/ray-node/res.h"
#include "unit.h"

static res parsed(const char *spec, int *rc)
{
	res r;
	ray_err err = { 0, "" };

	memset(&r, 0, sizeof(r));
	*rc = res_parse_custom(&r, spec, &err);
	return r;
}

static void test_parse_custom(void)
{
	char spec[1100], many[1024];
	res r;
	int rc, i;
	size_t o = 0;

	r = parsed("CPU=2,GPU=0.5,foo=3,bar=0.25", &rc);
	CHECK_EQ_INT(rc, 0);
	CHECK_EQ_INT(r.cpu, 2 * QTY_ONE);
	CHECK_EQ_INT(r.gpu, QTY_ONE / 2);
	CHECK_EQ_INT(r.ncustom, 2);
	CHECK_EQ_INT(res_custom_get(&r, "foo"), 3 * QTY_ONE);
	CHECK_EQ_INT(res_custom_get(&r, "bar"), 2500);
	CHECK_EQ_INT(res_custom_get(&r, "baz"), 0);
	/* A name given twice keeps one slot, the last quantity. */
	r = parsed("foo=1,foo=4", &rc);
	CHECK_EQ_INT(rc, 0);
	CHECK_EQ_INT(r.ncustom, 1);
	CHECK_EQ_INT(res_custom_get(&r, "foo"), 4 * QTY_ONE);

	parsed("foo", &rc);
	CHECK_EQ_INT(rc, RAY_EUSAGE);
	parsed("=3", &rc);
	CHECK_EQ_INT(rc, RAY_EUSAGE);
	parsed("foo=", &rc);
	CHECK_EQ_INT(rc, RAY_EUSAGE);
	parsed("foo=x", &rc);
	CHECK_EQ_INT(rc, RAY_EUSAGE);
	parsed("foo=-1", &rc);
	CHECK_EQ_INT(rc, RAY_EUSAGE);
	parsed("foo=1.00001", &rc);
	CHECK_EQ_INT(rc, RAY_EUSAGE);
	parsed("CPU=1,bar=2x", &rc);
	CHECK_EQ_INT(rc, RAY_EUSAGE);
	/* A name of 64 bytes does not fit the 63 a slot holds. */
	memset(spec, 'n', 64);
	snprintf(spec + 64, sizeof(spec) - 64, "=1");
	parsed(spec, &rc);
	CHECK_EQ_INT(rc, RAY_EUSAGE);
	spec[1] = '=';
	snprintf(spec + 2, sizeof(spec) - 2, "1");
	r = parsed(spec, &rc);
	CHECK_EQ_INT(rc, 0);
	CHECK_EQ_INT(res_custom_get(&r, "n"), QTY_ONE);
	/* MAX_CUSTOM names fit; one more does not. */
	for (i = 0; i < MAX_CUSTOM + 1; i++)
		o += (size_t)snprintf(many + o, sizeof(many) - o, "%sr%d=1", i ? "," : "", i);
	parsed(many, &rc);
	CHECK_EQ_INT(rc, RAY_EUSAGE);
	*strrchr(many, ',') = '\0';
	r = parsed(many, &rc);
	CHECK_EQ_INT(rc, 0);
	CHECK_EQ_INT(r.ncustom, MAX_CUSTOM);
	/* A list longer than the parser's buffer is refused whole. */
	memset(spec, 'a', sizeof(spec) - 1);
	spec[sizeof(spec) - 1] = '\0';
	parsed(spec, &rc);
	CHECK_EQ_INT(rc, RAY_EUSAGE);
}

static void test_arith(void)
{
	res have, need, big;
	char why[200];
	int rc;

	have = parsed("CPU=4,GPU=1,foo=2", &rc);
	have.mem = 1000;
	need = parsed("CPU=1,foo=1", &rc);
	CHECK(res_fits(&need, &have));
	need.mem = 1001;
	CHECK(!res_fits(&need, &have));
	need.mem = 0;
	need = parsed("CPU=1,bar=1", &rc);
	CHECK(!res_fits(&need, &have));            /* bar: none at all */
	need = parsed("CPU=5", &rc);
	CHECK(!res_fits(&need, &have));
	need = parsed("CPU=1.5,foo=2", &rc);
	res_sub(&have, &need);
	CHECK_EQ_INT(have.cpu, 25000);
	CHECK_EQ_INT(res_custom_get(&have, "foo"), 0);
	CHECK(!res_fits(&need, &have));
	res_add(&have, &need);
	CHECK_EQ_INT(have.cpu, 4 * QTY_ONE);
	CHECK_EQ_INT(res_custom_get(&have, "foo"), 2 * QTY_ONE);
	CHECK(res_fits(&need, &have));
	/* Subtracting a resource the pool never had makes a debt slot. */
	need = parsed("bar=1", &rc);
	res_sub(&have, &need);
	CHECK_EQ_INT(res_custom_get(&have, "bar"), -QTY_ONE);
	CHECK_EQ_INT(have.ncustom, 2);

	big = parsed("CPU=2,GPU=1,foo=1", &rc);
	have = parsed("CPU=3,GPU=0.5,foo=5,bar=1", &rc);
	res_clamp(&have, &big);
	CHECK_EQ_INT(have.cpu, 2 * QTY_ONE);
	CHECK_EQ_INT(have.gpu, QTY_ONE / 2);
	CHECK_EQ_INT(res_custom_get(&have, "foo"), QTY_ONE);
	CHECK_EQ_INT(res_custom_get(&have, "bar"), 0);   /* big has none */

	need = parsed("CPU=1", &rc);
	CHECK(res_missing(&need, &big, why, sizeof(why)) == NULL);
	need = parsed("CPU=3", &rc);
	CHECK_EQ_STR(res_missing(&need, &big, why, sizeof(why)), "3 CPU (the largest node has 2)");
	need = parsed("GPU=2", &rc);
	CHECK_EQ_STR(res_missing(&need, &big, why, sizeof(why)), "2 GPU (the largest node has 1)");
	need = parsed("foo=0.5,tpu=1", &rc);
	CHECK_EQ_STR(res_missing(&need, &big, why, sizeof(why)), "1 tpu");
}

static void test_gpu(void)
{
	res whole2, half, quarter, one, three;
	char a[128], b[128], c[128], d[128];
	int rc;

	N->total.gpu = 4 * QTY_ONE;
	whole2 = parsed("GPU=2", &rc);
	half = parsed("GPU=0.5", &rc);
	quarter = parsed("GPU=0.25", &rc);
	one = parsed("GPU=1", &rc);
	three = parsed("GPU=3", &rc);
	CHECK(gpu_can_take(&three));
	gpu_take(&whole2, a, sizeof(a));
	CHECK_EQ_STR(a, "0,1");
	CHECK(!gpu_can_take(&three));
	/* A fraction goes to the fullest device with room: the first free. */
	gpu_take(&half, b, sizeof(b));
	CHECK_EQ_STR(b, "2");
	gpu_take(&quarter, c, sizeof(c));
	CHECK_EQ_STR(c, "2");                        /* packed beside the half */
	CHECK(gpu_can_take(&one));                   /* device 3 is whole */
	CHECK(!gpu_can_take(&whole2));
	gpu_take(&one, d, sizeof(d));
	CHECK_EQ_STR(d, "3");
	CHECK(gpu_can_take(&quarter));               /* 0.25 left on device 2 */
	CHECK(!gpu_can_take(&half));
	gpu_give(&half, b);
	CHECK_EQ_STR(b, "");
	CHECK(gpu_can_take(&half));
	gpu_give(&whole2, a);
	CHECK(gpu_can_take(&whole2));
	CHECK(!gpu_can_take(&three));
	gpu_give(&quarter, c);
	gpu_give(&one, d);
	CHECK(gpu_can_take(&three));
	gpu_take(&three, a, sizeof(a));
	CHECK_EQ_STR(a, "0,1,2");
	gpu_give(&three, a);
	/* Asking for no GPU gives no device. */
	half.gpu = 0;
	gpu_take(&half, b, sizeof(b));
	CHECK_EQ_STR(b, "");
}

static cJSON *parse_json(const char *s)
{
	cJSON *j = cJSON_Parse(s);

	CHECK(j != NULL);
	return j;
}

static void test_json_raw(void)
{
	res r, back;
	cJSON *j, *again;
	char *text;
	int rc;

	r = parsed("CPU=1.5,GPU=0.25,foo=3,bar=0.0001", &rc);
	r.mem = (int64_t)1 << 40;
	j = res_to_json_raw(&r);
	text = cJSON_PrintUnformatted(j);
	CHECK_EQ_STR(text, "{\"cpu\":15000,\"gpu\":2500,\"mem\":1099511627776,"
	             "\"custom\":{\"foo\":30000,\"bar\":1}}");
	again = parse_json(text);
	res_from_json_raw(&back, again);
	CHECK_EQ_INT(back.cpu, r.cpu);
	CHECK_EQ_INT(back.gpu, r.gpu);
	CHECK_EQ_INT(back.mem, r.mem);
	CHECK_EQ_INT(back.ncustom, 2);
	CHECK_EQ_INT(res_custom_get(&back, "foo"), 30000);
	CHECK_EQ_INT(res_custom_get(&back, "bar"), 1);
	CHECK(!memcmp(&back.custom[0], &r.custom[0], sizeof(r.custom[0])));
	cJSON_Delete(again);
	cJSON_Delete(j);
	free(text);

	/* Negative quantities (a pool in debt) travel as they are. */
	j = parse_json("{\"cpu\":-5000,\"custom\":{\"foo\":-1}}");
	res_from_json_raw(&back, j);
	CHECK_EQ_INT(back.cpu, -5000);
	CHECK_EQ_INT(res_custom_get(&back, "foo"), -1);
	cJSON_Delete(j);

	/* What cannot be held is dropped: not numbers, long names, huge values. */
	j = parse_json("{\"cpu\":\"lots\",\"gpu\":1e300,\"mem\":7,\"custom\":{\"s\":\"x\",\"b\":true,"
	               "\"nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn\":1,"
	               "\"huge\":1e30,\"neg\":-1e30,\"ok\":2}}");
	res_from_json_raw(&back, j);
	CHECK_EQ_INT(back.cpu, 0);
	CHECK_EQ_INT(back.gpu, 0);
	CHECK_EQ_INT(back.mem, 7);
	CHECK_EQ_INT(back.ncustom, 1);
	CHECK_EQ_INT(res_custom_get(&back, "ok"), 2);
	cJSON_Delete(j);

	/* At most MAX_CUSTOM customs; a duplicate key keeps one slot. */
	j = parse_json("{\"custom\":{\"a\":1,\"b\":1,\"c\":1,\"d\":1,\"e\":1,\"f\":1,\"g\":1,\"h\":1,"
	               "\"i\":1,\"j\":1,\"k\":1,\"l\":1,\"m\":1,\"n\":1,\"o\":1,\"p\":1,\"q\":1,\"a\":9}}");
	res_from_json_raw(&back, j);
	CHECK_EQ_INT(back.ncustom, MAX_CUSTOM);
	CHECK_EQ_INT(res_custom_get(&back, "p"), 1);
	CHECK_EQ_INT(res_custom_get(&back, "q"), 0);
	CHECK_EQ_INT(res_custom_get(&back, "a"), 9);
	cJSON_Delete(j);

	/* No object, or not an object: nothing. */
	memset(&back, 0x55, sizeof(back));
	res_from_json_raw(&back, NULL);
	CHECK_EQ_INT(back.cpu, 0);
	CHECK_EQ_INT(back.ncustom, 0);
	j = parse_json("[1,2]");
	res_from_json_raw(&back, j);
	CHECK_EQ_INT(back.cpu, 0);
	CHECK_EQ_INT(back.ncustom, 0);
	cJSON_Delete(j);
}

static int request(const char *json, res *r)
{
	cJSON *j = parse_json(json);
	ray_err err = { 0, "" };
	int rc = res_parse_request(j, r, &err);

	cJSON_Delete(j);
	return rc;
}

static void test_request(void)
{
	res r;
	char many[1024];
	size_t o;
	int i;

	CHECK_EQ_INT(request("{}", &r), 0);
	CHECK_EQ_INT(r.cpu, QTY_ONE);                /* one CPU unless told */
	CHECK_EQ_INT(r.gpu, 0);
	CHECK_EQ_INT(request("{\"cpus\":0,\"gpus\":5000,\"memory\":4096,\"resources\":[\"foo=2\"]}", &r), 0);
	CHECK_EQ_INT(r.cpu, 0);
	CHECK_EQ_INT(r.gpu, 5000);
	CHECK_EQ_INT(r.mem, 4096);
	CHECK_EQ_INT(res_custom_get(&r, "foo"), 2 * QTY_ONE);
	CHECK_EQ_INT(request("{\"cpus\":-3}", &r), 0);
	CHECK_EQ_INT(r.cpu, 0);
	CHECK_EQ_INT(request("{\"gpus\":-1}", &r), RAY_EUSAGE);
	CHECK_EQ_INT(request("{\"memory\":-1}", &r), RAY_EUSAGE);
	CHECK_EQ_INT(request("{\"resources\":[3]}", &r), RAY_EUSAGE);
	CHECK_EQ_INT(request("{\"resources\":[\"foo\"]}", &r), RAY_EUSAGE);
	CHECK_EQ_INT(request("{\"resources\":[\"foo=-2\"]}", &r), RAY_EUSAGE);
	CHECK_EQ_INT(request("{\"resources\":[\"CPU=3\"]}", &r), 0);
	CHECK_EQ_INT(r.cpu, 3 * QTY_ONE);
	o = (size_t)snprintf(many, sizeof(many), "{\"resources\":[");
	for (i = 0; i < MAX_CUSTOM + 1; i++)
		o += (size_t)snprintf(many + o, sizeof(many) - o, "%s\"r%d=1\"", i ? "," : "", i);
	snprintf(many + o, sizeof(many) - o, "]}");
	CHECK_EQ_INT(request(many, &r), RAY_EUSAGE);
}

static void test_json_human(void)
{
	res r;
	cJSON *j;
	char *text;
	int rc;

	N->store_cap = 1000;
	r = parsed("CPU=1.5,GPU=2,foo=0.5", &rc);
	r.mem = 64;
	j = res_json(&r);
	text = cJSON_PrintUnformatted(j);
	CHECK_EQ_STR(text, "{\"CPU\":1.5,\"GPU\":2,\"memory\":64,\"object_store_memory\":1000,\"foo\":0.5}");
	free(text);
	cJSON_Delete(j);
}

int main(void)
{
	N = calloc(1, sizeof(*N));
	if (!N)
		return 1;
	test_parse_custom();
	test_arith();
	test_gpu();
	test_json_raw();
	test_request();
	test_json_human();
	free(N);
	return unit_done("res");
}
