"""The kernel workloads of two commits, interleaved in one run.

A shared machine moves single runs by 10-30 %; running the two commits one
after the other, round by round, puts both under the same load, so their
ratio means something where their absolute figures may not.

    python bench/side_by_side.py --base 8534a63 [--rounds 3]

The base commit is checked out with ``git worktree`` into bench/.work/; each
side runs its own ``bench/orgos_bench.py`` on its own ``src``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from statistics import median
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

#: (label, orgos_bench.py arguments, the figure compared)
CASES: list[tuple[str, list[str], str]] = [
    ("(a) 200 steps, kill-safe", ["--workload", "a"], "per_step_ms"),
    ("(a) 200 steps, power-safe", ["--workload", "a", "--durability", "power-safe"], "per_step_ms"),
    ("(b) 1,000 runs x 5, kill-safe", ["--workload", "b"], "wall_s"),
    ("(b) 1,000 runs x 5, power-safe", ["--workload", "b", "--durability", "power-safe"], "wall_s"),
    ("(c) 10,000 runs x 5, 1 process", ["--workload", "c"], "wall_s"),
    ("(c) 10,000 runs x 5, 2 processes", ["--workload", "c", "--procs", "2"], "wall_s"),
    ("(d) import orgos", ["--workload", "d", "--repeat", "5"], "import_orgos_s"),
]


def checkout(commit: str) -> Path:
    """A worktree of ``commit`` under bench/.work (made once)."""
    sha = subprocess.run(["git", "-C", str(ROOT), "rev-parse", commit], check=True,
                         capture_output=True, text=True).stdout.strip()  # fmt: skip
    where = HERE / ".work" / f"base-{sha[:10]}"
    if not where.exists():
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(where), sha],
                       check=True, capture_output=True)  # fmt: skip
    return where


def measure(tree: Path, args: list[str]) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(tree / "src")}
    cmd = [sys.executable, str(tree / "bench" / "orgos_bench.py"), *args]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env, timeout=900)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--base", default="8534a63")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--only", default="", help="run the cases whose label contains this")
    a = p.parse_args()
    base = checkout(a.base)
    rows = []
    for label, args, key in CASES:
        if a.only not in label:
            continue
        old: list[float] = []
        new: list[float] = []
        for _ in range(a.rounds):  # interleaved: both sides see the same load
            old.append(float(measure(base, args)[key]))
            new.append(float(measure(ROOT, args)[key]))
        mo, mn = median(old), median(new)
        rows.append((label, key, mo, mn, mn / mo, old, new))
        print(f"{label}: base {mo:.4g}, now {mn:.4g} ({key}; ratio {mn / mo:.3f})", flush=True)
    print()
    print(f"| workload | figure | {a.base} | now | now / base |")
    print("| --- | --- | --- | --- | --- |")
    for label, key, mo, mn, ratio, old, _ in rows:
        print(f"| {label} | {key} (median of {len(old)}) | {mo:.4g} | {mn:.4g} | {ratio:.3f} |")


if __name__ == "__main__":
    main()
