aos_unit_test(test_buf unit/test_buf.c aos_common)
aos_unit_test(test_secret unit/test_secret.c aos_common)
aos_unit_test(test_url unit/test_url.c aos_common)
