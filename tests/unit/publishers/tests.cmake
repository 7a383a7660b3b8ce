# Unit tests of publishers/ (one cmocka executable per module).  Archives
# are written at test time with libarchive; upload requests go to a
# one-shot loopback server thread (pub_fixture.h).
find_package(Threads REQUIRED)
set(AOS_PUB_TEST_LIBS aos_publishers PkgConfig::ARCHIVE Threads::Threads)

aos_unit_test(test_pypi_name test_pypi_name.c ${AOS_PUB_TEST_LIBS})
aos_unit_test(test_pypi_meta test_pypi_meta.c ${AOS_PUB_TEST_LIBS})
aos_unit_test(test_artifact test_artifact.c ${AOS_PUB_TEST_LIBS})
aos_unit_test(test_artifact_digest test_artifact_digest.c ${AOS_PUB_TEST_LIBS})
aos_unit_test(test_artifact_record test_artifact_record.c ${AOS_PUB_TEST_LIBS})
aos_unit_test(test_semver test_semver.c ${AOS_PUB_TEST_LIBS})
aos_unit_test(test_registry test_registry.c ${AOS_PUB_TEST_LIBS})
aos_unit_test(test_pypi test_pypi.c ${AOS_PUB_TEST_LIBS})
aos_unit_test(test_npm test_npm.c ${AOS_PUB_TEST_LIBS})
aos_unit_test(test_answer test_answer.c ${AOS_PUB_TEST_LIBS})
aos_unit_test(test_pypi_token test_pypi_token.c ${AOS_PUB_TEST_LIBS})
aos_unit_test(test_artifact_fit test_artifact_fit.c ${AOS_PUB_TEST_LIBS})
aos_unit_test(test_npm_whoami test_npm_whoami.c ${AOS_PUB_TEST_LIBS})
aos_unit_test(test_pub_util test_pub_util.c ${AOS_PUB_TEST_LIBS})
