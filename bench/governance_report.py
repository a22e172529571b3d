"""bench/RESULTS-governance.md, rendered from what governance_bench.py and
guardrails_bench.py measured.

The two scripts share the file: each rewrites its own part and keeps the
other's, which it reads back from the JSON block at the end of the file
(every part says when it was measured). The tables are rendered from the
measured figures; the explanatory text is fixed.
"""

from __future__ import annotations

import json
import os
import platform
import re
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS-governance.md"
RAW = re.compile(r"^# Raw results\n.*?```json\n(.*?)\n```", re.S | re.M)

GOVERNANCE_READING = """\
Reading: the rules cost little because they are compiled once and the rules
that can apply to an (agent, kind, tool) are cached; a call only runs their
argument, cost and taint checks. Most of the cost is the audit row: one
INSERT, one indexed read of the previous hash (the chain is computed under
the write lock so that several worker processes extend one chain) and a
sha256 of each journal entry it is bound to. Batches of many syscalls
(group commit under load) share the read; the end-to-end figure is for the
worst case, one syscall per commit."""

GUARDRAILS_READING = """\
Reading: redaction is paid only when someone watches (events are built
only for active watchers) and on log records that are actually emitted. A
guardrail check costs what any journaled syscall costs (most of it the
audit row, see above); the regular expressions themselves are a few µs.
A judge criterion costs a model call."""


def stamp(took_s: float, load: float) -> dict[str, Any]:
    """When and where a part was measured (``load``: the load average at the start)."""
    return {
        "measured": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cores": os.cpu_count(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "load_average": round(load, 1),
        "took_s": round(took_s, 1),
    }


def where(part: dict[str, Any]) -> str:
    s = part["stamp"]
    return (
        f"Measured {s['measured']} on {s['cores']} cores ({s['machine']}), Python {s['python']},"
        f" load average {s['load_average']} at the start; the script took {s['took_s']} s"
    )


def governance_section(part: dict[str, Any] | None) -> list[str]:
    lines = ["# Governance: cost per syscall", ""]
    if not part:
        return [*lines, "Not measured yet: run `python bench/governance_bench.py`.", ""]
    r = part["results"]
    lines += [
        f"`python bench/governance_bench.py` (medians of 5 trials; SQLite kill-safe). {where(part)}"
        " (a shared machine: read ±20%).",
        "",
        "| what | µs per syscall |",
        "| --- | ---: |",
        "| governance hooks (kill switch, budgets, 12-rule policy with argument comparisons,"
        f" usage, taint) | {r['hooks_us_per_syscall']:.1f} |",
        "| the audit record in the journal's commit (chain hash, bound to the entries' bytes)"
        f" | {r['audit_commit_us_per_syscall']:.1f} |",
        "| **governance pipeline: policy + budget + audit** |"
        f" **{r['pipeline_us_per_syscall']:.1f}** (target ≤ 50) |",
        "| end to end, sequential runs, model + tool per step, without governance |"
        f" {r['end_to_end_plain_us_per_syscall']:.1f} |",
        f"| end to end, with governance | {r['end_to_end_governed_us_per_syscall']:.1f} |",
        f"| end to end difference | {r['end_to_end_delta_us_per_syscall']:.1f} |",
        "",
        GOVERNANCE_READING,
        "",
    ]
    return lines


def guardrails_section(part: dict[str, Any] | None) -> list[str]:
    lines = ["# Guardrails and PII redaction", ""]
    if not part:
        return [*lines, "Not measured yet: run `python bench/guardrails_bench.py`.", ""]
    r = part["results"]
    lines += [
        f"`python bench/guardrails_bench.py` (medians of 5 trials). {where(part)}"
        " (a shared machine: read ±25%).",
        "",
        "| what | cost |",
        "| --- | ---: |",
        "| redacting one live event (a tool syscall carrying a customer record: e-mail, phone,"
        f" card, IBAN, date) | {r['event_us']:.1f} µs |",
        "| one orgos log record, made and written, without redaction |"
        f" {r['log_plain_us']:.1f} µs |",
        f"| the same with the redacting record factory | {r['log_redacted_us']:.1f} µs |",
        f"| one-step agent run with governance, no guardrails | {r['run_us']:.0f} µs |",
        "| the same with three output checks (length, deny, require pattern) |"
        f" {r['run_guarded_us']:.0f} µs |",
        "| **the output `guard` syscall (journal entry, audit record, checks)** |"
        f" **{r['guard_syscall_us']:.0f} µs** |",
        "",
        GUARDRAILS_READING,
        "",
    ]
    return lines


def read_raw(path: Path = RESULTS) -> dict[str, Any]:
    """The parts measured so far, from the file's JSON block (empty if none)."""
    try:
        m = RAW.search(path.read_text())
        return dict(json.loads(m.group(1))) if m else {}
    except (OSError, ValueError):
        return {}


def render(raw: dict[str, Any]) -> str:
    lines = [
        *governance_section(raw.get("governance")),
        *guardrails_section(raw.get("guardrails")),
        "# Raw results",
        "",
        "What the two scripts printed, which the tables above are rendered from; each"
        " script rewrites its own part of this file and keeps the other's.",
        "",
        "```json",
        json.dumps(raw, indent=1),
        "```",
        "",
    ]
    return "\n".join(lines)


def update(
    part: str, results: dict[str, Any], took_s: float, load: float, path: Path = RESULTS
) -> None:
    """Record one script's results (``part``: governance or guardrails) and
    rewrite the file."""
    raw = read_raw(path)
    raw[part] = {"stamp": stamp(took_s, load), "results": results}
    raw = {k: raw[k] for k in ("governance", "guardrails") if k in raw}
    path.write_text(render(raw))
