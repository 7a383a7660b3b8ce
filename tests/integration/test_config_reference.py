"""docs/configuration.md against the parser's key table.

`aos-publishd --dump-config-schema` prints every row of the table that the
parser is driven by (agent/config_keys.c): key path, type, default and
range as the reference writes them, and a rule the meaning must state.
The reference's tables (`| key | type | default | range | meaning |`) are
read here and must list the same keys with the same type, default and
range, so a key added to one and not the other, a default or a bound that
differs, fails this test."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from aos_fixtures import PUBLISHD

DOC = Path(os.environ.get("AOS_SOURCE_DIR", Path(__file__).resolve().parents[2])) / \
    "docs" / "configuration.md"
HEADER = ["key", "type", "default", "range", "meaning"]


def schema() -> dict[str, dict]:
    p = subprocess.run([str(PUBLISHD), "--dump-config-schema"], capture_output=True,
                       text=True, timeout=10, check=True)
    rows = [json.loads(line) for line in p.stdout.splitlines()]
    assert rows, "--dump-config-schema printed nothing"
    return {r["key"]: r for r in rows}


def cells(line: str) -> list[str]:
    """The cells of a markdown table row ('|' inside backticks is not used)."""
    return [c.strip() for c in line.strip().strip("|").split("|")]


def section_prefix(heading: str, keys: set[str]) -> str:
    """"## `registries`" -> "registries.*." when the table has rows under
    "registries.*"; "## Top level" -> ""."""
    m = re.search(r"`([^`]+)`", heading)
    if m is None:
        return ""
    name = m.group(1)
    if any(k.startswith(name + ".*.") for k in keys):
        return name + ".*."
    return name + "."


def reference(keys: set[str]) -> tuple[dict[str, dict], list[str]]:
    """Every key row of the reference's tables, and the problems met
    reading them (a key listed twice, a row of the wrong shape)."""
    rows: dict[str, dict] = {}
    problems: list[str] = []
    prefix, in_table = "", False
    for n, line in enumerate(DOC.read_text().splitlines(), 1):
        if line.startswith("#"):
            prefix, in_table = section_prefix(line, keys), False
            continue
        if not line.startswith("|"):
            in_table = False
            continue
        c = cells(line)
        if c[:1] == ["key"]:
            in_table = c == HEADER
            if not in_table:
                problems.append(f"line {n}: a key table with columns {c}, not {HEADER}")
            continue
        if not in_table or set(line) <= set("|-: "):
            continue
        m = re.fullmatch(r"`([^`]+)`", c[0])
        if m is None or len(c) != len(HEADER):
            problems.append(f"line {n}: expected | `key` | type | default | range | "
                            f"meaning |, got {line[:80]!r}")
            continue
        key = prefix + m.group(1)
        if key in rows:
            problems.append(f"line {n}: {key} listed twice")
        rows[key] = dict(zip(HEADER, c), line=n)
    return rows, problems


def differences(sch: dict[str, dict], ref: dict[str, dict]) -> list[str]:
    out = []
    for k in sorted(set(sch) - set(ref)):
        out.append(f"{k}: the parser has it, {DOC.name} does not")
    for k in sorted(set(ref) - set(sch)):
        out.append(f"{k}: {DOC.name} line {ref[k]['line']} has it, the parser does not")
    for k in sorted(set(sch) & set(ref)):
        s, r = sch[k], ref[k]
        where = f"{k} ({DOC.name} line {r['line']})"
        if r["type"] != s["type"]:
            out.append(f"{where}: type {r['type']!r}, the parser reads {s['type']!r}")
        if not r["default"].startswith(s["default"]):
            out.append(f"{where}: default {r['default']!r}, the parser applies "
                       f"{s['default']!r}")
        if r["range"] != s["range"]:
            out.append(f"{where}: range {r['range']!r}, the parser enforces {s['range']!r}")
        if s["rule"] and s["rule"] not in r["meaning"]:
            out.append(f"{where}: the meaning does not say {s['rule']!r}, which the "
                       f"parser checks")
    return out


def test_reference_matches_parser():
    sch = schema()
    ref, problems = reference(set(sch))
    problems += differences(sch, ref)
    assert not problems, "docs/configuration.md and the parser differ:\n" + \
        "\n".join(problems)


@pytest.mark.parametrize("what, edit, want", [
    ("a key only in the reference",
     lambda s: s.replace("| `lease_s` |", "| `lease_ms` |", 1),
     ["queue.lease_s: the parser has it", "queue.lease_ms: configuration.md line"]),
    ("a default that differs",
     lambda s: s.replace("| `max_running` | integer | 8 |", "| `max_running` | integer | 9 |", 1),
     ["queue.max_running", "default '9'"]),
    ("a bound that differs",
     lambda s: s.replace("| integer | 30 | 1 to 86400 |", "| integer | 30 | 1 to 3600 |", 1),
     ["vault.poll_interval_s", "range '1 to 3600'"]),
])
def test_reference_check_sees_a_difference(tmp_path, monkeypatch, what, edit, want):
    """The comparison itself: each kind of drift, made in a copy of the
    reference, is reported with the key it concerns."""
    copy = tmp_path / "configuration.md"
    text = DOC.read_text()
    assert edit(text) != text, f"{what}: the edit did not apply"
    copy.write_text(edit(text))
    monkeypatch.setattr(sys.modules[__name__], "DOC", copy)
    sch = schema()
    ref, problems = reference(set(sch))
    found = "\n".join(problems + differences(sch, ref))
    for w in want:
        assert w in found, f"{what}: {w!r} not reported:\n{found}"
