#!/usr/bin/env python3
"""Webhook ingest benchmark (issue 5): aos-publishd's webhook listener beside
adnanh/webhook (Debian `webhook`), the same wrk load on both, in one run.

  1. Signed deliveries: --bodies GitHub `push` deliveries (default 250,000),
     each of its own tag python-sdk-v0.0.<i> and commit, with its own
     X-GitHub-Delivery, signed (X-Hub-Signature-256) with the run's
     webhook secret.  wrk (-t --threads, -d --duration) with
     webhook_wrk.lua sends them, each wrk thread its own slice, and counts
     the answers by status:
       a. closed loop at each of --conns connections (each connection sends
          its next delivery as soon as the answer came): the most a server
          takes, and its latency when saturated;
       b. paced at about --rate deliveries per second (--pace-conns
          connections, each waiting a random 0.5-1.5 x (conns/rate - 2 ms)
          before each request; a slower answer makes the rate lower): the
          latency at the target's rate.
     Our daemon answers 202 only after the job is committed
     (synchronous=FULL) to its SQLite queue; it is drained, so the jobs
     stay queued; afterwards they are counted against the 202s wrk saw.
     After the last closed-loop run the daemon is killed (SIGKILL) and the
     jobs are counted again in a copy of its database (queue.db + WAL).
     adnanh/webhook checks the signature with its `payload-hmac-sha256`
     trigger rule and runs /bin/true per delivery (it answers before the
     command ends; it has no queue, nothing is durable).
  2. Bad signatures: the same deliveries signed with another key,
     --flood-duration seconds at --flood-conns connections, closed loop,
     the Lua status counter left out (wrk at full speed; the status comes
     from a probe request).

Each run gets a fresh server.  VmRSS and VmHWM of the server are read from
/proc/PID/status before the load, every 0.2 s during it, and --settle
seconds after it; its CPU time (and its children's, for webhook's
/bin/true) and wrk's over the run.  Before each run, probe requests on
their own connection show what each server answers (status and body).
With --pin the server runs on CPU 0 and wrk on CPU 1 (each tool then has
one CPU; without it they share the machine's).  Diagnostics:
--restart-check starts the killed daemon again on its database and times
it; --loop-syscalls samples what our daemon's loop thread does (the
system call it is in) every 1 ms.

Targets (issue 5), read as in issue 4 (MB = MiB): signed deliveries >=
2,000 per second with p99 <= 20 ms and the daemon's RSS <= 32 MB under
load; bad signatures >= 20,000 rejections (401) per second with RSS flat.
Nothing is asserted.

Usage: .venv/bin/python tests/bench/bench_webhook.py [--conns 32,64]
           [--rate 2000] [--pace-conns 32] [--threads 2] [--duration 10]
           [--bodies 250000] [--flood-conns 64] [--flood-duration 10]
           [--settle 2] [--tools ours,webhook] [--pin] [--no-kill-check]
           [--restart-check] [--loop-syscalls] [--bad-bodies 40000]
           [--json FILE] [--keep] [--time-limit 900]
Environment: AOS_BUILD_DIR (default ./build).
"""

from __future__ import annotations

import argparse
import secrets
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_webhook_lib as W  # noqa: E402

Q, L, B = W.Q, W.L, W.B
TARGET_RATE, TARGET_P99_MS, TARGET_RSS_KIB, TARGET_FLOOD = 2000, 20.0, 32 * 1024, 20000
PROBE_BASE = 10_000_000  # probe deliveries are numbered outside the files' range
SERVER_CPUS, WRK_CPUS = {0}, {1}
PACE_LATENCY_MS = 2.0  # a typical answer time, taken off each paced connection's wait
NAMES = {"ours": "aos-publishd", "webhook": "adnanh/webhook"}


def mib(kb) -> str:
    return "-" if kb is None else f"{kb / 1024:.1f}"


def probes(port: int, path: str, salt: str, key: bytes, n0: int) -> dict:
    """A new delivery, the same delivery again, and a wrong signature."""
    body, h = W.probe_delivery(n0, salt, key)
    out = {"signed": W.post(port, path, body, h)}
    out["same delivery again"] = W.post(port, path, body, h)
    body, h = W.probe_delivery(n0 + 1, salt, secrets.token_bytes(32))
    out["wrong signature"] = W.post(port, path, body, h)
    return out


def label(spec: dict) -> str:
    if spec["load"] == "bad":
        return "wrong signature, closed loop"
    if spec.get("rate"):
        return f"signed, paced ~{spec['rate']}/s"
    return "signed, closed loop"


class Server:
    """One fresh server of either tool: pid, port, URL path, log."""

    def __init__(self, w, tool: str, secret: str, n: int, args):
        self.w, self.tool, self.d, self.hook, self.path = w, tool, None, None, W.PATH
        if tool == "ours":
            self.d, self.port = W.start_ours(w)
            self.pid, self.log = self.d.pid, self.d.log_path
        else:
            self.hook = W.AdnanhWebhook(w.dir / f"webhook-{n}", secret).start()
            self.pid, self.port, self.log = self.hook.pid, self.hook.port, self.hook.log_path
        if args.pin:
            W.pin(self.pid, SERVER_CPUS)

    @property
    def url(self) -> str:
        return f"{W.base_url(self.port)}{self.path}"

    @property
    def alive(self) -> bool:
        return (self.d.alive if self.d else self.hook.proc.poll() is None)

    def close(self):
        rc = None
        if self.d is not None and self.d in self.w.daemons:
            rc = Q.stop_daemon(self.w, self.d, drain=self.d.alive)
        if self.hook is not None:
            rc = self.hook.stop()
        return rc


def one_run(w, spec: dict, args, bodies: dict, secret: str, n: int) -> dict:
    """Start a fresh server, probe it, put the wrk load on it, measure."""
    tool, which, conns, rate = spec["tool"], spec["load"], spec["conns"], spec.get("rate")
    res = dict(spec, label=label(spec))
    srv = Server(w, tool, secret, n, args)
    try:
        if srv.d is not None:
            res["readyz_s"], res["drain"] = srv.d.readyz_s, srv.d.drained
        res["probe"] = probes(srv.port, srv.path, bodies["salt"], secret.encode(),
                              PROBE_BASE + 10 * n)
        time.sleep(0.3)
        res["mem_before"] = L.status_kb(srv.pid)
        r = W.run_wrk(srv.url, bodies["prefix"], which, args.threads, conns,
                      args.duration if which == "good" else args.flood_duration,
                      count_status=(which == "good"),
                      delay_ms=max(0.0, conns * 1000.0 / rate - PACE_LATENCY_MS) if rate else 0,
                      pid=srv.pid, cpus=WRK_CPUS if args.pin else None, workdir=w.dir,
                      syscalls=args.loop_syscalls and tool == "ours")
        res.update(r)
        time.sleep(args.settle)
        res["mem_after"] = L.status_kb(srv.pid)
        res["alive"] = srv.alive
        if srv.d is not None:
            after_ours(srv.d, res, spec, w)
        res["log"] = W.log_lines(srv.log)
    finally:
        res["stop_rc"] = srv.close()
    s = res.get("status") or {}
    Q.log(f"  {tool:7s} {res['label']:28s} c={conns:3d}: {res['req_per_s']:7.0f} req/s, "
          f"p50 {res['latency_ms']['p50']:.2f} ms, p99 {res['latency_ms']['p99']:.2f} ms; "
          f"status {s or '(not counted)'}; errors {res['errors']}; RSS "
          f"{mib(res['mem_before']['VmRSS_kB'])} -> max {mib(res['server']['rss_max_kB'])} "
          f"-> {mib(res['mem_after']['VmRSS_kB'])} MiB; CPU s server "
          f"{res['server']['cpu_s'] + res['server']['children_cpu_s']:.1f}, wrk "
          f"{res['client_cpu_s']:.1f}, others {res['rest_cpu_s']:.1f}, interrupts "
          f"{res['machine_cpu_s']['interrupts']:.1f}, steal {res['machine_cpu_s']['steal']:.1f}"
          + (f"; jobs {res['jobs_in_queue']} (202s {res['jobs_expected']})"
             if "jobs_in_queue" in res else ""))
    return res


def after_ours(d, res: dict, spec: dict, w) -> None:
    """Count the queue's jobs; SIGKILL and count them on disk; restart."""
    depth = W.queue_depth(d)
    res["depth"] = depth
    res["jobs_in_queue"] = sum(depth.values())
    probe_jobs = sum(1 for p in res["probe"].values() if p["status"] == 202)
    res["jobs_expected"] = (res.get("status") or {}).get("202", 0) + probe_jobs
    if not spec.get("kill"):
        return
    d.proc.send_signal(signal.SIGKILL)
    d.proc.wait(10)
    res["kill_check"] = W.jobs_on_disk(d.state_dir, w.dir)
    Q.log(f"  after SIGKILL: {res['kill_check']}")
    if spec.get("restart"):
        res["restart_check"] = restart(d)
        Q.log(f"  restart: {res['restart_check']}")


def restart(d) -> dict:
    """Start the killed daemon again on its database: time to READY=1, to
    the first answer of `status` on the control socket, the jobs' states
    then, and the log lines that say a job died."""
    n0 = len(d.notify.messages)
    lines0 = len(d.log_text().splitlines())
    t0 = time.monotonic()
    d.start(wait_ready=False, snapshot_at_ready=False)
    d.wait_ready(start=n0, timeout=120)
    t_ready = time.monotonic() - t0
    c = Q.Ctl(d.socket, timeout=600)
    st = c.call({"cmd": "status"})
    t_status = time.monotonic() - t0
    c.call({"cmd": "drain"})
    c.close()
    time.sleep(1)
    new = d.log_text().splitlines()[lines0:]
    dead = [ln for ln in new if " dead: " in ln]
    return {"ready_s": t_ready, "first_status_s": t_status,
            "depth_at_first_status": (st.get("queue") or {}).get("depth"),
            "depth_after": W.queue_depth(d), "dead_lines": len(dead),
            "dead_example": dead[0][:200] if dead else None}


# -- report ---------------------------------------------------------------------------

HEAD = ("| server | load | conns | requests | req/s | accepted/s | 202 / 200 / 401 / 5xx / other "
        "| socket errors | p50 ms | p90 ms | p99 ms | max ms | RSS before MiB | RSS max "
        "| RSS after | VmHWM after | server CPU s (self + children) | server CPU us/request "
        "| wrk CPU s | other processes CPU s | interrupts CPU s | steal s | idle CPU s |\n"
        + "|---" * 23 + "|")


def row(r: dict) -> str:
    s, lat, srv = r.get("status"), r["latency_ms"], r["server"]
    errs = sum(r["errors"].values()) - r["errors"].get("status", 0)
    if s:
        good = s["202"] if r["tool"] == "ours" else s["200"]
        st = f"{s['202']} / {s['200']} / {s['401']} / {s['5xx']} / {s['other 4xx'] + s['other']}"
        ok_rate = f"{good / r['duration_s']:.0f}"
    else:
        st, ok_rate = f"non-2xx {r['errors'].get('status', 0)} of {r['requests']}", "-"
    cpu = (srv["cpu_s"] + srv["children_cpu_s"]) / max(1, r["requests"]) * 1e6
    m = r["machine_cpu_s"]
    return (f"| {NAMES[r['tool']]} | {r['label']} | {r['conns']} | {r['requests']} "
            f"| {r['req_per_s']:.0f} | {ok_rate} | {st} | {errs} | {lat['p50']:.2f} "
            f"| {lat['p90']:.2f} | {lat['p99']:.2f} | {lat['max']:.1f} "
            f"| {mib(r['mem_before']['VmRSS_kB'])} | {mib(srv['rss_max_kB'])} "
            f"| {mib(r['mem_after']['VmRSS_kB'])} | {mib(r['mem_after']['VmHWM_kB'])} "
            f"| {srv['cpu_s']:.1f} + {srv['children_cpu_s']:.1f} | {cpu:.0f} "
            f"| {r['client_cpu_s']:.1f} | {r['rest_cpu_s']:.1f} | {m['interrupts']:.1f} "
            f"| {m['steal']:.1f} | {m['idle']:.1f} |")


def ratio(a, b) -> str:
    return "-" if a is None or not b else f"{a / b:.2f}x"


def ratio_lines(runs: list[dict]) -> list[str]:
    out = ["| load | conns | req/s | p50 | p99 | RSS max | RSS growth (ours / webhook) |",
           "|---|---|---|---|---|---|---|"]
    for r in runs:
        o = next((x for x in runs if x["tool"] == "webhook" and x["label"] == r["label"]
                  and x["conns"] == r["conns"]), None)
        if r["tool"] != "ours" or o is None:
            continue
        g1 = r["server"]["rss_max_kB"] - r["mem_before"]["VmRSS_kB"]
        g2 = o["server"]["rss_max_kB"] - o["mem_before"]["VmRSS_kB"]
        out.append(f"| {r['label']} | {r['conns']} | {ratio(r['req_per_s'], o['req_per_s'])} "
                   f"| {ratio(r['latency_ms']['p50'], o['latency_ms']['p50'])} "
                   f"| {ratio(r['latency_ms']['p99'], o['latency_ms']['p99'])} "
                   f"| {ratio(r['server']['rss_max_kB'], o['server']['rss_max_kB'])} "
                   f"| {g1 / 1024:+.1f} / {g2 / 1024:+.1f} MiB |")
    return out


def queue_lines(runs: list[dict]) -> list[str]:
    out = []
    for r in runs:
        if "jobs_in_queue" not in r:
            continue
        kc, rc = r.get("kill_check"), r.get("restart_check")
        line = (f"- {r['label']}, c={r['conns']}: {r['jobs_in_queue']} jobs in the queue, "
                f"{r['jobs_expected']} answers 202 seen (load + probes), difference "
                f"{r['jobs_in_queue'] - r['jobs_expected']:+d} (at most the connections "
                f"whose answer wrk did not read when it stopped)")
        if kc:
            line += (f"; after SIGKILL, the copy of queue.db + WAL holds {kc['jobs']} jobs, "
                     f"{kc['distinct_keys']} distinct keys")
        if rc:
            line += (f"; restarted on it: READY=1 after {rc['ready_s']:.2f} s, first `status` "
                     f"answer after {rc['first_status_s']:.2f} s, then {rc['depth_after']}, "
                     f"{rc['dead_lines']} 'dead' log lines, e.g. `{rc['dead_example']}`")
        out.append(line + f"; wrapped slices {r.get('wrapped')}; log {r['log']['lines']} lines, "
                   f"{r['log']['bytes'] / 1e6:.1f} MB, {r['log']['n_problems']} distinct "
                   f"warning/error lines")
    return out


def report(res: dict) -> str:
    runs = res["runs"]
    out = ["## Webhook ingest (bench_webhook.py)", "",
           f"wrk: {res['wrk']}; adnanh/webhook: {res['webhook']}; {res['bodies']} deliveries "
           f"of {res.get('body_bytes_mean', 0):.0f} bytes on average; -t{res['threads']}, "
           f"{res['duration']:g} s per signed run, {res['flood_duration']:g} s per flood; "
           + ("server on CPU 0, wrk on CPU 1" if res["pin"] else "server and wrk share the CPUs")
           + ("; **over HTTPS** (both servers, the same self-signed EC P-256 certificate)"
              if res.get("tls") else ""),
           "", HEAD] + [row(r) for r in runs]
    out += ["", "### Ratios (aos-publishd / adnanh/webhook)", ""] + ratio_lines(runs)
    out += ["", "### Probes (one request each, own connection, before the load)", ""]
    for tool in ("ours", "webhook"):
        r = next((x for x in runs if x["tool"] == tool), None)
        for k, p in (r or {}).get("probe", {}).items():
            out.append(f"- {NAMES[tool]}, {k}: {p['status']} `{p['body'][:160]}`")
    out += ["", "### Queue check (aos-publishd)", ""] + queue_lines(runs)
    loops = [r for r in runs if r.get("loop_syscalls")]
    if loops:
        out += ["", "### aos-publishd's event loop thread, sampled every 1 ms", ""]
        for r in loops:
            ls = r["loop_syscalls"]
            out.append(f"- {r['label']}, c={r['conns']}: " + ", ".join(
                f"{k} {v * 100:.0f} % (longest {ls['longest_ms'].get(k, 0):.0f} ms)"
                for k, v in list(ls["share"].items())[:5]) + f" (n={ls['n']})")
    out += ["", "### Targets (issue 5)", ""] + targets(runs)
    machine = [ln for ln in Q.machine_lines(res["info"], res["load"])
               if not ln.startswith("- no other process")]
    rest = sum(r["rest_cpu_s"] for r in runs)
    secs = sum(r["duration_s"] for r in runs)
    machine.append(f"- other processes (not this benchmark's) used {rest:.0f} CPU s during "
                   f"the {secs:.0f} s of load ({rest / max(1, secs):.2f} CPUs on average), "
                   f"from /proc/stat less the server's, wrk's and this script's own time "
                   f"(network softirq work can be counted both in a process's system time "
                   f"and as interrupts: values near zero or below mean none)")
    out += ["", "### Machine", ""] + machine
    return "\n".join(out) + "\n"


def targets(runs: list[dict]) -> list[str]:
    lines = []
    for r in (x for x in runs if x["tool"] == "ours"):
        grow = r["mem_after"]["VmRSS_kB"] - r["mem_before"]["VmRSS_kB"]
        if r["load"] == "good":
            rate = (r.get("status") or {}).get("202", 0) / r["duration_s"]
            hwm = max(r["mem_after"]["VmHWM_kB"] or 0, r["server"]["rss_max_kB"] or 0)
            p99 = r["latency_ms"]["p99"]
            met = ("the rate is the client's here" if r.get("rate")
                   else "met" if rate >= TARGET_RATE else "MISSED")
            lines.append(
                f"- {r['label']}, c={r['conns']}: {rate:.0f} committed/s (>= {TARGET_RATE}: "
                f"{met}), p99 {p99:.2f} ms "
                f"(<= {TARGET_P99_MS:g}: {'met' if p99 <= TARGET_P99_MS else 'MISSED'}), "
                f"VmHWM {hwm / 1024:.1f} MiB (<= 32: "
                f"{'met' if hwm <= TARGET_RSS_KIB else 'MISSED'})")
        else:
            rate = r["errors"].get("status", 0) / r["duration_s"]
            lines.append(
                f"- {r['label']}, c={r['conns']}: {rate:.0f} rejections/s (>= {TARGET_FLOOD}: "
                f"{'met' if rate >= TARGET_FLOOD else 'MISSED'}; status "
                f"{r['probe']['wrong signature']['status']} per the probe), VmRSS "
                f"{mib(r['mem_before']['VmRSS_kB'])} -> {mib(r['mem_after']['VmRSS_kB'])} MiB "
                f"({grow / 1024:+.1f}), max {mib(r['server']['rss_max_kB'])}")
    return lines or ["- (aos-publishd not measured in this run)"]


# -- main -----------------------------------------------------------------------------

OPTIONS = (  # flag, type, default, help
    ("--conns", str, "32,64", "wrk connection counts of the closed-loop signed runs"),
    ("--rate", int, 2000, "deliveries per second of the paced signed run (0: none)"),
    ("--pace-conns", int, 32, "wrk connections of the paced run"),
    ("--threads", int, 2, "wrk threads (one file of deliveries each)"),
    ("--duration", float, 10, "seconds per signed run"),
    ("--bodies", int, 250000, "signed deliveries to generate"),
    ("--bad-bodies", int, 40000, "deliveries with a wrong signature (sent in turn)"),
    ("--flood-conns", int, 64, "wrk connections of the bad-signature flood"),
    ("--flood-duration", float, 10, "seconds per flood"),
    ("--settle", float, 2, "seconds between the end of a load and the memory reading"),
    ("--tools", str, "ours,webhook", "which servers: ours, webhook"),
    ("--json", str, None, "write the results here"),
    ("--time-limit", float, 900, "stop everything after this many seconds"),
)
FLAGS = (
    ("--pin", "server on CPU 0, wrk on CPU 1"),
    ("--tls", "both servers over HTTPS (a self-signed certificate; wrk and the probes "
              "use https)"),
    ("--no-kill-check", "do not SIGKILL the daemon after the last closed-loop run"),
    ("--restart-check", "start the killed daemon again on its database and time it"),
    ("--loop-syscalls", "sample what our daemon's loop thread is doing every 1 ms"),
    ("--keep", "keep the work folder"),
)


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for flag, typ, default, text in OPTIONS:
        ap.add_argument(flag, type=typ, default=default, help=text)
    for flag, text in FLAGS:
        ap.add_argument(flag, action="store_true", help=text)
    args = B.parse_args(ap, smoke={
        "conns": "2", "rate": 0, "threads": 1, "duration": 1.0, "bodies": 200,
        "bad_bodies": 100, "flood_conns": 2, "flood_duration": 1.0, "settle": 0.2,
        "time_limit": 120.0})
    args.conns = [int(x) for x in args.conns.split(",") if x]
    args.tools = [t for t in args.tools.split(",") if t]
    if not set(args.tools) <= set(NAMES):
        ap.error("--tools takes ours, webhook")
    B.require_tools(wrk=W.WRK, **({"webhook": W.WEBHOOK} if "webhook" in args.tools else {}))
    return args


def plan(args) -> list[dict]:
    """Both tools at each load, one after the other, ours first."""
    out = [{"tool": t, "load": "good", "conns": c} for c in args.conns for t in args.tools]
    closed = [p for p in out if p["tool"] == "ours"]
    if closed and not args.no_kill_check:
        closed[-1].update(kill=True, restart=args.restart_check)
    if args.rate:
        out += [{"tool": t, "load": "good", "conns": args.pace_conns, "rate": args.rate}
                for t in args.tools]
    return out + [{"tool": t, "load": "bad", "conns": args.flood_conns} for t in args.tools]


def main() -> int:
    args = parse_args()
    Q.time_limit(args.time_limit)
    res = {"threads": args.threads, "duration": args.duration, "bodies": args.bodies,
           "flood_duration": args.flood_duration, "pin": args.pin, "wrk": W.wrk_version(),
           "webhook": W.webhook_version(), "runs": [], "failures": []}
    with L.World(keep=args.keep, need_pypi=False, need_npm=False) as w:
        res["info"] = Q.header("bench_webhook: webhook ingest beside adnanh/webhook", w.dir)
        mon = Q.LoadMonitor().start()
        if args.tls:
            W.enable_tls(w.dir / "tls")
        res["tls"] = bool(args.tls)
        secret = secrets.token_hex(32)
        w.env.set_secret(**{W.SECRET_KEY: secret})
        t0 = time.monotonic()
        bodies = W.write_bodies(w.dir / "bodies", args.bodies, secret, args.threads,
                                args.bad_bodies)
        res["body_bytes_mean"] = bodies["body_bytes_mean"]
        Q.log(f"  {args.bodies} signed deliveries written in {time.monotonic() - t0:.1f} s "
              f"({bodies['body_bytes_mean']:.0f} bytes each on average)")
        for n, spec in enumerate(plan(args)):
            try:
                res["runs"].append(one_run(w, spec, args, bodies, secret, n))
            except (B.BenchError, OSError, AssertionError) as e:
                what = f"{spec['tool']} {label(spec)} c={spec['conns']}"
                Q.log(f"  {what}: FAILED: {e}")
                res["failures"].append(f"{what}: {e}"[:2000])
        res["load"] = mon.stop()
        res["info"]["load_after"] = " ".join(open("/proc/loadavg").read().split()[:3])
    text = report(res)
    if res["failures"]:
        text += "\n### Failed runs\n\n" + "\n".join(f"- {f}" for f in res["failures"]) + "\n"
    print(text)
    B.write_result(args.json, res)
    return 1 if res["failures"] else 0


if __name__ == "__main__":
    B.run(main)
