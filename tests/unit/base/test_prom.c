/* Unit tests for agent/base/prom.c: label escaping and its bound, sample
 * values, and histograms rendered cumulatively with +Inf, _sum and _count. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base/prom.h"
#include "common/err.h"

static void test_labels_escaped(void **state)
{
	char out[64];

	(void)state;
	assert_int_equal(prom_labels(out, sizeof(out), "a", "x", "b", "q\"\\\nz", NULL),
			 0);
	assert_string_equal(out, "a=\"x\",b=\"q\\\"\\\\\\nz\"");
	assert_int_equal(prom_labels(out, sizeof(out), NULL), 0);
	assert_string_equal(out, "");
	/* Too long: nothing half written. */
	assert_int_equal(prom_labels(out, 12, "registry", "abcdefgh", NULL), AOS_ETOOBIG);
	assert_string_equal(out, "");
	/* Exactly fitting: 9 bytes + NUL. */
	assert_int_equal(prom_labels(out, 10, "k", "abcdef", NULL), AOS_ETOOBIG);
	assert_int_equal(prom_labels(out, 11, "k", "abcdef", NULL), 0);
	assert_string_equal(out, "k=\"abcdef\"");
}

static void test_samples(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 4096);
	assert_int_equal(prom_family(&b, "aos_x", "gauge", "An x."), 0);
	assert_int_equal(prom_sample(&b, "aos_x", "k=\"v\"", 3), 0);
	assert_int_equal(prom_sample(&b, "aos_x", NULL, 0.25), 0);
	assert_int_equal(prom_sample(&b, "aos_x", "", NAN), 0);
	assert_int_equal(prom_sample(&b, "aos_x", "", -INFINITY), 0);
	assert_int_equal(prom_sample(&b, "aos_x", "", 1e18), 0);
	assert_string_equal(b.data,
			    "# HELP aos_x An x.\n# TYPE aos_x gauge\n"
			    "aos_x{k=\"v\"} 3\naos_x 0.25\naos_x NaN\naos_x -Inf\n"
			    "aos_x 1e+18\n");
	buf_free(&b);
	/* The buffer's bound is an error, not a cut line. */
	buf_init(&b, 8);
	assert_int_equal(prom_sample(&b, "aos_long_name", NULL, 1), AOS_ETOOBIG);
	buf_free(&b);
}

static void test_histogram(void **state)
{
	static const double bounds[] = {0.5, 2};
	struct prom_hist h;
	struct buf b;

	(void)state;
	prom_hist_init(&h, bounds, 2);
	prom_hist_observe(&h, 0.5); /* le is inclusive */
	prom_hist_observe(&h, 1);
	prom_hist_observe(&h, 7);
	buf_init(&b, 4096);
	assert_int_equal(prom_hist_write(&b, "aos_d", "r=\"a\"", &h), 0);
	assert_string_equal(b.data, "aos_d_bucket{r=\"a\",le=\"0.5\"} 1\n"
				    "aos_d_bucket{r=\"a\",le=\"2\"} 2\n"
				    "aos_d_bucket{r=\"a\",le=\"+Inf\"} 3\n"
				    "aos_d_sum{r=\"a\"} 8.5\naos_d_count{r=\"a\"} 3\n");
	buf_reset(&b);
	prom_hist_init(&h, bounds, 2);
	assert_int_equal(prom_hist_write(&b, "aos_e", NULL, &h), 0);
	assert_string_equal(b.data,
			    "aos_e_bucket{le=\"0.5\"} 0\naos_e_bucket{le=\"2\"} 0\n"
			    "aos_e_bucket{le=\"+Inf\"} 0\naos_e_sum 0\naos_e_count 0\n");
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_labels_escaped),
	    cmocka_unit_test(test_samples),
	    cmocka_unit_test(test_histogram),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
