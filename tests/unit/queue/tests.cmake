aos_unit_test(test_queue ${CMAKE_CURRENT_LIST_DIR}/test_queue.c aos_queue)
aos_unit_test(test_queue_sqlite ${CMAKE_CURRENT_LIST_DIR}/test_queue_sqlite.c aos_queue)
aos_unit_test(test_queue_batch ${CMAKE_CURRENT_LIST_DIR}/test_queue_batch.c aos_queue)
