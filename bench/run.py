"""Run every benchmark, orgos and its peers in the same run, and write
bench/RESULTS.md.

    python bench/run.py                      # everything (peers in bench/.peer-venv)
    python bench/run.py --only a,d --no-peers --areas none

Each workload runs in a fresh process, so peak memory is its own. Peers
(LangGraph with its SQLite checkpointer, DBOS on SQLite) run from a separate
virtual env created by bench/peers/setup_venv.sh. After the kernel workloads
and the peers, the area benchmarks (workflow, workspace, recall, governance,
guardrails) run as subprocesses; each writes its bench/RESULTS-<area>.md,
which is folded into RESULTS.md. A failing one is reported there, with the
end of its stderr. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import unicodedata
from collections.abc import Callable
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
# the area benchmarks: script and timeout (s), in the order they run
AREA_SCRIPTS = {
    "workflow": ("workflow_bench.py", 1800.0),
    "workspace": ("workspace_bench.py", 1800.0),
    "recall": ("recall_bench.py", 900.0),
    "governance": ("governance_bench.py", 1200.0),
    "guardrails": ("guardrails_bench.py", 900.0),
}
# the sections they make in RESULTS.md: heading, the file folded in, its scripts
AREA_SECTIONS = [
    ("Workflows", "RESULTS-workflows.md", ["workflow"]),
    ("Workspace: files, memory, events", "RESULTS-workspace.md", ["workspace"]),
    ("Recall", "RESULTS-recall.md", ["recall"]),
    ("Governance and guardrails", "RESULTS-governance.md", ["governance", "guardrails"]),
]
T0 = time.perf_counter()


def say(msg: str) -> None:
    """Progress, on stderr, with the time since the start."""
    print(f"[bench {time.perf_counter() - T0:7.1f} s] {msg}", file=sys.stderr, flush=True)


def tracked(label: str, fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """``fn()``, announced on stderr, with a line every minute while it runs."""
    say(f"{label} ...")
    t, stop = time.perf_counter(), threading.Event()

    def beat() -> None:
        while not stop.wait(60):
            say(f"  {label}: still running ({time.perf_counter() - t:.0f} s)")

    th = threading.Thread(target=beat, daemon=True)
    th.start()
    try:
        r = fn()
    finally:
        stop.set()
        th.join()
    status = r.get("status", "ok")
    extra = f": {r.get('error', '')[:200]}" if status == "error" else ""
    say(f"{label}: {status} in {time.perf_counter() - t:.1f} s{extra}")
    return r


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


#: (c) with two worker processes is run this many times: its wall time moves
#: with the shared machine's load, so the median and the range are reported.
REPEAT_2W = 5


def median_run(cmd: list[str], timeout: float, n: int) -> dict[str, Any]:
    """``run_json`` ``n`` times: the run with the median wall time, with every
    run's wall time in ``walls``."""
    runs = [run_json(cmd, timeout) for _ in range(n)]
    ok = sorted((r for r in runs if r.get("status") == "ok"), key=lambda r: r["wall_s"])
    if len(ok) < n:
        return next(r for r in runs if r.get("status") != "ok")
    out = dict(ok[len(ok) // 2])
    out["walls"] = [r["wall_s"] for r in runs]
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


def settle(max_s: float = 420.0) -> dict[str, Any]:
    """Wait, at most ``max_s``, for the 1-minute load average to fall below the
    number of cores. After the peers (DBOS runs 10,000 threads in (c)) it lags
    for minutes though the machine is idle, and the area scripts report it."""
    cores, t = os.cpu_count() or 1, time.perf_counter()
    load, said = os.getloadavg()[0], -60.0
    while load >= cores and time.perf_counter() - t < max_s:
        if time.perf_counter() - said >= 30:
            say(f"waiting for the load average to settle: {load:.1f} (< {cores} wanted)")
            said = time.perf_counter()
        time.sleep(5)
        load = os.getloadavg()[0]
    return {"waited_s": round(time.perf_counter() - t), "load_average": round(load, 1),
            "settled": load < cores}  # fmt: skip


def tail(text: str | bytes | None, n: int = 25) -> str:
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    return "\n".join((text or "").rstrip().splitlines()[-n:])[-4000:]


def parse_stdout(out: str) -> Any:
    """What an area script printed: its JSON documents (``{...}``, over one or
    more lines, or ``name {...}`` on one line), best effort."""
    dec, got = json.JSONDecoder(), {}
    pos = 0
    for line in out.splitlines(keepends=True):
        start, pos = pos, pos + len(line)
        m = re.match(r"^(\w+ )?\{", line)
        if not m:
            continue
        try:
            value, _ = dec.raw_decode(out, start + len(m.group(1) or ""))
        except ValueError:
            continue
        if m.group(1):
            got[m.group(1).strip()] = value
        elif isinstance(value, dict):
            got.update(value)
    return got or None


def run_area(name: str) -> dict[str, Any]:
    """One area benchmark in its own process (and session, so that a timeout
    ends its children too)."""
    script, timeout = AREA_SCRIPTS[name]
    cmd = [sys.executable, str(HERE / script)]
    out: dict[str, Any] = {"command": f"python bench/{script}", "timeout_s": timeout}
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=HERE.parent, start_new_session=True)  # fmt: skip
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        out.update(status="timeout", stderr_tail=tail(stderr))
    else:
        if proc.returncode != 0:
            out.update(status="error", returncode=proc.returncode,
                       error=tail(stderr, 1), stderr_tail=tail(stderr or stdout))  # fmt: skip
        else:
            out["status"] = "ok"
            out["printed"] = parse_stdout(stdout)
    out["elapsed_s"] = round(time.perf_counter() - t, 1)
    return out


def demote(text: str, by: int) -> str:
    """Markdown headings ``by`` levels deeper (not inside code blocks)."""
    lines, fenced = [], False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and re.match(r"^#{1,6} ", line):
            line = "#" * by + line
        lines.append(line)
    return "\n".join(lines)


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading."""
    keep = (c for c in heading.strip().lower()
            if c in " -" or unicodedata.category(c)[0] in "LMN" or c == "_")  # fmt: skip
    return "".join(keep).replace(" ", "-")


def contents(doc: str) -> list[str]:
    """A table of contents of the document's second-level headings."""
    seen: dict[str, int] = {}
    toc, fenced = [], False
    for line in doc.splitlines():
        if line.startswith("```"):
            fenced = not fenced
            continue
        m = None if fenced else re.match(r"^(#{1,6}) (.*)$", line)
        if not m:
            continue
        base = slug(m.group(2))
        n = seen.get(base, 0)
        seen[base] = n + 1
        if len(m.group(1)) == 2:
            toc.append(f"- [{m.group(2)}](#{base if n == 0 else f'{base}-{n}'})")
    return toc


def area_sections(areas: dict[str, dict[str, Any]]) -> list[str]:
    lines: list[str] = []
    for title, fname, names in AREA_SECTIONS:
        ran = [n for n in names if n in areas]
        lines += ["", f"## {title}", ""]
        if not ran:
            lines.append(f"Not run by this invocation (`--areas`); see bench/{fname}.")
            continue
        said = []
        for n in ran:
            a = areas[n]
            said.append(f"`{a['command']}`: {a['status']} in {a['elapsed_s']} s")
        lines.append(
            f"Run by this command as {'subprocesses' if len(ran) > 1 else 'a subprocess'}"
            f" ({'; '.join(said)}); the text below is bench/{fname}, which"
            f" {'they write' if len(names) > 1 else 'it writes'}."
        )
        for n in ran:
            a = areas[n]
            if a["status"] == "ok":
                continue
            why = (f"timed out after {a['timeout_s']:.0f} s" if a["status"] == "timeout"
                   else f"failed (exit code {a.get('returncode')})")  # fmt: skip
            lines += ["", f"**`{a['command']}` {why}.** The end of its stderr:", "",
                      "```text", a.get("stderr_tail") or "(nothing)", "```"]  # fmt: skip
        path = HERE / fname
        if any(areas[n]["status"] == "ok" for n in ran) and path.exists():
            if len(ran) < len(names) or any(areas[n]["status"] != "ok" for n in ran):
                lines += ["", f"Parts of bench/{fname} not rewritten by this run keep the"
                          " date of their own measurement."]  # fmt: skip
            lines += ["", demote(path.read_text().strip(), 2)]
        else:
            lines += ["", f"bench/{fname} was not rewritten by this run, so it is not"
                      " included here."]  # fmt: skip
    return lines


def report(
    results: dict[str, dict[str, Any]],
    mach: dict[str, Any],
    cmd: str,
    areas: dict[str, dict[str, Any]],
    calm: dict[str, Any] | None,
    took_s: float,
) -> str:
    o = results
    lines = [
        f"Command: `{cmd}` (from the repository root; `make bench` runs the same).",
        f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; the whole run took"
        f" {took_s / 60:.1f} min.",
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
        " end. orgos runs on the event loop `orgos.aio.run` picks:"
        f" {(o.get('orgos-c-kill-safe') or {}).get('loop', '?')} (uvloop comes with the"
        " `fast` extra, which `make bench` installs); the peers on the standard asyncio"
        " loop, their default.",
        "",
        "Sections (a)–(d) are the kernel workloads, orgos and its peers; the sections"
        " after them are the area benchmarks (workflows, workspace, governance and"
        " guardrails), each a script run by this command in its own process, with its"
        " own figures and notes."
        + (
            f" Before them the command waited {calm['waited_s']} s for the 1-minute load"
            " average, which they report and which lags after the peers' threads, to fall"
            f" below the number of cores: it was {calm['load_average']}"
            f"{'' if calm['settled'] else ' (it did not settle in time)'}."
            if calm and calm["waited_s"]
            else ""
        ),
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
                walls = r.get("walls") or []
                spread = (f" (median of {len(walls)}: {', '.join(f'{x:.2f}' for x in walls)})"
                          if len(walls) > 1 else "")  # fmt: skip
                lines.append(
                    f"| orgos, 2 worker processes | {lvl} | {fmt(r, 'wall_s')}{spread}"
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
    lines += area_sections(areas)
    raw = {**results, **{f"area-{k}": v for k, v in areas.items()}}
    if calm:
        raw["settle-before-areas"] = calm
    lines += ["", "## Raw results", "", "```json", json.dumps(raw, indent=1), "```", ""]
    body = "\n".join(lines)
    head = ["# Benchmark results", "", "Contents:", "", *contents(body), "", ""]
    return "\n".join(head) + body


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--only", default="a,b,c,d", help="kernel workloads ('none': none)")
    p.add_argument("--no-peers", action="store_true")
    p.add_argument("--peer-timeout", type=float, default=360.0)
    p.add_argument("--areas", default=",".join(AREA_SCRIPTS),
                   help="area benchmarks to run ('none': none)")  # fmt: skip
    p.add_argument("--out", default=str(HERE / "RESULTS.md"))
    args = p.parse_args()
    work = [w.strip() for w in args.only.split(",") if w.strip() not in ("", "none")]
    area_names = [a.strip() for a in args.areas.split(",") if a.strip() not in ("", "none")]
    unknown = [a for a in area_names if a not in AREA_SCRIPTS]
    if unknown:
        p.error(f"unknown areas {unknown}; known: {', '.join(AREA_SCRIPTS)}")
    results: dict[str, dict[str, Any]] = {}
    areas: dict[str, dict[str, Any]] = {}
    tmp_root = HERE / ".work"
    tmp_root.mkdir(exist_ok=True)
    ours = [sys.executable, str(HERE / "orgos_bench.py")]
    with tempfile.TemporaryDirectory(dir=tmp_root) as tmp:
        mach = machine(Path(tmp))
        say(f"machine: {mach}")
        for w in work:
            if w == "d":
                results["orgos-d"] = tracked(
                    "orgos (d) start-up", lambda: run_json([*ours, "--workload", "d"], 300)
                )
                continue
            for lvl in ("kill-safe", "power-safe"):
                results[f"orgos-{w}-{lvl}"] = tracked(
                    f"orgos ({w}) {lvl}, 1 worker process",
                    lambda w=w, lvl=lvl: run_json(
                        [*ours, "--workload", w, "--durability", lvl, "--db-dir", tmp], 600
                    ),
                )
                if w in ("b", "c"):  # one worker process per core, one store
                    n = REPEAT_2W if w == "c" else 1
                    results[f"orgos-{w}-{lvl}-2w"] = tracked(
                        f"orgos ({w}) {lvl}, 2 worker processes, {n} run(s)",
                        lambda w=w, lvl=lvl, n=n: median_run(
                            [*ours, "--workload", w, "--durability", lvl, "--db-dir", tmp,
                             "--procs", "2"], 600, n,
                        ),
                    )  # fmt: skip
        if not args.no_peers and work:
            say("peer venv: bash bench/peers/setup_venv.sh ...")
            setup = subprocess.run(["bash", str(HERE / "peers" / "setup_venv.sh")],
                                   capture_output=True, text=True)  # fmt: skip
            for w in work:
                for name, script in PEERS.items():
                    if setup.returncode != 0:
                        results[f"{name}-{w}"] = {
                            "status": "error",
                            "error": "setup_venv.sh failed: " + tail(setup.stderr, 3),
                        }
                        continue
                    extra = ["--runs", "7"] if w == "d" else []
                    results[f"{name}-{w}"] = tracked(
                        f"{name} ({w})",
                        lambda w=w, script=script, extra=extra: run_json(
                            [str(PEER_PY), str(script), "--workload", w, "--db-dir", tmp,
                             "--timeout-s", str(args.peer_timeout), *extra],
                            args.peer_timeout + 120,
                        ),
                    )  # fmt: skip
    calm = settle() if area_names else None
    for name in area_names:
        areas[name] = tracked(
            f"area benchmark {name}: python bench/{AREA_SCRIPTS[name][0]}",
            lambda name=name: run_area(name),
        )
    cmd = "python bench/run.py" + (f" --only {args.only}" if args.only != "a,b,c,d" else "")
    if args.no_peers:
        cmd += " --no-peers"
    if args.areas != ",".join(AREA_SCRIPTS):
        cmd += f" --areas {args.areas}"
    took = time.perf_counter() - T0
    Path(args.out).write_text(report(results, mach, cmd, areas, calm, took))
    for k, v in {**results, **areas}.items():
        print(k, json.dumps(v))
    print(f"wrote {args.out}")
    say(f"done: wrote {args.out}")


if __name__ == "__main__":
    main()
