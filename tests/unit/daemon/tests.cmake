# The control commands' roles and argument checks (control_policy.c) over
# the generic control socket of base/.
aos_unit_test(test_control test_control.c aos_daemon)
# The metrics fed by the hooks, and their exposition (metrics.c).
aos_unit_test(test_metrics test_metrics.c aos_daemon)
# The build sandbox probed off the loop thread (daemon_probe.c).
aos_unit_test(test_daemon_probe test_daemon_probe.c aos_daemon)
