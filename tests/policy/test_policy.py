"""Policy rules: matchers (names, arguments, facts, cost, time, taint), the
first matching rule decides, denials reach the model, hot reload, and
`orgos policy check` explaining a decision."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest
from gov_helpers import Ledger, plan, runtime, tool_messages

from orgos.errors import ConfigError
from orgos.policy import Call, PolicySource, PolicySpec, RuleSet, load_policy

RULES = PolicySpec.model_validate({"rules": [
    {"name": "night", "when": {"tool": "deploy", "hours": "22-6"}, "decide": "deny"},
    {"name": "huge-refund", "when": {"tool": "refund", "args": {"amount": {"gt": 5000}}}, "decide": "deny",
     "reason": "refunds above 5000 are never made by agents"},
    {"name": "big-refund", "when": {"tool": "refund*", "args": {"amount": {"gt": 500}}}, "decide": "approve"},
    {"name": "eu-only", "when": {"tool": "ship", "args": {"address.country": {"not_in": ["FR", "DE"]}}}, "decide": "deny"},
    {"name": "spendy", "when": {"kind": "llm", "cost_over": 2.0}, "decide": "approve"},
    {"name": "support-no-delete", "when": {"team": "support", "tool": "delete_*"}, "decide": "deny"},
    {"name": "tainted-high-risk", "when": {"untrusted": True, "risk": "high"}, "decide": "approve"},
    {"name": "vip", "when": {"tool": "refund", "facts": {"customer_tier": "vip"}}, "decide": "allow"},
    {"name": "email-domain", "when": {"tool": "send_email", "args": {"to": {"matches": "@example\\.com$"}}}, "decide": "allow"},
    {"name": "other-email", "when": {"tool": "send_email"}, "decide": "deny"},
], "default": "allow"})  # fmt: skip

CASES = [
    # (call, expected action, expected rule)
    (Call("clerk", "tool", "refund", {"amount": 20}), "allow", None),
    (Call("clerk", "tool", "refund", {"amount": 501}), "approve", "big-refund"),
    (Call("clerk", "tool", "refund", {"amount": 500}), "allow", None),
    (Call("clerk", "tool", "refund", {"amount": "750"}), "approve", "big-refund"),
    (Call("clerk", "tool", "refund", {"amount": 9000}), "deny", "huge-refund"),
    (Call("clerk", "tool", "refund_partial", {"amount": 600}), "approve", "big-refund"),
    (Call("clerk", "tool", "refund", {}), "allow", None),
    (Call("clerk", "tool", "deploy", {}, hour=23), "deny", "night"),
    (Call("clerk", "tool", "deploy", {}, hour=3), "deny", "night"),
    (Call("clerk", "tool", "deploy", {}, hour=12), "allow", None),
    (Call("clerk", "tool", "ship", {"address": {"country": "US"}}), "deny", "eu-only"),
    (Call("clerk", "tool", "ship", {"address": {"country": "FR"}}), "allow", None),
    (Call("clerk", "llm", None, {}, cost=2.5), "approve", "spendy"),
    (Call("clerk", "llm", None, {}, cost=1.0), "allow", None),
    (Call("clerk", "tool", "delete_user", {}, team="support"), "deny", "support-no-delete"),
    (Call("clerk", "tool", "delete_user", {}, team="sales"), "allow", None),
    (
        Call("clerk", "tool", "wire", {}, risk="high", untrusted=True),
        "approve",
        "tainted-high-risk",
    ),
    (Call("clerk", "tool", "wire", {}, risk="high", untrusted=False), "allow", None),
    (Call("clerk", "tool", "send_email", {"to": "a@example.com"}), "allow", "email-domain"),
    (Call("clerk", "tool", "send_email", {"to": "a@evil.com"}), "deny", "other-email"),
]


@pytest.mark.parametrize(("call", "action", "rule"), CASES)
def test_rules_decide(call: Call, action: str, rule: str | None) -> None:
    d = RuleSet(RULES).decide(call)
    assert (d.action, d.rule) == (action, rule)


def test_facts_are_computed_only_when_a_rule_needs_them() -> None:
    asked: list[str] = []

    def facts() -> dict[str, str]:
        asked.append("x")
        return {"customer_tier": "vip"}

    rules = RuleSet(RULES)
    assert (
        rules.decide(
            Call("clerk", "tool", "ship", {"address": {"country": "FR"}}, facts_fn=facts)
        ).action
        == "allow"
    )
    assert asked == []
    assert (
        rules.decide(Call("clerk", "tool", "refund", {"amount": 10}, facts_fn=facts)).rule == "vip"
    )
    assert asked == ["x"]


def test_facts_that_fail_close_the_door() -> None:
    def broken() -> dict[str, str]:
        raise LookupError("no such order")

    spec = PolicySpec.model_validate({"rules": [
        {"name": "big", "when": {"tool": "refund", "facts": {"amount": {"gt": 100}}}, "decide": "approve"}]})  # fmt: skip
    assert (
        RuleSet(spec).decide(Call("a", "tool", "refund", {}, facts_fn=broken)).action == "approve"
    )


def test_explain_names_the_deciding_rule_and_why_others_skip() -> None:
    d, trace = RuleSet(RULES).explain(Call("clerk", "tool", "refund", {"amount": 900}))
    assert d.rule == "big-refund"
    by = dict(trace)
    assert by["big-refund"] == "matches: approve"
    assert by["huge-refund"].startswith("skipped: not args.amount")
    assert by["night"] == "skipped: tool is 'refund'"
    assert "earlier rule" in by["vip"] or by["vip"].startswith("skipped")


def test_bad_policy_files_name_file_and_line(tmp_path: Path) -> None:
    p = tmp_path / "policy.yaml"
    p.write_text(
        "rules:\n  - name: a\n    when: {tool: x, args: {amount: {bigger: 3}}}\n    decide: deny\n"
    )
    with pytest.raises(ConfigError, match=r"policy.yaml:3: .*unknown comparison bigger"):
        load_policy(p)
    p.write_text("rules:\n  - name: a\n    decide: maybe\n")
    with pytest.raises(ConfigError, match=r"policy.yaml:3: rules.0.decide"):
        load_policy(p)


def _write(p: Path, text: str, bump: int) -> None:
    p.write_text(textwrap.dedent(text))
    st = p.stat()
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns + bump * 1_000_000_000))


def test_hot_reload_without_restart(tmp_path: Path) -> None:
    p = tmp_path / "policy.yaml"
    _write(p, "rules: [{name: r, when: {tool: refund}, decide: allow}]\n", 0)
    src = PolicySource(None, p, interval=0.0)
    call = Call("clerk", "tool", "refund", {})
    assert src.current().decide(call).action == "allow"
    _write(p, "rules: [{name: r, when: {tool: refund}, decide: deny}]\n", 2)
    assert src.current().decide(call).action == "deny"
    # a broken file keeps the last good policy, and says why
    _write(p, "rules: [{name: r, when: {tool: refund}, decide: nope}]\n", 4)
    assert src.current().decide(call).action == "deny"
    assert src.error is not None and "policy.yaml:1" in src.error
    _write(p, "rules: []\ndefault: approve\n", 6)
    assert src.current().decide(call).action == "approve" and src.error is None


async def test_a_denial_reaches_the_model_and_the_run_goes_on(tmp_path: Path) -> None:
    ledger = Ledger()
    model = plan(("refund", {"order_id": "A-1", "amount": 9000}), final=lambda r: r[0])
    async with runtime(tmp_path, RULES, model, ledger.tools()) as rt:
        run = await rt.run("clerk", "refund", timeout=30)
    assert run.status.value == "succeeded"
    assert ledger.refunds == []
    assert run.output == "ERROR: refunds above 5000 are never made by agents"


@pytest.mark.sqlite_file
async def test_policy_file_reloads_under_a_running_runtime(tmp_path: Path) -> None:
    p = tmp_path / "policy.yaml"
    _write(p, "rules: []\n", 0)
    ledger = Ledger()
    model = plan(("refund", {"order_id": "A-1", "amount": 10}))
    async with runtime(tmp_path, p, model, ledger.tools()) as rt:
        assert (await rt.run("clerk", "one", timeout=30)).status.value == "succeeded"
        _write(p, "rules: [{name: stop, when: {tool: refund}, decide: deny, reason: frozen}]\n", 2)
        await rt.run("clerk", "two", timeout=30)
    assert len(ledger.refunds) == 1
    assert "ERROR: frozen" in tool_messages(model)
    import sqlite3

    conn = sqlite3.connect(tmp_path / "o.db")
    loads = conn.execute("SELECT COUNT(*) FROM audit WHERE action='policy.loaded'").fetchone()[0]
    assert loads == 2  # at start, and the reload


def test_policy_check_cli(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from orgos.cli import app

    runner = CliRunner()
    proj = tmp_path / "p"
    assert runner.invoke(app, ["init", str(proj)]).exit_code == 0
    (proj / "policy.yaml").write_text(textwrap.dedent("""\
        rules:
          - name: long-texts
            when: {tool: word_count, args: {text: {matches: "^to be"}}}
            decide: approve
            reason: counting Shakespeare needs a person
          - name: no-llm-after-spend
            when: {kind: llm, cost_over: 1}
            decide: deny
        """))  # fmt: skip
    out = runner.invoke(app, ["-p", str(proj), "policy", "check", "assistant", "--tool",
                              "word_count", "--args", '{"text": "to be or not"}'])  # fmt: skip
    assert out.exit_code == 0, out.output
    assert (
        "decision: approve (by rule long-texts): counting Shakespeare needs a person" in out.output
    )
    assert "no-llm-after-spend  skipped: kind is 'tool'" in out.output
    out = runner.invoke(app, ["-p", str(proj), "policy", "check", "assistant", "--cost", "3"])
    assert "decision: deny (by rule no-llm-after-spend)" in out.output
    out = runner.invoke(app, ["-p", str(proj), "policy", "check", "assistant", "--tool", "word_count",
                              "--args", '{"text": "hello"}'])  # fmt: skip
    assert "decision: allow (by the default)" in out.output
    print(out.output)


@pytest.mark.parametrize("amount", [float("nan"), float("inf"), "NaN", "-Infinity", "1e999"])
def test_numeric_rules_fail_closed_on_numbers_that_are_not_finite(amount: object) -> None:
    rules = RuleSet(RULES)
    decision = rules.decide(Call("clerk", "tool", "refund", {"amount": amount}))
    assert (decision.action, decision.rule) == ("deny", "huge-refund")


async def test_a_nan_refund_is_denied_by_a_deny_above_rule(tmp_path: Path) -> None:
    # "NaN" is valid JSON (a string) and the tool's float parameter reads it as nan
    ledger = Ledger()
    model = plan(("refund", {"order_id": "A-1", "amount": "NaN"}), final=lambda r: r[0])
    async with runtime(tmp_path, RULES, model, ledger.tools()) as rt:
        run = await rt.run("clerk", "refund", timeout=30)
    assert ledger.refunds == []
    assert run.output == "ERROR: refunds above 5000 are never made by agents"


async def test_a_denied_call_does_not_use_up_its_tool_limit(tmp_path: Path) -> None:
    from orgos import Agent

    ledger = Ledger()
    model = plan(("refund", {"order_id": "A-1", "amount": 9000}),
                 ("refund", {"order_id": "A-1", "amount": 90}), final=lambda r: r[1])  # fmt: skip
    agents = [Agent(name="clerk", tools=["refund"], tool_limits={"refund": 1})]
    async with runtime(tmp_path, RULES, model, ledger.tools(), agents=agents) as rt:
        run = await rt.run("clerk", "refund", timeout=30)
    assert ledger.refunds == [{"order_id": "A-1", "amount": 90}]  # the denial cost nothing
    assert run.output.startswith('{"refund_id":"RF-1"')
