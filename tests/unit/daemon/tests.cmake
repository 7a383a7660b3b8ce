# The control commands' roles and argument checks (control_policy.c) over
# the generic control socket of base/.
aos_unit_test(test_control test_control.c aos_daemon)
