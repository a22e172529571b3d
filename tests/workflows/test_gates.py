"""Evaluation gates: a step's output is checked (a schema, rules, a judge
model) before its dependents see it; a failing output goes back to the
step's agent with the reasons, then the step's on_failure applies."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
from stores import store_for
from wf_helpers import agent_of, agents_model

from orgos import Agent, RunStatus, Runtime, validator
from orgos.agents.guardrails import VERDICT_SCHEMA
from orgos.config.org import OrgSpec, TeamSpec
from orgos.config.workflow import WorkflowSpec
from orgos.config.workflow_files import load_workflow
from orgos.errors import ConfigError
from orgos.llm.base import ModelRequest, ModelResponse
from orgos.store.waiting import WaitDecision
from orgos.testing import ScriptedModel

AGENTS = [Agent(name="quoter", team="sales"), Agent(name="mailer"), Agent(name="lead")]
ORG = OrgSpec(teams=[TeamSpec(name="sales", owner="dana@example.com", lead="lead")])


def runtime(tmp_path: Path, model: ScriptedModel, **kw: Any) -> Runtime:
    return Runtime(store=store_for(tmp_path), agents=AGENTS, org=ORG, models=model, **kw)


def wf(gate: dict[str, Any], **step: Any) -> WorkflowSpec:
    return WorkflowSpec.model_validate({
        "name": "quote",
        "steps": [{"id": "quote", "agent": "quoter", "task": "Quote order 7", "gate": gate, **step},
                  {"id": "mail", "agent": "mailer", "needs": ["quote"],
                   "task": "Mail the quote of {{ steps.quote.output.amount }}"}],
        "output": {"quote": "steps.quote.output", "mail": "steps.mail.output"},
    })  # fmt: skip


def quotes(*amounts: float, seen: list[str] | None = None) -> ScriptedModel:
    """The quoter answers these amounts in turn (the last repeats); the mailer mails."""
    left = list(amounts)

    def quoter(task: str) -> dict[str, Any]:
        if seen is not None:
            seen.append(task)
        return {"amount": left.pop(0) if len(left) > 1 else left[0]}

    return agents_model({"quoter": quoter, "mailer": lambda t: "mailed " + t.split("\n")[0]})


async def test_an_output_that_passes_its_gate_reaches_its_dependents(tmp_path: Path) -> None:
    gate = {"schema": {"type": "object", "required": ["amount"]}, "rules": ["output.amount <= 500"]}
    async with runtime(tmp_path, quotes(90)) as rt:
        rec = await rt.run_workflow(wf(gate), timeout=20)
        journal = await rt.history.journal(rec.id)
    assert rec.status is RunStatus.SUCCEEDED, rec.error
    assert rec.output == {"quote": {"amount": 90}, "mail": "mailed Mail the quote of 90"}
    (verdict,) = [e.payload for e in journal if e.kind == "gate" and e.phase == "result"]
    assert verdict["ok"] == {"passed": True, "problems": []}


async def test_a_failed_gate_sends_the_step_back_with_the_reason_and_the_retry_passes(
    tmp_path: Path,
) -> None:
    seen: list[str] = []
    gate = {"rules": ["output.amount <= 500"]}
    async with runtime(tmp_path, quotes(900, 90, seen=seen)) as rt:
        rec = await rt.run_workflow(wf(gate), timeout=20)
    assert rec.status is RunStatus.SUCCEEDED, rec.error
    assert rec.output["mail"] == "mailed Mail the quote of 90"  # the dependent never saw 900
    assert len(seen) == 2
    assert "sent back" not in seen[0]
    assert (
        "Your previous answer was sent back: its output failed the gate:"
        " rule 'output.amount <= 500' does not hold." in seen[1]
    )


async def test_a_gate_that_keeps_failing_fails_the_step_and_its_dependents_never_run(
    tmp_path: Path,
) -> None:
    seen: list[str] = []
    gate = {"schema": {"type": "object", "properties": {"amount": {"maximum": 500}}}, "retries": 1}
    model = quotes(900, seen=seen)
    async with runtime(tmp_path, model) as rt:
        rec = await rt.run_workflow(wf(gate), timeout=20)
    assert rec.status is RunStatus.FAILED
    assert rec.error == (
        "WorkflowFailed: step quote failed: its output failed the gate:"
        " schema: amount: 900 is greater than the maximum of 500"
    )
    assert len(seen) == 2  # the first try and one retry; the mailer never ran


async def test_a_failed_gate_escalates_when_the_step_says_so(tmp_path: Path) -> None:
    gate = {"rules": ["output.amount <= 500"], "retries": 0}
    spec = wf(gate, on_failure="escalate")
    async with runtime(tmp_path, quotes(900)) as rt:
        rec = await rt.run_workflow(spec, timeout=20)
        assert rec.status is RunStatus.WAITING
        decision = rec.waiting_on
        assert isinstance(decision, WaitDecision)
        assert decision.syscall == "escalate"
        assert decision.request["to"] == "dana@example.com"
        assert "rule 'output.amount <= 500' does not hold" in decision.request["error"]
        await rt.control.decide(rec.id, "done", {"amount": 450})  # a person quotes it
        done = await rt.wait(rec.id, timeout=20)
    assert done.status is RunStatus.SUCCEEDED, done.error
    assert done.output == {"quote": {"amount": 450}, "mail": "mailed Mail the quote of 450"}


def judged(verdicts: list[dict[str, Any]], judge_requests: list[ModelRequest]) -> ScriptedModel:
    """The agents of ``quotes`` and a judge giving these verdicts in turn."""
    agents = quotes(900, 90)

    async def respond(req: ModelRequest) -> ModelResponse:
        if req.output_schema == VERDICT_SCHEMA:
            judge_requests.append(req)
            return ScriptedModel.final(verdicts[len(judge_requests) - 1])
        assert agent_of(req) in ("quoter", "mailer")
        return await agents.complete(req)

    return ScriptedModel(respond)


async def test_a_judge_model_decides_a_gate_through_the_kernel(tmp_path: Path) -> None:
    asked: list[ModelRequest] = []
    verdicts = [{"pass": False, "reason": "900 is not a price for a scarf"},
                {"pass": True, "reason": "plausible"}]  # fmt: skip
    gate = {"criteria": [{"name": "plausible", "judge": "The amount is a plausible price."}]}
    async with runtime(tmp_path, judged(verdicts, asked)) as rt:
        rec = await rt.run_workflow(wf(gate), timeout=20)
        journal = await rt.history.journal(rec.id)
    assert rec.status is RunStatus.SUCCEEDED, rec.error
    assert rec.output["quote"] == {"amount": 90}
    # the workflow run parked and was replayed from its journal at each child's
    # end: the judge was asked once per output, its verdicts came back from there
    assert len(asked) == 2
    assert '{"amount": 900}' in asked[0].messages[1].content  # the judge saw the output
    assert "Quote order 7" in asked[0].messages[1].content  # and the task
    # the judge's calls are the workflow run's own syscalls: journaled, governed
    assert len([e for e in journal if e.kind == "llm" and e.phase == "result"]) == 2


async def test_a_gate_criterion_can_use_a_custom_validator(tmp_path: Path) -> None:
    @validator
    def even(text: str, value: Any) -> str | None:
        return None if value["amount"] % 2 == 0 else f"{value['amount']} is odd"

    gate = {"criteria": [{"name": "even", "validator": "even"}], "retries": 0}
    async with runtime(tmp_path, quotes(91), validators=[even]) as rt:
        rec = await rt.run_workflow(wf(gate), timeout=20)
    assert rec.status is RunStatus.FAILED
    assert "criterion even: 91 is odd" in str(rec.error)


def load(tmp: Path, text: str) -> None:
    p = tmp / "wf.yaml"
    p.write_text(textwrap.dedent(text).lstrip())
    load_workflow(p, {a.name: a for a in AGENTS}, (), validators=["even"])


GOOD = """
name: quote
steps:
  - id: first
    agent: lead
  - id: quote
    agent: quoter
    needs: [first]
    gate:
"""


@pytest.mark.parametrize(
    ("gate", "message"),
    [
        (
            '      rules: ["output.amount <="]\n',
            "wf.yaml:9: step 'quote': 'output.amount <=': syntax error",
        ),
        (
            '      rules: ["secrets.key == 1"]\n',
            "wf.yaml:9: step 'quote': 'secrets.key == 1' reads 'secrets'",
        ),
        (
            '      rules: ["steps.mail.output == 1"]\n',
            "wf.yaml:9: step 'quote' reads the output of step 'mail', which does not exist",
        ),
        (
            '      rules: ["item == 1"]\n',
            "wf.yaml:9: step 'quote' reads 'item' but has no for_each",
        ),
        (
            "      schema: {type: thing}\n",
            "wf.yaml:9: steps.1.gate.schema: Value error, schema is not a valid JSON Schema",
        ),
        (
            "      criteria: [{name: odd, validator: odd}]\n",
            "wf.yaml:9: step 'quote': gate criterion 'odd' uses unknown validator 'odd'; known validators: even",
        ),
        (
            "      retries: 2\n",
            "wf.yaml:8: steps.1.gate: Value error, a gate needs a schema, rules or criteria",
        ),
    ],
)
def test_bad_gates_are_refused_at_load_with_file_and_line(
    tmp_path: Path, gate: str, message: str
) -> None:
    with pytest.raises(ConfigError) as err:
        load(tmp_path, GOOD + gate)
    assert message in str(err.value)


def test_a_good_gate_loads(tmp_path: Path) -> None:
    load(tmp_path, GOOD + '      rules: ["output.amount <= steps.first.output.limit"]\n'
                          "      criteria: [{name: even, validator: even}]\n")  # fmt: skip


def test_a_gate_round_trips_through_a_run_input() -> None:
    spec = wf({"schema": {"type": "object"}, "rules": ["output.amount > 0"]})
    assert WorkflowSpec.model_validate(json.loads(spec.model_dump_json())) == spec
