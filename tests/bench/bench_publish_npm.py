#!/usr/bin/env python3
"""Publish benchmark 2: one 50 MiB npm tarball published by aos-publishd, by
`npm publish <tgz>` (the system's npm) and by `curl` PUT of the prebuilt
publish document, in the same run, to the same two local servers: the
loopback sink (reads and discards bodies; 404 to the packument GET, 201 to
the PUT) and a real verdaccio (max_body_size 200mb).

Tarballs carry 50 MiB of random (incompressible) data.  Against the sink
every client sends the same tarball.  verdaccio keeps what it is sent, so
there every run publishes a new version (1.0.K, K increasing across all
clients so that `latest` only moves up) of a tarball built the same way
(untimed, deleted after the run); after each run the packument must list
that version with the tarball's SHA-512 integrity.

  aos-publishd   `aos-publishctl --json publish --registry R TGZ`, timed from
                 spawn to exit; the daemon (a fresh one per server) is already
                 running and READY.  It reads the packument (dist-tag rules),
                 then PUTs the document with the tarball base64-encoded as it
                 streams.  Its peak RSS is its VmHWM from /proc after the
                 uploads (absolute, since its start).
  dry run        `aos-publishctl publish --dry-run`: inspection (archive,
                 package.json, SHA-256/SHA-512/SHA-1) and the packument GET.
  npm publish    `npm publish TGZ --access public` with a private 0600
                 userconfig holding `registry=` and `//host:port/:_authToken=`.
  curl PUT       `curl -T DOC` of the document npm 11 (libnpmpublish) builds:
                 _id, name, description, dist-tags, versions {manifest + _id
                 + dist {integrity, shasum, tarball}}, access, _attachments
                 {data: base64, length}; written beforehand (untimed).  Token
                 in a curl config file (-K), not in argv.

Peak RSS of the clients is what GNU /usr/bin/time reports for them.  Each
client runs once untimed (warm-up), then --reps times (default 5), the order
rotated each repetition; median and min are reported.

Usage: .venv/bin/python tests/bench/bench_publish_npm.py [--reps 5]
           [--size-mib 50] [--targets sink,verdaccio] [--json FILE] [--keep]
Targets (issue 3): aos-publishd wall time <= 1.15x curl's; its peak RSS
<= 16 MB.  Nothing is asserted.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_publish_lib as L  # noqa: E402

B, PS = L.B, L.PS
NAME = "@agenticverz/aos-sdk-bench"
CLIENTS = ["aos-publishd", "aos-publishd --dry-run", "npm publish", "curl PUT"]


class Versions:
    def __init__(self):
        self.k = 0

    def next(self) -> str:
        self.k += 1
        return f"1.0.{self.k}"


def bench_target(w: L.World, target: str, size: int, reps: int, versions: Versions,
                 art: Path) -> dict:
    if target == "sink":
        url, reg = w.sink.url, "sink-npm"
    else:
        url, reg = w.env.npm.url, "npm"
    token = w.env.values["NPM_TOKEN"]
    cfg = L.curl_config(w, f"{target}.curl", f"Authorization: Bearer {token}")
    npm_env = L.npm_env(w, url, token)
    d = w.daemon()
    mem = {"ready": L.status_kb(d.pid)}
    clean = {"PATH": B.CLEAN_PATH}
    fixed = {}
    if target == "sink":  # one tarball and one document for every run
        fixed["tgz"] = PS.make_big_npm(art, NAME, versions.next(), size)
        fixed["doc"] = L.write_npm_doc(fixed["tgz"], url, art / "sink-doc.json")

    def artifact(with_doc: bool = False):
        """(tgz, doc or None, cleanup) for one run."""
        if target == "sink":
            return fixed["tgz"], fixed.get("doc"), lambda: None
        tgz = PS.make_big_npm(art, NAME, versions.next(), size)
        doc = L.write_npm_doc(tgz, url, art / "doc.json") if with_doc else None

        def cleanup():
            tgz.unlink()
            if doc is not None:
                doc.unlink()
        return tgz, doc, cleanup

    def verify(what: str, tgz: Path) -> dict:
        """Checks the publish arrived; against the sink, returns how long the
        PUT body took to arrive (end of headers to end of body)."""
        if target == "sink":
            got = [s for s in w.sink.take_stats() if s["method"] == "PUT"]
            if len(got) != 1 or got[0]["bytes"] < tgz.stat().st_size * 4 // 3:
                raise B.BenchError(f"{what}: the sink saw {got}")
            return {"sink_body_s": got[0]["body_s"]}
        version = L.npm_manifest(tgz)["version"]
        doc = w.env.npm.packument(NAME) or {}
        dist = doc.get("versions", {}).get(version, {}).get("dist", {})
        if dist.get("integrity") != PS.sha512_sri(tgz):
            raise B.BenchError(f"{what}: verdaccio has {NAME}@{version} as {dist}")
        return {}

    def reset():
        if target == "sink":
            w.sink.take_stats()

    def daemon(i):
        tgz, _, cleanup = artifact()
        reset()
        r = L.timed("aos-publishctl publish", L.publishctl_argv(d, reg, [tgz]), clean,
                    workdir=w.dir, timeout=180).check()
        final = L.publishctl_final(r)
        if final.get("outcome") != "published":
            raise B.BenchError(f"aos-publishd: {final}")
        v = verify("aos-publishd", tgz)
        cleanup()
        st = L.status_kb(d.pid)
        if "first_upload" not in mem:
            mem["first_upload"] = st
        return {"seconds": r.seconds, "ctl_maxrss_kb": r.maxrss_kb, "daemon": st, **v}

    def dry(i):
        tgz, _, cleanup = artifact()
        r = L.timed("aos-publishctl publish --dry-run",
                    [B.PUBLISHCTL, "--socket", d.socket, "--json", "publish",
                     "--dry-run", "--registry", reg, tgz], clean, workdir=w.dir).check()
        if L.publishctl_final(r).get("outcome") != "dry-run":
            raise B.BenchError(f"dry run: {r.out[-1000:]}")
        cleanup()
        return {"seconds": r.seconds, "ctl_maxrss_kb": r.maxrss_kb,
                "daemon": L.status_kb(d.pid)}

    def npm(i):
        tgz, _, cleanup = artifact()
        reset()
        r = L.timed("npm publish", [L.NPM, "publish", tgz, "--access", "public"], npm_env,
                    cwd=w.home("npm"), workdir=w.dir, timeout=180).check()
        v = verify("npm publish", tgz)
        cleanup()
        return {"seconds": r.seconds, "maxrss_kb": r.maxrss_kb, **v}

    def curl(i):
        tgz, doc, cleanup = artifact(with_doc=True)
        reset()
        r = L.timed("curl PUT", L.curl_put_argv(L.npm_package_url(url, NAME), doc, cfg),
                    clean, workdir=w.dir, timeout=180).check()
        v = verify("curl PUT", tgz)
        cleanup()
        return {"seconds": r.seconds, "maxrss_kb": r.maxrss_kb, **v}

    tools = [("aos-publishd", daemon), ("aos-publishd --dry-run", dry),
             ("npm publish", npm), ("curl PUT", curl)]
    L.log(f"== {target}: {url}")
    res = L.rounds(tools, reps, warmup=1, log=L.log)
    mem["end"] = L.status_kb(d.pid)
    rc = w.stop_daemon(d)
    out = {"url": url, "runs": res, "summary": {k: L.summarize(v) for k, v in res.items()},
           "daemon_memory": mem, "daemon_exit": rc}
    if target == "sink":
        out["tarball_bytes"] = fixed["tgz"].stat().st_size
        out["document_bytes"] = fixed["doc"].stat().st_size
        fixed["doc"].unlink()
    return out


def report(result: dict) -> str:
    lines = []
    for target, t in result["targets"].items():
        s = t["summary"]
        curl = s["curl PUT"]["median"]
        rows = []
        for name in CLIENTS:
            x = s[name]
            if name.startswith("aos-publishd"):
                rss = "-"
                if name == "aos-publishd":
                    rss = f"{L.fmt_mib(t['daemon_memory']['end']['VmHWM_kB'])} (VmHWM)"
            else:
                rss = L.fmt_mib(x.get("maxrss_kb"))
            row = [name, L.fmt_s(x["median"]), L.fmt_s(x["min"]), L.fmt_s(x["max"]),
                   f"{x['median'] / curl:.2f}x", rss]
            if target == "sink":
                row.append(L.fmt_s(x.get("sink_body_s_median")))
            rows.append(row)
        lines.append(f"### {target} ({t['url']}), n={s['curl PUT']['n']} each\n")
        if "document_bytes" in t:
            lines.append(f"Tarball {t['tarball_bytes']} bytes; publish document "
                         f"{t['document_bytes']} bytes.\n")
        cols = ["client", "median s", "min s", "max s", "median / curl PUT",
                "peak RSS MiB"]
        if target == "sink":
            cols.append("PUT body arrival s (sink, median)")
        lines.append(L.table(rows, cols))
        m = t["daemon_memory"]
        lines.append("")
        lines.append("aos-publishd memory (/proc/PID/status, MiB): " + "; ".join(
            f"{k}: VmHWM {L.fmt_mib(v['VmHWM_kB'])}, VmRSS {L.fmt_mib(v['VmRSS_kB'])}, "
            f"RssAnon {L.fmt_mib(v['RssAnon_kB'])}, RssFile {L.fmt_mib(v['RssFile_kB'])}"
            for k, v in m.items()))
        lines.append(f"aos-publishctl (the client) peak RSS: "
                     f"{L.fmt_mib(s['aos-publishd'].get('ctl_maxrss_kb'))} MiB.")
        d = s["aos-publishd"]["median"]
        hwm = m["end"]["VmHWM_kB"]
        npm = s["npm publish"]
        lines.append(f"\nTargets: wall time {d / curl:.2f}x curl PUT (target <= 1.15x: "
                     f"{'met' if d / curl <= 1.15 else 'NOT met'}); peak RSS "
                     f"{hwm / 1024:.1f} MiB (target <= 16 MiB: "
                     f"{'met' if hwm <= 16 * 1024 else 'NOT met'}).  npm publish: "
                     f"{npm['median'] / d:.1f}x the daemon's time, "
                     f"{npm['maxrss_kb'] / hwm:.0f}x its peak RSS.\n")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--size-mib", type=float, default=50)
    ap.add_argument("--targets", default="sink,verdaccio")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    args = B.parse_args(ap, smoke={"reps": 1, "size_mib": 0.05})
    B.require_tools(npm=L.NPM, curl=L.CURL, time=L.GNU_TIME)
    targets = [t for t in args.targets.split(",") if t]
    for t in targets:
        if t not in ("sink", "verdaccio"):
            ap.error(f"unknown target {t}")
    result = L.header("bench_publish_npm: 50 MiB npm tarball")
    result["reps"] = args.reps
    size = int(args.size_mib * L.MIB)
    versions = Versions()
    with L.World(keep=args.keep, need_pypi=False,
                 need_npm="verdaccio" in targets) as w:
        art = w.dir / "art"
        art.mkdir()
        result["targets"] = {t: bench_target(w, t, size, args.reps, versions, art)
                             for t in targets}
    result["load_after"] = " ".join(open("/proc/loadavg").read().split()[:3])
    B.write_result(args.json, result)
    print(report(result))
    return 0


if __name__ == "__main__":
    B.run(main)
