aos_unit_test(test_webhook ${CMAKE_CURRENT_LIST_DIR}/test_webhook.c aos_pipeline)
aos_unit_test(test_pipeline ${CMAKE_CURRENT_LIST_DIR}/test_pipeline.c aos_pipeline)
aos_unit_test(test_pipeline_decide ${CMAKE_CURRENT_LIST_DIR}/test_pipeline_decide.c aos_pipeline)
