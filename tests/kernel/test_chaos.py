"""The chaos benchmark's short form: 20 worker kills at random points
(seeded), some of them clean stops, over runs that mix every kind of tool,
delegations, fan-outs and approvals, with an operator who answers calls in
doubt by looking at the ledger first. No effect is lost or doubled, no run
hangs, and a clean stop leaves no call in doubt."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "chaos.py"


def load_chaos():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("orgos_bench_chaos", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


async def test_twenty_kills_lose_and_double_nothing(tmp_path: Path) -> None:
    chaos = load_chaos()
    f = await chaos.chaos(20, 20261201, tmp_path)
    print(chaos.report(f, 20, 20261201))
    assert f.trials == 20
    assert f.signals.get("SIGKILL", 0) >= 15
    assert f.signals.get("SIGTERM", 0) >= 1 and f.signals.get("SIGINT", 0) >= 1  # clean stops
    assert f.lost == [] and f.doubled == [] and f.hung == []
    assert f.results_twice == 0
    assert f.clean_stops_left_in_doubt == 0 and f.slow_clean_stops == 0
    assert f.stalled_workers == 0
    assert f.runs == {"succeeded": sum(f.runs.values())}
    assert f.approvals > 0 and f.decisions  # people were asked, and answered
    assert f.effects > 0 and f.journaled_results > 0
