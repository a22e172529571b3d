"""The approval gate of the pipeline: a call a rule sends to a person parks
until it is decided; then it runs, is denied, or, edited, is a new call that
goes through the pipeline again: validated against the tool's schema, judged
by the rules (a deny denies it; another rule's approval asks again, reopening
the same approval under that rule), and only then run."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from orgos.ids import new_id
from orgos.kernel.syscall import Syscall, Verdict
from orgos.policy import approvals as approvals_mod
from orgos.store.records import Approval
from orgos.store.waiting import WaitApproval

if TYPE_CHECKING:
    from orgos.policy.governance import Governance, RunState


class ApprovalGate:
    def __init__(self, gov: Governance):
        self.gov = gov

    async def approval(
        self, sc: Syscall, st: RunState, rule: str | None, reason: str, approver: str | None
    ) -> Verdict | None:
        gov = self.gov
        run = sc.run
        a = await gov.store.approvals.get(run.workspace, run.id, sc.seq)
        if a is None:
            a = await self._ask(sc, st, sc.request, rule, reason, approver)
        if a.status == "pending":
            return self._waiting(sc, a)
        if a.status == "denied":
            note = f": {a.note}" if a.note else ""
            return Verdict.deny(f"{a.decided_by} denied this call{note}")
        if sc.kind == "review":
            sc.request["decided_by"] = a.decided_by
            if isinstance(a.arguments, dict) and "answer" in a.arguments:  # corrected by them
                sc.request["answer"] = a.arguments["answer"]
            return None
        if sc.kind != "tool":
            return None
        edited = approvals_mod.approved_arguments(a)
        if edited is None or edited == sc.request.get("arguments"):
            return None
        sc.request["arguments"] = edited
        return await self._recheck(sc, st, a)

    async def _recheck(self, sc: Syscall, st: RunState, a: Approval) -> Verdict | None:
        """Edited arguments make a new call: it is validated and judged by the
        rules again; a rule other than the one just approved asks again."""
        gov = self.gov
        name = sc.request.get("tool")
        tool = gov.kernel.tools.get(name) if isinstance(name, str) else None
        if tool is not None:
            try:
                tool.validate(sc.request["arguments"])
            except ValueError as exc:
                return Verdict.deny(f"the edited arguments are not valid: {exc}")
        rules = gov._rules
        d = rules.decide(gov._call(sc, st, name, rules))
        if d.action == "deny":
            return Verdict.deny(f"the call as edited by {a.decided_by} is refused: {d.reason}")
        if d.action == "allow" or d.rule == a.rule:
            return None
        await self._ask(sc, st, sc.request, d.rule, d.reason, d.approver, again=a)
        return await self.approval(sc, st, d.rule, d.reason, d.approver)

    async def _ask(
        self,
        sc: Syscall,
        st: RunState,
        call: dict[str, Any],
        rule: str | None,
        reason: str,
        approver: str | None,
        again: Approval | None = None,
    ) -> Approval:
        """Request an approval for this call (or, ``again``, reopen an approved
        one for its edited call under another rule)."""
        gov = self.gov
        run = sc.run
        spec = gov.spec.approvals
        chain = approvals_mod.chain_for(approver or spec.approver, st.agent, gov.chart)
        now = time.time()
        request: dict[str, Any] = {"call": dict(call), "chain": chain}
        if again is not None:
            previous = list((again.request or {}).get("approved") or [])
            previous.append({"by": again.decided_by, "rule": again.rule,
                             "arguments": call.get("arguments")})  # fmt: skip
            request["approved"] = previous
        a = Approval(
            again.id if again is not None else new_id("ap-"), run.workspace, run.id, sc.seq,
            st.agent, sc.kind, request, rule, reason, "pending", chain[0], 0,
            now + spec.timeout if len(chain) > 1 else None, now,
        )  # fmt: skip
        if again is None:
            a = await gov.store.approvals.create(a)
        elif not await gov.store.approvals.reopen(a):
            found = await gov.store.approvals.get(run.workspace, run.id, sc.seq)
            assert found is not None
            return found
        if a.status == "pending":
            gov.approvals.requested.put_nowait(a)
        return a

    def _waiting(self, sc: Syscall, a: Approval) -> Verdict:
        call = (a.request or {}).get("call") or sc.request  # the call as it will run
        return Verdict.park(
            f"waiting for approval {a.id}: {a.reason}",
            WaitApproval(a.id, sc.seq, sc.kind, call, a.reason, a.assignee),
        )  # fmt: skip
