"""Run every benchmark, orgos and its peers in the same run, and write
bench/RESULTS.md.

    python bench/run.py                      # everything (peers in bench/.peer-venv)
    python bench/run.py --only a,d --no-peers

Each workload runs in a fresh process, so peak memory is its own. Peers
(LangGraph with its SQLite checkpointer, DBOS on SQLite) run from a separate
virtual env created by bench/peers/setup_venv.sh.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PEER_PY = HERE / ".peer-venv" / "bin" / "python"
PEERS = {
    "langgraph": HERE / "peers" / "langgraph_bench.py",
    "dbos": HERE / "peers" / "dbos_bench.py",
}
TARGETS = {
    "a": "kill-safe ≤ 0.3 ms/step; power-safe ≤ 1 fsync per syscall",
    "b": "wall ≤ 0.75 s at both levels (floor 0.5 s)",
    "c": "wall ≤ 3 s at both levels (floor 0.5 s); report peak memory",
    "d": "import orgos ≤ 0.3 s; orgos --help ≤ 0.5 s",
}


def run_json(cmd: list[str], timeout: float) -> dict[str, Any]:
    t = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"status": "timeout", "elapsed_s": round(time.perf_counter() - t, 1)}
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip().startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return {"status": "error", "error": " | ".join(tail)}
    out: dict[str, Any] = json.loads(lines[-1])
    out.setdefault("status", "ok")
    return out


def fsync_ms(directory: Path, n: int = 30) -> float:
    """What one fsync of a small write costs on this disk."""
    path = directory / "fsync.probe"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    times = []
    try:
        for _ in range(n):
            os.write(fd, b"x" * 4096)
            t = time.perf_counter()
            os.fsync(fd)
            times.append(time.perf_counter() - t)
    finally:
        os.close(fd)
        path.unlink()
    return round(statistics.median(times) * 1000, 3)


def machine(directory: Path) -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem, 1),
        "python": platform.python_version(),
        "os": platform.platform(),
        "fsync_ms": fsync_ms(directory),
    }


def fmt(r: dict[str, Any] | None, key: str, unit: str = "") -> str:
    if r is None:
        return "—"
    if r.get("status") not in (None, "ok"):
        elapsed = r.get("elapsed_s")
        return f"{r['status']}" + (f" (>{elapsed} s)" if elapsed else "")
    v = r.get(key)
    return "—" if v is None else f"{v}{unit}"


def ratio(peer: dict[str, Any] | None, ours: dict[str, Any] | None, key: str) -> str:
    if not peer or not ours or peer.get("status", "ok") != "ok" or not ours.get(key):
        if peer and peer.get("status") == "timeout" and ours and ours.get(key):
            return f"> {peer.get('elapsed_s', 0) / ours[key]:.0f}×"
        return "—"
    return f"{peer[key] / ours[key]:.1f}×"


def report(results: dict[str, dict[str, Any]], mach: dict[str, Any], cmd: str) -> str:
    o = results
    lines = [
        "# Benchmark results",
        "",
        f"Command: `{cmd}` (from the repository root; `make bench` runs the same).",
        f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        "",
        f"Machine: {mach['cpu']}, {mach['cores']} cores, {mach['memory_gib']} GiB,"
        f" Python {mach['python']}, {mach['os']}. One fsync of a 4 KiB write on the"
        f" benchmark disk: {mach['fsync_ms']} ms (median of 30).",
        "",
        "A step is one fake-model call plus one tool call, everything journaled"
        " (orgos: the kernel journal; LangGraph: a SQLite checkpoint per node;"
        " DBOS: a recorded step per call). orgos runs the real agent loop; its"
        " final model call (the answer) has no latency, so the floor of N steps"
        " at L ms latency is N × L. Durability levels: **kill-safe** = an"
        " acknowledged result survives a process kill (SQLite WAL,"
        " synchronous=NORMAL); **power-safe** = it survives power loss (WAL,"
        " synchronous=FULL: an fsync per commit, shared by group commit).",
        "Ratios are peer time / orgos time (how many times faster orgos is),"
        " against orgos (one worker process) at the peer's own durability level"
        " (see `fsync` column). The peers run in one process; orgos is also shown"
        " with 2 worker processes (one per core) sharing one store, each submitting"
        " and running half the runs, started together; wall is first start to last"
        " end.",
        "",
    ]
    peer_names = list(PEERS)

    def peer_row(name: str, w: str, key: str, unit: str) -> str:
        r = o.get(f"{name}-{w}")
        fs = "—"
        if r and r.get("status", "ok") == "ok":
            fs = "yes" if r.get("fsync_per_commit") else "no"
        ours = o.get(f"orgos-{w}-power-safe" if fs == "yes" else f"orgos-{w}-kill-safe")
        return (f"| {name} {r.get('version', '') if r else ''} | {fs} | {fmt(r, key, unit)}"
                f" | {ratio(r, ours, key)} |")  # fmt: skip

    # (a)
    lines += ["## (a) 1 agent × 200 sequential steps, no model latency", "",
              f"Target: {TARGETS['a']}.", "",
              "| system | level | ms / step | commits / syscall (= fsyncs when power-safe) |",
              "| --- | --- | --- | --- |"]  # fmt: skip
    for lvl in ("kill-safe", "power-safe"):
        r = o.get(f"orgos-a-{lvl}")
        lines.append(
            f"| orgos | {lvl} | {fmt(r, 'per_step_ms')} | {fmt(r, 'commits_per_syscall')} |"
        )
    lines += ["", "| peer | fsync | ms / step | peer / orgos |", "| --- | --- | --- | --- |"]
    lines += [peer_row(n, "a", "per_step_ms", "") for n in peer_names]
    for w, title in (("b", "1,000 concurrent runs × 5 steps, 100 ms model latency"),
                     ("c", "10,000 concurrent runs × 5 steps, 100 ms model latency")):  # fmt: skip
        lines += ["", f"## ({w}) {title}", "", f"Target: {TARGETS[w]}.", "",
                  "| system | level | wall (s) | peak RSS (MiB) | commits |",
                  "| --- | --- | --- | --- | --- |"]  # fmt: skip
        for lvl in ("kill-safe", "power-safe"):
            r = o.get(f"orgos-{w}-{lvl}")
            lines.append(f"| orgos, 1 worker process | {lvl} | {fmt(r, 'wall_s')}"
                         f" | {fmt(r, 'peak_rss_mb')} | {fmt(r, 'commits')} |")  # fmt: skip
        for lvl in ("kill-safe", "power-safe"):
            r = o.get(f"orgos-{w}-{lvl}-2w")
            if r is not None:
                lines.append(
                    f"| orgos, 2 worker processes | {lvl} | {fmt(r, 'wall_s')}"
                    f" | {fmt(r, 'peak_rss_mb')} (sum) | {fmt(r, 'commits')} |"
                )
        lines += ["", "| peer | fsync | wall (s) | peer / orgos |", "| --- | --- | --- | --- |"]
        lines += [peer_row(n, w, "wall_s", "") for n in peer_names]
    d = o.get("orgos-d")
    lines += ["", "## (d) start-up", "", f"Target: {TARGETS['d']}.", "",
              "| what | seconds (median of 7) |", "| --- | --- |",
              f"| python -c pass | {fmt(d, 'python_bare_s')} |",
              f"| python -c 'import orgos' | {fmt(d, 'import_orgos_s')} |",
              f"| orgos --help | {fmt(d, 'orgos_help_s')} |"]  # fmt: skip
    for n in peer_names:
        r = o.get(f"{n}-d")
        if r:
            lines.append(f"| import {n} | {fmt(r, 'import_s')} |")
    analysis = HERE / "ANALYSIS.md"
    if analysis.exists():  # the hand-written reading of the figures
        lines += ["", analysis.read_text().strip()]
    lines += ["", "## Raw results", "", "```json", json.dumps(results, indent=1), "```", ""]
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--only", default="a,b,c,d")
    p.add_argument("--no-peers", action="store_true")
    p.add_argument("--peer-timeout", type=float, default=360.0)
    p.add_argument("--out", default=str(HERE / "RESULTS.md"))
    args = p.parse_args()
    work = [w.strip() for w in args.only.split(",")]
    results: dict[str, dict[str, Any]] = {}
    tmp_root = HERE / ".work"
    tmp_root.mkdir(exist_ok=True)
    ours = [sys.executable, str(HERE / "orgos_bench.py")]
    with tempfile.TemporaryDirectory(dir=tmp_root) as tmp:
        mach = machine(Path(tmp))
        for w in work:
            if w == "d":
                print("orgos d ...", flush=True)
                results["orgos-d"] = run_json([*ours, "--workload", "d"], 300)
                continue
            for lvl in ("kill-safe", "power-safe"):
                print(f"orgos {w} {lvl} ...", flush=True)
                results[f"orgos-{w}-{lvl}"] = run_json(
                    [*ours, "--workload", w, "--durability", lvl, "--db-dir", tmp], 600
                )
                if w in ("b", "c"):  # one worker process per core, one store
                    print(f"orgos {w} {lvl} 2 workers ...", flush=True)
                    results[f"orgos-{w}-{lvl}-2w"] = run_json(
                        [*ours, "--workload", w, "--durability", lvl, "--db-dir", tmp,
                         "--procs", "2"], 600,
                    )  # fmt: skip
        if not args.no_peers:
            subprocess.run(["bash", str(HERE / "peers" / "setup_venv.sh")], check=True)
            for w in work:
                for name, script in PEERS.items():
                    print(f"{name} {w} ...", flush=True)
                    extra = ["--runs", "7"] if w == "d" else []
                    results[f"{name}-{w}"] = run_json(
                        [str(PEER_PY), str(script), "--workload", w, "--db-dir", tmp,
                         "--timeout-s", str(args.peer_timeout), *extra],
                        args.peer_timeout + 120,
                    )  # fmt: skip
    cmd = "python bench/run.py" + (f" --only {args.only}" if args.only != "a,b,c,d" else "")
    if args.no_peers:
        cmd += " --no-peers"
    Path(args.out).write_text(report(results, mach, cmd))
    for k, v in results.items():
        print(k, json.dumps(v))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
