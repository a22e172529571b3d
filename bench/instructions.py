"""Instructions per run, counted by valgrind: a figure the machine's load does not move.

Wall-clock ratios on a shared machine swing by 10-30 % between rounds; the
instruction count of the same code on the same input does not (callgrind
counts what the CPU executes, whatever else runs). This counts the kernel
workload (b) (runs of 5 tool steps, no model latency) for two commits and
reports the marginal cost of a run: the count for ``--runs`` runs minus the
count for a fifth as many, so start-up and imports cancel out.

    python bench/instructions.py --base 8534a63 [--runs 600] [--steps 5]

Needs valgrind (Debian's package). A run takes about a minute per commit.
It measures CPU work only: not the disk (fsync), not waiting on the loop.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from side_by_side import checkout  # noqa: E402


def count(tree: Path, runs: int, steps: int, durability: str) -> int:
    """Instructions of one ``orgos_bench.py --workload b`` process on ``tree``."""
    env = {**os.environ, "PYTHONPATH": str(tree / "src")}
    bench = [sys.executable, str(tree / "bench" / "orgos_bench.py"), "--workload", "b",
             "--runs", str(runs), "--steps", str(steps), "--latency-ms", "0",
             "--durability", durability]  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *bench]
        p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
    m = re.search(r"Collected : ([\d,]+)", p.stderr)
    if p.returncode != 0 or m is None:
        raise SystemExit(f"valgrind failed on {tree}:\n{p.stderr[-2000:]}")
    return int(m.group(1).replace(",", ""))


def per_run(tree: Path, runs: int, steps: int, durability: str) -> float:
    # Warm the bytecode caches first: a first import compiles, and that is not a run's cost.
    env = {**os.environ, "PYTHONPATH": str(tree / "src")}
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(tree / "src")], check=True,
                   capture_output=True, env=env)  # fmt: skip
    small = max(runs // 5, 1)
    return (count(tree, runs, steps, durability) - count(tree, small, steps, durability)) / (
        runs - small
    )


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--base", default="8534a63")
    p.add_argument("--runs", type=int, default=600)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--durability", default="kill-safe", choices=["kill-safe", "power-safe"])
    a = p.parse_args()
    base = checkout(a.base)
    old = per_run(base, a.runs, a.steps, a.durability)
    new = per_run(ROOT, a.runs, a.steps, a.durability)
    print(f"(b) {a.steps} steps, {a.durability}: instructions per run")
    print(f"| {a.base} | now | now / base |")
    print("| --- | --- | --- |")
    print(f"| {old / 1e6:.3f} M | {new / 1e6:.3f} M | {new / old:.3f} |")


if __name__ == "__main__":
    main()
