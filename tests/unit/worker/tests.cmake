# The worker's state machines through its clock, random source and publish
# seam (struct worker_io, worker_fixture.h), on a real SQLite queue behind a
# real queue_async (its database thread).
set(AOS_WORKER_TEST_LIBS aos_worker aos_publish aos_pipeline aos_queue_async aos_queue aos_session
    aos_sandbox aos_config aos_publishers aos_common)
aos_unit_test(test_worker test_worker.c ${AOS_WORKER_TEST_LIBS})
aos_unit_test(test_worker_pipeline test_worker_pipeline.c ${AOS_WORKER_TEST_LIBS})
