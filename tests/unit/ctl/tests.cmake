# aos-publishctl's pieces are not in a library: built in.
aos_unit_test(test_ctl_text test_ctl_text.c PkgConfig::CJSON)
target_sources(test_ctl_text PRIVATE ${PROJECT_SOURCE_DIR}/ctl/ctl_text.c)
