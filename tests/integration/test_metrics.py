"""GET /metrics scraped by a real Prometheus (issue 15, "Metrics and logs").

A daemon with an HTTP listener publishes a wheel to a real pypiserver (token
in OpenBao); a real Prometheus, started here on a free port with a generated
scrape configuration (1 s interval) and its own storage folder, scrapes the
listener's /metrics, and the series are checked through its HTTP API
(/api/v1/query) once it has scraped them.  The raw exposition passes
`promtool check metrics`, holds no secret value and no unbounded label value
(the job id, file names); a delivery that is not a webhook is counted as
rejected for the forge "unknown".  With `metrics.address`, /metrics is served
there and not on the webhook listener.
"""

import re
import shutil
import subprocess
import urllib.error
import urllib.request

import pytest

from aos_fixtures import wait_for
from metrics_support import sample
from peers.proc import free_port
from peers.prometheus import Prometheus
from publish_support import EXIT, PY_NAME, make_wheel, publish
from webhook_support import wait_listening

VERSION = "1.4.0"


def get(url: str) -> tuple[int, str, str]:
    """status, Content-Type, body of GET url."""
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read().decode()


@pytest.fixture(scope="module")
def listening(publish_env):
    """A daemon with its webhook listener (and /metrics) on a free port."""
    port = free_port()
    d = publish_env.daemon({"listen": {"address": f"127.0.0.1:{port}"}})
    d.http_port = port
    wait_listening(d)
    return d, f"127.0.0.1:{port}"


@pytest.fixture(scope="module")
def prom(listening, publish_env):
    p = Prometheus([listening[1]], workdir=publish_env.workdir / "prometheus")
    p.start()
    yield p
    p.close()


@pytest.fixture(scope="module")
def published(publish_env, listening):
    d, _ = listening
    dist = publish_env.workdir / "dist"
    dist.mkdir(exist_ok=True)
    wheel = make_wheel(dist, PY_NAME, VERSION)
    r = publish(d, "pypi", wheel)
    r.expect(EXIT["published"], "published")
    return wheel, r


def scraped(prom: Prometheus, expr: str, want: float, timeout: float = 30.0) -> list:
    """Waits until Prometheus has scraped expr at the value want."""
    def ok():
        res = prom.query(expr)
        return res if res and all(float(s["value"][1]) == want for s in res) else None
    return wait_for(ok, timeout, interval=0.25,
                    what=f"{expr} == {want} in Prometheus (last: {prom.query(expr)})")


def test_prometheus_scrapes_a_publish(prom, published, listening):
    wheel, r = published
    scraped(prom, 'up{job="aos"}', 1)
    scraped(prom, 'aos_registry_answers_total{registry="pypi",outcome="published"}', 1)
    scraped(prom, 'aos_uploaded_bytes_total{registry="pypi"}', wheel.stat().st_size)
    scraped(prom, 'aos_upload_duration_seconds_count{registry="pypi"}', 1)
    scraped(prom, 'aos_jobs{kind="publish",state="succeeded"}', 1)
    scraped(prom, 'aos_job_duration_seconds_count{kind="publish",outcome="succeeded"}', 1)
    scraped(prom, 'aos_queue_oldest_due_seconds', 0)
    scraped(prom, 'aos_vault_session_state{state="ready"}', 1)
    scraped(prom, 'aos_daemon_state{state="ready"}', 1)
    scraped(prom, 'aos_secret_present{key="PYPI_API_TOKEN"}', 1)
    # A token file is no login; the secret was written once (version 1).
    scraped(prom, 'aos_vault_logins_total', 0)
    scraped(prom, 'aos_secret_version{key="NPM_TOKEN"}', 1)
    scraped(prom, 'aos_vault_requests_total > bool 0', 1)
    # Series with a value that is only bounded.
    ttl = prom.query("aos_vault_token_ttl_seconds")
    assert ttl and 0 < float(ttl[0]["value"][1]) <= 4 * 3600, ttl
    age = prom.query('aos_secret_age_seconds{key="PYPI_API_TOKEN"}')
    assert age and 0 <= float(age[0]["value"][1]) < 3600, age
    free = prom.query("aos_state_filesystem_avail_bytes / aos_state_filesystem_size_bytes")
    assert free and 0 < float(free[0]["value"][1]) <= 1, free
    used = {r["metric"]["what"]: float(r["value"][1]) for r in prom.query("aos_disk_bytes")}
    assert set(used) == {"queue", "spool", "work"} and used["queue"] > 0, used


def test_exposition_is_valid_and_bounded(listening, published, publish_env):
    d, addr = listening
    wheel, _ = published
    status, ctype, text = get(f"http://{addr}/metrics")
    assert status == 200, text
    assert ctype.startswith("text/plain; version=0.0.4"), ctype
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: install the Debian package prometheus"
    p = subprocess.run([promtool, "check", "metrics"], input=text, text=True,
                       capture_output=True, timeout=30)
    assert p.returncode == 0, f"promtool check metrics: {p.stdout}{p.stderr}"
    for key, value in publish_env.values.items():
        assert value not in text, f"the value of {key} is in /metrics"
    # Every label value comes from a closed set: enum words, or names from
    # the configuration (registries, secret keys); `le` is a bucket bound.
    closed = {
        "registry": set(d.config["registries"]),
        "key": set(publish_env.values),
        "kind": {"publish", "pipeline"},
        "state": {"queued", "running", "succeeded", "failed", "dead", "canceled",
                  "starting", "ready", "degraded", "stopping", "waiting_for_operator"},
        "outcome": {"succeeded", "dead", "published", "exists", "conflict", "auth",
                    "invalid", "rejected", "unavailable", "error", "accepted",
                    "duplicate", "ignored", "ping"},
        "forge": {"github", "gitlab", "gitea", "unknown"},
        "what": {"queue", "spool", "work"},
    }
    pairs = re.findall(r'([a-z_]+)="([^"]*)"', text)
    assert pairs
    for name, value in pairs:
        if name == "le":
            assert re.fullmatch(r"\+Inf|[0-9.e+-]+", value), value
            continue
        assert name in closed, f"label {name} is not one of the bounded ones"
        assert value in closed[name], f"{name}=\"{value}\" is not a bounded value"
    assert wheel.name not in text

def test_deliveries_counted_by_forge(listening):
    d, addr = listening

    def rejected() -> float:
        return sample(d.http_port, "aos_webhook_deliveries_total", forge="unknown",
                      outcome="rejected")

    before = rejected()
    req = urllib.request.Request(f"http://{addr}/webhook", data=b"{}", method="POST",
                                 headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=5)
    assert e.value.code == 400
    assert rejected() == before + 1
    status, _, _ = get(f"http://{addr}/metrics?x=1")
    assert status == 200
    req = urllib.request.Request(f"http://{addr}/metrics", data=b"", method="POST")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=5)
    assert e.value.code == 405


def test_own_metrics_address(publish_env):
    port, mport = free_port(), free_port()
    d = publish_env.daemon({"listen": {"address": f"127.0.0.1:{port}"},
                            "metrics": {"address": f"127.0.0.1:{mport}"}})
    d.http_port = port
    wait_listening(d)
    d.wait_log(rf"serving metrics on 127\.0\.0\.1:{mport}")
    status, _, text = get(f"http://127.0.0.1:{mport}/metrics")
    assert status == 200 and "aos_daemon_state" in text, text[:500]
    # Not on the webhook listener, which a forge reaches.
    status, _, text = get(f"http://127.0.0.1:{port}/metrics")
    assert status == 404, text
    status, _, _ = get(f"http://127.0.0.1:{mport}/webhook")
    assert status == 404

