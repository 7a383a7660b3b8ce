"""bash and zsh completion for aos-publishctl (completion/), each driven
the way its shell calls it.  bash: COMP_WORDS/COMP_CWORD set, then
_aos_publishctl, then COMPREPLY read.  zsh: an interactive `zsh -f` on a
zsh/zpty pseudo-terminal with compinit, the line typed and Tab pressed
(zsh_complete.zsh).  Registry and pipeline names, secret keys and job ids
come from a running daemon (waiting for Vault: its status, job list and
queue answer all the same); commands, subcommands and long options from
`aos-publishctl --help`, so a new one cannot be forgotten."""

import shlex
import subprocess
from pathlib import Path

import pytest

from aos_fixtures import PUBLISHCTL, SOURCE_DIR
from ctl_help import help_of, helped_commands, option_list, synopses
from publish_support import make_wheel

COMPLETION = SOURCE_DIR / "completion"
HERE = Path(__file__).resolve().parent
PIPELINE = {"repository": "https://127.0.0.1:9/sdk.git", "tag_pattern": "v*",
            "package": "aos-sdk", "build": ["true"], "artifacts": ["dist/*.whl"],
            "targets": ["testpypi"]}


def complete_bash(lines: list[list[str]], env: dict, tmp: Path) -> list[list[str]]:
    script = ('shopt -s extglob; source "$0"; COMP_WORDS=("${@}"); '
              'COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _aos_publishctl; '
              'printf "%s\\n" "${COMPREPLY[@]}"')
    out = []
    for words in lines:
        p = subprocess.run(["bash", "-c", script, str(COMPLETION / "aos-publishctl.bash"),
                            *words], capture_output=True, text=True, timeout=30, env=env)
        assert p.returncode == 0 and not p.stderr, f"completing {words}: {p}"
        out.append(p.stdout.splitlines())
    return out


def complete_zsh(lines: list[list[str]], env: dict, tmp: Path) -> list[list[str]]:
    out = tmp / "zsh-candidates"
    out.write_text("")
    typed = [" ".join([shlex.quote(w) for w in words[:-1]] + [words[-1]])
             for words in lines]
    p = subprocess.run(["zsh", "-f", str(HERE / "zsh_complete.zsh"), str(COMPLETION),
                        str(out), *typed], capture_output=True, text=True,
                       timeout=30 + 5 * len(typed), env=env)
    assert p.returncode == 0 and not p.stderr, f"completing {typed}: {p}"
    found = out.read_text().split("<ZCEND>\n")
    assert len(found) == len(typed) + 1 and found[-1] == "", f"{typed}: {found}"
    return [x.splitlines() for x in found[:-1]]


class Completer:
    """complete(words): the candidates a shell offers for the command line
    `words`, the cursor at the end of the last one; complete.many(lines):
    the same for each line (zsh: in one shell)."""

    def __init__(self, how, tmp: Path):
        self.how, self.tmp = how, tmp

    def many(self, lines: list[list[str]], env: dict | None = None) -> list[list[str]]:
        env = {"PATH": "/usr/bin:/bin", "HOME": str(self.tmp), **(env or {})}
        return [sorted({x for x in got if x}) for got in self.how(lines, env, self.tmp)]

    def __call__(self, words: list[str], env: dict | None = None) -> list[str]:
        return self.many([words], env)[0]


@pytest.fixture(params=["bash", "zsh"])
def complete(request, tmp_path):
    return Completer({"bash": complete_bash, "zsh": complete_zsh}[request.param], tmp_path)


@pytest.fixture
def daemon(daemons):
    d = daemons("http://127.0.0.1:9", auth={"method": "token", "token_file": "/nonexistent"},
                config={"pipelines": {"python-sdk": PIPELINE,
                                          "docs-site": dict(PIPELINE, tag_pattern="docs-v*")}})
    return d.start(wait_ready=False)


def test_commands_and_options(complete):
    ctl = ["aos-publishctl"]
    assert complete(ctl + [""]) == sorted(
        "status secrets publish jobs job drain resume reconcile prune".split())
    assert complete(ctl + ["re"]) == ["reconcile", "resume"]
    assert complete(ctl + ["pr"]) == ["prune"]
    assert complete(ctl + ["prune", "--d"]) == ["--dry-run"]
    assert complete(ctl + ["--j"]) == ["--json"]
    assert complete(ctl + ["-j", "--timeout", "5", "secrets", ""]) == ["check", "fingerprint",
                                                                       "refresh"]
    assert complete(ctl + ["job", ""]) == sorted("show log wait retry cancel".split())
    assert complete(ctl + ["job", "log", "1", "--f"]) == ["--follow"]
    assert complete(ctl + ["publish", "--w"]) == ["--wait"]
    assert complete(ctl + ["jobs", "--state", "d"]) == ["dead"]


def test_names_and_job_ids_from_the_daemon(complete, daemon, tmp_path):
    env = {"AOS_PUBLISHCTL": str(PUBLISHCTL)}
    sock = ["aos-publishctl", "--socket", str(daemon.socket)]
    assert complete(sock + ["publish", "--registry", ""], env) == ["npm", "pypi", "testpypi"]
    assert complete(sock + ["publish", "-r", "test"], env) == ["testpypi"]
    joined = ["aos-publishctl", f"--socket={daemon.socket}"]
    assert complete(joined + ["reconcile", ""], env) == ["docs-site", "python-sdk"]
    assert complete(sock + ["reconcile", ""], env) == ["docs-site", "python-sdk"]
    keys = sorted(s["key"] for s in daemon.ctl("--json", "status").json["secrets"])
    assert "TEST_PYPI_API_TOKEN" in keys, keys
    assert complete(sock + ["secrets", "check", ""], env) == keys
    assert complete(sock + ["secrets", "check", "TEST"], env) == ["TEST_PYPI_API_TOKEN"]

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


def test_offers_what_the_help_names(complete):
    """Every command, subcommand and long option `aos-publishctl --help`
    names, and those of the commands whose --help it points to, is offered
    where it can be typed."""
    ctl = ["aos-publishctl"]
    top = help_of(PUBLISHCTL)
    where = {(): set(option_list(top))}  # command words -> long options there
    for words, opts in synopses(top):
        where.setdefault(tuple(words), set()).update(opts)
    helped = helped_commands(top)
    assert "publish" in helped and ("secrets", "check") in where, (helped, where)
    for cmd in helped:
        text = help_of(PUBLISHCTL, cmd)
        where.setdefault((cmd,), set()).update(option_list(text) + ["--help"])
        for words, opts in synopses(text):
            where.setdefault(tuple(words), set()).update(opts)
    assert {"--follow", "--idempotency-key", "--state"} <= set().union(*where.values())

    commands = [w for w in where if w]
    got = complete.many([ctl + list(w[:-1]) + [""] for w in commands])
    missing = [" ".join(w) for w, offered in zip(commands, got) if w[-1] not in offered]
    assert not missing, f"commands not offered: {missing}"
    got = complete.many([ctl + list(w) + ["--"] for w in where])
    for (words, opts), offered in zip(where.items(), got):
        missing = sorted(opts - set(offered))
        assert not missing, f"aos-publishctl {' '.join(words)} --<Tab>: {missing}"
