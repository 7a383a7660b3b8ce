"""Reading one daemon's GET /metrics in the integration tests."""

import re
import urllib.request


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        assert r.status == 200
        return r.read().decode()


def sample(port: int, name: str, **labels) -> float | None:
    """The value of the sample name{labels} (labels in the order the
    daemon writes them), or None when there is no such sample."""
    lab = ",".join(f'{k}="{v}"' for k, v in labels.items())
    series = f"{name}{{{lab}}}" if lab else name
    m = re.search(rf"^{re.escape(series)} (\S+)$", scrape(port), re.M)
    return float(m.group(1)) if m else None
