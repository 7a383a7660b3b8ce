"""The man pages (man/*.scd, built into BUILD_DIR/man by scdoc).

aos-publishd.json(5) is written at build time from the parser's key table;
here the rendered page is read back and compared with
`aos-publishd --dump-config-schema`: every key, with its type, default and
range, and no key the parser does not have.  Every page renders without a
warning and has the sections a man page needs."""

import json
import os
import re
import subprocess

import pytest

from aos_fixtures import BUILD_DIR, PUBLISHCTL, PUBLISHD, ROTATE_SCRIPT
from ctl_help import ctl_commands, help_of

MAN = BUILD_DIR / "man"
PAGES = ["aos-publishd.8", "aos-publishctl.1", "aos-publishd.json.5", "aos-rotate-secret.8"]


def render(path) -> str:
    p = subprocess.run(["man", "-l", str(path)], capture_output=True, text=True, timeout=30,
                       env={**os.environ, "LC_ALL": "C", "MANWIDTH": "4000"})
    assert p.returncode == 0 and not p.stderr.strip(), f"man -l {path}: {p}"
    return p.stdout


def schema() -> list[dict]:
    p = subprocess.run([str(PUBLISHD), "--dump-config-schema"], capture_output=True,
                       text=True, timeout=10, check=True)
    return [json.loads(line) for line in p.stdout.splitlines()]


def page_keys(text: str) -> dict[str, str]:
    """key -> the line under it, from the KEYS section of the rendered page."""
    lines = text.splitlines()
    start = lines.index("KEYS")
    end = next(i for i in range(start + 1, len(lines)) if lines[i] and lines[i][0] != " ")
    out = {}
    for i in range(start + 1, end - 1):
        if lines[i].startswith("       ") and not lines[i].startswith("        ") \
                and lines[i + 1].startswith("           "):
            out[lines[i].strip()] = lines[i + 1].strip()
    return out


def differences(rows: list[dict], keys: dict[str, str]) -> list[str]:
    out = []
    for r in rows:
        want = f"{r['type']}; default {r['default']}"
        want = (want + (f"; {r['range']}" if r["range"] else "") + ".").replace("`", "")
        if r["key"] not in keys:
            out.append(f"{r['key']}: the parser has it, the page does not")
        elif not keys[r["key"]].startswith(want):
            out.append(f"{r['key']}: the page says {keys[r['key']][:120]!r}, the parser "
                       f"{want!r}")
    for k in sorted(set(keys) - {r["key"] for r in rows}):
        out.append(f"{k}: the page has it, the parser does not")
    return out


@pytest.mark.parametrize("page", PAGES)
def test_page_renders(page):
    text = render(MAN / page)
    for section in ("NAME", "DESCRIPTION", "SEE ALSO"):
        assert f"\n{section}\n" in text, f"{page}: no {section} section"


def test_config_page_matches_parser():
    rows = schema()
    keys = page_keys(render(MAN / "aos-publishd.json.5"))
    assert len(rows) > 50, f"--dump-config-schema gave only {len(rows)} rows"
    problems = differences(rows, keys)
    assert not problems, "aos-publishd.json(5) and the parser differ:\n" + "\n".join(problems)


def test_config_page_check_sees_a_difference():
    """The comparison itself: a default, a missing key and an extra key in
    a copy of the page are each reported."""
    rows = schema()
    keys = page_keys(render(MAN / "aos-publishd.json.5"))
    keys["queue.max_running"] = keys["queue.max_running"].replace("default 8", "default 9")
    del keys["vault.poll_interval_s"]
    keys["vault.poll_interval_ms"] = "integer; default 30."
    found = "\n".join(differences(rows, keys))
    for want in ("queue.max_running: the page says", "vault.poll_interval_s: the parser has it",
                 "vault.poll_interval_ms: the page has it"):
        assert want in found, f"{want!r} not reported:\n{found}"


def test_ctl_page_names_every_command():
    """Each command and subcommand of `aos-publishctl --help` is in
    aos-publishctl(1): the command as an entry of COMMANDS, its subcommands
    in that entry."""
    text = render(MAN / "aos-publishctl.1")
    section = text.split("COMMANDS", 1)[1].split("EXIT STATUS", 1)[0]
    cmds = ctl_commands(help_of(PUBLISHCTL))
    assert len(cmds) >= 10 and ["secrets", "check"] in cmds, cmds
    for words in cmds:
        entry = re.search(rf"^ {{7}}(?:\S.*, )?{words[0]}\b.*?(?=^ {{7}}\S|\Z)", section,
                          re.M | re.S)
        assert entry, f"aos-publishctl(1) lacks {words[0]}"
        for w in words[1:]:
            assert re.search(rf"\b{w}\b", entry.group(0)), \
                f"aos-publishctl(1): {' '.join(words)} is not in the {words[0]} entry"


@pytest.mark.parametrize("page,cmd", [("aos-publishd.8", [PUBLISHD]),
                                      ("aos-publishctl.1", [PUBLISHCTL]),
                                      ("aos-rotate-secret.8", ["bash", ROTATE_SCRIPT])])
def test_page_names_every_option(page, cmd):
    """Every long option a command's --help names is on its page."""
    opts = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*[a-z])", help_of(*cmd)))
    assert "--help" in opts, opts
    text = render(MAN / page)
    missing = sorted(o for o in opts if not re.search(rf"(?<![\w-]){o}(?![\w-])", text))
    assert not missing, f"{page} lacks {missing} (from {cmd[-1]} --help)"


def test_every_command_answers_help():
    """`aos-publishctl CMD [SUB] --help` prints help and exits 0 for every
    command of the help (status and secrets once answered 'unknown command',
    exit 2), and never reaches the daemon (the socket here does not exist)."""
    sock = ["--socket", "/nonexistent/aos-publishctl-test.sock"]
    for words in ctl_commands(help_of(PUBLISHCTL)):
        for cmd in {words[0]} | ({f"{words[0]} {w}" for w in words[1:]}):
            text = help_of(PUBLISHCTL, *sock, *cmd.split())
            assert "Usage" in text or "usage" in text, f"{cmd} --help: {text!r}"


def test_unknown_subcommand_is_named():
    p = subprocess.run([str(PUBLISHCTL), "--socket", "/nonexistent/x.sock", "secrets",
                        "bogus"], capture_output=True, text=True, timeout=10)
    assert p.returncode == 2 and 'secrets: unexpected "bogus"' in p.stderr, p
