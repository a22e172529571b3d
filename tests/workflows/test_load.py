"""Bad workflow specs are refused at load time, naming file, line and problem."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from orgos import Agent
from orgos.config.expr import ExprError, parse, render
from orgos.config.project import load_project
from orgos.config.workflow_files import load_workflow, load_workflows
from orgos.errors import ConfigError

AGENTS = {n: Agent(name=n, capabilities=["refunds"] if n == "finance" else [])
          for n in ("service", "finance", "logistics")}  # fmt: skip


def write(tmp: Path, text: str, name: str = "wf.yaml") -> Path:
    p = tmp / name
    p.write_text(textwrap.dedent(text).lstrip())
    return p


def refused(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_workflow(path, AGENTS, ())
    return str(info.value)


def test_a_good_workflow_loads(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        """
        name: returns
        inputs: [order_id]
        steps:
          - id: lookup
            agent: service
            task: "Look up {{ input.order_id }}"
          - id: refund
            route: {capabilities: [refunds]}
            needs: [lookup]
            task: "Refund {{ steps.lookup.output.order_id }}"
    """,
    )
    spec = load_workflow(p, AGENTS, ())
    assert [s.id for s in spec.steps] == ["lookup", "refund"]


def test_a_cycle_is_refused(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        """
        name: loop
        steps:
          - id: a
            agent: service
            needs: [c]
          - id: b
            agent: service
            needs: [a]
          - id: c
            agent: service
            needs: [b]
    """,
    )
    msg = refused(p)
    assert f"{p}:5: steps form a cycle: a -> c -> b -> a" in msg


def test_an_unknown_agent_is_refused(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        """
        name: w
        steps:
          - id: a
            agent: service
          - id: b
            agent: acountant
            needs: [a]
    """,
    )
    msg = refused(p)
    assert f"{p}:6: step 'b' names unknown agent 'acountant'" in msg
    assert "agents: finance, logistics, service" in msg


def test_missing_inputs_are_refused(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        """
        name: w
        inputs: [order_id]
        steps:
          - id: a
            agent: service
          - id: b
            agent: finance
            task: "refund {{ steps.a.output.amount }} for {{ input.order }}"
    """,
    )
    msg = refused(p)
    assert f"{p}:8: step 'b' reads the output of step 'a', which is not among its needs" in msg
    assert "add it: needs: [a]" in msg
    assert f"{p}:8: step 'b' reads input.order, which is not among the workflow's inputs" in msg


def test_unknown_needs_and_items_without_for_each(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        """
        name: w
        steps:
          - id: a
            agent: service
            task: "{{ item }}"
            needs: [nothing]
    """,
    )
    msg = refused(p)
    assert f"{p}:5: step 'a' reads 'item' but has no for_each" in msg
    assert f"{p}:6: step 'a' needs unknown step 'nothing'" in msg


def test_an_unbounded_loop_is_refused(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        """
        name: w
        steps:
          - id: a
            agent: service
            loop:
              until: "steps.a.output.done"
    """,
    )
    msg = refused(p)
    assert f"{p}:5: steps.0.loop:" in msg and "unbounded loops are refused" in msg


def test_bad_expressions_are_refused(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        """
        name: w
        steps:
          - id: a
            agent: service
            when: "__import__('os').system('x')"
    """,
    )
    msg = refused(p)
    assert f"{p}:5:" in msg and "only len(), any() and all() may be called" in msg


def test_two_doers_and_no_doer(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        """
        name: w
        steps:
          - id: a
            agent: service
            workflow: other
    """,
    )
    assert f"{p}:3: steps.0:" in refused(p) and "exactly one of agent" in refused(p)


def test_sub_workflow_cycles_and_unknown_sub_workflows(tmp_path: Path) -> None:
    write(tmp_path, "name: one\nsteps:\n  - id: a\n    workflow: two\n", "one.yaml")
    write(tmp_path, "name: two\nsteps:\n  - id: b\n    workflow: one\n", "two.yaml")
    with pytest.raises(ConfigError, match="sub-workflows form a cycle: one -> two -> one"):
        load_workflows([tmp_path], AGENTS)
    (tmp_path / "two.yaml").write_text("name: two\nsteps:\n  - id: b\n    workflow: three\n")
    with pytest.raises(ConfigError, match=r"two.yaml:4: step 'b' names unknown workflow 'three'"):
        load_workflows([tmp_path], AGENTS)


def test_a_project_loads_its_workflows(tmp_path: Path) -> None:
    (tmp_path / "agents").mkdir()
    (tmp_path / "orgos.yaml").write_text("name: p\ntools: []\n")
    (tmp_path / "agents" / "a.yaml").write_text("name: service\n")
    (tmp_path / "workflows").mkdir()
    write(tmp_path / "workflows", "name: w\nsteps:\n  - id: a\n    agent: nobody\n")
    with pytest.raises(ConfigError, match=r"workflows/wf.yaml:4: step 'a' names unknown agent"):
        load_project(tmp_path)
    write(tmp_path / "workflows", "name: w\nsteps:\n  - id: a\n    agent: service\n")
    assert list(load_project(tmp_path).workflows) == ["w"]


@pytest.mark.parametrize(
    ("expr", "env", "value"),
    [
        (
            "steps.a.output.n > 2 and input.ok",
            {"steps": {"a": {"output": {"n": 3}}}, "input": {"ok": True}},
            True,
        ),
        (
            "steps.a.output.items[1].sku",
            {"steps": {"a": {"output": {"items": [{}, {"sku": "S"}]}}}},
            "S",
        ),
        ("steps.missing.output.x == null", {"steps": {}}, True),
        ("'x' in input.tags", {"input": {"tags": ["x"]}}, True),
        ("len(input.tags) + 1", {"input": {"tags": [1, 2]}}, 3),
        ("not input.flag", {"input": {}}, True),
    ],
)
def test_expressions(expr: str, env: dict[str, object], value: object) -> None:
    assert parse(expr)(env) == value


@pytest.mark.parametrize(
    "bad", ["a.__class__", "open('x')", "lambda: 1", "[x for x in y]", "a = 1", ""]
)
def test_unsafe_or_broken_expressions(bad: str) -> None:
    with pytest.raises(ExprError):
        parse(bad)


def test_templates() -> None:
    env = {"input": {"id": "ORD-1", "n": [1, 2]}}
    assert render("order {{ input.id }} has {{ input.n }}", env) == "order ORD-1 has [1, 2]"
    assert render("{{ input.n }}", env) == [1, 2]
