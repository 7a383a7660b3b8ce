"""`reconcile` reads each PyPI target's index_url with the upload's
credentials only when the index has the upload URL's origin (scheme, host,
port): the rule uploads follow.  An index_url on another host gets no
Authorization header, so a configuration that points the index at a
mirror or a third party cannot hand it the token.

One recording peer plays the index host.  Target "same" has its upload URL
on that host too (credentials expected there); target "other" uploads to
another origin (no credentials may reach the index host).
"""

from __future__ import annotations

import base64

from aos_fixtures import approle_auth
from peer_support import Answer, Peer
from peers.proc import free_port
from webhook_support import GitRepo, ctl_reconcile, python_pipeline


def test_index_on_another_origin_gets_no_credentials(seeded, daemons, workdir):
    index = Peer(lambda seen, peer: Answer(404))
    try:
        repo = GitRepo(workdir / "git")
        repo.tag("python-sdk-v0.1.0", repo.commit_release("0.1.0"))
        d = daemons(seeded.bao.addr)
        d.config["vault"]["auth"] = approle_auth(d, seeded.creds)
        d.config["registries"].update({
            "same": {"type": "pypi", "url": f"{index.origin}/same/legacy/",
                     "index_url": f"{index.origin}/same/simple/",
                     "token_key": "PYPI_API_TOKEN", "username": "__token__"},
            "other": {"type": "pypi", "url": f"http://127.0.0.1:{free_port()}/legacy/",
                      "index_url": f"{index.origin}/other/simple/",
                      "token_key": "PYPI_API_TOKEN", "username": "__token__"},
        })
        d.config["pipelines"] = {"python-sdk": python_pipeline(repo, targets=("same", "other"))}
        d.start()
        r = ctl_reconcile(d, "python-sdk", dry_run=True)
        assert r.rc == 0, f"{r}\n{d.log_tail()}"

        token = seeded.values["PYPI_API_TOKEN"]
        basic = "Basic " + base64.b64encode(f"__token__:{token}".encode()).decode()
        seen = {s.path.split("/")[1]: s for s in index.seen()}
        assert set(seen) == {"same", "other"}, [s.path for s in index.seen()]
        assert seen["same"].headers.get("authorization") == basic, (
            "the index on the upload's own origin should get the credentials: "
            f"{seen['same'].headers}")
        assert "authorization" not in seen["other"].headers, (
            f"credentials sent to an index on another origin: {seen['other'].headers}")
        assert token not in seen["other"].text()
    finally:
        index.close()
