"""rotate_secret.sh writes any value exactly: quotes and backslashes go
through its builtin JSON encoding, control characters through jq, UTF-8
unchanged (the builtin path was added to keep jq's start-up off the
rotation's critical path)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROTATE = Path(os.environ.get("AOS_SOURCE_DIR", Path(__file__).parents[2])) / "vault" / "rotate_secret.sh"
KV = "agenticverz/package-registry"

VALUES = [
    'quote"and\\backslash\\',
    "tab\there",
    "ünïcödé-©-token",
    '{"looks":"like json"}',
    "trailing space ",
]


@pytest.mark.parametrize("value", VALUES)
def test_value_written_exactly(bao, value):
    bao.kv_put(KV, {"NPM_TOKEN": "keep-me"})
    env = {"PATH": os.environ["PATH"], "VAULT_ADDR": bao.addr,
           "VAULT_TOKEN": bao.root_token}
    p = subprocess.run(["bash", str(ROTATE), "--no-refresh", "package-registry",
                        "PYPI_API_TOKEN", "-"], input=value, text=True,
                       capture_output=True, env=env, timeout=30)
    assert p.returncode == 0, p.stderr
    assert value not in p.stdout + p.stderr, "the value was echoed"
    data = bao.kv_get(KV)["data"]
    assert data["PYPI_API_TOKEN"] == value
    assert data["NPM_TOKEN"] == "keep-me", "the patch dropped another key"
