aos_unit_test(test_publish_check test_publish_check.c aos_publish aos_session aos_publishers)
# The spool on the thread pool and a real SQLite queue; wheels written with
# libarchive at test time (../publishers/pub_fixture.h).
aos_unit_test(test_spool test_spool.c aos_publish aos_queue aos_session aos_config aos_publishers
              PkgConfig::ARCHIVE PkgConfig::CRYPTO)
