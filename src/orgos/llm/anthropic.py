"""Anthropic's Messages API. Streams raw events (``stream=True``) rather than
the SDK's helper, so tool input JSON is ours to parse and a malformed one
becomes ``arguments_error`` instead of an exception."""

from __future__ import annotations

import json
from typing import Any

import anthropic

from orgos.llm._common import emit, parse_tool_call, status_error, transport_error
from orgos.llm.base import Message, ModelError, ModelRequest, ModelResponse, TokenSink, Usage

_STOP_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "tool_use": "tool_calls",
    "max_tokens": "length",
}


class AnthropicModel:
    """A Claude model. System messages become ``system``; tool calls and
    results become ``tool_use`` / ``tool_result`` blocks. The client never
    retries: the kernel does."""

    def __init__(
        self,
        model: str,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float = 60,
        max_tokens: int = 1024,
    ) -> None:
        self.model = model
        self.max_tokens = max_tokens
        if base_url is not None:
            # The SDK appends /v1/messages itself; accept URLs that end in /v1 too.
            base_url = base_url.rstrip("/").removesuffix("/v1")
        try:
            self._client = anthropic.AsyncAnthropic(
                api_key=api_key, base_url=base_url, timeout=timeout, max_retries=0
            )
        except anthropic.AnthropicError as e:
            raise ModelError(f"cannot configure Anthropic client: {e}") from None
        self._secret = api_key if api_key is not None else self._client.api_key
        self.base_url = str(self._client.base_url)
        self.timeout = timeout

    @property
    def name(self) -> str:
        return self.model

    async def aclose(self) -> None:
        """Close the HTTP connection pool."""
        await self._client.close()

    def build_params(self, request: ModelRequest) -> dict[str, Any]:
        """The keyword arguments for ``messages.create`` (minus streaming)."""
        system = [m.content for m in request.messages if m.role == "system" and m.content]
        if request.output_schema is not None:
            system.append(
                "When you give your final answer, reply with only a JSON document "
                "valid against this JSON Schema:\n" + json.dumps(request.output_schema)
            )
        params: dict[str, Any] = {
            "model": self.model,
            "messages": _messages(request.messages),
            "max_tokens": request.max_tokens or self.max_tokens,
        }
        if system:
            params["system"] = "\n\n".join(system)
        if request.tools and request.tool_choice == "required":
            params["tool_choice"] = {"type": "any"}
        if request.tools:
            params["tools"] = [
                {
                    "name": t.name,
                    "description": t.description,
                    "input_schema": t.parameters or {"type": "object", "properties": {}},
                }
                for t in request.tools
            ]
        if request.temperature is not None:
            # Sent raw: some SDK versions no longer accept it as an argument.
            params["extra_body"] = {"temperature": request.temperature}
        return params

    async def complete(
        self, request: ModelRequest, on_token: TokenSink | None = None
    ) -> ModelResponse:
        params = self.build_params(request)
        content: list[str] = []
        blocks: dict[int, list[str]] = {}  # index -> [id, name, partial json...]
        usage = Usage()
        finish = "stop"
        model = self.model
        try:
            stream = await self._client.messages.create(**params, stream=True)
            try:
                async for event in stream:
                    if event.type == "message_start":
                        model = event.message.model or model
                        usage.input_tokens = event.message.usage.input_tokens or 0
                        usage.output_tokens = event.message.usage.output_tokens or 0
                    elif event.type == "content_block_start":
                        block = event.content_block
                        if block.type == "tool_use":
                            blocks[event.index] = [block.id, block.name]
                        elif block.type == "text" and block.text:
                            content.append(block.text)
                            if on_token is not None:
                                await emit(on_token, block.text)
                    elif event.type == "content_block_delta":
                        delta = event.delta
                        if delta.type == "text_delta":
                            content.append(delta.text)
                            if on_token is not None:
                                await emit(on_token, delta.text)
                        elif delta.type == "input_json_delta" and event.index in blocks:
                            blocks[event.index].append(delta.partial_json)
                    elif event.type == "message_delta":
                        if event.delta.stop_reason:
                            reason = event.delta.stop_reason
                            finish = _STOP_REASONS.get(reason, reason)
                        usage.output_tokens = event.usage.output_tokens
                        if event.usage.input_tokens:
                            usage.input_tokens = event.usage.input_tokens
            finally:
                await stream.close()
        except anthropic.APIStatusError as e:
            raise status_error(
                "anthropic", e.status_code, _error_text(e), e.response.headers, self._secret
            ) from None
        except anthropic.APITimeoutError:
            raise transport_error("anthropic", "request timed out", self._secret) from None
        except anthropic.APIConnectionError as e:
            msg = f"connection failed: {e}"
            raise transport_error("anthropic", msg, self._secret) from None
        except anthropic.APIError as e:  # an error event inside the stream
            raise transport_error("anthropic", f"stream failed: {e}", self._secret) from None
        except Exception as e:
            if type(e).__module__.split(".")[0] in ("httpx", "httpx2", "httpcore"):
                msg = f"transport failed: {type(e).__name__}: {e}"
                raise transport_error("anthropic", msg, self._secret) from None
            raise
        tool_calls = [
            parse_tool_call(b[0], b[1], "".join(b[2:])) for _, b in sorted(blocks.items())
        ]
        return ModelResponse(
            content="".join(content),
            tool_calls=tool_calls,
            usage=usage,
            model=model,
            finish_reason=finish,
        )


def _error_text(e: anthropic.APIStatusError) -> str:
    body = e.body
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and isinstance(msg := err.get("message"), str):
            return msg
    return e.message


def _messages(messages: list[Message]) -> list[dict[str, Any]]:
    """Map to Anthropic turns: roles alternate, so consecutive user-side
    messages (tool results, then user text) merge into one turn."""
    out: list[dict[str, Any]] = []
    for m in messages:
        if m.role == "system":
            continue
        blocks: list[dict[str, Any]]
        if m.role == "tool":
            role = "user"
            blocks = [
                {"type": "tool_result", "tool_use_id": m.tool_call_id or "", "content": m.content}
            ]
        else:
            role = m.role
            blocks = [{"type": "text", "text": m.content}] if m.content else []
            for c in m.tool_calls:
                blocks.append(
                    {"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments}
                )
        if not blocks:
            continue
        if out and out[-1]["role"] == role:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": role, "content": blocks})
    return out
