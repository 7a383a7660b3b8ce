aos_unit_test(test_queue test_queue.c aos_queue)
aos_unit_test(test_queue_sqlite test_queue_sqlite.c aos_queue)
aos_unit_test(test_queue_batch test_queue_batch.c aos_queue)
aos_unit_test(test_queue_prune test_queue_prune.c aos_queue)
