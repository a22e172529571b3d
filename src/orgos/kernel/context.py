"""RunContext: the only door a run has to the world.

A run's program is deterministic given its syscall results, so replaying the
journal rebuilds it: each syscall gets the next sequence number, and when the
journal already holds that number's result, the result is returned without
executing the effect again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from orgos.errors import NondeterminismError, PayloadError
from orgos.kernel.events import Event
from orgos.kernel.limits import LimitReached, view_of
from orgos.kernel.syscall import Park, Stopping, Syscall, Verdict
from orgos.llm.base import ModelError, ModelRequest, ModelResponse
from orgos.result import Result
from orgos.store.base import Append, Audit, JournalEntry, Op, RunRecord
from orgos.store.codec import encode, explain, prepare
from orgos.store.outcome import Ended, RunOutcome
from orgos.store.waiting import WaitDecision, Waiting, WaitRuns

if TYPE_CHECKING:
    from orgos.kernel.kernel import Kernel

Executor = Callable[[Syscall], Awaitable[Result]]
#: Given a result that cannot be stored, one that can (or None).
Repair = Callable[[Result], Result | None]
#: Given a result too large (its stored JSON, its size and the limit in
#: bytes), the payload to journal instead.
Shrink = Callable[[Result, str, int, int], Awaitable[dict[str, Any]]]


class RunContext:
    def __init__(self, kernel: Kernel, run: RunRecord, journal: list[JournalEntry]):
        self.kernel = kernel
        self.run = run
        self._seq = 0
        self._intents: dict[int, JournalEntry] = {}
        self._results: dict[int, Any] = {}
        #: Steps a person said to retry: each decision covers the one attempt
        #: before it, so an intent journaled after it (the retried attempt)
        #: takes the permission back; in doubt again, it asks again.
        self._retry: set[int] = set()
        #: Intents journaled per step, where more than one (retried attempts).
        self._attempts: dict[int, int] = {}
        tainted = run.tainted
        for e in journal:
            if e.phase == "intent":
                seq = e.seq
                if seq in self._intents:
                    self._attempts[seq] = self._attempts.get(seq, 1) + 1
                    self._retry.discard(seq)
                self._intents[seq] = e
            elif e.phase == "result":
                p = self._results[e.seq] = e.payload
                if not tainted and type(p) is dict and p.get("tainted"):
                    tainted = True
            elif e.phase == "decision" and (e.payload or {}).get("action") == "retry":
                self._retry.add(e.seq)
        # The journal is the truth of what the run has read: its taint is
        # rebuilt from it, whatever the run's row said when it was claimed.
        run.tainted = tainted
        #: Tools this run may call; set by the program (e.g. from the agent spec).
        self.allowed_tools: frozenset[str] | None = None
        self._events = kernel.events

    def replaying(self) -> bool:
        """Whether the next syscall's result is already in the journal (so
        its request need not be built in full)."""
        return self._seq + 1 in self._results

    @property
    def seq(self) -> int:
        """The sequence number of the last syscall issued."""
        return self._seq

    def emit(self, type_: str, data: dict[str, Any]) -> None:
        if self._events.active(self.run.root_id):
            self._events.publish(Event(self.run.id, self.run.root_id, type_, data))

    # --- the pipeline -----------------------------------------------------------
    async def syscall(
        self,
        kind: str,
        request: dict[str, Any],
        execute: Executor,
        *,
        idempotent: bool = True,
        repair: Repair | None = None,
        max_bytes: int | None = None,
        shrink: Shrink | None = None,
        parks: bool = False,
    ) -> Result:
        """Run one syscall through the pipeline and return its journaled result.

        ``execute`` returns the Result; it must not raise for failures the
        run should see. A denial by a before-hook comes back as a Result too
        (``denied``), for the caller to act on. ``repair`` makes a result
        that cannot be stored into one that can (else it becomes an error
        saying why); ``shrink`` makes one whose stored JSON is over
        ``max_bytes`` into one that is not. A result marked ``tainted`` (by
        the executor or a result hook) brings untrusted content: from then on
        the run is tainted. ``parks``: a wait, whose ``execute`` raises Park
        until it is ready; its intent is journaled with its result, not before."""
        self._seq += 1
        seq = self._seq
        done = self._results.get(seq)
        if done is not None:
            return self._replayed(seq, kind, done)
        sc = Syscall(self.run, seq, kind, request, idempotent)
        if seq in self._intents and not idempotent and seq not in self._retry:
            raise self._in_doubt(sc)  # in flight at a crash, not safe to repeat: ask a person
        kernel = self.kernel
        if kernel.stopping:
            raise Stopping(f"worker {kernel.worker_id} is stopping")
        for hook in kernel.pipeline.before[kind]:
            verdict = await hook(sc)
            if verdict is not None:
                return await self._stopped_by(sc, verdict)
        journal = kernel.journal
        run = self.run
        req = sc.request  # as a before-hook left it (an edit an approval made)
        pending = Append(JournalEntry(run.id, seq, "intent", kind, req, run.workspace,
                                      time.time()))  # fmt: skip
        try:
            pending.encoded = (encode(req),)  # as _intent, in this frame
        except PayloadError as exc:
            return await self._refuse(sc, exc)
        if parks:
            result = await execute(sc)
        elif idempotent:
            journal.defer(pending)  # written with the result, unless that is slow
            result = await execute(sc)
        else:
            result = await self._unrepeatable(pending, execute, sc)
        for rhook in kernel.pipeline.result:
            rhook(sc, result)
        if result.tainted:
            run.tainted = True
        head = (pending,) if parks or (idempotent and journal.undefer(pending)) else ()
        fut = self._commit(sc, result, head, max_bytes)
        if fut is None:  # to shrink or to repair: _finish works it out from the start
            return await self._finish(sc, result, *head, repair=repair, max_bytes=max_bytes,
                                      shrink=shrink)  # fmt: skip
        await fut
        self._after(sc, result)
        return result

    def _replayed(self, seq: int, kind: str, done: dict[str, Any]) -> Result:
        """The journaled result of a syscall already made (a replay)."""
        intent = self._intents.get(seq)
        if intent is not None and intent.kind != kind:
            raise NondeterminismError(
                f"run {self.run.id} step {seq}: journal has {intent.kind!r}, replay asked"
                f" for {kind!r}; the program or agent version changed under the run"
            )
        return Result.from_payload(done)

    def _in_doubt(self, sc: Syscall) -> Park:
        """The park of a call that was in flight when its worker died."""
        return Park(
            f"{sc.kind} call at step {sc.seq} was in flight when the worker died;"
            " it may or may not have taken effect",
            WaitDecision(sc.seq, sc.kind, sc.request, self._attempts.get(sc.seq, 1)),
        )

    async def _stopped_by(self, sc: Syscall, verdict: Verdict) -> Result:
        """A before-hook's verdict: park the run, or journal the denial as the result."""
        if verdict.action == "park":
            raise Park(verdict.reason, verdict.waiting_on)
        try:
            asked = self._intent(sc)
        except PayloadError as exc:
            return await self._refuse(sc, exc)
        return await self._finish(sc, Result.deny(verdict.reason), asked)

    def _commit(
        self, sc: Syscall, result: Result, head: tuple[Append, ...], max_bytes: int | None
    ) -> asyncio.Future[None] | None:
        """Submit the result as it is (the common case); None when it must
        be shrunk (over ``max_bytes``) or repaired (not storable) first."""
        run = self.run
        done = Append(JournalEntry(run.id, sc.seq, "result", sc.kind, result.to_payload(),
                                   run.workspace, time.time()))  # fmt: skip
        try:
            text = encode(done.entry.payload)
            done.encoded = (text,)
            if max_bytes is not None and len(text or "") * 4 > max_bytes:
                return None
            return self.kernel.journal.submit(*head, done, *sc.ops)
        except PayloadError:
            return None

    def _intent(self, sc: Syscall) -> Append:
        """The syscall's intent, encoded; PayloadError if its request cannot be stored."""
        run = self.run
        op = Append(JournalEntry(run.id, sc.seq, "intent", sc.kind, sc.request, run.workspace,
                                 time.time()))  # fmt: skip
        op.encoded = (encode(sc.request),)
        return op

    async def _refuse(self, sc: Syscall, exc: PayloadError) -> Result:
        """A request that cannot be stored is not executed: the caller gets
        an error saying why, and the journal a placeholder for the request."""
        run = self.run
        why = {"refused": str(exc)}
        intent = Append(JournalEntry(run.id, sc.seq, "intent", sc.kind, why, run.workspace,
                                     time.time()))  # fmt: skip
        sc.ops.clear()
        refused = Result.fail(f"{sc.kind} request refused: {exc}", code="bad_payload")
        return await self._finish(sc, refused, intent)

    async def _finish(
        self,
        sc: Syscall,
        result: Result,
        *head: Append,
        repair: Repair | None = None,
        max_bytes: int | None = None,
        shrink: Shrink | None = None,
    ) -> Result:
        """Journal the result (after ``head``) with the syscall's ops, then
        the after-hooks. A result that cannot be stored becomes an error
        naming why, in this run alone; the batch other runs share never sees it."""
        run = self.run
        journal = self.kernel.journal
        done = Append(JournalEntry(run.id, sc.seq, "result", sc.kind, result.to_payload(),
                                   run.workspace, time.time()))  # fmt: skip
        try:
            if max_bytes is not None and shrink is not None:
                text = prepare(done)[0]
                # a character is 1 to 4 bytes: count them only when it may matter
                if len(text) * 4 > max_bytes and (size := len(text.encode())) > max_bytes:
                    payload = await shrink(result, text, size, max_bytes)
                    if result.tainted:  # cut, it still came from where it came from
                        payload["tainted"] = True
                    result = Result.from_payload(payload)
                    done = Append(JournalEntry(run.id, sc.seq, "result", sc.kind, payload,
                                               run.workspace, time.time()))  # fmt: skip
            fut = journal.submit(*head, done, *sc.ops)
        except PayloadError as exc:
            fixed = repair(result) if repair is not None else None
            tainted = result.tainted
            result = fixed or Result.fail(f"{sc.kind} result refused: {exc}", code="bad_payload")
            if tainted:  # what it said was refused, not where it came from
                result.tainted = True
            done = Append(JournalEntry(run.id, sc.seq, "result", sc.kind, result.to_payload(),
                                       run.workspace, time.time()))  # fmt: skip
            sc.ops[:] = [op for op in sc.ops if type(op) is Audit and _storable(op)]
            fut = journal.submit(*head, done, *sc.ops)
        await fut
        self._after(sc, result)
        return result

    async def _unrepeatable(self, pending: Append, execute: Executor, sc: Syscall) -> Result:
        """The intent, durable before the effect; then the effect. A worker
        that stops cleanly meanwhile lets it finish rather than leave it in
        doubt (``Kernel.stop``)."""
        kernel = self.kernel
        kernel.in_effect.add(self.run.id)
        try:
            await kernel.journal.submit(pending)
            return await execute(sc)
        finally:
            kernel.in_effect.discard(self.run.id)

    def _after(self, sc: Syscall, result: Result) -> None:
        for hook in self.kernel.pipeline.after:
            hook(sc, result)
        if self._events.active(self.run.root_id):
            self.emit("syscall", {"seq": sc.seq, "kind": sc.kind, "request": sc.request,
                                  "result": result.to_payload()})  # fmt: skip

    # --- syscalls ---------------------------------------------------------------
    async def llm(
        self, request: ModelRequest, model: str | None = None, *, agent: str | None = None
    ) -> ModelResponse:
        """Ask a model. Retries, timeouts and fallbacks happen inside; tokens
        stream to watchers; only the complete response is journaled. This is
        the one way to a model: services call it within a run. ``agent``: the
        agent the call is made for, when not the run's own (a supervisor
        choosing for a workflow); policy and budgets see that agent."""
        kernel = self.kernel
        name = model or "default"
        live: list[ModelResponse] = []

        async def execute(sc: Syscall) -> Result:
            # A failure (after retries) is not journaled as the result: the run
            # fails, and a resumed run asks the model again.
            on_token = self._on_token if self._events.active(self.run.root_id) else None
            resp = await kernel.complete(name, request, on_token)
            live.append(resp)
            sent.append(reply := Result.of(resp.to_dict()))
            return reply

        req: dict[str, Any] = {
            "model": name,
            "messages": len(request.messages),
            "tools": [t.name for t in request.tools],
        }
        if agent is not None:
            req["agent"] = agent
        sent: list[Result] = []
        result = await self.syscall(
            "llm", req, execute, repair=_repair_reply,
            max_bytes=kernel.limits.answer_bytes, shrink=_too_large_reply,
        )  # fmt: skip
        if not result.ok:
            raise ModelError(str(result.error))
        if live and result is sent[0]:
            return live[0]
        return ModelResponse.from_dict(result.value)

    async def _on_token(self, text: str) -> None:
        self.emit("token", {"text": text})

    async def tool(self, name: str, arguments: dict[str, Any]) -> Result:
        """Call a tool by name. Unknown, disallowed, invalid or failing calls
        come back as error results for the model to read. A call is checked
        before policy sees it: one that cannot run is refused (``refused`` in
        its request), so it never asks for an approval."""
        tool = self.kernel.tools.get(name)
        problem: str | None = None
        kwargs: dict[str, Any] | None = None
        if tool is None or self._seq + 1 not in self._results:  # not replaying
            problem, kwargs = self._check_tool(name, arguments)
        if problem is not None or tool is None:
            err = str(problem)

            async def refuse(sc: Syscall) -> Result:
                return Result.fail(err, code="no_tool")

            req = {"tool": name, "arguments": arguments, "refused": err}
            return await self.syscall("tool", req, refuse)

        kernel = self.kernel

        def execute(sc: Syscall) -> Awaitable[Result]:
            key = f"{self.run.id}:{sc.seq}"
            args = sc.request["arguments"]  # a hook may have edited them (an approval)
            valid = kwargs if args is arguments else None
            return tool.invoke(
                args, key, timer=kernel.deadlines.timeout, secrets=kernel.secrets, valid=valid,
                scrub=kernel.scrubber, threads=kernel.threads,
            )  # fmt: skip

        return await self.syscall(
            "tool",
            {"tool": name, "arguments": arguments},
            execute,
            idempotent=tool.safe_to_retry,
            max_bytes=kernel.limits.tool_result_bytes,
            shrink=self._too_large_result,
        )

    def tool_problem(self, name: str, arguments: dict[str, Any]) -> str | None:
        """Why this tool call cannot run (unknown, not allowed, invalid
        arguments), or None: what ``tool`` would refuse."""
        return self._check_tool(name, arguments)[0]

    def _check_tool(
        self, name: str, arguments: dict[str, Any]
    ) -> tuple[str | None, dict[str, Any] | None]:
        tool = self.kernel.tools.get(name)
        allowed = self.allowed_tools
        if tool is None or (allowed is not None and name not in allowed):
            why = "does not exist" if tool is None else "is not allowed for this agent"
            names = sorted(allowed) if allowed is not None else sorted(self.kernel.tools)
            return f"tool {name!r} {why}; available tools: {', '.join(names) or 'none'}", None
        try:
            return None, tool.validate(arguments)
        except ValueError as exc:
            return str(exc), None

    async def _too_large_result(
        self, result: Result, text: str, size: int, limit: int
    ) -> dict[str, Any]:
        """A tool result too large for the model and the journal: kept whole
        in a blob (when the runtime has a blob store), and the model reads its
        beginning with a note saying so; ``full`` in the journaled payload
        names the blob."""
        kernel = self.kernel
        blob = await kernel.blobs.put(text.encode()) if kernel.blobs is not None else None
        kept = f"kept whole in blob {blob}" if blob else "not kept (no blob store)"
        note = (f"\n[cut: this result is {size:,} bytes, over the limit of {limit:,}"
                f" (limits.tool_result_bytes); the whole result is {kept}]")  # fmt: skip
        view = view_of(result.value if result.ok else result.error, text,
                       limit - len(note) - 100)  # fmt: skip
        cut = Result.of(view + note) if result.ok else Result.fail(view + note, code=result.code)
        return {**cut.to_payload(), "full": {"blob": blob, "bytes": size}}

    async def spawn(
        self, children: list[tuple[str, str, Any]], *, tainted: list[bool] | None = None
    ) -> Result:
        """Start child runs, each ``(kind, target, input)``. The Result's value
        is their ids; a denial (policy, a limit) comes back for the caller to
        act on. The children are created in the same commit as the result.
        A child starts with this run's taint, unless ``tainted`` says, child
        by child, whether what it is given holds untrusted content (a program
        that knows where each child's input comes from: the workflow engine)."""
        kernel = self.kernel
        ids: list[str] = []
        taints = tainted if tainted is not None else [self.run.tainted] * len(children)

        async def execute(sc: Syscall) -> Result:
            try:
                for (kind, target, inp), t in zip(children, taints, strict=True):
                    rec = await kernel.new_run(
                        kind, target, inp, self.run.workspace, parent=self.run
                    )
                    rec.tainted = t
                    sc.ops.extend(kernel.insert_ops(rec))
                    ids.append(rec.id)
            except LimitReached as exc:  # none of them is made
                sc.ops.clear()
                return Result.fail(str(exc), code="limit")
            return Result.of(ids)

        req = {"children": [{"kind": k, "target": t, "input": i, **({"tainted": True} if x else {})}
                            for (k, t, i), x in zip(children, taints, strict=True)]}  # fmt: skip
        result = await self.syscall("delegate", req, execute)
        if result.ok:
            kernel.start_local(result.value)
        else:
            kernel.unreserve(ids)  # not created: denied, refused, or their records were
        return result

    async def wait_until(
        self,
        kind: str,
        request: dict[str, Any],
        ready: Callable[[], Awaitable[Result | None]],
        waiting_on: Callable[[int], Waiting],
        park: Callable[[], Awaitable[None]] | None = None,
    ) -> Result:
        """A parked wait (for an event, say) that services build on: a
        syscall like the others (the before-hooks see it). ``ready`` returns
        the result once there is one; until then ``park`` records what will
        wake the run and the run leaves memory, parked on ``waiting_on(seq)``
        (``seq``: the wait's step). Woken, it replays to here and asks
        ``ready`` again. Returns the journaled result."""

        async def execute(sc: Syscall) -> Result:
            result = await ready()
            if result is None:
                if park is not None:
                    await park()
                raise Park(f"waiting: {kind}", waiting_on(sc.seq))
            return result

        return await self.syscall(kind, request, execute, parks=True)

    async def wait_runs(self, run_ids: list[str]) -> list[RunOutcome]:
        """Wait for child runs to end. While they work this run is parked:
        no task, no memory; their end wakes it and it replays to here. A
        denial by a before-hook raises (``Denied``)."""
        kernel = self.kernel
        live: list[list[RunOutcome]] = []

        async def execute(sc: Syscall) -> Result:
            outcomes = await kernel.run_outcomes(self.run.workspace, run_ids)
            if outcomes is None:
                raise Park("waiting for child runs", WaitRuns(tuple(run_ids), sc.seq))
            live.append(outcomes)
            return _carried([o.to_dict() for o in outcomes], outcomes)

        value = (await self.syscall("wait", {"runs": run_ids}, execute, parks=True)).unwrap()
        return live[0] if live else [RunOutcome.from_dict(d) for d in value]

    async def wait_any(self, run_ids: list[str], *, until: float | None = None) -> Ended:
        """Wait until at least one of these child runs has ended, or the clock
        passes ``until``. Returns every one of them that has ended by then,
        and the time then. Parked meanwhile, like ``wait_runs``; a timer or
        the first child's end wakes it."""
        kernel = self.kernel
        live: list[Ended] = []

        async def execute(sc: Syscall) -> Result:
            ended = await kernel.ended_children(self.run, run_ids)
            now = time.time()
            if not ended and (until is None or now < until):
                raise Park("waiting for child runs", WaitRuns(tuple(run_ids), sc.seq, True, until))
            live.append(Ended(ended, now))
            return _carried({"ended": [o.to_dict() for o in ended], "now": now}, ended)

        req = {"runs": len(run_ids), "any": True}
        value = (await self.syscall("wait", req, execute, parks=True)).unwrap()
        if live:
            return live[0]
        return Ended([RunOutcome.from_dict(d) for d in value["ended"]], float(value["now"]))

    async def now(self) -> float:
        """The time, journaled: a replay sees the time the run first saw."""

        async def execute(sc: Syscall) -> Result:
            return Result.of(time.time())

        return float((await self.syscall("clock", {}, execute)).unwrap())

    async def cancel_runs(self, run_ids: list[str]) -> None:
        """Cancel child runs (and their descendants)."""
        kernel = self.kernel

        async def execute(sc: Syscall) -> Result:
            for rid in run_ids:
                await kernel.cancel(rid, self.run.workspace)
            return Result.of(len(run_ids))

        (await self.syscall("cancel", {"runs": run_ids}, execute)).unwrap()


def _carried(value: Any, outcomes: list[RunOutcome]) -> Result:
    """The result of a wait: children's outcomes carry their taint to the
    run that reads them."""
    return Result.of(value, tainted=any(o.tainted for o in outcomes))


def _storable(op: Op) -> bool:
    try:
        prepare(op)
    except PayloadError:
        return False
    return True


def _repair_reply(result: Result) -> Result | None:
    """A model reply that cannot be stored because of its tool calls'
    arguments keeps those calls with an ``arguments_error`` instead: the
    model is told, as for arguments that are not JSON, and may try again."""
    reply = result.value
    if not isinstance(reply, dict) or not reply.get("tool_calls"):
        return None
    calls = []
    for c in reply["tool_calls"]:
        why = explain(c.get("arguments"))
        calls.append(c if why is None else {**c, "arguments": {}, "arguments_error": why})
    fixed = {**reply, "tool_calls": calls}
    return Result.of(fixed) if explain(fixed) is None else None


async def _too_large_reply(result: Result, text: str, size: int, limit: int) -> dict[str, Any]:
    why = f"model answer of {size:,} bytes is over the limit of {limit:,} (limits.answer_bytes)"
    return Result.fail(why, code="limit").to_payload()
