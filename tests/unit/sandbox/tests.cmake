aos_unit_test(test_sandbox ${CMAKE_CURRENT_LIST_DIR}/test_sandbox.c aos_sandbox)
aos_unit_test(test_sandbox_wrap ${CMAKE_CURRENT_LIST_DIR}/test_sandbox_wrap.c aos_sandbox)
aos_unit_test(test_sandbox_step ${CMAKE_CURRENT_LIST_DIR}/test_sandbox_step.c aos_sandbox)
