"""What `aos-publishctl --help` (and the --help of the commands it points
to) names: its commands with their subcommands and the long options each
takes.  The man page test and the completion tests read them from there,
so a command added to the help cannot be forgotten in the page or a shell."""

import itertools
import re
import subprocess

# A command and its subcommands at the start of an entry: "secrets check",
# "job show|log|retry|cancel", "drain | resume"; the rest is its synopsis.
ENTRY = re.compile(r"^  ([a-z][a-z|]*(?: \| [a-z]+| [a-z][a-z|]*)*)(.*)$")
LONG = re.compile(r"(?<![\w-])(--[a-z][a-z-]*[a-z])")


def help_of(*cmd) -> str:
    p = subprocess.run([*map(str, cmd), "--help"], capture_output=True, text=True, timeout=10)
    # --help prints to stdout and runs nothing: rotate_secret.sh's once ran
    # `aos-publishctl secrets fingerprint` from an unescaped backquote.
    assert p.returncode == 0 and p.stderr == "", f"{cmd} --help: {p}"
    return p.stdout


def entries(text: str) -> list[tuple[str, str]]:
    """(command words, synopsis) of each entry of the help's Commands section
    and of each `aos-publishctl ...` usage line (global options dropped);
    the synopsis ends where the description starts (two spaces)."""
    lines = []
    if "Commands:" in text:
        lines = text.split("Commands:", 1)[1].split("\nOptions:", 1)[0].splitlines()
    for line in text.splitlines():
        m = re.match(r"^(?:Usage:)? *aos-publishctl (?:\[[^]]*\] )*(.*)$", line)
        if m:
            lines.append("  " + m.group(1))
    out = []
    for line in lines:
        m = ENTRY.match(line)
        if m:
            out.append((m.group(1), re.split(r" {2,}", m.group(2))[0]))
    return out


def ctl_commands(text: str) -> list[list[str]]:
    """The commands of `aos-publishctl --help`, each as its words before the
    first argument ("secrets check KEY" -> [secrets, check]; "job
    show|log|retry|cancel ID" -> [job, show, log, retry, cancel]; "drain |
    resume" -> [drain], [resume])."""
    return [[w for part in alt.split() for w in part.split("|")]
            for words, _ in entries(text) for alt in words.split(" | ")]


def synopses(text: str) -> list[tuple[list[str], list[str]]]:
    """Each command a help text shows, alternatives apart ("job show|log ID
    [--follow]" -> [job, show], [job, log]), with the long options of its
    synopsis."""
    out = []
    for words, synopsis in entries(text):
        for alt in words.split(" | "):
            for path in itertools.product(*(part.split("|") for part in alt.split())):
                out.append((list(path), LONG.findall(synopsis)))
    return out


def option_list(text: str) -> list[str]:
    """The long options a help text's option list defines ("  -j, --json",
    "      --tag TAG")."""
    return re.findall(r"^ +(?:-[a-zA-Z], )?(--[a-z][a-z-]*[a-z])", text, re.M)


def helped_commands(text: str) -> list[str]:
    """The commands whose own --help the help text points to."""
    return re.findall(r"`(?:aos-publishctl )?([a-z]+) --help`", text)
