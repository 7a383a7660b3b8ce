"""bash completion for aos-publishctl (completion/aos-publishctl.bash),
driven the way bash-completion calls it: COMP_WORDS/COMP_CWORD set, then
_aos_publishctl, then COMPREPLY read.  Registry and pipeline names and job
ids come from a running daemon (waiting for Vault: its status, job list and
queue answer all the same)."""

import subprocess

import pytest

from aos_fixtures import PUBLISHCTL, SOURCE_DIR
from publish_support import make_wheel

SCRIPT = SOURCE_DIR / "completion" / "aos-publishctl.bash"
PIPELINE = {"repository": "https://127.0.0.1:9/sdk.git", "tag_pattern": "v*",
            "package": "aos-sdk", "build": ["true"], "artifacts": ["dist/*.whl"],
            "targets": ["testpypi"]}


def complete(words: list[str], env: dict | None = None) -> list[str]:
    """COMPREPLY for the command line `words`, the cursor on the last one."""
    script = ('shopt -s extglob; source "$0"; COMP_WORDS=("${@}"); '
              'COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _aos_publishctl; '
              'printf "%s\\n" "${COMPREPLY[@]}"')
    p = subprocess.run(["bash", "-c", script, str(SCRIPT), *words], capture_output=True,
                       text=True, timeout=30,
                       env={"PATH": "/usr/bin:/bin", **(env or {})})
    assert p.returncode == 0 and not p.stderr, f"completing {words}: {p}"
    return sorted(x for x in p.stdout.splitlines() if x)


@pytest.fixture
def daemon(daemons):
    d = daemons("http://127.0.0.1:9", auth={"method": "token", "token_file": "/nonexistent"},
                config={"pipelines": {"python-sdk": PIPELINE,
                                          "docs-site": dict(PIPELINE, tag_pattern="docs-v*")}})
    return d.start(wait_ready=False)


def test_commands_and_options():
    ctl = ["aos-publishctl"]
    assert complete(ctl + [""]) == sorted(
        "status secrets publish jobs job drain resume reconcile prune".split())
    assert complete(ctl + ["re"]) == ["reconcile", "resume"]
    assert complete(ctl + ["pr"]) == ["prune"]
    assert complete(ctl + ["prune", "--d"]) == ["--dry-run"]
    assert complete(ctl + ["--j"]) == ["--json"]
    assert complete(ctl + ["-j", "--timeout", "5", "secrets", ""]) == ["fingerprint",
                                                                       "refresh"]
    assert complete(ctl + ["job", ""]) == sorted("show log wait retry cancel".split())
    assert complete(ctl + ["job", "log", "1", "--f"]) == ["--follow"]
    assert complete(ctl + ["publish", "--w"]) == ["--wait"]
    assert complete(ctl + ["jobs", "--state", "d"]) == ["dead"]


def test_names_and_job_ids_from_the_daemon(daemon, tmp_path):
    env = {"AOS_PUBLISHCTL": str(PUBLISHCTL)}
    sock = ["aos-publishctl", "--socket", str(daemon.socket)]
    assert complete(sock + ["publish", "--registry", ""], env) == ["npm", "pypi", "testpypi"]
    assert complete(sock + ["publish", "-r", "test"], env) == ["testpypi"]
    assert complete(sock + ["reconcile", ""], env) == ["docs-site", "python-sdk"]

    wheel = make_wheel(tmp_path, "aos-sdk", "1.0.0")
    ids = []
    for key in ("a", "b"):
        r = daemon.ctl("--json", "publish", "--registry", "testpypi", "--idempotency-key",
                       key, wheel)
        assert r.rc == 0, r
        ids.append(str(r.json["job_id"]))
    assert complete(sock + ["job", "show", ""], env) == sorted(ids)
    # Without a daemon: nothing offered, nothing printed.
    gone = ["aos-publishctl", "--socket", str(tmp_path / "none.sock")]
    assert complete(gone + ["job", "wait", ""], env) == []
