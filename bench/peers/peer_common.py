"""Shared plumbing for the peer benchmarks (LangGraph, DBOS).

Runs inside bench/.peer-venv, never the main interpreter. Standard library only,
so the supervising parent process never imports a peer.

Every peer script prints exactly one JSON object as its last stdout line,
whatever happens (status "ok", "timeout" or "error"), so the orgos suite can
parse it. Workloads a-c run in a child process of the script: a peer that
saturates its process (DBOS spawns one thread per concurrent blocking call, and
10,000 threads starve any in-process watchdog of the GIL) is killed from outside
when --timeout-s passes, and the parent reports how far it got from a small
shared-memory progress file the child updates as runs and steps complete.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import mmap
import os
import resource
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

WORKLOADS = ("a", "b", "c", "d")

# Per-workload defaults: (runs, steps, latency_ms, timeout_s).
DEFAULTS: dict[str, tuple[int, int, int, float]] = {
    "a": (1, 200, 0, 300.0),
    "b": (1000, 5, 100, 300.0),
    "c": (10_000, 5, 100, 300.0),
    "d": (5, 0, 0, 120.0),  # runs = number of import samples (median reported)
}

CHILD_ENV = "ORGOS_PEER_BENCH_STATE"


@dataclass
class Options:
    workload: str
    runs: int
    steps: int
    latency_ms: int
    timeout_s: float
    db_dir: Path
    keep_db: bool
    argv: list[str]
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def latency_s(self) -> float:
        return self.latency_ms / 1000.0


def parse_args(
    peer: str,
    argv: list[str] | None = None,
    extend: Callable[[argparse.ArgumentParser], None] | None = None,
) -> tuple[Options, argparse.Namespace]:
    p = argparse.ArgumentParser(description=f"{peer} peer benchmark (see bench/peers/README.md)")
    p.add_argument("--workload", required=True, choices=WORKLOADS)
    p.add_argument("--runs", type=int, default=None, help="concurrent runs (d: import samples)")
    p.add_argument("--steps", type=int, default=None, help="steps per run (model+tool call)")
    p.add_argument("--latency-ms", type=int, default=None, help="fake model latency per call")
    p.add_argument("--timeout-s", type=float, default=None, help="give up and report timeout")
    p.add_argument("--db-dir", type=Path, required=True, help="directory for the SQLite files")
    p.add_argument("--keep-db", action="store_true", help="keep the SQLite files afterwards")
    if extend is not None:
        extend(p)
    raw = list(sys.argv[1:] if argv is None else argv)
    ns = p.parse_args(raw)
    runs, steps, latency_ms, timeout_s = DEFAULTS[ns.workload]
    opts = Options(
        workload=ns.workload,
        runs=ns.runs if ns.runs is not None else runs,
        steps=ns.steps if ns.steps is not None else steps,
        latency_ms=ns.latency_ms if ns.latency_ms is not None else latency_ms,
        timeout_s=ns.timeout_s if ns.timeout_s is not None else timeout_s,
        db_dir=ns.db_dir,
        keep_db=ns.keep_db,
        argv=raw,
    )
    if opts.runs < 1 or opts.steps < 0 or opts.latency_ms < 0 or opts.timeout_s <= 0:
        p.error("--runs must be >= 1, --steps/--latency-ms >= 0, --timeout-s > 0")
    if opts.workload != "d" and opts.steps < 1:
        p.error("--steps must be >= 1 for workloads a-c")
    try:
        opts.db_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        p.error(f"--db-dir: {exc}")
    return opts, ns


# ---------------------------------------------------------------- measurements


def peak_rss_mb(children: bool = False) -> float:
    """Peak resident set size in MiB (Linux reports ru_maxrss in KiB)."""
    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    return round(resource.getrusage(who).ru_maxrss / 1024.0, 1)


def proc_peak_rss_mb(pid: int) -> float | None:
    """VmHWM (peak RSS) of a live process, read before it is killed."""
    try:
        with open(f"/proc/{pid}/status", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024.0, 1)
    except (OSError, ValueError):
        pass
    return None


def db_path(opts: Options, peer: str) -> Path:
    return opts.db_dir / f"{peer}_{opts.workload}.sqlite"


def fresh_db(path: Path) -> Path:
    """Remove a previous database and its journal/WAL side files."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    return path


def remove_db(path: Path, keep: bool) -> None:
    if not keep:
        fresh_db(path)


def fs_type(path: Path) -> str:
    """Filesystem type holding `path` (fsync on tmpfs is free, on ext4 it is not)."""
    target = str(path.resolve())
    best, kind = "", "unknown"
    try:
        with open("/proc/mounts", encoding="utf-8") as fh:
            for line in fh:
                parts = line.split()
                if len(parts) < 3:
                    continue
                mnt = parts[1]
                inside = target == mnt or target.startswith(mnt.rstrip("/") + "/")
                if inside and len(mnt) > len(best):
                    best, kind = mnt, parts[2]
    except OSError:
        pass
    return kind


SYNCHRONOUS_NAMES = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}


def fsync_per_commit(journal_mode: str | None, synchronous: int | None) -> bool | None:
    """Whether SQLite fsyncs on every commit with these connection settings.

    FULL/EXTRA sync at every commit in both rollback and WAL mode. NORMAL in WAL
    mode syncs only at checkpoints (a commit can be lost on power failure);
    NORMAL in rollback-journal mode still syncs at each commit. OFF never syncs.
    """
    if synchronous is None or journal_mode is None:
        return None
    if synchronous >= 2:
        return True
    if synchronous == 1:
        return journal_mode.lower() != "wal"
    return False


def pragma_fields(journal_mode: str | None, synchronous: int | None) -> dict[str, Any]:
    return {
        "sqlite_journal_mode": journal_mode,
        "sqlite_synchronous": synchronous,
        "sqlite_synchronous_name": (
            SYNCHRONOUS_NAMES.get(synchronous) if synchronous is not None else None
        ),
        "fsync_per_commit": fsync_per_commit(journal_mode, synchronous),
    }


def base_fields(peer: str, version: str, opts: Options) -> dict[str, Any]:
    return {
        "peer": peer,
        "version": version,
        "workload": opts.workload,
        "runs": opts.runs,
        "steps": opts.steps,
        "latency_ms": opts.latency_ms,
        "timeout_s": opts.timeout_s,
        "python": sys.version.split()[0],
        "db_fs": fs_type(opts.db_dir),
        **opts.extra,
    }


def emit(record: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()


# ------------------------------------------------------------ child progress

_PROGRESS_FMT = "<qqd"  # runs_completed, steps_completed, workload start (time.monotonic)
_PROGRESS_SIZE = struct.calcsize(_PROGRESS_FMT)


class Progress:
    """Counters the child bumps as work completes, mirrored into a shared mmap so
    the parent can read them after killing a child that ran out of time.
    time.monotonic is CLOCK_MONOTONIC on Linux: comparable across processes."""

    def __init__(self, state_dir: Path | None = None) -> None:
        self.info: dict[str, Any] = {}
        self._state_dir = state_dir
        self._runs = 0
        self._steps = 0
        self.workload_started: float | None = None
        self._mm: mmap.mmap | None = None
        if state_dir is not None:
            with open(state_dir / "progress.bin", "r+b") as fh:
                self._mm = mmap.mmap(fh.fileno(), _PROGRESS_SIZE)

    def _sync(self) -> None:
        if self._mm is not None:
            struct.pack_into(
                _PROGRESS_FMT, self._mm, 0, self._runs, self._steps, self.workload_started or 0.0
            )

    @property
    def runs_completed(self) -> int:
        return self._runs

    @runs_completed.setter
    def runs_completed(self, value: int) -> None:
        self._runs = value
        self._sync()

    @property
    def steps_completed(self) -> int:
        return self._steps

    @steps_completed.setter
    def steps_completed(self, value: int) -> None:
        self._steps = value
        self._sync()

    def start_workload(self) -> float:
        """Marks the start of the timed part and publishes `info` (pragmas, setup
        time) so a timeout report still carries them. Returns the start time."""
        if self._state_dir is not None:
            tmp = self._state_dir / "info.json.tmp"
            tmp.write_text(json.dumps(self.info), encoding="utf-8")
            tmp.replace(self._state_dir / "info.json")
        self.workload_started = time.monotonic()
        self._sync()
        return self.workload_started


def _read_state(state_dir: Path) -> tuple[int, int, float | None, dict[str, Any]]:
    runs, steps, started = struct.unpack(
        _PROGRESS_FMT, (state_dir / "progress.bin").read_bytes()[:_PROGRESS_SIZE]
    )
    try:
        info = json.loads((state_dir / "info.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        info = {}
    return int(runs), int(steps), (float(started) or None), info


def workload_fields(opts: Options, wall_s: float, progress: Progress) -> dict[str, Any]:
    total_steps = opts.runs * opts.steps
    return {
        "wall_s": round(wall_s, 4),
        "per_step_ms": round(wall_s * 1000.0 / total_steps, 4) if total_steps else None,
        "runs_completed": progress.runs_completed,
        "steps_completed": progress.steps_completed,
        "peak_rss_mb": peak_rss_mb(),
    }


# ------------------------------------------------------------ parent / child


def is_child() -> bool:
    return CHILD_ENV in os.environ


def run_child(base: dict[str, Any], body: Callable[[Progress], dict[str, Any]]) -> int:
    """Child side: run the workload and print the result line (ok or error)."""
    started = time.monotonic()
    state = os.environ.get(CHILD_ENV)
    progress = Progress(Path(state) if state else None)
    try:
        fields = body(progress)
    except Exception as exc:  # the suite gets a parseable line, the traceback goes to stderr
        traceback.print_exc(file=sys.stderr)
        emit(
            {
                **base,
                **progress.info,
                "status": "error",
                "error": f"{type(exc).__name__}: {exc}",
                "elapsed_s": round(time.monotonic() - started, 3),
                "runs_completed": progress.runs_completed,
                "steps_completed": progress.steps_completed,
                "peak_rss_mb": peak_rss_mb(),
            }
        )
        return 1
    emit(
        {
            **base,
            **progress.info,
            **fields,
            "status": "ok",
            "elapsed_s": round(time.monotonic() - started, 3),
        }
    )
    return 0


def _raise_system_exit(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def _die_with_parent() -> None:
    """In the forked child, before exec: ask Linux to SIGKILL it if the parent dies."""
    try:
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


def supervise(base: dict[str, Any], opts: Options, db: Path, script: str) -> int:
    """Parent side: rerun `script` as a child in its own session; forward its
    result line, or kill it at --timeout-s and report status "timeout"."""
    started = time.monotonic()
    state = Path(tempfile.mkdtemp(prefix="peer-bench-"))
    (state / "progress.bin").write_bytes(b"\0" * _PROGRESS_SIZE)
    env = {**os.environ, CHILD_ENV: str(state)}
    # SIGTERM (e.g. from a suite's own timeout) unwinds through the `finally` below,
    # which kills the child; a SIGKILLed parent takes the child with it (PDEATHSIG).
    signal.signal(signal.SIGTERM, _raise_system_exit)
    proc = subprocess.Popen(
        [sys.executable, script, *opts.argv],
        stdout=subprocess.PIPE,
        env=env,
        start_new_session=True,
        text=True,
        preexec_fn=_die_with_parent,
    )
    try:
        try:
            out, _ = proc.communicate(timeout=opts.timeout_s)
        except subprocess.TimeoutExpired:
            rss = proc_peak_rss_mb(proc.pid)
            now = time.monotonic()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            runs, steps, wstart, info = _read_state(state)
            remove_db(db, opts.keep_db)
            emit(
                {
                    **base,
                    **info,
                    "status": "timeout",
                    "elapsed_s": round(now - started, 3),
                    "wall_s": round(now - wstart, 3) if wstart else None,
                    "per_step_ms": None,
                    "runs_completed": runs,
                    "steps_completed": steps,
                    "peak_rss_mb": rss,
                }
            )
            return 0

        lines = out.splitlines()
        if lines:
            try:
                json.loads(lines[-1])
            except ValueError:
                pass
            else:
                sys.stdout.write(out if out.endswith("\n") else out + "\n")
                sys.stdout.flush()
                return proc.returncode
        # The child died without a result line (crash, OOM kill, ...).
        if out:
            sys.stdout.write(out if out.endswith("\n") else out + "\n")
        runs, steps, _, info = _read_state(state)
        remove_db(db, opts.keep_db)
        emit(
            {
                **base,
                **info,
                "status": "error",
                "error": f"child exited with code {proc.returncode} without a result line",
                "elapsed_s": round(time.monotonic() - started, 3),
                "runs_completed": runs,
                "steps_completed": steps,
                "peak_rss_mb": peak_rss_mb(children=True),
            }
        )
        return 1
    finally:
        if proc.poll() is None:  # interrupted: do not leave the child behind
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            remove_db(db, opts.keep_db)
        shutil.rmtree(state, ignore_errors=True)


# ------------------------------------------------------------------ workload d


def time_imports(
    statements: str, samples: int, timeout_s: float
) -> tuple[list[float], list[float]]:
    """Wall time (ms) of `python -c statements` and of `python -c pass`, each in a
    fresh subprocess of this interpreter, `samples` times, interleaved."""
    deadline = time.monotonic() + timeout_s

    def one(code: str) -> float:
        left = deadline - time.monotonic()
        if left <= 0:
            raise subprocess.TimeoutExpired(code, timeout_s)
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, timeout=left)
        return (time.perf_counter() - t0) * 1000.0

    one(statements)  # warm the OS page cache / .pyc files once; not counted
    imports: list[float] = []
    baseline: list[float] = []
    for _ in range(samples):
        imports.append(one(statements))
        baseline.append(one("pass"))
    return imports, baseline


def import_result(imports: Iterable[float], baseline: Iterable[float]) -> dict[str, Any]:
    imp = [round(x, 1) for x in imports]
    base = [round(x, 1) for x in baseline]
    med = statistics.median(imp)
    base_med = statistics.median(base)
    return {
        # import_s: median wall time of `python -c "<imports>"` (interpreter start included,
        # like `python -c 'import orgos'`); import_net_s subtracts a bare `python -c pass`.
        "import_s": round(med / 1000.0, 4),
        "import_net_s": round((med - base_med) / 1000.0, 4),
        "wall_s": round(med / 1000.0, 4),
        "import_ms_median": round(med, 1),
        "import_ms_samples": imp,
        "python_startup_ms_median": round(base_med, 1),
        "import_ms_net_median": round(med - base_med, 1),
        "per_step_ms": None,
        "peak_rss_mb": peak_rss_mb(children=True),
    }


def run_import_workload(base: dict[str, Any], opts: Options, statements: str) -> int:
    """Workload d, run in-process: each sample is its own fresh interpreter."""
    started = time.monotonic()
    record = {**base, "imports": statements}
    try:
        imports, baseline = time_imports(statements, opts.runs, opts.timeout_s)
    except subprocess.TimeoutExpired:
        emit({**record, "status": "timeout", "elapsed_s": round(time.monotonic() - started, 3)})
        return 0
    except subprocess.CalledProcessError as exc:
        emit({**record, "status": "error", "error": str(exc)})
        return 1
    emit(
        {
            **record,
            **import_result(imports, baseline),
            "status": "ok",
            "elapsed_s": round(time.monotonic() - started, 3),
        }
    )
    return 0
