"""Governance in the syscall pipeline: kill switch -> budgets -> policy
(rules, approvals) -> rate limits before a syscall; usage, taint, breaker
after it; an audit record committed in the same batch as its journal entries.

One Governance per Runtime. Per-syscall work is kept to a few attribute
lookups and precompiled matchers: store reads happen only when a run is first
seen by this process, when an approval is involved, or every
``switch_interval`` seconds to see kill switches other processes set.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orgos.config.chart import OrgChart
from orgos.errors import ConfigError
from orgos.kernel.syscall import Syscall, Verdict
from orgos.policy import escalation, trial
from orgos.policy.approval_desk import ApprovalDesk
from orgos.policy.boundary import check_boundary
from orgos.policy.gate import ApprovalGate
from orgos.policy.rules import Call, Decision, RuleSet
from orgos.policy.sealing import AuditKey
from orgos.policy.source import PolicySource
from orgos.policy.spec import PolicySpec
from orgos.policy.spend import Budgets
from orgos.policy.switches import Switches
from orgos.redact import Redactor, Scrubber
from orgos.result import Result
from orgos.store.base import Audit, RunFilter, RunRecord, RunStatus, Store
from orgos.store.records import AuditEntry
from orgos.store.waiting import WaitApproval, WaitPaused

if TYPE_CHECKING:
    from orgos.config.specs import AgentSpec
    from orgos.kernel.kernel import Kernel
    from orgos.policy.vault import Vault

log = logging.getLogger("orgos.policy")


@dataclass(slots=True)
class RunState:
    """What governance caches of a run: who it acts for. Its taint is not
    here: it is the run's own (``RunRecord.tainted``), rebuilt from its journal."""

    agent: str
    team: str | None


class Governance:
    """Governance in a kernel's syscall pipeline: the policy, and its parts.

    Owns the policy in force (its rules, reloaded from its file, checked
    against the workspace boundary), the pipeline's hooks (``before``:
    kill switch, budgets, rules and approvals, rate limits; ``on_result``:
    usage and taint; ``after``: spend and the breaker), what it knows of each
    run (who it acts for), the vault, the audit key and redaction. Its
    parts, reached as attributes: ``budgets`` (``Budgets``: the meter, prices
    and rate limits, spend across workers), ``approvals`` (``ApprovalDesk``:
    decisions, who may decide, escalation) and ``switches`` (``Switches``:
    kill switches and the breaker)."""

    def __init__(
        self,
        policy: PolicySpec | Path | str | None = None,
        *,
        reload_interval: float = 1.0,
        switch_interval: float = 0.25,
        vault_key: bytes | None = None,
        vault_key_file: Path | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        audit_key: bytes | None = None,
    ):
        """``clock`` and ``sleep``: the rate limiter's monotonic clock and wait.
        ``audit_key``: seal audit records with this key (else the policy's
        ``audit:`` key, if any)."""
        if isinstance(policy, PolicySpec) or policy is None:
            self.source = PolicySource(policy)
        else:
            self.source = PolicySource(None, Path(policy), reload_interval)
        self._gate = ApprovalGate(self)
        self._rules: RuleSet = self.source.rules
        #: The parts: spend and budgets, approvals once asked, kill switches.
        self.budgets = Budgets(self, self._rules.spec, switch_interval, clock, sleep)
        self.approvals = ApprovalDesk(self)
        self.switches = Switches(self, switch_interval)
        self._apply_spec(self._rules.spec)
        self.chart: OrgChart | None = None
        self._runs: dict[str, RunState] = {}
        self._vault_key, self._vault_key_file = vault_key, vault_key_file
        self._vault: Vault | None = None
        base = self.source.path.parent if self.source.path is not None else None
        self._audit = AuditKey(audit_key, lambda: self.vault, base)
        self._kernel: Kernel | None = None
        #: Every vault value known here, masked in tool results and log records.
        self.scrubber = Scrubber()

    def _apply_spec(self, spec: PolicySpec) -> None:
        self.budgets.apply(spec)
        self._untrusted = frozenset(spec.untrusted_tools)
        r = spec.redaction
        self.redactor = Redactor(r.pii, r.patterns)
        self._redact_logs = r.logs and bool(self.redactor)
        self._redact_events = r.events and bool(self.redactor)

    # --- assembly -------------------------------------------------------------------
    def install(self, kernel: Kernel, agents: dict[str, AgentSpec], chart: OrgChart | None) -> None:
        """Plug into the kernel's pipeline; check every agent against the boundary."""
        self._kernel = kernel
        self.chart = chart
        self.workspace = kernel.workspace
        check_boundary(self.spec, agents)
        kernel.pipeline.add_before(self.before)
        kernel.pipeline.result.append(self.on_result)
        kernel.pipeline.after.append(self.after)
        kernel.wakers[WaitApproval] = self.approvals.waker
        kernel.wakers[WaitPaused] = self.switches.waker
        kernel.programs[escalation.KIND] = escalation.SupervisorDecision(self)
        kernel.on_run_end.append(lambda run: trial.ended(self, run))
        kernel.secrets = self._secret
        kernel.scrubber = self.scrubber
        self.store.audit.set_key(self.audit_key)
        kernel.events.redact = self._redact_event

    def adopt(self, chart: OrgChart, agents: dict[str, AgentSpec]) -> None:
        """The org chart and agents a runtime starts with (agents added after
        ``install``): the boundary is checked on them too."""
        check_boundary(self.spec, agents)
        self.chart = chart

    def _redact_event(self, data: Any) -> Any:
        return self.redactor.value(data) if self._redact_events else data

    def redact_log(self, text: str) -> str:
        """A log record's text: no vault value, and no PII unless turned off.
        The runtime scrubs the orgos loggers' records made in its context
        with it (``orgos.redact.LogScope``)."""
        text = self.scrubber.text(text)
        return self.redactor.text(text) if self._redact_logs else text

    @property
    def spec(self) -> PolicySpec:
        return self._rules.spec

    @property
    def store(self) -> Store:
        """The store of the kernel governance is installed in."""
        return self.kernel.store

    @property
    def kernel(self) -> Kernel:
        if self._kernel is None:
            raise RuntimeError("governance is not installed in a kernel")
        return self._kernel

    @property
    def vault(self) -> Vault:
        if self._vault is None:
            from orgos.policy.vault import Vault, vault_key

            key = self._vault_key or vault_key(self._vault_key_file)
            self._vault = Vault(self.store.governance, self.workspace, key, self.scrubber)
        return self._vault

    async def _secret(self, name: str) -> str:
        return await self.vault.get(name)

    def audit_key(self) -> bytes | None:
        """The key sealing audit records (given, or the policy's), or None."""
        return self._audit.get(self.spec.audit)

    async def read_audit_key(self) -> bytes | None:
        """``audit_key``, looked up in the vault first if the policy keeps it there."""
        await self._audit.load(self.spec.audit)
        return self._audit.get(self.spec.audit)

    async def start(self, *, background: bool = True) -> None:
        """After the store is open: today's usage, the policy in force (audited),
        and, for a worker, the escalation loop."""
        await self.budgets.load_day()
        await self.switches.refresh()
        if await self.store.governance.secret_names(self.workspace):
            try:  # every vault value is scrubbed from tool results and logs
                await self.vault.learn_all()
            except ConfigError as exc:  # no key here: tools' own secrets still are
                log.warning("the vault cannot be read: %s", exc)
        await self.read_audit_key()  # a key that cannot be read fails here, not at a commit
        await self.store.audit.record(
            AuditEntry(
                self.workspace, "kernel", "policy.loaded", data={"digest": self.source.digest}
            )
        )
        if background:
            await self._wake_answered()
            self.approvals.start()

    async def stop(self) -> None:
        tasks = [*self.approvals.stopping(), *self.switches.tasks]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def team(self, agent: str) -> str | None:
        """The team of an agent in the org chart (None: none, or no chart)."""
        return self.chart.team_of(agent) if self.chart is not None else None

    # --- the before-hook ------------------------------------------------------------
    async def before(self, sc: Syscall) -> Verdict | None:
        run = sc.run
        st = self._runs.get(run.id)
        if st is None:
            st = await self._state(run, sc.seq)
        if "agent" in sc.request and sc.kind == "llm":
            st = self._acting(st, sc.request["agent"])
        switches = self.switches
        if time.monotonic() >= switches.next:
            await switches.refresh()
        if switches.paused:
            scope = switches.scope_of(st)
            if scope is not None and not await switches.passes_trial(scope, run.id):
                why = switches.paused[scope]
                return Verdict.park(f"paused ({scope}): {why}", WaitPaused(scope))
        rules = self.source.current()
        if rules is not self._rules:
            self._rules = rules
            await self._audit.load(rules.spec.audit)
            self._apply_spec(rules.spec)
            sc.ops.append(Audit(run.workspace, "kernel", "policy.loaded",
                                data={"digest": self.source.digest}))  # fmt: skip
        kind = sc.kind
        agent = st.agent
        req = sc.request
        if kind == "llm":
            budgets = self.budgets
            if budgets.sync_due(rules.spec):
                await budgets.sync_spend()
            over = budgets.exhausted(sc, st, rules.spec)
            if over is not None:
                sc.ops.append(Audit(run.workspace, "agent:" + agent, "llm.deny", run.id, sc.seq,
                                    {"budget": over}))  # fmt: skip
                return Verdict.deny(over)
        tool_name = req.get("tool") if kind == "tool" else None
        if tool_name is not None and "refused" in req:  # invalid: it cannot run, nothing to judge
            sc.ops.append(Audit(run.workspace, "agent:" + agent, "tool.refused", run.id, sc.seq,
                                {"tool": tool_name, "reason": req["refused"]}))  # fmt: skip
            return None
        call = self._call(sc, st, tool_name, rules)
        if kind == "review":  # an answer that failed its guardrails: always a person
            d = Decision("approve", "guardrails", str(req.get("reason", "")), req.get("approver"))
        else:
            d = rules.decide(call)
        verdict: Verdict | None = None
        action = d.action
        if action == "deny":
            verdict = Verdict.deny(d.reason)
        elif action == "approve":
            verdict = await self._gate.approval(sc, st, d.rule, d.reason, d.approver)
            if verdict is not None and verdict.action == "park":
                return verdict  # nothing is journaled: the approval has its own record
            action = "allow" if verdict is None else "deny"
        if verdict is None and kind == "llm":
            await self.budgets.limiter.acquire(str(req.get("model", "default")))
        data: dict[str, Any] = {"rule": d.rule}
        if tool_name is not None:
            data["tool"] = tool_name
        if verdict is not None:
            data["reason"] = verdict.reason
        sc.ops.append(Audit(run.workspace, "agent:" + agent, f"{kind}.{action}", run.id, sc.seq,
                            data))  # fmt: skip
        return verdict

    def _acting(self, st: RunState, agent: Any) -> RunState:
        """A model call made for another agent (a supervisor choosing for a
        workflow): its rules, switches and budgets apply (the taint is the run's own)."""
        name = str(agent)
        return RunState(name, self.team(name))

    def _call(self, sc: Syscall, st: RunState, tool_name: Any, rules: RuleSet) -> Call:
        run = sc.run
        tally = self.budgets.meter.run(run.id)
        args = sc.request.get("arguments") if tool_name is not None else sc.request
        risk = "low"
        facts_fn = None
        if tool_name is not None:
            tool = self.kernel.tools.get(tool_name)
            risk = (
                self.spec.risk.get(tool_name) or (tool.risk if tool is not None else None) or "low"
            )
            if tool is not None and tool.facts is not None and isinstance(args, dict):
                f, t, a = tool.facts, tool, args
                facts_fn = lambda: f(**t.validate(a))  # noqa: E731
        return Call(
            st.agent, sc.kind, tool_name, args if isinstance(args, dict) else {}, st.team, risk,
            sc.run.tainted, tally.cost if tally else 0.0, tally.tokens if tally else 0,
            int(time.time() // 3600 % 24), facts_fn,
        )  # fmt: skip

    async def _state(self, run: RunRecord, seq: int) -> RunState:
        """What governance needs to know of a run it has not seen yet: its
        spend so far, rebuilt from the audit records after a restart."""
        st = RunState(run.target, self.team(run.target))
        await self.budgets.rebuild(run, seq)
        if len(self._runs) > 100_000:
            for k in list(self._runs)[:50_000]:
                del self._runs[k]
        self._runs[run.id] = st
        return st

    # --- the sweep at start ---------------------------------------------------------
    async def _wake_answered(self) -> list[str]:
        """Sweep at start: parked runs whose approval was decided or whose
        switch was lifted while no worker could look (or a waker failed)."""
        store = self.kernel.store
        woke = []
        for r in await store.list_runs(
            RunFilter(self.workspace, statuses=[RunStatus.WAITING], limit=1_000_000)
        ):
            w = type(r.waiting_on)
            waker = (self.approvals.waker if w is WaitApproval
                     else self.switches.waker if w is WaitPaused else None)  # fmt: skip
            if waker is not None and await waker(r):
                woke.append(r.id)
        if woke:
            self.kernel.nudge()
        return woke

    async def set_secret(self, name: str, value: str, actor: str) -> None:
        """Store a secret (when it is the audit key, it seals this record too)."""
        self._audit.learn(self.spec.audit, name, value)
        await self.vault.set(name, value, actor)

    # --- the result- and after-hooks -----------------------------------------------
    def on_result(self, sc: Syscall, result: Result) -> None:
        """A model call's tokens and cost go into its audit record, committed
        with its result: the record other workers read today's spend from.
        An untrusted tool's result is marked tainted before it is journaled,
        whether it succeeded or failed (an error text is outside content too)."""
        if sc.kind == "tool":
            if self._untrusted and sc.request.get("tool") in self._untrusted:
                result.tainted = True
            return
        if sc.kind != "llm":
            return
        ok = result.value
        if isinstance(ok, dict):
            self.budgets.record_usage(sc, ok)

    def after(self, sc: Syscall, result: Result) -> None:
        kind = sc.kind
        st = self._runs.get(sc.run.id)
        if st is None:
            return
        if kind == "llm":
            ok = result.value
            if not isinstance(ok, dict):
                return
            if "agent" in sc.request:
                st = self._acting(st, sc.request["agent"])
            cost = self.budgets.charge(sc, st, ok)
            if cost and self.spec.breaker.max_cost is not None:
                self.switches.breaker_note(st.agent, cost=cost)
        elif kind == "tool" and not result.ok and self.spec.breaker.max_errors is not None:
            self.switches.breaker_note(st.agent, error=True)
