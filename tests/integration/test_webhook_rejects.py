"""What the webhook listener refuses or ignores, and how it holds up.

Each request gets its documented answer (status, JSON "error" or "ignored"
reason) and nothing is enqueued (the job list and the status depth are the
same before and after); no answer ever echoes a secret or the signature the
daemon expected.  Covered: bad, missing and SHA-1-only signatures, a
tampered body, a replayed delivery (same delivery id, and the same body
under a new id, and the same tag and commit from another forge: the first
job's id back, nothing new), branch pushes, deleted tags, a tag of no
pipeline, another repository, malformed JSON (signature checked first),
unsupported events, GitHub ping, unknown paths and methods, an oversized
body (413) and headers (431), slow headers and bodies (408), conflicting or
broken framing (400), too many connections (503), keep-alive, idle
connections, /healthz and /readyz, a forge that is not configured (401) and
a webhook secret missing from Vault (503).

All tests share one set of servers and one daemon whose listener has small
limits; they run in file order.
"""

import json
import socket
import subprocess
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from aos_fixtures import PUBLISHD, wait_for
from webhook_support import (Conn, QueueSnapshot, build_request, expect_accepted,
                             expect_error, expect_existing, expect_ignored,
                             expect_job, expect_json_answer, gitea_push, github_push,
                             gitlab_tag_push, WEBHOOK_KEYS, hmac_hex, http, job_ids,
                             python_pipeline, quick_python_pipeline, wait_listening)

LIMITS = {"max_header_bytes": 4096, "max_body_bytes": 16384, "header_timeout_ms": 1000,
          "body_timeout_ms": 1000, "idle_timeout_ms": 2000, "max_connections": 6}
TAG, VERSION = "python-sdk-v0.1.0", "0.1.0"
GRACE_S = 2  # webhooks.github.rotation_grace_s
FORGES = ["github", "gitlab", "gitea"]


@pytest.fixture(scope="module")
def commit(webhook_env):
    repo = webhook_env.repo
    sha = repo.commit_release(VERSION)
    repo.tag(TAG, sha)
    repo.tag("docs-v1.0", sha)
    return sha


@pytest.fixture(scope="module")
def commit_011(webhook_env, commit):
    repo = webhook_env.repo
    sha = repo.commit_release("0.1.1")
    repo.tag("python-sdk-v0.1.1", sha)
    return sha


@pytest.fixture(scope="module")
def daemon(webhook_env, commit):
    # The python-sdk jobs here only have to publish: QUICK_DIST builds them.
    pipes = {"python-sdk": quick_python_pipeline(webhook_env.repo, targets=["pypi"]),
             # Jobs that end at once (their build fails), for bursts.
             "burst": python_pipeline(webhook_env.repo, "burst-v*", targets=["pypi"],
                                      package="aos-sdk-burst", build=["exit 1"])}
    hooks = {f: {"secret_key": k} for f, k in WEBHOOK_KEYS.items()}
    hooks["github"]["rotation_grace_s"] = GRACE_S
    return webhook_env.hook_daemon(pipes, listen=LIMITS, webhooks=hooks)


@pytest.fixture
def unchanged(daemon):
    """Asserts at the end of the test that no job was enqueued during it."""
    snap = QueueSnapshot(daemon)
    yield snap
    snap.assert_unchanged("this test")


def payload(forge, tag=TAG, commit_id=None, **kw):
    build = {"github": github_push, "gitlab": gitlab_tag_push, "gitea": gitea_push}[forge]
    return build(tag, commit_id, **kw)


# -- health -------------------------------------------------------------------------------
def test_healthz_and_readyz(daemon, unchanged):
    j = expect_json_answer(daemon.hooks.get("/healthz"), 200)
    assert j.get("ok") is True and j.get("status") == "alive", j
    j = expect_json_answer(daemon.hooks.get("/readyz"), 200)
    assert j.get("ok") is True and j.get("ready") is True, j


def test_unknown_path_and_wrong_method(daemon, unchanged):
    r = daemon.hooks.get("/no-such-path")
    assert r.status == 404, r
    r = daemon.hooks.check(http(daemon.http_port, "GET", "/webhook"))
    assert r.status == 405, r
    assert "POST" in (r.header("Allow") or ""), f"405 without Allow: POST: {r}"
    r = daemon.hooks.check(http(daemon.http_port, "POST", "/healthz", body=b"{}"))
    assert r.status == 405, r
    assert "GET" in (r.header("Allow") or ""), f"405 without Allow: GET: {r}"


def test_github_ping(daemon, unchanged):
    body = {"zen": "Keep it logically awesome.", "hook_id": 424242,
            "hook": {"type": "Repository", "events": ["push"]},
            "repository": {"full_name": "agenticverz/aos"}}
    j = expect_json_answer(daemon.hooks.send("github", body, event="ping"), 200)
    assert j.get("ok") is True and j.get("event") == "ping", j
    expect_error(daemon.hooks.send("github", body, event="ping", secret="wrong"), 401)
    expect_error(daemon.hooks.send("github", body, event="ping", secret=None), 401)


def test_webhook_secrets_shown_as_fingerprints(webhook_env, daemon):
    """The webhook secrets are loaded from Vault beside the tokens, and
    `secrets` shows them as fingerprints only."""
    from aos_fixtures import secrets_match
    secrets_match(daemon, webhook_env.values, keys=tuple(WEBHOOK_KEYS.values()))


# -- signatures -----------------------------------------------------------------------------
@pytest.mark.parametrize("forge", FORGES)
def test_wrong_signature(daemon, commit, unchanged, forge):
    r = daemon.hooks.send(forge, payload(forge, commit_id=commit), secret="not-the-secret")
    expect_error(r, 401)


@pytest.mark.parametrize("forge", ["github", "gitea"])
def test_signature_of_another_body(daemon, commit, unchanged, forge):
    """A valid signature, but over other bytes (one field changed).  GitLab
    sends its token instead of signing the body, so a tampered body cannot
    be told apart there: test_wrong_signature covers its wrong token."""
    good = json.dumps(payload(forge, commit_id=commit), separators=(",", ":")).encode()
    tampered = good.replace(b"releaser", b"attacker")
    assert tampered != good
    secret = daemon.hooks.secrets[forge]
    hs = [("Content-Type", "application/json")]
    if forge == "github":
        hs += [("X-GitHub-Event", "push"), ("X-GitHub-Delivery", str(uuid.uuid4())),
               ("X-Hub-Signature-256", "sha256=" + hmac_hex(secret, good))]
    else:
        hs += [("X-Gitea-Event", "push"), ("X-Gitea-Delivery", str(uuid.uuid4())),
               ("X-Gitea-Signature", hmac_hex(secret, good))]
    expect_error(daemon.hooks.post(tampered, hs), 401)


@pytest.mark.parametrize("forge", FORGES)
def test_no_signature(daemon, commit, unchanged, forge):
    r = daemon.hooks.send(forge, payload(forge, commit_id=commit), secret=None)
    expect_error(r, 401)


def test_github_sha1_signature_only(daemon, commit, unchanged):
    """The legacy X-Hub-Signature (SHA-1) alone is not accepted."""
    import hashlib
    import hmac
    body = json.dumps(github_push(TAG, commit)).encode()
    sig1 = hmac.new(daemon.hooks.secrets["github"].encode(), body, hashlib.sha1).hexdigest()
    daemon.hooks.needles.add(sig1)
    r = daemon.hooks.send("github", body, secret=None,
                          extra=[("X-Hub-Signature", "sha1=" + sig1)])
    expect_error(r, 401)


def test_signature_wrong_case_and_prefix(daemon, commit, unchanged):
    body = json.dumps(github_push(TAG, commit)).encode()
    good = hmac_hex(daemon.hooks.secrets["github"], body)
    for value in (good, "sha1=" + good, "sha256=" + good[:-2], "sha256=" + good + "00",
                  "sha256=", "sha256=" + "z" * 64):
        r = daemon.hooks.send("github", body, secret=None,
                              extra=[("X-Hub-Signature-256", value)])
        expect_error(r, 401)


# -- bodies and events -------------------------------------------------------------------------
@pytest.mark.parametrize("forge", FORGES)
def test_malformed_json(daemon, unchanged, forge):
    for body in (b'{"ref": "refs/tags/python-sdk-v0.1.0", ', b"not json at all", b"\xff\xfe{}"):
        expect_error(daemon.hooks.send(forge, body), 400)
    # The signature is checked before the body is parsed.
    expect_error(daemon.hooks.send(forge, b"{not json", secret="wrong"), 401)


@pytest.mark.parametrize("forge", FORGES)
def test_missing_fields(daemon, unchanged, forge):
    for body in (b"{}", b"[]", b'"refs/tags/python-sdk-v0.1.0"', b'{"ref": 7}'):
        expect_error(daemon.hooks.send(forge, body), 400)


def test_unsupported_event(daemon, commit, unchanged):
    # A signed event of another kind is not an error of the payload: 200 with
    # the reason, as for a branch push, so the forge does not flag it failed.
    body = github_push(TAG, commit)
    expect_ignored(daemon.hooks.send("github", body, event="issues"), "issues", "not handled")
    expect_ignored(daemon.hooks.send("gitlab", gitlab_tag_push(TAG, commit),
                                     event="Merge Request Hook"), "Merge Request Hook",
                   "not handled")


# -- ignored ------------------------------------------------------------------------------------
@pytest.mark.parametrize("forge", FORGES)
def test_branch_push_ignored(daemon, commit, unchanged, forge):
    kw = {"object_kind": "push"} if forge == "gitlab" else {}
    event = "Push Hook" if forge == "gitlab" else None
    r = daemon.hooks.send(forge, payload(forge, None, commit, ref="refs/heads/main", **kw),
                          event=event)
    expect_ignored(r, "branch", "tag", "ref")


@pytest.mark.parametrize("forge", FORGES)
def test_deleted_tag_ignored(daemon, commit, unchanged, forge):
    r = daemon.hooks.send(forge, payload(forge, commit_id=commit, deleted=True))
    expect_ignored(r, "delet")


@pytest.mark.parametrize("forge", FORGES)
def test_tag_of_no_pipeline_ignored(daemon, commit, unchanged, forge):
    r = daemon.hooks.send(forge, payload(forge, "docs-v1.0", commit))
    expect_ignored(r, "pipeline", "tag", "match")


@pytest.mark.parametrize("forge", FORGES)
def test_other_repository_ignored(daemon, commit, unchanged, forge):
    r = daemon.hooks.send(forge, payload(forge, commit_id=commit, repo="someone/else"))
    expect_ignored(r, "repositor", "pipeline", "someone/else")


# -- replays -------------------------------------------------------------------------------------
def test_replayed_delivery_gives_the_first_job(webhook_env, daemon, commit):
    before = QueueSnapshot(daemon)
    body = json.dumps(github_push(TAG, commit), separators=(",", ":")).encode()
    delivery = str(uuid.uuid4())
    jid = expect_accepted(daemon.hooks.send("github", body, delivery=delivery),
                          "python-sdk", TAG, VERSION, commit)
    after_first = QueueSnapshot(daemon)
    assert after_first.ids - before.ids == {jid}, (before.ids, after_first.ids)
    # Redelivery: same delivery id, same body.
    expect_existing(daemon.hooks.send("github", body, delivery=delivery), jid)
    # A captured body replayed under a new delivery id.
    expect_existing(daemon.hooks.send("github", body, delivery=str(uuid.uuid4())), jid)
    # The same tag and commit from the other forge formats.
    expect_existing(daemon.hooks.send("gitlab", gitlab_tag_push(TAG, commit)), jid)
    expect_existing(daemon.hooks.send("gitea", gitea_push(TAG, commit)), jid)
    after_first.assert_unchanged("replays")
    # The one job runs to its end (and publishes once).
    expect_job(daemon, jid, "succeeded", timeout=240)
    files = webhook_env.pypi.files()
    assert sorted(files) == [f"aos_sdk-{VERSION}-py3-none-any.whl",
                             f"aos_sdk-{VERSION}.tar.gz"], files
    expect_existing(daemon.hooks.send("github", body, delivery=delivery), jid)
    after_first.assert_unchanged("a replay after the job ended")


def _in_parallel(daemon, items, send, conns=5):
    """send(conn, item) for every item, from `conns` threads, each with its
    own keep-alive connection (the listener allows 6 at once), started
    together; answers in the order of items."""
    barrier = threading.Barrier(conns)
    answers = [None] * len(items)

    def worker(k):
        with Conn(daemon.http_port) as c:
            barrier.wait(10)
            for i in range(k, len(items), conns):
                answers[i] = send(c, items[i])
    with ThreadPoolExecutor(conns) as ex:
        list(ex.map(worker, range(conns)))
    return answers


def test_concurrent_redeliveries_give_one_job(webhook_env, daemon, commit_011):
    """The same delivery sent 10 times, 5 at once: one job, every answer
    names it (one 202, the others 200 existing)."""
    tag = "python-sdk-v0.1.1"
    body = json.dumps(github_push(tag, commit_011), separators=(",", ":")).encode()
    delivery = str(uuid.uuid4())
    before = QueueSnapshot(daemon)
    answers = _in_parallel(daemon, range(10), lambda c, _: daemon.hooks.send(
        "github", body, delivery=delivery, conn=c))
    statuses = sorted(r.status for r in answers)
    assert statuses == [200] * 9 + [202], f"statuses {statuses}: {answers}"
    ids = {r.json.get("job_id") for r in answers}
    assert len(ids) == 1, f"one delivery became jobs {ids}"
    jid = ids.pop()
    assert job_ids(daemon) - before.ids == {jid}, sorted(job_ids(daemon) - before.ids)
    expect_job(daemon, jid, "succeeded", timeout=240)


def test_burst_of_distinct_deliveries(daemon, commit):
    """30 tags pushed at once, each its own delivery: 30 jobs, 30 ids."""
    before = QueueSnapshot(daemon)
    tags = [f"burst-v1.0.{i}" for i in range(30)]
    answers = _in_parallel(daemon, tags, lambda c, t: daemon.hooks.send(
        "gitlab", gitlab_tag_push(t, commit), conn=c))
    got = {}
    for t, r in zip(tags, answers):
        got[t] = expect_accepted(r, "burst", t, t.split("-v", 1)[1], commit)
    assert len(set(got.values())) == 30, f"job ids not distinct: {got}"
    assert job_ids(daemon) - before.ids == set(got.values())
    for jid in got.values():
        expect_job(daemon, jid, "dead", timeout=120)


# -- limits ---------------------------------------------------------------------------------------
def _signed_head(daemon, body_len, extra=()):
    """Headers of a GitHub push whose body is not (all) sent."""
    return ([("Host", "127.0.0.1"), ("Content-Type", "application/json"),
             ("X-GitHub-Event", "push"), ("X-GitHub-Delivery", str(uuid.uuid4())),
             ("X-Hub-Signature-256", "sha256=" + "0" * 64)] + list(extra) +
            ([("Content-Length", str(body_len))] if body_len is not None else []))


def _head_bytes(headers, method="POST", path="/webhook"):
    return (f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers)
            + "\r\n").encode()


def _answer_then_closed(daemon, c, status, timeout=5.0):
    r = daemon.hooks.check(c.read_response(timeout))
    assert r.status == status, f"expected {status}: {r}"
    assert c.closed_by_peer(3), f"connection left open after {status}"
    return r


def test_oversized_body_by_content_length(daemon, unchanged):
    """413 at once, from the Content-Length alone (no body byte sent)."""
    with Conn(daemon.http_port) as c:
        c.send(_head_bytes(_signed_head(daemon, LIMITS["max_body_bytes"] + 1)))
        # Waiting for the body would end in 408 (test_slow_body): 413 is the
        # answer to the Content-Length alone.  No clock needed.
        _answer_then_closed(daemon, c, 413, timeout=LIMITS["body_timeout_ms"] / 1000 + 30)


def test_body_at_the_limit_is_read(daemon, commit, unchanged):
    """A body of exactly max_body_bytes is taken (and a byte more is not)."""
    from webhook_support import body_of
    base = body_of(github_push(None, commit, ref="refs/heads/main"))
    pad = LIMITS["max_body_bytes"] - len(base)
    body = base[:-1] + b" " * pad + b"}"
    assert len(body) == LIMITS["max_body_bytes"]
    expect_ignored(daemon.hooks.send("github", body))
    r = daemon.hooks.send("github", body[:-1] + b" }")
    assert r.status == 413, f"max_body_bytes + 1: {r}"


def test_oversized_body_chunked(daemon, unchanged):
    with Conn(daemon.http_port) as c:
        c.send(_head_bytes(_signed_head(daemon, None, [("Transfer-Encoding", "chunked")])))
        chunk = b"a" * 4096
        for _ in range(LIMITS["max_body_bytes"] // len(chunk) + 2):
            if not c.try_send(b"1000\r\n" + chunk + b"\r\n"):
                break
            time.sleep(0.01)
        _answer_then_closed(daemon, c, 413)


def test_oversized_headers(daemon, unchanged):
    with Conn(daemon.http_port) as c:
        pad = [("X-Padding", "p" * 1000)] * 6
        c.send(_head_bytes(_signed_head(daemon, 2, pad)))
        _answer_then_closed(daemon, c, 431)
    with Conn(daemon.http_port) as c:  # one long line
        c.send(_head_bytes(_signed_head(daemon, 2, [("X-Padding", "p" * 6000)])))
        _answer_then_closed(daemon, c, 431)


def test_slow_headers(daemon, unchanged):
    limit = LIMITS["header_timeout_ms"] / 1000
    with Conn(daemon.http_port) as c:
        t0 = time.monotonic()
        c.send(b"POST /webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nX-GitHub-Event: push\r\n")
        r = _answer_then_closed(daemon, c, 408, timeout=limit + 30)
        took = time.monotonic() - t0
        # A lower bound only (a timer never fires early); how late the 408
        # comes on a loaded machine is not asserted.
        assert took >= limit * 0.7, f"408 after {took:.2f}s (limit {limit}s): {r}"
    # Dripping a byte every 100 ms does not reset the clock: the 408 comes
    # while the headers are still incomplete (all of them would take 300 s).
    with Conn(daemon.http_port) as c:
        t0 = time.monotonic()
        data = _head_bytes(_signed_head(daemon, 2, [("X-Padding", "p" * 3000)]))
        got = b""
        sent = 0
        for i in range(len(data)):
            if time.monotonic() - t0 > limit + 30 or not c.try_send(data[i:i + 1]):
                break
            sent = i + 1
            got = _recv_some(c, 0.1)
            if got:
                break
        if not got:
            got = _recv_some(c, 1.0)
        assert got.startswith(b"HTTP/1.1 408") or got.startswith(b"HTTP/1.0 408"), (
            f"a client dripping its headers got {got[:200]!r} after {sent} bytes")
        assert sent < len(data), f"408 only after all {len(data)} header bytes"


def _recv_some(c, timeout):
    c.sock.settimeout(timeout)
    try:
        return c.sock.recv(65536)
    except (socket.timeout, ConnectionResetError):
        return b""


def test_slow_body(daemon, unchanged):
    limit = LIMITS["body_timeout_ms"] / 1000
    with Conn(daemon.http_port) as c:
        t0 = time.monotonic()
        c.send(_head_bytes(_signed_head(daemon, 200)) + b'{"ref": "refs/tags/')
        _answer_then_closed(daemon, c, 408, timeout=limit + 30)
        took = time.monotonic() - t0
        # A lower bound only (a timer never fires early).
        assert took >= limit * 0.7, f"408 after {took:.2f}s (limit {limit}s)"


@pytest.mark.parametrize("framing,statuses", [
    ([("Content-Length", "10"), ("Transfer-Encoding", "chunked")], (400,)),
    ([("Transfer-Encoding", "chunked"), ("Content-Length", "10")], (400,)),
    ([("Content-Length", "10"), ("Content-Length", "12")], (400,)),
    ([("Content-Length", "1x")], (400,)),
    ([("Content-Length", "-1")], (400,)),
    # chunked not last: RFC 9112 6.3 says 400; an unknown coding may be 501.
    ([("Transfer-Encoding", "chunked, gzip")], (400, 501)),
], ids=["cl-te", "te-cl", "two-cl", "cl-garbage", "cl-negative", "te-unknown"])
def test_bad_framing(daemon, unchanged, framing, statuses):
    with Conn(daemon.http_port) as c:
        c.send(_head_bytes(_signed_head(daemon, None, framing)) + b"0\r\n\r\n{}")
        r = daemon.hooks.check(c.read_response(5))
        assert r.status in statuses, f"expected {statuses}: {r}"
        assert c.closed_by_peer(3), f"connection left open after {r.status}"


def test_too_many_connections(daemon, unchanged):
    n = LIMITS["max_connections"]
    held = [Conn(daemon.http_port) for _ in range(n)]
    try:
        wait_for(lambda: daemon.status()["webhooks"]["connections"] >= n, 30,
                 what=lambda: f"the daemon to accept {n} connections: "
                              f"{daemon.status()['webhooks']}")
        with Conn(daemon.http_port) as extra:
            try:  # the answer may come at once, or to the first request
                r = extra.read_response(1.5)
            except TimeoutError:
                extra.try_send(build_request("GET", "/healthz"))
                r = extra.read_response(5)
            daemon.hooks.check(r)
            assert r.status == 503, f"connection {n + 1} of {n} allowed: {r}"
            assert r.header("Retry-After"), f"503 without Retry-After: {r}"
            assert extra.closed_by_peer(3), "the refused connection was left open"
        # The ones within the limit are served.
        r = daemon.hooks.check(held[0].request("GET", "/healthz"))
        assert r.status == 200, r
    finally:
        for c in held:
            c.close()
    # Once they are closed, new connections are served again.
    wait_listening(daemon, timeout=10)


def test_keep_alive(daemon, commit, unchanged):
    """Several requests, webhooks among them, on one connection."""
    with Conn(daemon.http_port) as c:
        r1 = daemon.hooks.check(c.request("GET", "/healthz"))
        assert r1.status == 200, r1
        r2 = daemon.hooks.send("github", github_push(None, commit, ref="refs/heads/main"),
                               conn=c)
        expect_ignored(r2)
        r3 = daemon.hooks.check(c.request("GET", "/readyz"))
        assert r3.status == 200, r3
        r4 = daemon.hooks.send("github", b"{}", secret="wrong", conn=c)
        assert r4.status == 401, r4


def test_body_framings_a_proxy_may_use(daemon, commit, unchanged):
    """A signed body sent chunked, in small pieces, with lower-case header
    names (as HTTP/2 proxies forward them): read and checked all the same."""
    from webhook_support import body_of, forge_headers
    body = body_of(github_push(None, commit, ref="refs/heads/main"))
    daemon.hooks.expect_signatures(body)
    hs = [(k.lower(), v) for k, v in forge_headers("github", body, daemon.hooks.secrets["github"])]
    with Conn(daemon.http_port) as c:
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 100]), body[i:i + 100])
                          for i in range(0, len(body), 100)) + b"0\r\n\r\n"
        raw = _head_bytes([("Host", "127.0.0.1")] + hs + [("Transfer-Encoding", "chunked")])
        for i in range(0, len(raw + chunks), 37):
            c.send((raw + chunks)[i:i + 37])
            time.sleep(0.002)
        expect_ignored(daemon.hooks.check(c.read_response(5)), "branch", "tag", "ref")
        # and the connection goes on
        assert daemon.hooks.check(c.request("GET", "/healthz")).status == 200


def test_pipelined_requests(daemon, unchanged):
    """Two requests in one write: two answers, in order."""
    with Conn(daemon.http_port) as c:
        c.send(build_request("GET", "/healthz") + build_request("GET", "/nope"))
        first = daemon.hooks.check(c.read_response(5))
        second = daemon.hooks.check(c.read_response(5))
        assert (first.status, second.status) == (200, 404), (first, second)


def test_connection_close_is_honoured(daemon, unchanged):
    with Conn(daemon.http_port) as c:
        r = daemon.hooks.check(c.request("GET", "/healthz", [("Connection", "close")]))
        assert r.status == 200, r
        assert c.closed_by_peer(3), "the connection stayed open after Connection: close"


def test_idle_connection_closed(daemon, unchanged):
    limit = LIMITS["idle_timeout_ms"] / 1000
    with Conn(daemon.http_port) as c:
        r = daemon.hooks.check(c.request("GET", "/healthz"))
        assert r.status == 200, r
        t0 = time.monotonic()
        assert c.closed_by_peer(limit + 30), f"an idle connection still open after {limit + 30}s"
        took = time.monotonic() - t0
        # A lower bound only (not closed before idle_timeout_ms; the timer
        # started before t0, hence 0.7); how late it closes is not asserted.
        assert took >= limit * 0.7, f"an idle keep-alive connection closed after {took:.2f}s"


def test_request_line_garbage(daemon, unchanged):
    with Conn(daemon.http_port) as c:
        c.send(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n")
        # The parser refuses the request line: a 400, then the connection closed.
        r = c.read_response(5)
        assert r.status == 400, r
        assert c.closed_by_peer(3)


def test_daemon_still_serves(daemon):
    assert daemon.alive, daemon.log_tail()
    j = expect_json_answer(daemon.hooks.get("/healthz"), 200)
    assert j.get("status") == "alive"


# -- configuration ------------------------------------------------------------------------------
def test_forge_not_configured_and_secret_missing(webhook_env, commit):
    """Only github (its secret in Vault) and gitea (its key not in Vault):
    GitLab is refused with 401, Gitea with 503 and Retry-After."""
    d = webhook_env.hook_daemon(
        {"python-sdk": python_pipeline(webhook_env.repo, targets=["pypi"])},
        webhooks={"github": {"secret_key": "GITHUB_WEBHOOK_SECRET"},
                  "gitea": {"secret_key": "GITEA_SECRET_NOT_IN_VAULT"}})
    snap = QueueSnapshot(d)
    expect_error(d.hooks.send("gitlab", gitlab_tag_push(TAG, commit)), 401)
    for forgejo in (True, False):  # Forgejo's own headers, and Gitea's set
        r = d.hooks.send("gitea", gitea_push(TAG, commit), forgejo=forgejo)
        assert r.status == 503, f"forgejo headers={forgejo}: {r}"
        assert r.header("Retry-After"), f"503 without Retry-After: {r}"
    j = expect_json_answer(d.hooks.send("github", {"zen": "z", "hook_id": 1}, event="ping"),
                           200)
    assert j.get("event") == "ping", j
    snap.assert_unchanged("a forge not configured / a secret not loaded")
    d.stop()


@pytest.mark.parametrize("change,words", [
    ({"pipelines": {"python-sdk": {"env": {"HOME": "/root"}}}}, ("home",)),
    ({"pipelines": {"python-sdk": {"tag_pattern": "python-sdk-v"}}}, ("tag_pattern",)),
    ({"pipelines": {"python-sdk": {"tag_pattern": "v*-*"}}}, ("tag_pattern",)),
    ({"pipelines": {"python-sdk": {"targets": ["no-such-registry"]}}}, ("no-such-registry",)),
    ({"pipelines": {"python-sdk": {"targets": []}}}, ("targets",)),
    ({"pipelines": {"python-sdk": {"build": []}}}, ("build",)),
    ({"pipelines": {"python-sdk": {"artifacts": None}}}, ("artifacts",)),
    ({"webhooks": {"bitbucket": {"secret_key": "X"}}}, ("bitbucket",)),
    ({"listen": {"address": "127.0.0.1"}}, ("address",)),
    ({"listen": {"max_body_bytes": 10}}, ("max_body_bytes",)),
], ids=["env-home", "pattern-no-star", "pattern-two-stars", "unknown-target", "no-targets",
        "no-build", "no-artifacts", "unknown-forge", "address-no-port", "body-limit"])
def test_check_config_refuses(daemon, change, words):
    """`aos-publishd --check-config` names what is wrong (exit 78)."""
    from aos_fixtures import deep_merge
    cfg = deep_merge(daemon.config, change)
    path = daemon.dir / "bad-config.json"
    path.write_text(json.dumps(cfg))
    p = subprocess.run([str(PUBLISHD), "--check-config", str(path)], capture_output=True,
                       text=True, timeout=20, env={"PATH": "/usr/bin:/bin"})
    out = (p.stdout + p.stderr).lower()
    assert p.returncode == 78, f"--check-config accepted {change}: rc={p.returncode} {out}"
    assert any(w in out for w in words), f"the message names none of {words}: {out}"


def test_webhook_secret_rotation(webhook_env, daemon, commit):
    """A new GitHub webhook secret in Vault is used after a refresh, without
    a restart; the previous one is still accepted for rotation_grace_s (2 s
    here), then refused; the other forges' secrets are untouched.
    A ping with the old secret proves the grace only when it was answered
    within GRACE_S of the refresh; on a machine too loaded for that, the
    round is repeated with another secret (not failed, not skipped)."""
    import secrets as _secrets
    ping = {"zen": "z", "hook_id": 1}

    def pinged(secret):
        j = expect_json_answer(daemon.hooks.send("github", ping, event="ping", secret=secret),
                               200)
        assert j.get("event") == "ping", j

    for _round in range(3):
        old = daemon.hooks.secrets["github"]
        new = _secrets.token_urlsafe(32)
        webhook_env.set_secret(GITHUB_WEBHOOK_SECRET=new)
        daemon.hooks.needles.add(new)
        t0 = time.monotonic()  # before the daemon switched
        r = daemon.refresh()
        switched = time.monotonic()  # after it switched
        assert r.rc == 0 and "GITHUB_WEBHOOK_SECRET" in r.json.get("changed", []), r
        daemon.hooks.secrets["github"] = new
        webhook_env.webhook_secrets["github"] = new
        answer = daemon.hooks.send("github", ping, event="ping", secret=old)
        if time.monotonic() - t0 < GRACE_S:
            expect_json_answer(answer, 200)
            break
        assert answer.status in (200, 401), answer  # too late to tell: again
    else:
        raise AssertionError(f"no ping answered within the {GRACE_S} s grace in 3 rounds")
    pinged(new)
    # The grace runs out: a lower bound only (GRACE_S + 1 after the switch).
    time.sleep(max(0.0, GRACE_S + 1 - (time.monotonic() - switched)))
    expect_error(daemon.hooks.send("github", ping, event="ping", secret=old), 401)
    pinged(new)
    expect_ignored(daemon.hooks.send("gitlab", gitlab_tag_push(TAG, commit, deleted=True)))


def test_vault_unreachable_not_ready(webhook_env, commit):
    """Before the secrets are loaded (Vault unreachable from the start): the
    listener answers /healthz 200, /readyz 503 with a reason, and webhooks
    503 with Retry-After; nothing is enqueued."""
    from peers.proc import free_port
    d = webhook_env.hook_daemon(
        {"python-sdk": python_pipeline(webhook_env.repo, targets=["pypi"])}, start=False,
        config={"vault": {"address": f"http://127.0.0.1:{free_port()}"}})
    d.start(wait_ready=False)
    wait_listening(d)
    snap = QueueSnapshot(d)
    j = expect_json_answer(d.hooks.get("/readyz"), 503)
    assert j.get("ok") is False and j.get("ready") is False and j.get("reason"), j
    for forge in FORGES:
        r = d.hooks.send(forge, payload(forge, commit_id=commit))
        assert r.status == 503, f"{forge} delivery before the secrets are loaded: {r}"
        assert r.header("Retry-After"), f"503 without Retry-After: {r}"
    snap.assert_unchanged("deliveries before the secrets were loaded")
    d.stop()


def test_build_request_helper():
    """The raw client frames what it is given (a sanity check of the test
    itself: the framing tests above depend on it)."""
    raw = build_request("POST", "/webhook", [("A", "1")], b"xy")
    assert raw == b"POST /webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nA: 1\r\nContent-Length: 2\r\n\r\nxy"
