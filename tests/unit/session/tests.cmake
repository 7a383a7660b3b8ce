aos_unit_test(test_session test_session.c aos_session)
