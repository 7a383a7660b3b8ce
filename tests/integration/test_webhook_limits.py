"""What an unauthenticated sender can make the webhook listener hold.

The listener buffers a request's headers and body before the signature
over the body can be checked.  Without a bound on the total, every one of
`max_connections` (512) senders could make the daemon hold `max_body_bytes`
(1 MiB): half a gigabyte for anyone who can reach the port.

- test_flood_of_large_unsigned_bodies: 200 connections each declare a body
  of 1 MiB and send all of it but the last byte.  The daemon's memory grows
  by no more than `listen.max_unauthenticated_bytes` (16 MiB by default)
  plus a small per-connection cost; the requests that would pass the cap
  are answered 503 with Retry-After before any body byte is read; a valid
  signed delivery still gets 202 while the flood holds its connections, and
  a GitLab delivery with the right token is not counted at all (it is
  authenticated by its headers).  The bytes come back when the connections
  close.
- GitLab's X-Gitlab-Token is the shared secret itself: a wrong token is
  answered 401 as soon as the headers are complete, without waiting for the
  body it declared; the right token, and the previous one during
  `rotation_grace_s`, are not.
- Gitea deliveries (which also carry GitHub's headers) and GitHub deliveries
  are checked over their body: only a missing or malformed signature header
  is refused before it.

One daemon for the module, with generous timeouts so that the flood
outlasts the measurement.
"""

import json
import select
import socket
import time
import uuid

import pytest

from webhook_support import (Conn, QueueSnapshot, body_of, build_request,  # noqa: F401
                             expect_accepted, expect_error, expect_ignored,
                             expect_json_answer, forge_headers, github_push,
                             gitlab_tag_push, gitea_push, python_pipeline)

MIB = 1024 * 1024
CAP = 16 * MIB          # listen.max_unauthenticated_bytes, default
BODY = MIB              # listen.max_body_bytes, default: what each attacker declares
FLOOD = 200             # attacking connections (max_connections is 512)
TIMEOUTS = {"header_timeout_ms": 30000, "body_timeout_ms": 30000}
GRACE_S = 3             # webhooks.gitlab.rotation_grace_s
TAG, VERSION = "python-sdk-v0.3.0", "0.3.0"


@pytest.fixture(scope="module")
def commit(webhook_env):
    sha = webhook_env.repo.commit_release(VERSION)
    webhook_env.repo.tag(TAG, sha)
    return sha


@pytest.fixture(scope="module")
def daemon(webhook_env, commit):
    # Jobs end at once (their build fails): the test is about the listener.
    pipes = {"python-sdk": python_pipeline(webhook_env.repo, targets=["pypi"],
                                           build=["exit 1"])}
    hooks = {"github": {"secret_key": "GITHUB_WEBHOOK_SECRET"},
             "gitlab": {"secret_key": "GITLAB_WEBHOOK_TOKEN", "rotation_grace_s": GRACE_S},
             "gitea": {"secret_key": "GITEA_WEBHOOK_SECRET"}}
    return webhook_env.hook_daemon(pipes, listen=TIMEOUTS, webhooks=hooks)


def memory_kib(pid: int) -> dict:
    """VmRSS and VmHWM (the peak) of a process, in KiB."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0])
    return out


def head_of(headers, body_len: int) -> bytes:
    """The request line and headers of a POST /webhook declaring body_len."""
    hs = [(k, v) for k, v in headers if k.lower() != "content-length"]
    return build_request("POST", "/webhook", hs + [("Content-Length", str(body_len))],
                         b"", content_length=False)


def unsigned_head(body_len: int) -> bytes:
    """A GitHub push whose signature header is well-formed but made up: only
    the body could tell it is wrong."""
    return head_of([("Content-Type", "application/json"), ("X-GitHub-Event", "push"),
                    ("X-GitHub-Delivery", str(uuid.uuid4())),
                    ("X-Hub-Signature-256", "sha256=" + "0" * 64)], body_len)


def answers_now(conns, wait: float) -> dict:
    """{index: first bytes} of the connections that have something to read
    (an answer, or EOF as b"") within `wait` seconds."""
    by_fd = {c.sock.fileno(): i for i, c in enumerate(conns)}
    got = {}
    deadline = time.monotonic() + wait
    while True:
        left = deadline - time.monotonic()
        pending = [c.sock for i, c in enumerate(conns) if i not in got]
        if left <= 0 or not pending:
            return got
        ready, _, _ = select.select(pending, [], [], left)
        for s in ready:
            try:
                got[by_fd[s.fileno()]] = s.recv(65536)
            except ConnectionResetError:
                got[by_fd[s.fileno()]] = b""


def padded(payload, size: int) -> bytes:
    """The payload as JSON, padded with spaces to exactly size bytes."""
    body = body_of(payload)
    assert len(body) <= size
    return body + b" " * (size - len(body))


def test_flood_of_large_unsigned_bodies(webhook_env, daemon, commit):
    """The bound: what the cap admits (16 MiB of reservations) plus what the
    listener keeps per connection whatever it is sent (the connection's
    struct and parser, 4.4 KiB, counted here as 16 KiB), plus 8 MiB for the
    allocator and everything else the daemon does meanwhile.  Without the cap
    the daemon holds FLOOD x 1 MiB = 200 MiB."""
    bound_kib = CAP // 1024 + FLOOD * 16 + 8 * 1024
    # Warm up: one request of each kind, so first-use allocations are done.
    expect_error(daemon.hooks.send("github", github_push(TAG, commit), secret="wrong"), 401)
    before = memory_kib(daemon.pid)
    conns = [Conn(daemon.http_port, timeout=30) for _ in range(FLOOD)]
    try:
        for c in conns:
            c.send(unsigned_head(BODY))
        early = answers_now(conns, 2.0)
        filler = b" " * (BODY - 1)
        fed = 0
        for i, c in enumerate(conns):
            if i not in early and c.try_send(filler):
                fed += 1
        time.sleep(1.0)  # the daemon reads what was sent
        after = memory_kib(daemon.pid)
        grew = after["VmHWM"] - before["VmRSS"]
        assert grew <= bound_kib, (
            f"{FLOOD} unauthenticated connections of 1 MiB each made the daemon grow by "
            f"{grew} KiB (VmRSS {before['VmRSS']} KiB before, peak {after['VmHWM']} KiB "
            f"after; bound {bound_kib} KiB); {len(early)} were refused before their body, "
            f"{fed} sent it")
        refused = {i: raw for i, raw in early.items() if raw.startswith(b"HTTP/1.1 503")}
        admitted = FLOOD - len(refused)
        most = CAP // BODY
        assert 1 <= admitted <= most, (
            f"{admitted} of {FLOOD} connections were left to send 1 MiB bodies (at most "
            f"{most} fit under 16 MiB); answers: "
            f"{sorted(set(raw[:12] for raw in early.values()))}")
        for i, raw in refused.items():
            assert b"\r\nretry-after:" in raw.lower(), f"503 without Retry-After: {raw!r}"
            assert b"max_unauthenticated_bytes" in raw.split(b"\r\n\r\n", 1)[1], raw
        st = daemon.status()["webhooks"]
        assert 0 < st["unauthenticated_bytes"] <= st["unauthenticated_bytes_max"] == CAP, st

        # A valid signed delivery is served while the flood holds on.
        jid = expect_accepted(daemon.hooks.send("github", github_push(TAG, commit)),
                              "python-sdk", TAG, VERSION, commit)
        assert jid >= 1
        # Another 1 MiB unsigned body does not fit; a GitLab delivery of the
        # same size with the right token is authenticated by its headers and
        # is not counted.
        with Conn(daemon.http_port) as c:
            c.send(unsigned_head(BODY))
            r = daemon.hooks.check(c.read_response(3))
            assert r.status == 503 and r.header("Retry-After"), r
        body = padded(gitlab_tag_push(TAG, commit, ref="refs/heads/main",
                                      object_kind="push"), BODY)
        hs = forge_headers("gitlab", body, daemon.hooks.secrets["gitlab"], event="Push Hook")
        with Conn(daemon.http_port) as c:
            c.send(head_of(hs, len(body)))
            assert not answers_now([c], 0.5), "a GitLab delivery with the right token was refused"
            c.send(body)
            expect_ignored(daemon.hooks.check(c.read_response(10)))
        log = daemon.log_text()
        assert "max_unauthenticated_bytes" in log, log[-3000:]
        # Refusals are logged at most once a second, not once per connection.
        assert log.count("max_unauthenticated_bytes") < len(refused), log[-3000:]
    finally:
        for c in conns:
            c.close()
    # Released when the connections close.
    def released():
        return daemon.status()["webhooks"]["unauthenticated_bytes"] == 0
    from aos_fixtures import wait_for
    wait_for(released, 10, interval=0.2,
             what=lambda: f"unauthenticated bytes back to 0: {daemon.status()['webhooks']}")
    assert daemon.alive, daemon.log_tail()


# -- GitLab's token at the headers -------------------------------------------------------
def gitlab_head(daemon, token: str, body_len: int, event="Tag Push Hook") -> bytes:
    hs = forge_headers("gitlab", b"", token, event=event)
    return head_of(hs, body_len)


def test_wrong_gitlab_token_refused_before_the_body(daemon):
    """The client sends only the headers of a 1 MiB delivery and reads.
    A daemon waiting for the body would end in 408 (body timeout): a 401
    naming the token is the answer to the headers alone.  No clock."""
    for token in ("not-the-token", daemon.hooks.secrets["gitlab"][:-1], ""):
        with Conn(daemon.http_port) as c:
            c.send(gitlab_head(daemon, token, BODY))
            r = daemon.hooks.check(c.read_response(20))
            expect_error(r, 401)
            assert "X-Gitlab-Token" in r.json["error"], r
            assert c.closed_by_peer(5), "connection left open after an early 401"


def test_right_gitlab_token_reads_the_body(daemon, commit):
    token = daemon.hooks.secrets["gitlab"]
    body = body_of(gitlab_tag_push(TAG, commit, deleted=True))
    with Conn(daemon.http_port) as c:
        c.send(gitlab_head(daemon, token, len(body)))
        assert not answers_now([c], 1.0), "answered before the body with the right token"
        c.send(body)
        expect_ignored(daemon.hooks.check(c.read_response(5)), "delet")


def test_previous_gitlab_token_during_grace(webhook_env, daemon, commit):
    import secrets as _secrets
    old = daemon.hooks.secrets["gitlab"]
    new = _secrets.token_urlsafe(32)
    daemon.hooks.needles.add(new)
    webhook_env.set_secret(GITLAB_WEBHOOK_TOKEN=new)
    r = daemon.refresh()
    t0 = time.monotonic()
    assert r.rc == 0 and "GITLAB_WEBHOOK_TOKEN" in r.json.get("changed", []), r
    body = body_of(gitlab_tag_push(TAG, commit, deleted=True))
    try:
        for token in (new, old):
            with Conn(daemon.http_port) as c:
                c.send(gitlab_head(daemon, token, len(body)))
                assert not answers_now([c], 0.3), "a token of the rotation refused early"
                c.send(body)
                expect_ignored(daemon.hooks.check(c.read_response(5)), "delet")
        assert time.monotonic() - t0 < GRACE_S, "too slow to check the grace period"
        time.sleep(GRACE_S + 1 - (time.monotonic() - t0))
        with Conn(daemon.http_port) as c:
            c.send(gitlab_head(daemon, old, BODY))
            expect_error(daemon.hooks.check(c.read_response(3)), 401)
    finally:
        daemon.hooks.secrets["gitlab"] = new
        webhook_env.webhook_secrets["gitlab"] = new


# -- HMAC forges: the body decides --------------------------------------------------------
def test_gitea_with_github_headers_is_checked_over_its_body(daemon, commit):
    """Gitea sends X-GitHub-Event and X-Hub-Signature-256 too (signed with
    the Gitea secret): detected as Gitea, not refused before its body."""
    body = body_of(gitea_push(TAG, commit, deleted=True))
    for secret, status in ((daemon.hooks.secrets["gitea"], 200), ("wrong", 401)):
        daemon.hooks.expect_signatures(body)
        hs = forge_headers("gitea", body, secret)
        with Conn(daemon.http_port) as c:
            c.send(head_of(hs, len(body)))
            assert not answers_now([c], 0.5), "a Gitea delivery answered before its body"
            c.send(body)
            r = daemon.hooks.check(c.read_response(5))
            assert r.status == status, r


def test_malformed_github_signature_refused_before_the_body(daemon):
    for sig in (None, "sha1=" + "0" * 40, "sha256=" + "z" * 64):
        hs = [("Content-Type", "application/json"), ("X-GitHub-Event", "push")]
        if sig is not None:
            hs.append(("X-Hub-Signature-256", sig))
        with Conn(daemon.http_port) as c:
            c.send(head_of(hs, BODY))
            r = daemon.hooks.check(c.read_response(3))
            expect_error(r, 401)


def test_keep_alive_after_the_limits(daemon, commit):
    """A connection goes on serving after a refused delivery read in full."""
    with Conn(daemon.http_port) as c:
        r = daemon.hooks.send("github", github_push(TAG, commit), secret="wrong", conn=c)
        expect_error(r, 401)
        r = daemon.hooks.check(c.request("GET", "/healthz"))
        assert r.status == 200, r


def test_check_config_names_the_cap(daemon):
    """A cap smaller than one largest request is refused with the numbers."""
    import subprocess
    from aos_fixtures import PUBLISHD, deep_merge
    cfg = deep_merge(daemon.config, {"listen": {"max_unauthenticated_bytes": 1000}})
    path = daemon.dir / "small-cap.json"
    path.write_text(json.dumps(cfg))
    p = subprocess.run([str(PUBLISHD), "--check-config", str(path)], capture_output=True,
                       text=True, timeout=20, env={"PATH": "/usr/bin:/bin"})
    out = p.stdout + p.stderr
    assert p.returncode == 78, f"rc={p.returncode}: {out}"
    assert "listen.max_unauthenticated_bytes" in out and "max_body_bytes" in out, out
