aos_unit_test(test_config unit/test_config.c aos_agent)
aos_unit_test(test_transport unit/test_transport.c aos_agent)
aos_unit_test(test_queue unit/test_queue.c aos_agent)
aos_unit_test(test_queue_sqlite unit/test_queue_sqlite.c aos_agent)
