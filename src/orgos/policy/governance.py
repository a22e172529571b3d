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
from orgos.kernel.breakers import WindowBreaker
from orgos.kernel.syscall import Syscall, Verdict
from orgos.policy import approvals as approvals_mod
from orgos.policy import escalation, trial
from orgos.policy.boundary import check_boundary
from orgos.policy.budgets import Meter, Prices, RateLimiter, day_of
from orgos.policy.gate import ApprovalGate
from orgos.policy.rules import Call, Decision, RuleSet
from orgos.policy.sealing import AuditKey
from orgos.policy.source import PolicySource
from orgos.policy.spec import PolicySpec
from orgos.redact import Redactor, Scrubber
from orgos.result import Result
from orgos.store.base import Audit, RunFilter, RunRecord, RunStatus, Store, Usage
from orgos.store.records import Approval, AuditEntry, LlmUsage
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
        self.switch_interval = switch_interval
        self.meter = Meter()
        self._gate = ApprovalGate(self)
        self.limiter = RateLimiter({}, clock=clock, sleep=sleep)
        self._rules: RuleSet = self.source.rules
        self._apply_spec(self._rules.spec)
        self.chart: OrgChart | None = None
        self._runs: dict[str, RunState] = {}
        self._paused: dict[str, str] = {}
        #: Pauses the breaker set whose store write is still on its way (kept
        #: across refreshes, or a refresh would let the agent go on meanwhile).
        self._tripping: dict[str, str] = {}
        self._switch_next = 0.0
        self._breaker: dict[str, WindowBreaker] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loop_task: asyncio.Task[None] | None = None
        self._vault_key, self._vault_key_file = vault_key, vault_key_file
        self._vault: Vault | None = None
        base = self.source.path.parent if self.source.path is not None else None
        self._audit = AuditKey(audit_key, lambda: self.vault, base)
        #: Approvals created by this process, in order (for in-process waiters).
        self.requested: asyncio.Queue[Approval] = asyncio.Queue()
        self._kernel: Kernel | None = None
        #: Every vault value known here, masked in tool results and log records.
        self.scrubber = Scrubber()
        #: The audit seq up to which other workers' spend is counted in the meter.
        self._spend_seq = 0
        self._spend_next = 0.0

    def _apply_spec(self, spec: PolicySpec) -> None:
        self.prices = Prices(spec.prices)
        self.limiter = self.limiter.renewed(spec.rate_limits)
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
        kernel.wakers[WaitApproval] = self._approval_waker
        kernel.wakers[WaitPaused] = self._paused_waker
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
        day0 = day_of(time.time()) * 86_400.0
        day = await self.store.usage.day_usage(self.workspace, day0)
        self._spend_seq = day.seq
        for u in day.calls:
            cost = self.prices.cost(u.model_key, u.model, u.input_tokens, u.output_tokens)
            tokens = u.input_tokens + u.output_tokens
            self.meter.charge_day(u.run_target, self._team(u.run_target), tokens, cost)
        await self._refresh_switches()
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
            await self.wake_answered()
            self._loop_task = asyncio.create_task(self._escalation_loop(), name="orgos-approvals")

    async def stop(self) -> None:
        tasks = [t for t in (self._loop_task, *self._tasks) if t is not None]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._loop_task = None

    def _team(self, agent: str) -> str | None:
        return self.chart.team_of(agent) if self.chart is not None else None

    # --- the before-hook ------------------------------------------------------------
    async def before(self, sc: Syscall) -> Verdict | None:
        run = sc.run
        st = self._runs.get(run.id)
        if st is None:
            st = await self._state(run, sc.seq)
        if "agent" in sc.request and sc.kind == "llm":
            st = self._acting(st, sc.request["agent"])
        if time.monotonic() >= self._switch_next:
            await self._refresh_switches()
        if self._paused:
            scope = self._paused_scope(st)
            if scope is not None and not await self._trial(scope, run.id):
                why = self._paused[scope]
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
            b = rules.spec.budgets
            if (b.day or b.agents or b.teams) and time.monotonic() >= self._spend_next:
                await self._sync_spend()
            over = self.meter.exhausted(
                rules.spec.budgets, run.id, agent, st.team, rules.spec.currency, run.root_id
            )
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
            await self.limiter.acquire(str(req.get("model", "default")))
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
        return RunState(name, self._team(name))

    def _call(self, sc: Syscall, st: RunState, tool_name: Any, rules: RuleSet) -> Call:
        run = sc.run
        tally = self.meter.run(run.id)
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
        st = RunState(run.target, self._team(run.target))
        if seq > 1 and self.meter.run(run.id) is None:
            for u in await self.store.usage.llm_usage(run.workspace, run_id=run.id):
                self.meter.charge_run(run.id, *self._priced(u))
        root = run.root_id or run.id
        if root not in self.meter.trees and (seq > 1 or run.parent_id is not None):
            # what its tree spent so far, on any worker (a run's budget covers its tree)
            self.meter.open_tree(root)
            for u in await self.store.usage.llm_usage(run.workspace, root_id=root):
                self.meter.charge_tree(root, *self._priced(u))
        if len(self._runs) > 100_000:
            for k in list(self._runs)[:50_000]:
                del self._runs[k]
        self._runs[run.id] = st
        return st

    # --- approvals ------------------------------------------------------------------
    async def decide(
        self,
        approval_id: str,
        *,
        approve: bool,
        by: str,
        note: str | None = None,
        arguments: Any = None,
    ) -> Approval:
        a = await approvals_mod.decide(
            self.store, self.workspace, approval_id,
            approve=approve, by=by, note=note, arguments=arguments,
        )  # fmt: skip
        self.kernel._nudge.set()
        return a

    async def _approval_waker(self, run: RunRecord) -> bool:
        """After a park on an approval: decided meanwhile? Then go on."""
        ap = run.waiting_on
        a = await self.store.approvals.get(
            run.workspace, run.id, ap.seq if type(ap) is WaitApproval else -1
        )
        if a is None or a.status == "pending":
            return False
        return await self.kernel.store.requeue(run.workspace, run.id)

    async def _paused_waker(self, run: RunRecord) -> bool:
        """After a park on a kill switch: lifted meanwhile (read from the
        store, not this process's cached view)? Then go on."""
        w = run.waiting_on
        scope = w.scope if type(w) is WaitPaused else None
        if scope in await self.store.governance.switches(run.workspace):
            return False
        return await self.kernel.store.requeue(run.workspace, run.id)

    async def wake_answered(self) -> list[str]:
        """Sweep at start: parked runs whose approval was decided or whose
        switch was lifted while no worker could look (or a waker failed)."""
        store = self.kernel.store
        woke = []
        for r in await store.list_runs(
            RunFilter(self.workspace, statuses=[RunStatus.WAITING], limit=1_000_000)
        ):
            w = type(r.waiting_on)
            waker = (self._approval_waker if w is WaitApproval
                     else self._paused_waker if w is WaitPaused else None)  # fmt: skip
            if waker is not None and await waker(r):
                woke.append(r.id)
        if woke:
            self.kernel.nudge()
        return woke

    async def set_secret(self, name: str, value: str, actor: str) -> None:
        """Store a secret (when it is the audit key, it seals this record too)."""
        self._audit.learn(self.spec.audit, name, value)
        await self.vault.set(name, value, actor)

    async def may_decide(self, person: str) -> None:
        """Raise PermissionError unless ``person`` may answer for a run."""
        await approvals_mod.may_decide(self.store, self.workspace, person)

    async def escalate_due(self, now: float | None = None) -> list[Approval]:
        """Move overdue approvals up their chains; each move is announced on
        the bus (``approvals.escalated``) in its transaction."""
        return await escalation.escalate_due(self, now)

    async def hand_over(self) -> list[str]:
        """Start a decision run for each approval assigned to a supervisor agent."""
        return await escalation.hand_over(self)

    async def _escalation_loop(self) -> None:
        while True:
            await asyncio.sleep(self.spec.approvals.check_every)
            try:
                for a in await self.escalate_due():
                    log.warning("approval %s escalated to %s", a.id, a.assignee)
                await self.hand_over()
            except Exception as exc:  # a busy database: next time
                log.warning("escalating approvals failed: %s", exc)

    # --- kill switches --------------------------------------------------------------
    async def _refresh_switches(self) -> None:
        self._switch_next = time.monotonic() + self.switch_interval
        self._paused = await self.store.governance.switches(self.workspace)
        if self._tripping:
            self._paused.update(self._tripping)

    def _paused_scope(self, st: RunState) -> str | None:
        p = self._paused
        for scope in ("all", "agent:" + st.agent, f"team:{st.team}" if st.team else ""):
            if scope in p:
                return scope
        return None

    async def pause(self, scope: str, reason: str, actor: str) -> bool:
        """Pause a scope that exists (ValueError naming what does otherwise)."""
        self._check_exists(check_scope(scope))
        return await self._pause(scope, reason, actor)

    async def _pause(self, scope: str, reason: str, actor: str) -> bool:
        ok = await self.store.governance.set_switch(self.workspace, scope, True, reason, actor)
        await self._refresh_switches()
        return ok

    def _check_exists(self, scope: str) -> None:
        if scope == "all":
            return
        what, name = scope.split(":", 1)
        chart = self.chart
        known = sorted((chart.agents if what == "agent" else chart.teams) if chart else ())
        if name not in known:
            raise ValueError(
                f"no {what} named {name!r} to pause; {what}s: {', '.join(known) or 'none'}"
            )

    async def unpause(self, scope: str, actor: str) -> list[str]:
        """Lift a switch; runs parked by it are woken (they re-check). A pause
        the breaker set turns half-open instead: one trial run goes first."""
        reason = (await self.store.governance.switches(self.workspace)).get(check_scope(scope))
        if scope.startswith("agent:") and trial.tripped(reason):
            assert reason is not None
            await self.store.governance.replace_switch(
                self.workspace, scope, reason, trial.TRIAL, actor
            )
        else:
            await self.store.governance.set_switch(self.workspace, scope, False, "", actor)
        return await self.woke_by_lift()

    async def woke_by_lift(self) -> list[str]:
        """Wake the runs parked on switches (they re-check): after a lift."""
        await self._refresh_switches()
        woke = await wake_paused(self.kernel.store, self.workspace)
        self.kernel._nudge.set()
        return woke

    async def _trial(self, scope: str, run_id: str) -> bool:
        why = self._paused[scope]
        return why.startswith(trial.TRIAL) and await trial.admit(self, scope, why, run_id)

    # --- spend across worker processes ---------------------------------------------
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
        if not isinstance(ok, dict):
            return
        u = ok.get("usage") or {}
        tin, tout = int(u.get("input_tokens", 0)), int(u.get("output_tokens", 0))
        key, model = str(sc.request.get("model", "default")), str(ok.get("model", ""))
        cost = self.prices.cost(key, model, tin, tout)
        worker = self.kernel.worker_id
        agent = str(sc.request.get("agent") or sc.run.target)
        for op in reversed(sc.ops):
            if type(op) is Audit and op.action == "llm.allow" and op.seq == sc.seq:
                op.data.update(tokens=tin + tout, cost=cost, worker=worker)
                agent = op.actor.removeprefix("agent:")
                break
        sc.ops.append(Usage(sc.run.workspace, sc.run.id, sc.seq, agent, key, model, tin, tout,
                            cost, worker, time.time()))  # fmt: skip

    def _priced(self, u: LlmUsage) -> tuple[int, float]:
        """A recorded call's tokens and cost (at today's prices)."""
        tin, tout = u.input_tokens, u.output_tokens
        return tin + tout, self.prices.cost(u.model_key, u.model, tin, tout)

    async def _sync_spend(self) -> None:
        """Count what other workers spent today since the last look (this
        worker's own calls are charged as they end, by ``after``)."""
        self._spend_next = time.monotonic() + self.switch_interval
        now = time.time()
        me, today = self.kernel.worker_id, day_of(now)
        meter = self.meter
        meter.roll(now)
        for sp in await self.store.usage.spend_after(self.workspace, self._spend_seq):
            self._spend_seq = max(self._spend_seq, sp.seq)
            if sp.worker != me and day_of(sp.ts) == today:
                meter.charge_day(sp.agent, self._team(sp.agent), sp.tokens, sp.cost)

    # --- the after-hook -------------------------------------------------------------
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
            u = ok.get("usage") or {}
            tin, tout = int(u.get("input_tokens", 0)), int(u.get("output_tokens", 0))
            key = str(sc.request.get("model", "default"))
            cost = self.prices.cost(key, str(ok.get("model", "")), tin, tout)
            run = sc.run
            self.meter.charge(run.id, st.agent, st.team, tin + tout, cost, time.time(), run.root_id)
            self.limiter.spend(key, tin + tout)
            if cost and self.spec.breaker.max_cost is not None:
                self._breaker_note(st.agent, cost=cost)
        elif kind == "tool" and not result.ok and self.spec.breaker.max_errors is not None:
            self._breaker_note(st.agent, error=True)

    def _breaker_note(self, agent: str, *, cost: float = 0.0, error: bool = False) -> None:
        b = self.spec.breaker
        counts = self._breaker.setdefault(agent, WindowBreaker())
        now = time.monotonic()
        why = counts.note(
            now, b.window, b.max_errors, b.max_cost, self.spec.currency, cost=cost, error=error
        )
        if why is None or "agent:" + agent in self._paused:
            return
        counts.reset()
        log.error("agent %s paused by its %s", agent, why)
        scope = "agent:" + agent
        self._paused[scope] = self._tripping[scope] = why
        task = asyncio.get_running_loop().create_task(self._trip(scope, why))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _trip(self, scope: str, why: str) -> None:
        try:
            await self._pause(scope, why, "breaker")
        finally:
            self._tripping.pop(scope, None)


def check_scope(scope: str) -> str:
    if scope == "all" or (scope.startswith(("agent:", "team:")) and scope.split(":", 1)[1]):
        return scope
    raise ValueError(f"a switch scope is all, agent:NAME or team:NAME, not {scope!r}")


async def wake_paused(store: Any, workspace: str) -> list[str]:
    waiting = await store.list_runs(
        RunFilter(workspace, statuses=[RunStatus.WAITING], limit=1_000_000)
    )
    woke = []
    for r in waiting:
        if type(r.waiting_on) is WaitPaused and await store.requeue(workspace, r.id):
            woke.append(r.id)
    return woke
