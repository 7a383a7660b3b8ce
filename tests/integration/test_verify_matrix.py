"""verify_matrix: the verify steps of a pipeline run once per named cell,
each cell with its own env (here a PATH to a folder made by the test, whose
`tool` and `python3` wrapper say which cell they belong to), inside the
build sandbox, all cells before the first upload.

- two cells that pass: each verify step ran once in each cell, cell after
  cell, with that cell's tools; the job log and `job show` (JSON and
  `aos-publishctl job show` text) give each cell's result and seconds;
  then the release is uploaded;
- a second cell that fails: the job is dead at its first run, its error
  names the cell, `job show` says the first passed and the second failed,
  and no registry received anything (nothing half-published).

Real servers: a signed webhook, OpenBao, two pypiservers, git, bubblewrap.
"""

from pathlib import Path

import pytest

from webhook_support import (expect_accepted, expect_job, github_push, job_log, job_show,
                             py_readable, python_pipeline, uploads)

SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"
# Run once per cell: which tool, which python3 (the cell's wrapper), written
# to $RECORD/cells.txt; step 1 fails when the cell's tool does.
VERIFY = ['out=$(tool) && echo "$out step-1 $(command -v python3)" >> "$RECORD/cells.txt"',
          'python3 -c "print(\'python ok\')" && echo "$(tool) step-2" >> "$RECORD/cells.txt"']


def _folder(root: Path, name: str, tool_exit: int = 0) -> Path:
    """root/name holding `tool` (prints "cell NAME", exits tool_exit) and
    `python3`, a wrapper of the system's that says whose it is."""
    d = root / name
    d.mkdir(parents=True)
    (d / "tool").write_text(f"#!/bin/sh\necho 'cell {name}'\nexit {tool_exit}\n")
    (d / "python3").write_text(f"#!/bin/sh\necho 'python3 of cell {name}' >&2\n"
                               f"exec /usr/bin/python3 \"$@\"\n")
    for f in ("tool", "python3"):
        (d / f).chmod(0o755)
    return d


def _cell(name: str, folder: Path) -> dict:
    return {"name": name, "env": {"PATH": f"{folder}:{SYSTEM_PATH}"}}


@pytest.fixture(scope="module")
def setup(webhook_env):
    root = webhook_env.workdir / "matrix"
    bins = {n: _folder(root / "bin", n) for n in ("a", "b")}
    bins["broken"] = _folder(root / "bin", "broken", tool_exit=7)
    rec = {n: root / f"rec-{n}" for n in ("ok", "fail")}
    for d in rec.values():
        d.mkdir()
    repo = webhook_env.repo
    commits = {"0.1.0": repo.commit_release("0.1.0"), "0.2.0": repo.commit_release("0.2.0")}
    repo.tag("matrix-v0.1.0", commits["0.1.0"])
    repo.tag("matrixfail-v0.2.0", commits["0.2.0"])

    def pipe(pattern, which, cells):
        return python_pipeline(repo, pattern, verify=list(VERIFY), verify_matrix=cells,
                               env={"RECORD": str(rec[which])}, writable=[str(rec[which])],
                               readable=py_readable() + [str(root / "bin")])
    d = webhook_env.hook_daemon({
        "matrix": pipe("matrix-v*", "ok", [_cell("py-a", bins["a"]), _cell("py-b", bins["b"])]),
        "matrixfail": pipe("matrixfail-v*", "fail", [_cell("py-a", bins["a"]),
                                                      _cell("py-broken", bins["broken"])])})
    return {"daemon": d, "bins": bins, "rec": rec, "commits": commits}


def _cells(d, jid) -> list[tuple[str, str]]:
    """job show's verify_matrix: (name, result) of each cell that ran, with
    its seconds checked to be a number."""
    got = job_show(d, jid)["inputs"].get("verify_matrix")
    assert isinstance(got, list), f"job {jid}: no verify_matrix in job show: {got!r}"
    for c in got:
        assert isinstance(c.get("seconds"), (int, float)) and c["seconds"] >= 0, c
    return [(c["name"], c["result"]) for c in got]


def test_every_cell_runs_before_the_upload(webhook_env, setup):
    d, bins, rec = setup["daemon"], setup["bins"], setup["rec"]
    commit = setup["commits"]["0.1.0"]
    jid = expect_accepted(d.hooks.send("github", github_push("matrix-v0.1.0", commit)),
                          "matrix", "matrix-v0.1.0", "0.1.0", commit)
    expect_job(d, jid, "succeeded", timeout=300)
    # Each verify step once in each cell, cell after cell, with the
    # cell's own tool and python3.
    assert (rec["ok"] / "cells.txt").read_text() == (
        f"cell a step-1 {bins['a']}/python3\ncell a step-2\n"
        f"cell b step-1 {bins['b']}/python3\ncell b step-2\n")
    lines = job_log(d, jid)
    text = "\n".join(lines)
    first_upload = next(i for i, ln in enumerate(lines) if ln.startswith("target 1 of"))
    for n, name in enumerate(("py-a", "py-b"), 1):
        start = next((i for i, ln in enumerate(lines)
                      if ln.startswith(f"verify in cell {name} ({n} of 2): "
                                       f"PATH={bins[name[3:]]}:")), None)
        end = next((i for i, ln in enumerate(lines)
                    if ln.startswith(f"cell {name}: ok (")), None)
        assert start is not None and end is not None and start < end < first_upload, text
    assert "python3 of cell a" in text and "python3 of cell b" in text, text
    assert _cells(d, jid) == [("py-a", "ok"), ("py-b", "ok")]
    r = d.ctl("job", "show", jid)
    assert r.rc == 0, r
    for name in ("py-a", "py-b"):
        assert f"Verify:     cell {name}: ok (" in r.out, r.out
    for server in (webhook_env.testpypi, webhook_env.pypi):
        names = server.files()
        assert "aos_sdk-0.1.0-py3-none-any.whl" in names and "aos_sdk-0.1.0.tar.gz" in names, \
            (server.url, sorted(names))


def test_failing_cell_refuses_the_release(webhook_env, setup):
    d, bins, rec = setup["daemon"], setup["bins"], setup["rec"]
    commit = setup["commits"]["0.2.0"]
    before = webhook_env.snapshot()
    jid = expect_accepted(d.hooks.send("github", github_push("matrixfail-v0.2.0", commit)),
                          "matrixfail", "matrixfail-v0.2.0", "0.2.0", commit)
    job = expect_job(d, jid, "dead", timeout=300)
    assert job.get("attempts") == 1, f"a failing cell is final: {job}"
    err = job.get("last_error") or ""
    assert "verify step 1 in cell py-broken failed with exit status 7" in err, job
    # The first cell ran in full, the broken one stopped at its first step.
    assert (rec["fail"] / "cells.txt").read_text() == (
        f"cell a step-1 {bins['a']}/python3\ncell a step-2\n")
    text = "\n".join(job_log(d, jid))
    assert "cell py-a: ok (" in text and "cell py-broken: failed (" in text, text
    assert _cells(d, jid) == [("py-a", "ok"), ("py-broken", "failed")]
    r = d.ctl("job", "show", jid)
    assert "Verify:     cell py-a: ok (" in r.out and \
        "Verify:     cell py-broken: failed (" in r.out, r.out
    # Nothing half-published: no upload recorded, no registry changed.
    assert uploads(d, jid) == {}, uploads(d, jid)
    webhook_env.assert_unchanged(before, "a release whose second verify cell failed")
    for server in (webhook_env.testpypi, webhook_env.pypi):
        assert not [n for n in server.files() if "-0.2.0" in n], server.files()
