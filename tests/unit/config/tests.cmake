aos_unit_test(test_config ${CMAKE_CURRENT_LIST_DIR}/test_config.c aos_config)
aos_unit_test(test_config_pipeline ${CMAKE_CURRENT_LIST_DIR}/test_config_pipeline.c aos_config)
