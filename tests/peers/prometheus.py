"""Start a real Prometheus (Debian's `prometheus` package) for tests.

It scrapes the given targets every `interval` from a generated
configuration, keeps its data in a temporary folder and listens on a free
127.0.0.1 port; `query()` asks its HTTP API (/api/v1/query).  Typical use:

    with Prometheus(["127.0.0.1:8080"]) as prom:
        prom.query('up{job="aos"}')   # [{"metric": {...}, "value": [t, "1"]}]

Only the Python standard library is used.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

try:
    from .proc import ServerProcess, free_port, spawn
except ImportError:  # run as a script: tests/peers is on sys.path
    from proc import ServerProcess, free_port, spawn


def find_prometheus() -> str:
    exe = shutil.which("prometheus")
    if exe is None:
        raise FileNotFoundError("no prometheus on PATH: install the Debian package "
                                "`prometheus` (scripts/setup.sh lists it)")
    return exe


class Prometheus(ServerProcess):
    """One `prometheus` process scraping targets as job "aos"."""

    def __init__(self, targets: list[str], interval: str = "1s",
                 workdir: str | Path | None = None, job: str = "aos"):
        self.port = free_port()
        self.targets = targets
        self.interval = interval
        self.job = job
        self._own_workdir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="aos-prom-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.workdir / "prometheus.log"
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def write_config(self) -> Path:
        # JSON is YAML: no YAML library needed.
        cfg = {"global": {"scrape_interval": self.interval,
                          "evaluation_interval": self.interval},
               "scrape_configs": [{"job_name": self.job, "metrics_path": "/metrics",
                                   "scrape_interval": self.interval,
                                   "scrape_timeout": self.interval,
                                   "static_configs": [{"targets": self.targets}]}]}
        path = self.workdir / "prometheus.yml"
        path.write_text(json.dumps(cfg, indent=1))
        return path

    def start(self, timeout: float = 30.0) -> "Prometheus":
        cfg = self.write_config()
        data = self.workdir / "data"
        data.mkdir(exist_ok=True)
        argv = [find_prometheus(), f"--config.file={cfg}",
                f"--storage.tsdb.path={data}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn"]
        self.proc = spawn(argv, self.log_path, env={"PATH": "/usr/bin:/bin"},
                          cwd=self.workdir)
        self.wait_ready(f"{self.url}/-/ready", time.monotonic() + timeout,
                        "prometheus", self.url)
        return self

    def api(self, path: str, **params) -> dict:
        url = f"{self.url}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        with urllib.request.urlopen(url, timeout=5) as r:
            doc = json.load(r)
        if doc.get("status") != "success":
            raise RuntimeError(f"prometheus {path} {params}: {doc}")
        return doc["data"]

    def query(self, expr: str) -> list[dict]:
        """The instant vector of expr now: [{"metric": {...}, "value": [t, "v"]}]."""
        return self.api("query", query=expr)["result"]

    def targets_health(self) -> list[dict]:
        return self.api("targets")["activeTargets"]
