aos_unit_test(test_publish_check test_publish_check.c aos_publish aos_session aos_publishers)
# The spool on the thread pool and a real SQLite queue; wheels written with
# libarchive at test time (../publishers/pub_fixture.h).
aos_unit_test(test_spool test_spool.c aos_publish aos_queue aos_session aos_config aos_publishers
              PkgConfig::ARCHIVE PkgConfig::CRYPTO)
# spool_take_fd() with a digest that fails (-Wl,--wrap=EVP_DigestUpdate):
# the daemon's failure, not the client's file.
aos_unit_test(test_spool_faults test_spool_faults.c aos_publish aos_queue aos_session aos_config
              aos_publishers PkgConfig::ARCHIVE PkgConfig::CRYPTO)
target_link_options(test_spool_faults PRIVATE -Wl,--wrap=EVP_DigestUpdate)
