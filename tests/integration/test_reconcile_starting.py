"""`reconcile` sent while the daemon is still starting: before the build
sandbox's probe ends, the daemon does not know yet whether it can run a
pipeline step, so it must answer "starting, retry", not run the scan and
not claim that the sandbox is unavailable (which it did: the probe's
result was still all zeroes, and the answer was 'build_isolation
"namespaces" is not available on this host').

tests/tools/slowexec-shim.so is preloaded into the daemon and holds the
probe's `bwrap` exec while a gate file exists: the test waits until the
shim says the exec is held, sends `reconcile --dry-run`, then opens the
gate and sends it again once the daemon is ready.  The order of events is
asserted, never a duration.
"""

from pathlib import Path

import pytest

from aos_fixtures import BUILD_DIR, preload, running_env, wait_for
from webhook_support import WebhookEnv, ctl_reconcile, quick_python_pipeline

SHIM = BUILD_DIR / "tests" / "tools" / "slowexec-shim.so"


@pytest.fixture(scope="module")
def webhook_env(request):
    yield from running_env(request, WebhookEnv, "aos-rcstart-", "webhook_env")


def test_reconcile_before_the_probe_ends_says_retry(webhook_env, tmp_path):
    env = webhook_env
    gate, marker = tmp_path / "gate", tmp_path / "held"
    gate.write_text("")
    d = env.hook_daemon({"python-sdk": quick_python_pipeline(env.repo)}, start=False)
    d.start(wait_ready=False, env={"LD_PRELOAD": preload(SHIM),
                                   "AOS_SLOWEXEC_NAME": "bwrap",
                                   "AOS_SLOWEXEC_GATE": str(gate),
                                   "AOS_SLOWEXEC_MARKER": str(marker)})
    try:
        wait_for(lambda: marker.exists() and marker.read_text(), 30,
                 what="the sandbox probe's bwrap exec held by the shim")
        early = ctl_reconcile(d, "python-sdk", dry_run=True)
        held_still = gate.exists() and d.proc.poll() is None
        gate.unlink()
        d.wait_ready(30)
        late = ctl_reconcile(d, "python-sdk", dry_run=True)
    finally:
        if gate.exists():
            gate.unlink()
    assert held_still, "the probe was not held while the first reconcile ran"
    text = f"{early.out} {early.err}"
    assert early.rc != 0, f"reconcile before the probe ended was run: {early}"
    assert "starting" in text and "retry" in text, \
        f"no 'starting ... retry' answer: {early}\n{d.log_tail()}"
    assert "not available" not in text and "bubblewrap" not in text, \
        f"the answer blames the sandbox, which works: {early}"
    assert late.rc == 0, f"reconcile once ready: {late}\n{d.log_tail()}"
    assert late.json.get("ok") is True, late
