#!/usr/bin/env python3
"""Writes the scdoc source of aos-publishd.json(5): the prose of
man/aos-publishd.json.5.scd.in with @KEYS@ replaced by every row of the
parser's key table (`aos-publishd --dump-config-schema`: key, type,
default, range) and each key's meaning from docs/configuration.md.

The key, type, default and range come from the parser only, so the page
cannot document a key wrongly; docs/configuration.md is checked against the
same table by tests/integration/test_config_reference.py.  A key the
reference has no meaning for is an error here (the build fails).

usage: config_page.py SCHEMA.jsonl CONFIGURATION.md TEMPLATE.scd.in OUT.scd"""

import json
import re
import sys


def meanings(reference: str, keys: set[str]) -> dict[str, str]:
    """key path -> meaning, from the reference's `| key | type | ... |` tables."""
    out, prefix = {}, ""
    for line in reference.splitlines():
        if line.startswith("#"):
            m = re.search(r"`([^`]+)`", line)
            name = m.group(1) if m else ""
            prefix = "" if not name else (
                name + ".*." if any(k.startswith(name + ".*.") for k in keys) else name + ".")
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        m = re.fullmatch(r"`([^`]+)`", cells[0]) if line.startswith("|") else None
        if m is not None and len(cells) == 5:
            out[prefix + m.group(1)] = cells[4]
    return out


def scd(text: str) -> str:
    """Markdown of a table cell as scdoc text: links become "text (file)",
    code spans plain text, scdoc's markup characters are escaped."""
    text = text.replace("`", "")
    text = re.sub(r"\[([^\]]+)\]\(([^)]+)\)", r"\1 (\2)", text)
    return re.sub(r"([\\*_])", r"\\\1", text)


def entry(row: dict, meaning: str) -> str:
    facts = [row["type"], "default " + row["default"]]
    if row["range"]:
        facts.append(row["range"])
    return f"*{scd(row['key'])}*\n\t{scd('; '.join(facts))}.\n\t{scd(meaning)}\n"


def main(argv: list[str]) -> int:
    if len(argv) != 5:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1]) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    with open(argv[2]) as f:
        means = meanings(f.read(), {r["key"] for r in rows})
    missing = [r["key"] for r in rows if r["key"] not in means]
    if not rows or missing:
        print(f"{argv[0]}: no meaning in {argv[2]} for: {', '.join(missing) or 'any key'}",
              file=sys.stderr)
        return 1
    with open(argv[3]) as f:
        template = f.read()
    if template.count("@KEYS@") != 1:
        print(f"{argv[0]}: {argv[3]} must hold @KEYS@ once", file=sys.stderr)
        return 1
    body = "\n".join(entry(r, means[r["key"]]) for r in rows)
    with open(argv[4], "w") as f:
        f.write(template.replace("@KEYS@", body))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
