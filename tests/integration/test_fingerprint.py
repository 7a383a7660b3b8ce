"""Keyed fingerprints.

Secrets are shown as the first 8 hex digits of HMAC-SHA256 under a key made
once per installation (<state_dir>/fingerprint.key, 32 random bytes, mode
0600), never as an unkeyed SHA-256 prefix, which would let anyone who sees a
fingerprint test guesses of a human-chosen secret (a GitLab webhook token)
offline.

- The key is made at the first start; fingerprints are the HMAC under it,
  not the old SHA-256 prefix; they stay the same across a restart; another
  installation (state_dir) shows other fingerprints for the same values.
- `aos-publishctl secrets fingerprint` gives, for a value on standard input,
  the fingerprint `secrets` shows; bounded, and a clear error without one.
- A key file open to group or others, of the wrong size, a symbolic link or
  not a regular file is refused at start with an error naming the file and
  what to do; the daemon does not run.
"""

import hashlib
import hmac
import os
import secrets
import subprocess

import pytest

from aos_fixtures import DEFAULT_KEYS, PUBLISHCTL, PUBLISHD

KEY_FILE = "fingerprint.key"


def keyed(value: str, key: bytes) -> str:
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:8]


def restart(d) -> None:
    d.stop()
    n = d.notify.count()
    d.start(wait_ready=False)
    d.wait_ready(start=n)


def ctl_fingerprint(d, stdin: str, *extra):
    argv = [str(PUBLISHCTL), "--socket", str(d.socket), *extra, "secrets", "fingerprint"]
    return subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=15,
                          env={"PATH": "/usr/bin:/bin"})


def test_keyed_stable_and_per_installation(seeded, approle_daemon):
    values = seeded.values
    d = approle_daemon()
    d.start()
    key_path = d.state_dir / KEY_FILE
    st = key_path.stat()
    assert st.st_mode & 0o7777 == 0o600, oct(st.st_mode)
    assert st.st_size == 32 and st.st_uid == os.geteuid(), st
    key = key_path.read_bytes()
    assert d.log_text().count("created the fingerprint key") == 1, d.log_tail()

    first = d.secrets()
    for k in DEFAULT_KEYS:
        fp = first[k]["fingerprint"]
        assert fp == keyed(values[k], key), (k, fp)
        assert fp != hashlib.sha256(values[k].encode()).hexdigest()[:8], (
            f"{k}: the unkeyed SHA-256 prefix is still shown")
    # The human output shows the same.
    r = d.ctl("secrets")
    assert r.rc == 0 and all(first[k]["fingerprint"] in r.out for k in DEFAULT_KEYS), r

    # The operator's way to compare a value: on stdin, never in argv.
    for k in DEFAULT_KEYS:
        p = ctl_fingerprint(d, values[k] + "\n")
        assert p.returncode == 0 and p.stdout == first[k]["fingerprint"] + "\n", p
    p = ctl_fingerprint(d, values["NPM_TOKEN"], "--json")
    assert p.returncode == 0 and f'"fingerprint":"{first["NPM_TOKEN"]["fingerprint"]}"' in p.stdout, p
    assert values["NPM_TOKEN"] not in p.stdout + p.stderr

    # A restart keeps the key, and so the fingerprints.
    restart(d)
    assert key_path.read_bytes() == key
    assert d.log_text().count("created the fingerprint key") == 1, d.log_tail()
    again = d.secrets()
    for k in DEFAULT_KEYS:
        assert again[k]["fingerprint"] == first[k]["fingerprint"], (k, again[k], first[k])

    # Another installation: its own key, other fingerprints for the same values.
    d2 = approle_daemon()
    d2.start()
    key2 = (d2.state_dir / KEY_FILE).read_bytes()
    assert len(key2) == 32 and key2 != key
    other = d2.secrets()
    for k in DEFAULT_KEYS:
        assert other[k]["fingerprint"] == keyed(values[k], key2), (k, other[k])
        assert other[k]["fingerprint"] != first[k]["fingerprint"], (
            f"{k}: two installations show the same fingerprint")
    for k in DEFAULT_KEYS:
        assert values[k] not in d.log_text() + d2.log_text()


def test_fingerprint_command_needs_a_bounded_value(seeded, approle_daemon):
    d = approle_daemon()
    d.start()
    p = ctl_fingerprint(d, "")
    assert p.returncode == 2 and "standard input" in p.stderr, p
    p = ctl_fingerprint(d, "\n")
    assert p.returncode == 2 and "nothing" in p.stderr, p
    p = ctl_fingerprint(d, "x" * 4097)
    assert p.returncode == 1 and "1 to 4096 bytes" in p.stderr, p
    p = ctl_fingerprint(d, "x" * 4096)
    assert p.returncode == 0 and len(p.stdout.strip()) == 8, p
    # Straight on the socket: a value that is not a string.
    import socket
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(str(d.socket))
    s.sendall(b'{"cmd":"secrets.fingerprint","value":42}\n')
    answer = s.makefile().readline()
    s.close()
    assert '"ok":false' in answer and "needs \\\"value\\\"" in answer, answer


@pytest.mark.parametrize("case", ["group-readable", "world-readable", "short", "long",
                                  "symlink", "directory"])
def test_bad_key_file_refused(seeded, approle_daemon, case):
    d = approle_daemon()
    path = d.state_dir / KEY_FILE
    good = secrets.token_bytes(32)
    if case in ("group-readable", "world-readable"):
        path.write_bytes(good)
        path.chmod(0o640 if case == "group-readable" else 0o604)
        words = "chmod 600"
    elif case in ("short", "long"):
        path.write_bytes(good[:31] if case == "short" else good + b"\n")
        path.chmod(0o600)
        words = "has 31 bytes" if case == "short" else "has 33 bytes"
    elif case == "symlink":
        target = d.dir / "elsewhere.key"
        target.write_bytes(good)
        target.chmod(0o600)
        path.symlink_to(target)
        words = "symbolic link"
    else:
        path.mkdir()
        words = "not a regular file"
    before = path.read_bytes() if path.is_file() and not path.is_symlink() else None
    d.write_config()
    p = subprocess.run([str(PUBLISHD), "-c", str(d.config_path)], env=d.env(),
                       capture_output=True, text=True, timeout=30, cwd="/")
    log = p.stderr
    assert p.returncode == 78, f"exit {p.returncode} with a bad key file ({case}):\n{log}"
    assert str(path) in log and words in log, f"{case}: unclear error:\n{log[-2000:]}"
    # The operator's file is left as it was.
    if before is not None:
        assert path.read_bytes() == before
