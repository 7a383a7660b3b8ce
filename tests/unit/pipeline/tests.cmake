aos_unit_test(test_webhook test_webhook.c aos_pipeline)
aos_unit_test(test_pipeline test_pipeline.c aos_pipeline)
aos_unit_test(test_pipeline_decide test_pipeline_decide.c aos_pipeline)
aos_unit_test(test_pipeline_steps test_pipeline_steps.c aos_pipeline aos_sandbox)
# reconcile's scan through its seam (struct reconcile_io): the test lists
# the tags and answers the index requests; the jobs go to a real queue.
aos_unit_test(test_reconcile test_reconcile.c aos_pipeline aos_sandbox aos_session
              aos_publishers)
aos_unit_test(test_pipeline_matrix test_pipeline_matrix.c aos_pipeline aos_sandbox)
