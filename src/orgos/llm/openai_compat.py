"""OpenAI Chat Completions, and every server that speaks it (vLLM, llama.cpp,
Ollama, LM Studio, gateways). Always streams: the kernel wants tokens early
and a stream is the only way to see a stalled server before the timeout."""

from __future__ import annotations

import json
from typing import Any

import openai

from orgos.llm._common import emit, parse_tool_call, status_error, transport_error
from orgos.llm.base import (
    Message,
    ModelError,
    ModelRequest,
    ModelResponse,
    TokenSink,
    ToolCall,
    Usage,
)
from orgos.redact import redact_key


class OpenAICompatModel:
    """A model behind an OpenAI-compatible ``/chat/completions`` endpoint.

    The client never retries (``max_retries=0``): retries, backoff and
    timeouts belong to the kernel, which journals them.
    """

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float = 60,
        supports_json_schema: bool = True,
    ) -> None:
        self.model = model
        self.supports_json_schema = supports_json_schema
        if api_key is None and base_url is not None:
            api_key = "not-needed"  # local servers ignore the key
        try:
            self._client = openai.AsyncOpenAI(
                api_key=api_key, base_url=base_url, timeout=timeout, max_retries=0
            )
        except openai.OpenAIError as e:
            raise ModelError(f"cannot configure OpenAI client: {e}") from None
        self._secret = self._client.api_key if isinstance(self._client.api_key, str) else None
        self.base_url = str(self._client.base_url)
        self.timeout = timeout

    @property
    def name(self) -> str:
        return self.model

    async def aclose(self) -> None:
        """Close the HTTP connection pool."""
        await self._client.close()

    def build_params(self, request: ModelRequest) -> dict[str, Any]:
        """The keyword arguments for ``chat.completions.create`` (minus streaming)."""
        messages = [_message(m) for m in request.messages]
        params: dict[str, Any] = {"model": self.model, "messages": messages}
        if request.tools and request.tool_choice == "required":
            params["tool_choice"] = "required"
        if request.tools:
            params["tools"] = [
                {
                    "type": "function",
                    "function": {
                        "name": t.name,
                        "description": t.description,
                        "parameters": t.parameters or {"type": "object", "properties": {}},
                    },
                }
                for t in request.tools
            ]
        if request.output_schema is not None:
            if self.supports_json_schema:
                params["response_format"] = {
                    "type": "json_schema",
                    "json_schema": {
                        "name": "output",
                        "schema": request.output_schema,
                        "strict": False,
                    },
                }
            else:
                note = (
                    "When you give your final answer, reply with only a JSON document "
                    "valid against this JSON Schema:\n" + json.dumps(request.output_schema)
                )
                messages.append({"role": "system", "content": note})
        if request.temperature is not None:
            params["temperature"] = request.temperature
        if request.max_tokens is not None:
            params["max_tokens"] = request.max_tokens
        return params

    async def complete(
        self, request: ModelRequest, on_token: TokenSink | None = None
    ) -> ModelResponse:
        params = self.build_params(request)
        content: list[str] = []
        calls: dict[int, list[str]] = {}  # index -> [id, name, arguments...]
        usage = Usage()
        finish = "stop"
        model = self.model
        try:
            stream = await self._client.chat.completions.create(
                **params, stream=True, stream_options={"include_usage": True}
            )
            try:
                async for chunk in stream:
                    model = chunk.model or model
                    if chunk.usage is not None:
                        usage = Usage(chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
                    for choice in chunk.choices:
                        delta = choice.delta
                        if delta.content:
                            content.append(delta.content)
                            if on_token is not None:
                                await emit(on_token, delta.content)
                        for tc in delta.tool_calls or ():
                            slot = calls.setdefault(tc.index, ["", ""])
                            if tc.id:
                                slot[0] = tc.id
                            if tc.function is not None:
                                if tc.function.name:
                                    slot[1] += tc.function.name
                                if tc.function.arguments:
                                    slot.append(tc.function.arguments)
                        if choice.finish_reason:
                            finish = choice.finish_reason
            finally:
                await stream.close()
        except openai.APIStatusError as e:
            raise status_error(
                "openai", e.status_code, _error_text(e), e.response.headers, self._secret
            ) from None
        except openai.APITimeoutError:
            raise transport_error("openai", "request timed out", self._secret) from None
        except openai.APIConnectionError as e:
            raise transport_error("openai", f"connection failed: {e}", self._secret) from None
        except openai.APIError as e:  # an error event inside the stream
            raise transport_error("openai", f"stream failed: {e}", self._secret) from None
        except Exception as e:
            if type(e).__module__.split(".")[0] in ("httpx", "httpx2", "httpcore"):
                msg = f"transport failed: {type(e).__name__}: {e}"
                raise transport_error("openai", msg, self._secret) from None
            raise
        tool_calls = [
            parse_tool_call(s[0] or f"call_{i}", s[1], "".join(s[2:]))
            for i, s in sorted(calls.items())
        ]
        return ModelResponse(
            content="".join(content),
            tool_calls=tool_calls,
            usage=usage,
            model=model,
            finish_reason=finish,
        )

    def __repr__(self) -> str:
        url = redact_key(self.base_url, self._secret)
        return f"OpenAICompatModel({self.model!r}, base_url={url!r})"


def _error_text(e: openai.APIStatusError) -> str:
    body = e.body
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and isinstance(msg := err.get("message"), str):
            return msg
    return e.message


def _tool_call(c: ToolCall) -> dict[str, Any]:
    return {
        "id": c.id,
        "type": "function",
        "function": {"name": c.name, "arguments": json.dumps(c.arguments)},
    }


def _message(m: Message) -> dict[str, Any]:
    if m.role == "tool":
        return {"role": "tool", "tool_call_id": m.tool_call_id or "", "content": m.content}
    if m.role == "assistant" and m.tool_calls:
        return {
            "role": "assistant",
            "content": m.content or None,
            "tool_calls": [_tool_call(c) for c in m.tool_calls],
        }
    return {"role": m.role, "content": m.content}
