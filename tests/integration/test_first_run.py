"""A first run that explains itself (issue 16).

The shipped example (systemd/config.example.json, the Debian package's
/etc/aos-publishd/config.json) is refused by --check-config, naming every
value that still holds a placeholder; with them replaced it passes.  A
daemon started without its Vault credentials, as the unit starts it on a
fresh install (systemd passes the marker of SetCredential= for a missing
LoadCredential= file), says which file is missing and where to read how to
create it: in its sd_notify STATUS= line and in `aos-publishctl status`."""

import json
import re
import subprocess
from pathlib import Path

from aos_fixtures import PUBLISHD, SOURCE_DIR, wait_for, write_private

EXAMPLE = SOURCE_DIR / "systemd" / "config.example.json"
UNIT = SOURCE_DIR / "systemd" / "aos-publishd.service.in"
PLACEHOLDER = re.compile(r"<[A-Za-z0-9._-]+>")


def placeholder_keys(v, path="") -> dict[str, str]:
    """key path -> value, for every string of v holding a placeholder."""
    if isinstance(v, str):
        return {path: v} if PLACEHOLDER.search(v) else {}
    items = v.items() if isinstance(v, dict) else enumerate(v) if isinstance(v, list) else []
    out = {}
    for k, sub in items:
        key = f"{path}[{k}]" if isinstance(v, list) else f"{path}.{k}" if path else k
        out.update(placeholder_keys(sub, key))
    return out


def check_config(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(PUBLISHD), "--check-config", str(path)], capture_output=True,
                          text=True, timeout=10)


def test_example_names_each_placeholder(tmp_path):
    example = json.loads(EXAMPLE.read_text())
    keys = placeholder_keys(example)
    assert "vault.address" in keys and "registries.pypi.url" in keys, keys
    p = check_config(EXAMPLE)
    assert p.returncode == 78, f"the untouched example was accepted: {p}"
    for key, value in keys.items():
        assert f'{key} ("{value}")' in p.stderr, f"{key} not named: {p.stderr}"
    assert f"{len(keys)} values of the example still to replace" in p.stderr, p.stderr
    assert "docs/operations.md" in p.stderr, p.stderr

    # Each replaced by a real value: accepted.
    text = EXAMPLE.read_text()
    for m in set(PLACEHOLDER.findall(text)):
        text = text.replace(m, "127.0.0.1" if "host" in m else "x")
    done = tmp_path / "config.json"
    done.write_text(text)
    p = check_config(done)
    assert p.returncode == 0, f"the example with its placeholders replaced: {p}"


def marker() -> str:
    """The value the unit has systemd pass for a missing credential file."""
    found = set(re.findall(r"^SetCredential=(?:role_id|secret_id):(.+)$", UNIT.read_text(),
                           re.M))
    assert len(found) == 1, f"expected one SetCredential= marker in {UNIT}: {found}"
    return found.pop()


def waiting_daemon(daemons, creds_dir: Path | None):
    d = daemons("http://127.0.0.1:9", auth={"method": "approle", "role_id_file": "role_id",
                                            "secret_id_file": "secret_id"})
    env = {"CREDENTIALS_DIRECTORY": str(creds_dir)} if creds_dir else None
    return d.start(wait_ready=False, env=env)


def assert_explained(d, missing: str):
    def status_line():
        return next((ln for ln in d.notify.lines()
                     if ln.startswith("STATUS=") and missing in ln), None)
    line = wait_for(status_line, 10, what=lambda: f"STATUS= naming {missing}: "
                    f"{d.notify.lines()}\n{d.log_tail()}")
    assert "docs/operations.md" in line, line
    r = d.ctl("status")
    assert r.rc == 0, r
    waiting = [ln for ln in r.out.splitlines() if ln.startswith("Waiting:")]
    assert waiting and missing in waiting[0] and "docs/operations.md" in waiting[0], r.out
    assert "READY=1" not in d.notify.lines()


def test_missing_credential_from_systemd(daemons, tmp_path):
    """As under the unit on a fresh install: LoadCredential= found no file,
    SetCredential= passed the marker."""
    creds = tmp_path / "creds"
    creds.mkdir()
    write_private(creds / "role_id", marker())
    write_private(creds / "secret_id", marker())
    d = waiting_daemon(daemons, creds)
    assert_explained(d, f"{d.dir}/role_id is missing")


def test_missing_credential_file(daemons):
    """Started by hand, no credentials directory, no file."""
    d = waiting_daemon(daemons, None)
    assert_explained(d, f"file {d.dir}/role_id is missing")
