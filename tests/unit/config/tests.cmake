aos_unit_test(test_config test_config.c aos_config)
aos_unit_test(test_config_pipeline test_config_pipeline.c aos_config)
aos_unit_test(test_config_keys test_config_keys.c aos_config)
aos_unit_test(test_config_env test_config_env.c aos_config)
# strdup failing on purpose (-Wl,--wrap=strdup): out of memory is an error.
aos_unit_test(test_config_nomem test_config_nomem.c aos_config)
target_link_options(test_config_nomem PRIVATE -Wl,--wrap=strdup)
aos_unit_test(test_config_queue test_config_queue.c aos_config)
