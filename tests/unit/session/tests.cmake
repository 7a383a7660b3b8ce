aos_unit_test(test_session test_session.c aos_session)
aos_unit_test(test_dbcreds test_dbcreds.c aos_session)
