# Unit tests of publishers/ (one cmocka executable per module).  Archives
# are written at test time with libarchive; upload requests go to a
# one-shot loopback server thread (pub_fixture.h).
find_package(Threads REQUIRED)
set(AOS_PUB_TEST_LIBS aos_publishers PkgConfig::ARCHIVE Threads::Threads)

aos_unit_test(test_pypi_name ${CMAKE_CURRENT_LIST_DIR}/test_pypi_name.c ${AOS_PUB_TEST_LIBS})
aos_unit_test(test_pypi_meta ${CMAKE_CURRENT_LIST_DIR}/test_pypi_meta.c ${AOS_PUB_TEST_LIBS})
aos_unit_test(test_artifact ${CMAKE_CURRENT_LIST_DIR}/test_artifact.c ${AOS_PUB_TEST_LIBS})
aos_unit_test(test_semver ${CMAKE_CURRENT_LIST_DIR}/test_semver.c ${AOS_PUB_TEST_LIBS})
aos_unit_test(test_registry ${CMAKE_CURRENT_LIST_DIR}/test_registry.c ${AOS_PUB_TEST_LIBS})
aos_unit_test(test_pypi ${CMAKE_CURRENT_LIST_DIR}/test_pypi.c ${AOS_PUB_TEST_LIBS})
aos_unit_test(test_npm ${CMAKE_CURRENT_LIST_DIR}/test_npm.c ${AOS_PUB_TEST_LIBS})
aos_unit_test(test_answer ${CMAKE_CURRENT_LIST_DIR}/test_answer.c ${AOS_PUB_TEST_LIBS})
