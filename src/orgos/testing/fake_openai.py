"""A real HTTP server that speaks the OpenAI Chat Completions API and the
Anthropic Messages API, answering from a script. It lets tests drive the
real SDK clients (streaming, retries, timeouts, errors) without a network.

Needs ``starlette`` and ``uvicorn`` (test-only dependencies); nothing else in
orgos imports this module.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import socket
import threading
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from orgos.llm.base import ModelResponse
from orgos.testing import _wire
from orgos.testing._wire import RawToolCall

__all__ = ["FakeOpenAIServer", "FakeResponder", "RawToolCall", "RecordedRequest", "ScriptItem"]

ScriptItem = ModelResponse | str
#: Computes the answer from the parsed JSON body of a request (either API).
FakeResponder = Callable[[dict[str, Any]], ScriptItem | Awaitable[ScriptItem]]


@dataclass(slots=True)
class RecordedRequest:
    api: Literal["openai", "anthropic"]
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass(slots=True)
class _Fault:
    kind: Literal["status", "hang", "drop"]
    times: int
    status: int = 500
    retry_after: float | None = None
    message: str = ""
    mid_stream: bool = False


class _Drop(Exception):
    """Raised inside a streaming body to cut the connection."""


@dataclass(slots=True)
class _State:
    script: deque[ScriptItem] = field(default_factory=deque)
    faults: deque[_Fault] = field(default_factory=deque)


class FakeOpenAIServer:
    """Serves ``POST /v1/chat/completions`` and ``POST /v1/messages`` on
    127.0.0.1 (a free port) from a background thread.

    ``script`` is a list of answers (``ModelResponse`` or a final-answer
    string) consumed in order by both APIs, or a callable taking the parsed
    request body. ``latency`` seconds pass before every answer; ``chunk_delay``
    between streamed chunks. Faults queued with ``fail_next``, ``hang_next``
    and ``drop_next`` apply to the next requests, before the script.
    """

    def __init__(
        self,
        script: Iterable[ScriptItem] | FakeResponder | None = None,
        *,
        latency: float = 0.0,
        chunk_delay: float = 0.0,
        model: str = "fake-model",
        startup_timeout: float = 10.0,
        embed: Callable[[str], list[float]] | None = None,
    ) -> None:
        self._responder: FakeResponder | None = None
        self._state = _State()
        if callable(script):
            self._responder = script
        elif script is not None:
            self._state.script.extend(script)
        self.latency = latency
        self.chunk_delay = chunk_delay
        self.model = model
        self.startup_timeout = startup_timeout
        #: Answers ``POST /v1/embeddings``: a text's vector (default: hashed words).
        self.embed = embed or hashed_words
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._port = 0
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._server: uvicorn.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._release: asyncio.Event | None = None

    # -- configuration --------------------------------------------------------

    @property
    def port(self) -> int:
        return self._port

    @property
    def base_url(self) -> str:
        """For OpenAI clients: ``http://127.0.0.1:PORT/v1``."""
        return f"http://127.0.0.1:{self._port}/v1"

    @property
    def anthropic_base_url(self) -> str:
        """For Anthropic clients, which add ``/v1/messages`` themselves."""
        return f"http://127.0.0.1:{self._port}"

    def add(self, *items: ScriptItem) -> None:
        """Append answers to the script."""
        with self._lock:
            self._state.script.extend(items)

    def fail_next(
        self,
        status: int = 500,
        *,
        times: int = 1,
        retry_after: float | None = None,
        message: str | None = None,
    ) -> None:
        """Answer the next ``times`` requests with an HTTP error."""
        msg = message if message is not None else f"injected failure (HTTP {status})"
        self._add_fault(_Fault("status", times, status, retry_after, msg))

    def hang_next(self, *, times: int = 1, mid_stream: bool = False) -> None:
        """Never answer the next requests (until the server stops); with
        ``mid_stream``, stall after the first streamed chunk."""
        self._add_fault(_Fault("hang", times, mid_stream=mid_stream))

    def drop_next(self, *, times: int = 1) -> None:
        """Cut the connection after the first streamed chunk."""
        self._add_fault(_Fault("drop", times, mid_stream=True))

    def _add_fault(self, fault: _Fault) -> None:
        with self._lock:
            self._state.faults.append(fault)

    def _take_fault(self) -> _Fault | None:
        with self._lock:
            faults = self._state.faults
            if not faults:
                return None
            fault = faults[0]
            fault.times -= 1
            if fault.times <= 0:
                faults.popleft()
            return fault

    async def _answer(self, body: dict[str, Any]) -> ModelResponse | None:
        with self._lock:
            item = self._state.script.popleft() if self._state.script else None
        if item is None and self._responder is not None:
            result = self._responder(body)
            item = await result if inspect.isawaitable(result) else result
        if isinstance(item, str):
            return ModelResponse(content=item)
        return item

    # -- lifecycle ------------------------------------------------------------

    def start(self) -> FakeOpenAIServer:
        if self._thread is not None:
            raise RuntimeError("FakeOpenAIServer already started")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        self._port = sock.getsockname()[1]
        app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._openai, methods=["POST"]),
                Route("/v1/messages", self._anthropic, methods=["POST"]),
                Route("/v1/embeddings", self._embeddings, methods=["POST"]),
            ],
            lifespan=self._lifespan,
        )
        config = uvicorn.Config(
            app, log_level="critical", access_log=False, timeout_graceful_shutdown=2
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._run, args=(sock,), name=f"fake-openai-{self._port}", daemon=True
        )
        self._thread.start()
        if not self._ready.wait(self.startup_timeout) or self._loop is None:
            self.stop()
            raise RuntimeError(f"FakeOpenAIServer did not start within {self.startup_timeout}s")
        return self

    def stop(self, timeout: float = 10.0) -> None:
        server, thread, loop, release = self._server, self._thread, self._loop, self._release
        if server is None or thread is None:
            return
        server.should_exit = True
        if loop is not None and release is not None:
            with contextlib.suppress(RuntimeError):  # loop already closed
                loop.call_soon_threadsafe(release.set)
        thread.join(timeout)
        self._server = self._thread = None
        if thread.is_alive():
            raise RuntimeError(f"FakeOpenAIServer did not stop within {timeout}s")

    def _run(self, sock: socket.socket) -> None:
        try:
            asyncio.run(self._serve(sock))
        finally:
            self._ready.set()  # unblock start() if serving failed early
            sock.close()

    async def _serve(self, sock: socket.socket) -> None:
        assert self._server is not None
        await self._server.serve(sockets=[sock])

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        self._release = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._ready.set()
        yield

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    async def __aenter__(self) -> FakeOpenAIServer:
        return await asyncio.to_thread(self.start)

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await asyncio.to_thread(self.stop)

    # -- HTTP -----------------------------------------------------------------

    async def _prelude(
        self, api: Literal["openai", "anthropic"], request: Request
    ) -> tuple[dict[str, Any], _Fault | None, Response | None]:
        """Record the request, apply latency and faults; a Response ends it early."""
        body = await request.json()
        headers = dict(request.headers)
        self.requests.append(RecordedRequest(api, request.url.path, headers, body))
        fault = self._take_fault()
        if self.latency > 0:
            await asyncio.sleep(self.latency)
        if fault is not None and fault.kind == "status":
            return body, fault, _wire.error(api, fault.status, fault.message, fault.retry_after)
        if fault is not None and fault.kind == "hang" and not fault.mid_stream:
            await self._hang()
            return body, fault, _wire.error(api, 503, "server stopped while hanging", None)
        return body, fault, None

    async def _hang(self) -> None:
        assert self._release is not None
        await self._release.wait()

    async def _sse(self, events: list[str], fault: _Fault | None) -> AsyncIterator[str]:
        for i, event in enumerate(events):
            if i == 1 and fault is not None:
                if fault.kind == "drop":
                    raise _Drop("connection dropped on purpose")
                await self._hang()
                return
            if i and self.chunk_delay > 0:
                await asyncio.sleep(self.chunk_delay)
            yield event

    async def _openai(self, request: Request) -> Response:
        body, fault, early = await self._prelude("openai", request)
        if early is not None:
            return early
        answer = await self._answer(body)
        if answer is None:
            return _wire.error("openai", 400, "FakeOpenAIServer: the script ran out", None)
        usage = _wire.usage(body, answer)
        if not body.get("stream"):
            return JSONResponse(_wire.openai_completion(answer, self.model, usage))
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        events = [
            f"data: {json.dumps(c)}\n\n"
            for c in _wire.openai_chunks(answer, self.model, usage if include_usage else None)
        ]
        events.append("data: [DONE]\n\n")
        return StreamingResponse(self._sse(events, fault), media_type="text/event-stream")

    async def _embeddings(self, request: Request) -> Response:
        body = await request.json()
        texts = body.get("input")
        texts = [texts] if isinstance(texts, str) else list(texts or [])
        data = [{"object": "embedding", "index": i, "embedding": self.embed(t)}
                for i, t in enumerate(texts)]  # fmt: skip
        n = sum(len(t.split()) for t in texts)
        return JSONResponse({"object": "list", "data": data, "model": body.get("model", ""),
                             "usage": {"prompt_tokens": n, "total_tokens": n}})  # fmt: skip

    async def _anthropic(self, request: Request) -> Response:
        body, fault, early = await self._prelude("anthropic", request)
        if early is not None:
            return early
        answer = await self._answer(body)
        if answer is None:
            return _wire.error("anthropic", 400, "FakeOpenAIServer: the script ran out", None)
        usage = _wire.usage(body, answer)
        if not body.get("stream"):
            return JSONResponse(_wire.anthropic_message(answer, self.model, usage))
        events = [
            f"event: {e['type']}\ndata: {json.dumps(e)}\n\n"
            for e in _wire.anthropic_events(answer, self.model, usage)
        ]
        return StreamingResponse(self._sse(events, fault), media_type="text/event-stream")


def hashed_words(text: str, dim: int = 256) -> list[float]:
    """A deterministic stand-in embedding: words hashed into ``dim`` buckets."""
    import hashlib

    v = [0.0] * dim
    for w in text.lower().split():
        w = w.strip(".,;:!?()'\"")
        if w:
            v[int.from_bytes(hashlib.blake2b(w.encode(), digest_size=4).digest(), "big") % dim] += 1
    return v
