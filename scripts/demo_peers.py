#!/usr/bin/env python3
"""demo_peers.py - the local servers and small tools behind scripts/demo.sh.

    demo_peers.py up RUN_DIR REGISTRY_DIR READY_FILE
        Start an OpenBao dev server (storage in memory, so fresh each run),
        two pypiservers ("testpypi" and "pypi") and a verdaccio ("npm") on
        free 127.0.0.1 ports, with the tests' helpers in tests/peers.  The
        registries keep their packages under REGISTRY_DIR between runs.
        Every token and the webhook secret are made here at random, written
        to OpenBao (KV v2 secret/agenticverz/package-registry) and to files
        of mode 0600 under RUN_DIR/secrets and RUN_DIR/creds, and never
        printed.  READY_FILE (JSON: addresses, folders, logs, pids,
        the daemon's policy) appears once all is up.  Runs
        until SIGTERM or SIGINT, then stops every server.
    demo_peers.py htpasswd FILE           token on stdin: the registry's new
                                          __token__ password (a rotation)
    demo_peers.py sign SECRET_FILE BODY   prints sha256=<HMAC-SHA256 hex>, as
                                          GitHub's X-Hub-Signature-256

Only the standard library is needed; `up` and `htpasswd` import tests/peers,
which use the project venv for pypiserver, passlib and OpenBao.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import signal
import sys
import time
from pathlib import Path

TOP = Path(__file__).resolve().parents[1]
KV_PATH = "agenticverz/package-registry"


def write_secret(path: Path, value: str) -> None:
    """value into path, mode 0600, no trailing newline."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value)


def peers():
    sys.path.insert(0, str(TOP / "tests"))
    import peers.openbao as openbao
    import peers.pypiserver as pypiserver
    import peers.verdaccio as verdaccio
    return openbao, pypiserver, verdaccio


def up(run_dir: Path, reg_dir: Path, ready_file: Path) -> int:
    openbao, pypiserver, verdaccio = peers()
    stop = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.append(1))
    servers = []
    try:
        (run_dir / "openbao").mkdir(parents=True, exist_ok=True)
        bao = openbao.OpenBao(workdir=run_dir / "openbao")
        servers.append(bao.start())
        pypi = {}
        for name in ("testpypi", "pypi"):
            # Uploads need the token; the simple index is open, as on PyPI.
            pypi[name] = pypiserver.PypiServer(workdir=reg_dir / name, authenticate="update")
            servers.append(pypi[name].start())
        npm = verdaccio.Verdaccio(workdir=reg_dir / "verdaccio", log_level="warn")
        # The packages stay; the users (and so the token) are new each run.
        npm.htpasswd.unlink(missing_ok=True)
        servers.append(npm.start())
        values = {
            "TEST_PYPI_API_TOKEN": pypi["testpypi"].token,
            "PYPI_API_TOKEN": pypi["pypi"].token,
            "NPM_TOKEN": npm.add_user("aos-release"),
            "GITHUB_WEBHOOK_SECRET": secrets.token_urlsafe(32),
        }
        creds = openbao.seed_package_registry(bao, kv_path=KV_PATH, values=values)
        for name in ("role_id", "secret_id"):
            write_secret(run_dir / "creds" / name, creds[name] + "\n")
        write_secret(run_dir / "secrets" / "vault-root-token", bao.root_token)
        write_secret(run_dir / "secrets" / "github-webhook-secret",
                     values["GITHUB_WEBHOOK_SECRET"])
        # One value a line, for `grep -F -f` (the demo's leak check).
        write_secret(run_dir / "secrets" / "values",
                     "".join(v + "\n" for v in values.values()))
        info = {
            "vault": {"addr": bao.addr, "kv": f"secret/{KV_PATH}", "role": creds["role"],
                      "policy_name": creds["policy"],
                      "policy": openbao.read_policy(KV_PATH), "log": str(bao.log_path)},
            "registries": {
                **{name: {"url": s.upload_url, "index_url": s.index_url,
                          "folder": str(s.packages), "log": str(s.log_path),
                          "htpasswd": str(s.htpasswd)} for name, s in pypi.items()},
                "npm": {"url": npm.url, "folder": str(npm.storage), "log": str(npm.log_path),
                        "user": "aos-release"},
            },
            "pids": [s.proc.pid for s in servers],
        }
        tmp = ready_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(info, indent=2) + "\n")
        tmp.replace(ready_file)
        while not stop:
            for s in servers:
                if not s.running:
                    print(f"demo_peers: {type(s).__name__} exited:\n{s.log_tail()}",
                          file=sys.stderr)
                    return 1
            time.sleep(0.2)
        return 0
    finally:
        for s in reversed(servers):
            s.stop()


def set_htpasswd(path: Path) -> int:
    _, pypiserver, _ = peers()
    token = sys.stdin.read().rstrip("\n")
    if not token:
        print("demo_peers: no token on stdin", file=sys.stderr)
        return 2
    pypiserver.write_htpasswd(path, {pypiserver.TOKEN_USER: token})
    return 0


def sign(secret_file: Path, body_file: Path) -> int:
    mac = hmac.new(secret_file.read_bytes(), body_file.read_bytes(), hashlib.sha256)
    print("sha256=" + mac.hexdigest())
    return 0


def main(argv: list[str]) -> int:
    cmds = {"up": (3, lambda a: up(Path(a[0]), Path(a[1]), Path(a[2]))),
            "htpasswd": (1, lambda a: set_htpasswd(Path(a[0]))),
            "sign": (2, lambda a: sign(Path(a[0]), Path(a[1])))}
    if len(argv) < 1 or argv[0] not in cmds or len(argv) - 1 != cmds[argv[0]][0]:
        print(__doc__, file=sys.stderr)
        return 2
    return cmds[argv[0]][1](argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
