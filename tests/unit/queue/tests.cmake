find_package(Threads REQUIRED)
# The queue on a database thread (queue_async.c), over the fixture's backend
# and over a fake queue whose calls wait to be released.
aos_unit_test(test_queue_async test_queue_async.c aos_queue_async aos_queue_pg
              Threads::Threads)
aos_unit_test(test_queue test_queue.c aos_queue_pg)
aos_unit_test(test_queue_batch test_queue_batch.c aos_queue_pg)
aos_unit_test(test_queue_random test_queue_random.c aos_queue_pg)
aos_unit_test(test_queue_sqlite test_queue_sqlite.c aos_queue_pg)
aos_unit_test(test_queue_prune test_queue_prune.c aos_queue_pg)
aos_unit_test(test_queue_files test_queue_files.c aos_queue_pg)
aos_unit_test(test_queue_enqfiles test_queue_enqfiles.c aos_queue_pg)
aos_unit_test(test_queue_drain test_queue_drain.c aos_queue_pg)

# PostgreSQL: tests/peers/pg_run.sh starts a server of its own for each run.
# unit.<test>.postgresql runs the same test functions against it (the
# fixture picks the backend from AOS_TEST_PG); unit.test_queue_pg is what only
# several hosts sharing one queue can show, and the migrations.
add_executable(test_queue_pg ${CMAKE_CURRENT_LIST_DIR}/test_queue_pg.c)
target_link_libraries(test_queue_pg PRIVATE aos_queue_pg PkgConfig::CMOCKA Threads::Threads)
target_include_directories(test_queue_pg PRIVATE ${PROJECT_SOURCE_DIR})
set(pg_run sh ${PROJECT_SOURCE_DIR}/tests/peers/pg_run.sh)
add_test(NAME unit.test_queue_pg COMMAND ${pg_run} $<TARGET_FILE:test_queue_pg>)
set_tests_properties(unit.test_queue_pg PROPERTIES LABELS unit TIMEOUT 300)
foreach(t test_queue test_queue_batch test_queue_random test_queue_prune
        test_queue_files test_queue_enqfiles test_queue_async test_queue_drain)
  add_test(NAME unit.${t}.postgresql COMMAND ${pg_run} $<TARGET_FILE:${t}>)
  set_tests_properties(unit.${t}.postgresql PROPERTIES LABELS unit TIMEOUT 300)
endforeach()

# The PostgreSQL connection (queue_pg_conn, reconnects and reopen on the
# database thread; queue_listen): pg_run.sh's server is stopped, started
# and its sessions ended by the tests.  TLS: PG_RUN_SSL=1 gives the server
# a certificate made for the run.
foreach(t test_queue_pgwire test_queue_listen test_queue_pgtls test_queue_pgfiles)
  add_executable(${t} ${CMAKE_CURRENT_LIST_DIR}/${t}.c)
  target_link_libraries(${t} PRIVATE aos_queue_async aos_queue_listen aos_queue_pg
                        PkgConfig::CMOCKA Threads::Threads)
  target_include_directories(${t} PRIVATE ${PROJECT_SOURCE_DIR})
endforeach()
add_test(NAME unit.test_queue_pgwire COMMAND ${pg_run} $<TARGET_FILE:test_queue_pgwire>)
add_test(NAME unit.test_queue_listen COMMAND ${pg_run} $<TARGET_FILE:test_queue_listen>)
add_test(NAME unit.test_queue_pgfiles COMMAND ${pg_run} $<TARGET_FILE:test_queue_pgfiles>)
add_test(NAME unit.test_queue_pgtls
         COMMAND env PG_RUN_SSL=1 ${pg_run} $<TARGET_FILE:test_queue_pgtls>)
set_tests_properties(unit.test_queue_pgwire unit.test_queue_listen unit.test_queue_pgtls
                     unit.test_queue_pgfiles
                     PROPERTIES LABELS unit TIMEOUT 300)
