"""A daemon stopped (SIGSTOP) past its job's lease while it uploads sends
nothing more once it runs again: by then another host may have taken the
job over and be sending the same file (issue 17: "never published
twice").  Its upload ends at once with "the job's lease may have run out",
the attempt is recorded as failed, and the next run asks the registry
before it sends again: the file is on pypiserver once, intact.

Before the fix the upload went on after SIGCONT and finished the send the
lease no longer covered.  Real pypiserver behind a relay that passes 2 MB/s
(the upload lasts seconds); nothing timed is asserted, only the order of
events."""

from __future__ import annotations

import signal
import time

from aos_fixtures import wait_for
from publish_support import make_big_wheel, sha256_file
from queue_support import (ThrottledRelay, enqueue, job_log, port_of, queue_config,
                           relayed_registries, wait_state)

MB = 1024 * 1024


def test_stopped_past_the_lease_sends_no_more(queue_env, tmp_path):
    env = queue_env
    relay = ThrottledRelay(port_of(env.pypi.url), rate=2 * MB)
    try:
        cfg = queue_config(lease_s=3)
        cfg["registries"] = relayed_registries(env, relay, None)
        d = env.daemon(config=cfg)
        whl = make_big_wheel(tmp_path, "aos-lease-stop", "1.0.0", 12 * MB)
        size = whl.stat().st_size
        jid = enqueue(d, "pypi-slow", whl)
        wait_state(d, jid, "running", 15)
        first = relay.total_conns
        wait_for(lambda: relay.bytes_up >= 1 * MB, 15, what="the upload under way")
        d.signal(signal.SIGSTOP)
        # longer than the lease (3 s): as another host sees it, the job is
        # free to take over now
        time.sleep(4.5)
        sent_while_stopped = relay.bytes_up
        d.signal(signal.SIGCONT)
        d.wait_log(r"stopped sending: the job's lease may have run out", 15)
        job = wait_state(d, jid, ("succeeded", "dead"), 90)
        assert job["state"] == "succeeded", (job, d.log_tail())
        # the first connection never carried the whole file: the send
        # stopped when the daemon ran again (what the kernel had buffered
        # before the stop went on meanwhile)
        assert sent_while_stopped < size, (sent_while_stopped, size)
        assert relay.total_conns > first, "the file was sent again on a new connection"
        text = "\n".join(job_log(d, jid))
        assert "lease may have run out" in text, text
        assert env.pypi.files().get(whl.name) == sha256_file(whl)
    finally:
        relay.close()
